//! Classify: decoded field slots in, `(sli, good)` pairs out.
//!
//! Each SLI's `match:` and `good:` conditions are compiled once against the decoder's slots, so
//! evaluating an event is array indexing and comparisons: no name lookup, no allocation.
//! Semantics: numbers compare as numbers (two integers exactly, anything with a float through
//! f64), and so does a string written exactly as a JSON number (`"503"`) against a number in the
//! config; strings compare as strings. A missing (or `null`) field fails every field test,
//! including `ne` and `not_in`, and `not:` negates the whole condition beneath it.
//!
//! A value of a kind the test cannot compare with (`"OK"` against `lt: 500`, an object, a number
//! against a regex) is a type mismatch: the test is *unknown*, and stays unknown through `not:`
//! (three-valued logic, as SQL's NULL): `all:` is false if a part is false, else unknown if a part
//! is; `any:` is true if a part is true, else unknown if a part is. A condition that ends unknown
//! does not hold, so a mismatch in `good:` makes the event bad and one in `match:` keeps the event
//! out of that SLI, whatever `not:` wraps it: a producer change burns the SLOs it breaks, and
//! SLIs that never read the field are unaffected.
//!
//! Maintenance windows' `match:` conditions are compiled the same way; [`Classifier::maintenance`]
//! says which window, if any, claims an event (its time inside an occurrence, its match true),
//! before the event is offered to any SLI.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::config::{Condition, Config, Literal, Schedule, Test};
use crate::decode::{Decoder, Val};

/// The value of a condition under three-valued logic: a type mismatch is [`Truth::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    False,
    True,
    Unknown,
}

impl Truth {
    #[inline]
    fn of(holds: bool) -> Truth {
        if holds {
            Truth::True
        } else {
            Truth::False
        }
    }

    #[inline]
    fn not(self) -> Truth {
        match self {
            Truth::False => Truth::True,
            Truth::True => Truth::False,
            Truth::Unknown => Truth::Unknown,
        }
    }
}

#[derive(Debug)]
enum Cond {
    Always,
    Field { slot: usize, test: Test },
    All(Box<[Cond]>),
    Any(Box<[Cond]>),
    Not(Box<Cond>),
}

impl Cond {
    fn compile(c: &Condition, decoder: &Decoder) -> Cond {
        match c {
            Condition::Always => Cond::Always,
            Condition::Field { path, test } => Cond::Field {
                slot: decoder.slot_of(path).expect("decoder plans every condition field"),
                test: test.clone(),
            },
            Condition::All(cs) => Cond::All(cs.iter().map(|c| Cond::compile(c, decoder)).collect()),
            Condition::Any(cs) => Cond::Any(cs.iter().map(|c| Cond::compile(c, decoder)).collect()),
            Condition::Not(c) => Cond::Not(Box::new(Cond::compile(c, decoder))),
        }
    }

    /// Whether the condition holds: only a definite true does.
    #[inline]
    fn holds(&self, slots: &[Val<'_>]) -> bool {
        self.eval(slots) == Truth::True
    }

    #[inline]
    fn eval(&self, slots: &[Val<'_>]) -> Truth {
        match self {
            Cond::Always => Truth::True,
            Cond::Field { slot, test } => field_truth(&slots[*slot], test),
            Cond::All(cs) => Cond::either(cs, slots, Truth::False),
            Cond::Any(cs) => Cond::either(cs, slots, Truth::True),
            Cond::Not(c) => c.eval(slots).not(),
        }
    }

    /// `all:` (with `absorbing` false) or `any:` (true): `absorbing` as soon as a part is, else
    /// unknown if a part is, else the opposite of `absorbing`.
    #[inline]
    fn either(cs: &[Cond], slots: &[Val<'_>], absorbing: Truth) -> Truth {
        let mut unknown = false;
        for c in cs {
            match c.eval(slots) {
                t if t == absorbing => return t,
                Truth::Unknown => unknown = true,
                _ => {}
            }
        }
        if unknown {
            Truth::Unknown
        } else {
            absorbing.not()
        }
    }
}

/// Integers against integers compare exactly, in i128 (which holds i64 and u64 alike): through
/// f64, 2^53 + 1 would equal 2^53. A float on either side compares through f64. `None` is a type
/// mismatch.
fn compare(v: &Val<'_>, lit: &Literal) -> Option<Ordering> {
    match (v, lit) {
        (Val::Int(a), Literal::Int(b)) => Some(i128::from(*a).cmp(b)),
        (Val::UInt(a), Literal::Int(b)) => Some(i128::from(*a).cmp(b)),
        (Val::Int(a), Literal::Num(b)) => (*a as f64).partial_cmp(b),
        (Val::UInt(a), Literal::Num(b)) => (*a as f64).partial_cmp(b),
        (Val::Num(a), Literal::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Val::Num(a), Literal::Num(b)) => a.partial_cmp(b),
        (Val::Str(a), Literal::Str(b)) => Some(a.as_ref().cmp(b.as_str())),
        (Val::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (Val::Str(_), Literal::Int(_) | Literal::Num(_)) => compare(&v.numeric_string()?, lit),
        _ => None,
    }
}

/// One test on one value; a missing value fails every test, a value of a kind the test cannot
/// compare with makes it unknown.
#[inline]
fn field_truth(v: &Val<'_>, test: &Test) -> Truth {
    if matches!(v, Val::Missing) {
        return Truth::False;
    }
    let order = |l: &Literal, ok: fn(Ordering) -> bool| compare(v, l).map_or(Truth::Unknown, |o| Truth::of(ok(o)));
    match test {
        Test::Eq(l) => equal(v, l),
        Test::Ne(l) => equal(v, l).not(),
        Test::Lt(l) => order(l, Ordering::is_lt),
        Test::Le(l) => order(l, Ordering::is_le),
        Test::Gt(l) => order(l, Ordering::is_gt),
        Test::Ge(l) => order(l, Ordering::is_ge),
        Test::In(ls) => one_of(v, ls),
        Test::NotIn(ls) => one_of(v, ls).not(),
        Test::Prefix(p) => match v {
            Val::Str(s) => Truth::of(s.starts_with(p.as_str())),
            _ => Truth::Unknown,
        },
        Test::Regex(re) => match v {
            Val::Str(s) => Truth::of(re.is_match(s)),
            _ => Truth::Unknown,
        },
    }
}

/// `v == lit`, or unknown when they cannot be compared. Strings of different lengths are told
/// apart without a byte comparison (an ordering compares bytes first): `in` lists of routes were
/// a fifth of classifying in profiles, mostly in `memcmp` calls between strings of different
/// lengths.
#[inline]
fn equal(v: &Val<'_>, lit: &Literal) -> Truth {
    match (v, lit) {
        (Val::Str(a), Literal::Str(b)) => Truth::of(a.as_ref() == b.as_str()),
        _ => compare(v, lit).map_or(Truth::Unknown, |o| Truth::of(o.is_eq())),
    }
}

/// `v` equals one of `ls`: true if it equals one, false if it could be compared with one and
/// equals none, unknown if it could be compared with none.
#[inline]
fn one_of(v: &Val<'_>, ls: &[Literal]) -> Truth {
    let mut found = Truth::Unknown;
    for l in ls {
        match equal(v, l) {
            Truth::True => return Truth::True,
            Truth::False => found = Truth::False,
            Truth::Unknown => {}
        }
    }
    found
}

/// Every SLI's compiled conditions, indexed by dense SLI id.
#[derive(Debug)]
pub struct Classifier {
    slis: Box<[(Cond, Cond)]>,
    index: Option<Index>,
    /// Every maintenance window's schedule and compiled `match:`, in config order.
    maintenance: Box<[(Schedule, Cond)]>,
}

/// SLIs keyed by the value of one string field that their `match:` requires.
///
/// An SLI whose `match:` is, or is an `all:` (or mapping) that contains, an `eq` or `in` test of
/// strings on the key field can only match an event whose key field is one of those strings.
/// Such an SLI is listed under each of its values and its compiled `match:` keeps only the other
/// tests (the index has already checked that one); every other SLI is in `rest` and always
/// evaluated. The key field is the one that indexes the most SLIs (`service` in a typical
/// config), so an event is tested against the SLIs of its own service only.
#[derive(Debug)]
struct Index {
    slot: usize,
    by_value: Lookup,
    /// SLIs not in the index, ascending.
    rest: Box<[u32]>,
}

/// Key value → SLI ids: a short list scanned in order for a handful of values (cheaper than
/// hashing the value), a hash map beyond.
#[derive(Debug)]
enum Lookup {
    Few(Box<[(Box<str>, SliIds)]>),
    Many(HashMap<Box<str>, SliIds, KeyHasher>),
}

/// foldhash's fast hasher with a fixed seed: SipHash, std's default, was a tenth of classifying
/// at 100 SLIs. Its flooding resistance is not needed: the keys are the config's values, and an
/// event's value is only looked up, never inserted.
type KeyHasher = foldhash::fast::FixedState;

/// The SLIs a key value selects, ascending.
type SliIds = Box<[u32]>;

impl Lookup {
    const FEW: usize = 8;

    fn new(by_value: HashMap<Box<str>, Vec<u32>>, few: usize) -> Lookup {
        let n = by_value.len();
        let entries = by_value.into_iter().map(|(k, v)| (k, v.into_boxed_slice()));
        if n <= few {
            Lookup::Few(entries.collect())
        } else {
            Lookup::Many(entries.collect::<HashMap<_, _, KeyHasher>>())
        }
    }

    #[inline]
    fn get(&self, value: &str) -> &[u32] {
        match self {
            Lookup::Few(entries) => {
                let first = value.as_bytes().first();
                entries
                    .iter()
                    .find(|(k, _)| k.len() == value.len() && k.as_bytes().first() == first && &**k == value)
                    .map_or(&[], |(_, ids)| ids)
            }
            Lookup::Many(map) => map.get(value).map_or(&[], |ids| ids),
        }
    }
}

/// The string values an `eq`/`in` test on `path` admits, when every value is a string.
fn key_values<'c>(c: &'c Condition, path: &str) -> Option<Vec<&'c str>> {
    let Condition::Field { path: p, test } = c else { return None };
    if p != path {
        return None;
    }
    let lit = |l: &'c Literal| match l {
        Literal::Str(s) => Some(s.as_str()),
        _ => None,
    };
    match test {
        Test::Eq(l) => Some(vec![lit(l)?]),
        Test::In(ls) => ls.iter().map(lit).collect(),
        _ => None,
    }
}

/// The top-level parts of a `match:` that must all hold.
fn required_parts(c: &Condition) -> &[Condition] {
    match c {
        Condition::All(cs) => cs,
        other => std::slice::from_ref(other),
    }
}

impl Classifier {
    /// Compiles every SLI's conditions against the decoder's field slots.
    pub fn new(config: &Config, decoder: &Decoder) -> Classifier {
        Classifier::build(config, decoder, true)
    }

    /// Without `indexed`, every SLI's whole `match:` is evaluated for every event (the reference
    /// the index is tested against).
    fn build(config: &Config, decoder: &Decoder, indexed: bool) -> Classifier {
        let maintenance = config.maintenance.iter().map(|m| (m.schedule, Cond::compile(&m.matches, decoder))).collect();
        if !indexed {
            let slis = config
                .slis
                .iter()
                .map(|s| (Cond::compile(&s.matches, decoder), Cond::compile(&s.good, decoder)))
                .collect();
            return Classifier { slis, index: None, maintenance };
        }
        // The key field: the field path that indexes the most SLIs (the first such, on a tie).
        let mut candidates: Vec<(&str, usize)> = Vec::new();
        for sli in &config.slis {
            let mut seen: Vec<&str> = Vec::new();
            for part in required_parts(&sli.matches) {
                if let Condition::Field { path, .. } = part {
                    if !seen.contains(&path.as_str()) && key_values(part, path).is_some() {
                        seen.push(path);
                    }
                }
            }
            for path in seen {
                match candidates.iter_mut().find(|(p, _)| *p == path) {
                    Some((_, n)) => *n += 1,
                    None => candidates.push((path, 1)),
                }
            }
        }
        let key = candidates.iter().fold(None, |best: Option<(&str, usize)>, &(p, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((p, n)),
        });

        let mut by_value: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut rest = Vec::new();
        let mut slis = Vec::with_capacity(config.slis.len());
        for (id, sli) in config.slis.iter().enumerate() {
            let parts = required_parts(&sli.matches);
            let keyed = key.and_then(|(path, _)| {
                parts.iter().enumerate().find_map(|(i, part)| key_values(part, path).map(|values| (i, values)))
            });
            let matches = match keyed {
                Some((i, values)) => {
                    for v in values {
                        let ids = by_value.entry(v.into()).or_default();
                        if ids.last() != Some(&(id as u32)) {
                            ids.push(id as u32);
                        }
                    }
                    let others: Box<[Cond]> = parts
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, c)| Cond::compile(c, decoder))
                        .collect();
                    match others.len() {
                        0 => Cond::Always,
                        1 => others.into_vec().pop().expect("one part"),
                        _ => Cond::All(others),
                    }
                }
                None => {
                    rest.push(id as u32);
                    Cond::compile(&sli.matches, decoder)
                }
            };
            slis.push((matches, Cond::compile(&sli.good, decoder)));
        }
        let index = key.map(|(path, _)| Index {
            slot: decoder.slot_of(path).expect("decoder plans every condition field"),
            by_value: Lookup::new(by_value, Lookup::FEW),
            rest: rest.into_boxed_slice(),
        });
        Classifier { slis: slis.into_boxed_slice(), index, maintenance }
    }

    /// The first maintenance window (in config order) whose occurrence holds `ts_ms` and whose
    /// `match:` holds for the event: such an event is left out of every SLI and counted for that
    /// window only. `None` at once when no window is configured.
    #[inline]
    pub fn maintenance(&self, slots: &[Val<'_>], ts_ms: i64) -> Option<usize> {
        if self.maintenance.is_empty() {
            return None;
        }
        self.claiming_window(slots, ts_ms)
    }

    /// [`Classifier::maintenance`] with windows configured: out of line, so that the hot path
    /// of a config without any stays as it was.
    #[inline(never)]
    fn claiming_window(&self, slots: &[Val<'_>], ts_ms: i64) -> Option<usize> {
        self.maintenance.iter().position(|(schedule, matches)| schedule.contains(ts_ms) && matches.holds(slots))
    }

    /// Calls `on_match(sli, good)` for every SLI the event belongs to, in ascending SLI id
    /// order; returns how many.
    #[inline]
    pub fn classify(&self, slots: &[Val<'_>], mut on_match: impl FnMut(usize, bool)) -> usize {
        let mut matched = 0;
        let mut test = |id: usize| {
            let (matches, good) = &self.slis[id];
            if matches.holds(slots) {
                matched += 1;
                on_match(id, good.holds(slots));
            }
        };
        match &self.index {
            None => (0..self.slis.len()).for_each(test),
            Some(index) => {
                let keyed: &[u32] = match &slots[index.slot] {
                    Val::Str(v) => index.by_value.get(v),
                    _ => &[],
                };
                merge_ascending(keyed, &index.rest, |id| test(id as usize));
            }
        }
        matched
    }
}

/// Calls `f` for every id of two ascending, disjoint lists, in ascending order.
#[inline]
fn merge_ascending(mut a: &[u32], mut b: &[u32], mut f: impl FnMut(u32)) {
    loop {
        let next = match (a.split_first(), b.split_first()) {
            (Some((&x, ra)), Some((&y, rb))) => {
                if x < y {
                    a = ra;
                    x
                } else {
                    b = rb;
                    y
                }
            }
            (Some((&x, ra)), None) => {
                a = ra;
                x
            }
            (None, Some((&y, rb))) => {
                b = rb;
                y
            }
            (None, None) => return,
        };
        f(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(yaml_slis: &str) -> (Config, Decoder, Classifier) {
        let yaml = format!(
            "kafka: {{ brokers: b, topics: [t], group_id: g }}\nslis:\n{yaml_slis}\nslos:\n  s: {{ objective: 99, period: 1d, slis: [a] }}\n"
        );
        let config = Config::from_yaml(&yaml, "test.yaml").unwrap();
        let decoder = Decoder::new(&config);
        let classifier = Classifier::new(&config, &decoder);
        (config, decoder, classifier)
    }

    fn run(d: &Decoder, c: &Classifier, json: &str) -> Vec<(usize, bool)> {
        let mut slots = Vec::new();
        let payload = json.replace("TS", "1795694400000");
        d.decode(payload.as_bytes(), 1_795_694_400_000, &mut slots).unwrap();
        let mut out = Vec::new();
        c.classify(&slots, |id, good| out.push((id, good)));
        out
    }

    #[test]
    fn example_config_classifies_by_service_route_and_status() {
        let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
        let d = Decoder::new(&config);
        let c = Classifier::new(&config, &d);
        let id = |n| config.sli_id(n).unwrap();
        let got =
            run(&d, &c, r#"{"timestamp":TS,"service":"search-api","route":"/v2/trips","status":503,"latency_ms":120}"#);
        assert_eq!(got, vec![(id("search-availability"), false), (id("search-latency"), true)]);
        let got =
            run(&d, &c, r#"{"timestamp":TS,"service":"search-api","route":"/other","status":200,"latency_ms":301}"#);
        assert_eq!(got, vec![(id("search-latency"), false)]);
        let got = run(&d, &c, r#"{"timestamp":TS,"service":"booking","method":"POST","status":429}"#);
        assert_eq!(got, vec![(id("booking-availability"), false)]);
        let got = run(&d, &c, r#"{"timestamp":TS,"service":"booking","method":"GET","status":200}"#);
        assert_eq!(got, vec![]);
        // A number where a string is compared is a type mismatch: the event belongs to no SLI.
        let got = run(&d, &c, r#"{"timestamp":TS,"service":7,"status":200}"#);
        assert_eq!(got, vec![]);
        // A bad status burns the SLIs that read it and leaves the others alone.
        let got = run(&d, &c, r#"{"timestamp":TS,"service":"search-api","status":"OK","latency_ms":120}"#);
        assert_eq!(got, vec![(id("search-latency"), true)]);
        let got = run(&d, &c, r#"{"timestamp":TS,"service":"search-api","route":"/v2/trips","status":"OK"}"#);
        assert_eq!(got, vec![(id("search-availability"), false), (id("search-latency"), false)]);
        let got = run(&d, &c, r#"{"timestamp":TS,"service":"search-api","route":"/v2/trips","status":"503"}"#);
        assert_eq!(got[0], (id("search-availability"), false), "\"503\" is counted as the bad 503 it is");
    }

    /// Regression: one badly typed field rejected the whole event, so `"status":"503"` was never
    /// counted as bad and `"status":"OK"` silenced the SLO. A string written as a JSON number
    /// compares as that number; any other mismatch makes its test unknown, and unknown never
    /// turns good, whatever `not:` wraps it.
    #[test]
    fn a_type_mismatch_fails_only_the_tests_that_read_it() {
        let cases: &[(&str, &str, bool)] = &[
            // Strings written as JSON numbers compare as those numbers, exactly for integers.
            ("n: { lt: 500 }", r#""503""#, false),
            ("n: { lt: 500 }", r#""200""#, true),
            ("n: { eq: 12.5 }", r#""12.5""#, true),
            ("n: { eq: 1000 }", r#""1e3""#, true),
            ("n: { eq: 0 }", r#""-0""#, true),
            ("n: { eq: 9007199254740993 }", r#""9007199254740993""#, true),
            ("n: { eq: 9007199254740993 }", r#""9007199254740992""#, false),
            ("n: { gt: 9223372036854775807 }", r#""18446744073709551615""#, true),
            ("n: { in: [404, 503] }", r#""503""#, true),
            ("n: { not_in: [500] }", r#""200""#, true),
            ("not: { n: { ge: 500 } }", r#""200""#, true),
            // ... and only strings written exactly so.
            ("n: { lt: 500 }", r#"" 200""#, false),
            ("n: { lt: 500 }", r#""+200""#, false),
            ("n: { lt: 500 }", r#""0x1F""#, false),
            ("n: { lt: 500 }", r#""200.""#, false),
            ("n: { lt: 500 }", r#""NaN""#, false),
            // A string compared with a string stays a string.
            ("n: { eq: \"503\" }", r#""503""#, true),
            ("n: { eq: \"503.0\" }", r#""503""#, false),
            // Any other mismatch: unknown, never good, through ne, not_in and not.
            ("n: { eq: 200 }", r#""OK""#, false),
            ("n: { ne: 200 }", r#""OK""#, false),
            ("n: { not_in: [500] }", r#""OK""#, false),
            ("not: { n: { ge: 500 } }", r#""OK""#, false),
            ("not: { n: { ge: 500 } }", r#"{"code":500}"#, false),
            ("not: { n: { ge: 500 } }", "[1]", false),
            ("not: { n: { ge: 500 } }", "true", false),
            ("n: { eq: \"503\" }", "503", false),
            ("not: { s: { regex: \"5..\" } }", "503", false),
            ("not: { s: { prefix: \"5\" } }", "503", false),
            ("not: { n: { eq: true } }", "1", false),
            ("not: { not: { n: { lt: 500 } } }", r#""OK""#, false),
            // A mixed list compares with the literals of the value's kind.
            ("n: { in: [200, \"OK\"] }", r#""OK""#, true),
            ("n: { not_in: [200, \"OK\"] }", r#""KO""#, true),
            ("n: { not_in: [200, \"OK\"] }", "true", false),
            // all: false beats unknown; any: true beats unknown.
            ("any: [ { n: { lt: 500 } }, { s: { prefix: \"O\" } } ]", r#""OK""#, true),
            ("not: { all: [ { n: { lt: 500 } }, { s: \"x\" } ] }", r#""OK""#, true),
            ("not: { any: [ { n: { ge: 500 } }, { s: \"x\" } ] }", r#""OK""#, false),
            ("all: [ { n: { lt: 500 } }, { s: { prefix: \"O\" } } ]", r#""OK""#, false),
        ];
        let wrong: Vec<_> = cases.iter().filter(|(cond, value, want)| good_for(cond, value) != *want).collect();
        assert!(wrong.is_empty(), "wrong (condition, value, expected good): {wrong:?}");
    }

    /// In `match:`, a mismatch keeps the event out of that SLI only, even under `not:`.
    #[test]
    fn a_type_mismatch_in_match_leaves_the_event_out_of_that_sli_only() {
        let (_, d, c) = setup(
            r#"  a: { match: { not: { code: { ge: 500 } } }, good: { ok: true } }
  b: { match: { svc: "x" }, good: { ok: true } }"#,
        );
        let run = |rest: &str| run(&d, &c, &format!(r#"{{"timestamp":TS,"ok":true{rest}}}"#));
        assert_eq!(run(r#","svc":"x","code":200"#), vec![(0, true), (1, true)]);
        assert_eq!(run(r#","svc":"x","code":"200""#), vec![(0, true), (1, true)]);
        assert_eq!(run(r#","svc":"x","code":"OK""#), vec![(1, true)]);
        assert_eq!(run(r#","svc":"x","code":{"v":1}"#), vec![(1, true)]);
        assert_eq!(run(r#","svc":5,"code":503"#), vec![]);
    }

    #[test]
    fn every_operator() {
        let (_, d, c) = setup(
            r#"  a:
    match: { kind: "x" }
    good:
      all:
        - n: { ge: 1, le: 10, ne: 5 }
        - s: { prefix: "ab", regex: "^ab[0-9]+$" }
        - k: { in: ["p", "q"], not_in: ["q"] }
        - not: { flag: true }
        - any: [ { m: { gt: 100 } }, { m: { lt: 0 } }, { m: { eq: 50 } } ]"#,
        );
        let good = r#"{"timestamp":TS,"kind":"x","n":3,"s":"ab12","k":"p","flag":false,"m":-1}"#;
        assert_eq!(run(&d, &c, good), vec![(0, true)]);
        for (from, to) in [
            (r#""n":3"#, r#""n":5"#),
            (r#""n":3"#, r#""n":11"#),
            (r#""s":"ab12""#, r#""s":"abc""#),
            (r#""s":"ab12""#, r#""s":"xab12""#),
            (r#""k":"p""#, r#""k":"q""#),
            (r#""flag":false"#, r#""flag":true"#),
            (r#""m":-1"#, r#""m":7"#),
        ] {
            let bad = good.replace(from, to);
            assert_eq!(run(&d, &c, &bad), vec![(0, false)], "{bad}");
        }
        assert_eq!(run(&d, &c, &good.replace(r#""m":-1"#, r#""m":50.0"#)), vec![(0, true)]);
    }

    /// Whether a one-SLI config whose `good:` is `cond` finds `value` in fields `n` and `s` good,
    /// through the fast decode path and through serde_json alone (which must agree).
    fn good_for(cond: &str, value: &str) -> bool {
        let (_, d, c) = setup(&format!("  a:\n    good: {{ {cond} }}"));
        let json = format!(r#"{{"timestamp":1795694400000,"n":{value},"s":{value}}}"#);
        let got = [true, false].map(|fast| {
            let mut slots = Vec::new();
            d.decode_with(json.as_bytes(), 1_795_694_400_000, &mut slots, fast).unwrap();
            let mut out = Vec::new();
            c.classify(&slots, |id, good| out.push((id, good)));
            out
        });
        assert_eq!(got[0], got[1], "fast and serde_json paths disagree on {cond} for {value}");
        match got[0][..] {
            [(0, good)] => good,
            ref other => panic!("{cond} for {value}: {other:?}"),
        }
    }

    /// Regression: integers compared through f64, where 2^53 + 1 rounds to 2^53, so
    /// `eq: 9007199254740993` matched 9007199254740992 (and i64/u64 neighbours near their maxima
    /// were all equal).
    #[test]
    fn integers_compare_exactly_beyond_2_pow_53() {
        let cases: &[(&str, &str, bool)] = &[
            ("n: { eq: 9007199254740993 }", "9007199254740992", false),
            ("n: { eq: 9007199254740993 }", "9007199254740993", true),
            ("n: 9007199254740993", "9007199254740992", false),
            ("n: { ne: 9007199254740993 }", "9007199254740992", true),
            ("n: { lt: 9007199254740993 }", "9007199254740992", true),
            ("n: { le: 9007199254740992 }", "9007199254740993", false),
            ("n: { gt: 9007199254740992 }", "9007199254740993", true),
            ("n: { ge: 9007199254740993 }", "9007199254740992", false),
            ("n: { in: [9007199254740993, 1] }", "9007199254740992", false),
            ("n: { not_in: [9007199254740993] }", "9007199254740992", true),
            ("n: { lt: -9007199254740992 }", "-9007199254740993", true),
            // i64::MAX and i64::MIN, and their neighbours.
            ("n: { eq: 9223372036854775807 }", "9223372036854775806", false),
            ("n: { eq: 9223372036854775807 }", "9223372036854775807", true),
            ("n: { gt: 9223372036854775806 }", "9223372036854775807", true),
            ("n: { eq: -9223372036854775808 }", "-9223372036854775807", false),
            ("n: { eq: -9223372036854775808 }", "-9223372036854775808", true),
            ("n: { lt: -9223372036854775807 }", "-9223372036854775808", true),
            // Across the i64/u64 boundary.
            ("n: { gt: 9223372036854775807 }", "9223372036854775808", true),
            ("n: { eq: 9223372036854775808 }", "9223372036854775807", false),
            ("n: { le: 9223372036854775807 }", "9223372036854775808", false),
            // u64::MAX and its neighbour; a negative literal against a u64 value.
            ("n: { eq: 18446744073709551615 }", "18446744073709551614", false),
            ("n: { eq: 18446744073709551615 }", "18446744073709551615", true),
            ("n: { lt: 18446744073709551615 }", "18446744073709551614", true),
            ("n: { ge: 18446744073709551615 }", "18446744073709551614", false),
            ("n: { gt: -1 }", "18446744073709551615", true),
            ("n: { lt: 18446744073709551615 }", "-1", true),
            // Mixed integer and float compare through f64, as before.
            ("n: { eq: 9007199254740993 }", "9007199254740992.0", true),
            ("n: { eq: 9007199254740992.0 }", "9007199254740993", true),
            ("n: { eq: 18446744073709551615.0 }", "18446744073709551614", true),
            ("n: { eq: 18446744073709551615 }", "18446744073709551616", true),
            ("n: { eq: 5.0 }", "5", true),
            ("n: { lt: 5.5 }", "5", true),
        ];
        let wrong: Vec<_> = cases.iter().filter(|(cond, value, want)| good_for(cond, value) != *want).collect();
        assert!(wrong.is_empty(), "wrong (condition, value, expected good): {wrong:?}");
    }

    /// Regression: `regex` searched the value, so `regex: "5.."` matched "1500x". It must match
    /// the whole value, as Prometheus label matchers do.
    #[test]
    fn regex_matches_the_whole_value() {
        let cases: &[(&str, &str, bool)] = &[
            (r#"s: { regex: "5.." }"#, r#""503""#, true),
            (r#"s: { regex: "5.." }"#, r#""1500x""#, false),
            (r#"s: { regex: "5.." }"#, r#""5030""#, false),
            (r#"s: { regex: "5.." }"#, r#""x503""#, false),
            (r#"s: { regex: ".*5.." }"#, r#""HTTP 503""#, true),
            (r#"s: { regex: ".*5.." }"#, r#""1500x""#, false),
            (r#"s: { regex: "5.*" }"#, r#""5030""#, true),
            (r#"s: { regex: ".*eu-.*" }"#, r#""prod-eu-west""#, true),
            // The anchors wrap the whole alternation, not its first and last branch.
            (r#"s: { regex: "503|504" }"#, r#""5030""#, false),
            (r#"s: { regex: "503|504" }"#, r#""x504""#, false),
            (r#"s: { regex: "503|504" }"#, r#""504""#, true),
            // Explicit anchors are harmless.
            (r#"s: { regex: "^5..$" }"#, r#""503""#, true),
            (r#"s: { regex: "" }"#, r#""""#, true),
            (r#"s: { regex: "" }"#, r#""a""#, false),
            // A comment in verbose mode that runs to the end of the pattern still ends there.
            (r#"s: { regex: "(?x) 5 0 3  # any comment" }"#, r#""503""#, true),
            (r#"s: { regex: "(?x) 5 0 3  # any comment" }"#, r#""5030""#, false),
        ];
        let wrong: Vec<_> = cases.iter().filter(|(cond, value, want)| good_for(cond, value) != *want).collect();
        assert!(wrong.is_empty(), "wrong (condition, value, expected good): {wrong:?}");
    }

    #[test]
    fn missing_field_never_matches_even_for_negative_tests() {
        let (_, d, c) = setup("  a:\n    match: { svc: { ne: \"x\" } }\n    good: { code: { not_in: [500] } }");
        assert_eq!(run(&d, &c, r#"{"timestamp":TS}"#), vec![]);
        assert_eq!(run(&d, &c, r#"{"timestamp":TS,"svc":null}"#), vec![]);
        assert_eq!(run(&d, &c, r#"{"timestamp":TS,"svc":"y"}"#), vec![(0, false)]);
        assert_eq!(run(&d, &c, r#"{"timestamp":TS,"svc":"y","code":200}"#), vec![(0, true)]);
    }

    #[test]
    fn dotted_fields_and_absent_match() {
        let (_, d, c) = setup("  a:\n    good: { http.status: { lt: 500 } }");
        assert_eq!(run(&d, &c, r#"{"timestamp":TS,"http":{"status":200}}"#), vec![(0, true)]);
        assert_eq!(run(&d, &c, r#"{"timestamp":TS,"http":{"status":500}}"#), vec![(0, false)]);
        assert_eq!(run(&d, &c, r#"{"timestamp":TS,"http.status":200}"#), vec![(0, false)]);
    }

    /// The index on `service` (and not on `region`, which keys fewer SLIs) gives exactly what
    /// evaluating every SLI gives, in the same order, for any mix of values, types and escapes.
    #[test]
    fn index_agrees_with_evaluating_every_sli() {
        let (config, d, indexed) = setup(
            r#"  a: { match: { service: "search" }, good: { status: { lt: 500 } } }
  b: { match: { service: ["search", "geo"], route: { prefix: "/v2" } }, good: { status: 200 } }
  c: { good: { status: { lt: 500 } } }
  d: { match: { service: { ne: "geo" } }, good: { status: 200 } }
  e: { match: { all: [ { region: "eu" }, { service: { in: ["geo", "book"] } } ] }, good: { status: 200 } }
  f: { match: { any: [ { service: "search" }, { route: "/v1" } ] }, good: { status: 200 } }
  g: { match: { region: ["eu", "us"] }, good: { status: 200 } }
  h: { match: { service: "book", not: { route: "/v1" } }, good: { status: 200 } }
  i: { match: { service: { eq: "geo", ne: "x" } }, good: { status: 200 } }
  j: { match: { service: [7, "geo"] }, good: { status: 200 } }
  k: { match: { service: "geo", region: "eu" }, good: { status: { ge: 300 } } }"#,
        );
        let index = indexed.index.as_ref().expect("indexed");
        assert_eq!(index.slot, d.slot_of("service").unwrap());
        assert_eq!(&*index.rest, &[2, 3, 5, 6, 9]);
        let reference = Classifier::build(&config, &d, false);
        let service = [
            "",
            r#","service":"search""#,
            r#","service":"geo""#,
            r#","service":"book""#,
            r#","service":"x""#,
            r#","service":"sea\u0072ch""#,
            r#","service":7"#,
            r#","service":null"#,
            r#","service":{"a":1}"#,
        ];
        let route = ["", r#","route":"/v2/a""#, r#","route":"/v1""#, r#","route":5"#];
        let region = ["", r#","region":"eu""#, r#","region":"us""#];
        let status = ["", r#","status":200"#, r#","status":503"#, r#","status":"503""#, r#","status":"OK""#];
        let mut checked = 0;
        for s in service {
            for r in route {
                for g in region {
                    for st in status {
                        let json = format!(r#"{{"timestamp":TS{s}{r}{g}{st}}}"#);
                        let want = run(&d, &reference, &json);
                        assert_eq!(run(&d, &indexed, &json), want, "{json}");
                        checked += usize::from(!want.is_empty());
                    }
                }
            }
        }
        assert!(checked > 100);
    }

    /// An event is claimed by the first window, in config order, whose occurrence holds its time
    /// and whose `match:` holds; a type mismatch in a window's `match:` does not claim it.
    #[test]
    fn maintenance_claims_matching_events_inside_its_occurrences_only() {
        const T: i64 = 1_795_694_400_000;
        const MIN: i64 = 60_000;
        let at = |ms: i64| {
            let mut out = String::new();
            crate::time::format_rfc3339_ms(ms, &mut out);
            out
        };
        let yaml = format!(
            "kafka: {{ brokers: b, topics: [t], group_id: g }}\nslis:\n  a: {{ match: {{ svc: x }}, good: {{ ok: true }} }}\n\
             slos:\n  s: {{ objective: 99, period: 1d, slis: [a] }}\nmaintenance:\n\
             - {{ name: eu, match: {{ svc: x, region: eu }}, start: \"{}\", duration: 10m, every: 1h }}\n\
             - {{ name: all, start: \"{}\", duration: 30m }}\n",
            at(T),
            at(T + 5 * MIN),
        );
        let config = Config::from_yaml(&yaml, "m.yaml").unwrap();
        let d = Decoder::new(&config);
        let c = Classifier::new(&config, &d);
        let claimed_by = |ts: i64, rest: &str| {
            let mut slots = Vec::new();
            let json = format!(r#"{{"timestamp":{ts},"ok":true{rest}}}"#);
            d.decode(json.as_bytes(), T + 23 * 60 * MIN + 15 * MIN, &mut slots).unwrap();
            c.maintenance(&slots, ts)
        };
        let eu = r#","svc":"x","region":"eu""#;
        let us = r#","svc":"x","region":"us""#;
        let cases: &[(i64, &str, Option<usize>)] = &[
            (T - 1, eu, None),
            (T, eu, Some(0)),
            (T + 5 * MIN, eu, Some(0)),
            (T + 5 * MIN, us, Some(1)),
            (T + 10 * MIN - 1, eu, Some(0)),
            (T + 10 * MIN, eu, Some(1)),
            (T + 35 * MIN - 1, us, Some(1)),
            (T + 35 * MIN, us, None),
            (T + 60 * MIN, eu, Some(0)),
            (T + 60 * MIN, us, None),
            (T + 23 * 60 * MIN + 9 * MIN, eu, Some(0)),
            (T + 23 * 60 * MIN + 10 * MIN, eu, None),
            // A type mismatch in the match is unknown: not claimed by that window.
            (T + 60 * MIN, r#","svc":"x","region":5"#, None),
            (T + 6 * MIN, r#","svc":"x","region":5"#, Some(1)),
        ];
        let wrong: Vec<_> = cases.iter().filter(|(ts, rest, want)| claimed_by(*ts, rest) != *want).collect();
        assert!(wrong.is_empty(), "wrong (time, fields, window): {wrong:?}");
        assert_eq!(config.condition_fields(), ["svc", "ok", "region"]);

        let (_, d, none) = setup("  a: { good: { ok: true } }");
        let (json, mut slots) = (format!(r#"{{"timestamp":{T}}}"#), Vec::new());
        d.decode(json.as_bytes(), T, &mut slots).unwrap();
        assert_eq!(none.maintenance(&slots, T), None, "no window configured");
    }

    #[test]
    fn short_list_and_hash_map_look_up_the_same() {
        let values = ["geo", "gem", "search", "", "g\u{e9}o", "book", "books"];
        let by_value: HashMap<Box<str>, Vec<u32>> =
            values.iter().enumerate().map(|(i, v)| ((*v).into(), vec![i as u32, 99])).collect();
        let (few, many) = (Lookup::new(by_value.clone(), 100), Lookup::new(by_value, 0));
        assert!(matches!(few, Lookup::Few(_)) && matches!(many, Lookup::Many(_)));
        for probe in values.iter().chain(&["ge", "geoo", "Geo", "book\0"]) {
            assert_eq!(few.get(probe), many.get(probe), "{probe:?}");
        }
        assert_eq!(few.get("gem"), &[1, 99]);
    }

    /// `loadgen --event-bytes`: the padding (a query list and request headers) changes nothing
    /// an SLI reads, and brings events to within 10% of the size asked.
    #[test]
    fn padded_loadgen_events_read_and_classify_as_unpadded_ones_at_about_the_size_asked() {
        use crate::loadgen::{Incidents, Traffic};
        use std::time::Duration;
        const NO_INCIDENTS: Incidents = Incidents { every: Duration::ZERO, lasts: Duration::ZERO };
        const NOW: i64 = 1_795_694_400_000;
        let config = Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap();
        let decoder = Decoder::new(&config);
        let classifier = Classifier::new(&config, &decoder);
        // What the pipeline takes from an event: time, latency, the fields SLIs read, verdicts.
        let read = |event: &str| {
            let mut slots = Vec::new();
            let d = decoder.decode(event.as_bytes(), NOW, &mut slots).unwrap_or_else(|r| panic!("{r:?}: {event}"));
            let mut verdicts = Vec::new();
            classifier.classify(&slots, |sli, good| verdicts.push((sli, good)));
            (d.ts_ms, d.latency_ms, d.latency_invalid, format!("{slots:?}"), verdicts)
        };
        for bytes in [1000, 1500, 2000] {
            let mut plain = Traffic::new(3, NO_INCIDENTS);
            let mut padded = Traffic::new(3, NO_INCIDENTS).with_event_bytes(Some(bytes));
            let (mut a, mut b) = (String::new(), String::new());
            let (mut matched, mut bad) = (0, 0);
            for i in 0..5_000 {
                plain.event(NOW - i, &mut a);
                padded.event(NOW - i, &mut b);
                assert!(b.len().abs_diff(bytes) <= bytes / 10, "{} bytes for {bytes}: {b}", b.len());
                let (ra, rb) = (read(&a), read(&b));
                assert_eq!(ra, rb, "{a}\n{b}");
                matched += rb.4.len();
                bad += rb.4.iter().filter(|(_, good)| !good).count();
                // The same event plus `query` and `headers`, which serde_json reads too.
                let va: serde_json::Value = serde_json::from_str(&a).unwrap();
                let mut vb: serde_json::Value = serde_json::from_str(&b).unwrap();
                let extra = vb.as_object_mut().unwrap();
                assert!(extra.remove("query").unwrap().is_array(), "{b}");
                let headers = extra.remove("headers").unwrap();
                assert!(headers["user-agent"].as_str().unwrap().len() > 100, "{b}");
                assert!(headers.as_object().unwrap().len() >= if bytes >= 1500 { 20 } else { 5 }, "{b}");
                assert_eq!(va, vb);
            }
            assert!(matched > 5_000 && bad > 0, "{matched} matched, {bad} bad");
        }
    }
}

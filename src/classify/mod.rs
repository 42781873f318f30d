//! Classify: decoded field slots in, `(sli, good)` pairs out.
//!
//! Each SLI's `match:` and `good:` conditions are compiled once against the decoder's slots, so
//! evaluating an event is array indexing and comparisons: no name lookup, no allocation.
//! Semantics: numbers compare as numbers, strings as strings, a type mismatch is "not equal"
//! (a field only ever compared with numbers that holds a string is rejected earlier, in decode);
//! a missing (or `null`) field fails every field test, including `ne` and `not_in`. `not:`
//! negates the whole condition beneath it.

use std::cmp::Ordering;

use crate::config::{Condition, Config, Literal, Test};
use crate::decode::{Decoder, Val};

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

    #[inline]
    fn holds(&self, slots: &[Val<'_>]) -> bool {
        match self {
            Cond::Always => true,
            Cond::Field { slot, test } => field_holds(&slots[*slot], test),
            Cond::All(cs) => cs.iter().all(|c| c.holds(slots)),
            Cond::Any(cs) => cs.iter().any(|c| c.holds(slots)),
            Cond::Not(c) => !c.holds(slots),
        }
    }
}

fn compare(v: &Val<'_>, lit: &Literal) -> Option<Ordering> {
    match (v, lit) {
        (Val::Int(a), Literal::Num(b)) => (*a as f64).partial_cmp(b),
        (Val::Num(a), Literal::Num(b)) => a.partial_cmp(b),
        (Val::Str(a), Literal::Str(b)) => Some(a.as_ref().cmp(b.as_str())),
        (Val::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

#[inline]
fn field_holds(v: &Val<'_>, test: &Test) -> bool {
    if matches!(v, Val::Missing) {
        return false;
    }
    let eq = |l: &Literal| compare(v, l) == Some(Ordering::Equal);
    match test {
        Test::Eq(l) => eq(l),
        Test::Ne(l) => !eq(l),
        Test::Lt(l) => compare(v, l) == Some(Ordering::Less),
        Test::Le(l) => matches!(compare(v, l), Some(Ordering::Less | Ordering::Equal)),
        Test::Gt(l) => compare(v, l) == Some(Ordering::Greater),
        Test::Ge(l) => matches!(compare(v, l), Some(Ordering::Greater | Ordering::Equal)),
        Test::In(ls) => ls.iter().any(eq),
        Test::NotIn(ls) => !ls.iter().any(eq),
        Test::Prefix(p) => matches!(v, Val::Str(s) if s.starts_with(p.as_str())),
        Test::Regex(re) => matches!(v, Val::Str(s) if re.is_match(s)),
    }
}

/// Every SLI's compiled conditions, indexed by dense SLI id.
#[derive(Debug)]
pub struct Classifier {
    slis: Box<[(Cond, Cond)]>,
}

impl Classifier {
    pub fn new(config: &Config, decoder: &Decoder) -> Classifier {
        let slis = config
            .slis
            .iter()
            .map(|s| (Cond::compile(&s.matches, decoder), Cond::compile(&s.good, decoder)))
            .collect();
        Classifier { slis }
    }

    pub fn len(&self) -> usize {
        self.slis.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slis.is_empty()
    }

    /// Calls `on_match(sli, good)` for every SLI the event belongs to; returns how many.
    #[inline]
    pub fn classify(&self, slots: &[Val<'_>], mut on_match: impl FnMut(usize, bool)) -> usize {
        let mut matched = 0;
        for (id, (matches, good)) in self.slis.iter().enumerate() {
            if matches.holds(slots) {
                matched += 1;
                on_match(id, good.holds(slots));
            }
        }
        matched
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
        let got = run(&d, &c, r#"{"timestamp":TS,"service":"search-api","route":"/v2/trips","status":503,"latency_ms":120}"#);
        assert_eq!(got, vec![(id("search-availability"), false), (id("search-latency"), true)]);
        let got = run(&d, &c, r#"{"timestamp":TS,"service":"search-api","route":"/other","status":200,"latency_ms":301}"#);
        assert_eq!(got, vec![(id("search-latency"), false)]);
        let got = run(&d, &c, r#"{"timestamp":TS,"service":"booking","method":"POST","status":429}"#);
        assert_eq!(got, vec![(id("booking-availability"), false)]);
        let got = run(&d, &c, r#"{"timestamp":TS,"service":"booking","method":"GET","status":200}"#);
        assert_eq!(got, vec![]);
        // A number where a string is compared is simply not equal.
        let got = run(&d, &c, r#"{"timestamp":TS,"service":7,"status":200}"#);
        assert_eq!(got, vec![]);
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
}

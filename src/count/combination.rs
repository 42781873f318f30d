//! Which value combination of its `breakdown:` fields an event belongs to, found in the worker.
//!
//! The worker neither allocates nor locks per event, so it cannot keep its own map of
//! combination strings: it hashes the fields' text (a 64-bit foldhash with a fixed seed, so every
//! worker and every restart agrees) and hands `(breakdown, hash, time, good)` to the tally, which
//! owns the table of tracked combinations. The text travels once: the first time a worker sees a
//! hash it appends the values to an [`Announcements`] buffer that goes with the next hand-over.
//! The set of hashes already announced is bounded; when full it is emptied (keeping its memory),
//! and combinations are announced again, which costs nothing but a few bytes.
//!
//! Field text: a string as it is, an integer or a float as JSON writes it, `true`/`false`;
//! missing, `null`, objects and arrays are `""`.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use crate::config::Config;
use crate::decode::{Decoder, Val};

/// One hash per combination of field texts; a fixed seed, so every worker computes the same.
type Fixed = foldhash::fast::FixedState;

/// Fields per breakdown, at most (config validation enforces it).
pub const MAX_FIELDS: usize = 3;

/// No breakdown for this SLI.
const NONE: u32 = u32::MAX;

/// The worker's view of every `breakdown:`.
#[derive(Debug)]
pub struct Combinations {
    /// Per SLI id: its breakdown's index, or [`NONE`].
    by_sli: Box<[u32]>,
    plans: Box<[Plan]>,
    hasher: Fixed,
    /// New combinations since the last hand-over.
    pub(crate) announced: Announcements,
}

#[derive(Debug)]
struct Plan {
    /// The decoder slots of the fields.
    slots: Box<[usize]>,
    /// Hashes announced since this set was last emptied.
    seen: HashSet<u64, Fixed>,
    /// Emptied when it reaches this many.
    cap: usize,
}

/// Combination texts to register with the tally: `(breakdown, hash, field texts)`.
#[derive(Debug, Default)]
pub struct Announcements {
    text: String,
    /// `(breakdown, hash, end of each field's text in `text`)`.
    entries: Vec<(u32, u64, [u32; MAX_FIELDS])>,
}

impl Announcements {
    /// Each announcement: its breakdown, hash, and field texts (without allocating).
    pub fn iter(&self) -> impl Iterator<Item = (usize, u64, Texts<'_>)> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |(bd, hash, ends)| {
            let mut texts = Texts { parts: [""; MAX_FIELDS], len: 0 };
            for &end in ends.iter().take_while(|&&e| e != u32::MAX) {
                texts.parts[texts.len] = &self.text[start..end as usize];
                texts.len += 1;
                start = end as usize;
            }
            (*bd as usize, *hash, texts)
        })
    }

    /// Empties the buffer, keeping its memory.
    pub fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
    }
}

/// A combination's field texts, borrowed from an [`Announcements`] buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Texts<'a> {
    parts: [&'a str; MAX_FIELDS],
    len: usize,
}

impl<'a> Texts<'a> {
    /// One text per field.
    pub fn as_slice(&self) -> &[&'a str] {
        &self.parts[..self.len]
    }
}

impl<'a> AsRef<[&'a str]> for Texts<'a> {
    fn as_ref(&self) -> &[&'a str] {
        self.as_slice()
    }
}

impl Combinations {
    /// Plans every SLI's breakdown against the decoder's slots.
    pub fn new(config: &Config, decoder: &Decoder) -> Combinations {
        let mut by_sli = vec![NONE; config.slis.len()];
        let mut plans = Vec::new();
        for (sli, b) in config.breakdowns() {
            by_sli[sli] = plans.len() as u32;
            let cap = 4 * b.max_values + 64;
            plans.push(Plan {
                slots: b.fields.iter().map(|f| decoder.slot_of(f).expect("decoder plans breakdown fields")).collect(),
                seen: HashSet::with_capacity_and_hasher(cap + 1, Fixed::default()),
                cap,
            });
        }
        Combinations {
            by_sli: by_sli.into(),
            plans: plans.into(),
            hasher: Fixed::default(),
            announced: Announcements::default(),
        }
    }

    /// Whether any SLI has a breakdown.
    #[inline]
    pub fn any(&self) -> bool {
        !self.plans.is_empty()
    }

    /// The breakdown index and combination hash of an event of `sli`, or `None` when the SLI has
    /// no breakdown. Announces the combination's text the first time this worker sees it.
    #[inline]
    pub fn of(&mut self, sli: usize, slots: &[Val<'_>]) -> Option<(u32, u64)> {
        let bd = self.by_sli[sli];
        if bd == NONE {
            return None;
        }
        let plan = &mut self.plans[bd as usize];
        let mut buffers = Buffers::default();
        let mut h = self.hasher.build_hasher();
        for &slot in plan.slots.iter() {
            h.write(buffers.text(&slots[slot]).as_bytes());
            h.write_u8(0xff); // never in UTF-8: ("a", "bc") and ("ab", "c") differ
        }
        let hash = h.finish();
        if !plan.seen.contains(&hash) {
            if plan.seen.len() >= plan.cap {
                plan.seen.clear();
            }
            plan.seen.insert(hash);
            let a = &mut self.announced;
            let mut ends = [u32::MAX; MAX_FIELDS];
            for (end, &slot) in ends.iter_mut().zip(plan.slots.iter()) {
                a.text.push_str(Buffers::default().text(&slots[slot]));
                *end = a.text.len() as u32;
            }
            a.entries.push((bd, hash, ends));
        }
        Some((bd, hash))
    }
}

/// Stack buffers to format a number without allocating.
#[derive(Default)]
struct Buffers {
    int: itoa::Buffer,
    float: ryu::Buffer,
}

impl Buffers {
    /// A field value's text (see the module doc).
    #[inline]
    fn text<'a>(&'a mut self, v: &'a Val<'_>) -> &'a str {
        match v {
            Val::Str(s) => s,
            Val::Int(i) => self.int.format(*i),
            Val::UInt(u) => self.int.format(*u),
            Val::Num(f) => self.float.format(*f),
            Val::Bool(true) => "true",
            Val::Bool(false) => "false",
            Val::Missing | Val::Other => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Config, Decoder, Combinations) {
        let yaml = include_str!("../../config/example.yaml").replace(
            "  geo-availability:\n",
            "  geo-availability:\n    breakdown: [route, http.region]\n    max_values: 2\n",
        );
        let config = Config::from_yaml(&yaml, "x.yaml").unwrap();
        let decoder = Decoder::new(&config);
        let c = Combinations::new(&config, &decoder);
        (config, decoder, c)
    }

    fn of(d: &Decoder, c: &mut Combinations, sli: usize, json: &str) -> Option<(u32, u64)> {
        let mut slots = Vec::new();
        d.decode(json.as_bytes(), 1_795_694_400_000, &mut slots).unwrap();
        c.of(sli, &slots)
    }

    #[test]
    fn hashes_the_texts_and_announces_each_combination_once() {
        let (config, d, mut c) = setup();
        let geo = config.sli_id("geo-availability").unwrap();
        let search = config.sli_id("search-latency").unwrap();
        let ts = r#""timestamp":1795694400000"#;
        assert_eq!(of(&d, &mut c, search, &format!(r#"{{{ts},"route":"/a"}}"#)), None, "no breakdown");
        let a = of(&d, &mut c, geo, &format!(r#"{{{ts},"route":"/a","http":{{"region":"eu"}}}}"#)).unwrap();
        let again = of(&d, &mut c, geo, &format!(r#"{{{ts},"http":{{"region":"eu"}},"route":"/a","x":1}}"#)).unwrap();
        assert_eq!(a, again, "same texts, same combination");
        let split = of(&d, &mut c, geo, &format!(r#"{{{ts},"route":"/ae","http":{{"region":"u"}}}}"#)).unwrap();
        assert_ne!(a.1, split.1, "field boundaries are part of the hash");
        let number = of(&d, &mut c, geo, &format!(r#"{{{ts},"route":503,"http":{{"region":true}}}}"#)).unwrap();
        let missing = of(&d, &mut c, geo, &format!(r#"{{{ts},"route":null}}"#)).unwrap();
        let object = of(&d, &mut c, geo, &format!(r#"{{{ts},"route":{{"a":1}},"http":[1]}}"#)).unwrap();
        assert_eq!(missing, object, "missing, null, objects and arrays are all \"\"");
        let announced: Vec<(usize, u64, Vec<&str>)> =
            c.announced.iter().map(|(bd, h, t)| (bd, h, t.as_slice().to_vec())).collect();
        assert_eq!(
            announced,
            [
                (0, a.1, vec!["/a", "eu"]),
                (0, split.1, vec!["/ae", "u"]),
                (0, number.1, vec!["503", "true"]),
                (0, missing.1, vec!["", ""]),
            ]
        );
        c.announced.clear();
        assert_eq!(c.announced.iter().count(), 0);
    }
}

//! Prometheus text exposition (format 0.0.4) of the per-SLO and per-SLI series, without an
//! allocation per series.
//!
//! Why it exists: `metrics-exporter-prometheus` re-sanitises every name, rebuilds every label set
//! and clones its maps on each render: 0.1 to 0.25 s for 1,000 SLOs, about 2 s for 10,000 (~35
//! series per SLO), far over a scrape's budget. Here each series' line prefix
//! (`name{label="value",...} `) is escaped and laid out once, at registration; a render copies
//! prefixes and formats values, nothing else: 40 to 95 times faster (`benches/render.rs`). The
//! recorder keeps the small, fixed set of process metrics; `/metrics` serves both.
//!
//! Threads: the telemetry updater sets values every tick through [`Handle`]s (one atomic store,
//! no lock); the HTTP handler renders. The family table sits behind an `RwLock` taken once per
//! render (read) and once per registration (write), never per value, so series can be registered
//! while scrapes run: SLO series when the engine becomes ready, latency quantiles lazily.
//!
//! Output: families in registration order, `# HELP` and `# TYPE` once per family, then all its
//! samples in registration order. A series is rendered only once a value has been set, and a
//! family only once one of its series has: slostream exports no SLO value before it is ready.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

/// Bits of a series never set. A NaN that [`Handle::set`] cannot store, since it stores every
/// NaN as `f64::NAN`; so one atomic word holds both "absent" and the value.
const UNSET: u64 = u64::MAX;

/// Values live in blocks of this many: a render walks them in order, and a handle keeps its block
/// alive without an allocation per series.
const BLOCK: usize = 64;

type Block = [AtomicU64; BLOCK];

/// 2^53: every integer of smaller magnitude is exact in an `f64`, so printing it as an integer
/// loses nothing.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// Longest value text plus its newline (`-2.2250738585072014e-308\n`), to size the output once.
const MAX_VALUE_LEN: usize = 25;

pub use crate::names::Kind;

/// A family registered with [`Exposition::family`], valid only for that exposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FamilyId(usize);

/// Series registered once and set every tick, rendered as Prometheus text. Share it as
/// `Arc<Exposition>` between the updater and the HTTP handler.
#[derive(Default)]
pub struct Exposition {
    families: RwLock<Vec<Family>>,
    /// Hashes line prefixes to find a series registered twice.
    hasher: RandomState,
}

/// One metric name: its header and every series' prefix and value, in registration order.
struct Family {
    name: Box<str>,
    kind: Kind,
    /// `# HELP ...\n# TYPE ...\n`.
    head: Box<str>,
    /// The line prefixes of all series, back to back: a render reads them in one sweep.
    prefixes: String,
    /// Where each series' prefix ends in `prefixes`.
    ends: Vec<usize>,
    /// Series `i`'s value is `blocks[i / BLOCK][i % BLOCK]`.
    blocks: Vec<Arc<Block>>,
    /// Prefix hash to the first series with it. A collision between two distinct series only
    /// leaves the second undeduplicated; the prefixes are compared before a hit counts.
    index: HashMap<u64, usize>,
}

/// Sets one series' value; cheap to clone, lock-free, callable from any thread.
#[derive(Clone)]
pub struct Handle {
    block: Arc<Block>,
    slot: usize,
}

impl Exposition {
    /// An exposition with nothing registered: it renders as an empty body.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Registers a family, or returns the one already registered under `name` (its help stays).
    ///
    /// # Panics
    ///
    /// If `name` is not a valid metric name or is registered with another kind: both are bugs in
    /// the code declaring the series, and would otherwise render text Prometheus rejects.
    pub fn family(&self, name: &str, help: &str, kind: Kind) -> FamilyId {
        assert!(is_name(name, true), "invalid metric name {name:?}");
        let mut families = self.families.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = families.iter().position(|f| &*f.name == name) {
            let registered = families[i].kind;
            assert_eq!(registered, kind, "metric {name:?} registered as {registered:?} and as {kind:?}");
            return FamilyId(i);
        }
        let mut head = format!("# HELP {name} ");
        escape(&mut head, help, false);
        head.push_str("\n# TYPE ");
        head.push_str(name);
        head.push(' ');
        head.push_str(kind.as_str());
        head.push('\n');
        families.push(Family {
            name: name.into(),
            kind,
            head: head.into(),
            prefixes: String::new(),
            ends: Vec::new(),
            blocks: Vec::new(),
            index: HashMap::new(),
        });
        FamilyId(families.len() - 1)
    }

    /// Registers a series of `family`, unset until its first value; registering the same labels
    /// again returns a handle to the same series, as the `metrics` recorder does.
    ///
    /// # Panics
    ///
    /// If a label name is invalid, or `family` is out of range: ids mean something only to the
    /// exposition that made them.
    pub fn series(&self, family: FamilyId, labels: &[(&str, &str)]) -> Handle {
        let mut families = self.families.write().unwrap_or_else(PoisonError::into_inner);
        let f = families.get_mut(family.0).expect("family registered with this exposition");
        let mut prefix =
            String::with_capacity(f.name.len() + 2 + labels.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>());
        prefix.push_str(&f.name);
        for (i, (name, value)) in labels.iter().enumerate() {
            assert!(is_name(name, false), "invalid label name {name:?} for {}", f.name);
            prefix.push(if i == 0 { '{' } else { ',' });
            prefix.push_str(name);
            prefix.push_str("=\"");
            escape(&mut prefix, value, true);
            prefix.push('"');
        }
        if !labels.is_empty() {
            prefix.push('}');
        }
        prefix.push(' ');
        let hash = self.hasher.hash_one(&prefix);
        let i = match f.index.get(&hash) {
            Some(&i) if f.prefix(i) == prefix => i,
            _ => f.push(hash, &prefix),
        };
        Handle { block: Arc::clone(&f.blocks[i / BLOCK]), slot: i % BLOCK }
    }

    /// Appends every set series to `out`, family by family.
    pub fn render_into(&self, out: &mut String) {
        let families = self.families.read().unwrap_or_else(PoisonError::into_inner);
        out.reserve(families.iter().map(|f| f.head.len() + f.prefixes.len() + f.ends.len() * MAX_VALUE_LEN).sum());
        for f in families.iter() {
            f.render_into(out);
        }
    }
}

impl Family {
    fn prefix(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.prefixes[start..self.ends[i]]
    }

    fn push(&mut self, hash: u64, prefix: &str) -> usize {
        let i = self.ends.len();
        if i.is_multiple_of(BLOCK) {
            self.blocks.push(Arc::new([const { AtomicU64::new(UNSET) }; BLOCK]));
        }
        self.prefixes.push_str(prefix);
        self.ends.push(self.prefixes.len());
        self.index.entry(hash).or_insert(i);
        i
    }

    /// Writes the head only if a sample follows, so a family of unset series leaves no trace.
    fn render_into(&self, out: &mut String) {
        let mark = out.len();
        out.push_str(&self.head);
        let mut start = 0;
        for (block, ends) in self.blocks.iter().zip(self.ends.chunks(BLOCK)) {
            for (value, &end) in block.iter().zip(ends) {
                let bits = value.load(Relaxed);
                if bits != UNSET {
                    out.push_str(&self.prefixes[start..end]);
                    write_value(out, f64::from_bits(bits));
                    out.push('\n');
                }
                start = end;
            }
        }
        if out.len() == mark + self.head.len() {
            out.truncate(mark);
        }
    }
}

impl Handle {
    fn value(&self) -> &AtomicU64 {
        &self.block[self.slot]
    }

    /// Sets the value (a gauge's). Relaxed: each value stands alone, and a render may show any
    /// mix of this tick's and the last tick's values anyway.
    pub fn set(&self, v: f64) {
        let v = if v.is_nan() { f64::NAN } else { v };
        self.value().store(v.to_bits(), Relaxed);
    }

    /// Stops rendering the series until it is set again (a breakdown combination that gave up
    /// its slot).
    pub fn unset(&self) {
        self.value().store(UNSET, Relaxed);
    }

    /// Sets a counter to `total` unless that would lower it, like `metrics`' `Counter::absolute`,
    /// so a total that dips for a tick is not exported as a counter reset. Exact up to 2^53, as
    /// Prometheus keeps every sample as an `f64`.
    pub fn absolute(&self, total: u64) {
        let new = total as f64;
        let value = self.value();
        let mut bits = value.load(Relaxed);
        while bits == UNSET || f64::from_bits(bits) < new {
            match value.compare_exchange_weak(bits, new.to_bits(), Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now) => bits = now,
            }
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names, the same without `:` for label names.
fn is_name(s: &str, colon: bool) -> bool {
    let ok = |c: u8| c.is_ascii_alphabetic() || c == b'_' || (colon && c == b':');
    let mut bytes = s.bytes();
    bytes.next().is_some_and(ok) && bytes.all(|c| ok(c) || c.is_ascii_digit())
}

/// Escapes `\` and newline, and `"` in label values (help text keeps its quotes), as the format
/// requires.
fn escape(out: &mut String, s: &str, quote: bool) {
    let mut rest = s;
    while let Some(i) = rest.find(|c| c == '\\' || c == '\n' || (quote && c == '"')) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => "\\\"",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// Integers below 2^53 print as integers (event counts, alert states), everything else in
/// shortest round-trip form, NaN and infinities as Prometheus spells them.
fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.abs() < EXACT_INTEGERS && v as i64 as f64 == v {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

#[cfg(test)]
mod tests;

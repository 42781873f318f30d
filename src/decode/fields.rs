//! Which JSON fields to extract, and the serde visitors that extract only those.
//!
//! The config names a handful of fields; an event carries many more. [`FieldPlan`] is a small
//! tree of the wanted paths (`http.status` is `http` → `status`), each leaf with a dense slot.
//! The visitors walk the document once, skip unwanted values with [`Skip`] and store wanted
//! scalars into their slot, borrowing strings from the payload (an escaped string is the one
//! case that allocates).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// A field's value as the classifier sees it. JSON `null` is treated as missing.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Val<'a> {
    /// Absent or `null`: fails every field test.
    #[default]
    Missing,
    /// `true` or `false`.
    Bool(bool),
    /// An integer in i64 range.
    Int(i64),
    /// An integer above i64::MAX, up to u64::MAX: kept whole so that conditions on integers
    /// compare exactly (as f64, neighbours there are one value).
    UInt(u64),
    /// Any other number (a fraction, an exponent, or an integer beyond u64).
    Num(f64),
    /// A string, borrowed from the payload unless it held escapes.
    Str(Cow<'a, str>),
    /// An object or array: present, but equal to no literal.
    Other,
}

impl Val<'_> {
    /// The number a string holds when it is written exactly as a JSON number (`"503"`,
    /// `"-12.5"`, `"1e3"`; not `" 503"`, `"+1"`, `"0x1F"` or `"NaN"`), as that number would
    /// decode in the payload: nginx-style JSON logs quote their numbers, and LogQL's label
    /// filters compare such strings as numbers too. `None` for anything else.
    pub(crate) fn numeric_string(&self) -> Option<Val<'static>> {
        let Val::Str(s) = self else { return None };
        if !is_json_number(s.as_bytes()) {
            return None;
        }
        // The grammar is checked: serde_json now reads it exactly as it reads a payload's number.
        match serde_json::from_str::<serde_json::Number>(s).ok()? {
            n if n.is_i64() => n.as_i64().map(Val::Int),
            n if n.is_u64() => n.as_u64().map(Val::UInt),
            n => n.as_f64().map(Val::Num),
        }
    }
}

/// RFC 8259's `number`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, nothing around it.
fn is_json_number(b: &[u8]) -> bool {
    let digits = |i: usize| i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i),
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return false;
        }
        i = end;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return false;
        }
        i = end;
    }
    i == b.len()
}

#[derive(Debug, Default)]
struct Node {
    keys: Vec<(Box<str>, Entry)>,
}

#[derive(Debug, Default)]
struct Entry {
    slot: Option<usize>,
    child: Option<Node>,
}

impl Node {
    #[inline]
    fn find(&self, key: &str) -> Option<&Entry> {
        // Length, first and last byte rule out almost every other key without a memcmp call.
        let (first, last) = (key.as_bytes().first(), key.as_bytes().last());
        self.keys
            .iter()
            .find(|(k, _)| {
                k.len() == key.len() && k.as_bytes().first() == first && k.as_bytes().last() == last && &**k == key
            })
            .map(|(_, e)| e)
    }

    fn entry(&mut self, key: &str) -> &mut Entry {
        let i = match self.keys.iter().position(|(k, _)| &**k == key) {
            Some(i) => i,
            None => {
                self.keys.push((key.into(), Entry::default()));
                self.keys.len() - 1
            }
        };
        &mut self.keys[i].1
    }
}

/// The set of field paths to extract, each with a dense slot number.
#[derive(Debug, Default)]
pub(crate) struct FieldPlan {
    root: Node,
    paths: Vec<String>,
}

impl FieldPlan {
    /// Adds a dotted path (once) and returns its slot.
    pub(crate) fn add(&mut self, path: &str) -> usize {
        if let Some(i) = self.paths.iter().position(|p| p == path) {
            return i;
        }
        let slot = self.paths.len();
        self.paths.push(path.to_string());
        let mut node = &mut self.root;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let entry = node.entry(part);
            if parts.peek().is_none() {
                entry.slot = Some(slot);
                break;
            }
            node = entry.child.get_or_insert_with(Node::default);
        }
        slot
    }

    pub(crate) fn slot_count(&self) -> usize {
        self.paths.len()
    }

    pub(crate) fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Reads one JSON object from `de` into `slots` (which must hold `slot_count` entries).
    pub(crate) fn extract<'de, D: de::Deserializer<'de>>(&self, de: D, slots: &mut [Val<'de>]) -> Result<(), D::Error> {
        de.deserialize_map(ObjectVisitor { node: &self.root, slots })
    }
}

struct ObjectVisitor<'p, 's, 'de> {
    node: &'p Node,
    slots: &'s mut [Val<'de>],
}

impl<'de> Visitor<'de> for ObjectVisitor<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match self.node.find(&key) {
                Some(entry) => map.next_value_seed(ValueSeed { entry, slots: &mut *self.slots })?,
                None => {
                    map.next_value_seed(Skip)?;
                }
            }
        }
        Ok(())
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

struct ValueSeed<'p, 's, 'de> {
    entry: &'p Entry,
    slots: &'s mut [Val<'de>],
}

impl ValueSeed<'_, '_, '_> {
    fn store<'de>(slots: &mut [Val<'de>], slot: Option<usize>, v: Val<'de>) {
        if let Some(slot) = slot {
            slots[slot] = v;
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        Self::store(self.slots, self.entry.slot, Val::Bool(v));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        Self::store(self.slots, self.entry.slot, Val::Int(v));
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let v = i64::try_from(v).map_or(Val::UInt(v), Val::Int);
        Self::store(self.slots, self.entry.slot, v);
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        Self::store(self.slots, self.entry.slot, Val::Num(v));
        Ok(())
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        Self::store(self.slots, self.entry.slot, Val::Str(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.entry.slot.is_some() {
            Self::store(self.slots, self.entry.slot, Val::Str(Cow::Owned(v.to_owned())));
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Self::store(self.slots, self.entry.slot, Val::Missing);
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Self::store(self.slots, self.entry.slot, Val::Other);
        match &self.entry.child {
            Some(node) => ObjectVisitor { node, slots: self.slots }.visit_map(map),
            None => Skip.visit_map(map),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Self::store(self.slots, self.entry.slot, Val::Other);
        Skip.visit_seq(seq)
    }
}

/// Skips any value by walking it, rather than with serde's `IgnoredAny`: serde_json skips nested
/// containers by pushing onto a scratch buffer that a fresh deserializer (one per event) has to
/// allocate, and without a depth limit. Walking recursively allocates nothing for unescaped
/// strings and stops at serde_json's recursion limit (128), so absurd nesting is rejected as
/// invalid JSON instead of being skipped.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }
}

/// The common event, read without serde: one object whose numbers have at most 18 digits and no
/// exponent, nested at most [`FAST_DEPTH`] deep. Strings may hold escapes: each is checked as
/// serde_json checks it when it decodes a string (the decoder's visitors decode every string,
/// skipped ones included), so `\u` escapes must be four hex digits and surrogates paired; the
/// strings a slot wants are decoded as serde_json decodes them. Anything else, valid or not,
/// is declined (`false`) and goes to serde_json, so the fast path only ever accepts what
/// serde_json accepts and stores the same values: integers as `Int`, fractions as serde_json
/// computes them (`significand as f64 / 10^k`, exact for a significand below 2^53, so the same
/// with or without its `float_roundtrip` feature).
const FAST_DEPTH: u32 = 16;

/// Powers of ten up to 10^18, as serde_json's table has them.
const POW10: [f64; 19] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18];

impl FieldPlan {
    /// [`FieldPlan::extract`] for the common event; `false` means "not handled here" (slots may
    /// then hold partial results and must be reset before serde_json reads the payload).
    #[inline]
    pub(crate) fn extract_fast<'a>(&self, text: &'a str, slots: &mut [Val<'a>]) -> bool {
        let mut s = Scan { text, at: 0 };
        s.ws();
        if s.peek() != Some(b'{') {
            return false;
        }
        if s.object(Some(&self.root), slots, 0).is_none() {
            return false;
        }
        s.ws();
        s.at == text.len()
    }
}

struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// At the opening `{`.
    fn object(&mut self, node: Option<&Node>, slots: &mut [Val<'a>], depth: u32) -> Option<()> {
        self.items(b'}', |s| {
            if s.peek()? != b'"' {
                return None;
            }
            let (key, escaped) = s.string()?;
            s.ws();
            if s.peek()? != b':' {
                return None;
            }
            s.at += 1;
            s.ws();
            let entry = match node {
                Some(n) if escaped => n.find(&unescape(key)?),
                Some(n) => n.find(key),
                None => None,
            };
            s.value(entry, slots, depth)
        })
    }

    /// At the opening `[`.
    fn array(&mut self, slots: &mut [Val<'a>], depth: u32) -> Option<()> {
        self.items(b']', |s| s.value(None, slots, depth))
    }

    /// The comma-separated items of an object or array up to `close`, each read by `item`.
    #[inline]
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.at += 1;
        self.ws();
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                c if c == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self, entry: Option<&Entry>, slots: &mut [Val<'a>], depth: u32) -> Option<()> {
        let slot = entry.and_then(|e| e.slot);
        let v = match self.peek()? {
            b'"' => match self.string()? {
                (text, false) => Val::Str(Cow::Borrowed(text)),
                (text, true) if slot.is_some() => Val::Str(Cow::Owned(unescape(text)?)),
                (_, true) => Val::Missing,
            },
            b'{' | b'[' if depth + 1 >= FAST_DEPTH => return None,
            b'{' => {
                if let Some(slot) = slot {
                    slots[slot] = Val::Other;
                }
                return self.object(entry.and_then(|e| e.child.as_ref()), slots, depth + 1);
            }
            b'[' => {
                if let Some(slot) = slot {
                    slots[slot] = Val::Other;
                }
                return self.array(slots, depth + 1);
            }
            b't' => self.literal("true", Val::Bool(true))?,
            b'f' => self.literal("false", Val::Bool(false))?,
            b'n' => self.literal("null", Val::Missing)?,
            b'-' | b'0'..=b'9' => self.number(slot.is_some())?,
            _ => return None,
        };
        if let Some(slot) = slot {
            slots[slot] = v;
        }
        Some(())
    }

    #[inline]
    fn literal(&mut self, word: &str, v: Val<'a>) -> Option<Val<'a>> {
        if !self.text.as_bytes()[self.at..].starts_with(word.as_bytes()) {
            return None;
        }
        self.at += word.len();
        Some(v)
    }

    /// From the opening quote to past the closing one: the text between the quotes, and whether
    /// it holds escapes. `None` at a control character or an escape serde_json would refuse.
    /// Strings without escapes (nearly all) stay on this inlined loop; the first backslash hands
    /// over to [`Scan::escaped_string`], out of line, which kept the common case as fast as it
    /// was before escapes were read (`decode` bench, 250-byte events).
    #[inline]
    fn string(&mut self) -> Option<(&'a str, bool)> {
        let bytes = self.text.as_bytes();
        let start = self.at + 1;
        let mut i = start;
        // Eight bytes at a time while there are eight: the lowest byte flagged as a quote, a
        // backslash or below 0x20 is exact (flags above it may be false positives).
        while let Some(chunk) = bytes.get(i..i + 8) {
            let flagged = flag_specials(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
            if flagged == 0 {
                i += 8;
                continue;
            }
            i += (flagged.trailing_zeros() / 8) as usize;
            break;
        }
        loop {
            match *bytes.get(i)? {
                b'"' => break,
                b'\\' => return self.escaped_string(start, i),
                0..=0x1f => return None,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        // Both ends are ASCII quotes, so both are character boundaries.
        Some((self.text.get(start..i)?, false))
    }

    /// [`Scan::string`] from its first backslash, at `i`.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize, mut i: usize) -> Option<(&'a str, bool)> {
        let bytes = self.text.as_bytes();
        loop {
            match bytes[i] {
                b'"' => break,
                b'\\' => i = escape_end(bytes, i)?,
                _ => return None,
            }
            i = special(bytes, i)?;
        }
        self.at = i + 1;
        Some((self.text.get(start..i)?, true))
    }

    /// A JSON number with at most 18 digits and no exponent; its value only when `wanted`.
    #[inline]
    fn number(&mut self, wanted: bool) -> Option<Val<'a>> {
        let bytes = self.text.as_bytes();
        let negative = bytes[self.at] == b'-';
        let mut i = self.at + usize::from(negative);
        let int_start = i;
        let mut significand: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = bytes.get(i) {
            significand = significand * 10 + u64::from(c - b'0');
            i += 1;
            if i - int_start > 18 {
                return None;
            }
        }
        let int_digits = i - int_start;
        // One leading zero at most, and at least one digit.
        if int_digits == 0 || (int_digits > 1 && bytes[int_start] == b'0') {
            return None;
        }
        let mut frac_digits = 0;
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            while let Some(&c @ b'0'..=b'9') = bytes.get(i) {
                significand = significand * 10 + u64::from(c - b'0');
                i += 1;
                frac_digits += 1;
                if int_digits + frac_digits > 18 {
                    return None;
                }
            }
            if frac_digits == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = bytes.get(i) {
            return None;
        }
        self.at = i;
        if !wanted {
            return Some(Val::Missing);
        }
        Some(if frac_digits == 0 {
            if negative && significand == 0 {
                return None; // -0 is a float to serde_json
            }
            let v = significand as i64;
            Val::Int(if negative { -v } else { v })
        } else {
            if significand >= 1 << 53 {
                return None;
            }
            let v = significand as f64 / POW10[frac_digits];
            Val::Num(if negative { -v } else { v })
        })
    }
}

/// The high bit of each byte of `w` that is a quote, a backslash or below 0x20; the lowest one
/// set is exact, those above it may be false positives.
#[inline]
fn flag_specials(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

/// The position of the first quote, backslash or control character (below 0x20) at or after
/// `i`, if any.
#[inline]
fn special(bytes: &[u8], mut i: usize) -> Option<usize> {
    // Eight bytes at a time while there are eight: the lowest byte flagged as a quote, a
    // backslash or below 0x20 is exact (flags above it may be false positives).
    while let Some(chunk) = bytes.get(i..i + 8) {
        let flagged = flag_specials(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        if flagged != 0 {
            return Some(i + (flagged.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i.min(bytes.len())..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).map(|p| i + p)
}

/// Past the escape whose backslash is at `i`, if serde_json decodes it: one of `\" \\ \/ \b \f
/// \n \r \t`, or `\u` and four hex digits that are no surrogate, or a leading surrogate
/// immediately followed by `\u` and a trailing one. (serde_json only *skipping* a string would
/// let lone surrogates pass, but the decoder's visitors decode every string they meet.)
#[inline]
fn escape_end(bytes: &[u8], i: usize) -> Option<usize> {
    match *bytes.get(i + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(i + 2),
        b'u' => match hex4(bytes, i + 2)? {
            0xDC00..=0xDFFF => None,
            0xD800..=0xDBFF => {
                if bytes.get(i + 6..i + 8)? != b"\\u" || !(0xDC00..=0xDFFF).contains(&hex4(bytes, i + 8)?) {
                    return None;
                }
                Some(i + 12)
            }
            _ => Some(i + 6),
        },
        _ => None,
    }
}

/// The four hex digits at `i`.
#[inline]
fn hex4(bytes: &[u8], i: usize) -> Option<u32> {
    bytes.get(i..i + 4)?.iter().try_fold(0, |n, &c| Some(n << 4 | char::from(c).to_digit(16)?))
}

/// A string's text with its escapes (already checked by [`escape_end`]) decoded, as serde_json
/// decodes them. Allocates, as serde_json does for an escaped string.
#[cold]
fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'\\') {
        let at = i + at;
        out.push_str(text.get(i..at)?);
        let (c, len) = match *bytes.get(at + 1)? {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'/' => ('/', 2),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => match hex4(bytes, at + 2)? {
                n @ 0xD800..=0xDBFF => {
                    let low = hex4(bytes, at + 8)?.checked_sub(0xDC00).filter(|l| *l < 0x400)?;
                    (char::from_u32((((n - 0xD800) << 10) | low) + 0x1_0000)?, 12)
                }
                n => (char::from_u32(n)?, 6),
            },
            _ => return None,
        };
        out.push(c);
        i = at + len;
    }
    out.push_str(text.get(i..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn number(s: &str) -> Option<Val<'static>> {
        Val::Str(Cow::Borrowed(s)).numeric_string()
    }

    #[test]
    fn strings_written_as_json_numbers_read_as_those_numbers() {
        assert_eq!(number("503"), Some(Val::Int(503)));
        assert_eq!(number("-12.5"), Some(Val::Num(-12.5)));
        assert_eq!(number("1E+3"), Some(Val::Num(1000.0)));
        assert_eq!(number("18446744073709551615"), Some(Val::UInt(u64::MAX)));
        assert_eq!(number("18446744073709551616"), Some(Val::Num(18446744073709551616.0)));
        for not in ["", "-", "+1", " 1", "1 ", "01", "1.", ".5", "1e", "1e+", "0x1F", "NaN", "inf", "1_000", "١"] {
            assert_eq!(number(not), None, "{not:?}");
        }
        assert_eq!(Val::Int(5).numeric_string(), None, "only strings");
    }

    /// `s` with the digits after its first exponent marker zeroed: `1e310e` → `1e000e`.
    fn zero_exponent(s: &str) -> String {
        let Some(e) = s.find(['e', 'E']) else { return s.to_string() };
        let (head, tail) = s.split_at(e + 1);
        head.chars().chain(tail.chars().map(|c| if c.is_ascii_digit() { '0' } else { c })).collect()
    }

    #[test]
    fn a_text_that_overflows_before_it_goes_wrong_is_no_number() {
        assert!(!is_json_number(b"1e310e"));
        assert!(is_json_number(b"1e310"));
        assert_eq!(zero_exponent("-1E+310e"), "-1E+000e");
    }

    /// Bytes that are mostly plain, with quotes, backslashes, control bytes (and their
    /// neighbours 0x20, 0x7f, 0x80, 0xff, which must not be flagged) here and there.
    fn scanned_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            8 => prop::sample::select(&b"abcdefgh 0123456789"[..]),
            1 => prop::sample::select(&[b'"', b'\\', 0x00, 0x1f, b'\n', 0x20, 0x7f, 0x80, 0xff][..]),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..80)
    }

    proptest! {
        /// Finding the next quote, backslash or control byte agrees with a byte-by-byte search,
        /// from every start, at every length (so across every 8-byte boundary).
        #[test]
        fn special_bytes_are_found_exactly(bytes in scanned_bytes()) {
            for from in 0..=bytes.len() {
                let naive = bytes[from..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).map(|p| from + p);
                prop_assert_eq!(special(&bytes, from), naive, "from {} in {:?}", from, bytes);
            }
        }

        /// The grammar check agrees with serde_json reading the same text as a whole document
        /// (which also allows surrounding whitespace, so that is trimmed away first). A number
        /// serde_json finds out of range (`1E309`) is grammatical: it is refused after the check,
        /// when it is read (`numeric_string` gives `None`). serde_json says "out of range" as
        /// soon as the exponent overflows, before it reads the rest (`1e310e`), so such a text
        /// is judged with its exponent's digits zeroed.
        #[test]
        fn the_grammar_is_json_s(s in "[-+0-9.eE ]{0,8}") {
            let is_number = |s: &str| serde_json::from_str::<serde_json::Value>(s).map(|v| v.is_number());
            let by_serde = match is_number(&s) {
                Ok(number) => number,
                Err(e) if e.to_string().starts_with("number out of range") => {
                    is_number(&zero_exponent(&s)).unwrap_or(false)
                }
                Err(_) => false,
            } && s.trim() == s;
            prop_assert_eq!(is_json_number(s.as_bytes()), by_serde, "{:?}", s);
            if by_serde && serde_json::from_str::<serde_json::Value>(&s).is_err() {
                prop_assert_eq!(Val::Str(s.as_str().into()).numeric_string(), None);
            }
        }
    }
}

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
    #[default]
    Missing,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(Cow<'a, str>),
    /// An object or array: present, but equal to no literal.
    Other,
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
        self.keys.iter().find(|(k, _)| &**k == key).map(|(_, e)| e)
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
pub struct FieldPlan {
    root: Node,
    paths: Vec<String>,
}

impl FieldPlan {
    /// Adds a dotted path (once) and returns its slot.
    pub fn add(&mut self, path: &str) -> usize {
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

    pub fn slot_count(&self) -> usize {
        self.paths.len()
    }

    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Reads one JSON object from `de` into `slots` (which must hold `slot_count` entries).
    pub fn extract<'de, D: de::Deserializer<'de>>(&self, de: D, slots: &mut [Val<'de>]) -> Result<(), D::Error> {
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
        let v = i64::try_from(v).map(Val::Int).unwrap_or(Val::Num(v as f64));
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

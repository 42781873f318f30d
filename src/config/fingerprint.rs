//! An SLI's definition fingerprint: what a checkpoint records per SLI, so counts made under one
//! definition are never mixed with counts under another.
//!
//! It covers what decides whether an event belongs to the SLI and is good: its `match` and
//! `good` as written (mapping keys sorted, so reordering them is no change) and
//! `events.timestamp_field`, which places each event in time. The description does not count,
//! nor do settings that only change which messages are rejected. FNV-1a over a canonical text:
//! stable across builds and platforms, unlike the standard hasher.

use serde_yaml_ng::Value;

/// The fingerprint of one SLI's definition.
pub(crate) fn of(matches: Option<&Value>, good: &Value, timestamp_field: &str) -> u64 {
    let mut text = String::new();
    text.push_str("match=");
    match matches {
        Some(v) => canonical(v, &mut text),
        None => text.push('*'),
    }
    text.push_str(";good=");
    canonical(good, &mut text);
    text.push_str(";timestamp_field=");
    text.push_str(timestamp_field);
    fnv1a(text.as_bytes())
}

/// A YAML value as text with mapping keys sorted and every scalar typed (`"5"` and `5` differ).
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push('~'),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            out.push('#');
            out.push_str(&n.to_string());
        }
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Value::Sequence(items) => {
            out.push('[');
            for item in items {
                canonical(item, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Mapping(m) => {
            let mut entries: Vec<(String, &Value)> = m
                .iter()
                .map(|(k, v)| {
                    let mut key = String::new();
                    canonical(k, &mut key);
                    (key, v)
                })
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (k, v) in entries {
                out.push_str(&k);
                out.push(':');
                canonical(v, out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Tagged(t) => {
            out.push('!');
            out.push_str(&t.tag.to_string());
            canonical(&t.value, out);
        }
    }
}

/// FNV-1a: stable across builds and platforms, unlike the standard hasher.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn a_definition_change_changes_it_and_nothing_else_does() {
        let base =
            of(Some(&yaml("{ service: search-api, route: /v2 }")), &yaml("{ status: { lt: 500 } }"), "timestamp");
        let reordered =
            of(Some(&yaml("{ route: /v2, service: search-api }")), &yaml("{ status: { lt: 500 } }"), "timestamp");
        assert_eq!(base, reordered, "key order is not a change");
        for changed in [
            of(Some(&yaml("{ service: search-api, route: /v3 }")), &yaml("{ status: { lt: 500 } }"), "timestamp"),
            of(Some(&yaml("{ service: search-api, route: /v2 }")), &yaml("{ status: { lt: 300 } }"), "timestamp"),
            of(Some(&yaml("{ service: search-api, route: /v2 }")), &yaml("{ status: { lt: \"500\" } }"), "timestamp"),
            of(None, &yaml("{ status: { lt: 500 } }"), "timestamp"),
            of(Some(&yaml("{ service: search-api, route: /v2 }")), &yaml("{ status: { lt: 500 } }"), "ts"),
        ] {
            assert_ne!(base, changed);
        }
        // Stable across builds: a checkpoint written by this build is read by the next.
        assert_eq!(fnv1a(b"slostream"), 0x584e_6e9a_d267_745f, "FNV-1a changed");
    }
}

//! The JSON API: `/api/v1/slos` and `/api/v1/slos/{name}`, the [`model`](super::model) types as
//! JSON.
//!
//! The schema is a contract (the README documents it): within `v1` fields are only ever added,
//! never renamed, removed or retyped, so clients ignore fields they do not know. Times are
//! RFC 3339 strings in UTC, ratios and shares are fractions (0.999, not 99.9), lengths are
//! seconds, counts are integers.

use serde::{Serialize, Serializer};

/// Serialises epoch milliseconds as an RFC 3339 time (`2026-11-26T12:00:00.000Z`).
pub fn rfc3339<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    let mut text = String::with_capacity(24);
    crate::time::format_rfc3339_ms(*ms, &mut text);
    s.serialize_str(&text)
}

/// The body of a successful answer.
pub fn body<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string(value).expect("the page model serialises");
    text.push('\n');
    text
}

/// The body of an error answer: `{"error": "..."}`.
pub fn error(message: &str) -> String {
    body(&serde_json::json!({ "error": message }))
}

//! How values become page text: HTML escaping, link paths, and numbers for people.
//!
//! Every SLO and SLI name comes from the config, which accepts any text as a name, so every
//! name goes through [`escape`] (text and attribute values alike) and, in a link, through
//! [`path_segment`] first.

use std::fmt::Write as _;

/// Appends `text` with `& < > " '` escaped: safe in element text and in quoted attribute values.
pub fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text` escaped, as a new string.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape(&mut out, text);
    out
}

/// `name` as one URL path segment: every byte but RFC 3986's unreserved characters
/// percent-encoded, so a `/`, `?`, `#` or `%` in a name stays inside the segment.
pub fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A fraction as a percentage with `decimals` decimals (`0.99912` → `99.912%`).
pub fn percent(fraction: f64, decimals: usize) -> String {
    format!("{:.*}%", decimals, fraction * 100.0)
}

/// A burn rate (`53.70×`).
pub fn burn(rate: f64) -> String {
    format!("{rate:.2}×")
}

/// A count with thousands separated (`1,234,567`).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time as `YYYY-MM-DD HH:MM UTC`.
pub fn time(ms: i64) -> String {
    let mut text = String::with_capacity(24);
    crate::time::format_rfc3339_ms(ms, &mut text);
    format!("{} {} UTC", &text[..10], &text[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escaped(r#"<script>alert("x")</script> & 'co'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"
        );
        assert_eq!(escaped("book-a-ride"), "book-a-ride");
    }

    #[test]
    fn a_path_segment_keeps_slashes_and_markup_inside() {
        assert_eq!(path_segment("book-a-ride"), "book-a-ride");
        assert_eq!(path_segment("a/b?c#d%e f<ü>"), "a%2Fb%3Fc%23d%25e%20f%3C%C3%BC%3E");
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(percent(0.99912, 3), "99.912%");
        assert_eq!(percent(-52.7, 1), "-5270.0%");
        assert_eq!(burn(53.7), "53.70×");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(time(1_795_694_400_000), "2026-11-26 12:00 UTC");
    }
}

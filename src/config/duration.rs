//! Durations as SLO people write them: `30s`, `5m`, `1h`, `28d`, `1w`.
//!
//! A window's label is made from its length, not kept as written: the `window` label on every
//! exported series, the generated rules and the alert thresholds must all name one length the
//! same way, or a rule written for `60m` selects a series exported as `1h` and never fires.

use std::fmt;

/// A positive whole number of seconds with its canonical label.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window {
    /// The length.
    pub secs: i64,
    /// The `window` label value: [`label`] of the length (`1h` whether written `1h` or `60m`).
    pub label: String,
}

impl Window {
    /// The window of this length, labelled canonically.
    pub fn from_secs(secs: i64) -> Window {
        Window { secs, label: label(secs) }
    }

    /// Builds a window from a literal; panics only on a literal that is not a valid duration,
    /// so it is meant for the built-in alert windows.
    pub(crate) fn standard(literal: &str) -> Window {
        Window::from_secs(parse_secs(literal).expect("built-in window literal"))
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// The one label of a length: the largest of `d`, `h`, `m`, `s` that divides it exactly
/// (3600 → `1h`, 5400 → `90m`, 7 days → `7d`). Weeks are left out so that the common periods
/// keep the labels people write (`28d`, `30d`), and a label never mixes units, so dashboards
/// can select on it by equality.
pub(crate) fn label(secs: i64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Why a duration was refused; each message quotes the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DurationError {
    #[error("{0:?} has no unit (expected e.g. 30s, 5m, 1h, 28d)")]
    NoUnit(String),
    #[error("{0:?} is not a duration (expected e.g. 30s, 5m, 1h, 28d)")]
    NotANumber(String),
    /// A millisecond value ([`parse_millis`]) that is not a number.
    #[error("{0:?} is not a duration (expected e.g. 500ms, 5s, 1m)")]
    NotMillis(String),
    #[error("{0:?} must be greater than zero")]
    NotPositive(String),
    #[error("{text:?} has unknown unit {unit:?} (expected ms, s, m, h, d or w)")]
    UnknownUnit { text: String, unit: String },
    #[error("{0:?} is too large")]
    TooLarge(String),
    #[error("{0:?} is not a whole number of seconds")]
    NotWholeSeconds(String),
}

/// Parses `<digits><unit>` with unit `ms`, `s`, `m`, `h`, `d` or `w` into whole seconds.
/// Milliseconds must add up to whole seconds: windows and buckets are second-aligned.
///
/// Strict: ASCII digits (leading zeros allowed), then the unit, nothing else. A sign, a space or
/// a missing number is refused here, where the key path is known, instead of passing `check`
/// and then breaking a series name built from the text (`+30d` did, at the first tick).
pub(crate) fn parse_secs(text: &str) -> Result<i64, DurationError> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        // `-5m` is a number, but not a length: say so rather than "not a duration".
        let negative = text.strip_prefix('-').is_some_and(|rest| parse_secs(rest).is_ok());
        return Err(if negative {
            DurationError::NotPositive(text.into())
        } else {
            DurationError::NotANumber(text.into())
        });
    }
    if unit.is_empty() {
        return Err(DurationError::NoUnit(text.into()));
    }
    if !unit.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(DurationError::NotANumber(text.into()));
    }
    let n: i64 = number.parse().map_err(|_| DurationError::TooLarge(text.into()))?;
    if n == 0 {
        return Err(DurationError::NotPositive(text.into()));
    }
    let millis_per_unit: i64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(DurationError::UnknownUnit { text: text.into(), unit: unit.into() }),
    };
    let millis = n.checked_mul(millis_per_unit).ok_or_else(|| DurationError::TooLarge(text.into()))?;
    if millis % 1_000 != 0 {
        return Err(DurationError::NotWholeSeconds(text.into()));
    }
    Ok(millis / 1_000)
}

/// Parses a duration into milliseconds (sub-second values allowed), for non-window settings;
/// as strict as [`parse_secs`].
pub(crate) fn parse_millis(text: &str) -> Result<i64, DurationError> {
    if let Some(number) = text.strip_suffix("ms") {
        if !number.ends_with(|c: char| c.is_ascii_alphabetic()) {
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(DurationError::NotMillis(text.into()));
            }
            let n: i64 = number.parse().map_err(|_| DurationError::TooLarge(text.into()))?;
            return if n > 0 { Ok(n) } else { Err(DurationError::NotPositive(text.into())) };
        }
    }
    parse_secs(text).map(|s| s * 1_000)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the text: refused, or a positive length whose label reads back as the same
        /// length. Arbitrary strings, and near misses: signs, spaces, no number, no unit.
        #[test]
        fn a_duration_is_refused_or_positive_with_a_label_that_reads_back(
            text in prop_oneof![any::<String>(), "[+ -]?[0-9 ]{0,12}(ms|s|m|h|d|w|y| |)[ +]?"],
        ) {
            if let Ok(secs) = parse_secs(&text) {
                prop_assert!(secs > 0, "{:?} gave {}", text, secs);
                prop_assert_eq!(parse_secs(&label(secs)), Ok(secs), "{:?}", text);
            }
        }

        /// Every length a duration can have has a label that reads back as it.
        #[test]
        fn every_length_has_a_label_that_reads_back(secs in 1i64..=i64::MAX / 1_000) {
            prop_assert_eq!(parse_secs(&label(secs)), Ok(secs));
        }
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_secs("30s"), Ok(30));
        assert_eq!(parse_secs("5m"), Ok(300));
        assert_eq!(parse_secs("1h"), Ok(3600));
        assert_eq!(parse_secs("28d"), Ok(28 * 86400));
        assert_eq!(parse_secs("1w"), Ok(7 * 86400));
        assert_eq!(parse_secs("2000ms"), Ok(2));
        assert_eq!(parse_millis("250ms"), Ok(250));
        assert_eq!(parse_millis("1m"), Ok(60_000));
    }

    #[test]
    fn one_length_has_one_label() {
        for (written, want) in [
            ("60m", "1h"),
            ("3600s", "1h"),
            ("24h", "1d"),
            ("72h", "3d"),
            ("90m", "90m"),
            ("5400s", "90m"),
            ("720h", "30d"),
            ("1w", "7d"),
            ("28d", "28d"),
            ("45s", "45s"),
            ("120000ms", "2m"),
        ] {
            assert_eq!(Window::standard(written).label, want, "{written}");
        }
        assert_eq!(label(2_592_000), "30d");
    }

    #[test]
    fn rejects_zero_negative_and_garbage() {
        let message = |r: Result<i64, DurationError>| r.unwrap_err().to_string();
        assert!(message(parse_secs("0s")).contains("greater than zero"));
        assert!(message(parse_secs("-5m")).contains("greater than zero"));
        assert!(message(parse_secs("5")).contains("no unit"));
        assert!(message(parse_secs("5y")).contains("unknown unit"));
        assert!(message(parse_secs("1500ms")).contains("whole number"));
        assert!(parse_millis("0ms").is_err());
    }

    /// `+30d` passed `check` and then broke the Sloth series name at the first tick: a duration
    /// is ASCII digits then a unit, nothing around or between them.
    #[test]
    fn rejects_signs_spaces_and_empty_numbers() {
        for text in ["+30d", "+0s", " 30d", "30d ", "30 d", "3 0d", "\t5m", "d", "+d", "", "ms", "+500ms"] {
            assert!(parse_secs(text).is_err(), "{text:?} accepted as {:?}", parse_secs(text));
            assert!(parse_millis(text).is_err(), "{text:?} accepted as {:?} ms", parse_millis(text));
        }
        assert_eq!(parse_secs("007m"), Ok(420));
        assert_eq!(parse_millis("0500ms"), Ok(500));
    }

    #[test]
    fn messages_quote_the_text_as_written() {
        assert_eq!(
            parse_secs("5y").unwrap_err().to_string(),
            r#""5y" has unknown unit "y" (expected ms, s, m, h, d or w)"#
        );
        assert_eq!(
            parse_secs(" 5m").unwrap_err().to_string(),
            r#"" 5m" is not a duration (expected e.g. 30s, 5m, 1h, 28d)"#
        );
        assert_eq!(
            parse_millis(" 5.5ms").unwrap_err().to_string(),
            r#"" 5.5ms" is not a duration (expected e.g. 500ms, 5s, 1m)"#
        );
        assert_eq!(parse_millis("0ms").unwrap_err().to_string(), r#""0ms" must be greater than zero"#);
        assert_eq!(parse_secs("99999999999999999w").unwrap_err().to_string(), r#""99999999999999999w" is too large"#);
    }
}

//! Durations as SLO people write them: `30s`, `5m`, `1h`, `28d`, `1w`.
//!
//! A window keeps the text it was written with, because the `window` label on every exported
//! series is that text ("28d", not "2419200s"): dashboards select on it.

use std::fmt;

/// A positive whole number of seconds with the label it was written as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window {
    /// The length.
    pub secs: i64,
    /// The text it was written as: the `window` label value.
    pub label: String,
}

impl Window {
    /// Builds a window from its label; panics only on a literal that is not a valid duration,
    /// so it is meant for the built-in alert windows.
    pub(crate) fn standard(label: &str) -> Window {
        let secs = parse_secs(label).expect("built-in window literal");
        Window { secs, label: label.to_string() }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
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

/// Parses `<integer><unit>` with unit `ms`, `s`, `m`, `h`, `d` or `w` into whole seconds.
/// Milliseconds must add up to whole seconds: windows and buckets are second-aligned.
pub(crate) fn parse_secs(text: &str) -> Result<i64, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '+'))
        .ok_or_else(|| DurationError::NoUnit(text.into()))?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| DurationError::NotANumber(text.into()))?;
    if n <= 0 {
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

/// Parses a duration into milliseconds (sub-second values allowed), for non-window settings.
pub(crate) fn parse_millis(text: &str) -> Result<i64, DurationError> {
    let trimmed = text.trim();
    if let Some(ms) = trimmed.strip_suffix("ms") {
        if !ms.ends_with(|c: char| c.is_ascii_alphabetic()) {
            let n: i64 = ms.parse().map_err(|_| DurationError::NotMillis(text.into()))?;
            return if n > 0 { Ok(n) } else { Err(DurationError::NotPositive(text.into())) };
        }
    }
    parse_secs(trimmed).map(|s| s * 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rejects_zero_negative_and_garbage() {
        let message = |r: Result<i64, DurationError>| r.unwrap_err().to_string();
        assert!(message(parse_secs("0s")).contains("greater than zero"));
        assert!(message(parse_secs("-5m")).contains("greater than zero"));
        assert!(message(parse_secs("5")).contains("no unit"));
        assert!(message(parse_secs("5y")).contains("unknown unit"));
        assert!(message(parse_secs("1500ms")).contains("whole number"));
        assert!(parse_millis("0ms").is_err());
    }

    #[test]
    fn messages_quote_the_text_as_written() {
        assert_eq!(
            parse_secs(" 5y").unwrap_err().to_string(),
            r#""5y" has unknown unit "y" (expected ms, s, m, h, d or w)"#
        );
        assert_eq!(
            parse_millis(" 5.5ms").unwrap_err().to_string(),
            r#"" 5.5ms" is not a duration (expected e.g. 500ms, 5s, 1m)"#
        );
        assert_eq!(parse_millis("0ms").unwrap_err().to_string(), r#""0ms" must be greater than zero"#);
        assert_eq!(parse_secs("99999999999999999w").unwrap_err().to_string(), r#""99999999999999999w" is too large"#);
    }
}

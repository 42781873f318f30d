//! `reports`: the zone of the calendar months rolling SLOs report by, and how many closed periods
//! are kept per SLO.

use super::{bad, Invalid};
use crate::config::raw::RawReports;
use crate::config::{Calendar, CalendarUnit, ReportsConfig};

/// Closed periods kept per SLO unless `reports.keep` says otherwise: two years of months.
const DEFAULT_KEEP: i64 = 24;

/// The most `reports.keep` accepts: ten years of weeks, so one SLO's history stays under a few
/// hundred kilobytes.
const MAX_KEEP: i64 = 520;

pub(super) fn reports(raw: &RawReports) -> Result<ReportsConfig, Invalid> {
    let zone = raw.time_zone.as_deref().unwrap_or("UTC");
    let months = Calendar::new(CalendarUnit::Month, zone).map_err(|e| bad("reports.time_zone", e))?;
    let keep = raw.keep.unwrap_or(DEFAULT_KEEP);
    if !(1..=MAX_KEEP).contains(&keep) {
        return Err(bad(
            "reports.keep",
            format!("{keep} is not a number of closed periods to keep (expected 1 to {MAX_KEEP})"),
        ));
    }
    Ok(ReportsConfig { months, keep: keep as usize })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn with(reports: &str) -> Result<Config, String> {
        let yaml = format!("{}\nreports: {reports}\n", include_str!("../../../config/example.yaml"));
        Config::from_yaml(&yaml, "example.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_utc_and_24_and_errors_name_the_key() {
        let config = Config::from_yaml(include_str!("../../../config/example.yaml"), "example.yaml").unwrap();
        assert_eq!((config.reports.months.zone.as_str(), config.reports.keep), ("UTC", 24));
        let c = with(r#"{time_zone: "Europe/Paris", keep: 3}"#).unwrap();
        assert_eq!((c.reports.months.zone.as_str(), c.reports.keep), ("Europe/Paris", 3));
        let e = with(r#"{time_zone: "Mars/Olympus"}"#).unwrap_err();
        assert!(e.starts_with("example.yaml: reports.time_zone: \"Mars/Olympus\" is not a time zone"), "{e}");
        for keep in ["0", "-1", "521"] {
            let e = with(&format!("{{keep: {keep}}}")).unwrap_err();
            assert!(e.starts_with(&format!("example.yaml: reports.keep: {keep} is not")), "{e}");
        }
        let e = with("{zone: UTC}").unwrap_err();
        assert!(e.contains("reports") && e.contains("unknown field"), "{e}");
    }
}

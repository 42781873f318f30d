//! `maintenance:`: each window's name, `match:`, and a schedule that can be computed.

use super::{bad, condition, millis, Invalid};
use crate::config::raw::RawMaintenance;
use crate::config::{Condition, MaintenanceConfig, Schedule};

/// In config order; the key paths are `maintenance[i].<key>`.
pub(super) fn maintenance(raw: &[RawMaintenance]) -> Result<Vec<MaintenanceConfig>, Invalid> {
    let mut out: Vec<MaintenanceConfig> = Vec::with_capacity(raw.len());
    for (i, m) in raw.iter().enumerate() {
        let at = format!("maintenance[{i}]");
        check_name(&m.name, &format!("{at}.name"))?;
        if let Some(first) = out.iter().position(|o| o.name == m.name) {
            return Err(bad(
                &format!("{at}.name"),
                format!("{:?} is also the name of maintenance[{first}] (expected unique names)", m.name),
            ));
        }
        let matches = match &m.matches {
            Some(v) => condition::parse(v, &format!("{at}.match"))?,
            None => Condition::Always,
        };
        out.push(MaintenanceConfig { name: m.name.clone(), matches, schedule: schedule(m, &at)? });
    }
    Ok(out)
}

/// The name is the `maintenance` label's value: any text an SLI name may be, as long as it
/// shows as itself (no control characters, no blank around it).
fn check_name(name: &str, path: &str) -> Result<(), Invalid> {
    if name.trim().is_empty() {
        return Err(bad(path, format!("{name:?} is empty (expected a name: the maintenance label's value)")));
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err(bad(
            path,
            format!("{name:?} has control characters or blanks around it (expected printable text, trimmed)"),
        ));
    }
    Ok(())
}

fn schedule(m: &RawMaintenance, at: &str) -> Result<Schedule, Invalid> {
    let start_ms = instant(&m.start, &format!("{at}.start"))?;
    let duration_ms = millis(&m.duration, &format!("{at}.duration"))?;
    let every_ms = m.every.as_deref().map(|e| millis(e, &format!("{at}.every"))).transpose()?;
    if every_ms.is_some_and(|e| e < duration_ms) {
        return Err(bad(
            &format!("{at}.every"),
            format!(
                "{:?} is shorter than duration {:?} (expected every ≥ duration: occurrences would overlap)",
                m.every.as_deref().unwrap_or_default(),
                m.duration
            ),
        ));
    }
    let until_ms = match &m.until {
        None => None,
        Some(_) if every_ms.is_none() => {
            return Err(bad(
                &format!("{at}.until"),
                "given without every (expected every with until: a window without every happens once, for its \
                 duration)"
                    .into(),
            ))
        }
        Some(text) => {
            let until = instant(text, &format!("{at}.until"))?;
            if until <= start_ms {
                return Err(bad(
                    &format!("{at}.until"),
                    format!("{text:?} is not after start {:?} (expected a later time)", m.start),
                ));
            }
            Some(until)
        }
    };
    Ok(Schedule { start_ms, duration_ms, every_ms, until_ms })
}

/// An RFC 3339 time with an offset (`Z` or `+01:00`), as epoch milliseconds: an instant, so
/// every instance agrees on it whatever its host's zone.
fn instant(text: &str, path: &str) -> Result<i64, Invalid> {
    text.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).map_err(|_| {
        bad(
            path,
            format!(
                "{text:?} is not an RFC 3339 time with an offset (expected e.g. 2026-12-03T22:00:00+01:00 or \
                 2026-12-03T21:00:00Z)"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = "kafka: { brokers: b, topics: [t], group_id: g }\n\
                        slis:\n  a: { good: { ok: true } }\nslos:\n  s: { objective: 99, period: 1d, slis: [a] }\n";

    fn load(maintenance: &str) -> Result<Config, String> {
        let yaml = format!("{BASE}maintenance:\n{maintenance}");
        Config::from_yaml_with_env(&yaml, "m.yaml", |_| None).map_err(|e| e.to_string())
    }

    const OK: &str = r#"  - name: db-upgrade
    match: { service: booking }
    start: "2026-12-03T22:00:00+01:00"
    duration: 2h
    every: 1w
    until: "2027-03-01T00:00:00Z"
"#;

    #[test]
    fn the_documented_window_loads() {
        let config = load(OK).unwrap();
        let m = &config.maintenance[0];
        assert_eq!(m.name, "db-upgrade");
        assert_eq!(m.schedule.start_ms, 1_796_331_600_000, "2026-12-03T21:00:00Z");
        assert_eq!(m.schedule.duration_ms, 7_200_000);
        assert_eq!(m.schedule.every_ms, Some(7 * 86_400_000));
        assert_eq!(m.schedule.until_ms, Some(1_803_859_200_000), "2027-03-01T00:00:00Z");
        assert_eq!(config.condition_fields(), ["ok", "service"], "its match field is read and tested");
        let once = load("  - { name: all, start: \"2026-12-03T21:00:00Z\", duration: 90m }\n").unwrap();
        assert_eq!(once.maintenance[0].schedule.every_ms, None);
        assert!(load("").unwrap().maintenance.is_empty(), "an empty list");
        let yaml = BASE.to_string();
        assert!(Config::from_yaml(&yaml, "m.yaml").unwrap().maintenance.is_empty(), "no key");
    }

    /// Each broken key: the error names `maintenance[i].<key>`, the value, and what was expected.
    #[test]
    fn every_bad_value_names_its_key() {
        let second = |entry: &str| format!("{OK}  - {entry}\n");
        let w = r#"start: "2026-12-03T22:00:00+01:00", duration: 2h"#;
        let cases: Vec<(String, &str)> = vec![
            (second(&format!("{{ name: db-upgrade, {w} }}")), "maintenance[1].name: \"db-upgrade\" is also the name of maintenance[0] (expected unique names)"),
            (second(&format!("{{ name: \"\", {w} }}")), "maintenance[1].name: \"\" is empty"),
            (second(&format!("{{ name: \" x\", {w} }}")), "maintenance[1].name: \" x\" has control characters or blanks"),
            (second(&format!("{{ name: \"a\\nb\", {w} }}")), "maintenance[1].name: \"a\\nb\" has control characters"),
            (OK.replace("duration: 2h", "duration: 0s"), "maintenance[0].duration: \"0s\" must be greater than zero"),
            (OK.replace("duration: 2h", "duration: -2h"), "maintenance[0].duration: \"-2h\" must be greater than zero"),
            (OK.replace("duration: 2h", "duration: 2"), "maintenance[0].duration: \"2\" has no unit"),
            (OK.replace("every: 1w", "every: 1h"), "maintenance[0].every: \"1h\" is shorter than duration \"2h\" (expected every ≥ duration: occurrences would overlap)"),
            (OK.replace("every: 1w", "every: 1y"), "maintenance[0].every: \"1y\" has unknown unit"),
            (OK.replace("22:00:00+01:00", "22:00:00"), "maintenance[0].start: \"2026-12-03T22:00:00\" is not an RFC 3339 time with an offset"),
            (OK.replace("\"2026-12-03T22:00:00+01:00\"", "tomorrow"), "maintenance[0].start: \"tomorrow\" is not an RFC 3339 time"),
            (OK.replace("2027-03-01T00:00:00Z", "2026-12-03T21:00:00Z"), "maintenance[0].until: \"2026-12-03T21:00:00Z\" is not after start \"2026-12-03T22:00:00+01:00\""),
            (OK.replace("2027-03-01T00:00:00Z", "2027-03-01"), "maintenance[0].until: \"2027-03-01\" is not an RFC 3339 time"),
            (OK.replace("    every: 1w\n", ""), "maintenance[0].until: given without every"),
            (OK.replace("{ service: booking }", "{ service: { around: 3 } }"), "maintenance[0].match.service"),
            (OK.replace("{ service: booking }", "[booking]"), "maintenance[0].match"),
            (OK.replace("    duration: 2h\n", ""), "maintenance[0]: missing field `duration`"),
            (OK.replace("    every: 1w\n", "    every: 1w\n    evry: 1w\n"), "maintenance[0].evry: unknown field `evry`"),
        ];
        for (yaml, want) in cases {
            let got = load(&yaml).err().unwrap_or_else(|| panic!("accepted:\n{yaml}"));
            assert!(got.starts_with(&format!("m.yaml: {want}")), "got {got}\nwant m.yaml: {want}…");
        }
        assert!(load(&OK.replace("every: 1w", "every: 2h")).is_ok(), "back-to-back occurrences");
    }
}

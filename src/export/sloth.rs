//! `exporter.compat: sloth`: the series Sloth's recording rules produce, computed by slostream.
//!
//! Sloth's Grafana dashboards (grafana.com 14348 and 14643) query these names and labels, so
//! they work unchanged on slostream's data. Names and meanings follow Sloth's generated rules
//! (`examples/_gen/getting-started.yml` in slok/sloth): `slo:sli_error:ratio_rate<W>` is the
//! error ratio over W with `sloth_window`; the meta series carry `sloth_id`, `sloth_service`
//! and `sloth_slo`. The values are slostream's exact event-weighted ones, so the period ratio
//! is a true ratio rather than Sloth's average of 5-minute ratios. `sloth_service` is the SLO's
//! `service` label when it has one, else `slostream`. Windows are named as Sloth names them
//! ([`sloth_window`]: a 28d period is `4w`), not with slostream's own `window` label.
//!
//! SLOs with a calendar period have no Sloth series: Sloth only knows rolling windows, and its
//! dashboards read the period from `sloth_window` as a fixed length that a month does not have.

use super::exposition::{Exposition, Handle, Kind};
use crate::config::SloConfig;
use crate::names::{self, Metric, SLOTH_ERROR_RATIO_PREFIX};
use crate::slo::{self, SloStatus};

/// Handles of one SLO's Sloth series.
pub(crate) struct SlothHandles {
    /// Per SLO window: `slo:sli_error:ratio_rate<W>`.
    error_ratio: Vec<Handle>,
    current_burn: Handle,
    period_burn: Handle,
    budget_remaining: Handle,
}

impl SlothHandles {
    /// Registers the SLO's Sloth series and sets the ones that never change.
    pub(crate) fn register(series: &Exposition, slo: &SloConfig) -> SlothHandles {
        let service = slo.labels.iter().find(|(k, _)| k == "service").map_or("slostream", |(_, v)| v.as_str());
        let id = format!("{service}-{}", slo.name);
        let mut base: Vec<(&str, &str)> = vec![("sloth_id", &id), ("sloth_service", service), ("sloth_slo", &slo.name)];
        base.extend(slo.labels.iter().filter(|(k, _)| k != "service").map(|(k, v)| (k.as_str(), v.as_str())));
        let gauge = |m: Metric, labels: &[(&str, &str)]| series.series(series.family(m.name, m.help, m.kind), labels);
        let error_ratio = slo
            .windows
            .iter()
            .map(|w| {
                let window = sloth_window(w.secs);
                let mut l = base.clone();
                l.push(("sloth_window", &window));
                let help = format!("Sloth: error ratio over {window} (slostream's exact count)");
                series.series(series.family(&format!("{SLOTH_ERROR_RATIO_PREFIX}{window}"), &help, Kind::Gauge), &l)
            })
            .collect();
        gauge(names::SLOTH_OBJECTIVE, &base).set(slo.objective);
        gauge(names::SLOTH_ERROR_BUDGET, &base).set(1.0 - slo.objective);
        gauge(names::SLOTH_PERIOD_DAYS, &base).set(slo.period.secs as f64 / 86_400.0);
        let objective = format!("{}", slo.objective_percent);
        let mut info = base.clone();
        info.extend([
            ("sloth_mode", "slostream"),
            ("sloth_spec", "prometheus/v1"),
            ("sloth_version", env!("CARGO_PKG_VERSION")),
            ("sloth_objective", objective.as_str()),
        ]);
        gauge(names::SLOTH_INFO, &info).set(1.0);
        SlothHandles {
            error_ratio,
            current_burn: gauge(names::SLOTH_CURRENT_BURN, &base),
            period_burn: gauge(names::SLOTH_PERIOD_BURN, &base),
            budget_remaining: gauge(names::SLOTH_BUDGET_REMAINING, &base),
        }
    }

    /// Sets the values of one evaluation.
    pub(crate) fn update(&self, slo: &SloConfig, status: &SloStatus) {
        for (g, w) in self.error_ratio.iter().zip(&status.windows) {
            g.set(slo::error_ratio(slo.combine, w));
        }
        // Sloth's "current" burn rate is the 5-minute one.
        let current = slo.windows.iter().position(|w| w.secs == 300).unwrap_or(0);
        let period = status.windows.last().expect("the period is a window");
        self.current_burn.set(status.windows[current].burn_rate);
        self.period_burn.set(period.burn_rate);
        self.budget_remaining.set(1.0 - period.burn_rate);
    }
}

/// A window as Sloth names it, in `sloth_window` and in the `slo:sli_error:ratio_rate<W>` suffix,
/// so that queries written for Sloth find slostream's series.
///
/// Sloth formats both with Prometheus' `model.Duration.String()` (slok/sloth
/// `pkg/common/utils/prometheus/prometheus.go` `TimeDurationToPromStr`, used by
/// `pkg/common/conventions/sli.go` `GetSLIErrorMetric` and
/// `internal/plugin/slo/core/sli_rules_v1/plugin.go` for `sloth_window`). That prints years and
/// weeks only when they divide the length exactly, then days, hours, minutes and seconds, each
/// that is not zero: 28d is `4w`, 30d stays `30d`, 90m is `1h30m`. Windows are whole seconds, so
/// its milliseconds never appear.
pub(crate) fn sloth_window(secs: i64) -> String {
    const DAY: i64 = 86_400;
    let mut left = secs;
    let mut out = String::new();
    for (unit, size, exact) in [
        ("y", 365 * DAY, true),
        ("w", 7 * DAY, true),
        ("d", DAY, false),
        ("h", 3_600, false),
        ("m", 60, false),
        ("s", 1, false),
    ] {
        if exact && left % size != 0 {
            continue;
        }
        if left / size > 0 {
            out.push_str(&format!("{}{unit}", left / size));
            left %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sloth_window;

    /// Literal names from Sloth's generated rules and Prometheus' duration printing.
    #[test]
    fn windows_are_named_as_sloth_names_them() {
        let day = 86_400;
        for (secs, want) in [
            (300, "5m"),
            (1_800, "30m"),
            (3_600, "1h"),
            (5_400, "1h30m"),
            (7_200, "2h"),
            (21_600, "6h"),
            (day, "1d"),
            (3 * day, "3d"),
            (7 * day, "1w"),
            (14 * day, "2w"),
            (28 * day, "4w"),
            (30 * day, "30d"),
            (720 * 3_600, "30d"),
            (90 * day, "90d"),
            (365 * day, "1y"),
            (day + 3_600 + 61, "1d1h1m1s"),
            (45, "45s"),
        ] {
            assert_eq!(sloth_window(secs), want, "{secs} s");
        }
    }
}

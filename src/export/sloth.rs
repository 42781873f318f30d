//! `exporter.compat: sloth`: the series Sloth's recording rules produce, computed by slostream.
//!
//! Sloth's Grafana dashboards (grafana.com 14348 and 14643) query these names and labels, so
//! they work unchanged on slostream's data. Names and meanings follow Sloth's generated rules
//! (`examples/_gen/getting-started.yml` in slok/sloth): `slo:sli_error:ratio_rate<W>` is the
//! error ratio over W with `sloth_window`; the meta series carry `sloth_id`, `sloth_service`
//! and `sloth_slo`. The values are slostream's exact event-weighted ones, so the period ratio
//! is a true ratio rather than Sloth's average of 5-minute ratios. `sloth_service` is the SLO's
//! `service` label when it has one, else `slostream`.

use super::exposition::{Exposition, Handle, Kind};
use crate::config::SloConfig;
use crate::names::{self, Metric, SLOTH_ERROR_RATIO_PREFIX};
use crate::slo::SloStatus;

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
                let mut l = base.clone();
                l.push(("sloth_window", &w.label));
                let help = format!("Sloth: error ratio over {} (slostream's exact count)", w.label);
                series.series(series.family(&format!("{SLOTH_ERROR_RATIO_PREFIX}{}", w.label), &help, Kind::Gauge), &l)
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
            g.set(1.0 - w.ratio);
        }
        // Sloth's "current" burn rate is the 5-minute one.
        let current = slo.windows.iter().position(|w| w.secs == 300).unwrap_or(0);
        let period = status.windows.last().expect("the period is a window");
        self.current_burn.set(status.windows[current].burn_rate);
        self.period_burn.set(period.burn_rate);
        self.budget_remaining.set(1.0 - period.burn_rate);
    }
}

//! `exporter.compat: sloth`: the series Sloth's recording rules produce, computed by slostream.
//!
//! Sloth's Grafana dashboards (grafana.com 14348 and 14643) query these names and labels, so
//! they work unchanged on slostream's data. Names and meanings follow Sloth's generated rules
//! (`examples/_gen/getting-started.yml` in slok/sloth): `slo:sli_error:ratio_rate<W>` is the
//! error ratio over W with `sloth_window`; the meta series carry `sloth_id`, `sloth_service`
//! and `sloth_slo`. The values are slostream's exact event-weighted ones, so the period ratio
//! is a true ratio rather than Sloth's average of 5-minute ratios. `sloth_service` is the SLO's
//! `service` label when it has one, else `slostream`.

use metrics::{Gauge, Key, Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::telemetry::META;
use crate::config::SloConfig;
use crate::slo::SloStatus;

pub struct SlothHandles {
    /// Per SLO window: `slo:sli_error:ratio_rate<W>`.
    error_ratio: Vec<Gauge>,
    current_burn: Gauge,
    period_burn: Gauge,
    budget_remaining: Gauge,
}

impl SlothHandles {
    pub fn register(recorder: &PrometheusRecorder, slo: &SloConfig) -> SlothHandles {
        let service = slo.labels.iter().find(|(k, _)| k == "service").map_or("slostream", |(_, v)| v.as_str());
        let base = || {
            let mut l = vec![
                Label::new("sloth_id", format!("{service}-{}", slo.name)),
                Label::new("sloth_service", service.to_string()),
                Label::new("sloth_slo", slo.name.clone()),
            ];
            l.extend(slo.labels.iter().filter(|(k, _)| k != "service").map(|(k, v)| Label::new(k.clone(), v.clone())));
            l
        };
        let gauge = |name: String, labels: Vec<Label>| recorder.register_gauge(&Key::from_parts(name, labels), &META);
        let error_ratio = slo
            .windows
            .iter()
            .map(|w| {
                let mut l = base();
                l.push(Label::new("sloth_window", w.label.clone()));
                gauge(format!("slo:sli_error:ratio_rate{}", w.label), l)
            })
            .collect();
        gauge("slo:objective:ratio".into(), base()).set(slo.objective);
        gauge("slo:error_budget:ratio".into(), base()).set(1.0 - slo.objective);
        gauge("slo:time_period:days".into(), base()).set(slo.period.secs as f64 / 86_400.0);
        let mut info = base();
        info.extend([
            Label::new("sloth_mode", "slostream"),
            Label::new("sloth_spec", "prometheus/v1"),
            Label::new("sloth_version", env!("CARGO_PKG_VERSION")),
            Label::new("sloth_objective", format!("{}", slo.objective_percent)),
        ]);
        gauge("sloth_slo_info".into(), info).set(1.0);
        SlothHandles {
            error_ratio,
            current_burn: gauge("slo:current_burn_rate:ratio".into(), base()),
            period_burn: gauge("slo:period_burn_rate:ratio".into(), base()),
            budget_remaining: gauge("slo:period_error_budget_remaining:ratio".into(), base()),
        }
    }

    pub fn update(&self, slo: &SloConfig, status: &SloStatus) {
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

//! The period reports in a checkpoint (format version 6): per SLO by name, its calendar, how far
//! it has closed, the folded hours of its open periods (per SLI by name) and its closed rows.
//!
//! Restored per SLO while its report calendar (unit and zone) is unchanged; otherwise only its
//! closed rows are kept and the report starts again at the current period. The folded counts of
//! an SLI whose definition changed are dropped, as its windows are.

use super::codec::{Malformed, Reader, Writer};
use crate::config::{Combine, Config, PeriodBounds};
use crate::report::{Open, Reports, Row, RowComponent, Slices};
use crate::window::Counts;

/// `month Europe/Paris`: what a report's periods are, to tell whether they changed.
fn calendar_key(c: &crate::config::Calendar) -> String {
    format!("{} {}", c.unit.as_str(), c.zone)
}

pub(super) fn write(w: &mut Writer, reports: &Reports, config: &Config) {
    w.u32(reports.slos.len() as u32);
    for (report, slo) in reports.slos.iter().zip(&config.slos) {
        w.str(&report.name);
        w.str(&calendar_key(&report.calendar));
        w.i64(report.closed_through.unwrap_or(i64::MIN));
        w.u32(report.open.len() as u32);
        for open in &report.open {
            w.i64(open.bounds.start_ms);
            w.i64(open.bounds.end_ms);
            w.u32(open.folded.len() as u32);
            for (c, counts) in slo.components.iter().zip(&open.folded) {
                w.str(&config.slis[c.sli].name);
                counts_of(w, *counts);
            }
        }
        w.u32(report.closed.len() as u32);
        for row in &report.closed {
            w.i64(row.start_ms);
            w.i64(row.end_ms);
            w.u64(row.objective.to_bits());
            w.str(row.combine.as_str());
            w.u32(row.components.len() as u32);
            for c in &row.components {
                w.str(&c.sli);
                w.u64(c.weight.to_bits());
                counts_of(w, c.counts);
            }
            match row.slices {
                None => w.u32(0),
                Some(s) => {
                    w.u32(1);
                    w.u64(s.good.to_bits());
                    w.u64(s.total);
                }
            }
        }
    }
}

fn counts_of(w: &mut Writer, c: Counts) {
    w.u64(c.good);
    w.u64(c.total);
}

fn read_counts(r: &mut Reader) -> Result<Counts, Malformed> {
    Ok(Counts { good: r.u64()?, total: r.u64()? })
}

pub(super) fn read(
    r: &mut Reader,
    config: &Config,
    changed_slis: &[String],
    reports: &mut Reports,
) -> Result<(), Malformed> {
    for _ in 0..r.count(24)? {
        let name = r.str()?;
        let key = r.str()?;
        let through = r.i64()?;
        let at = config.slos.iter().position(|s| s.name == name);
        let same_periods = at.is_some_and(|i| calendar_key(&reports.slos[i].calendar) == key);
        let mut open = Vec::new();
        for _ in 0..r.count(20)? {
            let bounds = PeriodBounds { start_ms: r.i64()?, end_ms: r.i64()? };
            let mut parts = Vec::new();
            for _ in 0..r.count(20)? {
                parts.push((r.str()?, read_counts(r)?));
            }
            if let Some(slo) = at.map(|i| &config.slos[i]) {
                let folded = slo
                    .components
                    .iter()
                    .map(|c| {
                        let sli = config.slis[c.sli].name.as_str();
                        let kept = !changed_slis.iter().any(|n| n == sli);
                        parts.iter().find(|(n, _)| *n == sli && kept).map_or(Counts::default(), |(_, c)| *c)
                    })
                    .collect();
                open.push(Open { bounds, folded });
            }
        }
        let mut closed = Vec::new();
        for _ in 0..r.count(40)? {
            let (start_ms, end_ms, objective) = (r.i64()?, r.i64()?, f64::from_bits(r.u64()?));
            let combine = r.str()?;
            let combine = [Combine::Pooled, Combine::Product, Combine::Weighted, Combine::Min]
                .into_iter()
                .find(|c| c.as_str() == combine)
                .ok_or(Malformed(0))?;
            let mut components = Vec::new();
            for _ in 0..r.count(28)? {
                let sli = r.str()?.to_string();
                let weight = f64::from_bits(r.u64()?);
                components.push(RowComponent { sli, weight, counts: read_counts(r)? });
            }
            let slices = match r.u32()? {
                0 => None,
                _ => Some(Slices { good: f64::from_bits(r.u64()?), total: r.u64()? }),
            };
            closed.push(Row { start_ms, end_ms, objective, combine, components, slices });
        }
        let Some(i) = at else { continue };
        let report = &mut reports.slos[i];
        let skip = closed.len().saturating_sub(config.reports.keep);
        report.closed = closed.into_iter().skip(skip).collect();
        if same_periods {
            report.open = open;
            report.closed_through = (through != i64::MIN).then_some(through);
        }
    }
    Ok(())
}

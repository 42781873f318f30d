//! The burn-down chart: a [`BurnDown`] as inline SVG, readable without script, styles from the
//! page, or colour.
//!
//! The line starts at 100 % at the start of the period and steps down hour by hour to the budget
//! left now; a solid line marks 0 % (exhausted) and a dashed one the at-risk threshold, each
//! labelled on the large chart, so the chart reads the same in grey print. Overspent budgets
//! are drawn down to −100 % at most (the value next to the chart says how far below); the area
//! under 0 % is shaded.

use std::fmt::Write as _;

use super::burn_down::BurnDown;
use super::format::{escape, percent, time};

/// A chart's pixel size and whether it carries axis labels.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    width: f64,
    height: f64,
    labels: bool,
}

/// In a row of the overview table.
pub const SMALL: Size = Size { width: 180.0, height: 48.0, labels: false };
/// On an SLO's own page.
pub const LARGE: Size = Size { width: 720.0, height: 220.0, labels: true };

/// The lowest budget drawn: below it the line runs along the bottom.
const FLOOR: f64 = -1.0;

/// Appends the chart of `series` (`None`: not computed yet, said in words) for a period labelled
/// `period`, with the at-risk line at `at_risk_below`.
pub fn svg(out: &mut String, series: Option<&BurnDown>, period: &str, at_risk_below: f64, size: Size) {
    let Some(series) = series.filter(|s| !s.budget_remaining.is_empty()) else {
        out.push_str(
            r#"<span class="muted" data-field="burn_down">Burn-down not computed yet (within a minute).</span>"#,
        );
        return;
    };
    let points = &series.budget_remaining;
    let last = *points.last().expect("not empty");
    let low = points.iter().copied().fold(0.0, f64::min).max(FLOOR);
    let (left, right, top, bottom) = if size.labels {
        (48.0, size.width - 8.0, 10.0, size.height - 22.0)
    } else {
        (1.0, size.width - 4.0, 3.0, size.height - 3.0)
    };
    let x = |i: usize| left + (right - left) * i as f64 / points.len() as f64;
    let y = |v: f64| top + (bottom - top) * (1.0 - v.max(low)) / (1.0 - low);

    let mut label = format!("Budget remaining over the {period}: 100% at the start, {} now", percent(last, 1));
    if last < FLOOR {
        label.push_str(" (drawn at -100%)");
    }
    let _ = write!(
        out,
        r#"<svg class="burn-down" data-field="burn_down" data-points="{}" data-last="{last}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label=""#,
        points.len(),
        w = size.width,
        h = size.height,
    );
    escape(out, &label);
    out.push_str(r#""><title>"#);
    escape(out, &label);
    out.push_str("</title>");
    if low < 0.0 {
        let _ = write!(
            out,
            r#"<rect class="overspent" x="{left}" y="{:.1}" width="{:.1}" height="{:.1}"/>"#,
            y(0.0),
            right - left,
            bottom - y(0.0)
        );
    }
    let _ = write!(out, r#"<line class="zero" x1="{left}" x2="{right}" y1="{0:.1}" y2="{0:.1}"/>"#, y(0.0));
    let _ =
        write!(out, r#"<line class="at-risk" x1="{left}" x2="{right}" y1="{0:.1}" y2="{0:.1}"/>"#, y(at_risk_below));
    let _ = write!(out, r#"<path class="budget" d="M{left:.1},{:.1}"#, y(1.0));
    for (i, v) in points.iter().enumerate() {
        let _ = write!(out, " L{:.1},{:.1}", x(i + 1), y(*v));
    }
    out.push_str(r#""/>"#);
    let _ = write!(out, r#"<circle class="now" cx="{:.1}" cy="{:.1}" r="3"/>"#, x(points.len()), y(last));
    if size.labels {
        let axis = |out: &mut String, v: f64, text: &str| {
            let _ = write!(
                out,
                r#"<text class="axis" x="{}" y="{:.1}" text-anchor="end">{text}</text>"#,
                left - 6.0,
                y(v) + 4.0
            );
        };
        axis(out, 1.0, "100%");
        axis(out, 0.0, "0%");
        if low < 0.0 {
            axis(out, low, &percent(low, 0));
        }
        let _ = write!(
            out,
            r#"<text class="axis" x="{right}" y="{:.1}" text-anchor="end">at risk below {}</text>"#,
            y(at_risk_below) - 4.0,
            percent(at_risk_below, 0)
        );
        let _ = write!(out, r#"<text class="axis" x="{left}" y="{}">{}</text>"#, size.height - 4.0, time(series.start));
        let _ = write!(out, r#"<text class="axis" x="{right}" y="{}" text-anchor="end">now</text>"#, size.height - 4.0);
    }
    out.push_str("</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(points: &[f64], size: Size) -> String {
        let series = BurnDown {
            computed_at: 1_795_694_400_000,
            start: 1_795_694_400_000 - 4 * 3_600_000,
            step_seconds: 3600,
            budget_remaining: points.to_vec(),
        };
        let mut out = String::new();
        svg(&mut out, Some(&series), "30d", 0.25, size);
        out
    }

    /// The path's points as (x, y).
    fn path(svg: &str) -> Vec<(f64, f64)> {
        let d = svg.split(r#" d=""#).nth(1).unwrap().split('"').next().unwrap();
        d.split(' ')
            .map(|p| {
                let (x, y) = p.trim_start_matches(['M', 'L']).split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn the_line_starts_full_and_ends_at_the_last_point() {
        let svg = chart(&[1.0, 0.5, 0.5, 0.0], LARGE);
        let p = path(&svg);
        assert_eq!(p.len(), 5, "the start plus one point per hour: {svg}");
        // 0 % is the bottom (nothing overspent): y runs from top 10 to bottom 198.
        assert_eq!(p[0], (48.0, 10.0));
        assert_eq!(p[2], (48.0 + 664.0 / 2.0, 104.0));
        assert_eq!(p[4], (712.0, 198.0));
        assert!(p.windows(2).all(|w| w[1].0 > w[0].0), "x only grows");
        assert!(svg.contains(r#"data-points="4""#) && svg.contains(r#"data-last="0""#));
        assert!(svg.contains("100% at the start, 0.0% now"), "{svg}");
        assert!(!svg.contains("overspent"), "nothing under 0 %");
        assert!(svg.contains(">2026-11-26 08:00 UTC<") && svg.contains(">at risk below 25%<"));
    }

    #[test]
    fn an_overspent_budget_is_shaded_and_floored() {
        let svg = chart(&[1.0, -0.5, -40.0], SMALL);
        let p = path(&svg);
        assert!(svg.contains(r#"class="overspent""#));
        // The floor is -100 %: -0.5 is halfway between 0 % and the bottom, -40 on the bottom.
        let (top, bottom) = (3.0, 45.0);
        let zero = top + (bottom - top) / 2.0;
        assert_eq!(p[2].1, zero + (bottom - zero) / 2.0);
        assert_eq!(p[3].1, bottom);
        assert!(svg.contains("-4000.0% now (drawn at -100%)"), "{svg}");
        assert!(!svg.contains("<text"), "no labels on the small chart");
    }

    #[test]
    fn no_series_is_said_in_words() {
        let mut out = String::new();
        svg(&mut out, None, "30d", 0.25, SMALL);
        assert!(out.contains("not computed yet") && !out.contains("<svg"));
    }
}

//! The "History" table of an SLO's page: one line per report period, the current one last.
//!
//! The same rows and figures as `/api/v1/reports` ([`reports`](super::reports)), each value's
//! exact figure in `data-value` beside the rounded text, every name escaped.

use std::fmt::Write as _;

use super::format::{count, escaped, percent, time};
use super::reports::SloRows;

/// The history table of one SLO.
pub fn table(b: &mut String, h: &SloRows) {
    let _ = write!(
        b,
        r#"<h2>History</h2><p class="muted">Each closed {} ({}), oldest first, then the current one so far. A closed period's figures never change. <a href="/api/v1/reports?slo={}&amp;format=csv">As CSV</a>.</p>"#,
        escaped(h.period),
        escaped(&h.time_zone),
        super::format::path_segment(&h.slo)
    );
    b.push_str(r#"<table class="history"><thead><tr><th>Period</th><th class="num">Events</th><th class="num">Good</th><th class="num">Ratio</th><th>Met</th><th class="num">Budget consumed</th><th>Top contributor</th></tr></thead><tbody>"#);
    if h.rows.is_empty() {
        b.push_str(r#"<tr><td class="muted" colspan="7">No period yet.</td></tr>"#);
    }
    for r in &h.rows {
        let _ = write!(
            b,
            r#"<tr data-period-start="{}" data-partial="{}"><td><time datetime="{}">{}</time> to <time datetime="{}">{}</time>{}</td>"#,
            r.period_start,
            r.partial,
            r.period_start,
            time(r.period_start),
            r.period_end,
            time(r.period_end),
            if r.partial { r#" <span class="muted">(so far)</span>"# } else { "" }
        );
        let cell = |b: &mut String, field: &str, value: &dyn std::fmt::Display, text: &str| {
            let _ = write!(b, r#"<td class="num" data-field="{field}" data-value="{value}">{text}</td>"#);
        };
        cell(b, "events", &r.events, &count(r.events));
        cell(b, "good", &r.good, &count(r.good));
        cell(b, "ratio", &r.ratio, &percent(r.ratio, 3));
        let _ = write!(
            b,
            r#"<td data-field="met" data-value="{}">{}</td>"#,
            r.met,
            if r.met { "✔ met" } else { "✖ missed" }
        );
        cell(b, "budget_consumed", &r.budget_consumed, &percent(r.budget_consumed, 1));
        match r.top_contributors.first() {
            Some(c) => {
                let _ = write!(
                    b,
                    r#"<td data-field="top_contributor" data-value="{}">{} {}</td>"#,
                    escaped(&c.sli),
                    escaped(&c.sli),
                    percent(c.share, 0)
                );
            }
            None => b.push_str(r#"<td class="muted" data-field="top_contributor" data-value="">none</td>"#),
        }
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table>");
}

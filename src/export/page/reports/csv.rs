//! The reports as CSV (RFC 4180), for spreadsheets.

use std::fmt::Write as _;

use super::SloRows;

/// The CSV columns.
const HEADER: &str = "slo,period_start,period_end,period_start_epoch,period_end_epoch,partial,objective,events,good,slices,good_slices,ratio,met,budget_consumed,top_contributors";

/// Rows as CSV: a header line, then one line per row (RFC 4180: CRLF line ends, fields with a
/// comma, quote or line break quoted, quotes doubled). Times are RFC 3339 in UTC and epoch
/// seconds; top contributors are `sli=share` pairs separated by `;`, most first.
pub fn render(slos: &[SloRows]) -> String {
    let mut out = String::with_capacity(256 + slos.len() * 512);
    out.push_str(HEADER);
    out.push_str("\r\n");
    for s in slos {
        for r in &s.rows {
            let time = |ms: i64| {
                let mut t = String::new();
                crate::time::format_rfc3339_ms(ms, &mut t);
                t
            };
            let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
            let opt_f = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            let top: Vec<String> = r.top_contributors.iter().map(|c| format!("{}={}", c.sli, c.share)).collect();
            let fields = [
                s.slo.clone(),
                time(r.period_start),
                time(r.period_end),
                (r.period_start.div_euclid(1000)).to_string(),
                (r.period_end.div_euclid(1000)).to_string(),
                r.partial.to_string(),
                r.objective.to_string(),
                r.events.to_string(),
                r.good.to_string(),
                opt(r.slices),
                opt_f(r.good_slices),
                r.ratio.to_string(),
                r.met.to_string(),
                r.budget_consumed.to_string(),
                top.join(";"),
            ];
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                field(&mut out, f);
            }
            out.push_str("\r\n");
        }
    }
    out
}

/// One CSV field, quoted when it holds a comma, a quote or a line break.
pub(super) fn field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\r', '\n']) {
        let _ = write!(out, "\"{}\"", text.replace('"', "\"\""));
    } else {
        out.push_str(text);
    }
}

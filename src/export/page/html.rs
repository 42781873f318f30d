//! The HTML pages: `/` (every SLO, worst first) and `/slo/{name}` (one in detail), rendered on
//! the server from the [`model`](super::model).
//!
//! No script and no external asset: one document with its styles inline, readable as it
//! arrives, in print and without colour. Budget states pair their colour with an icon and a
//! word, on light tints with dark text (contrast above 7:1); the palette avoids telling states
//! apart by red against green. Every number a test or a script may want carries its exact value
//! in `data-value` (and the element a `data-field`), next to the rounded text people read.

use std::fmt::Write as _;

use super::chart::{self, LARGE, SMALL};
use super::format::{burn, count, escape, escaped, path_segment, percent, time};
use super::model::{BreakdownValue, Detail, Overview, Ranking, SloView};
use crate::slo::BudgetState;

/// Rankings show this many components on the overview; the SLO's page shows all.
const TOP: usize = 3;
/// Under each ranked component with a breakdown, the overview names this many values.
const TOP_VALUES: usize = 2;

const STYLE: &str = r#"
:root{--fg:#1b1b1b;--muted:#555;--line:#d5d5d5;--head:#f4f4f4}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:#fff;margin:0 auto;max-width:1280px;padding:1.25rem 1.5rem 3rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.1rem;margin:2rem 0 .4rem}
a{color:#0b4f8a}a:focus{outline:2px solid #0b4f8a;outline-offset:2px}
.muted{color:var(--muted);font-size:.85rem}
nav{font-size:.9rem;margin-bottom:.6rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
thead th{background:var(--head);font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:#333;border-bottom:2px solid #999}
tbody tr:hover{background:#fafafa}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.state{display:inline-block;padding:.1rem .5rem;border:2px solid;border-radius:4px;font-weight:600;white-space:nowrap}
.state .icon{font-weight:700;margin-right:.3rem}
.exhausted{background:#fbe1d3;border-color:#a33a00;color:#5e2000}
.at_risk{background:#fff0c2;border-color:#8a6100;color:#4d3600}
.healthy{background:#dbe9f6;border-color:#0b4f8a;color:#06315a}
.no_data{background:#ececec;border-color:#666;border-style:dashed;color:#333}
.firing{font-weight:700;color:#5e2000;white-space:nowrap}
td.fix li{white-space:nowrap}
ol{margin:.1rem 0 .4rem;padding-left:1.3rem}
dl.summary{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.6rem 1.5rem;margin:1rem 0}
dl.summary dt{font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
dl.summary dd{margin:0;font-size:1.25rem;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}figcaption{color:var(--muted);font-size:.85rem}
svg.burn-down{max-width:100%;height:auto;display:block}
svg .budget{fill:none;stroke:#0b4f8a;stroke-width:2}
svg .now{fill:#0b4f8a}
svg .zero{stroke:#333;stroke-width:1}
svg .at-risk{stroke:#8a6100;stroke-width:1;stroke-dasharray:4 3}
svg .overspent{fill:#fbe1d3}
svg .axis{font-size:11px;fill:#444}
tbody.window th{background:#fafafa}
@media print{body{max-width:none;padding:0;font-size:11pt}a{color:inherit;text-decoration:none}nav{display:none}
.state,svg .overspent{-webkit-print-color-adjust:exact;print-color-adjust:exact}tbody tr:hover{background:none}}
"#;

/// The icon and word of a budget state.
fn state_text(state: BudgetState) -> (&'static str, &'static str) {
    match state {
        BudgetState::Exhausted => ("✖", "Exhausted"),
        BudgetState::AtRisk => ("▲", "At risk"),
        BudgetState::Healthy => ("✔", "Healthy"),
        BudgetState::NoData => ("○", "No data"),
    }
}

fn badge(out: &mut String, state: BudgetState) {
    let (icon, word) = state_text(state);
    let _ = write!(
        out,
        r#"<span class="state {0}" data-field="budget_state" data-value="{0}"><span class="icon" aria-hidden="true">{icon}</span>{word}</span>"#,
        state.as_str()
    );
}

/// The document around `body`, titled `title` (escaped here), with `head` added to its head.
fn document(title: &str, head: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 512);
    out.push_str(r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,"><title>"#);
    escape(&mut out, title);
    out.push_str(" · slostream</title><style>");
    out.push_str(STYLE);
    out.push_str("</style>");
    out.push_str(head);
    out.push_str("</head><body>");
    out.push_str(body);
    out.push_str("</body></html>\n");
    out
}

/// A numeric cell: the exact value in `data-value`, `text` shown.
fn num(out: &mut String, field: &str, value: impl std::fmt::Display, text: &str) {
    let _ = write!(out, r#"<td class="num" data-field="{field}" data-value="{value}">{text}</td>"#);
}

fn slo_link(out: &mut String, name: &str) {
    let _ = write!(out, r#"<a data-link="detail" href="/slo/{}">{}</a>"#, path_segment(name), escaped(name));
}

fn alerts(out: &mut String, slo: &SloView) {
    let a = slo.alerts;
    let _ = write!(out, r#"<td data-field="alerts" data-page="{}" data-ticket="{}">"#, a.page, a.ticket);
    match (a.page, a.ticket) {
        (false, false) => out.push_str(r#"<span class="muted">none</span>"#),
        _ => {
            for (firing, what) in [(a.page, "page"), (a.ticket, "ticket")] {
                if firing {
                    let _ = write!(out, r#"<div class="firing"><span aria-hidden="true">● </span>{what} firing</div>"#);
                }
            }
        }
    }
    out.push_str("</td>");
}

/// One ranking as an ordered list, `top` entries at most.
fn ranking(out: &mut String, r: &Ranking, top: usize) {
    let _ = write!(
        out,
        r#"<div data-field="fix_first" data-window="{}"><span class="muted">over {}</span>"#,
        escaped(&r.window),
        escaped(&r.window)
    );
    if r.ranked.is_empty() {
        out.push_str(r#"<div class="muted">nothing burned</div></div>"#);
        return;
    }
    out.push_str("<ol>");
    for c in r.ranked.iter().take(top) {
        let _ = write!(
            out,
            r#"<li data-sli="{}" data-contribution="{}" data-share="{}"><b>{}</b> {}"#,
            escaped(&c.sli),
            c.contribution,
            c.share,
            percent(c.share, 0),
            escaped(&c.sli)
        );
        if !c.breakdown.is_empty() {
            out.push_str(r#"<div class="muted values">"#);
            for (i, v) in c.breakdown.iter().take(TOP_VALUES).enumerate() {
                let share = v.share.map_or(String::new(), |s| percent(s, 0));
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(out, r#"{sep}<span data-values="{}">{} {share}</span>"#, values_attr(v), values_text(v));
            }
            out.push_str("</div>");
        }
        out.push_str("</li>");
    }
    if r.ranked.len() > top {
        let _ = write!(out, r#"<li class="muted">and {} more</li>"#, r.ranked.len() - top);
    }
    out.push_str("</ol></div>");
}

/// `/`: every SLO, worst first, then every SLO's burn rate per window.
pub fn index(o: &Overview, at_risk_below: f64) -> String {
    let mut b = String::with_capacity(4096 + o.slos.len() * 4096);
    let _ = write!(
        b,
        r#"<header><h1>SLO status</h1><p class="muted">Every feature's SLO, worst first: budget exhausted, at risk, healthy, then no data; least budget left first. Evaluated <time data-field="evaluated_at" datetime="{}">{}</time>. <a href="/api/v1/slos">As JSON</a>.</p></header><main>"#,
        o.evaluated_at,
        time(o.evaluated_at)
    );
    b.push_str(r#"<table class="slos"><thead><tr><th>Budget</th><th>SLO</th><th class="num">Objective</th><th class="num">Ratio</th><th class="num">Budget left</th><th>Burn-down over the period</th><th>Alerts</th><th>What to fix first</th></tr></thead><tbody>"#);
    for slo in &o.slos {
        let _ = write!(b, r#"<tr data-slo="{}"><td>"#, escaped(&slo.name));
        badge(&mut b, slo.budget_state);
        b.push_str("</td><td>");
        slo_link(&mut b, &slo.name);
        if let Some(d) = &slo.description {
            let _ = write!(b, r#"<div class="muted">{}</div>"#, escaped(d));
        }
        history_notes(&mut b, slo);
        b.push_str("</td>");
        num(&mut b, "objective", slo.objective, &percent(slo.objective, 2));
        num(
            &mut b,
            "ratio",
            slo.ratio,
            &format!("{}<div class=\"muted\">over {}</div>", percent(slo.ratio, 3), escaped(&slo.period)),
        );
        num(&mut b, "budget_remaining", slo.budget_remaining, &percent(slo.budget_remaining, 1));
        b.push_str("<td>");
        chart::svg(&mut b, slo.burn_down.as_deref(), &slo.period, at_risk_below, SMALL);
        b.push_str("</td>");
        alerts(&mut b, slo);
        b.push_str(r#"<td class="fix">"#);
        for r in &slo.what_to_fix_first {
            ranking(&mut b, r, TOP);
        }
        b.push_str("</td></tr>");
    }
    b.push_str("</tbody></table>");
    burn_rates(&mut b, o);
    legend(&mut b);
    b.push_str("</main>");
    document("SLO status", "", &b)
}

/// The burn-rate table: one column per window any SLO has, shortest first.
fn burn_rates(b: &mut String, o: &Overview) {
    let mut windows: Vec<(i64, &str)> =
        o.slos.iter().flat_map(|s| s.windows.iter().map(|w| (w.seconds, w.window.as_str()))).collect();
    windows.sort();
    windows.dedup();
    b.push_str(r#"<h2>Burn rate per window</h2><p class="muted">How fast each SLO spends its budget: 1× spends it exactly over the period, 10× ten times as fast. The period's own window is its last column.</p>"#);
    b.push_str(r#"<table class="burn"><thead><tr><th>SLO</th>"#);
    for (_, label) in &windows {
        let _ = write!(b, r#"<th class="num">{}</th>"#, escaped(label));
    }
    b.push_str("</tr></thead><tbody>");
    for slo in &o.slos {
        let _ = write!(b, r#"<tr data-slo="{}"><th scope="row">"#, escaped(&slo.name));
        slo_link(b, &slo.name);
        b.push_str("</th>");
        for (secs, _) in &windows {
            match slo.windows.iter().find(|w| w.seconds == *secs) {
                Some(w) => {
                    let _ = write!(
                        b,
                        r#"<td class="num" data-field="burn_rate" data-window="{}" data-value="{}">{}</td>"#,
                        escaped(&w.window),
                        w.burn_rate,
                        burn(w.burn_rate)
                    );
                }
                None => b.push_str(r#"<td class="num muted">–</td>"#),
            }
        }
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table>");
}

fn legend(b: &mut String) {
    b.push_str(r#"<p class="muted">Budget states: "#);
    for state in [BudgetState::Exhausted, BudgetState::AtRisk, BudgetState::Healthy, BudgetState::NoData] {
        badge(b, state);
        b.push(' ');
    }
    b.push_str(r#"— exhausted: no budget left; at risk: less than the configured share left (<code>status.at_risk_below</code>); no data: no event in the period. What to fix first ranks each SLO's components by their part of its burn rate.</p>"#);
}

/// `/slo/{name}`: one SLO with every window, component and rule.
pub fn detail(d: &Detail, at_risk_below: f64) -> String {
    let slo = &d.slo;
    let name = escaped(&slo.name);
    let mut b = String::with_capacity(16384);
    let _ = write!(
        b,
        r#"<nav><a data-link="overview" href="/">← All SLOs</a> · <a href="/api/v1/slos/{}">As JSON</a></nav><header><h1 data-field="name">{name}</h1><p>"#,
        path_segment(&slo.name)
    );
    badge(&mut b, slo.budget_state);
    if let Some(desc) = &slo.description {
        let _ = write!(b, " {}", escaped(desc));
    }
    history_notes(&mut b, slo);
    let _ = write!(
        b,
        r#"</p><p class="muted">Evaluated <time data-field="evaluated_at" datetime="{}">{}</time>.</p></header><main data-slo="{name}">"#,
        d.evaluated_at,
        time(d.evaluated_at)
    );
    summary(&mut b, slo);
    b.push_str("<figure>");
    chart::svg(&mut b, slo.burn_down.as_deref(), &slo.period, at_risk_below, LARGE);
    let _ =
        write!(b, "<figcaption>Budget left at the end of each hour since the {} period began", escaped(&slo.period));
    if let Some(s) = &slo.burn_down {
        let _ = write!(b, " (computed {})", time(s.computed_at));
    }
    b.push_str(".</figcaption></figure>");

    b.push_str(r#"<h2>What to fix first</h2><p class="muted">Each component's part of the burn rate, most first; the parts add up to the SLO's burn rate.</p>"#);
    for r in &slo.what_to_fix_first {
        fix_first_table(&mut b, r);
    }
    windows_table(&mut b, slo);
    components_table(&mut b, slo);
    breakdown_tables(&mut b, slo);
    rules_table(&mut b, slo);
    if let Some(h) = &d.history {
        super::history::table(&mut b, h);
    }
    b.push_str("</main>");
    document(&slo.name, "", &b)
}

/// "rebuilding, n %" while its history is rebuilt; "history since …" when its windows hold less
/// than the period.
fn history_notes(b: &mut String, slo: &SloView) {
    if let Some(p) = slo.rebuild_progress {
        let _ = write!(
            b,
            r#"<div class="muted" data-field="rebuild_progress" data-value="{p}">rebuilding, {:.0} % (alerts held)</div>"#,
            p * 100.0
        );
    }
    if let Some(since) = slo.history_since {
        let _ = write!(
            b,
            r#"<div class="muted" data-field="history_since" data-value="{since}">history since <time datetime="{since}">{}</time></div>"#,
            time(since)
        );
    }
}

fn summary(b: &mut String, slo: &SloView) {
    let item = |b: &mut String, label: &str, field: &str, value: &dyn std::fmt::Display, text: &str| {
        let _ = write!(b, r#"<div><dt>{label}</dt><dd data-field="{field}" data-value="{value}">{text}</dd></div>"#);
    };
    b.push_str(r#"<dl class="summary">"#);
    item(b, "Objective", "objective", &slo.objective, &percent(slo.objective, 2));
    item(b, &format!("Ratio over {}", escaped(&slo.period)), "ratio", &slo.ratio, &percent(slo.ratio, 3));
    item(b, "Budget left", "budget_remaining", &slo.budget_remaining, &percent(slo.budget_remaining, 1));
    item(b, "Good events", "good_events", &slo.good_events, &count(slo.good_events));
    item(b, "Events", "events", &slo.events, &count(slo.events));
    item(b, "Combine", "combine", &slo.combine, slo.combine);
    if slo.budgeting != "occurrences" {
        item(b, "Budgeting", "budgeting", &slo.budgeting, slo.budgeting);
        if let Some(period) = slo.windows.last() {
            let (slices, good) = (period.slices.unwrap_or(0), period.good_slices.unwrap_or(0.0));
            item(b, "Good slices", "good_slices", &good, &format!("{good} of {}", count(slices)));
        }
    }
    let firing: Vec<&str> = [(slo.alerts.page, "page"), (slo.alerts.ticket, "ticket")]
        .into_iter()
        .filter_map(|(f, what)| f.then_some(what))
        .collect();
    let text = if firing.is_empty() { "none".to_string() } else { format!("{} firing", firing.join(", ")) };
    item(b, "Alerts", "alerts", &text, &text);
    b.push_str("</dl>");
}

fn fix_first_table(b: &mut String, r: &Ranking) {
    let window = escaped(&r.window);
    let _ = write!(
        b,
        r#"<table class="fix-first" data-field="fix_first" data-window="{window}"><thead><tr><th class="num">#</th><th>Component over {window}</th><th class="num">Share of the burn</th><th class="num">Contribution</th></tr></thead><tbody>"#
    );
    if r.ranked.is_empty() {
        b.push_str(
            r#"<tr><td></td><td class="muted" colspan="3">Nothing burned the budget over this window.</td></tr>"#,
        );
    }
    for (i, c) in r.ranked.iter().enumerate() {
        let _ = write!(
            b,
            r#"<tr data-sli="{}"><td class="num">{}</td><td>{}</td>"#,
            escaped(&c.sli),
            i + 1,
            escaped(&c.sli)
        );
        num(b, "share", c.share, &percent(c.share, 1));
        num(b, "contribution", c.contribution, &burn(c.contribution));
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table>");
}

fn windows_table(b: &mut String, slo: &SloView) {
    b.push_str(r#"<h2>Windows</h2><table class="windows"><thead><tr><th>Window</th><th class="num">Ratio</th><th class="num">Good events</th><th class="num">Events</th><th class="num">Burn rate</th></tr></thead><tbody>"#);
    for w in &slo.windows {
        let _ = write!(b, r#"<tr data-window="{0}"><th scope="row">{0}</th>"#, escaped(&w.window));
        num(b, "ratio", w.ratio, &percent(w.ratio, 3));
        num(b, "good_events", w.good_events, &count(w.good_events));
        num(b, "events", w.events, &count(w.events));
        num(b, "burn_rate", w.burn_rate, &burn(w.burn_rate));
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table>");
}

fn components_table(b: &mut String, slo: &SloView) {
    b.push_str(r#"<h2>Components</h2><p class="muted">Every component SLI over every window: its own ratio and events, and its part of the SLO's burn rate.</p>"#);
    b.push_str(r#"<table class="components"><thead><tr><th>Window</th><th>Component</th><th class="num">Weight</th><th class="num">Ratio</th><th class="num">Good events</th><th class="num">Events</th><th class="num">Contribution</th><th class="num">Share</th></tr></thead>"#);
    for (w, window) in slo.windows.iter().enumerate() {
        let label = escaped(&window.window);
        let _ = write!(b, r#"<tbody class="window" data-window="{label}">"#);
        for (k, c) in slo.components.iter().enumerate() {
            let cw = &c.windows[w];
            let _ = write!(b, r#"<tr data-sli="{}">"#, escaped(&c.sli));
            if k == 0 {
                let _ = write!(b, r#"<th scope="rowgroup" rowspan="{}">{label}</th>"#, slo.components.len());
            }
            let _ = write!(b, "<td>{}</td>", escaped(&c.sli));
            num(b, "weight", c.weight, &c.weight.to_string());
            counts_cells(b, cw.ratio, cw.good_events, cw.events, cw.contribution, cw.share);
            b.push_str("</tr>");
        }
        b.push_str("</tbody>");
    }
    b.push_str("</table>");
}

/// Ratio, good events, events, contribution and share cells of a component or a combination.
fn counts_cells(b: &mut String, ratio: Option<f64>, good: u64, events: u64, contribution: f64, share: Option<f64>) {
    match ratio {
        Some(r) => num(b, "ratio", r, &percent(r, 3)),
        None => b.push_str(r#"<td class="num muted" data-field="ratio">no events</td>"#),
    }
    num(b, "good_events", good, &count(good));
    num(b, "events", events, &count(events));
    num(b, "contribution", contribution, &burn(contribution));
    match share {
        Some(s) => num(b, "share", s, &percent(s, 1)),
        None => b.push_str(r#"<td class="num muted" data-field="share">–</td>"#),
    }
}

/// A combination's values as people read them: `/v2/trips · eu`.
fn values_text(v: &BreakdownValue) -> String {
    let shown: Vec<String> =
        v.values.iter().map(|t| if t.is_empty() { "(none)".to_string() } else { escaped(t) }).collect();
    shown.join(" · ")
}

/// A combination's values for a `data-values` attribute: a JSON array of the texts.
fn values_attr(v: &BreakdownValue) -> String {
    escaped(&serde_json::to_string(&v.values).expect("strings serialise"))
}

/// Per component with a breakdown and per window it is exported for: every value combination.
fn breakdown_tables(b: &mut String, slo: &SloView) {
    for c in slo.components.iter().filter(|c| !c.breakdown.is_empty()) {
        let sli = escaped(&c.sli);
        let fields: Vec<String> = c.breakdown_fields.iter().map(|f| escaped(f)).collect();
        let _ = write!(
            b,
            r#"<h2>{sli} by {}</h2><p class="muted">Each value combination's part of the SLO's burn rate, most first; <code>__other__</code> counts every combination beyond the tracked ones.</p>"#,
            fields.join(", ")
        );
        for bw in &c.breakdown {
            let window = escaped(&bw.window);
            let _ = write!(b, r#"<table class="breakdown" data-sli="{sli}" data-window="{window}"><thead><tr>"#);
            for f in &fields {
                let _ = write!(b, "<th>{f} over {window}</th>");
            }
            b.push_str(r#"<th class="num">Ratio</th><th class="num">Good events</th><th class="num">Events</th><th class="num">Contribution</th><th class="num">Share</th></tr></thead><tbody>"#);
            for v in &bw.values {
                let _ = write!(b, r#"<tr data-values="{}">"#, values_attr(v));
                for t in &v.values {
                    match t.as_str() {
                        "" => b.push_str(r#"<td class="muted">(none)</td>"#),
                        t => {
                            let _ = write!(b, "<td>{}</td>", escaped(t));
                        }
                    }
                }
                let ratio = (v.events > 0).then(|| v.good_events as f64 / v.events as f64);
                counts_cells(b, ratio, v.good_events, v.events, v.contribution, v.share);
                b.push_str("</tr>");
            }
            b.push_str("</tbody></table>");
        }
    }
}

fn rules_table(b: &mut String, slo: &SloView) {
    b.push_str(r#"<h2>Alert rules</h2><p class="muted">A rule fires while both of its windows burn faster than its threshold.</p>"#);
    b.push_str(r#"<table class="rules"><thead><tr><th>Severity</th><th>Windows</th><th class="num">Threshold</th><th class="num">Burn, long</th><th class="num">Burn, short</th><th>State</th></tr></thead><tbody>"#);
    let burn_of = |label: &str| slo.windows.iter().find(|w| w.window == label).map_or(0.0, |w| w.burn_rate);
    for r in &slo.alert_rules {
        let _ = write!(
            b,
            r#"<tr data-severity="{}"><td>{}</td><td>{} and {}</td>"#,
            r.severity,
            r.severity,
            escaped(&r.long_window),
            escaped(&r.short_window)
        );
        num(b, "factor", r.factor, &burn(r.factor));
        num(b, "burn_long", burn_of(&r.long_window), &burn(burn_of(&r.long_window)));
        num(b, "burn_short", burn_of(&r.short_window), &burn(burn_of(&r.short_window)));
        let _ = write!(
            b,
            r#"<td data-field="firing" data-value="{}">{}</td></tr>"#,
            r.firing,
            if r.firing {
                r#"<span class="firing"><span aria-hidden="true">● </span>firing</span>"#
            } else {
                "quiet"
            }
        );
    }
    b.push_str("</tbody></table>");
}

/// The page shown until the first ready tick: it says so, and reloads itself every 5 s.
pub fn not_ready() -> String {
    document(
        "Not ready",
        r#"<meta http-equiv="refresh" content="5">"#,
        r#"<main><h1>Not ready yet</h1><p>slostream has not evaluated the SLOs yet: it is still reading its checkpoint or waiting for its Kafka partitions (see <a href="/ready">/ready</a>). This page reloads every 5 seconds.</p></main>"#,
    )
}

/// The page for an SLO name that is not configured.
pub fn not_found(name: &str) -> String {
    document(
        "No such SLO",
        "",
        &format!(
            r#"<nav><a data-link="overview" href="/">← All SLOs</a></nav><main><h1>No such SLO</h1><p>No SLO is named <code>{}</code>.</p></main>"#,
            escaped(name)
        ),
    )
}

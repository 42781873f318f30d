//! The two-stage count at the tally's level: members' shards take delta records instead of
//! handing batches over, the records travel encoded, and a merge tally folds them; it must end
//! where one process handing the same events over does.

use std::time::Instant;

use crate::config::Config;
use crate::count::{Cut, Shard, Tally};
use crate::state::delta_record::DeltaRecord;

/// The two-stage path (shards taking delta records, encoded, decoded and folded into a
/// merge tally) ends exactly where handing the same events over in one process does: every
/// bucket of every tier, totals, counters (rejects, unmatched, maintenance), latency
/// quantiles and time slices, with two members splitting the stream.
#[test]
fn folding_members_deltas_equals_handing_over() {
    const NOW: i64 = 1_795_694_400_000;
    const MIN: i64 = 60_000;
    let mut start = String::new();
    crate::time::format_rfc3339_ms(NOW - 300 * MIN, &mut start);
    let yaml = include_str!("../../config/example.yaml")
        .replacen(
            "    combine: pooled",
            "    combine: pooled\n    budgeting: { method: timeslices, slice: 1m, target: 90, min_events: 2 }",
            1,
        )
        .replacen("  geo-availability:\n", "  geo-availability:\n    breakdown: [region, route]\n    max_values: 5\n", 1)
        + &format!("maintenance:\n  - {{ name: deploys, match: {{ service: booking }}, start: \"{start}\", duration: 10m, every: 1h }}\n");
    let config = Config::from_yaml(&yaml, "example.yaml").unwrap();
    assert!(config.slos.iter().any(|s| s.budgeting.slices().is_some()));
    // Ten hours of events in time order, a few a minute, of every SLI and some rejects.
    let events: Vec<(Vec<u8>, i64)> = (0..6_000i64)
        .map(|i| {
            let ts = NOW - 10 * 60 * MIN + i * 6_000;
            let status = if i % 13 == 0 { 503 } else { 200 };
            let payload = match i % 5 {
                0 => format!(
                    r#"{{"timestamp":{ts},"service":"geo","status":{status},"latency_ms":{},"region":"r{}","route":"/{}"}}"#,
                    i % 700,
                    i % 3,
                    i % 4
                ),
                1 => format!(r#"{{"timestamp":{ts},"service":"booking","method":"POST","status":{status}}}"#),
                2 => format!(r#"{{"timestamp":{ts},"service":"search-api","route":"/v1/trips","status":{status},"latency_ms":{}}}"#, i % 900),
                3 => format!(r#"{{"timestamp":{ts},"service":"payments","status":200}}"#),
                _ if i % 50 == 4 => "not json".to_string(),
                _ => format!(r#"{{"timestamp":{ts},"service":"geo","status":"{status}"}}"#),
            };
            (payload.into_bytes(), ts)
        })
        .collect();
    let cut = || Cut { positions: &[], acknowledged: true, now: Instant::now() };
    let mut one = Tally::new(&config, 1, None, Vec::new());
    let mut shard = Shard::new(&config);
    for (i, (payload, ts)) in events.iter().enumerate() {
        shard.process(payload, ts + 1_000);
        if i % 500 == 499 {
            shard.hand_over(&mut one, 0, cut());
        }
    }
    shard.hand_over(&mut one, 0, cut());
    // Two members taking turns with chunks of 300 events, each chunk a record.
    let mut merged = Tally::new(&config, 1, None, Vec::new());
    let mut members = [Shard::new(&config), Shard::new(&config)];
    for (c, chunk) in events.chunks(300).enumerate() {
        let member = &mut members[c % 2];
        for (payload, ts) in chunk {
            member.process(payload, ts + 1_000);
        }
        let mut record = DeltaRecord::empty(&config);
        member.take_delta(&mut record);
        let back = DeltaRecord::decode(&record.encode(&config), &config).unwrap();
        merged.fold(&back, &[]);
    }
    assert_eq!(merged.counters, one.counters);
    assert!(one.counters.in_maintenance[0] > 0 && one.counters.rejected.iter().sum::<u64>() > 0);
    for sli in 0..config.slis.len() {
        for tier in 0..3 {
            let a: Vec<_> = one.store.buckets(tier, sli).collect();
            assert_eq!(merged.store.buckets(tier, sli).collect::<Vec<_>>(), a, "sli {sli} tier {tier}");
        }
        let q = [0.5, 0.99];
        assert_eq!(merged.latency.quantiles(sli, NOW, q), one.latency.quantiles(sli, NOW, q), "sli {sli}");
    }
    assert_eq!(merged.slices.saved(), one.slices.saved());
    // Breakdowns: the same combinations in the same slots (five of the twelve fit, the rest are
    // __other__), with the same buckets.
    let breakdown = |t: &Tally| {
        let set = &t.breakdowns.sets[0];
        let rows: Vec<_> = set.tracked().map(|(row, c)| (row, c.hash, c.values.clone(), c.last_ms)).collect();
        let buckets: Vec<Vec<_>> = (0..=set.other_row())
            .flat_map(|row| (0..3).map(move |tier| set.store().buckets(tier, row).collect()))
            .collect();
        (rows, buckets)
    };
    let (rows, buckets) = breakdown(&one);
    assert_eq!(rows.len(), 5, "every slot is taken");
    assert!(buckets.iter().flatten().any(|(_, c)| c.total > 0));
    assert_eq!(breakdown(&merged), (rows, buckets));
    assert!(one.slices.saved()[0].hours.iter().any(|(_, h)| h.good < f64::from(h.counted)), "bad slices");
}

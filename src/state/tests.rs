use super::file::CheckpointFiles;
use super::*;
use crate::config::PeriodBounds;
use crate::window::breakdown::Breakdowns;

const T0: i64 = 1_795_694_400_000;

fn config() -> Config {
    Config::from_yaml(include_str!("../../config/example.yaml"), "example.yaml").unwrap()
}

fn sample(config: &Config) -> Checkpoint {
    let mut store = WindowStore::new(config.slis.len(), 30 * 86_400_000, 60_000);
    store.record(0, T0 - 1000, true);
    store.record(1, T0 - 3 * 3_600_000, false);
    store.record(3, T0 - 20 * 86_400_000, true);
    let mut counters = Counters::for_config(config);
    counters.consumed = 10;
    counters.unmatched = 2;
    counters.dead_letters = 3;
    counters.rejected[Reject::TooOld.index()] = 5;
    counters.latency_invalid = 4;
    counters.type_mismatches[2] = 6;
    counters.totals[0] = Counts { good: 1, total: 1 };
    Checkpoint {
        created_ms: T0,
        offsets: vec![PartitionOffset { topic: "requests".into(), partition: 3, next: 42 }],
        dead_letters: vec![PartitionOffset { topic: "requests-dlq".into(), partition: 0, next: 7 }],
        counters,
        store,
        breakdowns: Breakdowns::new(config),
        slices: Vec::new(),
        reports: crate::report::Reports::new(config),
        owner: None,
        changed_slis: Vec::new(),
        new_slis: Vec::new(),
        new_maintenance: Vec::new(),
        rebuild: None,
        history: Vec::new(),
        coverage: {
            let mut c = super::coverage::InputCoverage::default();
            let range = |partition, from, to| super::delta_record::InputRange {
                topic: "requests".into(),
                partition,
                from,
                to,
                first: false,
            };
            c.add(&[range(3, 0, 42), range(5, 10, 20)]);
            c
        },
    }
}

fn same_counts(a: &WindowStore, b: &WindowStore, slis: usize) {
    for sli in 0..slis {
        for w in [300_000, 3_600_000, 6 * 3_600_000, 30 * 86_400_000] {
            assert_eq!(a.count(sli, w, T0), b.count(sli, w, T0), "sli {sli} window {w}");
        }
    }
}

#[test]
fn round_trips_counts_offsets_and_counters() {
    let config = config();
    let c = sample(&config);
    let back = Checkpoint::decode(&c.encode(&config), &config).unwrap();
    assert_eq!(back.offsets, c.offsets);
    assert_eq!(back.dead_letters, c.dead_letters);
    assert_eq!(back.counters, c.counters);
    assert_eq!(back.coverage, c.coverage);
    assert!(back.coverage.starts_at("requests", 5, 10));
    same_counts(&back.store, &c.store, config.slis.len());
}

#[test]
fn truncated_bodies_are_errors_not_panics() {
    let config = config();
    let bytes = sample(&config).encode(&config);
    for cut in 0..bytes.len() {
        assert!(Checkpoint::decode(&bytes[..cut], &config).is_err(), "cut at {cut}");
    }
}

#[test]
fn slis_are_matched_by_name_across_config_changes() {
    let config = config();
    let c = sample(&config);
    let bytes = c.encode(&config);
    // Remove one SLI (and the SLO using it): the others keep their history under new ids.
    let yaml = include_str!("../../config/example.yaml").replace(
        "slis: [search-availability, search-latency, geo-availability]",
        "slis: [search-latency, geo-availability]",
    );
    let (head, tail) = yaml.split_once("  search-availability:").unwrap();
    let tail = &tail[tail.find("  search-latency:").unwrap()..];
    let smaller = Config::from_yaml(&format!("{head}{tail}"), "smaller.yaml").unwrap();
    let back = Checkpoint::decode(&bytes, &smaller).unwrap();
    let old = |n: &str| config.sli_id(n).unwrap();
    let new = |n: &str| smaller.sli_id(n).unwrap();
    for name in ["booking-availability", "geo-availability", "search-latency"] {
        assert_eq!(back.store.count(new(name), 30 * 86_400_000, T0), c.store.count(old(name), 30 * 86_400_000, T0));
    }
}

#[test]
fn keeps_two_generations_and_falls_back_past_a_corrupt_one() {
    let config = config();
    let dir = std::env::temp_dir().join(format!("slostream-state-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut files = CheckpointFiles::open(&dir).unwrap();
    let mut c = sample(&config);
    let first = files.write(&c.encode(&config)).unwrap();
    c.offsets[0].next = 43;
    let second = files.write(&c.encode(&config)).unwrap();
    c.offsets[0].next = 44;
    let third = files.write(&c.encode(&config)).unwrap();
    assert!(!first.exists(), "only two generations are kept");
    assert!(second.exists() && third.exists());

    let (loaded, bad) = files.load(&config);
    assert_eq!(loaded.unwrap().1.offsets[0].next, 44);
    assert!(bad.is_empty());

    // Flip a byte in the newest: checksum mismatch, fall back to the previous generation.
    let mut bytes = std::fs::read(&third).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&third, &bytes).unwrap();
    let (loaded, bad) = files.load(&config);
    assert_eq!(loaded.unwrap().1.offsets[0].next, 43);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].reason.to_string(), "checksum mismatch");
    assert!(!bad[0].reason.is_from_a_newer_version());

    // Truncate the previous one too: nothing valid is left, and both are reported.
    std::fs::write(&second, &std::fs::read(&second).unwrap()[..30]).unwrap();
    let (loaded, bad) = files.load(&config);
    assert!(loaded.is_none());
    assert_eq!(bad.len(), 2);
    let why = bad[1].reason.to_string();
    assert!(why.starts_with("truncated: header says ") && why.ends_with(" bytes, file holds 10"), "{why}");
    drop(files);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_owner_of_the_directory_is_refused() {
    let dir = std::env::temp_dir().join(format!("slostream-lock-test-{}", std::process::id()));
    let first = CheckpointFiles::open(&dir).unwrap();
    let err = CheckpointFiles::open(&dir).err().unwrap().to_string();
    assert!(err.contains("locked by another slostream instance"), "{err}");
    assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
    drop(first);
    assert!(CheckpointFiles::open(&dir).is_ok(), "the lock is released with its owner");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A state directory in the temp dir, empty, unique to this process and `name`.
fn empty_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("slostream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The checkpoint `load` restores; panics naming every unusable file when there is none.
fn restored(files: &CheckpointFiles, config: &Config) -> Checkpoint {
    let (loaded, bad) = files.load(config);
    let reasons: Vec<String> = bad.iter().map(|u| format!("{}: {}", u.path.display(), u.reason)).collect();
    loaded.unwrap_or_else(|| panic!("no valid checkpoint; unusable: {reasons:?}")).1
}

fn flip_last_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn a_write_after_falling_back_keeps_the_good_generation() {
    let config = config();
    let dir = empty_dir("fallback-test");
    let mut c = sample(&config);
    let mut files = CheckpointFiles::open(&dir).unwrap();
    files.write(&c.encode(&config)).unwrap();
    c.offsets[0].next = 43;
    let b = files.write(&c.encode(&config)).unwrap();
    drop(files);
    flip_last_byte(&b);

    // Restart: B is corrupt, A is restored and counting resumes from it.
    let mut files = CheckpointFiles::open(&dir).unwrap();
    let (loaded, bad) = files.load(&config);
    assert_eq!(loaded.unwrap().1.offsets[0].next, 42);
    assert_eq!(bad.len(), 1);
    c.offsets[0].next = 50;
    let c_path = files.write(&c.encode(&config)).unwrap();
    drop(files);
    flip_last_byte(&c_path);

    // Restart again: C is corrupt too, and A must still be there to fall back to.
    let files = CheckpointFiles::open(&dir).unwrap();
    assert_eq!(restored(&files, &config).offsets[0].next, 42);
    drop(files);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Restores a committed fixture of an older format (a `sample` checkpoint written by that
/// version's code) and checks it against `expected`, the parts that format holds.
fn restores_fixture(name: &str, fixture: &[u8], version: u32, expected: &Checkpoint) -> Checkpoint {
    let config = config();
    let dir = empty_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(fixture[20..24], version.to_le_bytes(), "the body's format version");
    std::fs::write(dir.join("checkpoint-00000000000000000001.bin"), fixture).unwrap();
    let files = CheckpointFiles::open(&dir).unwrap();
    let back = restored(&files, &config);
    assert_eq!(back.created_ms, expected.created_ms);
    assert_eq!(back.offsets, expected.offsets);
    assert_eq!(back.dead_letters, expected.dead_letters);
    assert_eq!(back.counters, expected.counters);
    same_counts(&back.store, &expected.store, config.slis.len());
    drop(files);
    std::fs::remove_dir_all(&dir).unwrap();
    back
}

/// `sample` as a format before version 4 holds it: no latency or type mismatch counts.
fn before_version_4() -> Checkpoint {
    let mut c = sample(&config());
    c.counters.latency_invalid = 0;
    c.counters.type_mismatches.fill(0);
    c
}

#[test]
fn reads_a_version_1_checkpoint_written_before_dead_letters() {
    // Written by `sample` and `CheckpointFiles::write` at commit 70c045a, the last of version 1:
    // no dead-letter ends, no count.
    let mut expected = before_version_4();
    expected.dead_letters.clear();
    expected.counters.dead_letters = 0;
    restores_fixture("v1-test", include_bytes!("../../tests/fixtures/checkpoint-v1.bin"), 1, &expected);
}

#[test]
fn a_checkpoint_from_a_newer_version_is_refused_not_read_as_corrupt() {
    let config = config();
    let dir = empty_dir("newer-test");
    let mut files = CheckpointFiles::open(&dir).unwrap();
    let c = sample(&config);
    files.write(&c.encode(&config)).unwrap();
    let mut newer = c.encode(&config);
    newer[..4].copy_from_slice(&(VERSION + 1).to_le_bytes());
    files.write(&newer).unwrap();

    let (loaded, bad) = files.load(&config);
    assert_eq!(bad.len(), 1);
    let why = bad[0].reason.to_string();
    let expected = format!(
        "written by a newer slostream: format version {}, this build reads up to {VERSION}; run a build that \
         reads it (moving the state directory aside starts with empty windows)",
        VERSION + 1
    );
    assert_eq!(why, expected);
    assert!(bad[0].reason.is_from_a_newer_version(), "told apart from corruption");
    assert!(loaded.is_none(), "an older generation is not restored in place of a newer one");
    drop(files);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reads_a_version_2_checkpoint_written_before_owners_and_fingerprints() {
    // Written by `sample` and `CheckpointFiles::write` with the last version-2 code.
    let fixture = include_bytes!("../../tests/fixtures/checkpoint-v2.bin");
    let back = restores_fixture("v2-test", fixture, 2, &before_version_4());
    assert_eq!(back.owner, None, "version 2 did not record its owner");
    assert!(back.changed_slis.is_empty(), "no fingerprints to compare: every SLI is kept");
}

#[test]
fn reads_a_version_3_checkpoint_written_before_field_counts() {
    // Written by `sample` and `CheckpointFiles::write` with the last version-3 code, when bad
    // field types and latencies were still rejects.
    let fixture = include_bytes!("../../tests/fixtures/checkpoint-v3.bin");
    let back = restores_fixture("v3-test", fixture, 3, &before_version_4());
    let owner = back.owner.expect("version 3 records its owner");
    assert_eq!(owner.group_id, "slostream");
}

#[test]
fn reads_a_version_4_checkpoint_written_before_breakdowns() {
    // Written by `sample` and `CheckpointFiles::write` with the version-4 layout: version 5's
    // body without its (empty) breakdown section.
    let fixture = include_bytes!("../../tests/fixtures/checkpoint-v4.bin");
    let back = restores_fixture("v4-test", fixture, 4, &sample(&config()));
    assert!(back.breakdowns.sets.is_empty());
}

#[test]
fn reads_a_version_6_checkpoint_written_before_reports() {
    // Written by `sample` and `CheckpointFiles::write` with the version-6 layout: version 7's
    // body without its reports section.
    let fixture = include_bytes!("../../tests/fixtures/checkpoint-v6.bin");
    let back = restores_fixture("v6-test", fixture, 6, &sample(&config()));
    assert!(back.slices.is_empty());
    for r in &back.reports.slos {
        assert!(r.closed.is_empty() && r.open.is_empty() && r.closed_through.is_none(), "{r:?}");
    }
}

#[test]
fn reads_a_version_7_checkpoint_written_before_maintenance_counts() {
    // Written by `sample` and `CheckpointFiles::write` with the version-7 layout: version 8's
    // body without its maintenance section.
    let fixture = include_bytes!("../../tests/fixtures/checkpoint-v7.bin");
    let back = restores_fixture("v7-test", fixture, 7, &sample(&config()));
    assert!(back.counters.in_maintenance.is_empty());
}

#[test]
fn reads_a_version_5_checkpoint_written_before_maintenance_counts() {
    // Written by `sample` and `CheckpointFiles::write` with the last version-5 code (commit
    // c7a48b6): no maintenance section at the end.
    let fixture = include_bytes!("../../tests/fixtures/checkpoint-v5.bin");
    let back = restores_fixture("v5-maintenance-test", fixture, 5, &sample(&config()));
    assert!(back.counters.in_maintenance.is_empty());
    // Under a config with maintenance windows, they start at zero.
    let config = with_maintenance(&["db-upgrade", "network"]);
    let back = Checkpoint::decode(&fixture[20..], &config).unwrap();
    assert_eq!(back.counters.in_maintenance, [0, 0]);
    assert_eq!(back.counters.consumed, 10);
}

/// The example config with maintenance windows of these names, in this order.
fn with_maintenance(names: &[&str]) -> Config {
    let mut yaml = include_str!("../../config/example.yaml").to_string();
    yaml.push_str("maintenance:\n");
    for name in names {
        yaml.push_str(&format!("  - {{ name: {name}, start: \"2026-12-03T22:00:00+01:00\", duration: 2h }}\n"));
    }
    Config::from_yaml(&yaml, "example.yaml").unwrap()
}

/// Maintenance counts are stored by window name: reordered windows keep their counts, a removed
/// one's count is dropped, a new one starts at zero.
#[test]
fn maintenance_counts_follow_their_window_by_name() {
    let two = with_maintenance(&["db-upgrade", "network"]);
    let mut c = sample(&two);
    c.counters.in_maintenance = vec![3, 7];
    let bytes = c.encode(&two);
    assert_eq!(Checkpoint::decode(&bytes, &two).unwrap().counters, c.counters, "round trip");
    let moved = Checkpoint::decode(&bytes, &with_maintenance(&["network", "new", "db-upgrade"])).unwrap();
    assert_eq!(moved.counters.in_maintenance, [7, 0, 3]);
    let removed = Checkpoint::decode(&bytes, &with_maintenance(&["network"])).unwrap();
    assert_eq!(removed.counters.in_maintenance, [7]);
    let none = Checkpoint::decode(&bytes, &config()).unwrap();
    assert!(none.counters.in_maintenance.is_empty());
    assert_eq!(none.counters.consumed, c.counters.consumed, "the rest is read as before");
}

/// The type mismatch counts are stored by field name: a field no condition tests any more is
/// dropped, the others keep their counts whatever their new position.
#[test]
fn type_mismatches_follow_their_field_by_name() {
    let config = config();
    let c = sample(&config);
    let field = config.condition_fields()[2].to_string();
    assert_eq!(field, "status");
    let yaml = include_str!("../../config/example.yaml");
    // A new first SLI (SLIs are ordered by name) testing a new field moves the others one place on.
    let moved = yaml.replacen("slis:\n", "slis:\n  a-canary:\n    good: { canary_ok: true }\n", 1);
    let moved = Config::from_yaml(&moved, "example.yaml").unwrap();
    let back = Checkpoint::decode(&c.encode(&config), &moved).unwrap();
    let at = moved.condition_fields().iter().position(|f| *f == field).unwrap();
    assert_eq!(at, 3);
    assert_eq!(back.counters.type_mismatches[at], 6);
    assert_eq!(back.counters.type_mismatches.iter().sum::<u64>(), 6);
    assert_eq!(back.counters.latency_invalid, 4);
}

/// A checkpoint records its deployment, and the counts of an SLI whose definition changed are
/// left out (named in `changed_slis`), never mixed with counts under the new definition.
#[test]
fn an_sli_whose_definition_changed_starts_empty_and_the_owner_is_recorded() {
    let config = config();
    let c = sample(&config);
    let bytes = c.encode(&config);
    let back = Checkpoint::decode(&bytes, &config).unwrap();
    let owner = back.owner.expect("owner recorded");
    assert_eq!((owner.group_id.as_str(), owner.topics.as_slice()), ("slostream", &["requests".to_string()][..]));
    assert!(back.changed_slis.is_empty());

    // SLI 0 (booking-availability) now also treats 409 as bad: another definition.
    let name = config.slis[0].name.clone();
    let yaml = include_str!("../../config/example.yaml");
    let changed_yaml = yaml.replacen("not_in: [429]", "not_in: [409, 429]", 1);
    assert_ne!(changed_yaml, yaml, "the example's first good condition moved");
    let changed = Config::from_yaml(&changed_yaml, "example.yaml").unwrap();
    let changed_ids: Vec<usize> =
        (0..config.slis.len()).filter(|&i| changed.slis[i].fingerprint != config.slis[i].fingerprint).collect();
    assert_eq!(changed_ids, [0], "only {name}'s definition changed");
    let back = Checkpoint::decode(&bytes, &changed).unwrap();
    assert_eq!(back.changed_slis, [name]);
    assert_eq!(back.counters.totals[0], Counts::default(), "its totals are not carried over");
    assert_eq!(back.store.count(0, 30 * 86_400_000, T0), Counts::default(), "nor its windows");
    for sli in 1..config.slis.len() {
        assert_eq!(back.counters.totals[sli], c.counters.totals[sli]);
        assert_eq!(back.store.count(sli, 30 * 86_400_000, T0), c.store.count(sli, 30 * 86_400_000, T0));
    }
}

/// A breakdown's combinations and their windows survive a checkpoint; under other fields they
/// are dropped, and with fewer slots the combinations that no longer fit are kept as `__other__`.
#[test]
fn breakdowns_round_trip_and_follow_their_fields() {
    use crate::window::breakdown::BreakdownEvent;
    let with = |fields: &str, max: u32| {
        let yaml = include_str!("../../config/example.yaml").replace(
            "  geo-availability:\n",
            &format!("  geo-availability:\n    breakdown: {fields}\n    max_values: {max}\n"),
        );
        Config::from_yaml(&yaml, "x.yaml").unwrap()
    };
    let config = with("[route]", 3);
    let mut c = sample(&config);
    let routes = [(1, ["/a"]), (2, ["/b"]), (3, ["/c"])];
    let events: Vec<BreakdownEvent> = (0..30)
        .map(|i| BreakdownEvent { hash: 1 + i % 3, ts_ms: T0 - 1000 * i as i64, bd: 0, good: i % 4 != 0 })
        .collect();
    let announced = routes.iter().map(|(h, r)| (0, *h, &r[..]));
    c.breakdowns.add(announced, &events, T0, 30 * 86_400_000);
    let rows = |b: &Breakdowns| -> Vec<(String, Counts)> {
        let set = &b.sets[0];
        let mut rows: Vec<(String, Counts)> =
            set.tracked().map(|(row, t)| (t.values.join("|"), set.store().count(row, 3_600_000, T0))).collect();
        rows.push(("__other__".into(), set.store().count(set.other_row(), 3_600_000, T0)));
        rows
    };
    let before = rows(&c.breakdowns);
    assert_eq!(before.len(), 4);
    assert!(before[..3].iter().all(|(_, n)| n.total == 10), "{before:?}");

    let back = Checkpoint::decode(&c.encode(&config), &config).unwrap();
    assert_eq!(rows(&back.breakdowns), before);

    let other_fields = Checkpoint::decode(&c.encode(&config), &with("[route, region]", 3)).unwrap();
    assert_eq!(other_fields.breakdowns.sets[0].tracked().count(), 0, "another breakdown starts empty");

    let fewer = Checkpoint::decode(&c.encode(&config), &with("[route]", 1)).unwrap();
    let got = rows(&fewer.breakdowns);
    assert_eq!(got[0], before[0]);
    assert_eq!(got[1].1, Counts { good: before[1].1.good + before[2].1.good, total: 20 }, "the rest in __other__");
}

#[test]
fn reads_a_version_5_checkpoint_written_before_time_slices_and_reports() {
    // Written by `sample` and `CheckpointFiles::write` with the version-5 layout: version 6's
    // body without its (empty) time-slice section.
    let fixture = include_bytes!("../../tests/fixtures/checkpoint-v5.bin");
    let back = restores_fixture("v5-test", fixture, 5, &sample(&config()));
    assert!(back.slices.is_empty());
    for r in &back.reports.slos {
        assert!(r.closed.is_empty() && r.open.is_empty() && r.closed_through.is_none(), "{r:?}");
    }
}

/// `sample` with reports: book-a-ride closed October and folded hours of November; the other
/// SLO has started but folded nothing.
fn with_reports(config: &Config) -> Checkpoint {
    use crate::report::{Open, Row};
    const OCT: i64 = 1_790_812_800_000;
    const NOV: i64 = OCT + 31 * 86_400_000;
    let mut c = sample(config);
    let i = config.slos.iter().position(|s| s.name == "book-a-ride").unwrap();
    let slo = &config.slos[i];
    let october = PeriodBounds { start_ms: OCT, end_ms: NOV };
    let november = PeriodBounds { start_ms: NOV, end_ms: NOV + 30 * 86_400_000 };
    let r = &mut c.reports.slos[i];
    r.closed_through = Some(NOV);
    r.closed.push_back(Row::new(
        config,
        slo,
        october,
        &[Counts { good: 97, total: 100 }, Counts { good: 5, total: 6 }],
        Some(crate::report::Slices { good: 1.5, total: 3 }),
    ));
    r.open.push(Open { bounds: november, folded: vec![Counts { good: 1, total: 2 }, Counts { good: 3, total: 3 }] });
    c.reports.slos[1 - i].closed_through = Some(NOV);
    c
}

#[test]
fn round_trips_reports() {
    let config = config();
    let c = with_reports(&config);
    let back = Checkpoint::decode(&c.encode(&config), &config).unwrap();
    for (a, b) in back.reports.slos.iter().zip(&c.reports.slos) {
        assert_eq!((&a.name, &a.open, &a.closed, a.closed_through), (&b.name, &b.open, &b.closed, b.closed_through));
    }
    let row = &back.reports.slos.iter().find(|r| r.name == "book-a-ride").unwrap().closed[0];
    assert_eq!((row.objective, row.combine, row.components[0].weight), (0.999, crate::config::Combine::Weighted, 3.0));
}

/// Restored by SLO name: a report whose periods changed (calendar or zone) keeps its closed
/// rows but starts its periods again; an SLI whose definition changed loses its folded hours
/// (as it loses its windows), the others keep theirs; `keep` trims the oldest rows.
#[test]
fn reports_follow_their_slo_across_config_changes() {
    let config = config();
    let c = with_reports(&config);
    let bytes = c.encode(&config);
    let yaml = include_str!("../../config/example.yaml");
    let paris = Config::from_yaml(&format!("{yaml}\nreports: {{ time_zone: Europe/Paris }}\n"), "paris.yaml").unwrap();
    let back = Checkpoint::decode(&bytes, &paris).unwrap();
    let book = |c: &Checkpoint| c.reports.slos.iter().find(|r| r.name == "book-a-ride").unwrap().clone();
    let r = book(&back);
    assert_eq!((r.closed.len(), r.open.len(), r.closed_through), (1, 0, None));
    let changed = yaml.replace("service: \"geo\"", "service: \"geo-v2\"");
    assert_ne!(changed, yaml);
    let changed = Config::from_yaml(&changed, "changed.yaml").unwrap();
    let back = Checkpoint::decode(&bytes, &changed).unwrap();
    assert_eq!(back.changed_slis, ["geo-availability"]);
    let r = book(&back);
    assert_eq!(r.open[0].folded, [Counts { good: 1, total: 2 }, Counts::default()]);
    assert_eq!(r.closed, book(&c).closed, "closed rows are final");
    let keep0 = Config::from_yaml(&format!("{yaml}\nreports: {{ keep: 1 }}\n"), "keep.yaml").unwrap();
    let mut two = c.clone();
    let i = config.slos.iter().position(|s| s.name == "book-a-ride").unwrap();
    let mut older = two.reports.slos[i].closed[0].clone();
    older.start_ms -= 1;
    two.reports.slos[i].closed.push_front(older);
    let back = Checkpoint::decode(&two.encode(&keep0), &keep0).unwrap();
    assert_eq!(book(&back).closed, book(&c).closed, "the newest row kept");
}

/// A rebuild in progress and the history starts round-trip; a restart under the same
/// definitions resumes it with the partial counts kept. Another definition change (or a new
/// SLI) starts it again: its SLIs' partial counts are left out with the changed SLI's. A rebuild
/// asked for leaves its SLI's counts out the same way.
#[test]
fn a_rebuild_in_progress_resumes_or_starts_again_with_every_sli_involved() {
    use super::rebuild::{Rebuild, RebuildPartition};
    let config = config();
    let (a, b) = (config.slis[1].name.clone(), config.slis[2].name.clone());
    let mut c = sample(&config);
    c.rebuild = Some(Rebuild {
        slis: vec![a.clone()],
        partitions: vec![RebuildPartition { topic: "requests".into(), partition: 3, start: 5, next: 20, end: 42 }],
    });
    c.history = vec![(a.clone(), T0 - 86_400_000)];
    let bytes = c.encode(&config);
    let back = Checkpoint::decode(&bytes, &config).unwrap();
    assert_eq!((&back.rebuild, &back.history), (&c.rebuild, &c.history));
    assert!(back.changed_slis.is_empty() && back.new_slis.is_empty());
    assert_eq!(back.store.count(1, 30 * 86_400_000, T0), c.store.count(1, 30 * 86_400_000, T0), "partial counts kept");

    // Another SLI is asked for: the rebuild starts again with both, neither keeps counts.
    let again = Checkpoint::decode_forgetting(&bytes, &config, std::slice::from_ref(&b)).unwrap();
    assert_eq!(again.rebuild, None);
    assert_eq!(again.changed_slis, [a.clone(), b.clone()]);
    assert_eq!(again.store.count(1, 30 * 86_400_000, T0), Counts::default());

    // A new SLI: likewise, and it is named as new.
    let yaml = include_str!("../../config/example.yaml").replacen(
        "slis:\n",
        "slis:\n  brand-new:\n    match: { service: \"x\" }\n    good: { status: { lt: 500 } }\n",
        1,
    );
    let grown = Config::from_yaml(&yaml, "example.yaml").unwrap();
    let again = Checkpoint::decode(&bytes, &grown).unwrap();
    assert_eq!(again.new_slis, ["brand-new"]);
    assert_eq!((again.rebuild, again.changed_slis), (None, vec![a.clone()]));

    // A finished rebuild is kept (its history starts still matter) and restarts nothing.
    let mut done = c.clone();
    done.rebuild.as_mut().unwrap().partitions[0].next = 42;
    let back = Checkpoint::decode(&done.encode(&config), &grown).unwrap();
    assert_eq!(back.rebuild, done.rebuild);
    assert!(back.changed_slis.is_empty());
}

/// A maintenance window added for a time the checkpoint had already counted leaves every SLI's
/// counts out (they are rebuilt with it in force); one added for later changes nothing.
#[test]
fn a_maintenance_window_added_for_counted_time_leaves_every_sli_out() {
    let config = config();
    let bytes = sample(&config).encode(&config);
    let later = Checkpoint::decode(&bytes, &with_maintenance(&["later"])).unwrap();
    assert_eq!(later.new_maintenance, ["later"]);
    assert!(later.changed_slis.is_empty());
    let yaml = include_str!("../../config/example.yaml").to_string()
        + "maintenance:\n  - { name: past, start: \"2026-11-20T00:00:00Z\", duration: 2h }\n";
    let past = Config::from_yaml(&yaml, "example.yaml").unwrap();
    let back = Checkpoint::decode(&bytes, &past).unwrap();
    let all: Vec<String> = past.slis.iter().map(|s| s.name.clone()).collect();
    assert_eq!(back.changed_slis, all);
    assert!((0..all.len()).all(|sli| back.store.count(sli, 30 * 86_400_000, T0) == Counts::default()));
    // Once a checkpoint knows the window, it is no longer new.
    let known = Checkpoint::decode(&back.encode(&past), &past).unwrap();
    assert!(known.changed_slis.is_empty() && known.new_maintenance.is_empty());
}

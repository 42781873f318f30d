//! `scale`: the member name, the commit interval and transaction timeout of ingest members, and
//! the partitions of the deltas topic.

use std::time::Duration;

use super::{bad, interval, Invalid};
use crate::config::raw::RawScale;
use crate::config::scale::{valid_instance, ScaleConfig};

/// The broker's default `transaction.max.timeout.ms`: a longer timeout is refused by it at the
/// first commit, so it is refused here first.
const MAX_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

pub(super) fn scale(raw: &RawScale) -> Result<ScaleConfig, Invalid> {
    let default = ScaleConfig::default();
    if let Some(name) = &raw.instance {
        valid_instance(name).map_err(|e| bad("scale.instance", e))?;
    }
    let flush_interval = match &raw.flush_interval {
        Some(text) => interval(text, "scale.flush_interval")?,
        None => default.flush_interval,
    };
    if flush_interval < Duration::from_millis(10) || flush_interval > Duration::from_secs(60) {
        return Err(bad("scale.flush_interval", format!("{flush_interval:?} is out of range (expected 10ms to 60s)")));
    }
    let transaction_timeout = match &raw.transaction_timeout {
        Some(text) => interval(text, "scale.transaction_timeout")?,
        None => default.transaction_timeout,
    };
    // A commit takes a round trip or two after the flush; a timeout within twice the interval
    // would abort healthy transactions.
    if transaction_timeout < 2 * flush_interval || transaction_timeout < Duration::from_secs(1) {
        return Err(bad(
            "scale.transaction_timeout",
            format!(
                "{transaction_timeout:?} is too short (expected at least 1s and twice scale.flush_interval, {:?})",
                2 * flush_interval
            ),
        ));
    }
    if transaction_timeout > MAX_TRANSACTION_TIMEOUT {
        return Err(bad(
            "scale.transaction_timeout",
            format!("{transaction_timeout:?} is longer than the broker allows by default (15m)"),
        ));
    }
    let deltas_partitions = raw.deltas_partitions.unwrap_or(i64::from(default.deltas_partitions));
    if !(1..=1024).contains(&deltas_partitions) {
        return Err(bad(
            "scale.deltas_partitions",
            format!("{deltas_partitions} is out of range (expected 1 to 1024)"),
        ));
    }
    Ok(ScaleConfig {
        instance: raw.instance.clone(),
        flush_interval,
        transaction_timeout,
        deltas_partitions: deltas_partitions as i32,
        static_membership: raw.static_membership.unwrap_or(default.static_membership),
        leader_topic: None,
        input_topics: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;

    fn with(scale: &str) -> Result<Config, String> {
        let yaml = format!("{}\nscale: {scale}\n", include_str!("../../../config/example.yaml"));
        Config::from_yaml(&yaml, "example.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_errors_name_the_key() {
        let config = Config::from_yaml(include_str!("../../../config/example.yaml"), "example.yaml").unwrap();
        let s = &config.scale;
        assert_eq!(
            (s.instance.as_deref(), s.flush_interval, s.transaction_timeout, s.deltas_partitions),
            (None, Duration::from_millis(500), Duration::from_secs(10), 16)
        );
        let c = with("{ instance: ingest-0, flush_interval: 200ms, transaction_timeout: 5s, deltas_partitions: 4 }")
            .unwrap();
        assert_eq!(c.scale.instance.as_deref(), Some("ingest-0"));
        assert_eq!(
            (c.scale.flush_interval, c.scale.transaction_timeout, c.scale.deltas_partitions),
            (Duration::from_millis(200), Duration::from_secs(5), 4)
        );
        for (scale, key, says) in [
            ("{ instance: 'a b' }", "scale.instance", "' '"),
            ("{ instance: '' }", "scale.instance", "1 to 200"),
            ("{ flush_interval: 5ms }", "scale.flush_interval", "10ms to 60s"),
            ("{ flush_interval: 2m }", "scale.flush_interval", "10ms to 60s"),
            ("{ flush_interval: soon }", "scale.flush_interval", ""),
            ("{ flush_interval: 1s, transaction_timeout: 1500ms }", "scale.transaction_timeout", "twice"),
            ("{ transaction_timeout: 16m }", "scale.transaction_timeout", "15m"),
            ("{ deltas_partitions: 0 }", "scale.deltas_partitions", "1 to 1024"),
            ("{ deltas_partitions: 2000 }", "scale.deltas_partitions", "1 to 1024"),
            ("{ flush: 1s }", "scale", "flush"),
        ] {
            let e = with(scale).expect_err(scale);
            assert!(e.contains(key) && e.contains(says), "{scale}: {e}");
        }
    }
}

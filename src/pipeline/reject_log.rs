//! Rejected events in the log: one summary line per minute at most, with counts per reason and
//! never a payload, so bad input cannot flood the log.

use std::time::{Duration, Instant};

use crate::decode::Reject;

const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// Rejections as of the last summary line, and when it was logged.
#[derive(Debug, Default)]
pub(crate) struct RejectLog {
    /// `None` until the first tick, so restored counts are not reported as new.
    last: Option<([u64; Reject::COUNT], Instant)>,
}

impl RejectLog {
    /// Logs what was rejected since the last line, if a minute has passed.
    pub(crate) fn summarise(&mut self, rejected: &[u64; Reject::COUNT]) {
        let (last, at) = self.last.get_or_insert((*rejected, Instant::now()));
        if at.elapsed() < SUMMARY_EVERY || rejected == last {
            return;
        }
        let delta: Vec<String> = Reject::ALL
            .iter()
            .filter(|r| rejected[r.index()] > last[r.index()])
            .map(|r| format!("{}={}", r.as_str(), rejected[r.index()] - last[r.index()]))
            .collect();
        tracing::warn!(since_secs = at.elapsed().as_secs(), rejected = %delta.join(" "), "events rejected");
        *last = *rejected;
        *at = Instant::now();
    }
}

//! The board: what the evaluation tick leaves for the status page, and what a request copies out.
//!
//! The tick writes every SLO's status and every SLI's window counts here in place, twice a
//! second, without allocating (the vectors keep their capacity, [`SloStatus`]'s `clone_from`
//! reuses its own; breakdown rows are copied, a few small strings per combination); a request copies what it needs out under the same lock and builds the page
//! after releasing it, so a slow render never holds a tick back. Burn-down series are replaced
//! one SLO at a time, as `burn_down` recomputes them, and shared with requests by reference.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::burn_down::BurnDown;
use crate::config::Config;
use crate::count::{BreakdownView, Snapshot};
use crate::slo::SloStatus;
use crate::window::Counts;

/// What the tick published last.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// When the statuses were evaluated, epoch ms; `None` until the first ready tick.
    pub at_ms: Option<i64>,
    /// In the order of [`Config::slos`].
    pub statuses: Vec<SloStatus>,
    /// Good/total of SLI `s` over the window at index `w` of [`Config::windows`], at
    /// `[s * windows + w]`.
    pub counts: Vec<Counts>,
    /// Per SLO, its burn-down series once computed.
    pub burn_downs: Vec<Option<Arc<BurnDown>>>,
    /// Per SLI with a `breakdown:`, its value combinations' window counts.
    pub breakdowns: Vec<BreakdownView>,
    /// The history rebuild in progress (or the last one done).
    pub rebuild: Option<crate::state::rebuild::Rebuild>,
    /// Per rebuilt SLI, the event time from which its history is complete.
    pub history: Vec<(String, i64)>,
}

impl Published {
    /// Good/total of one SLI over the window of this length.
    pub fn window(&self, config: &Config, sli: usize, secs: i64) -> Counts {
        self.counts[sli * config.windows.len() + config.window_index(secs)]
    }
}

/// The status page's shared state: written by the tick, read by requests.
#[derive(Clone, Default)]
pub struct Board(Arc<Mutex<Published>>);

impl Board {
    /// A board sized for `config`'s SLOs, with nothing published yet.
    pub fn new(config: &Config) -> Board {
        let published = Published { burn_downs: vec![None; config.slos.len()], ..Published::default() };
        Board(Arc::new(Mutex::new(published)))
    }

    /// The lock; a panic elsewhere while it was held leaves values a tick will overwrite, so a
    /// poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Published> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one ready tick's evaluation at `now_ms`, in place.
    pub fn publish(&self, config: &Config, snapshot: &Snapshot, statuses: &[SloStatus], now_ms: i64) {
        let mut p = self.lock();
        p.at_ms = Some(now_ms);
        statuses.clone_into(&mut p.statuses);
        let windows = config.windows.len();
        p.counts.clear();
        p.counts.extend((0..config.slis.len() * windows).map(|i| snapshot.window(i / windows, i % windows)));
        p.breakdowns.clone_from(&snapshot.breakdowns);
        p.rebuild.clone_from(&snapshot.rebuild);
        p.history.clone_from(&snapshot.history);
    }

    /// Replaces SLO `slo`'s burn-down series.
    pub fn set_burn_down(&self, slo: usize, series: BurnDown) {
        self.lock().burn_downs[slo] = Some(Arc::new(series));
    }

    /// A copy of what was published, `None` before the first ready tick.
    pub fn copy(&self) -> Option<Published> {
        let p = self.lock();
        p.at_ms.is_some().then(|| p.clone())
    }

    /// Every SLO's burn-down, published or not.
    #[cfg(test)]
    pub fn burn_downs(&self) -> Vec<Option<Arc<BurnDown>>> {
        self.lock().burn_downs.clone()
    }
}

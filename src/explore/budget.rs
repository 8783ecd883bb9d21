//! The exploration's budget: runs and wall time.

use std::time::{Duration, Instant};

use super::report::Limit;

/// Limits on runs and on (real) wall time; the baseline run is always made.
#[derive(Debug)]
pub(crate) struct Budget {
    max_runs: Option<usize>,
    max_wall_time: Option<Duration>,
    started: Instant,
    /// The first limit met, kept once met.
    pub(crate) stopped_by: Option<Limit>,
}

impl Budget {
    pub(crate) fn start(max_runs: Option<usize>, max_wall_time: Option<Duration>) -> Self {
        Self {
            max_runs,
            max_wall_time,
            started: Instant::now(),
            stopped_by: None,
        }
    }

    /// Whether another run may start after `runs` runs.
    pub(crate) fn allows(&mut self, runs: usize) -> bool {
        if self.stopped_by.is_some() {
            return false;
        }
        if let Some(max) = self.max_runs.filter(|max| runs >= *max) {
            self.stopped_by = Some(Limit::Runs(max));
        } else if let Some(max) = self.max_wall_time.filter(|max| self.started.elapsed() >= *max) {
            self.stopped_by = Some(Limit::WallTime(max));
        }
        self.stopped_by.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_stays_spent_and_says_which_limit() {
        let mut b = Budget::start(Some(2), None);
        assert!(b.allows(1));
        assert!(!b.allows(2));
        assert!(!b.allows(0), "once stopped, stopped");
        assert_eq!(b.stopped_by, Some(Limit::Runs(2)));
        let mut b = Budget::start(None, Some(Duration::ZERO));
        assert!(!b.allows(0));
        assert_eq!(b.stopped_by, Some(Limit::WallTime(Duration::ZERO)));
        assert!(Budget::start(None, None).allows(usize::MAX));
    }
}

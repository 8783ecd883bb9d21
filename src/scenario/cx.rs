//! Where a phase's rules are being built: below the fault descriptions
//! (`conditions`, `faults`) and the timeline, which all use it.

use std::sync::Arc;
use std::time::Duration;

use crate::{Rule, Trigger};

/// Where a phase's rules are being built: the phase, its start on the
/// target's clock, the rehearsal's speed and the phase's ramp.
#[derive(Debug, Clone)]
pub(crate) struct Cx {
    pub(crate) phase: Arc<str>,
    /// The phase's start, on the target's clock.
    pub(crate) start: Duration,
    pub(crate) speed: f64,
    /// `(from, to, start, end)` on the target's clock.
    pub(crate) ramp: Option<(f64, f64, Duration, Duration)>,
}

impl Cx {
    /// A phase-relative scenario offset on the target's clock.
    pub(crate) fn at(&self, offset: Duration) -> Duration {
        self.start + offset.div_f64(self.speed)
    }

    /// Names the rule after the phase (unless named) and gates it with the
    /// phase's ramp.
    pub(crate) fn finish<A, R: ?Sized>(&self, rule: Rule<A, R>) -> Rule<A, R> {
        let rule = rule.name_if_unnamed(&self.phase);
        match self.ramp {
            Some((from, to, start, end)) => rule.gate(Trigger::ramp(from, to, start, end)),
            None => rule,
        }
    }
}

//! Where a phase's rules are being built: below the fault descriptions
//! (`conditions`, `faults`) and the timeline, which all use it.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
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
    /// For a phase expected to fire: the counter of its rules' injections.
    pub(crate) fired: Option<Arc<AtomicU64>>,
}

impl Cx {
    /// A phase-relative scenario offset on the target's clock.
    pub(crate) fn at(&self, offset: Duration) -> Duration {
        self.start + offset.div_f64(self.speed)
    }

    /// Names the rule after the phase (unless named), marks it expected to
    /// fire if the phase is, and gates it with the phase's ramp.
    pub(crate) fn finish<A, R: ?Sized>(&self, rule: Rule<A, R>) -> Rule<A, R> {
        let mut rule = rule.name_if_unnamed(&self.phase);
        if let Some(fired) = &self.fired {
            rule = rule.expect_to_fire_into(fired);
        }
        match self.ramp {
            Some((from, to, start, end)) => rule.gate(Trigger::ramp(from, to, start, end)),
            None => rule,
        }
    }
}

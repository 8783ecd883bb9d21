//! Verdicts: assertions a test makes on a [`RehearsalReport`].

use std::time::Duration;

use super::duration::Short;
use super::report::{RehearsalReport, TargetSummary};

/// A verdict that failed, with a message that says what was expected, what
/// happened, and the seed that replays it.
///
/// ```
/// use tower_chaos::scenario::VerdictError;
/// fn explain(e: &VerdictError) -> String { e.to_string() }
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VerdictError {
    /// The caller did not succeed soon enough after the provider recovered.
    #[error(
        "target `{target}` recovered at {} but the caller's first success came {}, expected within {} \
         (seed {seed})",
        Short(*.recovered_at),
        .first_success.map_or("never during the timeline".to_owned(), |d| format!("{} later", Short(d))),
        Short(*.within)
    )]
    NotRecovered {
        /// The target.
        target: String,
        /// When its last phase ended (scenario time).
        recovered_at: Duration,
        /// How long after that the first success came.
        first_success: Option<Duration>,
        /// The bound asserted.
        within: Duration,
        /// The target's seed.
        seed: u64,
    },
    /// Too many calls reached the provider while it was down.
    #[error(
        "{actual} calls reached target `{target}` while it was down, expected at most {max} (seed {seed})"
    )]
    TooManyCallsWhileDown {
        /// The target.
        target: String,
        /// Calls that reached it while down.
        actual: u64,
        /// The bound asserted.
        max: u64,
        /// The target's seed.
        seed: u64,
    },
    /// The caller's error rate during a phase was too high.
    #[error(
        "callers saw {failed} of {calls} calls fail ({:.1}%) during phase `{phase}`, expected below {:.1}% \
         (errors: {errors}; seed {seed})",
        100.0 * *.failed as f64 / *.calls as f64,
        100.0 * .max
    )]
    ErrorRateTooHigh {
        /// The phase.
        phase: String,
        /// Failed calls.
        failed: u64,
        /// All calls.
        calls: u64,
        /// The bound asserted (a share, `0.0..=1.0`).
        max: f64,
        /// The error classes, e.g. `injected error 12, timeout 3`.
        errors: String,
        /// The seed of the phase's target.
        seed: u64,
    },
    /// Phases marked [`expect_to_fire`](super::Phase::expect_to_fire) whose
    /// rules never injected a fault.
    #[error(
        "{} expected to fire never fired: {} (no traffic reached the target during the phase, or its \
         triggers never matched)",
        if .phases.len() == 1 { "1 phase".to_owned() } else { format!("{} phases", .phases.len()) },
        .phases
            .iter()
            .map(|(phase, target, seed)| format!("`{phase}` (target `{target}`, seed {seed})"))
            .collect::<Vec<_>>()
            .join(", ")
    )]
    NeverFired {
        /// Each phase that never fired, in scenario order: its name, its
        /// target and the target's seed.
        phases: Vec<(String, String, u64)>,
    },
    /// The assertion has nothing to judge (no such target or phase, no
    /// calls observed, no down phase): an assertion that cannot fail is a
    /// bug in the test.
    #[error("nothing to judge: {0}")]
    Vacuous(String),
}

impl RehearsalReport {
    /// Every phase marked [`expect_to_fire`](super::Phase::expect_to_fire)
    /// injected at least one fault during the rehearsal (its
    /// [`fired`](super::PhaseSummary::fired) count is above zero). Like
    /// the other verdicts it returns an error rather than panicking (the
    /// core's [`Report::assert_expected_fired`](crate::Report::assert_expected_fired)
    /// panics).
    ///
    /// # Errors
    ///
    /// [`VerdictError::NeverFired`] naming each phase that never fired,
    /// with its target and seed; [`VerdictError::Vacuous`] when no phase
    /// is marked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// use tower_chaos::{ChaosLayer, Target};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), BoxError> {
    /// let min = Duration::from_secs(60);
    /// let scenario = Scenario::builder("s")
    ///     .phase(Phase::new("outage", "api").at(min).lasting(min).down().expect_to_fire())
    ///     .duration(3 * min)
    ///     .build()?;
    /// let api = Target::builder("api").seed(5).build()?;
    /// let rehearsal = Rehearsal::new(&scenario).bind::<u32, BoxError>(&api);
    /// let mut svc = ServiceBuilder::new()
    ///     .layer(ChaosLayer::<u32>::for_target(&api))
    ///     .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    /// let run = tokio::spawn(rehearsal.run());
    /// tokio::time::sleep(min + min / 2).await; // within the outage
    /// assert!(svc.ready().await?.call(1).await.is_err());
    /// let report = run.await??;
    /// assert_eq!(report.phase("outage").unwrap().fired, Some(1));
    /// report.assert_expected_fired()?;
    /// # Ok(()) }
    /// ```
    pub fn assert_expected_fired(&self) -> Result<(), VerdictError> {
        let expected: Vec<_> = self.phases.iter().filter_map(|p| Some((p, p.fired?))).collect();
        if expected.is_empty() {
            return Err(VerdictError::Vacuous(
                "no phase is marked `expect_to_fire`".to_owned(),
            ));
        }
        let phases: Vec<_> = expected
            .into_iter()
            .filter(|(_, fired)| *fired == 0)
            .map(|(p, _)| (p.name.clone(), p.target.clone(), self.seed_of(&p.target)))
            .collect();
        if phases.is_empty() {
            Ok(())
        } else {
            Err(VerdictError::NeverFired { phases })
        }
    }

    fn seed_of(&self, target: &str) -> u64 {
        self.target(target).map_or(0, |t| t.seed)
    }

    /// The summary of `target`; an assertion about a target the report
    /// does not have would judge nothing.
    fn known_target(&self, target: &str) -> Result<&TargetSummary, VerdictError> {
        self.target(target)
            .ok_or_else(|| VerdictError::Vacuous(format!("no target `{target}` in the report")))
    }

    /// The caller succeeded within `within` (real time) after the target's
    /// last phase ended. Give the scenario time after its last phase
    /// ([`ScenarioBuilder::duration`](super::ScenarioBuilder::duration),
    /// `duration` in files): successes after the timeline ends are not seen.
    ///
    /// # Errors
    ///
    /// [`VerdictError::NotRecovered`], or [`VerdictError::Vacuous`] for an
    /// unknown target.
    ///
    /// ```
    /// # fn f(report: &tower_chaos::scenario::RehearsalReport) -> Result<(), tower_chaos::scenario::VerdictError> {
    /// report.assert_recovered_within("dynamodb", std::time::Duration::from_secs(30))?;
    /// # Ok(()) }
    /// ```
    pub fn assert_recovered_within(&self, target: &str, within: Duration) -> Result<(), VerdictError> {
        let t = self.known_target(target)?;
        match t.first_success_after_recovery {
            Some(d) if d <= within => Ok(()),
            first_success => Err(VerdictError::NotRecovered {
                target: target.to_owned(),
                recovered_at: t.recovered_at,
                first_success,
                within,
                seed: t.seed,
            }),
        }
    }

    /// At most `max` requests reached `target` while one of its phases had
    /// it down (counted by the target's layers: the calls that hit the
    /// provider, retries included).
    ///
    /// # Errors
    ///
    /// [`VerdictError::TooManyCallsWhileDown`], or
    /// [`VerdictError::Vacuous`] when the target is unknown or never down.
    ///
    /// ```
    /// # fn f(report: &tower_chaos::scenario::RehearsalReport) -> Result<(), tower_chaos::scenario::VerdictError> {
    /// report.assert_calls_while_down_at_most("dynamodb", 50)?;
    /// # Ok(()) }
    /// ```
    pub fn assert_calls_while_down_at_most(&self, target: &str, max: u64) -> Result<(), VerdictError> {
        let t = self.known_target(target)?;
        let actual = t.seen_while_down.ok_or_else(|| {
            VerdictError::Vacuous(format!("target `{target}` is never down in the scenario"))
        })?;
        if actual <= max {
            Ok(())
        } else {
            Err(VerdictError::TooManyCallsWhileDown {
                target: target.to_owned(),
                actual,
                max,
                seed: t.seed,
            })
        }
    }

    /// The share of failed calls the caller observed while `phase` was
    /// active stayed below `max` (e.g. "while a fallback existed, users saw
    /// under 1% errors").
    ///
    /// # Errors
    ///
    /// [`VerdictError::ErrorRateTooHigh`], or [`VerdictError::Vacuous`]
    /// for an unknown phase or one without observed calls.
    ///
    /// ```
    /// # fn f(report: &tower_chaos::scenario::RehearsalReport) -> Result<(), tower_chaos::scenario::VerdictError> {
    /// report.assert_error_rate_below("failover", 0.01)?;
    /// # Ok(()) }
    /// ```
    pub fn assert_error_rate_below(&self, phase: &str, max: f64) -> Result<(), VerdictError> {
        let p = self
            .phase(phase)
            .ok_or_else(|| VerdictError::Vacuous(format!("no phase `{phase}` in the report")))?;
        let rate = p.caller.error_rate().ok_or_else(|| {
            VerdictError::Vacuous(format!(
                "no calls were observed during phase `{phase}` (is a probe installed?)"
            ))
        })?;
        if rate < max {
            Ok(())
        } else {
            Err(VerdictError::ErrorRateTooHigh {
                phase: phase.to_owned(),
                failed: p.caller.failed(),
                calls: p.caller.calls,
                max,
                errors: p
                    .caller
                    .errors
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                seed: self.seed_of(&p.target),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    // Every assertion about a target refuses a name the report does not
    // have, with the same message, rather than passing.
    #[test]
    fn target_assertions_on_an_unknown_target_are_vacuous() {
        let report = RehearsalReport {
            scenario: "s".to_owned(),
            speed: 1.0,
            duration: Duration::from_secs(1),
            targets: Vec::new(),
            phases: Vec::new(),
        };
        let vacuous = "nothing to judge: no target `nope` in the report";
        let err = report
            .assert_recovered_within("nope", Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(err.to_string(), vacuous);
        let err = report.assert_calls_while_down_at_most("nope", 1).unwrap_err();
        assert_eq!(err.to_string(), vacuous);
    }
}

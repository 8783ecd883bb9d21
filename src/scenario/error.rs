//! Errors of scenarios and rehearsals.

use crate::ConfigError;

/// A scenario or a rehearsal was configured wrongly. Raised when the
/// scenario is built ([`ScenarioBuilder::build`](super::ScenarioBuilder::build))
/// or before a rehearsal starts ([`Rehearsal::run`](super::Rehearsal::run)):
/// once a rehearsal runs, it does not fail on configuration.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{Phase, Scenario, ScenarioError};
///
/// let err = Scenario::builder("x")
///     .phase(Phase::new("outage", "db").down())
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ScenarioError::Invalid { .. }));
/// assert_eq!(err.to_string(), "invalid `phases[0].for` = 0s: a phase must last longer than zero");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// A field holds a value it does not accept.
    #[error("invalid `{field}` = {value}: {reason}")]
    Invalid {
        /// Where, e.g. `phases[2].flap.bad`.
        field: String,
        /// The rejected value.
        value: String,
        /// What the field accepts.
        reason: String,
    },
    /// Two phases have the same name (names identify phases in reports and
    /// verdicts).
    #[error("two phases are named `{name}` (phases[{first}] and phases[{second}]); names must be unique")]
    DuplicatePhase {
        /// The name.
        name: String,
        /// Index of the first phase with that name.
        first: usize,
        /// Index of the second.
        second: usize,
    },
    /// A probe, a verdict or a renaming names a target that the scenario
    /// does not know.
    #[error("unknown target `{target}`{}", hint(.known))]
    UnknownTarget {
        /// The name asked for.
        target: String,
        /// The names that are known.
        known: Vec<String>,
    },
    /// The scenario has phases on a target that the rehearsal was not
    /// given: every target must be registered, by the binding its layers
    /// need.
    #[error(
        "target `{target}` of the scenario was not given to the rehearsal: register it with \
         `Rehearsal::bind_http(&target)` (HttpChaosLayer), `bind::<Request, Error>(&target)` (ChaosLayer) \
         or `target(&target)` (typed rules, connection faults){}",
        given_hint(.given)
    )]
    TargetNotGiven {
        /// The scenario's target.
        target: String,
        /// The targets the rehearsal was given.
        given: Vec<String>,
    },
    /// A phase has faults described without a request type (`down`, `slow`,
    /// request faults, as in files) for a target that was registered
    /// without binding a request type.
    #[error(
        "phase `{phase}` has {kind} faults for target `{target}`, but no request type was bound to it: \
         use `Rehearsal::bind::<Request, Error>(&target)` (ChaosLayer) or `bind_http(&target)` (HttpChaosLayer)"
    )]
    Unbound {
        /// The phase.
        phase: String,
        /// The target.
        target: String,
        /// The kind of faults (`request`).
        kind: &'static str,
    },
    /// A fault is keyed on a request attribute, and the target was bound
    /// without a way to read attributes.
    #[error(
        "phase `{phase}` keys a fault on the request attribute `{attribute}`, but target `{target}` was \
         bound without one: use `Rehearsal::bind_with_attributes`"
    )]
    NoAttributes {
        /// The phase.
        phase: String,
        /// The target.
        target: String,
        /// The attribute.
        attribute: String,
    },
    /// The faults that are active together on a target at some point of the
    /// timeline do not make a valid fault set.
    #[error("target `{target}` while `{state}` is active: {source}")]
    Faults {
        /// The target.
        target: String,
        /// The phases active at that point, e.g. `outage+brownout`.
        state: String,
        /// What the core rejected.
        #[source]
        source: ConfigError,
    },
    /// [`presets::by_name`](super::presets::by_name) was given a name that
    /// is not a preset's.
    #[error(
        "unknown preset `{name}`: the presets are {} (or their function names, with `_`)",
        .known.join(", ")
    )]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The presets' names ([`presets::NAMES`](super::presets::NAMES)).
        known: Vec<String>,
    },
    /// The rehearsal's task was aborted or panicked before it finished.
    #[error("the rehearsal was aborted before it finished")]
    Aborted,
}

fn hint(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (known: {})", known.join(", "))
    }
}

fn given_hint(given: &[String]) -> String {
    if given.is_empty() {
        String::new()
    } else {
        format!(" (given: {})", given.join(", "))
    }
}

impl ScenarioError {
    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

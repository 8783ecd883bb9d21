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
    /// The scenario names a target that the rehearsal was not given, or a
    /// probe or verdict names one that the scenario does not know.
    #[error("unknown target `{target}`{}", hint(.known))]
    UnknownTarget {
        /// The name asked for.
        target: String,
        /// The names that are known.
        known: Vec<String>,
    },
    /// A phase has faults described without a request type (`down`, `slow`,
    /// request faults, as in files) for a target that was registered
    /// without binding a request type.
    #[error(
        "phase `{phase}` has {kind} faults for target `{target}`, but no request type was bound to it: \
         use `Rehearsal::bind::<Request, Error>(&target)`"
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

//! Errors: configuration errors raised at build time, and the ready-made
//! error a fault can inject.

use std::fmt;

/// A configuration value was rejected when a layer, target, trigger or fault
/// set was built.
///
/// Every variant names the field and the offending value, so the message
/// alone tells a user what to fix. Nothing in this crate validates at request
/// time: a plan that builds is a plan that runs.
///
/// # Example
///
/// ```
/// use tower_chaos::ConfigError;
///
/// let err = ConfigError::invalid("trigger.rate", 1.5, "must be within 0..=1");
/// assert_eq!(
///     err.to_string(),
///     "invalid `trigger.rate` = 1.5: must be within 0..=1"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field holds a value outside what it accepts.
    #[error("invalid `{field}` = {value}: {reason}")]
    Invalid {
        /// Dotted path of the field, e.g. `trigger.rate` or `latency.max`.
        field: &'static str,
        /// The rejected value, formatted with `Debug`/`Display`.
        value: String,
        /// What the field accepts.
        reason: &'static str,
    },
    /// A lower bound is greater than its upper bound.
    #[error("`{field}`: minimum {min} is greater than maximum {max}")]
    MinAboveMax {
        /// Which pair of fields, e.g. `latency.uniform` or `trigger.window`.
        field: &'static str,
        /// The lower bound as given.
        min: String,
        /// The upper bound as given.
        max: String,
    },
    /// The environment variable that carries a seed does not hold a `u64`.
    #[error("environment variable `{variable}` = {value:?} is not a u64 seed")]
    SeedFromEnv {
        /// The variable's name ([`SEED_ENV`](crate::SEED_ENV)).
        variable: &'static str,
        /// What it held.
        value: String,
    },
}

impl ConfigError {
    /// Builds an [`ConfigError::Invalid`] for `field`, formatting `value`
    /// with `Debug` so strings show their quotes and floats their `NaN`.
    ///
    /// ```
    /// let e = tower_chaos::ConfigError::invalid("target.name", "", "must not be empty");
    /// assert_eq!(e.to_string(), "invalid `target.name` = \"\": must not be empty");
    /// ```
    pub fn invalid(field: &'static str, value: impl fmt::Debug, reason: &'static str) -> Self {
        Self::Invalid {
            field,
            value: format!("{value:?}"),
            reason,
        }
    }

    /// `Ok` when `ok` holds; otherwise [`invalid`](Self::invalid) with
    /// `field`, `value` and the `reason` it breaks.
    pub(crate) fn ensure(
        ok: bool,
        field: &'static str,
        value: impl fmt::Debug,
        reason: &'static str,
    ) -> Result<(), Self> {
        if ok {
            Ok(())
        } else {
            Err(Self::invalid(field, value, reason))
        }
    }

    /// Builds a [`ConfigError::MinAboveMax`] for `field`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::ConfigError;
    ///
    /// let err = ConfigError::min_above_max(
    ///     "latency.uniform",
    ///     Duration::from_millis(5),
    ///     Duration::from_millis(1),
    /// );
    /// assert!(err.to_string().contains("5ms"));
    /// ```
    pub fn min_above_max(field: &'static str, min: impl fmt::Debug, max: impl fmt::Debug) -> Self {
        Self::MinAboveMax {
            field,
            min: format!("{min:?}"),
            max: format!("{max:?}"),
        }
    }
}

/// The ready-made error of [`Fault::injected_error`] and
/// [`Fault::lost_reply_injected`]: says which target, which kind of fault
/// and which rule, and is downcastable from `tower::BoxError` (as tower's
/// `Elapsed` and `Overloaded` are).
///
/// [`Fault::injected_error`]: crate::Fault::injected_error
/// [`Fault::lost_reply_injected`]: crate::Fault::lost_reply_injected
///
/// ```
/// use tower_chaos::{FaultKind, InjectedError};
///
/// let err: tower::BoxError = InjectedError::new("payments", FaultKind::Error, None).into();
/// let injected = err.downcast_ref::<InjectedError>().expect("ours");
/// assert_eq!(injected.target(), "payments");
/// assert_eq!(injected.kind(), FaultKind::Error);
/// assert_eq!(err.to_string(), "tower-chaos injected an error fault on target `payments`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tower-chaos injected {} {kind} fault on target `{target}`{}",
    if matches!(kind, crate::FaultKind::Error) { "an" } else { "a" },
    rule.as_ref().map(|r| format!(" (rule `{r}`)")).unwrap_or_default())]
pub struct InjectedError {
    target: std::sync::Arc<str>,
    kind: crate::FaultKind,
    rule: Option<std::sync::Arc<str>>,
}

impl InjectedError {
    /// An injected error for `target`, of `kind`, from the rule named `rule`.
    ///
    /// ```
    /// use tower_chaos::{FaultKind, InjectedError};
    /// let e = InjectedError::new("db", FaultKind::LostReply, Some("writes".into()));
    /// assert_eq!(e.rule(), Some("writes"));
    /// assert_eq!(e.to_string(), "tower-chaos injected a lost-reply fault on target `db` (rule `writes`)");
    /// ```
    pub fn new(
        target: impl Into<std::sync::Arc<str>>,
        kind: crate::FaultKind,
        rule: Option<std::sync::Arc<str>>,
    ) -> Self {
        Self {
            target: target.into(),
            kind,
            rule,
        }
    }

    /// The target that injected it.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The kind of fault ([`FaultKind::Error`](crate::FaultKind::Error) or
    /// [`FaultKind::LostReply`](crate::FaultKind::LostReply)).
    #[must_use]
    pub const fn kind(&self) -> crate::FaultKind {
        self.kind
    }

    /// The name of the rule that fired, if it had one.
    #[must_use]
    pub fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }
}

//! The marker an injected response carries in its extensions.

use std::sync::Arc;

use crate::FaultKind;

/// Marker inserted into the extensions of every response a fault touched,
/// so a test can tell injected from real.
///
/// It carries the crate's [`FaultKind`], the name of the target whose layer
/// injected it, and the name of the rule, if it had one. When several
/// faults apply to one request (a delay, then a 503), `kind` is the one that
/// shaped the response: the synthesized response, the dropped connection or
/// the body fault, and [`FaultKind::Latency`] only when a delay was all
/// that happened.
///
/// The marker lives in `http::Extensions`: it is visible to in-process
/// callers and to layers above, and does not travel over the wire.
///
/// ```
/// use http::StatusCode;
/// use tower_chaos::FaultKind;
/// use tower_chaos::http::{Injected, SyntheticResponse};
///
/// let response = SyntheticResponse::service_unavailable().to_response::<()>("payments");
/// let marker = Injected::of(&response).expect("marked");
/// assert_eq!(marker.kind(), FaultKind::Status);
/// assert_eq!(marker.target(), "payments");
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    kind: FaultKind,
    target: Arc<str>,
    rule: Option<Arc<str>>,
}

impl Injected {
    /// A marker for `kind` injected on `target`.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::http::Injected;
    /// let m = Injected::new(FaultKind::Latency, "db");
    /// assert_eq!((m.target(), m.rule()), ("db", None));
    /// ```
    pub fn new(kind: FaultKind, target: impl Into<Arc<str>>) -> Self {
        Self {
            kind,
            target: target.into(),
            rule: None,
        }
    }

    /// The same marker, naming the rule that injected the fault.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::http::Injected;
    /// let m = Injected::new(FaultKind::Status, "s3").with_rule("puts-fail");
    /// assert_eq!(m.rule(), Some("puts-fail"));
    /// ```
    #[must_use]
    pub fn with_rule(mut self, rule: impl Into<Arc<str>>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    pub(crate) fn with_rule_opt(mut self, rule: Option<Arc<str>>) -> Self {
        self.rule = rule;
        self
    }

    /// The kind of fault.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::http::Injected;
    /// assert_eq!(Injected::new(FaultKind::GrpcStatus, "x").kind(), FaultKind::GrpcStatus);
    /// ```
    #[must_use]
    pub const fn kind(&self) -> FaultKind {
        self.kind
    }

    /// The name of the target whose layer injected it.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::http::Injected;
    /// assert_eq!(Injected::new(FaultKind::Status, String::from("s3")).target(), "s3");
    /// ```
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The name of the rule that injected it, if the rule was
    /// [named](crate::Rule::named) (`header-control` for faults asked for
    /// through request headers).
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::http::Injected;
    /// assert_eq!(Injected::new(FaultKind::Status, "s3").rule(), None);
    /// ```
    #[must_use]
    pub fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }

    /// Finds the marker in a response's extensions, if any.
    ///
    /// ```
    /// use tower_chaos::http::Injected;
    /// let real = http::Response::new(());
    /// assert!(Injected::of(&real).is_none());
    /// ```
    pub fn of<B>(response: &http::Response<B>) -> Option<&Self> {
        response.extensions().get::<Self>()
    }
}

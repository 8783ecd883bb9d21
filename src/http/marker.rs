//! The marker an injected response carries in its extensions.

use std::fmt;
use std::sync::Arc;

/// Which kind of HTTP fault touched a response.
///
/// Field-less so it can index counters; the response itself carries the
/// details (its status, its `grpc-status` header).
///
/// ```
/// use tower_chaos::http::FaultKind;
/// assert_eq!(FaultKind::Grpc.as_str(), "grpc");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FaultKind {
    /// A synthesized HTTP status response; the inner service was not called.
    Status,
    /// A synthesized gRPC trailers-only response; the inner service was not
    /// called.
    Grpc,
    /// The connection was dropped (HTTP/1) or the stream reset (HTTP/2); the
    /// inner service was not called.
    DropConnection,
    /// The real response's body was faulted (truncated, stalled, throttled,
    /// delayed or aborted).
    ResponseBody,
    /// The inner call was delayed; the response itself is real.
    Delay,
}

impl FaultKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Status,
        Self::Grpc,
        Self::DropConnection,
        Self::ResponseBody,
        Self::Delay,
    ];

    /// A short, stable name for reports and counters.
    ///
    /// ```
    /// use tower_chaos::http::FaultKind;
    /// assert_eq!(FaultKind::DropConnection.as_str(), "drop_connection");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Grpc => "grpc",
            Self::DropConnection => "drop_connection",
            Self::ResponseBody => "response_body",
            Self::Delay => "delay",
        }
    }

    /// Whether the response was synthesized without calling the inner service.
    ///
    /// ```
    /// use tower_chaos::http::FaultKind;
    /// assert!(FaultKind::Status.is_synthesized());
    /// assert!(!FaultKind::ResponseBody.is_synthesized());
    /// ```
    #[must_use]
    pub const fn is_synthesized(self) -> bool {
        matches!(self, Self::Status | Self::Grpc | Self::DropConnection)
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Marker inserted into the extensions of every response a fault touched,
/// so a test can tell injected from real.
///
/// When several faults apply to one request (a delay, then a 503), `kind` is
/// the one that shaped the response most: a synthesized response wins over
/// a body fault, which wins over a delay.
///
/// ```
/// use http::StatusCode;
/// use tower_chaos::http::{FaultKind, Injected, SyntheticResponse};
///
/// let response = SyntheticResponse::service_unavailable().to_response::<()>("payments");
/// let marker = response.extensions().get::<Injected>().expect("marked");
/// assert_eq!(marker.kind(), FaultKind::Status);
/// assert_eq!(marker.target(), "payments");
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    kind: FaultKind,
    target: Arc<str>,
}

impl Injected {
    /// A marker for `kind` injected on `target`.
    ///
    /// ```
    /// use tower_chaos::http::{FaultKind, Injected};
    /// let m = Injected::new(FaultKind::Delay, "db");
    /// assert_eq!(m.target(), "db");
    /// ```
    pub fn new(kind: FaultKind, target: impl Into<Arc<str>>) -> Self {
        Self {
            kind,
            target: target.into(),
        }
    }

    /// The kind of fault.
    ///
    /// ```
    /// use tower_chaos::http::{FaultKind, Injected};
    /// assert_eq!(Injected::new(FaultKind::Grpc, "x").kind(), FaultKind::Grpc);
    /// ```
    #[must_use]
    pub const fn kind(&self) -> FaultKind {
        self.kind
    }

    /// The name of the target whose layer injected it.
    ///
    /// ```
    /// use tower_chaos::http::{FaultKind, Injected};
    /// assert_eq!(Injected::new(FaultKind::Status, String::from("s3")).target(), "s3");
    /// ```
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
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

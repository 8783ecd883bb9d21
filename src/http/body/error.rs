//! [`BodyFaultError`]: the error an injected body failure yields.

/// Why an injected body failed.
///
/// ```
/// use tower_chaos::http::{BodyFaultError, BodyFaultErrorKind};
/// assert_ne!(BodyFaultError::aborted(0).kind(), BodyFaultErrorKind::ConnectionDropped);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyFaultErrorKind {
    /// [`BodyFault::abort_after`](super::BodyFault::abort_after) fired.
    Aborted,
    /// The drop-connection fault: the body fails before its first byte so
    /// that hyper closes the connection (HTTP/1) or resets the stream
    /// (HTTP/2).
    ConnectionDropped,
}

/// An injected body failure, yielded by [`ChaosBody`](super::ChaosBody) as a boxed error.
///
/// Downcast a [`BoxError`](crate::BoxError) to tell injected from real failures:
///
/// ```
/// use tower_chaos::BoxError;
/// use tower_chaos::http::{BodyFaultError, BodyFaultErrorKind};
///
/// let err: BoxError = BodyFaultError::aborted(10).into();
/// let injected = err.downcast_ref::<BodyFaultError>().expect("injected");
/// assert_eq!(injected.kind(), BodyFaultErrorKind::Aborted);
/// assert_eq!(injected.bytes_passed(), 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} after {bytes_passed} bytes (injected by tower-chaos)", match .kind {
    BodyFaultErrorKind::Aborted => "body aborted",
    BodyFaultErrorKind::ConnectionDropped => "connection dropped",
})]
pub struct BodyFaultError {
    kind: BodyFaultErrorKind,
    bytes_passed: u64,
}

impl BodyFaultError {
    /// An abort after `bytes_passed` bytes.
    ///
    /// ```
    /// use tower_chaos::http::BodyFaultError;
    /// assert_eq!(BodyFaultError::aborted(3).bytes_passed(), 3);
    /// ```
    #[must_use]
    pub const fn aborted(bytes_passed: u64) -> Self {
        Self {
            kind: BodyFaultErrorKind::Aborted,
            bytes_passed,
        }
    }

    /// A dropped connection.
    ///
    /// ```
    /// use tower_chaos::http::{BodyFaultError, BodyFaultErrorKind};
    /// let err = BodyFaultError::connection_dropped();
    /// assert_eq!(err.kind(), BodyFaultErrorKind::ConnectionDropped);
    /// assert_eq!(err.to_string(), "connection dropped after 0 bytes (injected by tower-chaos)");
    /// ```
    #[must_use]
    pub const fn connection_dropped() -> Self {
        Self {
            kind: BodyFaultErrorKind::ConnectionDropped,
            bytes_passed: 0,
        }
    }

    /// Why the body failed.
    ///
    /// ```
    /// use tower_chaos::http::{BodyFaultError, BodyFaultErrorKind};
    /// assert_eq!(BodyFaultError::aborted(1).kind(), BodyFaultErrorKind::Aborted);
    /// ```
    #[must_use]
    pub const fn kind(&self) -> BodyFaultErrorKind {
        self.kind
    }

    /// How many bytes the body had delivered before failing.
    ///
    /// ```
    /// use tower_chaos::http::BodyFaultError;
    /// assert_eq!(BodyFaultError::connection_dropped().bytes_passed(), 0);
    /// ```
    #[must_use]
    pub const fn bytes_passed(&self) -> u64 {
        self.bytes_passed
    }
}

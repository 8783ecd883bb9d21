//! The errors a connection fault injects, and how to recognise them.

use std::error::Error;
use std::fmt;
use std::io;
use std::sync::Arc;

use crate::FaultKind;

/// Marks an [`io::Error`] as injected by a connection fault, so a test can
/// tell it from a real one.
///
/// The `io::Error` keeps the kind a real failure has (`ConnectionReset`,
/// `ConnectionRefused`, `BrokenPipe`…); its inner error is an
/// `InjectedIoError`. A failed name resolution is a [`DnsFailure`] instead.
/// [`injected_fault`] finds either anywhere in an error's source chain
/// (inside a hyper, reqwest or tonic error).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io;
/// use tokio::io::AsyncReadExt;
/// use tower_chaos::FaultKind;
/// use tower_chaos::io::{ChaosStream, DirectionFaults, InjectedIoError, Onset, StreamFaults};
///
/// let faults = StreamFaults::builder()
///     .read(DirectionFaults::new().reset(Onset::Immediately))
///     .build()?;
/// let (a, _b) = tokio::io::duplex(64);
/// let mut a = ChaosStream::new(a, faults);
/// let err = a.read(&mut [0; 8]).await.unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
/// assert_eq!(InjectedIoError::of(&err).map(|e| e.fault()), Some(FaultKind::Reset));
///
/// let real = io::Error::from(io::ErrorKind::ConnectionReset);
/// assert!(InjectedIoError::of(&real).is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedIoError {
    fault: FaultKind,
    target: Option<Arc<str>>,
}

impl InjectedIoError {
    /// The fault that produced the error.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::InjectedIoError;
    /// let err = InjectedIoError::new(FaultKind::Refused, Some("db".into()));
    /// assert_eq!(err.fault(), FaultKind::Refused);
    /// ```
    #[must_use]
    pub const fn fault(&self) -> FaultKind {
        self.fault
    }

    /// The target whose fault it was (`None` for a stream used without one).
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::InjectedIoError;
    /// let err = InjectedIoError::new(FaultKind::Reset, Some("db".into()));
    /// assert_eq!(err.target(), Some("db"));
    /// ```
    #[must_use]
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// A marker for `fault`, injected by `target`.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::InjectedIoError;
    /// let err = InjectedIoError::new(FaultKind::Reset, None);
    /// assert_eq!(err.to_string(), "connection reset (injected by tower-chaos)");
    /// ```
    #[must_use]
    pub const fn new(fault: FaultKind, target: Option<Arc<str>>) -> Self {
        Self { fault, target }
    }

    /// The marker inside `err`, if a fault injected it.
    ///
    /// ```
    /// use std::io;
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::InjectedIoError;
    /// let err = io::Error::new(io::ErrorKind::BrokenPipe, InjectedIoError::new(FaultKind::Truncate, None));
    /// assert_eq!(InjectedIoError::of(&err).map(InjectedIoError::fault), Some(FaultKind::Truncate));
    /// ```
    #[must_use]
    pub fn of(err: &io::Error) -> Option<&Self> {
        err.get_ref()?.downcast_ref()
    }

    pub(crate) fn io(kind: io::ErrorKind, fault: FaultKind, target: Option<&Arc<str>>) -> io::Error {
        io::Error::new(kind, Self::new(fault, target.cloned()))
    }
}

impl fmt::Display for InjectedIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.fault {
            FaultKind::Reset => "connection reset",
            FaultKind::Refused => "connection refused",
            FaultKind::Truncate => "broken pipe: the direction was truncated",
            FaultKind::Timeout => "broken pipe: the connection was closed by a timeout",
            other => other.as_str(),
        };
        f.write_str(what)?;
        match &self.target {
            Some(t) => write!(f, " (injected by tower-chaos on target `{t}`)"),
            None => f.write_str(" (injected by tower-chaos)"),
        }
    }
}

impl Error for InjectedIoError {}

/// The error of an injected name-resolution failure
/// ([`ConnFault::dns_failure`](super::ConnFault::dns_failure)).
///
/// It reaches the client inside an [`io::Error`] of kind
/// [`ErrorKind::Other`](io::ErrorKind::Other), in the place where hyper-util's
/// `HttpConnector` puts its own `dns error` (the connector's error), and its
/// message reads like a failed `getaddrinfo`:
/// `dns error: failed to lookup address information: Name or service not
/// known`. Recognise it with [`DnsFailure::of`] or [`injected_fault`].
///
/// ```
/// use std::io;
/// use tower_chaos::io::DnsFailure;
///
/// let err = io::Error::other(DnsFailure::new(Some("db.internal".into()), None));
/// assert_eq!(err.kind(), io::ErrorKind::Other);
/// let dns = DnsFailure::of(&err).expect("injected");
/// assert_eq!(dns.host(), Some("db.internal"));
/// assert!(err.to_string().starts_with("dns error: failed to lookup address information"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsFailure {
    host: Option<Arc<str>>,
    target: Option<Arc<str>>,
}

impl DnsFailure {
    /// A failure to resolve `host`, injected by `target`.
    ///
    /// ```
    /// let e = tower_chaos::io::DnsFailure::new(None, Some("api".into()));
    /// assert_eq!(e.target(), Some("api"));
    /// ```
    #[must_use]
    pub const fn new(host: Option<Arc<str>>, target: Option<Arc<str>>) -> Self {
        Self { host, target }
    }

    /// The host that did not resolve, when the connector knew it.
    ///
    /// ```
    /// let e = tower_chaos::io::DnsFailure::new(Some("x.example".into()), None);
    /// assert_eq!(e.host(), Some("x.example"));
    /// ```
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The target that injected it.
    ///
    /// ```
    /// assert_eq!(tower_chaos::io::DnsFailure::new(None, None).target(), None);
    /// ```
    #[must_use]
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The `DnsFailure` inside `err`, if it is one.
    ///
    /// ```
    /// let real = std::io::Error::other("dns error");
    /// assert!(tower_chaos::io::DnsFailure::of(&real).is_none());
    /// ```
    #[must_use]
    pub fn of(err: &io::Error) -> Option<&Self> {
        err.get_ref()?.downcast_ref()
    }
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dns error: failed to lookup address information: Name or service not known")?;
        match (&self.host, &self.target) {
            (Some(h), Some(t)) => write!(f, " (`{h}`; injected by tower-chaos on target `{t}`)"),
            (Some(h), None) => write!(f, " (`{h}`; injected by tower-chaos)"),
            (None, Some(t)) => write!(f, " (injected by tower-chaos on target `{t}`)"),
            (None, None) => f.write_str(" (injected by tower-chaos)"),
        }
    }
}

impl Error for DnsFailure {}

/// The connection fault that caused `err`, found anywhere in its source
/// chain: an [`InjectedIoError`] or a [`DnsFailure`], bare or inside an
/// [`io::Error`]. Works on the errors of hyper-util's client, reqwest and
/// tonic, which keep the connector's error as a source.
///
/// ```
/// use std::io;
/// use tower_chaos::FaultKind;
/// use tower_chaos::io::{DnsFailure, injected_fault};
///
/// #[derive(Debug)]
/// struct ClientError(io::Error);
/// impl std::fmt::Display for ClientError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("client error (Connect)") }
/// }
/// impl std::error::Error for ClientError {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
/// }
///
/// let err = ClientError(io::Error::other(DnsFailure::new(None, None)));
/// assert_eq!(injected_fault(&err), Some(FaultKind::DnsFailure));
/// assert_eq!(injected_fault(&io::Error::other("real")), None);
/// ```
#[must_use]
pub fn injected_fault(err: &(dyn Error + 'static)) -> Option<FaultKind> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(kind) = marker(e) {
            return Some(kind);
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            if let Some(kind) = marker(inner) {
                return Some(kind);
            }
        }
        next = e.source();
    }
    None
}

fn marker(e: &(dyn Error + 'static)) -> Option<FaultKind> {
    if let Some(i) = e.downcast_ref::<InjectedIoError>() {
        return Some(i.fault);
    }
    e.downcast_ref::<DnsFailure>().map(|_| FaultKind::DnsFailure)
}

//! [`FaultKind`]: what kind of fault was injected, the vocabulary every
//! layer's counters, journal entries, errors and reports share.
//!
//! It stands below everything that names a kind (errors, reports, the
//! layers), and names nothing itself.
//!
//! # Why the HTTP and IO kinds are always there
//!
//! The enum carries the kinds of every layer (request, HTTP, connection)
//! whatever features are on, rather than gating variants: one [`Report`]
//! type reads the same across layers and builds (a scenario report, a
//! serialised rehearsal or a dashboard compares counts by kind without
//! knowing which features produced them), the counters are one array
//! indexed by kind, and turning a feature on never changes the enum a
//! user matches on. A kind that no enabled layer injects reads zero. The
//! enum is `#[non_exhaustive]`, so a new layer's kinds are additions.
//!
//! [`Report`]: crate::Report

use std::fmt;

/// The kind of an injected fault, as counted in [`Report`](crate::Report)s and carried by
/// [`InjectedError`](crate::InjectedError).
///
/// ```
/// use tower_chaos::FaultKind;
///
/// assert_eq!(FaultKind::LostReply.to_string(), "lost-reply");
/// assert!(FaultKind::ALL.contains(&FaultKind::Hang));
/// ```
///
/// # Why latency has two kinds
///
/// Latency is spelled one way for every layer (a `Duration` or a
/// [`Latency`](crate::Latency)), but counted as two kinds, because a count
/// means a different thing for each: [`FaultKind::Latency`] counts
/// *requests* delayed (one per request), [`FaultKind::StreamLatency`]
/// *connections* whose bytes are delayed (one per connection, however many
/// requests it carries). One [`Target`](crate::Target) often serves both, a
/// request layer and a proxy or connector in front of the same
/// dependency, and its [`Report`](crate::Report) adds them up in `seen` and `faulted`:
/// the kind is what keeps "3 requests were slow" apart from "the one
/// connection under them was slow". `docs/PEERS.md` runs that case.
///
/// ```
/// use tower_chaos::FaultKind;
/// assert_ne!(FaultKind::Latency, FaultKind::StreamLatency);
/// assert_eq!(
///     [FaultKind::Latency.as_str(), FaultKind::StreamLatency.as_str()],
///     ["latency", "stream-latency"]
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FaultKind {
    /// A request was delayed before the inner service was called (request
    /// and HTTP faults, one per delayed request; `"latency"`). Not the
    /// connection fault, counted per connection as
    /// [`StreamLatency`](Self::StreamLatency): see the
    /// [type docs](Self#why-latency-has-two-kinds) for why the two stay
    /// apart.
    Latency,
    /// Delay after the inner service answered, before the caller sees it.
    LatencyAfter,
    /// An error returned instead of calling the inner service.
    Error,
    /// A response that never completes.
    Hang,
    /// The inner service ran to completion; the caller got an error anyway.
    LostReply,
    /// A successful response built by the fault, returned without calling
    /// the inner service (Polly's outcome strategy; [`Fault::respond`](crate::Fault::respond)).
    Respond,
    /// A synthesized HTTP status response; the inner service was not called
    /// (feature `http`).
    Status,
    /// A synthesized gRPC trailers-only status; the inner service was not
    /// called (feature `http`).
    GrpcStatus,
    /// The connection was closed (HTTP/1) or the stream reset (HTTP/2)
    /// before any response; the inner service was not called (feature
    /// `http`).
    DropConnection,
    /// The real response's body was truncated, stalled, throttled, delayed
    /// or aborted (feature `http`).
    ResponseBody,

    // Connection faults (feature `io`): one count per connection given the
    // fault, when it is decided (at connect or accept, or when a live
    // connection is re-decided after a switch). Keep this block contiguous.
    /// A connector's name resolution failed (no connection attempted).
    DnsFailure,
    /// The connection was refused: an error from a connector, a reset right
    /// after accept from a listener or the proxy.
    Refused,
    /// Connecting (or accepting) was delayed.
    SlowConnect,
    /// Connecting never completes (until the fault is switched off).
    ConnectHang,
    /// A connection's bytes in a direction are delayed chunk by chunk
    /// (connection faults, `"stream-latency"`): a report counts the
    /// connection given it, an `io::IoSnapshot` each
    /// delayed chunk. Not the per-request [`Latency`](Self::Latency): a
    /// target shared by a request layer and a proxy counts both, and the
    /// kind tells requests from connections (see the
    /// [type docs](Self#why-latency-has-two-kinds)).
    StreamLatency,
    /// A direction is limited to a number of bytes per second.
    Bandwidth,
    /// Transfers in a direction are cut into small pieces.
    Slice,
    /// A direction is closed after a number of bytes.
    Truncate,
    /// The connection is reset (a real RST on TCP).
    Reset,
    /// Bytes stop flowing in a direction; the connection stays open.
    Stall,
    /// Bytes in a direction are discarded; the connection stays open.
    Blackhole,
    /// Bytes in a direction are discarded, then the connection closes.
    Timeout,
    /// Closing a direction is delayed.
    SlowClose,

    // TLS faults (feature `tls`): one count per connection given the
    // fault, decided when the connection is accepted, like the connection
    // faults above. Keep this block contiguous.
    /// The TLS handshake was refused with a fatal `handshake_failure`
    /// alert (`"tls-alert"`).
    TlsAlert,
    /// The TLS handshake never got an answer (`"tls-stall"`).
    TlsStall,
    /// The server presented an expired certificate
    /// (`"tls-expired-certificate"`).
    TlsExpiredCertificate,
    /// The server presented a certificate for another host
    /// (`"tls-wrong-host"`).
    TlsWrongHost,
    /// The server presented a certificate from an issuer the client does
    /// not trust (`"tls-untrusted-issuer"`).
    TlsUntrustedIssuer,
    /// The server presented the certificate of its next rotation
    /// (`"tls-rotated"`).
    TlsRotated,
}

impl FaultKind {
    /// Every kind, in counter order.
    pub const ALL: &'static [Self] = &[
        Self::Latency,
        Self::LatencyAfter,
        Self::Error,
        Self::Hang,
        Self::LostReply,
        Self::Respond,
        Self::Status,
        Self::GrpcStatus,
        Self::DropConnection,
        Self::ResponseBody,
        // Connection faults.
        Self::DnsFailure,
        Self::Refused,
        Self::SlowConnect,
        Self::ConnectHang,
        Self::StreamLatency,
        Self::Bandwidth,
        Self::Slice,
        Self::Truncate,
        Self::Reset,
        Self::Stall,
        Self::Blackhole,
        Self::Timeout,
        Self::SlowClose,
        // TLS faults.
        Self::TlsAlert,
        Self::TlsStall,
        Self::TlsExpiredCertificate,
        Self::TlsWrongHost,
        Self::TlsUntrustedIssuer,
        Self::TlsRotated,
    ];

    pub(crate) const COUNT: usize = Self::ALL.len();

    /// A short, stable, kebab-case name (used in `Display`, tracing and
    /// serialised reports).
    ///
    /// ```
    /// # use tower_chaos::FaultKind;
    /// assert_eq!(FaultKind::LatencyAfter.as_str(), "latency-after");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::LatencyAfter => "latency-after",
            Self::Error => "error",
            Self::Hang => "hang",
            Self::LostReply => "lost-reply",
            Self::Respond => "respond",
            Self::Status => "status",
            Self::GrpcStatus => "grpc-status",
            Self::DropConnection => "drop-connection",
            Self::ResponseBody => "response-body",
            // Connection faults.
            Self::DnsFailure => "dns-failure",
            Self::Refused => "refused",
            Self::SlowConnect => "slow-connect",
            Self::ConnectHang => "connect-hang",
            Self::StreamLatency => "stream-latency",
            Self::Bandwidth => "bandwidth",
            Self::Slice => "slice",
            Self::Truncate => "truncate",
            Self::Reset => "reset",
            Self::Stall => "stall",
            Self::Blackhole => "blackhole",
            Self::Timeout => "timeout",
            Self::SlowClose => "slow-close",
            // TLS faults.
            Self::TlsAlert => "tls-alert",
            Self::TlsStall => "tls-stall",
            Self::TlsExpiredCertificate => "tls-expired-certificate",
            Self::TlsWrongHost => "tls-wrong-host",
            Self::TlsUntrustedIssuer => "tls-untrusted-issuer",
            Self::TlsRotated => "tls-rotated",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for FaultKind {
    /// As [`as_str`](Self::as_str).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! The stable names of what tower-chaos tells `tracing`, for mapping onto
//! OpenTelemetry (or any log pipeline) without reading the source.
//!
//! Every injected fault is one `DEBUG` event under the target
//! [`TRACING_TARGET`] with the message [`INJECTED_MESSAGE`] and these
//! fields:
//!
//! | field | value |
//! |---|---|
//! | [`FAULT_KIND`] `fault.kind` | [`FaultKind::as_str`], e.g. `"error"`, `"status"`, `"reset"` |
//! | [`FAULT_TARGET`] `fault.target` | the [`Target`](crate::Target)'s name |
//! | [`FAULT_RULE`] `fault.rule` | the rule's name, when it has one ([`Rule::named`](crate::Rule::named)) |
//! | [`FAULT_RULE_INDEX`] `fault.rule_index` | the rule's place in its fault set, from 0 |
//! | [`FAULT_SEED`] `fault.seed` | the target's seed: `TOWER_CHAOS_SEED=<seed>` replays the run |
//! | [`FAULT_DELAY_NS`] `fault.delay_ns` | the injected delay in nanoseconds, for delays |
//! | [`ERROR_TYPE`] `error.type` | what the client reports, as [`error_type`] gives it; absent when the fault is no error by itself |
//!
//! `error.type` follows OpenTelemetry's convention of a low-cardinality
//! error class: the status code of a synthesized HTTP error (`"503"`),
//! the numeric gRPC code of a synthesized gRPC status (`"14"`), otherwise
//! one of a few fixed names (see [`error_type`]).
//!
//! These names are part of the public contract: a rename is a breaking
//! change.
//!
//! ```
//! use tower_chaos::telemetry;
//! assert_eq!(telemetry::FAULT_KIND, "fault.kind");
//! assert_eq!(telemetry::ERROR_TYPE, "error.type");
//! ```

use std::fmt;

use crate::FaultKind;

/// The `tracing` target of every event tower-chaos emits.
///
/// ```
/// assert_eq!(tower_chaos::telemetry::TRACING_TARGET, "tower_chaos");
/// ```
pub const TRACING_TARGET: &str = "tower_chaos";

/// The message of the event of an injected fault.
///
/// ```
/// assert_eq!(tower_chaos::telemetry::INJECTED_MESSAGE, "fault injected");
/// ```
pub const INJECTED_MESSAGE: &str = "fault injected";

/// The field holding the fault's kind ([`FaultKind::as_str`]).
///
/// ```
/// assert_eq!(tower_chaos::telemetry::FAULT_KIND, "fault.kind");
/// ```
pub const FAULT_KIND: &str = "fault.kind";

/// The field holding the target's name.
///
/// ```
/// assert_eq!(tower_chaos::telemetry::FAULT_TARGET, "fault.target");
/// ```
pub const FAULT_TARGET: &str = "fault.target";

/// The field holding the rule's name (absent for an unnamed rule).
///
/// ```
/// assert_eq!(tower_chaos::telemetry::FAULT_RULE, "fault.rule");
/// ```
pub const FAULT_RULE: &str = "fault.rule";

/// The field holding the rule's index in its fault set.
///
/// ```
/// assert_eq!(tower_chaos::telemetry::FAULT_RULE_INDEX, "fault.rule_index");
/// ```
pub const FAULT_RULE_INDEX: &str = "fault.rule_index";

/// The field holding the target's seed.
///
/// ```
/// assert_eq!(tower_chaos::telemetry::FAULT_SEED, "fault.seed");
/// ```
pub const FAULT_SEED: &str = "fault.seed";

/// The field holding an injected delay, in nanoseconds (absent for faults
/// that are no delay).
///
/// ```
/// assert_eq!(tower_chaos::telemetry::FAULT_DELAY_NS, "fault.delay_ns");
/// ```
pub const FAULT_DELAY_NS: &str = "fault.delay_ns";

/// The field holding the error class the client reports
/// (OpenTelemetry's `error.type`).
///
/// ```
/// assert_eq!(tower_chaos::telemetry::ERROR_TYPE, "error.type");
/// ```
pub const ERROR_TYPE: &str = "error.type";

/// The `error.type` of a fault of `kind`, for the kinds whose value does
/// not depend on the fault (a synthesized status reports its code
/// instead), or `None` for a fault that is no error by itself (a delay, a
/// bandwidth limit, a successful response).
///
/// | kind | `error.type` | what the client sees |
/// |---|---|---|
/// | `error`, `lost-reply` | `injected_error` | an [`InjectedError`](crate::InjectedError) in its error type |
/// | `hang`, `connect-hang`, `stall`, `blackhole`, `timeout`, `tls-stall` | `timeout` | nothing, until its own timeout fires |
/// | `status`, `grpc-status` | the code, e.g. `503`, `14` | a response with that status |
/// | `drop-connection` | `connection_closed` | the connection closed before any response |
/// | `response-body` | `body_error` | a body that ends early, stalls or fails |
/// | `dns-failure` | `dns_failure` | a resolution error from its connector |
/// | `refused` | `connection_refused` | a refused or immediately reset connection |
/// | `reset` | `connection_reset` | a reset connection (a real RST) |
/// | `truncate` | `unexpected_eof` | a stream that ends early |
/// | `tls-alert` | `tls_handshake_failure` | a fatal `handshake_failure` alert |
/// | `tls-expired-certificate` | `tls_certificate_expired` | its TLS library's expired-certificate error |
/// | `tls-wrong-host` | `tls_certificate_not_valid_for_name` | its TLS library's wrong-name error |
/// | `tls-untrusted-issuer` | `tls_unknown_issuer` | its TLS library's unknown-issuer error |
/// | the others | none | delays, throttles, a rotated (valid) certificate: no error |
///
/// ```
/// use tower_chaos::FaultKind;
/// use tower_chaos::telemetry::error_type;
/// assert_eq!(error_type(FaultKind::Hang), Some("timeout"));
/// assert_eq!(error_type(FaultKind::Reset), Some("connection_reset"));
/// assert_eq!(error_type(FaultKind::Latency), None);
/// // A status's class is its code, known only with the response.
/// assert_eq!(error_type(FaultKind::Status), None);
/// ```
#[must_use]
pub const fn error_type(kind: FaultKind) -> Option<&'static str> {
    Some(match kind {
        FaultKind::Error | FaultKind::LostReply => "injected_error",
        FaultKind::Hang
        | FaultKind::ConnectHang
        | FaultKind::Stall
        | FaultKind::Blackhole
        | FaultKind::Timeout => "timeout",
        FaultKind::DropConnection => "connection_closed",
        FaultKind::ResponseBody => "body_error",
        FaultKind::DnsFailure => "dns_failure",
        FaultKind::Refused => "connection_refused",
        FaultKind::Reset => "connection_reset",
        FaultKind::Truncate => "unexpected_eof",
        FaultKind::TlsAlert => "tls_handshake_failure",
        FaultKind::TlsStall => "timeout",
        FaultKind::TlsExpiredCertificate => "tls_certificate_expired",
        FaultKind::TlsWrongHost => "tls_certificate_not_valid_for_name",
        FaultKind::TlsUntrustedIssuer => "tls_unknown_issuer",
        _ => return None,
    })
}

/// An `error.type` value: a fixed name, or a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorType {
    Name(&'static str),
    Code(u16),
}

impl ErrorType {
    /// The value for a fault of `kind` whose response (if any) carries
    /// `code`: an HTTP status of 400 or more, a gRPC code other than `OK`.
    pub(crate) fn of(kind: FaultKind, code: Option<u16>) -> Option<Self> {
        match (kind, code) {
            (FaultKind::Status, Some(c)) if c >= 400 => Some(Self::Code(c)),
            (FaultKind::GrpcStatus, Some(c)) if c != 0 => Some(Self::Code(c)),
            (FaultKind::Status | FaultKind::GrpcStatus, _) => None,
            _ => error_type(kind).map(Self::Name),
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Code(code) => write!(f, "{code}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_report_their_error_codes_only() {
        assert_eq!(
            ErrorType::of(FaultKind::Status, Some(503)),
            Some(ErrorType::Code(503))
        );
        assert_eq!(ErrorType::of(FaultKind::Status, Some(200)), None);
        assert_eq!(
            ErrorType::of(FaultKind::GrpcStatus, Some(14)).map(|e| e.to_string()),
            Some("14".into())
        );
        assert_eq!(ErrorType::of(FaultKind::GrpcStatus, Some(0)), None);
        assert_eq!(
            ErrorType::of(FaultKind::Reset, None),
            Some(ErrorType::Name("connection_reset"))
        );
    }

    #[test]
    fn every_kind_has_a_decided_error_type() {
        // Delays and throttles are no error; every other kind names one.
        let no_error = [
            FaultKind::Latency,
            FaultKind::LatencyAfter,
            FaultKind::Respond,
            FaultKind::Status,
            FaultKind::GrpcStatus,
            FaultKind::SlowConnect,
            FaultKind::StreamLatency,
            FaultKind::Bandwidth,
            FaultKind::Slice,
            FaultKind::SlowClose,
            FaultKind::TlsRotated,
        ];
        for kind in FaultKind::ALL {
            assert_eq!(error_type(*kind).is_none(), no_error.contains(kind), "{kind}");
        }
    }
}

//! Fault menus: which faults the explorer tries at each point of a target.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// Each target's menu, by the target's name.
pub(crate) type Menus = HashMap<String, Vec<MenuFault>>;

/// A fault the explorer can put at a point. Which ones a target accepts
/// depends on its kind ([`PointKind`]); each kind has a default menu
/// ([`MenuFault::defaults`]).
///
/// Written as in replay specs: `error`, `hang`, `lost-reply`,
/// `delay:1500ms`, `status:503`, `throttle:1000ms` (a `429` with
/// `Retry-After`), `drop-connection`, `truncate-body:0`, `refused`,
/// `dns-failure`.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::explore::MenuFault;
/// assert_eq!(MenuFault::Delay(Duration::from_millis(1500)).to_string(), "delay:1500ms");
/// assert_eq!("status:503".parse::<MenuFault>(), Ok(MenuFault::Status(503)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum MenuFault {
    /// The call fails at once with an `InjectedError` (request targets).
    Error,
    /// The call never completes (request targets).
    Hang,
    /// The callee runs, the caller gets an error (request targets).
    LostReply,
    /// The call waits this long before reaching the callee (request and
    /// HTTP targets): pick it beyond the caller's timeout
    /// ([`Explorer::caller_timeout`](super::Explorer::caller_timeout)).
    Delay(Duration),
    /// A synthesized response with this status (HTTP targets).
    Status(u16),
    /// A `429 Too Many Requests` with `Retry-After` (HTTP targets).
    Throttle(Duration),
    /// The connection is dropped before an answer (HTTP targets).
    DropConnection,
    /// The real response, its body cut after this many bytes (HTTP
    /// targets).
    TruncateBody(u64),
    /// The connection is refused (connect targets).
    Refused,
    /// The host name does not resolve (connect targets).
    DnsFailure,
}

/// The kind of a target, which decides its signatures and its menu.
///
/// ```
/// use tower_chaos::explore::{MenuFault, PointKind};
/// assert!(MenuFault::Hang.fits(PointKind::Request));
/// assert!(!MenuFault::Hang.fits(PointKind::Http));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum PointKind {
    /// A `ChaosLayer`: any `tower::Service`.
    Request,
    /// An `HttpChaosLayer` (feature `http`).
    Http,
    /// A `ConnectFaultsLayer` (feature `io`): connect-time faults of a
    /// connector, e.g. reqwest's `connector_layer`.
    Connect,
}

impl MenuFault {
    /// The default menu of a kind: request targets get `error`, `hang` and
    /// `lost-reply`; HTTP targets `500`, `503`, `429` with `Retry-After:
    /// 1`, a dropped connection and a body cut at 0 bytes; connect targets
    /// a refused connection and a DNS failure. With
    /// [`Explorer::caller_timeout`](super::Explorer::caller_timeout), both
    /// also get a delay 1 ms beyond it.
    ///
    /// ```
    /// use tower_chaos::explore::{MenuFault, PointKind};
    /// assert_eq!(MenuFault::defaults(PointKind::Request, None), [MenuFault::Error, MenuFault::Hang, MenuFault::LostReply]);
    /// assert_eq!(MenuFault::defaults(PointKind::Http, None).len(), 5);
    /// ```
    #[must_use]
    pub fn defaults(kind: PointKind, caller_timeout: Option<Duration>) -> Vec<Self> {
        let mut menu = match kind {
            PointKind::Request => vec![Self::Error, Self::Hang, Self::LostReply],
            PointKind::Http => vec![
                Self::Status(500),
                Self::Status(503),
                Self::Throttle(Duration::from_secs(1)),
                Self::DropConnection,
                Self::TruncateBody(0),
            ],
            PointKind::Connect => vec![Self::Refused, Self::DnsFailure],
        };
        if let Some(t) = caller_timeout {
            menu.push(Self::Delay(t.saturating_add(Duration::from_millis(1))));
        }
        menu
    }

    /// Whether a target of `kind` can inject this fault.
    ///
    /// ```
    /// use tower_chaos::explore::{MenuFault, PointKind};
    /// assert!(MenuFault::Status(503).fits(PointKind::Http));
    /// assert!(!MenuFault::Status(503).fits(PointKind::Request));
    /// ```
    #[must_use]
    pub const fn fits(&self, kind: PointKind) -> bool {
        match self {
            Self::Delay(_) => !matches!(kind, PointKind::Connect),
            Self::Error | Self::Hang | Self::LostReply => matches!(kind, PointKind::Request),
            Self::Refused | Self::DnsFailure => matches!(kind, PointKind::Connect),
            Self::Status(_) | Self::Throttle(_) | Self::DropConnection | Self::TruncateBody(_) => {
                matches!(kind, PointKind::Http)
            }
        }
    }
}

impl fmt::Display for MenuFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error => f.write_str("error"),
            Self::Hang => f.write_str("hang"),
            Self::LostReply => f.write_str("lost-reply"),
            Self::Delay(d) => write!(f, "delay:{}ms", d.as_millis()),
            Self::Status(s) => write!(f, "status:{s}"),
            Self::Throttle(d) => write!(f, "throttle:{}ms", d.as_millis()),
            Self::DropConnection => f.write_str("drop-connection"),
            Self::TruncateBody(n) => write!(f, "truncate-body:{n}"),
            Self::Refused => f.write_str("refused"),
            Self::DnsFailure => f.write_str("dns-failure"),
        }
    }
}

/// Why a fault's spelling was refused (see [`MenuFault`]'s `FromStr`).
///
/// ```
/// let err = "explode".parse::<tower_chaos::explore::MenuFault>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown fault \"explode\": expected error, hang, lost-reply, delay:<ms>ms, status:<code>, throttle:<ms>ms, drop-connection, truncate-body:<bytes>, refused or dns-failure");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault {0:?}: expected error, hang, lost-reply, delay:<ms>ms, status:<code>, throttle:<ms>ms, \
     drop-connection, truncate-body:<bytes>, refused or dns-failure"
)]
pub struct UnknownFault(pub String);

impl std::str::FromStr for MenuFault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownFault(s.to_owned());
        let millis = |v: &str| {
            v.strip_suffix("ms")
                .and_then(|n| n.parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        Ok(match s.split_once(':') {
            None => match s {
                "error" => Self::Error,
                "hang" => Self::Hang,
                "lost-reply" => Self::LostReply,
                "drop-connection" => Self::DropConnection,
                "refused" => Self::Refused,
                "dns-failure" => Self::DnsFailure,
                _ => return Err(unknown()),
            },
            Some(("delay", v)) => Self::Delay(millis(v).ok_or_else(unknown)?),
            Some(("throttle", v)) => Self::Throttle(millis(v).ok_or_else(unknown)?),
            Some(("status", v)) => Self::Status(v.parse().map_err(|_| unknown())?),
            Some(("truncate-body", v)) => Self::TruncateBody(v.parse().map_err(|_| unknown())?),
            Some(_) => return Err(unknown()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_reads_back_what_it_prints() {
        let all = [
            MenuFault::Error,
            MenuFault::Hang,
            MenuFault::LostReply,
            MenuFault::Delay(Duration::from_millis(2001)),
            MenuFault::Status(429),
            MenuFault::Throttle(Duration::from_secs(3)),
            MenuFault::DropConnection,
            MenuFault::TruncateBody(12),
            MenuFault::Refused,
            MenuFault::DnsFailure,
        ];
        for f in all {
            assert_eq!(f.to_string().parse::<MenuFault>(), Ok(f));
        }
        for bad in ["delay:5s", "status:x", "truncate-body:", "hang:1", ""] {
            assert!(bad.parse::<MenuFault>().is_err(), "{bad}");
        }
    }
}

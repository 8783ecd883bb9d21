//! Injection points, their signatures, and the probe that records which
//! points a run reached.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use super::menu::MenuFault;

/// What identifies a call on its target, across runs.
///
/// ```
/// use tower_chaos::explore::Signature;
/// let get = Signature::Http { method: "GET".into(), path: "/stock".into() };
/// assert_eq!(get.to_string(), "GET /stock");
/// assert_eq!(Signature::Call.to_string(), "call");
/// assert_eq!(Signature::Key("refund".into()).to_string(), "key=refund");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Signature {
    /// A request-level target (`ChaosLayer`): every call is the same
    /// signature; the point's occurrence is the target's call order.
    Call,
    /// A request-level target explored with a key
    /// ([`Explorer::target_keyed`](super::Explorer::target_keyed)): the
    /// key of the request; the occurrence counts calls with this key.
    Key(String),
    /// An HTTP target (`HttpChaosLayer`): the method and the path (no
    /// query), or the route pattern when the layer runs inside an axum
    /// `Router` (feature `axum`: `/items/{id}`); the occurrence counts
    /// calls with this method and path.
    Http {
        /// The method, as `http::Method` spells it.
        method: String,
        /// The route pattern, else the path without the query.
        path: String,
    },
    /// A connect target (`ConnectFaultsLayer`): the host and port when
    /// the connector's request shows them (a `ConnectFaultsLayer` sees
    /// neither: its occurrence is the connection's order).
    Connect {
        /// The host asked for.
        host: Option<String>,
        /// The port asked for.
        port: Option<u16>,
    },
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Call => f.write_str("call"),
            Self::Key(key) => write!(f, "key={key}"),
            Self::Http { method, path } => write!(f, "{method} {path}"),
            Self::Connect { host, port } => {
                f.write_str("connect")?;
                match (host, port) {
                    (None, None) => Ok(()),
                    (host, port) => write!(
                        f,
                        " {}:{}",
                        host.as_deref().unwrap_or("?"),
                        port.map_or_else(|| "?".to_owned(), |p| p.to_string())
                    ),
                }
            }
        }
    }
}

/// One place a run can meet a fault: the `occurrence`-th call with this
/// `signature` on `target` (counted from 1).
///
/// Written `payments#2` (the second call of a request-level target),
/// `payments key=refund#1` (its first call keyed `refund`),
/// `inventory GET /stock#1` (the first `GET /stock` of an HTTP target) or
/// `db connect#1` (a connect target's first connection), as in replay
/// specs.
///
/// ```
/// use tower_chaos::explore::{Point, Signature};
/// let p = Point::new("payments", Signature::Call, 2);
/// assert_eq!(p.to_string(), "payments#2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Point {
    /// The target's name.
    pub target: String,
    /// The call's signature on that target.
    pub signature: Signature,
    /// Which call with this signature, from 1.
    pub occurrence: u32,
}

impl Point {
    /// The `occurrence`-th call with `signature` on `target`.
    ///
    /// ```
    /// use tower_chaos::explore::{Point, Signature};
    /// let p = Point::new("cart", Signature::Http { method: "POST".into(), path: "/items".into() }, 1);
    /// assert_eq!(p.to_string(), "cart POST /items#1");
    /// ```
    #[must_use]
    pub fn new(target: impl Into<String>, signature: Signature, occurrence: u32) -> Self {
        Self {
            target: target.into(),
            signature,
            occurrence,
        }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.signature {
            Signature::Call => write!(f, "{}#{}", self.target, self.occurrence),
            sig => write!(f, "{} {sig}#{}", self.target, self.occurrence),
        }
    }
}

/// A fault at a point: one element of a run's fault set.
///
/// ```
/// use tower_chaos::explore::{Injection, MenuFault, Point, Signature};
/// let i = Injection::new(Point::new("payments", Signature::Call, 1), MenuFault::LostReply);
/// assert_eq!(i.to_string(), "lost-reply@payments#1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Injection {
    /// Where.
    pub point: Point,
    /// What.
    pub fault: MenuFault,
}

impl Injection {
    /// `fault` at `point`.
    ///
    /// ```
    /// use tower_chaos::explore::{Injection, MenuFault, Point, Signature};
    /// let i = Injection::new(Point::new("db", Signature::Call, 3), MenuFault::Hang);
    /// assert_eq!(i.point.occurrence, 3);
    /// ```
    #[must_use]
    pub const fn new(point: Point, fault: MenuFault) -> Self {
        Self { point, fault }
    }
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.fault, self.point)
    }
}

/// Records, for one target and one run, every call its layers decided:
/// the signature and occurrence of each, in order, and which of them a
/// fault of the run fired on.
///
/// The layer's rules are evaluated in order within one `call`: the
/// recording rule (first) sets `current`, and the fault rules after it ask
/// whether `current` is their point. Runs are on a current-thread runtime,
/// so decisions do not interleave.
#[derive(Debug, Default)]
#[allow(unreachable_pub)] // named by the sealed `Arm` trait, never outside the crate
pub struct Probe {
    state: Mutex<ProbeState>,
}

#[derive(Debug, Default)]
struct ProbeState {
    counts: HashMap<Signature, u32>,
    reached: Vec<(Signature, u32)>,
    current: Option<(Signature, u32)>,
    fired: Vec<(Signature, u32)>,
}

impl Probe {
    /// Counts a call with `signature`: it becomes the current call.
    pub(crate) fn record(&self, signature: Signature) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let n = s.counts.entry(signature.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let at = (signature, *n);
        s.reached.push(at.clone());
        s.current = Some(at);
    }

    /// Whether the current call is the `occurrence`-th with `signature`
    /// (and if so, remembers that a fault fired there).
    pub(crate) fn fires_at(&self, signature: &Signature, occurrence: u32) -> bool {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let hit = s
            .current
            .as_ref()
            .is_some_and(|(sig, n)| *n == occurrence && sig == signature);
        if hit {
            s.fired.push((signature.clone(), occurrence));
        }
        hit
    }

    /// The points reached and the points faulted, in order, for `target`.
    pub(crate) fn take(&self, target: &str) -> (Vec<Point>, Vec<Point>) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let points = |v: Vec<(Signature, u32)>| {
            v.into_iter()
                .map(|(sig, n)| Point::new(target, sig, n))
                .collect::<Vec<_>>()
        };
        let reached = points(std::mem::take(&mut s.reached));
        let fired = points(std::mem::take(&mut s.fired));
        (reached, fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_numbers_occurrences_per_signature_and_sees_only_the_current_call() {
        let probe = Probe::default();
        let get = Signature::Http {
            method: "GET".into(),
            path: "/a".into(),
        };
        probe.record(get.clone());
        assert!(!probe.fires_at(&get, 2));
        probe.record(Signature::Call);
        assert!(!probe.fires_at(&get, 1), "the current call is another signature");
        probe.record(get.clone());
        assert!(probe.fires_at(&get, 2));
        let (reached, fired) = probe.take("t");
        let shown: Vec<String> = reached.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["t GET /a#1", "t#1", "t GET /a#2"]);
        assert_eq!(fired, [Point::new("t", get, 2)]);
    }
}

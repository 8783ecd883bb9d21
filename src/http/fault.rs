//! [`HttpFault`], the action a rule performs, and [`HttpFaultPlan`], what
//! happens to one request once every fired fault is combined.

use std::time::Duration;

use super::body::BodyFault;
use super::marker::FaultKind;
use super::response::SyntheticResponse;

/// What an HTTP rule does to a request when it fires.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::http::{BodyFault, HttpFault, SyntheticResponse};
///
/// let faults = [
///     HttpFault::Respond(SyntheticResponse::service_unavailable()),
///     HttpFault::Delay(Duration::from_millis(250)),
///     HttpFault::ResponseBody(BodyFault::truncate_after(100)),
///     HttpFault::DropConnection,
/// ];
/// assert!(faults[0].skips_inner_call());
/// assert!(!faults[2].skips_inner_call());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HttpFault {
    /// Wait this long before calling the inner service (or before
    /// responding, when another fault responds).
    Delay(Duration),
    /// Answer with this response without calling the inner service.
    Respond(SyntheticResponse),
    /// Close the connection (HTTP/1) or reset the stream (HTTP/2) without
    /// calling the inner service. See the module docs for what clients
    /// report.
    DropConnection,
    /// Call the inner service, then apply this fault to its response body.
    /// `BodyFault::abort_after(0)` gives a "lost reply": the inner service
    /// ran, the connection drops before the client sees an answer.
    ResponseBody(BodyFault),
}

impl HttpFault {
    /// Whether the inner service is skipped when this fault fires.
    ///
    /// ```
    /// use tower_chaos::http::HttpFault;
    /// assert!(HttpFault::DropConnection.skips_inner_call());
    /// ```
    #[must_use]
    pub const fn skips_inner_call(&self) -> bool {
        matches!(self, Self::Respond(_) | Self::DropConnection)
    }

    /// The kind recorded for this fault.
    ///
    /// ```
    /// use tower_chaos::http::{FaultKind, HttpFault, SyntheticResponse};
    /// assert_eq!(HttpFault::Respond(SyntheticResponse::grpc_unavailable()).kind(), FaultKind::Grpc);
    /// ```
    #[must_use]
    pub fn kind(&self) -> FaultKind {
        match self {
            Self::Delay(_) => FaultKind::Delay,
            Self::Respond(r) => r.kind(),
            Self::DropConnection => FaultKind::DropConnection,
            Self::ResponseBody(_) => FaultKind::ResponseBody,
        }
    }
}

impl From<SyntheticResponse> for HttpFault {
    fn from(response: SyntheticResponse) -> Self {
        Self::Respond(response)
    }
}

impl From<BodyFault> for HttpFault {
    fn from(fault: BodyFault) -> Self {
        Self::ResponseBody(fault)
    }
}

/// How a request ends once its faults are combined.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Outcome {
    /// Call the inner service.
    #[default]
    Call,
    /// Answer with a synthesized response.
    Respond(SyntheticResponse),
    /// Drop the connection.
    Drop,
}

/// The combination of every fault that fired for one request.
///
/// Delays add up; the first fault that answers without calling the inner
/// service ([`HttpFault::Respond`] or [`HttpFault::DropConnection`]) wins
/// over later ones; the first response-body fault wins, and is ignored when
/// the inner service is skipped. Building and extending a plan does not
/// allocate.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::http::{FaultKind, HttpFault, HttpFaultPlan, SyntheticResponse};
///
/// let mut plan = HttpFaultPlan::new();
/// assert!(plan.is_empty());
/// plan.add(&HttpFault::Delay(Duration::from_millis(100)));
/// plan.add(&HttpFault::Respond(SyntheticResponse::gateway_timeout()));
/// plan.add(&HttpFault::Delay(Duration::from_millis(50)));
/// plan.add(&HttpFault::DropConnection);
/// assert_eq!(plan.delay(), Duration::from_millis(150));
/// assert_eq!(plan.kind(), Some(FaultKind::Status));
/// assert_eq!(plan.response().unwrap().status().as_u16(), 504);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpFaultPlan {
    delay: Duration,
    outcome: Outcome,
    response_body: Option<super::body::BodyFault>,
}

impl HttpFaultPlan {
    /// An empty plan: the request passes untouched.
    ///
    /// ```
    /// use tower_chaos::http::HttpFaultPlan;
    /// assert!(HttpFaultPlan::new().is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a fired fault.
    ///
    /// ```
    /// use tower_chaos::http::{HttpFault, HttpFaultPlan};
    /// let mut plan = HttpFaultPlan::new();
    /// plan.add(&HttpFault::DropConnection);
    /// assert!(plan.drops_connection());
    /// ```
    pub fn add(&mut self, fault: &HttpFault) {
        match fault {
            HttpFault::Delay(d) => self.delay = self.delay.saturating_add(*d),
            HttpFault::Respond(r) => {
                if self.outcome == Outcome::Call {
                    self.outcome = Outcome::Respond(r.clone());
                }
            }
            HttpFault::DropConnection => {
                if self.outcome == Outcome::Call {
                    self.outcome = Outcome::Drop;
                }
            }
            HttpFault::ResponseBody(b) => {
                if self.response_body.is_none() && !b.is_noop() {
                    self.response_body = Some(*b);
                }
            }
        }
    }

    /// Adds every fault of another plan, in the same way.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::{HttpFault, HttpFaultPlan};
    /// let mut a = HttpFaultPlan::new();
    /// let mut b = HttpFaultPlan::new();
    /// b.add(&HttpFault::Delay(Duration::from_secs(1)));
    /// a.merge(&b);
    /// assert_eq!(a.delay(), Duration::from_secs(1));
    /// ```
    pub fn merge(&mut self, other: &Self) {
        self.delay = self.delay.saturating_add(other.delay);
        if self.outcome == Outcome::Call {
            self.outcome = other.outcome.clone();
        }
        if self.response_body.is_none() {
            self.response_body = other.response_body;
        }
    }

    /// Whether nothing fired.
    ///
    /// ```
    /// use tower_chaos::http::{BodyFault, HttpFault, HttpFaultPlan};
    /// let mut plan = HttpFaultPlan::new();
    /// plan.add(&HttpFault::ResponseBody(BodyFault::stall_after(0)));
    /// assert!(!plan.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.delay.is_zero() && self.outcome == Outcome::Call && self.response_body.is_none()
    }

    /// Total delay before the inner call (or the synthesized answer).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::{HttpFault, HttpFaultPlan};
    /// let mut plan = HttpFaultPlan::new();
    /// plan.add(&HttpFault::Delay(Duration::from_secs(1)));
    /// plan.add(&HttpFault::Delay(Duration::from_secs(2)));
    /// assert_eq!(plan.delay(), Duration::from_secs(3));
    /// ```
    #[must_use]
    pub const fn delay(&self) -> Duration {
        self.delay
    }

    /// The synthesized response, when one fired.
    ///
    /// ```
    /// use tower_chaos::http::{HttpFault, HttpFaultPlan, SyntheticResponse};
    /// let mut plan = HttpFaultPlan::new();
    /// plan.add(&SyntheticResponse::bad_gateway().into());
    /// assert_eq!(plan.response().unwrap().status().as_u16(), 502);
    /// ```
    #[must_use]
    pub const fn response(&self) -> Option<&SyntheticResponse> {
        match &self.outcome {
            Outcome::Respond(r) => Some(r),
            _ => None,
        }
    }

    /// Whether the connection is dropped.
    ///
    /// ```
    /// use tower_chaos::http::HttpFaultPlan;
    /// assert!(!HttpFaultPlan::new().drops_connection());
    /// ```
    #[must_use]
    pub fn drops_connection(&self) -> bool {
        self.outcome == Outcome::Drop
    }

    /// Whether the inner service is called.
    ///
    /// ```
    /// use tower_chaos::http::{HttpFault, HttpFaultPlan};
    /// let mut plan = HttpFaultPlan::new();
    /// assert!(plan.calls_inner());
    /// plan.add(&HttpFault::DropConnection);
    /// assert!(!plan.calls_inner());
    /// ```
    #[must_use]
    pub fn calls_inner(&self) -> bool {
        self.outcome == Outcome::Call
    }

    /// The response-body fault applied to the inner response, when the
    /// inner service is called.
    ///
    /// ```
    /// use tower_chaos::http::{BodyFault, HttpFault, HttpFaultPlan};
    /// let mut plan = HttpFaultPlan::new();
    /// plan.add(&BodyFault::truncate_after(8).into());
    /// assert_eq!(plan.response_body(), Some(BodyFault::truncate_after(8)));
    /// ```
    #[must_use]
    pub fn response_body(&self) -> Option<BodyFault> {
        if self.calls_inner() {
            self.response_body
        } else {
            None
        }
    }

    /// The kind that shaped the response most (see
    /// [`Injected`](super::Injected)), or `None` for an empty plan.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::{FaultKind, HttpFault, HttpFaultPlan};
    /// let mut plan = HttpFaultPlan::new();
    /// assert_eq!(plan.kind(), None);
    /// plan.add(&HttpFault::Delay(Duration::from_millis(1)));
    /// assert_eq!(plan.kind(), Some(FaultKind::Delay));
    /// ```
    #[must_use]
    pub fn kind(&self) -> Option<FaultKind> {
        match &self.outcome {
            Outcome::Respond(r) => Some(r.kind()),
            Outcome::Drop => Some(FaultKind::DropConnection),
            Outcome::Call if self.response_body.is_some() => Some(FaultKind::ResponseBody),
            Outcome::Call if !self.delay.is_zero() => Some(FaultKind::Delay),
            Outcome::Call => None,
        }
    }

    pub(crate) const fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_fault_ignored_when_inner_skipped() {
        let mut plan = HttpFaultPlan::new();
        plan.add(&HttpFault::ResponseBody(BodyFault::abort_after(1)));
        assert_eq!(plan.kind(), Some(FaultKind::ResponseBody));
        plan.add(&HttpFault::DropConnection);
        assert_eq!(plan.response_body(), None);
        assert_eq!(plan.kind(), Some(FaultKind::DropConnection));
        assert!(plan.drops_connection());
    }

    #[test]
    fn noop_body_fault_is_not_a_fault() {
        let mut plan = HttpFaultPlan::new();
        plan.add(&HttpFault::ResponseBody(BodyFault::default()));
        assert!(plan.is_empty());
    }
}

//! [`HttpFault`], the action of an HTTP rule, and how the faults that fire
//! for one request combine.

use std::sync::Arc;
use std::time::Duration;

use super::body::BodyFault;
use super::marker::Injected;
use super::response::SyntheticResponse;
use super::view::{HttpRequest, IntoHttpTrigger};
use crate::rng::SplitMix;
use crate::rule::sealed::Sealed;
use crate::rule::{Applied, Resolve, TakeCtx};
use crate::{ConfigError, FaultKind, FaultSet, Latency, Rule, Trigger};

/// An HTTP rule: an [`HttpFault`] with its trigger and limits,
/// `Rule<HttpFault, HttpRequest>`.
///
/// ```
/// use tower_chaos::Trigger;
/// use tower_chaos::http::{HttpRule, SyntheticResponse};
/// let rule: HttpRule = SyntheticResponse::bad_gateway().when(Trigger::every(5)).budget(10);
/// assert_eq!(rule.name(), None);
/// ```
pub type HttpRule = Rule<HttpFault, HttpRequest>;

/// The HTTP faults of a target, `FaultSet<HttpFault, HttpRequest>`:
/// install with [`Target::set_faults`](crate::Target::set_faults) (at run
/// time too) or through [`HttpChaosLayer::builder`](super::HttpChaosLayer::builder).
///
/// ```
/// use tower_chaos::Target;
/// use tower_chaos::http::{BodyFault, HttpFaultSet, SyntheticResponse};
///
/// let target = Target::builder("s3").seed(1).build()?;
/// target.set_faults(
///     HttpFaultSet::new()
///         .with(SyntheticResponse::s3_slow_down())
///         .with(BodyFault::stall_after(0))
///         .max_active(8),
/// )?;
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
pub type HttpFaultSet = FaultSet<HttpFault, HttpRequest>;

/// What an HTTP rule does to a request when it fires: the action `A` of a
/// [`HttpRule`] (`Rule<HttpFault, HttpRequest>`), installed with
/// [`HttpChaosLayerBuilder::fault`](super::HttpChaosLayerBuilder::fault) or
/// [`Target::set_faults`](crate::Target::set_faults).
///
/// [`SyntheticResponse`] and [`BodyFault`] convert into it, and all three
/// have a `when` that attaches a trigger (an [`HttpTrigger`](super::HttpTrigger), or a
/// [`RequestMatcher`](super::RequestMatcher), which converts into one).
///
/// | fault | the inner service | the client sees |
/// |---|---|---|
/// | [`Latency`](Self::Latency) | called after the delay | the real response, later |
/// | [`Respond`](Self::Respond) | not called | the synthesized status, headers and body |
/// | [`DropConnection`](Self::DropConnection) | not called | no response: the connection closes (HTTP/1) or the stream resets (HTTP/2) |
/// | [`ResponseBody`](Self::ResponseBody) | called | the real head, then a body that is cut, stalls, crawls or fails |
///
/// `docs/HTTP.md` lists what each client (reqwest, hyper, tonic) reports.
///
/// ```
/// use std::time::Duration;
/// use http::Method;
/// use tower_chaos::http::{BodyFault, HttpFault, RequestMatcher, SyntheticResponse};
/// use tower_chaos::{FaultKind, Trigger};
///
/// let rules = [
///     HttpFault::latency(Duration::from_millis(250)).when(Trigger::rate(0.1)),
///     SyntheticResponse::service_unavailable().when(RequestMatcher::method(Method::PUT)),
///     BodyFault::truncate_after(100).when(Trigger::every(10)),
///     HttpFault::DropConnection.when(Trigger::first(1)),
/// ];
/// assert_eq!(rules[1].action().kind(), FaultKind::Status);
/// assert!(rules[3].action().skips_inner_call());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HttpFault {
    /// Wait this long (sampled per request) before calling the inner
    /// service, or before answering when another fault answers. A delay
    /// that comes out zero injects nothing and is not counted (Envoy's
    /// `FixedDelayZeroDuration`).
    Latency(Latency),
    /// Answer with this response without calling the inner service.
    Respond(SyntheticResponse),
    /// Close the connection (HTTP/1) or reset the stream (HTTP/2) without
    /// calling the inner service. See the [module docs](super#dropping-the-connection)
    /// for what clients report.
    DropConnection,
    /// Call the inner service, then apply this fault to its response body.
    /// `BodyFault::abort_after(0)` gives a "lost reply": the inner service
    /// ran, the connection drops before the client sees an answer.
    ResponseBody(BodyFault),
}

impl HttpFault {
    /// A delay before the inner call, sampled per request with the
    /// target's seed: a [`Duration`] (a fixed delay, as
    /// [`Latency::fixed`]) or any [`Latency`] (uniform, normal, log-normal,
    /// Pareto). The same spelling as the request-level
    /// [`Fault::latency`](crate::Fault::latency); counted as
    /// [`FaultKind::Latency`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::{FaultKind, Latency};
    /// use tower_chaos::http::HttpFault;
    /// assert_eq!(
    ///     HttpFault::latency(Duration::from_secs(1)),
    ///     HttpFault::Latency(Latency::fixed(Duration::from_secs(1)))
    /// );
    /// let slow = HttpFault::latency(Latency::log_normal(Duration::from_millis(80), 0.5));
    /// assert_eq!(slow.kind(), FaultKind::Latency);
    /// ```
    #[must_use]
    pub fn latency(latency: impl Into<Latency>) -> Self {
        Self::Latency(latency.into())
    }

    /// This fault whenever `trigger` fires: an [`HttpTrigger`](super::HttpTrigger) or a
    /// [`RequestMatcher`](super::RequestMatcher) (combine both with `&`,
    /// `|` or [`RequestMatcher::and_trigger`](super::RequestMatcher::and_trigger)).
    ///
    /// ```
    /// use tower_chaos::Trigger;
    /// use tower_chaos::http::{HttpFault, RequestMatcher};
    /// let rule = HttpFault::DropConnection.when(RequestMatcher::path_prefix("/upload") & Trigger::rate(0.5));
    /// assert!(format!("{rule:?}").contains("Rate(0.5)"));
    /// ```
    #[must_use]
    pub fn when(self, trigger: impl IntoHttpTrigger) -> HttpRule {
        Rule::new(self, trigger.into_http_trigger())
    }

    /// This fault on every request, under a name (for journals, tracing and
    /// the [`Injected`] marker).
    ///
    /// ```
    /// use tower_chaos::http::HttpFault;
    /// assert_eq!(HttpFault::DropConnection.named("rst").name(), Some("rst"));
    /// ```
    #[must_use]
    pub fn named(self, name: impl Into<Arc<str>>) -> HttpRule {
        Rule::from(self).named(name)
    }

    /// Whether the inner service is skipped when this fault applies.
    ///
    /// ```
    /// use tower_chaos::http::HttpFault;
    /// assert!(HttpFault::DropConnection.skips_inner_call());
    /// ```
    #[must_use]
    pub const fn skips_inner_call(&self) -> bool {
        matches!(self, Self::Respond(_) | Self::DropConnection)
    }

    /// The kind counted for this fault.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::http::{HttpFault, SyntheticResponse};
    /// assert_eq!(HttpFault::Respond(SyntheticResponse::grpc_unavailable()).kind(), FaultKind::GrpcStatus);
    /// ```
    #[must_use]
    pub fn kind(&self) -> FaultKind {
        match self {
            Self::Latency(_) => FaultKind::Latency,
            Self::Respond(r) => r.kind(),
            Self::DropConnection => FaultKind::DropConnection,
            Self::ResponseBody(_) => FaultKind::ResponseBody,
        }
    }

    /// Whether this fault decides how the response ends (everything but a
    /// latency).
    const fn shapes_response(&self) -> bool {
        !matches!(self, Self::Latency(_))
    }
}

// A response's rules are written here, above both, so that `response.rs`
// stays below `fault.rs` (no import cycle).
impl SyntheticResponse {
    /// Answers with this response whenever `trigger` fires: a
    /// [`HttpTrigger`](super::HttpTrigger) or a
    /// [`RequestMatcher`](super::RequestMatcher) (see
    /// [`HttpFault::when`]).
    ///
    /// ```
    /// use tower_chaos::Trigger;
    /// use tower_chaos::http::{RequestMatcher, SyntheticResponse};
    ///
    /// let rule = SyntheticResponse::service_unavailable()
    ///     .when(RequestMatcher::path_glob("/items/*").and_trigger(Trigger::first(3)));
    /// assert_eq!(rule.action().kind(), tower_chaos::FaultKind::Status);
    /// ```
    #[must_use]
    pub fn when(self, trigger: impl IntoHttpTrigger) -> HttpRule {
        HttpFault::Respond(self).when(trigger)
    }

    /// Answers every request with this response, under a name (for
    /// journals, tracing and the [`Injected`] marker).
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::bad_gateway().named("lb-down").name(), Some("lb-down"));
    /// ```
    #[must_use]
    pub fn named(self, name: impl Into<Arc<str>>) -> HttpRule {
        HttpFault::Respond(self).named(name)
    }
}

// Likewise for a body fault: `body/` stays below `fault.rs`.
impl BodyFault {
    /// Applies this fault to response bodies whenever `trigger` fires: a
    /// [`HttpTrigger`](crate::http::HttpTrigger) or a
    /// [`RequestMatcher`](crate::http::RequestMatcher) (see
    /// [`HttpFault::when`](crate::http::HttpFault::when)).
    ///
    /// ```
    /// use tower_chaos::{FaultKind, Trigger};
    /// use tower_chaos::http::BodyFault;
    /// let rule = BodyFault::stall_after(1024).when(Trigger::rate(0.05));
    /// assert_eq!(rule.action().kind(), FaultKind::ResponseBody);
    /// ```
    #[must_use]
    pub fn when(self, trigger: impl IntoHttpTrigger) -> HttpRule {
        HttpFault::ResponseBody(self).when(trigger)
    }

    /// Applies this fault to every response body, under a name (for
    /// journals, tracing and the [`Injected`](crate::http::Injected) marker).
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert_eq!(BodyFault::abort_after(0).named("lost-reply").name(), Some("lost-reply"));
    /// ```
    #[must_use]
    pub fn named(self, name: impl Into<Arc<str>>) -> HttpRule {
        HttpFault::ResponseBody(self).named(name)
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

impl From<HttpFault> for HttpRule {
    /// A rule that always fires.
    fn from(fault: HttpFault) -> Self {
        Self::new(fault, Trigger::always())
    }
}

impl From<SyntheticResponse> for HttpRule {
    /// A rule that always answers with this response.
    fn from(response: SyntheticResponse) -> Self {
        HttpFault::from(response).into()
    }
}

impl From<BodyFault> for HttpRule {
    /// A rule that faults every response body.
    fn from(fault: BodyFault) -> Self {
        HttpFault::from(fault).into()
    }
}

impl Sealed for HttpFault {
    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::Latency(latency) => latency.validate(),
            Self::ResponseBody(body) if body.bytes_per_second() == Some(0) => body.validate().map(|_| ()),
            Self::ResponseBody(body) if body.is_noop() => Err(ConfigError::invalid(
                "http_fault.response_body",
                body,
                "does nothing: give it a cut, a throttle or a first-byte delay",
            )),
            Self::ResponseBody(body) if body.first_byte_delay() > MAX_BODY_DELAY => {
                Err(ConfigError::invalid(
                    "http_fault.response_body.delay_first_byte",
                    format!("{:?}", body.first_byte_delay()),
                    "must be at most 365 days",
                ))
            }
            Self::Respond(response) => response.check(),
            Self::DropConnection | Self::ResponseBody(_) => Ok(()),
        }
    }

    #[cfg(feature = "scenario")]
    fn fails_outright(&self) -> bool {
        match self {
            Self::Respond(r) => r.grpc_code().map_or_else(
                || r.status().is_client_error() || r.status().is_server_error(),
                |code| code != super::GrpcCode::Ok,
            ),
            Self::DropConnection => true,
            Self::Latency(_) | Self::ResponseBody(_) => false,
        }
    }
}

/// The longest first-byte delay a body fault installed as a rule may have
/// (the crate's limit for fault durations, as `io::MAX_FAULT_DURATION`).
const MAX_BODY_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

/// How a request ends once its faults are combined.
#[derive(Debug, Default)]
pub(crate) enum End {
    /// Call the inner service and pass its response through.
    #[default]
    Call,
    /// Call the inner service and fault its response body.
    Body(BodyFault),
    /// Answer with a synthesized response.
    Respond(SyntheticResponse),
    /// Drop the connection.
    Drop,
}

/// The combination of the HTTP faults that apply to one request, in rule
/// order: latencies add up; the first fault that shapes the response (a
/// synthesized response, a dropped connection, a body fault) wins, and
/// later ones are not offered the request.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) delay: Duration,
    pub(crate) end: End,
    /// The rule that shaped the response (or the first delay's), for the
    /// marker.
    rule: Option<Arc<str>>,
    applied: bool,
}

impl Outcome {
    /// Whether any fault applied.
    pub(crate) const fn is_faulted(&self) -> bool {
        self.applied
    }

    /// The kind the [`Injected`] marker records.
    pub(crate) fn kind(&self) -> FaultKind {
        match &self.end {
            End::Call => FaultKind::Latency,
            End::Body(_) => FaultKind::ResponseBody,
            End::Respond(r) => r.kind(),
            End::Drop => FaultKind::DropConnection,
        }
    }

    pub(crate) fn marker(&self, target: &Arc<str>) -> Injected {
        Injected::new(self.kind(), Arc::clone(target)).with_rule_opt(self.rule.clone())
    }

    /// Applies `fault`; the caller checked [`Resolve::wants`].
    fn apply(&mut self, fault: &HttpFault, rng: u64, rule: Option<&Arc<str>>) -> Applied {
        let (mut delay, mut code) = (None, None);
        match fault {
            HttpFault::Latency(latency) => {
                let d = latency.sample(&mut SplitMix::new(rng));
                if d.is_zero() {
                    // Nothing injected (as Envoy and Polly): the request
                    // stays as it was, and the engine counts nothing.
                    return Applied {
                        kind: fault.kind(),
                        delay: Some(d),
                        code: None,
                    };
                }
                self.delay = self.delay.saturating_add(d);
                delay = Some(d);
                if matches!(self.end, End::Call) && self.rule.is_none() {
                    self.rule = rule.cloned();
                }
            }
            HttpFault::Respond(r) => {
                code = Some(r.grpc_code().map_or_else(|| r.status().as_u16(), |c| c as u16));
                self.end = End::Respond(r.clone());
            }
            HttpFault::DropConnection => self.end = End::Drop,
            HttpFault::ResponseBody(b) => self.end = End::Body(*b),
        }
        if fault.shapes_response() {
            self.rule = rule.cloned();
        }
        self.applied = true;
        Applied {
            kind: fault.kind(),
            delay,
            code,
        }
    }

    /// Adds a fault asked for through request headers (fixed values: no
    /// sampling). Returns what was applied, or `None` when a rule already
    /// shaped the response (or the fault is a zero delay).
    pub(crate) fn apply_header(&mut self, fault: &HttpFault, name: &Arc<str>) -> Option<Applied> {
        self.wants_fault(fault)
            .then(|| self.apply(fault, 0, Some(name)))
            .filter(|applied| !applied.is_nothing())
    }

    const fn wants_fault(&self, fault: &HttpFault) -> bool {
        !fault.shapes_response() || matches!(self.end, End::Call)
    }
}

impl Resolve<HttpFault, HttpRequest> for Outcome {
    #[inline]
    fn wants(&self, fault: &HttpFault) -> bool {
        self.wants_fault(fault)
    }

    fn take(&mut self, fault: &HttpFault, _req: &HttpRequest, rng: u64, ctx: &TakeCtx<'_>) -> Applied {
        self.apply(fault, rng, ctx.rule_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(faults: &[HttpFault]) -> Outcome {
        let mut outcome = Outcome::default();
        for f in faults {
            if outcome.wants_fault(f) {
                outcome.apply(f, 1, None);
            }
        }
        outcome
    }

    #[test]
    fn latencies_add_and_the_first_shaping_fault_wins() {
        let o = run(&[
            HttpFault::latency(Duration::from_millis(100)),
            HttpFault::ResponseBody(BodyFault::abort_after(1)),
            HttpFault::latency(Duration::from_millis(50)),
            HttpFault::DropConnection,
        ]);
        assert_eq!(o.delay, Duration::from_millis(150));
        assert!(matches!(o.end, End::Body(_)));
        assert_eq!(o.kind(), FaultKind::ResponseBody);

        let o = run(&[HttpFault::latency(Duration::from_millis(1))]);
        assert_eq!(o.kind(), FaultKind::Latency);
        assert!(o.is_faulted());
        assert!(!run(&[]).is_faulted());
        // A zero delay injects nothing.
        assert!(!run(&[HttpFault::latency(Duration::ZERO)]).is_faulted());
    }

    #[test]
    fn a_body_fault_that_does_nothing_is_rejected() {
        let err = HttpFault::ResponseBody(BodyFault::default())
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("http_fault.response_body"), "{err}");
        assert!(HttpFault::latency(Duration::ZERO).validate().is_ok());
    }

    #[test]
    fn latency_takes_a_duration_or_a_distribution_and_counts_as_latency() {
        let fixed = HttpFault::latency(Duration::from_millis(20));
        assert_eq!(
            fixed,
            HttpFault::Latency(Latency::fixed(Duration::from_millis(20)))
        );
        let spread = HttpFault::latency(Latency::uniform(
            Duration::from_millis(10),
            Duration::from_millis(30),
        ));
        for fault in [fixed, spread] {
            assert_eq!(fault.kind(), FaultKind::Latency);
            let o = run(&[fault]);
            assert_eq!(o.kind(), FaultKind::Latency);
            assert!(
                o.delay >= Duration::from_millis(10) && o.delay <= Duration::from_millis(30),
                "{:?}",
                o.delay
            );
        }
        // The same limit as the core's latency: past 365 days is refused.
        let err = HttpFault::latency(Latency::MAX_DELAY + Duration::from_secs(1))
            .validate()
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid `latency.fixed`"), "{err}");
    }
}

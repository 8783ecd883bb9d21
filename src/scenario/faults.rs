//! What a phase does to its target: [`Faults`] and [`RequestFault`], and
//! the per-kind accumulators the engine merges them into.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::ScenarioError;
use super::conditions::Conditions;
use super::cx::Cx;
use super::duration::Text;
use super::limits::within_limit;
use crate::{
    Capacity, ConfigError, Fault, FaultAction, FaultSet, InjectedError, Latency, Rule, Target, Trigger,
};

/// Reads a named attribute of a request (a tenant, a partition key, an
/// operation) for faults keyed on it; see
/// [`Rehearsal::bind_with_attributes`](super::Rehearsal::bind_with_attributes).
pub(crate) type AttrFn<R> = Arc<dyn Fn(&R, &str) -> Option<String> + Send + Sync>;

/// What a phase does to its target while it is active: the target is down,
/// slow, or has some faults.
///
/// Two kinds of content mix freely:
///
/// * **Described** faults, which name no request type: [`down`](Self::down),
///   [`slow`](Self::slow) and [`RequestFault`]s. Files hold these. They
///   become real faults when the rehearsal binds the target: to a request
///   type ([`Rehearsal::bind`](super::Rehearsal::bind)), or to its HTTP
///   layers ([`Rehearsal::bind_http`](super::Rehearsal::bind_http), where
///   `down` is a `503`).
/// * **Typed** rules of any fault kind, exactly as a layer takes them
///   ([`rule`](Self::rule)): request-level, HTTP and connection faults. In
///   files, a phase's `http` and `connection` tables and its `connect` list
///   become typed rules too.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{Faults, RequestFault};
/// use tower_chaos::{Fault, Latency, Trigger};
///
/// let faults = Faults::new()
///     .slow(Latency::fixed(Duration::from_millis(300)))
///     .request(RequestFault::error().rate(0.2))
///     .rule(Fault::<u32>::hang().when(Trigger::every(50)));
/// assert!(!faults.is_down());
/// assert!(!faults.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Faults {
    down: bool,
    slow: Option<Latency>,
    request: Vec<RequestFault>,
    typed: Vec<Arc<dyn Contribute>>,
}

/// Compares what a file can express, and typed rules by identity: `down`,
/// `slow` and the [`RequestFault`]s by value; the HTTP and connection
/// faults of files by their tables as written; a typed rule added with
/// [`rule`](Self::rule) holds closures (its triggers), so it equals only
/// itself — the same rule in a clone of these faults — not a rule built
/// the same way again.
///
/// ```
/// use tower_chaos::scenario::{Faults, RequestFault};
/// use tower_chaos::{Fault, Trigger};
///
/// let described = || Faults::new().down().request(RequestFault::error().rate(0.5));
/// assert_eq!(described(), described());
/// let typed = Faults::new().rule(Fault::<u32>::hang().when(Trigger::every(2)));
/// assert_eq!(typed, typed.clone());
/// assert_ne!(typed, Faults::new().rule(Fault::<u32>::hang().when(Trigger::every(2))));
/// ```
impl PartialEq for Faults {
    fn eq(&self, other: &Self) -> bool {
        self.down == other.down
            && self.slow == other.slow
            && self.request == other.request
            && self.typed.len() == other.typed.len()
            && self
                .typed
                .iter()
                .zip(&other.typed)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a.same(&**b))
    }
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("down", &self.down)
            .field("slow", &self.slow)
            .field("request", &self.request)
            .field("typed", &self.typed)
            .finish()
    }
}

impl Faults {
    /// No faults.
    ///
    /// ```
    /// assert!(tower_chaos::scenario::Faults::new().is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The target is down: every request fails (for a request binding, with
    /// an [`InjectedError`] naming the phase as its rule). Verdicts count
    /// the calls that reach a target while it is down.
    ///
    /// ```
    /// assert!(tower_chaos::scenario::Faults::new().down().is_down());
    /// ```
    #[must_use]
    pub fn down(mut self) -> Self {
        self.down = true;
        self
    }

    /// Every request is delayed by `latency` before the target sees it: a
    /// `Duration` or any [`Latency`], as every latency of the crate.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::Latency;
    /// let f = tower_chaos::scenario::Faults::new().slow(Duration::from_secs(2));
    /// assert_eq!(f.slowness(), Some(Latency::fixed(Duration::from_secs(2))));
    /// ```
    #[must_use]
    pub fn slow(mut self, latency: impl Into<Latency>) -> Self {
        self.slow = Some(latency.into());
        self
    }

    /// Adds a request-level fault described without a request type.
    ///
    /// ```
    /// use tower_chaos::scenario::{Faults, RequestFault};
    /// let f = Faults::new().request(RequestFault::hang().rate(0.01));
    /// assert_eq!(f.requests().len(), 1);
    /// ```
    #[must_use]
    pub fn request(mut self, fault: RequestFault) -> Self {
        self.request.push(fault);
        self
    }

    /// Adds a typed rule of any fault kind: a request-level [`Fault`], an
    /// HTTP fault, a connection fault. Merged with the other phases'
    /// rules of the same kind on the same target, in phase order. Its
    /// [`Trigger::window`]s read the target's clock, not the phase's.
    ///
    /// ```
    /// use tower_chaos::scenario::Faults;
    /// use tower_chaos::{Fault, Trigger};
    /// let f = Faults::new().rule(Fault::<String>::injected_error().when(Trigger::first(3)));
    /// assert!(!f.is_empty());
    /// ```
    #[must_use]
    pub fn rule<A, R>(mut self, rule: Rule<A, R>) -> Self
    where
        A: FaultAction + Clone + fmt::Debug,
        R: ?Sized + 'static,
    {
        self.typed.push(Arc::new(Typed(rule)));
        self
    }

    /// Adds a contribution of typed rules built when the phase is installed
    /// (the HTTP and connection faults of files).
    #[cfg(any(
        all(feature = "serde", any(feature = "http", feature = "io")),
        all(feature = "http", feature = "io")
    ))]
    pub(crate) fn contribution(mut self, contribution: Arc<dyn Contribute>) -> Self {
        self.typed.push(contribution);
        self
    }

    /// Whether these faults take the target down: [`down`](Self::down),
    /// or a fault that fails every request outright — an error, hang or
    /// lost reply, an error response or dropped connection, a DNS failure,
    /// refused or hanging connect — with a trigger that always fires (no
    /// trigger setting, for a [`RequestFault`]) and no budget or cap.
    /// A phase's ramp can make them fail less; [`Phase::is_down`](super::Phase::is_down)
    /// takes it into account.
    ///
    /// ```
    /// use tower_chaos::scenario::Faults;
    /// use tower_chaos::{Fault, Trigger};
    ///
    /// assert!(!Faults::new().is_down());
    /// assert!(Faults::new().down().is_down());
    /// assert!(Faults::new().rule(Fault::<u32>::hang().when(Trigger::always())).is_down());
    /// // Not every request: not down.
    /// assert!(!Faults::new().rule(Fault::<u32>::hang().when(Trigger::rate(0.5))).is_down());
    /// assert!(!Faults::new().rule(Fault::<u32>::hang().when(Trigger::always()).budget(3)).is_down());
    /// ```
    #[must_use]
    pub fn is_down(&self) -> bool {
        self.down || self.fails_every_request()
    }

    /// Whether [`down`](Self::down) was said.
    pub(crate) const fn is_down_flagged(&self) -> bool {
        self.down
    }

    /// Whether a fault fails every request (leaving [`down`](Self::down)
    /// aside).
    pub(crate) fn fails_every_request(&self) -> bool {
        self.request.iter().any(RequestFault::fails_every_request)
            || self.typed.iter().any(|t| t.fails_every_request())
    }

    /// Whether there is nothing to inject.
    ///
    /// ```
    /// assert!(tower_chaos::scenario::Faults::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.down && self.slow.is_none() && self.request.is_empty() && self.typed.is_empty()
    }

    /// The described request-level faults.
    ///
    /// ```
    /// assert!(tower_chaos::scenario::Faults::new().requests().is_empty());
    /// ```
    #[must_use]
    pub fn requests(&self) -> &[RequestFault] {
        &self.request
    }

    /// The latency of [`slow`](Self::slow), if set.
    ///
    /// ```
    /// assert!(tower_chaos::scenario::Faults::new().slowness().is_none());
    /// ```
    #[must_use]
    pub const fn slowness(&self) -> Option<Latency> {
        self.slow
    }

    /// The typed rules and described HTTP and connection faults, in order.
    #[cfg(feature = "serde")]
    pub(crate) fn typed(&self) -> &[Arc<dyn Contribute>] {
        &self.typed
    }

    /// Whether there is described content that needs a binding.
    pub(crate) fn needs_binding(&self) -> bool {
        self.down || self.slow.is_some() || !self.request.is_empty()
    }

    /// The windows of the described faults (request faults, and the HTTP
    /// and connection faults of files), relative to the phase's start.
    pub(crate) fn windows(&self) -> impl Iterator<Item = (Duration, Duration)> + '_ {
        let described = self.request.iter().filter_map(|r| r.when.window);
        described.chain(self.typed.iter().filter_map(|t| t.window()))
    }

    /// Checks what a scenario can check before any rehearsal: the
    /// latencies (as a fault set would when installed) and the windows
    /// (`from` not after `to`, both within [`MAX_DURATION`]). `prefix`
    /// names the table, e.g. `phases[2]`.
    pub(crate) fn validate(&self, prefix: &str) -> Result<(), ScenarioError> {
        let latency = |field: String, l: &Latency| {
            l.validate()
                .map_err(|e| ScenarioError::invalid(field, format!("{l:?}"), config_reason(&e)))
        };
        if let Some(l) = &self.slow {
            latency(format!("{prefix}.slow"), l)?;
        }
        for (j, r) in self.request.iter().enumerate() {
            if let Action::Latency(l) | Action::LatencyAfter(l) = &r.action {
                latency(format!("{prefix}.request[{j}].latency"), l)?;
            }
        }
        let request = self.request.iter().enumerate();
        let described =
            request.filter_map(|(j, r)| Some((format!("{prefix}.request[{j}].window"), r.when.window?)));
        let typed = self
            .typed
            .iter()
            .filter_map(|t| Some((format!("{prefix}.window"), t.window()?)));
        for (field, (from, to)) in described.chain(typed) {
            within_limit(&format!("{field}.from"), from)?;
            within_limit(&format!("{field}.to"), to)?;
            if from > to {
                return Err(ScenarioError::invalid(
                    field,
                    format!("{}..{}", Text(from), Text(to)),
                    "`from` is after `to`",
                ));
            }
        }
        Ok(())
    }

    /// Compiles the phase's faults alone, as a rehearsal would install
    /// them (described faults bound to a stand-in request type), so that a
    /// bad trigger setting or too many rules is an error of the scenario,
    /// named after the fault, rather than of a rehearsal. What only
    /// overlapping phases together get wrong is still found by
    /// [`Rehearsal::check`](super::Rehearsal::check).
    pub(crate) fn dry_check(&self, prefix: &str, cx: &Cx) -> Result<(), ScenarioError> {
        let check = |field: String, fill: &dyn Fn(&mut Accumulator)| {
            let mut acc = Accumulator::default();
            fill(&mut acc);
            acc.check().map_err(|e| scenario_error(field, &e))
        };
        for (j, spec) in self.request.iter().enumerate() {
            check(format!("{prefix}.request[{j}]"), &|acc| {
                acc.push(cx.finish(spec.to_rule::<(), InjectedError>(cx, None)));
            })?;
        }
        for t in &self.typed {
            check(prefix.to_owned(), &|acc| t.contribute(cx, acc))?;
        }
        check(prefix.to_owned(), &|acc| {
            self.contribute_request::<(), InjectedError>(cx, None, acc);
            self.contribute_typed(cx, acc);
        })
    }

    /// Attributes that keyed request faults read.
    pub(crate) fn attributes(&self) -> impl Iterator<Item = &str> {
        self.request
            .iter()
            .filter_map(|r| r.when.keyed.as_ref().map(|(a, _)| &**a))
    }

    /// Adds the typed rules to `acc`.
    pub(crate) fn contribute_typed(&self, cx: &Cx, acc: &mut Accumulator) {
        for t in &self.typed {
            t.contribute(cx, acc);
        }
    }

    /// Adds the described content as request-level faults for `R`/`E`.
    pub(crate) fn contribute_request<R, E>(&self, cx: &Cx, attrs: Option<&AttrFn<R>>, acc: &mut Accumulator)
    where
        R: 'static,
        E: From<InjectedError> + 'static,
    {
        if let Some(l) = self.slow {
            acc.push(cx.finish(Rule::new(Fault::<R, E>::latency(l), Trigger::<R>::always())));
        }
        if self.down {
            acc.push(cx.finish(Rule::new(Fault::<R, E>::injected_error(), Trigger::<R>::always())));
        }
        for spec in &self.request {
            acc.push(cx.finish(spec.to_rule::<R, E>(cx, attrs)));
        }
    }
    /// Adds the described content as HTTP faults: `down` answers `503
    /// Service Unavailable`, `slow` delays the inner call.
    #[cfg(feature = "http")]
    pub(crate) fn contribute_http(&self, cx: &Cx, acc: &mut Accumulator) {
        use crate::http::{HttpFault, HttpRequest, SyntheticResponse};
        if let Some(l) = self.slow {
            acc.push(cx.finish(Rule::new(HttpFault::Latency(l), Trigger::<HttpRequest>::always())));
        }
        if self.down {
            let down = HttpFault::Respond(SyntheticResponse::service_unavailable());
            acc.push(cx.finish(Rule::new(down, Trigger::<HttpRequest>::always())));
        }
        for spec in &self.request {
            acc.push(cx.finish(spec.to_http_rule(cx)));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Latency(Latency),
    LatencyAfter(Latency),
    Error,
    Hang,
    LostReply,
}

/// A request-level fault described without a request type, as scenario
/// files hold them: the fault, its trigger and its limits. It becomes a
/// [`Rule<Fault<R, E>, R>`](crate::Rule) for the request type the rehearsal
/// binds the target to (the error is an [`InjectedError`] converted into
/// `E`).
///
/// Trigger settings combine with "and", evaluated in this fixed order
/// (counting triggers count the requests that reach them):
/// `overload`, `window`, `keyed`, `after`, `first`, `every`, `rate`.
/// With none, the fault fires on every request while its phase is active.
/// A `window` is relative to the phase's start (and compressed by the
/// rehearsal's speed like the timeline). A rule without a name is named
/// after its phase.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::RequestFault;
/// use tower_chaos::{Capacity, Latency};
///
/// let shed = RequestFault::error().overload(Capacity::per_second(100.0)).named("shed");
/// let tail = RequestFault::latency(Latency::log_normal(Duration::from_millis(80), 0.7)).rate(0.3);
/// let lost = RequestFault::lost_reply().every(20).budget(5);
/// let cell = RequestFault::error().keyed("tenant", 0.25);
/// assert_eq!(shed.name(), Some("shed"));
/// # let _ = (tail, lost, cell);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFault {
    action: Action,
    when: Conditions,
}

impl RequestFault {
    const fn new(action: Action) -> Self {
        Self {
            action,
            when: Conditions::new(),
        }
    }

    /// [`Fault::latency`]: delay before the call.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let f = tower_chaos::scenario::RequestFault::latency(Duration::from_millis(5));
    /// assert_eq!(f.kind(), tower_chaos::FaultKind::Latency);
    /// ```
    #[must_use]
    pub fn latency(latency: impl Into<Latency>) -> Self {
        Self::new(Action::Latency(latency.into()))
    }

    /// [`Fault::latency_after`]: delay after the call.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let f = tower_chaos::scenario::RequestFault::latency_after(Duration::from_millis(5));
    /// assert_eq!(f.kind(), tower_chaos::FaultKind::LatencyAfter);
    /// ```
    #[must_use]
    pub fn latency_after(latency: impl Into<Latency>) -> Self {
        Self::new(Action::LatencyAfter(latency.into()))
    }

    /// [`Fault::injected_error`].
    ///
    /// ```
    /// assert_eq!(tower_chaos::scenario::RequestFault::error().kind(), tower_chaos::FaultKind::Error);
    /// ```
    #[must_use]
    pub const fn error() -> Self {
        Self::new(Action::Error)
    }

    /// [`Fault::hang`].
    ///
    /// ```
    /// assert_eq!(tower_chaos::scenario::RequestFault::hang().kind(), tower_chaos::FaultKind::Hang);
    /// ```
    #[must_use]
    pub const fn hang() -> Self {
        Self::new(Action::Hang)
    }

    /// [`Fault::lost_reply_injected`].
    ///
    /// ```
    /// assert_eq!(tower_chaos::scenario::RequestFault::lost_reply().kind(), tower_chaos::FaultKind::LostReply);
    /// ```
    #[must_use]
    pub const fn lost_reply() -> Self {
        Self::new(Action::LostReply)
    }

    /// The kind of fault.
    ///
    /// ```
    /// assert_eq!(tower_chaos::scenario::RequestFault::hang().kind().as_str(), "hang");
    /// ```
    #[must_use]
    pub const fn kind(&self) -> crate::FaultKind {
        match self.action {
            Action::Latency(_) => crate::FaultKind::Latency,
            Action::LatencyAfter(_) => crate::FaultKind::LatencyAfter,
            Action::Error => crate::FaultKind::Error,
            Action::Hang => crate::FaultKind::Hang,
            Action::LostReply => crate::FaultKind::LostReply,
        }
    }

    /// Fires with probability `p` ([`Trigger::rate`]).
    ///
    /// ```
    /// let f = tower_chaos::scenario::RequestFault::error().rate(0.5);
    /// assert!(format!("{f:?}").contains("rate: Some(0.5)"));
    /// ```
    #[must_use]
    pub const fn rate(mut self, p: f64) -> Self {
        self.when.rate = Some(p);
        self
    }

    /// Fires on every `n`-th request ([`Trigger::every`]).
    ///
    /// ```
    /// let f = tower_chaos::scenario::RequestFault::error().every(3);
    /// assert!(format!("{f:?}").contains("every: Some(3)"));
    /// ```
    #[must_use]
    pub const fn every(mut self, n: u64) -> Self {
        self.when.every = Some(n);
        self
    }

    /// Fires on the first `n` requests ([`Trigger::first`]).
    ///
    /// ```
    /// let f = tower_chaos::scenario::RequestFault::error().first(3);
    /// assert!(format!("{f:?}").contains("first: Some(3)"));
    /// ```
    #[must_use]
    pub const fn first(mut self, n: u64) -> Self {
        self.when.first = Some(n);
        self
    }

    /// Lets `n` requests pass, then fires ([`Trigger::after`]).
    ///
    /// ```
    /// let f = tower_chaos::scenario::RequestFault::error().after(3);
    /// assert!(format!("{f:?}").contains("after: Some(3)"));
    /// ```
    #[must_use]
    pub const fn after(mut self, n: u64) -> Self {
        self.when.after = Some(n);
        self
    }

    /// Fires only within `from..to` of the phase's start.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let f = tower_chaos::scenario::RequestFault::hang().window(Duration::ZERO, Duration::from_secs(60));
    /// assert!(format!("{f:?}").contains("window: Some"));
    /// ```
    #[must_use]
    pub const fn window(mut self, from: Duration, to: Duration) -> Self {
        self.when.window = Some((from, to));
        self
    }

    /// Sticky: fires for a fraction `p` of the values of the request
    /// attribute `attribute` ([`Trigger::keyed`]); the binding says how to
    /// read attributes
    /// ([`Rehearsal::bind_with_attributes`](super::Rehearsal::bind_with_attributes)).
    ///
    /// ```
    /// let f = tower_chaos::scenario::RequestFault::error().keyed("tenant", 0.1);
    /// assert!(format!("{f:?}").contains("tenant"));
    /// ```
    #[must_use]
    pub fn keyed(mut self, attribute: impl Into<Arc<str>>, p: f64) -> Self {
        self.when.keyed = Some((attribute.into(), p));
        self
    }

    /// Fires as an overloaded provider sheds load ([`Trigger::overload`]).
    ///
    /// ```
    /// let f = tower_chaos::scenario::RequestFault::error().overload(tower_chaos::Capacity::per_second(10.0));
    /// assert!(format!("{f:?}").contains("overload: Some"));
    /// ```
    #[must_use]
    pub const fn overload(mut self, capacity: Capacity) -> Self {
        self.when.overload = Some(capacity);
        self
    }

    /// At most `n` injections while the phase's fault set is installed
    /// ([`Rule::budget`]).
    ///
    /// ```
    /// let f = tower_chaos::scenario::RequestFault::error().budget(10);
    /// assert!(format!("{f:?}").contains("budget: Some(10)"));
    /// ```
    #[must_use]
    pub const fn budget(mut self, n: u64) -> Self {
        self.when.budget = Some(n);
        self
    }

    /// At most `n` requests carry this fault at once ([`Rule::max_active`]).
    ///
    /// ```
    /// let f = tower_chaos::scenario::RequestFault::hang().max_active(2);
    /// assert!(format!("{f:?}").contains("max_active: Some(2)"));
    /// ```
    #[must_use]
    pub const fn max_active(mut self, n: u32) -> Self {
        self.when.max_active = Some(n);
        self
    }

    /// Names the rule (in injected errors, journals and tracing).
    ///
    /// ```
    /// assert_eq!(tower_chaos::scenario::RequestFault::hang().named("h").name(), Some("h"));
    /// ```
    #[must_use]
    pub fn named(mut self, name: impl Into<Arc<str>>) -> Self {
        self.when.name = Some(name.into());
        self
    }

    /// The rule's name, if set.
    ///
    /// ```
    /// assert_eq!(tower_chaos::scenario::RequestFault::hang().name(), None);
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.when.name.as_deref()
    }

    /// This fault with `conditions` as its trigger settings and limits
    /// (files).
    #[cfg(feature = "serde")]
    pub(crate) fn with_conditions(mut self, conditions: Conditions) -> Self {
        self.when = conditions;
        self
    }

    /// The fault's name in files (`fault = "..."`), its latency if it has
    /// one, and its trigger settings and limits.
    #[cfg(feature = "serde")]
    pub(crate) const fn parts(&self) -> (&'static str, Option<Latency>, &Conditions) {
        let (name, latency) = match self.action {
            Action::Latency(l) => ("latency", Some(l)),
            Action::LatencyAfter(l) => ("latency_after", Some(l)),
            Action::Error => ("error", None),
            Action::Hang => ("hang", None),
            Action::LostReply => ("lost_reply", None),
        };
        (name, latency, &self.when)
    }

    /// The request-level fault for requests `R` whose errors are `E`.
    fn fault<R, E: From<InjectedError>>(&self) -> Fault<R, E> {
        match self.action {
            Action::Latency(l) => Fault::latency(l),
            Action::LatencyAfter(l) => Fault::latency_after(l),
            Action::Error => Fault::injected_error(),
            Action::Hang => Fault::hang(),
            Action::LostReply => Fault::lost_reply_injected(),
        }
    }

    /// The typed rule for requests `R` whose errors are `E`.
    fn to_rule<R, E>(&self, cx: &Cx, attrs: Option<&AttrFn<R>>) -> Rule<Fault<R, E>, R>
    where
        R: 'static,
        E: From<InjectedError> + 'static,
    {
        let fault = self.fault::<R, E>();
        let keyed = self.when.keyed.as_ref().map(|(attr, p)| {
            // Checked before the rehearsal starts: a keyed fault needs
            // attributes. Without them every request shares one key.
            let attrs = attrs.cloned();
            let attr = Arc::clone(attr);
            Trigger::keyed(*p, move |r: &R| attrs.as_ref().and_then(|f| f(r, &attr)))
        });
        self.when
            .limit(Rule::new(fault, self.when.trigger(cx, None, keyed)))
    }

    /// The HTTP rule for this fault: an error is a `503 Service
    /// Unavailable`, a hang a one-day delay (the client's timeout ends it),
    /// a lost reply a dropped connection; a keyed fault keys on the request
    /// header named after its attribute.
    #[cfg(feature = "http")]
    pub(crate) fn to_http_rule(&self, cx: &Cx) -> crate::http::HttpRule {
        use crate::http::{HttpFault, SyntheticResponse};
        let fault = match self.action {
            Action::Latency(l) | Action::LatencyAfter(l) => HttpFault::Latency(l),
            Action::Error => HttpFault::Respond(SyntheticResponse::service_unavailable()),
            Action::Hang => HttpFault::Latency(Latency::fixed(Duration::from_secs(86_400))),
            Action::LostReply => HttpFault::DropConnection,
        };
        let keyed = self.when.keyed.as_ref().map(|(attr, p)| header_keyed(attr, *p));
        self.when
            .limit(Rule::new(fault, self.when.trigger(cx, None, keyed)))
    }

    /// Whether it fails every request outright: a fault that fails
    /// outright (as the request-level fault it becomes), with no trigger
    /// setting or limit.
    fn fails_every_request(&self) -> bool {
        use crate::rule::sealed::Sealed;
        self.fault::<(), InjectedError>().fails_outright() && self.when.is_unconditional()
    }
}

/// Sticky per value of the request header `header`: the HTTP reading of
/// a keyed fault's attribute.
#[cfg(feature = "http")]
pub(crate) fn header_keyed(header: &Arc<str>, p: f64) -> crate::http::HttpTrigger {
    let header = Arc::clone(header);
    Trigger::keyed(p, move |r: &crate::http::HttpRequest| {
        r.headers().get(&*header).cloned()
    })
}

/// A configuration error of the fault at `field`, as a scenario error
/// naming the fault's own field under it (`phases[0].request[1].trigger.every`).
fn scenario_error(field: String, e: &ConfigError) -> ScenarioError {
    match e {
        ConfigError::Invalid {
            field: f,
            value,
            reason,
        } => ScenarioError::Invalid {
            field: format!("{field}.{f}"),
            value: value.clone(),
            reason: (*reason).to_owned(),
        },
        ConfigError::MinAboveMax { field: f, min, max } => ScenarioError::Invalid {
            field: format!("{field}.{f}"),
            value: format!("{min}..{max}"),
            reason: "the minimum is greater than the maximum".to_owned(),
        },
        other => ScenarioError::invalid(field, "", other.to_string()),
    }
}

/// What a configuration error says is wrong with a value (the scenario
/// error names the field).
pub(crate) fn config_reason(e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid { field, reason, .. } => format!("{field}: {reason}"),
        other => other.to_string(),
    }
}

/// A contribution of typed rules to a phase: the extension point through
/// which every fault kind (request, HTTP, connection) reaches the engine.
pub(crate) trait Contribute: Send + Sync + fmt::Debug {
    fn contribute(&self, cx: &Cx, acc: &mut Accumulator);
    /// The window of a described fault, relative to its phase's start
    /// (typed rules' windows read the target's clock: none here).
    fn window(&self) -> Option<(Duration, Duration)> {
        None
    }
    /// Whether the rules fail every request the target sees.
    fn fails_every_request(&self) -> bool;
    /// The contribution itself, for [`same`](Self::same) and for writing
    /// files back.
    #[cfg(any(
        all(feature = "serde", any(feature = "http", feature = "io")),
        all(feature = "http", feature = "io")
    ))]
    fn as_any(&self) -> &dyn Any;
    /// Whether `other` describes the same faults. Described faults (the
    /// `http` and `connection` tables of files) compare by their tables;
    /// typed rules built in code hold closures and compare only by
    /// identity (`Arc::ptr_eq`, in [`Faults`]' `PartialEq`).
    fn same(&self, _other: &dyn Contribute) -> bool {
        false
    }
}

struct Typed<A, R: ?Sized>(Rule<A, R>);

impl<A: fmt::Debug, R: ?Sized> fmt::Debug for Typed<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<A, R> Contribute for Typed<A, R>
where
    A: FaultAction + Clone + fmt::Debug,
    R: ?Sized + 'static,
{
    fn contribute(&self, cx: &Cx, acc: &mut Accumulator) {
        acc.push(cx.finish(self.0.clone()));
    }

    fn fails_every_request(&self) -> bool {
        self.0.fails_every_request()
    }

    #[cfg(any(
        all(feature = "serde", any(feature = "http", feature = "io")),
        all(feature = "http", feature = "io")
    ))]
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Clears the fault set of one kind from a target.
pub(crate) type Clearer = fn(&Target);

fn clear<A: FaultAction, R: ?Sized + 'static>(target: &Target) {
    target.clear_faults::<A, R>();
}

/// A fault set of some kind, type-erased.
trait KindSet: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn install(self: Box<Self>, target: &Target) -> Result<(), ConfigError>;
    fn check(self: Box<Self>) -> Result<(), ConfigError>;
    fn clearer(&self) -> Clearer;
}

impl<A: FaultAction, R: ?Sized + 'static> KindSet for FaultSet<A, R> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn install(self: Box<Self>, target: &Target) -> Result<(), ConfigError> {
        target.set_faults(*self)
    }

    fn check(self: Box<Self>) -> Result<(), ConfigError> {
        crate::rule::Plan::compile(*self, 0).map(drop)
    }

    fn clearer(&self) -> Clearer {
        clear::<A, R>
    }
}

/// One fault set per kind, built from the active phases of a target in
/// phase order.
#[derive(Default)]
pub(crate) struct Accumulator {
    kinds: Vec<(TypeId, Box<dyn KindSet>)>,
}

impl fmt::Debug for Accumulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accumulator")
            .field("kinds", &self.kinds.len())
            .finish()
    }
}

impl Accumulator {
    pub(crate) fn push<A: FaultAction, R: ?Sized + 'static>(&mut self, rule: Rule<A, R>) {
        let id = TypeId::of::<FaultSet<A, R>>();
        let index = match self.kinds.iter().position(|(k, _)| *k == id) {
            Some(i) => i,
            None => {
                self.kinds.push((id, Box::new(FaultSet::<A, R>::new())));
                self.kinds.len() - 1
            }
        };
        if let Some(set) = self.kinds[index].1.as_any_mut().downcast_mut::<FaultSet<A, R>>() {
            set.push(rule);
        }
    }

    /// Installs every kind on `target`; returns the kinds installed with
    /// the way to clear each.
    pub(crate) fn install(self, target: &Target) -> Result<Vec<(TypeId, Clearer)>, ConfigError> {
        let mut installed = Vec::with_capacity(self.kinds.len());
        for (id, set) in self.kinds {
            let clearer = set.clearer();
            set.install(target)?;
            installed.push((id, clearer));
        }
        Ok(installed)
    }

    /// Validates every kind without installing anything.
    pub(crate) fn check(self) -> Result<(), ConfigError> {
        self.kinds.into_iter().try_for_each(|(_, set)| set.check())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_rule_takes_the_target_down_only_when_it_fails_every_request() {
        let down = |rule| Faults::new().rule(rule).is_down();
        assert!(down(Fault::<u8>::injected_error().when(Trigger::always())));
        assert!(down(Fault::<u8>::lost_reply_injected().when(Trigger::rate(1.0))));
        assert!(down(
            Fault::<u8>::hang().when(Trigger::always() & Trigger::rate(1.0))
        ));
        // Not outright failures, or not every request.
        assert!(!down(
            Fault::<u8>::latency(Latency::fixed(Duration::from_secs(9))).into()
        ));
        assert!(!down(Fault::<u8>::hang().when(Trigger::rate(0.999))));
        assert!(!down(Fault::<u8>::hang().when(Trigger::after(1))));
        assert!(!down(Fault::<u8>::hang().when(Trigger::always()).max_active(1)));
        assert!(!down(Fault::<u8>::hang().when(Trigger::always()).budget(1)));
    }

    #[cfg(feature = "http")]
    #[test]
    fn error_responses_and_dropped_connections_are_down_latency_and_bodies_are_not() {
        use crate::http::{BodyFault, HttpFault, RequestMatcher, RetryAfter, SyntheticResponse};
        let down = |fault: HttpFault| Faults::new().rule(fault.when(Trigger::always())).is_down();
        assert!(down(HttpFault::Respond(SyntheticResponse::service_unavailable())));
        assert!(down(HttpFault::Respond(SyntheticResponse::too_many_requests(
            RetryAfter::Seconds(1)
        ))));
        assert!(down(HttpFault::Respond(SyntheticResponse::grpc_unavailable())));
        assert!(down(HttpFault::DropConnection));
        assert!(!down(HttpFault::Respond(SyntheticResponse::grpc(
            crate::http::GrpcCode::Ok,
            ""
        ))));
        assert!(!down(HttpFault::Respond(SyntheticResponse::from_status(
            http::StatusCode::OK
        ))));
        assert!(!down(HttpFault::latency(Duration::from_secs(1))));
        assert!(!down(HttpFault::ResponseBody(BodyFault::truncate_after(1))));
        // A matcher picks some requests only.
        let puts = SyntheticResponse::service_unavailable().when(RequestMatcher::method(http::Method::PUT));
        assert!(!Faults::new().rule(puts).is_down());
    }

    #[cfg(feature = "io")]
    #[test]
    fn failed_connects_are_down_slow_ones_and_stream_faults_are_not() {
        use crate::io::{ConnFault, Direction, Onset};
        let down = |fault: ConnFault| Faults::new().rule(fault.when(Trigger::always())).is_down();
        assert!(down(ConnFault::dns_failure()));
        assert!(down(ConnFault::refuse()));
        assert!(down(ConnFault::connect_hang()));
        assert!(!down(ConnFault::slow_connect(Latency::fixed(
            Duration::from_secs(1)
        ))));
        assert!(!down(ConnFault::reset(Direction::Both, Onset::Immediately)));
    }
}

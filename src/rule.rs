//! Rules and fault sets: which fault, when, and within which limits; and the
//! engine that decides, per request, which rules apply.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::report::{Counters, ExpectedRule};
use crate::rng::{derive, nth};
use crate::screen::Screen;
use crate::switch::Switch;
use crate::trigger::{Cond, Draw, Salts};
use crate::{ConfigError, FaultKind, Trigger};

/// The most rules one fault set may hold (a bit each in an active mask).
pub const MAX_RULES: usize = 64;

/// A fault (the *action* `A`) with the [`Trigger`] that fires it and the
/// limits that cap it. Built with [`Fault::when`](crate::Fault::when) or
/// [`Rule::new`].
///
/// # Limits
///
/// Limits are checked after the trigger fired and only for the rule that
/// is about to apply, so they count applied faults, not evaluations:
///
/// * [`budget`](Self::budget): at most `n` injections in total;
/// * [`max_active`](Self::max_active): at most `n` requests carrying this
///   rule's fault at once (a delayed, hanging or lost-reply request is active
///   until its response future completes or is dropped).
///
/// Both are shared by every clone of the service.
///
/// ```
/// use tower_chaos::{Fault, Rule, Trigger};
///
/// let rule: Rule<Fault<u32>, u32> = Fault::hang()
///     .when(Trigger::rate(0.5))
///     .budget(3)
///     .max_active(1)
///     .named("stuck");
/// assert_eq!(rule.name(), Some("stuck"));
/// ```
pub struct Rule<A, R: ?Sized> {
    action: A,
    trigger: Trigger<R>,
    budget: Option<u64>,
    max_active: Option<u32>,
    name: Option<Arc<str>>,
    expect_to_fire: bool,
    /// A counter shared by several rules, added to each time this rule
    /// injects (a scenario phase expected to fire counts its rules here).
    tally: Option<Arc<AtomicU64>>,
}

impl<A: Clone, R: ?Sized> Clone for Rule<A, R> {
    fn clone(&self) -> Self {
        Self {
            action: self.action.clone(),
            trigger: self.trigger.clone(),
            budget: self.budget,
            max_active: self.max_active,
            name: self.name.clone(),
            expect_to_fire: self.expect_to_fire,
            tally: self.tally.clone(),
        }
    }
}

impl<A: fmt::Debug, R: ?Sized> fmt::Debug for Rule<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("action", &self.action)
            .field("trigger", &self.trigger)
            .field("budget", &self.budget)
            .field("max_active", &self.max_active)
            .field("name", &self.name)
            .field("expect_to_fire", &self.expect_to_fire)
            .finish()
    }
}

impl<A, R: ?Sized> Rule<A, R> {
    /// `action` whenever `trigger` fires.
    ///
    /// ```
    /// # use tower_chaos::{Fault, Rule, Trigger};
    /// let rule: Rule<Fault<()>, ()> = Rule::new(Fault::hang(), Trigger::first(1));
    /// assert!(format!("{rule:?}").contains("First(1)"));
    /// ```
    #[must_use]
    pub const fn new(action: A, trigger: Trigger<R>) -> Self {
        Self {
            action,
            trigger,
            budget: None,
            max_active: None,
            name: None,
            expect_to_fire: false,
            tally: None,
        }
    }

    /// Injects at most `n` times in total (`n >= 1`).
    ///
    /// ```
    /// # use tower_chaos::{Fault, Rule, Trigger};
    /// let rule: Rule<Fault<()>, ()> = Fault::hang().when(Trigger::always()).budget(2);
    /// assert!(format!("{rule:?}").contains("budget: Some(2)"));
    /// ```
    #[must_use]
    pub fn budget(mut self, n: u64) -> Self {
        self.budget = Some(n);
        self
    }

    /// At most `n` requests carry this rule's fault at once. `0` is
    /// accepted and injects nothing, as Envoy's `max_active_faults: 0`:
    /// every firing is refused and counted in
    /// [`Report::faults_overflow`](crate::Report::faults_overflow).
    ///
    /// ```
    /// # use tower_chaos::{Fault, Rule, Trigger};
    /// let rule: Rule<Fault<()>, ()> = Fault::hang().when(Trigger::always()).max_active(2);
    /// assert!(format!("{rule:?}").contains("max_active: Some(2)"));
    /// ```
    #[must_use]
    pub fn max_active(mut self, n: u32) -> Self {
        self.max_active = Some(n);
        self
    }

    /// Names the rule in journals, tracing events and injected errors.
    ///
    /// ```
    /// # use tower_chaos::{Fault, Rule, Trigger};
    /// let rule: Rule<Fault<()>, ()> = Fault::hang().when(Trigger::always()).named("db-stall");
    /// assert_eq!(rule.name(), Some("db-stall"));
    /// ```
    #[must_use]
    pub fn named(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Marks the rule as expected to fire: the target's
    /// [`Report`](crate::Report) lists it in
    /// [`expected`](crate::Report::expected), and
    /// [`Report::assert_expected_fired`](crate::Report::assert_expected_fired)
    /// (or [`verify_expected`](crate::Report::verify_expected)) fails,
    /// naming it, if it never injected its fault — wiremock's
    /// `.expect(1..)`: proof that the chaos was not silently inert (a
    /// trigger that never matches, a set installed where no layer reads
    /// it). Expectations are kept after the set is replaced or cleared. A
    /// named rule ([`named`](Self::named)) is one expectation however often
    /// it is installed (it passes if it fired under any of its
    /// installations; rules in a scenario's phases are named after their
    /// phase unless named); an unnamed rule is one expectation per
    /// installation, called by its position and fault set.
    ///
    /// ```
    /// use tower::{Service, ServiceExt, service_fn};
    /// use tower_chaos::{ChaosLayer, Fault, Trigger};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
    /// let chaos = ChaosLayer::builder("db")
    ///     .seed(1)
    ///     .fault(Fault::injected_error().when(Trigger::first(1)).named("first-fails").expect_to_fire())
    ///     .fault(Fault::hang().when(Trigger::after(100)).named("late-hang").expect_to_fire())
    ///     .build()?;
    /// let target = chaos.target().clone();
    /// let mut svc = tower::ServiceBuilder::new()
    ///     .layer(chaos)
    ///     .service(service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) }));
    /// assert!(svc.ready().await?.call(1).await.is_err());
    ///
    /// let err = target.report().verify_expected().unwrap_err();
    /// assert_eq!(err.not_fired().len(), 1);
    /// assert!(err.to_string().contains("`late-hang`"), "{err}");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub const fn expect_to_fire(mut self) -> Self {
        self.expect_to_fire = true;
        self
    }

    /// Whether the rule is [expected to fire](Self::expect_to_fire).
    ///
    /// ```
    /// # use tower_chaos::{Fault, Rule, Trigger};
    /// let rule: Rule<Fault<()>, ()> = Fault::hang().when(Trigger::first(1)).expect_to_fire();
    /// assert!(rule.is_expected_to_fire());
    /// ```
    #[must_use]
    pub const fn is_expected_to_fire(&self) -> bool {
        self.expect_to_fire
    }

    /// The rule's name, if any.
    ///
    /// ```
    /// # use tower_chaos::{Fault, Rule};
    /// let rule: Rule<Fault<()>, ()> = Fault::hang().into();
    /// assert_eq!(rule.name(), None);
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Adds `extra` after the rule's trigger (`trigger.and(extra)`): used by
    /// scenarios to gate a rule with a ramp.
    #[cfg(feature = "scenario")]
    pub(crate) fn gate(mut self, extra: Trigger<R>) -> Self {
        self.trigger = self.trigger.and(extra);
        self
    }

    /// Whether the rule fails every request it is offered: its fault
    /// fails outright, its trigger always fires, and no budget or cap
    /// limits it.
    #[cfg(feature = "scenario")]
    pub(crate) fn fails_every_request(&self) -> bool
    where
        A: sealed::Sealed,
    {
        self.action.fails_outright()
            && self.trigger.always_fires()
            && self.budget.is_none()
            && self.max_active.is_none()
    }

    /// Marks the rule expected to fire and adds each of its injections to
    /// `tally` too (shared by the rules of a scenario phase).
    #[cfg(feature = "scenario")]
    pub(crate) fn expect_to_fire_into(mut self, tally: &Arc<AtomicU64>) -> Self {
        self.expect_to_fire = true;
        self.tally = Some(Arc::clone(tally));
        self
    }

    /// Names the rule unless it already has a name.
    #[cfg(feature = "scenario")]
    pub(crate) fn name_if_unnamed(mut self, name: &Arc<str>) -> Self {
        if self.name.is_none() {
            self.name = Some(Arc::clone(name));
        }
        self
    }

    /// The fault this rule injects.
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultKind, Rule, Trigger};
    /// let rule: Rule<Fault<()>, ()> = Fault::hang().when(Trigger::always());
    /// assert_eq!(rule.action().kind(), FaultKind::Hang);
    /// ```
    pub const fn action(&self) -> &A {
        &self.action
    }
}

/// An ordered set of [`Rule`]s, installed on a [`Target`](crate::Target)
/// with [`Target::set_faults`](crate::Target::set_faults) (or through a
/// layer builder). Validated when installed.
///
/// Rules are evaluated in the order they were added; how the faults that
/// fire combine is up to the layer (for request-level faults see
/// [`ChaosLayer`](crate::ChaosLayer#resolution-order)).
///
/// ```
/// use tower_chaos::{Fault, FaultSet, Latency, Trigger};
/// use std::time::Duration;
///
/// let faults = FaultSet::new()
///     .with(Fault::latency(Latency::fixed(Duration::from_millis(20))))
///     .with(Fault::injected_error().when(Trigger::every(10)))
///     .max_active(4);
/// let faults: FaultSet<Fault<String>, String> = faults;
/// assert_eq!(faults.len(), 2);
/// ```
pub struct FaultSet<A, R: ?Sized> {
    rules: Vec<Rule<A, R>>,
    max_active: Option<u32>,
}

impl<A: Clone, R: ?Sized> Clone for FaultSet<A, R> {
    fn clone(&self) -> Self {
        Self {
            rules: self.rules.clone(),
            max_active: self.max_active,
        }
    }
}

impl<A: fmt::Debug, R: ?Sized> fmt::Debug for FaultSet<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultSet")
            .field("rules", &self.rules)
            .field("max_active", &self.max_active)
            .finish()
    }
}

impl<A, R: ?Sized> Default for FaultSet<A, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A, R: ?Sized> FaultSet<A, R> {
    /// An empty set: every request passes.
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultSet};
    /// let none: FaultSet<Fault<()>, ()> = FaultSet::new();
    /// assert!(none.is_empty());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            rules: Vec::new(),
            max_active: None,
        }
    }

    /// Appends a rule (a bare fault converts into a rule that always fires).
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultSet};
    /// let set: FaultSet<Fault<()>, ()> = FaultSet::new().with(Fault::hang());
    /// assert_eq!(set.len(), 1);
    /// ```
    #[must_use]
    pub fn with(mut self, rule: impl Into<Rule<A, R>>) -> Self {
        self.rules.push(rule.into());
        self
    }

    /// At most `n` requests carry a fault from this set at once, whatever
    /// the rule (Envoy's `max_active_faults`). A fault refused by a full cap
    /// is not injected and is counted in
    /// [`Report::faults_overflow`](crate::Report::faults_overflow); the
    /// requests holding a fault are [`Report::active_faults`](crate::Report::active_faults).
    /// `0` is accepted and injects nothing (as in Envoy). On an HTTP layer
    /// the cap covers faults asked for through headers too.
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultSet};
    /// let set: FaultSet<Fault<()>, ()> = FaultSet::new().max_active(3);
    /// assert!(format!("{set:?}").contains("Some(3)"));
    /// ```
    #[must_use]
    pub const fn max_active(mut self, n: u32) -> Self {
        self.max_active = Some(n);
        self
    }

    /// Appends a rule in place.
    #[cfg(feature = "scenario")]
    pub(crate) fn push(&mut self, rule: Rule<A, R>) {
        self.rules.push(rule);
    }

    /// Number of rules.
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultSet};
    /// let set: FaultSet<Fault<()>, ()> = FaultSet::new().with(Fault::hang()).with(Fault::hang());
    /// assert_eq!(set.len(), 2);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set has no rules.
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultSet};
    /// assert!(FaultSet::<Fault<()>, ()>::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in evaluation order.
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultSet};
    /// let set: FaultSet<Fault<()>, ()> = FaultSet::new().with(Fault::hang().named("h"));
    /// assert_eq!(set.rules()[0].name(), Some("h"));
    /// ```
    #[must_use]
    pub fn rules(&self) -> &[Rule<A, R>] {
        &self.rules
    }
}

/// A kind of fault a layer of this crate can apply: [`Fault`](crate::Fault)
/// for any `tower::Service`, and the HTTP and connection faults of the
/// feature-gated modules. Sealed: the layers know how to apply each one.
///
/// ```
/// fn installable<A: tower_chaos::FaultAction>() {}
/// installable::<tower_chaos::Fault<String>>();
/// ```
pub trait FaultAction: sealed::Sealed + Send + Sync + 'static {}

impl<T: sealed::Sealed + Send + Sync + 'static> FaultAction for T {}

pub(crate) mod sealed {
    use crate::ConfigError;

    /// Validation lives on the sealed half so it stays out of the API.
    #[allow(unreachable_pub)] // sealed-trait pattern: public in a private module
    pub trait Sealed {
        /// Checks the fault's own parameters.
        fn validate(&self) -> Result<(), ConfigError>;

        /// Whether the layers reading faults of this type see connections
        /// rather than requests: their calls are counted as the report's
        /// `connections` as well as `seen`. Each layer says so of its own
        /// fault type, so the target below them names none.
        const COUNTS_CONNECTIONS: bool = false;

        /// Whether the fault fails the request (or connection) it fires
        /// on outright: an error, a hang, an error response, a refused
        /// connect. Latency, throttles and partial body or stream faults
        /// do not. Scenarios count a phase whose rule does this to every
        /// request as the target being down.
        #[cfg(feature = "scenario")]
        fn fails_outright(&self) -> bool;
    }
}

/// What a layer did with a rule the engine offered it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applied {
    pub(crate) kind: FaultKind,
    pub(crate) delay: Option<Duration>,
    /// The status code of a synthesized response (HTTP status, gRPC
    /// code), for the `error.type` of the injection's event.
    pub(crate) code: Option<u16>,
}

impl Applied {
    /// A delay that came out zero injects nothing (Envoy's
    /// `FixedDelayZeroDuration`, Polly's latency strategy): the layer left
    /// the request as it was, and the engine gives back the rule's limits
    /// and counts nothing.
    pub(crate) fn is_nothing(self) -> bool {
        self.delay == Some(Duration::ZERO)
    }
}

/// What a plan records into as it decides: the target it decides for.
///
/// A trait so that rules stand below targets (a target holds plans; a
/// plan only counts, journals and reads the clock through it). The
/// target's shared state is the one implementation, so every call is
/// monomorphic and inlines as the concrete calls did.
pub(crate) trait Ledger {
    /// The target's name.
    fn name(&self) -> &Arc<str>;
    /// Time since the target was built, on tokio's clock.
    fn elapsed(&self) -> Duration;
    /// The target's counters.
    fn counters(&self) -> &Counters;
    /// Counts, journals and traces one applied fault (`first`: the first
    /// for this request, which counts the request as faulted).
    fn record(&self, first: bool, applied: Applied, rule: usize, rule_name: Option<&Arc<str>>);
}

/// A layer's way of combining the rules that fire for one request.
pub(crate) trait Resolve<A, R: ?Sized> {
    /// Whether the layer can still use `action` for this request (e.g. a
    /// second terminal fault cannot). Asked before limits are consumed.
    fn wants(&self, action: &A) -> bool;
    /// Apply `action`; `rng` seeds any sampling it needs.
    fn take(&mut self, action: &A, req: &R, rng: u64, ctx: &TakeCtx<'_>) -> Applied;
}

/// Context handed to [`Resolve::take`].
#[derive(Debug)]
pub(crate) struct TakeCtx<'a> {
    pub(crate) target: &'a Arc<str>,
    pub(crate) rule_name: Option<&'a Arc<str>>,
}

/// Active-fault slots, shared with response futures so dropping one frees
/// its slots.
#[derive(Debug)]
pub(crate) struct Limits {
    set_max: Option<u32>,
    set_active: AtomicU32,
    rule_active: Box<[AtomicU32]>,
}

fn try_acquire(slot: &AtomicU32, max: u32) -> bool {
    slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        (v < max).then_some(v + 1)
    })
    .is_ok()
}

/// Held by a faulted request until it completes or is dropped: its
/// active-fault slots and its place in the target's
/// [`active_faults`](crate::Report::active_faults) gauge.
#[derive(Debug)]
pub(crate) struct ActiveGuard {
    limits: Option<Arc<Limits>>,
    rules: u64,
    set: bool,
    active: Arc<AtomicU64>,
}

impl ActiveGuard {
    fn new(limits: Option<Arc<Limits>>, set: bool, target: &impl Ledger) -> Self {
        let active = Arc::clone(&target.counters().active);
        active.fetch_add(1, Ordering::AcqRel);
        Self {
            limits,
            rules: 0,
            set,
            active,
        }
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
        let Some(limits) = &self.limits else { return };
        if self.set {
            limits.set_active.fetch_sub(1, Ordering::AcqRel);
        }
        let mut mask = self.rules;
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            limits.rule_active[i].fetch_sub(1, Ordering::AcqRel);
            mask &= mask - 1;
        }
    }
}

struct CompiledRule<A, R: ?Sized> {
    action: A,
    cond: Cond<R>,
    budget: Option<u64>,
    used: AtomicU64,
    max_active: Option<u32>,
    name: Option<Arc<str>>,
    rng_salt: u64,
    /// Times the rule injected, counted only for a rule expected to fire
    /// (shared with the target's list of expectations).
    fired: Option<Arc<AtomicU64>>,
    /// [`Rule`]'s shared counter, if any.
    tally: Option<Arc<AtomicU64>>,
}

/// A rule expected to fire, as a target keeps it: one per installation of
/// an unnamed rule; one per name (and fault set type) for named rules,
/// however often they are installed (a scenario reinstalls its phases'
/// rules at every boundary and names them after their phase).
#[derive(Debug)]
pub(crate) struct Expectation {
    fault_set: String,
    /// The rule's position in the set it was first installed in.
    rule: usize,
    name: Option<Arc<str>>,
    /// One counter per installation.
    fired: Vec<Arc<AtomicU64>>,
}

impl Expectation {
    pub(crate) fn snapshot(&self) -> ExpectedRule {
        ExpectedRule {
            fault_set: self.fault_set.clone(),
            rule: self.rule,
            name: self.name.clone(),
            fired: self
                .fired
                .iter()
                .fold(0u64, |n, f| n.saturating_add(f.load(Ordering::Relaxed))),
        }
    }

    /// Adds `new` to `all`: into the expectation of the same named rule
    /// if there is one.
    pub(crate) fn merge_into(all: &mut Vec<Self>, new: Self) {
        let same = new.name.as_ref().and_then(|name| {
            all.iter_mut()
                .find(|e| e.name.as_ref() == Some(name) && e.fault_set == new.fault_set)
        });
        match same {
            Some(e) => e.fired.extend(new.fired),
            None => all.push(new),
        }
    }
}

/// A call past [`Plan::screen`]: its random bits, the rules whose leading
/// rate passed (all bits when the plan has no screen) and the rate scale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Screened {
    call_bits: u64,
    leads: u64,
    scale: f64,
}

/// A validated fault set with its counters: what a layer evaluates.
pub(crate) struct Plan<A, R: ?Sized> {
    rules: Box<[CompiledRule<A, R>]>,
    /// Set when every rule leads with a constant rate.
    screen: Option<Screen>,
    limits: Option<Arc<Limits>>,
    seed: u64,
}

impl<A, R: ?Sized> fmt::Debug for Plan<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("rules", &self.rules.len())
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl<A: FaultAction, R: ?Sized> Plan<A, R> {
    pub(crate) fn compile(set: FaultSet<A, R>, seed: u64) -> Result<Self, ConfigError> {
        if set.rules.len() > MAX_RULES {
            return Err(ConfigError::invalid(
                "fault_set.rules",
                set.rules.len(),
                "at most 64 rules in one fault set",
            ));
        }
        let mut rules = Vec::with_capacity(set.rules.len());
        for (i, rule) in set.rules.into_iter().enumerate() {
            rule.action.validate()?;
            if rule.budget == Some(0) {
                return Err(ConfigError::invalid("rule.budget", 0, "must be at least 1"));
            }
            rules.push(CompiledRule {
                cond: rule.trigger.compile(&mut Salts::for_rule(i))?,
                action: rule.action,
                budget: rule.budget,
                used: AtomicU64::new(0),
                max_active: rule.max_active,
                name: rule.name,
                rng_salt: derive(i as u64, 0xd157),
                fired: rule.expect_to_fire.then(Arc::default),
                tally: rule.tally,
            });
        }
        let tracked = set.max_active.is_some() || rules.iter().any(|r| r.max_active.is_some());
        let limits = tracked.then(|| {
            Arc::new(Limits {
                set_max: set.max_active,
                set_active: AtomicU32::new(0),
                rule_active: rules.iter().map(|_| AtomicU32::new(0)).collect(),
            })
        });
        Ok(Self {
            screen: Screen::of(rules.iter().map(|r| &r.cond)),
            rules: rules.into_boxed_slice(),
            limits,
            seed,
        })
    }
}

impl<A, R: ?Sized> Plan<A, R> {
    /// Number of rules.
    pub(crate) fn len(&self) -> usize {
        self.rules.len()
    }

    /// The expectations of the rules expected to fire (`fault_set`: the
    /// set's type, for the report).
    pub(crate) fn expectations(&self, fault_set: &str) -> Vec<Expectation> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.fired.as_ref().map(|fired| Expectation {
                    fault_set: fault_set.to_owned(),
                    rule: i,
                    name: r.name.clone(),
                    fired: vec![Arc::clone(fired)],
                })
            })
            .collect()
    }

    /// The rules' actions, in order.
    pub(crate) fn actions(&self) -> impl Iterator<Item = &A> {
        self.rules.iter().map(|r| &r.action)
    }

    /// A plan with no rules.
    pub(crate) fn empty(seed: u64) -> Self {
        Self {
            rules: Box::new([]),
            screen: None,
            limits: None,
            seed,
        }
    }

    /// Decides which rules apply to call number `n`, in rule order, offering
    /// each firing rule to `resolve`: [`screen`](Self::screen), then
    /// [`apply`](Self::apply). Returns `None` when nothing applied; otherwise
    /// the guard that holds the active-fault slots. For a call that may have
    /// been decided before (a live connection re-decided after a switch),
    /// `fresh` says whether a fault applied now makes it count as faulted.
    #[inline]
    #[cfg_attr(not(feature = "io"), allow(dead_code))]
    pub(crate) fn decide_counted<Z: Resolve<A, R>>(
        &self,
        req: &R,
        n: u64,
        switch: Switch,
        target: &impl Ledger,
        resolve: &mut Z,
        fresh: bool,
    ) -> Option<ActiveGuard> {
        let screened = self.screen(n, switch)?;
        self.apply(req, screened, target, resolve, fresh)
    }

    /// The first half of [`decide_counted`](Self::decide_counted), cheap and inline: `None`
    /// when no rule can fire for call `n` (no rules, or the screen says no
    /// leading rate passes); otherwise what [`apply`](Self::apply) needs.
    #[inline]
    pub(crate) fn screen(&self, n: u64, switch: Switch) -> Option<Screened> {
        if self.rules.is_empty() {
            return None;
        }
        let call_bits = nth(self.seed, n);
        // Without a screen every rule is evaluated in full.
        let leads = match &self.screen {
            Some(screen) => screen.pass(call_bits, switch)?,
            None => u64::MAX,
        };
        Some(Screened {
            call_bits,
            leads,
            scale: switch.scale(),
        })
    }

    /// Evaluates the rules, past the screen: `leads` has the bits of the
    /// rules whose leading rate passed (all bits when there is no screen).
    /// Out of line: a screened plan rarely gets here, and the pass path
    /// stays small.
    #[inline(never)]
    pub(crate) fn apply<Z: Resolve<A, R>>(
        &self,
        req: &R,
        screened: Screened,
        target: &impl Ledger,
        resolve: &mut Z,
        fresh: bool,
    ) -> Option<ActiveGuard> {
        let Screened {
            call_bits,
            leads,
            scale,
        } = screened;
        let clock = || target.elapsed();
        let draw = Draw {
            call_bits,
            seed: self.seed,
            scale,
            clock: &clock,
        };
        let mut guard: Option<ActiveGuard> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let fires = match &self.screen {
                Some(screen) => {
                    leads & (1 << i) != 0 && rule.cond.fires_after_lead(req, &draw, screen.lead(i))
                }
                None => rule.cond.fires(req, &draw),
            };
            if !fires || !resolve.wants(&rule.action) {
                continue;
            }
            let first = guard.is_none();
            let Some(acquired) = self.acquire(i, rule, first, target) else {
                continue;
            };
            let ctx = TakeCtx {
                target: target.name(),
                rule_name: rule.name.as_ref(),
            };
            let applied = resolve.take(&rule.action, req, derive(draw.call_bits, rule.rng_salt), &ctx);
            if applied.is_nothing() {
                self.give_back(i, rule, &acquired);
                continue;
            }
            let g = guard.get_or_insert_with(|| ActiveGuard::new(self.limits.clone(), false, target));
            g.set |= acquired.set;
            if acquired.rule {
                g.rules |= 1 << i;
            }
            target.record(first && fresh, applied, i, rule.name.as_ref());
            for counter in rule.fired.iter().chain(&rule.tally) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        guard
    }

    /// Takes this rule's limits; `None` if any is exhausted (nothing held).
    /// A full active-fault cap counts an overflow; a spent budget does not.
    fn acquire(
        &self,
        i: usize,
        rule: &CompiledRule<A, R>,
        first: bool,
        target: &impl Ledger,
    ) -> Option<Acquired> {
        let mut got = Acquired {
            set: false,
            rule: false,
        };
        let Some(limits) = &self.limits else {
            return self.take_budget(rule).then_some(got);
        };
        if first {
            if let Some(max) = limits.set_max {
                if !try_acquire(&limits.set_active, max) {
                    target.counters().overflow();
                    return None;
                }
                got.set = true;
            }
        }
        if let Some(max) = rule.max_active {
            if !try_acquire(&limits.rule_active[i], max) {
                target.counters().overflow();
                self.give_back_slots(i, &got);
                return None;
            }
            got.rule = true;
        }
        if !self.take_budget(rule) {
            self.give_back_slots(i, &got);
            return None;
        }
        Some(got)
    }

    /// Undoes [`acquire`](Self::acquire) for a rule that injected nothing:
    /// its slots and its budget unit.
    fn give_back(&self, i: usize, rule: &CompiledRule<A, R>, got: &Acquired) {
        self.give_back_slots(i, got);
        if rule.budget.is_some() {
            rule.used.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn give_back_slots(&self, i: usize, got: &Acquired) {
        let Some(limits) = &self.limits else { return };
        if got.set {
            limits.set_active.fetch_sub(1, Ordering::AcqRel);
        }
        if got.rule {
            limits.rule_active[i].fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Admits a request to faults applied outside the rules (an HTTP
    /// layer's header control) under the set's
    /// [`max_active`](FaultSet::max_active): `false` (counted as an
    /// overflow) when the cap is full. A request already holding a guard
    /// holds the set's slot (taken by its first rule) and is admitted.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn admit(&self, guard: &mut Option<ActiveGuard>, target: &impl Ledger) -> bool {
        if guard.is_some() {
            return true;
        }
        let mut set = false;
        if let Some(limits) = &self.limits {
            if let Some(max) = limits.set_max {
                if !try_acquire(&limits.set_active, max) {
                    target.counters().overflow();
                    return false;
                }
                set = true;
            }
        }
        *guard = Some(ActiveGuard::new(self.limits.clone(), set, target));
        true
    }

    fn take_budget(&self, rule: &CompiledRule<A, R>) -> bool {
        match rule.budget {
            None => true,
            Some(max) => rule
                .used
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                    (v < max).then_some(v + 1)
                })
                .is_ok(),
        }
    }
}

struct Acquired {
    set: bool,
    rule: bool,
}

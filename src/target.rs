//! Targets: named places in the stack whose faults are switched and
//! counted together.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;
use std::time::Duration;

use tokio::time::Instant;

use crate::report::{Counters, Event, Journal, UnreadFaultSet};
use crate::rng::derive;
use crate::rule::sealed::Sealed;
use crate::rule::{Applied, Expectation, FaultAction, Ledger, Plan};
use crate::seed::{self, SeedSource};
use crate::switch::Switch;
use crate::telemetry::ErrorType;
use crate::{ConfigError, FaultSet, Report};

/// A named place in the stack ("dynamodb", "payments-api", "postgres").
///
/// Layers belong to a target. The `Target` value is a cheap handle
/// (`Clone` is an `Arc` clone): every clone, every layer and every clone of
/// every service built from those layers share one state, so a test can
/// keep a handle and, while requests are in flight,
///
/// * switch all of the target's faults off and on ([`disable`](Self::disable),
///   [`enable`](Self::enable)),
/// * scale every rate ([`set_rate_scale`](Self::set_rate_scale)),
/// * swap the faults themselves ([`set_faults`](Self::set_faults)),
/// * read what happened ([`report`](Self::report)).
///
/// # Seeds
///
/// A target has one seed; each fault set installed on it derives its own
/// stream from it. The seed is, in order of precedence: the one passed to
/// [`TargetBuilder::seed`], the [`SEED_ENV`](crate::SEED_ENV) environment
/// variable (decimal or `0x` hex), or one picked at random. A picked seed is
/// announced through `tracing` and shown in every [`Report`], so a failing
/// run can be replayed with `TOWER_CHAOS_SEED=<seed> cargo test`.
///
/// # Clone
///
/// Clones share everything: state, counters, faults and switches.
///
/// # Example
///
/// ```
/// use tower::{Service, ServiceExt, service_fn};
/// use tower_chaos::{ChaosLayer, Fault, FaultKind, FaultSet, Target, Trigger};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
/// let target = Target::builder("payments").seed(42).build()?;
/// let mut svc = tower::ServiceBuilder::new()
///     .layer(ChaosLayer::for_target(&target))
///     .service(service_fn(|n: u32| async move { Ok::<_, tower::BoxError>(n) }));
///
/// // No faults installed yet: everything passes.
/// assert_eq!(svc.ready().await?.call(1).await?, 1);
///
/// // Swap faults in at run time, without rebuilding the stack.
/// target.set_faults(FaultSet::new().with(Fault::<u32>::injected_error().when(Trigger::always())))?;
/// assert!(svc.ready().await?.call(2).await.is_err());
///
/// target.disable();
/// assert_eq!(svc.ready().await?.call(3).await?, 3);
///
/// let report = target.report();
/// assert_eq!((report.seen, report.injected(FaultKind::Error)), (3, 1));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Target {
    pub(crate) shared: Arc<TargetShared>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.shared.name)
            .field("seed", &self.shared.seed)
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

/// State shared by a target's handles, layers and services.
pub(crate) struct TargetShared {
    pub(crate) name: Arc<str>,
    seed: u64,
    seed_source: SeedSource,
    enabled: AtomicBool,
    scale_bits: AtomicU64,
    /// What a call reads, in one load: [`Switch::OFF`] when disabled, else
    /// the rate scale's bits. Derived from `enabled` and `scale_bits`, which
    /// writers change under `control`.
    switch: AtomicU64,
    control: Mutex<()>,
    epoch: Instant,
    pub(crate) counters: Counters,
    pub(crate) journal: Option<Journal>,
    slots: Mutex<Vec<SlotEntry>>,
    /// Rules installed with [`Rule::expect_to_fire`](crate::Rule::expect_to_fire),
    /// kept after their set is replaced (see [`Expectation`]).
    expectations: Mutex<Vec<Expectation>>,
    /// Bumped after every switch (enable/disable, a fault set swapped), so
    /// that long-lived users (connections) notice with one atomic load.
    generation: AtomicU64,
    /// Woken after every switch, one waker per watcher id.
    watchers: Mutex<HashMap<u64, Waker>>,
    watcher_ids: AtomicU64,
}

impl fmt::Debug for TargetShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetShared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

struct SlotEntry {
    type_id: TypeId,
    /// Whether what reads the slot sees connections, not requests (its
    /// calls are also the report's `connections`): the fault type says so
    /// ([`Sealed::COUNTS_CONNECTIONS`]), so the target names no layer's
    /// types.
    connections: bool,
    slot: Arc<dyn Any + Send + Sync>,
    /// The same slot, for what is done without knowing its types.
    erased: Arc<dyn ErasedSlot>,
    calls: Arc<CallCounts>,
}

/// What a target does with a slot whose types it does not know: report
/// it, clear it.
trait ErasedSlot: Send + Sync {
    /// The fault set's type, short (`FaultSet<HttpFault, HttpRequest>`).
    fn fault_set(&self) -> &str;
    /// Layers and services registered as reading this slot.
    fn readers(&self) -> u64;
    /// Rules in the set installed now.
    fn rules(&self) -> usize;
    /// Installs an empty set.
    fn clear(&self);
}

/// The engine's view of a target: plans count, journal and read the clock
/// through it (see [`Ledger`]).
impl Ledger for TargetShared {
    #[inline]
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    #[inline]
    fn elapsed(&self) -> Duration {
        Self::elapsed(self)
    }

    #[inline]
    fn counters(&self) -> &Counters {
        &self.counters
    }

    #[inline]
    fn record(&self, first: bool, applied: Applied, rule: usize, rule_name: Option<&Arc<str>>) {
        Self::record(self, first, applied, rule, rule_name);
    }
}

impl TargetShared {
    /// Counts, journals and traces one applied fault (`first`: the first
    /// for this request, which counts the request as faulted).
    pub(crate) fn record(&self, first: bool, applied: Applied, rule: usize, rule_name: Option<&Arc<str>>) {
        // By kind first, then faulted: a report reads them the other way
        // round, so it never sees a faulted request without its fault.
        self.counters.injected(applied.kind);
        if first {
            self.counters.faulted();
        }
        // Field names are a contract: see `crate::telemetry`.
        tracing::event!(
            target: "tower_chaos",
            tracing::Level::DEBUG,
            fault.kind = applied.kind.as_str(),
            fault.target = %self.name,
            fault.rule = rule_name.map(|n| &**n),
            fault.rule_index = rule,
            fault.seed = self.seed,
            fault.delay_ns = applied.delay.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            error.type = ErrorType::of(applied.kind, applied.code).map(tracing::field::display),
            "fault injected"
        );
        if let Some(journal) = &self.journal {
            journal.push(Event {
                at: self.elapsed(),
                kind: applied.kind,
                rule,
                rule_name: rule_name.cloned(),
                delay: applied.delay,
            });
        }
    }
}

/// Requests seen by one slot: evaluated (target enabled) or bypassed.
#[derive(Debug, Default)]
pub(crate) struct CallCounts {
    /// Also the call index that random draws are keyed on.
    pub(crate) evaluated: AtomicU64,
    pub(crate) bypassed: AtomicU64,
}

/// The current fault set of one kind on a target, swappable at run time.
///
/// Services cache the `Arc<Plan>` and compare `version` (one atomic load)
/// on each call; only after a swap do they take the lock to refresh. That
/// keeps the pass-through path lock-free.
pub(crate) struct Slot<A, R: ?Sized> {
    plan: Mutex<Arc<Plan<A, R>>>,
    version: AtomicU64,
    pub(crate) calls: Arc<CallCounts>,
    seed: u64,
    /// Registrations of layers, services and connection wrappers reading
    /// this slot. Never decremented: a layer counts from the moment it is
    /// attached, even once dropped (a decrement on every drop would put two
    /// shared atomic writes on each of axum's per-request clones). A set
    /// installed while this is zero injects nothing until one attaches.
    readers: AtomicU64,
    /// Rules in the installed set (read by reports without the lock).
    rules: AtomicUsize,
    fault_set: String,
}

impl<A, R: ?Sized> fmt::Debug for Slot<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<A, R: ?Sized> Slot<A, R> {
    #[inline]
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The seed of this kind of fault set (the stream every plan installed
    /// here draws from).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) const fn seed(&self) -> u64 {
        self.seed
    }

    /// The current plan and its version.
    pub(crate) fn current(&self) -> (Arc<Plan<A, R>>, u64) {
        let plan = self.plan.lock().unwrap_or_else(PoisonError::into_inner);
        (Arc::clone(&plan), self.version.load(Ordering::Acquire))
    }
}

impl<A: FaultAction, R: ?Sized> Slot<A, R> {
    /// Validates and installs `set`; returns the expectations of its rules.
    fn install(&self, set: FaultSet<A, R>) -> Result<Vec<Expectation>, ConfigError> {
        let plan = Arc::new(Plan::compile(set, self.seed)?);
        let expectations = plan.expectations(&self.fault_set);
        let rules = plan.len();
        let mut current = self.plan.lock().unwrap_or_else(PoisonError::into_inner);
        *current = plan;
        self.rules.store(rules, Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(expectations)
    }
}

impl<A: FaultAction, R: ?Sized + 'static> ErasedSlot for Slot<A, R> {
    fn fault_set(&self) -> &str {
        &self.fault_set
    }

    fn readers(&self) -> u64 {
        self.readers.load(Ordering::Relaxed)
    }

    fn rules(&self) -> usize {
        self.rules.load(Ordering::Relaxed)
    }

    fn clear(&self) {
        // An empty set always validates and has no expectations.
        let _ = self.install(FaultSet::new());
    }
}

/// `type_name` without module paths: `FaultSet<Fault<u64, Box<dyn Error +
/// Send + Sync>>, u64>` rather than four lines of `tower_chaos::rule::..`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    // Where the path segment being written started in `out`.
    let mut segment = 0;
    let mut rest = full;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("::") {
            if segment < out.len() {
                // `path::Name`: drop the path.
                out.truncate(segment);
            } else {
                // `<T as Trait>::Assoc`: keep it.
                out.push_str("::");
                segment = out.len();
            }
            rest = after;
            continue;
        }
        if !(c.is_alphanumeric() || c == '_') {
            segment = out.len() + c.len_utf8();
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

impl TargetShared {
    /// Time since the target was built, on tokio's clock.
    pub(crate) fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }

    #[inline]
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Whether the target is on, and its rate scale, in one relaxed load:
    /// the one read every call makes.
    #[inline]
    pub(crate) fn switch(&self) -> Switch {
        Switch::from_bits(self.switch.load(Ordering::Relaxed))
    }

    /// Changes `enabled` or the rate scale, and the switch word with them.
    fn control(&self, change: impl FnOnce(&Self)) {
        let _writer = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        change(self);
        let word = if self.enabled.load(Ordering::Relaxed) {
            self.scale_bits.load(Ordering::Relaxed)
        } else {
            Switch::OFF.to_bits()
        };
        self.switch.store(word, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn rate_scale(&self) -> f64 {
        f64::from_bits(self.scale_bits.load(Ordering::Relaxed))
    }

    /// Changes every time the target is switched (see `generation`).
    #[inline]
    #[cfg_attr(not(feature = "io"), allow(dead_code))]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A fresh id to [`watch`](Self::watch) with.
    #[cfg_attr(not(feature = "io"), allow(dead_code))]
    pub(crate) fn watcher_id(&self) -> u64 {
        self.watcher_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Wakes `waker` at the next switch (once); replaces the waker `id`
    /// registered before.
    #[cfg_attr(not(feature = "io"), allow(dead_code))]
    pub(crate) fn watch(&self, id: u64, waker: &Waker) {
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        match watchers.get_mut(&id) {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => w.clone_from(waker),
            None => {
                watchers.insert(id, waker.clone());
            }
        }
    }

    #[cfg(all(test, feature = "io"))]
    pub(crate) fn watcher_count(&self) -> usize {
        self.watchers.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Forgets watcher `id` (it went away before the next switch).
    #[cfg_attr(not(feature = "io"), allow(dead_code))]
    pub(crate) fn unwatch(&self, id: u64) {
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// Announces a switch: bumps the generation, wakes the watchers.
    fn switched(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let watchers = std::mem::take(&mut *self.watchers.lock().unwrap_or_else(PoisonError::into_inner));
        for w in watchers.into_values() {
            w.wake();
        }
    }
}

impl Target {
    /// Starts building a target named `name`.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("dynamodb").seed(9).journal(100).build()?;
    /// assert_eq!(target.name(), "dynamodb");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn builder(name: impl Into<String>) -> TargetBuilder {
        TargetBuilder {
            name: name.into(),
            seed: None,
            journal: None,
            enabled: true,
        }
    }

    /// A target with the seed from the environment or a random one, and no
    /// journal.
    ///
    /// # Errors
    ///
    /// As [`TargetBuilder::build`].
    ///
    /// ```
    /// let target = tower_chaos::Target::new("cache")?;
    /// assert!(target.is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn new(name: impl Into<String>) -> Result<Self, ConfigError> {
        Self::builder(name).build()
    }

    /// The target's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The seed that replays this target's faults.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("x").seed(5).build()?;
    /// assert_eq!(target.seed(), 5);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Where the seed came from.
    ///
    /// ```
    /// use tower_chaos::{SeedSource, Target};
    /// assert_eq!(Target::builder("x").seed(5).build()?.seed_source(), SeedSource::Builder);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn seed_source(&self) -> SeedSource {
        self.shared.seed_source
    }

    /// Switches faults on (the default). Requests decided after this call
    /// may be faulted; counting triggers resume where they stopped.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("x").seed(1).start_disabled().build()?;
    /// target.enable();
    /// assert!(target.is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn enable(&self) {
        self.set_enabled(true);
    }

    /// Switches every fault of the target off: requests decided after this
    /// call pass straight through (they are still counted as seen). Requests
    /// already in flight keep the faults they were given. Live connections
    /// (feature `io`) are the exception: they drop their faults at their next
    /// poll and take them back on [`enable`](Self::enable) (see
    /// [`io`](crate::io#switching-at-run-time)).
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("x").seed(1).build()?;
    /// target.disable();
    /// assert!(!target.is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn disable(&self) {
        self.set_enabled(false);
    }

    /// Switches faults on or off.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("x").seed(1).build()?;
    /// target.set_enabled(false);
    /// assert!(!target.is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn set_enabled(&self, enabled: bool) {
        self.shared
            .control(|s| s.enabled.store(enabled, Ordering::Relaxed));
        self.shared.switched();
        tracing::info!(target: "tower_chaos", chaos_target = %self.shared.name, enabled, "chaos switched");
    }

    /// Whether faults are on.
    ///
    /// ```
    /// assert!(tower_chaos::Target::builder("x").seed(1).build()?.is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.shared.is_enabled()
    }

    /// Multiplies the probability of every [`Trigger::rate`] and
    /// [`Trigger::keyed`] of this target by `scale` (capped at 1). `1.0` is
    /// the default; `0.0` silences random faults but not counting ones.
    ///
    /// [`Trigger::rate`]: crate::Trigger::rate
    /// [`Trigger::keyed`]: crate::Trigger::keyed
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for a negative, infinite or NaN scale.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("x").seed(1).build()?;
    /// target.set_rate_scale(0.5)?;
    /// assert_eq!(target.rate_scale(), 0.5);
    /// assert!(target.set_rate_scale(f64::NAN).is_err());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn set_rate_scale(&self, scale: f64) -> Result<(), ConfigError> {
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(ConfigError::invalid(
                "target.rate_scale",
                scale,
                "must be finite and >= 0",
            ));
        }
        self.shared
            .control(|s| s.scale_bits.store(scale.to_bits(), Ordering::Relaxed));
        Ok(())
    }

    /// The current rate scale.
    ///
    /// ```
    /// assert_eq!(tower_chaos::Target::builder("x").seed(1).build()?.rate_scale(), 1.0);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn rate_scale(&self) -> f64 {
        self.shared.rate_scale()
    }

    /// Replaces the target's faults of this kind (request-level faults for
    /// requests of type `R`, HTTP faults, connection faults) for every layer
    /// of the target, at once, without rebuilding any stack. Requests already
    /// in flight keep the faults they were given; the new set's counting
    /// triggers, budgets and active-fault caps start from zero. Live
    /// connections (feature `io`) are re-decided against the new set (see
    /// [`io`](crate::io#switching-at-run-time)).
    ///
    /// # Sets no layer reads
    ///
    /// The kind is the set's type: a `FaultSet<Fault<u64>, u64>` is not
    /// read by a `ChaosLayer<u32>`, nor a `Fault<u32, io::Error>` set by a
    /// layer whose error type is `BoxError`. Such a set is accepted (a
    /// layer of that kind may be attached later) but, while no layer,
    /// service or connection wrapper of the target reads it, it logs a
    /// `tracing` warning (target `tower_chaos`) when installed and is listed
    /// in [`Report::unread_fault_sets`] and the report's `Display`. Prefer
    /// the typed handles, where a mismatch does not compile:
    /// [`ChaosLayer::faults`](crate::ChaosLayer::faults),
    /// `HttpChaosLayer::faults` / `Target::http_faults` (feature `http`),
    /// `Target::conn_faults` (feature `io`).
    ///
    /// # Errors
    ///
    /// The set is validated first; on error nothing changes.
    ///
    /// ```
    /// use tower_chaos::{ChaosLayer, Fault, FaultSet, Target, Trigger};
    ///
    /// let target = Target::builder("x").seed(1).build()?;
    /// let _layer: ChaosLayer<u32> = ChaosLayer::for_target(&target);
    /// // Accepted, but no layer reads `u64` requests: reported.
    /// target.set_faults(FaultSet::new().with(Fault::<u64>::hang()))?;
    /// assert_eq!(target.report().unread_fault_sets.len(), 1);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    ///
    /// ```
    /// use tower_chaos::{Fault, FaultSet, Target, Trigger};
    ///
    /// let target = Target::builder("x").seed(1).build()?;
    /// let bad: FaultSet<Fault<()>, ()> = FaultSet::new().with(Fault::hang().when(Trigger::rate(2.0)));
    /// assert!(target.set_faults(bad).is_err());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn set_faults<A, R>(&self, faults: FaultSet<A, R>) -> Result<(), ConfigError>
    where
        A: FaultAction,
        R: ?Sized + 'static,
    {
        let slot = self.slot_entry::<A, R>(false);
        let expectations = slot.install(faults)?;
        self.shared.switched();
        let rules = ErasedSlot::rules(&*slot);
        if rules > 0 && ErasedSlot::readers(&*slot) == 0 {
            tracing::warn!(
                target: "tower_chaos",
                chaos_target = %self.shared.name,
                fault_set = %slot.fault_set,
                rules,
                "no layer of this target reads these faults: they inject nothing until one is attached \
                 (check the request and error types of the `ChaosLayer`, or install through a layer's `faults()`)"
            );
        }
        if !expectations.is_empty() {
            let mut all = self
                .shared
                .expectations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for e in expectations {
                Expectation::merge_into(&mut all, e);
            }
        }
        Ok(())
    }

    /// Removes the target's faults of kind `A` for requests `R`. Without a
    /// turbofish: [`ChaosLayer::clear_faults`](crate::ChaosLayer::clear_faults),
    /// [`FaultHandle::clear`](crate::FaultHandle::clear),
    /// `clear_http_faults` (feature `http`), `clear_conn_faults` (feature
    /// `io`), and [`clear_all_faults`](Self::clear_all_faults) for every kind.
    ///
    /// ```
    /// use tower_chaos::{Fault, FaultSet, Target};
    /// let target = Target::builder("x").seed(1).build()?;
    /// target.set_faults(FaultSet::new().with(Fault::<String>::hang()))?;
    /// assert_eq!(target.report().unread_fault_sets[0].rules, 1);
    /// target.clear_faults::<Fault<String>, String>();
    /// assert!(target.report().unread_fault_sets.is_empty());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn clear_faults<A, R>(&self)
    where
        A: FaultAction,
        R: ?Sized + 'static,
    {
        // An empty set always validates.
        let _ = self.set_faults(FaultSet::<A, R>::new());
    }

    /// Removes every fault installed on the target, of every kind (request,
    /// HTTP and connection faults alike), in one switch. Expectations of
    /// rules already installed ([`Rule::expect_to_fire`](crate::Rule::expect_to_fire))
    /// stay in the report.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
    /// use tower::{Service, ServiceExt, service_fn};
    /// use tower_chaos::{ChaosLayer, Fault, FaultSet, Target};
    ///
    /// let target = Target::builder("x").seed(1).build()?;
    /// let mut svc = tower::ServiceBuilder::new()
    ///     .layer(ChaosLayer::for_target(&target))
    ///     .service(service_fn(|n: u32| async move { Ok::<_, tower::BoxError>(n) }));
    /// target.set_faults(FaultSet::new().with(Fault::<u32>::injected_error()))?;
    /// assert!(svc.ready().await?.call(1).await.is_err());
    ///
    /// target.clear_all_faults();
    /// assert_eq!(svc.ready().await?.call(2).await?, 2);
    /// # Ok(()) }
    /// ```
    pub fn clear_all_faults(&self) {
        let slots: Vec<Arc<dyn ErasedSlot>> = self
            .shared
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|e| Arc::clone(&e.erased))
            .collect();
        for slot in slots {
            slot.clear();
        }
        self.shared.switched();
    }

    /// Time since the target was built, on tokio's clock (what
    /// [`Trigger::window`](crate::Trigger::window) compares against).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), tower_chaos::ConfigError> {
    /// let target = tower_chaos::Target::builder("x").seed(1).build()?;
    /// tokio::time::advance(std::time::Duration::from_secs(90)).await;
    /// assert_eq!(target.elapsed().as_secs(), 90);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.shared.elapsed()
    }

    /// What the target's layers have seen and injected so far.
    ///
    /// ```
    /// let report = tower_chaos::Target::builder("x").seed(1).build()?.report();
    /// assert_eq!((report.seen, report.faulted), (0, 0));
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn report(&self) -> Report {
        self.snapshot(true)
    }

    /// Counters, journal and call counts back to zero, so that a report
    /// taken during an exploration's run counts that run only (the call
    /// counts are also the index random draws are keyed on: each run then
    /// draws the same as the first). Faults, expectations and the active
    /// gauge are left.
    #[cfg(feature = "explore")]
    pub(crate) fn reset_counts(&self) {
        let s = &self.shared;
        s.counters.reset();
        if let Some(journal) = &s.journal {
            journal.clear();
        }
        for e in s.slots.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            e.calls.evaluated.store(0, Ordering::Relaxed);
            e.calls.bypassed.store(0, Ordering::Relaxed);
        }
    }

    /// Counters only (no journal): cheap enough to take at every boundary
    /// of a scenario.
    #[cfg(feature = "scenario")]
    pub(crate) fn counts(&self) -> Report {
        self.snapshot(false)
    }

    /// Requests seen by every slot (and connections, by the connection
    /// slot), the counters, and the journal if asked.
    ///
    /// The slots are read after the counters (inside [`Report::new`]): a
    /// call is counted in its slot before it can count as faulted, so the
    /// report never shows more faulted requests than seen ones.
    fn snapshot(&self, with_journal: bool) -> Report {
        let s = &self.shared;
        let seen = || {
            let (mut seen, mut connections) = (0u64, 0u64);
            for e in s.slots.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                // Counters wrap rather than panic after 2^64 calls.
                let n = e
                    .calls
                    .evaluated
                    .load(Ordering::Relaxed)
                    .wrapping_add(e.calls.bypassed.load(Ordering::Relaxed));
                seen = seen.wrapping_add(n);
                if e.connections {
                    connections = connections.wrapping_add(n);
                }
            }
            (seen, connections)
        };
        let journal = if with_journal { s.journal.as_ref() } else { None };
        let mut report = Report::new(&s.name, (s.seed, s.seed_source), &s.counters, journal, seen);
        report.unread_fault_sets = self.unread_fault_sets();
        report.expected = s
            .expectations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(Expectation::snapshot)
            .collect();
        report
    }

    /// The slots holding rules that no layer or service reads.
    fn unread_fault_sets(&self) -> Vec<UnreadFaultSet> {
        self.shared
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e.erased.rules() > 0 && e.erased.readers() == 0)
            .map(|e| UnreadFaultSet {
                fault_set: e.erased.fault_set().to_owned(),
                rules: e.erased.rules(),
            })
            .collect()
    }

    /// The slot for faults `A` on requests `R`, created empty on first
    /// use, for a reader: the caller (a layer, a service, a connection)
    /// applies the faults installed there, so a set installed there is not
    /// reported as unread.
    pub(crate) fn slot<A, R>(&self) -> Arc<Slot<A, R>>
    where
        A: FaultAction,
        R: ?Sized + 'static,
    {
        self.slot_entry(true)
    }

    /// Registers the caller (a listener, a proxy: they look their slot up
    /// per connection) as reading faults `A` on requests `R`.
    #[cfg_attr(not(feature = "io"), allow(dead_code))]
    pub(crate) fn read_faults<A, R>(&self)
    where
        A: FaultAction,
        R: ?Sized + 'static,
    {
        let _ = self.slot_entry::<A, R>(true);
    }

    /// The slot for faults `A` on requests `R`, created empty on first
    /// use; `reader`: registers the caller as reading it.
    fn slot_entry<A, R>(&self, reader: bool) -> Arc<Slot<A, R>>
    where
        A: FaultAction,
        R: ?Sized + 'static,
    {
        let id = TypeId::of::<Slot<A, R>>();
        let mut slots = self.shared.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = slots.iter().find(|e| e.type_id == id) {
            if let Ok(slot) = Arc::clone(&found.slot).downcast::<Slot<A, R>>() {
                if reader {
                    slot.readers.fetch_add(1, Ordering::Relaxed);
                }
                return slot;
            }
        }
        // Each kind of fault set draws from its own stream of the seed,
        // numbered in order of first use.
        let seed = derive(self.shared.seed, slots.len() as u64);
        let calls = Arc::new(CallCounts::default());
        let slot = Arc::new(Slot {
            plan: Mutex::new(Arc::new(Plan::empty(seed))),
            version: AtomicU64::new(0),
            calls: Arc::clone(&calls),
            seed,
            readers: AtomicU64::new(u64::from(reader)),
            rules: AtomicUsize::new(0),
            fault_set: short_type_name(std::any::type_name::<FaultSet<A, R>>()),
        });
        slots.push(SlotEntry {
            type_id: id,
            connections: <A as Sealed>::COUNTS_CONNECTIONS,
            slot: Arc::clone(&slot) as Arc<dyn Any + Send + Sync>,
            erased: Arc::clone(&slot) as Arc<dyn ErasedSlot>,
            calls,
        });
        slot
    }
}

/// Builds a [`Target`]; see [`Target::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct TargetBuilder {
    name: String,
    seed: Option<u64>,
    journal: Option<usize>,
    enabled: bool,
}

impl TargetBuilder {
    /// Fixes the seed (takes precedence over the environment).
    ///
    /// ```
    /// assert_eq!(tower_chaos::Target::builder("x").seed(99).build()?.seed(), 99);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Keeps a journal of the newest `capacity` injected faults (`>= 1`);
    /// older ones are dropped and counted in
    /// [`Report::journal_dropped`].
    ///
    /// ```
    /// let err = tower_chaos::Target::builder("x").journal(0).build().unwrap_err();
    /// assert!(err.to_string().contains("target.journal"));
    /// ```
    pub const fn journal(mut self, capacity: usize) -> Self {
        self.journal = Some(capacity);
        self
    }

    /// Starts with faults switched off (see [`Target::enable`]).
    ///
    /// ```
    /// let t = tower_chaos::Target::builder("x").seed(1).start_disabled().build()?;
    /// assert!(!t.is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub const fn start_disabled(mut self) -> Self {
        self.enabled = false;
        self
    }

    /// Builds the target.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty name, a zero journal capacity, or a
    /// [`SEED_ENV`](crate::SEED_ENV) value that is not a `u64`.
    ///
    /// ```
    /// let err = tower_chaos::Target::builder("").build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `target.name` = \"\": must not be empty");
    /// ```
    pub fn build(self) -> Result<Target, ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid(
                "target.name",
                &self.name,
                "must not be empty",
            ));
        }
        if self.journal == Some(0) {
            return Err(ConfigError::invalid(
                "target.journal",
                0,
                "capacity must be at least 1",
            ));
        }
        let (seed, seed_source) = seed::resolve(self.seed)?;
        if seed_source == SeedSource::Random {
            tracing::info!(
                target: "tower_chaos",
                chaos_target = %self.name,
                seed,
                "no seed given: picked one; replay with {}={seed}",
                crate::SEED_ENV
            );
        }
        Ok(Target {
            shared: Arc::new(TargetShared {
                name: self.name.into(),
                seed,
                seed_source,
                enabled: AtomicBool::new(self.enabled),
                switch: AtomicU64::new(if self.enabled {
                    1.0f64.to_bits()
                } else {
                    Switch::OFF.to_bits()
                }),
                control: Mutex::new(()),
                scale_bits: AtomicU64::new(1.0f64.to_bits()),
                epoch: Instant::now(),
                counters: Counters::default(),
                journal: self.journal.map(Journal::new),
                slots: Mutex::new(Vec::new()),
                expectations: Mutex::new(Vec::new()),
                generation: AtomicU64::new(0),
                watchers: Mutex::new(HashMap::new()),
                watcher_ids: AtomicU64::new(0),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_type_names_drop_module_paths_only() {
        assert_eq!(
            short_type_name(
                "tower_chaos::rule::FaultSet<tower_chaos::fault::Fault<u64, alloc::boxed::Box<dyn core::error::Error \
                 + core::marker::Send + core::marker::Sync>>, u64>"
            ),
            "FaultSet<Fault<u64, Box<dyn Error + Send + Sync>>, u64>"
        );
        assert_eq!(
            short_type_name("a::B<(&'static str, [c::D; 2]), <e::F as g::H>::I>"),
            "B<(&'static str, [D; 2]), <F as H>::I>"
        );
        assert_eq!(short_type_name("<a::F as b::H>::c::I"), "<F as H>::I");
        assert_eq!(short_type_name("u32"), "u32");
    }
}

//! Rehearsals: running a scenario against real targets on tokio's clock.

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::cx::Cx;
use super::duration::Text;
use super::faults::{Accumulator, AttrFn, Clearer};
use super::limits::MAX_DURATION;
use super::probe::{Probe, RunShared};
use super::report::{self, Mark, RehearsalReport};
use super::timeline::{Spell, label};
use super::{Faults, Scenario, ScenarioError};
use crate::{InjectedError, Target};

/// Turns a phase's described faults (`down`, `slow`, request faults) into
/// typed rules for one kind of layer of a target.
pub(crate) trait Binder: Send + Sync + fmt::Debug {
    fn has_attributes(&self) -> bool;
    fn bind(&self, faults: &Faults, cx: &Cx, acc: &mut Accumulator);
}

struct RequestBinder<R, E> {
    attrs: Option<AttrFn<R>>,
    _types: PhantomData<fn(R) -> E>,
}

impl<R, E> fmt::Debug for RequestBinder<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBinder")
            .field("request", &std::any::type_name::<R>())
            .field("error", &std::any::type_name::<E>())
            .field("attributes", &self.attrs.is_some())
            .finish()
    }
}

impl<R: 'static, E: From<InjectedError> + 'static> Binder for RequestBinder<R, E> {
    fn has_attributes(&self) -> bool {
        self.attrs.is_some()
    }

    fn bind(&self, faults: &Faults, cx: &Cx, acc: &mut Accumulator) {
        faults.contribute_request::<R, E>(cx, self.attrs.as_ref(), acc);
    }
}

/// Binds described faults to the HTTP faults of an
/// [`HttpChaosLayer`](crate::http::HttpChaosLayer).
#[cfg(feature = "http")]
#[derive(Debug)]
struct HttpBinder;

#[cfg(feature = "http")]
impl Binder for HttpBinder {
    fn has_attributes(&self) -> bool {
        // Keyed faults key on the request header named by the attribute.
        true
    }

    fn bind(&self, faults: &Faults, cx: &Cx, acc: &mut Accumulator) {
        faults.contribute_http(cx, acc);
    }
}

#[derive(Debug)]
struct Bound {
    target: Target,
    binders: Vec<Arc<dyn Binder>>,
}

/// Where a running rehearsal is: published on a `watch` channel
/// ([`Rehearsal::status`]) at every change of the timeline.
///
/// ```
/// let status = tower_chaos::scenario::Status::default();
/// assert!(!status.started && !status.finished && status.active.is_empty());
/// assert!(!status.is_active("outage"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// Whether the run has started.
    pub started: bool,
    /// Scenario time of the last change.
    pub at: Duration,
    /// The phases active since then, in phase order.
    pub active: Vec<ActivePhase>,
    /// Whether the run is over (every fault it installed is cleared).
    pub finished: bool,
}

impl Status {
    /// Whether the phase named `name` is active.
    ///
    /// ```
    /// assert!(!tower_chaos::scenario::Status::default().is_active("x"));
    /// ```
    #[must_use]
    pub fn is_active(&self, name: &str) -> bool {
        self.active.iter().any(|a| a.name == name)
    }
}

/// A phase that is active, in a [`Status`].
///
/// ```
/// use tower_chaos::scenario::{ActivePhase, Spell};
/// # fn check(a: &ActivePhase) -> bool {
/// a.spell == Spell::Bad
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActivePhase {
    /// The phase.
    pub name: String,
    /// Its target.
    pub target: String,
    /// Which part of it.
    pub spell: Spell,
}

/// Runs a [`Scenario`] against real [`Target`]s on tokio's clock, and
/// reports what happened.
///
/// 1. Give it the targets: [`bind`](Self::bind) a target to the request
///    type of its layer (so that described faults, such as those of files,
///    become [`Fault<R, E>`](crate::Fault)s), or only register it with
///    [`target`](Self::target) when its phases use typed rules.
/// 2. Take [`probe`](Self::probe)s for the caller's side and a
///    [`status`](Self::status) receiver, if wanted.
/// 3. [`run`](Self::run) it (a future; `tokio::spawn` it or `join!` it with
///    the workload) or [`spawn`](Self::spawn) it.
///
/// # The engine
///
/// The timeline is cut into segments at every phase start and end and
/// every flapping switch. At each cut the runner computes, per target, the
/// spells active from then on, merges their rules into one fault set per
/// kind (in phase order), installs each kind with
/// [`Target::set_faults`], and clears the kinds that are no longer active.
/// A target's fault set is re-installed only when what is active on it
/// changes; at that moment the set's counting triggers, budgets, caps and
/// overload windows restart. Counters are read at every cut for the report.
///
/// # Time and speed
///
/// Everything runs on tokio's clock: under `#[tokio::test(start_paused =
/// true)]` a 14-hour timeline replays in milliseconds. In real time,
/// [`speed`](Self::speed) compresses the *timeline*: phase offsets and
/// durations, flapping spells, ramps and request-fault windows are divided
/// by it (3600 = an hour per second). Per-request physics are not: fault
/// latencies, overload capacities and the client's own timeouts and
/// backoffs keep their real values, so a client is rehearsed against the
/// latencies it will really meet. Reports give timeline positions in
/// scenario time and latencies and recovery delays in real time.
///
/// # Boundaries
///
/// A call made at the very instant of a cut may see either side of it:
/// tasks woken at the same instant run in an unspecified order. A probe's
/// layer and [`Probe::observe`] count it on the side whose faults it saw,
/// so the report stays consistent; [`Probe::record`], given only the
/// instant, counts it in the phase that starts there. Steady test clients
/// are best offset from the cuts.
///
/// # Cancellation
///
/// Dropping the run future (or aborting a spawned run) at any point clears
/// every fault set the rehearsal installed; targets are left as they were
/// before it started (faults installed by others on the same kinds are
/// replaced while it runs).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
/// use tower_chaos::scenario::{Phase, Rehearsal, RequestFault, Scenario};
/// use tower_chaos::{ChaosLayer, Target};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), BoxError> {
/// let min = Duration::from_secs(60);
/// let scenario = Scenario::builder("brownout")
///     .phase(Phase::new("errors", "api").at(2 * min).lasting(5 * min).request(RequestFault::error().rate(0.5)))
///     .duration(10 * min)
///     .build()?;
/// let api = Target::builder("api").seed(7).build()?;
/// let rehearsal = Rehearsal::new(&scenario).bind::<u32, BoxError>(&api);
/// let probe = rehearsal.probe("api")?;
/// let run = tokio::spawn(rehearsal.run());
///
/// let mut client = ServiceBuilder::new()
///     .layer(probe.layer())
///     .layer(ChaosLayer::for_target(&api))
///     .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
/// for n in 0..600 {
///     let _ = client.ready().await?.call(n).await;
///     tokio::time::sleep(Duration::from_secs(1)).await;
/// }
/// let report = run.await??;
/// report.assert_error_rate_below("errors", 0.6)?;
/// report.assert_recovered_within("api", Duration::from_secs(1))?;
/// assert_eq!(report.target("api").unwrap().rows[0].label, "before");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a rehearsal does nothing until it is run"]
pub struct Rehearsal {
    run: Arc<RunShared>,
    targets: Vec<Bound>,
    /// The registered targets by name (`targets` indices).
    by_name: HashMap<String, usize>,
    probes: Vec<Probe>,
    speed: f64,
    status: watch::Sender<Status>,
    /// Per phase, the injections of its rules, counted for the phases
    /// expected to fire.
    fired: Vec<Option<Arc<AtomicU64>>>,
}

impl Rehearsal {
    /// A rehearsal of `scenario` (cloned), at speed 1, with no targets yet.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// let err = Rehearsal::new(&scenario).check().unwrap_err();
    /// assert!(err.to_string().starts_with("target `db` of the scenario was not given to the rehearsal"));
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    pub fn new(scenario: &Scenario) -> Self {
        let run = Arc::new(RunShared {
            timeline: scenario.timeline(),
            scenario: scenario.clone(),
            start: OnceLock::new(),
            segment: AtomicUsize::new(usize::MAX),
            entered: Mutex::new(Vec::new()),
        });
        let probes = scenario
            .targets()
            .into_iter()
            .map(|t| Probe::new(t.into(), Arc::clone(&run)))
            .collect();
        let fired = scenario
            .phases
            .iter()
            .map(|p| p.expect_to_fire.then(Arc::default))
            .collect();
        Self {
            run,
            targets: Vec::new(),
            by_name: HashMap::new(),
            probes,
            speed: 1.0,
            status: watch::Sender::new(Status::default()),
            fired,
        }
    }

    fn entry(&mut self, target: &Target) -> &mut Bound {
        let targets = &mut self.targets;
        let i = *self.by_name.entry(target.name().to_owned()).or_insert_with(|| {
            targets.push(Bound {
                target: target.clone(),
                binders: Vec::new(),
            });
            targets.len() - 1
        });
        &mut self.targets[i]
    }

    /// Registers `target` (matched to the scenario by name) for phases with
    /// typed rules only, and to read its counters.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// use tower_chaos::{Fault, Target, Trigger};
    /// let scenario = Scenario::builder("s")
    ///     .phase(Phase::new("p", "db").lasting(Duration::from_secs(1)).rule(Fault::<u8>::hang().when(Trigger::always())))
    ///     .build()?;
    /// let db = Target::builder("db").seed(1).build().unwrap();
    /// assert!(Rehearsal::new(&scenario).target(&db).check().is_ok());
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    pub fn target(mut self, target: &Target) -> Self {
        self.entry(target);
        self
    }

    /// Registers `target` and binds its described faults to request-level
    /// [`Fault<R, E>`](crate::Fault)s: the faults of a
    /// [`ChaosLayer<R, E>`](crate::ChaosLayer) on that target. `down`
    /// becomes an [`InjectedError`] converted into `E` (`tower::BoxError`
    /// accepts it). A target may be bound to several request types.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1)).down()).build()?;
    /// let db = tower_chaos::Target::builder("db").seed(1).build().unwrap();
    /// assert!(Rehearsal::new(&scenario).target(&db).check().is_err(), "down needs a request type");
    /// assert!(Rehearsal::new(&scenario).bind::<String, tower::BoxError>(&db).check().is_ok());
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    pub fn bind<R, E>(mut self, target: &Target) -> Self
    where
        R: 'static,
        E: From<InjectedError> + 'static,
    {
        self.entry(target).binders.push(Arc::new(RequestBinder::<R, E> {
            attrs: None,
            _types: PhantomData,
        }));
        self
    }

    /// [`bind`](Self::bind), with a way to read a named attribute of a
    /// request, for faults [keyed](super::RequestFault::keyed) on one
    /// (`keyed = { attribute = "tenant", rate = 0.25 }` in files). Requests
    /// without the attribute (`None`) share one key.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, RequestFault, Scenario};
    /// let scenario = Scenario::builder("s")
    ///     .phase(Phase::new("p", "db").lasting(Duration::from_secs(1)).request(RequestFault::error().keyed("tenant", 0.5)))
    ///     .build()?;
    /// let db = tower_chaos::Target::builder("db").seed(1).build().unwrap();
    /// let by_tenant = |req: &(String, u32), attr: &str| (attr == "tenant").then(|| req.0.clone());
    /// assert!(Rehearsal::new(&scenario).bind_with_attributes::<_, tower::BoxError, _>(&db, by_tenant).check().is_ok());
    /// assert!(Rehearsal::new(&scenario).bind::<(String, u32), tower::BoxError>(&db).check().is_err());
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    pub fn bind_with_attributes<R, E, F>(mut self, target: &Target, attributes: F) -> Self
    where
        R: 'static,
        E: From<InjectedError> + 'static,
        F: Fn(&R, &str) -> Option<String> + Send + Sync + 'static,
    {
        self.entry(target).binders.push(Arc::new(RequestBinder::<R, E> {
            attrs: Some(Arc::new(attributes)),
            _types: PhantomData,
        }));
        self
    }

    /// Registers `target` and binds its described faults to HTTP faults:
    /// those of an [`HttpChaosLayer`](crate::http::HttpChaosLayer) on that
    /// target (feature `http`). `down` answers `503 Service Unavailable`,
    /// `slow` delays the inner call, a request error is a `503`, a hang a
    /// one-day delay (the client's timeout ends it), a lost reply a dropped
    /// connection, and a keyed fault keys on the request header named by
    /// its attribute. Per-operation effects (`429` with `Retry-After`, AWS
    /// `ThrottlingException`, "PUT fails while GET recovers") are
    /// [`HttpRule`](crate::http::HttpRule)s added with [`Phase::rule`](super::Phase::rule),
    /// or built by the helpers of [`presets`](super::presets).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "api").lasting(Duration::from_secs(1)).down()).build()?;
    /// let api = tower_chaos::Target::builder("api").seed(1).build().unwrap();
    /// assert!(Rehearsal::new(&scenario).bind_http(&api).check().is_ok());
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[cfg(feature = "http")]
    pub fn bind_http(mut self, target: &Target) -> Self {
        self.entry(target).binders.push(Arc::new(HttpBinder));
        self
    }

    /// Compresses the timeline by `factor` (finite, > 0; 1 by default):
    /// 3600 replays an hour per second. See the type's docs for what is
    /// and is not scaled.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// let db = tower_chaos::Target::builder("db").seed(1).build().unwrap();
    /// let err = Rehearsal::new(&scenario).target(&db).speed(0.0).check().unwrap_err();
    /// assert!(err.to_string().contains("`speed` = 0"));
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    pub const fn speed(mut self, factor: f64) -> Self {
        self.speed = factor;
        self
    }

    /// The caller-side probe for calls to the target named `target`. Every
    /// call returns a handle to the same probe.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::UnknownTarget`] if the scenario has no phase on
    /// that target.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// assert!(Rehearsal::new(&scenario).probe("cache").is_err());
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    pub fn probe(&self, target: &str) -> Result<Probe, ScenarioError> {
        self.probes
            .iter()
            .find(|p| p.target() == target)
            .cloned()
            .ok_or_else(|| ScenarioError::UnknownTarget {
                target: target.to_owned(),
                known: self.probes.iter().map(|p| p.target().to_owned()).collect(),
            })
    }

    /// A receiver of the rehearsal's [`Status`]: the active phases, updated
    /// at every change of the timeline.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// let status = Rehearsal::new(&scenario).status();
    /// assert!(!status.borrow().started);
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Checks, without running anything, what [`run`](Self::run) checks
    /// first: the speed, that every target of the scenario was given, that
    /// described faults have a binding (and attributes when keyed), and
    /// that the faults active together at every point of the timeline make
    /// valid fault sets.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`ScenarioError`].
    ///
    /// A phase's own faults were already checked when the scenario was
    /// built; what only overlapping phases get wrong together (more rules
    /// of one kind than a fault set takes) is found here.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, RequestFault, Scenario, ScenarioError};
    /// let minute = Duration::from_secs(60);
    /// let crowded = |name: &str| {
    ///     (0..40).fold(Phase::new(name, "db").lasting(minute), |p, _| p.request(RequestFault::error().rate(0.01)))
    /// };
    /// let scenario = Scenario::builder("s").phase(crowded("a")).phase(crowded("b")).build()?;
    /// let db = tower_chaos::Target::builder("db").seed(1).build().unwrap();
    /// let err = Rehearsal::new(&scenario).bind::<u8, tower::BoxError>(&db).check().unwrap_err();
    /// assert!(matches!(err, ScenarioError::Faults { .. }));
    /// assert!(err.to_string().starts_with("target `db` while `a+b` is active"), "{err}");
    /// // A bad fault of one phase is an error of the scenario itself.
    /// let bad = Phase::new("p", "db").lasting(minute).request(RequestFault::error().rate(1.5));
    /// let err = Scenario::builder("s").phase(bad).build().unwrap_err();
    /// assert!(err.to_string().contains("phases[0].request[0].trigger.rate"), "{err}");
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    pub fn check(&self) -> Result<(), ScenarioError> {
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(ScenarioError::invalid(
                "speed",
                self.speed,
                "must be finite and > 0",
            ));
        }
        let scenario = &self.run.scenario;
        // Every deadline of the run is a scenario time divided by the
        // speed: bounded here, the arithmetic of the run cannot overflow.
        let latest = scenario.latest_offset();
        if latest.as_secs_f64() / self.speed > MAX_DURATION.as_secs_f64() {
            return Err(ScenarioError::invalid(
                "speed",
                self.speed,
                format!(
                    "stretches {} of timeline beyond {} (MAX_DURATION) of tokio time",
                    Text(latest),
                    Text(MAX_DURATION)
                ),
            ));
        }
        for name in scenario.targets() {
            if !self.by_name.contains_key(name) {
                return Err(ScenarioError::TargetNotGiven {
                    target: name.to_owned(),
                    given: self.targets.iter().map(|b| b.target.name().to_owned()).collect(),
                });
            }
        }
        let of_phase = self.target_of_phase();
        for (p, &ti) in scenario.phases.iter().zip(&of_phase) {
            let bound = &self.targets[ti];
            let contents = std::iter::once(&p.faults).chain(p.flap.as_ref().map(|f| &f.while_good));
            for faults in contents {
                if faults.needs_binding() && bound.binders.is_empty() {
                    return Err(ScenarioError::Unbound {
                        phase: p.name.to_string(),
                        target: p.target.to_string(),
                        kind: "request",
                    });
                }
                if let Some(attribute) = faults.attributes().next() {
                    if bound.binders.iter().any(|b| !b.has_attributes()) {
                        return Err(ScenarioError::NoAttributes {
                            phase: p.name.to_string(),
                            target: p.target.to_string(),
                            attribute: attribute.to_owned(),
                        });
                    }
                }
            }
        }
        let mut seen = HashSet::new();
        for seg in &self.run.timeline.segments {
            for (ti, active) in by_target(&of_phase, &seg.active) {
                if !seen.insert((ti, active.clone())) {
                    continue;
                }
                let bound = &self.targets[ti];
                self.accumulate(bound, &active, Duration::ZERO)
                    .check()
                    .map_err(|source| ScenarioError::Faults {
                        target: bound.target.name().to_owned(),
                        state: label(scenario, bound.target.name(), seg).to_string(),
                        source,
                    })?;
            }
        }
        Ok(())
    }

    /// For each phase, the index of its registered target (`check` made
    /// sure there is one).
    fn target_of_phase(&self) -> Vec<usize> {
        self.run
            .scenario
            .phases
            .iter()
            .map(|p| self.by_name.get(&*p.target).copied().unwrap_or(usize::MAX))
            .collect()
    }

    /// The merged fault sets of `active` spells on `bound`, whose clock read
    /// `base` when the run started.
    fn accumulate(&self, bound: &Bound, active: &[(usize, Spell)], base: Duration) -> Accumulator {
        let speed = self.speed;
        let mut acc = Accumulator::default();
        for (i, spell) in active {
            let p = &self.run.scenario.phases[*i];
            let faults = match (spell, &p.flap) {
                (Spell::Good, Some(flap)) => &flap.while_good,
                _ => &p.faults,
            };
            // `check` bounded every scenario time divided by the speed.
            let start = base + p.at.div_f64(speed);
            let cx = Cx {
                phase: Arc::clone(&p.name),
                start,
                speed,
                ramp: p
                    .ramp
                    .map(|(from, to)| (from, to, start, base + p.end().div_f64(speed))),
                fired: self.fired[*i].clone(),
            };
            if faults.needs_binding() {
                for b in &bound.binders {
                    b.bind(faults, &cx, &mut acc);
                }
            }
            faults.contribute_typed(&cx, &mut acc);
        }
        acc
    }

    /// Starts the rehearsal and returns the future that runs it to the end
    /// of the timeline and yields its report.
    ///
    /// The start is taken *now*, when `run` is called, not when the future
    /// is first polled: the timeline's clock starts, the faults of phases
    /// at offset zero are installed, and probes attribute calls from here
    /// on. So `tokio::spawn(rehearsal.run())` followed at once by the
    /// workload loses nothing. The future is `Send + 'static`: spawn it, or
    /// join it with the workload. See the type's docs for time, speed and
    /// cancellation.
    ///
    /// # Errors
    ///
    /// What [`check`](Self::check) finds, before anything is installed.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let h = Duration::from_secs(3600);
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(14 * h).down()).build()?;
    /// let db = tower_chaos::Target::builder("db").seed(1).build()?;
    /// let started = tokio::time::Instant::now();
    /// let report = Rehearsal::new(&scenario).bind::<u8, tower::BoxError>(&db).run().await?;
    /// assert_eq!(started.elapsed(), 14 * h);
    /// assert_eq!(report.duration, 14 * h);
    /// # Ok(()) }
    /// ```
    pub fn run(self) -> impl Future<Output = Result<RehearsalReport, ScenarioError>> + Send + 'static {
        let running = Running::start(self);
        async move { running?.drive().await }
    }
    /// Spawns [`run`](Self::run) on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(60)).down()).build()?;
    /// let db = tower_chaos::Target::builder("db").seed(1).build()?;
    /// let handle = Rehearsal::new(&scenario).bind::<u8, tower::BoxError>(&db).spawn();
    /// let mut status = handle.status();
    /// status.wait_for(|s| s.is_active("p")).await?;
    /// let report = handle.wait().await?;
    /// assert_eq!(report.phases.len(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use = "dropping the handle aborts the rehearsal"]
    pub fn spawn(self) -> RehearsalHandle {
        let status = self.status();
        RehearsalHandle {
            task: Some(tokio::spawn(self.run())),
            status,
        }
    }
}

/// A rehearsal under way: its clock, what it installed, the counters read
/// at each cut.
struct Running {
    r: Rehearsal,
    /// When each segment after the first starts, then when the timeline
    /// ends.
    deadlines: Vec<Instant>,
    bases: Vec<Duration>,
    guard: Installed,
    /// Per target, the spells whose faults are installed.
    current: Vec<Vec<(usize, Spell)>>,
    /// The target of each phase.
    of_phase: Vec<usize>,
    marks: Vec<Vec<Mark>>,
}

impl Running {
    /// Checks, starts the clock and enters the first segment.
    fn start(r: Rehearsal) -> Result<Self, ScenarioError> {
        r.check()?;
        let t0 = Instant::now();
        let timeline = &r.run.timeline;
        let ends = timeline.segments.iter().map(|s| s.from).skip(1);
        let deadlines = ends
            .chain([r.run.scenario.duration])
            .map(|at| t0.checked_add(at.div_f64(r.speed)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ScenarioError::invalid(
                    "speed",
                    r.speed,
                    "the timeline ends beyond what tokio's clock can read",
                )
            })?;
        let of_phase = r.target_of_phase();
        let _ = r.run.start.set((t0, r.speed));
        tracing::info!(
            target: "tower_chaos",
            scenario = %r.run.scenario.name,
            speed = r.speed,
            phases = r.run.scenario.phases.len(),
            "rehearsal started"
        );
        let mut running = Self {
            deadlines,
            of_phase,
            bases: r.targets.iter().map(|b| b.target.elapsed()).collect(),
            guard: Installed {
                entries: r.targets.iter().map(|b| (b.target.clone(), Vec::new())).collect(),
            },
            current: vec![Vec::new(); r.targets.len()],
            marks: Vec::with_capacity(r.run.timeline.segments.len() + 1),
            r,
        };
        running.enter(0)?;
        Ok(running)
    }

    fn snapshot(&mut self) {
        self.marks.push(
            self.r
                .targets
                .iter()
                .map(|b| Mark::from(b.target.counts()))
                .collect(),
        );
    }

    /// Reads the counters, installs what segment `i` needs, and publishes it.
    fn enter(&mut self, i: usize) -> Result<(), ScenarioError> {
        self.snapshot();
        let r = &self.r;
        let seg = &r.run.timeline.segments[i];
        // Only the targets active before or from now can change: the work
        // per cut is in what is active, not in the number of targets.
        let mut next: HashMap<usize, Vec<(usize, Spell)>> = by_target(&self.of_phase, &seg.active).collect();
        let before = self.current.iter().enumerate().filter(|(_, a)| !a.is_empty());
        let mut changed: Vec<usize> = before.map(|(ti, _)| ti).chain(next.keys().copied()).collect();
        changed.sort_unstable();
        changed.dedup();
        for ti in changed {
            let bound = &r.targets[ti];
            let active = next.remove(&ti).unwrap_or_default();
            if self.current[ti] == active {
                continue;
            }
            let installed = r
                .accumulate(bound, &active, self.bases[ti])
                .install(&bound.target)
                .map_err(|source| ScenarioError::Faults {
                    target: bound.target.name().to_owned(),
                    state: label(&r.run.scenario, bound.target.name(), seg).to_string(),
                    source,
                })?;
            self.guard.replace(ti, installed);
            self.current[ti] = active;
        }
        r.run.enter(i);
        let active = seg
            .active
            .iter()
            .map(|(i, spell)| {
                let p = &r.run.scenario.phases[*i];
                ActivePhase {
                    name: p.name.to_string(),
                    target: p.target.to_string(),
                    spell: *spell,
                }
            })
            .collect::<Vec<_>>();
        tracing::info!(
            target: "tower_chaos",
            scenario = %r.run.scenario.name,
            at = %super::duration::Text(seg.from),
            active = ?active.iter().map(|a| &a.name).collect::<Vec<_>>(),
            "rehearsal timeline moved"
        );
        r.status.send_replace(Status {
            started: true,
            at: seg.from,
            active,
            finished: false,
        });
        Ok(())
    }

    async fn drive(mut self) -> Result<RehearsalReport, ScenarioError> {
        let speed = self.r.speed;
        for i in 1..self.r.run.timeline.segments.len() {
            sleep_until(self.deadlines[i - 1]).await;
            self.enter(i)?;
        }
        if let Some(end) = self.deadlines.last() {
            sleep_until(*end).await;
        }
        self.snapshot();
        let Self { r, guard, marks, .. } = self;
        drop(guard);
        r.status.send_replace(Status {
            started: true,
            at: r.run.scenario.duration,
            active: Vec::new(),
            finished: true,
        });
        tracing::info!(target: "tower_chaos", scenario = %r.run.scenario.name, "rehearsal finished");
        let targets: Vec<&Target> = r.targets.iter().map(|b| &b.target).collect();
        let fired: Vec<Option<u64>> = r
            .fired
            .iter()
            .map(|f| f.as_ref().map(|n| n.load(Ordering::Relaxed)))
            .collect();
        Ok(report::build(&r.run, speed, &targets, &marks, &r.probes, &fired))
    }
}

/// The active spells of a segment grouped by target index (`of_phase`
/// gives each phase's), each group in phase order.
fn by_target(
    of_phase: &[usize],
    active: &[(usize, Spell)],
) -> impl Iterator<Item = (usize, Vec<(usize, Spell)>)> {
    let mut groups: Vec<(usize, Vec<(usize, Spell)>)> = Vec::new();
    let mut slot: HashMap<usize, usize> = HashMap::new();
    for &(i, spell) in active {
        let ti = of_phase[i];
        let g = *slot.entry(ti).or_insert_with(|| {
            groups.push((ti, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push((i, spell));
    }
    groups.into_iter()
}

/// What the rehearsal installed on each target, cleared on drop (at the
/// end of the run, or when the run future is dropped).
struct Installed {
    entries: Vec<(Target, Vec<(TypeId, Clearer)>)>,
}

impl Installed {
    fn replace(&mut self, ti: usize, installed: Vec<(TypeId, Clearer)>) {
        let (target, kinds) = &mut self.entries[ti];
        for (id, clear) in kinds.drain(..) {
            if !installed.iter().any(|(i, _)| *i == id) {
                clear(target);
            }
        }
        *kinds = installed;
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        for (target, kinds) in &mut self.entries {
            for (_, clear) in kinds.drain(..) {
                clear(target);
            }
        }
    }
}

/// A rehearsal running in its own task; see [`Rehearsal::spawn`].
///
/// Dropping the handle aborts the rehearsal (and clears its faults), as a
/// scoped guard does; [`wait`](Self::wait) for the report instead.
///
/// ```
/// # use std::time::Duration;
/// use tower_chaos::scenario::{Phase, Rehearsal, Scenario, ScenarioError};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(60)).down()).build()?;
/// let db = tower_chaos::Target::builder("db").seed(1).build()?;
/// let handle = Rehearsal::new(&scenario).bind::<u8, tower::BoxError>(&db).spawn();
/// handle.abort();
/// assert_eq!(handle.wait().await.unwrap_err(), ScenarioError::Aborted);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RehearsalHandle {
    task: Option<JoinHandle<Result<RehearsalReport, ScenarioError>>>,
    status: watch::Receiver<Status>,
}

impl RehearsalHandle {
    /// A receiver of the rehearsal's [`Status`] (see [`Rehearsal::spawn`]).
    #[must_use]
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Stops the rehearsal; its faults are cleared (see the type's
    /// example).
    pub fn abort(&self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    /// Waits for the report (see [`Rehearsal::spawn`]).
    ///
    /// # Errors
    ///
    /// As [`Rehearsal::run`], or [`ScenarioError::Aborted`] if the task was
    /// aborted.
    ///
    /// # Panics
    ///
    /// Resumes a panic of the rehearsal's task.
    pub async fn wait(mut self) -> Result<RehearsalReport, ScenarioError> {
        let Some(task) = self.task.take() else {
            return Err(ScenarioError::Aborted);
        };
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(ScenarioError::Aborted),
        }
    }
}

impl Drop for RehearsalHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

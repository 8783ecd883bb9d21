//! Probes: what the caller observed, recorded on the caller's side.

use std::any::Any;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::Scenario;
use super::histogram::Histogram;
use super::timeline::Timeline;
use crate::macros::inner_accessors;
use crate::{BoxError, InjectedError};

/// What a rehearsal shares with its probes: the timeline, and once the run
/// has started, its start instant and speed.
#[derive(Debug)]
pub(crate) struct RunShared {
    pub(crate) scenario: Scenario,
    pub(crate) timeline: Timeline,
    pub(crate) start: OnceLock<(Instant, f64)>,
    /// The segment the runner has entered (its faults are installed);
    /// `usize::MAX` before the run starts. Calls observed from their start
    /// read it then, so they agree with what was installed even at the
    /// exact instant of a cut.
    pub(crate) segment: AtomicUsize,
    /// The instant the runner entered each segment, in segment order: how
    /// a call recorded after the fact ([`Probe::record`]) is attributed by
    /// the instant it started.
    pub(crate) entered: Mutex<Vec<Instant>>,
}

impl RunShared {
    /// Marks segment `i` as entered now (its faults are installed).
    pub(crate) fn enter(&self, i: usize) {
        let mut entered = self.entered.lock().unwrap_or_else(PoisonError::into_inner);
        // The runner enters segments once each, in order.
        debug_assert_eq!(entered.len(), i, "segments are entered in order");
        entered.push(Instant::now());
        drop(entered);
        self.segment.store(i, Ordering::Release);
    }

    /// The segment that was current at `instant`: the last one entered at
    /// or before it (`usize::MAX` if none was).
    fn segment_at(&self, instant: Instant) -> usize {
        let entered = self.entered.lock().unwrap_or_else(PoisonError::into_inner);
        entered
            .partition_point(|t| *t <= instant)
            .checked_sub(1)
            .unwrap_or(usize::MAX)
    }
}

/// What the caller saw in one segment of the timeline.
#[derive(Debug, Clone, Default)]
pub(crate) struct Obs {
    pub(crate) calls: u64,
    pub(crate) ok: u64,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) latency: Histogram,
}

impl Obs {
    pub(crate) fn merge(&mut self, other: &Self) {
        self.calls += other.calls;
        self.ok += other.ok;
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
        self.latency.merge(&other.latency);
    }
}

#[derive(Debug)]
pub(crate) struct ProbeState {
    pub(crate) segments: Vec<Obs>,
    /// Calls that started before the rehearsal did.
    pub(crate) unattributed: u64,
    /// Per phase of this probe's target: the phase's index, the segment
    /// that starts when it ends, and how long after that (real time) the
    /// first success completed.
    pub(crate) recoveries: Vec<(usize, usize, Option<Duration>)>,
}

#[derive(Debug)]
pub(crate) struct ProbeShared {
    pub(crate) target: Arc<str>,
    run: Arc<RunShared>,
    pub(crate) state: Mutex<ProbeState>,
}

/// The caller's side of a rehearsal: records the outcome and latency of
/// each call the application makes to a target, and which part of the
/// timeline it fell in (by the time the call started). Get one from
/// [`Rehearsal::probe`](super::Rehearsal::probe), then either
///
/// * wrap the client service with [`layer`](Self::layer) (a tower layer on
///   the *caller's* side, outside the client's retries to see what users
///   see, or inside them to see each attempt),
/// * or wrap a call's future with [`observe`](Self::observe),
/// * or record by hand with [`record`](Self::record).
///
/// A call that is dropped before it completes (a timeout around the probe,
/// a cancelled task) counts as an error of class `cancelled`.
///
/// # Error classes
///
/// Errors are counted by class. The default classifier
/// ([`DefaultClassify`]) recognises an [`InjectedError`] (directly or in a
/// [`BoxError`]) as `injected <kind>` (e.g. `injected error`), tokio's
/// `Elapsed` as `timeout`, and calls anything else `error`; give your own
/// with [`layer_with`](Self::layer_with) or
/// [`observe_with`](Self::observe_with).
///
/// # Clone
///
/// Clones record into the same place.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
/// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
/// use tower_chaos::{ChaosLayer, Target};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), BoxError> {
/// let s = Duration::from_secs;
/// let scenario = Scenario::builder("blip")
///     .phase(Phase::new("down", "db").at(s(10)).lasting(s(10)).down())
///     .duration(s(30))
///     .build()?;
/// let db = Target::builder("db").seed(1).build()?;
/// let rehearsal = Rehearsal::new(&scenario).bind::<u32, BoxError>(&db);
/// let probe = rehearsal.probe("db")?;
/// let mut client = ServiceBuilder::new()
///     .layer(probe.layer())
///     .layer(ChaosLayer::for_target(&db))
///     .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
///
/// let run = tokio::spawn(rehearsal.run());
/// for n in 0..30 {
///     let _ = client.ready().await?.call(n).await;
///     tokio::time::sleep(s(1)).await;
/// }
/// let report = run.await??;
/// let outage = report.phase("down").unwrap();
/// assert_eq!((outage.caller.calls, outage.caller.ok), (10, 0));
/// assert_eq!(outage.caller.errors, [("injected error".to_string(), 10)]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Probe {
    shared: Arc<ProbeShared>,
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe")
            .field("target", &self.shared.target)
            .finish_non_exhaustive()
    }
}

impl Probe {
    pub(crate) fn new(target: Arc<str>, run: Arc<RunShared>) -> Self {
        let recoveries = run
            .scenario
            .phases
            .iter()
            .enumerate()
            .filter(|(_, p)| p.target == target)
            .map(|(i, p)| {
                let after = run.timeline.segments.partition_point(|s| s.from < p.end());
                (i, after, None)
            })
            .collect();
        let segments = vec![Obs::default(); run.timeline.segments.len()];
        Self {
            shared: Arc::new(ProbeShared {
                target,
                run,
                state: Mutex::new(ProbeState {
                    segments,
                    unattributed: 0,
                    recoveries,
                }),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &ProbeShared {
        &self.shared
    }

    /// The target whose calls this probe records.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// let probe = Rehearsal::new(&scenario).probe("db")?;
    /// assert_eq!(probe.target(), "db");
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub fn target(&self) -> &str {
        &self.shared.target
    }

    /// Records one call that started at `started` (tokio's clock) and ended
    /// now, with `outcome`: `Ok(())`, or `Err(class)`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), tower_chaos::scenario::ScenarioError> {
    /// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// let rehearsal = Rehearsal::new(&scenario).target(&tower_chaos::Target::builder("db").seed(1).build().unwrap());
    /// let probe = rehearsal.probe("db")?;
    /// let run = tokio::spawn(rehearsal.run());
    /// tokio::task::yield_now().await;
    /// probe.record(tokio::time::Instant::now(), Err("throttled"));
    /// let report = run.await.unwrap()?;
    /// assert_eq!(report.phase("p").unwrap().caller.errors, [("throttled".to_string(), 1)]);
    /// # Ok(()) }
    /// ```
    ///
    /// The call is counted in the segment of the timeline that was current
    /// at `started`, even when it ends after a change of phase: the last
    /// segment the rehearsal had entered at or before that instant. A call
    /// started at the very instant of a cut counts in the phase that
    /// begins there; under paused time a call made at that instant may run
    /// before the rehearsal installed the new faults (tasks woken together
    /// run in any order), so [`observe`](Self::observe) and
    /// [`layer`](Self::layer), which read the installed phase when the call
    /// starts, attribute such a call by what it saw. A call that started
    /// before the rehearsal did is counted in
    /// [`unattributed_calls`](super::TargetSummary::unattributed_calls).
    pub fn record(&self, started: Instant, outcome: Result<(), &str>) {
        let segment = self.shared.run.segment_at(started);
        self.record_class(started, segment, outcome.map_err(Cow::Borrowed));
    }

    fn record_class(&self, started: Instant, segment: usize, outcome: Result<(), Cow<'_, str>>) {
        let now = Instant::now();
        let run = &self.shared.run;
        let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(&(t0, speed)) = run.start.get() else {
            state.unattributed += 1;
            return;
        };
        if segment >= state.segments.len() || started < t0 {
            state.unattributed += 1;
            return;
        }
        let obs = &mut state.segments[segment];
        obs.calls += 1;
        obs.latency.record(now - started);
        match outcome {
            Ok(()) => {
                obs.ok += 1;
                let current = run.segment.load(Ordering::Acquire);
                for (_, after, first) in &mut state.recoveries {
                    if first.is_none() && current >= *after && *after < run.timeline.segments.len() {
                        let end = run.timeline.segments[*after].from.div_f64(speed);
                        *first = Some((now - t0).saturating_sub(end));
                    }
                }
            }
            Err(class) => {
                if let Some(n) = obs.errors.get_mut(&*class) {
                    *n += 1;
                } else {
                    obs.errors.insert(class.into_owned(), 1);
                }
            }
        }
    }

    /// Wraps a call's future: records its outcome (classified by
    /// [`DefaultClassify`]) and latency when it completes, or `cancelled`
    /// if it is dropped first. The call counts from when `observe` is
    /// called.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), tower_chaos::scenario::ScenarioError> {
    /// # let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// # let rehearsal = Rehearsal::new(&scenario).target(&tower_chaos::Target::builder("db").seed(1).build().unwrap());
    /// let probe = rehearsal.probe("db")?;
    /// let run = tokio::spawn(rehearsal.run());
    /// tokio::task::yield_now().await;
    /// let answer: Result<u32, std::io::Error> = probe.observe(async { Ok(42) }).await;
    /// assert_eq!(answer.unwrap(), 42);
    /// assert_eq!(run.await.unwrap()?.phase("p").unwrap().caller.ok, 1);
    /// # Ok(()) }
    /// ```
    pub fn observe<F>(&self, call: F) -> ProbeFuture<F, DefaultClassify> {
        self.observe_with(call, DefaultClassify)
    }

    /// [`observe`](Self::observe) with your classifier (a closure from
    /// `&E` to a class name, or a [`Classify`]).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), tower_chaos::scenario::ScenarioError> {
    /// # let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// # let rehearsal = Rehearsal::new(&scenario).target(&tower_chaos::Target::builder("db").seed(1).build().unwrap());
    /// let probe = rehearsal.probe("db")?;
    /// let run = tokio::spawn(rehearsal.run());
    /// tokio::task::yield_now().await;
    /// let classify = |e: &u16| if *e == 429 { "throttled" } else { "other" };
    /// let _ = probe.observe_with(async { Err::<(), u16>(429) }, classify).await;
    /// let report = run.await.unwrap()?;
    /// assert_eq!(report.phase("p").unwrap().caller.errors, [("throttled".to_string(), 1)]);
    /// # Ok(()) }
    /// ```
    pub fn observe_with<F, C>(&self, call: F, classify: C) -> ProbeFuture<F, C> {
        ProbeFuture {
            inner: call,
            rec: Some(Recording {
                probe: self.clone(),
                started: Instant::now(),
                segment: self.shared.run.segment.load(Ordering::Acquire),
                classify,
            }),
        }
    }

    /// A tower layer for the caller's side: records every call of the
    /// wrapped service (see the type's example).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// # let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// let probe = Rehearsal::new(&scenario).probe("db")?;
    /// let layer = probe.layer();
    /// assert_eq!(layer.probe().target(), "db");
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub fn layer(&self) -> ProbeLayer {
        self.layer_with(DefaultClassify)
    }

    /// [`layer`](Self::layer) with your classifier.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// # let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// let probe = Rehearsal::new(&scenario).probe("db")?;
    /// let layer = probe.layer_with(|e: &tower::BoxError| if e.is::<tower::timeout::error::Elapsed>() { "timeout" } else { "error" });
    /// # let _ = layer;
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub fn layer_with<C>(&self, classify: C) -> ProbeLayer<C> {
        ProbeLayer {
            probe: self.clone(),
            classify,
        }
    }
}

/// Names the class of an error for a [`Probe`]'s counts. Implemented by
/// [`DefaultClassify`] and by closures `Fn(&E) -> impl Into<Cow<'static, str>>`.
///
/// ```
/// use tower_chaos::scenario::{Classify, DefaultClassify};
/// use tower_chaos::{FaultKind, InjectedError};
///
/// let e: tower::BoxError = InjectedError::new("db", FaultKind::LostReply, None).into();
/// assert_eq!(DefaultClassify.classify(&e), "injected lost-reply");
/// assert_eq!((|_: &u8| "mine").classify(&3), "mine");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot classify errors of type `{E}`",
    note = "use a closure `|e: &{E}| \"class\"`, or `DefaultClassify`"
)]
pub trait Classify<E> {
    /// The class of `error`.
    fn classify(&self, error: &E) -> Cow<'static, str>;
}

/// The default error classifier of a [`Probe`]: `injected <kind>` for an
/// [`InjectedError`] (also inside a [`BoxError`]), `timeout` for tokio's
/// `Elapsed`, `error` otherwise.
///
/// ```
/// use tower_chaos::scenario::{Classify, DefaultClassify};
/// assert_eq!(DefaultClassify.classify(&std::io::Error::other("x")), "error");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassify;

impl<E: 'static> Classify<E> for DefaultClassify {
    fn classify(&self, error: &E) -> Cow<'static, str> {
        let any = error as &dyn Any;
        let boxed = any.downcast_ref::<BoxError>();
        let injected = any
            .downcast_ref::<InjectedError>()
            .or_else(|| boxed.and_then(|b| b.downcast_ref::<InjectedError>()));
        if let Some(i) = injected {
            return format!("injected {}", i.kind()).into();
        }
        let elapsed = any.is::<tokio::time::error::Elapsed>()
            || boxed.is_some_and(|b| b.is::<tokio::time::error::Elapsed>());
        if elapsed { "timeout".into() } else { "error".into() }
    }
}

impl<E, F, C> Classify<E> for F
where
    F: Fn(&E) -> C,
    C: Into<Cow<'static, str>>,
{
    fn classify(&self, error: &E) -> Cow<'static, str> {
        self(error).into()
    }
}

struct Recording<C> {
    probe: Probe,
    started: Instant,
    segment: usize,
    classify: C,
}

pin_project! {
    /// The future of a call observed by a [`Probe`]: the call's own
    /// output, recorded when it completes (or as `cancelled` when dropped
    /// before). See [`Probe::observe`] for an example.
    pub struct ProbeFuture<F, C> {
        #[pin]
        inner: F,
        rec: Option<Recording<C>>,
    }

    impl<F, C> PinnedDrop for ProbeFuture<F, C> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(rec) = this.project().rec.take() {
                rec.probe.record_class(rec.started, rec.segment, Err("cancelled".into()));
            }
        }
    }
}

impl<F, C> fmt::Debug for ProbeFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeFuture")
            .field("done", &self.rec.is_none())
            .finish_non_exhaustive()
    }
}

impl<F, C, T, E> Future for ProbeFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let Some(rec) = this.rec.take() {
            let outcome = match &out {
                Ok(_) => Ok(()),
                Err(e) => Err(rec.classify.classify(e)),
            };
            rec.probe.record_class(rec.started, rec.segment, outcome);
        }
        Poll::Ready(out)
    }
}

/// A tower layer that records the calls of the wrapped (client) service in
/// a [`Probe`]; see [`Probe::layer`] and the example on [`Probe`].
///
/// ```
/// # use std::time::Duration;
/// # use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
/// # let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
/// let layer = Rehearsal::new(&scenario).probe("db")?.layer();
/// assert_eq!(layer.probe().target(), "db");
/// let svc = tower::ServiceBuilder::new().layer(layer).service(tower::service_fn(|x: u8| async move { Ok::<_, tower::BoxError>(x) }));
/// # let _ = svc;
/// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ProbeLayer<C = DefaultClassify> {
    probe: Probe,
    classify: C,
}

impl<C> ProbeLayer<C> {
    /// The probe it records into.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
    /// # let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
    /// let layer = Rehearsal::new(&scenario).probe("db")?.layer();
    /// assert_eq!(layer.probe().target(), "db");
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub const fn probe(&self) -> &Probe {
        &self.probe
    }
}

impl<S, C: Clone> Layer<S> for ProbeLayer<C> {
    type Service = Probed<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Probed {
            inner,
            probe: self.probe.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// A service whose calls a [`Probe`] records; built by [`ProbeLayer`]
/// (see the example on [`Probe`]).
///
/// # Clone
///
/// Clones record into the same probe.
#[derive(Debug, Clone)]
pub struct Probed<S, C = DefaultClassify> {
    inner: S,
    probe: Probe,
    classify: C,
}

impl<S, C> Probed<S, C> {
    inner_accessors!(
        r#"```
# use std::time::Duration;
# use tower::Layer;
# use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
# let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1))).build()?;
let mut svc = Rehearsal::new(&scenario).probe("db")?.layer().layer(7u8);
assert_eq!(*svc.get_ref(), 7);
*svc.get_mut() += 1;
assert_eq!(svc.into_inner(), 8);
# Ok::<(), tower_chaos::scenario::ScenarioError>(())
```"#
    );
}

impl<S, C, R> Service<R> for Probed<S, C>
where
    S: Service<R>,
    C: Classify<S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ProbeFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.probe
            .observe_with(self.inner.call(req), self.classify.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::{Instant, sleep, sleep_until};
    use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};

    use tokio::task::JoinHandle;

    use super::Probe;
    use crate::scenario::{Phase, Rehearsal, RehearsalReport, Scenario, ScenarioError};
    use crate::{ChaosLayer, Target};

    const S: fn(u64) -> Duration = Duration::from_secs;
    const NS: Duration = Duration::from_nanos(1);

    /// `db` down from 10 s to 20 s of a 30 s timeline.
    fn blip() -> (Scenario, Target) {
        let scenario = Scenario::builder("blip")
            .phase(Phase::new("down", "db").at(S(10)).lasting(S(10)).down())
            .duration(S(30))
            .build()
            .unwrap();
        (scenario, Target::builder("db").seed(1).build().unwrap())
    }

    /// [`blip`] rehearsed from now: `db`'s probe, the start, the run.
    fn blip_running() -> (Probe, Instant, JoinHandle<Result<RehearsalReport, ScenarioError>>) {
        let (scenario, db) = blip();
        let rehearsal = Rehearsal::new(&scenario).bind::<u32, BoxError>(&db);
        let probe = rehearsal.probe("db").unwrap();
        (probe, Instant::now(), tokio::spawn(rehearsal.run()))
    }

    fn row<'a>(report: &'a RehearsalReport, label: &str) -> &'a crate::scenario::Row {
        let rows = &report.target("db").unwrap().rows;
        rows.iter().find(|r| r.label == label).unwrap()
    }

    fn errors(report: &RehearsalReport, label: &str) -> Vec<(String, u64)> {
        row(report, label).caller.errors.clone()
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_recorded_after_a_cut_counts_in_the_phase_current_when_it_started() {
        let (probe, t0, run) = blip_running();
        // Every call is recorded well after both cuts it straddles.
        sleep_until(t0 + S(25)).await;
        {
            let entered = probe.shared.run.entered.lock().unwrap();
            assert_eq!(
                *entered,
                [t0, t0 + S(10), t0 + S(20)],
                "the runner entered on the cuts"
            );
        }
        probe.record(t0 + S(10) - NS, Err("1ns before the outage"));
        probe.record(t0 + S(10), Err("at the outage"));
        probe.record(t0 + S(10) + NS, Err("1ns into the outage"));
        probe.record(t0 + S(20) - NS, Err("1ns before the end"));
        probe.record(t0 + S(20), Err("at the end"));
        probe.record(t0 + S(20) + NS, Err("1ns after the end"));
        probe.record(t0 - NS, Ok(()));
        let report = run.await.unwrap().unwrap();
        let one = |class: &str| (class.to_owned(), 1);
        assert_eq!(errors(&report, "before"), [one("1ns before the outage")]);
        assert_eq!(
            errors(&report, "down"),
            [
                one("1ns before the end"),
                one("1ns into the outage"),
                one("at the outage")
            ]
        );
        assert_eq!(
            errors(&report, "after"),
            [one("1ns after the end"), one("at the end")]
        );
        assert_eq!(report.target("db").unwrap().unattributed_calls, 1);
        // The latency is still the time from the start to the record.
        let before = row(&report, "before").caller.latency.unwrap();
        assert_eq!(before.max, S(15) + NS);
    }

    #[tokio::test(start_paused = true)]
    async fn an_observed_or_cancelled_call_counts_in_the_phase_current_when_it_started() {
        let (probe, t0, run) = blip_running();
        sleep_until(t0 + S(10) - NS).await;
        let slow = probe.observe(async {
            sleep(S(2)).await;
            Ok::<_, std::io::Error>(())
        });
        let dropped = probe.observe(std::future::pending::<Result<(), std::io::Error>>());
        slow.await.unwrap();
        assert!(Instant::now() > t0 + S(10));
        drop(dropped);
        sleep_until(t0 + S(10)).await;
        // Started at the cut, after the runner entered it (the runner's
        // timer fired first): counted where it was installed.
        assert_eq!(probe.shared.run.entered.lock().unwrap().len(), 2);
        let at_cut = probe.observe(async { Err::<(), std::io::Error>(std::io::Error::other("x")) });
        let _ = at_cut.await;
        let report = run.await.unwrap().unwrap();
        let before = &row(&report, "before").caller;
        assert_eq!((before.calls, before.ok), (2, 1));
        assert_eq!(before.errors, [("cancelled".to_owned(), 1)]);
        assert_eq!(errors(&report, "down"), [("error".to_owned(), 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn provider_and_caller_rows_agree_when_calls_straddle_the_cuts() {
        let (scenario, db) = blip();
        let rehearsal = Rehearsal::new(&scenario).bind::<u32, BoxError>(&db);
        let probe = rehearsal.probe("db").unwrap();
        let mut client = ServiceBuilder::new()
            .layer(ChaosLayer::for_target(&db))
            .service(service_fn(|n: u32| async move {
                // Each call ends 1 s after it starts, past the next cut
                // for the calls made half a second before one.
                sleep(S(1)).await;
                Ok::<_, BoxError>(n)
            }));
        let t0 = Instant::now();
        let run = tokio::spawn(rehearsal.run());
        for n in 0..29 {
            sleep_until(t0 + S(u64::from(n)) + Duration::from_millis(500)).await;
            let started = Instant::now();
            let ok = client.ready().await.unwrap().call(n).await.is_ok();
            probe.record(started, if ok { Ok(()) } else { Err("user-visible error") });
        }
        let report = run.await.unwrap().unwrap();
        // The last call starts at 28.5 s: one at 29.5 s would be recorded
        // after the run ended (30 s) and its report was built.
        for (label, calls) in [("before", 10), ("down", 10), ("after", 9)] {
            let r = row(&report, label);
            assert_eq!(r.provider.seen, calls, "{label}");
            assert_eq!(r.caller.calls, r.provider.seen, "{label}");
            assert_eq!(r.caller.failed(), r.provider.faulted, "{label}");
        }
        assert_eq!(row(&report, "down").caller.ok, 0);
    }
}

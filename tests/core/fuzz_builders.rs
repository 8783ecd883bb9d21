//! Builder fuzz (issue 10): random parameters for every core fault, trigger,
//! latency, capacity and target setting — huge, zero and odd durations and
//! counts, rates that are NaN, infinite or negative, triggers nested beyond
//! the limit — built and driven by a few concurrent requests on paused time.
//! Each case must either be refused with a [`ConfigError`] (exactly when a
//! documented limit is broken, see `docs/RELIABILITY.md`) or behave: every
//! caller gets its echo, an injected error or a hang, and the report counts
//! exactly that. Never a panic.
//!
//! The suite runs 2,000 seeded cases. The long run:
//!
//! ```sh
//! FUZZ_BUILDERS_CASES=100000 cargo test --release --test core fuzz_builders:: -- --ignored
//! ```
//!
//! `FUZZ_BUILDERS_SEED` changes the seed of either run (default 10);
//! proptest prints a failing case shrunk to its simplest form.

use std::future::Future;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};
use tower::{BoxError, Service, ServiceExt, service_fn};
use tower_chaos::{
    Capacity, ChaosLayer, ConfigError, Fault, FaultKind, InjectedError, Latency, MAX_RULES,
    MAX_TRIGGER_DEPTH, Rule, Trigger,
};

const NS: Duration = Duration::from_nanos(1);
/// Longer than any delay a request can be given (at most
/// `Latency::MAX_DELAY` before the call and as much after it): a request
/// still pending then is hanging. (tokio caps any timer at 30 years.)
const HANG: Duration = Duration::from_secs(3 * 365 * 24 * 3600);

fn duration() -> BoxedStrategy<Duration> {
    prop_oneof![
        2 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
        2 => Just(Latency::MAX_DELAY),
        1 => Just(Latency::MAX_DELAY + NS),
        2 => Just(NS),
        12 => (0u64..5_000).prop_map(Duration::from_millis),
        6 => (0..=Latency::MAX_DELAY.as_nanos() as u64).prop_map(Duration::from_nanos),
        1 => any::<u64>().prop_map(Duration::from_nanos),
        1 => (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
    .boxed()
}

/// Two durations, in order three times out of four (bounds that a range
/// needs ordered).
fn pair() -> BoxedStrategy<(Duration, Duration)> {
    (duration(), duration(), 0..4)
        .prop_map(|(a, b, k)| if k > 0 && a > b { (b, a) } else { (a, b) })
        .boxed()
}

fn float() -> BoxedStrategy<f64> {
    prop_oneof![
        1 => prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-1.0),
            Just(-0.0),
            Just(0.0),
            Just(1.0),
            Just(f64::MIN_POSITIVE),
            Just(1e-300),
            Just(f64::MAX),
        ],
        12 => 0.0f64..=1.0,
        1 => any::<f64>(),
    ]
    .boxed()
}

fn count() -> BoxedStrategy<u64> {
    prop_oneof![
        1 => Just(0),
        1 => Just(1),
        1 => Just(u64::MAX),
        4 => 1u64..10,
        2 => any::<u64>(),
    ]
    .boxed()
}

/// A trigger as plain data, so that failures print and shrink.
#[derive(Debug, Clone)]
enum T {
    Always,
    Never,
    Rate(f64),
    Every(u64),
    First(u64),
    After(u64),
    WhenEven,
    Keyed(f64),
    Window(Duration, Duration),
    Ramp(f64, f64, Duration, Duration),
    Overload(f64, Duration),
    All(Vec<Self>),
    Any(Vec<Self>),
    Not(Box<Self>),
    And(Box<Self>, Box<Self>),
    Or(Box<Self>, Box<Self>),
    /// `k` negations around a trigger: depths around the limit.
    Nots(usize, Box<Self>),
}

fn trigger() -> BoxedStrategy<T> {
    let leaf = prop_oneof![
        Just(T::Always),
        Just(T::Never),
        float().prop_map(T::Rate),
        count().prop_map(T::Every),
        count().prop_map(T::First),
        count().prop_map(T::After),
        Just(T::WhenEven),
        float().prop_map(T::Keyed),
        pair().prop_map(|(a, b)| T::Window(a, b)),
        (float(), float(), pair()).prop_map(|(f, t, (s, e))| T::Ramp(f, t, s, e)),
    ];
    let leaf = prop_oneof![
        10 => leaf,
        1 => (float(), duration()).prop_map(|(r, w)| T::Overload(r, w)),
    ];
    let tree = leaf.prop_recursive(3, 10, 3, |inner| {
        prop_oneof![
            list(inner.clone()).prop_map(T::All),
            list(inner.clone()).prop_map(T::Any),
            inner.clone().prop_map(|t| T::Not(Box::new(t))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| T::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| T::Or(Box::new(a), Box::new(b))),
        ]
    });
    prop_oneof![
        6 => tree.clone(),
        1 => (0..MAX_TRIGGER_DEPTH + 8, tree).prop_map(|(k, t)| T::Nots(k, Box::new(t))),
    ]
    .boxed()
}

/// The parts of an `all`/`any`: empty one time in twenty.
fn list(inner: BoxedStrategy<T>) -> impl Strategy<Value = Vec<T>> {
    prop_oneof![
        1 => Just(Vec::new()),
        19 => prop::collection::vec(inner, 1..4),
    ]
}

impl T {
    fn build(&self) -> Trigger<u32> {
        let b = |t: &Self| t.build();
        match self {
            Self::Always => Trigger::always(),
            Self::Never => Trigger::never(),
            Self::Rate(p) => Trigger::rate(*p),
            Self::Every(n) => Trigger::every(*n),
            Self::First(n) => Trigger::first(*n),
            Self::After(n) => Trigger::after(*n),
            Self::WhenEven => Trigger::when(|r: &u32| r % 2 == 0),
            Self::Keyed(p) => Trigger::keyed(*p, |r: &u32| r % 7),
            Self::Window(a, z) => Trigger::window(*a, *z),
            Self::Ramp(f, t, s, e) => Trigger::ramp(*f, *t, *s, *e),
            Self::Overload(r, w) => Trigger::overload(Capacity::per(*r, *w)),
            Self::All(v) => Trigger::all(v.iter().map(b)),
            Self::Any(v) => Trigger::any(v.iter().map(b)),
            Self::Not(t) => !b(t),
            Self::And(x, y) => b(x).and(b(y)),
            Self::Or(x, y) => b(x).or(b(y)),
            Self::Nots(k, t) => (0..*k).fold(b(t), |t, _| !t),
        }
    }

    /// Whether every parameter is within its documented limit.
    fn params_ok(&self) -> bool {
        let rate = |p: &f64| (0.0..=1.0).contains(p);
        match self {
            Self::Always | Self::Never | Self::After(_) | Self::WhenEven => true,
            Self::Rate(p) | Self::Keyed(p) => rate(p),
            Self::Every(n) | Self::First(n) => *n >= 1,
            Self::Window(a, z) => a <= z,
            Self::Ramp(f, t, s, e) => rate(f) && rate(t) && s <= e,
            Self::Overload(r, w) => r.is_finite() && *r > 0.0 && !w.is_zero(),
            Self::All(v) | Self::Any(v) => !v.is_empty() && v.iter().all(Self::params_ok),
            Self::Not(t) | Self::Nots(_, t) => t.params_ok(),
            Self::And(x, y) | Self::Or(x, y) => x.params_ok() && y.params_ok(),
        }
    }

    /// Bounds on the built trigger's depth (`and`/`or` may flatten).
    fn depth(&self) -> (usize, usize) {
        let deepest = |v: &[Self]| {
            v.iter()
                .map(Self::depth)
                .fold((0, 0), |(l, h), (a, b)| (l.max(a), h.max(b)))
        };
        match self {
            Self::All(v) | Self::Any(v) => {
                let (l, h) = deepest(v);
                (l + 1, h + 1)
            }
            Self::Not(t) => {
                let (l, h) = t.depth();
                (l + 1, h + 1)
            }
            Self::Nots(k, t) => {
                let (l, h) = t.depth();
                (l + k, h + k)
            }
            Self::And(x, y) | Self::Or(x, y) => {
                let (l, h) = deepest(&[(**x).clone(), (**y).clone()]);
                (l, h + 1)
            }
            _ => (1, 1),
        }
    }

    /// `Some(valid)` when the limits decide it, `None` when only the
    /// flattening of `and`/`or` would tell.
    fn valid(&self) -> Option<bool> {
        let (lo, hi) = self.depth();
        if !self.params_ok() || lo > MAX_TRIGGER_DEPTH {
            Some(false)
        } else if hi <= MAX_TRIGGER_DEPTH {
            Some(true)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
enum D {
    Fixed(Duration),
    Uniform(Duration, Duration),
    Jittered(Duration, Duration),
    Normal(Duration, Duration),
    LogNormal(Duration, f64),
    Pareto(Duration, f64),
}

#[derive(Debug, Clone)]
struct L {
    dist: D,
    clamp: Option<(Duration, Duration)>,
}

fn latency() -> BoxedStrategy<L> {
    let dist = prop_oneof![
        duration().prop_map(D::Fixed),
        pair().prop_map(|(a, b)| D::Uniform(a, b)),
        pair().prop_map(|(a, b)| D::Jittered(b, a)),
        (duration(), duration()).prop_map(|(a, b)| D::Normal(a, b)),
        (duration(), float()).prop_map(|(a, s)| D::LogNormal(a, s)),
        (duration(), float()).prop_map(|(a, s)| D::Pareto(a, s)),
    ];
    (dist, prop::option::weighted(0.3, pair()))
        .prop_map(|(dist, clamp)| L { dist, clamp })
        .boxed()
}

impl L {
    fn build(&self) -> Latency {
        let l = match self.dist {
            D::Fixed(d) => Latency::fixed(d),
            D::Uniform(a, b) => Latency::uniform(a, b),
            D::Jittered(base, jitter) => Latency::jittered(base, jitter),
            D::Normal(a, b) => Latency::normal(a, b),
            D::LogNormal(a, s) => Latency::log_normal(a, s),
            D::Pareto(a, s) => Latency::pareto(a, s),
        };
        match self.clamp {
            Some((min, max)) => l.clamp(min, max),
            None => l,
        }
    }

    fn valid(&self) -> bool {
        let within = |d: Duration| d <= Latency::MAX_DELAY;
        let dist = match self.dist {
            D::Fixed(d) => within(d),
            D::Uniform(a, b) => a <= b && within(a) && within(b),
            D::Jittered(base, jitter) => jitter <= base && within(base) && within(jitter),
            D::Normal(a, b) => within(a) && within(b),
            D::LogNormal(m, s) => !m.is_zero() && within(m) && s.is_finite() && s >= 0.0,
            D::Pareto(m, s) => !m.is_zero() && within(m) && s.is_finite() && s > 0.0,
        };
        dist && self.clamp.is_none_or(|(min, max)| min <= max && within(max))
    }
}

#[derive(Debug, Clone)]
enum F {
    Latency(L),
    LatencyAfter(L),
    Error,
    Hang,
    Lost,
}

#[derive(Debug, Clone)]
struct R {
    fault: F,
    trigger: T,
    budget: Option<u64>,
    max_active: Option<u32>,
    named: bool,
}

fn rule() -> BoxedStrategy<R> {
    let fault = prop_oneof![
        2 => latency().prop_map(F::Latency),
        1 => latency().prop_map(F::LatencyAfter),
        1 => Just(F::Error),
        1 => Just(F::Hang),
        1 => Just(F::Lost),
    ];
    let max_active = prop_oneof![
        1 => Just(0u32),
        3 => Just(1),
        1 => Just(u32::MAX),
        3 => 1u32..4,
        1 => any::<u32>(),
    ];
    (
        fault,
        trigger(),
        prop::option::weighted(0.3, count()),
        prop::option::weighted(0.3, max_active),
        any::<bool>(),
    )
        .prop_map(|(fault, trigger, budget, max_active, named)| R {
            fault,
            trigger,
            budget,
            max_active,
            named,
        })
        .boxed()
}

impl R {
    fn build(&self) -> Rule<Fault<u32>, u32> {
        let fault = match &self.fault {
            F::Latency(l) => Fault::latency(l.build()),
            F::LatencyAfter(l) => Fault::latency_after(l.build()),
            F::Error => Fault::injected_error(),
            F::Hang => Fault::hang(),
            F::Lost => Fault::lost_reply_injected(),
        };
        let mut rule = fault.when(self.trigger.build());
        if let Some(n) = self.budget {
            rule = rule.budget(n);
        }
        if let Some(n) = self.max_active {
            rule = rule.max_active(n);
        }
        if self.named {
            rule = rule.named("fuzzed");
        }
        rule
    }

    fn valid(&self) -> Option<bool> {
        let fault = match &self.fault {
            F::Latency(l) | F::LatencyAfter(l) => l.valid(),
            F::Error | F::Hang | F::Lost => true,
        };
        // `max_active(0)` is accepted and injects nothing (as Envoy's).
        let limits = self.budget != Some(0);
        if !(fault && limits) {
            return Some(false);
        }
        self.trigger.valid()
    }
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    seed: u64,
    journal: Option<usize>,
    rules: Vec<R>,
    set_max_active: Option<u32>,
    rate_scale: Option<f64>,
    requests: u32,
}

fn case() -> BoxedStrategy<Case> {
    let rules = prop_oneof![
        40 => prop::collection::vec(rule(), 0..5),
        1 => prop::collection::vec(rule(), MAX_RULES - 1..MAX_RULES + 3),
    ];
    let name = prop_oneof![
        1 => Just(String::new()),
        1 => Just(" ".to_owned()),
        30 => "[a-z]{1,8}",
    ];
    let journal = prop::option::of(prop_oneof![
        1 => Just(0usize),
        1 => Just(1),
        1 => Just(usize::MAX),
        10 => 1usize..64,
    ]);
    (
        name,
        any::<u64>(),
        journal,
        rules,
        prop::option::weighted(0.2, prop_oneof![Just(0u32), Just(1), Just(u32::MAX), 1u32..4]),
        prop::option::weighted(0.2, float()),
        1u32..8,
    )
        .prop_map(
            |(name, seed, journal, rules, set_max_active, rate_scale, requests)| Case {
                name,
                seed,
                journal,
                rules,
                set_max_active,
                rate_scale,
                requests,
            },
        )
        .boxed()
}

impl Case {
    /// `Some(valid)` when the documented limits decide it.
    fn valid(&self) -> Option<bool> {
        let set = !self.name.trim().is_empty() && self.journal != Some(0) && self.rules.len() <= MAX_RULES;
        if !set {
            return Some(false);
        }
        let mut all = Some(true);
        for r in &self.rules {
            match r.valid() {
                Some(false) => return Some(false),
                None => all = None,
                Some(true) => {}
            }
        }
        all
    }
}

/// What a caller saw.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    ok: u64,
    errors: u64,
    lost: u64,
    hung: u64,
}

fn check(case: &Case) {
    // The public, unvalidated previews never panic either.
    for r in &case.rules {
        if let F::Latency(l) | F::LatencyAfter(l) = &r.fault {
            let l = l.build();
            let _ = (l.mean(), l.sample_with_seed(case.seed));
        }
        let _ = format!("{:?}", r.trigger.build().clone());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(drive(case));
}

async fn drive(case: &Case) {
    let mut builder = ChaosLayer::<u32>::builder(case.name.clone()).seed(case.seed);
    if let Some(j) = case.journal {
        builder = builder.journal(j);
    }
    for r in &case.rules {
        builder = builder.fault(r.build());
    }
    if let Some(n) = case.set_max_active {
        builder = builder.max_active(n);
    }
    let built = builder.build();
    match (case.valid(), &built) {
        (Some(valid), _) => assert_eq!(built.is_ok(), valid, "{:?}", built.as_ref().err()),
        (None, Ok(_)) => {}
        (None, Err(e)) => assert!(e.to_string().contains("trigger.depth"), "{e}"),
    }
    let chaos = match built {
        Ok(chaos) => chaos,
        Err(e) => {
            REFUSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return assert_names_a_field(&e);
        }
    };
    DRIVEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let target = chaos.target().clone();
    if let Some(scale) = case.rate_scale {
        let set = target.set_rate_scale(scale);
        assert_eq!(set.is_ok(), scale.is_finite() && scale >= 0.0, "{scale}");
        if let Err(e) = set {
            assert_names_a_field(&e);
        }
    }
    let mut svc = tower::Layer::layer(&chaos, service_fn(|r: u32| async move { Ok::<_, BoxError>(r) }));
    // All in flight at once, so that active-fault caps are exercised.
    let mut calls = Vec::new();
    for i in 0..case.requests {
        let fut = svc.ready().await.unwrap().call(i);
        calls.push(tokio::spawn(outcome(i, fut)));
    }
    let mut seen = Seen::default();
    for c in calls {
        match c.await.unwrap() {
            Ok(()) => seen.ok += 1,
            Err(Some(FaultKind::Error)) => seen.errors += 1,
            Err(Some(FaultKind::LostReply)) => seen.lost += 1,
            Err(Some(other)) => panic!("unexpected injected kind {other}"),
            Err(None) => seen.hung += 1,
        }
    }
    let r = target.report();
    let counted = Seen {
        ok: u64::from(case.requests)
            - r.injected(FaultKind::Error)
            - r.injected(FaultKind::LostReply)
            - r.injected(FaultKind::Hang),
        errors: r.injected(FaultKind::Error),
        lost: r.injected(FaultKind::LostReply),
        hung: r.injected(FaultKind::Hang),
    };
    assert_eq!(seen, counted, "{r}");
    assert_eq!(r.seen, u64::from(case.requests));
    assert_eq!(r.passed + r.faulted, r.seen);
    assert!(r.total_injected() >= r.faulted);
    let delays = r.injected(FaultKind::Latency) + r.injected(FaultKind::LatencyAfter);
    assert_eq!(
        r.total_injected(),
        counted.errors + counted.lost + counted.hung + delays
    );
}

/// The request's echo, the kind of the injected error, or `None` for a
/// request still pending when no delay could still be running.
async fn outcome<F>(req: u32, fut: F) -> Result<(), Option<FaultKind>>
where
    F: Future<Output = Result<u32, BoxError>>,
{
    match tokio::time::timeout(HANG, fut).await {
        Ok(Ok(echo)) => {
            assert_eq!(echo, req);
            Ok(())
        }
        Ok(Err(e)) => Err(Some(
            e.downcast_ref::<InjectedError>()
                .expect("an injected error")
                .kind(),
        )),
        Err(_) => Err(None),
    }
}

/// Cases built and driven, cases refused.
static DRIVEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static REFUSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn assert_names_a_field(e: &ConfigError) {
    let msg = e.to_string();
    assert!(msg.contains('`'), "a ConfigError names its field: {msg}");
}

fn run(default_cases: u32) {
    let env = |name: &str, default: u64| {
        std::env::var(name).ok().map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
    };
    let cases = u32::try_from(env("FUZZ_BUILDERS_CASES", u64::from(default_cases))).unwrap();
    let config = ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(env("FUZZ_BUILDERS_SEED", 10)),
        // Regressions live in the unit tests named after them, not in a
        // file that silently replays.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let started = std::time::Instant::now();
    TestRunner::new(config)
        .run(&case(), |case| {
            check(&case);
            Ok(())
        })
        .unwrap();
    let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "fuzz_builders: {cases} cases ({} built and driven, {} refused), 0 panics, {:.1?}",
        load(&DRIVEN),
        load(&REFUSED),
        started.elapsed()
    );
}

#[test]
fn builders_refuse_or_behave() {
    run(2_000);
}

#[test]
#[ignore = "long run: FUZZ_BUILDERS_CASES=100000 cargo test --release --test core fuzz_builders:: -- --ignored"]
fn builders_refuse_or_behave_long() {
    run(100_000);
}

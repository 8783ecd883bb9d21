//! The scenario engine under paused time: every kind of phase, overlap,
//! ramps, flapping, overload against retrying clients, speed, cancellation,
//! a 14-hour timeline, the report and the verdicts.
#![cfg(feature = "scenario")]

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tower::util::BoxCloneService;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_chaos::scenario::{
    Faults, Flap, Phase, Probe, Rehearsal, RehearsalReport, RequestFault, Scenario, ScenarioError, Spell,
    VerdictError,
};
use tower_chaos::{Capacity, ChaosLayer, Fault, FaultKind, Latency, Target, Trigger};

use crate::support::row_labels;

const S: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const H: Duration = Duration::from_secs(3600);

fn target(name: &str) -> Target {
    Target::builder(name).seed(42).build().unwrap()
}

/// The application's client: probe outside, chaos layer inside, an echo
/// "provider".
fn client(probe: &Probe, target: &Target) -> BoxCloneService<u32, u32, BoxError> {
    BoxCloneService::new(
        ServiceBuilder::new()
            .layer(probe.layer())
            .layer(ChaosLayer::for_target(target))
            .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) })),
    )
}

/// One call every `every`, `n` times, half a period off the phase
/// boundaries (a call made at the very instant a phase starts or ends may
/// see either side of it).
async fn steady(mut svc: BoxCloneService<u32, u32, BoxError>, every: Duration, n: u32) {
    let start = Instant::now() + every / 2;
    for i in 0..n {
        sleep_until(start + every * i).await;
        let _ = svc.ready().await.unwrap().call(i).await;
    }
}

fn scenario(phases: impl IntoIterator<Item = Phase>, duration: Duration) -> Scenario {
    Scenario::builder("test")
        .phases(phases)
        .duration(duration)
        .build()
        .unwrap()
}

/// 30 s with `db` down from 10 s to 20 s (phase "outage").
fn db_outage() -> Scenario {
    scenario(
        [Phase::new("outage", "db").at(10 * S).lasting(10 * S).down()],
        30 * S,
    )
}

/// Binds `db` to `s` and starts rehearsing it: the probe for `db`'s
/// client, and the running rehearsal.
fn start(s: &Scenario, db: &Target) -> (Probe, JoinHandle<Result<RehearsalReport, ScenarioError>>) {
    let rehearsal = Rehearsal::new(s).bind::<u32, BoxError>(db);
    let probe = rehearsal.probe("db").unwrap();
    (probe, tokio::spawn(rehearsal.run()))
}

/// Rehearses `s` over `db` with `calls` steady calls, one a second; the
/// report.
async fn rehearse_steadily(s: &Scenario, db: &Target, calls: u32) -> RehearsalReport {
    let (probe, run) = start(s, db);
    steady(client(&probe, db), S, calls).await;
    run.await.unwrap().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_down_phase_fails_every_call_and_the_verdicts_judge_recovery() {
    let db = target("db");
    let s = db_outage();
    let (probe, run) = start(&s, &db);
    steady(client(&probe, &db), S, 30).await;
    let report = run.await.unwrap().unwrap();

    let outage = report.phase("outage").unwrap();
    assert!(outage.down);
    assert_eq!(
        (outage.provider.seen, outage.provider.injected(FaultKind::Error)),
        (10, 10)
    );
    assert_eq!((outage.caller.calls, outage.caller.ok), (10, 0));
    assert_eq!(outage.caller.errors, [("injected error".to_owned(), 10)]);
    assert_eq!(outage.first_success_after_end, Some(S / 2));

    assert_eq!(row_labels(&report, "db"), ["before", "outage", "after"]);
    let db_report = report.target("db").unwrap();
    assert!(
        db_report
            .rows
            .iter()
            .all(|r| r.caller.calls == 10 && r.time == 10 * S)
    );
    assert_eq!(db_report.recovered_at, 20 * S);
    assert_eq!(db_report.seen_while_down, Some(10));
    assert_eq!(db_report.unattributed_calls, 0);

    report.assert_recovered_within("db", S).unwrap();
    report.assert_calls_while_down_at_most("db", 10).unwrap();
    let err = report.assert_calls_while_down_at_most("db", 9).unwrap_err();
    assert_eq!(
        err.to_string(),
        "10 calls reached target `db` while it was down, expected at most 9 (seed 42)"
    );
    report.assert_error_rate_below("outage", 1.01).unwrap();
    let err = report.assert_error_rate_below("outage", 0.5).unwrap_err();
    assert_eq!(
        err.to_string(),
        "callers saw 10 of 10 calls fail (100.0%) during phase `outage`, expected below 50.0% \
         (errors: injected error 10; seed 42)"
    );
    assert!(matches!(
        report.assert_error_rate_below("nope", 0.5),
        Err(VerdictError::Vacuous(_))
    ));
    // After the rehearsal every fault is gone.
    let mut svc = client(&probe, &db);
    assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_slow_phase_delays_calls_and_latency_is_reported() {
    let db = target("db");
    let slow = Latency::fixed(Duration::from_millis(300));
    let s = scenario(
        [Phase::new("slow", "db").at(10 * S).lasting(10 * S).slow(slow)],
        30 * S,
    );
    let report = rehearse_steadily(&s, &db, 30).await;
    let phase = report.phase("slow").unwrap();
    assert_eq!((phase.caller.calls, phase.caller.ok), (10, 10));
    let latency = phase.caller.latency.unwrap();
    assert!(latency.p50 <= Duration::from_millis(300) && latency.p50 >= Duration::from_millis(290));
    assert_eq!(latency.max, Duration::from_millis(300));
    assert_eq!(phase.provider.injected(FaultKind::Latency), 10);
    let before = &report.target("db").unwrap().rows[0];
    assert_eq!(before.caller.latency.unwrap().max, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn overlapping_phases_merge_in_phase_order() {
    let db = target("db");
    let ms = Duration::from_millis;
    let s = scenario(
        [
            Phase::new("a", "db")
                .lasting(60 * S)
                .slow(Latency::fixed(ms(100)))
                .request(RequestFault::error()),
            Phase::new("b", "db")
                .at(30 * S)
                .lasting(60 * S)
                .slow(Latency::fixed(ms(200)))
                .request(RequestFault::hang()),
        ],
        90 * S,
    );
    let (probe, run) = start(&s, &db);
    let mut svc = ServiceBuilder::new().timeout(S / 2).service(client(&probe, &db));
    let start = Instant::now() + S / 2;
    for i in 0..90 {
        sleep_until(start + S * i).await;
        let started = Instant::now();
        let result = svc.ready().await.unwrap().call(i).await;
        let took = started.elapsed();
        match i {
            // `a` alone: 100 ms, then its error.
            0..30 => assert!(result.is_err() && took == ms(100), "{i}: {took:?}"),
            // Both: 300 ms, and the first terminal fault (a's error) wins.
            30..60 => assert!(result.is_err() && took == ms(300), "{i}: {took:?}"),
            // `b` alone: 200 ms, then it hangs until the timeout.
            _ => assert!(result.is_err() && took == S / 2, "{i}: {took:?}"),
        }
    }
    let report = run.await.unwrap().unwrap();
    assert_eq!(row_labels(&report, "db"), ["a", "a+b", "b"]);
    let both = &report.target("db").unwrap().rows[1].provider;
    assert_eq!(
        (both.injected(FaultKind::Latency), both.injected(FaultKind::Error)),
        (60, 30)
    );
    assert_eq!(both.injected(FaultKind::Hang), 0);
}

#[tokio::test(start_paused = true)]
async fn a_ramp_changes_the_failure_rate_linearly() {
    let db = target("db");
    let s = scenario(
        [Phase::new("ramp", "db").lasting(100 * S).down().ramp(0.0, 1.0)],
        100 * S,
    );
    let (probe, run) = start(&s, &db);
    let mut svc = client(&probe, &db);
    let mut failed_by_decile = [0u32; 10];
    sleep(Duration::from_millis(50)).await;
    for i in 0..1_000u32 {
        if svc.ready().await.unwrap().call(i).await.is_err() {
            failed_by_decile[(i / 100) as usize] += 1;
        }
        sleep(Duration::from_millis(100)).await;
    }
    run.await.unwrap().unwrap();
    // Decile k fails with probability about (k + 0.5) / 10.
    for (k, n) in failed_by_decile.iter().enumerate() {
        let expected = (k as f64 + 0.5) * 10.0;
        assert!(
            (f64::from(*n) - expected).abs() <= 16.0,
            "decile {k}: {n} ({failed_by_decile:?})"
        );
    }
    let total: u32 = failed_by_decile.iter().sum();
    assert!((440..=560).contains(&total), "{total}");
}

#[tokio::test(start_paused = true)]
async fn flapping_alternates_bad_and_good_spells() {
    let edge = target("edge");
    let flap =
        Flap::new(5 * MIN, 5 * MIN).while_good(Faults::new().slow(Latency::fixed(Duration::from_millis(50))));
    let s = scenario(
        [Phase::new("flapping", "edge").lasting(60 * MIN).down().flap(flap)],
        60 * MIN,
    );
    let rehearsal = Rehearsal::new(&s).bind::<u32, BoxError>(&edge);
    let probe = rehearsal.probe("edge").unwrap();
    let mut status = rehearsal.status();
    let run = tokio::spawn(rehearsal.run());
    // Watch the spells change as a health checker would.
    let watcher = tokio::spawn(async move {
        let mut spells = Vec::new();
        while status.changed().await.is_ok() {
            let s = status.borrow_and_update().clone();
            if s.finished {
                break;
            }
            spells.push(s.active[0].spell);
        }
        spells
    });
    steady(client(&probe, &edge), 10 * S, 360).await;
    let report = run.await.unwrap().unwrap();
    let spells = watcher.await.unwrap();
    assert_eq!(spells.len(), 12);
    assert!(
        spells.chunks(2).all(|c| c == [Spell::Bad, Spell::Good]),
        "{spells:?}"
    );

    assert_eq!(row_labels(&report, "edge"), ["flapping (bad)", "flapping (good)"]);
    let rows = &report.target("edge").unwrap().rows;
    assert_eq!(
        (rows[0].caller.calls, rows[0].caller.ok, rows[0].time),
        (180, 0, 30 * MIN)
    );
    assert_eq!((rows[1].caller.calls, rows[1].caller.ok), (180, 180));
    assert_eq!(rows[1].caller.latency.unwrap().max, Duration::from_millis(50));
    // Only the bad spells count as down.
    assert_eq!(report.target("edge").unwrap().seen_while_down, Some(180));
}

/// A tiny deterministic generator for the clients' jitter.
fn jitter(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// What a retrying client population did against an overloaded provider.
#[derive(Debug, PartialEq)]
struct Storm {
    /// Rejections the provider injected.
    rejected: u64,
    /// Logical requests that eventually succeeded.
    succeeded: u32,
}

/// 80 logical requests per second for 20 s against a provider that can
/// take 50 per second; each tries up to `attempts` times, waiting
/// `backoff(attempt)` between tries.
async fn overload_run(attempts: u32, backoff: fn(u32, &mut u64) -> Duration) -> Storm {
    let api = target("api");
    let s = scenario(
        [Phase::new("overload", "api")
            .lasting(60 * S)
            .request(RequestFault::error().overload(Capacity::per_second(50.0)))],
        60 * S,
    );
    let rehearsal = Rehearsal::new(&s).bind::<u32, BoxError>(&api);
    let probe = rehearsal.probe("api").unwrap();
    let run = tokio::spawn(rehearsal.run());
    let svc = client(&probe, &api);
    let mut tasks = Vec::new();
    for i in 0..1_600u32 {
        let mut svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = u64::from(i) + 1;
            for attempt in 0..attempts {
                if svc.ready().await.unwrap().call(i).await.is_ok() {
                    return true;
                }
                sleep(backoff(attempt, &mut rng)).await;
            }
            false
        }));
        sleep(Duration::from_micros(12_500)).await;
    }
    let mut succeeded = 0;
    for t in tasks {
        succeeded += u32::from(t.await.unwrap());
    }
    let report = run.await.unwrap().unwrap();
    Storm {
        rejected: report
            .phase("overload")
            .unwrap()
            .provider
            .injected(FaultKind::Error),
        succeeded,
    }
}

#[tokio::test(start_paused = true)]
async fn overload_punishes_retries_without_backoff() {
    // Retry every 10 ms, no backoff, no jitter.
    let eager = overload_run(20, |_, _| Duration::from_millis(10)).await;
    // Same number of tries, with full-jitter exponential backoff
    // (rand * min(100 ms * 2^n, 20 s), as the AWS SDKs do).
    let polite = overload_run(20, |attempt, rng| {
        (Duration::from_millis(100) * 2u32.pow(attempt.min(16)))
            .min(20 * S)
            .mul_f64(jitter(rng))
    })
    .await;
    // Eager retries are rejected far more often and still give up on
    // requests that the polite population completes.
    assert!(eager.rejected > 2 * polite.rejected, "{eager:?} vs {polite:?}");
    assert!(
        eager.succeeded < 1_300 && polite.succeeded == 1_600,
        "{eager:?} vs {polite:?}"
    );
    // Same seeds, same call order: the same numbers again.
    assert_eq!(overload_run(20, |_, _| Duration::from_millis(10)).await, eager);
}

#[tokio::test(start_paused = true)]
async fn a_fourteen_hour_timeline_replays_on_paused_time() {
    let dynamodb = target("dynamodb");
    let ec2 = target("ec2");
    // Shaped like AWS us-east-1, 2025-10-19/20 (times from 23:48 PDT).
    let s = Scenario::builder("aws-like")
        .phase(Phase::new("dns", "dynamodb").lasting(2 * H + 37 * MIN).down())
        .phase(
            Phase::new("cache-expiry", "dynamodb")
                .at(2 * H + 37 * MIN)
                .lasting(15 * MIN)
                .down()
                .ramp(1.0, 0.0),
        )
        .phase(
            Phase::new("launches", "ec2")
                .at(2 * H + 37 * MIN)
                .lasting(8 * H + 11 * MIN)
                .request(RequestFault::error().rate(0.5)),
        )
        .phase(
            Phase::new("connectivity", "ec2")
                .at(10 * H + 48 * MIN)
                .lasting(3 * H + 2 * MIN)
                .slow(Latency::log_normal(Duration::from_millis(300), 0.5)),
        )
        .duration(14 * H + 32 * MIN)
        .build()
        .unwrap();
    let rehearsal = Rehearsal::new(&s)
        .bind::<u32, BoxError>(&dynamodb)
        .bind::<u32, BoxError>(&ec2);
    let (p1, p2) = (
        rehearsal.probe("dynamodb").unwrap(),
        rehearsal.probe("ec2").unwrap(),
    );
    let wall = std::time::Instant::now();
    let virtual_start = Instant::now();
    let run = tokio::spawn(rehearsal.run());
    let calls = u32::try_from(s.duration().as_secs() / 5).unwrap();
    tokio::join!(
        steady(client(&p1, &dynamodb), 5 * S, calls),
        steady(client(&p2, &ec2), 5 * S, calls)
    );
    let report = run.await.unwrap().unwrap();
    let wall = wall.elapsed();
    assert!(virtual_start.elapsed() >= 14 * H);
    // How fast is the bench's question (`benches/scenario.rs`,
    // docs/BENCHMARKS.md), not a timed test's: a loaded CI machine would
    // make a wall-clock bound flaky.
    assert_eq!(report.phase("dns").unwrap().caller.ok, 0);
    report.assert_recovered_within("dynamodb", 5 * S).unwrap();
    println!("{report}\nreplayed in {wall:?}");
}

#[tokio::test(start_paused = true)]
async fn speed_compresses_the_timeline_but_not_the_latencies() {
    let db = target("db");
    let s = scenario(
        [Phase::new("slow", "db")
            .at(H)
            .lasting(30 * MIN)
            .slow(Latency::fixed(Duration::from_millis(100)))],
        2 * H,
    );
    let rehearsal = Rehearsal::new(&s).bind::<u32, BoxError>(&db).speed(3_600.0);
    let probe = rehearsal.probe("db").unwrap();
    let started = Instant::now();
    let run = tokio::spawn(rehearsal.run());
    // One call every 10 ms for 2 s: the whole timeline.
    let mut svc = client(&probe, &db);
    let mut slow_calls = 0;
    while started.elapsed() < 2 * S {
        let t = Instant::now();
        let _ = svc.ready().await.unwrap().call(1).await;
        if t.elapsed() == Duration::from_millis(100) {
            slow_calls += 1;
        }
        sleep(Duration::from_millis(10)).await;
    }
    let report = run.await.unwrap().unwrap();
    assert_eq!(started.elapsed().as_millis(), 2_000, "2 h at 3600x is 2 s");
    // The phase lasts 0.5 s of real time: about 5 calls of 110 ms fit in.
    assert!((4..=5).contains(&slow_calls), "{slow_calls}");
    let phase = report.phase("slow").unwrap();
    assert_eq!(
        (phase.from, phase.to),
        (H, H + 30 * MIN),
        "reported in scenario time"
    );
    assert_eq!(phase.caller.latency.unwrap().max, Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn typed_rules_of_any_kind_are_installed_and_cleared() {
    let db = target("db");
    let s = scenario(
        [
            Phase::new("strings", "db")
                .lasting(10 * S)
                .rule(Fault::<String>::injected_error().when(Trigger::always())),
            Phase::new("numbers", "db")
                .at(5 * S)
                .lasting(10 * S)
                .rule(Fault::<u32>::injected_error().when(Trigger::every(2))),
        ],
        20 * S,
    );
    let rehearsal = Rehearsal::new(&s).target(&db);
    let handle = rehearsal.spawn();
    let mut strings = ServiceBuilder::new()
        .layer(ChaosLayer::<String>::for_target(&db))
        .service(service_fn(|s: String| async move { Ok::<_, BoxError>(s) }));
    let mut numbers = ServiceBuilder::new()
        .layer(ChaosLayer::<u32>::for_target(&db))
        .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    let mut record = Vec::new();
    sleep(S / 2).await;
    for _ in 0..20 {
        let s = strings.ready().await.unwrap().call("x".into()).await.is_err();
        let n1 = numbers.ready().await.unwrap().call(1).await.is_err();
        let n2 = numbers.ready().await.unwrap().call(2).await.is_err();
        record.push((s, n1 || n2));
        sleep(S).await;
    }
    handle.wait().await.unwrap();
    let expected: Vec<(bool, bool)> = (0..20).map(|t| (t < 10, (5..15).contains(&t))).collect();
    assert_eq!(record, expected);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_rehearsal_clears_its_faults() {
    let db = target("db");
    let s = scenario([Phase::new("outage", "db").lasting(H).down()], H);
    let rehearsal = Rehearsal::new(&s).bind::<u32, BoxError>(&db);
    let probe = rehearsal.probe("db").unwrap();
    let mut svc = client(&probe, &db);
    let handle = rehearsal.spawn();
    assert!(
        handle.status().borrow().is_active("outage"),
        "phases at zero are active at once"
    );
    assert!(svc.ready().await.unwrap().call(1).await.is_err());
    sleep(MIN).await;
    drop(handle);
    tokio::task::yield_now().await;
    assert_eq!(svc.ready().await.unwrap().call(2).await.unwrap(), 2);

    // Dropping the run future itself does the same.
    let rehearsal = Rehearsal::new(&s).bind::<u32, BoxError>(&db);
    let run = rehearsal.run();
    assert!(svc.ready().await.unwrap().call(3).await.is_err());
    drop(run);
    assert_eq!(svc.ready().await.unwrap().call(4).await.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn keyed_faults_read_a_request_attribute() {
    let db = target("db");
    let s = scenario(
        [Phase::new("cell", "db")
            .lasting(MIN)
            .request(RequestFault::error().keyed("tenant", 0.25))],
        MIN,
    );
    let by_tenant = |req: &(u32, u32), attr: &str| (attr == "tenant").then(|| req.0.to_string());
    let rehearsal = Rehearsal::new(&s).bind_with_attributes::<(u32, u32), BoxError, _>(&db, by_tenant);
    let handle = rehearsal.spawn();
    let mut svc = ServiceBuilder::new()
        .layer(ChaosLayer::<(u32, u32)>::for_target(&db))
        .service(service_fn(|r: (u32, u32)| async move { Ok::<_, BoxError>(r.1) }));
    let mut failing = std::collections::BTreeSet::new();
    for round in 0..3 {
        let mut this_round = std::collections::BTreeSet::new();
        for tenant in 0..200 {
            if svc.ready().await.unwrap().call((tenant, round)).await.is_err() {
                this_round.insert(tenant);
            }
        }
        if round > 0 {
            assert_eq!(this_round, failing, "the same tenants fail every round");
        }
        failing = this_round;
    }
    assert!((30..=70).contains(&failing.len()), "{}", failing.len());
    handle.wait().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn configuration_errors_come_before_anything_runs() {
    let db = target("db");
    let s = scenario([Phase::new("outage", "db").lasting(MIN).down()], MIN);
    let err = Rehearsal::new(&s).run().await.unwrap_err();
    assert_eq!(
        err,
        ScenarioError::TargetNotGiven {
            target: "db".into(),
            given: vec![]
        }
    );
    // Given another target only: the message names the scenario's target,
    // how to register it, and what was given.
    let other = target("cache");
    let err = Rehearsal::new(&s).bind_http(&other).run().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "target `db` of the scenario was not given to the rehearsal: register it with \
         `Rehearsal::bind_http(&target)` (HttpChaosLayer), `bind::<Request, Error>(&target)` (ChaosLayer) \
         or `target(&target)` (typed rules, connection faults) (given: cache)"
    );
    let err = Rehearsal::new(&s).target(&db).run().await.unwrap_err();
    assert!(matches!(err, ScenarioError::Unbound { .. }), "{err}");
    assert!(err.to_string().contains("Rehearsal::bind::<Request, Error>"));
    let keyed = scenario(
        [Phase::new("cell", "db")
            .lasting(MIN)
            .request(RequestFault::error().keyed("tenant", 0.5))],
        MIN,
    );
    let err = Rehearsal::new(&keyed)
        .bind::<u32, BoxError>(&db)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, ScenarioError::NoAttributes { .. }), "{err}");
    // A bad fault is an error of the scenario, named after the fault.
    let err = Scenario::builder("test")
        .phase(
            Phase::new("a", "db")
                .lasting(MIN)
                .request(RequestFault::error().every(0)),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `phases[0].request[0].trigger.every` = 0: must be at least 1"
    );
    // What only overlapping phases get wrong together is found before the
    // run, in the state where they are active: more rules than a fault set
    // takes.
    let many = |name: &str| {
        (0..40).fold(Phase::new(name, "db").lasting(MIN), |p, _| {
            p.request(RequestFault::error().rate(0.01))
        })
    };
    let crowded = scenario([many("a"), many("b")], MIN);
    let err = Rehearsal::new(&crowded)
        .bind::<u32, BoxError>(&db)
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("target `db` while `a+b` is active: "),
        "{err}"
    );
    assert!(Rehearsal::new(&s).probe("cache").is_err());
    // Nothing was installed by the failed runs.
    let mut svc = ServiceBuilder::new()
        .layer(ChaosLayer::<u32>::for_target(&db))
        .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_report_prints_a_table_and_serialises() {
    let db = target("db");
    let s = db_outage();
    let report = rehearse_steadily(&s, &db, 30).await;
    let text = report.to_string();
    assert!(
        text.starts_with("rehearsal `test`: 30.0s of timeline at speed 1\n"),
        "{text}"
    );
    assert!(
        text.contains("target `db` (seed 42): recovered at 20.0s, first success 500ms later"),
        "{text}"
    );
    let outage = text
        .lines()
        .find(|l| l.trim_start().starts_with("outage"))
        .unwrap();
    let cells: Vec<&str> = outage.split_whitespace().collect();
    assert_eq!(
        &cells[..7],
        ["outage", "10.0s", "10", "10", "error", "10", "10"],
        "{outage}"
    );
    assert!(
        outage.ends_with("100.0%       0       0  injected error 10"),
        "{outage}"
    );

    #[cfg(feature = "serde")]
    {
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["phases"][0]["name"], "outage");
        assert_eq!(json["phases"][0]["from"], 10.0);
        assert_eq!(json["phases"][0]["provider"]["injected"]["error"], 10);
        assert_eq!(json["phases"][0]["caller"]["errors"]["injected error"], 10);
        assert_eq!(json["targets"][0]["rows"][2]["label"], "after");
        assert_eq!(json["targets"][0]["first_success_after_recovery"], 0.5);
        assert_eq!(json["targets"][0]["seed_source"], "builder");
    }
}

#[tokio::test(start_paused = true)]
async fn a_recovery_verdict_needs_time_after_the_last_phase() {
    let db = target("db");
    let s = scenario([Phase::new("outage", "db").lasting(10 * S).down()], 10 * S);
    let report = rehearse_steadily(&s, &db, 10).await;
    let err = report.assert_recovered_within("db", 30 * S).unwrap_err();
    assert_eq!(
        err.to_string(),
        "target `db` recovered at 10.0s but the caller's first success came never during the timeline, \
         expected within 30.0s (seed 42)"
    );
    assert!(matches!(
        report.assert_calls_while_down_at_most("nope", 1),
        Err(VerdictError::Vacuous(_))
    ));
}

//! Triggers driven through a real layer: shared state across clones, keyed
//! stickiness under concurrency, windows on tokio's clock, caps and budgets.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{Counted, call, failures};
use tokio::time::advance;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};
use tower_chaos::{ChaosLayer, Fault, FaultKind, Rule, Trigger};

fn layer(rule: impl Into<Rule<Fault<u32>, u32>>) -> ChaosLayer<u32> {
    ChaosLayer::builder("triggers")
        .seed(11)
        .fault(rule)
        .build()
        .unwrap()
}

#[tokio::test]
async fn first_n_is_shared_by_every_clone() {
    let chaos = layer(Fault::injected_error().when(Trigger::first(3)));
    let svc = ServiceBuilder::new()
        .layer(chaos.clone())
        .service(Counted::default());
    // As axum and hyper do: a fresh clone per request, from many tasks.
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let mut clone = svc.clone();
        tasks.push(tokio::spawn(async move { call(&mut clone, i).await.is_err() }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += usize::from(t.await.unwrap());
    }
    assert_eq!(failed, 3);
    assert_eq!(chaos.target().report().injected(FaultKind::Error), 3);
}

#[tokio::test]
async fn counting_triggers_through_the_layer() {
    let cases: [(Trigger<u32>, Vec<u32>); 4] = [
        (Trigger::every(4), vec![4, 8, 12]),
        (Trigger::after(10), vec![11, 12]),
        (Trigger::first(2), vec![1, 2]),
        (
            Trigger::when(|r: &u32| r % 5 == 0).and(Trigger::first(2)),
            vec![5, 10],
        ),
    ];
    for (trigger, expected) in cases {
        let debug = format!("{trigger:?}");
        let mut svc = layer(Fault::injected_error().when(trigger)).layer(Counted::default());
        assert_eq!(failures(&mut svc, 1..=12).await, expected, "{debug}");
    }
}

#[tokio::test]
async fn predicate_and_negation() {
    let odd = || Trigger::when(|r: &u32| r % 2 == 1);
    let mut svc = layer(Fault::injected_error().when(!odd())).layer(Counted::default());
    assert_eq!(failures(&mut svc, 1..=6).await, [2, 4, 6]);
    let mut svc = layer(Fault::injected_error().when(odd() | Trigger::first(2))).layer(Counted::default());
    // `first(2)` is only reached by the even requests: 2 and 4.
    assert_eq!(failures(&mut svc, 1..=6).await, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn rate_hits_the_expected_fraction_for_a_fixed_seed() {
    let mut svc = layer(Fault::injected_error().when(Trigger::rate(0.3))).layer(Counted::default());
    let n = failures(&mut svc, 0..5_000).await.len();
    // Binomial(5000, 0.3): sd ~ 32; five sd either side.
    assert!((1_340..=1_660).contains(&n), "{n}");
}

/// Rate-led fault sets are decided by one draw for the whole set (the
/// screen); these pin what that must preserve.
#[tokio::test]
async fn a_counting_trigger_before_a_rate_still_counts_every_request() {
    // `first(2)` comes first, so it is reached by every request: only
    // requests 0 and 1 can fail, whatever the rate says later.
    // With seed 1, a `first(2)` wrongly counting only what the rate lets
    // through fails requests 0 and 2 (checked by breaking it on purpose).
    let chaos = ChaosLayer::builder("first-then-rate")
        .seed(1)
        .fault(Fault::injected_error().when(Trigger::first(2) & Trigger::rate(0.5)))
        .build()
        .unwrap();
    let failed = failures(&mut chaos.layer(Counted::default()), 0..200).await;
    assert!(failed.iter().all(|&r| r < 2), "{failed:?}");
    // And behind a rate it counts only the requests the rate lets through:
    // exactly two fail, not necessarily the first two.
    let mut svc =
        layer(Fault::injected_error().when(Trigger::rate(0.5) & Trigger::first(2))).layer(Counted::default());
    let failed = failures(&mut svc, 0..200).await;
    assert_eq!(failed.len(), 2, "{failed:?}");
}

#[tokio::test(start_paused = true)]
async fn rules_screened_together_keep_their_own_rates_and_independence() {
    let chaos = ChaosLayer::builder("screened")
        .seed(5)
        .fault(Fault::latency(tower_chaos::Latency::fixed(Duration::from_micros(1))).when(Trigger::rate(0.3)))
        .fault(Fault::injected_error().when(Trigger::when(|r: &u32| r % 2 == 0) & Trigger::rate(0.4)))
        .build()
        .unwrap();
    let mut svc = chaos.layer(Counted::default());
    let failed = failures(&mut svc, 0..20_000).await;
    let report = chaos.target().report();
    // Binomial(20000, 0.3): sd ~ 65; Binomial(10000, 0.4) on the even
    // requests: sd ~ 49. Five sd either side.
    let latency = report.injected(FaultKind::Latency);
    assert!((5_675..=6_325).contains(&latency), "{latency}");
    assert!((3_755..=4_245).contains(&failed.len()), "{}", failed.len());
    assert!(failed.iter().all(|r| r % 2 == 0));
    // Both on one request: 0.3 · 0.4 of the even ones, sd ~ 33.
    let both = latency + report.injected(FaultKind::Error) - report.faulted;
    assert!((1_035..=1_365).contains(&both), "{both}");
}

async fn keyed_failures_concurrently(tenants: u32, rounds: u32) -> BTreeSet<u32> {
    let chaos = layer(Fault::injected_error().when(Trigger::keyed(0.25, |tenant: &u32| *tenant)));
    let svc = chaos.layer(Counted::default());
    let mut tasks = Vec::new();
    // Tenants in a scrambled order, each several times, on a multi-thread
    // runtime: the answer must only depend on the key.
    for round in 0..rounds {
        for t in 0..tenants {
            let tenant = (t * 7 + round * 13) % tenants;
            let mut clone = svc.clone();
            tasks.push(tokio::spawn(async move {
                (tenant, call(&mut clone, tenant).await.is_err())
            }));
        }
    }
    let mut failed = BTreeSet::new();
    let mut passed = BTreeSet::new();
    for t in tasks {
        let (tenant, err) = t.await.unwrap();
        if err {
            failed.insert(tenant)
        } else {
            passed.insert(tenant)
        };
    }
    assert!(failed.is_disjoint(&passed), "a tenant both failed and passed");
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_answers_are_sticky_under_concurrency() {
    let a = keyed_failures_concurrently(200, 5).await;
    let b = keyed_failures_concurrently(200, 3).await;
    assert_eq!(
        a, b,
        "same seed, same tenants, whatever the order and concurrency"
    );
    assert!(
        (25..=75).contains(&a.len()),
        "about a quarter of 200: {}",
        a.len()
    );
}

#[tokio::test(start_paused = true)]
async fn window_follows_tokios_clock() {
    let window = Trigger::window(Duration::from_secs(60), Duration::from_secs(120));
    let mut svc = layer(Fault::injected_error().when(window)).layer(Counted::default());
    assert!(call(&mut svc, 1).await.is_ok());
    advance(Duration::from_secs(60)).await;
    assert!(call(&mut svc, 2).await.is_err());
    advance(Duration::from_secs(59)).await;
    assert!(call(&mut svc, 3).await.is_err());
    advance(Duration::from_secs(1)).await;
    assert!(call(&mut svc, 4).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn max_active_caps_concurrent_faults_across_clones() {
    let chaos: ChaosLayer<u32> = ChaosLayer::builder("cap")
        .seed(2)
        .fault(Fault::hang())
        .max_active(2)
        .build()
        .unwrap();
    let svc = chaos.layer(Counted::default());
    let mut hung = Vec::new();
    let mut passed = 0;
    for i in 0..10 {
        let mut clone = svc.clone();
        let fut = clone.ready().await.unwrap().call(i);
        match tokio::time::timeout(Duration::from_millis(1), fut).await {
            Ok(_) => passed += 1,
            Err(_) => hung.push(i),
        }
    }
    // Timed-out (dropped) hangs free their slot: each later one can hang.
    assert_eq!(passed, 0);
    assert_eq!(hung.len(), 10);

    // Held futures keep their slots: only two hang at once.
    let mut held = Vec::new();
    for i in 0..5 {
        let mut clone = svc.clone();
        held.push(clone.ready().await.unwrap().call(i));
    }
    let report = chaos.target().report();
    assert_eq!(report.injected(FaultKind::Hang), 12);
    assert_eq!(report.passed, 3);
}

#[tokio::test]
async fn budget_is_shared_by_clones() {
    let svc = layer(Fault::injected_error().when(Trigger::always()).budget(5)).layer(Counted::default());
    let mut failed = 0;
    for i in 0..20 {
        let mut clone = svc.clone();
        failed += usize::from(call(&mut clone, i).await.is_err());
    }
    assert_eq!(failed, 5);
}

#[tokio::test]
async fn inner_errors_pass_through_untouched() {
    let inner = tower::service_fn(|r: u32| async move {
        if r == 3 {
            Err::<u32, BoxError>("real failure".into())
        } else {
            Ok(r)
        }
    });
    let mut svc = layer(Fault::injected_error().when(Trigger::never())).layer(inner);
    assert_eq!(call(&mut svc, 3).await.unwrap_err().to_string(), "real failure");
}

#[tokio::test(start_paused = true)]
async fn overload_counts_the_load_of_every_clone_together() {
    use tower_chaos::Capacity;
    // Two clones, each offering 40 requests per second: 80 together
    // against room for 50, so about 3/8 are rejected once the window is
    // full. Alone, either clone would be under capacity.
    let chaos = layer(Fault::injected_error().when(Trigger::overload(Capacity::per_second(50.0))));
    let svc = ServiceBuilder::new()
        .layer(chaos.clone())
        .service(Counted::default());
    let (mut a, mut b) = (svc.clone(), svc.clone());
    let mut rejected = 0;
    for i in 0..800u32 {
        rejected += usize::from(call(&mut a, i).await.is_err());
        rejected += usize::from(call(&mut b, i).await.is_err());
        advance(Duration::from_millis(25)).await;
    }
    let share = rejected as f64 / 1_600.0;
    assert!((0.30..=0.42).contains(&share), "{share}");

    // One clone alone at 40 per second is never rejected.
    let chaos = layer(Fault::injected_error().when(Trigger::overload(Capacity::per_second(50.0))));
    let mut alone = chaos.layer(Counted::default());
    for i in 0..400u32 {
        assert!(call(&mut alone, i).await.is_ok());
        advance(Duration::from_millis(25)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn ramp_follows_the_targets_clock() {
    let chaos = layer(Fault::injected_error().when(Trigger::ramp(
        0.0,
        1.0,
        Duration::from_secs(10),
        Duration::from_secs(20),
    )));
    let mut svc = chaos.layer(Counted::default());
    let mut by_second = Vec::new();
    for _ in 0..25 {
        by_second.push(failures(&mut svc, 0..100).await.len());
        advance(Duration::from_secs(1)).await;
    }
    assert!(by_second[..10].iter().all(|n| *n == 0), "{by_second:?}");
    assert!(by_second[20..].iter().all(|n| *n == 100), "{by_second:?}");
    assert!((35..=65).contains(&by_second[15]), "{by_second:?}");
}

//! Triggers driven through a real layer: shared state across clones, keyed
//! stickiness under concurrency, windows on tokio's clock, caps and budgets.

mod support;

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

//! Every request-level fault, under paused time.

use crate::support;

use std::time::Duration;

use support::{Counted, call, poll_once, u32_layer};
use tokio::time::{Instant, advance, timeout};
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_chaos::{ChaosLayer, Fault, FaultKind, InjectedError, Latency, Trigger};

const MS: Duration = Duration::from_millis(1);

fn layer(rule: impl Into<tower_chaos::Rule<Fault<u32>, u32>>) -> ChaosLayer<u32> {
    ChaosLayer::builder("test")
        .seed(7)
        .journal(64)
        .fault(rule)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn latency_before_delays_the_inner_call() {
    let inner = Counted::default();
    let chaos = layer(Fault::latency(Latency::fixed(Duration::from_micros(1_500))));
    let mut svc = chaos.layer(inner.clone());
    let start = Instant::now();
    let mut fut = std::pin::pin!(svc.ready().await.unwrap().call(1));
    // Not called at `call` time, nor before the delay has passed.
    assert!(poll_once(&mut fut).is_none());
    assert_eq!(inner.calls(), 0);
    advance(Duration::from_micros(1_499)).await;
    assert!(poll_once(&mut fut).is_none());
    assert_eq!(inner.calls(), 0);
    assert_eq!(fut.await.unwrap(), 1);
    assert_eq!(inner.calls(), 1);
    // The delay is sampled and journaled to the nanosecond; tokio's timer
    // wakes on whole milliseconds, so the wait rounds up to the next tick.
    let report = chaos.target().report();
    assert_eq!(report.journal[0].delay, Some(Duration::from_micros(1_500)));
    assert!((Duration::from_micros(1_500)..Duration::from_micros(2_500)).contains(&start.elapsed()));
    assert_eq!(report.injected(FaultKind::Latency), 1);
}

#[tokio::test(start_paused = true)]
async fn latency_after_calls_at_once_and_holds_the_response() {
    let inner = Counted::default();
    let chaos = layer(Fault::latency_after(Latency::fixed(20 * MS)));
    let mut svc = chaos.layer(inner.clone());
    let start = Instant::now();
    let mut fut = std::pin::pin!(svc.ready().await.unwrap().call(5));
    assert!(poll_once(&mut fut).is_none());
    assert_eq!(inner.calls(), 1, "inner already ran");
    assert_eq!(fut.await.unwrap(), 5);
    assert_eq!(start.elapsed(), 20 * MS);
    assert_eq!(chaos.target().report().injected(FaultKind::LatencyAfter), 1);
}

#[tokio::test(start_paused = true)]
async fn latency_distributions_are_sampled_per_request() {
    let chaos = layer(Fault::latency(Latency::uniform(MS, 3 * MS)));
    let mut svc = chaos.layer(Counted::default());
    let mut waited = Vec::new();
    for i in 0..50 {
        let start = Instant::now();
        call(&mut svc, i).await.unwrap();
        waited.push(start.elapsed());
    }
    let journal = chaos.target().report().journal;
    let mut sampled: Vec<Duration> = journal.iter().map(|e| e.delay.unwrap()).collect();
    assert_eq!(sampled.len(), 50);
    for (w, s) in waited.iter().zip(&sampled) {
        assert!(w >= s && *w < *s + MS, "waited {w:?} for a {s:?} sample");
    }
    assert!(sampled.iter().all(|d| (MS..=3 * MS).contains(d)));
    sampled.sort();
    sampled.dedup();
    assert_eq!(sampled.len(), 50, "every request drew its own delay");
}

#[derive(Debug, PartialEq)]
enum DbError {
    Unavailable(u32),
}

#[tokio::test(start_paused = true)]
async fn error_is_built_from_the_request_without_calling_inner() {
    let counted = Counted::default();
    let calls = counted.calls.clone();
    let inner = tower::service_fn(move |req: u32| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { Ok::<u32, DbError>(req) }
    });
    let chaos: ChaosLayer<u32, DbError> = ChaosLayer::builder("db")
        .seed(1)
        .fault(Fault::error(|req: &u32| DbError::Unavailable(*req)).when(Trigger::when(|r: &u32| r % 2 == 0)))
        .build()
        .unwrap();
    let mut svc = chaos.layer(inner);
    assert_eq!(call(&mut svc, 4).await, Err(DbError::Unavailable(4)));
    assert_eq!(call(&mut svc, 5).await, Ok(5));
    assert_eq!(call(&mut svc, 6).await, Err(DbError::Unavailable(6)));
    assert_eq!(
        counted.calls(),
        1,
        "only the passing request reached the inner service"
    );
    let report = chaos.target().report();
    assert_eq!(
        (report.seen, report.passed, report.injected(FaultKind::Error)),
        (3, 1, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn injected_error_names_target_kind_and_rule() {
    let chaos = layer(Fault::injected_error().named("outage"));
    let mut svc = chaos.layer(Counted::default());
    let err = call(&mut svc, 1).await.unwrap_err();
    let injected = err
        .downcast_ref::<InjectedError>()
        .expect("downcastable from BoxError");
    assert_eq!(injected.target(), "test");
    assert_eq!(injected.kind(), FaultKind::Error);
    assert_eq!(injected.rule(), Some("outage"));
    assert_eq!(
        err.to_string(),
        "tower-chaos injected an error fault on target `test` (rule `outage`)"
    );
}

#[tokio::test(start_paused = true)]
async fn hang_never_completes_until_a_timeout_drops_it() {
    let inner = Counted::default();
    let chaos = layer(Fault::hang().when(Trigger::first(1)));
    let mut svc = chaos.layer(inner.clone());
    let start = Instant::now();
    let hung = timeout(Duration::from_secs(3600), call(&mut svc, 1)).await;
    assert!(hung.is_err(), "still pending after an hour");
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
    assert_eq!(inner.calls(), 0);
    assert_eq!(call(&mut svc, 2).await.unwrap(), 2);
    assert_eq!(chaos.target().report().injected(FaultKind::Hang), 1);
}

#[tokio::test(start_paused = true)]
async fn lost_reply_runs_the_inner_service_and_fails_the_caller() {
    let inner = Counted::default();
    let chaos = layer(Fault::lost_reply_injected().when(Trigger::first(1)));
    let mut svc = chaos.layer(inner.clone());
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<InjectedError>().unwrap().kind(),
        FaultKind::LostReply
    );
    assert_eq!(inner.calls(), 1, "the write happened");
    // The retry repeats it: the rehearsal an idempotency test needs.
    assert_eq!(call(&mut svc, 1).await.unwrap(), 1);
    assert_eq!(inner.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn lost_reply_with_a_user_error() {
    let chaos: ChaosLayer<u32, DbError> = ChaosLayer::builder("db")
        .seed(1)
        .fault(Fault::lost_reply(|r: &u32| DbError::Unavailable(*r)))
        .build()
        .unwrap();
    let mut svc = chaos.layer(tower::service_fn(|r: u32| async move { Ok::<_, DbError>(r) }));
    assert_eq!(call(&mut svc, 9).await, Err(DbError::Unavailable(9)));
}

#[tokio::test(start_paused = true)]
async fn delays_add_up_and_the_first_terminal_fault_wins() {
    let inner = Counted::default();
    let chaos = u32_layer(
        "combo",
        3,
        [
            Fault::latency(Latency::fixed(10 * MS)).into(),
            Fault::injected_error().named("first-terminal"),
            Fault::latency(Latency::fixed(5 * MS)).into(),
            Fault::hang().named("second-terminal"),
            Fault::latency_after(Latency::fixed(7 * MS)).into(),
        ],
    );
    let mut svc = chaos.layer(inner.clone());
    let start = Instant::now();
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        22 * MS,
        "15ms before + 7ms after, then the error"
    );
    assert_eq!(
        err.downcast_ref::<InjectedError>().unwrap().rule(),
        Some("first-terminal")
    );
    assert_eq!(inner.calls(), 0);
    let report = chaos.target().report();
    assert_eq!(report.injected(FaultKind::Latency), 2);
    assert_eq!(report.injected(FaultKind::Hang), 0);
    assert_eq!(report.faulted, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_futures_frees_active_slots() {
    for fault in [
        Fault::hang(),
        Fault::latency(Latency::fixed(Duration::from_secs(10))),
        Fault::lost_reply_injected(),
    ] {
        let chaos = layer(fault.clone().when(Trigger::always()).max_active(1));
        let inner = tower::service_fn(|r: u32| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, BoxError>(r)
        });
        let mut svc = chaos.layer(inner);
        // First request holds the only slot; the second passes untouched.
        let held = svc.ready().await.unwrap().call(1);
        let start = Instant::now();
        assert_eq!(call(&mut svc, 2).await.unwrap(), 2, "{fault:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        drop(held);
        // The slot is free again: the next request gets the fault.
        let mut next = std::pin::pin!(svc.ready().await.unwrap().call(3));
        assert!(poll_once(&mut next).is_none());
        let report = chaos.target().report();
        assert_eq!(report.injected(fault.kind()), 2, "{fault:?}");
        assert_eq!((report.seen, report.faulted, report.passed), (3, 2, 1));
    }
}

#[tokio::test(start_paused = true)]
async fn budget_caps_total_injections() {
    let chaos = layer(Fault::injected_error().when(Trigger::every(2)).budget(2));
    let mut svc = chaos.layer(Counted::default());
    assert_eq!(support::failures(&mut svc, 1..=10).await, [2, 4]);
}

/// A zero delay injects nothing: the rule's budget and active-fault slot
/// are given back, so a later non-zero sample still gets the budget.
#[tokio::test(start_paused = true)]
async fn a_zero_sample_gives_back_the_budget_and_the_slot() {
    let tiny = || Fault::latency(Latency::uniform(Duration::ZERO, Duration::from_nanos(1)));
    let build = |seed: u64| {
        ChaosLayer::<u32>::builder("db")
            .seed(seed)
            .fault(tiny().when(Trigger::always()).budget(1).max_active(1))
            .build()
            .unwrap()
    };
    // A seed whose first sample is zero (the same seed and call index give
    // the same sample, budget or not).
    let mut seed = 0;
    loop {
        let probe = ChaosLayer::<u32>::builder("db")
            .seed(seed)
            .fault(tiny())
            .build()
            .unwrap();
        let mut svc = probe.layer(Counted::default());
        call(&mut svc, 0).await.unwrap();
        if probe.target().report().faulted == 0 {
            break;
        }
        seed += 1;
    }
    let chaos = build(seed);
    let mut svc = chaos.layer(Counted::default());
    for i in 0..64 {
        call(&mut svc, i).await.unwrap();
    }
    let report = chaos.target().report();
    assert_eq!(
        (report.faulted, report.injected(FaultKind::Latency)),
        (1, 1),
        "seed {seed}"
    );
    assert_eq!((report.faults_overflow, report.active_faults), (0, 0));
}

/// Issue 10: delays at the documented limit. Two rules of
/// `Latency::MAX_DELAY` before and two after: each sum stops at the limit
/// (tokio would otherwise cut a sleep beyond 30 years silently), the
/// journal keeps each fault's own delay, and nothing overflows.
#[tokio::test(start_paused = true)]
async fn delays_add_up_to_at_most_the_limit() {
    let max = Latency::fixed(Latency::MAX_DELAY);
    let chaos: ChaosLayer<u32> = ChaosLayer::builder("limit")
        .seed(7)
        .journal(8)
        .fault(Fault::latency(max))
        .fault(Fault::latency(max))
        .fault(Fault::latency_after(max))
        .fault(Fault::latency_after(max))
        .build()
        .unwrap();
    let inner = Counted::default();
    let mut svc = chaos.layer(inner.clone());
    let start = Instant::now();
    let mut fut = std::pin::pin!(svc.ready().await.unwrap().call(5));
    advance(Latency::MAX_DELAY - MS).await;
    assert!(poll_once(&mut fut).is_none());
    assert_eq!(inner.calls(), 0);
    advance(MS).await;
    assert!(poll_once(&mut fut).is_none());
    assert_eq!(inner.calls(), 1, "called once the limit has passed");
    assert_eq!(fut.await.unwrap(), 5);
    let waited = start.elapsed();
    assert!(
        (2 * Latency::MAX_DELAY..2 * Latency::MAX_DELAY + 2 * MS).contains(&waited),
        "{waited:?}"
    );
    let report = chaos.target().report();
    assert!(report.journal.iter().all(|e| e.delay == Some(Latency::MAX_DELAY)));
    assert_eq!(report.journal.len(), 4);
}

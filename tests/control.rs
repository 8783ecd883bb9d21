//! The target handle at run time: switches, rate scale, swapping faults
//! while requests are in flight, reports, journal and tracing.

mod support;

use std::time::Duration;

use support::{Counted, call, failures};
use tokio::time::advance;
use tower::{Layer, Service, ServiceExt};
use tower_chaos::{ChaosLayer, Fault, FaultKind, FaultSet, Latency, Target, Trigger};

#[tokio::test(start_paused = true)]
async fn disable_and_enable_while_requests_are_in_flight() {
    let chaos: ChaosLayer<u32> = ChaosLayer::builder("switch")
        .seed(1)
        .fault(Fault::latency(Latency::fixed(Duration::from_secs(1))))
        .fault(Fault::injected_error())
        .build()
        .unwrap();
    let target = chaos.target().clone();
    let mut svc = chaos.layer(Counted::default());
    let in_flight = svc.ready().await.unwrap().call(1);
    target.disable();
    assert_eq!(call(&mut svc, 2).await.unwrap(), 2, "passes straight through");
    assert!(in_flight.await.is_err(), "keeps the faults it was given");
    target.enable();
    assert!(call(&mut svc, 3).await.is_err());
    let r = target.report();
    assert_eq!((r.seen, r.passed, r.faulted), (3, 1, 2));
}

#[tokio::test]
async fn rate_scale_changes_rates_at_run_time() {
    let chaos: ChaosLayer<u32> = ChaosLayer::builder("scale")
        .seed(5)
        .fault(Fault::injected_error().when(Trigger::rate(0.5)))
        .build()
        .unwrap();
    let mut svc = chaos.layer(Counted::default());
    chaos.target().set_rate_scale(0.0).unwrap();
    assert!(failures(&mut svc, 0..500).await.is_empty());
    chaos.target().set_rate_scale(2.0).unwrap();
    assert_eq!(failures(&mut svc, 0..500).await.len(), 500, "0.5 x 2 = always");
    chaos.target().set_rate_scale(1.0).unwrap();
    let n = failures(&mut svc, 0..1_000).await.len();
    assert!((400..=600).contains(&n), "{n}");
}

#[tokio::test(start_paused = true)]
async fn swap_faults_while_requests_are_in_flight() {
    let target = Target::builder("swap").seed(9).build().unwrap();
    let layer: ChaosLayer<u32> = ChaosLayer::for_target(&target);
    layer
        .set_faults(FaultSet::new().with(Fault::latency(Latency::fixed(Duration::from_secs(10)))))
        .unwrap();
    let mut svc = layer.layer(Counted::default());
    let mut clone = svc.clone();
    let slow = svc.ready().await.unwrap().call(1);

    layer
        .set_faults(FaultSet::new().with(Fault::injected_error().when(Trigger::first(1))))
        .unwrap();
    // Both the original service and its clone see the new set at once, and
    // the new `first(1)` counts from zero across them.
    assert!(call(&mut clone, 2).await.is_err());
    assert!(call(&mut svc, 3).await.is_ok());
    assert!(call(&mut clone, 4).await.is_ok());
    let start = tokio::time::Instant::now();
    assert_eq!(slow.await.unwrap(), 1, "the in-flight request kept its old fault");
    assert_eq!(start.elapsed(), Duration::from_secs(10));

    // A bad set is rejected and the current one stays.
    let bad = FaultSet::new().with(Fault::hang().when(Trigger::every(0)));
    assert!(
        layer
            .set_faults(bad)
            .unwrap_err()
            .to_string()
            .contains("trigger.every")
    );
    target.clear_faults::<Fault<u32>, u32>();
    assert!(call(&mut svc, 5).await.is_ok());
    let r = target.report();
    assert_eq!(
        (r.injected(FaultKind::Latency), r.injected(FaultKind::Error)),
        (1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn journal_is_timestamped_on_tokios_clock_and_bounded() {
    let chaos: ChaosLayer<u32> = ChaosLayer::builder("journal")
        .seed(1)
        .journal(3)
        .fault(Fault::injected_error().named("boom"))
        .build()
        .unwrap();
    let mut svc = chaos.layer(Counted::default());
    for i in 0..5 {
        advance(Duration::from_secs(10)).await;
        let _ = call(&mut svc, i).await;
    }
    let r = chaos.target().report();
    let at: Vec<u64> = r.journal.iter().map(|e| e.at.as_secs()).collect();
    assert_eq!(at, [30, 40, 50]);
    assert_eq!(r.journal_dropped, 2);
    assert_eq!(r.journal[0].rule_name.as_deref(), Some("boom"));
    assert!(r.to_string().contains("(journal dropped 2 older events)"));
}

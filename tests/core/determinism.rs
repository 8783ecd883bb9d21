//! Same seed and call order, same faults: decided at `call`, not at poll.

use crate::support;

use std::time::Duration;

use support::Counted;
use tower::{Layer, Service, ServiceExt};
use tower_chaos::{ChaosLayer, Fault, Latency, Trigger};

fn chaos(seed: u64) -> ChaosLayer<u32> {
    ChaosLayer::builder("det")
        .seed(seed)
        .journal(1_000)
        .fault(Fault::latency(Latency::log_normal(Duration::from_millis(5), 0.7)).when(Trigger::rate(0.4)))
        .fault(Fault::injected_error().when(Trigger::rate(0.2)))
        .build()
        .unwrap()
}

/// Calls 100 requests, polling the futures in `order`; returns which failed
/// and the sampled delays.
async fn run(seed: u64, reverse: bool) -> (Vec<bool>, Vec<Option<Duration>>) {
    let layer = chaos(seed);
    let mut svc = layer.layer(Counted::default());
    let mut futures = Vec::new();
    for i in 0..100 {
        futures.push(svc.ready().await.unwrap().call(i));
    }
    let mut results = vec![false; 100];
    let mut indexed: Vec<_> = futures.into_iter().enumerate().collect();
    if reverse {
        indexed.reverse();
    }
    for (i, fut) in indexed {
        results[i] = fut.await.is_err();
    }
    let delays = layer.target().report().journal.iter().map(|e| e.delay).collect();
    (results, delays)
}

#[tokio::test(start_paused = true)]
async fn polling_order_does_not_change_the_outcome() {
    let forward = run(42, false).await;
    let backward = run(42, true).await;
    assert_eq!(forward, backward);
    let failed = forward.0.iter().filter(|f| **f).count();
    assert!((5..=40).contains(&failed), "{failed}");
}

#[tokio::test(start_paused = true)]
async fn seeds_replay_and_differ() {
    assert_eq!(run(7, false).await, run(7, false).await);
    assert_ne!(run(7, false).await.0, run(8, false).await.0);
}

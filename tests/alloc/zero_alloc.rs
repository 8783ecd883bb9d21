//! The pass-through path allocates nothing: a counting global allocator
//! (the `alloc` binary's own, see `main.rs`) watches 10 000 calls through armed, disabled and
//! empty layers.

use std::future::Ready;

use tower::{BoxError, Layer, Service, ServiceExt};
use tower_chaos::{ChaosLayer, Fault, FaultKind, Latency, Trigger};

use crate::support::{Counted, alloc_counter};

/// Allocations made on this thread while driving `n` calls.
async fn allocations<S>(svc: &mut S, n: u64) -> u64
where
    S: Service<u64, Response = u64, Error = BoxError>,
{
    // Warm up (first-use initialisation is not per-call cost).
    svc.ready().await.unwrap().call(0).await.unwrap();
    alloc_counter::start();
    for i in 0..n {
        let out = svc.ready().await.unwrap().call(i).await.unwrap();
        assert_eq!(out, i);
    }
    alloc_counter::stop()
}

fn armed() -> ChaosLayer<u64> {
    ChaosLayer::builder("zero-alloc")
        .seed(1)
        .journal(16)
        .fault(
            Fault::latency(Latency::log_normal(std::time::Duration::from_millis(5), 1.0))
                .when(Trigger::rate(1e-9)),
        )
        .fault(Fault::injected_error().when(Trigger::rate(1e-9) & Trigger::every(3)))
        .fault(Fault::hang().when(Trigger::keyed(1e-9, |r: &u64| r % 16).and(Trigger::first(1_000_000))))
        .fault(
            Fault::lost_reply_injected()
                .when(Trigger::when(|r: &u64| *r == u64::MAX))
                .budget(1)
                .max_active(1),
        )
        .max_active(8)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn no_allocation_when_no_fault_fires() {
    // Control: the counter does see allocations.
    let ((), n) = alloc_counter::during(|| drop(std::hint::black_box(Box::new(1u8))));
    assert_eq!(n, 1, "the counting allocator works");

    let chaos = armed();
    let mut svc = chaos.layer(Counted::default());
    assert_eq!(allocations(&mut svc, 10_000).await, 0, "armed, nothing fired");
    let r = chaos.target().report();
    assert_eq!((r.seen, r.total_injected()), (10_001, 0), "{r}");

    chaos.target().disable();
    assert_eq!(allocations(&mut svc, 10_000).await, 0, "disabled");

    let empty: ChaosLayer<u64> = ChaosLayer::builder("empty").seed(1).build().unwrap();
    let mut svc = empty.layer(Counted::default());
    assert_eq!(allocations(&mut svc, 10_000).await, 0, "no faults installed");

    // And the fault path is allowed to allocate (an error is boxed): the
    // test would notice if faults silently stopped firing.
    let failing: ChaosLayer<u64> = ChaosLayer::builder("failing")
        .seed(1)
        .fault(Fault::injected_error().when(Trigger::first(1)))
        .build()
        .unwrap();
    let mut svc = failing.layer(Counted::default());
    assert!(svc.ready().await.unwrap().call(1).await.is_err());
    assert_eq!(failing.target().report().injected(FaultKind::Error), 1);
}

#[test]
fn pass_through_future_is_no_larger_than_the_inner_one() {
    // The faulted state lives behind one allocation made only when a fault
    // fires, so the common future stays as small as the inner future.
    assert_eq!(
        std::mem::size_of::<tower_chaos::ResponseFuture<Counted, u64>>(),
        std::mem::size_of::<Ready<Result<u64, BoxError>>>()
    );
}

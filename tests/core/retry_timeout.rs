//! tower's own resilience middleware rides out injected faults, and the
//! target's counters prove what happened.

use crate::support;

use std::hash::{BuildHasherDefault, DefaultHasher};
use std::time::Duration;

use support::{Counted, call, u32_layer};
use tower::retry::Policy;
use tower::retry::backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use tower::util::rng::HasherRng;
use tower::{BoxError, ServiceBuilder};
use tower_chaos::{Fault, FaultKind, Latency, Trigger};

type Rng = HasherRng<BuildHasherDefault<DefaultHasher>>;

/// Retries errors (injected errors and timeouts alike) with exponential
/// backoff and jitter, up to `attempts` times.
#[derive(Clone)]
struct RetryWithBackoff {
    attempts: usize,
    backoff: ExponentialBackoff<Rng>,
}

impl RetryWithBackoff {
    fn new(attempts: usize) -> Self {
        let maker = ExponentialBackoffMaker::new(
            Duration::from_millis(10),
            Duration::from_secs(1),
            0.5,
            HasherRng::with_hasher(BuildHasherDefault::default()),
        );
        Self {
            attempts,
            backoff: maker.unwrap().make_backoff(),
        }
    }
}

impl Policy<u32, u32, BoxError> for RetryWithBackoff {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _: &mut u32, result: &mut Result<u32, BoxError>) -> Option<Self::Future> {
        if result.is_err() && self.attempts > 0 {
            self.attempts -= 1;
            Some(self.backoff.next_backoff())
        } else {
            None
        }
    }

    fn clone_request(&mut self, req: &u32) -> Option<u32> {
        Some(*req)
    }
}

#[tokio::test(start_paused = true)]
async fn retry_and_timeout_ride_out_errors_hangs_and_latency() {
    let chaos = u32_layer(
        "flaky-dependency",
        2024,
        [
            Fault::injected_error().when(Trigger::first(2)),
            Fault::hang().when(Trigger::after(2) & Trigger::first(1)),
            Fault::latency(Latency::fixed(Duration::from_millis(30))).when(Trigger::after(3)),
        ],
    );
    let target = chaos.target().clone();
    let inner = Counted::default();
    let mut svc = ServiceBuilder::new()
        .retry(RetryWithBackoff::new(5))
        .timeout(Duration::from_millis(100))
        .layer(chaos)
        .service(inner.clone());

    let start = tokio::time::Instant::now();
    assert_eq!(call(&mut svc, 7).await.unwrap(), 7);
    // error, error, hang (cut by the 100 ms timeout), then a slow success.
    assert_eq!(inner.calls(), 1);
    let r = target.report();
    assert_eq!(r.seen, 4);
    assert_eq!(r.injected(FaultKind::Error), 2);
    assert_eq!(r.injected(FaultKind::Hang), 1);
    assert_eq!(r.injected(FaultKind::Latency), 1);
    assert_eq!(r.passed, 0);
    assert!(
        start.elapsed() >= Duration::from_millis(130),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn retries_absorb_a_random_error_rate() {
    let chaos = u32_layer("brownout", 99, [Fault::injected_error().when(Trigger::rate(0.3))]);
    let target = chaos.target().clone();
    let mut svc = ServiceBuilder::new()
        .retry(RetryWithBackoff::new(10))
        .timeout(Duration::from_millis(100))
        .layer(chaos)
        .service(Counted::default());
    for i in 0..200 {
        assert_eq!(call(&mut svc, i).await.unwrap(), i);
    }
    let r = target.report();
    assert_eq!(r.passed, 200, "every request eventually got through once");
    assert_eq!(
        r.seen,
        200 + r.injected(FaultKind::Error),
        "each failure cost one retry"
    );
    assert!((40..=130).contains(&r.injected(FaultKind::Error)), "{r}");
}

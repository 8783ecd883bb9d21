//! A client with a timeout and retries against a flaky dependency, rehearsed
//! for ten minutes of virtual time in a few milliseconds.
//!
//! ```text
//! cargo run --example flaky_dependency            # seed 42
//! TOWER_CHAOS_SEED=7 cargo run --example flaky_dependency -- --env-seed
//! ```

use std::time::Duration;

use tower::retry::Policy;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_chaos::{ChaosLayer, Fault, FaultKind, InjectedError, Latency, Trigger};

/// Retries up to three times after 100 ms, 200 ms, 400 ms.
#[derive(Clone)]
struct Backoff {
    attempt: u32,
}

impl Policy<u64, u64, BoxError> for Backoff {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _: &mut u64, result: &mut Result<u64, BoxError>) -> Option<Self::Future> {
        if result.is_ok() || self.attempt == 3 {
            return None;
        }
        self.attempt += 1;
        Some(tokio::time::sleep(Duration::from_millis(50 << self.attempt)))
    }

    fn clone_request(&mut self, req: &u64) -> Option<u64> {
        Some(*req)
    }
}

fn main() -> Result<(), BoxError> {
    let env_seed = std::env::args().any(|a| a == "--env-seed");
    // Paused time: timers fire as soon as nothing else can run, so minutes
    // of timeline pass in milliseconds, deterministically.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    rt.block_on(rehearse(env_seed))
}

async fn rehearse(env_seed: bool) -> Result<(), BoxError> {
    let ms = Duration::from_millis;
    let minute = Duration::from_secs(60);
    let builder = ChaosLayer::builder("payments-api").journal(10_000);
    let builder = if env_seed { builder } else { builder.seed(42) };
    let chaos = builder
        // Always a realistic latency tail.
        .fault(Fault::latency(
            Latency::log_normal(ms(40), 0.5).clamp(ms(5), ms(2_000)),
        ))
        // Minutes 2 to 6: a brownout, 30% of calls fail fast...
        .fault(Fault::injected_error().when(Trigger::window(2 * minute, 6 * minute) & Trigger::rate(0.3)))
        // ...and 5% hang until the client's timeout gives up.
        .fault(Fault::hang().when(Trigger::window(2 * minute, 6 * minute) & Trigger::rate(0.05)))
        .build()?;
    let target = chaos.target().clone();

    let mut client = ServiceBuilder::new()
        .retry(Backoff { attempt: 0 })
        .timeout(ms(500))
        .layer(chaos)
        .service(service_fn(|amount: u64| async move { Ok::<_, BoxError>(amount) }));

    println!(
        "rehearsing 10 minutes of `payments-api` (seed {}, {})",
        target.seed(),
        target.seed_source()
    );
    let (mut ok, mut failed) = (0u32, 0u32);
    let mut per_minute = [(0u32, 0u32); 10];
    let start = tokio::time::Instant::now();
    for request in 0..600u64 {
        let at = start.elapsed();
        let minute_index = (at.as_secs() / 60).min(9) as usize;
        match client.ready().await?.call(request).await {
            Ok(_) => {
                ok += 1;
                per_minute[minute_index].0 += 1;
            }
            Err(e) => {
                failed += 1;
                per_minute[minute_index].1 += 1;
                let why = if e.is::<tower::timeout::error::Elapsed>() {
                    "timeout".to_owned()
                } else if let Some(i) = e.downcast_ref::<InjectedError>() {
                    i.kind().to_string()
                } else {
                    e.to_string()
                };
                if failed <= 3 {
                    println!("  request {request} failed after retries at {at:?}: {why}");
                }
            }
        }
        // One request a second, on the virtual clock.
        tokio::time::sleep_until(start + Duration::from_secs(request + 1)).await;
    }
    println!("\nminute  ok  failed");
    for (m, (o, f)) in per_minute.iter().enumerate() {
        println!("{m:>6} {o:>3} {f:>7}");
    }
    let report = target.report();
    println!("\n{report}");
    println!(
        "client saw {ok} successes and {failed} failures; {} faults injected in {:?} of virtual time",
        report.total_injected(),
        start.elapsed()
    );
    assert_eq!(report.seen, report.passed + report.faulted);
    assert!(
        report.injected(FaultKind::Error) > 0,
        "the brownout injected errors"
    );
    Ok(())
}

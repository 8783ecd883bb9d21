//! One run of the user's test: faults installed, a fresh paused-time
//! runtime, the test's verdict and the points it reached.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use super::arm::{Arm, Placed};
use super::error::ExploreError;
use super::point::{Injection, Point, Probe};

thread_local! {
    static RUN_SEED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The seed of the exploration run in progress on this thread, for a
/// test that draws random numbers of its own (jitter, generated data):
/// seed them from this, and a replay gives the same draws. `None` outside
/// a run.
///
/// ```
/// assert_eq!(tower_chaos::explore::run_seed(), None);
/// ```
#[must_use]
pub fn run_seed() -> Option<u64> {
    RUN_SEED.with(Cell::get)
}

/// Sets [`run_seed`] for as long as it lives.
struct SeedGuard;

impl SeedGuard {
    fn set(seed: u64) -> Self {
        RUN_SEED.with(|s| s.set(Some(seed)));
        Self
    }
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        RUN_SEED.with(|s| s.set(None));
    }
}

/// What one run did.
#[derive(Debug, Clone)]
pub(crate) struct Ran {
    /// The test's own error (or panic message, or the run timeout); `None`
    /// when it passed.
    pub(crate) error: Option<String>,
    /// Every point reached, target by target, each in call order.
    pub(crate) reached: Vec<Point>,
    /// The points where a fault of the run fired.
    pub(crate) fired: Vec<Point>,
}

/// Runs `test` once with `faults` placed on `arms`, on a fresh
/// current-thread runtime with paused time, within `timeout` of virtual
/// time.
pub(crate) fn once<F, Fut, E>(
    arms: &[Arc<dyn Arm>],
    faults: &[Injection],
    seed: u64,
    timeout: Duration,
    test: &mut F,
) -> Result<Ran, ExploreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    let probes: Vec<Arc<Probe>> = arms.iter().map(|_| Arc::default()).collect();
    for (arm, probe) in arms.iter().zip(&probes) {
        arm.target().reset_counts();
        let name = arm.target().name();
        let placed: Vec<Placed> = faults
            .iter()
            .filter(|i| i.point.target == name)
            .map(|i| (i.point.signature.clone(), i.point.occurrence, i.fault))
            .collect();
        if let Err(e) = arm.install(probe, &placed) {
            arms.iter().for_each(|a| a.clear());
            return Err(e.into());
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| {
            arms.iter().for_each(|a| a.clear());
            ExploreError::Runtime(e)
        })?;
    let verdict = {
        let _seed = SeedGuard::set(seed);
        catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async { tokio::time::timeout(timeout, test()).await })
        }))
    };
    drop(runtime);
    let error = match verdict {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(e.to_string()),
        Ok(Err(_elapsed)) => Some(format!(
            "the test did not finish within {timeout:?} of (paused) tokio time: a fault left it waiting"
        )),
        Err(panic) => Some(panic_message(&*panic)),
    };
    let (mut reached, mut fired) = (Vec::new(), Vec::new());
    for (arm, probe) in arms.iter().zip(&probes) {
        let (r, f) = probe.take(arm.target().name());
        reached.extend(r);
        fired.extend(f);
        arm.clear();
    }
    tracing::debug!(
        target: "tower_chaos",
        faults = %super::spec::list(faults),
        seed,
        passed = error.is_none(),
        reached = reached.len(),
        "explore: run done"
    );
    Ok(Ran {
        error,
        reached,
        fired,
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<a panic payload that is not a string>".to_owned());
    format!("panicked: {text}")
}

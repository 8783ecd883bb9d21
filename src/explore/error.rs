//! What can stop an exploration ([`ExploreError`]) and what a replay saw
//! ([`Replay`]).

use super::point::Injection;
use crate::ConfigError;

/// Why an exploration could not run (the test's own failures are in the
/// [`Exploration`](super::Exploration), not here).
///
/// ```
/// use tower_chaos::explore::{ExploreError, Explorer};
/// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
/// let err = Explorer::new("x").target(&layer).max_faults(0).run(|| async { Ok::<(), String>(()) }).unwrap_err();
/// assert_eq!(err.to_string(), "invalid `explorer.max_faults` = 0: must be within 1..=63");
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExploreError {
    /// A setting of the explorer was refused (the field and value named).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// [`Explorer::run`](super::Explorer::run) or [`Explorer::replay`](super::Explorer::replay) was called on a thread
    /// running a tokio runtime (e.g. in `#[tokio::test]`): each run
    /// builds its own runtime, which cannot nest.
    #[error(
        "the explorer was called inside a tokio runtime: call it from a plain `#[test]` \
         (each run builds its own paused-time runtime, and runtimes cannot nest)"
    )]
    InsideRuntime,
    /// The tokio runtime of a run could not be built.
    #[error("could not build a run's tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The test fails without any fault: there is nothing to explore.
    #[error("the test fails with no fault injected (fix it first; replay: {replay}): {error}")]
    BaselineFailed {
        /// The test's error.
        error: String,
        /// The baseline's replay spec.
        replay: String,
    },
    /// A replay spec could not be read.
    #[error("invalid replay spec {spec:?}: {reason}")]
    Spec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What [`Explorer::replay`](super::Explorer::replay) saw.
///
/// ```
/// # use tower_chaos::explore::Explorer;
/// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
/// let replay = Explorer::new("x").target(&layer).replay("seed=3; hang@db#1", || async { Ok::<(), String>(()) })?;
/// // The test never called `db`: the fault had nowhere to fire.
/// assert!(replay.passed());
/// assert_eq!(replay.not_reached.len(), 1);
/// # Ok::<(), tower_chaos::explore::ExploreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replay {
    /// The faults replayed.
    pub faults: Vec<Injection>,
    /// The run's seed.
    pub seed: u64,
    /// The test's error; `None` when it passed.
    pub error: Option<String>,
    /// Faults whose point the run never reached.
    pub not_reached: Vec<Injection>,
}

impl Replay {
    /// Whether the test passed.
    ///
    /// See the [type example](Self).
    #[must_use]
    pub const fn passed(&self) -> bool {
        self.error.is_none()
    }
}

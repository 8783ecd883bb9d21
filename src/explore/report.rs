//! What an exploration found: [`Exploration`], per point and fault a
//! [`Verdict`], the minimal failing fault sets, and what the budget cut.

use std::fmt;
use std::time::Duration;

use super::point::Injection;
use super::spec;

/// What happened to one fault at one point.
///
/// ```
/// use tower_chaos::explore::Verdict;
/// assert_eq!(Verdict::NotReached.to_string(), "not reached");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Verdict {
    /// The test passed with the fault injected.
    Passed,
    /// The test failed with the fault injected.
    Failed,
    /// The run meant to inject it never reached its point.
    NotReached,
    /// The budget ran out before a run with it.
    Skipped,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::NotReached => "not reached",
            Self::Skipped => "skipped",
        })
    }
}

/// One row of the table: a fault at a point, the other faults of the run
/// that tried it (empty for a single fault), and what happened.
///
/// ```
/// use tower_chaos::explore::{Explorer, Verdict};
/// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
/// let outcome = Explorer::new("no call, no point")
///     .target(&layer)
///     .run(|| async { Ok::<(), String>(()) })?;
/// assert!(outcome.points.is_empty());
/// # Ok::<(), tower_chaos::explore::ExploreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Tried {
    /// The fault and its point.
    pub injection: Injection,
    /// The faults injected with it (those that made its point reachable).
    pub with: Vec<Injection>,
    /// What happened.
    pub verdict: Verdict,
}

/// A minimal failing fault set: the test fails with these faults, and
/// with no smaller subset of them that was tried.
///
/// ```
/// # use tower_chaos::explore::Explorer;
/// # let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
/// let outcome = Explorer::new("clean").target(&layer).run(|| async { Ok::<(), String>(()) })?;
/// assert!(outcome.failures.is_empty());
/// # Ok::<(), tower_chaos::explore::ExploreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Failure {
    /// The faults, in the order the exploration added them (a fault
    /// before the one at the point it made reachable).
    pub faults: Vec<Injection>,
    /// The test's own error for a run with exactly these faults.
    pub error: String,
    /// The line [`Explorer::replay`](super::Explorer::replay) takes to run
    /// it again, alone.
    pub replay: String,
    /// Whether every subset one fault smaller was run and passed (`false`
    /// when the budget stopped the shrinking).
    pub minimal: bool,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", spec::list(&self.faults))?;
        if !self.minimal {
            f.write_str(" (not shrunk: budget)")?;
        }
        write!(f, "\n    error:  {}\n    replay: {}", self.error, self.replay)
    }
}

/// Which budget stopped the exploration.
///
/// ```
/// use tower_chaos::explore::Limit;
/// assert_eq!(Limit::Runs(10).to_string(), "max_runs = 10");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Limit {
    /// [`Explorer::max_runs`](super::Explorer::max_runs).
    Runs(usize),
    /// [`Explorer::max_wall_time`](super::Explorer::max_wall_time).
    WallTime(Duration),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Runs(n) => write!(f, "max_runs = {n}"),
            Self::WallTime(d) => write!(f, "max_wall_time = {d:?}"),
        }
    }
}

/// What [`Explorer::run`](super::Explorer::run) found: see the
/// [module example](super).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Exploration {
    /// The explorer's name.
    pub name: String,
    /// The exploration seed.
    pub seed: u64,
    /// Points the baseline run (no fault) reached.
    pub baseline_points: usize,
    /// Points only runs with faults reached (retries, fallbacks).
    pub new_points: usize,
    /// Runs made, the baseline and shrinking runs included.
    pub runs: usize,
    /// Runs brute force would make: the baseline, plus one per set of at
    /// most `max_faults` of the points seen, each with any fault of its
    /// menu (saturating).
    pub brute_force: u64,
    /// Passing runs whose extensions were not explored because an earlier
    /// run with faults at the same points reached the same points with the
    /// same result.
    pub deduplicated: usize,
    /// Every fault tried at every point, in the order tried, then those
    /// the budget skipped.
    pub points: Vec<Tried>,
    /// The minimal failing fault sets, in the order found.
    pub failures: Vec<Failure>,
    /// Fault sets the search planned but did not run (budget), each
    /// written as in a replay spec (`lost-reply@payments#1 &
    /// error@payments#2`). Shrinking cut short by the budget shows as
    /// [`Failure::minimal`] `false`.
    pub skipped: Vec<String>,
    /// The budget that stopped the exploration, if one did.
    pub stopped_by: Option<Limit>,
}

impl Exploration {
    /// `Ok` when no fault set made the test fail; otherwise the failures,
    /// each with its error and replay line.
    ///
    /// # Errors
    ///
    /// [`NotSurvived`] listing the minimal failing sets.
    ///
    /// ```
    /// # use tower_chaos::explore::Explorer;
    /// # let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
    /// let outcome = Explorer::new("clean").target(&layer).run(|| async { Ok::<(), String>(()) })?;
    /// outcome.assert_survives()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn assert_survives(&self) -> Result<(), NotSurvived> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(NotSurvived {
                name: self.name.clone(),
                failures: self.failures.clone(),
            })
        }
    }

    /// Whether nothing was skipped: every planned run was made.
    ///
    /// ```
    /// # use tower_chaos::explore::Explorer;
    /// # let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
    /// let outcome = Explorer::new("clean").target(&layer).run(|| async { Ok::<(), String>(()) })?;
    /// assert!(outcome.is_complete());
    /// # Ok::<(), tower_chaos::explore::ExploreError>(())
    /// ```
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.skipped.is_empty()
    }
}

impl fmt::Display for Exploration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "exploration `{}` (seed {}): {} runs (brute force: {}); points: {} in the baseline, {} only under faults; {} deduplicated",
            self.name,
            self.seed,
            self.runs,
            self.brute_force,
            self.baseline_points,
            self.new_points,
            self.deduplicated
        )?;
        for t in &self.points {
            write!(f, "  {:<11} {}", t.verdict.to_string(), t.injection)?;
            if !t.with.is_empty() {
                write!(f, "  (with {})", spec::list(&t.with))?;
            }
            writeln!(f)?;
        }
        if self.failures.is_empty() {
            writeln!(f, "no failing fault set")?;
        }
        for (i, failure) in self.failures.iter().enumerate() {
            writeln!(f, "failure {}: {failure}", i + 1)?;
        }
        if let Some(limit) = self.stopped_by {
            writeln!(
                f,
                "stopped by {limit}: {} planned runs skipped",
                self.skipped.len()
            )?;
            for s in &self.skipped {
                writeln!(f, "  skipped: {s}")?;
            }
        }
        Ok(())
    }
}

/// The error of [`Exploration::assert_survives`]: the minimal failing
/// fault sets, each with the test's error and its replay line.
///
/// ```
/// use tower::{BoxError, Service, ServiceExt, service_fn};
/// use tower_chaos::ChaosLayer;
/// use tower_chaos::explore::Explorer;
///
/// let chaos: ChaosLayer<u32> = ChaosLayer::builder("db").seed(1).build()?;
/// let layer = chaos.clone();
/// let outcome = Explorer::new("needs the db").target(&chaos).run(move || {
///     let mut db = tower::ServiceBuilder::new()
///         .layer(layer.clone())
///         .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
///     async move { db.ready().await?.call(1).await.map(drop) }
/// })?;
/// let err = outcome.assert_survives().unwrap_err();
/// assert_eq!(err.failures().len(), 3); // error, hang, lost reply
/// assert!(err.to_string().contains("replay: seed="), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NotSurvived {
    name: String,
    failures: Vec<Failure>,
}

impl NotSurvived {
    /// The minimal failing fault sets.
    ///
    /// See the [type example](Self).
    #[must_use]
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }
}

impl fmt::Display for NotSurvived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` does not survive {} fault set(s):",
            self.name,
            self.failures.len()
        )?;
        for (i, failure) in self.failures.iter().enumerate() {
            write!(f, "\n  {}. {failure}", i + 1)?;
        }
        Ok(())
    }
}

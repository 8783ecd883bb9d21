//! Explore the fault space of a test (feature `explore`): find every fault,
//! and every combination that a fault makes reachable, that the test does
//! not survive.
//!
//! An [`Explorer`] takes the layers of a test's stack as targets and the
//! test itself (a closure returning a future of `Result<(), E>`). It runs
//! the test once without faults (the *baseline*), recording every
//! injection [`Point`] it reaches; then once per point and fault of the
//! target's menu; then, up to [`max_faults`](Explorer::max_faults), adds a
//! fault only at points that an earlier fault made reachable (a retry, a
//! fallback), as Filibuster's search does. Every failing fault set is
//! shrunk to a minimal one, reported with the test's own error and a
//! one-line replay spec ([`Explorer::replay`]). `docs/EXPLORE.md` is the
//! guide.
//!
//! # Runs
//!
//! Each run is on a fresh current-thread tokio runtime with paused time,
//! so a 30-second timeout costs nothing, and a run that waits forever
//! ends at [`run_timeout`](Explorer::run_timeout) (virtual time) as a
//! failure. Call [`Explorer::run`] from a plain `#[test]`, not from
//! `#[tokio::test]`: inside a runtime it returns
//! [`ExploreError::InsideRuntime`]. Build the stack inside the closure (or
//! keep services that are not tied to a runtime). A panic in the test is
//! caught and reported as its failure.
//!
//! While it runs, the explorer owns the targets' faults of the explored
//! kinds: it replaces them at every run and clears them at the end (a
//! disabled target is refused: it would decide nothing). Before each run
//! it sets the targets' counters, journals and call counts back to zero,
//! so a [`Report`](crate::Report) the test reads counts its own run.
//!
//! # Example
//!
//! A checkout that calls payments once and gives up on any error: each
//! fault of the default menu at the one call fails it.
//!
//! ```
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
//! use tower_chaos::ChaosLayer;
//! use tower_chaos::explore::Explorer;
//!
//! let payments: ChaosLayer<u64> = ChaosLayer::builder("payments").seed(1).build()?;
//! let layer = payments.clone();
//! let checkout = move || {
//!     let mut pay = ServiceBuilder::new()
//!         .layer(layer.clone())
//!         .service(service_fn(|cents: u64| async move { Ok::<_, BoxError>(cents) }));
//!     async move {
//!         let paid = tokio::time::timeout(std::time::Duration::from_secs(2), pay.ready().await?.call(250)).await??;
//!         if paid == 250 { Ok(()) } else { Err(BoxError::from("wrong amount")) }
//!     }
//! };
//!
//! let outcome = Explorer::new("checkout").target(&payments).seed(7).run(checkout)?;
//! assert_eq!(outcome.baseline_points, 1);
//! assert_eq!(outcome.runs, 4); // the baseline, then error, hang, lost reply at `payments#1`
//! let replays: Vec<&str> = outcome.failures.iter().map(|f| f.replay.as_str()).collect();
//! assert!(replays[1].ends_with("; hang@payments#1"), "{replays:?}");
//! assert!(outcome.assert_survives().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod arm;
mod budget;
#[cfg(feature = "io")]
mod connect;
mod error;
#[cfg(feature = "http")]
mod http;
mod menu;
mod point;
mod report;
mod run;
mod search;
mod shrink;
mod spec;

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use arm::Explorable;
pub use error::{ExploreError, Replay};
pub use menu::{MenuFault, PointKind, UnknownFault};
pub use point::{Injection, Point, Signature};
pub use report::{Exploration, Failure, Limit, NotSurvived, Tried, Verdict};
pub use run::run_seed;

use arm::Arm;
use budget::Budget;
use menu::Menus;
use search::Search;

use crate::ConfigError;
use crate::seed::{self, SeedSource};

struct Entry {
    arm: Arc<dyn Arm>,
    menu: Option<Vec<MenuFault>>,
}

/// Explores a test's fault space: see the [module docs](self).
///
/// Settings are checked when [`run`](Self::run) or
/// [`replay`](Self::replay) is called; a bad one is an
/// [`ExploreError::Config`] naming the field and the value.
#[must_use = "an explorer does nothing until `.run(test)` is called"]
pub struct Explorer {
    name: String,
    targets: Vec<Entry>,
    max_faults: usize,
    seed: Option<u64>,
    max_runs: Option<usize>,
    max_wall_time: Option<Duration>,
    run_timeout: Duration,
    caller_timeout: Option<Duration>,
}

impl fmt::Debug for Explorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets: Vec<&str> = self.targets.iter().map(|e| e.arm.target().name()).collect();
        f.debug_struct("Explorer")
            .field("name", &self.name)
            .field("targets", &targets)
            .field("max_faults", &self.max_faults)
            .field("seed", &self.seed)
            .field("max_runs", &self.max_runs)
            .field("max_wall_time", &self.max_wall_time)
            .field("run_timeout", &self.run_timeout)
            .field("caller_timeout", &self.caller_timeout)
            .finish()
    }
}

/// The most faults one run may combine: a fault set holds at most
/// [`MAX_RULES`](crate::MAX_RULES) rules, one of which records the points.
const MAX_FAULTS: usize = crate::MAX_RULES - 1;

impl Explorer {
    /// An explorer named `name` (shown in reports), with no target yet,
    /// at most 2 faults per run, no budget, a 60 s run timeout.
    ///
    /// ```
    /// let e = tower_chaos::explore::Explorer::new("checkout");
    /// assert!(format!("{e:?}").contains("max_faults: 2"));
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            targets: Vec::new(),
            max_faults: 2,
            seed: None,
            max_runs: None,
            max_wall_time: None,
            run_timeout: Duration::from_secs(60),
            caller_timeout: None,
        }
    }

    /// Explores `layer`'s target with the default menu of its kind (see
    /// [`MenuFault::defaults`]).
    ///
    /// ```
    /// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
    /// let e = tower_chaos::explore::Explorer::new("x").target(&layer);
    /// assert!(format!("{e:?}").contains("[\"db\"]"));
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn target(mut self, layer: &impl Explorable) -> Self {
        self.targets.push(Entry {
            arm: arm::sealed::Sealed::arm(layer),
            menu: None,
        });
        self
    }

    /// Explores a request-level `layer`'s target with its calls named by
    /// `key` rather than by their order: the `n`-th call with key `k` is
    /// the point `target key=k#n`. Calls that a fault adds (a retry of
    /// another operation) then leave the other keys' points where they
    /// were. Default menu. A key holding ` & ` gives replay lines that
    /// do not read back.
    ///
    /// ```
    /// use tower::{BoxError, Layer, ServiceExt, service_fn};
    /// use tower_chaos::ChaosLayer;
    /// use tower_chaos::explore::Explorer;
    ///
    /// let db: ChaosLayer<&'static str> = ChaosLayer::builder("db").seed(1).build()?;
    /// let layer = db.clone();
    /// let outcome = Explorer::new("keyed")
    ///     .target_keyed(&db, |op: &&'static str| op.to_string())
    ///     .max_faults(1)
    ///     .run(move || {
    ///         let svc = layer.layer(service_fn(|op: &'static str| async move { Ok::<_, BoxError>(op) }));
    ///         async move {
    ///             // Best effort, for at most a second.
    ///             let _ = tokio::time::timeout(std::time::Duration::from_secs(1), svc.clone().oneshot("audit")).await;
    ///             svc.oneshot("read").await.map(drop)
    ///         }
    ///     })?;
    /// let failing: Vec<String> = outcome.failures.iter().map(|f| f.faults[0].point.to_string()).collect();
    /// assert_eq!(failing, ["db key=read#1", "db key=read#1", "db key=read#1"]); // error, hang (run timeout), lost reply
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn target_keyed<R, E, K>(mut self, layer: &crate::ChaosLayer<R, E>, key: K) -> Self
    where
        R: 'static,
        E: crate::FromInjected + 'static,
        K: Fn(&R) -> String + Send + Sync + 'static,
    {
        self.targets.push(Entry {
            arm: arm::keyed(layer, Arc::new(key)),
            menu: None,
        });
        self
    }

    /// Explores `layer`'s target with these faults only.
    ///
    /// ```
    /// use tower_chaos::explore::{Explorer, MenuFault};
    /// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
    /// // A status is not a request-level fault: refused when run.
    /// let err = Explorer::new("x")
    ///     .target_with_menu(&layer, [MenuFault::Status(503)])
    ///     .run(|| async { Ok::<(), String>(()) })
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("invalid `explorer.menu` = Status(503)"), "{err}");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn target_with_menu(
        mut self,
        layer: &impl Explorable,
        menu: impl IntoIterator<Item = MenuFault>,
    ) -> Self {
        self.targets.push(Entry {
            arm: arm::sealed::Sealed::arm(layer),
            menu: Some(menu.into_iter().collect()),
        });
        self
    }

    /// At most `n` faults in one run (`1..=63`; default 2): `1` tries
    /// single faults only.
    ///
    /// ```
    /// let e = tower_chaos::explore::Explorer::new("x").max_faults(1);
    /// assert!(format!("{e:?}").contains("max_faults: 1"));
    /// ```
    pub const fn max_faults(mut self, n: usize) -> Self {
        self.max_faults = n;
        self
    }

    /// The exploration seed: each run's seed ([`run_seed`]) derives from
    /// it and the run's number. Without one, the
    /// [`SEED_ENV`](crate::SEED_ENV) variable or a random pick (shown in
    /// the report).
    ///
    /// ```
    /// let e = tower_chaos::explore::Explorer::new("x").seed(9);
    /// assert!(format!("{e:?}").contains("seed: Some(9)"));
    /// ```
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// At most `n` runs (`>= 1`), the baseline and shrinking runs
    /// included; what is left is reported in
    /// [`Exploration::skipped`].
    ///
    /// ```
    /// let e = tower_chaos::explore::Explorer::new("x").max_runs(50);
    /// assert!(format!("{e:?}").contains("max_runs: Some(50)"));
    /// ```
    pub const fn max_runs(mut self, n: usize) -> Self {
        self.max_runs = Some(n);
        self
    }

    /// No new run starts after this much real time (`> 0`); the baseline
    /// always runs. What is left is reported in [`Exploration::skipped`].
    ///
    /// ```
    /// let e = tower_chaos::explore::Explorer::new("x").max_wall_time(std::time::Duration::from_secs(5));
    /// assert!(format!("{e:?}").contains("max_wall_time: Some(5s)"));
    /// ```
    pub const fn max_wall_time(mut self, limit: Duration) -> Self {
        self.max_wall_time = Some(limit);
        self
    }

    /// A run that has not finished after this much virtual (paused) time
    /// fails with a message saying so (`> 0`; default 60 s). Costs no real
    /// time unless the test keeps timers ticking.
    ///
    /// ```
    /// let e = tower_chaos::explore::Explorer::new("x").run_timeout(std::time::Duration::from_secs(5));
    /// assert!(format!("{e:?}").contains("run_timeout: 5s"));
    /// ```
    pub const fn run_timeout(mut self, limit: Duration) -> Self {
        self.run_timeout = limit;
        self
    }

    /// The callers' timeout (`> 0`): default menus get a
    /// [`MenuFault::Delay`] 1 ms beyond it (a call that is late rather
    /// than lost).
    ///
    /// ```
    /// use std::time::Duration;
    /// let e = tower_chaos::explore::Explorer::new("x").caller_timeout(Duration::from_secs(2));
    /// assert!(format!("{e:?}").contains("caller_timeout: Some(2s)"));
    /// ```
    pub const fn caller_timeout(mut self, timeout: Duration) -> Self {
        self.caller_timeout = Some(timeout);
        self
    }

    /// Explores: see the [module docs](self) for what runs and
    /// [`Exploration`] for what comes back.
    ///
    /// # Errors
    ///
    /// [`ExploreError`]: a bad setting, a call inside a tokio runtime, a
    /// baseline run that fails without faults.
    ///
    /// ```
    /// use tower_chaos::explore::{ExploreError, Explorer};
    /// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
    /// let err = Explorer::new("x").target(&layer).run(|| async { Err::<(), _>("broken anyway") }).unwrap_err();
    /// assert!(matches!(err, ExploreError::BaselineFailed { .. }));
    /// assert!(err.to_string().ends_with(": broken anyway"), "{err}");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn run<F, Fut, E>(&self, test: F) -> Result<Exploration, ExploreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let (arms, menus) = self.check()?;
        let (seed, source) = seed::resolve(self.seed)?;
        if source == SeedSource::Random {
            tracing::info!(target: "tower_chaos", explorer = %self.name, seed, "no exploration seed given: picked one");
        }
        let budget = Budget::start(self.max_runs, self.max_wall_time);
        let search = Search::new(
            &arms,
            &menus,
            self.max_faults,
            seed,
            self.run_timeout,
            budget,
            test,
        );
        let outcome = search.explore(&self.name);
        if let Ok(o) = &outcome {
            tracing::info!(
                target: "tower_chaos",
                explorer = %self.name,
                seed,
                runs = o.runs,
                brute_force = o.brute_force,
                failures = o.failures.len(),
                skipped = o.skipped.len(),
                "exploration done"
            );
        }
        outcome
    }

    /// Runs the test once with the faults of `spec` (a
    /// [`Failure::replay`] line: `seed=<u64>; <fault>@<point> & ...`),
    /// under the run seed it names.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run), and [`ExploreError::Spec`] for a spec that
    /// does not read (or names a target this explorer does not have).
    ///
    /// ```
    /// # use tower_chaos::explore::Explorer;
    /// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
    /// let err = Explorer::new("x").target(&layer).replay("seed=1; hang@cache#1", || async { Ok::<(), String>(()) }).unwrap_err();
    /// assert!(err.to_string().contains("names no target of this explorer (db)"), "{err}");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn replay<F, Fut, E>(&self, spec: &str, mut test: F) -> Result<Replay, ExploreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let (arms, _) = self.check()?;
        let names: Vec<&str> = arms.iter().map(|a| a.target().name()).collect();
        let (seed, faults) = spec::parse(spec, &names)?;
        let ran = run::once(&arms, &faults, seed, self.run_timeout, &mut test)?;
        let not_reached = faults
            .iter()
            .filter(|i| !ran.fired.contains(&i.point))
            .cloned()
            .collect();
        Ok(Replay {
            faults,
            seed,
            error: ran.error,
            not_reached,
        })
    }

    /// Checks the settings; the arms and each target's menu.
    fn check(&self) -> Result<(Vec<Arc<dyn Arm>>, Menus), ExploreError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(ExploreError::InsideRuntime);
        }
        if self.targets.is_empty() {
            return Err(ConfigError::invalid("explorer.targets", 0, "add at least one target").into());
        }
        if !(1..=MAX_FAULTS).contains(&self.max_faults) {
            return Err(ConfigError::invalid(
                "explorer.max_faults",
                self.max_faults,
                "must be within 1..=63",
            )
            .into());
        }
        if self.max_runs == Some(0) {
            return Err(ConfigError::invalid("explorer.max_runs", 0, "must be at least 1").into());
        }
        for (field, d) in [
            ("explorer.max_wall_time", self.max_wall_time),
            ("explorer.run_timeout", Some(self.run_timeout)),
            ("explorer.caller_timeout", self.caller_timeout),
        ] {
            if d == Some(Duration::ZERO) {
                return Err(ConfigError::invalid(field, Duration::ZERO, "must be more than zero").into());
            }
        }
        let mut names = HashSet::new();
        let mut menus = Menus::new();
        for entry in &self.targets {
            let name = entry.arm.target().name();
            if name.contains(" & ") {
                return Err(ConfigError::invalid(
                    "explorer.target",
                    name,
                    "a name holding ` & ` cannot be written in a replay line",
                )
                .into());
            }
            if !names.insert(name) {
                return Err(
                    ConfigError::invalid("explorer.target", name, "two targets with the same name").into(),
                );
            }
            if !entry.arm.target().is_enabled() {
                return Err(ConfigError::invalid(
                    "explorer.target",
                    name,
                    "is disabled: a disabled target decides nothing (call `Target::enable` first)",
                )
                .into());
            }
            let kind = entry.arm.kind();
            let menu = entry
                .menu
                .clone()
                .unwrap_or_else(|| MenuFault::defaults(kind, self.caller_timeout));
            if menu.is_empty() {
                return Err(
                    ConfigError::invalid("explorer.menu", name, "must list at least one fault").into(),
                );
            }
            for f in &menu {
                if !f.fits(kind) {
                    return Err(ConfigError::invalid(
                        "explorer.menu",
                        f,
                        "not a fault this target's kind can inject",
                    )
                    .into());
                }
                if let MenuFault::Status(code) = f {
                    if !(100..=999).contains(code) {
                        return Err(ConfigError::invalid(
                            "explorer.menu.status",
                            code,
                            "must be within 100..=999",
                        )
                        .into());
                    }
                }
            }
            menus.insert(name.to_owned(), menu);
        }
        Ok((self.targets.iter().map(|e| Arc::clone(&e.arm)).collect(), menus))
    }
}

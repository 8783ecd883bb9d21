//! `tower-chaos serve --scenario FILE`: a scenario's timeline played on the
//! server's proxies, in real time.

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tower_chaos::scenario::{Rehearsal, RehearsalReport, Scenario, ScenarioError, format_duration};

use crate::registry::Registry;

/// Why a scenario could not be played on the proxies.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_chaos::scenario::{Format, Scenario};
///
/// let scenario = Scenario::parse(
///     "name = \"s\"\n[[phases]]\ntarget = \"db\"\nfor = \"1s\"\nconnect = [\"refuse\"]\n",
///     Format::Toml,
/// )?;
/// let registry = tower_chaos_cli::Registry::new(Some(1));
/// let err = tower_chaos_cli::play(&registry, &scenario, 1.0, |_| {}).await.unwrap_err();
/// assert!(err.to_string().starts_with("scenario target `db` has no proxy"), "{err}");
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlayError {
    /// A target of the scenario is not the name of a proxy.
    #[error("scenario target `{0}` has no proxy: create a proxy named `{0}` (--config, POST /proxies)")]
    NoProxy(String),
    /// The scenario cannot run on these targets (a described fault such
    /// as `down` has no binding on a proxy, a bad speed, ...), or failed.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// Plays `scenario` on the proxies of `registry`, each scenario target
/// being the proxy of that name, with its timeline compressed by `speed`;
/// calls `live` once a second with a line saying where the timeline is,
/// which phases are active and what each target's proxy has seen; returns
/// the rehearsal's report once the timeline is over.
///
/// While it plays, the scenario owns the connection faults of its targets:
/// at every cut of its timeline it installs the rules of the active phases,
/// replacing the proxies' toxics (a toxic changed through the API applies
/// until the next cut). When it ends, every proxy's toxics are installed
/// again. Only connection faults apply to a proxy: phases with `down`,
/// `slow` or request faults are refused ([`PlayError::Scenario`]); use
/// `connect = [..]` and `[[phases.connection]]` tables.
///
/// # Errors
///
/// [`PlayError`]. See its example.
pub async fn play(
    registry: &Registry,
    scenario: &Scenario,
    speed: f64,
    mut live: impl FnMut(String) + Send,
) -> Result<RehearsalReport, PlayError> {
    let names: Vec<String> = scenario.targets().into_iter().map(str::to_owned).collect();
    let mut rehearsal = Rehearsal::new(scenario).speed(speed);
    let mut targets = Vec::with_capacity(names.len());
    for name in &names {
        let target = registry
            .target(name)
            .await
            .ok_or_else(|| PlayError::NoProxy(name.clone()))?;
        rehearsal = rehearsal.target(&target);
        targets.push(target);
    }
    rehearsal.check()?;
    let mut status = rehearsal.status();
    let handle = rehearsal.spawn();
    let began = Instant::now();
    let mut tick = tokio::time::interval_at(began + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = status.changed() => {
                if changed.is_err() || status.borrow().finished {
                    break;
                }
                continue;
            }
        }
        let active: Vec<String> = status.borrow().active.iter().map(|a| a.name.clone()).collect();
        let counts: Vec<String> = targets
            .iter()
            .map(|t| {
                let r = t.report();
                format!("{} {} conns {} faulted", t.name(), r.connections, r.faulted)
            })
            .collect();
        live(format!(
            "{:>5}s  t={:>7}  phase: {}  {}",
            began.elapsed().as_secs(),
            format_duration(Duration::from_secs(began.elapsed().mul_f64(speed).as_secs())).to_string(),
            if active.is_empty() {
                "none".to_owned()
            } else {
                active.join(", ")
            },
            counts.join(", "),
        ));
    }
    let report = handle.wait().await;
    registry.reinstall_toxics().await;
    Ok(report?)
}

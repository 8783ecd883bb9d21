//! The rehearsal report: per target and per phase, what the provider saw
//! and injected and what the caller observed.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::duration::Short;
use super::probe::{Obs, Probe, RunShared};
use super::timeline::{Spell, label_of};
use crate::report::count_of;
use crate::seed::Replay;
use crate::{FaultKind, Report, SeedSource, Target};

/// What a rehearsal did and what the callers saw; returned by
/// [`Rehearsal::run`](super::Rehearsal::run).
///
/// Timeline positions and spans (`duration`, `from`, `to`, `time`,
/// `recovered_at`) are in scenario time; latencies and recovery delays
/// (`first_success_after_*`) in real (tokio) time, which is the same under
/// speed 1. `Display` prints a compact table per target; with the `serde`
/// feature the report serialises (durations as seconds, `f64`). The
/// verdict helpers (`assert_*`) are on this type too.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{Phase, Rehearsal, Scenario};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let min = Duration::from_secs(60);
/// let scenario = Scenario::builder("s").phase(Phase::new("outage", "db").at(min).lasting(min).down()).duration(3 * min).build()?;
/// let db = tower_chaos::Target::builder("db").seed(3).build()?;
/// let report = Rehearsal::new(&scenario).bind::<u8, tower::BoxError>(&db).run().await?;
/// let rows: Vec<&str> = report.targets[0].rows.iter().map(|r| r.label.as_str()).collect();
/// assert_eq!(rows, ["before", "outage", "after"]);
/// assert_eq!(report.phase("outage").unwrap().to, 2 * min);
/// assert!(report.to_string().contains("target `db` (seed 3)"));
/// // No probe, no calls: a verdict on the caller has nothing to judge.
/// assert!(report.assert_error_rate_below("outage", 0.1).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RehearsalReport {
    /// The scenario's name.
    pub scenario: String,
    /// The speed it ran at.
    pub speed: f64,
    /// The length of the timeline.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::secs"))]
    pub duration: Duration,
    /// Per target, in order of first appearance in the scenario.
    pub targets: Vec<TargetSummary>,
    /// Per phase, in scenario order.
    pub phases: Vec<PhaseSummary>,
}

/// One target of a [`RehearsalReport`].
///
/// ```
/// # fn check(report: &tower_chaos::scenario::RehearsalReport) {
/// let db = report.target("db").unwrap();
/// let outage = db.rows.iter().find(|r| r.label == "outage").unwrap();
/// assert_eq!(outage.provider.seen, outage.provider.faulted);
/// assert!(outage.caller.error_rate().unwrap_or(0.0) <= 1.0);
/// assert!(outage.caller.latency.is_none_or(|l| l.p50 <= l.p99 && l.p99 <= l.max));
/// assert!(db.seen_while_down.is_some() && db.recovered_at >= outage.time);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TargetSummary {
    /// The target's name.
    pub name: String,
    /// Its seed (replay with `TOWER_CHAOS_SEED=<seed>` when it was not set
    /// in code).
    pub seed: u64,
    /// Where the seed came from; `Display` says how to replay a seed that
    /// was not set in code.
    pub seed_source: SeedSource,
    /// One row per state of the target, in order of first appearance:
    /// `before`, the active phases joined with `+` (flapping spells marked
    /// `(bad)`/`(good)`), `between`, `after`.
    pub rows: Vec<Row>,
    /// When its last phase ended.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::secs"))]
    pub recovered_at: Duration,
    /// How long after that the caller's first success completed (`None`:
    /// no success after recovery, or no probe).
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::opt_secs"))]
    pub first_success_after_recovery: Option<Duration>,
    /// Requests the target saw while one of its phases had it down (`None`
    /// if it never was).
    pub seen_while_down: Option<u64>,
    /// Probe records of calls that started before the rehearsal did.
    pub unattributed_calls: u64,
}

/// One row of a target's table: a state and what happened in it.
///
/// ```
/// # fn check(report: &tower_chaos::scenario::RehearsalReport) {
/// let db = report.target("db").unwrap();
/// let outage = db.rows.iter().find(|r| r.label == "outage").unwrap();
/// assert_eq!(outage.provider.seen, outage.provider.faulted);
/// assert!(outage.caller.error_rate().unwrap_or(0.0) <= 1.0);
/// assert!(outage.caller.latency.is_none_or(|l| l.p50 <= l.p99 && l.p99 <= l.max));
/// assert!(db.seen_while_down.is_some() && db.recovered_at >= outage.time);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Row {
    /// The state (see [`TargetSummary::rows`]).
    pub label: String,
    /// Total time spent in it.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::secs"))]
    pub time: Duration,
    /// The provider's side.
    pub provider: ProviderCounts,
    /// The caller's side.
    pub caller: Observed,
}

/// What a target's layers saw and injected (differences of its counters
/// between the cuts of the timeline).
///
/// ```
/// # fn check(report: &tower_chaos::scenario::RehearsalReport) {
/// let db = report.target("db").unwrap();
/// let outage = db.rows.iter().find(|r| r.label == "outage").unwrap();
/// assert_eq!(outage.provider.seen, outage.provider.faulted);
/// assert!(outage.caller.error_rate().unwrap_or(0.0) <= 1.0);
/// assert!(outage.caller.latency.is_none_or(|l| l.p50 <= l.p99 && l.p99 <= l.max));
/// assert!(db.seen_while_down.is_some() && db.recovered_at >= outage.time);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ProviderCounts {
    /// Requests seen, connections included (see
    /// [`Report::seen`](crate::Report::seen)).
    pub seen: u64,
    /// Of `seen`, the connections (feature `io`).
    pub connections: u64,
    /// Requests that got at least one fault.
    pub faulted: u64,
    /// Faults injected, per kind (kinds with zero left out).
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::pairs"))]
    pub injected: Vec<(FaultKind, u64)>,
}

/// A target's counters read at a cut: what the report needs of a
/// [`Report`], kept small (a rehearsal keeps one per target and segment,
/// up to [`MAX_TIMELINE_CELLS`](super::MAX_TIMELINE_CELLS)).
#[derive(Debug, Clone, Default)]
pub(crate) struct Mark {
    seen: u64,
    connections: u64,
    faulted: u64,
    /// The kinds injected so far (none with zero).
    injected: Box<[(FaultKind, u64)]>,
}

impl From<Report> for Mark {
    fn from(r: Report) -> Self {
        Self {
            seen: r.seen,
            connections: r.connections,
            faulted: r.faulted,
            injected: r.by_kind.into_iter().filter(|(_, n)| *n > 0).collect(),
        }
    }
}

impl Mark {
    fn injected(&self, kind: FaultKind) -> u64 {
        count_of(&self.injected, kind)
    }
}

impl ProviderCounts {
    fn add(&mut self, after: &Mark, before: &Mark) {
        self.seen += after.seen - before.seen;
        self.connections += after.connections - before.connections;
        self.faulted += after.faulted - before.faulted;
        for (kind, n) in &after.injected {
            let d = n - before.injected(*kind);
            if d == 0 {
                continue;
            }
            match self.injected.iter_mut().find(|(k, _)| k == kind) {
                Some((_, m)) => *m += d,
                None => self.injected.push((*kind, d)),
            }
        }
        self.injected.sort();
    }

    /// Faults of `kind` injected.
    ///
    /// ```
    /// let c = tower_chaos::scenario::ProviderCounts::default();
    /// assert_eq!(c.injected(tower_chaos::FaultKind::Error), 0);
    /// ```
    #[must_use]
    pub fn injected(&self, kind: FaultKind) -> u64 {
        count_of(&self.injected, kind)
    }
}

/// What the caller observed, from its [`Probe`].
///
/// ```
/// # fn check(report: &tower_chaos::scenario::RehearsalReport) {
/// let db = report.target("db").unwrap();
/// let outage = db.rows.iter().find(|r| r.label == "outage").unwrap();
/// assert_eq!(outage.provider.seen, outage.provider.faulted);
/// assert!(outage.caller.error_rate().unwrap_or(0.0) <= 1.0);
/// assert!(outage.caller.latency.is_none_or(|l| l.p50 <= l.p99 && l.p99 <= l.max));
/// assert!(db.seen_while_down.is_some() && db.recovered_at >= outage.time);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Observed {
    /// Calls (attributed by their start time).
    pub calls: u64,
    /// Successful calls.
    pub ok: u64,
    /// Failed calls per error class, by class name.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::pairs"))]
    pub errors: Vec<(String, u64)>,
    /// Latency of all calls (successes and failures), if there were any.
    pub latency: Option<Percentiles>,
}

impl Observed {
    fn from_obs(obs: &Obs) -> Self {
        let h = &obs.latency;
        let latency = (h.count() > 0).then(|| Percentiles {
            p50: h.quantile(0.5).unwrap_or_default(),
            p90: h.quantile(0.9).unwrap_or_default(),
            p99: h.quantile(0.99).unwrap_or_default(),
            max: h.max(),
        });
        Self {
            calls: obs.calls,
            ok: obs.ok,
            errors: obs.errors.iter().map(|(k, n)| (k.clone(), *n)).collect(),
            latency,
        }
    }

    /// Failed calls.
    ///
    /// ```
    /// assert_eq!(tower_chaos::scenario::Observed::default().failed(), 0);
    /// ```
    #[must_use]
    pub const fn failed(&self) -> u64 {
        self.calls - self.ok
    }

    /// The share of calls that failed (`None` without calls).
    ///
    /// ```
    /// assert_eq!(tower_chaos::scenario::Observed::default().error_rate(), None);
    /// ```
    #[must_use]
    pub fn error_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.failed() as f64 / self.calls as f64)
    }
}

/// Latency percentiles (within about 3%; `max` is exact).
///
/// ```
/// # fn check(report: &tower_chaos::scenario::RehearsalReport) {
/// let db = report.target("db").unwrap();
/// let outage = db.rows.iter().find(|r| r.label == "outage").unwrap();
/// assert_eq!(outage.provider.seen, outage.provider.faulted);
/// assert!(outage.caller.error_rate().unwrap_or(0.0) <= 1.0);
/// assert!(outage.caller.latency.is_none_or(|l| l.p50 <= l.p99 && l.p99 <= l.max));
/// assert!(db.seen_while_down.is_some() && db.recovered_at >= outage.time);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Percentiles {
    /// Median.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::secs"))]
    pub p50: Duration,
    /// 90th percentile.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::secs"))]
    pub p90: Duration,
    /// 99th percentile.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::secs"))]
    pub p99: Duration,
    /// The slowest call.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::secs"))]
    pub max: Duration,
}

/// One phase of a [`RehearsalReport`]: everything on its target while it
/// was active (with overlapping phases, shared segments count for each).
///
/// ```
/// # fn check(report: &tower_chaos::scenario::RehearsalReport) {
/// let outage = report.phase("outage").unwrap();
/// assert!(outage.down && outage.from < outage.to);
/// assert!(outage.first_success_after_end.is_some_and(|d| d.as_secs() < 30));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PhaseSummary {
    /// The phase.
    pub name: String,
    /// Its target.
    pub target: String,
    /// Start.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::secs"))]
    pub from: Duration,
    /// End.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::secs"))]
    pub to: Duration,
    /// Whether it takes its target down ([`Phase::is_down`](super::Phase::is_down)).
    pub down: bool,
    /// The provider's side.
    pub provider: ProviderCounts,
    /// The caller's side.
    pub caller: Observed,
    /// How long after the phase ended the caller's first success completed.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::opt_secs"))]
    pub first_success_after_end: Option<Duration>,
    /// For a phase [expected to fire](super::Phase::expect_to_fire), how
    /// often its rules injected (`Some(0)`: never; see
    /// [`RehearsalReport::assert_expected_fired`]); `None` for the others,
    /// which are not counted.
    pub fired: Option<u64>,
}

impl RehearsalReport {
    /// The target named `name`.
    ///
    /// ```
    /// # fn f(report: &tower_chaos::scenario::RehearsalReport) {
    /// let rows = &report.target("dynamodb").unwrap().rows;
    /// # }
    /// ```
    #[must_use]
    pub fn target(&self, name: &str) -> Option<&TargetSummary> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The phase named `name`.
    ///
    /// ```
    /// # fn f(report: &tower_chaos::scenario::RehearsalReport) {
    /// let errors = report.phase("outage").map(|p| p.caller.failed());
    /// # }
    /// ```
    #[must_use]
    pub fn phase(&self, name: &str) -> Option<&PhaseSummary> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// The report as pretty JSON.
    ///
    /// # Panics
    ///
    /// Never: every field serialises.
    ///
    /// ```
    /// # fn f(report: &tower_chaos::scenario::RehearsalReport) {
    /// assert!(report.to_json().starts_with('{'));
    /// # }
    /// ```
    #[cfg(feature = "serde")]
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Builds the report from the counters read at every cut and the probes.
pub(crate) fn build(
    run: &RunShared,
    speed: f64,
    targets: &[&Target],
    marks: &[Vec<Mark>],
    probes: &[Probe],
    fired: &[Option<u64>],
) -> RehearsalReport {
    let scenario = &run.scenario;
    let segments = &run.timeline.segments;
    let down = |i: usize, spell: Spell| {
        let p = &scenario.phases[i];
        let faults = match (spell, &p.flap) {
            (Spell::Good, Some(flap)) => &flap.while_good,
            _ => &p.faults,
        };
        p.spell_is_down(faults)
    };
    // Per target, in one pass: its active spells per segment, its span
    // and its last phase (the work stays within the timeline's cells).
    let mut mine: HashMap<&str, Vec<(usize, usize, Spell)>> = HashMap::new();
    for (si, seg) in segments.iter().enumerate() {
        for &(i, spell) in &seg.active {
            mine.entry(&*scenario.phases[i].target)
                .or_default()
                .push((si, i, spell));
        }
    }
    let mut spans: HashMap<&str, (Duration, Duration, usize)> = HashMap::new();
    for (i, p) in scenario.phases.iter().enumerate() {
        let span = spans.entry(&*p.target).or_insert((p.at, p.end(), i));
        span.0 = span.0.min(p.at);
        // The last phase to end; of several, the last given.
        if p.end() >= span.1 {
            (span.1, span.2) = (p.end(), i);
        }
    }
    let target_index: HashMap<&str, usize> = targets.iter().enumerate().map(|(i, t)| (t.name(), i)).collect();
    let probe_of: HashMap<&str, &Probe> = probes.iter().map(|p| (p.target(), p)).collect();
    let mut summaries = Vec::new();
    let mut phase_sums: Vec<(ProviderCounts, Obs)> = vec![Default::default(); scenario.phases.len()];
    let mut recoveries = vec![None; scenario.phases.len()];
    for name in scenario.targets() {
        let Some(&ti) = target_index.get(name) else {
            continue;
        };
        let probe = probe_of.get(name);
        let state = probe.map(|p| p.shared().state.lock().unwrap_or_else(PoisonError::into_inner));
        let mut rows: Vec<(String, Duration, ProviderCounts, Obs)> = Vec::new();
        let mut row_of: HashMap<Arc<str>, usize> = HashMap::new();
        let mut seen_while_down = None;
        let (first, end, _) = spans.get(name).copied().unwrap_or_default();
        let entries = mine.get(name).map_or(&[][..], Vec::as_slice);
        let mut at = 0;
        for (si, seg) in segments.iter().enumerate() {
            let from = at;
            while at < entries.len() && entries[at].0 == si {
                at += 1;
            }
            let active = &entries[from..at];
            let lbl = label_of(scenario, active.iter().map(|e| (e.1, e.2)), (first, end), seg);
            let mut counts = ProviderCounts::default();
            counts.add(&marks[si + 1][ti], &marks[si][ti]);
            let obs = state.as_ref().map(|s| s.segments[si].clone()).unwrap_or_default();
            if active.iter().any(|e| down(e.1, e.2)) {
                *seen_while_down.get_or_insert(0) += counts.seen;
            }
            for &(_, i, _) in active {
                add_counts(&mut phase_sums[i].0, &counts);
                phase_sums[i].1.merge(&obs);
            }
            let r = *row_of.entry(Arc::clone(&lbl)).or_insert_with(|| {
                rows.push((
                    lbl.to_string(),
                    Duration::ZERO,
                    ProviderCounts::default(),
                    Obs::default(),
                ));
                rows.len() - 1
            });
            let row = &mut rows[r];
            row.1 += seg.to - seg.from;
            add_counts(&mut row.2, &counts);
            row.3.merge(&obs);
        }
        if let Some(s) = &state {
            for (i, _, first) in &s.recoveries {
                recoveries[*i] = *first;
            }
        }
        let last = spans.get(name).map(|&(_, _, i)| (i, &scenario.phases[i]));
        summaries.push(TargetSummary {
            name: name.to_owned(),
            seed: targets[ti].seed(),
            seed_source: targets[ti].seed_source(),
            rows: rows
                .into_iter()
                .map(|(label, time, provider, obs)| Row {
                    label,
                    time,
                    provider,
                    caller: Observed::from_obs(&obs),
                })
                .collect(),
            recovered_at: last.map(|(_, p)| p.end()).unwrap_or_default(),
            first_success_after_recovery: last.and_then(|(i, _)| recoveries[i]),
            seen_while_down,
            unattributed_calls: state.as_ref().map_or(0, |s| s.unattributed),
        });
    }
    let phases = scenario
        .phases
        .iter()
        .zip(phase_sums)
        .enumerate()
        .map(|(i, (p, (provider, obs)))| PhaseSummary {
            name: p.name.to_string(),
            target: p.target.to_string(),
            from: p.at,
            to: p.end(),
            down: p.is_down(),
            provider,
            caller: Observed::from_obs(&obs),
            first_success_after_end: recoveries[i],
            fired: fired.get(i).copied().flatten(),
        })
        .collect();
    RehearsalReport {
        scenario: scenario.name.clone(),
        speed,
        duration: scenario.duration,
        targets: summaries,
        phases,
    }
}

fn add_counts(into: &mut ProviderCounts, from: &ProviderCounts) {
    into.seen += from.seen;
    into.connections += from.connections;
    into.faulted += from.faulted;
    for (kind, n) in &from.injected {
        match into.injected.iter_mut().find(|(k, _)| k == kind) {
            Some((_, m)) => *m += n,
            None => into.injected.push((*kind, *n)),
        }
    }
    into.injected.sort();
}

/// A latency for the table: `0` when none elapsed on tokio's clock.
fn latency(d: Duration) -> String {
    if d.is_zero() {
        "0".to_owned()
    } else {
        Short(d).to_string()
    }
}

fn list<K: fmt::Display>(pairs: &[(K, u64)]) -> String {
    if pairs.is_empty() {
        return "-".to_owned();
    }
    pairs
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for RehearsalReport {
    /// A compact table per target.
    ///
    /// ```text
    /// rehearsal `blip`: 30.0s of timeline at speed 1
    /// target `db` (seed 1): recovered at 20.0s, first success 500ms later
    ///   state     time    seen  faulted  injected   calls      ok   err%     p50     p99  errors
    ///   before   10.0s      10        0  -             10      10   0.0%       0       0  -
    ///   down     10.0s      10       10  error 10      10       0 100.0%       0       0  injected error 10
    ///   after    10.0s       9        0  -              9       9   0.0%       0       0  -
    ///   (latencies on tokio's clock: 0 = the call awaited no timer, as under paused time)
    /// ```
    ///
    /// A seed not set in code is printed with how to replay it:
    /// `target `db` (seed 8034, picked at random: replay with
    /// TOWER_CHAOS_SEED=8034)`. Phases expected to fire close the report
    /// with how often each fired: `expected to fire: `outage` 12, `quiet`
    /// never`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rehearsal `{}`: {} of timeline at speed {}",
            self.scenario,
            Short(self.duration),
            self.speed
        )?;
        for t in &self.targets {
            write!(
                f,
                "target `{}` ({}): recovered at {}",
                t.name,
                Replay(t.seed, t.seed_source),
                Short(t.recovered_at)
            )?;
            match t.first_success_after_recovery {
                Some(Duration::ZERO) => writeln!(f, ", first success at that instant")?,
                Some(d) => writeln!(f, ", first success {} later", Short(d))?,
                None => writeln!(f, ", no success observed after")?,
            }
            let w = t
                .rows
                .iter()
                .map(|r| r.label.chars().count())
                .max()
                .unwrap_or(0)
                .max(5);
            let inj: Vec<String> = t.rows.iter().map(|r| list(&r.provider.injected)).collect();
            let wi = inj.iter().map(String::len).max().unwrap_or(0).max(8);
            // With connection layers, requests and connections apart.
            let conns = t.rows.iter().any(|r| r.provider.connections > 0);
            let seen_header = if conns {
                format!("{:>7} {:>7}", "reqs", "conns")
            } else {
                "seen".to_owned()
            };
            writeln!(
                f,
                "  {:<w$} {:>7} {:>7} {:>8}  {:<wi$} {:>7} {:>7} {:>6} {:>7} {:>7}  errors",
                "state", "time", seen_header, "faulted", "injected", "calls", "ok", "err%", "p50", "p99"
            )?;
            let mut zero_latency = false;
            for (r, inj) in t.rows.iter().zip(inj) {
                let (p50, p99) = r.caller.latency.map_or(("-".to_owned(), "-".to_owned()), |l| {
                    zero_latency |= l.p50.is_zero();
                    (latency(l.p50), latency(l.p99))
                });
                let err = r
                    .caller
                    .error_rate()
                    .map_or("-".to_owned(), |e| format!("{:.1}%", e * 100.0));
                let p = &r.provider;
                let seen = if conns {
                    format!("{:>7} {:>7}", p.seen - p.connections, p.connections)
                } else {
                    p.seen.to_string()
                };
                writeln!(
                    f,
                    "  {:<w$} {:>7} {:>7} {:>8}  {:<wi$} {:>7} {:>7} {:>6} {:>7} {:>7}  {}",
                    r.label,
                    Short(r.time).to_string(),
                    seen,
                    r.provider.faulted,
                    inj,
                    r.caller.calls,
                    r.caller.ok,
                    err,
                    p50,
                    p99,
                    list(&r.caller.errors),
                )?;
            }
            if zero_latency {
                // Under paused time a call that awaits no timer takes no
                // time at all: say so rather than print a bare `0ns`.
                writeln!(
                    f,
                    "  (latencies on tokio's clock: 0 = the call awaited no timer, as under paused time)"
                )?;
            }
        }
        let expected: Vec<String> = self
            .phases
            .iter()
            .filter_map(|p| match p.fired? {
                0 => Some(format!("`{}` never", p.name)),
                n => Some(format!("`{}` {n}", p.name)),
            })
            .collect();
        if !expected.is_empty() {
            writeln!(f, "expected to fire: {}", expected.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
mod ser {
    use std::time::Duration;

    use serde::ser::{SerializeMap, Serializer};

    pub(super) fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(super) fn opt_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn pairs<S: Serializer, K: std::fmt::Display>(
        v: &[(K, u64)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(v.len()))?;
        for (k, n) in v {
            map.serialize_entry(&k.to_string(), n)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::{Instant, sleep, sleep_until};
    use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};

    use crate::scenario::{Phase, Rehearsal, RehearsalReport, Scenario};
    use crate::{ChaosLayer, Latency, SeedSource, Target};

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// `db` down (or, with `slow`, slowed by 1 s) from 10 s to 20 s of
    /// 30 s, a call a second (half a second off the cuts) to a service that
    /// answers after `work` of tokio time.
    async fn blip(db: &Target, work: Duration, slow: bool) -> RehearsalReport {
        let phase = Phase::new("down", "db").at(S(10)).lasting(S(10));
        let phase = if slow {
            phase.slow(Latency::fixed(S(1)))
        } else {
            phase.down()
        };
        let scenario = Scenario::builder("blip")
            .phase(phase)
            .duration(S(30))
            .build()
            .unwrap();
        let rehearsal = Rehearsal::new(&scenario).bind::<u32, BoxError>(db);
        let probe = rehearsal.probe("db").unwrap();
        let mut client = ServiceBuilder::new()
            .layer(probe.layer())
            .layer(ChaosLayer::for_target(db))
            .service(service_fn(move |n: u32| async move {
                sleep(work).await;
                Ok::<_, BoxError>(n)
            }));
        let t0 = Instant::now();
        let run = tokio::spawn(rehearsal.run());
        for n in 0..29 {
            sleep_until(t0 + S(u64::from(n)) + Duration::from_millis(500)).await;
            let _ = client.ready().await.unwrap().call(n).await;
        }
        run.await.unwrap().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_latency_under_paused_time_is_explained_not_printed_as_0ns() {
        let db = Target::builder("db").seed(1).build().unwrap();
        let text = blip(&db, Duration::ZERO, false).await.to_string();
        assert!(!text.contains("0ns"), "{text}");
        assert!(
            text.contains("target `db` (seed 1): recovered at 20.0s, first success 500ms later"),
            "{text}"
        );
        assert!(
            text.contains(
                "  before   10.0s      10        0  -             10      10   0.0%       0       0  -\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "  (latencies on tokio's clock: 0 = the call awaited no timer, as under paused time)\n"
            ),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn latencies_that_elapsed_are_printed_with_no_note() {
        let db = Target::builder("db").seed(1).build().unwrap();
        let text = blip(&db, Duration::from_millis(250), true).await.to_string();
        assert!(text.contains("   250ms   250ms  -\n"), "{text}");
        assert!(text.contains("    1.2s    1.2s  -\n"), "{text}");
        assert!(!text.contains("latencies on tokio's clock"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_seed_not_set_in_code_is_printed_with_how_to_replay_it() {
        // No seed in code: picked at random, or read from
        // `TOWER_CHAOS_SEED` when the test runs with it set.
        let db = Target::builder("db").build().unwrap();
        let report = blip(&db, Duration::ZERO, false).await;
        let summary = report.target("db").unwrap();
        assert_eq!((summary.seed, summary.seed_source), (db.seed(), db.seed_source()));
        let seed = db.seed();
        let expected = match db.seed_source() {
            SeedSource::Random => {
                format!("target `db` (seed {seed}, picked at random: replay with TOWER_CHAOS_SEED={seed}):")
            }
            SeedSource::Env => format!("target `db` (seed {seed} from TOWER_CHAOS_SEED):"),
            other => panic!("{other:?}"),
        };
        assert!(report.to_string().contains(&expected), "{report}");
    }
}

//! Scenarios and their timelines.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::cx::Cx;
use super::duration::Text;
use super::limits::{MAX_DURATION, MAX_PHASES, MAX_SPELLS, MAX_TIMELINE_CELLS, within_limit};
use super::{Faults, Phase, ScenarioError};

/// A named timeline of [`Phase`]s over named targets: at offset T, for
/// duration D, target X has faults F. Built with [`Scenario::builder`] or
/// loaded from a file ([`Scenario::from_file`], feature `serde`), and run
/// by a [`Rehearsal`](super::Rehearsal).
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{Phase, Scenario};
///
/// let h = Duration::from_secs(3600);
/// let scenario = Scenario::builder("regional-outage")
///     .phase(Phase::new("outage", "primary").at(h).lasting(2 * h).down())
///     .duration(4 * h)
///     .build()?;
/// assert_eq!(scenario.duration(), 4 * h);
/// assert_eq!(scenario.targets(), ["primary"]);
/// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
/// ```
///
/// Scenarios compare by value — name, description, duration and phases —
/// with one exception: a typed rule added in code ([`Faults::rule`](super::Faults::rule))
/// holds closures, so it equals only itself (the same rule in a clone),
/// never a rule built the same way again. Everything a file can say
/// compares by value, so a scenario written to a file and loaded back
/// equals the original.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) phases: Vec<Phase>,
    pub(crate) duration: Duration,
}

impl Scenario {
    /// Starts a scenario named `name`.
    ///
    /// ```
    /// let b = tower_chaos::scenario::Scenario::builder("s");
    /// assert!(b.build().is_err(), "a scenario needs at least one phase");
    /// ```
    pub fn builder(name: impl Into<String>) -> ScenarioBuilder {
        ScenarioBuilder {
            name: name.into(),
            description: None,
            phases: Vec::new(),
            duration: None,
        }
    }

    /// The scenario's name.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let s = Scenario::builder("s").phase(Phase::new("p", "t").lasting(Duration::from_secs(1))).build()?;
    /// assert_eq!(s.name(), "s");
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description, if any.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let s = Scenario::builder("s")
    ///     .description("what happened")
    ///     .phase(Phase::new("p", "t").lasting(Duration::from_secs(1)))
    ///     .build()?;
    /// assert_eq!(s.description(), Some("what happened"));
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The phases, in the order given (the order rules merge in).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let s = Scenario::builder("s").phase(Phase::new("p", "t").lasting(Duration::from_secs(1))).build()?;
    /// assert_eq!(s.phases()[0].name(), "p");
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The phase named `name`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let s = Scenario::builder("s").phase(Phase::new("p", "t").lasting(Duration::from_secs(1))).build()?;
    /// assert_eq!(s.phase("p").map(Phase::target), Some("t"));
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| &*p.name == name)
    }

    /// The whole timeline: the explicit duration, or the end of the last
    /// phase.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let s = Scenario::builder("s").phase(Phase::new("p", "t").lasting(Duration::from_secs(9))).build()?;
    /// assert_eq!(s.duration(), Duration::from_secs(9));
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub const fn duration(&self) -> Duration {
        self.duration
    }

    /// The targets' names, in order of first appearance.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let one = Duration::from_secs(1);
    /// let s = Scenario::builder("s")
    ///     .phase(Phase::new("a", "db").lasting(one))
    ///     .phase(Phase::new("b", "cache").lasting(one))
    ///     .phase(Phase::new("c", "db").lasting(one))
    ///     .build()?;
    /// assert_eq!(s.targets(), ["db", "cache"]);
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    #[must_use]
    pub fn targets(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.phases
            .iter()
            .map(|p| &*p.target)
            .filter(|t| seen.insert(*t))
            .collect()
    }

    /// The same scenario with target `from` renamed `to`: fit a preset to
    /// the names a rehearsal already uses (the presets name their targets
    /// after the provider's service, e.g. `dynamodb`).
    ///
    /// # Errors
    ///
    /// [`ScenarioError::UnknownTarget`] when the scenario has no target
    /// `from`; [`ScenarioError::Invalid`] (field `target`) when `to` is
    /// empty or already a target of the scenario (renaming onto it would
    /// silently merge two targets' phases).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario, ScenarioError};
    /// let preset = Scenario::builder("outage")
    ///     .phase(Phase::new("down", "dynamodb").lasting(Duration::from_secs(60)).down())
    ///     .build()?;
    /// let s = preset.clone().rename_target("dynamodb", "orders-db")?;
    /// assert!(s.targets().contains(&"orders-db"));
    /// assert!(!s.targets().contains(&"dynamodb"));
    /// let err = preset.rename_target("s3", "blobs").unwrap_err();
    /// assert!(matches!(err, ScenarioError::UnknownTarget { .. }));
    /// # Ok::<(), ScenarioError>(())
    /// ```
    pub fn rename_target(mut self, from: &str, to: impl Into<Arc<str>>) -> Result<Self, ScenarioError> {
        let to: Arc<str> = to.into();
        let known: Vec<String> = self.targets().into_iter().map(str::to_owned).collect();
        if !known.iter().any(|t| t == from) {
            return Err(ScenarioError::UnknownTarget {
                target: from.to_owned(),
                known,
            });
        }
        if to.is_empty() || (&*to != from && known.iter().any(|t| **t == *to)) {
            return Err(ScenarioError::Invalid {
                field: "target".to_owned(),
                value: format!("{to:?}"),
                reason: if to.is_empty() {
                    "a target name must not be empty".to_owned()
                } else {
                    format!(
                        "already a target of scenario `{}`; renaming onto it would merge two targets",
                        self.name
                    )
                },
            });
        }
        for phase in &mut self.phases {
            if &*phase.target == from {
                phase.target = Arc::clone(&to);
            }
        }
        Ok(self)
    }

    /// Every spell of the timeline: `(start, end, phase index, spell)`, in
    /// phase order (a flapping phase's spells in time order).
    pub(crate) fn spells(&self) -> Vec<(Duration, Duration, usize, Spell)> {
        let mut spells = Vec::with_capacity(self.phases.len());
        for (index, p) in self.phases.iter().enumerate() {
            let end = p.end();
            match &p.flap {
                None => spells.push((p.at, end, index, Spell::Steady)),
                Some(flap) => {
                    let mut t = p.at;
                    let mut bad = true;
                    while t < end {
                        let len = if bad { flap.bad } else { flap.good };
                        // Both below `MAX_DURATION` once built: no overflow.
                        let to = t.saturating_add(len).min(end);
                        spells.push((t, to, index, if bad { Spell::Bad } else { Spell::Good }));
                        t = to;
                        bad = !bad;
                    }
                }
            }
        }
        spells
    }

    /// The cuts of the timeline: every spell's start and end, zero and the
    /// duration, sorted, without duplicates.
    fn cuts(&self, spells: &[(Duration, Duration, usize, Spell)]) -> Vec<Duration> {
        let mut cuts: Vec<Duration> = spells.iter().flat_map(|s| [s.0, s.1]).collect();
        cuts.push(Duration::ZERO);
        cuts.push(self.duration);
        cuts.retain(|c| *c <= self.duration);
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    }

    /// Splits the timeline into segments over which the set of active
    /// spells is constant: a sweep over the sorted cuts, linear in the
    /// size of the result (bounded by [`MAX_TIMELINE_CELLS`]).
    pub(crate) fn timeline(&self) -> Timeline {
        let spells = self.spells();
        let cuts = self.cuts(&spells);
        let mut segments: Vec<Segment> = cuts
            .windows(2)
            .map(|w| Segment {
                from: w[0],
                to: w[1],
                active: Vec::new(),
            })
            .collect();
        // Spells come in phase order, so each segment's list is too.
        let n = segments.len();
        for (from, to, index, spell) in spells {
            let (lo, hi) = (position(&cuts, from), position(&cuts, to).min(n));
            for seg in &mut segments[lo.min(hi)..hi] {
                seg.active.push((index, spell));
            }
        }
        Timeline { segments }
    }

    /// The cells of the timeline (see [`MAX_TIMELINE_CELLS`]), without
    /// building it: `(segments, targets, Σ active spells per segment)`.
    fn size(&self) -> (usize, usize, usize) {
        let spells = self.spells();
        let cuts = self.cuts(&spells);
        let active = spells
            .iter()
            .map(|s| position(&cuts, s.1) - position(&cuts, s.0))
            .sum();
        (cuts.len().saturating_sub(1), self.targets().len(), active)
    }

    /// The first start and the last end of the phases on `target`: what
    /// tells `before`, `between` and `after` apart in [`label`].
    pub(crate) fn span(&self, target: &str) -> (Duration, Duration) {
        let mine = self.phases.iter().filter(|p| &*p.target == target);
        let first = mine.clone().map(|p| p.at).min().unwrap_or_default();
        let last = mine.map(Phase::end).max().unwrap_or_default();
        (first, last)
    }

    /// The largest scenario time a rehearsal turns into a deadline: the
    /// duration, or the end of a fault window, whichever is later.
    pub(crate) fn latest_offset(&self) -> Duration {
        self.phases
            .iter()
            .flat_map(|p| {
                let good = p.flap.as_ref().map(|f| &f.while_good);
                std::iter::once(&p.faults).chain(good).flat_map(Faults::windows)
            })
            .map(|(_, to)| to)
            .fold(self.duration, Duration::max)
    }
}

/// The index of `t` among the sorted `cuts` (every spell boundary is one).
fn position(cuts: &[Duration], t: Duration) -> usize {
    cuts.partition_point(|c| *c < t)
}

/// Which part of a phase is active.
///
/// ```
/// use tower_chaos::scenario::{Spell, Status};
/// fn flapping_bad(status: &Status) -> bool {
///     status.active.iter().any(|a| a.spell == Spell::Bad)
/// }
/// assert!(!flapping_bad(&Status::default()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Spell {
    /// A phase that does not flap.
    Steady,
    /// A flapping phase, in its bad spell (the phase's faults).
    Bad,
    /// A flapping phase, in its good spell ([`Flap::while_good`](super::Flap::while_good)).
    Good,
}

/// Consecutive segments of constant activity, covering `0..duration`.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    pub(crate) segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) from: Duration,
    pub(crate) to: Duration,
    /// Active spells, in phase order.
    pub(crate) active: Vec<(usize, Spell)>,
}

impl Timeline {
    /// The index of the segment holding scenario time `t` (the last one
    /// for times past the end).
    #[cfg(test)]
    pub(crate) fn segment_at(&self, t: Duration) -> usize {
        self.segments
            .partition_point(|s| s.to <= t)
            .min(self.segments.len().saturating_sub(1))
    }
}

/// Builds a [`Scenario`]; see [`Scenario::builder`].
///
/// ```
/// # use std::time::Duration;
/// use tower_chaos::scenario::{Phase, Scenario};
/// let s = Scenario::builder("s").phase(Phase::new("p", "t").lasting(Duration::from_secs(5))).build()?;
/// assert_eq!(s.phases().len(), 1);
/// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct ScenarioBuilder {
    name: String,
    description: Option<String>,
    phases: Vec<Phase>,
    duration: Option<Duration>,
}

impl ScenarioBuilder {
    /// A description (what the scenario models, its source).
    ///
    /// ```
    /// let b = tower_chaos::scenario::Scenario::builder("s").description("AWS us-east-1, 2025-10-20");
    /// assert!(format!("{b:?}").contains("2025-10-20"));
    /// ```
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Adds a phase.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let s = Scenario::builder("s").phase(Phase::new("p", "t").lasting(Duration::from_secs(1))).build()?;
    /// assert_eq!(s.phases().len(), 1);
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phases.push(phase);
        self
    }

    /// Adds phases.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let one = Duration::from_secs(1);
    /// let s = Scenario::builder("s").phases([Phase::new("a", "t").lasting(one), Phase::new("b", "t").lasting(one)]).build()?;
    /// assert_eq!(s.phases().len(), 2);
    /// # Ok::<(), tower_chaos::scenario::ScenarioError>(())
    /// ```
    pub fn phases(mut self, phases: impl IntoIterator<Item = Phase>) -> Self {
        self.phases.extend(phases);
        self
    }

    /// Makes the timeline last `duration` (at least until the last phase
    /// ends): the time after the last phase is observed as recovery.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let err = Scenario::builder("s")
    ///     .phase(Phase::new("p", "t").lasting(Duration::from_secs(10)))
    ///     .duration(Duration::from_secs(5))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("duration"));
    /// ```
    pub const fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Validates and builds the scenario.
    ///
    /// # Errors
    ///
    /// [`ScenarioError`] naming the field: no phases, an empty name or
    /// target, a phase that lasts zero, duplicate phase names, a ramp
    /// outside `0.0..=1.0`, a flap spell of zero, a duration shorter than
    /// the phases, a bad latency or fault window, and the limits: a
    /// duration, offset or phase end beyond [`MAX_DURATION`], more than
    /// [`MAX_PHASES`] phases, [`MAX_SPELLS`] spells or
    /// [`MAX_TIMELINE_CELLS`] cells. Building is `O(n log n)` in the
    /// phases and spells.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario, ScenarioError};
    /// let one = Duration::from_secs(1);
    /// let err = Scenario::builder("s")
    ///     .phase(Phase::new("p", "a").lasting(one))
    ///     .phase(Phase::new("p", "b").lasting(one))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ScenarioError::DuplicatePhase { first: 0, second: 1, .. }));
    /// ```
    pub fn build(self) -> Result<Scenario, ScenarioError> {
        if self.name.trim().is_empty() {
            return Err(ScenarioError::invalid("name", "\"\"", "must not be empty"));
        }
        if self.phases.is_empty() {
            return Err(ScenarioError::invalid(
                "phases",
                "[]",
                "a scenario needs at least one phase",
            ));
        }
        if self.phases.len() > MAX_PHASES {
            return Err(ScenarioError::invalid(
                "phases",
                format!("{} phases", self.phases.len()),
                format!("a scenario has at most {MAX_PHASES} phases"),
            ));
        }
        let mut names: HashMap<&str, usize> = HashMap::with_capacity(self.phases.len());
        let mut spells = 0usize;
        let mut last = Duration::ZERO;
        for (i, p) in self.phases.iter().enumerate() {
            let field = |f: &str| format!("phases[{i}].{f}");
            if p.name.trim().is_empty() {
                return Err(ScenarioError::invalid(field("name"), "\"\"", "must not be empty"));
            }
            if p.target.trim().is_empty() {
                return Err(ScenarioError::invalid(
                    field("target"),
                    "\"\"",
                    "must not be empty",
                ));
            }
            if let Some(&first) = names.get(&*p.name) {
                return Err(ScenarioError::DuplicatePhase {
                    name: p.name.to_string(),
                    first,
                    second: i,
                });
            }
            names.insert(&p.name, i);
            if p.duration.is_zero() {
                return Err(ScenarioError::invalid(
                    field("for"),
                    Text(p.duration),
                    "a phase must last longer than zero",
                ));
            }
            within_limit(&field("at"), p.at)?;
            within_limit(&field("for"), p.duration)?;
            let end = p.at.saturating_add(p.duration);
            if end > MAX_DURATION {
                return Err(ScenarioError::invalid(
                    field("for"),
                    Text(p.duration),
                    format!(
                        "the phase would end at {} (at {} + for), after the limit of {} (MAX_DURATION)",
                        Text(end),
                        Text(p.at),
                        Text(MAX_DURATION)
                    ),
                ));
            }
            last = last.max(end);
            if let Some((from, to)) = p.ramp {
                for (name, v) in [("ramp.from", from), ("ramp.to", to)] {
                    if !(0.0..=1.0).contains(&v) {
                        return Err(ScenarioError::invalid(field(name), v, "must be within 0.0..=1.0"));
                    }
                }
            }
            p.faults.validate(&format!("phases[{i}]"))?;
            let cx = Cx {
                phase: Arc::clone(&p.name),
                start: p.at,
                speed: 1.0,
                ramp: p.ramp.map(|(from, to)| (from, to, p.at, end)),
                fired: None,
            };
            p.faults.dry_check(&format!("phases[{i}]"), &cx)?;
            spells += 1;
            if let Some(flap) = &p.flap {
                for (name, d) in [("flap.bad", flap.bad), ("flap.good", flap.good)] {
                    if d.is_zero() {
                        return Err(ScenarioError::invalid(
                            field(name),
                            Text(d),
                            "must be longer than zero",
                        ));
                    }
                    within_limit(&field(name), d)?;
                }
                flap.while_good.validate(&field("flap.while_good"))?;
                flap.while_good.dry_check(&field("flap.while_good"), &cx)?;
                let n = p.duration.as_nanos() / flap.period().as_nanos() * 2 + 2;
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                spells = spells.saturating_add(n);
                if spells > MAX_SPELLS {
                    return Err(ScenarioError::invalid(
                        field("flap"),
                        format!("{n} spells"),
                        format!(
                            "the timeline would have {spells} spells in all, more than {MAX_SPELLS} \
                             (MAX_SPELLS); flap more slowly"
                        ),
                    ));
                }
            }
        }
        let duration = match self.duration {
            Some(d) if d < last => {
                return Err(ScenarioError::invalid(
                    "duration",
                    Text(d),
                    format!("shorter than the phases, which end at {}", Text(last)),
                ));
            }
            Some(d) => {
                within_limit("duration", d)?;
                d
            }
            None => last,
        };
        let scenario = Scenario {
            name: self.name,
            description: self.description,
            phases: self.phases,
            duration,
        };
        let (segments, targets, active) = scenario.size();
        let cells = segments.saturating_mul(targets).saturating_add(active);
        if cells > MAX_TIMELINE_CELLS {
            return Err(ScenarioError::invalid(
                "phases",
                format!("{} phases on {targets} targets", scenario.phases.len()),
                format!(
                    "the timeline would hold {cells} cells ({segments} segments × {targets} targets + \
                     {active} active phases over the segments), more than {MAX_TIMELINE_CELLS} \
                     (MAX_TIMELINE_CELLS): use fewer targets or fewer overlapping phases"
                ),
            ));
        }
        Ok(scenario)
    }
}

/// Label of a segment for one target: the active phases joined with `+`
/// (flapping spells marked), or `before`/`between`/`after` when none is.
pub(crate) fn label(scenario: &Scenario, target: &str, seg: &Segment) -> Arc<str> {
    let mine = seg
        .active
        .iter()
        .copied()
        .filter(|(i, _)| &*scenario.phases[*i].target == target);
    label_of(scenario, mine, scenario.span(target), seg)
}

/// [`label`], given the target's own active spells in `seg` (in phase
/// order) and its [`span`](Scenario::span): the report labels every
/// segment of every target, and must not scan every phase each time.
pub(crate) fn label_of(
    scenario: &Scenario,
    mine: impl Iterator<Item = (usize, Spell)>,
    (first, last): (Duration, Duration),
    seg: &Segment,
) -> Arc<str> {
    let names: Vec<String> = mine
        .map(|(i, spell)| {
            let p = &scenario.phases[i];
            match spell {
                Spell::Steady => p.name.to_string(),
                Spell::Bad => format!("{} (bad)", p.name),
                Spell::Good => format!("{} (good)", p.name),
            }
        })
        .collect();
    if !names.is_empty() {
        return names.join("+").into();
    }
    if seg.to <= first {
        "before".into()
    } else if seg.from >= last {
        "after".into()
    } else {
        "between".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Flap;

    const M: Duration = Duration::from_secs(60);

    #[test]
    fn segments_cover_overlaps_and_flaps() {
        let s = Scenario::builder("s")
            .phase(Phase::new("a", "x").at(M).lasting(4 * M).down())
            .phase(Phase::new("b", "x").at(2 * M).lasting(M).down())
            .phase(
                Phase::new("f", "y")
                    .at(2 * M)
                    .lasting(3 * M)
                    .down()
                    .flap(Flap::new(M, M)),
            )
            .duration(6 * M)
            .build()
            .unwrap();
        let t = s.timeline();
        type Shape = (u64, u64, Vec<(usize, Spell)>);
        let shape: Vec<Shape> = t
            .segments
            .iter()
            .map(|g| (g.from.as_secs() / 60, g.to.as_secs() / 60, g.active.clone()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, 1, vec![]),
                (1, 2, vec![(0, Spell::Steady)]),
                (
                    2,
                    3,
                    vec![(0, Spell::Steady), (1, Spell::Steady), (2, Spell::Bad)]
                ),
                (3, 4, vec![(0, Spell::Steady), (2, Spell::Good)]),
                (4, 5, vec![(0, Spell::Steady), (2, Spell::Bad)]),
                (5, 6, vec![]),
            ]
        );
        let labels: Vec<_> = t.segments.iter().map(|g| label(&s, "x", g).to_string()).collect();
        assert_eq!(labels, ["before", "a", "a+b", "a", "a", "after"]);
        assert_eq!(label(&s, "y", &t.segments[3]).as_ref(), "f (good)");
        assert_eq!(t.segment_at(Duration::from_secs(150)), 2);
        assert_eq!(t.segment_at(100 * M), 5);
    }
}

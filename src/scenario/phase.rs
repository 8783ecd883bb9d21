//! Phases: at offset T, for duration D, target X has faults F.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Faults;
use super::faults::RequestFault;
use crate::{FaultAction, Latency, Rule};

/// One phase of a [`Scenario`](super::Scenario): from offset
/// [`at`](Self::at), for [`lasting`](Self::lasting), the target named
/// [`target`](Self::target) has these [`Faults`].
///
/// Variations:
///
/// * **Overlap**: phases on the same target may overlap; while several are
///   active, their rules merge into one fault set per kind, in phase order
///   (for request-level faults: delays add up, the first terminal fault
///   wins).
/// * **Ramp** ([`ramp`](Self::ramp)): the phase's faults fire with a
///   probability that moves linearly from `from` to `to` over the phase (a
///   brownout that deepens, a recovery that spreads). Implemented per rule
///   with [`Trigger::ramp`](crate::Trigger::ramp) on the target's clock:
///   exact, with no re-installation and no step.
/// * **Flapping** ([`flap`](Self::flap)): the phase alternates between its
///   faults ("bad", first) and [`Flap::while_good`] faults ("good") with the
///   given durations (Cloudflare, 2025-11-18: roughly every 5 minutes).
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{Flap, Phase, RequestFault};
///
/// let min = Duration::from_secs(60);
/// let outage = Phase::new("dns-outage", "dynamodb").at(5 * min).lasting(150 * min).down();
/// let brownout = Phase::new("brownout", "dynamodb")
///     .at(155 * min)
///     .lasting(60 * min)
///     .request(RequestFault::error())
///     .ramp(0.5, 0.0);
/// let flapping = Phase::new("flapping", "edge")
///     .lasting(100 * min)
///     .down()
///     .flap(Flap::new(5 * min, 5 * min));
/// assert_eq!(outage.end(), 155 * min);
/// assert!(brownout.ramping().is_some() && flapping.flapping().is_some());
/// ```
///
/// Phases compare as their [`Faults`] do: by value, with typed rules built
/// in code by identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub(crate) name: Arc<str>,
    pub(crate) target: Arc<str>,
    pub(crate) at: Duration,
    pub(crate) duration: Duration,
    pub(crate) faults: Faults,
    pub(crate) ramp: Option<(f64, f64)>,
    pub(crate) flap: Option<Flap>,
    pub(crate) expect_to_fire: bool,
}

impl Phase {
    /// A phase named `name` (unique in its scenario) on the target named
    /// `target`, starting at offset zero, lasting zero (set
    /// [`lasting`](Self::lasting)), with no faults.
    ///
    /// ```
    /// let p = tower_chaos::scenario::Phase::new("outage", "db");
    /// assert_eq!((p.name(), p.target()), ("outage", "db"));
    /// ```
    #[must_use]
    pub fn new(name: impl Into<Arc<str>>, target: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            target: target.into(),
            at: Duration::ZERO,
            duration: Duration::ZERO,
            faults: Faults::new(),
            ramp: None,
            flap: None,
            expect_to_fire: false,
        }
    }

    /// Starts at `offset` from the scenario's start.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = tower_chaos::scenario::Phase::new("p", "db").at(Duration::from_secs(60));
    /// assert_eq!(p.start(), Duration::from_secs(60));
    /// ```
    #[must_use]
    pub const fn at(mut self, offset: Duration) -> Self {
        self.at = offset;
        self
    }

    /// Lasts `duration` (`for` in files; must be longer than zero).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = tower_chaos::scenario::Phase::new("p", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(30));
    /// assert_eq!(p.end(), Duration::from_secs(90));
    /// ```
    #[must_use]
    pub const fn lasting(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Replaces the phase's faults.
    ///
    /// ```
    /// use tower_chaos::scenario::{Faults, Phase};
    /// let p = Phase::new("p", "db").faults(Faults::new().down());
    /// assert!(p.content().is_down());
    /// ```
    #[must_use]
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The target is down ([`Faults::down`]).
    ///
    /// ```
    /// assert!(tower_chaos::scenario::Phase::new("p", "db").down().content().is_down());
    /// ```
    #[must_use]
    pub fn down(mut self) -> Self {
        self.faults = self.faults.down();
        self
    }

    /// The target is slow ([`Faults::slow`]).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = tower_chaos::scenario::Phase::new("p", "db").slow(Duration::from_secs(1));
    /// assert!(p.content().slowness().is_some());
    /// ```
    #[must_use]
    pub fn slow(mut self, latency: impl Into<Latency>) -> Self {
        self.faults = self.faults.slow(latency);
        self
    }

    /// Adds a described request fault ([`Faults::request`]).
    ///
    /// ```
    /// use tower_chaos::scenario::{Phase, RequestFault};
    /// let p = Phase::new("p", "db").request(RequestFault::error().rate(0.1));
    /// assert_eq!(p.content().requests().len(), 1);
    /// ```
    #[must_use]
    pub fn request(mut self, fault: RequestFault) -> Self {
        self.faults = self.faults.request(fault);
        self
    }

    /// Adds a typed rule ([`Faults::rule`]).
    ///
    /// ```
    /// use tower_chaos::scenario::Phase;
    /// use tower_chaos::{Fault, Trigger};
    /// let p = Phase::new("p", "db").rule(Fault::<u32>::hang().when(Trigger::every(10)));
    /// assert!(!p.content().is_empty());
    /// ```
    #[must_use]
    pub fn rule<A, R>(mut self, rule: Rule<A, R>) -> Self
    where
        A: FaultAction + Clone + fmt::Debug,
        R: ?Sized + 'static,
    {
        self.faults = self.faults.rule(rule);
        self
    }

    /// Adds described faults (the `http` and `connection` tables of files
    /// and presets).
    #[cfg(all(feature = "io", any(feature = "serde", feature = "http")))]
    pub(crate) fn contribution(mut self, contribution: Arc<dyn super::faults::Contribute>) -> Self {
        self.faults = self.faults.contribution(contribution);
        self
    }

    /// Ramps the probability of every fault of the phase linearly from
    /// `from` at its start to `to` at its end (both within `0.0..=1.0`; it
    /// multiplies the faults' own triggers). For a down phase, `ramp(1.0,
    /// 0.0)` is a recovery that spreads over the phase.
    ///
    /// ```
    /// let p = tower_chaos::scenario::Phase::new("p", "db").down().ramp(1.0, 0.0);
    /// assert_eq!(p.ramping(), Some((1.0, 0.0)));
    /// ```
    #[must_use]
    pub const fn ramp(mut self, from: f64, to: f64) -> Self {
        self.ramp = Some((from, to));
        self
    }

    /// Flaps: alternates the phase's faults ("bad", first) with
    /// [`Flap::while_good`] ("good") for the durations of `flap`, until the
    /// phase ends. Each switch re-installs the target's fault set, so
    /// counting triggers and budgets start afresh in every bad spell.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Flap, Phase};
    /// let five = Duration::from_secs(300);
    /// let p = Phase::new("p", "edge").lasting(6 * five).down().flap(Flap::new(five, five));
    /// assert_eq!(p.flapping().map(Flap::period), Some(2 * five));
    /// ```
    #[must_use]
    pub fn flap(mut self, flap: Flap) -> Self {
        self.flap = Some(flap);
        self
    }

    /// The phase's name.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::Phase;
    /// let p = Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(30)).down().ramp(1.0, 0.0);
    /// assert_eq!((p.name(), p.target()), ("outage", "db"));
    /// assert_eq!((p.start(), p.duration(), p.end()), (Duration::from_secs(60), Duration::from_secs(30), Duration::from_secs(90)));
    /// assert!(p.content().is_down() && p.ramping() == Some((1.0, 0.0)) && p.flapping().is_none());
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target's name.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::Phase;
    /// let p = Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(30)).down().ramp(1.0, 0.0);
    /// assert_eq!((p.name(), p.target()), ("outage", "db"));
    /// assert_eq!((p.start(), p.duration(), p.end()), (Duration::from_secs(60), Duration::from_secs(30), Duration::from_secs(90)));
    /// assert!(p.content().is_down() && p.ramping() == Some((1.0, 0.0)) && p.flapping().is_none());
    /// ```
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Offset of the start from the scenario's start.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::Phase;
    /// let p = Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(30)).down().ramp(1.0, 0.0);
    /// assert_eq!((p.name(), p.target()), ("outage", "db"));
    /// assert_eq!((p.start(), p.duration(), p.end()), (Duration::from_secs(60), Duration::from_secs(30), Duration::from_secs(90)));
    /// assert!(p.content().is_down() && p.ramping() == Some((1.0, 0.0)) && p.flapping().is_none());
    /// ```
    #[must_use]
    pub const fn start(&self) -> Duration {
        self.at
    }

    /// How long it lasts.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::Phase;
    /// let p = Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(30)).down().ramp(1.0, 0.0);
    /// assert_eq!((p.name(), p.target()), ("outage", "db"));
    /// assert_eq!((p.start(), p.duration(), p.end()), (Duration::from_secs(60), Duration::from_secs(30), Duration::from_secs(90)));
    /// assert!(p.content().is_down() && p.ramping() == Some((1.0, 0.0)) && p.flapping().is_none());
    /// ```
    #[must_use]
    pub const fn duration(&self) -> Duration {
        self.duration
    }

    /// Offset of the end from the scenario's start.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::Phase;
    /// let p = Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(30)).down().ramp(1.0, 0.0);
    /// assert_eq!((p.name(), p.target()), ("outage", "db"));
    /// assert_eq!((p.start(), p.duration(), p.end()), (Duration::from_secs(60), Duration::from_secs(30), Duration::from_secs(90)));
    /// assert!(p.content().is_down() && p.ramping() == Some((1.0, 0.0)) && p.flapping().is_none());
    /// ```
    ///
    /// Saturates at `Duration::MAX` for a phase that was not built into a
    /// scenario; a built scenario's phases end within
    /// [`MAX_DURATION`](super::MAX_DURATION).
    #[must_use]
    pub const fn end(&self) -> Duration {
        self.at.saturating_add(self.duration)
    }

    /// The phase's faults (the bad ones, for a flapping phase).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::Phase;
    /// let p = Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(30)).down().ramp(1.0, 0.0);
    /// assert_eq!((p.name(), p.target()), ("outage", "db"));
    /// assert_eq!((p.start(), p.duration(), p.end()), (Duration::from_secs(60), Duration::from_secs(30), Duration::from_secs(90)));
    /// assert!(p.content().is_down() && p.ramping() == Some((1.0, 0.0)) && p.flapping().is_none());
    /// ```
    #[must_use]
    pub const fn content(&self) -> &Faults {
        &self.faults
    }

    /// Whether the phase takes its target down while it is active (in its
    /// bad spells, for a flapping phase): it is [`down`](Self::down), or
    /// its faults fail every request ([`Faults::is_down`]) and no ramp
    /// below 1 thins them out. Reports count the calls that reach a target
    /// while it is down, and
    /// [`assert_calls_while_down_at_most`](super::RehearsalReport::assert_calls_while_down_at_most)
    /// bounds them.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, RequestFault};
    /// let minute = Duration::from_secs(60);
    /// assert!(Phase::new("outage", "db").lasting(minute).down().ramp(1.0, 0.0).is_down());
    /// assert!(Phase::new("outage", "db").lasting(minute).request(RequestFault::error()).is_down());
    /// // A recovery: errors fall from 50 % to none.
    /// let recovering = Phase::new("recovering", "db").lasting(minute).request(RequestFault::error()).ramp(0.5, 0.0);
    /// assert!(!recovering.is_down());
    /// ```
    #[must_use]
    pub fn is_down(&self) -> bool {
        self.spell_is_down(&self.faults)
    }

    /// [`is_down`](Self::is_down) for one spell's faults (a flapping
    /// phase's good spells have their own).
    pub(crate) fn spell_is_down(&self, faults: &Faults) -> bool {
        let unramped = self.ramp.is_none_or(|(from, to)| from >= 1.0 && to >= 1.0);
        faults.is_down_flagged() || (faults.fails_every_request() && unramped)
    }

    /// Marks the phase as expected to fire (`expect_to_fire = true` in
    /// files): every rule it installs (its own faults, and a flapping
    /// phase's good-spell faults) is marked with
    /// [`Rule::expect_to_fire`](crate::Rule::expect_to_fire), and the
    /// rehearsal counts how often the phase's rules injected, in
    /// [`PhaseSummary::fired`](super::PhaseSummary::fired).
    /// [`RehearsalReport::assert_expected_fired`](super::RehearsalReport::assert_expected_fired)
    /// then fails, naming the phase, if none of them ever fired: no
    /// traffic reached the target during the phase, or its triggers never
    /// matched. Proof that the chaos was not silently inert.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Rehearsal, Scenario, VerdictError};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let min = Duration::from_secs(60);
    /// let outage = Phase::new("outage", "db").at(min).lasting(min).down().expect_to_fire();
    /// assert!(outage.is_expected_to_fire());
    /// let scenario = Scenario::builder("s").phase(outage).duration(3 * min).build()?;
    /// let db = tower_chaos::Target::builder("db").seed(3).build()?;
    /// // No caller sends anything: the outage never fires.
    /// let report = Rehearsal::new(&scenario).bind::<u8, tower::BoxError>(&db).run().await?;
    /// assert_eq!(report.phase("outage").unwrap().fired, Some(0));
    /// let err = report.assert_expected_fired().unwrap_err();
    /// assert!(matches!(err, VerdictError::NeverFired { .. }));
    /// assert!(err.to_string().contains("`outage` (target `db`, seed 3)"), "{err}");
    /// # Ok(()) }
    /// ```
    ///
    /// The target's own [`Report`](crate::Report) lists the rules too
    /// (named after the phase unless named, see
    /// [`Rule::expect_to_fire`](crate::Rule::expect_to_fire)), for
    /// [`Report::assert_expected_fired`](crate::Report::assert_expected_fired)
    /// after the run.
    #[must_use]
    pub const fn expect_to_fire(mut self) -> Self {
        self.expect_to_fire = true;
        self
    }

    /// The ramp, if any.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::Phase;
    /// let p = Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(30)).down().ramp(1.0, 0.0);
    /// assert_eq!((p.name(), p.target()), ("outage", "db"));
    /// assert_eq!((p.start(), p.duration(), p.end()), (Duration::from_secs(60), Duration::from_secs(30), Duration::from_secs(90)));
    /// assert!(p.content().is_down() && p.ramping() == Some((1.0, 0.0)) && p.flapping().is_none());
    /// ```
    #[must_use]
    pub const fn ramping(&self) -> Option<(f64, f64)> {
        self.ramp
    }

    /// Whether the phase is [expected to fire](Self::expect_to_fire).
    ///
    /// ```
    /// use tower_chaos::scenario::Phase;
    /// assert!(!Phase::new("p", "db").is_expected_to_fire());
    /// assert!(Phase::new("p", "db").expect_to_fire().is_expected_to_fire());
    /// ```
    #[must_use]
    pub const fn is_expected_to_fire(&self) -> bool {
        self.expect_to_fire
    }

    /// The flapping, if any.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::Phase;
    /// let p = Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(30)).down().ramp(1.0, 0.0);
    /// assert_eq!((p.name(), p.target()), ("outage", "db"));
    /// assert_eq!((p.start(), p.duration(), p.end()), (Duration::from_secs(60), Duration::from_secs(30), Duration::from_secs(90)));
    /// assert!(p.content().is_down() && p.ramping() == Some((1.0, 0.0)) && p.flapping().is_none());
    /// ```
    #[must_use]
    pub const fn flapping(&self) -> Option<&Flap> {
        self.flap.as_ref()
    }
}

/// How a phase flaps: `bad` long with the phase's faults, then `good` long
/// with [`while_good`](Self::while_good) faults (none by default), and
/// again, until the phase ends.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{Faults, Flap, RequestFault};
///
/// let flap = Flap::new(Duration::from_secs(300), Duration::from_secs(240))
///     .while_good(Faults::new().request(RequestFault::error().rate(0.02)));
/// assert_eq!(flap.period(), Duration::from_secs(540));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Flap {
    pub(crate) bad: Duration,
    pub(crate) good: Duration,
    pub(crate) while_good: Faults,
}

impl Flap {
    /// Bad for `bad`, then good for `good` (both longer than zero).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let f = tower_chaos::scenario::Flap::new(Duration::from_secs(1), Duration::from_secs(2));
    /// assert_eq!(f.period(), Duration::from_secs(3));
    /// ```
    #[must_use]
    pub fn new(bad: Duration, good: Duration) -> Self {
        Self {
            bad,
            good,
            while_good: Faults::new(),
        }
    }

    /// Faults while good (none by default).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Faults, Flap};
    /// let f = Flap::new(Duration::from_secs(1), Duration::from_secs(1)).while_good(Faults::new().down());
    /// assert!(f.good_faults().is_down());
    /// ```
    #[must_use]
    pub fn while_good(mut self, faults: Faults) -> Self {
        self.while_good = faults;
        self
    }

    /// One bad and one good spell.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Faults, Flap};
    /// let f = Flap::new(Duration::from_secs(300), Duration::from_secs(240)).while_good(Faults::new().down());
    /// assert_eq!(f.period(), Duration::from_secs(540));
    /// assert!(f.good_faults().is_down());
    /// ```
    ///
    /// Saturates at `Duration::MAX` for spells that no scenario accepts
    /// (each is at most [`MAX_DURATION`](super::MAX_DURATION)).
    #[must_use]
    pub const fn period(&self) -> Duration {
        self.bad.saturating_add(self.good)
    }

    /// The faults while good.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Faults, Flap};
    /// let f = Flap::new(Duration::from_secs(300), Duration::from_secs(240)).while_good(Faults::new().down());
    /// assert_eq!(f.period(), Duration::from_secs(540));
    /// assert!(f.good_faults().is_down());
    /// ```
    #[must_use]
    pub const fn good_faults(&self) -> &Faults {
        &self.while_good
    }
}

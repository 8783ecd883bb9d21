//! Exports of a [`Scenario`] to the chaos engines teams run in their
//! clusters and labs (feature `serde`): a Chaos Mesh `Workflow`
//! ([`to_chaos_mesh`]) and a toxiproxy configuration with a timeline of API
//! calls ([`to_toxiproxy`]).
//!
//! An engine cannot say everything a scenario says: Chaos Mesh's
//! `HTTPChaos` has no percentage, toxiproxy moves bytes and cannot answer a
//! request with a `503`, neither counts requests (`first`, `every`), keys
//! on a tenant or models overload. An export never drops a fault
//! silently: every fault it could not emit, or emitted only approximately,
//! is listed as an [`Unexpressed`] naming the phase, the fault and the
//! reason. `docs/EXPORTS.md` has the mapping tables.
//!
//! ```
//! use std::time::Duration;
//! use tower_chaos::scenario::export::{ChaosMeshOptions, ChaosMeshTarget, Gap, Pods, to_chaos_mesh};
//! use tower_chaos::scenario::{Phase, RequestFault, Scenario};
//!
//! let scenario = Scenario::builder("db-blip")
//!     .phase(Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(90)).down())
//!     .phase(Phase::new("flaky", "db").at(Duration::from_secs(150)).lasting(Duration::from_secs(60)).request(RequestFault::error().rate(0.2)))
//!     .build()?;
//! let options = ChaosMeshOptions::new("shop")
//!     .all(ChaosMeshTarget::new(Pods::new("shop").label("app", "db")).port(8080));
//! let export = to_chaos_mesh(&scenario, &options)?;
//! assert!(export.yaml.contains("kind: Workflow"));
//! // A 503 for every request: approximated (the request still reaches the pod).
//! assert_eq!(export.unexpressed[0].gap, Gap::Approximated);
//! // 20 % errors: HTTPChaos has no percentage, so the fault is not emitted.
//! assert_eq!(export.unexpressed[1].gap, Gap::Dropped);
//! assert_eq!((export.unexpressed[1].phase.as_str(), export.unexpressed[1].fault.as_str()), ("flaky", "request[0] (error)"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chaos_mesh;
mod toxiproxy;

use std::fmt;
use std::time::Duration;

pub use chaos_mesh::{ChaosMeshExport, ChaosMeshOptions, ChaosMeshTarget, Pods, to_chaos_mesh};
pub use toxiproxy::{ToxiproxyExport, ToxiproxyOptions, to_toxiproxy};

use super::conditions::Conditions;
use super::faults::Contribute;
use super::{Faults, Phase, RequestFault, Scenario, Spell};
use crate::Latency;
use crate::latency::Dist;

/// How far an engine falls short of a fault.
///
/// ```
/// use tower_chaos::scenario::export::Gap;
/// assert_eq!(Gap::Dropped.to_string(), "dropped");
/// assert_eq!(Gap::Approximated.to_string(), "approximated");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Gap {
    /// The fault is not in the export at all.
    Dropped,
    /// The fault is in the export, with a different effect the reason
    /// names (a distribution reduced to its median, a `503` that still
    /// reaches the provider…).
    Approximated,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dropped => "dropped",
            Self::Approximated => "approximated",
        })
    }
}

/// A fault of a scenario that an export could not express exactly.
///
/// `fault` names the fault within its phase as a scenario file does, with
/// its kind: `down`, `slow`, `request[0] (error)`, `http[1] (status)`,
/// `connection[0] (dns_failure)`, `rules[0]` (a typed rule added in code),
/// prefixed by `flap.while_good.` for a flapping phase's good spells.
///
/// ```
/// use tower_chaos::scenario::export::{Gap, Unexpressed};
/// let u = Unexpressed {
///     phase: "flaky".into(),
///     fault: "request[0] (error)".into(),
///     gap: Gap::Dropped,
///     reason: "HTTPChaos has no percentage (rate 0.2)".into(),
/// };
/// assert_eq!(u.to_string(), "phase `flaky`, request[0] (error): dropped: HTTPChaos has no percentage (rate 0.2)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexpressed {
    /// The phase's name.
    pub phase: String,
    /// The fault within the phase, with its kind.
    pub fault: String,
    /// Dropped or approximated.
    pub gap: Gap,
    /// Why, and what was emitted instead for an approximation.
    pub reason: String,
}

impl fmt::Display for Unexpressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "phase `{}`, {}: {}: {}",
            self.phase, self.fault, self.gap, self.reason
        )
    }
}

/// The options of an export do not fit the scenario.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::export::{ExportError, ToxiproxyOptions, to_toxiproxy};
/// use tower_chaos::scenario::{Phase, Scenario};
///
/// let scenario = Scenario::builder("s").phase(Phase::new("p", "db").lasting(Duration::from_secs(1)).down()).build()?;
/// let err = to_toxiproxy(&scenario, &ToxiproxyOptions::new()).unwrap_err();
/// assert_eq!(err, ExportError::MissingTarget { engine: "toxiproxy", target: "db".into() });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A target of the scenario has no pods (Chaos Mesh) or proxy
    /// (toxiproxy) in the options.
    #[error("{engine}: target `{target}` of the scenario has no entry in the options")]
    MissingTarget {
        /// `chaos-mesh` or `toxiproxy`.
        engine: &'static str,
        /// The target's name.
        target: String,
    },
    /// The writer of the export's format failed (not expected: the
    /// exports write plain lists and maps).
    #[error("{engine}: writing the export failed: {message}")]
    Write {
        /// `chaos-mesh` or `toxiproxy`.
        engine: &'static str,
        /// What the writer said.
        message: String,
    },
    /// An option's value is not one the engine takes.
    #[error("invalid `{field}` = {value:?}: {reason}")]
    Invalid {
        /// The option, e.g. `targets.db.port`.
        field: String,
        /// Its value.
        value: String,
        /// What the engine needs.
        reason: String,
    },
}

/// What a scenario says of one fault, as an engine reads it.
pub(super) enum Described<'a> {
    Down,
    Slow(Latency),
    Request(&'a RequestFault),
    #[cfg(feature = "http")]
    Http(&'a super::http_spec::HttpSpec),
    #[cfg(feature = "io")]
    Conn(&'a super::conn_spec::ConnSpec),
    /// A typed rule added in code: nothing an engine can read.
    Code,
}

/// One fault of a phase: its name in the phase (`request[0] (error)`) and
/// what it says.
pub(super) struct Item<'a> {
    pub(super) label: String,
    pub(super) fault: Described<'a>,
}

impl Item<'_> {
    /// Its trigger settings and limits (none for `down` and `slow`).
    pub(super) fn conditions(&self) -> Option<&Conditions> {
        match &self.fault {
            Described::Request(r) => Some(r.parts().2),
            #[cfg(feature = "http")]
            Described::Http(h) => Some(&h.when),
            #[cfg(feature = "io")]
            Described::Conn(c) => Some(&c.when),
            Described::Down | Described::Slow(_) | Described::Code => None,
        }
    }
}

/// Why a typed rule added in code is not exported.
pub(super) const CODE_RULE: &str = "a typed rule added in code: its triggers are closures and it has no description to export \
     (describe it with `RequestFault`, or in a file's `http` and `connection` tables)";

/// The faults of `faults`, in the order a file writes them.
pub(super) fn items<'a>(faults: &'a Faults, prefix: &str) -> Vec<Item<'a>> {
    let mut out = Vec::new();
    let mut push = |label: String, fault| {
        out.push(Item {
            label: format!("{prefix}{label}"),
            fault,
        });
    };
    if faults.is_down_flagged() {
        push("down".to_owned(), Described::Down);
    }
    if let Some(l) = faults.slowness() {
        push("slow".to_owned(), Described::Slow(l));
    }
    for (j, r) in faults.requests().iter().enumerate() {
        push(format!("request[{j}] ({})", r.parts().0), Described::Request(r));
    }
    let (mut http, mut conn, mut code) = (0, 0, 0);
    for t in faults.typed() {
        let (table, name, fault) = typed(&**t);
        let n = match table {
            "http" => &mut http,
            "connection" => &mut conn,
            _ => &mut code,
        };
        let label = match name {
            Some(name) => format!("{table}[{n}] ({name})"),
            None => format!("{table}[{n}]"),
        };
        *n += 1;
        push(label, fault);
    }
    out
}

/// A typed contribution: its table (`http`, `connection`, `rules`), its
/// fault's name, and what it says.
fn typed(t: &dyn Contribute) -> (&'static str, Option<&'static str>, Described<'_>) {
    #[cfg(feature = "http")]
    if let Some(spec) = t.as_any().downcast_ref::<super::http_spec::HttpSpec>() {
        use super::parameters::FaultName;
        return ("http", Some(spec.form.fault.as_str()), Described::Http(spec));
    }
    #[cfg(feature = "io")]
    if let Some(spec) = t.as_any().downcast_ref::<super::conn_spec::ConnSpec>() {
        use super::parameters::FaultName;
        return (
            "connection",
            Some(spec.form.fault.as_str()),
            Described::Conn(spec),
        );
    }
    #[cfg(not(any(feature = "http", feature = "io")))]
    let _ = t;
    ("rules", None, Described::Code)
}

/// A stretch of the timeline during which a phase's faults (or a flapping
/// phase's good faults) are active.
pub(super) struct Stretch<'a> {
    pub(super) phase: &'a Phase,
    /// The phase's index in the scenario.
    pub(super) index: usize,
    /// The stretch's index within its phase.
    pub(super) nth: usize,
    pub(super) start: Duration,
    pub(super) end: Duration,
    pub(super) faults: &'a Faults,
    /// `""`, or `flap.while_good.` for a good spell.
    pub(super) prefix: &'static str,
}

impl Stretch<'_> {
    /// When an item with `conditions` is active within this stretch: its
    /// `window` (relative to the phase's start) cut to the stretch; `None`
    /// when the window misses it.
    pub(super) fn active(&self, conditions: Option<&Conditions>) -> Option<(Duration, Duration)> {
        let (from, to) = match conditions.and_then(|c| c.window) {
            Some((from, to)) => (
                self.start.max(self.phase.at.saturating_add(from)),
                self.end.min(self.phase.at.saturating_add(to)),
            ),
            None => (self.start, self.end),
        };
        (from < to).then_some((from, to))
    }
}

/// Every stretch of the scenario: a steady phase's whole span, a flapping
/// phase's bad and good spells, in phase order.
pub(super) fn stretches(scenario: &Scenario) -> Vec<Stretch<'_>> {
    let mut out: Vec<Stretch<'_>> = Vec::new();
    let mut seen = vec![0; scenario.phases.len()];
    for (start, end, index, spell) in scenario.spells() {
        let phase = &scenario.phases[index];
        let (faults, prefix) = match (spell, &phase.flap) {
            (Spell::Good, Some(flap)) => (&flap.while_good, "flap.while_good."),
            _ => (&phase.faults, ""),
        };
        let nth = seen[index];
        seen[index] += 1;
        out.push(Stretch {
            phase,
            index,
            nth,
            start,
            end,
            faults,
            prefix,
        });
    }
    out
}

/// The list of what an export could not express, each entry once.
#[derive(Default)]
pub(super) struct Gaps(Vec<Unexpressed>);

impl Gaps {
    pub(super) fn push(&mut self, phase: &Phase, fault: &str, gap: Gap, reason: impl Into<String>) {
        let entry = Unexpressed {
            phase: phase.name.to_string(),
            fault: fault.to_owned(),
            gap,
            reason: reason.into(),
        };
        if !self.0.contains(&entry) {
            self.0.push(entry);
        }
    }

    pub(super) fn into_vec(self) -> Vec<Unexpressed> {
        self.0
    }
}

/// The trigger settings and limits no engine has: each one's name and
/// value. (`rate` and `window` are the engines' own business.)
pub(super) fn counted_triggers(c: &Conditions) -> Vec<String> {
    let mut out = Vec::new();
    let mut say = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            out.push(format!("{name} {v}"));
        }
    };
    say("every", c.every.map(|n| n.to_string()));
    say("first", c.first.map(|n| n.to_string()));
    say("after", c.after.map(|n| n.to_string()));
    say("keyed", c.keyed.as_ref().map(|(a, p)| format!("on `{a}` ({p})")));
    say(
        "overload",
        c.overload
            .map(|o| format!("{} per {}", o.requests(), super::format_duration(o.window()))),
    );
    say("budget", c.budget.map(|n| n.to_string()));
    say("max_active", c.max_active.map(|n| n.to_string()));
    out
}

/// A latency as an engine with a fixed delay and a uniform jitter sees it:
/// `(delay, jitter, exact)`. A uniform distribution is exact; the others
/// keep their centre (mean, median, scale) and a spread where they have
/// one; a clamp is not kept.
pub(super) fn center_and_jitter(l: Latency) -> (Duration, Duration, bool) {
    let (dist, clamp) = l.parts();
    let (delay, jitter, exact) = match dist {
        Dist::Fixed(d) => (d, Duration::ZERO, true),
        Dist::Uniform(min, max) => ((min + max) / 2, (max - min) / 2, true),
        Dist::Jittered { base, jitter } => (base, jitter, true),
        Dist::Normal { mean, std_dev } => (mean, std_dev, false),
        Dist::LogNormal { median, .. } => (median, Duration::ZERO, false),
        Dist::Pareto { scale, .. } => (scale, Duration::ZERO, false),
    };
    (delay, jitter, exact && clamp.is_none())
}

/// What [`center_and_jitter`] kept of a distribution that is not exact,
/// for an approximation's reason.
pub(super) fn latency_reason(l: Latency, engine: &str) -> String {
    let (dist, clamp) = l.parts();
    let kept = match dist {
        Dist::Fixed(_) | Dist::Uniform(..) | Dist::Jittered { .. } => "the distribution",
        Dist::Normal { .. } => "the mean, with the standard deviation as a uniform jitter,",
        Dist::LogNormal { .. } => "the median, without spread,",
        Dist::Pareto { .. } => "the scale, without tail,",
    };
    let clamp = if clamp.is_some() {
        "; the clamp is dropped"
    } else {
        ""
    };
    format!(
        "{engine} takes a fixed delay and a uniform jitter: it keeps {kept} of a {}{clamp}",
        describe(l)
    )
}

/// A latency in words: `log-normal latency (median 800ms, sigma 0.8)`.
pub(super) fn describe(l: Latency) -> String {
    let t = |d: Duration| super::format_duration(d).to_string();
    let (dist, clamp) = l.parts();
    let dist = match dist {
        Dist::Fixed(d) => format!("fixed latency ({})", t(d)),
        Dist::Uniform(min, max) => format!("uniform latency ({}..{})", t(min), t(max)),
        Dist::Jittered { base, jitter } => format!("jittered latency ({} ± {})", t(base), t(jitter)),
        Dist::Normal { mean, std_dev } => {
            format!("normal latency (mean {}, std_dev {})", t(mean), t(std_dev))
        }
        Dist::LogNormal { median, sigma } => {
            format!("log-normal latency (median {}, sigma {sigma})", t(median))
        }
        Dist::Pareto { scale, shape } => format!("pareto latency (scale {}, shape {shape})", t(scale)),
    };
    match clamp {
        Some((min, max)) => format!("{dist} clamped to {}..{}", t(min), t(max)),
        None => dist,
    }
}

/// A name made of `[a-z0-9-]` from `text`, at most `max` long, starting
/// and ending with a letter or digit (`fallback` when nothing is left):
/// what Kubernetes names and URL paths take.
pub(super) fn slug(text: &str, max: usize, fallback: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(max);
    let s = s.trim_matches('-');
    if s.is_empty() {
        fallback.to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_alphanumerics_and_dashes_trimmed() {
        assert_eq!(slug("Dns Empty!", 63, "x"), "dns-empty");
        assert_eq!(slug("--", 63, "x"), "x");
        assert_eq!(slug("abcdef-", 6, "x"), "abcdef");
        assert_eq!(slug("abcde-f", 6, "x"), "abcde");
    }

    #[test]
    fn uniform_latencies_are_exact_others_keep_their_centre() {
        let ms = Duration::from_millis;
        assert_eq!(
            center_and_jitter(Latency::fixed(ms(5))),
            (ms(5), Duration::ZERO, true)
        );
        assert_eq!(
            center_and_jitter(Latency::uniform(ms(10), ms(30))),
            (ms(20), ms(10), true)
        );
        assert_eq!(
            center_and_jitter(Latency::normal(ms(50), ms(5))),
            (ms(50), ms(5), false)
        );
        assert_eq!(
            center_and_jitter(Latency::log_normal(ms(80), 0.5)),
            (ms(80), Duration::ZERO, false)
        );
        let clamped = Latency::fixed(ms(5)).clamp(ms(1), ms(9));
        assert!(!center_and_jitter(clamped).2);
    }
}

//! The documented limits of scenarios, scenario files and rehearsals.
//!
//! Every value is checked against them when a scenario is built or a file
//! is loaded (a [`ScenarioError`](super::ScenarioError) or a
//! [`LoadError`](super::LoadError) naming the field and the value), so that
//! the arithmetic of a rehearsal can never overflow and a hostile or broken
//! file cannot make loading slow. `docs/RELIABILITY.md` lists them with
//! what each produces when exceeded.

use std::time::Duration;

use super::duration::Text;
use super::error::ScenarioError;

/// The longest duration a scenario takes anywhere: a phase's offset
/// (`at`), length (`for`) and end, the timeline (`duration`), flapping
/// spells, request-fault windows, and in files every duration written
/// (latencies, `retry_after`, connection delays…): 365 days. A rehearsal
/// also refuses a [`speed`](super::Rehearsal::speed) that would stretch
/// the timeline beyond it.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{MAX_DURATION, Phase, Scenario};
///
/// let day = Duration::from_secs(86_400);
/// let err = Scenario::builder("s")
///     .phase(Phase::new("p", "db").at(300 * day).lasting(100 * day).down())
///     .build()
///     .unwrap_err();
/// assert_eq!(MAX_DURATION, 365 * day);
/// assert!(err.to_string().starts_with("invalid `phases[0].for` = 100d"), "{err}");
/// ```
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// The most phases a scenario may have: 10 000.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{MAX_PHASES, Phase, Scenario};
///
/// let phases = (0..=MAX_PHASES).map(|i| Phase::new(format!("p{i}"), "db").lasting(Duration::from_secs(1)));
/// let err = Scenario::builder("s").phases(phases).build().unwrap_err();
/// assert!(err.to_string().starts_with("invalid `phases` = 10001 phases"), "{err}");
/// ```
pub const MAX_PHASES: usize = 10_000;

/// The most spells a timeline may have: one per phase, plus one per bad
/// or good spell of a flapping phase: 100 000.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{Flap, MAX_SPELLS, Phase, Scenario};
///
/// let ms = Duration::from_millis(1);
/// let flapping = Phase::new("p", "db").lasting(Duration::from_secs(3_600)).down().flap(Flap::new(ms, ms));
/// let err = Scenario::builder("s").phase(flapping).build().unwrap_err();
/// assert_eq!(MAX_SPELLS, 100_000);
/// assert!(err.to_string().contains("`phases[0].flap`"), "{err}");
/// ```
pub const MAX_SPELLS: usize = 100_000;

/// The most cells a timeline may hold: the timeline is cut into segments
/// at every phase start, end and flapping switch, and a rehearsal keeps,
/// per segment, one row per target and one entry per active phase (the
/// counters and observations of its report). `segments × targets + Σ
/// active phases per segment` may be at most 500 000.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{MAX_TIMELINE_CELLS, Phase, Scenario};
///
/// // 1 000 phases that all overlap, each ending at its own time.
/// let s = Duration::from_secs(1);
/// let phases = (0..1_000u32).map(|i| Phase::new(format!("p{i}"), "db").lasting(s * (i + 1)).down());
/// let err = Scenario::builder("s").phases(phases).build().unwrap_err();
/// assert_eq!(MAX_TIMELINE_CELLS, 500_000);
/// assert!(err.to_string().contains("501500 cells"), "{err}");
/// ```
pub const MAX_TIMELINE_CELLS: usize = 500_000;

/// The largest scenario file (in bytes) that
/// [`Scenario::from_file`](super::Scenario::from_file) and
/// [`Scenario::parse`](super::Scenario::parse) read: 4 MiB.
///
/// ```
/// use tower_chaos::scenario::{Format, MAX_FILE_SIZE, Scenario};
///
/// let big = format!("# {}\n", "x".repeat(MAX_FILE_SIZE));
/// let err = Scenario::parse(&big, Format::Toml).unwrap_err();
/// assert!(err.to_string().contains("larger than 4194304 bytes"), "{err}");
/// ```
#[cfg(feature = "serde")]
pub const MAX_FILE_SIZE: usize = 4 << 20;

/// The deepest nesting of `[`/`{` collections a scenario file may have
/// (checked before parsing, so that no parser spends long on a deeply
/// nested file): 32.
///
/// ```
/// use tower_chaos::scenario::{Format, MAX_FILE_NESTING, Scenario};
///
/// let deep = format!("name: x\nphases: {}", "[".repeat(MAX_FILE_NESTING + 1));
/// let err = Scenario::parse(&deep, Format::Yaml).unwrap_err();
/// assert_eq!((err.line(), err.column()), (Some(2), Some(41)));
/// assert!(err.to_string().contains("nested more than 32 levels deep"), "{err}");
/// ```
#[cfg(feature = "serde")]
pub const MAX_FILE_NESTING: usize = 32;

/// Refuses a duration beyond [`MAX_DURATION`].
pub(crate) fn within_limit(field: &str, d: Duration) -> Result<(), ScenarioError> {
    if d > MAX_DURATION {
        return Err(ScenarioError::invalid(
            field,
            Text(d),
            format!("must be at most {} (MAX_DURATION)", Text(MAX_DURATION)),
        ));
    }
    Ok(())
}

//! Outage scenarios: timelines of phases over named targets, rehearsed on
//! tokio's clock, with a report and a verdict (feature `scenario`; files
//! with `serde`).
//!
//! A [`Scenario`] says what happens when: at offset T, for duration D,
//! target X is down, slow, or has some [`Faults`]. Phases overlap, ramp
//! ([`Phase::ramp`]) and flap ([`Phase::flap`]). A [`Rehearsal`] drives the
//! scenario's targets on tokio's clock — a 14-hour outage replays in
//! milliseconds under `#[tokio::test(start_paused = true)]`, or compressed
//! by a speed factor in real time — while the application's own client
//! runs against them, observed by a [`Probe`]. The [`RehearsalReport`]
//! tells, per target and per phase, what the provider saw and injected and
//! what the caller observed, and checks verdicts such as
//! [`assert_recovered_within`](RehearsalReport::assert_recovered_within).
//!
//! With the `serde` feature, scenarios load from TOML, YAML and JSON files
//! ([`Scenario::from_file`]); the schema and how presets map onto the
//! engine are in `docs/SCENARIOS.md`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
//! use tower_chaos::scenario::{Phase, Rehearsal, RequestFault, Scenario};
//! use tower_chaos::{ChaosLayer, Latency, Target};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), BoxError> {
//! let min = Duration::from_secs(60);
//! let scenario = Scenario::builder("dynamodb-outage")
//!     .phase(Phase::new("outage", "dynamodb").at(10 * min).lasting(3 * 60 * min).down())
//!     .phase(
//!         Phase::new("slow-recovery", "dynamodb")
//!             .at(190 * min)
//!             .lasting(30 * min)
//!             .slow(Latency::fixed(Duration::from_millis(400)))
//!             .request(RequestFault::error())
//!             .ramp(0.5, 0.0),
//!     )
//!     .duration(4 * 60 * min)
//!     .build()?;
//!
//! let dynamodb = Target::builder("dynamodb").seed(42).build()?;
//! let rehearsal = Rehearsal::new(&scenario).bind::<u64, BoxError>(&dynamodb);
//! let probe = rehearsal.probe("dynamodb")?;
//! let run = tokio::spawn(rehearsal.run());
//!
//! // The application: one call every 10 s, through the probe and the chaos layer.
//! let mut client = ServiceBuilder::new()
//!     .layer(probe.layer())
//!     .timeout(Duration::from_secs(2))
//!     .layer(ChaosLayer::for_target(&dynamodb))
//!     .service(service_fn(|id: u64| async move { Ok::<_, BoxError>(id) }));
//! for id in 0..(4 * 60 * 6) {
//!     let _ = client.ready().await?.call(id).await;
//!     tokio::time::sleep(Duration::from_secs(10)).await;
//! }
//!
//! let report = run.await??;
//! println!("{report}");
//! assert_eq!(report.phase("outage").unwrap().caller.ok, 0);
//! report.assert_recovered_within("dynamodb", Duration::from_secs(10))?;
//! report.assert_calls_while_down_at_most("dynamodb", 1_080)?;
//! # Ok(()) }
//! ```

mod conditions;
#[cfg(all(feature = "io", any(feature = "serde", feature = "http")))]
mod conn_spec;
mod cx;
mod duration;
mod error;
#[cfg(feature = "serde")]
pub mod export;
mod faults;
#[cfg(feature = "serde")]
mod file;
mod histogram;
#[cfg(all(feature = "http", any(feature = "serde", feature = "io")))]
mod http_spec;
mod limits;
#[cfg(any(
    all(feature = "serde", any(feature = "http", feature = "io")),
    all(feature = "http", feature = "io")
))]
mod parameters;
mod phase;
#[cfg(all(feature = "http", feature = "io"))]
pub mod presets;
mod probe;
mod report;
mod runner;
mod timeline;
mod verdict;

pub use duration::{DurationError, format_duration, parse_duration};
pub use error::ScenarioError;
pub use faults::{Faults, RequestFault};
#[cfg(feature = "serde")]
pub use file::{Format, LoadError, WriteError};
pub use limits::{MAX_DURATION, MAX_PHASES, MAX_SPELLS, MAX_TIMELINE_CELLS};
#[cfg(feature = "serde")]
pub use limits::{MAX_FILE_NESTING, MAX_FILE_SIZE};
pub use phase::{Flap, Phase};
pub use probe::{Classify, DefaultClassify, Probe, ProbeFuture, ProbeLayer, Probed};
pub use report::{Observed, Percentiles, PhaseSummary, ProviderCounts, RehearsalReport, Row, TargetSummary};
pub use runner::{ActivePhase, Rehearsal, RehearsalHandle, Status};
pub use timeline::{Scenario, ScenarioBuilder, Spell};
pub use verdict::VerdictError;

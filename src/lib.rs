#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod armed;
mod cold_box;
mod error;
#[cfg(feature = "explore")]
#[cfg_attr(docsrs, doc(cfg(feature = "explore")))]
pub mod explore;
mod fault;
mod handle;
#[cfg(feature = "io")]
#[cfg_attr(docsrs, doc(cfg(feature = "io")))]
pub mod io;
mod kind;
mod latency;
mod macros;
pub mod prelude;
mod report;
mod rng;
mod rule;
#[cfg(feature = "scenario")]
#[cfg_attr(docsrs, doc(cfg(feature = "scenario")))]
pub mod scenario;
mod screen;
mod seed;
mod switch;
mod target;
pub mod telemetry;
#[cfg(any(feature = "io", feature = "http"))]
mod throttle;
mod trigger;

pub use error::{ConfigError, InjectedError};
pub use fault::{Chaos, ChaosLayer, ChaosLayerBuilder, Fault, FromInjected, MatchesError, ResponseFuture};
pub use handle::FaultHandle;
pub use kind::FaultKind;
pub use latency::Latency;
pub use report::{Event, ExpectedRule, NotFired, Report, UnreadFaultSet};
pub use rule::{FaultAction, FaultSet, MAX_RULES, Rule};
pub use seed::SeedSource;
pub use target::{Target, TargetBuilder};
pub use trigger::{Capacity, MAX_TRIGGER_DEPTH, Trigger};

/// The boxed error type tower uses (`tower::BoxError`): the default error
/// type of request-level faults, and the error type of the HTTP layer's
/// response body (`http::ChaosBody`: the inner body's error, boxed, or an
/// `http::BodyFaultError` for an injected failure; downcast to tell them
/// apart).
///
/// ```
/// use tower_chaos::{BoxError, InjectedError};
/// let real: BoxError = "disk on fire".into();
/// assert!(real.downcast_ref::<InjectedError>().is_none());
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

/// The environment variable read for a seed when none is set in code
/// (decimal, or hex with `0x`).
pub const SEED_ENV: &str = "TOWER_CHAOS_SEED";

// The guides in `docs/`, run as doctests, each under the features its
// examples need (`docs/IO.md` is included by `io`). Blocks that are not
// Rust are marked (`toml`, `sh`, `text`); `tests/scenario/guides.rs` checks the
// TOML ones.

/// `docs/REHEARSE.md`'s examples, run as doctests.
#[cfg(all(doctest, feature = "http", feature = "io", feature = "scenario"))]
#[doc = include_str!("../docs/REHEARSE.md")]
struct RehearseGuide;

/// `docs/SCENARIOS.md`'s examples, run as doctests (its first loads a
/// scenario file: feature `serde`).
#[cfg(all(doctest, feature = "serde"))]
#[doc = include_str!("../docs/SCENARIOS.md")]
struct ScenariosGuide;

/// `docs/HTTP.md`'s examples, run as doctests.
#[cfg(all(doctest, feature = "http"))]
#[doc = include_str!("../docs/HTTP.md")]
struct HttpGuide;

/// `docs/BENCHMARKS.md`'s examples, run as doctests (its commands are
/// `sh` blocks; a Rust block added there runs).
#[cfg(doctest)]
#[doc = include_str!("../docs/BENCHMARKS.md")]
struct BenchmarksGuide;

/// `docs/EXPORTS.md`'s examples, run as doctests (its example exports a
/// preset: features `serde`, `http` and `io`).
#[cfg(all(doctest, feature = "serde", feature = "http", feature = "io"))]
#[doc = include_str!("../docs/EXPORTS.md")]
struct ExportsGuide;

/// `docs/EXPLORE.md`'s examples, run as doctests.
#[cfg(all(doctest, feature = "explore"))]
#[doc = include_str!("../docs/EXPLORE.md")]
struct ExploreGuide;

/// `docs/PEERS.md`'s examples, run as doctests.
#[cfg(all(doctest, feature = "http", feature = "io", feature = "scenario"))]
#[doc = include_str!("../docs/PEERS.md")]
struct PeersGuide;

/// `docs/SERVER.md`'s examples, run as doctests (its commands and JSON are
/// `sh` and `json` blocks; the server is the `tower-chaos-cli` package).
#[cfg(doctest)]
#[doc = include_str!("../docs/SERVER.md")]
struct ServerGuide;

/// `docs/RELIABILITY.md`'s examples, run as doctests (its commands are
/// `sh` blocks; a Rust block added there runs).
#[cfg(doctest)]
#[doc = include_str!("../docs/RELIABILITY.md")]
struct ReliabilityGuide;

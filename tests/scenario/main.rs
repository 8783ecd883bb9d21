//! Outage scenarios: timelines, rehearsals, presets, scenario files in
//! three formats and the guides' checks, in one test binary
//! (`required-features = ["scenario"]`). Each former test file is a module,
//! gated on the features it needs; `support` is the helper module every
//! test binary shares.

#[path = "../support/mod.rs"]
mod support;

#[cfg(all(feature = "http", feature = "io", feature = "serde"))]
mod fuzz_scenario_files;
#[cfg(all(feature = "http", feature = "io", feature = "serde"))]
mod guides;
#[cfg(all(feature = "http", feature = "io"))]
mod presets;
#[cfg(all(feature = "http", feature = "io", feature = "serde"))]
mod rehearsal;
// `scenario` calls `Rehearsal::bind_http` (it did not build with
// `--features scenario` alone as its own binary either).
#[cfg(all(feature = "http", feature = "io", feature = "serde"))]
mod exports;
#[cfg(feature = "http")]
mod scenario;
#[cfg(all(feature = "io", feature = "serde"))]
mod scenario_connection_files;
#[cfg(all(feature = "http", feature = "io"))]
mod scenario_dns;
mod scenario_expect;
#[cfg(feature = "serde")]
mod scenario_files;
#[cfg(all(feature = "http", feature = "serde"))]
mod scenario_http_files;
mod scenario_limits;
#[cfg(all(feature = "http", feature = "io", feature = "serde"))]
mod scenario_roundtrip;
#[cfg(all(feature = "http", feature = "tls"))]
mod scenario_tls;

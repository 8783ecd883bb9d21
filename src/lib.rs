//! Chaos engineering for tower services in ordinary tests.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
#[cfg(feature = "io")]
#[cfg_attr(docsrs, doc(cfg(feature = "io")))]
pub mod io;

pub use error::ConfigError;

/// The environment variable read for a seed when none is set in code.
pub const SEED_ENV: &str = "TOWER_CHAOS_SEED";

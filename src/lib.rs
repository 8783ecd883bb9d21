//! Chaos engineering for tower services in ordinary tests.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;

pub use error::ConfigError;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

/// The environment variable read for a seed when none is set in code.
pub const SEED_ENV: &str = "TOWER_CHAOS_SEED";

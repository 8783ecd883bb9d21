//! Where a target's seed comes from.

use std::fmt;

use crate::{ConfigError, SEED_ENV};

/// Where a target's seed came from, reported so a failing run can be
/// replayed: set the same seed with [`TargetBuilder::seed`] or the
/// [`SEED_ENV`] environment variable.
///
/// [`TargetBuilder::seed`]: crate::TargetBuilder::seed
///
/// ```
/// use tower_chaos::{SeedSource, Target};
///
/// let target = Target::builder("db").seed(7).build()?;
/// assert_eq!(target.seed_source(), SeedSource::Builder);
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum SeedSource {
    /// Set in code with `.seed(..)`.
    Builder,
    /// Read from the [`SEED_ENV`] environment variable.
    Env,
    /// Picked at random by the crate (and announced through `tracing`).
    Random,
}

impl fmt::Display for SeedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Builder => "set in code",
            Self::Env => SEED_ENV,
            Self::Random => "picked at random",
        })
    }
}

/// A seed and where it came from, as a report prints it: with how to
/// replay it when it was not set in code.
pub(crate) struct Replay(pub(crate) u64, pub(crate) SeedSource);

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self(seed, source) = self;
        match source {
            SeedSource::Builder => write!(f, "seed {seed}"),
            SeedSource::Env => write!(f, "seed {seed} from {SEED_ENV}"),
            SeedSource::Random => {
                write!(f, "seed {seed}, picked at random: replay with {SEED_ENV}={seed}")
            }
        }
    }
}

/// Resolves the seed: code first (a test that pins a seed asserts exact
/// outcomes, so an ambient variable must not change them), then the
/// environment, then a random pick.
pub(crate) fn resolve(explicit: Option<u64>) -> Result<(u64, SeedSource), ConfigError> {
    if let Some(seed) = explicit {
        return Ok((seed, SeedSource::Builder));
    }
    match std::env::var(SEED_ENV) {
        Ok(text) => parse(&text).map(|seed| (seed, SeedSource::Env)),
        Err(std::env::VarError::NotPresent) => Ok((random_seed(), SeedSource::Random)),
        Err(std::env::VarError::NotUnicode(raw)) => Err(ConfigError::SeedFromEnv {
            variable: SEED_ENV,
            value: raw.to_string_lossy().into_owned(),
        }),
    }
}

/// A fresh seed from the OS-seeded keys of `std`'s `RandomState` and the
/// wall clock. A seed needs no cryptographic quality, and this spares every
/// user `rand`'s `thread_rng` feature (ChaCha and `getrandom`).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(since.as_nanos());
    }
    h.finish()
}

fn parse(text: &str) -> Result<u64, ConfigError> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| ConfigError::SeedFromEnv {
        variable: SEED_ENV,
        value: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_and_hex() {
        assert_eq!(parse("42").unwrap(), 42);
        assert_eq!(parse(" 0x2a ").unwrap(), 42);
        let err = parse("forty-two").unwrap_err().to_string();
        assert!(
            err.contains("TOWER_CHAOS_SEED") && err.contains("forty-two"),
            "{err}"
        );
    }

    #[test]
    fn a_seed_not_set_in_code_says_how_to_replay_it() {
        assert_eq!(Replay(7, SeedSource::Builder).to_string(), "seed 7");
        assert_eq!(
            Replay(7, SeedSource::Env).to_string(),
            "seed 7 from TOWER_CHAOS_SEED"
        );
        assert_eq!(
            Replay(7, SeedSource::Random).to_string(),
            "seed 7, picked at random: replay with TOWER_CHAOS_SEED=7"
        );
    }

    #[test]
    fn explicit_seed_wins() {
        assert_eq!(resolve(Some(5)).unwrap(), (5, SeedSource::Builder));
    }
}

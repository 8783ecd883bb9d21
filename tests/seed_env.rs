//! The seed from `TOWER_CHAOS_SEED`, and the one picked when there is none.
//! One test in its own binary: it changes the process environment.

use tower_chaos::{ConfigError, SeedSource, Target};

#[test]
#[allow(unsafe_code)] // set_var is unsafe: no other thread runs in this binary
fn seed_comes_from_code_then_env_then_random() {
    // SAFETY: this binary has a single test; nothing reads the environment
    // concurrently.
    unsafe { std::env::remove_var("TOWER_CHAOS_SEED") };
    let random = Target::new("r").unwrap();
    assert_eq!(random.seed_source(), SeedSource::Random);
    assert!(
        random
            .report()
            .to_string()
            .contains(&format!("seed {}, picked at random", random.seed()))
    );

    unsafe { std::env::set_var("TOWER_CHAOS_SEED", "0x10") };
    let from_env = Target::new("e").unwrap();
    assert_eq!((from_env.seed(), from_env.seed_source()), (16, SeedSource::Env));
    let pinned = Target::builder("p").seed(3).build().unwrap();
    assert_eq!((pinned.seed(), pinned.seed_source()), (3, SeedSource::Builder));

    unsafe { std::env::set_var("TOWER_CHAOS_SEED", "not-a-number") };
    let err = Target::new("bad").unwrap_err();
    assert!(matches!(err, ConfigError::SeedFromEnv { ref value, .. } if value == "not-a-number"));
    unsafe { std::env::remove_var("TOWER_CHAOS_SEED") };
}

//! Fault-space exploration (`tower_chaos::explore`, feature `explore`):
//! a small in-process shop (tower `service_fn`s behind `ChaosLayer`s, no
//! sockets) with seeded resilience bugs that the explorer must find, each
//! with its minimal fault set, and a fixed version it must report clean.
//!
//! The explorer builds a paused-time runtime per run, so these are plain
//! `#[test]`s.

// The example's shop: one app for the example, these tests and the bench.
#[allow(unreachable_pub, dead_code)] // its `main` is the example's
#[path = "../../examples/explore.rs"]
mod shop;

mod request;

#[cfg(feature = "axum")]
mod axum_app;
#[cfg(feature = "io")]
mod connect;
#[cfg(feature = "http")]
mod http;
#[cfg(all(feature = "hyper", feature = "axum"))]
mod mem;

/// The minimal failing fault sets, written as in replay lines (no seed);
/// each must be known minimal.
fn failing(outcome: &tower_chaos::explore::Exploration) -> Vec<String> {
    outcome
        .failures
        .iter()
        .map(|f| {
            assert!(f.minimal, "{f}");
            f.replay.split_once("; ").unwrap().1.to_owned()
        })
        .collect()
}

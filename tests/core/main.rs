//! Request-level chaos (`ChaosLayer`, faults, triggers, control, retries)
//! in one test binary. Each former test file is a module; `support` is the
//! helper module every test binary shares.
//!
//! Kept out of this binary, each in its own: `seed_env` (sets the process
//! environment), `tracing` (installs a global subscriber and relies on
//! tracing's process-wide callsite cache) and `alloc` (a counting global
//! allocator).

#[path = "../support/mod.rs"]
mod support;

mod control;
mod determinism;
mod faults;
mod fuzz_builders;
mod readiness;
mod retry_timeout;
mod silent;
mod soak;
mod triggers;

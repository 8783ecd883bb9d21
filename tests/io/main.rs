//! Connection-level chaos (`ChaosStream`, `ChaosListener`, the proxy,
//! connect faults) with real TCP, axum, hyper, reqwest and redis peers on
//! loopback, in one test binary (`required-features = ["io"]`). Each former
//! test file is a module; `support` is the helper module every test binary
//! shares.
//!
//! `io_proxy::accept_backs_off_when_descriptors_run_out` re-runs this binary
//! under `ulimit -n 64` with an exact filter built from its module path, so
//! it keeps working here.

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "axum")]
mod io_axum;
#[cfg(feature = "hyper")]
mod io_connector;
mod io_listener;
#[cfg(all(feature = "hyper", feature = "axum"))]
mod io_mem;
mod io_props;
mod io_proxy;
mod io_reqwest;
mod io_stream;
#[cfg(feature = "tls")]
mod io_tls;

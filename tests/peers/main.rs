//! Expectations ported from peers' public tests (Envoy's fault filter,
//! Polly's chaos strategies, toxiproxy's proxy and toxics), in one test
//! binary. Each peer file is a module, gated on the features it needs;
//! `support` is the helper module every test binary shares.

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "http")]
mod envoy;
mod polly;
#[cfg(feature = "io")]
mod toxiproxy_proxy;
#[cfg(feature = "io")]
mod toxiproxy_toxics;

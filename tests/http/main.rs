//! HTTP and gRPC chaos (`HttpChaosLayer`, statuses, bodies, drops, targets)
//! against real axum, hyper, reqwest and tonic peers on loopback, in one
//! test binary (`required-features = ["http"]`). Each former test file is a
//! module; `support` is the helper module every test binary shares.

#[path = "../support/mod.rs"]
mod support;

mod grpc;
mod http_body;
mod http_client;
mod http_drop;
mod http_reqwest_mw;
mod http_status;
mod http_target;

//! Helpers shared by the integration tests, one module for every test
//! binary: a counting echo service and a one-shot poll for the
//! request-level tests; loopback servers, clients and error formatting for
//! the HTTP ones (`http`, `grpc`); TCP pairs, an echo server and an axum app
//! for the connection ones (`io`); scenario-file loading (`scenario`); the
//! preset replay client (`replay`); the counting allocator (`alloc_counter`);
//! rustls errors and connections for the TLS ones (`tls`).
#![allow(dead_code, unreachable_pub)]

pub mod alloc_counter;
pub mod io;
#[cfg(all(feature = "scenario", feature = "http", feature = "io"))]
pub mod replay;
#[cfg(feature = "serde")]
pub mod scenario;
#[cfg(feature = "tls")]
pub mod tls;

#[cfg(feature = "http")]
pub mod grpc;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
#[allow(unused_imports)] // not every test binary uses every helper
pub use http::*;

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use tower::{BoxError, Service, ServiceExt};

/// An echo service that counts how often it was really called.
#[derive(Clone, Debug, Default)]
pub struct Counted {
    pub calls: Arc<AtomicUsize>,
}

impl Counted {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<u32> for Counted {
    type Response = u32;
    type Error = BoxError;
    type Future = Ready<Result<u32, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ready(Ok(req))
    }
}

/// Calls `svc` once with `req` (ready, then call).
pub async fn call<S, R>(svc: &mut S, req: R) -> Result<S::Response, S::Error>
where
    S: Service<R>,
{
    svc.ready().await?.call(req).await
}

/// Which of `reqs` failed, calling them one after another.
pub async fn failures<S>(svc: &mut S, reqs: impl IntoIterator<Item = u32>) -> Vec<u32>
where
    S: Service<u32, Response = u32, Error = BoxError>,
{
    let mut failed = Vec::new();
    for r in reqs {
        if call(svc, r).await.is_err() {
            failed.push(r);
        }
    }
    failed
}

/// Polls `future` once with a no-op waker, without waiting: `None` if it is
/// pending.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    match Pin::new(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

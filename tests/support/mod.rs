//! Helpers shared by the integration tests, one module for every test
//! binary: a counting echo service, a counting upstream, `u32` layers, a
//! one-shot poll and report and text checks for the request-level tests;
//! loopback servers, clients, the counted `/items` app and error
//! formatting for the HTTP ones (`http`, `grpc`); TCP pairs, loopback
//! servers and an axum app for the connection ones (`io`); scenario-file
//! loading and bad-table checks (`scenario`); the preset replay client
//! (`replay`); the counting allocator (`alloc_counter`); rustls errors
//! and connections for the TLS ones (`tls`).
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
use tower_chaos::{ChaosLayer, Fault, Rule};

/// An echo service (of any request type) that counts how often it was
/// really called.
#[derive(Clone, Debug, Default)]
pub struct Counted {
    pub calls: Arc<AtomicUsize>,
}

impl Counted {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl<T> Service<T> for Counted {
    type Response = T;
    type Error = BoxError;
    type Future = Ready<Result<T, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: T) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ready(Ok(req))
    }
}

/// An upstream that answers every request with `answer()` and counts how
/// often it was really called (whether a fault skipped the inner call).
/// Its services share the count.
#[derive(Clone, Debug)]
pub struct Upstream<R> {
    calls: Arc<AtomicUsize>,
    answer: fn() -> R,
}

impl<R: Send + 'static> Upstream<R> {
    pub fn answering(answer: fn() -> R) -> Self {
        Self {
            calls: Arc::default(),
            answer,
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// A service that counts its calls here and answers `answer()`.
    pub fn service<Req>(
        &self,
    ) -> impl Service<Req, Response = R, Error = BoxError, Future: Send> + Clone + Send + use<Req, R> {
        let (calls, answer) = (self.calls.clone(), self.answer);
        tower::service_fn(move |_: Req| {
            calls.fetch_add(1, Ordering::SeqCst);
            ready(Ok(answer()))
        })
    }
}

/// A `u32` request-level layer on a new target `name`, seeded with `seed`,
/// with `rules`.
pub fn u32_layer<const N: usize>(
    name: &str,
    seed: u64,
    rules: [Rule<Fault<u32>, u32>; N],
) -> ChaosLayer<u32> {
    rules
        .into_iter()
        .fold(ChaosLayer::builder(name).seed(seed), |b, rule| b.fault(rule))
        .build()
        .unwrap()
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

/// A report's `(seen, passed, faulted)`.
pub fn seen_passed_faulted(report: &tower_chaos::Report) -> (u64, u64, u64) {
    (report.seen, report.passed, report.faulted)
}

/// The labels of `target`'s rows in a rehearsal report.
#[cfg(feature = "scenario")]
pub fn row_labels<'a>(report: &'a tower_chaos::scenario::RehearsalReport, target: &str) -> Vec<&'a str> {
    let rows = &report.target(target).expect("target in the report").rows;
    rows.iter().map(|r| r.label.as_str()).collect()
}

/// Asserts that `text` contains each of `parts`, printing `text` if not.
#[track_caller]
pub fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} missing from:\n{text}");
    }
}

/// Polls `future` once with a no-op waker, without waiting: `None` if it is
/// pending.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    match Pin::new(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

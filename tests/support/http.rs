//! Loopback servers, clients and error formatting for the HTTP tests.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Serves `router` on 127.0.0.1 (HTTP/1 and HTTP/2 prior knowledge) in the
/// current runtime, so a paused clock stays consistent.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

pub fn reqwest_h1() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .build()
        .unwrap()
}

pub fn reqwest_h2() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .unwrap()
}

pub type HyperClient = Client<HttpConnector, Full<Bytes>>;

pub fn hyper_h1() -> HyperClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn hyper_h2() -> HyperClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// An axum handler that counts its calls in `hits` and answers `reply`.
pub fn counting(
    hits: &Arc<AtomicUsize>,
    reply: &'static str,
) -> impl FnOnce() -> std::future::Ready<&'static str> + Clone + Send + Sync + 'static {
    let hits = hits.clone();
    move || {
        hits.fetch_add(1, Ordering::SeqCst);
        std::future::ready(reply)
    }
}

/// `/items/{id}` answers GET ("item") and PUT ("stored") with 200 and
/// counts the calls that reached it in `hits`.
pub fn items(hits: &Arc<AtomicUsize>) -> axum::Router {
    axum::Router::new().route(
        "/items/{id}",
        axum::routing::get(counting(hits, "item")).put(counting(hits, "stored")),
    )
}

/// The error and its sources, joined with ": ".
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Whether `err` or one of its sources is a `T`.
pub fn has_source<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// A body of `n` chunks of `size` bytes each, with no size hint, so HTTP/1
/// sends it chunked and HTTP/2 without `content-length`.
#[derive(Debug)]
pub struct Chunked {
    left: usize,
    size: usize,
}

impl Chunked {
    pub fn new(chunks: usize, size: usize) -> Self {
        Self { left: chunks, size }
    }
}

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; self.size])))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A layer on a new target named `name` (seed 1) with one rule.
pub fn chaos(name: &str, rule: impl Into<tower_chaos::http::HttpRule>) -> tower_chaos::http::HttpChaosLayer {
    tower_chaos::http::HttpChaosLayer::builder(name)
        .seed(1)
        .fault(rule)
        .build()
        .unwrap()
}

/// A layer on a new target named `name` (seed 1) with no faults.
pub fn quiet(name: &str) -> tower_chaos::http::HttpChaosLayer {
    tower_chaos::http::HttpChaosLayer::builder(name)
        .seed(1)
        .build()
        .unwrap()
}

//! Client-side use: the layer around hyper-util's legacy client, with the
//! user's own tower retry policy riding out 503s and 429s.

use crate::support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use support::{chaos, counting, hyper_h1, serve};
use tower::retry::{Policy, RetryLayer};
use tower::{ServiceBuilder, ServiceExt};
use tower_chaos::http::{RetryAfter, SyntheticResponse};
use tower_chaos::{FaultKind, Trigger};

/// Retries 503 and 429 up to `left` times, waiting `Retry-After` seconds
/// when the response says so.
#[derive(Clone, Debug)]
struct RetryOverload {
    left: usize,
}

impl<ResB, E> Policy<Request<Full<Bytes>>, Response<ResB>, E> for RetryOverload {
    type Future = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn retry(
        &mut self,
        _request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<ResB>, E>,
    ) -> Option<Self::Future> {
        let response = result.as_ref().ok()?;
        let overloaded = matches!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        );
        if !overloaded || self.left == 0 {
            return None;
        }
        self.left -= 1;
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map_or(Duration::from_millis(100), Duration::from_secs);
        Some(Box::pin(tokio::time::sleep(wait)))
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut clone = Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.headers_mut() = request.headers().clone();
        Some(clone)
    }
}

async fn upstream() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route("/", get(counting(&hits, "ok")));
    (format!("http://{}/", serve(router).await), hits)
}

#[tokio::test(start_paused = true)]
async fn retries_ride_out_429s_with_retry_after() {
    let (url, hits) = upstream().await;
    let chaos = chaos(
        "upstream",
        SyntheticResponse::too_many_requests(RetryAfter::Seconds(3)).when(Trigger::first(2)),
    );
    let target = chaos.target().clone();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryOverload { left: 3 }))
        .layer(chaos)
        .service(hyper_h1());

    let start = tokio::time::Instant::now();
    let request = Request::get(url.as_str()).body(Full::default()).unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ok");
    assert!(
        start.elapsed() >= Duration::from_secs(6),
        "two Retry-After waits: {:?}",
        start.elapsed()
    );
    let report = target.report();
    assert_eq!(report.injected(FaultKind::Status), 2);
    assert_eq!((report.seen, report.passed), (3, 1));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "only the last attempt reached the server"
    );
}

#[tokio::test]
async fn retries_give_up_on_a_hard_503_outage() {
    let (url, hits) = upstream().await;
    let chaos = chaos("upstream", SyntheticResponse::service_unavailable());
    let target = chaos.target().clone();
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryOverload { left: 2 }))
        .layer(chaos)
        .service(hyper_h1());
    let request = Request::get(url.as_str()).body(Full::default()).unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(target.report().seen, 3, "one try and two retries");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

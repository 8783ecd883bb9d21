//! `ChaosMiddleware`: a target's HTTP faults on a reqwest client's
//! requests, against a real axum server on loopback, with
//! `reqwest-retry`'s `RetryTransientMiddleware` where retries matter.
#![cfg(feature = "reqwest-middleware")]

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::{Jitter, RetryTransientMiddleware};
use support::{chain, reqwest_h1, serve};
use tokio::time::Instant;
use tower_chaos::http::{
    BodyFault, ChaosMiddleware, ClientFaultError, ClientFaultErrorKind, HttpFault, HttpFaultSet, Injected,
    RetryAfter, SyntheticResponse,
};
use tower_chaos::{FaultKind, Target, Trigger};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The times (on tokio's clock) the server's handlers ran.
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<Instant>>>);

impl Hits {
    fn record(&self) {
        self.0.lock().unwrap().push(Instant::now());
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// When each handler ran, from `start`.
    fn since(&self, start: Instant) -> Vec<Duration> {
        self.0.lock().unwrap().iter().map(|t| *t - start).collect()
    }
}

/// An axum app on loopback: `/` says hello, `/slow` answers after 5 s,
/// any other path echoes its method, path and `x-tenant` header; its hits,
/// and its base URL.
async fn server() -> (Hits, String) {
    let hits = Hits::default();
    let (fast, slow, echo) = (hits.clone(), hits.clone(), hits.clone());
    let router = Router::new()
        .route(
            "/",
            get(move || async move {
                fast.record();
                "hello"
            }),
        )
        .route(
            "/slow",
            get(move || async move {
                slow.record();
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .fallback(move |req: axum::extract::Request| async move {
            echo.record();
            let tenant = req
                .headers()
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            format!("{} {} {tenant}", req.method(), req.uri().path())
        });
    (hits, format!("http://{}", serve(router).await))
}

/// A target named `api` (seed 1) with `faults`.
fn target(faults: HttpFaultSet) -> Target {
    let target = Target::builder("api").seed(1).build().unwrap();
    target.set_faults(faults).unwrap();
    target
}

/// Exponential backoff without jitter: 1 s, 2 s, 4 s… between attempts,
/// at most `retries` retries.
fn backoff(retries: u32) -> RetryTransientMiddleware<ExponentialBackoff> {
    RetryTransientMiddleware::new_with_policy(
        ExponentialBackoff::builder()
            .retry_bounds(Duration::from_secs(1), Duration::from_secs(60))
            .jitter(Jitter::None)
            .build_with_max_retries(retries),
    )
}

/// reqwest (HTTP/1) → retries → chaos on `target`.
fn retrying_client(target: &Target, retries: u32) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest_h1())
        .with(backoff(retries))
        .with(ChaosMiddleware::for_target(target))
        .build()
}

/// reqwest (HTTP/1) → chaos on `target`, no retries.
fn client(target: &Target) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest_h1())
        .with(ChaosMiddleware::for_target(target))
        .build()
}

/// `GET url` with a request timeout of `timeout`, which fails: the error,
/// and how long after the call it came.
async fn fails_within(
    client: &ClientWithMiddleware,
    url: String,
    timeout: Duration,
) -> (reqwest_middleware::Error, Duration) {
    let start = Instant::now();
    let err = client.get(url).timeout(timeout).send().await.unwrap_err();
    (err, start.elapsed())
}

/// The kind of the `Injected` marker `response` carries, if any.
fn marked(response: &reqwest::Response) -> Option<FaultKind> {
    response.extensions().get::<Injected>().map(Injected::kind)
}

/// The injected error in `err` (a `reqwest_middleware::Error`).
fn injected(err: &reqwest_middleware::Error) -> ClientFaultErrorKind {
    ClientFaultError::find(err)
        .unwrap_or_else(|| panic!("not injected: {}", chain(err)))
        .kind()
}

#[tokio::test(start_paused = true)]
async fn retried_503s_then_the_real_answer() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let target =
        target(HttpFaultSet::new().with(SyntheticResponse::service_unavailable().when(Trigger::first(3))));
    let client = retrying_client(&target, 5);

    let start = Instant::now();
    let response = client.get(format!("{base}/")).send().await?;
    assert_eq!(response.status(), 200);
    assert_eq!(marked(&response), None, "the real answer");
    assert_eq!(response.text().await?, "hello");

    // Three 503s, retried after 1 s, 2 s and 4 s: the server saw one
    // request, 7 s after the first attempt.
    assert_eq!(hits.since(start), [Duration::from_secs(7)]);
    let report = target.report();
    assert_eq!((report.seen, report.passed, report.faulted), (4, 1, 3));
    assert_eq!(report.injected(FaultKind::Status), 3);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_outage_longer_than_the_retries_gives_the_caller_the_last_503() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let target = target(HttpFaultSet::new().with(SyntheticResponse::s3_slow_down()));
    let client = retrying_client(&target, 2);

    let response = client.get(format!("{base}/")).send().await?;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/xml");
    let marker = response.extensions().get::<Injected>().cloned().expect("marked");
    assert_eq!((marker.kind(), marker.target()), (FaultKind::Status, "api"));
    assert!(response.text().await?.contains("<Code>SlowDown</Code>"));

    assert_eq!(hits.count(), 0);
    let report = target.report();
    assert_eq!((report.seen, report.faulted), (3, 3), "one call and two retries");
    Ok(())
}

/// `reqwest-retry` 0.9 does not read `Retry-After`: it waits its own
/// backoff (`RetryTransientMiddleware::execute_with_retry` asks only the
/// policy), so a `429` asking for 30 s is retried after 1 s.
#[tokio::test(start_paused = true)]
async fn reqwest_retry_ignores_retry_after_and_waits_its_backoff() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let target = target(
        HttpFaultSet::new()
            .with(SyntheticResponse::too_many_requests(RetryAfter::Seconds(30)).when(Trigger::first(1))),
    );
    let client = retrying_client(&target, 3);

    let start = Instant::now();
    let response = client.get(format!("{base}/")).send().await?;
    assert_eq!(response.status(), 200);
    assert_eq!(hits.since(start), [Duration::from_secs(1)], "not 30 s");
    assert_eq!(target.report().injected(FaultKind::Status), 1);
    Ok(())
}

/// An AWS `ThrottlingException` is a `400`: `reqwest-retry` treats a client
/// error other than 408 and 429 as fatal and hands it to the caller.
#[tokio::test(start_paused = true)]
async fn an_aws_throttling_400_is_not_retried() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let target =
        target(HttpFaultSet::new().with(SyntheticResponse::aws_throttling().when(Trigger::first(1))));
    let client = retrying_client(&target, 3);

    let response = client.get(format!("{base}/")).send().await?;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-amzn-errortype"], "ThrottlingException");
    assert_eq!(
        response.text().await?,
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#
    );
    assert_eq!(hits.count(), 0);
    assert_eq!(target.report().seen, 1);
    Ok(())
}

/// A dropped connection injected in the client is a middleware error,
/// which `reqwest-retry` classifies as fatal: no retry, no request sent.
/// The same fault on the server is retried (hyper's "connection closed
/// before message completed" is transient to `reqwest-retry`).
#[tokio::test(start_paused = true)]
async fn an_injected_drop_is_fatal_to_reqwest_retry_unlike_a_server_side_one() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let target = target(HttpFaultSet::new().with(HttpFault::DropConnection.when(Trigger::first(1))));
    let client = retrying_client(&target, 3);

    let err = client.get(format!("{base}/")).send().await.unwrap_err();
    assert!(
        err.is_middleware() && !err.is_request() && !err.is_connect(),
        "{}",
        chain(&err)
    );
    assert_eq!(injected(&err), ClientFaultErrorKind::ConnectionDropped);
    assert_eq!(
        ClientFaultError::find(&err).map(ClientFaultError::fault_kind),
        Some(FaultKind::DropConnection)
    );
    assert_eq!(hits.count(), 0);
    let report = target.report();
    assert_eq!(
        (report.seen, report.injected(FaultKind::DropConnection)),
        (1, 1),
        "not retried"
    );

    // The same rule in the server's layer: retried, and answered.
    let server_hits = Hits::default();
    let recorded = server_hits.clone();
    let layer = support::chaos("server", HttpFault::DropConnection.when(Trigger::first(1)));
    let server_target = layer.target().clone();
    let router = Router::new()
        .route(
            "/",
            get(move || async move {
                recorded.record();
                "hello"
            }),
        )
        .layer(layer);
    let addr = serve(router).await;
    let plain = ClientBuilder::new(reqwest_h1()).with(backoff(3)).build();
    let response = plain.get(format!("http://{addr}/")).send().await?;
    assert_eq!(response.status(), 200);
    assert_eq!(server_hits.count(), 1);
    assert_eq!(server_target.report().injected(FaultKind::DropConnection), 1);
    Ok(())
}

/// `BodyFault::abort_after(0)`: the server handled the request, the
/// caller gets no answer (as a server-side lost reply looks), and it is
/// not retried.
#[tokio::test(start_paused = true)]
async fn a_lost_reply_reaches_the_server_and_fails_the_caller() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let target = target(HttpFaultSet::new().with(BodyFault::abort_after(0).when(Trigger::first(1))));
    let client = retrying_client(&target, 3);

    let err = client.get(format!("{base}/")).send().await.unwrap_err();
    assert_eq!(injected(&err), ClientFaultErrorKind::LostReply);
    assert!(err.to_string().contains("reply lost"), "{}", chain(&err));
    assert_eq!(hits.count(), 1, "the write happened");
    assert_eq!(target.report().injected(FaultKind::ResponseBody), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn body_faults_apply_to_the_real_body() -> Result<(), BoxError> {
    let (hits, base) = server().await;

    // Cut: reqwest reads a complete, shorter body (the length is checked
    // by hyper, below the middleware).
    let cut = target(HttpFaultSet::new().with(BodyFault::truncate_after(3)));
    let response = client(&cut).get(format!("{base}/")).send().await?;
    assert_eq!(
        (response.status(), response.content_length()),
        (reqwest::StatusCode::OK, Some(5))
    );
    assert_eq!(marked(&response), Some(FaultKind::ResponseBody));
    assert_eq!(response.url().as_str(), format!("{base}/"));
    assert_eq!(response.text().await?, "hel");
    let report = cut.report();
    assert_eq!((report.bytes_passed, report.bytes_dropped), (3, 2));

    // Abort after 2 bytes: the head, then a body error.
    let abort = target(HttpFaultSet::new().with(BodyFault::abort_after(2)));
    let response = client(&abort).get(format!("{base}/")).send().await?;
    assert_eq!(response.status(), 200);
    let err = response.text().await.unwrap_err();
    assert!(err.is_body() || err.is_decode(), "{}", chain(&err));
    assert!(
        chain(&err).contains("body aborted after 2 bytes"),
        "{}",
        chain(&err)
    );

    // A first-byte delay: the head at once, the body 3 s later.
    let slow = target(HttpFaultSet::new().with(BodyFault::delay_first_byte(Duration::from_secs(3))));
    let response = client(&slow).get(format!("{base}/")).send().await?;
    let start = Instant::now();
    assert_eq!(response.text().await?, "hello");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(hits.count(), 3);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_delay_counts_against_the_request_timeout() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let slow = target(HttpFaultSet::new().with(HttpFault::latency(Duration::from_secs(1))));
    let client = client(&slow);

    // A delay, then the real answer, marked.
    let start = Instant::now();
    let response = client.get(format!("{base}/")).send().await?;
    assert_eq!(marked(&response), Some(FaultKind::Latency));
    assert_eq!(hits.since(start), [Duration::from_secs(1)]);

    // 1 s injected, a server that takes 5 s, a 2 s timeout: reqwest's own
    // timeout error, 2 s after the call.
    let (err, after) = fails_within(&client, format!("{base}/slow"), Duration::from_secs(2)).await;
    assert!(err.is_timeout() && !err.is_middleware(), "{}", chain(&err));
    assert_eq!(after, Duration::from_secs(2));
    assert_eq!(hits.count(), 2);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_delay_past_the_request_timeout_fails_at_the_timeout_unsent() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let hang = target(HttpFaultSet::new().with(HttpFault::latency(Duration::from_secs(3600))));
    let client = client(&hang);

    let (err, after) = fails_within(&client, format!("{base}/"), Duration::from_secs(2)).await;
    assert_eq!(after, Duration::from_secs(2));
    assert_eq!(
        injected(&err),
        ClientFaultErrorKind::TimedOut {
            limit: Duration::from_secs(2),
            delay: Duration::from_secs(3600)
        }
    );
    assert!(!err.is_timeout(), "a middleware error: {}", chain(&err));

    // The caller's own deadline holds as well.
    let start = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(10), client.get(format!("{base}/")).send()).await;
    assert!(outcome.is_err());
    assert_eq!(start.elapsed(), Duration::from_secs(10));

    // A client-wide timeout is not visible to a middleware: the delay
    // passes it, and only the real exchange is bounded.
    let wide = ClientBuilder::new(
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?,
    )
    .with(ChaosMiddleware::for_target(&target(
        HttpFaultSet::new().with(HttpFault::latency(Duration::from_secs(5))),
    )))
    .build();
    let start = Instant::now();
    assert_eq!(wide.get(format!("{base}/")).send().await?.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(hits.count(), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_fails_at_the_request_timeout() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let stall = target(HttpFaultSet::new().with(BodyFault::stall_after(1)));

    let start = Instant::now();
    let response = client(&stall)
        .get(format!("{base}/"))
        .timeout(Duration::from_secs(3))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let err = response.bytes().await.unwrap_err();
    assert!(err.is_timeout(), "{}", chain(&err));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let report = stall.report();
    assert_eq!(
        (report.bytes_passed, report.injected(FaultKind::ResponseBody)),
        (1, 1)
    );
    assert_eq!(hits.count(), 1);
    Ok(())
}

/// The statuses a client sees for 20 calls against a target with a 50 %
/// rate of 503s.
async fn statuses(base: &str, seed: u64) -> Result<Vec<u16>, BoxError> {
    let target = Target::builder("api").seed(seed).build()?;
    target.set_faults(
        HttpFaultSet::new().with(SyntheticResponse::service_unavailable().when(Trigger::rate(0.5))),
    )?;
    let client = client(&target);
    let mut out = Vec::new();
    for _ in 0..20 {
        out.push(client.get(format!("{base}/")).send().await?.status().as_u16());
    }
    assert_eq!(
        target.report().injected(FaultKind::Status),
        out.iter().filter(|s| **s == 503).count() as u64
    );
    Ok(out)
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_statuses() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let first = statuses(&base, 2024).await?;
    let again = statuses(&base, 2024).await?;
    let other = statuses(&base, 2025).await?;
    assert_eq!(again, first);
    assert!(first.contains(&503) && first.contains(&200), "{first:?}");
    assert_ne!(other, first, "another seed, another sequence");
    // Only the 200s reached the server.
    let passed = |s: &[u16]| s.iter().filter(|s| **s == 200).count();
    assert_eq!(hits.count(), passed(&first) * 2 + passed(&other));
    Ok(())
}

/// One client, one target, faults at both ends: a 503 from the middleware,
/// then a refused connection from `ConnectFaultsLayer` in reqwest's
/// `connector_layer` (a connect error, transient to `reqwest-retry`), then
/// the real answer.
#[cfg(feature = "io")]
#[tokio::test(start_paused = true)]
async fn http_and_connect_faults_in_one_client() -> Result<(), BoxError> {
    use tower_chaos::io::{ConnFault, ConnFaultSet, ConnectFaultsLayer};

    let (hits, base) = server().await;
    let target =
        target(HttpFaultSet::new().with(SyntheticResponse::service_unavailable().when(Trigger::first(1))));
    target.set_faults(ConnFaultSet::new().with(ConnFault::refuse().when(Trigger::first(1))))?;
    let reqwest = reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .connector_layer(ConnectFaultsLayer::for_target(&target))
        .build()?;
    let client = ClientBuilder::new(reqwest)
        .with(backoff(3))
        .with(ChaosMiddleware::for_target(&target))
        .build();

    let start = Instant::now();
    let response = client.get(format!("{base}/")).send().await?;
    assert_eq!(response.status(), 200);
    // 503, 1 s; refused, 2 s; then through.
    assert_eq!(hits.since(start), [Duration::from_secs(3)]);
    let report = target.report();
    assert_eq!(
        (
            report.injected(FaultKind::Status),
            report.injected(FaultKind::Refused)
        ),
        (1, 1)
    );
    Ok(())
}

/// Counting triggers hold across concurrent requests and client clones
/// (they live in the target), and the typed handle swaps the faults of a
/// client already built.
#[tokio::test(start_paused = true)]
async fn first_n_holds_across_concurrent_requests_and_faults_swap_at_run_time() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let chaos = ChaosMiddleware::builder("api").seed(3).build()?;
    let (faults, target) = (chaos.faults(), chaos.target().clone());
    let client = ClientBuilder::new(reqwest_h1()).with(chaos).build();
    faults.set(HttpFaultSet::new().with(SyntheticResponse::bad_gateway().when(Trigger::first(3))))?;

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (client, url) = (client.clone(), format!("{base}/"));
        calls.spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) });
    }
    let mut statuses = Vec::new();
    while let Some(status) = calls.join_next().await {
        statuses.push(status??);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 502).count(), 3);
    assert_eq!(hits.count(), 27);

    faults.set(HttpFaultSet::new().with(HttpFault::DropConnection))?;
    let err = client.get(format!("{base}/")).send().await.unwrap_err();
    assert_eq!(injected(&err), ClientFaultErrorKind::ConnectionDropped);
    faults.clear();
    assert_eq!(client.get(format!("{base}/")).send().await?.status(), 200);
    target.disable();
    faults.set(HttpFaultSet::new().with(HttpFault::DropConnection))?;
    assert_eq!(client.get(format!("{base}/")).send().await?.status(), 200);

    let report = target.report();
    assert_eq!(
        (report.seen, report.passed, report.faulted),
        (33, 29, 4),
        "the disabled call is seen, and passed"
    );
    assert_eq!(hits.count(), 29);
    Ok(())
}

/// Triggers read the request through `&HttpRequest` as on the server:
/// method, host, path and headers, and the middleware chain's extensions;
/// the request goes on with its headers intact.
#[tokio::test(start_paused = true)]
async fn triggers_see_the_request_and_it_goes_on_intact() -> Result<(), BoxError> {
    use http::Method;
    use tower_chaos::http::{HttpRequest, HttpTrigger, RequestMatcher};

    /// What a test attaches to a request, for triggers to read.
    #[derive(Clone)]
    struct Canary;

    let (hits, base) = server().await;
    let tenant =
        HttpTrigger::when(|req: &HttpRequest| req.headers().get("x-tenant").is_some_and(|t| t == "acme"));
    let canary = HttpTrigger::when(|req: &HttpRequest| req.extensions().get::<Canary>().is_some());
    let target = target(
        HttpFaultSet::new()
            .with(
                SyntheticResponse::bad_gateway()
                    .when(RequestMatcher::method(Method::PUT) & RequestMatcher::path_prefix("/admin")),
            )
            .with(SyntheticResponse::service_unavailable().when(RequestMatcher::host("127.0.0.1") & tenant))
            .with(SyntheticResponse::gateway_timeout().when(canary)),
    );
    let client = client(&target);

    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(client.put(format!("{base}/admin/users")).send().await?),
        502
    );
    assert_eq!(
        status(client.get(format!("{base}/admin/users")).send().await?),
        200
    );
    assert_eq!(
        status(
            client
                .get(format!("{base}/a"))
                .header("x-tenant", "acme")
                .send()
                .await?
        ),
        503
    );
    assert_eq!(
        status(
            client
                .get(format!("{base}/a"))
                .with_extension(Canary)
                .send()
                .await?
        ),
        504
    );

    let response = client
        .post(format!("{base}/items"))
        .header("x-tenant", "globex")
        .send()
        .await?;
    assert_eq!(response.text().await?, "POST /items globex");
    assert_eq!(hits.count(), 2);
    assert_eq!(target.report().injected(FaultKind::Status), 3);
    Ok(())
}

/// A drop after a retried 503 reaches the caller inside
/// `RetryError::WithRetries`; `ClientFaultError::find` still finds it.
#[tokio::test(start_paused = true)]
async fn an_injected_error_is_found_inside_retry_errors() -> Result<(), BoxError> {
    let (hits, base) = server().await;
    let target = target(
        HttpFaultSet::new()
            .with(SyntheticResponse::service_unavailable().when(Trigger::first(1)))
            .with(HttpFault::DropConnection.when(Trigger::after(1))),
    );
    let err = retrying_client(&target, 3)
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap_err();
    assert!(
        chain(&err).starts_with("Request failed after 1 retries"),
        "{}",
        chain(&err)
    );
    assert_eq!(injected(&err), ClientFaultErrorKind::ConnectionDropped);
    assert_eq!(hits.count(), 0);
    assert_eq!(target.report().seen, 2);
    Ok(())
}

/// A request timeout beyond what the clock can hold is no deadline, not an
/// overflow: the faulted body reads to its cut.
#[tokio::test(start_paused = true)]
async fn a_request_timeout_beyond_the_clock_is_no_deadline() -> Result<(), BoxError> {
    let (_hits, base) = server().await;
    let cut = target(HttpFaultSet::new().with(BodyFault::truncate_after(3)));
    let response = client(&cut)
        .get(format!("{base}/"))
        .timeout(Duration::MAX)
        .send()
        .await?;
    assert_eq!(response.text().await?, "hel");
    Ok(())
}

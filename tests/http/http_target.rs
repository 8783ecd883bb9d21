//! The HTTP layer on the core engine: faults swapped through the target
//! while requests are in flight, state shared across axum's per-request
//! clones, replay by seed, active-fault caps held by faulted bodies, and
//! the target's switches.

use crate::support;

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use support::{items, poll_once, reqwest_h1, reqwest_h2, seen_passed_faulted, serve};
use tower::{Layer, Service, ServiceExt};
use tower_chaos::http::{
    BodyFault, HeaderControl, HttpChaosLayer, HttpFault, HttpRequest, HttpRule, Injected, RequestMatcher,
    SyntheticResponse,
};
use tower_chaos::{FaultKind, FaultSet, Latency, Target, Trigger};

fn get_item(id: u32) -> Request<Body> {
    Request::get(format!("/items/{id}")).body(Body::empty()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn swapping_http_faults_through_the_target_leaves_requests_in_flight_alone() {
    let target = Target::builder("items-api").seed(5).journal(32).build().unwrap();
    target
        .set_faults(FaultSet::new().with(HttpFault::latency(Duration::from_secs(2)).named("slow")))
        .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let svc = HttpChaosLayer::for_target(&target).layer(items(&hits));

    // Three requests decided under the first fault set: delayed by 2 s.
    let mut in_flight = Vec::new();
    for id in 0..3 {
        let mut clone = svc.clone();
        ServiceExt::<Request<Body>>::ready(&mut clone).await.unwrap();
        let mut future = Box::pin(clone.call(get_item(id)));
        assert!(poll_once(&mut future).is_none());
        in_flight.push(future);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "still waiting out the delay");

    // Swap while they wait: new requests get a 503 at once.
    target
        .set_faults(FaultSet::new().with(SyntheticResponse::service_unavailable().named("down")))
        .unwrap();
    let response = svc.clone().oneshot(get_item(9)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(Injected::of(&response).unwrap().rule(), Some("down"));

    // The requests in flight keep the fault they were given.
    tokio::time::advance(Duration::from_secs(2)).await;
    for future in in_flight {
        let response = future.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let marker = Injected::of(&response).unwrap();
        assert_eq!((marker.kind(), marker.rule()), (FaultKind::Latency, Some("slow")));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // Clearing the faults lets everything through, without rebuilding.
    target.clear_faults::<HttpFault, HttpRequest>();
    let response = svc.clone().oneshot(get_item(10)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(Injected::of(&response).is_none());

    let report = target.report();
    assert_eq!(seen_passed_faulted(&report), (5, 1, 4), "{report}");
    assert_eq!(report.injected(FaultKind::Latency), 3);
    assert_eq!(report.injected(FaultKind::Status), 1);
    let delays: Vec<_> = report.journal.iter().filter_map(|e| e.delay).collect();
    assert_eq!(delays, [Duration::from_secs(2); 3]);
}

/// axum clones the router's service for every request and hyper for every
/// connection: `first(3)` still fails exactly three requests in total.
#[tokio::test]
async fn first_n_is_shared_across_axums_per_request_clones() {
    let chaos = HttpChaosLayer::builder("items-api")
        .seed(3)
        .fault(SyntheticResponse::service_unavailable().when(Trigger::first(3)))
        .build()
        .unwrap();
    let target = chaos.target().clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = serve(items(&hits).layer(chaos)).await;

    // 4 clients (2 over HTTP/1, with several connections each, 2 over
    // HTTP/2), 15 concurrent requests each.
    let mut tasks = tokio::task::JoinSet::new();
    for client in [reqwest_h1(), reqwest_h1(), reqwest_h2(), reqwest_h2()] {
        for id in 0..15 {
            let client = client.clone();
            tasks.spawn(async move {
                let response = client
                    .get(format!("http://{addr}/items/{id}"))
                    .send()
                    .await
                    .unwrap();
                response.status()
            });
        }
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    let failed = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert_eq!(failed, 3, "{statuses:?}");
    assert_eq!(statuses.len() - failed, 57);
    assert_eq!(hits.load(Ordering::SeqCst), 57);

    let report = target.report();
    assert_eq!((report.seen, report.faulted), (60, 3), "{report}");
    assert_eq!(report.injected(FaultKind::Status), 3);
}

type Inner = tower::util::BoxCloneSyncService<Request<()>, Response<Full<Bytes>>, Infallible>;

fn inner() -> Inner {
    Inner::new(tower::service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"0123456789"))))
    }))
}

/// What a client saw: the status, the marker's kind, and how many body
/// bytes arrived.
async fn outcomes(seed: u64, requests: usize) -> Vec<(u16, Option<FaultKind>, usize)> {
    let chaos = HttpChaosLayer::builder("replay")
        .seed(seed)
        .fault(SyntheticResponse::internal_server_error().when(Trigger::rate(0.2)))
        .fault(BodyFault::truncate_after(4).when(RequestMatcher::method(Method::GET) & Trigger::rate(0.3)))
        .fault(
            HttpFault::latency(Latency::uniform(
                Duration::from_millis(1),
                Duration::from_millis(9),
            ))
            .when(Trigger::rate(0.1)),
        )
        .header_control(HeaderControl::new())
        .build()
        .unwrap();
    let mut svc = chaos.layer(inner());
    // Decide every request first (decisions are taken at `call`), then
    // poll the futures in reverse order.
    let mut futures = Vec::new();
    for i in 0..requests {
        let request = Request::builder()
            .method(if i % 2 == 0 { Method::GET } else { Method::PUT })
            .uri("/items/1")
            .header("x-chaos-abort-request", "429")
            .header("x-chaos-abort-request-percentage", "10")
            .body(())
            .unwrap();
        futures.push(svc.ready().await.unwrap().call(request));
    }
    let mut seen = Vec::new();
    for future in futures.into_iter().rev() {
        let response = future.await.unwrap();
        let kind = Injected::of(&response).map(Injected::kind);
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        seen.push((status, kind, body.len()));
    }
    seen.reverse();
    seen
}

#[tokio::test(start_paused = true)]
async fn rate_triggered_http_faults_replay_by_seed() {
    let first = outcomes(42, 300).await;
    assert_eq!(first, outcomes(42, 300).await, "same seed, same faults");
    assert_ne!(first, outcomes(43, 300).await, "another seed, other faults");

    let errors = first.iter().filter(|o| o.0 == 500).count();
    let truncated = first
        .iter()
        .filter(|o| o.1 == Some(FaultKind::ResponseBody))
        .count();
    let throttled = first.iter().filter(|o| o.0 == 429).count();
    // Binomial bounds, about 4 standard deviations wide.
    assert!((30..=90).contains(&errors), "500s: {errors}");
    assert!(
        (12..=60).contains(&truncated),
        "truncated GET bodies: {truncated}"
    );
    assert!((8..=55).contains(&throttled), "header-asked 429s: {throttled}");
    assert!(
        first
            .iter()
            .all(|o| o.1 != Some(FaultKind::ResponseBody) || o.2 == 4)
    );
    // Body faults hit GETs only (every other request).
    assert!(
        first
            .iter()
            .enumerate()
            .all(|(i, o)| i % 2 == 0 || o.1 != Some(FaultKind::ResponseBody))
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_holds_its_active_slot_until_dropped() {
    let rule: HttpRule = BodyFault::stall_after(2).when(Trigger::always()).max_active(1);
    let chaos = HttpChaosLayer::builder("stalls")
        .seed(1)
        .fault(rule)
        .build()
        .unwrap();
    let target = chaos.target().clone();
    let svc = chaos.layer(inner());

    let stalled = svc.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(Injected::of(&stalled).unwrap().kind(), FaultKind::ResponseBody);
    let mut body = stalled.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "01");
    {
        let mut next = pin!(body.frame());
        assert!(poll_once(&mut next).is_none(), "stalled");
    }

    // The slot is taken while the body stalls: the next request passes.
    let passed = svc.clone().oneshot(Request::new(())).await.unwrap();
    assert!(Injected::of(&passed).is_none());

    // Dropping the stalled body (a client giving up) frees it.
    drop(body);
    let again = svc.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(Injected::of(&again).unwrap().kind(), FaultKind::ResponseBody);

    let report = target.report();
    assert_eq!((report.seen, report.faulted), (3, 2), "{report}");
    assert_eq!(report.bytes_passed, 2);
}

#[tokio::test]
async fn a_disabled_target_ignores_rules_and_fault_headers() {
    let chaos = HttpChaosLayer::builder("api")
        .seed(1)
        .fault(SyntheticResponse::bad_gateway().when(RequestMatcher::method(Method::PUT)))
        .header_control(HeaderControl::new())
        .build()
        .unwrap();
    let target = chaos.target().clone();
    let svc = chaos.layer(inner());
    let put = || Request::put("/").body(()).unwrap();
    let asks_for_503 = || {
        Request::get("/")
            .header("x-chaos-abort-request", "503")
            .body(())
            .unwrap()
    };
    let bad_header = || {
        Request::get("/")
            .header("x-chaos-abort-request", "nope")
            .body(())
            .unwrap()
    };

    assert_eq!(svc.clone().oneshot(put()).await.unwrap().status(), 502);
    assert_eq!(svc.clone().oneshot(asks_for_503()).await.unwrap().status(), 503);
    assert_eq!(svc.clone().oneshot(bad_header()).await.unwrap().status(), 400);

    target.disable();
    for request in [put(), asks_for_503(), bad_header()] {
        assert_eq!(svc.clone().oneshot(request).await.unwrap().status(), 200);
    }
    target.enable();
    assert_eq!(svc.clone().oneshot(put()).await.unwrap().status(), 502);

    let report = target.report();
    assert_eq!(
        (report.seen, report.faulted, report.rejected_headers),
        (7, 4, 1),
        "{report}"
    );
}

/// A rule that shapes the response wins over a fault asked for through
/// headers; a header delay still adds up.
#[tokio::test(start_paused = true)]
async fn rules_come_before_header_faults() {
    let chaos = HttpChaosLayer::builder("api")
        .seed(1)
        .fault(SyntheticResponse::gateway_timeout().when(RequestMatcher::path("/down")))
        .header_control(HeaderControl::new())
        .build()
        .unwrap();
    let target = chaos.target().clone();
    let svc = chaos.layer(inner());
    let request = |path: &str| {
        Request::get(path)
            .header("x-chaos-abort-request", "418")
            .header("x-chaos-delay-request", "1500")
            .body(())
            .unwrap()
    };
    let start = tokio::time::Instant::now();
    let down = svc.clone().oneshot(request("/down")).await.unwrap();
    assert_eq!(down.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    let up = svc.clone().oneshot(request("/up")).await.unwrap();
    assert_eq!(up.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(Injected::of(&up).unwrap().rule(), Some("header-control"));

    let report = target.report();
    assert_eq!(report.injected(FaultKind::Status), 2);
    assert_eq!(report.injected(FaultKind::Latency), 2);
    assert_eq!(report.faulted, 2);
}

/// Issue 12: matcher constructors return matchers (no `?`); a value no
/// request can have fails the layer's build and a run-time install with a
/// `ConfigError` naming the field and the value, and the faults installed
/// before stay in force.
#[tokio::test]
async fn a_refused_matcher_fails_the_build_and_the_install_naming_field_and_value() {
    let bad_glob = || RequestMatcher::method(Method::PUT) & RequestMatcher::path_glob("/items/**/x");
    let err = HttpChaosLayer::builder("api")
        .seed(1)
        .fault(SyntheticResponse::bad_gateway().when(bad_glob() & Trigger::first(1)))
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `matcher.path_glob` = \"/items/**/x\": `**` must be the whole last segment"
    );

    let target = Target::builder("api").seed(1).build().unwrap();
    let svc = HttpChaosLayer::for_target(&target).layer(inner());
    target
        .set_faults(
            FaultSet::new().with(SyntheticResponse::bad_gateway().when(RequestMatcher::path("/down"))),
        )
        .unwrap();
    let err = target
        .set_faults(
            FaultSet::new().with(HttpFault::DropConnection.when(!RequestMatcher::header("bad header"))),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `matcher.header` = \"bad header\": not a valid header name"
    );
    let down = svc
        .clone()
        .oneshot(Request::get("/down").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(down.status(), StatusCode::BAD_GATEWAY);
    let up = svc.oneshot(Request::get("/up").body(()).unwrap()).await.unwrap();
    assert_eq!(up.status(), StatusCode::OK);
}

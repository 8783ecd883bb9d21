//! Synthesized responses as real clients parse them: statuses,
//! `Retry-After`, AWS JSON and S3 XML errors; the `Injected` marker;
//! matching (only `PUT /items/*` fails); header-controlled faults.

use crate::support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use support::{chaos, hyper_h2, items, poll_once, quiet, reqwest_h1, reqwest_h2, seen_passed_faulted, serve};
use tower::ServiceExt;
use tower_chaos::http::{
    BodyFault, HeaderControl, HttpChaosLayer, HttpFault, Injected, RequestMatcher, RetryAfter,
    SyntheticResponse,
};
use tower_chaos::{Event, FaultKind};

/// `support::items` behind `layer`.
fn app(layer: HttpChaosLayer, hits: &Arc<AtomicUsize>) -> Router {
    items(hits).layer(layer)
}

// The fault headers.
const ABORT: &str = "x-chaos-abort-request";
const ABORT_PCT: &str = "x-chaos-abort-request-percentage";
const DELAY: &str = "x-chaos-delay-request";
const ENVOY_ABORT: &str = "x-envoy-fault-abort-request";

/// GET `url` with `headers`.
async fn get_with(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let request = headers.iter().fold(client.get(url), |r, (k, v)| r.header(*k, *v));
    request.send().await.unwrap()
}

#[tokio::test]
async fn ready_made_statuses_reach_both_protocols() {
    for (fault, status) in [
        (SyntheticResponse::internal_server_error(), 500),
        (SyntheticResponse::bad_gateway(), 502),
        (SyntheticResponse::service_unavailable(), 503),
        (SyntheticResponse::gateway_timeout(), 504),
        (SyntheticResponse::new(418).body("teapot"), 418),
    ] {
        let hits = Arc::new(AtomicUsize::new(0));
        let addr = serve(app(chaos("api", fault), &hits)).await;
        let url = format!("http://{addr}/items/1");
        for client in [reqwest_h1(), reqwest_h2()] {
            let response = get_with(&client, &url, &[]).await;
            assert_eq!(response.status().as_u16(), status);
            let text = response.text().await.unwrap();
            assert!(text.contains("injected") || text == "teapot", "{text}");
        }
        let response = hyper_h2().get(url.parse().unwrap()).await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "the inner service is never called"
        );
    }
}

#[tokio::test]
async fn retry_after_in_seconds_and_as_a_date() {
    let date = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    for (retry_after, check) in [
        (RetryAfter::Seconds(7), None),
        (RetryAfter::Date(date), Some(date)),
    ] {
        let layer = chaos("api", SyntheticResponse::too_many_requests(retry_after));
        let addr = serve(app(layer, &Arc::default())).await;
        let response = get_with(&reqwest_h1(), &format!("http://{addr}/items/1"), &[]).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let value = response.headers()["retry-after"].to_str().unwrap();
        match check {
            None => assert_eq!(value.parse::<u64>().unwrap(), 7),
            Some(date) => assert_eq!(httpdate::parse_http_date(value).unwrap(), date),
        }
    }
}

#[tokio::test]
async fn aws_json_errors_parse_as_aws_sdks_read_them() {
    for (fault, status, error_type) in [
        (SyntheticResponse::aws_throttling(), 400, "ThrottlingException"),
        (
            SyntheticResponse::aws_provisioned_throughput_exceeded(),
            400,
            "ProvisionedThroughputExceededException",
        ),
        (
            SyntheticResponse::aws_internal_server_error(),
            500,
            "InternalServerError",
        ),
        (
            SyntheticResponse::aws_service_unavailable(),
            503,
            "ServiceUnavailable",
        ),
    ] {
        let addr = serve(app(chaos("dynamodb", fault), &Arc::default())).await;
        let response = reqwest_h1()
            .post(format!("http://{addr}/items/1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["x-amzn-errortype"], error_type);
        assert_eq!(response.headers()["content-type"], "application/x-amz-json-1.0");
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["__type"], error_type);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn s3_xml_errors() {
    for (fault, status, code) in [
        (SyntheticResponse::s3_slow_down(), 503, "SlowDown"),
        (SyntheticResponse::s3_internal_error(), 500, "InternalError"),
    ] {
        let addr = serve(app(chaos("s3", fault), &Arc::default())).await;
        let response = get_with(&reqwest_h2(), &format!("http://{addr}/items/1"), &[]).await;
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["content-type"], "application/xml");
        assert!(response.headers().contains_key("x-amz-request-id"));
        let body = response.text().await.unwrap();
        assert!(body.starts_with("<?xml"), "{body}");
        assert!(
            body.contains(&format!("<Error><Code>{code}</Code><Message>")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn injected_responses_carry_the_marker_and_real_ones_do_not() {
    let layer = chaos(
        "items",
        SyntheticResponse::service_unavailable()
            .when(RequestMatcher::method(Method::PUT))
            .named("puts-fail"),
    );
    let svc = tower::Layer::layer(&layer, app(quiet("inner"), &Arc::default()));

    let put = Request::put("/items/1").body(axum::body::Body::empty()).unwrap();
    let response = svc.clone().oneshot(put).await.unwrap();
    let marker = Injected::of(&response).expect("injected");
    assert_eq!(
        (marker.kind(), marker.target(), marker.rule()),
        (FaultKind::Status, "items", Some("puts-fail"))
    );

    let get = Request::get("/items/1").body(axum::body::Body::empty()).unwrap();
    let response = svc.oneshot(get).await.unwrap();
    assert!(Injected::of(&response).is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, Bytes::from_static(b"item"));
}

/// S3, 2017: PUT fails while GET recovers, and the target's counters
/// prove it.
#[tokio::test]
async fn only_put_items_fails_while_get_passes() {
    let layer = HttpChaosLayer::builder("s3")
        .seed(2017)
        .journal(16)
        .fault(
            SyntheticResponse::s3_slow_down()
                .when(RequestMatcher::method(Method::PUT) & RequestMatcher::path_glob("/items/*"))
                .named("s3-put-outage"),
        )
        .build()
        .unwrap();
    let target = layer.target().clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = serve(app(layer, &hits)).await;
    let client = reqwest_h1();
    for id in 0..5 {
        let url = format!("http://{addr}/items/{id}");
        let put = client.put(&url).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(put.text().await.unwrap().contains("<Code>SlowDown</Code>"));
        let get = get_with(&client, &url, &[]).await;
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(get.text().await.unwrap(), "item");
    }
    let report = target.report();
    assert_eq!(seen_passed_faulted(&report), (10, 5, 5), "{report}");
    assert_eq!(report.injected(FaultKind::Status), 5);
    assert_eq!(report.total_injected(), 5, "nothing but the PUTs: {report}");
    assert_eq!(report.journal.len(), 5);
    assert!(
        report
            .journal
            .iter()
            .all(|e| e.kind == FaultKind::Status && e.rule_name.as_deref() == Some("s3-put-outage"))
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        5,
        "only the GETs reached the service"
    );
}

#[tokio::test(start_paused = true)]
async fn delay_holds_the_inner_call() {
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = chaos("api", HttpFault::latency(Duration::from_secs(4)));
    let svc = tower::Layer::layer(&layer, app(quiet("inner"), &hits));
    let request = Request::get("/items/1").body(axum::body::Body::empty()).unwrap();
    let mut future = std::pin::pin!(svc.oneshot(request));
    assert!(poll_once(&mut future.as_mut()).is_none());
    tokio::time::advance(Duration::from_millis(3999)).await;
    assert!(poll_once(&mut future.as_mut()).is_none());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "not called before the delay elapsed"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    let response = future.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(Injected::of(&response).unwrap().kind(), FaultKind::Latency);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn header_controlled_faults() {
    let layer = HttpChaosLayer::builder("api")
        .seed(1)
        .journal(8)
        .header_control(HeaderControl::new().max_delay(Duration::from_secs(5)))
        .build()
        .unwrap();
    let target = layer.target().clone();
    let addr = serve(app(layer, &Arc::default())).await;
    let url = format!("http://{addr}/items/1");
    let client = reqwest_h1();

    let plain = get_with(&client, &url, &[]).await;
    assert_eq!(plain.status(), StatusCode::OK);

    let aborted = get_with(&client, &url, &[(ABORT, "503")]).await;
    assert_eq!(aborted.status(), StatusCode::SERVICE_UNAVAILABLE);

    let start = tokio::time::Instant::now();
    let delayed = get_with(&client, &url, &[(DELAY, "2000")]).await;
    assert_eq!(delayed.status(), StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_secs(2), "{:?}", start.elapsed());

    let invalid = get_with(&client, &url, &[(DELAY, "60000")]).await;
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let text = invalid.text().await.unwrap();
    assert!(text.contains(DELAY) && text.contains("60000"), "{text}");
    let report = target.report();
    assert_eq!(report.rejected_headers, 1);
    assert_eq!(
        report.injected(FaultKind::Status),
        2,
        "the abort and the 400: {report}"
    );
    assert_eq!(report.injected(FaultKind::Latency), 1);
    assert!(report.journal.iter().all(|e| e.rule == Event::HEADER_CONTROL));

    let never = get_with(&client, &url, &[(ABORT, "500"), (ABORT_PCT, "0")]).await;
    assert_eq!(never.status(), StatusCode::OK);
}

#[tokio::test]
async fn fault_headers_are_ignored_unless_enabled() {
    let addr = serve(app(quiet("api"), &Arc::default())).await;
    let response = get_with(
        &reqwest_h1(),
        &format!("http://{addr}/items/1"),
        &[(ABORT, "503"), (ENVOY_ABORT, "503")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// `HeaderControl`'s settings return the control, as every other builder
/// does; a zero minimum throughput is refused where the control is
/// installed, naming the field and the value, and nothing is built.
#[test]
fn a_zero_minimum_throughput_is_refused_at_build() {
    let message = "invalid `header_control.min_throughput` = 0: must be at least 1 byte per second";
    let zero = HeaderControl::new().min_throughput(0);
    let err = HttpChaosLayer::builder("api")
        .seed(1)
        .header_control(zero.clone())
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), message);
    let err = quiet("api").header_control(zero.clone()).unwrap_err();
    assert_eq!(err.to_string(), message);
    assert_eq!(zero.validate().unwrap_err().to_string(), message);
    // The smallest usable minimum is accepted by both installs.
    let one = HeaderControl::new().min_throughput(1);
    assert!(
        HttpChaosLayer::builder("api")
            .seed(1)
            .header_control(one.clone())
            .build()
            .is_ok()
    );
    assert!(quiet("api").header_control(one).is_ok());
}

#[tokio::test]
async fn envoy_header_names() {
    let layer = quiet("api")
        .header_control(HeaderControl::new().envoy_names())
        .expect("a valid control");
    let addr = serve(app(layer, &Arc::default())).await;
    let response = get_with(
        &reqwest_h2(),
        &format!("http://{addr}/items/1"),
        &[(ENVOY_ABORT, "429")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn layer_keeps_infallible_for_axum() {
    // Compiles only if the layered service's error stays `Infallible`.
    fn assert_infallible<S: tower::Service<Request<axum::body::Body>, Error = Infallible>>(_: &S) {}
    let svc = tower::Layer::layer(&quiet("api"), app(quiet("x"), &Arc::default()));
    assert_infallible(&svc);
}

// Issue 10: `RetryAfter::after` of a duration within half a second of
// `u64::MAX` seconds overflowed (`Retry-After: 0` in release); dates before
// 1970 or past year 9999 panicked inside `httpdate`. Now: the largest
// value, and a `ConfigError` when such a date is installed.
#[test]
fn retry_after_extremes_never_panic() {
    let huge = Duration::new(u64::MAX, 500_000_000);
    assert_eq!(RetryAfter::after(huge), RetryAfter::Seconds(u64::MAX));
    assert_eq!(
        SyntheticResponse::too_many_requests(RetryAfter::after(huge)).headers()["retry-after"],
        u64::MAX.to_string().as_str()
    );

    let year_10000 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
    for date in [UNIX_EPOCH - Duration::from_secs(1), year_10000] {
        assert!(RetryAfter::date(date).is_err());
        let response = SyntheticResponse::too_many_requests(RetryAfter::Date(date));
        assert!(response.headers().get("retry-after").is_none());
        assert!(RetryAfter::Date(date).to_string().contains("not an HTTP date"));
        let err = HttpChaosLayer::builder("api")
            .fault(response)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("retry_after.date"), "{err}");
    }
    let last = year_10000 - Duration::from_secs(1);
    assert_eq!(
        RetryAfter::date(last).unwrap().to_string(),
        "Fri, 31 Dec 9999 23:59:59 GMT"
    );
    assert_eq!(
        RetryAfter::date(UNIX_EPOCH).unwrap().to_string(),
        "Thu, 01 Jan 1970 00:00:00 GMT"
    );
}

// Issue 10: S3 XML error bodies kept control characters, which XML 1.0
// cannot hold (not even as references). They become U+FFFD; tab, line feed
// and carriage return stay.
#[test]
fn s3_xml_bodies_hold_no_control_characters() {
    let r = SyntheticResponse::s3_xml(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        "a\u{0}b\u{1b}c\td\ne\u{7f}f\u{FFFF}",
    );
    let body = std::str::from_utf8(r.body_bytes()).unwrap();
    assert!(
        body.contains("<Message>a\u{FFFD}b\u{FFFD}c\td\ne\u{FFFD}f\u{FFFD}</Message>"),
        "{body:?}"
    );
    assert!(
        !body
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
        "{body:?}"
    );
}

// Issue 10: a 64 KiB malformed control header came back as a 65 KB `400`
// body. The value echoed is cut to 64 characters and its length.
#[tokio::test]
async fn a_huge_bad_control_header_is_not_echoed_whole() {
    let layer = quiet("api")
        .header_control(HeaderControl::new())
        .expect("a valid control");
    let svc = tower::Layer::layer(&layer, app(quiet("x"), &Arc::default()));
    let huge = "9".repeat(64 * 1024);
    let request = Request::get("/items/1")
        .header(DELAY, huge.as_str())
        .body(axum::body::Body::empty())
        .unwrap();
    let response = svc.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(body.len() < 300, "{} bytes: {text}", body.len());
    assert!(text.contains("(65536 bytes)"), "{text}");
}

// Issue 12: constructors return the value; a value they cannot take is
// refused where the fault is installed (the builder's `build()` and
// `Target::set_faults`), as a `ConfigError` naming the field and the value.
fn refused_at_build(fault: impl Into<tower_chaos::http::HttpRule>) -> tower_chaos::ConfigError {
    let rule = fault.into();
    let target = tower_chaos::Target::builder("set").seed(1).build().unwrap();
    let at_set = target
        .set_faults(tower_chaos::http::HttpFaultSet::new().with(rule.clone()))
        .unwrap_err();
    let at_build = HttpChaosLayer::builder("api")
        .seed(1)
        .fault(rule)
        .build()
        .unwrap_err();
    assert_eq!(at_set, at_build);
    at_build
}

#[test]
fn a_status_out_of_range_is_refused_at_build() {
    assert_eq!(
        refused_at_build(SyntheticResponse::new(1000)).to_string(),
        "invalid `response.status` = 1000: must be within 100..=999"
    );
    assert!(
        HttpChaosLayer::builder("api")
            .fault(SyntheticResponse::new(599))
            .build()
            .is_ok()
    );
}

#[test]
fn an_invalid_aws_error_type_is_refused_at_build() {
    assert_eq!(
        refused_at_build(SyntheticResponse::aws_json(StatusCode::BAD_REQUEST, "a\nb", "m")).to_string(),
        "invalid `aws.error_type` = \"a\\nb\": must be a non-empty header value"
    );
}

#[test]
fn an_invalid_s3_code_is_refused_at_build_and_the_body_stays_well_formed() {
    let bad = SyntheticResponse::s3_xml(StatusCode::FORBIDDEN, "<Denied>", "m");
    let body = std::str::from_utf8(bad.body_bytes()).unwrap();
    assert!(body.contains("<Code>&lt;Denied&gt;</Code>"), "{body}");
    assert_eq!(
        refused_at_build(bad).to_string(),
        "invalid `s3.code` = \"<Denied>\": must be non-empty ASCII letters and digits"
    );
}

#[test]
fn an_invalid_header_is_refused_at_build() {
    assert_eq!(
        refused_at_build(SyntheticResponse::bad_gateway().header_str("via", "a\rb")).to_string(),
        "invalid `response.header` = \"a\\rb\": not a valid header value"
    );
}

#[test]
fn a_zero_body_throttle_is_refused_at_build() {
    assert_eq!(
        refused_at_build(BodyFault::throttle(0).with_truncate_after(10)).to_string(),
        "invalid `body.throttle` = 0: must be at least 1 byte per second"
    );
}

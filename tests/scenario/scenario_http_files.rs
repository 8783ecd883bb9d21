//! The `http` tables of scenario files: the same scenario in TOML, YAML
//! and JSON, rehearsed against an axum server on loopback behind the
//! target's `HttpChaosLayer` (statuses with `Retry-After`, per-operation
//! failures, AWS, S3 and gRPC errors, keyed cells, body and connection
//! faults), and one bad table per kind of error, each naming line, column
//! and field.
#![cfg(all(feature = "serde", feature = "http"))]

use crate::support;
use crate::support::scenario as scenario_support;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use tokio::time::{Instant, sleep_until};
use tower_chaos::http::HttpChaosLayer;
use tower_chaos::scenario::{Format, Rehearsal, Scenario};
use tower_chaos::{FaultKind, Target};

use scenario_support::{BadValue, assert_bad_table, assert_bad_value, load, load_in_three_formats};

const MIN: Duration = Duration::from_secs(60);

#[test]
fn the_same_http_scenario_in_three_formats() {
    let toml = load_in_three_formats("http");
    assert_eq!(toml.targets(), ["api"]);
    assert_eq!(toml.phases().len(), 6);
    // An unconditional 429 on every request: the target is down. A fault
    // behind a matcher or a count is not.
    assert!(toml.phase("throttled").unwrap().is_down());
    for phase in ["writes-down", "aws-throttling", "s3-slow-down", "tenants"] {
        assert!(!toml.phase(phase).unwrap().is_down(), "{phase}");
    }
}

#[derive(Debug)]
struct Call {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Result<String, String>,
}

async fn call(client: &reqwest::Client, request: reqwest::RequestBuilder) -> Result<Call, String> {
    let response = client
        .execute(request.build().unwrap())
        .await
        .map_err(|e| support::chain(&e))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.map_err(|e| support::chain(&e));
    Ok(Call {
        status,
        headers,
        body,
    })
}

#[tokio::test(start_paused = true)]
async fn http_tables_rehearse_against_a_real_server() {
    let scenario = load("http.toml");
    let api = Target::builder("api").seed(11).build().unwrap();
    let rehearsal = Rehearsal::new(&scenario).target(&api);
    rehearsal.check().unwrap();
    let addr = support::serve(
        Router::new()
            .fallback(|| async { "hello" })
            .layer(HttpChaosLayer::for_target(&api)),
    )
    .await;
    let run = tokio::spawn(rehearsal.run());
    let start = Instant::now();
    let client = support::reqwest_h1();
    let url = |path: &str| format!("http://{addr}{path}");
    let get = |path: &str| client.get(url(path));

    // Before: healthy.
    let ok = call(&client, get("/items/1")).await.unwrap();
    assert_eq!((ok.status, ok.body.as_deref()), (200, Ok("hello")));

    // 1:30, `throttled`: 429 with Retry-After and the extra header.
    sleep_until(start + MIN + MIN / 2).await;
    let r = call(&client, get("/items/1")).await.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.headers["retry-after"], "3");
    assert_eq!(r.headers["x-ratelimit-remaining"], "0");

    // 2:30, `writes-down`: PUT and POST (written "post") under /items/
    // fail; GET, and PUT elsewhere, pass.
    sleep_until(start + 2 * MIN + MIN / 2).await;
    assert_eq!(
        call(&client, client.put(url("/items/1"))).await.unwrap().status,
        503
    );
    assert_eq!(
        call(&client, client.post(url("/items/2"))).await.unwrap().status,
        503
    );
    assert_eq!(call(&client, get("/items/1")).await.unwrap().status, 200);
    assert_eq!(
        call(&client, client.put(url("/other"))).await.unwrap().status,
        200
    );

    // 3:30, `aws-throttling`: the first two requests under /items/ get a
    // ThrottlingException, then they pass; a request with `x-bad-key` gets
    // the ValidationException with its message.
    sleep_until(start + 3 * MIN + MIN / 2).await;
    for _ in 0..2 {
        let r = call(&client, get("/items/1")).await.unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.headers["x-amzn-errortype"], "ThrottlingException");
    }
    assert_eq!(call(&client, get("/items/1")).await.unwrap().status, 200);
    let r = call(&client, get("/").header("x-bad-key", "1")).await.unwrap();
    assert_eq!(r.headers["x-amzn-errortype"], "ValidationException");
    assert_eq!(
        r.body.as_deref(),
        Ok(r#"{"__type":"ValidationException","message":"bad key"}"#)
    );

    // 4:30, `s3-slow-down`: GET /items/1 only, S3 XML with Retry-After.
    sleep_until(start + 4 * MIN + MIN / 2).await;
    let r = call(&client, get("/items/1")).await.unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["retry-after"], "1");
    assert!(r.body.unwrap().contains("<Code>SlowDown</Code>"));
    assert_eq!(call(&client, get("/items/2")).await.unwrap().status, 200);

    // 5:30, `grpc-unavailable`: trailers-only UNAVAILABLE for pkg.Items;
    // pkg.Other/Get is 2 s late.
    sleep_until(start + 5 * MIN + MIN / 2).await;
    let grpc = |path: &str| client.post(url(path)).header("content-type", "application/grpc");
    let r = call(&client, grpc("/pkg.Items/List")).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["grpc-status"], "14");
    assert_eq!(r.headers["grpc-message"], "region draining");
    let t = Instant::now();
    let r = call(&client, grpc("/pkg.Other/Get")).await.unwrap();
    assert!(r.headers.get("grpc-status").is_none());
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());

    // 6:10, `tenants`: a 500 for about half of the tenants in region eu,
    // the same answer for the same tenant; other regions pass.
    sleep_until(start + 6 * MIN + MIN / 6).await;
    let mut by_tenant = BTreeMap::new();
    for round in 0..2 {
        for tenant in 0..20 {
            let request = get("/items/1")
                .header("x-tenant", format!("t{tenant}"))
                .header("x-region", "eu");
            let status = call(&client, request).await.unwrap().status;
            let first = *by_tenant.entry(tenant).or_insert(status);
            assert_eq!(first, status, "tenant t{tenant}, round {round}");
        }
    }
    let failing = by_tenant.values().filter(|s| **s == 500).count();
    assert!((3..=17).contains(&failing), "{by_tenant:?}");
    let us = get("/items/1").header("x-tenant", "t1").header("x-region", "us");
    assert_eq!(call(&client, us).await.unwrap().status, 200);
    // The body fault's window opens 30 s into the phase: the body is cut
    // after 4 of its 5 bytes, and reading it fails.
    assert_eq!(
        call(&client, get("/")).await.unwrap().body.as_deref(),
        Ok("hello")
    );
    sleep_until(start + 6 * MIN + MIN * 2 / 3).await;
    let cut = call(&client, get("/")).await.unwrap();
    assert_eq!(cut.status, 200);
    assert!(cut.body.unwrap_err().contains("end of file"), "a cut body");
    // One dropped connection (budget 1), then DELETE passes. On a fresh
    // connection: over a pooled one, hyper retries a request whose
    // connection closed before answering, and the drop would not show.
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let dropped = call(&fresh, fresh.delete(url("/items/1"))).await.unwrap_err();
    assert!(dropped.contains("connection closed"), "{dropped}");
    assert_eq!(
        call(&fresh, fresh.delete(url("/items/1"))).await.unwrap().status,
        200
    );

    let report = run.await.unwrap().unwrap();
    let injected = |phase: &str| report.phase(phase).unwrap().provider.injected.clone();
    assert_eq!(injected("throttled"), [(FaultKind::Status, 1)]);
    assert_eq!(injected("writes-down"), [(FaultKind::Status, 2)]);
    assert_eq!(injected("aws-throttling"), [(FaultKind::Status, 3)]);
    assert_eq!(injected("s3-slow-down"), [(FaultKind::Status, 1)]);
    assert_eq!(
        injected("grpc-unavailable"),
        [(FaultKind::Latency, 1), (FaultKind::GrpcStatus, 1)]
    );
    let tenants = injected("tenants");
    assert!(
        tenants.contains(&(FaultKind::Status, 2 * failing as u64)),
        "{tenants:?}"
    );
    assert!(tenants.contains(&(FaultKind::ResponseBody, 1)), "{tenants:?}");
    assert!(tenants.contains(&(FaultKind::DropConnection, 1)), "{tenants:?}");
    // The `throttled` phase counts as down: one request reached it.
    assert_eq!(report.target("api").unwrap().seen_while_down, Some(1));
}

#[test]
fn one_bad_http_table_per_error_kind_names_line_column_and_field() {
    // Values checked where they are read: line 6 holds the first field of
    // the table, line 7 the second.
    let at_value: &[BadValue<'_>] = &[
        (
            "fault = \"teapot\"",
            6,
            9,
            "fault",
            "unknown variant `teapot`, expected one of `status`, `aws_error`",
        ),
        (
            "fault = \"status\"\nstatus = 700",
            7,
            10,
            "status",
            "expected an HTTP status within 100..=599",
        ),
        (
            "fault = \"status\"\nstatus = 503\nmethod = \"GE T\"",
            8,
            10,
            "method",
            "expected an HTTP method",
        ),
        (
            "fault = \"status\"\nstatus = 503\npath = \"items\"",
            8,
            8,
            "path",
            "\"items\"",
        ),
        (
            "fault = \"grpc\"\ncode = \"nope\"",
            7,
            8,
            "code",
            "expected a gRPC code",
        ),
        (
            "fault = \"grpc\"\ncode = 17",
            7,
            8,
            "code",
            "expected a gRPC code",
        ),
        (
            "fault = \"status\"\nstatus = 503\nheader = \"bad header\"",
            8,
            10,
            "header",
            "not a valid header name",
        ),
        (
            "fault = \"status\"\nstatus = 503\nheaders = { x-a = \"\\u0007\" }",
            8,
            19,
            "headers.x-a",
            "an HTTP header value",
        ),
        (
            "fault = \"status\"\nstatus = 503\ngrpc_method = \"pkg.Items\"",
            8,
            15,
            "grpc_method",
            "service/method",
        ),
        (
            "fault = \"status\"\nstatus = 503\nrate = 2",
            8,
            8,
            "rate",
            "expected a rate within 0.0..=1.0",
        ),
        (
            "fault = \"status\"\nstatu = 503",
            7,
            1,
            "statu",
            "unknown field `statu`, expected one of",
        ),
    ];
    for &(table, line, column, field, message) in at_value {
        let msg = assert_bad_value("http", (table, line, column, field, message));
        assert!(
            msg.starts_with(&format!(
                "<TOML text>:{line}:{column}: `phases[0].http[0].{field}`"
            )),
            "{msg}"
        );
    }
    // What depends on the whole table is reported at the table.
    let at_table: &[(&str, &str)] = &[
        (
            "fault = \"status\"",
            "a `status` fault needs `status` (e.g. status = 503)",
        ),
        (
            "fault = \"status\"\nstatus = 503\nlatency = \"1s\"",
            "`latency` applies to latency faults, not `status`",
        ),
        (
            "fault = \"latency\"\nlatency = \"1s\"\nretry_after = \"1s\"",
            "`retry_after` applies to status, aws_error, s3_error faults, not `latency`",
        ),
        (
            "fault = \"aws_error\"\nerror = \"NoSuchThing\"",
            "`NoSuchThing` has no usual status: give `status`",
        ),
        ("fault = \"aws_error\"", "an `aws_error` fault needs `error`"),
        (
            "fault = \"s3_error\"\nerror = \"Slow-Down\"\nstatus = 503",
            "\"Slow-Down\": must be non-empty ASCII letters and digits",
        ),
        (
            "fault = \"body\"\nbody = { truncate_after = 1, abort_after = 2 }",
            "a body fault has one of",
        ),
        (
            "fault = \"body\"\nbody = { delay_first_byte = \"0s\" }",
            "a body fault needs one of",
        ),
        (
            "fault = \"drop_connection\"\nwindow = { from = \"2m\", to = \"1m\" }",
            "`window.from` (2m) is after `window.to` (1m)",
        ),
    ];
    for (table, message) in at_table {
        let (l, msg) = assert_bad_table("http", table, message);
        assert!(l.is_some_and(|l| l >= 5), "{table}: {msg}");
    }
}

#[test]
fn bad_http_tables_in_yaml_and_json_name_line_column_and_field() {
    let yaml = "name: x\nphases:\n  - target: api\n    for: 1m\n    http:\n      - fault: status\n        status: 99\n";
    assert_fails_at(yaml, Format::Yaml, (7, "phases[0].http[0].status"), "100..=599");

    let json = r#"{"name": "x", "phases": [{"target": "api", "for": "1m",
  "http": [{"fault": "grpc", "code": "UNAVAILABLE", "method": ["GET", "P UT"]}]}]}"#;
    assert_fails_at(json, Format::Json, (2, "phases[0].http[0].method[1]"), "\"P UT\"");
}

/// Checks that `text` fails to load at `(line, field)`, saying `message`.
fn assert_fails_at(text: &str, format: Format, (line, field): (usize, &str), message: &str) {
    let err = Scenario::parse(text, format).unwrap_err();
    assert_eq!((err.line(), err.field()), (Some(line), Some(field)), "{err}");
    assert!(err.to_string().contains(message), "{err}");
}

#[test]
fn bad_matchers_in_yaml_are_reported_at_the_value() {
    let cases = [
        ("path: items", 15, "path", "must start with `/`"),
        (
            "method: [GET, 'P UT']",
            23,
            "method[1]",
            "expected an HTTP method",
        ),
        ("header: 'bad header'", 17, "header", "not a valid header name"),
        (
            "keyed: { header: 'x y', rate: 0.5 }",
            26,
            "keyed.header",
            "expected an HTTP header name",
        ),
    ];
    for (line, column, field, message) in cases {
        let yaml = format!(
            "name: x\nphases:\n  - target: api\n    for: 1m\n    http:\n      - fault: status\n        status: 503\n        {line}\n"
        );
        let err = Scenario::parse(&yaml, Format::Yaml).unwrap_err();
        assert_eq!((err.line(), err.column()), (Some(8), Some(column)), "{err}");
        assert_eq!(err.field(), Some(&*format!("phases[0].http[0].{field}")), "{err}");
        assert!(err.to_string().contains(message), "{err}");
    }
}

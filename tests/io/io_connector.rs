//! `ChaosConnectorLayer` over hyper-util's `HttpConnector`, driven by
//! hyper-util's legacy `Client` and by tonic, against an axum app on
//! loopback in the same runtime.
#![cfg(feature = "hyper")]

use crate::support::io as io_support;

use std::error::Error as _;
use std::io;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{HttpConnector, HttpInfo};
use hyper_util::rt::TokioExecutor;
use tokio::time::{Instant, timeout};
use tower::Layer;
use tower_chaos::io::{
    ChaosConnector, ChaosConnectorLayer, ChaosListener, ConnFault, ConnFaultSet, ConnInfo, Direction,
    DnsFailure, Onset, injected_fault,
};
use tower_chaos::{FaultKind, Rule, Target, Trigger};

use io_support::{
    BIG, app, assert_refused_connect, conn_target, get, hello_twice, io_source, pattern, serve_app,
    slow_connect_and_response_latency, uri,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type HttpClient = Client<ChaosConnector<HttpConnector>, Empty<Bytes>>;

fn target(rules: Vec<Rule<ConnFault, ConnInfo>>) -> Target {
    conn_target("backend", 9, rules)
}

/// A target with `rules` and a hyper client connecting through it.
fn target_and_client(rules: Vec<Rule<ConnFault, ConnInfo>>) -> (Target, HttpClient) {
    let target = target(rules);
    let connector = ChaosConnectorLayer::for_target(&target).layer(HttpConnector::new());
    (target, Client::builder(TokioExecutor::new()).build(connector))
}

#[tokio::test]
async fn dns_failure_is_a_connect_error_and_nothing_connects() -> Result<(), BoxError> {
    let server = Target::builder("server").seed(1).build()?;
    let mut listener = ChaosListener::bind("127.0.0.1:0", &server).await?;
    let addr = listener.local_addr()?;
    let (target, client) = target_and_client(vec![ConnFault::dns_failure().when(Trigger::first(1))]);

    let err = client.get(uri(addr, "/")).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let io = io_source(&err);
    assert_eq!(io.kind(), io::ErrorKind::Other);
    assert!(DnsFailure::of(io).is_some());
    assert!(
        io.to_string()
            .starts_with("dns error: failed to lookup address information"),
        "{io}"
    );
    assert_eq!(injected_fault(&err), Some(FaultKind::DnsFailure));
    // No connection reached the server.
    assert!(
        timeout(Duration::from_millis(50), listener.accept())
            .await
            .is_err()
    );
    assert_eq!(server.report().seen, 0);

    // The next connection is not faulted.
    serve_app(listener).await;
    assert_eq!(get(&client, uri(addr, "/")).await?.1, "hello");
    let report = target.report();
    assert_eq!(
        (
            report.seen,
            report.faulted,
            report.injected(FaultKind::DnsFailure)
        ),
        (2, 1, 1)
    );
    Ok(())
}

#[tokio::test]
async fn dns_failure_for_one_host_only() -> Result<(), BoxError> {
    let addr = app().await?;
    let blocked = Trigger::when(|c: &ConnInfo| c.host() == Some("dynamodb.us-east-1.amazonaws.com"));
    let (_target, client) = target_and_client(vec![ConnFault::dns_failure().when(blocked)]);
    let err = client
        .get("http://dynamodb.us-east-1.amazonaws.com/".parse()?)
        .await
        .unwrap_err();
    let dns = DnsFailure::of(io_source(&err)).expect("injected");
    assert_eq!(dns.host(), Some("dynamodb.us-east-1.amazonaws.com"));
    assert_eq!(dns.target(), Some("backend"));
    assert_eq!(get(&client, uri(addr, "/")).await?.1, "hello");
    Ok(())
}

#[tokio::test]
async fn refusal_is_connection_refused() -> Result<(), BoxError> {
    let addr = app().await?;
    let (_target, client) = target_and_client(vec![ConnFault::refuse().when(Trigger::first(1))]);
    assert_refused_connect(&client, uri(addr, "/")).await;
    assert_eq!(get(&client, uri(addr, "/")).await?.1, "hello");
    Ok(())
}

#[tokio::test]
async fn truncated_body_is_an_unexpected_eof_body_error() -> Result<(), BoxError> {
    let addr = app().await?;
    let (target, client) = target_and_client(vec![
        ConnFault::truncate_after(Direction::Downstream, 2_000).into(),
    ]);
    // The head arrives whole: the response is there, its body is cut short.
    let res = client.get(uri(addr, "/big")).await?;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], BIG.to_string());
    let err = res.into_body().collect().await.unwrap_err();
    // hyper: a body error whose source is an `UnexpectedEof` io::Error
    // ("end of file before message length reached").
    let eof = err
        .source()
        .and_then(|e| e.downcast_ref::<io::Error>())
        .expect("io source");
    assert_eq!(eof.kind(), io::ErrorKind::UnexpectedEof, "{err:?}");
    assert_eq!(
        injected_fault(&err),
        None,
        "the client sees a clean close, not our marker"
    );
    assert_eq!(target.report().bytes_downstream, 2_000);
    Ok(())
}

#[tokio::test]
async fn unfaulted_connections_are_byte_exact_and_keep_connection_info() -> Result<(), BoxError> {
    let addr = app().await?;
    let (target, client) = target_and_client(vec![]);
    let res = client.get(uri(addr, "/big")).await?;
    // `Connection::connected` is forwarded: HttpConnector's info is there.
    let info = res.extensions().get::<HttpInfo>().expect("HttpInfo forwarded");
    assert_eq!(info.remote_addr(), addr);
    let body = res.into_body().collect().await?.to_bytes();
    assert_eq!(body, pattern(BIG));
    // A second request reuses the pooled connection.
    assert_eq!(get(&client, uri(addr, "/")).await?.1, "hello");
    let report = target.report();
    assert_eq!(report.seen, 1, "one connection");
    assert!(report.bytes_downstream > BIG as u64);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn slow_connect_and_latency_under_paused_time() -> Result<(), BoxError> {
    let addr = app().await?;
    let (_target, client) = target_and_client(slow_connect_and_response_latency());
    // Then pooled: no connect the second time, only the response latency.
    assert_eq!(
        hello_twice(&client, uri(addr, "/")).await?,
        [Duration::from_millis(2_300), Duration::from_millis(300)]
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn connect_hang_trips_the_client_timeout_until_switched_off() -> Result<(), BoxError> {
    let addr = app().await?;
    let (target, client) = target_and_client(vec![ConnFault::connect_hang().into()]);
    let start = Instant::now();
    let res = timeout(Duration::from_secs(10), client.get(uri(addr, "/"))).await;
    assert!(res.is_err(), "hangs");
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    // A hung connect in flight is released when the fault is switched off.
    let pending = tokio::spawn({
        let client = client.clone();
        async move { get(&client, uri(addr, "/")).await.map_err(|e| e.to_string()) }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!pending.is_finished());
    target.clear_faults::<ConnFault, ConnInfo>();
    assert_eq!(pending.await.expect("task").expect("released").1, "hello");
    assert_eq!(target.report().injected(FaultKind::ConnectHang), 2);
    Ok(())
}

#[tokio::test]
async fn reset_switched_in_fails_the_next_request_then_recovers() -> Result<(), BoxError> {
    let addr = app().await?;
    let (target, client) = target_and_client(vec![]);
    assert_eq!(get(&client, uri(addr, "/")).await?.1, "hello");
    target.set_faults(ConnFaultSet::new().with(ConnFault::reset(Direction::Both, Onset::Immediately)))?;
    let err = get(&client, uri(addr, "/")).await.unwrap_err();
    assert_eq!(injected_fault(&*err), Some(FaultKind::Reset), "{err:?}");
    target.clear_faults::<ConnFault, ConnInfo>();
    assert_eq!(get(&client, uri(addr, "/")).await?.1, "hello");
    Ok(())
}

#[tokio::test]
async fn tonic_connects_through_the_connector() -> Result<(), BoxError> {
    let addr = app().await?; // serves HTTP/2 with prior knowledge too
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?;

    let target = target(vec![ConnFault::refuse().when(Trigger::first(1))]);
    let err = endpoint
        .connect_with_connector(ChaosConnector::new(HttpConnector::new(), &target))
        .await
        .unwrap_err();
    assert_eq!(injected_fault(&err), Some(FaultKind::Refused), "{err:?}");

    let _channel = endpoint
        .connect_with_connector(ChaosConnector::new(HttpConnector::new(), &target))
        .await?;
    assert_eq!(target.report().seen, 2);
    Ok(())
}

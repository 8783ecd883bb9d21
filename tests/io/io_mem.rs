//! The in-memory network (`tower_chaos::io::mem`): an axum server through
//! `axum::serve(MemListener)` and hyper-util's legacy client over a
//! `MemConnector` under `ChaosConnectorLayer`, no socket at all (every
//! test runs on a paused clock). Faults act as over TCP, with the error
//! kinds `io_connector` and `io_axum` assert there.
#![cfg(all(feature = "hyper", feature = "axum"))]

use crate::support::io as io_support;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_chaos::io::mem::{MemConnector, MemNetwork};
use tower_chaos::io::{
    ChaosConnector, ChaosConnectorLayer, ChaosListener, ConnFault, ConnInfo, Direction, IoCounters, Onset,
    injected_fault,
};
use tower_chaos::{BoxError, FaultKind, Latency, Rule, Target, Trigger};

use io_support::{
    BIG, assert_refused_connect, conn_target, get, has_io_kind, hello_twice, io_source, pattern, serve_app,
    slow_connect_and_response_latency, uri,
};

type MemClient = Client<ChaosConnector<MemConnector>, Empty<Bytes>>;

/// The app served on `net` at 127.0.0.1:8080, through a `ChaosListener`
/// for `server` when given.
fn serve(net: &MemNetwork, server: Option<&Target>) -> SocketAddr {
    let listener = net.bind(([127, 0, 0, 1], 8080)).expect("bind");
    let addr = listener.local_addr();
    match server {
        Some(target) => {
            let listener = ChaosListener::new(listener, target);
            tokio::spawn(serve_app(listener));
        }
        None => {
            tokio::spawn(serve_app(listener));
        }
    }
    addr
}

/// A client on `net` whose connections get the faults of a target with
/// `rules`.
fn client(net: &MemNetwork, rules: Vec<Rule<ConnFault, ConnInfo>>) -> (Target, MemClient) {
    let (target, _, client) = counted_client(net, rules);
    (target, client)
}

/// As [`client`], with the counters of the connector layer.
fn counted_client(
    net: &MemNetwork,
    rules: Vec<Rule<ConnFault, ConnInfo>>,
) -> (Target, IoCounters, MemClient) {
    let target = conn_target("backend", 9, rules);
    let layer = ChaosConnectorLayer::for_target(&target);
    let counters = layer.counters().clone();
    let client = Client::builder(TokioExecutor::new()).build(layer.layer(net.connector()));
    (target, counters, client)
}

/// A reset of the responses after `bytes`.
fn reset_after(bytes: u64) -> Vec<Rule<ConnFault, ConnInfo>> {
    vec![ConnFault::reset(Direction::Downstream, Onset::AfterBytes(bytes)).into()]
}

#[tokio::test(start_paused = true)]
async fn a_request_round_trips_without_a_socket() -> Result<(), BoxError> {
    let net = MemNetwork::new();
    let addr = serve(&net, None);
    assert_eq!(addr, "127.0.0.1:8080".parse()?);
    let (target, counters, client) = counted_client(&net, vec![]);
    let start = Instant::now();
    assert_eq!(
        get(&client, uri(addr, "/")).await?,
        (hyper::StatusCode::OK, Bytes::from("hello"))
    );
    let (_, body) = get(&client, uri(addr, "/big")).await?;
    assert_eq!(body, pattern(BIG));
    assert_eq!(start.elapsed(), Duration::ZERO, "no time passes without a fault");
    // One pooled connection, every byte counted on both sides of the report.
    let report = target.report();
    assert_eq!((report.seen, report.faulted), (1, 0));
    assert!(report.bytes_downstream > BIG as u64);
    let counters = counters.snapshot();
    assert_eq!(counters.faults_total(), 0);
    assert_eq!(counters.bytes_read, report.bytes_downstream);
    assert_eq!(counters.bytes_written, report.bytes_upstream);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn refusal_is_connection_refused_and_counted_exactly() -> Result<(), BoxError> {
    let net = MemNetwork::new();
    let server = conn_target("server", 1, vec![]);
    let addr = serve(&net, Some(&server));
    let (target, client) = client(&net, vec![ConnFault::refuse().when(Trigger::first(2))]);
    for _ in 0..2 {
        assert_refused_connect(&client, uri(addr, "/")).await;
    }
    assert_eq!(get(&client, uri(addr, "/")).await?.1, "hello");
    let report = target.report();
    assert_eq!(
        (report.seen, report.faulted, report.injected(FaultKind::Refused)),
        (3, 2, 1 + 1)
    );
    // The refused connects never reached the server.
    assert_eq!(server.report().seen, 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn nothing_listening_is_a_real_refusal() -> Result<(), BoxError> {
    let net = MemNetwork::new();
    let (target, client) = client(&net, vec![]);
    let err = client.get("http://127.0.0.1:9/".parse()?).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(io_source(&err).kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(injected_fault(&err), None, "not injected");
    // A host name the network cannot place is a connect error too.
    let err = client.get("http://db.internal/".parse()?).await.unwrap_err();
    assert_eq!(io_source(&err).kind(), io::ErrorKind::InvalidInput);
    assert_eq!(target.report().faulted, 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn reset_on_accept_is_a_connection_reset_for_the_client() -> Result<(), BoxError> {
    let net = MemNetwork::new();
    let server = conn_target("server", 1, vec![ConnFault::refuse().when(Trigger::first(1))]);
    let addr = serve(&net, Some(&server));
    let (_target, client) = client(&net, vec![]);
    let err = client.get(uri(addr, "/")).await.unwrap_err();
    // As over TCP (io_axum): the connect succeeded, then the RST.
    assert!(!err.is_connect(), "{err:?}");
    assert!(has_io_kind(&err, io::ErrorKind::ConnectionReset), "{err:?}");
    assert_eq!(get(&client, uri(addr, "/")).await?.1, "hello");
    assert_eq!(server.report().injected(FaultKind::Refused), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn server_reset_mid_body_ends_the_body_after_exactly_its_bytes() -> Result<(), BoxError> {
    let net = MemNetwork::new();
    let server = conn_target("server", 1, reset_after(2_000));
    let addr = serve(&net, Some(&server));
    let (_target, counters, client) = counted_client(&net, vec![]);
    let res = client.get(uri(addr, "/big")).await?;
    assert_eq!(res.status(), 200);
    let err = res.into_body().collect().await.unwrap_err();
    // hyper ends a body whose connection failed this way, over TCP too.
    assert_eq!(format!("{err:?}"), r#"hyper::Error(Body, "connection error")"#);
    assert_eq!(
        injected_fault(&err),
        None,
        "the peer of a reset sees an unmarked reset"
    );
    // Every byte the server sent before the reset reached the client.
    assert_eq!(server.report().bytes_downstream, 2_000);
    assert_eq!(counters.snapshot().bytes_read, 2_000);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn server_reset_is_a_connection_reset_after_its_bytes() -> Result<(), BoxError> {
    let net = MemNetwork::new();
    let server = conn_target("server", 1, reset_after(5));
    let mut listener = ChaosListener::new(net.bind(([127, 0, 0, 1], 0))?, &server);
    let mut client = net.connect(listener.local_addr()?)?;
    let (mut conn, peer) = listener.accept().await?;
    assert_eq!(peer, client.local_addr());
    let _ = conn.write_all(b"hello world").await;
    let mut got = [0; 5];
    client.read_exact(&mut got).await?;
    assert_eq!(&got, b"hello");
    let err = client.read(&mut [0; 16]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(
        client.write(b"x").await.unwrap_err().kind(),
        io::ErrorKind::ConnectionReset
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn client_reset_mid_body_is_a_body_error_counted_once() -> Result<(), BoxError> {
    let net = MemNetwork::new();
    let addr = serve(&net, None);
    let (target, counters, client) = counted_client(&net, reset_after(2_000));
    let res = client.get(uri(addr, "/big")).await?;
    assert_eq!(res.status(), 200);
    let err = res.into_body().collect().await.unwrap_err();
    assert_eq!(format!("{err:?}"), r#"hyper::Error(Body, "connection error")"#);
    let report = target.report();
    assert_eq!((report.seen, report.injected(FaultKind::Reset)), (1, 1));
    assert_eq!(report.bytes_downstream, 2_000);
    assert_eq!(counters.snapshot().fault(FaultKind::Reset), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn latency_and_slow_connect_are_exact_on_the_paused_clock() -> Result<(), BoxError> {
    let net = MemNetwork::new();
    let server = conn_target(
        "server",
        1,
        vec![ConnFault::latency(Direction::Upstream, Latency::fixed(Duration::from_millis(250))).into()],
    );
    let addr = serve(&net, Some(&server));
    let (_target, client) = client(&net, slow_connect_and_response_latency());
    // 2 s connect, 250 ms for the request, 300 ms for the response; then
    // pooled: no connect, only the latencies, to the nanosecond.
    assert_eq!(
        hello_twice(&client, uri(addr, "/")).await?,
        [Duration::from_millis(2_550), Duration::from_nanos(550_000_000)]
    );
    Ok(())
}

/// Which of 32 connects a target with `seed` refuses at rate ½.
async fn refused_connects(seed: u64) -> Vec<usize> {
    let net = MemNetwork::new();
    let _listener = net.bind(([127, 0, 0, 1], 8080)).expect("bind");
    let target = Target::builder("backend").seed(seed).build().expect("target");
    target
        .set_faults(tower_chaos::io::ConnFaultSet::new().with(ConnFault::refuse().when(Trigger::rate(0.5))))
        .expect("faults");
    let mut connector = ChaosConnector::new(net.connector(), &target);
    let mut refused = Vec::new();
    for i in 0..32 {
        let call = connector
            .ready()
            .await
            .expect("ready")
            .call(uri(_listener.local_addr(), "/"));
        if call.await.is_err() {
            refused.push(i);
        }
    }
    assert_eq!(target.report().injected(FaultKind::Refused), refused.len() as u64);
    refused
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_refuses_the_same_connects() {
    let first = refused_connects(21).await;
    assert_eq!(refused_connects(21).await, first);
    assert!(!first.is_empty() && first.len() < 32, "{first:?}");
    assert_ne!(refused_connects(22).await, first);
}

#[tokio::test(start_paused = true)]
async fn address_triggers_see_the_fake_addresses() -> Result<(), BoxError> {
    let net = MemNetwork::new();
    let addr = serve(&net, None);
    let other = net.bind(([127, 0, 0, 1], 8081))?;
    let only_8081 = Trigger::when(|c: &ConnInfo| c.host() == Some("127.0.0.1") && c.port() == Some(8081));
    let (target, client) = client(&net, vec![ConnFault::refuse().when(only_8081)]);
    let err = client.get(uri(other.local_addr(), "/")).await.unwrap_err();
    assert_eq!(io_source(&err).kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(get(&client, uri(addr, "/")).await?.1, "hello");
    assert_eq!(target.report().injected(FaultKind::Refused), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_buffer_size_bounds_what_a_write_takes() -> Result<(), BoxError> {
    let net = MemNetwork::with_buffer_size(4)?;
    let mut listener = net.bind(([127, 0, 0, 1], 0))?;
    let mut client = net.connect(listener.local_addr())?;
    let (mut server, _) = listener.accept().await?;
    assert_eq!(client.write(b"hello world").await?, 4);
    let mut got = [0; 4];
    server.read_exact(&mut got).await?;
    assert_eq!(&got, b"hell");
    // A bound address is taken until its listener is dropped.
    let addr = listener.local_addr();
    assert_eq!(net.bind(addr).unwrap_err().kind(), io::ErrorKind::AddrInUse);
    drop(listener);
    assert_eq!(
        net.connect(addr).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    Ok(())
}

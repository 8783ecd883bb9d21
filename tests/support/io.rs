//! Helpers for the connection-level tests: TCP pairs, loopback servers
//! (per connection, one connection, echo), a closed port, reading to the
//! end, and an axum app on loopback.
#![allow(dead_code, unreachable_pub)]

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A connected pair of TCP streams on loopback: `(client, server)`.
pub async fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let client = client?;
    let (server, _) = accepted?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    Ok((client, server))
}

/// Spawns a server on loopback (same runtime) that hands each connection,
/// Nagle off, to a task of its own running `handle`; returns its address.
pub async fn serve_each<F, Fut>(handle: F) -> io::Result<std::net::SocketAddr>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            // Nagle would hold small segments for a real-time ACK, and a
            // paused clock jumps ahead meanwhile.
            let _ = s.set_nodelay(true);
            tokio::spawn(handle(s));
        }
    });
    Ok(addr)
}

/// Spawns a loopback server (same runtime) that accepts one connection and
/// runs `handle` on it; returns its address and the task.
pub async fn serve_once<F, Fut, T>(
    handle: F,
) -> io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<io::Result<T>>)>
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let (s, _) = listener.accept().await?;
        drop(listener);
        handle(s).await
    });
    Ok((addr, task))
}

/// A loopback address that nothing listens on (bound, then closed).
pub async fn closed_port() -> io::Result<std::net::SocketAddr> {
    TcpListener::bind("127.0.0.1:0").await?.local_addr()
}

/// Spawns an echo server on loopback (same runtime) and returns its address.
pub async fn echo_server() -> io::Result<std::net::SocketAddr> {
    serve_each(|mut s| async move {
        let mut buf = vec![0; 16 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    })
    .await
}

/// Reads `r` to its end.
pub async fn read_all<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    r.read_to_end(&mut all).await?;
    Ok(all)
}

/// Deterministic test bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Connects to `addr` with Nagle off (see `echo_server`).
pub async fn connect(addr: std::net::SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A small axum app on loopback, served in this runtime: `/` says hello,
/// `/big` answers 10 000 bytes with a content length. Serves through
/// `listener` (plain or chaotic) until the runtime ends.
pub async fn serve_app<L>(listener: L)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "hello" }))
        .route("/big", axum::routing::get(|| async { pattern(BIG) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// Size of `/big`.
pub const BIG: usize = 10_000;

/// Binds a plain listener on loopback and serves the app on it.
pub async fn app() -> io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    serve_app(listener).await;
    Ok(addr)
}

/// Whether `err`'s source chain holds an `io::Error` of `kind`.
pub fn has_io_kind(err: &(dyn std::error::Error + 'static), kind: io::ErrorKind) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == kind) {
            return true;
        }
        next = e.source();
    }
    false
}

/// The `io::Error` a hyper-util client's error carries from its connector.
pub fn io_source(err: &hyper_util::client::legacy::Error) -> &io::Error {
    std::error::Error::source(err)
        .and_then(|e| e.downcast_ref::<io::Error>())
        .expect("the connector's io::Error is the source")
}

/// GETs `uri` with a hyper-util client and collects the body.
pub async fn get<C>(
    client: &hyper_util::client::legacy::Client<C, http_body_util::Empty<hyper::body::Bytes>>,
    uri: hyper::Uri,
) -> Result<(hyper::StatusCode, hyper::body::Bytes), tower::BoxError>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    use http_body_util::BodyExt;
    let res = client.get(uri).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// `http://{addr}{path}`.
pub fn uri(addr: std::net::SocketAddr, path: &str) -> hyper::Uri {
    format!("http://{addr}{path}").parse().expect("uri")
}

/// A target named `name` with `seed` holding the connection faults `rules`.
#[cfg(feature = "io")]
pub fn conn_target(
    name: &str,
    seed: u64,
    rules: Vec<tower_chaos::Rule<tower_chaos::io::ConnFault, tower_chaos::io::ConnInfo>>,
) -> tower_chaos::Target {
    let target = tower_chaos::Target::builder(name)
        .seed(seed)
        .build()
        .expect("target");
    let faults = rules
        .into_iter()
        .fold(tower_chaos::io::ConnFaultSet::new(), |set, r| set.with(r));
    target.set_faults(faults).expect("valid faults");
    target
}

/// GETs `uri` twice (the second on the pooled connection), checks that
/// both answer `hello`, and returns how long each took on tokio's clock.
pub async fn hello_twice<C>(
    client: &hyper_util::client::legacy::Client<C, http_body_util::Empty<hyper::body::Bytes>>,
    uri: hyper::Uri,
) -> Result<[std::time::Duration; 2], tower::BoxError>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let mut took = [std::time::Duration::ZERO; 2];
    for t in &mut took {
        let start = tokio::time::Instant::now();
        assert_eq!(get(client, uri.clone()).await?.1, "hello");
        *t = start.elapsed();
    }
    Ok(took)
}

/// A 2 s slow connect and 300 ms of latency on the responses.
#[cfg(feature = "io")]
pub fn slow_connect_and_response_latency()
-> Vec<tower_chaos::Rule<tower_chaos::io::ConnFault, tower_chaos::io::ConnInfo>> {
    use std::time::Duration;
    use tower_chaos::Latency;
    use tower_chaos::io::{ConnFault, Direction};
    vec![
        ConnFault::slow_connect(Latency::fixed(Duration::from_secs(2))).into(),
        ConnFault::latency(Direction::Downstream, Latency::fixed(Duration::from_millis(300))).into(),
    ]
}

/// GETs `uri` and checks that it fails as an injected connector refusal
/// does: a connect error whose source is a marked `ConnectionRefused`.
#[cfg(feature = "io")]
pub async fn assert_refused_connect<C>(
    client: &hyper_util::client::legacy::Client<C, http_body_util::Empty<hyper::body::Bytes>>,
    uri: hyper::Uri,
) where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    use tower_chaos::io::InjectedIoError;
    let err = client.get(uri).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let io = io_source(&err);
    assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(
        InjectedIoError::of(io).map(InjectedIoError::fault),
        Some(tower_chaos::FaultKind::Refused)
    );
}

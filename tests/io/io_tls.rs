//! TLS faults through the `Proxy` (feature `tls`): hyper-util's legacy
//! client over tokio-rustls (ring) and raw tokio-rustls connections, against
//! the plain axum app on loopback behind a TLS-terminating proxy, all in one
//! runtime. (reqwest is left out: its `rustls` feature builds aws-lc-rs, and
//! `rustls-no-provider` makes every other reqwest client in the suite panic
//! without a process-wide provider.)
#![cfg(feature = "tls")]

use crate::support::io as io_support;
use crate::support::tls::{connect, connect_as, fault_seen, presented};

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper::body::Bytes;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tower_chaos::io::{
    ConnFault, ConnFaultSet, ConnInfo, ConnTrigger, Proxy, TestCa, TlsFault, TlsTerminator,
};
use tower_chaos::{FaultKind, Target, Trigger};

use io_support::app;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client TLS connection for hyper-util's legacy client; its
/// `Connected` carries the server's certificate ([`PeerCertificate`]).
struct TlsConn(TokioIo<tokio_rustls::client::TlsStream<TcpStream>>);

/// The certificate the server presented, in a response's extensions.
#[derive(Debug, Clone, PartialEq)]
struct PeerCertificate(Option<CertificateDer<'static>>);

impl Connection for TlsConn {
    fn connected(&self) -> Connected {
        let (_, conn) = self.0.inner().get_ref();
        let cert = conn.peer_certificates().and_then(|c| c.first().cloned());
        Connected::new().extra(PeerCertificate(cert))
    }
}

impl Read for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl Write for TlsConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Connects over TCP to the URI's host and port, then TLS with `config`
/// (the server name is the URI's host).
async fn tls_connect(config: Arc<ClientConfig>, uri: Uri) -> io::Result<TlsConn> {
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']).to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    let name = ServerName::try_from(host).map_err(io::Error::other)?;
    let tls = TlsConnector::from(config).connect(name, tcp).await?;
    Ok(TlsConn(TokioIo::new(tls)))
}

type Connect = Pin<Box<dyn Future<Output = io::Result<TlsConn>> + Send>>;
type HttpsConnector = tower::util::BoxCloneSyncService<Uri, TlsConn, io::Error>;
type HttpsClient = Client<HttpsConnector, Empty<Bytes>>;

/// hyper-util's pooled legacy client, trusting `ca`.
fn hyper_client(ca: &TestCa) -> Result<HttpsClient, BoxError> {
    let config = Arc::new(ca.client_config()?);
    let connector =
        tower::service_fn(move |uri: Uri| -> Connect { Box::pin(tls_connect(Arc::clone(&config), uri)) });
    Ok(Client::builder(TokioExecutor::new()).build(HttpsConnector::new(connector)))
}

/// GETs `/` through `client`: the body and the certificate presented.
async fn get(
    client: &HttpsClient,
    proxy: &Proxy,
) -> Result<(Bytes, PeerCertificate), hyper_util::client::legacy::Error> {
    get_uri(client, url(proxy)).await
}

async fn get_uri(
    client: &HttpsClient,
    uri: Uri,
) -> Result<(Bytes, PeerCertificate), hyper_util::client::legacy::Error> {
    let res = client.get(uri).await?;
    let cert = res
        .extensions()
        .get::<PeerCertificate>()
        .cloned()
        .expect("the connector's extra");
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Ok((body, cert))
}

fn url(proxy: &Proxy) -> Uri {
    format!("https://{}/", proxy.local_addr()).parse().expect("uri")
}

/// A plain app, a CA, and a TLS-terminating proxy for target `api` in
/// front of the app, with `faults`.
async fn tls_proxy(faults: ConnFaultSet) -> Result<(Target, TestCa, Proxy), BoxError> {
    let ca = TestCa::new()?;
    let target = Target::builder("api").seed(5).build()?;
    target.set_faults(faults)?;
    let proxy = Proxy::spawn_tls(app().await?, &target, TlsTerminator::builder(&ca).build()?)?;
    Ok((target, ca, proxy))
}

fn on_index(i: u64) -> ConnTrigger {
    Trigger::when(move |c: &ConnInfo| c.index() == i)
}

#[tokio::test]
async fn each_certificate_fault_is_the_clients_rustls_error() -> Result<(), BoxError> {
    let (target, ca, proxy) = tls_proxy(
        ConnFaultSet::new()
            .with(ConnFault::tls(TlsFault::ExpiredCertificate).when(on_index(0)))
            .with(ConnFault::tls(TlsFault::WrongHost).when(on_index(1)))
            .with(ConnFault::tls(TlsFault::UntrustedIssuer).when(on_index(2))),
    )
    .await?;
    let client = hyper_client(&ca)?;

    // Each connection fails with the client's own rustls error for it.
    for fault in [
        TlsFault::ExpiredCertificate,
        TlsFault::WrongHost,
        TlsFault::UntrustedIssuer,
    ] {
        let err = get(&client, &proxy).await.unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        assert_eq!(fault_seen(&err), Some(fault), "{err:?}");
    }

    // The fourth connection gets the real certificate and the plain app.
    let (body, cert) = get(&client, &proxy).await?;
    assert_eq!(body, "hello");
    assert_eq!(cert.0, Some(proxy.tls().expect("tls").certificate()));

    let report = target.report();
    assert_eq!((report.seen, report.faulted), (4, 3));
    for kind in [
        FaultKind::TlsExpiredCertificate,
        FaultKind::TlsWrongHost,
        FaultKind::TlsUntrustedIssuer,
    ] {
        assert_eq!(report.injected(kind), 1, "{kind}");
        assert_eq!(proxy.counters().snapshot().fault(kind), 1, "{kind}");
    }
    let stats = proxy.stats();
    assert_eq!(
        (stats.accepted, stats.tls_failed, stats.upstream_failures),
        (4, 3, 0)
    );
    Ok(())
}

#[tokio::test]
async fn tls_rules_are_not_offered_to_a_proxy_without_tls() -> Result<(), BoxError> {
    let target = Target::builder("plain").seed(5).build()?;
    target.set_faults(ConnFaultSet::new().with(ConnFault::tls(TlsFault::Alert)))?;
    let proxy = Proxy::spawn(io_support::echo_server().await?, &target)?;
    let mut conn = io_support::connect(proxy.local_addr()).await?;
    conn.write_all(b"ping").await?;
    let mut got = [0; 4];
    conn.read_exact(&mut got).await?;
    assert_eq!(&got, b"ping");
    let report = target.report();
    assert_eq!((report.seen, report.faulted, report.total_injected()), (1, 0, 0));
    Ok(())
}

#[tokio::test]
async fn an_alert_is_the_clients_handshake_failure() -> Result<(), BoxError> {
    let (target, ca, proxy) =
        tls_proxy(ConnFaultSet::new().with(ConnFault::tls(TlsFault::Alert).when(Trigger::first(1)))).await?;
    let client = hyper_client(&ca)?;
    let err = get(&client, &proxy).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // `rustls::Error::AlertReceived(AlertDescription::HandshakeFailure)`.
    assert_eq!(fault_seen(&err), Some(TlsFault::Alert), "{err:?}");
    assert_eq!(get(&client, &proxy).await?.0, "hello");
    assert_eq!(target.report().injected(FaultKind::TlsAlert), 1);
    assert_eq!(proxy.counters().snapshot().fault(FaultKind::TlsAlert), 1);
    // The proxy refused the handshake; no client rejected a certificate.
    assert_eq!(proxy.stats().tls_failed, 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_stalled_handshake_trips_the_clients_timeout_until_switched_off() -> Result<(), BoxError> {
    let (target, ca, proxy) = tls_proxy(ConnFaultSet::new().with(ConnFault::tls(TlsFault::Stall))).await?;
    let client = hyper_client(&ca)?;
    let start = Instant::now();
    let timed_out = tokio::time::timeout(Duration::from_secs(5), get(&client, &proxy)).await;
    assert!(timed_out.is_err(), "the ClientHello is never answered");
    assert_eq!(start.elapsed(), Duration::from_secs(5));

    // A stalled handshake is held until the fault is switched off: then it
    // is decided again and proceeds.
    let uri = url(&proxy);
    let pending = tokio::spawn(async move { get_uri(&client, uri).await });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!pending.is_finished(), "stalls");
    target.clear_conn_faults();
    assert_eq!(pending.await??.0, "hello");
    assert_eq!(target.report().injected(FaultKind::TlsStall), 2);
    assert_eq!(proxy.counters().snapshot().fault(FaultKind::TlsStall), 2);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_stalled_handshake_is_released_when_its_client_leaves() -> Result<(), BoxError> {
    let (target, ca, proxy) = tls_proxy(ConnFaultSet::new().with(ConnFault::tls(TlsFault::Stall))).await?;
    let attempt = tokio::time::timeout(Duration::from_secs(10), connect(&ca, proxy.local_addr())).await;
    assert!(attempt.is_err(), "stalls");
    // The client gave up and closed: nobody is left to hold the connection for.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let stats = proxy.stats();
    assert_eq!((stats.released, stats.active, stats.tls_failed), (1, 0, 0));
    assert_eq!(target.report().injected(FaultKind::TlsStall), 1);
    Ok(())
}

#[tokio::test]
async fn pooled_connections_outlive_an_expiry_and_a_rotation_recovers() -> Result<(), BoxError> {
    let (target, ca, proxy) = tls_proxy(ConnFaultSet::new()).await?;
    let tls = proxy.tls().expect("tls").clone();
    let pooled = hyper_client(&ca)?;
    let (_, before) = get(&pooled, &proxy).await?;
    assert_eq!(before.0, Some(tls.certificate()));

    // The certificate expires: new handshakes fail, the pooled connection
    // (its handshake done before) keeps working.
    target.set_faults(ConnFaultSet::new().with(ConnFault::tls(TlsFault::ExpiredCertificate)))?;
    assert_eq!(
        get(&pooled, &proxy).await?,
        (Bytes::from("hello"), before.clone())
    );
    let fresh = hyper_client(&ca)?;
    let err = get(&fresh, &proxy).await.unwrap_err();
    assert_eq!(fault_seen(&err), Some(TlsFault::ExpiredCertificate), "{err:?}");

    // The renewed certificate rolls out: new connections get it and work.
    let renewed = tls.next_certificate();
    target.set_faults(ConnFaultSet::new().with(ConnFault::tls(TlsFault::Rotated)))?;
    assert_eq!(get(&fresh, &proxy).await?.1.0, Some(renewed.clone()));
    // The rotation completes: it is the certificate in service.
    tls.rotate()?;
    target.clear_conn_faults();
    assert_eq!(get(&hyper_client(&ca)?, &proxy).await?.1.0, Some(renewed));
    assert_eq!(
        get(&pooled, &proxy).await?.1,
        before,
        "still the first connection"
    );

    let report = target.report();
    assert_eq!(report.injected(FaultKind::TlsExpiredCertificate), 1);
    assert_eq!(report.injected(FaultKind::TlsRotated), 1);
    let stats = proxy.stats();
    assert_eq!((stats.accepted, stats.tls_failed, tls.rotations()), (4, 1, 1));
    Ok(())
}

#[tokio::test]
async fn a_staged_rotation_reaches_the_connections_its_trigger_picks() -> Result<(), BoxError> {
    let (target, ca, proxy) =
        tls_proxy(ConnFaultSet::new().with(ConnFault::tls(TlsFault::Rotated).when(Trigger::after(2))))
            .await?;
    let tls = proxy.tls().expect("tls");
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(presented(&connect(&ca, proxy.local_addr()).await?).expect("a certificate"));
    }
    let (old, new) = (tls.certificate(), tls.next_certificate());
    assert_eq!(seen, [old.clone(), old, new.clone(), new]);
    assert_eq!(target.report().injected(FaultKind::TlsRotated), 2);
    assert_eq!(proxy.counters().snapshot().fault(FaultKind::TlsRotated), 2);
    Ok(())
}

/// The certificates name the builder's hosts; a client asking for another
/// name fails as with the wrong-host fault, but nothing was injected.
#[tokio::test]
async fn certificates_name_the_hosts_the_builder_was_given() -> Result<(), BoxError> {
    let ca = TestCa::new()?;
    let target = Target::builder("api").seed(5).build()?;
    let tls = TlsTerminator::builder(&ca).host("api.internal").build()?;
    let proxy = Proxy::spawn_tls(io_support::echo_server().await?, &target, tls)?;
    let mut conn = connect_as(&ca, proxy.local_addr(), "api.internal").await?;
    conn.write_all(b"ping").await?;
    let mut got = [0; 4];
    conn.read_exact(&mut got).await?;
    assert_eq!(&got, b"ping");
    let err = connect(&ca, proxy.local_addr()).await.unwrap_err();
    assert_eq!(fault_seen(&err), Some(TlsFault::WrongHost), "{err:?}");
    let report = target.report();
    assert_eq!(
        (report.seen, report.faulted),
        (2, 0),
        "a real failure, not an injected one"
    );
    // The proxy's task reads the client's alert when it is next polled
    // (`yield_now` lets the runtime poll its IO driver first).
    for _ in 0..1000 {
        if proxy.stats().tls_failed > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(proxy.stats().tls_failed, 1);
    Ok(())
}

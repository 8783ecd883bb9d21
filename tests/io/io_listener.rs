//! `ChaosListener`: a target's connection faults on accepted connections,
//! seen by plain TCP clients. Server and clients share one runtime on
//! tokio's paused clock.
#![cfg(feature = "io")]

use crate::support::io as io_support;

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};
use tower_chaos::io::{ChaosListener, ConnFault, ConnFaultSet, ConnInfo, Direction, InjectedIoError, Onset};
use tower_chaos::{FaultKind, Latency, Rule, Target, Trigger};

use io_support::{connect, pattern, read_all};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn listener(rules: Vec<Rule<ConnFault, ConnInfo>>) -> io::Result<(Target, ChaosListener)> {
    let target = Target::builder("api").seed(5).build().expect("target");
    let mut faults = ConnFaultSet::new();
    for r in rules {
        faults = faults.with(r);
    }
    target.set_faults(faults).expect("valid faults");
    let listener = ChaosListener::bind("127.0.0.1:0", &target).await?;
    Ok((target, listener))
}

/// The target's calls seen, calls faulted and faults of `kind` injected.
fn tally(target: &Target, kind: FaultKind) -> (u64, u64, u64) {
    let report = target.report();
    (report.seen, report.faulted, report.injected(kind))
}

#[tokio::test(start_paused = true)]
async fn refuse_resets_on_accept_and_the_server_never_sees_it() -> io::Result<()> {
    let (target, mut listener) = listener(vec![ConnFault::refuse().when(Trigger::first(1))]).await?;
    let addr = listener.local_addr()?;
    let mut refused = connect(addr).await?;
    let mut served = connect(addr).await?;
    let (mut conn, peer) = listener.accept().await?;
    assert_eq!(peer, served.local_addr()?);
    assert_eq!(conn.conn_info().map(ConnInfo::index), Some(1));
    let err = refused.read(&mut [0; 1]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    served.write_all(b"hi").await?;
    let mut buf = [0; 2];
    conn.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hi");
    assert_eq!(listener.counters().snapshot().fault(FaultKind::Refused), 1);
    assert_eq!(tally(&target, FaultKind::Refused), (2, 1, 1));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn slow_connect_delays_one_connection_without_holding_up_others() -> io::Result<()> {
    let slow = ConnFault::slow_connect(Latency::fixed(Duration::from_secs(2))).when(Trigger::first(1));
    let (_target, mut listener) = listener(vec![slow]).await?;
    let addr = listener.local_addr()?;
    let start = Instant::now();
    let first = connect(addr).await?;
    let second = connect(addr).await?;
    let (_, peer) = listener.accept().await?;
    assert_eq!((peer, start.elapsed()), (second.local_addr()?, Duration::ZERO));
    let (_, peer) = listener.accept().await?;
    assert_eq!(
        (peer, start.elapsed()),
        (first.local_addr()?, Duration::from_secs(2))
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn connect_hang_holds_the_connection_until_the_target_is_switched() -> io::Result<()> {
    let (target, mut listener) = listener(vec![ConnFault::connect_hang().into()]).await?;
    let mut client = connect(listener.local_addr()?).await?;
    client.write_all(b"hello?").await?;
    let held = timeout(Duration::from_secs(30), listener.accept()).await;
    assert!(held.is_err(), "held, not handed to the server");
    // Cancelling `accept` lost nothing: switching off releases it.
    target.disable();
    let (mut conn, _) = listener.accept().await?;
    let mut buf = [0; 6];
    conn.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hello?");
    assert_eq!(listener.counters().snapshot().fault(FaultKind::ConnectHang), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn downstream_is_what_the_server_writes() -> io::Result<()> {
    let (target, mut listener) = listener(vec![
        ConnFault::truncate_after(Direction::Downstream, 10).into(),
        ConnFault::latency(Direction::Upstream, Latency::fixed(ms(100))).into(),
    ])
    .await?;
    let mut client = connect(listener.local_addr()?).await?;
    let (mut conn, _) = listener.accept().await?;
    // Upstream latency: the server reads the request 100 ms late.
    let start = Instant::now();
    client.write_all(b"GET").await?;
    let mut req = [0; 3];
    conn.read_exact(&mut req).await?;
    assert_eq!((&req, start.elapsed()), (b"GET", ms(100)));
    // Downstream truncation: the client gets 10 bytes, then EOF.
    let err = conn.write_all(&pattern(100)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    assert_eq!(
        InjectedIoError::of(&err).map(InjectedIoError::fault),
        Some(FaultKind::Truncate)
    );
    assert_eq!(read_all(&mut client).await?, &pattern(100)[..10]);
    let report = target.report();
    assert_eq!((report.bytes_upstream, report.bytes_downstream), (3, 10));
    assert_eq!(report.dropped_downstream, 90);
    Ok(())
}

#[tokio::test]
async fn reset_after_the_request_reaches_the_client_as_connection_reset() -> io::Result<()> {
    let (_target, mut listener) = listener(vec![
        ConnFault::reset(Direction::Upstream, Onset::AfterBytes(4)).into(),
    ])
    .await?;
    let mut client = connect(listener.local_addr()?).await?;
    let (mut conn, _) = listener.accept().await?;
    client.write_all(b"PING and more").await?;
    let mut got = Vec::new();
    let err = conn.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(
        (got.as_slice(), err.kind()),
        (&b"PING"[..], io::ErrorKind::ConnectionReset)
    );
    assert!(conn.is_reset());
    let err = client.read(&mut [0; 1]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn faults_switch_on_live_connections_through_the_target() -> io::Result<()> {
    let (target, mut listener) = listener(vec![]).await?;
    let mut client = connect(listener.local_addr()?).await?;
    let (mut conn, _) = listener.accept().await?;
    conn.write_all(b"one").await?;
    let mut buf = [0; 3];
    client.read_exact(&mut buf).await?;

    target
        .set_faults(ConnFaultSet::new().with(ConnFault::stall(Direction::Downstream, Onset::Immediately)))
        .expect("valid");
    let writer = tokio::spawn(async move {
        conn.write_all(b"two").await?;
        io::Result::Ok(conn)
    });
    sleep(Duration::from_secs(10)).await;
    assert!(!writer.is_finished(), "the server's write is stalled");
    assert!(
        timeout(Duration::from_secs(10), client.read_exact(&mut buf))
            .await
            .is_err()
    );

    target.clear_faults::<ConnFault, ConnInfo>();
    let _conn = writer.await.expect("writer task")?;
    client.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"two");
    assert_eq!(tally(&target, FaultKind::Stall), (1, 1, 1));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_connection_made_while_disabled_gets_its_faults_on_enable() -> io::Result<()> {
    let (target, mut listener) = listener(vec![
        ConnFault::latency(Direction::Downstream, Latency::fixed(ms(50))).into(),
    ])
    .await?;
    target.disable();
    let mut client = connect(listener.local_addr()?).await?;
    let (mut conn, _) = listener.accept().await?;
    assert_eq!(target.report().faulted, 0, "not decided while disabled");
    target.enable();
    let start = Instant::now();
    conn.write_all(b"late").await?;
    // Bytes held by write latency leave as the stream is polled: flush.
    conn.flush().await?;
    let mut buf = [0; 4];
    client.read_exact(&mut buf).await?;
    assert_eq!(start.elapsed(), ms(50));
    assert_eq!(target.report().injected(FaultKind::StreamLatency), 1);
    Ok(())
}

#[tokio::test]
async fn accepted_stream_is_a_tcp_stream_underneath() -> io::Result<()> {
    let (_target, mut listener) = listener(vec![]).await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (conn, peer) = listener.accept().await?;
    assert_eq!(conn.get_ref().map(TcpStream::peer_addr).transpose()?, Some(peer));
    assert_eq!(Some(peer), conn.conn_info().and_then(ConnInfo::peer_addr));
    assert_eq!(client.local_addr()?, peer);
    Ok(())
}

//! The loopback proxy: stream and connect faults, switched at run time.
//! Upstream, proxy and client share one runtime on tokio's paused clock.
#![cfg(feature = "io")]

mod io_support;

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout};
use tower_chaos::io::{ConnectFault, DirectionFaults, IoFault, Onset, Proxy, ProxyFaults, StreamFaults};

use io_support::{connect, echo_server, pattern};

fn stream(read: DirectionFaults, write: DirectionFaults) -> StreamFaults {
    StreamFaults::builder()
        .read(read)
        .write(write)
        .build()
        .expect("valid faults")
}

async fn roundtrip(client: &mut TcpStream, msg: &[u8]) -> io::Result<Vec<u8>> {
    client.write_all(msg).await?;
    let mut back = vec![0; msg.len()];
    client.read_exact(&mut back).await?;
    Ok(back)
}

#[tokio::test(start_paused = true)]
async fn passes_bytes_through_and_counts_them() -> io::Result<()> {
    let proxy = Proxy::spawn(echo_server().await?, ProxyFaults::none())?;
    let mut client = connect(proxy.local_addr()).await?;
    let data = pattern(200_000);
    let writer_data = data.clone();
    let (mut rd, mut wr) = client.split();
    let (w, back) = tokio::join!(async { wr.write_all(&writer_data).await }, async {
        let mut back = vec![0; 200_000];
        rd.read_exact(&mut back).await.map(|_| back)
    });
    w?;
    assert_eq!(back?, data);
    let stats = proxy.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.active, 1);
    assert_eq!(stats.bytes_upstream(), 200_000);
    assert_eq!(stats.bytes_downstream(), 200_000);
    drop(client);
    proxy.shutdown().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn downstream_latency_delays_each_reply() -> io::Result<()> {
    let faults = stream(
        DirectionFaults::new().latency(Duration::from_millis(200)),
        DirectionFaults::new(),
    );
    let proxy = Proxy::spawn(echo_server().await?, faults)?;
    let mut client = connect(proxy.local_addr()).await?;
    for _ in 0..3 {
        let start = Instant::now();
        assert_eq!(roundtrip(&mut client, b"ping").await?, b"ping");
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }
    // Switched off at run time: the same connection is fast again.
    proxy.clear();
    let start = Instant::now();
    assert_eq!(roundtrip(&mut client, b"ping").await?, b"ping");
    assert_eq!(start.elapsed(), Duration::ZERO);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn reset_reaches_the_client_as_connection_reset() -> io::Result<()> {
    let proxy = Proxy::spawn(echo_server().await?, ProxyFaults::none())?;
    let mut client = connect(proxy.local_addr()).await?;
    assert_eq!(roundtrip(&mut client, b"hi").await?, b"hi");
    proxy.set_faults(stream(
        DirectionFaults::new().reset(Onset::Immediately),
        DirectionFaults::new(),
    ));
    let err = roundtrip(&mut client, b"again").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(proxy.stats().io.fault(IoFault::Reset), 1);
    // New connections recover once the fault is off.
    proxy.clear();
    let mut client = connect(proxy.local_addr()).await?;
    assert_eq!(roundtrip(&mut client, b"ok").await?, b"ok");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn refuse_resets_new_connections() -> io::Result<()> {
    let faults = ProxyFaults::none()
        .with_connect(ConnectFault::Refuse)
        .expect("valid");
    let proxy = Proxy::spawn(echo_server().await?, faults)?;
    let mut client = connect(proxy.local_addr()).await?;
    let err = client.read(&mut [0; 8]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    let stats = proxy.stats();
    assert_eq!((stats.accepted, stats.refused), (1, 1));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn hang_holds_connections_until_switched_off() -> io::Result<()> {
    let faults = ProxyFaults::none()
        .with_connect(ConnectFault::Hang)
        .expect("valid");
    let proxy = Proxy::spawn(echo_server().await?, faults)?;
    let mut client = connect(proxy.local_addr()).await?;
    client.write_all(b"anyone?").await?;
    let mut buf = [0; 7];
    let res = timeout(Duration::from_secs(60), client.read_exact(&mut buf)).await;
    assert!(res.is_err(), "a hung connection never answers");
    assert_eq!(proxy.stats().hung, 1);
    proxy.clear();
    client.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"anyone?");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn slow_connect_delays_the_first_reply() -> io::Result<()> {
    let faults = ProxyFaults::none()
        .with_connect(ConnectFault::SlowConnect(Duration::from_secs(3)))
        .expect("valid");
    let proxy = Proxy::spawn(echo_server().await?, faults)?;
    let start = Instant::now();
    let mut client = connect(proxy.local_addr()).await?;
    assert_eq!(roundtrip(&mut client, b"x").await?, b"x");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(proxy.stats().slow_connects, 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn stall_trips_the_client_timeout_and_recovers_when_cleared() -> io::Result<()> {
    let proxy = Proxy::spawn(echo_server().await?, ProxyFaults::none())?;
    let mut client = connect(proxy.local_addr()).await?;
    assert_eq!(roundtrip(&mut client, b"one").await?, b"one");
    proxy.set_faults(stream(
        DirectionFaults::new().stall(Onset::Immediately),
        DirectionFaults::new(),
    ));
    client.write_all(b"two").await?;
    let mut buf = [0; 3];
    let res = timeout(Duration::from_secs(10), client.read_exact(&mut buf)).await;
    assert!(res.is_err(), "stalled");
    proxy.clear();
    client.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"two");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn truncate_limits_what_the_client_receives() -> io::Result<()> {
    let faults = stream(DirectionFaults::new().truncate_after(10), DirectionFaults::new());
    let proxy = Proxy::spawn(echo_server().await?, faults)?;
    let mut client = connect(proxy.local_addr()).await?;
    client.write_all(&pattern(100)).await?;
    let mut got = Vec::new();
    client.read_to_end(&mut got).await?;
    assert_eq!(got, &pattern(100)[..10]);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn upstream_bandwidth_limits_the_upload() -> io::Result<()> {
    // A sink upstream that reports when it has everything.
    let sink = TcpListener::bind("127.0.0.1:0").await?;
    let addr = sink.local_addr()?;
    let start = Instant::now();
    let upstream = tokio::spawn(async move {
        let (mut s, _) = sink.accept().await?;
        let mut got = Vec::new();
        s.read_to_end(&mut got).await?;
        io::Result::Ok((got.len(), start.elapsed()))
    });
    let faults = stream(DirectionFaults::new(), DirectionFaults::new().bandwidth(10_000));
    let proxy = Proxy::spawn(addr, faults)?;
    let mut client = connect(proxy.local_addr()).await?;
    client.write_all(&pattern(30_000)).await?;
    client.shutdown().await?;
    let (n, at) = upstream.await.expect("upstream")?;
    assert_eq!(n, 30_000);
    assert!(
        at >= Duration::from_millis(2_900) && at <= Duration::from_millis(3_100),
        "{at:?}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn timeout_closes_the_client_connection() -> io::Result<()> {
    let faults = stream(
        DirectionFaults::new(),
        DirectionFaults::new().timeout(Onset::Immediately, Duration::from_secs(4)),
    );
    let proxy = Proxy::spawn(echo_server().await?, faults)?;
    let mut client = connect(proxy.local_addr()).await?;
    let start = Instant::now();
    client.write_all(b"hello?").await?;
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got).await; // EOF (or reset) on close
    assert!(got.is_empty());
    assert_eq!(start.elapsed(), Duration::from_secs(4));
    assert_eq!(proxy.stats().io.dropped_written, 6);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn downstream_slow_close_delays_the_eof() -> io::Result<()> {
    // Upstream that says hi and closes.
    let up = TcpListener::bind("127.0.0.1:0").await?;
    let addr = up.local_addr()?;
    tokio::spawn(async move {
        let (mut s, _) = up.accept().await?;
        s.write_all(b"hi").await?;
        io::Result::Ok(())
    });
    let faults = stream(
        DirectionFaults::new().slow_close(Duration::from_secs(2)),
        DirectionFaults::new(),
    );
    let proxy = Proxy::spawn(addr, faults)?;
    let start = Instant::now();
    let mut client = connect(proxy.local_addr()).await?;
    let mut got = Vec::new();
    client.read_to_end(&mut got).await?;
    assert_eq!(got, b"hi");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn upstream_down_resets_the_client() -> io::Result<()> {
    let closed = TcpListener::bind("127.0.0.1:0").await?;
    let addr = closed.local_addr()?;
    drop(closed);
    let proxy = Proxy::spawn(addr, ProxyFaults::none())?;
    let mut client = connect(proxy.local_addr()).await?;
    let err = client.read(&mut [0; 1]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(proxy.stats().upstream_failures, 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_accepting_and_closes_connections() -> io::Result<()> {
    let proxy = Proxy::spawn(echo_server().await?, ProxyFaults::none())?;
    let addr = proxy.local_addr();
    let mut client = TcpStream::connect(addr).await?;
    assert_eq!(roundtrip(&mut client, b"x").await?, b"x");
    proxy.shutdown().await;
    // The proxied connection is gone, and nothing listens any more.
    let n = client.read(&mut [0; 1]).await.unwrap_or(0);
    assert_eq!(n, 0);
    assert!(TcpStream::connect(addr).await.is_err());
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_the_proxy() -> io::Result<()> {
    let proxy = Proxy::spawn(echo_server().await?, ProxyFaults::none())?;
    let addr = proxy.local_addr();
    let mut client = TcpStream::connect(addr).await?;
    assert_eq!(roundtrip(&mut client, b"x").await?, b"x");
    drop(proxy);
    // Aborted tasks release their sockets at the next scheduler turn.
    sleep(Duration::from_millis(1)).await;
    let n = client.read(&mut [0; 1]).await.unwrap_or(0);
    assert_eq!(n, 0);
    assert!(TcpStream::connect(addr).await.is_err());
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn upstream_latency_delays_each_request_without_adding_up() -> io::Result<()> {
    let faults = stream(
        DirectionFaults::new(),
        DirectionFaults::new().latency(Duration::from_millis(150)),
    );
    let proxy = Proxy::spawn(echo_server().await?, faults)?;
    let mut client = connect(proxy.local_addr()).await?;
    let start = Instant::now();
    assert_eq!(roundtrip(&mut client, b"ping").await?, b"ping");
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    // A burst of requests sent together arrives one latency later, not ten.
    let start = Instant::now();
    for _ in 0..10 {
        client.write_all(b"burst").await?;
    }
    let mut back = [0; 50];
    client.read_exact(&mut back).await?;
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    Ok(())
}

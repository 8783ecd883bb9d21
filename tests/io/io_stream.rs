//! `ChaosStream` faults, on in-memory pipes and on real TCP on loopback.
//! Timed tests run on tokio's paused clock: no real-time sleep anywhere.
#![cfg(feature = "io")]

use crate::support::io as io_support;

use std::io::{self, IoSlice};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};
use tower_chaos::io::{ChaosStream, DirectionFaults, FaultSwitch, InjectedIoError, Onset, StreamFaults};
use tower_chaos::{FaultKind, Latency};

use io_support::{pattern, read_all, tcp_pair};

fn faults(read: DirectionFaults, write: DirectionFaults) -> StreamFaults {
    StreamFaults::builder()
        .read(read)
        .write(write)
        .seed(7)
        .build()
        .expect("valid faults")
}

/// A TCP pair on loopback, its client side with `read` and `write`
/// faults: `(client, server)`.
async fn chaos_pair(
    read: DirectionFaults,
    write: DirectionFaults,
) -> io::Result<(ChaosStream<TcpStream>, TcpStream)> {
    let (client, server) = tcp_pair().await?;
    Ok((ChaosStream::new(client, faults(read, write)), server))
}

fn none() -> DirectionFaults {
    DirectionFaults::new()
}

#[test]
fn wrappers_are_send_sync_unpin() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<ChaosStream<tokio::net::TcpStream>>();
    check::<tower_chaos::io::Proxy>();
    check::<FaultSwitch>();
}

#[tokio::test]
async fn no_fault_is_byte_exact_and_counted() -> io::Result<()> {
    let (client, mut server) = tcp_pair().await?;
    let mut client = ChaosStream::new(client, StreamFaults::none());
    let data = pattern(100_000);
    let send = data.clone();
    let writer = tokio::spawn(async move {
        server.write_all(&send).await?;
        server.shutdown().await?;
        let back = read_all(&mut server).await?;
        io::Result::Ok(back)
    });
    assert_eq!(read_all(&mut client).await?, data);
    let n = client
        .write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
        .await?;
    assert!(n > 0);
    client.write_all(b"ef").await?;
    client.shutdown().await?;
    let back = writer.await.expect("writer task")?;
    assert!(back.starts_with(b"ab") && back.ends_with(b"ef"));
    let snap = client.counters().snapshot();
    assert_eq!(snap.bytes_read, 100_000);
    assert_eq!(snap.bytes_written, back.len() as u64);
    assert_eq!(snap.faults_total(), 0);
    Ok(())
}

#[tokio::test]
async fn reset_is_seen_by_the_tcp_peer_as_connection_reset() -> io::Result<()> {
    let (client, server) = tcp_pair().await?;
    let mut server = ChaosStream::new(server, faults(none().reset(Onset::Immediately), none()));
    // The server's own next operation fails, marked as injected…
    let err = server.read(&mut [0; 16]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(
        InjectedIoError::of(&err).map(InjectedIoError::fault),
        Some(FaultKind::Reset)
    );
    assert!(server.is_reset());
    // …and a real RST went out: the peer sees ConnectionReset, not EOF.
    let mut client = client;
    let err = client.read(&mut [0; 16]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert!(InjectedIoError::of(&err).is_none(), "a real socket error");
    assert_eq!(server.counters().snapshot().fault(FaultKind::Reset), 1);
    Ok(())
}

#[tokio::test]
async fn reset_after_bytes_delivers_exactly_those_bytes_first() -> io::Result<()> {
    let (mut client, mut server) = chaos_pair(none().reset(Onset::AfterBytes(5)), none()).await?;
    server.write_all(b"hello world").await?;
    let mut got = Vec::new();
    let err = client.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(got, b"hello");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    let err = server.read(&mut [0; 4]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn stall_trips_a_client_timeout_and_keeps_the_connection_open() -> io::Result<()> {
    let (mut client, mut server) = chaos_pair(none().stall(Onset::Immediately), none()).await?;
    server.write_all(b"never seen").await?;
    let start = Instant::now();
    let res = timeout(Duration::from_secs(30), client.read(&mut [0; 64])).await;
    assert!(res.is_err(), "the read must time out");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    // Still open: the server can keep writing, the client is not closed.
    server.write_all(b"more").await?;
    assert!(!client.is_closed());
    assert_eq!(client.counters().snapshot().bytes_read, 0);
    assert_eq!(client.counters().snapshot().fault(FaultKind::Stall), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn stall_after_bytes_then_switch_off_resumes() -> io::Result<()> {
    let (client, mut server) = tcp_pair().await?;
    let switch = FaultSwitch::new(faults(none().stall(Onset::AfterBytes(3)), none()));
    let mut client = ChaosStream::with_switch(client, &switch);
    server.write_all(b"abcdef").await?;
    let mut buf = [0; 3];
    client.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"abc");
    let reader = tokio::spawn(async move {
        let mut rest = [0; 3];
        client.read_exact(&mut rest).await.map(|_| rest)
    });
    sleep(Duration::from_secs(10)).await;
    assert!(!reader.is_finished(), "stalled");
    switch.clear();
    let rest = reader.await.expect("reader task")?;
    assert_eq!(&rest, b"def");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn read_bandwidth_moves_b_bytes_in_b_over_r_seconds() -> io::Result<()> {
    const RATE: u64 = 10_000;
    const BYTES: usize = 50_000;
    let (mut client, mut server) = chaos_pair(none().bandwidth(RATE), none()).await?;
    let data = pattern(BYTES);
    let send = data.clone();
    tokio::spawn(async move {
        server.write_all(&send).await?;
        server.shutdown().await
    });
    let start = Instant::now();
    let got = read_all(&mut client).await?;
    let elapsed = start.elapsed();
    assert_eq!(got, data);
    let expected = Duration::from_secs_f64(BYTES as f64 / RATE as f64);
    // Bytes are paid for before they pass: never early, and late by at
    // most the 10 ms worth a read waits for.
    let slack = Duration::from_millis(10);
    assert!(
        elapsed >= expected && elapsed <= expected + slack,
        "{elapsed:?} vs {expected:?}"
    );
    assert!(client.counters().snapshot().fault(FaultKind::Bandwidth) > 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn write_bandwidth_moves_b_bytes_in_b_over_r_seconds() -> io::Result<()> {
    const RATE: u64 = 4_000;
    const BYTES: usize = 20_000;
    let (mut client, mut server) = chaos_pair(none(), none().bandwidth(RATE)).await?;
    let reader = tokio::spawn(async move {
        let got = read_all(&mut server).await?;
        io::Result::Ok((got, Instant::now()))
    });
    let start = Instant::now();
    client.write_all(&pattern(BYTES)).await?;
    client.shutdown().await?;
    let (got, done) = reader.await.expect("reader")?;
    assert_eq!(got, pattern(BYTES));
    let elapsed = done - start;
    let expected = Duration::from_secs(5);
    // Each piece is paid before it is written: exactly B / R.
    assert_eq!(elapsed, expected, "{elapsed:?}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn read_latency_is_per_chunk_and_does_not_accumulate() -> io::Result<()> {
    let latency = Duration::from_millis(100);
    let (mut client, mut server) = chaos_pair(none().latency(latency), none()).await?;
    let start = Instant::now();
    tokio::spawn(async move {
        for i in 0..10u8 {
            server.write_all(&[i; 100]).await?;
            sleep(Duration::from_millis(10)).await;
        }
        server.shutdown().await
    });
    let mut seen = Vec::new();
    let mut buf = [0; 100];
    for _ in 0..10 {
        client.read_exact(&mut buf).await?;
        seen.push((buf[0], start.elapsed()));
    }
    // Chunk i was sent at 10·i ms and arrives at 10·i + 100 ms: if delays
    // added up, the last chunk would come at 1000 ms.
    for (i, (byte, at)) in seen.iter().enumerate() {
        assert_eq!(*byte as usize, i);
        assert_eq!(*at, Duration::from_millis(10 * i as u64) + latency, "chunk {i}");
    }
    let rest = read_all(&mut client).await?;
    assert!(rest.is_empty());
    assert_eq!(client.counters().snapshot().fault(FaultKind::StreamLatency), 10);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn write_latency_does_not_accumulate_and_flush_waits_for_it() -> io::Result<()> {
    let latency = Duration::from_millis(100);
    let (mut client, mut server) = chaos_pair(none(), none().latency(latency)).await?;
    let start = Instant::now();
    let reader = tokio::spawn(async move {
        let mut got = vec![0; 10 * 1000];
        server.read_exact(&mut got).await?;
        io::Result::Ok((got, start.elapsed()))
    });
    for i in 0..10u8 {
        client.write_all(&[i; 1000]).await?;
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "writes are accepted at once");
    client.flush().await?;
    assert_eq!(start.elapsed(), latency);
    let (got, at) = reader.await.expect("reader")?;
    assert_eq!(at, latency, "10 chunks arrive after one latency, not ten");
    assert!(
        got.chunks(1000)
            .enumerate()
            .all(|(i, c)| c.iter().all(|b| *b as usize == i))
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn write_latency_goes_out_while_the_caller_only_reads() -> io::Result<()> {
    let (mut client, mut server) = chaos_pair(none(), none().latency(Duration::from_millis(50))).await?;
    tokio::spawn(async move {
        let mut req = [0; 4];
        server.read_exact(&mut req).await?;
        server.write_all(b"PONG").await
    });
    client.write_all(b"PING").await?; // no flush
    let mut resp = [0; 4];
    timeout(Duration::from_secs(1), client.read_exact(&mut resp))
        .await
        .expect("the request left without a flush")?;
    assert_eq!(&resp, b"PONG");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn jitter_is_reproducible_from_the_seed() -> io::Result<()> {
    let ms = Duration::from_millis;
    async fn arrivals_with(latency: Latency, seed: u64) -> io::Result<Vec<Duration>> {
        let (client, mut server) = tcp_pair().await?;
        let f = StreamFaults::builder()
            .read(DirectionFaults::new().latency(latency))
            .seed(seed)
            .build()
            .expect("valid");
        let mut client = ChaosStream::new(client, f);
        let start = Instant::now();
        tokio::spawn(async move {
            for i in 0..8u8 {
                server.write_all(&[i; 10]).await?;
                sleep(Duration::from_millis(100)).await;
            }
            io::Result::Ok(())
        });
        let mut out = Vec::new();
        let mut buf = [0; 10];
        for i in 0..8u64 {
            client.read_exact(&mut buf).await?;
            let delay = start.elapsed() - Duration::from_millis(100 * i);
            assert!(delay >= Duration::from_millis(10) && delay <= Duration::from_millis(90));
            out.push(delay);
        }
        Ok(out)
    }
    let arrivals = |seed| arrivals_with(Latency::jittered(ms(50), ms(40)), seed);
    let a = arrivals(1).await?;
    assert_eq!(a, arrivals(1).await?);
    assert_ne!(a, arrivals(2).await?);
    // `latency ± jitter` is the uniform around the base, delay for delay
    // (what `latency(50ms).jitter(40ms)` drew before it became one
    // `Latency`).
    assert_eq!(a, arrivals_with(Latency::uniform(ms(10), ms(90)), 1).await?);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn write_slow_close_delays_the_fin() -> io::Result<()> {
    let (mut client, mut server) = chaos_pair(none(), none().slow_close(Duration::from_secs(2))).await?;
    let start = Instant::now();
    let reader = tokio::spawn(async move {
        let got = read_all(&mut server).await?;
        io::Result::Ok((got, start.elapsed()))
    });
    client.write_all(b"bye").await?;
    client.shutdown().await?;
    let (got, at) = reader.await.expect("reader")?;
    assert_eq!(got, b"bye");
    assert_eq!(at, Duration::from_secs(2));
    assert_eq!(client.counters().snapshot().fault(FaultKind::SlowClose), 1);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn read_slow_close_delays_the_eof() -> io::Result<()> {
    let (mut client, mut server) = chaos_pair(none().slow_close(Duration::from_secs(3)), none()).await?;
    let start = Instant::now();
    server.write_all(b"last words").await?;
    drop(server);
    assert_eq!(read_all(&mut client).await?, b"last words");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn timeout_drops_data_then_closes() -> io::Result<()> {
    let (mut client, mut server) =
        chaos_pair(none().timeout(Onset::Immediately, Duration::from_secs(5)), none()).await?;
    server.write_all(b"lost in the void").await?;
    let start = Instant::now();
    let got = read_all(&mut client).await?; // EOF once closed
    assert!(got.is_empty());
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(client.is_closed());
    // The local writer sees a closed connection, the peer sees it closed.
    let err = client.write(b"x").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    let n = server.read(&mut [0; 8]).await.unwrap_or(0);
    assert_eq!(n, 0);
    let snap = client.counters().snapshot();
    assert_eq!(snap.dropped_read, 16, "every discarded byte is counted");
    assert_eq!(snap.fault(FaultKind::Timeout), 1);
    Ok(())
}

#[tokio::test]
async fn write_truncation_is_a_short_write_then_broken_pipe() -> io::Result<()> {
    let (mut client, mut server) = chaos_pair(none(), none().truncate_after(4)).await?;
    assert_eq!(client.write(b"abcdef").await?, 4);
    let err = client.write(b"ef").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    assert_eq!(
        InjectedIoError::of(&err).map(InjectedIoError::fault),
        Some(FaultKind::Truncate)
    );
    assert_eq!(
        read_all(&mut server).await?,
        b"abcd",
        "the peer reads exactly N bytes then EOF"
    );
    let snap = client.counters().snapshot();
    assert_eq!((snap.bytes_written, snap.dropped_written), (4, 2));
    // The whole connection is closed, as toxiproxy's limit_data closes it:
    // the read direction ends too.
    assert!(client.is_closed());
    assert_eq!(client.read(&mut [0; 2]).await?, 0);
    Ok(())
}

#[tokio::test]
async fn write_slicing_cuts_writes_and_keeps_content() -> io::Result<()> {
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let mut client = ChaosStream::new(client, faults(none(), none().slice(3, Duration::ZERO)));
    assert_eq!(client.write(b"abcdefgh").await?, 3);
    client.write_all(b"defgh").await?;
    client.shutdown().await?;
    assert_eq!(read_all(&mut server).await?, b"abcdefgh");
    assert_eq!(client.counters().snapshot().fault(FaultKind::Slice), 2);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn slicing_delay_spaces_the_pieces() -> io::Result<()> {
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let mut client = ChaosStream::new(client, faults(none(), none().slice(2, Duration::from_millis(10))));
    let start = Instant::now();
    client.write_all(b"abcdef").await?;
    // three pieces, two gaps
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    let mut got = [0; 6];
    server.read_exact(&mut got).await?;
    assert_eq!(&got, b"abcdef");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn blackhole_write_succeeds_but_nothing_arrives() -> io::Result<()> {
    let (mut client, mut server) = chaos_pair(none(), none().blackhole(Onset::Immediately)).await?;
    client.write_all(b"into the void").await?;
    client.flush().await?;
    let res = timeout(Duration::from_secs(5), server.read(&mut [0; 8])).await;
    assert!(res.is_err(), "nothing arrives, the connection stays open");
    let snap = client.counters().snapshot();
    assert_eq!((snap.bytes_written, snap.dropped_written), (13, 13));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn time_onset_resets_on_schedule() -> io::Result<()> {
    let (mut client, mut server) =
        chaos_pair(none().reset(Onset::After(Duration::from_secs(2))), none()).await?;
    server.write_all(b"early").await?;
    let mut buf = [0; 5];
    client.read_exact(&mut buf).await?;
    let start = Instant::now();
    let err = client.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn timeout_zero_discards_and_never_closes() -> io::Result<()> {
    // toxiproxy's `timeout: 0`: the data is dropped, the connection stays.
    let (client, mut server) = tcp_pair().await?;
    let faults = faults(none(), none().timeout(Onset::Immediately, Duration::ZERO));
    let mut client = ChaosStream::new(client, faults);
    client.write_all(b"lost").await?;
    tokio::time::sleep(Duration::from_secs(365 * 24 * 3600)).await;
    client.write_all(b"lost too").await?;
    assert!(!client.is_closed());
    assert!(
        tokio::time::timeout(Duration::from_secs(1), server.read(&mut [0; 1]))
            .await
            .is_err()
    );
    assert_eq!(client.counters().snapshot().dropped_written, 12);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn data_onset_counts_from_the_first_byte_and_holds_it() -> io::Result<()> {
    let stall = none().stall(Onset::AfterData(Duration::from_millis(100)));
    let (mut client, mut server) = chaos_pair(stall, none()).await?;
    // Idle for a long while: a data onset does not count time without data.
    tokio::time::sleep(Duration::from_secs(10)).await;
    server.write_all(b"abc").await?;
    let start = Instant::now();
    let res = tokio::time::timeout(Duration::from_secs(5), client.read(&mut [0; 8])).await;
    assert!(res.is_err(), "the bytes are held, then the stall begins");
    assert_eq!(client.counters().snapshot().fault(FaultKind::Stall), 1);
    assert_eq!(client.counters().snapshot().bytes_read, 0);
    assert!(start.elapsed() >= Duration::from_millis(100));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn latency_does_not_cap_throughput() -> io::Result<()> {
    // 8 MiB sent at once through 100 ms of read latency arrive 100 ms
    // later, all of them: the latency queue grows with the backlog (a fixed
    // 256 KiB queue would take 32 × 100 ms).
    const TOTAL: usize = 8 << 20;
    let (client, mut server) = tokio::io::duplex(1 << 20);
    let latency = Duration::from_millis(100);
    let mut client = ChaosStream::new(client, faults(none().latency(latency), none()));
    tokio::spawn(async move {
        server.write_all(&pattern(TOTAL)).await?;
        server.shutdown().await?;
        io::Result::Ok(server)
    });
    let start = Instant::now();
    let mut got = Vec::with_capacity(TOTAL);
    client.read_to_end(&mut got).await?;
    assert_eq!(start.elapsed(), latency);
    assert!(got == pattern(TOTAL), "bytes intact and in order");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_switch_keeps_an_unchanged_interruption_and_rearms_a_changed_one() -> io::Result<()> {
    let (client, mut server) = tcp_pair().await?;
    let stall = faults(none(), none().stall(Onset::AfterBytes(3)));
    let switch = FaultSwitch::new(stall);
    let mut client = ChaosStream::with_switch(client, &switch);
    client.write_all(b"ab").await?;
    // The same faults again: the onset keeps its count (1 byte left).
    switch.set(stall);
    client.write_all(b"c").await?;
    let blocked = timeout(Duration::from_millis(200), client.write_all(b"d")).await;
    assert!(blocked.is_err(), "stalled after exactly 3 bytes");
    // A changed onset counts from the switch.
    switch.set(faults(none(), none().stall(Onset::AfterBytes(2))));
    client.write_all(b"ef").await?;
    assert!(
        timeout(Duration::from_millis(200), client.write_all(b"g"))
            .await
            .is_err()
    );
    let mut got = [0; 5];
    server.read_exact(&mut got).await?;
    assert_eq!(&got, b"abcef");
    Ok(())
}

//! Throughput of connection wrappers: one iteration copies 64 MiB over a
//! loopback TCP connection, raw, through `ChaosStream`s armed with faults
//! that never fire (the client end a standalone stream, the server end
//! accepted by a `ChaosListener` whose target holds such faults), through
//! `tokio-netem` armed likewise, and through the chaos proxy of a target
//! with no fault.
//!
//! `io/latency-throughput`: one iteration moves 64 MiB from an upstream
//! through a `Proxy` whose target adds 100 ms of downstream latency, to a
//! client reading as fast as it can: latency delays each chunk from its
//! arrival, and must not cap the transfer's rate (toxiproxy's
//! `TestLatencyToxicBandwidth` asks for at least 100 MB/s). Each iteration
//! includes the first chunk's 100 ms.
//!
//! `cargo bench --features io --bench io`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_chaos::io::{
    ChaosListener, ChaosStream, ConnFault, ConnFaultSet, Direction, DirectionFaults, Onset, Proxy,
    StreamFaults,
};
use tower_chaos::{Latency, Target};

const TOTAL: usize = 64 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (c.unwrap(), s.unwrap().0)
}

/// Sends 64 MiB through `tx` and reads exactly that much from `rx`; the
/// connection stays open for the next iteration (its buffers stay warm).
async fn copy<W, R>(tx: &mut W, rx: &mut R) -> usize
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let chunk = [0x5a_u8; CHUNK];
    let send = async {
        for _ in 0..TOTAL / CHUNK {
            tx.write_all(&chunk).await.unwrap();
        }
        tx.flush().await.unwrap();
    };
    let recv = async {
        let mut buf = vec![0_u8; CHUNK];
        let mut n = 0;
        while n < TOTAL {
            match rx.read(&mut buf).await.unwrap() {
                0 => panic!("early EOF after {n} bytes"),
                k => n += k,
            }
        }
        n
    };
    let ((), n) = tokio::join!(send, recv);
    assert_eq!(n, TOTAL);
    n
}

/// Faults on both directions that never fire: the wrapper takes its armed
/// path (limits checked on every call) but passes every byte.
fn armed() -> StreamFaults {
    let d = DirectionFaults::new()
        .truncate_after(u64::MAX)
        .reset(Onset::AfterBytes(u64::MAX))
        .latency(Duration::ZERO);
    StreamFaults::builder().read(d).write(d).build().unwrap()
}

/// The same faults as target rules, given to every connection.
fn armed_target() -> Target {
    let target = Target::builder("bench").seed(1).build().unwrap();
    target
        .set_faults(
            ConnFaultSet::new()
                .with(ConnFault::truncate_after(Direction::Both, u64::MAX))
                .with(ConnFault::reset(Direction::Both, Onset::AfterBytes(u64::MAX))),
        )
        .unwrap();
    target
}

/// A client `ChaosStream` (standalone, armed) connected to a connection
/// accepted by a `ChaosListener` of an armed target.
async fn chaos_pair(target: &Target) -> (ChaosStream<TcpStream>, ChaosStream<TcpStream>) {
    let mut listener = ChaosListener::bind("127.0.0.1:0", target).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (ChaosStream::new(c.unwrap(), armed()), s.unwrap().0)
}

fn bench(c: &mut Criterion) {
    // One thread: sender, receiver (and proxy) share it, so the figures
    // compare CPU cost per byte rather than scheduling luck on a busy box.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("io");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.sample_size(10);

    let (mut c, mut s) = rt.block_on(tcp_pair());
    group.bench_function("raw", |b| {
        b.iter(|| black_box(rt.block_on(copy(&mut c, &mut s))));
    });

    let target = armed_target();
    let (mut c, mut s) = rt.block_on(chaos_pair(&target));
    group.bench_function("chaos-stream", |b| {
        b.iter(|| black_box(rt.block_on(copy(&mut c, &mut s))));
    });

    let (c, s) = rt.block_on(tcp_pair());
    // A zero delay and a zero failure probability: armed, never firing.
    // (`DelayedWriter::new` creates its timer, so it needs the runtime.)
    let guard = rt.enter();
    let mut c = tokio_netem::delayer::DelayedWriter::new(
        tokio_netem::terminator::Terminator::new(c, 0.0_f64),
        Duration::ZERO,
    );
    let mut s = tokio_netem::terminator::Terminator::new(s, 0.0_f64);
    drop(guard);
    group.bench_function("tokio-netem", |b| {
        b.iter(|| black_box(rt.block_on(copy(&mut c, &mut s))));
    });

    let (proxy, mut c, mut s) = rt.block_on(async {
        let sink = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let quiet = Target::builder("bench-proxy").seed(1).build().unwrap();
        let proxy = Proxy::spawn(sink.local_addr().unwrap(), &quiet).unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(proxy.local_addr()), sink.accept());
        (proxy, c.unwrap(), s.unwrap().0)
    });
    group.bench_function("chaos-proxy", |b| {
        b.iter(|| black_box(rt.block_on(copy(&mut c, &mut s))));
    });
    drop(proxy);

    // Upstream `s` writes, the client `c` reads through 100 ms of latency.
    let (proxy, mut c, mut s) = rt.block_on(async {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let slow = Target::builder("bench-latency").seed(1).build().unwrap();
        slow.set_faults(ConnFaultSet::new().with(ConnFault::latency(
            Direction::Downstream,
            Latency::fixed(Duration::from_millis(100)),
        )))
        .unwrap();
        let proxy = Proxy::spawn(upstream.local_addr().unwrap(), &slow).unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(proxy.local_addr()), upstream.accept());
        (proxy, c.unwrap(), s.unwrap().0)
    });
    group.bench_function("latency-throughput", |b| {
        b.iter(|| black_box(rt.block_on(copy(&mut s, &mut c))));
    });
    group.finish();
    drop(proxy);
}

criterion_group!(benches, bench);
criterion_main!(benches);

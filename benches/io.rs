//! Throughput of connection wrappers: one iteration copies 64 MiB over a
//! loopback TCP connection, raw, through `ChaosStream` armed with faults
//! that never fire, through `tokio-netem` armed likewise, and through the
//! chaos proxy with no fault.
//!
//! `cargo bench --features io --bench io`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_chaos::io::{ChaosStream, DirectionFaults, Onset, Proxy, ProxyFaults, StreamFaults};

const TOTAL: usize = 64 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, s) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (c.unwrap(), s.unwrap().0)
}

/// Sends 64 MiB through `tx`, reads it all from `rx`; returns bytes read.
async fn copy<W, R>(mut tx: W, mut rx: R) -> usize
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let chunk = vec![0x5a_u8; CHUNK];
    let send = async {
        for _ in 0..TOTAL / CHUNK {
            tx.write_all(&chunk).await.unwrap();
        }
        tx.shutdown().await.unwrap();
    };
    let recv = async {
        let mut buf = vec![0_u8; CHUNK];
        let mut n = 0;
        loop {
            match rx.read(&mut buf).await.unwrap() {
                0 => break n,
                k => n += k,
            }
        }
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

    group.bench_function("raw", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (c, s) = tcp_pair().await;
                black_box(copy(c, s).await)
            })
        });
    });

    group.bench_function("chaos-stream", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (c, s) = tcp_pair().await;
                let c = ChaosStream::new(c, armed());
                let s = ChaosStream::new(s, armed());
                black_box(copy(c, s).await)
            })
        });
    });

    group.bench_function("tokio-netem", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (c, s) = tcp_pair().await;
                // A zero delay and a zero failure probability: armed, never firing.
                let c = tokio_netem::delayer::DelayedWriter::new(
                    tokio_netem::terminator::Terminator::new(c, 0.0_f64),
                    Duration::ZERO,
                );
                let s = tokio_netem::terminator::Terminator::new(s, 0.0_f64);
                black_box(copy(c, s).await)
            })
        });
    });

    let (sink_addr, proxy) = rt.block_on(async {
        let sink = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = sink.local_addr().unwrap();
        let proxy = Proxy::spawn(addr, ProxyFaults::none()).unwrap();
        (sink, proxy)
    });
    group.bench_function("chaos-proxy", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (c, s) =
                    tokio::join!(TcpStream::connect(proxy.local_addr()), sink_addr.accept());
                black_box(copy(c.unwrap(), s.unwrap().0).await)
            })
        });
    });
    group.finish();
    drop(proxy);
}

criterion_group!(benches, bench);
criterion_main!(benches);

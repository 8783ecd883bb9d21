//! Byte-stream invariants of `ChaosStream` under random chunkings.
#![cfg(feature = "io")]

use std::io;
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tower_chaos::Latency;
use tower_chaos::io::{ChaosStream, DirectionFaults, StreamFaults};

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Writes `data` in `writes`-sized pieces through a writer wrapped with
/// `wf`, reads it with `reads`-sized buffers through a reader wrapped with
/// `rf`. Returns what the reader got and the writer's result.
async fn transfer(
    data: Vec<u8>,
    writes: Vec<usize>,
    reads: Vec<usize>,
    capacity: usize,
    wf: StreamFaults,
    rf: StreamFaults,
) -> (Vec<u8>, io::Result<()>) {
    let (a, b): (DuplexStream, DuplexStream) = tokio::io::duplex(capacity);
    let mut writer = ChaosStream::new(a, wf);
    let mut reader = ChaosStream::new(b, rf);
    let w = tokio::spawn(async move {
        let mut at = 0;
        let mut i = 0;
        while at < data.len() {
            let n = writes[i % writes.len()].min(data.len() - at);
            writer.write_all(&data[at..at + n]).await?;
            at += n;
            i += 1;
        }
        writer.shutdown().await
    });
    let mut got = Vec::new();
    let mut i = 0;
    loop {
        let mut buf = vec![0; reads[i % reads.len()]];
        i += 1;
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    drop(reader);
    let res = w.await.expect("writer task");
    (got, res)
}

fn read_faults(d: DirectionFaults) -> StreamFaults {
    StreamFaults::builder().read(d).seed(3).build().expect("valid")
}

fn write_faults(d: DirectionFaults) -> StreamFaults {
    StreamFaults::builder().write(d).seed(3).build().expect("valid")
}

/// Test data of a length in `len`.
fn bytes(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), len)
}

/// The sizes of the writer's successive writes (cycled).
fn write_sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..600, 1..8)
}

/// The sizes of the reader's successive buffers (cycled).
fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..900, 1..8)
}

/// Checks a `transfer`'s outcome: `data` delivered exactly, the writer
/// succeeding.
fn delivered_intact(data: &[u8], (got, res): (Vec<u8>, io::Result<()>)) -> Result<(), TestCaseError> {
    prop_assert!(res.is_ok());
    prop_assert_eq!(got, data);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_fault_delivers_exactly_the_bytes_sent(
        data in bytes(0..20_000),
        writes in write_sizes(),
        reads in read_sizes(),
        capacity in 1usize..4096,
    ) {
        let outcome = run(transfer(
            data.clone(), writes, reads, capacity, StreamFaults::none(), StreamFaults::none(),
        ));
        delivered_intact(&data, outcome)?;
    }

    #[test]
    fn read_truncation_delivers_exactly_n_then_eof(
        data in bytes(0..10_000),
        n in 0u64..12_000,
        writes in write_sizes(),
        reads in read_sizes(),
    ) {
        let (got, _) = run(transfer(
            data.clone(), writes, reads, 1024,
            StreamFaults::none(), read_faults(DirectionFaults::new().truncate_after(n)),
        ));
        let n = usize::try_from(n).unwrap().min(data.len());
        prop_assert_eq!(got, &data[..n]);
    }

    #[test]
    fn write_truncation_delivers_exactly_n_then_eof(
        data in bytes(1..10_000),
        n in 0u64..12_000,
        writes in write_sizes(),
    ) {
        let (got, res) = run(transfer(
            data.clone(), writes, vec![512], 1024,
            write_faults(DirectionFaults::new().truncate_after(n)), StreamFaults::none(),
        ));
        let cut = usize::try_from(n).unwrap().min(data.len());
        prop_assert_eq!(&got[..], &data[..cut]);
        prop_assert_eq!(res.is_err(), cut < data.len());
    }

    #[test]
    fn slicing_preserves_content(
        data in bytes(0..10_000),
        wmax in 1usize..64,
        rmax in 1usize..64,
        delay_us in 0u64..50,
        writes in write_sizes(),
        reads in read_sizes(),
    ) {
        let delay = Duration::from_micros(delay_us);
        let outcome = run(transfer(
            data.clone(), writes, reads, 2048,
            write_faults(DirectionFaults::new().slice(wmax, delay)),
            read_faults(DirectionFaults::new().slice(rmax, delay)),
        ));
        delivered_intact(&data, outcome)?;
    }

    #[test]
    fn latency_jitter_and_bandwidth_preserve_content_and_order(
        data in bytes(0..20_000),
        base_ms in 0u64..50,
        jitter_pct in 0u64..=100,
        rate in 1_000u64..1_000_000,
        writes in write_sizes(),
        reads in read_sizes(),
    ) {
        let base = Duration::from_millis(base_ms);
        let jitter = base * u32::try_from(jitter_pct).unwrap() / 100;
        let d = DirectionFaults::new().latency(Latency::jittered(base, jitter)).bandwidth(rate);
        let outcome = run(transfer(
            data.clone(), writes, reads, 4096, write_faults(d), read_faults(d),
        ));
        delivered_intact(&data, outcome)?;
    }
}

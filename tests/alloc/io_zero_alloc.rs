//! `ChaosStream` adds no allocation per read or write: a counting global
//! allocator (the `alloc` binary's own, see `main.rs`) compares the same 10 000 write/read rounds
//! on a bare pipe and through the wrapper, with no fault and with faults
//! armed that never fire.
#![cfg(feature = "io")]

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tower_chaos::io::{ChaosStream, DirectionFaults, Onset, StreamFaults};

use crate::support::alloc_counter;

/// Allocations made while writing then reading 1 KiB, `rounds` times,
/// polled by hand (no runtime, a no-op waker, never `Pending`).
fn allocations<W, R>(mut tx: Pin<&mut W>, mut rx: Pin<&mut R>, rounds: u64) -> u64
where
    W: AsyncWrite,
    R: AsyncRead,
{
    let mut cx = Context::from_waker(Waker::noop());
    let data = [7_u8; 1024];
    let mut buf = [0_u8; 1024];
    let mut round = |tx: Pin<&mut W>, rx: Pin<&mut R>| {
        assert!(matches!(tx.poll_write(&mut cx, &data), Poll::Ready(Ok(1024))));
        let mut rb = ReadBuf::new(&mut buf);
        assert!(matches!(rx.poll_read(&mut cx, &mut rb), Poll::Ready(Ok(()))));
        assert_eq!(rb.filled().len(), 1024);
    };
    // Warm up: let the pipe size its buffer.
    for _ in 0..8 {
        round(tx.as_mut(), rx.as_mut());
    }
    alloc_counter::start();
    for _ in 0..rounds {
        round(tx.as_mut(), rx.as_mut());
    }
    alloc_counter::stop()
}

fn pipe() -> (DuplexStream, DuplexStream) {
    tokio::io::duplex(64 * 1024)
}

#[test]
fn the_wrapper_adds_no_allocation() {
    let (mut a, mut b) = pipe();
    let bare = allocations(Pin::new(&mut a), Pin::new(&mut b), 10_000);

    let (a, b) = pipe();
    let mut a = ChaosStream::new(a, StreamFaults::none());
    let mut b = ChaosStream::new(b, StreamFaults::none());
    let none = allocations(Pin::new(&mut a), Pin::new(&mut b), 10_000);

    let d = DirectionFaults::new()
        .truncate_after(u64::MAX)
        .reset(Onset::AfterBytes(u64::MAX));
    let armed = StreamFaults::builder().read(d).write(d).build().unwrap();
    let (a, b) = pipe();
    let mut a = ChaosStream::new(a, armed);
    let mut b = ChaosStream::new(b, armed);
    let armed = allocations(Pin::new(&mut a), Pin::new(&mut b), 10_000);

    assert_eq!(none, bare, "pass-through: no allocation of its own");
    assert_eq!(armed, bare, "armed, never firing: no allocation of its own");
}

//! Unit tests of the body faults.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;

use super::*;

/// A body over a list of frames, ready at once.
struct Frames(std::collections::VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

fn chunks(parts: &[&'static str]) -> Frames {
    Frames(
        parts
            .iter()
            .map(|p| Frame::data(Bytes::from_static(p.as_bytes())))
            .collect(),
    )
}

#[tokio::test]
async fn pass_through_is_untouched() {
    let body = ChaosBody::new(chunks(&["ab", "cd"]));
    assert_eq!(body.collect().await.unwrap().to_bytes(), "abcd");
}

#[tokio::test]
async fn truncate_splits_a_frame_and_counts() {
    let counters = BodyCounters::new();
    let body = ChaosBody::with_fault(chunks(&["abc", "defg", "h"]), BodyFault::truncate_after(5))
        .counted(counters.clone());
    assert_eq!(body.collect().await.unwrap().to_bytes(), "abcde");
    assert_eq!(counters.passed(), 5);
    assert_eq!(counters.dropped(), 2);
}

#[tokio::test]
async fn abort_errors_after_n_bytes() {
    let mut body = ChaosBody::with_fault(chunks(&["abc", "def"]), BodyFault::abort_after(4));
    let mut got = Vec::new();
    let err = loop {
        match body.frame().await {
            Some(Ok(f)) => got.extend_from_slice(&f.into_data().unwrap()),
            Some(Err(e)) => break e,
            None => panic!("expected an error"),
        }
    };
    assert_eq!(got, b"abcd");
    let err = err.downcast::<BodyFaultError>().unwrap();
    assert_eq!(*err, BodyFaultError::aborted(4));
    assert!(body.is_end_stream());
}

#[tokio::test]
async fn cut_past_the_end_does_nothing() {
    for fault in [
        BodyFault::abort_after(4),
        BodyFault::stall_after(4),
        BodyFault::truncate_after(4),
    ] {
        let body = ChaosBody::with_fault(Full::new(Bytes::from("abc")), fault);
        assert_eq!(body.size_hint().exact(), Some(3), "{fault:?}");
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abc", "{fault:?}");
    }
}

#[tokio::test]
async fn an_early_end_exactly_at_the_end_leaves_the_body_whole() {
    let body = ChaosBody::with_fault(Full::new(Bytes::from("abc")), BodyFault::truncate_after(3));
    assert_eq!(body.size_hint().exact(), Some(3));
    assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
}

#[tokio::test]
async fn an_abort_exactly_at_the_end_replaces_the_end_with_its_error() {
    let mut body = ChaosBody::with_fault(Full::new(Bytes::from("abc")), BodyFault::abort_after(3));
    // No exact length: a client must not take three bytes as the whole body.
    assert_eq!((body.size_hint().lower(), body.size_hint().upper()), (3, None));
    assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "abc");
    assert!(!body.is_end_stream());
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(
        *err.downcast::<BodyFaultError>().unwrap(),
        BodyFaultError::aborted(3)
    );
    assert!(body.is_end_stream());
}

#[tokio::test]
async fn an_abort_after_zero_bytes_of_an_empty_body_is_an_error_not_an_end() {
    let mut body = ChaosBody::with_fault(Full::new(Bytes::new()), BodyFault::abort_after(0));
    assert!(
        !body.is_end_stream(),
        "hyper would not poll a body that says it ended"
    );
    assert_eq!(body.size_hint().exact(), None);
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(
        *err.downcast::<BodyFaultError>().unwrap(),
        BodyFaultError::aborted(0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_stall_exactly_at_the_end_holds_the_end_back() {
    let mut body = ChaosBody::with_fault(Full::new(Bytes::from("abc")), BodyFault::stall_after(3));
    assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "abc");
    let next = tokio::time::timeout(Duration::from_secs(3600), body.frame()).await;
    assert!(next.is_err(), "the end came through: {next:?}");
    assert!(!body.is_end_stream());
}

#[tokio::test(start_paused = true)]
async fn stall_never_completes() {
    let mut body = ChaosBody::with_fault(chunks(&["abc", "def"]), BodyFault::stall_after(3));
    assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "abc");
    let next = tokio::time::timeout(Duration::from_secs(3600), body.frame()).await;
    assert!(next.is_err(), "stalled body produced {next:?}");
}

#[tokio::test(start_paused = true)]
async fn throttle_takes_the_computed_time() {
    let data = Bytes::from(vec![7u8; 10_000]);
    let body = ChaosBody::with_fault(Full::new(data), BodyFault::throttle(1000));
    let start = Instant::now();
    let out = body.collect().await.unwrap().to_bytes();
    let took = start.elapsed();
    assert_eq!(out.len(), 10_000);
    // 10 s less the first 50 ms slice, which goes at once (Envoy's start).
    assert!(
        took >= Duration::from_millis(9_950) && took < Duration::from_millis(10_000),
        "took {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_zero_throttle_built_directly_fails_on_first_poll() {
    let mut body = ChaosBody::with_fault(Full::new(Bytes::from("abc")), BodyFault::throttle(0));
    let err = body.frame().await.unwrap().unwrap_err();
    let err = err.downcast::<crate::ConfigError>().unwrap();
    assert_eq!(
        err.to_string(),
        "invalid `body.throttle` = 0: must be at least 1 byte per second"
    );
    assert!(body.frame().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn first_byte_delay() {
    let body = ChaosBody::with_fault(
        Full::new(Bytes::from("x")),
        BodyFault::delay_first_byte(Duration::from_secs(2)),
    );
    let start = Instant::now();
    assert_eq!(body.collect().await.unwrap().to_bytes(), "x");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test]
async fn full_and_dropped() {
    let body = ChaosBody::<Full<Bytes>>::full("hi");
    assert_eq!(body.collect().await.unwrap().to_bytes(), "hi");
    let err = ChaosBody::<Full<Bytes>>::drop_connection()
        .collect()
        .await
        .unwrap_err();
    let err = err.downcast::<BodyFaultError>().unwrap();
    assert_eq!(err.kind(), BodyFaultErrorKind::ConnectionDropped);
}

#[tokio::test]
async fn trailers_pass_through_a_fault() {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let frames = Frames(vec![Frame::data(Bytes::from("ab")), Frame::trailers(trailers)].into());
    let body = ChaosBody::with_fault(frames, BodyFault::truncate_after(10));
    let collected = body.collect().await.unwrap();
    assert!(collected.trailers().is_some());
    assert_eq!(collected.to_bytes(), "ab");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn frames(chunks: &[Vec<u8>]) -> Frames {
        Frames(
            chunks
                .iter()
                .map(|c| Frame::data(Bytes::from(c.clone())))
                .collect(),
        )
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    /// Collects data until the end or an error: (bytes, errored).
    async fn drain(mut body: ChaosBody<Frames>) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => out.extend_from_slice(&f.into_data().unwrap()),
                Err(_) => return (out, true),
            }
        }
        (out, false)
    }

    fn chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12)
    }

    proptest! {
        #[test]
        fn truncate_delivers_exactly_a_prefix(chunks in chunks(), n in 0u64..4000) {
            let all: Vec<u8> = chunks.concat();
            let counters = BodyCounters::new();
            let body = ChaosBody::with_fault(frames(&chunks), BodyFault::truncate_after(n))
                .counted(counters.clone());
            let (out, errored) = runtime().block_on(drain(body));
            let expected = all.len().min(usize::try_from(n).unwrap());
            prop_assert!(!errored);
            prop_assert_eq!(&out[..], &all[..expected]);
            prop_assert_eq!(counters.passed(), expected as u64);
            prop_assert!(counters.passed() + counters.dropped() <= all.len() as u64);
        }

        #[test]
        fn abort_errors_exactly_when_bytes_remain(chunks in chunks(), n in 0u64..4000) {
            let all: Vec<u8> = chunks.concat();
            let body = ChaosBody::with_fault(frames(&chunks), BodyFault::abort_after(n));
            let (out, errored) = runtime().block_on(drain(body));
            let total = all.len() as u64;
            prop_assert_eq!(&out[..], &all[..all.len().min(usize::try_from(n).unwrap())]);
            if n < total {
                prop_assert!(errored);
            } else if n > total {
                prop_assert!(!errored);
            }
        }

        #[test]
        fn throttle_keeps_every_byte_and_takes_len_over_rate(
            chunks in chunks(),
            rate in 1_000u64..50_000,
        ) {
            let all: Vec<u8> = chunks.concat();
            let body = ChaosBody::with_fault(frames(&chunks), BodyFault::throttle(rate));
            let rt = runtime();
            let (out, took) = rt.block_on(async {
                let start = Instant::now();
                let (out, _) = drain(body).await;
                (out, start.elapsed())
            });
            prop_assert_eq!(&out, &all);
            // The first 50 ms tick's worth is credit (Envoy's start).
            let tick = rate as usize / 20;
            let ideal = Duration::from_secs_f64(all.len().saturating_sub(tick) as f64 / rate as f64);
            // Each sleep may overshoot by the timer's 1 ms granularity,
            // and the bucket carries the overshoot forward as credit.
            prop_assert!(took + Duration::from_millis(1) >= ideal, "{took:?} < {ideal:?}");
            prop_assert!(took <= ideal + Duration::from_millis(2), "{took:?} > {ideal:?}");
        }
    }
}

//! The pass-through path allocates nothing: a counting global allocator
//! watches `call` and the poll of its future when armed rules do not match.

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Empty;
use tower::{Layer, Service};
use tower_chaos::http::{BodyFault, HttpChaosLayer, RequestMatcher, SyntheticResponse};
use tower_chaos::{FaultKind, Trigger};

use crate::support::alloc_counter;

use alloc_counter::during as allocations_during;

#[test]
fn pass_through_allocates_nothing() {
    // Armed rules of every shape: matchers that do not match, a matcher
    // combined with a counting trigger, a rate that never fires, and header
    // control with no fault headers in the request.
    let layer = HttpChaosLayer::builder("api")
        .seed(1)
        .fault(
            SyntheticResponse::service_unavailable()
                .when(RequestMatcher::method(Method::PUT) & RequestMatcher::path_glob("/items/*")),
        )
        .fault(
            SyntheticResponse::grpc_unavailable()
                .when(RequestMatcher::grpc_service("pkg.Service").and_trigger(Trigger::first(3))),
        )
        .fault(BodyFault::throttle(10).when(RequestMatcher::header("x-never")))
        .fault(BodyFault::truncate_after(1).when(Trigger::rate(1e-12)))
        .header_control(tower_chaos::http::HeaderControl::new())
        .build()
        .unwrap();
    let target = layer.target().clone();
    let mut svc = layer.layer(tower::service_fn(|_: Request<()>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new())))
    }));
    let mut cx = Context::from_waker(Waker::noop());

    for _ in 0..3 {
        let request = Request::get("/items/1").body(()).unwrap();
        let (status, allocations) = allocations_during(|| {
            assert!(svc.poll_ready(&mut cx).is_ready());
            let mut future = std::pin::pin!(svc.call(request));
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(response)) => response.status(),
                _ => unreachable!("the inner future is ready"),
            }
        });
        assert_eq!(status, http::StatusCode::OK);
        assert_eq!(allocations, 0, "the pass-through path allocated");
    }
    let report = target.report();
    assert_eq!((report.seen, report.faulted), (3, 0));

    // The counter does see allocations: an injected response builds a
    // header map and a marker.
    let request = Request::put("/items/1").body(()).unwrap();
    let (status, allocations) = allocations_during(|| {
        let mut future = std::pin::pin!(svc.call(request));
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(response)) => response.status(),
            _ => unreachable!("a synthesized response is ready at once"),
        }
    });
    assert_eq!(status, http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(allocations > 0);
    assert_eq!(target.report().injected(FaultKind::Status), 1);
}

//! `poll_ready` forwards; a delayed call uses the service that was polled
//! ready (checked with tower-test's mock, which panics on an unready call).

use std::time::Duration;

use tokio_test::{assert_pending, assert_ready_ok};
use tower_chaos::{ChaosLayer, Fault, Latency, Trigger};
use tower_test::mock;

#[tokio::test(start_paused = true)]
async fn poll_ready_forwards_and_delayed_calls_use_the_ready_service() {
    let chaos: ChaosLayer<&'static str, tower::BoxError> = ChaosLayer::builder("ready")
        .seed(1)
        .fault(Fault::latency(Latency::fixed(Duration::from_millis(50))).when(Trigger::first(1)))
        .build()
        .unwrap();
    let (mut svc, mut handle) = mock::spawn_layer::<&'static str, &'static str, _>(chaos);

    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(2);
    assert_ready_ok!(svc.poll_ready());

    let delayed = tokio::spawn(svc.call("delayed"));
    tokio::task::yield_now().await;
    assert!(
        tokio_test::task::spawn(handle.next_request()).poll().is_pending(),
        "not called during the delay"
    );

    assert_ready_ok!(svc.poll_ready());
    let direct = svc.call("direct");
    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, "direct");
    send.send_response("ok-direct");
    assert_eq!(direct.await.unwrap(), "ok-direct");

    let (req, send) = handle.next_request().await.unwrap();
    assert_eq!(req, "delayed");
    send.send_response("ok-delayed");
    assert_eq!(delayed.await.unwrap().unwrap(), "ok-delayed");
}

#[tokio::test]
async fn readiness_errors_pass_through() {
    let chaos: ChaosLayer<&'static str, tower::BoxError> = ChaosLayer::builder("ready-err")
        .seed(1)
        .fault(Fault::injected_error())
        .build()
        .unwrap();
    let (mut svc, mut handle) = mock::spawn_layer::<&'static str, &'static str, _>(chaos);
    handle.send_error("not ready");
    let err = tokio_test::assert_ready_err!(svc.poll_ready());
    assert_eq!(err.to_string(), "not ready");
}

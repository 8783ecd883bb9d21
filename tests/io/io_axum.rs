//! An axum app served through `ChaosListener` (`axum::serve`), as reqwest
//! and hyper-util clients see it. App and clients share one runtime.
#![cfg(feature = "axum")]

use crate::support::io as io_support;

use std::io;
use std::time::Duration;

use tokio::time::Instant;
use tower_chaos::io::{ChaosListener, ConnFault, ConnFaultSet, ConnInfo, Direction, Onset};
use tower_chaos::{FaultKind, Latency, Rule, Target, Trigger};

use io_support::{BIG, conn_target, has_io_kind, pattern, serve_app};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves the app through a chaos listener; returns its base URL.
async fn chaotic_app(rules: Vec<Rule<ConnFault, ConnInfo>>) -> Result<(Target, String), BoxError> {
    let target = conn_target("axum-app", 3, rules);
    let listener = ChaosListener::bind("127.0.0.1:0", &target).await?;
    let base = format!("http://{}", listener.local_addr()?);
    serve_app(listener).await;
    Ok((target, base))
}

#[tokio::test]
async fn reset_on_accept_as_reqwest_sees_it() -> Result<(), BoxError> {
    let (target, base) = chaotic_app(vec![ConnFault::refuse().when(Trigger::first(1))]).await?;
    let client = reqwest::Client::new();
    let err = client.get(format!("{base}/")).send().await.unwrap_err();
    // Connected, then reset before any response: a request error whose
    // source chain ends in `ConnectionReset`.
    assert!(err.is_request(), "{err:?}");
    assert!(has_io_kind(&err, io::ErrorKind::ConnectionReset), "{err:?}");
    // The next connection is served.
    assert_eq!(
        client.get(format!("{base}/")).send().await?.text().await?,
        "hello"
    );
    assert_eq!(target.report().injected(FaultKind::Refused), 1);
    Ok(())
}

#[tokio::test]
async fn reset_on_accept_as_hyper_util_sees_it() -> Result<(), BoxError> {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let (_target, base) = chaotic_app(vec![ConnFault::refuse().when(Trigger::first(1))]).await?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let err = client.get(format!("{base}/").parse()?).await.unwrap_err();
    assert!(!err.is_connect(), "the TCP connect itself succeeded: {err:?}");
    assert!(has_io_kind(&err, io::ErrorKind::ConnectionReset), "{err:?}");
    assert_eq!(client.get(format!("{base}/").parse()?).await?.status(), 200);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn latency_delays_requests_and_responses() -> Result<(), BoxError> {
    let (_target, base) = chaotic_app(vec![
        ConnFault::latency(Direction::Upstream, Latency::fixed(Duration::from_millis(100))).into(),
        ConnFault::latency(Direction::Downstream, Latency::fixed(Duration::from_millis(250))).into(),
    ])
    .await?;
    let client = reqwest::Client::new();
    let start = Instant::now();
    let body = client.get(format!("{base}/big")).send().await?.bytes().await?;
    assert_eq!(body, pattern(BIG));
    assert_eq!(start.elapsed(), Duration::from_millis(350));
    Ok(())
}

#[tokio::test]
async fn truncated_response_as_reqwest_sees_it() -> Result<(), BoxError> {
    let (target, base) = chaotic_app(vec![
        ConnFault::truncate_after(Direction::Downstream, 2_000).into(),
    ])
    .await?;
    let res = reqwest::Client::new().get(format!("{base}/big")).send().await?;
    assert_eq!(res.status(), 200);
    let err = res.bytes().await.unwrap_err();
    // reqwest: a decode error (`bytes()` decodes the body); underneath,
    // hyper's unexpected EOF.
    assert!(err.is_decode(), "{err:?}");
    assert!(has_io_kind(&err, io::ErrorKind::UnexpectedEof), "{err:?}");
    assert_eq!(target.report().bytes_downstream, 2_000);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn stall_then_recovery_switched_through_the_target() -> Result<(), BoxError> {
    let (target, base) = chaotic_app(vec![]).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    assert_eq!(
        client.get(format!("{base}/")).send().await?.text().await?,
        "hello"
    );

    target
        .set_faults(ConnFaultSet::new().with(ConnFault::stall(Direction::Downstream, Onset::Immediately)))?;
    let start = Instant::now();
    let err = client.get(format!("{base}/")).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(5));

    target.clear_faults::<ConnFault, ConnInfo>();
    assert_eq!(
        client.get(format!("{base}/")).send().await?.text().await?,
        "hello"
    );
    let report = target.report();
    assert_eq!(report.injected(FaultKind::Stall), 1, "{report}");
    Ok(())
}

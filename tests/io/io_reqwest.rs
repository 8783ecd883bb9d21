//! reqwest with `ConnectFaultsLayer` in `ClientBuilder::connector_layer`:
//! the connect-time faults it allows, against an axum app on loopback.
#![cfg(feature = "io")]

use crate::support::io as io_support;

use std::time::Duration;

use tokio::time::Instant;
use tower_chaos::io::{
    ConnFault, ConnFaultSet, ConnInfo, ConnectFaultsLayer, Direction, Onset, injected_fault,
};
use tower_chaos::{FaultKind, Latency, Rule, Target, Trigger};

use io_support::app;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn client(rules: Vec<Rule<ConnFault, ConnInfo>>) -> Result<(Target, reqwest::Client), BoxError> {
    let target = Target::builder("payments").seed(21).build()?;
    let mut faults = ConnFaultSet::new();
    for r in rules {
        faults = faults.with(r);
    }
    target.set_faults(faults)?;
    let client = reqwest::Client::builder()
        .connector_layer(ConnectFaultsLayer::for_target(&target))
        .build()?;
    Ok((target, client))
}

#[tokio::test]
async fn dns_failure_and_refusal_are_connect_errors() -> Result<(), BoxError> {
    let base = format!("http://{}", app().await?);
    let (target, client) = client(vec![
        ConnFault::dns_failure().when(Trigger::first(1)),
        ConnFault::refuse().when(Trigger::first(2)),
    ])?;
    let err = client.get(format!("{base}/")).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(injected_fault(&err), Some(FaultKind::DnsFailure), "{err:?}");
    // `first(2)` of the second rule counts the connections that reach it:
    // the first one did (the DNS failure took it first, and the rule was
    // not offered it), so it fires once more.
    let err = client.get(format!("{base}/")).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(injected_fault(&err), Some(FaultKind::Refused), "{err:?}");
    assert_eq!(
        client.get(format!("{base}/")).send().await?.text().await?,
        "hello"
    );
    let report = target.report();
    assert_eq!((report.seen, report.faulted), (3, 2));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn slow_connect_trips_reqwests_connect_timeout() -> Result<(), BoxError> {
    let base = format!("http://{}", app().await?);
    let target = Target::builder("payments").seed(21).build()?;
    target
        .set_faults(ConnFaultSet::new().with(
            ConnFault::slow_connect(Latency::fixed(Duration::from_secs(30))).when(Trigger::first(1)),
        ))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .connector_layer(ConnectFaultsLayer::for_target(&target))
        .build()?;
    let start = Instant::now();
    let err = client.get(format!("{base}/")).send().await.unwrap_err();
    assert!(err.is_connect() && err.is_timeout(), "{err:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(client.get(format!("{base}/")).send().await?.status(), 200);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn connect_hang_is_released_by_disable() -> Result<(), BoxError> {
    let base = format!("http://{}", app().await?);
    let (target, client) = client(vec![ConnFault::connect_hang().into()])?;
    let pending = tokio::spawn(async move { client.get(format!("{base}/")).send().await });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!pending.is_finished(), "hangs");
    target.disable();
    assert_eq!(pending.await.expect("task")?.status(), 200);
    Ok(())
}

#[tokio::test]
async fn stream_faults_do_not_apply_through_connector_layer() -> Result<(), BoxError> {
    let base = format!("http://{}", app().await?);
    let (target, client) = client(vec![ConnFault::reset(Direction::Both, Onset::Immediately).into()])?;
    assert_eq!(
        client.get(format!("{base}/")).send().await?.text().await?,
        "hello"
    );
    let report = target.report();
    assert_eq!((report.seen, report.faulted, report.total_injected()), (1, 0, 0));
    Ok(())
}

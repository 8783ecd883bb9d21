//! The AWS SDK for DynamoDB, a client no one here wrote, against a local
//! DynamoDB-shaped endpoint behind tower-chaos: throttling retried by the
//! SDK's standard mode, a connection outage surfacing as a dispatch
//! failure, and recovery.

use aws_rehearsal::{client, serve};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use tower_chaos::http::{HttpFaultSet, SyntheticResponse};
use tower_chaos::io::{ConnFault, ConnFaultSet, ConnInfo, Proxy};
use tower_chaos::{Target, Trigger};

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_by_the_standard_mode_and_counted() {
    let target = Target::builder("dynamodb").seed(7).build().unwrap();
    target
        .set_faults(HttpFaultSet::new().with(SyntheticResponse::aws_throttling().when(Trigger::first(2))))
        .unwrap();
    let addr = serve(&target).await;
    let out = client(addr)
        .get_item()
        .table_name("items")
        .key("id", AttributeValue::S("1".into()))
        .send()
        .await
        .expect("third attempt succeeds");
    assert!(out.item().is_some());
    let report = target.report();
    assert_eq!(report.seen, 3);
    assert_eq!(report.faulted, 2);
}

#[tokio::test(start_paused = true)]
async fn a_connection_outage_is_a_dispatch_failure_and_recovery_is_observed() {
    let backend = Target::builder("dynamodb").seed(1).build().unwrap();
    let addr = serve(&backend).await;
    let target = Target::builder("dynamodb-conn").seed(2).build().unwrap();
    target
        .set_faults(ConnFaultSet::new().with(ConnFault::refuse()))
        .unwrap();
    let proxy = Proxy::spawn(addr, &target).unwrap();
    let client = client(proxy.local_addr());
    let put = || {
        client
            .put_item()
            .table_name("items")
            .item("id", AttributeValue::S("1".into()))
            .send()
    };
    let err = put().await.expect_err("the outage reaches the SDK");
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");

    target.clear_faults::<ConnFault, ConnInfo>();
    put().await.expect("recovered");
}

//! The AWS SDK for DynamoDB, a client no one here wrote, against a local
//! DynamoDB-shaped endpoint behind tower-chaos: throttling retried by the
//! SDK's standard mode, a connection outage surfacing as a dispatch
//! failure, and recovery.

use std::net::SocketAddr;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use tower_chaos::http::{HttpChaosLayer, HttpFaultSet, SyntheticResponse};
use tower_chaos::io::{ConnFault, ConnFaults, ConnInfo, Proxy};
use tower_chaos::{Target, Trigger};

async fn dynamodb(headers: HeaderMap) -> ([(&'static str, &'static str); 1], &'static str) {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = if op.ends_with(".GetItem") {
        r#"{"Item":{"id":{"S":"1"}}}"#
    } else {
        "{}"
    };
    ([("content-type", "application/x-amz-json-1.0")], body)
}

async fn serve(target: &Target) -> SocketAddr {
    let router = Router::new()
        .route("/", post(dynamodb))
        .layer(HttpChaosLayer::for_target(target));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Retry settings pinned in code (AWS_MAX_ATTEMPTS=3, AWS_RETRY_MODE=standard).
fn client(addr: SocketAddr) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

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
        .set_faults(ConnFaults::new().with(ConnFault::refuse()))
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

//! The AWS SDK for DynamoDB, a client no one here wrote, with tower-chaos's
//! faults inside its HTTP client (`ChaosHttpClient`), against a
//! DynamoDB-shaped fake on paused time: AWS errors parsed and retried by
//! its standard mode, and each connection fault's exact `ConnectorError`
//! kind.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use support::{client, config, serve};
use tower_chaos::http::{HttpFault, HttpFaultSet, SyntheticResponse};
use tower_chaos::io::{ConnFault, ConnFaultSet, ConnInfo, Direction, Onset, injected_fault};
use tower_chaos::{FaultKind, Target, Trigger};
use tower_chaos_aws::ChaosHttpClient;

fn get(
    sdk: &aws_sdk_dynamodb::Client,
) -> aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder {
    sdk.get_item()
        .table_name("items")
        .key("id", AttributeValue::S("1".into()))
}

/// A `dynamodb` target of `seed` with `faults`, and a client applying them.
fn http_faulted(seed: u64, faults: HttpFaultSet) -> (Target, ChaosHttpClient) {
    let target = Target::builder("dynamodb").seed(seed).build().unwrap();
    target.set_faults(faults).unwrap();
    let http = ChaosHttpClient::builder().http_faults(&target).build().unwrap();
    (target, http)
}

#[tokio::test(start_paused = true)]
async fn throttling_inside_the_client_is_parsed_retried_and_counted() {
    let fake = serve().await;
    let (target, http) = http_faulted(
        7,
        HttpFaultSet::new().with(SyntheticResponse::aws_throttling().when(Trigger::first(2))),
    );
    let out = get(&client(fake.addr, http, 3))
        .send()
        .await
        .expect("third attempt succeeds");
    assert!(out.item().is_some());
    let report = target.report();
    assert_eq!((report.seen, report.faulted), (3, 2));
    // The throttled attempts were answered inside the client.
    assert_eq!(fake.received(), 1);

    // AWS 5xx errors are transient for the standard mode too.
    for (seed, error) in [
        (11, SyntheticResponse::aws_internal_server_error()),
        (12, SyntheticResponse::aws_service_unavailable()),
    ] {
        let (target, http) = http_faulted(seed, HttpFaultSet::new().with(error.when(Trigger::first(1))));
        get(&client(fake.addr, http, 3)).send().await.expect("retried");
        assert_eq!((target.report().seen, target.report().faulted), (2, 1));
    }
    assert_eq!(fake.received(), 3);
}

#[tokio::test(start_paused = true)]
async fn provisioned_throughput_exceeded_is_the_sdks_modelled_error_after_its_attempts() {
    let fake = serve().await;
    let (target, http) = http_faulted(
        8,
        HttpFaultSet::new().with(SyntheticResponse::aws_provisioned_throughput_exceeded()),
    );
    let err = get(&client(fake.addr, http, 3)).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ProvisionedThroughputExceededException"));
    assert!(
        matches!(
            err.into_service_error(),
            GetItemError::ProvisionedThroughputExceededException(_)
        ),
        "the SDK's parser gave the modelled variant"
    );
    assert_eq!(target.report().injected(FaultKind::Status), 3);
    assert_eq!(fake.received(), 0);
}

/// The kind of the SDK's connector error, as one word, checking that
/// exactly one of its four predicates holds.
fn connector_kind<E: std::fmt::Debug, R: std::fmt::Debug>(err: &SdkError<E, R>) -> &'static str {
    let SdkError::DispatchFailure(failure) = err else {
        panic!("not a dispatch failure: {err:?}");
    };
    let kinds = [
        (failure.is_io(), "io"),
        (failure.is_timeout(), "timeout"),
        (failure.is_user(), "user"),
        (failure.is_other(), "other"),
    ];
    let set: Vec<&str> = kinds.iter().filter(|(on, _)| *on).map(|(_, k)| *k).collect();
    assert_eq!(set.len(), 1, "{set:?}: {err:?}");
    set[0]
}

#[tokio::test(start_paused = true)]
async fn each_connection_fault_is_a_dispatch_failure_of_the_kind_the_sdks_own_client_gives() {
    let fake = serve().await;
    let cases = [
        (ConnFault::dns_failure(), FaultKind::DnsFailure, "io"),
        (ConnFault::refuse(), FaultKind::Refused, "io"),
        (
            ConnFault::reset(Direction::Upstream, Onset::Immediately),
            FaultKind::Reset,
            "io",
        ),
        (
            ConnFault::truncate_after(Direction::Downstream, 0),
            FaultKind::Truncate,
            "other",
        ),
        (ConnFault::connect_hang(), FaultKind::ConnectHang, "timeout"),
    ];
    for (seed, (fault, kind, expected)) in (1..).zip(cases) {
        let target = Target::builder("dynamodb").seed(seed).build().unwrap();
        target.set_faults(ConnFaultSet::new().with(fault)).unwrap();
        let http = ChaosHttpClient::builder()
            .conn_faults(&target)
            .pool_idle_timeout(Duration::ZERO)
            .build()
            .unwrap();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .build();
        let sdk =
            aws_sdk_dynamodb::Client::from_conf(config(fake.addr, http, 1).timeout_config(timeouts).build());
        let err = get(&sdk).send().await.unwrap_err();
        assert_eq!(connector_kind(&err), expected, "{kind:?}: {err:?}");
        if expected == "other" {
            // hyper's "connection closed before message completed",
            // transient for the SDK's retry classifier.
            let SdkError::DispatchFailure(failure) = &err else {
                unreachable!()
            };
            assert_eq!(
                failure.as_other(),
                Some(aws_smithy_types::retry::ErrorKind::TransientError),
                "{err:?}"
            );
        }
        if matches!(kind, FaultKind::DnsFailure | FaultKind::Refused) {
            assert_eq!(injected_fault(&err), Some(kind), "{err:?}");
        }
        assert_eq!(target.report().injected(kind), 1, "{kind:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_retried_by_the_standard_mode_and_recovery_is_seen() {
    let fake = serve().await;
    let target = Target::builder("dynamodb-conn").seed(2).build().unwrap();
    target
        .set_faults(ConnFaultSet::new().with(ConnFault::refuse()))
        .unwrap();
    let http = ChaosHttpClient::builder().conn_faults(&target).build().unwrap();
    let sdk = client(fake.addr, http, 3);
    let put = || {
        sdk.put_item()
            .table_name("items")
            .item("id", AttributeValue::S("1".into()))
            .send()
    };
    let err = put().await.expect_err("the outage reaches the SDK");
    assert_eq!(connector_kind(&err), "io");
    assert_eq!(target.report().injected(FaultKind::Refused), 3, "three attempts");

    target.clear_faults::<ConnFault, ConnInfo>();
    put().await.expect("recovered");
    assert_eq!(fake.received(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_https_endpoint_is_an_io_dispatch_failure_the_client_speaks_plain_http() {
    let fake = serve().await;
    let http = ChaosHttpClient::builder().build().unwrap();
    let config = config(fake.addr, http, 1)
        .endpoint_url(format!("https://{}", fake.addr))
        .build();
    let err = get(&aws_sdk_dynamodb::Client::from_conf(config))
        .send()
        .await
        .unwrap_err();
    assert_eq!(connector_kind(&err), "io");
    assert_eq!(fake.received(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_is_a_transient_dispatch_failure_as_over_the_wire() {
    let fake = serve().await;
    let target = Target::builder("dynamodb").seed(9).build().unwrap();
    let drop_first = || HttpFaultSet::new().with(HttpFault::DropConnection.when(Trigger::first(1)));
    let http = ChaosHttpClient::builder().http_faults(&target).build().unwrap();

    target.set_faults(drop_first()).unwrap();
    let err = get(&client(fake.addr, http.clone(), 1)).send().await.unwrap_err();
    assert_eq!(connector_kind(&err), "other");
    let SdkError::DispatchFailure(failure) = &err else {
        unreachable!()
    };
    assert_eq!(
        failure.as_other(),
        Some(aws_smithy_types::retry::ErrorKind::TransientError)
    );
    assert_eq!(fake.received(), 0, "the request never left the client");

    target.set_faults(drop_first()).unwrap();
    get(&client(fake.addr, http, 3)).send().await.expect("retried");
    assert_eq!(target.report().injected(FaultKind::DropConnection), 2);
    assert_eq!(fake.received(), 1);
}

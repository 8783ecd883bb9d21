//! The AWS SDK for DynamoDB against moto's DynamoDB-compatible server (a
//! real server nobody here wrote, on loopback: `TOWER_CHAOS_MOTO`, set by
//! `bash scripts/test-all`), with tower-chaos's faults inside the SDK's
//! HTTP client (`tower_chaos_aws::ChaosHttpClient`): tables, writes and
//! reads through it; a throttling storm retried by the SDK's standard mode
//! and counted on both sides; the AWS 2025-10 DNS preset; and a lost reply
//! that the SDK's retry turns into a second write.
//!
//! moto runs on real time: the retries' backoff is kept to milliseconds,
//! and the preset's replay holds tokio's paused clock still while a
//! request is with moto (see [`held`]). Every test uses tables of its own
//! (the server may be shared), dummy static credentials and a retry
//! partition of its own (the SDK shares its retry quota per partition).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType,
};
use tower_chaos::http::{BodyFault, HttpFaultSet, RequestMatcher, SyntheticResponse};
use tower_chaos::scenario::Scenario;
use tower_chaos::{FaultKind, Target, Trigger};
use tower_chaos_aws::ChaosHttpClient;
use tower_chaos_servers::{MOTO, require};

#[path = "../../aws/tests/support/replay.rs"]
mod replay;

use replay::{MIN, assert_failed_through_the_outage, replay};

/// The first retry's backoff ceiling (the standard mode draws up to it,
/// doubling per retry): small, moto answers in real time.
const BACKOFF: Duration = Duration::from_millis(5);

/// moto's endpoint, checked to be plain HTTP on loopback.
fn moto() -> String {
    let url = require(MOTO);
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "`{MOTO}` must be http://127.0.0.1:PORT, got {url}"
    );
    url
}

/// A name no other test, run or helper on the shared server uses.
fn unique(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = N.fetch_add(1, Ordering::SeqCst);
    format!("{name}-{}-{nanos}-{n}", std::process::id())
}

/// An SDK client for moto over `http`: the standard retry mode with
/// `attempts` attempts and `backoff` as its initial backoff.
fn sdk(http: ChaosHttpClient, attempts: u32, backoff: Duration) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(moto())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(backoff),
        )
        .retry_partition(RetryPartition::new(unique("tower-chaos-moto")))
        .http_client(http)
        .build();
    Client::from_conf(config)
}

/// A client without faults: set-up and reading what moto holds.
fn plain() -> Client {
    sdk(ChaosHttpClient::builder().build().unwrap(), 3, BACKOFF)
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// Creates a table keyed by the string `pk`; returns its name.
async fn create_table(name: &str) -> String {
    let table = unique(name);
    plain()
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    table
}

/// `ADD hits 1` on item `pk`: every request that reaches moto counts once.
fn hit(sdk: &Client, table: &str, pk: &str) -> UpdateItemFluentBuilder {
    sdk.update_item()
        .table_name(table)
        .key("pk", s(pk))
        .update_expression("ADD hits :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
}

/// Item `pk` as moto holds it (a strongly consistent read), if any.
async fn item(table: &str, pk: &str) -> Option<std::collections::HashMap<String, AttributeValue>> {
    plain()
        .get_item()
        .table_name(table)
        .key("pk", s(pk))
        .consistent_read(true)
        .send()
        .await
        .expect("read")
        .item
}

/// How many of the `hit`s on `pk` reached moto.
async fn hits(table: &str, pk: &str) -> u64 {
    item(table, pk).await.map_or(0, |item| {
        item["hits"]
            .as_n()
            .expect("a number")
            .parse()
            .expect("an integer")
    })
}

/// The item the lost-reply writes put: `pk`, `v = 1`.
fn written(pk: &str) -> std::collections::HashMap<String, AttributeValue> {
    [("pk".to_owned(), s(pk)), ("v".to_owned(), s("1"))].into()
}

fn operation(name: &str) -> RequestMatcher {
    RequestMatcher::header_value("x-amz-target", &format!("DynamoDB_20120810.{name}"))
}

#[tokio::test]
async fn a_table_is_created_written_and_read_through_the_chaos_client() {
    let http_target = Target::builder("dynamodb-http").seed(1).build().unwrap();
    let conn_target = Target::builder("dynamodb-conn").seed(1).build().unwrap();
    let http = ChaosHttpClient::builder()
        .http_faults(&http_target)
        .conn_faults(&conn_target)
        .build()
        .unwrap();
    let sdk = sdk(http, 3, BACKOFF);
    let table = create_table("items").await;
    sdk.put_item()
        .table_name(&table)
        .item("pk", s("k1"))
        .item("name", s("first"))
        .send()
        .await
        .expect("put");
    let got = sdk
        .get_item()
        .table_name(&table)
        .key("pk", s("k1"))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    assert_eq!(got.item().expect("the item")["name"], s("first"));
    let report = http_target.report();
    assert_eq!((report.seen, report.faulted), (2, 0));
    // moto answers `Connection: close`: a connection per request.
    assert_eq!(conn_target.report().connections, 2);
}

#[tokio::test]
async fn a_throttling_storm_is_retried_by_the_standard_mode_and_counted_on_both_sides() {
    let table = create_table("throttled").await;
    let target = Target::builder("dynamodb").seed(2).build().unwrap();
    let http = ChaosHttpClient::builder().http_faults(&target).build().unwrap();
    let sdk = sdk(http, 3, BACKOFF);

    // Two throttled attempts, the third lands.
    target
        .set_faults(
            HttpFaultSet::new()
                .with(SyntheticResponse::aws_throttling().when(operation("UpdateItem") & Trigger::first(2))),
        )
        .unwrap();
    hit(&sdk, &table, "k")
        .send()
        .await
        .expect("the third attempt lands");
    let report = target.report();
    assert_eq!((report.seen, report.injected(FaultKind::Status)), (3, 2));
    assert_eq!(
        hits(&table, "k").await,
        1,
        "moto received one of the three attempts"
    );

    // A storm longer than the attempts: the SDK gives up with DynamoDB's
    // modelled error, parsed from the synthesized body.
    target
        .set_faults(
            HttpFaultSet::new()
                .with(SyntheticResponse::aws_provisioned_throughput_exceeded().when(operation("UpdateItem"))),
        )
        .unwrap();
    let err = hit(&sdk, &table, "k").send().await.unwrap_err();
    assert!(
        matches!(
            err.into_service_error(),
            UpdateItemError::ProvisionedThroughputExceededException(_)
        ),
        "the modelled variant"
    );
    let report = target.report();
    assert_eq!((report.seen, report.injected(FaultKind::Status)), (6, 5));
    assert_eq!(
        hits(&table, "k").await,
        1,
        "none of the storm's attempts reached moto"
    );

    target.clear_http_faults();
    hit(&sdk, &table, "k").send().await.expect("the storm is over");
    assert_eq!(target.report().seen, 7);
    assert_eq!(hits(&table, "k").await, 2);
}

#[tokio::test]
async fn a_lost_reply_is_retried_by_the_sdk_although_the_write_landed() {
    let table = create_table("lost-reply").await;
    let target = Target::builder("dynamodb").seed(3).build().unwrap();
    let lose_the_first = |op: &str| {
        // moto runs the request; the SDK sees the response body fail.
        HttpFaultSet::new().with(BodyFault::abort_after(0).when(operation(op) & Trigger::first(1)))
    };
    let http = ChaosHttpClient::builder().http_faults(&target).build().unwrap();
    let once = sdk(http.clone(), 1, BACKOFF);
    let retrying = sdk(http, 3, BACKOFF);

    // Without retries the caller sees the error, yet the item is there.
    target.set_faults(lose_the_first("PutItem")).unwrap();
    let err = once
        .put_item()
        .table_name(&table)
        .set_item(Some(written("a")))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::ResponseError(_)), "{err:?}");
    assert_eq!(item(&table, "a").await, Some(written("a")), "the write landed");

    // An unconditional PutItem: retried, written twice, the same item
    // (an idempotent overwrite). The retry's ALL_OLD shows the first write.
    target.set_faults(lose_the_first("PutItem")).unwrap();
    let out = retrying
        .put_item()
        .table_name(&table)
        .set_item(Some(written("b")))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("the retry succeeds");
    assert_eq!(
        out.attributes(),
        Some(&written("b")),
        "the retry overwrote the first write"
    );

    // The same write, conditional on the item not existing: the retry
    // meets the first attempt's write and fails, although the write the
    // caller asked for happened. Code that reads this error as "someone
    // else created it" is wrong: that is the bug class to rehearse.
    target.set_faults(lose_the_first("PutItem")).unwrap();
    let err = retrying
        .put_item()
        .table_name(&table)
        .set_item(Some(written("c")))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.into_service_error(),
            PutItemError::ConditionalCheckFailedException(_)
        ),
        "the retry fails its condition"
    );
    assert_eq!(item(&table, "c").await, Some(written("c")), "our own write");

    // A counter: not idempotent, the lost reply counts twice.
    target.set_faults(lose_the_first("UpdateItem")).unwrap();
    hit(&retrying, &table, "n")
        .send()
        .await
        .expect("the retry succeeds");
    assert_eq!(hits(&table, "n").await, 2);

    let report = target.report();
    assert_eq!(report.injected(FaultKind::ResponseBody), 4);
    assert_eq!(
        report.seen,
        1 + 2 + 2 + 2,
        "one attempt, then three writes retried once"
    );
}

/// Runs `io` (requests to moto) with tokio's paused clock held still.
///
/// Under a paused clock tokio jumps to the next timer whenever the
/// runtime idles, and it idles while moto, another process, works on a
/// request: a scenario's next phase would begin in the middle of a call.
/// A running `spawn_blocking` task inhibits these jumps (tokio's
/// documented way to wait for real I/O under a paused clock), so the call
/// takes no scenario time. The SDK's own sleeps in the call must then be
/// zero: the replay's client has no retry backoff.
async fn held<F: Future>(io: F) -> F::Output {
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let holder = tokio::task::spawn_blocking(move || hold.recv().is_err());
    let out = io.await;
    drop(release);
    assert!(holder.await.expect("the holder ends"), "released");
    out
}

#[tokio::test(start_paused = true)]
async fn the_aws_2025_dns_outage_over_moto_fails_every_call_of_the_outage_and_none_reach_moto() {
    let table = held(create_table("dns")).await;
    let dynamodb = Target::builder("dynamodb").seed(5).build().unwrap();
    // hyper-util's default pool, but moto closes every connection
    // (`Connection: close`): each call connects, and resolves, as against
    // a provider that recycles connections.
    let http = ChaosHttpClient::builder().conn_faults(&dynamodb).build().unwrap();
    let sdk = sdk(http, 3, Duration::ZERO);
    // A call a minute until ten minutes after the caches expired (each
    // healthy call is a real request to moto); the rest of the 14-hour
    // timeline replays without calls, in no time.
    let until = |s: &Scenario| s.phase("cache-expiry").unwrap().end() + 10 * MIN;
    let (report, calls) = replay(&dynamodb, until, || held(hit(&sdk, &table, "calls").send())).await;
    let (_, lookups) = assert_failed_through_the_outage(&report, &calls);
    // What moto received: exactly the calls that succeeded.
    let ok = calls.iter().filter(|c| c.ok).count() as u64;
    assert_eq!(held(hits(&table, "calls")).await, ok);
    println!(
        "{} calls, {ok} reached moto; dns-empty: {lookups} failed lookups for 157 calls",
        calls.len()
    );
}

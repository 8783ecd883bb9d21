//! The AWS SDK for DynamoDB against the AWS us-east-1 2025-10 preset
//! (DynamoDB's endpoint unresolvable for 2 h 37 min, resolver caches
//! expiring over 15 min), replayed under paused time with one `GetItem` a
//! minute against the fake. The DNS failure reaches the SDK the way the
//! real one did: when it opens a connection. An SDK client that keeps no
//! idle connection sees every call of the outage fail as a
//! `DispatchFailure` after its standard retry mode tried the lookup again;
//! a pooled one rides the outage out on the connection it holds.

use std::time::Duration;

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use support::replay::{Call, assert_failed_through_the_outage, replay};
use tower_chaos::scenario::RehearsalReport;
use tower_chaos::{FaultKind, Target};
use tower_chaos_aws::ChaosHttpClient;

/// Replays the whole preset against an SDK client whose connections go
/// through the target's connect faults and stay idle for `idle` between
/// calls.
async fn rehearse(idle: Duration) -> (RehearsalReport, Target, Vec<Call>) {
    let dynamodb = Target::builder("dynamodb").seed(5).build().unwrap();
    let fake = support::serve().await;
    let http = ChaosHttpClient::builder()
        .http_faults(&dynamodb)
        .conn_faults(&dynamodb)
        .pool_idle_timeout(idle)
        .build()
        .unwrap();
    let sdk = support::client(fake.addr, http, 3);
    let (report, calls) = replay(
        &dynamodb,
        |s| s.duration(),
        || {
            sdk.get_item()
                .table_name("items")
                .key("id", AttributeValue::S("1".into()))
                .send()
        },
    )
    .await;
    (report, dynamodb, calls)
}

#[tokio::test(start_paused = true)]
async fn an_sdk_client_without_idle_connections_fails_through_the_dns_outage_and_recovers() {
    let (report, dynamodb, calls) = rehearse(Duration::ZERO).await;
    let (during, lookups) = assert_failed_through_the_outage(&report, &calls);
    // Each retry spends the SDK's retry quota, and failures refund
    // nothing, so it runs dry and later calls give up after one lookup.
    assert!(
        during.iter().all(|c| (1..=3).contains(&c.failed_lookups)),
        "{during:?}"
    );
    let single = during.iter().filter(|c| c.failed_lookups == 1).count();
    assert!(single > 0, "the retry quota never ran out: {during:?}");
    println!("{report}");
    println!(
        "dns-empty: {lookups} failed lookups for 157 calls; {single} calls gave up after one ({} in all)",
        dynamodb.report().injected(FaultKind::DnsFailure)
    );
}

#[tokio::test(start_paused = true)]
async fn a_pooled_sdk_client_rides_out_the_dns_outage_on_its_connection() {
    // Idle connections kept 90 s, longer than the minute between calls.
    let (report, dynamodb, calls) = rehearse(Duration::from_secs(90)).await;
    assert!(calls.iter().all(|c| c.ok), "{:?}", calls.iter().find(|c| !c.ok));
    assert_eq!(dynamodb.report().injected(FaultKind::DnsFailure), 0);
    let dns_row = report.phase("dns-empty").unwrap();
    assert_eq!((dns_row.caller.ok, dns_row.caller.calls), (157, 157));
    // One connection for the whole timeline: the target saw one connect
    // and a request per call.
    let totals = dynamodb.report();
    assert_eq!((totals.seen, totals.connections), (1 + calls.len() as u64, 1));
}

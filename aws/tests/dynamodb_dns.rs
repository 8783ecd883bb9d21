//! The AWS SDK for DynamoDB against the AWS us-east-1 2025-10 preset
//! (DynamoDB's endpoint unresolvable for 2 h 37 min, resolver caches
//! expiring over 15 min), replayed under paused time with one `GetItem` a
//! minute. The DNS failure reaches the SDK the way the real one did: when
//! it opens a connection. An SDK client that keeps no idle connection sees
//! every call of the outage fail as a `DispatchFailure` after its standard
//! retry mode tried the lookup again; a pooled one rides the outage out on
//! the connection it holds.

use std::time::Duration;

mod support;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::time::{Instant, sleep_until};
use tower_chaos::io::injected_fault;
use tower_chaos::scenario::{RehearsalReport, presets};
use tower_chaos::{FaultKind, Target};
use tower_chaos_aws::ChaosHttpClient;

const MIN: Duration = Duration::from_secs(60);

/// One call: when it started (scenario time), whether it succeeded, and
/// how many lookups failed during it (the SDK's attempts).
#[derive(Debug)]
struct Call {
    at: Duration,
    ok: bool,
    failed_lookups: u64,
}

/// Replays the preset against an SDK client whose connections go through
/// the target's connect faults and stay idle for `idle` between calls.
async fn rehearse(idle: Duration) -> (RehearsalReport, Target, Vec<Call>) {
    let scenario = presets::aws_dynamodb_dns_2025();
    let dynamodb = Target::builder("dynamodb").seed(5).build().unwrap();
    let rehearsal = tower_chaos::scenario::Rehearsal::new(&scenario).bind_http(&dynamodb);
    let probe = rehearsal.probe("dynamodb").unwrap();
    let fake = support::serve().await;
    let http = ChaosHttpClient::builder()
        .http_faults(&dynamodb)
        .conn_faults(&dynamodb)
        .pool_idle_timeout(idle)
        .build()
        .unwrap();
    let sdk = support::client(fake.addr, http, 3);
    let run = tokio::spawn(rehearsal.run());
    let start = Instant::now();
    let mut calls = Vec::new();
    let mut at = MIN / 2;
    while at < scenario.duration() {
        sleep_until(start + at).await;
        let before = dynamodb.report().injected(FaultKind::DnsFailure);
        let started = Instant::now();
        let result = sdk
            .get_item()
            .table_name("items")
            .key("id", AttributeValue::S("1".into()))
            .send()
            .await;
        let ok = match &result {
            Ok(_) => {
                probe.record(started, Ok(()));
                true
            }
            Err(err) => {
                // The SDK's own error, with tower-chaos's fault in its
                // source chain.
                assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
                assert_eq!(injected_fault(err), Some(FaultKind::DnsFailure), "{err:?}");
                probe.record(started, Err("dispatch failure: dns"));
                false
            }
        };
        let failed_lookups = dynamodb.report().injected(FaultKind::DnsFailure) - before;
        calls.push(Call {
            at,
            ok,
            failed_lookups,
        });
        at += MIN;
    }
    (run.await.unwrap().unwrap(), dynamodb, calls)
}

#[tokio::test(start_paused = true)]
async fn an_sdk_client_without_idle_connections_fails_through_the_dns_outage_and_recovers() {
    let scenario = presets::aws_dynamodb_dns_2025();
    let dns = scenario.phase("dns-empty").unwrap();
    let cache = scenario.phase("cache-expiry").unwrap();
    let (report, dynamodb, calls) = rehearse(Duration::ZERO).await;

    let during: Vec<&Call> = calls
        .iter()
        .filter(|c| c.at >= dns.start() && c.at < dns.end())
        .collect();
    assert_eq!(during.len(), 157);
    assert!(during.iter().all(|c| !c.ok), "every call of the outage fails");
    // The standard mode treats the connector error as transient: the first
    // calls of the outage look the name up three times (3 attempts). Each
    // retry spends its retry quota, and failures refund nothing, so it runs
    // dry and later calls give up after one lookup.
    assert_eq!(during[0].failed_lookups, 3, "{:?}", &during[..3]);
    assert!(
        during.iter().all(|c| (1..=3).contains(&c.failed_lookups)),
        "{during:?}"
    );
    let single = during.iter().filter(|c| c.failed_lookups == 1).count();
    assert!(single > 0, "the retry quota never ran out: {during:?}");

    // Healthy before the onset and after the caches expired.
    assert!(
        calls
            .iter()
            .filter(|c| c.at < dns.start() || c.at >= cache.end())
            .all(|c| c.ok)
    );
    let dns_row = report.phase("dns-empty").unwrap();
    assert_eq!((dns_row.caller.ok, dns_row.caller.calls), (0, 157));
    let lookups: u64 = during.iter().map(|c| c.failed_lookups).sum();
    assert_eq!(dns_row.provider.injected, [(FaultKind::DnsFailure, lookups)]);
    report.assert_recovered_within("dynamodb", MIN).unwrap();
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

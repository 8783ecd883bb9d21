//! The AWS 2025-10 DNS preset replayed against an SDK client, one call a
//! minute: shared by `aws/tests/dynamodb_dns.rs` (the fake) and
//! `servers/tests/dynamodb_moto.rs` (moto), which includes this file.
#![allow(dead_code)] // each test binary uses part of it

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use tokio::time::{Instant, sleep_until};
use tower_chaos::io::injected_fault;
use tower_chaos::scenario::{Rehearsal, RehearsalReport, Scenario, presets};
use tower_chaos::{FaultKind, Target};

pub(crate) const MIN: Duration = Duration::from_secs(60);

/// One call: when it started (scenario time), whether it succeeded, and
/// how many lookups failed during it (the SDK's attempts).
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) at: Duration,
    pub(crate) ok: bool,
    pub(crate) failed_lookups: u64,
}

/// Replays the preset on `dynamodb` (bound to the rehearsal), making one
/// `call` a minute, at half-minutes, until `until` (the rest of the
/// timeline replays without calls). A failed call must be the SDK's
/// `DispatchFailure`, an I/O connector error with the injected DNS failure
/// in its source chain; the probe records every call.
///
/// # Panics
///
/// On any other error, or if the rehearsal fails.
pub(crate) async fn replay<F, Fut, T, E, R>(
    dynamodb: &Target,
    until: impl FnOnce(&Scenario) -> Duration,
    mut call: F,
) -> (RehearsalReport, Vec<Call>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let scenario = presets::aws_dynamodb_dns_2025();
    let until = until(&scenario);
    let rehearsal = Rehearsal::new(&scenario).bind_http(dynamodb);
    let probe = rehearsal.probe("dynamodb").unwrap();
    let run = tokio::spawn(rehearsal.run());
    let start = Instant::now();
    let mut calls = Vec::new();
    let mut at = MIN / 2;
    while at < until {
        sleep_until(start + at).await;
        let before = dynamodb.report().injected(FaultKind::DnsFailure);
        let started = Instant::now();
        let ok = match call().await {
            Ok(_) => {
                probe.record(started, Ok(()));
                true
            }
            Err(err) => {
                // The SDK's own error, with tower-chaos's fault in its
                // source chain.
                let SdkError::DispatchFailure(failure) = &err else {
                    panic!("not a dispatch failure: {err:?}");
                };
                assert!(failure.is_io(), "{err:?}");
                assert_eq!(injected_fault(&err), Some(FaultKind::DnsFailure), "{err:?}");
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
    (run.await.unwrap().unwrap(), calls)
}

/// Asserts what a client that connects for every call sees: each of the
/// 157 calls of `dns-empty` fails, the first after its three attempts'
/// lookups; the calls before the onset and after the caches expired
/// succeed; the report's `dns-empty` row agrees, and the target recovered
/// within a minute. Returns the calls of `dns-empty` and their failed
/// lookups.
pub(crate) fn assert_failed_through_the_outage<'a>(
    report: &RehearsalReport,
    calls: &'a [Call],
) -> (Vec<&'a Call>, u64) {
    let scenario = presets::aws_dynamodb_dns_2025();
    let dns = scenario.phase("dns-empty").unwrap();
    let cache = scenario.phase("cache-expiry").unwrap();
    let during: Vec<&Call> = calls
        .iter()
        .filter(|c| c.at >= dns.start() && c.at < dns.end())
        .collect();
    assert_eq!(during.len(), 157);
    assert!(during.iter().all(|c| !c.ok), "every call of the outage fails");
    // The standard mode treats the connector error as transient: the first
    // calls of the outage look the name up three times (3 attempts).
    assert_eq!(during[0].failed_lookups, 3, "{:?}", &during[..3]);
    assert!(
        calls
            .iter()
            .filter(|c| c.at < dns.start() || c.at >= cache.end())
            .all(|c| c.ok),
        "healthy before the onset and once the caches expired"
    );
    let dns_row = report.phase("dns-empty").unwrap();
    assert_eq!((dns_row.caller.ok, dns_row.caller.calls), (0, 157));
    let lookups: u64 = during.iter().map(|c| c.failed_lookups).sum();
    assert_eq!(dns_row.provider.injected, [(FaultKind::DnsFailure, lookups)]);
    report.assert_recovered_within("dynamodb", MIN).unwrap();
    (during, lookups)
}

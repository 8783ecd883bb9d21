//! The main example's rehearsal under paused time: the AWS 2025-10 preset,
//! compressed as the example does, against the two-region loopback
//! provider; the application's retries, breaker and failover hold while
//! region 1's name does not resolve.
#![cfg(all(feature = "scenario", feature = "http", feature = "io", feature = "serde"))]

use tower_chaos::FaultKind;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/outage_rehearsal.rs"]
mod example;

#[tokio::test(start_paused = true)]
async fn the_example_rehearsal_passes_its_verdict() {
    let options = example::parse(["--seed".to_owned(), "7".to_owned()]).unwrap();
    let options = example::Options {
        live: false,
        ..options
    };
    let outcome = example::rehearse(&options).await.unwrap();
    println!("{}", outcome.report);
    outcome.verdict.unwrap();
    let dns = outcome.report.phase("dns-empty").unwrap();
    assert!(dns.caller.calls > 0);
    // Region 1 was tried while down: every try failed at its lookup, and
    // its server saw nothing.
    assert!(dns.provider.seen > 0, "region 1 was tried while down");
    assert_eq!(
        dns.provider.injected,
        [(FaultKind::DnsFailure, dns.provider.seen)]
    );
    // The breaker kept the tries to a few per second of real time, not
    // three per call.
    assert!(dns.provider.seen < dns.caller.calls, "{dns:?}");
}

#[tokio::test(start_paused = true)]
async fn a_naive_client_fails_the_verdict() {
    let options = example::parse(["--naive".to_owned()]).unwrap();
    let options = example::Options {
        live: false,
        ..options
    };
    let outcome = example::rehearse(&options).await.unwrap();
    let err = outcome.verdict.unwrap_err();
    assert!(err.contains("dns-empty"), "{err}");
    let dns = outcome.report.phase("dns-empty").unwrap();
    assert_eq!(dns.caller.ok, 0);
    // Three lookups a call, each failed.
    assert_eq!(
        dns.provider.injected,
        [(FaultKind::DnsFailure, 3 * dns.caller.calls)]
    );
}

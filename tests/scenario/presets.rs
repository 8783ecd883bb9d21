//! Presets and the HTTP binding under paused time: each preset builds,
//! validates, replays against a steady client that connects through the
//! target's `ConnectFaultsLayer` and calls through its `HttpChaosLayer`,
//! and its phases keep the postmortem's times.
#![cfg(all(feature = "scenario", feature = "http", feature = "io"))]

use crate::support::replay;

use std::convert::Infallible;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tower::{Layer, ServiceExt, service_fn};
use tower_chaos::http::{HttpChaosLayer, SyntheticResponse};
use tower_chaos::io::ConnectFaultsLayer;
use tower_chaos::scenario::{Phase, Probe, Rehearsal, RehearsalReport, Scenario, ScenarioError, presets};
use tower_chaos::{FaultKind, Target};

use replay::{call, provider};

const MIN: Duration = Duration::from_secs(60);

/// Replays `scenario` with every target bound to HTTP and one GET per
/// minute (half a minute off the boundaries) on each target; returns the
/// report and, per target, the statuses seen with their offsets.
async fn replay(
    scenario: &Scenario,
) -> (
    RehearsalReport,
    Vec<(String, Vec<(Duration, Option<StatusCode>)>)>,
) {
    let targets: Vec<Target> = scenario
        .targets()
        .iter()
        .map(|n| Target::builder(*n).seed(7).build().unwrap())
        .collect();
    let mut rehearsal = Rehearsal::new(scenario);
    for t in &targets {
        rehearsal = rehearsal.bind_http(t);
    }
    rehearsal.check().unwrap();
    let probes: Vec<Probe> = targets
        .iter()
        .map(|t| rehearsal.probe(t.name()).unwrap())
        .collect();
    let run = tokio::spawn(rehearsal.run());
    let start = Instant::now();
    let mut clients = Vec::new();
    for (t, probe) in targets.iter().zip(probes) {
        let svc = provider(t);
        let name = t.name().to_owned();
        let total = scenario.duration();
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0;
            loop {
                let at = MIN / 2 + MIN * i;
                if at >= total {
                    break;
                }
                sleep_until(start + at).await;
                seen.push((at, call(svc.clone(), &probe, Method::GET).await));
                i += 1;
            }
            (name, seen)
        }));
    }
    let mut seen = Vec::new();
    for c in clients {
        seen.push(c.await.unwrap());
    }
    (run.await.unwrap().unwrap(), seen)
}

fn ok_between(seen: &[(Duration, Option<StatusCode>)], from: Duration, to: Duration) -> (usize, usize) {
    let window: Vec<_> = seen.iter().filter(|(at, _)| *at >= from && *at < to).collect();
    let ok = window
        .iter()
        .filter(|(_, s)| s.is_some_and(|s| s.is_success()))
        .count();
    (ok, window.len())
}

/// Binds `target` to `s` over HTTP and starts rehearsing it: the probe
/// for its callers, and the running rehearsal.
fn start_http(s: &Scenario, target: &Target) -> (Probe, JoinHandle<Result<RehearsalReport, ScenarioError>>) {
    let rehearsal = Rehearsal::new(s).bind_http(target);
    let probe = rehearsal.probe(target.name()).unwrap();
    (probe, tokio::spawn(rehearsal.run()))
}

/// The phases of `s` named `names`.
fn phases<'a, const N: usize>(s: &'a Scenario, names: [&str; N]) -> [&'a Phase; N] {
    names.map(|name| s.phase(name).unwrap())
}

/// Checks that every call made between `from` and `to` succeeded.
fn assert_all_ok(seen: &[(Duration, Option<StatusCode>)], from: Duration, to: Duration) {
    let (ok, n) = ok_between(seen, from, to);
    assert_eq!(ok, n, "calls ok from {from:?} to {to:?}");
}

#[test]
fn every_preset_builds_with_its_name() {
    for name in presets::NAMES {
        let s = presets::by_name(name).unwrap();
        assert_eq!(s.name(), *name);
        assert!(s.description().is_some());
        assert!(s.phases().iter().all(|p| p.start() >= presets::LEAD_IN));
        // The function's name finds it too.
        assert_eq!(presets::by_name(&name.replace('-', "_")).unwrap().name(), *name);
    }
}

#[test]
fn an_unknown_preset_name_is_an_error_listing_the_presets() {
    let err = presets::by_name("aws-s3").unwrap_err();
    assert_eq!(
        err,
        tower_chaos::scenario::ScenarioError::UnknownPreset {
            name: "aws-s3".into(),
            known: presets::NAMES.iter().map(|n| (*n).to_owned()).collect(),
        }
    );
    let tls = if cfg!(feature = "tls") {
        ", azure-storage-2013"
    } else {
        ""
    };
    assert_eq!(
        err.to_string(),
        format!(
            "unknown preset `aws-s3`: the presets are aws-dynamodb-dns-2025, aws-us-east-1-2021, aws-s3-2017, \
             cloudflare-2025, google-cloud-2025{tls} (or their function names, with `_`)"
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_renamed_preset_target_binds_and_replays_under_the_new_name() {
    let original = presets::aws_s3_2017();
    let renamed = presets::aws_s3_2017().rename_target("s3", "blob-store").unwrap();
    assert_eq!(renamed.targets(), ["blob-store"]);
    assert_eq!(renamed.phases().len(), original.phases().len());
    for (a, b) in original.phases().iter().zip(renamed.phases()) {
        assert_eq!((a.name(), a.start(), a.end()), (b.name(), b.start(), b.end()));
    }
    // The old name is gone: a rehearsal that binds it is refused.
    let s3 = Target::builder("s3").seed(1).build().unwrap();
    assert!(Rehearsal::new(&renamed).bind_http(&s3).check().is_err());
    // The new name replays like the original did.
    let (report, seen) = replay(&renamed).await;
    assert_eq!(seen[0].0, "blob-store");
    let down = original.phase("all-operations-down").unwrap();
    let (ok, total) = ok_between(&seen[0].1, down.start(), down.end());
    assert!(total > 0);
    assert_eq!(ok, 0, "GETs succeeded while everything was down");
    assert!(report.phase("all-operations-down").unwrap().provider.faulted > 0);
    // Renaming onto itself is a no-op; onto nothing, or an unknown name, is an error.
    assert!(presets::aws_s3_2017().rename_target("s3", "s3").is_ok());
    assert!(presets::aws_s3_2017().rename_target("s3", "").is_err());
    assert!(presets::aws_s3_2017().rename_target("dynamodb", "x").is_err());
    let two = presets::google_cloud_2025();
    let err = two.rename_target("small-region", "large-region").unwrap_err();
    assert!(err.to_string().contains("large-region"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_down_phase_bound_to_http_answers_503_and_recovers() {
    let api = Target::builder("api").seed(1).build().unwrap();
    let s = Scenario::builder("http")
        .phase(Phase::new("outage", "api").at(MIN).lasting(MIN).down())
        .duration(3 * MIN)
        .build()
        .unwrap();
    let (probe, run) = start_http(&s, &api);
    let svc = provider(&api);
    let start = Instant::now();
    let mut statuses = Vec::new();
    for i in 0..6u32 {
        sleep_until(start + Duration::from_secs(15) + Duration::from_secs(30) * i).await;
        statuses.push(call(svc.clone(), &probe, Method::GET).await.unwrap().as_u16());
    }
    let report = run.await.unwrap().unwrap();
    assert_eq!(statuses, [200, 200, 503, 503, 200, 200]);
    assert_eq!(report.phase("outage").unwrap().caller.ok, 0);
    report
        .assert_recovered_within("api", Duration::from_secs(30))
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn per_operation_http_rules_fail_puts_while_gets_pass() {
    let s3 = Target::builder("s3").seed(1).build().unwrap();
    let s = Scenario::builder("ops")
        .phase(
            Phase::new("writes-down", "s3")
                .lasting(MIN)
                .rule(presets::for_methods(
                    SyntheticResponse::service_unavailable(),
                    &[Method::PUT],
                )),
        )
        .phase(
            Phase::new("throttled", "s3")
                .at(MIN)
                .lasting(MIN)
                .rule(presets::throttled(1.0, Duration::from_secs(3))),
        )
        .phase(
            Phase::new("aws", "s3")
                .at(2 * MIN)
                .lasting(MIN)
                .rule(presets::aws_throttled(1.0)),
        )
        .duration(3 * MIN)
        .build()
        .unwrap();
    let (probe, run) = start_http(&s, &s3);
    let svc = provider(&s3);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        call(svc.clone(), &probe, Method::PUT).await,
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(call(svc.clone(), &probe, Method::GET).await, Some(StatusCode::OK));
    tokio::time::sleep(MIN).await;
    let req = Request::get("/").body(()).unwrap();
    let throttled = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers()["retry-after"], "3");
    tokio::time::sleep(MIN).await;
    let req = Request::get("/").body(()).unwrap();
    let aws = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(aws.status(), StatusCode::BAD_REQUEST);
    assert!(
        aws.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .contains("ThrottlingException")
    );
    run.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn aws_dynamodb_dns_2025_keeps_the_postmortem_times_and_replays() {
    let s = presets::aws_dynamodb_dns_2025();
    let [dns, cache] = phases(&s, ["dns-empty", "cache-expiry"]);
    // 23:48 → 02:25 → 02:40; the event is over at 14:20 (14 h 32 min).
    assert_eq!(dns.duration(), 2 * 60 * MIN + 37 * MIN);
    assert_eq!(cache.start(), dns.end());
    assert_eq!(cache.duration(), 15 * MIN);
    assert_eq!(
        s.duration(),
        presets::LEAD_IN + 14 * 60 * MIN + 32 * MIN + presets::LEAD_OUT
    );

    assert!(dns.is_down() && !cache.is_down());

    let (report, seen) = replay(&s).await;
    let p = report.phase("dns-empty").unwrap();
    // One call a minute, each resolving: every one fails at its lookup,
    // and the server never sees a request.
    assert_eq!((p.caller.ok, p.caller.calls), (0, 157));
    assert_eq!(p.caller.errors, [("dns-failure".to_owned(), 157)]);
    assert_eq!(p.provider.injected, [(FaultKind::DnsFailure, 157)]);
    assert_eq!((p.provider.seen, p.provider.faulted), (157, 157));
    assert_eq!(p.provider.connections, 157, "all of them connections, no request");
    // Resolvers' caches expire over 15 minutes: some lookups fail, fewer
    // as it goes on (a ramp from 1 to 0: half of them on average).
    let c = &report.phase("cache-expiry").unwrap().caller;
    assert_eq!(c.calls, 15);
    assert!((3..=12).contains(&c.ok), "{c:?}");
    // Only `dns-empty` is down: a failed lookup is seen once.
    assert_eq!(report.target("dynamodb").unwrap().seen_while_down, Some(157));
    let (ok, n) = ok_between(&seen[0].1, cache.start(), cache.start() + 5 * MIN);
    let (late_ok, late_n) = ok_between(&seen[0].1, cache.end() - 5 * MIN, cache.end());
    assert!(
        ok < late_ok && n == late_n,
        "{ok}/{n} early, {late_ok}/{late_n} late"
    );
    report.assert_recovered_within("dynamodb", MIN).unwrap();
    assert_all_ok(&seen[0].1, cache.end(), s.duration());
}

/// A client that holds its connection across the outage never resolves
/// during it, and never sees it: a DNS outage is not a provider outage.
#[tokio::test(start_paused = true)]
async fn a_connection_held_across_the_2025_dns_outage_never_sees_it() {
    let s = presets::aws_dynamodb_dns_2025();
    let db = Target::builder("dynamodb").seed(7).build().unwrap();
    let (probe, run) = start_http(&s, &db);
    let connector =
        ConnectFaultsLayer::for_target(&db).layer(service_fn(|(): ()| async { Ok::<_, std::io::Error>(()) }));
    connector.oneshot(()).await.unwrap();
    // Requests over the held connection only.
    let server = HttpChaosLayer::for_target(&db).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let start = Instant::now();
    let dns = s.phase("dns-empty").unwrap();
    for i in 0..(dns.end().as_secs() / 60 + 30) as u32 {
        sleep_until(start + MIN / 2 + MIN * i).await;
        let t = Instant::now();
        let r = server.clone().oneshot(Request::new(())).await.unwrap();
        probe.record(
            t,
            if r.status().is_success() {
                Ok(())
            } else {
                Err("status")
            },
        );
    }
    run.abort();
    assert_eq!(db.report().injected(FaultKind::DnsFailure), 0);
    let seen = db.report().seen;
    assert_eq!(seen, 1 + u64::from((dns.end().as_secs() / 60 + 30) as u32));
    assert_eq!(db.report().faulted, 0);
}

#[tokio::test(start_paused = true)]
async fn aws_us_east_1_2021_is_slow_and_failing_for_9h14() {
    let s = presets::aws_us_east_1_2021();
    let p = s.phase("congestion").unwrap();
    assert_eq!(p.duration(), 9 * 60 * MIN + 14 * MIN);
    let (report, seen) = replay(&s).await;
    let c = &report.phase("congestion").unwrap().caller;
    assert!(c.ok > 0 && c.ok < c.calls, "{c:?}");
    assert!(c.errors.iter().any(|(k, _)| k == "timeout"), "{c:?}");
    assert!(c.errors.iter().any(|(k, _)| k == "503"), "{c:?}");
    assert_all_ok(&seen[0].1, p.end(), s.duration());
}

#[tokio::test(start_paused = true)]
async fn aws_s3_2017_recovers_reads_before_writes() {
    let s = presets::aws_s3_2017();
    let [down, reads, writes] = phases(&s, ["all-operations-down", "reads-recovering", "writes-down"]);
    // 09:37 → 12:26 → 13:18 (reads) → 13:54 (writes).
    assert_eq!(down.duration(), 2 * 60 * MIN + 49 * MIN);
    assert_eq!((reads.start(), reads.duration()), (down.end(), 52 * MIN));
    assert_eq!(
        (writes.start(), writes.duration()),
        (down.end(), 60 * MIN + 28 * MIN)
    );

    let s3 = Target::builder("s3").seed(3).build().unwrap();
    let (probe, run) = start_http(&s, &s3);
    let svc = provider(&s3);
    let start = Instant::now();
    let (mut get_ok_while_puts_fail, mut put_ok_while_puts_fail) = (0, 0);
    let mut i = 0;
    while MIN / 2 + MIN * i < s.duration() {
        let at = MIN / 2 + MIN * i;
        sleep_until(start + at).await;
        let get = call(svc.clone(), &probe, Method::GET).await.unwrap();
        let put = call(svc.clone(), &probe, Method::PUT).await.unwrap();
        if at >= down.start() && at < down.end() {
            assert_eq!((get.as_u16(), put.as_u16()), (503, 503));
        }
        if at >= reads.end() && at < writes.end() {
            get_ok_while_puts_fail += u32::from(get.is_success());
            put_ok_while_puts_fail += u32::from(put.is_success());
        }
        if at >= writes.end() {
            assert!(get.is_success() && put.is_success());
        }
        i += 1;
    }
    run.await.unwrap().unwrap();
    assert_eq!((get_ok_while_puts_fail, put_ok_while_puts_fail), (36, 0));
}

#[tokio::test(start_paused = true)]
async fn cloudflare_2025_flaps_every_5_minutes_then_stays_bad() {
    let s = presets::cloudflare_2025();
    let [flapping, steady, core] = phases(&s, ["flapping", "steady-bad", "core-flowing"]);
    // 11:20 onset, 13:05 bypass, 14:30 core flowing, 17:06 all normal.
    assert_eq!(steady.end() - flapping.start(), 60 * MIN + 45 * MIN);
    assert_eq!(s.phase("partial-bypass").unwrap().duration(), 60 * MIN + 25 * MIN);
    assert_eq!(core.end() - flapping.start(), 5 * 60 * MIN + 46 * MIN);
    let (report, seen) = replay(&s).await;
    let f = &report.phase("flapping").unwrap().caller;
    // One call a minute: half the flapping hour good, half bad.
    assert_eq!((f.ok, f.calls), (30, 60), "{f:?}");
    assert_eq!(report.phase("steady-bad").unwrap().caller.ok, 0);
    assert_all_ok(&seen[0].1, core.end(), s.duration());
}

#[tokio::test(start_paused = true)]
async fn google_cloud_2025_small_regions_recover_first() {
    let s = presets::google_cloud_2025();
    let global = s.phase("global-503").unwrap();
    assert_eq!(global.duration(), 40 * MIN);
    assert_eq!(s.phase("global-503-small").unwrap().duration(), 40 * MIN);
    let overloaded = s.phase("overloaded").unwrap();
    assert_eq!(overloaded.end() - global.start(), 2 * 60 * MIN + 40 * MIN);
    let (report, _) = replay(&s).await;
    assert_eq!(report.phase("global-503").unwrap().caller.ok, 0);
    assert_eq!(report.phase("global-503-small").unwrap().caller.ok, 0);
    // A steady client (one call a minute) stays under the capacity.
    let o = &report.phase("overloaded").unwrap().caller;
    assert_eq!(o.ok, o.calls);
    report.assert_recovered_within("small-region", MIN).unwrap();
}

#[test]
fn generic_blocks_compose_into_a_valid_scenario() {
    use tower_chaos::Latency;
    let lat = Latency::fixed(Duration::from_millis(100));
    let s = Scenario::builder("blocks")
        .phase(presets::regional_outage("eu", Duration::ZERO, 10 * MIN))
        .phase(presets::brownout("us", Duration::ZERO, 10 * MIN, 0.5, lat))
        .phase(presets::throttling_storm(
            "us",
            10 * MIN,
            10 * MIN,
            0.3,
            Duration::from_secs(1),
        ))
        .phase(presets::slow_drain("eu", 10 * MIN, 10 * MIN, lat))
        .build()
        .unwrap();
    let eu = Target::builder("eu").seed(1).build().unwrap();
    let us = Target::builder("us").seed(1).build().unwrap();
    Rehearsal::new(&s).bind_http(&eu).bind_http(&us).check().unwrap();
}

/// The replay `benches/scenario.rs` times (`docs/BENCHMARKS.md`): the
/// 14-hour AWS 2025-10 preset under paused time with a steady client (one
/// call a second, each through the connect faults and the HTTP layer:
/// 53,519 calls). Here, what it does.
#[tokio::test(start_paused = true)]
async fn the_14_hour_aws_2025_replay_of_the_benchmark() {
    let s = presets::aws_dynamodb_dns_2025();
    let run = replay::steady(&s, true).await;
    let report = run.report.unwrap();
    assert_eq!(run.calls, 53_519);
    // A connection and a request per healthy call, a failed lookup per
    // call while DNS is down.
    let dns = report.phase("dns-empty").unwrap();
    assert_eq!((dns.caller.ok, dns.caller.calls), (0, 157 * 60));
    let failed_lookups = run.target.report().injected(FaultKind::DnsFailure);
    assert!(failed_lookups > dns.caller.calls, "{failed_lookups}");
    let totals = run.target.report();
    assert_eq!(totals.seen, 2 * u64::from(run.calls) - failed_lookups);
    assert_eq!(totals.connections, u64::from(run.calls), "a connection per call");
    report
        .assert_recovered_within("dynamodb", Duration::from_secs(1))
        .unwrap();
}

//! A steady client replaying presets under paused time, shared by
//! `tests/scenario/presets.rs` and `benches/scenario.rs`: the provider as a client
//! without idle connections sees it (a connection through the target's
//! connect faults, then a request through its HTTP chaos layer), one call
//! recorded by a probe, and the 14-hour AWS 2025-10 replay whose wall time
//! `docs/BENCHMARKS.md` reports.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use tokio::time::{Instant, sleep_until, timeout};
use tower::util::BoxCloneService;
use tower::{BoxError, Layer, ServiceExt, service_fn};
use tower_chaos::http::HttpChaosLayer;
use tower_chaos::io::{ConnectFaultsLayer, injected_fault};
use tower_chaos::scenario::{Probe, Rehearsal, RehearsalReport, Scenario};
use tower_chaos::{FaultKind, Target};

/// A client's view of the provider: request in, response or error out.
pub type Svc = BoxCloneService<Request<()>, Response<()>, BoxError>;

/// The provider as a client without idle connections sees it: every call
/// opens a connection (an in-memory one, through the target's connect
/// faults: a DNS failure ends the call there), then sends its request to
/// a server that answers 200 behind the target's HTTP chaos layer.
pub fn provider(target: &Target) -> Svc {
    let server = HttpChaosLayer::for_target(target)
        .layer(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(()))
        }))
        .map_response(|r| r.map(|_| ()));
    // A concrete error type: with `BoxError` here the boxed service's
    // `Send` check trips over a higher-ranked lifetime.
    let connector = ConnectFaultsLayer::for_target(target)
        .layer(service_fn(|(): ()| async { Ok::<_, std::io::Error>(()) }));
    BoxCloneService::new(service_fn(move |req: Request<()>| {
        let (connector, server) = (connector.clone(), server.clone());
        async move {
            connector.oneshot(()).await?;
            let response = server.oneshot(req).await;
            Ok::<_, BoxError>(response.unwrap_or_else(|never| match never {}))
        }
    }))
}

/// One call of `method`, with a 2 s timeout, recorded by the probe (a
/// status, the connection fault's kind, or `timeout`); the status seen
/// (`None` on timeout or a failed connect).
pub async fn call(svc: Svc, probe: &Probe, method: Method) -> Option<StatusCode> {
    let started = Instant::now();
    let req = Request::builder()
        .method(method)
        .uri("/items/1")
        .body(())
        .unwrap();
    match timeout(Duration::from_secs(2), svc.oneshot(req)).await {
        Ok(Ok(r)) if r.status().is_success() => {
            probe.record(started, Ok(()));
            Some(r.status())
        }
        Ok(Ok(r)) => {
            probe.record(started, Err(r.status().as_str()));
            Some(r.status())
        }
        Ok(Err(err)) => {
            let kind = injected_fault(&*err).map_or("connect", FaultKind::as_str);
            probe.record(started, Err(kind));
            None
        }
        Err(_) => {
            probe.record(started, Err("timeout"));
            None
        }
    }
}

/// What [`steady`] replayed.
#[derive(Debug)]
pub struct Steady {
    /// `None` for the baseline.
    pub report: Option<RehearsalReport>,
    pub target: Target,
    pub calls: u32,
}

/// Replays `scenario` (one target, bound to HTTP) against a client that
/// calls once a second, half a second off the cuts, for the whole
/// timeline. With `rehearse` false the same client runs against the same
/// layers with no rehearsal: the baseline the bench compares with.
pub async fn steady(scenario: &Scenario, rehearse: bool) -> Steady {
    let name = scenario.targets()[0];
    let target = Target::builder(name).seed(1).build().unwrap();
    let rehearsal = Rehearsal::new(scenario).bind_http(&target);
    let probe = rehearsal.probe(name).unwrap();
    let run = rehearse.then(|| tokio::spawn(rehearsal.run()));
    let svc = provider(&target);
    let start = Instant::now();
    let calls = (scenario.duration().as_secs() - 1) as u32;
    for i in 0..calls {
        sleep_until(start + Duration::from_millis(500) + Duration::from_secs(1) * i).await;
        call(svc.clone(), &probe, Method::GET).await;
    }
    let report = match run {
        Some(run) => Some(run.await.unwrap().unwrap()),
        None => None,
    };
    Steady {
        report,
        target,
        calls,
    }
}

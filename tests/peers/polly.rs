//! Polly's chaos strategies (Simmy), ported: the expectations of
//! App-vNext/Polly `test/Polly.Core.Tests/Simmy/**` (fault, outcome,
//! latency strategies; injection rate and enabled generators), checked
//! against the request-level `ChaosLayer`.
//!
//! Polly's strategies decide with `Randomizer() < InjectionRate`; its tests
//! pin the randomizer to 0.5, so rate 0.6 always injects and rate 0.3
//! never does. Our draws come from the target's seed, so "within the
//! threshold" is written as rate 1 (or `Trigger::always`), "not within" as
//! rate 0, and the rates themselves are checked as frequencies with a fixed
//! seed. Polly's `Enabled = false` is `Target::disable`; its
//! `EnabledGenerator` is `Trigger::when`; its `OnXInjected` callbacks are
//! our report and journal; cancelling its token is dropping our future.

use std::time::Duration;

use crate::support::Upstream;
use tokio::time::Instant;
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_chaos::{ChaosLayer, Fault, FaultKind, InjectedError, Latency, Target, Trigger};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpStatusCode {
    Ok = 200,
    TooManyRequests = 429,
}

/// The "user delegate": answers 200 and counts its executions.
fn user_delegate() -> Upstream<HttpStatusCode> {
    Upstream::answering(|| HttpStatusCode::Ok)
}

fn layer(faults: Vec<tower_chaos::Rule<Fault<u32>, u32>>) -> ChaosLayer<u32> {
    let mut builder = ChaosLayer::builder("polly").seed(5).journal(16);
    for rule in faults {
        builder = builder.fault(rule);
    }
    builder.build().unwrap()
}

fn too_many_requests() -> Fault<u32> {
    Fault::respond(|_: &u32| HttpStatusCode::TooManyRequests)
}

// Outcomes/ChaosOutcomeStrategyTests.cs,
// Given_enabled_and_randomly_within_threshold_should_inject_result: the
// injected result (429) is returned, the user delegate is not executed, one
// injection event is raised (ours: `injected(Respond)` 1 and one journal
// event of kind `Respond`).
#[tokio::test]
async fn outcome_within_threshold_injects_result() {
    let user = user_delegate();
    let chaos = layer(vec![too_many_requests().when(Trigger::rate(1.0))]);
    let response = chaos.layer(user.service()).oneshot(1).await.unwrap();
    assert_eq!(response, HttpStatusCode::TooManyRequests);
    assert_eq!(user.calls(), 0);
    let report = chaos.target().report();
    assert_eq!((report.injected(FaultKind::Respond), report.faulted), (1, 1));
    assert_eq!(report.journal.len(), 1);
    assert_eq!(report.journal[0].kind, FaultKind::Respond);
}

// Outcomes/ChaosOutcomeStrategyTests.cs,
// Given_not_enabled_should_not_inject_result and
// Given_enabled_and_randomly_not_within_threshold_should_not_inject_result:
// disabled (`Enabled = false`), or the draw above the rate: the user
// delegate runs and its 200 comes back, nothing is injected.
#[tokio::test]
async fn outcome_not_enabled_or_not_within_threshold() {
    let user = user_delegate();
    let chaos = layer(vec![too_many_requests().when(Trigger::rate(1.0))]);
    chaos.target().disable();
    assert_eq!(
        chaos.layer(user.service()).oneshot(1).await.unwrap(),
        HttpStatusCode::Ok
    );

    let below = layer(vec![too_many_requests().when(Trigger::rate(0.0))]);
    assert_eq!(
        below.layer(user.service()).oneshot(1).await.unwrap(),
        HttpStatusCode::Ok
    );
    assert_eq!(user.calls(), 2);
    assert_eq!(
        chaos.target().report().total_injected() + below.target().report().total_injected(),
        0
    );
}

// Outcomes/ChaosOutcomeStrategyTests.cs,
// Given_enabled_and_randomly_within_threshold_should_not_inject_if_generator_returns_null:
// Polly's generator may decline (null) and the user delegate runs. Our
// `Fault::respond` always builds a response; declining per request is the
// trigger's job (`Trigger::when`), which keeps "whether" apart from "what".
#[tokio::test]
async fn outcome_declined_per_request_runs_the_user_delegate() {
    let user = user_delegate();
    let chaos = layer(vec![too_many_requests().when(Trigger::when(|n: &u32| *n != 42))]);
    let svc = chaos.layer(user.service());
    assert_eq!(svc.clone().oneshot(42).await.unwrap(), HttpStatusCode::Ok);
    assert_eq!(svc.oneshot(7).await.unwrap(), HttpStatusCode::TooManyRequests);
    assert_eq!(user.calls(), 1);
    assert_eq!(chaos.target().report().injected(FaultKind::Respond), 1);
}

// Outcomes/ChaosOutcomeStrategyTests.cs,
// Given_enabled_and_randomly_within_threshold_should_inject_exception, and
// Fault/ChaosFaultStrategyTests.cs,
// Given_enabled_and_randomly_within_threshold_should_inject_fault (and
// ..._instead_returning_outcome): the exception is thrown with its message,
// the user delegate is not executed, one event is raised.
#[tokio::test]
async fn fault_within_threshold_injects_exception() {
    let user = user_delegate();
    let chaos = layer(vec![
        Fault::error(|_: &u32| BoxError::from("Dummy exception")).when(Trigger::rate(1.0)),
    ]);
    let err = chaos.layer(user.service()).oneshot(1).await.unwrap_err();
    assert_eq!(err.to_string(), "Dummy exception");
    assert_eq!(user.calls(), 0);
    let report = chaos.target().report();
    assert_eq!((report.injected(FaultKind::Error), report.journal.len()), (1, 1));

    // The ready-made error names the target, as Polly's telemetry does.
    let chaos = layer(vec![Fault::injected_error().when(Trigger::always())]);
    let err = chaos.layer(user.service()).oneshot(1).await.unwrap_err();
    assert_eq!(err.downcast_ref::<InjectedError>().unwrap().target(), "polly");
}

// Fault/ChaosFaultStrategyTests.cs, Given_not_enabled_should_not_inject_fault
// (and ..._and_return_outcome), and
// Given_enabled_and_randomly_not_within_threshold_should_not_inject_fault:
// the user delegate runs and its outcome comes back.
#[tokio::test]
async fn fault_not_enabled_or_not_within_threshold() {
    let user = user_delegate();
    let chaos = layer(vec![Fault::injected_error().when(Trigger::rate(1.0))]);
    chaos.target().disable();
    assert_eq!(
        chaos.layer(user.service()).oneshot(1).await.unwrap(),
        HttpStatusCode::Ok
    );
    let below = layer(vec![Fault::injected_error().when(Trigger::rate(0.0))]);
    assert_eq!(
        below.layer(user.service()).oneshot(1).await.unwrap(),
        HttpStatusCode::Ok
    );
    assert_eq!(user.calls(), 2);
}

// Latency/ChaosLatencyStrategyTests.cs,
// Given_enabled_and_randomly_within_threshold_should_inject_latency: a
// 500 ms latency: the user delegate runs, exactly 500 ms later (Polly's fake
// time provider; ours tokio's paused clock), one latency event.
#[tokio::test(start_paused = true)]
async fn latency_within_threshold_injects_latency() {
    let user = user_delegate();
    let delay = Duration::from_millis(500);
    let chaos = layer(vec![
        Fault::latency(Latency::fixed(delay)).when(Trigger::rate(1.0)),
    ]);
    let before = Instant::now();
    assert_eq!(
        chaos.layer(user.service()).oneshot(1).await.unwrap(),
        HttpStatusCode::Ok
    );
    assert_eq!((before.elapsed(), user.calls()), (delay, 1));
    let report = chaos.target().report();
    assert_eq!(report.injected(FaultKind::Latency), 1);
    assert_eq!(report.journal[0].delay, Some(delay));
}

// Latency/ChaosLatencyStrategyTests.cs,
// Given_not_enabled_should_not_inject_latency and
// Given_enabled_and_randomly_not_within_threshold_should_not_inject_latency:
// no time passes, the user delegate runs.
#[tokio::test(start_paused = true)]
async fn latency_not_enabled_or_not_within_threshold() {
    let user = user_delegate();
    let latency = || Fault::latency(Latency::fixed(Duration::from_millis(500)));
    let disabled = layer(vec![latency().when(Trigger::rate(1.0))]);
    disabled.target().disable();
    let below = layer(vec![latency().when(Trigger::rate(0.0))]);
    let before = Instant::now();
    disabled.layer(user.service()).oneshot(1).await.unwrap();
    below.layer(user.service()).oneshot(1).await.unwrap();
    assert_eq!((before.elapsed(), user.calls()), (Duration::ZERO, 2));
}

// Latency/ChaosLatencyStrategyTests.cs,
// Given_latency_is_negative_should_not_inject_latency (-1000 s and 0): no
// time passes, the user delegate runs, no latency event. A `Duration`
// cannot be negative, so only 0 exists for us: it injects nothing and is
// not counted (Envoy's FixedDelayZeroDuration agrees).
#[tokio::test(start_paused = true)]
async fn zero_latency_injects_nothing() {
    let user = user_delegate();
    let chaos = layer(vec![
        Fault::latency(Latency::fixed(Duration::ZERO)).when(Trigger::rate(1.0)),
    ]);
    let before = Instant::now();
    chaos.layer(user.service()).oneshot(1).await.unwrap();
    assert_eq!((before.elapsed(), user.calls()), (Duration::ZERO, 1));
    let report = chaos.target().report();
    assert_eq!(
        (report.faulted, report.total_injected(), report.journal.len()),
        (0, 0, 0)
    );
}

// Latency/ChaosLatencyStrategyTests.cs,
// Should_not_execute_user_delegate_when_it_was_cancelled_running_the_strategy,
// and the same test of Outcomes/ and Fault/: cancelled while the strategy
// runs, the user delegate never executes. Ours: the caller drops the future
// during the delay; the inner service is never called and nothing stays
// active.
#[tokio::test(start_paused = true)]
async fn cancelled_during_latency_never_runs_the_user_delegate() {
    let user = user_delegate();
    let chaos = layer(vec![
        Fault::latency(Latency::fixed(Duration::from_millis(500))).into(),
    ]);
    let mut svc = chaos.layer(user.service());
    let future = svc.ready().await.unwrap().call(1);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), future)
            .await
            .is_err()
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(user.calls(), 0);
    assert_eq!(chaos.target().report().active_faults, 0);
}

// ChaosStrategyTests.cs, Should_inject_chaos, and the strategies' rate
// behaviour (`Randomizer() < InjectionRate`): over 4000 calls with a fixed
// seed, rate 0.6 injects 60 % ± 3 points and rate 0.3 injects 30 % ± 3
// points (the binomial standard deviation is under 0.8 point).
#[tokio::test]
async fn injection_rate_is_the_frequency() {
    for rate in [0.6, 0.3] {
        let user = user_delegate();
        let chaos = layer(vec![too_many_requests().when(Trigger::rate(rate))]);
        let svc = chaos.layer(user.service());
        let n = 4000u32;
        let mut injected = 0u32;
        for i in 0..n {
            if svc.clone().oneshot(i).await.unwrap() == HttpStatusCode::TooManyRequests {
                injected += 1;
            }
        }
        let share = f64::from(injected) / f64::from(n);
        assert!((share - rate).abs() <= 0.03, "rate {rate}: {share}");
        assert_eq!(
            u64::from(injected),
            chaos.target().report().injected(FaultKind::Respond)
        );
        assert_eq!(user.calls() as u32, n - injected);
    }
}

// ChaosStrategyTests.cs, Should_coerce_injection_rate_generator_result_is_not_valid:
// Polly coerces an injection rate below 0 to 0 (no chaos) and above 1 to 1
// (always). We refuse a rate outside 0..=1 and a negative rate scale with a
// `ConfigError` instead (a typo should not silently mean "never"); a rate
// scale above 1 is accepted and caps every rate at 1, Polly's coercion.
#[tokio::test]
async fn invalid_injection_rates_are_refused_not_coerced() {
    for rate in [-1.0, 1.1] {
        let err = ChaosLayer::<u32>::builder("polly")
            .fault(too_many_requests().when(Trigger::rate(rate)))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("trigger.rate"), "{err}");
    }
    let target = Target::builder("polly").seed(1).build().unwrap();
    assert!(
        target.set_rate_scale(-1.0).is_err(),
        "a negative scale is refused, not coerced to 0"
    );

    let user = user_delegate();
    let chaos = layer(vec![too_many_requests().when(Trigger::rate(0.5))]);
    chaos.target().set_rate_scale(2.0).unwrap();
    let svc = chaos.layer(user.service());
    for i in 0..100 {
        assert_eq!(
            svc.clone().oneshot(i).await.unwrap(),
            HttpStatusCode::TooManyRequests
        );
    }
    assert_eq!(user.calls(), 0);
}

// ChaosStrategyTests.cs, Ctor_Ok and the EnabledGenerator cases: an
// enabled generator decides per call. Ours: `Trigger::when` on the request
// (here: only odd calls), evaluated at `call`; a switch per target
// (`enable`/`disable`) is the static `Enabled`.
#[tokio::test]
async fn enabled_generator_decides_per_call() {
    let user = user_delegate();
    let chaos = layer(vec![
        too_many_requests().when(Trigger::when(|n: &u32| n % 2 == 1)),
    ]);
    let svc = chaos.layer(user.service());
    let mut got = Vec::new();
    for i in 0..6 {
        got.push(svc.clone().oneshot(i).await.unwrap());
    }
    use HttpStatusCode::{Ok, TooManyRequests as Tmr};
    assert_eq!(got, [Ok, Tmr, Ok, Tmr, Ok, Tmr]);
    chaos.target().disable();
    assert_eq!(svc.oneshot(1).await.unwrap(), Ok);
    chaos.target().enable();
    assert_eq!(chaos.target().report().injected(FaultKind::Respond), 3);
}

// Outcome and latency strategies stacked (Polly composes strategies in a
// pipeline: a latency strategy before an outcome strategy delays the
// injected result). Ours: delays add up and apply before the injected
// response (the ChaosLayer resolution order).
#[tokio::test(start_paused = true)]
async fn latency_then_outcome_delays_the_injected_result() {
    let user = user_delegate();
    let chaos = layer(vec![
        Fault::latency(Latency::fixed(Duration::from_millis(200))).into(),
        too_many_requests().into(),
    ]);
    let before = Instant::now();
    assert_eq!(
        chaos.layer(user.service()).oneshot(1).await.unwrap(),
        HttpStatusCode::TooManyRequests
    );
    assert_eq!((before.elapsed(), user.calls()), (Duration::from_millis(200), 0));
}

// Not in Polly (its outcome strategy is typed by the pipeline): a respond
// fault whose type is not the service's response never fires there, and
// the inner service answers.
#[tokio::test]
async fn a_response_of_another_type_never_fires() {
    let user = user_delegate();
    let chaos = layer(vec![Fault::respond(|_: &u32| "not a status code").into()]);
    assert_eq!(
        chaos.layer(user.service()).oneshot(1).await.unwrap(),
        HttpStatusCode::Ok
    );
    assert_eq!((user.calls(), chaos.target().report().total_injected()), (1, 0));
}

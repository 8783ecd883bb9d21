//! Phases expected to fire (`Phase::expect_to_fire`, `expect_to_fire =
//! true` in files): the rehearsal counts their injections and
//! `RehearsalReport::assert_expected_fired` names every marked phase that
//! injected nothing, on tokio's paused clock.

use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_chaos::scenario::{Phase, Rehearsal, RehearsalReport, Scenario, VerdictError};
use tower_chaos::{ChaosLayer, Target};

const MIN: Duration = Duration::from_secs(60);
const MS: Duration = Duration::from_millis(1);

/// A phase on target `api` from `at`, one minute long, down, expected to
/// fire.
fn expected(name: &str, at: Duration) -> Phase {
    Phase::new(name, "api")
        .at(at)
        .lasting(MIN)
        .down()
        .expect_to_fire()
}

/// `outage` from 1 min to 2 min and `quiet` from 3 min to 4 min.
fn scenario() -> Scenario {
    Scenario::builder("expectations")
        .phase(expected("outage", MIN))
        .phase(expected("quiet", 3 * MIN))
        .duration(5 * MIN)
        .build()
        .unwrap()
}

/// Rehearses `scenario` on target `api` (seed 11), calling the service
/// once at each scenario offset in `calls`; returns the report and what
/// each call gave (`true`: it failed).
async fn rehearse(scenario: &Scenario, calls: &[Duration]) -> (RehearsalReport, Vec<bool>, Target) {
    let api = Target::builder("api").seed(11).build().unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(ChaosLayer::<u32>::for_target(&api))
        .service(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    let start = Instant::now();
    // The timeline starts when `run` is called, here.
    let run = tokio::spawn(Rehearsal::new(scenario).bind::<u32, BoxError>(&api).run());
    let mut failed = Vec::new();
    for &at in calls {
        sleep_until(start + at).await;
        failed.push(svc.ready().await.unwrap().call(1).await.is_err());
    }
    let report = run.await.unwrap().unwrap();
    (report, failed, api)
}

#[tokio::test(start_paused = true)]
async fn a_phase_with_no_traffic_in_its_window_fails_the_verdict_naming_it() {
    // One call in `outage`, none in `quiet`.
    let (report, failed, api) = rehearse(&scenario(), &[MIN + MIN / 2]).await;
    assert_eq!(failed, [true]);
    assert_eq!(report.phase("outage").unwrap().fired, Some(1));
    assert_eq!(report.phase("quiet").unwrap().fired, Some(0));
    let err = report.assert_expected_fired().unwrap_err();
    assert_eq!(
        err,
        VerdictError::NeverFired {
            phases: vec![("quiet".to_owned(), "api".to_owned(), 11)],
        }
    );
    assert_eq!(
        err.to_string(),
        "1 phase expected to fire never fired: `quiet` (target `api`, seed 11) (no traffic reached the \
         target during the phase, or its triggers never matched)"
    );
    assert!(
        report
            .to_string()
            .ends_with("expected to fire: `outage` 1, `quiet` never\n"),
        "{report}"
    );
    // The target's own report lists the phase's rule, named after it.
    let not_fired = api.report().verify_expected().unwrap_err();
    let names: Vec<_> = not_fired.not_fired().iter().map(|r| r.name.as_deref()).collect();
    assert_eq!(names, [Some("quiet")]);
}

#[tokio::test(start_paused = true)]
async fn phases_that_fired_pass_the_verdict() {
    let (report, failed, api) = rehearse(
        &scenario(),
        &[MIN + MIN / 2, 3 * MIN + MIN / 2, 3 * MIN + MIN / 2],
    )
    .await;
    assert_eq!(failed, [true, true, true]);
    assert_eq!(report.phase("outage").unwrap().fired, Some(1));
    assert_eq!(report.phase("quiet").unwrap().fired, Some(2));
    assert_eq!(report.assert_expected_fired(), Ok(()));
    api.report().assert_expected_fired();
}

#[tokio::test(start_paused = true)]
async fn phases_not_marked_are_not_counted_and_a_verdict_without_any_is_vacuous() {
    let scenario = Scenario::builder("unmarked")
        .phase(Phase::new("outage", "api").at(MIN).lasting(MIN).down())
        .build()
        .unwrap();
    assert!(!scenario.phases()[0].is_expected_to_fire());
    let (report, failed, _) = rehearse(&scenario, &[MIN + MIN / 2]).await;
    assert_eq!(failed, [true]);
    assert_eq!(report.phase("outage").unwrap().fired, None);
    assert!(matches!(
        report.assert_expected_fired(),
        Err(VerdictError::Vacuous(m)) if m == "no phase is marked `expect_to_fire`"
    ));
}

/// Around the boundaries of `outage` (1 min to 2 min). The instant of a
/// cut itself may fall on either side (see `Rehearsal`'s "Boundaries"),
/// and tokio's timer rounds deadlines up to the millisecond, so the calls
/// are one millisecond inside or outside.
#[tokio::test(start_paused = true)]
async fn only_calls_within_the_window_count_for_the_phase() {
    let outage = || {
        Scenario::builder("edge")
            .phase(expected("outage", MIN))
            .duration(3 * MIN)
            .build()
            .unwrap()
    };
    for (calls, fired) in [
        (vec![MIN - MS, 2 * MIN + MS], 0),
        (vec![MIN + MS], 1),
        (vec![2 * MIN - MS], 1),
        (vec![MIN - MS, MIN + MS, 2 * MIN - MS, 2 * MIN + MS], 2),
    ] {
        let (report, failed, _) = rehearse(&outage(), &calls).await;
        let inside: Vec<bool> = calls.iter().map(|&at| at > MIN && at < 2 * MIN).collect();
        assert_eq!(failed, inside, "{calls:?}");
        assert_eq!(report.phase("outage").unwrap().fired, Some(fired), "{calls:?}");
        assert_eq!(report.assert_expected_fired().is_ok(), fired > 0, "{calls:?}");
    }
}

/// `expect_to_fire = true` loads in the three formats and is written back.
#[cfg(feature = "serde")]
#[test]
fn the_file_key_loads_in_three_formats_and_round_trips() {
    use tower_chaos::scenario::Format;

    let toml = "name = \"s\"\n[[phases]]\nname = \"outage\"\ntarget = \"api\"\nfor = \"1m\"\ndown = true\nexpect_to_fire = true\n\n[[phases]]\nname = \"calm\"\ntarget = \"api\"\nat = \"2m\"\nfor = \"1m\"\ndown = true\n";
    let yaml = "name: s\nphases:\n- {name: outage, target: api, for: 1m, down: true, expect_to_fire: true}\n- {name: calm, target: api, at: 2m, for: 1m, down: true}\n";
    let json = r#"{"name": "s", "phases": [{"name": "outage", "target": "api", "for": "1m", "down": true, "expect_to_fire": true}, {"name": "calm", "target": "api", "at": "2m", "for": "1m", "down": true}]}"#;
    let parsed = Scenario::parse(toml, Format::Toml).unwrap();
    assert_eq!(parsed, Scenario::parse(yaml, Format::Yaml).unwrap());
    assert_eq!(parsed, Scenario::parse(json, Format::Json).unwrap());
    let marked: Vec<bool> = parsed.phases().iter().map(Phase::is_expected_to_fire).collect();
    assert_eq!(marked, [true, false]);
    for format in [Format::Toml, Format::Yaml, Format::Json] {
        let text = parsed.to_text(format).unwrap();
        // Written only where set.
        assert_eq!(text.matches("expect_to_fire").count(), 1, "{text}");
        assert_eq!(Scenario::parse(&text, format).unwrap(), parsed, "{text}");
    }
    // A phase marked in code compares unequal to the unmarked one.
    let unmarked = Scenario::parse(&toml.replace("expect_to_fire = true\n", ""), Format::Toml).unwrap();
    assert_ne!(unmarked, parsed);
}

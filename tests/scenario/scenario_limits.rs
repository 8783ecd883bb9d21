//! The limits of scenarios and rehearsals (issue 10): durations near the
//! limit, speeds that would stretch the timeline, many phases, many spells,
//! bad latencies and windows — each an error naming the field and the
//! value, never a panic or a wrong value; and building and rehearsing at
//! the limits in bounded time.
#![cfg(feature = "scenario")]

use std::time::{Duration, Instant as Wall};

use tower::BoxError;
use tower_chaos::scenario::{
    Flap, MAX_DURATION, MAX_PHASES, MAX_SPELLS, Phase, Rehearsal, RehearsalReport, RequestFault, Scenario,
    ScenarioError,
};
use tower_chaos::{Latency, Target};

const S: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);

fn target(name: &str) -> Target {
    Target::builder(name).seed(7).build().unwrap()
}

/// Rehearses `s` with `n` targets `t0`, `t1`, ... bound; the report.
async fn rehearse_on(s: &Scenario, n: usize) -> RehearsalReport {
    let handles: Vec<Target> = (0..n).map(|t| target(&format!("t{t}"))).collect();
    let rehearsal = handles
        .iter()
        .fold(Rehearsal::new(s), |r, t| r.bind::<u8, BoxError>(t));
    rehearsal.run().await.unwrap()
}

fn build(phases: impl IntoIterator<Item = Phase>) -> Result<Scenario, ScenarioError> {
    Scenario::builder("limits").phases(phases).build()
}

/// `(field, value, reason)` of an invalid-value error.
fn invalid(err: ScenarioError) -> (String, String, String) {
    match err {
        ScenarioError::Invalid { field, value, reason } => (field, value, reason),
        other => panic!("not an invalid value: {other}"),
    }
}

#[test]
fn offsets_lengths_and_ends_beyond_the_limit_are_named_not_overflowed() {
    // `at + for` used to overflow in `Phase::end` (a panic in debug).
    let (field, value, _) = invalid(build([Phase::new("p", "db").at(Duration::MAX).lasting(S)]).unwrap_err());
    assert_eq!(field, "phases[0].at");
    assert!(value.starts_with("213503982334601d"), "{value}");
    let (field, ..) = invalid(build([Phase::new("p", "db").at(S).lasting(Duration::MAX)]).unwrap_err());
    assert_eq!(field, "phases[0].for");
    let (field, value, reason) =
        invalid(build([Phase::new("p", "db").at(200 * DAY).lasting(200 * DAY)]).unwrap_err());
    assert_eq!((field.as_str(), value.as_str()), ("phases[0].for", "200d"));
    assert!(reason.contains("would end at 400d"), "{reason}");
    // Exactly at the limit is accepted; one nanosecond more is not.
    let at_limit = build([Phase::new("p", "db").at(MAX_DURATION - DAY).lasting(DAY)]).unwrap();
    assert_eq!(at_limit.duration(), MAX_DURATION);
    let over = build([Phase::new("p", "db")
        .at(MAX_DURATION - DAY)
        .lasting(DAY + Duration::from_nanos(1))]);
    assert_eq!(invalid(over.unwrap_err()).0, "phases[0].for");
    let long = Scenario::builder("s")
        .phase(Phase::new("p", "db").lasting(S))
        .duration(MAX_DURATION + S)
        .build();
    assert_eq!(invalid(long.unwrap_err()).0, "duration");
    // Getters of phases that were never built saturate instead of panicking.
    assert_eq!(
        Phase::new("p", "db").at(Duration::MAX).lasting(S).end(),
        Duration::MAX
    );
    assert_eq!(Flap::new(Duration::MAX, Duration::MAX).period(), Duration::MAX);
}

#[test]
fn flapping_spells_beyond_the_limit_are_named() {
    // `bad + good` used to overflow in `Flap::period`.
    let flapping = Phase::new("p", "db")
        .lasting(S)
        .down()
        .flap(Flap::new(Duration::MAX, Duration::MAX));
    let (field, ..) = invalid(build([flapping]).unwrap_err());
    assert_eq!(field, "phases[0].flap.bad");
    let ns = Duration::from_nanos(1);
    let fast = Phase::new("p", "db").lasting(S).down().flap(Flap::new(ns, ns));
    let (field, value, reason) = invalid(build([fast]).unwrap_err());
    assert_eq!(
        (field.as_str(), value.as_str()),
        ("phases[0].flap", "1000000002 spells")
    );
    assert!(reason.contains(&format!("more than {MAX_SPELLS}")), "{reason}");
}

#[test]
fn windows_and_latencies_are_checked_when_the_scenario_is_built() {
    let window = Phase::new("p", "db")
        .lasting(S)
        .request(RequestFault::error().window(Duration::ZERO, Duration::MAX));
    let (field, ..) = invalid(build([window]).unwrap_err());
    assert_eq!(field, "phases[0].request[0].window.to");
    let backwards = Phase::new("p", "db")
        .lasting(S)
        .request(RequestFault::error().window(2 * S, S));
    let (field, value, _) = invalid(build([backwards]).unwrap_err());
    assert_eq!(
        (field.as_str(), value.as_str()),
        ("phases[0].request[0].window", "2s..1s")
    );
    // Latencies that used to be refused only when a rehearsal installed them.
    let cases = [
        (Latency::uniform(2 * S, S), "phases[0].slow"),
        (Latency::log_normal(Duration::ZERO, 0.5), "phases[0].slow"),
        (Latency::pareto(Duration::ZERO, 1.5), "phases[0].slow"),
        (Latency::fixed(S).clamp(2 * S, S), "phases[0].slow"),
    ];
    for (latency, expected) in cases {
        let (field, _, reason) =
            invalid(build([Phase::new("p", "db").lasting(S).slow(latency)]).unwrap_err());
        assert_eq!(field, expected, "{latency:?}: {reason}");
    }
    let request = Phase::new("p", "db")
        .lasting(S)
        .request(RequestFault::latency(Latency::uniform(2 * S, S)));
    assert_eq!(
        invalid(build([request]).unwrap_err()).0,
        "phases[0].request[0].latency"
    );
    let good = Phase::new("p", "db").lasting(S).down().flap(
        Flap::new(S, S)
            .while_good(tower_chaos::scenario::Faults::new().slow(Latency::pareto(Duration::ZERO, 1.0))),
    );
    assert_eq!(
        invalid(build([good]).unwrap_err()).0,
        "phases[0].flap.while_good.slow"
    );
}

#[test]
fn too_many_phases_says_so_and_names_no_flap() {
    let phases = (0..=MAX_PHASES).map(|i| Phase::new(format!("p{i}"), "db").at(S * i as u32).lasting(S));
    let started = Wall::now();
    let (field, value, reason) = invalid(build(phases).unwrap_err());
    assert_eq!((field.as_str(), value.as_str()), ("phases", "10001 phases"));
    assert_eq!(reason, "a scenario has at most 10000 phases");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Duplicate names are found without comparing every pair.
    let mut phases: Vec<Phase> = (0..MAX_PHASES - 1)
        .map(|i| Phase::new(format!("p{i}"), "db").at(S * i as u32).lasting(S))
        .collect();
    phases.push(Phase::new("p17", "db").lasting(S));
    assert!(matches!(
        build(phases).unwrap_err(),
        ScenarioError::DuplicatePhase {
            first: 17,
            second: 9_999,
            ..
        }
    ));
}

#[test]
fn overlapping_phases_beyond_the_timeline_cells_say_why() {
    // 1 000 phases that all overlap and end one after the other: 1 000
    // segments holding 500 500 active phases, plus two rows each.
    let phases =
        (0..1_000u32).map(|i| Phase::new(format!("p{i}"), format!("t{}", i % 2)).lasting(S * (i + 1)));
    let (field, _, reason) = invalid(build(phases).unwrap_err());
    assert_eq!(field, "phases");
    assert!(
        reason.contains("1000 segments × 2 targets + 500500 active phases"),
        "{reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_speed_that_stretches_the_timeline_beyond_the_limit_is_refused_before_anything_runs() {
    let db = target("db");
    let s = build([Phase::new("p", "db").lasting(200 * DAY).down()]).unwrap();
    // `Duration::div_f64` used to panic on these.
    for speed in [1e-300, 0.5, f64::MIN_POSITIVE] {
        let err = Rehearsal::new(&s)
            .bind::<u8, BoxError>(&db)
            .speed(speed)
            .run()
            .await
            .unwrap_err();
        let (field, _, reason) = invalid(err);
        assert_eq!(field, "speed");
        assert!(
            reason.contains("stretches 200d of timeline beyond 365d"),
            "{reason}"
        );
    }
    // A fault window past the phase's end counts too.
    let windowed = build([Phase::new("p", "db")
        .lasting(S)
        .request(RequestFault::error().window(Duration::ZERO, 300 * DAY))])
    .unwrap();
    let err = Rehearsal::new(&windowed)
        .bind::<u8, BoxError>(&db)
        .speed(0.5)
        .check()
        .unwrap_err();
    assert!(err.to_string().contains("stretches 300d"), "{err}");
    // A huge speed compresses the timeline to nothing, and runs.
    let report = Rehearsal::new(&s)
        .bind::<u8, BoxError>(&db)
        .speed(1e300)
        .run()
        .await
        .unwrap();
    assert_eq!(report.duration, 200 * DAY);
}

#[tokio::test(start_paused = true)]
async fn a_timeline_at_the_limit_rehearses_to_its_end() {
    let db = target("db");
    let s = Scenario::builder("year")
        .phase(
            Phase::new("late", "db")
                .at(MAX_DURATION - DAY)
                .lasting(DAY)
                .down(),
        )
        .phase(
            Phase::new("flapping", "db")
                .lasting(MAX_DURATION)
                .request(
                    RequestFault::error()
                        .rate(0.1)
                        .window(MAX_DURATION - S, MAX_DURATION),
                )
                .flap(Flap::new(30 * DAY, MAX_DURATION)),
        )
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let report = Rehearsal::new(&s).bind::<u8, BoxError>(&db).run().await.unwrap();
    assert_eq!(started.elapsed(), MAX_DURATION);
    assert_eq!(report.phase("late").unwrap().to, MAX_DURATION);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_phases_build_and_rehearse_in_bounded_time() {
    // One target, phases one after the other (20 000 segments), and the
    // same spread over 100 targets: both used to be quadratic (duplicate
    // names, timeline cuts, labels, rows, targets per cut).
    for targets in [1, 20] {
        let wall = Wall::now();
        let phases = (0..MAX_PHASES).map(|i| {
            Phase::new(format!("p{i}"), format!("t{}", i % targets))
                .at(2 * S * i as u32)
                .lasting(S)
                .down()
        });
        let s = build(phases).unwrap();
        let built = wall.elapsed();
        let report = rehearse_on(&s, targets).await;
        assert_eq!(report.phases.len(), MAX_PHASES);
        assert_eq!(report.targets.len(), targets);
        let total = wall.elapsed();
        println!(
            "{MAX_PHASES} phases on {targets} target(s): built in {built:?}, built and rehearsed in {total:?}"
        );
        // Quadratic work took 15 s for 20 000 phases; this stays well below
        // even in a debug build on a loaded machine.
        assert!(total < Duration::from_secs(20), "{total:?}");
    }
    // 10 000 targets, one phase each, all at once: one segment.
    let wall = Wall::now();
    let phases = (0..MAX_PHASES).map(|i| Phase::new(format!("p{i}"), format!("t{i}")).lasting(S).down());
    let s = build(phases).unwrap();
    let report = rehearse_on(&s, MAX_PHASES).await;
    assert_eq!(report.targets.len(), MAX_PHASES);
    let total = wall.elapsed();
    println!("{MAX_PHASES} phases on as many targets, at once: built and rehearsed in {total:?}");
    assert!(total < Duration::from_secs(20), "{total:?}");
}

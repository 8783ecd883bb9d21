//! Scenario files: the same scenario in TOML, YAML and JSON, and one bad
//! file per kind of error in each format, each error naming file, line,
//! column and field.
#![cfg(feature = "serde")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use tower_chaos::scenario::{Format, LoadError, Scenario, ScenarioError};
use tower_chaos::{FaultKind, Latency};

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

fn load(name: &str) -> Result<Scenario, LoadError> {
    Scenario::from_file(path(name))
}

#[test]
fn the_same_scenario_in_three_formats() {
    let toml = load("outage.toml").unwrap();
    let yaml = load("outage.yaml").unwrap();
    let json = load("outage.json").unwrap();
    assert_eq!(format!("{toml:?}"), format!("{yaml:?}"));
    assert_eq!(format!("{toml:?}"), format!("{json:?}"));

    let h = Duration::from_secs(3600);
    let m = Duration::from_secs(60);
    assert_eq!(toml.name(), "two-providers");
    assert_eq!(toml.duration(), 5 * h);
    assert_eq!(toml.targets(), ["dynamodb", "edge"]);
    let outage = toml.phase("dns-outage").unwrap();
    assert!(outage.content().is_down());
    assert_eq!((outage.start(), outage.end()), (Duration::ZERO, 2 * h + 37 * m));
    let brownout = toml.phase("brownout").unwrap();
    assert_eq!(brownout.ramping(), Some((0.6, 0.0)));
    let slow = brownout.content().slowness().unwrap();
    assert_eq!(
        slow,
        Latency::log_normal(Duration::from_millis(120), 0.6)
            .clamp(Duration::from_millis(10), Duration::from_secs(3))
    );
    let kinds: Vec<FaultKind> = brownout.content().requests().iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [FaultKind::Error, FaultKind::Hang]);
    assert_eq!(brownout.content().requests()[0].name(), Some("throttled"));
    let flap = toml.phase("edge-flapping").unwrap().flapping().unwrap();
    assert_eq!(flap.period(), 10 * m);
    assert_eq!(flap.good_faults().requests().len(), 1);
    assert_eq!(toml.phase("edge-overload").unwrap().content().requests().len(), 3);
}

#[test]
fn one_bad_file_per_error_kind_names_file_line_column_and_field() {
    // (file, line, column, field, part of the message)
    let cases: &[(&str, usize, usize, Option<&str>, &str)] = &[
        ("bad_syntax.toml", 4, 13, None, "invalid basic string"),
        (
            "bad_syntax.yaml",
            5,
            4,
            Some("phases"),
            "did not find expected '-' indicator",
        ),
        ("bad_syntax.json", 4, 22, Some("phases[0]"), "expected `,` or `}`"),
        (
            "unknown_field.toml",
            6,
            1,
            Some("phases[0].donw"),
            "unknown field `donw`, expected one of",
        ),
        (
            "unknown_field.yaml",
            5,
            5,
            Some("phases[0].donw"),
            "unknown field `donw`, expected one of",
        ),
        (
            "unknown_field.json",
            4,
            41,
            Some("phases[0].donw"),
            "unknown field `donw`, expected one of",
        ),
        (
            "bad_duration.toml",
            5,
            7,
            Some("phases[0].for"),
            "invalid duration \"90 seconds\": unknown unit `seconds`",
        ),
        (
            "bad_duration.yaml",
            4,
            10,
            Some("phases[0].for"),
            "invalid duration \"90x\": unknown unit `x`",
        ),
        (
            "bad_duration.json",
            4,
            33,
            Some("phases[0].for"),
            "invalid duration \"90\": `90` has no unit",
        ),
        (
            "bad_rate.toml",
            9,
            8,
            Some("phases[0].request[0].rate"),
            "floating point `1.5`, expected a rate within 0.0..=1.0",
        ),
        (
            "bad_rate.yaml",
            7,
            15,
            Some("phases[0].request[0].rate"),
            "floating point `1.5`, expected a rate within 0.0..=1.0",
        ),
        (
            "bad_rate.json",
            5,
            50,
            Some("phases[0].request[0].rate"),
            "floating point `-0.5`, expected a rate",
        ),
    ];
    for (file, line, column, field, message) in cases {
        let err = load(file).unwrap_err();
        assert_eq!(
            (err.line(), err.column()),
            (Some(*line), Some(*column)),
            "{file}: {err}"
        );
        assert_eq!(err.field(), *field, "{file}: {err}");
        let text = err.to_string();
        let location = format!("{}:{line}:{column}: ", path(file).display());
        assert!(text.starts_with(&location), "{file}: {text}");
        if let Some(field) = field {
            assert!(text.contains(&format!("`{field}`: ")), "{file}: {text}");
        }
        assert!(text.contains(message), "{file}: {text}");
        assert!(
            !text.contains(&format!("at line {line} column {column}")),
            "the format's own position is not repeated: {text}"
        );
    }
}

#[test]
fn an_invalid_scenario_names_the_file() {
    let err = load("duplicate_phase.toml").unwrap_err();
    let LoadError::Invalid { source, .. } = &err else {
        panic!("{err}")
    };
    assert!(matches!(**source, ScenarioError::DuplicatePhase { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!(
        "{}: two phases are named `p`",
        path("duplicate_phase.toml").display()
    )));
}

#[test]
fn unknown_format_and_missing_file() {
    let err = Scenario::from_file("scenario.ini").unwrap_err();
    assert!(matches!(err, LoadError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("expected .toml, .yaml, .yml or .json"));
    let err = load("missing.toml").unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err}");
}

fn toml_fault(fault: &str) -> Result<Scenario, LoadError> {
    Scenario::parse(
        &format!("name = \"x\"\n[[phases]]\ntarget = \"db\"\nfor = \"1m\"\n[[phases.request]]\n{fault}\n"),
        Format::Toml,
    )
}

#[test]
fn latency_forms() {
    let ms = Duration::from_millis;
    let latency = |text: &str| {
        let s = toml_fault(&format!("fault = \"latency\"\nlatency = {text}")).unwrap();
        s.phases()[0].content().requests()[0].clone()
    };
    use tower_chaos::scenario::RequestFault as F;
    assert_eq!(latency("\"250ms\""), F::latency(Latency::fixed(ms(250))));
    assert_eq!(latency("{ fixed = \"250ms\" }"), latency("\"250ms\""));
    assert_eq!(
        latency("{ normal = { mean = \"50ms\", std_dev = \"5ms\" } }"),
        F::latency(Latency::normal(ms(50), ms(5)))
    );
    assert_eq!(
        latency("{ pareto = { scale = \"5ms\", shape = 1.5 } }"),
        F::latency(Latency::pareto(ms(5), 1.5))
    );

    let err = |fault: &str| toml_fault(fault).unwrap_err().to_string();
    assert!(
        err("fault = \"latency\"\nlatency = { fixed = \"1ms\", pareto = { scale = \"1ms\", shape = 1 } }")
            .contains("a second one")
    );
    assert!(
        err("fault = \"latency\"\nlatency = { clamp = { min = \"1ms\", max = \"2ms\" } }")
            .contains("needs one of")
    );
    assert!(err("fault = \"latency\"\nlatency = { gamma = 1 }").contains("unknown field `gamma`"));
    assert!(err("fault = \"latency\"").contains("needs `latency`"));
    assert!(err("fault = \"hang\"\nlatency = \"1s\"").contains("only latency faults"));
    assert!(err("fault = \"explode\"").contains("unknown variant `explode`"));
    assert!(err("fault = \"error\"\nevery = 0").contains("nonzero"));
    assert!(err("fault = \"error\"\noverload = { capacity = 0 }").contains("a finite number > 0"));
    assert!(err("fault = \"error\"\nwindow = { from = \"2m\", to = \"1m\" }").contains("window.from"));
}

/// `max_active = 0` loads, as `Rule::max_active(0)` builds (Envoy's
/// `max_active_faults: 0`): the rule injects nothing.
#[test]
fn max_active_zero_is_accepted_as_in_code() {
    let s = toml_fault("fault = \"error\"\nmax_active = 0").unwrap();
    assert_eq!(
        s.phases()[0].content().requests()[0],
        tower_chaos::scenario::RequestFault::error().max_active(0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_loaded_scenario_rehearses_two_targets() {
    use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
    use tower_chaos::scenario::Rehearsal;
    use tower_chaos::{ChaosLayer, Target};

    let scenario = load("outage.yaml").unwrap();
    let dynamodb = Target::builder("dynamodb").seed(1).build().unwrap();
    let edge = Target::builder("edge").seed(2).build().unwrap();
    // Requests are (tenant, n); the edge's keyed fault reads the tenant.
    let tenant = |req: &(u32, u32), attr: &str| (attr == "tenant").then(|| req.0.to_string());
    let rehearsal = Rehearsal::new(&scenario)
        .bind::<(u32, u32), BoxError>(&dynamodb)
        .bind_with_attributes::<(u32, u32), BoxError, _>(&edge, tenant);
    let probes = (
        rehearsal.probe("dynamodb").unwrap(),
        rehearsal.probe("edge").unwrap(),
    );
    let run = tokio::spawn(rehearsal.run());
    let service = |target: &Target, probe: &tower_chaos::scenario::Probe| {
        ServiceBuilder::new()
            .layer(probe.layer())
            .timeout(Duration::from_secs(2))
            .layer(ChaosLayer::<(u32, u32)>::for_target(target))
            .service(service_fn(|r: (u32, u32)| async move { Ok::<_, BoxError>(r.1) }))
    };
    let (mut db, mut ed) = (service(&dynamodb, &probes.0), service(&edge, &probes.1));
    let start = tokio::time::Instant::now() + Duration::from_millis(500);
    for n in 0..(5 * 3600 / 5) {
        tokio::time::sleep_until(start + Duration::from_secs(5) * n).await;
        let _ = db.ready().await.unwrap().call((n % 7, n)).await;
        let _ = ed.ready().await.unwrap().call((n % 7, n)).await;
    }
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.phase("dns-outage").unwrap().caller.ok, 0);
    assert!(report.phase("brownout").unwrap().caller.failed() > 0);
    let edge_rows: Vec<&str> = report
        .target("edge")
        .unwrap()
        .rows
        .iter()
        .map(|r| r.label.as_str())
        .collect();
    assert_eq!(
        edge_rows,
        [
            "before",
            "edge-flapping (bad)",
            "edge-flapping (good)",
            "edge-overload",
            "after"
        ]
    );
    report
        .assert_recovered_within("dynamodb", Duration::from_secs(5))
        .unwrap();
    report
        .assert_recovered_within("edge", Duration::from_secs(5))
        .unwrap();
    assert_eq!(report.target("dynamodb").unwrap().seen_while_down, Some(1_884));
}

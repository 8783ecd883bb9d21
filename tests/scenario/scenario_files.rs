//! Scenario files: the same scenario in TOML, YAML and JSON, and one bad
//! file per kind of error in each format, each error naming file, line,
//! column and field.
#![cfg(feature = "serde")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use tower_chaos::scenario::{Format, LoadError, Scenario, ScenarioError};
use tower_chaos::{FaultKind, Latency};

use crate::support::row_labels;

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

    for (fault, message) in [
        (
            "fault = \"latency\"\nlatency = { fixed = \"1ms\", pareto = { scale = \"1ms\", shape = 1 } }",
            "a second one",
        ),
        (
            "fault = \"latency\"\nlatency = { clamp = { min = \"1ms\", max = \"2ms\" } }",
            "needs one of",
        ),
        (
            "fault = \"latency\"\nlatency = { gamma = 1 }",
            "unknown field `gamma`",
        ),
        ("fault = \"latency\"", "needs `latency`"),
        ("fault = \"hang\"\nlatency = \"1s\"", "only latency faults"),
        ("fault = \"explode\"", "unknown variant `explode`"),
        ("fault = \"error\"\nevery = 0", "nonzero"),
        (
            "fault = \"error\"\noverload = { capacity = 0 }",
            "a finite number > 0",
        ),
        (
            "fault = \"error\"\nwindow = { from = \"2m\", to = \"1m\" }",
            "window.from",
        ),
    ] {
        let err = toml_fault(fault).unwrap_err().to_string();
        assert!(err.contains(message), "{fault}: {err}");
    }
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
    let edge_rows = row_labels(&report, "edge");
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

/// `(line, column, field, message)` of a load error.
fn located(text: &str, format: Format) -> (Option<usize>, Option<usize>, Option<String>, String) {
    let err = Scenario::parse(text, format).unwrap_err();
    (
        err.line(),
        err.column(),
        err.field().map(str::to_owned),
        err.to_string(),
    )
}

/// Checks that `text` fails to load at `(line, column, field)`; the
/// error's text.
fn assert_located(text: &str, format: Format, (line, column, field): (usize, usize, &str)) -> String {
    let (l, c, f, m) = located(text, format);
    assert_eq!(
        (l, c, f.as_deref()),
        (Some(line), Some(column), Some(field)),
        "{m}"
    );
    m
}

#[test]
fn bad_latencies_are_refused_at_load_at_the_value() {
    // Issue 10: these used to load and fail only when a rehearsal ran,
    // without a line or column.
    let toml = |table: &str| format!("name = \"x\"\n[[phases]]\ntarget = \"db\"\nfor = \"1m\"\n{table}\n");
    let cases = [
        (
            toml("slow = { uniform = { min = \"2s\", max = \"1s\" } }"),
            (
                5,
                8,
                "phases[0].slow",
                "`latency.uniform`: minimum 2s is greater than maximum 1s",
            ),
        ),
        (
            toml(
                "[[phases.request]]\nfault = \"latency\"\nlatency = { log_normal = { median = \"0s\", sigma = 0.5 } }",
            ),
            (
                7,
                11,
                "phases[0].request[0].latency",
                "`latency.log_normal.median` = 0ns: must be > 0",
            ),
        ),
        (
            toml(
                "[[phases.http]]\nfault = \"latency\"\nlatency = { pareto = { scale = \"0s\", shape = 1.5 } }",
            ),
            (
                7,
                11,
                "phases[0].http[0].latency",
                "`latency.pareto.scale` = 0ns: must be > 0",
            ),
        ),
        (
            toml(
                "[[phases.http]]\nfault = \"latency\"\nlatency = { fixed = \"1s\", clamp = { min = \"2s\", max = \"1s\" } }",
            ),
            (
                7,
                11,
                "phases[0].http[0].latency",
                "`latency.clamp`: minimum 2s is greater than maximum 1s",
            ),
        ),
    ];
    for (text, (line, column, field, message)) in cases {
        let m = assert_located(&text, Format::Toml, (line, column, field));
        assert!(m.contains(message), "{m}");
    }
    let yaml = "name: x\nphases:\n- target: db\n  for: 1m\n  slow:\n    uniform: {min: 2s, max: 1s}\n";
    assert_located(yaml, Format::Yaml, (6, 5, "phases[0].slow"));
    let json = "{\"name\": \"x\", \"phases\": [{\"target\": \"db\", \"for\": \"1m\",\n \"slow\": {\"uniform\": {\"min\": \"2s\", \"max\": \"1s\"}}}]}";
    assert_located(json, Format::Json, (2, 48, "phases[0].slow"));
}

#[test]
fn durations_beyond_the_limit_are_refused_at_the_value() {
    let yaml = "name: x\nphases:\n- target: db\n  for: 400d\n";
    let m = assert_located(yaml, Format::Yaml, (4, 8, "phases[0].for"));
    assert!(m.contains("\"400d\" is longer than 365d"), "{m}");
    // Any duration of a file: a `retry_after` that used to overflow
    // `Retry-After`, a latency that a sample would have cut to a year.
    let toml =
        "name = \"x\"\n[[phases]]\ntarget = \"db\"\nfor = \"1m\"\nslow = \"18446744073709551615.5s\"\n";
    assert_located(toml, Format::Toml, (5, 8, "phases[0].slow"));
    // A phase that ends beyond it is named by its position.
    let ends_late =
        "{\"name\": \"x\", \"phases\": [{\"target\": \"db\", \"at\": \"300d\", \"for\": \"100d\"}]}";
    let err = Scenario::parse(ends_late, Format::Json).unwrap_err();
    assert_eq!(err.field(), Some("phases[0].for"));
    assert!(err.to_string().contains("would end at 400d"), "{err}");
}

#[test]
fn deep_nesting_is_refused_before_parsing_in_every_format() {
    // 200 KB of `[` took 97 s inside the YAML parser.
    let opens = "[".repeat(200_000);
    for (format, text, at) in [
        (Format::Yaml, format!("name: x\nphases: {opens}"), (2, 41)),
        (
            Format::Json,
            format!("{{\"name\": \"x\",\n\"phases\": {opens}"),
            (2, 42),
        ),
        (Format::Toml, format!("name = \"x\"\nphases = {opens}"), (2, 42)),
    ] {
        let started = std::time::Instant::now();
        let (l, c, f, m) = located(&text, format);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{format}: {:?}",
            started.elapsed()
        );
        assert_eq!((l, c, f), (Some(at.0), Some(at.1), None), "{format}: {m}");
        assert!(m.contains("nested more than 32 levels deep"), "{m}");
    }
}

#[test]
fn oversized_and_non_utf8_files_say_so_with_the_offset() {
    let big = format!(
        "name = \"x\"\n# {}\n",
        "x".repeat(tower_chaos::scenario::MAX_FILE_SIZE)
    );
    let err = Scenario::parse(&big, Format::Toml).unwrap_err();
    assert!(
        err.to_string()
            .contains("larger than 4194304 bytes (MAX_FILE_SIZE)"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("tower-chaos-scenario-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("latin1.yaml");
    std::fs::write(&file, b"name: x\nphases:\n- target: caf\xe9\n  for: 1m\n").unwrap();
    let err = Scenario::from_file(&file).unwrap_err();
    assert_eq!((err.line(), err.column()), (Some(3), Some(14)));
    assert!(
        err.to_string()
            .contains("latin1.yaml:3:14: not UTF-8: invalid byte 0xe9 at byte offset 29"),
        "{err}"
    );
    let huge = dir.join("huge.json");
    std::fs::write(&huge, vec![b' '; tower_chaos::scenario::MAX_FILE_SIZE + 1]).unwrap();
    let err = Scenario::from_file(&huge).unwrap_err();
    assert!(
        err.to_string().contains("huge.json: the file is larger than"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn whole_scenario_errors_name_the_phase() {
    let yaml = "name: x\nphases:\n- target: db\n  for: 1m\n- target: db\n  name: db-1\n  for: 1m\n";
    let err = Scenario::parse(yaml, Format::Yaml).unwrap_err();
    assert_eq!(err.field(), Some("phases[1].name"));
    assert!(err.to_string().contains("(phases[0] and phases[1])"), "{err}");
    // More rules than a fault set takes, in one phase: an error of the
    // file naming the phase, not of a later rehearsal.
    let mut toml = "name = \"x\"\n[[phases]]\ntarget = \"db\"\nfor = \"1m\"\n".to_owned();
    for _ in 0..=tower_chaos::MAX_RULES {
        toml.push_str("[[phases.request]]\nfault = \"error\"\nrate = 0.1\n");
    }
    let err = Scenario::parse(&toml, Format::Toml).unwrap_err();
    assert!(err.field().is_some_and(|f| f.starts_with("phases[0]")), "{err}");
    assert!(err.to_string().contains("65"), "{err}");
}

#[test]
fn a_file_with_too_many_phases_is_refused_at_once_and_says_why() {
    // 120 000 phases took 70 s and then blamed a flapping phase that did
    // not exist; the limit is checked before any other work.
    let phase = "{\"target\": \"db\", \"for\": \"1s\"}";
    let phases = vec![phase; tower_chaos::scenario::MAX_PHASES + 1].join(",\n");
    let json = format!("{{\"name\": \"many\", \"phases\": [\n{phases}\n]}}");
    let started = std::time::Instant::now();
    let err = Scenario::parse(&json, Format::Json).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.field(), Some("phases"));
    assert_eq!(
        err.to_string(),
        "<JSON text>: invalid `phases` = 10001 phases: a scenario has at most 10000 phases"
    );
}

//! Scenarios written back to TOML, YAML and JSON load as equal scenarios:
//! the example files, every preset, and random scenarios drawn from what
//! files can say (proptest, fixed seed).

use std::path::Path;
use std::time::Duration;

use tower_chaos::scenario::{Format, Phase, Scenario, WriteError, presets};
use tower_chaos::{Fault, Trigger};

const FORMATS: [Format; 3] = [Format::Toml, Format::Yaml, Format::Json];

/// Writes `scenario` in every format and loads it back: equal, and equal
/// in its `Debug` form too (which shows the faults and matchers the
/// tables build, not only the tables).
fn assert_round_trips(scenario: &Scenario) {
    for format in FORMATS {
        let text = scenario
            .to_text(format)
            .unwrap_or_else(|e| panic!("{}: writing {format}: {e}", scenario.name()));
        let back = Scenario::parse(&text, format)
            .unwrap_or_else(|e| panic!("{}: loading {format}: {e}\n{text}", scenario.name()));
        assert_eq!(&back, scenario, "{format}:\n{text}");
        assert_eq!(format!("{back:?}"), format!("{scenario:?}"), "{format}:\n{text}");
        // Written again, the text is the same: nothing drifts.
        assert_eq!(back.to_text(format).unwrap(), text, "{format}");
    }
}

#[test]
fn every_example_file_round_trips_through_every_format() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut loaded = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // The `bad_*`, `unknown_field` and `duplicate_phase` files are
        // refused by design.
        let Ok(scenario) = Scenario::from_file(&path) else {
            continue;
        };
        assert_round_trips(&scenario);
        loaded += 1;
    }
    // outage, http and connection, in three formats each.
    assert!(loaded >= 9, "{loaded}");
}

#[test]
fn every_preset_round_trips_through_every_format() {
    for name in presets::NAMES {
        let scenario = presets::by_name(name).unwrap();
        assert!(!scenario.phases().is_empty());
        assert_round_trips(&scenario);
    }
}

#[test]
fn a_typed_rule_from_code_is_an_error_naming_phase_and_field_never_dropped() {
    let minute = Duration::from_secs(60);
    let hang = Fault::<u32>::hang().when(Trigger::every(3));
    let scenario = Scenario::builder("typed")
        .phase(Phase::new("fine", "db").lasting(minute).down())
        .phase(
            Phase::new("flapping", "db")
                .at(minute)
                .lasting(4 * minute)
                .down()
                .flap(
                    tower_chaos::scenario::Flap::new(minute, minute)
                        .while_good(tower_chaos::scenario::Faults::new().down().rule(hang)),
                ),
        )
        .build()
        .unwrap();
    for format in FORMATS {
        let err = scenario.to_text(format).unwrap_err();
        let WriteError::Unwritable { phase, field, reason } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            (phase.as_str(), field.as_str()),
            ("flapping", "phases[1].flap.while_good.rules[0]")
        );
        assert!(reason.contains("no file form"), "{reason}");
        assert!(
            err.to_string()
                .starts_with("`phases[1].flap.while_good.rules[0]` (phase `flapping`)"),
            "{err}"
        );
    }
}

#[test]
fn typed_rules_compare_by_identity_described_faults_by_value() {
    let minute = Duration::from_secs(60);
    let typed = || {
        Scenario::builder("t")
            .phase(
                Phase::new("p", "db")
                    .lasting(minute)
                    .rule(Fault::<u32>::hang().when(Trigger::every(3))),
            )
            .build()
            .unwrap()
    };
    let one = typed();
    assert_eq!(one, one.clone());
    assert_ne!(one, typed());
    let described = || {
        Scenario::parse("name = \"d\"\n[[phases]]\ntarget = \"db\"\nfor = \"1m\"\nconnect = [\"refuse\"]\n[[phases.http]]\nfault = \"status\"\nstatus = 503\nmethod = \"put\"\n", Format::Toml).unwrap()
    };
    assert_eq!(described(), described());
    // One value apart: not equal.
    let other = Scenario::parse("name = \"d\"\n[[phases]]\ntarget = \"db\"\nfor = \"1m\"\nconnect = [\"refuse\"]\n[[phases.http]]\nfault = \"status\"\nstatus = 503\nmethod = \"post\"\n", Format::Toml).unwrap();
    assert_ne!(described(), other);
}

//! Helpers shared by the scenario-file tests.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use tower_chaos::scenario::{Format, Scenario};

/// Loads `tests/scenarios/<name>`.
pub fn load(name: &str) -> Scenario {
    Scenario::from_file(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/scenarios")
            .join(name),
    )
    .unwrap()
}

/// The error for one bad `[[phases.<section>]]` table in TOML, whose
/// first field is on line 6: `(line, column, field, message)`.
pub fn bad_table(section: &str, table: &str) -> (Option<usize>, Option<usize>, Option<String>, String) {
    let text =
        format!("name = \"x\"\n[[phases]]\ntarget = \"t\"\nfor = \"1m\"\n[[phases.{section}]]\n{table}\n");
    let err = Scenario::parse(&text, Format::Toml).unwrap_err();
    (
        err.line(),
        err.column(),
        err.field().map(str::to_owned),
        err.to_string(),
    )
}

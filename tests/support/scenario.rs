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

/// Loads `tests/scenarios/<stem>.toml`, checks that `<stem>.yaml` and
/// `<stem>.json` load to the same scenario, and returns it.
pub fn load_in_three_formats(stem: &str) -> Scenario {
    let toml = load(&format!("{stem}.toml"));
    for other in ["yaml", "json"] {
        let same = load(&format!("{stem}.{other}"));
        assert_eq!(format!("{toml:?}"), format!("{same:?}"), "{stem}.{other}");
    }
    toml
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

/// One bad `[[phases.<section>]]` table reported at a value: `(table, line,
/// column, field, message)`.
pub type BadValue<'a> = (&'a str, usize, usize, &'a str, &'a str);

/// Checks that `bad_table(section, table)` names the case's line, column
/// and field (`phases[0].<section>[0].<field>`) and says its message;
/// returns the error's text.
pub fn assert_bad_value(section: &str, (table, line, column, field, message): BadValue<'_>) -> String {
    let (l, c, f, msg) = bad_table(section, table);
    assert_eq!((l, c), (Some(line), Some(column)), "{table}: {msg}");
    assert_eq!(
        f.as_deref(),
        Some(&*format!("phases[0].{section}[0].{field}")),
        "{table}: {msg}"
    );
    assert!(msg.contains(message), "{table}: {msg}");
    msg
}

/// Checks that `bad_table(section, table)` is reported at the table
/// (`phases[0].<section>[0]`) and says `message`; returns the line and the
/// error's text.
pub fn assert_bad_table(section: &str, table: &str, message: &str) -> (Option<usize>, String) {
    let (l, _, f, msg) = bad_table(section, table);
    assert_eq!(
        f.as_deref(),
        Some(&*format!("phases[0].{section}[0]")),
        "{table}: {msg}"
    );
    assert!(msg.contains(message), "{table}: {msg}");
    (l, msg)
}

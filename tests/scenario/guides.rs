//! The guides in `docs/` stay runnable: every guide is run as doctests
//! (`src/lib.rs`, `src/io/mod.rs`), every code block says its language,
//! none is skipped, and the TOML blocks parse as what they show (scenario
//! files, and the dependency lines of `docs/REHEARSE.md` naming features
//! that exist).

use std::fs;
use std::path::{Path, PathBuf};

use tower_chaos::scenario::{Format, Scenario};

struct Block {
    file: String,
    line: usize,
    info: String,
    text: String,
}

fn guides() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
}

/// The fenced code blocks of `path`: their info string, first line and text.
fn blocks(path: &Path) -> Vec<Block> {
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            if let Some(b) = &mut open {
                b.text.push_str(line);
                b.text.push('\n');
            }
            continue;
        };
        match open.take() {
            Some(b) => out.push(b),
            None => {
                open = Some(Block {
                    file: file.clone(),
                    line: i + 1,
                    info: info.trim().to_owned(),
                    text: String::new(),
                });
            }
        }
    }
    assert!(open.is_none(), "{file}: a code block is not closed");
    out
}

fn src_text() -> String {
    let mut all = String::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                all.push_str(&fs::read_to_string(p).unwrap());
            }
        }
    }
    all
}

#[test]
fn every_guide_is_run_as_doctests() {
    let src = src_text();
    for guide in guides() {
        let name = guide.file_name().unwrap().to_string_lossy().into_owned();
        let include = format!("docs/{name}\")]");
        assert!(
            src.lines()
                .any(|l| l.contains("#[doc = include_str!(") && l.contains(&include)),
            "docs/{name} is not included as doctests (`#[doc = include_str!(..)]` on a `#[cfg(doctest)]` item)"
        );
    }
}

#[test]
fn every_code_block_says_its_language_and_none_is_skipped() {
    for guide in guides() {
        for b in blocks(&guide) {
            let tags: Vec<&str> = b.info.split(',').map(str::trim).collect();
            let lang = tags[0];
            assert!(
                ["rust", "toml", "sh", "text", "json", "yaml"].contains(&lang),
                "{}:{}: a code block tagged `{}`: say `rust` (run as a doctest) or what it is (`sh`, `text`, `toml`)",
                b.file,
                b.line,
                b.info
            );
            for skip in ["ignore", "no_run", "compile_fail"] {
                assert!(
                    !tags.contains(&skip),
                    "{}:{}: `{skip}` block: every guide example runs",
                    b.file,
                    b.line
                );
            }
        }
    }
}

/// The schema blocks of `docs/SCENARIOS.md` are files (or, for the HTTP
/// and connection tables, phases' tables) that load as they are shown.
#[test]
fn the_scenario_file_blocks_load() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SCENARIOS.md");
    let tomls: Vec<Block> = blocks(&path).into_iter().filter(|b| b.info == "toml").collect();
    assert_eq!(
        tomls.len(),
        3,
        "the schema, the HTTP tables and the connection tables"
    );
    for b in &tomls {
        // A table of a phase is shown on its own: give it a phase.
        let text = if b.text.trim_start().starts_with("[[phases.") {
            format!(
                "name = \"guide\"\n[[phases]]\ntarget = \"t\"\nfor = \"1m\"\n{}",
                b.text
            )
        } else {
            b.text.clone()
        };
        let scenario =
            Scenario::parse(&text, Format::Toml).unwrap_or_else(|e| panic!("SCENARIOS.md:{}: {e}", b.line));
        assert!(!scenario.phases().is_empty(), "SCENARIOS.md:{}", b.line);
    }
}

/// The dependency lines of the rehearsal guide name features the crate has.
#[test]
fn the_rehearsal_guide_names_features_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table =
        toml::from_str(&fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
    let features = manifest["features"].as_table().unwrap();
    let b = blocks(&root.join("docs/REHEARSE.md"))
        .into_iter()
        .find(|b| b.info == "toml")
        .unwrap();
    let deps: toml::Table = toml::from_str(&b.text).unwrap();
    let ours = deps["dev-dependencies"]["tower-chaos"]["features"]
        .as_array()
        .unwrap();
    assert!(!ours.is_empty());
    for f in ours {
        let f = f.as_str().unwrap();
        assert!(
            features.contains_key(f),
            "REHEARSE.md:{}: no feature `{f}`",
            b.line
        );
    }
    let tokio = deps["dev-dependencies"]["tokio"]["features"].as_array().unwrap();
    assert!(
        tokio.iter().any(|f| f.as_str() == Some("test-util")),
        "paused time needs tokio's `test-util`"
    );
}

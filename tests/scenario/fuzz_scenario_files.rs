//! Fuzzing scenario files (issue 10): the files of `tests/scenarios/`, in
//! TOML, YAML and JSON, mutated — bytes flipped, truncated, lines
//! duplicated or removed, numbers replaced with huge, negative or odd
//! values, collections nested — then loaded and, when they load, rehearsed
//! briefly on paused time against bound targets with a few requests. Never
//! a panic, never a hang (each case has a wall-clock limit), every load
//! error with its location: a line and column, or the field (the phase's
//! position for checks of the whole scenario).
//!
//! The suite runs 3 000 seeded cases (well under a minute in a debug
//! build). A longer run, with its own case count and seed:
//!
//! ```text
//! TOWER_CHAOS_FUZZ_CASES=100000 TOWER_CHAOS_FUZZ_SEED=7 \
//!   cargo test --release --features http,io,serde --test scenario fuzz_scenario_files:: -- --ignored --nocapture
//! ```
//!
//! An input that fails is printed (its format and text, escaped); keep it
//! under `tests/scenarios/regressions/`, where
//! `regressions_load_without_panicking` loads every file.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_chaos::scenario::{Format, LoadError, Rehearsal, Scenario, ScenarioError};
use tower_chaos::{ChaosLayer, Target};

/// The wall-clock limit of one case: loading and a paused-time rehearsal.
const CASE_LIMIT: Duration = Duration::from_secs(20);

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(sub)
}

/// Every scenario file of `tests/scenarios/` and its regressions, sorted
/// (the seed alone decides the cases).
fn corpus() -> Vec<(Format, Vec<u8>)> {
    let mut files: Vec<PathBuf> = ["", "regressions"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(dir(sub)).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .filter(|p| Format::from_path(p).is_some())
        .collect();
    files.sort();
    let corpus: Vec<_> = files
        .iter()
        .map(|p| (Format::from_path(p).unwrap(), std::fs::read(p).unwrap()))
        .collect();
    assert!(corpus.len() >= 20, "{} files", corpus.len());
    corpus
}

/// Values a number is replaced with.
const ODD: &[&str] = &[
    "0",
    "-1",
    "-0",
    "1e308",
    "1e-300",
    "NaN",
    "inf",
    "0.5",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999999999999",
    "3938453320844195178974243.99999999",
    "0.000000000000000000000000001",
    "365",
    "366",
    "8760",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Truncate(Index),
    DuplicateLine(Index),
    RemoveLine(Index),
    ReplaceNumber(Index, Index),
    Nest(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => any::<Index>().prop_map(Mutation::RemoveLine),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, v)| Mutation::ReplaceNumber(i, v)),
        1 => (any::<Index>(), 1..80u8).prop_map(|(i, n)| Mutation::Nest(i, n)),
    ]
}

fn line_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            spans.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < bytes.len() {
        spans.push((start, bytes.len()));
    }
    spans
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match m {
        Mutation::FlipBit(i, bit) => {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::DuplicateLine(i) | Mutation::RemoveLine(i) => {
            let spans = line_spans(bytes);
            let (a, b) = spans[i.index(spans.len())];
            if matches!(m, Mutation::RemoveLine(_)) {
                bytes.drain(a..b);
            } else {
                let line = bytes[a..b].to_vec();
                bytes.splice(b..b, line);
            }
        }
        Mutation::ReplaceNumber(i, v) => {
            // The runs of digits (with a decimal point) in the file.
            let mut runs = Vec::new();
            let mut j = 0;
            while j < bytes.len() {
                if bytes[j].is_ascii_digit() {
                    let start = j;
                    while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
                        j += 1;
                    }
                    runs.push((start, j));
                } else {
                    j += 1;
                }
            }
            if runs.is_empty() {
                return;
            }
            let (a, b) = runs[i.index(runs.len())];
            bytes.splice(a..b, ODD[v.index(ODD.len())].bytes());
        }
        Mutation::Nest(i, n) => {
            let at = i.index(bytes.len() + 1);
            let open = if n % 2 == 0 { b'[' } else { b'{' };
            bytes.splice(at..at, std::iter::repeat_n(open, usize::from(*n)));
        }
    }
}

/// What one case ended as.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    loaded: u64,
    refused: u64,
    rehearsed: u64,
    refused_by_rehearsal: u64,
}

/// Loads `bytes` as a file of `format` and, if it loads, rehearses it.
fn run_case(format: Format, bytes: &[u8], scratch: &Path) -> Result<Tally, String> {
    let ext = match format {
        Format::Toml => "toml",
        Format::Yaml => "yaml",
        _ => "json",
    };
    let file = scratch.with_extension(ext);
    std::fs::write(&file, bytes).map_err(|e| e.to_string())?;
    let mut tally = Tally::default();
    let scenario = match Scenario::from_file(&file) {
        Ok(s) => s,
        Err(e) => {
            located(&e)?;
            tally.refused += 1;
            return Ok(tally);
        }
    };
    tally.loaded += 1;
    match rehearse(&scenario) {
        Ok(()) => tally.rehearsed += 1,
        // Phases that overlap may make a fault set too large together:
        // only a rehearsal sees which are active at once.
        Err(ScenarioError::Faults { .. }) => tally.refused_by_rehearsal += 1,
        Err(e) => return Err(format!("the rehearsal of a loaded file failed: {e}")),
    }
    Ok(tally)
}

/// Every load error says where: line and column, or the field.
fn located(e: &LoadError) -> Result<(), String> {
    let ok = match e {
        LoadError::Parse {
            line,
            column,
            message,
            ..
        } => (line.is_some() && column.is_some()) || message.contains("MAX_FILE_SIZE"),
        LoadError::Invalid { .. } => e.field().is_some(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("an error without its location: {e:?}"))
    }
}

/// A short rehearsal on paused time: every target bound to a request type
/// (with attributes) and to HTTP faults, and a client calling every target
/// 20 times over the timeline.
fn rehearse(scenario: &Scenario) -> Result<(), ScenarioError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let targets: Vec<Target> = scenario
            .targets()
            .iter()
            .map(|name| Target::builder(*name).seed(1).build().unwrap())
            .collect();
        let rehearsal = targets.iter().fold(Rehearsal::new(scenario), |r, t| {
            r.bind_with_attributes::<u8, BoxError, _>(t, |_, _| None)
                .bind_http(t)
        });
        let run = tokio::spawn(rehearsal.run());
        let step = scenario.duration() / 20;
        let mut clients = Vec::new();
        for t in &targets {
            let mut client = ServiceBuilder::new()
                .timeout(Duration::from_secs(1))
                .layer(ChaosLayer::<u8>::for_target(t))
                .service(service_fn(|n: u8| async move { Ok::<_, BoxError>(n) }));
            clients.push(tokio::spawn(async move {
                for n in 0..20 {
                    if let Ok(svc) = client.ready().await {
                        let _ = svc.call(n).await;
                    }
                    tokio::time::sleep(step).await;
                }
            }));
        }
        let report = run.await.unwrap();
        // A panic in a client (a request path) fails the case too.
        for client in clients {
            client.await.unwrap();
        }
        report.map(drop)
    })
}

/// Runs `cases` mutated files from `seed`; returns the tally.
fn fuzz(cases: u32, seed: u64) -> Tally {
    let corpus = corpus();
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let scratch_dir = std::env::temp_dir().join(format!("tower-chaos-fuzz-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&scratch_dir).unwrap();
    let scratch = scratch_dir.join("case");
    let total = std::cell::Cell::new(Tally::default());
    let strategy = (any::<Index>(), prop::collection::vec(mutation(), 1..4));
    let result = runner.run(&strategy, |(file, mutations)| {
        let (format, original) = &corpus[file.index(corpus.len())];
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let (format, input, scratch) = (*format, bytes.clone(), scratch.clone());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let outcome = std::panic::catch_unwind(|| run_case(format, &input, &scratch));
            let _ = tx.send(outcome);
        });
        let shown = || format!("{format} input {:?}", String::from_utf8_lossy(&bytes));
        match rx.recv_timeout(CASE_LIMIT) {
            Ok(Ok(Ok(t))) => {
                let mut sum = total.get();
                sum.loaded += t.loaded;
                sum.refused += t.refused;
                sum.rehearsed += t.rehearsed;
                sum.refused_by_rehearsal += t.refused_by_rehearsal;
                total.set(sum);
                Ok(())
            }
            Ok(Ok(Err(e))) => Err(TestCaseError::fail(format!("{e}\n{}", shown()))),
            Ok(Err(_)) => Err(TestCaseError::fail(format!("panicked on {}", shown()))),
            Err(_) => Err(TestCaseError::fail(format!(
                "no answer within {CASE_LIMIT:?} on {}",
                shown()
            ))),
        }
    });
    let _ = std::fs::remove_dir_all(&scratch_dir);
    if let Err(e) = result {
        panic!("{e}");
    }
    total.get()
}

#[test]
fn mutated_scenario_files_load_or_fail_with_a_location_and_rehearse() {
    let started = Instant::now();
    let t = fuzz(3_000, 0x5eed_f11e);
    println!("3000 cases in {:?}: {t:?}", started.elapsed());
    // The mutations are not all fatal: some files still load and rehearse.
    assert!(t.rehearsed > 100, "{t:?}");
    assert!(t.refused > 1_000, "{t:?}");
}

#[test]
#[ignore = "long: TOWER_CHAOS_FUZZ_CASES cases (100 000 by default); see the module docs"]
fn mutated_scenario_files_long_run() {
    let var = |name: &str, default: u64| {
        std::env::var(name).ok().map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} = {v:?}: not a number"))
        })
    };
    let cases = var("TOWER_CHAOS_FUZZ_CASES", 100_000);
    let seed = var("TOWER_CHAOS_FUZZ_SEED", 1);
    let started = Instant::now();
    let t = fuzz(u32::try_from(cases).unwrap_or(u32::MAX), seed);
    println!("{cases} cases from seed {seed} in {:?}: {t:?}", started.elapsed());
}

#[test]
fn regressions_load_without_panicking() {
    // Inputs that crashed, hung or lost their location once (issue 10):
    // each is refused with a location now.
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir("regressions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let started = Instant::now();
        let err = Scenario::from_file(&file).unwrap_err();
        located(&err).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "{}", file.display());
    }
}

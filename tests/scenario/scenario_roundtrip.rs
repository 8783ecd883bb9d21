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

mod random {
    //! Random scenarios from the space files can say, written as JSON
    //! values: phases with `at`/`for`, `down`, `slow`, `request`, `http`
    //! (with matchers) and `connection` tables, `connect` lists, ramps,
    //! flapping, trigger settings and limits.

    use std::time::Duration;

    use proptest::prelude::*;
    use serde_json::{Map, Value, json};
    use tower_chaos::scenario::format_duration;

    /// A duration as text, to the nanosecond, within `min..=max`.
    fn duration(min: Duration, max: Duration) -> impl Strategy<Value = Duration> {
        let (min, max) = (min.as_nanos() as u64, max.as_nanos() as u64);
        prop_oneof![
            // Round figures, as people write them, and any nanosecond.
            (min / 1_000_000_000..=max / 1_000_000_000)
                .prop_map(move |s| Duration::from_secs(s).max(Duration::from_nanos(min))),
            (min..=max).prop_map(Duration::from_nanos),
        ]
    }

    fn text(d: Duration) -> Value {
        Value::String(format_duration(d).to_string())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A probability, with full `f64` precision.
    fn rate() -> impl Strategy<Value = f64> {
        prop_oneof![Just(0.0), Just(1.0), Just(0.5), 0.0..=1.0f64]
    }

    /// Strings a YAML or TOML writer must quote.
    fn label() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9-]{0,10}",
            Just("yes".to_owned()),
            Just("null".to_owned()),
            Just("1e3".to_owned()),
            Just("~".to_owned()),
            Just("a: b # c".to_owned()),
            Just("quote \" and 'single' \\ é".to_owned()),
        ]
    }

    fn latency() -> impl Strategy<Value = Value> {
        let d = || duration(ms(1), ms(10_000));
        let dist = prop_oneof![
            d().prop_map(|x| json!({ "fixed": text(x) })),
            (d(), d())
                .prop_map(|(a, b)| json!({ "uniform": { "min": text(a.min(b)), "max": text(a.max(b)) } })),
            (d(), d()).prop_map(
                |(a, b)| json!({ "jittered": { "base": text(a.max(b)), "jitter": text(a.min(b)) } })
            ),
            (d(), d()).prop_map(|(m, s)| json!({ "normal": { "mean": text(m), "std_dev": text(s) } })),
            (d(), 0.0..3.0f64).prop_map(|(m, s)| json!({ "log_normal": { "median": text(m), "sigma": s } })),
            (d(), 0.1..5.0f64).prop_map(|(sc, sh)| json!({ "pareto": { "scale": text(sc), "shape": sh } })),
        ];
        let clamp = prop::option::of((d(), d()));
        prop_oneof![
            d().prop_map(text),
            (dist, clamp).prop_map(|(mut dist, clamp)| {
                if let Some((a, b)) = clamp {
                    dist["clamp"] = json!({ "min": text(a.min(b)), "max": text(a.max(b)) });
                }
                dist
            }),
        ]
    }

    /// Trigger settings and limits shared by every described fault.
    fn conditions() -> impl Strategy<Value = Map<String, Value>> {
        let window = (
            duration(Duration::ZERO, ms(600_000)),
            duration(Duration::ZERO, ms(600_000)),
        );
        let overload = (0.5..1e6f64, prop::option::of(duration(ms(1), ms(60_000))));
        (
            (
                prop::option::of(rate()),
                prop::option::of(1..1_000u64),
                prop::option::of(1..1_000u64),
                prop::option::of(0..1_000u64),
            ),
            (
                prop::option::of(window),
                prop::option::of(overload),
                prop::option::of(1..1_000u64),
                prop::option::of(0..10u32),
                prop::option::of(label()),
            ),
        )
            .prop_map(
                |((rate, every, first, after), (window, overload, budget, max_active, name))| {
                    let mut m = Map::new();
                    let mut put = |k: &str, v: Option<Value>| {
                        if let Some(v) = v {
                            m.insert(k.to_owned(), v);
                        }
                    };
                    put("rate", rate.map(Value::from));
                    put("every", every.map(Value::from));
                    put("first", first.map(Value::from));
                    put("after", after.map(Value::from));
                    put(
                        "window",
                        window.map(|(a, b)| json!({ "from": text(a.min(b)), "to": text(a.max(b)) })),
                    );
                    put(
                        "overload",
                        overload.map(|(c, per)| match per {
                            Some(per) => json!({ "capacity": c, "per": text(per) }),
                            None => json!({ "capacity": c }),
                        }),
                    );
                    put("budget", budget.map(Value::from));
                    put("max_active", max_active.map(Value::from));
                    put("name", name.map(Value::from));
                    m
                },
            )
    }

    fn with(mut table: Map<String, Value>, fields: Value) -> Value {
        if let Value::Object(fields) = fields {
            table.extend(fields);
        }
        Value::Object(table)
    }

    fn request() -> impl Strategy<Value = Value> {
        let fault = prop_oneof![
            latency().prop_map(|l| json!({ "fault": "latency", "latency": l })),
            latency().prop_map(|l| json!({ "fault": "latency_after", "latency": l })),
            Just(json!({ "fault": "error" })),
            Just(json!({ "fault": "hang" })),
            Just(json!({ "fault": "lost_reply" })),
        ];
        let keyed = prop::option::of(("[a-z]{1,8}", rate()));
        (fault, keyed, conditions()).prop_map(|(mut f, keyed, when)| {
            if let Some((attribute, rate)) = keyed {
                f["keyed"] = json!({ "attribute": attribute, "rate": rate });
            }
            with(when, f)
        })
    }

    fn http_fault() -> impl Strategy<Value = Value> {
        let status = prop::sample::select(vec![200u16, 404, 418, 429, 500, 502, 503, 504, 599]);
        let response = || {
            let retry = prop::option::of(duration(ms(1_000), ms(3_600_000)));
            let message = prop::option::of(label());
            let headers = prop::sample::subsequence(
                vec![
                    ("x-amzn-requestid", "chaos"),
                    ("x-chaos", "1"),
                    ("cache-control", "no-store"),
                ],
                0..=3,
            );
            (retry, message, headers).prop_map(|(retry, message, headers)| {
                let mut m = Map::new();
                if let Some(r) = retry {
                    m.insert("retry_after".into(), text(r));
                }
                if let Some(msg) = message {
                    m.insert("message".into(), msg.into());
                }
                if !headers.is_empty() {
                    let h: Map<String, Value> = headers
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.into()))
                        .collect();
                    m.insert("headers".into(), Value::Object(h));
                }
                m
            })
        };
        let cut = prop::option::of((0..3usize, 1..100_000u64));
        let body = (
            cut,
            prop::option::of(1..1_000_000u64),
            prop::option::of(duration(ms(1), ms(10_000))),
        )
            .prop_map(|(cut, throttle, delay)| {
                let mut b = Map::new();
                if let Some((which, n)) = cut {
                    b.insert(
                        ["truncate_after", "stall_after", "abort_after"][which].into(),
                        n.into(),
                    );
                }
                if let Some(t) = throttle {
                    b.insert("throttle".into(), t.into());
                }
                // At least one setting: a body fault that does nothing is refused.
                if b.is_empty() || delay.is_some() {
                    b.insert("delay_first_byte".into(), text(delay.unwrap_or(ms(5))));
                }
                Value::Object(b)
            });
        prop_oneof![
            (status, response()).prop_map(|(s, r)| with(r, json!({ "fault": "status", "status": s }))),
            (
                prop::sample::select(vec![
                    ("aws_error", "ThrottlingException", None),
                    ("aws_error", "ServiceUnavailable", None),
                    ("aws_error", "ValidationException", Some(400u16)),
                    ("s3_error", "SlowDown", None),
                    ("s3_error", "NoSuchKey", Some(404)),
                ]),
                response()
            )
                .prop_map(|((fault, error, status), mut r)| {
                    r.remove("message");
                    let mut f = json!({ "fault": fault, "error": error });
                    if let Some(s) = status {
                        f["status"] = s.into();
                    }
                    with(r, f)
                }),
            (
                prop::sample::select(vec!["unavailable", "DEADLINE_EXCEEDED", "ok", "14"]),
                prop::option::of(label())
            )
                .prop_map(|(code, message)| {
                    let mut f = json!({ "fault": "grpc", "code": code });
                    if code == "14" {
                        f["code"] = 14.into();
                    }
                    if let Some(m) = message {
                        f["message"] = m.into();
                    }
                    f
                }),
            Just(json!({ "fault": "drop_connection" })),
            latency().prop_map(|l| json!({ "fault": "latency", "latency": l })),
            body.prop_map(|b| json!({ "fault": "body", "body": b })),
        ]
    }

    fn matchers() -> impl Strategy<Value = Map<String, Value>> {
        let methods = prop::sample::subsequence(vec!["GET", "PUT", "POST", "DELETE", "HEAD"], 0..=3);
        let one = |k: &'static str, v: &'static str| prop::option::of(Just((k, v)));
        (
            methods,
            (
                one("path", "/items/1"),
                one("path_prefix", "/api/"),
                one("path_glob", "/items/*/parts"),
                one("host", "example.com"),
            ),
            prop::sample::subsequence(vec!["x-canary", "x-tenant: acme"], 0..=2),
            (
                one("grpc_service", "pkg.Items"),
                one("grpc_method", "pkg.Items/Get"),
            ),
            prop::option::of(rate()),
        )
            .prop_map(|(methods, (a, b, c, d), headers, (e, f), keyed)| {
                let mut m = Map::new();
                match methods.len() {
                    0 => {}
                    // One method as a string, lower case: read upper-cased.
                    1 => {
                        m.insert("method".into(), methods[0].to_ascii_lowercase().into());
                    }
                    _ => {
                        m.insert("method".into(), json!(methods));
                    }
                }
                for (k, v) in [a, b, c, d, e, f].into_iter().flatten() {
                    m.insert(k.into(), v.into());
                }
                if !headers.is_empty() {
                    m.insert("header".into(), json!(headers));
                }
                if let Some(r) = keyed {
                    m.insert("keyed".into(), json!({ "header": "x-tenant", "rate": r }));
                }
                m
            })
    }

    fn http() -> impl Strategy<Value = Value> {
        (http_fault(), matchers(), conditions()).prop_map(|(f, m, when)| with(when, with(m, f)))
    }

    fn connection() -> impl Strategy<Value = Value> {
        let dir = || prop::option::of(prop::sample::select(vec!["upstream", "downstream", "both"]));
        let onset = || {
            prop::option::of(prop_oneof![
                (0..1_000_000u64).prop_map(|n| json!({ "bytes": n })),
                duration(Duration::ZERO, ms(60_000)).prop_map(|t| json!({ "time": text(t) })),
            ])
        };
        let d = || duration(ms(1), ms(10_000));
        let stream = |name: &'static str| (dir(), onset()).prop_map(move |(dir, onset)| (name, dir, onset));
        let fault = prop_oneof![
            Just(json!({ "fault": "dns_failure" })),
            Just(json!({ "fault": "refuse" })),
            Just(json!({ "fault": "connect_hang" })),
            latency().prop_map(|l| json!({ "fault": "slow_connect", "latency": l })),
            (dir(), latency()).prop_map(|(dir, l)| json!({ "fault": "latency", "direction": dir, "latency": l })),
            (dir(), 1..1_000_000u64).prop_map(|(dir, b)| json!({ "fault": "bandwidth", "direction": dir, "bytes_per_second": b })),
            (dir(), 1..64usize, prop::option::of(d()))
                .prop_map(|(dir, n, delay)| json!({ "fault": "slice", "direction": dir, "max_size": n, "delay": delay.map(text) })),
            (dir(), 0..100_000u64).prop_map(|(dir, b)| json!({ "fault": "truncate", "direction": dir, "bytes": b })),
            prop_oneof![stream("reset"), stream("stall"), stream("blackhole")]
                .prop_map(|(name, dir, onset)| json!({ "fault": name, "direction": dir, "onset": onset })),
            (dir(), onset(), d())
                .prop_map(|(dir, onset, c)| json!({ "fault": "timeout", "direction": dir, "onset": onset, "close_after": text(c) })),
            (dir(), d()).prop_map(|(dir, delay)| json!({ "fault": "slow_close", "direction": dir, "delay": text(delay) })),
        ];
        let host = prop::option::of(prop::sample::select(vec!["db.internal", "127.0.0.1"]));
        (fault, host, prop::option::of(1..=u16::MAX), conditions()).prop_map(|(f, host, port, when)| {
            // Absent parameters are written as nothing, not `null`.
            let mut f = match f {
                Value::Object(m) => m.into_iter().filter(|(_, v)| !v.is_null()).collect::<Map<_, _>>(),
                _ => unreachable!(),
            };
            if let Some(h) = host {
                f.insert("host".into(), h.into());
            }
            if let Some(p) = port {
                f.insert("port".into(), p.into());
            }
            with(when, Value::Object(f))
        })
    }

    /// The faults of a phase, or of a flapping phase's good spells.
    fn faults() -> impl Strategy<Value = Map<String, Value>> {
        (
            any::<bool>(),
            prop::option::of(latency()),
            prop::collection::vec(request(), 0..3),
            prop::collection::vec(http(), 0..3),
            prop::collection::vec(connection(), 0..3),
        )
            .prop_map(|(down, slow, request, http, connection)| {
                let mut m = Map::new();
                if down {
                    m.insert("down".into(), true.into());
                }
                if let Some(l) = slow {
                    m.insert("slow".into(), l);
                }
                for (k, v) in [("request", request), ("http", http), ("connection", connection)] {
                    if !v.is_empty() {
                        m.insert(k.into(), Value::Array(v));
                    }
                }
                m
            })
    }

    fn phase() -> impl Strategy<Value = (Duration, Value)> {
        let flap = (
            duration(ms(60_000), ms(600_000)),
            duration(ms(60_000), ms(600_000)),
            prop::option::of(faults()),
        );
        (
            (
                prop::option::of(label()),
                prop::sample::select(vec!["db", "edge", "yes"]),
                prop::option::of(duration(Duration::ZERO, ms(36_000_000))),
                duration(ms(1_000), ms(7_200_000)),
            ),
            faults(),
            prop::sample::subsequence(vec!["dns_failure", "refuse", "hang"], 0..=2),
            prop::option::of((rate(), rate())),
            prop::option::of(flap),
            any::<bool>(),
        )
            .prop_map(
                |((name, target, at, lasting), faults, connect, ramp, flap, expect)| {
                    let mut p = Map::new();
                    if let Some(n) = name {
                        p.insert("name".into(), n.into());
                    }
                    p.insert("target".into(), target.into());
                    if let Some(at) = at {
                        p.insert("at".into(), text(at));
                    }
                    p.insert("for".into(), text(lasting));
                    if expect {
                        p.insert("expect_to_fire".into(), true.into());
                    }
                    if !connect.is_empty() {
                        p.insert("connect".into(), json!(connect));
                    }
                    if let Some((from, to)) = ramp {
                        p.insert("ramp".into(), json!({ "from": from, "to": to }));
                    }
                    if let Some((bad, good, while_good)) = flap {
                        let mut f = json!({ "bad": text(bad), "good": text(good) });
                        if let Some(w) = while_good {
                            f["while_good"] = Value::Object(w);
                        }
                        p.insert("flap".into(), f);
                    }
                    let end = at.unwrap_or_default() + lasting;
                    (end, with(faults, Value::Object(p)))
                },
            )
    }

    /// A scenario file as a JSON value.
    pub(super) fn scenario() -> impl Strategy<Value = Value> {
        (
            label(),
            prop::option::of(label()),
            prop::option::of(duration(Duration::ZERO, ms(3_600_000))),
            prop::collection::vec(phase(), 1..5),
        )
            .prop_map(|(name, description, extra, phases)| {
                let end = phases.iter().map(|(end, _)| *end).max().unwrap_or_default();
                // Phase names, where given, made unique by position (and unlike the
                // default names, `target-N`).
                let phases: Vec<Value> = phases
                    .into_iter()
                    .enumerate()
                    .map(|(i, (_, mut p))| {
                        if let Some(n) = p.get("name").and_then(Value::as_str) {
                            p["name"] = format!("{n}/{i}").into();
                        }
                        p
                    })
                    .collect();
                let mut s = json!({ "name": name, "phases": phases });
                if let Some(d) = description {
                    s["description"] = d.into();
                }
                if let Some(extra) = extra {
                    s["duration"] = text(end + extra);
                }
                s
            })
    }
}

#[test]
fn random_file_scenarios_round_trip_through_every_format() {
    // The strategy's nested types need more stack than a test thread's
    // default in debug builds.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(random_round_trips)
        .unwrap()
        .join()
        .unwrap();
}

fn random_round_trips() {
    use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

    let cases = std::env::var("ROUNDTRIP_CASES").map_or(300, |v| v.parse().unwrap());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[12; 32]));
    let tally = std::cell::Cell::new([0usize; 3]);
    runner
        .run(&random::scenario(), |file| {
            let json = file.to_string();
            let scenario = Scenario::parse(&json, Format::Json).map_err(|e| {
                TestCaseError::fail(format!("the generator wrote an invalid file: {e}\n{json}"))
            })?;
            let mut t = tally.get();
            t[0] += 1;
            t[1] += usize::from(json.contains("\"http\""));
            t[2] += usize::from(json.contains("\"connection\""));
            tally.set(t);
            assert_round_trips(&scenario);
            Ok(())
        })
        .unwrap();
    // The generator reaches every kind of table.
    let [n, http, connection] = tally.get();
    assert!(
        n >= 256 && http > n / 2 && connection > n / 2,
        "{:?}",
        tally.get()
    );
}

#[test]
fn extreme_numbers_and_durations_round_trip() {
    use tower_chaos::scenario::{Faults, Flap, RequestFault};
    use tower_chaos::{Capacity, Latency};

    let ns = Duration::from_nanos;
    let scenario = Scenario::builder("edges")
        .description("line one\nline two: \"quoted\" # not a comment")
        .phase(
            Phase::new("tiny", "db")
                .at(ns(1))
                .lasting(ns(999_999_999))
                .slow(Latency::pareto(ns(1), 1e-3).clamp(ns(1), Duration::from_secs(86_400)))
                .request(RequestFault::error().rate(1e-7).budget(u64::MAX))
                .request(
                    RequestFault::hang()
                        .rate(5e-324)
                        .overload(Capacity::per(1e300, ns(1))),
                )
                .request(
                    RequestFault::lost_reply()
                        .rate(0.1 + 0.2)
                        .every(u64::MAX)
                        .after(u64::MAX)
                        .max_active(u32::MAX),
                )
                .ramp(1e-300, 1.0 - f64::EPSILON),
        )
        .phase(
            Phase::new("long", "db")
                .at(Duration::from_secs(3 * 86_400 + 1))
                .lasting(Duration::new(7 * 86_400, 1))
                .slow(Latency::log_normal(Duration::from_millis(80), 0.0))
                .flap(
                    Flap::new(ns(1), Duration::from_secs(86_400))
                        .while_good(Faults::new().request(RequestFault::error().window(ns(0), ns(1)))),
                ),
        )
        .build()
        .unwrap();
    assert_round_trips(&scenario);
}

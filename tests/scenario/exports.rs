//! Exports of scenarios to Chaos Mesh and toxiproxy
//! (`tower_chaos::scenario::export`): every emitted Chaos Mesh object is
//! checked against facts of Chaos Mesh's published CRD schema, toxiproxy
//! timelines against its API, and each export's list of what it could not
//! express is asserted exactly.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use tower_chaos::scenario::export::{
    ChaosMeshOptions, ChaosMeshTarget, ExportError, Gap, Pods, ToxiproxyOptions, Unexpressed, to_chaos_mesh,
    to_toxiproxy,
};
use tower_chaos::scenario::{Phase, RequestFault, Scenario, presets};
use tower_chaos::{Fault, Latency, Trigger};

/// Facts of Chaos Mesh's CRDs (`config/crd/bases/chaos-mesh.org_{workflows,
/// httpchaos,networkchaos,dnschaos}.yaml` of chaos-mesh/chaos-mesh at
/// 608b61e7, `openAPIV3Schema.properties.spec`), and of its workflow
/// webhook (`api/v1alpha1/workflow_webhook.go`: a Suspend needs a
/// deadline; a chaos in a workflow has no `duration`; `from` and `both`
/// netem directions need a `target`).
mod crd {
    pub(super) const WORKFLOW_REQUIRED: &[&str] = &["entry", "templates"];
    pub(super) const TEMPLATE_REQUIRED: &[&str] = &["name", "templateType"];
    pub(super) const TEMPLATE_KEYS: &[&str] = &[
        "abortWithStatusCheck",
        "awsChaos",
        "azureChaos",
        "blockChaos",
        "children",
        "conditionalBranches",
        "deadline",
        "dnsChaos",
        "gcpChaos",
        "httpChaos",
        "ioChaos",
        "jvmChaos",
        "kernelChaos",
        "name",
        "networkChaos",
        "physicalmachineChaos",
        "podChaos",
        "schedule",
        "statusCheck",
        "stressChaos",
        "task",
        "templateType",
        "timeChaos",
    ];
    pub(super) const MODES: &[&str] = &["one", "all", "fixed", "fixed-percent", "random-max-percent"];
    pub(super) const SELECTOR_KEYS: &[&str] = &[
        "annotationSelectors",
        "expressionSelectors",
        "fieldSelectors",
        "labelSelectors",
        "namespaces",
        "nodeSelectors",
        "nodes",
        "podPhaseSelectors",
        "pods",
    ];
    pub(super) const HTTP_REQUIRED: &[&str] = &["mode", "selector", "target"];
    pub(super) const HTTP_KEYS: &[&str] = &[
        "abort",
        "code",
        "delay",
        "duration",
        "method",
        "mode",
        "patch",
        "path",
        "port",
        "remoteCluster",
        "replace",
        "request_headers",
        "response_headers",
        "selector",
        "target",
        "tls",
        "value",
    ];
    pub(super) const HTTP_TARGETS: &[&str] = &["Request", "Response"];
    pub(super) const REPLACE_KEYS: &[&str] = &["body", "code", "headers", "method", "path", "queries"];
    pub(super) const NETWORK_REQUIRED: &[&str] = &["action", "mode", "selector"];
    pub(super) const NETWORK_KEYS: &[&str] = &[
        "action",
        "bandwidth",
        "corrupt",
        "delay",
        "device",
        "direction",
        "duplicate",
        "duration",
        "externalTargets",
        "loss",
        "mode",
        "rate",
        "remoteCluster",
        "selector",
        "target",
        "targetDevice",
        "value",
    ];
    pub(super) const NETWORK_ACTIONS: &[&str] = &[
        "netem",
        "delay",
        "loss",
        "duplicate",
        "corrupt",
        "partition",
        "bandwidth",
    ];
    pub(super) const DIRECTIONS: &[&str] = &["to", "from", "both"];
    pub(super) const NETWORK_TARGET_REQUIRED: &[&str] = &["mode", "selector"];
    pub(super) const NETWORK_TARGET_KEYS: &[&str] = &["mode", "selector", "value"];
    pub(super) const DELAY_REQUIRED: &[&str] = &["latency"];
    pub(super) const DELAY_KEYS: &[&str] = &["correlation", "jitter", "latency", "reorder"];
    pub(super) const BANDWIDTH_REQUIRED: &[&str] = &["buffer", "limit", "rate"];
    pub(super) const BANDWIDTH_KEYS: &[&str] = &["buffer", "limit", "minburst", "peakrate", "rate"];
    /// `isValidRateUnit` of `networkchaos_webhook.go`: an unsigned integer
    /// and one of these units.
    pub(super) const RATE_UNITS: &[&str] = &[
        "kbit", "mbit", "gbit", "tbit", "tbps", "gbps", "mbps", "kbps", "bps", "bit",
    ];
    pub(super) const DNS_REQUIRED: &[&str] = &["action", "mode", "selector"];
    pub(super) const DNS_KEYS: &[&str] = &[
        "action",
        "containerNames",
        "duration",
        "mode",
        "patterns",
        "remoteCluster",
        "selector",
        "value",
    ];
    pub(super) const DNS_ACTIONS: &[&str] = &["error", "random"];
    /// The template types the exports use (of `zz_generated.workflow.chaosmesh.go`).
    pub(super) const TEMPLATE_TYPES: &[&str] = &[
        "Serial",
        "Parallel",
        "Suspend",
        "HTTPChaos",
        "NetworkChaos",
        "DNSChaos",
    ];
}

/// `^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$`, the CRD's pattern for NetworkChaos
/// latencies (a deadline, a Go duration, takes it too).
fn is_duration(s: &str) -> bool {
    let unit = ["ns", "us", "ms", "s", "m", "h"].into_iter().find(|u| {
        s.strip_suffix(u)
            .is_some_and(|n| !n.is_empty() && n.ends_with(|c: char| c.is_ascii_digit()))
    });
    let Some(unit) = unit else { return false };
    let number = &s[..s.len() - unit.len()];
    let (int, frac) = number.split_once('.').unwrap_or((number, "0"));
    !int.is_empty() && !frac.is_empty() && int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
}

/// A DNS-1123 subdomain (template and workflow names).
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn keys(v: &Value, what: &str, required: &[&str], allowed: &[&str]) {
    let map = v.as_object().unwrap_or_else(|| panic!("{what}: not a map: {v}"));
    for r in required {
        assert!(map.contains_key(*r), "{what}: required `{r}` missing: {v}");
    }
    for k in map.keys() {
        assert!(
            allowed.contains(&k.as_str()),
            "{what}: `{k}` is not in the CRD: {v}"
        );
    }
}

fn one_of(v: &Value, what: &str, values: &[&str]) {
    let s = v.as_str().unwrap_or_else(|| panic!("{what}: not a string: {v}"));
    assert!(values.contains(&s), "{what}: {s:?} is not one of {values:?}");
}

fn selector(v: &Value, what: &str) {
    keys(v, what, &[], crd::SELECTOR_KEYS);
    for ns in v["namespaces"].as_array().unwrap() {
        assert!(ns.is_string(), "{what}.namespaces: {ns}");
    }
}

/// Parses `yaml` back and checks the workflow and every object in it
/// against the CRD facts; returns the workflow.
fn valid_workflow(yaml: &str) -> Value {
    let doc: Value = serde_norway::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(doc["apiVersion"], "chaos-mesh.org/v1alpha1");
    assert_eq!(doc["kind"], "Workflow");
    assert!(is_dns_subdomain(doc["metadata"]["name"].as_str().unwrap()));
    assert!(doc["metadata"]["namespace"].is_string());
    let spec = &doc["spec"];
    keys(spec, "spec", crd::WORKFLOW_REQUIRED, crd::WORKFLOW_REQUIRED);
    let templates = spec["templates"].as_array().unwrap();
    let names: Vec<&str> = templates.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "template names are unique: {names:?}");
    assert!(
        names.contains(&spec["entry"].as_str().unwrap()),
        "the entry is a template"
    );
    for t in templates {
        let name = t["name"].as_str().unwrap();
        assert!(is_dns_subdomain(name), "{name}: a DNS-1123 subdomain");
        keys(t, name, crd::TEMPLATE_REQUIRED, crd::TEMPLATE_KEYS);
        one_of(&t["templateType"], name, crd::TEMPLATE_TYPES);
        if let Some(d) = t.get("deadline") {
            assert!(is_duration(d.as_str().unwrap()), "{name}: deadline {d}");
        }
        let ty = t["templateType"].as_str().unwrap();
        match ty {
            "Suspend" => {
                assert!(t.get("deadline").is_some(), "{name}: a Suspend has a deadline");
                keys(t, name, &[], &["name", "templateType", "deadline"]);
            }
            "Serial" | "Parallel" => {
                keys(
                    t,
                    name,
                    &["children"],
                    &["name", "templateType", "deadline", "children"],
                );
                for c in t["children"].as_array().unwrap() {
                    assert!(names.contains(&c.as_str().unwrap()), "{name}: child {c} exists");
                }
            }
            _ => {
                let field = match ty {
                    "HTTPChaos" => "httpChaos",
                    "NetworkChaos" => "networkChaos",
                    _ => "dnsChaos",
                };
                keys(
                    t,
                    name,
                    &[field, "deadline"],
                    &["name", "templateType", "deadline", field],
                );
                let chaos = &t[field];
                assert!(
                    chaos.get("duration").is_none(),
                    "{name}: no duration in a workflow's chaos"
                );
                one_of(&chaos["mode"], name, crd::MODES);
                selector(&chaos["selector"], name);
                match field {
                    "httpChaos" => http_chaos(chaos, name),
                    "networkChaos" => network_chaos(chaos, name),
                    _ => {
                        keys(chaos, name, crd::DNS_REQUIRED, crd::DNS_KEYS);
                        one_of(&chaos["action"], name, crd::DNS_ACTIONS);
                    }
                }
            }
        }
    }
    doc
}

fn http_chaos(c: &Value, name: &str) {
    keys(c, name, crd::HTTP_REQUIRED, crd::HTTP_KEYS);
    one_of(&c["target"], name, crd::HTTP_TARGETS);
    let port = c["port"].as_i64().unwrap();
    assert!((1..=65_535).contains(&port), "{name}: port {port}");
    if let Some(d) = c.get("delay") {
        assert!(is_duration(d.as_str().unwrap()), "{name}: delay {d}");
    }
    if let Some(a) = c.get("abort") {
        assert!(a.is_boolean());
    }
    if let Some(r) = c.get("replace") {
        keys(r, name, &[], crd::REPLACE_KEYS);
        assert!(
            r["code"].as_i64().is_some_and(|c| (100..=599).contains(&c)),
            "{name}: code"
        );
        if let Some(body) = r.get("body") {
            let b = body.as_str().unwrap();
            assert!(
                b.len() % 4 == 0
                    && b.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c)),
                "{name}: body is base64 (format: byte): {b}"
            );
        }
    }
}

fn network_chaos(c: &Value, name: &str) {
    keys(c, name, crd::NETWORK_REQUIRED, crd::NETWORK_KEYS);
    one_of(&c["action"], name, crd::NETWORK_ACTIONS);
    one_of(&c["direction"], name, crd::DIRECTIONS);
    if c["direction"] != "to" && c["action"] != "partition" {
        assert!(
            c.get("target").is_some(),
            "{name}: `from` and `both` need a target"
        );
    }
    if let Some(t) = c.get("target") {
        keys(t, name, crd::NETWORK_TARGET_REQUIRED, crd::NETWORK_TARGET_KEYS);
        one_of(&t["mode"], name, crd::MODES);
        selector(&t["selector"], name);
    }
    match c["action"].as_str().unwrap() {
        "delay" => {
            let d = &c["delay"];
            keys(d, name, crd::DELAY_REQUIRED, crd::DELAY_KEYS);
            assert!(is_duration(d["latency"].as_str().unwrap()), "{name}: latency");
            if let Some(j) = d.get("jitter") {
                assert!(is_duration(j.as_str().unwrap()), "{name}: jitter");
            }
        }
        "bandwidth" => {
            let b = &c["bandwidth"];
            keys(b, name, crd::BANDWIDTH_REQUIRED, crd::BANDWIDTH_KEYS);
            assert!(b["limit"].as_u64().unwrap() >= 1 && b["buffer"].as_u64().unwrap() >= 1);
            let rate = b["rate"].as_str().unwrap();
            let unit = crd::RATE_UNITS.iter().find(|u| rate.ends_with(*u)).unwrap();
            rate[..rate.len() - unit.len()].parse::<u64>().unwrap();
        }
        _ => {}
    }
}

/// Facts of toxiproxy's API (Shopify/toxiproxy at f48fd7f1: `api.go`'s
/// routes, `proxy.go`'s and `toxics/*.go`'s JSON fields, the registered
/// toxic types).
mod toxiproxy_api {
    pub(super) const PROXY_FIELDS: &[&str] = &["enabled", "listen", "name", "upstream"];
    pub(super) const TOXIC_FIELDS: &[&str] = &["attributes", "name", "stream", "toxicity", "type"];
    pub(super) const STREAMS: &[&str] = &["upstream", "downstream"];
    /// Each toxic type and its attributes (all integers).
    pub(super) const TOXICS: &[(&str, &[&str])] = &[
        ("latency", &["jitter", "latency"]),
        ("bandwidth", &["rate"]),
        ("slow_close", &["delay"]),
        ("timeout", &["timeout"]),
        ("reset_peer", &["timeout"]),
        ("slicer", &["average_size", "delay", "size_variation"]),
        ("limit_data", &["bytes"]),
    ];
}

/// Checks `populate` and every call of `timeline` against toxiproxy's API:
/// routes, bodies, toxic types and their attributes; toxics are removed
/// after they were added, and every one is removed by the end.
fn valid_toxiproxy(populate: &str, timeline: &str) {
    use toxiproxy_api::*;
    let proxies: Value = serde_json::from_str(populate).unwrap();
    let mut names = Vec::new();
    for p in proxies.as_array().unwrap() {
        keys(p, "proxy", PROXY_FIELDS, PROXY_FIELDS);
        names.push(p["name"].as_str().unwrap().to_owned());
    }
    let calls: Value = serde_json::from_str(timeline).unwrap();
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut last = 0.0;
    for c in calls.as_array().unwrap() {
        keys(
            c,
            "call",
            &["at", "method", "path"],
            &["at", "method", "path", "body"],
        );
        let at = c["at"].as_f64().unwrap();
        assert!(at >= last, "calls in time order: {c}");
        last = at;
        let path = c["path"].as_str().unwrap();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        assert_eq!(parts[0], "proxies", "{path}");
        assert!(names.iter().any(|n| n == parts[1]), "{path}: a populated proxy");
        match (c["method"].as_str().unwrap(), &parts[2..]) {
            ("POST", []) => keys(&c["body"], path, &["enabled"], &["enabled"]),
            ("POST", ["toxics"]) => {
                let body = &c["body"];
                keys(body, path, TOXIC_FIELDS, TOXIC_FIELDS);
                one_of(&body["stream"], path, STREAMS);
                let p = body["toxicity"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&p), "{path}: toxicity {p}");
                let ty = body["type"].as_str().unwrap();
                let (_, attributes) = TOXICS
                    .iter()
                    .find(|(t, _)| *t == ty)
                    .unwrap_or_else(|| panic!("toxic type {ty}"));
                keys(&body["attributes"], ty, attributes, attributes);
                for a in *attributes {
                    assert!(body["attributes"][a].is_u64(), "{ty}.{a}: a non-negative integer");
                }
                let name = format!("{}/{}", parts[1], body["name"].as_str().unwrap());
                assert!(live.insert(name), "{path}: a toxic added twice: {c}");
            }
            ("POST", ["toxics", toxic]) => {
                keys(&c["body"], path, &["toxicity"], &["toxicity"]);
                assert!(
                    live.contains(&format!("{}/{toxic}", parts[1])),
                    "{path}: updates a live toxic"
                );
            }
            ("DELETE", ["toxics", toxic]) => {
                assert!(c.get("body").is_none(), "{path}: no body");
                assert!(
                    live.remove(&format!("{}/{toxic}", parts[1])),
                    "{path}: removes a live toxic"
                );
            }
            (m, _) => panic!("not a toxiproxy route: {m} {path}"),
        }
    }
    assert!(live.is_empty(), "toxics left at the end: {live:?}");
}

#[test]
fn every_preset_and_file_exports_objects_the_engines_take() {
    let mut scenarios: Vec<Scenario> = presets::NAMES
        .iter()
        .map(|n| presets::by_name(n).unwrap())
        .collect();
    for file in ["connection", "http", "outage"] {
        for ext in ["toml", "yaml", "json"] {
            scenarios.push(Scenario::from_file(format!("tests/scenarios/{file}.{ext}")).unwrap());
        }
    }
    for scenario in &scenarios {
        let export = to_chaos_mesh(scenario, &cluster()).unwrap();
        valid_workflow(&export.yaml);
        let mut proxies = ToxiproxyOptions::new();
        for (i, target) in scenario.targets().into_iter().enumerate() {
            proxies = proxies.proxy(
                target,
                format!("127.0.0.1:{}", 20_000 + i),
                format!("{target}.internal:443"),
            );
        }
        let export = to_toxiproxy(scenario, &proxies).unwrap();
        valid_toxiproxy(&export.populate, &export.timeline);
    }
}

/// The templates of `doc` by name.
fn template<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no template {name}"))
}

fn gaps(list: &[Unexpressed]) -> Vec<(&str, &str, Gap)> {
    list.iter()
        .map(|u| (u.phase.as_str(), u.fault.as_str(), u.gap))
        .collect()
}

fn unexpressed(phase: &str, fault: &str, gap: Gap, reason: &str) -> Unexpressed {
    Unexpressed {
        phase: phase.into(),
        fault: fault.into(),
        gap,
        reason: reason.into(),
    }
}

fn cluster() -> ChaosMeshOptions {
    ChaosMeshOptions::new("chaos-testing").all(
        ChaosMeshTarget::new(Pods::new("shop").label("app", "provider"))
            .port(8000)
            .clients(Pods::new("shop").label("app", "web"))
            .host("dynamodb.us-east-1.amazonaws.com"),
    )
}

const NO_PERCENTAGE: &str =
    "Chaos Mesh has no percentage of requests, connections or lookups (NetworkChaos's `loss` is of packets)";

#[test]
fn chaos_mesh_plays_the_dynamodb_dns_outage_as_dns_chaos_on_the_clients() {
    let export = to_chaos_mesh(&presets::aws_dynamodb_dns_2025(), &cluster()).unwrap();
    let doc = valid_workflow(&export.yaml);
    assert_eq!(doc["metadata"]["name"], "aws-dynamodb-dns-2025");
    assert_eq!(doc["metadata"]["namespace"], "chaos-testing");
    let entry = template(&doc, "entry");
    assert_eq!(entry["templateType"], "Parallel");
    assert_eq!(
        entry["children"],
        serde_json::json!(["dns-empty-0-0-0-0", "scenario-end"])
    );
    // 23:48 (after the 10 min lead-in) to 02:25: 2 h 37 min.
    assert_eq!(template(&doc, "dns-empty-0-0-0-0-wait")["deadline"], "10m");
    let run = template(&doc, "dns-empty-0-0-0-0-run");
    assert_eq!(run["templateType"], "DNSChaos");
    assert_eq!(run["deadline"], "157m");
    assert_eq!(run["dnsChaos"]["action"], "error");
    assert_eq!(run["dnsChaos"]["selector"]["labelSelectors"]["app"], "web");
    assert_eq!(
        run["dnsChaos"]["patterns"],
        serde_json::json!(["dynamodb.us-east-1.amazonaws.com"])
    );
    // The workflow lasts the scenario: 14 h 52 min.
    assert_eq!(template(&doc, "scenario-end")["deadline"], "892m");
    assert_eq!(
        export.unexpressed,
        [unexpressed(
            "cache-expiry",
            "connection[0] (dns_failure)",
            Gap::Dropped,
            &format!("{NO_PERCENTAGE}: ramp 1 → 0"),
        )]
    );

    // Without the clients' pods, DNS failures cannot be placed: said, not dropped silently.
    let bare = ChaosMeshOptions::new("ns").all(ChaosMeshTarget::new(Pods::new("ns")));
    let export = to_chaos_mesh(&presets::aws_dynamodb_dns_2025(), &bare).unwrap();
    let doc = valid_workflow(&export.yaml);
    assert_eq!(
        doc["spec"]["templates"].as_array().unwrap().len(),
        2,
        "entry and its end only"
    );
    assert_eq!(
        export.unexpressed[0],
        unexpressed(
            "dns-empty",
            "connection[0] (dns_failure)",
            Gap::Dropped,
            "DNSChaos fails the lookups of the clients' pods: set `ChaosMeshTarget::clients`",
        )
    );
}

#[test]
fn chaos_mesh_plays_the_s3_outage_as_http_chaos_one_method_each() {
    let export = to_chaos_mesh(&presets::aws_s3_2017(), &cluster()).unwrap();
    let doc = valid_workflow(&export.yaml);
    let down = template(&doc, "all-operations-down-0-0-0-0-run");
    assert_eq!(
        (down["deadline"].as_str(), down["httpChaos"]["target"].as_str()),
        (Some("169m"), Some("Response"))
    );
    assert_eq!(down["httpChaos"]["replace"]["code"], 503);
    assert_eq!(down["httpChaos"]["port"], 8000);
    for (k, method) in ["PUT", "POST"].into_iter().enumerate() {
        assert_eq!(
            template(&doc, &format!("writes-down-2-0-0-{k}-wait"))["deadline"],
            "179m"
        );
        let run = &template(&doc, &format!("writes-down-2-0-0-{k}-run"))["httpChaos"];
        assert_eq!(run["method"], method);
        assert_eq!(run["replace"]["code"], 503);
        assert_eq!(
            run["replace"]["headers"]["content-type"],
            "text/plain; charset=utf-8"
        );
    }
    let reaches = "the request still reaches the pods: HTTPChaos replaces their response's status with 503 \
                   (tower-chaos answers without calling the provider)";
    assert_eq!(
        export.unexpressed,
        [
            unexpressed("all-operations-down", "down", Gap::Approximated, reaches),
            unexpressed(
                "reads-recovering",
                "http[0] (status)",
                Gap::Dropped,
                &format!("{NO_PERCENTAGE}: ramp 1 → 0")
            ),
            unexpressed("writes-down", "http[0] (status)", Gap::Approximated, reaches),
        ]
    );
    for u in &export.unexpressed {
        assert!(
            u.to_string()
                .starts_with(&format!("phase `{}`, {}: ", u.phase, u.fault)),
            "{u}"
        );
    }
}

#[test]
fn chaos_mesh_plays_each_bad_spell_of_a_flapping_phase() {
    let export = to_chaos_mesh(&presets::cloudflare_2025(), &cluster()).unwrap();
    let doc = valid_workflow(&export.yaml);
    // Bad from 10 min for 5, good for 5, six times: spells 0, 2, 4… of the phase.
    let waits = ["10m", "20m", "30m", "40m", "50m", "1h"];
    for (wait, spell) in waits.into_iter().zip((0..12).step_by(2)) {
        let base = format!("flapping-0-{spell}-0-0");
        assert_eq!(template(&doc, &format!("{base}-wait"))["deadline"], wait);
        assert_eq!(template(&doc, &format!("{base}-run"))["deadline"], "5m");
        assert_eq!(
            template(&doc, &format!("{base}-run"))["httpChaos"]["replace"]["code"],
            500
        );
    }
    assert_eq!(template(&doc, "steady-bad-1-0-0-0-wait")["deadline"], "70m");
    assert_eq!(
        gaps(&export.unexpressed),
        [
            ("flapping", "http[0] (status)", Gap::Approximated),
            ("steady-bad", "http[0] (status)", Gap::Approximated),
            ("partial-bypass", "http[0] (status)", Gap::Dropped),
            ("core-flowing", "http[0] (status)", Gap::Dropped),
        ]
    );
}

#[test]
fn chaos_mesh_plays_connection_files_as_network_chaos() {
    let scenario = Scenario::from_file("tests/scenarios/connection.toml").unwrap();
    let export = to_chaos_mesh(&scenario, &cluster()).unwrap();
    let doc = valid_workflow(&export.yaml);
    let slow = &template(&doc, "slow-2-0-0-0-run")["networkChaos"];
    assert_eq!(
        (slow["action"].as_str(), slow["direction"].as_str()),
        (Some("delay"), Some("to"))
    );
    assert_eq!(slow["delay"]["latency"], "200ms");
    let thin = &template(&doc, "thin-3-0-0-0-run")["networkChaos"];
    assert_eq!(thin["bandwidth"]["rate"], "1000bps");
    let stalls = &template(&doc, "stalls-5-0-0-0-run")["networkChaos"];
    assert_eq!(
        (stalls["action"].as_str(), stalls["direction"].as_str()),
        (Some("partition"), Some("from"))
    );
    assert_eq!(stalls["target"]["selector"]["labelSelectors"]["app"], "web");
    assert_eq!(
        gaps(&export.unexpressed),
        [
            ("resets", "connection[0] (reset)", Gap::Dropped),
            ("some-refused", "connection[0] (refuse)", Gap::Dropped),
            ("some-refused", "connection[1] (timeout)", Gap::Dropped),
            ("cut", "connection[0] (truncate)", Gap::Dropped),
            ("stalls", "connection[0] (stall)", Gap::Approximated),
        ]
    );
    // Without the clients' pods, the upstream stall has no peer.
    let bare = ChaosMeshOptions::new("ns").all(ChaosMeshTarget::new(Pods::new("ns")));
    let export = to_chaos_mesh(&scenario, &bare).unwrap();
    valid_workflow(&export.yaml);
    let stall = export.unexpressed.iter().find(|u| u.phase == "stalls").unwrap();
    assert_eq!(stall.gap, Gap::Dropped);
    assert!(stall.reason.contains("ChaosMeshTarget::clients"), "{stall}");
}

#[test]
fn chaos_mesh_plays_http_files_with_their_matchers() {
    let scenario = Scenario::from_file("tests/scenarios/http.toml").unwrap();
    let export = to_chaos_mesh(&scenario, &cluster()).unwrap();
    let doc = valid_workflow(&export.yaml);
    let throttled = &template(&doc, "throttled-0-0-0-0-run")["httpChaos"];
    assert_eq!(throttled["replace"]["code"], 429);
    assert_eq!(throttled["replace"]["headers"]["retry-after"], "3");
    assert_eq!(throttled["replace"]["headers"]["x-ratelimit-remaining"], "0");
    let writes: Vec<&Value> = (0..2)
        .map(|k| &template(&doc, &format!("writes-down-1-0-0-{k}-run"))["httpChaos"])
        .collect();
    assert_eq!(
        (writes[0]["method"].as_str(), writes[1]["method"].as_str()),
        (Some("PUT"), Some("POST"))
    );
    assert_eq!(writes[0]["path"], "/items/*");
    let s3 = &template(&doc, "s3-slow-down-3-0-0-0-run")["httpChaos"];
    assert_eq!(
        (s3["method"].as_str(), s3["path"].as_str()),
        (Some("GET"), Some("/items/1"))
    );
    assert_eq!(s3["replace"]["headers"]["retry-after"], "1");
    assert_eq!(
        gaps(&export.unexpressed),
        [
            ("throttled", "http[0] (status)", Gap::Approximated),
            ("writes-down", "http[0] (status)", Gap::Approximated),
            ("writes-down", "http[0] (status)", Gap::Approximated),
            ("aws-throttling", "http[0] (aws_error)", Gap::Dropped),
            ("aws-throttling", "http[1] (aws_error)", Gap::Dropped),
            ("s3-slow-down", "http[0] (s3_error)", Gap::Approximated),
            ("grpc-unavailable", "http[0] (grpc)", Gap::Dropped),
            ("grpc-unavailable", "http[1] (latency)", Gap::Dropped),
            ("tenants", "http[0] (status)", Gap::Dropped),
            ("tenants", "http[1] (body)", Gap::Dropped),
            ("tenants", "http[2] (drop_connection)", Gap::Dropped),
        ]
    );
    assert!(export.unexpressed[2].reason.contains("path glob \"/items/*\""));
    assert!(export.unexpressed[3].reason.ends_with("it has no first 2"));
    assert!(
        export.unexpressed[8]
            .reason
            .ends_with("it has no keyed on `x-tenant` (0.5)")
    );
}

#[test]
fn windows_move_a_fault_within_its_phase_and_typed_rules_are_listed() {
    let s = Duration::from_secs;
    let scenario = Scenario::builder("windowed")
        .phase(
            Phase::new("slow-bit", "db")
                .at(s(60))
                .lasting(s(60))
                .request(
                    RequestFault::latency(Latency::fixed(Duration::from_millis(300))).window(s(10), s(20)),
                )
                .request(RequestFault::lost_reply())
                .rule(Fault::<u32>::hang().when(Trigger::every(3))),
        )
        .build()
        .unwrap();
    let export = to_chaos_mesh(&scenario, &cluster()).unwrap();
    let doc = valid_workflow(&export.yaml);
    assert_eq!(template(&doc, "slow-bit-0-0-0-0-wait")["deadline"], "70s");
    let run = template(&doc, "slow-bit-0-0-0-0-run");
    assert_eq!(
        (run["deadline"].as_str(), run["httpChaos"]["delay"].as_str()),
        (Some("10s"), Some("300ms"))
    );
    let lost = &template(&doc, "slow-bit-0-0-1-0-run")["httpChaos"];
    assert_eq!(
        (lost["target"].as_str(), lost["abort"].as_bool()),
        (Some("Response"), Some(true))
    );
    assert_eq!(
        gaps(&export.unexpressed),
        [("slow-bit", "rules[0]", Gap::Dropped)]
    );
    let proxies = ToxiproxyOptions::new().proxy("db", "127.0.0.1:15432", "db:5432");
    let export = to_toxiproxy(&scenario, &proxies).unwrap();
    let calls: Value = serde_json::from_str(&export.timeline).unwrap();
    assert_eq!(
        (calls[0]["at"].as_f64(), calls[1]["at"].as_f64()),
        (Some(70.0), Some(80.0))
    );
    assert_eq!(
        gaps(&export.unexpressed),
        [
            ("slow-bit", "request[0] (latency)", Gap::Approximated),
            ("slow-bit", "request[1] (lost_reply)", Gap::Dropped),
            ("slow-bit", "rules[0]", Gap::Dropped),
        ]
    );
}

#[test]
fn toxiproxy_populates_the_dns_preset_and_says_it_cannot_fail_lookups() {
    let options = ToxiproxyOptions::new().proxy("dynamodb", "127.0.0.1:18000", "dynamodb.internal:8000");
    let export = to_toxiproxy(&presets::aws_dynamodb_dns_2025(), &options).unwrap();
    let populate: Value = serde_json::from_str(&export.populate).unwrap();
    assert_eq!(
        populate,
        serde_json::json!([{ "name": "dynamodb", "listen": "127.0.0.1:18000", "upstream": "dynamodb.internal:8000", "enabled": true }])
    );
    assert_eq!(export.timeline, "[]\n");
    let reason = "toxiproxy is reached by address: it has no name resolution to fail";
    assert_eq!(
        export.unexpressed,
        [
            unexpressed("dns-empty", "connection[0] (dns_failure)", Gap::Dropped, reason),
            unexpressed(
                "cache-expiry",
                "connection[0] (dns_failure)",
                Gap::Dropped,
                reason
            ),
        ]
    );
}

#[test]
fn toxiproxy_disables_the_s3_proxy_and_says_it_cannot_answer_503s() {
    let options = ToxiproxyOptions::new().proxy("s3", "127.0.0.1:19000", "s3.internal:443");
    let export = to_toxiproxy(&presets::aws_s3_2017(), &options).unwrap();
    valid_toxiproxy(&export.populate, &export.timeline);
    let timeline: Value = serde_json::from_str(&export.timeline).unwrap();
    assert_eq!(
        timeline,
        serde_json::json!([
            { "at": 600.0, "method": "POST", "path": "/proxies/s3", "body": { "enabled": false } },
            { "at": 10_740.0, "method": "POST", "path": "/proxies/s3", "body": { "enabled": true } },
        ])
    );
    let status = "toxiproxy moves bytes: it cannot answer with an HTTP or gRPC status";
    assert_eq!(
        export.unexpressed,
        [
            unexpressed(
                "all-operations-down",
                "down",
                Gap::Approximated,
                "the proxy is disabled: connections are refused (and open ones closed) instead of answered with 503",
            ),
            unexpressed("reads-recovering", "http[0] (status)", Gap::Dropped, status),
            unexpressed("writes-down", "http[0] (status)", Gap::Dropped, status),
        ]
    );
}

/// The timeline's calls as `(at, method, path, toxic type, stream)`.
fn calls(timeline: &str) -> Vec<(f64, String, String, String, String)> {
    let calls: Value = serde_json::from_str(timeline).unwrap();
    calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                c["at"].as_f64().unwrap(),
                s(&c["method"]),
                s(&c["path"]),
                s(&c["body"]["type"]),
                s(&c["body"]["stream"]),
            )
        })
        .collect()
}

#[test]
fn toxiproxy_plays_connection_files_as_toxics_added_and_removed() {
    let scenario = Scenario::from_file("tests/scenarios/connection.toml").unwrap();
    let options = ToxiproxyOptions::new().proxy("db", "127.0.0.1:15432", "db:5432");
    let export = to_toxiproxy(&scenario, &options).unwrap();
    valid_toxiproxy(&export.populate, &export.timeline);
    let c = |at: f64, m: &str, p: &str, ty: &str, st: &str| (at, m.into(), p.into(), ty.into(), st.into());
    assert_eq!(
        calls(&export.timeline),
        [
            c(180.0, "POST", "/proxies/db/toxics", "latency", "downstream"),
            c(240.0, "DELETE", "/proxies/db/toxics/slow-2-0-downstream", "", ""),
            c(240.0, "POST", "/proxies/db/toxics", "bandwidth", "downstream"),
            c(300.0, "DELETE", "/proxies/db/toxics/thin-3-0-downstream", "", ""),
            c(300.0, "POST", "/proxies/db/toxics", "limit_data", "downstream"),
            c(360.0, "DELETE", "/proxies/db/toxics/cut-4-0-downstream", "", ""),
            c(360.0, "POST", "/proxies/db/toxics", "timeout", "upstream"),
            c(420.0, "DELETE", "/proxies/db/toxics/stalls-5-0-upstream", "", ""),
        ]
    );
    let timeline: Value = serde_json::from_str(&export.timeline).unwrap();
    assert_eq!(
        timeline[0]["body"]["attributes"],
        serde_json::json!({ "latency": 200, "jitter": 50 })
    );
    assert_eq!(timeline[0]["body"]["toxicity"], 1.0);
    assert_eq!(
        timeline[2]["body"]["attributes"],
        serde_json::json!({ "rate": 1 })
    );
    assert_eq!(
        timeline[4]["body"]["attributes"],
        serde_json::json!({ "bytes": 3 })
    );
    assert_eq!(
        timeline[6]["body"]["attributes"],
        serde_json::json!({ "timeout": 0 })
    );
    assert_eq!(
        export.unexpressed,
        [
            unexpressed(
                "resets",
                "connection[0] (reset)",
                Gap::Dropped,
                "reset_peer cannot count bytes before it resets"
            ),
            unexpressed(
                "some-refused",
                "connection[0] (refuse)",
                Gap::Dropped,
                "toxiproxy applies a toxic to a share of connections (toxicity); it has no every 2",
            ),
            unexpressed(
                "some-refused",
                "connection[1] (timeout)",
                Gap::Dropped,
                "a toxiproxy proxy forwards to one upstream: it cannot match a host or port",
            ),
            unexpressed(
                "stalls",
                "connection[0] (stall)",
                Gap::Approximated,
                "toxiproxy's timeout 0: data is dropped until the toxic is removed, which closes the connection \
                 (a stall delivers what it held, a blackhole resumes)",
            ),
        ]
    );
}

#[test]
fn toxiproxy_plays_rates_as_toxicity_ramps_as_steps_and_down_as_a_disabled_proxy() {
    let scenario = Scenario::parse(
        r#"
name = "ramps"
[[phases]]
name = "easing"
target = "db"
at = "100s"
for = "100s"
ramp = { from = 1.0, to = 0.0 }
[[phases.connection]]
fault = "latency"
latency = { uniform = { min = "10ms", max = "30ms" } }
rate = 0.5
[[phases]]
name = "gone"
target = "db"
at = "300s"
for = "10s"
down = true
"#,
        tower_chaos::scenario::Format::Toml,
    )
    .unwrap();
    let options = ToxiproxyOptions::new().proxy("db", "127.0.0.1:15432", "db:5432");
    let export = to_toxiproxy(&scenario, &options).unwrap();
    valid_toxiproxy(&export.populate, &export.timeline);
    let timeline: Value = serde_json::from_str(&export.timeline).unwrap();
    let timeline = timeline.as_array().unwrap();
    // Both streams: per stream an add, 9 updates and a delete; then the proxy off and on.
    assert_eq!(timeline.len(), 2 * 11 + 2);
    let upstream: Vec<&Value> = timeline
        .iter()
        .filter(|c| c["path"].as_str().unwrap().contains("upstream") || c["body"]["stream"] == "upstream")
        .collect();
    assert_eq!(upstream.len(), 11);
    assert_eq!(
        upstream[0]["body"]["attributes"],
        serde_json::json!({ "latency": 20, "jitter": 10 })
    );
    let shares: Vec<f64> = upstream[..10]
        .iter()
        .map(|c| c["body"]["toxicity"].as_f64().unwrap())
        .collect();
    assert_eq!(
        shares,
        [
            0.475, 0.425, 0.375, 0.325, 0.275, 0.225, 0.175, 0.125, 0.075, 0.025
        ]
    );
    let ats: Vec<f64> = upstream.iter().map(|c| c["at"].as_f64().unwrap()).collect();
    assert_eq!(
        ats,
        [
            100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.0, 170.0, 180.0, 190.0, 200.0
        ]
    );
    assert_eq!(upstream[1]["path"], "/proxies/db/toxics/easing-0-0-upstream");
    assert_eq!(upstream[10]["method"], "DELETE");
    let off = &timeline[timeline.len() - 2];
    let on = &timeline[timeline.len() - 1];
    assert_eq!(
        (off["at"].as_f64(), off["path"].as_str(), &off["body"]),
        (
            Some(300.0),
            Some("/proxies/db"),
            &serde_json::json!({ "enabled": false })
        )
    );
    assert_eq!(
        (on["at"].as_f64(), &on["body"]),
        (Some(310.0), &serde_json::json!({ "enabled": true }))
    );
    assert_eq!(
        gaps(&export.unexpressed),
        [
            ("easing", "connection[0] (latency)", Gap::Approximated),
            ("gone", "down", Gap::Approximated)
        ]
    );
    assert!(export.unexpressed[0].reason.starts_with("ramp 1 → 0 as 10 steps"));
}

#[test]
fn options_that_do_not_fit_are_errors_naming_the_field() {
    let s3 = presets::aws_s3_2017();
    assert_eq!(
        to_chaos_mesh(&s3, &ChaosMeshOptions::new("ns")).unwrap_err(),
        ExportError::MissingTarget {
            engine: "chaos-mesh",
            target: "s3".into()
        }
    );
    let zero = ChaosMeshOptions::new("ns").target("s3", ChaosMeshTarget::new(Pods::new("ns")).port(0));
    let err = to_chaos_mesh(&s3, &zero).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `targets.s3.port` = \"0\": HTTPChaos proxies a port within 1..=65535"
    );
    let bad_ns = ChaosMeshOptions::new("ns").all(ChaosMeshTarget::new(Pods::new("Shop_1")));
    let err = to_chaos_mesh(&s3, &bad_ns).unwrap_err();
    assert!(
        matches!(&err, ExportError::Invalid { field, value, .. } if field == "all.pods.namespace" && value == "Shop_1"),
        "{err}"
    );
    let err = to_toxiproxy(&s3, &ToxiproxyOptions::new().proxy("s3", "127.0.0.1:1", "s3")).unwrap_err();
    assert!(
        matches!(&err, ExportError::Invalid { field, .. } if field == "proxies.s3.upstream"),
        "{err}"
    );
    // Selectors as a command line gives them.
    assert_eq!(
        Pods::new("ns").selector("app=db,example.com/tier=edge").unwrap(),
        Pods::new("ns")
            .label("app", "db")
            .label("example.com/tier", "edge")
    );
    for bad in ["", "app", "app=db,", "app in (db)", "=db", "app=d b"] {
        let err = Pods::new("ns").selector(bad).unwrap_err();
        assert!(
            matches!(&err, ExportError::Invalid { field, .. } if field == "selector"),
            "{bad:?}: {err}"
        );
    }
    // No port: HTTP faults are listed, not emitted.
    let portless = ChaosMeshOptions::new("ns").all(ChaosMeshTarget::new(Pods::new("ns")));
    let export = to_chaos_mesh(&s3, &portless).unwrap();
    assert!(
        export.unexpressed.iter().all(|u| u.gap == Gap::Dropped),
        "{:?}",
        export.unexpressed
    );
    assert!(export.unexpressed[0].reason.contains("ChaosMeshTarget::port"));
}

#[test]
fn the_outage_file_lists_every_trigger_an_engine_lacks() {
    use Gap::{Approximated, Dropped};
    let scenario = Scenario::from_file("tests/scenarios/outage.toml").unwrap();
    // Each fault of the file, with its gap in Chaos Mesh and in toxiproxy.
    let faults = [
        ("dns-outage", "down", Approximated, Approximated),
        ("brownout", "slow", Dropped, Approximated),
        ("brownout", "request[0] (error)", Dropped, Dropped),
        ("brownout", "request[1] (hang)", Dropped, Dropped),
        ("edge-flapping", "down", Approximated, Approximated),
        (
            "edge-flapping",
            "flap.while_good.request[0] (error)",
            Dropped,
            Dropped,
        ),
        ("edge-overload", "request[0] (error)", Dropped, Dropped),
        (
            "edge-overload",
            "request[1] (latency)",
            Approximated,
            Approximated,
        ),
        ("edge-overload", "request[2] (lost_reply)", Dropped, Dropped),
    ];
    let export = to_chaos_mesh(&scenario, &cluster()).unwrap();
    valid_workflow(&export.yaml);
    assert_eq!(
        gaps(&export.unexpressed),
        faults.map(|(p, f, mesh, _)| (p, f, mesh))
    );
    let reasons: Vec<&str> = export.unexpressed.iter().map(|u| u.reason.as_str()).collect();
    assert!(reasons[1].ends_with(": ramp 0.6 → 0"), "{}", reasons[1]);
    assert!(
        reasons[3].ends_with("it has no every 50, budget 10, max_active 2"),
        "{}",
        reasons[3]
    );
    assert!(
        reasons[6].ends_with("it has no overload 100 per 1s"),
        "{}",
        reasons[6]
    );
    assert_eq!(
        reasons[7],
        "HTTPChaos delays by a fixed duration: 30ms for a uniform latency (10ms..50ms)"
    );

    let proxies = ToxiproxyOptions::new()
        .proxy("dynamodb", "127.0.0.1:18000", "dynamodb.internal:443")
        .proxy("edge", "127.0.0.1:18001", "edge.internal:443");
    let export = to_toxiproxy(&scenario, &proxies).unwrap();
    valid_toxiproxy(&export.populate, &export.timeline);
    // `slow` is approximated three ways: per chunk, its distribution, its ramp.
    let mut listed = gaps(&export.unexpressed);
    assert_eq!(listed.iter().filter(|g| g.1 == "slow").count(), 3);
    listed.dedup();
    assert_eq!(listed, faults.map(|(p, f, _, toxiproxy)| (p, f, toxiproxy)));
    assert_eq!(
        export.unexpressed[2].reason,
        "toxiproxy takes a fixed delay and a uniform jitter: it keeps the median, without spread, of a \
         log-normal latency (median 120ms, sigma 0.6) clamped to 10ms..3s; the clamp is dropped"
    );
    // The edge flaps: down for 5 min every 10 min over 2 h, 12 times.
    let edge: Vec<f64> = calls(&export.timeline)
        .into_iter()
        .filter(|c| c.2 == "/proxies/edge")
        .map(|c| c.0)
        .collect();
    assert_eq!(edge.len(), 24);
    assert_eq!((edge[0], edge[1], edge[23]), (3600.0, 3900.0, 10_500.0));
}

#[test]
fn a_proxy_stays_disabled_while_any_phase_wants_it_down() {
    let s = Duration::from_secs;
    let scenario = Scenario::parse(
        r#"
name = "downs"
duration = "200s"
[[phases]]
name = "first"
target = "db"
at = "10s"
for = "20s"
down = true
[[phases]]
name = "second"
target = "db"
at = "20s"
for = "20s"
down = true
[[phases]]
name = "refused"
target = "db"
at = "40s"
for = "10s"
connect = ["refuse"]
[[phases]]
name = "later"
target = "db"
at = "100s"
for = "10s"
down = true
"#,
        tower_chaos::scenario::Format::Toml,
    )
    .unwrap();
    assert_eq!(scenario.duration(), s(200));
    let proxies = ToxiproxyOptions::new().proxy("db", "127.0.0.1:15432", "db:5432");
    let export = to_toxiproxy(&scenario, &proxies).unwrap();
    valid_toxiproxy(&export.populate, &export.timeline);
    let timeline: Value = serde_json::from_str(&export.timeline).unwrap();
    let switches: Vec<(f64, bool)> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["at"].as_f64().unwrap(), c["body"]["enabled"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        switches,
        [(10.0, false), (50.0, true), (100.0, false), (110.0, true)]
    );
}

/// Neither engine terminates TLS: a certificate fault is listed as
/// dropped by both, with the reason, and exports nothing.
#[cfg(feature = "tls")]
#[test]
fn tls_faults_are_listed_as_dropped_by_both_engines() {
    let text = r#"
name = "cert-expiry"
duration = "2m"

[[phases]]
name = "expired"
target = "api"
at = "30s"
for = "1m"

[[phases.connection]]
fault = "tls_expired_certificate"
"#;
    let scenario = Scenario::parse(text, tower_chaos::scenario::Format::Toml).unwrap();
    let mesh = to_chaos_mesh(&scenario, &cluster()).unwrap();
    assert_eq!(
        gaps(&mesh.unexpressed),
        [("expired", "connection[0] (tls_expired_certificate)", Gap::Dropped)]
    );
    assert!(
        mesh.unexpressed[0].reason.contains("no TLS fault"),
        "{}",
        mesh.unexpressed[0]
    );
    assert!(!mesh.yaml.contains("NetworkChaos"), "{}", mesh.yaml);
    let toxi = to_toxiproxy(
        &scenario,
        &ToxiproxyOptions::new().proxy("api", "127.0.0.1:18443", "api:443"),
    )
    .unwrap();
    assert_eq!(
        gaps(&toxi.unexpressed),
        [("expired", "connection[0] (tls_expired_certificate)", Gap::Dropped)]
    );
    assert!(
        toxi.unexpressed[0].reason.contains("never terminates TLS"),
        "{}",
        toxi.unexpressed[0]
    );
    assert_eq!(calls(&toxi.timeline), []);
}

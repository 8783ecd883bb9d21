//! The `tower-chaos` binary: `serve --api --config --seed` as a user runs
//! it, driven over loopback.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::echo;

/// A `tower-chaos serve` process, killed when dropped.
struct Serve {
    child: Child,
    api: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tower-chaos"));
    cmd.args(args).env_remove("TOWER_CHAOS_SEED");
    cmd
}

/// Starts `tower-chaos serve --api 127.0.0.1:0 <args>` and reads the API's
/// address from its log (`api=ADDR`); fails, with what the log said,
/// rather than waiting forever when no such line comes.
fn serve(args: &[&str]) -> Serve {
    let mut cmd = command(&[&["serve", "--api", "127.0.0.1:0"], args].concat());
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("run tower-chaos");
    let stdout = child.stdout.take().expect("stdout");
    // Read on a thread of its own (to the end, so that the process never
    // blocks on a full pipe); the lines come back through a channel.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let api = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("no `api=` line from tower-chaos ({e}); it said: {seen:#?}"));
        if let Some(addr) = line.split_whitespace().find_map(|w| w.strip_prefix("api=")) {
            break addr.parse().expect("an address after api=");
        }
        seen.push(line);
    };
    Serve { child, api }
}

async fn get(api: SocketAddr, path: &str) -> Value {
    let text = reqwest::get(format!("http://{api}{path}"))
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    serde_json::from_str(&text).expect("JSON")
}

/// Files written in a directory of their own, removed when dropped.
struct TempFiles(std::path::PathBuf);

impl TempFiles {
    /// Writes `files` (name, content) into a fresh directory tagged `tag`.
    fn new(tag: &str, files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("tower-chaos-cli-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (name, content) in files {
            std::fs::write(dir.join(name), content).expect("write a temp file");
        }
        Self(dir)
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn serve_loads_the_config_file_with_the_seed() {
    let up = echo().await;
    let config = format!(
        r#"[{{"name": "redis", "listen": "127.0.0.1:0", "upstream": "{up}"}}, {{"name": "pg", "upstream": "{up}", "enabled": false}}]"#
    );
    let files = TempFiles::new("config", &[("toxiproxy.json", &config)]);
    let config = files.path("toxiproxy.json");
    let server = serve(&["--config", config.to_str().expect("utf-8 path"), "--seed", "42"]);
    let proxies = get(server.api, "/proxies").await;
    assert_eq!(proxies["redis"]["enabled"], true);
    assert_eq!(proxies["pg"]["enabled"], false);
    assert_eq!(get(server.api, "/proxies/redis/report").await["seed"], 42);
}

#[test]
fn a_bad_config_file_stops_the_server_naming_it() {
    let out = command(&[
        "serve",
        "--api",
        "127.0.0.1:0",
        "--config",
        "/nonexistent/toxiproxy.json",
    ])
    .output()
    .expect("run tower-chaos");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--config /nonexistent/toxiproxy.json"),
        "{stderr}"
    );

    let out = command(&["serve", "--api", "not-an-address"])
        .output()
        .expect("run tower-chaos");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_plays_a_scenario_then_stops_with_its_report() {
    let up = echo().await;
    let config = format!(r#"[{{"name": "db", "listen": "127.0.0.1:0", "upstream": "{up}"}}]"#);
    let scenario = "name = \"refusals\"\nduration = \"40s\"\n[[phases]]\nname = \"outage\"\ntarget = \"db\"\nfor = \"30s\"\nconnect = [\"refuse\"]\n";
    let files = TempFiles::new(
        "scenario",
        &[("proxies.json", &config), ("refusals.toml", scenario)],
    );
    let (config, scenario) = (files.path("proxies.json"), files.path("refusals.toml"));
    let mut cmd = command(&["serve", "--api", "127.0.0.1:0", "--seed", "9", "--speed", "20"]);
    cmd.arg("--config").arg(&config).arg("--scenario").arg(&scenario);
    // 40 s of timeline at speed 20: about 2 s, then the server stops.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // (The live lines are checked on the paused clock in `scenario.rs`: on
    // a loaded machine the real one may give this 2 s run none.)
    assert!(
        stdout.contains("rehearsal `refusals`: 40.0s of timeline at speed 20"),
        "{stdout}"
    );
    assert!(stdout.contains("target `db` (seed 9)"), "{stdout}");

    let out = command(&["serve", "--speed", "2"])
        .output()
        .expect("run tower-chaos");
    assert!(!out.status.success(), "--speed without --scenario");
}

/// The repository's connection-fault scenario file.
const CONNECTION_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/scenarios/connection.toml");

/// Runs `tower-chaos export <args>`: (success, stdout, stderr).
fn export(args: &[&str]) -> (bool, String, String) {
    let out = command(&[&["export"], args].concat())
        .output()
        .expect("run tower-chaos export");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8");
    (out.status.success(), text(out.stdout), text(out.stderr))
}

/// The `not expressed` lines of stderr, without their prefix.
fn not_expressed(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("tower-chaos: not expressed: "))
        .collect()
}

#[test]
fn export_to_chaos_mesh_writes_the_workflow_and_lists_what_it_cannot_express() {
    let (ok, stdout, stderr) = export(&[
        "--to",
        "chaos-mesh",
        CONNECTION_FILE,
        "--namespace",
        "shop",
        "--pods",
        "app=db",
        "--clients",
        "app=web",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("apiVersion: chaos-mesh.org/v1alpha1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kind: Workflow") && stdout.contains("templateType: NetworkChaos"),
        "{stdout}"
    );
    // The same list, line for line, as the library gives.
    let scenario = tower_chaos::scenario::Scenario::from_file(CONNECTION_FILE).unwrap();
    let placement = tower_chaos_cli::ChaosMeshPlacement {
        namespace: "shop".into(),
        pods: Some("app=db".into()),
        clients: Some("app=web".into()),
        ..Default::default()
    };
    let (yaml, unexpressed) = tower_chaos_cli::export_chaos_mesh(&scenario, &placement).unwrap();
    assert_eq!(stdout.trim_end(), yaml.trim_end());
    let expected: Vec<String> = unexpressed.iter().map(ToString::to_string).collect();
    assert!(!expected.is_empty());
    assert_eq!(not_expressed(&stderr), expected);
}

#[test]
fn export_to_toxiproxy_writes_populate_and_timeline() {
    let (ok, stdout, stderr) = export(&[
        "--to",
        "toxiproxy",
        CONNECTION_FILE,
        "--proxy",
        "db,127.0.0.1:15432,db:5432",
    ]);
    assert!(ok, "{stderr}");
    let value: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(value["populate"][0]["name"], "db");
    assert_eq!(value["populate"][0]["listen"], "127.0.0.1:15432");
    assert_eq!(value["populate"][0]["upstream"], "db:5432");
    let timeline = value["timeline"].as_array().expect("a list of calls");
    assert!(
        timeline.iter().any(|c| c["body"]["type"] == "latency"),
        "{stdout}"
    );
    assert!(!not_expressed(&stderr).is_empty(), "{stderr}");
}

#[test]
fn export_refuses_what_does_not_fit_naming_it() {
    // No proxy for the scenario's target `db`.
    let (ok, stdout, stderr) = export(&["--to", "toxiproxy", CONNECTION_FILE]);
    assert!(!ok && stdout.is_empty());
    assert!(stderr.contains("target `db`"), "{stderr}");
    // A proxy spec that is not NAME,LISTEN,UPSTREAM: clap refuses it.
    let (ok, _, stderr) = export(&["--to", "toxiproxy", CONNECTION_FILE, "--proxy", "db"]);
    assert!(
        !ok && stderr.contains("expected NAME,LISTEN,UPSTREAM"),
        "{stderr}"
    );
    // A missing file names it.
    let (ok, _, stderr) = export(&["--to", "chaos-mesh", "no-such-file.toml", "--pods", "app=x"]);
    assert!(!ok && stderr.contains("no-such-file.toml"), "{stderr}");
}

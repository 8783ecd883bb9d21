//! The `tower-chaos` command. `tower-chaos serve` runs a toxiproxy-compatible
//! server; see the `tower_chaos_cli` library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tower_chaos::scenario::Scenario;
use tower_chaos_cli::{Registry, play, serve};

/// Chaos engineering for tests: tower-chaos's faults behind a
/// toxiproxy-compatible API.
#[derive(Debug, Parser)]
#[command(name = "tower-chaos", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve toxiproxy's HTTP API: proxies and toxics on tower-chaos's engine.
    Serve {
        /// Address of the HTTP API (toxiproxy's `-host`/`-port`).
        #[arg(long, default_value = "127.0.0.1:8474")]
        api: SocketAddr,
        /// A JSON array of proxies to create at start (toxiproxy's `-config`);
        /// an unreadable or refused file stops the server.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed of every proxy's faults (toxicity draws, jitter); default:
        /// `TOWER_CHAOS_SEED` or a random seed, logged.
        #[arg(long)]
        seed: Option<u64>,
        /// A scenario file (TOML, YAML, JSON) to play on the proxies in real
        /// time, its targets named after proxies; prints a live line each
        /// second and the report, then stops the server.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Compresses the scenario's timeline (60: a minute per second).
        #[arg(long, default_value_t = 1.0, requires = "scenario")]
        speed: f64,
    },
}

fn fail(message: &str) -> ExitCode {
    eprintln!("tower-chaos: {message}");
    ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    let Command::Serve {
        api,
        config,
        seed,
        scenario,
        speed,
    } = Cli::parse().command;
    let scenario = match scenario.map(|path| Scenario::from_file(&path)).transpose() {
        Ok(s) => s,
        Err(e) => return fail(&format!("--scenario: {e}")),
    };
    let registry = Registry::new(seed);
    if let Some(path) = config {
        let loaded = match std::fs::read(&path) {
            Ok(json) => registry.populate(&json).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match loaded {
            Ok(n) => {
                tracing::info!(target: "tower_chaos", proxies = n, config = %path.display(), "populated proxies from the config file")
            }
            Err(e) => return fail(&format!("--config {}: {e}", path.display())),
        }
    }
    let listener = match tokio::net::TcpListener::bind(api).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on --api {api}: {e}")),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stopped => {}
        }
    };
    let server = tokio::spawn(serve(listener, registry.clone(), shutdown));
    let mut code = ExitCode::SUCCESS;
    if let Some(scenario) = scenario {
        match play(&registry, &scenario, speed, |line| println!("{line}")).await {
            Ok(report) => println!("\n{report}"),
            Err(e) => code = fail(&format!("--scenario: {e}")),
        }
        let _ = stop.send(());
    }
    match server.await {
        Ok(Ok(())) => code,
        Ok(Err(e)) => fail(&e.to_string()),
        Err(e) => fail(&format!("the API task failed: {e}")),
    }
}

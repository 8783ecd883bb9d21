//! The `tower-chaos` command. `tower-chaos serve` runs a toxiproxy-compatible
//! server; see the `tower_chaos_cli` library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tower_chaos_cli::{Registry, serve};

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
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    let Command::Serve { api, config, seed } = Cli::parse().command;
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
            Err(e) => {
                eprintln!("tower-chaos: --config {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let listener = match tokio::net::TcpListener::bind(api).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tower-chaos: cannot listen on --api {api}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match serve(listener, registry, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tower-chaos: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The `tower-chaos` command. `tower-chaos serve` runs a toxiproxy-compatible
//! server, `tower-chaos export` writes a scenario file for Chaos Mesh or
//! toxiproxy; see the `tower_chaos_cli` library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tower_chaos::scenario::Scenario;
use tower_chaos_cli::{ChaosMeshPlacement, Registry, export_chaos_mesh, export_toxiproxy, play, serve};

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
    /// Write a scenario file (TOML, YAML, JSON) for an engine teams run in
    /// staging: a Chaos Mesh `Workflow` (YAML) or toxiproxy's populate list
    /// and timeline of API calls (JSON), on stdout. What the engine cannot
    /// express is listed on stderr, one line each, never dropped silently.
    Export {
        /// The engine.
        #[arg(long = "to", value_enum)]
        engine: Engine,
        /// The scenario file.
        file: PathBuf,
        /// Where the targets' pods are (Chaos Mesh).
        #[command(flatten)]
        placement: ChaosMeshPlacement,
        /// toxiproxy: one proxy per target, `NAME,LISTEN,UPSTREAM`
        /// (`db,127.0.0.1:15432,db:5432`); repeatable.
        #[arg(long = "proxy", value_parser = split_proxy)]
        proxies: Vec<(String, String, String)>,
    },
}

/// The engines `export` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Engine {
    /// A Chaos Mesh `Workflow` (`chaos-mesh.org/v1alpha1`).
    ChaosMesh,
    /// toxiproxy's populate list and a timeline of its API calls.
    Toxiproxy,
}

fn split_proxy(text: &str) -> Result<(String, String, String), String> {
    match text.split(',').collect::<Vec<_>>()[..] {
        [name, listen, upstream] if !name.is_empty() => {
            Ok((name.to_owned(), listen.to_owned(), upstream.to_owned()))
        }
        _ => Err(format!(
            "`{text}`: expected NAME,LISTEN,UPSTREAM, e.g. db,127.0.0.1:15432,db:5432"
        )),
    }
}

/// Runs `export`: the text on stdout, each unexpressed fault on stderr.
fn export(
    engine: Engine,
    file: &std::path::Path,
    placement: &ChaosMeshPlacement,
    proxies: &[(String, String, String)],
) -> ExitCode {
    let scenario = match Scenario::from_file(file) {
        Ok(s) => s,
        Err(e) => return fail(&format!("{}: {e}", file.display())),
    };
    let exported = match engine {
        Engine::ChaosMesh => export_chaos_mesh(&scenario, placement),
        Engine::Toxiproxy => export_toxiproxy(&scenario, proxies),
    };
    match exported {
        Ok((text, unexpressed)) => {
            println!("{}", text.trim_end());
            for u in &unexpressed {
                eprintln!("tower-chaos: not expressed: {u}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("tower-chaos: {message}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve {
            api,
            config,
            seed,
            scenario,
            speed,
        } => {
            // Colours only on a terminal: scripts and tests read `api=ADDR`.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            tracing_subscriber::fmt()
                .with_target(false)
                .with_ansi(ansi)
                .init();
            match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime.block_on(run_serve(api, config, seed, scenario, speed)),
                Err(e) => fail(&format!("cannot start the runtime: {e}")),
            }
        }
        Command::Export {
            engine,
            file,
            placement,
            proxies,
        } => export(engine, &file, &placement, &proxies),
    }
}

/// Runs `serve` until the scenario ends or the process is interrupted.
async fn run_serve(
    api: SocketAddr,
    config: Option<PathBuf>,
    seed: Option<u64>,
    scenario: Option<PathBuf>,
    speed: f64,
) -> ExitCode {
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

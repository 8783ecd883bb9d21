//! Rehearse a provider outage end to end: a loopback provider with two
//! regions, a client application with timeouts, retries with backoff and
//! jitter, a circuit breaker and failover, and the AWS us-east-1 2025-10
//! DynamoDB DNS outage replayed in about 20 seconds.
//!
//! ```text
//! cargo run --example outage_rehearsal --features full
//! cargo run --example outage_rehearsal --features full -- --preset aws-s3-2017 --seed 7 --speed 2000
//! cargo run --example outage_rehearsal --features full -- --file tests/scenarios/outage.toml
//! cargo run --example outage_rehearsal --features full -- --naive   # the verdict fails, exit 1
//! ```
//!
//! Region 1 is the scenario's first target: an `HttpChaosLayer` in front of
//! its server takes the HTTP faults (503s, throttling, per-operation
//! failures), and a `ConnectFaultsLayer` on the application's connector to
//! it takes the connection faults (the preset's DNS failure). The
//! application keeps no idle connections to region 1, so every call
//! resolves, as calls from a fleet of short-lived clients or over
//! connections the provider recycles would; a pooled client rides out a
//! DNS outage on the connections it holds (`tests/scenario/scenario_dns.rs`).
//! Region 2 is healthy. Four workers call in a loop: three read (GET), one
//! writes (PUT). The verdict: while region 1 is down, the users of the
//! application (after retries and failover) see under 5 % errors, and the
//! application recovers within a minute of scenario time of the provider.
//! Exits 0 when the verdict passes.
//!
//! The report counts what region 1's layers saw in two columns: requests
//! (the server's HTTP layer) and connections (the client's connector), so
//! a healthy call through the unpooled client is one of each, and a call
//! that fails to resolve a connection only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, sleep, timeout};
use tower_chaos::Target;
use tower_chaos::http::HttpChaosLayer;
use tower_chaos::io::ConnectFaultsLayer;
use tower_chaos::scenario::{Probe, Rehearsal, RehearsalReport, Scenario, presets};

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    /// A preset name (`presets::NAMES`).
    pub preset: String,
    /// A scenario file instead of a preset.
    pub file: Option<String>,
    /// The seed of the provider's faults and the client's jitter.
    pub seed: u64,
    /// The speed factor; by default the scenario lasts about 20 s.
    pub speed: Option<f64>,
    /// Print the live per-second line.
    pub live: bool,
    /// A naive client instead (`--naive`): region 1 only, no breaker,
    /// retries without backoff. Its verdict fails on outage presets.
    pub naive: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            preset: "aws-dynamodb-dns-2025".into(),
            file: None,
            seed: 42,
            speed: None,
            live: true,
            naive: false,
        }
    }
}

/// Parses `--preset NAME`, `--file PATH`, `--seed N`, `--speed F`, `--naive`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--preset" => o.preset = value()?,
            "--file" => o.file = Some(value()?),
            "--seed" => o.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--speed" => {
                let s: f64 = value()?.parse().map_err(|e| format!("--speed: {e}"))?;
                o.speed = Some(s);
            }
            "--naive" => o.naive = true,
            "-h" | "--help" => {
                return Err(format!(
                    "usage: outage_rehearsal [--preset NAME] [--file PATH] [--seed N] [--speed F] [--naive]\npresets: {}",
                    presets::NAMES.join(", ")
                ));
            }
            other => return Err(format!("unknown option `{other}` (try --help)")),
        }
    }
    Ok(o)
}

/// What a rehearsal gave.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario's report.
    pub report: RehearsalReport,
    /// The verdict: `Ok` when the application held.
    pub verdict: Result<(), String>,
}

async fn serve(name: &'static str, chaos: Option<HttpChaosLayer>) -> SocketAddr {
    use axum::Router;
    let handler = move || async move { Ok::<_, Infallible>(format!("{{\"region\":\"{name}\"}}")) };
    let router = match chaos {
        Some(layer) => Router::new().fallback(handler).layer(layer),
        None => Router::new().fallback(handler),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    addr
}

/// A tiny xorshift for the jitter (seeded, reproducible).
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A consecutive-failures circuit breaker: opens after 5 failures, lets a
/// probe through after 1 s.
#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    fn allows(&self) -> bool {
        self.open_until.is_none_or(|t| Instant::now() >= t)
    }

    fn record(&mut self, ok: bool) {
        if ok {
            self.failures = 0;
            self.open_until = None;
        } else {
            self.failures += 1;
            if self.failures >= 5 {
                self.open_until = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    ok: AtomicU64,
    failed: AtomicU64,
    /// Successes served by region 2 (failover).
    failed_over: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
}

/// The application: per call, region 1 unless its breaker is open, up to
/// 3 attempts with exponential backoff and full jitter, then region 2.
struct App {
    /// One client per region: region 1's resolves through the target's
    /// connect faults.
    http: [reqwest::Client; 2],
    regions: [String; 2],
    /// GET for reads, PUT for writes (per-operation presets such as S3's).
    method: reqwest::Method,
    breakers: [Breaker; 2],
    jitter: Jitter,
    naive: bool,
}

impl App {
    async fn attempt(&self, region: usize) -> bool {
        let call = self.http[region]
            .request(self.method.clone(), &self.regions[region])
            .send();
        matches!(timeout(Duration::from_millis(250), call).await, Ok(Ok(r)) if r.status().is_success())
    }

    /// The region that served the call, or `None` if it failed.
    async fn call(&mut self) -> Option<usize> {
        if self.naive {
            for _ in 0..3 {
                if self.attempt(0).await {
                    return Some(0);
                }
            }
            return None;
        }
        for region in 0..2 {
            for attempt in 0..3u32 {
                if !self.breakers[region].allows() {
                    break;
                }
                let ok = self.attempt(region).await;
                self.breakers[region].record(ok);
                if ok {
                    return Some(region);
                }
                let cap = Duration::from_millis(20 * (1 << attempt)).min(Duration::from_millis(200));
                sleep(cap.mul_f64(self.jitter.next())).await;
            }
        }
        None
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Runs the rehearsal: provider, application, live line, report, verdict.
pub async fn rehearse(o: &Options) -> Result<Outcome, Box<dyn std::error::Error>> {
    let scenario: Scenario = match &o.file {
        Some(path) => Scenario::from_file(path)?,
        None => presets::by_name(&o.preset)?,
    };
    let speed = o.speed.unwrap_or(scenario.duration().as_secs_f64() / 20.0);
    let names: Vec<String> = scenario.targets().iter().map(|s| (*s).to_owned()).collect();
    let targets: Vec<Target> = names
        .iter()
        .map(|n| Target::builder(n.clone()).seed(o.seed).build())
        .collect::<Result<_, _>>()?;
    let primary = targets[0].clone();
    let mut rehearsal = Rehearsal::new(&scenario).speed(speed);
    for t in &targets {
        rehearsal = rehearsal.bind_http(t);
    }
    rehearsal.check()?;
    let probe: Probe = rehearsal.probe(primary.name())?;
    let mut status = rehearsal.status();

    let region1 = serve("region-1", Some(HttpChaosLayer::for_target(&primary))).await;
    let region2 = serve("region-2", None).await;
    println!(
        "rehearsing `{}` ({} of scenario time at speed {speed:.0}) against region 1 ({}: {region1}) and region 2 ({region2})",
        scenario.name(),
        tower_chaos::scenario::format_duration(scenario.duration()),
        primary.name(),
    );
    let run = tokio::spawn(rehearsal.run());

    let stats = Arc::new(Stats::default());
    // Region 1: the target's connect faults on the connector, and no idle
    // connections, so that every call resolves (see the module docs).
    let region1_client = reqwest::Client::builder()
        .no_proxy()
        .connector_layer(ConnectFaultsLayer::for_target(&primary))
        .pool_max_idle_per_host(0)
        .build()?;
    let region2_client = reqwest::Client::builder().no_proxy().build()?;
    let mut workers = Vec::new();
    for w in 0..4u64 {
        let mut app = App {
            http: [region1_client.clone(), region2_client.clone()],
            regions: [format!("http://{region1}/item"), format!("http://{region2}/item")],
            method: if w == 3 {
                reqwest::Method::PUT
            } else {
                reqwest::Method::GET
            },
            breakers: Default::default(),
            jitter: Jitter(o.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (w + 1)),
            naive: o.naive,
        };
        let (stats, probe) = (Arc::clone(&stats), probe.clone());
        let mut done = status.clone();
        workers.push(tokio::spawn(async move {
            while !done.borrow_and_update().finished {
                let started = Instant::now();
                let served = app.call().await;
                let ok = served.is_some();
                if served == Some(1) {
                    stats.failed_over.fetch_add(1, Ordering::Relaxed);
                }
                probe.record(
                    started,
                    if ok {
                        Ok(())
                    } else {
                        Err("failed after retries and failover")
                    },
                );
                let c = if ok { &stats.ok } else { &stats.failed };
                c.fetch_add(1, Ordering::Relaxed);
                stats.latencies.lock().expect("stats").push(started.elapsed());
                sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    let mut second = 0;
    let began = Instant::now();
    // One tick a second, however often the status changes in between.
    let mut tick = tokio::time::interval_at(began + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = status.changed() => { if r.is_err() || status.borrow().finished { break; } continue; }
        }
        second += 1;
        let ok = stats.ok.swap(0, Ordering::Relaxed);
        let failed = stats.failed.swap(0, Ordering::Relaxed);
        let failed_over = stats.failed_over.swap(0, Ordering::Relaxed);
        let mut lat = std::mem::take(&mut *stats.latencies.lock().expect("stats"));
        lat.sort();
        let s = status.borrow().clone();
        let active: Vec<&str> = s.active.iter().map(|a| a.name.as_str()).collect();
        if o.live {
            println!(
                "{second:>3}s  t={:>8}  success {:>5.1}% of {:>4} ({:>3.0}% via region 2)  p50 {:>6.1?}  p99 {:>6.1?}  phase: {}",
                tower_chaos::scenario::format_duration(Duration::from_secs(
                    began.elapsed().mul_f64(speed).as_secs() / 60 * 60
                )),
                100.0 * ok as f64 / (ok + failed).max(1) as f64,
                ok + failed,
                100.0 * failed_over as f64 / ok.max(1) as f64,
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                if active.is_empty() {
                    "healthy".to_owned()
                } else {
                    active.join(", ")
                },
            );
        }
    }
    let report = run.await??;
    for w in workers {
        w.await?;
    }

    let mut verdict = Ok(());
    for p in scenario
        .phases()
        .iter()
        .filter(|p| p.target() == primary.name() && p.is_down())
    {
        if let Err(e) = report.assert_error_rate_below(p.name(), 0.05) {
            verdict = Err(e.to_string());
            break;
        }
    }
    if verdict.is_ok() {
        verdict = report
            .assert_recovered_within(primary.name(), Duration::from_secs(60))
            .map_err(|e| e.to_string());
    }
    Ok(Outcome { report, verdict })
}

#[allow(dead_code)]
#[tokio::main]
async fn main() {
    let options = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let wall = std::time::Instant::now();
    match rehearse(&options).await {
        Ok(outcome) => {
            println!("\n{}", outcome.report);
            match outcome.verdict {
                Ok(()) => println!(
                    "verdict: PASS (the application held; {:.1?} of wall time)",
                    wall.elapsed()
                ),
                Err(e) => {
                    println!("verdict: FAIL: {e}");
                    std::process::exit(1);
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

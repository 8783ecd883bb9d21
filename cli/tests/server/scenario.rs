//! `--scenario`: a scenario file's timeline played on the proxies, on
//! tokio's paused clock (proxies, echo upstream and clients in one
//! runtime).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tower_chaos::scenario::{Format, Scenario};
use tower_chaos_cli::{PlayError, Registry, play};

use crate::support::echo;

const SCENARIO: &str = r#"
name = "refusals"
duration = "20s"

[[phases]]
name = "outage"
target = "db"
at = "5s"
for = "10s"
connect = ["refuse"]
"#;

async fn registry_with_db() -> (Registry, std::net::SocketAddr) {
    let up = echo().await;
    let registry = Registry::new(Some(3));
    let config = format!(r#"[{{"name": "db", "listen": "127.0.0.1:0", "upstream": "{up}"}}]"#);
    registry.populate(config.as_bytes()).await.expect("populate");
    let listen = registry.listen("db").await.expect("db listens");
    (registry, listen)
}

/// One echo through the proxy: `Ok(reply)`, or the error a refused
/// connection gives.
async fn echo_once(addr: std::net::SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(b"hi").await?;
    let mut got = [0; 2];
    s.read_exact(&mut got).await?;
    Ok(got.to_vec())
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_scenario_refuses_connections_during_its_phase_only() {
    let (registry, listen) = registry_with_db().await;
    let scenario = Scenario::parse(SCENARIO, Format::Toml).expect("scenario");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let run = tokio::spawn({
        let (registry, lines) = (registry.clone(), Arc::clone(&lines));
        async move { play(&registry, &scenario, 1.0, move |l| lines.lock().unwrap().push(l)).await }
    });

    sleep_until(started + Duration::from_secs(2)).await;
    assert_eq!(echo_once(listen).await.expect("before the outage"), b"hi");
    sleep_until(started + Duration::from_secs(9)).await;
    let err = echo_once(listen).await.expect_err("refused during the outage");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    sleep_until(started + Duration::from_secs(17)).await;
    assert_eq!(echo_once(listen).await.expect("after the outage"), b"hi");

    let report = run.await.expect("play task").expect("played");
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    assert_eq!(report.phases[0].name, "outage");
    let text = report.to_string();
    assert!(
        text.starts_with("rehearsal `refusals`: 20.0s of timeline"),
        "{text}"
    );
    let lines = lines.lock().unwrap();
    assert!(lines.len() >= 18, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("phase: outage") && l.contains("db ")),
        "{lines:?}"
    );
    assert!(lines[0].contains("phase: none"), "{lines:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_scenario_needs_a_proxy_per_target_and_connection_faults_only() {
    let (registry, _) = registry_with_db().await;
    let other = Scenario::parse(&SCENARIO.replace("\"db\"", "\"cache\""), Format::Toml).expect("scenario");
    let err = play(&registry, &other, 1.0, |_| {}).await.unwrap_err();
    assert!(matches!(err, PlayError::NoProxy(ref t) if t == "cache"), "{err}");
    let down = Scenario::parse(
        &SCENARIO.replace("connect = [\"refuse\"]", "down = true"),
        Format::Toml,
    )
    .expect("scenario");
    let err = play(&registry, &down, 1.0, |_| {}).await.unwrap_err();
    assert!(matches!(err, PlayError::Scenario(_)), "{err}");
}

/// `POST path` with a JSON body over a fresh HTTP/1.1 connection; the
/// status line.
async fn post(api: std::net::SocketAddr, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(api).await.expect("connect api");
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.expect("answer");
    answer.lines().next().unwrap_or_default().to_owned()
}

/// What the proxy gives back for "hi", up to EOF.
async fn reply(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"hi").await.expect("write");
    // Half-closed, so that the echo ends the connection when no toxic does.
    s.shutdown().await.expect("shutdown");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got).await;
    got
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_proxies_toxics_come_back_when_the_scenario_ends() {
    let (registry, listen) = registry_with_db().await;
    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind api");
    let api_addr = api.local_addr().expect("api address");
    tokio::spawn(tower_chaos_cli::serve(
        api,
        registry.clone(),
        std::future::pending(),
    ));
    let toxic = r#"{"type": "limit_data", "attributes": {"bytes": 1}}"#;
    assert_eq!(
        post(api_addr, "/proxies/db/toxics", toxic).await,
        "HTTP/1.1 200 OK"
    );
    assert_eq!(reply(listen).await, b"h");
    let scenario =
        Scenario::parse(&SCENARIO.replace("at = \"5s\"", "at = \"0s\""), Format::Toml).expect("scenario");
    play(&registry, &scenario, 10.0, |_| {}).await.expect("played");
    assert_eq!(
        reply(listen).await,
        b"h",
        "the limit_data toxic is installed again"
    );
}

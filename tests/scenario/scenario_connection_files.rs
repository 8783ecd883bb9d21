//! The `connection` tables of scenario files: the same scenario in TOML,
//! YAML and JSON, rehearsed under paused time through a loopback `Proxy`
//! in front of an echo server (resets, stalls, latency, bandwidth,
//! truncation, refused connects), and bad tables naming line, column and
//! field.
#![cfg(all(feature = "serde", feature = "io"))]

use crate::support::io as io_support;
use crate::support::scenario as scenario_support;

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout};
use tower_chaos::io::Proxy;
use tower_chaos::scenario::Rehearsal;
use tower_chaos::{FaultKind, Target};

use io_support::{connect, echo_server};
use scenario_support::{BadValue, assert_bad_table, assert_bad_value, load, load_in_three_formats};

const MIN: Duration = Duration::from_secs(60);

#[test]
fn the_same_connection_scenario_in_three_formats() {
    let toml = load_in_three_formats("connection");
    assert_eq!(toml.phases().len(), 6);
    // Stream faults let bytes through, and `every = 2` spares half: none
    // of these phases has the target down.
    assert!(toml.phases().iter().all(|p| !p.is_down()));
}

/// `exchange_on` a new connection to `addr`, closed after it (a live one
/// would be re-decided, and faulted, at every switch of the timeline).
async fn exchange(
    addr: SocketAddr,
    msg: &[u8],
    want: usize,
    within: Duration,
) -> io::Result<(Vec<u8>, Option<io::Result<()>>)> {
    Ok(exchange_on(&mut connect(addr).await?, msg, want, within).await)
}

/// Writes `msg` and reads until `want` bytes came back, EOF, an error, or
/// `within` passed.
async fn exchange_on(
    conn: &mut TcpStream,
    msg: &[u8],
    want: usize,
    within: Duration,
) -> (Vec<u8>, Option<io::Result<()>>) {
    let mut back = Vec::new();
    let run = async {
        conn.write_all(msg).await?;
        let mut buf = [0u8; 256];
        while back.len() < want {
            let n = conn.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            back.extend_from_slice(&buf[..n]);
        }
        Ok(())
    };
    let end = timeout(within, run).await.ok();
    (back, end)
}

#[tokio::test(start_paused = true)]
async fn connection_tables_rehearse_through_a_proxy() -> io::Result<()> {
    let scenario = load("connection.toml");
    let db = Target::builder("db").seed(3).build().unwrap();
    let rehearsal = Rehearsal::new(&scenario).target(&db);
    rehearsal.check().unwrap();
    let proxy = Proxy::spawn(echo_server().await?, &db)?;
    let run = tokio::spawn(rehearsal.run());
    let start = Instant::now();
    let at = |t: Duration| sleep_until(start + t);
    let second = Duration::from_secs(1);

    // Before: an echo.
    let (back, end) = exchange(proxy.local_addr(), b"ping", 4, second).await?;
    assert_eq!(
        (back.as_slice(), end.map(|r| r.is_ok())),
        (&b"ping"[..], Some(true))
    );

    // `resets`: 4 bytes come back, then a real RST.
    at(MIN + MIN / 2).await;
    let (back, end) = exchange(proxy.local_addr(), b"12345678", 8, second).await?;
    assert_eq!(back, b"1234");
    assert_eq!(end.unwrap().unwrap_err().kind(), ErrorKind::ConnectionReset);

    // `some-refused`: every second connection is reset at once (`every = 2`
    // fires on the 2nd, 4th); the `timeout` rule is for port 5432 only.
    at(2 * MIN + MIN / 2).await;
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        let (back, _) = exchange(proxy.local_addr(), b"ping", 4, second).await?;
        outcomes.push(back == b"ping");
    }
    assert_eq!(outcomes, [true, false, true, false]);

    // `slow`: the echo comes 200 ms ± 50 ms late (toxiproxy's latency and
    // jitter: `Latency::jittered`).
    at(3 * MIN + MIN / 2).await;
    let mut c = connect(proxy.local_addr()).await?;
    let t = Instant::now();
    let (back, _) = exchange_on(&mut c, b"ping", 4, 5 * second).await;
    assert_eq!(back, b"ping");
    let took = t.elapsed();
    assert!(
        (Duration::from_millis(150)..=Duration::from_millis(250)).contains(&took),
        "{took:?}"
    );
    drop(c);

    // `thin`: 2000 bytes back at 1000 B/s take about 2 s.
    at(4 * MIN + MIN / 2).await;
    let mut c = connect(proxy.local_addr()).await?;
    let t = Instant::now();
    let (back, _) = exchange_on(&mut c, &[7u8; 2000], 2000, 10 * second).await;
    assert_eq!(back.len(), 2000);
    let took = t.elapsed();
    assert!(
        (Duration::from_millis(1500)..Duration::from_millis(2500)).contains(&took),
        "{took:?}"
    );
    drop(c);

    // `cut`: 3 bytes, then end of stream.
    at(5 * MIN + MIN / 2).await;
    let (back, end) = exchange(proxy.local_addr(), b"ping", 4, second).await?;
    assert_eq!(
        (back.as_slice(), end.map(|r| r.is_ok())),
        (&b"pin"[..], Some(true))
    );

    // `stalls`, last: nothing reaches the server, and the client's own
    // timeout ends the exchange. (A stalled connection lingers: the proxy
    // no longer reads the client's side, so it does not see it close.)
    at(6 * MIN + MIN / 2).await;
    let (back, end) = exchange(proxy.local_addr(), b"ping", 4, 5 * second).await?;
    assert!(back.is_empty() && end.is_none(), "{back:?} {end:?}");

    let report = run.await.unwrap().unwrap();
    for (phase, kind, n) in [
        ("resets", FaultKind::Reset, 1),
        ("stalls", FaultKind::Stall, 1),
        ("slow", FaultKind::StreamLatency, 1),
        ("thin", FaultKind::Bandwidth, 1),
        ("cut", FaultKind::Truncate, 1),
        ("some-refused", FaultKind::Refused, 2),
    ] {
        let injected = &report.phase(phase).unwrap().provider.injected;
        assert_eq!(injected, &[(kind, n)], "{phase}");
    }
    Ok(())
}

fn bad(table: &str) -> (Option<usize>, Option<usize>, Option<String>, String) {
    scenario_support::bad_table("connection", table)
}

#[test]
fn bad_connection_tables_name_line_column_and_field() {
    let at_value: &[BadValue<'_>] = &[
        (
            "fault = \"rst\"",
            6,
            9,
            "fault",
            "unknown variant `rst`, expected one of `dns_failure`",
        ),
        (
            "fault = \"reset\"\ndirection = \"sideways\"",
            7,
            13,
            "direction",
            "unknown variant `sideways`",
        ),
        (
            "fault = \"bandwidth\"\nbytes_per_second = 0",
            7,
            20,
            "bytes_per_second",
            "nonzero",
        ),
        (
            "fault = \"latency\"\nlatency = \"fast\"",
            7,
            11,
            "latency",
            "invalid duration",
        ),
        (
            "fault = \"reset\"\nonset = { bytes = 1, lines = 2 }",
            7,
            22,
            "onset.lines",
            "unknown field `lines`",
        ),
        ("fault = \"refuse\"\nport = 70000", 7, 8, "port", "70000"),
    ];
    for case in at_value {
        assert_bad_value("connection", *case);
    }
    let at_table: &[(&str, &str)] = &[
        (
            "fault = \"refuse\"\ndirection = \"upstream\"",
            "`direction` applies to latency, bandwidth",
        ),
        (
            "fault = \"latency\"",
            "a `latency` fault needs `latency` (e.g. latency = \"50ms\")",
        ),
        ("fault = \"slice\"", "a `slice` fault needs `max_size`"),
        ("fault = \"timeout\"", "a `timeout` fault needs `close_after`"),
        (
            "fault = \"stall\"\nonset = { bytes = 1, time = \"1s\" }",
            "`onset` has one of `bytes`, `time`",
        ),
        (
            "fault = \"truncate\"\nbytes = 1\nonset = { bytes = 1 }",
            "`onset` applies to reset, stall, blackhole, timeout faults, not `truncate`",
        ),
    ];
    for (table, message) in at_table {
        assert_bad_table("connection", table, message);
    }
    // A bad latency is reported at the latency itself (issue 10), a
    // jitter above its base too.
    for (table, message) in [
        (
            "fault = \"slow_connect\"\nlatency = { uniform = { min = \"2s\", max = \"1s\" } }",
            "minimum 2s is greater than maximum 1s",
        ),
        (
            "fault = \"latency\"\nlatency = { jittered = { base = \"10ms\", jitter = \"20ms\" } }",
            "`latency.jittered.jitter` = 20ms: must not exceed the base latency",
        ),
    ] {
        let (l, c, f, msg) = bad(table);
        assert_eq!(
            (l, c, f.as_deref()),
            (Some(7), Some(11), Some("phases[0].connection[0].latency")),
            "{msg}"
        );
        assert!(msg.contains(message), "{msg}");
    }
}

/// The `host` and `port` matchers pick the connections a connector makes:
/// hyper-util's client through `ChaosConnector`, two axum apps on loopback.
#[cfg(feature = "hyper")]
#[tokio::test(start_paused = true)]
async fn host_and_port_matchers_pick_a_connectors_connections() {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use tower_chaos::io::{ChaosConnector, injected_fault};
    use tower_chaos::scenario::{Format, Scenario};

    let (a, b) = (io_support::app().await.unwrap(), io_support::app().await.unwrap());
    let text = format!(
        "name = \"x\"\n[[phases]]\ntarget = \"api\"\nfor = \"1m\"\n\
         [[phases.connection]]\nfault = \"refuse\"\nhost = \"127.0.0.1\"\nport = {}\n\
         [[phases.connection]]\nfault = \"dns_failure\"\nhost = \"db.internal\"\n",
        a.port()
    );
    let scenario = Scenario::parse(&text, Format::Toml).unwrap();
    // A matcher: neither table fails every connection.
    assert!(!scenario.phases()[0].is_down());
    let api = Target::builder("api").seed(1).build().unwrap();
    let run = tokio::spawn(Rehearsal::new(&scenario).target(&api).run());
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(ChaosConnector::new(HttpConnector::new(), &api));
    let get = |addr: std::net::SocketAddr| client.get(format!("http://{addr}/").parse().unwrap());
    let err = get(a).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(injected_fault(&err), Some(FaultKind::Refused), "{err:?}");
    assert_eq!(get(b).await.unwrap().status(), 200);
    let report = run.await.unwrap().unwrap();
    let p = &report.phases[0].provider;
    assert_eq!(
        (p.seen, p.faulted, p.injected.clone()),
        (2, 1, vec![(FaultKind::Refused, 1)])
    );
}

//! toxiproxy's Rust client (`toxiproxy_rust` 0.1.6, written for toxiproxy
//! 2.x) drives our server as it drives toxiproxy. Blocking client, real
//! clock: delays are asserted as "at least", everything else as bytes and
//! socket events.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::{Proxy, ProxyPack};

use crate::support::Background;

/// A generous bound so that a broken server fails the test instead of
/// hanging it; no assertion depends on it.
const STUCK: Duration = Duration::from_secs(20);

fn populate(server: &Background, name: &str) -> (Client, Proxy, SocketAddr) {
    let client = Client::new(server.api);
    let proxies = client
        .populate(vec![ProxyPack::new(
            name.into(),
            "127.0.0.1:0".into(),
            server.echo.to_string(),
        )])
        .expect("populate");
    assert_eq!(proxies.len(), 1);
    let listen: SocketAddr = proxies[0]
        .proxy_pack
        .listen
        .parse()
        .expect("listen is the bound address");
    assert_ne!(listen.port(), 0);
    let proxy = client.find_and_reset_proxy(name).expect("find_and_reset_proxy");
    (client, proxy, listen)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect through the proxy");
    s.set_read_timeout(Some(STUCK)).expect("read timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Writes `msg`, half-closes, and reads until EOF (or an error).
fn exchange(addr: SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = connect(addr);
    s.write_all(msg)?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut got = Vec::new();
    s.read_to_end(&mut got)?;
    Ok(got)
}

#[test]
fn populate_lists_and_proxies_bytes() {
    let server = Background::start();
    let (client, proxy, listen) = populate(&server, "echo");
    assert!(client.is_running());
    let version = client.version().expect("version");
    assert!(version.contains("2.12.0+tower-chaos"), "{version}");
    let all = client.all().expect("all");
    assert_eq!(all.len(), 1);
    assert_eq!(all["echo"].proxy_pack.upstream, server.echo.to_string());
    assert!(all["echo"].proxy_pack.enabled);
    assert!(proxy.toxics().expect("toxics").is_empty());
    assert_eq!(
        exchange(listen, b"hello through").expect("echo"),
        b"hello through"
    );
}

#[test]
fn latency_toxic_delays_replies_and_apply_removes_it() {
    let server = Background::start();
    let (_client, proxy, listen) = populate(&server, "slow");
    proxy
        .with_latency("downstream".into(), 300, 0, 1.0)
        .apply(|| {
            let toxics = proxy.toxics().expect("toxics");
            assert_eq!(toxics.len(), 1);
            assert_eq!(toxics[0].name, "latency_downstream");
            assert_eq!(toxics[0].attributes["latency"], 300);
            let start = Instant::now();
            assert_eq!(exchange(listen, b"ping").expect("echo"), b"ping");
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(300),
                "echo took {took:?}, less than the latency"
            );
        })
        .expect("apply");
    assert!(proxy.toxics().expect("toxics").is_empty());
    assert_eq!(exchange(listen, b"ping").expect("echo"), b"ping");
}

#[test]
fn limit_data_truncates_and_closes() {
    let server = Background::start();
    let (_client, proxy, listen) = populate(&server, "limited");
    proxy.with_limit_data("downstream".into(), 10, 1.0);
    let mut s = connect(listen);
    s.write_all(&[7; 100]).expect("write");
    let mut got = Vec::new();
    // The proxy closes the whole connection after 10 bytes (EOF, or a reset
    // when the client's unread bytes are still in flight).
    match s.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
    assert_eq!(got, [7; 10]);
    proxy.delete_all_toxics().expect("delete");
    assert_eq!(exchange(listen, &[7; 100]).expect("echo"), [7; 100]);
}

#[test]
fn toxicity_zero_never_applies() {
    let server = Background::start();
    let (_client, proxy, listen) = populate(&server, "lucky");
    proxy.with_limit_data("downstream".into(), 1, 0.0);
    assert_eq!(proxy.toxics().expect("toxics")[0].toxicity, 0.0);
    for _ in 0..5 {
        assert_eq!(exchange(listen, b"whole").expect("echo"), b"whole");
    }
}

#[test]
fn with_down_refuses_connections_then_serves_on_the_same_address() {
    let server = Background::start();
    let (client, proxy, listen) = populate(&server, "flaky");
    let mut live = connect(listen);
    proxy
        .with_down(|| {
            let err = TcpStream::connect(listen).expect_err("the proxy is down");
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
            assert!(!client.find_proxy("flaky").expect("find").proxy_pack.enabled);
        })
        .expect("with_down");
    // The live connection was closed by the disable.
    let mut buf = [0; 1];
    assert_eq!(live.read(&mut buf).unwrap_or(0), 0);
    let back = client.find_proxy("flaky").expect("find");
    assert!(back.proxy_pack.enabled);
    assert_eq!(back.proxy_pack.listen, listen.to_string());
    assert_eq!(exchange(listen, b"back").expect("echo"), b"back");
}

#[test]
fn slicer_and_bandwidth_keep_the_bytes_whole() {
    let server = Background::start();
    let (_client, proxy, listen) = populate(&server, "sliced");
    proxy
        .with_slicer("downstream".into(), 16, 4, 10, 1.0)
        .with_bandwidth("upstream".into(), 100, 1.0);
    let toxics = proxy.toxics().expect("toxics");
    // toxiproxy lists upstream toxics first.
    let names: Vec<_> = toxics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["bandwidth_upstream", "slicer_downstream"]);
    let msg: Vec<u8> = (0..=255).collect();
    assert_eq!(exchange(listen, &msg).expect("echo"), msg);
}

#[test]
fn delete_removes_the_proxy() {
    let server = Background::start();
    let (client, proxy, listen) = populate(&server, "gone");
    proxy.delete().expect("delete");
    assert!(client.all().expect("all").is_empty());
    assert!(client.find_proxy("gone").is_err());
    assert_eq!(
        TcpStream::connect(listen).expect_err("deleted").kind(),
        ErrorKind::ConnectionRefused
    );
}

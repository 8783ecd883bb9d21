//! A real Redis behind the chaos proxy, driven by the `redis` crate.
//!
//! Needs `redis-server` on the PATH (`bash scripts/test-all` installs it;
//! Debian: `apt-get install -y redis-server`); the test starts its own
//! server on a free port and fails, with that hint, when the binary is
//! missing. It runs on real time (an
//! external process does not follow tokio's paused clock) with small
//! latencies and bounded waits, and takes well under a second.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use tokio::time::timeout;
use tower_chaos::io::{ConnFault, ConnFaultSet, ConnInfo, Direction, Onset, Proxy};
use tower_chaos::{FaultKind, Latency, Target};

/// Kills the server when the test ends, however it ends.
struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_redis() -> RedisServer {
    let port = {
        let probe = StdListener::bind("127.0.0.1:0").expect("bind a probe port");
        probe.local_addr().expect("probe address").port()
    };
    let child = match Command::new("redis-server")
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot start `redis-server` ({e}): this test needs it on the PATH; \
             run `bash scripts/test-all`, or install it with `apt-get install -y redis-server`"
        ),
    };
    let server = RedisServer {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    // Bounded wait for the server to listen (not a timing assertion).
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(server.addr).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("redis-server did not listen on {} within 2 s", server.addr);
}

const BOUND: Duration = Duration::from_secs(2);

#[tokio::test]
async fn redis_rides_through_latency_fails_on_reset_and_recovers() {
    let redis_server = start_redis().await;
    let target = Target::builder("redis").seed(42).build().expect("target");
    let proxy = Proxy::spawn(redis_server.addr, &target).expect("proxy");
    let client = redis::Client::open(format!("redis://{}/", proxy.local_addr())).expect("client");
    let mut con = timeout(BOUND, client.get_multiplexed_async_connection())
        .await
        .expect("connect in time")
        .expect("connect");

    // Healthy.
    let pong: String = redis::cmd("PING").query_async(&mut con).await.expect("ping");
    assert_eq!(pong, "PONG");
    let () = con.set("chaos:key", "v1").await.expect("set");

    // Latency on replies, switched in on the live connection: every
    // command still works, each one slower.
    let latency = Duration::from_millis(30);
    target
        .set_faults(
            ConnFaultSet::new().with(ConnFault::latency(Direction::Downstream, Latency::fixed(latency))),
        )
        .expect("valid");
    for i in 0..5 {
        let start = Instant::now();
        let () = con
            .set("chaos:key", format!("v{i}"))
            .await
            .expect("set under latency");
        let got: String = con.get("chaos:key").await.expect("get under latency");
        assert_eq!(got, format!("v{i}"));
        assert!(start.elapsed() >= latency * 2, "two round trips, each delayed");
    }
    assert!(proxy.stats().io.fault(FaultKind::StreamLatency) >= 10);

    // Reset: the client fails cleanly (an error, not a hang).
    target
        .set_faults(ConnFaultSet::new().with(ConnFault::reset(Direction::Both, Onset::Immediately)))
        .expect("valid");
    let res: redis::RedisResult<String> = timeout(BOUND, con.get("chaos:key"))
        .await
        .expect("fails in time, does not hang");
    let err = res.expect_err("the reset reaches the client");
    assert!(
        err.is_io_error() || err.is_connection_dropped(),
        "a connection error: {err:?}"
    );
    assert!(proxy.stats().io.fault(FaultKind::Reset) >= 1);

    // Switched off: a new connection works and the data is still there.
    target.clear_faults::<ConnFault, ConnInfo>();
    let mut con = timeout(BOUND, client.get_multiplexed_async_connection())
        .await
        .expect("reconnect in time")
        .expect("reconnect");
    let got: String = timeout(BOUND, con.get("chaos:key"))
        .await
        .expect("in time")
        .expect("get after recovery");
    assert_eq!(got, "v4");
    let stats = proxy.stats();
    assert!(stats.accepted >= 2);
    assert!(stats.bytes_upstream() > 0 && stats.bytes_downstream() > 0);
    let report = target.report();
    assert_eq!(report.injected(FaultKind::StreamLatency), 1, "{report}");
    assert!(report.injected(FaultKind::Reset) >= 1, "{report}");
    assert_eq!(report.bytes_upstream, stats.bytes_upstream());
    proxy.shutdown().await;
}

//! A real PostgreSQL driven by two clients nobody here wrote:
//! `tokio-postgres` over a [`ChaosStream`] (`Config::connect_raw`, no
//! proxy) and `sqlx`'s pool through the chaos [`Proxy`].
//!
//! Needs the server `bash scripts/test-all` starts and exports as
//! `TOWER_CHAOS_POSTGRES`; fails, naming the script, without it. A real
//! server runs on real time (it does not follow tokio's paused clock): the
//! latencies are small, every wait is bounded, and no test sleeps to prove
//! a timeout — each timeout is short and the stall it catches unbounded.
//! Each test works in a table of its own (tests run in parallel against one
//! server) and drops it.
//!
//! Which client-side timeout catches a network stall (PostgreSQL's
//! `statement_timeout` runs on the server and never sees one): neither
//! driver has a per-query timeout, so a `tokio::time::timeout` around the
//! query does (`Elapsed`); sqlx's pool `acquire_timeout` catches a stall
//! met while acquiring a connection, including the ping it sends to test an
//! idle connection or to take one back (`sqlx::Error::PoolTimedOut`).

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use tower_chaos::io::{
    ChaosStream, ConnFault, ConnFaultSet, ConnInfo, Direction, DirectionFaults, FaultSwitch, IoCounters,
    Onset, Proxy, StreamFaults, injected_fault,
};
use tower_chaos::{FaultKind, Latency, Target, Trigger};
use tower_chaos_servers::{POSTGRES, require};

/// A bound on every wait that is not itself under test.
const BOUND: Duration = Duration::from_secs(2);
/// The latency put on replies: small, the server runs on real time.
const LATENCY: Duration = Duration::from_millis(20);
/// The client-side timeout that catches a stall (the stall never ends).
const STALL_TIMEOUT: Duration = Duration::from_millis(150);
/// sqlx's `acquire_timeout` in these tests.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(250);
/// Reply bytes that pass before a reset cuts a query's answer short.
const RESET_AFTER: u64 = 4096;
/// A query whose answer (over 100 KB) is far longer than [`RESET_AFTER`].
const BIG_QUERY: &str = "SELECT repeat('x', 100) FROM generate_series(1, 1000)";

fn pg_config() -> tokio_postgres::Config {
    let url = require(POSTGRES);
    tokio_postgres::Config::from_str(&url).unwrap_or_else(|e| panic!("`{POSTGRES}`={url}: {e}"))
}

/// The server's address, from the URL `scripts/test-all` exports.
fn pg_addr(config: &tokio_postgres::Config) -> SocketAddr {
    let (Some(Host::Tcp(host)), Some(port)) = (config.get_hosts().first(), config.get_ports().first()) else {
        panic!("`{POSTGRES}` names no TCP host and port: {config:?}");
    };
    format!("{host}:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("`{POSTGRES}` host `{host}`: not an IP address ({e})"))
}

/// A table name no other test (or concurrent run) uses.
fn table(test: &str) -> String {
    format!("chaos_{test}_{}", std::process::id())
}

/// A tokio-postgres client connected to `addr` (the server or a proxy in
/// front of it) over a `ChaosStream` switched by `switch` and counting into
/// `counters`; returns the connection task's handle too.
async fn connect_chaos(
    config: &tokio_postgres::Config,
    addr: SocketAddr,
    switch: &FaultSwitch,
    counters: &IoCounters,
) -> (Client, tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>) {
    let tcp = TcpStream::connect(addr).await.expect("connect to PostgreSQL");
    tcp.set_nodelay(true).expect("nodelay");
    let stream = ChaosStream::with_switch(tcp, switch).with_counters(counters.clone());
    // The lines docs/IO.md shows (see the last test).
    let startup = async {
        let (client, connection) = config.connect_raw(stream, NoTls).await?;
        Ok::<_, tokio_postgres::Error>((client, tokio::spawn(connection)))
    };
    timeout(BOUND, startup)
        .await
        .expect("startup in time")
        .expect("startup")
}

/// The values of the first column of a simple query's rows.
async fn column(client: &Client, sql: &str) -> Vec<String> {
    let messages = timeout(BOUND, client.simple_query(sql))
        .await
        .unwrap_or_else(|_| panic!("`{sql}` in time"))
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"));
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).expect("a value").to_owned()),
            _ => None,
        })
        .collect()
}

/// Runs [`BIG_QUERY`] on a connection a reset cuts mid-answer: the query
/// fails as closed, and the connection task with `ConnectionReset`, whose
/// error is returned.
async fn big_query_is_reset(
    client: &Client,
    connection: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) -> tokio_postgres::Error {
    let err = timeout(BOUND, client.query(BIG_QUERY, &[]))
        .await
        .expect("fails in time, does not hang")
        .expect_err("the reset reaches the query");
    assert!(
        err.is_closed(),
        "the application sees a closed connection: {err:?}"
    );
    assert!(client.is_closed());
    let conn_err = timeout(BOUND, connection)
        .await
        .expect("the connection task ends")
        .expect("no panic")
        .expect_err("the connection task fails");
    let io = std::error::Error::source(&conn_err)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("an io::Error inside");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
    conn_err
}

#[tokio::test]
async fn tokio_postgres_over_a_chaos_stream_rides_latency_times_out_a_stall_and_fails_on_a_reset() {
    let config = pg_config();
    let switch = FaultSwitch::default();
    let counters = IoCounters::new();
    let (client, connection) = connect_chaos(&config, pg_addr(&config), &switch, &counters).await;
    let t = table("tokio_postgres");
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id int PRIMARY KEY, v text); \
             INSERT INTO {t} VALUES (1, 'one'), (2, 'two')"
        ))
        .await
        .expect("create the table");

    // Healthy, and counted to the byte: a simple query is one `Query`
    // message (tag, length, the SQL, a NUL) and nothing else.
    let sql = format!("SELECT v FROM {t} ORDER BY id");
    let before = counters.snapshot();
    assert_eq!(column(&client, &sql).await, ["one", "two"]);
    let after = counters.snapshot();
    assert_eq!(after.bytes_written - before.bytes_written, 6 + sql.len() as u64);
    assert!(after.bytes_read > before.bytes_read);

    // Latency on the replies, switched in on the live connection.
    switch.set(
        StreamFaults::builder()
            .read(DirectionFaults::new().latency(LATENCY))
            .build()
            .expect("valid"),
    );
    let start = Instant::now();
    assert_eq!(column(&client, &sql).await, ["one", "two"]);
    assert!(start.elapsed() >= LATENCY, "the reply was held");
    assert!(counters.snapshot().fault(FaultKind::StreamLatency) >= 1);

    // A stall: the query never answers; the caller's timeout catches it
    // (tokio-postgres has no query timeout of its own).
    switch.set(
        StreamFaults::builder()
            .read(DirectionFaults::new().stall(Onset::Immediately))
            .build()
            .expect("valid"),
    );
    let stalled = timeout(STALL_TIMEOUT, client.simple_query(&sql)).await;
    assert!(stalled.is_err(), "the stall outlasts the timeout: {stalled:?}");
    assert_eq!(counters.snapshot().fault(FaultKind::Stall), 1);
    // Cleared: the held reply is delivered (and discarded, its caller is
    // gone) and the same connection answers again.
    switch.clear();
    assert_eq!(column(&client, &sql).await, ["one", "two"]);

    // A reset in the middle of a long answer: exactly RESET_AFTER reply
    // bytes arrive, then the connection is gone.
    let before = counters.snapshot();
    switch.set(
        StreamFaults::builder()
            .read(DirectionFaults::new().reset(Onset::AfterBytes(RESET_AFTER)))
            .build()
            .expect("valid"),
    );
    let conn_err = big_query_is_reset(&client, connection).await;
    assert_eq!(injected_fault(&conn_err), Some(FaultKind::Reset), "{conn_err:?}");
    let after = counters.snapshot();
    assert_eq!(
        after.bytes_read - before.bytes_read,
        RESET_AFTER,
        "cut mid-answer"
    );
    assert_eq!(after.fault(FaultKind::Reset), 1);

    // Switched off: a new connection works and the data is still there.
    switch.clear();
    let (client, connection) = connect_chaos(&config, pg_addr(&config), &switch, &counters).await;
    assert_eq!(column(&client, &sql).await, ["one", "two"]);
    client
        .batch_execute(&format!("DROP TABLE {t}"))
        .await
        .expect("drop the table");
    drop(client);
    timeout(BOUND, connection)
        .await
        .expect("closes in time")
        .expect("no panic")
        .expect("a clean close");
    let end = counters.snapshot();
    assert_eq!((end.fault(FaultKind::Stall), end.fault(FaultKind::Reset)), (1, 1));
    assert_eq!(
        end.faults_total(),
        end.fault(FaultKind::StreamLatency) + 2,
        "{end:?}"
    );
    assert_eq!((end.dropped_read, end.dropped_written), (0, 0), "{end:?}");
}

/// Waits (bounded) until the pool holds `idle` idle connections: its
/// connections are returned by a task of their own, after a ping.
async fn until_idle(pool: &PgPool, idle: usize) {
    let waited = timeout(BOUND, async {
        while pool.num_idle() != idle {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the pool did not settle at {idle} idle connection(s): size {}, idle {}",
        pool.size(),
        pool.num_idle()
    );
}

/// `query` gives up at the pool's acquire timeout, well within [`BOUND`].
async fn assert_pool_timed_out<T: std::fmt::Debug>(query: impl Future<Output = Result<T, sqlx::Error>>) {
    let res = timeout(BOUND, query).await.expect("gives up in time");
    assert!(
        matches!(res, Err(sqlx::Error::PoolTimedOut)),
        "the pool timed out: {res:?}"
    );
}

/// What sqlx reports for a reset connection.
fn is_reset(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

#[tokio::test]
async fn sqlx_pool_through_the_proxy_rides_latency_survives_resets_refusals_and_stalls_and_recovers() {
    let config = pg_config();
    let target = Target::builder("postgres").seed(7).build().expect("target");
    let mut proxy = Proxy::spawn(pg_addr(&config), &target).expect("proxy");
    let url = require(POSTGRES);
    // The lines docs/IO.md shows (see the last test): the user's URL,
    // pointed at the proxy; one connection, so that every count is exact.
    let connect = async {
        let options = PgConnectOptions::from_str(&url)?
            .host("127.0.0.1")
            .port(proxy.local_addr().port());
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok::<_, sqlx::Error>(pool)
    };
    let pool = timeout(BOUND, connect)
        .await
        .expect("connect in time")
        .expect("connect through the proxy");
    let t = table("sqlx");
    sqlx::raw_sql(&format!(
        "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id int PRIMARY KEY, v text); \
         INSERT INTO {t} VALUES (1, 'one'), (2, 'two')"
    ))
    .execute(&pool)
    .await
    .expect("create the table");
    let sql = format!("SELECT v FROM {t} ORDER BY id");
    let select = || sqlx::query_scalar::<_, String>(&sql).fetch_all(&pool);
    assert_eq!(select().await.expect("healthy"), ["one", "two"]);
    assert_eq!(proxy.stats().accepted, 1);

    // Latency on the replies, switched in on the pooled connection.
    target
        .set_faults(
            ConnFaultSet::new().with(ConnFault::latency(Direction::Downstream, Latency::fixed(LATENCY))),
        )
        .expect("valid");
    let start = Instant::now();
    assert_eq!(select().await.expect("under latency"), ["one", "two"]);
    assert!(start.elapsed() >= LATENCY, "the reply was held");
    assert!(proxy.stats().io.fault(FaultKind::StreamLatency) >= 1);

    // A reset in the middle of a long answer: the application sees an I/O
    // error (the proxy resets the client's socket: a real RST).
    until_idle(&pool, 1).await;
    let before = proxy.stats();
    target
        .set_faults(ConnFaultSet::new().with(ConnFault::reset(
            Direction::Downstream,
            Onset::AfterBytes(RESET_AFTER),
        )))
        .expect("valid");
    let err = timeout(BOUND, sqlx::query_scalar::<_, String>(BIG_QUERY).fetch_all(&pool))
        .await
        .expect("fails in time, does not hang")
        .expect_err("the reset reaches the query");
    assert!(is_reset(&err), "an I/O error, connection reset: {err:?}");
    let after = proxy.stats();
    assert_eq!(
        after.bytes_downstream() - before.bytes_downstream(),
        RESET_AFTER,
        "cut mid-answer"
    );
    assert_eq!(after.io.fault(FaultKind::Reset), 1);

    // Refused while the pool reconnects: the broken connection is dropped,
    // the next one is reset on accept (sqlx gives up at once on a reset,
    // it retries only `ConnectionRefused`: the application sees the reset),
    // the one after it gets through.
    target
        .set_faults(ConnFaultSet::new().with(ConnFault::refuse().when(Trigger::first(1))))
        .expect("valid");
    let err = timeout(BOUND, select())
        .await
        .expect("fails in time")
        .expect_err("the new connection is refused");
    assert!(is_reset(&err), "an I/O error, connection reset: {err:?}");
    assert_eq!(
        select().await.expect("the next connection gets through"),
        ["one", "two"]
    );
    assert_eq!(proxy.stats().accepted, 3);
    assert_eq!(proxy.stats().io.fault(FaultKind::Refused), 1);

    // Down outright: connects are refused by the system, which sqlx
    // retries (backing off) until its acquire timeout; back up, the pool
    // reconnects by itself.
    proxy.disable().await;
    assert_pool_timed_out(select()).await;
    proxy.enable().expect("up again on the same port");
    assert_eq!(select().await.expect("reconnected"), ["one", "two"]);
    assert_eq!(proxy.stats().accepted, 4);

    // A stall on a connection the application holds: the query never
    // answers; a timeout around it catches it (sqlx has no query timeout).
    let mut conn = pool.acquire().await.expect("acquire");
    target
        .set_faults(ConnFaultSet::new().with(ConnFault::stall(Direction::Downstream, Onset::Immediately)))
        .expect("valid");
    let stalled = timeout(
        STALL_TIMEOUT,
        sqlx::query_scalar::<_, String>(&sql).fetch_all(&mut *conn),
    )
    .await;
    assert!(stalled.is_err(), "the stall outlasts the timeout: {stalled:?}");
    // Given back, the connection is pinged by the pool, and the ping
    // stalls too: the next acquire gives up at the pool's acquire timeout.
    drop(conn);
    assert_pool_timed_out(select()).await;
    assert_eq!(proxy.stats().io.fault(FaultKind::Stall), 1);
    // Cleared: the held replies flow, and the same connection serves again.
    target.clear_faults::<ConnFault, ConnInfo>();
    assert_eq!(select().await.expect("recovered"), ["one", "two"]);
    sqlx::raw_sql(&format!("DROP TABLE {t}"))
        .execute(&pool)
        .await
        .expect("drop the table");
    pool.close().await;
    // The proxy forwards the closes; wait (bounded) until they are through
    // so that the counts below are final.
    let closed = timeout(BOUND, async {
        while proxy.stats().active > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "connections still open: {:?}", proxy.stats());

    // The counts match what happened: four connections (the first, the
    // refused one, the one after it, the one after the outage), one of
    // each fault given, bytes counted alike by the proxy and the report.
    let stats = proxy.stats();
    let report = target.report();
    assert_eq!((stats.accepted, stats.upstream_failures), (4, 0), "{stats:?}");
    assert_eq!(report.connections, 4, "{report}");
    // Faulted: the first (latency, then reset), the refused one, the one
    // stalled; the one after the refusal passed.
    assert_eq!((report.passed, report.faulted), (1, 3), "{report}");
    for kind in [
        FaultKind::StreamLatency,
        FaultKind::Reset,
        FaultKind::Refused,
        FaultKind::Stall,
    ] {
        assert_eq!(report.injected(kind), 1, "{kind:?}: {report}");
    }
    assert_eq!(report.total_injected(), 4, "{report}");
    assert_eq!(
        (
            stats.io.fault(FaultKind::Reset),
            stats.io.fault(FaultKind::Refused)
        ),
        (1, 1)
    );
    assert!(
        stats.bytes_upstream() > 0 && stats.bytes_downstream() > 0,
        "{stats:?}"
    );
    assert_eq!(
        report.bytes_upstream,
        stats.bytes_upstream(),
        "{report}\n{stats:?}"
    );
    assert_eq!(
        report.bytes_downstream,
        stats.bytes_downstream(),
        "{report}\n{stats:?}"
    );
    assert_eq!(
        report.dropped_downstream, stats.io.dropped_read,
        "{report}\n{stats:?}"
    );
    assert_eq!(
        report.dropped_upstream, stats.io.dropped_written,
        "{report}\n{stats:?}"
    );
    proxy.shutdown().await;
}

/// Both ends counted: tokio-postgres over a `ChaosStream` (the client's
/// count) connected through the `Proxy` (the proxy's and the report's).
#[tokio::test]
async fn tokio_postgres_through_the_proxy_counts_the_same_bytes_on_both_sides() {
    let config = pg_config();
    let target = Target::builder("postgres-counted")
        .seed(3)
        .build()
        .expect("target");
    let proxy = Proxy::spawn(pg_addr(&config), &target).expect("proxy");
    let switch = FaultSwitch::default();
    let client_side = IoCounters::new();
    let (client, connection) = connect_chaos(&config, proxy.local_addr(), &switch, &client_side).await;

    // Latency on the proxy's replies: the client sees every byte it sent.
    target
        .set_faults(
            ConnFaultSet::new().with(ConnFault::latency(Direction::Downstream, Latency::fixed(LATENCY))),
        )
        .expect("valid");
    assert_eq!(column(&client, "SELECT 'chaos'").await, ["chaos"]);
    let rows = timeout(BOUND, client.query(BIG_QUERY, &[]))
        .await
        .expect("in time")
        .expect("a long answer under latency");
    assert_eq!(rows.len(), 1000);
    // Between queries nothing is in flight: both ends agree to the byte.
    let (client_bytes, stats, report) = (client_side.snapshot(), proxy.stats(), target.report());
    assert!(client_bytes.bytes_read > 100_000, "{client_bytes:?}");
    assert_eq!(client_bytes.bytes_written, stats.bytes_upstream(), "{stats:?}");
    assert_eq!(client_bytes.bytes_read, stats.bytes_downstream(), "{stats:?}");
    assert_eq!(
        (report.bytes_upstream, report.bytes_downstream),
        (stats.bytes_upstream(), stats.bytes_downstream()),
        "{report}"
    );

    // A reset by the proxy mid-answer: the client gets a real RST, with no
    // injected marker (that stays on the proxy's side of the wire), and
    // reads no more than the proxy delivered.
    target
        .set_faults(ConnFaultSet::new().with(ConnFault::reset(
            Direction::Downstream,
            Onset::AfterBytes(RESET_AFTER),
        )))
        .expect("valid");
    let conn_err = big_query_is_reset(&client, connection).await;
    assert_eq!(
        injected_fault(&conn_err),
        None,
        "a real reset, not the client's own fault"
    );
    let (client_bytes, stats, report) = (client_side.snapshot(), proxy.stats(), target.report());
    assert!(
        client_bytes.bytes_read <= stats.bytes_downstream(),
        "{client_bytes:?} {stats:?}"
    );
    assert_eq!(client_bytes.faults_total(), 0, "no fault on the client's stream");
    assert_eq!(stats.accepted, 1);
    assert_eq!((report.connections, report.faulted), (1, 1), "{report}");
    assert_eq!(
        (
            report.injected(FaultKind::StreamLatency),
            report.injected(FaultKind::Reset)
        ),
        (1, 1),
        "{report}"
    );
    assert_eq!(stats.io.fault(FaultKind::Reset), 1);
    assert!(stats.io.fault(FaultKind::StreamLatency) >= 2, "{stats:?}");
    proxy.shutdown().await;
}

/// The PostgreSQL lines of `docs/IO.md` that its doctest cannot compile
/// (the crate's doctests have neither driver) are statements of this file,
/// compiled and run above: each `// let ...;` line of the guide's
/// PostgreSQL example is found here, whitespace aside.
#[test]
fn the_io_guide_shows_the_lines_this_suite_runs() {
    let guide = include_str!("../../docs/IO.md");
    let section = guide
        .split("\n## ")
        .find(|s| s.starts_with("PostgreSQL\n"))
        .expect("docs/IO.md has a `## PostgreSQL` section");
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    let this_file = squeeze(include_str!("postgres.rs"));
    let shown: Vec<&str> = section
        .lines()
        .filter_map(|l| l.trim().strip_prefix("// let "))
        .collect();
    assert!(shown.len() >= 3, "the tokio-postgres and sqlx lines: {shown:?}");
    for line in shown {
        let statement = line.split_inclusive(';').next().unwrap_or(line);
        assert!(
            this_file.contains(&squeeze(&format!("let {statement}"))),
            "docs/IO.md shows `let {statement}`, which servers/tests/postgres.rs does not run"
        );
    }
}

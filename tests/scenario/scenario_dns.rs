//! A DNS outage in a rehearsal reaches a client only when the client
//! resolves: connections made before it keep working, a client that
//! resolves per connection recovers at its first lookup after the outage,
//! and one that caches a failed lookup recovers only when the cache entry
//! expires.

use std::time::Duration;

use crate::support::io::echo_server;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_chaos::io::{ConnectFaultsLayer, injected_fault};
use tower_chaos::scenario::{Rehearsal, Scenario, presets};
use tower_chaos::{FaultKind, Target};

const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);

async fn connect<C>(connector: &mut C) -> Result<TcpStream, BoxError>
where
    C: Service<&'static str, Response = TcpStream, Error = BoxError>,
{
    connector.ready().await?.call("db.internal").await
}

async fn ping(conn: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    conn.write_all(b"p").await.is_ok() && conn.read_exact(&mut byte).await.is_ok()
}

#[tokio::test(start_paused = true)]
async fn a_dns_outage_reaches_only_clients_that_resolve() {
    let scenario = Scenario::builder("dns")
        .phase(presets::dns_outage("db", MIN, 2 * MIN))
        .duration(6 * MIN)
        .build()
        .unwrap();
    rehearse(&scenario).await;
}

/// The same outage, from a scenario file's `connect` field.
#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn a_dns_outage_from_a_file_rehearses_the_same() {
    use tower_chaos::scenario::Format;
    let text = r#"
name = "dns"
duration = "6m"
[[phases]]
name = "db-dns-outage"
target = "db"
at = "1m"
for = "2m"
connect = ["dns_failure"]
"#;
    rehearse(&Scenario::parse(text, Format::Toml).unwrap()).await;
}

#[cfg(feature = "serde")]
#[test]
fn an_unknown_connect_fault_names_the_field_and_the_choices() {
    use tower_chaos::scenario::Format;
    let text = "name = \"dns\"\n[[phases]]\ntarget = \"db\"\nfor = \"2m\"\nconnect = [\"dns\"]\n";
    let err = Scenario::parse(text, Format::Toml).unwrap_err();
    assert_eq!(err.line(), Some(5), "{err}");
    assert_eq!(err.field(), Some("phases[0].connect[0]"), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("`dns`") && msg.contains("dns_failure"), "{msg}");
}

async fn rehearse(scenario: &Scenario) {
    let addr = echo_server().await.unwrap();
    let db = Target::builder("db").seed(1).build().unwrap();
    let rehearsal = Rehearsal::new(scenario).target(&db);
    rehearsal.check().unwrap();
    let run = tokio::spawn(rehearsal.run());
    let start = Instant::now();

    // The client's connector: resolve (here, the loopback address) and
    // connect, with the target's connect faults in front.
    let mut connector = ServiceBuilder::new()
        .layer(ConnectFaultsLayer::for_target(&db))
        .service(service_fn(move |_host: &'static str| async move {
            Ok::<_, BoxError>(TcpStream::connect(addr).await?)
        }));

    // A pooled connection, made before the outage.
    let mut pooled = connect(&mut connector).await.unwrap();
    let mut negative_until: Option<Instant> = None;
    let (mut fresh, mut cached, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..12u32 {
        let at = 15 * SEC + 30 * SEC * i;
        sleep_until(start + at).await;
        // Resolves for every connection.
        let ok = match connect(&mut connector).await {
            Ok(mut conn) => ping(&mut conn).await,
            Err(err) => {
                assert_eq!(injected_fault(&*err), Some(FaultKind::DnsFailure), "{err}");
                false
            }
        };
        fresh.push(ok);
        // Caches a failed lookup for 90 s before resolving again.
        let ok = if negative_until.is_some_and(|until| Instant::now() < until) {
            false
        } else {
            match connect(&mut connector).await {
                Ok(mut conn) => ping(&mut conn).await,
                Err(_) => {
                    negative_until = Some(Instant::now() + 90 * SEC);
                    false
                }
            }
        };
        cached.push(ok);
        // Never resolves again.
        kept.push(ping(&mut pooled).await);
    }
    run.await.unwrap().unwrap();

    // Calls at 0:15, 0:45, 1:15, ... 5:45; the outage is 1:00-3:00.
    let t = true;
    let f = false;
    assert_eq!(fresh, [t, t, f, f, f, f, t, t, t, t, t, t]);
    // Fails at 1:15 (lookup), 1:45 and 2:15 (cached), 2:45 (lookup), 3:15
    // and 3:45 (cached, though resolution is back): recovery seen at 4:15,
    // a minute after the client that resolves every time.
    assert_eq!(cached, [t, t, f, f, f, f, f, f, t, t, t, t]);
    assert!(
        kept.iter().all(|ok| *ok),
        "the pooled connection never resolves: {kept:?}"
    );
    // Four failed lookups by the first client, two by the caching one.
    assert_eq!(db.report().injected(FaultKind::DnsFailure), 6);
}

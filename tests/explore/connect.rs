//! Connect targets: a connector behind a `ConnectFaultsLayer`, explored
//! connection by connection (no socket: the connector is a `service_fn`).

use crate::failing;
use tower::{BoxError, Layer, ServiceExt, service_fn};
use tower_chaos::Target;
use tower_chaos::explore::{Exploration, Explorer};
use tower_chaos::io::{ConnectFaultsLayer, DnsFailure};

/// Connects to the database, twice at most, and reads from a cache when
/// both attempts fail. With `dns_is_fatal`, a DNS failure is not retried
/// and fails the page (the bug).
async fn page(layer: &ConnectFaultsLayer, dns_is_fatal: bool) -> Result<&'static str, String> {
    let connector = layer.layer(service_fn(
        |host: &'static str| async move { Ok::<_, BoxError>(host) },
    ));
    for _ in 0..2 {
        match connector.clone().oneshot("db.internal").await {
            Ok(_conn) => return Ok("fresh"),
            Err(e) if dns_is_fatal && is_dns(&e) => return Err(format!("page failed: {e}")),
            Err(_) => {}
        }
    }
    Ok("cached")
}

fn is_dns(e: &BoxError) -> bool {
    e.downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| inner.is::<DnsFailure>())
}

fn explore(dns_is_fatal: bool) -> Exploration {
    let layer = ConnectFaultsLayer::for_target(&Target::builder("db").seed(2).build().unwrap());
    let client = layer.clone();
    Explorer::new("db page")
        .target(&layer)
        .seed(5)
        .run(move || {
            let client = client.clone();
            async move { page(&client, dns_is_fatal).await.map(drop) }
        })
        .unwrap()
}

#[test]
fn connect_points_are_connections_and_a_fatal_dns_failure_is_found() {
    let outcome = explore(true);
    assert_eq!(
        failing(&outcome),
        [
            "dns-failure@db connect#1",
            "refused@db connect#1 & dns-failure@db connect#2"
        ],
        "{outcome}"
    );
    assert!(
        outcome.failures[0].error.starts_with("page failed: "),
        "{outcome}"
    );
}

#[test]
fn a_client_that_retries_then_reads_its_cache_is_clean() {
    let outcome = explore(false);
    outcome.assert_survives().unwrap();
    assert_eq!((outcome.baseline_points, outcome.new_points), (1, 1), "{outcome}");
}

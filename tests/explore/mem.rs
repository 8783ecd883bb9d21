//! A hyper-util client and an axum server on the in-memory network
//! (`tower_chaos::io::mem`), explored connection by connection: no
//! socket, each run on its own network in its own paused runtime.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::Layer;
use tower_chaos::Target;
use tower_chaos::explore::{Exploration, Explorer};
use tower_chaos::io::ConnectFaultsLayer;
use tower_chaos::io::mem::MemNetwork;

use crate::failing;

/// Serves `hello` on a fresh network and GETs it through `layer`, up to
/// `attempts` times, 1 s each.
async fn page(layer: &ConnectFaultsLayer, attempts: usize) -> Result<(), String> {
    let net = MemNetwork::new();
    let listener = net.bind(([127, 0, 0, 1], 8080)).map_err(|e| e.to_string())?;
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(layer.layer(net.connector()));
    let mut last = String::new();
    for _ in 0..attempts {
        let attempt = async {
            let res = client
                .get("http://127.0.0.1:8080/".parse().unwrap())
                .await
                .map_err(|e| e.to_string())?;
            let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(body.to_bytes())
        };
        match tokio::time::timeout(Duration::from_secs(1), attempt).await {
            Ok(Ok(body)) if body == "hello" => return Ok(()),
            Ok(Ok(body)) => last = format!("{body:?}"),
            Ok(Err(e)) => last = e,
            Err(_) => last = "timed out".into(),
        }
    }
    Err(format!("page failed after {attempts} attempts: {last}"))
}

fn explore(attempts: usize) -> Exploration {
    let layer = ConnectFaultsLayer::for_target(&Target::builder("api").seed(2).build().unwrap());
    let client = layer.clone();
    Explorer::new("mem page")
        .target(&layer)
        .seed(5)
        .run(move || {
            let client = client.clone();
            async move { page(&client, attempts).await }
        })
        .unwrap()
}

#[test]
fn one_attempt_fails_at_either_connect_fault() {
    let outcome = explore(1);
    assert_eq!(
        failing(&outcome),
        ["refused@api connect#1", "dns-failure@api connect#1"],
        "{outcome}"
    );
    assert!(
        outcome.failures[0]
            .error
            .starts_with("page failed after 1 attempts: client error (Connect)"),
        "{outcome}"
    );
}

#[test]
fn two_attempts_fail_only_when_both_connects_are_faulted() {
    let outcome = explore(2);
    assert_eq!(
        failing(&outcome),
        [
            "refused@api connect#1 & refused@api connect#2",
            "refused@api connect#1 & dns-failure@api connect#2"
        ],
        "{outcome}"
    );
    // The same seed explores the same runs, to the failure.
    assert_eq!(explore(2).to_string(), outcome.to_string());
}

//! An axum payments service behind an `HttpChaosLayer` on the server side
//! (`Router::layer`, so points are named by route pattern), called in
//! process through `oneshot` (no socket): a
//! checkout that gives up after two attempts fails when a fault at the
//! first attempt opens the second and a fault hits it too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use tower::ServiceExt;
use tower_chaos::explore::{Exploration, Explorer};
use tower_chaos::http::HttpChaosLayer;

use crate::failing;

/// Charges made.
type Ledger = Arc<Mutex<u32>>;

async fn charge(State(ledger): State<Ledger>) -> (StatusCode, &'static str) {
    *ledger.lock().unwrap() += 1;
    (StatusCode::CREATED, "charged")
}

/// Up to `attempts` charges, 1 s each; `Ok` once one answered `201` with
/// its whole body.
async fn checkout(payments: &Router, attempts: usize) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..attempts {
        let attempt = async {
            let req = Request::post("/orders/42/charge").body(Body::empty()).unwrap();
            let resp = payments.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1024)
                .await
                .map_err(|e| e.to_string())?;
            match (status, &body[..]) {
                (StatusCode::CREATED, b"charged") => Ok(()),
                _ => Err(format!("{status} {body:?}")),
            }
        };
        match tokio::time::timeout(Duration::from_secs(1), attempt).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last = e,
            Err(_) => last = "timed out".into(),
        }
    }
    Err(format!("payment failed after {attempts} attempts: {last}"))
}

fn explore(attempts: usize) -> Exploration {
    let chaos = HttpChaosLayer::builder("payments").seed(3).build().unwrap();
    let layer = chaos.clone();
    Explorer::new("axum checkout")
        .target(&chaos)
        .seed(4)
        .run(move || {
            let ledger = Ledger::default();
            let payments = Router::new()
                .route("/orders/{order}/charge", post(charge))
                .with_state(Arc::clone(&ledger))
                .layer(layer.clone());
            async move {
                checkout(&payments, attempts).await?;
                match *ledger.lock().unwrap() {
                    0 => Err("paid without a charge".to_owned()),
                    _ => Ok(()),
                }
            }
        })
        .unwrap()
}

#[test]
fn an_axum_checkout_with_two_attempts_fails_on_a_fault_at_each() {
    let outcome = explore(2);
    let found = failing(&outcome);
    // The first fault of the menu at the first attempt opens the retry
    // (the others reach the same points: deduplicated); every fault that
    // fails the retry is a minimal pair.
    assert_eq!(found.len(), 5, "{outcome}");
    assert!(
        found.iter().all(
            |f| f.starts_with("status:500@payments POST /orders/{order}/charge#1 & ")
                && f.ends_with("@payments POST /orders/{order}/charge#2")
        ),
        "{outcome}"
    );
    assert_eq!(outcome.deduplicated, 4, "{outcome}");
    assert!(
        outcome.failures[0]
            .error
            .starts_with("payment failed after 2 attempts: "),
        "{outcome}"
    );
}

#[test]
fn the_same_checkout_with_three_attempts_is_clean() {
    let outcome = explore(3);
    outcome.assert_survives().unwrap();
    // The replay line names the route; it reads back.
    let replay = outcome.points[5].injection.to_string();
    assert_eq!(replay, "status:500@payments POST /orders/{order}/charge#2");
    assert_eq!((outcome.baseline_points, outcome.new_points), (1, 2), "{outcome}");
}

//! HTTP targets: points named by method and path, the HTTP menu (statuses,
//! a throttle, a dropped connection, a cut body), in process.

use std::convert::Infallible;

use crate::failing;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt, service_fn};
use tower_chaos::explore::{Exploration, Explorer, Signature};
use tower_chaos::http::HttpChaosLayer;

/// What the stock client shows when the service cannot answer.
const CACHED: u64 = 3;

/// Reads the stock of item 7 over HTTP: retries a `5xx` or `429` once,
/// then shows the cached count. With `trust_body`, a `200` whose body
/// does not read or parse fails the page (the bug).
async fn stock(layer: &HttpChaosLayer, trust_body: bool) -> Result<u64, String> {
    let svc = layer.layer(service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"12"))))
    }));
    for _ in 0..2 {
        let req = Request::get("/stock/7?fresh=1").body(Full::default()).unwrap();
        let resp = svc.clone().oneshot(req).await.unwrap();
        if resp.status().is_server_error() || resp.status() == StatusCode::TOO_MANY_REQUESTS {
            continue;
        }
        let read = match resp.into_body().collect().await {
            Ok(body) => String::from_utf8_lossy(&body.to_bytes())
                .parse::<u64>()
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        return match read {
            Ok(n) => Ok(n),
            Err(e) if trust_body => Err(format!("stock page failed: {e}")),
            Err(_) => Ok(CACHED),
        };
    }
    Ok(CACHED)
}

fn explore(trust_body: bool) -> Exploration {
    let layer = HttpChaosLayer::builder("inventory").seed(5).build().unwrap();
    let client = layer.clone();
    Explorer::new("stock page")
        .target(&layer)
        .seed(11)
        .run(move || {
            let client = client.clone();
            async move {
                let n = stock(&client, trust_body).await?;
                if n == 12 || n == CACHED {
                    Ok(())
                } else {
                    Err(format!("showed {n}"))
                }
            }
        })
        .unwrap()
}

#[test]
fn http_points_are_method_and_path_and_the_http_menu_finds_a_trusted_body() {
    let outcome = explore(true);
    let first = &outcome.points[0].injection.point;
    assert_eq!(
        first.signature,
        Signature::Http {
            method: "GET".into(),
            path: "/stock/7".into()
        },
        "the query is not part of the signature"
    );
    assert_eq!(
        failing(&outcome),
        [
            "drop-connection@inventory GET /stock/7#1",
            "truncate-body:0@inventory GET /stock/7#1",
            "status:500@inventory GET /stock/7#1 & drop-connection@inventory GET /stock/7#2",
            "status:500@inventory GET /stock/7#1 & truncate-body:0@inventory GET /stock/7#2",
        ],
        "{outcome}"
    );
    assert!(
        outcome.failures[1].error.starts_with("stock page failed: "),
        "{outcome}"
    );
}

#[test]
fn the_client_that_falls_back_on_any_failure_is_clean() {
    let outcome = explore(false);
    outcome.assert_survives().unwrap();
    // One baseline point, its retry opened by the statuses: 5 singles,
    // then the retry under the first status (the 503 and the 429 reach
    // the same points and are deduplicated).
    assert_eq!((outcome.baseline_points, outcome.new_points), (1, 1), "{outcome}");
    assert_eq!((outcome.runs, outcome.deduplicated), (1 + 5 + 5, 2), "{outcome}");
}

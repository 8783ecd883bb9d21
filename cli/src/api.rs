//! toxiproxy's HTTP API over a [`Registry`]: its routes, methods, status
//! codes and bodies.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::model::{ApiError, json_response, parse_body};
use crate::registry::Registry;

/// The toxiproxy release whose API this server speaks, and ours, as
/// `GET /version` answers (a semver build suffix, so a client comparing
/// versions reads the toxiproxy one).
pub(crate) const VERSION: &str = concat!("2.12.0+tower-chaos.", env!("CARGO_PKG_VERSION"));

/// The routes of toxiproxy's API (updates also answer `PATCH`, as
/// toxiproxy's do), plus ours: `GET /proxies/{proxy}/report`.
pub(crate) fn router(registry: Registry) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/reset", axum::routing::post(reset))
        .route("/populate", axum::routing::post(populate))
        .route("/proxies", get(list).post(create))
        .route(
            "/proxies/{proxy}",
            get(show).post(update).patch(update).delete(delete),
        )
        .route("/proxies/{proxy}/report", get(report))
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(remove_toxic),
        )
        .layer(middleware::from_fn(stop_browsers))
        .with_state(registry)
}

/// toxiproxy refuses browsers (a web page must not reconfigure proxies
/// through a developer's browser): `403` for a `Mozilla/` user agent.
async fn stop_browsers(request: Request, next: Next) -> Response {
    let browser = request
        .headers()
        .get(header::USER_AGENT)
        .is_some_and(|ua| ua.as_bytes().starts_with(b"Mozilla/"));
    if browser {
        return (StatusCode::FORBIDDEN, "User agent not allowed\n").into_response();
    }
    next.run(request).await
}

fn ok(result: Result<Value, ApiError>, status: StatusCode) -> Response {
    match result {
        Ok(body) => json_response(status, &body),
        Err(e) => e.into_response(),
    }
}

fn no_content(result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn version() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        format!("{{\"version\": \"{VERSION}\"}}\n"),
    )
        .into_response()
}

async fn reset(State(r): State<Registry>) -> Response {
    no_content(r.reset().await)
}

async fn populate(State(r): State<Registry>, body: Bytes) -> Response {
    let (status, body) = r.populate_response(&body).await;
    json_response(status, &body)
}

async fn list(State(r): State<Registry>) -> Response {
    json_response(StatusCode::OK, &r.list().await)
}

async fn create(State(r): State<Registry>, body: Bytes) -> Response {
    let created = match parse_body(&body) {
        Ok(input) => r.create(input).await,
        Err(e) => Err(e),
    };
    ok(created, StatusCode::CREATED)
}

async fn show(State(r): State<Registry>, Path(proxy): Path<String>) -> Response {
    ok(r.get(&proxy).await, StatusCode::OK)
}

async fn update(State(r): State<Registry>, Path(proxy): Path<String>, body: Bytes) -> Response {
    // toxiproxy looks the proxy up before reading the body.
    let updated = match r.get(&proxy).await {
        Err(e) => Err(e),
        Ok(_) => match parse_body(&body) {
            Ok(input) => r.update(&proxy, input).await,
            Err(e) => Err(e),
        },
    };
    ok(updated, StatusCode::OK)
}

async fn delete(State(r): State<Registry>, Path(proxy): Path<String>) -> Response {
    no_content(r.delete(&proxy).await)
}

async fn report(State(r): State<Registry>, Path(proxy): Path<String>) -> Response {
    ok(r.report(&proxy).await, StatusCode::OK)
}

async fn toxics(State(r): State<Registry>, Path(proxy): Path<String>) -> Response {
    ok(r.toxics(&proxy).await, StatusCode::OK)
}

/// toxiproxy answers a created toxic with `200`, not `201`.
async fn add_toxic(State(r): State<Registry>, Path(proxy): Path<String>, body: Bytes) -> Response {
    ok(r.add_toxic(&proxy, &body).await, StatusCode::OK)
}

async fn toxic(State(r): State<Registry>, Path((proxy, toxic)): Path<(String, String)>) -> Response {
    ok(r.toxic(&proxy, &toxic).await, StatusCode::OK)
}

async fn update_toxic(
    State(r): State<Registry>,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    ok(r.update_toxic(&proxy, &toxic, &body).await, StatusCode::OK)
}

async fn remove_toxic(State(r): State<Registry>, Path((proxy, toxic)): Path<(String, String)>) -> Response {
    no_content(r.remove_toxic(&proxy, &toxic).await)
}

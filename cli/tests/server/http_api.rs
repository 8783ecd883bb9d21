//! The HTTP API with a plain client: toxiproxy's routes, status codes and
//! bodies, and what connections through the proxies see.

use std::net::SocketAddr;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{api, echo};

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Self {
        Self {
            base: format!("http://{}", api().await),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Creates proxy `name` on 127.0.0.1:0 in front of `upstream`; returns
    /// the address it listens on.
    async fn proxy(&self, name: &str, upstream: SocketAddr) -> SocketAddr {
        let (status, body) = self
            .post(
                "/proxies",
                &json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["listen"]
            .as_str()
            .expect("listen")
            .parse()
            .expect("an address")
    }
}

fn error(message: &str, status: u16) -> Value {
    json!({"error": message, "status": status})
}

/// Writes `msg`, half-closes, reads to the end.
/// The string at `key` of a JSON answer.
fn text<'a>(answer: &'a Value, key: &str) -> &'a str {
    answer[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {answer}"))
}

async fn exchange(addr: SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(msg).await?;
    s.shutdown().await?;
    let mut got = Vec::new();
    s.read_to_end(&mut got).await?;
    Ok(got)
}

#[tokio::test]
async fn proxy_routes_answer_with_toxiproxys_codes_and_bodies() {
    let api = Api::start().await;
    let up = echo().await;
    assert_eq!(api.get("/proxies").await, (StatusCode::OK, json!({})));
    assert_eq!(
        api.get("/proxies/nope").await,
        (StatusCode::NOT_FOUND, error("proxy not found", 404))
    );
    assert_eq!(
        api.delete("/proxies/nope").await,
        (StatusCode::NOT_FOUND, error("proxy not found", 404))
    );
    assert_eq!(
        api.post("/proxies", &json!({"upstream": up.to_string()})).await,
        (
            StatusCode::BAD_REQUEST,
            error("missing required field: name", 400)
        )
    );
    assert_eq!(
        api.post("/proxies", &json!({"name": "db"})).await,
        (
            StatusCode::BAD_REQUEST,
            error("missing required field: upstream", 400)
        )
    );
    let (status, body) = api.send(reqwest::Method::POST, "/proxies", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body, "error").starts_with("bad request body: "), "{body}");

    let listen = api.proxy("db", up).await;
    let shown = json!({"name": "db", "listen": listen.to_string(), "upstream": up.to_string(),
                       "enabled": true, "toxics": []});
    assert_eq!(api.get("/proxies/db").await, (StatusCode::OK, shown.clone()));
    assert_eq!(api.get("/proxies").await, (StatusCode::OK, json!({"db": shown})));
    assert_eq!(
        api.post("/proxies", &json!({"name": "db", "upstream": up.to_string()}))
            .await,
        (StatusCode::CONFLICT, error("proxy already exists", 409))
    );
    // A port that is taken: toxiproxy's 500 with the system's error.
    let (status, body) = api
        .post(
            "/proxies",
            &json!({"name": "twin", "listen": listen.to_string(), "upstream": up.to_string()}),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(text(&body, "error").contains(&listen.to_string()), "{body}");

    assert_eq!(
        api.delete("/proxies/db").await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(api.get("/proxies/db").await.0, StatusCode::NOT_FOUND);
    assert!(
        TcpStream::connect(listen).await.is_err(),
        "a deleted proxy stops listening"
    );
}

#[tokio::test]
async fn toxic_routes_answer_with_toxiproxys_codes_and_bodies() {
    let api = Api::start().await;
    let listen = api.proxy("db", echo().await).await;
    let p = "/proxies/db/toxics";
    assert_eq!(api.get(p).await, (StatusCode::OK, json!([])));
    assert_eq!(
        api.post("/proxies/nope/toxics", &json!({"type": "latency"}))
            .await,
        (StatusCode::NOT_FOUND, error("proxy not found", 404))
    );
    assert_eq!(
        api.post(p, &json!({"type": "latency", "stream": "sideways"}))
            .await,
        (
            StatusCode::BAD_REQUEST,
            error("stream was invalid, can be either upstream or downstream", 400)
        )
    );
    assert_eq!(
        api.post(p, &json!({"type": "lag"})).await,
        (StatusCode::BAD_REQUEST, error("invalid toxic type", 400))
    );
    // Created toxics are answered 200, as toxiproxy does.
    let limit = json!({"attributes": {"bytes": 4}, "name": "limit_data_downstream", "type": "limit_data",
                       "stream": "downstream", "toxicity": 1.0});
    assert_eq!(
        api.post(p, &json!({"type": "limit_data", "attributes": {"bytes": 4}}))
            .await,
        (StatusCode::OK, limit.clone())
    );
    assert_eq!(
        api.post(p, &json!({"type": "limit_data"})).await,
        (StatusCode::CONFLICT, error("toxic already exists", 409))
    );
    assert_eq!(
        api.get(&format!("{p}/limit_data_downstream")).await,
        (StatusCode::OK, limit)
    );
    assert_eq!(
        api.get(&format!("{p}/nope")).await,
        (StatusCode::NOT_FOUND, error("toxic not found", 404))
    );
    assert_eq!(exchange(listen, b"truncated").await.unwrap_or_default(), b"trun");

    // An update keeps what it does not name; the proxy applies it.
    let (status, body) = api
        .post(
            &format!("{p}/limit_data_downstream"),
            &json!({"attributes": {"bytes": 6}}),
        )
        .await;
    assert_eq!(
        (status, &body["attributes"], &body["stream"]),
        (StatusCode::OK, &json!({"bytes": 6}), &json!("downstream"))
    );
    assert_eq!(
        exchange(listen, b"truncated").await.unwrap_or_default(),
        b"trunca"
    );
    let (status, body) = api
        .post(
            &format!("{p}/limit_data_downstream"),
            &json!({"attributes": {"byts": 6}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body, "error").contains("attributes.byts"), "{body}");

    // Values our engine cannot honour are refused, naming the attribute.
    for (body, field) in [
        (
            json!({"type": "slicer", "attributes": {"average_size": 8, "size_variation": 8}}),
            "attributes.size_variation: 8",
        ),
        (
            json!({"type": "slicer", "attributes": {"average_size": 0}}),
            "attributes.average_size: 0",
        ),
        (
            json!({"type": "latency", "attributes": {"latency": 1, "jitter": 2}}),
            "attributes.jitter: 2",
        ),
    ] {
        let (status, answer) = api.post(p, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(text(&answer, "error").contains(field), "{answer}");
    }
    for i in 0..4 {
        assert_eq!(
            api.post(p, &json!({"type": "latency", "name": format!("l{i}")}))
                .await
                .0,
            StatusCode::OK
        );
    }
    let (status, answer) = api.post(p, &json!({"type": "latency", "name": "l4"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text(&answer, "error").contains("at most 4 latency toxics"),
        "{answer}"
    );
    // Upstream has its own four.
    assert_eq!(
        api.post(p, &json!({"type": "latency", "name": "u", "stream": "upstream"}))
            .await
            .0,
        StatusCode::OK
    );
    for name in ["l0", "l1", "l2", "l3", "u"] {
        assert_eq!(api.delete(&format!("{p}/{name}")).await.0, StatusCode::NO_CONTENT);
    }

    assert_eq!(
        api.delete(&format!("{p}/limit_data_downstream")).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        api.delete(&format!("{p}/limit_data_downstream")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        exchange(listen, b"whole again").await.expect("echo"),
        b"whole again"
    );
}

#[tokio::test]
async fn reset_peer_resets_the_client() {
    let api = Api::start().await;
    let listen = api.proxy("db", echo().await).await;
    let (status, _) = api
        .post(
            "/proxies/db/toxics",
            &json!({"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut s = TcpStream::connect(listen).await.expect("connect");
    s.write_all(b"hello").await.expect("write");
    let err = s.read(&mut [0; 16]).await.expect_err("reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn enabled_false_takes_the_proxy_down_and_true_brings_it_back() {
    let api = Api::start().await;
    let up = echo().await;
    let listen = api.proxy("db", up).await;
    api.post(
        "/proxies/db/toxics",
        &json!({"type": "limit_data", "attributes": {"bytes": 2}}),
    )
    .await;
    let (status, body) = api.post("/proxies/db", &json!({"enabled": false})).await;
    assert_eq!((status, &body["enabled"]), (StatusCode::OK, &json!(false)));
    assert!(TcpStream::connect(listen).await.is_err(), "down");
    let (status, body) = api
        .send(
            reqwest::Method::PATCH,
            "/proxies/db",
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(
        (status, &body["listen"]),
        (StatusCode::OK, &json!(listen.to_string()))
    );
    // Same address, toxics kept.
    assert_eq!(exchange(listen, b"abc").await.unwrap_or_default(), b"ab");

    // A new listen address restarts the proxy there, toxics kept.
    let (status, body) = api.post("/proxies/db", &json!({"listen": "127.0.0.1:0"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let moved: SocketAddr = text(&body, "listen").parse().unwrap();
    assert_ne!(moved, listen);
    assert!(
        TcpStream::connect(listen).await.is_err(),
        "the old address is closed"
    );
    assert_eq!(exchange(moved, b"abc").await.unwrap_or_default(), b"ab");

    // POST /reset: every proxy up, every toxic gone.
    api.post("/proxies/db", &json!({"enabled": false})).await;
    assert_eq!(
        api.post("/reset", &Value::Null).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    let (_, body) = api.get("/proxies/db").await;
    assert_eq!((&body["enabled"], &body["toxics"]), (&json!(true), &json!([])));
    assert_eq!(exchange(moved, b"abc").await.expect("echo"), b"abc");
}

#[tokio::test]
async fn populate_creates_keeps_and_replaces() {
    let api = Api::start().await;
    let up = echo().await;
    let (status, body) = api
        .post("/populate", &json!([{"name": "a", "upstream": up.to_string()}]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let a = body["proxies"][0].clone();
    assert_eq!((&a["name"], &a["enabled"]), (&json!("a"), &json!(true)));
    // The same listen and upstream: kept as it is (toxics included).
    api.post("/proxies/a/toxics", &json!({"type": "noop"})).await;
    let same = json!([{"name": "a", "listen": a["listen"], "upstream": up.to_string()},
                      {"name": "b", "upstream": up.to_string(), "enabled": false}]);
    let (status, body) = api.post("/populate", &same).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["proxies"][0]["toxics"][0]["type"], "noop");
    assert_eq!(body["proxies"][1]["enabled"], false);
    // Validation comes first: nothing is created when a field is missing.
    let (status, body) = api
        .post(
            "/populate",
            &json!([{"name": "c", "upstream": "x:1"}, {"name": "d"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "missing required field: upstream at proxy 2", "status": 400, "proxies": []})
    );
    assert_eq!(api.get("/proxies/c").await.0, StatusCode::NOT_FOUND);
    let (status, body) = api.post("/populate", &json!({"name": "a"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body, "error").starts_with("bad request body: "), "{body}");
}

#[tokio::test]
async fn our_refuse_toxic_and_report() {
    let api = Api::start().await;
    let listen = api.proxy("db", echo().await).await;
    let (status, body) = api
        .post("/proxies/db/toxics", &json!({"type": "tower_chaos.refuse"}))
        .await;
    assert_eq!(
        (status, &body["name"]),
        (StatusCode::OK, &json!("tower_chaos.refuse_downstream"))
    );
    let mut s = TcpStream::connect(listen).await.expect("the port accepts");
    let refused = s.read(&mut [0; 1]).await.expect_err("reset on accept");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionReset);
    let (status, report) = api.get("/proxies/db/report").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&report["target"], &report["seed"]), (&json!("db"), &json!(1)));
    assert_eq!(report["injected"], json!({"refused": 1}));
    assert_eq!(report["proxy"]["accepted"], 1);
    assert!(
        text(&report, "summary").starts_with("target `db` (seed 1"),
        "{report}"
    );
    assert_eq!(
        api.get("/proxies/nope/report").await,
        (StatusCode::NOT_FOUND, error("proxy not found", 404))
    );
}

#[tokio::test]
async fn version_and_browsers() {
    let api = Api::start().await;
    let (status, body) = api.get("/version").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text(&body, "version").starts_with("2.12.0+tower-chaos."),
        "{body}"
    );
    let resp = api
        .http
        .get(format!("{}/proxies", api.base))
        .header("user-agent", "Mozilla/5.0")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

/// Which of 24 sequential connections through a proxy with a
/// `limit_data` toxic of toxicity 0.5 were truncated, on a fresh server
/// (seed 1).
async fn truncated_pattern() -> Vec<bool> {
    let api = Api::start().await;
    let listen = api.proxy("db", echo().await).await;
    let toxic = json!({"type": "limit_data", "toxicity": 0.5, "attributes": {"bytes": 1}});
    assert_eq!(api.post("/proxies/db/toxics", &toxic).await.0, StatusCode::OK);
    let mut pattern = Vec::new();
    for _ in 0..24 {
        let got = exchange(listen, b"abcd").await.unwrap_or_default();
        assert!(got == b"a" || got == b"abcd", "{got:?}");
        pattern.push(got == b"a");
    }
    let (_, report) = api.get("/proxies/db/report").await;
    let truncated = pattern.iter().filter(|t| **t).count();
    assert_eq!(report["injected"]["truncate"], json!(truncated), "{report}");
    pattern
}

#[tokio::test]
async fn toxicity_is_a_seeded_probability_per_connection() {
    let first = truncated_pattern().await;
    let truncated = first.iter().filter(|t| **t).count();
    assert!(
        (4..=20).contains(&truncated),
        "{truncated} of 24 truncated at toxicity 0.5"
    );
    // The same seed and the same connections: the same ones.
    assert_eq!(truncated_pattern().await, first);
}

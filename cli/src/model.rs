//! toxiproxy's JSON: request bodies, response bodies and error bodies,
//! with its field names.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// A proxy as `POST /proxies`, `POST /proxies/{name}`, `POST /populate`
/// and `--config` files give it. Every field may be missing: what is
/// required depends on the endpoint (toxiproxy's rules).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProxyInput {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) listen: Option<String>,
    #[serde(default)]
    pub(crate) upstream: Option<String>,
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
}

/// A toxic as `POST /proxies/{name}/toxics` gives it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ToxicInput {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) stream: Option<String>,
    #[serde(default)]
    pub(crate) toxicity: Option<f32>,
    #[serde(default)]
    pub(crate) attributes: Option<Map<String, Value>>,
}

/// What `POST /proxies/{name}/toxics/{toxic}` may change (toxiproxy reads
/// nothing else from an update).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ToxicUpdate {
    #[serde(default)]
    pub(crate) toxicity: Option<f32>,
    #[serde(default)]
    pub(crate) attributes: Option<Map<String, Value>>,
}

/// Parses a request body as toxiproxy does: any content type, JSON inside;
/// an unreadable body is `400 bad request body: ...`.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_body(&e))
}

/// toxiproxy's error body, `{"error": "...", "status": N}`, with that
/// status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ApiError {
    pub(crate) message: String,
    pub(crate) status: StatusCode,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status,
        }
    }

    pub(crate) fn proxy_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "proxy not found")
    }

    pub(crate) fn proxy_exists() -> Self {
        Self::new(StatusCode::CONFLICT, "proxy already exists")
    }

    pub(crate) fn toxic_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "toxic not found")
    }

    pub(crate) fn toxic_exists() -> Self {
        Self::new(StatusCode::CONFLICT, "toxic already exists")
    }

    pub(crate) fn invalid_stream() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "stream was invalid, can be either upstream or downstream",
        )
    }

    pub(crate) fn invalid_toxic_type() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid toxic type")
    }

    /// `missing required field: <what>`.
    pub(crate) fn missing(what: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("missing required field: {what}"))
    }

    /// `bad request body: <why>`: the body is not the JSON expected, or a
    /// value in it is refused.
    pub(crate) fn bad_body(why: &dyn std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("bad request body: {why}"))
    }

    /// A failure of the server's own (a port that cannot be bound, a name
    /// that does not resolve): toxiproxy answers these with 500 and the
    /// error's text.
    pub(crate) fn internal(why: &dyn std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, why.to_string())
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({ "error": self.message, "status": self.status.as_u16() })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.to_json())
    }
}

/// A JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_have_toxiproxys_fields() {
        let e = ApiError::proxy_not_found();
        assert_eq!(e.to_json(), json!({"error": "proxy not found", "status": 404}));
        assert_eq!(
            ApiError::missing("upstream").message,
            "missing required field: upstream"
        );
        assert_eq!(ApiError::toxic_exists().status, StatusCode::CONFLICT);
    }

    #[test]
    fn bodies_parse_any_field_subset() {
        let p: ProxyInput = parse_body(br#"{"enabled": false}"#).unwrap();
        assert_eq!((p.name.as_str(), p.enabled, p.listen), ("", Some(false), None));
        let err = parse_body::<ProxyInput>(b"").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.starts_with("bad request body: "), "{}", err.message);
        let t: ToxicInput = parse_body(br#"{"type": "latency", "attributes": {"latency": 5}}"#).unwrap();
        assert_eq!(t.kind.as_deref(), Some("latency"));
        assert_eq!(t.attributes.unwrap()["latency"], 5);
    }
}

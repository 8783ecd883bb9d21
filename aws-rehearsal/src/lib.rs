//! What the AWS SDK rehearsals share (`tests/dynamodb.rs`,
//! `tests/dynamodb_dns.rs`): a DynamoDB-shaped endpoint on loopback behind
//! a target's HTTP faults, SDK clients with their retry settings pinned,
//! and an SDK HTTP client whose connections go through the target's
//! connect faults, so that a DNS outage reaches the SDK the way a real one
//! does: when it opens a connection.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::TokioExecutor;
use tower_chaos::Target;
use tower_chaos::http::HttpChaosLayer;
use tower_chaos::io::ChaosConnector;

/// The endpoint's answer to one DynamoDB JSON operation (`x-amz-target`).
async fn dynamodb(headers: HeaderMap) -> ([(&'static str, &'static str); 1], &'static str) {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body = if op.ends_with(".GetItem") {
        r#"{"Item":{"id":{"S":"1"}}}"#
    } else {
        "{}"
    };
    ([("content-type", "application/x-amz-json-1.0")], body)
}

/// Serves the endpoint on 127.0.0.1 in the current runtime (a paused
/// clock stays consistent), behind `target`'s HTTP faults.
///
/// # Panics
///
/// If loopback cannot be bound.
pub async fn serve(target: &Target) -> SocketAddr {
    let router = Router::new()
        .route("/", post(dynamodb))
        .layer(HttpChaosLayer::for_target(target));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    addr
}

/// An SDK client for the endpoint at `addr` over `http_client`, with the
/// retry settings pinned in code (as `AWS_MAX_ATTEMPTS=3`,
/// `AWS_RETRY_MODE=standard` would).
#[must_use]
pub fn client_with(addr: SocketAddr, http_client: SharedHttpClient) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .http_client(http_client)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An SDK client for `addr` over the SDK's own plain-HTTP client.
#[must_use]
pub fn client(addr: SocketAddr) -> aws_sdk_dynamodb::Client {
    client_with(addr, aws_smithy_http_client::Builder::new().build_http())
}

/// The SDK's requests on a hyper-util client whose connector is
/// `ChaosConnector` for a target: connect faults (a DNS failure, a refused
/// connect) reach the SDK as connector errors, its `DispatchFailure`.
#[derive(Clone)]
pub struct ChaosHttpClient {
    client: Client<ChaosConnector<TcpConnector>, SdkBody>,
}

impl fmt::Debug for ChaosHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosHttpClient").finish_non_exhaustive()
    }
}

impl ChaosHttpClient {
    /// Connections through `target`'s connect faults, kept idle for
    /// `idle` between requests (`Duration::ZERO`: none kept, every request
    /// connects and resolves).
    #[must_use]
    pub fn shared(target: &Target, idle: Duration) -> SharedHttpClient {
        let connector = ChaosConnector::new(TcpConnector::new(), target);
        let mut builder = Client::builder(TokioExecutor::new());
        if idle.is_zero() {
            builder.pool_max_idle_per_host(0);
        } else {
            builder
                .pool_idle_timeout(idle)
                .pool_timer(hyper_util::rt::TokioTimer::new());
        }
        SharedHttpClient::new(Self {
            client: builder.build(connector),
        })
    }
}

impl HttpClient for ChaosHttpClient {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for ChaosHttpClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let response = client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    ConnectorError::io(e.into())
                } else {
                    ConnectorError::other(e.into(), None)
                }
            })?;
            let response = response.map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

//! What the SDK suites share: a DynamoDB-shaped fake on loopback (the
//! paused-clock rehearsals cannot drive a real server: its replies take
//! real time) and SDK clients on a `ChaosHttpClient` with their retry
//! settings pinned.
#![allow(dead_code)] // each test binary uses part of it

pub(crate) mod replay;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use tower_chaos_aws::ChaosHttpClient;

static PARTITIONS: AtomicU64 = AtomicU64::new(0);

/// The fake's address and how many requests reached it.
#[derive(Debug, Clone)]
pub(crate) struct Fake {
    pub(crate) addr: SocketAddr,
    received: Arc<AtomicU64>,
}

impl Fake {
    /// Requests the fake answered.
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

/// The fake's answer to one DynamoDB JSON operation (`x-amz-target`).
async fn dynamodb(
    State(received): State<Arc<AtomicU64>>,
    headers: HeaderMap,
) -> ([(&'static str, &'static str); 1], &'static str) {
    received.fetch_add(1, Ordering::SeqCst);
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

/// Serves the fake on 127.0.0.1 in the current runtime (a paused clock
/// stays consistent).
///
/// # Panics
///
/// If loopback cannot be bound.
pub(crate) async fn serve() -> Fake {
    let received = Arc::new(AtomicU64::new(0));
    let router = Router::new()
        .route("/", post(dynamodb))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    Fake { addr, received }
}

/// The SDK's config for the endpoint at `addr` over `http`, dummy static
/// credentials, the standard retry mode with `attempts` attempts (as
/// `AWS_RETRY_MODE=standard`, `AWS_MAX_ATTEMPTS` would), and a retry
/// partition of its own: the SDK shares its retry quota between the
/// clients of a partition, and tests running in parallel must not drain
/// each other's.
pub(crate) fn config(
    addr: SocketAddr,
    http: ChaosHttpClient,
    attempts: u32,
) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .retry_partition(RetryPartition::new(format!(
            "tower-chaos-aws-test-{}",
            PARTITIONS.fetch_add(1, Ordering::SeqCst)
        )))
        .http_client(http)
}

/// An SDK client: [`config`] as it is.
pub(crate) fn client(addr: SocketAddr, http: ChaosHttpClient, attempts: u32) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(config(addr, http, attempts).build())
}

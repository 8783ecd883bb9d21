//! `tower-chaos serve`: a server that speaks toxiproxy's HTTP API, whose
//! proxies are tower-chaos [`Proxy`](tower_chaos::io::Proxy)s and whose
//! toxics are tower-chaos connection faults. toxiproxy's clients (Go, Ruby,
//! Python, Rust, `toxiproxy-cli`) drive it as they drive toxiproxy, without
//! Docker or a Go toolchain.
//!
//! `docs/SERVER.md` (in the tower-chaos repository) lists the endpoints,
//! the toxic types (toxiproxy's and ours, `tower_chaos.*`) and every
//! difference from toxiproxy that remains.
//!
//! # Example
//!
//! The server in a test, on a free port:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::{TcpListener, TcpStream};
//! use tower_chaos_cli::{Registry, serve};
//!
//! let api = TcpListener::bind("127.0.0.1:0").await?;
//! let api_addr = api.local_addr()?;
//! tokio::spawn(serve(api, Registry::new(Some(1)), std::future::pending()));
//!
//! // `POST /proxies` by hand (any HTTP client does it).
//! let upstream = TcpListener::bind("127.0.0.1:0").await?;
//! let body = format!(r#"{{"name":"db","listen":"127.0.0.1:0","upstream":"{}"}}"#, upstream.local_addr()?);
//! let mut http = TcpStream::connect(api_addr).await?;
//! http.write_all(format!("POST /proxies HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes()).await?;
//! let mut answer = String::new();
//! http.read_to_string(&mut answer).await?;
//! assert!(answer.starts_with("HTTP/1.1 201 Created"), "{answer}");
//! assert!(answer.contains(r#""name":"db""#) && answer.contains(r#""enabled":true"#));
//! # Ok(()) }
//! ```

mod api;
mod export;
mod model;
mod play;
mod registry;
mod toxics;

use std::future::Future;
use std::io;

use tokio::net::TcpListener;

pub use export::{ChaosMeshPlacement, export_chaos_mesh, export_toxiproxy};
pub use play::{PlayError, play};
pub use registry::{PopulateError, Registry};

/// Serves toxiproxy's HTTP API on `listener` over the proxies of
/// `registry`, until `shutdown` completes (then the API stops; the proxies
/// stop when the last clone of `registry` is dropped). See the
/// [crate example](crate#example).
///
/// # Errors
///
/// The listener failed.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    tracing::info!(
        target: "tower_chaos",
        api = %listener.local_addr()?,
        version = api::VERSION,
        "toxiproxy-compatible API listening"
    );
    axum::serve(listener, api::router(registry))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The toxic types the server knows: toxiproxy's (`latency`, `bandwidth`,
/// `slow_close`, `timeout`, `reset_peer`, `slicer`, `limit_data`, `noop`),
/// then ours, named `tower_chaos.*`.
///
/// ```
/// let types: Vec<_> = tower_chaos_cli::toxic_types().collect();
/// assert_eq!(types[0], "latency");
/// assert!(types.contains(&"tower_chaos.refuse"));
/// ```
pub fn toxic_types() -> impl Iterator<Item = &'static str> {
    toxics::type_names()
}

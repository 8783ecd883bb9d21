//! The server on 127.0.0.1:0 and an echo upstream, for async tests (same
//! runtime) and for the blocking toxiproxy client (a runtime of their own).

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tower_chaos_cli::{Registry, serve};

/// An echo server on 127.0.0.1:0: every connection gets back what it sends,
/// and a close once the client closes.
pub(crate) async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = listener.local_addr().expect("echo address");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// The API on 127.0.0.1:0 over a fresh registry (seed 1), served on the
/// current runtime; returns its address.
pub(crate) async fn api() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind api");
    let addr = listener.local_addr().expect("api address");
    tokio::spawn(serve(listener, Registry::new(Some(1)), std::future::pending()));
    addr
}

/// The API and an echo upstream on a runtime of their own, for clients that
/// block (toxiproxy's Rust client).
pub(crate) struct Background {
    pub(crate) api: SocketAddr,
    pub(crate) echo: SocketAddr,
    _rt: Runtime,
}

impl Background {
    pub(crate) fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (api, echo) = rt.block_on(async { (api().await, echo().await) });
        Self { api, echo, _rt: rt }
    }
}

//! Dropping the connection, and the "lost reply" (the inner service ran,
//! the client never hears back), as real clients report them.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use support::{chain, chaos, has_source, hyper_h1, hyper_h2, reqwest_h1, reqwest_h2, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_chaos::http::{BodyFault, HttpFault};
use tower_chaos::{FaultKind, Target};

fn app(fault: HttpFault, hits: Arc<AtomicUsize>) -> (Router, Target) {
    let layer = chaos("api", fault);
    let target = layer.target().clone();
    let router = Router::new()
        .route(
            "/",
            get(move || async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "reply"
            }),
        )
        .layer(layer);
    (router, target)
}

/// Every client fails to get any response: HTTP/1 sees the connection
/// close, HTTP/2 sees the stream reset with `INTERNAL_ERROR`.
async fn assert_no_response_reaches_any_client(fault: HttpFault) -> usize {
    let hits = Arc::new(AtomicUsize::new(0));
    let (router, _) = app(fault, hits.clone());
    let addr = serve(router).await;
    let url = format!("http://{addr}/");

    for (name, client) in [("reqwest-h1", reqwest_h1()), ("reqwest-h2", reqwest_h2())] {
        let err = client.get(&url).send().await.unwrap_err();
        assert!(err.is_request(), "{name}: {}", chain(&err));
        let text = chain(&err);
        if name.ends_with("h1") {
            assert!(
                text.contains("connection closed before message completed"),
                "{name}: {text}"
            );
        } else {
            assert!(
                text.contains("stream error received: unexpected internal error"),
                "{name}: {text}"
            );
        }
    }

    let err = hyper_h1().get(url.parse().unwrap()).await.unwrap_err();
    let hyper_err = has_source::<hyper::Error>(&err).expect("a hyper error");
    assert!(hyper_err.is_incomplete_message(), "{}", chain(&err));

    let err = hyper_h2().get(url.parse().unwrap()).await.unwrap_err();
    let hyper_err = has_source::<hyper::Error>(&err).expect("a hyper error");
    assert!(!hyper_err.is_incomplete_message());
    assert!(
        chain(&err).contains("unexpected internal error"),
        "{}",
        chain(&err)
    );

    hits.load(Ordering::SeqCst)
}

#[tokio::test]
async fn drop_connection_without_calling_the_service() {
    let hits = assert_no_response_reaches_any_client(HttpFault::DropConnection).await;
    assert_eq!(hits, 0);
}

#[tokio::test]
async fn lost_reply_calls_the_service_then_drops() {
    let hits =
        assert_no_response_reaches_any_client(HttpFault::ResponseBody(BodyFault::abort_after(0))).await;
    assert_eq!(hits, 4, "the write happened, the reply never came");
}

/// On the wire (HTTP/1): not a byte of response, then EOF.
#[tokio::test]
async fn http1_connection_closes_with_nothing_written() {
    let (router, target) = app(HttpFault::DropConnection, Arc::default());
    let addr = serve(router).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let n = stream.read_to_end(&mut received).await.unwrap();
    assert_eq!(n, 0, "got {:?}", String::from_utf8_lossy(&received));
    assert_eq!(target.report().injected(FaultKind::DropConnection), 1);
}

//! exploration
mod support;
use std::time::Duration;
use axum::{Router, routing::get, body::Body};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use support::*;
use tower_chaos::http::*;

fn app(fault: HttpFault) -> Router {
    Router::new()
        .route("/fixed", get(|| async { vec![b'x'; 1000] }))
        .route("/chunked", get(|| async { Body::new(Chunked::new(10, 100)) }))
        .layer(HttpChaosLayer::new("t").fault(fault))
}

async fn probe(name: &str, fault: HttpFault) {
    let addr = serve(app(fault)).await;
    for path in ["fixed", "chunked"] {
        let url = format!("http://{addr}/{path}");
        for (cname, c) in [("reqwest-h1", reqwest_h1()), ("reqwest-h2", reqwest_h2())] {
            let r = tokio::time::timeout(Duration::from_secs(5), async {
                match c.get(&url).send().await {
                    Err(e) => format!("send error: {}", chain(&e)),
                    Ok(resp) => {
                        let s = resp.status();
                        let h = format!("{:?}", resp.headers().get("content-length"));
                        match resp.bytes().await {
                            Ok(b) => format!("{s} cl={h} body ok {} bytes", b.len()),
                            Err(e) => format!("{s} cl={h} body error: {}", chain(&e)),
                        }
                    }
                }
            }).await.unwrap_or_else(|_| "timeout".into());
            println!("{name} {path} {cname}: {r}");
        }
        for (cname, c) in [("hyper-h1", hyper_h1()), ("hyper-h2", hyper_h2())] {
            let r = tokio::time::timeout(Duration::from_secs(5), async {
                match c.get(url.parse().unwrap()).await {
                    Err(e) => format!("send error: {} / {:?}", chain(&e), e),
                    Ok(resp) => {
                        let s = resp.status();
                        let h = format!("{:?}", resp.headers().get("content-length"));
                        match resp.into_body().collect().await {
                            Ok(b) => format!("{s} cl={h} body ok {} bytes", b.to_bytes().len()),
                            Err(e) => format!("{s} cl={h} body error: {} / {:?}", chain(&e), e),
                        }
                    }
                }
            }).await.unwrap_or_else(|_| "timeout".into());
            println!("{name} {path} {cname}: {r}");
        }
    }
}

#[tokio::test]
async fn explore() {
    probe("drop", HttpFault::DropConnection).await;
    probe("truncate", BodyFault::truncate_after(150).into()).await;
    probe("abort", BodyFault::abort_after(150).into()).await;
    probe("abort0", BodyFault::abort_after(0).into()).await;
    let _ = Full::<Bytes>::default();
}

#[tokio::test(start_paused = true)]
async fn explore_throttle() {
    let addr = serve(app(BodyFault::throttle(500).unwrap().into())).await;
    let start = tokio::time::Instant::now();
    let mut resp = reqwest_h2().get(format!("http://{addr}/fixed")).send().await.unwrap();
    println!("head at {:?}", start.elapsed());
    while let Some(c) = resp.chunk().await.unwrap() {
        println!("{} at {:?}", c.len(), start.elapsed());
    }
}

#[tokio::test(start_paused = true)]
async fn explore_stall() {
    let addr = serve(app(BodyFault::stall_after(100).into())).await;
    let start = tokio::time::Instant::now();
    let c = reqwest::Client::builder().http1_only().no_proxy().timeout(Duration::from_secs(5)).build().unwrap();
    let mut resp = c.get(format!("http://{addr}/fixed")).send().await.unwrap();
    println!("head at {:?}", start.elapsed());
    loop { match resp.chunk().await {
        Ok(Some(c)) => println!("{} at {:?}", c.len(), start.elapsed()),
        Ok(None) => { println!("end at {:?}", start.elapsed()); break }
        Err(e) => { println!("err {} at {:?}", chain(&e), start.elapsed()); break }
    }}
}

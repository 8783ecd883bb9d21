//! gRPC faults as tonic clients see them: every code arrives as the right
//! `tonic::Code`, on the server side (layer in tonic's `Server::builder`)
//! and on the client side (layer around a `Channel`).

use crate::support;

use std::net::SocketAddr;

use support::grpc::{EchoServer, say};
use support::{chaos, quiet};
use tonic::Code;
use tonic::transport::{Channel, Server, server::TcpIncoming};
use tower::Layer;
use tower_chaos::FaultKind;
use tower_chaos::http::{GrpcCode, HttpChaosLayer, HttpFault, RequestMatcher, SyntheticResponse};

async fn serve(layer: HttpChaosLayer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        Server::builder()
            .layer(layer)
            .add_service(EchoServer)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn tonic_code(code: GrpcCode) -> Code {
    Code::from_i32(i32::from(code as u16))
}

#[tokio::test]
async fn passes_through_when_nothing_matches() {
    let layer = chaos(
        "echo",
        SyntheticResponse::grpc_unavailable().when(RequestMatcher::grpc_method("test.Echo", "Other")),
    );
    let target = layer.target().clone();
    let addr = serve(layer).await;
    let reply = say(channel(addr).await, "hello").await.unwrap();
    assert_eq!(reply, "hello");
    let report = target.report();
    assert_eq!((report.seen, report.total_injected()), (1, 0));
}

#[tokio::test]
async fn every_code_arrives_as_the_tonic_code() {
    for code in GrpcCode::ALL.into_iter().filter(|c| *c != GrpcCode::Ok) {
        let message = "injected: 100% down\n(é)";
        let layer = chaos(
            "echo",
            SyntheticResponse::grpc(code, message).when(RequestMatcher::grpc_service("test.Echo")),
        );
        let target = layer.target().clone();
        let addr = serve(layer).await;
        let status = say(channel(addr).await, "hello").await.unwrap_err();
        assert_eq!(status.code(), tonic_code(code), "{code}: {status:?}");
        assert_eq!(status.message(), message, "grpc-message is percent-decoded back");
        assert_eq!(target.report().injected(FaultKind::GrpcStatus), 1);
    }
}

#[tokio::test]
async fn ok_code_without_a_message_is_a_missing_reply() {
    let layer = chaos("echo", SyntheticResponse::grpc(GrpcCode::Ok, ""));
    let addr = serve(layer).await;
    let err = say(channel(addr).await, "hello").await.unwrap_err();
    // A trailers-only OK carries no message: a unary client reports that.
    assert_eq!(err.code(), Code::Internal, "{err:?}");
}

#[tokio::test]
async fn helpers_map_to_their_codes() {
    for (response, code) in [
        (SyntheticResponse::grpc_unavailable(), Code::Unavailable),
        (
            SyntheticResponse::grpc_deadline_exceeded(),
            Code::DeadlineExceeded,
        ),
        (
            SyntheticResponse::grpc_resource_exhausted(),
            Code::ResourceExhausted,
        ),
        (SyntheticResponse::grpc_internal(), Code::Internal),
    ] {
        let addr = serve(chaos("echo", response)).await;
        let status = say(channel(addr).await, "x").await.unwrap_err();
        assert_eq!(status.code(), code);
    }
}

#[tokio::test]
async fn client_side_layer_around_a_channel() {
    let addr = serve(quiet("server")).await;
    let chaos = chaos(
        "echo-client",
        SyntheticResponse::grpc_resource_exhausted().when(RequestMatcher::grpc_method("test.Echo", "Say")),
    );
    let target = chaos.target().clone();
    let client = chaos.layer(channel(addr).await);
    let status = say(client, "hello").await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(target.report().injected(FaultKind::GrpcStatus), 1);
}

#[tokio::test]
async fn dropped_stream_is_internal() {
    let addr = serve(chaos("echo", HttpFault::DropConnection)).await;
    let status = say(channel(addr).await, "hello").await.unwrap_err();
    // The HTTP/2 stream is reset with INTERNAL_ERROR before any header.
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("h2 protocol error"), "{status:?}");
}

//! A hand-written tonic service and client, so the gRPC tests need no
//! `protoc`: the messages are raw bytes, the codec copies them.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Status, server::NamedService};

/// Copies message bytes in and out.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        *self
    }

    fn decoder(&mut self) -> Self {
        *self
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// `test.Echo/Say` answers with the request's bytes.
#[derive(Debug, Clone, Default)]
pub struct EchoServer;

impl NamedService for EchoServer {
    const NAME: &'static str = "test.Echo";
}

#[derive(Debug, Clone, Copy)]
struct Say;

impl tower::Service<tonic::Request<Bytes>> for Say {
    type Response = tonic::Response<Bytes>;
    type Error = Status;
    type Future = std::future::Ready<Result<Self::Response, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(request.into_inner())))
    }
}

impl tower::Service<http::Request<Body>> for EchoServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() == "/test.Echo/Say" {
                let mut grpc = tonic::server::Grpc::new(BytesCodec);
                Ok(grpc.unary(Say, request).await)
            } else {
                Ok(Status::unimplemented("no such method").into_http())
            }
        })
    }
}

/// Calls `test.Echo/Say` through any gRPC transport.
pub async fn say<T>(transport: T, message: &'static str) -> Result<Bytes, Status>
where
    T: tonic::client::GrpcService<Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError>,
{
    let mut client = tonic::client::Grpc::new(transport);
    client
        .ready()
        .await
        .map_err(|e| Status::unknown(format!("not ready: {}", e.into())))?;
    let response = client
        .unary(
            tonic::Request::new(Bytes::from_static(message.as_bytes())),
            http::uri::PathAndQuery::from_static("/test.Echo/Say"),
            BytesCodec,
        )
        .await?;
    Ok(response.into_inner())
}

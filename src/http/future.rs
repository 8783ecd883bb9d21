//! The response future of [`HttpChaos`](super::HttpChaos).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::body::{BodyCounters, BodyFault, ChaosBody};
use super::header::HeaderFaultError;
use super::marker::{FaultKind, Injected};
use super::response::SyntheticResponse;

/// A response that does not come from the inner service.
#[derive(Debug)]
pub(crate) enum Synth {
    Response(SyntheticResponse),
    Drop,
}

impl Synth {
    pub(crate) fn bad_header(err: &HeaderFaultError) -> Self {
        Self::Response(
            SyntheticResponse::from_status(StatusCode::BAD_REQUEST)
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )
                .body(format!("tower-chaos: {err}")),
        )
    }

    fn into_response<B>(self, target: Arc<str>) -> Response<ChaosBody<B>> {
        match self {
            Self::Response(r) => r.to_response(target),
            Self::Drop => {
                let mut response = Response::new(ChaosBody::drop_connection());
                response
                    .extensions_mut()
                    .insert(Injected::new(FaultKind::DropConnection, target));
                response
            }
        }
    }
}

/// What to do to the inner response.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) body: Option<BodyFault>,
    pub(crate) marker: Injected,
    pub(crate) counters: BodyCounters,
}

impl Applied {
    fn apply<B>(self, response: Response<B>) -> Response<ChaosBody<B>> {
        let (mut parts, body) = response.into_parts();
        parts.extensions.insert(self.marker);
        let body = match self.body {
            Some(fault) => ChaosBody::with_fault(body, fault).counted(self.counters),
            None => ChaosBody::new(body),
        };
        Response::from_parts(parts, body)
    }
}

/// What happens once a delay has elapsed (boxed as a whole in `State::Delay`).
#[allow(clippy::large_enum_variant)]
enum Next<S, B> {
    Call {
        service: S,
        request: Request<B>,
        applied: Applied,
    },
    Respond {
        synth: Synth,
        target: Arc<str>,
    },
}

pin_project! {
    /// Response future of [`HttpChaos`](super::HttpChaos).
    ///
    /// On the pass-through path it is the inner future plus a tag: no
    /// allocation, no lock.
    ///
    /// ```
    /// use tower::{Layer, Service};
    /// use tower_chaos::http::{HttpChaosLayer, ResponseFuture};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let mut svc = HttpChaosLayer::new("api").layer(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }));
    /// let future = svc.call(http::Request::new(()));
    /// assert!(format!("{future:?}").contains("pass"));
    /// assert_eq!(future.await.unwrap().status(), http::StatusCode::OK);
    /// # });
    /// ```
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Call {
            #[pin]
            future: S::Future,
            applied: Option<Applied>,
        },
        Delay {
            sleep: Pin<Box<Sleep>>,
            next: Option<Box<Next<S, B>>>,
        },
        Ready {
            synth: Option<(Synth, Arc<str>)>,
        },
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Call { applied: None, .. } => "pass",
            State::Call { applied: Some(_), .. } => "call",
            State::Delay { .. } => "delay",
            State::Ready { .. } => "ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(crate) const fn pass(future: S::Future) -> Self {
        Self {
            state: State::Call {
                future,
                applied: None,
            },
        }
    }

    pub(crate) const fn faulted(future: S::Future, applied: Applied) -> Self {
        Self {
            state: State::Call {
                future,
                applied: Some(applied),
            },
        }
    }

    pub(crate) const fn ready(synth: Synth, target: Arc<str>) -> Self {
        Self {
            state: State::Ready {
                synth: Some((synth, target)),
            },
        }
    }

    pub(crate) fn delay_then_respond(delay: Duration, synth: Synth, target: Arc<str>) -> Self {
        Self {
            state: State::Delay {
                sleep: Box::pin(tokio::time::sleep(delay)),
                next: Some(Box::new(Next::Respond { synth, target })),
            },
        }
    }

    pub(crate) fn delay_then_call(
        delay: Duration,
        service: S,
        request: Request<B>,
        applied: Applied,
    ) -> Self {
        Self {
            state: State::Delay {
                sleep: Box::pin(tokio::time::sleep(delay)),
                next: Some(Box::new(Next::Call {
                    service,
                    request,
                    applied,
                })),
            },
        }
    }
}

impl<S, B, ResB> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Output = Result<Response<ChaosBody<ResB>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Call { future, applied } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(match applied.take() {
                        None => response.map(ChaosBody::new),
                        Some(applied) => applied.apply(response),
                    }));
                }
                StateProj::Delay { sleep, next } => {
                    ready!(sleep.as_mut().poll(cx));
                    match *next.take().expect("polled after completion") {
                        Next::Call {
                            mut service,
                            request,
                            applied,
                        } => {
                            let future = service.call(request);
                            state.set(State::Call {
                                future,
                                applied: Some(applied),
                            });
                        }
                        Next::Respond { synth, target } => {
                            return Poll::Ready(Ok(synth.into_response(target)));
                        }
                    }
                }
                StateProj::Ready { synth } => {
                    let (synth, target) = synth.take().expect("polled after completion");
                    return Poll::Ready(Ok(synth.into_response(target)));
                }
            }
        }
    }
}

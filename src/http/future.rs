//! The response future of [`HttpChaos`](super::HttpChaos).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::body::{BodyCounters, BodyFault, ChaosBody};
use super::header::HeaderFaultError;
use super::marker::Injected;
use super::response::SyntheticResponse;
use crate::rule::ActiveGuard;

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
}

/// A synthesized answer, its marker, and the active-fault slots it holds
/// until the response future completes.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) synth: Synth,
    pub(crate) marker: Injected,
    pub(crate) guard: Option<ActiveGuard>,
}

impl Answer {
    fn into_response<B>(self) -> Response<ChaosBody<B>> {
        let Self { synth, marker, guard } = self;
        let response = match synth {
            Synth::Response(r) => r.to_marked_response(marker),
            Synth::Drop => {
                let mut response = Response::new(ChaosBody::drop_connection());
                response.extensions_mut().insert(marker);
                response
            }
        };
        // Answered: the fault no longer counts as active.
        drop(guard);
        response
    }
}

/// What to do to the inner response.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) body: Option<BodyFault>,
    pub(crate) marker: Injected,
    pub(crate) counters: BodyCounters,
    pub(crate) guard: Option<ActiveGuard>,
}

impl Applied {
    fn apply<B>(self, response: Response<B>) -> Response<ChaosBody<B>> {
        let (mut parts, body) = response.into_parts();
        parts.extensions.insert(self.marker);
        let body = match self.body {
            // The body holds the active-fault slots until it ends.
            Some(fault) => ChaosBody::injected(body, fault, self.counters, self.guard),
            None => ChaosBody::new(body),
        };
        Response::from_parts(parts, body)
    }
}

/// What happens once a delay has elapsed.
#[allow(clippy::large_enum_variant)] // lives in `Delayed`, boxed as a whole
enum Next<S, B> {
    Call {
        service: S,
        request: Request<B>,
        applied: Box<Applied>,
    },
    Respond(Box<Answer>),
}

pin_project! {
    /// A delay and what follows it, in one allocation.
    struct Delayed<S, B> {
        #[pin]
        sleep: Sleep,
        next: Option<Next<S, B>>,
    }
}

pin_project! {
    /// Response future of [`HttpChaos`](super::HttpChaos).
    ///
    /// On the pass-through path it is the inner future plus a tag: no
    /// allocation, no lock. A faulted request keeps its state (the marker,
    /// the body fault, a delayed request) in one allocation made only when a
    /// fault applies. Dropping it at any point releases the active-fault
    /// slots it holds; counters were updated at `call`.
    ///
    /// ```
    /// use tower::{Layer, Service};
    /// use tower_chaos::http::{HttpChaosLayer, ResponseFuture};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let layer = HttpChaosLayer::builder("api").seed(1).build().unwrap();
    /// let mut svc = layer.layer(tower::service_fn(|_: http::Request<()>| async {
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
            applied: Option<Box<Applied>>,
        },
        Delay {
            delayed: Pin<Box<Delayed<S, B>>>,
        },
        Ready {
            answer: Option<Box<Answer>>,
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
    #[inline(always)]
    pub(crate) const fn pass(future: S::Future) -> Self {
        Self {
            state: State::Call {
                future,
                applied: None,
            },
        }
    }

    pub(crate) fn faulted(future: S::Future, applied: Applied) -> Self {
        Self {
            state: State::Call {
                future,
                applied: Some(Box::new(applied)),
            },
        }
    }

    pub(crate) fn ready(answer: Answer) -> Self {
        Self {
            state: State::Ready {
                answer: Some(Box::new(answer)),
            },
        }
    }

    pub(crate) fn delay_then_respond(delay: std::time::Duration, answer: Answer) -> Self {
        Self::delayed(delay, Next::Respond(Box::new(answer)))
    }

    pub(crate) fn delay_then_call(
        delay: std::time::Duration,
        service: S,
        request: Request<B>,
        applied: Applied,
    ) -> Self {
        Self::delayed(
            delay,
            Next::Call {
                service,
                request,
                applied: Box::new(applied),
            },
        )
    }

    fn delayed(delay: std::time::Duration, next: Next<S, B>) -> Self {
        Self {
            state: State::Delay {
                delayed: Box::pin(Delayed {
                    sleep: tokio::time::sleep(delay),
                    next: Some(next),
                }),
            },
        }
    }
}

impl<S, B, ResB> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Output = Result<Response<ChaosBody<ResB>>, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        if let StateProj::Call { future, applied } = state.as_mut().project() {
            // The pass-through path: the inner response, its body wrapped.
            let response = ready!(future.poll(cx))?;
            return Poll::Ready(Ok(match applied.take() {
                None => response.map(ChaosBody::new),
                Some(applied) => applied.apply(response),
            }));
        }
        poll_faulted(state, cx)
    }
}

/// Polls a delayed or synthesized response (the inner call, once a delay
/// has elapsed, continues on the pass-through path above).
#[cold]
#[inline(never)]
fn poll_faulted<S, B, ResB>(
    mut state: Pin<&mut State<S, B>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Response<ChaosBody<ResB>>, S::Error>>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    loop {
        match state.as_mut().project() {
            StateProj::Call { future, applied } => {
                let response = ready!(future.poll(cx))?;
                return Poll::Ready(Ok(match applied.take() {
                    None => response.map(ChaosBody::new),
                    Some(applied) => applied.apply(response),
                }));
            }
            StateProj::Delay { delayed } => {
                let delayed = delayed.as_mut().project();
                ready!(delayed.sleep.poll(cx));
                match delayed.next.take() {
                    Some(Next::Call {
                        mut service,
                        request,
                        applied,
                    }) => {
                        let future = service.call(request);
                        state.set(State::Call {
                            future,
                            applied: Some(applied),
                        });
                    }
                    Some(Next::Respond(answer)) => return Poll::Ready(Ok(answer.into_response())),
                    // Polled again after completion: stay pending rather
                    // than panic at request time.
                    None => return Poll::Pending,
                }
            }
            StateProj::Ready { answer } => {
                return answer
                    .take()
                    .map_or(Poll::Pending, |a| Poll::Ready(Ok(a.into_response())));
            }
        }
    }
}

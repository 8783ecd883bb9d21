//! The response future of [`HttpChaos`](super::HttpChaos).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::body::{BodyCounters, BodyFault, ChaosBody};
use super::header::HeaderFaultError;
use super::marker::Injected;
use super::response::SyntheticResponse;
use crate::cold_box::{ColdBox, ColdPoll};
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
#[allow(clippy::large_enum_variant)] // lives in `Faulted`, boxed as a whole
enum Next<S, B> {
    Call {
        service: S,
        request: Request<B>,
        applied: Applied,
    },
    Respond(Answer),
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
        Pass { #[pin] future: S::Future },
        Faulted { faulted: ColdBox<Faulted<S, B>> },
    }
}

pin_project! {
    /// A faulted request: its steps, the marker, the body fault and the
    /// active-fault slots, in one allocation made only when a fault applies.
    pub(crate) struct Faulted<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        step: Step<S, B>,
    }
}

pin_project! {
    #[project = StepProj]
    enum Step<S, B>
    where
        S: Service<Request<B>>,
    {
        /// The inner call, its response to be marked (and its body faulted).
        Call { #[pin] future: S::Future, applied: Option<Applied> },
        Delay { #[pin] sleep: Sleep, next: Option<Next<S, B>> },
        /// A synthesized answer, ready.
        Answer { answer: Option<Answer> },
        /// The inner call's result, ready.
        Done { result: Option<Result<S::Response, S::Error>>, applied: Option<Applied> },
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Pass { .. } => "pass",
            State::Faulted { faulted } => match faulted.get().map(|f| &f.step) {
                Some(Step::Call { .. }) => "call",
                Some(Step::Delay { .. }) => "delay",
                Some(Step::Answer { .. } | Step::Done { .. }) | None => "ready",
            },
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
            state: State::Pass { future },
        }
    }

    /// Around the state of a faulted request (built out of line; only the
    /// box crosses, in a register).
    #[inline]
    pub(crate) fn faulted(faulted: Pin<Box<Faulted<S, B>>>) -> Self {
        Self {
            state: State::Faulted {
                faulted: ColdBox::new(faulted),
            },
        }
    }
}

impl<S, B> Faulted<S, B>
where
    S: Service<Request<B>>,
{
    fn new(step: Step<S, B>) -> Pin<Box<Self>> {
        Box::pin(Self { step })
    }

    /// The inner call is made; its response gets `applied`.
    pub(crate) fn call(future: S::Future, applied: Applied) -> Pin<Box<Self>> {
        Self::new(Step::Call {
            future,
            applied: Some(applied),
        })
    }

    /// Answers without calling the inner service.
    pub(crate) fn answer(answer: Answer) -> Pin<Box<Self>> {
        Self::new(Step::Answer { answer: Some(answer) })
    }

    pub(crate) fn delay_then_respond(delay: std::time::Duration, answer: Answer) -> Pin<Box<Self>> {
        Self::delayed(delay, Next::Respond(answer))
    }

    pub(crate) fn delay_then_call(
        delay: std::time::Duration,
        service: S,
        request: Request<B>,
        applied: Applied,
    ) -> Pin<Box<Self>> {
        Self::delayed(
            delay,
            Next::Call {
                service,
                request,
                applied,
            },
        )
    }

    fn delayed(delay: std::time::Duration, next: Next<S, B>) -> Pin<Box<Self>> {
        Self::new(Step::Delay {
            sleep: tokio::time::sleep(delay),
            next: Some(next),
        })
    }
}

impl<S, B, ResB> ColdPoll for Faulted<S, B>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Output = Result<Response<ChaosBody<ResB>>, S::Error>;

    /// Drives the faulted request; `true` once its answer can be taken with
    /// [`take_output`](Self::take_output).
    #[cold]
    #[inline(never)]
    fn advance(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let mut step = self.project().step;
        loop {
            let next = match step.as_mut().project() {
                StepProj::Call { future, applied } => {
                    let Poll::Ready(result) = future.poll(cx) else {
                        return false;
                    };
                    Step::Done {
                        result: Some(result),
                        applied: applied.take(),
                    }
                }
                StepProj::Delay { sleep, next } => {
                    if sleep.poll(cx).is_pending() {
                        return false;
                    }
                    match next.take() {
                        Some(Next::Call {
                            mut service,
                            request,
                            applied,
                        }) => Step::Call {
                            future: service.call(request),
                            applied: Some(applied),
                        },
                        Some(Next::Respond(answer)) => Step::Answer { answer: Some(answer) },
                        // Polled again after completion: stay pending
                        // rather than panic at request time.
                        None => return false,
                    }
                }
                StepProj::Answer { .. } | StepProj::Done { .. } => return true,
            };
            step.set(next);
        }
    }

    /// The answer [`advance`](Self::advance) found ready (`None` once taken).
    #[inline]
    fn take_output(self: Pin<&mut Self>) -> Option<Self::Output> {
        match self.project().step.project() {
            StepProj::Done { result, applied } => Some(match result.take()? {
                Ok(response) => Ok(match applied.take() {
                    Some(applied) => applied.apply(response),
                    None => response.map(ChaosBody::new),
                }),
                Err(e) => Err(e),
            }),
            StepProj::Answer { answer } => Some(Ok(answer.take()?.into_response())),
            _ => None,
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
        match self.project().state.project() {
            // The pass-through path: the inner response, its body wrapped.
            StateProj::Pass { future } => match future.poll(cx) {
                Poll::Ready(Ok(response)) => Poll::Ready(Ok(response.map(ChaosBody::new))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
            // As in the core's future: a cold `advance`, the answer moved
            // out inline (`ColdBox::poll`).
            StateProj::Faulted { faulted } => faulted.poll(cx),
        }
    }
}

//! [`ChaosBody`]: the body type that passes through, faults, or
//! synthesizes a body.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::config::BodyFault;
use super::counters::BodyCounters;
use super::error::BodyFaultError;
use super::state::{FaultState, Phase, poll_faulted};
use crate::BoxError;
use crate::cold_box::ColdBox;
use crate::rule::ActiveGuard;

pin_project! {
    /// A body that is either the inner body (passed through untouched, or
    /// with a [`BodyFault`]) or a body synthesized by a fault.
    ///
    /// The pass-through form adds no allocation and no work beyond a match.
    /// Use it on the client side to fault a request body, and it is the
    /// response body type of [`HttpChaos`](crate::http::HttpChaos).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use tower_chaos::http::{BodyFault, ChaosBody};
    ///
    /// # tokio_test_block_on(async {
    /// let body = ChaosBody::with_fault(Full::new(Bytes::from("hello world")), BodyFault::truncate_after(5));
    /// let collected = body.collect().await.unwrap().to_bytes();
    /// assert_eq!(collected, "hello");
    /// # });
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Its error type is [`BoxError`]: the inner body's error, or a
    /// [`BodyFaultError`].
    ///
    /// # Panics
    ///
    /// A delayed or throttled body sleeps on tokio's timer, so it must be
    /// polled inside a tokio runtime with time enabled (as hyper, axum and
    /// tonic always are).
    pub struct ChaosBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Pass { #[pin] body: B },
        // Both boxes drop out of line (`ColdBox`), so that dropping a
        // pass-through body inlines into the caller.
        Faulted { #[pin] body: B, state: ColdBox<FaultState> },
        // Boxed so that the pass-through form stays as small as the inner
        // body plus a tag: responses up to 128 bytes move without a
        // `memcpy` call.
        Full { data: ColdBox<Bytes> },
        Dropped { done: bool },
    }
}

impl<B> fmt::Debug for ChaosBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ChaosBody");
        match &self.kind {
            Kind::Pass { .. } => d.field("kind", &"pass"),
            Kind::Faulted { state, .. } => d.field("fault", &state.get().map(|s| &s.fault)),
            Kind::Full { data } => d.field("full", &data.get().map_or(0, Bytes::len)),
            Kind::Dropped { .. } => d.field("kind", &"dropped"),
        };
        d.finish_non_exhaustive()
    }
}

impl<B> ChaosBody<B> {
    /// Passes `body` through untouched.
    ///
    /// ```
    /// use tower_chaos::http::ChaosBody;
    /// let body = ChaosBody::new(http_body_util::Empty::<bytes::Bytes>::new());
    /// assert!(!body.is_injected());
    /// ```
    pub const fn new(body: B) -> Self {
        Self {
            kind: Kind::Pass { body },
        }
    }

    /// Applies `fault` to `body`. A [no-op](BodyFault::is_noop) fault gives
    /// the pass-through form.
    ///
    /// ```
    /// use tower_chaos::http::{BodyFault, ChaosBody};
    /// let body = ChaosBody::with_fault(http_body_util::Empty::<bytes::Bytes>::new(), BodyFault::stall_after(0));
    /// assert!(body.is_injected());
    /// ```
    pub fn with_fault(body: B, fault: BodyFault) -> Self {
        if fault.is_noop() {
            return Self::new(body);
        }
        Self {
            kind: Kind::Faulted {
                body,
                state: ColdBox::new(Box::pin(FaultState::new(fault))),
            },
        }
    }

    /// A complete synthesized body holding `data`.
    ///
    /// ```
    /// use http_body::Body;
    /// use tower_chaos::http::ChaosBody;
    /// let body = ChaosBody::<http_body_util::Empty<bytes::Bytes>>::full("oops");
    /// assert_eq!(body.size_hint().exact(), Some(4));
    /// ```
    pub fn full(data: impl Into<Bytes>) -> Self {
        Self {
            kind: Kind::Full {
                data: ColdBox::new(Box::pin(data.into())),
            },
        }
    }

    /// An empty synthesized body.
    ///
    /// ```
    /// use http_body::Body;
    /// use tower_chaos::http::ChaosBody;
    /// assert!(ChaosBody::<http_body_util::Empty<bytes::Bytes>>::empty().is_end_stream());
    /// ```
    #[must_use]
    pub const fn empty() -> Self {
        Self {
            kind: Kind::Full {
                data: ColdBox::none(),
            },
        }
    }

    /// A body that fails on its first poll with
    /// [`BodyFaultErrorKind::ConnectionDropped`](super::BodyFaultErrorKind::ConnectionDropped): hyper then closes the
    /// HTTP/1 connection or resets the HTTP/2 stream.
    ///
    /// ```
    /// use http_body::Body;
    /// use tower_chaos::http::ChaosBody;
    /// assert!(!ChaosBody::<http_body_util::Empty<bytes::Bytes>>::drop_connection().is_end_stream());
    /// ```
    #[must_use]
    pub const fn drop_connection() -> Self {
        Self {
            kind: Kind::Dropped { done: false },
        }
    }

    /// Attaches byte counters (used only by faulted bodies).
    ///
    /// ```
    /// use tower_chaos::http::{BodyCounters, BodyFault, ChaosBody};
    /// let counters = BodyCounters::new();
    /// let _body = ChaosBody::with_fault((), BodyFault::stall_after(1)).counted(counters.clone());
    /// assert_eq!(counters.passed(), 0);
    /// ```
    #[must_use]
    pub fn counted(mut self, counters: BodyCounters) -> Self {
        if let Kind::Faulted { state, .. } = &mut self.kind {
            if let Some(mut state) = state.get_mut() {
                state.counters = Some(counters);
            }
        }
        self
    }

    /// A faulted response body that counts into a target and holds its
    /// rule's active-fault slots.
    pub(crate) fn injected(
        body: B,
        fault: BodyFault,
        counters: BodyCounters,
        guard: Option<ActiveGuard>,
    ) -> Self {
        let mut state = FaultState::new(fault);
        state.counters = Some(counters);
        state.guard = guard;
        Self {
            kind: Kind::Faulted {
                body,
                state: ColdBox::new(Box::pin(state)),
            },
        }
    }

    /// Whether this body is anything but a pass-through of the inner body.
    ///
    /// ```
    /// use tower_chaos::http::ChaosBody;
    /// assert!(ChaosBody::<()>::drop_connection().is_injected());
    /// assert!(!ChaosBody::new(()).is_injected());
    /// ```
    #[must_use]
    pub const fn is_injected(&self) -> bool {
        !matches!(self.kind, Kind::Pass { .. })
    }

    /// Wraps the body of `request` with `fault`: the client-side way to
    /// fault an upload.
    ///
    /// ```
    /// use tower_chaos::http::{BodyFault, ChaosBody};
    /// let request = http::Request::new(http_body_util::Full::new(bytes::Bytes::from("abc")));
    /// let request = ChaosBody::wrap_request(request, BodyFault::abort_after(1));
    /// assert!(request.body().is_injected());
    /// ```
    pub fn wrap_request(request: http::Request<B>, fault: BodyFault) -> http::Request<Self> {
        request.map(|body| Self::with_fault(body, fault))
    }
}

impl<B> Default for ChaosBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<B> Body for ChaosBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Pass { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Faulted { body, state } => {
                let Some(mut state) = state.get_mut() else {
                    return Poll::Ready(None);
                };
                let state = &mut *state;
                let poll = poll_faulted(body, state, cx);
                if state.phase == Phase::Done {
                    // The fault is over: free its active-fault slots.
                    state.guard = None;
                }
                poll
            }
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(*Pin::into_inner(d))))),
            KindProj::Dropped { done } => {
                if *done {
                    Poll::Ready(None)
                } else {
                    *done = true;
                    Poll::Ready(Some(Err(BodyFaultError::connection_dropped().into())))
                }
            }
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Pass { body } => body.is_end_stream(),
            Kind::Faulted { body, state } => match state.get().map(|s| (s, s.phase)) {
                None | Some((_, Phase::Done)) => true,
                Some((_, Phase::Stalled)) => false,
                Some((state, Phase::Running)) => {
                    !state.cut_inside_frame
                        && state.pending.is_none()
                        && (state.started || state.fault.delay_first_byte.is_zero())
                        && body.is_end_stream()
                        && !state.cut_acts_at_end_of(state.emitted)
                }
            },
            Kind::Full { data } => data.get().is_none_or(Bytes::is_empty),
            Kind::Dropped { .. } => false,
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Pass { body } => body.size_hint(),
            Kind::Faulted { body, state } => {
                let hint = body.size_hint();
                match (hint.exact(), state.get()) {
                    // A stall or an abort at the body's very end: not an
                    // exact length, or an HTTP/1 client would read the
                    // `content-length` bytes as a complete body.
                    (Some(rest), Some(state))
                        if state.cut_acts_at_end_of(state.emitted.saturating_add(rest)) =>
                    {
                        let mut open = SizeHint::new();
                        open.set_lower(rest);
                        open
                    }
                    _ => hint,
                }
            }
            Kind::Full { data } => SizeHint::with_exact(data.get().map_or(0, |d| d.len() as u64)),
            Kind::Dropped { .. } => SizeHint::default(),
        }
    }
}

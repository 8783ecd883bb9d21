//! Streaming body faults: [`ChaosBody`] and [`BodyFault`].

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::cold_box::ColdBox;
use crate::report::ByteCounters;
use crate::rule::ActiveGuard;
use crate::throttle::{Start, Throttle};
use crate::{BoxError, ConfigError, Target};

/// Far enough to never come in a test (tokio's own `sleep` uses 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// What a body fault does once the body has passed its byte limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    End(u64),
    Stall(u64),
    Abort(u64),
}

impl Cut {
    const fn limit(self) -> u64 {
        match self {
            Self::End(n) | Self::Stall(n) | Self::Abort(n) => n,
        }
    }
}

/// A streaming fault applied to a request or response body by [`ChaosBody`].
///
/// A fault has up to three parts, applied in this order: a delay before the
/// first byte, a throttle to a byte rate, and a cut after N bytes (end early,
/// stall forever, or abort with an error). The body is never buffered: data
/// frames pass through as they come, split only where a limit or the
/// throttle falls inside a frame.
///
/// Build one with a constructor and add parts with the `with_*` methods:
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::http::BodyFault;
///
/// let fault = BodyFault::throttle(1024)?
///     .with_delay_first_byte(Duration::from_millis(200))
///     .with_abort_after(4096);
/// assert_eq!(fault.bytes_per_second(), Some(1024));
/// assert_eq!(fault.limit(), Some(4096));
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
///
/// # What clients see
///
/// * [`truncate_after`](Self::truncate_after): the body ends cleanly after N
///   bytes. If the message promised a length (a `Content-Length` header, or
///   an exact size hint from which hyper writes one), hyper notices the short
///   body and closes the connection (HTTP/1) or resets the stream (HTTP/2), so
///   the client reports an incomplete body. Without a promised length
///   (chunked HTTP/1, HTTP/2 without `content-length`) the client sees a
///   complete, shorter body: silent data loss.
/// * [`abort_after`](Self::abort_after): after N bytes the body yields a
///   [`BodyFaultError`]; hyper aborts the message, and the client always
///   reports an error: while reading the body, or from `send` when N is 0.
/// * [`stall_after`](Self::stall_after): after N bytes the body never yields
///   again; the client waits until its own timeout.
///
/// A cut at or past the end of a body that knows it has ended does nothing.
/// A cut at 0 bytes ends or fails the body before hyper has written
/// anything, so the client sees no response at all, as with
/// [`HttpFault::DropConnection`](super::HttpFault::DropConnection) (for an
/// abort; a truncation to 0 bytes does so only when a length was promised).
/// Before ending early or failing after some bytes, the body yields once so
/// hyper flushes the head and those bytes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BodyFault {
    delay_first_byte: Duration,
    bytes_per_second: Option<u64>,
    cut: Option<Cut>,
}

impl BodyFault {
    /// Ends the body cleanly after `bytes` bytes (see [What clients
    /// see](Self#what-clients-see)).
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert_eq!(BodyFault::truncate_after(10).limit(), Some(10));
    /// ```
    #[must_use]
    pub const fn truncate_after(bytes: u64) -> Self {
        Self {
            delay_first_byte: Duration::ZERO,
            bytes_per_second: None,
            cut: Some(Cut::End(bytes)),
        }
    }

    /// After `bytes` bytes the body is pending forever.
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert_eq!(BodyFault::stall_after(0).limit(), Some(0));
    /// ```
    #[must_use]
    pub const fn stall_after(bytes: u64) -> Self {
        Self {
            delay_first_byte: Duration::ZERO,
            bytes_per_second: None,
            cut: Some(Cut::Stall(bytes)),
        }
    }

    /// After `bytes` bytes the body yields a [`BodyFaultError`] of kind
    /// [`BodyFaultErrorKind::Aborted`].
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert_eq!(BodyFault::abort_after(512).limit(), Some(512));
    /// ```
    #[must_use]
    pub const fn abort_after(bytes: u64) -> Self {
        Self {
            delay_first_byte: Duration::ZERO,
            bytes_per_second: None,
            cut: Some(Cut::Abort(bytes)),
        }
    }

    /// Throttles the body to `bytes_per_second`, with the crate's one
    /// throttle (the same as the connection bandwidth limit,
    /// `io::ConnFault::bandwidth`, uses): a token bucket on tokio's clock, paid before bytes pass, in
    /// slices of one 50 ms tick's worth (at least 1 byte). As Envoy's
    /// response rate limit, it starts at the first poll with one tick of
    /// credit, so the first slice goes at once: `L` bytes take
    /// `L / bytes_per_second` seconds less one tick (50 ms).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `body.throttle` when `bytes_per_second`
    /// is zero (use [`stall_after`](Self::stall_after) to stop a body).
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert!(BodyFault::throttle(0).is_err());
    /// assert_eq!(BodyFault::throttle(100)?.bytes_per_second(), Some(100));
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn throttle(bytes_per_second: u64) -> Result<Self, ConfigError> {
        Self::default().with_throttle(bytes_per_second)
    }

    /// Delays the first data frame by `delay`, counted from the first poll
    /// of the body (headers are already on their way).
    ///
    /// Installed as a rule, the delay is limited to 365 days (a longer one
    /// is a [`ConfigError`] naming `http_fault.response_body.delay_first_byte`);
    /// on a [`ChaosBody`] built directly, a delay the clock cannot hold
    /// (`Duration::MAX`) never ends.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::BodyFault;
    /// let fault = BodyFault::delay_first_byte(Duration::from_secs(1));
    /// assert_eq!(fault.first_byte_delay(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub const fn delay_first_byte(delay: Duration) -> Self {
        Self {
            delay_first_byte: delay,
            bytes_per_second: None,
            cut: None,
        }
    }

    /// Adds (or replaces) a throttle; see [`throttle`](Self::throttle).
    ///
    /// # Errors
    ///
    /// As [`throttle`](Self::throttle).
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// let f = BodyFault::truncate_after(10).with_throttle(5)?;
    /// assert_eq!((f.limit(), f.bytes_per_second()), (Some(10), Some(5)));
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn with_throttle(mut self, bytes_per_second: u64) -> Result<Self, ConfigError> {
        if bytes_per_second == 0 {
            return Err(ConfigError::invalid(
                "body.throttle",
                bytes_per_second,
                "must be at least 1 byte per second",
            ));
        }
        self.bytes_per_second = Some(bytes_per_second);
        Ok(self)
    }

    /// Adds (or replaces) a first-byte delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::BodyFault;
    /// let f = BodyFault::stall_after(1).with_delay_first_byte(Duration::from_millis(5));
    /// assert_eq!(f.first_byte_delay(), Duration::from_millis(5));
    /// ```
    #[must_use]
    pub const fn with_delay_first_byte(mut self, delay: Duration) -> Self {
        self.delay_first_byte = delay;
        self
    }

    /// Replaces the cut with a clean end after `bytes` bytes.
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// let f = BodyFault::throttle(10)?.with_truncate_after(3);
    /// assert_eq!((f.limit(), f.bytes_per_second()), (Some(3), Some(10)));
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn with_truncate_after(mut self, bytes: u64) -> Self {
        self.cut = Some(Cut::End(bytes));
        self
    }

    /// Replaces the cut with a stall after `bytes` bytes.
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert_eq!(BodyFault::abort_after(1).with_stall_after(9), BodyFault::stall_after(9));
    /// ```
    #[must_use]
    pub const fn with_stall_after(mut self, bytes: u64) -> Self {
        self.cut = Some(Cut::Stall(bytes));
        self
    }

    /// Replaces the cut with an error after `bytes` bytes.
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert_eq!(BodyFault::stall_after(1).with_abort_after(9), BodyFault::abort_after(9));
    /// ```
    #[must_use]
    pub const fn with_abort_after(mut self, bytes: u64) -> Self {
        self.cut = Some(Cut::Abort(bytes));
        self
    }

    /// The byte count after which the body is cut, if it is.
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert_eq!(BodyFault::throttle(1)?.limit(), None);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn limit(&self) -> Option<u64> {
        match self.cut {
            Some(cut) => Some(cut.limit()),
            None => None,
        }
    }

    /// The throttle rate, if any.
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert_eq!(BodyFault::truncate_after(1).bytes_per_second(), None);
    /// ```
    #[must_use]
    pub const fn bytes_per_second(&self) -> Option<u64> {
        self.bytes_per_second
    }

    /// The first-byte delay (zero when none).
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert!(BodyFault::truncate_after(1).first_byte_delay().is_zero());
    /// ```
    #[must_use]
    pub const fn first_byte_delay(&self) -> Duration {
        self.delay_first_byte
    }

    /// Applies this fault to response bodies whenever `trigger` fires: a
    /// [`HttpTrigger`](super::HttpTrigger) or a
    /// [`RequestMatcher`](super::RequestMatcher) (see
    /// [`HttpFault::when`](super::HttpFault::when)).
    ///
    /// ```
    /// use tower_chaos::{FaultKind, Trigger};
    /// use tower_chaos::http::BodyFault;
    /// let rule = BodyFault::stall_after(1024).when(Trigger::rate(0.05));
    /// assert_eq!(rule.action().kind(), FaultKind::ResponseBody);
    /// ```
    #[must_use]
    pub fn when(self, trigger: impl super::IntoHttpTrigger) -> super::HttpRule {
        super::HttpFault::ResponseBody(self).when(trigger)
    }

    /// Applies this fault to every response body, under a name (for
    /// journals, tracing and the [`Injected`](super::Injected) marker).
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert_eq!(BodyFault::abort_after(0).named("lost-reply").name(), Some("lost-reply"));
    /// ```
    #[must_use]
    pub fn named(self, name: impl Into<Arc<str>>) -> super::HttpRule {
        super::HttpFault::ResponseBody(self).named(name)
    }

    /// Whether this fault does nothing at all.
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert!(BodyFault::default().is_noop());
    /// assert!(!BodyFault::abort_after(0).is_noop());
    /// ```
    #[must_use]
    pub const fn is_noop(&self) -> bool {
        self.delay_first_byte.is_zero() && self.bytes_per_second.is_none() && self.cut.is_none()
    }
}

/// Why an injected body failed.
///
/// ```
/// use tower_chaos::http::{BodyFaultError, BodyFaultErrorKind};
/// assert_ne!(BodyFaultError::aborted(0).kind(), BodyFaultErrorKind::ConnectionDropped);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyFaultErrorKind {
    /// [`BodyFault::abort_after`] fired.
    Aborted,
    /// The drop-connection fault: the body fails before its first byte so
    /// that hyper closes the connection (HTTP/1) or resets the stream
    /// (HTTP/2).
    ConnectionDropped,
}

/// An injected body failure, yielded by [`ChaosBody`] as a boxed error.
///
/// Downcast a [`BoxError`] to tell injected from real failures:
///
/// ```
/// use tower_chaos::BoxError;
/// use tower_chaos::http::{BodyFaultError, BodyFaultErrorKind};
///
/// let err: BoxError = BodyFaultError::aborted(10).into();
/// let injected = err.downcast_ref::<BodyFaultError>().expect("injected");
/// assert_eq!(injected.kind(), BodyFaultErrorKind::Aborted);
/// assert_eq!(injected.bytes_passed(), 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} after {bytes_passed} bytes (injected by tower-chaos)", match .kind {
    BodyFaultErrorKind::Aborted => "body aborted",
    BodyFaultErrorKind::ConnectionDropped => "connection dropped",
})]
pub struct BodyFaultError {
    kind: BodyFaultErrorKind,
    bytes_passed: u64,
}

impl BodyFaultError {
    /// An abort after `bytes_passed` bytes.
    ///
    /// ```
    /// use tower_chaos::http::BodyFaultError;
    /// assert_eq!(BodyFaultError::aborted(3).bytes_passed(), 3);
    /// ```
    #[must_use]
    pub const fn aborted(bytes_passed: u64) -> Self {
        Self {
            kind: BodyFaultErrorKind::Aborted,
            bytes_passed,
        }
    }

    /// A dropped connection.
    ///
    /// ```
    /// use tower_chaos::http::{BodyFaultError, BodyFaultErrorKind};
    /// let err = BodyFaultError::connection_dropped();
    /// assert_eq!(err.kind(), BodyFaultErrorKind::ConnectionDropped);
    /// assert_eq!(err.to_string(), "connection dropped after 0 bytes (injected by tower-chaos)");
    /// ```
    #[must_use]
    pub const fn connection_dropped() -> Self {
        Self {
            kind: BodyFaultErrorKind::ConnectionDropped,
            bytes_passed: 0,
        }
    }

    /// Why the body failed.
    ///
    /// ```
    /// use tower_chaos::http::{BodyFaultError, BodyFaultErrorKind};
    /// assert_eq!(BodyFaultError::aborted(1).kind(), BodyFaultErrorKind::Aborted);
    /// ```
    #[must_use]
    pub const fn kind(&self) -> BodyFaultErrorKind {
        self.kind
    }

    /// How many bytes the body had delivered before failing.
    ///
    /// ```
    /// use tower_chaos::http::BodyFaultError;
    /// assert_eq!(BodyFaultError::connection_dropped().bytes_passed(), 0);
    /// ```
    #[must_use]
    pub const fn bytes_passed(&self) -> u64 {
        self.bytes_passed
    }
}

/// Byte counters shared by every [`ChaosBody`] they are attached to.
///
/// `passed` counts data bytes a faulted body delivered; `dropped` counts
/// bytes it read from the inner body but never delivered (the rest of a
/// frame cut by a limit). Bytes the inner body never produced because the
/// body stopped early are not counted. Only faulted bodies count.
///
/// [`HttpChaosLayer`](super::HttpChaosLayer) counts the response bodies it
/// faults into its target ([`Report::bytes_passed`] and
/// [`Report::bytes_dropped`]). For request bodies faulted on the client
/// side, count into a target with [`for_target`](Self::for_target) or into
/// standalone counters with [`new`](Self::new).
///
/// [`Report::bytes_passed`]: crate::Report::bytes_passed
/// [`Report::bytes_dropped`]: crate::Report::bytes_dropped
///
/// # Clone
///
/// Clones share the same counters.
///
/// ```
/// use tower_chaos::http::BodyCounters;
/// let counters = BodyCounters::new();
/// assert_eq!((counters.passed(), counters.dropped()), (0, 0));
/// ```
#[derive(Debug, Clone, Default)]
pub struct BodyCounters {
    inner: Arc<ByteCounters>,
}

impl BodyCounters {
    /// Fresh counters at zero, not tied to any target.
    ///
    /// ```
    /// use tower_chaos::http::BodyCounters;
    /// let a = BodyCounters::new();
    /// let b = a.clone();
    /// assert_eq!(a.passed(), b.passed());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The byte counters of `target`: what bodies counted here add up to in
    /// [`Target::report`](crate::Target::report).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use tower_chaos::Target;
    /// use tower_chaos::http::{BodyCounters, BodyFault, ChaosBody};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let target = Target::builder("uploads").seed(1).build().unwrap();
    /// let upload = ChaosBody::with_fault(Full::new(Bytes::from("abcdef")), BodyFault::truncate_after(4))
    ///     .counted(BodyCounters::for_target(&target));
    /// upload.collect().await.unwrap();
    /// let report = target.report();
    /// assert_eq!((report.bytes_passed, report.bytes_dropped), (4, 2));
    /// # });
    /// ```
    #[must_use]
    pub fn for_target(target: &Target) -> Self {
        Self {
            inner: Arc::clone(&target.shared.counters.bytes),
        }
    }

    /// Bytes delivered by faulted bodies.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use tower_chaos::http::{BodyCounters, BodyFault, ChaosBody};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let counters = BodyCounters::new();
    /// let body = ChaosBody::with_fault(Full::new(Bytes::from("abcdef")), BodyFault::truncate_after(4))
    ///     .counted(counters.clone());
    /// body.collect().await.unwrap();
    /// assert_eq!((counters.passed(), counters.dropped()), (4, 2));
    /// # });
    /// ```
    #[must_use]
    pub fn passed(&self) -> u64 {
        self.inner.passed.load(Ordering::Relaxed)
    }

    /// Bytes read from inner bodies and not delivered.
    ///
    /// ```
    /// use tower_chaos::http::BodyCounters;
    /// assert_eq!(BodyCounters::new().dropped(), 0);
    /// ```
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    fn add_passed(&self, n: usize) {
        self.inner.passed.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn add_dropped(&self, n: usize) {
        self.inner.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }
}

pin_project! {
    /// A body that is either the inner body (passed through untouched, or
    /// with a [`BodyFault`]) or a body synthesized by a fault.
    ///
    /// The pass-through form adds no allocation and no work beyond a match.
    /// Use it on the client side to fault a request body, and it is the
    /// response body type of [`HttpChaos`](super::HttpChaos).
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
    /// [`BodyFaultErrorKind::ConnectionDropped`]: hyper then closes the
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Stalled,
    Done,
}

#[derive(Debug)]
struct FaultState {
    fault: BodyFault,
    started: bool,
    emitted: u64,
    pending: Option<Bytes>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The crate's one byte-rate throttle, started with one tick of
    /// credit as Envoy's response rate limit is.
    bucket: Option<Throttle>,
    phase: Phase,
    yielded: bool,
    cut_inside_frame: bool,
    counters: Option<BodyCounters>,
    /// The active-fault slots of the rule that faulted this body: held
    /// until the body ends or is dropped.
    guard: Option<ActiveGuard>,
}

impl FaultState {
    fn new(fault: BodyFault) -> Self {
        Self {
            fault,
            started: false,
            emitted: 0,
            pending: None,
            sleep: None,
            bucket: None,
            phase: Phase::Running,
            yielded: false,
            cut_inside_frame: false,
            counters: None,
            guard: None,
        }
    }

    /// Polls a sleep until `deadline`, reusing the allocation.
    fn poll_sleep(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.sleep {
            Some(sleep) => {
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
            }
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        let sleep = self.sleep.as_mut().expect("set above");
        sleep.as_mut().poll(cx)
    }

    fn passed(&mut self, n: usize) {
        self.emitted += n as u64;
        if let Some(c) = &self.counters {
            c.add_passed(n);
        }
    }

    fn dropped(&self, n: usize) {
        if let Some(c) = self.counters.as_ref().filter(|_| n > 0) {
            c.add_dropped(n);
        }
    }
}

fn poll_faulted<B>(
    mut body: Pin<&mut B>,
    state: &mut FaultState,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    loop {
        match state.phase {
            Phase::Done => return Poll::Ready(None),
            Phase::Stalled => return Poll::Pending,
            Phase::Running => {}
        }

        if !state.started {
            let delay = state.fault.delay_first_byte;
            if !delay.is_zero() {
                let deadline = match &state.sleep {
                    Some(sleep) => sleep.deadline(),
                    // A delay past what the clock can hold (a fault built
                    // directly, not installed as a rule, where it is
                    // limited to 365 days) never ends: as tokio's own
                    // `sleep`, wait until its far future.
                    None => Instant::now()
                        .checked_add(delay)
                        .unwrap_or_else(|| Instant::now() + FAR_FUTURE),
                };
                ready!(state.poll_sleep(deadline, cx));
            }
            state.started = true;
            if let Some(rate) = state.fault.bytes_per_second {
                state.bucket = Some(Throttle::new(rate, Start::OneTick));
            }
        }

        let reached = state
            .fault
            .cut
            .filter(|cut| state.emitted >= cut.limit() && state.pending.is_none());
        if let Some(cut) = reached {
            if !state.cut_inside_frame && body.is_end_stream() {
                // The cut falls exactly at the end of the body: nothing to do.
                state.phase = Phase::Done;
                return Poll::Ready(None);
            }
            if matches!(cut, Cut::End(_) | Cut::Abort(_)) && state.emitted > 0 && !state.yielded {
                // Yield once so hyper flushes the head and the bytes already
                // passed before it sees the early end or the error;
                // otherwise a small cut looks like a dropped connection.
                state.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            state.phase = match cut {
                Cut::Stall(_) => Phase::Stalled,
                Cut::End(_) | Cut::Abort(_) => Phase::Done,
            };
            return match cut {
                Cut::End(_) => Poll::Ready(None),
                Cut::Stall(_) => Poll::Pending,
                Cut::Abort(_) => Poll::Ready(Some(Err(BodyFaultError::aborted(state.emitted).into()))),
            };
        }

        let mut data = match state.pending.take() {
            Some(data) => data,
            None => match ready!(body.as_mut().poll_frame(cx)) {
                None => {
                    state.phase = Phase::Done;
                    return Poll::Ready(None);
                }
                Some(Err(err)) => {
                    state.phase = Phase::Done;
                    return Poll::Ready(Some(Err(err.into())));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
            },
        };
        if data.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }

        if let Some(cut) = state.fault.cut {
            let allowed = cut.limit() - state.emitted;
            if (data.len() as u64) > allowed {
                #[allow(clippy::cast_possible_truncation)] // allowed < data.len()
                let rest = data.split_off(allowed as usize);
                state.dropped(rest.len());
                state.cut_inside_frame = true;
            }
        }

        if let Some(bucket) = &mut state.bucket {
            let now = Instant::now();
            match bucket.allow(now, data.len(), usize::MAX) {
                Ok(n) => {
                    bucket.commit(now, n);
                    if n < data.len() {
                        state.pending = Some(data.split_off(n));
                    }
                }
                Err(deadline) => {
                    state.pending = Some(data);
                    ready!(state.poll_sleep(deadline, cx));
                    continue;
                }
            }
        }

        state.passed(data.len());
        return Poll::Ready(Some(Ok(Frame::data(data))));
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
                }
            },
            Kind::Full { data } => data.get().is_none_or(Bytes::is_empty),
            Kind::Dropped { .. } => false,
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Pass { body } | Kind::Faulted { body, .. } => body.size_hint(),
            Kind::Full { data } => SizeHint::with_exact(data.get().map_or(0, |d| d.len() as u64)),
            Kind::Dropped { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    /// A body over a list of frames, ready at once.
    struct Frames(std::collections::VecDeque<Frame<Bytes>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn chunks(parts: &[&'static str]) -> Frames {
        Frames(
            parts
                .iter()
                .map(|p| Frame::data(Bytes::from_static(p.as_bytes())))
                .collect(),
        )
    }

    #[tokio::test]
    async fn pass_through_is_untouched() {
        let body = ChaosBody::new(chunks(&["ab", "cd"]));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abcd");
    }

    #[tokio::test]
    async fn truncate_splits_a_frame_and_counts() {
        let counters = BodyCounters::new();
        let body = ChaosBody::with_fault(chunks(&["abc", "defg", "h"]), BodyFault::truncate_after(5))
            .counted(counters.clone());
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abcde");
        assert_eq!(counters.passed(), 5);
        assert_eq!(counters.dropped(), 2);
    }

    #[tokio::test]
    async fn abort_errors_after_n_bytes() {
        let mut body = ChaosBody::with_fault(chunks(&["abc", "def"]), BodyFault::abort_after(4));
        let mut got = Vec::new();
        let err = loop {
            match body.frame().await {
                Some(Ok(f)) => got.extend_from_slice(&f.into_data().unwrap()),
                Some(Err(e)) => break e,
                None => panic!("expected an error"),
            }
        };
        assert_eq!(got, b"abcd");
        let err = err.downcast::<BodyFaultError>().unwrap();
        assert_eq!(*err, BodyFaultError::aborted(4));
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn cut_past_the_end_does_nothing() {
        let body = ChaosBody::with_fault(Full::new(Bytes::from("abc")), BodyFault::abort_after(3));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
    }

    #[tokio::test(start_paused = true)]
    async fn stall_never_completes() {
        let mut body = ChaosBody::with_fault(chunks(&["abc", "def"]), BodyFault::stall_after(3));
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "abc");
        let next = tokio::time::timeout(Duration::from_secs(3600), body.frame()).await;
        assert!(next.is_err(), "stalled body produced {next:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_takes_the_computed_time() {
        let data = Bytes::from(vec![7u8; 10_000]);
        let body = ChaosBody::with_fault(Full::new(data), BodyFault::throttle(1000).unwrap());
        let start = Instant::now();
        let out = body.collect().await.unwrap().to_bytes();
        let took = start.elapsed();
        assert_eq!(out.len(), 10_000);
        // 10 s less the first 50 ms slice, which goes at once (Envoy's start).
        assert!(
            took >= Duration::from_millis(9_950) && took < Duration::from_millis(10_000),
            "took {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn first_byte_delay() {
        let body = ChaosBody::with_fault(
            Full::new(Bytes::from("x")),
            BodyFault::delay_first_byte(Duration::from_secs(2)),
        );
        let start = Instant::now();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "x");
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn full_and_dropped() {
        let body = ChaosBody::<Full<Bytes>>::full("hi");
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hi");
        let err = ChaosBody::<Full<Bytes>>::drop_connection()
            .collect()
            .await
            .unwrap_err();
        let err = err.downcast::<BodyFaultError>().unwrap();
        assert_eq!(err.kind(), BodyFaultErrorKind::ConnectionDropped);
    }

    #[tokio::test]
    async fn trailers_pass_through_a_fault() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let frames = Frames(vec![Frame::data(Bytes::from("ab")), Frame::trailers(trailers)].into());
        let body = ChaosBody::with_fault(frames, BodyFault::truncate_after(10));
        let collected = body.collect().await.unwrap();
        assert!(collected.trailers().is_some());
        assert_eq!(collected.to_bytes(), "ab");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn frames(chunks: &[Vec<u8>]) -> Frames {
            Frames(
                chunks
                    .iter()
                    .map(|c| Frame::data(Bytes::from(c.clone())))
                    .collect(),
            )
        }

        fn runtime() -> tokio::runtime::Runtime {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap()
        }

        /// Collects data until the end or an error: (bytes, errored).
        async fn drain(mut body: ChaosBody<Frames>) -> (Vec<u8>, bool) {
            let mut out = Vec::new();
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => out.extend_from_slice(&f.into_data().unwrap()),
                    Err(_) => return (out, true),
                }
            }
            (out, false)
        }

        fn chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12)
        }

        proptest! {
            #[test]
            fn truncate_delivers_exactly_a_prefix(chunks in chunks(), n in 0u64..4000) {
                let all: Vec<u8> = chunks.concat();
                let counters = BodyCounters::new();
                let body = ChaosBody::with_fault(frames(&chunks), BodyFault::truncate_after(n))
                    .counted(counters.clone());
                let (out, errored) = runtime().block_on(drain(body));
                let expected = all.len().min(usize::try_from(n).unwrap());
                prop_assert!(!errored);
                prop_assert_eq!(&out[..], &all[..expected]);
                prop_assert_eq!(counters.passed(), expected as u64);
                prop_assert!(counters.passed() + counters.dropped() <= all.len() as u64);
            }

            #[test]
            fn abort_errors_exactly_when_bytes_remain(chunks in chunks(), n in 0u64..4000) {
                let all: Vec<u8> = chunks.concat();
                let body = ChaosBody::with_fault(frames(&chunks), BodyFault::abort_after(n));
                let (out, errored) = runtime().block_on(drain(body));
                let total = all.len() as u64;
                prop_assert_eq!(&out[..], &all[..all.len().min(usize::try_from(n).unwrap())]);
                if n < total {
                    prop_assert!(errored);
                } else if n > total {
                    prop_assert!(!errored);
                }
            }

            #[test]
            fn throttle_keeps_every_byte_and_takes_len_over_rate(
                chunks in chunks(),
                rate in 1_000u64..50_000,
            ) {
                let all: Vec<u8> = chunks.concat();
                let body = ChaosBody::with_fault(frames(&chunks), BodyFault::throttle(rate).unwrap());
                let rt = runtime();
                let (out, took) = rt.block_on(async {
                    let start = Instant::now();
                    let (out, _) = drain(body).await;
                    (out, start.elapsed())
                });
                prop_assert_eq!(&out, &all);
                // The first 50 ms tick's worth is credit (Envoy's start).
                let tick = rate as usize / 20;
                let ideal = Duration::from_secs_f64(all.len().saturating_sub(tick) as f64 / rate as f64);
                // Each sleep may overshoot by the timer's 1 ms granularity,
                // and the bucket carries the overshoot forward as credit.
                prop_assert!(took + Duration::from_millis(1) >= ideal, "{took:?} < {ideal:?}");
                prop_assert!(took <= ideal + Duration::from_millis(2), "{took:?} > {ideal:?}");
            }
        }
    }
}

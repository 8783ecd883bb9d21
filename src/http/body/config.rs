//! [`BodyFault`]: what a faulted body does (first-byte delay, throttle, cut).

use std::time::Duration;

use crate::ConfigError;

/// What a body fault does once the body has passed its byte limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    End(u64),
    Stall(u64),
    Abort(u64),
}

impl Cut {
    pub(super) const fn limit(self) -> u64 {
        match self {
            Self::End(n) | Self::Stall(n) | Self::Abort(n) => n,
        }
    }

    /// Whether the cut still does something when it falls exactly at the
    /// end of the body: a stall holds the end back and an abort replaces
    /// it with an error (an `abort_after(0)` on an empty `204` is a lost
    /// reply too); an early end there leaves the body whole.
    pub(super) const fn acts_at_the_end(self) -> bool {
        matches!(self, Self::Stall(_) | Self::Abort(_))
    }
}

/// A streaming fault applied to a request or response body by [`ChaosBody`](super::ChaosBody).
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
/// let fault = BodyFault::throttle(1024)
///     .with_delay_first_byte(Duration::from_millis(200))
///     .with_abort_after(4096);
/// assert_eq!(fault.bytes_per_second(), Some(1024));
/// assert_eq!(fault.limit(), Some(4096));
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
///   [`BodyFaultError`](super::BodyFaultError); hyper aborts the message, and the client always
///   reports an error: while reading the body, or from `send` when N is 0.
/// * [`stall_after`](Self::stall_after): after N bytes the body never yields
///   again; the client waits until its own timeout.
///
/// A cut at or past the end of a body that knows it has ended does nothing.
/// A cut at 0 bytes ends or fails the body before hyper has written
/// anything, so the client sees no response at all, as with
/// [`HttpFault::DropConnection`](crate::http::HttpFault::DropConnection) (for an
/// abort; a truncation to 0 bytes does so only when a length was promised).
/// Before ending early or failing after some bytes, the body yields once so
/// hyper flushes the head and those bytes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BodyFault {
    pub(super) delay_first_byte: Duration,
    pub(super) bytes_per_second: Option<u64>,
    pub(super) cut: Option<Cut>,
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

    /// After `bytes` bytes the body yields a [`BodyFaultError`](super::BodyFaultError) of kind
    /// [`BodyFaultErrorKind::Aborted`](super::BodyFaultErrorKind::Aborted),
    /// also when that is exactly the body's end (`abort_after(0)` on an
    /// empty body fails it). A body without one on the HTTP/1 wire (`204`,
    /// `304`, `HEAD`) is never read, so no body fault acts on it.
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
    /// A rate of zero is refused where the fault is installed: the layer's
    /// `build()` (or `set_faults`) fails with [`ConfigError::Invalid`]
    /// naming `body.throttle` and the value, and
    /// [`validate`](Self::validate) says so up front (use
    /// [`stall_after`](Self::stall_after) to stop a body). A [`ChaosBody`](super::ChaosBody)
    /// built directly with it fails on its first poll with that error.
    ///
    /// ```
    /// use tower_chaos::http::{BodyFault, HttpChaosLayer};
    /// assert_eq!(BodyFault::throttle(100).bytes_per_second(), Some(100));
    /// let err = HttpChaosLayer::builder("api").fault(BodyFault::throttle(0)).build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `body.throttle` = 0: must be at least 1 byte per second");
    /// ```
    ///
    /// [`ChaosBody`]: super::ChaosBody
    #[must_use]
    pub const fn throttle(bytes_per_second: u64) -> Self {
        Self {
            delay_first_byte: Duration::ZERO,
            bytes_per_second: Some(bytes_per_second),
            cut: None,
        }
    }

    /// Delays the first data frame by `delay`, counted from the first poll
    /// of the body (headers are already on their way).
    ///
    /// Installed as a rule, the delay is limited to 365 days (a longer one
    /// is a [`ConfigError`] naming `http_fault.response_body.delay_first_byte`);
    /// on a [`ChaosBody`](super::ChaosBody) built directly, a delay the clock cannot hold
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
    /// A rate of zero is refused as for [`throttle`](Self::throttle).
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// let f = BodyFault::truncate_after(10).with_throttle(5);
    /// assert_eq!((f.limit(), f.bytes_per_second()), (Some(10), Some(5)));
    /// assert!(f.with_throttle(0).validate().is_err());
    /// ```
    #[must_use]
    pub const fn with_throttle(mut self, bytes_per_second: u64) -> Self {
        self.bytes_per_second = Some(bytes_per_second);
        self
    }

    /// Checks the values the constructors could not refuse (a throttle of
    /// zero bytes per second): what installing the fault checks.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `body.throttle` when the rate is zero.
    ///
    /// ```
    /// use tower_chaos::http::BodyFault;
    /// assert!(BodyFault::throttle(1).validate().is_ok());
    /// let err = BodyFault::throttle(0).validate().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `body.throttle` = 0: must be at least 1 byte per second");
    /// ```
    pub fn validate(self) -> Result<Self, ConfigError> {
        match self.bytes_per_second {
            Some(0) => Err(ConfigError::invalid(
                "body.throttle",
                0,
                "must be at least 1 byte per second",
            )),
            _ => Ok(self),
        }
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
    /// let f = BodyFault::throttle(10).with_truncate_after(3);
    /// assert_eq!((f.limit(), f.bytes_per_second()), (Some(3), Some(10)));
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
    /// assert_eq!(BodyFault::throttle(1).limit(), None);
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

    /// Whether the body fails before its first byte with nothing before
    /// it (`abort_after(0)`, throttled or not): a lost reply, which a
    /// server's hyper turns into a dropped connection.
    #[cfg_attr(not(feature = "reqwest-middleware"), allow(dead_code))]
    pub(crate) const fn loses_reply(&self) -> bool {
        self.delay_first_byte.is_zero() && matches!(self.cut, Some(Cut::Abort(0)))
    }
}

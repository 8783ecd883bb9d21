//! The state machine of a faulted body: first-byte delay, throttle and
//! cut, applied frame by frame as the body is polled.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::time::{Instant, Sleep};

use super::config::{BodyFault, Cut};
use super::counters::BodyCounters;
use super::error::BodyFaultError;
use crate::BoxError;
use crate::rule::ActiveGuard;
use crate::throttle::{Start, Throttle};

/// Far enough to never come in a test (tokio's own `sleep` uses 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Running,
    Stalled,
    Done,
}

#[derive(Debug)]
pub(super) struct FaultState {
    pub(super) fault: BodyFault,
    pub(super) started: bool,
    pub(super) emitted: u64,
    pub(super) pending: Option<Bytes>,
    pub(super) sleep: Option<Pin<Box<Sleep>>>,
    /// The crate's one byte-rate throttle, started with one tick of
    /// credit as Envoy's response rate limit is.
    pub(super) bucket: Option<Throttle>,
    pub(super) phase: Phase,
    pub(super) yielded: bool,
    pub(super) cut_inside_frame: bool,
    pub(super) counters: Option<BodyCounters>,
    /// The active-fault slots of the rule that faulted this body: held
    /// until the body ends or is dropped.
    pub(super) guard: Option<ActiveGuard>,
}

impl FaultState {
    /// Whether a stall or an abort falls exactly at `len` bytes, the
    /// length the body will have: then the body's end is not its own to
    /// announce (`is_end_stream` is false, the size hint is not exact),
    /// or the client would take a complete body and never see the fault.
    /// (Before the end, the cut ends the body early anyway; after it, the
    /// body ends before the cut is reached.)
    pub(super) fn cut_acts_at_end_of(&self, len: u64) -> bool {
        self.fault
            .cut
            .is_some_and(|cut| cut.acts_at_the_end() && cut.limit() == len)
    }

    pub(super) fn new(fault: BodyFault) -> Self {
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
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
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

pub(super) fn poll_faulted<B>(
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
            if let Err(error) = state.fault.validate() {
                // A fault built directly with a value an install would
                // refuse (a zero rate): fail loudly rather than stall.
                state.phase = Phase::Done;
                return Poll::Ready(Some(Err(error.into())));
            }
            if let Some(rate) = state.fault.bytes_per_second {
                state.bucket = Some(Throttle::new(rate, Start::OneTick));
            }
        }

        let reached = state
            .fault
            .cut
            .filter(|cut| state.emitted >= cut.limit() && state.pending.is_none());
        if let Some(cut) = reached {
            if !state.cut_inside_frame && body.is_end_stream() && !cut.acts_at_the_end() {
                // An early end exactly at the end of the body: nothing to
                // cut. (A stall or an abort there still holds back or
                // replaces the end: see `Cut::acts_at_the_end`.)
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

//! How the request-level rules that fire for one request combine.

use std::time::Duration;

use crate::fault::{Act, Fault};
use crate::rng::SplitMix;
use crate::rule::{Applied, Resolve, TakeCtx};
use crate::{InjectedError, Latency};

/// The combined effect of the rules that fired for one request; `T` is
/// the service's response type.
pub(super) struct Outcome<E, T> {
    pub(super) before: Duration,
    pub(super) after: Duration,
    pub(super) end: End<E, T>,
}

/// How the request ends.
pub(super) enum End<E, T> {
    /// The inner service is called (possibly after a delay).
    Call,
    /// An error instead of the inner call.
    Fail(E),
    /// Never completes.
    Hang,
    /// The inner service is called, then this error replaces its answer.
    Lost(E),
    /// This response instead of the inner call.
    Respond(T),
}

impl<E, T> Default for Outcome<E, T> {
    fn default() -> Self {
        Self {
            before: Duration::ZERO,
            after: Duration::ZERO,
            end: End::Call,
        }
    }
}

/// Delays of one request add up to at most [`Latency::MAX_DELAY`] before
/// the call (and as much after it): tokio would otherwise cut a sleep of
/// more than 30 years without a word, and a year is a hang for any test.
/// Documented on [`ChaosLayer`](super::ChaosLayer#resolution-order).
fn add_delay(total: Duration, d: Duration) -> Duration {
    total.saturating_add(d).min(Latency::MAX_DELAY)
}

impl<R: 'static, E, T: 'static> Resolve<Fault<R, E>, R> for Outcome<E, T> {
    fn wants(&self, fault: &Fault<R, E>) -> bool {
        // A response of another type than the service's never fires here
        // (reported when the service picked up the fault set).
        if let Act::Respond(r) = &fault.act {
            if !r.builds::<T>() {
                return false;
            }
        }
        // Delays add up; the first terminal fault wins.
        !fault.is_terminal() || matches!(self.end, End::Call)
    }

    fn take(&mut self, fault: &Fault<R, E>, req: &R, rng: u64, ctx: &TakeCtx<'_>) -> Applied {
        let injected = || InjectedError::new(ctx.target.clone(), fault.kind(), ctx.rule_name.cloned());
        let mut delay = None;
        match &fault.act {
            Act::Latency(l) => {
                let d = l.sample(&mut SplitMix::new(rng));
                self.before = add_delay(self.before, d);
                delay = Some(d);
            }
            Act::LatencyAfter(l) => {
                let d = l.sample(&mut SplitMix::new(rng));
                self.after = add_delay(self.after, d);
                delay = Some(d);
            }
            Act::Error(make) => self.end = End::Fail(make(req, &injected())),
            Act::Hang => self.end = End::Hang,
            Act::LostReply(make) => self.end = End::Lost(make(req, &injected())),
            Act::Respond(r) => {
                // `wants` checked the type: `make` answers.
                if let Some(response) = r.make::<T>(req) {
                    self.end = End::Respond(response);
                }
            }
        }
        Applied {
            kind: fault.kind(),
            delay,
            code: None,
        }
    }
}

//! The pair waker and timer shared by both directions of a stream.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use tokio::time::{Instant, Sleep};

use crate::io::faults::Dir;

/// Wakes both the reading and the writing task: timers and inner
/// registrations of a faulty stream are shared by both directions, and the
/// halves may be polled from different tasks.
#[derive(Debug, Default)]
pub(super) struct Pair {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl Pair {
    pub(super) fn register(&self, dir: Dir, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut slots[dir as usize];
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl Wake for Pair {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let [a, b] = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            [slots[0].take(), slots[1].take()]
        };
        for w in [a, b].into_iter().flatten() {
            w.wake();
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Timer(Option<Pin<Box<Sleep>>>);

impl Timer {
    /// `Ready(Ok)` once `at` has passed.
    pub(super) fn wait(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let sleep = match &mut self.0 {
            Some(s) => {
                if s.deadline() != at {
                    s.as_mut().reset(at);
                }
                s
            }
            None => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Poll::Ready(Err(io::Error::other(
                        "tower-chaos: timed stream faults need a tokio runtime",
                    )));
                }
                self.0.insert(Box::pin(tokio::time::sleep_until(at)))
            }
        };
        sleep.as_mut().poll(cx).map(Ok)
    }
}

//! A runtime-switchable, `Arc`-shared holder of [`StreamFaults`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use super::StreamFaults;

#[derive(Debug)]
struct Inner {
    generation: AtomicU64,
    faults: Mutex<StreamFaults>,
    parked: Mutex<HashMap<u64, Waker>>,
    streams: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Stream faults that can be switched at run time, for every stream that
/// watches them, without a [`Target`](crate::Target): the standalone
/// counterpart of a target's connection faults (which the proxy, listener
/// and connectors use, with triggers and reports).
///
/// A stream built with [`ChaosStream::with_switch`](super::ChaosStream::with_switch)
/// checks the switch on every poll (one atomic load) and, when it changed,
/// takes the new faults at once (an idle stream is woken to do so): latency, bandwidth and slicing apply to the
/// next chunk; a stall or blackhole that is switched off releases the
/// stream (parked streams are woken); onsets (`AfterBytes`, `After`) count
/// again from the moment of the switch. What already happened stays: a
/// reset or closed connection is not revived, a truncated direction stays
/// closed, and bytes already held by latency keep their release time.
///
/// Each stream gets its own latency samples: the `n`-th stream attached to
/// a switch draws from a seed derived from the faults' seed and `n` (the
/// core's counter-based RNG), so a run is reproducible when streams are
/// attached in the same order.
///
/// # Clone
///
/// Clones share the same faults (an `Arc`).
///
/// # Example
///
/// ```
/// use tower_chaos::io::{DirectionFaults, FaultSwitch, Onset, StreamFaults};
///
/// let switch = FaultSwitch::new(StreamFaults::none());
/// let stall = StreamFaults::builder()
///     .read(DirectionFaults::new().stall(Onset::Immediately))
///     .build()?;
/// switch.set(stall);
/// assert_eq!(switch.get(), stall);
/// switch.clear();
/// assert!(switch.get().is_none());
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FaultSwitch {
    inner: Arc<Inner>,
}

impl Default for FaultSwitch {
    fn default() -> Self {
        Self::new(StreamFaults::none())
    }
}

impl FaultSwitch {
    /// A switch holding `faults`.
    ///
    /// ```
    /// use tower_chaos::io::{FaultSwitch, StreamFaults};
    /// assert!(FaultSwitch::new(StreamFaults::none()).get().is_none());
    /// ```
    #[must_use]
    pub fn new(faults: StreamFaults) -> Self {
        Self {
            inner: Arc::new(Inner {
                generation: AtomicU64::new(0),
                faults: Mutex::new(faults),
                parked: Mutex::new(HashMap::new()),
                streams: AtomicU64::new(0),
            }),
        }
    }

    /// Replaces the faults; every watching stream takes them at its next
    /// poll, and parked (stalled, blackholed) or idle streams are woken to
    /// do so. See [`FaultSwitch`] for an example.
    pub fn set(&self, faults: StreamFaults) {
        {
            let mut guard = lock(&self.inner.faults);
            *guard = faults;
            self.inner.generation.fetch_add(1, Ordering::Release);
        }
        let parked = std::mem::take(&mut *lock(&self.inner.parked));
        for waker in parked.into_values() {
            waker.wake();
        }
    }

    /// Switches every fault off (same as `set(StreamFaults::none())`). See
    /// [`FaultSwitch`] for an example.
    pub fn clear(&self) {
        self.set(StreamFaults::none());
    }

    /// The faults currently set. See [`FaultSwitch`] for an example.
    #[must_use]
    pub fn get(&self) -> StreamFaults {
        *lock(&self.inner.faults)
    }

    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    pub(crate) fn load(&self) -> (u64, StreamFaults) {
        let guard = lock(&self.inner.faults);
        (self.inner.generation.load(Ordering::Acquire), *guard)
    }

    /// Registers stream `id`'s waker to wake at the next `set` (replacing
    /// the one it registered before).
    pub(crate) fn park(&self, id: u64, waker: &Waker) {
        let mut parked = lock(&self.inner.parked);
        match parked.get_mut(&id) {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => w.clone_from(waker),
            None => {
                parked.insert(id, waker.clone());
            }
        }
    }

    /// Forgets stream `id` (dropped before the next `set`).
    pub(crate) fn unpark(&self, id: u64) {
        lock(&self.inner.parked).remove(&id);
    }

    pub(crate) fn next_stream_id(&self) -> u64 {
        self.inner.streams.fetch_add(1, Ordering::Relaxed)
    }
}

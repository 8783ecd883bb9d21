//! One direction of a stream: its faults in force and their state.

use std::time::Duration;

use tokio::time::Instant;

use super::gate::Gate;
use super::wake::Timer;
use crate::Latency;
use crate::io::faults::MAX_STACKED;
use crate::io::queue::DelayQueue;
use crate::io::{DirectionFaults, Interrupt, MAX_FAULT_DURATION, Onset};
use crate::rng::{SplitMix, derive, nth};

const STACK_SALT: u64 = 0x5354_434b_0000_0004;

/// Whether a lane's bytes move, are held (stall) or are discarded
/// (blackhole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Normal,
    Stalled,
    Blackholed,
}

#[derive(Debug)]
pub(super) struct Lane {
    pub(super) cfg: DirectionFaults,
    latencies: [Option<Latency>; MAX_STACKED],
    pub(super) seed: u64,
    seq: u64,
    /// Bytes passed since the interruption in force was set.
    pub(super) since: u64,
    /// Bytes passed since the truncation in force came into force.
    counted: u64,
    pub(super) flow: Flow,
    /// The interruption is configured and has not begun yet.
    pub(super) armed: bool,
    /// When the interruption in force was set (time onsets count from it).
    pub(super) onset_epoch: Instant,
    /// A data onset: when it fires (set by the first byte).
    pub(super) data_onset: Option<Instant>,
    /// A timeout interruption has begun (a switch removing it closes the
    /// connection).
    pub(super) timeout_begun: bool,
    /// A timeout interruption closes the connection then.
    pub(super) close_at: Option<Instant>,
    /// Truncated: read gives EOF, write gives `BrokenPipe`.
    pub(super) truncated: bool,
    pub(super) shutdown_pending: bool,
    pub(super) close_started: Option<Instant>,
    pub(super) inner_eof: bool,
    pub(super) eof_at: Option<Instant>,
    pub(super) gate: Gate,
    pub(super) queue: Option<Box<DelayQueue>>,
    pub(super) timer: Timer,
}

impl Lane {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            cfg: DirectionFaults::new(),
            latencies: [None; MAX_STACKED],
            seed: 0,
            seq: 0,
            since: 0,
            counted: 0,
            flow: Flow::Normal,
            armed: false,
            onset_epoch: now,
            data_onset: None,
            timeout_begun: false,
            close_at: None,
            truncated: false,
            shutdown_pending: false,
            close_started: None,
            inner_eof: false,
            eof_at: None,
            gate: Gate::default(),
            queue: None,
            timer: Timer::default(),
        }
    }

    /// Takes `cfg` (at first, or after a switch). What a switch leaves the
    /// same keeps its state; returns whether a timeout that had begun was
    /// switched away, which closes the connection (toxiproxy).
    pub(super) fn configure(&mut self, cfg: DirectionFaults, seed: u64, now: Instant) -> bool {
        let old = self.cfg;
        self.cfg = cfg;
        // A latency switched off or changed releases what it holds
        // (toxiproxy flushes a removed latency toxic's buffer).
        if old.latencies() != cfg.latencies() {
            if let Some(q) = self.queue.as_mut() {
                q.release_all(now);
            }
            if let Some(t) = self.eof_at.as_mut() {
                *t = (*t).min(now);
            }
        }
        self.latencies = cfg.latencies();
        self.seed = seed;
        self.seq = 0;
        // Truncation keeps counting while one stays in force.
        if old.truncate_after.is_none() || cfg.truncate_after.is_none() {
            self.counted = 0;
        }
        if (old.slice, old.slice_variation, old.bandwidth) != (cfg.slice, cfg.slice_variation, cfg.bandwidth)
        {
            self.gate = Gate::new(&cfg, seed);
        }
        let mut close = false;
        if old.interrupt != cfg.interrupt {
            close = self.timeout_begun;
            self.since = 0;
            self.flow = Flow::Normal;
            self.armed = cfg.interrupt.is_some();
            self.onset_epoch = now;
            self.data_onset = None;
            self.timeout_begun = false;
            self.close_at = None;
        }
        if (cfg.has_latency() || self.data_armed()) && self.queue.is_none() {
            self.queue = Some(Box::new(DelayQueue::standard()));
        }
        close
    }

    /// A data onset waits for (or holds) bytes.
    fn data_armed(&self) -> bool {
        self.armed && matches!(self.cfg.interrupt, Some((_, Onset::AfterData(_))))
    }

    pub(super) fn is_timed(&self) -> bool {
        let c = &self.cfg;
        c.has_latency()
            || c.bandwidth.is_some()
            || c.slice.is_some_and(|(_, d)| !d.is_zero())
            || !c.slow_close.is_zero()
            || self.queue.is_some()
            || matches!(
                c.interrupt,
                Some((Interrupt::Timeout(_), _) | (_, Onset::After(_) | Onset::AfterData(_)))
            )
    }

    pub(super) fn is_clean(&self) -> bool {
        self.cfg.is_none()
            && self.flow == Flow::Normal
            && !self.truncated
            && !self.shutdown_pending
            && self.close_started.is_none()
            && self.queue.as_ref().is_none_or(|q| q.is_empty())
    }

    pub(super) fn uses_queue(&self) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|q| self.cfg.has_latency() || self.data_armed() || !q.is_empty())
    }

    fn next_delay(&mut self) -> Duration {
        let n = self.seq;
        let mut total = Duration::ZERO;
        for (i, latency) in self.latencies.iter().enumerate() {
            let Some(latency) = latency else { continue };
            // The core's counter-based stream: chunk `n` of this direction
            // draws the same delay whatever happened before it; each stacked
            // latency draws from its own stream.
            let seed = if i == 0 {
                self.seed
            } else {
                derive(self.seed ^ STACK_SALT, i as u64)
            };
            let d = latency
                .sample(&mut SplitMix::new(nth(seed, n)))
                .min(MAX_FAULT_DURATION);
            total = total.saturating_add(d);
        }
        if self.latencies.iter().any(Option::is_some) {
            self.seq += 1;
        }
        total
    }

    /// When a chunk arriving now is released: its latency, and a data
    /// onset holds it until the interruption begins.
    pub(super) fn release_at(&mut self, now: Instant) -> Instant {
        let mut at = now + self.next_delay();
        if self.data_armed() {
            if let Some((_, Onset::AfterData(d))) = self.cfg.interrupt {
                at = at.max(*self.data_onset.get_or_insert(now + d));
            }
        }
        at
    }

    /// When bytes held by a data onset that has seen its first byte may be
    /// looked at again (the onset's time).
    pub(super) fn held_until(&self) -> Option<Instant> {
        if self.data_armed() { self.data_onset } else { None }
    }

    /// Bytes still allowed before truncation or the byte onset.
    pub(super) fn byte_limit(&self) -> u64 {
        let mut limit = u64::MAX;
        if let Some(t) = self.cfg.truncate_after {
            limit = limit.min(t.saturating_sub(self.counted));
        }
        if self.armed {
            if let Some((_, Onset::AfterBytes(n))) = self.cfg.interrupt {
                limit = limit.min(n.saturating_sub(self.since));
            }
        }
        limit
    }

    pub(super) fn passed(&mut self, k: usize) {
        self.since += k as u64;
        self.counted += k as u64;
    }

    pub(super) fn truncate_due(&self) -> bool {
        !self.truncated && self.cfg.truncate_after.is_some_and(|t| self.counted >= t)
    }

    pub(super) fn discard_queue(&mut self) -> usize {
        self.queue.as_mut().map_or(0, |q| q.clear())
    }

    /// one.
    pub(super) fn release_if_room(&mut self, now: Instant) -> Option<Instant> {
        if self.queue.as_ref().is_none_or(|q| q.free() == 0) {
            return None;
        }
        Some(self.release_at(now))
    }
}

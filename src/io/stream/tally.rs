//! Where a stream counts bytes and events.

use std::sync::Arc;

use crate::FaultKind;
use crate::io::IoCounters;
use crate::report::Bytes;
use crate::target::TargetShared;

/// Where bytes and events are counted: the stream's counters, and the
/// target's report for a connection that belongs to one.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) local: IoCounters,
    pub(super) tap: Option<Tap>,
}

#[derive(Debug)]
pub(super) struct Tap {
    pub(super) shared: Arc<TargetShared>,
    /// A server's stream reads upstream bytes; a client's writes them.
    pub(super) server: bool,
}

impl Tally {
    #[inline]
    pub(super) fn tap(&self, upstream_if_server: Bytes, other: Bytes, n: usize) {
        if let Some(t) = &self.tap {
            t.shared
                .counters
                .bytes(if t.server { upstream_if_server } else { other }, n as u64);
        }
    }

    #[inline]
    pub(super) fn add_read(&self, n: usize) {
        self.local.add_read(n);
        self.tap(Bytes::Upstream, Bytes::Downstream, n);
    }

    #[inline]
    pub(super) fn add_written(&self, n: usize) {
        self.local.add_written(n);
        self.tap(Bytes::Downstream, Bytes::Upstream, n);
    }

    pub(super) fn add_dropped_read(&self, n: usize) {
        self.local.add_dropped_read(n);
        self.tap(Bytes::DroppedUpstream, Bytes::DroppedDownstream, n);
    }

    pub(super) fn add_dropped_written(&self, n: usize) {
        self.local.add_dropped_written(n);
        self.tap(Bytes::DroppedDownstream, Bytes::DroppedUpstream, n);
    }

    pub(super) fn fault(&self, kind: FaultKind) {
        self.local.fault(kind);
    }
}

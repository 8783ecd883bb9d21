//! [`BodyCounters`]: bytes passed and dropped by faulted bodies.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::Target;
use crate::report::ByteCounters;

/// Byte counters shared by every [`ChaosBody`](super::ChaosBody) they are attached to.
///
/// `passed` counts data bytes a faulted body delivered; `dropped` counts
/// bytes it read from the inner body but never delivered (the rest of a
/// frame cut by a limit). Bytes the inner body never produced because the
/// body stopped early are not counted. Only faulted bodies count.
///
/// [`HttpChaosLayer`](crate::http::HttpChaosLayer) counts the response bodies it
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

    pub(super) fn add_passed(&self, n: usize) {
        self.inner.passed.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn add_dropped(&self, n: usize) {
        self.inner.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }
}

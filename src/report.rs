//! What was injected: counters, the journal and reports.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::kind::FaultKind;
use crate::seed::{Replay, SeedSource};

/// Per-target counters shared by every layer and clone of the target.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Requests that got at least one fault.
    faulted: AtomicU64,
    injected: [AtomicU64; FaultKind::COUNT],
    /// Requests answered `400` for an unusable fault-control header.
    rejected_headers: AtomicU64,
    /// Fault-control headers ignored for an unusable value (Envoy names).
    ignored_headers: AtomicU64,
    /// Faults not injected because an active-fault cap was full.
    overflow: AtomicU64,
    /// Requests (and connections) holding a fault now; shared with their
    /// guards, which outlive the call.
    pub(crate) active: Arc<AtomicU64>,
    /// Bytes passed and dropped by faulted streams; shared with the bodies
    /// (and streams) that outlive the request that faulted them.
    pub(crate) bytes: Arc<ByteCounters>,
    /// Bytes moved by the target's connections, indexed by [`Bytes`].
    conn_bytes: [AtomicU64; 4],
}

/// Which byte counter of a target: direction, and passed or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "io"), allow(dead_code))]
pub(crate) enum Bytes {
    Upstream = 0,
    Downstream = 1,
    DroppedUpstream = 2,
    DroppedDownstream = 3,
}

impl Counters {
    /// Everything back to zero, for an exploration between its runs; the
    /// gauge of active faults is left as it is (it counts guards that are
    /// still alive).
    #[cfg(feature = "explore")]
    pub(crate) fn reset(&self) {
        let scalars = [
            &self.faulted,
            &self.rejected_headers,
            &self.ignored_headers,
            &self.overflow,
        ];
        let bytes = [&self.bytes.passed, &self.bytes.dropped];
        for c in scalars
            .into_iter()
            .chain(bytes)
            .chain(&self.injected)
            .chain(&self.conn_bytes)
        {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a request as faulted, after its first fault was counted with
    /// [`injected`](Self::injected) and its call with the slot's
    /// `evaluated`. `Release` (the same `lock xadd` as `Relaxed` on x86,
    /// and only on the faulted path) publishes both to a reader that loads
    /// this counter first: see [`Report`]'s consistency guarantees.
    pub(crate) fn faulted(&self) {
        self.faulted.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn injected(&self, kind: FaultKind) {
        self.injected[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    #[cfg_attr(not(feature = "io"), allow(dead_code))]
    pub(crate) fn bytes(&self, which: Bytes, n: u64) {
        self.conn_bytes[which as usize].fetch_add(n, Ordering::Relaxed);
    }
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn rejected_header(&self) {
        self.rejected_headers.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn ignored_header(&self) {
        self.ignored_headers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn overflow(&self) {
        self.overflow.fetch_add(1, Ordering::Relaxed);
    }
}

/// Bytes a faulted stream delivered (`passed`) and read but never delivered
/// (`dropped`).
#[derive(Debug, Default)]
pub(crate) struct ByteCounters {
    pub(crate) passed: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

/// One injected fault, as kept in a target's journal.
///
/// ```
/// use tower_chaos::{ChaosLayer, Fault, FaultKind, Trigger};
/// use tower::{Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_chaos::ConfigError> {
/// let chaos = ChaosLayer::builder("db")
///     .seed(1)
///     .journal(16)
///     .fault(Fault::injected_error().when(Trigger::first(1)))
///     .build()?;
/// let target = chaos.target().clone();
/// let mut svc = tower::ServiceBuilder::new()
///     .layer(chaos)
///     .service(service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) }));
/// let _ = svc.ready().await.unwrap().call(1).await;
/// let journal = target.report().journal;
/// assert_eq!(journal.len(), 1);
/// assert_eq!(journal[0].kind, FaultKind::Error);
/// assert_eq!(journal[0].rule, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// When, on tokio's clock, measured from the target's creation.
    pub at: Duration,
    /// What was injected.
    pub kind: FaultKind,
    /// Position of the rule in its fault set, or
    /// [`Event::HEADER_CONTROL`] for a fault a request asked for through
    /// headers (HTTP layers with header control on).
    pub rule: usize,
    /// The rule's name, if it was given one.
    pub rule_name: Option<Arc<str>>,
    /// The delay, for latency faults.
    pub delay: Option<Duration>,
}

impl Event {
    /// The [`rule`](Self::rule) of events for faults asked for through
    /// request headers rather than installed as rules (their
    /// [`rule_name`](Self::rule_name) is `header-control`).
    ///
    /// ```
    /// assert_eq!(tower_chaos::Event::HEADER_CONTROL, usize::MAX);
    /// ```
    pub const HEADER_CONTROL: usize = usize::MAX;
}

/// A bounded journal: the newest `capacity` events, and a count of the ones
/// that had to be dropped to keep it bounded.
#[derive(Debug)]
pub(crate) struct Journal {
    capacity: usize,
    events: Mutex<VecDeque<Event>>,
    dropped: AtomicU64,
}

impl Journal {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            events: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            dropped: AtomicU64::new(0),
        }
    }

    /// Forgets every event (an exploration between its runs).
    #[cfg(feature = "explore")]
    pub(crate) fn clear(&self) {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.dropped.store(0, Ordering::Relaxed);
    }

    pub(crate) fn push(&self, event: Event) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if events.len() == self.capacity {
            events.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        events.push_back(event);
    }

    fn snapshot(&self) -> (Vec<Event>, u64) {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        (
            events.iter().cloned().collect(),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

/// A snapshot of what a target injected, from
/// [`Target::report`](crate::Target::report).
///
/// `Display` prints a compact summary that names the seed, so a failing test
/// that prints its report can be replayed.
///
/// # Consistency while requests are in flight
///
/// A report taken while other threads are calling the target's layers is a
/// snapshot of counters that move independently (no lock is taken on the
/// request path), yet these always hold in it:
///
/// * `passed + faulted == seen`, so `faulted <= seen` (`passed` never
///   saturates);
/// * `faulted <= total_injected()`: every faulted request's faults are
///   counted by kind. The sum equals `faulted` when each request gets at
///   most one fault; a request given several (a latency and an error)
///   counts once in `faulted` and once per fault by kind, and a live
///   connection re-decided after a switch counts its new faults by kind
///   without counting as faulted again;
/// * `connections <= seen`.
///
/// A request being decided while the report is taken may be in `seen` and
/// not yet in `faulted` (it then shows as passed); it is never the other
/// way round (so `passed` may be one higher now and one lower in the next
/// report; `seen`, `faulted` and the counts by kind never go backwards).
/// Once no request is in flight, every counter is exact.
///
/// ```
/// use tower_chaos::{FaultKind, Target};
///
/// let target = Target::builder("payments").seed(42).build()?;
/// let report = target.report();
/// assert_eq!(report.seen, 0);
/// assert_eq!(report.injected(FaultKind::Error), 0);
/// assert!(report.to_string().starts_with("target `payments` (seed 42, set in code)"));
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// The target's name.
    pub target: String,
    /// The seed that replays this run.
    pub seed: u64,
    /// Where the seed came from.
    pub seed_source: SeedSource,
    /// Requests seen by the target's layers (enabled or not), connections
    /// included: a call through a connector and an HTTP layer of one target
    /// is seen twice, once as its connection and once as its request.
    pub seen: u64,
    /// Of [`seen`](Self::seen), the connections the target's connection
    /// layers saw (feature `io`: connectors, listeners, proxies, streams);
    /// `seen - connections` are requests.
    pub connections: u64,
    /// Requests that went through without any fault.
    pub passed: u64,
    /// Requests that got at least one fault.
    pub faulted: u64,
    /// Faults injected, per kind (every kind listed, zeros included).
    pub by_kind: Vec<(FaultKind, u64)>,
    /// Data bytes that faulted streams delivered (HTTP body faults: the
    /// bytes before a cut, or all of a throttled body).
    pub bytes_passed: u64,
    /// Bytes that faulted streams read from the inner stream and never
    /// delivered (the rest of a frame cut by a limit). Bytes the inner
    /// stream never produced because the fault stopped it are not counted.
    pub bytes_dropped: u64,
    /// Requests answered `400 Bad Request` because a fault-control header
    /// was unusable (HTTP layers with header control on); also counted as
    /// [`FaultKind::Status`].
    pub rejected_headers: u64,
    /// Fault-control headers ignored because their value was unusable
    /// (HTTP layers reading Envoy's `x-envoy-fault-*` names, which ignore
    /// such a header as Envoy does instead of answering `400`).
    pub ignored_headers: u64,
    /// Faults not injected because an active-fault cap
    /// ([`FaultSet::max_active`](crate::FaultSet::max_active),
    /// [`Rule::max_active`](crate::Rule::max_active)) was full: Envoy's
    /// `faults_overflow`. Header-asked faults included.
    pub faults_overflow: u64,
    /// Requests (and connections) holding a fault when the report was
    /// taken: Envoy's `active_faults` gauge. A delayed, hanging or
    /// lost-reply request, or one whose body is faulted, is active until
    /// its future (or body) completes or is dropped.
    pub active_faults: u64,
    /// Bytes the target's connections carried from client to server
    /// (feature `io`; zero otherwise).
    pub bytes_upstream: u64,
    /// Bytes the target's connections carried from server to client.
    pub bytes_downstream: u64,
    /// Client-to-server bytes a connection fault took in and never
    /// delivered (blackholed, discarded by a reset or a close, refused after
    /// a truncation).
    pub dropped_upstream: u64,
    /// Server-to-client bytes a connection fault took in and never
    /// delivered.
    pub dropped_downstream: u64,
    /// The journal, oldest first (empty unless enabled with
    /// [`TargetBuilder::journal`](crate::TargetBuilder::journal)).
    pub journal: Vec<Event>,
    /// Events the bounded journal had to drop.
    pub journal_dropped: u64,
    /// Fault sets installed on the target that no layer, service or
    /// connection of the target reads: they inject nothing. Usually a type
    /// mismatch (a `FaultSet<Fault<u64>, u64>` on a target whose
    /// `ChaosLayer` handles `u32` requests, or another error type); an
    /// entry goes away when a layer of the right kind is attached. Install
    /// through a layer's `faults()` handle to make the mismatch a compile
    /// error.
    pub unread_fault_sets: Vec<UnreadFaultSet>,
    /// The rules installed with [`Rule::expect_to_fire`](crate::Rule::expect_to_fire),
    /// with how often each fired (one entry per named rule, or per
    /// installation of an unnamed one); see
    /// [`verify_expected`](Self::verify_expected).
    pub expected: Vec<ExpectedRule>,
}

/// A fault set that no layer of its target reads (see
/// [`Report::unread_fault_sets`]).
///
/// ```
/// use tower_chaos::{ChaosLayer, Fault, FaultSet, Target};
///
/// let target = Target::builder("db").seed(1).build()?;
/// let _layer: ChaosLayer<u32> = ChaosLayer::for_target(&target);
/// // Faults for `u64` requests: no layer of the target reads them.
/// target.set_faults(FaultSet::new().with(Fault::<u64>::hang()))?;
/// let unread = &target.report().unread_fault_sets[0];
/// assert_eq!(unread.rules, 1);
/// assert!(unread.fault_set.starts_with("FaultSet<Fault<u64,"), "{}", unread.fault_set);
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnreadFaultSet {
    /// The set's type, without module paths
    /// (`FaultSet<Fault<u64, Box<dyn Error + Send + Sync>>, u64>`).
    pub fault_set: String,
    /// Rules in the set.
    pub rules: usize,
}

/// A rule marked with [`Rule::expect_to_fire`](crate::Rule::expect_to_fire),
/// and how often it fired (see [`Report::expected`]).
///
/// ```
/// use tower_chaos::{ChaosLayer, Fault, Trigger};
///
/// let chaos: ChaosLayer<u32> = ChaosLayer::builder("db")
///     .seed(1)
///     .fault(Fault::hang().when(Trigger::first(1)).expect_to_fire())
///     .build()?;
/// let expected = &chaos.target().report().expected[0];
/// assert_eq!((expected.rule, expected.fired), (0, 0));
/// assert!(expected.to_string().starts_with("rule #0 of FaultSet<Fault<u32,"), "{expected}");
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpectedRule {
    /// The type of the set the rule was installed in, without module paths.
    pub fault_set: String,
    /// The rule's position in its set.
    pub rule: usize,
    /// The rule's name, if it was given one.
    pub name: Option<Arc<str>>,
    /// Times the rule injected its fault.
    pub fired: u64,
}

impl fmt::Display for ExpectedRule {
    /// `` rule `name` (#0 of FaultSet<..>) `` or `rule #0 of FaultSet<..>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "rule `{name}` (#{} of {})", self.rule, self.fault_set),
            None => write!(f, "rule #{} of {}", self.rule, self.fault_set),
        }
    }
}

/// The rules expected to fire that never did, from
/// [`Report::verify_expected`]. Its `Display` lists them one a line, with
/// the fault sets no layer reads (the usual reason) and the seed.
///
/// ```
/// use tower_chaos::{ChaosLayer, Fault, Trigger};
///
/// let chaos: ChaosLayer<u32> = ChaosLayer::builder("db")
///     .seed(7)
///     .fault(Fault::hang().when(Trigger::first(1)).named("stall").expect_to_fire())
///     .build()?;
/// let err = chaos.target().report().verify_expected().unwrap_err();
/// assert_eq!(err.not_fired()[0].name.as_deref(), Some("stall"));
/// assert_eq!(
///     err.to_string().lines().next(),
///     Some("target `db` (seed 7): 1 rule expected to fire never fired:")
/// );
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct NotFired {
    target: String,
    seed: u64,
    not_fired: Vec<ExpectedRule>,
    unread: Vec<UnreadFaultSet>,
}

impl NotFired {
    /// The expected rules that never fired, in order of first installation.
    ///
    /// See the [type's example](Self).
    #[must_use]
    pub fn not_fired(&self) -> &[ExpectedRule] {
        &self.not_fired
    }
}

impl fmt::Display for NotFired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.not_fired.len();
        writeln!(
            f,
            "target `{}` (seed {}): {n} rule{} expected to fire never fired:",
            self.target,
            self.seed,
            if n == 1 { "" } else { "s" }
        )?;
        for rule in &self.not_fired {
            writeln!(f, "  - {rule}")?;
        }
        for set in &self.unread {
            writeln!(
                f,
                "  note: no layer of the target reads {} ({} rules): they inject nothing",
                set.fault_set, set.rules
            )?;
        }
        Ok(())
    }
}

impl Report {
    /// Reads `counters`, then `seen()` (the requests and connections seen),
    /// in that order: a request counts as faulted only after its call was
    /// counted as seen and its first fault by kind, so reading `faulted`
    /// first (`Acquire`) and the rest after it keeps the snapshot
    /// consistent while requests are in flight, without any lock or extra
    /// cost on the pass path (see the guarantees on [`Report`]).
    pub(crate) fn new(
        target: &str,
        (seed, seed_source): (u64, SeedSource),
        counters: &Counters,
        journal: Option<&Journal>,
        seen: impl FnOnce() -> (u64, u64),
    ) -> Self {
        let faulted = counters.faulted.load(Ordering::Acquire);
        let by_kind = FaultKind::ALL
            .iter()
            .map(|k| (*k, counters.injected[k.index()].load(Ordering::Relaxed)))
            .collect();
        let (seen, connections) = seen();
        let (journal, journal_dropped) = journal.map(Journal::snapshot).unwrap_or_default();
        let bytes = |b: Bytes| counters.conn_bytes[b as usize].load(Ordering::Relaxed);
        Self {
            target: target.to_owned(),
            seed,
            seed_source,
            seen,
            connections,
            // Never saturates: `seen >= faulted` (see above).
            passed: seen.saturating_sub(faulted),
            faulted,
            by_kind,
            bytes_passed: counters.bytes.passed.load(Ordering::Relaxed),
            bytes_dropped: counters.bytes.dropped.load(Ordering::Relaxed),
            rejected_headers: counters.rejected_headers.load(Ordering::Relaxed),
            ignored_headers: counters.ignored_headers.load(Ordering::Relaxed),
            faults_overflow: counters.overflow.load(Ordering::Relaxed),
            active_faults: counters.active.load(Ordering::Relaxed),
            bytes_upstream: bytes(Bytes::Upstream),
            bytes_downstream: bytes(Bytes::Downstream),
            dropped_upstream: bytes(Bytes::DroppedUpstream),
            dropped_downstream: bytes(Bytes::DroppedDownstream),
            journal,
            journal_dropped,
            unread_fault_sets: Vec::new(),
            expected: Vec::new(),
        }
    }

    /// `Ok` when every rule marked with
    /// [`Rule::expect_to_fire`](crate::Rule::expect_to_fire) fired at
    /// least once; otherwise a [`NotFired`] naming each one that never
    /// did (wiremock's `verify`).
    ///
    /// # Errors
    ///
    /// [`NotFired`], listing the rules.
    ///
    /// See [`Rule::expect_to_fire`](crate::Rule::expect_to_fire) for an
    /// example; with no expectations it is always `Ok`:
    ///
    /// ```
    /// let report = tower_chaos::Target::builder("x").seed(1).build()?.report();
    /// assert!(report.verify_expected().is_ok());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn verify_expected(&self) -> Result<(), NotFired> {
        let not_fired: Vec<ExpectedRule> = self.expected.iter().filter(|e| e.fired == 0).cloned().collect();
        if not_fired.is_empty() {
            return Ok(());
        }
        Err(NotFired {
            target: self.target.clone(),
            seed: self.seed,
            not_fired,
            unread: self.unread_fault_sets.clone(),
        })
    }

    /// Panics, listing every rule expected to fire that never did (see
    /// [`verify_expected`](Self::verify_expected)).
    ///
    /// # Panics
    ///
    /// When a rule marked with
    /// [`Rule::expect_to_fire`](crate::Rule::expect_to_fire) never fired.
    ///
    /// ```should_panic
    /// use tower_chaos::{ChaosLayer, Fault, Trigger};
    ///
    /// let chaos: ChaosLayer<u32> = ChaosLayer::builder("db")
    ///     .seed(1)
    ///     .fault(Fault::hang().when(Trigger::first(1)).named("stall").expect_to_fire())
    ///     .build()
    ///     .unwrap();
    /// // No request went through: panics with "rule `stall` (#0 of ...) ...".
    /// chaos.target().report().assert_expected_fired();
    /// ```
    #[track_caller]
    pub fn assert_expected_fired(&self) {
        if let Err(e) = self.verify_expected() {
            panic!("{e}");
        }
    }

    /// Faults of `kind` injected.
    ///
    /// ```
    /// # use tower_chaos::{FaultKind, Target};
    /// let report = Target::builder("x").seed(1).build()?.report();
    /// assert_eq!(report.injected(FaultKind::Hang), 0);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn injected(&self, kind: FaultKind) -> u64 {
        count_of(&self.by_kind, kind)
    }

    /// Faults injected, all kinds together.
    ///
    /// ```
    /// # use tower_chaos::Target;
    /// let report = Target::builder("x").seed(1).build()?.report();
    /// assert_eq!(report.total_injected(), 0);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn total_injected(&self) -> u64 {
        self.by_kind.iter().map(|(_, n)| n).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seed_source {
            // A seed no one wrote down: say how to replay it.
            SeedSource::Random => write!(
                f,
                "target `{}` ({}): {} seen",
                self.target,
                Replay(self.seed, self.seed_source),
                self.seen
            )?,
            _ => write!(
                f,
                "target `{}` (seed {}, {}): {} seen",
                self.target, self.seed, self.seed_source, self.seen
            )?,
        }
        if self.connections > 0 {
            write!(
                f,
                " ({} requests, {} connections)",
                // A report built by hand may not keep `connections <= seen`.
                self.seen.saturating_sub(self.connections),
                self.connections
            )?;
        }
        writeln!(f, ", {} passed, {} faulted", self.passed, self.faulted)?;
        for (kind, n) in self.by_kind.iter().filter(|(_, n)| *n > 0) {
            writeln!(f, "  {:<14} {n}", kind.as_str())?;
        }
        if self.bytes_passed > 0 || self.bytes_dropped > 0 {
            writeln!(
                f,
                "  bytes: {} passed, {} dropped by faulted streams",
                self.bytes_passed, self.bytes_dropped
            )?;
        }
        if self.rejected_headers > 0 {
            writeln!(
                f,
                "  ({} requests with unusable fault headers)",
                self.rejected_headers
            )?;
        }
        if self.ignored_headers > 0 {
            writeln!(f, "  ({} unusable fault headers ignored)", self.ignored_headers)?;
        }
        if self.faults_overflow > 0 {
            writeln!(
                f,
                "  ({} faults not injected: active-fault cap full)",
                self.faults_overflow
            )?;
        }
        let moved = self.bytes_upstream.saturating_add(self.bytes_downstream);
        let dropped = self.dropped_upstream.saturating_add(self.dropped_downstream);
        if moved > 0 || dropped > 0 {
            writeln!(
                f,
                "  bytes          {} up, {} down; dropped {} up, {} down",
                self.bytes_upstream, self.bytes_downstream, self.dropped_upstream, self.dropped_downstream
            )?;
        }
        if self.journal_dropped > 0 {
            writeln!(f, "  (journal dropped {} older events)", self.journal_dropped)?;
        }
        for set in &self.unread_fault_sets {
            writeln!(
                f,
                "  WARNING: {} ({} rules) installed, but no layer of this target reads it: it injects nothing",
                set.fault_set, set.rules
            )?;
        }
        for rule in self.expected.iter().filter(|e| e.fired == 0) {
            writeln!(f, "  expected to fire, never fired: {rule}")?;
        }
        Ok(())
    }
}

/// The count of `kind` in a list of counts by kind; 0 when it is absent.
pub(crate) fn count_of(counts: &[(FaultKind, u64)], kind: FaultKind) -> u64 {
    counts.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ms: u64) -> Event {
        Event {
            at: Duration::from_millis(ms),
            kind: FaultKind::Hang,
            rule: 0,
            rule_name: None,
            delay: None,
        }
    }

    #[test]
    fn journal_is_bounded_and_counts_drops() {
        let j = Journal::new(2);
        for ms in 0..5 {
            j.push(event(ms));
        }
        let (events, dropped) = j.snapshot();
        assert_eq!(events, vec![event(3), event(4)]);
        assert_eq!(dropped, 3);
    }

    #[test]
    fn display_lists_nonzero_kinds() {
        let c = Counters::default();
        c.faulted();
        c.injected(FaultKind::Hang);
        let r = Report::new("t", (3, SeedSource::Env), &c, None, || (4, 0));
        assert_eq!(r.passed, 3);
        assert_eq!(
            r.to_string(),
            "target `t` (seed 3, TOWER_CHAOS_SEED): 4 seen, 3 passed, 1 faulted\n  hang           1\n"
        );
    }

    #[test]
    fn overflow_ignored_headers_and_active_faults_are_reported() {
        let c = Counters::default();
        c.overflow();
        c.overflow();
        c.ignored_header();
        c.active.fetch_add(3, Ordering::Relaxed);
        let r = Report::new("t", (3, SeedSource::Env), &c, None, || (4, 0));
        assert_eq!((r.faults_overflow, r.ignored_headers, r.active_faults), (2, 1, 3));
        let text = r.to_string();
        assert!(text.contains("(1 unusable fault headers ignored)"), "{text}");
        assert!(
            text.contains("(2 faults not injected: active-fault cap full)"),
            "{text}"
        );
    }

    #[test]
    fn a_random_seed_is_printed_with_how_to_replay_it() {
        let c = Counters::default();
        let r = Report::new("t", (9, SeedSource::Random), &c, None, || (0, 0));
        assert!(
            r.to_string()
                .starts_with("target `t` (seed 9, picked at random: replay with TOWER_CHAOS_SEED=9): 0 seen"),
            "{r}"
        );
    }

    #[test]
    fn counters_are_read_before_the_requests_seen() {
        // A request decided while the report is being taken: counted as
        // seen, then by kind, then as faulted. Whenever it lands between the
        // reads, the report stays consistent because `seen` is read last.
        let c = Counters::default();
        let r = Report::new("t", (1, SeedSource::Env), &c, None, || {
            c.injected(FaultKind::Error);
            c.faulted();
            (1, 0)
        });
        assert_eq!((r.seen, r.passed, r.faulted, r.total_injected()), (1, 1, 0, 0));
    }

    #[test]
    fn display_of_edited_or_huge_counters_does_not_panic() {
        let c = Counters::default();
        let mut r = Report::new("t", (1, SeedSource::Env), &c, None, || (4, 0));
        r.connections = 10;
        r.bytes_upstream = u64::MAX;
        r.bytes_downstream = u64::MAX;
        r.dropped_upstream = u64::MAX;
        let text = r.to_string();
        assert!(text.contains("(0 requests, 10 connections)"), "{text}");
        assert!(text.contains(&format!("{} up", u64::MAX)), "{text}");
    }
}

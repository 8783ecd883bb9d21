//! Triggers: when a fault fires.

use std::fmt;
use std::hash::Hash;
use std::ops::{BitAnd, BitOr, Not};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::ConfigError;
use crate::rng::{derive, mix64, stable_hash, unit};

type Predicate<R> = Arc<dyn Fn(&R) -> bool + Send + Sync>;
type KeyFn<R> = Arc<dyn Fn(&R) -> u64 + Send + Sync>;

/// When a fault fires.
///
/// A [`Trigger`] is a condition evaluated once per request, at `call` time,
/// for one rule. Triggers combine with [`Trigger::and`], [`Trigger::or`],
/// [`Trigger::all`], [`Trigger::any`] and `!` (or [`Trigger::negate`]).
/// Limits that depend on what is already happening (a total budget, a cap on
/// concurrently active faults) are set on the rule, not the trigger: see
/// [`Rule::budget`](crate::Rule::budget) and
/// [`Rule::max_active`](crate::Rule::max_active).
///
/// # Determinism
///
/// * Random draws ([`Trigger::rate`]) are a pure function of the seed, the
///   rule's position and the request's call index on its target, so the same
///   seed and call order give the same answers whichever clone, thread or
///   poll order runs them.
/// * Keyed draws ([`Trigger::keyed`]) depend only on the seed and the key:
///   a key hit once is hit every time, under any concurrency.
/// * Counting triggers ([`Trigger::first`], [`Trigger::every`],
///   [`Trigger::after`]) count the requests that *reach* them. Combinators
///   evaluate left to right and stop early, so
///   `Trigger::when(is_put).and(Trigger::first(3))` fails the first three
///   PUTs, while `Trigger::first(3).and(Trigger::when(is_put))` fails those
///   of the first three requests that are PUTs. Counts live in the fault
///   set: every clone of a service shares them, and swapping the fault set
///   starts them afresh.
/// * Predicates ([`Trigger::when`], the HTTP request matchers) should be
///   pure functions of the request: when a constant [`Trigger::rate`] in
///   the same `all` already decides that a rule does not fire, they may not
///   be called at all (that is what keeps armed-but-quiet rules at a few
///   nanoseconds a call).
///
/// # Example
///
/// ```
/// use tower_chaos::Trigger;
///
/// // Half of the requests of tenant-keyed traffic, but only in the first
/// // minute, and never for health checks.
/// let t: Trigger<String> = Trigger::keyed(0.5, |req: &String| req.clone())
///     .and(Trigger::window(std::time::Duration::ZERO, std::time::Duration::from_secs(60)))
///     .and(!Trigger::when(|req: &String| req == "/health"));
/// assert!(format!("{t:?}").contains("Keyed"));
/// ```
pub struct Trigger<R: ?Sized> {
    node: Node<R>,
    /// Levels of the tree: 1 for a leaf, one more per `all`/`any`/`not`
    /// above it (chains of `and`/`or` are flattened, so they do not nest).
    depth: u32,
}

/// How deeply [`Trigger`] combinators ([`Trigger::all`], [`Trigger::any`],
/// `!`) may nest: 64 levels, leaves included.
///
/// Chains of [`Trigger::and`] and [`Trigger::or`] are flattened as they are
/// built (`a.and(b).and(c)` is `all([a, b, c])`), so a chain of any length
/// stays two levels deep. A tree nested deeper than this limit is not kept:
/// it fails to install with a [`ConfigError`] naming `trigger.depth` and the
/// depth, and its `Debug` says `TooDeep(depth)`. That bounds the recursion
/// of compiling, evaluating, cloning, printing and dropping a trigger, on
/// any thread's stack.
///
/// ```
/// use tower_chaos::{ChaosLayer, Fault, MAX_TRIGGER_DEPTH, Trigger};
///
/// // Ten thousand `and`s: one flat `all`.
/// let chain = (0..10_000).fold(Trigger::<()>::always(), |t, _| t.and(Trigger::always()));
/// assert!(ChaosLayer::builder("db").fault(Fault::<()>::hang().when(chain)).build().is_ok());
///
/// // Sixty-five `!`s around a leaf: one level too deep.
/// let deep = (0..MAX_TRIGGER_DEPTH).fold(Trigger::<()>::always(), |t, _| !t);
/// assert_eq!(format!("{deep:?}"), "TooDeep(65)");
/// let err = ChaosLayer::builder("db").fault(Fault::<()>::hang().when(deep)).build().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid `trigger.depth` = 65: all/any/not nest at most 64 levels deep"
/// );
/// ```
pub const MAX_TRIGGER_DEPTH: usize = 64;

enum Node<R: ?Sized> {
    Always,
    Never,
    Rate(f64),
    Every(u64),
    First(u64),
    After(u64),
    When(Predicate<R>, Option<Arc<str>>),
    Keyed(f64, KeyFn<R>),
    Window(Duration, Duration),
    Ramp(Ramp),
    Overload(Capacity),
    All(Vec<Self>),
    Any(Vec<Self>),
    Not(Box<Self>),
    /// A combinator nested deeper than [`MAX_TRIGGER_DEPTH`], at this
    /// depth; its parts were dropped when it was built.
    TooDeep(u32),
    /// A part that was refused when written (a bad glob in a request
    /// matcher): the error comes out when the fault set is built.
    Invalid(Box<ConfigError>),
}

impl<R: ?Sized> Clone for Node<R> {
    fn clone(&self) -> Self {
        match self {
            Self::Always => Self::Always,
            Self::Never => Self::Never,
            Self::Rate(p) => Self::Rate(*p),
            Self::Every(n) => Self::Every(*n),
            Self::First(n) => Self::First(*n),
            Self::After(n) => Self::After(*n),
            Self::When(f, label) => Self::When(Arc::clone(f), label.clone()),
            Self::Keyed(p, f) => Self::Keyed(*p, Arc::clone(f)),
            Self::Window(a, b) => Self::Window(*a, *b),
            Self::Ramp(r) => Self::Ramp(*r),
            Self::Overload(c) => Self::Overload(*c),
            Self::All(v) => Self::All(v.clone()),
            Self::Any(v) => Self::Any(v.clone()),
            Self::Not(n) => Self::Not(n.clone()),
            Self::TooDeep(d) => Self::TooDeep(*d),
            Self::Invalid(e) => Self::Invalid(e.clone()),
        }
    }
}

impl<R: ?Sized> fmt::Debug for Node<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Always => f.write_str("Always"),
            Self::Never => f.write_str("Never"),
            Self::Rate(p) => f.debug_tuple("Rate").field(p).finish(),
            Self::Every(n) => f.debug_tuple("Every").field(n).finish(),
            Self::First(n) => f.debug_tuple("First").field(n).finish(),
            Self::After(n) => f.debug_tuple("After").field(n).finish(),
            Self::When(_, None) => f.write_str("When(<predicate>)"),
            Self::When(_, Some(label)) => write!(f, "When({label})"),
            Self::Keyed(p, _) => f.debug_tuple("Keyed").field(p).field(&"<key fn>").finish(),
            Self::Window(a, b) => f.debug_tuple("Window").field(a).field(b).finish(),
            Self::Ramp(r) => r.fmt(f),
            Self::Overload(c) => f.debug_tuple("Overload").field(c).finish(),
            Self::All(v) => f.debug_tuple("All").field(v).finish(),
            Self::Any(v) => f.debug_tuple("Any").field(v).finish(),
            Self::Not(n) => f.debug_tuple("Not").field(n).finish(),
            Self::TooDeep(d) => f.debug_tuple("TooDeep").field(d).finish(),
            Self::Invalid(e) => write!(f, "Invalid({e})"),
        }
    }
}

impl<R: ?Sized> Clone for Trigger<R> {
    fn clone(&self) -> Self {
        Self {
            node: self.node.clone(),
            depth: self.depth,
        }
    }
}

impl<R: ?Sized> fmt::Debug for Trigger<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.node.fmt(f)
    }
}

impl<R: ?Sized> Default for Trigger<R> {
    /// [`Trigger::always`].
    fn default() -> Self {
        Self::always()
    }
}

impl<R: ?Sized> Trigger<R> {
    const fn from_node(node: Node<R>) -> Self {
        Self { node, depth: 1 }
    }

    /// A combinator over parts at most `below` levels deep; replaced by
    /// [`Node::TooDeep`] beyond [`MAX_TRIGGER_DEPTH`] (the parts, no deeper
    /// than the limit themselves, are dropped here).
    fn nested(below: u32, node: Node<R>) -> Self {
        let depth = below.saturating_add(1);
        if depth as usize > MAX_TRIGGER_DEPTH {
            drop(node);
            return Self {
                node: Node::TooDeep(depth),
                depth,
            };
        }
        Self { node, depth }
    }

    /// `self` and `other` under one `all` (`all` true) or `any`, splicing
    /// the parts of either that already is one (non-empty: an empty list
    /// must still be reported when installed). Evaluation order and
    /// short-circuits are those of the nested form.
    fn join(self, other: Self, all: bool) -> Self {
        let mut below = 0;
        let mut parts = Vec::new();
        for t in [self, other] {
            match t.node {
                Node::All(v) if all && !v.is_empty() => {
                    below = below.max(t.depth - 1);
                    parts.extend(v);
                }
                Node::Any(v) if !all && !v.is_empty() => {
                    below = below.max(t.depth - 1);
                    parts.extend(v);
                }
                node => {
                    below = below.max(t.depth);
                    parts.push(node);
                }
            }
        }
        Self::nested(below, if all { Node::All(parts) } else { Node::Any(parts) })
    }

    /// The deepest of `triggers`, and their nodes.
    fn parts(triggers: impl IntoIterator<Item = Self>) -> (u32, Vec<Node<R>>) {
        let mut below = 0;
        let nodes = triggers
            .into_iter()
            .map(|t| {
                below = below.max(t.depth);
                t.node
            })
            .collect();
        (below, nodes)
    }

    /// Whether the trigger fires for every request, whatever the request,
    /// the clock or the count: `always`, `rate(1)`, `every(1)`,
    /// `after(0)`, or an `all` of such.
    #[cfg(feature = "scenario")]
    pub(crate) fn always_fires(&self) -> bool {
        fn node<R: ?Sized>(n: &Node<R>) -> bool {
            match n {
                Node::Always => true,
                Node::Rate(p) => *p >= 1.0,
                Node::Every(n) => *n == 1,
                Node::After(n) => *n == 0,
                Node::All(parts) => parts.iter().all(node),
                _ => false,
            }
        }
        node(&self.node)
    }

    /// Fires on every request.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::always();
    /// assert_eq!(format!("{t:?}"), "Always");
    /// ```
    #[must_use]
    pub const fn always() -> Self {
        Self::from_node(Node::Always)
    }

    /// Never fires (a placeholder a target's handle can later swap out).
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::never();
    /// assert_eq!(format!("{t:?}"), "Never");
    /// ```
    #[must_use]
    pub const fn never() -> Self {
        Self::from_node(Node::Never)
    }

    /// Fires with probability `p` (checked at build: `0.0..=1.0`, not NaN).
    /// The target's rate scale multiplies `p`.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::rate(0.25);
    /// assert_eq!(format!("{t:?}"), "Rate(0.25)");
    /// ```
    #[must_use]
    pub const fn rate(p: f64) -> Self {
        Self::from_node(Node::Rate(p))
    }

    /// Fires on the `n`-th request reaching it, then the `2n`-th, and so on
    /// (`n >= 1`).
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::every(3);
    /// assert_eq!(format!("{t:?}"), "Every(3)");
    /// ```
    #[must_use]
    pub const fn every(n: u64) -> Self {
        Self::from_node(Node::Every(n))
    }

    /// Fires on the first `n` requests reaching it (`n >= 1`).
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::first(3);
    /// assert_eq!(format!("{t:?}"), "First(3)");
    /// ```
    #[must_use]
    pub const fn first(n: u64) -> Self {
        Self::from_node(Node::First(n))
    }

    /// Lets the first `n` requests reaching it pass, then fires on every one
    /// after them.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::after(10);
    /// assert_eq!(format!("{t:?}"), "After(10)");
    /// ```
    #[must_use]
    pub const fn after(n: u64) -> Self {
        Self::from_node(Node::After(n))
    }

    /// Fires when `predicate` returns `true` for the request.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t = Trigger::when(|path: &&str| path.starts_with("/admin"));
    /// assert_eq!(format!("{t:?}"), "When(<predicate>)");
    /// ```
    #[must_use]
    pub fn when<F>(predicate: F) -> Self
    where
        F: Fn(&R) -> bool + Send + Sync + 'static,
    {
        Self::from_node(Node::When(Arc::new(predicate), None))
    }

    /// [`when`](Self::when) with a label that `Debug` prints instead of
    /// `<predicate>` (used for HTTP request matchers).
    #[cfg_attr(
        not(any(feature = "http", all(feature = "serde", feature = "io"))),
        allow(dead_code)
    )]
    pub(crate) fn when_labeled<F>(label: impl Into<Arc<str>>, predicate: F) -> Self
    where
        F: Fn(&R) -> bool + Send + Sync + 'static,
    {
        Self::from_node(Node::When(Arc::new(predicate), Some(label.into())))
    }

    /// A trigger whose fault set refuses to build with `error`: how a part
    /// that cannot fail where it is written (a request matcher's glob)
    /// reports its bad value at `build()` / `set_faults`.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn invalid(error: ConfigError) -> Self {
        Self::from_node(Node::Invalid(Box::new(error)))
    }

    /// Sticky partial outage: hashes the key `key(req)` with the seed and
    /// fires for a fraction `p` of all keys, always the same keys for a given
    /// seed (tenants, partitions, cells). Raising `p` (or the target's rate
    /// scale) only adds keys: a key hit at `p` is also hit at any larger `p`.
    ///
    /// The key is hashed with a stable hasher (FNV-1a), so the same seed
    /// selects the same keys on every platform and toolchain.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t = Trigger::keyed(0.1, |req: &(u32, String)| req.0);
    /// assert!(format!("{t:?}").starts_with("Keyed(0.1"));
    /// ```
    #[must_use]
    pub fn keyed<K, F>(p: f64, key: F) -> Self
    where
        K: Hash,
        F: Fn(&R) -> K + Send + Sync + 'static,
    {
        Self::from_node(Node::Keyed(p, Arc::new(move |r| stable_hash(&key(r)))))
    }

    /// Fires while the target's clock (tokio's [`Instant`], measured from
    /// when the target was built) is within `from..to`.
    ///
    /// [`Instant`]: tokio::time::Instant
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// use std::time::Duration;
    /// let t: Trigger<()> = Trigger::window(Duration::from_secs(10), Duration::from_secs(70));
    /// assert!(format!("{t:?}").starts_with("Window"));
    /// ```
    #[must_use]
    pub const fn window(from: Duration, to: Duration) -> Self {
        Self::from_node(Node::Window(from, to))
    }

    /// Fires with a probability that changes linearly with the target's
    /// clock: `from` until `start`, `to` from `end` on, and the straight line
    /// between them in `start..end` (a brownout that deepens, or a recovery
    /// that spreads). Both probabilities are checked at build (`0.0..=1.0`)
    /// and multiplied by the target's rate scale, like [`rate`](Self::rate).
    ///
    /// Scenarios use it for their ramps: the probability is computed per
    /// request, so a ramp is exactly linear and needs no re-installation.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// use std::time::Duration;
    /// let t: Trigger<()> = Trigger::ramp(0.0, 0.8, Duration::from_secs(60), Duration::from_secs(660));
    /// assert!(format!("{t:?}").starts_with("Ramp"));
    /// ```
    #[must_use]
    pub const fn ramp(from: f64, to: f64, start: Duration, end: Duration) -> Self {
        Self::from_node(Node::Ramp(Ramp { from, to, start, end }))
    }

    /// Overload: fires more often the more load the callers offer beyond a
    /// [`Capacity`], as a provider that sheds load does.
    ///
    /// Every request that reaches the trigger counts as offered load (also
    /// the ones it rejects: a retry is load too). With `offered` requests in
    /// the capacity's sliding window (this one included) and room for
    /// `capacity`, it fires with probability `1 - capacity / offered` (zero
    /// while `offered <= capacity`), times the target's rate scale. The
    /// window slides on tokio's clock; the estimate is the usual two-bucket
    /// one (the previous window weighted by how much of it still overlaps,
    /// plus the current one). The draw is random, keyed like
    /// [`rate`](Self::rate), so a seed and a call order (with their times)
    /// replay the same rejections. The window is part of the fault set:
    /// shared by every clone, restarted when the fault set is swapped.
    ///
    /// Clients that retry without backoff raise their own offered load and
    /// see their rejection rate climb; clients with jittered exponential
    /// backoff and retry budgets keep it near capacity (Google Cloud,
    /// 2025-06-12).
    ///
    /// ```
    /// use tower_chaos::{Capacity, Trigger};
    /// let t: Trigger<()> = Trigger::overload(Capacity::per_second(100.0));
    /// assert!(format!("{t:?}").starts_with("Overload"));
    /// ```
    #[must_use]
    pub const fn overload(capacity: Capacity) -> Self {
        Self::from_node(Node::Overload(capacity))
    }

    /// Fires when every trigger fires (evaluated in order, stopping at the
    /// first that does not). Must not be empty; see [`MAX_TRIGGER_DEPTH`]
    /// for how deeply combinators nest.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::all([Trigger::after(5), Trigger::rate(0.5)]);
    /// assert_eq!(format!("{t:?}"), "All([After(5), Rate(0.5)])");
    /// ```
    #[must_use]
    pub fn all(triggers: impl IntoIterator<Item = Self>) -> Self {
        let (below, nodes) = Self::parts(triggers);
        Self::nested(below, Node::All(nodes))
    }

    /// Fires when any trigger fires (evaluated in order, stopping at the
    /// first that does). Must not be empty.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::any([Trigger::first(1), Trigger::every(10)]);
    /// assert_eq!(format!("{t:?}"), "Any([First(1), Every(10)])");
    /// ```
    #[must_use]
    pub fn any(triggers: impl IntoIterator<Item = Self>) -> Self {
        let (below, nodes) = Self::parts(triggers);
        Self::nested(below, Node::Any(nodes))
    }

    /// Both `self` and `other` (`other` is evaluated only if `self` fires).
    /// Chains flatten: `a.and(b).and(c)` is `all([a, b, c])`.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::rate(0.5).and(Trigger::first(2));
    /// assert_eq!(format!("{t:?}"), "All([Rate(0.5), First(2)])");
    /// let t = t.and(Trigger::after(1));
    /// assert_eq!(format!("{t:?}"), "All([Rate(0.5), First(2), After(1)])");
    /// ```
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        self.join(other, true)
    }

    /// Either `self` or `other` (`other` is evaluated only if `self` does
    /// not fire). Chains flatten: `a.or(b).or(c)` is `any([a, b, c])`.
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::first(1).or(Trigger::rate(0.1));
    /// assert_eq!(format!("{t:?}"), "Any([First(1), Rate(0.1)])");
    /// ```
    #[must_use]
    pub fn or(self, other: Self) -> Self {
        self.join(other, false)
    }

    /// Fires when `trigger` does not (also available as `!trigger`).
    ///
    /// ```
    /// # use tower_chaos::Trigger;
    /// let t: Trigger<()> = Trigger::negate(Trigger::first(2));
    /// assert_eq!(format!("{t:?}"), format!("{:?}", !Trigger::<()>::first(2)));
    /// ```
    #[must_use]
    pub fn negate(trigger: Self) -> Self {
        Self::nested(trigger.depth, Node::Not(Box::new(trigger.node)))
    }

    /// Validates and compiles into the evaluated form with its own counters.
    /// `salts` numbers the random leaves so each draws independently.
    pub(crate) fn compile(&self, salts: &mut Salts) -> Result<Cond<R>, ConfigError> {
        compile(&self.node, salts)
    }
}

impl<R: ?Sized> BitAnd for Trigger<R> {
    type Output = Self;

    /// `a & b` is [`a.and(b)`](Trigger::and).
    fn bitand(self, other: Self) -> Self {
        self.and(other)
    }
}

impl<R: ?Sized> BitOr for Trigger<R> {
    type Output = Self;

    /// `a | b` is [`a.or(b)`](Trigger::or).
    fn bitor(self, other: Self) -> Self {
        self.or(other)
    }
}

impl<R: ?Sized> Not for Trigger<R> {
    type Output = Self;

    fn not(self) -> Self {
        Self::negate(self)
    }
}

fn check_rate(field: &'static str, p: f64) -> Result<f64, ConfigError> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(ConfigError::invalid(field, p, "must be within 0.0..=1.0"))
    }
}

fn check_n(field: &'static str, n: u64) -> Result<u64, ConfigError> {
    if n == 0 {
        Err(ConfigError::invalid(field, n, "must be at least 1"))
    } else {
        Ok(n)
    }
}

/// Hands out a distinct salt to every random leaf of a fault set.
#[derive(Debug)]
pub(crate) struct Salts {
    rule: u64,
    leaf: u64,
}

impl Salts {
    pub(crate) const fn for_rule(rule: usize) -> Self {
        Self {
            rule: rule as u64,
            leaf: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.leaf += 1;
        derive(self.rule, self.leaf)
    }
}

fn compile<R: ?Sized>(node: &Node<R>, salts: &mut Salts) -> Result<Cond<R>, ConfigError> {
    let list = |field, nodes: &[Node<R>], salts: &mut Salts| {
        if nodes.is_empty() {
            return Err(ConfigError::invalid(field, "[]", "needs at least one trigger"));
        }
        nodes
            .iter()
            .map(|n| compile(n, salts))
            .collect::<Result<Box<[_]>, _>>()
    };
    Ok(match node {
        Node::Always => Cond::Always,
        Node::Never => Cond::Never,
        Node::Rate(p) => Cond::Rate {
            p: check_rate("trigger.rate", *p)?,
            salt: salts.next(),
        },
        Node::Every(n) => Cond::Every(check_n("trigger.every", *n)?, AtomicU64::new(0)),
        Node::First(n) => Cond::First(check_n("trigger.first", *n)?, AtomicU64::new(0)),
        Node::After(n) => Cond::After(*n, AtomicU64::new(0)),
        Node::When(f, _) => Cond::When(Arc::clone(f)),
        Node::Keyed(p, f) => Cond::Keyed {
            p: check_rate("trigger.keyed.rate", *p)?,
            key: Arc::clone(f),
            salt: salts.next(),
        },
        Node::Window(from, to) => {
            if from > to {
                return Err(ConfigError::min_above_max("trigger.window", from, to));
            }
            Cond::Window(*from, *to)
        }
        Node::Ramp(r) => Cond::Ramp {
            ramp: Ramp {
                from: check_rate("trigger.ramp.from", r.from)?,
                to: check_rate("trigger.ramp.to", r.to)?,
                ..*r
            },
            salt: if r.start > r.end {
                return Err(ConfigError::min_above_max("trigger.ramp", r.start, r.end));
            } else {
                salts.next()
            },
        },
        Node::Overload(c) => Cond::Overload {
            capacity: c.validate()?,
            salt: salts.next(),
            window: Mutex::new(Sliding::default()),
        },
        Node::All(v) => Cond::All(list("trigger.all", v, salts)?),
        Node::Any(v) => Cond::Any(list("trigger.any", v, salts)?),
        Node::Not(n) => Cond::Not(Box::new(compile(n, salts)?)),
        Node::TooDeep(depth) => {
            return Err(ConfigError::invalid(
                "trigger.depth",
                depth,
                "all/any/not nest at most 64 levels deep",
            ));
        }
        Node::Invalid(e) => return Err((**e).clone()),
    })
}

/// A linear change of probability over a span of the target's clock; see
/// [`Trigger::ramp`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ramp {
    from: f64,
    to: f64,
    start: Duration,
    end: Duration,
}

impl Ramp {
    fn at(&self, now: Duration) -> f64 {
        if now <= self.start {
            return self.from;
        }
        if now >= self.end {
            return self.to;
        }
        let span = (self.end - self.start).as_secs_f64();
        let done = (now - self.start).as_secs_f64() / span;
        self.from + (self.to - self.from) * done
    }
}

/// How much load an [`overload`](Trigger::overload) trigger lets through
/// before it starts rejecting: `requests` per sliding `window`.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::Capacity;
///
/// assert_eq!(Capacity::per_second(50.0), Capacity::per(50.0, Duration::from_secs(1)));
/// assert_eq!(Capacity::per_second(50.0).per_second_rate(), 50.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    requests: f64,
    window: Duration,
}

impl Capacity {
    /// `requests` per second, over a one-second sliding window.
    ///
    /// ```
    /// # use tower_chaos::Capacity;
    /// assert_eq!(Capacity::per_second(10.0).window().as_secs(), 1);
    /// ```
    #[must_use]
    pub const fn per_second(requests: f64) -> Self {
        Self::per(requests, Duration::from_secs(1))
    }

    /// `requests` per sliding `window` (checked when installed: `requests`
    /// finite and > 0, `window` > 0).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Capacity;
    /// let c = Capacity::per(500.0, Duration::from_secs(5));
    /// assert_eq!(c.per_second_rate(), 100.0);
    /// ```
    #[must_use]
    pub const fn per(requests: f64, window: Duration) -> Self {
        Self { requests, window }
    }

    /// Requests per window.
    ///
    /// ```
    /// # use tower_chaos::Capacity;
    /// assert_eq!(Capacity::per_second(7.0).requests(), 7.0);
    /// ```
    #[must_use]
    pub const fn requests(&self) -> f64 {
        self.requests
    }

    /// The sliding window.
    ///
    /// ```
    /// # use tower_chaos::Capacity;
    /// assert_eq!(Capacity::per_second(7.0).window(), std::time::Duration::from_secs(1));
    /// ```
    #[must_use]
    pub const fn window(&self) -> Duration {
        self.window
    }

    /// The capacity in requests per second.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Capacity;
    /// assert_eq!(Capacity::per(30.0, Duration::from_secs(60)).per_second_rate(), 0.5);
    /// ```
    #[must_use]
    pub fn per_second_rate(&self) -> f64 {
        self.requests / self.window.as_secs_f64()
    }

    fn validate(self) -> Result<Self, ConfigError> {
        if !(self.requests.is_finite() && self.requests > 0.0) {
            return Err(ConfigError::invalid(
                "trigger.overload.requests",
                self.requests,
                "must be finite and > 0",
            ));
        }
        if self.window.is_zero() {
            return Err(ConfigError::invalid(
                "trigger.overload.window",
                self.window,
                "must be longer than zero",
            ));
        }
        Ok(self)
    }
}

/// Two-bucket sliding-window counter of offered requests.
#[derive(Debug, Default)]
pub(crate) struct Sliding {
    /// Start of the current bucket.
    start: Duration,
    current: u64,
    previous: u64,
}

impl Sliding {
    /// Counts one request at `now` and returns the estimated number of
    /// requests in the window ending now (this one included).
    fn offer(&mut self, now: Duration, window: Duration) -> f64 {
        let elapsed = now.saturating_sub(self.start);
        // Any window is accepted (up to `Duration::MAX`): twice a window
        // longer than the clock can run saturates instead of overflowing,
        // and `start + window <= now` below.
        if elapsed >= window.saturating_mul(2) {
            self.previous = 0;
            self.current = 0;
            self.start = now;
        } else if elapsed >= window {
            self.previous = self.current;
            self.current = 0;
            self.start += window;
        }
        self.current = self.current.saturating_add(1);
        let into = now.saturating_sub(self.start).as_secs_f64() / window.as_secs_f64();
        self.previous as f64 * (1.0 - into).max(0.0) + self.current as f64
    }
}

/// A condition's leading rate (see [`Cond::lead_rate`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lead {
    pub(crate) p: f64,
    pub(crate) salt: u64,
    /// Its position in the condition's `all`; `None` when it is the whole
    /// condition.
    pub(crate) at: Option<usize>,
}

/// A compiled trigger: validated, with its own counters.
pub(crate) enum Cond<R: ?Sized> {
    Always,
    Never,
    Rate {
        p: f64,
        salt: u64,
    },
    Every(u64, AtomicU64),
    First(u64, AtomicU64),
    After(u64, AtomicU64),
    When(Predicate<R>),
    Keyed {
        p: f64,
        key: KeyFn<R>,
        salt: u64,
    },
    Window(Duration, Duration),
    Ramp {
        ramp: Ramp,
        salt: u64,
    },
    Overload {
        capacity: Capacity,
        salt: u64,
        window: Mutex<Sliding>,
    },
    All(Box<[Self]>),
    Any(Box<[Self]>),
    Not(Box<Self>),
}

/// What a trigger may look at besides the request.
pub(crate) struct Draw<'a> {
    /// Random bits unique to this call: `nth(plan seed, call index)`.
    pub(crate) call_bits: u64,
    /// The fault set's seed, for keyed draws that must not depend on the call.
    pub(crate) seed: u64,
    /// The target's rate scale.
    pub(crate) scale: f64,
    /// Time since the target's epoch, read lazily (only window triggers pay).
    pub(crate) clock: &'a dyn Fn() -> Duration,
}

impl<R: ?Sized> Cond<R> {
    /// Whether the condition holds for this request. The common leaves are
    /// decided inline; the rest goes through [`Self::fires_other`], so that
    /// a rate check costs a few instructions and no function prologue.
    #[inline]
    pub(crate) fn fires(&self, req: &R, draw: &Draw<'_>) -> bool {
        match self {
            // Salts are already random constants: one mixing round suffices.
            Self::Rate { p, salt } => unit(mix64(draw.call_bits ^ salt)) < p * draw.scale,
            Self::Always => true,
            Self::Never => false,
            _ => self.fires_other(req, draw),
        }
    }

    /// The constant rate that decides this condition before anything with
    /// a side effect: `rate(p)` alone, or a rate in an `all` with only pure
    /// conditions (predicates, matchers, keyed draws, windows) before it. A
    /// `never` counts as a rate of 0. When that rate fails the condition
    /// fails, and no counting trigger is reached, whatever is evaluated:
    /// that is what lets a [`Screen`](crate::screen::Screen) draw the rates
    /// of a whole fault set at once.
    pub(crate) fn lead_rate(&self) -> Option<Lead> {
        let leaf = |c: &Self, at| match c {
            Self::Rate { p, salt } => Some(Lead {
                p: *p,
                salt: *salt,
                at,
            }),
            Self::Never => Some(Lead { p: 0.0, salt: 0, at }),
            _ => None,
        };
        match self {
            Self::All(v) => {
                for (k, c) in v.iter().enumerate() {
                    if let Some(lead) = leaf(c, Some(k)) {
                        return Some(lead);
                    }
                    if !c.is_pure() {
                        return None;
                    }
                }
                None
            }
            _ => leaf(self, None),
        }
    }

    /// No counters move when this is evaluated (or skipped).
    fn is_pure(&self) -> bool {
        match self {
            Self::Every(..) | Self::First(..) | Self::After(..) | Self::Overload { .. } => false,
            Self::All(v) | Self::Any(v) => v.iter().all(Self::is_pure),
            Self::Not(c) => c.is_pure(),
            _ => true,
        }
    }

    /// Whether the condition holds, its [`lead_rate`](Self::lead_rate)
    /// having passed: the rest of it, in order.
    pub(crate) fn fires_after_lead(&self, req: &R, draw: &Draw<'_>, lead: &Lead) -> bool {
        match (self, lead.at) {
            (Self::All(v), Some(at)) => v.iter().enumerate().all(|(k, c)| k == at || c.fires(req, draw)),
            _ => true,
        }
    }

    #[inline(never)]
    fn fires_other(&self, req: &R, draw: &Draw<'_>) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Rate { p, salt } => unit(mix64(draw.call_bits ^ salt)) < p * draw.scale,
            // The counters wrap after 2^64 requests (no panic, no lock).
            Self::Every(n, seen) => seen.fetch_add(1, Ordering::Relaxed).wrapping_add(1) % n == 0,
            Self::First(n, seen) => seen.fetch_add(1, Ordering::Relaxed) < *n,
            Self::After(n, seen) => seen.fetch_add(1, Ordering::Relaxed) >= *n,
            Self::When(f) => f(req),
            Self::Keyed { p, key, salt } => unit(mix64(draw.seed ^ salt ^ key(req))) < p * draw.scale,
            Self::Window(from, to) => {
                let now = (draw.clock)();
                *from <= now && now < *to
            }
            Self::Ramp { ramp, salt } => {
                unit(mix64(draw.call_bits ^ salt)) < ramp.at((draw.clock)()) * draw.scale
            }
            Self::Overload {
                capacity,
                salt,
                window,
            } => {
                let offered = window
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .offer((draw.clock)(), capacity.window);
                let p = if offered <= capacity.requests {
                    0.0
                } else {
                    1.0 - capacity.requests / offered
                };
                unit(mix64(draw.call_bits ^ salt)) < p * draw.scale
            }
            Self::All(v) => v.iter().all(|c| c.fires(req, draw)),
            Self::Any(v) => v.iter().any(|c| c.fires(req, draw)),
            Self::Not(c) => !c.fires(req, draw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw_at(n: u64, clock: &dyn Fn() -> Duration) -> Draw<'_> {
        Draw {
            call_bits: derive(99, n),
            seed: 99,
            scale: 1.0,
            clock,
        }
    }

    fn run<R>(t: &Trigger<R>, reqs: &[R]) -> Vec<bool> {
        let cond = t.compile(&mut Salts::for_rule(0)).unwrap();
        let clock = || Duration::ZERO;
        reqs.iter()
            .enumerate()
            .map(|(i, r)| cond.fires(r, &draw_at(i as u64, &clock)))
            .collect()
    }

    #[test]
    fn counting_triggers() {
        let reqs = [(); 7];
        assert_eq!(
            run(&Trigger::first(3), &reqs),
            [true, true, true, false, false, false, false]
        );
        assert_eq!(
            run(&Trigger::after(5), &reqs),
            [false, false, false, false, false, true, true]
        );
        assert_eq!(
            run(&Trigger::every(3), &reqs),
            [false, false, true, false, false, true, false]
        );
    }

    #[test]
    fn counting_counts_requests_that_reach_it() {
        let reqs = [1, 2, 2, 1, 2, 2, 2];
        let put_then_first = Trigger::when(|r: &i32| *r == 2).and(Trigger::first(3));
        assert_eq!(
            run(&put_then_first, &reqs),
            [false, true, true, false, true, false, false]
        );
        let first_then_put = Trigger::first(3).and(Trigger::when(|r: &i32| *r == 2));
        assert_eq!(
            run(&first_then_put, &reqs),
            [false, true, true, false, false, false, false]
        );
    }

    #[test]
    fn combinators_and_negation() {
        let reqs = [(); 4];
        // `every(2)` only counts the requests that get past `!first(1)`:
        // the 2nd and 3rd, so it fires on the 3rd.
        let t = !Trigger::first(1) & Trigger::every(2);
        assert_eq!(run(&t, &reqs), [false, false, true, false]);
        // `after(2)` is not reached by the 1st request (short-circuit), so
        // it lets the 2nd and 3rd pass and fires on the 4th.
        let t = Trigger::any([Trigger::first(1), Trigger::after(2)]);
        assert_eq!(run(&t, &reqs), [true, false, false, true]);
    }

    #[test]
    fn rate_frequency_holds_for_fixed_seed() {
        let reqs = vec![(); 20_000];
        let hits = run(&Trigger::rate(0.1), &reqs).iter().filter(|b| **b).count();
        // Binomial(20_000, 0.1): sd ~ 42; 5 sd bounds.
        assert!((1_790..=2_210).contains(&hits), "{hits}");
        assert_eq!(run(&Trigger::rate(0.0), &reqs).iter().filter(|b| **b).count(), 0);
        assert!(run(&Trigger::rate(1.0), &reqs).iter().all(|b| *b));
    }

    #[test]
    fn keyed_is_sticky_and_monotonic_in_p() {
        let keys: Vec<u32> = (0..1000).collect();
        let low = run(&Trigger::keyed(0.2, |k: &u32| *k), &keys);
        let again = run(&Trigger::keyed(0.2, |k: &u32| *k), &keys);
        assert_eq!(low, again);
        let high = run(&Trigger::keyed(0.6, |k: &u32| *k), &keys);
        assert!(low.iter().zip(&high).all(|(l, h)| !*l || *h));
        let n = low.iter().filter(|b| **b).count();
        assert!((140..=260).contains(&n), "{n}");
        // Repeating a key in a different position gives the same answer.
        let repeated = run(&Trigger::keyed(0.2, |k: &u32| *k), &[7, 7, 7, 7]);
        assert!(repeated.iter().all(|b| *b == low[7]));
    }

    #[test]
    fn window_reads_the_clock() {
        let t: Trigger<()> = Trigger::window(Duration::from_secs(10), Duration::from_secs(20));
        let cond = t.compile(&mut Salts::for_rule(0)).unwrap();
        for (secs, expect) in [(0, false), (10, true), (19, true), (20, false)] {
            let clock = move || Duration::from_secs(secs);
            assert_eq!(cond.fires(&(), &draw_at(0, &clock)), expect, "{secs}");
        }
    }

    #[test]
    fn ramp_is_linear_on_the_clock() {
        let s = Duration::from_secs;
        let t: Trigger<()> = Trigger::ramp(0.0, 1.0, s(100), s(200));
        let cond = t.compile(&mut Salts::for_rule(0)).unwrap();
        let share = |secs: u64| {
            let clock = move || s(secs);
            (0..4_000)
                .filter(|n| cond.fires(&(), &draw_at(*n, &clock)))
                .count()
        };
        assert_eq!(share(50), 0);
        assert_eq!(share(250), 4_000);
        // p = 0.25 at 125 s: Binomial(4000, 0.25), sd ~ 27.
        assert!((860..=1_140).contains(&share(125)), "{}", share(125));
        assert!((1_860..=2_140).contains(&share(150)), "{}", share(150));
    }

    #[test]
    fn overload_rejects_the_excess_of_offered_load() {
        // 400 requests per second offered for 10 s against a capacity of 100
        // per second: about three quarters are rejected once the window is
        // full; at 50 per second nothing is.
        let run_at = |per_second: u64| {
            let t: Trigger<()> = Trigger::overload(Capacity::per_second(100.0));
            let cond = t.compile(&mut Salts::for_rule(0)).unwrap();
            let mut fired = 0;
            let total = per_second * 10;
            for n in 0..total {
                let at = Duration::from_nanos(n * 1_000_000_000 / per_second);
                let clock = move || at;
                fired += usize::from(cond.fires(&(), &draw_at(n, &clock)));
            }
            fired as f64 / total as f64
        };
        let heavy = run_at(400);
        assert!((0.68..=0.78).contains(&heavy), "{heavy}");
        assert_eq!(run_at(50), 0.0);
    }

    #[test]
    fn sliding_window_estimate() {
        let mut w = Sliding::default();
        let s = Duration::from_millis;
        for i in 0..10 {
            w.offer(s(i * 100), s(1_000));
        }
        // Half-way into the next window: half of the previous ten, plus one.
        assert_eq!(w.offer(s(1_500), s(1_000)), 6.0);
        // Two windows of silence forget everything.
        assert_eq!(w.offer(s(5_000), s(1_000)), 1.0);
    }

    #[test]
    fn bad_configuration_names_field_and_value() {
        let err = |t: Trigger<()>| t.compile(&mut Salts::for_rule(0)).err().unwrap().to_string();
        assert_eq!(
            err(Trigger::rate(1.5)),
            "invalid `trigger.rate` = 1.5: must be within 0.0..=1.0"
        );
        assert!(err(Trigger::rate(f64::NAN)).contains("NaN"));
        assert!(err(Trigger::rate(-0.1)).contains("-0.1"));
        assert!(err(Trigger::first(0)).contains("`trigger.first` = 0"));
        assert!(err(Trigger::every(0)).contains("`trigger.every` = 0"));
        assert!(err(Trigger::keyed(2.0, |_: &()| 1)).contains("trigger.keyed.rate"));
        assert!(err(Trigger::all([])).contains("trigger.all"));
        assert!(err(Trigger::any([])).contains("trigger.any"));
        assert!(
            err(Trigger::window(Duration::from_secs(2), Duration::from_secs(1))).contains("trigger.window")
        );
        assert!(err(Trigger::ramp(0.0, 1.5, Duration::ZERO, Duration::ZERO)).contains("trigger.ramp.to"));
        assert!(
            err(Trigger::ramp(
                0.0,
                1.0,
                Duration::from_secs(2),
                Duration::from_secs(1)
            ))
            .contains("trigger.ramp")
        );
        assert!(err(Trigger::overload(Capacity::per_second(0.0))).contains("trigger.overload.requests"));
        assert!(
            err(Trigger::overload(Capacity::per(1.0, Duration::ZERO))).contains("trigger.overload.window")
        );
        // Nested errors are found too.
        assert!(err(Trigger::always().and(!Trigger::rate(7.0))).contains("7.0"));
    }

    #[test]
    fn overload_accepts_any_window_without_overflow() {
        // Issue 10: `window * 2` overflowed in `Sliding::offer` on the first
        // request for a window over half of `Duration::MAX`.
        for window in [Duration::MAX, Duration::MAX / 2 + Duration::from_nanos(1)] {
            let t: Trigger<()> = Trigger::overload(Capacity::per(1.0, window));
            let cond = t.compile(&mut Salts::for_rule(0)).unwrap();
            let mut fired = 0;
            for (n, at) in [Duration::ZERO, Duration::from_secs(1), Duration::MAX]
                .into_iter()
                .cycle()
                .take(3_000)
                .enumerate()
            {
                let clock = move || at;
                fired += usize::from(cond.fires(&(), &draw_at(n as u64, &clock)));
            }
            // A window no clock outlives never forgets: the offered load
            // keeps growing past the capacity of one, so nearly all fire.
            assert!(fired > 2_900, "{fired}");
        }
        let mut w = Sliding::default();
        assert_eq!(w.offer(Duration::MAX, Duration::MAX), 1.0);
        assert_eq!(w.offer(Duration::MAX, Duration::MAX), 2.0);
        let mut w = Sliding::default();
        w.offer(Duration::ZERO, Duration::from_nanos(1));
        assert_eq!(w.offer(Duration::MAX, Duration::from_nanos(1)), 1.0);
    }

    #[test]
    fn every_wraps_instead_of_overflowing() {
        let cond: Cond<()> = Cond::Every(2, AtomicU64::new(u64::MAX));
        let clock = || Duration::ZERO;
        // The 2^64-th request: the count wraps to 0, a multiple of 2.
        assert!(cond.fires(&(), &draw_at(0, &clock)));
        assert!(!cond.fires(&(), &draw_at(1, &clock)));
    }

    #[test]
    fn long_chains_flatten_and_evaluate_as_nested() {
        // Issue 10: ~400 chained `and`s overflowed a test thread's stack in
        // `compile`. Chains are now one flat list, evaluated in order.
        let chain = (0..10_000).fold(Trigger::<()>::always(), |t, _| t.and(Trigger::always()));
        assert_eq!(chain.depth, 2);
        assert!(run(&chain, &[(); 3]).iter().all(|b| *b));
        let or_chain = (0..10_000).fold(Trigger::<()>::never(), |t, _| t.or(Trigger::never()));
        assert_eq!(or_chain.depth, 2);
        assert!(run(&or_chain, &[(); 3]).iter().all(|b| !*b));

        // Same answers, counters and draws as the nested form.
        let is_even = || Trigger::when(|r: &u32| r % 2 == 0);
        let flat = Trigger::first(6)
            .and(is_even())
            .and(Trigger::rate(0.5).or(Trigger::every(2)).or(Trigger::after(3)));
        let nested = Trigger::all([
            Trigger::all([Trigger::first(6), is_even()]),
            Trigger::any([
                Trigger::any([Trigger::rate(0.5), Trigger::every(2)]),
                Trigger::after(3),
            ]),
        ]);
        assert_eq!(
            format!("{flat:?}"),
            "All([First(6), When(<predicate>), Any([Rate(0.5), Every(2), After(3)])])"
        );
        let reqs: Vec<u32> = (0..400).collect();
        assert_eq!(run(&flat, &reqs), run(&nested, &reqs));
        // An empty list is not spliced away: it is still reported.
        let err = Trigger::<()>::all([])
            .and(Trigger::always())
            .compile(&mut Salts::for_rule(0))
            .err()
            .unwrap();
        assert!(err.to_string().contains("trigger.all"), "{err}");
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error_not_a_stack_overflow() {
        let limit = u32::try_from(MAX_TRIGGER_DEPTH).unwrap();
        let nots = |n: usize| (0..n).fold(Trigger::<()>::always(), |t, _| !t);
        // 63 `!` around a leaf: 64 levels, the limit, compiles and runs.
        let at_limit = nots(MAX_TRIGGER_DEPTH - 1);
        assert_eq!(at_limit.depth, limit);
        assert_eq!(run(&at_limit, &[()]), [false]);
        let over = nots(MAX_TRIGGER_DEPTH);
        assert_eq!(format!("{over:?}"), "TooDeep(65)");
        let err = over.compile(&mut Salts::for_rule(0)).err().unwrap();
        assert_eq!(
            err.to_string(),
            "invalid `trigger.depth` = 65: all/any/not nest at most 64 levels deep"
        );
        // A million alternating levels, built, printed, cloned, compiled
        // and dropped on a 256 KiB stack.
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut t = Trigger::<()>::always();
                for i in 0..1_000_000 {
                    t = match i % 3 {
                        0 => Trigger::all([t, Trigger::always()]),
                        1 => Trigger::any([Trigger::never(), t]),
                        _ => !t,
                    };
                }
                let copy = t.clone();
                assert_eq!(format!("{copy:?}"), "TooDeep(1000001)");
                drop(copy);
                let err = t.compile(&mut Salts::for_rule(0)).err().unwrap();
                assert!(err.to_string().contains("`trigger.depth` = 1000001"), "{err}");
            })
            .unwrap()
            .join()
            .unwrap();
    }
}

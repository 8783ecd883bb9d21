//! [`Armed`]: a request layer's hold on one kind of its target's faults,
//! and the decision prologue every such layer runs, written once.
//!
//! A call reads the target's switch (off: counted as bypassed, nothing
//! else), picks up a fault set swapped in since the last call, takes its
//! number, and asks the plan's screen whether any rule can fire
//! ([`Armed::screen`], inline: the whole pass path). Only a call past the
//! screen evaluates the rules ([`Armed::apply`], out of line).
//!
//! The request layers (`Chaos`, `HttpChaos`) use it. A connection's
//! decision differs in kind rather than in detail: a connection is
//! numbered once, at connect, and re-decided when the target's generation
//! moves (`io::conn::ConnCtl`); it shares the rest ([`Plan`]'s screen and
//! apply) through `Plan::decide_counted`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::Target;
use crate::rule::{ActiveGuard, FaultAction, Plan, Resolve, Screened};
use crate::target::Slot;

/// A reader's hold on the faults `A` on requests `R` of a target: the
/// slot, and the plan in force with its version.
///
/// # Clone
///
/// Clones share the target and the slot (counters, counting triggers,
/// budgets, caps); each keeps its own copy of the plan pointer, refreshed
/// on its next call after a swap.
pub(crate) struct Armed<A, R: ?Sized> {
    target: Target,
    slot: Arc<Slot<A, R>>,
    plan: Arc<Plan<A, R>>,
    version: u64,
}

/// A call past the switch: its number among the slot's evaluated calls,
/// and the screen's answer (`None`: no rule can fire for it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) n: u64,
    pub(crate) rules: Option<Screened>,
}

impl<A: FaultAction, R: ?Sized + 'static> Armed<A, R> {
    /// Registers as a reader of `target`'s faults `A` on requests `R` and
    /// takes the plan in force.
    pub(crate) fn new(target: &Target) -> Self {
        let slot = target.slot::<A, R>();
        let (plan, version) = slot.current();
        Self {
            target: target.clone(),
            slot,
            plan,
            version,
        }
    }
}

impl<A, R: ?Sized> Armed<A, R> {
    /// The target.
    pub(crate) const fn target(&self) -> &Target {
        &self.target
    }

    /// The plan in force (as of the last call).
    pub(crate) fn plan(&self) -> &Plan<A, R> {
        &self.plan
    }

    /// The slot's seed (its own stream of the target's seed).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn seed(&self) -> u64 {
        self.slot.seed()
    }

    /// The prologue, inline: `None` when the target is off (the call is
    /// counted as bypassed); otherwise the call, numbered, with the
    /// screen's answer. A fault set swapped in since the last call is
    /// picked up first, and `on_refresh` sees it (a layer's checks of a
    /// new set; `|_, _| {}` for none).
    #[inline]
    pub(crate) fn screen(&mut self, on_refresh: impl FnOnce(&Plan<A, R>, &Target)) -> Option<Call> {
        let switch = self.target.shared.switch();
        if !switch.is_on() {
            self.slot.calls.bypassed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self.slot.version() != self.version {
            self.refresh();
            on_refresh(&self.plan, &self.target);
        }
        let n = self.slot.calls.evaluated.fetch_add(1, Ordering::Relaxed);
        Some(Call {
            n,
            rules: self.plan.screen(n, switch),
        })
    }

    /// Picks up a fault set swapped in since the last call.
    #[cold]
    fn refresh(&mut self) {
        (self.plan, self.version) = self.slot.current();
    }

    /// Evaluates the rules for a call past the screen, offering each
    /// firing rule to `resolve` (see `Plan::apply`); the guard holds the
    /// active-fault slots of what applied.
    #[inline]
    pub(crate) fn apply<Z: Resolve<A, R>>(
        &self,
        req: &R,
        rules: Screened,
        resolve: &mut Z,
    ) -> Option<ActiveGuard> {
        self.plan.apply(req, rules, &*self.target.shared, resolve, true)
    }

    /// Admits a request to faults applied outside the rules (see
    /// `Plan::admit`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn admit(&self, guard: &mut Option<ActiveGuard>) -> bool {
        self.plan.admit(guard, &*self.target.shared)
    }
}

impl<A, R: ?Sized> Clone for Armed<A, R> {
    fn clone(&self) -> Self {
        Self {
            target: self.target.clone(),
            slot: Arc::clone(&self.slot),
            plan: Arc::clone(&self.plan),
            version: self.version,
        }
    }
}

impl<A, R: ?Sized> fmt::Debug for Armed<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Armed")
            .field("target", &self.target)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

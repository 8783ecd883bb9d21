//! When a described fault fires and how often it may: the trigger settings
//! and limits that request faults and the HTTP faults of files share.

use std::sync::Arc;
use std::time::Duration;

use super::cx::Cx;
use crate::{Capacity, Rule, Trigger};

/// Trigger settings and limits of a described fault, as files hold them.
///
/// The trigger settings combine with "and", evaluated in this fixed order
/// (counting triggers count the requests that reach them): `overload`,
/// `window`, `keyed`, `after`, `first`, `every`, `rate`. With none, the
/// fault fires on every request while its phase is active. A `window` is
/// relative to the phase's start.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Conditions {
    pub(crate) rate: Option<f64>,
    pub(crate) every: Option<u64>,
    pub(crate) first: Option<u64>,
    pub(crate) after: Option<u64>,
    pub(crate) window: Option<(Duration, Duration)>,
    /// An attribute of the request (a header, for HTTP) and the share of
    /// its values the fault sticks to.
    pub(crate) keyed: Option<(Arc<str>, f64)>,
    pub(crate) overload: Option<Capacity>,
    pub(crate) budget: Option<u64>,
    pub(crate) max_active: Option<u32>,
    pub(crate) name: Option<Arc<str>>,
}

impl Conditions {
    /// None: every request, no limit, no name.
    pub(crate) const fn new() -> Self {
        Self {
            rate: None,
            every: None,
            first: None,
            after: None,
            window: None,
            keyed: None,
            overload: None,
            budget: None,
            max_active: None,
            name: None,
        }
    }

    /// The trigger, with `keyed` built by the caller from [`Self::keyed`]
    /// (how to read the attribute depends on the request type) and
    /// `before` (pure conditions such as request matchers) first.
    pub(crate) fn trigger<R: ?Sized + 'static>(
        &self,
        cx: &Cx,
        before: Option<Trigger<R>>,
        keyed: Option<Trigger<R>>,
    ) -> Trigger<R> {
        let mut parts: Vec<Trigger<R>> = before.into_iter().collect();
        if let Some(c) = self.overload {
            parts.push(Trigger::overload(c));
        }
        if let Some((from, to)) = self.window {
            parts.push(Trigger::window(cx.at(from), cx.at(to)));
        }
        parts.extend(keyed);
        parts.extend(self.counts_and_rate());
        match parts.len() {
            0 => Trigger::always(),
            1 => parts.pop().unwrap_or_default(),
            _ => Trigger::all(parts),
        }
    }

    /// The counting triggers and the rate, in their order.
    fn counts_and_rate<R: ?Sized + 'static>(&self) -> impl Iterator<Item = Trigger<R>> {
        [
            self.after.map(Trigger::after),
            self.first.map(Trigger::first),
            self.every.map(Trigger::every),
            self.rate.map(Trigger::rate),
        ]
        .into_iter()
        .flatten()
    }

    /// `rule` with the budget, the cap and the name.
    pub(crate) fn limit<A, R: ?Sized>(&self, mut rule: Rule<A, R>) -> Rule<A, R> {
        if let Some(n) = self.budget {
            rule = rule.budget(n);
        }
        if let Some(n) = self.max_active {
            rule = rule.max_active(n);
        }
        if let Some(name) = &self.name {
            rule = rule.named(Arc::clone(name));
        }
        rule
    }

    /// Whether the fault fires on every request, unlimited: no overload,
    /// window or key, no budget or cap, and counts and a rate that fire
    /// every time ([`Trigger::always_fires`], e.g. `rate = 1`).
    pub(crate) fn is_unconditional(&self) -> bool {
        self.overload.is_none()
            && self.window.is_none()
            && self.keyed.is_none()
            && self.budget.is_none()
            && self.max_active.is_none()
            && self.counts_and_rate::<()>().all(|t| t.always_fires())
    }
}

//! When a described fault fires and how often it may: the trigger settings
//! and limits that request faults and the HTTP faults of files share.

use std::sync::Arc;
use std::time::Duration;

use super::faults::Cx;
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
        if let Some(n) = self.after {
            parts.push(Trigger::after(n));
        }
        if let Some(n) = self.first {
            parts.push(Trigger::first(n));
        }
        if let Some(n) = self.every {
            parts.push(Trigger::every(n));
        }
        if let Some(p) = self.rate {
            parts.push(Trigger::rate(p));
        }
        match parts.len() {
            0 => Trigger::always(),
            1 => parts.pop().unwrap_or_default(),
            _ => Trigger::all(parts),
        }
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

    /// Whether the fault fires on every request, unlimited (a rate of 1
    /// counts as no rate).
    pub(crate) fn is_unconditional(&self) -> bool {
        let Self {
            rate,
            every,
            first,
            after,
            window,
            keyed,
            overload,
            budget,
            max_active,
            name: _,
        } = self;
        rate.is_none_or(|p| p >= 1.0)
            && every.is_none_or(|n| n == 1)
            && first.is_none()
            && after.is_none_or(|n| n == 0)
            && window.is_none()
            && keyed.is_none()
            && overload.is_none()
            && budget.is_none()
            && max_active.is_none()
    }
}

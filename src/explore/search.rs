//! The search: a baseline run, one run per point and fault, and
//! combinations only where a fault made a new point reachable (dynamic
//! reduction), within the budget.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::arm::Arm;
use super::budget::Budget;
use super::error::ExploreError;
use super::menu::Menus;
use super::point::{Injection, Point};
use super::report::{Exploration, Failure, Tried, Verdict};
use super::run::{self, Ran};
use super::spec;
use crate::rng::derive;

/// A fault set's identity: its faults sorted. Runs keep theirs in the
/// order they were added (a fault, then the one at the point it opened).
fn key(faults: &[Injection]) -> Vec<Injection> {
    let mut k = faults.to_vec();
    k.sort();
    k
}

/// A run made, with its faults and seed.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) faults: Vec<Injection>,
    pub(crate) seed: u64,
    pub(crate) ran: Ran,
}

impl Record {
    pub(crate) const fn failed(&self) -> bool {
        self.ran.error.is_some()
    }
}

/// One exploration in progress.
pub(crate) struct Search<'a, F> {
    pub(crate) arms: &'a [Arc<dyn Arm>],
    pub(crate) menus: &'a Menus,
    pub(crate) max_faults: usize,
    pub(crate) seed: u64,
    pub(crate) timeout: Duration,
    pub(crate) budget: Budget,
    pub(crate) test: F,
    pub(crate) runs: Vec<Record>,
    /// Runs by their fault set, sorted ([`key`]).
    index: HashMap<Vec<Injection>, usize>,
}

impl<F> fmt::Debug for Search<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Search")
            .field("seed", &self.seed)
            .field("runs", &self.runs.len())
            .finish_non_exhaustive()
    }
}

impl<'a, F, Fut, E> Search<'a, F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        arms: &'a [Arc<dyn Arm>],
        menus: &'a Menus,
        max_faults: usize,
        seed: u64,
        timeout: Duration,
        budget: Budget,
        test: F,
    ) -> Self {
        Self {
            arms,
            menus,
            max_faults,
            seed,
            timeout,
            budget,
            test,
            runs: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Runs `faults` with `seed`, whatever the budget.
    pub(crate) fn execute(&mut self, faults: Vec<Injection>, seed: u64) -> Result<usize, ExploreError> {
        let ran = run::once(self.arms, &faults, seed, self.timeout, &mut self.test)?;
        let i = self.runs.len();
        self.index.insert(key(&faults), i);
        self.runs.push(Record { faults, seed, ran });
        Ok(i)
    }

    /// The run of `faults` (in any order): made before, made now, or
    /// `None` when the budget forbids it.
    pub(crate) fn run(&mut self, faults: &[Injection]) -> Result<Option<usize>, ExploreError> {
        if let Some(i) = self.index.get(&key(faults)) {
            return Ok(Some(*i));
        }
        if !self.budget.allows(self.runs.len()) {
            return Ok(None);
        }
        let seed = derive(self.seed, self.runs.len() as u64);
        self.execute(faults.to_vec(), seed).map(Some)
    }

    /// The whole exploration.
    pub(crate) fn explore(mut self, name: &str) -> Result<Exploration, ExploreError> {
        let base = self.execute(Vec::new(), derive(self.seed, 0))?;
        if let Some(error) = self.runs[base].ran.error.clone() {
            return Err(ExploreError::BaselineFailed {
                error,
                replay: spec::format(self.runs[base].seed, &[]),
            });
        }
        let baseline: Vec<Point> = self.runs[base].ran.reached.clone();
        let in_baseline: HashSet<&Point> = baseline.iter().collect();
        let mut seen: Vec<Point> = baseline.clone();
        let mut seen_set: HashSet<Point> = baseline.iter().cloned().collect();

        let mut queue: VecDeque<Vec<Injection>> = VecDeque::new();
        let mut planned: HashSet<Vec<Injection>> = HashSet::new();
        let plan = |set: Vec<Injection>, queue: &mut VecDeque<_>, planned: &mut HashSet<_>| {
            if planned.insert(key(&set)) {
                queue.push_back(set);
            }
        };
        for p in &baseline {
            for f in &self.menus[&p.target] {
                plan(vec![Injection::new(p.clone(), *f)], &mut queue, &mut planned);
            }
        }

        let (mut skipped, mut failing, mut deduplicated) = (Vec::new(), Vec::new(), 0);
        let mut shapes: HashSet<(Vec<Point>, Vec<Point>)> = HashSet::new();
        while let Some(set) = queue.pop_front() {
            let Some(i) = self.run(&set)? else {
                skipped.push(set);
                continue;
            };
            let record = &self.runs[i];
            for p in &record.ran.reached {
                if seen_set.insert(p.clone()) {
                    seen.push(p.clone());
                }
            }
            if record.failed() {
                failing.push(i);
                continue;
            }
            if set.len() >= self.max_faults {
                continue;
            }
            // Filibuster's rule: extend a passing run only with the points
            // its faults made reachable. A run with faults at the same
            // points that reached the same points is the same case.
            let mut at: Vec<Point> = set.iter().map(|x| x.point.clone()).collect();
            at.sort();
            let new: Vec<Point> = record
                .ran
                .reached
                .iter()
                .filter(|p| !in_baseline.contains(p) && !at.contains(p))
                .cloned()
                .collect();
            if new.is_empty() {
                continue;
            }
            if !shapes.insert((at, record.ran.reached.clone())) {
                deduplicated += 1;
                continue;
            }
            for p in new {
                for f in &self.menus[&p.target] {
                    let mut next = set.clone();
                    next.push(Injection::new(p.clone(), *f));
                    plan(next, &mut queue, &mut planned);
                }
            }
        }

        let mut failures: Vec<Failure> = Vec::new();
        for i in failing {
            let (faults, minimal) = self.shrink(self.runs[i].faults.clone())?;
            if failures.iter().any(|f| key(&f.faults) == key(&faults)) {
                continue;
            }
            let record = &self.runs[self.index[&key(&faults)]];
            failures.push(Failure {
                error: record.ran.error.clone().unwrap_or_default(),
                replay: spec::format(record.seed, &faults),
                faults,
                minimal,
            });
        }

        let points = self.table(&skipped);
        Ok(Exploration {
            name: name.to_owned(),
            seed: self.seed,
            baseline_points: baseline.len(),
            new_points: seen.len() - baseline.len(),
            runs: self.runs.len(),
            brute_force: self.brute_force(&seen),
            deduplicated,
            points,
            failures,
            skipped: skipped.iter().map(|s| spec::list(s)).collect(),
            stopped_by: self.budget.stopped_by,
        })
    }

    /// Every fault tried at every point: the first run that injected it,
    /// then those only skipped runs would have.
    fn table(&self, skipped: &[Vec<Injection>]) -> Vec<Tried> {
        let mut rows: Vec<Tried> = Vec::new();
        let mut done: HashSet<&Injection> = HashSet::new();
        let others = |set: &[Injection], i: &Injection| set.iter().filter(|x| *x != i).cloned().collect();
        for record in &self.runs {
            for inj in &record.faults {
                if !done.insert(inj) {
                    continue;
                }
                let verdict = if !record.ran.fired.contains(&inj.point) {
                    Verdict::NotReached
                } else if record.failed() {
                    Verdict::Failed
                } else {
                    Verdict::Passed
                };
                rows.push(Tried {
                    injection: inj.clone(),
                    with: others(&record.faults, inj),
                    verdict,
                });
            }
        }
        for set in skipped {
            for inj in set {
                if done.insert(inj) {
                    rows.push(Tried {
                        injection: inj.clone(),
                        with: others(set, inj),
                        verdict: Verdict::Skipped,
                    });
                }
            }
        }
        rows
    }

    /// The baseline plus every set of at most `max_faults` of `points`,
    /// each point with any fault of its menu (saturating).
    fn brute_force(&self, points: &[Point]) -> u64 {
        // sets[k]: the number of fault sets of size k.
        let mut sets = vec![0u64; self.max_faults + 1];
        sets[0] = 1;
        for p in points {
            let m = self.menus[&p.target].len() as u64;
            for k in (1..=self.max_faults).rev() {
                sets[k] = sets[k].saturating_add(sets[k - 1].saturating_mul(m));
            }
        }
        sets.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
}

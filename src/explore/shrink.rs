//! Shrinking: a failing fault set down to one where removing any fault
//! makes the test pass.

use std::fmt;
use std::future::Future;

use super::error::ExploreError;
use super::point::Injection;
use super::search::Search;

impl<F, Fut, E> Search<'_, F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    /// A minimal failing subset of `faults` (which failed), and whether it
    /// is known minimal: every subset one fault smaller was run and
    /// passed. Greedy, as delta debugging's last step: drop a fault while
    /// the rest still fails. A pair whose faults each fail alone shrinks
    /// to the first single.
    pub(crate) fn shrink(
        &mut self,
        mut faults: Vec<Injection>,
    ) -> Result<(Vec<Injection>, bool), ExploreError> {
        'smaller: while faults.len() > 1 {
            for k in 0..faults.len() {
                let mut sub = faults.clone();
                sub.remove(k);
                let Some(i) = self.run(&sub)? else {
                    return Ok((faults, false));
                };
                if self.runs[i].failed() {
                    faults = sub;
                    continue 'smaller;
                }
            }
            break;
        }
        Ok((faults, true))
    }
}

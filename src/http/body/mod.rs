//! Streaming body faults: [`ChaosBody`] and [`BodyFault`].
//!
//! One file per concern: the fault's configuration ([`BodyFault`]), the
//! error a faulted body yields ([`BodyFaultError`]), the byte counters
//! ([`BodyCounters`]), the body itself ([`ChaosBody`]) and the state machine
//! that a faulted body runs on each poll.

mod chaos;
mod config;
mod counters;
mod error;
mod state;
#[cfg(test)]
mod tests;

pub use chaos::ChaosBody;
pub use config::BodyFault;
pub use counters::BodyCounters;
pub use error::{BodyFaultError, BodyFaultErrorKind};

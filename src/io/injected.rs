//! The error carried by `io::Error`s that a fault injected.

use std::{error::Error, fmt, io};

use super::IoFault;

/// Marks an [`io::Error`] as injected by a fault, so a test can tell it from
/// a real one.
///
/// The `io::Error` keeps the kind a real failure would have
/// (`ConnectionReset`, `BrokenPipe`…); its inner error is an
/// `InjectedError`.
///
/// # Example
///
/// ```
/// use std::io;
/// use tower_chaos::io::{InjectedError, IoFault};
///
/// let real = io::Error::from(io::ErrorKind::ConnectionReset);
/// assert!(InjectedError::of(&real).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedError {
    fault: IoFault,
}

impl InjectedError {
    /// The fault that produced the error.
    #[must_use]
    pub const fn fault(&self) -> IoFault {
        self.fault
    }

    /// The marker inside `err`, if a fault injected it.
    #[must_use]
    pub fn of(err: &io::Error) -> Option<&Self> {
        err.get_ref()?.downcast_ref()
    }

    pub(crate) fn io(kind: io::ErrorKind, fault: IoFault) -> io::Error {
        io::Error::new(kind, Self { fault })
    }
}

impl fmt::Display for InjectedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected by tower-chaos: {}", self.fault)
    }
}

impl Error for InjectedError {}

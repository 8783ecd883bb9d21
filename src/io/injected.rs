//! The error carried by `io::Error`s that a fault injected.

use std::{error::Error, fmt, io};

use super::IoFault;

/// Marks an [`io::Error`] as injected by a fault, so a test can tell it from
/// a real one.
///
/// The `io::Error` keeps the kind a real failure would have
/// (`ConnectionReset`, `BrokenPipe`…); its inner error is an
/// `InjectedIoError`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io;
/// use tokio::io::AsyncReadExt;
/// use tower_chaos::io::{ChaosStream, DirectionFaults, InjectedIoError, IoFault, Onset, StreamFaults};
///
/// let faults = StreamFaults::builder()
///     .read(DirectionFaults::new().reset(Onset::Immediately))
///     .build()?;
/// let (a, _b) = tokio::io::duplex(64);
/// let mut a = ChaosStream::new(a, faults);
/// let err = a.read(&mut [0; 8]).await.unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
/// assert_eq!(InjectedIoError::of(&err).map(|e| e.fault()), Some(IoFault::Reset));
///
/// let real = io::Error::from(io::ErrorKind::ConnectionReset);
/// assert!(InjectedIoError::of(&real).is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedIoError {
    fault: IoFault,
}

impl InjectedIoError {
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

impl fmt::Display for InjectedIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected by tower-chaos: {}", self.fault)
    }
}

impl Error for InjectedIoError {}

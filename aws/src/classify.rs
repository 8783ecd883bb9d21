//! hyper-util's client errors as the SDK's [`ConnectorError`] kinds, the
//! way the SDK's own hyper client (`aws-smithy-http-client`) classifies
//! them, so that its retry mode treats an injected fault as it would treat
//! the real one.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::retry::ErrorKind;

/// A connect or a response head that took longer than the SDK's
/// `connect_timeout` or `read_timeout` (on tokio's clock).
#[derive(Debug)]
pub(crate) struct TimedOut {
    what: &'static str,
    limit: Duration,
}

impl TimedOut {
    pub(crate) fn connect(limit: Duration) -> Self {
        Self {
            what: "connect",
            limit,
        }
    }

    pub(crate) fn read(limit: Duration) -> Self {
        Self {
            what: "response head",
            limit,
        }
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} timed out after {:?}", self.what, self.limit)
    }
}

impl Error for TimedOut {}

fn find<'a, E: Error + 'static>(err: &'a (dyn Error + 'static)) -> Option<&'a E> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<E>() {
            return Some(found);
        }
        next = err.source();
    }
    None
}

/// The SDK's kind for an error of the client stack:
///
/// | error | kind | the standard retry mode |
/// |---|---|---|
/// | the SDK's connect or read timeout ([`TimedOut`]), hyper's timeout | `timeout` | retries |
/// | hyper: a user error (e.g. the request body failed) | `user` | does not retry |
/// | hyper: closed, canceled, or an I/O error (a reset) | `io` | retries |
/// | hyper: the connection closed before a complete response | `other`, transient | retries |
/// | hyper-util: a connect error (DNS failure, refused, a connect fault) | `io` | retries |
/// | anything else | `other` | does not retry |
pub(crate) fn to_connector_error<E>(err: E) -> ConnectorError
where
    E: Error + Send + Sync + 'static,
{
    let kind = kind_of(&err);
    let err: Box<dyn Error + Send + Sync> = Box::new(err);
    match kind {
        Kind::Timeout => ConnectorError::timeout(err),
        Kind::User => ConnectorError::user(err),
        Kind::Io => ConnectorError::io(err),
        Kind::Other(kind) => ConnectorError::other(err, kind),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Timeout,
    User,
    Io,
    Other(Option<ErrorKind>),
}

fn kind_of(err: &(dyn Error + 'static)) -> Kind {
    if find::<TimedOut>(err).is_some() {
        return Kind::Timeout;
    }
    if let Some(hyper) = find::<hyper::Error>(err) {
        return if hyper.is_timeout() {
            Kind::Timeout
        } else if hyper.is_user() {
            Kind::User
        } else if hyper.is_closed() || hyper.is_canceled() || find::<std::io::Error>(hyper).is_some() {
            Kind::Io
        } else if hyper.is_incomplete_message() {
            Kind::Other(Some(ErrorKind::TransientError))
        } else {
            Kind::Other(None)
        };
    }
    match find::<hyper_util::client::legacy::Error>(err) {
        Some(client) if client.is_connect() || find::<std::io::Error>(client).is_some() => Kind::Io,
        _ => Kind::Other(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_timeouts_are_timeouts_and_unknown_errors_are_other() {
        let timed_out = TimedOut::connect(Duration::from_secs(3));
        assert_eq!(kind_of(&timed_out), Kind::Timeout);
        assert_eq!(timed_out.to_string(), "connect timed out after 3s");
        assert!(to_connector_error(TimedOut::read(Duration::from_millis(5))).is_timeout());
        let unknown = to_connector_error(fmt::Error);
        assert!(unknown.is_other() && unknown.as_other().is_none());
    }
}

//! gRPC status codes and the trailers-only response form.

use std::fmt;

use crate::ConfigError;

/// A gRPC status code, `0..=16`, as the gRPC spec numbers them.
///
/// Used by [`SyntheticResponse::grpc`](super::SyntheticResponse::grpc) to
/// build a trailers-only response that gRPC clients (tonic, grpc-go, …)
/// surface as this code.
///
/// ```
/// use tower_chaos::http::GrpcCode;
///
/// assert_eq!(GrpcCode::Unavailable as u16, 14);
/// assert_eq!(GrpcCode::from_u16(4).unwrap(), GrpcCode::DeadlineExceeded);
/// assert_eq!(GrpcCode::ResourceExhausted.as_str(), "RESOURCE_EXHAUSTED");
/// assert!(GrpcCode::from_u16(17).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum GrpcCode {
    /// `OK`: not an error.
    Ok = 0,
    /// `CANCELLED`: the operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// `UNKNOWN`: unknown error.
    Unknown = 2,
    /// `INVALID_ARGUMENT`: the client sent an invalid argument.
    InvalidArgument = 3,
    /// `DEADLINE_EXCEEDED`: the deadline expired before the operation completed.
    DeadlineExceeded = 4,
    /// `NOT_FOUND`: some requested entity was not found.
    NotFound = 5,
    /// `ALREADY_EXISTS`: the entity the client tried to create already exists.
    AlreadyExists = 6,
    /// `PERMISSION_DENIED`: the caller lacks permission.
    PermissionDenied = 7,
    /// `RESOURCE_EXHAUSTED`: a quota or rate limit was hit.
    ResourceExhausted = 8,
    /// `FAILED_PRECONDITION`: the system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// `ABORTED`: the operation was aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// `OUT_OF_RANGE`: the operation was attempted past the valid range.
    OutOfRange = 11,
    /// `UNIMPLEMENTED`: the operation is not implemented.
    Unimplemented = 12,
    /// `INTERNAL`: an internal error.
    Internal = 13,
    /// `UNAVAILABLE`: the service is currently unavailable; retrying may help.
    Unavailable = 14,
    /// `DATA_LOSS`: unrecoverable data loss or corruption.
    DataLoss = 15,
    /// `UNAUTHENTICATED`: the request lacks valid authentication credentials.
    Unauthenticated = 16,
}

impl GrpcCode {
    /// Every code, in numeric order.
    pub const ALL: [Self; 17] = [
        Self::Ok,
        Self::Cancelled,
        Self::Unknown,
        Self::InvalidArgument,
        Self::DeadlineExceeded,
        Self::NotFound,
        Self::AlreadyExists,
        Self::PermissionDenied,
        Self::ResourceExhausted,
        Self::FailedPrecondition,
        Self::Aborted,
        Self::OutOfRange,
        Self::Unimplemented,
        Self::Internal,
        Self::Unavailable,
        Self::DataLoss,
        Self::Unauthenticated,
    ];

    /// The code with this number.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `grpc.code` when `code > 16`.
    ///
    /// ```
    /// use tower_chaos::http::GrpcCode;
    /// assert_eq!(GrpcCode::from_u16(14).unwrap(), GrpcCode::Unavailable);
    /// ```
    pub fn from_u16(code: u16) -> Result<Self, ConfigError> {
        Self::ALL
            .get(usize::from(code))
            .copied()
            .ok_or_else(|| ConfigError::invalid("grpc.code", code, "must be a gRPC code in 0..=16"))
    }

    /// The spec's upper-case name, e.g. `"UNAVAILABLE"`.
    ///
    /// ```
    /// use tower_chaos::http::GrpcCode;
    /// assert_eq!(GrpcCode::DeadlineExceeded.as_str(), "DEADLINE_EXCEEDED");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Cancelled => "CANCELLED",
            Self::Unknown => "UNKNOWN",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::Aborted => "ABORTED",
            Self::OutOfRange => "OUT_OF_RANGE",
            Self::Unimplemented => "UNIMPLEMENTED",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
            Self::DataLoss => "DATA_LOSS",
            Self::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The decimal form carried by the `grpc-status` header.
    pub(crate) const fn header_str(self) -> &'static str {
        const DIGITS: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
        ];
        DIGITS[self as usize]
    }
}

impl fmt::Display for GrpcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Percent-encodes a `grpc-message` value as the gRPC HTTP/2 spec asks:
/// bytes `0x20..=0x7E` except `%` stay as they are, every other byte of the
/// UTF-8 form becomes `%XX` (upper-case hex).
pub(crate) fn percent_encode_message(message: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(message.len());
    for &byte in message.as_bytes() {
        if (0x20..=0x7E).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0F)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (i, code) in GrpcCode::ALL.iter().enumerate() {
            let n = u16::try_from(i).unwrap();
            assert_eq!(*code as u16, n);
            assert_eq!(GrpcCode::from_u16(n).unwrap(), *code);
            assert_eq!(code.header_str(), n.to_string());
        }
        let err = GrpcCode::from_u16(17).unwrap_err();
        assert!(err.to_string().contains("grpc.code"), "{err}");
    }

    #[test]
    fn percent_encoding_follows_the_spec() {
        assert_eq!(percent_encode_message("plain text"), "plain text");
        assert_eq!(percent_encode_message("100%"), "100%25");
        assert_eq!(percent_encode_message("a\nb"), "a%0Ab");
        assert_eq!(percent_encode_message("é"), "%C3%A9");
        assert_eq!(percent_encode_message("\u{7f}"), "%7F");
    }
}

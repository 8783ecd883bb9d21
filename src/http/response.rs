//! Synthesized responses: status, `Retry-After`, provider-style errors, gRPC.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use super::body::ChaosBody;
use super::grpc::{GrpcCode, percent_encode_message};
use super::marker::Injected;
use crate::{ConfigError, FaultKind};

/// The value of a `Retry-After` header: a number of seconds or an HTTP date.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_chaos::http::RetryAfter;
///
/// assert_eq!(RetryAfter::Seconds(30).to_string(), "30");
/// assert_eq!(RetryAfter::after(Duration::from_millis(1500)).to_string(), "2");
/// let date = RetryAfter::Date(UNIX_EPOCH + Duration::from_secs(784_111_777));
/// assert_eq!(date.to_string(), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <IMF-fixdate>`, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    Date(SystemTime),
}

impl RetryAfter {
    /// Whole seconds, rounded up, for a duration.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::RetryAfter;
    /// assert_eq!(RetryAfter::after(Duration::from_secs(3)), RetryAfter::Seconds(3));
    /// ```
    ///
    /// A duration within half a second of `u64::MAX` seconds (585 billion
    /// years), whose rounding up does not fit, gives `u64::MAX`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::RetryAfter;
    /// assert_eq!(RetryAfter::after(Duration::MAX), RetryAfter::Seconds(u64::MAX));
    /// ```
    #[must_use]
    pub fn after(duration: Duration) -> Self {
        let up = u64::from(duration.subsec_nanos() > 0);
        Self::Seconds(duration.as_secs().saturating_add(up))
    }

    /// The first instant an HTTP date cannot write: 10000-01-01T00:00:00Z.
    const DATE_END: Duration = Duration::from_secs(253_402_300_800);

    /// `Retry-After: <date>`, checked: HTTP dates run from 1970 to the end of
    /// year 9999.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `retry_after.date` outside that range.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use tower_chaos::http::RetryAfter;
    /// assert!(RetryAfter::date(UNIX_EPOCH + Duration::from_secs(60)).is_ok());
    /// assert!(RetryAfter::date(UNIX_EPOCH - Duration::from_secs(1)).is_err());
    /// ```
    pub fn date(at: SystemTime) -> Result<Self, ConfigError> {
        Self::Date(at).checked()
    }

    /// Checks that the value can be written in a header.
    fn checked(self) -> Result<Self, ConfigError> {
        match self {
            Self::Seconds(_) => Ok(self),
            Self::Date(t) => match t.duration_since(UNIX_EPOCH) {
                Ok(since) if since < Self::DATE_END => Ok(self),
                _ => Err(ConfigError::invalid(
                    "retry_after.date",
                    format!("{t:?}"),
                    "an HTTP date must be from 1970 to the end of year 9999",
                )),
            },
        }
    }

    /// The header value; `None` for a date HTTP cannot write.
    fn header_value(self) -> Option<HeaderValue> {
        match self.checked().ok()? {
            Self::Seconds(s) => Some(HeaderValue::from(s)),
            Self::Date(t) => HeaderValue::try_from(httpdate::fmt_http_date(t)).ok(),
        }
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.checked()) {
            (Self::Seconds(s), _) => write!(f, "{s}"),
            (Self::Date(t), Ok(_)) => f.write_str(&httpdate::fmt_http_date(*t)),
            (Self::Date(t), Err(_)) => write!(f, "<not an HTTP date: {t:?}>"),
        }
    }
}

#[derive(Debug, Clone)]
struct Parts {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    kind: FaultKind,
    /// A `Retry-After` date HTTP cannot write, reported when the response
    /// is installed as a fault.
    bad_retry_after: Option<RetryAfter>,
    /// The first value a constructor refused, reported when the response
    /// is installed as a fault (or by [`SyntheticResponse::validate`]).
    invalid: Option<ConfigError>,
}

/// A response synthesized without calling the inner service: any status,
/// headers and body, or one of the ready-made forms (plain statuses, `429`
/// with `Retry-After`, AWS JSON and S3 XML errors, gRPC trailers-only).
///
/// Cheap to clone (the parts sit behind an `Arc`); building the
/// [`http::Response`] copies the header map and shares the body bytes.
///
/// ```
/// use http::StatusCode;
/// use tower_chaos::http::{RetryAfter, SyntheticResponse};
///
/// let fault = SyntheticResponse::too_many_requests(RetryAfter::Seconds(2));
/// let response = fault.to_response::<()>("api");
/// assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(response.headers()["retry-after"], "2");
/// ```
#[derive(Clone)]
pub struct SyntheticResponse {
    parts: Arc<Parts>,
}

impl fmt::Debug for SyntheticResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyntheticResponse")
            .field("status", &self.parts.status)
            .field("headers", &self.parts.headers)
            .field("body_len", &self.parts.body.len())
            .field("kind", &self.parts.kind)
            .finish()
    }
}

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

impl SyntheticResponse {
    /// A response with `status`, no headers and an empty body.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::from_status(StatusCode::IM_A_TEAPOT);
    /// assert_eq!(r.status(), StatusCode::IM_A_TEAPOT);
    /// assert!(r.body_bytes().is_empty());
    /// ```
    #[must_use]
    pub fn from_status(status: StatusCode) -> Self {
        Self {
            parts: Arc::new(Parts {
                status,
                headers: HeaderMap::new(),
                body: Bytes::new(),
                kind: FaultKind::Status,
                bad_retry_after: None,
                invalid: None,
            }),
        }
    }

    /// A response with the numeric `status`.
    ///
    /// A status outside `100..=999` is refused where the response is
    /// installed: the layer's `build()` (or `set_faults`) fails with
    /// [`ConfigError::Invalid`] naming `response.status` and the value, and
    /// [`validate`](Self::validate) says so up front. Used directly, such a
    /// response is a `500` with a text body.
    ///
    /// ```
    /// use tower_chaos::http::{HttpChaosLayer, SyntheticResponse};
    /// assert_eq!(SyntheticResponse::new(503).status().as_u16(), 503);
    /// let err = HttpChaosLayer::builder("api").fault(SyntheticResponse::new(42)).build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `response.status` = 42: must be within 100..=999");
    /// ```
    #[must_use]
    pub fn new(status: u16) -> Self {
        match StatusCode::from_u16(status) {
            Ok(status) => Self::from_status(status),
            Err(_) => Self::text(StatusCode::INTERNAL_SERVER_ERROR).refused(ConfigError::invalid(
                "response.status",
                status,
                "must be within 100..=999",
            )),
        }
    }

    /// Records the first value a constructor refused.
    fn refused(mut self, error: ConfigError) -> Self {
        let parts = Arc::make_mut(&mut self.parts);
        if parts.invalid.is_none() {
            parts.invalid = Some(error);
        }
        self
    }

    /// The status with a short `text/plain` body naming it, e.g.
    /// `503 Service Unavailable (injected by tower-chaos)`.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::text(StatusCode::BAD_GATEWAY);
    /// assert!(r.body_bytes().starts_with(b"502 Bad Gateway"));
    /// ```
    #[must_use]
    pub fn text(status: StatusCode) -> Self {
        let body = match status.canonical_reason() {
            Some(reason) => format!("{} {reason} (injected by tower-chaos)", status.as_str()),
            None => format!("{} (injected by tower-chaos)", status.as_str()),
        };
        Self::from_status(status)
            .header(CONTENT_TYPE, TEXT_PLAIN)
            .body(body)
    }

    /// `500 Internal Server Error` with a text body.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::internal_server_error().status().as_u16(), 500);
    /// ```
    #[must_use]
    pub fn internal_server_error() -> Self {
        Self::text(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// `502 Bad Gateway` with a text body.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::bad_gateway().status().as_u16(), 502);
    /// ```
    #[must_use]
    pub fn bad_gateway() -> Self {
        Self::text(StatusCode::BAD_GATEWAY)
    }

    /// `503 Service Unavailable` with a text body.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::service_unavailable().status().as_u16(), 503);
    /// ```
    #[must_use]
    pub fn service_unavailable() -> Self {
        Self::text(StatusCode::SERVICE_UNAVAILABLE)
    }

    /// `504 Gateway Timeout` with a text body.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::gateway_timeout().status().as_u16(), 504);
    /// ```
    #[must_use]
    pub fn gateway_timeout() -> Self {
        Self::text(StatusCode::GATEWAY_TIMEOUT)
    }

    /// `429 Too Many Requests` with a text body and `Retry-After`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::{RetryAfter, SyntheticResponse};
    /// let r = SyntheticResponse::too_many_requests(RetryAfter::after(Duration::from_secs(1)));
    /// assert_eq!(r.headers()["retry-after"], "1");
    /// ```
    #[must_use]
    pub fn too_many_requests(retry_after: RetryAfter) -> Self {
        Self::text(StatusCode::TOO_MANY_REQUESTS).retry_after(retry_after)
    }

    /// An AWS JSON-protocol error (DynamoDB, Kinesis, SQS JSON, …): the
    /// `x-amzn-ErrorType` header, `content-type: application/x-amz-json-1.0`
    /// and a body `{"__type": error_type, "message": message}`.
    ///
    /// An `error_type` that is empty or not a valid header value is refused
    /// where the response is installed: `build()` (or `set_faults`) fails
    /// with [`ConfigError::Invalid`] naming `aws.error_type` and the value
    /// (and [`validate`](Self::validate) says so up front). Used directly,
    /// such a response has no `x-amzn-ErrorType` header.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_chaos::http::SyntheticResponse;
    ///
    /// let r = SyntheticResponse::aws_json(StatusCode::BAD_REQUEST, "ValidationException", "bad \"key\"");
    /// assert_eq!(r.headers()["x-amzn-errortype"], "ValidationException");
    /// assert_eq!(
    ///     std::str::from_utf8(r.body_bytes()).unwrap(),
    ///     r#"{"__type":"ValidationException","message":"bad \"key\""}"#
    /// );
    /// let err = SyntheticResponse::aws_json(StatusCode::BAD_REQUEST, "", "m").validate().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `aws.error_type` = \"\": must be a non-empty header value");
    /// ```
    #[must_use]
    pub fn aws_json(status: StatusCode, error_type: &str, message: &str) -> Self {
        let value = HeaderValue::from_str(error_type)
            .ok()
            .filter(|_| !error_type.is_empty());
        let mut body = String::with_capacity(32 + error_type.len() + message.len());
        body.push_str("{\"__type\":");
        push_json_string(&mut body, error_type);
        body.push_str(",\"message\":");
        push_json_string(&mut body, message);
        body.push('}');
        let response = Self::from_status(status)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-amz-json-1.0"),
            )
            .body(body);
        match value {
            Some(value) => response.header(HeaderName::from_static("x-amzn-errortype"), value),
            None => response.refused(ConfigError::invalid(
                "aws.error_type",
                error_type,
                "must be a non-empty header value",
            )),
        }
    }

    fn aws_ready(status: StatusCode, error_type: &'static str, message: &'static str) -> Self {
        Self::aws_json(status, error_type, message)
    }

    /// AWS `ThrottlingException`, `400`: "Rate exceeded".
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::aws_throttling();
    /// assert_eq!(r.status().as_u16(), 400);
    /// assert_eq!(r.headers()["x-amzn-errortype"], "ThrottlingException");
    /// ```
    #[must_use]
    pub fn aws_throttling() -> Self {
        Self::aws_ready(StatusCode::BAD_REQUEST, "ThrottlingException", "Rate exceeded")
    }

    /// DynamoDB `ProvisionedThroughputExceededException`, `400`.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::aws_provisioned_throughput_exceeded();
    /// assert_eq!(r.status().as_u16(), 400);
    /// assert!(std::str::from_utf8(r.body_bytes()).unwrap().contains("ProvisionedThroughputExceededException"));
    /// ```
    #[must_use]
    pub fn aws_provisioned_throughput_exceeded() -> Self {
        Self::aws_ready(
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. \
             Consider increasing your provisioning level with the UpdateTable API.",
        )
    }

    /// AWS `InternalServerError`, `500`.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::aws_internal_server_error().headers()["x-amzn-errortype"], "InternalServerError");
    /// ```
    #[must_use]
    pub fn aws_internal_server_error() -> Self {
        Self::aws_ready(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Internal server error",
        )
    }

    /// AWS `ServiceUnavailable`, `503`.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::aws_service_unavailable().status().as_u16(), 503);
    /// ```
    #[must_use]
    pub fn aws_service_unavailable() -> Self {
        Self::aws_ready(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service is unavailable",
        )
    }

    /// An S3-style XML error: `content-type: application/xml` and
    /// `<Error><Code>…</Code><Message>…</Message><RequestId>…</RequestId></Error>`,
    /// with an `x-amz-request-id` header.
    ///
    /// A `code` that is empty or holds characters other than ASCII letters
    /// and digits is refused where the response is installed: `build()` (or
    /// `set_faults`) fails with [`ConfigError::Invalid`] naming `s3.code`
    /// and the value (and [`validate`](Self::validate) says so up front).
    /// Used directly, such a response carries the code XML-escaped.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::s3_xml(StatusCode::FORBIDDEN, "AccessDenied", "Access <Denied>");
    /// let body = std::str::from_utf8(r.body_bytes()).unwrap();
    /// assert!(body.contains("<Code>AccessDenied</Code>"));
    /// assert!(body.contains("<Message>Access &lt;Denied&gt;</Message>"));
    /// assert!(SyntheticResponse::s3_xml(StatusCode::FORBIDDEN, "Access Denied", "m").validate().is_err());
    /// ```
    #[must_use]
    pub fn s3_xml(status: StatusCode, code: &str, message: &str) -> Self {
        let valid = !code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric());
        const REQUEST_ID: &str = "TOWERCHAOS000000";
        let mut body = String::with_capacity(160 + message.len());
        body.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        // A valid code needs no escaping; an invalid one is escaped so that
        // the body stays well-formed until the install refuses it.
        push_xml_escaped(&mut body, code);
        body.push_str("</Code><Message>");
        push_xml_escaped(&mut body, message);
        body.push_str("</Message><RequestId>");
        body.push_str(REQUEST_ID);
        body.push_str("</RequestId></Error>");
        let response = Self::from_status(status)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/xml"))
            .header(
                HeaderName::from_static("x-amz-request-id"),
                HeaderValue::from_static(REQUEST_ID),
            )
            .body(body);
        if valid {
            response
        } else {
            response.refused(ConfigError::invalid(
                "s3.code",
                code,
                "must be non-empty ASCII letters and digits",
            ))
        }
    }

    /// S3 `SlowDown`, `503`: "Please reduce your request rate."
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::s3_slow_down();
    /// assert_eq!(r.status().as_u16(), 503);
    /// assert!(std::str::from_utf8(r.body_bytes()).unwrap().contains("<Code>SlowDown</Code>"));
    /// ```
    #[must_use]
    pub fn s3_slow_down() -> Self {
        Self::s3_xml(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        )
    }

    /// S3 `InternalError`, `500`.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::s3_internal_error();
    /// assert_eq!(r.status().as_u16(), 500);
    /// assert!(std::str::from_utf8(r.body_bytes()).unwrap().contains("<Code>InternalError</Code>"));
    /// ```
    #[must_use]
    pub fn s3_internal_error() -> Self {
        Self::s3_xml(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }

    /// A gRPC trailers-only response: HTTP `200`, `content-type:
    /// application/grpc`, `grpc-status: <code>` and, when `message` is not
    /// empty, a percent-encoded `grpc-message`; no body. gRPC clients read it
    /// as a call that failed with `code`.
    ///
    /// ```
    /// use tower_chaos::http::{GrpcCode, SyntheticResponse};
    /// let r = SyntheticResponse::grpc(GrpcCode::Unavailable, "down 100%");
    /// assert_eq!(r.status().as_u16(), 200);
    /// assert_eq!(r.headers()["grpc-status"], "14");
    /// assert_eq!(r.headers()["grpc-message"], "down 100%25");
    /// assert_eq!(r.grpc_code(), Some(GrpcCode::Unavailable));
    /// ```
    #[must_use]
    pub fn grpc(code: GrpcCode, message: &str) -> Self {
        Self::grpc_status(HeaderValue::from_static(code.header_str()), message)
    }

    /// A gRPC trailers-only response with any numeric code, as Envoy's
    /// `x-envoy-fault-abort-grpc-request` accepts (codes above 16 are not
    /// [`GrpcCode`]s; clients read them as `UNKNOWN`).
    pub(crate) fn grpc_number(code: u32, message: &str) -> Self {
        Self::grpc_status(HeaderValue::from(code), message)
    }

    fn grpc_status(status: HeaderValue, message: &str) -> Self {
        let mut headers = HeaderMap::with_capacity(3);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(HeaderName::from_static("grpc-status"), status);
        if !message.is_empty() {
            let encoded = percent_encode_message(message);
            headers.insert(
                HeaderName::from_static("grpc-message"),
                HeaderValue::try_from(encoded).expect("percent-encoded text is a valid header value"),
            );
        }
        Self {
            parts: Arc::new(Parts {
                status: StatusCode::OK,
                headers,
                body: Bytes::new(),
                kind: FaultKind::GrpcStatus,
                bad_retry_after: None,
                invalid: None,
            }),
        }
    }

    /// gRPC `UNAVAILABLE` (14).
    ///
    /// ```
    /// use tower_chaos::http::{GrpcCode, SyntheticResponse};
    /// assert_eq!(SyntheticResponse::grpc_unavailable().grpc_code(), Some(GrpcCode::Unavailable));
    /// ```
    #[must_use]
    pub fn grpc_unavailable() -> Self {
        Self::grpc(GrpcCode::Unavailable, "injected by tower-chaos")
    }

    /// gRPC `DEADLINE_EXCEEDED` (4).
    ///
    /// ```
    /// use tower_chaos::http::{GrpcCode, SyntheticResponse};
    /// assert_eq!(SyntheticResponse::grpc_deadline_exceeded().grpc_code(), Some(GrpcCode::DeadlineExceeded));
    /// ```
    #[must_use]
    pub fn grpc_deadline_exceeded() -> Self {
        Self::grpc(GrpcCode::DeadlineExceeded, "injected by tower-chaos")
    }

    /// gRPC `RESOURCE_EXHAUSTED` (8).
    ///
    /// ```
    /// use tower_chaos::http::{GrpcCode, SyntheticResponse};
    /// assert_eq!(SyntheticResponse::grpc_resource_exhausted().grpc_code(), Some(GrpcCode::ResourceExhausted));
    /// ```
    #[must_use]
    pub fn grpc_resource_exhausted() -> Self {
        Self::grpc(GrpcCode::ResourceExhausted, "injected by tower-chaos")
    }

    /// gRPC `INTERNAL` (13).
    ///
    /// ```
    /// use tower_chaos::http::{GrpcCode, SyntheticResponse};
    /// assert_eq!(SyntheticResponse::grpc_internal().grpc_code(), Some(GrpcCode::Internal));
    /// ```
    #[must_use]
    pub fn grpc_internal() -> Self {
        Self::grpc(GrpcCode::Internal, "injected by tower-chaos")
    }

    /// Appends a header.
    ///
    /// ```
    /// use http::{HeaderName, HeaderValue};
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::service_unavailable()
    ///     .header(HeaderName::from_static("x-cache"), HeaderValue::from_static("MISS"));
    /// assert_eq!(r.headers()["x-cache"], "MISS");
    /// ```
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        Arc::make_mut(&mut self.parts).headers.append(name, value);
        self
    }

    /// Appends a header given as strings.
    ///
    /// A name or a value that is not valid in HTTP is refused where the
    /// response is installed: `build()` (or `set_faults`) fails with
    /// [`ConfigError::Invalid`] naming `response.header` and the value (and
    /// [`validate`](Self::validate) says so up front). Used directly, the
    /// header is left out.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::bad_gateway().header_str("via", "1.1 chaos");
    /// assert_eq!(r.headers()["via"], "1.1 chaos");
    /// let err = SyntheticResponse::bad_gateway().header_str("bad name", "x").validate().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `response.header` = \"bad name\": not a valid header name");
    /// ```
    #[must_use]
    pub fn header_str(self, name: &str, value: &str) -> Self {
        let Ok(n) = HeaderName::from_bytes(name.as_bytes()) else {
            return self.refused(ConfigError::invalid(
                "response.header",
                name,
                "not a valid header name",
            ));
        };
        let Ok(v) = HeaderValue::from_str(value) else {
            return self.refused(ConfigError::invalid(
                "response.header",
                value,
                "not a valid header value",
            ));
        };
        self.header(n, v)
    }

    /// Sets `Retry-After`.
    ///
    /// ```
    /// use tower_chaos::http::{RetryAfter, SyntheticResponse};
    /// let r = SyntheticResponse::service_unavailable().retry_after(RetryAfter::Seconds(5));
    /// assert_eq!(r.headers()["retry-after"], "5");
    /// ```
    ///
    /// A [`RetryAfter::Date`] before 1970 or after year 9999 cannot be
    /// written: the response is then refused with a [`ConfigError`] when
    /// installed as a fault (build or `set_faults`), and has no
    /// `Retry-After` header if used directly. [`RetryAfter::date`] checks it
    /// up front.
    #[must_use]
    pub fn retry_after(mut self, value: RetryAfter) -> Self {
        let parts = Arc::make_mut(&mut self.parts);
        match value.header_value() {
            Some(v) => {
                parts.headers.insert(RETRY_AFTER, v);
                parts.bad_retry_after = None;
            }
            None => {
                parts.headers.remove(RETRY_AFTER);
                parts.bad_retry_after = Some(value);
            }
        }
        self
    }

    /// Checks the values the constructors and builders could not refuse
    /// (a status out of range, an invalid header, AWS error type or S3
    /// code, a `Retry-After` date out of range): what installing the
    /// response as a fault checks.
    ///
    /// # Errors
    ///
    /// The first refused value, as a [`ConfigError::Invalid`] naming the
    /// field and the value.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert!(SyntheticResponse::new(503).validate().is_ok());
    /// let err = SyntheticResponse::new(1000).validate().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `response.status` = 1000: must be within 100..=999");
    /// ```
    pub fn validate(self) -> Result<Self, ConfigError> {
        self.check().map(|()| self)
    }

    /// [`validate`](Self::validate) on a borrowed response.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if let Some(error) = &self.parts.invalid {
            return Err(error.clone());
        }
        match self.parts.bad_retry_after {
            Some(value) => value.checked().map(|_| ()),
            None => Ok(()),
        }
    }

    /// Replaces the body.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// let r = SyntheticResponse::bad_gateway().body("upstream gone");
    /// assert_eq!(r.body_bytes(), b"upstream gone".as_slice());
    /// ```
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        Arc::make_mut(&mut self.parts).body = body.into();
        self
    }

    /// The status code.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::aws_throttling().status(), http::StatusCode::BAD_REQUEST);
    /// ```
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.parts.status
    }

    /// The headers.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::s3_slow_down().headers()["content-type"], "application/xml");
    /// ```
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The body bytes.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert!(SyntheticResponse::grpc_internal().body_bytes().is_empty());
    /// ```
    #[must_use]
    pub fn body_bytes(&self) -> &Bytes {
        &self.parts.body
    }

    /// The gRPC code, when this is a gRPC trailers-only response.
    ///
    /// ```
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::service_unavailable().grpc_code(), None);
    /// ```
    #[must_use]
    pub fn grpc_code(&self) -> Option<GrpcCode> {
        if self.parts.kind != FaultKind::GrpcStatus {
            return None;
        }
        let value = self.parts.headers.get("grpc-status")?.to_str().ok()?;
        GrpcCode::from_u16(value.parse().ok()?).ok()
    }

    /// [`FaultKind::GrpcStatus`] for gRPC responses, [`FaultKind::Status`] otherwise.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::http::SyntheticResponse;
    /// assert_eq!(SyntheticResponse::grpc_unavailable().kind(), FaultKind::GrpcStatus);
    /// assert_eq!(SyntheticResponse::s3_slow_down().kind(), FaultKind::Status);
    /// ```
    #[must_use]
    pub fn kind(&self) -> FaultKind {
        self.parts.kind
    }

    /// Builds the response, marked with [`Injected`] for `target`.
    ///
    /// ```
    /// use tower_chaos::http::{Injected, SyntheticResponse};
    /// let r = SyntheticResponse::grpc_internal().to_response::<()>("grpc-api");
    /// assert_eq!(Injected::of(&r).unwrap().target(), "grpc-api");
    /// ```
    pub fn to_response<B>(&self, target: impl Into<Arc<str>>) -> Response<ChaosBody<B>> {
        self.to_marked_response(Injected::new(self.parts.kind, target))
    }

    /// Builds the response with `marker` in its extensions.
    pub(crate) fn to_marked_response<B>(&self, marker: Injected) -> Response<ChaosBody<B>> {
        let body = if self.parts.body.is_empty() {
            ChaosBody::empty()
        } else {
            ChaosBody::full(self.parts.body.clone())
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.parts.status;
        *response.headers_mut() = self.parts.headers.clone();
        response.extensions_mut().insert(marker);
        response
    }
}

impl PartialEq for SyntheticResponse {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.parts, &other.parts)
            || (self.parts.status == other.parts.status
                && self.parts.headers == other.parts.headers
                && self.parts.body == other.parts.body
                && self.parts.kind == other.parts.kind
                && self.parts.bad_retry_after == other.parts.bad_retry_after
                && self.parts.invalid == other.parts.invalid)
    }
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                use fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `s` with XML's five special characters escaped.
/// Escapes `s` for XML text. Characters XML 1.0 cannot hold at all, not
/// even as references (control characters other than tab, line feed and
/// carriage return; U+FFFE, U+FFFF), become U+FFFD, so the document stays
/// well-formed.
fn push_xml_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_body_without_a_canonical_reason() {
        let r = SyntheticResponse::text(StatusCode::from_u16(599).unwrap());
        assert_eq!(&r.body_bytes()[..], b"599 (injected by tower-chaos)");
    }

    #[test]
    fn json_escaping() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
    }

    #[test]
    fn ready_made_statuses() {
        assert_eq!(SyntheticResponse::internal_server_error().status(), 500);
        assert_eq!(SyntheticResponse::bad_gateway().status(), 502);
        assert_eq!(SyntheticResponse::service_unavailable().status(), 503);
        assert_eq!(SyntheticResponse::gateway_timeout().status(), 504);
        assert_eq!(SyntheticResponse::aws_internal_server_error().status(), 500);
        assert_eq!(SyntheticResponse::aws_service_unavailable().status(), 503);
        assert_eq!(SyntheticResponse::s3_internal_error().status(), 500);
        assert_eq!(
            SyntheticResponse::aws_provisioned_throughput_exceeded().headers()["x-amzn-errortype"],
            "ProvisionedThroughputExceededException"
        );
    }

    #[test]
    fn invalid_values_are_config_errors() {
        assert!(
            SyntheticResponse::aws_json(StatusCode::OK, "", "m")
                .validate()
                .is_err()
        );
        assert!(
            SyntheticResponse::aws_json(StatusCode::OK, "a\nb", "m")
                .validate()
                .is_err()
        );
        assert!(
            SyntheticResponse::s3_xml(StatusCode::OK, "Slow Down", "m")
                .validate()
                .is_err()
        );
        assert!(SyntheticResponse::new(1000).validate().is_err());
        // Used directly (not installed), a refused value is visible, never a panic.
        assert_eq!(
            SyntheticResponse::new(1000).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(
            SyntheticResponse::aws_json(StatusCode::OK, "", "m")
                .headers()
                .get("x-amzn-errortype")
                .is_none()
        );
        assert!(
            SyntheticResponse::bad_gateway()
                .header_str("x y", "v")
                .headers()
                .get("x y")
                .is_none()
        );
        // The first refused value is the one reported.
        let err = SyntheticResponse::new(7)
            .header_str("x y", "v")
            .validate()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::invalid("response.status", 7, "must be within 100..=999")
        );
    }

    #[test]
    fn grpc_without_message_has_no_message_header() {
        let r = SyntheticResponse::grpc(GrpcCode::Ok, "");
        assert!(r.headers().get("grpc-message").is_none());
        assert_eq!(r.grpc_code(), Some(GrpcCode::Ok));
        assert_eq!(SyntheticResponse::bad_gateway().grpc_code(), None);
    }
}

//! The `http` tables of a phase (features `serde` and `http`): synthesized
//! statuses (`429` with `Retry-After` among them), AWS JSON, S3 XML and gRPC
//! errors, dropped connections, latency and response body faults, each with
//! request matchers, trigger settings and limits.
//!
//! A table becomes an [`HttpSpec`]: a described HTTP fault that turns into
//! an [`HttpRule`](crate::http::HttpRule) each time its phase is installed
//! (its `window` is relative to the phase's start, like a request fault's).
//! Values are checked where they are read, so a bad status, method, path
//! pattern, header or gRPC code is reported at its line and column; what
//! depends on the whole table (a parameter the fault does not take) at the
//! table.

use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};

use super::parameters::{self, FaultName};
use super::values::{DurationText, LatencyFile, Rate};
use crate::http::{BodyFault, GrpcCode, HttpFault, RequestMatcher, RetryAfter, SyntheticResponse};
use crate::rule::sealed::Sealed;
use crate::scenario::conditions::Conditions;
use crate::scenario::faults::{Accumulator, Contribute, Cx, header_keyed};
use crate::{ConfigError, Rule};

/// A described HTTP fault loaded from a file.
#[derive(Debug)]
pub(super) struct HttpSpec {
    fault: HttpFault,
    /// All of the table's matchers; `None` matches every request.
    matcher: Option<RequestMatcher>,
    when: Conditions,
}

impl Contribute for HttpSpec {
    fn contribute(&self, cx: &Cx, acc: &mut Accumulator) {
        let keyed = self
            .when
            .keyed
            .as_ref()
            .map(|(header, p)| header_keyed(header, *p));
        // Matchers first: they are pure, so a rate after them can screen.
        let matcher = self.matcher.clone().map(Into::into);
        let rule = Rule::new(self.fault.clone(), self.when.trigger(cx, matcher, keyed));
        acc.push(cx.finish(self.when.limit(rule)));
    }

    fn window(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        self.when.window
    }

    fn fails_every_request(&self) -> bool {
        self.matcher.is_none() && self.when.is_unconditional() && self.fault.fails_outright()
    }
}

/// An `http` table, checked: the spec it describes.
#[derive(Deserialize)]
#[serde(try_from = "HttpFaultRaw")]
pub(super) struct HttpFile(pub(super) HttpSpec);

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum HttpFaultName {
    Status,
    AwsError,
    S3Error,
    Grpc,
    DropConnection,
    Latency,
    Body,
}

impl FaultName for HttpFaultName {
    fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::AwsError => "aws_error",
            Self::S3Error => "s3_error",
            Self::Grpc => "grpc",
            Self::DropConnection => "drop_connection",
            Self::Latency => "latency",
            Self::Body => "body",
        }
    }
}

table_with_conditions! {
    /// An `http` table as written.
    struct HttpFaultRaw {
        fault: HttpFaultName,
        status: Option<StatusFile>,
        retry_after: Option<DurationText>,
        error: Option<String>,
        code: Option<GrpcCodeFile>,
        message: Option<String>,
        #[serde(default, deserialize_with = "response_headers")]
        headers: Vec<(HeaderName, HeaderValue)>,
        latency: Option<LatencyFile>,
        body: Option<BodyFile>,
        #[serde(default, deserialize_with = "methods")]
        method: Option<RequestMatcher>,
        #[serde(default, deserialize_with = "path")]
        path: Option<RequestMatcher>,
        #[serde(default, deserialize_with = "path_prefix")]
        path_prefix: Option<RequestMatcher>,
        #[serde(default, deserialize_with = "path_glob")]
        path_glob: Option<RequestMatcher>,
        #[serde(default, deserialize_with = "host")]
        host: Option<RequestMatcher>,
        #[serde(default, deserialize_with = "headers")]
        header: Option<RequestMatcher>,
        #[serde(default, deserialize_with = "grpc_service")]
        grpc_service: Option<RequestMatcher>,
        #[serde(default, deserialize_with = "grpc_method")]
        grpc_method: Option<RequestMatcher>,
        keyed: Option<KeyedHeaderFile>,
    }
}

/// `keyed = { header = "x-tenant", rate = 0.25 }`: sticky per value of a
/// request header.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyedHeaderFile {
    #[serde(deserialize_with = "header_name")]
    header: HeaderName,
    rate: Rate,
}

/// `body = { truncate_after, stall_after, abort_after, throttle,
/// delay_first_byte }`: a response body fault.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyFile {
    truncate_after: Option<u64>,
    stall_after: Option<u64>,
    abort_after: Option<u64>,
    /// Bytes per second.
    throttle: Option<u64>,
    delay_first_byte: Option<DurationText>,
}

impl BodyFile {
    fn into_fault(self) -> Result<BodyFault, String> {
        let cuts = [self.truncate_after, self.stall_after, self.abort_after];
        if cuts.iter().flatten().count() > 1 {
            return Err("a body fault has one of `truncate_after`, `stall_after`, `abort_after`".to_owned());
        }
        let mut body = BodyFault::delay_first_byte(self.delay_first_byte.map(|d| d.0).unwrap_or_default());
        if let Some(n) = self.truncate_after {
            body = body.with_truncate_after(n);
        }
        if let Some(n) = self.stall_after {
            body = body.with_stall_after(n);
        }
        if let Some(n) = self.abort_after {
            body = body.with_abort_after(n);
        }
        if let Some(bps) = self.throttle {
            body = body.with_throttle(bps).validate().map_err(|e| reason(&e))?;
        }
        if body.is_noop() {
            return Err(
                "a body fault needs one of `truncate_after`, `stall_after`, `abort_after`, `throttle`, \
                 `delay_first_byte` (other than zero)"
                    .to_owned(),
            );
        }
        Ok(body)
    }
}

/// A provider error a file may name without a status: its name, its
/// usual status, and the ready-made response (with its usual message).
type KnownError = (&'static str, StatusCode, fn() -> SyntheticResponse);

/// The AWS JSON errors with a usual status, for `aws_error` without one.
const AWS_ERRORS: &[KnownError] = &[
    (
        "ThrottlingException",
        StatusCode::BAD_REQUEST,
        SyntheticResponse::aws_throttling,
    ),
    (
        "ProvisionedThroughputExceededException",
        StatusCode::BAD_REQUEST,
        SyntheticResponse::aws_provisioned_throughput_exceeded,
    ),
    (
        "InternalServerError",
        StatusCode::INTERNAL_SERVER_ERROR,
        SyntheticResponse::aws_internal_server_error,
    ),
    (
        "ServiceUnavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        SyntheticResponse::aws_service_unavailable,
    ),
];

/// The S3 error codes with a usual status, for `s3_error` without one.
const S3_ERRORS: &[KnownError] = &[
    (
        "SlowDown",
        StatusCode::SERVICE_UNAVAILABLE,
        SyntheticResponse::s3_slow_down,
    ),
    (
        "InternalError",
        StatusCode::INTERNAL_SERVER_ERROR,
        SyntheticResponse::s3_internal_error,
    ),
];

const INJECTED: &str = "injected by tower-chaos";

impl HttpFaultRaw {
    /// Refuses parameters the fault does not take.
    fn check_parameters(&self) -> Result<(), String> {
        use HttpFaultName::{AwsError, Body, Grpc, Latency, S3Error, Status};
        let responses = &[Status, AwsError, S3Error, Grpc][..];
        parameters::check(
            self.fault,
            &[
                ("status", self.status.is_some(), &[Status, AwsError, S3Error]),
                (
                    "retry_after",
                    self.retry_after.is_some(),
                    &[Status, AwsError, S3Error],
                ),
                ("error", self.error.is_some(), &[AwsError, S3Error]),
                ("code", self.code.is_some(), &[Grpc]),
                ("message", self.message.is_some(), responses),
                ("headers", !self.headers.is_empty(), responses),
                ("latency", self.latency.is_some(), &[Latency]),
                ("body", self.body.is_some(), &[Body]),
            ],
        )
    }

    /// An AWS or S3 error response: a known `error` alone is the ready-made
    /// one; otherwise `status` is needed unless the error is known.
    fn provider_error(
        &mut self,
        known: &[KnownError],
        make: fn(StatusCode, &str, &str) -> SyntheticResponse,
    ) -> Result<SyntheticResponse, String> {
        let fault = self.fault.as_str();
        let error = self.error.take().ok_or_else(|| {
            format!(
                "an `{fault}` fault needs `error` (e.g. error = \"{}\")",
                known[0].0
            )
        })?;
        let known = known.iter().find(|(name, ..)| *name == error);
        let status = self.status.take().map(|s| s.0);
        let message = self.message.take();
        match (known, status, message) {
            (Some((_, _, ready)), None, None) => Ok(ready()),
            (known, status, message) => {
                let status = status.or(known.map(|k| k.1)).ok_or_else(|| {
                    format!("`{error}` has no usual status: give `status` (e.g. status = 400)")
                })?;
                make(status, &error, message.as_deref().unwrap_or(INJECTED))
                    .validate()
                    .map_err(|e| reason(&e))
            }
        }
    }

    fn fault(&mut self) -> Result<HttpFault, String> {
        let needs = |parameter: &str, example: &str| {
            format!(
                "a `{}` fault needs `{parameter}` (e.g. {example})",
                self.fault.as_str()
            )
        };
        let response = match self.fault {
            HttpFaultName::Status => {
                let status = self
                    .status
                    .take()
                    .ok_or_else(|| needs("status", "status = 503"))?;
                let response = SyntheticResponse::text(status.0);
                match self.message.take() {
                    Some(message) => response.body(message),
                    None => response,
                }
            }
            HttpFaultName::AwsError => self.provider_error(AWS_ERRORS, SyntheticResponse::aws_json)?,
            HttpFaultName::S3Error => self.provider_error(S3_ERRORS, SyntheticResponse::s3_xml)?,
            HttpFaultName::Grpc => {
                let code = self
                    .code
                    .take()
                    .ok_or_else(|| needs("code", "code = \"unavailable\""))?;
                SyntheticResponse::grpc(code.0, self.message.as_deref().unwrap_or(INJECTED))
            }
            HttpFaultName::DropConnection => return Ok(HttpFault::DropConnection),
            HttpFaultName::Latency => {
                let latency = self
                    .latency
                    .take()
                    .ok_or_else(|| needs("latency", "latency = \"2s\""))?;
                return Ok(HttpFault::Latency(latency.0));
            }
            HttpFaultName::Body => {
                let body = self
                    .body
                    .take()
                    .ok_or_else(|| needs("body", "body = { truncate_after = 1024 }"))?;
                return Ok(HttpFault::ResponseBody(body.into_fault()?));
            }
        };
        let mut response = response;
        if let Some(after) = self.retry_after.take() {
            response = response.retry_after(RetryAfter::after(after.0));
        }
        for (name, value) in self.headers.drain(..) {
            response = response.header(name, value);
        }
        Ok(HttpFault::Respond(response))
    }

    /// All the matchers given, or `None`.
    fn matcher(&mut self) -> Option<RequestMatcher> {
        [
            self.method.take(),
            self.path.take(),
            self.path_prefix.take(),
            self.path_glob.take(),
            self.host.take(),
            self.header.take(),
            self.grpc_service.take(),
            self.grpc_method.take(),
        ]
        .into_iter()
        .flatten()
        .reduce(RequestMatcher::and)
    }
}

impl TryFrom<HttpFaultRaw> for HttpFile {
    type Error = String;

    fn try_from(mut raw: HttpFaultRaw) -> Result<Self, String> {
        raw.check_parameters()?;
        let fault = raw.fault()?;
        let matcher = raw.matcher();
        let keyed = raw.keyed.take().map(|k| (Arc::from(k.header.as_str()), k.rate.0));
        let when = raw.take_conditions(keyed)?;
        Ok(Self(HttpSpec { fault, matcher, when }))
    }
}

/// What a configuration error says is wrong with the value (the file error
/// already names the field).
fn reason(e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid { value, reason, .. } => format!("{value}: {reason}"),
        other => other.to_string(),
    }
}

/// An HTTP status within `100..=599`, checked in the visitor so that the
/// formats report the value's own position.
struct StatusFile(StatusCode);

impl<'de> Deserialize<'de> for StatusFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status within 100..=599")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusFile, E> {
                u16::try_from(v)
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .map(StatusFile)
                    .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusFile, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }
        }
        d.deserialize_u64(V)
    }
}

/// A gRPC code: its name in any case (`"unavailable"`, `"DEADLINE_EXCEEDED"`)
/// or its number.
struct GrpcCodeFile(GrpcCode);

impl<'de> Deserialize<'de> for GrpcCodeFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = GrpcCodeFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a gRPC code: a name such as \"unavailable\", or a number within 0..=16")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<GrpcCodeFile, E> {
                GrpcCode::ALL
                    .into_iter()
                    .find(|c| c.as_str().eq_ignore_ascii_case(v))
                    .map(GrpcCodeFile)
                    .ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GrpcCodeFile, E> {
                u16::try_from(v)
                    .ok()
                    .and_then(|c| GrpcCode::from_u16(c).ok())
                    .map(GrpcCodeFile)
                    .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GrpcCodeFile, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A string made into a `T` by its function as it is read: an error is
/// raised in the visitor, where every format still knows the value's own
/// line and column (after the value is read, YAML only knows its table).
struct Checked<T>(fn(&str) -> Result<T, String>);

impl<T> Clone for Checked<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Checked<T> {}

impl<'de, T> DeserializeSeed<'de> for Checked<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

impl<T> Visitor<'_> for Checked<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
}

/// The matchers of one string or a list of them, each made by `make`,
/// joined by `join` (any of them, or all).
fn joined<'de, D: Deserializer<'de>>(
    d: D,
    make: fn(&str) -> Result<RequestMatcher, String>,
    join: fn(RequestMatcher, RequestMatcher) -> RequestMatcher,
) -> Result<Option<RequestMatcher>, D::Error> {
    struct V {
        seed: Checked<RequestMatcher>,
        join: fn(RequestMatcher, RequestMatcher) -> RequestMatcher,
    }
    impl<'de> Visitor<'de> for V {
        type Value = RequestMatcher;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<RequestMatcher, E> {
            self.seed.visit_str(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RequestMatcher, A::Error> {
            let mut joined = None;
            while let Some(m) = seq.next_element_seed(self.seed)? {
                joined = Some(match joined {
                    None => m,
                    Some(prev) => (self.join)(prev, m),
                });
            }
            joined.ok_or_else(|| de::Error::invalid_length(0, &"at least one string"))
        }
    }
    d.deserialize_any(V {
        seed: Checked(make),
        join,
    })
    .map(Some)
}

/// `method = "PUT"` or `["PUT", "POST"]`: any of them. Names are
/// upper-cased, so `"put"` means `PUT` rather than a method nobody sends.
fn methods<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RequestMatcher>, D::Error> {
    let method = |name: &str| {
        Method::from_bytes(name.to_ascii_uppercase().as_bytes())
            .map(RequestMatcher::method)
            .map_err(|_| format!("invalid value: string {name:?}, expected an HTTP method such as \"PUT\""))
    };
    joined(d, method, RequestMatcher::or)
}

/// `header = "x-canary"` (present) or `"x-tenant: acme"` (with that
/// value), or a list of them: all must match.
fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RequestMatcher>, D::Error> {
    let header = |text: &str| {
        match text.split_once(':') {
            Some((name, value)) => RequestMatcher::header_value(name.trim(), value.trim()),
            None => RequestMatcher::header(text.trim()),
        }
        .validate()
        .map_err(|e| reason(&e))
    };
    joined(d, header, RequestMatcher::and)
}

fn path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RequestMatcher>, D::Error> {
    let make = |s: &str| RequestMatcher::path(s).validate().map_err(|e| reason(&e));
    d.deserialize_str(Checked(make)).map(Some)
}

fn path_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RequestMatcher>, D::Error> {
    let make = |s: &str| RequestMatcher::path_prefix(s).validate().map_err(|e| reason(&e));
    d.deserialize_str(Checked(make)).map(Some)
}

fn path_glob<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RequestMatcher>, D::Error> {
    let make = |s: &str| RequestMatcher::path_glob(s).validate().map_err(|e| reason(&e));
    d.deserialize_str(Checked(make)).map(Some)
}

fn host<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RequestMatcher>, D::Error> {
    let make = |s: &str| RequestMatcher::host(s).validate().map_err(|e| reason(&e));
    d.deserialize_str(Checked(make)).map(Some)
}

fn grpc_service<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RequestMatcher>, D::Error> {
    let make = |s: &str| RequestMatcher::grpc_service(s).validate().map_err(|e| reason(&e));
    d.deserialize_str(Checked(make)).map(Some)
}

/// `grpc_method = "pkg.Items/Get"`.
fn grpc_method<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RequestMatcher>, D::Error> {
    let make = |s: &str| match s.split_once('/') {
        Some((service, method)) => RequestMatcher::grpc_method(service, method)
            .validate()
            .map_err(|e| reason(&e)),
        None => Err(format!("{s:?}: must be `service/method`, e.g. \"pkg.Items/Get\"")),
    };
    d.deserialize_str(Checked(make)).map(Some)
}

fn parse_header_name(s: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(s.as_bytes())
        .map_err(|_| format!("invalid value: string {s:?}, expected an HTTP header name"))
}

fn header_name<'de, D: Deserializer<'de>>(d: D) -> Result<HeaderName, D::Error> {
    d.deserialize_str(Checked(parse_header_name))
}

/// `headers = { "x-amzn-requestid" = "chaos" }`: headers added to a
/// synthesized response, in the order written.
fn response_headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(HeaderName, HeaderValue)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(HeaderName, HeaderValue)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of header names and values")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let value = |s: &str| {
                HeaderValue::from_str(s)
                    .map_err(|_| format!("invalid value: string {s:?}, expected an HTTP header value"))
            };
            let mut all = Vec::new();
            while let Some(entry) = map.next_entry_seed(Checked(parse_header_name), Checked(value))? {
                all.push(entry);
            }
            Ok(all)
        }
    }
    d.deserialize_map(V)
}

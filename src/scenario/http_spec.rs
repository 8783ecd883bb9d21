//! Described HTTP faults (feature `http`): an `http` table of a scenario
//! file — a synthesized status, AWS JSON, S3 XML or gRPC error, a dropped
//! connection, latency or a response body fault, with request matchers,
//! trigger settings and limits — kept as written ([`HttpForm`]) next to
//! the fault and matcher it builds. The form is what scenarios compare
//! and write back; presets build their HTTP phases from forms too, so
//! they round-trip through files.

use std::any::Any;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, StatusCode};

use super::conditions::Conditions;
use super::cx::Cx;
use super::faults::{Accumulator, Contribute, header_keyed};
use super::parameters::{self, FaultName};
use crate::http::{BodyFault, GrpcCode, HttpFault, RequestMatcher, RetryAfter, SyntheticResponse};
use crate::rule::sealed::Sealed;
use crate::{ConfigError, Latency, Rule};

/// The `fault = "..."` of an `http` table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
// Without `serde`, only presets name faults, and not all of them.
#[cfg_attr(not(feature = "serde"), allow(dead_code))]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum HttpFaultName {
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

/// `body = { truncate_after, stall_after, abort_after, throttle,
/// delay_first_byte }` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BodyForm {
    pub(crate) truncate_after: Option<u64>,
    pub(crate) stall_after: Option<u64>,
    pub(crate) abort_after: Option<u64>,
    /// Bytes per second.
    pub(crate) throttle: Option<u64>,
    pub(crate) delay_first_byte: Option<Duration>,
}

impl BodyForm {
    fn fault(&self) -> Result<BodyFault, String> {
        let cuts = [self.truncate_after, self.stall_after, self.abort_after];
        if cuts.iter().flatten().count() > 1 {
            return Err("a body fault has one of `truncate_after`, `stall_after`, `abort_after`".to_owned());
        }
        let mut body = BodyFault::delay_first_byte(self.delay_first_byte.unwrap_or_default());
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

/// An `http` table as written (values already checked one by one), apart
/// from its trigger settings and limits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpForm {
    pub(crate) fault: HttpFaultName,
    pub(crate) status: Option<StatusCode>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) error: Option<String>,
    pub(crate) code: Option<GrpcCode>,
    pub(crate) message: Option<String>,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) latency: Option<Latency>,
    pub(crate) body: Option<BodyForm>,
    /// Any of these methods.
    pub(crate) method: Vec<Method>,
    pub(crate) path: Option<String>,
    pub(crate) path_prefix: Option<String>,
    pub(crate) path_glob: Option<String>,
    pub(crate) host: Option<String>,
    /// All of these: `name` (present) or `name: value`.
    pub(crate) header: Vec<String>,
    pub(crate) grpc_service: Option<String>,
    /// `service/method`.
    pub(crate) grpc_method: Option<String>,
}

impl HttpForm {
    /// A table with `fault` and nothing else (presets).
    #[cfg(feature = "io")]
    pub(crate) const fn new(fault: HttpFaultName) -> Self {
        Self {
            fault,
            status: None,
            retry_after: None,
            error: None,
            code: None,
            message: None,
            headers: Vec::new(),
            latency: None,
            body: None,
            method: Vec::new(),
            path: None,
            path_prefix: None,
            path_glob: None,
            host: None,
            header: Vec::new(),
            grpc_service: None,
            grpc_method: None,
        }
    }

    /// `fault = "status"` with `status` (presets).
    #[cfg(feature = "io")]
    pub(crate) const fn status(status: StatusCode) -> Self {
        let mut form = Self::new(HttpFaultName::Status);
        form.status = Some(status);
        form
    }
}

/// A described HTTP fault: the table as written, and what it builds.
#[derive(Debug)]
pub(crate) struct HttpSpec {
    pub(crate) form: HttpForm,
    pub(crate) when: Conditions,
    fault: HttpFault,
    /// All of the table's matchers; `None` matches every request.
    matcher: Option<RequestMatcher>,
}

/// Two specs are equal when their tables are: the fault and matcher are
/// built from them.
impl PartialEq for HttpSpec {
    fn eq(&self, other: &Self) -> bool {
        self.form == other.form && self.when == other.when
    }
}

impl HttpSpec {
    /// Builds the fault and matcher of `form`.
    ///
    /// # Errors
    ///
    /// What is wrong with the table: a parameter its fault does not take, a
    /// missing one, a bad matcher or body.
    pub(crate) fn new(form: HttpForm, when: Conditions) -> Result<Self, String> {
        check_parameters(&form)?;
        let fault = fault(&form)?;
        let matcher = matcher(&form)?;
        Ok(Self {
            form,
            when,
            fault,
            matcher,
        })
    }
}

impl HttpSpec {
    /// The fault the table builds (exports read its response).
    #[cfg(feature = "serde")]
    pub(crate) const fn fault(&self) -> &HttpFault {
        &self.fault
    }
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

    fn window(&self) -> Option<(Duration, Duration)> {
        self.when.window
    }

    fn fails_every_request(&self) -> bool {
        self.matcher.is_none() && self.when.is_unconditional() && self.fault.fails_outright()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same(&self, other: &dyn Contribute) -> bool {
        other.as_any().downcast_ref::<Self>() == Some(self)
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

/// Refuses parameters the fault does not take.
fn check_parameters(form: &HttpForm) -> Result<(), String> {
    use HttpFaultName::{AwsError, Body, Grpc, Latency, S3Error, Status};
    let responses = &[Status, AwsError, S3Error, Grpc][..];
    parameters::check(
        form.fault,
        &[
            ("status", form.status.is_some(), &[Status, AwsError, S3Error]),
            (
                "retry_after",
                form.retry_after.is_some(),
                &[Status, AwsError, S3Error],
            ),
            ("error", form.error.is_some(), &[AwsError, S3Error]),
            ("code", form.code.is_some(), &[Grpc]),
            ("message", form.message.is_some(), responses),
            ("headers", !form.headers.is_empty(), responses),
            ("latency", form.latency.is_some(), &[Latency]),
            ("body", form.body.is_some(), &[Body]),
        ],
    )
}

/// An AWS or S3 error response: a known `error` alone is the ready-made
/// one; otherwise `status` is needed unless the error is known.
fn provider_error(
    form: &HttpForm,
    known: &[KnownError],
    make: fn(StatusCode, &str, &str) -> SyntheticResponse,
) -> Result<SyntheticResponse, String> {
    let fault = form.fault.as_str();
    let error = form.error.as_deref().ok_or_else(|| {
        format!(
            "an `{fault}` fault needs `error` (e.g. error = \"{}\")",
            known[0].0
        )
    })?;
    let known = known.iter().find(|(name, ..)| *name == error);
    match (known, form.status, form.message.as_deref()) {
        (Some((_, _, ready)), None, None) => Ok(ready()),
        (known, status, message) => {
            let status = status
                .or(known.map(|k| k.1))
                .ok_or_else(|| format!("`{error}` has no usual status: give `status` (e.g. status = 400)"))?;
            make(status, error, message.unwrap_or(INJECTED))
                .validate()
                .map_err(|e| reason(&e))
        }
    }
}

fn fault(form: &HttpForm) -> Result<HttpFault, String> {
    let needs = |parameter: &str, example: &str| {
        format!(
            "a `{}` fault needs `{parameter}` (e.g. {example})",
            form.fault.as_str()
        )
    };
    let mut response = match form.fault {
        HttpFaultName::Status => {
            let status = form.status.ok_or_else(|| needs("status", "status = 503"))?;
            let response = SyntheticResponse::text(status);
            match &form.message {
                Some(message) => response.body(message.clone()),
                None => response,
            }
        }
        HttpFaultName::AwsError => provider_error(form, AWS_ERRORS, SyntheticResponse::aws_json)?,
        HttpFaultName::S3Error => provider_error(form, S3_ERRORS, SyntheticResponse::s3_xml)?,
        HttpFaultName::Grpc => {
            let code = form.code.ok_or_else(|| needs("code", "code = \"unavailable\""))?;
            SyntheticResponse::grpc(code, form.message.as_deref().unwrap_or(INJECTED))
        }
        HttpFaultName::DropConnection => return Ok(HttpFault::DropConnection),
        HttpFaultName::Latency => {
            let latency = form.latency.ok_or_else(|| needs("latency", "latency = \"2s\""))?;
            return Ok(HttpFault::Latency(latency));
        }
        HttpFaultName::Body => {
            let body = form
                .body
                .as_ref()
                .ok_or_else(|| needs("body", "body = { truncate_after = 1024 }"))?;
            return Ok(HttpFault::ResponseBody(body.fault()?));
        }
    };
    if let Some(after) = form.retry_after {
        response = response.retry_after(RetryAfter::after(after));
    }
    for (name, value) in &form.headers {
        response = response.header(name.clone(), value.clone());
    }
    Ok(HttpFault::Respond(response))
}

/// One header matcher: `name` (present) or `name: value`.
pub(crate) fn header_matcher(text: &str) -> Result<RequestMatcher, String> {
    match text.split_once(':') {
        Some((name, value)) => RequestMatcher::header_value(name.trim(), value.trim()),
        None => RequestMatcher::header(text.trim()),
    }
    .validate()
    .map_err(|e| reason(&e))
}

/// A `grpc_method` matcher: `service/method`.
pub(crate) fn grpc_method_matcher(s: &str) -> Result<RequestMatcher, String> {
    match s.split_once('/') {
        Some((service, method)) => RequestMatcher::grpc_method(service, method)
            .validate()
            .map_err(|e| reason(&e)),
        None => Err(format!("{s:?}: must be `service/method`, e.g. \"pkg.Items/Get\"")),
    }
}

/// A matcher of one string, checked.
pub(crate) fn checked(matcher: RequestMatcher) -> Result<RequestMatcher, String> {
    matcher.validate().map_err(|e| reason(&e))
}

/// All the matchers given (any of the methods), or `None`.
fn matcher(form: &HttpForm) -> Result<Option<RequestMatcher>, String> {
    let methods = form
        .method
        .iter()
        .cloned()
        .map(RequestMatcher::method)
        .reduce(RequestMatcher::or);
    let one = |s: &Option<String>, make: fn(&str) -> RequestMatcher| s.as_deref().map(|s| checked(make(s)));
    let headers = form
        .header
        .iter()
        .map(|h| header_matcher(h))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .reduce(RequestMatcher::and);
    let parts = [
        Ok(methods),
        one(&form.path, RequestMatcher::path).transpose(),
        one(&form.path_prefix, RequestMatcher::path_prefix).transpose(),
        one(&form.path_glob, RequestMatcher::path_glob).transpose(),
        one(&form.host, RequestMatcher::host).transpose(),
        Ok(headers),
        one(&form.grpc_service, RequestMatcher::grpc_service).transpose(),
        form.grpc_method.as_deref().map(grpc_method_matcher).transpose(),
    ];
    let mut all = Vec::new();
    for part in parts {
        all.extend(part?);
    }
    Ok(all.into_iter().reduce(RequestMatcher::and))
}

/// What a configuration error says is wrong with the value (the file error
/// already names the field).
pub(crate) fn reason(e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid { value, reason, .. } => format!("{value}: {reason}"),
        other => other.to_string(),
    }
}

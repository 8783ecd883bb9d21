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

use super::values::{DurationText, LatencyFile, Rate};
use crate::http::{GrpcCode, RequestMatcher};
use crate::scenario::http_spec::{
    BodyForm, HttpFaultName, HttpForm, HttpSpec, checked, grpc_method_matcher, header_matcher,
};

/// An `http` table, checked: the spec it describes.
#[derive(Deserialize)]
#[serde(try_from = "HttpFaultRaw")]
pub(super) struct HttpFile(pub(super) HttpSpec);

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
        method: Vec<Method>,
        #[serde(default, deserialize_with = "path")]
        path: Option<String>,
        #[serde(default, deserialize_with = "path_prefix")]
        path_prefix: Option<String>,
        #[serde(default, deserialize_with = "path_glob")]
        path_glob: Option<String>,
        #[serde(default, deserialize_with = "host")]
        host: Option<String>,
        #[serde(default, deserialize_with = "headers")]
        header: Vec<String>,
        #[serde(default, deserialize_with = "grpc_service")]
        grpc_service: Option<String>,
        #[serde(default, deserialize_with = "grpc_method")]
        grpc_method: Option<String>,
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

impl TryFrom<HttpFaultRaw> for HttpFile {
    type Error = String;

    fn try_from(mut raw: HttpFaultRaw) -> Result<Self, String> {
        let form = HttpForm {
            fault: raw.fault,
            status: raw.status.take().map(|s| s.0),
            retry_after: raw.retry_after.take().map(|d| d.0),
            error: raw.error.take(),
            code: raw.code.take().map(|c| c.0),
            message: raw.message.take(),
            headers: std::mem::take(&mut raw.headers),
            latency: raw.latency.take().map(|l| l.0),
            body: raw.body.take().map(|b| BodyForm {
                truncate_after: b.truncate_after,
                stall_after: b.stall_after,
                abort_after: b.abort_after,
                throttle: b.throttle,
                delay_first_byte: b.delay_first_byte.map(|d| d.0),
            }),
            method: std::mem::take(&mut raw.method),
            path: raw.path.take(),
            path_prefix: raw.path_prefix.take(),
            path_glob: raw.path_glob.take(),
            host: raw.host.take(),
            header: std::mem::take(&mut raw.header),
            grpc_service: raw.grpc_service.take(),
            grpc_method: raw.grpc_method.take(),
        };
        let keyed = raw.keyed.take().map(|k| (Arc::from(k.header.as_str()), k.rate.0));
        let when = raw.take_conditions(keyed)?;
        HttpSpec::new(form, when).map(Self)
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
                unsigned(self, v)
            }
        }
        d.deserialize_u64(V)
    }
}

/// A signed number handed to `visitor` as the unsigned number it is
/// (some formats read every integer as `i64`), or refused as negative.
fn unsigned<'de, V: Visitor<'de>, E: de::Error>(visitor: V, v: i64) -> Result<V::Value, E> {
    match u64::try_from(v) {
        Ok(u) => visitor.visit_u64(u),
        Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &visitor)),
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
                unsigned(self, v)
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

/// One string or a list of them (at least one), each made by `make` as it
/// is read.
fn one_or_many<'de, D: Deserializer<'de>, T>(
    d: D,
    make: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, D::Error> {
    struct V<T> {
        seed: Checked<T>,
    }
    impl<'de, T> Visitor<'de> for V<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<T>, E> {
            self.seed.visit_str(v).map(|m| vec![m])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut all = Vec::new();
            while let Some(m) = seq.next_element_seed(self.seed)? {
                all.push(m);
            }
            if all.is_empty() {
                return Err(de::Error::invalid_length(0, &"at least one string"));
            }
            Ok(all)
        }
    }
    d.deserialize_any(V { seed: Checked(make) })
}

/// `method = "PUT"` or `["PUT", "POST"]`: any of them. Names are
/// upper-cased, so `"put"` means `PUT` rather than a method nobody sends.
fn methods<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Method>, D::Error> {
    let method = |name: &str| {
        Method::from_bytes(name.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("invalid value: string {name:?}, expected an HTTP method such as \"PUT\""))
    };
    one_or_many(d, method)
}

/// `header = "x-canary"` (present) or `"x-tenant: acme"` (with that
/// value), or a list of them: all must match.
fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    one_or_many(d, |text| header_matcher(text).map(|_| text.to_owned()))
}

/// A string that `make` accepts as a matcher, as written.
fn matcher_text<'de, D: Deserializer<'de>>(
    d: D,
    make: fn(&str) -> Result<String, String>,
) -> Result<Option<String>, D::Error> {
    d.deserialize_str(Checked(make)).map(Some)
}

fn path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    matcher_text(d, |s| checked(RequestMatcher::path(s)).map(|_| s.to_owned()))
}

fn path_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    matcher_text(d, |s| {
        checked(RequestMatcher::path_prefix(s)).map(|_| s.to_owned())
    })
}

fn path_glob<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    matcher_text(d, |s| checked(RequestMatcher::path_glob(s)).map(|_| s.to_owned()))
}

fn host<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    matcher_text(d, |s| checked(RequestMatcher::host(s)).map(|_| s.to_owned()))
}

fn grpc_service<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    matcher_text(d, |s| {
        checked(RequestMatcher::grpc_service(s)).map(|_| s.to_owned())
    })
}

/// `grpc_method = "pkg.Items/Get"`.
fn grpc_method<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    matcher_text(d, |s| grpc_method_matcher(s).map(|_| s.to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;

    // Formats that read every integer as signed (YAML, TOML) reach
    // `visit_i64`: a non-negative one is the number, a negative one is
    // refused naming the value.
    #[test]
    fn signed_statuses_and_codes_read_as_numbers_and_negatives_are_refused() {
        let status: StatusFile = toml::Value::Integer(503).try_into().unwrap();
        assert_eq!(status.0, StatusCode::SERVICE_UNAVAILABLE);
        let code: GrpcCodeFile = toml::Value::Integer(14).try_into().unwrap();
        assert_eq!(code.0, GrpcCode::Unavailable);
        let err = serde_json::from_str::<StatusFile>("-1")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("integer `-1`"), "{err}");
        let err = serde_json::from_str::<GrpcCodeFile>("-3")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("integer `-3`"), "{err}");
    }
}

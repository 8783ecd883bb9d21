//! Header-controlled faults (off by default), modelled on Envoy's fault
//! filter headers.

use std::time::Duration;

use http::{HeaderMap, HeaderName, StatusCode};

use super::body::BodyFault;
use super::fault::HttpFault;
use super::grpc::GrpcCode;
use super::response::SyntheticResponse;
use crate::ConfigError;

/// The header names one naming scheme uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Names {
    delay: &'static str,
    delay_percentage: &'static str,
    abort: &'static str,
    abort_grpc: &'static str,
    abort_percentage: &'static str,
    throughput: &'static str,
    throughput_percentage: &'static str,
}

const CHAOS_NAMES: Names = Names {
    delay: "x-chaos-delay-request",
    delay_percentage: "x-chaos-delay-request-percentage",
    abort: "x-chaos-abort-request",
    abort_grpc: "x-chaos-abort-grpc-request",
    abort_percentage: "x-chaos-abort-request-percentage",
    throughput: "x-chaos-throughput-response",
    throughput_percentage: "x-chaos-throughput-response-percentage",
};

const ENVOY_NAMES: Names = Names {
    delay: "x-envoy-fault-delay-request",
    delay_percentage: "x-envoy-fault-delay-request-percentage",
    abort: "x-envoy-fault-abort-request",
    abort_grpc: "x-envoy-fault-abort-grpc-request",
    abort_percentage: "x-envoy-fault-abort-request-percentage",
    throughput: "x-envoy-fault-throughput-response",
    throughput_percentage: "x-envoy-fault-throughput-response-percentage",
};

/// Lets the test client ask for faults per request through headers, as
/// Envoy's fault filter does. **Off by default**; turn it on with
/// [`HttpChaosLayer::header_control`](super::HttpChaosLayer::header_control).
///
/// Never enable it where untrusted clients can reach the service: any
/// caller could then slow down or fail its requests at will (within the
/// bounds set here).
///
/// | header (default names) | Envoy name | value |
/// | --- | --- | --- |
/// | `x-chaos-delay-request` | `x-envoy-fault-delay-request` | delay in milliseconds, at most [`max_delay`](Self::max_delay) |
/// | `x-chaos-abort-request` | `x-envoy-fault-abort-request` | HTTP status in `200..600` |
/// | `x-chaos-abort-grpc-request` | `x-envoy-fault-abort-grpc-request` | gRPC code, answered trailers-only: `0..=16` (`x-chaos-*`), any `u32` (Envoy's names) |
/// | `x-chaos-throughput-response` | `x-envoy-fault-throughput-response` | response body rate in KiB/s, at least [`min_throughput`](Self::min_throughput) |
/// | `…-percentage` of each | same | integer `0..=100`, chance the fault applies (default 100) |
///
/// As in Envoy, an HTTP abort wins over a gRPC abort when both are sent.
/// We read `x-chaos-*` by default, so a real Envoy on the path never acts on
/// the same headers twice; [`envoy_names`](Self::envoy_names) reads Envoy's
/// names instead, for suites written against Envoy.
///
/// What an unusable value does depends on the names in use:
///
/// * **`x-chaos-*`** (ours): refused. The layer answers `400` with the
///   [`HeaderFaultError`] text (the value echoed is cut to 64 characters),
///   counted in [`Report::rejected_headers`](crate::Report::rejected_headers);
///   see [`HttpChaosLayer::header_control`](super::HttpChaosLayer::header_control).
///   A typo in a test's header then fails loudly instead of testing nothing.
/// * **`x-envoy-fault-*`** ([`envoy_names`](Self::envoy_names)): ignored, as
///   Envoy does. That header asks for nothing (an unusable percentage falls
///   back to 100, a percentage above 100 is capped at 100), the other
///   headers still apply, and each ignored header is counted in
///   [`Report::ignored_headers`](crate::Report::ignored_headers). A gRPC
///   abort accepts any code that fits in 32 bits, as Envoy does.
///
/// Header-asked faults come under the layer's
/// [`max_active`](super::HttpChaosLayerBuilder::max_active) cap, which is
/// the protection Envoy documents for header control (`max_active_faults`).
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::http::HeaderControl;
///
/// let control = HeaderControl::new().max_delay(Duration::from_secs(2));
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-chaos-delay-request", "1500".parse().unwrap());
/// headers.insert("x-chaos-abort-request", "503".parse().unwrap());
/// let request = control.parse(&headers).unwrap().expect("faults asked for");
/// assert_eq!(request.delay(), Some((Duration::from_millis(1500), 100)));
/// assert_eq!(request.abort().unwrap().0.status().as_u16(), 503);
///
/// headers.insert("x-chaos-delay-request", "5000".parse().unwrap());
/// let err = control.parse(&headers).unwrap_err();
/// assert_eq!(err.header(), "x-chaos-delay-request");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderControl {
    names: Names,
    max_delay: Duration,
    min_bytes_per_second: u64,
}

impl Default for HeaderControl {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderControl {
    /// Reads `x-chaos-*` headers, with a maximum delay of 30 s and a minimum
    /// throughput of 1 KiB/s.
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-envoy-fault-abort-request", "503".parse().unwrap());
    /// assert_eq!(HeaderControl::new().parse(&headers), Ok(None), "reads x-chaos-* only");
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            names: CHAOS_NAMES,
            max_delay: Duration::from_secs(30),
            min_bytes_per_second: 1024,
        }
    }

    /// Reads Envoy's `x-envoy-fault-*` names instead of `x-chaos-*`.
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-envoy-fault-abort-grpc-request", "14".parse().unwrap());
    /// let request = HeaderControl::new().envoy_names().parse(&headers).unwrap().unwrap();
    /// assert_eq!(request.abort().unwrap().0.headers()["grpc-status"], "14");
    /// ```
    #[must_use]
    pub const fn envoy_names(mut self) -> Self {
        self.names = ENVOY_NAMES;
        self
    }

    /// The longest delay a header may ask for; longer ones are refused
    /// (`x-chaos-*`) or ignored (Envoy's names).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-chaos-delay-request", "2000".parse().unwrap());
    /// assert!(HeaderControl::new().max_delay(Duration::from_secs(1)).parse(&headers).is_err());
    /// ```
    #[must_use]
    pub const fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// The slowest response throughput a header may ask for, in bytes per
    /// second; slower ones are refused (`x-chaos-*`) or ignored (Envoy's
    /// names).
    ///
    /// # Errors at build
    ///
    /// Like every other setting, it returns the control and is checked
    /// when the control is installed
    /// ([`HttpChaosLayerBuilder::build`](super::HttpChaosLayerBuilder::build),
    /// [`HttpChaosLayer::header_control`](super::HttpChaosLayer::header_control))
    /// or by [`validate`](Self::validate): zero is a
    /// [`ConfigError::Invalid`] for `header_control.min_throughput`.
    ///
    /// ```
    /// use tower_chaos::http::{HeaderControl, HttpChaosLayer};
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-chaos-throughput-response", "5".parse().unwrap());
    /// let at_least_10_kib = HeaderControl::new().min_throughput(10 * 1024);
    /// assert!(at_least_10_kib.parse(&headers).is_err(), "5 KiB/s is below the minimum");
    ///
    /// let err = HttpChaosLayer::builder("api")
    ///     .header_control(HeaderControl::new().min_throughput(0))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid `header_control.min_throughput` = 0: must be at least 1 byte per second"
    /// );
    /// ```
    #[must_use]
    pub const fn min_throughput(mut self, bytes_per_second: u64) -> Self {
        self.min_bytes_per_second = bytes_per_second;
        self
    }

    /// This control, or the error of its first unusable setting: what
    /// installing it checks (see [`min_throughput`](Self::min_throughput)).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the setting and its value
    /// (`header_control.min_throughput` = 0).
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// assert!(HeaderControl::new().validate().is_ok());
    /// let err = HeaderControl::new().min_throughput(0).validate().unwrap_err();
    /// assert!(err.to_string().starts_with("invalid `header_control.min_throughput` = 0"));
    /// ```
    pub fn validate(self) -> Result<Self, ConfigError> {
        if self.min_bytes_per_second == 0 {
            return Err(ConfigError::invalid(
                "header_control.min_throughput",
                self.min_bytes_per_second,
                "must be at least 1 byte per second",
            ));
        }
        Ok(self)
    }

    /// Reads the fault headers of a request.
    ///
    /// Returns `Ok(None)` when none is present (the common case: a few map
    /// look-ups, no allocation).
    ///
    /// With the default `x-chaos-*` names an unusable value is an error
    /// (the layer answers `400`). With [`envoy_names`](Self::envoy_names)
    /// it is ignored, as Envoy ignores it: an unusable fault header asks for
    /// nothing, an unusable percentage falls back to 100, a percentage above
    /// 100 is capped at 100, and any non-negative gRPC code that fits in 32
    /// bits is answered; the ignored headers are listed in
    /// [`HeaderFaultRequest::ignored`].
    ///
    /// # Errors
    ///
    /// With `x-chaos-*` names, a [`HeaderFaultError`] naming the first
    /// header whose value is not a number, is out of range, or exceeds the
    /// configured bounds. Never with Envoy's names.
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-chaos-throughput-response", "8".parse().unwrap());
    /// let request = HeaderControl::new().parse(&headers).unwrap().unwrap();
    /// assert_eq!(request.throughput().unwrap().0.bytes_per_second(), Some(8 * 1024));
    ///
    /// // Envoy's names: an unusable value is ignored, not refused.
    /// headers.insert("x-envoy-fault-abort-request", "abc".parse().unwrap());
    /// let request = HeaderControl::new().envoy_names().parse(&headers).unwrap().unwrap();
    /// assert_eq!(request.abort(), None);
    /// assert_eq!(request.ignored()[0].header(), "x-envoy-fault-abort-request");
    /// ```
    pub fn parse(&self, headers: &HeaderMap) -> Result<Option<HeaderFaultRequest>, HeaderFaultError> {
        let mut reader = Reader {
            headers,
            lenient: self.names == ENVOY_NAMES,
            ignored: Vec::new(),
        };
        let request = self.read(&mut reader)?;
        let request = HeaderFaultRequest {
            ignored: reader.ignored,
            ..request
        };
        Ok((!request.is_empty() || !request.ignored.is_empty()).then_some(request))
    }

    fn read(&self, r: &mut Reader<'_>) -> Result<HeaderFaultRequest, HeaderFaultError> {
        let n = &self.names;
        let mut request = HeaderFaultRequest::default();

        if let Some(ms) = r.number(n.delay)? {
            let delay = Duration::from_millis(ms);
            if delay > self.max_delay {
                r.refuse(n.delay, &ms, "exceeds the configured maximum delay")?;
            } else {
                request.delay = Some((delay, r.percentage(n.delay_percentage)?));
            }
        }

        let mut abort = None;
        if let Some(status) = r.number(n.abort)? {
            match u16::try_from(status)
                .ok()
                .filter(|s| (200..600).contains(s))
                .and_then(|s| StatusCode::from_u16(s).ok())
            {
                Some(status) => abort = Some(SyntheticResponse::text(status)),
                None => r.refuse(n.abort, &status, "must be an HTTP status in 200..600")?,
            }
        }
        if abort.is_none() {
            if let Some(code) = r.number(n.abort_grpc)? {
                abort = if r.lenient {
                    // Envoy answers any code it can hold (a `uint32`).
                    match u32::try_from(code) {
                        Ok(code) => Some(SyntheticResponse::grpc_number(code, GRPC_MESSAGE)),
                        Err(_) => r
                            .refuse(n.abort_grpc, &code, "must fit in 32 bits")
                            .map(|()| None)?,
                    }
                } else {
                    match u16::try_from(code).ok().and_then(|c| GrpcCode::from_u16(c).ok()) {
                        Some(code) => Some(SyntheticResponse::grpc(code, GRPC_MESSAGE)),
                        None => r
                            .refuse(n.abort_grpc, &code, "must be a gRPC code in 0..=16")
                            .map(|()| None)?,
                    }
                };
            }
        }
        if let Some(response) = abort {
            request.abort = Some((response, r.percentage(n.abort_percentage)?));
        }

        if let Some(kib) = r.number(n.throughput)? {
            let bytes = kib.saturating_mul(1024);
            if bytes > 0 && bytes >= self.min_bytes_per_second {
                request.throughput =
                    Some((BodyFault::throttle(bytes), r.percentage(n.throughput_percentage)?));
            } else {
                r.refuse(n.throughput, &kib, "is below the configured minimum throughput")?;
            }
        }
        Ok(request)
    }
}

/// The message of header-asked gRPC aborts.
const GRPC_MESSAGE: &str = "injected by tower-chaos header control";

/// Reads header values: strictly (an unusable value is an error) or, for
/// Envoy's names, leniently (it is ignored and listed).
struct Reader<'a> {
    headers: &'a HeaderMap,
    lenient: bool,
    ignored: Vec<HeaderFaultError>,
}

impl Reader<'_> {
    /// An unusable value: an error, or (lenient) a note and no fault.
    fn refuse(
        &mut self,
        header: &'static str,
        value: &dyn std::fmt::Display,
        reason: &'static str,
    ) -> Result<(), HeaderFaultError> {
        let err = HeaderFaultError::new(header, value, reason);
        if self.lenient {
            self.ignored.push(err);
            Ok(())
        } else {
            Err(err)
        }
    }

    fn number(&mut self, name: &'static str) -> Result<Option<u64>, HeaderFaultError> {
        let Some(value) = self.headers.get(HeaderName::from_static(name)) else {
            return Ok(None);
        };
        match value.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) => Ok(Some(n)),
            None => self
                .refuse(
                    name,
                    &String::from_utf8_lossy(value.as_bytes()),
                    "must be a non-negative integer",
                )
                .map(|()| None),
        }
    }

    /// The percentage of a fault asked for: 100 when absent. Envoy falls
    /// back to the configured percentage (ours is 100) for an unusable
    /// value and caps a larger one at it.
    fn percentage(&mut self, name: &'static str) -> Result<u8, HeaderFaultError> {
        match self.number(name)? {
            None => Ok(100),
            Some(p) if p <= 100 => Ok(u8::try_from(p).unwrap_or(100)),
            Some(_) if self.lenient => Ok(100),
            Some(p) => Err(HeaderFaultError::new(name, &p, "must be a percentage in 0..=100")),
        }
    }
}

/// The faults a request asked for through headers, each with the
/// percentage chance that it applies.
///
/// The layer rolls each percentage with the target's seeded, counter-based
/// dice (a pure function of the seed, the request's call index and the
/// header), so the same seed and call order give the same faults.
///
/// ```
/// use tower_chaos::http::HeaderControl;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-chaos-abort-request", "500".parse().unwrap());
/// headers.insert("x-chaos-abort-request-percentage", "25".parse().unwrap());
/// let request = HeaderControl::new().parse(&headers).unwrap().unwrap();
/// assert_eq!(request.abort().unwrap().1, 25);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderFaultRequest {
    delay: Option<(Duration, u8)>,
    abort: Option<(SyntheticResponse, u8)>,
    throughput: Option<(BodyFault, u8)>,
    ignored: Vec<HeaderFaultError>,
}

impl HeaderFaultRequest {
    fn is_empty(&self) -> bool {
        self.delay.is_none() && self.abort.is_none() && self.throughput.is_none()
    }

    /// The delay asked for and its percentage.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-chaos-delay-request", "250".parse().unwrap());
    /// headers.insert("x-chaos-delay-request-percentage", "40".parse().unwrap());
    /// let request = HeaderControl::new().parse(&headers).unwrap().unwrap();
    /// assert_eq!(request.delay(), Some((Duration::from_millis(250), 40)));
    /// ```
    #[must_use]
    pub const fn delay(&self) -> Option<(Duration, u8)> {
        self.delay
    }

    /// The abort response asked for and its percentage.
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-chaos-abort-grpc-request", "8".parse().unwrap());
    /// let request = HeaderControl::new().parse(&headers).unwrap().unwrap();
    /// let (response, percent) = request.abort().unwrap();
    /// assert_eq!((response.headers()["grpc-status"].to_str().unwrap(), percent), ("8", 100));
    /// ```
    #[must_use]
    pub const fn abort(&self) -> Option<(&SyntheticResponse, u8)> {
        match &self.abort {
            Some((r, p)) => Some((r, *p)),
            None => None,
        }
    }

    /// The response throttle asked for and its percentage.
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-chaos-delay-request", "1".parse().unwrap());
    /// assert_eq!(HeaderControl::new().parse(&headers).unwrap().unwrap().throughput(), None);
    /// ```
    #[must_use]
    pub const fn throughput(&self) -> Option<(BodyFault, u8)> {
        self.throughput
    }

    /// The fault headers ignored for an unusable value (Envoy's names
    /// only; the layer counts them in
    /// [`Report::ignored_headers`](crate::Report::ignored_headers)).
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-envoy-fault-throughput-response", "0".parse().unwrap());
    /// let request = HeaderControl::new().envoy_names().parse(&headers).unwrap().unwrap();
    /// assert_eq!((request.throughput(), request.ignored().len()), (None, 1));
    /// ```
    #[must_use]
    pub fn ignored(&self) -> &[HeaderFaultError] {
        &self.ignored
    }

    /// The faults that apply this time, in the order delay, abort,
    /// throughput; `applies(which, percent)` decides whether the fault
    /// number `which` (0, 1, 2) with that percentage applies (it is not
    /// called for 100 or 0). The caller owns the randomness, so the decision
    /// stays seeded and reproducible.
    pub(crate) fn faults(&self, mut applies: impl FnMut(u64, u8) -> bool) -> [Option<HttpFault>; 3] {
        let mut fires = |which: u64, p: u8| match p {
            0 => false,
            100.. => true,
            p => applies(which, p),
        };
        [
            self.delay
                .filter(|(d, p)| !d.is_zero() && fires(0, *p))
                .map(|(d, _)| HttpFault::latency(d)),
            self.abort
                .as_ref()
                .filter(|(_, p)| fires(1, *p))
                .map(|(r, _)| HttpFault::Respond(r.clone())),
            self.throughput
                .filter(|(_, p)| fires(2, *p))
                .map(|(f, _)| HttpFault::ResponseBody(f)),
        ]
    }
}

/// A fault-control header held a value that could not be used.
///
/// ```
/// use tower_chaos::http::HeaderControl;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-chaos-abort-request", "abc".parse().unwrap());
/// let err = HeaderControl::new().parse(&headers).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "fault header `x-chaos-abort-request` = \"abc\": must be a non-negative integer"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault header `{header}` = {value:?}: {reason}")]
pub struct HeaderFaultError {
    header: &'static str,
    value: String,
    reason: &'static str,
}

/// The most characters of a rejected value kept in a [`HeaderFaultError`]
/// (and so echoed in a `400` body): a 64 KiB header must not come back as a
/// 64 KiB answer.
pub(crate) const MAX_ECHOED: usize = 64;

impl HeaderFaultError {
    fn new(header: &'static str, value: &dyn std::fmt::Display, reason: &'static str) -> Self {
        let mut value = value.to_string();
        if let Some((cut, _)) = value.char_indices().nth(MAX_ECHOED) {
            let len = value.len();
            value.truncate(cut);
            value.push_str(&format!("… ({len} bytes)"));
        }
        Self {
            header,
            value,
            reason,
        }
    }

    /// The header's name.
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-chaos-abort-request", "700".parse().unwrap());
    /// let err = HeaderControl::new().parse(&headers).unwrap_err();
    /// assert_eq!((err.header(), err.value()), ("x-chaos-abort-request", "700"));
    /// ```
    #[must_use]
    pub const fn header(&self) -> &'static str {
        self.header
    }

    /// The rejected value: its first 64 characters, followed by `…` and
    /// its length in bytes when it is longer.
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-chaos-delay-request", "soon".parse().unwrap());
    /// assert_eq!(HeaderControl::new().parse(&headers).unwrap_err().value(), "soon");
    /// ```
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the header accepts.
    ///
    /// ```
    /// use tower_chaos::http::HeaderControl;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-chaos-abort-grpc-request", "99".parse().unwrap());
    /// assert!(HeaderControl::new().parse(&headers).unwrap_err().reason().contains("0..=16"));
    /// ```
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        self.reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn nothing_asked() {
        assert_eq!(HeaderControl::new().parse(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn http_abort_wins_over_grpc() {
        let h = headers(&[
            ("x-chaos-abort-request", "502"),
            ("x-chaos-abort-grpc-request", "14"),
        ]);
        let faults = HeaderControl::new()
            .parse(&h)
            .unwrap()
            .unwrap()
            .faults(|_, _| true);
        let Some(HttpFault::Respond(r)) = &faults[1] else {
            panic!("{faults:?}")
        };
        assert_eq!(r.status(), 502);
    }

    #[test]
    fn bounds_and_ranges() {
        let c = HeaderControl::new();
        for (h, v) in [
            ("x-chaos-abort-request", "600"),
            ("x-chaos-abort-request", "199"),
            ("x-chaos-abort-grpc-request", "17"),
            ("x-chaos-abort-request-percentage", "5"), // needs an abort; checked below
            ("x-chaos-throughput-response", "0"),
            ("x-chaos-delay-request", "-1"),
            ("x-chaos-delay-request", "31000"),
        ] {
            let result = c.parse(&headers(&[(h, v)]));
            if h.ends_with("percentage") {
                assert_eq!(result, Ok(None), "a lone percentage asks for nothing");
            } else {
                assert_eq!(result.unwrap_err().header(), h, "{h} = {v}");
            }
        }
        let bad_pct = headers(&[
            ("x-chaos-abort-request", "500"),
            ("x-chaos-abort-request-percentage", "101"),
        ]);
        assert_eq!(
            c.parse(&bad_pct).unwrap_err().header(),
            "x-chaos-abort-request-percentage"
        );
        let slow = c.min_throughput(10 * 1024);
        assert!(
            slow.parse(&headers(&[("x-chaos-throughput-response", "5")]))
                .is_err()
        );
    }

    #[test]
    fn percentages_consult_the_caller() {
        let h = headers(&[
            ("x-chaos-abort-request", "500"),
            ("x-chaos-abort-request-percentage", "30"),
        ]);
        let req = HeaderControl::new().parse(&h).unwrap().unwrap();
        let mut seen = None;
        let faults = req.faults(|which, p| {
            seen = Some((which, p));
            false
        });
        assert!(faults.iter().all(Option::is_none));
        assert_eq!(seen, Some((1, 30)));
    }

    #[test]
    fn throughput_is_kib() {
        let h = headers(&[("x-chaos-throughput-response", "4")]);
        let faults = HeaderControl::new()
            .parse(&h)
            .unwrap()
            .unwrap()
            .faults(|_, _| true);
        assert_eq!(
            faults[2],
            Some(HttpFault::ResponseBody(BodyFault::throttle(4096)))
        );
    }

    // envoyproxy/envoy test/extensions/filters/common/fault/fault_config_test.cc:
    // FaultAbortHeaderConfig, FaultAbortGrpcHeaderConfig,
    // FaultDelayHeaderConfig, FaultRateLimitHeaderConfig and the three
    // *PercentageHeaderConfig tests (configured percentage: ours is 100).
    #[test]
    fn envoy_names_ignore_unusable_values() {
        let c = HeaderControl::new().envoy_names();
        let parse = |pairs: &[(&'static str, &'static str)]| c.parse(&headers(pairs)).unwrap();
        for (h, v) in [
            ("x-envoy-fault-abort-request", "abc"),
            ("x-envoy-fault-abort-request", "199"),
            ("x-envoy-fault-abort-request", "600"),
            ("x-envoy-fault-abort-grpc-request", "abc"),
            ("x-envoy-fault-abort-grpc-request", "-1"),
            ("x-envoy-fault-delay-request", "abc"),
            ("x-envoy-fault-throughput-response", "abc"),
            ("x-envoy-fault-throughput-response", "0"),
        ] {
            let req = parse(&[(h, v)]).expect("the ignored header is reported");
            assert!(req.is_empty(), "{h} = {v} asks for nothing: {req:?}");
            assert_eq!(req.ignored().len(), 1);
            assert_eq!(req.ignored()[0].header(), h);
        }
        let req = parse(&[("x-envoy-fault-abort-request", "401")]).unwrap();
        assert_eq!(req.abort().unwrap().0.status(), 401);
        let req = parse(&[("x-envoy-fault-abort-grpc-request", "5")]).unwrap();
        assert_eq!(req.abort().unwrap().0.headers()["grpc-status"], "5");
        let req = parse(&[("x-envoy-fault-abort-grpc-request", "100")]).unwrap();
        assert_eq!(req.abort().unwrap().0.headers()["grpc-status"], "100");
        let req = parse(&[("x-envoy-fault-delay-request", "123")]).unwrap();
        assert_eq!(req.delay(), Some((Duration::from_millis(123), 100)));
        let req = parse(&[("x-envoy-fault-throughput-response", "123")]).unwrap();
        assert_eq!(req.throughput().unwrap().0.bytes_per_second(), Some(123 * 1024));

        for (pct, want) in [("abc", 100), ("-1", 100), ("190", 100), ("60", 60)] {
            for (fault, value, header) in [
                (
                    "x-envoy-fault-abort-request",
                    "500",
                    "x-envoy-fault-abort-request-percentage",
                ),
                (
                    "x-envoy-fault-delay-request",
                    "10",
                    "x-envoy-fault-delay-request-percentage",
                ),
                (
                    "x-envoy-fault-throughput-response",
                    "10",
                    "x-envoy-fault-throughput-response-percentage",
                ),
            ] {
                let req = parse(&[(fault, value), (header, pct)]).unwrap();
                let got = req
                    .abort()
                    .map(|a| a.1)
                    .or(req.delay().map(|d| d.1))
                    .or(req.throughput().map(|t| t.1));
                assert_eq!(got, Some(want), "{header} = {pct}");
            }
        }
        // An unusable HTTP abort leaves the gRPC abort to apply.
        let req = parse(&[
            ("x-envoy-fault-abort-request", "700"),
            ("x-envoy-fault-abort-grpc-request", "14"),
        ])
        .unwrap();
        assert_eq!(req.abort().unwrap().0.headers()["grpc-status"], "14");
    }

    #[test]
    fn a_long_value_is_not_echoed_whole() {
        let long = "x".repeat(64 * 1024);
        let mut h = HeaderMap::new();
        h.insert("x-chaos-delay-request", long.parse().unwrap());
        let err = HeaderControl::new().parse(&h).unwrap_err();
        assert_eq!(err.value(), format!("{}… (65536 bytes)", "x".repeat(MAX_ECHOED)));
        assert!(err.to_string().len() < 200, "{}", err.to_string().len());
        // Short values are kept as they are.
        h.insert("x-chaos-delay-request", "soon".parse().unwrap());
        assert_eq!(HeaderControl::new().parse(&h).unwrap_err().value(), "soon");
    }
}

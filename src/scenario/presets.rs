//! Scenarios drawn from real provider outages, and generic building blocks
//! (features `scenario`, `http` and `io`).
//!
//! Each preset replays a public postmortem's timeline with its real
//! durations: a 14-hour outage takes 14 hours of tokio's clock, which
//! replays in milliseconds under `#[tokio::test(start_paused = true)]` or
//! is compressed by [`Rehearsal::speed`](super::Rehearsal::speed) in real
//! time. Every preset starts with [`LEAD_IN`] of healthy traffic before the
//! onset and ends with [`LEAD_OUT`] of healthy traffic after full recovery,
//! so a client has a baseline and a chance to show it recovered.
//!
//! Presets describe HTTP-level effects and connection faults: bind their
//! targets with [`Rehearsal::bind_http`](super::Rehearsal::bind_http), put
//! an [`HttpChaosLayer`](crate::http::HttpChaosLayer) for each target in
//! front of the provider, and, for the DNS outages
//! ([`aws_dynamodb_dns_2025`], [`dns_outage`]), a
//! [`ConnectFaultsLayer`](crate::io::ConnectFaultsLayer) for it on the
//! client's connector. Rates marked *illustrative* are not in the postmortems;
//! they are parameters chosen to make the effect visible, not claims.
//!
//! ```
//! use tower_chaos::scenario::presets;
//!
//! let s3 = presets::aws_s3_2017();
//! let down = s3.phase("all-operations-down").unwrap();
//! assert_eq!(down.start(), presets::LEAD_IN);
//! assert_eq!(down.duration(), std::time::Duration::from_secs((2 * 60 + 49) * 60));
//! for name in presets::NAMES {
//!     assert_eq!(presets::by_name(name).unwrap().name(), *name);
//! }
//! ```

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use super::conditions::Conditions;
use super::conn_spec::{ConnFaultName, ConnForm, ConnSpec};
use super::http_spec::{HttpForm, HttpSpec};
use super::{Flap, Phase, RequestFault, Scenario, ScenarioError};
use crate::http::{HttpRule, RequestMatcher, RetryAfter, SyntheticResponse};
use crate::{Capacity, Latency, Trigger};

/// Healthy time before each preset's onset.
///
/// ```
/// assert_eq!(tower_chaos::scenario::presets::LEAD_IN.as_secs(), 600);
/// ```
pub const LEAD_IN: Duration = Duration::from_secs(10 * 60);

/// Healthy time after each preset's full recovery.
///
/// ```
/// assert_eq!(tower_chaos::scenario::presets::LEAD_OUT.as_secs(), 600);
/// ```
pub const LEAD_OUT: Duration = Duration::from_secs(10 * 60);

/// The names of the presets, for [`by_name`].
///
/// ```
/// assert!(tower_chaos::scenario::presets::NAMES.contains(&"aws-dynamodb-dns-2025"));
/// ```
pub const NAMES: &[&str] = &[
    "aws-dynamodb-dns-2025",
    "aws-us-east-1-2021",
    "aws-s3-2017",
    "cloudflare-2025",
    "google-cloud-2025",
    #[cfg(feature = "tls")]
    "azure-storage-2013",
];

/// The preset named `name`: one of [`NAMES`] (the scenarios' own,
/// kebab-case names, as `--preset` flags and files write them), or the
/// name of its function (`aws_s3_2017`).
///
/// # Errors
///
/// [`ScenarioError::UnknownPreset`] for any other name, listing the known
/// ones.
///
/// ```
/// use tower_chaos::scenario::{ScenarioError, presets};
/// assert_eq!(presets::by_name("aws-s3-2017")?.name(), "aws-s3-2017");
/// assert_eq!(presets::by_name("aws_s3_2017")?.name(), "aws-s3-2017");
/// let err = presets::by_name("aws-s3").unwrap_err();
/// assert!(matches!(err, ScenarioError::UnknownPreset { .. }));
/// assert!(err.to_string().contains("aws-s3-2017, cloudflare-2025"), "{err}");
/// # Ok::<(), ScenarioError>(())
/// ```
pub fn by_name(name: &str) -> Result<Scenario, ScenarioError> {
    // Function names are the kebab-case names with `_`.
    let kebab = name.replace('_', "-");
    Ok(match kebab.as_str() {
        "aws-dynamodb-dns-2025" => aws_dynamodb_dns_2025(),
        "aws-us-east-1-2021" => aws_us_east_1_2021(),
        "aws-s3-2017" => aws_s3_2017(),
        "cloudflare-2025" => cloudflare_2025(),
        "google-cloud-2025" => google_cloud_2025(),
        #[cfg(feature = "tls")]
        "azure-storage-2013" => azure_storage_2013(),
        _ => {
            return Err(ScenarioError::UnknownPreset {
                name: name.to_owned(),
                known: NAMES.iter().map(|n| (*n).to_owned()).collect(),
            });
        }
    })
}

/// `h` hours and `m` minutes.
const fn hm(h: u64, m: u64) -> Duration {
    Duration::from_secs((h * 60 + m) * 60)
}

/// Offset of a wall-clock time of the incident from its onset, plus
/// [`LEAD_IN`]; times after midnight (`next_day`) add a day.
const fn clock(onset: (u64, u64), at: (u64, u64), next_day: bool) -> Duration {
    let onset = onset.0 * 60 + onset.1;
    let at = at.0 * 60 + at.1 + if next_day { 24 * 60 } else { 0 };
    Duration::from_secs(LEAD_IN.as_secs() + (at - onset) * 60)
}

/// `phase` with an HTTP fault described as a file's `http` table (so the
/// preset writes back to a file), firing with probability `rate`.
fn with_http(phase: Phase, form: HttpForm, rate: Option<f64>) -> Phase {
    let mut when = Conditions::new();
    when.rate = rate;
    match HttpSpec::new(form, when) {
        Ok(spec) => phase.contribution(Arc::new(spec)),
        // The presets' tables are constants checked by the tests.
        Err(e) => unreachable!("invalid preset http table: {e}"),
    }
}

/// `phase` with a connection fault described as a file's `connection`
/// table, on every connection.
fn with_connection(phase: Phase, fault: ConnFaultName) -> Phase {
    match ConnSpec::new(ConnForm::new(fault), Conditions::new()) {
        Ok(spec) => phase.contribution(Arc::new(spec)),
        Err(e) => unreachable!("invalid preset connection table: {e}"),
    }
}

/// `503 Service Unavailable` for the requests with one of `methods`.
fn unavailable_for(methods: &[Method]) -> HttpForm {
    let mut form = HttpForm::status(StatusCode::SERVICE_UNAVAILABLE);
    form.method = methods.to_vec();
    form
}

fn build(builder: super::ScenarioBuilder) -> Scenario {
    match builder.build() {
        Ok(s) => s,
        // The presets are constants checked by the tests.
        Err(e) => unreachable!("invalid preset: {e}"),
    }
}

/// A `503 Service Unavailable` for every request.
///
/// ```
/// assert_eq!(tower_chaos::scenario::presets::unavailable().action().kind(), tower_chaos::FaultKind::Status);
/// ```
#[must_use]
pub fn unavailable() -> HttpRule {
    SyntheticResponse::service_unavailable().when(Trigger::always())
}

/// A `429 Too Many Requests` with `Retry-After: <retry_after>` for a
/// fraction `rate` of the requests.
///
/// ```
/// use std::time::Duration;
/// let rule = tower_chaos::scenario::presets::throttled(0.5, Duration::from_secs(2));
/// assert_eq!(rule.action().kind(), tower_chaos::FaultKind::Status);
/// ```
#[must_use]
pub fn throttled(rate: f64, retry_after: Duration) -> HttpRule {
    SyntheticResponse::too_many_requests(RetryAfter::after(retry_after)).when(Trigger::rate(rate))
}

/// An AWS JSON `ThrottlingException` (HTTP 400, `x-amzn-ErrorType`) for a
/// fraction `rate` of the requests: what the AWS SDKs retry as throttling.
///
/// ```
/// let rule = tower_chaos::scenario::presets::aws_throttled(0.2);
/// assert_eq!(rule.action().kind(), tower_chaos::FaultKind::Status);
/// ```
#[must_use]
pub fn aws_throttled(rate: f64) -> HttpRule {
    SyntheticResponse::aws_throttling().when(Trigger::rate(rate))
}

/// `response` for requests with one of `methods` only: per-operation
/// effects, such as S3's PUTs failing while GETs have recovered.
///
/// ```
/// use http::Method;
/// use tower_chaos::http::SyntheticResponse;
/// let puts = tower_chaos::scenario::presets::for_methods(SyntheticResponse::service_unavailable(), &[Method::PUT, Method::POST]);
/// assert_eq!(puts.action().kind(), tower_chaos::FaultKind::Status);
/// ```
#[must_use]
pub fn for_methods(response: SyntheticResponse, methods: &[Method]) -> HttpRule {
    let matcher = methods
        .iter()
        .map(|m| RequestMatcher::method(m.clone()))
        .reduce(RequestMatcher::or)
        .unwrap_or_else(|| RequestMatcher::predicate(|_| false));
    response.when(matcher)
}

/// Generic block: `target` is down (`503`) from `at` for `lasting`.
///
/// ```
/// use std::time::Duration;
/// let p = tower_chaos::scenario::presets::regional_outage("eu-west-1", Duration::ZERO, Duration::from_secs(60));
/// assert!(p.content().is_down());
/// ```
#[must_use]
pub fn regional_outage(target: &str, at: Duration, lasting: Duration) -> Phase {
    Phase::new(format!("{target}-outage"), target)
        .at(at)
        .lasting(lasting)
        .down()
}

/// Generic block: a brownout whose error rate ramps from 0 to `peak` over
/// the phase while every request takes `latency` longer.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::Latency;
/// let p = tower_chaos::scenario::presets::brownout("db", Duration::ZERO, Duration::from_secs(600), 0.4, Latency::fixed(Duration::from_millis(200)));
/// assert_eq!(p.ramping(), Some((0.0, 0.4)));
/// ```
#[must_use]
pub fn brownout(
    target: &str,
    at: Duration,
    lasting: Duration,
    peak: f64,
    latency: impl Into<Latency>,
) -> Phase {
    Phase::new(format!("{target}-brownout"), target)
        .at(at)
        .lasting(lasting)
        .slow(latency)
        .request(RequestFault::error())
        .ramp(0.0, peak)
}

/// Generic block: a throttling storm, `429` with `Retry-After` on a
/// fraction `rate` of the requests.
///
/// ```
/// use std::time::Duration;
/// let p = tower_chaos::scenario::presets::throttling_storm("api", Duration::ZERO, Duration::from_secs(600), 0.5, Duration::from_secs(1));
/// assert!(!p.content().is_empty());
/// ```
#[must_use]
pub fn throttling_storm(
    target: &str,
    at: Duration,
    lasting: Duration,
    rate: f64,
    retry_after: Duration,
) -> Phase {
    // As `throttled(rate, retry_after)`, described as a file's table.
    let mut form = HttpForm::status(StatusCode::TOO_MANY_REQUESTS);
    form.retry_after = Some(retry_after);
    let phase = Phase::new(format!("{target}-throttling-storm"), target)
        .at(at)
        .lasting(lasting);
    with_http(phase, form, Some(rate))
}

/// Generic block: a slow drain after an outage, errors falling from all
/// requests to none over the phase while requests take `latency` longer.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::Latency;
/// let p = tower_chaos::scenario::presets::slow_drain("db", Duration::ZERO, Duration::from_secs(600), Latency::fixed(Duration::from_millis(50)));
/// assert_eq!(p.ramping(), Some((1.0, 0.0)));
/// ```
#[must_use]
pub fn slow_drain(target: &str, at: Duration, lasting: Duration, latency: impl Into<Latency>) -> Phase {
    Phase::new(format!("{target}-slow-drain"), target)
        .at(at)
        .lasting(lasting)
        .slow(latency)
        .request(RequestFault::error())
        .ramp(1.0, 0.0)
}

/// Generic block: name resolution for `target` fails from `at` for
/// `lasting`. It is a connection fault
/// ([`ConnFault::dns_failure`](crate::io::ConnFault::dns_failure)), so it
/// reaches a client through its connector
/// ([`ConnectFaultsLayer`](crate::io::ConnectFaultsLayer),
/// [`ChaosConnectorLayer`](crate::io::ChaosConnectorLayer)), and only when
/// the client resolves: connections it already holds keep working during
/// the outage, and recovery is seen only at its next resolution (a client
/// that caches a failed lookup sees it that much later). Register the
/// target with [`Rehearsal::target`](super::Rehearsal::target) or any
/// binding.
///
/// ```
/// use std::time::Duration;
/// let p = tower_chaos::scenario::presets::dns_outage("db", Duration::ZERO, Duration::from_secs(600));
/// assert_eq!((p.name(), p.end()), ("db-dns-outage", Duration::from_secs(600)));
/// assert!(p.is_down());
/// ```
#[must_use]
pub fn dns_outage(target: &str, at: Duration, lasting: Duration) -> Phase {
    dns_failure(&format!("{target}-dns-outage"), target, at, lasting)
}

fn dns_failure(name: &str, target: &str, at: Duration, lasting: Duration) -> Phase {
    let phase = Phase::new(name, target).at(at).lasting(lasting);
    with_connection(phase, ConnFaultName::DnsFailure)
}

/// Generic block: the server certificate of `target` has expired from `at`
/// for `lasting` (feature `tls`): every new TLS handshake through the
/// target's TLS-terminating [`Proxy`](crate::io::Proxy)
/// ([`Proxy::spawn_tls`](crate::io::Proxy::spawn_tls)) is presented the
/// expired certificate
/// ([`TlsFault::ExpiredCertificate`](crate::io::TlsFault::ExpiredCertificate)),
/// and the client rejects it. Like a real expiry, it reaches a client only
/// when it makes a new connection: connections whose handshake was done
/// before keep working. Register the target with
/// [`Rehearsal::target`](super::Rehearsal::target).
///
/// ```
/// use std::time::Duration;
/// let p = tower_chaos::scenario::presets::certificate_expiry("api", Duration::ZERO, Duration::from_secs(600));
/// assert_eq!((p.name(), p.end()), ("api-certificate-expiry", Duration::from_secs(600)));
/// assert!(p.is_down());
/// ```
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
#[must_use]
pub fn certificate_expiry(target: &str, at: Duration, lasting: Duration) -> Phase {
    let phase = Phase::new(format!("{target}-certificate-expiry"), target)
        .at(at)
        .lasting(lasting);
    with_connection(phase, ConnFaultName::TlsExpiredCertificate)
}

/// Azure Storage, 2013-02-22: the HTTPS certificate of the storage service
/// expired worldwide (target `storage`; feature `tls`).
///
/// Source: the publicly reported facts summarised in `OUTAGES.md`
/// ("Certificate expiry": Azure Storage, 2013-02-22): HTTPS traffic failed
/// for about 12 hours while plain HTTP kept working.
///
/// Modelled: `certificate-expired`, 12 hours from the onset: every new TLS
/// handshake is presented the expired certificate
/// ([`TlsFault::ExpiredCertificate`](crate::io::TlsFault::ExpiredCertificate))
/// and fails on the client's side with "certificate expired"; connections
/// whose handshake was done before the expiry keep working (the
/// certificate is only checked at the handshake). The phase takes the
/// target down for the verdicts. After it, new handshakes get the
/// terminator's certificate in service: the renewed one. To see the
/// renewal as a new certificate (a client that pinned the old one keeps
/// failing), [rotate](crate::io::TlsTerminator::rotate) the terminator when
/// the phase ends; to roll the new certificate out to part of the fleet
/// first, add a phase with
/// [`TlsFault::Rotated`](crate::io::TlsFault::Rotated).
///
/// Rehearse it with a [`Proxy::spawn_tls`](crate::io::Proxy::spawn_tls)
/// for the target in front of the provider and clients that trust the
/// [`TestCa`](crate::io::TestCa). Plain HTTP, which kept working, is not
/// behind the proxy: leave it out of the rehearsal, or give it its own
/// target with no phase.
///
/// Simplified: the wall-clock onset (not in the summary) is not modelled,
/// the timeline starts at [`LEAD_IN`]; "about 12 hours" is taken as 12 h
/// exactly.
///
/// ```
/// use std::time::Duration;
/// let s = tower_chaos::scenario::presets::azure_storage_2013();
/// let expired = s.phase("certificate-expired").unwrap();
/// assert_eq!(expired.duration(), Duration::from_secs(12 * 3600));
/// assert!(expired.is_down());
/// assert_eq!(s.duration(), expired.end() + tower_chaos::scenario::presets::LEAD_OUT);
/// ```
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
#[must_use]
pub fn azure_storage_2013() -> Scenario {
    let fixed = LEAD_IN + hm(12, 0);
    let expired = Phase::new("certificate-expired", "storage")
        .at(LEAD_IN)
        .lasting(fixed - LEAD_IN);
    build(
        Scenario::builder("azure-storage-2013")
            .description(
                "Azure Storage 2013-02-22: the storage service's HTTPS certificate expired worldwide",
            )
            .phase(with_connection(expired, ConnFaultName::TlsExpiredCertificate))
            .duration(fixed + LEAD_OUT),
    )
}

/// AWS us-east-1, 2025-10-19/20: DynamoDB's regional endpoint resolved to
/// an empty DNS record (target `dynamodb`; times PDT, onset 23:48).
///
/// Source: AWS's summary of the Amazon DynamoDB service disruption in
/// us-east-1, as summarised in `OUTAGES.md` ("AWS us-east-1, 2025-10-19/20,
/// DynamoDB DNS").
///
/// Modelled: `dns-empty`, 23:48–02:25, every name resolution of the
/// endpoint fails ([`ConnFault::dns_failure`](crate::io::ConnFault::dns_failure)):
/// no new connections; `cache-expiry`, 02:25–02:40, resolutions fail with
/// a probability falling linearly to none, as resolvers' cached empty
/// records expired; then healthy until the event ended at 14:20.
///
/// Like the real one, the outage reaches a client only when it resolves:
/// put [`ConnectFaultsLayer`](crate::io::ConnectFaultsLayer) (any tower
/// connector, reqwest's `connector_layer`) or
/// [`ChaosConnectorLayer`](crate::io::ChaosConnectorLayer) (hyper-util,
/// tonic) for the target on the client. Connections it already holds keep
/// working; one that keeps no idle connections, or whose connections the
/// provider recycles, sees every request fail. `dns-empty` takes the
/// target down for the verdicts; `cache-expiry`, a recovery, does not.
///
/// Simplified: the EC2 launch failures (02:25–10:36), new instances'
/// connectivity problems (to 13:50) and load-balancer connection errors
/// (05:30–14:09) of the same event hit other services and are not
/// modelled; the timeline still covers the whole event (14 h 32 min). The
/// linear shape of the cache expiry is an assumption.
///
/// ```
/// use std::time::Duration;
/// let s = tower_chaos::scenario::presets::aws_dynamodb_dns_2025();
/// let dns = s.phase("dns-empty").unwrap();
/// assert_eq!(dns.duration(), Duration::from_secs((2 * 60 + 37) * 60));
/// assert!(dns.is_down() && !s.phase("cache-expiry").unwrap().is_down());
/// ```
#[must_use]
pub fn aws_dynamodb_dns_2025() -> Scenario {
    let onset = (23, 48);
    let fixed = clock(onset, (2, 25), true);
    let recovered = clock(onset, (2, 40), true);
    let over = clock(onset, (14, 20), true);
    build(
        Scenario::builder("aws-dynamodb-dns-2025")
            .description("AWS us-east-1 2025-10-19/20: DynamoDB endpoint resolved to an empty DNS record")
            .phase(dns_failure("dns-empty", "dynamodb", LEAD_IN, fixed - LEAD_IN))
            .phase(dns_failure("cache-expiry", "dynamodb", fixed, recovered - fixed).ramp(1.0, 0.0))
            .duration(over + LEAD_OUT),
    )
}

/// AWS us-east-1, 2021-12-07: congestion on internal network devices
/// (target `api`; times PST, onset 07:30, API failures until about 16:44).
///
/// Source: AWS's summary of the AWS service event in the Northern Virginia
/// (us-east-1) region, as summarised in `OUTAGES.md` ("AWS us-east-1,
/// 2021-12-07").
///
/// Modelled: `congestion`, 07:30–16:44: elevated latency (log-normal,
/// median 800 ms), API errors and timeouts (requests that hang until the
/// client's timeout).
///
/// Simplified: the rates (30 % errors, 10 % hangs) are illustrative; the
/// partial improvement through the day is uncertain in the source and is
/// not modelled; internal DNS errors are folded into the API errors;
/// running instances (the data plane) are not a target.
///
/// ```
/// use std::time::Duration;
/// let s = tower_chaos::scenario::presets::aws_us_east_1_2021();
/// assert_eq!(s.phase("congestion").unwrap().duration(), Duration::from_secs((9 * 60 + 14) * 60));
/// ```
#[must_use]
pub fn aws_us_east_1_2021() -> Scenario {
    let end = clock((7, 30), (16, 44), false);
    build(
        Scenario::builder("aws-us-east-1-2021")
            .description("AWS us-east-1 2021-12-07: internal network congestion")
            .phase(
                Phase::new("congestion", "api")
                    .at(LEAD_IN)
                    .lasting(end - LEAD_IN)
                    .slow(Latency::log_normal(Duration::from_millis(800), 0.8))
                    .request(RequestFault::error().rate(0.3))
                    .request(RequestFault::hang().rate(0.1)),
            )
            .duration(end + LEAD_OUT),
    )
}

/// AWS S3 us-east-1, 2017-02-28: S3 could serve no GET, LIST, PUT or
/// DELETE; reads and deletes came back before writes (target `s3`; times
/// PST, onset 09:37).
///
/// Source: AWS's summary of the Amazon S3 service disruption in the
/// Northern Virginia (us-east-1) region, as summarised in `OUTAGES.md`
/// ("AWS S3 us-east-1, 2017-02-28").
///
/// Modelled: `all-operations-down`, 09:37–12:26, every request `503`;
/// `reads-recovering`, 12:26–13:18, GET, HEAD and DELETE failures (LIST is
/// a GET) fall linearly to none; `writes-down`, 12:26–13:54, PUT and POST
/// still `503`.
///
/// Simplified: the linear recovery of reads; the backlog drained by
/// dependent services afterwards is not modelled.
///
/// ```
/// use std::time::Duration;
/// let s = tower_chaos::scenario::presets::aws_s3_2017();
/// assert_eq!(s.phase("writes-down").unwrap().end(), s.phase("all-operations-down").unwrap().start() + Duration::from_secs((4 * 60 + 17) * 60));
/// ```
#[must_use]
pub fn aws_s3_2017() -> Scenario {
    let onset = (9, 37);
    let partial = clock(onset, (12, 26), false);
    let reads = clock(onset, (13, 18), false);
    let writes = clock(onset, (13, 54), false);
    build(
        Scenario::builder("aws-s3-2017")
            .description("AWS S3 us-east-1 2017-02-28: all operations down, reads recover before writes")
            .phase(
                Phase::new("all-operations-down", "s3")
                    .at(LEAD_IN)
                    .lasting(partial - LEAD_IN)
                    .down(),
            )
            .phase(
                with_http(
                    Phase::new("reads-recovering", "s3")
                        .at(partial)
                        .lasting(reads - partial),
                    unavailable_for(&[Method::GET, Method::HEAD, Method::DELETE]),
                    None,
                )
                .ramp(1.0, 0.0),
            )
            .phase(with_http(
                Phase::new("writes-down", "s3")
                    .at(partial)
                    .lasting(writes - partial),
                unavailable_for(&[Method::PUT, Method::POST]),
                None,
            ))
            .duration(writes + LEAD_OUT),
    )
}

/// Cloudflare, 2025-11-18: widespread HTTP 5xx that flapped between good
/// and bad about every 5 minutes, then stayed bad (target `edge`; times
/// UTC, onset 11:20, all normal 17:06).
///
/// Source: Cloudflare's outage write-up of 18 November 2025, as summarised
/// in `OUTAGES.md` ("Cloudflare, 2025-11-18").
///
/// Modelled: `flapping`, from 11:20, `500` for 5 minutes then good for 5
/// minutes; `steady-bad`, every request `500` until 13:05;
/// `partial-bypass`, 13:05–14:30, some products bypassed; `core-flowing`,
/// 14:30–17:06, errors falling to none.
///
/// Simplified: when the flapping turned into steady errors is not in the
/// source; it is a parameter here (flapping for the first hour). The
/// error rates of the two recovery phases (50 %, then 10 % falling to
/// none) are illustrative.
///
/// ```
/// use std::time::Duration;
/// let s = tower_chaos::scenario::presets::cloudflare_2025();
/// assert_eq!(s.phase("flapping").unwrap().flapping().unwrap().period(), Duration::from_secs(600));
/// ```
#[must_use]
pub fn cloudflare_2025() -> Scenario {
    let onset = (11, 20);
    let steady = LEAD_IN + hm(1, 0);
    let bypass = clock(onset, (13, 5), false);
    let flowing = clock(onset, (14, 30), false);
    let normal = clock(onset, (17, 6), false);
    // `500 Internal Server Error` for a share `p` of the requests (all for `None`).
    let error = |phase: Phase, p: Option<f64>| {
        with_http(phase, HttpForm::status(StatusCode::INTERNAL_SERVER_ERROR), p)
    };
    build(
        Scenario::builder("cloudflare-2025")
            .description("Cloudflare 2025-11-18: flapping 5xx, then steady, then recovery")
            .phase(
                error(
                    Phase::new("flapping", "edge")
                        .at(LEAD_IN)
                        .lasting(steady - LEAD_IN),
                    None,
                )
                .flap(Flap::new(hm(0, 5), hm(0, 5))),
            )
            .phase(error(
                Phase::new("steady-bad", "edge")
                    .at(steady)
                    .lasting(bypass - steady),
                None,
            ))
            .phase(error(
                Phase::new("partial-bypass", "edge")
                    .at(bypass)
                    .lasting(flowing - bypass),
                Some(0.5),
            ))
            .phase(
                error(
                    Phase::new("core-flowing", "edge")
                        .at(flowing)
                        .lasting(normal - flowing),
                    Some(0.1),
                )
                .ramp(1.0, 0.0),
            )
            .duration(normal + LEAD_OUT),
    )
}

/// Google Cloud, 2025-06-12: HTTP 503 on external API requests worldwide;
/// smaller regions recovered after about 40 minutes, the largest region
/// after up to 2 h 40 min, because restarting tasks overloaded a backing
/// database when retries had no randomized backoff (targets `small-region`
/// and `large-region`; onset about 10:51 PDT).
///
/// Source: Google Cloud's incident report of 12 June 2025, as summarised in
/// `OUTAGES.md` ("Google Cloud, 2025-06-12").
///
/// Modelled: `global-503` on both targets for 40 minutes; then
/// `overloaded` on `large-region` until 2 h 40 min after onset: requests
/// beyond a capacity of 20 per second are answered `503`, so a client
/// whose retries have no backoff or jitter keeps the region down, and a
/// well-behaved one gets through.
///
/// Simplified: the capacity is illustrative; the database is not modelled,
/// the overload is the provider's answer to the caller's own load.
///
/// ```
/// use std::time::Duration;
/// let s = tower_chaos::scenario::presets::google_cloud_2025();
/// assert_eq!(s.phase("overloaded").unwrap().end(), s.phase("global-503").unwrap().start() + Duration::from_secs(160 * 60));
/// ```
#[must_use]
pub fn google_cloud_2025() -> Scenario {
    let regional = LEAD_IN + hm(0, 40);
    let large = LEAD_IN + hm(2, 40);
    build(
        Scenario::builder("google-cloud-2025")
            .description("Google Cloud 2025-06-12: global 503s, regional recovery, overload by retries")
            .phase(
                Phase::new("global-503", "large-region")
                    .at(LEAD_IN)
                    .lasting(regional - LEAD_IN)
                    .down(),
            )
            .phase(
                Phase::new("global-503-small", "small-region")
                    .at(LEAD_IN)
                    .lasting(regional - LEAD_IN)
                    .down(),
            )
            .phase(
                Phase::new("overloaded", "large-region")
                    .at(regional)
                    .lasting(large - regional)
                    .request(RequestFault::error().overload(Capacity::per_second(20.0))),
            )
            .duration(large + LEAD_OUT),
    )
}

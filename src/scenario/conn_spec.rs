//! Described connection faults (feature `io`): a `connection` table of a
//! scenario file — every connection fault, with host and port matchers,
//! trigger settings and limits — kept as written ([`ConnForm`]) next to
//! the fault it builds. The form is what scenarios compare and write
//! back; presets build their connection phases from forms too.

use std::any::Any;
use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use super::conditions::Conditions;
use super::cx::Cx;
use super::faults::{Accumulator, Contribute};
use super::parameters::{self, FaultName};
#[cfg(feature = "tls")]
use crate::io::TlsFault;
use crate::io::{ConnFault, ConnInfo, Direction, Onset};
use crate::rule::sealed::Sealed;
use crate::{Latency, Rule, Trigger};

/// The `fault = "..."` of a `connection` table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
// Without `serde`, only presets name faults, and not all of them.
#[cfg_attr(not(feature = "serde"), allow(dead_code))]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum ConnFaultName {
    DnsFailure,
    Refuse,
    ConnectHang,
    SlowConnect,
    Latency,
    Bandwidth,
    Slice,
    Truncate,
    Reset,
    Stall,
    Blackhole,
    Timeout,
    SlowClose,
    #[cfg(feature = "tls")]
    TlsAlert,
    #[cfg(feature = "tls")]
    TlsStall,
    #[cfg(feature = "tls")]
    TlsExpiredCertificate,
    #[cfg(feature = "tls")]
    TlsWrongHost,
    #[cfg(feature = "tls")]
    TlsUntrustedIssuer,
    #[cfg(feature = "tls")]
    TlsRotated,
}

impl FaultName for ConnFaultName {
    fn as_str(self) -> &'static str {
        match self {
            Self::DnsFailure => "dns_failure",
            Self::Refuse => "refuse",
            Self::ConnectHang => "connect_hang",
            Self::SlowConnect => "slow_connect",
            Self::Latency => "latency",
            Self::Bandwidth => "bandwidth",
            Self::Slice => "slice",
            Self::Truncate => "truncate",
            Self::Reset => "reset",
            Self::Stall => "stall",
            Self::Blackhole => "blackhole",
            Self::Timeout => "timeout",
            Self::SlowClose => "slow_close",
            #[cfg(feature = "tls")]
            Self::TlsAlert => "tls_alert",
            #[cfg(feature = "tls")]
            Self::TlsStall => "tls_stall",
            #[cfg(feature = "tls")]
            Self::TlsExpiredCertificate => "tls_expired_certificate",
            #[cfg(feature = "tls")]
            Self::TlsWrongHost => "tls_wrong_host",
            #[cfg(feature = "tls")]
            Self::TlsUntrustedIssuer => "tls_untrusted_issuer",
            #[cfg(feature = "tls")]
            Self::TlsRotated => "tls_rotated",
        }
    }
}

/// A `connection` table as written (values already checked one by one),
/// apart from its trigger settings and limits. `onset: None` is "at once".
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConnForm {
    pub(crate) fault: ConnFaultName,
    pub(crate) direction: Option<Direction>,
    pub(crate) onset: Option<Onset>,
    pub(crate) latency: Option<Latency>,
    pub(crate) bytes_per_second: Option<NonZeroU64>,
    pub(crate) max_size: Option<NonZeroUsize>,
    pub(crate) delay: Option<Duration>,
    pub(crate) bytes: Option<u64>,
    pub(crate) close_after: Option<Duration>,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
}

impl ConnForm {
    /// A table with `fault` and nothing else.
    pub(crate) const fn new(fault: ConnFaultName) -> Self {
        Self {
            fault,
            direction: None,
            onset: None,
            latency: None,
            bytes_per_second: None,
            max_size: None,
            delay: None,
            bytes: None,
            close_after: None,
            host: None,
            port: None,
        }
    }
}

/// A described connection fault: the table as written, and the fault it
/// builds.
#[derive(Debug)]
pub(crate) struct ConnSpec {
    pub(crate) form: ConnForm,
    pub(crate) when: Conditions,
    fault: ConnFault,
}

/// Two specs are equal when their tables are: the fault is built from it.
impl PartialEq for ConnSpec {
    fn eq(&self, other: &Self) -> bool {
        self.form == other.form && self.when == other.when
    }
}

impl ConnSpec {
    /// Builds and checks the fault of `form` (latency bounds, a slice's
    /// size…), so a bad value is an error of the file, not of a rehearsal.
    ///
    /// # Errors
    ///
    /// A parameter the fault does not take, a missing one, a bad value.
    pub(crate) fn new(form: ConnForm, when: Conditions) -> Result<Self, String> {
        check_parameters(&form)?;
        let fault = fault(&form)?;
        fault.validate().map_err(|e| e.to_string())?;
        Ok(Self { form, when, fault })
    }

    /// The host and port matchers, as one pure condition.
    fn matcher(&self) -> Option<Trigger<ConnInfo>> {
        let host = self.form.host.clone().map(|h| {
            Trigger::when_labeled(format!("host == {h:?}"), move |c: &ConnInfo| {
                c.host() == Some(&*h)
            })
        });
        let port = self
            .form
            .port
            .map(|p| Trigger::when_labeled(format!("port == {p}"), move |c: &ConnInfo| c.port() == Some(p)));
        match (host, port) {
            (Some(h), Some(p)) => Some(h & p),
            (h, p) => h.or(p),
        }
    }
}

impl Contribute for ConnSpec {
    fn contribute(&self, cx: &Cx, acc: &mut Accumulator) {
        let rule = Rule::new(self.fault, self.when.trigger(cx, self.matcher(), None));
        acc.push(cx.finish(self.when.limit(rule)));
    }

    fn window(&self) -> Option<(Duration, Duration)> {
        self.when.window
    }

    fn fails_every_request(&self) -> bool {
        self.form.host.is_none()
            && self.form.port.is_none()
            && self.when.is_unconditional()
            && self.fault.fails_outright()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same(&self, other: &dyn Contribute) -> bool {
        other.as_any().downcast_ref::<Self>() == Some(self)
    }
}

/// Refuses parameters the fault does not take.
fn check_parameters(form: &ConnForm) -> Result<(), String> {
    use ConnFaultName::{
        Bandwidth, Blackhole, Latency, Reset, Slice, SlowClose, SlowConnect, Stall, Timeout, Truncate,
    };
    let streams = &[
        Latency, Bandwidth, Slice, Truncate, Reset, Stall, Blackhole, Timeout, SlowClose,
    ][..];
    parameters::check(
        form.fault,
        &[
            ("direction", form.direction.is_some(), streams),
            ("onset", form.onset.is_some(), &[Reset, Stall, Blackhole, Timeout]),
            ("latency", form.latency.is_some(), &[SlowConnect, Latency]),
            ("bytes_per_second", form.bytes_per_second.is_some(), &[Bandwidth]),
            ("max_size", form.max_size.is_some(), &[Slice]),
            ("delay", form.delay.is_some(), &[Slice, SlowClose]),
            ("bytes", form.bytes.is_some(), &[Truncate]),
            ("close_after", form.close_after.is_some(), &[Timeout]),
        ],
    )
}

fn fault(form: &ConnForm) -> Result<ConnFault, String> {
    let name = form.fault.as_str();
    let needs =
        |parameter: &str, example: &str| format!("a `{name}` fault needs `{parameter}` (e.g. {example})");
    let dir = form.direction.unwrap_or(Direction::Both);
    let onset = form.onset.unwrap_or(Onset::Immediately);
    Ok(match form.fault {
        ConnFaultName::DnsFailure => ConnFault::dns_failure(),
        ConnFaultName::Refuse => ConnFault::refuse(),
        ConnFaultName::ConnectHang => ConnFault::connect_hang(),
        ConnFaultName::SlowConnect => {
            ConnFault::slow_connect(form.latency.ok_or_else(|| needs("latency", "latency = \"2s\""))?)
        }
        ConnFaultName::Latency => ConnFault::latency(
            dir,
            form.latency
                .ok_or_else(|| needs("latency", "latency = \"50ms\""))?,
        ),
        ConnFaultName::Bandwidth => {
            let bps = form
                .bytes_per_second
                .ok_or_else(|| needs("bytes_per_second", "bytes_per_second = 4096"))?;
            ConnFault::bandwidth(dir, bps.get())
        }
        ConnFaultName::Slice => {
            let max = form.max_size.ok_or_else(|| needs("max_size", "max_size = 16"))?;
            ConnFault::slice(dir, max.get(), form.delay.unwrap_or_default())
        }
        ConnFaultName::Truncate => {
            ConnFault::truncate_after(dir, form.bytes.ok_or_else(|| needs("bytes", "bytes = 1024"))?)
        }
        ConnFaultName::Reset => ConnFault::reset(dir, onset),
        ConnFaultName::Stall => ConnFault::stall(dir, onset),
        ConnFaultName::Blackhole => ConnFault::blackhole(dir, onset),
        ConnFaultName::Timeout => {
            let close = form
                .close_after
                .ok_or_else(|| needs("close_after", "close_after = \"5s\""))?;
            ConnFault::timeout(dir, onset, close)
        }
        ConnFaultName::SlowClose => {
            ConnFault::slow_close(dir, form.delay.ok_or_else(|| needs("delay", "delay = \"2s\""))?)
        }
        #[cfg(feature = "tls")]
        ConnFaultName::TlsAlert => ConnFault::tls(TlsFault::Alert),
        #[cfg(feature = "tls")]
        ConnFaultName::TlsStall => ConnFault::tls(TlsFault::Stall),
        #[cfg(feature = "tls")]
        ConnFaultName::TlsExpiredCertificate => ConnFault::tls(TlsFault::ExpiredCertificate),
        #[cfg(feature = "tls")]
        ConnFaultName::TlsWrongHost => ConnFault::tls(TlsFault::WrongHost),
        #[cfg(feature = "tls")]
        ConnFaultName::TlsUntrustedIssuer => ConnFault::tls(TlsFault::UntrustedIssuer),
        #[cfg(feature = "tls")]
        ConnFaultName::TlsRotated => ConnFault::tls(TlsFault::Rotated),
    })
}

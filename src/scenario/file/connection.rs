//! The `connection` tables of a phase (features `serde` and `io`): every
//! connection fault — failed, refused, hanging and slow connects, and the
//! stream faults per direction (latency, bandwidth, slicing, truncation,
//! reset, stall, blackhole, timeout, slow close) — with host and port
//! matchers, trigger settings and limits.
//!
//! A table becomes a [`ConnSpec`], a described connection fault that turns
//! into a `Rule<ConnFault, ConnInfo>` each time its phase is installed, for
//! the target's connectors, listeners and proxies. The fault's own checks
//! run while the file loads, so a bad value is an error of the file, not of
//! the rehearsal.

use std::num::{NonZeroU64, NonZeroUsize};

use serde::Deserialize;

use super::parameters::{self, FaultName};
use super::values::{DurationText, LatencyFile};
use crate::io::{ConnFault, ConnInfo, Direction, Onset};
use crate::rule::sealed::Sealed;
use crate::scenario::conditions::Conditions;
use crate::scenario::faults::{Accumulator, Contribute, Cx};
use crate::{Rule, Trigger};

/// A described connection fault loaded from a file.
#[derive(Debug)]
pub(super) struct ConnSpec {
    fault: ConnFault,
    host: Option<String>,
    port: Option<u16>,
    when: Conditions,
}

impl ConnSpec {
    /// The host and port matchers, as one pure condition.
    fn matcher(&self) -> Option<Trigger<ConnInfo>> {
        let host = self.host.clone().map(|h| {
            Trigger::when_labeled(format!("host == {h:?}"), move |c: &ConnInfo| {
                c.host() == Some(&*h)
            })
        });
        let port = self
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

    fn window(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        self.when.window
    }

    fn fails_every_request(&self) -> bool {
        self.host.is_none()
            && self.port.is_none()
            && self.when.is_unconditional()
            && self.fault.fails_outright()
    }
}

/// A `connection` table, checked: the spec it describes.
#[derive(Deserialize)]
#[serde(try_from = "ConnectionFaultRaw")]
pub(super) struct ConnectionFile(pub(super) ConnSpec);

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum ConnFaultName {
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
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum DirectionName {
    Upstream,
    Downstream,
    Both,
}

/// When an interruption begins: `{ bytes = 1024 }` (after that many bytes
/// in its direction) or `{ time = "30s" }` (after that long); at once when
/// absent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnsetFile {
    bytes: Option<u64>,
    time: Option<DurationText>,
}

table_with_conditions! {
    /// A `connection` table as written.
    struct ConnectionFaultRaw {
        fault: ConnFaultName,
        direction: Option<DirectionName>,
        onset: Option<OnsetFile>,
        latency: Option<LatencyFile>,
        bytes_per_second: Option<NonZeroU64>,
        max_size: Option<NonZeroUsize>,
        delay: Option<DurationText>,
        bytes: Option<u64>,
        close_after: Option<DurationText>,
        host: Option<String>,
        port: Option<u16>,
    }
}

impl ConnectionFaultRaw {
    /// Refuses parameters the fault does not take.
    fn check_parameters(&self) -> Result<(), String> {
        use ConnFaultName::{
            Bandwidth, Blackhole, Latency, Reset, Slice, SlowClose, SlowConnect, Stall, Timeout, Truncate,
        };
        let streams = &[
            Latency, Bandwidth, Slice, Truncate, Reset, Stall, Blackhole, Timeout, SlowClose,
        ][..];
        parameters::check(
            self.fault,
            &[
                ("direction", self.direction.is_some(), streams),
                ("onset", self.onset.is_some(), &[Reset, Stall, Blackhole, Timeout]),
                ("latency", self.latency.is_some(), &[SlowConnect, Latency]),
                ("bytes_per_second", self.bytes_per_second.is_some(), &[Bandwidth]),
                ("max_size", self.max_size.is_some(), &[Slice]),
                ("delay", self.delay.is_some(), &[Slice, SlowClose]),
                ("bytes", self.bytes.is_some(), &[Truncate]),
                ("close_after", self.close_after.is_some(), &[Timeout]),
            ],
        )
    }

    fn onset(&mut self) -> Result<Onset, String> {
        match self.onset.take() {
            None => Ok(Onset::Immediately),
            Some(OnsetFile {
                bytes: Some(n),
                time: None,
            }) => Ok(Onset::AfterBytes(n)),
            Some(OnsetFile {
                bytes: None,
                time: Some(t),
            }) => Ok(Onset::After(t.0)),
            Some(_) => Err("`onset` has one of `bytes`, `time`".to_owned()),
        }
    }

    fn fault(&mut self) -> Result<ConnFault, String> {
        let name = self.fault.as_str();
        let needs =
            |parameter: &str, example: &str| format!("a `{name}` fault needs `{parameter}` (e.g. {example})");
        let dir = match self.direction.take() {
            Some(DirectionName::Upstream) => Direction::Upstream,
            Some(DirectionName::Downstream) => Direction::Downstream,
            Some(DirectionName::Both) | None => Direction::Both,
        };
        let onset = self.onset()?;
        let latency = self.latency.take().map(|l| l.0);
        let delay = self.delay.take().map(|d| d.0);
        Ok(match self.fault {
            ConnFaultName::DnsFailure => ConnFault::dns_failure(),
            ConnFaultName::Refuse => ConnFault::refuse(),
            ConnFaultName::ConnectHang => ConnFault::connect_hang(),
            ConnFaultName::SlowConnect => {
                ConnFault::slow_connect(latency.ok_or_else(|| needs("latency", "latency = \"2s\""))?)
            }
            ConnFaultName::Latency => ConnFault::latency(
                dir,
                latency.ok_or_else(|| needs("latency", "latency = \"50ms\""))?,
            ),
            ConnFaultName::Bandwidth => {
                let bps = self
                    .bytes_per_second
                    .take()
                    .ok_or_else(|| needs("bytes_per_second", "bytes_per_second = 4096"))?;
                ConnFault::bandwidth(dir, bps.get())
            }
            ConnFaultName::Slice => {
                let max = self
                    .max_size
                    .take()
                    .ok_or_else(|| needs("max_size", "max_size = 16"))?;
                ConnFault::slice(dir, max.get(), delay.unwrap_or_default())
            }
            ConnFaultName::Truncate => ConnFault::truncate_after(
                dir,
                self.bytes.take().ok_or_else(|| needs("bytes", "bytes = 1024"))?,
            ),
            ConnFaultName::Reset => ConnFault::reset(dir, onset),
            ConnFaultName::Stall => ConnFault::stall(dir, onset),
            ConnFaultName::Blackhole => ConnFault::blackhole(dir, onset),
            ConnFaultName::Timeout => {
                let close = self
                    .close_after
                    .take()
                    .ok_or_else(|| needs("close_after", "close_after = \"5s\""))?;
                ConnFault::timeout(dir, onset, close.0)
            }
            ConnFaultName::SlowClose => {
                ConnFault::slow_close(dir, delay.ok_or_else(|| needs("delay", "delay = \"2s\""))?)
            }
        })
    }
}

impl TryFrom<ConnectionFaultRaw> for ConnectionFile {
    type Error = String;

    fn try_from(mut raw: ConnectionFaultRaw) -> Result<Self, String> {
        raw.check_parameters()?;
        let fault = raw.fault()?;
        // The fault's own checks (latency bounds, a slice's size…) now,
        // not when the rehearsal installs it.
        fault.validate().map_err(|e| e.to_string())?;
        let (host, port) = (raw.host.take(), raw.port.take());
        let when = raw.take_conditions(None)?;
        Ok(Self(ConnSpec {
            fault,
            host,
            port,
            when,
        }))
    }
}

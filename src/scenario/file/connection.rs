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

use super::values::{DurationText, LatencyFile};
use crate::io::{Direction, Onset};
use crate::scenario::conn_spec::{ConnFaultName, ConnForm, ConnSpec};

/// A `connection` table, checked: the spec it describes.
#[derive(Deserialize)]
#[serde(try_from = "ConnectionFaultRaw")]
pub(super) struct ConnectionFile(pub(super) ConnSpec);

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
    fn onset(&mut self) -> Result<Option<Onset>, String> {
        match self.onset.take() {
            None => Ok(None),
            Some(OnsetFile {
                bytes: Some(n),
                time: None,
            }) => Ok(Some(Onset::AfterBytes(n))),
            Some(OnsetFile {
                bytes: None,
                time: Some(t),
            }) => Ok(Some(Onset::After(t.0))),
            Some(_) => Err("`onset` has one of `bytes`, `time`".to_owned()),
        }
    }
}

impl TryFrom<ConnectionFaultRaw> for ConnectionFile {
    type Error = String;

    fn try_from(mut raw: ConnectionFaultRaw) -> Result<Self, String> {
        let form = ConnForm {
            fault: raw.fault,
            direction: raw.direction.take().map(|d| match d {
                DirectionName::Upstream => Direction::Upstream,
                DirectionName::Downstream => Direction::Downstream,
                DirectionName::Both => Direction::Both,
            }),
            onset: raw.onset()?,
            latency: raw.latency.take().map(|l| l.0),
            bytes_per_second: raw.bytes_per_second.take(),
            max_size: raw.max_size.take(),
            delay: raw.delay.take().map(|d| d.0),
            bytes: raw.bytes.take(),
            close_after: raw.close_after.take().map(|d| d.0),
            host: raw.host.take(),
            port: raw.port.take(),
        };
        let when = raw.take_conditions(None)?;
        ConnSpec::new(form, when).map(Self)
    }
}

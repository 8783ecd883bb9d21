//! The scenario file's tables, and how they become a [`Scenario`].

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

#[cfg(feature = "io")]
use super::connection::ConnectionFile;
#[cfg(feature = "http")]
use super::http::HttpFile;
use super::values::{DurationText, LatencyFile, Rate};
use crate::scenario::{Faults, Flap, Phase, RequestFault, Scenario, ScenarioError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenarioFile {
    name: String,
    description: Option<String>,
    duration: Option<DurationText>,
    phases: Vec<PhaseFile>,
}

/// Declares a file table with its own fields followed by the faults a
/// phase holds — `down`, `slow`, `request`, and `http` (feature `http`)
/// and `connection` (feature `io`) tables — and a `take_faults` method
/// that moves them into [`Faults`]. Phases and a flapping phase's
/// `while_good` share the list.
macro_rules! table_with_faults {
    (
        $(#[$meta:meta])*
        struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $( $(#[$field_meta])* $field: $ty, )*
            #[serde(default)]
            down: bool,
            slow: Option<LatencyFile>,
            #[serde(default)]
            request: Vec<RequestFaultFile>,
            /// HTTP and gRPC faults with matchers.
            #[cfg(feature = "http")]
            #[serde(default)]
            http: Vec<HttpFile>,
            /// Connection faults with triggers.
            #[cfg(feature = "io")]
            #[serde(default)]
            connection: Vec<ConnectionFile>,
        }

        impl $name {
            /// The faults, moved out of the table.
            fn take_faults(&mut self) -> Faults {
                let mut f = Faults::new();
                if self.down {
                    f = f.down();
                }
                if let Some(l) = self.slow.take() {
                    f = f.slow(l.0);
                }
                for r in std::mem::take(&mut self.request) {
                    f = f.request(r.0);
                }
                #[cfg(feature = "http")]
                for h in std::mem::take(&mut self.http) {
                    f = f.contribution(Arc::new(h.0));
                }
                #[cfg(feature = "io")]
                for c in std::mem::take(&mut self.connection) {
                    f = f.contribution(Arc::new(c.0));
                }
                f
            }
        }
    };
}

table_with_faults! {
    /// A phase as written.
    struct PhaseFile {
        name: Option<String>,
        target: String,
        at: Option<DurationText>,
        #[serde(rename = "for")]
        lasting: DurationText,
        ramp: Option<RampFile>,
        flap: Option<FlapFile>,
        /// [`Phase::expect_to_fire`](crate::scenario::Phase::expect_to_fire).
        #[serde(default)]
        expect_to_fire: bool,
        /// Connection faults at connect time (feature `io`), for every
        /// connection the target's connectors make during the phase.
        #[cfg(feature = "io")]
        #[serde(default)]
        connect: Vec<ConnectFaultName>,
    }
}

/// A connect-time fault named in a file.
#[cfg(feature = "io")]
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ConnectFaultName {
    DnsFailure,
    Refuse,
    Hang,
}

#[cfg(feature = "io")]
impl ConnectFaultName {
    /// The `connection` table it stands for: the fault alone, on every
    /// connection.
    fn spec(self) -> crate::scenario::conn_spec::ConnSpec {
        use crate::scenario::conditions::Conditions;
        use crate::scenario::conn_spec::{ConnFaultName, ConnForm, ConnSpec};
        let fault = match self {
            Self::DnsFailure => ConnFaultName::DnsFailure,
            Self::Refuse => ConnFaultName::Refuse,
            Self::Hang => ConnFaultName::ConnectHang,
        };
        match ConnSpec::new(ConnForm::new(fault), Conditions::new()) {
            Ok(spec) => spec,
            // A connect fault takes no parameter: nothing to refuse.
            Err(e) => unreachable!("connect fault {fault:?}: {e}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RampFile {
    from: Rate,
    to: Rate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlapFile {
    bad: DurationText,
    good: DurationText,
    while_good: Option<FaultsFile>,
}

table_with_faults! {
    /// A flapping phase's faults while good.
    struct FaultsFile {}
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum FaultName {
    Latency,
    LatencyAfter,
    Error,
    Hang,
    LostReply,
}

table_with_conditions! {
    /// A `request` table as written.
    struct RequestFaultRaw {
        fault: FaultName,
        latency: Option<LatencyFile>,
        keyed: Option<KeyedFile>,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyedFile {
    attribute: String,
    rate: Rate,
}

#[derive(Deserialize)]
#[serde(try_from = "RequestFaultRaw")]
struct RequestFaultFile(RequestFault);

impl TryFrom<RequestFaultRaw> for RequestFaultFile {
    type Error = String;

    fn try_from(mut raw: RequestFaultRaw) -> Result<Self, String> {
        let needs_latency = matches!(raw.fault, FaultName::Latency | FaultName::LatencyAfter);
        let f = match (raw.fault, raw.latency.take()) {
            (FaultName::Latency, Some(l)) => RequestFault::latency(l.0),
            (FaultName::LatencyAfter, Some(l)) => RequestFault::latency_after(l.0),
            (_, None) if needs_latency => {
                return Err("a latency fault needs `latency` (e.g. latency = \"200ms\")".to_owned());
            }
            (_, Some(_)) => return Err("only latency faults take `latency`".to_owned()),
            (FaultName::Error, None) => RequestFault::error(),
            (FaultName::Hang, None) => RequestFault::hang(),
            (FaultName::LostReply, None) => RequestFault::lost_reply(),
            (FaultName::Latency | FaultName::LatencyAfter, None) => unreachable!(),
        };
        let keyed = raw.keyed.take().map(|k| (Arc::from(k.attribute), k.rate.0));
        Ok(Self(f.with_conditions(raw.take_conditions(keyed)?)))
    }
}

impl ScenarioFile {
    pub(super) fn into_scenario(self) -> Result<Scenario, ScenarioError> {
        let mut b = Scenario::builder(self.name);
        if let Some(d) = self.description {
            b = b.description(d);
        }
        if let Some(d) = self.duration {
            b = b.duration(d.0);
        }
        for (i, mut p) in self.phases.into_iter().enumerate() {
            let name = p.name.take().unwrap_or_else(|| format!("{}-{}", p.target, i + 1));
            let faults = p.take_faults();
            let mut phase = Phase::new(name, p.target)
                .at(p.at.map_or(Duration::ZERO, |d| d.0))
                .lasting(p.lasting.0)
                .faults(faults);
            #[cfg(feature = "io")]
            for fault in p.connect {
                phase = phase.contribution(Arc::new(fault.spec()));
            }
            if let Some(r) = p.ramp {
                phase = phase.ramp(r.from.0, r.to.0);
            }
            if let Some(flap) = p.flap {
                let mut fl = Flap::new(flap.bad.0, flap.good.0);
                if let Some(mut good) = flap.while_good {
                    fl = fl.while_good(good.take_faults());
                }
                phase = phase.flap(fl);
            }
            if p.expect_to_fire {
                phase = phase.expect_to_fire();
            }
            b = b.phase(phase);
        }
        b.build()
    }
}

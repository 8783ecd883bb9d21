//! Connect targets: a `ConnectFaultsLayer` explored connection by
//! connection.

use std::sync::Arc;

use super::arm::{Arm, Placed, at, sealed};
use super::menu::{MenuFault, PointKind};
use super::point::{Probe, Signature};
use crate::io::{ConnFault, ConnFaultSet, ConnInfo, ConnTrigger, ConnectFaultsLayer};
use crate::{ConfigError, Target};

#[derive(Debug)]
struct ConnectArm {
    target: Target,
}

impl sealed::Sealed for ConnectFaultsLayer {
    fn arm(&self) -> Arc<dyn Arm> {
        Arc::new(ConnectArm {
            target: self.target().clone(),
        })
    }
}

impl Arm for ConnectArm {
    fn target(&self) -> &Target {
        &self.target
    }

    fn kind(&self) -> PointKind {
        PointKind::Connect
    }

    fn install(&self, probe: &Arc<Probe>, faults: &[Placed]) -> Result<(), ConfigError> {
        let recorder = Arc::clone(probe);
        let record = ConnTrigger::when(move |c: &ConnInfo| {
            recorder.record(Signature::Connect {
                host: c.host().map(str::to_owned),
                port: c.port(),
            });
            false
        });
        // The recording rule's action never applies: its trigger is false.
        let mut set = ConnFaultSet::new().with(ConnFault::refuse().when(record));
        for (signature, occurrence, fault) in faults {
            let fault = match fault {
                MenuFault::Refused => ConnFault::refuse(),
                MenuFault::DnsFailure => ConnFault::dns_failure(),
                other => {
                    return Err(ConfigError::invalid(
                        "explorer.menu",
                        other,
                        "not a connect fault",
                    ));
                }
            };
            set = set.with(fault.when(at::<ConnInfo>(probe, signature, *occurrence)));
        }
        self.target.set_faults(set)
    }

    fn clear(&self) {
        self.target.clear_conn_faults();
    }
}

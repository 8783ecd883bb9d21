//! Connect targets: a `ConnectFaultsLayer` explored connection by
//! connection.

use std::sync::Arc;

use super::arm::{Arm, Placed, fault_set, sealed};
use super::menu::{MenuFault, PointKind};
use super::point::{Probe, Signature};
use crate::io::{ConnFault, ConnInfo, ConnectFaultsLayer};
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
        let signature = |c: &ConnInfo| Signature::Connect {
            host: c.host().map(str::to_owned),
            port: c.port(),
        };
        let make = |fault| match fault {
            MenuFault::Refused => Ok(ConnFault::refuse()),
            MenuFault::DnsFailure => Ok(ConnFault::dns_failure()),
            other => Err(ConfigError::invalid(
                "explorer.menu",
                other,
                "not a connect fault",
            )),
        };
        self.target
            .set_faults(fault_set(probe, faults, signature, ConnFault::refuse(), make)?)
    }

    fn clear(&self) {
        self.target.clear_conn_faults();
    }
}

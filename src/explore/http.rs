//! HTTP targets: an `HttpChaosLayer` explored by method and path.

use std::sync::Arc;
use std::time::Duration;

use super::arm::{Arm, Placed, at, sealed};
use super::menu::{MenuFault, PointKind};
use super::point::{Probe, Signature};
use crate::http::{
    BodyFault, HttpChaosLayer, HttpFault, HttpRequest, HttpTrigger, RetryAfter, SyntheticResponse,
};
use crate::{ConfigError, FaultSet, Target};

#[derive(Debug)]
struct HttpArm {
    layer: HttpChaosLayer,
}

impl sealed::Sealed for HttpChaosLayer {
    fn arm(&self) -> Arc<dyn Arm> {
        Arc::new(HttpArm { layer: self.clone() })
    }
}

fn fault(fault: MenuFault) -> Result<HttpFault, ConfigError> {
    Ok(match fault {
        MenuFault::Status(code) => HttpFault::Respond(SyntheticResponse::new(code).validate()?),
        MenuFault::Throttle(d) => {
            HttpFault::Respond(SyntheticResponse::too_many_requests(RetryAfter::after(d)))
        }
        MenuFault::DropConnection => HttpFault::DropConnection,
        MenuFault::TruncateBody(n) => HttpFault::ResponseBody(BodyFault::truncate_after(n)),
        MenuFault::Delay(d) => HttpFault::latency(d),
        other => return Err(ConfigError::invalid("explorer.menu", other, "not an HTTP fault")),
    })
}

impl Arm for HttpArm {
    fn target(&self) -> &Target {
        self.layer.target()
    }

    fn kind(&self) -> PointKind {
        PointKind::Http
    }

    fn install(&self, probe: &Arc<Probe>, faults: &[Placed]) -> Result<(), ConfigError> {
        let recorder = Arc::clone(probe);
        let record = HttpTrigger::when(move |req: &HttpRequest| {
            recorder.record(Signature::Http {
                method: req.method().to_string(),
                path: req.path().to_owned(),
            });
            false
        });
        // The recording rule's action never applies: its trigger is false.
        let mut set = FaultSet::new().with(HttpFault::latency(Duration::ZERO).when(record));
        for (signature, occurrence, f) in faults {
            set = set.with(fault(*f)?.when(at::<HttpRequest>(probe, signature, *occurrence)));
        }
        self.layer.set_faults(set)
    }

    fn clear(&self) {
        self.layer.clear_faults();
    }
}

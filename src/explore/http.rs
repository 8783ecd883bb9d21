//! HTTP targets: an `HttpChaosLayer` explored by method and path.

use std::sync::Arc;
use std::time::Duration;

use super::arm::{Arm, Placed, fault_set, sealed};
use super::menu::{MenuFault, PointKind};
use super::point::{Probe, Signature};
use crate::http::{BodyFault, HttpChaosLayer, HttpFault, HttpRequest, RetryAfter, SyntheticResponse};
use crate::{ConfigError, Target};

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
        let signature = |req: &HttpRequest| Signature::Http {
            method: req.method().to_string(),
            path: route(req).unwrap_or_else(|| req.path()).to_owned(),
        };
        let idle = HttpFault::latency(Duration::ZERO);
        self.layer
            .set_faults(fault_set(probe, faults, signature, idle, fault)?)
    }

    fn clear(&self) {
        self.layer.clear_faults();
    }
}

/// The route pattern axum matched (`/items/{id}`), when the layer runs
/// inside an axum `Router` (`Router::layer`, feature `axum`).
#[cfg(feature = "axum")]
fn route(req: &HttpRequest) -> Option<&str> {
    req.extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

#[cfg(not(feature = "axum"))]
const fn route(_: &HttpRequest) -> Option<&str> {
    None
}

//! The small import set the common tasks need: `use tower_chaos::prelude::*;`.
//!
//! Always: the core ([`ChaosLayer`], [`Fault`], [`Trigger`], [`Rule`],
//! [`FaultSet`], [`Target`], [`Report`], [`FaultKind`], [`Latency`],
//! [`ConfigError`], [`BoxError`]). With feature `http`: the HTTP layer, its
//! faults, triggers and matchers (and, with `reqwest-middleware`, the
//! reqwest middleware and its error). With `io`: the connection layers, the
//! proxy, the listener, `ConnFault` and its set, rule and trigger, the
//! in-memory network (`MemNetwork`). With
//! `scenario`: scenarios, phases, rehearsals and probes. With `explore`: the
//! explorer, its report and its menu faults. Only this crate's
//! items: tower's `ServiceBuilder`, `ServiceExt` and `service_fn` come from
//! `tower`.
//!
//! ```
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//! use tower_chaos::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let chaos = ChaosLayer::builder("payments-api")
//!     .seed(7)
//!     .fault(Fault::injected_error().when(Trigger::first(1)))
//!     .build()?;
//! let target: Target = chaos.target().clone();
//! let mut payments = ServiceBuilder::new()
//!     .layer(chaos)
//!     .service(service_fn(|amount: u64| async move { Ok::<_, BoxError>(amount) }));
//! assert!(payments.ready().await?.call(10).await.is_err());
//! assert_eq!(payments.ready().await?.call(20).await?, 20);
//! assert_eq!(target.report().injected(FaultKind::Error), 1);
//!
//! // With feature `http`: the same target can hold HTTP faults.
//! # #[cfg(feature = "http")] {
//! let rule = SyntheticResponse::bad_gateway().when(RequestMatcher::path_prefix("/pay") & Trigger::first(1));
//! target.set_faults(HttpFaultSet::new().with(rule))?;
//! let layer: HttpChaosLayer = HttpChaosLayer::for_target(&target);
//! assert_eq!(layer.target().name(), "payments-api");
//! # }
//! # Ok(())
//! # }
//! ```

pub use crate::{
    BoxError, ChaosLayer, ConfigError, Fault, FaultKind, FaultSet, Latency, Report, Rule, Target, Trigger,
};

#[cfg(feature = "http")]
pub use crate::http::{
    BodyFault, GrpcCode, HttpChaosLayer, HttpFault, HttpFaultSet, HttpRequest, HttpRule, HttpTrigger,
    Injected, RequestMatcher, RetryAfter, SyntheticResponse,
};

#[cfg(feature = "reqwest-middleware")]
pub use crate::http::{ChaosMiddleware, ClientFaultError};

#[cfg(feature = "io")]
pub use crate::io::{
    ChaosListener, ChaosStream, ConnFault, ConnFaultSet, ConnRule, ConnTrigger, ConnectFaultsLayer,
    Direction, Proxy, mem::MemNetwork,
};

#[cfg(feature = "hyper")]
pub use crate::io::ChaosConnectorLayer;

#[cfg(feature = "tls")]
pub use crate::io::{TestCa, TlsFault, TlsTerminator};

#[cfg(feature = "scenario")]
pub use crate::scenario::{Phase, Probe, ProbeLayer, Rehearsal, RehearsalReport, Scenario};

#[cfg(feature = "explore")]
pub use crate::explore::{Exploration, Explorer, MenuFault};

//! What the explorer can explore: the [`Explorable`] layers, and the
//! crate-internal [`Arm`] that installs a run's probe and faults on one.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::menu::{MenuFault, PointKind};
use super::point::{Probe, Signature};
use crate::{ChaosLayer, ConfigError, Fault, FaultSet, FromInjected, Latency, Rule, Target, Trigger};

/// A layer the explorer can take as a target: a request-level
/// [`ChaosLayer`] (any `tower::Service` whose error type accepts an
/// [`InjectedError`](crate::InjectedError)), with feature `http` an
/// `HttpChaosLayer`, with feature `io` a `ConnectFaultsLayer`. Sealed.
///
/// ```
/// fn explorable<T: tower_chaos::explore::Explorable>(_: &T) {}
/// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
/// explorable(&layer);
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be explored",
    label = "pass a `ChaosLayer<R, E>` (with `E: From<InjectedError>`), an `HttpChaosLayer` or a `ConnectFaultsLayer`"
)]
pub trait Explorable: sealed::Sealed {}

impl<T: sealed::Sealed> Explorable for T {}

pub(crate) mod sealed {
    use std::sync::Arc;

    use crate::explore::arm::Arm;

    #[allow(unreachable_pub)] // sealed-trait pattern: public in a private module
    pub trait Sealed {
        /// The arm that installs a run's probe and faults on this layer.
        fn arm(&self) -> Arc<dyn Arm>;
    }
}

/// One fault to install: at the `occurrence`-th call with `signature`.
pub(crate) type Placed = (Signature, u32, MenuFault);

/// A target as the explorer drives it.
#[allow(unreachable_pub)] // named by the sealed trait
pub trait Arm: Send + Sync + fmt::Debug {
    /// The layer's target.
    fn target(&self) -> &Target;
    /// Its kind.
    fn kind(&self) -> PointKind;
    /// Replaces the target's faults of this layer's kind with a recording
    /// rule writing to `probe` and one rule per placed fault.
    fn install(&self, probe: &Arc<Probe>, faults: &[Placed]) -> Result<(), ConfigError>;
    /// Removes the faults [`install`](Self::install) put there.
    fn clear(&self);
}

/// The set an arm installs for a run: first a rule that records every
/// call's `signature` in `probe` and never fires (its action, `idle`, never
/// applies), then each placed fault (made by `make`) on a trigger that
/// fires on the call the probe records as its point.
pub(crate) fn fault_set<A, R>(
    probe: &Arc<Probe>,
    faults: &[Placed],
    signature: impl Fn(&R) -> Signature + Send + Sync + 'static,
    idle: A,
    make: impl Fn(MenuFault) -> Result<A, ConfigError>,
) -> Result<FaultSet<A, R>, ConfigError>
where
    R: ?Sized + 'static,
{
    let recorder = Arc::clone(probe);
    let record = Trigger::when(move |req: &R| {
        recorder.record(signature(req));
        false
    });
    let mut set = FaultSet::new().with(Rule::new(idle, record));
    for (sig, occurrence, fault) in faults {
        let (probe, sig, occurrence) = (Arc::clone(probe), sig.clone(), *occurrence);
        let here = Trigger::when(move |_: &R| probe.fires_at(&sig, occurrence));
        set = set.with(Rule::new(make(*fault)?, here));
    }
    Ok(set)
}

/// A request's key: what names its call instead of the call order.
type KeyFn<R> = Arc<dyn Fn(&R) -> String + Send + Sync>;

struct RequestArm<R, E> {
    layer: ChaosLayer<R, E>,
    key: Option<KeyFn<R>>,
    _types: PhantomData<fn(R) -> E>,
}

/// The arm of a request-level layer whose calls are named by `key`.
pub(crate) fn keyed<R, E>(layer: &ChaosLayer<R, E>, key: KeyFn<R>) -> Arc<dyn Arm>
where
    R: 'static,
    E: FromInjected + 'static,
{
    Arc::new(RequestArm {
        layer: layer.clone(),
        key: Some(key),
        _types: PhantomData,
    })
}

impl<R, E> fmt::Debug for RequestArm<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestArm")
            .field("target", self.layer.target())
            .finish()
    }
}

impl<R: 'static, E: FromInjected + 'static> sealed::Sealed for ChaosLayer<R, E> {
    fn arm(&self) -> Arc<dyn Arm> {
        Arc::new(RequestArm {
            layer: self.clone(),
            key: None,
            _types: PhantomData,
        })
    }
}

impl<R: 'static, E: FromInjected + 'static> RequestArm<R, E> {
    fn fault(fault: MenuFault) -> Result<Fault<R, E>, ConfigError> {
        Ok(match fault {
            MenuFault::Error => Fault::injected_error(),
            MenuFault::Hang => Fault::hang(),
            MenuFault::LostReply => Fault::lost_reply_injected(),
            MenuFault::Delay(d) => Fault::latency(Latency::fixed(d)),
            other => {
                return Err(ConfigError::invalid(
                    "explorer.menu",
                    other,
                    "not a request-level fault",
                ));
            }
        })
    }
}

impl<R: 'static, E: FromInjected + 'static> Arm for RequestArm<R, E> {
    fn target(&self) -> &Target {
        self.layer.target()
    }

    fn kind(&self) -> PointKind {
        PointKind::Request
    }

    fn install(&self, probe: &Arc<Probe>, faults: &[Placed]) -> Result<(), ConfigError> {
        let idle = Fault::latency(Latency::fixed(Duration::ZERO));
        let key = self.key.clone();
        let signature = move |req: &R| key.as_ref().map_or(Signature::Call, |k| Signature::Key(k(req)));
        self.layer
            .set_faults(fault_set(probe, faults, signature, idle, Self::fault)?)
    }

    fn clear(&self) {
        self.layer.clear_faults();
    }
}

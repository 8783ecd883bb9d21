//! What the explorer can explore: the [`Explorable`] layers, and the
//! crate-internal [`Arm`] that installs a run's probe and faults on one.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::menu::{MenuFault, PointKind};
use super::point::{Probe, Signature};
use crate::{ChaosLayer, ConfigError, Fault, FaultSet, FromInjected, Latency, Target, Trigger};

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

/// The trigger of a placed fault: fires on the call the probe records as
/// its point.
pub(crate) fn at<R: ?Sized>(probe: &Arc<Probe>, signature: &Signature, occurrence: u32) -> Trigger<R> {
    let (probe, signature) = (Arc::clone(probe), signature.clone());
    Trigger::when(move |_: &R| probe.fires_at(&signature, occurrence))
}

struct RequestArm<R, E> {
    layer: ChaosLayer<R, E>,
    _types: PhantomData<fn(R) -> E>,
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
        let recorder = Arc::clone(probe);
        let record = Trigger::when(move |_: &R| {
            recorder.record(Signature::Call);
            false
        });
        // The recording rule's action never applies: its trigger is false.
        let mut set = FaultSet::new().with(Fault::latency(Latency::fixed(Duration::ZERO)).when(record));
        for (signature, occurrence, fault) in faults {
            set = set.with(Self::fault(*fault)?.when(at(probe, signature, *occurrence)));
        }
        self.layer.set_faults(set)
    }

    fn clear(&self) {
        self.layer.clear_faults();
    }
}

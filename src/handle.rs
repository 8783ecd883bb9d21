//! [`FaultHandle`]: a typed handle on one kind of a target's faults, and
//! the per-kind entry points that hand it out.

use std::fmt;
use std::marker::PhantomData;

use crate::rule::FaultAction;
use crate::{ConfigError, FaultSet, Target};

/// A handle on one kind of a [`Target`]'s faults (`A` on requests `R`):
/// installs and clears exactly the fault sets the layer that handed it
/// out reads. The preferred way to swap faults at run time: a set of
/// another type does not compile, where [`Target::set_faults`] accepts it
/// and the set injects nothing (reported in
/// [`Report::unread_fault_sets`](crate::Report::unread_fault_sets)).
///
/// Handed out by [`ChaosLayer::faults`](crate::ChaosLayer::faults) (request
/// faults of that layer's request and error types),
/// `HttpChaosLayer::faults` and `Target::http_faults` (feature `http`),
/// and `Target::conn_faults` (feature `io`). Keep it after the layer moved
/// into a stack.
///
/// # Clone
///
/// Cheap (an `Arc` clone of the target); clones act on the same faults.
///
/// # Example
///
/// ```
/// use tower::{Service, ServiceExt, service_fn};
/// use tower_chaos::{ChaosLayer, Fault, FaultSet, Target, Trigger};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
/// let target = Target::builder("payments").seed(1).build()?;
/// let chaos: ChaosLayer<u32> = ChaosLayer::for_target(&target);
/// let faults = chaos.faults();
/// let mut svc = tower::ServiceBuilder::new()
///     .layer(chaos)
///     .service(service_fn(|n: u32| async move { Ok::<_, tower::BoxError>(n) }));
///
/// faults.set(FaultSet::new().with(Fault::injected_error().when(Trigger::always())))?;
/// assert!(svc.ready().await?.call(1).await.is_err());
/// faults.clear();
/// assert_eq!(svc.ready().await?.call(2).await?, 2);
/// # Ok(()) }
/// ```
///
/// Faults for another request type do not compile:
///
/// ```compile_fail,E0308
/// use tower_chaos::{ChaosLayer, Fault, FaultSet, Target};
///
/// let target = Target::builder("payments").seed(1).build().unwrap();
/// let chaos: ChaosLayer<u32> = ChaosLayer::for_target(&target);
/// // `Fault<u64>` where the layer reads `Fault<u32>`: a type error.
/// chaos.faults().set(FaultSet::new().with(Fault::<u64>::hang())).unwrap();
/// ```
pub struct FaultHandle<A, R: ?Sized> {
    target: Target,
    _kind: PhantomData<fn(&R) -> A>,
}

impl<A, R: ?Sized> Clone for FaultHandle<A, R> {
    fn clone(&self) -> Self {
        Self {
            target: self.target.clone(),
            _kind: PhantomData,
        }
    }
}

impl<A, R: ?Sized> fmt::Debug for FaultHandle<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultHandle")
            .field("target", &self.target.name())
            .field("faults", &std::any::type_name::<A>())
            .finish()
    }
}

impl<A: FaultAction, R: ?Sized + 'static> FaultHandle<A, R> {
    /// A handle on `target`'s faults of this kind.
    pub(crate) fn new(target: &Target) -> Self {
        Self {
            target: target.clone(),
            _kind: PhantomData,
        }
    }

    /// Replaces the faults of this kind ([`Target::set_faults`], typed).
    ///
    /// # Errors
    ///
    /// As [`Target::set_faults`]; on error nothing changes.
    ///
    /// See the [type's example](Self).
    pub fn set(&self, faults: FaultSet<A, R>) -> Result<(), ConfigError> {
        self.target.set_faults(faults)
    }

    /// Removes the faults of this kind ([`Target::clear_faults`], without a
    /// turbofish).
    ///
    /// See the [type's example](Self).
    pub fn clear(&self) {
        self.target.clear_faults::<A, R>();
    }

    /// The target the faults belong to.
    ///
    /// ```
    /// use tower_chaos::ChaosLayer;
    /// let layer: ChaosLayer<u32> = ChaosLayer::builder("db").seed(1).build()?;
    /// assert_eq!(layer.faults().target().name(), "db");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn target(&self) -> &Target {
        &self.target
    }
}

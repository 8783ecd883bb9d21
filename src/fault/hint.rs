//! The bounds a [`ChaosLayer`](super::ChaosLayer) puts on error types,
//! as traits of ours so that a compile error says what to do (mostly: an
//! HTTP stack wants [`HttpChaosLayer`]) instead of naming `From` or a
//! projection.
//!
//! [`HttpChaosLayer`]: https://docs.rs/tower-chaos/latest/tower_chaos/http/struct.HttpChaosLayer.html

use crate::InjectedError;

/// An error type that can carry an [`InjectedError`]: the bound of
/// [`Fault::injected_error`](crate::Fault::injected_error) and
/// [`Fault::lost_reply_injected`](crate::Fault::lost_reply_injected).
///
/// Implemented for every `E: From<InjectedError>` (`tower::BoxError`,
/// `InjectedError` itself, your own errors with a `From` impl); implement
/// `From<InjectedError>` for your error type rather than this trait.
/// `Infallible` (axum's `Router`, most HTTP services) cannot carry an
/// error: use [`Fault::error`](crate::Fault::error) with your own error
/// type, or, for HTTP stacks, `tower_chaos::http::HttpChaosLayer`, whose
/// faults are responses.
///
/// ```
/// fn carries<E: tower_chaos::FromInjected>() {}
/// carries::<tower::BoxError>();
/// carries::<tower_chaos::InjectedError>();
/// ```
///
/// An injected-error fault for a service whose error type is
/// `Infallible` (as an axum `Router`'s): the compiler's message points to
/// `HttpChaosLayer`.
///
/// ```compile_fail,E0277
/// use std::convert::Infallible;
/// use tower_chaos::Fault;
/// let _f: Fault<u32, Infallible> = Fault::injected_error();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry an injected error: a `ChaosLayer` error fault must be of the service's error type",
    label = "`{Self}` does not implement `From<InjectedError>`",
    note = "an HTTP stack (axum's `Router` and handlers have `Infallible` errors) wants `tower_chaos::http::HttpChaosLayer`, whose faults are responses (`SyntheticResponse::service_unavailable()`, ...)",
    note = "for another error type, build it with `Fault::error(|req| ..)` or implement `From<InjectedError>` for it"
)]
pub trait FromInjected: Sized {
    /// Converts the injected error into `Self`.
    ///
    /// ```
    /// use tower_chaos::{FaultKind, FromInjected, InjectedError};
    /// let e = tower::BoxError::from_injected(InjectedError::new("db", FaultKind::Error, None));
    /// assert!(e.downcast_ref::<InjectedError>().is_some());
    /// ```
    fn from_injected(error: InjectedError) -> Self;
}

impl<E: From<InjectedError>> FromInjected for E {
    fn from_injected(error: InjectedError) -> Self {
        Self::from(error)
    }
}

/// `Self` is `E`: the bound of [`ChaosLayer<R, E>`](super::ChaosLayer)'s
/// `Layer` impl on the wrapped service's error type (`S::Error:
/// MatchesError<E>`). Sealed, implemented only for `E` itself; a trait
/// rather than `Service<R, Error = E>` so that a mismatch says what to do.
///
/// ```
/// fn same<A: tower_chaos::MatchesError<B>, B>() {}
/// same::<tower::BoxError, tower::BoxError>();
/// ```
///
/// A `ChaosLayer` with the default `BoxError` on a service whose error
/// type is `Infallible` (as an axum `Router`): the message points to
/// `HttpChaosLayer`.
///
/// ```compile_fail,E0277
/// use tower::Layer;
/// use tower_chaos::ChaosLayer;
/// let chaos: ChaosLayer<u32> = ChaosLayer::builder("api").build().unwrap();
/// let svc = tower::service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n) });
/// let _ = chaos.layer(svc);
/// ```
///
/// With the error type inferred (or named), latency, hang and respond
/// faults need no error and wrap such a service:
///
/// ```
/// use tower::{Layer, ServiceExt};
/// use tower_chaos::{ChaosLayer, Fault};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let chaos = ChaosLayer::builder("api").seed(1).fault(Fault::respond(|n: &u32| n + 1)).build()?;
/// let svc = chaos.layer(tower::service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n) }));
/// assert_eq!(svc.oneshot(1).await?, 2);
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "this `ChaosLayer` injects errors of type `{E}`, but the service it wraps returns `{Self}`",
    label = "the layer's error type `{E}` is not the service's `{Self}`",
    note = "an HTTP stack (axum's `Router` returns `Infallible`) wants `tower_chaos::http::HttpChaosLayer`, whose faults are responses and which keeps the service's error type",
    note = "otherwise name the service's error type, `ChaosLayer<Request, {Self}>`, or let it be inferred (latency, hang and respond faults need no error)"
)]
pub trait MatchesError<E>: sealed::Same<E> {}

impl<E> MatchesError<E> for E {}

mod sealed {
    /// Keeps [`MatchesError`](super::MatchesError) to `E` itself: another
    /// impl would let a layer wrap a service whose faults it does not
    /// install.
    #[allow(unreachable_pub)] // sealed-trait pattern: public in a private module
    pub trait Same<E> {}

    impl<E> Same<E> for E {}
}

//! The target's entry points for connection faults: `io` brings its own
//! fault types to the target (which names no layer's types).

use super::{ConnFault, ConnInfo};
use crate::{FaultHandle, Target};

impl Target {
    /// A typed handle on the target's connection faults (what its
    /// connectors, listeners, proxies and streams read): a set of another
    /// kind does not compile.
    ///
    /// ```
    /// use tower_chaos::Target;
    /// use tower_chaos::io::{ConnFault, ConnFaultSet};
    ///
    /// let target = Target::builder("db").seed(1).build()?;
    /// let conn = target.conn_faults();
    /// conn.set(ConnFaultSet::new().with(ConnFault::refuse()))?;
    /// // No connector, listener or proxy of the target yet: reported.
    /// assert_eq!(target.report().unread_fault_sets.len(), 1);
    /// conn.clear();
    /// assert!(target.report().unread_fault_sets.is_empty());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn conn_faults(&self) -> FaultHandle<ConnFault, ConnInfo> {
        FaultHandle::new(self)
    }

    /// Removes the target's connection faults: new connections get none,
    /// live ones drop theirs at their next poll (see
    /// [`io`](crate::io#switching-at-run-time)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower::BoxError> {
    /// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
    /// use tower_chaos::Target;
    /// use tower_chaos::io::{ConnFault, ConnectFaultsLayer};
    ///
    /// let target = Target::builder("db").seed(1).build()?;
    /// let mut connector = ServiceBuilder::new()
    ///     .layer(ConnectFaultsLayer::for_target(&target))
    ///     .service(service_fn(|host: &'static str| async move { Ok::<_, tower::BoxError>(host) }));
    /// target.conn_faults().set(tower_chaos::FaultSet::new().with(ConnFault::refuse()))?;
    /// assert!(connector.ready().await?.call("db").await.is_err());
    ///
    /// target.clear_conn_faults();
    /// assert_eq!(connector.ready().await?.call("db").await?, "db");
    /// # Ok(()) }
    /// ```
    pub fn clear_conn_faults(&self) {
        self.conn_faults().clear();
    }
}

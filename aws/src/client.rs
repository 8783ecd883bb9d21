//! [`ChaosHttpClient`]: the SDK's `HttpClient` on hyper-util's client, with
//! a target's HTTP faults around it and its connection faults under it.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use http::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_chaos::http::{BodyFaultError, HttpChaos, Injected};
use tower_chaos::io::ChaosConnector;
use tower_chaos::{BoxError, ConfigError, FaultKind, Target};
use tower_service::Service;

use crate::classify::{TimedOut, to_connector_error};

/// An AWS SDK `HttpClient` that puts a [`Target`]'s faults inside the
/// SDK's HTTP client: its HTTP faults around every request (a synthesized
/// AWS error is parsed by the SDK and retried by its retry mode) and its
/// connection faults on every connection (a DNS failure, a refusal, a
/// reset reach the SDK as its `DispatchFailure`, with a
/// [`ConnectorError`] of the kind its own client would give).
///
/// Give it to a service config (`aws_sdk_dynamodb::Config::builder()
/// .http_client(client)`) or to an `aws_config` loader
/// (`aws_config::defaults(..).http_client(client)`); the
/// [crate docs](crate) show both and what each fault becomes.
///
/// Requests run on hyper-util's legacy client over plain HTTP/1 (TCP,
/// no TLS): point the SDK at a local endpoint (`endpoint_url`) such as
/// moto, DynamoDB Local or LocalStack. An `https` endpoint fails as a
/// `DispatchFailure` whose connector error [`is_io`](ConnectorError::is_io)
/// (hyper-util's connector refuses the scheme).
///
/// The SDK's connect and read timeouts (`TimeoutConfig::connect_timeout`,
/// `read_timeout`) apply on tokio's clock, around the connection faults: a
/// [`ConnFault::connect_hang`](tower_chaos::io::ConnFault::connect_hang)
/// ends as a connector error that [`is_timeout`](ConnectorError::is_timeout).
///
/// # Clone
///
/// Clones share everything: the targets, and one connection pool per
/// distinct pair of SDK timeouts (as the SDK's own client keeps).
///
/// # Example
///
/// ```
/// use tower_chaos::Target;
/// use tower_chaos_aws::ChaosHttpClient;
///
/// let target = Target::builder("dynamodb").seed(7).build()?;
/// let client = ChaosHttpClient::builder().http_faults(&target).conn_faults(&target).build()?;
/// let config = aws_sdk_dynamodb::Config::builder().http_client(client).build();
/// assert!(config.http_client().is_some());
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ChaosHttpClient {
    shared: Arc<Shared>,
}

struct Shared {
    http: Target,
    conn: Target,
    idle: Idle,
    /// One connector per distinct pair of timeouts the SDK asks for.
    connectors: RwLock<Vec<(Timeouts, SharedHttpConnector)>>,
}

/// How long connections are kept idle in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idle {
    /// hyper-util's default (90 s).
    Default,
    /// No idle connections: every request connects (and resolves).
    None,
    For(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    connect: Option<Duration>,
    read: Option<Duration>,
}

impl ChaosHttpClient {
    /// A builder: which targets' HTTP and connection faults apply, and how
    /// long connections stay idle.
    ///
    /// ```
    /// use tower_chaos::Target;
    /// use tower_chaos_aws::ChaosHttpClient;
    ///
    /// let target = Target::builder("dynamodb").seed(1).build()?;
    /// let client = ChaosHttpClient::builder().conn_faults(&target).build()?;
    /// assert_eq!(client.conn_target().name(), "dynamodb");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn builder() -> ChaosHttpClientBuilder {
        ChaosHttpClientBuilder::default()
    }

    /// The target whose HTTP faults apply to the SDK's requests (a target
    /// with none when the builder was given no
    /// [`http_faults`](ChaosHttpClientBuilder::http_faults)).
    ///
    /// ```
    /// use tower_chaos::Target;
    /// use tower_chaos_aws::ChaosHttpClient;
    ///
    /// let target = Target::builder("dynamodb").seed(1).build()?;
    /// let client = ChaosHttpClient::builder().http_faults(&target).build()?;
    /// assert_eq!(client.http_target().name(), "dynamodb");
    /// assert_eq!(client.conn_target().name(), "tower-chaos-aws (no faults)");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn http_target(&self) -> &Target {
        &self.shared.http
    }

    /// The target whose connection faults apply to the SDK's connections
    /// (a target with none when the builder was given no
    /// [`conn_faults`](ChaosHttpClientBuilder::conn_faults)).
    ///
    /// ```
    /// use tower_chaos::Target;
    /// use tower_chaos_aws::ChaosHttpClient;
    ///
    /// let target = Target::builder("dynamodb").seed(1).build()?;
    /// let client = ChaosHttpClient::builder().conn_faults(&target).build()?;
    /// assert_eq!(client.conn_target().report().connections, 0);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn conn_target(&self) -> &Target {
        &self.shared.conn
    }

    fn connector(&self, timeouts: Timeouts) -> SharedHttpConnector {
        // A poisoned lock only means another thread panicked while holding
        // it; the cache is still a valid list.
        let cached = |list: &[(Timeouts, SharedHttpConnector)]| {
            list.iter().find(|(t, _)| *t == timeouts).map(|(_, c)| c.clone())
        };
        if let Some(found) = cached(&self.shared.connectors.read().unwrap_or_else(|e| e.into_inner())) {
            return found;
        }
        let mut list = self.shared.connectors.write().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = cached(&list) {
            return found;
        }
        let connector = SharedHttpConnector::new(self.adapter(timeouts));
        list.push((timeouts, connector.clone()));
        connector
    }

    fn adapter(&self, timeouts: Timeouts) -> Adapter {
        let mut tcp = TcpConnector::new();
        tcp.set_nodelay(true);
        let connect = Connect {
            inner: ChaosConnector::new(tcp, &self.shared.conn),
            timeout: timeouts.connect,
        };
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_timer(TokioTimer::new());
        match self.shared.idle {
            Idle::Default => {}
            Idle::None => {
                builder.pool_max_idle_per_host(0);
            }
            Idle::For(idle) => {
                builder.pool_idle_timeout(idle);
            }
        }
        Adapter {
            client: HttpChaos::new(builder.build(connect), &self.shared.http),
            read_timeout: timeouts.read,
        }
    }
}

impl fmt::Debug for ChaosHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosHttpClient")
            .field("http_target", &self.shared.http.name())
            .field("conn_target", &self.shared.conn.name())
            .field("idle", &self.shared.idle)
            .finish_non_exhaustive()
    }
}

impl HttpClient for ChaosHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector(Timeouts {
            connect: settings.connect_timeout(),
            read: settings.read_timeout(),
        })
    }
}

/// Builds a [`ChaosHttpClient`]; from [`ChaosHttpClient::builder`].
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::Target;
/// use tower_chaos_aws::ChaosHttpClient;
///
/// let target = Target::builder("dynamodb").seed(1).build()?;
/// let client = ChaosHttpClient::builder()
///     .http_faults(&target)
///     .conn_faults(&target)
///     .pool_idle_timeout(Duration::ZERO) // every request connects and resolves
///     .build()?;
/// assert_eq!(client.http_target().name(), client.conn_target().name());
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ChaosHttpClientBuilder {
    http: Option<Target>,
    conn: Option<Target>,
    idle: Option<Duration>,
}

impl ChaosHttpClientBuilder {
    /// Applies `target`'s HTTP faults (`HttpFaultSet`, installed with
    /// `Target::set_faults`, at run time too) to every request the SDK
    /// sends, attempts of its retries included, as an `HttpChaosLayer`
    /// around the client would.
    ///
    /// ```
    /// use tower_chaos::Target;
    /// use tower_chaos::http::{HttpFaultSet, SyntheticResponse};
    /// use tower_chaos_aws::ChaosHttpClient;
    ///
    /// let target = Target::builder("dynamodb").seed(1).build()?;
    /// target.set_faults(HttpFaultSet::new().with(SyntheticResponse::aws_throttling()))?;
    /// let client = ChaosHttpClient::builder().http_faults(&target).build()?;
    /// assert_eq!(client.http_target().report().seen, 0);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn http_faults(mut self, target: &Target) -> Self {
        self.http = Some(target.clone());
        self
    }

    /// Applies `target`'s connection faults (`ConnFaultSet`) to every
    /// connection the client opens, as a `ChaosConnectorLayer` under it
    /// would: connect faults when it connects (and resolves), stream faults
    /// on the connection.
    ///
    /// ```
    /// use tower_chaos::Target;
    /// use tower_chaos::io::{ConnFault, ConnFaultSet};
    /// use tower_chaos_aws::ChaosHttpClient;
    ///
    /// let target = Target::builder("dynamodb").seed(1).build()?;
    /// target.set_faults(ConnFaultSet::new().with(ConnFault::dns_failure()))?;
    /// let client = ChaosHttpClient::builder().conn_faults(&target).build()?;
    /// assert_eq!(client.conn_target().name(), "dynamodb");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn conn_faults(mut self, target: &Target) -> Self {
        self.conn = Some(target.clone());
        self
    }

    /// How long a connection stays idle in the pool between requests
    /// (hyper-util's default: 90 s). `Duration::ZERO` keeps none: every
    /// request connects, so every request meets the connect faults (a DNS
    /// outage reaches each call, as it reaches a client whose provider
    /// recycles connections).
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = tower_chaos_aws::ChaosHttpClient::builder()
    ///     .pool_idle_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// assert!(format!("{client:?}").contains("30s"));
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// The client. A side given no target gets a target of its own with
    /// no faults, named `tower-chaos-aws (no faults)`.
    ///
    /// # Errors
    ///
    /// Only if that target cannot be built (it has a fixed seed and name,
    /// so this does not happen in practice): the [`ConfigError`].
    ///
    /// ```
    /// let client = tower_chaos_aws::ChaosHttpClient::builder().build()?;
    /// assert_eq!(client.http_target().seed(), 0);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn build(self) -> Result<ChaosHttpClient, ConfigError> {
        let none = || Target::builder("tower-chaos-aws (no faults)").seed(0).build();
        let http = match self.http {
            Some(t) => t,
            None => none()?,
        };
        let conn = match self.conn {
            Some(t) => t,
            None => none()?,
        };
        let idle = match self.idle {
            None => Idle::Default,
            Some(d) if d.is_zero() => Idle::None,
            Some(d) => Idle::For(d),
        };
        Ok(ChaosHttpClient {
            shared: Arc::new(Shared {
                http,
                conn,
                idle,
                connectors: RwLock::new(Vec::new()),
            }),
        })
    }
}

/// The connector under hyper-util's client: the target's connection
/// faults, then the SDK's connect timeout around them (so that a hanging
/// connect times out as it would against a real endpoint).
#[derive(Clone)]
struct Connect {
    inner: ChaosConnector<TcpConnector>,
    timeout: Option<Duration>,
}

type Connection = <ChaosConnector<TcpConnector> as Service<Uri>>::Response;
type ConnectFuture = Pin<Box<dyn Future<Output = Result<Connection, BoxError>> + Send>>;

impl Service<Uri> for Connect {
    type Response = Connection;
    type Error = BoxError;
    // Once per connection, not per request.
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        match self.timeout {
            None => Box::pin(connecting),
            Some(limit) => Box::pin(async move {
                match tokio::time::timeout(limit, connecting).await {
                    Ok(result) => result,
                    Err(_) => Err(TimedOut::connect(limit).into()),
                }
            }),
        }
    }
}

type Stack = HttpChaos<Client<Connect, SdkBody>>;

/// One pool: the SDK's requests through the HTTP faults into hyper-util's
/// client; errors classified as the SDK's own client classifies them.
#[derive(Clone)]
struct Adapter {
    client: Stack,
    read_timeout: Option<Duration>,
}

impl fmt::Debug for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adapter")
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl HttpConnector for Adapter {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(err) => return HttpConnectorFuture::ready(Err(ConnectorError::user(err.into()))),
        };
        let mut client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            poll_fn(|cx| client.poll_ready(cx))
                .await
                .map_err(to_connector_error)?;
            let responding = client.call(request);
            let response = match read_timeout {
                None => responding.await,
                Some(limit) => match tokio::time::timeout(limit, responding).await {
                    Ok(result) => result,
                    Err(_) => return Err(ConnectorError::timeout(TimedOut::read(limit).into())),
                },
            }
            .map_err(to_connector_error)?;
            if Injected::of(&response).is_some_and(|m| m.kind() == FaultKind::DropConnection) {
                // Over the wire hyper would report the connection closed
                // before a response ("incomplete message"), which the
                // SDK's own client makes a transient `other` error; the
                // response it stands for never reaches the SDK.
                return Err(ConnectorError::other(
                    BodyFaultError::connection_dropped().into(),
                    Some(ErrorKind::TransientError),
                ));
            }
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|err| ConnectorError::other(err.into(), None))
        })
    }
}

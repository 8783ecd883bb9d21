//! The server's proxies: each a [`Proxy`] of tower-chaos over its own
//! [`Target`] (named after the proxy), with the toxics installed on the
//! target as [`ConnFault`](tower_chaos::io::ConnFault) rules.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;
use tower_chaos::Target;
use tower_chaos::io::{ConnFaultSet, Proxy};

use crate::model::{ApiError, ProxyInput, ToxicInput, ToxicUpdate, parse_body};
use crate::toxics::Toxic;

/// Latency toxics one direction can stack: tower-chaos adds up to 4
/// latency rules per direction (`ConnFault`'s resolution order); a fifth
/// would have no effect, so it is refused.
const MAX_LATENCIES: usize = 4;

/// Where a proxy listens when its `listen` field is empty (toxiproxy: every
/// interface; here loopback only).
const DEFAULT_LISTEN: &str = "127.0.0.1:0";

/// The proxies of a `tower-chaos serve`, shared by every request (clones
/// share them).
///
/// Each proxy has its own [`Target`] named after it, seeded with the seed
/// given to [`Registry::new`] (or, without one, the target's own seed:
/// `TOWER_CHAOS_SEED` or a random one, logged), so a toxicity below 1
/// picks the same connections in every run with the same seed.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_chaos_cli::Registry;
///
/// let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let registry = Registry::new(Some(7));
/// let config = format!(r#"[{{"name": "db", "listen": "127.0.0.1:0", "upstream": "{}"}}]"#, upstream.local_addr()?);
/// assert_eq!(registry.populate(config.as_bytes()).await?, 1);
/// assert_eq!(registry.names().await, ["db"]);
/// // An empty array creates nothing and removes nothing.
/// assert_eq!(registry.populate(b"[]").await?, 0);
/// assert_eq!(registry.names().await, ["db"]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Registry {
    state: Arc<Mutex<BTreeMap<String, Entry>>>,
    seed: Option<u64>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// `POST /populate` or a `--config` file was refused: toxiproxy's error
/// message (`bad request body: ...`, `missing required field: name at proxy
/// 2`, a port that cannot be bound, ...). Proxies before the failing one
/// were created.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = tower_chaos_cli::Registry::new(None);
/// let err = registry.populate(br#"[{"name": "db"}]"#).await.unwrap_err();
/// assert_eq!(err.to_string(), "missing required field: upstream at proxy 1");
/// assert_eq!(err.status(), 400);
/// # }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PopulateError(ApiError);

impl PopulateError {
    /// The HTTP status toxiproxy answers with. See [`PopulateError`] for an
    /// example.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.0.status.as_u16()
    }
}

struct Entry {
    name: String,
    /// As given, then the address actually bound once started.
    listen: String,
    upstream: String,
    target: Target,
    /// In the order they were added.
    toxics: Vec<Toxic>,
    /// `None` until first started; kept (disabled) when stopped, so that it
    /// comes back on the same address with its counters.
    proxy: Option<Proxy>,
}

async fn resolve(field: &str, addr: &str) -> Result<SocketAddr, ApiError> {
    let addr = if addr.is_empty() { DEFAULT_LISTEN } else { addr };
    let found: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| ApiError::internal(&format_args!("{field} `{addr}`: {e}")))?
        .collect();
    // IPv4 first, as toxiproxy (Go) listens and dials.
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| found.first())
        .copied()
        .ok_or_else(|| ApiError::internal(&format_args!("{field} `{addr}`: no address")))
}

impl Entry {
    fn new(name: &str, listen: String, upstream: String, seed: Option<u64>) -> Result<Self, ApiError> {
        let builder = Target::builder(name);
        let builder = match seed {
            Some(s) => builder.seed(s),
            None => builder,
        };
        let target = builder
            .build()
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("name: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            listen,
            upstream,
            target,
            toxics: Vec::new(),
            proxy: None,
        })
    }

    fn enabled(&self) -> bool {
        self.proxy.as_ref().is_some_and(Proxy::is_enabled)
    }

    /// Listens and forwards; nothing when already up.
    async fn start(&mut self) -> Result<(), ApiError> {
        match &mut self.proxy {
            Some(p) if p.is_enabled() => Ok(()),
            Some(p) => p.enable().map_err(|e| ApiError::internal(&e)),
            None => {
                let listen = resolve("listen", &self.listen).await?;
                let upstream = resolve("upstream", &self.upstream).await?;
                let proxy = Proxy::spawn_at(listen, upstream, &self.target)
                    .map_err(|e| ApiError::internal(&format_args!("listen tcp {listen}: {e}")))?;
                self.listen = proxy.local_addr().to_string();
                self.proxy = Some(proxy);
                Ok(())
            }
        }
    }

    /// Stops listening and closes every connection; nothing when down.
    async fn stop(&mut self) {
        if let Some(p) = &mut self.proxy {
            p.disable().await;
        }
    }

    /// Whether `listen` (resolved) or `upstream` differ from this proxy's:
    /// toxiproxy then restarts it.
    async fn differs(&self, listen: &str, upstream: &str) -> Result<bool, ApiError> {
        Ok(
            resolve("listen", listen).await? != resolve("listen", &self.listen).await?
                || upstream != self.upstream,
        )
    }

    /// Upstream toxics, then downstream ones, each in the order added.
    fn ordered(&self) -> impl Iterator<Item = &Toxic> {
        let up = self.toxics.iter().filter(|t| t.is_upstream());
        up.chain(self.toxics.iter().filter(|t| !t.is_upstream()))
    }

    /// Installs `toxics` on the target; on error nothing changes.
    fn install(&mut self, toxics: Vec<Toxic>) -> Result<(), ApiError> {
        for upstream in [true, false] {
            let latencies = toxics
                .iter()
                .filter(|t| t.is_upstream() == upstream && t.type_name() == "latency")
                .count();
            if latencies > MAX_LATENCIES {
                return Err(ApiError::bad_body(&format_args!(
                    "type: at most {MAX_LATENCIES} latency toxics per stream (their delays add up)"
                )));
            }
        }
        let mut set = ConnFaultSet::new();
        let up = toxics.iter().filter(|t| t.is_upstream());
        for toxic in up.chain(toxics.iter().filter(|t| !t.is_upstream())) {
            if let Some(rule) = toxic.rule()? {
                set = set.with(rule);
            }
        }
        self.target
            .set_faults(set)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad request body: {e}")))?;
        self.toxics = toxics;
        Ok(())
    }

    fn find(&self, toxic: &str) -> Result<usize, ApiError> {
        self.toxics
            .iter()
            .position(|t| t.name == toxic)
            .ok_or_else(ApiError::toxic_not_found)
    }

    fn toxics_json(&self) -> Value {
        Value::Array(self.ordered().map(Toxic::to_json).collect())
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled(),
            "toxics": self.toxics_json(),
        })
    }

    /// Ours: the target's report and the proxy's counts.
    fn report_json(&self) -> Value {
        let r = self.target.report();
        let injected: Map<String, Value> = r
            .by_kind
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.as_str().to_owned(), json!(n)))
            .collect();
        let proxy = self.proxy.as_ref().map_or(Value::Null, |p| {
            let s = p.stats();
            json!({
                "accepted": s.accepted,
                "active": s.active,
                "upstream_failures": s.upstream_failures,
                "released": s.released,
                "bytes_upstream": s.bytes_upstream(),
                "bytes_downstream": s.bytes_downstream(),
            })
        });
        json!({
            "target": r.target,
            "seed": r.seed,
            "seed_source": r.seed_source.to_string(),
            "connections": r.connections,
            "faulted": r.faulted,
            "injected": injected,
            "active_faults": r.active_faults,
            "bytes_upstream": r.bytes_upstream,
            "bytes_downstream": r.bytes_downstream,
            "dropped_upstream": r.dropped_upstream,
            "dropped_downstream": r.dropped_downstream,
            "proxy": proxy,
            "summary": r.to_string(),
        })
    }
}

impl Registry {
    /// An empty registry; every proxy's target gets `seed` (see
    /// [`Registry`]).
    #[must_use]
    pub fn new(seed: Option<u64>) -> Self {
        Self {
            state: Arc::new(Mutex::new(BTreeMap::new())),
            seed,
        }
    }

    /// The proxies' names, sorted. See [`Registry`] for an example.
    pub async fn names(&self) -> Vec<String> {
        self.state.lock().await.keys().cloned().collect()
    }

    /// toxiproxy's `POST /populate` (and `-config` file): creates the
    /// proxies of a JSON array (`name`, `listen`, `upstream`, `enabled`
    /// defaulting to true); a proxy whose name exists is kept as it is
    /// when its `listen` and `upstream` are the same, replaced (stopped,
    /// toxics dropped) when they differ. Returns how many proxies were
    /// created or replaced. See [`Registry`] for an example.
    ///
    /// # Errors
    ///
    /// [`PopulateError`]: the JSON is not an array of proxies, a name or
    /// upstream is missing (nothing is created then), or a proxy cannot be
    /// started (those before it were).
    pub async fn populate(&self, json: &[u8]) -> Result<usize, PopulateError> {
        let (proxies, err) = self.populate_inner(json).await;
        match err {
            Some(e) => Err(PopulateError(e)),
            None => Ok(proxies.iter().filter(|(_, fresh)| *fresh).count()),
        }
    }

    /// The proxies populated (each with whether it was created or replaced)
    /// and the error that stopped it.
    async fn populate_inner(&self, json: &[u8]) -> (Vec<(Value, bool)>, Option<ApiError>) {
        let inputs: Vec<ProxyInput> = match parse_body(json) {
            Ok(i) => i,
            Err(e) => return (Vec::new(), Some(e)),
        };
        for (i, p) in inputs.iter().enumerate() {
            if p.name.is_empty() {
                return (
                    Vec::new(),
                    Some(ApiError::missing(&format!("name at proxy {}", i + 1))),
                );
            }
            if p.upstream.as_deref().unwrap_or_default().is_empty() {
                return (
                    Vec::new(),
                    Some(ApiError::missing(&format!("upstream at proxy {}", i + 1))),
                );
            }
        }
        let mut state = self.state.lock().await;
        let mut done = Vec::with_capacity(inputs.len());
        for p in inputs {
            let listen = p.listen.unwrap_or_default();
            let upstream = p.upstream.unwrap_or_default();
            if let Some(existing) = state.get_mut(&p.name) {
                match existing.differs(&listen, &upstream).await {
                    Ok(false) => {
                        done.push((existing.to_json(), false));
                        continue;
                    }
                    Ok(true) => existing.stop().await,
                    Err(e) => return (done, Some(e)),
                }
            }
            let mut entry = match Entry::new(&p.name, listen, upstream, self.seed) {
                Ok(e) => e,
                Err(e) => return (done, Some(e)),
            };
            if p.enabled.unwrap_or(true) {
                if let Err(e) = entry.start().await {
                    return (done, Some(e));
                }
            }
            done.push((entry.to_json(), true));
            state.insert(p.name, entry);
        }
        (done, None)
    }

    /// `POST /populate`'s answer: 201 and `{"proxies": [...]}`, or the
    /// error's status with its `error` and `status` fields beside the
    /// proxies populated before it.
    pub(crate) async fn populate_response(&self, json: &[u8]) -> (StatusCode, Value) {
        let (done, err) = self.populate_inner(json).await;
        let proxies = Value::Array(done.into_iter().map(|(p, _)| p).collect());
        match err {
            None => (StatusCode::CREATED, json!({ "proxies": proxies })),
            Some(e) => {
                let mut body = e.to_json();
                body["proxies"] = proxies;
                (e.status, body)
            }
        }
    }

    pub(crate) async fn list(&self) -> Value {
        let state = self.state.lock().await;
        Value::Object(state.iter().map(|(k, e)| (k.clone(), e.to_json())).collect())
    }

    pub(crate) async fn create(&self, input: ProxyInput) -> Result<Value, ApiError> {
        if input.name.is_empty() {
            return Err(ApiError::missing("name"));
        }
        let upstream = input.upstream.unwrap_or_default();
        if upstream.is_empty() {
            return Err(ApiError::missing("upstream"));
        }
        let mut state = self.state.lock().await;
        if state.contains_key(&input.name) {
            return Err(ApiError::proxy_exists());
        }
        let mut entry = Entry::new(&input.name, input.listen.unwrap_or_default(), upstream, self.seed)?;
        if input.enabled.unwrap_or(true) {
            entry.start().await?;
        }
        let json = entry.to_json();
        state.insert(input.name, entry);
        Ok(json)
    }

    /// Runs `f` on the proxy `name`, or answers `proxy not found`.
    async fn with<T>(
        &self,
        name: &str,
        f: impl AsyncFnOnce(&mut Entry) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut state = self.state.lock().await;
        let entry = state.get_mut(name).ok_or_else(ApiError::proxy_not_found)?;
        f(entry).await
    }

    pub(crate) async fn get(&self, name: &str) -> Result<Value, ApiError> {
        self.with(name, async |e| Ok(e.to_json())).await
    }

    /// toxiproxy's proxy update: a new `listen` or `upstream` restarts the
    /// proxy there (toxics kept); `enabled` takes it down or up.
    pub(crate) async fn update(&self, name: &str, input: ProxyInput) -> Result<Value, ApiError> {
        self.with(name, async |e| {
            let listen = input.listen.unwrap_or_else(|| e.listen.clone());
            let upstream = input.upstream.unwrap_or_else(|| e.upstream.clone());
            let enabled = input.enabled.unwrap_or_else(|| e.enabled());
            if e.differs(&listen, &upstream).await? {
                e.stop().await;
                // A new proxy over the same target: the toxics stay.
                e.proxy = None;
                e.listen = listen;
                e.upstream = upstream;
            }
            if enabled {
                e.start().await?;
            } else {
                e.stop().await;
            }
            Ok(e.to_json())
        })
        .await
    }

    pub(crate) async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let entry = self
            .state
            .lock()
            .await
            .remove(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        if let Some(p) = entry.proxy {
            p.shutdown().await;
        }
        Ok(())
    }

    /// toxiproxy's `POST /reset`: every proxy up, every toxic removed.
    pub(crate) async fn reset(&self) -> Result<(), ApiError> {
        let mut state = self.state.lock().await;
        for entry in state.values_mut() {
            entry.start().await?;
            entry.install(Vec::new())?;
        }
        Ok(())
    }

    pub(crate) async fn toxics(&self, name: &str) -> Result<Value, ApiError> {
        self.with(name, async |e| Ok(e.toxics_json())).await
    }

    pub(crate) async fn add_toxic(&self, name: &str, body: &[u8]) -> Result<Value, ApiError> {
        self.with(name, async |e| {
            let toxic = Toxic::create(parse_body::<ToxicInput>(body)?)?;
            if e.find(&toxic.name).is_ok() {
                return Err(ApiError::toxic_exists());
            }
            let json = toxic.to_json();
            let mut toxics = e.toxics.clone();
            toxics.push(toxic);
            e.install(toxics)?;
            Ok(json)
        })
        .await
    }

    pub(crate) async fn toxic(&self, name: &str, toxic: &str) -> Result<Value, ApiError> {
        self.with(name, async |e| Ok(e.toxics[e.find(toxic)?].to_json()))
            .await
    }

    pub(crate) async fn update_toxic(&self, name: &str, toxic: &str, body: &[u8]) -> Result<Value, ApiError> {
        self.with(name, async |e| {
            let i = e.find(toxic)?;
            let updated = e.toxics[i].updated(parse_body::<ToxicUpdate>(body)?)?;
            let json = updated.to_json();
            let mut toxics = e.toxics.clone();
            toxics[i] = updated;
            e.install(toxics)?;
            Ok(json)
        })
        .await
    }

    pub(crate) async fn remove_toxic(&self, name: &str, toxic: &str) -> Result<(), ApiError> {
        self.with(name, async |e| {
            let mut toxics = e.toxics.clone();
            toxics.remove(e.find(toxic)?);
            e.install(toxics)
        })
        .await
    }

    /// The address proxy `name` listens on, once it has started.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = tower_chaos_cli::Registry::new(Some(1));
    /// registry.populate(br#"[{"name": "db", "upstream": "127.0.0.1:9", "enabled": false}]"#).await?;
    /// assert_eq!(registry.listen("db").await, None); // not started
    /// registry.populate(br#"[{"name": "up", "upstream": "127.0.0.1:9"}]"#).await?;
    /// assert!(registry.listen("up").await.is_some_and(|a| a.ip().is_loopback() && a.port() != 0));
    /// # Ok(()) }
    /// ```
    pub async fn listen(&self, name: &str) -> Option<SocketAddr> {
        self.state
            .lock()
            .await
            .get(name)?
            .proxy
            .as_ref()
            .map(Proxy::local_addr)
    }

    /// The target of proxy `name`.
    pub(crate) async fn target(&self, name: &str) -> Option<Target> {
        self.state.lock().await.get(name).map(|e| e.target.clone())
    }

    /// Installs every proxy's toxics again (after a scenario replaced them).
    pub(crate) async fn reinstall_toxics(&self) {
        for entry in self.state.lock().await.values_mut() {
            if let Err(e) = entry.install(entry.toxics.clone()) {
                // They were installed before: the engine refuses them now only
                // if its limits changed under a running server.
                tracing::error!(target: "tower_chaos", proxy = %entry.name, error = %e, "cannot install the proxy's toxics again");
            }
        }
    }

    pub(crate) async fn report(&self, name: &str) -> Result<Value, ApiError> {
        self.with(name, async |e| Ok(e.report_json())).await
    }
}

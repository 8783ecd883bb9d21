//! A scenario as a Chaos Mesh `Workflow` (`chaos-mesh.org/v1alpha1`).
//!
//! The timeline becomes one `Parallel` entry whose children each wait
//! their offset (`Suspend` with a `deadline`) and then run one chaos for
//! its span (the chaos template's `deadline`: a workflow's chaos carries
//! no `duration`). HTTP faults become `HTTPChaos` on the provider's pods
//! and port, connection faults `NetworkChaos` (and `DNSChaos` on the
//! clients' pods for a DNS failure). What has no counterpart is listed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{
    ExportError, Gap, Gaps, Item, Stretch, Unexpressed, center_and_jitter, counted_triggers, items, slug,
    stretches,
};
use crate::Latency;
use crate::scenario::Scenario;
use crate::scenario::conditions::Conditions;

/// Pods selected by namespace and labels.
///
/// ```
/// use tower_chaos::scenario::export::Pods;
/// let pods = Pods::new("shop").label("app", "orders-db");
/// # let _ = pods;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pods {
    namespace: String,
    labels: BTreeMap<String, String>,
}

impl Pods {
    /// Every pod of `namespace` (narrow it with [`label`](Self::label)).
    ///
    /// ```
    /// let all = tower_chaos::scenario::export::Pods::new("shop");
    /// # let _ = all;
    /// ```
    #[must_use]
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            labels: BTreeMap::new(),
        }
    }

    /// Only the pods with label `key` = `value` (all labels must match).
    ///
    /// ```
    /// let pods = tower_chaos::scenario::export::Pods::new("shop").label("app", "api").label("tier", "edge");
    /// # let _ = pods;
    /// ```
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// The labels of a kubectl equality selector, `app=db,tier=edge`
    /// (`==` as `=`), added to these pods: what a command line takes.
    ///
    /// # Errors
    ///
    /// [`ExportError::Invalid`] naming `selector` and the part that is not
    /// `key=value` (set-based selectors and `!=` are not labels).
    ///
    /// ```
    /// use tower_chaos::scenario::export::{ExportError, Pods};
    /// let pods = Pods::new("shop").selector("app=db, tier==edge")?;
    /// assert_eq!(pods, Pods::new("shop").label("app", "db").label("tier", "edge"));
    /// let err = Pods::new("shop").selector("app!=db").unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `selector` = \"app!=db\": a label selector of `key=value` parts separated by commas");
    /// # Ok::<(), ExportError>(())
    /// ```
    pub fn selector(mut self, text: &str) -> Result<Self, ExportError> {
        for part in text.split(',') {
            let pair = part
                .split_once("==")
                .or_else(|| part.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim()))
                .filter(|(k, v)| label_text(k) && !k.is_empty() && label_text(v));
            match pair {
                Some((k, v)) => self.labels.insert(k.to_owned(), v.to_owned()),
                None => {
                    return Err(ExportError::Invalid {
                        field: "selector".to_owned(),
                        value: part.trim().to_owned(),
                        reason: "a label selector of `key=value` parts separated by commas".to_owned(),
                    });
                }
            };
        }
        Ok(self)
    }

    fn check(&self, field: &str) -> Result<(), ExportError> {
        dns_label(&format!("{field}.namespace"), &self.namespace)?;
        match self.labels.iter().find(|(k, _)| k.is_empty()) {
            Some((k, v)) => Err(ExportError::Invalid {
                field: format!("{field}.labels"),
                value: format!("{k}={v}"),
                reason: "a label key is not empty".to_owned(),
            }),
            None => Ok(()),
        }
    }

    fn to_selector(&self) -> Selector {
        Selector {
            namespaces: vec![self.namespace.clone()],
            label_selectors: self.labels.clone(),
        }
    }
}

/// Where one target of a scenario runs in the cluster: its pods, the port
/// `HTTPChaos` proxies, and for connection faults seen from the client
/// side (both directions, partitions, DNS) the clients' pods and the host
/// names they resolve for it.
///
/// ```
/// use tower_chaos::scenario::export::{ChaosMeshTarget, Pods};
/// let db = ChaosMeshTarget::new(Pods::new("shop").label("app", "db"))
///     .port(8000)
///     .clients(Pods::new("shop").label("app", "orders"))
///     .host("db.shop.svc.cluster.local");
/// # let _ = db;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaosMeshTarget {
    pods: Pods,
    port: Option<u16>,
    clients: Option<Pods>,
    hosts: Vec<String>,
}

impl ChaosMeshTarget {
    /// The target's pods: `HTTPChaos` and `NetworkChaos` select them.
    ///
    /// ```
    /// use tower_chaos::scenario::export::{ChaosMeshTarget, Pods};
    /// let t = ChaosMeshTarget::new(Pods::new("shop"));
    /// # let _ = t;
    /// ```
    #[must_use]
    pub const fn new(pods: Pods) -> Self {
        Self {
            pods,
            port: None,
            clients: None,
            hosts: Vec::new(),
        }
    }

    /// The port the pods serve HTTP on (`HTTPChaos`'s `port`); without
    /// it, HTTP faults are listed as dropped.
    ///
    /// ```
    /// use tower_chaos::scenario::export::{ChaosMeshTarget, Pods};
    /// let t = ChaosMeshTarget::new(Pods::new("shop")).port(8080);
    /// # let _ = t;
    /// ```
    #[must_use]
    pub const fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The pods of the target's clients: `NetworkChaos`'s `target` (so
    /// that faults can take the upstream direction, and partitions have a
    /// peer) and the pods whose lookups `DNSChaos` fails.
    ///
    /// ```
    /// use tower_chaos::scenario::export::{ChaosMeshTarget, Pods};
    /// let t = ChaosMeshTarget::new(Pods::new("shop")).clients(Pods::new("shop").label("app", "web"));
    /// # let _ = t;
    /// ```
    #[must_use]
    pub fn clients(mut self, pods: Pods) -> Self {
        self.clients = Some(pods);
        self
    }

    /// A host name the clients resolve for this target: `DNSChaos`'s
    /// `patterns` (a DNS failure with a `host` matcher uses that instead).
    ///
    /// ```
    /// use tower_chaos::scenario::export::{ChaosMeshTarget, Pods};
    /// let t = ChaosMeshTarget::new(Pods::new("shop")).host("dynamodb.us-east-1.amazonaws.com");
    /// # let _ = t;
    /// ```
    #[must_use]
    pub fn host(mut self, name: impl Into<String>) -> Self {
        self.hosts.push(name.into());
        self
    }

    fn check(&self, field: &str) -> Result<(), ExportError> {
        self.pods.check(&format!("{field}.pods"))?;
        if let Some(c) = &self.clients {
            c.check(&format!("{field}.clients"))?;
        }
        if self.port == Some(0) {
            return Err(ExportError::Invalid {
                field: format!("{field}.port"),
                value: "0".to_owned(),
                reason: "HTTPChaos proxies a port within 1..=65535".to_owned(),
            });
        }
        Ok(())
    }
}

/// Where the workflow goes and which pods each target is.
///
/// ```
/// use tower_chaos::scenario::export::{ChaosMeshOptions, ChaosMeshTarget, Pods};
/// let options = ChaosMeshOptions::new("chaos-testing")
///     .target("dynamodb", ChaosMeshTarget::new(Pods::new("shop").label("app", "dynamodb-proxy")).port(8000))
///     .all(ChaosMeshTarget::new(Pods::new("shop").label("app", "api")).port(8080));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaosMeshOptions {
    namespace: String,
    name: Option<String>,
    all: Option<ChaosMeshTarget>,
    targets: BTreeMap<String, ChaosMeshTarget>,
}

impl ChaosMeshOptions {
    /// The workflow lives in `namespace` (a DNS-1123 label).
    ///
    /// ```
    /// let o = tower_chaos::scenario::export::ChaosMeshOptions::new("chaos-testing");
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: None,
            all: None,
            targets: BTreeMap::new(),
        }
    }

    /// The workflow's name; by default the scenario's, made a DNS name
    /// (`aws-dynamodb-dns-2025`).
    ///
    /// ```
    /// let o = tower_chaos::scenario::export::ChaosMeshOptions::new("ns").name("friday-drill");
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The pods of the scenario's target `name`.
    ///
    /// ```
    /// use tower_chaos::scenario::export::{ChaosMeshOptions, ChaosMeshTarget, Pods};
    /// let o = ChaosMeshOptions::new("ns").target("db", ChaosMeshTarget::new(Pods::new("ns").label("app", "db")));
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn target(mut self, name: impl Into<String>, target: ChaosMeshTarget) -> Self {
        self.targets.insert(name.into(), target);
        self
    }

    /// The pods of every target not named with [`target`](Self::target).
    ///
    /// ```
    /// use tower_chaos::scenario::export::{ChaosMeshOptions, ChaosMeshTarget, Pods};
    /// let o = ChaosMeshOptions::new("ns").all(ChaosMeshTarget::new(Pods::new("ns")));
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn all(mut self, target: ChaosMeshTarget) -> Self {
        self.all = Some(target);
        self
    }

    fn for_target(&self, name: &str) -> Result<&ChaosMeshTarget, ExportError> {
        self.targets
            .get(name)
            .or(self.all.as_ref())
            .ok_or_else(|| ExportError::MissingTarget {
                engine: "chaos-mesh",
                target: name.to_owned(),
            })
    }

    fn check(&self) -> Result<(), ExportError> {
        dns_label("namespace", &self.namespace)?;
        if let Some(name) = &self.name {
            dns_label("name", name)?;
        }
        if let Some(all) = &self.all {
            all.check("all")?;
        }
        self.targets
            .iter()
            .try_for_each(|(name, t)| t.check(&format!("targets.{name}")))
    }
}

/// A scenario as a Chaos Mesh `Workflow`: the YAML to `kubectl apply`,
/// and what it could not express.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::export::{ChaosMeshOptions, ChaosMeshTarget, Pods, to_chaos_mesh};
/// use tower_chaos::scenario::{Phase, Scenario};
/// use tower_chaos::Latency;
///
/// let scenario = Scenario::builder("slow-db")
///     .phase(Phase::new("slow", "db").at(Duration::from_secs(30)).lasting(Duration::from_secs(60)).slow(Latency::fixed(Duration::from_millis(250))))
///     .build()?;
/// let export = to_chaos_mesh(&scenario, &ChaosMeshOptions::new("ns").all(ChaosMeshTarget::new(Pods::new("ns")).port(80)))?;
/// assert!(export.yaml.contains("delay: 250ms"), "{}", export.yaml);
/// assert!(export.unexpressed.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChaosMeshExport {
    /// The `Workflow` as YAML.
    pub yaml: String,
    /// What it could not express, in phase order.
    pub unexpressed: Vec<Unexpressed>,
}

/// Exports `scenario` as a Chaos Mesh `Workflow` in YAML, with the list of
/// what it could not express. The mapping, fault by fault, is in
/// `docs/EXPORTS.md`.
///
/// # Errors
///
/// [`ExportError::MissingTarget`] for a target of the scenario the options
/// do not place; [`ExportError::Invalid`] for a namespace or name that is
/// not a DNS label, an empty label key, or port 0; [`ExportError::Write`]
/// if the YAML writer fails.
///
/// ```
/// use tower_chaos::scenario::export::{ChaosMeshOptions, ChaosMeshTarget, ExportError, Pods, to_chaos_mesh};
/// use tower_chaos::scenario::presets;
///
/// let err = to_chaos_mesh(&presets::aws_s3_2017(), &ChaosMeshOptions::new("Not_A_Label")).unwrap_err();
/// assert!(matches!(err, ExportError::Invalid { ref field, .. } if field == "namespace"));
/// let export = to_chaos_mesh(&presets::aws_s3_2017(), &ChaosMeshOptions::new("ns").all(ChaosMeshTarget::new(Pods::new("ns")).port(9000)))?;
/// assert!(export.yaml.contains("templateType: HTTPChaos"));
/// # Ok::<(), ExportError>(())
/// ```
pub fn to_chaos_mesh(
    scenario: &Scenario,
    options: &ChaosMeshOptions,
) -> Result<ChaosMeshExport, ExportError> {
    options.check()?;
    for target in scenario.targets() {
        options.for_target(target)?;
    }
    let mut gaps = Gaps::default();
    let mut runs: Vec<Run> = Vec::new();
    for stretch in stretches(scenario) {
        let target = options.for_target(&stretch.phase.target)?;
        for (j, item) in items(stretch.faults, stretch.prefix).iter().enumerate() {
            let base = format!(
                "{}-{}-{}-{j}",
                slug(&stretch.phase.name, 40, "phase"),
                stretch.index,
                stretch.nth
            );
            emit(&stretch, item, target, &base, &mut gaps, &mut runs);
        }
    }
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| slug(&scenario.name, 63, "scenario"));
    let workflow = workflow(name, options.namespace.clone(), scenario.duration, runs);
    let yaml = serde_norway::to_string(&workflow).map_err(|e| ExportError::Write {
        engine: "chaos-mesh",
        message: e.to_string(),
    })?;
    Ok(ChaosMeshExport {
        yaml,
        unexpressed: gaps.into_vec(),
    })
}

/// One chaos run: when, and what.
struct Run {
    name: String,
    start: Duration,
    end: Duration,
    chaos: Chaos,
}

/// The chaos of one item, or why it has none.
type Mapped = Result<Vec<Chaos>, String>;

fn emit(
    stretch: &Stretch<'_>,
    item: &Item<'_>,
    target: &ChaosMeshTarget,
    base: &str,
    gaps: &mut Gaps,
    runs: &mut Vec<Run>,
) {
    let phase = stretch.phase;
    let conditions = item.conditions();
    if let Some(reason) = untriggerable(conditions, phase.ramp) {
        gaps.push(phase, &item.label, Gap::Dropped, reason);
        return;
    }
    let Some((start, end)) = stretch.active(conditions) else {
        return;
    };
    let mut notes = Vec::new();
    match map(item, target, &mut notes) {
        Ok(chaos) => {
            for reason in notes {
                gaps.push(phase, &item.label, Gap::Approximated, reason);
            }
            for (k, chaos) in chaos.into_iter().enumerate() {
                runs.push(Run {
                    name: format!("{base}-{k}"),
                    start,
                    end,
                    chaos,
                });
            }
        }
        Err(reason) => gaps.push(phase, &item.label, Gap::Dropped, reason),
    }
}

/// Why a fault's trigger cannot be said in Chaos Mesh, which injects into
/// every request or packet of the selected pods for the chaos' span.
fn untriggerable(conditions: Option<&Conditions>, ramp: Option<(f64, f64)>) -> Option<String> {
    let counted = conditions.map(counted_triggers).unwrap_or_default();
    if !counted.is_empty() {
        return Some(format!(
            "Chaos Mesh injects into every request or packet of the selected pods; it has no {}",
            counted.join(", ")
        ));
    }
    let no_rate = "Chaos Mesh has no percentage of requests, connections or lookups (NetworkChaos's `loss` is of packets)";
    if let Some(p) = conditions.and_then(|c| c.rate).filter(|p| *p < 1.0) {
        return Some(format!("{no_rate}: rate {p}"));
    }
    match ramp {
        Some((from, to)) if from < 1.0 || to < 1.0 => Some(format!("{no_rate}: ramp {from} → {to}")),
        _ => None,
    }
}

fn map(item: &Item<'_>, target: &ChaosMeshTarget, notes: &mut Vec<String>) -> Mapped {
    use super::Described;
    match &item.fault {
        Described::Down => one(replace_code(target, 503, BTreeMap::new(), None, notes)),
        Described::Slow(l) => one(delay(target, Side::Request, *l, notes)),
        Described::Request(r) => {
            let (name, latency, _) = r.parts();
            one(match (name, latency) {
                ("latency", Some(l)) => delay(target, Side::Request, l, notes),
                ("latency_after", Some(l)) => delay(target, Side::Response, l, notes),
                ("error", _) => replace_code(target, 503, BTreeMap::new(), None, notes),
                // A one-day delay, as `Rehearsal::bind_http` hangs.
                ("hang", _) => delay(
                    target,
                    Side::Request,
                    Latency::fixed(Duration::from_secs(86_400)),
                    notes,
                ),
                // A lost reply: the pods answered, the caller sees none.
                _ => abort(target, Side::Response),
            })
        }
        #[cfg(feature = "http")]
        Described::Http(spec) => http::map(spec, target, notes),
        #[cfg(feature = "io")]
        Described::Conn(spec) => connection::map(spec, target, notes),
        Described::Code => Err(super::CODE_RULE.to_owned()),
    }
}

/// One HTTPChaos, or why there is none.
fn one(chaos: Result<HttpChaos, String>) -> Mapped {
    chaos.map(|c| vec![Chaos::Http(c)])
}

#[derive(Clone, Copy)]
enum Side {
    Request,
    Response,
}

impl Side {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Request => "Request",
            Self::Response => "Response",
        }
    }
}

/// The port HTTPChaos needs.
fn port(target: &ChaosMeshTarget) -> Result<u16, String> {
    target.port.ok_or_else(|| {
        "HTTPChaos needs the port the pods serve HTTP on: set `ChaosMeshTarget::port`".to_owned()
    })
}

fn http_chaos(target: &ChaosMeshTarget, side: Side) -> Result<HttpChaos, String> {
    Ok(HttpChaos {
        mode: "all",
        selector: target.pods.to_selector(),
        target: side.as_str(),
        port: port(target)?,
        path: None,
        method: None,
        request_headers: BTreeMap::new(),
        abort: None,
        delay: None,
        replace: None,
    })
}

fn delay(
    target: &ChaosMeshTarget,
    side: Side,
    l: Latency,
    notes: &mut Vec<String>,
) -> Result<HttpChaos, String> {
    let (d, jitter, exact) = center_and_jitter(l);
    if !exact || jitter > Duration::ZERO {
        notes.push(format!(
            "HTTPChaos delays by a fixed duration: {} for a {}",
            go_duration(d),
            super::describe(l)
        ));
    }
    let mut chaos = http_chaos(target, side)?;
    chaos.delay = Some(go_duration(d));
    Ok(chaos)
}

fn abort(target: &ChaosMeshTarget, side: Side) -> Result<HttpChaos, String> {
    let mut chaos = http_chaos(target, side)?;
    chaos.abort = Some(true);
    Ok(chaos)
}

/// The pods' response, its status (and headers and body) replaced.
fn replace_code(
    target: &ChaosMeshTarget,
    code: u16,
    headers: BTreeMap<String, String>,
    body: Option<&[u8]>,
    notes: &mut Vec<String>,
) -> Result<HttpChaos, String> {
    notes.push(format!(
        "the request still reaches the pods: HTTPChaos replaces their response's status with {code} \
         (tower-chaos answers without calling the provider)"
    ));
    let mut chaos = http_chaos(target, Side::Response)?;
    chaos.replace = Some(Replace {
        code: Some(code),
        headers,
        body: body.filter(|b| !b.is_empty()).map(base64),
    });
    Ok(chaos)
}

#[cfg(feature = "http")]
mod http {
    //! The `http` tables of a phase as `HTTPChaos`.

    use std::collections::BTreeMap;

    use super::{Chaos, ChaosMeshTarget, Mapped, Side, abort, delay, replace_code};
    use crate::http::HttpFault;
    use crate::scenario::http_spec::{HttpFaultName, HttpSpec};

    pub(super) fn map(spec: &HttpSpec, target: &ChaosMeshTarget, notes: &mut Vec<String>) -> Mapped {
        let form = &spec.form;
        if form.grpc_service.is_some() || form.grpc_method.is_some() {
            return Err("HTTPChaos proxies HTTP/1 and cannot match gRPC services or methods".to_owned());
        }
        let mut chaos = match (form.fault, spec.fault()) {
            (HttpFaultName::Grpc, _) => {
                return Err(
                    "HTTPChaos proxies HTTP/1: it cannot answer with a gRPC status in trailers".to_owned(),
                );
            }
            (_, HttpFault::Respond(response)) => {
                let headers: BTreeMap<String, String> = response
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                replace_code(
                    target,
                    response.status().as_u16(),
                    headers,
                    Some(response.body_bytes()),
                    notes,
                )?
            }
            (_, HttpFault::DropConnection) => abort(target, Side::Request)?,
            (_, HttpFault::Latency(l)) => delay(target, Side::Request, *l, notes)?,
            (_, HttpFault::ResponseBody(_)) => match &form.body {
                Some(b)
                    if b.truncate_after.is_none()
                        && b.stall_after.is_none()
                        && b.abort_after.is_none()
                        && b.throttle.is_none() =>
                {
                    let first = crate::Latency::fixed(b.delay_first_byte.unwrap_or_default());
                    delay(target, Side::Response, first, notes)?
                }
                _ => {
                    return Err(
                        "HTTPChaos cannot truncate, stall, abort or throttle a response body".to_owned(),
                    );
                }
            },
        };
        if let Some(p) = &form.path {
            chaos.path = Some(p.clone());
        } else if let Some(p) = &form.path_prefix {
            chaos.path = Some(format!("{p}*"));
        } else if let Some(g) = &form.path_glob {
            notes.push(format!(
                "path glob {g:?} as HTTPChaos's `path` wildcard, whose `*` also matches `/`"
            ));
            chaos.path = Some(g.clone());
        }
        if let Some(h) = &form.host {
            chaos.request_headers.insert("Host".to_owned(), h.clone());
        }
        for h in &form.header {
            match h.split_once(':') {
                Some((name, value)) => {
                    chaos
                        .request_headers
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
                None => {
                    return Err(format!(
                        "HTTPChaos matches header values exactly; the presence of `{}` cannot be said",
                        h.trim()
                    ));
                }
            }
        }
        if form.method.is_empty() {
            return Ok(vec![Chaos::Http(chaos)]);
        }
        // One chaos per method: HTTPChaos matches one.
        Ok(form
            .method
            .iter()
            .map(|m| {
                let mut one = chaos.clone();
                one.method = Some(m.as_str().to_owned());
                Chaos::Http(one)
            })
            .collect())
    }
}

#[cfg(feature = "io")]
mod connection {
    //! The `connection` tables of a phase as `NetworkChaos` and
    //! `DNSChaos`.

    use super::{
        Bandwidth, Chaos, ChaosMeshTarget, Delay, DnsChaos, Mapped, NetworkChaos, PodSelector, go_duration,
    };
    use crate::io::{Direction, Onset};
    use crate::scenario::conn_spec::{ConnFaultName, ConnSpec};
    use crate::scenario::export::{center_and_jitter, latency_reason};

    const NEEDS_CLIENTS: &str =
        "needs the clients' pods as NetworkChaos's `target`: set `ChaosMeshTarget::clients`";

    pub(super) fn map(spec: &ConnSpec, target: &ChaosMeshTarget, notes: &mut Vec<String>) -> Mapped {
        let form = &spec.form;
        if form.fault != ConnFaultName::DnsFailure && (form.host.is_some() || form.port.is_some()) {
            return Err("NetworkChaos cannot match the host or port a connection was made to".to_owned());
        }
        let dir = form.direction.unwrap_or(Direction::Both);
        let immediately = matches!(form.onset, None | Some(Onset::Immediately));
        let chaos = match form.fault {
            ConnFaultName::Latency => {
                let l = form.latency.ok_or("a latency without its latency")?;
                let (d, jitter, exact) = center_and_jitter(l);
                if !exact {
                    notes.push(latency_reason(l, "NetworkChaos"));
                }
                let mut chaos = network(target, "delay", dir)?;
                chaos.delay = Some(Delay {
                    latency: go_duration(d),
                    jitter: (jitter > std::time::Duration::ZERO).then(|| go_duration(jitter)),
                });
                chaos
            }
            ConnFaultName::Bandwidth => {
                let bps = form.bytes_per_second.ok_or("a bandwidth without its rate")?;
                match dir {
                    Direction::Downstream => {}
                    Direction::Both => notes.push(
                        "NetworkChaos's bandwidth shapes the pods' egress: only server → client is limited"
                            .to_owned(),
                    ),
                    Direction::Upstream => {
                        return Err(
                            "NetworkChaos's bandwidth shapes the pods' egress (server → client), not upstream"
                                .to_owned(),
                        );
                    }
                }
                let mut chaos = network(target, "bandwidth", Direction::Downstream)?;
                chaos.bandwidth = Some(Bandwidth {
                    rate: format!("{bps}bps"),
                    limit: BANDWIDTH_LIMIT,
                    buffer: BANDWIDTH_BUFFER,
                });
                chaos
            }
            ConnFaultName::ConnectHang => {
                notes.push(
                    "a partition between the pods and their clients: connections already open stall too"
                        .to_owned(),
                );
                partition(target, Direction::Both)?
            }
            ConnFaultName::Stall | ConnFaultName::Blackhole if immediately => {
                notes.push(
                    "a partition: packets are dropped and TCP retransmits them once it ends, for every \
                     connection at once (not per connection)"
                        .to_owned(),
                );
                partition(target, dir)?
            }
            ConnFaultName::Stall | ConnFaultName::Blackhole => {
                return Err(
                    "NetworkChaos starts a partition for every connection at once, not after an onset"
                        .to_owned(),
                );
            }
            ConnFaultName::Refuse => {
                return Err(
                    "NetworkChaos cannot refuse connections (a partition makes connects hang)".to_owned(),
                );
            }
            ConnFaultName::SlowConnect => {
                return Err(
                    "NetworkChaos cannot delay the handshake alone (a delay slows every packet)".to_owned(),
                );
            }
            ConnFaultName::Slice => return Err("NetworkChaos cannot slice writes".to_owned()),
            ConnFaultName::Truncate => {
                return Err("NetworkChaos cannot close a connection after a number of bytes".to_owned());
            }
            ConnFaultName::Reset => return Err("NetworkChaos cannot reset connections".to_owned()),
            ConnFaultName::Timeout => {
                return Err("NetworkChaos cannot close a connection after a timeout".to_owned());
            }
            ConnFaultName::SlowClose => return Err("NetworkChaos cannot delay a close".to_owned()),
            ConnFaultName::DnsFailure => return dns(spec, target),
            #[cfg(feature = "tls")]
            ConnFaultName::TlsAlert
            | ConnFaultName::TlsStall
            | ConnFaultName::TlsExpiredCertificate
            | ConnFaultName::TlsWrongHost
            | ConnFaultName::TlsUntrustedIssuer
            | ConnFaultName::TlsRotated => {
                return Err(
                    "Chaos Mesh has no TLS fault: it cannot present a certificate or answer a handshake"
                        .to_owned(),
                );
            }
        };
        Ok(vec![Chaos::Network(chaos)])
    }

    /// `tc`'s queue (bytes waiting for tokens) and bucket (bytes sent at
    /// once) for a bandwidth limit: the sizes Chaos Mesh's examples use.
    const BANDWIDTH_LIMIT: u32 = 20_971_520;
    const BANDWIDTH_BUFFER: u32 = 10_000;

    /// A NetworkChaos of `action` on the pods, in `dir`: downstream is
    /// the pods' egress (`to`); upstream (`from`) and both need the
    /// clients as the target.
    fn network(
        target: &ChaosMeshTarget,
        action: &'static str,
        dir: Direction,
    ) -> Result<NetworkChaos, String> {
        let direction = match dir {
            Direction::Downstream => "to",
            Direction::Upstream => "from",
            Direction::Both => "both",
        };
        let peer = target.clients.as_ref().map(|c| PodSelector {
            mode: "all",
            selector: c.to_selector(),
        });
        if peer.is_none() && direction != "to" {
            return Err(format!("{} {NEEDS_CLIENTS}", dir_name(dir)));
        }
        Ok(NetworkChaos {
            mode: "all",
            selector: target.pods.to_selector(),
            action,
            direction,
            target: peer,
            delay: None,
            bandwidth: None,
        })
    }

    fn partition(target: &ChaosMeshTarget, dir: Direction) -> Result<NetworkChaos, String> {
        if target.clients.is_none() {
            return Err(format!("a partition {NEEDS_CLIENTS}"));
        }
        network(target, "partition", dir)
    }

    const fn dir_name(dir: Direction) -> &'static str {
        match dir {
            Direction::Upstream => "the upstream direction",
            Direction::Downstream => "the downstream direction",
            Direction::Both => "both directions",
        }
    }

    /// A DNS failure: `DNSChaos` `error` on the clients' pods, for the
    /// host it matches or the target's host names.
    fn dns(spec: &ConnSpec, target: &ChaosMeshTarget) -> Mapped {
        let Some(clients) = &target.clients else {
            return Err(
                "DNSChaos fails the lookups of the clients' pods: set `ChaosMeshTarget::clients`".to_owned(),
            );
        };
        if spec.form.port.is_some() {
            return Err("DNSChaos cannot match a port".to_owned());
        }
        let patterns = match &spec.form.host {
            Some(h) => vec![h.clone()],
            None if target.hosts.is_empty() => {
                return Err(
                    "DNSChaos needs the host names the clients resolve: set `ChaosMeshTarget::host`"
                        .to_owned(),
                );
            }
            None => target.hosts.clone(),
        };
        Ok(vec![Chaos::Dns(DnsChaos {
            mode: "all",
            selector: clients.to_selector(),
            action: "error",
            patterns,
        })])
    }
}

/// A duration in Go's syntax as Chaos Mesh reads it, in one unit so that
/// the CRD's pattern `^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$` holds: the
/// largest of `h`, `m`, `s`, `ms`, `us`, `ns` that divides it.
///
/// ```text
/// 90 s → "90s", 2 h 37 min → "157m", 1.5 s → "1500ms", 0 → "0s"
/// ```
pub(super) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    const UNITS: [(u128, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let (size, unit) = UNITS
        .into_iter()
        .find(|(size, _)| nanos % size == 0)
        .unwrap_or((1, "ns"));
    format!("{}{unit}", nanos / size)
}

/// Standard base64 with padding: how Kubernetes writes `[]byte` fields
/// (`format: byte`).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Characters a label key (with its `prefix/`) or value may hold.
fn label_text(s: &str) -> bool {
    s.len() <= 316
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

fn dns_label(field: &str, value: &str) -> Result<(), ExportError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ExportError::Invalid {
            field: field.to_owned(),
            value: value.to_owned(),
            reason: "a Kubernetes name: at most 63 lowercase letters, digits and `-`, starting and ending \
                     with a letter or digit"
                .to_owned(),
        })
    }
}

/// The workflow: a `Parallel` entry with one child per run (a `Serial` of
/// a `Suspend` for its offset and the chaos, or the chaos alone at offset
/// zero) and a `Suspend` that lasts the scenario, so the workflow does
/// too.
fn workflow(name: String, namespace: String, duration: Duration, runs: Vec<Run>) -> Workflow {
    let entry = "entry".to_owned();
    let end = "scenario-end".to_owned();
    let mut children = Vec::with_capacity(runs.len() + 1);
    let mut templates = Vec::with_capacity(2 * runs.len() + 2);
    for run in runs {
        let chaos = |name: String| {
            let mut t = Template::new(name, run.chaos.kind());
            t.deadline = Some(go_duration(run.end - run.start));
            match &run.chaos {
                Chaos::Http(c) => t.http_chaos = Some(c.clone()),
                Chaos::Network(c) => t.network_chaos = Some(c.clone()),
                Chaos::Dns(c) => t.dns_chaos = Some(c.clone()),
            }
            t
        };
        if run.start.is_zero() {
            templates.push(chaos(run.name.clone()));
        } else {
            let (wait, act) = (format!("{}-wait", run.name), format!("{}-run", run.name));
            let mut serial = Template::new(run.name.clone(), "Serial");
            serial.children = vec![wait.clone(), act.clone()];
            let mut suspend = Template::new(wait, "Suspend");
            suspend.deadline = Some(go_duration(run.start));
            templates.extend([serial, suspend, chaos(act)]);
        }
        children.push(run.name);
    }
    let mut tail = Template::new(end.clone(), "Suspend");
    tail.deadline = Some(go_duration(duration));
    children.push(end);
    let mut parallel = Template::new(entry.clone(), "Parallel");
    parallel.children = children;
    templates.insert(0, parallel);
    templates.push(tail);
    Workflow {
        api_version: "chaos-mesh.org/v1alpha1",
        kind: "Workflow",
        metadata: Metadata { name, namespace },
        spec: WorkflowSpec { entry, templates },
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Workflow {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: WorkflowSpec,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    namespace: String,
}

#[derive(Serialize)]
struct WorkflowSpec {
    entry: String,
    templates: Vec<Template>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Template {
    name: String,
    template_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deadline: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    children: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_chaos: Option<HttpChaos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_chaos: Option<NetworkChaos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_chaos: Option<DnsChaos>,
}

impl Template {
    const fn new(name: String, template_type: &'static str) -> Self {
        Self {
            name,
            template_type,
            deadline: None,
            children: Vec::new(),
            http_chaos: None,
            network_chaos: None,
            dns_chaos: None,
        }
    }
}

enum Chaos {
    Http(HttpChaos),
    // Without `io`, only HTTP faults are read.
    #[cfg_attr(not(feature = "io"), allow(dead_code))]
    Network(NetworkChaos),
    #[cfg_attr(not(feature = "io"), allow(dead_code))]
    Dns(DnsChaos),
}

impl Chaos {
    const fn kind(&self) -> &'static str {
        match self {
            Self::Http(_) => "HTTPChaos",
            Self::Network(_) => "NetworkChaos",
            Self::Dns(_) => "DNSChaos",
        }
    }
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Selector {
    namespaces: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    label_selectors: BTreeMap<String, String>,
}

#[derive(Serialize, Clone)]
struct PodSelector {
    mode: &'static str,
    selector: Selector,
}

#[derive(Serialize, Clone)]
struct HttpChaos {
    mode: &'static str,
    selector: Selector,
    target: &'static str,
    port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    request_headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    abort: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replace: Option<Replace>,
}

#[derive(Serialize, Clone)]
struct Replace {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

#[derive(Serialize, Clone)]
struct NetworkChaos {
    mode: &'static str,
    selector: Selector,
    action: &'static str,
    direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<PodSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<Delay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bandwidth: Option<Bandwidth>,
}

#[derive(Serialize, Clone)]
struct Delay {
    latency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    jitter: Option<String>,
}

#[derive(Serialize, Clone)]
struct Bandwidth {
    rate: String,
    limit: u32,
    buffer: u32,
}

#[derive(Serialize, Clone)]
struct DnsChaos {
    mode: &'static str,
    selector: Selector,
    action: &'static str,
    patterns: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_largest_unit_that_divides_them() {
        let d = Duration::from_millis;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(d(90_000)), "90s");
        assert_eq!(go_duration(Duration::from_secs(157 * 60)), "157m");
        assert_eq!(go_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(go_duration(d(1500)), "1500ms");
        assert_eq!(go_duration(Duration::from_nanos(1_001)), "1001ns");
    }

    #[test]
    fn base64_pads_as_kubernetes_byte_fields() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }
}

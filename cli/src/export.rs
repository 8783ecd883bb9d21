//! `tower-chaos export`: a scenario file as the engines teams run in
//! staging take it (Chaos Mesh, toxiproxy), from the command line's
//! options. The mapping itself is `tower_chaos::scenario::export`.

use tower_chaos::scenario::Scenario;
use tower_chaos::scenario::export::{
    ChaosMeshOptions, ChaosMeshTarget, ExportError, Pods, ToxiproxyOptions, Unexpressed, to_chaos_mesh,
    to_toxiproxy,
};

/// Where a Chaos Mesh export places the scenario's targets (the options
/// of `tower-chaos export --to chaos-mesh`).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ChaosMeshPlacement {
    /// Chaos Mesh: the namespace of the workflow and of the pods.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Chaos Mesh: the pods of every target not given by `--target`, as
    /// kubectl's equality selector (`app=provider,tier=edge`).
    #[arg(long)]
    pub pods: Option<String>,
    /// Chaos Mesh: the pods of one target, `NAME=SELECTOR`
    /// (`db=app=postgres`); repeatable.
    #[arg(long = "target", value_parser = split_target)]
    pub targets: Vec<(String, String)>,
    /// Chaos Mesh: the port the targets serve HTTP on (`HTTPChaos`).
    #[arg(long)]
    pub port: Option<u16>,
    /// Chaos Mesh: the pods of the targets' clients, as a selector.
    #[arg(long)]
    pub clients: Option<String>,
    /// Chaos Mesh: a host name the clients resolve (`DNSChaos`);
    /// repeatable.
    #[arg(long = "host")]
    pub hosts: Vec<String>,
}

/// `NAME=SELECTOR`, split at the first `=`.
fn split_target(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, selector)) if !name.is_empty() && !selector.is_empty() => {
            Ok((name.to_owned(), selector.to_owned()))
        }
        _ => Err(format!("`{text}`: expected NAME=SELECTOR, e.g. db=app=postgres")),
    }
}

/// Exports `scenario` as a Chaos Mesh `Workflow` (YAML) placed by
/// `placement`, with what it could not express.
///
/// # Errors
///
/// A selector or option that does not fit, or a target with no pods.
///
/// ```
/// use tower_chaos::scenario::{Format, Scenario};
/// use tower_chaos_cli::{ChaosMeshPlacement, export_chaos_mesh};
///
/// let scenario = Scenario::parse(r#"
/// name = "slow-db"
/// duration = "2m"
/// [[phases]]
/// name = "slow"
/// target = "db"
/// at = "30s"
/// for = "1m"
/// [[phases.connection]]
/// fault = "latency"
/// latency = "200ms"
/// "#, Format::Toml)?;
/// let placement = ChaosMeshPlacement {
///     namespace: "shop".into(),
///     pods: Some("app=db".into()),
///     clients: Some("app=web".into()),
///     ..ChaosMeshPlacement::default()
/// };
/// let (yaml, unexpressed) = export_chaos_mesh(&scenario, &placement)?;
/// assert!(yaml.contains("kind: Workflow") && yaml.contains("latency: 200ms"));
/// assert!(unexpressed.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_chaos_mesh(
    scenario: &Scenario,
    placement: &ChaosMeshPlacement,
) -> Result<(String, Vec<Unexpressed>), ExportError> {
    let ns = &placement.namespace;
    let place = |selector: &str| -> Result<ChaosMeshTarget, ExportError> {
        let mut target = ChaosMeshTarget::new(Pods::new(ns.clone()).selector(selector)?);
        if let Some(port) = placement.port {
            target = target.port(port);
        }
        if let Some(clients) = &placement.clients {
            target = target.clients(Pods::new(ns.clone()).selector(clients)?);
        }
        Ok(placement.hosts.iter().fold(target, |t, h| t.host(h.clone())))
    };
    let mut options = ChaosMeshOptions::new(ns.clone());
    if let Some(pods) = &placement.pods {
        options = options.all(place(pods)?);
    }
    for (name, selector) in &placement.targets {
        options = options.target(name.clone(), place(selector)?);
    }
    let export = to_chaos_mesh(scenario, &options)?;
    Ok((export.yaml, export.unexpressed))
}

/// Exports `scenario` for toxiproxy, one proxy per target given as
/// `(target, listen, upstream)`: one JSON object with `populate` (the
/// proxies, for `toxiproxy-server -config` or `POST /populate`) and
/// `timeline` (the API calls that play the phases), with what it could
/// not express.
///
/// # Errors
///
/// An address that is not `host:port`, or a target with no proxy.
///
/// ```
/// use tower_chaos::scenario::{Format, Scenario};
/// use tower_chaos_cli::export_toxiproxy;
///
/// let scenario = Scenario::parse(r#"
/// name = "cut-db"
/// duration = "2m"
/// [[phases]]
/// name = "cut"
/// target = "db"
/// at = "30s"
/// for = "1m"
/// [[phases.connection]]
/// fault = "truncate"
/// bytes = 1024
/// "#, Format::Toml)?;
/// let proxies = [("db".to_owned(), "127.0.0.1:15432".to_owned(), "db:5432".to_owned())];
/// let (json, unexpressed) = export_toxiproxy(&scenario, &proxies)?;
/// let value: serde_json::Value = serde_json::from_str(&json)?;
/// assert_eq!(value["populate"][0]["name"], "db");
/// assert_eq!(value["timeline"][0]["body"]["type"], "limit_data");
/// assert!(unexpressed.is_empty()); // else: listed, never dropped silently
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_toxiproxy(
    scenario: &Scenario,
    proxies: &[(String, String, String)],
) -> Result<(String, Vec<Unexpressed>), ExportError> {
    let options = proxies
        .iter()
        .fold(ToxiproxyOptions::new(), |o, (name, listen, upstream)| {
            o.proxy(name.clone(), listen.clone(), upstream.clone())
        });
    let export = to_toxiproxy(scenario, &options)?;
    let write = |e: serde_json::Error| ExportError::Write {
        engine: "toxiproxy",
        message: e.to_string(),
    };
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).map_err(write);
    let both = serde_json::json!({
        "populate": parse(&export.populate)?,
        "timeline": parse(&export.timeline)?,
    });
    let text = serde_json::to_string_pretty(&both).map_err(write)?;
    Ok((text, export.unexpressed))
}

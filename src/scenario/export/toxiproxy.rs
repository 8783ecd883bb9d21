//! A scenario for toxiproxy: the proxies to populate it with, and the
//! timeline of API calls that plays the phases on it.
//!
//! The timeline is a JSON list of calls `{ "at": seconds, "method",
//! "path", "body" }` in time order, relative to the moment the player
//! starts: a toxic is added (`POST /proxies/{proxy}/toxics`) when its
//! phase starts and removed (`DELETE /proxies/{proxy}/toxics/{toxic}`)
//! when it ends; a ramp updates its `toxicity` in steps; `down` and
//! refused connects disable the proxy (`POST /proxies/{proxy}` with
//! `enabled`). toxiproxy moves bytes: what needs an HTTP answer is listed
//! as unexpressed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::{
    ExportError, Gap, Gaps, Item, Stretch, Unexpressed, center_and_jitter, counted_triggers, items,
    latency_reason, slug, stretches,
};
use crate::Latency;
use crate::scenario::Scenario;

/// Where each target's proxy listens and what it forwards to.
///
/// ```
/// use tower_chaos::scenario::export::ToxiproxyOptions;
/// let options = ToxiproxyOptions::new()
///     .proxy("dynamodb", "127.0.0.1:18000", "dynamodb.internal:8000")
///     .proxy("postgres", "127.0.0.1:15432", "db.internal:5432");
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToxiproxyOptions {
    proxies: BTreeMap<String, (String, String)>,
}

impl ToxiproxyOptions {
    /// No proxies yet.
    ///
    /// ```
    /// let o = tower_chaos::scenario::export::ToxiproxyOptions::new();
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The proxy of the scenario's target `target` (the proxy takes its
    /// name): it listens on `listen` and forwards to `upstream`, both
    /// `host:port`.
    ///
    /// ```
    /// let o = tower_chaos::scenario::export::ToxiproxyOptions::new().proxy("db", "127.0.0.1:15432", "db:5432");
    /// # let _ = o;
    /// ```
    #[must_use]
    pub fn proxy(
        mut self,
        target: impl Into<String>,
        listen: impl Into<String>,
        upstream: impl Into<String>,
    ) -> Self {
        self.proxies
            .insert(target.into(), (listen.into(), upstream.into()));
        self
    }

    fn check(&self) -> Result<(), ExportError> {
        for (name, (listen, upstream)) in &self.proxies {
            for (field, value) in [("listen", listen), ("upstream", upstream)] {
                let ok = value
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
                if !ok {
                    return Err(ExportError::Invalid {
                        field: format!("proxies.{name}.{field}"),
                        value: value.clone(),
                        reason: "toxiproxy takes `host:port`".to_owned(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A scenario for toxiproxy: the `populate` JSON (`toxiproxy-server
/// -config`, or `POST /populate`), the timeline of API calls that plays
/// it, and what it could not express.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::export::{ToxiproxyOptions, to_toxiproxy};
/// use tower_chaos::scenario::Scenario;
///
/// let scenario = Scenario::parse(r#"
/// name = "resets"
/// [[phases]]
/// name = "resets"
/// target = "db"
/// at = "1m"
/// for = "30s"
/// [[phases.connection]]
/// fault = "reset"
/// direction = "downstream"
/// rate = 0.25
/// "#, tower_chaos::scenario::Format::Toml)?;
/// let export = to_toxiproxy(&scenario, &ToxiproxyOptions::new().proxy("db", "127.0.0.1:15432", "db:5432"))?;
/// let calls: serde_json::Value = serde_json::from_str(&export.timeline)?;
/// assert_eq!(calls[0]["at"], 60.0);
/// assert_eq!(calls[0]["body"]["type"], "reset_peer");
/// assert_eq!(calls[0]["body"]["toxicity"], 0.25);
/// assert_eq!((calls[1]["at"].as_f64(), calls[1]["method"].as_str()), (Some(90.0), Some("DELETE")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToxiproxyExport {
    /// The proxies, as the JSON list toxiproxy populates from.
    pub populate: String,
    /// The calls that play the scenario, as a JSON list.
    pub timeline: String,
    /// What it could not express, in phase order.
    pub unexpressed: Vec<Unexpressed>,
}

/// Exports `scenario` for toxiproxy: one proxy per target, and the
/// timeline of API calls that adds and removes toxics as the phases come
/// and go, with the list of what it could not express. The mapping, fault
/// by fault, is in `docs/EXPORTS.md`.
///
/// # Errors
///
/// [`ExportError::MissingTarget`] for a target of the scenario without a
/// proxy; [`ExportError::Invalid`] for an address that is not
/// `host:port`; [`ExportError::Write`] if the JSON writer fails.
///
/// ```
/// use tower_chaos::scenario::export::{ExportError, ToxiproxyOptions, to_toxiproxy};
/// use tower_chaos::scenario::presets;
///
/// let err = to_toxiproxy(&presets::aws_s3_2017(), &ToxiproxyOptions::new().proxy("s3", "localhost", "s3:443")).unwrap_err();
/// assert!(matches!(err, ExportError::Invalid { ref field, .. } if field == "proxies.s3.listen"));
/// # Ok::<(), ExportError>(())
/// ```
pub fn to_toxiproxy(scenario: &Scenario, options: &ToxiproxyOptions) -> Result<ToxiproxyExport, ExportError> {
    options.check()?;
    let mut proxies = Vec::new();
    for target in scenario.targets() {
        let (listen, upstream) = options
            .proxies
            .get(target)
            .ok_or_else(|| ExportError::MissingTarget {
                engine: "toxiproxy",
                target: target.to_owned(),
            })?;
        proxies.push(json!({ "name": target, "listen": listen, "upstream": upstream, "enabled": true }));
    }
    let mut gaps = Gaps::default();
    let mut calls = Vec::new();
    let mut disabled = Vec::new();
    for stretch in stretches(scenario) {
        for (j, item) in items(stretch.faults, stretch.prefix).iter().enumerate() {
            let mut out = Out {
                gaps: &mut gaps,
                calls: &mut calls,
                disabled: &mut disabled,
            };
            emit(&stretch, j, item, &mut out);
        }
    }
    calls.extend(switches(disabled));
    // In time order; at one instant, what ends before what starts.
    calls.sort_by_key(|c| (c.at, c.starts));
    let timeline: Vec<CallOut> = calls
        .into_iter()
        .map(|c| CallOut {
            at: c.at.as_secs_f64(),
            method: c.method,
            path: c.path,
            body: c.body,
        })
        .collect();
    Ok(ToxiproxyExport {
        populate: pretty(&proxies)?,
        timeline: pretty(&timeline)?,
        unexpressed: gaps.into_vec(),
    })
}

/// Pretty JSON with a final newline.
fn pretty<T: Serialize>(value: &T) -> Result<String, ExportError> {
    let mut s = serde_json::to_string_pretty(value).map_err(|e| ExportError::Write {
        engine: "toxiproxy",
        message: e.to_string(),
    })?;
    s.push('\n');
    Ok(s)
}

#[derive(Serialize)]
struct CallOut {
    at: f64,
    method: &'static str,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Value>,
}

struct Call {
    at: Duration,
    /// Whether it starts something (sorted after what ends at the same instant).
    starts: bool,
    method: &'static str,
    path: String,
    body: Option<Value>,
}

/// What an item becomes: toxics, or the proxy disabled.
enum Effect {
    Toxics(Vec<Toxic>),
    Disabled,
}

struct Toxic {
    kind: &'static str,
    stream: &'static str,
    attributes: Value,
}

/// Steps of a ramp, as toxicity updates.
const RAMP_STEPS: u32 = 10;

/// Where [`emit`] writes: the list of gaps, the toxics' calls, and the
/// spans during which a proxy is disabled (merged before they become
/// calls).
struct Out<'a> {
    gaps: &'a mut Gaps,
    calls: &'a mut Vec<Call>,
    disabled: &'a mut Vec<(String, Duration, Duration)>,
}

/// The calls that disable each proxy and enable it again, for the union
/// of its disabled spans: overlapping or adjacent phases keep it down
/// throughout.
fn switches(mut spans: Vec<(String, Duration, Duration)>) -> Vec<Call> {
    spans.sort();
    let mut merged: Vec<(String, Duration, Duration)> = Vec::with_capacity(spans.len());
    for (proxy, start, end) in spans {
        match merged.last_mut() {
            Some((p, _, e)) if *p == proxy && start <= *e => *e = (*e).max(end),
            _ => merged.push((proxy, start, end)),
        }
    }
    merged
        .into_iter()
        .flat_map(|(proxy, start, end)| {
            let path = format!("/proxies/{proxy}");
            [
                call(
                    start,
                    true,
                    "POST",
                    path.clone(),
                    Some(json!({ "enabled": false })),
                ),
                call(end, false, "POST", path, Some(json!({ "enabled": true }))),
            ]
        })
        .collect()
}

fn emit(stretch: &Stretch<'_>, j: usize, item: &Item<'_>, out: &mut Out<'_>) {
    let Out {
        gaps,
        calls,
        disabled,
    } = out;
    let phase = stretch.phase;
    let conditions = item.conditions();
    let counted = conditions.map(counted_triggers).unwrap_or_default();
    if !counted.is_empty() {
        let reason = format!(
            "toxiproxy applies a toxic to a share of connections (toxicity); it has no {}",
            counted.join(", ")
        );
        gaps.push(phase, &item.label, Gap::Dropped, reason);
        return;
    }
    let Some((start, end)) = stretch.active(conditions) else {
        return;
    };
    let mut notes = Vec::new();
    let effect = match map(item, &mut notes) {
        Ok(effect) => effect,
        Err(reason) => {
            gaps.push(phase, &item.label, Gap::Dropped, reason);
            return;
        }
    };
    let rate = conditions.and_then(|c| c.rate).unwrap_or(1.0);
    let ramp = phase.ramp.filter(|&(from, to)| from < 1.0 || to < 1.0);
    let proxy = encode(&phase.target);
    match effect {
        Effect::Disabled => {
            if rate < 1.0 || ramp.is_some() {
                gaps.push(
                    phase,
                    &item.label,
                    Gap::Dropped,
                    "a disabled proxy refuses every connection: no share of them (rate or ramp)",
                );
                return;
            }
            for reason in notes {
                gaps.push(phase, &item.label, Gap::Approximated, reason);
            }
            disabled.push((proxy, start, end));
        }
        Effect::Toxics(toxics) => {
            if let Some((from, to)) = ramp {
                notes.push(format!(
                    "ramp {from} → {to} as {RAMP_STEPS} steps of toxicity (toxiproxy keeps one per toxic)"
                ));
            }
            for reason in notes {
                gaps.push(phase, &item.label, Gap::Approximated, reason);
            }
            let share = |t: Duration| {
                let p = match ramp {
                    Some((from, to)) => {
                        let span = phase.duration.as_secs_f64();
                        let x = if span > 0.0 {
                            (t.saturating_sub(phase.at)).as_secs_f64() / span
                        } else {
                            0.0
                        };
                        from + (to - from) * x
                    }
                    None => 1.0,
                };
                // Rounded so that the steps print as plain numbers.
                (rate * p * 1e6).round() / 1e6
            };
            let steps = if ramp.is_some() { RAMP_STEPS } else { 1 };
            let len = (end - start) / steps;
            for toxic in toxics {
                let name = format!(
                    "{}-{}-{j}-{}",
                    slug(&phase.name, 40, "phase"),
                    stretch.index,
                    toxic.stream
                );
                let mid = |k: u32| start + len * k + len / 2;
                let body = json!({
                    "name": name,
                    "type": toxic.kind,
                    "stream": toxic.stream,
                    "toxicity": share(if ramp.is_some() { mid(0) } else { start }),
                    "attributes": toxic.attributes,
                });
                let toxics = format!("/proxies/{proxy}/toxics");
                calls.push(call(start, true, "POST", toxics.clone(), Some(body)));
                for k in 1..steps {
                    calls.push(call(
                        start + len * k,
                        true,
                        "POST",
                        format!("{toxics}/{name}"),
                        Some(json!({ "toxicity": share(mid(k)) })),
                    ));
                }
                calls.push(call(end, false, "DELETE", format!("{toxics}/{name}"), None));
            }
        }
    }
}

const fn call(at: Duration, starts: bool, method: &'static str, path: String, body: Option<Value>) -> Call {
    Call {
        at,
        starts,
        method,
        path,
        body,
    }
}

const BYTES: &str = "toxiproxy moves bytes";

fn map(item: &Item<'_>, notes: &mut Vec<String>) -> Result<Effect, String> {
    use super::Described;
    let per_chunk = "per chunk of bytes on the connection, not per request";
    match &item.fault {
        Described::Down => {
            notes.push(
                "the proxy is disabled: connections are refused (and open ones closed) instead of answered \
                 with 503"
                    .to_owned(),
            );
            Ok(Effect::Disabled)
        }
        Described::Slow(l) => {
            notes.push(format!("an upstream latency toxic: {per_chunk}"));
            latency("upstream", *l, notes)
        }
        Described::Request(r) => match r.parts() {
            ("latency", Some(l), _) => {
                notes.push(format!("an upstream latency toxic: {per_chunk}"));
                latency("upstream", l, notes)
            }
            ("latency_after", Some(l), _) => {
                notes.push(format!("a downstream latency toxic: {per_chunk}"));
                latency("downstream", l, notes)
            }
            ("hang", ..) => Err(format!("{BYTES}: it cannot hold one request")),
            ("lost_reply", ..) => Err(format!("{BYTES}: it cannot drop the reply to one request")),
            _ => Err(format!("{BYTES}: it cannot answer a request with an error")),
        },
        #[cfg(feature = "http")]
        Described::Http(spec) => {
            use crate::http::HttpFault;
            match spec.fault() {
                HttpFault::Latency(l) if !matches_requests(spec) => {
                    notes.push(format!("an upstream latency toxic: {per_chunk}"));
                    latency("upstream", *l, notes)
                }
                HttpFault::Latency(_) => Err(format!("{BYTES}: it cannot match requests")),
                HttpFault::Respond(_) => {
                    Err(format!("{BYTES}: it cannot answer with an HTTP or gRPC status"))
                }
                HttpFault::DropConnection => {
                    Err(format!("{BYTES}: it cannot drop the connection of one request"))
                }
                HttpFault::ResponseBody(_) => Err(format!(
                    "{BYTES}: it cannot tell a response body from its headers"
                )),
            }
        }
        #[cfg(feature = "io")]
        Described::Conn(spec) => connection(spec, notes),
        Described::Code => Err(super::CODE_RULE.to_owned()),
    }
}

#[cfg(feature = "http")]
fn matches_requests(spec: &crate::scenario::http_spec::HttpSpec) -> bool {
    let f = &spec.form;
    !f.method.is_empty()
        || f.path.is_some()
        || f.path_prefix.is_some()
        || f.path_glob.is_some()
        || f.host.is_some()
        || !f.header.is_empty()
        || f.grpc_service.is_some()
        || f.grpc_method.is_some()
}

/// A latency toxic on `stream`: `latency` and `jitter` in whole
/// milliseconds (toxiproxy's jitter is uniform, so a uniform latency is
/// exact).
fn latency(stream: &'static str, l: Latency, notes: &mut Vec<String>) -> Result<Effect, String> {
    Ok(Effect::Toxics(vec![Toxic {
        kind: "latency",
        stream,
        attributes: latency_attributes(l, notes),
    }]))
}

/// A latency toxic's `latency` and `jitter`.
fn latency_attributes(l: Latency, notes: &mut Vec<String>) -> Value {
    let (d, jitter, exact) = center_and_jitter(l);
    if !exact {
        notes.push(latency_reason(l, "toxiproxy"));
    }
    json!({ "latency": millis(d, notes), "jitter": millis(jitter, notes) })
}

/// `d` in whole milliseconds, rounded (noted when it is not exact).
fn millis(d: Duration, notes: &mut Vec<String>) -> u128 {
    let ms = (d.as_nanos() + 500_000) / 1_000_000;
    if d.as_nanos() % 1_000_000 != 0 {
        let note = "toxiproxy counts whole milliseconds: durations rounded".to_owned();
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    ms
}

#[cfg(feature = "io")]
fn connection(
    spec: &crate::scenario::conn_spec::ConnSpec,
    notes: &mut Vec<String>,
) -> Result<Effect, String> {
    use crate::io::{Direction, Onset};
    use crate::scenario::conn_spec::ConnFaultName as F;
    let form = &spec.form;
    if form.host.is_some() || form.port.is_some() {
        return Err("a toxiproxy proxy forwards to one upstream: it cannot match a host or port".to_owned());
    }
    let streams: &[&'static str] = match form.direction.unwrap_or(Direction::Both) {
        Direction::Upstream => &["upstream"],
        Direction::Downstream => &["downstream"],
        Direction::Both => &["upstream", "downstream"],
    };
    let onset = form.onset.unwrap_or(Onset::Immediately);
    let each = |kind: &'static str, attributes: Value| {
        Effect::Toxics(
            streams
                .iter()
                .map(|&stream| Toxic {
                    kind,
                    stream,
                    attributes: attributes.clone(),
                })
                .collect(),
        )
    };
    match form.fault {
        F::Latency => {
            let l = form.latency.ok_or("a latency without its latency")?;
            Ok(each("latency", latency_attributes(l, notes)))
        }
        F::Bandwidth => {
            let bps = form.bytes_per_second.ok_or("a bandwidth without its rate")?.get();
            let kb = (bps + 500) / 1000;
            if bps % 1000 != 0 {
                notes.push(format!(
                    "toxiproxy's rate is in whole KB/s (1 KB = 1000 bytes): {bps} B/s as {} KB/s",
                    kb.max(1)
                ));
            }
            Ok(each("bandwidth", json!({ "rate": kb.max(1) })))
        }
        F::Slice => {
            let max = form.max_size.ok_or("a slice without its size")?.get();
            let delay = form.delay.unwrap_or_default();
            let attributes = json!({ "average_size": max, "size_variation": 0, "delay": delay.as_micros() });
            Ok(each("slicer", attributes))
        }
        F::Truncate => Ok(each(
            "limit_data",
            json!({ "bytes": form.bytes.ok_or("a truncation without its bytes")? }),
        )),
        F::Reset => {
            let after = match onset {
                Onset::Immediately => {
                    notes.push("reset_peer resets at the first data, not at once".to_owned());
                    Duration::ZERO
                }
                Onset::After(t) => {
                    notes.push(
                        "reset_peer counts its timeout from the first data, not from the connection"
                            .to_owned(),
                    );
                    t
                }
                Onset::AfterData(t) => t,
                Onset::AfterBytes(_) => {
                    return Err("reset_peer cannot count bytes before it resets".to_owned());
                }
            };
            Ok(each("reset_peer", json!({ "timeout": millis(after, notes) })))
        }
        F::Timeout => match onset {
            Onset::Immediately => {
                let close = form.close_after.ok_or("a timeout without close_after")?;
                Ok(each("timeout", json!({ "timeout": millis(close, notes) })))
            }
            _ => Err("toxiproxy's timeout begins at once, not after an onset".to_owned()),
        },
        F::Stall | F::Blackhole => match onset {
            Onset::Immediately => {
                notes.push(
                    "toxiproxy's timeout 0: data is dropped until the toxic is removed, which closes the \
                     connection (a stall delivers what it held, a blackhole resumes)"
                        .to_owned(),
                );
                Ok(each("timeout", json!({ "timeout": 0 })))
            }
            _ => Err("toxiproxy's timeout begins at once, not after an onset".to_owned()),
        },
        F::SlowClose => {
            let delay = form.delay.ok_or("a slow close without its delay")?;
            Ok(each("slow_close", json!({ "delay": millis(delay, notes) })))
        }
        F::Refuse => {
            notes.push("the proxy is disabled: connections already open are closed too".to_owned());
            Ok(Effect::Disabled)
        }
        F::DnsFailure => Err("toxiproxy is reached by address: it has no name resolution to fail".to_owned()),
        F::ConnectHang => Err("toxiproxy accepts every connection: it cannot hang a connect".to_owned()),
        F::SlowConnect => {
            Err("toxiproxy accepts every connection at once: it cannot slow a connect".to_owned())
        }
        #[cfg(feature = "tls")]
        F::TlsAlert
        | F::TlsStall
        | F::TlsExpiredCertificate
        | F::TlsWrongHost
        | F::TlsUntrustedIssuer
        | F::TlsRotated => {
            Err("toxiproxy relays bytes and never terminates TLS: it has no TLS fault".to_owned())
        }
    }
}

/// A path segment: unreserved characters as they are, others
/// percent-encoded.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("db-1_a.b~"), "db-1_a.b~");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn milliseconds_round_and_say_so() {
        let mut notes = Vec::new();
        assert_eq!(millis(Duration::from_millis(7), &mut notes), 7);
        assert!(notes.is_empty());
        assert_eq!(millis(Duration::from_micros(1_500), &mut notes), 2);
        assert_eq!(millis(Duration::from_micros(1_400), &mut notes), 1);
        assert_eq!(notes.len(), 1);
    }
}

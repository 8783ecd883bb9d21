//! toxiproxy's toxics, mapped onto tower-chaos's connection faults
//! ([`ConnFault`] rules on the proxy's target).
//!
//! Each toxic type has a list of integer attributes (toxiproxy's units:
//! milliseconds, KB/s, bytes, slicer delay in microseconds), all defaulting
//! to 0, and becomes at most one rule. `docs/PEERS.md` ("toxiproxy: toxic
//! knobs") documents the mapping and its tests.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tower_chaos::io::{ConnFault, ConnInfo, ConnRule, Direction, Onset};
use tower_chaos::{Latency, Trigger};

use crate::model::{ApiError, ToxicInput, ToxicUpdate};

/// A toxic type: its name, its attributes, and the fault it makes.
struct ToxicType {
    name: &'static str,
    attrs: &'static [&'static str],
    /// The fault for these attribute values (in `attrs` order), `None` when
    /// the toxic lets everything through (toxiproxy's `noop`, a bandwidth
    /// of 0), or why the values are refused.
    fault: fn(Direction, &[u64]) -> Result<Option<ConnFault>, String>,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn size(n: u64, what: &str) -> Result<usize, String> {
    usize::try_from(n).map_err(|_| format!("attributes.{what}: {n} does not fit in memory sizes"))
}

const TYPES: &[ToxicType] = &[
    ToxicType {
        name: "latency",
        attrs: &["latency", "jitter"],
        fault: |dir, a| {
            let (latency, jitter) = (a[0], a[1]);
            if jitter > latency {
                return Err(format!(
                    "attributes.jitter: {jitter} is more than latency {latency}: \
                     a delay cannot be negative (toxiproxy lets it be and waits 0)"
                ));
            }
            let l = if jitter == 0 {
                Latency::fixed(ms(latency))
            } else {
                Latency::uniform(ms(latency - jitter), ms(latency + jitter))
            };
            Ok(Some(ConnFault::latency(dir, l)))
        },
    },
    ToxicType {
        name: "bandwidth",
        attrs: &["rate"],
        fault: |dir, a| match a[0] {
            // toxiproxy: a rate of 0 does not limit.
            0 => Ok(None),
            kb => kb
                .checked_mul(1000)
                .map(|bytes| Some(ConnFault::bandwidth(dir, bytes)))
                .ok_or_else(|| format!("attributes.rate: {kb} KB/s is too large")),
        },
    },
    ToxicType {
        name: "slow_close",
        attrs: &["delay"],
        fault: |dir, a| Ok(Some(ConnFault::slow_close(dir, ms(a[0])))),
    },
    ToxicType {
        name: "timeout",
        attrs: &["timeout"],
        fault: |dir, a| Ok(Some(ConnFault::timeout(dir, Onset::Immediately, ms(a[0])))),
    },
    ToxicType {
        name: "reset_peer",
        attrs: &["timeout"],
        fault: |dir, a| Ok(Some(ConnFault::reset(dir, Onset::AfterData(ms(a[0]))))),
    },
    ToxicType {
        name: "slicer",
        attrs: &["average_size", "size_variation", "delay"],
        fault: |dir, a| {
            let (average, variation) = (size(a[0], "average_size")?, size(a[1], "size_variation")?);
            if average == 0 {
                return Err("attributes.average_size: 0: a slice is at least 1 byte".to_owned());
            }
            if variation >= average {
                return Err(format!(
                    "attributes.size_variation: {variation} must be below average_size {average}"
                ));
            }
            let delay = Duration::from_micros(a[2]);
            Ok(Some(if variation == 0 {
                ConnFault::slice(dir, average, delay)
            } else {
                ConnFault::slice_varied(dir, average, variation, delay)
            }))
        },
    },
    ToxicType {
        name: "limit_data",
        attrs: &["bytes"],
        fault: |dir, a| Ok(Some(ConnFault::truncate_after(dir, a[0]))),
    },
    ToxicType {
        name: "noop",
        attrs: &[],
        fault: |_, _| Ok(None),
    },
    // Ours: connect faults and interruptions toxiproxy has no toxic for.
    ToxicType {
        name: "tower_chaos.refuse",
        attrs: &[],
        fault: |_, _| Ok(Some(ConnFault::refuse())),
    },
    ToxicType {
        name: "tower_chaos.slow_connect",
        attrs: &["delay"],
        fault: |_, a| Ok(Some(ConnFault::slow_connect(Latency::fixed(ms(a[0]))))),
    },
    ToxicType {
        name: "tower_chaos.connect_hang",
        attrs: &[],
        fault: |_, _| Ok(Some(ConnFault::connect_hang())),
    },
    ToxicType {
        name: "tower_chaos.blackhole",
        attrs: &["after_bytes"],
        fault: |dir, a| Ok(Some(ConnFault::blackhole(dir, onset(a[0])))),
    },
    ToxicType {
        name: "tower_chaos.stall",
        attrs: &["after_bytes"],
        fault: |dir, a| Ok(Some(ConnFault::stall(dir, onset(a[0])))),
    },
];

fn onset(after_bytes: u64) -> Onset {
    if after_bytes == 0 {
        Onset::Immediately
    } else {
        Onset::AfterBytes(after_bytes)
    }
}

fn find_type(name: &str) -> Option<&'static ToxicType> {
    TYPES.iter().find(|t| t.name == name)
}

/// The toxic types this server knows, toxiproxy's then ours.
pub(crate) fn type_names() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|t| t.name)
}

/// A toxic of a proxy, as toxiproxy shows it.
#[derive(Debug, Clone)]
pub(crate) struct Toxic {
    pub(crate) name: String,
    kind: &'static ToxicType,
    /// As the client wrote it (toxiproxy keeps the case it was given).
    stream: String,
    direction: Direction,
    toxicity: f32,
    /// In `kind.attrs` order.
    values: Vec<u64>,
}

impl std::fmt::Debug for ToxicType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn direction(stream: &str) -> Result<Direction, ApiError> {
    match stream.to_ascii_lowercase().as_str() {
        "upstream" => Ok(Direction::Upstream),
        "downstream" => Ok(Direction::Downstream),
        _ => Err(ApiError::invalid_stream()),
    }
}

fn check_toxicity(toxicity: f32) -> Result<f32, ApiError> {
    if (0.0..=1.0).contains(&toxicity) {
        Ok(toxicity)
    } else {
        Err(ApiError::bad_body(&format_args!(
            "toxicity: {toxicity} is not a probability in 0.0..=1.0"
        )))
    }
}

impl Toxic {
    /// A new toxic from `POST /proxies/{name}/toxics`, with toxiproxy's
    /// defaults (`downstream`, toxicity 1, name `<type>_<stream>`,
    /// attributes 0) and its checks in its order (stream, type, then
    /// attributes); the name is checked for duplicates by the caller.
    pub(crate) fn create(input: ToxicInput) -> Result<Self, ApiError> {
        let stream = input.stream.unwrap_or_else(|| "downstream".to_owned());
        let direction = direction(&stream)?;
        let type_name = input.kind.unwrap_or_default();
        let name = input
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("{type_name}_{stream}"));
        let kind = find_type(&type_name).ok_or_else(ApiError::invalid_toxic_type)?;
        let mut toxic = Self {
            name,
            kind,
            stream,
            direction,
            toxicity: check_toxicity(input.toxicity.unwrap_or(1.0))?,
            values: vec![0; kind.attrs.len()],
        };
        toxic.set_attributes(input.attributes.unwrap_or_default())?;
        Ok(toxic)
    }

    /// This toxic with `update`'s toxicity and attributes over its own
    /// (attributes not given keep their value, as toxiproxy's update does).
    pub(crate) fn updated(&self, update: ToxicUpdate) -> Result<Self, ApiError> {
        let mut toxic = self.clone();
        if let Some(t) = update.toxicity {
            toxic.toxicity = check_toxicity(t)?;
        }
        toxic.set_attributes(update.attributes.unwrap_or_default())?;
        Ok(toxic)
    }

    fn set_attributes(&mut self, attrs: Map<String, Value>) -> Result<(), ApiError> {
        for (key, value) in attrs {
            let Some(i) = self.kind.attrs.iter().position(|a| *a == key) else {
                return Err(ApiError::bad_body(&format_args!(
                    "attributes.{key}: `{}` has no such attribute (it has: {})",
                    self.kind.name,
                    if self.kind.attrs.is_empty() {
                        "none".to_owned()
                    } else {
                        self.kind.attrs.join(", ")
                    }
                )));
            };
            self.values[i] = value.as_u64().ok_or_else(|| {
                ApiError::bad_body(&format_args!(
                    "attributes.{key}: {value} is not a whole number of 0 or more"
                ))
            })?;
        }
        Ok(())
    }

    /// The toxic's type, as in its JSON.
    pub(crate) const fn type_name(&self) -> &'static str {
        self.kind.name
    }

    /// Upstream toxics are listed before downstream ones, as toxiproxy
    /// lists its two chains.
    pub(crate) const fn is_upstream(&self) -> bool {
        matches!(self.direction, Direction::Upstream)
    }

    /// The rule this toxic adds to its proxy's target, named after it,
    /// firing for a connection with probability `toxicity`; `None` when it
    /// lets everything through.
    pub(crate) fn rule(&self) -> Result<Option<ConnRule>, ApiError> {
        let fault = (self.kind.fault)(self.direction, &self.values)
            .map_err(|why| ApiError::new(StatusCode::BAD_REQUEST, format!("bad request body: {why}")))?;
        let trigger: Trigger<ConnInfo> = if self.toxicity >= 1.0 {
            Trigger::always()
        } else {
            Trigger::rate(f64::from(self.toxicity))
        };
        Ok(fault.map(|f| f.when(trigger).named(self.name.clone())))
    }

    /// toxiproxy's JSON for a toxic.
    pub(crate) fn to_json(&self) -> Value {
        let attributes: Map<String, Value> = self
            .kind
            .attrs
            .iter()
            .zip(&self.values)
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        json!({
            "attributes": attributes,
            "name": self.name,
            "type": self.kind.name,
            "stream": self.stream,
            "toxicity": self.toxicity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_body;

    fn create(body: &str) -> Result<Toxic, ApiError> {
        Toxic::create(parse_body(body.as_bytes())?)
    }

    #[test]
    fn defaults_are_toxiproxys() {
        let t = create(r#"{"type": "latency", "attributes": {"latency": 100}}"#).unwrap();
        assert_eq!(
            t.to_json(),
            json!({"attributes": {"latency": 100, "jitter": 0}, "name": "latency_downstream",
                   "type": "latency", "stream": "downstream", "toxicity": 1.0})
        );
        let t = create(r#"{"type": "limit_data", "stream": "UpStream", "name": ""}"#).unwrap();
        assert_eq!((t.name.as_str(), t.is_upstream()), ("limit_data_UpStream", true));
    }

    #[test]
    fn bad_input_is_400_naming_the_field() {
        let err = |body: &str| create(body).unwrap_err();
        assert_eq!(
            err(r#"{"type": "latency", "stream": "sideways"}"#),
            ApiError::invalid_stream()
        );
        assert_eq!(err(r#"{"type": "lag"}"#), ApiError::invalid_toxic_type());
        assert_eq!(err(r#"{}"#), ApiError::invalid_toxic_type());
        let e = err(r#"{"type": "latency", "attributes": {"latncy": 1}}"#);
        assert!(
            e.message.contains("attributes.latncy") && e.message.contains("latency, jitter"),
            "{e}"
        );
        let e = err(r#"{"type": "bandwidth", "attributes": {"rate": -1}}"#);
        assert!(e.message.contains("attributes.rate: -1"), "{e}");
        let e = err(r#"{"type": "bandwidth", "toxicity": 1.5}"#);
        assert!(e.message.contains("toxicity: 1.5"), "{e}");
        let t = create(r#"{"type": "latency", "attributes": {"latency": 10, "jitter": 20}}"#).unwrap();
        let e = t.rule().unwrap_err();
        assert!(e.message.contains("attributes.jitter: 20"), "{e}");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn pass_through_toxics_make_no_rule() {
        for body in [
            r#"{"type": "noop"}"#,
            r#"{"type": "bandwidth", "attributes": {"rate": 0}}"#,
        ] {
            assert!(create(body).unwrap().rule().unwrap().is_none(), "{body}");
        }
        let rule = create(r#"{"type": "tower_chaos.refuse", "toxicity": 0.5}"#)
            .unwrap()
            .rule()
            .unwrap()
            .unwrap();
        assert_eq!(rule.name(), Some("tower_chaos.refuse_downstream"));
        assert_eq!(rule.action().kind(), tower_chaos::FaultKind::Refused);
    }

    #[test]
    fn updates_keep_what_they_do_not_name() {
        let t = create(r#"{"type": "slicer", "attributes": {"average_size": 64, "delay": 10}}"#).unwrap();
        let u = t
            .updated(parse_body(br#"{"attributes": {"size_variation": 8}}"#).unwrap())
            .unwrap();
        assert_eq!(
            u.to_json()["attributes"],
            json!({"average_size": 64, "size_variation": 8, "delay": 10})
        );
        assert_eq!(u.to_json()["toxicity"], 1.0);
        let u = u.updated(parse_body(br#"{"toxicity": 0.25}"#).unwrap()).unwrap();
        assert_eq!(u.to_json()["toxicity"], 0.25);
    }

    /// The prefix of the toxic types that are ours, not toxiproxy's.
    const OURS: &str = "tower_chaos.";

    #[test]
    fn every_type_is_listed_once() {
        let names: Vec<_> = type_names().collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n}");
            assert!(!n.starts_with(OURS) || n.len() > OURS.len());
        }
        assert_eq!(names.iter().filter(|n| n.starts_with(OURS)).count(), 5);
    }
}

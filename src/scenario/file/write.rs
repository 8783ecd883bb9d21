//! Writing a scenario back to a file: the same tables the loader reads,
//! with durations as text (`"2h15m"`, [`format_duration`](crate::scenario::format_duration)),
//! so that loading the text gives back an equal scenario.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::Format;
use crate::Latency;
use crate::latency::Dist;
use crate::scenario::conditions::Conditions;
use crate::scenario::duration::Text;
use crate::scenario::faults::Contribute;
use crate::scenario::{Faults, Phase, Scenario};

/// A scenario could not be written to a file.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{Format, Phase, Scenario, WriteError};
/// use tower_chaos::{Fault, Trigger};
///
/// let scenario = Scenario::builder("typed")
///     .phase(Phase::new("hangs", "db").lasting(Duration::from_secs(60)).rule(Fault::<u32>::hang().when(Trigger::every(3))))
///     .build()?;
/// let err = scenario.to_text(Format::Toml).unwrap_err();
/// assert!(matches!(&err, WriteError::Unwritable { phase, field, .. } if phase == "hangs" && field == "phases[0].rules[0]"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The scenario holds something no file can say: a typed rule added in
    /// code ([`Faults::rule`]), whose triggers are closures. It is never
    /// left out silently.
    #[error("`{field}` (phase `{phase}`): {reason}")]
    Unwritable {
        /// The phase's name.
        phase: String,
        /// Where, e.g. `phases[2].rules[0]` or `phases[1].flap.while_good.rules[0]`.
        field: String,
        /// Why it cannot be written.
        reason: String,
    },
    /// The format's writer failed.
    #[error("writing {format}: {message}")]
    Format {
        /// The format.
        format: Format,
        /// What its writer said.
        message: String,
    },
}

impl Scenario {
    /// Writes the scenario in `format`, as [`parse`](Self::parse) reads
    /// it: loading the text gives back an equal scenario. Durations are
    /// written as text in the units the loader takes (`"2h15m"`,
    /// `"1s500ms"`); every phase is written with its name, and the
    /// scenario with its duration.
    ///
    /// # Errors
    ///
    /// [`WriteError::Unwritable`] naming the phase and field of a typed
    /// rule added in code ([`Faults::rule`]): files describe faults, and
    /// such a rule's triggers are closures. Describe it with
    /// [`RequestFault`](crate::scenario::RequestFault) (or load it from a file's
    /// `http` and `connection` tables) to write it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::scenario::{Format, Phase, RequestFault, Scenario};
    ///
    /// let scenario = Scenario::builder("blip")
    ///     .phase(Phase::new("outage", "db").at(Duration::from_secs(60)).lasting(Duration::from_secs(90)).down())
    ///     .phase(Phase::new("errors", "db").at(Duration::from_secs(150)).lasting(Duration::from_secs(30)).request(RequestFault::error().rate(0.25)))
    ///     .build()?;
    /// for format in [Format::Toml, Format::Yaml, Format::Json] {
    ///     let text = scenario.to_text(format)?;
    ///     assert_eq!(Scenario::parse(&text, format)?, scenario, "{text}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_text(&self, format: Format) -> Result<String, WriteError> {
        let file = ScenarioOut::new(self)?;
        let failed = |message: String| WriteError::Format { format, message };
        match format {
            Format::Toml => toml::to_string(&file).map_err(|e| failed(e.to_string())),
            Format::Yaml => serde_norway::to_string(&file).map_err(|e| failed(e.to_string())),
            Format::Json => serde_json::to_string_pretty(&file)
                .map(|mut s| {
                    s.push('\n');
                    s
                })
                .map_err(|e| failed(e.to_string())),
        }
    }

    /// [`to_text`](Self::to_text) in TOML.
    ///
    /// # Errors
    ///
    /// As [`to_text`](Self::to_text).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let s = Scenario::builder("x").phase(Phase::new("p", "db").lasting(Duration::from_secs(90)).down()).build()?;
    /// assert!(s.to_toml()?.contains("for = \"1m30s\""));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_toml(&self) -> Result<String, WriteError> {
        self.to_text(Format::Toml)
    }

    /// [`to_text`](Self::to_text) in YAML.
    ///
    /// # Errors
    ///
    /// As [`to_text`](Self::to_text).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let s = Scenario::builder("x").phase(Phase::new("p", "db").lasting(Duration::from_secs(90)).down()).build()?;
    /// assert!(s.to_yaml()?.contains("for: 1m30s"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_yaml(&self) -> Result<String, WriteError> {
        self.to_text(Format::Yaml)
    }

    /// [`to_text`](Self::to_text) in JSON.
    ///
    /// # Errors
    ///
    /// As [`to_text`](Self::to_text).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use tower_chaos::scenario::{Phase, Scenario};
    /// let s = Scenario::builder("x").phase(Phase::new("p", "db").lasting(Duration::from_secs(90)).down()).build()?;
    /// assert!(s.to_json()?.contains("\"for\": \"1m30s\""));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_json(&self) -> Result<String, WriteError> {
        self.to_text(Format::Json)
    }
}

/// A duration as the loader reads it.
fn text(d: Duration) -> String {
    Text(d).to_string()
}

#[derive(Serialize)]
struct ScenarioOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    duration: String,
    phases: Vec<PhaseOut<'a>>,
}

impl<'a> ScenarioOut<'a> {
    fn new(s: &'a Scenario) -> Result<Self, WriteError> {
        let phases = s
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| PhaseOut::new(i, p))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name: &s.name,
            description: s.description.as_deref(),
            duration: text(s.duration),
            phases,
        })
    }
}

#[derive(Serialize)]
struct PhaseOut<'a> {
    name: &'a str,
    target: &'a str,
    at: String,
    #[serde(rename = "for")]
    lasting: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    expect_to_fire: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ramp: Option<RampOut>,
    #[serde(flatten)]
    faults: FaultsOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flap: Option<FlapOut<'a>>,
}

#[derive(Serialize)]
struct RampOut {
    from: f64,
    to: f64,
}

#[derive(Serialize)]
struct FlapOut<'a> {
    bad: String,
    good: String,
    #[serde(skip_serializing_if = "FaultsOut::is_empty")]
    while_good: FaultsOut<'a>,
}

impl<'a> PhaseOut<'a> {
    fn new(i: usize, p: &'a Phase) -> Result<Self, WriteError> {
        let prefix = format!("phases[{i}]");
        let flap = match &p.flap {
            Some(f) => Some(FlapOut {
                bad: text(f.bad),
                good: text(f.good),
                while_good: FaultsOut::new(p, &format!("{prefix}.flap.while_good"), &f.while_good)?,
            }),
            None => None,
        };
        Ok(Self {
            name: &p.name,
            target: &p.target,
            at: text(p.at),
            lasting: text(p.duration),
            expect_to_fire: p.expect_to_fire,
            ramp: p.ramp.map(|(from, to)| RampOut { from, to }),
            faults: FaultsOut::new(p, &prefix, &p.faults)?,
            flap,
        })
    }
}

#[derive(Serialize, Default)]
struct FaultsOut<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    down: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    slow: Option<LatencyOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    request: Vec<RequestOut<'a>>,
    #[cfg(feature = "http")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    http: Vec<http::HttpOut<'a>>,
    #[cfg(feature = "io")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    connection: Vec<connection::ConnOut<'a>>,
}

impl<'a> FaultsOut<'a> {
    // Without `http` and `io`, the update fills nothing.
    #[cfg_attr(not(any(feature = "http", feature = "io")), allow(clippy::needless_update))]
    fn new(phase: &Phase, prefix: &str, f: &'a Faults) -> Result<Self, WriteError> {
        let mut out = FaultsOut {
            down: f.is_down_flagged(),
            slow: f.slowness().map(LatencyOut::new),
            request: f.requests().iter().map(RequestOut::new).collect(),
            // The `http` and `connection` lists, where their features are on.
            ..Self::default()
        };
        for (j, t) in f.typed().iter().enumerate() {
            out.push_typed(&**t).map_err(|reason| WriteError::Unwritable {
                phase: phase.name().to_owned(),
                field: format!("{prefix}.rules[{j}]"),
                reason,
            })?;
        }
        Ok(out)
    }

    /// Adds a described HTTP or connection fault; `Err` says why a typed
    /// rule has no file form.
    fn push_typed(&mut self, t: &'a dyn Contribute) -> Result<(), String> {
        #[cfg(feature = "http")]
        if let Some(spec) = t.as_any().downcast_ref::<crate::scenario::http_spec::HttpSpec>() {
            self.http.push(http::HttpOut::new(spec));
            return Ok(());
        }
        #[cfg(feature = "io")]
        if let Some(spec) = t.as_any().downcast_ref::<crate::scenario::conn_spec::ConnSpec>() {
            self.connection.push(connection::ConnOut::new(spec)?);
            return Ok(());
        }
        Err(format!(
            "a typed rule added in code ({t:?}) has no file form: its triggers are closures; \
             describe it with `RequestFault`, or as an `http` or `connection` table in a file"
        ))
    }

    fn is_empty(&self) -> bool {
        let described = !self.down && self.slow.is_none() && self.request.is_empty();
        #[cfg(feature = "http")]
        let described = described && self.http.is_empty();
        #[cfg(feature = "io")]
        let described = described && self.connection.is_empty();
        described
    }
}

/// The trigger settings and limits every described fault takes (its
/// `keyed` is its table's own).
#[derive(Serialize)]
struct ConditionsOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    every: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<WindowOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    overload: Option<OverloadOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    budget: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_active: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct WindowOut {
    from: String,
    to: String,
}

#[derive(Serialize)]
struct OverloadOut {
    capacity: f64,
    per: String,
}

impl<'a> ConditionsOut<'a> {
    fn new(c: &'a Conditions) -> Self {
        Self {
            rate: c.rate,
            every: c.every,
            first: c.first,
            after: c.after,
            window: c.window.map(|(from, to)| WindowOut {
                from: text(from),
                to: text(to),
            }),
            overload: c.overload.map(|o| OverloadOut {
                capacity: o.requests(),
                per: text(o.window()),
            }),
            budget: c.budget,
            max_active: c.max_active,
            name: c.name.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct RequestOut<'a> {
    fault: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency: Option<LatencyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyed: Option<KeyedOut<'a>>,
    #[serde(flatten)]
    when: ConditionsOut<'a>,
}

#[derive(Serialize)]
struct KeyedOut<'a> {
    attribute: &'a str,
    rate: f64,
}

impl<'a> RequestOut<'a> {
    fn new(r: &'a crate::scenario::RequestFault) -> Self {
        let (fault, latency, when) = r.parts();
        Self {
            fault,
            latency: latency.map(LatencyOut::new),
            keyed: when.keyed.as_ref().map(|(attribute, rate)| KeyedOut {
                attribute,
                rate: *rate,
            }),
            when: ConditionsOut::new(when),
        }
    }
}

/// A latency: `"200ms"` when fixed and unclamped, otherwise a table with
/// its distribution and clamp.
struct LatencyOut(Latency);

impl LatencyOut {
    const fn new(l: Latency) -> Self {
        Self(l)
    }
}

#[derive(Serialize)]
struct MinMaxOut {
    min: String,
    max: String,
}

impl Serialize for LatencyOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (dist, clamp) = self.0.parts();
        if let (Dist::Fixed(d), None) = (dist, clamp) {
            return s.serialize_str(&text(d));
        }
        let mut map = s.serialize_map(None)?;
        match dist {
            Dist::Fixed(d) => map.serialize_entry("fixed", &text(d))?,
            Dist::Uniform(min, max) => map.serialize_entry(
                "uniform",
                &MinMaxOut {
                    min: text(min),
                    max: text(max),
                },
            )?,
            Dist::Jittered { base, jitter } => {
                let table = BTreeMap::from([("base", text(base)), ("jitter", text(jitter))]);
                map.serialize_entry("jittered", &table)?;
            }
            Dist::Normal { mean, std_dev } => {
                let table = BTreeMap::from([("mean", text(mean)), ("std_dev", text(std_dev))]);
                map.serialize_entry("normal", &table)?;
            }
            Dist::LogNormal { median, sigma } => {
                map.serialize_entry("log_normal", &Scaled::new("median", median, "sigma", sigma))?;
            }
            Dist::Pareto { scale, shape } => {
                map.serialize_entry("pareto", &Scaled::new("scale", scale, "shape", shape))?;
            }
        }
        if let Some((min, max)) = clamp {
            map.serialize_entry(
                "clamp",
                &MinMaxOut {
                    min: text(min),
                    max: text(max),
                },
            )?;
        }
        map.end()
    }
}

/// `{ median = "80ms", sigma = 0.7 }` and the like: a duration and a number.
struct Scaled {
    duration: (&'static str, String),
    number: (&'static str, f64),
}

impl Scaled {
    fn new(d: &'static str, duration: Duration, n: &'static str, number: f64) -> Self {
        Self {
            duration: (d, text(duration)),
            number: (n, number),
        }
    }
}

impl Serialize for Scaled {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(self.duration.0, &self.duration.1)?;
        map.serialize_entry(self.number.0, &self.number.1)?;
        map.end()
    }
}

#[cfg(feature = "http")]
mod http {
    //! The `http` tables.

    use serde::Serialize;
    use serde::ser::{SerializeMap, Serializer};

    use super::{ConditionsOut, LatencyOut, text};
    use crate::scenario::http_spec::{BodyForm, HttpSpec};
    use crate::scenario::parameters::FaultName;

    #[derive(Serialize)]
    pub(super) struct HttpOut<'a> {
        fault: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
        #[serde(skip_serializing_if = "Headers::is_empty")]
        headers: Headers<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        latency: Option<LatencyOut>,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<BodyOut>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        method: Vec<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        path_prefix: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        path_glob: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        header: Vec<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        grpc_service: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        grpc_method: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        keyed: Option<KeyedHeaderOut<'a>>,
        #[serde(flatten)]
        when: ConditionsOut<'a>,
    }

    #[derive(Serialize)]
    struct KeyedHeaderOut<'a> {
        header: &'a str,
        rate: f64,
    }

    #[derive(Serialize)]
    struct BodyOut {
        #[serde(skip_serializing_if = "Option::is_none")]
        truncate_after: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        stall_after: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        abort_after: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        throttle: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        delay_first_byte: Option<String>,
    }

    impl BodyOut {
        fn new(b: &BodyForm) -> Self {
            Self {
                truncate_after: b.truncate_after,
                stall_after: b.stall_after,
                abort_after: b.abort_after,
                throttle: b.throttle,
                delay_first_byte: b.delay_first_byte.map(text),
            }
        }
    }

    /// A synthesized response's headers, as a table in their order.
    struct Headers<'a>(&'a [(::http::HeaderName, ::http::HeaderValue)]);

    impl Headers<'_> {
        const fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl Serialize for Headers<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for (name, value) in self.0 {
                // Values loaded from files are visible ASCII; others have
                // no file form.
                let value = value.to_str().map_err(|_| {
                    serde::ser::Error::custom(format!("header `{name}`: the value is not visible ASCII"))
                })?;
                map.serialize_entry(name.as_str(), value)?;
            }
            map.end()
        }
    }

    impl<'a> HttpOut<'a> {
        pub(super) fn new(spec: &'a HttpSpec) -> Self {
            let f = &spec.form;
            Self {
                fault: f.fault.as_str(),
                status: f.status.map(|s| s.as_u16()),
                retry_after: f.retry_after.map(text),
                error: f.error.as_deref(),
                code: f.code.map(|c| c.as_str()),
                message: f.message.as_deref(),
                headers: Headers(&f.headers),
                latency: f.latency.map(LatencyOut::new),
                body: f.body.as_ref().map(BodyOut::new),
                method: f.method.iter().map(::http::Method::as_str).collect(),
                path: f.path.as_deref(),
                path_prefix: f.path_prefix.as_deref(),
                path_glob: f.path_glob.as_deref(),
                host: f.host.as_deref(),
                header: f.header.iter().map(String::as_str).collect(),
                grpc_service: f.grpc_service.as_deref(),
                grpc_method: f.grpc_method.as_deref(),
                keyed: spec
                    .when
                    .keyed
                    .as_ref()
                    .map(|(header, rate)| KeyedHeaderOut { header, rate: *rate }),
                when: ConditionsOut::new(&spec.when),
            }
        }
    }
}

#[cfg(feature = "io")]
mod connection {
    //! The `connection` tables.

    use serde::Serialize;

    use super::{ConditionsOut, LatencyOut, text};
    use crate::io::{Direction, Onset};
    use crate::scenario::conn_spec::ConnSpec;
    use crate::scenario::parameters::FaultName;

    #[derive(Serialize)]
    pub(super) struct ConnOut<'a> {
        fault: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        direction: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        onset: Option<OnsetOut>,
        #[serde(skip_serializing_if = "Option::is_none")]
        latency: Option<LatencyOut>,
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes_per_second: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_size: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        delay: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        close_after: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        #[serde(flatten)]
        when: ConditionsOut<'a>,
    }

    /// `{ bytes = 1024 }` or `{ time = "30s" }`.
    #[derive(Serialize)]
    struct OnsetOut {
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        time: Option<String>,
    }

    impl<'a> ConnOut<'a> {
        pub(super) fn new(spec: &'a ConnSpec) -> Result<Self, String> {
            let f = &spec.form;
            let onset = match f.onset {
                // `Immediately` is the default: written as no onset.
                None | Some(Onset::Immediately) => None,
                Some(Onset::AfterBytes(n)) => Some(OnsetOut {
                    bytes: Some(n),
                    time: None,
                }),
                Some(Onset::After(d)) => Some(OnsetOut {
                    bytes: None,
                    time: Some(text(d)),
                }),
                Some(other) => return Err(format!("the onset {other:?} has no file form")),
            };
            Ok(Self {
                fault: f.fault.as_str(),
                direction: f.direction.map(|d| match d {
                    Direction::Upstream => "upstream",
                    Direction::Downstream => "downstream",
                    Direction::Both => "both",
                }),
                onset,
                latency: f.latency.map(LatencyOut::new),
                bytes_per_second: f.bytes_per_second.map(std::num::NonZeroU64::get),
                max_size: f.max_size.map(std::num::NonZeroUsize::get),
                delay: f.delay.map(text),
                bytes: f.bytes,
                close_after: f.close_after.map(text),
                host: f.host.as_deref(),
                port: f.port,
                when: ConditionsOut::new(&spec.when),
            })
        }
    }
}

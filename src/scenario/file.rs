//! Scenario files: TOML, YAML and JSON through serde (feature `serde`).
//!
//! The schema (see `docs/SCENARIOS.md`) is one set of serde types for the
//! three formats. Every struct denies unknown fields; durations, rates and
//! capacities are checked while deserialising, so the format reports the
//! line and column of the bad value, and `serde_path_to_error` names the
//! field.

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};

use super::{Faults, Flap, Phase, RequestFault, Scenario, ScenarioError, parse_duration};
use crate::{Capacity, Latency};

/// A scenario file format.
///
/// ```
/// use std::path::Path;
/// use tower_chaos::scenario::Format;
///
/// assert_eq!(Format::from_path(Path::new("outage.yml")), Some(Format::Yaml));
/// assert_eq!(Format::from_path(Path::new("outage.txt")), None);
/// assert_eq!(Format::Toml.to_string(), "TOML");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file's extension names.
    ///
    /// ```
    /// # use std::path::Path;
    /// # use tower_chaos::scenario::Format;
    /// assert_eq!(Format::from_path(Path::new("s/aws.JSON")), Some(Format::Json));
    /// ```
    #[must_use]
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Self::Toml),
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Toml => "TOML",
            Self::Yaml => "YAML",
            Self::Json => "JSON",
        })
    }
}

/// A scenario file could not be loaded. The message starts with
/// `file:line:column:` where the format knows the position, then names the
/// field (`phases[1].request[0].rate`) and says what is wrong.
///
/// ```
/// use tower_chaos::scenario::{Format, LoadError, Scenario};
///
/// let err = Scenario::parse("name = \"x\"\n[[phases]]\ntarget = \"db\"\nfor = \"5 parsecs\"\n", Format::Toml)
///     .unwrap_err();
/// assert_eq!((err.line(), err.column()), (Some(4), Some(7)));
/// assert_eq!(err.field(), Some("phases[0].for"));
/// assert!(err.to_string().starts_with("<TOML text>:4:7: `phases[0].for`: invalid duration"), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The extension names no known format.
    #[error("{}: unknown scenario format (expected .toml, .yaml, .yml or .json)", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The text is not a valid scenario: bad syntax, an unknown field, a bad
    /// value.
    #[error("{}", parse_message(origin, *line, *column, field.as_deref(), message))]
    Parse {
        /// The file (or `<FORMAT text>`).
        origin: String,
        /// The format.
        format: Format,
        /// 1-based line, where known.
        line: Option<usize>,
        /// 1-based column, where known.
        column: Option<usize>,
        /// Path of the field, e.g. `phases[1].request[0].rate`.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The file parsed, but the scenario it describes is invalid (e.g. two
    /// phases with one name).
    #[error("{origin}: {source}")]
    Invalid {
        /// The file (or `<FORMAT text>`).
        origin: String,
        /// What is wrong.
        #[source]
        source: Box<ScenarioError>,
    },
}

fn parse_message(
    origin: &str,
    line: Option<usize>,
    column: Option<usize>,
    field: Option<&str>,
    msg: &str,
) -> String {
    let mut s = origin.to_owned();
    if let Some(l) = line {
        s.push_str(&format!(":{l}"));
        if let Some(c) = column {
            s.push_str(&format!(":{c}"));
        }
    }
    s.push_str(": ");
    if let Some(f) = field {
        s.push_str(&format!("`{f}`: "));
    }
    s.push_str(msg);
    s
}

impl LoadError {
    /// The 1-based line of the error, where the format knows it.
    ///
    /// ```
    /// use tower_chaos::scenario::{Format, Scenario};
    /// let err = Scenario::parse(r#"{"name": "x", "phases": [{"target": "db", "for": "1m", "rate": 1}]}"#, Format::Json).unwrap_err();
    /// assert_eq!((err.line(), err.column()), (Some(1), Some(61)));
    /// assert_eq!(err.field(), Some("phases[0].rate"));
    /// ```
    #[must_use]
    pub const fn line(&self) -> Option<usize> {
        match self {
            Self::Parse { line, .. } => *line,
            _ => None,
        }
    }

    /// The 1-based column of the error, where the format knows it.
    ///
    /// ```
    /// use tower_chaos::scenario::{Format, Scenario};
    /// let err = Scenario::parse(r#"{"name": "x", "phases": [{"target": "db", "for": "1m", "rate": 1}]}"#, Format::Json).unwrap_err();
    /// assert_eq!((err.line(), err.column()), (Some(1), Some(61)));
    /// assert_eq!(err.field(), Some("phases[0].rate"));
    /// ```
    #[must_use]
    pub const fn column(&self) -> Option<usize> {
        match self {
            Self::Parse { column, .. } => *column,
            _ => None,
        }
    }

    /// The path of the field in error, e.g. `phases[1].request[0].rate`.
    ///
    /// ```
    /// use tower_chaos::scenario::{Format, Scenario};
    /// let err = Scenario::parse(r#"{"name": "x", "phases": [{"target": "db", "for": "1m", "rate": 1}]}"#, Format::Json).unwrap_err();
    /// assert_eq!((err.line(), err.column()), (Some(1), Some(61)));
    /// assert_eq!(err.field(), Some("phases[0].rate"));
    /// ```
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Parse { field, .. } => field.as_deref(),
            Self::Invalid { source, .. } => match &**source {
                ScenarioError::Invalid { field, .. } => Some(field),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Scenario {
    /// Loads a scenario from a TOML, YAML or JSON file, by extension.
    ///
    /// # Errors
    ///
    /// [`LoadError`]: the file cannot be read, its extension is unknown, or
    /// its content is not a valid scenario (with file, line, column and
    /// field).
    ///
    /// ```no_run
    /// let scenario = tower_chaos::scenario::Scenario::from_file("tests/scenarios/outage.toml")?;
    /// assert!(!scenario.phases().is_empty());
    /// # Ok::<(), tower_chaos::scenario::LoadError>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let format = Format::from_path(path).ok_or_else(|| LoadError::UnknownFormat {
            path: path.to_owned(),
        })?;
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        load(&text, format, &path.display().to_string())
    }

    /// Parses a scenario from text in `format`.
    ///
    /// # Errors
    ///
    /// As [`from_file`](Self::from_file); the origin in messages is
    /// `<FORMAT text>`.
    ///
    /// ```
    /// use tower_chaos::scenario::{Format, Scenario};
    ///
    /// let yaml = "
    /// name: blip
    /// phases:
    ///   - name: outage
    ///     target: db
    ///     at: 1m
    ///     for: 90s
    ///     down: true
    /// ";
    /// let scenario = Scenario::parse(yaml, Format::Yaml)?;
    /// assert_eq!(scenario.duration(), std::time::Duration::from_secs(150));
    /// # Ok::<(), tower_chaos::scenario::LoadError>(())
    /// ```
    pub fn parse(text: &str, format: Format) -> Result<Self, LoadError> {
        load(text, format, &format!("<{format} text>"))
    }
}

fn load(text: &str, format: Format, origin: &str) -> Result<Scenario, LoadError> {
    let parse_error = |line, column, field: Option<String>, message: String| LoadError::Parse {
        origin: origin.to_owned(),
        format,
        line,
        column,
        field: field.as_deref().map(clean_path).filter(|f| !f.is_empty()),
        message,
    };
    let file: ScenarioFile = match format {
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let json = |e: &serde_json::Error, field: Option<String>| {
                let (l, c) = (e.line(), e.column());
                let msg = strip(&e.to_string(), &format!(" at line {l} column {c}"));
                parse_error((l > 0).then_some(l), (l > 0).then_some(c), field, msg)
            };
            let file = serde_path_to_error::deserialize(&mut de)
                .map_err(|e| json(e.inner(), Some(e.path().to_string())))?;
            de.end().map_err(|e| json(&e, None))?;
            file
        }
        Format::Toml => {
            let toml_error = |e: &toml::de::Error, field: Option<String>| {
                let (l, c) = e.span().map_or((None, None), |s| {
                    let (l, c) = line_col(text, s.start);
                    (Some(l), Some(c))
                });
                parse_error(l, c, field, e.message().trim().to_owned())
            };
            let de = toml::Deserializer::parse(text).map_err(|e| toml_error(&e, None))?;
            serde_path_to_error::deserialize(de)
                .map_err(|e| toml_error(e.inner(), Some(e.path().to_string())))?
        }
        Format::Yaml => {
            let de = serde_norway::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let inner = e.inner();
                let loc = inner.location();
                let mut msg = inner.to_string();
                if let Some(loc) = &loc {
                    msg = strip(&msg, &format!(" at line {} column {}", loc.line(), loc.column()));
                }
                // The YAML error may start with its own (shorter) path; ours
                // names the field too.
                let path = e.path().to_string();
                if let Some((prefix, rest)) = msg.split_once(": ") {
                    if !prefix.contains(' ') && path.starts_with(prefix) {
                        msg = rest.to_owned();
                    }
                }
                parse_error(
                    loc.as_ref().map(|l| l.line()),
                    loc.as_ref().map(|l| l.column()),
                    Some(path),
                    msg,
                )
            })?
        }
    };
    file.into_scenario().map_err(|source| LoadError::Invalid {
        origin: origin.to_owned(),
        source: Box::new(source),
    })
}

/// A field path without the segments `serde_path_to_error` could not name.
fn clean_path(path: &str) -> String {
    let mut p = path;
    while let Some(rest) = p.strip_suffix(".?") {
        p = rest;
    }
    if p == "?" || p == "." {
        String::new()
    } else {
        p.to_owned()
    }
}

/// Removes the first occurrence of `what` from `msg`.
fn strip(msg: &str, what: &str) -> String {
    msg.replacen(what, "", 1)
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    description: Option<String>,
    duration: Option<DurationText>,
    phases: Vec<PhaseFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseFile {
    name: Option<String>,
    target: String,
    at: Option<DurationText>,
    #[serde(rename = "for")]
    lasting: DurationText,
    #[serde(default)]
    down: bool,
    slow: Option<LatencyFile>,
    #[serde(default)]
    request: Vec<RequestFaultFile>,
    ramp: Option<RampFile>,
    flap: Option<FlapFile>,
    /// Connection faults at connect time (feature `io`), for every
    /// connection the target's connectors make during the phase.
    #[cfg(feature = "io")]
    #[serde(default)]
    connect: Vec<ConnectFaultName>,
}

/// A connect-time fault named in a file.
#[cfg(feature = "io")]
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ConnectFaultName {
    DnsFailure,
    Refuse,
    Hang,
}

#[cfg(feature = "io")]
impl ConnectFaultName {
    fn rule(self) -> crate::Rule<crate::io::ConnFault, crate::io::ConnInfo> {
        use crate::io::ConnFault;
        let fault = match self {
            Self::DnsFailure => ConnFault::dns_failure(),
            Self::Refuse => ConnFault::refuse(),
            Self::Hang => ConnFault::connect_hang(),
        };
        fault.when(crate::Trigger::always())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RampFile {
    from: Rate,
    to: Rate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlapFile {
    bad: DurationText,
    good: DurationText,
    while_good: Option<FaultsFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsFile {
    #[serde(default)]
    down: bool,
    slow: Option<LatencyFile>,
    #[serde(default)]
    request: Vec<RequestFaultFile>,
}

impl FaultsFile {
    fn into_faults(self) -> Faults {
        let mut f = Faults::new();
        if self.down {
            f = f.down();
        }
        if let Some(l) = self.slow {
            f = f.slow(l.0);
        }
        for r in self.request {
            f = f.request(r.0);
        }
        f
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum FaultName {
    Latency,
    LatencyAfter,
    Error,
    Hang,
    LostReply,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFaultRaw {
    fault: FaultName,
    latency: Option<LatencyFile>,
    rate: Option<Rate>,
    every: Option<NonZeroU64>,
    first: Option<NonZeroU64>,
    after: Option<u64>,
    window: Option<WindowFile>,
    keyed: Option<KeyedFile>,
    overload: Option<OverloadFile>,
    budget: Option<NonZeroU64>,
    max_active: Option<NonZeroU32>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFile {
    from: DurationText,
    to: DurationText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyedFile {
    attribute: String,
    rate: Rate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverloadFile {
    capacity: Positive,
    per: Option<DurationText>,
}

#[derive(Deserialize)]
#[serde(try_from = "RequestFaultRaw")]
struct RequestFaultFile(RequestFault);

impl TryFrom<RequestFaultRaw> for RequestFaultFile {
    type Error = String;

    fn try_from(raw: RequestFaultRaw) -> Result<Self, String> {
        let needs_latency = matches!(raw.fault, FaultName::Latency | FaultName::LatencyAfter);
        let mut f = match (raw.fault, raw.latency) {
            (FaultName::Latency, Some(l)) => RequestFault::latency(l.0),
            (FaultName::LatencyAfter, Some(l)) => RequestFault::latency_after(l.0),
            (_, None) if needs_latency => {
                return Err("a latency fault needs `latency` (e.g. latency = \"200ms\")".to_owned());
            }
            (_, Some(_)) => return Err("only latency faults take `latency`".to_owned()),
            (FaultName::Error, None) => RequestFault::error(),
            (FaultName::Hang, None) => RequestFault::hang(),
            (FaultName::LostReply, None) => RequestFault::lost_reply(),
            (FaultName::Latency | FaultName::LatencyAfter, None) => unreachable!(),
        };
        if let Some(p) = raw.rate {
            f = f.rate(p.0);
        }
        if let Some(n) = raw.every {
            f = f.every(n.get());
        }
        if let Some(n) = raw.first {
            f = f.first(n.get());
        }
        if let Some(n) = raw.after {
            f = f.after(n);
        }
        if let Some(w) = raw.window {
            if w.from.0 > w.to.0 {
                return Err(format!(
                    "`window.from` ({}) is after `window.to` ({})",
                    super::duration::Text(w.from.0),
                    super::duration::Text(w.to.0)
                ));
            }
            f = f.window(w.from.0, w.to.0);
        }
        if let Some(k) = raw.keyed {
            f = f.keyed(k.attribute, k.rate.0);
        }
        if let Some(o) = raw.overload {
            let per = o.per.map_or(Duration::from_secs(1), |d| d.0);
            if per.is_zero() {
                return Err("`overload.per` must be longer than zero".to_owned());
            }
            f = f.overload(Capacity::per(o.capacity.0, per));
        }
        if let Some(n) = raw.budget {
            f = f.budget(n.get());
        }
        if let Some(n) = raw.max_active {
            f = f.max_active(n.get());
        }
        if let Some(name) = raw.name {
            f = f.named(name);
        }
        Ok(Self(f))
    }
}

impl ScenarioFile {
    fn into_scenario(self) -> Result<Scenario, ScenarioError> {
        let mut b = Scenario::builder(self.name);
        if let Some(d) = self.description {
            b = b.description(d);
        }
        if let Some(d) = self.duration {
            b = b.duration(d.0);
        }
        for (i, p) in self.phases.into_iter().enumerate() {
            let name = p.name.unwrap_or_else(|| format!("{}-{}", p.target, i + 1));
            let content = FaultsFile {
                down: p.down,
                slow: p.slow,
                request: p.request,
            };
            let mut phase = Phase::new(name, p.target)
                .at(p.at.map_or(Duration::ZERO, |d| d.0))
                .lasting(p.lasting.0)
                .faults(content.into_faults());
            #[cfg(feature = "io")]
            for fault in p.connect {
                phase = phase.rule(fault.rule());
            }
            if let Some(r) = p.ramp {
                phase = phase.ramp(r.from.0, r.to.0);
            }
            if let Some(flap) = p.flap {
                let mut fl = Flap::new(flap.bad.0, flap.good.0);
                if let Some(good) = flap.while_good {
                    fl = fl.while_good(good.into_faults());
                }
                phase = phase.flap(fl);
            }
            b = b.phase(phase);
        }
        b.build()
    }
}

/// A duration as text (`"90s"`, `"2h15m"`).
struct DurationText(Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration as text, such as \"90s\", \"2h15m\" or \"500ms\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                parse_duration(v).map(DurationText).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A probability within `0.0..=1.0`.
struct Rate(f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate within 0.0..=1.0")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
                if (0.0..=1.0).contains(&v) {
                    Ok(Rate(v))
                } else {
                    Err(E::invalid_value(Unexpected::Float(v), &self))
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
                if v <= 1 {
                    Ok(Rate(v as f64))
                } else {
                    Err(E::invalid_value(Unexpected::Unsigned(v), &self))
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }
        }
        d.deserialize_f64(V)
    }
}

/// A finite number > 0.
struct Positive(f64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Positive;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a finite number > 0")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Positive, E> {
                if v.is_finite() && v > 0.0 {
                    Ok(Positive(v))
                } else {
                    Err(E::invalid_value(Unexpected::Float(v), &self))
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Positive, E> {
                if v > 0 {
                    Ok(Positive(v as f64))
                } else {
                    Err(E::invalid_value(Unexpected::Unsigned(v), &self))
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Positive, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }
        }
        d.deserialize_f64(V)
    }
}

/// A latency: `"200ms"` (fixed), or a table with one distribution and an
/// optional clamp: `{ fixed = "200ms" }`, `{ uniform = { min, max } }`,
/// `{ normal = { mean, std_dev } }`, `{ log_normal = { median, sigma } }`,
/// `{ pareto = { scale, shape } }`, plus `clamp = { min, max }`.
struct LatencyFile(Latency);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MinMax {
    min: DurationText,
    max: DurationText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NormalFile {
    mean: DurationText,
    std_dev: DurationText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogNormalFile {
    median: DurationText,
    sigma: NonNegative,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParetoFile {
    scale: DurationText,
    shape: Positive,
}

/// A finite number >= 0.
struct NonNegative(f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NonNegative;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a finite number >= 0")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NonNegative, E> {
                if v.is_finite() && v >= 0.0 {
                    Ok(NonNegative(v))
                } else {
                    Err(E::invalid_value(Unexpected::Float(v), &self))
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NonNegative, E> {
                Ok(NonNegative(v as f64))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NonNegative, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }
        }
        d.deserialize_f64(V)
    }
}

const LATENCY_FIELDS: &[&str] = &["fixed", "uniform", "normal", "log_normal", "pareto", "clamp"];

impl<'de> Deserialize<'de> for LatencyFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LatencyFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a latency: a duration such as \"200ms\", or a table with one of fixed, uniform, \
                     normal, log_normal, pareto (and optionally clamp)",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<LatencyFile, E> {
                parse_duration(v)
                    .map(|d| LatencyFile(Latency::fixed(d)))
                    .map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LatencyFile, A::Error> {
                let mut dist: Option<Latency> = None;
                let mut clamp: Option<MinMax> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let next = match key.as_str() {
                        "fixed" => Latency::fixed(map.next_value::<DurationText>()?.0),
                        "uniform" => {
                            let m: MinMax = map.next_value()?;
                            Latency::uniform(m.min.0, m.max.0)
                        }
                        "normal" => {
                            let n: NormalFile = map.next_value()?;
                            Latency::normal(n.mean.0, n.std_dev.0)
                        }
                        "log_normal" => {
                            let n: LogNormalFile = map.next_value()?;
                            Latency::log_normal(n.median.0, n.sigma.0)
                        }
                        "pareto" => {
                            let p: ParetoFile = map.next_value()?;
                            Latency::pareto(p.scale.0, p.shape.0)
                        }
                        "clamp" => {
                            if clamp.is_some() {
                                return Err(de::Error::duplicate_field("clamp"));
                            }
                            clamp = Some(map.next_value()?);
                            continue;
                        }
                        other => return Err(de::Error::unknown_field(other, LATENCY_FIELDS)),
                    };
                    if dist.is_some() {
                        return Err(de::Error::custom(format!(
                            "a latency has one distribution; `{key}` is a second one"
                        )));
                    }
                    dist = Some(next);
                }
                let Some(mut latency) = dist else {
                    return Err(de::Error::custom(
                        "a latency needs one of fixed, uniform, normal, log_normal, pareto",
                    ));
                };
                if let Some(c) = clamp {
                    latency = latency.clamp(c.min.0, c.max.0);
                }
                Ok(LatencyFile(latency))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_of_offsets() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (2, 2));
        assert_eq!(line_col(text, text.len()), (3, 2));
    }
}

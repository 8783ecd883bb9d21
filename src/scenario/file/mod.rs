//! Scenario files: TOML, YAML and JSON through serde (feature `serde`).
//!
//! The schema (see `docs/SCENARIOS.md`) is one set of serde types for the
//! three formats (`schema`; the `http` and `connection` tables in `http`
//! and `connection`; durations, rates and latencies in `values`). Every
//! struct denies unknown fields; values are checked while deserialising,
//! so the format reports the line and column of the bad value, and
//! `serde_path_to_error` names the field.

#[macro_use]
mod conditions;
#[cfg(feature = "io")]
mod connection;
#[cfg(feature = "http")]
mod http;
mod scan;
mod schema;
mod values;
mod write;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::limits::MAX_FILE_SIZE;
use super::{Scenario, ScenarioError};
use schema::ScenarioFile;
pub use write::WriteError;

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
    /// value; or it was refused before parsing: larger than
    /// [`MAX_FILE_SIZE`], not UTF-8 (at the first bad byte, with its
    /// offset), nested deeper than
    /// [`MAX_FILE_NESTING`](super::MAX_FILE_NESTING) (at the bracket).
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
        /// Path of the field, e.g. `phases[3].for`, or of the phase.
        field: Option<String>,
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
            Self::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

impl Scenario {
    /// Loads a scenario from a TOML, YAML or JSON file, by extension.
    ///
    /// # Errors
    ///
    /// [`LoadError`]: the file cannot be read, its extension is unknown, it
    /// is larger than [`MAX_FILE_SIZE`] (only that much is read), not
    /// UTF-8 or nested too deeply, or its content is not a valid scenario
    /// (with file, line, column and field; for checks of the whole
    /// scenario, the field names the phase's position, `phases[3].for`).
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
        let origin = path.display().to_string();
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        // Read at most one byte more than the limit: a huge or endless
        // file (a device, a pipe) is refused without reading it all.
        let mut bytes = Vec::new();
        let limit = u64::try_from(MAX_FILE_SIZE).unwrap_or(u64::MAX).saturating_add(1);
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .map_err(io)?;
        let refused = |r: scan::Refused, text: &str| refused(r, text, format, &origin);
        scan::size(bytes.len()).map_err(|r| refused(r, ""))?;
        let text = scan::utf8(&bytes).map_err(|r| {
            let valid = std::str::from_utf8(&bytes[..r.at.unwrap_or(0)]).unwrap_or_default();
            refused(r, valid)
        })?;
        load(text, format, &origin)
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

/// A file refused before parsing, at the line and column of the offset
/// where there is one.
fn refused(r: scan::Refused, text: &str, format: Format, origin: &str) -> LoadError {
    let (line, column) = r.at.map(|at| line_col(text, at)).unzip();
    LoadError::Parse {
        origin: origin.to_owned(),
        format,
        line,
        column,
        field: None,
        message: r.message,
    }
}

fn load(text: &str, format: Format, origin: &str) -> Result<Scenario, LoadError> {
    scan::size(text.len()).map_err(|r| refused(r, text, format, origin))?;
    scan::nesting(text, format).map_err(|r| refused(r, text, format, origin))?;
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
        field: match &source {
            ScenarioError::Invalid { field, .. } => Some(field.clone()),
            ScenarioError::DuplicatePhase { second, .. } => Some(format!("phases[{second}].name")),
            _ => None,
        },
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

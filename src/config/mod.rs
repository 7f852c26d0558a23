//! TOML configuration: schema, `--set` overrides, validation with locations.
//!
//! Loading goes in three steps so that every error points at something the user
//! typed:
//! 1. the file alone is parsed into the raw schema (syntax errors and unknown
//!    keys are reported at their line and column in the file);
//! 2. the `--set KEY=VALUE` overrides are applied to the document (formatting
//!    preserved) giving the *effective* config text, which is stored in every
//!    output file; errors are reported against the `--set` argument;
//! 3. the effective raw config is validated into typed values ([`Config`]);
//!    an invalid value is reported with its key, its value, the reason, and
//!    the line/column of the value in the file (or the `--set` that gave it).
//!
//! The numerics never see this module: they get [`crate::model::ReducedParams`],
//! grids and plain numbers.

mod overrides;
pub mod protocol;
mod schema;
pub mod sweep;

pub use crate::engines::Engine;
pub use crate::master::{LiouvillianKind, SaveState};
pub use crate::model::ModeState;
pub use schema::{Config, PhaseSpec, SolverSpec, TimeGrid, TrajectorySpec, ValidateOptions};

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in the input a problem is.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Line and column (1-based) in the config file.
    File { line: usize, column: usize },
    /// A `--set` argument.
    Override(String),
    /// Nowhere in particular (e.g. a missing section).
    Whole,
}

/// A configuration error: which file, where, which key, what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub origin: Origin,
    /// Dotted key path, e.g. `time.n_save`, when known.
    pub key: Option<String>,
    pub message: String,
    /// The offending source line, for display.
    pub excerpt: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        match &self.origin {
            Origin::File { line, column } => write!(f, ":{line}:{column}")?,
            Origin::Override(arg) => write!(f, " (--set {arg})")?,
            Origin::Whole => {}
        }
        write!(f, ": ")?;
        if let Some(k) = &self.key {
            write!(f, "`{k}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let (Some(ex), Origin::File { line, .. }) = (&self.excerpt, &self.origin) {
            write!(f, "\n    {line} | {ex}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads, overrides and validates a config file.
pub fn load(path: &Path, overrides: &[String]) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        origin: Origin::Whole,
        key: None,
        message: format!("cannot read config file: {e}"),
        excerpt: None,
    })?;
    parse(&text, path, overrides)
}

/// As [`load`], from text already in memory (`file` is used in messages only).
pub fn parse(text: &str, file: &Path, overrides: &[String]) -> Result<Config, ConfigError> {
    let src = Source { file, text };
    // Step 1: the file alone, so that syntax errors and unknown keys point into it.
    let _: schema::RawConfig = toml::from_str(text).map_err(|e| src.serde_error(&e, None))?;
    // Steps 2 and 3: overrides, then validation with locations in the file.
    let cfg = parse_with(text, file, overrides, true)?;
    // Every sweep axis must name a config key: apply its first value and
    // validate, reporting failures against the axis.
    if let Some(sw) = &cfg.sweep {
        for axis in &sw.axes {
            let mut with = overrides.to_vec();
            with.push(format!("{}={}", axis.key, sweep::toml_number(axis.values[0])));
            if let Err(e) = parse_point(text, file, &with) {
                return Err(ConfigError {
                    file: file.to_path_buf(),
                    origin: Origin::Whole,
                    key: Some(format!("sweep.\"{}\"", axis.key)),
                    message: format!("axis key `{}` is not usable: {}", axis.key, e.message),
                    excerpt: None,
                });
            }
        }
    }
    check_protocol(&cfg, text, file, overrides)?;
    Ok(cfg)
}

/// Every change of the protocol must be a valid override of the config, and
/// so must the steps applied in order: each is applied and validated.
fn check_protocol(cfg: &Config, text: &str, file: &Path, overrides: &[String]) -> Result<(), ConfigError> {
    let Some(spec) = &cfg.protocol else { return Ok(()) };
    let mut cumulative = overrides.to_vec();
    let keys: Vec<String> = (0..spec.steps.len())
        .map(|k| format!("protocol.step[{k}].set"))
        .chain(spec.events.iter().enumerate().filter(|(_, e)| e.set.is_some()).map(|(k, _)| format!("protocol.event[{k}].set")))
        .collect();
    for (k, (change, key)) in spec.changes().into_iter().zip(keys).enumerate() {
        let mut with = overrides.to_vec();
        with.extend(change.iter().map(|(_, a)| a.clone()));
        let fail = |e: ConfigError, what: &str| ConfigError {
            file: file.to_path_buf(),
            origin: Origin::Whole,
            key: Some(key.clone()),
            message: format!("{what}: {}{}", e.key.map(|k| format!("`{k}`: ")).unwrap_or_default(), e.message),
            excerpt: None,
        };
        parse_point(text, file, &with).map_err(|e| fail(e, "this change makes the config invalid"))?;
        if k < spec.steps.len() {
            cumulative.extend(change.iter().map(|(_, a)| a.clone()));
            parse_point(text, file, &cumulative).map_err(|e| fail(e, "after this step (and the ones before it) the config is invalid"))?;
        }
    }
    Ok(())
}

/// The config of one sweep point: `text` with `overrides` (the sweep's axis
/// values after any `--set`), validated, without re-checking the sweep axes.
pub fn parse_point(text: &str, file: &Path, overrides: &[String]) -> Result<Config, ConfigError> {
    parse_with(text, file, overrides, false)
}

/// Applies `overrides` to `text` and validates the result; invalid values are
/// located in the file (`locate`) or reported against the whole config.
fn parse_with(text: &str, file: &Path, overrides: &[String], locate: bool) -> Result<Config, ConfigError> {
    let src = Source { file, text };
    let (effective, overridden) = overrides::apply(text, overrides).map_err(|(arg, message)| ConfigError {
        file: file.to_path_buf(),
        origin: Origin::Override(arg),
        key: None,
        message,
        excerpt: None,
    })?;
    let raw: schema::RawConfig = toml::from_str(&effective).map_err(|e| {
        let last = overrides.last().cloned().unwrap_or_default();
        src.serde_error(&e, Some(last))
    })?;
    let origin_of = |key: &str| -> Origin {
        // `--set model.kappa=[…]` owns `model.kappa[1]`; `--set phase.alpha={…}`
        // owns `phase.alpha.n`.
        let owns = |k: &str| key == k || key.starts_with(&format!("{k}.")) || key.starts_with(&format!("{k}["));
        if let Some(arg) = overridden.iter().find(|(k, _)| owns(k)) {
            return Origin::Override(arg.1.clone());
        }
        if locate {
            src.locate(key)
        } else {
            Origin::Whole
        }
    };
    let mut cfg = schema::validate(raw, effective, &|key, message| {
        let origin = origin_of(key);
        ConfigError { file: file.to_path_buf(), excerpt: src.excerpt(&origin), origin, key: Some(key.to_string()), message }
    })?;
    cfg.file = file.to_path_buf();
    Ok(cfg)
}

/// The parser's messages in the words of the config, not of Rust's types
/// (`expected i64` → `expected an integer`).
fn plain_types(message: &str) -> String {
    const WORDS: [(&str, &str); 9] = [
        ("expected i64", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected usize", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected a string", "expected a string (in quotes)"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array [...]"),
        ("expected a map", "expected a table { ... }"),
        ("floating point", "number"),
    ];
    WORDS.iter().fold(message.to_string(), |m, (from, to)| m.replace(from, to))
}

struct Source<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    fn excerpt(&self, origin: &Origin) -> Option<String> {
        match origin {
            Origin::File { line, .. } => self.text.lines().nth(line - 1).map(str::to_string),
            _ => None,
        }
    }

    /// The TOML section header (`[reduced]`) in force at a byte offset.
    fn section_at(&self, offset: usize) -> Option<String> {
        self.text[..offset.min(self.text.len())]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('[') && !l.starts_with("[["))
            .map(|l| l.split(']').next().unwrap_or(l).trim_start_matches('[').trim().to_string())
    }

    fn serde_error(&self, e: &toml::de::Error, from_override: Option<String>) -> ConfigError {
        let message = plain_types(e.message().trim());
        match (from_override, e.span()) {
            (Some(arg), _) => ConfigError {
                file: self.file.to_path_buf(),
                origin: Origin::Override(arg),
                key: None,
                message,
                excerpt: None,
            },
            (None, Some(span)) => {
                let (line, column) = self.line_col(span.start);
                let origin = Origin::File { line, column };
                let message = match self.section_at(span.start) {
                    Some(s) if message.starts_with("unknown field") => format!("{message} (in section [{s}])"),
                    _ => message,
                };
                ConfigError {
                    file: self.file.to_path_buf(),
                    excerpt: self.excerpt(&origin),
                    origin,
                    key: None,
                    message,
                }
            }
            (None, None) => ConfigError {
                file: self.file.to_path_buf(),
                origin: Origin::Whole,
                key: None,
                message,
                excerpt: None,
            },
        }
    }

    /// Line/column of the value of a dotted key (`time.n_save`, `phase.alpha.n`)
    /// in the file, or of the deepest enclosing table that exists.
    fn locate(&self, key: &str) -> Origin {
        let Ok(doc) = toml_edit::ImDocument::parse(self.text) else { return Origin::Whole };
        let mut item = doc.as_item();
        let mut best = None;
        for part in key.split('.') {
            let part = part.split('[').next().unwrap_or(part);
            match item.get(part) {
                Some(next) => {
                    item = next;
                    if let Some(span) = item.span() {
                        best = Some(span.start);
                    } else if let Some(t) = item.as_table() {
                        best = t.span().map(|s| s.start).or(best);
                    }
                }
                None => break,
            }
        }
        match best {
            Some(off) => {
                let (line, column) = self.line_col(off);
                Origin::File { line, column }
            }
            None => Origin::Whole,
        }
    }
}

#[cfg(test)]
mod tests;

//! The config schema: raw serde structs (every field optional, unknown keys
//! rejected) and their validation into typed values.
//!
//! Sections and keys (see README "Config reference"):
//! - `[reduced]` `gamma_a`, `gamma_b`, `delta_r` (δ_ra = −δ_rb = δ_r) or
//!   `delta_ra` + `delta_rb`, `drive_r` (default 1, so energies are in E_r²).
//! - `[time]` `t_end` (> 0, config time unit), `n_save` (≥ 2).
//! - `[phase]` `gamma_b`, `delta_r = {start, stop, n}`, `alpha = {start, stop, n}`,
//!   `e_max` (units of E_r²), `markers = [[delta_r, alpha], ...]`.
//! - `[output]` `path`.

use super::ConfigError;
use crate::model::ReducedParams;
use crate::reduced::linspace;
use crate::reduced::phase_diagram::PhaseGrid;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    reduced: Option<RawReduced>,
    time: Option<RawTime>,
    phase: Option<RawPhase>,
    output: Option<RawOutput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReduced {
    gamma_a: Option<f64>,
    gamma_b: Option<f64>,
    delta_r: Option<f64>,
    delta_ra: Option<f64>,
    delta_rb: Option<f64>,
    drive_r: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    t_end: Option<f64>,
    n_save: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    gamma_b: Option<f64>,
    delta_r: Option<RawRange>,
    alpha: Option<RawRange>,
    e_max: Option<f64>,
    markers: Option<Vec<Vec<f64>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    start: Option<f64>,
    stop: Option<f64>,
    n: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    path: Option<String>,
}

/// Largest number of saved times / grid points accepted, so that a typo such as
/// `n_save = 1e12` is refused instead of exhausting memory.
pub const MAX_POINTS: usize = 100_000_000;

/// Save times `linspace(0, t_end, n_save)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeGrid {
    /// Final time, in the config's time unit (1/g for the reduced model).
    pub t_end: f64,
    pub n_save: usize,
}

impl TimeGrid {
    pub fn times(&self) -> Vec<f64> {
        linspace(0.0, self.t_end, self.n_save)
    }
}

/// A phase-diagram request.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpec {
    pub grid: PhaseGrid,
    /// Points (δ_r, α) at which time traces are computed (needs `[time]`).
    pub markers: Vec<(f64, f64)>,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub file: PathBuf,
    pub reduced: Option<ReducedParams>,
    pub time: Option<TimeGrid>,
    pub phase: Option<PhaseSpec>,
    pub output_path: Option<PathBuf>,
    /// The TOML text after `--set` overrides: what was actually run.
    pub effective_text: String,
}

impl Config {
    fn missing(&self, section: &str, why: &str) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            origin: super::Origin::Whole,
            key: None,
            message: format!("missing section [{section}]: {why}"),
            excerpt: None,
        }
    }

    pub fn require_reduced(&self, why: &str) -> Result<ReducedParams, ConfigError> {
        self.reduced.ok_or_else(|| self.missing("reduced", why))
    }

    pub fn require_time(&self, why: &str) -> Result<TimeGrid, ConfigError> {
        self.time.ok_or_else(|| self.missing("time", why))
    }

    pub fn require_phase(&self, why: &str) -> Result<&PhaseSpec, ConfigError> {
        self.phase.as_ref().ok_or_else(|| self.missing("phase", why))
    }
}

type MkErr<'a> = &'a dyn Fn(&str, String) -> ConfigError;

fn required<T>(v: Option<T>, key: &str, err: MkErr) -> Result<T, ConfigError> {
    v.ok_or_else(|| err(key, "missing key (required in this section)".into()))
}

fn finite(v: f64, key: &str, err: MkErr) -> Result<f64, ConfigError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(err(key, format!("value {v} is not a finite number")))
    }
}

fn count(v: i64, min: i64, key: &str, err: MkErr) -> Result<usize, ConfigError> {
    if v < min {
        return Err(err(key, format!("value {v} must be >= {min}")));
    }
    let n = v as usize;
    if n > MAX_POINTS {
        return Err(err(key, format!("value {v} is larger than the limit {MAX_POINTS}")));
    }
    Ok(n)
}

pub(super) fn validate(raw: RawConfig, effective_text: String, err: MkErr) -> Result<Config, ConfigError> {
    let reduced = raw.reduced.map(|r| validate_reduced(r, err)).transpose()?;
    let time = raw.time.map(|t| validate_time(t, err)).transpose()?;
    let phase = raw.phase.map(|p| validate_phase(p, err)).transpose()?;
    let output_path = match raw.output.and_then(|o| o.path) {
        Some(p) if p.trim().is_empty() => return Err(err("output.path", "empty path".into())),
        Some(p) => Some(PathBuf::from(p)),
        None => None,
    };
    Ok(Config { file: PathBuf::new(), reduced, time, phase, output_path, effective_text })
}

fn validate_reduced(r: RawReduced, err: MkErr) -> Result<ReducedParams, ConfigError> {
    let gamma_a = finite(required(r.gamma_a, "reduced.gamma_a", err)?, "reduced.gamma_a", err)?;
    let gamma_b = finite(required(r.gamma_b, "reduced.gamma_b", err)?, "reduced.gamma_b", err)?;
    let drive_r = finite(r.drive_r.unwrap_or(1.0), "reduced.drive_r", err)?;
    let (delta_ra, delta_rb) = match (r.delta_r, r.delta_ra, r.delta_rb) {
        (Some(d), None, None) => {
            let d = finite(d, "reduced.delta_r", err)?;
            (d, -d)
        }
        (None, Some(a), Some(b)) => (finite(a, "reduced.delta_ra", err)?, finite(b, "reduced.delta_rb", err)?),
        (Some(_), _, _) => {
            return Err(err(
                "reduced.delta_r",
                "give either delta_r (symmetric, δ_ra = −δ_rb) or delta_ra and delta_rb, not both".into(),
            ))
        }
        (None, None, None) => {
            return Err(err("reduced.delta_r", "missing key: give delta_r, or delta_ra and delta_rb".into()))
        }
        (None, a, _) => {
            let missing = if a.is_none() { "reduced.delta_ra" } else { "reduced.delta_rb" };
            return Err(err(missing, "missing key: delta_ra and delta_rb go together".into()));
        }
    };
    let p = ReducedParams { gamma_a, gamma_b, delta_ra, delta_rb, drive_r };
    p.validate().map_err(|e| err(&format!("reduced.{}", e.name), format!("value {}: {}", e.value, e.reason)))?;
    Ok(p)
}

fn validate_time(t: RawTime, err: MkErr) -> Result<TimeGrid, ConfigError> {
    let t_end = finite(required(t.t_end, "time.t_end", err)?, "time.t_end", err)?;
    if t_end <= 0.0 {
        return Err(err("time.t_end", format!("value {t_end} must be > 0")));
    }
    let n_save = count(required(t.n_save, "time.n_save", err)?, 2, "time.n_save", err)?;
    Ok(TimeGrid { t_end, n_save })
}

fn validate_range(r: Option<RawRange>, key: &str, err: MkErr) -> Result<Vec<f64>, ConfigError> {
    let r = required(r, key, err)?;
    let start = finite(required(r.start, &format!("{key}.start"), err)?, &format!("{key}.start"), err)?;
    let stop = finite(required(r.stop, &format!("{key}.stop"), err)?, &format!("{key}.stop"), err)?;
    let n = count(required(r.n, &format!("{key}.n"), err)?, 1, &format!("{key}.n"), err)?;
    if n == 1 && start != stop {
        return Err(err(&format!("{key}.n"), format!("n = 1 needs start == stop (got {start} and {stop})")));
    }
    Ok(linspace(start, stop, n))
}

fn validate_phase(p: RawPhase, err: MkErr) -> Result<PhaseSpec, ConfigError> {
    let gamma_b = finite(required(p.gamma_b, "phase.gamma_b", err)?, "phase.gamma_b", err)?;
    if gamma_b < 0.0 {
        return Err(err("phase.gamma_b", format!("value {gamma_b} must be >= 0 (negative damping is gain)")));
    }
    let delta_r = validate_range(p.delta_r, "phase.delta_r", err)?;
    let alpha = validate_range(p.alpha, "phase.alpha", err)?;
    let min_alpha = -gamma_b / 2.0;
    if let Some(&a) = alpha.iter().find(|&&a| a < min_alpha) {
        return Err(err(
            "phase.alpha",
            format!("α = {a} < −γ_b/2 = {min_alpha} would make γ_a = γ_b + 2α negative (gain)"),
        ));
    }
    if delta_r.len().saturating_mul(alpha.len()) > MAX_POINTS {
        return Err(err("phase.delta_r", format!("the grid has more than {MAX_POINTS} points")));
    }
    let e_max = match p.e_max {
        Some(e) => {
            let e = finite(e, "phase.e_max", err)?;
            if e <= 0.0 {
                return Err(err("phase.e_max", format!("value {e} must be > 0 (units of E_r²)")));
            }
            Some(e)
        }
        None => None,
    };
    let mut markers = Vec::new();
    for (k, m) in p.markers.unwrap_or_default().into_iter().enumerate() {
        let key = format!("phase.markers[{k}]");
        if m.len() != 2 {
            return Err(err(&key, format!("expected [delta_r, alpha], got {} numbers", m.len())));
        }
        let (d, a) = (finite(m[0], &key, err)?, finite(m[1], &key, err)?);
        if a < min_alpha {
            return Err(err(&key, format!("α = {a} < −γ_b/2 = {min_alpha} would make γ_a negative")));
        }
        markers.push((d, a));
    }
    Ok(PhaseSpec { grid: PhaseGrid { gamma_b, delta_r, alpha, e_max }, markers })
}

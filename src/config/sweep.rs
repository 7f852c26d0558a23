//! The `[sweep]` section: axes over any config key.
//!
//! ```toml
//! [sweep]
//! mode = "grid"                                    # outer product (default) or "zip"
//! "model.kappa[2]" = { logspace = [0, 2, 21] }     # 10^0 … 10^2
//! "reduced.delta_r" = { linspace = [-2, 2, 401] }
//! "model.n_th[1]" = { values = [0, 0.1, 0.5] }
//! ```
//!
//! Each point is one full run of the configured engines with the axis values
//! applied as `--set` overrides. Grid points are numbered row-major: the last
//! axis varies fastest.

use super::{ConfigError, Origin};
use crate::reduced::linspace;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepMode {
    Grid,
    Zip,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Config key, e.g. `model.kappa[2]`.
    pub key: String,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    pub mode: SweepMode,
    pub axes: Vec<Axis>,
}

/// Largest number of points of one sweep.
pub const MAX_SWEEP_POINTS: usize = 10_000_000;

impl SweepSpec {
    pub fn n_points(&self) -> usize {
        match self.mode {
            SweepMode::Grid => self.axes.iter().map(|a| a.values.len()).product(),
            SweepMode::Zip => self.axes.first().map_or(0, |a| a.values.len()),
        }
    }

    /// Grid shape (one entry per axis; `[n]` for zip).
    pub fn shape(&self) -> Vec<usize> {
        match self.mode {
            SweepMode::Grid => self.axes.iter().map(|a| a.values.len()).collect(),
            SweepMode::Zip => vec![self.n_points()],
        }
    }

    /// The axis values of point `i`.
    pub fn point(&self, i: usize) -> Vec<f64> {
        match self.mode {
            SweepMode::Zip => self.axes.iter().map(|a| a.values[i]).collect(),
            SweepMode::Grid => {
                let mut rest = i;
                let mut v = vec![0.0; self.axes.len()];
                for (k, a) in self.axes.iter().enumerate().rev() {
                    v[k] = a.values[rest % a.values.len()];
                    rest /= a.values.len();
                }
                v
            }
        }
    }

    /// `--set` overrides of point `i`. Integral values are written as TOML
    /// integers so that integer keys (cutoffs, n_save) can be swept too.
    pub fn overrides(&self, i: usize) -> Vec<String> {
        self.axes.iter().zip(self.point(i)).map(|(a, v)| format!("{}={}", a.key, toml_number(v))).collect()
    }
}

pub fn toml_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

fn err(file: &Path, key: &str, message: String) -> ConfigError {
    ConfigError { file: file.to_path_buf(), origin: Origin::Whole, key: Some(format!("sweep.{key}")), message, excerpt: None }
}

/// Parses the `[sweep]` table (keys are checked against the schema by the caller).
pub fn parse_sweep(table: &toml::Table, file: &Path) -> Result<SweepSpec, ConfigError> {
    let mut mode = SweepMode::Grid;
    let mut axes = Vec::new();
    for (key, value) in table {
        if key == "mode" {
            mode = match value.as_str() {
                Some("grid") => SweepMode::Grid,
                Some("zip") => SweepMode::Zip,
                _ => return Err(err(file, "mode", format!("{value} is not \"grid\" or \"zip\""))),
            };
            continue;
        }
        let spec = value
            .as_table()
            .filter(|t| t.len() == 1)
            .ok_or_else(|| err(file, key, format!("{value}: expected one of {{ linspace = [a, b, n] }}, {{ logspace = [a, b, n] }}, {{ values = [...] }}")))?;
        let (kind, arg) = spec.iter().next().expect("one entry");
        let nums: Vec<f64> = arg
            .as_array()
            .ok_or_else(|| err(file, key, format!("{kind} takes an array, got {arg}")))?
            .iter()
            .map(|x| x.as_float().or_else(|| x.as_integer().map(|i| i as f64)))
            .collect::<Option<_>>()
            .ok_or_else(|| err(file, key, format!("{kind}: every entry must be a number, got {arg}")))?;
        if let Some(bad) = nums.iter().find(|x| !x.is_finite()) {
            return Err(err(file, key, format!("{kind}: {bad} is not finite")));
        }
        let range = |nums: &[f64]| -> Result<(f64, f64, usize), ConfigError> {
            match nums {
                [a, b, n] if *n >= 1.0 && n.fract() == 0.0 && *n <= MAX_SWEEP_POINTS as f64 => Ok((*a, *b, *n as usize)),
                [_, _, n] if *n > MAX_SWEEP_POINTS as f64 => Err(err(
                    file,
                    key,
                    format!("{kind} = {arg}: n = {n} is more than the {MAX_SWEEP_POINTS} points a sweep may have"),
                )),
                [_, _, _] => Err(err(file, key, format!("{kind} = {arg}: n must be an integer >= 1"))),
                _ => Err(err(file, key, format!("{kind} = {arg}: expected [start, stop, n] (3 numbers), got {}", nums.len()))),
            }
        };
        let values = match kind.as_str() {
            "linspace" => {
                let (a, b, n) = range(&nums)?;
                linspace(a, b, n)
            }
            "logspace" => {
                let (a, b, n) = range(&nums)?;
                linspace(a, b, n).into_iter().map(|x| 10f64.powf(x)).collect()
            }
            "values" => nums,
            other => return Err(err(file, key, format!("unknown axis kind `{other}` (linspace, logspace, values)"))),
        };
        if values.is_empty() {
            return Err(err(file, key, "empty axis: give at least one value".into()));
        }
        axes.push(Axis { key: key.clone(), values });
    }
    if axes.is_empty() {
        return Err(err(file, "", "no axes: add e.g. \"reduced.delta_r\" = { linspace = [-2, 2, 401] }".into()));
    }
    if mode == SweepMode::Zip {
        let n = axes[0].values.len();
        if let Some(a) = axes.iter().find(|a| a.values.len() != n) {
            return Err(err(
                file,
                &a.key,
                format!("zip mode needs axes of equal length: `{}` has {n} values, `{}` has {}", axes[0].key, a.key, a.values.len()),
            ));
        }
    }
    let spec = SweepSpec { mode, axes };
    let n = spec.axes.iter().try_fold(1usize, |acc, a| acc.checked_mul(a.values.len()));
    if n.is_none_or(|n| n > MAX_SWEEP_POINTS) {
        return Err(err(file, "", format!("the sweep has more than {MAX_SWEEP_POINTS} points")));
    }
    Ok(spec)
}

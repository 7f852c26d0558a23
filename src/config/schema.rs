//! The config schema: raw serde structs (every field optional, unknown keys
//! rejected) and their validation into typed values.
//!
//! Sections and keys (see README "Config reference"):
//! - `[reduced]` `gamma_a`, `gamma_b`, `delta_r` (δ_ra = −δ_rb = δ_r) or
//!   `delta_ra` + `delta_rb`, `drive_r` (default 1, so energies are in E_r²).
//! - `[time]` `t_end` (> 0, config time unit), `n_save` (≥ 2).
//! - `[phase]` `gamma_b`, `delta_r = {start, stop, n}`, `alpha = {start, stop, n}`,
//!   `e_max` (units of E_r²), `markers = [[delta_r, alpha], ...]`.
//! - `[model]` `cutoffs = [Na, Nb, Nc]`, `delta = [δa, δb, δc]` (default 0),
//!   `drive`, `kappa = [κa, κb, κc]`, `gamma`, `p_a`, `p_b`, `p_ca`, `p_cb` (a
//!   number or `[re, im]`, default 1), `n_th = [na, nb, nc]`, `n_th_shared =
//!   [n_za, n_zb]` (default 0). Lindblad rates.
//! - `[initial]` `a`, `b`, `c`: `"vacuum"` (default), `{ coherent = [re, im] }`,
//!   `{ fock = n }`, `{ thermal = nbar }`.
//! - `[solver]` `engines`, `method = "dopri5" | "dop853"`, `rtol` (1e-8),
//!   `atol` (1e-10), `liouvillian = "kernel" | "superoperator"`.
//! - `[validate]` `ratios` (1e1..1e5), `target` (0.01), `engines`
//!   (`["moments", "master"]`, or `["moments"]`): `qbsim validate`.
//! - `[trajectories]` `n` (1000), `seed` (drawn and stored if absent).
//! - `[steady]` `tol` (1e-12), `restart` (40), `max_iterations` (5000): GMRES
//!   of `qbsim steady`.
//! - `[output]` `path`, `save_state = "none" | "final" | "all"`.

use super::ConfigError;
use super::sweep::SweepSpec;
use crate::engines::Engine;
use crate::integrate::Method;
use crate::master::steady::SteadyOptions;
use crate::master::{LiouvillianKind, SaveState};
use crate::model::ModeState;
use crate::model::{MicroParams, ReducedParams};
use num_complex::Complex64 as C64;
use crate::observables::states;
use crate::reduced::linspace;
use crate::reduced::phase_diagram::PhaseGrid;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a TOML config with sections [reduced], [model], [initial], [solver], [time], [phase], [output], [sweep], [protocol], [steady], [validate], [trajectories]")]
pub(super) struct RawConfig {
    trajectories: Option<RawTrajectories>,
    steady: Option<RawSteady>,
    validate: Option<RawValidate>,
    reduced: Option<RawReduced>,
    model: Option<RawModel>,
    initial: Option<RawInitial>,
    solver: Option<RawSolver>,
    time: Option<RawTime>,
    phase: Option<RawPhase>,
    output: Option<RawOutput>,
    sweep: Option<toml::Table>,
    protocol: Option<super::protocol::RawProtocol>,
}

/// A complex number written as a number or as `[re, im]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
#[serde(expecting = "expected a number or [re, im]")]
enum RawComplex {
    Real(f64),
    Pair(Vec<f64>),
}

impl RawComplex {
    /// The value; `[re, im]` must have exactly two entries (serde would
    /// otherwise accept and silently drop extra ones).
    fn value(self, key: &str, err: MkErr) -> Result<C64, ConfigError> {
        match self {
            RawComplex::Real(x) => Ok(C64::new(x, 0.0)),
            RawComplex::Pair(v) if v.len() == 2 => Ok(C64::new(v[0], v[1])),
            RawComplex::Pair(v) => {
                Err(err(key, format!("expected a number or [re, im] (2 numbers), got an array of {} numbers", v.len())))
            }
        }
    }
}

/// A fixed-length array: exactly `N` values (the TOML parser would accept
/// longer arrays and silently drop the rest).
fn fixed<T: Copy + Default, const N: usize>(
    v: Option<Vec<T>>,
    key: &str,
    names: &str,
    err: MkErr,
) -> Result<Option<[T; N]>, ConfigError> {
    let Some(v) = v else { return Ok(None) };
    if v.len() != N {
        return Err(err(key, format!("expected {N} values {names}, got {}", v.len())));
    }
    let mut out = [T::default(); N];
    out.copy_from_slice(&v);
    Ok(Some(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [model] (cutoffs, delta, drive, kappa, gamma, p_a, p_b, p_ca, p_cb, n_th, n_th_shared, kerr, cross_kerr, exchange, dephasing)")]
struct RawModel {
    cutoffs: Option<Vec<i64>>,
    delta: Option<Vec<f64>>,
    drive: Option<f64>,
    kappa: Option<Vec<f64>>,
    gamma: Option<f64>,
    p_a: Option<RawComplex>,
    p_b: Option<RawComplex>,
    p_ca: Option<RawComplex>,
    p_cb: Option<RawComplex>,
    n_th: Option<Vec<f64>>,
    n_th_shared: Option<Vec<f64>>,
    kerr: Option<Vec<f64>>,
    cross_kerr: Option<Vec<f64>>,
    exchange: Option<Vec<RawComplex>>,
    dephasing: Option<Vec<f64>>,
}

/// One mode's initial state: `"vacuum"` or `{ coherent = [re, im] }`,
/// `{ fock = n }`, `{ thermal = nbar }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
#[serde(expecting = "expected \"vacuum\", { coherent = [re, im] }, { fock = n } or { thermal = nbar }")]
enum RawModeState {
    Name(String),
    Table(RawModeTable),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "{ coherent = [re, im] }, { fock = n } or { thermal = nbar }")]
struct RawModeTable {
    coherent: Option<RawComplex>,
    fock: Option<i64>,
    thermal: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [initial] (a, b, c, or from)")]
struct RawInitial {
    from: Option<String>,
    a: Option<RawModeState>,
    b: Option<RawModeState>,
    c: Option<RawModeState>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [trajectories] (n, seed)")]
struct RawTrajectories {
    n: Option<i64>,
    seed: Option<i64>,
}

/// `[trajectories]`: the quantum-jump engine's ensemble.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrajectorySpec {
    /// Number of trajectories.
    pub n: usize,
    /// The seed; `None`: drawn at random when the run starts (printed and stored).
    pub seed: Option<u64>,
}

/// Largest number of trajectories of one run (counts are stored as u64;
/// this bounds the per-chunk sums kept in memory and in shard files).
pub const MAX_TRAJECTORIES: i64 = 1_000_000_000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [validate] (ratios, target, engines)")]
struct RawValidate {
    ratios: Option<Vec<f64>>,
    target: Option<f64>,
    engines: Option<Vec<String>>,
}

/// `[validate]`: what `qbsim validate` runs at every point.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidateOptions {
    /// Elimination ratios r (at least two distinct ones).
    pub ratios: Vec<f64>,
    /// The relative reduction error whose r `r_needed` reports.
    pub target: f64,
    /// Run the master equation on every realization too (else the exact
    /// moments alone stand in for it: they are exact for this linear model).
    pub master: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self { ratios: crate::validate::DEFAULT_RATIOS.to_vec(), target: 0.01, master: true }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [steady] (tol, restart, max_iterations)")]
struct RawSteady {
    tol: Option<f64>,
    restart: Option<i64>,
    max_iterations: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [solver] (engines, method, rtol, atol, liouvillian)")]
struct RawSolver {
    engines: Option<Vec<String>>,
    method: Option<String>,
    rtol: Option<f64>,
    atol: Option<f64>,
    liouvillian: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [reduced] (gamma_a or alpha, gamma_b, delta_r or delta_ra and delta_rb, drive_r)")]
struct RawReduced {
    gamma_a: Option<f64>,
    alpha: Option<f64>,
    gamma_b: Option<f64>,
    delta_r: Option<f64>,
    delta_ra: Option<f64>,
    delta_rb: Option<f64>,
    drive_r: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [time] (t_end, n_save)")]
struct RawTime {
    t_end: Option<f64>,
    n_save: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [phase] (gamma_b, delta_r, alpha, e_max, markers)")]
struct RawPhase {
    gamma_b: Option<f64>,
    delta_r: Option<RawRange>,
    alpha: Option<RawRange>,
    e_max: Option<f64>,
    markers: Option<Vec<Vec<f64>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a range { start = ..., stop = ..., n = ... }")]
struct RawRange {
    start: Option<f64>,
    stop: Option<f64>,
    n: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table [output] (path, save_state)")]
struct RawOutput {
    path: Option<String>,
    save_state: Option<String>,
}

/// Largest number of saved times / grid points accepted, so that a typo such as
/// `n_save = 1e12` is refused at once instead of exhausting memory: 10⁷ saves
/// of every engine's observables take ~6 GB in memory while being written.
/// Below it, the memory estimate of the whole run (`run::check_memory`)
/// decides.
pub const MAX_POINTS: usize = 10_000_000;

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

#[derive(Debug, Clone, PartialEq)]
pub struct SolverSpec {
    pub engines: Vec<Engine>,
    pub method: Method,
    /// `solver.method` was given (else `method` is the default, auto, and
    /// `qbsim validate` takes Krylov for its stiff runs).
    pub method_given: bool,
    pub rtol: f64,
    pub atol: f64,
    pub liouvillian: LiouvillianKind,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub file: PathBuf,
    pub reduced: Option<ReducedParams>,
    pub model: Option<MicroParams>,
    /// Initial state of (a, b, c); vacuum unless `[initial]` says otherwise.
    pub initial: [ModeState; 3],
    /// `[initial] from`: a qbsim file whose final state (`/master/rho_final`)
    /// is the master equation's initial state instead (path as given,
    /// relative to the working directory).
    pub initial_from: Option<PathBuf>,
    pub solver: SolverSpec,
    /// `[steady]`: the master equation's steady-state solve (`qbsim steady`).
    pub steady: SteadyOptions,
    /// `[validate]`: the elimination ratios and engines of `qbsim validate`.
    pub validate: ValidateOptions,
    /// `[trajectories]`: the ensemble of the `"trajectories"` engine.
    pub trajectories: TrajectorySpec,
    pub save_state: SaveState,
    pub time: Option<TimeGrid>,
    pub phase: Option<PhaseSpec>,
    pub output_path: Option<PathBuf>,
    /// The TOML text after `--set` overrides: what was actually run.
    pub effective_text: String,
    /// `[sweep]` axes, if any (used by `qbsim sweep`).
    pub sweep: Option<SweepSpec>,
    /// `[[protocol.step]]` and `[[protocol.event]]`, if any.
    pub protocol: Option<super::protocol::ProtocolSpec>,
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

    /// Only a `[phase]` section to compute (no `[reduced]`, no `[model]`).
    pub fn is_phase_only(&self) -> bool {
        self.reduced.is_none() && self.model.is_none() && self.phase.is_some()
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

pub(super) type MkErr<'a> = &'a dyn Fn(&str, String) -> ConfigError;

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
    let model = raw.model.map(|m| validate_model(m, err)).transpose()?;
    let solver = validate_solver(raw.solver.unwrap_or_default(), model.is_some(), err)?;
    // Only the master equation truncates the initial state (the moments use
    // the untruncated one).
    let truncated = solver.engines.contains(&Engine::Master);
    let (initial, initial_from) = validate_initial(raw.initial.unwrap_or_default(), model.as_ref(), truncated, err)?;
    if model.is_none() {
        if let Some(e) = solver.engines.iter().find(|e| **e != Engine::Reduced) {
            return Err(err(
                "solver.engines",
                format!("engine \"{}\" needs a [model] section (the three-mode parameters)", e.name()),
            ));
        }
    } else if reduced.is_some() && solver.engines.contains(&Engine::Reduced) {
        return Err(err(
            "solver.engines",
            "\"reduced\" on a [model] config derives the reduced point from [model]; remove the [reduced] section \
             (or the \"reduced\" engine)"
                .into(),
        ));
    }
    // Every engine refuses, naming it, a model term it cannot treat exactly.
    if let Some(m) = &model {
        for e in &solver.engines {
            e.check(m).map_err(|r| err(&r.key, r.reason))?;
        }
    }
    // The reduced model propagates the means of a and b from zero: E_B = |b|²
    // is its energy only for a vacuum start at zero temperature. It refuses
    // what it cannot honour rather than silently ignoring it.
    if let (Some(m), true) = (&model, solver.engines.contains(&Engine::Reduced)) {
        if let Some((k, s)) = initial.iter().enumerate().find(|(_, s)| **s != ModeState::Vacuum) {
            return Err(err(
                &format!("initial.{}", ["a", "b", "c"][k]),
                format!(
                    "engine \"reduced\" starts from the vacuum (the adiabatically eliminated model has no initial \
                     state of its own), so it cannot honour {}; use engines \"master\" and/or \"moments\"",
                    s.describe()
                ),
            ));
        }
        if let Some(key) = m.thermal_key() {
            return Err(err(
                key,
                "engine \"reduced\" gives E_B = |<b>|^2, the battery energy only at zero temperature; with thermal \
                 baths use \"moments\" (exact for this linear model) or \"master\""
                    .into(),
            ));
        }
    }
    if let (Some(_), Some(e)) = (&initial_from, solver.engines.iter().find(|e| **e != Engine::Master)) {
        return Err(err(
            "initial.from",
            format!(
                "engine \"{}\" cannot start from a stored density matrix (it takes product Gaussian or vacuum \
                 starts); with `from`, use engines = [\"master\"]",
                e.name()
            ),
        ));
    }
    let protocol = match raw.protocol {
        Some(pr) => {
            let in_model = model.is_some();
            if !in_model && reduced.is_none() {
                return Err(err("protocol", "a protocol changes [model] or [reduced] parameters; the config has neither".into()));
            }
            super::protocol::validate_protocol(pr, in_model, time.map(|t| t.t_end), &solver.engines, err)?
        }
        None => None,
    };
    if protocol.is_some() && phase.is_some() {
        return Err(err("protocol", "a protocol applies to [time] runs, not to a [phase] diagram; use separate configs".into()));
    }
    let output = raw.output.unwrap_or_default();
    let output_path = match output.path {
        Some(p) if p.trim().is_empty() => return Err(err("output.path", "empty path".into())),
        Some(p) => Some(PathBuf::from(p)),
        None => None,
    };
    let save_state = match output.save_state.as_deref() {
        None | Some("none") => SaveState::None,
        Some("final") => SaveState::Final,
        Some("all") => SaveState::All,
        Some(other) => {
            return Err(err("output.save_state", format!("\"{other}\" is not one of \"none\", \"final\", \"all\"")))
        }
    };
    let sweep = match raw.sweep {
        Some(t) => Some(super::sweep::parse_sweep(&t, std::path::Path::new("")).map_err(|e| {
            err(e.key.as_deref().unwrap_or("sweep"), e.message)
        })?),
        None => None,
    };
    let steady = validate_steady(raw.steady.unwrap_or_default(), err)?;
    let validate = validate_validate(raw.validate.unwrap_or_default(), err)?;
    let trajectories = validate_trajectories(raw.trajectories.unwrap_or_default(), err)?;
    if solver.engines.contains(&Engine::Trajectories) {
        if protocol.is_some() {
            return Err(err(
                "solver.engines",
                "engine \"trajectories\" does not run protocols yet (it unravels a constant Lindbladian); use \
                 \"master\" for a [protocol], or remove it"
                    .into(),
            ));
        }
        if initial_from.is_some() {
            return Err(err(
                "initial.from",
                "engine \"trajectories\" starts from pure product states (a thermal mode is sampled); a density \
                 matrix read from a file has no such unravelling here: use \"master\""
                    .into(),
            ));
        }
    }
    Ok(Config {
        trajectories,
        steady,
        validate,
        protocol,
        sweep,
        file: PathBuf::new(),
        reduced,
        model,
        initial,
        initial_from,
        solver,
        save_state,
        time,
        phase,
        output_path,
        effective_text,
    })
}

fn validate_model(m: RawModel, err: MkErr) -> Result<MicroParams, ConfigError> {
    const MODES: &str = "[a, b, c]";
    let cutoffs: [i64; 3] = required(fixed(m.cutoffs, "model.cutoffs", "[N_a, N_b, N_c]", err)?, "model.cutoffs", err)?;
    let complex = |v: Option<RawComplex>, key: &str| v.map_or(Ok(C64::new(1.0, 0.0)), |z| z.value(key, err));
    let mut dims = [0usize; 3];
    for (k, &n) in cutoffs.iter().enumerate() {
        if n < 1 {
            return Err(err(&format!("model.cutoffs[{k}]"), format!("value {n} must be >= 1 (levels 0..N-1)")));
        }
        dims[k] = usize::try_from(n).map_err(|_| err("model.cutoffs", format!("value {n} is too large")))?;
    }
    let p = MicroParams {
        cutoffs: dims,
        delta: fixed(m.delta, "model.delta", MODES, err)?.unwrap_or([0.0; 3]),
        drive: required(m.drive, "model.drive", err)?,
        kappa: required(fixed(m.kappa, "model.kappa", MODES, err)?, "model.kappa", err)?,
        gamma: required(m.gamma, "model.gamma", err)?,
        p_a: complex(m.p_a, "model.p_a")?,
        p_b: complex(m.p_b, "model.p_b")?,
        p_ca: complex(m.p_ca, "model.p_ca")?,
        p_cb: complex(m.p_cb, "model.p_cb")?,
        n_th: fixed(m.n_th, "model.n_th", MODES, err)?.unwrap_or([0.0; 3]),
        n_th_shared: fixed(m.n_th_shared, "model.n_th_shared", "[n_za, n_zb]", err)?.unwrap_or([0.0; 2]),
        kerr: fixed(m.kerr, "model.kerr", "[K_a, K_b, K_c]", err)?.unwrap_or([0.0; 3]),
        cross_kerr: fixed(m.cross_kerr, "model.cross_kerr", "[K_ab, K_ac, K_bc]", err)?.unwrap_or([0.0; 3]),
        exchange: match m.exchange {
            None => [C64::new(0.0, 0.0); 3],
            Some(v) if v.len() == 3 => {
                let mut g = [C64::new(0.0, 0.0); 3];
                for (k, z) in v.into_iter().enumerate() {
                    g[k] = z.value(&format!("model.exchange[{k}]"), err)?;
                }
                g
            }
            Some(v) => {
                return Err(err("model.exchange", format!("expected 3 values [g_ab, g_ac, g_bc], got {}", v.len())))
            }
        },
        dephasing: fixed(m.dephasing, "model.dephasing", "[gamma_phi_a, gamma_phi_b, gamma_phi_c]", err)?.unwrap_or([0.0; 3]),
    };
    p.validate().map_err(|e| {
        let value = if e.value.is_nan() { String::new() } else { format!("value {} ", e.value) };
        err(&format!("model.{}", e.name), format!("{value}{}", e.reason).trim().to_string())
    })?;
    Ok(p)
}

/// Largest weight a truncated coherent or thermal initial state may lose to
/// its cutoff (it is renormalised within the cutoff): the same bound above
/// which a run's top-level population is flagged as truncated.
pub const INITIAL_WEIGHT_MAX: f64 = 1e-6;

/// The initial states of the modes, and `[initial] from` (a file whose final
/// state seeds the master equation), which excludes per-mode states.
fn validate_initial(
    i: RawInitial,
    model: Option<&MicroParams>,
    truncated: bool,
    err: MkErr,
) -> Result<([ModeState; 3], Option<PathBuf>), ConfigError> {
    let from = match i.from {
        Some(f) if f.trim().is_empty() => return Err(err("initial.from", "empty path".into())),
        Some(_) if i.a.is_some() || i.b.is_some() || i.c.is_some() => {
            return Err(err(
                "initial.from",
                "give either `from` (a state stored in a qbsim file) or per-mode states a, b, c, not both".into(),
            ))
        }
        Some(_) if model.is_none() => {
            return Err(err("initial.from", "a stored density matrix seeds the master equation: it needs [model]".into()))
        }
        Some(f) => Some(PathBuf::from(f)),
        None => None,
    };
    let mut out = [ModeState::Vacuum; 3];
    for (k, (name, raw)) in [("a", i.a), ("b", i.b), ("c", i.c)].into_iter().enumerate() {
        let key = format!("initial.{name}");
        let Some(raw) = raw else { continue };
        let cutoff = model.map(|m| m.cutoffs[k]);
        out[k] = match raw {
            RawModeState::Name(s) if s == "vacuum" => ModeState::Vacuum,
            RawModeState::Name(s) => {
                return Err(err(&key, format!("\"{s}\": expected \"vacuum\", {{ coherent = [re, im] }}, {{ fock = n }} or {{ thermal = nbar }}")))
            }
            RawModeState::Table(t) => match (t.coherent, t.fock, t.thermal) {
                (Some(z), None, None) => {
                    let z = z.value(&format!("{key}.coherent"), err)?;
                    if !(z.re.is_finite() && z.im.is_finite()) {
                        return Err(err(&key, "coherent amplitude must be finite".into()));
                    }
                    if let (Some(n), true) = (cutoff, truncated) {
                        let lost = |n| states::coherent_weight_outside(z, n);
                        check_truncation(&key, &format!("coherent amplitude |alpha| = {}", z.norm()), n, lost, err)?;
                    }
                    ModeState::Coherent(z)
                }
                (None, Some(n), None) => {
                    let cutoff = cutoff.unwrap_or(usize::MAX);
                    if n < 0 || n as usize >= cutoff {
                        return Err(err(&key, format!("fock = {n} must be in 0..{} (the cutoff)", cutoff)));
                    }
                    ModeState::Fock(n as usize)
                }
                (None, None, Some(nbar)) => {
                    if !nbar.is_finite() || nbar < 0.0 {
                        return Err(err(&key, format!("thermal = {nbar} must be a finite number >= 0")));
                    }
                    if let (Some(n), true) = (cutoff, truncated) {
                        let lost = |n| states::thermal_weight_outside(nbar, n);
                        check_truncation(&key, &format!("thermal occupation {nbar}"), n, lost, err)?;
                    }
                    ModeState::Thermal(nbar)
                }
                _ => return Err(err(&key, "give exactly one of coherent, fock, thermal".into())),
            },
        };
    }
    Ok((out, from))
}

/// Refuses an initial state that loses more than [`INITIAL_WEIGHT_MAX`] of
/// its weight to the cutoff `n`, naming the smallest cutoff that keeps it.
fn check_truncation(key: &str, what: &str, n: usize, lost: impl Fn(usize) -> f64, err: MkErr) -> Result<(), ConfigError> {
    let w = lost(n);
    if w <= INITIAL_WEIGHT_MAX {
        return Ok(());
    }
    // Doubling then bisection: the weight outside falls monotonically with n.
    const SEARCH_MAX: usize = 1 << 24;
    let mut hi = n.max(1);
    while lost(hi) > INITIAL_WEIGHT_MAX && hi < SEARCH_MAX {
        hi *= 2;
    }
    let needed = if lost(hi) > INITIAL_WEIGHT_MAX {
        format!("more than {SEARCH_MAX}")
    } else {
        let mut lo = n;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if lost(mid) > INITIAL_WEIGHT_MAX {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi.to_string()
    };
    Err(err(
        key,
        format!(
            "the {what} does not fit the cutoff {n}: {w:.3e} of its weight lies above level {} (more than \
             {INITIAL_WEIGHT_MAX:e}); a cutoff of at least {needed} is needed for this mode",
            n - 1
        ),
    ))
}

fn validate_trajectories(t: RawTrajectories, err: MkErr) -> Result<TrajectorySpec, ConfigError> {
    let n = match t.n {
        None => 1000,
        Some(n) if !(1..=MAX_TRAJECTORIES).contains(&n) => {
            return Err(err("trajectories.n", format!("value {n} must be in 1..={MAX_TRAJECTORIES} (number of trajectories)")))
        }
        Some(n) => n as usize,
    };
    let seed = match t.seed {
        Some(s) if s < 0 => return Err(err("trajectories.seed", format!("value {s} must be >= 0"))),
        Some(s) => Some(s as u64),
        None => None,
    };
    Ok(TrajectorySpec { n, seed })
}

fn validate_validate(v: RawValidate, err: MkErr) -> Result<ValidateOptions, ConfigError> {
    let mut o = ValidateOptions::default();
    if let Some(r) = v.ratios {
        if let Some((k, bad)) = r.iter().enumerate().find(|(_, r)| !(r.is_finite() && **r > 0.0)) {
            return Err(err(&format!("validate.ratios[{k}]"), format!("value {bad}: an elimination ratio must be a finite number > 0")));
        }
        let mut distinct = r.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        if distinct.len() < 2 {
            return Err(err(
                "validate.ratios",
                "give at least two distinct elimination ratios (the verdict fits how the reduction error falls with r, \
                 which takes two or more points), e.g. [10, 100, 1000]"
                    .into(),
            ));
        }
        if r.len() > 1000 {
            return Err(err("validate.ratios", format!("{} ratios: at most 1000", r.len())));
        }
        o.ratios = r;
    }
    if let Some(t) = v.target {
        let t = finite(t, "validate.target", err)?;
        if !(t > 0.0 && t < 1.0) {
            return Err(err("validate.target", format!("value {t} must be in (0, 1) (a relative error)")));
        }
        o.target = t;
    }
    if let Some(list) = v.engines {
        let mut moments = false;
        let mut master = false;
        for e in &list {
            match e.as_str() {
                "moments" => moments = true,
                "master" => master = true,
                other => {
                    return Err(err(
                        "validate.engines",
                        format!("\"{other}\" is not one of \"moments\", \"master\" (the reduced model is always compared)"),
                    ))
                }
            }
        }
        if !moments {
            return Err(err(
                "validate.engines",
                "must contain \"moments\": the reduction error is measured against the exact moments".into(),
            ));
        }
        o.master = master;
    }
    Ok(o)
}

/// Largest GMRES restart length: the basis holds this many state vectors.
const MAX_RESTART: i64 = 500;

fn validate_steady(s: RawSteady, err: MkErr) -> Result<SteadyOptions, ConfigError> {
    let mut o = SteadyOptions::default();
    if let Some(t) = s.tol {
        let t = finite(t, "steady.tol", err)?;
        if !(1e-15..1.0).contains(&t) {
            return Err(err("steady.tol", format!("value {t} must be in [1e-15, 1) (relative residual of the solve)")));
        }
        o.gmres.tol = t;
    }
    if let Some(r) = s.restart {
        if !(2..=MAX_RESTART).contains(&r) {
            return Err(err("steady.restart", format!("value {r} must be in 2..={MAX_RESTART} (vectors kept by GMRES)")));
        }
        o.gmres.restart = r as usize;
    }
    if let Some(m) = s.max_iterations {
        o.gmres.max_iterations = count(m, 1, "steady.max_iterations", err)?;
    }
    Ok(o)
}

fn validate_solver(s: RawSolver, has_model: bool, err: MkErr) -> Result<SolverSpec, ConfigError> {
    let engines = match s.engines {
        None => {
            if has_model {
                vec![Engine::Master]
            } else {
                vec![Engine::Reduced]
            }
        }
        Some(list) => {
            if list.is_empty() {
                return Err(err("solver.engines", "empty list: name at least one engine".into()));
            }
            let mut v = Vec::new();
            for e in list {
                let engine = Engine::from_name(&e).ok_or_else(|| {
                    err("solver.engines", format!("\"{e}\" is not one of {}", Engine::names()))
                })?;
                if !v.contains(&engine) {
                    v.push(engine);
                }
            }
            v
        }
    };
    let method = match s.method.as_deref() {
        None | Some("auto") => Method::Auto,
        Some("dopri5") => Method::Dopri5,
        Some("dop853") => Method::Dop853,
        Some("krylov") => Method::Krylov,
        Some(other) => {
            return Err(err(
                "solver.method",
                format!("\"{other}\" is not one of \"auto\", \"dopri5\", \"dop853\", \"krylov\""),
            ))
        }
    };
    let tol = |v: Option<f64>, default: f64, key: &str| -> Result<f64, ConfigError> {
        let v = finite(v.unwrap_or(default), key, err)?;
        if v <= 0.0 || v >= 1.0 {
            return Err(err(key, format!("value {v} must be in (0, 1)")));
        }
        Ok(v)
    };
    let rtol = tol(s.rtol, 1e-8, "solver.rtol")?;
    let atol = tol(s.atol, 1e-10, "solver.atol")?;
    let liouvillian = match s.liouvillian.as_deref() {
        None | Some("kernel") => LiouvillianKind::Kernel,
        Some("superoperator") => LiouvillianKind::SuperOperator,
        Some(other) => {
            return Err(err("solver.liouvillian", format!("\"{other}\" is not one of \"kernel\", \"superoperator\"")))
        }
    };
    Ok(SolverSpec { engines, method, method_given: s.method.is_some(), rtol, atol, liouvillian })
}

fn validate_reduced(r: RawReduced, err: MkErr) -> Result<ReducedParams, ConfigError> {
    let gamma_b = finite(required(r.gamma_b, "reduced.gamma_b", err)?, "reduced.gamma_b", err)?;
    // γ_a directly, or through the asymmetry α = (γ_a − γ_b)/2 (the axis of Fig. 3).
    let gamma_a = match (r.gamma_a, r.alpha) {
        (Some(g), None) => finite(g, "reduced.gamma_a", err)?,
        (None, Some(a)) => gamma_b + 2.0 * finite(a, "reduced.alpha", err)?,
        (Some(_), Some(_)) => {
            return Err(err("reduced.alpha", "give either gamma_a or alpha (= (gamma_a - gamma_b)/2), not both".into()))
        }
        (None, None) => return Err(err("reduced.gamma_a", "missing key: give gamma_a, or alpha = (gamma_a - gamma_b)/2".into())),
    };
    let drive_r = finite(r.drive_r.unwrap_or(1.0), "reduced.drive_r", err)?;
    let (delta_ra, delta_rb) = match (r.delta_r, r.delta_ra, r.delta_rb) {
        (Some(d), None, None) => {
            let d = finite(d, "reduced.delta_r", err)?;
            (d, 0.0 - d)
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

//! One invocation: a validated config → the engines it asks for → one HDF5
//! file, plus a short human summary. No physics here and no argument parsing:
//! this is the glue between [`crate::config`], the engines and [`crate::output`].

use crate::config::{Config, ConfigError, Engine, PhaseSpec, TimeGrid};
use crate::master::{self, MasterError, MasterOptions, MasterResult};
use crate::model::map::{self, MapError, ReducedMap};
use crate::model::{MicroParams, ReducedParams};
use crate::moments;
use crate::validate::{ValidateError, ValidationSpec, Verdict};
use crate::observables::series::Series;
use crate::output::record::{Group, Record};
use crate::output::{self, Existing, OutputError, OutputFile, TargetPolicy};
use crate::resume::{self, Checkpoint, ResumeError};
use crate::reduced::phase_diagram::PhaseDiagram;
use crate::reduced::{Phase, ReducedModel, Trajectory};
use num_complex::Complex64 as C64;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Errors of a run, each already carrying its context.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Output(#[from] OutputError),
    #[error("{0}")]
    Master(#[from] MasterError),
    #[error("{0}")]
    Map(#[from] MapError),
    /// The output path is refused before any work (see [`output::check_target`]).
    #[error("{0}")]
    Target(OutputError),
    #[error("{0}")]
    Resume(#[from] ResumeError),
    /// Input refused before any work for a reason no single config key owns.
    #[error("{0}")]
    Invalid(String),
    /// A result that is not a finite number (e.g. f64 overflow in the broken
    /// phase); nothing was written.
    #[error("{0}")]
    NonFinite(String),
}

impl RunError {
    /// 2 for a refusal before any work started (bad input, unusable output
    /// path, not enough memory), 1 for a failure while working.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_)
            | RunError::Map(_)
            | RunError::Target(_)
            | RunError::Resume(_)
            | RunError::Invalid(_)
            | RunError::NonFinite(_)
            | RunError::Master(MasterError::Refused(_)) => 2,
            RunError::Output(_) | RunError::Master(_) => 1,
        }
    }
}

/// How a run is invoked: provenance and interaction.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The command line as typed (written to the output file).
    pub command: String,
    /// No progress bar.
    pub quiet: bool,
    /// Set (by SIGINT or SIGTERM) to stop within one integrator step and keep
    /// what is done.
    pub stop: Arc<AtomicBool>,
    /// Files the command reads besides the config (which an output may not be).
    pub inputs: Vec<PathBuf>,
    /// Replace an existing output file even if it is not a qbsim result.
    pub overwrite: bool,
}

impl Provenance {
    /// What an output of a run of `cfg` may replace: none of the inputs (the
    /// command's, the config file, `[initial] from`), a qbsim output, or with
    /// `--overwrite` any regular file.
    pub fn target_policy(&self, cfg: &Config) -> TargetPolicy {
        let mut inputs = self.inputs.clone();
        inputs.push(cfg.file.clone());
        inputs.extend(cfg.initial_from.clone());
        TargetPolicy { inputs, overwrite: self.overwrite }
    }

    /// Refuses, before any work, an output path the policy does not allow.
    pub fn check_target(&self, cfg: &Config, out: &Path) -> Result<Existing, RunError> {
        output::check_target(out, &self.target_policy(cfg)).map_err(RunError::Target)
    }
}

/// What a run did, for the terminal.
#[derive(Debug, Clone)]
pub struct Report {
    pub text: String,
    pub output: PathBuf,
    /// The run was stopped early; the file holds the saves done so far.
    pub interrupted: bool,
}

/// The output path: `-o` first, then `[output] path`, then `<config stem>.h5`.
pub fn output_path(cli: Option<&Path>, cfg: &Config) -> PathBuf {
    if let Some(p) = cli {
        return p.to_path_buf();
    }
    if let Some(p) = &cfg.output_path {
        return p.clone();
    }
    let stem = cfg.file.file_stem().and_then(|s| s.to_str()).unwrap_or("qbsim");
    PathBuf::from(format!("{stem}.h5"))
}

/// `qbsim run`: the reduced model on `[reduced]` + `[time]`; a `[phase]`
/// section, if present, is computed into the same file.
pub fn run(cfg: &Config, out: &Path, prov: &Provenance) -> Result<Report, RunError> {
    plan(cfg)?;
    prov.check_target(cfg, out)?;
    let computed = compute(cfg, prov)?;
    write_file(&computed.record, out, computed.text, computed.interrupted, &prov.target_policy(cfg))
}

/// `qbsim run --resume FILE`: continues the interrupted run stored in
/// `file` (its config, saves and final state) to its last save time. The
/// output defaults to [`resume::default_output`]; `file` may be replaced only
/// when it is that output.
pub fn resume(file: &Path, out: Option<&Path>, prov: &Provenance) -> Result<Report, RunError> {
    let ck = resume::checkpoint(file)?;
    let cfg = crate::config::parse(&ck.config_text, file, &[])?;
    let out = out.map_or_else(|| resume::default_output(file), Path::to_path_buf);
    let mut prov = prov.clone();
    let same = |a: &Path, b: &Path| std::fs::canonicalize(a).ok().zip(std::fs::canonicalize(b).ok()).is_some_and(|(a, b)| a == b);
    if !same(file, &out) {
        prov.inputs.push(file.to_path_buf());
    }
    // The config stored in the file is not a file of its own.
    let cfg = Config { file: PathBuf::new(), ..cfg };
    plan(&cfg)?;
    prov.check_target(&cfg, &out)?;
    let computed = compute_from(&cfg, &prov, Some(&ck))?;
    let mut text = computed.text;
    let _ = writeln!(text, "resumed from {} at t = {}", file.display(), crate::progress::short(ck.t));
    write_file(&computed.record, &out, text, computed.interrupted, &prov.target_policy(&cfg))
}

/// What one run computed: the file's contents and the terminal summary.
#[derive(Debug, Clone)]
pub struct Computed {
    pub record: Record,
    pub text: String,
    pub interrupted: bool,
}

/// Writes a record to `out` atomically and appends "wrote …" to the summary.
/// An interrupted result never replaces a complete one: if `out` holds a
/// complete qbsim result now, the partial one goes to `name.interrupted.h5`.
fn write_file(
    record: &Record,
    out: &Path,
    mut text: String,
    interrupted: bool,
    policy: &TargetPolicy,
) -> Result<Report, RunError> {
    let mut target = out.to_path_buf();
    if interrupted && output::check_target(out, policy)? == Existing::Complete {
        target = output::interrupted_path(out);
        output::check_target(&target, policy)?;
        let _ = writeln!(
            text,
            "{} holds a complete result and is kept; the interrupted result goes beside it",
            out.display()
        );
    }
    let file = OutputFile::create(&target)?;
    record.write_to(&file)?;
    let output = file.finish()?;
    let _ = writeln!(text, "wrote {}", output.display());
    if interrupted && record.get("/master", "rho_final", false).is_some() {
        let _ = writeln!(text, "continue it with: qbsim run --resume {}", output.display());
    }
    Ok(Report { text, output, interrupted })
}

/// One `qbsim run` computed in memory (every engine the config asks for).
pub fn compute(cfg: &Config, prov: &Provenance) -> Result<Computed, RunError> {
    compute_from(cfg, prov, None)
}

/// Bytes of the in-memory record of one run of `cfg` and the copies made
/// while it is assembled and written (about twice the record), without the
/// master equation's own state vectors ([`master::memory_estimate`]).
pub fn record_bytes(cfg: &Config) -> usize {
    const REDUCED_PER_SAVE: usize = 8 * 4 + 16 * 2; // t, tau, E_B, P_B; a, b
    const SERIES_PER_SAVE: usize = 8 * 9 + 16 * 3; // real and complex columns
    const MASTER_EXTRA_PER_SAVE: usize = 8 * 4; // trace, top-level populations
    const PHASE_PER_POINT: usize = 8 + 1 + 1 + 16 * 2; // growth, realizable, phase, λ±
    let n_save = cfg.time.map_or(0, |t| t.n_save);
    let mut per_run = 0usize;
    let engines = &cfg.solver.engines;
    if cfg.reduced.is_some() || (cfg.model.is_some() && engines.contains(&Engine::Reduced)) {
        per_run = per_run.saturating_add(n_save.saturating_mul(REDUCED_PER_SAVE));
    }
    if cfg.model.is_some() {
        for (engine, extra) in [(Engine::Master, MASTER_EXTRA_PER_SAVE), (Engine::Moments, 0)] {
            if engines.contains(&engine) {
                per_run = per_run.saturating_add(n_save.saturating_mul(SERIES_PER_SAVE + extra));
            }
        }
    }
    if let Some(ph) = &cfg.phase {
        let grid = ph.grid.delta_r.len().saturating_mul(ph.grid.alpha.len());
        per_run = per_run.saturating_add(grid.saturating_mul(PHASE_PER_POINT));
        per_run = per_run.saturating_add(ph.markers.len().saturating_mul(n_save).saturating_mul(16));
    }
    per_run.saturating_mul(2)
}

/// Refuses, before any work, a run whose memory need (master-equation state
/// vectors, stored states, every saved observable and grid point) exceeds
/// the memory available.
pub fn check_memory(cfg: &Config, extra: usize) -> Result<(), RunError> {
    let mut need = record_bytes(cfg).saturating_add(extra);
    if let (Some(p), true, Some(t)) = (&cfg.model, cfg.solver.engines.contains(&Engine::Master), cfg.time) {
        need = need.saturating_add(master::memory_estimate(p, &master_options(cfg), t.n_save));
    }
    match master::available_memory() {
        Some(avail) if need > avail => Err(RunError::Invalid(format!(
            "this run needs about {:.2} GB (saved observables{}{}) but only {:.2} GB of memory is available; \
             lower time.n_save, the grid sizes or the cutoffs",
            need as f64 / 1e9,
            if cfg.model.is_some() { ", master-equation states" } else { "" },
            if extra > 0 { ", sweep points" } else { "" },
            avail as f64 / 1e9
        ))),
        _ => Ok(()),
    }
}

/// E_B of a reduced-model trajectory must be finite: in the broken phase it
/// grows like exp(2 Re[-i lambda_+] tau) and overflows f64 (~1.8e308) at
/// large tau. Names the first tau where it does and why.
fn check_finite(what: &str, m: &ReducedModel, tr: &Trajectory, t: &[f64]) -> Result<(), RunError> {
    let bad = tr.energy_b.iter().zip(&tr.power_b).position(|(e, p)| !(e.is_finite() && p.is_finite()));
    let Some(k) = bad else { return Ok(()) };
    let rate = 2.0 * m.spectrum.growth_rate();
    Err(RunError::NonFinite(format!(
        "{what}: E_B exceeds the largest double-precision number (~1.8e308) at tau = {:.6} (t = {}): \
         in the {} phase it grows like exp({rate:.4} tau); lower time.t_end below {}. Nothing was written.",
        tr.tau[k],
        t[k],
        m.phase.as_str(),
        t[k.saturating_sub(1)]
    )))
}

/// What a run will do, checked before any work: required sections, the
/// master equation's resources, the reduced point of a `[model]` config.
struct Plan {
    time: TimeGrid,
    master_opts: Option<MasterOptions>,
    mapped: Option<ReducedMap>,
}

/// Every refusal of `qbsim run` that does not depend on the output path,
/// without computing anything (sweeps check each point with it first).
pub fn precheck(cfg: &Config) -> Result<(), RunError> {
    plan(cfg).map(|_| ())
}

/// Checks the config's requirements for `qbsim run` (every refusal that does
/// not depend on the output path) and the memory the run needs.
fn plan(cfg: &Config) -> Result<Plan, RunError> {
    if cfg.model.is_none() {
        cfg.require_reduced("`qbsim run` needs [reduced] (two-mode model) or [model] (three-mode master equation)")?;
    }
    let time = cfg.require_time("`qbsim run` needs t_end and n_save")?;
    if let Some(ph) = &cfg.phase {
        check_markers(cfg, ph)?;
    }
    let engines = &cfg.solver.engines;
    let master_opts = match (&cfg.model, engines.contains(&Engine::Master)) {
        (Some(p), true) => {
            let o = master_options(cfg);
            master::check_resources(p, &o, time.n_save)?;
            Some(o)
        }
        _ => None,
    };
    // The reduced point of a [model] config, refused (no coupling, detuned
    // mediator) before any file is touched.
    let mapped = match (&cfg.model, engines.contains(&Engine::Reduced)) {
        (Some(p), true) => Some(map::to_reduced(p)?),
        _ => None,
    };
    check_memory(cfg, 0)?;
    Ok(Plan { time, master_opts, mapped })
}

/// As [`compute`], continuing the master equation from `start` (an
/// interrupted run of the same config) when given.
pub fn compute_from(cfg: &Config, prov: &Provenance, start: Option<&Checkpoint>) -> Result<Computed, RunError> {
    let Plan { time, master_opts, mapped } = plan(cfg)?;
    let engines = &cfg.solver.engines;
    // The master equation's initial state, read (and checked) before any work.
    let rho0 = match (&cfg.model, &master_opts, &cfg.initial_from, start) {
        (Some(_), Some(_), _, Some(ck)) => Some((ck.rho.clone(), ck.t)),
        (Some(p), Some(_), Some(from), None) => Some((resume::initial_state(from, p.cutoffs)?, 0.0)),
        (Some(p), Some(_), None, None) => Some((master::initial_state(p, &cfg.initial), 0.0)),
        _ => None,
    };
    let root = Record::new_root();
    write_provenance(&root, cfg, prov)?;
    let mut text = String::new();
    let mut interrupted = false;
    if let Some(params) = cfg.reduced {
        let model = ReducedModel::new(params);
        let traj = model.trajectory(&time.times(), &[C64::new(0.0, 0.0); 2]);
        check_finite("reduced model", &model, &traj, &traj.tau)?;
        write_reduced(&root.group("reduced")?, &model, &traj, &traj.tau)?;
        summarize_reduced(&mut text, &model, &traj);
    }
    if let (Some(p), Some(opts), Some((rho0, t0))) = (&cfg.model, &master_opts, &rho0) {
        let times = time.times();
        // A resumed run continues with the save times it had not reached.
        let n_done = start.map_or(0, |ck| ck.done.series.len());
        let bar = crate::progress::Bar::new(time.t_end, prov.quiet);
        let later =
            master::solve_from(p, rho0, *t0, &times[n_done.min(times.len())..], opts, &prov.stop, &mut |t| bar.set(t))?;
        bar.finish();
        let res = match start {
            Some(ck) => {
                let mut all = ck.done.clone();
                all.extend(later);
                all
            }
            None => later,
        };
        write_master(&root.group("master")?, p, opts, &res)?;
        summarize_master(&mut text, p, &res);
        interrupted |= res.interrupted;
    }
    if let (Some(p), true) = (&cfg.model, engines.contains(&Engine::Moments)) {
        let s = moments::solve(p, &cfg.initial, &time.times());
        let g = root.group("moments")?;
        write_series(&g, &s)?;
        write_micro_params(&g, p)?;
        g.attr_u8("gaussian", u8::from(moments::is_gaussian(&cfg.initial)))?;
        if let (Some(&t), Some(&e)) = (s.t.last(), s.energy_b.last()) {
            let _ = writeln!(text, "moments (exact): at t = {t}: E_B = {e:.6e}");
        }
    }
    if let Some(m) = &mapped {
        let model = ReducedModel::new(m.reduced);
        let times = time.times();
        let tau: Vec<f64> = times.iter().map(|t| m.g * t).collect();
        let mut traj = model.trajectory(&tau, &[C64::new(0.0, 0.0); 2]);
        // Back to the microscopic gauge and time unit: b = e^{−iφ} b_red, d/dt = g d/dτ.
        let phase = C64::from_polar(1.0, -m.gauge_phase);
        traj.b.iter_mut().for_each(|b| *b *= phase);
        traj.power_b.iter_mut().for_each(|pw| *pw *= m.g);
        let g = root.group("reduced")?;
        write_reduced(&g, &model, &traj, &times)?;
        write_map(&root.group("map")?, m)?;
        summarize_reduced(&mut text, &model, &traj);
        let _ = writeln!(
            text,
            "  from [model]: g = {:.6e} (time unit 1/g), elimination ratio r = {:.3e}",
            m.g, m.ratio
        );
    }
    if let Some(ph) = &cfg.phase {
        let pd = PhaseDiagram::compute(ph.grid.clone());
        write_phase(&root.group("phase")?, &pd, ph, cfg.time)?;
        summarize_phase(&mut text, &pd);
    }
    root.attr_u8("interrupted", u8::from(interrupted))?;
    Ok(Computed { record: root.record(), text, interrupted })
}

/// The forward map as attributes of `/map`.
fn write_map(g: &Group, m: &ReducedMap) -> Result<(), OutputError> {
    g.write_c64_2d("drift", &ndarray::Array2::from_shape_fn((3, 3), |(i, j)| m.drift[i][j]))?;
    g.attr_f64("g", m.g)?;
    g.attr_f64("time_unit", 1.0 / m.g)?;
    g.attr_f64("gamma_eff", m.gamma_eff)?;
    g.attr_c64("mu_a", m.mu_a)?;
    g.attr_c64("mu_b", m.mu_b)?;
    g.attr_f64("gauge_phase", m.gauge_phase)?;
    g.attr_f64("ratio", m.ratio)?;
    write_params(g, &m.reduced)?;
    g.attr_u8("realizable", u8::from(m.reduced.realizability().is_realizable()))
}

fn master_options(cfg: &Config) -> MasterOptions {
    MasterOptions {
        method: cfg.solver.method,
        rtol: cfg.solver.rtol,
        atol: cfg.solver.atol,
        liouvillian: cfg.solver.liouvillian,
        save_state: cfg.save_state,
    }
}

/// The datasets shared by `/master` and `/moments`.
fn write_series(g: &Group, s: &Series) -> Result<(), OutputError> {
    for (name, v) in s.real_columns() {
        g.write_f64(name, v)?;
    }
    for (name, v) in s.complex_columns() {
        g.write_c64(name, v)?;
    }
    Ok(())
}

/// Model parameters as attributes (every group computed from `[model]`).
fn write_micro_params(g: &Group, p: &MicroParams) -> Result<(), OutputError> {
    g.attr_i64_slice("cutoffs", &p.cutoffs.map(|n| n as i64))?;
    g.attr_f64_slice("delta", &p.delta)?;
    g.attr_f64("drive", p.drive)?;
    g.attr_f64_slice("kappa", &p.kappa)?;
    g.attr_f64("gamma", p.gamma)?;
    g.attr_c64("p_a", p.p_a)?;
    g.attr_c64("p_b", p.p_b)?;
    g.attr_c64("p_ca", p.p_ca)?;
    g.attr_c64("p_cb", p.p_cb)?;
    g.attr_f64_slice("n_th", &p.n_th)?;
    g.attr_f64_slice("n_th_shared", &p.n_th_shared)
}

fn write_master(g: &Group, p: &MicroParams, o: &MasterOptions, r: &MasterResult) -> Result<(), OutputError> {
    write_series(g, &r.series)?;
    g.write_f64("trace", &r.trace)?;
    let top = ndarray::Array2::from_shape_fn((r.top_level.len(), 3), |(k, m)| r.top_level[k][m]);
    g.write_f64_2d("top_level", &top)?;
    let d = p.space().dim();
    if let Some(rho) = &r.rho_final {
        g.write_c64_2d("rho_final", ndarray::ArrayView2::from_shape((d, d), rho).expect("d×d state"))?;
    }
    g.attr_f64("t_final", r.t_final)?;
    if let Some(all) = &r.rho_all {
        let n = all.len() / (d * d);
        g.write_c64_3d("rho", ndarray::ArrayView3::from_shape((n, d, d), all).expect("n×d×d states"))?;
    }
    write_micro_params(g, p)?;
    g.attr_str("method", o.method.name())?;
    g.attr_f64("rtol", o.rtol)?;
    g.attr_f64("atol", o.atol)?;
    g.attr_str("liouvillian", &r.backend)?;
    g.attr_i64("steps", r.stats.steps as i64)?;
    g.attr_i64("rejected_steps", r.stats.rejected as i64)?;
    g.attr_i64("rhs_evals", r.stats.rhs_evals as i64)?;
    g.attr_f64("wall_time_s", r.stats.wall_time_s)?;
    g.attr_str("warnings", &r.warnings.join("\n"))?;
    g.attr_u8("interrupted", u8::from(r.interrupted))
}

fn summarize_master(out: &mut String, p: &MicroParams, r: &MasterResult) {
    let d = p.space().dim();
    let _ = writeln!(
        out,
        "master equation: cutoffs {:?} (d = {d}), {} , {} steps ({} rejected), {} evaluations of L, {:.2} s",
        p.cutoffs, r.backend, r.stats.steps, r.stats.rejected, r.stats.rhs_evals, r.stats.wall_time_s
    );
    let s = &r.series;
    if let (Some(&t), Some(&e), Some(&w)) = (s.t.last(), s.energy_b.last(), s.ergotropy_b.last()) {
        let _ = writeln!(out, "  at t = {t}: E_B = <b^dag b> = {e:.6e}, ergotropy_b = {w:.6e}");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    if r.interrupted {
        let _ = writeln!(out, "  interrupted after {} of the save times; the file holds those", s.len());
    }
}

/// `qbsim phase`: the phase diagram, critical-time line and marker traces.
pub fn phase(cfg: &Config, out: &Path, prov: &Provenance) -> Result<Report, RunError> {
    let ph = cfg.require_phase("`qbsim phase` needs gamma_b and the delta_r and alpha ranges")?;
    check_markers(cfg, ph)?;
    check_memory(cfg, 0)?;
    prov.check_target(cfg, out)?;
    let root = Record::new_root();
    write_provenance(&root, cfg, prov)?;
    let pd = PhaseDiagram::compute(ph.grid.clone());
    write_phase(&root.group("phase")?, &pd, ph, cfg.time)?;
    let mut text = String::new();
    summarize_phase(&mut text, &pd);
    write_file(&root.record(), out, text, false, &prov.target_policy(cfg))
}

fn check_markers(cfg: &Config, ph: &PhaseSpec) -> Result<(), ConfigError> {
    if !ph.markers.is_empty() {
        cfg.require_time("phase.markers asks for time traces, which need t_end and n_save")?;
    }
    Ok(())
}

fn write_provenance(root: &Group, cfg: &Config, prov: &Provenance) -> Result<(), OutputError> {
    root.attr_str("qbsim_version", env!("CARGO_PKG_VERSION"))?;
    root.attr_str("created", &output::iso8601_now_utc())?;
    root.attr_str("command", &prov.command)?;
    root.attr_str("config", &cfg.effective_text)?;
    root.attr_u8("interrupted", 0)
}

/// `/reduced`; `t` is in the config's time unit (= τ for a `[reduced]` config).
fn write_reduced(g: &Group, m: &ReducedModel, tr: &Trajectory, t: &[f64]) -> Result<(), OutputError> {
    let p = &m.params;
    g.write_f64("t", t)?;
    g.write_f64("tau", &tr.tau)?;
    g.write_c64("a", &tr.a)?;
    g.write_c64("b", &tr.b)?;
    g.write_f64("energy_b", &tr.energy_b)?;
    g.write_f64("power_b", &tr.power_b)?;
    write_params(g, p)?;
    g.attr_str("phase", m.phase.as_str())?;
    g.attr_c64("lambda_plus", m.spectrum.lambda_plus)?;
    g.attr_c64("lambda_minus", m.spectrum.lambda_minus)?;
    g.attr_c64("omega", m.spectrum.omega)?;
    g.attr_f64("growth_rate", m.spectrum.growth_rate())?;
    let r = p.realizability();
    g.attr_u8("realizable", u8::from(r.is_realizable()))?;
    g.attr_str("realizability", &r.explain())?;
    let ss = m.steady_state().map_or(f64::NAN, |x| x[1].norm_sqr());
    g.attr_f64("steady_energy_b", ss)
}

fn write_params(g: &Group, p: &ReducedParams) -> Result<(), OutputError> {
    g.attr_f64("gamma_a", p.gamma_a)?;
    g.attr_f64("gamma_b", p.gamma_b)?;
    g.attr_f64("delta_ra", p.delta_ra)?;
    g.attr_f64("delta_rb", p.delta_rb)?;
    g.attr_f64("drive_r", p.drive_r)?;
    g.attr_f64("alpha", p.alpha())
}

fn write_phase(g: &Group, pd: &PhaseDiagram, ph: &PhaseSpec, time: Option<TimeGrid>) -> Result<(), RunError> {
    g.attr_f64("gamma_b", pd.grid.gamma_b)?;
    g.attr_str("phase_codes", "-1 unbroken, 0 marginal (Re[-i lambda_+] = 0), 1 broken, 2 exceptional point")?;
    g.write_f64("delta_r", &pd.grid.delta_r)?;
    g.write_f64("alpha", &pd.grid.alpha)?;
    g.write_f64_2d("growth_rate", &pd.growth_rate)?;
    g.write_u8_2d("realizable", &pd.realizable)?;
    g.write_i8_nd("phase", pd.phase.view())?;
    g.write_c64_2d("lambda_plus", &pd.lambda_plus)?;
    g.write_c64_2d("lambda_minus", &pd.lambda_minus)?;
    let (ep_d, ep_a): (Vec<f64>, Vec<f64>) = pd.exceptional_points.iter().copied().unzip();
    g.write_f64("ep_delta_r", &ep_d)?;
    g.write_f64("ep_alpha", &ep_a)?;
    if let Some(tc) = &pd.t_crit {
        g.attr_f64("e_max", tc.e_max)?;
        g.attr_f64("t_crit_alpha", 0.0)?;
        g.write_f64("t_crit_exact", &tc.exact)?;
        g.write_f64("t_crit_eq33", &tc.eq33)?;
        g.write_f64("t_crit_rel_diff", &tc.rel_diff)?;
    }
    if let (false, Some(time)) = (ph.markers.is_empty(), time) {
        let mg = g.group("markers")?;
        let tau = time.times();
        let n = ph.markers.len();
        let mut energy = ndarray::Array2::<f64>::zeros((n, tau.len()));
        let mut power = energy.clone();
        let mut phases = Vec::with_capacity(n);
        let mut realizable = Vec::with_capacity(n);
        for (k, &(d, a)) in ph.markers.iter().enumerate() {
            let m = ReducedModel::new(ReducedParams::from_alpha(a, pd.grid.gamma_b, d, 1.0));
            let tr = m.trajectory(&tau, &[C64::new(0.0, 0.0); 2]);
            check_finite(&format!("phase.markers[{k}] (delta_r = {d}, alpha = {a})"), &m, &tr, &tau)?;
            energy.row_mut(k).assign(&ndarray::ArrayView1::from(&tr.energy_b));
            power.row_mut(k).assign(&ndarray::ArrayView1::from(&tr.power_b));
            phases.push(m.phase.as_str());
            realizable.push(u8::from(m.params.realizability().is_realizable()));
        }
        let (md, ma): (Vec<f64>, Vec<f64>) = ph.markers.iter().copied().unzip();
        mg.write_f64("delta_r", &md)?;
        mg.write_f64("alpha", &ma)?;
        mg.write_f64("tau", &tau)?;
        mg.write_f64_2d("energy_b", &energy)?;
        mg.write_f64_2d("power_b", &power)?;
        mg.write_strings("phase", &phases)?;
        mg.write_u8("realizable", &realizable)?;
    }
    Ok(())
}

fn fmt_c(z: C64) -> String {
    format!("{:.6}{:+.6}i", z.re, z.im)
}

fn summarize_reduced(out: &mut String, m: &ReducedModel, tr: &Trajectory) {
    let p = &m.params;
    let s = &m.spectrum;
    let _ = writeln!(
        out,
        "reduced model: gamma_a = {}, gamma_b = {}, delta_ra = {}, delta_rb = {}, E_r = {} (units of g)",
        p.gamma_a, p.gamma_b, p.delta_ra, p.delta_rb, p.drive_r
    );
    let _ = writeln!(out, "  phase        {} (Re[-i lambda_+] = {:.6})", m.phase.as_str(), s.growth_rate());
    let _ = writeln!(out, "  lambda_+     {}", fmt_c(s.lambda_plus));
    let _ = writeln!(out, "  lambda_-     {}", fmt_c(s.lambda_minus));
    let _ = writeln!(out, "  {}", p.realizability().explain());
    if let (Some(&t), Some(&e)) = (tr.tau.last(), tr.energy_b.last()) {
        let _ = writeln!(out, "  E_B(tau = {t}) = {e:.6e}");
    }
    match (m.steady_state(), m.phase) {
        (Some(x), _) => {
            let _ = writeln!(out, "  steady state E_B = {:.6e}", x[1].norm_sqr());
        }
        (None, Phase::Broken) => {
            let _ = writeln!(
                out,
                "  no steady state: E_B grows like exp({:.4} tau) (broken phase)",
                2.0 * s.growth_rate()
            );
        }
        (None, _) => {
            let _ = writeln!(out, "  no steady state: an undamped eigenmode (phase boundary)");
        }
    }
}

fn summarize_phase(out: &mut String, pd: &PhaseDiagram) {
    let n = pd.growth_rate.len();
    let count = |code: i8| pd.phase.iter().filter(|&&c| c == code).count();
    let broken_realizable =
        pd.phase.iter().zip(pd.realizable.iter()).filter(|(&c, &r)| c == Phase::Broken.code() && r == 1).count();
    let _ = writeln!(
        out,
        "phase diagram: gamma_b = {}, {} x {} points (alpha x delta_r)",
        pd.grid.gamma_b,
        pd.grid.alpha.len(),
        pd.grid.delta_r.len()
    );
    let _ = writeln!(
        out,
        "  unbroken {}, broken {}, marginal {}, exceptional points on grid {}",
        count(-1),
        count(1),
        count(0),
        count(2)
    );
    let n_real = pd.realizable.iter().filter(|&&r| r == 1).count();
    let _ = writeln!(
        out,
        "  realizable (gamma_a*gamma_b >= 1): {n_real} of {n}; broken AND realizable: {broken_realizable} \
         (PHYSICS.md §5: always 0 — the broken phase needs gain a passive system lacks)"
    );
    for (d, a) in &pd.exceptional_points {
        let _ = writeln!(out, "  exceptional point at delta_r = {d}, alpha = {a}");
    }
    if let Some(tc) = &pd.t_crit {
        let _ = writeln!(out, "critical time to E_B = {} E_r^2 along delta_r at alpha = 0:", tc.e_max);
        let _ = writeln!(out, "  {:>10} {:>12} {:>12} {:>10}", "delta_r", "exact", "Eq.33", "rel.diff");
        // About a dozen evenly spaced rows, plus the finite rows nearest the
        // phase boundary, where Eq. 33 fails.
        let nd = pd.grid.delta_r.len();
        let step = (nd / 12).max(1);
        let mut rows: Vec<usize> = (0..nd).step_by(step).collect();
        let finite: Vec<usize> = (0..nd).filter(|&j| tc.exact[j].is_finite()).collect();
        rows.extend(finite.first().into_iter().chain(finite.last()));
        rows.sort_unstable();
        rows.dedup();
        for j in rows {
            let _ = writeln!(
                out,
                "  {:>10.4} {:>12.4} {:>12.4} {:>10.3}",
                pd.grid.delta_r[j], tc.exact[j], tc.eq33[j], tc.rel_diff[j]
            );
        }
        let _ = writeln!(out, "  (NaN exact: E_max never reached; Eq. 33 holds only deep in the broken phase)");
    }
}

/// `qbsim validate`: the reduced point of `[reduced]` (or the one `[model]`
/// maps to) realized at increasing elimination ratios, three engines each.
pub fn validate(cfg: &Config, out: &Path, prov: &Provenance, ratios: Option<&[f64]>) -> Result<Report, RunError> {
    let time = cfg.require_time("`qbsim validate` needs t_end and n_save (reduced time)")?;
    let (point, tau, cutoffs) = match (&cfg.reduced, &cfg.model) {
        (Some(r), _) => (*r, time.times(), [5, 5, 3]),
        (None, Some(p)) => {
            let m = map::to_reduced(p)?;
            (m.reduced, time.times().iter().map(|t| t * m.g).collect(), p.cutoffs)
        }
        (None, None) => {
            return Err(cfg.require_reduced("`qbsim validate` needs a reduced point ([reduced]) or [model]").unwrap_err().into())
        }
    };
    let ratios = ratios.map_or(crate::validate::DEFAULT_RATIOS.to_vec(), <[f64]>::to_vec);
    if let Some(&bad) = ratios.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
        return Err(MapError::BadRatio(bad).into());
    }
    let mut distinct = ratios.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 2 {
        return Err(RunError::Invalid(format!(
            "--ratios {}: give at least two distinct elimination ratios (the verdict fits how the reduction \
             error falls with r, which takes two or more points), e.g. --ratios 10,100,1000",
            ratios.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(",")
        )));
    }
    let spec = ValidationSpec {
        point,
        ratios,
        tau,
        cutoffs,
        method: cfg.solver.method,
        rtol: cfg.solver.rtol,
        atol: cfg.solver.atol,
    };
    prov.check_target(cfg, out)?;
    let root = Record::new_root();
    write_provenance(&root, cfg, prov)?;
    let bar = crate::progress::Bar::counting(spec.ratios.len() as f64, "ratios", prov.quiet);
    let verdict = crate::validate::validate(&spec, &prov.stop, &mut |k| bar.set(k as f64)).map_err(|e| match e {
        ValidateError::Master(m) => RunError::Master(m),
        ValidateError::Map(m) => RunError::Map(m),
    })?;
    bar.finish();
    let g = root.group("validation")?;
    write_params(&g, &point)?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "validation of the reduced point gamma_a = {}, gamma_b = {}, delta_ra = {}, delta_rb = {}",
        point.gamma_a, point.gamma_b, point.delta_ra, point.delta_rb
    );
    match &verdict {
        Verdict::Unrealizable { product, nearest, explanation } => {
            g.attr_u8("realizable", 0)?;
            g.attr_f64("gamma_product", *product)?;
            g.attr_f64("nearest_gamma_a", nearest.0)?;
            g.attr_f64("nearest_gamma_b", nearest.1)?;
            g.attr_str("verdict", explanation)?;
            let _ = writeln!(text, "  {explanation}");
        }
        Verdict::Validated { runs, slope } => {
            g.attr_u8("realizable", 1)?;
            g.attr_f64("slope", *slope)?;
            let ratio: Vec<f64> = runs.iter().map(|r| r.ratio).collect();
            g.write_f64("ratio", &ratio)?;
            g.write_f64("err_master_moments", &runs.iter().map(|r| r.err_master_moments).collect::<Vec<_>>())?;
            g.write_f64("err_moments_reduced", &runs.iter().map(|r| r.err_moments_reduced).collect::<Vec<_>>())?;
            g.write_f64("gamma", &runs.iter().map(|r| r.params.gamma).collect::<Vec<_>>())?;
            let kappa = ndarray::Array2::from_shape_fn((runs.len(), 3), |(k, j)| runs[k].params.kappa[j]);
            g.write_f64_2d("kappa", &kappa)?;
            g.write_f64("top_level", &runs.iter().map(|r| r.top_level).collect::<Vec<_>>())?;
            let traces = g.group("traces")?;
            traces.write_f64("tau", &spec.tau)?;
            let n = spec.tau.len();
            for (name, pick) in [
                ("energy_master", 0usize),
                ("energy_moments", 1),
                ("energy_reduced", 2),
            ] {
                let arr = ndarray::Array2::from_shape_fn((runs.len(), n), |(k, j)| {
                    let r = &runs[k];
                    [&r.e_master, &r.e_moments, &r.e_reduced][pick].get(j).copied().unwrap_or(f64::NAN)
                });
                traces.write_f64_2d(name, &arr)?;
            }
            let verdict = format!(
                "realizable; the reduction error falls like r^{slope:.3} (expected -1): the reduced model is \
                 accurate to {:.1e} of max E_B at r = {:.3e}",
                runs.last().map_or(f64::NAN, |r| r.err_moments_reduced),
                runs.last().map_or(f64::NAN, |r| r.ratio)
            );
            g.attr_str("verdict", &verdict)?;
            let _ = writeln!(text, "  {:>10} {:>20} {:>20} {:>8}", "ratio r", "max|master-moments|", "max|moments-reduced|", "steps");
            let _ = writeln!(text, "  {:>10} {:>20} {:>20} {:>8}", "", "(units of E_r^2)", "(rel. to max E_B)", "");
            for r in runs {
                let _ = writeln!(
                    text,
                    "  {:>10.4e} {:>20.3e} {:>20.3e} {:>8}",
                    r.ratio, r.err_master_moments, r.err_moments_reduced, r.steps
                );
            }
            let _ = writeln!(text, "  fitted log-log slope of the reduction error: {slope:.3} (expected -1)");
            let _ = writeln!(text, "  {verdict}");
        }
    }
    let interrupted = prov.stop.load(std::sync::atomic::Ordering::Relaxed);
    if interrupted {
        let _ = writeln!(text, "  interrupted: the file holds the elimination ratios completed so far");
    }
    root.attr_u8("interrupted", u8::from(interrupted))?;
    write_file(&root.record(), out, text, interrupted, &prov.target_policy(cfg))
}

/// `qbsim map`: both directions of the parameter map as a table.
pub fn map_table(cfg: &Config, ratios: Option<&[f64]>) -> Result<String, RunError> {
    let mut text = String::new();
    if let Some(p) = &cfg.model {
        let m = map::to_reduced(p)?;
        let r = m.reduced;
        let _ = writeln!(text, "microscopic -> reduced (adiabatic elimination of c):");
        for (i, row) in m.drift.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|z| format!("{:>11.4e}{:+.4e}i", z.re, z.im)).collect();
            let _ = writeln!(text, "  {:<22} {}", if i == 0 { "drift M (dx/dt = -Mx+f)" } else { "" }, cells.join("  "));
        }
        for (k, v) in [
            ("Gamma_eff", format!("{:.9e}", m.gamma_eff)),
            ("mu_a", format!("{}", m.mu_a)),
            ("mu_b", format!("{}", m.mu_b)),
            ("g (coupling rate)", format!("{:.9e}", m.g)),
            ("time unit 1/g", format!("{:.9e}", 1.0 / m.g)),
            ("gauge phase", format!("{:.9}", m.gauge_phase)),
            ("gamma_a", format!("{:.9}", r.gamma_a)),
            ("gamma_b", format!("{:.9}", r.gamma_b)),
            ("delta_ra", format!("{:.9}", r.delta_ra)),
            ("delta_rb", format!("{:.9}", r.delta_rb)),
            ("E_r", format!("{:.9e}", r.drive_r)),
            ("elimination ratio r", format!("{:.6e}", m.ratio)),
            ("realizable", r.realizability().explain()),
        ] {
            let _ = writeln!(text, "  {k:<22} {v}");
        }
    }
    if let Some(r) = &cfg.reduced {
        let _ = writeln!(text, "reduced -> microscopic (PHYSICS.md §5 family, time unit 1/g, g = 1):");
        let ratios = ratios.map_or(vec![10.0, 100.0, 1000.0], <[f64]>::to_vec);
        let _ = writeln!(
            text,
            "  {:>10} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
            "r", "Gamma", "kappa_a", "kappa_b", "kappa_c", "p_a", "p_b", "p_ca=p_cb*.."
        );
        for ratio in ratios {
            // An unrealizable point is an answer, as in `qbsim validate`: the
            // verdict with the nearest realizable point, exit 0.
            let p = match map::from_reduced(r, ratio, [1, 1, 1]) {
                Err(e @ MapError::NotRealizable { .. }) => {
                    let _ = writeln!(text, "  {e}; nothing to map");
                    break;
                }
                other => other?,
            };
            let _ = writeln!(
                text,
                "  {:>10.3e} {:>12.6} {:>12.6} {:>12.6} {:>12.6} {:>12.6} {:>12.6} {:>6.4}/{:<6.4}",
                ratio, p.gamma, p.kappa[0], p.kappa[1], p.kappa[2], p.p_a.re, p.p_b.re, p.p_ca.re, p.p_cb.re
            );
        }
    }
    if cfg.model.is_none() && cfg.reduced.is_none() {
        cfg.require_reduced("`qbsim map` needs [model] or [reduced]")?;
    }
    Ok(text)
}

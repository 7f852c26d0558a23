//! One invocation: a validated config → the engines it asks for → one HDF5
//! file, plus a short human summary. No physics here and no argument parsing:
//! this is the glue between [`crate::config`], the engines and [`crate::output`].

use crate::config::{Config, ConfigError, PhaseSpec, TimeGrid};
use crate::master::{self, MasterError, MasterOptions, MasterResult};
use crate::model::{MicroParams, ReducedParams};
use crate::observables::series::Series;
use crate::output::{self, Group, OutputError, OutputFile};
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
}

/// How a run is invoked: provenance and interaction.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The command line as typed (written to the output file).
    pub command: String,
    /// No progress bar.
    pub quiet: bool,
    /// Set (e.g. by Ctrl-C) to stop at the next save time and keep what is done.
    pub stop: Arc<AtomicBool>,
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
    if cfg.model.is_none() {
        cfg.require_reduced("`qbsim run` needs [reduced] (two-mode model) or [model] (three-mode master equation)")?;
    }
    let time = cfg.require_time("`qbsim run` needs t_end and n_save")?;
    if let Some(ph) = &cfg.phase {
        check_markers(cfg, ph)?;
    }
    let master_opts = cfg.model.as_ref().map(|p| {
        let o = master_options(cfg);
        master::check_resources(p, &o, time.n_save).map(|_| o)
    });
    let master_opts = master_opts.transpose()?;
    let file = OutputFile::create(out)?;
    write_provenance(&file.root(), cfg, prov)?;
    let mut text = String::new();
    let mut interrupted = false;
    if let Some(params) = cfg.reduced {
        let model = ReducedModel::new(params);
        let traj = model.trajectory(&time.times(), &[C64::new(0.0, 0.0); 2]);
        write_reduced(&file.group("reduced")?, &model, &traj)?;
        summarize_reduced(&mut text, &model, &traj);
    }
    if let (Some(p), Some(opts)) = (&cfg.model, &master_opts) {
        let times = time.times();
        let bar = crate::progress::Bar::new(time.t_end, prov.quiet);
        let res = master::solve(p, &cfg.initial, &times, opts, &prov.stop, &mut |t| bar.set(t))?;
        bar.finish();
        write_master(&file.group("master")?, p, opts, &res)?;
        summarize_master(&mut text, p, &res);
        interrupted |= res.interrupted;
    }
    if let Some(ph) = &cfg.phase {
        let pd = PhaseDiagram::compute(ph.grid.clone());
        write_phase(&file.group("phase")?, &pd, ph, cfg.time)?;
        summarize_phase(&mut text, &pd);
    }
    file.root().attr_u8("interrupted", u8::from(interrupted))?;
    let output = file.finish()?;
    let _ = writeln!(text, "wrote {}", output.display());
    Ok(Report { text, output, interrupted })
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
    g.write_f64("t", &s.t)?;
    g.write_c64("a", &s.a)?;
    g.write_c64("b", &s.b)?;
    g.write_c64("c", &s.c)?;
    g.write_f64("n_a", &s.n_a)?;
    g.write_f64("n_b", &s.n_b)?;
    g.write_f64("n_c", &s.n_c)?;
    g.write_f64("energy_b", &s.energy_b)?;
    g.write_f64("power_b", &s.power_b)?;
    g.write_f64("ergotropy_b", &s.ergotropy_b)?;
    g.write_f64("entropy_b", &s.entropy_b)?;
    g.write_f64("purity_b", &s.purity_b)
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
    let file = OutputFile::create(out)?;
    write_provenance(&file.root(), cfg, prov)?;
    let pd = PhaseDiagram::compute(ph.grid.clone());
    write_phase(&file.group("phase")?, &pd, ph, cfg.time)?;
    let mut text = String::new();
    summarize_phase(&mut text, &pd);
    let output = file.finish()?;
    let _ = writeln!(text, "wrote {}", output.display());
    Ok(Report { text, output, interrupted: false })
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

fn write_reduced(g: &Group, m: &ReducedModel, tr: &Trajectory) -> Result<(), OutputError> {
    let p = &m.params;
    g.write_f64("t", &tr.tau)?;
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

fn write_phase(g: &Group, pd: &PhaseDiagram, ph: &PhaseSpec, time: Option<TimeGrid>) -> Result<(), OutputError> {
    g.attr_f64("gamma_b", pd.grid.gamma_b)?;
    g.attr_str("phase_codes", "-1 unbroken, 0 marginal (Re[-i lambda_+] = 0), 1 broken, 2 exceptional point")?;
    g.write_f64("delta_r", &pd.grid.delta_r)?;
    g.write_f64("alpha", &pd.grid.alpha)?;
    g.write_f64_2d("growth_rate", &pd.growth_rate)?;
    g.write_u8_2d("realizable", &pd.realizable)?;
    g.write_nd("phase", pd.phase.view())?;
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

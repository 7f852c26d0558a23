//! One invocation: a validated config → the engines it asks for → one HDF5
//! file, plus a short human summary. No physics here and no argument parsing:
//! this is the glue between [`crate::config`], the engines and [`crate::output`].
//! Each output group's schema and summary has one owner: `three_mode.rs`
//! (`/master`, `/moments`), `two_mode.rs` (`/reduced`, `/map`), `phase.rs`
//! (`qbsim phase`, `/phase`), `validate.rs` (`qbsim validate`, `qbsim map`).

use crate::config::{Config, ConfigError, Engine, PhaseSpec, TimeGrid};
use crate::master::{self, MasterError, MasterOptions, MasterResult};
use crate::model::map::{self, MapError, ReducedMap};
use crate::integrate::Method;
use crate::model::{MicroParams, ReducedParams};
use crate::moments;
use crate::validate::{ValidateError, ValidationSpec, Verdict};
use crate::observables::series::Series;
use crate::output::record::{Group, Record};
use crate::output::{self, Existing, OutputError, OutputFile, TargetPolicy};
use crate::text::short;
use crate::resume::{self, Checkpoint, ResumeError};
use crate::reduced::phase_diagram::PhaseDiagram;
use crate::reduced::{self, Phase, ReducedModel, Trajectory};
use num_complex::Complex64 as C64;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

mod phase;
mod steady;
pub mod trajectories;
mod three_mode;
mod two_mode;
mod validate;

use three_mode::{summarize_master, write_master, write_micro_params, write_series};
pub use phase::phase;
pub use trajectories::TrajShard;
pub use steady::{compute_steady, precheck_steady, steady};
use phase::{check_markers, summarize_phase, write_phase};
use two_mode::{check_finite, summarize_reduced, write_map, write_params, write_reduced, write_reduced_series};
pub use validate::{compute_validate, map_table, precheck_validate, validate};

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
    /// A protocol that fails while running (e.g. parameters no engine can take
    /// after an event); what was computed before is not written.
    #[error("{0}")]
    Protocol(String),
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
            | RunError::Master(MasterError::Refused(_))
            | RunError::Output(OutputError::Read { .. }) => 2,
            RunError::Output(_) | RunError::Master(_) | RunError::Protocol(_) => 1,
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
    /// `qbsim run --shard I/N`: this run's share of the trajectories.
    pub shard: Option<TrajShard>,
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
    // A config with only a [phase] section: `run` is `phase`, as --help says.
    if cfg.is_phase_only() {
        return phase(cfg, out, prov);
    }
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
    // The file resumed from may be replaced by a more advanced result of the
    // same run: the completed one, or — if this run is interrupted again while
    // `out` holds a complete result — the new partial one beside `out`.
    if !same(file, &out) && !same(file, &output::interrupted_path(&out)) {
        prov.inputs.push(file.to_path_buf());
    }
    // The config stored in the file is not a file of its own.
    let cfg = Config { file: PathBuf::new(), ..cfg };
    if cfg.protocol.as_ref().is_some_and(|p| !p.events.is_empty()) {
        return Err(RunError::Invalid(format!(
            "{} was interrupted during a protocol with events; resuming would need the state of its events              (which fired, which are armed), which the file does not keep: rerun it",
            file.display()
        )));
    }
    plan(&cfg)?;
    prov.check_target(&cfg, &out)?;
    let computed = compute_from(&cfg, &prov, Some(&ck))?;
    let mut text = computed.text;
    let _ = writeln!(text, "resumed from {} at t = {}", file.display(), short(ck.t));
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

/// Bytes a run of `cfg` holds at its peak: the master equation's vectors and
/// stored states plus [`record_bytes`] plus `extra` (e.g. a sweep's records).
pub fn memory_need(cfg: &Config, extra: usize) -> usize {
    let mut need = record_bytes(cfg).saturating_add(extra);
    if let (Some(p), true, Some(t)) = (&cfg.model, cfg.solver.engines.contains(&Engine::Master), cfg.time) {
        need = need.saturating_add(master::memory_estimate(&p.lindblad_terms(), &master_options(cfg), t.n_save));
    }
    need
}

/// `qbsim check`: what `qbsim run` (or `sweep`) would do with this config,
/// without computing: the effective config, the engines, the memory
/// estimate, the output path and what is there now. Returns the report and
/// the first refusal a run would meet, if any.
pub fn check(cfg: &Config, out: &Path, prov: &Provenance) -> (String, Option<RunError>) {
    let mut text = String::new();
    let _ = writeln!(text, "effective config ({}):", cfg.file.display());
    for line in cfg.effective_text.trim_end().lines() {
        let _ = writeln!(text, "    {line}");
    }
    let mut engines: Vec<String> = Vec::new();
    if cfg.reduced.is_some() {
        engines.push("reduced (two-mode model of [reduced], exact matrix exponential)".into());
    }
    if let Some(p) = &cfg.model {
        for e in &cfg.solver.engines {
            engines.push(match e {
                Engine::Master => format!(
                    "master (Lindblad master equation, cutoffs {}, d = {}, {}, rtol {:e}, atol {:e})",
                    cutoffs_text(p.cutoffs),
                    p.space().dim(),
                    cfg.solver.method.name(),
                    cfg.solver.rtol,
                    cfg.solver.atol
                ),
                Engine::Moments | Engine::Reduced => format!("{} ({})", e.name(), e.summary()),
                Engine::Trajectories => format!(
                    "trajectories ({} quantum-jump trajectories, seed {}, cutoffs {}, d = {}: vectors of d, not d²)",
                    cfg.trajectories.n,
                    cfg.trajectories.seed.map_or("drawn at the start".into(), |s| s.to_string()),
                    cutoffs_text(p.cutoffs),
                    p.space().dim()
                ),
            });
        }
    }
    if let Some(ph) = &cfg.phase {
        engines.push(format!(
            "phase diagram ({} x {} points{})",
            ph.grid.alpha.len(),
            ph.grid.delta_r.len(),
            if ph.markers.is_empty() { String::new() } else { format!(", {}", crate::text::count(ph.markers.len(), "marker", "markers")) }
        ));
    }
    let _ = writeln!(text, "engines:");
    for e in &engines {
        let _ = writeln!(text, "    {e}");
    }
    if let Some(t) = cfg.time {
        let _ = writeln!(text, "save times: {} from 0 to {}", t.n_save, short(t.t_end));
    }
    if let Some(p) = &cfg.protocol {
        let _ = writeln!(text, "protocol:");
        for ((at, ramp, _), label) in p.steps.iter().zip(p.step_labels()) {
            let how = if *ramp > 0.0 { format!(" (ramp {})", short(*ramp)) } else { String::new() };
            let _ = writeln!(text, "    step at t = {}{how}: {label}", short(*at));
        }
        for e in &p.events {
            let _ = writeln!(text, "    event {}", e.describe());
        }
    }
    let sweep_points = cfg.sweep.as_ref().map_or(1, |s| s.n_points());
    let extra = if cfg.sweep.is_some() { record_bytes(cfg).saturating_mul(sweep_points) } else { 0 };
    let need = memory_need(cfg, extra);
    let avail = master::available_memory().map_or("unknown".into(), |a| format!("{:.2} GB", a as f64 / 1e9));
    let _ = writeln!(text, "memory estimate: {:.3} GB (available: {avail})", need as f64 / 1e9);
    if let Some(s) = &cfg.sweep {
        let _ = writeln!(
            text,
            "sweep ({}): {}; `qbsim sweep` writes {} (journal {}.journal while running), shards OUT.shard-I-of-N.h5",
            crate::text::count(s.axes.len(), "axis", "axes"),
            crate::text::count(s.n_points(), "point", "points"),
            out.display(),
            out.display()
        );
    }
    let refusal = (|| {
        // `run` on a [phase]-only config is `phase`, which needs no plan.
        if !(cfg.sweep.is_none() && cfg.is_phase_only()) && (cfg.sweep.is_none() || cfg.time.is_some()) {
            plan(cfg)?;
        }
        check_memory(cfg, extra)?;
        prov.check_target(cfg, out)
    })();
    match &refusal {
        Ok(existing) => {
            let what = match existing {
                Existing::Absent => "new file",
                Existing::Complete => "replaces the complete qbsim result there once the new one is complete",
                Existing::Interrupted => "replaces the interrupted qbsim result there",
                Existing::Foreign => "replaces the file there (--overwrite)",
            };
            let _ = writeln!(text, "output: {} ({what})", out.display());
            let _ = writeln!(text, "ok: nothing was computed");
        }
        Err(_) => {
            let _ = writeln!(text, "output: {}", out.display());
        }
    }
    (text, refusal.err())
}

/// Refuses, before any work, a run whose memory need (master-equation state
/// vectors, stored states, every saved observable and grid point) exceeds
/// the memory available.
pub fn check_memory(cfg: &Config, extra: usize) -> Result<(), RunError> {
    let need = memory_need(cfg, extra);
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
            master::check_resources(&p.lindblad_terms(), &o, time.n_save)?;
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
    check_protocol(cfg)?;
    let mut extra = 0;
    if let (Some(p), true) = (&cfg.model, engines.contains(&Engine::Trajectories)) {
        extra = trajectories::memory_need(cfg, p, time.n_save);
    }
    check_memory(cfg, extra)?;
    Ok(Plan { time, master_opts, mapped })
}

/// The parameters of every segment a protocol can reach in order (the steps,
/// each event after them) must be usable by every engine of the run — the
/// reduced one through the map — checked before any work.
fn check_protocol(cfg: &Config) -> Result<(), RunError> {
    let Some(spec) = &cfg.protocol else { return Ok(()) };
    let n_steps = spec.steps.len();
    let mut paths: Vec<Vec<usize>> = (0..=n_steps).map(|k| (0..k).collect()).collect();
    let n_changes = spec.changes().len();
    paths.extend((n_steps..n_changes).map(|c| (0..n_steps).chain([c]).collect()));
    let bad = |path: &[usize], e: String| {
        RunError::Invalid(format!(
            "protocol: {} {e}",
            if path.is_empty() { "at the start:".to_string() } else { format!("after changes {path:?} (steps first, then events, from 0):") }
        ))
    };
    if let Some(proto) = cfg.micro_protocol() {
        for path in &paths {
            let p = proto.params(path).map_err(|e| bad(path, e))?;
            for e in &cfg.solver.engines {
                e.check(&p).map_err(|r| bad(path, format!("`{}`: {}", r.key, r.reason)))?;
            }
            if cfg.solver.engines.contains(&Engine::Reduced) {
                map::to_reduced(&p).map_err(|e| bad(path, format!("the reduced engine: {e}")))?;
            }
        }
    }
    if let Some(proto) = cfg.reduced_protocol() {
        for path in &paths {
            proto.params(path).map_err(|e| bad(path, e))?;
        }
    }
    Ok(())
}

/// As [`compute`], continuing the master equation from `start` (an
/// interrupted run of the same config) when given.
pub fn compute_from(cfg: &Config, prov: &Provenance, start: Option<&Checkpoint>) -> Result<Computed, RunError> {
    let Plan { time, master_opts, mapped } = plan(cfg)?;
    let engines = &cfg.solver.engines;
    // The master equation's initial state, read (and checked) before any work.
    let rho0 = match (&cfg.model, &master_opts, &cfg.initial_from, start) {
        (Some(_), Some(_), _, Some(ck)) => Some((ck.rho.clone(), ck.t, ck.done.work_final)),
        (Some(p), Some(_), Some(from), None) => Some((resume::initial_state(from, p.cutoffs)?, 0.0, 0.0)),
        (Some(p), Some(_), None, None) => Some((master::initial_state(p, &cfg.initial), 0.0, 0.0)),
        _ => None,
    };
    let root = Record::new_root();
    write_provenance(&root, cfg, prov)?;
    if let Some(spec) = &cfg.protocol {
        write_protocol(&root.group("protocol")?, spec)?;
    }
    let mut text = String::new();
    let mut interrupted = false;
    let (t0_all, t_end) = (0.0, time.t_end);
    // The samples at event firings (`/<engine>/events/`) exist when the protocol has events.
    let has_events = cfg.protocol.as_ref().is_some_and(|p| !p.events.is_empty());
    if let Some(proto) = cfg.reduced_protocol() {
        let times = time.times();
        let (model, traj, fired) = reduced::solve_protocol(&proto, t0_all, t_end, &times).map_err(RunError::Protocol)?;
        check_finite("reduced model", &model, &traj, &traj.tau)?;
        let g = root.group(Engine::Reduced.name())?;
        write_reduced(&g, &model, &traj, &times)?;
        write_events(&g, &fired.outcome.events)?;
        if has_events {
            write_reduced_series(&g.group("events")?, &fired.samples, &fired.t)?;
        }
        summarize_reduced(&mut text, &model, &traj);
        summarize_events(&mut text, Engine::Reduced, &fired.outcome.events, fired.outcome.stopped_by_event);
    }
    let micro = cfg.micro_protocol();
    if let (Some(p), Some(proto), Some(opts), Some((rho0, t0, w0))) = (&cfg.model, &micro, &master_opts, &rho0) {
        let times = time.times();
        // A resumed run continues with the save times it had not reached.
        let n_done = start.map_or(0, |ck| ck.done.series.len());
        let bar = crate::progress::Bar::new(time.t_end, prov.quiet);
        let later = master::solve_protocol(
            proto,
            rho0,
            *w0,
            *t0,
            t_end,
            &times[n_done.min(times.len())..],
            opts,
            &prov.stop,
            &mut |t| bar.set(t),
        )?;
        bar.finish();
        let res = match start {
            Some(ck) => {
                let mut all = ck.done.clone();
                all.extend(later);
                all
            }
            None => later,
        };
        let g = root.group(Engine::Master.name())?;
        write_master(&g, p, opts, &res)?;
        write_events(&g, &res.events)?;
        if has_events {
            write_series(&g.group("events")?, &res.event_samples)?;
        }
        summarize_master(&mut text, p, &res);
        summarize_events(&mut text, Engine::Master, &res.events, res.stopped_by_event);
        interrupted |= res.interrupted;
    }
    if let (Some(p), true) = (&cfg.model, engines.contains(&Engine::Trajectories)) {
        interrupted |= trajectories::run(cfg, p, &time, prov, &root, &mut text)?;
    }
    if let (Some(p), Some(proto), true) = (&cfg.model, &micro, engines.contains(&Engine::Moments)) {
        let (s, fired) = moments::solve_protocol(proto, &cfg.initial, t0_all, t_end, &time.times()).map_err(RunError::Protocol)?;
        let out = fired.outcome;
        let g = root.group(Engine::Moments.name())?;
        write_series(&g, &s)?;
        write_micro_params(&g, p)?;
        write_events(&g, &out.events)?;
        if has_events {
            write_series(&g.group("events")?, &fired.samples)?;
        }
        g.attr_u8("gaussian", u8::from(moments::stays_gaussian(p, &cfg.initial)))?;
        if let (Some(&t), Some(&e)) = (s.t.last(), s.energy_b.last()) {
            let _ = writeln!(text, "moments (exact): at t = {}: E_B = {e:.6e}", short(t));
        }
        summarize_events(&mut text, Engine::Moments, &out.events, out.stopped_by_event);
    }
    if let (Some(m), Some(proto)) = (&mapped, &micro) {
        let times = time.times();
        let (model, traj, fired) = reduced::solve_protocol(proto, t0_all, t_end, &times).map_err(RunError::Protocol)?;
        let out = fired.outcome;
        let g = root.group(Engine::Reduced.name())?;
        write_reduced(&g, &model, &traj, &times)?;
        write_events(&g, &out.events)?;
        if has_events {
            write_reduced_series(&g.group("events")?, &fired.samples, &fired.t)?;
        }
        write_map(&root.group("map")?, m)?;
        summarize_reduced(&mut text, &model, &traj);
        let _ = writeln!(
            text,
            "  from [model]: g = {:.6e} (time unit 1/g), elimination ratio r = {:.3e}",
            m.g, m.ratio
        );
        summarize_events(&mut text, Engine::Reduced, &out.events, out.stopped_by_event);
    }
    if let Some(ph) = &cfg.phase {
        let pd = PhaseDiagram::compute(ph.grid.clone());
        write_phase(&root.group("phase")?, &pd, ph, cfg.time)?;
        summarize_phase(&mut text, &pd);
    }
    root.attr_u8("interrupted", u8::from(interrupted))?;
    Ok(Computed { record: root.record(), text, interrupted })
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

/// `/protocol`: the steps (times, ramps, what they set) and the events.
fn write_protocol(g: &Group, spec: &crate::config::protocol::ProtocolSpec) -> Result<(), OutputError> {
    g.write_f64("step_times", &spec.steps.iter().map(|s| s.0).collect::<Vec<_>>())?;
    g.write_f64("step_ramps", &spec.steps.iter().map(|s| s.1).collect::<Vec<_>>())?;
    g.write_strings("step_labels", &spec.step_labels())?;
    let events: Vec<String> = spec.events.iter().map(|e| e.describe()).collect();
    g.write_strings("event_specs", &events)
}

/// `event_times` and `event_names` of an engine group (empty if none fired).
fn write_events(g: &Group, events: &[(f64, String)]) -> Result<(), OutputError> {
    g.write_f64("event_times", &events.iter().map(|e| e.0).collect::<Vec<_>>())?;
    g.write_strings("event_names", &events.iter().map(|e| e.1.as_str()).collect::<Vec<_>>())
}

fn summarize_events(text: &mut String, engine: Engine, events: &[(f64, String)], stopped_by_event: bool) {
    for (t, name) in events {
        let _ = writeln!(text, "  {}: event {name} fired at t = {t:.12}", engine.name());
    }
    if stopped_by_event {
        let _ = writeln!(text, "  {}: stopped by its event", engine.name());
    }
}

fn write_provenance(root: &Group, cfg: &Config, prov: &Provenance) -> Result<(), OutputError> {
    root.attr_str("qbsim_version", env!("CARGO_PKG_VERSION"))?;
    root.attr_str("created", &output::iso8601_now_utc())?;
    root.attr_str("command", &prov.command)?;
    root.attr_str("config", &cfg.effective_text)?;
    root.attr_u8("interrupted", 0)
}

/// `(4, 4, 2)`: cutoffs as a physicist writes them.
pub fn cutoffs_text(c: [usize; 3]) -> String {
    format!("({}, {}, {})", c[0], c[1], c[2])
}

//! The full three-mode master equation: initial state → Liouvillian (kernel or
//! superoperator) → adaptive RK → observables at every save time (docs/physics.md §7).

mod engine;
pub mod steady;

pub use engine::{Fixed, MasterEngine, Terms};

use crate::integrate::{IntegrateError, Integrator, Method, Stats};
use crate::liouvillian::superop;
use crate::liouvillian::Generator;
use crate::model::{LindbladTerms, MicroParams, ModeState};
use crate::observables::{series::Series, states};
use crate::protocol::{self, Protocol};
use num_complex::Complex64 as C64;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Population of a mode's top Fock level above which the truncation is flagged.
pub const TRUNCATION_WARN: f64 = 1e-6;
/// |Tr ρ − 1| above which the run is flagged.
pub const TRACE_WARN: f64 = 1e-8;

/// How the master equation applies 𝓛.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiouvillianKind {
    Kernel,
    SuperOperator,
}

impl LiouvillianKind {
    /// The config value (`solver.liouvillian`).
    pub fn name(&self) -> &'static str {
        match self {
            LiouvillianKind::Kernel => "kernel",
            LiouvillianKind::SuperOperator => "superoperator",
        }
    }
}

/// Which density matrices to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveState {
    None,
    Final,
    All,
}

impl SaveState {
    /// The config value (`output.save_state`).
    pub fn name(&self) -> &'static str {
        match self {
            SaveState::None => "none",
            SaveState::Final => "final",
            SaveState::All => "all",
        }
    }
}

/// Settings of a master-equation run.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterOptions {
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
    pub liouvillian: LiouvillianKind,
    pub save_state: SaveState,
}

/// Time series of observables, one entry per save time (docs/physics.md §7).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasterResult {
    /// ⟨a⟩, ⟨b⟩, ⟨c⟩, occupations, E_B, P_B (as ⟨𝓛†(b†b)⟩), battery metrics.
    pub series: Series,
    pub trace: Vec<f64>,
    /// Population of each mode's highest Fock level, per save.
    pub top_level: Vec<[f64; 3]>,
    /// The state at `t_final` (full d×d, row-major): stored when asked for
    /// (`save_state`), and always when the run was interrupted, so that it
    /// can be resumed.
    pub rho_final: Option<Vec<C64>>,
    /// Time of `rho_final`: the last save time, or the step end at which a
    /// stop took effect.
    pub t_final: f64,
    /// All saved states, `[n_save, d, d]` flattened.
    pub rho_all: Option<Vec<C64>>,
    pub stats: Stats,
    pub warnings: Vec<String>,
    /// Stopped by the caller (Ctrl-C) before the last save time.
    pub interrupted: bool,
    /// Instruction set of the kernel ("avx512", "avx2", "generic"), or "superoperator".
    pub backend: String,
    /// Work done by the drive at `t_final` (for resuming).
    pub work_final: f64,
    /// (time, name) of every event that fired.
    pub events: Vec<(f64, String)>,
    /// The observables at every event firing (apart from the saves).
    pub event_samples: Series,
    /// The run ended at an event with `action = "stop"`.
    pub stopped_by_event: bool,
    /// The method used (never `Auto`), and why when it was chosen.
    pub method: Method,
    pub method_choice: String,
}

/// Explicit RK evaluations of 𝓛 above which `auto` picks Krylov: Krylov
/// costs a few hundred evaluations plus its orthogonalisation whatever the
/// stiffness (README "Stiff master equations"), so below this DOPRI5 is cheaper.
pub const AUTO_KRYLOV_EVALS: f64 = 5000.0;

/// `auto`: Krylov where an explicit method would be held back by stability,
/// from a cheap bound on the spectral radius of 𝓛: the largest total decay
/// rate of a Fock state, Σ_k rate_k ⟨n|L_k†L_k|n⟩, plus the spread of the
/// diagonal of H (its fastest oscillation). DOPRI5's stability region reaches
/// |hλ| ≈ 3.3, so it needs about 6·ρ·T/3.3 evaluations of 𝓛 over a span T.
/// Other methods are returned as they are.
pub fn choose_method(terms: &LindbladTerms, method: Method, span: f64) -> (Method, String) {
    if method != Method::Auto {
        return (method, String::new());
    }
    let d = terms.hamiltonian.space.dim();
    let mut decay = vec![0.0; d];
    for j in &terms.jumps {
        for (i, k, w) in j.op.adjoint().mul(&j.op).entries() {
            if i == k {
                decay[i] += j.rate * w.re;
            }
        }
    }
    let mut h = vec![0.0; d];
    for (i, k, w) in terms.hamiltonian.entries() {
        if i == k {
            h[i] += w.re;
        }
    }
    let spread = h.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - h.iter().cloned().fold(f64::INFINITY, f64::min);
    let rho = decay.iter().cloned().fold(0.0, f64::max) + spread.max(0.0);
    let evals = 6.0 * rho * span / 3.3;
    let chosen = if evals > AUTO_KRYLOV_EVALS { Method::Krylov } else { Method::Dopri5 };
    (
        chosen,
        format!(
            "auto: {} (fastest rate of L ~ {:.3e}: an explicit method needs ~{:.0} evaluations of L over t = {}; Krylov above {})",
            chosen.name(),
            rho,
            evals,
            crate::text::short(span),
            AUTO_KRYLOV_EVALS
        ),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("{0}")]
    Integrate(#[from] IntegrateError),
    #[error("{0}")]
    Refused(String),
    /// An iterative solve that did not reach its tolerance (exit code 1).
    #[error("{0}")]
    NotConverged(String),
}

/// Bytes a run will hold at its peak: integrator workspace + state + stored
/// states + the explicit superoperator if used.
pub fn memory_estimate(terms: &LindbladTerms, opts: &MasterOptions, n_save: usize) -> usize {
    let d2 = terms.hamiltonian.space.dim().pow(2);
    // Integrator workspace and its copy of the state, plus the caller's
    // state; counted at full size d², an upper bound for the banded layout.
    let vectors = match opts.method {
        Method::Krylov | Method::Auto => crate::integrate::krylov::Krylov::new(opts.rtol, opts.atol).workspace_vectors(),
        m => Integrator::new(m, opts.rtol, opts.atol).workspace_vectors(true),
    } + 1;
    // The final state is always kept in full (an interrupted run stores it
    // for resuming), all states only with save_state = "all".
    let stored = match opts.save_state {
        SaveState::None | SaveState::Final => 1,
        SaveState::All => n_save.saturating_add(1),
    };
    let mut bytes = (vectors + stored).saturating_mul(d2).saturating_mul(16);
    if opts.liouvillian == LiouvillianKind::SuperOperator {
        bytes = bytes.saturating_add(superop::estimated_bytes(&Generator::new(terms)));
    }
    bytes
}

/// Memory available to this process (Linux MemAvailable), if known.
pub fn available_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Refuses a run that would not fit in memory, or an oversized superoperator,
/// before anything large is allocated (callers run this before writing files).
pub fn check_resources(terms: &LindbladTerms, opts: &MasterOptions, n_save: usize) -> Result<(), MasterError> {
    let est = memory_estimate(terms, opts, n_save);
    let cutoffs = terms.hamiltonian.space.dims;
    if let Some(avail) = available_memory() {
        if est > avail {
            return Err(MasterError::Refused(format!(
                "this run needs about {:.2} GB (cutoffs {}, {}, save_state = \"{}\", liouvillian = \"{}\") but only {:.2} GB is available",
                est as f64 / 1e9,
                cutoffs.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("x"),
                opts.method.name(),
                opts.save_state.name(),
                opts.liouvillian.name(),
                avail as f64 / 1e9
            )));
        }
    }
    if opts.liouvillian == LiouvillianKind::SuperOperator {
        superop::check_size(&Generator::new(terms)).map_err(MasterError::Refused)?;
    }
    Ok(())
}

/// Product initial state ρ_a ⊗ ρ_b ⊗ ρ_c.
pub fn initial_state(p: &MicroParams, init: &[ModeState; 3]) -> Vec<C64> {
    let single = |m: usize| {
        let n = p.cutoffs[m];
        match init[m] {
            ModeState::Vacuum => states::fock_dm(0, n),
            ModeState::Fock(k) => states::fock_dm(k, n),
            ModeState::Coherent(z) => states::coherent_dm(z, n),
            ModeState::Thermal(nbar) => states::thermal_dm(nbar, n),
        }
    };
    states::kron3(&single(0), &single(1), &single(2), p.cutoffs)
}

/// Integrates the master equation of `p` from the product state `init` at
/// `times[0]`; see [`solve_from`].
pub fn solve(
    p: &MicroParams,
    init: &[ModeState; 3],
    times: &[f64],
    opts: &MasterOptions,
    stop: &Arc<AtomicBool>,
    progress: &mut dyn FnMut(f64),
) -> Result<MasterResult, MasterError> {
    let t0 = times.first().copied().unwrap_or(0.0);
    solve_from(&p.lindblad_terms(), &initial_state(p, init), t0, times, opts, stop, progress)
}

/// Integrates `dρ/dt = −i[H, ρ] + Σ rate·D[L]ρ` for the model's operator terms
/// (`terms`: H and the jump list on their Fock space — every term the model
/// has, treated exactly) from the density matrix `rho0` (full d×d,
/// row-major) at time `t0`, and records the observables at `times` (all
/// ≥ `t0`; a save time equal to `t0` reports `rho0` itself).
///
/// Refuses, before allocating anything large, a run whose memory estimate
/// exceeds the available memory, and the superoperator above its size limit.
/// `progress(t)` is called at each save; `stop` set to true ends the run
/// within one integrator step with the results so far (`interrupted`) and
/// the state reached (`rho_final` at `t_final`), from which it can resume.
pub fn solve_from(
    terms: &LindbladTerms,
    rho0: &[C64],
    t0: f64,
    times: &[f64],
    opts: &MasterOptions,
    stop: &Arc<AtomicBool>,
    progress: &mut dyn FnMut(f64),
) -> Result<MasterResult, MasterError> {
    let t_end = times.last().copied().unwrap_or(t0);
    solve_protocol(&Protocol::constant(Fixed(terms.clone())), rho0, 0.0, t0, t_end, times, opts, stop, progress)
}

/// The master equation under a protocol (docs/physics.md §11) from `rho0`
/// (full d×d) at `t0`, with work `work0` already done, to `t_end`, recording
/// at `times`: one Liouvillian per segment, integration restarted exactly at
/// every switching time and event. The result's `events` lists the firings.
#[allow(clippy::too_many_arguments)]
pub fn solve_protocol<P: Terms + 'static>(
    proto: &Protocol<P>,
    rho0: &[C64],
    work0: f64,
    t0: f64,
    t_end: f64,
    times: &[f64],
    opts: &MasterOptions,
    stop: &Arc<AtomicBool>,
    progress: &mut dyn FnMut(f64),
) -> Result<MasterResult, MasterError> {
    let first = proto.params(&[]).map_err(MasterError::Refused)?;
    let terms = first.terms();
    check_resources(&terms, opts, times.len())?;
    let (method, reason) = choose_method(&terms, opts.method, t_end - t0);
    let opts = &MasterOptions { method, ..opts.clone() };
    let mut engine = MasterEngine::new(&first, rho0, work0, opts, stop, progress)?;
    let out = protocol::drive(proto, &mut engine, t0, t_end, times).map_err(MasterError::Refused)?;
    let (rho, work) = engine.final_state();
    let mut res = std::mem::take(&mut engine.res);
    res.interrupted = out.interrupted;
    res.t_final = out.t_final;
    res.work_final = work;
    res.events = out.events;
    res.stopped_by_event = out.stopped_by_event;
    res.method = method;
    res.method_choice = reason;
    if opts.save_state != SaveState::None || res.interrupted {
        res.rho_final = Some(rho);
    }
    res.warnings = guards(&res);
    Ok(res)
}

impl MasterResult {
    /// Appends `later`, the continuation of this (interrupted) run from its
    /// `rho_final`: saves, statistics, final state; warnings are recomputed
    /// over the whole run.
    pub fn extend(&mut self, later: MasterResult) {
        self.series.extend(later.series);
        self.trace.extend(later.trace);
        self.top_level.extend(later.top_level);
        self.rho_final = later.rho_final;
        self.t_final = later.t_final;
        self.work_final = later.work_final;
        self.method = later.method;
        self.method_choice = later.method_choice;
        self.events.extend(later.events);
        self.event_samples.extend(later.event_samples);
        self.stopped_by_event = later.stopped_by_event;
        self.rho_all = match (self.rho_all.take(), later.rho_all) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            (_, b) => b,
        };
        self.stats.steps += later.stats.steps;
        self.stats.rejected += later.stats.rejected;
        self.stats.rhs_evals += later.stats.rhs_evals;
        self.stats.wall_time_s += later.stats.wall_time_s;
        self.stats.stopped_early = later.stats.stopped_early;
        self.stats.t_final = later.stats.t_final;
        self.interrupted = later.interrupted;
        self.backend = later.backend;
        self.warnings = guards(self);
    }
}

/// Truncation and trace checks (docs/physics.md §7): the run is kept, but flagged.
fn guards(r: &MasterResult) -> Vec<String> {
    let mut w = Vec::new();
    for (m, name) in crate::space::MODE_NAMES.iter().enumerate() {
        let worst = r.top_level.iter().map(|t| t[m]).fold(0.0, f64::max);
        if worst > TRUNCATION_WARN {
            w.push(format!(
                "truncation: mode {name} has population {worst:.2e} in its top Fock level (> {TRUNCATION_WARN:e}); raise its cutoff"
            ));
        }
    }
    let worst = r.trace.iter().map(|t| (t - 1.0).abs()).fold(0.0, f64::max);
    if worst > TRACE_WARN {
        w.push(format!("trace: |Tr rho - 1| reached {worst:.2e} (> {TRACE_WARN:e}); tighten rtol/atol"));
    }
    w
}

#[cfg(test)]
mod tests;

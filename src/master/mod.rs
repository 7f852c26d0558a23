//! The full three-mode master equation: initial state → Liouvillian (kernel or
//! superoperator) → adaptive RK → observables at every save time (docs/physics.md §7).

use crate::integrate::{IntegrateError, Integrator, Method, OdeRhs, Stats};
use crate::liouvillian::kernel::{Kernel, Layout};
use crate::liouvillian::superop::{self, SuperOperator};
use crate::liouvillian::{heisenberg, Generator, Liouvillian};
use crate::model::{LindbladTerms, MicroParams, ModeState};
use crate::observables::{self, series::Series, states, ModeMetrics};
use crate::space::Operator;
use num_complex::Complex64 as C64;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
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
}

#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("{0}")]
    Integrate(#[from] IntegrateError),
    #[error("{0}")]
    Refused(String),
}

/// Bytes a run will hold at its peak: integrator workspace + state + stored
/// states + the explicit superoperator if used.
pub fn memory_estimate(terms: &LindbladTerms, opts: &MasterOptions, n_save: usize) -> usize {
    let d2 = terms.hamiltonian.space.dim().pow(2);
    // Integrator workspace and its copy of the state, plus the caller's
    // state; counted at full size d², an upper bound for the banded layout.
    let vectors = Integrator::new(opts.method, opts.rtol, opts.atol).workspace_vectors(true) + 1;
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

/// The ODE right-hand side: 𝓛 in the layout the state is carried in (one
/// value per run, so the size difference of the variants does not matter).
#[allow(clippy::large_enum_variant)]
enum Rhs {
    /// Matrix-free kernel on the banded Hermitian layout (half the memory traffic).
    Kernel(Kernel),
    /// Explicit superoperator on the full matrix.
    Super(SuperOperator),
}

impl Rhs {
    fn layout(&self) -> Layout {
        match self {
            Rhs::Kernel(k) => k.banded_layout().clone(),
            Rhs::Super(s) => Layout::full(s.dim()),
        }
    }
}

impl OdeRhs for Rhs {
    fn len(&self) -> usize {
        match self {
            Rhs::Kernel(k) => k.banded_layout().len(),
            Rhs::Super(s) => s.dim().pow(2),
        }
    }
    fn eval(&self, _t: f64, y: &[C64], dy: &mut [C64]) {
        match self {
            Rhs::Kernel(k) => k.apply_banded(y, dy),
            Rhs::Super(s) => s.apply(y, dy),
        }
    }
    /// dρ/dt = 𝓛ρ with a time-independent 𝓛 (rotating frame, constant drive).
    fn is_linear(&self) -> bool {
        true
    }
    unsafe fn eval_chain(&self, _t: f64, bufs: &[*mut C64], sink: &(dyn Fn(std::ops::Range<usize>) + Sync)) -> bool {
        match self {
            // SAFETY: the caller's contract is the kernel's.
            Rhs::Kernel(k) => k.apply_chain_banded(bufs, sink),
            Rhs::Super(_) => false,
        }
    }
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
    check_resources(terms, opts, times.len())?;
    let sp = terms.hamiltonian.space;
    let d = sp.dim();
    if rho0.len() != d * d {
        return Err(MasterError::Refused(format!(
            "the initial density matrix has {} entries, but cutoffs {:?} need {d}x{d}",
            rho0.len(),
            sp.dims
        )));
    }
    let generator = Generator::new(terms);
    let (rhs, backend) = match opts.liouvillian {
        LiouvillianKind::Kernel => {
            let k = Kernel::new(generator);
            let name = format!("kernel-{:?}", k.simd()).to_lowercase();
            (Rhs::Kernel(k), name)
        }
        LiouvillianKind::SuperOperator => {
            (Rhs::Super(SuperOperator::new(&generator).map_err(MasterError::Refused)?), "superoperator".into())
        }
    };
    let layout = rhs.layout();
    let dims = sp.dims;
    let ops: [Operator; 3] = [sp.lower(0), sp.lower(1), sp.lower(2)];
    let numbers: [Operator; 3] = [sp.number(0), sp.number(1), sp.number(2)];
    let power_op = heisenberg(terms, &numbers[1]);

    let mut res = MasterResult { backend, ..Default::default() };
    let keep_all = opts.save_state == SaveState::All;
    let mut rho_all = keep_all.then(|| Vec::with_capacity(times.len() * d * d));
    let mut rho_b = vec![C64::new(0.0, 0.0); dims[1] * dims[1]];
    let mut y = layout.from_full(rho0);
    let mut full = if keep_all { vec![C64::new(0.0, 0.0); d * d] } else { Vec::new() };
    let mut integrator = Integrator::new(opts.method, opts.rtol, opts.atol);
    integrator.stop = Some(stop.clone());
    // The observables read a few entries near the diagonal (⟨a⟩, ⟨b⟩, ⟨c⟩,
    // the numbers, the power operator, ρ_b, the populations): the dense
    // output is evaluated only there unless every state is stored.
    let flat = |i: usize, k: usize| {
        let (i, k) = if k >= layout.col0(i) { (i, k) } else { (k, i) };
        layout.row(i).start + k - layout.col0(i)
    };
    if !keep_all {
        let mut idx: Vec<usize> = ops
            .iter()
            .chain(&numbers)
            .chain(std::iter::once(&power_op))
            .flat_map(|o| o.entries().map(|(i, k, _)| flat(i, k)).collect::<Vec<_>>())
            .chain(observables::reduced_state_entries(dims, 1).map(|(i, k)| flat(i, k)))
            .chain((0..d).map(|i| flat(i, i)))
            .collect();
        idx.sort_unstable();
        idx.dedup();
        integrator.dense_subset = Some(idx);
    }
    let stats = integrator.integrate(&rhs, t0, &mut y, times, |_, t, state| {
        let at = |i: usize, k: usize| layout.get(state, i, k);
        observables::reduced_state_with(dims, 1, at, &mut rho_b);
        res.series.push(
            t,
            [ops[0].expect_with(at), ops[1].expect_with(at), ops[2].expect_with(at)],
            [numbers[0].expect_with(at).re, numbers[1].expect_with(at).re, numbers[2].expect_with(at).re],
            power_op.expect_with(at).re,
            ModeMetrics::compute(&rho_b, dims[1]),
        );
        res.trace.push((0..d).map(|i| at(i, i).re).sum());
        res.top_level.push(observables::top_level_population_with(dims, |i| at(i, i).re));
        if let Some(all) = rho_all.as_mut() {
            layout.to_full(state, &mut full);
            all.extend_from_slice(&full);
        }
        progress(t);
        if stop.load(Ordering::Relaxed) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    res.interrupted = res.series.len() < times.len();
    res.stats = stats;
    res.t_final = stats.t_final;
    if opts.save_state != SaveState::None || res.interrupted {
        let mut last = vec![C64::new(0.0, 0.0); d * d];
        layout.to_full(&y, &mut last);
        res.rho_final = Some(last);
    }
    res.rho_all = rho_all;
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

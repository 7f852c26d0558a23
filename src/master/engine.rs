//! The master equation as a protocol engine ([`Propagator`]): one Liouvillian
//! per segment, the constant-𝓛 fast path (the powers form of the RK step)
//! only on segments where 𝓛 is constant, a time-dependent right-hand side
//! during ramps, and the work of the drive integrated along the solution.
//!
//! **Ramps.** On a ramp the parameters are `lerp(from, to, s)`, `s = (t − t0)/T`.
//! H is linear in them; a dissipator `rate·D[op]` is linear in the rate and
//! quadratic in the operator's coefficients, and a rate is at most a product
//! of two parameters (κ(1+n), Γ(1+n)); so 𝓛(s) is a polynomial of degree ≤ 4
//! in s and `𝓛(s) = Σ_k ℓ_k(s) 𝓛(s_k)` exactly, with the Lagrange basis ℓ_k on
//! five Chebyshev nodes s_k inside (0, 1). This is checked when the ramp is
//! built, on a sixth s: a model whose 𝓛 is not such a polynomial is refused
//! rather than approximated. The right-hand side at time t then costs five
//! applications of 𝓛.
//!
//! **Work.** W = ∫ P_in dt, P_in = ⟨drive_power⟩ (docs/physics.md §11), is
//! integrated over every accepted step by 5-point Gauss–Legendre quadrature
//! of the step's dense output, which is exact for the dense-output
//! polynomial (degree ≤ 7, times a drive linear in t on a ramp): W carries the
//! integrator's error only.

use super::{MasterError, MasterOptions, MasterResult, SaveState, LiouvillianKind};
use crate::integrate::krylov::Krylov;
use crate::integrate::{DenseOutput, Integrator, Method, OdeRhs, StepWatch, GL5};
use crate::liouvillian::kernel::{Kernel, Layout};
use crate::liouvillian::superop::SuperOperator;
use crate::liouvillian::{heisenberg, Generator, Liouvillian};
use crate::model::{LindbladTerms, MicroParams};
use crate::observables::{self, series::Series, ModeMetrics};
use crate::protocol::{Params, Propagator, Reached, Segment, Watch};
use crate::space::Operator;
use num_complex::Complex64 as C64;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Parameters the master equation can be built from.
pub trait Terms: Params {
    fn terms(&self) -> LindbladTerms;
    /// The operator whose mean is the drive's power (cheaper than all terms).
    fn drive_power(&self) -> Operator {
        self.terms().drive_power
    }
}

impl Terms for MicroParams {
    fn terms(&self) -> LindbladTerms {
        self.lindblad_terms()
    }
    fn drive_power(&self) -> Operator {
        MicroParams::drive_power(self)
    }
}

/// Terms given as operators ([`super::solve_from`]): a constant protocol only.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixed(pub LindbladTerms);

impl Params for Fixed {
    fn lerp(a: &Self, b: &Self, _s: f64) -> Self {
        assert!(a == b, "operator terms cannot be ramped: give parameters (MicroParams) for a ramp");
        a.clone()
    }
}

impl Terms for Fixed {
    fn terms(&self) -> LindbladTerms {
        self.0.clone()
    }
}

/// 𝓛 in the layout the state is carried in (one value per segment, so the
/// size difference of the variants does not matter).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Rhs {
    /// Matrix-free kernel on the banded Hermitian layout (half the memory traffic).
    Kernel(Kernel),
    /// Explicit superoperator on the full matrix.
    Super(SuperOperator),
}

impl Rhs {
    pub(crate) fn new(terms: &LindbladTerms, kind: LiouvillianKind) -> Result<(Rhs, String), MasterError> {
        let generator = Generator::new(terms);
        Ok(match kind {
            LiouvillianKind::Kernel => {
                let k = Kernel::new(generator);
                let name = format!("kernel-{:?}", k.simd()).to_lowercase();
                (Rhs::Kernel(k), name)
            }
            LiouvillianKind::SuperOperator => {
                (Rhs::Super(SuperOperator::new(&generator).map_err(MasterError::Refused)?), "superoperator".into())
            }
        })
    }

    fn layout(&self) -> Layout {
        match self {
            Rhs::Kernel(k) => k.banded_layout().clone(),
            Rhs::Super(s) => Layout::full(s.dim()),
        }
    }

    pub(crate) fn apply(&self, y: &[C64], dy: &mut [C64]) {
        match self {
            Rhs::Kernel(k) => k.apply_banded(y, dy),
            Rhs::Super(s) => s.apply(y, dy),
        }
    }
}

/// Chebyshev nodes of a ramp's Lagrange representation of 𝓛(s).
const RAMP_NODES: usize = 5;
/// Relative mismatch at the check node above which 𝓛(s) is not a polynomial
/// of degree < [`RAMP_NODES`] (round-off of the five applications is ~1e-15).
const RAMP_CHECK_TOL: f64 = 1e-10;

fn ramp_nodes() -> [f64; RAMP_NODES] {
    std::array::from_fn(|k| 0.5 * (1.0 - ((2 * k + 1) as f64 * std::f64::consts::PI / (2 * RAMP_NODES) as f64).cos()))
}

fn lagrange(nodes: &[f64], s: f64) -> Vec<f64> {
    (0..nodes.len())
        .map(|k| (0..nodes.len()).filter(|&j| j != k).map(|j| (s - nodes[j]) / (nodes[k] - nodes[j])).product())
        .collect()
}

/// The right-hand side of one segment, with the layout its state is carried in.
struct SegmentRhs {
    layout: Layout,
    body: Body,
}

#[allow(clippy::large_enum_variant)]
enum Body {
    Constant(Rhs),
    Ramp { parts: Vec<Rhs>, nodes: [f64; RAMP_NODES], t0: f64, duration: f64, tmp: Mutex<Vec<C64>> },
}

impl SegmentRhs {
    fn build<P: Terms>(seg: &Segment<P>, kind: LiouvillianKind) -> Result<(SegmentRhs, String), MasterError> {
        match seg {
            Segment::Constant(p) => {
                let (rhs, name) = Rhs::new(&p.terms(), kind)?;
                Ok((SegmentRhs { layout: rhs.layout(), body: Body::Constant(rhs) }, name))
            }
            Segment::Ramp { from, to, t0, duration } => {
                let nodes = ramp_nodes();
                let mut parts = Vec::with_capacity(RAMP_NODES);
                let mut name = String::new();
                for &s in &nodes {
                    let (rhs, n) = Rhs::new(&P::lerp(from, to, s).terms(), kind)?;
                    name = n;
                    parts.push(rhs);
                }
                let layout = parts[0].layout();
                if parts.iter().any(|p| p.layout() != layout) {
                    return Err(MasterError::Refused("a ramp changes the structure of the Liouvillian inside it".into()));
                }
                // The degree check on a sixth s, with a deterministic test state.
                let s_check = 0.5 + 0.1234;
                let (check, _) = Rhs::new(&P::lerp(from, to, s_check).terms(), kind)?;
                if check.layout() != layout {
                    return Err(MasterError::Refused("a ramp changes the structure of the Liouvillian inside it".into()));
                }
                let n = layout.len();
                let y: Vec<C64> = (0..n).map(|i| C64::new(((i * 7919) % 1013) as f64 / 1013.0, ((i * 104729) % 997) as f64 / 997.0 - 0.5)).collect();
                let mut want = vec![C64::new(0.0, 0.0); n];
                check.apply(&y, &mut want);
                let mut got = vec![C64::new(0.0, 0.0); n];
                let mut part = vec![C64::new(0.0, 0.0); n];
                for (w, rhs) in lagrange(&nodes, s_check).iter().zip(&parts) {
                    rhs.apply(&y, &mut part);
                    got.iter_mut().zip(&part).for_each(|(g, p)| *g += *w * p);
                }
                let scale = want.iter().map(|z| z.norm()).fold(0.0, f64::max).max(1e-300);
                let diff = want.iter().zip(&got).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
                if diff > RAMP_CHECK_TOL * scale {
                    return Err(MasterError::Refused(format!(
                        "the Liouvillian of this ramp is not a polynomial of degree <= {} in the ramp (mismatch {:.1e}); \
                         ramp it in several steps",
                        RAMP_NODES - 1,
                        diff / scale
                    )));
                }
                let tmp = Mutex::new(vec![C64::new(0.0, 0.0); n]);
                Ok((SegmentRhs { layout, body: Body::Ramp { parts, nodes, t0: *t0, duration: *duration, tmp } }, name))
            }
        }
    }
}

impl OdeRhs for SegmentRhs {
    fn len(&self) -> usize {
        self.layout.len()
    }
    /// Re Tr(X†Y) of Hermitian matrices in the state's layout.
    fn inner(&self, x: &[C64], y: &[C64]) -> f64 {
        self.layout.inner(x, y)
    }
    fn eval(&self, t: f64, y: &[C64], dy: &mut [C64]) {
        match &self.body {
            Body::Constant(r) => r.apply(y, dy),
            Body::Ramp { parts, nodes, t0, duration, tmp } => {
                let w = lagrange(nodes, ((t - t0) / duration).clamp(0.0, 1.0));
                let mut tmp = tmp.lock().unwrap_or_else(|e| e.into_inner());
                parts[0].apply(y, dy);
                dy.iter_mut().for_each(|z| *z *= w[0]);
                for (wk, rhs) in w.iter().zip(parts).skip(1) {
                    rhs.apply(y, &mut tmp);
                    dy.iter_mut().zip(tmp.iter()).for_each(|(d, p)| *d += *wk * p);
                }
            }
        }
    }
    /// Only a constant segment is `y' = 𝓛y` with constant 𝓛 (derived from
    /// the segment, not assumed): a ramp's 𝓛 depends on t.
    fn is_linear(&self) -> bool {
        matches!(self.body, Body::Constant(_))
    }
    unsafe fn eval_chain(&self, _t: f64, bufs: &[*mut C64], sink: &(dyn Fn(std::ops::Range<usize>) + Sync)) -> bool {
        match &self.body {
            // SAFETY: the caller's contract is the kernel's.
            Body::Constant(Rhs::Kernel(k)) => k.apply_chain_banded(bufs, sink),
            _ => false,
        }
    }
}


/// What the observables of one segment need, independent of the state.
pub(crate) struct Probe {
    dims: [usize; 3],
    d: usize,
    layout: Layout,
    ops: [Operator; 3],
    numbers: [Operator; 3],
}

impl Probe {
    /// The observables of `space` on states stored in `layout`.
    pub(crate) fn new(sp: crate::space::FockSpace, layout: Layout) -> Self {
        Probe {
            dims: sp.dims,
            d: sp.dim(),
            ops: [sp.lower(0), sp.lower(1), sp.lower(2)],
            numbers: [sp.number(0), sp.number(1), sp.number(2)],
            layout,
        }
    }

    /// One row of observables at `state` with power operator `power_op` and work `work`.
    pub(crate) fn push(&self, out: &mut Series, t: f64, state: &[C64], power_op: &Operator, work: f64, rho_b: &mut [C64]) {
        let at = |i: usize, k: usize| self.layout.get(state, i, k);
        observables::reduced_state_with(self.dims, 1, at, rho_b);
        out.push(
            t,
            [self.ops[0].expect_with(at), self.ops[1].expect_with(at), self.ops[2].expect_with(at)],
            [self.numbers[0].expect_with(at).re, self.numbers[1].expect_with(at).re, self.numbers[2].expect_with(at).re],
            power_op.expect_with(at).re,
            ModeMetrics::compute(rho_b, self.dims[1]),
            work,
        );
    }

    fn values(&self, t: f64, state: &[C64], power_op: &Operator, work: f64, names: &[String]) -> Vec<f64> {
        let mut one = Series::default();
        let mut rho_b = vec![C64::new(0.0, 0.0); self.dims[1] * self.dims[1]];
        self.push(&mut one, t, state, power_op, work, &mut rho_b);
        names.iter().map(|n| one.value(n, 0).unwrap_or(f64::NAN)).collect()
    }

    fn trace(&self, state: &[C64]) -> f64 {
        (0..self.d).map(|i| self.layout.get(state, i, i).re).sum()
    }

    /// Position in the layout of entry (i, k) (or of its mirror (k, i)).
    fn flat(&self, i: usize, k: usize) -> usize {
        let layout = &self.layout;
        let (i, k) = if k >= layout.col0(i) { (i, k) } else { (k, i) };
        layout.row(i).start + k - layout.col0(i)
    }

    /// Entries of the state the observables read (the dense output is then
    /// evaluated only there).
    fn subset(&self, extra: &[&Operator]) -> Vec<usize> {
        let flat = |i: usize, k: usize| self.flat(i, k);
        let mut idx: Vec<usize> = self
            .ops
            .iter()
            .chain(&self.numbers)
            .chain(extra.iter().copied())
            .flat_map(|o| o.entries().map(|(i, k, _)| flat(i, k)).collect::<Vec<_>>())
            .chain(observables::reduced_state_entries(self.dims, 1).map(|(i, k)| flat(i, k)))
            .chain((0..self.d).map(|i| flat(i, i)))
            .collect();
        idx.sort_unstable();
        idx.dedup();
        idx
    }
}

/// The master equation's state and results during a protocol run.
pub struct MasterEngine<'a, P: Terms> {
    opts: &'a MasterOptions,
    stop: Arc<AtomicBool>,
    progress: &'a mut dyn FnMut(f64),
    probe: Probe,
    /// The state in `probe.layout`.
    y: Vec<C64>,
    /// W at the state's time.
    work: f64,
    pub res: MasterResult,
    last_recorded: f64,
    full: Vec<C64>,
    _p: std::marker::PhantomData<P>,
}

impl<'a, P: Terms> MasterEngine<'a, P> {
    /// The engine at state `rho0` (full d×d) with work `work0` done so far.
    pub fn new(
        first: &P,
        rho0: &[C64],
        work0: f64,
        opts: &'a MasterOptions,
        stop: &Arc<AtomicBool>,
        progress: &'a mut dyn FnMut(f64),
    ) -> Result<Self, MasterError> {
        let terms = first.terms();
        let sp = terms.hamiltonian.space;
        let d = sp.dim();
        if rho0.len() != d * d {
            return Err(MasterError::Refused(format!(
                "the initial density matrix has {} entries, but cutoffs {:?} need {d}x{d}",
                rho0.len(),
                sp.dims
            )));
        }
        let layout = match opts.liouvillian {
            LiouvillianKind::Kernel => Layout::banded_for(&Generator::new(&terms)),
            LiouvillianKind::SuperOperator => Layout::full(d),
        };
        let probe = Probe::new(sp, layout);
        let y = probe.layout.from_full(rho0);
        let keep_all = opts.save_state == SaveState::All;
        Ok(MasterEngine {
            opts,
            stop: stop.clone(),
            progress,
            probe,
            y,
            work: work0,
            res: MasterResult { rho_all: keep_all.then(Vec::new), ..Default::default() },
            last_recorded: f64::NAN,
            full: if keep_all { vec![C64::new(0.0, 0.0); d * d] } else { Vec::new() },
            _p: std::marker::PhantomData,
        })
    }

    /// The final state (full d×d) and the work done at it.
    pub fn final_state(&self) -> (Vec<C64>, f64) {
        let d = self.probe.d;
        let mut last = vec![C64::new(0.0, 0.0); d * d];
        self.probe.layout.to_full(&self.y, &mut last);
        (last, self.work)
    }

    fn record_current(&mut self, t: f64, power_op: &Operator, at_event: bool) {
        let work = self.work;
        if at_event {
            let mut rho_b = vec![C64::new(0.0, 0.0); self.probe.dims[1] * self.probe.dims[1]];
            self.probe.push(&mut self.res.event_samples, t, &self.y, power_op, work, &mut rho_b);
            return;
        }
        if self.last_recorded == t {
            return;
        }
        let MasterEngine { probe, y, res, full, progress, .. } = self;
        record(probe, res, full, &mut **progress, t, y, power_op, work);
        self.last_recorded = t;
    }
}

/// Records one save: the observables, trace, top-level populations and (with
/// `save_state = "all"`) the state.
#[allow(clippy::too_many_arguments)]
fn record(
    probe: &Probe,
    res: &mut MasterResult,
    full: &mut [C64],
    progress: &mut dyn FnMut(f64),
    t: f64,
    state: &[C64],
    power_op: &Operator,
    work: f64,
) {
    let mut rho_b = vec![C64::new(0.0, 0.0); probe.dims[1] * probe.dims[1]];
    probe.push(&mut res.series, t, state, power_op, work, &mut rho_b);
    res.trace.push(probe.trace(state));
    res.top_level.push(observables::top_level_population_with(probe.dims, |i| probe.layout.get(state, i, i).re));
    if let Some(all) = res.rho_all.as_mut() {
        probe.layout.to_full(state, full);
        all.extend_from_slice(full);
    }
    progress(t);
}

/// The operators of one time on a segment: the power operator 𝓛†(b†b) and
/// the drive's power operator.
struct TimeOps {
    power_b: Operator,
    drive: Operator,
}

impl TimeOps {
    fn of<P: Terms>(p: &P) -> Self {
        let terms = p.terms();
        let nb = terms.hamiltonian.space.number(1);
        TimeOps { power_b: heisenberg(&terms, &nb), drive: terms.drive_power }
    }
}

/// The per-step hook: events, and the work integral up to every save.
struct Hook<'a, P: Terms> {
    watch: &'a mut Watch,
    names: Vec<String>,
    probe: &'a Probe,
    seg: &'a Segment<P>,
    fixed: Option<&'a TimeOps>,
    /// The drive's power as a functional, on a constant segment.
    drive: Option<Mean>,
    /// Some event watches the work or an efficiency (so W is needed inside a step).
    watches_work: bool,
    /// Integrator save times (the segment's saves and its end).
    times: &'a [f64],
    next: usize,
    /// W at the start of the current step, then at its end.
    work: f64,
    /// W at each save time reached, for the observer.
    pending: &'a RefCell<VecDeque<f64>>,
    found: Option<(usize, f64)>,
}

impl<P: Terms> StepWatch for Hook<'_, P> {
    fn step(&mut self, t: f64, t_new: f64, dense: &mut dyn DenseOutput) -> Option<f64> {
        let found = if self.watch.is_empty() {
            None
        } else {
            let (probe, seg, fixed, names, drive) = (self.probe, self.seg, self.fixed, &self.names, self.drive.as_ref());
            let (w0, watches_work) = (self.work, self.watches_work);
            self.watch.scan(t, t_new, &mut |tt| {
                let owned;
                let ops = match fixed {
                    Some(o) => o,
                    None => {
                        owned = TimeOps::of(&seg.at(tt));
                        &owned
                    }
                };
                let w = if watches_work { w0 + self_work(probe, seg, drive, t, tt, dense) } else { w0 };
                probe.values(tt, dense.at(tt), &ops.power_b, w, names)
            })
        };
        let t_stop = found.map_or(t_new, |(_, te)| te);
        let mut a = t;
        while self.next < self.times.len() && self.times[self.next] <= t_stop {
            let s = self.times[self.next];
            self.work += self_work(self.probe, self.seg, self.drive.as_ref(), a, s, dense);
            self.pending.borrow_mut().push_back(self.work);
            a = s;
            self.next += 1;
        }
        self.work += self_work(self.probe, self.seg, self.drive.as_ref(), a, t_stop, dense);
        self.found = found;
        found.map(|(_, te)| te)
    }
}

/// The mean Re Tr(O ρ) of an operator as a real linear functional of the
/// state in the probe's layout (the entries it reads, their weights, and
/// whether each is stored as its mirror).
struct Mean(Vec<(usize, C64, bool)>);

impl Mean {
    fn of(probe: &Probe, op: &Operator) -> Self {
        Mean(op.entries().map(|(i, k, w)| (probe.flat(i, k), w, k < probe.layout.col0(i))).collect())
    }

    fn eval(&self, state: &[C64]) -> f64 {
        self.0.iter().map(|&(ix, w, mirrored)| (w * if mirrored { state[ix].conj() } else { state[ix] }).re).sum()
    }
}

/// ∫ P_in over [a, b] inside the current step: 5-point Gauss–Legendre on the
/// dense output, evaluated as a linear functional of the step's vectors (on
/// the drive operator's entries only), never forming the state. `drive` is
/// the power's functional on a constant segment; on a ramp it is built per node.
fn self_work<P: Terms>(probe: &Probe, seg: &Segment<P>, drive: Option<&Mean>, a: f64, b: f64, dense: &mut dyn DenseOutput) -> f64 {
    if b <= a {
        return 0.0;
    }
    let (mid, half) = (0.5 * (a + b), 0.5 * (b - a));
    let nodes: Vec<f64> = GL5.iter().map(|&(x, _)| mid + half * x).collect();
    let values = match drive {
        Some(m) => dense.functional(&nodes, &|state| m.eval(state)),
        None => nodes
            .iter()
            .map(|&t| {
                let m = Mean::of(probe, &seg.at(t).drive_power());
                dense.functional(&[t], &|state| m.eval(state))[0]
            })
            .collect(),
    };
    GL5.iter().zip(values).map(|(&(_, w), v)| w * half * v).sum()
}

impl<P: Terms> Propagator for MasterEngine<'_, P> {
    type P = P;

    fn advance(&mut self, seg: &Segment<P>, t0: f64, t1: f64, saves: &[f64], watch: &mut Watch) -> Result<Reached, String> {
        let (rhs, backend) = SegmentRhs::build(seg, self.opts.liouvillian).map_err(|e| e.to_string())?;
        self.res.backend = backend;
        let layout = rhs.layout.clone();
        if layout != self.probe.layout {
            let d = self.probe.d;
            let mut full = vec![C64::new(0.0, 0.0); d * d];
            self.probe.layout.to_full(&self.y, &mut full);
            self.y = layout.from_full(&full);
            self.probe.layout = layout;
        }
        let fixed = match seg {
            Segment::Constant(p) => Some(TimeOps::of(p)),
            Segment::Ramp { .. } => None,
        };
        // Krylov on constant segments only; a ramp's L depends on t.
        let krylov = self.opts.method == Method::Krylov && fixed.is_some();
        let mut integrator = Integrator::new(self.opts.method.runge_kutta(), self.opts.rtol, self.opts.atol);
        integrator.stop = Some(self.stop.clone());
        let keep_all = self.opts.save_state == SaveState::All;
        if !keep_all {
            let sample = match &fixed {
                Some(o) => TimeOps { power_b: o.power_b.clone(), drive: o.drive.clone() },
                None => TimeOps::of(&seg.at(0.5 * (t0 + t1))),
            };
            integrator.dense_subset = Some(self.probe.subset(&[&sample.power_b, &sample.drive]));
        }
        let mut kry = Krylov::new(self.opts.rtol, self.opts.atol);
        kry.stop = integrator.stop.clone();
        kry.dense_subset = integrator.dense_subset.clone();
        let mut times = saves.to_vec();
        if times.last() != Some(&t1) {
            times.push(t1);
        }
        let pending = RefCell::new(VecDeque::new());
        let MasterEngine { probe, y, res, full, progress, last_recorded, stop, .. } = self;
        let mut hook = Hook {
            watch,
            names: Vec::new(),
            probe,
            seg,
            fixed: fixed.as_ref(),
            drive: fixed.as_ref().map(|o| Mean::of(probe, &o.drive)),
            watches_work: false,
            times: &times,
            next: 0,
            work: self.work,
            pending: &pending,
            found: None,
        };
        hook.names = hook.watch.names().to_vec();
        hook.watches_work = hook.names.iter().any(|n| Series::depends_on_work(n));
        let mut last_work = f64::NAN;
        let observer = |k: usize, t: f64, state: &[C64]| {
                    let w = pending.borrow_mut().pop_front().unwrap_or(f64::NAN);
                    last_work = w;
                    // Index k < saves.len(): a save (else the segment's end).
                    if k < saves.len() && *last_recorded != t {
                        let owned;
                        let ops = match &fixed {
                            Some(o) => o,
                            None => {
                                owned = TimeOps::of(&seg.at(t));
                                &owned
                            }
                        };
                        record(probe, res, full, &mut **progress, t, state, &ops.power_b, w);
                        *last_recorded = t;
                    }
                    if stop.load(Ordering::Relaxed) {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                };
        let stats = if krylov {
            kry.integrate_watched(&rhs, t0, y, &times, observer, Some(&mut hook))
        } else {
            integrator.integrate_watched(&rhs, t0, y, &times, observer, Some(&mut hook))
        }
        .map_err(|e| MasterError::from(e).to_string())?;
        let (found, hook_work) = (hook.found, hook.work);
        let acc = &mut self.res.stats;
        acc.steps += stats.steps;
        acc.rejected += stats.rejected;
        acc.rhs_evals += stats.rhs_evals;
        acc.wall_time_s += stats.wall_time_s;
        acc.stopped_early = stats.stopped_early;
        acc.t_final = stats.t_final;
        acc.krylov_dim = acc.krylov_dim.max(stats.krylov_dim);
        let ended_at_hook = !stats.stopped_early || found.is_some_and(|(_, te)| te == stats.t_final);
        self.work = if ended_at_hook || stats.t_final == t1 { hook_work } else { last_work };
        Ok(match found {
            Some((k, te)) if stats.stopped_early && stats.t_final == te => Reached::Event(k, te),
            _ if stats.stopped_early && stats.t_final < t1 => Reached::Interrupted(stats.t_final),
            _ => Reached::End,
        })
    }

    fn observe(&mut self, p: &P, t: f64, names: &[String]) -> Vec<f64> {
        let ops = TimeOps::of(p);
        self.probe.values(t, &self.y, &ops.power_b, self.work, names)
    }

    fn record(&mut self, p: &P, t: f64, at_event: bool) {
        let ops = TimeOps::of(p);
        self.record_current(t, &ops.power_b, at_event);
    }
}

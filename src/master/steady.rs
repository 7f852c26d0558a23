//! The steady state of the master equation: 𝓛ρ = 0 with Tr ρ = 1, by
//! restarted GMRES ([`crate::gmres`]) on the matrix-free kernel, with a
//! block-Jacobi preconditioner that inverts 𝓛 exactly on the ladders of the
//! stiffest mode (docs/physics.md §13).
//!
//! **The system.** 𝓛 is singular (its kernel is the steady state) and
//! trace-preserving, so its range is the traceless matrices. With the trace
//! functional w(X) = Tr X and v = σ|0⟩⟨0| (Tr v ≠ 0, so v ∉ range 𝓛), the
//! bordered operator A = 𝓛 + v wᵀ is invertible when the steady state is
//! unique, and Aρ = v holds exactly for the steady state (𝓛ρ = 0, Tr ρ = 1).
//!
//! **The preconditioner.** Entries ρ[(n, m)] whose row and column Fock
//! labels differ from a base pair only by the same shift t of mode j,
//! (n + t e_j, m + t e_j), form a "ladder" (a sector of fixed n_j − m_j at
//! fixed other labels). Every term local to mode j — its damping and
//! thermal gain (the ladder's off-diagonal), detuning, Kerr, dephasing and
//! every diagonal part of 𝓛 — maps a ladder into itself. The preconditioner
//! M is 𝓛 (plus the bordering in the vacuum ladder) restricted to the ladders
//! of the mode with the largest local jump rate, inverted exactly by one LU
//! factorization per ladder (size ≤ cutoff of j). The fast decay of the
//! mediator, which grows with the elimination ratio, is thus inverted
//! exactly and the GMRES iteration count does not grow with κ_c.

use super::engine::{Probe, Rhs};
use super::{LiouvillianKind, MasterError};
use crate::gmres::{self, GmresOptions, GmresReport, LinearProblem};
use crate::liouvillian::kernel::Layout;
use crate::liouvillian::{heisenberg, Coef, Generator};
use crate::model::LindbladTerms;
use crate::observables::series::Series;
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::sync::atomic::AtomicBool;

const ZERO: C64 = C64 { re: 0.0, im: 0.0 };

/// Settings of a steady-state solve (`[steady]` in a config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SteadyOptions {
    pub gmres: GmresOptions,
}

impl Default for SteadyOptions {
    fn default() -> Self {
        Self { gmres: GmresOptions { restart: 40, tol: 1e-12, max_iterations: 5000 } }
    }
}

/// A steady state of the master equation.
#[derive(Debug, Clone)]
pub struct MasterSteady {
    /// The observables of ρ as one row (t = NaN, work 0).
    pub row: Series,
    /// ρ, full d×d row-major.
    pub rho: Vec<C64>,
    /// ‖𝓛ρ‖_F / (‖𝓛‖ ‖ρ‖_F), ‖𝓛‖ the bound Σ_pieces max|coefficient| of
    /// the superoperator's ∞-norm.
    pub residual: f64,
    pub report: GmresReport,
    /// The mode whose ladders the preconditioner inverts.
    pub ladder_mode: usize,
    pub wall_time_s: f64,
}

/// One ladder: its base entry (row, column of the full matrix), its length.
#[derive(Debug, Clone, Copy)]
struct Ladder {
    r0: usize,
    c0: usize,
    len: usize,
    /// Start of this ladder in the ladder-ordered buffer (and of its LU in `lu`
    /// at `lu_start`).
    start: usize,
    lu_start: usize,
}

/// The block-Jacobi preconditioner on the ladders of one mode.
struct LadderJacobi {
    ladders: Vec<Ladder>,
    /// Layout position of each entry, in ladder order (upper triangle only).
    pos: Vec<usize>,
    lu: Vec<C64>,
    piv: Vec<u32>,
    /// Band entries below the diagonal: (position, position of its mirror).
    mirrors: Vec<(usize, usize)>,
    layout: Layout,
}

/// Coefficient of a piece reading source entry (i, k) (its output is (i, k) + Δ).
fn coef_at(coef: &Coef, i: usize, k: usize) -> C64 {
    let get = |v: &Vec<C64>, j: usize| v.get(j).copied().unwrap_or(ZERO);
    match coef {
        Coef::Row(row) => get(row, i),
        Coef::Col(col) => get(col, k),
        Coef::Product(row, col) => get(row, i) * get(col, k),
        Coef::Sum(row, col) => get(row, i) + get(col, k),
    }
}

/// The mode with the largest coefficient on its ladders' off-diagonal (its
/// local jump rate times the level): the stiffest mode to invert exactly.
fn stiffest_mode(gen: &Generator) -> usize {
    let sp = &gen.space;
    let strides = sp.strides();
    let mut best = (0.0f64, sp.dims.len() - 1);
    for (j, (&s, &dj)) in strides.iter().zip(&sp.dims).enumerate() {
        let mut scale = 0.0f64;
        for p in &gen.pieces {
            if p.d_row != p.d_col || p.d_row == 0 || p.d_row % s as isize != 0 || (p.d_row / s as isize).unsigned_abs() >= dj {
                continue;
            }
            if let Coef::Product(row, col) = &p.coef {
                let m = |v: &Vec<C64>| v.iter().map(|z| z.norm()).fold(0.0, f64::max);
                scale = scale.max(m(row) * m(col));
            }
        }
        if scale > best.0 || (scale == best.0 && j > best.1) {
            best = (scale, j);
        }
    }
    best.1
}

/// Dense LU with partial pivoting of the n×n row-major `a`, in place.
/// Near-zero pivots are lifted to `floor` (this is a preconditioner: a
/// singular ladder only makes it less exact, never the answer wrong).
fn lu_factor(a: &mut [C64], piv: &mut [u32], n: usize, floor: f64) {
    for k in 0..n {
        let p = (k..n).max_by(|&x, &y| a[x * n + k].norm().total_cmp(&a[y * n + k].norm())).unwrap_or(k);
        piv[k] = p as u32;
        if p != k {
            for c in 0..n {
                a.swap(k * n + c, p * n + c);
            }
        }
        if a[k * n + k].norm() < floor {
            a[k * n + k] = C64::new(floor, 0.0);
        }
        let d = a[k * n + k];
        for r in k + 1..n {
            let f = a[r * n + k] / d;
            a[r * n + k] = f;
            for c in k + 1..n {
                let v = a[k * n + c];
                a[r * n + c] -= f * v;
            }
        }
    }
}

fn lu_solve(a: &[C64], piv: &[u32], n: usize, x: &mut [C64]) {
    for k in 0..n {
        x.swap(k, piv[k] as usize);
    }
    for r in 1..n {
        let s: C64 = (0..r).map(|c| a[r * n + c] * x[c]).sum();
        x[r] -= s;
    }
    for r in (0..n).rev() {
        let s: C64 = (r + 1..n).map(|c| a[r * n + c] * x[c]).sum();
        x[r] = (x[r] - s) / a[r * n + r];
    }
}

impl LadderJacobi {
    fn new(gen: &Generator, layout: &Layout, mode: usize, sigma: f64) -> Self {
        let sp = &gen.space;
        let d = sp.dim();
        let s = sp.strides()[mode];
        let dj = sp.dims[mode];
        let digit = |i: usize| (i / s) % dj;
        let flat = |i: usize, k: usize| layout.row(i).start + k - layout.col0(i);
        // Ladder bases: entries (r0, c0), r0 ≤ c0, with min(digit) = 0.
        let mut ladders = Vec::new();
        let (mut start, mut lu_start) = (0, 0);
        for r0 in 0..d {
            for c0 in r0..d {
                let (a, b) = (digit(r0), digit(c0));
                if a.min(b) == 0 {
                    let len = dj - a.max(b);
                    ladders.push(Ladder { r0, c0, len, start, lu_start });
                    start += len;
                    lu_start += len * len;
                }
            }
        }
        let pos: Vec<usize> = ladders.iter().flat_map(|l| (0..l.len).map(move |t| flat(l.r0 + t * s, l.c0 + t * s))).collect();
        // Pieces that stay on a ladder, by their shift t = Δ/s.
        let on_ladder: Vec<(isize, &Coef)> = gen
            .pieces
            .iter()
            .filter(|p| p.d_row == p.d_col && p.d_row % s as isize == 0 && (p.d_row / s as isize).unsigned_abs() < dj)
            .map(|p| (p.d_row / s as isize, &p.coef))
            .collect();
        let mut lu = vec![ZERO; lu_start];
        let mut piv = vec![0u32; start];
        // Split the factor storage per ladder and factor them in parallel.
        let mut lu_parts: Vec<(&Ladder, &mut [C64], &mut [u32])> = Vec::with_capacity(ladders.len());
        {
            let (mut lu_rest, mut piv_rest) = (&mut lu[..], &mut piv[..]);
            for l in &ladders {
                let (a, b) = lu_rest.split_at_mut(l.len * l.len);
                let (p, q) = piv_rest.split_at_mut(l.len);
                lu_parts.push((l, a, p));
                lu_rest = b;
                piv_rest = q;
            }
        }
        lu_parts.par_iter_mut().for_each(|(l, a, p)| {
            let n = l.len;
            for t in 0..n {
                for &(sh, coef) in &on_ladder {
                    let tp = t as isize - sh;
                    if tp < 0 || tp >= n as isize {
                        continue;
                    }
                    let tp = tp as usize;
                    a[t * n + tp] += coef_at(coef, l.r0 + tp * s, l.c0 + tp * s);
                }
            }
            // The bordering v wᵀ on the vacuum ladder (its entries are the
            // diagonal entries (t e_j, t e_j), all counted by the trace).
            if l.r0 == 0 && l.c0 == 0 {
                for tp in 0..n {
                    a[tp] += sigma;
                }
            }
            let scale = a.iter().map(|z| z.norm()).fold(0.0, f64::max).max(sigma);
            lu_factor(a, p, n, 1e-12 * scale);
        });
        let mut mirrors = Vec::new();
        for r in 0..d {
            for c in layout.col0(r)..r {
                mirrors.push((flat(r, c), flat(c, r)));
            }
        }
        Self { ladders, pos, lu, piv, mirrors, layout: layout.clone() }
    }

    fn apply(&self, x: &[C64], out: &mut [C64]) {
        let mut buf: Vec<C64> = self.pos.par_iter().with_min_len(4096).map(|&q| x[q]).collect();
        let mut parts: Vec<(&Ladder, &mut [C64])> = Vec::with_capacity(self.ladders.len());
        let mut rest = &mut buf[..];
        for l in &self.ladders {
            let (a, b) = rest.split_at_mut(l.len);
            parts.push((l, a));
            rest = b;
        }
        parts.par_iter_mut().with_min_len(256).for_each(|(l, v)| {
            let n = l.len;
            lu_solve(&self.lu[l.lu_start..l.lu_start + n * n], &self.piv[l.start..l.start + n], n, v);
        });
        for (&q, v) in self.pos.iter().zip(&buf) {
            out[q] = *v;
        }
        for &(q, m) in &self.mirrors {
            out[q] = out[m].conj();
        }
        debug_assert_eq!(out.len(), self.layout.len());
    }
}

/// A = 𝓛 + v wᵀ with its preconditioner, on the kernel's banded layout.
struct Bordered {
    rhs: Rhs,
    layout: Layout,
    sigma: f64,
    /// Layout positions of the diagonal (the trace) and of |0⟩⟨0|.
    diag: Vec<usize>,
    prec: LadderJacobi,
}

impl Bordered {
    fn trace(&self, x: &[C64]) -> f64 {
        self.diag.iter().map(|&q| x[q].re).sum()
    }
}

impl LinearProblem for Bordered {
    fn dim(&self) -> usize {
        self.layout.len()
    }
    fn apply(&self, x: &[C64], out: &mut [C64]) {
        self.rhs.apply(x, out);
        out[self.diag[0]] += self.sigma * self.trace(x);
    }
    fn precondition(&self, x: &[C64], out: &mut [C64]) {
        self.prec.apply(x, out)
    }
    fn inner(&self, x: &[C64], y: &[C64]) -> f64 {
        self.layout.inner(x, y)
    }
}

/// The bound Σ_pieces max|coefficient| of the ∞-norm of 𝓛's matrix.
fn norm_bound(gen: &Generator) -> f64 {
    let m = |v: &Vec<C64>| v.iter().map(|z| z.norm()).fold(0.0, f64::max);
    gen.pieces
        .iter()
        .map(|p| match &p.coef {
            Coef::Row(r) => m(r),
            Coef::Col(c) => m(c),
            Coef::Product(r, c) => m(r) * m(c),
            Coef::Sum(r, c) => m(r) + m(c),
        })
        .sum()
}

/// Bytes the solve holds: the restart basis and work vectors of GMRES plus
/// the preconditioner's factors (about one ladder length per entry), at the
/// full d² (an upper bound for the banded layout).
pub fn memory_estimate(terms: &LindbladTerms, opts: &SteadyOptions) -> usize {
    let sp = terms.hamiltonian.space;
    let d2 = sp.dim().pow(2);
    let dj = sp.dims.iter().copied().max().unwrap_or(1);
    let vectors = opts.gmres.restart + 6;
    vectors.saturating_mul(d2).saturating_mul(16).saturating_add(d2.saturating_mul(16 * dj / 2 + 16))
}

/// The steady state of `terms`. A solve that does not reach the tolerance
/// (iteration limit, stagnation, breakdown) is an error carrying its residual.
pub fn solve(terms: &LindbladTerms, opts: &SteadyOptions, stop: &AtomicBool) -> Result<MasterSteady, MasterError> {
    let start = std::time::Instant::now();
    let gen = Generator::new(terms);
    let sp = gen.space;
    let d = sp.dim();
    let (rhs, _) = Rhs::new(terms, LiouvillianKind::Kernel)?;
    let layout = Layout::banded_for(&gen);
    let mode = stiffest_mode(&gen);
    let l_norm = norm_bound(&gen);
    // σ sets the scale of the bordering row: that of 𝓛's diagonal.
    let sigma = gen
        .pieces
        .iter()
        .filter_map(|p| match &p.coef {
            Coef::Sum(r, c) => Some(r.iter().zip(c).map(|(a, b)| (a + b).re.abs()).fold(0.0, f64::max)),
            _ => None,
        })
        .fold(0.0, f64::max)
        .max(1e-300)
        .min(l_norm.max(1.0));
    let prec = LadderJacobi::new(&gen, &layout, mode, sigma);
    let flat = |i: usize| layout.row(i).start + i - layout.col0(i);
    let diag: Vec<usize> = (0..d).map(flat).collect();
    let a = Bordered { rhs, layout: layout.clone(), sigma, diag, prec };
    let mut b = vec![ZERO; layout.len()];
    b[a.diag[0]] = C64::new(sigma, 0.0);
    let mut x = vec![ZERO; layout.len()];
    let report = gmres::solve(&a, &b, &mut x, &opts.gmres, stop);
    if !report.converged {
        return Err(MasterError::NotConverged(format!(
            "the steady-state solve did not converge: {} after {} iterations ({} restarts of GMRES({})), residual \
             ‖b − Aρ‖/‖b‖ = {:.2e} > steady.tol = {:.1e}; nothing was written",
            report.reason, report.iterations, report.restarts, opts.gmres.restart, report.residual, opts.gmres.tol
        )));
    }
    // Normalise (Tr ρ = 1 to the solver's tolerance already) and measure 𝓛ρ.
    let tr = a.trace(&x);
    x.iter_mut().for_each(|z| *z /= tr);
    let mut lx = vec![ZERO; layout.len()];
    a.rhs.apply(&x, &mut lx);
    let residual = (layout.inner(&lx, &lx).sqrt()) / (l_norm * layout.inner(&x, &x).sqrt());
    let probe = Probe::new(sp, layout.clone());
    let mut row = Series::default();
    let mut rho_b = vec![ZERO; sp.dims[1] * sp.dims[1]];
    let power = heisenberg(terms, &sp.number(1));
    probe.push(&mut row, f64::NAN, &x, &power, 0.0, &mut rho_b);
    let mut rho = vec![ZERO; d * d];
    layout.to_full(&x, &mut rho);
    Ok(MasterSteady { row, rho, residual, report, ladder_mode: mode, wall_time_s: start.elapsed().as_secs_f64() })
}

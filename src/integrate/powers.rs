//! The Runge–Kutta step of a linear problem `y' = L y` (L constant), taken in
//! the basis of the powers `w_q = L^q y`.
//!
//! For `f(y) = L y` every stage argument of an explicit method is a
//! polynomial in `z = hL` applied to y: with `A` strictly lower triangular,
//! `Y_j = Σ_q α_{j,q} z^q y`, `α_{j,0} = 1`, `α_{j,q} = Σ_l a_{jl} α_{l,q-1}`,
//! and `h k_j = z Y_j = Σ_q α_{j,q} h^{q+1} w_{q+1}`. So the solution `y_new`
//! (the FSAL stage argument), its derivative `L y_new` (the next step's first
//! stage), the error estimate and the dense output are fixed combinations
//! of `w_0 … w_K` whose coefficients come from the tableau and powers of h.
//! In exact arithmetic this is the same method, step for step, as the
//! stage-by-stage evaluation (`stages.rs`), with the same number of
//! applications of L per step; what changes is the cost around them:
//!
//! * **memory traffic**: each stage argument of the stage-by-stage form reads
//!   all earlier stages; here the powers are built by one application of L
//!   each, and a single pass over `w_0 … w_K` forms `y_new`, `L y_new` and
//!   the error norm (DOPRI5: ~10 vector passes per step besides L, instead
//!   of ~40) — the dominant cost beside L for large density matrices;
//! * **rejected steps are free**: the powers do not depend on h, so retrying
//!   with a smaller step only repeats the combination pass;
//! * **no cancellation in the error estimate**: its coefficients of the low
//!   powers vanish by the order conditions; those that come out at round-off
//!   level from the decimal tableau are set to exactly zero.
//!
//! The powers are kept unscaled (`L^q y`, not `(hL)^q y`) so that they stay
//! valid when h changes; their growth, `‖L‖^q` with q ≤ 16, is harmless in
//! double precision for any Liouvillian that fits in memory.

use super::tableau::{ErrorEstimate, Tableau, MAX_STAGES};
use super::vecops::{self, Term};
use super::{OdeRhs, Stepper, Tol};
use num_complex::Complex64 as C64;

/// Largest power of L any table needs, plus one.
const MAX_POW: usize = MAX_STAGES + 2;

/// Coefficients of one polynomial in z = hL: `Σ_q c[q] z^q y`.
type Poly = [f64; MAX_POW];

pub(super) struct Powers {
    tab: &'static Tableau,
    /// `α_{j,q}` of every stage (FSAL and extra dense stages included).
    pub(super) alpha: Vec<Poly>,
    /// Error estimates `E = Σ_q err[e][q] z^q y` (DOPRI5: one, DOP853: two).
    pub(super) err: [Poly; 2],
    /// Highest power a step needs (y_new, L y_new, error), and the dense output.
    pub(super) k_step: usize,
    pub(super) k_dense: usize,
    /// `w[q - 1] = L^q y` for q = 1..=k_dense.
    w: Vec<Vec<C64>>,
    /// Powers valid for the current y: `w[0..have]`.
    have: usize,
    y_new: Vec<C64>,
    /// `L y_new` (becomes `w_1` when the step is accepted).
    f_new: Vec<C64>,
    /// Dense-output result.
    y_dense: Vec<C64>,
    partials: Vec<[f64; 2]>,
    /// Per-range error sums of the wavefront path (see `chain_with_pass`).
    chain_parts: Vec<(usize, [f64; 2])>,
    rhs_evals: usize,
}

impl Powers {
    /// Vectors of the problem's length allocated by [`Powers::new`].
    pub(super) fn vectors(tab: &Tableau) -> usize {
        Self::degrees(tab).1 + 3
    }

    /// Degree of each stage argument's polynomial, from the nonzero pattern of
    /// A; returns them with the highest power the dense output needs.
    fn degrees(tab: &Tableau) -> (Vec<usize>, usize) {
        let total = tab.total_stages();
        let mut deg = vec![0usize; total];
        for j in 1..total {
            deg[j] = 1 + tab.row(j).iter().enumerate().filter(|(_, &a)| a != 0.0).map(|(l, _)| deg[l]).max().unwrap_or(0);
        }
        let k_dense = 1 + deg.iter().copied().max().unwrap_or(0);
        (deg, k_dense)
    }

    pub(super) fn new(tab: &'static Tableau, n: usize) -> Self {
        let total = tab.total_stages();
        // α and a bound on its round-off scale, |a|·|α| accumulated alike.
        let mut alpha = vec![[0.0; MAX_POW]; total];
        let mut scale = vec![[0.0; MAX_POW]; total];
        for j in 0..total {
            alpha[j][0] = 1.0;
            scale[j][0] = 1.0;
            if j == 0 {
                continue;
            }
            for q in 1..MAX_POW {
                let (mut s, mut b) = (0.0, 0.0);
                for (l, &a) in tab.row(j).iter().enumerate() {
                    s += a * alpha[l][q - 1];
                    b += a.abs() * scale[l][q - 1];
                }
                alpha[j][q] = s;
                scale[j][q] = b;
            }
        }
        let (e0, e1): (&[f64], &[f64]) = match &tab.err {
            ErrorEstimate::Rms(e) => (e, &[]),
            ErrorEstimate::Dop853 { e5, e3 } => (e5, e3),
        };
        let mut err = [[0.0; MAX_POW]; 2];
        for (out, e) in err.iter_mut().zip([e0, e1]) {
            for q in 0..MAX_POW - 1 {
                let (mut s, mut b) = (0.0, 0.0);
                for (j, &ej) in e.iter().enumerate() {
                    s += ej * alpha[j][q];
                    b += ej.abs() * scale[j][q];
                }
                // Zero by the order conditions, nonzero only by round-off.
                out[q + 1] = if s.abs() <= 64.0 * f64::EPSILON * b { 0.0 } else { s };
            }
        }
        let (_, k_dense) = Self::degrees(tab);
        let k_step = tab.m + 1;
        let zero = C64::new(0.0, 0.0);
        Powers {
            tab,
            alpha,
            err,
            k_step,
            k_dense,
            w: (0..k_dense.max(k_step)).map(|_| vec![zero; n]).collect(),
            have: 0,
            y_new: vec![zero; n],
            f_new: vec![zero; n],
            y_dense: vec![zero; n],
            partials: vec![[0.0; 2]; vecops::n_chunks(n)],
            chain_parts: Vec::with_capacity(256),
            rhs_evals: 0,
        }
    }

    /// Makes `w_1 … w_k` valid (w_1 must be).
    fn ensure<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t: f64, k: usize) {
        while self.have < k {
            let (done, rest) = self.w.split_at_mut(self.have);
            rhs.eval(t, &done[self.have - 1], &mut rest[0]);
            self.rhs_evals += 1;
            self.have += 1;
        }
    }

}

impl Powers {
    /// The continuous extension at `t + θh` in the basis of the powers:
    /// y(t + θh) = y + Σ_j wt_j(θ) h k_j = Σ_q c_q (L^q y), c_q = δ_q h^q.
    fn dense_coefficients(&self, theta: f64, h: f64) -> Poly {
        let k = self.k_dense;
        let mut wt = [0.0; MAX_STAGES];
        self.tab.dense_weights(theta, &mut wt);
        let mut delta = [0.0; MAX_POW];
        delta[0] = 1.0;
        for (j, &c) in wt[..self.tab.total_stages()].iter().enumerate() {
            if c != 0.0 {
                for q in 0..k {
                    delta[q + 1] += c * self.alpha[j][q];
                }
            }
        }
        scaled(&delta, h, k)
    }

    /// A fresh step (only `w_1` there): all powers in one call of
    /// [`OdeRhs::eval_chain`], with the combination pass run on each part of
    /// the vectors as soon as it is final (while in cache). `None` if the
    /// right-hand side does not support it (then nothing was done); else the
    /// error sums (`Some(None)` if not finite).
    #[allow(clippy::too_many_arguments)]
    fn chain_with_pass<R: OdeRhs + ?Sized>(
        &mut self,
        rhs: &R,
        t: f64,
        y: &[C64],
        c_y: &[f64],
        c_f: &[f64],
        c_e: [&[f64]; 2],
        tol: Tol,
    ) -> Option<Option<[f64; 2]>> {
        let k = self.k_step;
        if self.have != 1 {
            return None;
        }
        let len = y.len();
        let mut bufs = [std::ptr::null_mut(); MAX_POW];
        let mut basis = [y.as_ptr(); MAX_POW + 1];
        for (q, v) in self.w[..k].iter_mut().enumerate() {
            bufs[q] = v.as_mut_ptr();
            basis[q + 1] = bufs[q];
        }
        let pass = vecops::RangePass::new(
            &basis[..=k],
            len,
            c_y,
            c_f,
            c_e,
            self.y_new.as_mut_ptr(),
            self.f_new.as_mut_ptr(),
            tol.atol,
            tol.rtol,
        );
        // Per-range sums, in a vector kept between steps (no allocation once warm).
        let parts = std::sync::Mutex::new(std::mem::take(&mut self.chain_parts));
        parts.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let sink = |range: std::ops::Range<usize>| {
            // SAFETY: the rhs hands out disjoint ranges on which every power is final.
            let s = unsafe { pass.run(range.clone()) };
            parts.lock().unwrap_or_else(|e| e.into_inner()).push((range.start, s));
        };
        // SAFETY: the buffers are this workspace's, distinct, of the problem's
        // length, w_1 is complete, and nothing else touches them meanwhile.
        let done = unsafe { rhs.eval_chain(t, &bufs[..k], &sink) };
        self.chain_parts = parts.into_inner().unwrap_or_else(|e| e.into_inner());
        if !done {
            return None;
        }
        self.rhs_evals += k - 1;
        self.have = k;
        Some(vecops::ordered_sum(&mut self.chain_parts))
    }
}

/// `[y, w_1, …, w_k]` from `w[q - 1] = L^q y`.
fn basis<'a>(y: &'a [C64], w: &'a [Vec<C64>], k: usize) -> [&'a [C64]; MAX_POW] {
    let mut v: [&[C64]; MAX_POW] = [&[]; MAX_POW];
    v[0] = y;
    for q in 1..=k {
        v[q] = &w[q - 1];
    }
    v
}

/// `c[q] h^q` for q ≤ k.
fn scaled(c: &Poly, h: f64, k: usize) -> Poly {
    let mut out = [0.0; MAX_POW];
    let mut hq = 1.0;
    for q in 0..=k {
        out[q] = c[q] * hq;
        hq *= h;
    }
    out
}

impl Stepper for Powers {
    fn start<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t0: f64, y: &[C64]) {
        rhs.eval(t0, y, &mut self.w[0]);
        self.rhs_evals += 1;
        self.have = 1;
    }

    /// HNW's starting step: `f(t0 + h0, y0 + h0 f0) − f0 = h0 L² y0`, so the
    /// difference quotient is ‖w_2‖ — and w_2 is needed by the first step anyway.
    fn initial_step<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t0: f64, y: &[C64], tol: Tol, h_max: f64) -> f64 {
        self.ensure(rhs, t0, 2);
        let n = y.len().max(1) as f64;
        let (w1, w2): (&[C64], &[C64]) = (&self.w[0], &self.w[1]);
        let [d0, d1] = vecops::weighted_sq_sums(&mut self.partials, y, y, tol.atol, tol.rtol, &[(1.0, y)], &[(1.0, w1)])
            .map_or([f64::NAN; 2], |s| s.map(|x| (x / n).sqrt()));
        let h0 = super::first_trial_step(d0, d1, h_max);
        let d2 = vecops::weighted_sq_sums(&mut self.partials, y, y, tol.atol, tol.rtol, &[(1.0, w2)], &[])
            .map_or(f64::NAN, |s| (s[0] / n).sqrt());
        super::starting_step(self.tab, h0, d1, d2, h_max)
    }

    fn attempt<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t: f64, h: f64, y: &[C64], tol: Tol) -> f64 {
        let k = self.k_step;
        let m = self.tab.m;
        let c_y = scaled(&self.alpha[m], h, k);
        // L y_new = Σ_q α_{m,q} h^q w_{q+1}.
        let mut c_f = [0.0; MAX_POW];
        c_f[1..=k].copy_from_slice(&scaled(&self.alpha[m], h, k - 1)[..k]);
        let c_e = [scaled(&self.err[0], h, k), scaled(&self.err[1], h, k)];
        let n_err = match self.tab.err {
            ErrorEstimate::Rms(_) => 1,
            ErrorEstimate::Dop853 { .. } => 2,
        };
        let c_e = [&c_e[0][..=k], if n_err == 2 { &c_e[1][..=k] } else { &[][..] }];
        let sums = match self.chain_with_pass(rhs, t, y, &c_y[..=k], &c_f[..=k], c_e, tol) {
            Some(sums) => sums,
            None => {
                self.ensure(rhs, t, k);
                let basis = basis(y, &self.w, k);
                vecops::powers_pass(
                    &mut self.partials,
                    &basis[..=k],
                    &c_y[..=k],
                    &c_f[..=k],
                    c_e,
                    &mut self.y_new,
                    &mut self.f_new,
                    tol.atol,
                    tol.rtol,
                )
            }
        };
        let Some([s0, s1]) = sums else {
            return f64::NAN;
        };
        let n = y.len().max(1) as f64;
        // The powers carry h, so the estimates are h Σ e_j k_j already.
        match self.tab.err {
            ErrorEstimate::Rms(_) => (s0 / n).sqrt(),
            ErrorEstimate::Dop853 { .. } => {
                let deno = s0 + 0.01 * s1;
                let deno = if deno > 0.0 { deno } else { 1.0 };
                s0 / (n * deno).sqrt()
            }
        }
    }

    fn complete<R: OdeRhs + ?Sized>(&mut self, _rhs: &R, _t: f64, _h: f64) {}

    fn dense_functional<R: OdeRhs + ?Sized>(
        &mut self,
        rhs: &R,
        t: f64,
        h: f64,
        y: &[C64],
        thetas: &[f64],
        f: &dyn Fn(&[C64]) -> f64,
    ) -> Vec<f64> {
        let k = self.k_dense;
        self.ensure(rhs, t, k);
        // f(y(t + θh)) = Σ_q c_q(θ) f(L^q y).
        let basis = basis(y, &self.w, k);
        let fv: Vec<f64> = (0..=k).map(|q| f(basis[q])).collect();
        thetas
            .iter()
            .map(|&theta| {
                let c = self.dense_coefficients(theta, h);
                (0..=k).map(|q| c[q] * fv[q]).sum()
            })
            .collect()
    }

    fn dense<R: OdeRhs + ?Sized>(
        &mut self,
        rhs: &R,
        t: f64,
        h: f64,
        y: &[C64],
        theta: f64,
        subset: Option<&[usize]>,
    ) -> &[C64] {
        let k = self.k_dense;
        self.ensure(rhs, t, k);
        let c = self.dense_coefficients(theta, h);
        let basis = basis(y, &self.w, k);
        let mut terms: [Term; MAX_POW] = [(0.0, &[]); MAX_POW];
        for q in 1..=k {
            terms[q - 1] = (c[q], basis[q]);
        }
        match subset {
            Some(idx) => vecops::lincomb_at(&mut self.y_dense, idx, y, &terms[..k]),
            None => vecops::lincomb(&mut self.y_dense, y, &terms[..k]),
        }
        &self.y_dense
    }

    fn accept(&mut self, y: &mut Vec<C64>) {
        std::mem::swap(y, &mut self.y_new);
        std::mem::swap(&mut self.w[0], &mut self.f_new);
        self.have = 1;
    }

    fn rhs_evals(&self) -> usize {
        self.rhs_evals
    }
}

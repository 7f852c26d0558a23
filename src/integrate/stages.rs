//! The stage-by-stage Runge–Kutta step, for any right-hand side: each stage
//! argument `y + h Σ_j a_ij k_j` is formed and `f` evaluated on it.

use super::tableau::{ErrorEstimate, Tableau, MAX_STAGES};
use super::vecops::{self, Term};
use super::{OdeRhs, Stepper, Tol};
use num_complex::Complex64 as C64;

/// All vectors of the step loop, allocated once.
pub(super) struct Stages {
    tab: &'static Tableau,
    /// Stage derivatives; stage `i` lives in `k[slot[i]]`.
    k: Vec<Vec<C64>>,
    slot: [usize; MAX_STAGES],
    y_new: Vec<C64>,
    /// Stage argument; also the dense-output result.
    y_stage: Vec<C64>,
    /// Per-chunk partial sums of the norms.
    partials: Vec<[f64; 2]>,
    /// `y_stage` holds Σ_{j<m} e_j k_j of the current step (fused with y_new).
    err_partial: bool,
    /// The extra dense-output stages of the current step are computed.
    dense_ready: bool,
    rhs_evals: usize,
}

/// Terms `h·coeffs_j · k_{slot_j}` (zero coefficients skipped) and their number.
fn stage_terms<'a>(
    h: f64,
    coeffs: &[f64],
    k: &'a [Vec<C64>],
    slot: &[usize; MAX_STAGES],
) -> ([Term<'a>; MAX_STAGES], usize) {
    let mut terms: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
    let mut n = 0;
    for (j, &c) in coeffs.iter().enumerate() {
        if c != 0.0 {
            terms[n] = (h * c, &k[slot[j]]);
            n += 1;
        }
    }
    (terms, n)
}

/// `out = base + h Σ_j coeffs_j k_{slot_j}` (zero coefficients skipped).
fn combine(
    out: &mut [C64],
    base: &[C64],
    h: f64,
    coeffs: &[f64],
    k: &[Vec<C64>],
    slot: &[usize; MAX_STAGES],
) {
    let (terms, n) = stage_terms(h, coeffs, k, slot);
    vecops::lincomb(out, base, &terms[..n]);
}

/// Terms `e_j k_{slot_j}` for an error estimator.
fn err_terms<'a>(
    e: &[f64],
    k: &'a [Vec<C64>],
    slot: &[usize; MAX_STAGES],
    terms: &mut [Term<'a>; MAX_STAGES],
) -> usize {
    let mut n = 0;
    for (j, &c) in e.iter().enumerate() {
        if c != 0.0 {
            terms[n] = (c, &k[slot[j]]);
            n += 1;
        }
    }
    n
}

impl Stages {
    /// Stage slots: stage `i` lives in vector `slot[i]`; returns the slots
    /// and the number of stage vectors.
    fn slots(tab: &Tableau) -> ([usize; MAX_STAGES], usize) {
        let m = tab.m;
        let total = tab.total_stages();
        let mut slot = [0; MAX_STAGES];
        for (i, s) in slot.iter_mut().enumerate().take(m + 1) {
            *s = i;
        }
        // Main stages whose values neither the solution, the dense weights nor
        // the extra stages use after the step can host the extra stages.
        let unused = |j: usize| {
            tab.b.get(j).is_none_or(|&b| b == 0.0)
                && tab.dense.iter().all(|d| d.get(j).is_none_or(|&x| x == 0.0))
                && (m + 1..total).all(|i| tab.row(i).get(j).is_none_or(|&x| x == 0.0))
        };
        let mut free = (1..m).filter(|&j| unused(j));
        let mut n_k = m + 1;
        for s in slot.iter_mut().take(total).skip(m + 1) {
            *s = free.next().unwrap_or_else(|| {
                n_k += 1;
                n_k - 1
            });
        }
        (slot, n_k)
    }

    /// Vectors of the problem's length allocated by [`Stages::new`]: the
    /// stage vectors, `y_new` and the stage argument.
    pub(super) fn vectors(tab: &Tableau) -> usize {
        Self::slots(tab).1 + 2
    }

    pub(super) fn new(tab: &'static Tableau, n: usize) -> Self {
        let zero = C64::new(0.0, 0.0);
        let (slot, n_k) = Self::slots(tab);
        let k: Vec<Vec<C64>> = (0..n_k).map(|_| vec![zero; n]).collect();
        Stages {
            tab,
            k,
            slot,
            y_new: vec![zero; n],
            y_stage: vec![zero; n],
            partials: vec![[0.0; 2]; vecops::n_chunks(n)],
            err_partial: false,
            dense_ready: false,
            rhs_evals: 0,
        }
    }

    fn eval_k0<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t: f64, y: &[C64]) {
        rhs.eval(t, y, &mut self.k[self.slot[0]]);
        self.rhs_evals += 1;
    }

    /// Stages `1..m` and `y_new` (plus the FSAL stage if the error estimate
    /// needs it) of a step `(t, h)` from `y`; `k_0 = f(t, y)` is present.
    fn stages<R: OdeRhs + ?Sized>(&mut self, tab: &Tableau, rhs: &R, t: f64, h: f64, y: &[C64]) {
        for i in 1..tab.m {
            combine(&mut self.y_stage, y, h, tab.row(i), &self.k, &self.slot);
            rhs.eval(t + tab.c[i] * h, &self.y_stage, &mut self.k[self.slot[i]]);
            self.rhs_evals += 1;
        }
        self.err_partial = false;
        match &tab.err {
            // Form y_new and the non-FSAL part of the error, Σ_{j<m} e_j k_j
            // (into y_stage, free now), in one pass over the stages; the error
            // norm then reads 4 vectors instead of m + 2.
            ErrorEstimate::Rms(e) if e.len() > tab.m => {
                let mut terms: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
                let mut terms2: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
                let (mut n, mut n2) = (0, 0);
                for j in 0..tab.m {
                    let v: &[C64] = &self.k[self.slot[j]];
                    let (b, ej) = (tab.b.get(j).copied().unwrap_or(0.0), e[j]);
                    if b != 0.0 {
                        terms[n] = (h * b, v);
                        n += 1;
                    }
                    if ej != 0.0 {
                        terms2[n2] = (ej, v);
                        n2 += 1;
                    }
                }
                vecops::lincomb2(&mut self.y_new, y, &terms[..n], &mut self.y_stage, &terms2[..n2]);
                self.err_partial = true;
            }
            _ => combine(&mut self.y_new, y, h, tab.b, &self.k, &self.slot),
        }
        if tab.error_uses_fsal() {
            self.eval_fsal(tab, rhs, t, h);
        }
    }

    /// FSAL stage `k_m = f(t + h, y_new)`.
    fn eval_fsal<R: OdeRhs + ?Sized>(&mut self, tab: &Tableau, rhs: &R, t: f64, h: f64) {
        rhs.eval(t + h, &self.y_new, &mut self.k[self.slot[tab.m]]);
        self.rhs_evals += 1;
    }

    /// Scaled error norm of the step (≤ 1: accept); NaN if anything is
    /// non-finite.
    fn error(&mut self, tab: &Tableau, y: &[C64], h: f64, atol: f64, rtol: f64) -> f64 {
        let n = y.len().max(1) as f64;
        let mut t0: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
        let mut t1: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
        let (e0, e1): (&[f64], &[f64]) = match &tab.err {
            ErrorEstimate::Rms(e) => (e, &[]),
            ErrorEstimate::Dop853 { e5, e3 } => (e5, e3),
        };
        let (n0, n1) = if self.err_partial {
            // Σ_{j<m} e_j k_j is in y_stage (see `stages`); add the FSAL term.
            t0[0] = (1.0, &self.y_stage);
            t0[1] = (e0[tab.m], &self.k[self.slot[tab.m]]);
            (2, 0)
        } else {
            (err_terms(e0, &self.k, &self.slot, &mut t0), err_terms(e1, &self.k, &self.slot, &mut t1))
        };
        let Some([s0, s1]) = vecops::weighted_sq_sums(
            &mut self.partials,
            y,
            &self.y_new,
            atol,
            rtol,
            &t0[..n0],
            &t1[..n1],
        ) else {
            return f64::NAN;
        };
        match tab.err {
            ErrorEstimate::Rms(_) => h.abs() * (s0 / n).sqrt(),
            ErrorEstimate::Dop853 { .. } => {
                let deno = s0 + 0.01 * s1;
                let deno = if deno > 0.0 { deno } else { 1.0 };
                h.abs() * s0 / (n * deno).sqrt()
            }
        }
    }

    /// Initial step (HNW II.4, "Starting step size"); needs `k_0 = f(t0, y0)`
    /// and costs one rhs call. Uses `y_stage` and stage slot 1 as scratch.
    fn initial_step_impl<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t0: f64, y: &[C64], tol: Tol, h_max: f64) -> f64 {
        let n = y.len().max(1) as f64;
        let (s0, s1) = (self.slot[0], self.slot[1]);
        let [d0, d1] = vecops::weighted_sq_sums(&mut self.partials, y, y, tol.atol, tol.rtol, &[(1.0, y)], &[(1.0, &self.k[s0])])
            .map_or([f64::NAN; 2], |s| s.map(|x| (x / n).sqrt()));
        let h0 = super::first_trial_step(d0, d1, h_max);
        vecops::lincomb(&mut self.y_stage, y, &[(h0, &self.k[s0])]);
        rhs.eval(t0 + h0, &self.y_stage, &mut self.k[s1]);
        self.rhs_evals += 1;
        let d2 = vecops::weighted_sq_sums(
            &mut self.partials,
            y,
            y,
            tol.atol,
            tol.rtol,
            &[(1.0, &self.k[s1]), (-1.0, &self.k[s0])],
            &[],
        )
        .map_or(f64::NAN, |s| (s[0] / n).sqrt() / h0);
        super::starting_step(self.tab, h0, d1, d2, h_max)
    }

    /// Extra stages of the continuous extension (DOP853), after `k_m`.
    fn dense_stages<R: OdeRhs + ?Sized>(
        &mut self,
        tab: &Tableau,
        rhs: &R,
        t: f64,
        h: f64,
        y: &[C64],
    ) {
        for i in tab.m + 1..tab.total_stages() {
            combine(&mut self.y_stage, y, h, tab.row(i), &self.k, &self.slot);
            rhs.eval(t + tab.c[i] * h, &self.y_stage, &mut self.k[self.slot[i]]);
            self.rhs_evals += 1;
        }
    }

    /// `y_stage = u(t + θh)`, the continuous extension of the step.
    fn dense_eval(&mut self, tab: &Tableau, y: &[C64], h: f64, theta: f64, subset: Option<&[usize]>) {
        let mut w = [0.0; MAX_STAGES];
        tab.dense_weights(theta, &mut w);
        let (terms, n) = stage_terms(h, &w[..tab.total_stages()], &self.k, &self.slot);
        match subset {
            Some(idx) => vecops::lincomb_at(&mut self.y_stage, idx, y, &terms[..n]),
            None => vecops::lincomb(&mut self.y_stage, y, &terms[..n]),
        }
    }

    /// `y = y_new` (a swap: y_new's old contents are dead); the FSAL stage
    /// becomes the next step's stage 0.
    fn accept_impl(&mut self, tab: &Tableau, y: &mut Vec<C64>) {
        std::mem::swap(y, &mut self.y_new);
        self.k.swap(self.slot[0], self.slot[tab.m]);
    }
}

impl Stepper for Stages {
    fn start<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t0: f64, y: &[C64]) {
        self.eval_k0(rhs, t0, y);
    }

    fn initial_step<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t0: f64, y: &[C64], tol: Tol, h_max: f64) -> f64 {
        self.initial_step_impl(rhs, t0, y, tol, h_max)
    }

    fn attempt<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t: f64, h: f64, y: &[C64], tol: Tol) -> f64 {
        let tab = self.tab;
        self.dense_ready = false;
        self.stages(tab, rhs, t, h, y);
        self.error(tab, y, h, tol.atol, tol.rtol)
    }

    fn complete<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t: f64, h: f64) {
        let tab = self.tab;
        if !tab.error_uses_fsal() {
            self.eval_fsal(tab, rhs, t, h);
        }
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
        let tab = self.tab;
        if !self.dense_ready {
            self.dense_stages(tab, rhs, t, h, y);
            self.dense_ready = true;
        }
        self.dense_eval(tab, y, h, theta, subset);
        &self.y_stage
    }

    fn dense_functional<R: OdeRhs + ?Sized>(
        &mut self,
        rhs: &R,
        t: f64,
        h: f64,
        y: &[C64],
        thetas: &[f64],
        f: &dyn Fn(&[C64]) -> f64,
    ) -> Vec<f64> {
        let tab = self.tab;
        if !self.dense_ready {
            self.dense_stages(tab, rhs, t, h, y);
            self.dense_ready = true;
        }
        // y(t + θh) = y + h Σ_j w_j(θ) k_j, so f(y(t + θh)) = f(y) + h Σ_j w_j(θ) f(k_j).
        let n = tab.total_stages();
        let fy = f(y);
        let fk: Vec<f64> = (0..n).map(|j| f(&self.k[self.slot[j]])).collect();
        thetas
            .iter()
            .map(|&theta| {
                let mut w = [0.0; MAX_STAGES];
                tab.dense_weights(theta, &mut w);
                fy + h * (0..n).map(|j| w[j] * fk[j]).sum::<f64>()
            })
            .collect()
    }

    fn accept(&mut self, y: &mut Vec<C64>) {
        let tab = self.tab;
        self.accept_impl(tab, y);
    }

    fn rhs_evals(&self) -> usize {
        self.rhs_evals
    }
}

//! Exponential propagation `y(t + τ) = e^{τL} y` of a linear problem with
//! constant L by Krylov subspaces (Saad 1992; Sidje's Expokit, ACM TOMS 24,
//! 1998), for the stiff master equations of the adiabatic-elimination regime,
//! where an explicit RK method needs a number of steps ∝ the fastest rate.
//!
//! Per step: an Arnoldi basis V_m of span{y, Ly, …, L^{m−1}y}, orthonormal in
//! the problem's inner product ([`OdeRhs::inner`]: for a density matrix the
//! real Frobenius product Re Tr(X†Y), under which L maps Hermitian matrices
//! to Hermitian ones, so the Hessenberg matrix H_m is real), and
//! y(t + s) ≈ β V_m [e^{sH̄}]_{:m,1} with Expokit's augmented H̄ (its a
//! posteriori error estimate, step rejection at the cost of a small matrix
//! exponential only, and step-size update τ ← 0.9 τ (tol/err)^{1/m}). The
//! local error per step is held below (τ/T)(rtol‖y₀‖ + atol), T the span of the
//! integration, so the global error stays below rtol‖y₀‖ + atol.
//! Save times inside a step are evaluated from the same basis (on the
//! observer's entries only), and a [`StepWatch`] sees every step with the
//! same continuous solution.

use super::{DenseOutput, IntegrateError, OdeRhs, Stats, StepWatch};
use crate::linalg;
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A Krylov exponential propagator and its settings.
#[derive(Clone, Debug)]
pub struct Krylov {
    pub rtol: f64,
    pub atol: f64,
    /// Krylov dimension m (the basis holds m + 1 vectors of the problem's length).
    pub dim: usize,
    pub max_steps: usize,
    /// As [`super::Integrator::dense_subset`].
    pub dense_subset: Option<Vec<usize>>,
    pub stop: Option<Arc<AtomicBool>>,
}

/// Safety factor and tolerance slack of Expokit's step control.
const GAMMA: f64 = 0.9;
const DELTA: f64 = 1.2;
/// Largest growth of τ from one step to the next.
const GROW_MAX: f64 = 10.0;

impl Krylov {
    pub fn new(rtol: f64, atol: f64) -> Self {
        Krylov { rtol, atol, dim: 12, max_steps: 1_000_000, dense_subset: None, stop: None }
    }

    /// Vectors of the problem's length held (basis, work vector, state copy).
    pub fn workspace_vectors(&self) -> usize {
        self.dim + 3
    }

    /// As [`super::Integrator::integrate_watched`], for a linear problem with
    /// constant L ([`OdeRhs::is_linear`]); `Stats::krylov_dim` is the largest
    /// dimension used.
    pub fn integrate_watched<R: OdeRhs + ?Sized>(
        &self,
        rhs: &R,
        t0: f64,
        y: &mut [C64],
        save_times: &[f64],
        mut observer: impl FnMut(usize, f64, &[C64]) -> ControlFlow<()>,
        mut watch: Option<&mut dyn StepWatch>,
    ) -> Result<Stats, IntegrateError> {
        let start = Instant::now();
        if !rhs.is_linear() || y.len() != rhs.len() {
            return Err(IntegrateError::InvalidInput("Krylov propagation needs a linear problem y' = Ly of the state's length".into()));
        }
        let n = y.len();
        let mut stats = Stats::default();
        let done = |mut stats: Stats, stopped: bool, t: f64| {
            stats.stopped_early = stopped;
            stats.t_final = t;
            stats.wall_time_s = start.elapsed().as_secs_f64();
            Ok(stats)
        };
        let mut idx = 0;
        while idx < save_times.len() && save_times[idx] <= t0 {
            if observer(idx, t0, y).is_break() {
                return done(stats, true, t0);
            }
            idx += 1;
        }
        let Some(&t_end) = save_times.last().filter(|_| idx < save_times.len()) else { return done(stats, false, t0) };
        let span = t_end - t0;
        let norm = |v: &[C64]| rhs.inner(v, v).max(0.0).sqrt();
        let tol = self.rtol * norm(y) + self.atol;
        let m_max = self.dim.clamp(1, n.max(1));
        let mut v: Vec<Vec<C64>> = (0..=m_max).map(|_| vec![C64::new(0.0, 0.0); n]).collect();
        let mut w = vec![C64::new(0.0, 0.0); n];
        let mut tau = span;
        let mut t = t0;
        loop {
            if stats.steps + stats.rejected >= self.max_steps {
                return Err(IntegrateError::MaxStepsExceeded { t, max_steps: self.max_steps });
            }
            let beta = norm(y);
            if !beta.is_finite() {
                return Err(IntegrateError::NonFinite { t });
            }
            // Arnoldi (modified Gram–Schmidt) in the problem's inner product.
            let mut h = vec![vec![0.0; m_max + 2]; m_max + 2];
            let mut m = m_max;
            let mut breakdown = beta == 0.0;
            if !breakdown {
                scale_into(&mut v[0], y, 1.0 / beta);
                for j in 0..m_max {
                    rhs.eval(t, &v[j], &mut w);
                    stats.rhs_evals += 1;
                    for (i, vi) in v.iter().enumerate().take(j + 1) {
                        let hij = rhs.inner(vi, &w);
                        h[i][j] = hij;
                        axpy(&mut w, -hij, vi);
                    }
                    let hn = norm(&w);
                    let scale = (0..=j).map(|i| h[i][j].abs()).fold(hn, f64::max);
                    if hn <= 1e-13 * scale {
                        // Happy breakdown: the Krylov space is invariant, e^{τH}
                        // is exact on it for any τ.
                        m = j + 1;
                        breakdown = true;
                        break;
                    }
                    h[j + 1][j] = hn;
                    scale_into(&mut v[j + 1], &w, 1.0 / hn);
                }
            } else {
                m = 0;
            }
            // ‖L v_{m+1}‖ for the second term of the error estimate.
            let avnorm = if breakdown {
                0.0
            } else {
                rhs.eval(t, &v[m], &mut w);
                stats.rhs_evals += 1;
                norm(&w)
            };
            stats.krylov_dim = stats.krylov_dim.max(m);
            // Step size from the error estimate; a rejection costs one small exponential.
            let mut err_step;
            loop {
                tau = tau.min(t_end - t);
                let f = expm_aug(&h, m, breakdown, tau);
                let (err, xm) = if breakdown {
                    (0.0, 1.0)
                } else {
                    let err1 = (beta * f[m][0]).abs();
                    let err2 = (beta * f[m + 1][0]).abs() * avnorm;
                    if err1 > 10.0 * err2 {
                        (err2, 1.0 / m as f64)
                    } else if err1 > err2 {
                        (err2 * err1 / (err1 - err2), 1.0 / m as f64)
                    } else {
                        (err1, 1.0 / (m.max(2) - 1) as f64)
                    }
                };
                err_step = (err, xm);
                let allowed = tol * tau / span;
                if err <= DELTA * allowed {
                    break;
                }
                // A non-finite estimate (overflow of a far too long step): shrink hard.
                tau *= if err.is_finite() { GAMMA * (allowed / err).powf(xm) } else { 0.1 };
                stats.rejected += 1;
                if tau <= 10.0 * f64::EPSILON * t.abs().max(span) {
                    return Err(IntegrateError::StepSizeUnderflow { t, h: tau });
                }
            }
            stats.steps += 1;
            let last = t + tau >= t_end * (1.0 - 4.0 * f64::EPSILON) || tau >= t_end - t;
            let t_new = if last { t_end } else { t + tau };
            // The step's continuous solution, for the watcher and the saves.
            let (new_state, broke) = {
                let mut dense = KrylovDense {
                    v: &v[..m.max(1)],
                    h: &h,
                    m,
                    breakdown,
                    beta,
                    t,
                    out: vec![C64::new(0.0, 0.0); n],
                    subset: self.dense_subset.as_deref(),
                    zero: beta == 0.0,
                    y,
                };
                let cut = watch.as_deref_mut().and_then(|wt| wt.step(t, t_new, &mut dense)).map(|ts| ts.clamp(t, t_new));
                let t_stop = cut.unwrap_or(t_new);
                let mut broke = None;
                while idx < save_times.len() && save_times[idx] <= t_stop && !(save_times[idx] == t_new && cut.is_none()) {
                    let ts = save_times[idx];
                    if observer(idx, ts, dense.at(ts)).is_break() {
                        broke = Some(ts);
                        break;
                    }
                    idx += 1;
                }
                let at = broke.unwrap_or(t_stop);
                (dense.full_at(at), broke.map(|b| (b, true)).or(cut.map(|c| (c, false))))
            };
            y.copy_from_slice(&new_state);
            let t_stop = match broke {
                Some((ts, true)) => return done(stats, true, ts),
                Some((c, false)) => c,
                None => t_new,
            };
            let cut = broke.map(|(c, _)| c);
            t = t_stop;
            if cut.is_some_and(|c| c < t_new) {
                return done(stats, true, t);
            }
            while idx < save_times.len() && save_times[idx] <= t {
                if observer(idx, save_times[idx], y).is_break() {
                    return done(stats, true, t);
                }
                idx += 1;
            }
            if idx == save_times.len() {
                return done(stats, false, t);
            }
            if cut.is_some() || self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                return done(stats, true, t);
            }
            let (err, xm) = err_step;
            let allowed = tol * tau / span;
            let grow = if err > 0.0 { (GAMMA * (allowed / err).powf(xm)).min(GROW_MAX) } else { GROW_MAX };
            tau *= grow.max(0.2);
        }
    }
}

/// e^{τH̄} of Expokit's augmented Hessenberg matrix (size m + 2: H_m, the
/// coupling h_{m+1,m} and a unit entry that carries the error terms), or of
/// H_m alone after a breakdown.
fn expm_aug(h: &[Vec<f64>], m: usize, breakdown: bool, tau: f64) -> Vec<Vec<f64>> {
    let size = if breakdown { m } else { m + 2 };
    if size == 0 {
        return vec![vec![1.0]];
    }
    let a = faer::Mat::from_fn(size, size, |i, j| {
        let x = if i < m && j < m {
            h[i][j]
        } else if !breakdown && i == m && j + 1 == m {
            h[m][m - 1]
        } else if !breakdown && i == m + 1 && j == m {
            1.0
        } else {
            0.0
        };
        x * tau
    });
    // H̄ is real (the Arnoldi process runs in a real inner product).
    let e = linalg::expm(&a);
    (0..size).map(|i| (0..size).map(|j| e[(i, j)]).collect()).collect()
}

/// The continuous solution of one Krylov step: y(t + s) = β V [e^{sH̄}]_{:,1}.
struct KrylovDense<'a> {
    v: &'a [Vec<C64>],
    h: &'a [Vec<f64>],
    m: usize,
    breakdown: bool,
    beta: f64,
    t: f64,
    out: Vec<C64>,
    subset: Option<&'a [usize]>,
    /// The state is zero (β = 0): it stays zero.
    zero: bool,
    y: &'a [C64],
}

impl KrylovDense<'_> {
    fn coeff(&self, ts: f64) -> Vec<f64> {
        if self.zero {
            return Vec::new();
        }
        let f = expm_aug(self.h, self.m, self.breakdown, ts - self.t);
        (0..self.m).map(|i| self.beta * f[i][0]).collect()
    }

    fn combine(&mut self, ts: f64, subset: Option<&[usize]>) {
        if self.zero {
            self.out.copy_from_slice(self.y);
            return;
        }
        let c = self.coeff(ts);
        let v = self.v;
        match subset {
            Some(idx) => {
                for &i in idx {
                    self.out[i] = c.iter().zip(v).map(|(&cj, vj)| vj[i] * cj).sum();
                }
            }
            None => {
                self.out.par_chunks_mut(1 << 14).enumerate().for_each(|(k, chunk)| {
                    let off = k << 14;
                    for (r, o) in chunk.iter_mut().enumerate() {
                        *o = c.iter().zip(v).map(|(&cj, vj)| vj[off + r] * cj).sum();
                    }
                });
            }
        }
    }

    fn full_at(&mut self, ts: f64) -> Vec<C64> {
        self.combine(ts, None);
        self.out.clone()
    }
}

impl DenseOutput for KrylovDense<'_> {
    fn at(&mut self, t: f64) -> &[C64] {
        let subset = self.subset;
        self.combine(t, subset);
        &self.out
    }

    fn functional(&mut self, times: &[f64], f: &dyn Fn(&[C64]) -> f64) -> Vec<f64> {
        if self.zero {
            return times.iter().map(|_| f(self.y)).collect();
        }
        let fv: Vec<f64> = self.v.iter().take(self.m).map(|vj| f(vj)).collect();
        times.iter().map(|&ts| self.coeff(ts).iter().zip(&fv).map(|(c, x)| c * x).sum()).collect()
    }
}

/// `out = s·x`.
fn scale_into(out: &mut [C64], x: &[C64], s: f64) {
    out.par_chunks_mut(1 << 14).zip(x.par_chunks(1 << 14)).for_each(|(o, x)| {
        for (a, b) in o.iter_mut().zip(x) {
            *a = b * s;
        }
    });
}

/// `w += a·x`.
fn axpy(w: &mut [C64], a: f64, x: &[C64]) {
    w.par_chunks_mut(1 << 14).zip(x.par_chunks(1 << 14)).for_each(|(o, x)| {
        for (p, q) in o.iter_mut().zip(x) {
            *p += q * a;
        }
    });
}

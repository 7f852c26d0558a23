//! Restarted GMRES(m) with right preconditioning, over a real inner-product
//! space whose vectors are stored as complex arrays — the Hermitian matrices
//! with Re Tr(X†Y), on whatever layout the caller uses. All coefficients
//! (Hessenberg matrix, Givens rotations, the least-squares solution) are
//! real: a map that sends Hermitian matrices to Hermitian matrices is a real
//! linear map, and GMRES on it stays in that space (a complex Arnoldi process
//! would leave it). Used for the master equation's steady state.
//!
//! Right preconditioning (solve A M⁻¹ u = b, x = M⁻¹ u) keeps the residual
//! that is monitored the true one, ‖b − A x‖.

use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// What GMRES needs of a problem: A, M⁻¹ and the inner product.
pub trait LinearProblem: Sync {
    /// Length of the vectors.
    fn dim(&self) -> usize;
    /// out = A x.
    fn apply(&self, x: &[C64], out: &mut [C64]);
    /// out = M⁻¹ x (M ≈ A, cheap to invert).
    fn precondition(&self, x: &[C64], out: &mut [C64]);
    /// The real inner product of the space.
    fn inner(&self, x: &[C64], y: &[C64]) -> f64;
}

/// Settings: restart length m, relative tolerance on ‖b − A x‖/‖b‖, and the
/// limit on iterations (applications of A).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GmresOptions {
    pub restart: usize,
    pub tol: f64,
    pub max_iterations: usize,
}

/// How a solve ended.
#[derive(Debug, Clone, PartialEq)]
pub struct GmresReport {
    pub converged: bool,
    /// Applications of A (one per Arnoldi step, plus one per restart).
    pub iterations: usize,
    pub restarts: usize,
    /// ‖b − A x‖ / ‖b‖ of the returned x, recomputed from x.
    pub residual: f64,
    /// Why it stopped when it did not converge.
    pub reason: String,
}

fn axpy(y: &mut [C64], a: f64, x: &[C64]) {
    y.par_iter_mut().with_min_len(4096).zip(x.par_iter()).for_each(|(y, x)| *y += a * x);
}

fn scale(y: &mut [C64], a: f64) {
    y.par_iter_mut().with_min_len(4096).for_each(|y| *y *= a);
}

/// Solves A x = b from the initial guess in `x`, in place.
pub fn solve<P: LinearProblem>(p: &P, b: &[C64], x: &mut [C64], opts: &GmresOptions, stop: &AtomicBool) -> GmresReport {
    let n = p.dim();
    let m = opts.restart.max(1);
    let norm = |v: &[C64]| p.inner(v, v).max(0.0).sqrt();
    let b_norm = norm(b);
    let zero = C64::new(0.0, 0.0);
    let mut r = vec![zero; n];
    let mut w = vec![zero; n];
    let mut z = vec![zero; n];
    let residual_of = |x: &[C64], r: &mut [C64]| {
        p.apply(x, r);
        r.par_iter_mut().with_min_len(4096).zip(b.par_iter()).for_each(|(r, b)| *r = b - *r);
        norm(r)
    };
    if b_norm == 0.0 {
        x.iter_mut().for_each(|v| *v = zero);
        return GmresReport { converged: true, iterations: 0, restarts: 0, residual: 0.0, reason: String::new() };
    }
    let mut iterations = 0;
    let mut restarts = 0;
    let mut basis: Vec<Vec<C64>> = Vec::with_capacity(m + 1);
    let mut beta = residual_of(x, &mut r);
    iterations += 1;
    let mut best = beta;
    loop {
        if beta <= opts.tol * b_norm {
            return GmresReport { converged: true, iterations, restarts, residual: beta / b_norm, reason: String::new() };
        }
        if iterations >= opts.max_iterations {
            return GmresReport {
                converged: false,
                iterations,
                restarts,
                residual: beta / b_norm,
                reason: format!("the iteration limit ({}) was reached", opts.max_iterations),
            };
        }
        if stop.load(Ordering::Relaxed) {
            return GmresReport { converged: false, iterations, restarts, residual: beta / b_norm, reason: "interrupted".into() };
        }
        // One cycle of Arnoldi (modified Gram–Schmidt, reorthogonalised once)
        // with Givens rotations on the Hessenberg matrix.
        basis.truncate(0);
        let mut v0 = r.clone();
        scale(&mut v0, 1.0 / beta);
        basis.push(v0);
        let mut h = vec![vec![0.0f64; m]; m + 1];
        let (mut cs, mut sn) = (vec![0.0f64; m], vec![0.0f64; m]);
        let mut g = vec![0.0f64; m + 1];
        g[0] = beta;
        let mut k = 0;
        let mut breakdown = false;
        while k < m && iterations < opts.max_iterations && !stop.load(Ordering::Relaxed) {
            p.precondition(&basis[k], &mut z);
            p.apply(&z, &mut w);
            iterations += 1;
            let w_norm0 = norm(&w);
            for _pass in 0..2 {
                for (j, v) in basis.iter().enumerate() {
                    let hij = p.inner(v, &w);
                    h[j][k] += hij;
                    axpy(&mut w, -hij, v);
                }
            }
            let hn = norm(&w);
            h[k + 1][k] = hn;
            for j in 0..k {
                let t = cs[j] * h[j][k] + sn[j] * h[j + 1][k];
                h[j + 1][k] = -sn[j] * h[j][k] + cs[j] * h[j + 1][k];
                h[j][k] = t;
            }
            let rho = h[k][k].hypot(h[k + 1][k]);
            if rho == 0.0 {
                breakdown = true;
                break;
            }
            cs[k] = h[k][k] / rho;
            sn[k] = h[k + 1][k] / rho;
            h[k][k] = rho;
            h[k + 1][k] = 0.0;
            g[k + 1] = -sn[k] * g[k];
            g[k] *= cs[k];
            k += 1;
            // Happy breakdown: the Krylov space holds the solution.
            if hn <= 1e-14 * w_norm0.max(f64::MIN_POSITIVE) || g[k].abs() <= opts.tol * b_norm {
                break;
            }
            let mut v = w.clone();
            scale(&mut v, 1.0 / hn);
            basis.push(v);
        }
        if k == 0 {
            return GmresReport {
                converged: false,
                iterations,
                restarts,
                residual: beta / b_norm,
                reason: if breakdown { "breakdown (the Arnoldi process produced a zero direction)".into() } else { "interrupted".into() },
            };
        }
        // y = H⁻¹ g (upper triangular), x += M⁻¹ (V y).
        let mut y = vec![0.0f64; k];
        for i in (0..k).rev() {
            let s: f64 = (i + 1..k).map(|j| h[i][j] * y[j]).sum();
            y[i] = (g[i] - s) / h[i][i];
        }
        let mut u = vec![zero; n];
        for (yi, v) in y.iter().zip(&basis) {
            axpy(&mut u, *yi, v);
        }
        p.precondition(&u, &mut z);
        axpy(x, 1.0, &z);
        beta = residual_of(x, &mut r);
        iterations += 1;
        restarts += 1;
        if beta >= best * (1.0 - 1e-3) && beta > opts.tol * b_norm {
            return GmresReport {
                converged: false,
                iterations,
                restarts,
                residual: beta / b_norm,
                reason: format!("stagnation (a restart cycle of {m} iterations did not reduce the residual); raise steady.restart"),
            };
        }
        best = best.min(beta);
        if breakdown && beta > opts.tol * b_norm {
            return GmresReport {
                converged: false,
                iterations,
                restarts,
                residual: beta / b_norm,
                reason: "breakdown (the Arnoldi process produced a zero direction)".into(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real nonsymmetric, diagonally dominated test matrix acting on the
    /// real parts and, separately, the imaginary parts of a complex vector
    /// (a real linear map on C^n ≅ R^2n), against a dense solve.
    struct Dense {
        a: Vec<Vec<f64>>,
        jacobi: bool,
    }

    impl LinearProblem for Dense {
        fn dim(&self) -> usize {
            self.a.len() / 2
        }
        fn apply(&self, x: &[C64], out: &mut [C64]) {
            let flat: Vec<f64> = x.iter().flat_map(|z| [z.re, z.im]).collect();
            for (k, o) in out.iter_mut().enumerate() {
                let row = |i: usize| self.a[i].iter().zip(&flat).map(|(a, b)| a * b).sum::<f64>();
                *o = C64::new(row(2 * k), row(2 * k + 1));
            }
        }
        fn precondition(&self, x: &[C64], out: &mut [C64]) {
            for (k, (o, z)) in out.iter_mut().zip(x).enumerate() {
                *o = if self.jacobi { C64::new(z.re / self.a[2 * k][2 * k], z.im / self.a[2 * k + 1][2 * k + 1]) } else { *z };
            }
        }
        fn inner(&self, x: &[C64], y: &[C64]) -> f64 {
            x.iter().zip(y).map(|(a, b)| a.re * b.re + a.im * b.im).sum()
        }
    }

    fn matrix(n: usize) -> Vec<Vec<f64>> {
        (0..2 * n)
            .map(|i| {
                (0..2 * n)
                    .map(|j| {
                        let s = ((i * 31 + j * 17) % 23) as f64 / 23.0 - 0.5;
                        if i == j { 3.0 + i as f64 } else { s }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn solves_a_nonsymmetric_system_to_tolerance_with_and_without_a_preconditioner() {
        let n = 20;
        let a = matrix(n);
        let x_true: Vec<C64> = (0..n).map(|k| C64::new((k as f64).sin(), (k as f64 * 0.7).cos())).collect();
        for jacobi in [false, true] {
            let p = Dense { a: a.clone(), jacobi };
            let mut b = vec![C64::new(0.0, 0.0); n];
            p.apply(&x_true, &mut b);
            let mut x = vec![C64::new(0.0, 0.0); n];
            let opts = GmresOptions { restart: 8, tol: 1e-13, max_iterations: 2000 };
            let rep = solve(&p, &b, &mut x, &opts, &AtomicBool::new(false));
            assert!(rep.converged, "{rep:?}");
            assert!(rep.residual <= 1e-13);
            let err = x.iter().zip(&x_true).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
            // cond(A) is ~10 here: the error is at most ~10 × the residual.
            assert!(err < 1e-11, "jacobi {jacobi}: error {err:e}");
        }
    }

    #[test]
    fn reports_the_iteration_limit_with_its_residual() {
        let n = 20;
        let p = Dense { a: matrix(n), jacobi: false };
        let b = vec![C64::new(1.0, 0.5); n];
        let mut x = vec![C64::new(0.0, 0.0); n];
        let rep = solve(&p, &b, &mut x, &GmresOptions { restart: 3, tol: 1e-14, max_iterations: 5 }, &AtomicBool::new(false));
        assert!(!rep.converged);
        assert!(rep.reason.contains("iteration limit"), "{}", rep.reason);
        assert!(rep.residual > 1e-14 && rep.residual.is_finite());
    }
}

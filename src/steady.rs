//! Steady states of every engine (`qbsim steady`, docs/physics.md §13):
//!
//! - **reduced**: the closed form x_ss = A⁻¹f of the two-mode model where
//!   every eigenmode decays; none in the broken and marginal phases (the
//!   growth rate says why). The state is coherent: n = |x|², ergotropy = E_B,
//!   entropy 0, purity 1.
//! - **moments**: the fixed point of the exact moment equations, G v = 0 with
//!   the constant component 1 — the means solve M x = f and the fluctuations
//!   the Lyapunov equation M*N + N Mᵀ = Q (with the dephasing terms) — where
//!   every eigenvalue of G decays. Battery metrics from the Gaussian state
//!   (NaN with dephasing, which makes it non-Gaussian).
//! - **master**: GMRES on 𝓛 (see [`crate::master::steady`]).

use crate::linalg::{self, CMat};
use crate::model::MicroParams;
use crate::moments;
use crate::observables::series::Series;
use crate::observables::ModeMetrics;
use crate::reduced::{AsReduced, ReducedModel};
use num_complex::Complex64 as C64;

/// The steady state of one engine, or why there is none.
#[derive(Debug, Clone)]
pub struct Steady {
    /// The observables as one row (t = NaN); NaN everywhere when `exists` is false.
    pub row: Series,
    pub exists: bool,
    /// The largest real part of the generator's spectrum (amplitude growth rate
    /// for the reduced model): negative where a steady state exists.
    pub growth_rate: f64,
    /// ‖𝓛ρ‖/‖𝓛‖ (master), ‖Gv‖/‖G‖ (moments), 0 for a closed form.
    pub residual: f64,
    /// Iterations of the solver (GMRES applications of 𝓛); 0 for a direct solve.
    pub iterations: usize,
    /// The density matrix (master, full d×d), if computed.
    pub rho: Option<Vec<C64>>,
    /// One line on how it was computed, or why there is none (no timings:
    /// it is written to the file, which must not depend on the machine's speed).
    pub note: String,
    pub wall_time_s: f64,
}

fn nan_row() -> Series {
    let nan = C64::new(f64::NAN, f64::NAN);
    let mut s = Series::default();
    let m = ModeMetrics { energy: f64::NAN, ergotropy: f64::NAN, entropy: f64::NAN, purity: f64::NAN };
    s.push(f64::NAN, [nan; 3], [f64::NAN; 3], f64::NAN, m, 0.0);
    s
}

/// The reduced model's steady state, in the frame (time unit and gauge) of
/// its parameters: for a `[model]` point, in the microscopic gauge
/// (b = e^{−iφ} b_reduced), so it compares with the master equation directly.
pub fn reduced<P: AsReduced>(p: &P) -> Result<Steady, String> {
    let f = p.frame()?;
    let m = ReducedModel::new(f.reduced);
    let growth = m.spectrum.growth_rate() * f.g;
    match m.steady_state() {
        Some(x) => {
            let b = x[1] * C64::from_polar(1.0, -f.gauge_phase);
            let (na, nb) = (x[0].norm_sqr(), b.norm_sqr());
            let mut row = Series::default();
            let metrics = ModeMetrics { energy: nb, ergotropy: nb, entropy: 0.0, purity: 1.0 };
            row.push(f64::NAN, [x[0], b, C64::new(f64::NAN, f64::NAN)], [na, nb, f64::NAN], 0.0, metrics, 0.0);
            Ok(Steady {
                row,
                exists: true,
                growth_rate: growth,
                residual: 0.0,
                iterations: 0,
                rho: None,
                note: "closed form x = A^-1 f (coherent state); c is eliminated (n_c, c: NaN)".into(),
                wall_time_s: 0.0,
            })
        }
        None => Ok(Steady {
            row: nan_row(),
            exists: false,
            growth_rate: growth,
            residual: f64::NAN,
            iterations: 0,
            rho: None,
            note: format!(
                "none: the {} phase has an eigenmode that does not decay (amplitude growth rate {:.6e})",
                m.phase.as_str(),
                growth
            ),
            wall_time_s: 0.0,
        }),
    }
}

/// Largest real part of the eigenvalues of the moments generator restricted
/// to the moments (the constant and the work integral removed).
fn moments_growth(g: &CMat<{ moments::STATE }>, keep: &[usize]) -> Result<f64, String> {
    let n = keep.len();
    let m = faer::Mat::<C64>::from_fn(n, n, |i, j| g[keep[i]][keep[j]]);
    let ev = m.eigenvalues().map_err(|e| format!("eigenvalues of the moment equations: {e:?}"))?;
    Ok(ev.iter().map(|z| z.re).fold(f64::NEG_INFINITY, f64::max))
}

/// The exact moments' steady state (where the engine is exact: checked by the caller).
pub fn moments(p: &MicroParams) -> Result<Steady, String> {
    const N: usize = moments::STATE;
    let g = moments::generator(p);
    let (one, u) = (moments::ONE, moments::U);
    let keep: Vec<usize> = (0..N).filter(|&k| k != one && k != u).collect();
    let growth = moments_growth(&g, &keep)?;
    if growth >= -1e-12 * linalg::norm1(&g).max(1.0) {
        return Ok(Steady {
            row: nan_row(),
            exists: false,
            growth_rate: growth,
            residual: f64::NAN,
            iterations: 0,
            rho: None,
            note: format!("none: a mode of the moment equations does not decay (largest rate {growth:.6e})"),
            wall_time_s: 0.0,
        });
    }
    // G_kk v_k = −G_k,one (N − 2 unknowns), in a 15×15 system.
    const K: usize = moments::STATE - 2;
    let mut a: CMat<K> = linalg::zeros();
    let mut rhs = [C64::new(0.0, 0.0); K];
    for (i, &ki) in keep.iter().enumerate() {
        for (j, &kj) in keep.iter().enumerate() {
            a[i][j] = g[ki][kj];
        }
        rhs[i] = -g[ki][one];
    }
    let sol = linalg::solve(&a, &rhs).ok_or("the moment equations are singular at this point")?;
    let mut v = [C64::new(0.0, 0.0); N];
    for (i, &k) in keep.iter().enumerate() {
        v[k] = sol[i];
    }
    v[one] = C64::new(1.0, 0.0);
    // Residual of G v (the u row is the work integral, not a moment).
    let gv = linalg::matvec(&g, &v);
    let res = keep.iter().map(|&k| gv[k].norm()).fold(0.0, f64::max) / (linalg::norm1(&g) * v.iter().map(|z| z.norm()).fold(0.0, f64::max));
    let gaussian = p.dephasing.iter().all(|&x| x == 0.0);
    let row = moments::row_at(p, &v, gaussian);
    Ok(Steady {
        row,
        exists: true,
        growth_rate: growth,
        residual: res,
        iterations: 0,
        rho: None,
        note: "direct solve of the moment equations (means and Lyapunov equation)".into(),
        wall_time_s: 0.0,
    })
}

#[cfg(test)]
mod tests;

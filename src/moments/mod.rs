//! Exact three-mode first moments (PHYSICS.md §2): because H is quadratic and
//! every jump operator is linear, x = (⟨a⟩, ⟨b⟩, ⟨c⟩) obeys dx/dt = −M x + f
//! exactly, at any temperature (thermal baths add noise, not drift).

use crate::linalg::{self, CMat};
use crate::model::MicroParams;
use num_complex::Complex64 as C64;

/// Drift matrix M and drive f = (−iE, 0, 0) of the means. Thermal pairs
/// √(κ(1+n))L and √(κn)L† contribute κ(1+n)/2 − κn/2 = κ/2 to the damping,
/// independent of n.
pub fn drift(p: &MicroParams) -> (CMat<3>, [C64; 3]) {
    let g = p.gamma;
    let i = C64::new(0.0, 1.0);
    let mut m = linalg::zeros::<3>();
    m[0][0] = i * p.delta[0] + 0.5 * (p.kappa[0] + g * p.p_a.norm_sqr());
    m[1][1] = i * p.delta[1] + 0.5 * (p.kappa[1] + g * p.p_b.norm_sqr());
    m[2][2] = i * p.delta[2] + 0.5 * (p.kappa[2] + g * p.p_ca.norm_sqr() + g * p.p_cb.norm_sqr());
    m[0][2] = 0.5 * g * p.p_a.conj() * p.p_ca;
    m[2][0] = m[0][2].conj();
    m[1][2] = 0.5 * g * p.p_b.conj() * p.p_cb;
    m[2][1] = m[1][2].conj();
    (m, [-i * p.drive, C64::new(0.0, 0.0), C64::new(0.0, 0.0)])
}

/// Means at each time from x(t0 = times[0]) = x0, through the exponential of
/// the augmented drift [[−M, f], [0, 0]] (exact; any M, singular or defective).
pub fn means(p: &MicroParams, x0: [C64; 3], times: &[f64]) -> Vec<[C64; 3]> {
    let (m, f) = drift(p);
    let t0 = times.first().copied().unwrap_or(0.0);
    times
        .iter()
        .map(|&t| {
            let dt = t - t0;
            let mut aug = linalg::zeros::<4>();
            for r in 0..3 {
                for c in 0..3 {
                    aug[r][c] = -m[r][c] * dt;
                }
                aug[r][3] = f[r] * dt;
            }
            let e = linalg::expm(&aug);
            let mut x = [C64::new(0.0, 0.0); 3];
            for r in 0..3 {
                x[r] = e[r][3] + (0..3).map(|c| e[r][c] * x0[c]).sum::<C64>();
            }
            x
        })
        .collect()
}

//! The paper's closed forms for the battery energy, each valid in its own
//! regime. They are kept separate from the general path ([`super::ReducedModel`])
//! so that tests can hold the two against each other; they use the paper's drive
//! convention (+E_r), which changes b by a global phase only.
//!
//! Notation: γ = γ_a = γ_b (α = 0), 𝒦 = δ_r² + γ² − 1, τ reduced time.

use num_complex::Complex64 as C64;

const I: C64 = C64 { re: 0.0, im: 1.0 };

/// 𝒦 = δ_r² + γ² − 1 (paper, after Eq. 5).
pub fn k_factor(gamma: f64, delta_r: f64) -> f64 {
    delta_r * delta_r + gamma * gamma - 1.0
}

/// Eq. (3)/(30): E_B(τ) for distinct eigenvalues λ₊ ≠ λ₋ (any α, δ_r).
pub fn eq3_energy(lambda_plus: C64, lambda_minus: C64, drive_r: f64, tau: f64) -> f64 {
    let (lp, lm) = (lambda_plus, lambda_minus);
    let num = lp * (-I * lm * tau).exp() - lm * (-I * lp * tau).exp() - (lp - lm);
    let den = lp * lm * (lp - lm);
    drive_r * drive_r * (num / den).norm_sqr()
}

/// Eq. (29): b(τ) at the exceptional point, λ₀ = −iγ (paper's drive convention).
pub fn eq29_b_at_ep(gamma: f64, drive_r: f64, tau: f64) -> C64 {
    let l0 = -I * gamma;
    drive_r * (I * (-I * l0 * tau).exp() / l0 * (tau - I / l0) - 1.0 / (l0 * l0))
}

/// Eq. (4): E_B(τ) = |b(τ)|² at the exceptional point (γ_a = γ_b = γ, δ_r = ±1).
pub fn eq4_energy_at_ep(gamma: f64, drive_r: f64, tau: f64) -> f64 {
    eq29_b_at_ep(gamma, drive_r, tau).norm_sqr()
}

/// Long-time limit of Eq. (4): E_r²/γ⁴.
pub fn eq4_limit(gamma: f64, drive_r: f64) -> f64 {
    (drive_r / (gamma * gamma)).powi(2)
}

/// Eq. (5): α = 0, |δ_r| > 1 (oscillatory, Ω = √(δ_r² − 1) real).
pub fn eq5_energy(gamma: f64, delta_r: f64, drive_r: f64, tau: f64) -> f64 {
    let om = (delta_r * delta_r - 1.0).sqrt();
    let k = k_factor(gamma, delta_r);
    let bracket = 1.0 - (-gamma * tau).exp() / om * (gamma * (om * tau).sin() + om * (om * tau).cos());
    (drive_r / k).powi(2) * bracket * bracket
}

/// Steady state of Eqs. (5)/(6) in the unbroken phase: (E_r/𝒦)².
pub fn steady_energy(gamma: f64, delta_r: f64, drive_r: f64) -> f64 {
    (drive_r / k_factor(gamma, delta_r)).powi(2)
}

/// Eq. (6): α = 0, |δ_r| < 1 (hyperbolic, |Ω| = √(1 − δ_r²)); broken iff |Ω| > γ.
pub fn eq6_energy(gamma: f64, delta_r: f64, drive_r: f64, tau: f64) -> f64 {
    let om = (1.0 - delta_r * delta_r).sqrt();
    let k = k_factor(gamma, delta_r);
    let bracket =
        1.0 - (-gamma * tau).exp() / om * (gamma * (om * tau).sinh() + om * (om * tau).cosh());
    (drive_r / k).powi(2) * bracket * bracket
}

/// Eq. (7)/(32): asymptote of Eq. (6) for τ ≫ 1/|Ω| in the broken phase.
pub fn eq7_energy(gamma: f64, delta_r: f64, drive_r: f64, tau: f64) -> f64 {
    let om = (1.0 - delta_r * delta_r).sqrt();
    (drive_r / k_factor(gamma, delta_r)).powi(2)
        * ((gamma + om) / (2.0 * om)).powi(2)
        * (2.0 * (om - gamma) * tau).exp()
}

/// Eq. (33): the paper's asymptotic estimate of the critical time at which
/// E_B reaches `e_max` (α = 0, |δ_r| < 1). Only meaningful deep in the broken
/// phase (|Ω| > γ and E_max ≫ E_scale); returned as computed so that reports
/// can show where it fails (it can be negative or infinite). NaN when
/// |δ_r| ≥ 1, where the formula has no real |Ω|.
pub fn eq33_t_crit(gamma: f64, delta_r: f64, drive_r: f64, e_max: f64) -> f64 {
    if delta_r.abs() >= 1.0 {
        return f64::NAN;
    }
    let om = (1.0 - delta_r * delta_r).sqrt();
    let k = k_factor(gamma, delta_r);
    let e_scale = drive_r * drive_r / (4.0 * k * k) * ((gamma + om) / om).powi(2);
    (e_max / e_scale).ln() / (2.0 * (om - gamma))
}

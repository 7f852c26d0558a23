//! The microscopic ↔ reduced parameter map (docs/physics.md §3, §5).
//!
//! Forward: the adiabatic elimination of the mediator c, i.e. the Schur
//! complement of the exact three-mode drift M, normalised to the coupling rate
//! g = Γ_eff·|μ_a μ_b| and brought to the paper's form by the gauge
//! b → b·e^{iφ}, φ = arg(μ_a μ_b*).
//!
//! Inverse: the family of docs/physics.md §6 that reaches every realizable reduced
//! point, at a requested elimination ratio r = |M_cc| / max(|M_aa|, |M_bb|).

use super::{MicroParams, ReducedParams};
use crate::linalg::CMat;
use crate::moments;
use num_complex::Complex64 as C64;

/// Why a map cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapError {
    #[error(
        "no effective coupling: mu_a*mu_b = {0} (mu_a = p_ca p_a*, mu_b = p_cb p_b*), so the mediator does not \
         connect charger and battery and the reduced model is undefined"
    )]
    NoCoupling(C64),
    #[error(
        "delta_c = {0}: the reduced two-mode model (docs/physics.md §3) assumes a resonant mediator (delta_c = 0); \
         with delta_c != 0 the induced coupling is not purely dissipative"
    )]
    DetunedMediator(f64),
    #[error(
        "gamma_a*gamma_b = {product:.6} < 1: no passive three-mode system (kappa >= 0) produces this point \
         (docs/physics.md §6); the nearest realizable point at the same delta_r and alpha is gamma_a = {near_a:.6}, \
         gamma_b = {near_b:.6}"
    )]
    NotRealizable { product: f64, near_a: f64, near_b: f64 },
    #[error(
        "model.{0} is non-zero: the reduced two-mode model is the paper's linear model and has no such term \
         (docs/physics.md §10), so the elimination is not defined here"
    )]
    ExtraTerm(&'static str),
    #[error("elimination ratio {0} must be a finite number > 0")]
    BadRatio(f64),
}

/// The forward map of one microscopic point.
#[derive(Debug, Clone, PartialEq)]
pub struct ReducedMap {
    /// Exact three-mode drift of the means (docs/physics.md §2).
    pub drift: CMat<3>,
    /// Γ_eff = (Γ/2)²/M_cc (Lindblad-rate units of the config).
    pub gamma_eff: f64,
    pub mu_a: C64,
    pub mu_b: C64,
    /// Coupling rate g = Γ_eff·|μ_a μ_b|: the reduced time unit is 1/g.
    pub g: f64,
    /// φ = arg(μ_a μ_b*); b_reduced = e^{iφ}·b.
    pub gauge_phase: f64,
    /// The reduced point in units of g.
    pub reduced: ReducedParams,
    /// r = |M_cc| / max(|M_aa|, |M_bb|): the reduction error falls like 1/r.
    pub ratio: f64,
}

/// Elimination ratio of a drift matrix.
pub fn elimination_ratio(m: &CMat<3>) -> f64 {
    m[2][2].norm() / m[0][0].norm().max(m[1][1].norm())
}

/// Microscopic → reduced (adiabatic elimination of c).
pub fn to_reduced(p: &MicroParams) -> Result<ReducedMap, MapError> {
    if let Some(t) = p.extra_terms().first() {
        return Err(MapError::ExtraTerm(t.key()));
    }
    if p.delta[2] != 0.0 {
        return Err(MapError::DetunedMediator(p.delta[2]));
    }
    let (m, _) = moments::drift(p);
    let mu_a = p.p_ca * p.p_a.conj();
    let mu_b = p.p_cb * p.p_b.conj();
    let prod = mu_a * mu_b;
    let m_cc = m[2][2].re; // real for δ_c = 0
    if prod.norm() == 0.0 || p.gamma == 0.0 || !(m_cc > 0.0) {
        return Err(MapError::NoCoupling(prod));
    }
    let gamma_eff = (0.5 * p.gamma).powi(2) / m_cc;
    let g = gamma_eff * prod.norm();
    // R_jj = M_jj − Γ_eff |μ_j|² (Schur complement, diagonal).
    let r_aa = m[0][0] - gamma_eff * mu_a.norm_sqr();
    let r_bb = m[1][1] - gamma_eff * mu_b.norm_sqr();
    let reduced = ReducedParams {
        gamma_a: r_aa.re / g,
        gamma_b: r_bb.re / g,
        delta_ra: r_aa.im / g,
        delta_rb: r_bb.im / g,
        drive_r: p.drive / g,
    };
    Ok(ReducedMap {
        drift: m,
        gamma_eff,
        mu_a,
        mu_b,
        g,
        gauge_phase: (mu_a * mu_b.conj()).arg(),
        reduced,
        ratio: elimination_ratio(&m),
    })
}

/// The realizable point on γ_a γ_b = 1 with the same α = (γ_a − γ_b)/2:
/// γ_b = −α + √(α² + 1), γ_a = γ_b + 2α.
pub fn nearest_realizable(r: &ReducedParams) -> (f64, f64) {
    let alpha = r.alpha();
    let gb = -alpha + (alpha * alpha + 1.0).sqrt();
    (gb + 2.0 * alpha, gb)
}

/// Reduced → microscopic at elimination ratio `ratio`, by the family of
/// docs/physics.md §6 in the time unit 1/g (g = 1): q = u²/v² = √(γ_a/γ_b), v = 1,
/// p_a = u/s, p_ca = s/u, p_b = v/s, p_cb = s/v (μ_a = μ_b = 1), M_cc = Γ²/4
/// (Γ_eff = 1), s² = Γ/w with w in the middle of its allowed interval (all κ
/// strictly positive when the interval is not a point), δ_a,b = δ_ra,rb,
/// δ_c = 0, E = E_r. Since |M_aa| = |γ_a + 1 + iδ_ra| does not depend on Γ,
/// Γ = 2√(r·max(|M_aa|, |M_bb|)) gives the ratio exactly.
pub fn from_reduced(r: &ReducedParams, ratio: f64, cutoffs: [usize; 3]) -> Result<MicroParams, MapError> {
    if !(ratio.is_finite() && ratio > 0.0) {
        return Err(MapError::BadRatio(ratio));
    }
    let (ga, gb) = (r.gamma_a, r.gamma_b);
    if !r.realizability().is_realizable() {
        let (near_a, near_b) = nearest_realizable(r);
        return Err(MapError::NotRealizable { product: ga * gb, near_a, near_b });
    }
    let q = (ga / gb).sqrt();
    let (u2, v2) = (q, 1.0);
    let m_aa = C64::new(ga + 1.0, r.delta_ra).norm();
    let m_bb = C64::new(gb + 1.0, r.delta_rb).norm();
    let gamma = 2.0 * (ratio * m_aa.max(m_bb)).sqrt();
    let w_lo = 2.0 * (1.0 / u2 + 1.0 / v2);
    let w_hi = (2.0 * (ga + 1.0) / u2).min(2.0 * (gb + 1.0) / v2);
    let w = 0.5 * (w_lo + w_hi.max(w_lo));
    let s2 = gamma / w;
    let (u, v, s) = (u2.sqrt(), v2.sqrt(), s2.sqrt());
    let clamp0 = |x: f64| if x < 0.0 && x > -1e-12 * gamma * gamma { 0.0 } else { x };
    let kappa = [
        clamp0(2.0 * (ga + 1.0) - gamma * u2 / s2),
        clamp0(2.0 * (gb + 1.0) - gamma * v2 / s2),
        clamp0(0.5 * gamma * gamma - gamma * s2 * (1.0 / u2 + 1.0 / v2)),
    ];
    Ok(MicroParams {
        cutoffs,
        delta: [r.delta_ra, r.delta_rb, 0.0],
        drive: r.drive_r,
        kappa,
        gamma,
        p_a: C64::new(u / s, 0.0),
        p_b: C64::new(v / s, 0.0),
        p_ca: C64::new(s / u, 0.0),
        p_cb: C64::new(s / v, 0.0),
        ..MicroParams::linear(cutoffs)
    })
}

#[cfg(test)]
mod tests;

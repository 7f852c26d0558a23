//! Quantum-battery figures of merit of a single-mode state `ρ_m` (`n × n`,
//! row-major) with Hamiltonian `H = n̂` (energies in units of ħω).
//!
//! * energy      `E = Tr(ρ n̂) = Σ_k k Re ρ_kk`
//! * ergotropy   `ε = E − Σ_k r_k↓ k` (eigenvalues sorted descending, matched
//!   to `k = 0, 1, 2, …`: the passive state puts the largest weights on the
//!   lowest levels)
//! * entropy     `S = −Σ_{r>0} r ln r` (natural log; eigenvalues ≤ 0 skipped)
//! * purity      `Tr ρ² = Σ_{mn} |ρ_mn|²` (exact for Hermitian ρ)
//!
//! No renormalisation is applied: if `Tr ρ_m ≠ 1` (truncation leakage) the
//! numbers refer to the unnormalised matrix.

use super::hermitian_eigenvalues;
use num_complex::Complex64 as C64;

/// Relative tolerance below which a negative ergotropy is treated as round-off
/// and clamped to zero.
pub const ERGOTROPY_CLAMP_REL: f64 = 1e-14;

#[track_caller]
fn check(rho_m: &[C64], n: usize) {
    assert_eq!(
        rho_m.len(),
        n * n,
        "single-mode matrix has {} entries, expected n² = {}",
        rho_m.len(),
        n * n
    );
}

/// Battery figures of merit of one mode, from a single eigen-decomposition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModeMetrics {
    /// `Tr(ρ n̂)`.
    pub energy: f64,
    /// `Tr(ρ n̂) − Tr(ρ_passive n̂)`.
    pub ergotropy: f64,
    /// von Neumann entropy `−Tr ρ ln ρ` (nats).
    pub entropy: f64,
    /// `Tr ρ²`.
    pub purity: f64,
}

impl ModeMetrics {
    /// All four metrics of the `n × n` single-mode matrix `rho_m`, with one
    /// call to the Hermitian eigensolver.
    pub fn compute(rho_m: &[C64], n: usize) -> Self {
        check(rho_m, n);
        let eig = hermitian_eigenvalues(rho_m, n);
        let e = energy(rho_m, n);
        Self {
            energy: e,
            ergotropy: ergotropy_from_parts(e, &eig),
            entropy: entropy_from_eigenvalues(&eig),
            purity: purity(rho_m, n),
        }
    }
}

/// `Tr(ρ n̂) = Σ_k k Re ρ_kk`.
pub fn energy(rho_m: &[C64], n: usize) -> f64 {
    check(rho_m, n);
    (0..n).map(|k| k as f64 * rho_m[k * (n + 1)].re).sum()
}

/// `Tr ρ² = Σ_{mn} |ρ_mn|²`.
pub fn purity(rho_m: &[C64], n: usize) -> f64 {
    check(rho_m, n);
    rho_m.iter().map(|z| z.norm_sqr()).sum()
}

/// Energy of the passive state with the given spectrum (any order):
/// `Σ_k r_k↓ k` with the eigenvalues sorted in descending order.
pub fn passive_energy_from_eigenvalues(eigenvalues: &[f64]) -> f64 {
    let mut r = eigenvalues.to_vec();
    r.sort_by(|a, b| b.total_cmp(a)); // descending
    r.iter().enumerate().map(|(k, &rk)| k as f64 * rk).sum()
}

/// Ergotropy from the energy and the spectrum (any order). A negative result
/// within `ERGOTROPY_CLAMP_REL · max(1, |E|, |E_passive|)` of zero is clamped to
/// 0 (round-off); larger negative values are returned as they are (they flag a
/// non-physical state).
pub fn ergotropy_from_parts(energy: f64, eigenvalues: &[f64]) -> f64 {
    let ep = passive_energy_from_eigenvalues(eigenvalues);
    let erg = energy - ep;
    let scale = 1.0f64.max(energy.abs()).max(ep.abs());
    if erg < 0.0 && erg >= -ERGOTROPY_CLAMP_REL * scale {
        0.0
    } else {
        erg
    }
}

/// `−Σ_{r>0} r ln r` over the given eigenvalues (eigenvalues ≤ 0 skipped).
pub fn entropy_from_eigenvalues(eigenvalues: &[f64]) -> f64 {
    eigenvalues
        .iter()
        .filter(|&&r| r > 0.0)
        .map(|&r| -r * r.ln())
        .sum()
}

/// Passive-state energy `Σ_k r_k↓ k` of `rho_m`.
pub fn passive_energy(rho_m: &[C64], n: usize) -> f64 {
    check(rho_m, n);
    passive_energy_from_eigenvalues(&hermitian_eigenvalues(rho_m, n))
}

/// Ergotropy `Tr(ρ n̂) − Σ_k r_k↓ k` of `rho_m` (see [`ergotropy_from_parts`]
/// for the round-off clamp).
pub fn ergotropy(rho_m: &[C64], n: usize) -> f64 {
    check(rho_m, n);
    ergotropy_from_parts(energy(rho_m, n), &hermitian_eigenvalues(rho_m, n))
}

/// von Neumann entropy `−Tr ρ ln ρ` (nats) of `rho_m`.
pub fn von_neumann_entropy(rho_m: &[C64], n: usize) -> f64 {
    check(rho_m, n);
    entropy_from_eigenvalues(&hermitian_eigenvalues(rho_m, n))
}

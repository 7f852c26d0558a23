//! The paper's adiabatically eliminated two-mode model (docs/physics.md §3–§4).
//!
//! Time is the reduced time τ = g t. Drive convention: `H = … + E(a + a†)` gives
//! `d⟨a⟩/dτ = … − iE_r`, the same convention as the master equation and the
//! moment equations. The paper writes `+E_r` instead; its a(τ), b(τ) (Eqs. 29,
//! 30) are ours times `i`, a global phase that leaves every energy unchanged.
//!
//! The general path is the exact solution through the matrix exponential of the
//! drive-augmented 3×3 drift ([`crate::linalg::expm`]); it is valid for any δ_ra,
//! δ_rb, at and near exceptional points and on the singular set det(H_r) = 0,
//! where eigen-decomposition formulas divide by zero. The paper's closed forms
//! live in [`closed_form`] and are tested against it.

pub mod closed_form;
pub mod critical;
pub mod phase_diagram;

use crate::linalg::{self, CMat};
use crate::model::map::ReducedMap;
use crate::model::ReducedParams;
use num_complex::Complex64 as C64;

const I: C64 = C64 { re: 0.0, im: 1.0 };

/// Eigenvalues of H_r in the paper's labelling (Eq. 21).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spectrum {
    /// λ₊ = c + Ω, the eigenvalue with the larger growth rate Im λ = Re[−iλ].
    pub lambda_plus: C64,
    /// λ₋ = c − Ω.
    pub lambda_minus: C64,
    /// Half the eigenvalue splitting, Ω = i·√(−D) with the principal root, so
    /// Im Ω ≥ 0. For δ_ra = −δ_rb this is the paper's Ω = i√(1 + (α + iδ_r)²).
    pub omega: C64,
}

impl Spectrum {
    /// Spectrum of H_r = [[h11, i], [i, h22]].
    pub fn of(p: &ReducedParams) -> Self {
        let h11 = C64::new(p.delta_ra, -p.gamma_a);
        let h22 = C64::new(p.delta_rb, -p.gamma_b);
        let centre = 0.5 * (h11 + h22);
        let half_diff = 0.5 * (h11 - h22);
        // D = ((h11 − h22)/2)² + h12·h21 with h12·h21 = i·i = −1.
        let d = half_diff * half_diff - 1.0;
        let omega = I * (-d).sqrt();
        Self { lambda_plus: centre + omega, lambda_minus: centre - omega, omega }
    }

    /// Growth rate Re[−iλ₊] = Im λ₊ of the amplitudes (energy grows at twice it).
    pub fn growth_rate(&self) -> f64 {
        self.lambda_plus.im
    }
}

/// The dynamical phase of a reduced point (paper: unbroken Re[−iλ₊] < 0,
/// broken Re[−iλ₊] > 0, exceptional point Ω = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Unbroken,
    ExceptionalPoint,
    /// On the phase boundary, Re[−iλ₊] = 0 within [`Phase::GROWTH_TOL`]: an
    /// undamped eigenmode; the energy neither saturates nor grows exponentially.
    Marginal,
    Broken,
}

impl Phase {
    /// |Ω|² ≤ EP_TOL flags an exceptional point. |Ω|² = |D| is linear in the
    /// distance to the EP in parameter space, so this is a distance of ~1e-12;
    /// Ω itself (the eigenvalue splitting) is then ≤ 1e-6.
    pub const EP_TOL: f64 = 1e-12;
    /// |Re[−iλ₊]| ≤ GROWTH_TOL is the phase boundary (round-off level for O(1) rates).
    pub const GROWTH_TOL: f64 = 1e-12;

    pub fn classify(s: &Spectrum) -> Self {
        let g = s.growth_rate();
        if s.omega.norm_sqr() <= Self::EP_TOL {
            Phase::ExceptionalPoint
        } else if g > Self::GROWTH_TOL {
            Phase::Broken
        } else if g < -Self::GROWTH_TOL {
            Phase::Unbroken
        } else {
            Phase::Marginal
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Unbroken => "unbroken",
            Phase::ExceptionalPoint => "exceptional_point",
            Phase::Marginal => "marginal",
            Phase::Broken => "broken",
        }
    }

    /// The code table written beside every phase code in the output files.
    pub const CODES: &'static str = "-1 unbroken, 0 marginal (Re[-i lambda_+] = 0), 1 broken, 2 exceptional point";

    /// The one encoding of a phase in the output files (see [`Self::CODES`]):
    /// −1 unbroken, 0 marginal, 1 broken, 2 exceptional point.
    pub fn code(&self) -> i8 {
        match self {
            Phase::Unbroken => -1,
            Phase::Marginal => 0,
            Phase::Broken => 1,
            Phase::ExceptionalPoint => 2,
        }
    }
}

/// Amplitudes (a, b) of the reduced model at one time.
pub type State = [C64; 2];

/// Time series of the reduced model on a grid of reduced times.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    pub tau: Vec<f64>,
    pub a: Vec<C64>,
    pub b: Vec<C64>,
    /// E_B = |b|² (units of ħω_b).
    pub energy_b: Vec<f64>,
    /// P_B = dE_B/dτ = 2 Re(b* db/dτ), from the equations of motion.
    pub power_b: Vec<f64>,
}

/// The reduced model at one parameter point.
#[derive(Debug, Clone)]
pub struct ReducedModel {
    pub params: ReducedParams,
    /// Drift A = iH_r: (d/dτ) x = −A x + f.
    drift: CMat<2>,
    /// Drive f = (−iE_r, 0).
    force: State,
    pub spectrum: Spectrum,
    pub phase: Phase,
}

impl ReducedModel {
    pub fn new(params: ReducedParams) -> Self {
        let h = [
            [C64::new(params.delta_ra, -params.gamma_a), I],
            [I, C64::new(params.delta_rb, -params.gamma_b)],
        ];
        let drift = linalg::scale(&h, I);
        let spectrum = Spectrum::of(&params);
        let phase = Phase::classify(&spectrum);
        Self { params, drift, force: [-I * params.drive_r, C64::new(0.0, 0.0)], spectrum, phase }
    }

    /// Time derivative of the amplitudes, −A x + f.
    pub fn derivative(&self, x: &State) -> State {
        let ax = linalg::matvec(&self.drift, x);
        [self.force[0] - ax[0], self.force[1] - ax[1]]
    }

    /// Charging power P_B = dE_B/dτ = 2 Re(b* ḃ) at state x.
    pub fn power(&self, x: &State) -> f64 {
        2.0 * (x[1].conj() * self.derivative(x)[1]).re
    }

    /// Exact propagator over a span dτ: x(τ + dτ) = Φ x(τ) + ψ, from the
    /// exponential of the augmented drift [[−A, f], [0, 0]]·dτ.
    fn propagator(&self, dtau: f64) -> (CMat<2>, State) {
        let mut aug = linalg::zeros::<3>();
        for i in 0..2 {
            for j in 0..2 {
                aug[i][j] = -self.drift[i][j] * dtau;
            }
            aug[i][2] = self.force[i] * dtau;
        }
        let e = linalg::expm(&aug);
        ([[e[0][0], e[0][1]], [e[1][0], e[1][1]]], [e[0][2], e[1][2]])
    }

    /// The state at reduced time τ from x(0) = x0 (exact, any parameters).
    pub fn state_at(&self, tau: f64, x0: &State) -> State {
        let (phi, psi) = self.propagator(tau);
        linalg_step(&phi, &psi, x0)
    }

    /// Battery energy E_B(τ) = |b(τ)|² from the vacuum.
    pub fn energy_at(&self, tau: f64) -> f64 {
        self.state_at(tau, &[C64::new(0.0, 0.0); 2])[1].norm_sqr()
    }

    /// Trajectory from x(0) = x0 on an increasing grid of reduced times.
    ///
    /// On a uniform grid (the usual `linspace` saves) each save is reached from
    /// the previous one by the exact one-step propagator, so a series costs one
    /// 2×2 product per point; round-off then grows at most linearly in the number
    /// of points (≈1e-12 relative at 10⁵ points). Non-uniform grids evaluate each
    /// time directly.
    pub fn trajectory(&self, tau: &[f64], x0: &State) -> Trajectory {
        let n = tau.len();
        let mut states = Vec::with_capacity(n);
        let uniform = n > 2 && {
            let h = (tau[n - 1] - tau[0]) / (n - 1) as f64;
            tau.iter()
                .enumerate()
                .all(|(k, &t)| (t - (tau[0] + k as f64 * h)).abs() <= 1e-12 * tau[n - 1].abs().max(1.0))
        };
        if uniform {
            let h = (tau[n - 1] - tau[0]) / (n - 1) as f64;
            let (phi, psi) = self.propagator(h);
            let mut x = self.state_at(tau[0], x0);
            for _ in 0..n {
                states.push(x);
                x = linalg_step(&phi, &psi, &x);
            }
        } else {
            states.extend(tau.iter().map(|&t| self.state_at(t, x0)));
        }
        Trajectory {
            tau: tau.to_vec(),
            a: states.iter().map(|x| x[0]).collect(),
            b: states.iter().map(|x| x[1]).collect(),
            energy_b: states.iter().map(|x| x[1].norm_sqr()).collect(),
            power_b: states.iter().map(|x| self.power(x)).collect(),
        }
    }

    /// The steady state x_ss = A⁻¹ f, when every eigenmode decays (unbroken
    /// phase, or an EP with γ > 0). `None` in the broken and marginal phases.
    pub fn steady_state(&self) -> Option<State> {
        if self.spectrum.growth_rate() < -Phase::GROWTH_TOL {
            linalg::solve(&self.drift, &self.force)
        } else {
            None
        }
    }
}

/// One exact step x ↦ Φ x + ψ of the propagator from [`ReducedModel::propagator`].
fn linalg_step(phi: &CMat<2>, psi: &State, x: &State) -> State {
    let y = linalg::matvec(phi, x);
    [y[0] + psi[0], y[1] + psi[1]]
}

/// `n` evenly spaced points from `start` to `stop` inclusive (n ≥ 2), or `[start]` for n = 1.
pub fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let h = (stop - start) / (n - 1) as f64;
            (0..n).map(|k| if k == n - 1 { stop } else { start + k as f64 * h }).collect()
        }
    }
}

#[cfg(test)]
mod tests;

/// The reduced model of a `[model]` point (its map `m`) from the vacuum at the
/// microscopic `times`, back in the microscopic description: τ = g·t, the
/// battery amplitude in the microscopic gauge b = e^{−iφ} b_red, and the
/// power per microscopic time unit, d/dt = g d/dτ (docs/physics.md §3).
pub fn microscopic_trajectory(m: &ReducedMap, times: &[f64]) -> (ReducedModel, Trajectory) {
    let model = ReducedModel::new(m.reduced);
    let tau: Vec<f64> = times.iter().map(|t| m.g * t).collect();
    let mut traj = model.trajectory(&tau, &[C64::new(0.0, 0.0); 2]);
    let phase = C64::from_polar(1.0, -m.gauge_phase);
    traj.b.iter_mut().for_each(|b| *b *= phase);
    traj.power_b.iter_mut().for_each(|pw| *pw *= m.g);
    (model, traj)
}

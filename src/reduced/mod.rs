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
use crate::model::{MicroParams, ReducedParams};
use crate::protocol::exact::{Exact, LinearModel};
use crate::protocol::{self, Outcome, Params, Protocol};
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trajectory {
    pub tau: Vec<f64>,
    pub a: Vec<C64>,
    pub b: Vec<C64>,
    /// E_B = |b|² (units of ħω_b).
    pub energy_b: Vec<f64>,
    /// P_B = dE_B/dτ = 2 Re(b* db/dτ), from the equations of motion.
    pub power_b: Vec<f64>,
    /// W = ∫ P_in dτ, P_in = −2E_r Im a: the work done by the drive (units of ħω).
    pub work_in: Vec<f64>,
    /// E_B / W where W > 0, NaN elsewhere.
    pub efficiency_b: Vec<f64>,
}

impl Trajectory {
    /// Appends the sample of state vector v (layout [`FLOW`]) at time `t`
    /// (in the time unit of the model's generator).
    fn push(&mut self, m: &ReducedModel, t: f64, v: &[C64; FLOW]) {
        self.push_raw(t, [v[0], v[1]], m.power(&[v[0], v[1]]), -2.0 * v[U].im);
    }

    fn push_raw(&mut self, tau: f64, x: State, power: f64, w: f64) {
        let e = x[1].norm_sqr();
        self.tau.push(tau);
        self.a.push(x[0]);
        self.b.push(x[1]);
        self.energy_b.push(e);
        self.power_b.push(power);
        self.work_in.push(w);
        self.efficiency_b.push(crate::observables::series::per_work(e, w));
    }

    /// The value of real observable `name` (see [`Self::observables`]) in row `k`.
    pub fn value(&self, name: &str, k: usize) -> Option<f64> {
        let col = match name {
            "energy_b" => &self.energy_b,
            "power_b" => &self.power_b,
            "work_in" => &self.work_in,
            "efficiency_b" => &self.efficiency_b,
            _ => return None,
        };
        col.get(k).copied()
    }

    pub fn len(&self) -> usize {
        self.tau.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tau.is_empty()
    }

    /// The names of the real observables an event may watch.
    pub fn observables() -> &'static [&'static str] {
        &["energy_b", "power_b", "work_in", "efficiency_b"]
    }
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

    /// Generator G of dv/dτ = G v for v = (a, b, 1, u, τ) (layout [`FLOW`]):
    /// the amplitudes, the constant that carries the drive, u = ∫ E_r a dτ
    /// (the work is W = −2 Im u, docs/physics.md §11) and the time itself.
    pub fn generator(&self) -> CMat<FLOW> {
        let mut g = linalg::zeros::<FLOW>();
        for i in 0..2 {
            for j in 0..2 {
                g[i][j] = -self.drift[i][j];
            }
            g[i][ONE] = self.force[i];
        }
        g[U][0] = C64::new(self.params.drive_r, 0.0);
        g[TAU][ONE] = C64::new(1.0, 0.0);
        g
    }

    /// Exact propagator over a span dτ: x(τ + dτ) = Φ x(τ) + ψ, from the
    /// exponential of the augmented drift [[−A, f], [0, 0]]·dτ.
    pub(crate) fn propagator(&self, dtau: f64) -> (CMat<2>, State) {
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

    /// The state vector at reduced time τ from x(0) = x0 (exact, any parameters).
    fn vector_at(&self, tau: f64, x0: &State) -> [C64; FLOW] {
        let e = linalg::expm(&linalg::scale(&self.generator(), C64::new(tau, 0.0)));
        linalg::matvec(&e, &start_vector(x0))
    }

    /// The state at reduced time τ from x(0) = x0 (exact, any parameters).
    pub fn state_at(&self, tau: f64, x0: &State) -> State {
        let v = self.vector_at(tau, x0);
        [v[0], v[1]]
    }

    /// Battery energy E_B(τ) = |b(τ)|² from the vacuum.
    pub fn energy_at(&self, tau: f64) -> f64 {
        self.state_at(tau, &[C64::new(0.0, 0.0); 2])[1].norm_sqr()
    }

    /// Trajectory from x(0) = x0 on an increasing grid of reduced times.
    ///
    /// On a uniform grid (the usual `linspace` saves) each save is reached from
    /// the previous one by the exact one-step propagator, so a series costs one
    /// small product per point; round-off then grows at most linearly in the number
    /// of points (≈1e-12 relative at 10⁵ points). Non-uniform grids evaluate each
    /// time directly.
    pub fn trajectory(&self, tau: &[f64], x0: &State) -> Trajectory {
        let n = tau.len();
        let mut out = Trajectory::default();
        let uniform = n > 2 && {
            let h = (tau[n - 1] - tau[0]) / (n - 1) as f64;
            tau.iter()
                .enumerate()
                .all(|(k, &t)| (t - (tau[0] + k as f64 * h)).abs() <= 1e-12 * tau[n - 1].abs().max(1.0))
        };
        if uniform {
            let h = (tau[n - 1] - tau[0]) / (n - 1) as f64;
            let phi = linalg::expm(&linalg::scale(&self.generator(), C64::new(h, 0.0)));
            let mut v = self.vector_at(tau[0], x0);
            for &t in tau {
                out.push(self, t, &v);
                v = linalg::matvec(&phi, &v);
            }
        } else {
            for &t in tau {
                out.push(self, t, &self.vector_at(t, x0));
            }
        }
        out
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
pub(crate) fn linalg_step(phi: &CMat<2>, psi: &State, x: &State) -> State {
    let y = linalg::matvec(phi, x);
    [y[0] + psi[0], y[1] + psi[1]]
}

/// Layout of the reduced state vector: a, b, the constant 1 (drive), the
/// work integral u, and the reduced time τ.
pub const FLOW: usize = 5;
const ONE: usize = 2;
const U: usize = 3;
const TAU: usize = 4;

fn start_vector(x0: &State) -> [C64; FLOW] {
    let z = C64::new(0.0, 0.0);
    [x0[0], x0[1], C64::new(1.0, 0.0), z, z]
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

/// The frame of a reduced point: its coupling rate g (the reduced time unit
/// is 1/g), the gauge phase φ of the battery (b = e^{−iφ} b_reduced) and the
/// point in units of g.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub g: f64,
    pub gauge_phase: f64,
    pub reduced: ReducedParams,
}

/// Parameters the reduced model can be derived from: a `[reduced]` point
/// itself (g = 1, no gauge) or a `[model]` point through the adiabatic
/// elimination (docs/physics.md §3).
pub trait AsReduced: Params + 'static {
    fn frame(&self) -> Result<Frame, String>;
}

impl AsReduced for ReducedParams {
    fn frame(&self) -> Result<Frame, String> {
        Ok(Frame { g: 1.0, gauge_phase: 0.0, reduced: *self })
    }
}

impl AsReduced for MicroParams {
    fn frame(&self) -> Result<Frame, String> {
        let m = crate::model::map::to_reduced(self).map_err(|e| e.to_string())?;
        Ok(Frame { g: m.g, gauge_phase: m.gauge_phase, reduced: m.reduced })
    }
}

/// The reduced model as a [`LinearModel`] in the time unit and gauge of its
/// parameters (microscopic for a `[model]` point: d/dt = g d/dτ, b = e^{−iφ}
/// b_reduced), so that a protocol step that changes g or φ keeps the physical
/// amplitudes continuous. The reduced time τ = ∫ g dt is carried along.
pub struct Flow<P> {
    pub traj: Trajectory,
    /// Sample times (the parameters' time unit).
    pub t: Vec<f64>,
    /// The samples at event firings, and their times.
    pub events: Trajectory,
    pub event_t: Vec<f64>,
    _p: std::marker::PhantomData<P>,
}

impl<P: AsReduced> LinearModel<FLOW> for Flow<P> {
    type P = P;
    fn generator(&self, p: &P) -> CMat<FLOW> {
        let Ok(f) = p.frame() else { return [[C64::new(f64::NAN, 0.0); FLOW]; FLOW] };
        let mut g = ReducedModel::new(f.reduced).generator();
        g[0][1] *= C64::from_polar(1.0, f.gauge_phase);
        g[1][0] *= C64::from_polar(1.0, -f.gauge_phase);
        linalg::scale(&g, C64::new(f.g, 0.0))
    }
    fn passive(&self) -> &'static [usize] {
        &[ONE, U, TAU]
    }
    fn observe(&self, p: &P, v: &[C64; FLOW], name: &str) -> f64 {
        let mut one = Trajectory::default();
        push_flow(&mut one, &self.generator(p), v);
        one.value(name, 0).unwrap_or(f64::NAN)
    }
    fn record(&mut self, p: &P, t: f64, v: &[C64; FLOW], at_event: bool) {
        let g = self.generator(p);
        if at_event {
            push_flow(&mut self.events, &g, v);
            self.event_t.push(t);
        } else {
            push_flow(&mut self.traj, &g, v);
            self.t.push(t);
        }
    }
}

/// A sample of the flow: P_B = 2 Re(b* db/dt) with db/dt = (G v)_b.
fn push_flow(tr: &mut Trajectory, g: &CMat<FLOW>, v: &[C64; FLOW]) {
    let db = (0..FLOW).map(|c| g[1][c] * v[c]).sum::<C64>();
    tr.push_raw(v[TAU].re, [v[0], v[1]], 2.0 * (v[1].conj() * db).re, -2.0 * v[U].im);
}

/// The reduced model under a protocol from the vacuum at `t0` to `t_end`
/// (times in the parameters' unit): the model of the first segment (for its
/// spectrum and phase), the samples at `times`, and what the protocol did
/// with the samples at its event firings.
pub fn solve_protocol<P: AsReduced>(
    proto: &Protocol<P>,
    t0: f64,
    t_end: f64,
    times: &[f64],
) -> Result<(ReducedModel, Trajectory, Fired), String> {
    let first = proto.params(&[])?.frame()?;
    let flow = Flow {
        traj: Trajectory::default(),
        t: Vec::new(),
        events: Trajectory::default(),
        event_t: Vec::new(),
        _p: std::marker::PhantomData,
    };
    let mut v0 = start_vector(&[C64::new(0.0, 0.0); 2]);
    v0[TAU] = C64::new(first.g * t0, 0.0);
    let mut engine = Exact::new(flow, v0);
    let out = protocol::drive(proto, &mut engine, t0, t_end, times)?;
    let f = engine.model;
    debug_assert!(f.t.iter().zip(times).all(|(a, b)| a == b));
    Ok((ReducedModel::new(first.reduced), f.traj, Fired { outcome: out, samples: f.events, t: f.event_t }))
}

/// What a protocol did, with the samples at its event firings (times `t`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fired {
    pub outcome: Outcome,
    pub samples: Trajectory,
    pub t: Vec<f64>,
}

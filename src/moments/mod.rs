//! Exact three-mode moments (docs/physics.md §2, §10): because H is quadratic
//! (detunings, drive, exchange) and every jump operator is linear — or a
//! number operator (dephasing), which keeps second moments closed — the means
//! x = (⟨a⟩, ⟨b⟩, ⟨c⟩) obey dx/dt = −M x + f and the second moments a linear
//! equation driven by them, exactly, at any temperature (thermal baths add
//! noise, not drift). Derivation: docs/moments.md.

use crate::linalg::{self, CMat};
use crate::model::{MicroParams, ModeState};
use crate::observables::{series::Series, ModeMetrics};
use crate::protocol::exact::{Exact, LinearModel};
use crate::protocol::{self, Outcome, Protocol};
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
    // Coherent exchange g_mn a_m†a_n + h.c.: d⟨a_m⟩/dt gains −i g_mn ⟨a_n⟩ and
    // d⟨a_n⟩/dt gains −i g_mn* ⟨a_m⟩ (quadratic: the equations stay closed).
    for (k, (a, b)) in [(0, 1), (0, 2), (1, 2)].into_iter().enumerate() {
        m[a][b] += i * p.exchange[k];
        m[b][a] += i * p.exchange[k].conj();
    }
    // Dephasing √γφ_j n_j: ⟨j⟩ decays at an extra γφ_j/2.
    for j in 0..3 {
        m[j][j] += 0.5 * p.dephasing[j];
    }
    (m, [-i * p.drive, C64::new(0.0, 0.0), C64::new(0.0, 0.0)])
}

/// Means at each time from `x(t0 = times[0]) = x0`, through the exponential of
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

/// Means and normal-ordered fluctuations of a product initial state
/// (untruncated: the moment equations live in the full Fock space).
pub fn initial_moments(init: &[ModeState; 3]) -> ([C64; 3], CMat<3>) {
    let mut x = [C64::new(0.0, 0.0); 3];
    let mut n = linalg::zeros::<3>();
    for (m, s) in init.iter().enumerate() {
        match *s {
            ModeState::Vacuum => {}
            ModeState::Coherent(z) => x[m] = z,
            ModeState::Fock(k) => n[m][m] = C64::new(k as f64, 0.0),
            ModeState::Thermal(nbar) => n[m][m] = C64::new(nbar, 0.0),
        }
    }
    (x, n)
}

/// Whether every mode starts in a Gaussian state, so the state stays Gaussian
/// (displaced, phase-insensitive: anomalous moments stay zero) and the battery's
/// ergotropy, entropy and purity follow from its mean and N_bb.
pub fn is_gaussian(init: &[ModeState; 3]) -> bool {
    init.iter().all(|s| !matches!(s, ModeState::Fock(k) if *k > 0))
}

/// The moments engine: ⟨a⟩, ⟨b⟩, ⟨c⟩, n_j = |⟨j⟩|² + N_jj, E_B, P_B, the
/// work W and the battery metrics at `times`, exactly, at a cost independent
/// of any cutoff (see [`Flow`] for the battery metrics).
pub fn solve(p: &MicroParams, init: &[ModeState; 3], times: &[f64]) -> Series {
    let (t0, t_end) = (times.first().copied().unwrap_or(0.0), times.last().copied().unwrap_or(0.0));
    match solve_protocol(&Protocol::constant(*p), init, t0, t_end, times) {
        Ok((s, _)) => s,
        Err(e) => unreachable!("a constant protocol cannot fail: {e}"),
    }
}

/// The moments engine under a protocol from the product state `init` at
/// `t0` to `t_end` (docs/physics.md §11): exact on every constant segment.
/// Returns the saves and the protocol's outcome, whose samples at the event
/// firings are [`Fired::samples`].
pub fn solve_protocol(
    proto: &Protocol<MicroParams>,
    init: &[ModeState; 3],
    t0: f64,
    t_end: f64,
    times: &[f64],
) -> Result<(Series, Fired), String> {
    let (x0, n0) = initial_moments(init);
    let first = proto.params(&[])?;
    let flow = Flow { gaussian: is_gaussian(init), dephased: false, series: Series::default(), events: Series::default() };
    let mut engine = Exact::new(flow, initial_vector(x0, n0));
    engine.model.dephased = first.dephasing.iter().any(|&g| g != 0.0);
    let out = protocol::drive(proto, &mut engine, t0, t_end, times)?;
    Ok((engine.model.series, Fired { outcome: out, samples: engine.model.events }))
}

/// What a protocol did, with the engine's samples at its event firings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fired {
    pub outcome: Outcome,
    pub samples: Series,
}

/// Layout of the moments state vector v: x_i at X + i, conj(x_i) at Y + i,
/// S_mn at S + 3m + n, the constant 1 at ONE, and u = ∫ E x_a dt at U (the
/// work is W = −2 Im u).
const X: usize = 0;
const Y: usize = 3;
const S: usize = 6;
pub const ONE: usize = 15;
pub const U: usize = 16;
/// Length of the moments state vector.
pub const STATE: usize = 17;

/// Initial moments vector from means x0 and fluctuations n0.
pub fn initial_vector(x0: [C64; 3], n0: CMat<3>) -> [C64; STATE] {
    let mut v0 = [C64::new(0.0, 0.0); STATE];
    for i in 0..3 {
        v0[X + i] = x0[i];
        v0[Y + i] = x0[i].conj();
        for j in 0..3 {
            v0[S + 3 * i + j] = n0[i][j] + x0[i].conj() * x0[j];
        }
    }
    v0[ONE] = C64::new(1.0, 0.0);
    v0
}

fn unpack(v: &[C64; STATE]) -> ([C64; 3], CMat<3>) {
    let x = [v[X], v[X + 1], v[X + 2]];
    let mut s = linalg::zeros::<3>();
    for i in 0..3 {
        for j in 0..3 {
            s[i][j] = v[S + 3 * i + j];
        }
    }
    (x, s)
}

/// The moments as a [`LinearModel`]: one sample per save, in a [`Series`].
pub struct Flow {
    /// Gaussian start (no Fock state > 0).
    pub gaussian: bool,
    /// Some segment has dephasing (the state is then not Gaussian).
    pub dephased: bool,
    pub series: Series,
    /// The samples at event firings.
    pub events: Series,
}

impl Flow {
    /// One row of the series at state v: for a Gaussian state without
    /// dephasing the battery's reduced state is a displaced thermal state
    /// with mean β = ⟨b⟩ and n̄ = N_bb, whose ergotropy is |β|²
    /// (docs/physics.md §7), entropy (n̄+1)ln(n̄+1) − n̄ ln n̄ and purity
    /// 1/(2n̄+1). For a non-Gaussian start (a Fock state) or with dephasing
    /// the means, occupations, power and work stay exact but those three are NaN.
    fn push(gaussian: bool, out: &mut Series, p: &MicroParams, t: f64, v: &[C64; STATE]) {
        let (x, s) = unpack(v);
        let (m, _) = drift(p);
        let q = noise(p);
        let numbers = [0, 1, 2].map(|j| s[j][j].re);
        // dE_B/dt = dS_bb/dt = (−M*S − S Mᵀ + Q)_bb + γφ_b S_bb (the drive
        // enters only the charger's row).
        let ds = q[1][1] + p.dephasing[1] * s[1][1]
            - (0..3).map(|k| m[1][k].conj() * s[k][1] + s[1][k] * m[1][k]).sum::<C64>();
        let nb = s[1][1].re - x[1].norm_sqr();
        let gaussian = gaussian && p.dephasing.iter().all(|&g| g == 0.0);
        let battery = if gaussian {
            let entropy = if nb > 0.0 { (nb + 1.0) * (nb + 1.0).ln() - nb * nb.ln() } else { 0.0 };
            ModeMetrics { energy: numbers[1], ergotropy: x[1].norm_sqr(), entropy, purity: 1.0 / (2.0 * nb + 1.0) }
        } else {
            ModeMetrics { energy: numbers[1], ergotropy: f64::NAN, entropy: f64::NAN, purity: f64::NAN }
        };
        out.push(t, x, numbers, ds.re, battery, -2.0 * v[U].im);
    }
}

/// The observables of the moments vector `v` as one row of a [`Series`]
/// (t = NaN), with the Gaussian battery metrics when `gaussian`.
pub fn row_at(p: &MicroParams, v: &[C64; STATE], gaussian: bool) -> Series {
    let mut one = Series::default();
    Flow::push(gaussian, &mut one, p, f64::NAN, v);
    one
}

impl LinearModel<STATE> for Flow {
    type P = MicroParams;
    fn generator(&self, p: &MicroParams) -> CMat<STATE> {
        generator(p)
    }
    fn passive(&self) -> &'static [usize] {
        &[ONE, U]
    }
    fn observe(&self, p: &MicroParams, v: &[C64; STATE], name: &str) -> f64 {
        let mut one = Series::default();
        Self::push(self.gaussian && !self.dephased, &mut one, p, 0.0, v);
        one.value(name, 0).unwrap_or(f64::NAN)
    }
    fn record(&mut self, p: &MicroParams, t: f64, v: &[C64; STATE], at_event: bool) {
        self.dephased |= p.dephasing.iter().any(|&g| g != 0.0);
        let gaussian = self.gaussian && !self.dephased;
        Self::push(gaussian, if at_event { &mut self.events } else { &mut self.series }, p, t, v);
    }
}

/// Whether the engine's battery metrics are exact for this model and start
/// (a Gaussian start and no dephasing): `/moments/@gaussian`.
pub fn stays_gaussian(p: &MicroParams, init: &[ModeState; 3]) -> bool {
    is_gaussian(init) && p.dephasing.iter().all(|&g| g == 0.0)
}

/// Noise matrix Q of the normal-ordered fluctuations: every gain-type jump
/// √r L† (the thermal partner of a decay √r' L, L = Σ u_j x_j) adds
/// Q_mn += r·u_m·conj(u_n). Decay-type jumps add none.
pub fn noise(p: &MicroParams) -> CMat<3> {
    let mut q = linalg::zeros::<3>();
    let z = C64::new(0.0, 0.0);
    let one = C64::new(1.0, 0.0);
    let baths: [(f64, [C64; 3]); 5] = [
        (p.kappa[0] * p.n_th[0], [one, z, z]),
        (p.kappa[1] * p.n_th[1], [z, one, z]),
        (p.kappa[2] * p.n_th[2], [z, z, one]),
        (p.gamma * p.n_th_shared[0], [p.p_a, z, p.p_ca]),
        (p.gamma * p.n_th_shared[1], [z, p.p_b, p.p_cb]),
    ];
    for (r, u) in baths {
        for m in 0..3 {
            for n in 0..3 {
                q[m][n] += r * u[m] * u[n].conj();
            }
        }
    }
    q
}

/// Normal-ordered fluctuations N_mn = ⟨x_m† x_n⟩ − ⟨x_m⟩*⟨x_n⟩ at each time
/// from means x(t0) = x0 and N(t0) = n0 (see [`raw_moments`]).
pub fn fluctuations(p: &MicroParams, x0: [C64; 3], n0: CMat<3>, times: &[f64]) -> Vec<CMat<3>> {
    raw_moments(p, x0, n0, times)
        .into_iter()
        .map(|(x, s)| {
            let mut n = s;
            for i in 0..3 {
                for j in 0..3 {
                    n[i][j] -= x[i].conj() * x[j];
                }
            }
            n
        })
        .collect()
}

/// Means x and raw second moments S_mn = ⟨x_m† x_n⟩ at each time from x(t0)
/// = x0 and N(t0) = n0, exactly. They obey (derivation in docs/moments.md)
///
///   dx/dt = −M x + f,
///   dS/dt = −M* S − S Mᵀ + Q + f* xᵀ + x* fᵀ + diag(γφ_m S_mm),
///
/// the last term undoing, on the diagonal, the dephasing decay that M puts on
/// every ⟨x_m† x_n⟩ (dephasing leaves occupations alone; it decays a
/// coherence ⟨x_m† x_n⟩, m ≠ n, at (γφ_m + γφ_n)/2). With x* as unknowns of
/// their own this is linear, so it is solved through the exponential of the
/// augmented 16×16 generator of (x, x*, vec(S), 1). Without dephasing the
/// fluctuations N = S − x* xᵀ obey dN/dt = −M* N − N Mᵀ + Q, independent of
/// the drive.
pub fn raw_moments(p: &MicroParams, x0: [C64; 3], n0: CMat<3>, times: &[f64]) -> Vec<([C64; 3], CMat<3>)> {
    let gen = generator(p);
    let v0 = initial_vector(x0, n0);
    let t0 = times.first().copied().unwrap_or(0.0);
    times
        .iter()
        .map(|&t| unpack(&linalg::matvec(&linalg::expm(&linalg::scale(&gen, C64::new(t - t0, 0.0))), &v0)))
        .collect()
}

/// The generator G of dv/dt = G v for the moments state vector (layout at
/// [`STATE`]): the equations of [`raw_moments`], plus du/dt = E x_a for the work.
pub fn generator(p: &MicroParams) -> CMat<STATE> {
    let (m, f) = drift(p);
    let q = noise(p);
    let mut gen = linalg::zeros::<STATE>();
    for i in 0..3 {
        for k in 0..3 {
            gen[X + i][X + k] = -m[i][k];
            gen[Y + i][Y + k] = -m[i][k].conj();
        }
        gen[X + i][ONE] = f[i];
        gen[Y + i][ONE] = f[i].conj();
    }
    for a in 0..3 {
        for b in 0..3 {
            let row = S + 3 * a + b;
            for k in 0..3 {
                gen[row][S + 3 * k + b] -= m[a][k].conj();
                gen[row][S + 3 * a + k] -= m[b][k];
            }
            gen[row][ONE] += q[a][b];
            gen[row][X + b] += f[a].conj();
            gen[row][Y + a] += f[b];
            if a == b {
                gen[row][row] += C64::new(p.dephasing[a], 0.0);
            }
        }
    }
    gen[U][X] = C64::new(p.drive, 0.0);
    gen
}

#[cfg(test)]
mod tests;

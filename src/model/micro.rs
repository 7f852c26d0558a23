//! Microscopic three-mode parameters and the model's operator terms
//! (docs/physics.md §1). Rates are Lindblad rates.

use super::ParamError;
use crate::space::{FockSpace, Operator};
use num_complex::Complex64 as C64;

/// Microscopic parameters of the charger a, battery b and mediator c.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MicroParams {
    /// Fock cutoffs [N_a, N_b, N_c] (levels 0..N−1).
    pub cutoffs: [usize; 3],
    /// Detunings [δ_a, δ_b, δ_c] from the drive (rotating frame).
    pub delta: [f64; 3],
    /// Drive amplitude E in H = E(a + a†).
    pub drive: f64,
    /// Local Lindblad rates [κ_a, κ_b, κ_c].
    pub kappa: [f64; 3],
    /// Shared-reservoir Lindblad rate Γ.
    pub gamma: f64,
    pub p_a: C64,
    pub p_b: C64,
    pub p_ca: C64,
    pub p_cb: C64,
    /// Mean occupations of the local baths [n_a, n_b, n_c].
    pub n_th: [f64; 3],
    /// Mean occupations of the shared baths [n_za, n_zb].
    pub n_th_shared: [f64; 2],
    /// Kerr nonlinearities [K_a, K_b, K_c]: H += Σ_j (K_j/2) j†j†j j.
    pub kerr: [f64; 3],
    /// Cross-Kerr couplings [K_ab, K_ac, K_bc]: H += K_ab n_a n_b + K_ac n_a n_c + K_bc n_b n_c.
    pub cross_kerr: [f64; 3],
    /// Coherent exchange [g_ab, g_ac, g_bc]: H += g_ab a†b + g_ab* b†a (likewise ac, bc).
    pub exchange: [C64; 3],
    /// Dephasing rates [γφ_a, γφ_b, γφ_c] (Lindblad rates): jumps √γφ_j j†j.
    pub dephasing: [f64; 3],
}

/// A term of the model beyond the paper's linear one, by its config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraTerm {
    Kerr,
    CrossKerr,
    Exchange,
    Dephasing,
}

impl ExtraTerm {
    /// The `[model]` key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            ExtraTerm::Kerr => "kerr",
            ExtraTerm::CrossKerr => "cross_kerr",
            ExtraTerm::Exchange => "exchange",
            ExtraTerm::Dephasing => "dephasing",
        }
    }

    /// Quadratic in the ladder operators (keeps the moment hierarchy closed
    /// and the state Gaussian).
    pub fn is_quadratic(self) -> bool {
        self == ExtraTerm::Exchange
    }
}

/// Largest Hilbert-space dimension accepted (ρ alone would take 16·d² bytes:
/// 4.6 GB at this limit).
pub const MAX_DIM: usize = 17_000;

impl MicroParams {
    /// The terms beyond the paper's model that are non-zero here.
    pub fn extra_terms(&self) -> Vec<ExtraTerm> {
        let mut v = Vec::new();
        if self.kerr.iter().any(|&k| k != 0.0) {
            v.push(ExtraTerm::Kerr);
        }
        if self.cross_kerr.iter().any(|&k| k != 0.0) {
            v.push(ExtraTerm::CrossKerr);
        }
        if self.exchange.iter().any(|g| g.norm() != 0.0) {
            v.push(ExtraTerm::Exchange);
        }
        if self.dephasing.iter().any(|&g| g != 0.0) {
            v.push(ExtraTerm::Dephasing);
        }
        v
    }

    /// The paper's model: only detunings, drive, local and shared baths.
    pub fn linear(cutoffs: [usize; 3]) -> Self {
        let one = C64::new(1.0, 0.0);
        let zero = C64::new(0.0, 0.0);
        Self {
            cutoffs,
            delta: [0.0; 3],
            drive: 0.0,
            kappa: [0.0; 3],
            gamma: 0.0,
            p_a: one,
            p_b: one,
            p_ca: one,
            p_cb: one,
            n_th: [0.0; 3],
            n_th_shared: [0.0; 2],
            kerr: [0.0; 3],
            cross_kerr: [0.0; 3],
            exchange: [zero; 3],
            dephasing: [0.0; 3],
        }
    }

    /// The config key of the first non-zero bath occupation, if any
    /// (`model.n_th[1]`, `model.n_th_shared[0]`).
    pub fn thermal_key(&self) -> Option<&'static str> {
        const LOCAL: [&str; 3] = ["model.n_th[0]", "model.n_th[1]", "model.n_th[2]"];
        const SHARED: [&str; 2] = ["model.n_th_shared[0]", "model.n_th_shared[1]"];
        let local = self.n_th.iter().position(|&n| n != 0.0).map(|k| LOCAL[k]);
        local.or_else(|| self.n_th_shared.iter().position(|&n| n != 0.0).map(|k| SHARED[k]))
    }

    /// The benchmark point of `scripts/bench_peers.py` and
    /// `configs/master/bench.toml`: κ_a = κ_b = 0.1, κ_c = 2, Γ = 1, all p = 1,
    /// all δ = 0.3, E = 0.15, zero temperature.
    pub fn bench_point(cutoffs: [usize; 3]) -> Self {
        Self { delta: [0.3; 3], drive: 0.15, kappa: [0.1, 0.1, 2.0], gamma: 1.0, ..Self::linear(cutoffs) }
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        for (k, &n) in self.cutoffs.iter().enumerate() {
            if n == 0 {
                return Err(ParamError {
                    name: ["cutoffs[0]", "cutoffs[1]", "cutoffs[2]"][k],
                    value: 0.0,
                    reason: "a Fock cutoff must be at least 1",
                });
            }
        }
        let d = self.cutoffs.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
        if d.is_none_or(|d| d > MAX_DIM) {
            return Err(ParamError {
                name: "cutoffs",
                value: self.cutoffs.iter().map(|&n| n as f64).product(),
                reason: "the product of the cutoffs exceeds the limit 17000 (ρ would need > 4.6 GB)",
            });
        }
        let reals = [
            ("delta[0]", self.delta[0]),
            ("delta[1]", self.delta[1]),
            ("delta[2]", self.delta[2]),
            ("drive", self.drive),
            ("kerr[0]", self.kerr[0]),
            ("kerr[1]", self.kerr[1]),
            ("kerr[2]", self.kerr[2]),
            ("cross_kerr[0]", self.cross_kerr[0]),
            ("cross_kerr[1]", self.cross_kerr[1]),
            ("cross_kerr[2]", self.cross_kerr[2]),
        ];
        for (name, value) in reals {
            if !value.is_finite() {
                return Err(ParamError { name, value, reason: "must be a finite number" });
            }
        }
        let nonneg = [
            ("kappa[0]", self.kappa[0]),
            ("kappa[1]", self.kappa[1]),
            ("kappa[2]", self.kappa[2]),
            ("gamma", self.gamma),
            ("n_th[0]", self.n_th[0]),
            ("n_th[1]", self.n_th[1]),
            ("n_th[2]", self.n_th[2]),
            ("n_th_shared[0]", self.n_th_shared[0]),
            ("n_th_shared[1]", self.n_th_shared[1]),
            ("dephasing[0]", self.dephasing[0]),
            ("dephasing[1]", self.dephasing[1]),
            ("dephasing[2]", self.dephasing[2]),
        ];
        for (name, value) in nonneg {
            if !value.is_finite() || value < 0.0 {
                return Err(ParamError { name, value, reason: "must be a finite number >= 0" });
            }
        }
        let complex = [
            ("p_a", self.p_a),
            ("p_b", self.p_b),
            ("p_ca", self.p_ca),
            ("p_cb", self.p_cb),
            ("exchange[0]", self.exchange[0]),
            ("exchange[1]", self.exchange[1]),
            ("exchange[2]", self.exchange[2]),
        ];
        for (name, z) in complex {
            if !z.re.is_finite() || !z.im.is_finite() {
                return Err(ParamError { name, value: f64::NAN, reason: "must be a finite (complex) number" });
            }
        }
        Ok(())
    }

    pub fn space(&self) -> FockSpace {
        FockSpace::new(self.cutoffs)
    }

    /// The model's Hamiltonian and jump operators on the truncated space.
    pub fn lindblad_terms(&self) -> LindbladTerms {
        let sp = self.space();
        let [a, b, c] = [sp.lower(0), sp.lower(1), sp.lower(2)];
        let mut h = Operator::zero(sp);
        for m in 0..3 {
            h = h.add(&sp.number(m).scale(C64::new(self.delta[m], 0.0)));
        }
        h = h.add(&a.clone().add(&a.adjoint()).scale(C64::new(self.drive, 0.0)));
        // Terms beyond the paper (docs/physics.md §10); zero terms add nothing.
        let lower = [&a, &b, &c];
        let real = |x: f64| C64::new(x, 0.0);
        for m in 0..3 {
            if self.kerr[m] != 0.0 {
                let l = lower[m];
                let kerr = l.adjoint().mul(&l.adjoint()).mul(l).mul(l);
                h = h.add(&kerr.scale(real(0.5 * self.kerr[m])));
            }
        }
        const PAIRS: [(usize, usize); 3] = [(0, 1), (0, 2), (1, 2)];
        for (k, &(m, n)) in PAIRS.iter().enumerate() {
            if self.cross_kerr[k] != 0.0 {
                h = h.add(&sp.number(m).mul(&sp.number(n)).scale(real(self.cross_kerr[k])));
            }
            let g = self.exchange[k];
            if g.norm() != 0.0 {
                let (lm, ln) = (lower[m], lower[n]);
                h = h.add(&lm.adjoint().mul(ln).scale(g)).add(&ln.adjoint().mul(lm).scale(g.conj()));
            }
        }
        let z_a = a.clone().scale(self.p_a).add(&c.clone().scale(self.p_ca));
        let z_b = b.clone().scale(self.p_b).add(&c.clone().scale(self.p_cb));
        let mut jumps = Vec::new();
        // A bath with occupation n: √(κ(1+n)) L and √(κ n) L† (docs/physics.md §1).
        let mut bath = |rate: f64, n: f64, l: &Operator, name: &str| {
            if rate * (1.0 + n) > 0.0 {
                jumps.push(Jump { rate: rate * (1.0 + n), op: l.clone(), name: name.to_string() });
            }
            if rate * n > 0.0 {
                jumps.push(Jump { rate: rate * n, op: l.adjoint(), name: format!("{name}^dag") });
            }
        };
        bath(self.kappa[0], self.n_th[0], &a, "a");
        bath(self.kappa[1], self.n_th[1], &b, "b");
        bath(self.kappa[2], self.n_th[2], &c, "c");
        bath(self.gamma, self.n_th_shared[0], &z_a, "z_a");
        bath(self.gamma, self.n_th_shared[1], &z_b, "z_b");
        for (m, name) in ["n_a", "n_b", "n_c"].iter().enumerate() {
            if self.dephasing[m] > 0.0 {
                jumps.push(Jump { rate: self.dephasing[m], op: sp.number(m), name: name.to_string() });
            }
        }
        LindbladTerms { hamiltonian: h, jumps, drive_power: self.drive_power() }
    }

    /// P_in = ⟨i[H_drive, N]⟩ with N = a†a + b†b + c†c: the rate at which the
    /// drive E(a + a†) adds quanta, i[E(a + a†), a†a] = iE(a − a†), so
    /// P_in = −2E Im⟨a⟩ (docs/physics.md §11).
    pub fn drive_power(&self) -> Operator {
        let a = self.space().lower(0);
        a.clone().add(&a.adjoint().scale(C64::new(-1.0, 0.0))).scale(C64::new(0.0, self.drive))
    }
}

impl crate::protocol::Params for MicroParams {
    /// Every rate, detuning, coupling and occupation linearly (complex ones
    /// in the complex plane); the cutoffs are those of `a` (a protocol may not
    /// change them).
    fn lerp(a: &Self, b: &Self, s: f64) -> Self {
        let r = |x: f64, y: f64| x + s * (y - x);
        let z = |x: C64, y: C64| x + (y - x) * s;
        let r3 = |x: [f64; 3], y: [f64; 3]| std::array::from_fn(|k| r(x[k], y[k]));
        MicroParams {
            cutoffs: a.cutoffs,
            delta: r3(a.delta, b.delta),
            drive: r(a.drive, b.drive),
            kappa: r3(a.kappa, b.kappa),
            gamma: r(a.gamma, b.gamma),
            p_a: z(a.p_a, b.p_a),
            p_b: z(a.p_b, b.p_b),
            p_ca: z(a.p_ca, b.p_ca),
            p_cb: z(a.p_cb, b.p_cb),
            n_th: r3(a.n_th, b.n_th),
            n_th_shared: std::array::from_fn(|k| r(a.n_th_shared[k], b.n_th_shared[k])),
            kerr: r3(a.kerr, b.kerr),
            cross_kerr: r3(a.cross_kerr, b.cross_kerr),
            exchange: std::array::from_fn(|k| z(a.exchange[k], b.exchange[k])),
            dephasing: r3(a.dephasing, b.dephasing),
        }
    }
}

/// One dissipator `rate·D[op]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Jump {
    pub rate: f64,
    pub op: Operator,
    /// The jump's name in outputs: `a`, `a^dag` (thermal gain), `z_a`
    /// (shared reservoir), `n_a` (dephasing), ….
    pub name: String,
}

/// H and the jump operators: `dρ/dt = −i[H, ρ] + Σ rate·D[op]ρ`.
#[derive(Debug, Clone, PartialEq)]
pub struct LindbladTerms {
    pub hamiltonian: Operator,
    pub jumps: Vec<Jump>,
    /// The operator whose mean is the power the drive puts in, P_in =
    /// ⟨i[H_drive, N]⟩ (quanta per unit time, N the total number): the work
    /// W = ∫ P_in dt (docs/physics.md §11).
    pub drive_power: Operator,
}

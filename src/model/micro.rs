//! Microscopic three-mode parameters and the model's operator terms
//! (PHYSICS.md §1). Rates are Lindblad rates.

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
}

/// Largest Hilbert-space dimension accepted (ρ alone would take 16·d² bytes:
/// 4.6 GB at this limit).
pub const MAX_DIM: usize = 17_000;

impl MicroParams {
    /// The benchmark point of `scripts/bench_peers.py` and
    /// `configs/master/bench.toml`: κ_a = κ_b = 0.1, κ_c = 2, Γ = 1, all p = 1,
    /// all δ = 0.3, E = 0.15, zero temperature.
    pub fn bench_point(cutoffs: [usize; 3]) -> Self {
        let one = C64::new(1.0, 0.0);
        Self {
            cutoffs,
            delta: [0.3; 3],
            drive: 0.15,
            kappa: [0.1, 0.1, 2.0],
            gamma: 1.0,
            p_a: one,
            p_b: one,
            p_ca: one,
            p_cb: one,
            n_th: [0.0; 3],
            n_th_shared: [0.0; 2],
        }
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
        ];
        for (name, value) in nonneg {
            if !value.is_finite() || value < 0.0 {
                return Err(ParamError { name, value, reason: "must be a finite number >= 0" });
            }
        }
        for (name, z) in [("p_a", self.p_a), ("p_b", self.p_b), ("p_ca", self.p_ca), ("p_cb", self.p_cb)] {
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
        let z_a = a.clone().scale(self.p_a).add(&c.clone().scale(self.p_ca));
        let z_b = b.clone().scale(self.p_b).add(&c.clone().scale(self.p_cb));
        let mut jumps = Vec::new();
        // A bath with occupation n: √(κ(1+n)) L and √(κ n) L† (PHYSICS.md §1).
        let mut bath = |rate: f64, n: f64, l: &Operator| {
            if rate * (1.0 + n) > 0.0 {
                jumps.push(Jump { rate: rate * (1.0 + n), op: l.clone() });
            }
            if rate * n > 0.0 {
                jumps.push(Jump { rate: rate * n, op: l.adjoint() });
            }
        };
        bath(self.kappa[0], self.n_th[0], &a);
        bath(self.kappa[1], self.n_th[1], &b);
        bath(self.kappa[2], self.n_th[2], &c);
        bath(self.gamma, self.n_th_shared[0], &z_a);
        bath(self.gamma, self.n_th_shared[1], &z_b);
        LindbladTerms { hamiltonian: h, jumps }
    }
}

/// One dissipator rate·D[op].
#[derive(Debug, Clone, PartialEq)]
pub struct Jump {
    pub rate: f64,
    pub op: Operator,
}

/// H and the jump operators: dρ/dt = −i[H, ρ] + Σ rate·D[op]ρ.
#[derive(Debug, Clone, PartialEq)]
pub struct LindbladTerms {
    pub hamiltonian: Operator,
    pub jumps: Vec<Jump>,
}

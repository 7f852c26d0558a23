//! Exact critical time: the first τ at which E_B(τ) reaches E_max (paper SM II),
//! found by root-finding on the exact solution rather than by the asymptotic
//! Eq. (33), which fails near the phase boundary (docs/physics.md §5).

use super::{linalg_step, ReducedModel, State};
use num_complex::Complex64 as C64;

/// Largest reduced time searched, and the cap on marching steps: beyond them
/// the search reports "not reached" instead of running unboundedly near the
/// phase boundary, where t_crit diverges.
pub const TAU_SEARCH_MAX: f64 = 1.0e6;
const MAX_STEPS: usize = 20_000_000;

impl ReducedModel {
    /// First reduced time τ with E_B(τ) = `e_max`, starting from the vacuum.
    ///
    /// Marches with the exact one-step propagator at a step that resolves the
    /// fastest oscillation and decay (≤ 1/20 of 1/max|λ|), then bisects the
    /// bracketing step to machine precision. Returns `None` if E_B stays below
    /// `e_max` up to the horizon: in the unbroken phase when the transient and the
    /// steady state both stay below it (the horizon covers 60 decay times), in the
    /// broken phase only beyond [`TAU_SEARCH_MAX`]. A crossing that enters and
    /// leaves `e_max` within one step (a peak narrower than 1/20 of the fastest
    /// period) is not seen.
    pub fn critical_time(&self, e_max: f64) -> Option<f64> {
        if !(e_max > 0.0) {
            return None;
        }
        let s = &self.spectrum;
        let fastest = s.lambda_plus.norm().max(s.lambda_minus.norm()).max(1e-3);
        let h = 0.05 / fastest;
        let growth = s.growth_rate();
        let horizon = if growth < -1e-12 {
            // Slowest decay rate is −growth: after 60 decay times the transient is e^-60.
            (60.0 / -growth).min(TAU_SEARCH_MAX)
        } else {
            TAU_SEARCH_MAX
        };
        let (phi, psi) = self.propagator(h);
        let mut x: State = [C64::new(0.0, 0.0); 2];
        let mut tau = 0.0;
        let mut steps = 0usize;
        while tau < horizon && steps < MAX_STEPS {
            let next = linalg_step(&phi, &psi, &x);
            if next[1].norm_sqr() >= e_max {
                return Some(self.bisect_crossing(&x, tau, h, e_max));
            }
            x = next;
            tau += h;
            steps += 1;
        }
        None
    }

    /// Bisection for E_B = e_max inside (τ0, τ0 + h], starting from state x0 at τ0.
    fn bisect_crossing(&self, x0: &State, tau0: f64, h: f64, e_max: f64) -> f64 {
        let (mut lo, mut hi) = (0.0, h);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            let (phi, psi) = self.propagator(mid);
            if linalg_step(&phi, &psi, x0)[1].norm_sqr() >= e_max {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        tau0 + hi
    }
}

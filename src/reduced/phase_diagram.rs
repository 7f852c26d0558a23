//! Phase diagrams over (δ_r, α) at fixed γ_b (paper Fig. 3a–c, Fig. 2, Fig. 5)
//! and the critical time along δ_r (Fig. 6). Grid rows run in parallel (rayon,
//! on the caller's thread pool).

use super::{closed_form, Phase, ReducedModel, Spectrum};
use crate::model::ReducedParams;
use ndarray::Array2;
use num_complex::Complex64 as C64;
use rayon::prelude::*;

/// What to compute: a symmetric-detuning grid δ_ra = −δ_rb = δ_r, γ_a = γ_b + 2α.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseGrid {
    pub gamma_b: f64,
    pub delta_r: Vec<f64>,
    pub alpha: Vec<f64>,
    /// Energy threshold in units of E_r² for the critical-time line (α = 0).
    pub e_max: Option<f64>,
}

/// Exceptional points of the symmetric model: Ω = 0 ⇔ (δ_r − iα)² = 1 ⇔ α = 0,
/// δ_r = ±1 (paper SM I.A). Exact locations, independent of the grid.
pub const EXCEPTIONAL_POINTS: [(f64, f64); 2] = [(-1.0, 0.0), (1.0, 0.0)];

/// Results on the grid; 2-D arrays are indexed `[alpha, delta_r]`.
#[derive(Debug, Clone)]
pub struct PhaseDiagram {
    pub grid: PhaseGrid,
    /// Re[−iλ₊] (units of g).
    pub growth_rate: Array2<f64>,
    pub lambda_plus: Array2<C64>,
    pub lambda_minus: Array2<C64>,
    /// [`Phase::code`] per point.
    pub phase: Array2<i8>,
    /// 1 where γ_a·γ_b ≥ 1 (docs/physics.md §6).
    pub realizable: Array2<u8>,
    /// Exceptional points (δ_r, α) that lie inside the grid's ranges.
    pub exceptional_points: Vec<(f64, f64)>,
    /// Along δ_r at α = 0: the exact critical time and Eq. (33), when e_max is set.
    pub t_crit: Option<CriticalLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CriticalLine {
    /// E_max in units of E_r².
    pub e_max: f64,
    /// Exact first crossing E_B(τ) = E_max; NaN where it is never reached.
    pub exact: Vec<f64>,
    /// The paper's Eq. (33) as computed (NaN for |δ_r| ≥ 1).
    pub eq33: Vec<f64>,
    /// (Eq.33 − exact)/exact.
    pub rel_diff: Vec<f64>,
}

impl PhaseDiagram {
    /// The time traces at the marker points `(δ_r, α)` of this diagram's
    /// γ_b (Fig. 3 d–i), with E_r = 1, from the vacuum, at `tau`.
    pub fn marker_traces(&self, markers: &[(f64, f64)], tau: &[f64]) -> Vec<(ReducedModel, super::Trajectory)> {
        markers
            .iter()
            .map(|&(d, a)| {
                let m = ReducedModel::new(ReducedParams::from_alpha(a, self.grid.gamma_b, d, 1.0));
                let tr = m.trajectory(tau, &[C64::new(0.0, 0.0); 2]);
                (m, tr)
            })
            .collect()
    }

    pub fn compute(grid: PhaseGrid) -> Self {
        let (na, nd) = (grid.alpha.len(), grid.delta_r.len());
        let rows: Vec<Vec<(Spectrum, Phase, bool)>> = grid
            .alpha
            .par_iter()
            .map(|&alpha| {
                grid.delta_r
                    .iter()
                    .map(|&dr| {
                        let p = ReducedParams::from_alpha(alpha, grid.gamma_b, dr, 1.0);
                        let s = Spectrum::of(&p);
                        (s, Phase::classify(&s), p.realizability().is_realizable())
                    })
                    .collect()
            })
            .collect();
        let at = |i: usize, j: usize| &rows[i][j];
        let growth_rate = Array2::from_shape_fn((na, nd), |(i, j)| at(i, j).0.growth_rate());
        let lambda_plus = Array2::from_shape_fn((na, nd), |(i, j)| at(i, j).0.lambda_plus);
        let lambda_minus = Array2::from_shape_fn((na, nd), |(i, j)| at(i, j).0.lambda_minus);
        let phase = Array2::from_shape_fn((na, nd), |(i, j)| at(i, j).1.code());
        let realizable = Array2::from_shape_fn((na, nd), |(i, j)| u8::from(at(i, j).2));

        let in_range = |v: f64, xs: &[f64]| {
            let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
            v >= lo && v <= hi
        };
        let exceptional_points = EXCEPTIONAL_POINTS
            .iter()
            .copied()
            .filter(|&(d, a)| in_range(d, &grid.delta_r) && in_range(a, &grid.alpha))
            .collect();
        let t_crit = grid.e_max.map(|e_max| critical_line(grid.gamma_b, &grid.delta_r, e_max));
        Self { grid, growth_rate, lambda_plus, lambda_minus, phase, realizable, exceptional_points, t_crit }
    }
}

/// Exact t_crit and Eq. (33) along δ_r at α = 0 (γ_a = γ_b = γ), E_r = 1.
pub fn critical_line(gamma: f64, delta_r: &[f64], e_max: f64) -> CriticalLine {
    let exact: Vec<f64> = delta_r
        .par_iter()
        .map(|&dr| {
            ReducedModel::new(ReducedParams::symmetric(gamma, gamma, dr, 1.0))
                .critical_time(e_max)
                .unwrap_or(f64::NAN)
        })
        .collect();
    let eq33: Vec<f64> = delta_r.iter().map(|&dr| closed_form::eq33_t_crit(gamma, dr, 1.0, e_max)).collect();
    let rel_diff = exact.iter().zip(&eq33).map(|(e, q)| (q - e) / e).collect();
    CriticalLine { e_max, exact, eq33, rel_diff }
}

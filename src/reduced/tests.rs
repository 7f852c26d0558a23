//! The general path (augmented matrix exponential) against the paper's closed
//! forms, which are independent derivations (docs/physics.md §4 records that they
//! agree with a 2×2 matrix exponential to ~1e-14).

use super::closed_form::*;
use super::phase_diagram::{critical_line, PhaseDiagram, PhaseGrid};
use super::*;

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

const TAUS: [f64; 4] = [0.7, 3.1, 9.4, 17.0];
/// Closed forms and the exponential path are both exact; 1e-10 leaves room for
/// the conditioning of e^{-Aτ} at τ up to 17 (norms up to ~e^{±10}).
const TOL: f64 = 1e-10;

#[test]
fn eq3_matches_matrix_exponential_for_distinct_eigenvalues() {
    for &(alpha, gb, dr) in &[(0.3, 0.5, 0.2), (-0.2, 1.0, 1.7), (1.1, 0.8, -0.6), (0.0, 0.5, 0.0)] {
        let m = ReducedModel::new(ReducedParams::from_alpha(alpha, gb, dr, 1.3));
        for &t in &TAUS {
            let want = eq3_energy(m.spectrum.lambda_plus, m.spectrum.lambda_minus, 1.3, t);
            assert!(rel(m.energy_at(t), want) < TOL, "α={alpha} γb={gb} δ={dr} τ={t}");
        }
    }
}

#[test]
fn eq4_matches_matrix_exponential_at_ep() {
    for &(g, dr) in &[(0.5, 1.0), (1.0, -1.0), (2.5, 1.0)] {
        let m = ReducedModel::new(ReducedParams::symmetric(g, g, dr, 0.7));
        assert_eq!(m.phase, Phase::ExceptionalPoint);
        for &t in &TAUS {
            assert!(rel(m.energy_at(t), eq4_energy_at_ep(g, 0.7, t)) < TOL, "γ={g} δ={dr} τ={t}");
        }
        // Eq. (29) is the paper's b; ours carries the drive phase −i (module docs).
        let b = m.state_at(2.0, &[C64::new(0.0, 0.0); 2])[1];
        assert!((b - (-I) * eq29_b_at_ep(g, 0.7, 2.0)).norm() < 1e-12 * b.norm());
        let ss = m.steady_state().expect("EP with γ>0 is stable")[1].norm_sqr();
        assert!(rel(ss, eq4_limit(g, 0.7)) < 1e-12);
    }
}

#[test]
fn eq5_matches_matrix_exponential_when_oscillatory() {
    for &(g, dr) in &[(0.5, 1.3), (1.2, -2.0), (0.2, 3.5)] {
        let m = ReducedModel::new(ReducedParams::symmetric(g, g, dr, 1.0));
        assert_eq!(m.phase, Phase::Unbroken);
        for &t in &TAUS {
            assert!(rel(m.energy_at(t), eq5_energy(g, dr, 1.0, t)) < TOL, "γ={g} δ={dr} τ={t}");
        }
        let ss = m.steady_state().expect("unbroken")[1].norm_sqr();
        assert!(rel(ss, steady_energy(g, dr, 1.0)) < 1e-12);
    }
}

#[test]
fn eq6_matches_matrix_exponential_when_hyperbolic() {
    // Both sides of the boundary |Ω| = γ: broken (γ=0.5, δ=0, 0.6) and unbroken (γ=1.5).
    for &(g, dr, broken) in &[(0.5, 0.0, true), (0.5, 0.6, true), (1.5, 0.3, false), (0.2, -0.9, true)] {
        let m = ReducedModel::new(ReducedParams::symmetric(g, g, dr, 1.0));
        assert_eq!(m.phase == Phase::Broken, broken, "γ={g} δ={dr}");
        for &t in &TAUS {
            assert!(rel(m.energy_at(t), eq6_energy(g, dr, 1.0, t)) < TOL, "γ={g} δ={dr} τ={t}");
        }
    }
}

#[test]
fn eq7_approaches_eq6_at_long_times_in_the_broken_phase() {
    let (g, dr) = (0.5, 0.3);
    let errs: Vec<f64> =
        [5.0, 10.0, 20.0, 40.0].iter().map(|&t| rel(eq7_energy(g, dr, 1.0, t), eq6_energy(g, dr, 1.0, t))).collect();
    assert!(errs.windows(2).all(|w| w[1] < w[0]), "{errs:?}");
    assert!(errs[3] < 1e-5, "{errs:?}");
}

#[test]
fn phase_labels_follow_the_sign_of_the_growth_rate() {
    let grid = PhaseGrid {
        gamma_b: 0.5,
        delta_r: linspace(-2.0, 2.0, 81),
        alpha: linspace(-0.25, 1.5, 36),
        e_max: None,
    };
    let pd = PhaseDiagram::compute(grid);
    let mut seen = [0usize; 4];
    for ((&g, &code), (&lp, &lm)) in
        pd.growth_rate.iter().zip(pd.phase.iter()).zip(pd.lambda_plus.iter().zip(pd.lambda_minus.iter()))
    {
        // Growth rate is the largest Im λ of the two eigenvalues.
        assert_eq!(g, lp.im.max(lm.im));
        let want = if code == Phase::ExceptionalPoint.code() {
            code
        } else if g > Phase::GROWTH_TOL {
            1
        } else if g < -Phase::GROWTH_TOL {
            -1
        } else {
            0
        };
        assert_eq!(code, want);
        seen[(code + 1) as usize] += 1;
    }
    assert!(seen[0] > 0 && seen[2] > 0 && seen[3] > 0, "{seen:?}");
}

#[test]
fn exceptional_points_only_at_unit_detuning_with_equal_dampings() {
    // δ_r step 0.01 and α step 0.01 contain the EPs exactly (δ_r = ±1, α = 0).
    for gb in [0.5, 1.0, 2.5] {
        let pd = PhaseDiagram::compute(PhaseGrid {
            gamma_b: gb,
            delta_r: (0..=400).map(|k| -2.0 + k as f64 * 0.01).collect(),
            alpha: (0..=100).map(|k| -0.5 + k as f64 * 0.01).collect(),
            e_max: None,
        });
        let mut found = vec![];
        for ((i, j), &code) in pd.phase.indexed_iter() {
            if code == Phase::ExceptionalPoint.code() {
                found.push((pd.grid.delta_r[j], pd.grid.alpha[i]));
            }
        }
        assert_eq!(found.len(), 2, "γb={gb}: {found:?}");
        for (d, a) in found {
            assert!((d.abs() - 1.0).abs() < 1e-12 && a.abs() < 1e-12);
        }
        assert_eq!(pd.exceptional_points, vec![(-1.0, 0.0), (1.0, 0.0)]);
    }
}

#[test]
fn power_matches_fourth_order_finite_difference_of_energy() {
    for p in [
        ReducedParams::from_alpha(0.3, 0.5, 0.2, 1.0),
        ReducedParams::symmetric(1.0, 1.0, 1.0, 1.0),
        ReducedParams::symmetric(0.4, 1.7, 2.3, 0.5),
    ] {
        let m = ReducedModel::new(p);
        let h = 1e-3;
        for &t in &[0.5, 2.0, 6.0] {
            let taus = [t - 2.0 * h, t - h, t, t + h, t + 2.0 * h];
            let e: Vec<f64> = taus.iter().map(|&s| m.energy_at(s)).collect();
            let fd = (e[0] - 8.0 * e[1] + 8.0 * e[3] - e[4]) / (12.0 * h);
            let x = m.state_at(t, &[C64::new(0.0, 0.0); 2]);
            let p_b = m.power(&x);
            // FD truncation ~h⁴·E⁽⁵⁾/30 ≈ 1e-13·scale, round-off ~ε·E/h ≈ 1e-13·E.
            assert!((p_b - fd).abs() < 1e-8 * (1.0 + e[2]), "{p:?} τ={t}: {p_b} vs {fd}");
        }
    }
}

#[test]
fn uniform_trajectory_matches_direct_evaluation() {
    let m = ReducedModel::new(ReducedParams::from_alpha(0.0, 0.5, 0.4, 1.0));
    let taus = linspace(0.0, 20.0, 2001);
    let tr = m.trajectory(&taus, &[C64::new(0.0, 0.0); 2]);
    for k in (0..taus.len()).step_by(97) {
        let x = m.state_at(taus[k], &[C64::new(0.0, 0.0); 2]);
        assert!((tr.b[k] - x[1]).norm() <= 1e-11 * x[1].norm().max(1e-3));
        assert!((tr.a[k] - x[0]).norm() <= 1e-11 * x[0].norm().max(1e-3));
    }
}

#[test]
fn critical_time_hits_e_max_and_matches_eq33_deep_in_broken_phase() {
    let e_max = 1e3;
    let m = ReducedModel::new(ReducedParams::symmetric(0.5, 0.5, 0.0, 1.0));
    let t = m.critical_time(e_max).expect("broken phase reaches any energy");
    assert!(rel(m.energy_at(t), e_max) < 1e-8);
    let q = eq33_t_crit(0.5, 0.0, 1.0, e_max);
    assert!(rel(q, t) < 0.02, "exact {t} vs Eq.33 {q}");
    // docs/physics.md §5: 6.99 vs 6.91.
    assert!((t - 6.99).abs() < 0.01 && (q - 6.91).abs() < 0.01);
}

#[test]
fn eq33_fails_near_the_phase_boundary() {
    let line = critical_line(0.5, &[0.0, 0.8, 0.85], 1e3);
    // docs/physics.md §5: exact 6.99 / 15.86 / 24.3 vs Eq.33 6.91 / 13.34 / −4.25.
    let want_exact = [6.99, 15.86, 24.3];
    let want_eq33 = [6.91, 13.34, -4.25];
    for k in 0..3 {
        assert!((line.exact[k] - want_exact[k]).abs() < 0.01 * want_exact[k], "{line:?}");
        assert!((line.eq33[k] - want_eq33[k]).abs() < 0.01, "{line:?}");
    }
    assert!(line.rel_diff[1].abs() > 0.1 && line.rel_diff[2] < -1.0);
    // Exact t_crit grows toward the boundary |δ_r| = √(1−γ²) ≈ 0.866.
    assert!(line.exact.windows(2).all(|w| w[1] > w[0]));
}

#[test]
fn critical_time_absent_when_steady_state_is_below_threshold() {
    let m = ReducedModel::new(ReducedParams::symmetric(1.5, 1.5, 0.3, 1.0));
    assert!(m.critical_time(1e3).is_none());
}

#[test]
fn singular_drift_grows_linearly_instead_of_dividing_by_zero() {
    // γ_a γ_b = 1 at δ_r = 0: det(H_r) = 0, an undamped mode; b grows ∝ τ.
    let m = ReducedModel::new(ReducedParams::symmetric(1.0, 1.0, 0.0, 1.0));
    assert_eq!(m.phase, Phase::Marginal);
    assert!(m.steady_state().is_none());
    let e1 = m.energy_at(100.0);
    let e2 = m.energy_at(200.0);
    assert!(e1.is_finite() && (e2 / e1 - 4.0).abs() < 0.05, "{e1} {e2}");
}

//! Steady states against independent truth: the moments' fixed point against
//! a long exact evolution, the reduced one against the paper's closed form,
//! the master equation against the moments (linear model, thermal baths) and
//! against a long Krylov evolution (Kerr model, where nothing else is exact).

use super::*;
use crate::integrate::Method;
use crate::master::steady::{self as ms, SteadyOptions};
use crate::master::{self, LiouvillianKind, MasterOptions, SaveState};
use crate::model::{ModeState, ReducedParams};
use crate::reduced::closed_form::steady_energy;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn stiff(kc: f64, cutoffs: [usize; 3]) -> MicroParams {
    MicroParams { drive: 0.1, kappa: [0.05, 0.05, kc], gamma: (2.0f64 * kc).sqrt(), ..MicroParams::linear(cutoffs) }
}

fn master_steady(p: &MicroParams) -> ms::MasterSteady {
    ms::solve(&p.lindblad_terms(), &SteadyOptions::default(), &AtomicBool::new(false)).expect("converges")
}

/// Every observable of two one-row series within `tol` (absolute).
fn assert_rows_close(a: &Series, b: &Series, tol: f64, what: &str) {
    for (name, x, y) in [("a", a.a[0], b.a[0]), ("b", a.b[0], b.b[0]), ("c", a.c[0], b.c[0])] {
        assert!((x - y).norm() <= tol, "{what}: {name} {x} vs {y}");
    }
    let reals = [
        ("n_a", a.n_a[0], b.n_a[0]),
        ("n_b", a.n_b[0], b.n_b[0]),
        ("n_c", a.n_c[0], b.n_c[0]),
        ("ergotropy_b", a.ergotropy_b[0], b.ergotropy_b[0]),
        ("entropy_b", a.entropy_b[0], b.entropy_b[0]),
        ("purity_b", a.purity_b[0], b.purity_b[0]),
    ];
    for (name, x, y) in reals {
        assert!((x - y).abs() <= tol, "{what}: {name} {x:e} vs {y:e} (diff {:e})", (x - y).abs());
    }
}

#[test]
fn moments_fixed_point_is_the_long_time_limit_of_the_exact_moments() {
    let mut p = MicroParams::bench_point([4, 4, 4]);
    p.n_th = [0.2, 0.1, 0.3];
    p.n_th_shared = [0.1, 0.05];
    p.exchange = [C64::new(0.05, 0.02), C64::new(0.0, 0.0), C64::new(0.03, 0.0)];
    let s = moments(&p).unwrap();
    assert!(s.exists && s.growth_rate < 0.0);
    // The slowest rate is |growth| ~ 0.05: after t = 1500 the transient is e^{-75}.
    let long = moments::solve(&p, &[ModeState::Vacuum; 3], &[0.0, 1500.0]);
    let mut last = Series::default();
    last.push(f64::NAN, [long.a[1], long.b[1], long.c[1]], [long.n_a[1], long.n_b[1], long.n_c[1]], 0.0,
        ModeMetrics { energy: long.energy_b[1], ergotropy: long.ergotropy_b[1], entropy: long.entropy_b[1], purity: long.purity_b[1] }, 0.0);
    assert_rows_close(&s.row, &last, 1e-12, "moments");
    assert!(s.residual < 1e-14, "{}", s.residual);
    assert!(s.row.power_b[0].abs() < 1e-14);
}

#[test]
fn reduced_steady_state_is_the_closed_form_and_none_in_the_broken_phase() {
    for (g, dr) in [(0.5, 1.3), (1.2, -2.0), (1.5, 0.4)] {
        let s = reduced(&ReducedParams::symmetric(g, g, dr, 1.0)).unwrap();
        assert!(s.exists);
        assert!((s.row.energy_b[0] / steady_energy(g, dr, 1.0) - 1.0).abs() < 1e-12);
        assert_eq!(s.row.ergotropy_b[0], s.row.energy_b[0]);
    }
    // γ = 0.5 at δ_r = 0: |Ω| = 1 > γ, broken.
    let s = reduced(&ReducedParams::symmetric(0.5, 0.5, 0.0, 1.0)).unwrap();
    assert!(!s.exists && s.row.energy_b[0].is_nan());
    assert!((s.growth_rate - 0.5).abs() < 1e-12, "{}", s.growth_rate);
    assert!(s.note.contains("broken"), "{}", s.note);
}

/// The acceptance: master = moments to 1e-8 with thermal baths, in the
/// non-stiff and the stiff regime. Cutoffs (10, 10, 6): the truncation error
/// of the occupations is ~1e-11 here (measured against (12, 12, 7)).
#[test]
fn master_steady_state_equals_the_moments_fixed_point_with_thermal_baths() {
    for kc in [50.0, 5000.0] {
        let mut p = stiff(kc, [10, 10, 6]);
        p.n_th = [0.05, 0.02, 0.01];
        p.n_th_shared = [0.01, 0.02];
        p.p_a = C64::new(0.8, 0.3);
        p.delta = [0.02, -0.01, 0.0];
        let s = master_steady(&p);
        let m = moments(&p).unwrap();
        assert_rows_close(&s.row, &m.row, 1e-8, &format!("kappa_c = {kc}"));
        assert!(s.residual < 1e-12, "{}", s.residual);
        // ρ is a density matrix: Hermitian, trace 1, positive.
        let d = p.space().dim();
        assert!(crate::observables::hermiticity_defect(&s.rho, d) < 1e-15);
        assert!((crate::observables::trace(&s.rho, d).re - 1.0).abs() < 1e-12);
        assert!(crate::observables::min_eigenvalue(&s.rho, d) > -1e-12);
    }
}

/// GMRES iterations do not grow with the stiffness: κ_c × 100 at fixed
/// Γ²/κ_c (the reduced model's fixed point), cutoffs (8, 8, 4).
#[test]
fn gmres_iterations_stay_flat_while_kappa_c_grows_100_times() {
    let it: Vec<usize> = [50.0, 500.0, 5000.0].iter().map(|&kc| master_steady(&stiff(kc, [8, 8, 4])).report.iterations).collect();
    let (lo, hi) = (*it.iter().min().unwrap(), *it.iter().max().unwrap());
    assert!(hi < 2 * lo, "iterations {it:?}");
    assert!(hi < 60, "iterations {it:?}");
}

/// A Kerr battery (no exact moments): the steady state is the long-time
/// limit of the evolution, integrated independently (Krylov, rtol 1e-11).
#[test]
fn kerr_steady_state_is_the_long_time_limit_of_the_evolution() {
    let mut p = MicroParams::bench_point([6, 6, 4]);
    p.kerr = [0.0, 0.3, 0.0];
    p.cross_kerr = [0.05, 0.0, 0.0];
    p.drive = 0.4;
    p.n_th = [0.02, 0.01, 0.0];
    let s = master_steady(&p);
    // The slowest decay is ~0.05 (κ_b/2 and the effective rates): t = 800
    // leaves e^{-40} of the transient.
    let opts = MasterOptions { method: Method::Krylov, rtol: 1e-11, atol: 1e-13, liouvillian: LiouvillianKind::Kernel, save_state: SaveState::Final };
    let r = master::solve(&p, &[ModeState::Vacuum; 3], &[0.0, 800.0], &opts, &Arc::new(AtomicBool::new(false)), &mut |_| {}).unwrap();
    let rho_t = r.rho_final.unwrap();
    let diff = rho_t.iter().zip(&s.rho).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
    assert!(diff < 1e-8, "max |Δρ| = {diff:e}");
    assert!((r.series.n_b[1] - s.row.n_b[0]).abs() < 1e-8);
    assert!((r.series.ergotropy_b[1] - s.row.ergotropy_b[0]).abs() < 1e-8);
    assert!(s.row.n_b[0] > 1e-2, "a charged battery: {}", s.row.n_b[0]);
}

#[test]
fn a_solve_that_does_not_converge_is_an_error_with_its_residual() {
    let p = stiff(50.0, [6, 6, 4]);
    let mut o = SteadyOptions::default();
    o.gmres.max_iterations = 4;
    o.gmres.restart = 3;
    match ms::solve(&p.lindblad_terms(), &o, &AtomicBool::new(false)) {
        Err(master::MasterError::NotConverged(m)) => {
            assert!(m.contains("iteration limit") && m.contains("residual"), "{m}");
        }
        other => panic!("expected NotConverged, got {:?}", other.map(|s| s.report)),
    }
}

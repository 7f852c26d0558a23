//! The master equation against the exact moment solution (docs/physics.md §2) and
//! the conservation laws: trace, Hermiticity, positivity.

use super::*;
use crate::moments;
use crate::observables;
use crate::reduced::linspace;
use std::sync::atomic::Ordering;
use std::sync::Arc;


fn opts(method: Method, liouvillian: LiouvillianKind, save_state: SaveState) -> MasterOptions {
    MasterOptions { method, rtol: 1e-8, atol: 1e-10, liouvillian, save_state }
}

fn run(p: &MicroParams, times: &[f64], o: &MasterOptions) -> MasterResult {
    solve(p, &[ModeState::Vacuum; 3], times, o, &Arc::new(AtomicBool::new(false)), &mut |_| {}).unwrap()
}

#[test]
fn vacuum_start_matches_exact_means_at_8_8_4() {
    // Complex p and unequal detunings so that no symmetry hides an error.
    let mut p = MicroParams::bench_point([8, 8, 4]);
    p.p_a = C64::new(0.8, 0.3);
    p.p_cb = C64::new(0.7, -0.5);
    p.delta = [0.3, -0.2, 0.1];
    let times = linspace(0.0, 20.0, 101);
    let exact = moments::means(&p, [C64::new(0.0, 0.0); 3], &times);
    for method in [Method::Dopri5, Method::Dop853] {
        let r = run(&p, &times, &opts(method, LiouvillianKind::Kernel, SaveState::None));
        assert_eq!(r.series.t.len(), times.len());
        for k in 0..times.len() {
            // Tolerance 1e-6 absolute (acceptance); truncation at these cutoffs
            // is ~1e-12 because the state stays a weak coherent state (|b|² ~ 1e-2).
            assert!((r.series.a[k] - exact[k][0]).norm() < 1e-6, "{method:?} t={} a", times[k]);
            assert!((r.series.b[k] - exact[k][1]).norm() < 1e-6, "{method:?} t={} b", times[k]);
            assert!((r.series.c[k] - exact[k][2]).norm() < 1e-6, "{method:?} t={} c", times[k]);
            // Coherent state: ⟨b†b⟩ = |⟨b⟩|².
            assert!((r.series.n_b[k] - r.series.b[k].norm_sqr()).abs() < 1e-7, "{method:?} t={}", times[k]);
            // Power against the exact means: d|b|²/dt = 2 Re(b* db/dt), db/dt = (−Mx + f)_b.
            let (m, f) = moments::drift(&p);
            let x = exact[k];
            let db = f[1] - (0..3).map(|j| m[1][j] * x[j]).sum::<C64>();
            let want = 2.0 * (x[1].conj() * db).re;
            assert!((r.series.power_b[k] - want).abs() < 1e-6, "{method:?} t={}", times[k]);
            // Ergotropy of a coherent state is its energy; entropy 0, purity 1.
            assert!((r.series.ergotropy_b[k] - r.series.energy_b[k]).abs() < 1e-7);
            assert!((r.series.purity_b[k] - 1.0).abs() < 1e-6);
        }
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(r.stats.steps > 0 && r.stats.rhs_evals > r.stats.steps);
    }
}

#[test]
fn trace_hermiticity_and_positivity_are_preserved() {
    let mut p = MicroParams::bench_point([4, 4, 3]);
    p.drive = 0.6;
    p.n_th = [0.2, 0.1, 0.3];
    p.n_th_shared = [0.1, 0.05];
    p.p_ca = C64::new(0.5, 0.5);
    let times = linspace(0.0, 10.0, 21);
    let r = run(&p, &times, &opts(Method::Dopri5, LiouvillianKind::Kernel, SaveState::All));
    let all = r.rho_all.as_ref().unwrap();
    let d = p.space().dim();
    for (k, rho) in all.chunks(d * d).enumerate() {
        // The generator is exactly trace preserving; each RK step keeps Tr = 1 to round-off.
        assert!((observables::trace(rho, d).re - 1.0).abs() < 1e-12, "save {k}");
        // The kernel mirrors one triangle, so every state is exactly Hermitian.
        let h = observables::hermiticity_defect(rho, d);
        assert!(h == 0.0, "save {k}: {h}");
        assert!(observables::min_eigenvalue(rho, d) >= -1e-10, "save {k}");
    }
}

#[test]
fn superoperator_and_kernel_runs_agree() {
    let mut p = MicroParams::bench_point([4, 5, 3]);
    p.n_th = [0.1, 0.0, 0.2];
    let times = linspace(0.0, 5.0, 11);
    let rk = run(&p, &times, &opts(Method::Dopri5, LiouvillianKind::Kernel, SaveState::Final));
    let rs = run(&p, &times, &opts(Method::Dopri5, LiouvillianKind::SuperOperator, SaveState::Final));
    assert_eq!(rs.backend, "superoperator");
    // The same ODE at rtol 1e-8; the two paths differ only in summation order
    // (round-off ~1e-16 per step), far below the tolerance.
    let (a, b) = (rk.rho_final.unwrap(), rs.rho_final.unwrap());
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max);
    assert!(diff < 1e-10, "{diff}");
}

#[test]
fn stop_flag_ends_the_run_with_results_so_far() {
    let p = MicroParams::bench_point([3, 3, 2]);
    let times = linspace(0.0, 5.0, 11);
    let stop = Arc::new(AtomicBool::new(false));
    let mut seen = 0;
    let o = opts(Method::Dopri5, LiouvillianKind::Kernel, SaveState::None);
    let r = solve(&p, &[ModeState::Vacuum; 3], &times, &o, &stop, &mut |_| {
        seen += 1;
        if seen == 4 {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .unwrap();
    assert!(r.interrupted);
    assert_eq!(r.series.t.len(), 4);
    // An interrupted run keeps the state it reached, for resuming.
    assert!(r.rho_final.is_some() && r.t_final == times[3]);
}

#[test]
fn resumed_run_equals_the_uninterrupted_run_to_integrator_tolerance() {
    // Thermal baths and complex couplings, stopped after the 5th save and
    // continued from (rho_final, t_final): the saves after the restart must
    // agree with the run that was never stopped to the integrator's
    // tolerance (rtol 1e-8: the step sequences differ after the restart),
    // and both with the exact moments.
    let mut p = MicroParams::bench_point([8, 8, 5]);
    p.p_a = C64::new(0.8, 0.3);
    p.n_th = [0.05, 0.0, 0.02];
    let times = linspace(0.0, 12.0, 25);
    let o = opts(Method::Dopri5, LiouvillianKind::Kernel, SaveState::None);
    let whole = run(&p, &times, &o);
    let stop = Arc::new(AtomicBool::new(false));
    let mut seen = 0;
    let mut first = solve(&p, &[ModeState::Vacuum; 3], &times, &o, &stop, &mut |_| {
        seen += 1;
        if seen == 5 {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .unwrap();
    assert!(first.interrupted && first.series.len() == 5);
    let rho = first.rho_final.clone().unwrap();
    let go = Arc::new(AtomicBool::new(false));
    let rest = solve_from(&p.lindblad_terms(), &rho, first.t_final, &times[5..], &o, &go, &mut |_| {}).unwrap();
    first.extend(rest);
    assert!(!first.interrupted);
    assert_eq!(first.series.t, whole.series.t);
    let worst = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst(&first.series.n_b, &whole.series.n_b) < 1e-8, "{}", worst(&first.series.n_b, &whole.series.n_b));
    assert!(worst(&first.series.n_a, &whole.series.n_a) < 1e-8);
    let db = first.series.b.iter().zip(&whole.series.b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max);
    assert!(db < 1e-8, "{db}");
    let exact = moments::solve(&p, &[ModeState::Vacuum; 3], &times);
    let dn = worst(&first.series.n_b, &exact.n_b);
    assert!(dn < 1e-6, "resumed run vs exact moments: {dn}");
}

#[test]
fn truncation_is_flagged() {
    let mut p = MicroParams::bench_point([3, 3, 2]);
    p.drive = 2.0;
    let r = run(&p, &linspace(0.0, 5.0, 6), &opts(Method::Dopri5, LiouvillianKind::Kernel, SaveState::None));
    assert!(r.warnings.iter().any(|w| w.contains("truncation: mode a")), "{:?}", r.warnings);
}

/// `auto`: DOPRI5 at the non-stiff benchmark point, Krylov in the stiff
/// regime, and its estimate of DOPRI5's work is the right size (measured:
/// 13 873 and 616 621 evaluations at κ_c = 50 and 5000, t = 20).
#[test]
fn auto_picks_krylov_only_where_an_explicit_method_is_held_back_by_stiffness() {
    let bench = MicroParams::bench_point([12, 12, 6]);
    assert_eq!(choose_method(&bench.lindblad_terms(), Method::Auto, 20.0).0, Method::Dopri5);
    for (kc, measured) in [(50.0, 13_873.0), (5000.0, 616_621.0)] {
        let p = MicroParams { drive: 0.1, kappa: [0.05, 0.05, kc], gamma: (2.0f64 * kc).sqrt(), ..MicroParams::linear([8, 8, 4]) };
        let (m, why) = choose_method(&p.lindblad_terms(), Method::Auto, 20.0);
        assert_eq!(m, Method::Krylov, "{why}");
        let est: f64 = why.split("needs ~").nth(1).and_then(|w| w.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
        assert!(est > 0.5 * measured && est < 2.0 * measured, "{est} vs {measured}");
    }
    assert_eq!(choose_method(&bench.lindblad_terms(), Method::Dop853, 20.0), (Method::Dop853, String::new()));
}

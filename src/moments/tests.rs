//! The moments engine against closed forms and against the master equation.

use super::*;
use crate::master::{LiouvillianKind, SaveState};
use crate::integrate::Method;
use crate::master::{self, MasterOptions};
use crate::reduced::linspace;
use std::sync::atomic::AtomicBool;

#[test]
fn single_mode_thermalises_at_the_bath_occupation() {
    // Only κ_a with occupation n: N_aa(t) = n (1 − e^{−κ t}) exactly.
    let mut p = MicroParams::bench_point([1, 1, 1]);
    p.drive = 0.0;
    p.gamma = 0.0;
    p.kappa = [0.7, 0.0, 0.0];
    p.n_th = [0.3, 0.0, 0.0];
    let times = linspace(0.0, 5.0, 11);
    let ns = fluctuations(&p, [C64::new(0.0, 0.0); 3], linalg::zeros::<3>(), &times);
    for (t, n) in times.iter().zip(&ns) {
        let want = 0.3 * (1.0 - (-0.7 * t).exp());
        assert!((n[0][0].re - want).abs() < 1e-13 && n[0][0].im.abs() < 1e-15, "t={t}");
        assert!(n[1][1].norm() < 1e-15 && n[0][1].norm() < 1e-15);
    }
}

#[test]
fn fluctuation_matrix_stays_hermitian_and_positive() {
    let mut p = MicroParams::bench_point([1, 1, 1]);
    p.n_th = [0.2, 0.1, 0.4];
    p.n_th_shared = [0.3, 0.05];
    p.p_ca = C64::new(0.4, -0.7);
    let ns = fluctuations(&p, [C64::new(0.0, 0.0); 3], linalg::zeros::<3>(), &linspace(0.0, 30.0, 7));
    for n in &ns {
        for i in 0..3 {
            assert!(n[i][i].re >= -1e-14);
            for j in 0..3 {
                assert!((n[i][j] - n[j][i].conj()).norm() < 1e-13);
            }
        }
    }
}

fn master_vs_moments(p: &MicroParams, init: [ModeState; 3]) -> (f64, f64, f64) {
    let times = linspace(0.0, 15.0, 61);
    let o = MasterOptions {
        method: Method::Dop853,
        rtol: 1e-10,
        atol: 1e-12,
        liouvillian: LiouvillianKind::Kernel,
        save_state: SaveState::None,
    };
    let r = master::solve(p, &init, &times, &o, &std::sync::Arc::new(AtomicBool::new(false)), &mut |_| {}).unwrap();
    let m = solve(p, &init, &times);
    let worst_top = r.top_level.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
    let db = r.series.b.iter().zip(&m.b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max);
    let dn = r.series.n_b.iter().zip(&m.n_b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    (db, dn, worst_top)
}

#[test]
fn master_equation_matches_moments_at_zero_temperature() {
    // Cutoffs (8, 8, 5): the state is a weak coherent state whose top-level
    // populations stay ≲ 1e-9 (seen: 3e-10), so truncation is far below the
    // 1e-6 tolerance.
    let mut p = MicroParams::bench_point([8, 8, 5]);
    p.p_a = C64::new(0.8, 0.3);
    p.delta = [0.3, -0.2, 0.1];
    let (db, dn, top) = master_vs_moments(&p, [ModeState::Vacuum; 3]);
    assert!(top < 1e-8, "truncation {top}");
    assert!(db < 1e-6 && dn < 1e-6, "⟨b⟩ {db}, n_b {dn}");
}

#[test]
fn master_equation_matches_moments_with_thermal_baths() {
    // Occupations ≤ 0.05 and cutoffs (9, 9, 6): thermal tails (n/(1+n))^(N−1)
    // ≤ 2e-10 per mode, so truncation stays below the 1e-6 tolerance.
    let mut p = MicroParams::bench_point([9, 9, 6]);
    p.n_th = [0.05, 0.03, 0.0];
    p.n_th_shared = [0.02, 0.01];
    p.p_cb = C64::new(0.6, 0.5);
    let init = [ModeState::Thermal(0.05), ModeState::Vacuum, ModeState::Vacuum];
    let (db, dn, top) = master_vs_moments(&p, init);
    assert!(top < 1e-7, "truncation {top}");
    assert!(db < 1e-6 && dn < 1e-6, "⟨b⟩ {db}, n_b {dn}");
}

#[test]
fn gaussian_battery_metrics_follow_from_mean_and_occupation() {
    let mut p = MicroParams::bench_point([1, 1, 1]);
    p.n_th = [0.0, 0.2, 0.0];
    let s = solve(&p, &[ModeState::Vacuum; 3], &linspace(0.0, 10.0, 5));
    for k in 0..s.len() {
        assert!((s.ergotropy_b[k] - s.b[k].norm_sqr()).abs() < 1e-15);
        assert!(s.energy_b[k] >= s.ergotropy_b[k]);
    }
    let f = solve(&p, &[ModeState::Vacuum, ModeState::Fock(1), ModeState::Vacuum], &[0.0, 1.0]);
    assert!(f.ergotropy_b[1].is_nan() && (f.n_b[0] - 1.0).abs() < 1e-15);
}

#[test]
fn master_equation_matches_moments_with_complex_exchange_to_1e_7() {
    // A coherent exchange between every pair (complex g), on top of the
    // dissipative couplings, at zero temperature and with a weakly thermal
    // charger bath: the moments stay exact (quadratic H). Cutoffs (9, 9, 6)
    // keep every top-level population ≤ 1e-9, so truncation is far below the
    // 1e-7 asked; DOP853 at rtol 1e-10 contributes ~1e-10.
    let mut p = MicroParams::bench_point([9, 9, 6]);
    p.p_a = C64::new(0.8, 0.3);
    p.exchange = [C64::new(0.2, 0.1), C64::new(-0.15, 0.05), C64::new(0.1, -0.2)];
    for n_th in [[0.0; 3], [0.01, 0.0, 0.0]] {
        p.n_th = n_th;
        let (db, dn, top) = master_vs_moments(&p, [ModeState::Vacuum; 3]);
        assert!(top < 1e-8, "truncation {top}");
        assert!(db < 1e-7 && dn < 1e-7, "n_th {n_th:?}: ⟨b⟩ {db}, n_b {dn}");
    }
}

#[test]
fn exchange_alone_swaps_a_coherent_amplitude_between_two_modes() {
    // Closed form: with only g_ab (real), δ = 0 and no loss, ⟨a⟩ = α cos(g t),
    // ⟨b⟩ = −i α sin(g t) from ⟨a⟩(0) = α, ⟨b⟩(0) = 0.
    let g = 0.7;
    let p = MicroParams { exchange: [C64::new(g, 0.0), C64::new(0.0, 0.0), C64::new(0.0, 0.0)], ..MicroParams::linear([1, 1, 1]) };
    let alpha = C64::new(0.3, -0.1);
    let times = linspace(0.0, 6.0, 13);
    for (t, x) in times.iter().zip(means(&p, [alpha, C64::new(0.0, 0.0), C64::new(0.0, 0.0)], &times)) {
        assert!((x[0] - alpha * (g * t).cos()).norm() < 1e-13, "t={t}");
        assert!((x[1] - C64::new(0.0, -1.0) * alpha * (g * t).sin()).norm() < 1e-13, "t={t}");
    }
}

#[test]
fn pure_dephasing_decays_the_mean_and_keeps_the_occupation() {
    // Closed form: only √γφ n on a coherent start: ⟨a⟩ = α e^{−γφ t/2},
    // ⟨a†a⟩ = |α|² for all t, and N_aa = |α|²(1 − e^{−γφ t}).
    let g = 0.4;
    let p = MicroParams { dephasing: [g, 0.0, 0.0], ..MicroParams::linear([1, 1, 1]) };
    let alpha = C64::new(1.1, -0.4);
    let times = linspace(0.0, 8.0, 9);
    let x0 = [alpha, C64::new(0.0, 0.0), C64::new(0.0, 0.0)];
    for (t, (x, s)) in times.iter().zip(raw_moments(&p, x0, linalg::zeros::<3>(), &times)) {
        assert!((x[0] - alpha * (-0.5 * g * t).exp()).norm() < 1e-13, "t={t}");
        assert!((s[0][0].re - alpha.norm_sqr()).abs() < 1e-13, "t={t}");
    }
    let ns = fluctuations(&p, x0, linalg::zeros::<3>(), &times);
    for (t, n) in times.iter().zip(&ns) {
        assert!((n[0][0].re - alpha.norm_sqr() * (1.0 - (-g * t).exp())).abs() < 1e-13, "t={t}");
    }
}

#[test]
fn master_equation_matches_moments_with_dephasing_and_exchange_to_1e_7() {
    // Dephasing on every mode (the state is no longer Gaussian: the battery
    // metrics are NaN) with exchange and a weakly thermal bath: means and
    // occupations stay exact. Truncation as in the exchange test above.
    let mut p = MicroParams::bench_point([9, 9, 6]);
    p.p_a = C64::new(0.8, 0.3);
    p.exchange = [C64::new(0.2, 0.1), C64::new(0.0, 0.0), C64::new(0.1, -0.2)];
    p.dephasing = [0.05, 0.1, 0.08];
    p.n_th = [0.01, 0.0, 0.0];
    let (db, dn, top) = master_vs_moments(&p, [ModeState::Vacuum; 3]);
    assert!(top < 1e-8, "truncation {top}");
    assert!(db < 1e-7 && dn < 1e-7, "⟨b⟩ {db}, n_b {dn}");
    let s = solve(&p, &[ModeState::Vacuum; 3], &[0.0, 1.0]);
    assert!(s.ergotropy_b[1].is_nan() && !stays_gaussian(&p, &[ModeState::Vacuum; 3]));
}

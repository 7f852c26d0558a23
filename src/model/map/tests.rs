use super::*;
use crate::linalg;
use crate::observables::hermitian_eigenvalues;
use crate::reduced::{linspace, ReducedModel};
use crate::testutil::Rng;

/// Magnitude in [0.05, 2), any phase.
fn polar(rng: &mut Rng) -> C64 {
    C64::from_polar(rng.range(0.05, 2.0), rng.range(-3.2, 3.2))
}

fn random_micro(rng: &mut Rng) -> MicroParams {
    // A quarter of the draws put some local rate exactly at 0 (the boundary).
    let mut kappa = [rng.range(0.0, 3.0), rng.range(0.0, 3.0), rng.range(0.0, 3.0)];
    if rng.uniform() < 0.25 {
        kappa[(rng.uniform() * 3.0) as usize % 3] = 0.0;
    }
    if rng.uniform() < 0.05 {
        kappa = [0.0; 3];
    }
    MicroParams {
        cutoffs: [2, 2, 2],
        delta: [rng.range(-2.0, 2.0), rng.range(-2.0, 2.0), 0.0],
        drive: rng.range(-1.0, 1.0),
        kappa,
        gamma: rng.range(0.01, 3.0),
        p_a: polar(rng),
        p_b: polar(rng),
        p_ca: polar(rng),
        p_cb: polar(rng),
        ..MicroParams::linear([2, 2, 2])
    }
}

#[test]
fn passive_systems_are_always_realizable() {
    // docs/physics.md §6 on 10⁴ random microscopic sets: γ_a γ_b ≥ 1 and the
    // Hermitian part of M is positive semidefinite.
    let mut rng = Rng::new(0x5eed_1234_abcd_0001);
    let mut min_product = f64::INFINITY;
    let mut min_eig = f64::INFINITY;
    for _ in 0..10_000 {
        let p = random_micro(&mut rng);
        let map = to_reduced(&p).expect("coupled");
        let prod = map.reduced.gamma_a * map.reduced.gamma_b;
        min_product = min_product.min(prod);
        assert!(prod >= 1.0 - 1e-12, "{p:?}: gamma_a gamma_b = {prod}");
        let m = map.drift;
        let herm: Vec<C64> = (0..9).map(|k| 0.5 * (m[k / 3][k % 3] + m[k % 3][k / 3].conj())).collect();
        let scale = herm.iter().map(|z| z.norm()).fold(0.0, f64::max);
        let e = hermitian_eigenvalues(&herm, 3)[0];
        min_eig = min_eig.min(e / scale);
        assert!(e >= -1e-12 * scale, "{p:?}: smallest eigenvalue of (M + M†)/2 = {e}");
    }
    // The bound is attained (κ = 0 draws), so the minimum is close to 1.
    assert!(min_product < 1.0 + 1e-6, "{min_product}");
    assert!(min_eig.abs() < 1e-10, "{min_eig}");
}

#[test]
fn inverse_map_round_trips_at_realizable_points() {
    let points = [
        ReducedParams::symmetric(0.6, 2.0, 0.3, 1.0),
        ReducedParams::symmetric(1.2, 1.2, 1.0, 0.4),
        ReducedParams::symmetric(1.0, 1.0, 0.0, 2.0),
        ReducedParams { gamma_a: 3.0, gamma_b: 0.5, delta_ra: -0.7, delta_rb: 1.9, drive_r: 0.1 },
    ];
    for r in points {
        for ratio in [10.0, 1e3, 1e5] {
            let p = from_reduced(&r, ratio, [3, 3, 2]).unwrap();
            assert!(p.kappa.iter().all(|&k| k >= 0.0), "{r:?} r={ratio}: {:?}", p.kappa);
            p.validate().unwrap();
            let back = to_reduced(&p).unwrap();
            let b = back.reduced;
            for (x, y) in [
                (b.gamma_a, r.gamma_a),
                (b.gamma_b, r.gamma_b),
                (b.delta_ra, r.delta_ra),
                (b.delta_rb, r.delta_rb),
                (b.drive_r, r.drive_r),
            ] {
                assert!((x - y).abs() < 1e-12 * (1.0 + y.abs()), "{r:?} r={ratio}: {b:?}");
            }
            assert!((back.g - 1.0).abs() < 1e-12 && (back.ratio / ratio - 1.0).abs() < 1e-12);
        }
    }
}

#[test]
fn unrealizable_points_are_refused_with_the_nearest_realizable_point() {
    let broken = ReducedParams::symmetric(0.5, 0.5, 0.0, 1.0);
    match from_reduced(&broken, 100.0, [2, 2, 2]) {
        Err(MapError::NotRealizable { product, near_a, near_b }) => {
            assert_eq!(product, 0.25);
            assert!((near_a * near_b - 1.0).abs() < 1e-14 && (near_a - near_b).abs() < 1e-14);
        }
        other => panic!("{other:?}"),
    }
    let r = ReducedParams::from_alpha(0.4, 0.3, 0.2, 1.0);
    let (a, b) = nearest_realizable(&r);
    assert!((a * b - 1.0).abs() < 1e-14 && ((a - b) / 2.0 - 0.4).abs() < 1e-14);
}

#[test]
fn zero_coupling_is_a_clear_error() {
    let mut p = MicroParams::bench_point([2, 2, 2]);
    p.delta[2] = 0.0;
    p.p_cb = C64::new(0.0, 0.0);
    let e = to_reduced(&p).unwrap_err();
    assert!(matches!(e, MapError::NoCoupling(_)));
    assert!(e.to_string().contains("no effective coupling"));
    p.p_cb = C64::new(1.0, 0.0);
    p.delta[2] = 0.5;
    assert!(matches!(to_reduced(&p), Err(MapError::DetunedMediator(_))));
}

#[test]
fn mapped_reduced_model_equals_the_schur_complement_integrated_directly() {
    // Complex p: the gauge phase is non-trivial. Integrate the 2×2 Schur
    // complement of M directly (augmented exponential, config time) and compare
    // with the reduced model at τ = g t, b = e^{−iφ} b_reduced.
    let mut p = MicroParams::bench_point([2, 2, 2]);
    p.delta[2] = 0.0;
    p.p_a = C64::from_polar(0.9, 0.4);
    p.p_cb = C64::from_polar(1.3, -1.1);
    p.delta = [0.2, -0.1, 0.0];
    let map = to_reduced(&p).unwrap();
    let m = map.drift;
    let mut r = linalg::zeros::<2>();
    for i in 0..2 {
        for j in 0..2 {
            r[i][j] = m[i][j] - m[i][2] * m[2][j] / m[2][2];
        }
    }
    let f = [C64::new(0.0, -p.drive), C64::new(0.0, 0.0)];
    let model = ReducedModel::new(map.reduced);
    for t in linspace(0.0, 30.0, 7) {
        let mut aug = linalg::zeros::<3>();
        for i in 0..2 {
            for j in 0..2 {
                aug[i][j] = -r[i][j] * t;
            }
            aug[i][2] = f[i] * t;
        }
        let e = linalg::expm(&aug);
        let x = model.state_at(map.g * t, &[C64::new(0.0, 0.0); 2]);
        let b = x[1] * C64::from_polar(1.0, -map.gauge_phase);
        assert!((x[0] - e[0][2]).norm() < 1e-12 && (b - e[1][2]).norm() < 1e-12, "t={t}");
    }
}

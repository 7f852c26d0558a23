use super::dense::{adjoint, expm, identity, matmul};
use super::metrics::*;
use super::states::*;
use super::*;
use crate::testutil::Rng;
use num_complex::Complex64 as C64;

fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

fn max_abs_diff(a: &[C64], b: &[C64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max)
}

/// Deterministic xorshift generator (no external RNG dependency).
/// Random full-rank density matrix G G† / Tr(G G†).
fn random_dm(d: usize, seed: u64) -> Vec<C64> {
    let mut rng = Rng::new(seed);
    let g: Vec<C64> = (0..d * d).map(|_| rng.complex()).collect();
    let mut rho = matmul(&g, &adjoint(&g, d), d);
    let tr: f64 = (0..d).map(|i| rho[i * (d + 1)].re).sum();
    rho.iter_mut().for_each(|z| *z /= tr);
    rho
}

/// O(d²) textbook partial trace, reference for `reduced_state`.
fn reduced_state_reference(rho: &[C64], dims: [usize; 3], mode: usize) -> Vec<C64> {
    let d = total_dim(dims);
    let nm = dims[mode];
    let mut out = vec![c(0.0, 0.0); nm * nm];
    for r in 0..d {
        let fr = fock_indices(dims, r);
        for col in 0..d {
            let fc = fock_indices(dims, col);
            let others_equal = (0..3).filter(|&k| k != mode).all(|k| fr[k] == fc[k]);
            if others_equal {
                out[fr[mode] * nm + fc[mode]] += rho[r * d + col];
            }
        }
    }
    out
}

// ---------------------------------------------------------------- ergotropy

#[test]
fn ergotropy_of_displaced_thermal_state_equals_alpha_squared() {
    let n = 40;
    let nbar = 0.3;
    for &alpha in &[c(1.2, 0.0), c(1.2 * 0.7f64.cos(), 1.2 * 0.7f64.sin()), c(-0.4, 0.9)] {
        let rho = displaced_thermal(alpha, nbar, n);
        let m = ModeMetrics::compute(&rho, n);
        let a2 = alpha.norm_sqr();
        assert!((m.ergotropy - a2).abs() < 1e-10, "ε = {} vs |α|² = {a2}", m.ergotropy);
        assert!((ergotropy(&rho, n) - a2).abs() < 1e-10);
        // E = |α|² + n̄, and the spectrum (hence S, purity) is the thermal one
        assert!((m.energy - (a2 + nbar)).abs() < 1e-10, "E = {}", m.energy);
        let s_th = (nbar + 1.0) * (nbar + 1.0).ln() - nbar * nbar.ln();
        assert!((m.entropy - s_th).abs() < 1e-10, "S = {} vs {s_th}", m.entropy);
        assert!((m.purity - 1.0 / (2.0 * nbar + 1.0)).abs() < 1e-10);
    }
}

#[test]
fn ergotropy_of_coherent_state_equals_alpha_squared() {
    let n = 40;
    let alpha = c(0.8, -1.1);
    let rho = coherent_dm(alpha, n);
    assert!((ergotropy(&rho, n) - alpha.norm_sqr()).abs() < 1e-12);
    assert!((energy(&rho, n) - alpha.norm_sqr()).abs() < 1e-12);
}

#[test]
fn ergotropy_of_fock_state_equals_k() {
    let n = 12;
    for k in 0..n {
        let rho = fock_dm(k, n);
        let m = ModeMetrics::compute(&rho, n);
        assert!((m.ergotropy - k as f64).abs() < 1e-12, "k = {k}: ε = {}", m.ergotropy);
        assert!((m.energy - k as f64).abs() < 1e-15);
        assert!(m.entropy.abs() < 1e-12);
        assert!((m.purity - 1.0).abs() < 1e-15);
    }
}

#[test]
fn ergotropy_of_thermal_state_is_zero() {
    for &(nbar, n) in &[(0.0, 10), (0.3, 40), (2.0, 60), (5.0, 30)] {
        let rho = thermal_dm(nbar, n);
        let e = ergotropy(&rho, n);
        assert!(e.abs() < 1e-12, "n̄ = {nbar}, n = {n}: ε = {e}");
        assert!(e >= 0.0);
    }
}

#[test]
fn ergotropy_of_population_inverted_diagonal_state_is_energy_gain_over_sorted() {
    // diag(0.1, 0.2, 0.7): E = 0.2 + 1.4 = 1.6, passive 0.7·0 + 0.2·1 + 0.1·2 = 0.4
    let rho = diag_dm(&[0.1, 0.2, 0.7]);
    assert!((ergotropy(&rho, 3) - 1.2).abs() < 1e-14);
    assert!((passive_energy(&rho, 3) - 0.4).abs() < 1e-14);
}

#[test]
fn ergotropy_round_off_clamp_only_applies_to_tiny_negatives() {
    // spectrum {0.5, 0.5}: passive energy 0.5
    assert_eq!(ergotropy_from_parts(0.5 - 1e-16, &[0.5, 0.5]), 0.0);
    let e = ergotropy_from_parts(0.5 - 1e-6, &[0.5, 0.5]);
    assert!((e + 1e-6).abs() < 1e-15, "large negative must be returned as is, got {e}");
}

// ----------------------------------------------------------- entropy, purity

#[test]
fn entropy_of_thermal_state_matches_bose_einstein_formula() {
    for &nbar in &[0.1, 0.5, 2.0, 7.5] {
        // cutoff with q^n < 1e-18: truncation far below the tolerance
        let q: f64 = nbar / (1.0 + nbar);
        let n = ((1e-18f64).ln() / q.ln()).ceil() as usize;
        let s = von_neumann_entropy(&thermal_dm(nbar, n), n);
        let s_be = (nbar + 1.0) * (nbar + 1.0).ln() - nbar * nbar.ln();
        assert!((s - s_be).abs() < 1e-12 * s_be.max(1.0), "n̄ = {nbar}: {s} vs {s_be}");
    }
}

#[test]
fn entropy_of_truncated_thermal_state_is_shannon_entropy_of_truncated_distribution() {
    // Small cutoff: truncation is large; the exact answer is the Shannon entropy
    // of the renormalised truncated distribution, which is below the BE value.
    let (nbar, n) = (2.0, 6);
    let p = thermal_diag(nbar, n);
    let shannon: f64 = p.iter().map(|&x| -x * x.ln()).sum();
    let s = von_neumann_entropy(&thermal_dm(nbar, n), n);
    assert!((s - shannon).abs() < 1e-13);
    let s_be = (nbar + 1.0) * (nbar + 1.0).ln() - nbar * nbar.ln();
    assert!(s < s_be);
}

#[test]
fn purity_of_pure_state_is_one() {
    let n = 30;
    let mut rng = Rng::new(7);
    let mut psi: Vec<C64> = (0..n).map(|_| rng.complex()).collect();
    normalize_ket(&mut psi);
    for rho in [pure_dm(&psi), coherent_dm(c(1.0, 0.5), n), fock_dm(3, n)] {
        assert!((purity(&rho, n) - 1.0).abs() < 1e-13);
        assert!(von_neumann_entropy(&rho, n).abs() < 1e-10);
    }
}

#[test]
fn purity_of_thermal_state_equals_inverse_of_two_nbar_plus_one() {
    for &nbar in &[0.0, 0.3, 1.0, 4.0] {
        let n = 400;
        let p = purity(&thermal_dm(nbar, n), n);
        assert!((p - 1.0 / (2.0 * nbar + 1.0)).abs() < 1e-13, "n̄ = {nbar}: {p}");
    }
}

#[test]
fn mode_metrics_agree_with_individual_functions() {
    let n = 25;
    let rho = displaced_thermal(c(0.7, 0.2), 0.8, n);
    let m = ModeMetrics::compute(&rho, n);
    assert_eq!(m.energy, energy(&rho, n));
    assert_eq!(m.purity, purity(&rho, n));
    assert!((m.ergotropy - ergotropy(&rho, n)).abs() < 1e-15);
    assert!((m.entropy - von_neumann_entropy(&rho, n)).abs() < 1e-15);
}

// ------------------------------------------------------------ partial trace

#[test]
fn reduced_state_of_product_state_returns_each_factor() {
    let dims = [3, 4, 5];
    let ra = coherent_dm(c(0.3, -0.2), 3);
    let rb = displaced_thermal(c(0.4, 0.1), 0.5, 4);
    let rc = {
        let mut psi = vec![c(0.5, 0.0), c(0.0, 0.3), c(-0.2, 0.1), c(0.1, 0.1), c(0.0, -0.4)];
        normalize_ket(&mut psi);
        pure_dm(&psi)
    };
    let rho = kron3(&ra, &rb, &rc, dims);
    let d = total_dim(dims);
    assert!((trace(&rho, d) - c(1.0, 0.0)).norm() < 1e-14);
    assert!(max_abs_diff(&reduced_state(&rho, dims, 0), &ra) < 1e-14);
    assert!(max_abs_diff(&reduced_state(&rho, dims, 1), &rb) < 1e-14);
    assert!(max_abs_diff(&reduced_state(&rho, dims, 2), &rc) < 1e-14);
    let [a, b, cc] = reduced_states(&rho, dims);
    assert!(max_abs_diff(&a, &ra) + max_abs_diff(&b, &rb) + max_abs_diff(&cc, &rc) < 1e-13);
}

#[test]
fn reduced_state_of_entangled_state_is_mixed() {
    // (|0,1,0⟩ + |1,0,0⟩)/√2: ρ_a = ρ_b(restricted to {0,1}) = 1/2, ρ_c = |0⟩⟨0|
    let dims = [2, 3, 2];
    let d = total_dim(dims);
    let mut psi = vec![c(0.0, 0.0); d];
    psi[flat_index(dims, 0, 1, 0)] = c(1.0, 0.0);
    psi[flat_index(dims, 1, 0, 0)] = c(0.0, 1.0); // relative phase must not matter
    normalize_ket(&mut psi);
    let rho = pure_dm(&psi);
    let ra = reduced_state(&rho, dims, 0);
    let rb = reduced_state(&rho, dims, 1);
    let rc = reduced_state(&rho, dims, 2);
    assert!(max_abs_diff(&ra, &diag_dm(&[0.5, 0.5])) < 1e-15);
    assert!(max_abs_diff(&rb, &diag_dm(&[0.5, 0.5, 0.0])) < 1e-15);
    assert!(max_abs_diff(&rc, &diag_dm(&[1.0, 0.0])) < 1e-15);
    // maximally mixed qubit: S = ln 2, purity 1/2; the global state is pure
    assert!((von_neumann_entropy(&ra, 2) - 2f64.ln()).abs() < 1e-14);
    assert!((purity(&rb, 3) - 0.5).abs() < 1e-15);
    assert!((purity(&rho, d) - 1.0).abs() < 1e-15);
}

#[test]
fn reduced_state_keeps_coherences_of_partially_entangled_state() {
    // (|000⟩ + |100⟩ + |010⟩)/√3: ρ_a = [[2/3, 1/3], [1/3, 1/3]] (same for ρ_b)
    let dims = [2, 2, 3];
    let d = total_dim(dims);
    let mut psi = vec![c(0.0, 0.0); d];
    for (na, nb) in [(0, 0), (1, 0), (0, 1)] {
        psi[flat_index(dims, na, nb, 0)] = c(1.0, 0.0);
    }
    normalize_ket(&mut psi);
    let rho = pure_dm(&psi);
    let expect = vec![c(2.0 / 3.0, 0.0), c(1.0 / 3.0, 0.0), c(1.0 / 3.0, 0.0), c(1.0 / 3.0, 0.0)];
    assert!(max_abs_diff(&reduced_state(&rho, dims, 0), &expect) < 1e-15);
    assert!(max_abs_diff(&reduced_state(&rho, dims, 1), &expect) < 1e-15);
}

#[test]
fn reduced_state_matches_brute_force_partial_trace_on_random_state() {
    for (seed, dims) in [(1u64, [3usize, 4, 2]), (2, [2, 5, 3]), (3, [4, 1, 3])] {
        let d = total_dim(dims);
        let rho = random_dm(d, 0x9E37_79B9_7F4A_7C15 ^ seed);
        for mode in 0..3 {
            let fast = reduced_state(&rho, dims, mode);
            let slow = reduced_state_reference(&rho, dims, mode);
            assert!(max_abs_diff(&fast, &slow) < 1e-14, "dims {dims:?}, mode {mode}");
            let tr: C64 = (0..dims[mode]).map(|k| fast[k * (dims[mode] + 1)]).sum();
            assert!((tr - c(1.0, 0.0)).norm() < 1e-13);
        }
    }
}

#[test]
fn reduced_state_into_overwrites_stale_buffer() {
    let dims = [2, 3, 2];
    let rho = random_dm(total_dim(dims), 11);
    let mut buf = vec![c(9.0, 9.0); 9];
    reduced_state_into(&rho, dims, 1, &mut buf);
    assert!(max_abs_diff(&buf, &reduced_state(&rho, dims, 1)) == 0.0);
}

// ----------------------------------------------------- diagonal diagnostics

#[test]
fn top_level_population_of_fock_product_flags_modes_at_cutoff() {
    let dims = [3, 4, 5];
    let rho = kron3(&fock_dm(2, 3), &fock_dm(1, 4), &fock_dm(4, 5), dims);
    assert_eq!(top_level_population(&rho, dims), [1.0, 0.0, 1.0]);
    let rho = kron3(&fock_dm(0, 3), &fock_dm(3, 4), &fock_dm(2, 5), dims);
    assert_eq!(top_level_population(&rho, dims), [0.0, 1.0, 0.0]);
}

#[test]
fn top_level_population_of_thermal_product_is_each_top_weight() {
    let dims = [4, 3, 5];
    let (pa, pb, pc) = (thermal_diag(0.5, 4), thermal_diag(1.0, 3), thermal_diag(2.0, 5));
    let rho = kron3(&diag_dm(&pa), &diag_dm(&pb), &diag_dm(&pc), dims);
    let top = top_level_population(&rho, dims);
    assert!((top[0] - pa[3]).abs() < 1e-15);
    assert!((top[1] - pb[2]).abs() < 1e-15);
    assert!((top[2] - pc[4]).abs() < 1e-15);
}

#[test]
fn mode_populations_are_marginal_distributions() {
    let dims = [3, 4, 2];
    let rho = random_dm(total_dim(dims), 5);
    let pops = mode_populations(&rho, dims);
    for mode in 0..3 {
        let rm = reduced_state(&rho, dims, mode);
        let nm = dims[mode];
        for k in 0..nm {
            assert!((pops[mode][k] - rm[k * (nm + 1)].re).abs() < 1e-15);
        }
    }
    let d = total_dim(dims);
    assert!((diagonal_populations(&rho, d).iter().sum::<f64>() - 1.0).abs() < 1e-13);
}

#[test]
fn flat_index_and_fock_indices_are_inverse() {
    let dims = [3, 4, 5];
    for i in 0..total_dim(dims) {
        let [a, b, cc] = fock_indices(dims, i);
        assert_eq!(flat_index(dims, a, b, cc), i);
    }
    assert_eq!(flat_index(dims, 1, 2, 3), 33); // (1*4 + 2)*5 + 3
}

// ----------------------------------------------------- physicality checks

#[test]
fn hermitian_eigenvalues_of_known_matrices() {
    // [[1, i], [-i, 1]] has eigenvalues 0, 2
    let m = vec![c(1.0, 0.0), c(0.0, 1.0), c(0.0, -1.0), c(1.0, 0.0)];
    let ev = hermitian_eigenvalues(&m, 2);
    assert!(ev[0].abs() < 1e-15 && (ev[1] - 2.0).abs() < 1e-15, "{ev:?}");
    // symmetrisation: the Hermitian part of [[0, 2], [0, 0]] is σx → ±1
    let m = vec![c(0.0, 0.0), c(2.0, 0.0), c(0.0, 0.0), c(0.0, 0.0)];
    let ev = hermitian_eigenvalues(&m, 2);
    assert!((ev[0] + 1.0).abs() < 1e-15 && (ev[1] - 1.0).abs() < 1e-15, "{ev:?}");
    // unsorted diagonal comes back nondecreasing
    let ev = hermitian_eigenvalues(&diag_dm(&[3.0, -1.0, 2.0]), 3);
    assert_eq!(ev, vec![-1.0, 2.0, 3.0]);
    assert!(hermitian_eigenvalues(&[], 0).is_empty());
    assert!(hermitian_eigenvalues(&[c(f64::NAN, 0.0)], 1)[0].is_nan());
}

#[test]
fn hermitian_eigenvalues_sum_to_trace_on_large_random_state() {
    let d = 300; // exercises the parallel branch
    let rho = random_dm(d, 42);
    let ev = hermitian_eigenvalues(&rho, d);
    assert_eq!(ev.len(), d);
    assert!(ev.windows(2).all(|w| w[0] <= w[1]));
    assert!((ev.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!((ev.iter().map(|x| x * x).sum::<f64>() - purity(&rho, d)).abs() < 1e-12);
    assert!(ev[0] > 0.0);
}

#[test]
fn min_eigenvalue_detects_loss_of_positivity() {
    let dims = [2, 3, 2];
    let d = total_dim(dims);
    let rho = random_dm(d, 3);
    assert!(min_eigenvalue(&rho, d) > 0.0);
    let pure = pure_dm(&kron3_ket(&fock(1, 2), &coherent(c(0.5, 0.0), 3), &fock(0, 2)));
    assert!(min_eigenvalue(&pure, d).abs() < 1e-14);
    // push one population negative
    let mut bad = diag_dm(&vec![1.0 / d as f64; d]);
    bad[5 * (d + 1)] = c(-0.01, 0.0);
    assert!((min_eigenvalue(&bad, d) + 0.01).abs() < 1e-15);
}

#[test]
fn hermiticity_defect_is_zero_for_hermitian_and_measures_asymmetry() {
    let d = 70; // more than one 64-wide tile
    let mut rho = random_dm(d, 9);
    assert!(hermiticity_defect(&rho, d) < 1e-15);
    rho[3 * d + 66] += c(0.0, 1e-3);
    assert!((hermiticity_defect(&rho, d) - 1e-3).abs() < 1e-12);
    rho[10 * (d + 1)] += c(0.0, 0.5); // imaginary diagonal: |2i·0.5| = 1
    assert!((hermiticity_defect(&rho, d) - 1.0).abs() < 1e-12);
    rho[0] = c(f64::NAN, 0.0);
    assert!(hermiticity_defect(&rho, d).is_nan());
}

#[test]
fn trace_of_product_state_is_product_of_traces() {
    let dims = [2, 3, 4];
    let ra: Vec<C64> = diag_dm(&[0.5, 1.5]);
    let rb = thermal_dm(1.0, 3);
    let rc: Vec<C64> = fock_dm(2, 4).iter().map(|z| z * 3.0).collect();
    let t = trace(&kron3(&ra, &rb, &rc, dims), total_dim(dims));
    assert!((t - c(6.0, 0.0)).norm() < 1e-14);
}

// ---------------------------------------------------------- state builders

#[test]
fn expm_of_diagonal_and_of_nilpotent_matrices_is_exact() {
    let m = diag_dm(&[0.0, 1.0, -2.5]);
    let e = expm(&m, 3);
    let expect = vec![
        c(1.0, 0.0), c(0.0, 0.0), c(0.0, 0.0),
        c(0.0, 0.0), c(1f64.exp(), 0.0), c(0.0, 0.0),
        c(0.0, 0.0), c(0.0, 0.0), c((-2.5f64).exp(), 0.0),
    ];
    assert!(max_abs_diff(&e, &expect) < 1e-14);
    // exp([[0, t], [0, 0]]) = [[1, t], [0, 1]] with a large norm (squaring path)
    let t = 37.0;
    let e = expm(&[c(0.0, 0.0), c(t, 0.0), c(0.0, 0.0), c(0.0, 0.0)], 2);
    assert!(max_abs_diff(&e, &[c(1.0, 0.0), c(t, 0.0), c(0.0, 0.0), c(1.0, 0.0)]) < 1e-12);
}

#[test]
fn truncated_displacement_is_unitary() {
    let n = 30;
    let dm = displacement(c(1.5, -0.7), n);
    let u = matmul(&dm, &adjoint(&dm, n), n);
    assert!(max_abs_diff(&u, &identity(n)) < 1e-12);
}

#[test]
fn displacement_of_vacuum_is_coherent_state() {
    let n = 60;
    let alpha = c(1.3, 0.9);
    let dm = displacement(alpha, n);
    let col0: Vec<C64> = (0..n).map(|i| dm[i * n]).collect();
    let coh = coherent(alpha, n);
    // compare the low levels, far from the cutoff edge
    assert!(max_abs_diff(&col0[..25], &coh[..25]) < 1e-12);
    // exact prefactor e^{-|α|²/2} of ⟨0|α⟩
    assert!((col0[0].re - (-alpha.norm_sqr() / 2.0).exp()).abs() < 1e-13);
}

#[test]
fn displaced_thermal_with_zero_nbar_is_coherent_state() {
    let n = 30;
    let alpha = c(-0.9, 0.6);
    let rho = displaced_thermal(alpha, 0.0, n);
    assert!(max_abs_diff(&rho, &coherent_dm(alpha, n)) < 1e-12);
    assert!(hermiticity_defect(&rho, n) < 1e-15);
}

#[test]
fn displaced_thermal_with_zero_alpha_is_thermal_state() {
    let n = 20;
    let rho = displaced_thermal(c(0.0, 0.0), 1.5, n);
    assert!(max_abs_diff(&rho, &thermal_dm(1.5, n)) < 1e-14);
}

#[test]
fn thermal_distribution_is_normalised_bose_einstein() {
    let p = thermal_diag(1.0, 4); // ∝ 1, 1/2, 1/4, 1/8
    let z = 1.0 + 0.5 + 0.25 + 0.125;
    for (k, &pk) in p.iter().enumerate() {
        assert!((pk - 0.5f64.powi(k as i32) / z).abs() < 1e-16);
    }
    assert_eq!(thermal_diag(0.0, 3), vec![1.0, 0.0, 0.0]);
    let big = thermal_diag(3.0, 300);
    let mean: f64 = big.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
    assert!((mean - 3.0).abs() < 1e-12);
}

#[test]
fn coherent_state_is_normalised_with_poisson_weights() {
    let alpha = c(0.6, 0.8); // |α|² = 1
    let psi = coherent(alpha, 50);
    assert!((psi.iter().map(|z| z.norm_sqr()).sum::<f64>() - 1.0).abs() < 1e-15);
    let mut fact = 1.0;
    for (k, z) in psi.iter().enumerate().take(10) {
        if k > 0 {
            fact *= k as f64;
        }
        assert!((z.norm_sqr() - (-1.0f64).exp() / fact).abs() < 1e-15);
    }
}

#[test]
fn kron3_ket_outer_product_equals_kron3_of_projectors() {
    let dims = [2, 3, 2];
    let (a, b, cc) = (coherent(c(0.2, 0.1), 2), coherent(c(-0.3, 0.4), 3), fock(1, 2));
    let lhs = pure_dm(&kron3_ket(&a, &b, &cc));
    let rhs = kron3(&pure_dm(&a), &pure_dm(&b), &pure_dm(&cc), dims);
    assert!(max_abs_diff(&lhs, &rhs) < 1e-15);
}

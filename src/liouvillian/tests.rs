//! Kernel = superoperator = a naive dense Liouvillian built independently from
//! Kronecker products of single-mode matrices (no shift-operator code).

use super::kernel::Kernel;
use std::ops::Range;
use super::superop::SuperOperator;
use super::*;
use crate::model::MicroParams;
pub(crate) use crate::testutil::Rng;

type C = C64;

fn dense_mul(a: &[C], b: &[C], d: usize) -> Vec<C> {
    let mut c = vec![C::new(0.0, 0.0); d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            if aik != C::new(0.0, 0.0) {
                for j in 0..d {
                    c[i * d + j] += aik * b[k * d + j];
                }
            }
        }
    }
    c
}

fn dagger(a: &[C], d: usize) -> Vec<C> {
    let mut t = vec![C::new(0.0, 0.0); d * d];
    for i in 0..d {
        for j in 0..d {
            t[j * d + i] = a[i * d + j].conj();
        }
    }
    t
}

/// Single-mode annihilation operator embedded by Kronecker products.
fn dense_lower(dims: [usize; 3], mode: usize) -> Vec<C> {
    let d: usize = dims.iter().product();
    let mut m = vec![C::new(0.0, 0.0); d * d];
    for na in 0..dims[0] {
        for nb in 0..dims[1] {
            for nc in 0..dims[2] {
                let n = [na, nb, nc];
                if n[mode] == 0 {
                    continue;
                }
                let mut lowered = n;
                lowered[mode] -= 1;
                let idx = |v: [usize; 3]| (v[0] * dims[1] + v[1]) * dims[2] + v[2];
                m[idx(lowered) * d + idx(n)] = C::new((n[mode] as f64).sqrt(), 0.0);
            }
        }
    }
    m
}

/// 𝓛ρ = −i[H, ρ] + Σ r (LρL† − ½{L†L, ρ}) with plain dense algebra.
pub(crate) fn dense_reference(p: &MicroParams, rho: &[C]) -> Vec<C> {
    let dims = p.cutoffs;
    let d: usize = dims.iter().product();
    let ops: Vec<Vec<C>> = (0..3).map(|m| dense_lower(dims, m)).collect();
    let add = |x: &[C], y: &[C], s: C| x.iter().zip(y).map(|(a, b)| a + s * b).collect::<Vec<C>>();
    let zero = vec![C::new(0.0, 0.0); d * d];
    let mut h = zero.clone();
    for m in 0..3 {
        h = add(&h, &dense_mul(&dagger(&ops[m], d), &ops[m], d), C::new(p.delta[m], 0.0));
    }
    h = add(&h, &ops[0], C::new(p.drive, 0.0));
    h = add(&h, &dagger(&ops[0], d), C::new(p.drive, 0.0));
    // Terms beyond the paper, from their definitions with plain matrices:
    // (K/2) j†j†jj, K_mn n_m n_n, g a_m†a_n + g* a_n†a_m, jumps √γφ n_j.
    let num: Vec<Vec<C>> = (0..3).map(|m| dense_mul(&dagger(&ops[m], d), &ops[m], d)).collect();
    for m in 0..3 {
        let ad = dagger(&ops[m], d);
        let kerr = dense_mul(&dense_mul(&ad, &ad, d), &dense_mul(&ops[m], &ops[m], d), d);
        h = add(&h, &kerr, C::new(0.5 * p.kerr[m], 0.0));
    }
    for (k, (m, n)) in [(0, 1), (0, 2), (1, 2)].into_iter().enumerate() {
        h = add(&h, &dense_mul(&num[m], &num[n], d), C::new(p.cross_kerr[k], 0.0));
        h = add(&h, &dense_mul(&dagger(&ops[m], d), &ops[n], d), p.exchange[k]);
        h = add(&h, &dense_mul(&dagger(&ops[n], d), &ops[m], d), p.exchange[k].conj());
    }
    let z_a = add(&add(&zero, &ops[0], p.p_a), &ops[2], p.p_ca);
    let z_b = add(&add(&zero, &ops[1], p.p_b), &ops[2], p.p_cb);
    let mut jumps: Vec<(f64, Vec<C>)> = Vec::new();
    let baths = [
        (p.kappa[0], p.n_th[0], ops[0].clone()),
        (p.kappa[1], p.n_th[1], ops[1].clone()),
        (p.kappa[2], p.n_th[2], ops[2].clone()),
        (p.gamma, p.n_th_shared[0], z_a),
        (p.gamma, p.n_th_shared[1], z_b),
    ];
    for (rate, n, l) in baths {
        jumps.push((rate * (1.0 + n), l.clone()));
        jumps.push((rate * n, dagger(&l, d)));
    }
    for m in 0..3 {
        jumps.push((p.dephasing[m], num[m].clone()));
    }
    let i = C::new(0.0, 1.0);
    let mut out = add(&dense_mul(&h, rho, d), &dense_mul(rho, &h, d), C::new(-1.0, 0.0));
    out.iter_mut().for_each(|x| *x *= -i);
    for (rate, l) in jumps {
        let ld = dagger(&l, d);
        let ldl = dense_mul(&ld, &l, d);
        let sandwich = dense_mul(&dense_mul(&l, rho, d), &ld, d);
        let anti = add(&dense_mul(&ldl, rho, d), &dense_mul(rho, &ldl, d), C::new(1.0, 0.0));
        out = add(&out, &add(&sandwich, &anti, C::new(-0.5, 0.0)), C::new(rate, 0.0));
    }
    out
}

pub(crate) fn random_params(rng: &mut Rng, cutoffs: [usize; 3]) -> MicroParams {
    MicroParams {
        cutoffs,
        delta: [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)],
        drive: rng.range(-0.5, 0.5),
        kappa: [rng.range(0.0, 1.0), rng.range(0.0, 1.0), rng.range(0.0, 3.0)],
        gamma: rng.range(0.0, 2.0),
        p_a: rng.complex(),
        p_b: rng.complex(),
        p_ca: rng.complex(),
        p_cb: rng.complex(),
        n_th: [rng.range(0.0, 0.5), rng.range(0.0, 0.5), rng.range(0.0, 0.5)],
        n_th_shared: [rng.range(0.0, 0.5), rng.range(0.0, 0.5)],
        ..MicroParams::linear(cutoffs)
    }
}

/// [`random_params`] with every term beyond the paper non-zero: Kerr,
/// cross-Kerr, complex exchange, dephasing.
pub(crate) fn random_params_all_terms(rng: &mut Rng, cutoffs: [usize; 3]) -> MicroParams {
    let p = random_params(rng, cutoffs);
    MicroParams {
        kerr: [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)],
        cross_kerr: [rng.range(-1.0, 1.0), rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)],
        exchange: [rng.complex(), rng.complex(), rng.complex()],
        dephasing: [rng.range(0.01, 1.0), rng.range(0.01, 1.0), rng.range(0.01, 1.0)],
        ..p
    }
}

/// A random Hermitian matrix (not necessarily positive: 𝓛 is linear).
pub(crate) fn random_hermitian(rng: &mut Rng, d: usize) -> Vec<C> {
    let mut m = vec![C::new(0.0, 0.0); d * d];
    for i in 0..d {
        m[i * d + i] = C::new(rng.range(-1.0, 1.0), 0.0);
        for j in i + 1..d {
            let z = rng.complex();
            m[i * d + j] = z;
            m[j * d + i] = z.conj();
        }
    }
    m
}

fn max_diff(x: &[C], y: &[C]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max)
}

#[test]
fn kernel_matches_superoperator_and_dense_reference() {
    let mut rng = Rng::new(7);
    for cutoffs in [[3, 4, 5], [4, 3, 2], [2, 5, 3], [1, 6, 4], [5, 2, 6]] {
        for trial in 0..4 {
            let mut p = random_params(&mut rng, cutoffs);
            if trial == 3 {
                // Real couplings: the kernel's real/imaginary-scalar fast paths.
                for z in [&mut p.p_a, &mut p.p_b, &mut p.p_ca, &mut p.p_cb] {
                    z.im = 0.0;
                }
            }
            paths_match_the_dense_reference(&p, &mut rng);
        }
    }
}

/// Kernel (full and banded layout), superoperator and the dense Kronecker
/// reference agree on a random Hermitian ρ: to round-off of a sum of ~20
/// O(1)·O(1) terms, 1e-12 relative to the largest entry.
fn paths_match_the_dense_reference(p: &MicroParams, rng: &mut Rng) {
    let d = p.space().dim();
    let rho = random_hermitian(rng, d);
    let gen = Generator::new(&p.lindblad_terms());
    let kernel = Kernel::new(gen.clone());
    let sup = SuperOperator::new(&gen).unwrap();
    let mut lk = vec![C::new(0.0, 0.0); d * d];
    let mut ls = lk.clone();
    kernel.apply(&rho, &mut lk);
    sup.apply(&rho, &mut ls);
    let want = dense_reference(p, &rho);
    let scale = want.iter().map(|z| z.norm()).fold(1.0, f64::max);
    let dims = p.cutoffs;
    assert!(max_diff(&lk, &want) <= 1e-12 * scale, "{dims:?}: kernel {}", max_diff(&lk, &want));
    assert!(max_diff(&ls, &want) <= 1e-12 * scale, "{dims:?}: superop {}", max_diff(&ls, &want));
    let layout = kernel.banded_layout().clone();
    let mut out = vec![C::new(0.0, 0.0); layout.len()];
    kernel.apply_banded(&layout.from_full(&rho), &mut out);
    let mut full = vec![C::new(0.0, 0.0); d * d];
    layout.to_full(&out, &mut full);
    assert!(max_diff(&full, &want) <= 1e-12 * scale, "{dims:?}: banded {}", max_diff(&full, &want));
}

#[test]
fn every_model_term_matches_in_kernel_superoperator_and_dense_reference() {
    // Kerr, cross-Kerr, complex exchange and dephasing all non-zero, with
    // random complex couplings and thermal baths, d ≤ 60.
    let mut rng = Rng::new(0x8e11);
    for cutoffs in [[3, 4, 5], [4, 3, 2], [2, 5, 3], [1, 6, 4], [5, 2, 6], [3, 3, 3]] {
        for _ in 0..3 {
            let p = random_params_all_terms(&mut rng, cutoffs);
            paths_match_the_dense_reference(&p, &mut rng);
        }
    }
}

#[test]
fn generator_preserves_trace_and_hermiticity() {
    let mut rng = Rng::new(11);
    let p = random_params(&mut rng, [4, 4, 3]);
    let d = p.space().dim();
    let rho = random_hermitian(&mut rng, d);
    let mut out = vec![C::new(0.0, 0.0); d * d];
    Kernel::new(Generator::new(&p.lindblad_terms())).apply(&rho, &mut out);
    let tr: C = (0..d).map(|i| out[i * d + i]).sum();
    assert!(tr.norm() < 1e-12, "Tr 𝓛ρ = {tr}");
    for i in 0..d {
        for j in 0..d {
            assert!((out[i * d + j] - out[j * d + i].conj()).norm() < 1e-12);
        }
    }
}

#[test]
fn local_and_shared_dissipators_merge_into_few_passes() {
    // Zero temperature: K has 7 shifts (13 left/right pieces, the diagonal shared),
    // L ρ L† has 7 offset pairs (aa, bb, cc, ac, ca, bc, cb): 20 passes in all.
    let mut rng = Rng::new(3);
    let mut p = random_params(&mut rng, [4, 4, 3]);
    p.n_th = [0.0; 3];
    p.n_th_shared = [0.0; 2];
    assert_eq!(Kernel::new(Generator::new(&p.lindblad_terms())).passes(), 20);
}

#[test]
fn heisenberg_adjoint_satisfies_trace_duality() {
    // Tr(O·𝓛ρ) = Tr(𝓛†(O)·ρ) for O = b†b and O = a, random parameters and ρ.
    let mut rng = Rng::new(5);
    let p = random_params(&mut rng, [3, 4, 3]);
    let d = p.space().dim();
    let rho = random_hermitian(&mut rng, d);
    let terms = p.lindblad_terms();
    let mut lrho = vec![C::new(0.0, 0.0); d * d];
    Kernel::new(Generator::new(&terms)).apply(&rho, &mut lrho);
    let sp = p.space();
    for o in [sp.number(1), sp.lower(0)] {
        let lhs = o.expect(&lrho);
        let rhs = heisenberg(&terms, &o).expect(&rho);
        assert!((lhs - rhs).norm() < 1e-12 * (1.0 + lhs.norm()), "{lhs} vs {rhs}");
    }
}

#[test]
fn banded_layout_kernel_matches_full_kernel() {
    let mut rng = Rng::new(23);
    for cutoffs in [[3, 4, 5], [5, 2, 6], [6, 6, 4]] {
        let p = random_params(&mut rng, cutoffs);
        let d = p.space().dim();
        let rho = random_hermitian(&mut rng, d);
        let k = Kernel::new(Generator::new(&p.lindblad_terms()));
        let mut full = vec![C::new(0.0, 0.0); d * d];
        k.apply(&rho, &mut full);
        let lay = k.banded_layout();
        assert!(lay.len() < d * d);
        let banded_in = lay.from_full(&rho);
        let mut banded_out = vec![C::new(0.0, 0.0); lay.len()];
        k.apply_banded(&banded_in, &mut banded_out);
        let mut back = vec![C::new(0.0, 0.0); d * d];
        lay.to_full(&banded_out, &mut back);
        // Same arithmetic on the same entries: equal to the last bit.
        assert_eq!(back, full, "{cutoffs:?}");
    }
}

#[test]
fn every_instruction_set_matches_the_dense_reference() {
    // The portable loop (generic and AVX2 builds) and, where the CPU has
    // AVX-512, the fused loop (with its zero-padded shifted reads and its
    // fallback rows), on the full and the banded layout.
    use crate::simd::Simd;
    let mut sets = vec![Simd::Generic];
    #[cfg(target_arch = "x86_64")]
    {
        if Simd::best() != Simd::Generic {
            sets.push(Simd::Avx2);
        }
        if Simd::best() == Simd::Avx512 {
            sets.push(Simd::Avx512);
        }
    }
    let mut rng = Rng::new(29);
    for cutoffs in [[3, 4, 5], [5, 2, 6], [6, 6, 4], [1, 7, 3]] {
        for (real, all_terms) in [(false, false), (true, false), (false, true)] {
            let mut p = if all_terms { random_params_all_terms(&mut rng, cutoffs) } else { random_params(&mut rng, cutoffs) };
            if real {
                for z in [&mut p.p_a, &mut p.p_b, &mut p.p_ca, &mut p.p_cb] {
                    z.im = 0.0;
                }
            }
            let d = p.space().dim();
            let rho = random_hermitian(&mut rng, d);
            let want = dense_reference(&p, &rho);
            let scale = want.iter().map(|z| z.norm()).fold(1.0, f64::max);
            for &simd in &sets {
                let k = Kernel::with_simd(Generator::new(&p.lindblad_terms()), simd);
                let mut full = vec![C::new(0.0, 0.0); d * d];
                k.apply(&rho, &mut full);
                assert!(max_diff(&full, &want) <= 1e-12 * scale, "{simd:?} {cutoffs:?}: {}", max_diff(&full, &want));
                let lay = k.banded_layout();
                let mut out = vec![C::new(0.0, 0.0); lay.len()];
                k.apply_banded(&lay.from_full(&rho), &mut out);
                let mut back = vec![C::new(0.0, 0.0); d * d];
                lay.to_full(&out, &mut back);
                assert!(max_diff(&back, &want) <= 1e-12 * scale, "{simd:?} {cutoffs:?} banded");
            }
        }
    }
}

#[test]
fn wavefront_chain_equals_repeated_application() {
    // Kernel::apply_chain_banded must give the powers 𝓛^j ρ of repeated
    // application and hand every entry to the sink exactly once, for any
    // number of threads (the wavefront's interleaving changes with it).
    let mut rng = Rng::new(31);
    for (cutoffs, threads) in [([6, 6, 4], 1), ([6, 6, 4], 2), ([5, 7, 3], 3), ([8, 8, 4], 2)] {
        let p = random_params(&mut rng, cutoffs);
        let d = p.space().dim();
        let k = Kernel::new(Generator::new(&p.lindblad_terms()));
        let lay = k.banded_layout().clone();
        let w0 = lay.from_full(&random_hermitian(&mut rng, d));
        let n = 5;
        let mut want = vec![w0.clone()];
        for j in 0..n {
            let mut next = vec![C::new(0.0, 0.0); lay.len()];
            k.apply_banded(&want[j], &mut next);
            want.push(next);
        }
        let mut bufs: Vec<Vec<C>> = (0..=n).map(|_| vec![C::new(f64::NAN, 0.0); lay.len()]).collect();
        bufs[0].copy_from_slice(&w0);
        let addrs: Vec<usize> = bufs.iter_mut().map(|b| b.as_mut_ptr() as usize).collect();
        let seen = std::sync::Mutex::new(Vec::new());
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let used = pool.install(|| {
            let ptrs: Vec<*mut C> = addrs.iter().map(|&a| a as *mut C).collect();
            // SAFETY: distinct buffers of the layout's length, w_0 complete and Hermitian.
            unsafe { k.apply_chain_banded(&ptrs, &|r: Range<usize>| seen.lock().unwrap().push(r)) }
        });
        // The wavefront exists only with the fused AVX-512 loop.
        if k.simd() != crate::simd::Simd::Avx512 {
            assert!(!used);
            continue;
        }
        assert!(used);
        for j in 1..=n {
            let scale = want[j].iter().map(|z| z.norm()).fold(1e-300, f64::max);
            let diff = max_diff(&bufs[j], &want[j]);
            // Same arithmetic except rows that fall back to the portable loop: round-off only.
            assert!(diff <= 1e-13 * scale, "{cutoffs:?} threads {threads} power {j}: {diff:e} of {scale:e}");
        }
        let mut ranges = seen.into_inner().unwrap();
        ranges.sort_by_key(|r| r.start);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(lay.len()));
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start), "{ranges:?}");
    }
}

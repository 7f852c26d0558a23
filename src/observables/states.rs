//! Builders for single-mode and three-mode states (tests and initial states).
//!
//! Single-mode kets are `Vec<C64>` of length `n` (Fock levels `0..n`);
//! single-mode density matrices are `n × n` row-major. Every truncated state is
//! renormalised within its cutoff.

use super::dense;
use num_complex::Complex64 as C64;

const ZERO: C64 = C64 { re: 0.0, im: 0.0 };

/// Fock ket `|k⟩` in cutoff `n` (requires `k < n`).
pub fn fock(k: usize, n: usize) -> Vec<C64> {
    assert!(k < n, "Fock level {k} outside cutoff {n}");
    let mut psi = vec![ZERO; n];
    psi[k] = C64::new(1.0, 0.0);
    psi
}

/// Weight of the untruncated coherent state `|α⟩` outside levels `0..n`:
/// `1 − Σ_{k<n} e^{−|α|²} |α|^{2k}/k!` (the Poisson tail), which truncating
/// and renormalising discards. Summed in log space, so `|α|` in the
/// hundreds does not overflow.
pub fn coherent_weight_outside(alpha: C64, n: usize) -> f64 {
    let x = alpha.norm_sqr();
    if x == 0.0 {
        return 0.0;
    }
    let (lx, mut log_fact, mut inside) = (x.ln(), 0.0f64, 0.0f64);
    for k in 0..n {
        if k > 0 {
            log_fact += (k as f64).ln();
        }
        inside += (-x + k as f64 * lx - log_fact).exp();
        if k as f64 > x && inside >= 1.0 {
            break;
        }
    }
    (1.0 - inside).max(0.0)
}

/// Weight of the thermal state with mean occupation `nbar` outside levels
/// `0..n`: `(n̄/(1+n̄))^n`.
pub fn thermal_weight_outside(nbar: f64, n: usize) -> f64 {
    (nbar / (1.0 + nbar)).powf(n as f64)
}

/// Truncated coherent ket `|α⟩`: `c_k ∝ α^k / √k!`, renormalised within the
/// cutoff `n` (so the `e^{−|α|²/2}` prefactor is implicit).
pub fn coherent(alpha: C64, n: usize) -> Vec<C64> {
    assert!(n > 0, "cutoff must be positive");
    let mut psi = Vec::with_capacity(n);
    let mut c = C64::new(1.0, 0.0);
    psi.push(c);
    for k in 1..n {
        c = c * alpha / (k as f64).sqrt();
        psi.push(c);
    }
    normalize_ket(&mut psi);
    psi
}

/// Normalise a ket to unit 2-norm in place (no-op on the zero vector).
pub fn normalize_ket(psi: &mut [C64]) {
    let nrm = psi.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
    if nrm > 0.0 {
        for z in psi.iter_mut() {
            *z /= nrm;
        }
    }
}

/// Truncated Bose–Einstein distribution `p_k ∝ (n̄/(1+n̄))^k`, `k < n`,
/// renormalised (`n̄ = 0` gives the vacuum).
pub fn thermal_diag(nbar: f64, n: usize) -> Vec<f64> {
    assert!(n > 0, "cutoff must be positive");
    assert!(nbar >= 0.0 && nbar.is_finite(), "n̄ must be finite and ≥ 0, got {nbar}");
    let q = nbar / (1.0 + nbar);
    let mut p = Vec::with_capacity(n);
    let mut w = 1.0;
    for _ in 0..n {
        p.push(w);
        w *= q;
    }
    let z: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= z);
    p
}

/// `|ψ⟩⟨ψ|` (row-major `n × n`, `n = ψ.len()`).
pub fn pure_dm(psi: &[C64]) -> Vec<C64> {
    let n = psi.len();
    let mut rho = Vec::with_capacity(n * n);
    for &a in psi {
        for &b in psi {
            rho.push(a * b.conj());
        }
    }
    rho
}

/// Diagonal density matrix `diag(p)` (row-major).
pub fn diag_dm(p: &[f64]) -> Vec<C64> {
    let n = p.len();
    let mut rho = vec![ZERO; n * n];
    for (k, &pk) in p.iter().enumerate() {
        rho[k * (n + 1)] = C64::new(pk, 0.0);
    }
    rho
}

/// `|k⟩⟨k|` in cutoff `n`.
pub fn fock_dm(k: usize, n: usize) -> Vec<C64> {
    pure_dm(&fock(k, n))
}

/// `|α⟩⟨α|` in cutoff `n` (renormalised).
pub fn coherent_dm(alpha: C64, n: usize) -> Vec<C64> {
    pure_dm(&coherent(alpha, n))
}

/// Truncated thermal state `diag(thermal_diag(n̄, n))`.
pub fn thermal_dm(nbar: f64, n: usize) -> Vec<C64> {
    diag_dm(&thermal_diag(nbar, n))
}

/// Annihilation operator `a` in cutoff `n`: `a[k−1, k] = √k` (row-major).
pub fn annihilation(n: usize) -> Vec<C64> {
    let mut a = vec![ZERO; n * n];
    for k in 1..n {
        a[(k - 1) * n + k] = C64::new((k as f64).sqrt(), 0.0);
    }
    a
}

/// `exp(α a† − α* a)` with the generator truncated to cutoff `n`.
///
/// This equals the true displacement operator `D(α)` only on states whose
/// displaced support stays well below `n`; use [`displaced_thermal`] (which
/// pads the cutoff) to build displaced states.
pub fn displacement(alpha: C64, n: usize) -> Vec<C64> {
    let a = annihilation(n);
    let mut gen = vec![ZERO; n * n];
    for i in 0..n {
        for j in 0..n {
            // (α a† − α* a)[i,j] = α conj(a[j,i]) − α* a[i,j]
            gen[i * n + j] = alpha * a[j * n + i].conj() - alpha.conj() * a[i * n + j];
        }
    }
    dense::expm(&gen, n)
}

/// Working cutoff used by [`displaced_thermal`]: large enough that (i) the
/// thermal weight above it is < 1e-17 and (ii) the displaced wave packets of
/// all relevant levels stay far from the edge of the truncated generator
/// (`n + 40` plus a margin growing with `|α|`).
pub fn displaced_thermal_work_cutoff(alpha: C64, nbar: f64, n: usize) -> usize {
    let k_th = if nbar > 0.0 {
        let q = nbar / (1.0 + nbar);
        ((1e-17f64).ln() / q.ln()).ceil() as usize
    } else {
        1
    };
    let k_hi = n.max(k_th);
    let r = alpha.norm();
    // a displaced |k⟩ spreads over ~ |α|√(2k+1) levels around k + |α|²
    let pad = 40 + (6.0 * r * ((2 * k_hi + 1) as f64).sqrt() + r * r).ceil() as usize;
    k_hi + pad
}

/// Displaced thermal state `D(α) ρ_th(n̄) D(α)†`, computed in a padded cutoff
/// (see [`displaced_thermal_work_cutoff`]) with `D = exp(α a† − α* a)` by
/// scaling-and-squaring, then truncated to `n × n` and renormalised.
pub fn displaced_thermal(alpha: C64, nbar: f64, n: usize) -> Vec<C64> {
    displaced_thermal_with_cutoff(alpha, nbar, n, displaced_thermal_work_cutoff(alpha, nbar, n))
}

/// [`displaced_thermal`] with an explicit working cutoff `big ≥ n`.
pub fn displaced_thermal_with_cutoff(alpha: C64, nbar: f64, n: usize, big: usize) -> Vec<C64> {
    assert!(big >= n && n > 0, "need 0 < n ≤ big (n = {n}, big = {big})");
    let dmat = displacement(alpha, big);
    let p = thermal_diag(nbar, big);
    let mut rho = vec![ZERO; n * n];
    for i in 0..n {
        for j in 0..n {
            let mut s = ZERO;
            for (k, &pk) in p.iter().enumerate() {
                s += dmat[i * big + k] * dmat[j * big + k].conj() * pk;
            }
            rho[i * n + j] = s;
        }
    }
    let tr: f64 = (0..n).map(|k| rho[k * (n + 1)].re).sum();
    rho.iter_mut().for_each(|z| *z /= tr);
    rho
}

/// Product ket `ψa ⊗ ψb ⊗ ψc` in the flat layout `(na*Nb + nb)*Nc + nc`.
pub fn kron3_ket(psi_a: &[C64], psi_b: &[C64], psi_c: &[C64]) -> Vec<C64> {
    let mut out = Vec::with_capacity(psi_a.len() * psi_b.len() * psi_c.len());
    for &x in psi_a {
        for &y in psi_b {
            let xy = x * y;
            for &z in psi_c {
                out.push(xy * z);
            }
        }
    }
    out
}

/// Product density matrix `ρa ⊗ ρb ⊗ ρc` (`d × d`, row-major, flat layout):
/// `ρ[(ia,ib,ic),(ja,jb,jc)] = ρa[ia,ja] ρb[ib,jb] ρc[ic,jc]`.
pub fn kron3(rho_a: &[C64], rho_b: &[C64], rho_c: &[C64], dims: [usize; 3]) -> Vec<C64> {
    let [na, nb, nc] = dims;
    assert_eq!(rho_a.len(), na * na, "ρa must be Na × Na");
    assert_eq!(rho_b.len(), nb * nb, "ρb must be Nb × Nb");
    assert_eq!(rho_c.len(), nc * nc, "ρc must be Nc × Nc");
    let d = na * nb * nc;
    let mut out = vec![ZERO; d * d];
    // Row (ia,ib,ic) is the Kronecker product of rows ρa[ia,:], ρb[ib,:], ρc[ic,:].
    for ia in 0..na {
        for ib in 0..nb {
            for ic in 0..nc {
                let r = (ia * nb + ib) * nc + ic;
                let row = &mut out[r * d..(r + 1) * d];
                let mut col = 0;
                for ja in 0..na {
                    let x = rho_a[ia * na + ja];
                    for jb in 0..nb {
                        let xy = x * rho_b[ib * nb + jb];
                        for jc in 0..nc {
                            row[col] = xy * rho_c[ic * nc + jc];
                            col += 1;
                        }
                    }
                }
            }
        }
    }
    out
}

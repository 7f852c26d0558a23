//! Observables of the three-mode density matrix.
//!
//! Layout conventions (shared with the Liouvillian layer):
//!
//! * Hilbert space a ⊗ b ⊗ c with cutoffs `dims = [Na, Nb, Nc]`
//!   (Fock levels `0..N_m`), flat basis index `i = (na*Nb + nb)*Nc + nc`,
//!   `d = Na*Nb*Nc`.
//! * A density matrix is a `d × d` complex matrix stored **row-major** in a
//!   flat slice of length `d²`: `ρ[r*d + c]`.
//! * Single-mode matrices (`ρ_m`, `N_m × N_m`) use the same row-major layout.
//!
//! Contents:
//!
//! * [`reduced_state`] — partial trace onto one mode, touching only the
//!   diagonal blocks it needs (`N_m · d` reads, not `d²`);
//! * [`trace`], [`mode_populations`], [`top_level_population`] — diagonal
//!   diagnostics (normalisation drift, truncation leakage);
//! * [`hermiticity_defect`], [`min_eigenvalue`] — physicality checks;
//! * [`hermitian_eigenvalues`] — faer's self-adjoint eigensolver;
//! * [`metrics`] — battery figures of merit of a single-mode state with
//!   `H = n` (energy, ergotropy, von Neumann entropy, purity);
//! * [`states`] — builders for test/initial states (Fock, coherent,
//!   thermal, displaced thermal, product states);
//! * [`dense`] — tiny dense complex helpers (matmul, expm) used by `states`.

pub mod dense;
pub mod metrics;
pub mod series;
pub mod states;

#[cfg(test)]
mod tests;

pub use metrics::{
    energy, ergotropy, passive_energy, purity, von_neumann_entropy, ModeMetrics,
};

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors, EvdError};
use crate::space::FockSpace;
use faer::{Mat, Par};
use num_complex::Complex64 as C64;

/// Total dimension `Na*Nb*Nc` (the basis is [`FockSpace`]'s).
#[inline]
pub fn total_dim(dims: [usize; 3]) -> usize {
    FockSpace::new(dims).dim()
}

/// Flat basis index of `|na, nb, nc⟩`: `(na*Nb + nb)*Nc + nc`.
#[inline]
pub fn flat_index(dims: [usize; 3], na: usize, nb: usize, nc: usize) -> usize {
    FockSpace::new(dims).index([na, nb, nc])
}

/// Inverse of [`flat_index`]: `i ↦ [na, nb, nc]`.
#[inline]
pub fn fock_indices(dims: [usize; 3], i: usize) -> [usize; 3] {
    FockSpace::new(dims).occupations(i)
}

#[track_caller]
fn check_rho(rho: &[C64], d: usize) {
    assert_eq!(
        rho.len(),
        d * d,
        "density matrix has {} entries, expected d² = {}² = {}",
        rho.len(),
        d,
        d * d
    );
}

/// `(outer, N_m, inner)` such that the flat index reads
/// `i = (o*N_m + m)*inner + j` with `o < outer`, `j < inner`.
#[inline]
fn mode_split(dims: [usize; 3], mode: usize) -> (usize, usize, usize) {
    match mode {
        0 => (1, dims[0], dims[1] * dims[2]),
        1 => (dims[0], dims[1], dims[2]),
        2 => (dims[0] * dims[1], dims[2], 1),
        _ => panic!("mode must be 0 (a), 1 (b) or 2 (c), got {mode}"),
    }
}

/// Partial trace onto one mode (`0 = a`, `1 = b`, `2 = c`), written into
/// `out` (`N_m × N_m`, row-major, overwritten).
///
/// `out[m*N_m + n] = Σ_{other modes} ρ[(…, m, …), (…, n, …)]`.
///
/// Only the entries of the blocks diagonal in the other modes are read:
/// `N_m² · (d / N_m)` loads in a single pass, no allocation.
pub fn reduced_state_into(rho: &[C64], dims: [usize; 3], mode: usize, out: &mut [C64]) {
    let d = total_dim(dims);
    check_rho(rho, d);
    let (outer, nm, inner) = mode_split(dims, mode);
    assert_eq!(out.len(), nm * nm, "output buffer must hold N_m² = {} entries", nm * nm);
    out.fill(C64::new(0.0, 0.0));
    let block = nm * inner; // span of one `o` block in the flat index
    for o in 0..outer {
        let base = o * block;
        for m in 0..nm {
            let row0 = base + m * inner;
            let out_row = &mut out[m * nm..(m + 1) * nm];
            for (n, acc) in out_row.iter_mut().enumerate() {
                let col0 = base + n * inner;
                // entries ρ[row0 + j, col0 + j], j = 0..inner: stride d + 1
                let mut k = row0 * d + col0;
                let mut s = C64::new(0.0, 0.0);
                for _ in 0..inner {
                    s += rho[k];
                    k += d + 1;
                }
                *acc += s;
            }
        }
    }
}

/// As [`reduced_state_into`], with ρ[i, k] given by `rho_at(i, k)` (any
/// storage layout); [`reduced_state_entries`] lists the entries it reads.
pub fn reduced_state_with(dims: [usize; 3], mode: usize, rho_at: impl Fn(usize, usize) -> C64, out: &mut [C64]) {
    let (_, nm, inner) = mode_split(dims, mode);
    assert_eq!(out.len(), nm * nm, "output buffer must hold N_m² = {} entries", nm * nm);
    out.fill(C64::new(0.0, 0.0));
    for (i, k) in reduced_state_entries(dims, mode) {
        out[((i / inner) % nm) * nm + (k / inner) % nm] += rho_at(i, k);
    }
}

/// The entries (i, k) of ρ that the partial trace onto `mode` reads.
pub fn reduced_state_entries(dims: [usize; 3], mode: usize) -> impl Iterator<Item = (usize, usize)> {
    let (outer, nm, inner) = mode_split(dims, mode);
    let block = nm * inner;
    (0..outer).flat_map(move |o| {
        (0..nm).flat_map(move |m| (0..nm).flat_map(move |n| (0..inner).map(move |j| (o * block + m * inner + j, o * block + n * inner + j))))
    })
}

/// Partial trace onto one mode (`0 = a`, `1 = b`, `2 = c`): an `N_m × N_m`
/// row-major matrix, e.g. `ρ_b[m,n] = Σ_{na,nc} ρ[(na,m,nc),(na,n,nc)]`.
///
/// See [`reduced_state_into`] for the allocation-free variant.
pub fn reduced_state(rho: &[C64], dims: [usize; 3], mode: usize) -> Vec<C64> {
    let nm = mode_split(dims, mode).1;
    let mut out = vec![C64::new(0.0, 0.0); nm * nm];
    reduced_state_into(rho, dims, mode, &mut out);
    out
}

/// All three single-mode reduced states `[ρ_a, ρ_b, ρ_c]`.
pub fn reduced_states(rho: &[C64], dims: [usize; 3]) -> [Vec<C64>; 3] {
    [
        reduced_state(rho, dims, 0),
        reduced_state(rho, dims, 1),
        reduced_state(rho, dims, 2),
    ]
}

/// `Tr ρ` (complex; the imaginary part should be round-off only).
pub fn trace(rho: &[C64], d: usize) -> C64 {
    check_rho(rho, d);
    (0..d).map(|i| rho[i * (d + 1)]).sum()
}

/// Real part of the diagonal, `p_i = Re ρ_ii` (flat-basis populations).
pub fn diagonal_populations(rho: &[C64], d: usize) -> Vec<f64> {
    check_rho(rho, d);
    (0..d).map(|i| rho[i * (d + 1)].re).collect()
}

/// Marginal Fock distributions of each mode from the diagonal:
/// `[p_a, p_b, p_c]` with `p_a[k] = Σ_{nb,nc} Re ρ[(k,nb,nc),(k,nb,nc)]` etc.
pub fn mode_populations(rho: &[C64], dims: [usize; 3]) -> [Vec<f64>; 3] {
    let d = total_dim(dims);
    check_rho(rho, d);
    let mut pa = vec![0.0; dims[0]];
    let mut pb = vec![0.0; dims[1]];
    let mut pc = vec![0.0; dims[2]];
    let mut i = 0;
    for pa_k in pa.iter_mut() {
        for pb_k in pb.iter_mut() {
            for pc_k in pc.iter_mut() {
                let p = rho[i * (d + 1)].re;
                *pa_k += p;
                *pb_k += p;
                *pc_k += p;
                i += 1;
            }
        }
    }
    [pa, pb, pc]
}

/// For each mode, the total population of its highest Fock level `N_m − 1`
/// (truncation-leakage diagnostic), from the diagonal.
pub fn top_level_population(rho: &[C64], dims: [usize; 3]) -> [f64; 3] {
    let d = total_dim(dims);
    check_rho(rho, d);
    top_level_population_with(dims, |i| rho[i * (d + 1)].re)
}

/// As [`top_level_population`], with the populations ρ[i, i] given by `pop(i)`.
pub fn top_level_population_with(dims: [usize; 3], pop: impl Fn(usize) -> f64) -> [f64; 3] {
    let [na_max, nb_max, nc_max] = [dims[0] - 1, dims[1] - 1, dims[2] - 1];
    let mut top = [0.0; 3];
    let mut i = 0;
    for na in 0..dims[0] {
        for nb in 0..dims[1] {
            for nc in 0..dims[2] {
                let p = pop(i);
                if na == na_max {
                    top[0] += p;
                }
                if nb == nb_max {
                    top[1] += p;
                }
                if nc == nc_max {
                    top[2] += p;
                }
                i += 1;
            }
        }
    }
    top
}

/// `max_{r,c} |ρ_rc − conj(ρ_cr)|` (0 for an exactly Hermitian matrix; NaN if
/// any compared entry is NaN).
pub fn hermiticity_defect(rho: &[C64], d: usize) -> f64 {
    check_rho(rho, d);
    // Tiled upper-triangle sweep so that the transposed reads stay in cache.
    const T: usize = 64;
    let mut worst = 0.0f64;
    for r0 in (0..d).step_by(T) {
        let r1 = (r0 + T).min(d);
        for c0 in (r0..d).step_by(T) {
            let c1 = (c0 + T).min(d);
            for r in r0..r1 {
                for c in c0.max(r)..c1 {
                    let a = (rho[r * d + c] - rho[c * d + r].conj()).norm();
                    // a NaN entry must not pass as "Hermitian"
                    if a.is_nan() {
                        return f64::NAN;
                    }
                    worst = worst.max(a);
                }
            }
        }
    }
    worst
}

/// Eigenvalues of the Hermitian part `(M + M†)/2` of an `n × n` row-major
/// complex matrix, in **nondecreasing** order, via faer's self-adjoint
/// eigensolver.
///
/// Returns `Err` only if faer's QR iteration fails to converge. Non-finite
/// input yields `Ok` with all-NaN eigenvalues (without calling faer).
pub fn try_hermitian_eigenvalues(m: &[C64], n: usize) -> Result<Vec<f64>, EvdError> {
    assert_eq!(m.len(), n * n, "matrix has {} entries, expected n² = {}", m.len(), n * n);
    if n == 0 {
        return Ok(Vec::new());
    }
    if m.iter().any(|z| !z.re.is_finite() || !z.im.is_finite()) {
        return Ok(vec![f64::NAN; n]);
    }
    // Symmetrised copy (M + M†)/2; faer's closure is (row i, column j).
    let h = Mat::<C64>::from_fn(n, n, |i, j| {
        if i == j {
            C64::new(m[i * n + i].re, 0.0)
        } else {
            (m[i * n + j] + m[j * n + i].conj()) * 0.5
        }
    });
    // Small matrices (single-mode states) are fastest sequentially; large
    // ones (full ρ checks) may use the rayon pool.
    let par = if n >= 256 { Par::rayon(0) } else { Par::Seq };
    let mut s = faer::diag::Diag::<C64>::zeros(n);
    let mut mem = MemBuffer::new(self_adjoint_evd_scratch::<C64>(
        n,
        ComputeEigenvectors::No,
        par,
        Default::default(),
    ));
    // faer reads the lower triangle (the full matrix is filled anyway).
    self_adjoint_evd(
        h.as_ref(),
        s.as_mut(),
        None,
        par,
        MemStack::new(&mut mem),
        Default::default(),
    )?;
    let mut ev: Vec<f64> = s.column_vector().iter().map(|z| z.re).collect();
    // faer documents nondecreasing order; enforce it anyway.
    ev.sort_by(|a, b| a.total_cmp(b));
    Ok(ev)
}

/// Eigenvalues of the Hermitian part `(M + M†)/2` of an `n × n` row-major
/// complex matrix, in **nondecreasing** order (faer self-adjoint EVD).
///
/// If the eigensolver fails to converge (not expected for density matrices)
/// the result is all-NaN rather than a panic, so that a long run can record
/// the failure.
pub fn hermitian_eigenvalues(m: &[C64], n: usize) -> Vec<f64> {
    try_hermitian_eigenvalues(m, n).unwrap_or_else(|_| vec![f64::NAN; n])
}

/// Smallest eigenvalue of the Hermitian part of `ρ` (`d × d`); negative values
/// beyond round-off signal loss of positivity. Dense `O(d³)`: intended for `d`
/// up to a few hundred. Returns `+∞` for `d = 0`.
pub fn min_eigenvalue(rho: &[C64], d: usize) -> f64 {
    check_rho(rho, d);
    hermitian_eigenvalues(rho, d)
        .first()
        .copied()
        .unwrap_or(f64::INFINITY)
}

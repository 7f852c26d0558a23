//! The explicit Liouvillian superoperator as a sparse CSR matrix (sprs).
//!
//! Vectorization convention: row-major, vec(ρ)[r·d + c] = ρ[r, c] — the memory
//! layout of the density matrix itself, so both Liouvillian paths act on the
//! same flat vectors. (QuTiP's `operator_to_vector` stacks columns instead:
//! its superoperator is ours conjugated by the transpose permutation.)

use super::{Coef, Generator, Liouvillian};
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use sprs::{CsMat, TriMat};

/// Memory the superoperator may take before it is refused (bytes).
pub const MAX_BYTES: usize = 2 << 30;

#[derive(Debug, Clone)]
pub struct SuperOperator {
    d: usize,
    matrix: CsMat<C64>,
}

/// Upper bound of the CSR storage (values + column indices + row pointers).
pub fn estimated_bytes(generator: &Generator) -> usize {
    let d2 = generator.space.dim().pow(2);
    generator.pieces.len().saturating_mul(d2).saturating_mul(16 + 8).saturating_add((d2 + 1) * 8)
}

/// Refuses, with the estimate, a superoperator above [`MAX_BYTES`]; used
/// before anything is built and again by [`SuperOperator::new`].
pub fn check_size(generator: &Generator) -> Result<usize, String> {
    let est = estimated_bytes(generator);
    if est > MAX_BYTES {
        return Err(format!(
            "solver.liouvillian = \"superoperator\": the sparse d²×d² matrix would take about {:.1} GB (limit {:.1} GB); use \"kernel\"",
            est as f64 / 1e9,
            MAX_BYTES as f64 / 1e9
        ));
    }
    Ok(est)
}

impl SuperOperator {
    /// Assembles the d²×d² CSR matrix; refuses (with the estimate) above [`MAX_BYTES`].
    pub fn new(generator: &Generator) -> Result<Self, String> {
        check_size(generator)?;
        let d = generator.space.dim();
        let n = d * d;
        let mut tri = TriMat::with_capacity((n, n), generator.pieces.len() * n);
        for p in &generator.pieces {
            for r in 0..d {
                let i = r as isize - p.d_row;
                if i < 0 || i >= d as isize {
                    continue;
                }
                let i = i as usize;
                for c in 0..d {
                    let k = c as isize - p.d_col;
                    if k < 0 || k >= d as isize {
                        continue;
                    }
                    let k = k as usize;
                    let v = match &p.coef {
                        Coef::Row(w) => w[i],
                        Coef::Col(w) => w[k],
                        Coef::Product(wr, wc) => wr[i] * wc[k],
                        Coef::Sum(wr, wc) => wr[i] + wc[k],
                    };
                    if v != C64::new(0.0, 0.0) {
                        tri.add_triplet(r * d + c, i * d + k, v);
                    }
                }
            }
        }
        Ok(Self { d, matrix: tri.to_csr() })
    }

    pub fn matrix(&self) -> &CsMat<C64> {
        &self.matrix
    }
}

impl Liouvillian for SuperOperator {
    fn dim(&self) -> usize {
        self.d
    }

    fn apply(&self, rho: &[C64], out: &mut [C64]) {
        let (indptr, indices, data) = (self.matrix.indptr(), self.matrix.indices(), self.matrix.data());
        let indptr = indptr.raw_storage();
        out.par_iter_mut().enumerate().for_each(|(row, o)| {
            let (s, e) = (indptr[row], indptr[row + 1]);
            *o = indices[s..e].iter().zip(&data[s..e]).map(|(&j, v)| v * rho[j]).sum();
        });
    }
}

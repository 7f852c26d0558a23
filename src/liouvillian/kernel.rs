//! Matrix-free Liouvillian: 𝓛ρ computed row by row from the [`Generator`]'s
//! pieces, without ever forming the d²×d² matrix.
//!
//! Output row r collects, for each piece, one contiguous run of
//! `f·ρ[r − Δ_r, k]` over k: a shifted row of ρ (left multiplication), the same
//! row with shifted columns (right multiplication) or both (dissipator
//! sandwich). The output row stays in L1 while the few source rows it reads
//! (offsets ±1, ±N_c, ±N_b·N_c and their sums) stay in L2, so the kernel streams
//! ρ and 𝓛ρ about once each. Rows are distributed over the rayon pool.

use super::{Coef, Generator, Liouvillian, Piece};
use num_complex::Complex64 as C64;
use rayon::prelude::*;

/// Rows per parallel task: enough work to amortise scheduling, small enough to
/// balance two to a few dozen threads.
const ROWS_PER_TASK: usize = 8;

#[derive(Debug, Clone)]
pub struct Kernel {
    generator: Generator,
    d: usize,
}

impl Kernel {
    pub fn new(generator: Generator) -> Self {
        let d = generator.space.dim();
        Self { generator, d }
    }

    /// Number of passes over a row (distinct offset pairs).
    pub fn passes(&self) -> usize {
        self.generator.pieces.len()
    }

    fn row(&self, r: usize, rho: &[C64], out: &mut [C64]) {
        out.fill(C64::new(0.0, 0.0));
        for p in &self.generator.pieces {
            apply_piece(p, r, self.d, rho, out);
        }
    }
}

impl Liouvillian for Kernel {
    fn dim(&self) -> usize {
        self.d
    }

    fn apply(&self, rho: &[C64], out: &mut [C64]) {
        let d = self.d;
        assert_eq!(rho.len(), d * d, "rho has the wrong length");
        assert_eq!(out.len(), d * d, "out has the wrong length");
        if d * d < 4096 {
            for (r, orow) in out.chunks_mut(d).enumerate() {
                self.row(r, rho, orow);
            }
            return;
        }
        out.par_chunks_mut(d * ROWS_PER_TASK).enumerate().for_each(|(chunk, rows)| {
            for (local, orow) in rows.chunks_mut(d).enumerate() {
                self.row(chunk * ROWS_PER_TASK + local, rho, orow);
            }
        });
    }
}

#[inline]
fn apply_piece(p: &Piece, r: usize, d: usize, rho: &[C64], out: &mut [C64]) {
    let i = r as isize - p.d_row;
    if i < 0 || i >= d as isize {
        return;
    }
    let i = i as usize;
    // Source columns k with k + Δ_c inside [0, d).
    let k0 = (-p.d_col).max(0) as usize;
    let k1 = (d as isize - p.d_col).min(d as isize) as usize;
    if k0 >= k1 {
        return;
    }
    let src = &rho[i * d + k0..i * d + k1];
    let dst = &mut out[(k0 as isize + p.d_col) as usize..(k1 as isize + p.d_col) as usize];
    match &p.coef {
        Coef::Row(w) => {
            let s = w[i];
            if s != C64::new(0.0, 0.0) {
                dst.iter_mut().zip(src).for_each(|(o, x)| *o += s * x);
            }
        }
        Coef::Col(w) => {
            dst.iter_mut().zip(src).zip(&w[k0..k1]).for_each(|((o, x), c)| *o += c * x);
        }
        Coef::Product(wr, wc) => {
            let s = wr[i];
            if s != C64::new(0.0, 0.0) {
                dst.iter_mut().zip(src).zip(&wc[k0..k1]).for_each(|((o, x), c)| *o += s * (c * x));
            }
        }
        Coef::Sum(wr, wc) => {
            let s = wr[i];
            dst.iter_mut().zip(src).zip(&wc[k0..k1]).for_each(|((o, x), c)| *o += (s + c) * x);
        }
    }
}

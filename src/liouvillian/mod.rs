//! The Lindblad generator 𝓛 as a linear map on density matrices, in two
//! interchangeable implementations of [`Liouvillian`]:
//! - [`kernel::Kernel`] (default): matrix-free, applies 𝓛 to the d×d matrix
//!   directly, row by row, in parallel;
//! - [`superop::SuperOperator`]: the explicit d²×d² sparse CSR matrix (sprs),
//!   for small systems, as the kernel's reference and for steady states.
//!
//! Both are built from one description, [`Generator`]: with
//! K = H − (i/2) Σ_k r_k L_k†L_k,
//!
//!   𝓛ρ = −iKρ + iρK† + Σ_k r_k L_k ρ L_k†,
//!
//! and since every operator is a sum of shift operators (`crate::space`), each
//! piece is an elementwise update `out[r, c] += f(r, c)·ρ[r − Δ_r, c − Δ_c]`.
//! Pieces are grouped by their (Δ_r, Δ_c) offsets so the kernel makes one pass
//! per distinct offset pair.
//!
//! Density matrices are row-major flat vectors: ρ[r, c] = rho[r·d + c].

#[cfg(target_arch = "x86_64")]
mod fused;
pub mod kernel;
pub mod superop;

use crate::model::LindbladTerms;
use crate::space::{FockSpace, Operator};
use num_complex::Complex64 as C64;

/// A linear map ρ ↦ 𝓛ρ on row-major d×d matrices.
pub trait Liouvillian: Sync {
    /// Hilbert-space dimension d.
    fn dim(&self) -> usize;
    /// out = 𝓛 rho (overwrites out; both have length d²). `rho` must be
    /// Hermitian (the kernel computes one triangle and mirrors it).
    fn apply(&self, rho: &[C64], out: &mut [C64]);
}

const ZERO: C64 = C64 { re: 0.0, im: 0.0 };

/// How the coefficient of one piece depends on the output position (r, c),
/// through the source indices i = r − Δ_r and k = c − Δ_c.
#[derive(Debug, Clone, PartialEq)]
pub enum Coef {
    /// `row[i]`: left multiplication.
    Row(Vec<C64>),
    /// `col[k]`: right multiplication.
    Col(Vec<C64>),
    /// `row[i]·col[k]`: a dissipator's "sandwich" L ρ L†.
    Product(Vec<C64>, Vec<C64>),
    /// `row[i] + col[k]`: left and right diagonal parts together (Δ = 0).
    Sum(Vec<C64>, Vec<C64>),
}

/// All updates with one offset pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub d_row: isize,
    pub d_col: isize,
    pub coef: Coef,
}

/// The generator in piece form, shared by both Liouvillian paths.
#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    pub space: FockSpace,
    pub pieces: Vec<Piece>,
}

impl Generator {
    pub fn new(terms: &LindbladTerms) -> Self {
        let sp = terms.hamiltonian.space;
        let mut k = terms.hamiltonian.clone();
        for j in &terms.jumps {
            let ldl = j.op.adjoint().mul(&j.op);
            k = k.add(&ldl.scale(C64::new(0.0, -0.5 * j.rate)));
        }
        let mut pieces: Vec<Piece> = Vec::new();
        let minus_i = C64::new(0.0, -1.0);
        // −iKρ (left) and +iρK† (right): K† has weights conj(w) on the reversed
        // shift, so (ρK†)[r, c] = Σ_t ρ[r, c − Δ_t]·conj(w_t[c − Δ_t]).
        for t in &k.terms {
            let off = sp.offset(t.shift);
            let left: Vec<C64> = t.weight.iter().map(|w| minus_i * w).collect();
            let right: Vec<C64> = t.weight.iter().map(|w| C64::new(0.0, 1.0) * w.conj()).collect();
            if off == 0 {
                pieces.push(Piece { d_row: 0, d_col: 0, coef: Coef::Sum(left, right) });
            } else {
                pieces.push(Piece { d_row: off, d_col: 0, coef: Coef::Row(left) });
                pieces.push(Piece { d_row: 0, d_col: off, coef: Coef::Col(right) });
            }
        }
        // Σ r L ρ L†: every pair of shift terms of L (t1 on the left, t2 on the right).
        for j in &terms.jumps {
            for t1 in &j.op.terms {
                for t2 in &j.op.terms {
                    let row: Vec<C64> = t1.weight.iter().map(|w| w * j.rate).collect();
                    let col: Vec<C64> = t2.weight.iter().map(|w| w.conj()).collect();
                    push_product(&mut pieces, sp.offset(t1.shift), sp.offset(t2.shift), row, col);
                }
            }
        }
        pieces.retain(|p| !p.is_zero());
        Self { space: sp, pieces }
    }
}

/// The adjoint generator on an observable (Heisenberg picture):
/// 𝓛†(O) = i[H, O] + Σ r (L†OL − ½{L†L, O}), so that Tr(O·𝓛ρ) = Tr(𝓛†(O)·ρ).
/// Used for exact rates of change such as the charging power d⟨b†b⟩/dt.
pub fn heisenberg(terms: &LindbladTerms, o: &Operator) -> Operator {
    let h = &terms.hamiltonian;
    let i = C64::new(0.0, 1.0);
    let mut out = h.mul(o).scale(i).add(&o.mul(h).scale(-i));
    for j in &terms.jumps {
        let ld = j.op.adjoint();
        let ldl = ld.mul(&j.op);
        let sandwich = ld.mul(o).mul(&j.op);
        let anti = ldl.mul(o).add(&o.mul(&ldl));
        out = out.add(&sandwich.add(&anti.scale(C64::new(-0.5, 0.0))).scale(C64::new(j.rate, 0.0)));
    }
    out
}

/// Adds a product piece, merging it into an existing one with the same offsets
/// when the factors are proportional (the local and shared-bath parts of the
/// same ladder operator), so the kernel makes one pass for both.
fn push_product(pieces: &mut Vec<Piece>, d_row: isize, d_col: isize, row: Vec<C64>, col: Vec<C64>) {
    for p in pieces.iter_mut().filter(|p| p.d_row == d_row && p.d_col == d_col) {
        if let Coef::Product(r0, c0) = &mut p.coef {
            if let (Some(sr), Some(sc)) = (ratio(&row, r0), ratio(&col, c0)) {
                let s = sr * sc;
                r0.iter_mut().for_each(|x| *x *= C64::new(1.0, 0.0) + s);
                return;
            }
        }
    }
    pieces.push(Piece { d_row, d_col, coef: Coef::Product(row, col) });
}

/// s with x = s·y elementwise, if it exists (to 1e-14 relative).
fn ratio(x: &[C64], y: &[C64]) -> Option<C64> {
    let j = y.iter().position(|v| *v != ZERO)?;
    let s = x[j] / y[j];
    let scale = x.iter().chain(y).map(|v| v.norm()).fold(0.0, f64::max);
    x.iter().zip(y).all(|(a, b)| (a - s * b).norm() <= 1e-14 * scale * (1.0 + s.norm())).then_some(s)
}

impl Piece {
    fn is_zero(&self) -> bool {
        let z = |v: &Vec<C64>| v.iter().all(|x| *x == ZERO);
        match &self.coef {
            Coef::Row(r) => z(r),
            Coef::Col(c) => z(c),
            Coef::Product(r, c) => z(r) || z(c),
            Coef::Sum(r, c) => z(r) && z(c),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;

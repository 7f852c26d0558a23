//! The truncated Fock space of the three modes and its operators.
//!
//! Basis: |n_a, n_b, n_c⟩ with n_m = 0..N_m−1, flat index
//! `i = (n_a·N_b + n_b)·N_c + n_c` (a ⊗ b ⊗ c, the order QuTiP's `tensor(a, b, c)`
//! uses). Every operator of the model is a sum of **shift operators**
//! `O|i⟩ = w[i] |i + Δ⟩`: a per-mode shift (−1 for a, +1 for a†, 0 for n, …)
//! with a weight for every basis state (zero where the move leaves the truncated
//! space). Sums, products and adjoints stay in this form, so new terms (a Kerr
//! term n(n−1), a beam splitter a†b) are built here and both Liouvillian paths
//! consume them without change.

use num_complex::Complex64 as C64;

pub const MODES: usize = 3;
pub const MODE_NAMES: [&str; MODES] = ["a", "b", "c"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FockSpace {
    pub dims: [usize; MODES],
}

impl FockSpace {
    pub fn new(dims: [usize; MODES]) -> Self {
        Self { dims }
    }

    /// Hilbert-space dimension d = N_a·N_b·N_c.
    pub fn dim(&self) -> usize {
        self.dims.iter().product()
    }

    /// Flat-index stride of each mode.
    pub fn strides(&self) -> [usize; MODES] {
        [self.dims[1] * self.dims[2], self.dims[2], 1]
    }

    /// Flat index of |n_a, n_b, n_c⟩.
    pub fn index(&self, n: [usize; MODES]) -> usize {
        debug_assert!((0..MODES).all(|m| n[m] < self.dims[m]));
        (n[0] * self.dims[1] + n[1]) * self.dims[2] + n[2]
    }

    /// Occupation numbers of basis state i.
    pub fn occupations(&self, i: usize) -> [usize; MODES] {
        let [_, nb, nc] = self.dims;
        [i / (nb * nc), (i / nc) % nb, i % nc]
    }

    /// Annihilation operator of `mode`: a|n⟩ = √n |n−1⟩.
    pub fn lower(&self, mode: usize) -> Operator {
        self.single(mode, -1, |n| (n as f64).sqrt())
    }

    /// Creation operator: a†|n⟩ = √(n+1) |n+1⟩, zero on the top level (truncation).
    pub fn raise(&self, mode: usize) -> Operator {
        let top = self.dims[mode] - 1;
        self.single(mode, 1, move |n| if n < top { ((n + 1) as f64).sqrt() } else { 0.0 })
    }

    /// Number operator n = a†a.
    pub fn number(&self, mode: usize) -> Operator {
        self.single(mode, 0, |n| n as f64)
    }

    fn single(&self, mode: usize, step: i32, f: impl Fn(usize) -> f64) -> Operator {
        let mut shift = [0; MODES];
        shift[mode] = step;
        let weight = (0..self.dim())
            .map(|i| {
                let n = self.occupations(i)[mode];
                if step < 0 && n == 0 {
                    C64::new(0.0, 0.0)
                } else {
                    C64::new(f(n), 0.0)
                }
            })
            .collect();
        Operator { space: *self, terms: vec![ShiftOp { shift, weight }] }
    }

    /// Flat offset Δ of a per-mode shift.
    pub fn offset(&self, shift: [i32; MODES]) -> isize {
        let s = self.strides();
        (0..MODES).map(|m| shift[m] as isize * s[m] as isize).sum()
    }
}

/// `O|i⟩ = weight[i] |i + Δ⟩` with Δ the flat offset of `shift`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftOp {
    pub shift: [i32; MODES],
    pub weight: Vec<C64>,
}

/// A sum of shift operators with distinct shifts.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub space: FockSpace,
    pub terms: Vec<ShiftOp>,
}

impl Operator {
    pub fn zero(space: FockSpace) -> Self {
        Self { space, terms: Vec::new() }
    }

    pub fn scale(mut self, s: C64) -> Self {
        self.terms.iter_mut().flat_map(|t| t.weight.iter_mut()).for_each(|w| *w *= s);
        self
    }

    /// Sum, merging terms with equal shifts (by value and reference, so not
    /// `std::ops::Add`).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, other: &Operator) -> Self {
        for t in &other.terms {
            match self.terms.iter_mut().find(|s| s.shift == t.shift) {
                Some(s) => s.weight.iter_mut().zip(&t.weight).for_each(|(a, b)| *a += b),
                None => self.terms.push(t.clone()),
            }
        }
        self
    }

    /// Adjoint: (O†)|j⟩ = conj(w[j − Δ]) |j − Δ⟩.
    pub fn adjoint(&self) -> Self {
        let sp = self.space;
        let d = sp.dim() as isize;
        let terms = self
            .terms
            .iter()
            .map(|t| {
                let off = sp.offset(t.shift);
                let mut weight = vec![C64::new(0.0, 0.0); d as usize];
                for (i, w) in t.weight.iter().enumerate() {
                    if *w != C64::new(0.0, 0.0) {
                        weight[(i as isize + off) as usize] = w.conj();
                    }
                }
                ShiftOp { shift: t.shift.map(|s| -s), weight }
            })
            .collect();
        Self { space: sp, terms }
    }

    /// Product self·other: `(A B)|i⟩ = w_B[i] w_A[i + Δ_B] |i + Δ_B + Δ_A⟩`.
    pub fn mul(&self, other: &Operator) -> Self {
        let sp = self.space;
        let mut out = Operator::zero(sp);
        for a in &self.terms {
            for b in &other.terms {
                let off_b = sp.offset(b.shift);
                let weight = b
                    .weight
                    .iter()
                    .enumerate()
                    .map(|(i, &wb)| if wb == C64::new(0.0, 0.0) { wb } else { wb * a.weight[(i as isize + off_b) as usize] })
                    .collect();
                let shift = [a.shift[0] + b.shift[0], a.shift[1] + b.shift[1], a.shift[2] + b.shift[2]];
                out = out.add(&Operator { space: sp, terms: vec![ShiftOp { shift, weight }] });
            }
        }
        out
    }

    /// `⟨O⟩ = Tr(O ρ) = Σ_i w[i] ρ[i, i + Δ]` for a row-major d×d ρ.
    pub fn expect(&self, rho: &[C64]) -> C64 {
        let d = self.space.dim();
        self.expect_with(|i, k| rho[i * d + k])
    }

    /// ⟨O⟩ with ρ[i, k] given by `rho_at(i, k)` (any storage layout).
    pub fn expect_with(&self, rho_at: impl Fn(usize, usize) -> C64) -> C64 {
        self.entries().map(|(i, k, w)| w * rho_at(i, k)).sum()
    }

    /// The entries (i, k) of ρ that ⟨O⟩ reads, with their weights.
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize, C64)> + '_ {
        self.terms.iter().flat_map(move |t| {
            let off = self.space.offset(t.shift);
            t.weight
                .iter()
                .enumerate()
                .filter(|(_, w)| **w != C64::new(0.0, 0.0))
                .map(move |(i, &w)| (i, (i as isize + off) as usize, w))
        })
    }

    /// Dense d×d matrix (row-major), for tests and small references.
    pub fn to_dense(&self) -> Vec<C64> {
        let d = self.space.dim();
        let mut m = vec![C64::new(0.0, 0.0); d * d];
        for t in &self.terms {
            let off = self.space.offset(t.shift);
            for (i, &w) in t.weight.iter().enumerate() {
                if w != C64::new(0.0, 0.0) {
                    m[(i as isize + off) as usize * d + i] += w;
                }
            }
        }
        m
    }
}

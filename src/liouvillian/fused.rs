//! The kernel's row loop for AVX-512 with all pieces fused: each output
//! vector (4 complex entries) takes the contributions of every piece in
//! registers and is stored once.
//!
//! The portable row loop (`kernel.rs`) makes one pass over the output row per
//! piece, loading and storing the output each time, and Rust's complex
//! arithmetic on interleaved `[re, im]` data costs several permutes per
//! vector. Here the arithmetic is written on the interleaved doubles:
//!
//! * pieces with the same column shift Δ_c whose real column weights are
//!   proportional (one mode's ladder factors: the Hamiltonian's, the local and
//!   the shared dissipators' terms) form a **group** sharing one weight vector
//!   `w` (4 weights loaded as 256 bits and spread over the 4 complex lanes);
//!   the factors go into the members' per-row scalars σ. A group adds `w ∘ Σ_members σ·ρ[i, ·]`: one load and
//!   one FMA per member and vector when σ is real; an imaginary σ adds an
//!   in-lane swap (`i·x = (−x_im, x_re)`, the sign folded into σ);
//! * the diagonal piece `(s_r + w_c)·ρ[r, c]` (complex `w_c`) is one complex
//!   multiply (two in-lane shuffles, a multiply and an FMA-add/sub);
//! * **no edge cases inside a row**: the weight vectors are padded with zeros
//!   for source columns outside `[0, d)`, so a shifted read that leaves the
//!   source row (it lands in the neighbouring row's storage, which is finite
//!   data) contributes exactly zero. Rows whose reads would leave the whole
//!   vector (sources in the first or last row) use the portable loop.
//!
//! Pieces with general complex column weights (not produced by the present
//! model) are applied afterwards by the portable per-piece code. Results equal
//! the portable loop's up to round-off (FMA, summation order); `tests.rs`
//! checks every instruction set against the dense reference.
//!
//! Measured (`cargo bench --bench kernel`, d = 864, 2 threads, this repo's
//! 2-core AVX-512 machine): see the README's performance section; the
//! portable loop is ~1.3× slower in isolation, and a whole (12,12,6) run
//! ~15 % slower.

#![cfg(target_arch = "x86_64")]

use super::kernel::{KPiece, Layout};
use super::{Coef, Piece};
use num_complex::Complex64 as C64;
use std::arch::x86_64::*;

/// Most pieces the fused loop takes (more: the portable loop is used).
pub(super) const MAX_PIECES: usize = 32;

/// Vectors (of 4 complex entries) per strip: each member's σ and pointer are
/// read once per strip, the strip's sums stay in registers. (Measured on the
/// (12,12,6) run: 2 beats 1, 3, 4 and 8 by 3–25 %.)
const STRIP: usize = 2;

/// The diagonal piece `(wr[r] + wc[c])·ρ[r, c]`.
#[derive(Debug, Clone)]
struct Diag {
    wr: Vec<C64>,
    wc: Vec<C64>,
}

/// Pieces `σ_m[i]·w[k]·ρ[i, k]` (i = r − Δ_r of member m, k = c − Δ_c) with
/// one column shift and one real weight vector.
#[derive(Debug, Clone)]
struct Group {
    d_col: isize,
    /// `w_k` for k in `[−pad, d + pad)`, zero outside `[0, d)`; none = weight 1.
    col: Option<Vec<f64>>,
    /// (Δ_r, σ per source row, class), sorted by class: 1 = σ real in every
    /// row, 2 = imaginary in every row, 3 = otherwise.
    members: Vec<(isize, Vec<C64>, u8)>,
}

/// The pieces of a kernel in the fused loop's form.
#[derive(Debug, Clone)]
pub(super) struct Fused {
    pad: isize,
    diag: Option<Diag>,
    groups: Vec<Group>,
    /// Pieces left to the portable per-piece code (indices into the kernel's list).
    pub(super) rest: Vec<usize>,
}

/// λ with `x = λ·y` to round-off, if it exists.
fn proportional(x: &[f64], y: &[f64]) -> Option<f64> {
    let j = y.iter().position(|v| *v != 0.0)?;
    let lambda = x[j] / y[j];
    let scale = x.iter().chain(y).map(|v| v.abs()).fold(0.0, f64::max);
    x.iter().zip(y).all(|(a, b)| (a - lambda * b).abs() <= 1e-15 * scale * (1.0 + lambda.abs())).then_some(lambda)
}

impl Fused {
    /// `None` if there are too many pieces for the fixed-size scratch.
    pub(super) fn new(compiled: &[KPiece]) -> Option<Self> {
        if compiled.len() > MAX_PIECES {
            return None;
        }
        let mut diag = None;
        let mut rest = Vec::new();
        // (Δc, real weights, members) before padding.
        type RawGroup = (isize, Option<Vec<f64>>, Vec<(isize, Vec<C64>)>);
        let mut raw: Vec<RawGroup> = Vec::new();
        for (idx, p) in compiled.iter().enumerate() {
            match p {
                KPiece::General(Piece { d_row: 0, d_col: 0, coef: Coef::Sum(wr, wc) }) if diag.is_none() => {
                    diag = Some(Diag { wr: wr.clone(), wc: wc.clone() });
                }
                // A weight-1 piece with a column shift would need zero padding
                // of the source itself (its out-of-row reads are not
                // multiplied by zero weights): leave it to the portable loop.
                // (The generator makes none: weight-1 pieces are left
                // multiplications, Δc = 0.)
                KPiece::Scaled { d_col, col: None, .. } if *d_col != 0 => rest.push(idx),
                KPiece::Scaled { d_row, d_col, row, col } => {
                    let joined = raw.iter_mut().find_map(|(dc, w, members)| {
                        if dc != d_col {
                            return None;
                        }
                        let lambda = match (col, &*w) {
                            (None, None) => 1.0,
                            (Some(c), Some(w)) => proportional(c, w)?,
                            _ => return None,
                        };
                        members.push((*d_row, row.iter().map(|s| s * lambda).collect::<Vec<C64>>()));
                        Some(())
                    });
                    if joined.is_none() {
                        raw.push((*d_col, col.clone(), vec![(*d_row, row.clone())]));
                    }
                }
                KPiece::General(_) => rest.push(idx),
            }
        }
        let pad = raw.iter().filter(|g| g.1.is_some()).map(|g| g.0.abs()).max().unwrap_or(0);
        let groups = raw
            .into_iter()
            .map(|(d_col, w, members)| Group {
                d_col,
                col: w.map(|w| {
                    let zeros = std::iter::repeat_n(0.0, pad as usize);
                    zeros.clone().chain(w.iter().copied()).chain(zeros).collect()
                }),
                members: {
                    let mut m: Vec<(isize, Vec<C64>, u8)> = members
                        .into_iter()
                        .map(|(d_row, row)| {
                            let class = if row.iter().all(|s| s.im == 0.0) {
                                1
                            } else if row.iter().all(|s| s.re == 0.0) {
                                2
                            } else {
                                3
                            };
                            (d_row, row, class)
                        })
                        .collect();
                    m.sort_by_key(|x| x.2);
                    m
                },
            })
            .collect();
        Some(Fused { pad, diag, groups, rest })
    }
}

/// A member active in this row: source pointer indexed by `2·c` (c the
/// output column) and σ.
#[derive(Clone, Copy)]
struct Member {
    src: *const f64,
    re: f64,
    im: f64,
}

/// A group in this row: weight pointer (indexed by `c`; null for weight 1)
/// and members `[m0, m3)`: `[m0, m1)` with real σ, `[m1, m2)` imaginary,
/// `[m2, m3)` complex.
#[derive(Clone, Copy)]
struct Active {
    w: *const f64,
    m: [usize; 4],
}

/// Diagonal piece in a row: `[Re s, Im s]` broadcast, source and weight pointers (indexed by `2·c`).
type DiagPtrs = (__m512d, *const f64, *const f64);

/// Upper-triangle part (columns r..d) of output row r, stored as `layout`'s
/// row r in `out`; pieces in `f.rest` are not applied. Returns false, having
/// written nothing, if a shifted read would leave `rho` (then the caller uses
/// the portable loop for this row).
///
/// # Safety
/// The CPU must support AVX-512F/VL/DQ and FMA; `rho` must have `layout`'s
/// length and the layout's band must cover every piece (as for the portable
/// loop); `out` is row r's storage.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
pub(super) unsafe fn row_avx512(f: &Fused, r: usize, layout: &Layout, rho: &[C64], out: &mut [C64]) -> bool {
    let d = layout.d();
    let (first, end) = (r, d);
    let rho_p = rho.as_ptr() as *const f64;
    let row_base = |i: usize| layout.row(i).start as isize - layout.col0(i) as isize;
    let mut members = [Member { src: std::ptr::null(), re: 0.0, im: 0.0 }; MAX_PIECES];
    let mut groups = [Active { w: std::ptr::null(), m: [0; 4] }; MAX_PIECES];
    let (mut n_mem, mut n_grp) = (0, 0);
    for g in &f.groups {
        let start = n_mem;
        // m[k] = end of the class-k members (classes in order 1, 2, 3).
        let mut m = [start; 4];
        for (d_row, row, class) in &g.members {
            let i = r as isize - d_row;
            if i < 0 || i >= d as isize {
                continue;
            }
            let s = row[i as usize];
            if s == C64::new(0.0, 0.0) {
                continue;
            }
            // Flat index of source entry (i, c − Δc) is base + c.
            let base = row_base(i as usize) - g.d_col;
            if base + (first as isize) < 0 || base + end as isize > rho.len() as isize {
                return false;
            }
            members[n_mem] = Member { src: rho_p.wrapping_offset(2 * base), re: s.re, im: s.im };
            n_mem += 1;
            for e in &mut m[*class as usize..] {
                *e = n_mem;
            }
        }
        if n_mem > start {
            let w = g.col.as_ref().map_or(std::ptr::null(), |w| w.as_ptr().wrapping_offset(f.pad - g.d_col));
            groups[n_grp] = Active { w, m };
            n_grp += 1;
        }
    }
    let (groups, members) = (&groups[..n_grp], &members[..n_mem]);
    let diag = f.diag.as_ref().map(|g| {
        let s = g.wr[r];
        (
            _mm512_setr_pd(s.re, s.im, s.re, s.im, s.re, s.im, s.re, s.im),
            rho_p.wrapping_offset(2 * row_base(r)),
            g.wc.as_ptr() as *const f64,
        )
    });
    let out_r = (out.as_mut_ptr() as *mut f64).wrapping_offset(-2 * layout.col0(r) as isize);
    let mut c = first;
    while c + 4 * STRIP <= end {
        let acc = strip::<STRIP>(groups, members, diag, c, 0xff);
        for (v, a) in acc.iter().enumerate() {
            _mm512_storeu_pd(out_r.add(2 * c + 8 * v), *a);
        }
        c += 4 * STRIP;
    }
    while c < end {
        let n = (end - c).min(4);
        let mask = ((1u32 << (2 * n)) - 1) as __mmask8;
        let [acc] = strip::<1>(groups, members, diag, c, mask);
        _mm512_mask_storeu_pd(out_r.add(2 * c), mask, acc);
        c += 4;
    }
    true
}

#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[inline]
unsafe fn load(p: *const f64, mask: __mmask8) -> __m512d {
    if mask == 0xff {
        _mm512_loadu_pd(p)
    } else {
        _mm512_maskz_loadu_pd(mask, p)
    }
}

/// Four real weights `w_0..w_3` at `p` as `[w_0, w_0, w_1, w_1, …]` (lanes in `mask`).
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[inline]
unsafe fn load_weights(p: *const f64, mask: __mmask8) -> __m512d {
    let w = if mask == 0xff {
        _mm256_loadu_pd(p)
    } else {
        // Complex lane j is present iff bit 2j of the mask is set.
        let m4 = (mask & 1) | ((mask >> 1) & 2) | ((mask >> 2) & 4) | ((mask >> 3) & 8);
        _mm256_maskz_loadu_pd(m4, p)
    };
    _mm512_permutexvar_pd(_mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3), _mm512_castpd256_pd512(w))
}

/// Sums of all contributions to output entries c..c+4·NV (lanes in `mask`,
/// all-ones except for a row's last partial vector, then NV = 1).
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[inline]
unsafe fn strip<const NV: usize>(
    groups: &[Active],
    members: &[Member],
    diag: Option<DiagPtrs>,
    c: usize,
    mask: __mmask8,
) -> [__m512d; NV] {
    let mut acc = [_mm512_setzero_pd(); NV];
    if let Some((s, src, wc)) = diag {
        for (v, a) in acc.iter_mut().enumerate() {
            let off = 2 * c + 8 * v;
            let x = load(src.add(off), mask);
            // z = s + wc_c; z·x = (z_re·x_re − z_im·x_im, z_re·x_im + z_im·x_re).
            let z = _mm512_add_pd(s, load(wc.add(off), mask));
            let zi_x = _mm512_mul_pd(_mm512_permute_pd::<0b1111_1111>(z), _mm512_permute_pd::<0b0101_0101>(x));
            *a = _mm512_fmaddsub_pd(_mm512_movedup_pd(z), x, zi_x);
        }
    }
    for g in groups {
        let mut t = [_mm512_setzero_pd(); NV];
        add_members::<1, NV>(&members[g.m[0]..g.m[1]], c, mask, &mut t);
        add_members::<2, NV>(&members[g.m[1]..g.m[2]], c, mask, &mut t);
        add_members::<3, NV>(&members[g.m[2]..g.m[3]], c, mask, &mut t);
        for (v, (a, t)) in acc.iter_mut().zip(t).enumerate() {
            *a = if g.w.is_null() {
                _mm512_add_pd(*a, t)
            } else {
                _mm512_fmadd_pd(load_weights(g.w.add(c + 4 * v), mask), t, *a)
            };
        }
    }
    acc
}

/// Adds `σ·ρ[i, ·]` of members whose σ is real (K = 1), imaginary (2) or
/// complex (3) to the NV vectors from column c.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[inline]
unsafe fn add_members<const K: u8, const NV: usize>(list: &[Member], c: usize, mask: __mmask8, acc: &mut [__m512d; NV]) {
    let sign = _mm512_setr_pd(-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0);
    for m in list {
        let (re, im) = (_mm512_set1_pd(m.re), _mm512_mul_pd(sign, _mm512_set1_pd(m.im)));
        for (v, s) in acc.iter_mut().enumerate() {
            // wrapping_add: `src` itself may point before the buffer (a row
            // shift read from column c ≥ first only); the loaded address is inside.
            let x = load(m.src.wrapping_add(2 * c + 8 * v), mask);
            if K & 1 != 0 {
                *s = _mm512_fmadd_pd(re, x, *s);
            }
            if K & 2 != 0 {
                *s = _mm512_fmadd_pd(im, _mm512_permute_pd::<0b0101_0101>(x), *s);
            }
        }
    }
}

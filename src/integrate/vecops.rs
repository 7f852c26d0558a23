//! Chunked vector kernels: stage combinations and weighted error norms.
//!
//! Vectors are processed in chunks of [`CHUNK`] elements (256 KiB of
//! `Complex64`, so a chunk of the output stays in cache while every input
//! vector is streamed once). Long vectors are processed in parallel with rayon
//! in whatever pool the caller runs in; short ones serially. Reductions store
//! one partial sum per chunk and add them in chunk order, so results are
//! bit-identical for any number of threads.

use num_complex::Complex64 as C64;
use rayon::prelude::*;

/// Elements per chunk.
pub(crate) const CHUNK: usize = 16 * 1024;
/// Vectors shorter than this are processed serially.
const PAR_MIN: usize = 2 * CHUNK;
/// Sub-block for the error norm's on-stack scratch.
const BLOCK: usize = 256;

/// A term `coef · v` of a linear combination.
pub(crate) type Term<'a> = (f64, &'a [C64]);

pub(crate) fn n_chunks(len: usize) -> usize {
    len.div_ceil(CHUNK).max(1)
}

fn for_chunks(out: &mut [C64], f: impl Fn(usize, &mut [C64]) + Sync) {
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, c)| f(i * CHUNK, c));
    } else {
        out.chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, c)| f(i * CHUNK, c));
    }
}

/// `out = base + Σ c·v` over `terms`.
///
/// Within a chunk, blocks of [`BLOCK`] elements (4 KiB) take every term in
/// turn, so the output block stays in L1 while each input streams through once.
pub(crate) fn lincomb(out: &mut [C64], base: &[C64], terms: &[Term]) {
    for_chunks(out, |off, o| {
        for (bi, ob) in o.chunks_mut(BLOCK).enumerate() {
            let s = off + bi * BLOCK;
            let r = s..s + ob.len();
            ob.copy_from_slice(&base[r.clone()]);
            for &(c, v) in terms {
                for (x, &vi) in ob.iter_mut().zip(&v[r.clone()]) {
                    *x += vi * c;
                }
            }
        }
    });
}

/// `out = base + Σ c·v` over `terms` and, in the same pass over the inputs,
/// `out2 = Σ c2·v` over `terms2` (the two lists share their vectors, in
/// order; `terms2` may be shorter). Saves reading every stage vector twice
/// when a step's solution and its error estimate are formed together.
pub(crate) fn lincomb2(out: &mut [C64], base: &[C64], terms: &[Term], out2: &mut [C64], terms2: &[Term]) {
    struct Shared(*mut C64);
    // SAFETY: each chunk task writes only its own index range of out2.
    unsafe impl Sync for Shared {}
    let p2 = Shared(out2.as_mut_ptr());
    let n2 = out2.len();
    assert_eq!(n2, out.len(), "lincomb2: outputs of different lengths");
    for_chunks(out, |off, o| {
        let p2 = &p2;
        for (bi, ob) in o.chunks_mut(BLOCK).enumerate() {
            let s = off + bi * BLOCK;
            let r = s..s + ob.len();
            // SAFETY: r lies in this task's chunk, inside out2.
            let ob2 = unsafe { std::slice::from_raw_parts_mut(p2.0.add(s), ob.len()) };
            ob.copy_from_slice(&base[r.clone()]);
            ob2.fill(C64::new(0.0, 0.0));
            for &(c, v) in terms {
                for (x, &vi) in ob.iter_mut().zip(&v[r.clone()]) {
                    *x += vi * c;
                }
            }
            for &(c, v) in terms2 {
                for (x, &vi) in ob2.iter_mut().zip(&v[r.clone()]) {
                    *x += vi * c;
                }
            }
        }
    });
}

/// `out = src` (parallel copy).
pub(crate) fn copy(out: &mut [C64], src: &[C64]) {
    for_chunks(out, |off, o| o.copy_from_slice(&src[off..off + o.len()]));
}

/// Weighted sums of squares of two linear combinations `e = Σ c·v`:
/// `S_j = Σ_i |e_j,i|² / sc_i²` with `sc_i = atol + rtol·max(|y_i|, |y_new_i|)`.
///
/// Returns `None` if `y_new` or either sum is not finite. `partials` is a
/// workspace of [`n_chunks`] entries.
#[allow(clippy::too_many_arguments)]
pub(crate) fn weighted_sq_sums(
    partials: &mut [[f64; 2]],
    y: &[C64],
    y_new: &[C64],
    atol: f64,
    rtol: f64,
    e0: &[Term],
    e1: &[Term],
) -> Option<[f64; 2]> {
    let chunk_sums = |ci: usize, out: &mut [f64; 2]| {
        let start = ci * CHUNK;
        let end = (start + CHUNK).min(y.len());
        let mut acc = [0.0f64; 2];
        let mut finite = true;
        let mut b0 = [C64::new(0.0, 0.0); BLOCK];
        let mut b1 = [C64::new(0.0, 0.0); BLOCK];
        let mut s = start;
        while s < end {
            let e = (s + BLOCK).min(end);
            let n = e - s;
            for (buf, terms) in [(&mut b0, e0), (&mut b1, e1)] {
                buf[..n].fill(C64::new(0.0, 0.0));
                for &(c, v) in terms {
                    for (x, &vi) in buf[..n].iter_mut().zip(&v[s..e]) {
                        *x += vi * c;
                    }
                }
            }
            for i in 0..n {
                let (yo, yn) = (y[s + i], y_new[s + i]);
                finite &= yn.re.is_finite() && yn.im.is_finite();
                let sc = atol + rtol * yo.norm_sqr().max(yn.norm_sqr()).sqrt();
                let inv = 1.0 / (sc * sc);
                acc[0] += b0[i].norm_sqr() * inv;
                acc[1] += b1[i].norm_sqr() * inv;
            }
            s = e;
        }
        *out = if finite { acc } else { [f64::NAN; 2] };
    };
    let partials = &mut partials[..n_chunks(y.len())];
    if y.len() >= PAR_MIN {
        partials
            .par_iter_mut()
            .enumerate()
            .for_each(|(ci, p)| chunk_sums(ci, p));
    } else {
        partials
            .iter_mut()
            .enumerate()
            .for_each(|(ci, p)| chunk_sums(ci, p));
    }
    let mut tot = [0.0; 2];
    for p in partials.iter() {
        tot[0] += p[0];
        tot[1] += p[1];
    }
    (tot[0].is_finite() && tot[1].is_finite()).then_some(tot)
}

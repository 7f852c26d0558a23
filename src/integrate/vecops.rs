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

/// `out[i] = base[i] + Σ c·v[i]` for the indices `idx` only (strictly
/// increasing, so tasks write disjoint entries); parallel for long lists.
/// Used by the dense output when the observer reads a few entries: those
/// reads are scattered over the vectors and latency-bound, so both cores help.
pub(crate) fn lincomb_at(out: &mut [C64], idx: &[usize], base: &[C64], terms: &[Term]) {
    struct Shared(*mut C64);
    // SAFETY: indices are distinct (strictly increasing), so tasks write disjoint entries.
    unsafe impl Sync for Shared {}
    assert!(idx.windows(2).all(|w| w[0] < w[1]) && idx.last().is_none_or(|&i| i < out.len()));
    let p = Shared(out.as_mut_ptr());
    let work = |ix: &[usize]| {
        let p = &p;
        for &i in ix {
            let mut v = base[i];
            for &(c, t) in terms {
                v += t[i] * c;
            }
            // SAFETY: i < out.len() (checked above) and no other task writes entry i.
            unsafe { *p.0.add(i) = v };
        }
    };
    if idx.len() >= 4096 {
        idx.par_chunks(1024).for_each(work);
    } else {
        work(idx);
    }
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

/// One pass over a basis `w` (`w[0] = y`) that forms `y_new = Σ c_y[q] w[q]`
/// and `f_new = Σ c_f[q] w[q]`, and the weighted sums of squares (as in
/// [`weighted_sq_sums`], with `sc` from `y` and `y_new`) of the error
/// estimates `Σ c_e[e][q] w[q]` (an empty coefficient list gives 0).
/// Coefficient lists are at most as long as `w`.
///
/// The coefficients are real, so the combinations are taken on the
/// interleaved doubles, all four sums of an entry in registers, with the
/// basis length a compile-time constant (8 = DOPRI5, 14 = DOP853; other
/// lengths are padded with zero-weight terms) and the instruction set chosen
/// at run time: one read of every input and one write of each output.
///
/// Returns `None` if `y_new` or either sum is not finite.
#[allow(clippy::too_many_arguments)]
pub(crate) fn powers_pass(
    partials: &mut [[f64; 2]],
    w: &[&[C64]],
    c_y: &[f64],
    c_f: &[f64],
    c_e: [&[f64]; 2],
    y_new: &mut [C64],
    f_new: &mut [C64],
    atol: f64,
    rtol: f64,
) -> Option<[f64; 2]> {
    powers_pass_n(partials, w, c_y, c_f, c_e, y_new, f_new, atol, rtol)
}

/// Coefficients of one pass, padded to `NB` terms.
struct PassCoefs<const NB: usize> {
    y: [f64; NB],
    f: [f64; NB],
    e0: [f64; NB],
    e1: [f64; NB],
}

/// The combination pass of [`powers_pass`] prepared for running on index
/// ranges, possibly from several threads while other ranges of the basis are
/// still being written (hence raw pointers). Contract: a range is run only
/// once every basis vector is final on it, concurrently run ranges are
/// disjoint, and `y_new`, `f_new` are not otherwise accessed meanwhile.
pub(crate) struct RangePass {
    basis: [*const C64; MAX_BASIS],
    n: usize,
    c: [[f64; MAX_BASIS]; 4],
    y_new: *mut C64,
    f_new: *mut C64,
    len: usize,
    atol: f64,
    rtol: f64,
    simd: crate::simd::Simd,
}

// SAFETY: see the type's contract.
unsafe impl Sync for RangePass {}

/// Longest basis a pass takes.
pub(crate) const MAX_BASIS: usize = 18;

impl RangePass {
    /// `w[0] = y`; coefficient lists at most as long as `w`; every pointer
    /// valid for `len` entries.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        w: &[*const C64],
        len: usize,
        c_y: &[f64],
        c_f: &[f64],
        c_e: [&[f64]; 2],
        y_new: *mut C64,
        f_new: *mut C64,
        atol: f64,
        rtol: f64,
    ) -> Self {
        assert!(!w.is_empty() && w.len() <= MAX_BASIS, "basis of {} vectors (at most {MAX_BASIS})", w.len());
        let mut basis = [w[0]; MAX_BASIS];
        basis[..w.len()].copy_from_slice(w);
        let mut c = [[0.0; MAX_BASIS]; 4];
        for (row, src) in c.iter_mut().zip([c_y, c_f, c_e[0], c_e[1]]) {
            row[..src.len()].copy_from_slice(src);
        }
        RangePass { basis, n: w.len(), c, y_new, f_new, len, atol, rtol, simd: crate::simd::Simd::best() }
    }

    /// Forms `y_new` and `f_new` on `range` and returns its two weighted sums
    /// of squares (NaN if `y_new` is not finite there).
    ///
    /// # Safety
    /// The type's contract holds for `range`.
    pub(crate) unsafe fn run(&self, range: std::ops::Range<usize>) -> [f64; 2] {
        assert!(range.start <= range.end && range.end <= self.len);
        match self.n {
            0..=8 => self.run_n::<8>(range),
            9..=14 => self.run_n::<14>(range),
            _ => self.run_n::<18>(range),
        }
    }

    unsafe fn run_n<const NB: usize>(&self, r: std::ops::Range<usize>) -> [f64; 2] {
        let len = r.end - r.start;
        let mut parts: [&[f64]; NB] = [&[]; NB];
        for (q, p) in parts.iter_mut().enumerate() {
            // Padding terms (q ≥ n) read y with weight 0.
            let v = if q < self.n { self.basis[q] } else { self.basis[0] };
            *p = std::slice::from_raw_parts(v.add(r.start) as *const f64, 2 * len);
        }
        let pick = |k: usize| {
            let mut out = [0.0; NB];
            out.copy_from_slice(&self.c[k][..NB]);
            out
        };
        let coefs = PassCoefs::<NB> { y: pick(0), f: pick(1), e0: pick(2), e1: pick(3) };
        let yn = std::slice::from_raw_parts_mut(self.y_new.add(r.start) as *mut f64, 2 * len);
        let fn_ = std::slice::from_raw_parts_mut(self.f_new.add(r.start) as *mut f64, 2 * len);
        pass_chunk_dispatch(self.simd, &parts, &coefs, yn, fn_, self.atol, self.rtol)
    }
}

/// Sum of per-range sums in the order of their starts (so results do not
/// depend on which thread ran which range); `None` if not finite.
pub(crate) fn ordered_sum(parts: &mut [(usize, [f64; 2])]) -> Option<[f64; 2]> {
    parts.sort_unstable_by_key(|p| p.0);
    let mut tot = [0.0; 2];
    for (_, p) in parts.iter() {
        tot[0] += p[0];
        tot[1] += p[1];
    }
    (tot[0].is_finite() && tot[1].is_finite()).then_some(tot)
}

#[allow(clippy::too_many_arguments)]
fn powers_pass_n(
    partials: &mut [[f64; 2]],
    w: &[&[C64]],
    c_y: &[f64],
    c_f: &[f64],
    c_e: [&[f64]; 2],
    y_new: &mut [C64],
    f_new: &mut [C64],
    atol: f64,
    rtol: f64,
) -> Option<[f64; 2]> {
    let len = w[0].len();
    assert!(w.iter().all(|v| v.len() == len) && y_new.len() == len && f_new.len() == len);
    let mut ptrs = [std::ptr::null(); MAX_BASIS];
    for (p, v) in ptrs.iter_mut().zip(w) {
        *p = v.as_ptr();
    }
    let pass = RangePass::new(&ptrs[..w.len()], len, c_y, c_f, c_e, y_new.as_mut_ptr(), f_new.as_mut_ptr(), atol, rtol);
    let partials = &mut partials[..n_chunks(len)];
    // SAFETY: the chunks are disjoint and the inputs complete.
    let run = |(ci, p): (usize, &mut [f64; 2])| *p = unsafe { pass.run(ci * CHUNK..((ci + 1) * CHUNK).min(len)) };
    if len >= PAR_MIN {
        partials.par_iter_mut().enumerate().for_each(run);
    } else {
        partials.iter_mut().enumerate().for_each(run);
    }
    let mut tot = [0.0; 2];
    for p in partials.iter() {
        tot[0] += p[0];
        tot[1] += p[1];
    }
    (tot[0].is_finite() && tot[1].is_finite()).then_some(tot)
}

fn pass_chunk_dispatch<const NB: usize>(
    simd: crate::simd::Simd,
    w: &[&[f64]; NB],
    c: &PassCoefs<NB>,
    yn: &mut [f64],
    fn_: &mut [f64],
    atol: f64,
    rtol: f64,
) -> [f64; 2] {
    use crate::simd::Simd;
    match simd {
        Simd::Generic => pass_chunk::<NB, false>(w, c, yn, fn_, atol, rtol),
        // SAFETY: the variants are chosen by run-time feature detection.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { pass_chunk_avx2(w, c, yn, fn_, atol, rtol) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { pass_chunk_avx512(w, c, yn, fn_, atol, rtol) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pass_chunk_avx2<const NB: usize>(
    w: &[&[f64]; NB],
    c: &PassCoefs<NB>,
    yn: &mut [f64],
    fn_: &mut [f64],
    atol: f64,
    rtol: f64,
) -> [f64; 2] {
    pass_chunk::<NB, true>(w, c, yn, fn_, atol, rtol)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn pass_chunk_avx512<const NB: usize>(
    w: &[&[f64]; NB],
    c: &PassCoefs<NB>,
    yn: &mut [f64],
    fn_: &mut [f64],
    atol: f64,
    rtol: f64,
) -> [f64; 2] {
    pass_chunk::<NB, true>(w, c, yn, fn_, atol, rtol)
}

/// `a·b + acc`, fused where the instruction set has FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, acc: f64) -> f64 {
    if FMA {
        a.mul_add(b, acc)
    } else {
        a * b + acc
    }
}

/// The pass over one chunk (interleaved doubles): writes `yn`, `fn_`, and
/// returns the two weighted sums of squares (NaN if `yn` is not finite).
#[inline(always)]
fn pass_chunk<const NB: usize, const FMA: bool>(
    w: &[&[f64]; NB],
    c: &PassCoefs<NB>,
    yn: &mut [f64],
    fn_: &mut [f64],
    atol: f64,
    rtol: f64,
) -> [f64; 2] {
    const B: usize = 2 * BLOCK;
    let len = yn.len();
    let mut acc = [0.0f64; 2];
    let mut finite = true;
    let mut e0 = [0.0f64; B];
    let mut e1 = [0.0f64; B];
    let mut s = 0;
    while s < len {
        let e = (s + B).min(len);
        let n = e - s;
        let mut src: [&[f64]; NB] = [&[]; NB];
        for (d, v) in src.iter_mut().zip(w) {
            *d = &v[s..e];
        }
        let (ys, fs) = (&mut yn[s..e], &mut fn_[s..e]);
        let (e0s, e1s) = (&mut e0[..n], &mut e1[..n]);
        for j in 0..n {
            let (mut a, mut b, mut x, mut z) = (0.0, 0.0, 0.0, 0.0);
            for q in 0..NB {
                let v = src[q][j];
                a = madd::<FMA>(c.y[q], v, a);
                b = madd::<FMA>(c.f[q], v, b);
                x = madd::<FMA>(c.e0[q], v, x);
                z = madd::<FMA>(c.e1[q], v, z);
            }
            ys[j] = a;
            fs[j] = b;
            e0s[j] = x;
            e1s[j] = z;
        }
        let y0 = src[0];
        for i in 0..n / 2 {
            let (yr, yi) = (y0[2 * i], y0[2 * i + 1]);
            let (nr, ni) = (ys[2 * i], ys[2 * i + 1]);
            finite &= nr.is_finite() && ni.is_finite();
            let sc = atol + rtol * (yr * yr + yi * yi).max(nr * nr + ni * ni).sqrt();
            let inv = 1.0 / (sc * sc);
            acc[0] += (e0s[2 * i] * e0s[2 * i] + e0s[2 * i + 1] * e0s[2 * i + 1]) * inv;
            acc[1] += (e1s[2 * i] * e1s[2 * i] + e1s[2 * i + 1] * e1s[2 * i + 1]) * inv;
        }
        s = e;
    }
    if finite {
        acc
    } else {
        [f64::NAN; 2]
    }
}

//! Matrix-free Liouvillian: 𝓛ρ computed row by row from the [`Generator`]'s
//! pieces, without ever forming the d²×d² matrix.
//!
//! Output row r collects, for each piece, one contiguous run of
//! `f·ρ[r − Δ_r, k]` over k: a shifted row of ρ (left multiplication), the same
//! row with shifted columns (right multiplication) or both (dissipator
//! sandwich). The output row stays in L1 while the few source rows it reads
//! (offsets ±1, ±N_c, ±N_b·N_c and their sums) stay in L2, so the kernel streams
//! ρ and 𝓛ρ about once each. Rows are distributed over the rayon pool.
//! That portable loop makes one pass over the output row per piece; on CPUs
//! with AVX-512 the rows go instead through `fused.rs`, which accumulates all
//! pieces of an output vector in registers (same results to round-off).
//!
//! Hermiticity: 𝓛 maps Hermitian matrices to Hermitian matrices, so only the
//! upper triangle (c ≥ r) is computed and the lower one is mirrored,
//! out[c, r] = conj(out[r, c]). This halves the arithmetic and makes every
//! output exactly Hermitian, so an RK solution stays exactly Hermitian (real
//! coefficients preserve it bit for bit). The kernel therefore requires a
//! Hermitian input; density matrices, their RK stages and the powers 𝓛^q ρ are.

use super::{Coef, Generator, Liouvillian, Piece};
pub use crate::simd::Simd;
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::ops::Range;

/// Rows per parallel task: enough work to amortise scheduling, small enough to
/// balance two to a few dozen threads.
/// (Measured: 8 beats 16 and 32, and column blocking of 256 or 512 did not pay
/// at d = 864 or 2400 on this machine.)
const ROWS_PER_TASK: usize = 8;
/// Matrices with fewer entries are processed on the calling thread.
const SERIAL_BELOW: usize = 1 << 16;
/// Most threads [`Kernel::apply_chain_banded`] is used with.
pub const CHAIN_MAX_THREADS: usize = 4;
/// Most powers one call of [`Kernel::apply_chain_banded`] takes.
const MAX_CHAIN: usize = 32;

/// A task of the wavefront: block b of power j, or handing block b to the sink.
#[derive(Debug, Clone, Copy)]
enum Task {
    Block(usize, usize),
    Sink(usize),
}

/// Flags and task list of the wavefront for (powers, blocks) = `key`, reused
/// across calls (allocated on the first call with a new shape).
#[derive(Debug, Default)]
struct ChainScratchInner {
    key: (usize, usize),
    /// Per (power j ≥ 1, block): upper parts computed; band mirrored (final).
    computed: Vec<std::sync::atomic::AtomicBool>,
    mirrored: Vec<std::sync::atomic::AtomicBool>,
    tasks: Vec<Task>,
}

impl ChainScratchInner {
    /// Flags cleared and tasks in wave order for n powers over nb blocks:
    /// block b of power j two waves after block b of power j − 1 (it needs
    /// blocks b − 1..=b + 1 of that power, final). A worker takes the tasks in
    /// this order, so it only ever waits for tasks already taken by a running
    /// worker.
    fn prepare(&mut self, n: usize, nb: usize) {
        use std::sync::atomic::{AtomicBool, Ordering};
        if self.key != (n, nb) || self.tasks.is_empty() {
            self.key = (n, nb);
            self.computed = (0..n * nb).map(|_| AtomicBool::new(false)).collect();
            self.mirrored = (0..n * nb).map(|_| AtomicBool::new(false)).collect();
            self.tasks.clear();
            for wave in 0..nb + 2 * n + 1 {
                for j in 1..=n {
                    if let Some(b) = wave.checked_sub(2 * (j - 1)).filter(|&b| b < nb) {
                        self.tasks.push(Task::Block(j, b));
                    }
                }
                if let Some(b) = wave.checked_sub(2 * n).filter(|&b| b < nb) {
                    self.tasks.push(Task::Sink(b));
                }
            }
        }
        for f in self.computed.iter().chain(&self.mirrored) {
            f.store(false, Ordering::Relaxed);
        }
    }
}

/// [`ChainScratchInner`] behind a lock; a clone of a kernel starts with its own.
#[derive(Debug, Default)]
struct ChainScratch(std::sync::Mutex<ChainScratchInner>);

impl Clone for ChainScratch {
    fn clone(&self) -> Self {
        ChainScratch::default()
    }
}
/// Wavefront blocks are this many times the minimum (largest row shift or
/// band). Measured on the (12,12,6) run, 2 threads: ×1 and ×3 no faster
/// than level by level, ×2 8–10 % faster; neutral at (10,10,4) and (20,20,6).
const CB_MUL: usize = 2;

#[derive(Debug, Clone)]
pub struct Kernel {
    generator: Generator,
    /// The pieces in the form the row loop uses (see [`KPiece`]).
    compiled: Vec<KPiece>,
    d: usize,
    simd: Simd,
    /// Rows per block of the wavefront in [`Kernel::apply_chain_banded`]:
    /// [`CB_MUL`] × (the largest row shift or the band, whichever is larger).
    chain_block: usize,
    /// The wavefront's task list and flags, kept between calls so that the
    /// integrator's step loop allocates nothing.
    chain_scratch: ChainScratch,
    /// The AVX-512 fused row loop's form of the pieces (see `fused.rs`).
    #[cfg(target_arch = "x86_64")]
    fused: Option<super::fused::Fused>,
    full: Layout,
    banded: Layout,
}

/// Storage of a Hermitian d×d matrix, row by row: row i holds columns
/// `col0[i]..d` contiguously (all rows back to back in one flat vector).
///
/// - [`Layout::full`]: `col0 = 0`, the ordinary row-major d×d matrix.
/// - [`Layout::banded`]: `col0 = max(0, i − B)`, the upper triangle plus a band
///   of B sub-diagonals. The kernel reads nothing below that band (B is the
///   largest column-minus-row offset of its pieces), so an ODE solver can carry
///   the density matrix in this layout: about (1/2 + B/d) of the memory and of
///   the memory traffic of the full matrix, which is what bounds the speed of
///   the RK stage combinations. The band entries are kept consistent
///   (out[r, c] = conj(out[c, r])), so every entry is a real matrix entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    d: usize,
    col0: Vec<usize>,
    start: Vec<usize>,
    len: usize,
}

impl Layout {
    pub fn full(d: usize) -> Self {
        Self::banded(d, d)
    }

    pub fn banded(d: usize, band: usize) -> Self {
        let col0: Vec<usize> = (0..d).map(|i| i.saturating_sub(band)).collect();
        let mut start = Vec::with_capacity(d);
        let mut len = 0;
        for &c in &col0 {
            start.push(len);
            len += d - c;
        }
        Self { d, col0, start, len }
    }

    /// The real Frobenius inner product Re Tr(X†Y) of two Hermitian matrices
    /// stored in this layout: the diagonal once, each stored entry above it
    /// twice (for itself and its mirror), the stored band below it not at all
    /// (it repeats entries above). A flat dot product over the storage would
    /// count the band twice more and is wrong here.
    pub fn inner(&self, x: &[C64], y: &[C64]) -> f64 {
        use rayon::prelude::*;
        (0..self.d)
            .into_par_iter()
            .with_min_len(64)
            .map(|i| {
                let row = self.row(i);
                let diag = row.start + i - self.col0[i];
                let re = |k: usize| x[k].re * y[k].re + x[k].im * y[k].im;
                re(diag) + 2.0 * (diag + 1..row.end).map(re).sum::<f64>()
            })
            .sum()
    }

    /// Matrix dimension d.
    pub fn d(&self) -> usize {
        self.d
    }

    /// Length of the flat vector.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// First stored column of row i.
    pub fn col0(&self, i: usize) -> usize {
        self.col0[i]
    }

    /// Flat range of row i.
    pub fn row(&self, i: usize) -> std::ops::Range<usize> {
        self.start[i]..self.start[i] + self.d - self.col0[i]
    }

    /// Entry (i, k) of the Hermitian matrix stored in `v`.
    pub fn get(&self, v: &[C64], i: usize, k: usize) -> C64 {
        if k >= self.col0[i] {
            v[self.start[i] + k - self.col0[i]]
        } else {
            v[self.start[k] + i - self.col0[k]].conj()
        }
    }

    /// The full row-major d×d matrix: stored rows copied, the rest mirrored.
    pub fn to_full(&self, v: &[C64], full: &mut [C64]) {
        let d = self.d;
        for i in 0..d {
            full[i * d + self.col0[i]..(i + 1) * d].copy_from_slice(&v[self.row(i)]);
        }
        mirror_upper_to_lower(full, d);
    }

    /// This layout's vector of a full row-major Hermitian matrix.
    pub fn from_full(&self, full: &[C64]) -> Vec<C64> {
        let d = self.d;
        let mut v = vec![C64::new(0.0, 0.0); self.len];
        for i in 0..d {
            v[self.row(i)].copy_from_slice(&full[i * d + self.col0[i]..(i + 1) * d]);
        }
        v
    }
}

/// The band B of the banded layout a generator's kernel works in. Output
/// (r, c ≥ r) reads column k = c − Δ_c of row i = r − Δ_r, so k − i ≥ Δ_r − Δ_c:
/// the band must cover max(Δ_c − Δ_r).
fn band_of(generator: &Generator) -> usize {
    generator.pieces.iter().map(|p| p.d_col - p.d_row).max().unwrap_or(0).max(0) as usize
}

impl Layout {
    /// The banded layout [`Kernel::new`] would work in for `generator`,
    /// without compiling the kernel.
    pub fn banded_for(generator: &Generator) -> Self {
        Layout::banded(generator.space.dim(), band_of(generator))
    }
}

impl Kernel {
    pub fn new(generator: Generator) -> Self {
        Self::with_simd(generator, Simd::best())
    }

    /// As [`Kernel::new`] with a given instruction set (tests compare them).
    pub fn with_simd(generator: Generator, simd: Simd) -> Self {
        let d = generator.space.dim();
        let band = band_of(&generator);
        let mut compiled: Vec<KPiece> = generator.pieces.iter().map(KPiece::compile).collect();
        // The diagonal piece (Δ = 0, every column of every row) goes first and
        // assigns, so the output row needs no zeroing pass.
        compiled.sort_by_key(|p| !p.is_full_diagonal());
        #[cfg(target_arch = "x86_64")]
        let fused = if simd == Simd::Avx512 { super::fused::Fused::new(&compiled) } else { None };
        let max_shift = generator.pieces.iter().map(|p| p.d_row.unsigned_abs()).max().unwrap_or(0);
        Self {
            chain_scratch: ChainScratch::default(),
            chain_block: band.max(max_shift).max(16) * CB_MUL,
            full: Layout::full(d),
            banded: Layout::banded(d, band),
            compiled,
            generator,
            d,
            simd,
            #[cfg(target_arch = "x86_64")]
            fused,
        }
    }

    /// The banded layout this kernel works in (see [`Layout`]).
    pub fn banded_layout(&self) -> &Layout {
        &self.banded
    }

    /// 𝓛ρ with ρ and the result in [`Kernel::banded_layout`].
    pub fn apply_banded(&self, rho: &[C64], out: &mut [C64]) {
        self.apply_in(&self.banded, rho, out)
    }

    /// The powers `w_{j+1} = 𝓛 w_j` (j = 0..n−1, `bufs` = [w_0, …, w_n]) in
    /// the banded layout, computed as a wavefront over blocks of rows: the
    /// block of `w_{j+1}` that needs a block of `w_j` is computed soon after
    /// it, while it is still in cache, instead of after all of `w_j` has gone
    /// out to memory. `sink(range)` is called (from any thread) once every
    /// vector is final on `range`; the ranges are disjoint and cover the
    /// vector. Returns false, doing nothing, where this does not pay: without
    /// the fused AVX-512 loop, or with more than [`CHAIN_MAX_THREADS`] threads
    /// (only about one task per power is in flight at a time).
    ///
    /// # Safety
    /// Each `bufs[j]` points to a vector of `banded_layout().len()` entries,
    /// all distinct; `w_0` is complete and Hermitian; nothing else accesses
    /// them during the call.
    pub unsafe fn apply_chain_banded(&self, bufs: &[*mut C64], sink: &(dyn Fn(Range<usize>) + Sync)) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
            let threads = rayon::current_num_threads();
            if self.fused.is_none() || threads > CHAIN_MAX_THREADS || bufs.len() < 2 {
                return false;
            }
            let (lay, d) = (&self.banded, self.d);
            let rb = self.chain_block;
            let nb = d.div_ceil(rb);
            let n = bufs.len() - 1;
            if n >= MAX_CHAIN {
                return false;
            }
            let mut guard = self.chain_scratch.0.lock().unwrap_or_else(|e| e.into_inner());
            let sc = &mut *guard;
            sc.prepare(n, nb);
            let (computed, mirrored, tasks) = (&sc.computed, &sc.mirrored, &sc.tasks);
            // A task that panics sets `failed` (through the guard below), so
            // that workers waiting for it panic too instead of spinning forever.
            let failed = AtomicBool::new(false);
            let wait = |f: &AtomicBool| {
                while !f.load(Ordering::Acquire) {
                    assert!(!failed.load(Ordering::Relaxed), "wavefront: a task panicked");
                    std::hint::spin_loop();
                }
            };
            struct OnPanic<'a>(&'a AtomicBool);
            impl Drop for OnPanic<'_> {
                fn drop(&mut self) {
                    if std::thread::panicking() {
                        self.0.store(true, Ordering::Relaxed);
                    }
                }
            }
            let rows_of = |b: usize| b * rb..((b + 1) * rb).min(d);
            let mut ptrs = [0usize; MAX_CHAIN + 1];
            for (a, p) in ptrs.iter_mut().zip(bufs) {
                *a = *p as usize;
            }
            let run = |t: Task| {
                let _guard = OnPanic(&failed);
                match t {
                    Task::Block(j, b) => {
                        let (src, dst) = (ptrs[j - 1] as *const C64, ptrs[j] as *mut C64);
                        // Rows 0..=(block b + 1) of w_{j−1} final (w_0 is given).
                        let last = (b + 1).min(nb - 1);
                        if j > 1 {
                            for bb in 0..=last {
                                wait(&mirrored[(j - 2) * nb + bb]);
                            }
                        }
                        // SAFETY: those rows are final and nobody writes them any
                        // more; this task alone writes block b of w_j.
                        let rho = std::slice::from_raw_parts(src, lay.row(rows_of(last).end - 1).end);
                        for r in rows_of(b) {
                            let range = lay.row(r);
                            let orow = std::slice::from_raw_parts_mut(dst.add(range.start), range.len());
                            self.row(r, lay, rho, orow);
                        }
                        computed[(j - 1) * nb + b].store(true, Ordering::Release);
                        if b > 0 {
                            wait(&computed[(j - 1) * nb + b - 1]);
                        }
                        for r in rows_of(b) {
                            mirror_band_row(lay, dst, r);
                        }
                        mirrored[(j - 1) * nb + b].store(true, Ordering::Release);
                    }
                    Task::Sink(b) => {
                        wait(&mirrored[(n - 1) * nb + b]);
                        let rows = rows_of(b);
                        sink(lay.row(rows.start).start..lay.row(rows.end - 1).end);
                    }
                }
            };
            let next = AtomicUsize::new(0);
            (0..threads).into_par_iter().for_each(|_| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&t) = tasks.get(i) else { break };
                run(t);
            });
            true
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (bufs, sink);
            false
        }
    }

    fn apply_in(&self, layout: &Layout, rho: &[C64], out: &mut [C64]) {
        let d = self.d;
        assert_eq!(rho.len(), layout.len(), "rho has the wrong length");
        assert_eq!(out.len(), layout.len(), "out has the wrong length");
        struct Shared(*mut C64);
        // SAFETY: each task writes only the rows it was given; rows are disjoint.
        unsafe impl Sync for Shared {}
        let base = Shared(out.as_mut_ptr());
        let rows = |chunk: usize| {
            let p = &base;
            for r in chunk * ROWS_PER_TASK..((chunk + 1) * ROWS_PER_TASK).min(d) {
                let range = layout.row(r);
                // SAFETY: row r's range lies inside `out` and no other task touches it.
                let orow = unsafe { std::slice::from_raw_parts_mut(p.0.add(range.start), range.len()) };
                self.row(r, layout, rho, orow);
            }
        };
        let chunks = d.div_ceil(ROWS_PER_TASK);
        // Below ~64k entries a whole application takes microseconds: threads
        // would cost more than they save.
        if d * d < SERIAL_BELOW {
            (0..chunks).for_each(rows);
        } else {
            (0..chunks).into_par_iter().for_each(rows);
        }
        if layout.col0.iter().all(|&c| c == 0) {
            mirror_upper_to_lower(out, d);
        } else {
            mirror_band(layout, out);
        }
    }

    pub fn simd(&self) -> Simd {
        self.simd
    }

    /// Number of passes over a row (distinct offset pairs).
    pub fn passes(&self) -> usize {
        self.generator.pieces.len()
    }

    /// Upper-triangle part (columns r..d) of output row r; `out` is row r as
    /// stored in `layout`.
    fn row(&self, r: usize, layout: &Layout, rho: &[C64], out: &mut [C64]) {
        let cols = 0..self.d;
        let pieces = &self.compiled;
        match self.simd {
            Simd::Generic => row_generic(pieces, r, cols, layout, rho, out),
            // SAFETY: the variant was chosen by run-time feature detection.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { row_avx2(pieces, r, cols, layout, rho, out) },
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe {
                // SAFETY: as above; the band covers every piece (`with_simd`).
                if let Some(f) = &self.fused {
                    if super::fused::row_avx512(f, r, layout, rho, out) {
                        for &p in &f.rest {
                            apply_piece(&pieces[p], r, r..self.d, layout, rho, out);
                        }
                        return;
                    }
                }
                row_avx512(pieces, r, cols, layout, rho, out)
            },
        }
    }
}

impl Liouvillian for Kernel {
    fn dim(&self) -> usize {
        self.d
    }

    fn apply(&self, rho: &[C64], out: &mut [C64]) {
        self.apply_in(&self.full, rho, out)
    }
}

#[inline(always)]
fn row_impl(pieces: &[KPiece], r: usize, cols: Range<usize>, layout: &Layout, rho: &[C64], out: &mut [C64]) {
    let c0 = layout.col0(r);
    let first = r.max(cols.start);
    let rest = match pieces.first() {
        Some(KPiece::General(Piece { d_row: 0, d_col: 0, coef: Coef::Sum(wr, wc) })) => {
            // out = (wr[r] + wc[c])·ρ[r, c]: assigns every entry of the range.
            let s = wr[r];
            let src = &rho[layout.row(r)][first - c0..cols.end - c0];
            let dst = &mut out[first - c0..cols.end - c0];
            dst.iter_mut().zip(src).zip(&wc[first..cols.end]).for_each(|((o, x), c)| *o = (s + c) * x);
            &pieces[1..]
        }
        _ => {
            out[first - c0..cols.end - c0].fill(C64::new(0.0, 0.0));
            pieces
        }
    };
    for p in rest {
        apply_piece(p, r, first..cols.end, layout, rho, out);
    }
}

fn row_generic(pieces: &[KPiece], r: usize, cols: Range<usize>, layout: &Layout, rho: &[C64], out: &mut [C64]) {
    row_impl(pieces, r, cols, layout, rho, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_avx2(pieces: &[KPiece], r: usize, cols: Range<usize>, layout: &Layout, rho: &[C64], out: &mut [C64]) {
    row_impl(pieces, r, cols, layout, rho, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn row_avx512(
    pieces: &[KPiece],
    r: usize,
    cols: Range<usize>,
    layout: &Layout,
    rho: &[C64],
    out: &mut [C64],
) {
    row_impl(pieces, r, cols, layout, rho, out)
}

/// A piece compiled for the row loop: `out[r, k + Δ_c] += σ[i]·w[k]·ρ[i, k]`
/// with i = r − Δ_r. Column weights that are a complex constant times a real
/// vector (every ladder-operator weight is) are split so that the constant
/// joins the per-row scalar σ and the column factor is real: the inner loop
/// then costs one real-by-complex and one complex-scalar multiply per entry,
/// and when σ is real or imaginary (real couplings) only two real multiplies.
#[derive(Debug, Clone)]
pub(super) enum KPiece {
    /// σ[i]·ρ[i, k] (left multiplication, or a general piece's per-row part).
    Scaled { d_row: isize, d_col: isize, row: Vec<C64>, col: Option<Vec<f64>> },
    /// Fallback for column weights that are not a constant times a real vector.
    General(Piece),
}

impl KPiece {
    /// The Δ = (0, 0) piece, which covers every upper-triangle entry.
    fn is_full_diagonal(&self) -> bool {
        matches!(self, KPiece::General(Piece { d_row: 0, d_col: 0, coef: Coef::Sum(..) }))
    }

    fn compile(p: &Piece) -> Self {
        let (d_row, d_col) = (p.d_row, p.d_col);
        match &p.coef {
            Coef::Row(w) => KPiece::Scaled { d_row, d_col, row: w.clone(), col: None },
            Coef::Col(w) => match split_real(w) {
                Some((g, r)) => KPiece::Scaled { d_row, d_col, row: vec![g; w.len()], col: Some(r) },
                None => KPiece::General(p.clone()),
            },
            Coef::Product(wr, wc) => match split_real(wc) {
                Some((g, r)) => KPiece::Scaled { d_row, d_col, row: wr.iter().map(|x| x * g).collect(), col: Some(r) },
                None => KPiece::General(p.clone()),
            },
            Coef::Sum(..) => KPiece::General(p.clone()),
        }
    }
}

/// w = g·r with r real, if so (to round-off).
fn split_real(w: &[C64]) -> Option<(C64, Vec<f64>)> {
    let j = w.iter().position(|z| z.norm() > 0.0)?;
    let g = w[j] / w[j].norm();
    let scale = w.iter().map(|z| z.norm()).fold(0.0, f64::max);
    let r: Vec<f64> = w.iter().map(|z| (z / g).re).collect();
    w.iter().zip(&r).all(|(z, &x)| (z - g * x).norm() <= 1e-15 * scale).then_some((g, r))
}

#[inline(always)]
fn apply_piece(p: &KPiece, r: usize, cols: Range<usize>, layout: &Layout, rho: &[C64], out: &mut [C64]) {
    let (d_row, d_col) = match p {
        KPiece::Scaled { d_row, d_col, .. } => (*d_row, *d_col),
        KPiece::General(g) => (g.d_row, g.d_col),
    };
    let d = layout.d;
    let i = r as isize - d_row;
    if i < 0 || i >= d as isize {
        return;
    }
    let i = i as usize;
    // Source columns k with k + Δ_c inside `cols` (⊆ [r, d), upper triangle)
    // and k inside [0, d); the band of the layout guarantees k ≥ col0(i).
    let k0 = (cols.start as isize - d_col).max(0) as usize;
    let k1 = (cols.end as isize - d_col).min(d as isize) as usize;
    if k0 >= k1 {
        return;
    }
    let (ci, cr) = (layout.col0(i), layout.col0(r));
    debug_assert!(k0 >= ci, "piece reads below the layout's band");
    let row_i = &rho[layout.row(i)];
    let src = &row_i[k0 - ci..k1 - ci];
    let dst = &mut out[(k0 as isize + d_col) as usize - cr..(k1 as isize + d_col) as usize - cr];
    match p {
        KPiece::Scaled { row, col, .. } => {
            let s = row[i];
            match col {
                None => scaled_axpy(dst, src, s),
                Some(c) => scaled_real_axpy(dst, src, &c[k0..k1], s),
            }
        }
        KPiece::General(g) => general_piece(&g.coef, i, k0, k1, dst, src),
    }
}

/// dst += s·src, specialised for real and imaginary s.
#[inline(always)]
fn scaled_axpy(dst: &mut [C64], src: &[C64], s: C64) {
    if s.im == 0.0 {
        if s.re != 0.0 {
            dst.iter_mut().zip(src).for_each(|(o, x)| *o += x * s.re);
        }
    } else if s.re == 0.0 {
        let b = s.im;
        dst.iter_mut().zip(src).for_each(|(o, x)| {
            o.re -= b * x.im;
            o.im += b * x.re;
        });
    } else {
        dst.iter_mut().zip(src).for_each(|(o, x)| *o += s * x);
    }
}

/// dst += s·(c ∘ src) with real c, specialised for real and imaginary s.
#[inline(always)]
fn scaled_real_axpy(dst: &mut [C64], src: &[C64], c: &[f64], s: C64) {
    if s.im == 0.0 {
        if s.re != 0.0 {
            let a = s.re;
            dst.iter_mut().zip(src).zip(c).for_each(|((o, x), &w)| *o += x * (a * w));
        }
    } else if s.re == 0.0 {
        let b = s.im;
        dst.iter_mut().zip(src).zip(c).for_each(|((o, x), &w)| {
            let bw = b * w;
            o.re -= bw * x.im;
            o.im += bw * x.re;
        });
    } else {
        dst.iter_mut().zip(src).zip(c).for_each(|((o, x), &w)| *o += s * (x * w));
    }
}

#[inline(always)]
fn general_piece(coef: &Coef, i: usize, k0: usize, k1: usize, dst: &mut [C64], src: &[C64]) {
    match coef {
        Coef::Row(w) => scaled_axpy(dst, src, w[i]),
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

/// Fills the band part (columns col0(r)..r) of every row from the upper
/// triangle, out[r, c] = conj(out[c, r]), and makes the diagonal real.
fn mirror_band(layout: &Layout, out: &mut [C64]) {
    struct Shared(*mut C64);
    // SAFETY: row r's task writes only row r's band part and diagonal, and
    // reads only upper-triangle entries (c, r) with c < r, which no task writes.
    unsafe impl Sync for Shared {}
    let base = Shared(out.as_mut_ptr());
    let d = layout.d;
    let work = |r: usize| {
        let p = &base;
        // SAFETY: see `Shared`; the pointer covers the layout's vector.
        unsafe { mirror_band_row(layout, p.0, r) }
    };
    if d < 256 {
        (0..d).for_each(work);
    } else {
        (0..d).into_par_iter().with_min_len(64).for_each(work);
    }
}

/// Row r's band part from the upper triangle (and its diagonal made real).
///
/// # Safety
/// `out` holds a vector of `layout`; rows c in `col0(r)..r` have their upper
/// parts final, and nothing else accesses row r's band and diagonal or those
/// entries meanwhile.
unsafe fn mirror_band_row(layout: &Layout, out: *mut C64, r: usize) {
    let c0 = layout.col0(r);
    let start = layout.row(r).start;
    (*out.add(start + r - c0)).im = 0.0;
    for c in c0..r {
        *out.add(start + c - c0) = (*out.add(layout.row(c).start + r - layout.col0(c))).conj();
    }
}

/// Tile edge of the blocked mirror: 32×32 complex tiles (16 KB) keep both the
/// row-wise reads and the column-wise writes inside L1.
const TILE: usize = 32;

/// Copies conj of the strict upper triangle onto the lower one, tile by tile,
/// tile rows in parallel, and makes the diagonal real.
fn mirror_upper_to_lower(out: &mut [C64], d: usize) {
    struct Shared(*mut C64);
    // SAFETY: tasks write only strictly-lower entries of their own tile row and
    // read only strictly-upper entries, which no task writes.
    unsafe impl Sync for Shared {}
    let base = Shared(out.as_mut_ptr());
    let tiles = d.div_ceil(TILE);
    let work = |bi: usize| {
        let p = &base;
        let (i0, i1) = (bi * TILE, ((bi + 1) * TILE).min(d));
        for i in i0..i1 {
            // SAFETY: diagonal entry of this task's own tile row. A Hermitian
            // matrix has a real diagonal; drop the round-off imaginary part.
            unsafe { (*p.0.add(i * d + i)).im = 0.0 };
        }
        for bj in 0..=bi {
            let j0 = bj * TILE;
            for i in i0..i1 {
                let j1 = ((bj + 1) * TILE).min(i);
                for j in j0..j1 {
                    // SAFETY: i > j, both < d: (i, j) strictly lower, (j, i) strictly upper.
                    unsafe { *p.0.add(i * d + j) = (*p.0.add(j * d + i)).conj() };
                }
            }
        }
    };
    if d * d < SERIAL_BELOW {
        (0..tiles).for_each(work);
    } else {
        (0..tiles).into_par_iter().for_each(work);
    }
}

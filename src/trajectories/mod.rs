//! Quantum-jump (Monte-Carlo wave-function) trajectories: the master
//! equation unravelled into pure states of size d instead of d² (docs/physics.md §14).
//!
//! Between jumps ψ obeys dψ/dt = −iK ψ with K = H − (i/2) Σ_k r_k L_k†L_k,
//! whose norm decays. A jump happens when ‖ψ(t)‖² falls to a uniform random
//! number u, found by root-finding on the integrator's dense output (not by
//! fixed steps); the jump L_k is drawn with probability ∝ r_k ‖L_k ψ‖², and
//! ψ ← L_kψ/‖L_kψ‖ with a fresh u. The ensemble mean of ⟨O⟩_ψ/‖ψ‖² at each
//! save is Tr(Oρ(t)) of the master equation.
//!
//! **Reproducible.** Trajectory i draws from its own counter-based stream
//! keyed by (seed, i) ([`Stream`]), so a trajectory does not depend on which
//! thread or shard runs it. Trajectories are summed in fixed chunks of
//! [`CHUNK`] (in index order inside a chunk, chunks in order), so results are
//! bit-identical for any thread count, and shards — which take whole chunks
//! and keep each chunk's sums — merge to exactly the unsharded sums.

use crate::integrate::krylov::Krylov;
use crate::integrate::{DenseOutput, Integrator, Method, OdeRhs, StepWatch, GL5};
use crate::liouvillian::heisenberg;
use crate::model::{LindbladTerms, ModeState};
use crate::observables::series::Series;
use crate::observables::states;
use crate::observables::ModeMetrics;
use crate::space::{FockSpace, Operator};
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

/// Trajectories per chunk: the unit of summation and of sharding.
pub const CHUNK: usize = 50;

/// Real observables summed per save: Re/Im ⟨a⟩, ⟨b⟩, ⟨c⟩, n_a, n_b, n_c,
/// P_B, W.
pub const OBS: [&str; 11] = ["a_re", "a_im", "b_re", "b_im", "c_re", "c_im", "n_a", "n_b", "n_c", "power_b", "work_in"];
const N_OBS: usize = OBS.len();

/// Settings of a trajectory run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrajOptions {
    pub n: usize,
    pub seed: u64,
    /// Dopri5, Dop853 or Krylov (resolved: never Auto).
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
}

/// SplitMix64 (Steele, Lea & Flood 2014) as a counter-based stream: the k-th
/// number of trajectory i is mix(key(seed, i) + k·γ), a function of
/// (seed, i, k) alone.
#[derive(Debug, Clone)]
pub struct Stream {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Stream {
    pub fn new(seed: u64, trajectory: u64) -> Self {
        Stream { state: mix(mix(seed ^ 0x005E_ED0F_7A1E_C70B) ^ trajectory.wrapping_mul(GOLDEN).wrapping_add(1)) }
    }
    /// Uniform in (0, 1): 53 random bits, never 0.
    pub fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(GOLDEN);
        ((mix(self.state) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// Sums over a set of trajectories: Σ x and Σ x² of every observable at
/// every save, Σ ρ_b, and the jump counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sums {
    pub n: u64,
    /// `[n_save × N_OBS]`, save-major.
    pub s1: Vec<f64>,
    pub s2: Vec<f64>,
    /// `[n_save × d_b × d_b]`.
    pub rho_b: Vec<C64>,
    /// One count per jump operator (in [`LindbladTerms::jumps`] order).
    pub jumps: Vec<u64>,
}

impl Sums {
    fn zero(n_save: usize, db: usize, n_jumps: usize) -> Self {
        Sums {
            n: 0,
            s1: vec![0.0; n_save * N_OBS],
            s2: vec![0.0; n_save * N_OBS],
            rho_b: vec![C64::new(0.0, 0.0); n_save * db * db],
            jumps: vec![0; n_jumps],
        }
    }

    /// Adds `other` (elementwise, in this order).
    pub fn add(&mut self, other: &Sums) {
        self.n += other.n;
        self.s1.iter_mut().zip(&other.s1).for_each(|(a, b)| *a += b);
        self.s2.iter_mut().zip(&other.s2).for_each(|(a, b)| *a += b);
        self.rho_b.iter_mut().zip(&other.rho_b).for_each(|(a, b)| *a += b);
        self.jumps.iter_mut().zip(&other.jumps).for_each(|(a, b)| *a += b);
    }
}

/// The means, their standard errors and the battery's metrics from sums.
#[derive(Debug, Clone, Default)]
pub struct Ensemble {
    pub series: Series,
    /// Standard error of the mean of each of [`OBS`], `[n_save]` each.
    pub stderr: Vec<(&'static str, Vec<f64>)>,
    pub n: u64,
    pub jumps: Vec<u64>,
}

/// Means and standard errors: mean = S₁/n, s.e. = √((S₂ − S₁²/n)/(n(n − 1))).
pub fn ensemble(times: &[f64], sums: &Sums, db: usize) -> Ensemble {
    let n = sums.n.max(1) as f64;
    let mut series = Series::default();
    let mut stderr: Vec<(&'static str, Vec<f64>)> = OBS.iter().map(|&o| (o, Vec::with_capacity(times.len()))).collect();
    for (k, &t) in times.iter().enumerate() {
        let m = |j: usize| sums.s1[k * N_OBS + j] / n;
        for (j, (_, v)) in stderr.iter_mut().enumerate() {
            let (s1, s2) = (sums.s1[k * N_OBS + j], sums.s2[k * N_OBS + j]);
            let var = if n > 1.0 { ((s2 - s1 * s1 / n) / (n - 1.0)).max(0.0) } else { f64::NAN };
            v.push((var / n).sqrt());
        }
        let rho_b: Vec<C64> = sums.rho_b[k * db * db..(k + 1) * db * db].iter().map(|z| z / n).collect();
        series.push(
            t,
            [C64::new(m(0), m(1)), C64::new(m(2), m(3)), C64::new(m(4), m(5))],
            [m(6), m(7), m(8)],
            m(9),
            ModeMetrics::compute(&rho_b, db),
            m(10),
        );
    }
    Ensemble { series, stderr, n: sums.n, jumps: sums.jumps.clone() }
}

/// −iK as a linear right-hand side on state vectors.
struct Effective {
    k: Operator,
    d: usize,
}

fn apply(op: &Operator, x: &[C64], out: &mut [C64]) {
    out.iter_mut().for_each(|z| *z = C64::new(0.0, 0.0));
    add_apply(op, x, out, C64::new(1.0, 0.0));
}

/// out += s·(op x).
fn add_apply(op: &Operator, x: &[C64], out: &mut [C64], s: C64) {
    let sp = op.space;
    for t in &op.terms {
        let off = sp.offset(t.shift);
        let (lo, hi) = if off >= 0 { (0, x.len() - off as usize) } else { ((-off) as usize, x.len()) };
        for i in lo..hi {
            let w = t.weight[i];
            if w.re != 0.0 || w.im != 0.0 {
                out[(i as isize + off) as usize] += s * w * x[i];
            }
        }
    }
}

impl OdeRhs for Effective {
    fn len(&self) -> usize {
        self.d
    }
    fn eval(&self, _t: f64, y: &[C64], dy: &mut [C64]) {
        apply(&self.k, y, dy);
        dy.iter_mut().for_each(|z| *z *= C64::new(0.0, -1.0));
    }
    fn is_linear(&self) -> bool {
        true
    }
}

fn norm2(x: &[C64]) -> f64 {
    x.iter().map(|z| z.norm_sqr()).sum()
}

/// ⟨ψ|O|ψ⟩ (unnormalised).
fn expect(op: &Operator, x: &[C64]) -> C64 {
    let sp = op.space;
    let mut s = C64::new(0.0, 0.0);
    for t in &op.terms {
        let off = sp.offset(t.shift);
        let (lo, hi) = if off >= 0 { (0, x.len() - off as usize) } else { ((-off) as usize, x.len()) };
        for i in lo..hi {
            s += x[(i as isize + off) as usize].conj() * t.weight[i] * x[i];
        }
    }
    s
}

/// Everything a trajectory needs that does not depend on it.
pub struct Problem {
    space: FockSpace,
    rhs: Effective,
    jumps: Vec<(f64, Operator)>,
    lower: [Operator; 3],
    numbers: [Operator; 3],
    power_b: Operator,
    drive_power: Operator,
    init: [ModeState; 3],
    times: Vec<f64>,
    opts: TrajOptions,
}

impl Problem {
    pub fn new(terms: &LindbladTerms, init: &[ModeState; 3], times: &[f64], opts: &TrajOptions) -> Self {
        let sp = terms.hamiltonian.space;
        let mut k = terms.hamiltonian.clone();
        for j in &terms.jumps {
            k = k.add(&j.op.adjoint().mul(&j.op).scale(C64::new(0.0, -0.5 * j.rate)));
        }
        Problem {
            space: sp,
            rhs: Effective { k, d: sp.dim() },
            jumps: terms.jumps.iter().map(|j| (j.rate, j.op.clone())).collect(),
            lower: [sp.lower(0), sp.lower(1), sp.lower(2)],
            numbers: [sp.number(0), sp.number(1), sp.number(2)],
            power_b: heisenberg(terms, &sp.number(1)),
            drive_power: terms.drive_power.clone(),
            init: *init,
            times: times.to_vec(),
            opts: opts.clone(),
        }
    }

    /// Bytes one trajectory holds while it runs (state, integrator workspace,
    /// scratch): what the run needs per thread.
    pub fn bytes_per_thread(&self) -> usize {
        let vectors = match self.opts.method {
            Method::Krylov => Krylov::new(self.opts.rtol, self.opts.atol).workspace_vectors(),
            m => Integrator::new(m, self.opts.rtol, self.opts.atol).workspace_vectors(true),
        } + 4;
        vectors * self.space.dim() * 16
    }

    /// The initial pure state of trajectory `rng`: a product of the modes'
    /// states, a thermal mode drawn as a Fock state from its (truncated)
    /// distribution — an unravelling of the mixed initial state.
    fn initial(&self, rng: &mut Stream) -> Vec<C64> {
        let dims = self.space.dims;
        let mode_vec = |m: usize, rng: &mut Stream| -> Vec<C64> {
            let n = dims[m];
            let fock = |k: usize| (0..n).map(|j| C64::new(if j == k { 1.0 } else { 0.0 }, 0.0)).collect::<Vec<_>>();
            match self.init[m] {
                ModeState::Vacuum => fock(0),
                ModeState::Fock(k) => fock(k.min(n - 1)),
                ModeState::Coherent(z) => states::coherent(z, n),
                ModeState::Thermal(nbar) => {
                    let p: Vec<f64> = (0..n).map(|k| (nbar / (1.0 + nbar)).powi(k as i32)).collect();
                    let total: f64 = p.iter().sum();
                    let mut u = rng.uniform() * total;
                    let mut k = 0;
                    while k + 1 < n && u > p[k] {
                        u -= p[k];
                        k += 1;
                    }
                    fock(k)
                }
            }
        };
        let (va, vb, vc) = (mode_vec(0, rng), mode_vec(1, rng), mode_vec(2, rng));
        let mut psi = Vec::with_capacity(self.space.dim());
        for x in &va {
            for y in &vb {
                for z in &vc {
                    psi.push(x * y * z);
                }
            }
        }
        psi
    }

    /// Adds the observables of ψ (normalised here) at save `k` to `sums`.
    fn record(&self, sums: &mut Sums, k: usize, psi: &[C64], work: f64) {
        let nrm = norm2(psi);
        let e = |o: &Operator| expect(o, psi) / nrm;
        let (a, b, c) = (e(&self.lower[0]), e(&self.lower[1]), e(&self.lower[2]));
        let vals = [
            a.re,
            a.im,
            b.re,
            b.im,
            c.re,
            c.im,
            e(&self.numbers[0]).re,
            e(&self.numbers[1]).re,
            e(&self.numbers[2]).re,
            e(&self.power_b).re,
            work,
        ];
        for (j, v) in vals.iter().enumerate() {
            sums.s1[k * N_OBS + j] += v;
            sums.s2[k * N_OBS + j] += v * v;
        }
        let [_, db, dc] = self.space.dims;
        let rho = &mut sums.rho_b[k * db * db..(k + 1) * db * db];
        for chunk in psi.chunks(db * dc) {
            for n in 0..db {
                for m in 0..db {
                    let s: C64 = (0..dc).map(|q| chunk[n * dc + q] * chunk[m * dc + q].conj()).sum();
                    rho[n * db + m] += s / nrm;
                }
            }
        }
    }

    /// Runs trajectory `i`, adding its saves to `sums`.
    fn run_one(&self, i: u64, sums: &mut Sums, stop: &AtomicBool) -> Result<(), String> {
        let mut rng = Stream::new(self.opts.seed, i);
        let mut psi = self.initial(&mut rng);
        let times = &self.times;
        let t_end = times.last().copied().unwrap_or(0.0);
        let mut t = times.first().copied().unwrap_or(0.0);
        let mut next = 0;
        let mut work = 0.0;
        // Saves at t0 itself.
        while next < times.len() && times[next] <= t {
            self.record(sums, next, &psi, work);
            next += 1;
        }
        let mut u = rng.uniform();
        let mut buf = vec![C64::new(0.0, 0.0); psi.len()];
        while t < t_end {
            if stop.load(Ordering::Relaxed) {
                return Err("interrupted".into());
            }
            let saves: Vec<f64> = times[next..].to_vec();
            let mut watch = JumpWatch { u, drive: &self.drive_power, work, jump_at: None, saves: &saves, next: 0, save_work: Vec::new() };
            let recorded = std::cell::RefCell::new(Vec::new());
            let observer = |_k: usize, ts: f64, y: &[C64]| {
                recorded.borrow_mut().push((ts, y.to_vec()));
                ControlFlow::Continue(())
            };
            let stats = match self.opts.method {
                Method::Krylov => {
                    let kry = Krylov::new(self.opts.rtol, self.opts.atol);
                    kry.integrate_watched(&self.rhs, t, &mut psi, &saves, observer, Some(&mut watch))
                }
                m => {
                    let integ = Integrator::new(m, self.opts.rtol, self.opts.atol);
                    integ.integrate_watched(&self.rhs, t, &mut psi, &saves, observer, Some(&mut watch))
                }
            }
            .map_err(|e| format!("trajectory {i}: {e}"))?;
            // The work at each save was integrated by the watch, in order.
            for ((ts, y), w) in recorded.into_inner().into_iter().zip(watch.save_work.iter()) {
                if next < times.len() && ts == times[next] {
                    self.record(sums, next, &y, *w);
                    next += 1;
                }
            }
            work = watch.work;
            match watch.jump_at {
                Some(tj) => {
                    t = tj;
                    // Which jump: probability ∝ r_k ‖L_k ψ‖².
                    let weights: Vec<f64> = self
                        .jumps
                        .iter()
                        .map(|(r, l)| {
                            apply(l, &psi, &mut buf);
                            r * norm2(&buf)
                        })
                        .collect();
                    let total: f64 = weights.iter().sum();
                    if total <= 0.0 {
                        return Err(format!("trajectory {i}: a jump at t = {tj} with every jump rate zero"));
                    }
                    let mut x = rng.uniform() * total;
                    let mut k = 0;
                    while k + 1 < weights.len() && x > weights[k] {
                        x -= weights[k];
                        k += 1;
                    }
                    apply(&self.jumps[k].1, &psi, &mut buf);
                    let nb = norm2(&buf).sqrt();
                    psi.iter_mut().zip(&buf).for_each(|(p, b)| *p = b / nb);
                    sums.jumps[k] += 1;
                    u = rng.uniform();
                }
                None => {
                    t = stats.t_final.max(t_end);
                }
            }
        }
        sums.n += 1;
        Ok(())
    }
}

/// Watches the norm for the jump and integrates the work ⟨P_in⟩_ψ along
/// every step (5-point Gauss–Legendre on the dense output).
struct JumpWatch<'a> {
    u: f64,
    drive: &'a Operator,
    work: f64,
    jump_at: Option<f64>,
    /// The save times of this stretch, the next one to reach, and the work
    /// at each one reached.
    saves: &'a [f64],
    next: usize,
    save_work: Vec<f64>,
}


impl JumpWatch<'_> {
    fn power(&self, y: &[C64]) -> f64 {
        expect(self.drive, y).re / norm2(y)
    }
    fn integral(&self, a: f64, b: f64, dense: &mut dyn DenseOutput) -> f64 {
        if b <= a {
            return 0.0;
        }
        let (mid, half) = (0.5 * (a + b), 0.5 * (b - a));
        GL5.iter().map(|&(x, w)| w * half * self.power(dense.at(mid + half * x))).sum()
    }
}

impl StepWatch for JumpWatch<'_> {
    fn step(&mut self, t: f64, t_new: f64, dense: &mut dyn DenseOutput) -> Option<f64> {
        let end = norm2(dense.at(t_new));
        let t_stop = if end <= self.u {
            // ‖ψ(s)‖² decreases monotonically: bisection-safeguarded secant
            // (Illinois) on [t, t_new] to relative 1e-13 of the step.
            let (mut a, mut b) = (t, t_new);
            let (mut fa, mut fb) = (norm2(dense.at(a)) - self.u, end - self.u);
            let mut side = 0;
            for _ in 0..200 {
                if (b - a) <= 1e-13 * (t_new - t).max(f64::MIN_POSITIVE) {
                    break;
                }
                let mut c = (a * fb - b * fa) / (fb - fa);
                if !(c > a && c < b) {
                    c = 0.5 * (a + b);
                }
                let fc = norm2(dense.at(c)) - self.u;
                if fc > 0.0 {
                    a = c;
                    fa = fc;
                    if side == -1 {
                        fb *= 0.5;
                    }
                    side = -1;
                } else {
                    b = c;
                    fb = fc;
                    if side == 1 {
                        fa *= 0.5;
                    }
                    side = 1;
                }
            }
            self.jump_at = Some(b);
            b
        } else {
            t_new
        };
        let mut a = t;
        while self.next < self.saves.len() && self.saves[self.next] <= t_stop {
            let s = self.saves[self.next];
            self.work += self.integral(a, s, dense);
            self.save_work.push(self.work);
            a = s;
            self.next += 1;
        }
        self.work += self.integral(a, t_stop, dense);
        self.jump_at.map(|_| t_stop)
    }
}

/// Runs trajectories `chunks` (chunk c holds trajectories c·CHUNK ..
/// min((c+1)·CHUNK, n)) in parallel; returns each chunk's sums, in order.
pub fn run_chunks(p: &Problem, chunks: &[usize], stop: &AtomicBool, progress: &(dyn Fn(usize) + Sync)) -> Result<Vec<(usize, Sums)>, String> {
    let db = p.space.dims[1];
    let n_save = p.times.len();
    let n = p.opts.n;
    let done = std::sync::atomic::AtomicUsize::new(0);
    chunks
        .iter()
        .map(|&c| {
            let lo = c * CHUNK;
            let hi = ((c + 1) * CHUNK).min(n);
            let each: Vec<Result<Sums, String>> = (lo..hi)
                .into_par_iter()
                .map(|i| {
                    let mut s = Sums::zero(n_save, db, p.jumps.len());
                    p.run_one(i as u64, &mut s, stop)?;
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                    Ok(s)
                })
                .collect();
            let mut total = Sums::zero(n_save, db, p.jumps.len());
            for s in each {
                total.add(&s?);
            }
            Ok((c, total))
        })
        .collect()
}

/// Number of chunks of a run of `n` trajectories.
pub fn n_chunks(n: usize) -> usize {
    n.div_ceil(CHUNK)
}

#[cfg(test)]
mod tests;

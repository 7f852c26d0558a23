//! Liouvillian application speed, one benchmark per size, and a memory-bandwidth
//! probe (triad a = b + s·c over arrays far larger than cache) so the kernel can
//! be stated as a multiple of its bandwidth bound 32·d² bytes / bandwidth.
//! Run: `cargo bench --bench kernel`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use num_complex::Complex64 as C64;
use qbsim::integrate::{fixed_steps, Method, OdeRhs};
use qbsim::liouvillian::kernel::Kernel;
use qbsim::liouvillian::superop::SuperOperator;
use qbsim::liouvillian::{Generator, Liouvillian};
use qbsim::model::MicroParams;
use rayon::prelude::*;
use std::hint::black_box;


fn state(d: usize) -> Vec<C64> {
    (0..d * d).map(|k| C64::new(((k % 97) as f64).sin(), ((k % 89) as f64).cos())).collect()
}

fn kernel_apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernel_apply");
    for cutoffs in [[6, 6, 4], [8, 8, 4], [10, 10, 4], [12, 12, 6], [20, 20, 6]] {
        let p = MicroParams::bench_point(cutoffs);
        let d = p.space().dim();
        let k = Kernel::new(Generator::new(&p.lindblad_terms()));
        let rho = state(d);
        let mut out = vec![C64::new(0.0, 0.0); d * d];
        g.throughput(Throughput::Bytes((32 * d * d) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(d), &d, |b, _| b.iter(|| k.apply(black_box(&rho), &mut out)));
    }
    g.finish();
}

/// One application as the solver makes it: on the banded Hermitian layout
/// (upper triangle + band, the band mirrored), about 58 % of the full matrix at
/// d = 864. Throughput is still stated against the full matrix (32·d² bytes),
/// the data a dense application would have to move.
fn kernel_apply_banded(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernel_apply_banded");
    for cutoffs in [[6, 6, 4], [12, 12, 6], [20, 20, 6]] {
        let p = MicroParams::bench_point(cutoffs);
        let d = p.space().dim();
        let k = Kernel::new(Generator::new(&p.lindblad_terms()));
        let lay = k.banded_layout().clone();
        let rho = lay.from_full(&state(d));
        let mut out = vec![C64::new(0.0, 0.0); lay.len()];
        g.throughput(Throughput::Bytes((32 * d * d) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(d), &d, |b, _| b.iter(|| k.apply_banded(black_box(&rho), &mut out)));
    }
    g.finish();
}

fn superop_apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("superop_apply");
    for cutoffs in [[6, 6, 4], [12, 12, 6]] {
        let p = MicroParams::bench_point(cutoffs);
        let d = p.space().dim();
        let s = SuperOperator::new(&Generator::new(&p.lindblad_terms())).expect("fits");
        let rho = state(d);
        let mut out = vec![C64::new(0.0, 0.0); d * d];
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::from_parameter(d), &d, |b, _| b.iter(|| s.apply(black_box(&rho), &mut out)));
    }
    g.finish();
}

/// The master equation's state in the kernel's banded layout, as the engine integrates it.
struct BandedRhs(Kernel);

impl OdeRhs for BandedRhs {
    fn len(&self) -> usize {
        self.0.banded_layout().len()
    }
    fn eval(&self, _t: f64, y: &[C64], dy: &mut [C64]) {
        self.0.apply_banded(y, dy)
    }
    fn is_linear(&self) -> bool {
        true
    }
}

/// Ten DOPRI5 steps (60 applications of 𝓛 plus, per step, the one pass that
/// forms the solution, its derivative and the error norm from the powers of 𝓛) at the benchmark point, from the vacuum; per step = time / 10.
/// Ten steps per iteration so the integrator's one-time workspace allocation
/// (inside `fixed_steps`) weighs little.
fn dopri5_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("dopri5_10_steps");
    g.sample_size(20);
    for cutoffs in [[8, 8, 4], [12, 12, 6]] {
        let p = MicroParams::bench_point(cutoffs);
        let rhs = BandedRhs(Kernel::new(Generator::new(&p.lindblad_terms())));
        let d = p.space().dim();
        let rho0 = rhs.0.banded_layout().from_full(&qbsim::master::initial_state(&p, &[qbsim::model::ModeState::Vacuum; 3]));
        let mut y = rho0.clone();
        g.bench_with_input(BenchmarkId::from_parameter(d), &d, |b, _| {
            b.iter(|| {
                y.copy_from_slice(&rho0);
                fixed_steps(Method::Dopri5, &rhs, 0.0, 0.5, 10, black_box(&mut y), true).expect("finite steps")
            })
        });
    }
    g.finish();
}

/// STREAM-like triad over 3 × 64 MB: bytes moved = 24 per element (2 reads, 1 write).
fn bandwidth_triad(c: &mut Criterion) {
    let n = 8 << 20;
    let b = vec![1.0f64; n];
    let cc = vec![2.0f64; n];
    let mut a = vec![0.0f64; n];
    let mut g = c.benchmark_group("bandwidth");
    g.throughput(Throughput::Bytes((24 * n) as u64));
    g.sample_size(20);
    g.bench_function("triad_192MB", |bch| {
        bch.iter(|| {
            a.par_chunks_mut(1 << 16)
                .zip(b.par_chunks(1 << 16).zip(cc.par_chunks(1 << 16)))
                .for_each(|(x, (y, z))| x.iter_mut().zip(y).zip(z).for_each(|((x, y), z)| *x = y + 3.0 * z));
            black_box(&a);
        })
    });
    g.finish();
}

criterion_group!(benches, kernel_apply, kernel_apply_banded, superop_apply, dopri5_step, bandwidth_triad);
criterion_main!(benches);

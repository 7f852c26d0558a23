//! Reduced-model speed: a 1000×1000 phase grid and a 100 000-point E_B(τ) series.
//! Run: `cargo bench --bench reduced`.

use criterion::{criterion_group, criterion_main, Criterion};
use num_complex::Complex64;
use qbsim::model::ReducedParams;
use qbsim::reduced::phase_diagram::{PhaseDiagram, PhaseGrid};
use qbsim::reduced::{linspace, ReducedModel};
use std::hint::black_box;

fn phase_grid_1000x1000(c: &mut Criterion) {
    let grid = PhaseGrid {
        gamma_b: 0.5,
        delta_r: linspace(-2.0, 2.0, 1000),
        alpha: linspace(-0.25, 1.5, 1000),
        e_max: None,
    };
    let mut g = c.benchmark_group("phase_grid");
    g.sample_size(10);
    g.bench_function("1000x1000", |b| b.iter(|| PhaseDiagram::compute(black_box(grid.clone()))));
    g.finish();
}

fn energy_series_100k(c: &mut Criterion) {
    let m = ReducedModel::new(ReducedParams::from_alpha(0.0, 0.5, 0.4, 1.0));
    let tau = linspace(0.0, 50.0, 100_000);
    let mut g = c.benchmark_group("energy_series");
    g.sample_size(20);
    g.bench_function("100k_points", |b| b.iter(|| m.trajectory(black_box(&tau), &[Complex64::new(0.0, 0.0); 2])));
    g.finish();
}

fn critical_line_fig6(c: &mut Criterion) {
    let d = linspace(-1.2, 1.2, 481);
    let mut g = c.benchmark_group("critical_time");
    g.sample_size(10);
    g.bench_function("fig6_481_points", |b| {
        b.iter(|| qbsim::reduced::phase_diagram::critical_line(0.5, black_box(&d), 1e3))
    });
    g.finish();
}

criterion_group!(benches, phase_grid_1000x1000, energy_series_100k, critical_line_fig6);
criterion_main!(benches);

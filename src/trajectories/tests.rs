//! Trajectories against the master equation (independent: the density
//! matrix integrated by the master engine), statistics, reproducibility.

use super::*;
use crate::master::{self, LiouvillianKind, MasterOptions, SaveState};
use crate::model::MicroParams;
use crate::reduced::linspace;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Cutoffs (6, 6, 4), thermal baths, Kerr on the battery, a cross-Kerr term.
fn kerr_point() -> MicroParams {
    let mut p = MicroParams::bench_point([6, 6, 4]);
    p.drive = 0.5;
    p.kerr = [0.0, 0.4, 0.0];
    p.cross_kerr = [0.1, 0.0, 0.0];
    p.n_th = [0.1, 0.05, 0.02];
    p.n_th_shared = [0.05, 0.0];
    p
}

fn opts(n: usize) -> TrajOptions {
    TrajOptions { n, seed: 7, method: Method::Dopri5, rtol: 1e-8, atol: 1e-10 }
}

fn run(p: &MicroParams, times: &[f64], o: &TrajOptions) -> Ensemble {
    let prob = Problem::new(&p.lindblad_terms(), &[ModeState::Vacuum; 3], times, o);
    let chunks: Vec<usize> = (0..n_chunks(o.n)).collect();
    let parts = run_chunks(&prob, &chunks, &AtomicBool::new(false), &|_| {}).unwrap();
    let mut total = Sums::zero(times.len(), p.cutoffs[1], p.lindblad_terms().jumps.len());
    for (_, s) in &parts {
        total.add(s);
    }
    ensemble(times, &total, p.cutoffs[1])
}

#[test]
fn streams_are_functions_of_seed_and_index() {
    let draw = |seed, i| {
        let mut s = Stream::new(seed, i);
        (0..4).map(|_| s.uniform()).collect::<Vec<_>>()
    };
    assert_eq!(draw(1, 5), draw(1, 5));
    assert_ne!(draw(1, 5), draw(1, 6));
    assert_ne!(draw(1, 5), draw(2, 5));
    let mut s = Stream::new(3, 0);
    let xs: Vec<f64> = (0..100_000).map(|_| s.uniform()).collect();
    assert!(xs.iter().all(|&x| x > 0.0 && x < 1.0));
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    // Mean 1/2 with standard error 1/√(12·10⁵) ≈ 9e-4.
    assert!((mean - 0.5).abs() < 4e-3, "{mean}");
}

/// The acceptance: 2000 trajectories of a thermal Kerr model agree with the
/// master equation within 4 standard errors at every save, observable by
/// observable; the ensemble's reduced state gives the battery metrics.
#[test]
fn two_thousand_trajectories_agree_with_the_master_equation_within_four_standard_errors() {
    let p = kerr_point();
    let times = linspace(0.0, 8.0, 17);
    let e = run(&p, &times, &opts(2000));
    let mo = MasterOptions { method: Method::Dopri5, rtol: 1e-10, atol: 1e-12, liouvillian: LiouvillianKind::Kernel, save_state: SaveState::None };
    let m = master::solve(&p, &[ModeState::Vacuum; 3], &times, &mo, &Arc::new(AtomicBool::new(false)), &mut |_| {}).unwrap().series;
    let exact: Vec<(&str, Vec<f64>)> = vec![
        ("a_re", m.a.iter().map(|z| z.re).collect()),
        ("a_im", m.a.iter().map(|z| z.im).collect()),
        ("b_re", m.b.iter().map(|z| z.re).collect()),
        ("b_im", m.b.iter().map(|z| z.im).collect()),
        ("c_re", m.c.iter().map(|z| z.re).collect()),
        ("c_im", m.c.iter().map(|z| z.im).collect()),
        ("n_a", m.n_a.clone()),
        ("n_b", m.n_b.clone()),
        ("n_c", m.n_c.clone()),
        ("power_b", m.power_b.clone()),
        ("work_in", m.work_in.clone()),
    ];
    let s = &e.series;
    let means: Vec<Vec<f64>> = vec![
        s.a.iter().map(|z| z.re).collect(),
        s.a.iter().map(|z| z.im).collect(),
        s.b.iter().map(|z| z.re).collect(),
        s.b.iter().map(|z| z.im).collect(),
        s.c.iter().map(|z| z.re).collect(),
        s.c.iter().map(|z| z.im).collect(),
        s.n_a.clone(),
        s.n_b.clone(),
        s.n_c.clone(),
        s.power_b.clone(),
        s.work_in.clone(),
    ];
    let mut worst = 0.0f64;
    for (j, (name, want)) in exact.iter().enumerate() {
        let se = &e.stderr[j].1;
        for k in 1..times.len() {
            let z = (means[j][k] - want[k]).abs() / se[k];
            worst = worst.max(z);
            assert!(z < 4.0, "{name} at t = {}: {} vs {} (stderr {:e}, {z:.2} s.e.)", times[k], means[j][k], want[k], se[k]);
        }
    }
    eprintln!("largest deviation: {worst:.2} standard errors");
    assert!(e.jumps.iter().sum::<u64>() > 2000, "jumps {:?}", e.jumps);
    // t = 0: every trajectory starts in the vacuum (no spread).
    assert_eq!(e.stderr[7].1[0], 0.0);
    // The ensemble ρ_b's ergotropy is that of the master's ρ_b to the
    // statistical error of its populations (a few s.e. of n_b).
    let k = times.len() - 1;
    assert!((s.ergotropy_b[k] - m.ergotropy_b[k]).abs() < 6.0 * e.stderr[7].1[k], "{} vs {}", s.ergotropy_b[k], m.ergotropy_b[k]);
}

/// s.e. ∝ 1/√n: 500 against 8000 trajectories (the first 500 of them), the
/// ratio √16 = 4 as the median over every observable and save. One ratio
/// scatters: the per-trajectory values are heavy-tailed (rare thermal jumps
/// put a quantum into b), so the variance estimated from 500 trajectories has
/// an error of ~10 % and a skewed distribution (measured: 3.0 … 5.1).
#[test]
fn standard_errors_fall_like_one_over_root_n() {
    let p = kerr_point();
    let times = linspace(0.0, 8.0, 5);
    let small = run(&p, &times, &opts(500));
    let large = run(&p, &times, &opts(8000));
    let mut ratios: Vec<f64> = Vec::new();
    for k in 1..times.len() {
        for j in 0..OBS.len() {
            ratios.push(small.stderr[j].1[k] / large.stderr[j].1[k]);
        }
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    assert!((median - 4.0).abs() < 0.6, "median ratio {median}, all {ratios:?}");
    assert!(ratios.iter().all(|r| (2.5..5.5).contains(r)), "{ratios:?}");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let p = kerr_point();
    let times = linspace(0.0, 3.0, 4);
    let o = opts(120);
    let go = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let prob = Problem::new(&p.lindblad_terms(), &[ModeState::Vacuum; 3], &times, &o);
            let chunks: Vec<usize> = (0..n_chunks(o.n)).collect();
            run_chunks(&prob, &chunks, &AtomicBool::new(false), &|_| {}).unwrap()
        })
    };
    assert_eq!(go(1), go(2));
}

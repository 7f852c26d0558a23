//! Protocols against independent truth: segments run by hand, the exact
//! critical time, matrix exponentials, the exact moments, closed forms.

use super::*;
use crate::integrate::Method;
use crate::linalg;
use crate::master::{self, LiouvillianKind, MasterOptions, MasterResult, SaveState};
use crate::model::{MicroParams, ModeState, ReducedParams};
use crate::moments;
use crate::observables::series::Series;
use crate::reduced::{self, linspace, ReducedModel};
use num_complex::Complex64 as C64;
use std::sync::atomic::AtomicBool;

/// A protocol whose change k applies `changes[k]` to the parameters.
fn proto<P: Params + 'static>(base: P, changes: Vec<fn(&mut P)>, steps: Vec<Step>, events: Vec<Event>) -> Protocol<P> {
    let resolve: Resolver<P> = Arc::new(move |applied: &[usize]| {
        let mut p = base.clone();
        for &c in applied {
            changes[c](&mut p);
        }
        Ok(p)
    });
    Protocol::new(steps, events, resolve)
}

fn step(at: f64, change: usize) -> Step {
    Step { at, ramp: 0.0, change }
}

fn event(observable: &str, threshold: f64, rising: bool, action: Action) -> Event {
    Event { name: format!("{observable}-{threshold}"), observable: observable.into(), threshold, rising, action, repeat: false }
}

/// A realizable linear point with a resonant mediator (every engine, the
/// reduced one through the map), small enough for the master equation.
fn micro() -> MicroParams {
    MicroParams {
        delta: [0.0; 3],
        drive: 0.1,
        kappa: [0.05, 0.08, 0.4],
        gamma: 1.5,
        ..MicroParams::linear([7, 7, 6])
    }
}

fn opts() -> MasterOptions {
    MasterOptions { method: Method::Dop853, rtol: 1e-11, atol: 1e-13, liouvillian: LiouvillianKind::Kernel, save_state: SaveState::Final }
}

fn run_master(p: &Protocol<MicroParams>, t_end: f64, times: &[f64]) -> MasterResult {
    run_master_with(p, t_end, times, &opts())
}

fn run_master_with(p: &Protocol<MicroParams>, t_end: f64, times: &[f64], o: &MasterOptions) -> MasterResult {
    let first = p.params(&[]).unwrap();
    let rho0 = master::initial_state(&first, &[ModeState::Vacuum; 3]);
    let stop = Arc::new(AtomicBool::new(false));
    master::solve_protocol(p, &rho0, 0.0, 0.0, t_end, times, o, &stop, &mut |_| {}).unwrap()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0, f64::max)
}

#[test]
fn canonical_keeps_the_last_occurrence_of_each_change() {
    assert_eq!(canonical(&[0, 1, 0, 2, 1]), vec![0, 2, 1]);
    assert_eq!(canonical(&[]), Vec::<usize>::new());
}

#[test]
fn root_finding_locates_a_crossing_to_the_event_tolerance() {
    // g(t) = t² − 2 on [1, 2]: the root is √2.
    let t = root(|t| t * t - 2.0, 1.0, 2.0, -1.0, 2.0);
    assert!((t - 2f64.sqrt()).abs() <= 2.0 * EVENT_TIME_RTOL * 2.0, "{t}");
    assert!(t * t - 2.0 >= 0.0, "the returned time is where the crossing holds");
}

#[test]
fn reduced_steps_equal_the_segments_run_by_hand() {
    let p0 = ReducedParams::symmetric(1.2, 0.9, 0.3, 1.0);
    let pr = proto(p0, vec![|p| *p = ReducedParams::symmetric(p.gamma_a, p.gamma_b, 0.8, p.drive_r), |p| p.drive_r = 0.0], vec![step(2.0, 0), step(5.0, 1)], vec![]);
    let times = linspace(0.0, 8.0, 81);
    let (_, traj, fired) = reduced::solve_protocol(&pr, 0.0, 8.0, &times).unwrap();
    assert!(fired.outcome.events.is_empty() && fired.t.is_empty());
    assert_eq!(traj.len(), times.len());
    // By hand: each segment from the previous one's final state.
    let segs = [(0.0, 2.0, p0), (2.0, 5.0, pr.params(&[0]).unwrap()), (5.0, 8.0, pr.params(&[0, 1]).unwrap())];
    let mut x = [C64::new(0.0, 0.0); 2];
    let mut want = Vec::new();
    for (k, &(a, b, p)) in segs.iter().enumerate() {
        let m = ReducedModel::new(p);
        for &tt in times.iter().filter(|&&tt| tt >= a && tt <= b && (k == 0 || tt > a)) {
            want.push(m.state_at(tt - a, &x)[1].norm_sqr());
        }
        x = m.state_at(b - a, &x);
    }
    assert!(max_rel(&traj.energy_b, &want) < 1e-12, "{}", max_rel(&traj.energy_b, &want));
}

#[test]
fn moments_steps_equal_the_segments_run_by_hand() {
    let p0 = micro();
    let pr = proto(p0, vec![|p| p.delta = [0.6, -0.6, 0.0], |p| p.drive = 0.0], vec![step(3.0, 0), step(6.0, 1)], vec![]);
    let times = linspace(0.0, 9.0, 91);
    let (s, _) = moments::solve_protocol(&pr, &[ModeState::Vacuum; 3], 0.0, 9.0, &times).unwrap();
    let segs = [(0.0, 3.0, p0), (3.0, 6.0, pr.params(&[0]).unwrap()), (6.0, 9.0, pr.params(&[0, 1]).unwrap())];
    let (mut x, mut n) = ([C64::new(0.0, 0.0); 3], linalg::zeros::<3>());
    let mut want = Vec::new();
    for (k, &(a, b, p)) in segs.iter().enumerate() {
        let mut ts: Vec<f64> = vec![a];
        ts.extend(times.iter().filter(|&&tt| tt > a && tt <= b));
        let all = moments::raw_moments(&p, x, n, &ts);
        want.extend(all.iter().skip(usize::from(k > 0)).map(|(_, s)| s[1][1].re));
        let (xe, se) = all.last().copied().unwrap();
        x = xe;
        n = se;
        for i in 0..3 {
            for j in 0..3 {
                n[i][j] -= x[i].conj() * x[j];
            }
        }
    }
    assert!(max_rel(&s.n_b, &want) < 1e-12, "{}", max_rel(&s.n_b, &want));
}

#[test]
fn master_steps_equal_the_segments_run_by_hand() {
    let p0 = micro();
    let pr = proto(p0, vec![|p| p.delta = [0.6, -0.6, 0.0], |p| p.drive = 0.0], vec![step(2.0, 0), step(4.0, 1)], vec![]);
    let times = linspace(0.0, 6.0, 31);
    let r = run_master(&pr, 6.0, &times);
    let stop = Arc::new(AtomicBool::new(false));
    let mut rho = master::initial_state(&p0, &[ModeState::Vacuum; 3]);
    let mut by_hand = Series::default();
    let mut work = 0.0;
    for (k, &(a, b, ref p)) in [(0.0, 2.0, p0), (2.0, 4.0, pr.params(&[0]).unwrap()), (4.0, 6.0, pr.params(&[0, 1]).unwrap())].iter().enumerate() {
        let ts: Vec<f64> = times.iter().copied().filter(|&tt| tt <= b && (tt > a || k == 0)).collect();
        let seg = master::solve_protocol(&Protocol::constant(*p), &rho, work, a, b, &ts, &opts(), &stop, &mut |_| {}).unwrap();
        rho = seg.rho_final.clone().unwrap();
        work = seg.work_final;
        by_hand.extend(seg.series);
    }
    for (x, y) in [(&r.series.n_b, &by_hand.n_b), (&r.series.work_in, &by_hand.work_in), (&r.series.ergotropy_b, &by_hand.ergotropy_b)] {
        let d = x.iter().zip(y).map(|(u, v)| (u - v).abs()).fold(0.0, f64::max);
        assert!(d < 1e-12, "{d}");
    }
}

/// The paper's SM II point (reduced model): E_B reaches 10³ at the exact
/// critical time, and the detuning pulse there gives the matrix-exponential
/// continuation.
#[test]
fn sm2_event_is_the_exact_critical_time_and_the_pulse_matches_matrix_exponentials() {
    let p0 = ReducedParams::from_alpha(0.0, 0.5, 0.0, 1.0);
    let pr = proto(p0, vec![|p| *p = ReducedParams::symmetric(p.gamma_a, p.gamma_b, 2.0, p.drive_r)], vec![], vec![event("energy_b", 1e3, true, Action::Set(0))]);
    let times = linspace(0.0, 20.0, 201);
    let (_, traj, fired) = reduced::solve_protocol(&pr, 0.0, 20.0, &times).unwrap();
    let t_crit = ReducedModel::new(p0).critical_time(1e3).unwrap();
    assert_eq!(fired.outcome.events.len(), 1);
    let te = fired.outcome.events[0].0;
    assert!((te - t_crit).abs() <= 1e-9 * t_crit, "event {te} vs t_crit {t_crit}");
    // The event sample is recorded, at E_B = E_max.
    assert_eq!(fired.t, vec![te]);
    assert!((fired.samples.energy_b[0] - 1e3).abs() < 1e-9 * 1e3);
    let t = &times;
    let x_e = ReducedModel::new(p0).state_at(t_crit, &[C64::new(0.0, 0.0); 2]);
    let after = ReducedModel::new(pr.params(&[0]).unwrap());
    for tt in [8.0, 10.0, 20.0] {
        let k = t.iter().position(|&x| x == tt).unwrap();
        let want = after.state_at(tt - t_crit, &x_e)[1].norm_sqr();
        assert!((traj.energy_b[k] - want).abs() <= 1e-9 * want, "tau {tt}: {} vs {want}", traj.energy_b[k]);
    }
    // Not locked: E_B relaxes to the unbroken steady value (docs/physics.md §11).
    let ss = after.steady_state().unwrap()[1].norm_sqr();
    assert!((ss - 0.0947).abs() < 1e-4 && traj.energy_b.last().unwrap() < &0.1);
}

/// Step, ramp (of Γ, p_ca and the drive together: 𝓛 of degree 4 in the ramp)
/// and an event: the master equation equals the exact moments, with
/// Runge–Kutta throughout and with Krylov on the constant segments.
#[test]
fn master_equals_moments_under_a_step_a_ramp_and_an_event() {
    master_equals_moments_under_a_protocol(&opts());
    master_equals_moments_under_a_protocol(&MasterOptions { method: Method::Krylov, rtol: 1e-10, atol: 1e-12, ..opts() });
}

fn master_equals_moments_under_a_protocol(o: &MasterOptions) {
    let p0 = micro();
    let pr = proto(
        p0,
        vec![
            |p| p.delta = [0.5, -0.5, 0.0],
            |p| {
                p.gamma = 2.5;
                p.p_ca = C64::new(0.8, 0.3);
                p.drive = 0.1;
            },
            |p| p.delta = [0.0; 3],
        ],
        vec![step(2.0, 0), Step { at: 4.0, ramp: 1.5, change: 1 }],
        vec![event("n_a", 0.024, true, Action::Set(2))],
    );
    let times = linspace(0.0, 8.0, 41);
    let r = run_master_with(&pr, 8.0, &times, o);
    let (m, fired) = moments::solve_protocol(&pr, &[ModeState::Vacuum; 3], 0.0, 8.0, &times).unwrap();
    let out = fired.outcome;
    assert_eq!(out.events.len(), 1, "{:?}", out.events);
    assert_eq!(r.events.len(), 1);
    assert!((r.events[0].0 - out.events[0].0).abs() < 1e-7, "{:?} vs {:?}", r.events, out.events);
    assert!(out.events[0].0 > 0.0 && out.events[0].0 < 8.0);
    assert_eq!(r.series.len(), m.len());
    let worst_top = r.top_level.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
    assert!(worst_top < 1e-9, "truncation {worst_top}");
    for (name, x, y) in [("n_b", &r.series.n_b, &m.n_b), ("n_a", &r.series.n_a, &m.n_a), ("work_in", &r.series.work_in, &m.work_in), ("power_b", &r.series.power_b, &m.power_b)] {
        let d = x.iter().zip(y).map(|(u, v)| (u - v).abs()).fold(0.0, f64::max);
        assert!(d < 1e-7, "{name}: {d}");
    }
    let db = r.series.b.iter().zip(&m.b).map(|(u, v)| (u - v).norm()).fold(0.0, f64::max);
    assert!(db < 1e-7, "b: {db}");
}

#[test]
fn events_inside_a_step_at_a_save_time_at_t0_and_never() {
    let p0 = micro();
    let change: Vec<fn(&mut MicroParams)> = vec![|p| p.drive = 0.0];
    // Few saves: the crossing falls inside an integrator step, between saves.
    let sparse = [0.0, 10.0];
    let ev = |th: f64| vec![event("energy_b", th, true, Action::Set(0))];
    let r = run_master(&proto(p0, change.clone(), vec![], ev(0.016)), 10.0, &sparse);
    let (m, fired) = moments::solve_protocol(&proto(p0, change.clone(), vec![], ev(0.016)), &[ModeState::Vacuum; 3], 0.0, 10.0, &sparse).unwrap();
    let (tm, te) = (r.events[0].0, fired.outcome.events[0].0);
    assert!(r.stats.steps > 3 && (tm - te).abs() < 1e-7, "{tm} vs {te}");
    // The saves stay on their grid; the event sample, between them, is at the threshold.
    assert_eq!(r.series.t, sparse.to_vec());
    assert_eq!(m.t, sparse.to_vec());
    assert!(r.event_samples.t == vec![tm] && (r.event_samples.energy_b[0] - 0.016).abs() < 1e-9);
    assert!(fired.samples.t == vec![te] && (fired.samples.energy_b[0] - 0.016).abs() < 1e-12);

    // Exactly at a save time: the threshold is the value there.
    let times = linspace(0.0, 10.0, 11);
    let plain = moments::solve(&p0, &[ModeState::Vacuum; 3], &times);
    let th = plain.energy_b[4];
    let (m, fired) = moments::solve_protocol(&proto(p0, change.clone(), vec![], ev(th)), &[ModeState::Vacuum; 3], 0.0, 10.0, &times).unwrap();
    let te = fired.outcome.events[0].0;
    assert!((te - 4.0).abs() <= 1e-10 * 4.0, "{te}");
    assert_eq!(m.t, times);
    // After the event the drive is off: the saves after it differ from the plain run.
    assert!((m.energy_b[4] - plain.energy_b[4]).abs() < 1e-12 * th);
    assert!((m.energy_b[6] - plain.energy_b[6]).abs() > 1e-6);
    let r = run_master(&proto(p0, change.clone(), vec![], ev(th)), 10.0, &times);
    assert!((r.events[0].0 - 4.0).abs() < 1e-7, "{}", r.events[0].0);

    // At t = 0: E_B = 0 is already below 1.
    let below = vec![event("energy_b", 1.0, false, Action::Stop)];
    let r = run_master(&proto(p0, change.clone(), vec![], below.clone()), 10.0, &times);
    assert_eq!(r.events, vec![(0.0, "energy_b-1".to_string())]);
    assert!(r.stopped_by_event && r.series.len() == 1 && !r.interrupted);
    let (_, fired) = moments::solve_protocol(&proto(p0, change.clone(), vec![], below), &[ModeState::Vacuum; 3], 0.0, 10.0, &times).unwrap();
    assert_eq!(fired.outcome.events.len(), 1);
    assert_eq!(fired.outcome.events[0].0, 0.0);

    // Never: far above anything the drive reaches.
    let r = run_master(&proto(p0, change.clone(), vec![], ev(1e9)), 10.0, &times);
    assert!(r.events.is_empty() && r.series.len() == times.len());
}

#[test]
fn a_repeating_event_re_arms_after_the_opposite_crossing() {
    // Drive on until E_B > 0.3, off until E_B < 0.1, repeatedly (reduced
    // model of the linear point in its own units).
    let p0 = ReducedParams::symmetric(1.5, 1.2, 0.0, 1.0);
    let mut on = event("energy_b", 0.1, false, Action::Set(1));
    let mut off = event("energy_b", 0.3, true, Action::Set(0));
    on.repeat = true;
    off.repeat = true;
    let pr = proto(p0, vec![|p| p.drive_r = 0.0, |p| p.drive_r = 1.0], vec![], vec![off, on]);
    let times = linspace(0.0, 40.0, 401);
    let (_, _, fired) = reduced::solve_protocol(&pr, 0.0, 40.0, &times).unwrap();
    let out = &fired.outcome;
    assert!(out.events.len() >= 6, "{:?}", out.events);
    for (k, w) in out.events.windows(2).enumerate() {
        assert!(w[1].0 > w[0].0);
        assert_ne!(w[0].1, w[1].1, "events alternate (#{k})");
    }
    // The first firing is at t = 0, where E_B = 0 is already below 0.1.
    assert_eq!(out.events[0].0, 0.0);
    assert_eq!(fired.t.len(), out.events.len());
    for k in 1..out.events.len() {
        let e = fired.samples.energy_b[k];
        assert!((e - 0.3).abs() < 1e-9 || (e - 0.1).abs() < 1e-9, "{e}");
    }
}

/// A driven lossy mode alone: ⟨a⟩ = −iE(1 − e^{−Mt})/M, M = κ/2 + iδ, so
/// W(t) = −2E Im ∫⟨a⟩ = −2E Im[−iE (t − (1 − e^{−Mt})/M)/M].
#[test]
fn work_of_a_driven_lossy_mode_matches_its_closed_form() {
    let p = MicroParams { delta: [0.4, 0.0, 0.0], drive: 0.3, kappa: [0.6, 0.0, 0.0], gamma: 0.0, ..MicroParams::linear([12, 1, 1]) };
    let m = C64::new(0.3, 0.4);
    let i = C64::new(0.0, 1.0);
    let exact = |t: f64| -2.0 * 0.3 * (-i * 0.3 * (t - (1.0 - (-m * t).exp()) / m) / m).im;
    let times = linspace(0.0, 12.0, 25);
    let mo = moments::solve(&p, &[ModeState::Vacuum; 3], &times);
    let ma = run_master(&Protocol::constant(p), 12.0, &times);
    for (k, &t) in times.iter().enumerate() {
        assert!((mo.work_in[k] - exact(t)).abs() < 1e-12 * exact(t).abs().max(1.0), "moments t={t}");
        assert!((ma.series.work_in[k] - exact(t)).abs() < 1e-8, "master t={t}: {} vs {}", ma.series.work_in[k], exact(t));
    }
    // Energy balance in the steady state: the work over [100, 110] equals the
    // loss κ n_a over it.
    let late = [0.0, 100.0, 110.0];
    let ma = run_master(&Protocol::constant(p), 110.0, &late);
    let w = &ma.series.work_in;
    assert!(((w[2] - w[1]) - 0.6 * ma.series.n_a[2] * 10.0).abs() < 1e-7, "{} vs {}", w[2] - w[1], 6.0 * ma.series.n_a[2]);
}

#[test]
fn a_stop_flag_during_a_protocol_is_an_interruption_with_the_state_there() {
    let p0 = micro();
    let pr = proto(p0, vec![|p| p.drive = 0.0], vec![step(3.0, 0)], vec![]);
    let stop = Arc::new(AtomicBool::new(true));
    let rho0 = master::initial_state(&p0, &[ModeState::Vacuum; 3]);
    let r = master::solve_protocol(&pr, &rho0, 0.0, 0.0, 6.0, &linspace(0.0, 6.0, 7), &opts(), &stop, &mut |_| {}).unwrap();
    assert!(r.interrupted && r.rho_final.is_some() && r.t_final < 6.0);
}


/// A run continued mid-protocol from its state (as `--resume` does) takes the
/// steps before its start as applied and equals the whole run.
#[test]
fn a_run_continued_mid_protocol_equals_the_whole_run() {
    let p0 = micro();
    let pr = proto(p0, vec![|p| p.delta = [0.6, -0.6, 0.0], |p| p.drive = 0.02], vec![step(2.0, 0), Step { at: 3.5, ramp: 1.5, change: 1 }], vec![]);
    let times = linspace(0.0, 6.0, 25);
    let whole = run_master(&pr, 6.0, &times);
    let stop = Arc::new(AtomicBool::new(false));
    let rho0 = master::initial_state(&p0, &[ModeState::Vacuum; 3]);
    let (head, tail): (Vec<f64>, Vec<f64>) = times.iter().partition(|&&t| t <= 4.0);
    let first = master::solve_protocol(&pr, &rho0, 0.0, 0.0, 4.0, &head, &opts(), &stop, &mut |_| {}).unwrap();
    let rest = master::solve_protocol(&pr, first.rho_final.as_ref().unwrap(), first.work_final, 4.0, 6.0, &tail, &opts(), &stop, &mut |_| {}).unwrap();
    let mut joined = first.series.clone();
    joined.extend(rest.series);
    for (x, y) in [(&whole.series.n_b, &joined.n_b), (&whole.series.work_in, &joined.work_in)] {
        let d = x.iter().zip(y).map(|(u, v)| (u - v).abs()).fold(0.0, f64::max);
        // Restarting at t = 4 changes the step sequence: agreement to the
        // integrator's error (rtol 1e-11), not bit for bit.
        assert!(d < 1e-9, "{d}");
    }
}

/// The stiff regime (κ_c = 50, 500, 5000 with Γ = √(2κ_c), cutoffs (8, 8, 4),
/// t = 20, 201 saves): Krylov propagation equals the exact moments, keeps ρ
/// Hermitian with trace 1, and its number of evaluations of 𝓛 hardly grows
/// while κ_c grows 100× (an explicit method's grows ~100×).
#[test]
fn krylov_is_exact_and_flat_in_the_stiff_regime() {
    let times = linspace(0.0, 20.0, 201);
    let mut evals = Vec::new();
    for kc in [50.0, 500.0, 5000.0] {
        let p = MicroParams { drive: 0.1, kappa: [0.05, 0.05, kc], gamma: (2.0 * kc).sqrt(), ..MicroParams::linear([8, 8, 4]) };
        let o = MasterOptions { method: Method::Krylov, rtol: 1e-8, atol: 1e-10, liouvillian: LiouvillianKind::Kernel, save_state: SaveState::Final };
        let r = run_master_with(&Protocol::constant(p), 20.0, &times, &o);
        let m = moments::solve(&p, &[ModeState::Vacuum; 3], &times);
        let dn = r.series.n_b.iter().zip(&m.n_b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let db = r.series.b.iter().zip(&m.b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max);
        assert!(dn < 1e-7 && db < 1e-7, "kappa_c {kc}: {dn} {db}");
        let rho = r.rho_final.as_ref().unwrap();
        let d = p.space().dim();
        let herm = (0..d).flat_map(|i| (0..d).map(move |k| (i, k))).map(|(i, k)| (rho[i * d + k] - rho[k * d + i].conj()).norm()).fold(0.0, f64::max);
        let tr: f64 = (0..d).map(|i| rho[i * d + i].re).sum();
        assert!(herm < 1e-14 && (tr - 1.0).abs() < 1e-9, "kappa_c {kc}: {herm} {tr}");
        assert!(r.trace.iter().all(|t| (t - 1.0).abs() < 1e-9));
        evals.push(r.stats.rhs_evals as f64);
    }
    assert!(evals[2] < 3.0 * evals[0], "{evals:?}");
}

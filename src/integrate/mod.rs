//! Adaptive explicit Runge–Kutta integration of large complex ODE systems
//! `y' = f(t, y)` (in qbsim: the flattened density matrix of the Lindblad
//! equation, up to ~10⁷ entries).
//!
//! Design (after diffsol/dynamiqs): a problem is anything implementing
//! [`OdeRhs`]; an [`Integrator`] owns the method and its settings; one generic
//! driver runs every explicit embedded pair from its Butcher tableau, so adding
//! a method means adding a table in `tableau.rs`, not a loop. Methods:
//!
//! * [`Method::Dopri5`]: Dormand–Prince 5(4) with FSAL and Shampine's
//!   4th-order continuous extension (HNW = Hairer, Nørsett & Wanner,
//!   *Solving ODEs I*, Sects. II.5, II.6).
//! * [`Method::Dop853`]: Dormand–Prince 8th order with Hairer's 5th/3rd-order
//!   combined error estimator and 7th-order dense output (three extra stages,
//!   evaluated only in steps that contain a save time), HNW II.5, II.6, II.10.
//!
//! Two ways of taking a step, one driver: **stage by stage** (`stages.rs`,
//! any right-hand side) and, for a linear problem `y' = L y` with constant L
//! ([`OdeRhs::is_linear`], e.g. a Lindblad master equation), **in the basis of
//! the powers** `L^q y` (`powers.rs`): the same method step for step (same
//! step sizes, same results to round-off — tested), with the same number of
//! applications of L, but one memory pass per step instead of one per stage,
//! and rejected steps that cost no evaluation of L.
//!
//! Why these choices:
//! * **Dense output instead of step shortening** (HNW II.6): save times are
//!   interpolated, so the step sequence, hence cost and accuracy, does not
//!   depend on how many save times are requested. Only the last step is
//!   clipped to end exactly on the last save time.
//! * **Step control** (HNW II.4): the error is measured relative to
//!   `sc_i = atol + rtol·max(|y_i|, |y_new_i|)` (RMS norm for DOPRI5, Hairer's
//!   combined norm for DOP853), and the new step comes from a PI controller
//!   `h·safety·err^(-α)·err_old^β` (β = 0.04, the stabilisation of Hairer's
//!   codes, HNW Vol. II Sect. IV.2) with growth/shrink limits; after a rejected
//!   step the next step may not grow. The initial step, if not given, is
//!   chosen by the algorithm of HNW II.4 ("Starting step size").
//! * **Memory**: every vector (stages or powers, stage argument, `y_new`,
//!   per-chunk partial sums, the wavefront's per-block sums) is allocated
//!   once before the step loop; the loop allocates nothing, except that the
//!   kernel's wavefront sets up its task list and flags (a few hundred bytes)
//!   on its first call and keeps them. Stage form: DOP853's extra dense stages reuse stages
//!   2–5, whose values no later formula needs, so the workspace is `m+1` stage
//!   vectors + 2 (DOPRI5: 9 vectors, DOP853: 15); powers form: the powers up to
//!   the dense output's degree + 3 (DOPRI5: 10, DOP853: 19). Plus one copy of
//!   the state ([`Integrator::workspace_vectors`]).
//! * **Parallelism**: stage combinations and norms run in chunks of 16 Ki
//!   elements, with rayon (in the caller's pool) for long vectors. Reductions
//!   sum per-chunk (or, on the wavefront path, per-block) partials in order,
//!   so a run is bit-reproducible for a given thread count, given a
//!   deterministic right-hand side. Across thread counts it is too, except
//!   that the master equation's wavefront (≤ 4 threads, AVX-512) partitions
//!   the work differently from the level-by-level path (more threads or no
//!   AVX-512): the two agree to round-off, not bit for bit.

pub mod krylov;
mod powers;
mod stages;
mod tableau;
mod vecops;

#[cfg(test)]
mod tests;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use num_complex::Complex64 as C64;
use powers::Powers;
use stages::Stages;
use tableau::Tableau;

/// Consecutive non-finite step attempts (each with the step shrunk by the
/// method's largest factor) before giving up with [`IntegrateError::NonFinite`];
/// a step-size underflow reached while shrinking for non-finite values is
/// reported as `NonFinite` too.
const MAX_NONFINITE_RETRIES: usize = 3;

/// Right-hand side of `y' = f(t, y)`.
pub trait OdeRhs: Sync {
    /// Length of the state vector.
    fn len(&self) -> usize;
    /// `dy = f(t, y)`. Must overwrite `dy` completely.
    fn eval(&self, t: f64, y: &[C64], dy: &mut [C64]);
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The real inner product the state lives in, for Krylov methods
    /// (default: Re Σ conj(x_i) y_i). A state stored in a compressed layout
    /// states its own: a Hermitian matrix in the banded layout counts each
    /// stored off-diagonal entry twice and its mirrored copies not at all.
    fn inner(&self, x: &[C64], y: &[C64]) -> f64 {
        x.iter().zip(y).map(|(a, b)| a.re * b.re + a.im * b.im).sum()
    }
    /// `f(t, y) = L y` with a constant linear map L (no dependence on t, no
    /// constant term). The integrator then takes its steps in the basis of
    /// the powers `L^q y` (see `powers.rs`): the same method and step
    /// sequence with less memory traffic. Default: false.
    fn is_linear(&self) -> bool {
        false
    }
    /// For a linear problem: all the powers `w_{j+1} = f(w_j)` of
    /// `bufs = [w_0, …, w_n]` in one call (an implementation can then keep
    /// each part of `w_j` in cache until `w_{j+1}` has used it), calling
    /// `sink(range)` — from any thread — once every vector is final on
    /// `range`; the ranges are disjoint and cover the vectors. Returns false,
    /// doing nothing, if not supported (the default).
    ///
    /// # Safety
    /// Each pointer is valid for [`OdeRhs::len`] entries, all are distinct,
    /// `w_0` is complete, and nothing else accesses them during the call.
    unsafe fn eval_chain(&self, _t: f64, _bufs: &[*mut C64], _sink: &(dyn Fn(std::ops::Range<usize>) + Sync)) -> bool {
        false
    }
}

/// The continuous extension of the current step: the state at any time
/// inside it (complete on the integrator's `dense_subset` if one is set).
pub trait DenseOutput {
    fn at(&mut self, t: f64) -> &[C64];
    /// A real linear functional `f` of the continuous extension at each of
    /// `times`, without forming the state: `f` is applied once to each vector
    /// the extension combines (the step's stages or powers), and the values at
    /// any time follow from the extension's coefficients. `f` must be linear.
    fn functional(&mut self, times: &[f64], f: &dyn Fn(&[C64]) -> f64) -> Vec<f64>;
}

/// Looks at every accepted step `[t, t_new]` before the save times inside it
/// are reported (events, integrals along the solution). Returning
/// `Some(t_stop)`, `t < t_stop ≤ t_new`, ends the integration at `t_stop`:
/// the save times up to `t_stop` are still reported, the state there (from
/// the dense output, complete) is left in `y`, and [`Stats::t_final`] is
/// `t_stop` — so that a caller can change the problem there and restart.
pub trait StepWatch {
    fn step(&mut self, t: f64, t_new: f64, dense: &mut dyn DenseOutput) -> Option<f64>;
}

/// Gauss–Legendre nodes (on [−1, 1]) and weights, 5 points (exact to degree 9):
/// integrals along a step's dense output (the work of the drive).
pub const GL5: [(f64, f64); 5] = [
    (0.0, 0.568_888_888_888_888_9),
    (-0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
    (0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
    (-0.906_179_845_938_664, 0.236_926_885_056_189_1),
    (0.906_179_845_938_664, 0.236_926_885_056_189_1),
];

/// Integration method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Dormand–Prince 5(4), FSAL, 4th-order dense output.
    #[default]
    Dopri5,
    /// Dormand–Prince 8(5,3), 7th-order dense output.
    Dop853,
    /// Krylov exponential propagation ([`krylov::Krylov`]) on every stretch
    /// where the problem is linear with constant L; not a Runge–Kutta method
    /// (an [`Integrator`] refuses it: callers use [`krylov::Krylov`], and
    /// DOPRI5 where L depends on t).
    Krylov,
    /// Krylov or DOPRI5, chosen per run from a stiffness estimate (the
    /// master equation's `choose_method`).
    Auto,
}

impl Method {
    fn tableau(self) -> &'static Tableau {
        match self {
            Method::Dopri5 => &tableau::DOPRI5,
            Method::Dop853 => &tableau::DOP853,
            // Integrator::validate refuses Krylov and Auto before any step.
            Method::Krylov | Method::Auto => &tableau::DOPRI5,
        }
    }
    /// The Runge–Kutta method to use where this one cannot (Krylov on a
    /// time-dependent stretch: DOPRI5).
    pub fn runge_kutta(self) -> Method {
        match self {
            Method::Krylov | Method::Auto => Method::Dopri5,
            m => m,
        }
    }
    /// Order of the propagated solution.
    pub fn order(self) -> u32 {
        self.tableau().order
    }
    /// Order of the dense output.
    pub fn dense_order(self) -> u32 {
        self.tableau().dense_order
    }
    pub fn name(self) -> &'static str {
        match self {
            Method::Krylov => "krylov",
            Method::Auto => "auto",
            m => m.tableau().name,
        }
    }

    /// The method of a [`Method::name`].
    pub fn from_name(name: &str) -> Option<Method> {
        [Method::Dopri5, Method::Dop853, Method::Krylov, Method::Auto].into_iter().find(|m| m.name() == name)
    }
}

/// An adaptive integrator: method plus settings.
#[derive(Clone, Debug)]
pub struct Integrator {
    pub method: Method,
    /// Relative tolerance (≥ 0).
    pub rtol: f64,
    /// Absolute tolerance (> 0: entries of a density matrix can be exactly 0).
    pub atol: f64,
    /// Initial step; `None` = Hairer's automatic choice (one extra rhs call).
    pub h0: Option<f64>,
    /// Maximum number of step attempts (accepted + rejected).
    pub max_steps: usize,
    /// Largest step; `None` = the whole interval.
    pub h_max: Option<f64>,
    /// Entries of the state the observer reads at save times that fall inside
    /// a step. With `Some`, the dense output is evaluated only there (the
    /// other entries of the vector passed to the observer are stale), which
    /// saves a pass over all stage vectors per save when the observables need
    /// a small part of the state. Saves that coincide with a step end, and the
    /// final state, are always complete.
    pub dense_subset: Option<Vec<usize>>,
    /// Take the steps of a linear problem ([`OdeRhs::is_linear`]) in the
    /// basis of the powers `L^q y` (default true); false forces the
    /// stage-by-stage evaluation (tests compare the two).
    pub linear_form: bool,
    /// Checked after every accepted step (and before the first): once set
    /// (e.g. by SIGINT/SIGTERM), the integration returns at the end of the
    /// current step with the state there ([`Stats::t_final`]), so a stop
    /// request takes effect within one step, not at the next save time.
    pub stop: Option<Arc<AtomicBool>>,
}

/// Work done by an integration.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Accepted steps.
    pub steps: usize,
    /// Rejected step attempts (error too large, or non-finite).
    pub rejected: usize,
    /// Calls of [`OdeRhs::eval`].
    pub rhs_evals: usize,
    pub wall_time_s: f64,
    /// The observer returned `Break`, or the stop flag was set.
    pub stopped_early: bool,
    /// Time of the state left in `y`: the last save time on completion, the
    /// save time or step end at which a stop took effect, the last accepted
    /// step on error.
    pub t_final: f64,
    /// Largest Krylov dimension used (0 for Runge–Kutta).
    pub krylov_dim: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntegrateError {
    #[error("step size underflow at t = {t}: h = {h:e} is too small to advance t")]
    StepSizeUnderflow { t: f64, h: f64 },
    #[error("maximum number of steps ({max_steps}) exceeded at t = {t}")]
    MaxStepsExceeded { t: f64, max_steps: usize },
    #[error("the state became non-finite (NaN or infinite) at t = {t}")]
    NonFinite { t: f64 },
    #[error("invalid integrator input: {0}")]
    InvalidInput(String),
}

impl Integrator {
    /// `method` with `rtol`, `atol`, automatic initial step, no step limit
    /// besides the interval, and at most 10⁷ step attempts.
    pub fn new(method: Method, rtol: f64, atol: f64) -> Self {
        Integrator {
            method,
            rtol,
            atol,
            h0: None,
            max_steps: 10_000_000,
            h_max: None,
            dense_subset: None,
            linear_form: true,
            stop: None,
        }
    }

    fn stop_requested(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Vectors of the problem's length the integrator allocates for
    /// `method` (its workspace and its copy of the state), for memory
    /// estimates.
    pub fn workspace_vectors(&self, linear: bool) -> usize {
        let tab = self.method.tableau();
        1 + if linear && self.linear_form { Powers::vectors(tab) } else { Stages::vectors(tab) }
    }

    /// Integrates from `(t0, y)` and reports the state at each of
    /// `save_times` (non-decreasing, all ≥ `t0`) to
    /// `observer(save_index, t, state)`.
    ///
    /// Save times equal to `t0` get the initial state; the others are
    /// interpolated by the dense output, except the last, on which the final
    /// step ends exactly. The observer may return `Break` to stop early, and
    /// the [`stop`](Self::stop) flag ends the integration after the current
    /// step; the result is then `Ok` with `stopped_early` set.
    ///
    /// On `Ok`, `y` holds the state at [`Stats::t_final`]: the last save time
    /// reported, or the step end at which a stop took effect. On `Err`, `y`
    /// holds the state at the last accepted step.
    pub fn integrate<R: OdeRhs + ?Sized>(
        &self,
        rhs: &R,
        t0: f64,
        y: &mut [C64],
        save_times: &[f64],
        observer: impl FnMut(usize, f64, &[C64]) -> ControlFlow<()>,
    ) -> Result<Stats, IntegrateError> {
        self.integrate_watched(rhs, t0, y, save_times, observer, None)
    }

    /// As [`integrate`](Self::integrate), showing every accepted step to
    /// `watch` first (see [`StepWatch`]); a step the watcher ends early ends
    /// the integration with `stopped_early` set and `t_final` = its time.
    pub fn integrate_watched<R: OdeRhs + ?Sized>(
        &self,
        rhs: &R,
        t0: f64,
        y: &mut [C64],
        save_times: &[f64],
        observer: impl FnMut(usize, f64, &[C64]) -> ControlFlow<()>,
        watch: Option<&mut dyn StepWatch>,
    ) -> Result<Stats, IntegrateError> {
        let start = Instant::now();
        self.validate(rhs, t0, y, save_times)?;
        let tab = self.method.tableau();
        if self.linear_form && rhs.is_linear() {
            self.drive(Powers::new(tab, y.len()), rhs, t0, y, save_times, observer, watch, start)
        } else {
            self.drive(Stages::new(tab, y.len()), rhs, t0, y, save_times, observer, watch, start)
        }
    }

    /// The step loop, for either way of taking a step.
    #[allow(clippy::too_many_arguments)]
    fn drive<S: Stepper, R: OdeRhs + ?Sized>(
        &self,
        mut ws: S,
        rhs: &R,
        t0: f64,
        y: &mut [C64],
        save_times: &[f64],
        mut observer: impl FnMut(usize, f64, &[C64]) -> ControlFlow<()>,
        mut watch: Option<&mut dyn StepWatch>,
        start: Instant,
    ) -> Result<Stats, IntegrateError> {
        let tab = self.method.tableau();
        let tol = Tol { atol: self.atol, rtol: self.rtol };
        let mut stats = Stats::default();
        let done = |mut stats: Stats, evals: usize, stopped: bool, t_final: f64| {
            stats.rhs_evals = evals;
            stats.stopped_early = stopped;
            stats.t_final = t_final;
            stats.wall_time_s = start.elapsed().as_secs_f64();
            Ok(stats)
        };

        let mut idx = 0;
        while idx < save_times.len() && save_times[idx] == t0 {
            if observer(idx, t0, y).is_break() {
                return done(stats, 0, true, t0);
            }
            idx += 1;
        }
        let t_end = match save_times.last() {
            Some(&t_end) if idx < save_times.len() => t_end,
            _ => return done(stats, 0, false, t0),
        };
        if self.stop_requested() {
            return done(stats, 0, true, t0);
        }

        // The state lives in its own vector so that accepting a step is a
        // swap with y_new rather than a copy; `y` gets it back on every exit.
        let y_out = y;
        let mut cur = y_out.to_vec();
        let y = &mut cur;
        let finish = |y_out: &mut [C64], y: &[C64]| vecops::copy(y_out, y);
        ws.start(rhs, t0, y);
        let h_max = self.h_max.unwrap_or(t_end - t0);
        let mut h = match self.h0 {
            Some(h0) => h0,
            None => ws.initial_step(rhs, t0, y, tol, h_max),
        }
        .min(h_max);
        let mut ctrl = Controller::new(tab);
        let mut t = t0;
        let mut last_rejected = false;
        let mut nonfinite = 0;

        loop {
            if stats.steps + stats.rejected >= self.max_steps {
                finish(y_out, y);
                return Err(IntegrateError::MaxStepsExceeded {
                    t,
                    max_steps: self.max_steps,
                });
            }
            // Stretch or clip the step onto t_end if it is within 1 %.
            let last = t + 1.01 * h >= t_end;
            if last {
                h = t_end - t;
            }
            if h.is_nan() || h <= 10.0 * f64::EPSILON * t.abs().max(t_end.abs()) {
                // Shrinking because of NaN/inf (e.g. the rhs fails beyond
                // some t) is reported as such.
                finish(y_out, y);
                return Err(if nonfinite > 0 {
                    IntegrateError::NonFinite { t }
                } else {
                    IntegrateError::StepSizeUnderflow { t, h }
                });
            }

            let err = ws.attempt(rhs, t, h, y, tol);
            if !err.is_finite() {
                // Possibly just a step far too large for an explicit method:
                // retry a few times with the largest shrink. `nonfinite` stays
                // set until a step with a finite error estimate.
                stats.rejected += 1;
                nonfinite += 1;
                if nonfinite > MAX_NONFINITE_RETRIES {
                    finish(y_out, y);
                    return Err(IntegrateError::NonFinite { t });
                }
                h *= tab.control.fac_min;
                last_rejected = true;
                continue;
            }
            nonfinite = 0;
            if err > 1.0 {
                stats.rejected += 1;
                h *= ctrl.reject_factor(err);
                last_rejected = true;
                continue;
            }

            // Accepted.
            stats.steps += 1;
            ws.complete(rhs, t, h);
            let t_new = if last { t_end } else { t + h };
            let cut = match watch.as_deref_mut() {
                Some(w) => {
                    let mut dense = Dense { ws: &mut ws, rhs, t, h, y, subset: self.dense_subset.as_deref() };
                    w.step(t, t_new, &mut dense).map(|ts| ts.clamp(t, t_new))
                }
                None => None,
            };
            if let Some(t_stop) = cut.filter(|&ts| ts < t_new) {
                // Saves up to the watcher's time, then the complete state there.
                while idx < save_times.len() && save_times[idx] <= t_stop {
                    let ts = save_times[idx];
                    let state = ws.dense(rhs, t, h, y, (ts - t) / h, self.dense_subset.as_deref());
                    if observer(idx, ts, state).is_break() {
                        let state = ws.dense(rhs, t, h, y, (ts - t) / h, None);
                        finish(y_out, state);
                        return done(stats, ws.rhs_evals(), true, ts);
                    }
                    idx += 1;
                }
                let state = ws.dense(rhs, t, h, y, (t_stop - t) / h, None);
                finish(y_out, state);
                return done(stats, ws.rhs_evals(), true, t_stop);
            }
            while idx < save_times.len() && save_times[idx] < t_new {
                let ts = save_times[idx];
                let theta = (ts - t) / h;
                let state = ws.dense(rhs, t, h, y, theta, self.dense_subset.as_deref());
                if observer(idx, ts, state).is_break() {
                    // The caller gets the whole state at this save time, not
                    // only the entries the observer reads.
                    let state = if self.dense_subset.is_some() { ws.dense(rhs, t, h, y, theta, None) } else { state };
                    finish(y_out, state);
                    return done(stats, ws.rhs_evals(), true, ts);
                }
                idx += 1;
            }
            ws.accept(y);
            t = t_new;
            while idx < save_times.len() && save_times[idx] <= t {
                if observer(idx, save_times[idx], y).is_break() {
                    finish(y_out, y);
                    return done(stats, ws.rhs_evals(), true, t);
                }
                idx += 1;
            }
            if idx == save_times.len() {
                finish(y_out, y);
                return done(stats, ws.rhs_evals(), false, t);
            }
            if cut.is_some() || self.stop_requested() {
                finish(y_out, y);
                return done(stats, ws.rhs_evals(), true, t);
            }

            let mut h_new = h * ctrl.accept_factor(err);
            if last_rejected {
                h_new = h_new.min(h);
            }
            h = h_new.min(h_max);
            last_rejected = false;
        }
    }

    fn validate<R: OdeRhs + ?Sized>(
        &self,
        rhs: &R,
        t0: f64,
        y: &[C64],
        save_times: &[f64],
    ) -> Result<(), IntegrateError> {
        let bad = |m: String| Err(IntegrateError::InvalidInput(m));
        if matches!(self.method, Method::Krylov | Method::Auto) {
            return bad(format!("\"{}\" is not a Runge-Kutta method of this integrator", self.method.name()));
        }
        if y.len() != rhs.len() {
            return bad(format!(
                "state length {} != rhs length {}",
                y.len(),
                rhs.len()
            ));
        }
        if !t0.is_finite() {
            return bad(format!("t0 = {t0} is not finite"));
        }
        if !(self.rtol >= 0.0 && self.rtol.is_finite()) {
            return bad(format!("rtol = {} must be finite and >= 0", self.rtol));
        }
        if !(self.atol > 0.0 && self.atol.is_finite()) {
            return bad(format!("atol = {} must be finite and > 0", self.atol));
        }
        if let Some(h0) = self.h0 {
            if !(h0 > 0.0 && h0.is_finite()) {
                return bad(format!("h0 = {h0} must be finite and > 0"));
            }
        }
        if let Some(hm) = self.h_max {
            if hm.is_nan() || hm <= 0.0 {
                return bad(format!("h_max = {hm} must be > 0"));
            }
        }
        let mut prev = t0;
        for (i, &ts) in save_times.iter().enumerate() {
            if !(ts.is_finite() && ts >= prev) {
                return bad(format!(
                    "save time #{i} = {ts}: save times must be finite, >= t0 and non-decreasing"
                ));
            }
            prev = ts;
        }
        Ok(())
    }
}

/// Takes `n_steps` equal steps from `t0` to `t1` without error control (for
/// measuring the order of a method). `y` is the initial state on entry and
/// the final state on return. A linear problem ([`OdeRhs::is_linear`]) is
/// stepped in the basis of powers when `linear_form` is set.
pub fn fixed_steps<R: OdeRhs + ?Sized>(
    method: Method,
    rhs: &R,
    t0: f64,
    t1: f64,
    n_steps: usize,
    y: &mut [C64],
    linear_form: bool,
) -> Result<Stats, IntegrateError> {
    if y.len() != rhs.len() || n_steps == 0 || !(t0.is_finite() && t1.is_finite()) {
        return Err(IntegrateError::InvalidInput(format!(
            "fixed_steps: len {} vs {}, n_steps {n_steps}, t0 {t0}, t1 {t1}",
            y.len(),
            rhs.len()
        )));
    }
    let tab = method.tableau();
    if linear_form && rhs.is_linear() {
        fixed_steps_with(Powers::new(tab, y.len()), rhs, t0, t1, n_steps, y)
    } else {
        fixed_steps_with(Stages::new(tab, y.len()), rhs, t0, t1, n_steps, y)
    }
}

fn fixed_steps_with<S: Stepper, R: OdeRhs + ?Sized>(
    mut ws: S,
    rhs: &R,
    t0: f64,
    t1: f64,
    n_steps: usize,
    y: &mut [C64],
) -> Result<Stats, IntegrateError> {
    let start = Instant::now();
    let h = (t1 - t0) / n_steps as f64;
    let mut cur = y.to_vec();
    ws.start(rhs, t0, &cur);
    for i in 0..n_steps {
        let t = t0 + i as f64 * h;
        // The error norm is used only as a finiteness check here.
        if !ws.attempt(rhs, t, h, &cur, Tol { atol: 1.0, rtol: 0.0 }).is_finite() {
            return Err(IntegrateError::NonFinite { t });
        }
        ws.complete(rhs, t, h);
        ws.accept(&mut cur);
    }
    y.copy_from_slice(&cur);
    Ok(Stats {
        steps: n_steps,
        rejected: 0,
        rhs_evals: ws.rhs_evals(),
        wall_time_s: start.elapsed().as_secs_f64(),
        stopped_early: false,
        t_final: t1,
        krylov_dim: 0,
    })
}

/// [`DenseOutput`] of the step `(t, h)` a stepper has just completed.
struct Dense<'a, S, R: ?Sized> {
    ws: &'a mut S,
    rhs: &'a R,
    t: f64,
    h: f64,
    y: &'a [C64],
    subset: Option<&'a [usize]>,
}

impl<S: Stepper, R: OdeRhs + ?Sized> DenseOutput for Dense<'_, S, R> {
    fn at(&mut self, t: f64) -> &[C64] {
        self.ws.dense(self.rhs, self.t, self.h, self.y, (t - self.t) / self.h, self.subset)
    }
    fn functional(&mut self, times: &[f64], f: &dyn Fn(&[C64]) -> f64) -> Vec<f64> {
        let thetas: Vec<f64> = times.iter().map(|&t| (t - self.t) / self.h).collect();
        self.ws.dense_functional(self.rhs, self.t, self.h, self.y, &thetas, f)
    }
}

/// Error tolerances of a step.
#[derive(Clone, Copy, Debug)]
struct Tol {
    atol: f64,
    rtol: f64,
}

/// One way of taking the steps of an embedded pair: stage by stage
/// ([`Stages`], any problem) or in the basis of the powers `L^q y`
/// ([`Powers`], linear problems). The driver calls, per step, `attempt`
/// (until the error is ≤ 1), `complete`, `dense` for the save times inside
/// the step, and `accept`.
trait Stepper {
    /// Evaluates what the first step needs at `(t0, y)` (`f(t0, y)`).
    fn start<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t0: f64, y: &[C64]);
    /// Starting step size (HNW II.4), after `start`.
    fn initial_step<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t0: f64, y: &[C64], tol: Tol, h_max: f64) -> f64;
    /// Forms the step `(t, h)` from `y` and returns its scaled error norm
    /// (≤ 1: accept; NaN if anything is non-finite).
    fn attempt<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t: f64, h: f64, y: &[C64], tol: Tol) -> f64;
    /// Finishes an accepted step (whatever the next step and the dense
    /// output need beyond the error test).
    fn complete<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t: f64, h: f64);
    /// The continuous extension at `t + θh` (complete on `subset` if given).
    fn dense<R: OdeRhs + ?Sized>(
        &mut self,
        rhs: &R,
        t: f64,
        h: f64,
        y: &[C64],
        theta: f64,
        subset: Option<&[usize]>,
    ) -> &[C64];
    /// A linear functional `f` of the continuous extension at each `θ`
    /// (see [`DenseOutput::functional`]).
    fn dense_functional<R: OdeRhs + ?Sized>(
        &mut self,
        rhs: &R,
        t: f64,
        h: f64,
        y: &[C64],
        thetas: &[f64],
        f: &dyn Fn(&[C64]) -> f64,
    ) -> Vec<f64>;
    /// `y = y_new`; the step's data become the next step's start.
    fn accept(&mut self, y: &mut Vec<C64>);
    /// Calls of [`OdeRhs::eval`] so far.
    fn rhs_evals(&self) -> usize;
}

/// First trial step of HNW II.4 from `d0 = ‖y0‖`, `d1 = ‖f(t0, y0)‖`.
fn first_trial_step(d0: f64, d1: f64, h_max: f64) -> f64 {
    let h0 = if d0 >= 1e-5 && d1 >= 1e-5 { 0.01 * d0 / d1 } else { 1e-6 };
    h0.min(h_max)
}

/// Starting step of HNW II.4 from the trial step `h0`, `d1 = ‖f(t0, y0)‖`
/// and `d2 ≈ ‖f'‖`, the difference quotient of f over the trial step.
fn starting_step(tab: &Tableau, h0: f64, d1: f64, d2: f64, h_max: f64) -> f64 {
    let dmax = d1.max(d2);
    let h1 = if dmax <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / dmax).powf(1.0 / tab.control.q)
    };
    (100.0 * h0).min(h1).min(h_max)
}

/// PI step-size controller (HNW II.4; β-stabilisation HNW Vol. II IV.2).
struct Controller {
    alpha: f64,
    beta: f64,
    safety: f64,
    fac_min: f64,
    fac_max: f64,
    err_old: f64,
}

impl Controller {
    fn new(tab: &Tableau) -> Self {
        let c = &tab.control;
        Controller {
            alpha: 1.0 / c.q - c.beta * c.beta_weight,
            beta: c.beta,
            safety: c.safety,
            fac_min: c.fac_min,
            fac_max: c.fac_max,
            err_old: 1e-4,
        }
    }
    /// Step growth factor after an accepted step with error `err ≤ 1`.
    fn accept_factor(&mut self, err: f64) -> f64 {
        // err = 0 gives +inf, clamped to fac_max.
        let fac = self.safety * err.powf(-self.alpha) * self.err_old.powf(self.beta);
        self.err_old = err.max(1e-4);
        fac.clamp(self.fac_min, self.fac_max)
    }
    /// Shrink factor after a rejected step (`err > 1`): no PI memory.
    fn reject_factor(&self, err: f64) -> f64 {
        (self.safety * err.powf(-self.alpha)).clamp(self.fac_min, 1.0)
    }
}


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
//! * **Memory**: every vector (stages, stage argument, `y_new`, per-chunk
//!   partial sums) is allocated once before the step loop; the loop allocates
//!   nothing. The caller's `y` is the state vector. DOP853's extra dense stages
//!   reuse stages 2–5, whose values no later formula needs, so the workspace is
//!   `m+1` stage vectors + 2 (DOPRI5: 9 vectors besides `y`, DOP853: 15).
//! * **Parallelism**: stage combinations and norms run in chunks of 16 Ki
//!   elements, with rayon (in the caller's pool) for long vectors. Reductions
//!   sum per-chunk partials in order, so runs are bit-reproducible for any
//!   thread count (given a deterministic right-hand side).

mod tableau;
mod vecops;

#[cfg(test)]
mod tests;

use std::ops::ControlFlow;
use std::time::Instant;

use num_complex::Complex64 as C64;
use tableau::{ErrorEstimate, Tableau, MAX_STAGES};
use vecops::Term;

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
}

/// Integration method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Dormand–Prince 5(4), FSAL, 4th-order dense output.
    Dopri5,
    /// Dormand–Prince 8(5,3), 7th-order dense output.
    Dop853,
}

impl Method {
    fn tableau(self) -> &'static Tableau {
        match self {
            Method::Dopri5 => &tableau::DOPRI5,
            Method::Dop853 => &tableau::DOP853,
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
        self.tableau().name
    }
}

/// An adaptive integrator: method plus settings.
#[derive(Clone, Debug, PartialEq)]
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
    /// The observer returned `Break`.
    pub stopped_early: bool,
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
        }
    }

    /// Integrates from `(t0, y)` and reports the state at each of
    /// `save_times` (non-decreasing, all ≥ `t0`) to
    /// `observer(save_index, t, state)`.
    ///
    /// Save times equal to `t0` get the initial state; the others are
    /// interpolated by the dense output, except the last, on which the final
    /// step ends exactly. The observer may return `Break` to stop early (e.g.
    /// on Ctrl-C); the result is then `Ok` with `stopped_early` set.
    ///
    /// On `Ok`, `y` holds the state at the last save time reported (or the
    /// initial state if none was). On `Err`, `y` holds the state at the last
    /// accepted step.
    pub fn integrate<R: OdeRhs + ?Sized>(
        &self,
        rhs: &R,
        t0: f64,
        y: &mut [C64],
        save_times: &[f64],
        mut observer: impl FnMut(usize, f64, &[C64]) -> ControlFlow<()>,
    ) -> Result<Stats, IntegrateError> {
        let start = Instant::now();
        self.validate(rhs, t0, y, save_times)?;
        let tab = self.method.tableau();
        let mut stats = Stats::default();
        let done = |mut stats: Stats, evals: usize, stopped: bool| {
            stats.rhs_evals = evals;
            stats.stopped_early = stopped;
            stats.wall_time_s = start.elapsed().as_secs_f64();
            Ok(stats)
        };

        let mut idx = 0;
        while idx < save_times.len() && save_times[idx] == t0 {
            if observer(idx, t0, y).is_break() {
                return done(stats, 0, true);
            }
            idx += 1;
        }
        let t_end = match save_times.last() {
            Some(&t_end) if idx < save_times.len() => t_end,
            _ => return done(stats, 0, false),
        };

        let mut ws = Workspace::new(tab, y.len());
        // The state lives in a workspace vector so that accepting a step is a
        // swap with y_new rather than a copy; `y` gets it back on every exit.
        let y_out = y;
        let mut cur = y_out.to_vec();
        let y = &mut cur;
        let finish = |y_out: &mut [C64], y: &[C64]| vecops::copy(y_out, y);
        ws.eval_k0(rhs, t0, y);
        let h_max = self.h_max.unwrap_or(t_end - t0);
        let mut h = match self.h0 {
            Some(h0) => h0,
            None => ws.initial_step(tab, rhs, t0, y, self.atol, self.rtol, h_max),
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

            ws.stages(tab, rhs, t, h, y);
            let err = ws.error(tab, y, h, self.atol, self.rtol);
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
            if !tab.error_uses_fsal() {
                ws.eval_fsal(tab, rhs, t, h);
            }
            let t_new = if last { t_end } else { t + h };
            let mut extra_stages_done = false;
            while idx < save_times.len() && save_times[idx] < t_new {
                if !extra_stages_done {
                    ws.dense_stages(tab, rhs, t, h, y);
                    extra_stages_done = true;
                }
                let ts = save_times[idx];
                ws.dense_eval(tab, y, h, (ts - t) / h, self.dense_subset.as_deref());
                if observer(idx, ts, &ws.y_stage).is_break() {
                    finish(y_out, &ws.y_stage);
                    return done(stats, ws.rhs_evals, true);
                }
                idx += 1;
            }
            ws.accept(tab, y);
            t = t_new;
            while idx < save_times.len() && save_times[idx] <= t {
                if observer(idx, save_times[idx], y).is_break() {
                    finish(y_out, y);
                    return done(stats, ws.rhs_evals, true);
                }
                idx += 1;
            }
            if idx == save_times.len() {
                finish(y_out, y);
                return done(stats, ws.rhs_evals, false);
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
/// the final state on return.
pub fn fixed_steps<R: OdeRhs + ?Sized>(
    method: Method,
    rhs: &R,
    t0: f64,
    t1: f64,
    n_steps: usize,
    y: &mut [C64],
) -> Result<Stats, IntegrateError> {
    let start = Instant::now();
    if y.len() != rhs.len() || n_steps == 0 || !(t0.is_finite() && t1.is_finite()) {
        return Err(IntegrateError::InvalidInput(format!(
            "fixed_steps: len {} vs {}, n_steps {n_steps}, t0 {t0}, t1 {t1}",
            y.len(),
            rhs.len()
        )));
    }
    let tab = method.tableau();
    let h = (t1 - t0) / n_steps as f64;
    let mut ws = Workspace::new(tab, y.len());
    ws.eval_k0(rhs, t0, y);
    for i in 0..n_steps {
        let t = t0 + i as f64 * h;
        ws.stages(tab, rhs, t, h, y);
        // Used only as a finiteness check here.
        if !ws.error(tab, y, h, 1.0, 0.0).is_finite() {
            return Err(IntegrateError::NonFinite { t });
        }
        if !tab.error_uses_fsal() {
            ws.eval_fsal(tab, rhs, t, h);
        }
        y.copy_from_slice(&ws.y_new);
        ws.k.swap(ws.slot[0], ws.slot[tab.m]);
    }
    Ok(Stats {
        steps: n_steps,
        rejected: 0,
        rhs_evals: ws.rhs_evals,
        wall_time_s: start.elapsed().as_secs_f64(),
        stopped_early: false,
    })
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

/// All vectors of the step loop, allocated once.
struct Workspace {
    /// Stage derivatives; stage `i` lives in `k[slot[i]]`.
    k: Vec<Vec<C64>>,
    slot: [usize; MAX_STAGES],
    y_new: Vec<C64>,
    /// Stage argument; also the dense-output result.
    y_stage: Vec<C64>,
    /// Per-chunk partial sums of the norms.
    partials: Vec<[f64; 2]>,
    /// `y_stage` holds Σ_{j<m} e_j k_j of the current step (fused with y_new).
    err_partial: bool,
    rhs_evals: usize,
}

/// `out = base + h Σ_j coeffs_j k_{slot_j}` (zero coefficients skipped).
fn combine(
    out: &mut [C64],
    base: &[C64],
    h: f64,
    coeffs: &[f64],
    k: &[Vec<C64>],
    slot: &[usize; MAX_STAGES],
) {
    let mut terms: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
    let mut n = 0;
    for (j, &c) in coeffs.iter().enumerate() {
        if c != 0.0 {
            terms[n] = (h * c, &k[slot[j]]);
            n += 1;
        }
    }
    vecops::lincomb(out, base, &terms[..n]);
}

/// Terms `e_j k_{slot_j}` for an error estimator.
fn err_terms<'a>(
    e: &[f64],
    k: &'a [Vec<C64>],
    slot: &[usize; MAX_STAGES],
    terms: &mut [Term<'a>; MAX_STAGES],
) -> usize {
    let mut n = 0;
    for (j, &c) in e.iter().enumerate() {
        if c != 0.0 {
            terms[n] = (c, &k[slot[j]]);
            n += 1;
        }
    }
    n
}

impl Workspace {
    fn new(tab: &Tableau, n: usize) -> Self {
        let zero = C64::new(0.0, 0.0);
        let m = tab.m;
        let total = tab.total_stages();
        let mut k: Vec<Vec<C64>> = (0..=m).map(|_| vec![zero; n]).collect();
        let mut slot = [0; MAX_STAGES];
        for (i, s) in slot.iter_mut().enumerate().take(m + 1) {
            *s = i;
        }
        // Main stages whose values neither the solution, the dense weights nor
        // the extra stages use after the step can host the extra stages.
        let unused = |j: usize| {
            tab.b.get(j).is_none_or(|&b| b == 0.0)
                && tab.dense.iter().all(|d| d.get(j).is_none_or(|&x| x == 0.0))
                && (m + 1..total).all(|i| tab.row(i).get(j).is_none_or(|&x| x == 0.0))
        };
        let mut free = (1..m).filter(|&j| unused(j));
        for s in slot.iter_mut().take(total).skip(m + 1) {
            *s = free.next().unwrap_or_else(|| {
                k.push(vec![zero; n]);
                k.len() - 1
            });
        }
        Workspace {
            k,
            slot,
            y_new: vec![zero; n],
            y_stage: vec![zero; n],
            partials: vec![[0.0; 2]; vecops::n_chunks(n)],
            err_partial: false,
            rhs_evals: 0,
        }
    }

    fn eval_k0<R: OdeRhs + ?Sized>(&mut self, rhs: &R, t: f64, y: &[C64]) {
        rhs.eval(t, y, &mut self.k[self.slot[0]]);
        self.rhs_evals += 1;
    }

    /// Stages `1..m` and `y_new` (plus the FSAL stage if the error estimate
    /// needs it) of a step `(t, h)` from `y`; `k_0 = f(t, y)` is present.
    fn stages<R: OdeRhs + ?Sized>(&mut self, tab: &Tableau, rhs: &R, t: f64, h: f64, y: &[C64]) {
        for i in 1..tab.m {
            combine(&mut self.y_stage, y, h, tab.row(i), &self.k, &self.slot);
            rhs.eval(t + tab.c[i] * h, &self.y_stage, &mut self.k[self.slot[i]]);
            self.rhs_evals += 1;
        }
        self.err_partial = false;
        match &tab.err {
            // Form y_new and the non-FSAL part of the error, Σ_{j<m} e_j k_j
            // (into y_stage, free now), in one pass over the stages; the error
            // norm then reads 4 vectors instead of m + 2.
            ErrorEstimate::Rms(e) if e.len() > tab.m => {
                let mut terms: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
                let mut terms2: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
                let (mut n, mut n2) = (0, 0);
                for j in 0..tab.m {
                    let v: &[C64] = &self.k[self.slot[j]];
                    let (b, ej) = (tab.b.get(j).copied().unwrap_or(0.0), e[j]);
                    if b != 0.0 {
                        terms[n] = (h * b, v);
                        n += 1;
                    }
                    if ej != 0.0 {
                        terms2[n2] = (ej, v);
                        n2 += 1;
                    }
                }
                vecops::lincomb2(&mut self.y_new, y, &terms[..n], &mut self.y_stage, &terms2[..n2]);
                self.err_partial = true;
            }
            _ => combine(&mut self.y_new, y, h, tab.b, &self.k, &self.slot),
        }
        if tab.error_uses_fsal() {
            self.eval_fsal(tab, rhs, t, h);
        }
    }

    /// FSAL stage `k_m = f(t + h, y_new)`.
    fn eval_fsal<R: OdeRhs + ?Sized>(&mut self, tab: &Tableau, rhs: &R, t: f64, h: f64) {
        rhs.eval(t + h, &self.y_new, &mut self.k[self.slot[tab.m]]);
        self.rhs_evals += 1;
    }

    /// Scaled error norm of the step (≤ 1: accept); NaN if anything is
    /// non-finite.
    fn error(&mut self, tab: &Tableau, y: &[C64], h: f64, atol: f64, rtol: f64) -> f64 {
        let n = y.len().max(1) as f64;
        let mut t0: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
        let mut t1: [Term; MAX_STAGES] = [(0.0, &[]); MAX_STAGES];
        let (e0, e1): (&[f64], &[f64]) = match &tab.err {
            ErrorEstimate::Rms(e) => (e, &[]),
            ErrorEstimate::Dop853 { e5, e3 } => (e5, e3),
        };
        let (n0, n1) = if self.err_partial {
            // Σ_{j<m} e_j k_j is in y_stage (see `stages`); add the FSAL term.
            t0[0] = (1.0, &self.y_stage);
            t0[1] = (e0[tab.m], &self.k[self.slot[tab.m]]);
            (2, 0)
        } else {
            (err_terms(e0, &self.k, &self.slot, &mut t0), err_terms(e1, &self.k, &self.slot, &mut t1))
        };
        let Some([s0, s1]) = vecops::weighted_sq_sums(
            &mut self.partials,
            y,
            &self.y_new,
            atol,
            rtol,
            &t0[..n0],
            &t1[..n1],
        ) else {
            return f64::NAN;
        };
        match tab.err {
            ErrorEstimate::Rms(_) => h.abs() * (s0 / n).sqrt(),
            ErrorEstimate::Dop853 { .. } => {
                let deno = s0 + 0.01 * s1;
                let deno = if deno > 0.0 { deno } else { 1.0 };
                h.abs() * s0 / (n * deno).sqrt()
            }
        }
    }

    /// Initial step (HNW II.4, "Starting step size"); needs `k_0 = f(t0, y0)`
    /// and costs one rhs call. Uses `y_stage` and stage slot 1 as scratch.
    #[allow(clippy::too_many_arguments)]
    fn initial_step<R: OdeRhs + ?Sized>(
        &mut self,
        tab: &Tableau,
        rhs: &R,
        t0: f64,
        y: &[C64],
        atol: f64,
        rtol: f64,
        h_max: f64,
    ) -> f64 {
        let n = y.len().max(1) as f64;
        let (s0, s1) = (self.slot[0], self.slot[1]);
        let [d0, d1] = vecops::weighted_sq_sums(
            &mut self.partials,
            y,
            y,
            atol,
            rtol,
            &[(1.0, y)],
            &[(1.0, &self.k[s0])],
        )
        .map_or([f64::NAN; 2], |s| s.map(|x| (x / n).sqrt()));
        let h0 = if d0 >= 1e-5 && d1 >= 1e-5 {
            0.01 * d0 / d1
        } else {
            1e-6
        };
        let h0 = h0.min(h_max);
        vecops::lincomb(&mut self.y_stage, y, &[(h0, &self.k[s0])]);
        rhs.eval(t0 + h0, &self.y_stage, &mut self.k[s1]);
        self.rhs_evals += 1;
        let d2 = vecops::weighted_sq_sums(
            &mut self.partials,
            y,
            y,
            atol,
            rtol,
            &[(1.0, &self.k[s1]), (-1.0, &self.k[s0])],
            &[],
        )
        .map_or(f64::NAN, |s| (s[0] / n).sqrt() / h0);
        let dmax = d1.max(d2);
        let h1 = if dmax <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / dmax).powf(1.0 / tab.control.q)
        };
        (100.0 * h0).min(h1).min(h_max)
    }

    /// Extra stages of the continuous extension (DOP853), after `k_m`.
    fn dense_stages<R: OdeRhs + ?Sized>(
        &mut self,
        tab: &Tableau,
        rhs: &R,
        t: f64,
        h: f64,
        y: &[C64],
    ) {
        for i in tab.m + 1..tab.total_stages() {
            combine(&mut self.y_stage, y, h, tab.row(i), &self.k, &self.slot);
            rhs.eval(t + tab.c[i] * h, &self.y_stage, &mut self.k[self.slot[i]]);
            self.rhs_evals += 1;
        }
    }

    /// `y_stage = u(t + θh)`, the continuous extension of the step.
    fn dense_eval(&mut self, tab: &Tableau, y: &[C64], h: f64, theta: f64, subset: Option<&[usize]>) {
        let mut w = [0.0; MAX_STAGES];
        tab.dense_weights(theta, &mut w);
        if let Some(idx) = subset {
            let n = tab.total_stages();
            for &i in idx {
                let mut v = y[i];
                for (j, &c) in w[..n].iter().enumerate() {
                    if c != 0.0 {
                        v += self.k[self.slot[j]][i] * (h * c);
                    }
                }
                self.y_stage[i] = v;
            }
            return;
        }
        combine(
            &mut self.y_stage,
            y,
            h,
            &w[..tab.total_stages()],
            &self.k,
            &self.slot,
        );
    }

    /// `y = y_new` (a swap: y_new's old contents are dead); the FSAL stage
    /// becomes the next step's stage 0.
    fn accept(&mut self, tab: &Tableau, y: &mut Vec<C64>) {
        std::mem::swap(y, &mut self.y_new);
        self.k.swap(self.slot[0], self.slot[tab.m]);
    }
}

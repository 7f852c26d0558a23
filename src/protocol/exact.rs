//! The exact engines under a protocol: a linear system `dv/dt = G(p) v`
//! (affine terms through a constant entry of v) solved by matrix
//! exponentials on every constant segment, and by an adaptive DOP853 at
//! tight tolerance ([`RAMP_RTOL`]) during ramps, where G depends on t.
//!
//! Events on a constant segment: the exact solution is sampled at least
//! [`SAMPLES_PER_TIME_SCALE`] times per 1/‖G‖ (the fastest rate of the
//! system) and at every save; a sign change of an event function between two
//! samples is then located by root-finding on the exact solution
//! `v(t) = e^{G(t − t_a)} v(t_a)`. A crossing and re-crossing within one
//! sample interval (shorter than 1/(20‖G‖)) would go unseen.

use super::{Params, Propagator, Reached, Segment, Watch};
use crate::integrate::{DenseOutput, Integrator, Method, OdeRhs, StepWatch};
use crate::linalg::{self, CMat};
use num_complex::Complex64 as C64;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Samples of the exact solution per 1/‖G‖ when events are watched.
pub const SAMPLES_PER_TIME_SCALE: f64 = 20.0;
/// Relative tolerance of the DOP853 integration of a ramp (absolute: this
/// times the largest entry of the state).
pub const RAMP_RTOL: f64 = 1e-13;

/// A linear model `dv/dt = G(p) v` with its observables.
pub trait LinearModel<const N: usize> {
    type P: Params;
    fn generator(&self, p: &Self::P) -> CMat<N>;
    /// Indices of v that are constants (the affine entry) or pure integrals
    /// (the work): excluded from the rate bound ‖G‖.
    fn passive(&self) -> &'static [usize];
    /// The named real observable at state `v`.
    fn observe(&self, p: &Self::P, v: &[C64; N], name: &str) -> f64;
    /// Records a sample: a save, or the state at an event firing (`at_event`).
    fn record(&mut self, p: &Self::P, t: f64, v: &[C64; N], at_event: bool);
}

/// A [`LinearModel`] and its state: the exact engine of a protocol run.
pub struct Exact<M, const N: usize> {
    pub model: M,
    pub v: [C64; N],
    pub stop: Option<Arc<AtomicBool>>,
    /// Time of the last save recorded (a save is recorded once).
    last_recorded: f64,
    /// The propagator of the last sample interval, reused on uniform grids.
    cache: Option<(f64, CMat<N>)>,
}

impl<M: LinearModel<N> + Sync, const N: usize> Exact<M, N> {
    pub fn new(model: M, v0: [C64; N]) -> Self {
        Exact { model, v: v0, stop: None, last_recorded: f64::NAN, cache: None }
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Bound on the rates of G: the largest row sum of |G| over the active entries.
    fn rate(&self, g: &CMat<N>) -> f64 {
        let passive = self.model.passive();
        (0..N)
            .filter(|r| !passive.contains(r))
            .map(|r| (0..N).filter(|c| !passive.contains(c)).map(|c| g[r][c].norm()).sum::<f64>())
            .fold(0.0, f64::max)
    }

    fn propagator(&mut self, g: &CMat<N>, dt: f64) -> CMat<N> {
        if let Some((h, phi)) = &self.cache {
            if (h - dt).abs() <= 1e-15 * dt.abs() {
                return *phi;
            }
        }
        let phi = linalg::expm(&linalg::scale(g, C64::new(dt, 0.0)));
        self.cache = Some((dt, phi));
        phi
    }

    fn record_save(&mut self, p: &M::P, t: f64) {
        if self.last_recorded != t {
            self.model.record(p, t, &self.v, false);
            self.last_recorded = t;
        }
    }

    fn constant(&mut self, p: &M::P, t0: f64, t1: f64, saves: &[f64], watch: &mut Watch) -> Reached {
        let g = self.model.generator(p);
        self.cache = None;
        let names = watch.names().to_vec();
        let h_event = if watch.is_empty() { f64::INFINITY } else { 1.0 / (SAMPLES_PER_TIME_SCALE * self.rate(&g).max(1e-300)) };
        let mut ta = t0;
        // The saves, then t1 unless it is the last save: (end, is a save).
        let ends = saves.iter().map(|&t| (t, true)).chain((saves.last() != Some(&t1)).then_some((t1, false)));
        for (tb, is_save) in ends {
            if tb > ta {
                let n = ((tb - ta) / h_event).ceil().clamp(1.0, 1e12) as usize;
                let hs = (tb - ta) / n as f64;
                let phi = self.propagator(&g, hs);
                for i in 0..n {
                    let (t_i, t_next) = (ta + i as f64 * hs, if i + 1 == n { tb } else { ta + (i + 1) as f64 * hs });
                    if !watch.is_empty() {
                        let v_i = self.v;
                        let model = &self.model;
                        let found = watch.scan(t_i, t_next, &mut |t| {
                            let v = linalg::matvec(&linalg::expm(&linalg::scale(&g, C64::new(t - t_i, 0.0))), &v_i);
                            watch_values(model, p, &v, &names)
                        });
                        if let Some((k, te)) = found {
                            self.v = linalg::matvec(&linalg::expm(&linalg::scale(&g, C64::new(te - t_i, 0.0))), &v_i);
                            return Reached::Event(k, te);
                        }
                    }
                    self.v = linalg::matvec(&phi, &self.v);
                }
            }
            ta = tb;
            if is_save {
                self.record_save(p, tb);
            }
            if self.stopped() && tb < t1 {
                return Reached::Interrupted(tb);
            }
        }
        Reached::End
    }

    fn ramp(&mut self, seg: &Segment<M::P>, t0: f64, t1: f64, saves: &[f64], watch: &mut Watch) -> Result<Reached, String> {
        let rhs = RampRhs { model: &self.model, seg };
        let scale = self.v.iter().map(|z| z.norm()).fold(1.0, f64::max);
        let mut integrator = Integrator::new(Method::Dop853, RAMP_RTOL, RAMP_RTOL * scale);
        integrator.stop = self.stop.clone();
        let mut times: Vec<f64> = saves.to_vec();
        if times.last() != Some(&t1) {
            times.push(t1);
        }
        let mut y = self.v.to_vec();
        let mut kept: Vec<(f64, [C64; N])> = Vec::new();
        let names = watch.names().to_vec();
        let mut hook = RampWatch { model: &self.model, seg, watch, names, found: None };
        let stats = integrator
            .integrate_watched(
                &rhs,
                t0,
                &mut y,
                &times,
                |k, t, state| {
                    if k < saves.len() {
                        kept.push((t, to_array(state)));
                    }
                    ControlFlow::Continue(())
                },
                Some(&mut hook),
            )
            .map_err(|e| e.to_string())?;
        let found = hook.found;
        for (t, v) in kept {
            self.v = v;
            self.record_save(&seg.at(t), t);
        }
        self.v = to_array(&y);
        Ok(match found {
            Some((k, te)) if stats.stopped_early && stats.t_final == te => Reached::Event(k, te),
            _ if stats.stopped_early => Reached::Interrupted(stats.t_final),
            _ => Reached::End,
        })
    }
}

fn to_array<const N: usize>(v: &[C64]) -> [C64; N] {
    let mut a = [C64::new(0.0, 0.0); N];
    a.copy_from_slice(&v[..N]);
    a
}

fn watch_values<M: LinearModel<N>, const N: usize>(model: &M, p: &M::P, v: &[C64; N], names: &[String]) -> Vec<f64> {
    names.iter().map(|n| model.observe(p, v, n)).collect()
}

struct RampRhs<'a, M: LinearModel<N>, const N: usize> {
    model: &'a M,
    seg: &'a Segment<M::P>,
}

impl<M: LinearModel<N> + Sync, const N: usize> OdeRhs for RampRhs<'_, M, N> {
    fn len(&self) -> usize {
        N
    }
    fn eval(&self, t: f64, y: &[C64], dy: &mut [C64]) {
        let g = self.model.generator(&self.seg.at(t));
        for r in 0..N {
            dy[r] = (0..N).map(|c| g[r][c] * y[c]).sum();
        }
    }
}

struct RampWatch<'a, M: LinearModel<N>, const N: usize> {
    model: &'a M,
    seg: &'a Segment<M::P>,
    watch: &'a mut Watch,
    names: Vec<String>,
    found: Option<(usize, f64)>,
}

impl<M: LinearModel<N>, const N: usize> StepWatch for RampWatch<'_, M, N> {
    fn step(&mut self, t: f64, t_new: f64, dense: &mut dyn DenseOutput) -> Option<f64> {
        if self.watch.is_empty() {
            return None;
        }
        let (model, seg, names) = (self.model, self.seg, &self.names);
        let found = self.watch.scan(t, t_new, &mut |tt| {
            let v: [C64; N] = to_array(dense.at(tt));
            watch_values(model, &seg.at(tt), &v, names)
        });
        self.found = found;
        found.map(|(_, te)| te)
    }
}

impl<M: LinearModel<N> + Sync, const N: usize> Propagator for Exact<M, N> {
    type P = M::P;

    fn advance(&mut self, seg: &Segment<M::P>, t0: f64, t1: f64, saves: &[f64], watch: &mut Watch) -> Result<Reached, String> {
        match seg {
            Segment::Constant(p) => Ok(self.constant(p, t0, t1, saves, watch)),
            Segment::Ramp { .. } => self.ramp(seg, t0, t1, saves, watch),
        }
    }

    fn observe(&mut self, p: &M::P, _t: f64, names: &[String]) -> Vec<f64> {
        names.iter().map(|n| self.model.observe(p, &self.v, n)).collect()
    }

    fn record(&mut self, p: &M::P, t: f64, at_event: bool) {
        if at_event {
            self.model.record(p, t, &self.v, true);
        } else {
            self.record_save(p, t);
        }
    }
}

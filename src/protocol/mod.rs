//! Time-dependent protocols: parameter steps and ramps at given times, and
//! events that fire when an observable crosses a threshold (docs/physics.md §11).
//!
//! A [`Protocol`] is physics, not config: its steps and events refer to
//! *changes* by index, and a resolver gives the model parameters after any
//! sequence of applied changes. Every change sets some parameters to fixed
//! values, so a later application of the same change overwrites an earlier
//! one completely: the parameters depend only on the last occurrence of each
//! change, in order ([`canonical`]), and a repeating event cannot grow the
//! history without bound.
//!
//! The [`drive`] loop is shared by every engine. It cuts the run into
//! segments on which the parameters are either constant or a linear ramp
//! between two parameter sets, hands each segment to the engine's
//! [`Propagator`] (which integrates it exactly or with its own stepper,
//! restarting at the segment's start — no step straddles a switching time),
//! and applies steps and fired events between segments. Events are located by
//! root-finding on the engine's continuous solution ([`Watch::scan`]) to
//! [`EVENT_TIME_RTOL`] relative in time; the state at the event is the
//! engine's solution there, and the run continues from it.

pub mod exact;

use std::sync::Arc;

/// Relative tolerance (in time, relative to max(|t|, 1)) to which an event
/// time is located on the engine's continuous solution.
pub const EVENT_TIME_RTOL: f64 = 1e-13;

/// Parameters that can be ramped: a linear interpolation between two sets.
pub trait Params: Clone + Send + Sync {
    /// `(1 − s)·a + s·b` for every continuous parameter (`0 ≤ s ≤ 1`); discrete
    /// ones (cutoffs) are equal in `a` and `b`.
    fn lerp(a: &Self, b: &Self, s: f64) -> Self;
}

/// A step at time `at`: change `change` applied at once (`ramp = 0`) or
/// reached by a linear ramp of the parameters over `[at, at + ramp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: f64,
    pub ramp: f64,
    pub change: usize,
}

/// What a fired event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Applies change `k` at the event time.
    Set(usize),
    /// Ends the run at the event time.
    Stop,
}

/// Fires when `observable` crosses `threshold` upwards (`rising`) or
/// downwards, or at a segment start where it is already past it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub observable: String,
    pub threshold: f64,
    pub rising: bool,
    pub action: Action,
    /// Re-arm after the observable is back on the other side (default: fire once).
    pub repeat: bool,
}

/// The parameters after the listed changes (canonical order, see [`canonical`]).
pub type Resolver<P> = Arc<dyn Fn(&[usize]) -> Result<P, String> + Send + Sync>;

/// Steps (increasing in time, ramps not overlapping the next step) and events.
#[derive(Clone)]
pub struct Protocol<P> {
    pub steps: Vec<Step>,
    pub events: Vec<Event>,
    resolve: Resolver<P>,
}

impl<P> std::fmt::Debug for Protocol<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protocol").field("steps", &self.steps).field("events", &self.events).finish()
    }
}

/// Keeps the last occurrence of every change, in order (see the module doc).
pub fn canonical(applied: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(applied.len());
    for &c in applied {
        out.retain(|&x| x != c);
        out.push(c);
    }
    out
}

impl<P: Params + 'static> Protocol<P> {
    /// No steps, no events: the parameters `p` throughout.
    pub fn constant(p: P) -> Self {
        Protocol { steps: Vec::new(), events: Vec::new(), resolve: Arc::new(move |_| Ok(p.clone())) }
    }

    pub fn new(steps: Vec<Step>, events: Vec<Event>, resolve: Resolver<P>) -> Self {
        Protocol { steps, events, resolve }
    }

    pub fn is_constant(&self) -> bool {
        self.steps.is_empty() && self.events.is_empty()
    }

    /// The parameters after `applied` (in the order applied).
    pub fn params(&self, applied: &[usize]) -> Result<P, String> {
        (self.resolve)(&canonical(applied))
    }

    /// The same protocol for parameters derived from these (e.g. the reduced
    /// point of every microscopic one).
    pub fn map<Q: Params + 'static>(&self, f: impl Fn(P) -> Result<Q, String> + Send + Sync + 'static) -> Protocol<Q> {
        let resolve = self.resolve.clone();
        Protocol {
            steps: self.steps.clone(),
            events: self.events.clone(),
            resolve: Arc::new(move |applied| f(resolve(applied)?)),
        }
    }

    /// Times of the steps and ends of ramps: where the parameters change by
    /// schedule (the engines restart there).
    pub fn switch_times(&self) -> Vec<f64> {
        let mut t: Vec<f64> = self.steps.iter().flat_map(|s| [s.at, s.at + s.ramp]).collect();
        t.sort_by(f64::total_cmp);
        t.dedup();
        t
    }
}

/// The parameters on one segment of a run.
#[derive(Debug, Clone)]
pub enum Segment<P> {
    Constant(P),
    /// `P(t) = lerp(from, to, (t − t0)/duration)`.
    Ramp { from: P, to: P, t0: f64, duration: f64 },
}

impl<P: Params> Segment<P> {
    /// The parameters at time `t` (clamped to the ramp).
    pub fn at(&self, t: f64) -> P {
        match self {
            Segment::Constant(p) => p.clone(),
            Segment::Ramp { from, to, t0, duration } => P::lerp(from, to, ((t - t0) / duration).clamp(0.0, 1.0)),
        }
    }
}

/// How an engine's advance over a segment ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reached {
    /// At the segment's end.
    End,
    /// Event `k` fired at `t` (the engine's state is there).
    Event(usize, f64),
    /// The caller's stop flag (Ctrl-C) took effect at `t`.
    Interrupted(f64),
}

/// An engine under a protocol: integrates segment by segment.
pub trait Propagator {
    type P: Params;
    /// Advances the engine's state from `t0` (where it is) to `t1` with the
    /// parameters of `seg`, recording every save time of `saves` (all in
    /// `(t0, t1]`), and showing its continuous solution to `watch` (which
    /// may end the segment at an event).
    fn advance(&mut self, seg: &Segment<Self::P>, t0: f64, t1: f64, saves: &[f64], watch: &mut Watch) -> Result<Reached, String>;
    /// The watched observables at the current state with parameters `p`
    /// (names as in [`Watch::names`]).
    fn observe(&mut self, p: &Self::P, t: f64, names: &[String]) -> Vec<f64>;
    /// Records the current state at `t`: a save (at `t0`), or the sample of
    /// an event firing (`at_event`, kept apart from the saves so that the
    /// series stay on the save grid).
    fn record(&mut self, p: &Self::P, t: f64, at_event: bool);
}

/// The state of a protocol's events during a run.
#[derive(Debug, Clone)]
pub struct Watch {
    events: Vec<Event>,
    names: Vec<String>,
    armed: Vec<bool>,
    /// g_k = ±(value − threshold) at the current time: an event fires when
    /// its g goes from < 0 to ≥ 0.
    last: Vec<f64>,
}

impl Watch {
    pub fn new(events: &[Event]) -> Self {
        Watch {
            events: events.to_vec(),
            names: events.iter().map(|e| e.observable.clone()).collect(),
            armed: vec![true; events.len()],
            last: vec![f64::NAN; events.len()],
        }
    }

    /// The observable each event watches, by event.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn g(&self, k: usize, value: f64) -> f64 {
        let e = &self.events[k];
        if e.rising {
            value - e.threshold
        } else {
            e.threshold - value
        }
    }

    /// Sets the current values (at a segment start or after an event) and
    /// returns the first armed event that already holds there (it fires now).
    fn reset(&mut self, values: &[f64]) -> Option<usize> {
        for (k, &v) in values.iter().enumerate() {
            self.last[k] = self.g(k, v);
            if !self.armed[k] && self.events[k].repeat && self.last[k] < 0.0 {
                self.armed[k] = true;
            }
        }
        (0..self.events.len()).find(|&k| self.armed[k] && self.last[k] >= 0.0)
    }

    /// Looks at the engine's continuous solution on `[t_a, t_b]` (`values(t)`
    /// gives the watched observables at any t there; at `t_a` they are the
    /// current ones) and returns the earliest event crossing in `(t_a, t_b]`
    /// with its time, found by bracketing root-finding to [`EVENT_TIME_RTOL`]
    /// (the returned time is the bracket's end at which the crossing holds).
    /// Without a crossing the values at `t_b` become the current ones.
    pub fn scan(&mut self, t_a: f64, t_b: f64, values: &mut dyn FnMut(f64) -> Vec<f64>) -> Option<(usize, f64)> {
        if self.events.is_empty() || t_b <= t_a {
            return None;
        }
        let at_b = values(t_b);
        let mut best: Option<(usize, f64)> = None;
        for k in 0..self.events.len() {
            let (ga, gb) = (self.last[k], self.g(k, at_b[k]));
            if !(self.armed[k] && ga < 0.0 && gb >= 0.0) {
                continue;
            }
            let hi = best.map_or(t_b, |(_, t)| t);
            let t = root(|t| self.g(k, values(t)[k]), t_a, t_b, ga, gb);
            if t <= hi && best.is_none_or(|(_, tb)| t < tb) {
                best = Some((k, t));
            }
        }
        if best.is_none() {
            for (k, &v) in at_b.iter().enumerate() {
                self.last[k] = self.g(k, v);
                if !self.armed[k] && self.events[k].repeat && self.last[k] < 0.0 {
                    self.armed[k] = true;
                }
            }
        }
        best
    }

    fn fire(&mut self, k: usize) {
        self.armed[k] = false;
    }
}

/// The first time in `(a, b]` at which `g ≥ 0`, given g(a) = ga < 0 ≤ g(b) = gb:
/// Illinois (modified regula falsi) with bisection safeguards, to
/// [`EVENT_TIME_RTOL`]·max(|b|, 1). Returns the right end of the final bracket.
fn root(mut g: impl FnMut(f64) -> f64, mut a: f64, mut b: f64, mut ga: f64, mut gb: f64) -> f64 {
    let tol = EVENT_TIME_RTOL * b.abs().max(1.0);
    let mut side = 0i8;
    for it in 0..200 {
        if b - a <= tol {
            break;
        }
        // Secant point, clamped inside the bracket; every fourth iteration bisects.
        let mut t = if it % 4 == 3 || !(gb - ga).is_finite() || gb == ga { 0.5 * (a + b) } else { b - gb * (b - a) / (gb - ga) };
        let margin = 0.01 * (b - a);
        if !(t > a + margin.min(tol) && t < b - margin.min(tol)) {
            t = 0.5 * (a + b);
        }
        let gt = g(t);
        if gt.is_nan() {
            // Cannot decide here: shrink towards the side known to cross.
            a = t;
            continue;
        }
        if gt >= 0.0 {
            b = t;
            gb = gt;
            if side == 1 {
                ga *= 0.5;
            }
            side = 1;
        } else {
            a = t;
            ga = gt;
            if side == -1 {
                gb *= 0.5;
            }
            side = -1;
        }
    }
    b
}

/// What a protocol run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// (time, event name), one per firing, in order.
    pub events: Vec<(f64, String)>,
    /// Ended by the stop flag (Ctrl-C) at `t_final`.
    pub interrupted: bool,
    /// Ended by an event with [`Action::Stop`].
    pub stopped_by_event: bool,
    /// Time of the engine's final state.
    pub t_final: f64,
}

/// Runs `engine` (its state at `t0`) under `proto` until `t_end`, recording
/// at `saves` (sorted, within `[t0, t_end]`; a save at `t0` records the
/// initial state). Steps scheduled before `t0` are taken as already applied
/// (a run seeded at `t0 > 0` starts mid-protocol with their parameters).
pub fn drive<E: Propagator>(
    proto: &Protocol<E::P>,
    engine: &mut E,
    t0: f64,
    t_end: f64,
    saves: &[f64],
) -> Result<Outcome, String>
where
    E::P: 'static,
{
    let mut applied: Vec<usize> = Vec::new();
    let mut next = 0;
    let mut ramp: Option<(usize, f64, f64)> = None; // (change, start, duration)
    while next < proto.steps.len() && proto.steps[next].at < t0 {
        let s = &proto.steps[next];
        if s.at + s.ramp > t0 {
            ramp = Some((s.change, s.at, s.ramp));
        } else {
            applied.push(s.change);
        }
        next += 1;
    }
    let segment = |applied: &[usize], ramp: Option<(usize, f64, f64)>| -> Result<Segment<E::P>, String> {
        let from = proto.params(applied)?;
        Ok(match ramp {
            None => Segment::Constant(from),
            Some((c, start, duration)) => {
                let mut with = applied.to_vec();
                with.push(c);
                Segment::Ramp { from, to: proto.params(&with)?, t0: start, duration }
            }
        })
    };
    let mut watch = Watch::new(&proto.events);
    let mut out = Outcome { t_final: t0, ..Default::default() };
    let mut t = t0;
    let mut k_save = 0;
    let mut seg = segment(&applied, ramp)?;
    while k_save < saves.len() && saves[k_save] <= t0 {
        engine.record(&seg.at(t0), t0, false);
        k_save += 1;
    }
    // Events that hold at once (at t0, after a change, after another event)
    // fire at that time, each at most once per visit.
    let settle = |engine: &mut E,
                  watch: &mut Watch,
                  applied: &mut Vec<usize>,
                  seg: &mut Segment<E::P>,
                  ramp: Option<(usize, f64, f64)>,
                  t: f64,
                  out: &mut Outcome|
     -> Result<bool, String> {
        if watch.is_empty() {
            return Ok(false);
        }
        loop {
            let values = engine.observe(&seg.at(t), t, watch.names());
            let Some(k) = watch.reset(&values) else { return Ok(false) };
            watch.fire(k);
            out.events.push((t, proto.events[k].name.clone()));
            engine.record(&seg.at(t), t, true);
            match proto.events[k].action {
                Action::Stop => return Ok(true),
                Action::Set(c) => {
                    applied.push(c);
                    *seg = segment(applied, ramp)?;
                }
            }
        }
    };
    if settle(engine, &mut watch, &mut applied, &mut seg, ramp, t, &mut out)? {
        out.stopped_by_event = true;
        return Ok(out);
    }
    while t < t_end {
        let step_at = proto.steps.get(next).map_or(f64::INFINITY, |s| s.at);
        let ramp_end = ramp.map_or(f64::INFINITY, |(_, s, d)| s + d);
        let t1 = step_at.min(ramp_end).min(t_end);
        let first = k_save;
        while k_save < saves.len() && saves[k_save] <= t1 {
            k_save += 1;
        }
        let reached = if t1 > t { engine.advance(&seg, t, t1, &saves[first..k_save], &mut watch)? } else { Reached::End };
        match reached {
            Reached::End => {
                t = t1;
                if ramp.is_some_and(|(_, s, d)| s + d <= t) {
                    let (c, _, _) = ramp.take().expect("ramp in progress");
                    applied.push(c);
                }
                while proto.steps.get(next).is_some_and(|s| s.at <= t) {
                    let s = &proto.steps[next];
                    if s.ramp > 0.0 {
                        ramp = Some((s.change, s.at, s.ramp));
                    } else {
                        applied.push(s.change);
                    }
                    next += 1;
                }
            }
            Reached::Event(k, te) => {
                // Saves after te were not reached: record them in the next advance.
                k_save = first + saves[first..k_save].partition_point(|&s| s <= te);
                t = te;
                watch.fire(k);
                out.events.push((te, proto.events[k].name.clone()));
                engine.record(&seg.at(te), te, true);
                match proto.events[k].action {
                    Action::Stop => {
                        out.stopped_by_event = true;
                        out.t_final = te;
                        return Ok(out);
                    }
                    Action::Set(c) => applied.push(c),
                }
            }
            Reached::Interrupted(ts) => {
                out.interrupted = true;
                out.t_final = ts;
                return Ok(out);
            }
        }
        seg = segment(&applied, ramp)?;
        out.t_final = t;
        if settle(engine, &mut watch, &mut applied, &mut seg, ramp, t, &mut out)? {
            out.stopped_by_event = true;
            return Ok(out);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

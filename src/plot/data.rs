//! Record → typed figure data. Each extractor reads the paths documented in
//! `docs/output.md`; an absent group means "this figure does not apply", a
//! present one with the wrong shape is reported as [`PlotError::Invalid`]
//! (files can come from other versions or be edited by hand).
//! One thing is computed rather than read: the phase boundary drawn over a
//! validity map, from the reduced model of [`crate::reduced`] (the file holds
//! the validation, not the spectrum).

use crate::engines::Engine;
use crate::model::ReducedParams;
use crate::reduced::phase_diagram::{PhaseDiagram, PhaseGrid};
use crate::reduced::Spectrum;
use super::geometry::cell_edges;
use super::PlotError;
use crate::output::record::{Data, Item, Key, Record};
use num_complex::Complex64 as C64;

/// The time traces of every engine group of a run (`/master`, `/moments`, `/reduced`).
#[derive(Debug, Clone, PartialEq)]
pub struct Traces {
    pub engines: Vec<EngineTrace>,
    /// True when the only clock is the reduced time τ = g t (a `[reduced]` run).
    pub reduced_time: bool,
    /// The reduced point and its phase, from the attributes of `/reduced`.
    pub point: Option<ReducedPoint>,
    /// The `[model]` parameters (attributes of `/master` or `/moments`).
    pub model: Option<ModelParams>,
    /// The steps of a time-dependent protocol (`/protocol`), on the clock of
    /// these traces; empty without one (or when the traces are on another clock).
    pub protocol: Vec<ProtocolStep>,
}

/// One step of a time-dependent protocol: `/protocol/step_times[k]`,
/// `step_ramps[k]` and `step_labels[k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolStep {
    /// When the step starts, in the unit of the engines' `t`.
    pub t: f64,
    /// Its ramp duration (0: sudden; a negative or non-finite ramp reads as 0).
    pub ramp: f64,
    /// What it sets, as written (`model.delta=[1.2, -1.2, 0.0]`); may be empty.
    pub label: String,
}

/// An event an engine fired: `/<engine>/event_times[k]`, `event_names[k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub t: f64,
    /// May be empty (a file without `event_names`).
    pub name: String,
}

/// The three-mode model of a `[model]` run, from the attributes of `/master`
/// (or `/moments`); each field only if present.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelParams {
    pub cutoffs: Option<Vec<f64>>,
    pub kappa: Option<Vec<f64>>,
    pub gamma: Option<f64>,
    pub drive: Option<f64>,
    pub delta: Option<Vec<f64>>,
    pub n_th: Option<Vec<f64>>,
}

/// Whether the file holds a partial result: `/@interrupted = 1` or
/// `/master/@interrupted = 1`, and the time reached if known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interrupted {
    pub t_final: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EngineTrace {
    /// Group name without the slash: "master", "moments", "reduced".
    pub engine: String,
    pub t: Vec<f64>,
    pub energy: Vec<f64>,
    pub power: Vec<f64>,
    /// The events this engine fired, in file order (empty if none or absent).
    pub events: Vec<Event>,
}

/// `/reduced/@…`: the point, its phase and whether it is realizable.
#[derive(Debug, Clone, PartialEq)]
pub struct ReducedPoint {
    pub gamma_a: f64,
    pub gamma_b: f64,
    pub delta_ra: f64,
    pub delta_rb: f64,
    pub phase: String,
    pub realizable: Option<bool>,
}

/// `/phase` as a 2-D map over (δ_r, α).
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseMap {
    pub gamma_b: Option<f64>,
    pub delta_r: Vec<f64>,
    pub alpha: Vec<f64>,
    /// Re[−iλ₊], row-major `[n_alpha, n_delta]`.
    pub growth: Vec<f64>,
    /// `/phase/realizable`, same layout, if present.
    pub realizable: Option<Vec<u8>>,
    /// Exceptional points (δ_r, α).
    pub eps: Vec<(f64, f64)>,
    /// Positions (δ_r, α) of the marker traces, if any.
    pub markers: Vec<(f64, f64)>,
}

/// `/phase/markers`: E_B(τ), P_B(τ) at a few points of the diagram.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerTraces {
    pub gamma_b: Option<f64>,
    pub tau: Vec<f64>,
    pub markers: Vec<MarkerTrace>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MarkerTrace {
    pub delta_r: f64,
    pub alpha: f64,
    pub phase: Option<String>,
    pub realizable: Option<bool>,
    pub energy: Vec<f64>,
    pub power: Vec<f64>,
}

/// λ± over δ_r for a few rows of α.
#[derive(Debug, Clone, PartialEq)]
pub struct Eigen {
    pub gamma_b: f64,
    pub delta_r: Vec<f64>,
    pub rows: Vec<EigenRow>,
    /// Exceptional points (δ_r, α) lying on one of the rows.
    pub eps: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EigenRow {
    pub alpha: f64,
    pub plus: Vec<C64>,
    pub minus: Vec<C64>,
}

/// Critical time along δ_r (Fig. 6).
#[derive(Debug, Clone, PartialEq)]
pub struct TCrit {
    pub gamma_b: Option<f64>,
    pub e_max: Option<f64>,
    pub alpha: f64,
    pub delta_r: Vec<f64>,
    pub exact: Vec<f64>,
    pub eq33: Vec<f64>,
    /// Re[−iλ₊] on the same line, to shade the stable (unbroken) region.
    pub growth: Option<Vec<f64>>,
}

/// `/validation`.
#[derive(Debug, Clone, PartialEq)]
pub enum Validation {
    Errors {
        point: String,
        verdict: Option<String>,
        ratio: Vec<f64>,
        err_moments_reduced: Vec<f64>,
        err_master_moments: Option<Vec<f64>>,
        slope: Option<f64>,
    },
    /// Nothing was run (the point is not realizable): the verdict in words.
    Verdict { point: String, verdict: String },
}

/// One named curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

/// A scalar over a 1-axis (or zip) sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepLine {
    pub x_key: String,
    pub y_name: String,
    pub series: Vec<Series>,
}

/// A scalar over a 2-axis grid sweep, row-major `[ny, nx]`; missing points are NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepMap {
    pub x_key: String,
    pub y_key: String,
    pub z_name: String,
    /// The group the scalar comes from ("reduced", "master", …).
    pub group: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub z: Vec<f64>,
}

/// A validity map: a `/validation` scalar of a `qbsim validate` sweep over a
/// 2-axis grid (by default `r_needed`), with what the figure overlays on it.
/// Grids are row-major `[ny, nx]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidityMap {
    pub x_key: String,
    pub y_key: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// The quantity: `r_needed`, or the `--y` name of another `/validation` scalar.
    pub z_name: String,
    /// Its values (`r_needed` may be +inf); NaN where the file has no point.
    pub z: Vec<f64>,
    /// Where `/validation/realizable` is 0 (nothing was run there).
    pub unrealizable: Vec<bool>,
    /// `/validation/target`, when the same at every point: the relative
    /// reduction error `r_needed` refers to.
    pub target: Option<f64>,
    /// γ_b, when the same at every point.
    pub gamma_b: Option<f64>,
    /// Whether δ_ra = −δ_rb at every point (the paper's symmetric detuning).
    pub symmetric: bool,
    /// The reduced model's growth rate, whose zero contour is its phase boundary.
    pub growth: Option<GrowthGrid>,
    /// Exceptional points (x, y) within the map (the (δ_r, α) plane only).
    pub eps: Vec<(f64, f64)>,
}

/// Re[−iλ₊] (units of g) on a grid, row-major `[y.len(), x.len()]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthGrid {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub z: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FigureData {
    Traces(Traces),
    Markers(MarkerTraces),
    Phase(PhaseMap),
    Eigen(Eigen),
    TCrit(TCrit),
    Validation(Validation),
    SweepLine(SweepLine),
    SweepMap(SweepMap),
    ValidityMap(ValidityMap),
}

/// A figure and the suffix of its file name.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: String,
    pub data: FigureData,
}

/// `--x` / `--y` of `qbsim plot`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub x: Option<String>,
    pub y: Option<String>,
}

/// A dataset's shape and its values as f64.
type Shaped = (Vec<usize>, Vec<f64>);

/// Read access to a record by group and name, with numeric conversion.
struct View<'a>(&'a Record);

fn as_f64(d: &Data) -> Option<Vec<f64>> {
    match d {
        Data::F64(v) => Some(v.clone()),
        Data::U8(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
        Data::I8(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
        Data::I64(v) => Some(v.iter().map(|&x| x as f64).collect()),
        Data::C64(_) | Data::Str(_) => None,
    }
}

impl<'a> View<'a> {
    fn item(&self, group: &str, name: &str, attribute: bool) -> Option<&'a Item> {
        self.0.items.get(&Key { group: group.into(), name: name.into(), attribute })
    }

    fn has_group(&self, group: &str) -> bool {
        let prefix = format!("{group}/");
        self.0.items.keys().any(|k| k.group == group || k.group.starts_with(&prefix))
    }

    fn dataset(&self, group: &str, name: &str) -> Option<&'a Item> {
        self.item(group, name, false)
    }

    /// A real dataset with its shape, if present; an error if present but not numeric.
    fn f64s(&self, group: &str, name: &str) -> Result<Option<Shaped>, PlotError> {
        match self.dataset(group, name) {
            None => Ok(None),
            Some(it) => match as_f64(&it.data) {
                Some(v) => Ok(Some((it.shape.clone(), v))),
                None => Err(PlotError::Invalid(format!("{group}/{name} is not a real-valued dataset"))),
            },
        }
    }

    /// A required 1-D real dataset (of `len` elements if given).
    fn vec(&self, group: &str, name: &str, len: Option<usize>) -> Result<Vec<f64>, PlotError> {
        let (shape, v) = self.f64s(group, name)?.ok_or_else(|| PlotError::Invalid(format!("{group}/{name} is missing")))?;
        if shape.len() != 1 || len.is_some_and(|n| n != v.len()) {
            return Err(PlotError::Invalid(format!(
                "{group}/{name} has shape {shape:?}, expected [{}]",
                len.map_or("n".to_string(), |n| n.to_string())
            )));
        }
        Ok(v)
    }

    /// A required real dataset of exactly this shape.
    fn shaped(&self, group: &str, name: &str, want: &[usize]) -> Result<Vec<f64>, PlotError> {
        let (shape, v) = self.f64s(group, name)?.ok_or_else(|| PlotError::Invalid(format!("{group}/{name} is missing")))?;
        if shape != want {
            return Err(PlotError::Invalid(format!("{group}/{name} has shape {shape:?}, expected {want:?}")));
        }
        Ok(v)
    }

    fn complex(&self, group: &str, name: &str, want: &[usize]) -> Result<Vec<C64>, PlotError> {
        match self.dataset(group, name) {
            Some(Item { shape, data: Data::C64(v) }) if shape == want => Ok(v.clone()),
            Some(it) => Err(PlotError::Invalid(format!(
                "{group}/{name} has shape {:?} (complex expected, shape {want:?})",
                it.shape
            ))),
            None => Err(PlotError::Invalid(format!("{group}/{name} is missing"))),
        }
    }

    /// An optional list: a 1-D dataset (an empty one of any shape is an empty
    /// list), of as many elements as the dataset `like` (name, length) if
    /// given; an error if present but malformed.
    fn list<T>(&self, group: &str, name: &str, like: Option<(&str, usize)>, what: &str, get: impl Fn(&Data) -> Option<Vec<T>>) -> Result<Option<Vec<T>>, PlotError> {
        let Some(it) = self.dataset(group, name) else { return Ok(None) };
        let v = get(&it.data).ok_or_else(|| PlotError::Invalid(format!("{group}/{name} is not a {what} dataset")))?;
        if !(it.shape.len() == 1 || v.is_empty()) {
            return Err(PlotError::Invalid(format!("{group}/{name} has shape {:?}, expected a list (1-D)", it.shape)));
        }
        if let Some((other, n)) = like.filter(|&(_, n)| n != v.len()) {
            return Err(PlotError::Invalid(format!("{group}/{name} has {} elements, {group}/{other} {n}: expected one per element", v.len())));
        }
        Ok(Some(v))
    }

    fn list_f64(&self, group: &str, name: &str, like: Option<(&str, usize)>) -> Result<Option<Vec<f64>>, PlotError> {
        self.list(group, name, like, "real-valued", as_f64)
    }

    fn list_str(&self, group: &str, name: &str, like: Option<(&str, usize)>) -> Result<Option<Vec<String>>, PlotError> {
        self.list(group, name, like, "string", |d| match d {
            Data::Str(v) => Some(v.clone()),
            _ => None,
        })
    }

    fn attr_f64(&self, group: &str, name: &str) -> Option<f64> {
        self.item(group, name, true).and_then(|it| as_f64(&it.data)).and_then(|v| v.first().copied())
    }

    fn attr_f64s(&self, group: &str, name: &str) -> Option<Vec<f64>> {
        self.item(group, name, true).and_then(|it| as_f64(&it.data))
    }

    fn attr_str(&self, group: &str, name: &str) -> Option<String> {
        match self.item(group, name, true) {
            Some(Item { data: Data::Str(v), .. }) => v.first().cloned(),
            _ => None,
        }
    }

    /// Phases by name, from strings (older files) or from the int8 codes of
    /// `phase_codes` (−1 unbroken, 0 marginal, 1 broken, 2 exceptional point).
    fn phases(&self, group: &str, name: &str, attribute: bool) -> Option<Vec<String>> {
        match self.item(group, name, attribute).map(|it| &it.data) {
            Some(Data::Str(v)) => Some(v.clone()),
            Some(d) => as_f64(d).map(|codes| codes.into_iter().map(phase_name).collect()),
            None => None,
        }
    }

    fn attr_strings(&self, group: &str, name: &str) -> Option<Vec<String>> {
        match self.item(group, name, true) {
            Some(Item { data: Data::Str(v), .. }) => Some(v.clone()),
            _ => None,
        }
    }
}

/// The name of a phase code (`/reduced/@phase_codes`).
pub fn phase_name(code: f64) -> String {
    match code as i64 {
        -1 => "unbroken".into(),
        0 => "marginal".into(),
        1 => "broken".into(),
        2 => "exceptional_point".into(),
        _ => format!("code {code}"),
    }
}

/// Every figure the record supports, in a fixed order.
pub fn extract(rec: &Record, sel: &Selection) -> Result<Vec<Named>, PlotError> {
    let v = View(rec);
    if v.has_group("/sweep") {
        return sweep(&v, sel);
    }
    if sel.x.is_some() || sel.y.is_some() {
        return Err(PlotError::Selection(
            "--x and --y choose the axis and the quantity of a sweep file; this file is not a sweep (it has no /sweep group)".into(),
        ));
    }
    let mut out = Vec::new();
    let mut push = |name: &str, data: FigureData| out.push(Named { name: name.into(), data });
    for (name, t) in traces(&v)? {
        push(name, FigureData::Traces(t));
    }
    if v.has_group("/phase") {
        if let Some(m) = markers(&v)? {
            push("markers", FigureData::Markers(m));
        }
        let map = phase_map(&v)?;
        if map.alpha.len() >= 2 && map.delta_r.len() >= 2 {
            push("phase", FigureData::Phase(map.clone()));
        }
        if let Some(e) = eigen(&v, &map)? {
            push("eigenvalues", FigureData::Eigen(e));
        }
        if let Some(t) = tcrit(&v, &map)? {
            push("tcrit", FigureData::TCrit(t));
        }
    }
    if let Some(val) = validation(&v)? {
        push("validation", FigureData::Validation(val));
    }
    if out.is_empty() {
        let groups: Vec<String> = {
            let mut g: Vec<String> = rec.items.keys().map(|k| k.group.clone()).collect();
            g.dedup();
            g
        };
        return Err(PlotError::Nothing {
            path: Default::default(),
            reason: format!(
                "none of /reduced, /moments, /master, /phase, /validation or /sweep is in it (groups: {})",
                groups.join(", ")
            ),
        });
    }
    Ok(out)
}

/// The time traces: one figure of every engine that shares a clock. A
/// `/reduced` group overlays `/master` and `/moments` only when it was mapped
/// from the same `[model]` (the file then has `/map`, and `/reduced/t` is in
/// the config's time unit); a `/reduced` of its own `[reduced]` config lives on
/// the clock τ = g t and gets a figure of its own (`traces_reduced`).
fn traces(v: &View) -> Result<Vec<(&'static str, Traces)>, PlotError> {
    let mut engines = Vec::new();
    for engine in Engine::ALL.map(Engine::name) {
        let g = format!("/{engine}");
        if v.dataset(&g, "energy_b").is_none() {
            continue;
        }
        let t = v.vec(&g, "t", None)?;
        let energy = v.vec(&g, "energy_b", Some(t.len()))?;
        let power = match v.dataset(&g, "power_b") {
            Some(_) => v.vec(&g, "power_b", Some(t.len()))?,
            None => vec![f64::NAN; t.len()],
        };
        let events = events(v, &g)?;
        engines.push(EngineTrace { engine: engine.into(), t, energy, power, events });
    }
    if engines.is_empty() {
        return Ok(Vec::new());
    }
    let point = v.phases("/reduced", "phase", true).and_then(|p| p.into_iter().next()).map(|phase| ReducedPoint {
        gamma_a: v.attr_f64("/reduced", "gamma_a").unwrap_or(f64::NAN),
        gamma_b: v.attr_f64("/reduced", "gamma_b").unwrap_or(f64::NAN),
        delta_ra: v.attr_f64("/reduced", "delta_ra").unwrap_or(f64::NAN),
        delta_rb: v.attr_f64("/reduced", "delta_rb").unwrap_or(f64::NAN),
        phase,
        realizable: v.attr_f64("/reduced", "realizable").map(|r| r != 0.0),
    });
    let model_group = ["/master", "/moments"].into_iter().find(|g| v.dataset(g, "energy_b").is_some());
    let model = model_group.map(|g| ModelParams {
        cutoffs: v.attr_f64s(g, "cutoffs"),
        kappa: v.attr_f64s(g, "kappa"),
        gamma: v.attr_f64(g, "gamma"),
        drive: v.attr_f64(g, "drive"),
        delta: v.attr_f64s(g, "delta"),
        n_th: v.attr_f64s(g, "n_th"),
    });
    let mapped = v.has_group("/map");
    let protocol = protocol(v)?;
    let (micro, reduced): (Vec<EngineTrace>, Vec<EngineTrace>) = engines.into_iter().partition(|e| e.engine != "reduced");
    let mut out = Vec::new();
    // The protocol's times are those of the config's clock: every figure
    // but the τ figure of a /reduced beside an unrelated [model].
    if micro.is_empty() {
        // Only /reduced: its own clock, unless it was mapped from a [model].
        out.push(("traces", Traces { engines: reduced, reduced_time: !mapped, point, model: None, protocol }));
    } else if mapped || reduced.is_empty() {
        let mut all = micro;
        all.extend(reduced);
        out.push(("traces", Traces { engines: all, reduced_time: false, point: if mapped { point } else { None }, model, protocol }));
    } else {
        out.push(("traces", Traces { engines: micro, reduced_time: false, point: None, model, protocol }));
        out.push(("traces_reduced", Traces { engines: reduced, reduced_time: true, point, model: None, protocol: Vec::new() }));
    }
    Ok(out)
}

/// `/protocol`: its steps in file order (none without `step_times`).
/// `step_ramps` and `step_labels` are optional; when present they must have
/// one element per step. Non-finite times are kept (the layout skips them).
fn protocol(v: &View) -> Result<Vec<ProtocolStep>, PlotError> {
    let g = "/protocol";
    let Some(times) = v.list_f64(g, "step_times", None)? else { return Ok(Vec::new()) };
    let n = times.len();
    let ramps = v.list_f64(g, "step_ramps", Some(("step_times", n)))?.unwrap_or_else(|| vec![0.0; n]);
    let labels = v.list_str(g, "step_labels", Some(("step_times", n)))?.unwrap_or_else(|| vec![String::new(); n]);
    Ok(times
        .into_iter()
        .zip(ramps)
        .zip(labels)
        .map(|((t, ramp), label)| ProtocolStep { t, ramp: if ramp.is_finite() && ramp > 0.0 { ramp } else { 0.0 }, label })
        .collect())
}

/// The events of an engine group: `event_times` (possibly empty) and, if
/// present, `event_names` of the same length.
fn events(v: &View, g: &str) -> Result<Vec<Event>, PlotError> {
    let Some(times) = v.list_f64(g, "event_times", None)? else { return Ok(Vec::new()) };
    let names = v.list_str(g, "event_names", Some(("event_times", times.len())))?.unwrap_or_else(|| vec![String::new(); times.len()]);
    Ok(times.into_iter().zip(names).map(|(t, name)| Event { t, name }).collect())
}

/// Whether the record is an interrupted (partial) result.
pub fn interrupted(rec: &Record) -> Option<Interrupted> {
    let v = View(rec);
    let flag = |g: &str| v.attr_f64(g, "interrupted").is_some_and(|x| x != 0.0);
    if !(flag("/") || flag("/master")) {
        return None;
    }
    let t_final = v.attr_f64("/master", "t_final").or_else(|| v.f64s("/master", "t").ok().flatten().and_then(|(_, t)| t.last().copied()));
    Some(Interrupted { t_final: t_final.filter(|t| t.is_finite()) })
}

fn phase_map(v: &View) -> Result<PhaseMap, PlotError> {
    let g = "/phase";
    let delta_r = v.vec(g, "delta_r", None)?;
    let alpha = v.vec(g, "alpha", None)?;
    let dims = [alpha.len(), delta_r.len()];
    let growth = v.shaped(g, "growth_rate", &dims)?;
    let realizable = match v.dataset(g, "realizable") {
        Some(_) => Some(v.shaped(g, "realizable", &dims)?.iter().map(|&r| u8::from(r != 0.0)).collect()),
        None => None,
    };
    let eps = match (v.dataset(g, "ep_delta_r"), v.dataset(g, "ep_alpha")) {
        (Some(_), Some(_)) => {
            let d = v.vec(g, "ep_delta_r", None)?;
            let a = v.vec(g, "ep_alpha", Some(d.len()))?;
            d.into_iter().zip(a).collect()
        }
        _ => Vec::new(),
    };
    let markers = match (v.dataset("/phase/markers", "delta_r"), v.dataset("/phase/markers", "alpha")) {
        (Some(_), Some(_)) => {
            let d = v.vec("/phase/markers", "delta_r", None)?;
            let a = v.vec("/phase/markers", "alpha", Some(d.len()))?;
            d.into_iter().zip(a).collect()
        }
        _ => Vec::new(),
    };
    Ok(PhaseMap { gamma_b: v.attr_f64(g, "gamma_b"), delta_r, alpha, growth, realizable, eps, markers })
}

fn markers(v: &View) -> Result<Option<MarkerTraces>, PlotError> {
    let g = "/phase/markers";
    if v.dataset(g, "energy_b").is_none() {
        return Ok(None);
    }
    let tau = v.vec(g, "tau", None)?;
    let delta_r = v.vec(g, "delta_r", None)?;
    let alpha = v.vec(g, "alpha", Some(delta_r.len()))?;
    let dims = [delta_r.len(), tau.len()];
    let energy = v.shaped(g, "energy_b", &dims)?;
    let power = match v.dataset(g, "power_b") {
        Some(_) => v.shaped(g, "power_b", &dims)?,
        None => vec![f64::NAN; energy.len()],
    };
    let phases = v.phases(g, "phase", false).filter(|p| p.len() == delta_r.len());
    let realizable = match v.dataset(g, "realizable") {
        Some(_) => Some(v.vec(g, "realizable", Some(delta_r.len()))?),
        None => None,
    };
    let n = tau.len();
    let markers = (0..delta_r.len())
        .map(|i| MarkerTrace {
            delta_r: delta_r[i],
            alpha: alpha[i],
            phase: phases.as_ref().map(|p| p[i].clone()),
            realizable: realizable.as_ref().map(|r| r[i] != 0.0),
            energy: energy[i * n..(i + 1) * n].to_vec(),
            power: power[i * n..(i + 1) * n].to_vec(),
        })
        .collect();
    Ok(Some(MarkerTraces { gamma_b: v.attr_f64("/phase", "gamma_b"), tau, markers }))
}

/// The α rows drawn in the eigenvalue figure: the one closest to 0 (paper
/// Fig. 2) and, for a 2-D diagram, four more spread over the α range (Fig. 5).
pub fn eigen_rows(alpha: &[f64]) -> Vec<usize> {
    let closest = |target: f64| {
        alpha
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_finite())
            .min_by(|(_, a), (_, b)| (*a - target).abs().total_cmp(&(*b - target).abs()))
            .map(|(i, _)| i)
    };
    let mut rows: Vec<usize> = closest(0.0).into_iter().collect();
    if alpha.len() > 1 {
        let (lo, hi) = (alpha[0], alpha[alpha.len() - 1]);
        for k in 0..5 {
            if let Some(i) = closest(lo + (hi - lo) * k as f64 / 4.0) {
                rows.push(i);
            }
        }
    }
    rows.sort_unstable();
    rows.dedup();
    rows
}

fn eigen(v: &View, map: &PhaseMap) -> Result<Option<Eigen>, PlotError> {
    let g = "/phase";
    if v.dataset(g, "lambda_plus").is_none() || v.dataset(g, "lambda_minus").is_none() {
        return Ok(None);
    }
    let (na, nd) = (map.alpha.len(), map.delta_r.len());
    let plus = v.complex(g, "lambda_plus", &[na, nd])?;
    let minus = v.complex(g, "lambda_minus", &[na, nd])?;
    let gamma_b = map.gamma_b.ok_or_else(|| PlotError::Invalid("/phase/@gamma_b is missing".into()))?;
    let rows: Vec<EigenRow> = eigen_rows(&map.alpha)
        .into_iter()
        .map(|i| EigenRow {
            alpha: map.alpha[i],
            plus: plus[i * nd..(i + 1) * nd].to_vec(),
            minus: minus[i * nd..(i + 1) * nd].to_vec(),
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let tol = 1e-9 + step(&map.alpha) / 2.0;
    let eps = map.eps.iter().copied().filter(|&(_, a)| rows.iter().any(|r| (r.alpha - a).abs() <= tol)).collect();
    Ok(Some(Eigen { gamma_b, delta_r: map.delta_r.clone(), rows, eps }))
}

/// The smallest spacing of an axis (0 for fewer than two values).
fn step(axis: &[f64]) -> f64 {
    let s = axis.windows(2).map(|w| (w[1] - w[0]).abs()).fold(f64::INFINITY, f64::min);
    if s.is_finite() {
        s
    } else {
        0.0
    }
}

fn tcrit(v: &View, map: &PhaseMap) -> Result<Option<TCrit>, PlotError> {
    let g = "/phase";
    if v.dataset(g, "t_crit_exact").is_none() {
        return Ok(None);
    }
    let nd = map.delta_r.len();
    let exact = v.vec(g, "t_crit_exact", Some(nd))?;
    let eq33 = match v.dataset(g, "t_crit_eq33") {
        Some(_) => v.vec(g, "t_crit_eq33", Some(nd))?,
        None => vec![f64::NAN; nd],
    };
    let alpha = v.attr_f64(g, "t_crit_alpha").unwrap_or(0.0);
    let row = (0..map.alpha.len()).min_by(|&i, &j| (map.alpha[i] - alpha).abs().total_cmp(&(map.alpha[j] - alpha).abs()));
    let growth = row
        .filter(|&i| (map.alpha[i] - alpha).abs() <= 1e-9 + step(&map.alpha) / 2.0)
        .map(|i| map.growth[i * nd..(i + 1) * nd].to_vec());
    Ok(Some(TCrit { gamma_b: map.gamma_b, e_max: v.attr_f64(g, "e_max"), alpha, delta_r: map.delta_r.clone(), exact, eq33, growth }))
}

fn validation(v: &View) -> Result<Option<Validation>, PlotError> {
    let g = "/validation";
    if !v.has_group(g) {
        return Ok(None);
    }
    let a = |n: &str| v.attr_f64(g, n).unwrap_or(f64::NAN);
    let point = format!(
        "γ_a = {}, γ_b = {}, δ_{{ra}} = {}, δ_{{rb}} = {}",
        num(a("gamma_a")),
        num(a("gamma_b")),
        num(a("delta_ra")),
        num(a("delta_rb"))
    );
    let verdict = v.attr_str(g, "verdict");
    if v.attr_f64(g, "realizable") == Some(0.0) || v.dataset(g, "ratio").is_none() {
        let verdict = verdict.unwrap_or_else(|| "not realizable: nothing was run".into());
        return Ok(Some(Validation::Verdict { point, verdict }));
    }
    let ratio = v.vec(g, "ratio", None)?;
    let err_moments_reduced = v.vec(g, "err_moments_reduced", Some(ratio.len()))?;
    let err_master_moments = match v.dataset(g, "err_master_moments") {
        Some(_) => Some(v.vec(g, "err_master_moments", Some(ratio.len()))?),
        None => None,
    };
    Ok(Some(Validation::Errors { point, verdict, ratio, err_moments_reduced, err_master_moments, slope: v.attr_f64(g, "slope") }))
}

/// A number as people write it, as figure markup: up to 4 significant
/// digits, no trailing zeros, scientific (`1.5×10^{−5}`) outside 1e-3 ..= 1e5,
/// and a true minus sign.
pub fn num(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return if x == 0.0 { "0".into() } else { format!("{x}") };
    }
    let a = x.abs();
    if !(1e-3..1e5).contains(&a) {
        return sci(x);
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    s.replace('-', "−")
}

/// Scientific notation with up to 4 significant digits, as figure markup
/// with a true superscript: `2.5×10^{−4}` (a mantissa of 1 is dropped: `10^{5}`).
pub fn sci(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return num(x);
    }
    let s = format!("{x:.3e}");
    let s = match s.split_once('e') {
        Some((m, e)) => {
            let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
            match m {
                "1" => format!("10^{{{e}}}"),
                "-1" => format!("-10^{{{e}}}"),
                _ => format!("{m}×10^{{{e}}}"),
            }
        }
        None => s,
    };
    s.replace('-', "−")
}

// ---------------------------------------------------------------- sweeps

/// A scalar per sweep point: `(group without slash, values)`.
type Scalar = (String, Vec<f64>);

/// Every scalar a sweep file offers, as the names `--y` accepts: `[n]` real
/// datasets by name, `[n, m]` real datasets as `<name>_final` (their last column,
/// i.e. the value at the last save time).
fn sweep_scalars(v: &View, n: usize) -> Vec<(String, String, Vec<f64>)> {
    let mut out = Vec::new();
    for (k, it) in &v.0.items {
        if k.attribute || k.group.starts_with("/sweep") {
            continue;
        }
        let Some(vals) = as_f64(&it.data) else { continue };
        let group = k.group.trim_start_matches('/').to_string();
        match it.shape.as_slice() {
            [m] if *m == n => out.push((group, k.name.clone(), vals)),
            [m, cols] if *m == n && *cols > 0 => {
                let last = vals.chunks(*cols).map(|row| row[cols - 1]).collect();
                out.push((group, format!("{}_final", k.name), last));
            }
            _ => {}
        }
    }
    // Engines first, in the order of a run's output.
    let rank = |g: &str| Engine::ALL.iter().position(|e| e.name() == g).unwrap_or(Engine::ALL.len());
    out.sort_by(|a, b| (rank(&a.0), &a.0, &a.1).cmp(&(rank(&b.0), &b.0, &b.1)));
    out
}

/// Resolves `--y` (default `energy_b_final`): every group that has the name,
/// or the one group of a `group/name` selector.
fn pick_scalar(v: &View, n: usize, y: Option<&str>) -> Result<(String, Vec<Scalar>), PlotError> {
    let all = sweep_scalars(v, n);
    let wanted = y.unwrap_or("energy_b_final").trim_start_matches('/');
    let (group, name) = match wanted.rsplit_once('/') {
        Some((g, n)) => (Some(g), n),
        None => (None, wanted),
    };
    let hits: Vec<Scalar> = all
        .iter()
        .filter(|(g, nm, _)| nm == name && group.is_none_or(|want| want == g))
        .map(|(g, _, vals)| (g.clone(), vals.clone()))
        .collect();
    if !hits.is_empty() {
        return Ok((name.to_string(), hits));
    }
    if y.is_none() {
        if let Some((g, nm, vals)) = all.first() {
            return Ok((nm.clone(), vec![(g.clone(), vals.clone())]));
        }
        return Err(PlotError::Nothing { path: Default::default(), reason: "the sweep holds no real [n_points] or [n_points, n] dataset".into() });
    }
    let mut names: Vec<String> = all.iter().map(|(g, nm, _)| format!("{g}/{nm}")).collect();
    names.dedup();
    Err(PlotError::Selection(format!("unknown --y `{wanted}`; this sweep has: {}", names.join(", "))))
}

/// A name as a file-name part: ASCII letters, digits, `_` and `-`, the rest `_`.
fn safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// The rows of a 2-axis grid sweep placed on the grid: the axis values and,
/// per row of the file, its cell (row-major `[ny, nx]`, x the axis `kx`).
struct Placed {
    x: Vec<f64>,
    y: Vec<f64>,
    /// The axis on y.
    ky: usize,
    /// (cell, row of the file).
    cells: Vec<(usize, usize)>,
}

impl Placed {
    /// Per-row values on the grid; cells without a row get `missing`.
    fn spread<T: Copy>(&self, vals: &[T], missing: T) -> Vec<T> {
        let mut z = vec![missing; self.x.len() * self.y.len()];
        for &(cell, r) in &self.cells {
            z[cell] = vals[r];
        }
        z
    }
}

/// Places every row of a 2-axis grid sweep by its global index (a shard holds a subset).
fn place(index: &[f64], shape: &[usize], params: &[Vec<f64>], kx: usize) -> Result<Placed, PlotError> {
    let total: usize = shape.iter().product();
    let ky = 1 - kx;
    let (nx, ny) = (shape[kx], shape[ky]);
    let mut xs = vec![f64::NAN; nx];
    let mut ys = vec![f64::NAN; ny];
    let mut cells = Vec::with_capacity(index.len());
    for (r, &gi) in index.iter().enumerate() {
        if gi < 0.0 || gi as usize >= total {
            return Err(PlotError::Invalid(format!("/sweep/index[{r}] = {gi} is outside the {total} points of the sweep")));
        }
        let gi = gi as usize;
        let multi = [gi / shape[1], gi % shape[1]];
        let (ix, iy) = (multi[kx], multi[ky]);
        xs[ix] = params[kx][r];
        ys[iy] = params[ky][r];
        cells.push((iy * nx + ix, r));
    }
    if xs.iter().chain(&ys).any(|a| !a.is_finite()) {
        return Err(PlotError::Invalid(
            "the sweep file lacks every point of some axis value (a shard?); merge the shards with `qbsim merge` first".into(),
        ));
    }
    Ok(Placed { x: xs, y: ys, ky, cells })
}

fn sweep(v: &View, sel: &Selection) -> Result<Vec<Named>, PlotError> {
    let g = "/sweep";
    let axes = v.attr_strings(g, "axes").filter(|a| !a.is_empty()).ok_or_else(|| PlotError::Invalid("/sweep/@axes is missing".into()))?;
    let shape: Vec<usize> = match v.item(g, "shape", true).map(|it| &it.data) {
        Some(Data::I64(s)) if s.iter().all(|&x| x > 0) => s.iter().map(|&x| x as usize).collect(),
        _ => return Err(PlotError::Invalid("/sweep/@shape is missing or not positive integers".into())),
    };
    let mode = v.attr_str(g, "mode").unwrap_or_else(|| "grid".into());
    let index = v.vec(g, "index", None)?;
    let n = index.len();
    let mut params = Vec::with_capacity(axes.len());
    for key in &axes {
        params.push(v.vec("/sweep/params", key, Some(n))?);
    }
    let x_key = match &sel.x {
        Some(x) => {
            if !axes.contains(x) {
                return Err(PlotError::Selection(format!("unknown --x `{x}`; the sweep's axes are: {}", axes.join(", "))));
            }
            x.clone()
        }
        // The last axis varies fastest: the natural horizontal axis of a map.
        None if mode == "grid" && axes.len() == 2 => axes[1].clone(),
        None => axes[0].clone(),
    };
    let (y_name, scalars) = pick_scalar(v, n, sel.y.as_deref())?;
    let is_map = mode == "grid" && axes.len() == 2;
    if mode == "grid" && axes.len() > 2 {
        return Err(PlotError::Selection(format!(
            "the sweep has {} axes ({}); qbsim plot draws 1- and 2-axis sweeps (reshape /sweep/params by /sweep/@shape in Python for more)",
            axes.len(),
            axes.join(", ")
        )));
    }
    if !is_map {
        let kx = axes.iter().position(|a| *a == x_key).unwrap_or(0);
        let series = scalars
            .into_iter()
            .map(|(group, vals)| {
                let mut pts: Vec<(f64, f64)> = params[kx].iter().copied().zip(vals).collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series { label: group, x: pts.iter().map(|p| p.0).collect(), y: pts.iter().map(|p| p.1).collect() }
            })
            .collect();
        let name = format!("sweep_{}", safe(&y_name));
        return Ok(vec![Named { name, data: FigureData::SweepLine(SweepLine { x_key, y_name, series }) }]);
    }
    // 2-axis grid: place every row by its global index (a shard holds a subset).
    let kx = axes.iter().position(|a| *a == x_key).unwrap_or(1);
    let grid = place(&index, &shape, &params, kx)?;
    let (xs, ys, ky) = (grid.x.clone(), grid.y.clone(), grid.ky);
    let multi_group = scalars.len() > 1;
    let mut out = Vec::new();
    for (group, vals) in scalars {
        let z = grid.spread(&vals, f64::NAN);
        let name = if multi_group { format!("sweep_{}_{}", safe(&group), safe(&y_name)) } else { format!("sweep_{}", safe(&y_name)) };
        out.push(Named {
            name,
            data: FigureData::SweepMap(SweepMap {
                x_key: x_key.clone(),
                y_key: axes[ky].clone(),
                z_name: y_name.clone(),
                group,
                x: xs.clone(),
                y: ys.clone(),
                z,
            }),
        });
    }
    // A validity map (`qbsim validate` over a 2-axis grid) has a figure of its own.
    if v.dataset("/validation", "r_needed").is_some() {
        out.push(validity(v, sel, &axes, &index, &shape, &params)?);
    }
    Ok(out)
}

// ---------------------------------------------------------- validity maps

/// Samples per axis of the grid the phase boundary of a validity map is
/// computed on (the sweep's own grid is far too coarse for a smooth contour).
pub const BOUNDARY_SAMPLES: usize = 301;

/// The value of a per-point list when it is the same at every point.
fn constant(v: &[f64]) -> Option<f64> {
    let first = *v.first()?;
    (first.is_finite() && v.iter().all(|x| (x - first).abs() <= 1e-9 * first.abs().max(1.0))).then_some(first)
}

/// `n` values evenly spaced over the cells of an axis (centres `c`), edge to edge.
fn over_cells(c: &[f64], n: usize) -> Vec<f64> {
    let e = cell_edges(c, false);
    let (lo, hi) = e.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    crate::reduced::linspace(lo, hi, n)
}

/// The validity-map figure of a `qbsim validate` sweep over a 2-axis grid:
/// `r_needed` (or the `/validation` scalar `--y` names) on the grid, δ_r on
/// x (unless `--x` says otherwise; without a δ_r axis the first axis), the
/// realizability of every point, and the reduced model's phase boundary
/// Re[−iλ₊] = 0, computed here: in the (δ_r, α) plane of the paper's Fig. 3 at
/// the file's γ_b on a fine grid with [`PhaseDiagram`] (which also places the
/// exceptional points), otherwise at the reduced point of every grid point.
fn validity(v: &View, sel: &Selection, axes: &[String], index: &[f64], shape: &[usize], params: &[Vec<f64>]) -> Result<Named, PlotError> {
    let g = "/validation";
    let n = index.len();
    let short = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
    let kx = match &sel.x {
        Some(x) => axes.iter().position(|a| a == x).unwrap_or(0),
        None => axes.iter().position(|a| short(a) == "delta_r").unwrap_or(0),
    };
    let grid = place(index, shape, params, kx)?;
    let per_point = |name: &str| -> Result<Option<Vec<f64>>, PlotError> {
        match v.dataset(g, name) {
            Some(_) => v.vec(g, name, Some(n)).map(Some),
            None => Ok(None),
        }
    };
    // --y picks another /validation scalar; anything else keeps r_needed.
    let wanted = sel.y.as_deref().map(|y| y.trim_start_matches('/')).map(|y| y.strip_prefix("validation/").unwrap_or(y));
    let other = wanted.filter(|w| *w != "r_needed").and_then(|w| sweep_scalars(v, n).into_iter().find(|(gr, nm, _)| gr == "validation" && nm == w));
    let (z_name, vals) = match other {
        Some((_, name, vals)) => (name, vals),
        None => ("r_needed".to_string(), v.vec(g, "r_needed", Some(n))?),
    };
    let z = grid.spread(&vals, f64::NAN);
    let unrealizable = match per_point("realizable")? {
        Some(r) => grid.spread(&r.iter().map(|&x| x == 0.0).collect::<Vec<_>>(), false),
        None => vec![false; z.len()],
    };
    let target = per_point("target")?.as_deref().and_then(constant);
    let gamma_b = per_point("gamma_b")?.as_deref().and_then(constant);
    let [ga, gb, dra, drb] = ["gamma_a", "gamma_b", "delta_ra", "delta_rb"].map(per_point);
    let (ga, gb, dra, drb) = (ga?, gb?, dra?, drb?);
    let symmetric = match (&dra, &drb) {
        (Some(a), Some(b)) => a.iter().zip(b).all(|(a, b)| (a + b).abs() <= 1e-9 * a.abs().max(1.0)),
        _ => false,
    };
    let (xk, yk) = (short(&axes[kx]), short(&axes[grid.ky]));
    let plane = matches!((xk.as_str(), yk.as_str()), ("delta_r", "alpha") | ("alpha", "delta_r"));
    let mut eps = Vec::new();
    let growth = match gamma_b {
        Some(gamma_b) if plane && symmetric => {
            let (fx, fy) = (over_cells(&grid.x, BOUNDARY_SAMPLES), over_cells(&grid.y, BOUNDARY_SAMPLES));
            let delta_x = xk == "delta_r";
            let (delta_r, alpha) = if delta_x { (fx.clone(), fy.clone()) } else { (fy.clone(), fx.clone()) };
            let pd = PhaseDiagram::compute(PhaseGrid { gamma_b, delta_r, alpha, e_max: None });
            // growth_rate is [alpha, delta_r]: rows are y when δ_r is on x.
            let z: Vec<f64> = if delta_x { pd.growth_rate.iter().copied().collect() } else { pd.growth_rate.t().iter().copied().collect() };
            eps = pd.exceptional_points.iter().map(|&(d, a)| if delta_x { (d, a) } else { (a, d) }).collect();
            Some(GrowthGrid { x: fx, y: fy, z })
        }
        _ => match (ga, gb, dra, drb) {
            (Some(ga), Some(gb), Some(dra), Some(drb)) => {
                let rates: Vec<f64> = (0..n)
                    .map(|r| Spectrum::of(&ReducedParams { gamma_a: ga[r], gamma_b: gb[r], delta_ra: dra[r], delta_rb: drb[r], drive_r: 1.0 }).growth_rate())
                    .collect();
                Some(GrowthGrid { x: grid.x.clone(), y: grid.y.clone(), z: grid.spread(&rates, f64::NAN) })
            }
            _ => None,
        },
    };
    let name = if z_name == "r_needed" { "validity_map".to_string() } else { format!("validity_map_{}", safe(&z_name)) };
    let data = ValidityMap {
        x_key: axes[kx].clone(),
        y_key: axes[grid.ky].clone(),
        x: grid.x,
        y: grid.y,
        z_name,
        z,
        unrealizable,
        target,
        gamma_b,
        symmetric,
        growth,
        eps,
    };
    Ok(Named { name, data: FigureData::ValidityMap(data) })
}

//! Figure data → figures: panels of plain shapes in data coordinates, with the
//! axis ranges, scales, colours and labels decided here (and tested here), so
//! the renderer only draws what it is given.

use crate::engines::Engine;
use super::data::{self, num, Eigen, FigureData, MarkerTraces, PhaseMap, ProtocolStep, SweepLine, SweepMap, TCrit, Traces, Validation, ValidityMap};
use super::geometry::{cell_edges, hatch, merge_cells, zero_contour, Segment};
use super::typeset::{self, escape};
use plotters::style::RGBColor;

/// One image: title lines, an optional legend strip under them, and panels
/// side by side with relative widths. Every text is figure markup
/// ([`typeset`]: `E_B`, `γ_{a}`, `10^{−3}`; literal names go through
/// [`escape`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The first line is the title proper; further lines are smaller subtitles.
    pub title: Vec<String>,
    /// A warning in red under the title (an interrupted, partial result).
    pub banner: Option<String>,
    /// Notes on the data drawn (points not finite, hence omitted), shown under
    /// the title so that no gap in a curve goes unexplained.
    pub notes: Vec<String>,
    pub size: (u32, u32),
    pub panels: Vec<Panel>,
    /// Relative panel widths (same length as `panels`).
    pub widths: Vec<u32>,
    /// Legend drawn as a strip above the panels (for maps, where an in-plot
    /// legend box would hide data).
    pub strip: Vec<LegendItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub caption: Option<String>,
    pub x: Axis,
    pub y: Axis,
    pub shapes: Vec<Shape>,
    pub legend: Legend,
    /// Tick labels and axis title of y on the right (colour bars).
    pub y_right: bool,
    /// Draw axes, ticks and grid (false for a text-only panel).
    pub frame: bool,
    /// Draw grid lines.
    pub grid: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub label: String,
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    /// Tick labels on this axis (off for the colour bar's x axis).
    pub ticks: bool,
}

impl Axis {
    fn new(label: impl Into<String>, (lo, hi): (f64, f64), log: bool) -> Axis {
        Axis { label: label.into(), lo, hi, log, ticks: true }
    }
}

/// Where an in-plot legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    None,
    UpperLeft,
    UpperMiddle,
    UpperRight,
    LowerLeft,
    LowerRight,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Diamond,
    Triangle,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stroke {
    pub color: RGBColor,
    pub width: u32,
    pub dashed: bool,
}

const fn stroke(color: RGBColor, width: u32) -> Stroke {
    Stroke { color, width, dashed: false }
}

const fn dashed(color: RGBColor, width: u32) -> Stroke {
    Stroke { color, width, dashed: true }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A polyline; non-finite points break it.
    Line { pts: Vec<(f64, f64)>, stroke: Stroke, label: Option<String> },
    /// Unconnected segments (contours, hatching).
    Segments { segs: Vec<Segment>, stroke: Stroke, label: Option<String> },
    Points { pts: Vec<(f64, f64)>, marker: Marker, size: u32, fill: RGBColor, edge: RGBColor, label: Option<String> },
    /// A filled rectangle between two corners; `opacity` in 0..=1.
    Rect { lo: (f64, f64), hi: (f64, f64), fill: RGBColor, opacity: f64, label: Option<String> },
    /// Text with its top-left corner at a data point.
    Text { at: (f64, f64), text: String, size: u32, color: RGBColor },
}

/// An entry of a legend strip: a glyph and its text.
#[derive(Debug, Clone, PartialEq)]
pub enum LegendItem {
    Line(Stroke, String),
    Hatch(Stroke, String),
    Point(Marker, RGBColor, RGBColor, String),
    /// A filled swatch: colour and opacity (0..=1).
    Fill(RGBColor, f64, String),
}

/// Colours that stay distinguishable, printed or on screen (the "tab10" set).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];
const BLACK: RGBColor = RGBColor(0, 0, 0);
const WHITE: RGBColor = RGBColor(255, 255, 255);
const GRAY: RGBColor = RGBColor(110, 110, 110);
const MISSING: RGBColor = RGBColor(205, 205, 205);

/// Engine styles: the master equation drawn thick, the exact moments dashed on
/// top of it (they agree to the integrator tolerance, so both must stay visible).
fn engine_style(engine: &str) -> (Stroke, &'static str) {
    match Engine::of_group(engine) {
        Some(e @ Engine::Master) => (stroke(PALETTE[0], 4), e.label()),
        Some(e @ Engine::Moments) => (dashed(PALETTE[1], 2), e.label()),
        _ => (stroke(PALETTE[2], 2), Engine::Reduced.label()),
    }
}

// ------------------------------------------------------------- ranges

/// Finite values of `v`, as (min, max); `None` if there are none.
fn extent<'a>(v: impl IntoIterator<Item = &'a f64>) -> Option<(f64, f64)> {
    v.into_iter().filter(|x| x.is_finite()).fold(None, |acc, &x| match acc {
        None => Some((x, x)),
        Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
    })
}

/// A linear range with 5 % padding; a flat or empty range gets a width.
fn lin_range(ext: Option<(f64, f64)>) -> (f64, f64) {
    let (lo, hi) = ext.unwrap_or((0.0, 1.0));
    if hi > lo {
        let pad = 0.05 * (hi - lo);
        (lo - pad, hi + pad)
    } else {
        let w = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
        (lo - w, hi + w)
    }
}

/// A log range around positive values, padded by a fifth of a decade.
fn log_range(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo / 10.0, hi * 10.0) };
    (lo / 10f64.powf(0.2), hi * 10f64.powf(0.2))
}

/// Whether a time trace needs a log scale, and the range if so.
///
/// Every trace that starts from the vacuum rises like t⁴ at first, so all of
/// them span many decades near t = 0; what matters is whether the *late*
/// curve does (exponential growth in the broken phase). So the decision and
/// the range look at the points after the first 10 % of the time span: log
/// when those are all positive and span more than three decades. The earliest
/// points then fall below the axis and are clipped.
pub fn log_scale_for(curves: &[(&[f64], &[f64])]) -> Option<(f64, f64)> {
    let (t0, t1) = extent(curves.iter().flat_map(|c| c.0.iter()))?;
    let cut = t0 + 0.1 * (t1 - t0);
    let late: Vec<f64> =
        curves.iter().flat_map(|(t, y)| t.iter().zip(y.iter()).filter(|(t, y)| **t >= cut && y.is_finite()).map(|(_, y)| *y)).collect();
    let (lo, hi) = extent(&late)?;
    (lo > 0.0 && hi / lo > 1e3).then(|| log_range(lo, hi))
}

/// A value axis for curves: log (see [`log_scale_for`]) or linear including 0.
fn value_axis(label: &str, curves: &[(&[f64], &[f64])]) -> Axis {
    match log_scale_for(curves) {
        Some(r) => Axis::new(label, r, true),
        None => {
            let ext = extent(curves.iter().flat_map(|c| c.1.iter())).map(|(lo, hi)| (lo.min(0.0), hi.max(0.0)));
            Axis::new(label, lin_range(ext), false)
        }
    }
}

/// A time axis exactly spanning the data.
fn time_axis(label: &str, curves: &[(&[f64], &[f64])]) -> Axis {
    let (lo, hi) = extent(curves.iter().flat_map(|c| c.0.iter())).unwrap_or((0.0, 1.0));
    Axis::new(label, if hi > lo { (lo, hi) } else { lin_range(Some((lo, hi))) }, false)
}

/// Whether axis values are geometrically spaced (a `logspace` sweep axis).
pub fn is_log_spaced(v: &[f64]) -> bool {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    s.dedup();
    if s.len() < 3 || s[0] <= 0.0 {
        return false;
    }
    let r: Vec<f64> = s.windows(2).map(|w| w[1] / w[0]).collect();
    let d: Vec<f64> = s.windows(2).map(|w| w[1] - w[0]).collect();
    let same = |a: &[f64]| a.iter().all(|&x| (x - a[0]).abs() <= 1e-6 * a[0].abs());
    same(&r) && !same(&d)
}

fn pts(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    x.iter().copied().zip(y.iter().copied()).collect()
}

fn panel(x: Axis, y: Axis, shapes: Vec<Shape>, legend: Legend) -> Panel {
    Panel { caption: None, x, y, shapes, legend, y_right: false, frame: true, grid: true }
}

/// The legend position that hides the least data: the candidate legend box
/// (`box_frac`: its width and height as fractions of the plot) in each corner
/// and at the upper middle, scored by the samples of the curves inside it
/// (lines resampled finely, so a line crossing the box counts even between
/// its data points). Ties go to the upper left.
pub fn quiet_corner(x: &Axis, y: &Axis, shapes: &[Shape], box_frac: (f64, f64)) -> Legend {
    let mut samples = Vec::new();
    let to = |p: &(f64, f64)| (norm(x, p.0), norm(y, p.1));
    for s in shapes {
        match s {
            Shape::Line { pts, .. } => {
                let q: Vec<(f64, f64)> = pts.iter().map(to).collect();
                for w in q.windows(2) {
                    let (a, b) = (w[0], w[1]);
                    if !(a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite()) {
                        continue;
                    }
                    let n = (((b.0 - a.0).hypot(b.1 - a.1) / 0.01).ceil() as usize).clamp(1, 200);
                    samples.extend((0..n).map(|k| {
                        let t = k as f64 / n as f64;
                        (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
                    }));
                }
            }
            Shape::Points { pts, .. } => samples.extend(pts.iter().map(to)),
            _ => {}
        }
    }
    let (w, h) = (box_frac.0.clamp(0.05, 1.0), box_frac.1.clamp(0.05, 1.0));
    let boxes = [
        (Legend::UpperLeft, (0.0, w), (1.0 - h, 1.0)),
        (Legend::UpperRight, (1.0 - w, 1.0), (1.0 - h, 1.0)),
        (Legend::UpperMiddle, (0.5 - w / 2.0, 0.5 + w / 2.0), (1.0 - h, 1.0)),
        (Legend::LowerRight, (1.0 - w, 1.0), (0.0, h)),
        (Legend::LowerLeft, (0.0, w), (0.0, h)),
    ];
    let count = |(u0, u1): (f64, f64), (v0, v1): (f64, f64)| samples.iter().filter(|p| p.0 >= u0 && p.0 <= u1 && p.1 >= v0 && p.1 <= v1).count();
    boxes.iter().min_by_key(|b| count(b.1, b.2)).map_or(Legend::UpperLeft, |b| b.0)
}

/// Text size of in-plot legends, in pixels (the renderer uses it too).
pub const LEGEND_FONT: f64 = 17.0;

/// The legend's size as fractions of the plot of a single-panel figure of
/// `size` pixels (the renderer's fonts, margins and label areas).
fn legend_frac(shapes: &[Shape], size: (u32, u32)) -> (f64, f64) {
    let labels: Vec<f64> = shapes
        .iter()
        .filter_map(|s| match s {
            Shape::Line { label, .. } | Shape::Segments { label, .. } | Shape::Points { label, .. } | Shape::Rect { label, .. } => {
                label.as_ref().map(|l| typeset::width(l, LEGEND_FONT))
            }
            Shape::Text { .. } => None,
        })
        .collect();
    let text = labels.iter().copied().fold(0.0, f64::max);
    let plot_w = f64::from(size.0).max(400.0) - 160.0;
    let plot_h = f64::from(size.1).max(300.0) - 200.0;
    ((text + 100.0) / plot_w, (labels.len() as f64 * 26.0 + 40.0) / plot_h)
}

/// A figure with no banner and no notes.
fn figure_of(title: Vec<String>, size: (u32, u32), panels: Vec<Panel>, widths: Vec<u32>, strip: Vec<LegendItem>) -> Figure {
    Figure { title, banner: None, notes: Vec::new(), size, panels, widths, strip }
}

/// A single-panel figure whose legend goes where it hides the least.
fn single(title: Vec<String>, size: (u32, u32), x: Axis, y: Axis, shapes: Vec<Shape>) -> Figure {
    let legend = quiet_corner(&x, &y, &shapes, legend_frac(&shapes, size));
    figure_of(title, size, vec![panel(x, y, shapes, legend)], vec![1], Vec::new())
}

/// The banner of an interrupted file.
pub fn banner_text(i: &data::Interrupted) -> String {
    match i.t_final {
        Some(t) => format!("INTERRUPTED — partial result (t ≤ {})", num(t)),
        None => "INTERRUPTED — partial result".into(),
    }
}

/// "what: k of n points not finite (omitted)", if any is not finite.
pub fn not_finite_note(what: &str, v: &[f64]) -> Option<String> {
    let k = v.iter().filter(|x| !x.is_finite()).count();
    (k > 0).then(|| format!("{what}: {k} of {} points not finite (omitted)", v.len()))
}

// ------------------------------------------------------------- ticks

/// How the tick labels of one axis are written: one format per axis, chosen
/// from its range, so no axis mixes `1000` with `10^{4}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickFormat {
    /// Linear axis, fixed decimals: `0.0, 0.5, 1.0`.
    Fixed(usize),
    /// Linear axis of very large or small values: `m×10^{e}` with one
    /// exponent and one number of mantissa decimals for the axis.
    Sci { exp: i32, decimals: usize },
    /// Log axis within 10^{−3} … 10^{4}: plain numbers `0.01, 0.1, 1, 10`.
    Plain,
    /// Log axis beyond: powers `10^{−5}`, `2×10^{−5}`.
    Power,
}

/// The ticks of an axis: labelled (major) ones with their markup, and
/// unlabelled minor ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    pub major: Vec<(f64, String)>,
    pub minor: Vec<f64>,
    pub format: TickFormat,
}

/// A 1-2-2.5-5 step giving at most about `n` intervals over `span`.
fn nice_step(span: f64, n: usize) -> f64 {
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * mag)
}

/// Decimals that write every multiple of `step` exactly.
fn step_decimals(step: f64) -> usize {
    let e = step.log10().floor();
    let mant = step / 10f64.powf(e);
    let extra = usize::from((mant - 2.5).abs() < 1e-6);
    ((-e).max(0.0) as usize + extra).min(12)
}

fn minus(s: String) -> String {
    s.replace('-', "−")
}

fn linear_ticks(lo: f64, hi: f64, n: usize) -> Ticks {
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Ticks { major: Vec::new(), minor: Vec::new(), format: TickFormat::Fixed(0) };
    }
    let step = nice_step(hi - lo, n);
    let (k0, k1) = ((lo / step - 1e-9).ceil() as i64, (hi / step + 1e-9).floor() as i64);
    let vals: Vec<f64> = (k0..=k1).map(|k| if k == 0 { 0.0 } else { k as f64 * step }).collect();
    let m = vals.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let format = if m >= 1e5 || (m > 0.0 && m < 1e-2) {
        let exp = m.log10().floor() as i32;
        TickFormat::Sci { exp, decimals: step_decimals(step / 10f64.powi(exp)) }
    } else {
        TickFormat::Fixed(step_decimals(step))
    };
    let label = |v: f64| match format {
        TickFormat::Fixed(d) => minus(format!("{v:.d$}")),
        TickFormat::Sci { exp, decimals } if v != 0.0 => minus(format!("{:.decimals$}×10^{{{exp}}}", v / 10f64.powi(exp))),
        _ => "0".into(),
    };
    Ticks { major: vals.iter().map(|&v| (v, label(v))).collect(), minor: Vec::new(), format }
}

/// Ticks of a log axis: the decades labelled (every second or third when
/// there are many), also 2× and 5× them on a short axis, and a linear set
/// when the axis holds less than two of those.
fn log_ticks(lo: f64, hi: f64, n: usize) -> Ticks {
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    if !(lo > 0.0 && hi.is_finite() && hi > lo) {
        return Ticks { major: Vec::new(), minor: Vec::new(), format: TickFormat::Plain };
    }
    let (l, h) = (lo.log10(), hi.log10());
    let inside = |v: f64| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9);
    let (k0, k1) = ((l - 1e-9).ceil() as i32, (h + 1e-9).floor() as i32);
    let multiples = |ms: &[f64]| -> Vec<(f64, i32, f64)> {
        (k0 - 1..=k1).flat_map(|k| ms.iter().map(move |&m| (m, k, m * 10f64.powi(k)))).filter(|p| inside(p.2)).collect()
    };
    let all = multiples(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let decades = multiples(&[1.0]);
    let mut major: Vec<(f64, i32, f64)>;
    if decades.len() >= 2 {
        let stride = (1..).find(|s| decades.len().div_ceil(*s) <= n.max(2)).unwrap_or(1) as i32;
        major = decades.iter().copied().filter(|p| p.1.rem_euclid(stride) == 0).collect();
        if major.len() < 2 {
            major = decades.clone();
        }
        if h - l < 2.5 {
            major = multiples(&[1.0, 2.0, 5.0]);
        }
    } else {
        major = multiples(&[1.0, 2.0, 5.0]);
        if major.len() < 2 {
            major = all.clone();
        }
        if major.len() < 2 {
            // Less than a factor of two: linear ticks on the log axis.
            let mut t = linear_ticks(lo, hi, n.min(4));
            t.major.retain(|p| p.0 > 0.0);
            return t;
        }
    }
    let is_major = |v: f64| major.iter().any(|p| (p.2 - v).abs() <= 1e-9 * v);
    // Minor ticks at every multiple, or only at the unlabelled decades when
    // the axis spans many (the multiples would be a few pixels apart).
    let minor = if h - l > 6.0 { &decades } else { &all }.iter().map(|p| p.2).filter(|&v| !is_major(v)).collect();
    let (vmin, vmax) = (major.first().map_or(1.0, |p| p.2), major.last().map_or(1.0, |p| p.2));
    let format = if vmin >= 1e-3 * (1.0 - 1e-9) && vmax <= 1e4 * (1.0 + 1e-9) { TickFormat::Plain } else { TickFormat::Power };
    let label = |(m, k, v): (f64, i32, f64)| match format {
        TickFormat::Plain => num(v),
        _ if m == 1.0 => minus(format!("10^{{{k}}}")),
        _ => minus(format!("{m}×10^{{{k}}}")),
    };
    Ticks { major: major.iter().map(|&p| (p.2, label(p))).collect(), minor, format }
}

/// The ticks of an axis with at most about `n` labels.
pub fn ticks(a: &Axis, n: usize) -> Ticks {
    if a.log {
        log_ticks(a.lo, a.hi, n)
    } else {
        linear_ticks(a.lo, a.hi, n)
    }
}

// ------------------------------------------------------------- names

/// The physical symbol (markup) of a config key as swept (`model.kappa[2]` →
/// κ_c), `None` for a key without one. The one table of these names.
pub fn param_symbol(key: &str) -> Option<String> {
    let (name, index) = match key.split_once('[') {
        Some((n, rest)) => (n, Some(rest.strip_suffix(']')?.trim().parse::<usize>().ok()?)),
        None => (key, None),
    };
    let mode = || index.and_then(|i| ["a", "b", "c"].get(i).copied());
    let shared = || index.and_then(|i| ["za", "zb"].get(i).copied());
    let complex = |sym: &str| match index {
        None => Some(sym.to_string()),
        Some(0) => Some(format!("Re {sym}")),
        Some(1) => Some(format!("Im {sym}")),
        _ => None,
    };
    Some(match name {
        "model.kappa" => format!("κ_{}", mode()?),
        "model.delta" => format!("δ_{}", mode()?),
        "model.cutoffs" => format!("N_{}", mode()?),
        "model.n_th" => format!("n_{{th,{}}}", mode()?),
        "model.n_th_shared" => format!("n_{{th,{}}}", shared()?),
        "model.gamma" if index.is_none() => "Γ".into(),
        "model.drive" if index.is_none() => "E".into(),
        "model.p_a" => complex("p_a")?,
        "model.p_b" => complex("p_b")?,
        "model.p_ca" => complex("p_{ca}")?,
        "model.p_cb" => complex("p_{cb}")?,
        "reduced.gamma_a" | "validation.gamma_a" if index.is_none() => "γ_a".into(),
        "reduced.gamma_b" | "phase.gamma_b" | "validation.gamma_b" if index.is_none() => "γ_b".into(),
        "reduced.delta_r" | "validation.delta_r" if index.is_none() => "δ_r".into(),
        "reduced.delta_ra" if index.is_none() => "δ_{ra}".into(),
        "reduced.delta_rb" if index.is_none() => "δ_{rb}".into(),
        "reduced.alpha" | "validation.alpha" if index.is_none() => "α".into(),
        "reduced.drive_r" if index.is_none() => "E_r".into(),
        "time.t_end" if index.is_none() => "t_{end}".into(),
        _ => return None,
    })
}

/// The axis label of a swept config key: its symbol and unit (rates of a
/// `[model]` in the config's rate unit, reduced quantities in units of g), or
/// the key itself when it has no symbol.
pub fn param_label(key: &str) -> String {
    let Some(sym) = param_symbol(key) else { return escape(key) };
    let base = key.split('[').next().unwrap_or(key);
    let unit = match base {
        "model.kappa" | "model.delta" | "model.gamma" | "model.drive" => " (config rate unit)",
        "reduced.gamma_a" | "reduced.gamma_b" | "reduced.delta_r" | "reduced.delta_ra" | "reduced.delta_rb" | "reduced.drive_r" | "reduced.alpha"
        | "phase.gamma_b" => {
            " (units of g)"
        }
        "time.t_end" => " (config time unit)",
        _ => "",
    };
    format!("{sym}{unit}")
}

/// A verdict written by qbsim (ASCII: `gamma_a*gamma_b >= 1`, `r^-0.992`) as
/// figure markup with the symbols (γ_a γ_b ≥ 1, r^{−0.992}).
pub fn verdict_markup(s: &str) -> String {
    let mut t = s.to_string();
    for (from, to) in [
        ("gamma_a*gamma_b", "γ_a γ_b"),
        ("gamma_a", "γ_a"),
        ("gamma_b", "γ_b"),
        ("Gamma", "Γ"),
        ("delta_ra", "δ_{ra}"),
        ("delta_rb", "δ_{rb}"),
        ("delta_r", "δ_r"),
        ("alpha", "α"),
        ("kappa", "κ"),
        (">=", "≥"),
        ("<=", "≤"),
        (" -1", " −1"),
    ] {
        t = t.replace(from, to);
    }
    // 0.250000 → 0.25, 1.000000 → 1 (summaries print six decimals).
    let cs: Vec<char> = t.chars().collect();
    let mut trimmed = String::with_capacity(t.len());
    let mut i = 0;
    while i < cs.len() {
        if cs[i].is_ascii_digit() && (i == 0 || !(cs[i - 1].is_ascii_alphanumeric() || cs[i - 1] == '.')) {
            let mut j = i;
            while j < cs.len() && cs[j].is_ascii_digit() {
                j += 1;
            }
            if j + 1 < cs.len() && cs[j] == '.' && cs[j + 1].is_ascii_digit() {
                let mut k = j + 1;
                while k < cs.len() && cs[k].is_ascii_digit() {
                    k += 1;
                }
                let n: String = cs[i..k].iter().collect();
                trimmed.push_str(n.trim_end_matches('0').trim_end_matches('.'));
                i = k;
                continue;
            }
            trimmed.extend(&cs[i..j]);
            i = j;
            continue;
        }
        trimmed.push(cs[i]);
        i += 1;
    }
    // r^-0.992 → r^{−0.992}; 6.7e-4 → 6.7×10^{−4}.
    let cs: Vec<char> = trimmed.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let number = |j: usize| -> usize {
        let mut k = j;
        if k < cs.len() && (cs[k] == '-' || cs[k] == '+') {
            k += 1;
        }
        while k < cs.len() && (cs[k].is_ascii_digit() || (cs[k] == '.' && cs.get(k + 1).is_some_and(|c| c.is_ascii_digit()))) {
            k += 1;
        }
        k
    };
    while i < cs.len() {
        let c = cs[i];
        if c == '^' && cs.get(i + 1).is_some_and(|c| *c == '-' || *c == '+' || c.is_ascii_digit()) {
            let e = number(i + 1);
            let exp: String = cs[i + 1..e].iter().collect();
            out.push_str(&format!("^{{{}}}", exp.replace('-', "−")));
            i = e;
            continue;
        }
        if c == 'e' && i > 0 && cs[i - 1].is_ascii_digit() && cs.get(i + 1).is_some_and(|c| *c == '-' || *c == '+' || c.is_ascii_digit()) {
            let e = number(i + 1);
            let exp: String = cs[i + 1..e].iter().collect::<String>().trim_start_matches('+').to_string();
            if let Ok(k) = exp.parse::<i32>() {
                // The mantissa already written: drop its trailing zeros, and a 1.
                let start = out.rfind(|c: char| !(c.is_ascii_digit() || c == '.')).map_or(0, |j| j + out[j..].chars().next().map_or(1, char::len_utf8));
                let mant = out[start..].to_string();
                let mant = if mant.contains('.') { mant.trim_end_matches('0').trim_end_matches('.').to_string() } else { mant };
                out.truncate(start);
                let k = k.to_string().replace('-', "−");
                if mant == "1" {
                    out.push_str(&format!("10^{{{k}}}"));
                } else {
                    out.push_str(&format!("{mant}×10^{{{k}}}"));
                }
                i = e;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

// ------------------------------------------------------------- colours

fn lerp(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let m = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round().clamp(0.0, 255.0) as u8;
    RGBColor(m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

fn ramp(stops: &[RGBColor], t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let k = (t.floor() as usize).min(stops.len() - 2);
    lerp(stops[k], stops[k + 1], t - k as f64)
}

const BLUES: [RGBColor; 5] =
    [RGBColor(247, 247, 247), RGBColor(146, 197, 222), RGBColor(67, 147, 195), RGBColor(33, 102, 172), RGBColor(5, 48, 97)];
const REDS: [RGBColor; 5] =
    [RGBColor(247, 247, 247), RGBColor(244, 165, 130), RGBColor(214, 96, 77), RGBColor(178, 24, 43), RGBColor(103, 0, 31)];
const VIRIDIS: [RGBColor; 7] = [
    RGBColor(68, 1, 84),
    RGBColor(68, 57, 131),
    RGBColor(49, 104, 142),
    RGBColor(33, 145, 140),
    RGBColor(53, 183, 121),
    RGBColor(144, 215, 67),
    RGBColor(253, 231, 37),
];

/// Levels per side of a colour scale: fine enough to look continuous, coarse
/// enough that runs of equal colour merge into few rectangles.
const LEVELS: f64 = 96.0;

/// A colour scale over a value range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColorScale {
    /// Blue below zero, white at zero, red above; each side scaled to its own
    /// extreme, so the sign (the phase) is what the eye reads first.
    Diverging { lo: f64, hi: f64 },
    /// Viridis from `lo` to `hi`, in log10 when `log`.
    Sequential { lo: f64, hi: f64, log: bool },
}

impl ColorScale {
    /// The quantized level of a value (None: no colour, drawn as missing).
    fn level(&self, v: f64) -> Option<i32> {
        if !v.is_finite() {
            return None;
        }
        match *self {
            ColorScale::Diverging { lo, hi } => {
                let t = if v < 0.0 && lo < 0.0 {
                    -(v / lo)
                } else if v > 0.0 && hi > 0.0 {
                    v / hi
                } else {
                    0.0
                };
                Some((t.clamp(-1.0, 1.0) * LEVELS).round() as i32)
            }
            ColorScale::Sequential { lo, hi, log } => {
                let (v, lo, hi) = if log {
                    if v <= 0.0 {
                        return None;
                    }
                    (v.log10(), lo.log10(), hi.log10())
                } else {
                    (v, lo, hi)
                };
                let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                Some((t.clamp(0.0, 1.0) * LEVELS).round() as i32)
            }
        }
    }

    fn color_of_level(&self, level: i32) -> RGBColor {
        let t = f64::from(level) / LEVELS;
        match self {
            ColorScale::Diverging { .. } if t < 0.0 => ramp(&BLUES, -t),
            ColorScale::Diverging { .. } => ramp(&REDS, t),
            ColorScale::Sequential { .. } => ramp(&VIRIDIS, t),
        }
    }

    pub fn color(&self, v: f64) -> RGBColor {
        self.level(v).map_or(MISSING, |l| self.color_of_level(l))
    }

    fn log(&self) -> bool {
        matches!(self, ColorScale::Sequential { log: true, .. })
    }
}

/// The cells of a map as rectangles, runs of equal colour merged along rows.
fn heat_cells(x: &[f64], y: &[f64], z: &[f64], scale: &ColorScale, xlog: bool, ylog: bool) -> Vec<Shape> {
    let (ex, ey) = (cell_edges(x, xlog), cell_edges(y, ylog));
    let nx = x.len();
    let mut out = Vec::new();
    for (i, row) in z.chunks(nx).enumerate().take(y.len()) {
        let mut j = 0;
        while j < nx {
            let level = scale.level(row[j]);
            let j0 = j;
            while j < nx && scale.level(row[j]) == level {
                j += 1;
            }
            let fill = level.map_or(MISSING, |l| scale.color_of_level(l));
            out.push(Shape::Rect { lo: (ex[j0], ey[i]), hi: (ex[j], ey[i + 1]), fill, opacity: 1.0, label: None });
        }
    }
    out
}

/// A vertical colour bar for `scale` from `lo` to `hi`.
fn colorbar(label: &str, scale: ColorScale, lo: f64, hi: f64) -> Panel {
    let log = scale.log();
    let n = 192;
    let at = |k: usize| {
        let t = k as f64 / n as f64;
        if log {
            10f64.powf(lo.log10() + t * (hi.log10() - lo.log10()))
        } else {
            lo + t * (hi - lo)
        }
    };
    let shapes = (0..n)
        .map(|k| {
            let mid = if log { (at(k) * at(k + 1)).sqrt() } else { (at(k) + at(k + 1)) / 2.0 };
            Shape::Rect { lo: (0.0, at(k)), hi: (1.0, at(k + 1)), fill: scale.color(mid), opacity: 1.0, label: None }
        })
        .collect();
    let mut x = Axis::new("", (0.0, 1.0), false);
    x.ticks = false;
    Panel { caption: None, x, y: Axis::new(label, (lo, hi), log), shapes, legend: Legend::None, y_right: true, frame: true, grid: false }
}

// ------------------------------------------------------------- figures

/// The figure for one kind of data.
pub fn figure(d: &FigureData) -> Figure {
    match d {
        FigureData::Traces(t) => traces(t),
        FigureData::Markers(m) => markers(m),
        FigureData::Phase(p) => phase(p),
        FigureData::Eigen(e) => eigen(e),
        FigureData::TCrit(t) => tcrit(t),
        FigureData::Validation(v) => validation(v),
        FigureData::SweepLine(s) => sweep_line(s),
        FigureData::SweepMap(s) => sweep_map(s),
        FigureData::ValidityMap(v) => validity_map(v),
    }
}

fn phase_words(phase: &str) -> String {
    match phase {
        "exceptional_point" => "exceptional point".into(),
        p => format!("{} phase", escape(p)),
    }
}

fn realizable_words(r: Option<bool>) -> &'static str {
    match r {
        Some(true) => " (realizable)",
        Some(false) => " (not realizable by a passive system)",
        None => "",
    }
}

/// Units of the reduced model: rates and detunings in units of g.
const G_UNIT: &str = " (units of g)";
/// The reduced time axis.
pub const TAU_LABEL: &str = "τ = g t (dimensionless)";
/// The time axis of a `[model]` run: the config's unit (its rates κ, Γ are
/// per that unit).
pub const T_CONFIG_LABEL: &str = "t (config time unit; κ, Γ per that unit)";

/// One curve of an energy/power figure.
struct Curve {
    t: Vec<f64>,
    energy: Vec<f64>,
    power: Vec<f64>,
    stroke: Stroke,
    label: String,
}

/// Notes on the non-finite points of the curves of a figure.
fn curve_notes(lines: &[Curve]) -> Vec<String> {
    let mut out = Vec::new();
    for l in lines {
        let t_bad = l.t.iter().filter(|x| !x.is_finite()).count();
        let bad = |v: &[f64]| v.iter().zip(&l.t).filter(|(y, t)| !y.is_finite() || !t.is_finite()).count();
        let (e, p) = (bad(&l.energy), bad(&l.power));
        let n = l.t.len();
        let mut parts = Vec::new();
        if e > 0 {
            parts.push(format!("E_B at {e} of {n}"));
        }
        if p > 0 {
            parts.push(format!("P_B at {p} of {n}"));
        }
        if !parts.is_empty() || t_bad > 0 {
            out.push(format!("{}: {} points not finite (omitted)", l.label, parts.join(", ")));
        }
    }
    out
}

/// Two panels side by side: E_B(t) and P_B(t). The scales are chosen from
/// exactly the curves drawn.
fn energy_power(title: Vec<String>, t_label: &str, e_label: &str, p_label: &str, lines: Vec<Curve>) -> Figure {
    let e_curves: Vec<(&[f64], &[f64])> = lines.iter().map(|l| (l.t.as_slice(), l.energy.as_slice())).collect();
    let p_curves: Vec<(&[f64], &[f64])> = lines.iter().map(|l| (l.t.as_slice(), l.power.as_slice())).collect();
    let ey = value_axis(e_label, &e_curves);
    let py = value_axis(p_label, &p_curves);
    let mk = |which: usize| -> Vec<Shape> {
        lines.iter().map(|l| Shape::Line { pts: pts(&l.t, if which == 0 { &l.energy } else { &l.power }), stroke: l.stroke, label: None }).collect()
    };
    let mut pe = panel(time_axis(t_label, &e_curves), ey, mk(0), Legend::None);
    pe.caption = Some("battery energy".into());
    let mut pp = panel(time_axis(t_label, &p_curves), py, mk(1), Legend::None);
    pp.caption = Some("charging power".into());
    // One legend for both panels, above them: no curve is hidden behind it.
    let strip = lines.iter().map(|l| LegendItem::Line(l.stroke, l.label.clone())).collect();
    let mut f = figure_of(title, (1500, 700), vec![pe, pp], vec![1, 1], strip);
    f.notes = curve_notes(&lines);
    f
}

/// `(0.1, 0.1, 2)`, or a single value when all three agree.
fn triple(v: &[f64]) -> String {
    if !v.is_empty() && v.iter().all(|x| *x == v[0]) {
        return num(v[0]);
    }
    format!("({})", v.iter().map(|&x| num(x)).collect::<Vec<_>>().join(", "))
}

/// The compact parameter line of a `[model]` run.
pub fn model_subtitle(m: &data::ModelParams) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(c) = &m.cutoffs {
        parts.push(format!("N_{{a,b,c}} = {}", c.iter().map(|&x| num(x)).collect::<Vec<_>>().join("×")));
    }
    if let Some(k) = &m.kappa {
        parts.push(if k.len() == 3 && !k.iter().all(|x| *x == k[0]) {
            format!("κ_{{a,b,c}} = {}", triple(k))
        } else {
            format!("κ = {}", triple(k))
        });
    }
    if let Some(g) = m.gamma {
        parts.push(format!("Γ = {}", num(g)));
    }
    if let Some(e) = m.drive {
        parts.push(format!("E = {}", num(e)));
    }
    if let Some(d) = &m.delta {
        parts.push(if d.len() == 3 && !d.iter().all(|x| *x == d[0]) {
            format!("δ_{{a,b,c}} = {}", triple(d))
        } else {
            format!("δ = {}", triple(d))
        });
    }
    if let Some(n) = &m.n_th {
        parts.push(if n.len() == 3 && !n.iter().all(|x| *x == n[0]) {
            format!("n_{{th;a,b,c}} = {}", triple(n))
        } else {
            format!("n_{{th}} = {}", triple(n))
        });
    }
    (!parts.is_empty()).then(|| parts.join(", ") + " (rates in the config unit)")
}

fn traces(t: &Traces) -> Figure {
    // Draw order: master, reduced, then the dashed moments on top.
    let mut order: Vec<&data::EngineTrace> = t.engines.iter().collect();
    order.sort_by_key(|e| match Engine::of_group(&e.engine) {
        Some(Engine::Master) => 0,
        Some(Engine::Reduced) => 1,
        _ => 2,
    });
    let lines = order
        .iter()
        .map(|e| {
            let (stroke, label) = engine_style(&e.engine);
            Curve { t: e.t.clone(), energy: e.energy.clone(), power: e.power.clone(), stroke, label: label.to_string() }
        })
        .collect();
    let names: Vec<&str> = t.engines.iter().map(|e| engine_style(&e.engine).1).collect();
    let mut title = vec![format!("Battery energy E_B and charging power P_B: {}", names.join(", "))];
    if let Some(m) = t.model.as_ref().and_then(model_subtitle) {
        title.push(m);
    }
    if let Some(p) = &t.point {
        let from = if t.reduced_time { "" } else { "mapped " };
        title.push(format!(
            "{from}reduced point γ_a = {}, γ_b = {}, δ_{{ra}} = {}, δ_{{rb}} = {}: {}{}",
            num(p.gamma_a),
            num(p.gamma_b),
            num(p.delta_ra),
            num(p.delta_rb),
            phase_words(&p.phase),
            realizable_words(p.realizable)
        ));
    }
    title.extend(protocol_subtitle(&t.protocol));
    let (tl, pl) = if t.reduced_time {
        (TAU_LABEL, "P_B = \\dE_B/\\dτ (ħω_b)")
    } else {
        (T_CONFIG_LABEL, "P_B = \\dE_B/\\dt (ħω_b per config time unit)")
    };
    let mut f = energy_power(title, tl, "E_B = ⟨b†b⟩ (ħω_b)", pl, lines);
    let sets: Vec<EventSet> = order
        .iter()
        .map(|e| EventSet { stroke: event_stroke(&e.engine), engine: engine_style(&e.engine).1, events: &e.events })
        .collect();
    add_marks(&mut f, &t.protocol, &sets);
    f
}

// ------------------------------------------------------------- protocol marks

/// Protocol steps: thin dashed grey lines at their start.
pub const STEP_STROKE: Stroke = dashed(GRAY, 1);
/// Ramps: a light grey band from the start of a step to the end of its ramp.
pub const RAMP_FILL: RGBColor = RGBColor(128, 128, 128);
pub const RAMP_OPACITY: f64 = 0.2;
pub const STEP_LEGEND: &str = "protocol step";
pub const RAMP_LEGEND: &str = "protocol ramp";
/// Event names: small, at the top of the energy panel.
const EVENT_FONT: u32 = 14;
const EVENT_TEXT: RGBColor = RGBColor(60, 60, 60);
/// Events (of any engine) within this fraction of the time axis of the first
/// of a group share one name label.
pub const EVENT_MERGE: f64 = 0.01;
/// The top fraction of the energy panel kept free of data for event names.
const EVENT_HEADROOM: f64 = 0.08;

/// The line of an engine's events: its colour and dash pattern, 1 px wide.
pub fn event_stroke(engine: &str) -> Stroke {
    Stroke { width: 1, ..engine_style(engine).0 }
}

/// The legend text of an engine's events.
pub fn event_legend(engine_label: &str) -> String {
    format!("event ({engine_label})")
}

/// One engine's events as drawn.
struct EventSet<'a> {
    stroke: Stroke,
    /// The engine's legend label ("master equation").
    engine: &'a str,
    events: &'a [data::Event],
}

fn on_axis(a: &Axis, t: f64) -> bool {
    t.is_finite() && t >= a.lo.min(a.hi) && t <= a.lo.max(a.hi)
}

/// Whether a ramp band `[t, t + ramp]` shows on the axis.
fn band_on_axis(a: &Axis, s: &ProtocolStep) -> bool {
    s.t.is_finite() && s.ramp > 0.0 && s.t < a.lo.max(a.hi) && s.t + s.ramp > a.lo.min(a.hi)
}

/// Vertical segments at `ts` (those on the time axis) spanning the value axis.
fn verticals(p: &Panel, ts: impl IntoIterator<Item = f64>) -> Vec<Segment> {
    ts.into_iter().filter(|&t| on_axis(&p.x, t)).map(|t| ((t, p.y.lo), (t, p.y.hi))).collect()
}

/// Makes the top `frac` of a value axis free of data (for labels).
fn headroom(a: &mut Axis, frac: f64) {
    if a.log && a.lo > 0.0 && a.hi > a.lo {
        let (l, h) = (a.lo.log10(), a.hi.log10());
        a.hi = 10f64.powf(l + (h - l) / (1.0 - frac));
    } else if !a.log && a.hi > a.lo {
        a.hi = a.lo + (a.hi - a.lo) / (1.0 - frac);
    }
}

/// The names written at the top of the energy panel: events (of any engine,
/// named) within [`EVENT_MERGE`] of the time axis of the first of a group get
/// one label, their distinct names joined, right of the group's last line (left
/// of its first near the right edge); left to right, a label that would overlap
/// the one before, or the frame, is dropped. `plot_px` is the plot's width in
/// pixels (an estimate). Returns (left edge in data, markup, colour).
fn event_labels(x: &Axis, sets: &[EventSet], plot_px: f64) -> Vec<(f64, String, RGBColor)> {
    let mut all: Vec<(f64, &str, usize)> = sets
        .iter()
        .enumerate()
        .flat_map(|(k, s)| s.events.iter().filter(|e| on_axis(x, e.t) && !e.name.trim().is_empty()).map(move |e| (e.t, e.name.trim(), k)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let span = (x.hi - x.lo).abs();
    let mut groups: Vec<Vec<(f64, &str, usize)>> = Vec::new();
    for e in all {
        match groups.last_mut() {
            Some(g) if e.0 - g[0].0 <= EVENT_MERGE * span => g.push(e),
            _ => groups.push(vec![e]),
        }
    }
    let px = |t: f64| norm(x, t) * plot_px;
    let mut out = Vec::new();
    let mut last_right = f64::NEG_INFINITY;
    for g in groups {
        let mut names: Vec<&str> = Vec::new();
        for e in &g {
            if !names.contains(&e.1) {
                names.push(e.1);
            }
        }
        let text = names.iter().map(|n| escape(n)).collect::<Vec<_>>().join(", ");
        let w = typeset::width(&text, f64::from(EVENT_FONT));
        let (first, last) = (px(g[0].0), px(g[g.len() - 1].0));
        let (mut l, mut r) = (last + 4.0, last + 4.0 + w);
        if r > plot_px - 4.0 {
            (l, r) = (first - 4.0 - w, first - 4.0);
        }
        if l < 4.0 || l < last_right + 8.0 {
            continue;
        }
        last_right = r;
        let color = if g.iter().all(|e| e.2 == g[0].2) { sets[g[0].2].stroke.color } else { EVENT_TEXT };
        out.push((denorm(x, l / plot_px), text, color));
    }
    out
}

/// Marks the protocol steps (dashed lines, ramp bands) and the engines' events
/// (thin lines in the engine's colours) on every panel of a time-trace figure,
/// under the curves, with their legend entries in the strip and the events'
/// names at the top of the energy panel. Marks off the time axis are left out
/// (and so are their legend entries).
fn add_marks(f: &mut Figure, steps: &[ProtocolStep], sets: &[EventSet]) {
    let plot_px = f64::from(f.size.0) / f.panels.len().max(1) as f64 - 160.0;
    let (mut any_step, mut any_ramp) = (false, false);
    let mut fired = vec![false; sets.len()];
    for (k, p) in f.panels.iter_mut().enumerate() {
        let labels = if k == 0 { event_labels(&p.x, sets, plot_px) } else { Vec::new() };
        if !labels.is_empty() {
            headroom(&mut p.y, EVENT_HEADROOM);
        }
        let mut marks: Vec<Shape> = steps
            .iter()
            .filter(|s| band_on_axis(&p.x, s))
            .map(|s| Shape::Rect { lo: (s.t, p.y.lo), hi: (s.t + s.ramp, p.y.hi), fill: RAMP_FILL, opacity: RAMP_OPACITY, label: None })
            .collect();
        any_ramp |= !marks.is_empty();
        let segs = verticals(p, steps.iter().map(|s| s.t));
        if !segs.is_empty() {
            any_step = true;
            marks.push(Shape::Segments { segs, stroke: STEP_STROKE, label: Some(STEP_LEGEND.into()) });
        }
        for (j, s) in sets.iter().enumerate() {
            let segs = verticals(p, s.events.iter().map(|e| e.t));
            if !segs.is_empty() {
                fired[j] = true;
                marks.push(Shape::Segments { segs, stroke: s.stroke, label: Some(event_legend(s.engine)) });
            }
        }
        p.shapes.splice(0..0, marks);
        let top = denorm(&p.y, 0.985);
        p.shapes.extend(labels.into_iter().map(|(x, text, color)| Shape::Text { at: (x, top), text, size: EVENT_FONT, color }));
    }
    if any_step {
        f.strip.push(LegendItem::Line(STEP_STROKE, STEP_LEGEND.into()));
    }
    if any_ramp {
        f.strip.push(LegendItem::Fill(RAMP_FILL, RAMP_OPACITY, RAMP_LEGEND.into()));
    }
    for (s, _) in sets.iter().zip(&fired).filter(|(_, f)| **f) {
        f.strip.push(LegendItem::Line(s.stroke, event_legend(s.engine)));
    }
}

/// The subtitle listing the protocol's steps (`protocol: t = 5: δ_{a,b,c} →
/// (1.2, −1.2, 0); t = 10 (ramp 2): Γ → 0.5`), on at most two lines; a long
/// protocol is summarized instead. Nothing without a step at a finite time.
pub fn protocol_subtitle(steps: &[ProtocolStep]) -> Vec<String> {
    let finite: Vec<&ProtocolStep> = steps.iter().filter(|s| s.t.is_finite()).collect();
    let (Some(first), Some(last)) = (finite.first(), finite.last()) else { return Vec::new() };
    let parts: Vec<String> = finite
        .iter()
        .map(|s| {
            let when = if s.ramp > 0.0 { format!("t = {} (ramp {})", num(s.t), num(s.ramp)) } else { format!("t = {}", num(s.t)) };
            if s.label.trim().is_empty() {
                when
            } else {
                format!("{when}: {}", step_label_markup(&s.label))
            }
        })
        .collect();
    let lines = wrap_balanced(&format!("protocol: {}", parts.join("; ")), 20.0, 1460.0);
    if lines.len() <= 2 {
        return lines;
    }
    vec![format!("protocol: {} steps from t = {} to t = {} (their settings: /protocol/step_labels)", finite.len(), num(first.t), num(last.t))]
}

/// A step label as written by qbsim (`model.delta=[1.2, -1.2, 0.0]`, several
/// separated by `,`, `;` or spaces) as markup with the symbols
/// (`δ_{a,b,c} → (1.2, −1.2, 0)`); anything else literally.
pub fn step_label_markup(label: &str) -> String {
    let Some(parts) = assignments(label) else { return escape(label.trim()) };
    parts
        .iter()
        .map(|(key, value)| {
            let list = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')).map(|v| v.split(',').map(str::trim).collect::<Vec<_>>());
            let sym = param_symbol(key).or_else(|| {
                let sub = match list.as_ref().map(Vec::len) {
                    Some(3) => "a,b,c",
                    _ => return None,
                };
                Some(match *key {
                    "model.delta" => format!("δ_{{{sub}}}"),
                    "model.kappa" => format!("κ_{{{sub}}}"),
                    "model.cutoffs" => format!("N_{{{sub}}}"),
                    "model.n_th" => format!("n_{{th;{sub}}}"),
                    _ => return None,
                })
            });
            let number = |v: &str| v.parse::<f64>().ok().filter(|x| x.is_finite()).map_or_else(|| escape(v), num);
            let value = match &list {
                Some(items) => format!("({})", items.iter().map(|v| number(v)).collect::<Vec<_>>().join(", ")),
                None => number(value),
            };
            format!("{} → {value}", sym.unwrap_or_else(|| escape(key)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `key=value` pairs (a value a number, a word or a `[…]` list); `None` if
/// the text is not only such pairs.
fn assignments(s: &str) -> Option<Vec<(&str, &str)>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c)) {
            return None;
        }
        let after = rest[eq + 1..].trim_start();
        let end = if after.starts_with('[') { after.find(']')? + 1 } else { after.find([',', ';', ' ']).unwrap_or(after.len()) };
        let value = after[..end].trim();
        if value.is_empty() {
            return None;
        }
        out.push((key, value));
        rest = after[end..].trim_start_matches([',', ';', ' ']);
    }
    (!out.is_empty()).then_some(out)
}

fn markers(m: &MarkerTraces) -> Figure {
    let same_delta = m.markers.windows(2).all(|w| w[0].delta_r == w[1].delta_r);
    let lines = m
        .markers
        .iter()
        .enumerate()
        .map(|(k, mk)| {
            let mut label = if same_delta { format!("α = {}", num(mk.alpha)) } else { format!("δ_r = {}, α = {}", num(mk.delta_r), num(mk.alpha)) };
            match (&mk.phase, mk.realizable) {
                (Some(p), Some(r)) => label += &format!(": {}{}", phase_words(p), if r { "" } else { ", not realizable" }),
                (Some(p), None) => label += &format!(": {}", phase_words(p)),
                _ => {}
            }
            Curve { t: m.tau.clone(), energy: mk.energy.clone(), power: mk.power.clone(), stroke: stroke(PALETTE[k % PALETTE.len()], 3), label }
        })
        .collect();
    let mut sub = String::new();
    if let Some(g) = m.gamma_b {
        sub += &format!("γ_b = {}", num(g));
    }
    if same_delta {
        if let Some(f) = m.markers.first() {
            sub += &format!(", δ_r = {}", num(f.delta_r));
        }
    }
    sub += "; drive E_r = 1, vacuum start";
    let title = vec!["Battery energy and power at the markers of the phase diagram".to_string(), sub];
    energy_power(title, TAU_LABEL, "E_B (E_r²)", "P_B = \\dE_B/\\dτ (E_r²)", lines)
}

/// Normalized (0..1) coordinate of a value on an axis, and back.
fn norm(a: &Axis, v: f64) -> f64 {
    if a.log {
        (v.log10() - a.lo.log10()) / (a.hi.log10() - a.lo.log10())
    } else {
        (v - a.lo) / (a.hi - a.lo)
    }
}

fn denorm(a: &Axis, u: f64) -> f64 {
    if a.log {
        10f64.powf(a.lo.log10() + u * (a.hi.log10() - a.lo.log10()))
    } else {
        a.lo + u * (a.hi - a.lo)
    }
}

/// Diagonal hatching of the flagged cells of a row-major `[ey.len() − 1,
/// ex.len() − 1]` mask (cell edges `ex`, `ey` on the axes `x`, `y`): one line
/// family across the plot, so neighbouring cells hatch seamlessly.
fn hatch_cells(mask: &[bool], (x, ex): (&Axis, &[f64]), (y, ey): (&Axis, &[f64])) -> Vec<Segment> {
    let (nx, ny) = (ex.len().saturating_sub(1), ey.len().saturating_sub(1));
    let mut segs = Vec::new();
    if mask.len() != nx * ny {
        return segs;
    }
    for r in merge_cells(mask, nx, ny) {
        let (u0, u1) = (norm(x, ex[r.j0]), norm(x, ex[r.j1]));
        let (v0, v1) = (norm(y, ey[r.i0]), norm(y, ey[r.i1]));
        let (u0, u1, v0, v1) = (u0.min(u1), u0.max(u1), v0.min(v1), v0.max(v1));
        for ((a, b), (c, d)) in hatch(u0, u1, v0, v1, HATCH_SPACING) {
            segs.push(((denorm(x, a), denorm(y, b)), (denorm(x, c), denorm(y, d))));
        }
    }
    segs
}

/// Spacing of hatch lines, as a fraction of the plot.
const HATCH_SPACING: f64 = 0.022;

fn phase(p: &PhaseMap) -> Figure {
    let (ex, ey) = (cell_edges(&p.delta_r, false), cell_edges(&p.alpha, false));
    let span = |e: &[f64]| extent(e).unwrap_or((-1.0, 1.0));
    let x = Axis::new(format!("δ_r{G_UNIT}"), span(&ex), false);
    let y = Axis::new(format!("α = (γ_a − γ_b)/2{G_UNIT}"), span(&ey), false);
    let (zlo, zhi) = extent(&p.growth).unwrap_or((-1.0, 1.0));
    let scale = ColorScale::Diverging { lo: zlo.min(0.0), hi: zhi.max(0.0) };
    let mut shapes = heat_cells(&p.delta_r, &p.alpha, &p.growth, &scale, false, false);
    let mut strip = Vec::new();
    if let Some(real) = &p.realizable {
        let mask: Vec<bool> = real.iter().map(|&r| r == 0).collect();
        let segs = hatch_cells(&mask, (&x, &ex), (&y, &ey));
        if !segs.is_empty() {
            let s = stroke(RGBColor(40, 40, 40), 1);
            shapes.push(Shape::Segments { segs, stroke: s, label: None });
            strip.push(LegendItem::Hatch(s, "not realizable: γ_a γ_b < 1".into()));
        }
    }
    let contour = zero_contour(&p.delta_r, &p.alpha, &p.growth);
    if !contour.is_empty() {
        let s = stroke(BLACK, 3);
        shapes.push(Shape::Segments { segs: contour, stroke: s, label: None });
        strip.push(LegendItem::Line(s, "phase boundary Re[−iλ₊] = 0".into()));
    }
    if !p.eps.is_empty() {
        let red = RGBColor(230, 0, 0);
        shapes.push(Shape::Points { pts: p.eps.clone(), marker: Marker::Diamond, size: 10, fill: red, edge: BLACK, label: None });
        strip.push(LegendItem::Point(Marker::Diamond, red, BLACK, "exceptional points".into()));
    }
    if !p.markers.is_empty() {
        shapes.push(Shape::Points { pts: p.markers.clone(), marker: Marker::Circle, size: 7, fill: WHITE, edge: BLACK, label: None });
        strip.push(LegendItem::Point(Marker::Circle, WHITE, BLACK, "trace markers (the markers figure)".into()));
    }
    let mut map = panel(x, y, shapes, Legend::None);
    map.grid = false;
    let bar = colorbar(&format!("Re[−iλ₊]{G_UNIT}"), scale, zlo.min(0.0), zhi.max(0.0));
    let gb = p.gamma_b.map_or(String::new(), |g| format!(", γ_b = {}", num(g)));
    let mut f = figure_of(
        vec![
            format!("Phase diagram: growth rate Re[−iλ₊] over (δ_r, α){gb}"),
            "red: broken phase (E_B grows exponentially), blue: unbroken (E_B saturates)".into(),
        ],
        (1250, 900),
        vec![map, bar],
        vec![11, 2],
        strip,
    );
    let bad = p.growth.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        f.notes.push(format!("Re[−iλ₊]: {bad} of {} grid points not finite (grey)", p.growth.len()));
    }
    f
}

fn eigen(e: &Eigen) -> Figure {
    let shift = |l: &num_complex::Complex64| *l + num_complex::Complex64::new(0.0, e.gamma_b);
    let single = e.rows.len() == 1;
    let mut re = Vec::new();
    let mut im = Vec::new();
    let mut strip = Vec::new();
    let mut bad = 0;
    // The paper's Fig. 2 style: λ₊ dashed over a solid λ₋ (black for one α).
    for (k, row) in e.rows.iter().enumerate() {
        let (cp, cm) = if single { (PALETTE[0], BLACK) } else { (PALETTE[k % PALETTE.len()], PALETTE[k % PALETTE.len()]) };
        if single {
            strip.push(LegendItem::Line(dashed(cp, 3), "λ₊ + iγ_b".into()));
            strip.push(LegendItem::Line(stroke(cm, 3), "λ₋ + iγ_b".into()));
        } else {
            strip.push(LegendItem::Line(stroke(cp, 3), format!("α = {}", num(row.alpha))));
        }
        bad += row.plus.iter().chain(&row.minus).filter(|l| !(l.re.is_finite() && l.im.is_finite())).count();
        for (part, out) in [(0, &mut re), (1, &mut im)] {
            let f = |l: &num_complex::Complex64| if part == 0 { shift(l).re } else { shift(l).im };
            let yp: Vec<f64> = row.plus.iter().map(f).collect();
            let ym: Vec<f64> = row.minus.iter().map(f).collect();
            out.push(Shape::Line { pts: pts(&e.delta_r, &ym), stroke: stroke(cm, 3), label: None });
            out.push(Shape::Line { pts: pts(&e.delta_r, &yp), stroke: dashed(cp, 3), label: None });
        }
    }
    if !single {
        strip.push(LegendItem::Line(dashed(BLACK, 3), "λ₊".into()));
        strip.push(LegendItem::Line(stroke(BLACK, 3), "λ₋".into()));
    }
    if !e.eps.is_empty() {
        // At an exceptional point λ± = −i(α + γ_b), so λ + iγ_b = −iα.
        let red = RGBColor(230, 0, 0);
        let at_re: Vec<(f64, f64)> = e.eps.iter().map(|&(d, _)| (d, 0.0)).collect();
        let at_im: Vec<(f64, f64)> = e.eps.iter().map(|&(d, a)| (d, -a)).collect();
        re.push(Shape::Points { pts: at_re, marker: Marker::Diamond, size: 10, fill: red, edge: BLACK, label: None });
        im.push(Shape::Points { pts: at_im, marker: Marker::Diamond, size: 10, fill: red, edge: BLACK, label: None });
        strip.push(LegendItem::Point(Marker::Diamond, red, BLACK, "exceptional points".into()));
    }
    let xr = extent(&e.delta_r).unwrap_or((-1.0, 1.0));
    let yext = |shapes: &[Shape]| {
        let v: Vec<f64> = shapes
            .iter()
            .flat_map(|s| match s {
                Shape::Line { pts, .. } | Shape::Points { pts, .. } => pts.iter().map(|p| p.1).collect(),
                _ => Vec::new(),
            })
            .collect();
        lin_range(extent(&v))
    };
    let dx = || Axis::new(format!("δ_r{G_UNIT}"), xr, false);
    let mut pr = panel(dx(), Axis::new(format!("Re(λ± + iγ_b){G_UNIT}"), yext(&re), false), re, Legend::None);
    pr.caption = Some("real part".into());
    let mut pi = panel(dx(), Axis::new(format!("Im(λ± + iγ_b){G_UNIT}"), yext(&im), false), im, Legend::None);
    pi.caption = Some("imaginary part".into());
    let title = if single {
        vec![
            format!("Eigenvalues of H_r shifted by iγ_b, vs δ_r at α = {}", num(e.rows[0].alpha)),
            format!("γ_b = {} (it drops out of λ± + iγ_b)", num(e.gamma_b)),
        ]
    } else {
        vec![
            "Eigenvalues of H_r shifted by iγ_b, vs δ_r, for several α".to_string(),
            format!("γ_b = {}; one colour per α, dashed λ₊, solid λ₋", num(e.gamma_b)),
        ]
    };
    let mut f = figure_of(title, (1500, 700), vec![pr, pi], vec![1, 1], strip);
    if bad > 0 {
        f.notes.push(format!("λ±: {bad} values not finite (omitted)"));
    }
    f
}

/// The y range of the critical-time plot: from 0 (a time is never negative),
/// set by the exact curve (it is the reference), with headroom above the
/// curves for the legend; Eq. (33)'s values beyond that are clipped.
fn tcrit_range(exact: &[f64], eq33: &[f64]) -> (f64, f64) {
    let pos = |v: &[f64]| extent(v.iter().filter(|x| **x > 0.0));
    match pos(exact).or_else(|| pos(eq33)) {
        Some((_, hi)) => (0.0, 1.45 * hi),
        None => (0.0, 1.0),
    }
}

/// The runs of a curve where `valid(i)` holds at consecutive samples, each
/// a polyline of its own: a curve is never drawn across an invalid sample
/// (a pole, a negative or non-finite value).
pub fn valid_runs(x: &[f64], y: &[f64], valid: impl Fn(usize) -> bool) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for i in 0..x.len().min(y.len()) {
        if valid(i) && x[i].is_finite() && y[i].is_finite() {
            cur.push((x[i], y[i]));
        } else if !cur.is_empty() {
            runs.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}

/// Runs joined into one polyline, separated by a non-finite point (where the
/// renderer lifts the pen).
fn joined(runs: Vec<Vec<(f64, f64)>>) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (k, r) in runs.into_iter().enumerate() {
        if k > 0 {
            out.push((f64::NAN, f64::NAN));
        }
        out.extend(r);
    }
    out
}

/// Where the paper's Eq. (33) is drawn: a positive, finite time in the
/// broken phase (it is the asymptotic time of exponential growth). Its pole
/// near the phase boundary lies between a sign change, so no line crosses it.
pub fn eq33_valid(t: &TCrit, i: usize) -> bool {
    let broken = t.growth.as_ref().is_none_or(|g| g.get(i).is_some_and(|&g| g > 0.0));
    t.eq33.get(i).is_some_and(|v| v.is_finite() && *v > 0.0) && broken
}

fn tcrit(t: &TCrit) -> Figure {
    let xr = extent(&t.delta_r).unwrap_or((-1.0, 1.0));
    let yr = tcrit_range(&t.exact, &t.eq33);
    let mut shapes = Vec::new();
    if let Some(g) = &t.growth {
        // Stable (unbroken) runs of δ_r, shaded from cell edge to cell edge.
        let ex = cell_edges(&t.delta_r, false);
        let mut first = true;
        let mut j = 0;
        while j < g.len() {
            if g[j] <= 0.0 {
                let j0 = j;
                while j < g.len() && g[j] <= 0.0 {
                    j += 1;
                }
                let label = first.then(|| "unbroken phase (Re[−iλ₊] ≤ 0): E_B saturates".to_string());
                first = false;
                shapes.push(Shape::Rect { lo: (ex[j0], yr.0), hi: (ex[j], yr.1), fill: RGBColor(160, 210, 160), opacity: 0.45, label });
            } else {
                j += 1;
            }
        }
    }
    shapes.push(Shape::Line {
        pts: joined(valid_runs(&t.delta_r, &t.exact, |i| t.exact[i] >= 0.0)),
        stroke: stroke(PALETTE[0], 4),
        label: Some("exact: first root of E_B(τ) = E_{max}".into()),
    });
    let eq33 = valid_runs(&t.delta_r, &t.eq33, |i| eq33_valid(t, i));
    let omitted = t.eq33.len() - eq33.iter().map(Vec::len).sum::<usize>();
    shapes.push(Shape::Line {
        pts: joined(eq33),
        stroke: dashed(PALETTE[3], 3),
        label: Some("paper's Eq. (33), asymptotic (where positive, broken phase)".into()),
    });
    let emax = t.e_max.map_or("E_{max}".to_string(), |e| format!("E_{{max}} = {} E_r²", num(e)));
    let gb = t.gamma_b.map_or(String::new(), |g| format!("γ_b = {}, ", num(g)));
    let mut f = single(
        vec![
            format!("Critical time to reach {emax}"),
            format!("{gb}α = {}; near the phase boundary the exact time grows steeply, Eq. (33) drops and turns negative", num(t.alpha)),
        ],
        (1150, 780),
        Axis::new(format!("δ_r{G_UNIT}"), xr, false),
        Axis::new("τ_{crit} = g t_{crit} (dimensionless)", yr, false),
        shapes,
    );
    let never = t.exact.iter().filter(|v| !v.is_finite()).count();
    if never > 0 {
        f.notes.push(format!("exact: E_{{max}} never reached at {never} of {} points (no value)", t.exact.len()));
    }
    if omitted > 0 {
        f.notes.push(format!("Eq. (33): omitted at {omitted} of {} points (undefined for |δ_r| ≥ 1, ≤ 0, or outside the broken phase)", t.eq33.len()));
    }
    f
}

/// Greedy word wrap of markup at `width` pixels of text of `size` pixels.
fn wrap(text: &str, size: f64, width: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && typeset::width(&format!("{cur} {w}"), size) > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Markup as lines of about equal width, none wider than `width` pixels at
/// `size` (a line up to 18 % too wide stays one line: the renderer shrinks
/// its font to fit).
fn wrap_balanced(text: &str, size: f64, width: f64) -> Vec<String> {
    let total = typeset::width(text, size);
    if total <= width * 1.18 {
        return vec![text.to_string()];
    }
    let n = (total / width).ceil();
    wrap(text, size, (total / n * 1.08).min(width))
}

fn validation(v: &Validation) -> Figure {
    match v {
        Validation::Verdict { point, verdict } => {
            let mut lines = vec![format!("reduced point: {point}"), String::new()];
            lines.extend(wrap(&verdict_markup(verdict), 20.0, 1050.0));
            let shapes = lines
                .iter()
                .enumerate()
                .map(|(k, l)| Shape::Text { at: (0.03, 0.95 - 0.075 * k as f64), text: l.clone(), size: 20, color: BLACK })
                .collect();
            let mut p = panel(Axis::new("", (0.0, 1.0), false), Axis::new("", (0.0, 1.0), false), shapes, Legend::None);
            p.frame = false;
            figure_of(vec!["Validation of the reduced model: not realizable, nothing was run".into()], (1150, 520), vec![p], vec![1], Vec::new())
        }
        Validation::Errors { point, verdict, ratio, err_moments_reduced, err_master_moments, slope } => {
            let mut shapes = Vec::new();
            let slope_txt = slope.map_or(String::new(), |s| format!(", fitted slope {} (expected −1)", num((s * 1000.0).round() / 1000.0)));
            let mut all: Vec<f64> = err_moments_reduced.clone();
            let mut notes: Vec<String> = Vec::new();
            shapes.push(Shape::Line {
                pts: pts(ratio, err_moments_reduced),
                stroke: stroke(PALETTE[0], 3),
                label: Some(format!("reduction error |moments − reduced| / max E_B{slope_txt}")),
            });
            shapes.push(Shape::Points { pts: pts(ratio, err_moments_reduced), marker: Marker::Circle, size: 6, fill: PALETTE[0], edge: PALETTE[0], label: None });
            notes.extend(not_finite_note("reduction error", err_moments_reduced));
            // The 1/r law through the first point, for the eye.
            if let (Some(&r0), Some(&e0)) = (ratio.first(), err_moments_reduced.first()) {
                let refl: Vec<(f64, f64)> = ratio.iter().map(|&r| (r, e0 * r0 / r)).collect();
                all.extend(refl.iter().map(|p| p.1));
                shapes.push(Shape::Line { pts: refl, stroke: dashed(GRAY, 2), label: Some("∝ 1/r".into()) });
            }
            if let Some(mm) = err_master_moments {
                all.extend(mm.iter().copied());
                shapes.push(Shape::Line {
                    pts: pts(ratio, mm),
                    stroke: stroke(PALETTE[1], 3),
                    label: Some("|master − moments| (E_r²): integrator and truncation".into()),
                });
                shapes.push(Shape::Points { pts: pts(ratio, mm), marker: Marker::Square, size: 6, fill: PALETTE[1], edge: PALETTE[1], label: None });
                notes.extend(not_finite_note("|master − moments|", mm));
            }
            let pos = |v: &[f64]| extent(v.iter().filter(|x| **x > 0.0)).unwrap_or((1e-3, 1.0));
            let (xl, xh) = pos(ratio);
            let (yl, yh) = pos(&all);
            let x = Axis::new("elimination ratio r = |M_{cc}| / max(|M_{aa}|, |M_{bb}|)", log_range(xl, xh), true);
            // Headroom above the data for the legend.
            let y = Axis::new("max error of E_B over the run", log_range(yl, yh * 300.0), true);
            let mut title = vec![format!("Validation of the reduced model at {point}")];
            if let Some(v) = verdict {
                title.extend(wrap_balanced(&verdict_markup(v), 20.0, 1110.0));
            }
            let mut f = single(title, (1150, 800), x, y, shapes);
            f.notes = notes;
            f
        }
    }
}

/// Words for a sweep scalar's name, unit last: `energy_b_final` →
/// "E_B at the last save (ħω_b)" (markup; an unknown name literally).
pub fn quantity_label(name: &str) -> String {
    let (base, fin) = match name.strip_suffix("_final") {
        Some(b) => (b, " at the last save"),
        None => (name, ""),
    };
    let escaped;
    let (words, unit) = match base {
        "energy_b" => ("E_B", " (ħω_b)"),
        "power_b" => ("P_B", ""),
        "n_a" => ("⟨a†a⟩", ""),
        "n_b" => ("⟨b†b⟩", ""),
        "n_c" => ("⟨c†c⟩", ""),
        "ergotropy_b" => ("ergotropy of b", " (ħω_b)"),
        "entropy_b" => ("entropy of b", " (nats)"),
        "purity_b" => ("purity of b", ""),
        "growth_rate" => ("growth rate Re[−iλ₊]", G_UNIT),
        "steady_energy_b" => ("steady-state E_B", " (ħω_b)"),
        "wall_time_s" => ("wall time", " (\\s)"),
        other => {
            escaped = escape(other);
            (escaped.as_str(), "")
        }
    };
    format!("{words}{fin}{unit}")
}

fn sweep_line(s: &SweepLine) -> Figure {
    let xs: Vec<f64> = s.series.iter().flat_map(|c| c.x.iter().copied()).collect();
    let xlog = is_log_spaced(&xs);
    let ys: Vec<f64> = s.series.iter().flat_map(|c| c.y.iter().copied()).collect();
    let ylog = extent(&ys).is_some_and(|(lo, hi)| lo > 0.0 && hi / lo > 1e3);
    let xlabel = param_label(&s.x_key);
    let x = {
        let (lo, hi) = extent(&xs).unwrap_or((0.0, 1.0));
        if xlog {
            Axis::new(&xlabel, log_range(lo, hi), true)
        } else {
            Axis::new(&xlabel, lin_range(Some((lo, hi))), false)
        }
    };
    let label = quantity_label(&s.y_name);
    let y = match extent(&ys) {
        Some((lo, hi)) if ylog => Axis::new(&label, log_range(lo, hi), true),
        e => Axis::new(&label, lin_range(e), false),
    };
    let markers = [Marker::Circle, Marker::Square, Marker::Triangle, Marker::Diamond];
    let mut shapes = Vec::new();
    let mut notes = Vec::new();
    for (k, c) in s.series.iter().enumerate() {
        let (st, name) = if Engine::of_group(&c.label).is_some() {
            engine_style(&c.label)
        } else {
            (stroke(PALETTE[k % PALETTE.len()], 2), c.label.as_str())
        };
        let path = escape(&format!("/{}/{}", c.label, s.y_name));
        shapes.push(Shape::Line { pts: pts(&c.x, &c.y), stroke: st, label: Some(format!("{} ({path})", escape(name))) });
        if c.x.len() <= 60 {
            let m = markers[k % markers.len()];
            shapes.push(Shape::Points { pts: pts(&c.x, &c.y), marker: m, size: 5, fill: st.color, edge: st.color, label: None });
        }
        notes.extend(not_finite_note(&path, &c.y));
    }
    let sym = param_symbol(&s.x_key).unwrap_or_else(|| escape(&s.x_key));
    let mut f = single(vec![format!("Sweep: {} vs {sym}", quantity_label(&s.y_name))], (1150, 760), x, y, shapes);
    f.notes = notes;
    f
}

fn sweep_map(s: &SweepMap) -> Figure {
    let (xlog, ylog) = (is_log_spaced(&s.x), is_log_spaced(&s.y));
    let (ex, ey) = (cell_edges(&s.x, xlog), cell_edges(&s.y, ylog));
    let span = |e: &[f64]| extent(e).unwrap_or((0.0, 1.0));
    let x = Axis::new(param_label(&s.x_key), span(&ex), xlog);
    let y = Axis::new(param_label(&s.y_key), span(&ey), ylog);
    let (zlo, zhi) = extent(&s.z).unwrap_or((0.0, 1.0));
    let zlog = zlo > 0.0 && zhi / zlo > 1e3;
    let (zlo, zhi) = if zhi > zlo { (zlo, zhi) } else if zlog { (zlo / 2.0, zhi * 2.0) } else { (zlo - 0.5, zhi + 0.5) };
    let scale = ColorScale::Sequential { lo: zlo, hi: zhi, log: zlog };
    let mut map = panel(x, y, heat_cells(&s.x, &s.y, &s.z, &scale, xlog, ylog), Legend::None);
    map.grid = false;
    let label = quantity_label(&s.z_name);
    let bar = colorbar(&label, scale, zlo, zhi);
    let sym = |k: &str| param_symbol(k).unwrap_or_else(|| escape(k));
    let sub = format!("{} over {} × {}", escape(&format!("/{}/{}", s.group, s.z_name)), sym(&s.x_key), sym(&s.y_key));
    let mut f = figure_of(vec![format!("Sweep: {label}"), sub], (1250, 860), vec![map, bar], vec![11, 2], Vec::new());
    let bad = s.z.iter().filter(|v| !v.is_finite()).count();
    let nonpos = if zlog { s.z.iter().filter(|v| v.is_finite() && **v <= 0.0).count() } else { 0 };
    if bad > 0 {
        f.notes.push(format!("{bad} of {} points not finite or missing (grey)", s.z.len()));
    }
    if nonpos > 0 {
        f.notes.push(format!("{nonpos} points ≤ 0 on the log colour scale (grey)"));
    }
    f
}

// ------------------------------------------------------------- validity maps

/// Validity maps: the cells where nothing was run (not realizable) are white,
/// hatched in dark grey.
pub const UNREALIZABLE_FILL: RGBColor = WHITE;
pub const UNREALIZABLE_HATCH: Stroke = stroke(RGBColor(70, 70, 70), 1);
pub const UNREALIZABLE_LEGEND: &str = "not realizable (γ_a γ_b < 1)";
/// Validity maps: +∞ (the error never falls to the target), a colour outside
/// the viridis scale.
pub const INFINITE_FILL: RGBColor = RGBColor(222, 45, 190);
/// The phase boundary: black on a white halo, visible on any colour.
pub const BOUNDARY_STROKE: Stroke = stroke(BLACK, 3);
const BOUNDARY_HALO: Stroke = stroke(WHITE, 7);
pub const BOUNDARY_LEGEND: &str = "phase boundary Re[−iλ₊] = 0";
/// The name written into the broken phase of a validity map.
pub const BROKEN_LABEL: &str = "broken phase (Re[−iλ₊] > 0)";
const BROKEN_FONT: u32 = 17;
pub const EP_FILL: RGBColor = RGBColor(230, 0, 0);

/// The label of a validity-map axis: δ_r and α as in the phase diagram.
fn validity_axis_label(key: &str) -> String {
    match key.rsplit('.').next().unwrap_or(key) {
        "delta_r" => format!("δ_r{G_UNIT}"),
        "alpha" => format!("α = (γ_a − γ_b)/2{G_UNIT}"),
        _ => param_label(key),
    }
}

/// Words for a `/validation` scalar of a validity map.
pub fn validity_quantity(name: &str, target: Option<f64>) -> String {
    match name {
        "r_needed" => match target {
            Some(t) => format!("log_{{10}} r_{{needed}} (error ≤ {} %)", num(t * 100.0)),
            None => "log_{10} r_{needed}".into(),
        },
        "slope" => "log–log slope of the error vs r (expected −1)".into(),
        "err_moments_reduced_final" => "reduction error at the largest r".into(),
        "gamma_product" => "γ_a γ_b".into(),
        other => quantity_label(other),
    }
}

/// Where a label box of `(w, h)` (fractions of the plot) fits inside the
/// region `z > 0` of a grid (row-major `[y.len(), x.len()]`) without touching
/// its zero contour or the frame: the centre (data coordinates) of the
/// candidate with the most room, `None` if there is none.
pub fn region_label_spot(x: &Axis, y: &Axis, g: &data::GrowthGrid, contour: &[Segment], (w, h): (f64, f64)) -> Option<(f64, f64)> {
    let (nx, ny) = (g.x.len(), g.y.len());
    if nx < 2 || ny < 2 || g.z.len() != nx * ny {
        return None;
    }
    let (hw, hh) = (w / 2.0, h / 2.0);
    let pts: Vec<(f64, f64)> = contour.iter().flat_map(|&(a, b)| [a, b, ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)]).map(|p| (norm(x, p.0), norm(y, p.1))).collect();
    let stride = (nx.max(ny) / 60).max(1);
    let mut best: Option<(f64, (f64, f64))> = None;
    for i in (0..ny).step_by(stride) {
        for j in (0..nx).step_by(stride) {
            if !(g.z[i * nx + j] > 0.0) {
                continue;
            }
            let (u, v) = (norm(x, g.x[j]), norm(y, g.y[i]));
            // Room in units of the half box: to the frame, and to the contour.
            let frame = ((u.min(1.0 - u)) / hw).min(v.min(1.0 - v) / hh);
            let room = pts.iter().map(|q| ((q.0 - u).abs() / hw).max((q.1 - v).abs() / hh)).fold(frame, f64::min);
            // Every grid point under the box must be in the region too.
            let inside = (0..ny).step_by(stride).all(|a| {
                (0..nx).step_by(stride).all(|b| {
                    let (p, q) = (norm(x, g.x[b]), norm(y, g.y[a]));
                    (p - u).abs() > hw || (q - v).abs() > hh || g.z[a * nx + b] > 0.0
                })
            });
            if room > 1.15 && inside && best.is_none_or(|b| room > b.0) {
                best = Some((room, (g.x[j], g.y[i])));
            }
        }
    }
    best.map(|b| b.1)
}

/// A heat map of `r_needed` (in log10) or another `/validation` scalar over the
/// grid of a validity sweep, with the unrealizable cells hatched, +∞ in a
/// colour of its own, and the reduced model's phase boundary and exceptional
/// points on top.
fn validity_map(v: &ValidityMap) -> Figure {
    let (nx, ny) = (v.x.len(), v.y.len());
    let (xlog, ylog) = (is_log_spaced(&v.x), is_log_spaced(&v.y));
    let (ex, ey) = (cell_edges(&v.x, xlog), cell_edges(&v.y, ylog));
    let span = |e: &[f64]| extent(e).unwrap_or((0.0, 1.0));
    let x = Axis::new(validity_axis_label(&v.x_key), span(&ex), xlog);
    let y = Axis::new(validity_axis_label(&v.y_key), span(&ey), ylog);
    let is_r = v.z_name == "r_needed";
    // r_needed in decades (+∞ stays +∞); nothing is drawn for r ≤ 0.
    let z: Vec<f64> = if is_r { v.z.iter().map(|&r| if r > 0.0 { r.log10() } else { f64::NAN }).collect() } else { v.z.clone() };
    let drawn = |k: usize| !v.unrealizable.get(k).copied().unwrap_or(false);
    let finite: Vec<f64> = z.iter().enumerate().filter(|&(k, c)| c.is_finite() && drawn(k)).map(|(_, &c)| c).collect();
    let (zlo, zhi) = extent(&finite).unwrap_or((0.0, 1.0));
    let zlog = !is_r && zlo > 0.0 && zhi / zlo > 1e3;
    let (zlo, zhi) = if zhi > zlo {
        (zlo, zhi)
    } else if zlog {
        (zlo / 2.0, zhi * 2.0)
    } else {
        (zlo - 0.5, zhi + 0.5)
    };
    let scale = ColorScale::Sequential { lo: zlo, hi: zhi, log: zlog };
    let mut shapes = heat_cells(&v.x, &v.y, &z, &scale, xlog, ylog);
    let mut strip = Vec::new();
    let rects = |mask: &[bool], fill: RGBColor| -> Vec<Shape> {
        merge_cells(mask, nx, ny)
            .into_iter()
            .map(|r| Shape::Rect { lo: (ex[r.j0], ey[r.i0]), hi: (ex[r.j1], ey[r.i1]), fill, opacity: 1.0, label: None })
            .collect()
    };
    let infinite: Vec<bool> = (0..z.len()).map(|k| z[k] == f64::INFINITY && drawn(k)).collect();
    if infinite.iter().any(|&b| b) {
        shapes.extend(rects(&infinite, INFINITE_FILL));
        let what = if is_r {
            match v.target {
                Some(t) => format!("r_{{needed}} = ∞: error above {} % at every r, not falling", num(t * 100.0)),
                None => "r_{needed} = ∞: error above target at every r, not falling".into(),
            }
        } else {
            format!("{} = +∞", validity_quantity(&v.z_name, v.target))
        };
        strip.push(LegendItem::Fill(INFINITE_FILL, 1.0, what));
    }
    if v.unrealizable.iter().any(|&b| b) {
        shapes.extend(rects(&v.unrealizable, UNREALIZABLE_FILL));
        let segs = hatch_cells(&v.unrealizable, (&x, &ex), (&y, &ey));
        shapes.push(Shape::Segments { segs, stroke: UNREALIZABLE_HATCH, label: None });
        strip.push(LegendItem::Hatch(UNREALIZABLE_HATCH, UNREALIZABLE_LEGEND.into()));
    }
    if let Some(g) = &v.growth {
        let contour = zero_contour(&g.x, &g.y, &g.z);
        if !contour.is_empty() {
            // The broken side named, on a white box (it lies in the hatched,
            // unrealizable region: no data is hidden), where it fits. The
            // plot's size is that of this figure's map panel, estimated.
            let (pw, ph) = (920.0, 650.0);
            let (tw, th) = (typeset::width(BROKEN_LABEL, f64::from(BROKEN_FONT)) + 16.0, f64::from(BROKEN_FONT) * 1.6);
            if let Some((cx, cy)) = region_label_spot(&x, &y, g, &contour, (tw / pw, th / ph)) {
                let (u, v) = (norm(&x, cx), norm(&y, cy));
                let (hw, hh) = (tw / pw / 2.0, th / ph / 2.0);
                let lo = (denorm(&x, u - hw), denorm(&y, v - hh));
                let hi = (denorm(&x, u + hw), denorm(&y, v + hh));
                shapes.push(Shape::Rect { lo, hi, fill: WHITE, opacity: 1.0, label: None });
                let at = (denorm(&x, u - hw + 8.0 / pw), denorm(&y, v + hh - 0.25 * f64::from(BROKEN_FONT) / ph));
                shapes.push(Shape::Text { at, text: BROKEN_LABEL.into(), size: BROKEN_FONT, color: BLACK });
            }
            shapes.push(Shape::Segments { segs: contour.clone(), stroke: BOUNDARY_HALO, label: None });
            shapes.push(Shape::Segments { segs: contour, stroke: BOUNDARY_STROKE, label: None });
            strip.push(LegendItem::Line(BOUNDARY_STROKE, BOUNDARY_LEGEND.into()));
        }
    }
    if !v.eps.is_empty() {
        shapes.push(Shape::Points { pts: v.eps.clone(), marker: Marker::Diamond, size: 10, fill: EP_FILL, edge: BLACK, label: None });
        strip.push(LegendItem::Point(Marker::Diamond, EP_FILL, BLACK, "exceptional points (δ_r = ±1, α = 0)".into()));
    }
    let mut map = panel(x, y, shapes, Legend::None);
    map.grid = false;
    let label = validity_quantity(&v.z_name, v.target);
    let bar = colorbar(&label, scale, zlo, zhi);
    let gb = v.gamma_b.map_or(String::new(), |g| format!(" (γ_b = {})", num(g)));
    let mut title = vec![format!("Validity of the reduced model{gb}")];
    let sym = |k: &str| param_symbol(k).unwrap_or_else(|| escape(k));
    let detuning = if v.symmetric { "; δ_{ra} = −δ_{rb} = δ_r" } else { "" };
    if is_r {
        let err = v.target.map_or("the target".to_string(), |t| format!("{} %", num(t * 100.0)));
        title.push(format!("r_{{needed}}: the smallest elimination ratio r = |M_{{cc}}| / max(|M_{{aa}}|, |M_{{bb}}|) with a reduction error ≤ {err} of max E_B{detuning}"));
    } else {
        title.push(format!("{}: {label}, over {} × {}{detuning}", escape(&format!("/validation/{}", v.z_name)), sym(&v.x_key), sym(&v.y_key)));
    }
    // Where the value is largest and smallest, in words.
    let at = |k: usize| format!("{} = {}, {} = {}", sym(&v.x_key), num(v.x[k % nx]), sym(&v.y_key), num(v.y[k / nx]));
    let cells: Vec<usize> = (0..v.z.len()).filter(|&k| v.z[k].is_finite() && drawn(k)).collect();
    let hi = cells.iter().copied().max_by(|&a, &b| v.z[a].total_cmp(&v.z[b]));
    let lo = cells.iter().copied().min_by(|&a, &b| v.z[a].total_cmp(&v.z[b]));
    if let (Some(hi), Some(lo)) = (hi, lo) {
        let name = if is_r { "r_{needed} =" } else { "value" };
        title.push(format!("largest {name} {} at {}; smallest {} at {}", num(v.z[hi]), at(hi), num(v.z[lo]), at(lo)));
    }
    let mut f = figure_of(title, (1250, 920), vec![map, bar], vec![11, 2], strip);
    let missing = (0..z.len()).filter(|&k| !z[k].is_finite() && z[k] != f64::INFINITY && drawn(k)).count();
    if missing > 0 {
        f.notes.push(format!("{missing} of {} grid points have no value (grey)", z.len()));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scale_only_when_the_late_curve_spans_decades() {
        let t: Vec<f64> = (0..101).map(|k| k as f64 * 0.1).collect();
        // Saturating from the vacuum: t⁴ at first, but flat later → linear.
        let sat: Vec<f64> = t.iter().map(|&t| (1.0 - (-t).exp()).powi(2) * 4.0).collect();
        assert!(log_scale_for(&[(&t, &sat)]).is_none());
        // Exponential growth e^{2t}: the late curve spans e^18 → log, and the
        // range starts near the value at 10 % of the time.
        let grow: Vec<f64> = t.iter().map(|&t| (2.0 * t).exp() - 1.0).collect();
        let (lo, hi) = log_scale_for(&[(&t, &grow)]).unwrap();
        assert!(lo < grow[10] && lo > grow[10] / 10.0 && hi > grow[100]);
        // Negative late values never get a log axis.
        let neg: Vec<f64> = grow.iter().map(|g| -g).collect();
        assert!(log_scale_for(&[(&t, &neg)]).is_none());
    }

    #[test]
    fn diverging_scale_is_white_at_zero_and_keeps_the_sign() {
        let s = ColorScale::Diverging { lo: -2.0, hi: 0.5 };
        assert_eq!(s.color(0.0), BLUES[0]);
        let (neg, pos) = (s.color(-2.0), s.color(0.5));
        assert!(neg.2 > neg.0, "negative is blue: {neg:?}");
        assert!(pos.0 > pos.2, "positive is red: {pos:?}");
        assert_eq!(s.color(f64::NAN), MISSING);
        let q = ColorScale::Sequential { lo: 1.0, hi: 1e4, log: true };
        assert_eq!(q.color(1.0), VIRIDIS[0]);
        assert_eq!(q.color(1e4), VIRIDIS[6]);
        assert_eq!(q.color(-1.0), MISSING);
    }

    #[test]
    fn log_spacing_is_detected() {
        let lg: Vec<f64> = (0..8).map(|k| 10f64.powf(-0.5 + 0.25 * k as f64)).collect();
        assert!(is_log_spaced(&lg));
        assert!(!is_log_spaced(&[1.0, 2.0, 3.0, 4.0]));
        assert!(!is_log_spaced(&[-1.0, 2.0, 3.0]));
    }

    #[test]
    fn tcrit_range_follows_the_exact_curve() {
        let (lo, hi) = tcrit_range(&[7.0, 60.0, f64::NAN, f64::INFINITY], &[6.9, -1600.0, 220.0]);
        assert!(lo == 0.0 && hi > 60.0 && hi < 100.0);
    }

    #[test]
    fn verdicts_read_with_symbols() {
        let v = verdict_markup("not realizable: gamma_a*gamma_b = 0.250000 < 1 at delta_r = 0 and alpha = 0.000000; falls like r^-0.992 (expected -1), 6.70e-4 at r = 1.000e3");
        assert_eq!(
            typeset::plain(&v),
            "not realizable: γ_a γ_b = 0.25 < 1 at δ_r = 0 and α = 0; falls like r^−0.992 (expected −1), 6.7×10^−4 at r = 10^3"
        );
    }

    #[test]
    fn wrap_keeps_words_and_width() {
        let w = |s: &str| typeset::width(s, 20.0);
        let l = wrap("a bb ccc dddd eeeee", 20.0, w("dddd") + 1.0);
        assert_eq!(l, vec!["a bb", "ccc", "dddd", "eeeee"]);
    }

    #[test]
    fn heat_cells_merge_equal_colours_and_cover_the_grid() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let y = [0.0, 1.0];
        let z = [-1.0, -1.0, 1.0, f64::NAN, 0.0, 0.0, 0.0, 0.0];
        let s = ColorScale::Diverging { lo: -1.0, hi: 1.0 };
        let cells = heat_cells(&x, &y, &z, &s, false, false);
        assert_eq!(cells.len(), 4, "{cells:?}");
        let area: f64 = cells
            .iter()
            .map(|c| match c {
                Shape::Rect { lo, hi, .. } => (hi.0 - lo.0) * (hi.1 - lo.1),
                _ => 0.0,
            })
            .sum();
        assert!((area - 8.0).abs() < 1e-12);
    }
}

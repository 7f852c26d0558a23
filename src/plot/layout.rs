//! Figure data → figures: panels of plain shapes in data coordinates, with the
//! axis ranges, scales, colours and labels decided here (and tested here), so
//! the renderer only draws what it is given.

use super::data::{self, num, Eigen, FigureData, MarkerTraces, PhaseMap, SweepLine, SweepMap, TCrit, Traces, Validation};
use super::geometry::{cell_edges, hatch, merge_cells, zero_contour, Segment};
use plotters::style::RGBColor;

/// One image: title lines, an optional legend strip under them, and panels
/// side by side with relative widths.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The first line is the title proper; further lines are smaller subtitles.
    pub title: Vec<String>,
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
    match engine {
        "master" => (stroke(PALETTE[0], 4), "master equation"),
        "moments" => (dashed(PALETTE[1], 2), "exact moments"),
        _ => (stroke(PALETTE[2], 2), "reduced model"),
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

/// The legend's size as fractions of the plot of a single-panel figure of
/// `size` pixels (the renderer's fonts, margins and label areas).
fn legend_frac(shapes: &[Shape], size: (u32, u32)) -> (f64, f64) {
    let labels: Vec<usize> = shapes
        .iter()
        .filter_map(|s| match s {
            Shape::Line { label, .. } | Shape::Segments { label, .. } | Shape::Points { label, .. } | Shape::Rect { label, .. } => {
                label.as_ref().map(|l| l.chars().count())
            }
            Shape::Text { .. } => None,
        })
        .collect();
    let chars = labels.iter().copied().max().unwrap_or(0) as f64;
    let plot_w = f64::from(size.0).max(400.0) - 160.0;
    let plot_h = f64::from(size.1).max(300.0) - 200.0;
    ((chars * 9.4 + 90.0) / plot_w, (labels.len() as f64 * 24.0 + 40.0) / plot_h)
}

/// A single-panel figure whose legend goes where it hides the least.
fn single(title: Vec<String>, size: (u32, u32), x: Axis, y: Axis, shapes: Vec<Shape>) -> Figure {
    let legend = quiet_corner(&x, &y, &shapes, legend_frac(&shapes, size));
    Figure { title, size, panels: vec![panel(x, y, shapes, legend)], widths: vec![1], strip: Vec::new() }
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
    }
}

fn phase_words(phase: &str) -> String {
    match phase {
        "exceptional_point" => "exceptional point".into(),
        p => format!("{p} phase"),
    }
}

fn realizable_words(r: Option<bool>) -> &'static str {
    match r {
        Some(true) => " (realizable)",
        Some(false) => " (not realizable by a passive system)",
        None => "",
    }
}

/// One curve of an energy/power figure.
struct Curve {
    t: Vec<f64>,
    energy: Vec<f64>,
    power: Vec<f64>,
    stroke: Stroke,
    label: String,
}

/// Two panels side by side: E_B(t) and P_B(t).
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
    Figure { title, size: (1500, 680), panels: vec![pe, pp], widths: vec![1, 1], strip }
}

fn traces(t: &Traces) -> Figure {
    // Draw order: master, reduced, then the dashed moments on top.
    let mut order: Vec<&data::EngineTrace> = t.engines.iter().collect();
    order.sort_by_key(|e| match e.engine.as_str() {
        "master" => 0,
        "reduced" => 1,
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
    if let Some(p) = &t.point {
        title.push(format!(
            "reduced point γ_a = {}, γ_b = {}, δ_ra = {}, δ_rb = {}: {}{}",
            num(p.gamma_a),
            num(p.gamma_b),
            num(p.delta_ra),
            num(p.delta_rb),
            phase_words(&p.phase),
            realizable_words(p.realizable)
        ));
    }
    let (tl, pl) = if t.reduced_time {
        ("τ = g t (1/g)", "P_B = dE_B/dτ (ħω_b·g)")
    } else {
        ("t (time unit of the config)", "P_B = dE_B/dt (ħω_b per time unit)")
    };
    energy_power(title, tl, "E_B = ⟨b†b⟩ (ħω_b)", pl, lines)
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
    energy_power(title, "τ = g t (1/g)", "E_B (E_r²)", "P_B = dE_B/dτ (E_r²·g)", lines)
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

fn phase(p: &PhaseMap) -> Figure {
    let (nx, ny) = (p.delta_r.len(), p.alpha.len());
    let (ex, ey) = (cell_edges(&p.delta_r, false), cell_edges(&p.alpha, false));
    let xr = (ex[0].min(ex[nx]), ex[0].max(ex[nx]));
    let yr = (ey[0].min(ey[ny]), ey[0].max(ey[ny]));
    let x = Axis::new("δ_r (g)", xr, false);
    let y = Axis::new("α = (γ_a − γ_b)/2 (g)", yr, false);
    let (zlo, zhi) = extent(&p.growth).unwrap_or((-1.0, 1.0));
    let scale = ColorScale::Diverging { lo: zlo.min(0.0), hi: zhi.max(0.0) };
    let mut shapes = heat_cells(&p.delta_r, &p.alpha, &p.growth, &scale, false, false);
    let mut strip = Vec::new();
    if let Some(real) = &p.realizable {
        let mask: Vec<bool> = real.iter().map(|&r| r == 0).collect();
        let mut segs = Vec::new();
        for r in merge_cells(&mask, nx, ny) {
            let (u0, u1) = (norm(&x, ex[r.j0]), norm(&x, ex[r.j1]));
            let (v0, v1) = (norm(&y, ey[r.i0]), norm(&y, ey[r.i1]));
            let (u0, u1, v0, v1) = (u0.min(u1), u0.max(u1), v0.min(v1), v0.max(v1));
            for ((a, b), (c, d)) in hatch(u0, u1, v0, v1, 0.022) {
                segs.push(((denorm(&x, a), denorm(&y, b)), (denorm(&x, c), denorm(&y, d))));
            }
        }
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
        strip.push(LegendItem::Point(Marker::Circle, WHITE, BLACK, "trace markers (_markers figure)".into()));
    }
    let mut map = panel(x, y, shapes, Legend::None);
    map.grid = false;
    let bar = colorbar("Re[−iλ₊] (g)", scale, zlo.min(0.0), zhi.max(0.0));
    let gb = p.gamma_b.map_or(String::new(), |g| format!(", γ_b = {}", num(g)));
    Figure {
        title: vec![
            format!("Phase diagram: growth rate Re[−iλ₊] over (δ_r, α){gb}"),
            "red: broken phase (E_B grows exponentially), blue: unbroken (E_B saturates)".into(),
        ],
        size: (1250, 900),
        panels: vec![map, bar],
        widths: vec![11, 2],
        strip,
    }
}

fn eigen(e: &Eigen) -> Figure {
    let shift = |l: &num_complex::Complex64| *l + num_complex::Complex64::new(0.0, e.gamma_b);
    let single = e.rows.len() == 1;
    let mut re = Vec::new();
    let mut im = Vec::new();
    let mut strip = Vec::new();
    // The paper's Fig. 2 style: λ₊ dashed over a solid λ₋ (black for one α).
    for (k, row) in e.rows.iter().enumerate() {
        let (cp, cm) = if single { (PALETTE[0], BLACK) } else { (PALETTE[k % PALETTE.len()], PALETTE[k % PALETTE.len()]) };
        if single {
            strip.push(LegendItem::Line(dashed(cp, 3), "λ₊ + iγ_b".into()));
            strip.push(LegendItem::Line(stroke(cm, 3), "λ₋ + iγ_b".into()));
        } else {
            strip.push(LegendItem::Line(stroke(cp, 3), format!("α = {}", num(row.alpha))));
        }
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
    let mut pr = panel(Axis::new("δ_r (g)", xr, false), Axis::new("Re(λ± + iγ_b) (g)", yext(&re), false), re, Legend::None);
    pr.caption = Some("real part".into());
    let mut pi = panel(Axis::new("δ_r (g)", xr, false), Axis::new("Im(λ± + iγ_b) (g)", yext(&im), false), im, Legend::None);
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
    Figure { title, size: (1500, 680), panels: vec![pr, pi], widths: vec![1, 1], strip }
}

/// The y range of the critical-time plot: set by the exact curve (it is the
/// reference), with room below zero so Eq. (33)'s plunge is seen to leave the
/// plot, and headroom above the curves for the legend; Eq. (33)'s values
/// beyond that are clipped.
fn tcrit_range(exact: &[f64], eq33: &[f64]) -> (f64, f64) {
    match extent(exact) {
        Some((_, hi)) if hi > 0.0 => (-0.25 * hi, 1.45 * hi),
        _ => lin_range(extent(eq33)),
    }
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
        pts: pts(&t.delta_r, &t.exact),
        stroke: stroke(PALETTE[0], 4),
        label: Some("exact: first root of E_B(τ) = E_max".into()),
    });
    shapes.push(Shape::Line {
        pts: pts(&t.delta_r, &t.eq33),
        stroke: dashed(PALETTE[3], 3),
        label: Some("paper's Eq. (33), asymptotic".into()),
    });
    let emax = t.e_max.map_or("E_max".to_string(), |e| format!("E_max = {} E_r²", num(e)));
    let gb = t.gamma_b.map_or(String::new(), |g| format!("γ_b = {}, ", num(g)));
    single(
        vec![
            format!("Critical time to reach {emax}"),
            format!("{gb}α = {}; the exact time diverges at the phase boundary, Eq. (33) turns negative", num(t.alpha)),
        ],
        (1150, 760),
        Axis::new("δ_r (g)", xr, false),
        Axis::new("τ_crit = g t_crit (1/g)", yr, false),
        shapes,
    )
}

/// Greedy word wrap at `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
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

fn validation(v: &Validation) -> Figure {
    match v {
        Validation::Verdict { point, verdict } => {
            let mut lines = vec![format!("reduced point: {point}"), String::new()];
            lines.extend(wrap(verdict, 92));
            let shapes = lines
                .iter()
                .enumerate()
                .map(|(k, l)| Shape::Text { at: (0.03, 0.95 - 0.075 * k as f64), text: l.clone(), size: 20, color: BLACK })
                .collect();
            let mut p = panel(Axis::new("", (0.0, 1.0), false), Axis::new("", (0.0, 1.0), false), shapes, Legend::None);
            p.frame = false;
            Figure {
                title: vec!["Validation of the reduced model: not realizable, nothing was run".into()],
                size: (1150, 520),
                panels: vec![p],
                widths: vec![1],
                strip: Vec::new(),
            }
        }
        Validation::Errors { point, verdict, ratio, err_moments_reduced, err_master_moments, slope } => {
            let mut shapes = Vec::new();
            let slope_txt = slope.map_or(String::new(), |s| format!(", fitted slope {} (expected −1)", num((s * 1000.0).round() / 1000.0)));
            let mut all: Vec<f64> = err_moments_reduced.clone();
            shapes.push(Shape::Line {
                pts: pts(ratio, err_moments_reduced),
                stroke: stroke(PALETTE[0], 3),
                label: Some(format!("reduction error |moments − reduced| / max E_B{slope_txt}")),
            });
            shapes.push(Shape::Points { pts: pts(ratio, err_moments_reduced), marker: Marker::Circle, size: 6, fill: PALETTE[0], edge: PALETTE[0], label: None });
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
            }
            let pos = |v: &[f64]| extent(v.iter().filter(|x| **x > 0.0)).unwrap_or((1e-3, 1.0));
            let (xl, xh) = pos(ratio);
            let (yl, yh) = pos(&all);
            let x = Axis::new("elimination ratio r = |M_cc| / max(|M_aa|, |M_bb|)", log_range(xl, xh), true);
            // Headroom above the data for the legend.
            let y = Axis::new("max error of E_B over the run", log_range(yl, yh * 300.0), true);
            let mut title = vec![format!("Validation of the reduced model at {point}")];
            if let Some(v) = verdict {
                title.extend(wrap(v, 140));
            }
            single(title, (1150, 800), x, y, shapes)
        }
    }
}

/// Words for a sweep scalar's name, unit last: `energy_b_final` →
/// "E_B at the last save (ħω_b)".
pub fn quantity_label(name: &str) -> String {
    let (base, fin) = match name.strip_suffix("_final") {
        Some(b) => (b, " at the last save"),
        None => (name, ""),
    };
    let (words, unit) = match base {
        "energy_b" => ("E_B", " (ħω_b)"),
        "power_b" => ("P_B", ""),
        "n_a" => ("⟨a†a⟩", ""),
        "n_b" => ("⟨b†b⟩", ""),
        "n_c" => ("⟨c†c⟩", ""),
        "ergotropy_b" => ("ergotropy of b", " (ħω_b)"),
        "entropy_b" => ("entropy of b", " (nats)"),
        "purity_b" => ("purity of b", ""),
        "growth_rate" => ("growth rate Re[−iλ₊]", " (g)"),
        "steady_energy_b" => ("steady-state E_B", " (ħω_b)"),
        "wall_time_s" => ("wall time", " (s)"),
        other => (other, ""),
    };
    format!("{words}{fin}{unit}")
}

fn sweep_line(s: &SweepLine) -> Figure {
    let xs: Vec<f64> = s.series.iter().flat_map(|c| c.x.iter().copied()).collect();
    let xlog = is_log_spaced(&xs);
    let ys: Vec<f64> = s.series.iter().flat_map(|c| c.y.iter().copied()).collect();
    let ylog = extent(&ys).is_some_and(|(lo, hi)| lo > 0.0 && hi / lo > 1e3);
    let x = {
        let (lo, hi) = extent(&xs).unwrap_or((0.0, 1.0));
        if xlog {
            Axis::new(&s.x_key, log_range(lo, hi), true)
        } else {
            Axis::new(&s.x_key, lin_range(Some((lo, hi))), false)
        }
    };
    let label = quantity_label(&s.y_name);
    let y = match extent(&ys) {
        Some((lo, hi)) if ylog => Axis::new(&label, log_range(lo, hi), true),
        e => Axis::new(&label, lin_range(e), false),
    };
    let markers = [Marker::Circle, Marker::Square, Marker::Triangle, Marker::Diamond];
    let mut shapes = Vec::new();
    for (k, c) in s.series.iter().enumerate() {
        let (st, name) = if ["master", "moments", "reduced"].contains(&c.label.as_str()) {
            engine_style(&c.label)
        } else {
            (stroke(PALETTE[k % PALETTE.len()], 2), c.label.as_str())
        };
        shapes.push(Shape::Line { pts: pts(&c.x, &c.y), stroke: st, label: Some(format!("{name} (/{}/{})", c.label, s.y_name)) });
        if c.x.len() <= 60 {
            let m = markers[k % markers.len()];
            shapes.push(Shape::Points { pts: pts(&c.x, &c.y), marker: m, size: 5, fill: st.color, edge: st.color, label: None });
        }
    }
    single(vec![format!("Sweep: {} vs {}", quantity_label(&s.y_name), s.x_key)], (1150, 760), x, y, shapes)
}

fn sweep_map(s: &SweepMap) -> Figure {
    let (xlog, ylog) = (is_log_spaced(&s.x), is_log_spaced(&s.y));
    let (ex, ey) = (cell_edges(&s.x, xlog), cell_edges(&s.y, ylog));
    let span = |e: &[f64]| extent(e).unwrap_or((0.0, 1.0));
    let x = Axis::new(&s.x_key, span(&ex), xlog);
    let y = Axis::new(&s.y_key, span(&ey), ylog);
    let (zlo, zhi) = extent(&s.z).unwrap_or((0.0, 1.0));
    let zlog = zlo > 0.0 && zhi / zlo > 1e3;
    let (zlo, zhi) = if zhi > zlo { (zlo, zhi) } else if zlog { (zlo / 2.0, zhi * 2.0) } else { (zlo - 0.5, zhi + 0.5) };
    let scale = ColorScale::Sequential { lo: zlo, hi: zhi, log: zlog };
    let mut map = panel(x, y, heat_cells(&s.x, &s.y, &s.z, &scale, xlog, ylog), Legend::None);
    map.grid = false;
    let label = quantity_label(&s.z_name);
    let bar = colorbar(&label, scale, zlo, zhi);
    let missing = s.z.iter().any(|v| !v.is_finite() || (zlog && *v <= 0.0));
    let mut sub = format!("/{}/{} over {} × {}", s.group, s.z_name, s.x_key, s.y_key);
    if missing {
        sub += "; grey: no value";
    }
    Figure {
        title: vec![format!("Sweep: {label}"), sub],
        size: (1250, 860),
        panels: vec![map, bar],
        widths: vec![11, 2],
        strip: Vec::new(),
    }
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
        let (lo, hi) = tcrit_range(&[7.0, 60.0, f64::NAN], &[6.9, -1600.0, 220.0]);
        assert!(lo < 0.0 && lo > -20.0 && hi > 60.0 && hi < 100.0);
    }

    #[test]
    fn wrap_keeps_words_and_width() {
        let l = wrap("a bb ccc dddd eeeee", 7);
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

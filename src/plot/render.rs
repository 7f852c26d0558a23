//! Draws a [`Figure`] onto any plotters backend (PNG file, SVG file, or an
//! in-memory RGB buffer in the tests). Generic over the backend so that what
//! the tests check is exactly what `qbsim plot` writes.
//!
//! Plotters does not clip shapes to the plotting area, so every shape is
//! clipped here to its panel's axis ranges first (in log10 space on a log
//! axis), and lines break at non-finite values.

use super::geometry::{clip_polyline, clip_segment};
use super::layout::{Axis, Figure, Legend, LegendItem, Marker, Panel, Shape, Stroke};
use plotters::coord::ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A drawing failure, in words (the backend's error types differ).
#[derive(Debug)]
pub struct DrawError(pub String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawError(e.to_string())
    }
}

const FAMILY: &str = "sans-serif";

/// Registers DejaVu Sans (compiled in by the `dejavu` crate) as plotters'
/// "sans-serif", once per process: text then needs no system font library.
pub fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // A failure here shows up as a drawing error at the first text.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(&BLACK)
}

fn shape_style(s: &Stroke) -> ShapeStyle {
    ShapeStyle::from(&s.color).stroke_width(s.width)
}

// Glyphs and markers are built by macros with concrete element types:
// plotters' type-erased `DynElement` can only be drawn into a chart when the
// backend is `'static`, which an in-memory buffer backend is not.

/// A marker element centred at `$at` (data or pixel coordinates).
macro_rules! marker_element {
    ($kind:expr, $at:expr, $s:expr, $fill:expr, $edge:expr) => {{
        let (s, f, e): (i32, ShapeStyle, ShapeStyle) = ($s, $fill, $edge);
        let (pa, pb) = match $kind {
            // The outline of the marker (closed path) and its filled body.
            Marker::Circle => (circle_path(s), circle_path(s)),
            Marker::Square => (vec![(-s, -s), (s, -s), (s, s), (-s, s), (-s, -s)], vec![(-s, -s), (s, -s), (s, s), (-s, s)]),
            Marker::Diamond => (
                vec![(0, -s - 2), (s, 0), (0, s + 2), (-s, 0), (0, -s - 2)],
                vec![(0, -s - 2), (s, 0), (0, s + 2), (-s, 0)],
            ),
            Marker::Triangle => (vec![(0, -s), (s, s), (-s, s), (0, -s)], vec![(0, -s), (s, s), (-s, s)]),
        };
        EmptyElement::at($at) + Polygon::new(pb, f) + PathElement::new(pa, e)
    }};
}

/// A closed polygon approximating a circle of radius `r` pixels.
fn circle_path(r: i32) -> Vec<(i32, i32)> {
    let n = 24;
    (0..=n)
        .map(|k| {
            let t = std::f64::consts::TAU * f64::from(k) / f64::from(n);
            ((f64::from(r) * t.cos()).round() as i32, (f64::from(r) * t.sin()).round() as i32)
        })
        .collect()
}

fn marker_styles(fill: RGBColor, edge: RGBColor) -> (ShapeStyle, ShapeStyle) {
    (ShapeStyle::from(&fill).filled(), ShapeStyle::from(&edge).stroke_width(2))
}

/// A short line (dashed: three dashes) starting at `$at`, for legends.
macro_rules! line_element {
    ($at:expr, $st:expr, dashed) => {{
        let st = $st;
        EmptyElement::at($at)
            + PathElement::new(vec![(0, 0), (10, 0)], st)
            + PathElement::new(vec![(15, 0), (25, 0)], st)
            + PathElement::new(vec![(30, 0), (GLYPH_W, 0)], st)
    }};
    ($at:expr, $st:expr, solid) => {{
        EmptyElement::at($at) + PathElement::new(vec![(0, 0), (GLYPH_W, 0)], $st)
    }};
}

/// Sets a line-shaped legend glyph on a series annotation.
macro_rules! line_legend {
    ($anno:expr, $label:expr, $stroke:expr) => {{
        let stroke: Stroke = $stroke;
        let st = shape_style(&stroke);
        let anno = $anno.label($label);
        if stroke.dashed {
            anno.legend(move |at: (i32, i32)| line_element!((at.0 - 4, at.1), st, dashed));
        } else {
            anno.legend(move |at: (i32, i32)| line_element!((at.0 - 4, at.1), st, solid));
        }
    }};
}

/// Tick labels: plain decimals for ordinary magnitudes, `1e-5` style beyond.
/// On a log axis the powers of ten are labelled, and on a short one (under
/// 2.5 decades, `dense`) also 2 and 5 times them; other ticks stay minor.
pub fn tick(v: f64, log: bool, dense: bool) -> String {
    tick_on(v, log, dense, false)
}

/// [`tick`], with `sci`: every label of this (linear) axis in scientific
/// notation, so one axis never mixes `0.001` with `8e−4`.
fn tick_on(v: f64, log: bool, dense: bool, sci: bool) -> String {
    if log {
        if v.is_nan() || v <= 0.0 {
            return String::new();
        }
        let e = v.log10().floor();
        let mant = v / 10f64.powf(e);
        let near = |m: f64| (mant - m).abs() < 1e-6 * m;
        if near(10.0) {
            return tick_on(10f64.powf(e + 1.0), true, dense, false);
        }
        if !(near(1.0) || (dense && (near(2.0) || near(5.0)))) {
            return String::new();
        }
        let e = e as i32;
        return match e {
            -2..=3 => super::data::num(v),
            _ if near(1.0) => format!("1e{e}").replace('-', "−"),
            _ => format!("{}e{e}", mant.round()).replace('-', "−"),
        };
    }
    if v.abs() < 1e-12 {
        return "0".into();
    }
    if sci {
        super::data::sci(v)
    } else {
        super::data::num(v)
    }
}

/// Whether a linear axis needs scientific tick labels (its largest magnitude
/// is below 0.01 or from 1e5 on).
fn needs_sci(a: &Axis) -> bool {
    let m = a.lo.abs().max(a.hi.abs());
    !a.log && !(1e-2..1e5).contains(&m)
}

/// Draws the whole figure: title lines, legend strip, panels.
pub fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure, target: Target) -> Result<(), DrawError> {
    register_fonts();
    root.fill(&WHITE)?;
    let (w, _) = root.dim_in_pixel();
    let mut y = 14i32;
    for (k, line) in fig.title.iter().enumerate() {
        // Shrink a line until it fits: no title is ever cut off.
        let mut size = if k == 0 { 28.0 } else { 20.0 };
        while size > 10.0 && root.estimate_text_size(line, &font(size))?.0 + 40 > w {
            size -= 1.0;
        }
        root.draw_text(line, &font(size).pos(Pos::new(HPos::Center, VPos::Top)), (w as i32 / 2, y))?;
        y += (size * 1.35) as i32;
    }
    let (_, mut body) = root.split_vertically(y + 6);
    if !fig.strip.is_empty() {
        let h = strip_height(&body, &fig.strip)?;
        let (strip, rest) = body.split_vertically(h);
        draw_strip(&strip, &fig.strip)?;
        body = rest;
    }
    let total: u32 = fig.widths.iter().sum::<u32>().max(1);
    let bw = body.dim_in_pixel().0;
    let mut acc = 0;
    let mut breaks = Vec::new();
    for wk in fig.widths.iter().take(fig.panels.len().saturating_sub(1)) {
        acc += wk;
        breaks.push((f64::from(bw) * f64::from(acc) / f64::from(total)) as i32);
    }
    let areas = body.split_by_breakpoints(breaks, Vec::<i32>::new());
    for (area, p) in areas.iter().zip(&fig.panels) {
        draw_panel(area, p, target)?;
    }
    Ok(())
}

const GLYPH_W: i32 = 38;
const STRIP_FONT: f64 = 18.0;

/// The rows of a legend strip: item widths flowed into the available width.
fn strip_rows<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[LegendItem]) -> Result<Vec<Vec<(usize, i32)>>, DrawError> {
    let w = area.dim_in_pixel().0 as i32 - 40;
    let mut rows: Vec<Vec<(usize, i32)>> = vec![Vec::new()];
    let mut used = 0;
    for (k, it) in items.iter().enumerate() {
        let text = match it {
            LegendItem::Line(_, t) | LegendItem::Hatch(_, t) | LegendItem::Point(_, _, _, t) => t,
        };
        let iw = GLYPH_W + 10 + area.estimate_text_size(text, &font(STRIP_FONT))?.0 as i32 + 34;
        if used + iw > w && used > 0 {
            rows.push(Vec::new());
            used = 0;
        }
        if let Some(r) = rows.last_mut() {
            r.push((k, iw));
        }
        used += iw;
    }
    Ok(rows)
}

fn strip_height<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[LegendItem]) -> Result<i32, DrawError> {
    Ok(strip_rows(area, items)?.len() as i32 * 32 + 8)
}

/// A legend as a row of glyphs and texts above the panels, centred.
fn draw_strip<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[LegendItem]) -> Result<(), DrawError> {
    let w = area.dim_in_pixel().0 as i32;
    for (r, row) in strip_rows(area, items)?.iter().enumerate() {
        let row_w: i32 = row.iter().map(|x| x.1).sum::<i32>() - 34;
        let mut x = (w - row_w) / 2;
        let yc = 16 + 32 * r as i32;
        for &(k, iw) in row {
            let text = match &items[k] {
                LegendItem::Line(s, t) => {
                    let st = shape_style(s);
                    if s.dashed {
                        area.draw(&line_element!((x, yc), st, dashed))?;
                    } else {
                        area.draw(&line_element!((x, yc), st, solid))?;
                    }
                    t
                }
                LegendItem::Hatch(s, t) => {
                    let st = shape_style(s);
                    area.draw(&Rectangle::new([(x + 4, yc - 10), (x + 34, yc + 10)], st))?;
                    for (a, b) in [((0, 10), (10, 0)), ((0, 20), (20, 0)), ((10, 20), (30, 0)), ((20, 20), (30, 10))] {
                        area.draw(&PathElement::new(vec![(x + 4 + a.0, yc - 10 + a.1), (x + 4 + b.0, yc - 10 + b.1)], st))?;
                    }
                    t
                }
                LegendItem::Point(m, f, e, t) => {
                    let (fs, es) = marker_styles(*f, *e);
                    area.draw(&marker_element!(*m, (x + GLYPH_W / 2, yc), 8, fs, es))?;
                    t
                }
            };
            area.draw_text(text, &font(STRIP_FONT).pos(Pos::new(HPos::Left, VPos::Center)), (x + GLYPH_W + 10, yc))?;
            x += iw;
        }
    }
    Ok(())
}

/// Drops points closer than `min_px` to the last kept one (the last point is
/// always kept): dense samples otherwise make zero-length or sub-pixel
/// segments that thick-line rasterization turns into spikes.
fn thin_out(px: &[(i32, i32)], min_px: i32) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::with_capacity(px.len());
    for (k, &p) in px.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(&q) => {
                let (dx, dy) = (p.0 - q.0, p.1 - q.1);
                dx * dx + dy * dy >= min_px * min_px || (k + 1 == px.len() && (dx, dy) != (0, 0))
            }
        };
        if keep {
            out.push(p);
        }
    }
    out
}

/// How lines are stroked: bitmaps get a square brush of 1-px lines (exact,
/// even width and no join artefacts; plotters' own thick lines use miter
/// joins on integer pixels, which spike on densely sampled curves), vectors
/// a native stroke width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Raster,
    Vector,
}

/// Pixel offsets of a brush `w` pixels wide: a square, corners cut from 4 px on.
fn brush(w: u32) -> Vec<(i32, i32)> {
    let w = w.max(1) as i32;
    let (lo, hi) = (-(w / 2), (w - 1) / 2);
    let r2 = f64::from(w * w) / 4.0 + 0.5;
    let mut out = Vec::new();
    for dx in lo..=hi {
        for dy in lo..=hi {
            if w < 4 || f64::from(dx * dx + dy * dy) <= r2 {
                out.push((dx, dy));
            }
        }
    }
    out
}

/// Splits a pixel polyline into its dashes, measured along the arc length.
fn dashes(f: &[(f64, f64)], on: f64, off: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let (mut phase, mut drawing) = (0.0, true);
    for w in f.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let p = |s: f64| (a.0 + (b.0 - a.0) * s / len, a.1 + (b.1 - a.1) * s / len);
        let mut t = 0.0;
        while t < len {
            let limit = if drawing { on } else { off };
            let step = (limit - phase).min(len - t);
            if drawing {
                if cur.is_empty() {
                    cur.push(p(t));
                }
                cur.push(p(t + step));
            }
            t += step;
            phase += step;
            if phase >= limit - 1e-9 {
                phase = 0.0;
                drawing = !drawing;
                if !drawing {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

/// Strokes a pixel polyline (dashed: dashes of 3w + 6 px along the line).
fn stroke_polyline<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, px: &[(i32, i32)], st: &Stroke, target: Target) -> Result<(), DrawError> {
    let f: Vec<(f64, f64)> = px.iter().map(|&(x, y)| (f64::from(x), f64::from(y))).collect();
    let pieces = if st.dashed {
        let on = f64::from(3 * st.width + 6);
        dashes(&f, on, on * 2.0 / 3.0)
    } else {
        vec![f]
    };
    let thin = ShapeStyle::from(&st.color).stroke_width(1);
    let offsets = match target {
        Target::Raster => brush(st.width),
        Target::Vector => vec![(0, 0)],
    };
    let style = if target == Target::Raster { thin } else { shape_style(st) };
    for piece in pieces {
        let mut q: Vec<(i32, i32)> = piece.iter().map(|p| (p.0.round() as i32, p.1.round() as i32)).collect();
        q.dedup();
        if q.len() == 1 {
            q.push(q[0]);
        }
        for &(dx, dy) in &offsets {
            area.draw(&PathElement::new(q.iter().map(|p| (p.0 + dx, p.1 + dy)).collect::<Vec<_>>(), style))?;
        }
    }
    Ok(())
}

/// plotters' log axis without its duplicate key points: it lists each power
/// of ten twice, which draws that tick label twice (visibly bolder).
struct LogAxis(LogCoord<f64>);

impl LogAxis {
    fn new(lo: f64, hi: f64) -> LogAxis {
        LogAxis((lo..hi).log_scale().into())
    }
}

impl Ranged for LogAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        self.0.map(v, limit)
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let mut k = self.0.key_points(hint);
        k.sort_by(f64::total_cmp);
        k.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs());
        k
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.0.range()
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel, target: Target) -> Result<(), DrawError> {
    let (x, y) = (&p.x, &p.y);
    match (x.log, y.log) {
        (false, false) => panel_in(area, p, target, x.lo..x.hi, y.lo..y.hi),
        (true, false) => panel_in(area, p, target, LogAxis::new(x.lo, x.hi), y.lo..y.hi),
        (false, true) => panel_in(area, p, target, x.lo..x.hi, LogAxis::new(y.lo, y.hi)),
        (true, true) => panel_in(area, p, target, LogAxis::new(x.lo, x.hi), LogAxis::new(y.lo, y.hi)),
    }
}

/// The clip box of an axis pair, in the space where clipping is linear.
struct Clip<'a> {
    x: &'a Axis,
    y: &'a Axis,
}

impl Clip<'_> {
    fn fwd(a: &Axis, v: f64) -> f64 {
        if a.log {
            if v > 0.0 {
                v.log10()
            } else {
                f64::NAN
            }
        } else {
            v
        }
    }
    fn back(a: &Axis, v: f64) -> f64 {
        if a.log {
            10f64.powf(v)
        } else {
            v
        }
    }
    fn bounds(a: &Axis) -> (f64, f64) {
        let (lo, hi) = (Self::fwd(a, a.lo), Self::fwd(a, a.hi));
        (lo.min(hi), lo.max(hi))
    }
    fn to(&self, p: (f64, f64)) -> (f64, f64) {
        (Self::fwd(self.x, p.0), Self::fwd(self.y, p.1))
    }
    fn from(&self, p: (f64, f64)) -> (f64, f64) {
        (Self::back(self.x, p.0), Self::back(self.y, p.1))
    }
    fn polyline(&self, pts: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
        let (x0, x1) = Self::bounds(self.x);
        let (y0, y1) = Self::bounds(self.y);
        let t: Vec<(f64, f64)> = pts.iter().map(|&p| self.to(p)).collect();
        clip_polyline(&t, x0, x1, y0, y1).into_iter().map(|run| run.into_iter().map(|p| self.from(p)).collect()).collect()
    }
    fn segment(&self, a: (f64, f64), b: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
        let (x0, x1) = Self::bounds(self.x);
        let (y0, y1) = Self::bounds(self.y);
        let (a, b) = (self.to(a), self.to(b));
        if ![a.0, a.1, b.0, b.1].iter().all(|v| v.is_finite()) {
            return None;
        }
        clip_segment(a, b, x0, x1, y0, y1).map(|(p, q)| (self.from(p), self.from(q)))
    }
    fn contains(&self, p: (f64, f64)) -> bool {
        let (x0, x1) = Self::bounds(self.x);
        let (y0, y1) = Self::bounds(self.y);
        let q = self.to(p);
        (x0..=x1).contains(&q.0) && (y0..=y1).contains(&q.1)
    }
    fn rect(&self, lo: (f64, f64), hi: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
        let (x0, x1) = Self::bounds(self.x);
        let (y0, y1) = Self::bounds(self.y);
        let (a, b) = (self.to(lo), self.to(hi));
        let (ax, bx) = (a.0.min(b.0).max(x0), a.0.max(b.0).min(x1));
        let (ay, by) = (a.1.min(b.1).max(y0), a.1.max(b.1).min(y1));
        (ax < bx && ay < by).then(|| (self.from((ax, ay)), self.from((bx, by))))
    }
}

fn panel_in<DB, X, Y>(area: &DrawingArea<DB, Shift>, p: &Panel, target: Target, x: X, y: Y) -> Result<(), DrawError>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut b = ChartBuilder::on(area);
    b.margin(14);
    if p.frame {
        b.margin_right(if p.y_right { 8 } else { 24 });
        // The same bottom margin with or without x ticks keeps a colour bar
        // exactly as tall as the map beside it.
        b.x_label_area_size(62);
        if p.y_right {
            b.right_y_label_area_size(88);
        } else {
            b.y_label_area_size(104);
        }
    }
    if let Some(c) = &p.caption {
        b.caption(c, font(21.0));
    }
    let mut chart = b.build_cartesian_2d(x, y)?;
    if p.frame {
        let (xlog, ylog) = (p.x.log, p.y.log);
        let short = |a: &Axis| a.log && (a.hi / a.lo).log10().abs() < 2.5;
        let (xd, yd) = (short(&p.x), short(&p.y));
        let (xs, ys) = (needs_sci(&p.x), needs_sci(&p.y));
        let fx = move |v: &f64| tick_on(*v, xlog, xd, xs);
        let fy = move |v: &f64| tick_on(*v, ylog, yd, ys);
        let blank = |_: &f64| String::new();
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(p.x.label.as_str())
            .y_desc(p.y.label.as_str())
            .x_label_formatter(if p.x.ticks { &fx } else { &blank })
            .y_label_formatter(&fy)
            .label_style(font(17.0))
            .axis_desc_style(font(20.0))
            // Log axes ask for many key points so that plotters includes the
            // 2…9 multiples (labelled or not by `tick`).
            .x_labels(if !p.x.ticks { 0 } else if p.x.log { 30 } else { 9 })
            .y_labels(if p.y.log { 30 } else { 9 })
            .axis_style(ShapeStyle::from(&BLACK).stroke_width(1))
            .bold_line_style(RGBColor(200, 200, 200).mix(0.6))
            .light_line_style(RGBColor(230, 230, 230).mix(0.4));
        if !p.grid {
            mesh.disable_mesh();
        }
        if !p.x.ticks {
            mesh.disable_x_axis();
        }
        mesh.draw()?;
    }
    let clip = Clip { x: &p.x, y: &p.y };
    let mut labelled = false;
    for s in &p.shapes {
        match s {
            Shape::Line { pts, stroke, label } => {
                let base = chart.plotting_area().get_base_pixel();
                let plot = chart.plotting_area().strip_coord_spec();
                for run in clip.polyline(pts) {
                    let px: Vec<(i32, i32)> = run.iter().map(|q| chart.backend_coord(q)).map(|(a, b)| (a - base.0, b - base.1)).collect();
                    stroke_polyline(&plot, &thin_out(&px, 2), stroke, target)?;
                }
                if let Some(l) = label {
                    let anno = chart.draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?;
                    line_legend!(anno, l.as_str(), *stroke);
                    labelled = true;
                }
            }
            Shape::Segments { segs, stroke, label } => {
                let base = chart.plotting_area().get_base_pixel();
                let plot = chart.plotting_area().strip_coord_spec();
                let px = |q: &(f64, f64)| {
                    let (a, b) = chart.backend_coord(q);
                    (a - base.0, b - base.1)
                };
                for (a, b) in segs.iter().filter_map(|&(a, b)| clip.segment(a, b)) {
                    stroke_polyline(&plot, &[px(&a), px(&b)], stroke, target)?;
                }
                if let Some(l) = label {
                    let anno = chart.draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?;
                    line_legend!(anno, l.as_str(), *stroke);
                    labelled = true;
                }
            }
            Shape::Points { pts, marker, size, fill, edge, label } => {
                let (m, sz) = (*marker, *size as i32);
                let (fs, es) = marker_styles(*fill, *edge);
                let inside: Vec<(f64, f64)> = pts.iter().copied().filter(|&q| clip.contains(q)).collect();
                let anno = chart.draw_series(inside.into_iter().map(|q| marker_element!(m, q, sz, fs, es)))?;
                if let Some(l) = label {
                    anno.label(l.as_str()).legend(move |at: (i32, i32)| marker_element!(m, (at.0 + GLYPH_W / 2 - 4, at.1), sz.min(8), fs, es));
                    labelled = true;
                }
            }
            Shape::Rect { lo, hi, fill, opacity, label } => {
                let style = fill.mix(*opacity).filled();
                let anno = match clip.rect(*lo, *hi) {
                    Some((a, b)) => chart.draw_series(std::iter::once(Rectangle::new([a, b], style)))?,
                    None => chart.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?,
                };
                if let Some(l) = label {
                    anno.label(l.as_str()).legend(move |(x, y)| Rectangle::new([(x - 4, y - 8), (x + GLYPH_W - 4, y + 8)], style));
                    labelled = true;
                }
            }
            Shape::Text { at, text, size, color } => {
                let st = font(f64::from(*size)).color(color);
                chart.draw_series(std::iter::once(Text::new(text.clone(), *at, st)))?;
            }
        }
    }
    if labelled && p.legend != Legend::None {
        let pos = match p.legend {
            Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
            Legend::UpperMiddle => SeriesLabelPosition::UpperMiddle,
            Legend::UpperRight => SeriesLabelPosition::UpperRight,
            Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            Legend::LowerRight | Legend::None => SeriesLabelPosition::LowerRight,
        };
        chart
            .configure_series_labels()
            .position(pos)
            .margin(12)
            .legend_area_size(GLYPH_W + 8)
            .label_font(font(17.0))
            .background_style(WHITE.mix(0.88))
            .border_style(RGBColor(120, 120, 120))
            .draw()?;
    }
    Ok(())
}

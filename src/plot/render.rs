//! Draws a [`Figure`] onto any plotters backend (PNG file, SVG file, or an
//! in-memory RGB buffer in the tests). Generic over the backend so that what
//! the tests check is exactly what `qbsim plot` writes.
//!
//! Plotters is used for its backends only: the frame, ticks, grid, legends
//! and every text are laid out here. Text is figure markup set by
//! [`typeset`] from the DejaVu outlines: rasterized with anti-aliasing into a
//! bitmap, or written as glyph paths into an SVG (no font needed to view
//! it). Every shape is clipped here to its panel's axis ranges first (in
//! log10 space on a log axis), and lines break at non-finite values.

use super::geometry::{clip_polyline, clip_segment};
use super::layout::{self, Axis, Figure, Legend, LegendItem, Marker, Panel, Shape, Stroke, Ticks, LEGEND_FONT};
use super::typeset::{self, HAlign, Place, SvgText, VAlign};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::cell::RefCell;

/// A drawing failure, in words (the backend's error types differ).
#[derive(Debug)]
pub struct DrawError(pub String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawError(e.to_string())
    }
}

/// How lines, markers and text are drawn: on a bitmap as anti-aliased
/// outlines (round joins, so densely sampled curves never spike), in a vector
/// file as native strokes and glyph paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Raster,
    Vector,
}

// ------------------------------------------------------------- sizes

const TITLE_FONT: f64 = 28.0;
const SUBTITLE_FONT: f64 = 20.0;
const NOTE_FONT: f64 = 17.0;
const CAPTION_FONT: f64 = 21.0;
const TICK_FONT: f64 = 17.0;
const AXIS_FONT: f64 = 20.0;
const STRIP_FONT: f64 = 18.0;
const GLYPH_W: i32 = 38;
const TICK_LEN: f64 = 6.0;
const MINOR_LEN: f64 = 3.0;
/// Below the plot: tick labels and the axis title (the same with or without
/// x tick labels, so a colour bar is exactly as tall as the map beside it).
const BOTTOM_AREA: f64 = 68.0;

const BANNER_RED: RGBColor = RGBColor(200, 0, 0);
const NOTE_COLOR: RGBColor = RGBColor(180, 75, 0);
const GRID_MAJOR: RGBColor = RGBColor(222, 222, 222);
const GRID_MINOR: RGBColor = RGBColor(242, 242, 242);

// Glyphs and markers are built by macros with concrete element types:
// plotters' type-erased `DynElement` can only be drawn when the backend is
// `'static`, which an in-memory buffer backend is not.

/// A marker element centred at `$at` (pixel coordinates).
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

/// The drawing surface and where text goes.
struct Painter<'a, DB: DrawingBackend> {
    root: &'a DrawingArea<DB, Shift>,
    target: Target,
    svg: RefCell<SvgText>,
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

impl<DB: DrawingBackend> Painter<'_, DB> {
    /// Sets a line of markup; returns its width in pixels.
    fn text(&self, markup: &str, size: f64, bold: bool, color: RGBColor, place: Place) -> Result<f64, DrawError> {
        let line = typeset::lay_out(markup, size, bold);
        match self.target {
            Target::Raster => {
                let polys = typeset::polygons(&line, &place);
                if let Some((x0, y0, w, _, cov)) = typeset::coverage(&polys) {
                    for (i, &c) in cov.iter().enumerate() {
                        if c > 1.0 / 512.0 {
                            let p = (x0 + (i % w) as i32, y0 + (i / w) as i32);
                            self.root.draw_pixel(p, &RGBAColor(color.0, color.1, color.2, f64::from(c)))?;
                        }
                    }
                }
            }
            Target::Vector => self.svg.borrow_mut().add(markup, &line, &place, &hex(color), 1.0),
        }
        Ok(line.width)
    }

    fn at(&self, markup: &str, size: f64, color: RGBColor, at: (f64, f64), h: HAlign, v: VAlign) -> Result<f64, DrawError> {
        self.text(markup, size, false, color, Place { at, h, v, upright: true })
    }

    /// Bitmaps: fills polygons (pixels, non-zero winding) with anti-aliasing.
    fn fill(&self, polys: &[Vec<(f64, f64)>], color: RGBColor) -> Result<(), DrawError> {
        if let Some((x0, y0, w, _, cov)) = typeset::coverage(polys) {
            for (i, &c) in cov.iter().enumerate() {
                if c > 1.0 / 512.0 {
                    let p = (x0 + (i % w) as i32, y0 + (i / w) as i32);
                    self.root.draw_pixel(p, &RGBAColor(color.0, color.1, color.2, f64::from(c)))?;
                }
            }
        }
        Ok(())
    }

    /// Strokes pixel polylines (already split into dashes if dashed): on a
    /// bitmap as anti-aliased outlines with round joins, in a vector file as
    /// native polylines.
    fn stroke_pieces(&self, pieces: &[Vec<(f64, f64)>], st: &Stroke) -> Result<(), DrawError> {
        match self.target {
            Target::Raster => self.fill(&stroke_outline(pieces, f64::from(st.width)), st.color),
            Target::Vector => {
                for piece in pieces {
                    let mut q: Vec<(i32, i32)> = piece.iter().map(|&p| ipt(p)).collect();
                    q.dedup();
                    if q.len() == 1 {
                        q.push(q[0]);
                    }
                    self.root.draw(&PathElement::new(thin_out(&q, 1), shape_style(st)))?;
                }
                Ok(())
            }
        }
    }

    /// Strokes pixel polylines, dashed if the stroke is (dashes of 3w + 6 px
    /// along each line).
    fn stroke(&self, lines: &[Vec<(f64, f64)>], st: &Stroke) -> Result<(), DrawError> {
        if st.dashed {
            let on = f64::from(3 * st.width + 6);
            let pieces: Vec<Vec<(f64, f64)>> = lines.iter().flat_map(|l| dashes(l, on, on * 2.0 / 3.0)).collect();
            self.stroke_pieces(&pieces, st)
        } else {
            self.stroke_pieces(lines, st)
        }
    }

    /// A short legend line (dashed: three dashes) starting at `at`.
    fn line_glyph(&self, at: (f64, f64), st: &Stroke) -> Result<(), DrawError> {
        let seg = |a: f64, b: f64| vec![(at.0 + a, at.1), (at.0 + b, at.1)];
        let w = f64::from(GLYPH_W);
        let pieces = if st.dashed { vec![seg(0.0, 10.0), seg(15.0, 25.0), seg(30.0, w)] } else { vec![seg(0.0, w)] };
        self.stroke_pieces(&pieces, st)
    }

    /// A marker centred at `at` (pixels), `s` its half-size.
    fn marker(&self, kind: Marker, at: (f64, f64), s: i32, fill: RGBColor, edge: RGBColor) -> Result<(), DrawError> {
        match self.target {
            Target::Raster => {
                let sf = f64::from(s);
                let body: Vec<(f64, f64)> = match kind {
                    Marker::Circle => (0..48).map(|k| std::f64::consts::TAU * f64::from(k) / 48.0).map(|t| (sf * t.cos(), sf * t.sin())).collect(),
                    Marker::Square => vec![(-sf, -sf), (sf, -sf), (sf, sf), (-sf, sf)],
                    Marker::Diamond => vec![(0.0, -sf - 2.0), (sf, 0.0), (0.0, sf + 2.0), (-sf, 0.0)],
                    Marker::Triangle => vec![(0.0, -sf), (sf, sf), (-sf, sf)],
                };
                let body: Vec<(f64, f64)> = body.into_iter().map(|p| (at.0 + p.0, at.1 + p.1)).collect();
                self.fill(std::slice::from_ref(&body), fill)?;
                let mut ring = body.clone();
                ring.push(body[0]);
                self.stroke_pieces(&[ring], &Stroke { color: edge, width: 2, dashed: false })
            }
            Target::Vector => {
                let (fs, es) = marker_styles(fill, edge);
                self.root.draw(&marker_element!(kind, ipt(at), s, fs, es))?;
                Ok(())
            }
        }
    }
}

/// The outline of a stroke `w` pixels wide along pixel polylines: a
/// rectangle per segment and, from 1.5 px on, a disc at every vertex (round
/// joins and caps), all of one orientation so that their union is filled.
fn stroke_outline(pieces: &[Vec<(f64, f64)>], w: f64) -> Vec<Vec<(f64, f64)>> {
    let hw = w / 2.0;
    let mut out = Vec::new();
    let disc = |c: (f64, f64)| -> Vec<(f64, f64)> {
        let n = ((hw * 8.0).ceil() as usize).clamp(8, 32);
        (0..n).map(|k| std::f64::consts::TAU * k as f64 / n as f64).map(|t| (c.0 + hw * t.cos(), c.1 + hw * t.sin())).collect()
    };
    for piece in pieces {
        for s in piece.windows(2) {
            let (a, b) = (s[0], s[1]);
            let len = (b.0 - a.0).hypot(b.1 - a.1);
            if len < 1e-9 {
                continue;
            }
            let n = (-(b.1 - a.1) / len * hw, (b.0 - a.0) / len * hw);
            out.push(vec![(a.0 + n.0, a.1 + n.1), (b.0 + n.0, b.1 + n.1), (b.0 - n.0, b.1 - n.1), (a.0 - n.0, a.1 - n.1)]);
        }
        if w >= 1.5 || piece.len() == 1 {
            out.extend(piece.iter().map(|&p| disc(p)));
        }
    }
    for poly in &mut out {
        let area: f64 = (0..poly.len()).map(|k| {
            let (p, q) = (poly[k], poly[(k + 1) % poly.len()]);
            p.0 * q.1 - q.0 * p.1
        }).sum();
        if area < 0.0 {
            poly.reverse();
        }
    }
    out
}

fn shape_style(s: &Stroke) -> ShapeStyle {
    ShapeStyle::from(&s.color).stroke_width(s.width)
}

fn ipt(p: (f64, f64)) -> (i32, i32) {
    (p.0.round() as i32, p.1.round() as i32)
}

/// Draws the whole figure: title lines, banner, notes, legend strip, panels.
/// Returns the SVG text fragment (glyph definitions and uses) to append to
/// the document for [`Target::Vector`], empty for a bitmap.
pub fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure, target: Target) -> Result<String, DrawError> {
    root.fill(&WHITE)?;
    let pt = Painter { root, target, svg: RefCell::new(SvgText::default()) };
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (f64::from(w), f64::from(h));
    let mut y = 14.0;
    let fit = |line: &str, mut size: f64, bold: bool| {
        // Shrink a line until it fits: no title is ever cut off.
        while size > 10.0 && typeset::lay_out(line, size, bold).width + 40.0 > w {
            size -= 1.0;
        }
        size
    };
    let banner = |y: &mut f64| -> Result<(), DrawError> {
        if let Some(b) = &fig.banner {
            let size = fit(b, 21.0, true);
            let bw = typeset::lay_out(b, size, true).width;
            let (x0, x1) = (w / 2.0 - bw / 2.0 - 14.0, w / 2.0 + bw / 2.0 + 14.0);
            let (y0, y1) = (*y, *y + size * 1.55);
            root.draw(&Rectangle::new([ipt((x0, y0)), ipt((x1, y1))], RGBColor(255, 232, 232).filled()))?;
            root.draw(&Rectangle::new([ipt((x0, y0)), ipt((x1, y1))], ShapeStyle::from(&BANNER_RED).stroke_width(2)))?;
            pt.text(b, size, true, BANNER_RED, Place { at: (w / 2.0, (y0 + y1) / 2.0), h: HAlign::Center, v: VAlign::Center, upright: true })?;
            *y = y1 + 8.0;
        }
        Ok(())
    };
    if fig.title.is_empty() {
        banner(&mut y)?;
    }
    for (k, line) in fig.title.iter().enumerate() {
        let size = fit(line, if k == 0 { TITLE_FONT } else { SUBTITLE_FONT }, false);
        pt.at(line, size, BLACK, (w / 2.0, y), HAlign::Center, VAlign::Top)?;
        y += size * 1.4;
        if k == 0 {
            banner(&mut y)?;
        }
    }
    for note in &fig.notes {
        let text = format!("⚠ {note}");
        let size = fit(&text, NOTE_FONT, false);
        pt.at(&text, size, NOTE_COLOR, (w / 2.0, y), HAlign::Center, VAlign::Top)?;
        y += size * 1.4;
    }
    let mut top = y + 6.0;
    if !fig.strip.is_empty() {
        let rows = strip_rows(w, &fig.strip);
        draw_strip(&pt, top, w, &fig.strip, &rows)?;
        top += 32.0 * rows.len() as f64 + 4.0;
    }
    let total: u32 = fig.widths.iter().sum::<u32>().max(1);
    let mut x0 = 0.0;
    let mut acc = 0;
    for (k, p) in fig.panels.iter().enumerate() {
        acc += fig.widths.get(k).copied().unwrap_or(1);
        let x1 = if k + 1 == fig.panels.len() { w } else { (w * f64::from(acc) / f64::from(total)).floor() };
        draw_panel(&pt, Rect { x0, y0: top, x1, y1: h }, p)?;
        x0 = x1;
    }
    Ok(pt.svg.into_inner().fragment())
}

/// The figure as a complete SVG document whose text is glyph outlines.
pub fn svg_document(fig: &Figure) -> Result<String, DrawError> {
    let mut s = String::new();
    let fragment = {
        let root = SVGBackend::with_string(&mut s, fig.size).into_drawing_area();
        let f = draw_figure(&root, fig, Target::Vector)?;
        root.present()?;
        f
    };
    if let Some(at) = s.find("<svg ") {
        s.insert_str(at + 5, "xmlns:xlink=\"http://www.w3.org/1999/xlink\" ");
    }
    let end = s.rfind("</svg>").ok_or_else(|| DrawError("the SVG backend wrote no closing tag".into()))?;
    s.insert_str(end, &fragment);
    Ok(s)
}

// ------------------------------------------------------------- legends

fn item_text(it: &LegendItem) -> &str {
    match it {
        LegendItem::Line(_, t) | LegendItem::Hatch(_, t) | LegendItem::Point(_, _, _, t) | LegendItem::Fill(_, _, t) => t,
    }
}

/// The rows of a legend strip: item widths flowed into the available width.
fn strip_rows(w: f64, items: &[LegendItem]) -> Vec<Vec<(usize, f64)>> {
    let w = w - 40.0;
    let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new()];
    let mut used = 0.0;
    for (k, it) in items.iter().enumerate() {
        let iw = f64::from(GLYPH_W) + 10.0 + typeset::width(item_text(it), STRIP_FONT) + 34.0;
        if used + iw > w && used > 0.0 {
            rows.push(Vec::new());
            used = 0.0;
        }
        rows.last_mut().expect("a row").push((k, iw));
        used += iw;
    }
    rows
}

fn draw_strip<DB: DrawingBackend>(pt: &Painter<DB>, top: f64, w: f64, items: &[LegendItem], rows: &[Vec<(usize, f64)>]) -> Result<(), DrawError> {
    for (r, row) in rows.iter().enumerate() {
        let row_w: f64 = row.iter().map(|x| x.1).sum();
        let mut x = ((w - row_w) / 2.0).round() as i32;
        let yc = (top + 16.0 + 32.0 * r as f64).round() as i32;
        for &(k, iw) in row {
            match &items[k] {
                LegendItem::Line(s, _) => pt.line_glyph((f64::from(x), f64::from(yc)), s)?,
                LegendItem::Hatch(s, _) => {
                    let st = shape_style(s);
                    pt.root.draw(&Rectangle::new([(x + 4, yc - 10), (x + 34, yc + 10)], st))?;
                    for (a, b) in [((0, 10), (10, 0)), ((0, 20), (20, 0)), ((10, 20), (30, 0)), ((20, 20), (30, 10))] {
                        pt.root.draw(&PathElement::new(vec![(x + 4 + a.0, yc - 10 + a.1), (x + 4 + b.0, yc - 10 + b.1)], st))?;
                    }
                }
                LegendItem::Point(m, f, e, _) => pt.marker(*m, (f64::from(x + GLYPH_W / 2), f64::from(yc)), 8, *f, *e)?,
                LegendItem::Fill(c, opacity, _) => pt.root.draw(&Rectangle::new([(x, yc - 8), (x + GLYPH_W, yc + 8)], c.mix(*opacity).filled()))?,
            }
            pt.at(item_text(&items[k]), STRIP_FONT, BLACK, (f64::from(x + GLYPH_W + 10), f64::from(yc)), HAlign::Left, VAlign::Center)?;
            x += iw.round() as i32;
        }
    }
    Ok(())
}

/// The glyph of an in-plot legend entry.
#[derive(Clone, Copy)]
enum Glyph {
    Line(Stroke),
    Point(Marker, i32, RGBColor, RGBColor),
    Fill(ShapeStyle),
}

const LEGEND_ROW: f64 = 26.0;

fn draw_legend<DB: DrawingBackend>(pt: &Painter<DB>, r: &Rect, pos: Legend, entries: &[(Glyph, String)]) -> Result<(), DrawError> {
    if entries.is_empty() || pos == Legend::None {
        return Ok(());
    }
    let tw = entries.iter().map(|e| typeset::width(&e.1, LEGEND_FONT)).fold(0.0, f64::max);
    let (bw, bh) = (12.0 + f64::from(GLYPH_W) + 10.0 + tw + 14.0, 10.0 + LEGEND_ROW * entries.len() as f64 + 4.0);
    let m = 12.0;
    let x0 = match pos {
        Legend::UpperLeft | Legend::LowerLeft => r.x0 + m,
        Legend::UpperMiddle => (r.x0 + r.x1 - bw) / 2.0,
        _ => r.x1 - m - bw,
    };
    let y0 = match pos {
        Legend::LowerLeft | Legend::LowerRight => r.y1 - m - bh,
        _ => r.y0 + m,
    };
    let (a, b) = (ipt((x0, y0)), ipt((x0 + bw, y0 + bh)));
    pt.root.draw(&Rectangle::new([a, b], WHITE.mix(0.9).filled()))?;
    pt.root.draw(&Rectangle::new([a, b], ShapeStyle::from(&RGBColor(120, 120, 120)).stroke_width(1)))?;
    for (k, (g, label)) in entries.iter().enumerate() {
        let yc = y0 + 5.0 + LEGEND_ROW * (k as f64 + 0.5) + 2.0;
        let gx = (x0 + 12.0).round() as i32;
        let yi = yc.round() as i32;
        match *g {
            Glyph::Line(s) => pt.line_glyph((f64::from(gx), f64::from(yi)), &s)?,
            Glyph::Point(mk, sz, f, e) => pt.marker(mk, (f64::from(gx + GLYPH_W / 2), f64::from(yi)), sz.min(8), f, e)?,
            Glyph::Fill(st) => pt.root.draw(&Rectangle::new([(gx, yi - 8), (gx + GLYPH_W, yi + 8)], st))?,
        }
        pt.at(label, LEGEND_FONT, BLACK, (x0 + 12.0 + f64::from(GLYPH_W) + 10.0, yc), HAlign::Left, VAlign::Center)?;
    }
    Ok(())
}

// ------------------------------------------------------------- lines

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

// ------------------------------------------------------------- panels

/// A pixel rectangle (y down).
#[derive(Debug, Clone, Copy)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

/// The clip box of an axis pair, in the space where clipping is linear
/// (log10 on a log axis), and the map from there to pixels.
struct Clip<'a> {
    x: &'a Axis,
    y: &'a Axis,
    r: Rect,
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
    fn bounds(a: &Axis) -> (f64, f64) {
        let (lo, hi) = (Self::fwd(a, a.lo), Self::fwd(a, a.hi));
        (lo.min(hi), lo.max(hi))
    }
    fn to(&self, p: (f64, f64)) -> (f64, f64) {
        (Self::fwd(self.x, p.0), Self::fwd(self.y, p.1))
    }
    /// Pixel of a point in clip space.
    fn px_t(&self, q: (f64, f64)) -> (f64, f64) {
        let (x0, x1) = (Self::fwd(self.x, self.x.lo), Self::fwd(self.x, self.x.hi));
        let (y0, y1) = (Self::fwd(self.y, self.y.lo), Self::fwd(self.y, self.y.hi));
        let u = if x1 != x0 { (q.0 - x0) / (x1 - x0) } else { 0.5 };
        let v = if y1 != y0 { (q.1 - y0) / (y1 - y0) } else { 0.5 };
        (self.r.x0 + u * (self.r.x1 - self.r.x0), self.r.y1 - v * (self.r.y1 - self.r.y0))
    }
    /// Pixel of a data point.
    fn px(&self, p: (f64, f64)) -> (f64, f64) {
        self.px_t(self.to(p))
    }
    fn xpx(&self, v: f64) -> f64 {
        self.px_t((Self::fwd(self.x, v), Self::fwd(self.y, self.y.lo))).0
    }
    fn ypx(&self, v: f64) -> f64 {
        self.px_t((Self::fwd(self.x, self.x.lo), Self::fwd(self.y, v))).1
    }
    fn polyline(&self, pts: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
        let (x0, x1) = Self::bounds(self.x);
        let (y0, y1) = Self::bounds(self.y);
        let t: Vec<(f64, f64)> = pts.iter().map(|&p| self.to(p)).collect();
        clip_polyline(&t, x0, x1, y0, y1).into_iter().map(|run| run.into_iter().map(|q| self.px_t(q)).collect()).collect()
    }
    fn segment(&self, a: (f64, f64), b: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
        let (x0, x1) = Self::bounds(self.x);
        let (y0, y1) = Self::bounds(self.y);
        let (a, b) = (self.to(a), self.to(b));
        if ![a.0, a.1, b.0, b.1].iter().all(|v| v.is_finite()) {
            return None;
        }
        clip_segment(a, b, x0, x1, y0, y1).map(|(p, q)| (self.px_t(p), self.px_t(q)))
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
        (ax < bx && ay < by).then(|| (self.px_t((ax, ay)), self.px_t((bx, by))))
    }
}

/// Ticks of the x axis whose labels do not collide (fewer labels until they fit).
fn x_ticks(a: &Axis, len: f64) -> Ticks {
    let mut n = ((len / 95.0) as usize).clamp(3, 11);
    loop {
        let t = layout::ticks(a, n);
        let span = (a.lo, a.hi);
        let probe = Axis { label: String::new(), lo: span.0, hi: span.1, log: a.log, ticks: true };
        let pos: Vec<(f64, f64)> = t
            .major
            .iter()
            .map(|(v, s)| {
                let u = if probe.log { (v.log10() - probe.lo.log10()) / (probe.hi.log10() - probe.lo.log10()) } else { (v - probe.lo) / (probe.hi - probe.lo) };
                (u * len, typeset::width(s, TICK_FONT))
            })
            .collect();
        let fits = pos.windows(2).all(|w| w[1].0 - w[1].1 / 2.0 - (w[0].0 + w[0].1 / 2.0) >= 14.0);
        if fits || n <= 2 {
            return t;
        }
        n -= 1;
    }
}

fn y_ticks(a: &Axis, len: f64) -> Ticks {
    layout::ticks(a, ((len / 55.0) as usize).clamp(3, 10))
}

fn draw_panel<DB: DrawingBackend>(pt: &Painter<DB>, area: Rect, p: &Panel) -> Result<(), DrawError> {
    let m = 14.0;
    let mut r = Rect { x0: area.x0 + m, y0: area.y0 + m, x1: area.x1 - m, y1: area.y1 - m };
    if let Some(c) = &p.caption {
        pt.at(c, CAPTION_FONT, BLACK, ((r.x0 + r.x1) / 2.0, r.y0), HAlign::Center, VAlign::Top)?;
        r.y0 += CAPTION_FONT * 1.4 + 6.0;
    }
    let mut yt = None;
    let mut ylw = 0.0;
    if p.frame {
        r.y1 -= BOTTOM_AREA;
        let t = y_ticks(&p.y, r.y1 - r.y0);
        ylw = t.major.iter().map(|(_, s)| typeset::width(s, TICK_FONT)).fold(0.0, f64::max);
        let side = TICK_LEN + 4.0 + ylw + 12.0 + AXIS_FONT * 1.15 + 4.0;
        if p.y_right {
            r.x1 -= side;
        } else {
            r.x0 += side.max(70.0);
            r.x1 -= 10.0;
        }
        yt = Some(t);
    }
    let clip = Clip { x: &p.x, y: &p.y, r };
    let xt = if p.frame && p.x.ticks { Some(x_ticks(&p.x, r.x1 - r.x0)) } else { None };
    // Grid under the data.
    if p.frame && p.grid {
        let inside_x = |v: f64| Clip::fwd(&p.x, v).is_finite();
        if let Some(t) = &xt {
            for (&v, color) in t.minor.iter().map(|v| (v, GRID_MINOR)).chain(t.major.iter().map(|m| (&m.0, GRID_MAJOR))) {
                if inside_x(v) {
                    let x = clip.xpx(v).round() as i32;
                    pt.root.draw(&PathElement::new(vec![(x, r.y0 as i32), (x, r.y1 as i32)], ShapeStyle::from(&color).stroke_width(1)))?;
                }
            }
        }
        if let Some(t) = &yt {
            for (&v, color) in t.minor.iter().map(|v| (v, GRID_MINOR)).chain(t.major.iter().map(|m| (&m.0, GRID_MAJOR))) {
                let y = clip.ypx(v).round() as i32;
                pt.root.draw(&PathElement::new(vec![(r.x0 as i32, y), (r.x1 as i32, y)], ShapeStyle::from(&color).stroke_width(1)))?;
            }
        }
    }
    let mut entries: Vec<(Glyph, String)> = Vec::new();
    for s in &p.shapes {
        match s {
            Shape::Line { pts, stroke, label } => {
                pt.stroke(&clip.polyline(pts), stroke)?;
                if let Some(l) = label {
                    entries.push((Glyph::Line(*stroke), l.clone()));
                }
            }
            Shape::Segments { segs, stroke, label } => {
                let lines: Vec<Vec<(f64, f64)>> = segs.iter().filter_map(|&(a, b)| clip.segment(a, b)).map(|(a, b)| vec![a, b]).collect();
                pt.stroke(&lines, stroke)?;
                if let Some(l) = label {
                    entries.push((Glyph::Line(*stroke), l.clone()));
                }
            }
            Shape::Points { pts, marker, size, fill, edge, label } => {
                let (mk, sz) = (*marker, *size as i32);
                for q in pts.iter().copied().filter(|&q| clip.contains(q)) {
                    pt.marker(mk, clip.px(q), sz, *fill, *edge)?;
                }
                if let Some(l) = label {
                    entries.push((Glyph::Point(mk, sz, *fill, *edge), l.clone()));
                }
            }
            Shape::Rect { lo, hi, fill, opacity, label } => {
                let style = fill.mix(*opacity).filled();
                if let Some((a, b)) = clip.rect(*lo, *hi) {
                    pt.root.draw(&Rectangle::new([ipt(a), ipt(b)], style))?;
                }
                if let Some(l) = label {
                    entries.push((Glyph::Fill(style), l.clone()));
                }
            }
            Shape::Text { at, text, size, color } => {
                pt.at(text, f64::from(*size), *color, clip.px(*at), HAlign::Left, VAlign::Top)?;
            }
        }
    }
    if p.frame {
        draw_axes(pt, &clip, p, xt.as_ref(), yt.as_ref(), ylw)?;
    }
    draw_legend(pt, &r, p.legend, &entries)
}

/// The frame, ticks, tick labels and axis titles of a panel.
fn draw_axes<DB: DrawingBackend>(pt: &Painter<DB>, clip: &Clip, p: &Panel, xt: Option<&Ticks>, yt: Option<&Ticks>, ylw: f64) -> Result<(), DrawError> {
    let r = clip.r;
    let black = ShapeStyle::from(&BLACK).stroke_width(1);
    let (x0, y0, x1, y1) = (r.x0.round() as i32, r.y0.round() as i32, r.x1.round() as i32, r.y1.round() as i32);
    pt.root.draw(&PathElement::new(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], black))?;
    if let Some(t) = xt {
        for &v in &t.minor {
            let x = clip.xpx(v).round() as i32;
            pt.root.draw(&PathElement::new(vec![(x, y1), (x, y1 + MINOR_LEN as i32)], black))?;
        }
        for (v, s) in &t.major {
            let x = clip.xpx(*v);
            let xi = x.round() as i32;
            pt.root.draw(&PathElement::new(vec![(xi, y1), (xi, y1 + TICK_LEN as i32)], black))?;
            pt.at(s, TICK_FONT, BLACK, (x, r.y1 + TICK_LEN + 4.0), HAlign::Center, VAlign::Top)?;
        }
    }
    if !p.x.label.is_empty() {
        pt.at(&p.x.label, AXIS_FONT, BLACK, ((r.x0 + r.x1) / 2.0, r.y1 + TICK_LEN + 4.0 + TICK_FONT * 1.25 + 8.0), HAlign::Center, VAlign::Top)?;
    }
    let (xe, dir) = if p.y_right { (x1, 1) } else { (x0, -1) };
    if let Some(t) = yt {
        for &v in &t.minor {
            let y = clip.ypx(v).round() as i32;
            pt.root.draw(&PathElement::new(vec![(xe, y), (xe + dir * MINOR_LEN as i32, y)], black))?;
        }
        for (v, s) in &t.major {
            let y = clip.ypx(*v);
            let yi = y.round() as i32;
            pt.root.draw(&PathElement::new(vec![(xe, yi), (xe + dir * TICK_LEN as i32, yi)], black))?;
            let (h, at) = if p.y_right { (HAlign::Left, r.x1 + TICK_LEN + 4.0) } else { (HAlign::Right, r.x0 - TICK_LEN - 4.0) };
            pt.at(s, TICK_FONT, BLACK, (at, y), h, VAlign::Center)?;
        }
    }
    if !p.y.label.is_empty() {
        let off = TICK_LEN + 4.0 + ylw + 12.0;
        let (at, v) = if p.y_right { (r.x1 + off, VAlign::Top) } else { (r.x0 - off, VAlign::Bottom) };
        pt.text(&p.y.label, AXIS_FONT, false, BLACK, Place { at: (at, (r.y0 + r.y1) / 2.0), h: HAlign::Center, v, upright: false })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stroke_covers_its_width_with_round_caps() {
        // 4 px wide, 10 px long: a 40 px² band and two half discs (π·2²).
        let out = stroke_outline(&[vec![(10.0, 10.0), (20.0, 10.0)]], 4.0);
        let (_, _, _, _, cov) = typeset::coverage(&out).unwrap();
        let area: f32 = cov.iter().sum();
        let want = 40.0 + std::f32::consts::PI * 4.0;
        assert!((area - want).abs() < 0.6, "{area} vs {want}");
        // A bend adds no spike: the outline of a sharp zigzag stays within
        // half the width of its vertices.
        let zig: Vec<(f64, f64)> = (0..20).map(|k| (f64::from(k), if k % 2 == 0 { 0.0 } else { 30.0 })).collect();
        let out = stroke_outline(&[zig], 3.0);
        assert!(out.iter().flatten().all(|p| p.1 >= -1.5 - 1e-9 && p.1 <= 31.5 + 1e-9));
    }

    #[test]
    fn dashes_alternate_along_the_line() {
        let d = dashes(&[(0.0, 0.0), (100.0, 0.0)], 12.0, 8.0);
        assert_eq!(d.len(), 5);
        assert!(d.iter().all(|p| ((p.last().unwrap().0 - p[0].0) - 12.0).abs() < 1e-9));
    }
}

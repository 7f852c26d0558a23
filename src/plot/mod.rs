//! `qbsim plot`: labelled figures (PNG or SVG) of any file qbsim writes.
//!
//! Three stages, each testable on its own:
//! 1. [`data`] reads a [`Record`] into typed figure data ([`data::FigureData`]):
//!    which figures a file supports is decided only by the paths of
//!    `docs/output.md` that are present, and malformed contents become a
//!    [`PlotError`] in words, never a panic.
//! 2. [`layout`] turns figure data into a [`layout::Figure`]: panels of plain
//!    shapes (lines, points, rectangles, segments, text) in data coordinates,
//!    with axis ranges, scales and colours decided. No plotting library here,
//!    so the physics-facing choices (log scale, contour, hatching) are unit
//!    tested as data.
//! 3. [`render`] draws a figure onto any plotters `DrawingBackend`: a PNG or
//!    SVG file here, an in-memory RGB buffer in the tests.
//!
//! Text is figure markup ([`typeset`]: true subscripts and superscripts,
//! italic symbols) set in DejaVu Sans and DejaVu Sans Oblique, compiled into
//! the binary (the `dejavu` crate) and drawn from their glyph outlines: no
//! fontconfig, freetype or system fonts are needed on a cluster node, and an
//! SVG carries its glyphs as paths, so it looks the same on a machine
//! without DejaVu.

pub mod data;
pub mod geometry;
pub mod layout;
pub mod render;
pub mod typeset;

use crate::output::read::read_file;
use crate::output::record::Record;
use crate::output::OutputError;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Image format of the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Png,
    Svg,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

impl FromStr for Format {
    type Err = PlotError;
    fn from_str(s: &str) -> Result<Self, PlotError> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            other => Err(PlotError::Selection(format!("unknown format `{other}` (use png or svg)"))),
        }
    }
}

/// What `qbsim plot` was asked for.
#[derive(Debug, Clone, Default)]
pub struct PlotOptions {
    /// Directory for the figures; `None` = beside the input file.
    pub out_dir: Option<PathBuf>,
    pub format: Format,
    /// Sweep files: the `/sweep/params/<key>` on the horizontal axis.
    pub x: Option<String>,
    /// Sweep files: the scalar to plot (`energy_b_final`, a `[n_points]`
    /// dataset name, optionally qualified as `group/name`).
    pub y: Option<String>,
}

/// Why no figure (or not every figure) was written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("no such file: {0:?}")]
    Missing(PathBuf),
    #[error("cannot read {path:?} as a qbsim HDF5 file: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path:?}: nothing to plot: {reason}")]
    Nothing { path: PathBuf, reason: String },
    /// A bad `--x`, `--y` or `--format`.
    #[error("{0}")]
    Selection(String),
    /// The file has a documented path with the wrong shape or type.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {path:?}: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl PlotError {
    /// The process exit code: 1 for a failure while writing, 2 for bad input
    /// (the convention of every other qbsim command).
    pub fn exit_code(&self) -> u8 {
        match self {
            PlotError::Write { .. } => 1,
            _ => 2,
        }
    }
}

/// The reader's error text without its "cannot write output file" prefix
/// (the reader shares the writer's error type).
fn read_reason(e: &OutputError) -> String {
    match e {
        OutputError::Hdf5 { op, source, .. } => format!("{op}: {source}"),
        OutputError::Io { op, source, .. } => format!("{op}: {source}"),
        OutputError::Invalid { op, reason, .. } => format!("{op}: {reason}"),
        OutputError::Target { reason, .. } | OutputError::Read { reason, .. } => reason.clone(),
    }
}

/// Reads `file`, writes one image per figure it supports into the output
/// directory (`<stem>_<figure>.<ext>`), and returns the paths written, in order.
pub fn plot_file(file: &Path, opts: &PlotOptions) -> Result<Vec<PathBuf>, PlotError> {
    if !file.exists() {
        return Err(PlotError::Missing(file.to_path_buf()));
    }
    let rec = read_file(file).map_err(|e| PlotError::Read { path: file.to_path_buf(), reason: read_reason(&e) })?;
    let figures = figures_of(&rec, opts).map_err(|e| match e {
        PlotError::Nothing { reason, .. } => PlotError::Nothing { path: file.to_path_buf(), reason },
        PlotError::Invalid(r) => PlotError::Invalid(format!("{}: {r}", file.display())),
        other => other,
    })?;
    let dir = match &opts.out_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| PlotError::Write { path: d.clone(), reason: format!("not a usable directory: {e}") })?;
            d.clone()
        }
        // Beside the input ("" for a bare file name: paths print as given).
        None => file.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "qbsim".into());
    let mut written = Vec::with_capacity(figures.len());
    for (name, fig) in &figures {
        let path = dir.join(format!("{stem}_{name}.{}", opts.format.extension()));
        write_figure(fig, &path, opts.format)?;
        written.push(path);
    }
    Ok(written)
}

/// Every figure a record supports, as (file-name suffix, figure).
pub fn figures_of(rec: &Record, opts: &PlotOptions) -> Result<Vec<(String, layout::Figure)>, PlotError> {
    let sel = data::Selection { x: opts.x.clone(), y: opts.y.clone() };
    let found = data::extract(rec, &sel)?;
    // A partial result says so on every figure drawn from it.
    let banner = data::interrupted(rec).map(|i| layout::banner_text(&i));
    Ok(found
        .into_iter()
        .map(|n| {
            let mut fig = layout::figure(&n.data);
            fig.banner = banner.clone();
            (n.name, fig)
        })
        .collect())
}

/// Renders `fig` into an image file of the given format.
pub fn write_figure(fig: &layout::Figure, path: &Path, format: Format) -> Result<(), PlotError> {
    let werr = |reason: String| PlotError::Write { path: path.to_path_buf(), reason };
    match format {
        Format::Png => {
            let root = BitMapBackend::new(path, fig.size).into_drawing_area();
            render::draw_figure(&root, fig, render::Target::Raster).map_err(|e| werr(e.0))?;
            root.present().map_err(|e| werr(e.to_string()))?;
        }
        Format::Svg => {
            let doc = render::svg_document(fig).map_err(|e| werr(e.0))?;
            std::fs::write(path, doc).map_err(|e| werr(e.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

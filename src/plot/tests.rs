//! Extraction from hand-made records, and every figure kind rendered into an
//! in-memory RGB buffer (and an SVG string) with the same code that writes
//! the files: the images must not be blank and their titles must be drawn.

use super::data::{self, FigureData, Selection};
use super::layout::{self, Figure};
use super::render::{draw_figure, Target};
use super::*;
use crate::output::record::{Data, Item, Key, Record};
use num_complex::Complex64 as C64;

fn put(rec: &mut Record, group: &str, name: &str, attribute: bool, shape: &[usize], data: Data) {
    rec.items.insert(Key { group: group.into(), name: name.into(), attribute }, Item { shape: shape.to_vec(), data });
}

fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n).map(|k| a + (b - a) * k as f64 / (n - 1) as f64).collect()
}

/// A small `/phase` (with markers, critical times) in the paper's model:
/// λ± = −i(α + γ_b) ± i√(1 + (α + iδ)²).
fn phase_record() -> Record {
    let mut r = Record::default();
    let (gb, d, a) = (0.5, linspace(-2.0, 2.0, 41), linspace(-0.25, 1.5, 15));
    let (nd, na) = (d.len(), a.len());
    let mut lp = Vec::new();
    let mut lm = Vec::new();
    for &al in &a {
        for &de in &d {
            let om = C64::i() * (C64::new(1.0, 0.0) + C64::new(al, de).powi(2)).sqrt();
            let base = C64::new(0.0, -(al + gb));
            let (p, m) = (base + om, base - om);
            let (p, m) = if p.im >= m.im { (p, m) } else { (m, p) };
            lp.push(p);
            lm.push(m);
        }
    }
    let growth: Vec<f64> = lp.iter().map(|l| (-C64::i() * l).re).collect();
    let real: Vec<u8> = a.iter().flat_map(|&al| std::iter::repeat_n(u8::from((gb + 2.0 * al) * gb >= 1.0), nd)).collect();
    put(&mut r, "/phase", "delta_r", false, &[nd], Data::F64(d.clone()));
    put(&mut r, "/phase", "alpha", false, &[na], Data::F64(a.clone()));
    put(&mut r, "/phase", "growth_rate", false, &[na, nd], Data::F64(growth.clone()));
    put(&mut r, "/phase", "realizable", false, &[na, nd], Data::U8(real));
    put(&mut r, "/phase", "lambda_plus", false, &[na, nd], Data::C64(lp));
    put(&mut r, "/phase", "lambda_minus", false, &[na, nd], Data::C64(lm));
    put(&mut r, "/phase", "ep_delta_r", false, &[2], Data::F64(vec![-1.0, 1.0]));
    put(&mut r, "/phase", "ep_alpha", false, &[2], Data::F64(vec![0.0, 0.0]));
    put(&mut r, "/phase", "gamma_b", true, &[], Data::F64(vec![gb]));
    let row0 = 2; // α = 0: the third value of linspace(-0.25, 1.5, 15)
    let exact: Vec<f64> = growth[row0 * nd..(row0 + 1) * nd].iter().map(|&g| if g > 0.0 { 3.5 / g } else { f64::NAN }).collect();
    let eq33: Vec<f64> = exact.iter().map(|e| e * 0.9 - 1.0).collect();
    put(&mut r, "/phase", "t_crit_exact", false, &[nd], Data::F64(exact));
    put(&mut r, "/phase", "t_crit_eq33", false, &[nd], Data::F64(eq33));
    put(&mut r, "/phase", "e_max", true, &[], Data::F64(vec![1e3]));
    put(&mut r, "/phase", "t_crit_alpha", true, &[], Data::F64(vec![0.0]));
    let tau = linspace(0.0, 10.0, 101);
    let nm = 2;
    let energy: Vec<f64> = (0..nm).flat_map(|k| tau.iter().map(move |&t| ((1.0 + k as f64) * t).exp() - 1.0)).collect();
    let power: Vec<f64> = (0..nm).flat_map(|k| tau.iter().map(move |&t| (1.0 + k as f64) * ((1.0 + k as f64) * t).exp())).collect();
    put(&mut r, "/phase/markers", "delta_r", false, &[nm], Data::F64(vec![0.0, 0.0]));
    put(&mut r, "/phase/markers", "alpha", false, &[nm], Data::F64(vec![0.25, 1.25]));
    put(&mut r, "/phase/markers", "tau", false, &[tau.len()], Data::F64(tau.clone()));
    put(&mut r, "/phase/markers", "energy_b", false, &[nm, tau.len()], Data::F64(energy));
    put(&mut r, "/phase/markers", "power_b", false, &[nm, tau.len()], Data::F64(power));
    put(&mut r, "/phase/markers", "phase", false, &[nm], Data::Str(vec!["broken".into(), "unbroken".into()]));
    put(&mut r, "/phase/markers", "realizable", false, &[nm], Data::U8(vec![0, 1]));
    r
}

fn trace_record() -> Record {
    let mut r = Record::default();
    let t = linspace(0.0, 20.0, 201);
    let e: Vec<f64> = t.iter().map(|&t| (1.0 - (-0.3 * t).exp()).powi(2)).collect();
    let p: Vec<f64> = t.iter().map(|&t| 0.6 * (-0.3 * t).exp() * (1.0 - (-0.3 * t).exp())).collect();
    for g in ["/master", "/moments", "/reduced"] {
        put(&mut r, g, "t", false, &[t.len()], Data::F64(t.clone()));
        put(&mut r, g, "energy_b", false, &[t.len()], Data::F64(e.clone()));
        put(&mut r, g, "power_b", false, &[t.len()], Data::F64(p.clone()));
    }
    put(&mut r, "/reduced", "phase", true, &[], Data::Str(vec!["unbroken".into()]));
    put(&mut r, "/reduced", "realizable", true, &[], Data::U8(vec![1]));
    for (n, v) in [("gamma_a", 1.5), ("gamma_b", 1.0), ("delta_ra", 0.2), ("delta_rb", -0.2)] {
        put(&mut r, "/reduced", n, true, &[], Data::F64(vec![v]));
    }
    r
}

fn validation_record(realizable: bool) -> Record {
    let mut r = Record::default();
    put(&mut r, "/validation", "realizable", true, &[], Data::U8(vec![u8::from(realizable)]));
    put(&mut r, "/validation", "verdict", true, &[], Data::Str(vec!["the verdict in words".into()]));
    if realizable {
        let ratio = vec![10.0, 100.0, 1000.0];
        put(&mut r, "/validation", "ratio", false, &[3], Data::F64(ratio));
        put(&mut r, "/validation", "err_moments_reduced", false, &[3], Data::F64(vec![6e-2, 6e-3, 6e-4]));
        put(&mut r, "/validation", "err_master_moments", false, &[3], Data::F64(vec![4e-8, 1e-9, 8e-11]));
        put(&mut r, "/validation", "slope", true, &[], Data::F64(vec![-0.99]));
    }
    r
}

/// A 2-axis grid sweep (3 × 4 points) of the reduced model.
fn sweep_record(shard_missing_last: bool) -> Record {
    let mut r = Record::default();
    let (gb, dr) = ([0.5, 1.0, 1.5], [-1.0, 0.0, 1.0, 2.0]);
    let mut rows: Vec<(usize, f64, f64)> = Vec::new();
    for (i, &g) in gb.iter().enumerate() {
        for (j, &d) in dr.iter().enumerate() {
            rows.push((i * dr.len() + j, g, d));
        }
    }
    if shard_missing_last {
        rows.pop();
    }
    let n = rows.len();
    put(&mut r, "/sweep", "axes", true, &[2], Data::Str(vec!["reduced.gamma_b".into(), "reduced.delta_r".into()]));
    put(&mut r, "/sweep", "shape", true, &[2], Data::I64(vec![3, 4]));
    put(&mut r, "/sweep", "mode", true, &[], Data::Str(vec!["grid".into()]));
    put(&mut r, "/sweep", "index", false, &[n], Data::I64(rows.iter().map(|x| x.0 as i64).collect()));
    put(&mut r, "/sweep/params", "reduced.gamma_b", false, &[n], Data::F64(rows.iter().map(|x| x.1).collect()));
    put(&mut r, "/sweep/params", "reduced.delta_r", false, &[n], Data::F64(rows.iter().map(|x| x.2).collect()));
    let e: Vec<f64> = rows.iter().flat_map(|x| [0.0, 1.0 / (x.1 * x.1 + x.2 * x.2)]).collect();
    put(&mut r, "/reduced", "energy_b", false, &[n, 2], Data::F64(e));
    put(&mut r, "/reduced", "growth_rate", false, &[n], Data::F64(rows.iter().map(|x| -x.1).collect()));
    put(&mut r, "/reduced", "phase", false, &[n], Data::Str(vec!["unbroken".into(); n]));
    r
}

fn names(rec: &Record) -> Vec<String> {
    data::extract(rec, &Selection::default()).unwrap().into_iter().map(|n| n.name).collect()
}

#[test]
fn each_group_yields_its_figures() {
    assert_eq!(names(&phase_record()), ["markers", "phase", "eigenvalues", "tcrit"]);
    assert_eq!(names(&trace_record()), ["traces"]);
    assert_eq!(names(&validation_record(true)), ["validation"]);
    assert_eq!(names(&validation_record(false)), ["validation"]);
    assert_eq!(names(&sweep_record(false)), ["sweep_energy_b_final"]);
}

#[test]
fn an_empty_file_has_nothing_to_plot() {
    let mut r = Record::default();
    put(&mut r, "/", "qbsim_version", true, &[], Data::Str(vec!["0".into()]));
    assert!(matches!(data::extract(&r, &Selection::default()), Err(PlotError::Nothing { .. })));
}

#[test]
fn a_wrong_shape_is_reported_not_panicked_on() {
    let mut r = phase_record();
    put(&mut r, "/phase", "growth_rate", false, &[3], Data::F64(vec![0.0; 3]));
    let e = data::extract(&r, &Selection::default()).unwrap_err();
    assert!(matches!(&e, PlotError::Invalid(m) if m.contains("/phase/growth_rate")), "{e}");
    let mut r = trace_record();
    put(&mut r, "/master", "energy_b", false, &[2], Data::F64(vec![0.0; 2]));
    assert!(matches!(data::extract(&r, &Selection::default()), Err(PlotError::Invalid(_))));
    let mut r = trace_record();
    put(&mut r, "/master", "energy_b", false, &[201], Data::Str(vec![String::new(); 201]));
    assert!(matches!(data::extract(&r, &Selection::default()), Err(PlotError::Invalid(_))));
}

#[test]
fn sweep_selection_by_x_and_y() {
    let rec = sweep_record(false);
    let sel = |x: Option<&str>, y: Option<&str>| Selection { x: x.map(Into::into), y: y.map(Into::into) };
    let out = data::extract(&rec, &sel(None, None)).unwrap();
    let FigureData::SweepMap(m) = &out[0].data else { panic!("a 2-axis grid is a map") };
    assert_eq!((m.x_key.as_str(), m.y_key.as_str()), ("reduced.delta_r", "reduced.gamma_b"));
    assert_eq!((m.x.len(), m.y.len()), (4, 3));
    // z[iy, ix] = 1 / (γ_b² + δ_r²).
    assert!((m.z[4 + 1] - 1.0 / (1.0 + 0.0)).abs() < 1e-12);
    // --x swaps the axes; the value at (δ_r = 0, γ_b = 1) follows.
    let out = data::extract(&rec, &sel(Some("reduced.gamma_b"), Some("reduced/growth_rate"))).unwrap();
    let FigureData::SweepMap(m) = &out[0].data else { panic!() };
    assert_eq!(m.x, vec![0.5, 1.0, 1.5]);
    assert_eq!(m.z_name, "growth_rate");
    assert!((m.z[3 + 1] + 1.0).abs() < 1e-12);
    for (x, y, want) in [(Some("nope"), None, "unknown --x"), (None, Some("nope"), "unknown --y"), (None, Some("master/energy_b_final"), "unknown --y")] {
        let e = data::extract(&rec, &sel(x, y)).unwrap_err();
        assert!(matches!(&e, PlotError::Selection(m) if m.contains(want)), "{e}");
    }
    // A non-sweep file refuses --y.
    assert!(matches!(data::extract(&trace_record(), &sel(None, Some("x"))), Err(PlotError::Selection(_))));
    // A shard: missing points are NaN in the map.
    let out = data::extract(&sweep_record(true), &sel(None, None)).unwrap();
    let FigureData::SweepMap(m) = &out[0].data else { panic!() };
    assert!(m.z[11].is_nan() && m.z[10].is_finite());
}

#[test]
fn eigen_rows_include_alpha_zero_and_spread() {
    let a = linspace(-0.5, 1.5, 201);
    let rows = data::eigen_rows(&a);
    assert!(rows.iter().any(|&i| a[i].abs() < 1e-12));
    assert_eq!(rows.first(), Some(&0));
    assert_eq!(rows.last(), Some(&200));
    assert_eq!(data::eigen_rows(&[0.0]), vec![0]);
}

/// Renders into an RGB buffer; returns (pixels, width).
fn render(fig: &Figure) -> Vec<u8> {
    let (w, h) = fig.size;
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw_figure(&root, fig, Target::Raster).map_err(|e| e.0).unwrap();
        root.present().unwrap();
    }
    buf
}

fn all_figures() -> Vec<(String, Figure)> {
    let mut out = Vec::new();
    for rec in [phase_record(), trace_record(), validation_record(true), validation_record(false), sweep_record(false)] {
        out.extend(figures_of(&rec, &PlotOptions::default()).unwrap());
    }
    // A 1-axis sweep: the first row of the grid as a zip sweep.
    let mut r = sweep_record(false);
    put(&mut r, "/sweep", "mode", true, &[], Data::Str(vec!["zip".into()]));
    out.extend(figures_of(&r, &PlotOptions { x: Some("reduced.delta_r".into()), ..Default::default() }).unwrap());
    out
}

#[test]
fn every_figure_kind_renders_a_non_blank_image_with_its_title() {
    let figs = all_figures();
    let kinds: Vec<&str> = figs.iter().map(|f| f.0.as_str()).collect();
    for k in ["markers", "phase", "eigenvalues", "tcrit", "traces", "validation", "sweep_energy_b_final"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    for (name, fig) in &figs {
        let buf = render(fig);
        let w = fig.size.0 as usize;
        let px = |x: usize, y: usize| &buf[(y * w + x) * 3..(y * w + x) * 3 + 3];
        let first = px(0, 0).to_vec();
        let differing = (0..buf.len() / 3).filter(|&i| buf[i * 3..i * 3 + 3] != first[..]).count();
        assert!(differing > buf.len() / 3 / 200, "{name}: only {differing} pixels differ from the background");
        // The title band (top 40 px, middle half) has dark text pixels: the
        // embedded font works.
        let dark = (w / 4..3 * w / 4).flat_map(|x| (0..40).map(move |y| (x, y))).filter(|&(x, y)| px(x, y).iter().all(|&c| c < 90)).count();
        assert!(dark > 200, "{name}: title not drawn ({dark} dark pixels)");
    }
}

#[test]
fn svg_output_is_a_complete_document() {
    for (name, fig) in all_figures() {
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, fig.size).into_drawing_area();
            draw_figure(&root, &fig, Target::Vector).map_err(|e| e.0).unwrap();
            root.present().unwrap();
        }
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"), "{name}");
        assert!(s.contains("<text"), "{name}: no text");
    }
}

#[test]
fn phase_figure_has_contour_hatching_and_markers() {
    let figs = figures_of(&phase_record(), &PlotOptions::default()).unwrap();
    let (_, fig) = figs.iter().find(|f| f.0 == "phase").unwrap();
    let shapes = &fig.panels[0].shapes;
    let segs = |w: u32| shapes.iter().filter(|s| matches!(s, layout::Shape::Segments { stroke, .. } if stroke.width == w)).count();
    assert_eq!(segs(3), 1, "zero contour");
    assert_eq!(segs(1), 1, "hatching");
    assert_eq!(shapes.iter().filter(|s| matches!(s, layout::Shape::Points { .. })).count(), 2, "EPs and markers");
    assert_eq!(fig.strip.len(), 4);
    assert!(fig.panels[1].y_right, "colour bar");
}

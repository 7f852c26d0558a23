//! Extraction from hand-made records, and every figure kind rendered into an
//! in-memory RGB buffer (and an SVG string) with the same code that writes
//! the files: the images must not be blank and their titles must be drawn.

use super::data::{self, FigureData, Selection};
use super::layout::{self, Figure};
use super::render::{draw_figure, Target};
use super::*;
use super::{render, typeset};
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
    // Phases as int8 codes (files since phase_codes; older ones hold strings).
    put(&mut r, "/phase/markers", "phase", false, &[nm], Data::I8(vec![1, -1]));
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
    // The reduced point was mapped from this [model] (same clock).
    put(&mut r, "/map", "g", true, &[], Data::F64(vec![0.5]));
    put(&mut r, "/master", "cutoffs", true, &[3], Data::I64(vec![4, 4, 2]));
    put(&mut r, "/master", "kappa", true, &[3], Data::F64(vec![0.1, 0.1, 2.0]));
    put(&mut r, "/master", "gamma", true, &[], Data::F64(vec![1.0]));
    put(&mut r, "/master", "drive", true, &[], Data::F64(vec![0.1]));
    put(&mut r, "/master", "delta", true, &[3], Data::F64(vec![0.3, -0.3, 0.0]));
    put(&mut r, "/master", "n_th", true, &[3], Data::F64(vec![0.0; 3]));
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

/// A `qbsim validate` sweep over a 3 × 4 grid of (α, δ_r) at γ_b = 1.5, the
/// axes in config order (α first, δ_r fastest), as `configs/validation/
/// map_fig3.toml` writes it: the row α = −0.6 is not realizable (γ_a γ_b =
/// 0.45: nothing run, NaN), and at (δ_r = 0.5, α = 0) the error never falls
/// to the target (r_needed = +∞).
fn validity_record() -> Record {
    let mut r = Record::default();
    let (gb, alpha, dr) = (1.5, [-0.6, 0.0, 0.6], [-1.5, -0.5, 0.5, 1.5]);
    let mut rows: Vec<(f64, f64)> = Vec::new();
    for &a in &alpha {
        for &d in &dr {
            rows.push((a, d));
        }
    }
    let n = rows.len();
    let real: Vec<bool> = rows.iter().map(|&(a, _)| (gb + 2.0 * a) * gb >= 1.0).collect();
    let r_needed: Vec<f64> = rows
        .iter()
        .zip(&real)
        .map(|(&(a, d), &ok)| match (ok, a == 0.0 && d == 0.5) {
            (false, _) => f64::NAN,
            (true, true) => f64::INFINITY,
            _ => 30.0 + 20.0 * d.abs() - 10.0 * a,
        })
        .collect();
    let slope: Vec<f64> = rows.iter().zip(&real).map(|(&(_, d), &ok)| if ok { -1.0 + 0.01 * d } else { f64::NAN }).collect();
    let col = |f: &dyn Fn(f64, f64) -> f64| Data::F64(rows.iter().map(|&(a, d)| f(a, d)).collect());
    put(&mut r, "/sweep", "axes", true, &[2], Data::Str(vec!["reduced.alpha".into(), "reduced.delta_r".into()]));
    put(&mut r, "/sweep", "shape", true, &[2], Data::I64(vec![3, 4]));
    put(&mut r, "/sweep", "mode", true, &[], Data::Str(vec!["grid".into()]));
    put(&mut r, "/sweep", "index", false, &[n], Data::I64((0..n as i64).collect()));
    put(&mut r, "/sweep/params", "reduced.alpha", false, &[n], col(&|a, _| a));
    put(&mut r, "/sweep/params", "reduced.delta_r", false, &[n], col(&|_, d| d));
    put(&mut r, "/validation", "r_needed", false, &[n], Data::F64(r_needed));
    put(&mut r, "/validation", "realizable", false, &[n], Data::U8(real.iter().map(|&b| u8::from(b)).collect()));
    put(&mut r, "/validation", "slope", false, &[n], Data::F64(slope));
    put(&mut r, "/validation", "target", false, &[n], Data::F64(vec![0.01; n]));
    put(&mut r, "/validation", "alpha", false, &[n], col(&|a, _| a));
    put(&mut r, "/validation", "gamma_a", false, &[n], col(&|a, _| gb + 2.0 * a));
    put(&mut r, "/validation", "gamma_b", false, &[n], col(&|_, _| gb));
    put(&mut r, "/validation", "delta_ra", false, &[n], col(&|_, d| d));
    put(&mut r, "/validation", "delta_rb", false, &[n], col(&|_, d| -d));
    let ratio: Vec<f64> = (0..n).flat_map(|_| [10.0, 100.0, 1000.0]).collect();
    put(&mut r, "/validation", "ratio", false, &[n, 3], Data::F64(ratio));
    put(&mut r, "/validation", "err_moments_reduced", false, &[n, 3], Data::F64((0..n).flat_map(|_| [0.1, 0.01, 0.001]).collect()));
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
    for rec in [phase_record(), trace_record(), protocol_record(), validation_record(true), validation_record(false), sweep_record(false), validity_record()] {
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
    for k in ["markers", "phase", "eigenvalues", "tcrit", "traces", "validation", "sweep_energy_b_final", "validity_map"] {
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

fn svg(fig: &Figure) -> String {
    render::svg_document(fig).map_err(|e| e.0).unwrap()
}

/// The accessible names of the text groups of an SVG: the plain text of
/// every line drawn.
fn svg_texts(s: &str) -> Vec<String> {
    s.match_indices("aria-label=\"")
        .map(|(i, m)| {
            let rest = &s[i + m.len()..];
            rest[..rest.find('"').unwrap()].replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
        })
        .collect()
}

#[test]
fn svg_output_is_a_complete_document_with_text_as_outlines() {
    for (name, fig) in all_figures() {
        let s = svg(&fig);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"), "{name}");
        // No text element and no font name: glyphs are paths, drawn by <use>.
        assert!(!s.contains("<text") && !s.contains("font-family"), "{name}: text depends on a font");
        assert!(s.contains("<path id=\"qg") && s.contains("<use xlink:href=\"#qg"), "{name}: no glyphs");
        assert!(s.contains("xmlns:xlink="), "{name}");
        // Every <use> refers to a defined glyph.
        for (i, _) in s.match_indices("xlink:href=\"#") {
            let id = &s[i + 13..i + 13 + s[i + 13..].find('"').unwrap()];
            assert!(s.contains(&format!("<path id=\"{id}\"")), "{name}: {id} undefined");
        }
        let texts = svg_texts(&s);
        assert!(texts.contains(&typeset::plain(&fig.title[0])), "{name}: title missing from {texts:?}");
    }
}

#[test]
fn labels_are_set_with_true_subscripts_not_underscores() {
    // Every label of every figure parses into runs, and no run shows an
    // underscore, a caret or a brace (those are markup, never text).
    for (name, fig) in all_figures() {
        let mut labels: Vec<String> = fig.title.clone();
        for p in &fig.panels {
            labels.push(p.x.label.clone());
            labels.push(p.y.label.clone());
            labels.extend(p.caption.clone());
        }
        for l in &labels {
            // Names from the file (verbatim, `…`) keep their underscores.
            let l: String = l.split('`').step_by(2).collect();
            for r in typeset::parse(&l) {
                assert!(!r.text.contains(['_', '^', '{', '}']), "{name}: {l:?} shows markup in {r:?}");
            }
        }
    }
    let figs = figures_of(&phase_record(), &PlotOptions::default()).unwrap();
    let (_, tc) = figs.iter().find(|f| f.0 == "tcrit").unwrap();
    let runs = typeset::parse(&tc.panels[0].y.label);
    assert!(runs.iter().any(|r| r.script == typeset::Script::Sub && r.text == "crit"), "{runs:?}");
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

#[test]
fn sweep_axes_are_labelled_with_physical_names() {
    let sym = |k: &str| layout::param_symbol(k);
    assert_eq!(sym("model.kappa[2]").as_deref(), Some("κ_c"));
    assert_eq!(typeset::plain(&layout::param_label("model.kappa[2]")), "κ_c (config rate unit)");
    let parts = typeset::parse(&sym("model.kappa[2]").unwrap());
    assert_eq!(parts, vec![typeset::Run { text: "κ".into(), script: typeset::Script::Base, italic: true }, typeset::Run { text: "c".into(), script: typeset::Script::Sub, italic: false }]);
    for (key, want) in [
        ("reduced.gamma_b", "γ_b"),
        ("reduced.delta_r", "δ_r"),
        ("model.gamma", "Γ"),
        ("model.n_th[1]", "n_th,b"),
        ("model.drive", "E"),
        ("model.delta[0]", "δ_a"),
        ("model.cutoffs[1]", "N_b"),
    ] {
        assert_eq!(sym(key).map(|s| typeset::plain(&s)).as_deref(), Some(want), "{key}");
    }
    // Unknown keys (and out-of-range indices) fall back to the key, literally.
    assert_eq!(sym("model.kappa[7]"), None);
    assert_eq!(typeset::plain(&layout::param_label("solver.rtol_x")), "solver.rtol_x");
    // A sweep map's axes use them.
    let figs = figures_of(&sweep_record(false), &PlotOptions::default()).unwrap();
    let p = &figs[0].1.panels[0];
    assert!(typeset::plain(&p.x.label).starts_with("δ_r") && typeset::plain(&p.y.label).starts_with("γ_b"), "{:?} {:?}", p.x.label, p.y.label);
}

/// The Eq. (33) line of a critical-time figure, as runs between pen lifts.
fn eq33_runs(fig: &Figure) -> Vec<Vec<(f64, f64)>> {
    let pts = fig.panels[0]
        .shapes
        .iter()
        .find_map(|s| match s {
            layout::Shape::Line { pts, label: Some(l), .. } if l.contains("Eq. (33)") => Some(pts.clone()),
            _ => None,
        })
        .expect("an Eq. (33) line");
    pts.split(|p| !p.0.is_finite() || !p.1.is_finite()).filter(|r| !r.is_empty()).map(<[_]>::to_vec).collect()
}

#[test]
fn eq33_is_drawn_only_where_it_is_positive_and_finite() {
    // Shaped like the real curve: a drop below zero, a pole (+220 → −1624),
    // NaN beyond |δ_r| = 1.
    let d: Vec<f64> = linspace(-1.2, 0.0, 13);
    let eq33 = vec![f64::NAN, f64::NAN, f64::NAN, -2.3, -9.4, 11.4, 220.0, -1624.0, -4.2, 4.7, 12.0, 8.0, 7.0];
    let growth: Vec<f64> = d.iter().map(|&x| if x.abs() < 0.866 { 0.3 } else { -0.2 }).collect();
    let t = data::TCrit {
        gamma_b: Some(0.5),
        e_max: Some(1e3),
        alpha: 0.0,
        delta_r: d.clone(),
        exact: d.iter().map(|&x| if x.abs() < 0.9 { 7.0 / (1.0 - x * x) } else { f64::NAN }).collect(),
        eq33: eq33.clone(),
        growth: Some(growth.clone()),
    };
    let fig = layout::figure(&FigureData::TCrit(t.clone()));
    let runs = eq33_runs(&fig);
    assert!(!runs.is_empty());
    for run in &runs {
        // Consecutive points of a run are consecutive samples, each valid:
        // the line never bridges an invalid one.
        let idx: Vec<usize> = run.iter().map(|p| d.iter().position(|&x| x == p.0).unwrap()).collect();
        assert!(idx.windows(2).all(|w| w[1] == w[0] + 1), "{idx:?}");
        for &i in &idx {
            assert!(eq33[i].is_finite() && eq33[i] > 0.0 && growth[i] > 0.0, "sample {i}: {}", eq33[i]);
        }
    }
    // Every valid sample is drawn, the rest is counted in a note.
    let drawn: usize = runs.iter().map(Vec::len).sum();
    let valid = (0..d.len()).filter(|&i| eq33[i].is_finite() && eq33[i] > 0.0 && growth[i] > 0.0).count();
    assert_eq!(drawn, valid);
    assert!(fig.notes.iter().any(|n| n.contains("Eq. (33)") && n.contains(&format!("{} of 13", 13 - valid))), "{:?}", fig.notes);
    // The y axis starts at 0 and is finite.
    let y = &fig.panels[0].y;
    assert!(y.lo == 0.0 && y.hi.is_finite() && y.hi > 0.0);
    // The file-made record (phase_record) too.
    let figs = figures_of(&phase_record(), &PlotOptions::default()).unwrap();
    let (_, tc) = figs.iter().find(|f| f.0 == "tcrit").unwrap();
    assert!(eq33_runs(tc).iter().flatten().all(|p| p.1 > 0.0));
}

#[test]
fn an_interrupted_file_carries_a_red_banner() {
    let mut r = trace_record();
    assert!(figures_of(&r, &PlotOptions::default()).unwrap().iter().all(|f| f.1.banner.is_none()));
    put(&mut r, "/", "interrupted", true, &[], Data::U8(vec![1]));
    put(&mut r, "/master", "t_final", true, &[], Data::F64(vec![12.5]));
    let figs = figures_of(&r, &PlotOptions::default()).unwrap();
    let fig = &figs[0].1;
    assert_eq!(fig.banner.as_deref(), Some("INTERRUPTED — partial result (t ≤ 12.5)"));
    let texts = svg_texts(&svg(fig));
    assert!(texts.iter().any(|t| t == "INTERRUPTED — partial result (t ≤ 12.5)"), "{texts:?}");
    // It is red, in the title area (above the panels) of the bitmap.
    let buf = render(fig);
    let w = fig.size.0 as usize;
    let red = (0..120 * w).filter(|&i| buf[3 * i] > 150 && buf[3 * i + 1] < 60 && buf[3 * i + 2] < 60).count();
    assert!(red > 300, "{red} red pixels in the title area");
    // /master/@interrupted alone marks it too.
    let mut r = trace_record();
    put(&mut r, "/master", "interrupted", true, &[], Data::U8(vec![1]));
    put(&mut r, "/", "interrupted", true, &[], Data::U8(vec![0]));
    assert!(figures_of(&r, &PlotOptions::default()).unwrap()[0].1.banner.as_deref().is_some_and(|b| b.starts_with("INTERRUPTED")));
}

#[test]
fn each_axis_has_one_tick_format() {
    let axis = |lo: f64, hi: f64, log: bool| layout::Axis { label: String::new(), lo, hi, log, ticks: true };
    // [1, 1e4] on a log axis: plain numbers throughout, never 1e4 beside 1000.
    let t = layout::ticks(&axis(1.0, 1e4, true), 8);
    assert_eq!(t.format, layout::TickFormat::Plain);
    let labels: Vec<String> = t.major.iter().map(|m| typeset::plain(&m.1)).collect();
    assert_eq!(labels, ["1", "10", "100", "1000", "10000"]);
    // Wider: powers of ten throughout.
    let t = layout::ticks(&axis(3e-7, 2e3, true), 8);
    assert_eq!(t.format, layout::TickFormat::Power);
    assert!(t.major.len() >= 3 && t.major.iter().all(|m| m.1.starts_with("10^{")), "{:?}", t.major);
    // A log axis holding less than a decade still has labelled ticks.
    for (lo, hi) in [(2.0, 8.0), (3.1, 4.2), (0.2, 0.9)] {
        let t = layout::ticks(&axis(lo, hi, true), 8);
        assert!(t.major.len() >= 2, "[{lo}, {hi}]: {:?}", t.major);
    }
    // Linear axes: one number of decimals, or one exponent.
    let t = layout::ticks(&axis(-1.1, 1.1, false), 8);
    let decimals: Vec<usize> = t.major.iter().map(|m| m.1.split('.').nth(1).map_or(0, str::len)).collect();
    assert!(decimals.windows(2).all(|w| w[0] == w[1]) && t.major.len() >= 4, "{:?}", t.major);
    let t = layout::ticks(&axis(0.0, 2.4e5, false), 6);
    assert!(matches!(t.format, layout::TickFormat::Sci { exp: 5, .. }), "{:?}", t.format);
    assert!(t.major.iter().all(|m| m.0 == 0.0 || m.1.ends_with("×10^{5}")), "{:?}", t.major);
    // Every figure's axes: within an axis all labels share the format's shape.
    for (name, fig) in all_figures() {
        for p in fig.panels.iter().filter(|p| p.frame) {
            for a in [&p.x, &p.y] {
                let t = layout::ticks(a, 8);
                let power = t.major.iter().filter(|m| m.1.contains("10^{")).count();
                assert!(power == 0 || power == t.major.iter().filter(|m| m.0 != 0.0).count(), "{name}: {:?}", t.major);
            }
        }
    }
}

#[test]
fn non_finite_points_are_reported_and_never_break_an_axis() {
    let mut r = trace_record();
    let t = linspace(0.0, 20.0, 201);
    let mut e: Vec<f64> = t.iter().map(|&t| (1.0 - (-0.3 * t).exp()).powi(2)).collect();
    e[50] = f64::NAN;
    e[51] = f64::INFINITY;
    e[52] = f64::NEG_INFINITY;
    put(&mut r, "/master", "energy_b", false, &[201], Data::F64(e));
    let figs = figures_of(&r, &PlotOptions::default()).unwrap();
    let fig = &figs[0].1;
    assert!(fig.notes.iter().any(|n| n.contains("master equation") && n.contains("E_B at 3 of 201") && n.contains("not finite")), "{:?}", fig.notes);
    for p in &fig.panels {
        for a in [&p.x, &p.y] {
            assert!(a.lo.is_finite() && a.hi.is_finite() && a.hi > a.lo, "{a:?}");
        }
    }
    assert!(fig.panels[0].y.hi < 10.0, "inf must not stretch the axis: {:?}", fig.panels[0].y);
    let texts = svg_texts(&svg(fig));
    assert!(texts.iter().any(|t| t.contains("not finite (omitted)")), "{texts:?}");
    // A curve with no finite point at all: still finite axes, and a note.
    let mut r = trace_record();
    put(&mut r, "/moments", "power_b", false, &[201], Data::F64(vec![f64::NAN; 201]));
    let fig = &figures_of(&r, &PlotOptions::default()).unwrap()[0].1;
    assert!(fig.notes.iter().any(|n| n.contains("exact moments") && n.contains("P_B at 201 of 201")), "{:?}", fig.notes);
    assert!(fig.panels.iter().all(|p| p.y.lo.is_finite() && p.y.hi.is_finite()));
    // A clean file has no notes.
    assert!(figures_of(&trace_record(), &PlotOptions::default()).unwrap()[0].1.notes.is_empty());
}

/// Labels of the legend strip of a figure.
fn strip_labels(fig: &Figure) -> Vec<String> {
    fig.strip
        .iter()
        .map(|i| match i {
            layout::LegendItem::Line(_, t)
            | layout::LegendItem::Hatch(_, t)
            | layout::LegendItem::Point(_, _, _, t)
            | layout::LegendItem::Fill(_, _, t) => t.clone(),
        })
        .collect()
}

#[test]
fn a_reduced_run_not_mapped_from_the_model_is_not_overlaid() {
    // /master saturates; a /reduced of its own [reduced] config (no /map)
    // grows exponentially on the clock τ.
    let mut r = trace_record();
    r.items.retain(|k, _| k.group != "/map");
    let tau = linspace(0.0, 10.0, 101);
    let grow: Vec<f64> = tau.iter().map(|&t| (2.0 * t).exp() - 1.0).collect();
    put(&mut r, "/reduced", "t", false, &[101], Data::F64(tau.clone()));
    put(&mut r, "/reduced", "energy_b", false, &[101], Data::F64(grow.clone()));
    put(&mut r, "/reduced", "power_b", false, &[101], Data::F64(grow));
    let figs = figures_of(&r, &PlotOptions::default()).unwrap();
    let names: Vec<&str> = figs.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(names, ["traces", "traces_reduced"]);
    let (main, own) = (&figs[0].1, &figs[1].1);
    assert_eq!(strip_labels(main), ["master equation", "exact moments"]);
    assert!(main.panels.iter().all(|p| p.shapes.len() == 2), "only the two [model] engines are drawn");
    // The scale comes from the curves drawn: the saturating ones are linear,
    // even though the reduced curve (not drawn here) spans decades.
    assert!(!main.panels[0].y.log);
    assert_eq!(main.panels[0].x.label, layout::T_CONFIG_LABEL);
    // The reduced model in its own figure, on τ, log (exponential growth).
    assert_eq!(strip_labels(own), ["reduced model"]);
    assert_eq!(own.panels[0].x.label, layout::TAU_LABEL);
    assert!(own.panels[0].y.log);
    // With /map (the same [model]), it is overlaid in the config's time unit.
    let figs = figures_of(&trace_record(), &PlotOptions::default()).unwrap();
    assert_eq!(figs.len(), 1);
    assert_eq!(strip_labels(&figs[0].1), ["master equation", "reduced model", "exact moments"]);
    assert_eq!(figs[0].1.panels[0].x.label, layout::T_CONFIG_LABEL);
}

#[test]
fn phases_read_from_codes_and_from_strings() {
    let out = data::extract(&phase_record(), &Selection::default()).unwrap();
    let FigureData::Markers(m) = &out[0].data else { panic!("markers first") };
    assert_eq!(m.markers.iter().map(|k| k.phase.clone().unwrap()).collect::<Vec<_>>(), ["broken", "unbroken"]);
    // trace_record holds the phase as a string; a code gives the same title.
    let title = |r: &Record| figures_of(r, &PlotOptions::default()).unwrap()[0].1.title.clone();
    let mut r = trace_record();
    let old = title(&r);
    put(&mut r, "/reduced", "phase", true, &[], Data::I8(vec![-1]));
    assert_eq!(title(&r), old);
    assert!(old.iter().any(|l| typeset::plain(l).contains("unbroken phase (realizable)")), "{old:?}");
}

#[test]
fn master_traces_carry_the_model_parameters() {
    let figs = figures_of(&trace_record(), &PlotOptions::default()).unwrap();
    let sub = typeset::plain(&figs[0].1.title[1]);
    for want in ["N_a,b,c = 4×4×2", "κ_a,b,c = (0.1, 0.1, 2)", "Γ = 1", "E = 0.1", "δ_a,b,c = (0.3, −0.3, 0)", "n_th = 0"] {
        assert!(sub.contains(want), "{want:?} not in {sub:?}");
    }
}

// ------------------------------------------------------------- protocols and events

/// `trace_record` with a protocol (a sudden step at t = 5, one ramped over
/// [10, 12], one after the run at t = 30) and events: master at 8 and 15,
/// moments at 8.05 (the same event, a little later) and 15.5, reduced none
/// (an empty `event_times`).
fn protocol_record() -> Record {
    let mut r = trace_record();
    put(&mut r, "/protocol", "step_times", false, &[3], Data::F64(vec![5.0, 10.0, 30.0]));
    put(&mut r, "/protocol", "step_ramps", false, &[3], Data::F64(vec![0.0, 2.0, 0.0]));
    let labels = ["model.delta=[1.2, -1.2, 0.0]", "model.drive=0.2", "model.gamma=0.5"];
    put(&mut r, "/protocol", "step_labels", false, &[3], Data::Str(labels.map(String::from).to_vec()));
    put(&mut r, "/master", "event_times", false, &[2], Data::F64(vec![8.0, 15.0]));
    put(&mut r, "/master", "event_names", false, &[2], Data::Str(vec!["charged".into(), "full".into()]));
    put(&mut r, "/moments", "event_times", false, &[2], Data::F64(vec![8.05, 15.5]));
    put(&mut r, "/moments", "event_names", false, &[2], Data::Str(vec!["charged".into(), "full".into()]));
    put(&mut r, "/reduced", "event_times", false, &[0], Data::F64(Vec::new()));
    put(&mut r, "/reduced", "event_names", false, &[0], Data::Str(Vec::new()));
    r
}

/// The x positions (data) of the vertical segments of a panel drawn with `st`.
fn verticals_of(p: &layout::Panel, st: &layout::Stroke) -> Vec<f64> {
    p.shapes
        .iter()
        .filter_map(|s| match s {
            layout::Shape::Segments { segs, stroke, .. } if stroke == st => Some(segs),
            _ => None,
        })
        .flatten()
        .map(|&((x0, y0), (x1, y1))| {
            // Vertical, spanning the whole value axis.
            assert!(x0 == x1 && y0 == p.y.lo && y1 == p.y.hi, "{:?}", ((x0, y0), (x1, y1)));
            x0
        })
        .collect()
}

#[test]
fn protocol_steps_and_events_are_read_from_the_file() {
    let out = data::extract(&protocol_record(), &Selection::default()).unwrap();
    let FigureData::Traces(t) = &out[0].data else { panic!("traces first") };
    let steps: Vec<(f64, f64, &str)> = t.protocol.iter().map(|s| (s.t, s.ramp, s.label.as_str())).collect();
    assert_eq!(steps, [(5.0, 0.0, "model.delta=[1.2, -1.2, 0.0]"), (10.0, 2.0, "model.drive=0.2"), (30.0, 0.0, "model.gamma=0.5")]);
    let events = |engine: &str| t.engines.iter().find(|e| e.engine == engine).unwrap().events.clone();
    assert_eq!(events("master"), [data::Event { t: 8.0, name: "charged".into() }, data::Event { t: 15.0, name: "full".into() }]);
    assert_eq!(events("moments").iter().map(|e| e.t).collect::<Vec<_>>(), [8.05, 15.5]);
    assert!(events("reduced").is_empty(), "an empty event_times is no event");
    // Ramps and names are optional; a ramp that is not a duration is sudden.
    let mut r = trace_record();
    put(&mut r, "/protocol", "step_times", false, &[3], Data::F64(vec![1.0, 2.0, 3.0]));
    put(&mut r, "/protocol", "step_ramps", false, &[3], Data::F64(vec![-1.0, f64::NAN, 0.5]));
    put(&mut r, "/master", "event_times", false, &[1], Data::F64(vec![4.0]));
    let out = data::extract(&r, &Selection::default()).unwrap();
    let FigureData::Traces(t) = &out[0].data else { panic!() };
    assert_eq!(t.protocol.iter().map(|s| s.ramp).collect::<Vec<_>>(), [0.0, 0.0, 0.5]);
    assert!(t.protocol.iter().all(|s| s.label.is_empty()));
    assert_eq!(t.engines[0].events, [data::Event { t: 4.0, name: String::new() }]);
}

#[test]
fn protocol_steps_and_events_are_marked_on_every_trace_panel() {
    let figs = figures_of(&protocol_record(), &PlotOptions::default()).unwrap();
    assert_eq!(figs.len(), 1);
    let fig = &figs[0].1;
    const { assert!(layout::STEP_STROKE.dashed && layout::STEP_STROKE.width == 1) };
    let master = layout::event_stroke("master");
    let moments = layout::event_stroke("moments");
    assert_eq!((master.color, master.width, master.dashed), (layout::PALETTE[0], 1, false));
    assert_eq!((moments.color, moments.width), (layout::PALETTE[1], 1));
    for p in &fig.panels {
        // Dashed grey lines at the steps on the time axis (t = 30 is after the run).
        assert_eq!(verticals_of(p, &layout::STEP_STROKE), [5.0, 10.0]);
        // One light band over the ramp, full height.
        let bands: Vec<((f64, f64), (f64, f64))> = p
            .shapes
            .iter()
            .filter_map(|s| match s {
                layout::Shape::Rect { lo, hi, fill, opacity, .. } if *fill == layout::RAMP_FILL => {
                    assert!(*opacity > 0.0 && *opacity < 0.5);
                    Some((*lo, *hi))
                }
                _ => None,
            })
            .collect();
        assert_eq!(bands, [((10.0, p.y.lo), (12.0, p.y.hi))]);
        // Each engine's events in its colour, at its own times; none for the reduced model.
        assert_eq!(verticals_of(p, &master), [8.0, 15.0]);
        assert_eq!(verticals_of(p, &moments), [8.05, 15.5]);
        assert!(verticals_of(p, &layout::event_stroke("reduced")).is_empty());
        // All marks lie under the curves.
        let first_line = p.shapes.iter().position(|s| matches!(s, layout::Shape::Line { .. })).unwrap();
        assert!(p.shapes[..first_line].iter().all(|s| matches!(s, layout::Shape::Segments { .. } | layout::Shape::Rect { .. })));
        assert_eq!(p.shapes.iter().filter(|s| matches!(s, layout::Shape::Line { .. })).count(), 3);
    }
    // One legend entry per kind of mark, after the engines.
    assert_eq!(
        strip_labels(fig),
        ["master equation", "reduced model", "exact moments", "protocol step", "protocol ramp", "event (master equation)", "event (exact moments)"]
    );
    // Event names at the top of the energy panel only: the two engines'
    // "charged" (8 and 8.05) share one label, in neutral grey; the moments'
    // "full" at 15.5 would sit on the master's at 15, so it is not repeated.
    let texts = |p: &layout::Panel| -> Vec<(f64, f64, String, plotters::style::RGBColor)> {
        p.shapes
            .iter()
            .filter_map(|s| match s {
                layout::Shape::Text { at, text, color, .. } => Some((at.0, at.1, typeset::plain(text), *color)),
                _ => None,
            })
            .collect()
    };
    let (pe, pp) = (&fig.panels[0], &fig.panels[1]);
    let labels = texts(pe);
    assert_eq!(labels.iter().map(|l| l.2.as_str()).collect::<Vec<_>>(), ["charged", "full"]);
    assert!(labels[0].0 > 8.05 && labels[0].0 < 8.5, "right of the later line: {labels:?}");
    assert!(labels[1].0 > 15.0 && labels[1].0 < 15.5, "right of the master's line: {labels:?}");
    assert_ne!(labels[0].3, layout::PALETTE[0], "two engines: not one engine's colour");
    assert_eq!(labels[1].3, layout::PALETTE[0], "the master's alone");
    // Near the top, above every curve.
    let e_max = pe.shapes.iter().filter_map(|s| match s {
        layout::Shape::Line { pts, .. } => pts.iter().map(|p| p.1).reduce(f64::max),
        _ => None,
    });
    let e_max = e_max.fold(f64::NEG_INFINITY, f64::max);
    assert!(labels.iter().all(|l| l.1 > e_max && l.1 < pe.y.hi), "{labels:?} vs max {e_max}, axis {:?}", pe.y);
    assert!(texts(pp).is_empty());
    // The steps' settings in a subtitle, with the symbols.
    let sub = typeset::plain(fig.title.last().unwrap());
    assert_eq!(sub, "protocol: t = 5: δ_a,b,c → (1.2, −1.2, 0); t = 10 (ramp 2): E → 0.2; t = 30: Γ → 0.5");
}

/// The polylines of an SVG drawn in `color` (`#RRGGBB`), as pixel points.
fn svg_polylines(s: &str, color: &str) -> Vec<Vec<(f64, f64)>> {
    s.split("<polyline")
        .skip(1)
        .filter(|el| el[..el.find('>').unwrap()].contains(&format!("stroke=\"{color}\"")))
        .map(|el| {
            let pts = &el[el.find("points=\"").unwrap() + 8..];
            pts[..pts.find('"').unwrap()]
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

#[test]
fn protocol_marks_are_drawn_in_the_svg_and_the_bitmap() {
    let fig = &figures_of(&protocol_record(), &PlotOptions::default()).unwrap()[0].1;
    let s = svg(fig);
    // The step lines are dashed (many short vertical pieces), at two x per
    // panel; with the legend glyph's three horizontal dashes, nothing else is grey.
    let grey = svg_polylines(&s, "#6E6E6E");
    let (vertical, other): (Vec<_>, Vec<_>) = grey.iter().partition(|l| l.iter().all(|p| p.0 == l[0].0) && l.len() >= 2);
    assert_eq!(other.len(), 3, "the legend glyph: {other:?}");
    let mut xs: Vec<i64> = vertical.iter().map(|l| l[0].0 as i64).collect();
    xs.sort_unstable();
    xs.dedup();
    assert_eq!(xs.len(), 4, "t = 5 and t = 10 in both panels: {xs:?}");
    assert!(vertical.len() >= 4 * 10, "dashed: {} pieces", vertical.len());
    // In each panel t = 10 is twice as far from t = 0 as t = 5 (the time axis starts at 0).
    let frame_left = |x5: i64, x10: i64| 2 * x5 - x10;
    let (a, b) = (frame_left(xs[0], xs[1]), frame_left(xs[2], xs[3]));
    assert!(a > 40 && a < 200 && b > 750 && b < 950, "{xs:?}");
    // The ramp band: a translucent rectangle per panel and the legend swatch.
    assert_eq!(s.matches("fill=\"#808080\"").count(), 3);
    // Event lines in the engines' colours, and the event names once.
    assert!(svg_polylines(&s, "#1F77B4").iter().any(|l| l.len() == 2 && l[0].0 == l[1].0 && (l[0].1 - l[1].1).abs() > 300.0));
    let texts = svg_texts(&s);
    assert_eq!(texts.iter().filter(|t| *t == "charged").count(), 1, "{texts:?}");
    assert!(texts.iter().any(|t| t == "protocol step") && texts.iter().any(|t| t == "event (exact moments)"));
    // The bitmap: grey step pixels where the SVG has its line, half of its
    // length (dashes of 9 px on, 6 px off).
    let buf = render(fig);
    let (w, h) = (fig.size.0 as usize, fig.size.1 as usize);
    let x = xs[0] as usize;
    let at_x: Vec<f64> = vertical.iter().filter(|l| l[0].0 as i64 == xs[0]).flat_map(|l| l.iter().map(|p| p.1)).collect();
    let (y0, y1) = (at_x.iter().copied().fold(f64::INFINITY, f64::min) as usize, at_x.iter().copied().fold(0.0, f64::max) as usize);
    assert!(y1 > y0 + 200 && y1 < h, "{y0}..{y1}");
    let dark_grey = |x: usize, y: usize| {
        let i = 3 * (y * w + x);
        let (r, g, b) = (buf[i], buf[i + 1], buf[i + 2]);
        r.abs_diff(g) < 8 && g.abs_diff(b) < 8 && r < 215
    };
    let hits = (y0..=y1).filter(|&y| (x - 1..=x + 1).any(|x| dark_grey(x, y))).count();
    assert!(hits * 2 > y1 - y0 && hits < y1 - y0, "{hits} grey pixels on {y0}..{y1}");
}

#[test]
fn a_record_without_protocol_or_events_renders_as_before() {
    let plain = figures_of(&trace_record(), &PlotOptions::default()).unwrap();
    let fig = &plain[0].1;
    // Nothing but the curves, no legend entry or subtitle for marks.
    for p in &fig.panels {
        assert!(p.shapes.iter().all(|s| matches!(s, layout::Shape::Line { .. })), "{:?}", p.shapes);
    }
    assert_eq!(strip_labels(fig), ["master equation", "reduced model", "exact moments"]);
    assert!(fig.title.iter().all(|l| !l.contains("protocol")));
    // Empty event lists and an empty protocol change nothing, to the byte.
    let mut r = trace_record();
    for g in ["/master", "/moments", "/reduced"] {
        put(&mut r, g, "event_times", false, &[0], Data::F64(Vec::new()));
        put(&mut r, g, "event_names", false, &[0], Data::Str(Vec::new()));
    }
    put(&mut r, "/protocol", "step_times", false, &[0], Data::F64(Vec::new()));
    let empty = figures_of(&r, &PlotOptions::default()).unwrap();
    assert_eq!(empty, plain);
    assert_eq!(svg(&empty[0].1), svg(fig));
    // Marks wholly off the time axis: none drawn, no legend entry.
    let mut r = trace_record();
    put(&mut r, "/protocol", "step_times", false, &[1], Data::F64(vec![50.0]));
    put(&mut r, "/master", "event_times", false, &[2], Data::F64(vec![-3.0, f64::NAN]));
    let off = figures_of(&r, &PlotOptions::default()).unwrap();
    assert_eq!(off[0].1.panels, plain[0].1.panels);
    assert_eq!(off[0].1.strip, plain[0].1.strip);
}

#[test]
fn a_malformed_protocol_or_event_list_is_reported_not_panicked_on() {
    let bad = |group: &str, name: &str, shape: &[usize], d: Data| {
        let mut r = protocol_record();
        put(&mut r, group, name, false, shape, d);
        match data::extract(&r, &Selection::default()) {
            Err(PlotError::Invalid(m)) => assert!(m.contains(&format!("{group}/{name}")), "{m}"),
            other => panic!("{group}/{name}: {other:?}"),
        }
        // And through figures_of (what `qbsim plot` calls).
        assert!(matches!(figures_of(&r, &PlotOptions::default()), Err(PlotError::Invalid(_))));
    };
    bad("/protocol", "step_times", &[2], Data::Str(vec!["a".into(), "b".into()]));
    bad("/protocol", "step_times", &[3, 1], Data::F64(vec![1.0, 2.0, 3.0]));
    bad("/protocol", "step_ramps", &[2], Data::F64(vec![0.0, 1.0]));
    bad("/protocol", "step_labels", &[3], Data::F64(vec![0.0; 3]));
    bad("/protocol", "step_labels", &[1], Data::Str(vec!["x=1".into()]));
    bad("/master", "event_times", &[1], Data::C64(vec![C64::new(1.0, 0.0)]));
    bad("/master", "event_times", &[1, 2], Data::F64(vec![1.0, 2.0]));
    bad("/moments", "event_names", &[1], Data::Str(vec!["only one".into()]));
    bad("/moments", "event_names", &[2], Data::I64(vec![1, 2]));
    // Names without times are no events; a scalar of no element is an empty list.
    let mut r = trace_record();
    put(&mut r, "/master", "event_names", false, &[1], Data::Str(vec!["orphan".into()]));
    put(&mut r, "/moments", "event_times", false, &[], Data::F64(Vec::new()));
    assert_eq!(figures_of(&r, &PlotOptions::default()).unwrap(), figures_of(&trace_record(), &PlotOptions::default()).unwrap());
}

#[test]
fn protocol_marks_follow_the_clock_of_each_figure() {
    // A /reduced of its own [reduced] config beside a [model]: the protocol's
    // times are the config's, so only the [model] figure is marked; the
    // reduced model's own events are drawn on its τ figure.
    let mut r = protocol_record();
    r.items.retain(|k, _| k.group != "/map");
    let tau = linspace(0.0, 10.0, 101);
    let grow: Vec<f64> = tau.iter().map(|&t| (2.0 * t).exp() - 1.0).collect();
    put(&mut r, "/reduced", "t", false, &[101], Data::F64(tau));
    put(&mut r, "/reduced", "energy_b", false, &[101], Data::F64(grow.clone()));
    put(&mut r, "/reduced", "power_b", false, &[101], Data::F64(grow));
    put(&mut r, "/reduced", "event_times", false, &[1], Data::F64(vec![3.0]));
    put(&mut r, "/reduced", "event_names", false, &[1], Data::Str(vec!["charged".into()]));
    let figs = figures_of(&r, &PlotOptions::default()).unwrap();
    let (main, own) = (&figs[0].1, &figs[1].1);
    assert_eq!(verticals_of(&main.panels[0], &layout::STEP_STROKE), [5.0, 10.0]);
    assert!(verticals_of(&own.panels[0], &layout::STEP_STROKE).is_empty());
    assert_eq!(strip_labels(own), ["reduced model", "event (reduced model)"]);
    assert_eq!(verticals_of(&own.panels[1], &layout::event_stroke("reduced")), [3.0]);
    assert!(own.title.iter().all(|l| !l.contains("protocol")));
    // A log-scaled panel: the lines span it too (positive ends).
    let p = &own.panels[0];
    assert!(p.y.log && verticals_of(p, &layout::event_stroke("reduced")) == [3.0]);
}

#[test]
fn step_labels_read_with_symbols() {
    let m = |s: &str| typeset::plain(&layout::step_label_markup(s));
    assert_eq!(m("model.delta=[1.2, -1.2, 0.0]"), "δ_a,b,c → (1.2, −1.2, 0)");
    assert_eq!(m("model.kappa[2]=1.5"), "κ_c → 1.5");
    assert_eq!(m("model.drive=0.2, model.gamma=1e-6"), "E → 0.2, Γ → 10^−6");
    assert_eq!(m("solver.rtol_x=1e-8"), "solver.rtol_x → 10^−8");
    assert_eq!(m("model.n_th=[0.1, 0, 0]"), "n_th;a,b,c → (0.1, 0, 0)");
    // Anything else literally (underscores kept, no markup).
    assert_eq!(m("switch drive_on"), "switch drive_on");
    assert_eq!(m("x=[1, 2"), "x=[1, 2");
    // Many steps are summarized rather than listed over many lines.
    let steps: Vec<data::ProtocolStep> =
        (0..40).map(|k| data::ProtocolStep { t: f64::from(k), ramp: 0.0, label: format!("model.delta=[{k}.5, -1.25, 0.125]") }).collect();
    let sub = layout::protocol_subtitle(&steps);
    assert_eq!(sub.len(), 1);
    assert!(typeset::plain(&sub[0]).starts_with("protocol: 40 steps from t = 0 to t = 39"), "{sub:?}");
    assert!(layout::protocol_subtitle(&[data::ProtocolStep { t: f64::NAN, ramp: 0.0, label: "x=1".into() }]).is_empty());
}

#[test]
fn protocol_and_empty_event_lists_survive_an_hdf5_file() {
    // Written and read back by the crate's own writer and reader, as `qbsim
    // plot` reads a run's file: empty datasets, strings.
    let dir = std::env::temp_dir().join(format!("qbsim-plot-protocol-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("run.h5");
    let out = crate::output::OutputFile::create(&file).unwrap();
    protocol_record().write_to(&out).unwrap();
    out.finish().unwrap();
    let opts = PlotOptions { out_dir: Some(dir.clone()), format: Format::Svg, ..Default::default() };
    let written = plot_file(&file, &opts);
    let back = crate::output::read::read_file(&file);
    let _ = std::fs::remove_dir_all(&dir);
    let written = written.unwrap();
    assert_eq!(written.len(), 1);
    let back = back.unwrap();
    assert_eq!(back.get("/reduced", "event_times", false).map(|i| i.shape.clone()), Some(vec![0]));
    let fig = &figures_of(&back, &PlotOptions::default()).unwrap()[0].1;
    assert_eq!(verticals_of(&fig.panels[0], &layout::STEP_STROKE), [5.0, 10.0]);
    assert_eq!(strip_labels(fig).len(), 7);
}

// ------------------------------------------------------------- validity maps

fn validity_of(rec: &Record, sel: &Selection) -> data::ValidityMap {
    let out = data::extract(rec, sel).unwrap();
    let hits: Vec<&data::Named> = out.iter().filter(|n| n.name.starts_with("validity_map")).collect();
    assert_eq!(hits.len(), 1, "{:?}", out.iter().map(|n| &n.name).collect::<Vec<_>>());
    let FigureData::ValidityMap(m) = &hits[0].data else { panic!("not a validity map") };
    m.clone()
}

/// The rectangles of a panel filled with `color`, as (lo, hi).
fn rects_of(p: &layout::Panel, color: plotters::style::RGBColor) -> Vec<((f64, f64), (f64, f64))> {
    p.shapes
        .iter()
        .filter_map(|s| match s {
            layout::Shape::Rect { lo, hi, fill, .. } if *fill == color => Some((*lo, *hi)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_validation_grid_reads_as_a_validity_map_in_the_plane_of_fig_3() {
    let rec = validity_record();
    // The generic sweep figure as before, and the validity map after it.
    let all = names(&rec);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1], "validity_map");
    let m = validity_of(&rec, &Selection::default());
    // δ_r on x, α on y (as in Fig. 3), whatever the config order.
    assert_eq!((m.x_key.as_str(), m.y_key.as_str()), ("reduced.delta_r", "reduced.alpha"));
    assert_eq!((m.x.clone(), m.y.clone()), (vec![-1.5, -0.5, 0.5, 1.5], vec![-0.6, 0.0, 0.6]));
    assert_eq!(m.z_name, "r_needed");
    assert_eq!(m.z[4 + 2], f64::INFINITY, "(δ_r = 0.5, α = 0)");
    assert!((m.z[8 + 1] - (30.0 + 10.0 - 6.0)).abs() < 1e-12, "(δ_r = −0.5, α = 0.6)");
    assert_eq!(m.unrealizable, (0..12).map(|k| k < 4).collect::<Vec<_>>());
    assert!(m.z[..4].iter().all(|z| z.is_nan()));
    assert_eq!((m.target, m.gamma_b, m.symmetric), (Some(0.01), Some(1.5), true));
    // The phase boundary on a fine grid over the cells (δ_r ∈ [−2, 2], α ∈ [−0.9, 0.9]).
    let g = m.growth.as_ref().expect("a phase boundary");
    assert_eq!((g.x.len(), g.y.len()), (data::BOUNDARY_SAMPLES, data::BOUNDARY_SAMPLES));
    assert!((g.x[0] + 2.0).abs() < 1e-12 && (g.y[g.y.len() - 1] - 0.9).abs() < 1e-12);
    assert_eq!(m.eps, vec![(-1.0, 0.0), (1.0, 0.0)]);
    // The physics: at δ_r = 0 the boundary Re[−iλ₊] = 0 is where γ_a γ_b = 1,
    // α = (1/γ_b − γ_b)/2 = −5/12; the broken phase (below) is not realizable.
    let contour = super::geometry::zero_contour(&g.x, &g.y, &g.z);
    let mid: Vec<f64> = contour.iter().filter(|s| s.0 .0.abs() < 0.02).map(|s| s.0 .1).collect();
    assert!(!mid.is_empty() && mid.iter().all(|a| (a + 5.0 / 12.0).abs() < 0.01), "{mid:?}");
    assert!(contour.iter().all(|s| s.0 .1 <= -5.0 / 12.0 + 0.01), "the boundary stays in the unrealizable region");
}

#[test]
fn the_validity_map_figure_has_its_pieces() {
    let figs = figures_of(&validity_record(), &PlotOptions::default()).unwrap();
    let (_, fig) = figs.iter().find(|f| f.0 == "validity_map").expect("a validity map");
    assert_eq!(typeset::plain(&fig.title[0]), "Validity of the reduced model (γ_b = 1.5)");
    assert!(typeset::plain(&fig.title[1]).contains("reduction error ≤ 1 % of max E_B"), "{:?}", fig.title);
    assert!(typeset::plain(&fig.title[2]).starts_with("largest r_needed = 60 at δ_r = 1.5, α = 0; smallest 34 at δ_r = −0.5, α = 0.6"), "{:?}", fig.title);
    let (map, bar) = (&fig.panels[0], &fig.panels[1]);
    assert!(typeset::plain(&map.x.label).starts_with("δ_r (units of g)"), "{}", map.x.label);
    assert!(typeset::plain(&map.y.label).starts_with("α = (γ_a − γ_b)/2 (units of g)"), "{}", map.y.label);
    // The colour bar: log10 r_needed of the finite cells, labelled with the target.
    assert!(bar.y_right);
    assert_eq!(typeset::plain(&bar.y.label), "log_10 r_needed (error ≤ 1 %)");
    assert!((bar.y.lo - 34f64.log10()).abs() < 1e-12 && (bar.y.hi - 60f64.log10()).abs() < 1e-12, "{:?}", bar.y);
    assert_eq!(
        strip_labels(fig),
        [
            "r_{needed} = ∞: error above 1 % at every r, not falling",
            layout::UNREALIZABLE_LEGEND,
            layout::BOUNDARY_LEGEND,
            "exceptional points (δ_r = ±1, α = 0)"
        ]
    );
    assert!(matches!(&fig.strip[1], layout::LegendItem::Hatch(s, _) if *s == layout::UNREALIZABLE_HATCH));
    // +∞: its own colour over exactly its cell (δ_r 0 … 1, α −0.3 … 0.3).
    assert_eq!(rects_of(map, layout::INFINITE_FILL), [((0.0, -0.3), (1.0, 0.3))]);
    // Not realizable: the row α = −0.6 blanked and hatched with diagonals, inside it.
    let row = ((-2.0, -0.9), (2.0, -0.3));
    let near = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12;
    assert!(rects_of(map, layout::UNREALIZABLE_FILL).iter().any(|r| near(r.0, row.0) && near(r.1, row.1)), "{:?}", rects_of(map, layout::UNREALIZABLE_FILL));
    let hatch: Vec<&super::geometry::Segment> = map
        .shapes
        .iter()
        .filter_map(|s| match s {
            layout::Shape::Segments { segs, stroke, .. } if *stroke == layout::UNREALIZABLE_HATCH => Some(segs),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(hatch.len() > 20, "{} hatch lines", hatch.len());
    for &&((x0, y0), (x1, y1)) in &hatch {
        assert!([y0, y1].iter().all(|y| (-0.9 - 1e-9..=-0.3 + 1e-9).contains(y)), "outside the row: {:?}", ((x0, y0), (x1, y1)));
        assert!(x1 > x0 && y1 > y0, "a rising diagonal");
    }
    // The phase boundary (on a halo) and the exceptional points, drawn last.
    let boundary = map.shapes.iter().position(|s| matches!(s, layout::Shape::Segments { stroke, .. } if *stroke == layout::BOUNDARY_STROKE)).unwrap();
    let last_rect = map.shapes.iter().rposition(|s| matches!(s, layout::Shape::Rect { .. })).unwrap();
    assert!(boundary > last_rect);
    assert!(map.shapes.iter().any(|s| matches!(s, layout::Shape::Points { pts, marker: layout::Marker::Diamond, .. } if *pts == vec![(-1.0, 0.0), (1.0, 0.0)])));
    // The broken phase is named inside it (below the boundary, in the hatched row).
    let label = map.shapes.iter().find_map(|s| match s {
        layout::Shape::Text { at, text, .. } if text == layout::BROKEN_LABEL => Some(*at),
        _ => None,
    });
    let at = label.expect("the broken phase labelled");
    assert!(at.1 < -5.0 / 12.0 && at.1 > -0.9, "{at:?}");
    assert!(fig.notes.is_empty(), "{:?}", fig.notes);
    // Drawn: the +∞ colour and the hatching in the bitmap, the legend in the SVG.
    let buf = render(fig);
    let c = layout::INFINITE_FILL;
    let magenta = buf.chunks(3).filter(|p| p == &[c.0, c.1, c.2]).count();
    assert!(magenta > 5000, "{magenta} pixels of the +∞ colour");
    let s = svg(fig);
    let h = layout::UNREALIZABLE_HATCH.color;
    assert!(svg_polylines(&s, &format!("#{:02X}{:02X}{:02X}", h.0, h.1, h.2)).len() > 20, "hatch lines in the SVG");
    let texts = svg_texts(&s);
    for want in ["Validity of the reduced model (γ_b = 1.5)", "not realizable (γ_a γ_b < 1)", "phase boundary Re[−iλ₊] = 0", "log_10 r_needed (error ≤ 1 %)", "broken phase (Re[−iλ₊] > 0)"] {
        assert!(texts.iter().any(|t| t == want), "{want:?} not in {texts:?}");
    }
}

#[test]
fn a_validity_map_of_another_scalar_or_axis_order() {
    let rec = validity_record();
    let sel = |x: Option<&str>, y: Option<&str>| Selection { x: x.map(Into::into), y: y.map(Into::into) };
    // --y slope: that /validation scalar instead of r_needed, in a file of its own.
    let out = data::extract(&rec, &sel(None, Some("slope"))).unwrap();
    assert_eq!(out.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["sweep_slope", "validity_map_slope"]);
    let figs = figures_of(&rec, &PlotOptions { y: Some("validation/slope".into()), ..Default::default() }).unwrap();
    let (_, fig) = figs.iter().find(|f| f.0 == "validity_map_slope").unwrap();
    assert_eq!(typeset::plain(&fig.panels[1].y.label), "log–log slope of the error vs r (expected −1)");
    assert!(!layout::ticks(&fig.panels[1].y, 8).major.is_empty());
    assert_eq!(validity_of(&rec, &sel(None, Some("r_needed"))).z_name, "r_needed");
    // --x α: the map transposed, the boundary and the points with it.
    let (m, t) = (validity_of(&rec, &Selection::default()), validity_of(&rec, &sel(Some("reduced.alpha"), None)));
    assert_eq!((t.x_key.as_str(), t.x.clone()), ("reduced.alpha", m.y.clone()));
    assert_eq!(t.z[2 * 3 + 1], m.z[4 + 2], "(δ_r = 0.5, α = 0)");
    assert_eq!(t.eps, vec![(0.0, -1.0), (0.0, 1.0)]);
    let (g, h) = (m.growth.unwrap(), t.growth.unwrap());
    let n = g.x.len();
    assert_eq!(h.z[7 * n + 100], g.z[100 * n + 7]);
    // γ_b swept (not one plane of Fig. 3): the boundary from the grid's own
    // reduced points, no exceptional points, no γ_b in the title.
    let mut r = validity_record();
    put(&mut r, "/validation", "gamma_b", false, &[12], Data::F64((0..12).map(|k| 1.0 + 0.1 * f64::from(k)).collect()));
    let m = validity_of(&r, &Selection::default());
    let g = m.growth.unwrap();
    assert_eq!((g.x.len(), g.y.len(), m.gamma_b), (4, 3, None));
    assert!(m.eps.is_empty());
    let fig = layout::figure(&FigureData::ValidityMap(validity_of(&r, &Selection::default())));
    assert_eq!(typeset::plain(&fig.title[0]), "Validity of the reduced model");
}

#[test]
fn no_validity_map_without_a_two_axis_grid() {
    // Zip mode over the same points.
    let mut r = validity_record();
    put(&mut r, "/sweep", "mode", true, &[], Data::Str(vec!["zip".into()]));
    put(&mut r, "/sweep", "shape", true, &[1], Data::I64(vec![12]));
    let figs = figures_of(&r, &PlotOptions { x: Some("reduced.delta_r".into()), ..Default::default() }).unwrap();
    assert!(figs.iter().all(|f| !f.0.starts_with("validity_map")), "{:?}", figs.iter().map(|f| &f.0).collect::<Vec<_>>());
    // One axis.
    let mut r = validity_record();
    r.items.retain(|k, _| !(k.group == "/sweep/params" && k.name == "reduced.alpha"));
    put(&mut r, "/sweep", "axes", true, &[1], Data::Str(vec!["reduced.delta_r".into()]));
    put(&mut r, "/sweep", "shape", true, &[1], Data::I64(vec![12]));
    let figs = figures_of(&r, &PlotOptions::default()).unwrap();
    assert_eq!(figs.len(), 1);
    assert!(!figs[0].0.starts_with("validity_map"));
}

#[test]
fn a_validity_map_survives_an_hdf5_file() {
    // Written and read back by the crate's own writer and reader, +∞ and NaN included.
    let dir = std::env::temp_dir().join(format!("qbsim-plot-validity-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("map.h5");
    let out = crate::output::OutputFile::create(&file).unwrap();
    validity_record().write_to(&out).unwrap();
    out.finish().unwrap();
    let written = plot_file(&file, &PlotOptions { out_dir: Some(dir.clone()), ..Default::default() });
    let _ = std::fs::remove_dir_all(&dir);
    let written = written.unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert!(names.contains(&"map_validity_map.png".to_string()), "{names:?}");
}

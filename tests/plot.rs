//! End-to-end: `qbsim plot` on files made by the binary itself from small
//! configs (a reduced run with a phase diagram, markers and critical times; a
//! three-engine [model] run; a validation; an unrealizable validation; a
//! 2-axis sweep), checking every image it reports: it exists, is a PNG with
//! sane dimensions (from its IHDR chunk) or a complete SVG document whose
//! text is glyph outlines (no font needed to view it). That the
//! images are not blank is checked in `src/plot/tests.rs`, where the same
//! drawing code renders into an in-memory buffer.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qbsim-plot-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Held while a child is spawned, and while this process has an HDF5 file
/// open: a child spawned meanwhile would inherit the open descriptor and
/// with it HDF5's file lock, and the plot of that file would then fail.
static SPAWN: Mutex<()> = Mutex::new(());

fn qbsim(args: &[&str], cwd: &Path) -> Output {
    let child = {
        let _guard = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
        Command::new(env!("CARGO_BIN_EXE_qbsim"))
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files a `qbsim plot` run says it wrote.
fn written(stdout: &str, cwd: &Path) -> Vec<PathBuf> {
    stdout.lines().filter_map(|l| l.strip_prefix("wrote ")).map(|p| cwd.join(p)).collect()
}

/// Width and height of a PNG, from the IHDR chunk that must follow the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "too short for a PNG");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "IHDR first");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

fn check_png(path: &Path) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h) = png_size(&bytes);
    assert!((800..=3000).contains(&w) && (400..=2000).contains(&h), "{}: {w}×{h}", path.display());
    // A blank image compresses to almost nothing; a figure does not.
    assert!(bytes.len() > 20_000, "{}: only {} bytes", path.display(), bytes.len());
}

/// A complete SVG whose text is glyph outlines (no `<text>`, no font name:
/// it looks the same where DejaVu is not installed); returns the plain text
/// of its lines (the accessible names of the glyph groups).
fn check_svg(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.starts_with("<svg") || text.starts_with("<?xml"), "{}", path.display());
    assert!(text.trim_end().ends_with("</svg>"), "{}", path.display());
    assert!(!text.contains("<text") && !text.contains("font-family"), "{}: text needs a font", path.display());
    assert!(text.contains("<path id=\"qg") && text.contains("<use xlink:href=\"#qg"), "{}: no glyphs", path.display());
    text.match_indices("aria-label=\"")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

/// Plots `file` into `figs/` and checks that exactly the expected figures came out.
fn plot_and_check(d: &Path, file: &str, expect: &[&str]) {
    let stdout = ok(&qbsim(&["plot", file, "-o", "figs"], d));
    let files = written(&stdout, d);
    let stem = Path::new(file).file_stem().unwrap().to_string_lossy().into_owned();
    let want: Vec<PathBuf> = expect.iter().map(|f| d.join("figs").join(format!("{stem}_{f}.png"))).collect();
    assert_eq!(files, want, "{stdout}");
    for f in &files {
        check_png(f);
    }
}

const REDUCED: &str = "\
[reduced]
gamma_a = 0.5
gamma_b = 0.5
delta_r = 0.0

[time]
t_end = 8.0
n_save = 81

[phase]
gamma_b = 0.5
delta_r = { start = -2.0, stop = 2.0, n = 41 }
alpha = { start = -0.25, stop = 1.5, n = 15 }
e_max = 1e3
markers = [[0.0, -0.25], [0.0, 0.75], [0.0, 1.25]]
";

const MODEL: &str = "\
[model]
cutoffs = [4, 4, 2]
delta = [0.3, -0.3, 0.0]
drive = 0.1
kappa = [0.1, 0.1, 2.0]
gamma = 1.0

[time]
t_end = 10.0
n_save = 41

[solver]
engines = [\"master\", \"moments\", \"reduced\"]
";

const SWEEP: &str = "\
[reduced]
gamma_a = 1.5
gamma_b = 0.5
delta_r = 0.0

[time]
t_end = 5.0
n_save = 11

[sweep]
\"reduced.gamma_b\" = { linspace = [0.5, 1.5, 3] }
\"reduced.delta_r\" = { linspace = [-1, 1, 5] }
";

#[test]
fn reduced_run_with_phase_diagram_gives_every_reduced_figure() {
    let d = scratch("reduced");
    fs::write(d.join("r.toml"), REDUCED).unwrap();
    ok(&qbsim(&["run", "r.toml", "-o", "r.h5", "-q"], &d));
    plot_and_check(&d, "r.h5", &["traces", "markers", "phase", "eigenvalues", "tcrit"]);
    // SVG of the same file.
    let stdout = ok(&qbsim(&["plot", "r.h5", "-o", "svg", "--format", "svg"], &d));
    let files = written(&stdout, &d);
    assert_eq!(files.len(), 5, "{stdout}");
    for f in &files {
        assert_eq!(f.extension().and_then(|e| e.to_str()), Some("svg"));
        let texts = check_svg(f);
        assert!(!texts.is_empty(), "{}: no text", f.display());
    }
    // Default directory: beside the input.
    let stdout = ok(&qbsim(&["plot", "r.h5"], &d));
    assert!(stdout.contains("r_phase.png") && d.join("r_phase.png").exists(), "{stdout}");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn three_engine_model_run_gives_overlaid_traces() {
    let d = scratch("model");
    fs::write(d.join("m.toml"), MODEL).unwrap();
    ok(&qbsim(&["run", "m.toml", "-o", "m.h5", "-q"], &d));
    plot_and_check(&d, "m.h5", &["traces"]);
    // One figure (the /reduced of this [model] is mapped: /map), with the
    // model's parameters, the config's time unit and every engine overlaid.
    let stdout = ok(&qbsim(&["plot", "m.h5", "-o", "svg", "--format", "svg"], &d));
    let files = written(&stdout, &d);
    assert_eq!(files, vec![d.join("svg/m_traces.svg")]);
    let texts = check_svg(&files[0]);
    for want in ["N_a,b,c = 4×4×2", "Γ = 1", "E = 0.1", "δ_a,b,c = (0.3, −0.3, 0)", "t (config time unit", "master equation", "exact moments", "reduced model"] {
        assert!(texts.iter().any(|t| t.contains(want)), "{want:?} not drawn: {texts:?}");
    }
    assert!(!texts.iter().any(|t| t.contains("INTERRUPTED")), "a complete run has no banner");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn an_interrupted_file_is_marked_on_its_figures() {
    let d = scratch("interrupted");
    // A partial [model] result as an interrupted run leaves it: the saves
    // done, /master/@t_final, and the interrupted flags.
    {
        let _guard = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
        let root = qbsim::output::record::Record::new_root();
        root.attr_str("qbsim_version", "test").unwrap();
        root.attr_u8("interrupted", 1).unwrap();
        let m = root.group("master").unwrap();
        let t: Vec<f64> = (0..21).map(|k| 0.25 * f64::from(k)).collect();
        let e: Vec<f64> = t.iter().map(|t| (1.0 - (-t).exp()).powi(2)).collect();
        let p: Vec<f64> = t.iter().map(|t| 2.0 * (-t).exp() * (1.0 - (-t).exp())).collect();
        m.write_f64("t", &t).unwrap();
        m.write_f64("energy_b", &e).unwrap();
        m.write_f64("power_b", &p).unwrap();
        m.attr_f64("t_final", 5.0).unwrap();
        m.attr_u8("interrupted", 1).unwrap();
        let f = qbsim::output::OutputFile::create(&d.join("i.h5")).unwrap();
        root.record().write_to(&f).unwrap();
        f.finish().unwrap();
    }
    plot_and_check(&d, "i.h5", &["traces"]);
    let stdout = ok(&qbsim(&["plot", "i.h5", "-o", "svg", "--format", "svg"], &d));
    let texts = check_svg(&written(&stdout, &d)[0]);
    assert!(texts.iter().any(|t| t == "INTERRUPTED — partial result (t ≤ 5)"), "{texts:?}");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn validation_files_give_the_error_plot_or_the_verdict() {
    let d = scratch("validate");
    let near_ep = repo().join("configs/validation/near_ep.toml");
    ok(&qbsim(&["validate", near_ep.to_str().unwrap(), "-o", "v.h5", "--ratios", "10,100", "--set", "time.n_save=21"], &d));
    plot_and_check(&d, "v.h5", &["validation"]);
    let broken = repo().join("configs/validation/fig3d_broken.toml");
    ok(&qbsim(&["validate", broken.to_str().unwrap(), "-o", "u.h5"], &d));
    plot_and_check(&d, "u.h5", &["validation"]);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn two_axis_sweep_gives_a_map_of_the_chosen_scalar() {
    let d = scratch("sweep");
    fs::write(d.join("s.toml"), SWEEP).unwrap();
    ok(&qbsim(&["sweep", "s.toml", "-o", "s.h5", "--threads", "1"], &d));
    plot_and_check(&d, "s.h5", &["sweep_energy_b_final"]);
    let stdout = ok(&qbsim(&["plot", "s.h5", "-o", "figs", "--y", "growth_rate", "--x", "reduced.gamma_b"], &d));
    let files = written(&stdout, &d);
    assert_eq!(files, vec![d.join("figs/s_sweep_growth_rate.png")]);
    check_png(&files[0]);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn bad_plot_requests_fail_with_one_message_and_exit_code_2() {
    let d = scratch("bad");
    fs::write(d.join("s.toml"), SWEEP).unwrap();
    ok(&qbsim(&["sweep", "s.toml", "-o", "s.h5", "--threads", "1"], &d));
    fs::write(d.join("not.h5"), b"not an HDF5 file").unwrap();
    // A valid qbsim HDF5 file with nothing to plot (only a root attribute).
    {
        let _guard = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
        let f = qbsim::output::OutputFile::create(&d.join("empty.h5")).unwrap();
        f.root().strings_shaped("note", &[], &["nothing here".to_string()], true).unwrap();
        f.finish().unwrap();
    }
    let cases: [(&[&str], &str); 6] = [
        (&["plot", "missing.h5"], "no such file"),
        (&["plot", "not.h5"], "cannot read"),
        (&["plot", "empty.h5"], "nothing to plot"),
        (&["plot", "s.h5", "--y", "nope"], "unknown --y `nope`"),
        (&["plot", "s.h5", "--x", "reduced.nope"], "unknown --x"),
        (&["plot", "empty.h5", "--format", "gif"], "gif"),
    ];
    for (args, needle) in cases {
        let out = qbsim(args, &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        // (clap words a bad --format itself, with the possible values.)
        if !args.contains(&"--format") {
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: one message, got {err}");
        }
    }
    // Nothing was written for the failed requests.
    assert!(!d.join("s_sweep_nope.png").exists());
    let _ = fs::remove_dir_all(&d);
}

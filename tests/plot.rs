//! End-to-end: `qbsim plot` on files made by the binary itself from small
//! configs (a reduced run with a phase diagram, markers and critical times; a
//! three-engine [model] run; a validation; an unrealizable validation; a
//! 2-axis sweep), checking every image it reports: it exists, is a PNG with
//! sane dimensions (from its IHDR chunk) or a complete SVG document. That the
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

fn check_svg(path: &Path) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.starts_with("<svg") || text.starts_with("<?xml"), "{}", path.display());
    assert!(text.contains("</svg>") && text.contains("<text"), "{}", path.display());
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
        check_svg(f);
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

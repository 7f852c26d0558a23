//! End-to-end: the `qbsim` binary on real configs, its HDF5 output read by
//! h5py, and bad input refused before anything is written.

mod common;

use common::{h5py_check, qbsim, repo, scratch};
use std::fs;

const GOOD: &str = "[reduced]\ngamma_a = 1.5\ngamma_b = 0.5\ndelta_r = 0.2\n\n[time]\nt_end = 10.0\nn_save = 101\n";

#[test]
fn run_output_opens_in_h5py_with_every_documented_path() {
    let d = scratch("run");
    let cfg = repo().join("configs/paper/fig3a.toml");
    let out = qbsim(&["run", cfg.to_str().unwrap(), "-o", "fig3a.h5"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("broken") && stdout.contains("not realizable") && stdout.contains("wrote"), "{stdout}");
    h5py_check(&d.join("fig3a.h5"), &["/", "/reduced", "/phase", "/phase/markers", "+markers"]);
    // No temporary file is left beside the output.
    let left: Vec<_> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[test]
fn phase_output_has_critical_times() {
    let d = scratch("phase");
    let cfg = repo().join("configs/paper/fig6.toml");
    let out = qbsim(&["phase", cfg.to_str().unwrap(), "-o", "fig6.h5"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Eq.33"));
    h5py_check(&d.join("fig6.h5"), &["/", "/phase", "+e_max"]);
}

#[test]
fn set_override_changes_the_run_and_is_recorded() {
    let d = scratch("set");
    fs::write(d.join("c.toml"), GOOD).unwrap();
    let out = qbsim(&["run", "c.toml", "--set", "reduced.delta_r=1.0", "--set", "reduced.gamma_a=0.5"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("exceptional_point"));
    // Default output name: <config stem>.h5.
    assert!(d.join("c.h5").exists());
}

#[test]
fn bad_input_is_refused_with_one_clear_message_and_nothing_written() {
    let d = scratch("bad");
    fs::write(d.join("keep.h5"), b"precious").unwrap();
    fs::create_dir(d.join("subdir")).unwrap();
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (GOOD.replace("gamma_a", "gama_a"), vec![], "gama_a"),
        (GOOD.replace("[reduced]\ngamma_a = 1.5\ngamma_b = 0.5\ndelta_r = 0.2\n", ""), vec![], "missing section [reduced]"),
        (GOOD.replace("n_save = 101", "n_save = 1"), vec![], "time.n_save"),
        (GOOD.replace("t_end = 10.0", "t_end = 0"), vec![], "time.t_end"),
        (GOOD.replace("t_end = 10.0", "t_end = -2.5"), vec![], "time.t_end"),
        (GOOD.replace("gamma_b = 0.5", "gamma_b = nan"), vec![], "reduced.gamma_b"),
        (GOOD.replace("delta_r = 0.2", "delta_r = inf"), vec![], "reduced.delta_r"),
        (GOOD.to_string(), vec!["--set", "time.n_save=0"], "time.n_save"),
        (GOOD.to_string(), vec!["-o", "/nonexistent-dir/x.h5"], "/nonexistent-dir"),
        (GOOD.to_string(), vec!["-o", "subdir"], "subdir"),
    ];
    for (k, (text, extra, needle)) in cases.iter().enumerate() {
        let cfg = format!("bad{k}.toml");
        fs::write(d.join(&cfg), text).unwrap();
        let mut args = vec!["run", cfg.as_str()];
        if !extra.contains(&"-o") {
            args.extend(["-o", "keep.h5"]);
        }
        args.extend(extra.iter());
        let out = qbsim(&args, &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {k} succeeded");
        assert!(err.contains(needle), "case {k}: {err}");
        assert_eq!(err.trim().lines().filter(|l| l.starts_with("error:")).count(), 1, "case {k}: {err}");
        assert_eq!(fs::read(d.join("keep.h5")).unwrap(), b"precious", "case {k} clobbered the output");
    }
    // Only the configs and the untouched file: no output, no temporaries.
    for e in fs::read_dir(&d).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(name.ends_with(".toml") || name == "keep.h5" || name == "subdir", "left behind: {name}");
    }
}

#[test]
fn missing_config_file_is_named() {
    let d = scratch("missing");
    let out = qbsim(&["run", "nope.toml"], &d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));
}

#[test]
fn every_paper_preset_runs() {
    let d = scratch("presets");
    for e in fs::read_dir(repo().join("configs/paper")).unwrap() {
        let p = e.unwrap().path();
        let out = qbsim(&["phase", p.to_str().unwrap(), "-o", "x.h5"], &d);
        assert!(out.status.success(), "{}: {}", p.display(), String::from_utf8_lossy(&out.stderr));
    }
}

const MODEL: &str = "[model]\ncutoffs = [4, 4, 3]\ndelta = [0.3, -0.2, 0.1]\ndrive = 0.2\nkappa = [0.1, 0.1, 2.0]\ngamma = 1.0\np_a = [0.8, 0.3]\nn_th = [0.1, 0.0, 0.0]\n\n[time]\nt_end = 5.0\nn_save = 11\n\n[output]\nsave_state = \"final\"\n";

#[test]
fn master_run_output_opens_in_h5py_with_every_documented_path() {
    let d = scratch("master");
    fs::write(d.join("m.toml"), MODEL).unwrap();
    let out = qbsim(&["run", "m.toml", "-o", "m.h5", "--quiet"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("master equation") && stdout.contains("steps"), "{stdout}");
    h5py_check(&d.join("m.h5"), &["/", "/master", "+save_state"]);
}

#[test]
fn bad_model_input_is_refused_naming_the_key() {
    let d = scratch("badmodel");
    let cases = [
        (MODEL.replace("kappa = [0.1, 0.1, 2.0]", "kappa = [0.1, -0.1, 2.0]"), "model.kappa[1]"),
        (MODEL.replace("n_th = [0.1, 0.0, 0.0]", "n_th = [0.1, -1.0, 0.0]"), "model.n_th[1]"),
        (MODEL.replace("cutoffs = [4, 4, 3]", "cutoffs = [4, 0, 3]"), "model.cutoffs[1]"),
        (MODEL.replace("cutoffs = [4, 4, 3]", "cutoffs = [400, 400, 30]"), "model.cutoffs"),
        (MODEL.replace("gamma = 1.0", "gamma = nan"), "model.gamma"),
        (MODEL.replace("drive = 0.2", "drive = inf"), "model.drive"),
        (MODEL.replace("[time]", "[solver]\nmethod = \"rk4\"\n\n[time]"), "solver.method"),
    ];
    for (k, (text, needle)) in cases.iter().enumerate() {
        fs::write(d.join("m.toml"), text).unwrap();
        let out = qbsim(&["run", "m.toml", "-o", "m.h5"], &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {k}: {err}");
        assert!(err.contains(needle), "case {k}: {err}");
        assert!(!d.join("m.h5").exists(), "case {k} wrote a file");
    }
}

#[test]
fn engines_side_by_side_write_master_moments_reduced_and_map() {
    let d = scratch("side");
    let cfg = "[model]\ncutoffs = [5, 5, 3]\ndelta = [0.05, -0.05, 0.0]\ndrive = 0.02\nkappa = [0.1, 0.1, 20.0]\ngamma = 10.0\np_a = [0.8, 0.6]\n\n[time]\nt_end = 5.0\nn_save = 21\n\n[solver]\nengines = [\"master\", \"moments\", \"reduced\"]\n";
    fs::write(d.join("s.toml"), cfg).unwrap();
    let out = qbsim(&["run", "s.toml", "-o", "s.h5", "-q"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    h5py_check(&d.join("s.h5"), &["/", "/master", "/moments", "/reduced", "/map"]);
}

#[test]
fn validate_reports_an_unrealizable_point_without_running() {
    let d = scratch("validate");
    let cfg = repo().join("configs/validation/fig3d_broken.toml");
    let out = qbsim(&["validate", cfg.to_str().unwrap(), "-o", "v.h5"], &d);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("not realizable") && stdout.contains("gamma_a = 1.000000"), "{stdout}");
    h5py_check(&d.join("v.h5"), &["/", "/validation", "+unrealizable"]);
}

#[test]
fn validate_writes_the_convergence_table() {
    let d = scratch("validate2");
    let cfg = repo().join("configs/validation/near_boundary.toml");
    let out = qbsim(&["validate", cfg.to_str().unwrap(), "-o", "v.h5", "-q", "--ratios", "10,100", "--set", "time.n_save=31"], &d);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("slope"));
    h5py_check(&d.join("v.h5"), &["/", "/validation", "/validation/traces", "+master"]);
}

#[test]
fn map_prints_both_directions_and_refuses_zero_coupling() {
    let d = scratch("map");
    fs::write(d.join("m.toml"), "[model]\ncutoffs = [2, 2, 2]\ndrive = 0.1\nkappa = [0.1, 0.1, 2.0]\ngamma = 1.0\n\n[reduced]\ngamma_a = 0.6\ngamma_b = 2.0\ndelta_r = 0.3\n").unwrap();
    let out = qbsim(&["map", "m.toml"], &d);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && s.contains("microscopic -> reduced") && s.contains("reduced -> microscopic"), "{s}");
    let out = qbsim(&["map", "m.toml", "--set", "model.p_cb=0"], &d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no effective coupling"));
}

/// The paper's safety protocol (preset a): its event fires at the exact
/// critical time `qbsim phase` reports at the same point, and the files
/// carry the protocol (in the stored config and in /protocol).
#[test]
fn the_sm2_preset_fires_at_the_critical_time_of_qbsim_phase() {
    let d = scratch("sm2");
    let sm2 = repo().join("configs/protocols/sm2_reduced.toml");
    let fig6 = repo().join("configs/paper/fig6.toml");
    let o = qbsim(&["run", sm2.to_str().unwrap(), "-o", "sm2.h5", "-q"], &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = qbsim(&["phase", fig6.to_str().unwrap(), "--set", "phase.delta_r={start = 0.0, stop = 0.0, n = 1}", "-o", "fig6.h5", "-q"], &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |f: &str| qbsim::output::read::read_file(&d.join(f)).unwrap();
    let (sm2, fig6) = (read("sm2.h5"), read("fig6.h5"));
    let te = sm2.f64s("/reduced", "event_times", false).unwrap().to_vec();
    let tc = fig6.f64s("/phase", "t_crit_exact", false).unwrap()[0];
    assert_eq!(te.len(), 1);
    assert!((te[0] - tc).abs() <= 1e-9 * tc, "event {} vs t_crit {tc}", te[0]);
    assert_eq!(sm2.f64s("/reduced/events", "energy_b", false).unwrap().len(), 1);
    assert!(sm2.attr_str("/", "config").unwrap().contains("[[protocol.event]]"));
    assert!(sm2.get("/protocol", "event_specs", false).is_some());
}

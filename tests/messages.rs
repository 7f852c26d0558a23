//! What a user reads: error messages in the words of the config (never a Rust
//! type), summaries without float noise, per-command help, `qbsim check`,
//! and engines that refuse what they cannot honour.

mod common;

use common::{qbsim, repo, scratch};
use std::fs;

const MODEL: &str = "[model]\ncutoffs = [4, 4, 2]\ndelta = [0.3, -0.2, 0.0]\ndrive = 0.1\nkappa = [0.1, 0.1, 2.0]\ngamma = 1.0\n\n[time]\nt_end = 2.0\nn_save = 5\n";
const REDUCED: &str = "[reduced]\ngamma_a = 1.5\ngamma_b = 0.5\ndelta_r = 0.2\n\n[time]\nt_end = 10.0\nn_save = 11\n";

/// Words that would mean a Rust type leaked into a message.
const RUST_WORDS: [&str; 10] = ["Raw", "enum", "struct", "i64", "f64", "usize", "Some(", "None", "Kernel", "Grid"];

fn stderr_of(args: &[&str], cwd: &std::path::Path) -> (Option<i32>, String) {
    let o = qbsim(args, cwd);
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn config_errors_speak_toml_not_rust() {
    let d = scratch("msg-types");
    fs::write(d.join("m.toml"), MODEL).unwrap();
    for (set, needle) in [
        ("model.p_a=\"abc\"", "expected a number or [re, im]"),
        ("initial.a=5", "expected \"vacuum\", { coherent = [re, im] }"),
        ("reduced=3", "expected a table [reduced]"),
        ("time.n_save=2.5", "expected an integer"),
        ("model.cutoffs=[4,4,\"x\"]", "expected an integer"),
        ("phase.delta_r=5", "expected a range { start = ..., stop = ..., n = ... }"),
    ] {
        let (code, err) = stderr_of(&["run", "m.toml", "--set", set], &d);
        assert_eq!(code, Some(2), "{set}: {err}");
        assert!(err.contains(needle), "{set}: {err}");
        for w in RUST_WORDS {
            assert!(!err.contains(w), "{set}: `{w}` in {err}");
        }
    }
}

#[test]
fn errors_caused_by_set_point_at_the_set_argument() {
    let d = scratch("msg-set");
    fs::write(d.join("m.toml"), MODEL).unwrap();
    let (code, err) = stderr_of(&["run", "m.toml", "--set", "model.kappa[1]=-0.1"], &d);
    assert_eq!(code, Some(2));
    assert!(err.contains("(--set model.kappa[1]=-0.1)") && err.contains("model.kappa[1]"), "{err}");
    // The file's (valid) line is not quoted as if it were the culprit.
    assert!(!err.contains("kappa = [0.1, 0.1, 2.0]"), "{err}");
}

#[test]
fn sweep_limits_give_the_real_reason() {
    let d = scratch("msg-sweep");
    let sweep = format!("{REDUCED}\n[sweep]\n\"reduced.delta_r\" = {{ linspace = [-1, 1, 1000000000] }}\n");
    fs::write(d.join("s.toml"), sweep).unwrap();
    let (code, err) = stderr_of(&["sweep", "s.toml"], &d);
    assert_eq!(code, Some(2));
    assert!(err.contains("more than the 10000000 points a sweep may have") && !err.contains("integer n >= 1"), "{err}");
}

#[test]
fn merge_of_a_missing_or_foreign_input_says_it_cannot_read_it() {
    let d = scratch("msg-merge");
    fs::write(d.join("notes.txt"), "not hdf5").unwrap();
    for (input, needle) in [("nope.h5", "No such file"), ("notes.txt", "not an HDF5 file")] {
        let (code, err) = stderr_of(&["merge", input, "-o", "m.h5"], &d);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(&format!("cannot read input file \"{input}\"")) && err.contains(needle), "{err}");
        assert!(!err.contains("H5F") && !err.contains("cannot write"), "{err}");
    }
}

#[test]
fn summaries_have_no_float_noise_and_count_in_words() {
    let d = scratch("msg-cosmetics");
    fs::write(d.join("r.toml"), REDUCED).unwrap();
    let o = qbsim(&["run", "r.toml", "--set", "time.t_end=12.345678901234567", "-o", "r.h5"], &d);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("E_B(tau = 12.3457)"), "{out}");
    fs::write(d.join("m.toml"), MODEL).unwrap();
    let o = qbsim(&["run", "m.toml", "-o", "m.h5", "-q"], &d);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("cutoffs (4, 4, 2)") && !out.contains(" ,"), "{out}");
    let sweep = format!("{REDUCED}\n[sweep]\n\"reduced.delta_r\" = {{ values = [0.1, 0.2, 0.3] }}\n");
    fs::write(d.join("s.toml"), sweep).unwrap();
    let o = qbsim(&["sweep", "s.toml", "-o", "s.h5", "-q"], &d);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("3 points") && out.contains("1 axis,") && out.contains("mode grid"), "{out}");
    let map = "[model]\ncutoffs = [2, 2, 2]\ndrive = 0.1\nkappa = [0.1, 0.1, 2.0]\ngamma = 1.0\n";
    fs::write(d.join("map.toml"), map).unwrap();
    let o = qbsim(&["map", "map.toml"], &d);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && !out.contains("-0.0000e0"), "{out}");
}

#[test]
fn every_subcommand_help_shows_its_own_examples() {
    let d = scratch("msg-help");
    for (cmd, own) in [
        ("run", "qbsim run --resume"),
        ("phase", "qbsim phase configs/paper/fig6.toml"),
        ("validate", "qbsim validate configs/validation/near_ep.toml"),
        ("sweep", "qbsim sweep configs/sweeps/delta_gamma.toml --shard 0/3"),
        ("merge", "qbsim merge delta_gamma.shard"),
        ("map", "qbsim map configs/validation/near_boundary.toml"),
        ("plot", "qbsim plot fig3a.h5"),
        ("check", "qbsim check configs/master/bench.toml"),
    ] {
        let o = qbsim(&[cmd, "--help"], &d);
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(help.contains(own), "{cmd}: {help}");
        let others = help.lines().filter(|l| l.trim_start().starts_with("qbsim ") && !l.trim_start().starts_with(&format!("qbsim {cmd}")));
        assert_eq!(others.count(), 0, "{cmd} --help shows another command's examples: {help}");
    }
}

#[test]
fn check_reports_without_computing_and_refuses_like_run() {
    let d = scratch("msg-check");
    fs::write(d.join("m.toml"), MODEL).unwrap();
    let o = qbsim(&["check", "m.toml", "-o", "out.h5", "--set", "time.n_save=7"], &d);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    for needle in ["n_save = 7", "master (Lindblad master equation, cutoffs (4, 4, 2), d = 32", "memory estimate:", "output: out.h5 (new file)", "nothing was computed"] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    assert!(!d.join("out.h5").exists());
    let (code, err) = stderr_of(&["check", "m.toml", "-o", "m.toml"], &d);
    assert_eq!(code, Some(2));
    assert!(err.contains("input file"), "{err}");
}

#[test]
fn the_reduced_engine_refuses_what_it_cannot_honour() {
    let d = scratch("msg-reduced");
    let cfg = format!("{MODEL}\n[solver]\nengines = [\"master\", \"reduced\"]\n");
    fs::write(d.join("m.toml"), cfg).unwrap();
    for (set, needle) in [
        ("initial.b={coherent=[0.1,0.0]}", "starts from the vacuum"),
        ("model.n_th=[0.0,0.1,0.0]", "only at zero temperature"),
    ] {
        let (code, err) = stderr_of(&["run", "m.toml", "--set", set, "-o", "x.h5"], &d);
        assert_eq!(code, Some(2), "{set}: {err}");
        assert!(err.contains(needle) && err.contains("\"reduced\""), "{set}: {err}");
    }
    // A [phase]-only config: `run` computes the phase diagram, as its help says.
    let fig6 = repo().join("configs/paper/fig6.toml");
    let o = qbsim(&["run", fig6.to_str().unwrap(), "-o", "p.h5"], &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("phase diagram"));
}

#[test]
fn engines_refuse_model_terms_they_cannot_treat_exactly_naming_the_key() {
    let d = scratch("msg-terms");
    let cfg = format!("{MODEL}\n[solver]\nengines = [\"master\", \"moments\"]\n");
    fs::write(d.join("m.toml"), cfg).unwrap();
    for (set, key) in [
        ("model.kerr=[0,0.5,0]", "model.kerr"),
        ("model.cross_kerr=[0.1,0,0]", "model.cross_kerr"),
    ] {
        let (code, err) = stderr_of(&["run", "m.toml", "--set", set, "-o", "x.h5"], &d);
        assert_eq!(code, Some(2), "{set}: {err}");
        assert!(err.contains(&format!("`{key}`")) && err.contains("\"moments\""), "{set}: {err}");
        assert!(!d.join("x.h5").exists());
    }
    // Exchange is quadratic and dephasing keeps the moments closed: the
    // moments stay exact and the run goes ahead.
    for set in ["model.exchange=[[0.1,0.05],0,0]", "model.dephasing=[0,0.1,0]"] {
        let o = qbsim(&["run", "m.toml", "--set", set, "-o", "x.h5", "-q"], &d);
        assert!(o.status.success(), "{set}: {}", String::from_utf8_lossy(&o.stderr));
    }
    // The reduced map has no such terms either.
    let (code, err) = stderr_of(&["map", "m.toml", "--set", "model.kerr=[0,0.5,0]"], &d);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("model.kerr"), "{err}");
}

/// Invalid protocols are refused before any work, naming the key and the
/// reason, and nothing is written.
#[test]
fn invalid_protocols_are_refused_with_the_key_and_the_reason() {
    let d = scratch("msg-protocol");
    let step = |body: &str| format!("{REDUCED}\n[[protocol.step]]\n{body}\n");
    let event = |body: &str| format!("{REDUCED}\n[[protocol.event]]\n{body}\n");
    let cases: Vec<(String, &str, &str)> = vec![
        (step("at = 2.0\nset = { \"reduced.delta_r\" = 0.5 }\nwhen = 3"), "unknown field `when`", "when"),
        (step("at = 2.0\nset = { \"reduced.no_such\" = 0.5 }"), "protocol.step[0].set", "no_such"),
        (format!("{REDUCED}\n[[protocol.step]]\nat = 4.0\nset = {{ \"reduced.delta_r\" = 0.5 }}\n[[protocol.step]]\nat = 3.0\nset = {{ \"reduced.delta_r\" = 0.1 }}\n"), "protocol.step[1].at", "must increase"),
        (step("at = 12.0\nset = { \"reduced.delta_r\" = 0.5 }"), "protocol.step[0].at", "past t_end"),
        (step("at = 2.0\nset = { \"model.drive\" = 0.5 }"), "protocol.step[0].set.\"model.drive\"", "[reduced] parameters"),
        (step("at = 2.0\nramp = 9.0\nset = { \"reduced.delta_r\" = 0.5 }"), "protocol.step[0].ramp", "past t_end"),
        (event("observable = \"ergotropy_b\"\nabove = 1.0\naction = \"stop\""), "protocol.event[0].observable", "not a real observable of engine \"reduced\""),
        (event("observable = \"energy_b\"\nabove = 1.0\nbelow = 0.5\naction = \"stop\""), "protocol.event[0]", "not both"),
        (event("observable = \"energy_b\"\naction = \"stop\""), "protocol.event[0]", "`above = ...` or `below = ...`"),
        (event("observable = \"energy_b\"\nabove = 1.0"), "protocol.event[0]", "`action = \"stop\"`"),
        (event("observable = \"energy_b\"\nabove = 1.0\naction = \"pause\""), "protocol.event[0].action", "\"pause\" is not an action"),
        (step("at = 2.0\nset = { \"reduced.gamma_b\" = -1.0 }"), "protocol.step[0].set", "gamma_b"),
    ];
    for (k, (text, key, reason)) in cases.iter().enumerate() {
        let name = format!("p{k}.toml");
        fs::write(d.join(&name), text).unwrap();
        let out = format!("p{k}.h5");
        let (code, err) = stderr_of(&["run", &name, "-o", &out], &d);
        assert_eq!(code, Some(2), "case {k}: {err}");
        assert!(err.contains(key) && err.contains(reason), "case {k}: want `{key}` and `{reason}` in: {err}");
        assert!(!d.join(&out).exists(), "case {k}: nothing is written");
    }
    // A [model] config: the cutoffs are not a protocol's to change; a
    // reduced-section key is the wrong section.
    for (set, needle) in [("\"model.cutoffs\" = [3, 3, 2]", "cannot change the Fock cutoffs"), ("\"reduced.delta_r\" = 1.0", "[model] parameters")] {
        fs::write(d.join("m.toml"), format!("{MODEL}\n[[protocol.step]]\nat = 1.0\nset = {{ {set} }}\n")).unwrap();
        let (code, err) = stderr_of(&["run", "m.toml", "-o", "m.h5"], &d);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

use super::*;
use std::path::Path;

const GOOD: &str = r#"
[reduced]
gamma_a = 1.5
gamma_b = 0.5
delta_r = 0.2

[time]
t_end = 10.0
n_save = 101

[output]
path = "out.h5"
"#;

fn p(text: &str, sets: &[&str]) -> Result<Config, ConfigError> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    parse(text, Path::new("cfg.toml"), &sets)
}

#[test]
fn good_config_parses_to_typed_values() {
    let c = p(GOOD, &[]).unwrap();
    let r = c.reduced.unwrap();
    assert_eq!((r.gamma_a, r.gamma_b, r.delta_ra, r.delta_rb, r.drive_r), (1.5, 0.5, 0.2, -0.2, 1.0));
    assert_eq!(c.time.unwrap().times().len(), 101);
    assert_eq!(c.output_path.unwrap(), Path::new("out.h5"));
}

#[test]
fn unknown_key_names_key_section_and_line() {
    let e = p(&GOOD.replace("gamma_a = 1.5", "gama_a = 1.5"), &[]).unwrap_err();
    let s = e.to_string();
    assert_eq!(e.origin, Origin::File { line: 3, column: 1 });
    assert!(s.contains("gama_a") && s.contains("[reduced]") && s.contains("cfg.toml:3:1"), "{s}");
}

#[test]
fn invalid_values_name_key_value_and_location() {
    let cases = [
        ("n_save = 101", "n_save = 1", "time.n_save", 9),
        ("t_end = 10.0", "t_end = 0.0", "time.t_end", 8),
        ("t_end = 10.0", "t_end = -3", "time.t_end", 8),
        ("gamma_b = 0.5", "gamma_b = nan", "reduced.gamma_b", 4),
        ("delta_r = 0.2", "delta_r = inf", "reduced.delta_r", 5),
        ("gamma_a = 1.5", "gamma_a = -1.5", "reduced.gamma_a", 3),
    ];
    for (from, to, key, line) in cases {
        let e = p(&GOOD.replace(from, to), &[]).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(matches!(e.origin, Origin::File { line: l, .. } if l == line), "{e}");
        let value = to.split(" = ").nth(1).unwrap();
        assert!(e.to_string().contains(value.trim_start_matches('-')), "{e}");
    }
}

#[test]
fn missing_key_and_section_are_named() {
    let e = p(&GOOD.replace("gamma_b = 0.5\n", ""), &[]).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("reduced.gamma_b"));
    let c = p("[time]\nt_end = 1.0\nn_save = 3\n", &[]).unwrap();
    let e = c.require_reduced("`qbsim run` needs the reduced model").unwrap_err();
    assert!(e.to_string().contains("missing section [reduced]"), "{e}");
}

#[test]
fn set_overrides_any_key_and_is_recorded_in_effective_text() {
    let c = p(GOOD, &["reduced.delta_r=0.4", "output.path=other.h5", "time.n_save=7"]).unwrap();
    assert_eq!(c.reduced.unwrap().delta_ra, 0.4);
    assert_eq!(c.time.unwrap().n_save, 7);
    assert_eq!(c.output_path.unwrap(), Path::new("other.h5"));
    assert!(c.effective_text.contains("delta_r = 0.4"));
    // New sections are created.
    let c = p(GOOD, &["phase.gamma_b=1", "phase.delta_r={start=-1, stop=1, n=3}", "phase.alpha={start=0, stop=0, n=1}"])
        .unwrap();
    assert_eq!(c.phase.unwrap().grid.delta_r, vec![-1.0, 0.0, 1.0]);
}

#[test]
fn bad_overrides_are_refused_naming_the_argument() {
    let e = p(GOOD, &["reduced.gama_a=1"]).unwrap_err();
    assert_eq!(e.origin, Origin::Override("reduced.gama_a=1".into()));
    assert!(e.to_string().contains("gama_a"), "{e}");
    let e = p(GOOD, &["time.n_save=0"]).unwrap_err();
    assert_eq!(e.origin, Origin::Override("time.n_save=0".into()));
    assert_eq!(e.key.as_deref(), Some("time.n_save"));
    let e = p(GOOD, &["no_equals_sign"]).unwrap_err();
    assert!(e.to_string().contains("KEY=VALUE"), "{e}");
    let e = p(GOOD, &["time.t_end[3]=1"]).unwrap_err();
    assert!(e.to_string().contains("not an array"), "{e}");
}

#[test]
fn syntax_errors_point_at_the_line() {
    let e = p("[reduced]\ngamma_a = = 1\n", &[]).unwrap_err();
    assert!(matches!(e.origin, Origin::File { line: 2, .. }), "{e}");
}

#[test]
fn phase_section_validates_ranges() {
    let base = "[phase]\ngamma_b = 0.5\ndelta_r = {start = -2, stop = 2, n = 5}\nalpha = {start = -0.25, stop = 1.5, n = 8}\ne_max = 1e3\nmarkers = [[0.0, 0.0]]\n";
    let c = p(base, &[]).unwrap();
    let ph = c.phase.unwrap();
    assert_eq!(ph.grid.alpha.len(), 8);
    assert_eq!(ph.markers, vec![(0.0, 0.0)]);
    let e = p(&base.replace("start = -0.25", "start = -0.5"), &[]).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("phase.alpha"));
    let e = p(&base.replace("n = 5", "n = 0"), &[]).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("phase.delta_r.n"));
    let e = p(&base.replace("e_max = 1e3", "e_max = -1"), &[]).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("phase.e_max"));
}

const MODEL: &str = r#"
[model]
cutoffs = [4, 4, 2]
drive = 0.1
kappa = [0.1, 0.1, 2.0]
gamma = 1.0

[time]
t_end = 1.0
n_save = 11
"#;

#[test]
fn arrays_longer_or_shorter_than_their_length_are_refused_with_key_and_line() {
    for (from, to, key, n) in [
        ("kappa = [0.1, 0.1, 2.0]", "kappa = [0.1, 0.1, 2.0, 5.0]", "model.kappa", "expected 3 values"),
        ("cutoffs = [4, 4, 2]", "cutoffs = [4, 4, 2, 7]", "model.cutoffs", "expected 3 values"),
        ("cutoffs = [4, 4, 2]", "cutoffs = [4, 4]", "model.cutoffs", "got 2"),
        ("gamma = 1.0", "gamma = 1.0\nn_th_shared = [0.1, 0.1, 0.1]", "model.n_th_shared", "expected 2 values"),
        ("gamma = 1.0", "gamma = 1.0\np_a = [1.0, 0.0, 3.0]", "model.p_a", "2 numbers"),
    ] {
        let e = p(&MODEL.replace(from, to), &[]).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(matches!(e.origin, Origin::File { .. }), "{e}");
        assert!(e.to_string().contains(n), "{e}");
    }
    // The same through --set: the error points at the --set argument.
    let e = p(MODEL, &["model.n_th_shared=[0.1,0.1,0.1]"]).unwrap_err();
    assert_eq!(e.origin, Origin::Override("model.n_th_shared=[0.1,0.1,0.1]".into()), "{e}");
    assert!(e.to_string().contains("expected 2 values"), "{e}");
}

/// Poisson tail 1 − Σ_{k<n} e^{−x} x^k/k!, summed directly (small x only).
fn poisson_tail(x: f64, n: usize) -> f64 {
    let mut term = (-x).exp();
    let mut inside = 0.0;
    for k in 0..n {
        inside += term;
        term *= x / (k + 1) as f64;
    }
    1.0 - inside
}

#[test]
fn truncated_initial_states_losing_weight_are_refused_naming_the_cutoff_needed() {
    // |α|² = 4 at cutoff 4 loses 0.567 of the weight; the smallest cutoff
    // keeping the loss ≤ 1e-6 is found from the direct Poisson sum.
    let needed = (1..100).find(|&n| poisson_tail(4.0, n) <= 1e-6).unwrap();
    let e = p(MODEL, &["initial.b={coherent=[2.0,0.0]}"]).unwrap_err();
    let s = e.to_string();
    assert_eq!(e.key.as_deref(), Some("initial.b"), "{s}");
    assert!(s.contains(&format!("at least {needed} ")) && s.contains("cutoff 4"), "{s}");
    assert!(p(&MODEL.replace("[4, 4, 2]", &format!("[4, {needed}, 2]")), &["initial.b={coherent=[2.0,0.0]}"]).is_ok());
    let e = p(MODEL, &["initial.a={coherent=[100,0]}"]).unwrap_err();
    assert!(e.to_string().contains("|alpha| = 100"), "{e}");
    // Thermal: weight (n̄/(1+n̄))^N outside; n̄ = 1 needs N ≥ log2(1e6) → 20.
    let e = p(MODEL, &["initial.a={thermal=1.0}"]).unwrap_err();
    assert!(e.to_string().contains("at least 20 "), "{e}");
    // A weak coherent start fits.
    assert!(p(MODEL, &["initial.a={coherent=[0.01,0.0]}"]).is_ok());
}

#[test]
fn coherent_weight_outside_matches_the_poisson_tail() {
    use crate::observables::states::coherent_weight_outside;
    use num_complex::Complex64 as C64;
    for (x, n) in [(0.25f64, 3), (1.0, 5), (4.0, 12), (9.0, 30)] {
        let w = coherent_weight_outside(C64::new(x.sqrt(), 0.0), n);
        assert!((w - poisson_tail(x, n)).abs() < 1e-13, "{x} {n}: {w}");
    }
}

#[test]
fn initial_from_excludes_per_mode_states_and_other_engines() {
    let c = p(MODEL, &["initial.from=seed.h5"]).unwrap();
    assert_eq!(c.initial_from.as_deref(), Some(Path::new("seed.h5")));
    let e = p(MODEL, &["initial.from=seed.h5", "initial.a=\"vacuum\""]).unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");
    let e = p(&format!("{MODEL}\n[solver]\nengines = [\"master\", \"moments\"]\n"), &["initial.from=seed.h5"]).unwrap_err();
    assert!(e.to_string().contains("\"moments\" cannot start from a stored density matrix"), "{e}");
}

//! `qbsim validate` (`/validation`) and `qbsim map` (a table on the terminal).

use super::*;
use crate::integrate::Method;

/// The validation spec of a config: its reduced point (the one `[model]`
/// maps to, or `[reduced]`), its save times in reduced time and `[validate]`.
fn spec_of(cfg: &Config) -> Result<ValidationSpec, RunError> {
    let time = cfg.require_time("`qbsim validate` needs t_end and n_save (reduced time)")?;
    let (point, tau, cutoffs) = match (&cfg.reduced, &cfg.model) {
        (Some(r), _) => (*r, time.times(), [5, 5, 3]),
        (None, Some(p)) => {
            let m = map::to_reduced(p)?;
            (m.reduced, time.times().iter().map(|t| t * m.g).collect(), p.cutoffs)
        }
        (None, None) => {
            return Err(cfg.require_reduced("`qbsim validate` needs a reduced point ([reduced]) or [model]").unwrap_err().into())
        }
    };
    Ok(ValidationSpec {
        point,
        ratios: cfg.validate.ratios.clone(),
        tau,
        cutoffs,
        // The realizations are stiff (κ_c ∝ r): Krylov unless the config chooses.
        method: if cfg.solver.method_given { cfg.solver.method } else { Method::Krylov },
        rtol: cfg.solver.rtol,
        atol: cfg.solver.atol,
        master: cfg.validate.master,
    })
}

/// Every refusal of `qbsim validate` that needs no output path.
pub fn precheck_validate(cfg: &Config) -> Result<(), RunError> {
    spec_of(cfg).map(|_| ())
}

/// `qbsim validate` on one point: the reduced point realized at increasing
/// elimination ratios, compared engine by engine, written to `out`.
pub fn validate(cfg: &Config, out: &Path, prov: &Provenance) -> Result<Report, RunError> {
    precheck_validate(cfg)?;
    prov.check_target(cfg, out)?;
    let c = compute_validate(cfg, prov)?;
    write_file(&c.record, out, c.text, c.interrupted, &prov.target_policy(cfg))
}

/// One validation in memory. Every point writes the same datasets with the
/// same shapes, realizable or not (NaN where nothing was run), so that a
/// `[sweep]` of validations stacks into maps.
pub fn compute_validate(cfg: &Config, prov: &Provenance) -> Result<Computed, RunError> {
    let spec = spec_of(cfg)?;
    let point = spec.point;
    let target = cfg.validate.target;
    let root = Record::new_root();
    write_provenance(&root, cfg, prov)?;
    let bar = crate::progress::Bar::counting(spec.ratios.len() as f64, "ratios", prov.quiet);
    let verdict = crate::validate::validate(&spec, &prov.stop, &mut |k| bar.set(k as f64)).map_err(|e| match e {
        ValidateError::Master(m) => RunError::Master(m),
        ValidateError::Map(m) => RunError::Map(m),
    })?;
    bar.finish();
    let g = root.group("validation")?;
    write_params(&g, &point)?;
    g.attr_f64("target", target)?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "validation of the reduced point gamma_a = {}, gamma_b = {}, delta_ra = {}, delta_rb = {}",
        point.gamma_a, point.gamma_b, point.delta_ra, point.delta_rb
    );
    let nr = spec.ratios.len();
    let n = spec.tau.len();
    let nan = |k: usize| vec![f64::NAN; k];
    let traces = g.group("traces")?;
    traces.write_f64("tau", &spec.tau)?;
    g.write_f64("ratio", &spec.ratios)?;
    match &verdict {
        Verdict::Unrealizable { product, nearest, explanation } => {
            g.attr_u8("realizable", 0)?;
            g.attr_f64("gamma_product", *product)?;
            g.attr_f64("nearest_gamma_a", nearest.0)?;
            g.attr_f64("nearest_gamma_b", nearest.1)?;
            g.attr_f64("slope", f64::NAN)?;
            g.attr_f64("r_needed", f64::NAN)?;
            g.attr_str("verdict", explanation)?;
            g.write_f64("err_moments_reduced", &nan(nr))?;
            g.write_f64("gamma", &nan(nr))?;
            g.write_f64_2d("kappa", &ndarray::Array2::from_elem((nr, 3), f64::NAN))?;
            traces.write_f64_2d("energy_moments", &ndarray::Array2::from_elem((nr, n), f64::NAN))?;
            traces.write_f64_2d("energy_reduced", &ndarray::Array2::from_elem((nr, n), f64::NAN))?;
            if spec.master {
                g.write_f64("err_master_moments", &nan(nr))?;
                g.write_f64("top_level", &nan(nr))?;
                traces.write_f64_2d("energy_master", &ndarray::Array2::from_elem((nr, n), f64::NAN))?;
            }
            let _ = writeln!(text, "  {explanation}");
        }
        Verdict::Validated { runs, slope } => {
            let pad = |v: Vec<f64>| -> Vec<f64> { (0..nr).map(|k| v.get(k).copied().unwrap_or(f64::NAN)).collect() };
            let err_mr: Vec<f64> = pad(runs.iter().map(|r| r.err_moments_reduced).collect());
            let needed = crate::validate::r_needed(&spec.ratios[..runs.len()], &err_mr[..runs.len()], target);
            g.attr_u8("realizable", 1)?;
            g.attr_f64("gamma_product", point.gamma_a * point.gamma_b)?;
            g.attr_f64("nearest_gamma_a", f64::NAN)?;
            g.attr_f64("nearest_gamma_b", f64::NAN)?;
            g.attr_f64("slope", *slope)?;
            g.attr_f64("r_needed", needed)?;
            g.write_f64("err_moments_reduced", &err_mr)?;
            g.write_f64("gamma", &pad(runs.iter().map(|r| r.params.gamma).collect()))?;
            let kappa = ndarray::Array2::from_shape_fn((nr, 3), |(k, j)| runs.get(k).map_or(f64::NAN, |r| r.params.kappa[j]));
            g.write_f64_2d("kappa", &kappa)?;
            let traces_of = |name: &str, pick: usize| {
                let arr = ndarray::Array2::from_shape_fn((nr, n), |(k, j)| {
                    runs.get(k).and_then(|r| [&r.e_master, &r.e_moments, &r.e_reduced][pick].get(j).copied()).unwrap_or(f64::NAN)
                });
                traces.write_f64_2d(name, &arr)
            };
            traces_of("energy_moments", 1)?;
            traces_of("energy_reduced", 2)?;
            if spec.master {
                traces_of("energy_master", 0)?;
                g.write_f64("err_master_moments", &pad(runs.iter().map(|r| r.err_master_moments).collect()))?;
                g.write_f64("top_level", &pad(runs.iter().map(|r| r.top_level).collect()))?;
            }
            let verdict = format!(
                "realizable; the reduction error falls like r^{slope:.3} (expected -1): the reduced model is \
                 accurate to {:.1e} of max E_B at r = {:.3e}; error {} reached at r = {}",
                runs.last().map_or(f64::NAN, |r| r.err_moments_reduced),
                runs.last().map_or(f64::NAN, |r| r.ratio),
                short(target),
                if needed.is_finite() { format!("{needed:.3e}") } else { "never (the error does not fall)".into() }
            );
            g.attr_str("verdict", &verdict)?;
            if spec.master {
                let _ = writeln!(text, "  {:>10} {:>20} {:>20} {:>8}", "ratio r", "max|master-moments|", "max|moments-reduced|", "steps");
                let _ = writeln!(text, "  {:>10} {:>20} {:>20} {:>8}", "", "(units of E_r^2)", "(rel. to max E_B)", "");
            } else {
                let _ = writeln!(text, "  {:>10} {:>20}   (master equation not run: [validate] engines = [\"moments\"])", "ratio r", "max|moments-reduced|");
                let _ = writeln!(text, "  {:>10} {:>20}", "", "(rel. to max E_B)");
            }
            for r in runs {
                if spec.master {
                    let _ = writeln!(
                        text,
                        "  {:>10.4e} {:>20.3e} {:>20.3e} {:>8}",
                        r.ratio, r.err_master_moments, r.err_moments_reduced, r.steps
                    );
                } else {
                    let _ = writeln!(text, "  {:>10.4e} {:>20.3e}", r.ratio, r.err_moments_reduced);
                }
            }
            let _ = writeln!(text, "  fitted log-log slope of the reduction error: {slope:.3} (expected -1)");
            let _ = writeln!(text, "  {verdict}");
        }
    }
    let interrupted = prov.stop.load(std::sync::atomic::Ordering::Relaxed);
    if interrupted {
        let _ = writeln!(text, "  interrupted: the file holds the elimination ratios completed so far");
    }
    root.attr_u8("interrupted", u8::from(interrupted))?;
    Ok(Computed { record: root.record(), text, interrupted })
}

/// `qbsim map`: both directions of the parameter map as a table.
pub fn map_table(cfg: &Config, ratios: Option<&[f64]>) -> Result<String, RunError> {
    let mut text = String::new();
    if let Some(p) = &cfg.model {
        let m = map::to_reduced(p)?;
        let r = m.reduced;
        let _ = writeln!(text, "microscopic -> reduced (adiabatic elimination of c):");
        for (i, row) in m.drift.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|z| format!("{:>11.4e}{:+.4e}i", z.re + 0.0, z.im + 0.0)).collect();
            let _ = writeln!(text, "  {:<22} {}", if i == 0 { "drift M (dx/dt = -Mx+f)" } else { "" }, cells.join("  "));
        }
        for (k, v) in [
            ("Gamma_eff", format!("{:.9e}", m.gamma_eff)),
            ("mu_a", format!("{}", m.mu_a)),
            ("mu_b", format!("{}", m.mu_b)),
            ("g (coupling rate)", format!("{:.9e}", m.g)),
            ("time unit 1/g", format!("{:.9e}", 1.0 / m.g)),
            ("gauge phase", format!("{:.9}", m.gauge_phase)),
            ("gamma_a", format!("{:.9}", r.gamma_a)),
            ("gamma_b", format!("{:.9}", r.gamma_b)),
            ("delta_ra", format!("{:.9}", r.delta_ra)),
            ("delta_rb", format!("{:.9}", r.delta_rb)),
            ("E_r", format!("{:.9e}", r.drive_r)),
            ("elimination ratio r", format!("{:.6e}", m.ratio)),
            ("realizable", r.realizability().explain()),
        ] {
            let _ = writeln!(text, "  {k:<22} {v}");
        }
    }
    if let Some(r) = &cfg.reduced {
        let _ = writeln!(text, "reduced -> microscopic (docs/physics.md §6 family, time unit 1/g, g = 1):");
        let ratios = ratios.map_or(vec![10.0, 100.0, 1000.0], <[f64]>::to_vec);
        let _ = writeln!(
            text,
            "  {:>10} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
            "r", "Gamma", "kappa_a", "kappa_b", "kappa_c", "p_a", "p_b", "p_ca=p_cb*.."
        );
        for ratio in ratios {
            // An unrealizable point is an answer, as in `qbsim validate`: the
            // verdict with the nearest realizable point, exit 0.
            let p = match map::from_reduced(r, ratio, [1, 1, 1]) {
                Err(e @ MapError::NotRealizable { .. }) => {
                    let _ = writeln!(text, "  {e}; nothing to map");
                    break;
                }
                other => other?,
            };
            let _ = writeln!(
                text,
                "  {:>10.3e} {:>12.6} {:>12.6} {:>12.6} {:>12.6} {:>12.6} {:>12.6} {:>6.4}/{:<6.4}",
                ratio, p.gamma, p.kappa[0], p.kappa[1], p.kappa[2], p.p_a.re, p.p_b.re, p.p_ca.re, p.p_cb.re
            );
        }
    }
    if cfg.model.is_none() && cfg.reduced.is_none() {
        cfg.require_reduced("`qbsim map` needs [model] or [reduced]")?;
    }
    Ok(text)
}

//! `qbsim steady`: the steady state of every configured engine, into
//! `/steady/<engine>/` (docs/output.md), one scalar per observable so that
//! a `[sweep]` stacks them into `[n_points]` datasets.

use super::*;
use crate::master::steady as master_steady;
use crate::steady::{self, Steady};

/// Every refusal of `qbsim steady` that needs no output path.
pub fn precheck_steady(cfg: &Config) -> Result<(), RunError> {
    if cfg.model.is_none() {
        cfg.require_reduced("`qbsim steady` needs [reduced] (two-mode model) or [model] (three-mode model)")?;
    }
    if cfg.protocol.is_some() {
        return Err(RunError::Invalid(format!(
            "{}: `qbsim steady` solves for the steady state of constant parameters, and this config has a [protocol]; \
             remove it and set the parameters whose steady state you want (the last step's, say)",
            cfg.file.display()
        )));
    }
    if cfg.solver.engines.contains(&Engine::Trajectories) {
        return Err(RunError::Invalid(format!(
            "{}: engine \"trajectories\" has no steady-state solve (an ensemble samples rho(t)); use \"master\"",
            cfg.file.display()
        )));
    }
    if cfg.initial_from.is_some() {
        return Err(RunError::Invalid(format!(
            "{}: `initial.from` has no meaning for a steady state (it does not depend on the initial state when it is \
             unique); remove it",
            cfg.file.display()
        )));
    }
    if let (Some(p), true) = (&cfg.model, cfg.solver.engines.contains(&Engine::Master)) {
        let need = master_steady::memory_estimate(&p.lindblad_terms(), &cfg.steady);
        if let Some(avail) = master::available_memory() {
            if need > avail {
                return Err(RunError::Invalid(format!(
                    "the steady-state solve needs about {:.2} GB (cutoffs {}, GMRES restart {}) but only {:.2} GB is \
                     available; lower the cutoffs or steady.restart",
                    need as f64 / 1e9,
                    cutoffs_text(p.cutoffs),
                    cfg.steady.gmres.restart,
                    avail as f64 / 1e9
                )));
            }
        }
    }
    if let (Some(p), true) = (&cfg.model, cfg.solver.engines.contains(&Engine::Reduced)) {
        map::to_reduced(p)?;
    }
    Ok(())
}

/// `qbsim steady` on one point: computes, then writes `out` atomically.
pub fn steady(cfg: &Config, out: &Path, prov: &Provenance) -> Result<Report, RunError> {
    precheck_steady(cfg)?;
    prov.check_target(cfg, out)?;
    let computed = compute_steady(cfg, prov)?;
    write_file(&computed.record, out, computed.text, computed.interrupted, &prov.target_policy(cfg))
}

/// The steady states of one point in memory. A solve that does not converge
/// is an error (exit 1): no file claims a steady state it did not find.
pub fn compute_steady(cfg: &Config, prov: &Provenance) -> Result<Computed, RunError> {
    precheck_steady(cfg)?;
    let root = Record::new_root();
    write_provenance(&root, cfg, prov)?;
    let mut text = String::new();
    let mut results: Vec<(Engine, Steady)> = Vec::new();
    match &cfg.model {
        None => {
            let r = cfg.require_reduced("`qbsim steady` needs [reduced] or [model]")?;
            results.push((Engine::Reduced, steady::reduced(&r).map_err(RunError::Invalid)?));
        }
        Some(p) => {
            for &e in &cfg.solver.engines {
                let s = match e {
                    Engine::Master => master_result(p, cfg, prov)?,
                    Engine::Moments => steady::moments(p).map_err(RunError::Invalid)?,
                    Engine::Reduced => steady::reduced(p).map_err(RunError::Invalid)?,
                    Engine::Trajectories => {
                        return Err(RunError::Invalid(
                            "engine \"trajectories\" has no steady-state solve: a trajectory ensemble samples ρ(t); \
                             use \"master\" for the steady state"
                                .into(),
                        ))
                    }
                };
                results.push((e, s));
            }
        }
    }
    for (e, s) in &results {
        let g = root.group(&format!("steady/{}", e.name()))?;
        write_steady(&g, s, cfg.save_state != master::SaveState::None)?;
        summarize(&mut text, *e, s);
    }
    root.attr_u8("interrupted", 0)?;
    Ok(Computed { record: root.record(), text, interrupted: false })
}

fn master_result(p: &MicroParams, cfg: &Config, prov: &Provenance) -> Result<Steady, RunError> {
    let terms = p.lindblad_terms();
    let r = master_steady::solve(&terms, &cfg.steady, &prov.stop)?;
    let rep = &r.report;
    Ok(Steady {
        row: r.row,
        exists: true,
        growth_rate: f64::NAN,
        residual: r.residual,
        iterations: rep.iterations,
        rho: Some(r.rho),
        note: format!(
            "GMRES({}) on L with the exact inverse of the {}-mode ladders as preconditioner: {} iterations in {}",
            cfg.steady.gmres.restart,
            ["a", "b", "c"][r.ladder_mode.min(2)],
            rep.iterations,
            crate::text::count(rep.restarts, "cycle", "cycles"),
        ),
        wall_time_s: r.wall_time_s,
    })
}

fn write_steady(g: &Group, s: &Steady, save_state: bool) -> Result<(), OutputError> {
    let row = &s.row;
    for (name, v) in row.complex_columns() {
        if ["a", "b", "c"].contains(&name) {
            g.write_scalar_c64(name, v[0])?;
        }
    }
    for (name, v) in row.real_columns() {
        if ["n_a", "n_b", "n_c", "energy_b", "power_b", "ergotropy_b", "entropy_b", "purity_b"].contains(&name) {
            g.write_scalar_f64(name, v[0])?;
        }
    }
    g.write_scalar_u8("exists", u8::from(s.exists))?;
    g.write_scalar_f64("growth_rate", s.growth_rate)?;
    g.write_scalar_f64("residual", s.residual)?;
    g.write_scalar_i64("iterations", s.iterations as i64)?;
    g.attr_str("method", &s.note)?;
    if let (true, Some(rho)) = (save_state, &s.rho) {
        let d = (rho.len() as f64).sqrt().round() as usize;
        g.write_c64_2d("rho", ndarray::ArrayView2::from_shape((d, d), rho).expect("d×d state"))?;
    }
    Ok(())
}

fn summarize(text: &mut String, e: Engine, s: &Steady) {
    if !s.exists {
        let _ = writeln!(text, "steady state ({}): {}", e.label(), s.note);
        return;
    }
    let r = &s.row;
    let _ = writeln!(
        text,
        "steady state ({}): E_B = <b^dag b> = {:.10e}, ergotropy_b = {:.6e}, n_a = {:.6e}, n_c = {:.6e}",
        e.label(),
        r.energy_b[0],
        r.ergotropy_b[0],
        r.n_a[0],
        r.n_c[0]
    );
    let _ = write!(text, "  {}", s.note);
    if s.residual > 0.0 {
        let _ = write!(text, "; residual {:.2e}", s.residual);
    }
    if s.wall_time_s > 0.0 {
        let _ = write!(text, "; {:.2} s", s.wall_time_s);
    }
    let _ = writeln!(text);
}

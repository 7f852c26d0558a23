//! `/master` and `/moments`: their datasets, the model attributes they share,
//! and the master equation's terminal summary.

use super::*;

/// The datasets shared by `/master` and `/moments`.
pub(super) fn write_series(g: &Group, s: &Series) -> Result<(), OutputError> {
    for (name, v) in s.real_columns() {
        g.write_f64(name, v)?;
    }
    for (name, v) in s.complex_columns() {
        g.write_c64(name, v)?;
    }
    Ok(())
}

/// Model parameters as attributes (every group computed from `[model]`).
pub(super) fn write_micro_params(g: &Group, p: &MicroParams) -> Result<(), OutputError> {
    g.attr_i64_slice("cutoffs", &p.cutoffs.map(|n| n as i64))?;
    g.attr_f64_slice("delta", &p.delta)?;
    g.attr_f64("drive", p.drive)?;
    g.attr_f64_slice("kappa", &p.kappa)?;
    g.attr_f64("gamma", p.gamma)?;
    g.attr_c64("p_a", p.p_a)?;
    g.attr_c64("p_b", p.p_b)?;
    g.attr_c64("p_ca", p.p_ca)?;
    g.attr_c64("p_cb", p.p_cb)?;
    g.attr_f64_slice("n_th", &p.n_th)?;
    g.attr_f64_slice("n_th_shared", &p.n_th_shared)?;
    g.attr_f64_slice("kerr", &p.kerr)?;
    g.attr_f64_slice("cross_kerr", &p.cross_kerr)?;
    g.attr_c64_slice("exchange", &p.exchange)?;
    g.attr_f64_slice("dephasing", &p.dephasing)
}

pub(super) fn write_master(g: &Group, p: &MicroParams, o: &MasterOptions, r: &MasterResult) -> Result<(), OutputError> {
    write_series(g, &r.series)?;
    g.write_f64("trace", &r.trace)?;
    let top = ndarray::Array2::from_shape_fn((r.top_level.len(), 3), |(k, m)| r.top_level[k][m]);
    g.write_f64_2d("top_level", &top)?;
    let d = p.space().dim();
    if let Some(rho) = &r.rho_final {
        g.write_c64_2d("rho_final", ndarray::ArrayView2::from_shape((d, d), rho).expect("d×d state"))?;
    }
    g.attr_f64("t_final", r.t_final)?;
    g.attr_f64("work_final", r.work_final)?;
    if let Some(all) = &r.rho_all {
        let n = all.len() / (d * d);
        g.write_c64_3d("rho", ndarray::ArrayView3::from_shape((n, d, d), all).expect("n×d×d states"))?;
    }
    write_micro_params(g, p)?;
    g.attr_str("method", r.method.name())?;
    g.attr_str("method_choice", &r.method_choice)?;
    g.attr_f64("rtol", o.rtol)?;
    g.attr_f64("atol", o.atol)?;
    g.attr_str("liouvillian", &r.backend)?;
    g.attr_i64("steps", r.stats.steps as i64)?;
    g.attr_i64("rejected_steps", r.stats.rejected as i64)?;
    g.attr_i64("rhs_evals", r.stats.rhs_evals as i64)?;
    g.attr_i64("krylov_dim", r.stats.krylov_dim as i64)?;
    g.attr_f64("wall_time_s", r.stats.wall_time_s)?;
    g.attr_str("warnings", &r.warnings.join("\n"))?;
    g.attr_u8("interrupted", u8::from(r.interrupted))
}

pub(super) fn summarize_master(out: &mut String, p: &MicroParams, r: &MasterResult) {
    let d = p.space().dim();
    let _ = writeln!(
        out,
        "master equation: cutoffs {} (d = {d}), {}, {}, {} steps ({} rejected), {} evaluations of L, {:.2} s",
        cutoffs_text(p.cutoffs), r.method.name(), r.backend, r.stats.steps, r.stats.rejected, r.stats.rhs_evals, r.stats.wall_time_s
    );
    if !r.method_choice.is_empty() {
        let _ = writeln!(out, "  {}", r.method_choice);
    }
    let s = &r.series;
    if let (Some(&t), Some(&e), Some(&w)) = (s.t.last(), s.energy_b.last(), s.ergotropy_b.last()) {
        let _ = writeln!(out, "  at t = {}: E_B = <b^dag b> = {e:.6e}, ergotropy_b = {w:.6e}", short(t));
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    if r.interrupted {
        let _ = writeln!(out, "  interrupted after {} of the save times; the file holds those", s.len());
    }
}

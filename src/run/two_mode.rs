//! `/reduced` and `/map`: the reduced model's datasets and attributes, the
//! finiteness check of its trajectories, and its terminal summary.

use super::*;

/// E_B of a reduced-model trajectory must be finite: in the broken phase it
/// grows like exp(2 Re[-i lambda_+] tau) and overflows f64 (~1.8e308) at
/// large tau. Names the first tau where it does and why.
pub(super) fn check_finite(what: &str, m: &ReducedModel, tr: &Trajectory, t: &[f64]) -> Result<(), RunError> {
    let bad = tr.energy_b.iter().zip(&tr.power_b).position(|(e, p)| !(e.is_finite() && p.is_finite()));
    let Some(k) = bad else { return Ok(()) };
    let rate = 2.0 * m.spectrum.growth_rate();
    Err(RunError::NonFinite(format!(
        "{what}: E_B exceeds the largest double-precision number (~1.8e308) at tau = {} (t = {}): \
         in the {} phase it grows like exp({rate:.4} tau); lower time.t_end below {}. Nothing was written.",
        short(tr.tau[k]),
        short(t[k]),
        m.phase.as_str(),
        short(t[k.saturating_sub(1)])
    )))
}

/// The forward map as attributes of `/map`.
pub(super) fn write_map(g: &Group, m: &ReducedMap) -> Result<(), OutputError> {
    g.write_c64_2d("drift", &ndarray::Array2::from_shape_fn((3, 3), |(i, j)| m.drift[i][j]))?;
    g.attr_f64("g", m.g)?;
    g.attr_f64("time_unit", 1.0 / m.g)?;
    g.attr_f64("gamma_eff", m.gamma_eff)?;
    g.attr_c64("mu_a", m.mu_a)?;
    g.attr_c64("mu_b", m.mu_b)?;
    g.attr_f64("gauge_phase", m.gauge_phase)?;
    g.attr_f64("ratio", m.ratio)?;
    write_params(g, &m.reduced)?;
    g.attr_u8("realizable", u8::from(m.reduced.realizability().is_realizable()))
}

/// `/reduced`; `t` is in the config's time unit (= τ for a `[reduced]` config).
pub(super) fn write_reduced(g: &Group, m: &ReducedModel, tr: &Trajectory, t: &[f64]) -> Result<(), OutputError> {
    let p = &m.params;
    write_reduced_series(g, tr, t)?;
    write_params(g, p)?;
    g.attr_i8("phase", m.phase.code())?;
    g.attr_str("phase_codes", Phase::CODES)?;
    g.attr_c64("lambda_plus", m.spectrum.lambda_plus)?;
    g.attr_c64("lambda_minus", m.spectrum.lambda_minus)?;
    g.attr_c64("omega", m.spectrum.omega)?;
    g.attr_f64("growth_rate", m.spectrum.growth_rate())?;
    let r = p.realizability();
    g.attr_u8("realizable", u8::from(r.is_realizable()))?;
    g.attr_str("realizability", &r.explain())?;
    let ss = m.steady_state().map_or(f64::NAN, |x| x[1].norm_sqr());
    g.attr_f64("steady_energy_b", ss)
}

/// The datasets of `/reduced` (and of `/reduced/events`).
pub(super) fn write_reduced_series(g: &Group, tr: &Trajectory, t: &[f64]) -> Result<(), OutputError> {
    g.write_f64("t", t)?;
    g.write_f64("tau", &tr.tau)?;
    g.write_c64("a", &tr.a)?;
    g.write_c64("b", &tr.b)?;
    g.write_f64("energy_b", &tr.energy_b)?;
    g.write_f64("power_b", &tr.power_b)?;
    g.write_f64("work_in", &tr.work_in)?;
    g.write_f64("efficiency_b", &tr.efficiency_b)
}

pub(super) fn write_params(g: &Group, p: &ReducedParams) -> Result<(), OutputError> {
    g.attr_f64("gamma_a", p.gamma_a)?;
    g.attr_f64("gamma_b", p.gamma_b)?;
    g.attr_f64("delta_ra", p.delta_ra)?;
    g.attr_f64("delta_rb", p.delta_rb)?;
    g.attr_f64("drive_r", p.drive_r)?;
    g.attr_f64("alpha", p.alpha())
}

/// A complex number for the terminal, without negative zeros.
pub(super) fn fmt_c(z: C64) -> String {
    format!("{:.6}{:+.6}i", z.re + 0.0, z.im + 0.0)
}

pub(super) fn summarize_reduced(out: &mut String, m: &ReducedModel, tr: &Trajectory) {
    let p = &m.params;
    let s = &m.spectrum;
    let _ = writeln!(
        out,
        "reduced model: gamma_a = {}, gamma_b = {}, delta_ra = {}, delta_rb = {}, E_r = {} (units of g)",
        p.gamma_a, p.gamma_b, p.delta_ra, p.delta_rb, p.drive_r
    );
    let _ = writeln!(out, "  phase        {} (Re[-i lambda_+] = {:.6})", m.phase.as_str(), s.growth_rate());
    let _ = writeln!(out, "  lambda_+     {}", fmt_c(s.lambda_plus));
    let _ = writeln!(out, "  lambda_-     {}", fmt_c(s.lambda_minus));
    let _ = writeln!(out, "  {}", p.realizability().explain());
    if let (Some(&t), Some(&e)) = (tr.tau.last(), tr.energy_b.last()) {
        let _ = writeln!(out, "  E_B(tau = {}) = {e:.6e}", short(t));
    }
    match (m.steady_state(), m.phase) {
        (Some(x), _) => {
            let _ = writeln!(out, "  steady state E_B = {:.6e}", x[1].norm_sqr());
        }
        (None, Phase::Broken) => {
            let _ = writeln!(
                out,
                "  no steady state: E_B grows like exp({:.4} tau) (broken phase)",
                2.0 * s.growth_rate()
            );
        }
        (None, _) => {
            let _ = writeln!(out, "  no steady state: an undamped eigenmode (phase boundary)");
        }
    }
}

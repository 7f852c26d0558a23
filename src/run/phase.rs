//! `qbsim phase` and `/phase`: the phase diagram, critical-time line and
//! marker traces, and their terminal summary.

use super::*;

/// `qbsim phase`: the phase diagram, critical-time line and marker traces.
pub fn phase(cfg: &Config, out: &Path, prov: &Provenance) -> Result<Report, RunError> {
    let ph = cfg.require_phase("`qbsim phase` needs gamma_b and the delta_r and alpha ranges")?;
    check_markers(cfg, ph)?;
    check_memory(cfg, 0)?;
    prov.check_target(cfg, out)?;
    let root = Record::new_root();
    write_provenance(&root, cfg, prov)?;
    let pd = PhaseDiagram::compute(ph.grid.clone());
    write_phase(&root.group("phase")?, &pd, ph, cfg.time)?;
    let mut text = String::new();
    summarize_phase(&mut text, &pd);
    write_file(&root.record(), out, text, false, &prov.target_policy(cfg))
}

pub(super) fn check_markers(cfg: &Config, ph: &PhaseSpec) -> Result<(), ConfigError> {
    if !ph.markers.is_empty() {
        cfg.require_time("phase.markers asks for time traces, which need t_end and n_save")?;
    }
    Ok(())
}

pub(super) fn write_phase(g: &Group, pd: &PhaseDiagram, ph: &PhaseSpec, time: Option<TimeGrid>) -> Result<(), RunError> {
    g.attr_f64("gamma_b", pd.grid.gamma_b)?;
    g.attr_str("phase_codes", Phase::CODES)?;
    g.write_f64("delta_r", &pd.grid.delta_r)?;
    g.write_f64("alpha", &pd.grid.alpha)?;
    g.write_f64_2d("growth_rate", &pd.growth_rate)?;
    g.write_u8_2d("realizable", &pd.realizable)?;
    g.write_i8_nd("phase", pd.phase.view())?;
    g.write_c64_2d("lambda_plus", &pd.lambda_plus)?;
    g.write_c64_2d("lambda_minus", &pd.lambda_minus)?;
    let (ep_d, ep_a): (Vec<f64>, Vec<f64>) = pd.exceptional_points.iter().copied().unzip();
    g.write_f64("ep_delta_r", &ep_d)?;
    g.write_f64("ep_alpha", &ep_a)?;
    if let Some(tc) = &pd.t_crit {
        g.attr_f64("e_max", tc.e_max)?;
        g.attr_f64("t_crit_alpha", 0.0)?;
        g.write_f64("t_crit_exact", &tc.exact)?;
        g.write_f64("t_crit_eq33", &tc.eq33)?;
        g.write_f64("t_crit_rel_diff", &tc.rel_diff)?;
    }
    if let (false, Some(time)) = (ph.markers.is_empty(), time) {
        let mg = g.group("markers")?;
        let tau = time.times();
        let n = ph.markers.len();
        let mut energy = ndarray::Array2::<f64>::zeros((n, tau.len()));
        let mut power = energy.clone();
        let mut phases = Vec::with_capacity(n);
        let mut realizable = Vec::with_capacity(n);
        for (k, ((d, a), (m, tr))) in ph.markers.iter().zip(pd.marker_traces(&ph.markers, &tau)).enumerate() {
            check_finite(&format!("phase.markers[{k}] (delta_r = {d}, alpha = {a})"), &m, &tr, &tau)?;
            energy.row_mut(k).assign(&ndarray::ArrayView1::from(&tr.energy_b));
            power.row_mut(k).assign(&ndarray::ArrayView1::from(&tr.power_b));
            phases.push(m.phase.code());
            realizable.push(u8::from(m.params.realizability().is_realizable()));
        }
        let (md, ma): (Vec<f64>, Vec<f64>) = ph.markers.iter().copied().unzip();
        mg.write_f64("delta_r", &md)?;
        mg.write_f64("alpha", &ma)?;
        mg.write_f64("tau", &tau)?;
        mg.write_f64_2d("energy_b", &energy)?;
        mg.write_f64_2d("power_b", &power)?;
        mg.write_i8("phase", &phases)?;
        mg.attr_str("phase_codes", Phase::CODES)?;
        mg.write_u8("realizable", &realizable)?;
    }
    Ok(())
}

pub(super) fn summarize_phase(out: &mut String, pd: &PhaseDiagram) {
    let n = pd.growth_rate.len();
    let count = |code: i8| pd.phase.iter().filter(|&&c| c == code).count();
    let broken_realizable =
        pd.phase.iter().zip(pd.realizable.iter()).filter(|(&c, &r)| c == Phase::Broken.code() && r == 1).count();
    let _ = writeln!(
        out,
        "phase diagram: gamma_b = {}, {} x {} points (alpha x delta_r)",
        pd.grid.gamma_b,
        pd.grid.alpha.len(),
        pd.grid.delta_r.len()
    );
    let _ = writeln!(
        out,
        "  unbroken {}, broken {}, marginal {}, exceptional points on grid {}",
        count(-1),
        count(1),
        count(0),
        count(2)
    );
    let n_real = pd.realizable.iter().filter(|&&r| r == 1).count();
    let _ = writeln!(
        out,
        "  realizable (gamma_a*gamma_b >= 1): {n_real} of {n}; broken AND realizable: {broken_realizable} \
         (docs/physics.md §6: always 0 — the broken phase needs gain a passive system lacks)"
    );
    for (d, a) in &pd.exceptional_points {
        let _ = writeln!(out, "  exceptional point at delta_r = {d}, alpha = {a}");
    }
    if let Some(tc) = &pd.t_crit {
        let _ = writeln!(out, "critical time to E_B = {} E_r^2 along delta_r at alpha = 0:", tc.e_max);
        let _ = writeln!(out, "  {:>10} {:>12} {:>12} {:>10}", "delta_r", "exact", "Eq.33", "rel.diff");
        // About a dozen evenly spaced rows, plus the finite rows nearest the
        // phase boundary, where Eq. 33 fails.
        let nd = pd.grid.delta_r.len();
        let step = (nd / 12).max(1);
        let mut rows: Vec<usize> = (0..nd).step_by(step).collect();
        let finite: Vec<usize> = (0..nd).filter(|&j| tc.exact[j].is_finite()).collect();
        rows.extend(finite.first().into_iter().chain(finite.last()));
        rows.sort_unstable();
        rows.dedup();
        for j in rows {
            let _ = writeln!(
                out,
                "  {:>10.4} {:>12.4} {:>12.4} {:>10.3}",
                pd.grid.delta_r[j], tc.exact[j], tc.eq33[j], tc.rel_diff[j]
            );
        }
        let _ = writeln!(out, "  (NaN exact: E_max never reached; Eq. 33 holds only deep in the broken phase)");
    }
}

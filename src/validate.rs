//! `qbsim validate`: is the adiabatically eliminated model valid here?
//!
//! From a reduced point, build microscopic realizations (docs/physics.md §6) at
//! increasing elimination ratios r, run the master equation, the exact moments
//! and the reduced model on each, and measure (i) master vs moments — the
//! integrator tolerance plus truncation — and (ii) moments vs reduced — the
//! error of the elimination, which should fall like 1/r. A point with
//! γ_a·γ_b < 1 cannot be built from passive parts: the verdict says so and
//! nothing is run.

use crate::master::{LiouvillianKind, SaveState};
use crate::model::ModeState;
use crate::integrate::Method;
use crate::master::{self, MasterError, MasterOptions};
use crate::model::map::{self, MapError};
use crate::model::ReducedParams;
use crate::moments;
use crate::reduced::ReducedModel;
use num_complex::Complex64 as C64;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Largest mean amplitude allowed in the validation runs: with it a Poisson
/// tail beyond the cutoffs (5, 5, 3) is ~1e-14, far below the tolerances, and
/// the model is linear, so E_B/E_r² does not depend on the drive (docs/physics.md §6).
pub const MAX_AMPLITUDE: f64 = 0.03;

/// Default elimination ratios: a geometric series from 10 to 1000.
pub const DEFAULT_RATIOS: [f64; 9] =
    [10.0, 31.622776601683793, 100.0, 316.22776601683796, 1000.0, 3162.2776601683795, 1e4, 31622.776601683792, 1e5];

#[derive(Debug, Clone, PartialEq)]
pub struct ValidationSpec {
    pub point: ReducedParams,
    pub ratios: Vec<f64>,
    /// Save times in reduced time τ (= t in the realizations, whose g is 1).
    pub tau: Vec<f64>,
    pub cutoffs: [usize; 3],
    pub method: Method,
    pub rtol: f64,
    pub atol: f64,
    /// Run the master equation on each realization (else only the exact
    /// moments, which are exact for this linear model, and the reduced model).
    pub master: bool,
}

/// One realization's comparison; energies are E_B/E_r².
#[derive(Debug, Clone, PartialEq)]
pub struct Realization {
    pub ratio: f64,
    pub params: crate::model::MicroParams,
    /// Empty when the master equation was not run.
    pub e_master: Vec<f64>,
    pub e_moments: Vec<f64>,
    pub e_reduced: Vec<f64>,
    /// max |E_B^master − E_B^moments| / E_r² (NaN without the master equation).
    pub err_master_moments: f64,
    /// max |E_B^moments − E_B^reduced| / max E_B^moments.
    pub err_moments_reduced: f64,
    pub steps: usize,
    /// Largest top-level population of the master run (NaN without it).
    pub top_level: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// γ_a γ_b < 1: nothing was run.
    Unrealizable { product: f64, nearest: (f64, f64), explanation: String },
    Validated { runs: Vec<Realization>, slope: f64 },
}

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("{0}")]
    Master(#[from] MasterError),
    #[error("{0}")]
    Map(#[from] MapError),
}

/// Least-squares slope of log y against log x.
pub fn loglog_slope(x: &[f64], y: &[f64]) -> f64 {
    loglog_fit(x, y).1
}

/// Least-squares line log y = c + s log x: (c, s).
pub fn loglog_fit(x: &[f64], y: &[f64]) -> (f64, f64) {
    let (lx, ly): (Vec<f64>, Vec<f64>) = x.iter().zip(y).map(|(a, b)| (a.ln(), b.ln())).unzip();
    let n = lx.len() as f64;
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxy: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = lx.iter().map(|a| (a - mx).powi(2)).sum();
    let s = sxy / sxx;
    (my - s * mx, s)
}

/// The smallest elimination ratio at which the reduction error reaches
/// `target`, from the table (`ratios` increasing, `errors` ≥ 0): inside the
/// table, log–log interpolation between the two ratios where the error first
/// falls to `target`; outside it, the least-squares log–log fit of the whole
/// table extrapolated (below the smallest ratio if even that one is within
/// target, beyond the largest if none is). +∞ if the error is above target
/// at the largest ratio and the fit does not fall (slope ≥ 0).
pub fn r_needed(ratios: &[f64], errors: &[f64], target: f64) -> f64 {
    let pts: Vec<(f64, f64)> = ratios.iter().zip(errors).filter(|(r, e)| r.is_finite() && e.is_finite() && **e > 0.0).map(|(r, e)| (*r, *e)).collect();
    if pts.len() < 2 {
        return f64::NAN;
    }
    let (x, y): (Vec<f64>, Vec<f64>) = pts.iter().copied().unzip();
    let (c, s) = loglog_fit(&x, &y);
    let from_fit = || if s < 0.0 { ((target.ln() - c) / s).exp() } else { f64::INFINITY };
    if pts[0].1 <= target {
        return from_fit().min(pts[0].0);
    }
    for w in pts.windows(2) {
        let ((r0, e0), (r1, e1)) = (w[0], w[1]);
        if e1 <= target {
            let f = (target.ln() - e0.ln()) / (e1.ln() - e0.ln());
            return (r0.ln() + f * (r1.ln() - r0.ln())).exp();
        }
    }
    from_fit().max(pts[pts.len() - 1].0)
}

pub fn validate(spec: &ValidationSpec, stop: &Arc<AtomicBool>, progress: &mut dyn FnMut(usize)) -> Result<Verdict, ValidateError> {
    let r = spec.point;
    let real = r.realizability();
    if !real.is_realizable() {
        let nearest = map::nearest_realizable(&r);
        return Ok(Verdict::Unrealizable {
            product: real.product,
            nearest,
            explanation: format!(
                "{}. The nearest realizable point at the same delta_r and alpha = {:.6} is gamma_a = {:.6}, \
                 gamma_b = {:.6} (gamma_a*gamma_b = 1, reached only when every local loss vanishes). Nothing was run.",
                real.explain(),
                r.alpha(),
                nearest.0,
                nearest.1
            ),
        });
    }
    let zero = [ModeState::Vacuum; 3];
    let opts = MasterOptions {
        method: spec.method,
        rtol: spec.rtol,
        atol: spec.atol,
        liouvillian: LiouvillianKind::Kernel,
        save_state: SaveState::None,
    };
    let reduced_unit = ReducedModel::new(ReducedParams { drive_r: 1.0, ..r });
    let e_reduced: Vec<f64> = reduced_unit.trajectory(&spec.tau, &[C64::new(0.0, 0.0); 2]).energy_b;
    let mut runs = Vec::new();
    for (k, &ratio) in spec.ratios.iter().enumerate() {
        // Unit drive first, to size the drive that keeps amplitudes small.
        let unit = map::from_reduced(&ReducedParams { drive_r: 1.0, ..r }, ratio, spec.cutoffs)?;
        let amp = moments::means(&unit, [C64::new(0.0, 0.0); 3], &spec.tau)
            .iter()
            .flatten()
            .map(|z| z.norm())
            .fold(0.0, f64::max);
        let drive = if amp > 0.0 { MAX_AMPLITUDE / amp } else { 1.0 };
        let p = crate::model::MicroParams { drive, ..unit };
        let m = if spec.master { Some(master::solve(&p, &zero, &spec.tau, &opts, stop, &mut |_| {})?) } else { None };
        let mo = moments::solve(&p, &zero, &spec.tau);
        let s2 = drive * drive;
        let e_master: Vec<f64> = m.as_ref().map_or(Vec::new(), |m| m.series.energy_b.iter().map(|e| e / s2).collect());
        let e_moments: Vec<f64> = mo.energy_b.iter().map(|e| e / s2).collect();
        let n = if m.is_some() { e_master.len() } else { e_moments.len() };
        let err_mm = if m.is_some() {
            e_master.iter().zip(&e_moments).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
        } else {
            f64::NAN
        };
        let scale = e_moments.iter().fold(0.0f64, |a, &b| a.max(b));
        let err_mr = e_moments.iter().zip(&e_reduced).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale;
        runs.push(Realization {
            ratio,
            params: p,
            e_master,
            e_moments: e_moments[..n].to_vec(),
            e_reduced: e_reduced[..n].to_vec(),
            err_master_moments: err_mm,
            err_moments_reduced: err_mr,
            steps: m.as_ref().map_or(0, |m| m.stats.steps),
            top_level: m.as_ref().map_or(f64::NAN, |m| m.top_level.iter().flatten().fold(0.0, |a: f64, &b| a.max(b))),
        });
        progress(k + 1);
        if m.as_ref().is_some_and(|m| m.interrupted) || stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
    }
    let (x, y): (Vec<f64>, Vec<f64>) = runs.iter().map(|r| (r.ratio, r.err_moments_reduced)).unzip();
    let slope = if runs.len() >= 2 { loglog_slope(&x, &y) } else { f64::NAN };
    Ok(Verdict::Validated { runs, slope })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reduced::linspace;

    fn spec(point: ReducedParams, ratios: &[f64]) -> ValidationSpec {
        ValidationSpec {
            point,
            ratios: ratios.to_vec(),
            tau: linspace(0.0, 12.0, 61),
            cutoffs: [5, 5, 3],
            method: Method::Dopri5,
            rtol: 1e-8,
            atol: 1e-10,
            master: true,
        }
    }

    #[test]
    fn reduction_error_falls_like_one_over_r_near_the_ep() {
        // configs/validation/near_ep.toml: γ_a = γ_b = 1.2, δ_r = 1 (Ω = 0).
        let s = spec(ReducedParams::symmetric(1.2, 1.2, 1.0, 1.0), &[10.0, 31.622776601683793, 100.0]);
        let Verdict::Validated { runs, slope } = validate(&s, &Arc::new(AtomicBool::new(false)), &mut |_| {}).unwrap() else {
            panic!("realizable point refused")
        };
        assert!((-1.2..=-0.8).contains(&slope), "slope {slope}");
        for r in &runs {
            // Master vs exact moments: tolerance + truncation (amplitudes ≤ 0.03).
            assert!(r.err_master_moments < 1e-6, "{}: {}", r.ratio, r.err_master_moments);
            // Top-level populations (seen ≤ 4e-9, the c mode at r = 10) keep
            // the truncation error of E_B far below the 1e-6 above.
            assert!(r.top_level < 1e-7, "{}: {}", r.ratio, r.top_level);
        }
        assert!(runs[2].err_moments_reduced < runs[0].err_moments_reduced / 5.0);
    }

    /// The stiff path: Krylov propagation takes the realizations to r = 10⁵
    /// (κ_c ∝ r), where the error falls like 1/r all the way.
    #[test]
    fn krylov_takes_the_reduction_error_to_r_1e5_with_slope_minus_one() {
        // configs/validation/near_boundary.toml: γ_a = 0.6, γ_b = 2, δ_r = 0.3.
        let mut s = spec(ReducedParams::symmetric(0.6, 2.0, 0.3, 1.0), &[10.0, 1e3, 1e5]);
        s.method = crate::integrate::Method::Krylov;
        let Verdict::Validated { runs, slope } = validate(&s, &Arc::new(AtomicBool::new(false)), &mut |_| {}).unwrap() else {
            panic!("realizable point refused")
        };
        assert!((-1.1..=-0.9).contains(&slope), "slope {slope}");
        for r in &runs {
            assert!(r.err_master_moments < 2e-6, "{}: {}", r.ratio, r.err_master_moments);
        }
    }

    #[test]
    fn unrealizable_point_runs_nothing_and_names_the_nearest_point() {
        let s = spec(ReducedParams::symmetric(0.5, 0.5, 0.0, 1.0), &[10.0]);
        match validate(&s, &Arc::new(AtomicBool::new(false)), &mut |_| panic!("ran something")).unwrap() {
            Verdict::Unrealizable { product, nearest, explanation } => {
                assert_eq!(product, 0.25);
                assert!((nearest.0 - 1.0).abs() < 1e-14 && (nearest.1 - 1.0).abs() < 1e-14);
                assert!(explanation.contains("not realizable") && explanation.contains("Nothing was run"));
            }
            v => panic!("{v:?}"),
        }
    }

    /// r_needed: exact for a power law (interpolated inside the table,
    /// extrapolated by the fit outside it), +∞ for an error that does not fall.
    #[test]
    fn r_needed_interpolates_the_table_and_extrapolates_the_fit() {
        let r = [10.0, 100.0, 1000.0];
        let e: Vec<f64> = r.iter().map(|x| 0.5 / x).collect();
        for (target, want) in [(5e-3, 100.0), (1e-3, 500.0), (1e-5, 5e4), (0.1, 5.0)] {
            let got = r_needed(&r, &e, target);
            assert!((got / want - 1.0).abs() < 1e-12, "target {target}: {got} vs {want}");
        }
        assert_eq!(r_needed(&r, &[0.1, 0.1, 0.1], 0.01), f64::INFINITY);
        // A bend: interpolation between the bracketing ratios, not the global fit.
        let bent = [0.2, 0.05, 1e-4];
        let got = r_needed(&r, &bent, 0.01);
        let want = (100f64.ln() + (0.01f64.ln() - 0.05f64.ln()) / (1e-4f64.ln() - 0.05f64.ln()) * (1000f64.ln() - 100f64.ln())).exp();
        assert!((got / want - 1.0).abs() < 1e-12);
    }

    #[test]
    fn moments_only_validation_gives_the_same_reduction_error_as_with_the_master_equation() {
        let mut s = spec(ReducedParams::symmetric(1.2, 1.2, 1.0, 1.0), &[10.0, 100.0]);
        let stop = Arc::new(AtomicBool::new(false));
        let Verdict::Validated { runs: with, .. } = validate(&s, &stop, &mut |_| {}).unwrap() else { panic!() };
        s.master = false;
        let Verdict::Validated { runs: without, slope } = validate(&s, &stop, &mut |_| {}).unwrap() else { panic!() };
        assert!(slope < -0.8);
        for (a, b) in with.iter().zip(&without) {
            assert_eq!(a.err_moments_reduced, b.err_moments_reduced);
            assert!(b.err_master_moments.is_nan() && b.e_master.is_empty() && b.top_level.is_nan());
        }
    }

    #[test]
    fn loglog_slope_recovers_a_power_law() {
        let x = [1.0, 10.0, 100.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| 3.0 * v.powf(-1.5)).collect();
        assert!((loglog_slope(&x, &y) + 1.5).abs() < 1e-12);
    }
}

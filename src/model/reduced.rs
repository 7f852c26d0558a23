//! Parameters of the paper's two-mode reduced model (docs/physics.md §3–§5).

use thiserror::Error;

/// A parameter set that cannot be used, with the parameter's name.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{name} = {value}: {reason}")]
pub struct ParamError {
    pub name: &'static str,
    pub value: f64,
    pub reason: &'static str,
}

/// Normalised reduced-model parameters, all in units of the coupling rate g.
///
/// `H_r = [[δ_ra − iγ_a, i], [i, δ_rb − iγ_b]]`, `(d/dτ)(a, b) = −iH_r (a, b) + (−iE_r, 0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReducedParams {
    /// Effective damping of the charger, γ_a (units of g).
    pub gamma_a: f64,
    /// Effective damping of the battery, γ_b (units of g).
    pub gamma_b: f64,
    /// Charger detuning δ_ra (units of g).
    pub delta_ra: f64,
    /// Battery detuning δ_rb (units of g).
    pub delta_rb: f64,
    /// Drive amplitude E_r (units of g).
    pub drive_r: f64,
}

impl ReducedParams {
    /// The paper's symmetric detuning δ_ra = −δ_rb = δ_r.
    pub fn symmetric(gamma_a: f64, gamma_b: f64, delta_r: f64, drive_r: f64) -> Self {
        // 0.0 − δ rather than −δ so that δ_r = 0 gives +0, not −0, in reports.
        Self { gamma_a, gamma_b, delta_ra: delta_r, delta_rb: 0.0 - delta_r, drive_r }
    }

    /// The paper's point (α, γ_b, δ_r) with α = (γ_a − γ_b)/2.
    pub fn from_alpha(alpha: f64, gamma_b: f64, delta_r: f64, drive_r: f64) -> Self {
        Self::symmetric(gamma_b + 2.0 * alpha, gamma_b, delta_r, drive_r)
    }

    /// Asymmetry α = (γ_a − γ_b)/2 (paper Eq. 21).
    pub fn alpha(&self) -> f64 {
        0.5 * (self.gamma_a - self.gamma_b)
    }

    /// Whether δ_ra = −δ_rb, the case the paper's closed forms assume.
    pub fn is_symmetric(&self) -> bool {
        self.delta_ra == -self.delta_rb
    }

    /// Checks that every parameter is finite and the dampings are non-negative
    /// (negative damping would be gain, which this passive model does not have).
    pub fn validate(&self) -> Result<(), ParamError> {
        let fields = [
            ("gamma_a", self.gamma_a),
            ("gamma_b", self.gamma_b),
            ("delta_ra", self.delta_ra),
            ("delta_rb", self.delta_rb),
            ("drive_r", self.drive_r),
        ];
        for (name, value) in fields {
            if !value.is_finite() {
                return Err(ParamError { name, value, reason: "must be a finite number" });
            }
        }
        for (name, value) in [("gamma_a", self.gamma_a), ("gamma_b", self.gamma_b)] {
            if value < 0.0 {
                return Err(ParamError {
                    name,
                    value,
                    reason: "an effective damping must be >= 0 (negative damping is gain)",
                });
            }
        }
        Ok(())
    }

    /// Whether a passive three-mode system can produce this point (docs/physics.md §6).
    pub fn realizability(&self) -> Realizability {
        Realizability { product: self.gamma_a * self.gamma_b }
    }
}

impl crate::protocol::Params for ReducedParams {
    fn lerp(a: &Self, b: &Self, s: f64) -> Self {
        let r = |x: f64, y: f64| x + s * (y - x);
        ReducedParams {
            gamma_a: r(a.gamma_a, b.gamma_a),
            gamma_b: r(a.gamma_b, b.gamma_b),
            delta_ra: r(a.delta_ra, b.delta_ra),
            delta_rb: r(a.delta_rb, b.delta_rb),
            drive_r: r(a.drive_r, b.drive_r),
        }
    }
}

/// The realizability verdict of docs/physics.md §6: every microscopic parameter set
/// (κ_j ≥ 0, Γ ≥ 0, any complex p) gives γ_a·γ_b ≥ 1 in units of g, so points
/// with γ_a·γ_b < 1 — in particular the whole broken phase — cannot be built
/// from passive parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Realizability {
    /// γ_a·γ_b in units of g².
    pub product: f64,
}

impl Realizability {
    /// Tolerance on γ_a·γ_b ≥ 1: the bound is attained exactly when all local
    /// losses vanish, so round-off of that order must not flip the verdict.
    pub const TOL: f64 = 1e-12;

    pub fn is_realizable(&self) -> bool {
        self.product >= 1.0 - Self::TOL
    }

    /// One sentence a physicist can act on.
    pub fn explain(&self) -> String {
        if self.is_realizable() {
            format!(
                "realizable: gamma_a*gamma_b = {:.6} >= 1, a passive three-mode system with \
                 non-negative losses produces this point (docs/physics.md §6)",
                self.product
            )
        } else {
            format!(
                "not realizable: gamma_a*gamma_b = {:.6} < 1; every passive three-mode system \
                 (kappa >= 0, Gamma >= 0, any p) has gamma_a*gamma_b >= 1, so this point — like \
                 the paper's whole broken phase — exists only as a phenomenological model \
                 (docs/physics.md §6)",
                self.product
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_nan_and_gain() {
        assert!(ReducedParams::symmetric(1.0, 1.0, 0.5, 1.0).validate().is_ok());
        let e = ReducedParams::symmetric(f64::NAN, 1.0, 0.5, 1.0).validate().unwrap_err();
        assert_eq!(e.name, "gamma_a");
        let e = ReducedParams::symmetric(1.0, -0.1, 0.5, 1.0).validate().unwrap_err();
        assert_eq!(e.name, "gamma_b");
        let e = ReducedParams::symmetric(1.0, 1.0, f64::INFINITY, 1.0).validate().unwrap_err();
        assert_eq!(e.name, "delta_ra");
    }

    #[test]
    fn realizability_is_the_product_bound() {
        assert!(ReducedParams::symmetric(2.0, 0.5, 0.0, 1.0).realizability().is_realizable());
        assert!(!ReducedParams::from_alpha(0.0, 0.5, 0.0, 1.0).realizability().is_realizable());
        assert!(ReducedParams::from_alpha(0.0, 1.0, 0.3, 1.0).realizability().is_realizable());
    }
}

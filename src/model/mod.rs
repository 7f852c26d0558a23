//! Physical parameters of the model.
//!
//! Rate convention (docs/physics.md §1): every rate in qbsim is a **Lindblad rate**
//! (population decay rate); a field amplitude decays at half of it. The paper
//! quotes amplitude rates, so its κ, Γ are half of ours.
//!
//! The reduced (adiabatically eliminated) model is normalised to the coupling
//! rate g: time is τ = g t, and γ_a, γ_b, δ_ra, δ_rb, E_r are in units of g.

pub mod map;
mod state;
mod micro;
mod reduced;

pub use micro::{ExtraTerm, Jump, LindbladTerms, MicroParams, MAX_DIM};
pub use reduced::{ParamError, Realizability, ReducedParams};
pub use state::ModeState;

//! qbsim: simulator for reservoir-engineered exceptional-point quantum batteries.
//!
//! Data flows one way: config → model → (reduced model | moments | Liouvillian)
//! → integrator → observables → output. The physics and its conventions are in
//! `docs/physics.md`, the file layout in `docs/output.md`.

// Two clippy lints are off for the whole crate, on purpose:
// - `needless_range_loop`: matrix and tensor code indexes several arrays with
//   the same indices (M[i][k]·N[k][j]); index loops read like the formulas.
// - `neg_cmp_op_on_partial_ord`: `!(x > 0.0)` is how a NaN is refused together
//   with the out-of-range values; `x <= 0.0` would let NaN through.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

pub mod config;
pub mod engines;
pub mod gmres;
pub mod linalg;
pub mod liouvillian;
pub mod master;
pub mod model;
pub mod moments;
pub mod reduced;
pub mod resume;
pub mod output;
pub mod progress;
pub mod run;
pub mod simd;
pub mod space;
pub mod steady;
pub mod integrate;
pub mod observables;
pub mod protocol;
pub mod plot;
pub mod validate;
pub mod sweep;
pub mod text;
pub mod trajectories;
#[cfg(test)]
mod testutil;

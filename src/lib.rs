//! qbsim: simulator for reservoir-engineered exceptional-point quantum batteries.
//!
//! Data flows one way: config → model → (reduced model | moments | Liouvillian)
//! → integrator → observables → output. See `docs/` and PHYSICS conventions in
//! [`model`].

pub mod config;
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
pub mod integrate;
pub mod observables;
pub mod plot;
pub mod validate;
pub mod sweep;
#[cfg(test)]
mod testutil;

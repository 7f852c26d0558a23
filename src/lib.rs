//! qbsim: simulator for reservoir-engineered exceptional-point quantum batteries.
//!
//! Data flows one way: config → model → (reduced model | moments | Liouvillian)
//! → integrator → observables → output. See `docs/` and PHYSICS conventions in
//! [`model`].

pub mod config;
pub mod linalg;
pub mod liouvillian;
pub mod model;
pub mod reduced;
pub mod output;
pub mod run;
pub mod space;
pub mod integrate;
pub mod observables;

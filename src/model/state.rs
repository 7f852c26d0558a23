//! The initial state of one mode: the three modes start in a product state.
//! The master equation truncates it to the mode's cutoff
//! (`observables::states`), the moment equations use it untruncated.

use num_complex::Complex64 as C64;

/// Initial state of one mode (the three modes start in a product state).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModeState {
    Vacuum,
    /// Coherent state |α⟩, truncated to the cutoff and renormalised.
    Coherent(C64),
    Fock(usize),
    /// Thermal state with mean occupation n̄, truncated and renormalised.
    Thermal(f64),
}

impl ModeState {
    /// As written in the config.
    pub fn describe(&self) -> String {
        match self {
            ModeState::Vacuum => "\"vacuum\"".into(),
            ModeState::Coherent(z) => format!("{{ coherent = [{}, {}] }}", z.re, z.im),
            ModeState::Fock(n) => format!("{{ fock = {n} }}"),
            ModeState::Thermal(n) => format!("{{ thermal = {n} }}"),
        }
    }
}

//! The one registry of engines: each engine's config name, what it needs,
//! what it computes exactly, and which model terms it refuses. Config
//! parsing, runs, `qbsim check` and the docs take their facts from here.

use crate::model::{ExtraTerm, MicroParams};

/// The engines a run can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The truncated-Fock Lindblad master equation (`/master`).
    Master,
    /// The exact moment equations (`/moments`).
    Moments,
    /// The adiabatically eliminated two-mode model (`/reduced`).
    Reduced,
    /// Quantum-jump trajectories of the master equation (`/trajectories`).
    Trajectories,
}

/// Why an engine cannot treat a model: the config key that sets the term,
/// and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub key: String,
    pub reason: String,
}

impl Engine {
    /// Every engine, in the order runs compute them.
    pub const ALL: [Engine; 4] = [Engine::Master, Engine::Moments, Engine::Reduced, Engine::Trajectories];

    /// The name in `solver.engines` and the output group.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Master => "master",
            Engine::Moments => "moments",
            Engine::Reduced => "reduced",
            Engine::Trajectories => "trajectories",
        }
    }

    pub fn from_name(name: &str) -> Option<Engine> {
        Engine::ALL.into_iter().find(|e| e.name() == name)
    }

    /// `"master", "moments", "reduced"`, for messages.
    pub fn names() -> String {
        Engine::ALL.map(|e| format!("\"{}\"", e.name())).join(", ")
    }

    /// The engine of an output group name (`"master"` for `/master`).
    pub fn of_group(group: &str) -> Option<Engine> {
        Engine::from_name(group.trim_start_matches('/'))
    }

    /// Its name in figure legends.
    pub fn label(self) -> &'static str {
        match self {
            Engine::Master => "master equation",
            Engine::Moments => "exact moments",
            Engine::Reduced => "reduced model",
            Engine::Trajectories => "quantum trajectories",
        }
    }

    /// One line on what it computes.
    pub fn summary(self) -> &'static str {
        match self {
            Engine::Master => "Lindblad master equation in the truncated Fock space: exact for every model term",
            Engine::Moments => {
                "exact means and second moments: exact for quadratic Hamiltonians (exchange included), linear \
                 jumps and dephasing, at any temperature, for any cutoff"
            }
            Engine::Reduced => "adiabatic elimination of c: the two-mode model (valid when |M_cc| dominates)",
            Engine::Trajectories => {
                "quantum-jump trajectories (vectors of size d, not d²): the master equation for every model term, \
                 up to a statistical error that is reported"
            }
        }
    }

    /// Refuses a model with a term this engine cannot treat exactly, naming
    /// the term: an engine never drops a term silently.
    pub fn check(self, p: &MicroParams) -> Result<(), Refusal> {
        let refuse = |t: ExtraTerm, why: &str| Err(Refusal { key: format!("model.{}", t.key()), reason: why.to_string() });
        for t in p.extra_terms() {
            match (self, t) {
                (Engine::Master | Engine::Trajectories, _) => {}
                // Exchange is quadratic; dephasing keeps the means and second
                // moments closed (docs/physics.md §10; the battery metrics are
                // then NaN, the state being non-Gaussian).
                (Engine::Moments, ExtraTerm::Exchange | ExtraTerm::Dephasing) => {}
                (Engine::Moments, ExtraTerm::Kerr | ExtraTerm::CrossKerr) => {
                    return refuse(
                        t,
                        "engine \"moments\" cannot treat this term exactly: a quartic Hamiltonian couples the \
                         moments to all higher orders (no closed equations); use \"master\"",
                    )
                }
                (Engine::Reduced, _) => {
                    return refuse(
                        t,
                        "engine \"reduced\" is the paper's linear two-mode model, which has no such term; use \
                         \"master\" (or \"moments\" for exchange)",
                    )
                }
            }
        }
        Ok(())
    }
}

//! The time series every three-mode engine reports (PHYSICS.md §6), under the
//! same names in every output group (`/master`, `/moments`).

use super::ModeMetrics;
use num_complex::Complex64 as C64;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub t: Vec<f64>,
    pub a: Vec<C64>,
    pub b: Vec<C64>,
    pub c: Vec<C64>,
    pub n_a: Vec<f64>,
    pub n_b: Vec<f64>,
    pub n_c: Vec<f64>,
    /// E_B = ⟨b†b⟩ (units of ħω_b).
    pub energy_b: Vec<f64>,
    /// P_B = dE_B/dt, from the equations of motion (not finite differences).
    pub power_b: Vec<f64>,
    pub ergotropy_b: Vec<f64>,
    pub entropy_b: Vec<f64>,
    pub purity_b: Vec<f64>,
}

impl Series {
    /// Appends one save: time, means (a, b, c), occupations (n_a, n_b, n_c),
    /// the charging power and the battery's metrics.
    pub fn push(&mut self, t: f64, means: [C64; 3], numbers: [f64; 3], power_b: f64, battery: ModeMetrics) {
        self.t.push(t);
        self.a.push(means[0]);
        self.b.push(means[1]);
        self.c.push(means[2]);
        self.n_a.push(numbers[0]);
        self.n_b.push(numbers[1]);
        self.n_c.push(numbers[2]);
        self.energy_b.push(numbers[1]);
        self.power_b.push(power_b);
        self.ergotropy_b.push(battery.ergotropy);
        self.entropy_b.push(battery.entropy);
        self.purity_b.push(battery.purity);
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

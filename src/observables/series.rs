//! The time series every three-mode engine reports (docs/physics.md §7), under the
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

    /// Appends the saves of `later` (a resumed run continuing this one).
    pub fn extend(&mut self, later: Series) {
        self.t.extend(later.t);
        self.a.extend(later.a);
        self.b.extend(later.b);
        self.c.extend(later.c);
        self.n_a.extend(later.n_a);
        self.n_b.extend(later.n_b);
        self.n_c.extend(later.n_c);
        self.energy_b.extend(later.energy_b);
        self.power_b.extend(later.power_b);
        self.ergotropy_b.extend(later.ergotropy_b);
        self.entropy_b.extend(later.entropy_b);
        self.purity_b.extend(later.purity_b);
    }

    /// The real-valued columns by their output names (`/master/<name>`).
    pub fn real_columns(&self) -> [(&'static str, &Vec<f64>); 9] {
        [
            ("t", &self.t),
            ("n_a", &self.n_a),
            ("n_b", &self.n_b),
            ("n_c", &self.n_c),
            ("energy_b", &self.energy_b),
            ("power_b", &self.power_b),
            ("ergotropy_b", &self.ergotropy_b),
            ("entropy_b", &self.entropy_b),
            ("purity_b", &self.purity_b),
        ]
    }

    /// The complex columns (the means) by their output names.
    pub fn complex_columns(&self) -> [(&'static str, &Vec<C64>); 3] {
        [("a", &self.a), ("b", &self.b), ("c", &self.c)]
    }

    /// Rebuilds a series from its columns, looked up by output name (the
    /// inverse of writing [`Self::real_columns`] and [`Self::complex_columns`]);
    /// `None` names the first column that is missing or of another length.
    pub fn from_columns(
        real: impl Fn(&str) -> Option<Vec<f64>>,
        complex: impl Fn(&str) -> Option<Vec<C64>>,
    ) -> Result<Series, String> {
        let mut s = Series::default();
        let n = real("t").ok_or("t")?.len();
        let r = |name: &'static str| real(name).filter(|v| v.len() == n).ok_or(name);
        let c = |name: &'static str| complex(name).filter(|v| v.len() == n).ok_or(name);
        s.t = r("t")?;
        s.a = c("a")?;
        s.b = c("b")?;
        s.c = c("c")?;
        s.n_a = r("n_a")?;
        s.n_b = r("n_b")?;
        s.n_c = r("n_c")?;
        s.energy_b = r("energy_b")?;
        s.power_b = r("power_b")?;
        s.ergotropy_b = r("ergotropy_b")?;
        s.entropy_b = r("entropy_b")?;
        s.purity_b = r("purity_b")?;
        Ok(s)
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

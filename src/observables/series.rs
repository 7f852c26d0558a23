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
    /// W = ∫ P_in dt, the work done by the drive since the start of the run
    /// (units of ħω, P_in = −2E Im⟨a⟩; docs/physics.md §11).
    pub work_in: Vec<f64>,
    /// E_B / W where W > 0, NaN elsewhere.
    pub efficiency_b: Vec<f64>,
    /// ergotropy_b / W where W > 0, NaN elsewhere.
    pub ergotropy_efficiency_b: Vec<f64>,
}

/// `x / w` for work w > 0, NaN otherwise (no work done yet: no efficiency).
pub fn per_work(x: f64, w: f64) -> f64 {
    if w > 0.0 {
        x / w
    } else {
        f64::NAN
    }
}

impl Series {
    /// Appends one save: time, means (a, b, c), occupations (n_a, n_b, n_c),
    /// the charging power, the battery's metrics and the work done so far.
    pub fn push(&mut self, t: f64, means: [C64; 3], numbers: [f64; 3], power_b: f64, battery: ModeMetrics, work: f64) {
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
        self.work_in.push(work);
        self.efficiency_b.push(per_work(numbers[1], work));
        self.ergotropy_efficiency_b.push(per_work(battery.ergotropy, work));
    }

    /// The value of real column `name` in row `k` (event observables).
    pub fn value(&self, name: &str, k: usize) -> Option<f64> {
        self.real_columns().into_iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.get(k).copied())
    }

    /// Whether column `name` depends on the work W (so an event watching it
    /// needs W inside a step).
    pub fn depends_on_work(name: &str) -> bool {
        matches!(name, "work_in" | "efficiency_b" | "ergotropy_efficiency_b")
    }

    /// Names of the real observables an event may watch (every real column but `t`).
    pub fn observables() -> &'static [&'static str] {
        &Self::REAL[1..]
    }

    /// Output names (`/master/<name>`) of the real-valued columns, in the
    /// order of [`Self::real_columns`] and `real_mut`.
    const REAL: [&'static str; 12] = [
        "t",
        "n_a",
        "n_b",
        "n_c",
        "energy_b",
        "power_b",
        "ergotropy_b",
        "entropy_b",
        "purity_b",
        "work_in",
        "efficiency_b",
        "ergotropy_efficiency_b",
    ];
    /// Output names of the complex columns (the means).
    const COMPLEX: [&'static str; 3] = ["a", "b", "c"];

    fn real_mut(&mut self) -> [&mut Vec<f64>; 12] {
        [
            &mut self.t,
            &mut self.n_a,
            &mut self.n_b,
            &mut self.n_c,
            &mut self.energy_b,
            &mut self.power_b,
            &mut self.ergotropy_b,
            &mut self.entropy_b,
            &mut self.purity_b,
            &mut self.work_in,
            &mut self.efficiency_b,
            &mut self.ergotropy_efficiency_b,
        ]
    }

    fn complex_mut(&mut self) -> [&mut Vec<C64>; 3] {
        [&mut self.a, &mut self.b, &mut self.c]
    }

    /// Appends the saves of `later` (a resumed run continuing this one).
    pub fn extend(&mut self, mut later: Series) {
        for (mine, theirs) in self.real_mut().into_iter().zip(later.real_mut()) {
            mine.append(theirs);
        }
        for (mine, theirs) in self.complex_mut().into_iter().zip(later.complex_mut()) {
            mine.append(theirs);
        }
    }

    /// The real-valued columns by their output names (`/master/<name>`).
    pub fn real_columns(&self) -> [(&'static str, &Vec<f64>); 12] {
        let cols = [
            &self.t,
            &self.n_a,
            &self.n_b,
            &self.n_c,
            &self.energy_b,
            &self.power_b,
            &self.ergotropy_b,
            &self.entropy_b,
            &self.purity_b,
            &self.work_in,
            &self.efficiency_b,
            &self.ergotropy_efficiency_b,
        ];
        std::array::from_fn(|k| (Self::REAL[k], cols[k]))
    }

    /// The complex columns (the means) by their output names.
    pub fn complex_columns(&self) -> [(&'static str, &Vec<C64>); 3] {
        let cols = [&self.a, &self.b, &self.c];
        std::array::from_fn(|k| (Self::COMPLEX[k], cols[k]))
    }

    /// Rebuilds a series from its columns, looked up by output name (the
    /// inverse of writing [`Self::real_columns`] and [`Self::complex_columns`]);
    /// `Err` names the first column that is missing or of another length.
    pub fn from_columns(
        real: impl Fn(&str) -> Option<Vec<f64>>,
        complex: impl Fn(&str) -> Option<Vec<C64>>,
    ) -> Result<Series, &'static str> {
        let mut s = Series::default();
        let n = real("t").ok_or("t")?.len();
        for (name, col) in Self::REAL.into_iter().zip(s.real_mut()) {
            *col = real(name).filter(|v| v.len() == n).ok_or(name)?;
        }
        for (name, col) in Self::COMPLEX.into_iter().zip(s.complex_mut()) {
            *col = complex(name).filter(|v| v.len() == n).ok_or(name)?;
        }
        Ok(s)
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

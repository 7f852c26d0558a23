//! Deterministic randomness for the unit tests (no dependency, same sequence
//! on every machine).

use num_complex::Complex64 as C64;

/// xorshift64* generator.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }
    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    /// Real and imaginary parts uniform in [−1, 1).
    pub(crate) fn complex(&mut self) -> C64 {
        C64::new(self.range(-1.0, 1.0), self.range(-1.0, 1.0))
    }
}

//! Run-time choice of the instruction set for the hot loops (the Liouvillian
//! kernel's rows, the integrator's combination pass). Each such loop is
//! written once as an `#[inline(always)]` function and instantiated under
//! `#[target_feature]` wrappers; the caller dispatches on [`Simd`].

/// Instruction set a hot loop is compiled for, chosen at run time so a
/// portable binary (built for baseline x86-64) still uses AVX2/AVX-512 where
/// the CPU has them: complex multiply-adds vectorise ~4–6× better there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    Generic,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Simd {
    /// The best instruction set of this CPU (detected once, then cached).
    pub fn best() -> Self {
        static BEST: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
        *BEST.get_or_init(Simd::detect)
    }

    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512dq")
                && std::is_x86_feature_detected!("fma")
            {
                return Simd::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Simd::Avx2;
            }
        }
        Simd::Generic
    }
}


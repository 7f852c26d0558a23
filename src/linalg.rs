//! Small dense complex matrices (2×2 … 4×4) stored as fixed-size arrays, and
//! the matrix exponential (for those and for faer's dynamic matrices).
//!
//! The reduced model (2×2 drift, 3×3 with the drive augmented) and the exact
//! three-mode moment equations (3×3, 4×4 augmented) only ever need tiny matrix
//! exponentials, so they live here on the stack instead of in a general
//! dense-matrix library: no allocation, and the same robust algorithm for all.

use num_complex::Complex64 as C64;

/// A row-major N×N complex matrix.
pub type CMat<const N: usize> = [[C64; N]; N];

pub fn zeros<const N: usize>() -> CMat<N> {
    [[C64::new(0.0, 0.0); N]; N]
}

pub fn identity<const N: usize>() -> CMat<N> {
    let mut m = zeros::<N>();
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = C64::new(1.0, 0.0);
    }
    m
}

pub fn matmul<const N: usize>(a: &CMat<N>, b: &CMat<N>) -> CMat<N> {
    let mut c = zeros::<N>();
    for i in 0..N {
        for k in 0..N {
            let aik = a[i][k];
            for j in 0..N {
                c[i][j] += aik * b[k][j];
            }
        }
    }
    c
}

pub fn matvec<const N: usize>(a: &CMat<N>, x: &[C64; N]) -> [C64; N] {
    let mut y = [C64::new(0.0, 0.0); N];
    for i in 0..N {
        for k in 0..N {
            y[i] += a[i][k] * x[k];
        }
    }
    y
}

pub fn scale<const N: usize>(a: &CMat<N>, s: C64) -> CMat<N> {
    let mut c = *a;
    c.iter_mut().flatten().for_each(|z| *z *= s);
    c
}

/// Maximum absolute column sum (the induced 1-norm).
pub fn norm1<const N: usize>(a: &CMat<N>) -> f64 {
    (0..N)
        .map(|j| (0..N).map(|i| a[i][j].norm()).sum::<f64>())
        .fold(0.0, f64::max)
}

/// What the matrix exponential needs of a square complex matrix type: the
/// fixed-size [`CMat`] here (reduced model, moments: no allocation) and faer's
/// dynamic `Mat` (truncated displacement operators in `observables::states`)
/// share one implementation of the algorithm, [`expm`].
pub trait SquareMatrix: Clone {
    /// Maximum absolute column sum (the induced 1-norm).
    fn norm1(&self) -> f64;
    fn scaled(&self, s: f64) -> Self;
    fn mul(&self, other: &Self) -> Self;
    fn add_assign(&mut self, other: &Self);
    /// The identity of the same size.
    fn identity_like(&self) -> Self;
    /// All entries NaN, same size.
    fn nan_like(&self) -> Self;
}

impl<const N: usize> SquareMatrix for CMat<N> {
    fn norm1(&self) -> f64 {
        norm1(self)
    }
    fn scaled(&self, s: f64) -> Self {
        scale(self, C64::new(s, 0.0))
    }
    fn mul(&self, other: &Self) -> Self {
        matmul(self, other)
    }
    fn add_assign(&mut self, other: &Self) {
        for (srow, orow) in self.iter_mut().zip(other.iter()) {
            for (a, b) in srow.iter_mut().zip(orow.iter()) {
                *a += *b;
            }
        }
    }
    fn identity_like(&self) -> Self {
        identity::<N>()
    }
    fn nan_like(&self) -> Self {
        [[C64::new(f64::NAN, f64::NAN); N]; N]
    }
}

/// faer's dynamic matrices, complex (truncated displacement operators in
/// `observables::states`) and real (Krylov's Hessenberg matrices).
macro_rules! faer_square_matrix {
    ($t:ty, $abs:expr, $zero:expr, $one:expr, $nan:expr) => {
        impl SquareMatrix for faer::Mat<$t> {
            fn norm1(&self) -> f64 {
                (0..self.ncols()).map(|j| (0..self.nrows()).map(|i| $abs(self[(i, j)])).sum::<f64>()).fold(0.0, f64::max)
            }
            fn scaled(&self, s: f64) -> Self {
                faer::Mat::from_fn(self.nrows(), self.ncols(), |i, j| self[(i, j)] * s)
            }
            fn mul(&self, other: &Self) -> Self {
                self * other
            }
            fn add_assign(&mut self, other: &Self) {
                *self = faer::Mat::from_fn(self.nrows(), self.ncols(), |i, j| self[(i, j)] + other[(i, j)]);
            }
            fn identity_like(&self) -> Self {
                faer::Mat::from_fn(self.nrows(), self.ncols(), |i, j| if i == j { $one } else { $zero })
            }
            fn nan_like(&self) -> Self {
                faer::Mat::from_fn(self.nrows(), self.ncols(), |_, _| $nan)
            }
        }
    };
}

faer_square_matrix!(C64, |z: C64| z.norm(), C64::new(0.0, 0.0), C64::new(1.0, 0.0), C64::new(f64::NAN, f64::NAN));
faer_square_matrix!(f64, f64::abs, 0.0, 1.0, f64::NAN);

/// Matrix exponential by scaling and squaring with a truncated Taylor series.
///
/// The argument is scaled by 2^-s until its 1-norm is at most 1/2; the Taylor
/// series is then summed until the next term is below 1e-18 relative (at most
/// 30 terms: 0.5^30/30! ≈ 4e-42), and the result squared s times. This is
/// accurate to a few ulps times the condition of the exponential for any matrix,
/// including defective ones (exceptional points), where eigen-decompositions
/// break down.
pub fn expm<M: SquareMatrix>(a: &M) -> M {
    let norm = a.norm1();
    if !norm.is_finite() {
        return a.nan_like();
    }
    let s = if norm > 0.5 { (norm / 0.5).log2().ceil() as i32 } else { 0 };
    let b = a.scaled(0.5f64.powi(s));
    let mut sum = a.identity_like();
    let mut term = sum.clone();
    for k in 1..=30 {
        term = term.mul(&b).scaled(1.0 / k as f64);
        sum.add_assign(&term);
        if term.norm1() <= 1e-18 * sum.norm1() {
            break;
        }
    }
    for _ in 0..s {
        sum = sum.mul(&sum);
    }
    sum
}

/// Solves the small linear system A x = b by Gaussian elimination with partial
/// pivoting. Returns `None` when A is singular to working precision.
pub fn solve<const N: usize>(a: &CMat<N>, b: &[C64; N]) -> Option<[C64; N]> {
    let mut m = *a;
    let mut x = *b;
    let scale_ref = norm1(a);
    for col in 0..N {
        let piv = (col..N).max_by(|&i, &j| m[i][col].norm().total_cmp(&m[j][col].norm()))?;
        if m[piv][col].norm() <= 1e-14 * scale_ref {
            return None;
        }
        m.swap(col, piv);
        x.swap(col, piv);
        for row in col + 1..N {
            let f = m[row][col] / m[col][col];
            for k in col..N {
                let v = m[col][k];
                m[row][k] -= f * v;
            }
            let v = x[col];
            x[row] -= f * v;
        }
    }
    for col in (0..N).rev() {
        let mut acc = x[col];
        for k in col + 1..N {
            acc -= m[col][k] * x[k];
        }
        x[col] = acc / m[col][col];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(re: f64, im: f64) -> C64 {
        C64::new(re, im)
    }

    #[test]
    fn expm_of_diagonal_is_elementwise_exp() {
        let mut a = zeros::<3>();
        a[0][0] = c(-3.0, 2.0);
        a[1][1] = c(1.5, -0.5);
        a[2][2] = c(-40.0, 7.0);
        let e = expm(&a);
        // Squaring s times amplifies the base's relative error by 2^s; here
        // ‖A‖₁ = 40.6 gives s = 7, so the bound is ~2^7·4ε ≈ 1e-13.
        for i in 0..3 {
            let want = a[i][i].exp();
            assert!((e[i][i] - want).norm() <= 1e-13 * want.norm());
        }
        assert!(e[0][1].norm() == 0.0 && e[2][0].norm() == 0.0);
    }

    #[test]
    fn expm_of_jordan_block_has_the_polynomial_factor() {
        // exp([[l, 1],[0, l]] t) = e^{lt} [[1, t],[0, 1]]: the defective (EP) case.
        let l = c(-0.3, 1.1);
        let t = 7.5;
        let a = [[l * t, c(t, 0.0)], [c(0.0, 0.0), l * t]];
        let e = expm(&a);
        let elt = (l * t).exp();
        assert!((e[0][0] - elt).norm() <= 1e-13 * elt.norm());
        assert!((e[0][1] - elt * t).norm() <= 1e-13 * (elt * t).norm());
        assert!(e[1][0].norm() <= 1e-15);
    }

    #[test]
    fn expm_of_rotation_generator_is_rotation() {
        let th = 13.7;
        let a = [[c(0.0, 0.0), c(-th, 0.0)], [c(th, 0.0), c(0.0, 0.0)]];
        let e = expm(&a);
        assert!((e[0][0].re - th.cos()).abs() < 1e-13);
        assert!((e[1][0].re - th.sin()).abs() < 1e-13);
        assert!((e[0][1].re + th.sin()).abs() < 1e-13);
    }

    #[test]
    fn solve_recovers_known_solution() {
        let a = [
            [c(2.0, 1.0), c(0.0, -1.0), c(0.5, 0.0)],
            [c(1.0, 0.0), c(3.0, 0.0), c(0.0, 2.0)],
            [c(0.0, 0.0), c(1.0, 1.0), c(4.0, -1.0)],
        ];
        let x = [c(1.0, -2.0), c(0.5, 0.25), c(-3.0, 1.0)];
        let b = matvec(&a, &x);
        let y = solve(&a, &b).expect("regular");
        for i in 0..3 {
            assert!((x[i] - y[i]).norm() < 1e-14);
        }
        let sing = [[c(1.0, 0.0), c(2.0, 0.0)], [c(2.0, 0.0), c(4.0, 0.0)]];
        assert!(solve(&sing, &[c(1.0, 0.0), c(0.0, 0.0)]).is_none());
    }
}

//! Small dense complex-matrix helpers on flat row-major `n × n` slices
//! (used to build test / initial states; not on any hot path).

use faer::Mat;
use num_complex::Complex64 as C64;

const ZERO: C64 = C64 { re: 0.0, im: 0.0 };
const ONE: C64 = C64 { re: 1.0, im: 0.0 };

/// Row-major slice → faer matrix.
pub fn to_mat(a: &[C64], n: usize) -> Mat<C64> {
    assert_eq!(a.len(), n * n, "expected an n² = {} slice, got {}", n * n, a.len());
    Mat::from_fn(n, n, |i, j| a[i * n + j])
}

/// faer matrix → row-major vector.
pub fn from_mat(m: &Mat<C64>) -> Vec<C64> {
    let (r, c) = (m.nrows(), m.ncols());
    let mut out = Vec::with_capacity(r * c);
    for i in 0..r {
        for j in 0..c {
            out.push(m[(i, j)]);
        }
    }
    out
}

/// `n × n` identity (row-major).
pub fn identity(n: usize) -> Vec<C64> {
    let mut out = vec![ZERO; n * n];
    for i in 0..n {
        out[i * (n + 1)] = ONE;
    }
    out
}

/// `A B` for row-major `n × n` matrices.
pub fn matmul(a: &[C64], b: &[C64], n: usize) -> Vec<C64> {
    from_mat(&(&to_mat(a, n) * &to_mat(b, n)))
}

/// Conjugate transpose `A†` (row-major).
pub fn adjoint(a: &[C64], n: usize) -> Vec<C64> {
    assert_eq!(a.len(), n * n);
    let mut out = vec![ZERO; n * n];
    for i in 0..n {
        for j in 0..n {
            out[j * n + i] = a[i * n + j].conj();
        }
    }
    out
}

fn norm1(m: &Mat<C64>) -> f64 {
    (0..m.ncols())
        .map(|j| (0..m.nrows()).map(|i| m[(i, j)].norm()).sum::<f64>())
        .fold(0.0, f64::max)
}

/// Matrix exponential `exp(A)` of a row-major `n × n` matrix by scaling and
/// squaring with a Taylor series: `A / 2^s` with `‖A/2^s‖₁ ≤ 1/2`, Taylor
/// terms until they drop below machine precision relative to the sum, then
/// `s` squarings. Accurate to a few ulps × `2^s` for normal matrices (e.g.
/// anti-Hermitian generators of unitaries).
pub fn expm(a: &[C64], n: usize) -> Vec<C64> {
    from_mat(&expm_mat(&to_mat(a, n)))
}

/// [`expm`] on a faer matrix.
pub fn expm_mat(a: &Mat<C64>) -> Mat<C64> {
    let n = a.nrows();
    assert_eq!(n, a.ncols(), "expm needs a square matrix");
    let nrm = norm1(a);
    if !nrm.is_finite() {
        return Mat::from_fn(n, n, |_, _| C64::new(f64::NAN, f64::NAN));
    }
    let s = if nrm > 0.5 { (nrm / 0.5).log2().ceil() as i32 } else { 0 };
    let scale = 0.5f64.powi(s);
    let b = Mat::from_fn(n, n, |i, j| a[(i, j)] * scale);

    let mut sum = Mat::from_fn(n, n, |i, j| if i == j { ONE } else { ZERO });
    let mut term = sum.clone();
    for k in 1..=60 {
        let next = &term * &b;
        let inv_k = 1.0 / k as f64;
        term = Mat::from_fn(n, n, |i, j| next[(i, j)] * inv_k);
        sum = Mat::from_fn(n, n, |i, j| sum[(i, j)] + term[(i, j)]);
        if norm1(&term) <= f64::EPSILON * 0.25 * norm1(&sum) {
            break;
        }
    }
    for _ in 0..s {
        sum = &sum * &sum;
    }
    sum
}

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

/// Matrix exponential `exp(A)` of a row-major `n × n` matrix
/// ([`crate::linalg::expm`]: scaling and squaring with a Taylor series).
pub fn expm(a: &[C64], n: usize) -> Vec<C64> {
    from_mat(&crate::linalg::expm(&to_mat(a, n)))
}

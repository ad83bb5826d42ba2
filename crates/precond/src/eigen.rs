//! Top eigenpairs of symmetric PSD operators: dense, faer's Krylov-Schur partial eigensolver, or
//! randomized block subspace iteration on an implicit operator (only products `A V` are needed).
use crate::error::{Result, invalid};
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// How the top eigenpairs are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum EigenMethod {
    /// Dense eigendecomposition up to size 2000, block subspace iteration above.
    #[default]
    Auto,
    /// Full dense eigendecomposition (exact; `O(s^3)`).
    Dense,
    /// faer's Krylov-Schur partial self-adjoint eigensolver (`partial_self_adjoint_eigen`).
    KrylovSchur,
    /// Randomized block subspace iteration with `iters` power steps (GEMM-bound, implicit operator).
    Subspace {
        /// Number of power iterations (>= 1).
        iters: usize,
    },
}

/// Size up to which [`EigenMethod::Auto`] uses the dense eigendecomposition.
pub const DENSE_LIMIT: usize = 2000;

/// The top-`k` eigenpairs, values in descending order.
#[derive(Debug, Clone)]
pub struct TopEigen {
    /// Eigenvalues, largest first.
    pub values: Vec<f64>,
    /// Orthonormal eigenvectors as columns (`n x k`).
    pub vectors: Mat<f64>,
}

/// Top-`k` eigenpairs of a dense symmetric PSD matrix `a` with the given method.
pub fn top_eigen_dense(a: MatRef<'_, f64>, k: usize, method: EigenMethod, seed: u64) -> Result<TopEigen> {
    let n = a.nrows();
    if k == 0 || k > n {
        return Err(invalid("number of eigenpairs", k, format!("must be in 1..={n}")));
    }
    let method = match method {
        EigenMethod::Auto if n <= DENSE_LIMIT => EigenMethod::Dense,
        EigenMethod::Auto => EigenMethod::Subspace { iters: 6 },
        m => m,
    };
    match method {
        EigenMethod::Dense | EigenMethod::Auto => {
            let e = linalg::sym::sym_eigen(a)?;
            Ok(TopEigen { values: e.values[..k].to_vec(), vectors: e.vectors.subcols(0, k).to_owned() })
        }
        EigenMethod::KrylovSchur => {
            let e = linalg::sym::top_k_eigen(a, k)?;
            Ok(TopEigen { values: e.values, vectors: e.vectors })
        }
        EigenMethod::Subspace { iters } => subspace_iteration(n, k, iters, seed, |v| a * v),
    }
}

/// Randomized block subspace iteration for the top-`k` eigenpairs of an implicit symmetric PSD
/// operator `apply(V) = A V` of size `n`: `k + p` columns (`p = max(10, k/2)` oversampling), `iters`
/// power steps with QR re-orthonormalisation, then Rayleigh-Ritz. Deterministic for a seed.
pub fn subspace_iteration(
    n: usize,
    k: usize,
    iters: usize,
    seed: u64,
    apply: impl Fn(MatRef<'_, f64>) -> Mat<f64>,
) -> Result<TopEigen> {
    if k == 0 || k > n {
        return Err(invalid("number of eigenpairs", k, format!("must be in 1..={n}")));
    }
    if iters == 0 {
        return Err(invalid("subspace iterations", iters, "must be >= 1"));
    }
    let b = (k + (k / 2).max(10)).min(n);
    let omega = linalg::random::gaussian_mat(n, b, seed);
    let mut q = orthonormalize(apply(omega.as_ref()).as_ref());
    for _ in 1..iters {
        q = orthonormalize(apply(q.as_ref()).as_ref());
    }
    let aq = apply(q.as_ref());
    let small = q.transpose() * &aq;
    let small = linalg::sym::symmetrize(small.as_ref());
    let e = linalg::sym::sym_eigen(small.as_ref())?;
    let vectors = &q * e.vectors.subcols(0, k);
    Ok(TopEigen { values: e.values[..k].to_vec(), vectors })
}

fn orthonormalize(y: MatRef<'_, f64>) -> Mat<f64> {
    y.qr().compute_thin_Q()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_agree_on_a_known_spectrum() {
        let n = 120;
        let u = linalg::random::gaussian_mat(n, n, 4).qr().compute_thin_Q();
        let vals: Vec<f64> = (0..n).map(|i| 1.0 / (1.0 + i as f64).powf(1.5)).collect();
        let a = Mat::from_fn(n, n, |i, j| (0..n).map(|l| u[(i, l)] * vals[l] * u[(j, l)]).sum::<f64>());
        for m in [EigenMethod::Dense, EigenMethod::KrylovSchur, EigenMethod::Subspace { iters: 30 }] {
            let e = top_eigen_dense(a.as_ref(), 5, m, 1).unwrap();
            for i in 0..5 {
                assert!((e.values[i] - vals[i]).abs() < 1e-6 * vals[0], "{m:?} {i} {}", e.values[i]);
            }
        }
        assert!(top_eigen_dense(a.as_ref(), 0, EigenMethod::Dense, 1).is_err());
        assert!(top_eigen_dense(a.as_ref(), n + 1, EigenMethod::Dense, 1).is_err());
    }
}

//! Functions of symmetric matrices through their eigendecomposition.
//!
//! For a symmetric `A = U diag(l) U^T`, `f(A) = U diag(f(l)) U^T`. Powers clip negative eigenvalues
//! to zero first (for a symmetric matrix this is exactly the real part of a principal matrix power
//! when the negative part is round-off, and the PSD projection otherwise).
use crate::validate::{check_data, check_square};
use crate::{LinalgError, Result, default_par};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::matrix_free::eigen::{
    PartialEigenParams, partial_self_adjoint_eigen, partial_self_adjoint_eigen_scratch,
};
use faer::{Mat, MatRef, Side};

/// Eigendecomposition of a symmetric matrix, eigenvalues sorted in **descending** order.
#[derive(Debug, Clone)]
pub struct SymEigen {
    /// Eigenvalues, largest first.
    pub values: Vec<f64>,
    /// Eigenvectors as columns, in the order of `values`.
    pub vectors: Mat<f64>,
}

/// Symmetrises `a` as `(a + a^T) / 2` (useful before an eigendecomposition of a matrix that is
/// symmetric up to round-off).
pub fn symmetrize(a: MatRef<'_, f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| 0.5 * (a[(i, j)] + a[(j, i)]))
}

/// Full eigendecomposition of the symmetric matrix `a` (only its lower triangle is read).
///
/// Errors: non-square, empty, non-finite input, or no convergence.
pub fn sym_eigen(a: MatRef<'_, f64>) -> Result<SymEigen> {
    check_square("symmetric eigendecomposition", a)?;
    check_data("symmetric matrix", a)?;
    let evd = a.self_adjoint_eigen(Side::Lower).map_err(|_| LinalgError::NoConvergence {
        context: format!("symmetric eigendecomposition of a {} x {} matrix", a.nrows(), a.nrows()),
    })?;
    let n = a.nrows();
    let s = evd.S().column_vector();
    let u = evd.U();
    // faer returns ascending order; reverse.
    let values: Vec<f64> = (0..n).rev().map(|i| s[i]).collect();
    let vectors = Mat::from_fn(n, n, |i, j| u[(i, n - 1 - j)]);
    Ok(SymEigen { values, vectors })
}

/// Rebuilds `U diag(f(l)) U^T` from an eigendecomposition.
pub fn reconstruct_with(e: &SymEigen, f: impl Fn(f64) -> f64) -> Mat<f64> {
    let n = e.vectors.nrows();
    let k = e.values.len();
    let fv: Vec<f64> = e.values.iter().map(|&l| f(l)).collect();
    // U_scaled = U diag(f(l)); result = U_scaled U^T
    let us = Mat::from_fn(n, k, |i, j| e.vectors[(i, j)] * fv[j]);
    let mut out = Mat::<f64>::zeros(n, n);
    faer::linalg::matmul::matmul(
        out.as_mut(),
        faer::Accum::Replace,
        us.as_ref(),
        e.vectors.transpose(),
        1.0,
        default_par(),
    );
    // exact symmetry
    for j in 0..n {
        for i in (j + 1)..n {
            let v = 0.5 * (out[(i, j)] + out[(j, i)]);
            out[(i, j)] = v;
            out[(j, i)] = v;
        }
    }
    out
}

/// Applies a scalar function to the eigenvalues of the symmetric matrix `a`.
pub fn sym_apply(a: MatRef<'_, f64>, f: impl Fn(f64) -> f64) -> Result<Mat<f64>> {
    let e = sym_eigen(a)?;
    Ok(reconstruct_with(&e, f))
}

/// `A^s` for symmetric `A`, with negative eigenvalues clipped to 0 (so the result is PSD).
///
/// `s` must be finite; `s <= 0` is rejected because clipped zero eigenvalues have no negative power.
pub fn sym_power(a: MatRef<'_, f64>, s: f64) -> Result<Mat<f64>> {
    if !(s.is_finite() && s > 0.0) {
        return Err(LinalgError::InvalidParameter {
            name: "matrix power".into(),
            value: format!("{s}"),
            reason: "must be finite and > 0".into(),
        });
    }
    if s == 1.0 {
        // Still project onto the PSD cone for consistency.
        return sym_apply(a, |l| l.max(0.0));
    }
    sym_apply(a, |l| if l > 0.0 { l.powf(s) } else { 0.0 })
}

/// Square root of a symmetric PSD matrix (negative eigenvalues clipped to 0).
pub fn sym_sqrt(a: MatRef<'_, f64>) -> Result<Mat<f64>> {
    sym_apply(a, |l| l.max(0.0).sqrt())
}

/// Projection onto the PSD cone: negative eigenvalues set to 0.
pub fn clip_psd(a: MatRef<'_, f64>) -> Result<Mat<f64>> {
    sym_apply(a, |l| l.max(0.0))
}

/// The `k` eigenpairs of largest magnitude of the symmetric matrix `a`, largest first.
///
/// Small matrices (n <= 400) or large `k` use the dense eigendecomposition; larger ones use faer's
/// Krylov-Schur partial eigensolver (falling back to the dense one if it does not converge).
/// For a PSD matrix these are the top-k eigenpairs.
pub fn top_k_eigen(a: MatRef<'_, f64>, k: usize) -> Result<SymEigen> {
    check_square("top-k eigenpairs", a)?;
    check_data("symmetric matrix", a)?;
    let n = a.nrows();
    if k == 0 || k > n {
        return Err(LinalgError::InvalidParameter {
            name: "k".into(),
            value: k.to_string(),
            reason: format!("must be in 1..={n} for a {n} x {n} matrix"),
        });
    }
    let dense = |a: MatRef<'_, f64>| -> Result<SymEigen> {
        let e = sym_eigen(a)?;
        // order by magnitude, descending
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|&i, &j| e.values[j].abs().total_cmp(&e.values[i].abs()));
        idx.truncate(k);
        Ok(SymEigen {
            values: idx.iter().map(|&i| e.values[i]).collect(),
            vectors: Mat::from_fn(n, k, |r, c| e.vectors[(r, idx[c])]),
        })
    };
    if n <= 400 || 4 * k >= n {
        return dense(a);
    }
    let par = default_par();
    let params = PartialEigenParams { max_restarts: 200, ..PartialEigenParams::default() };
    let req = partial_self_adjoint_eigen_scratch::<f64>(&a, k, par, params);
    let mut buf = MemBuffer::new(req);
    let stack = MemStack::new(&mut buf);
    let mut vecs = Mat::<f64>::zeros(n, k);
    let mut vals = vec![0.0; k];
    // deterministic, generic start vector
    let v0 = faer::Col::<f64>::from_fn(n, |i| 1.0 + ((i * 7919) % 101) as f64 / 101.0);
    let v0 = &v0 * (1.0 / v0.norm_l2());
    let info =
        partial_self_adjoint_eigen(vecs.as_mut(), &mut vals, &a, v0.as_ref(), 1e-12, par, stack, params);
    if info.n_converged_eigen < k || vals.iter().any(|v| !v.is_finite()) {
        return dense(a);
    }
    let mut idx: Vec<usize> = (0..k).collect();
    idx.sort_by(|&i, &j| vals[j].abs().total_cmp(&vals[i].abs()));
    Ok(SymEigen {
        values: idx.iter().map(|&i| vals[i]).collect(),
        vectors: Mat::from_fn(n, k, |r, c| vecs[(r, idx[c])]),
    })
}

/// Eigenvalues only of a symmetric matrix, descending.
pub fn sym_eigenvalues(a: MatRef<'_, f64>) -> Result<Vec<f64>> {
    check_square("symmetric eigenvalues", a)?;
    check_data("symmetric matrix", a)?;
    let mut v = a
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|_| LinalgError::NoConvergence { context: "symmetric eigenvalues".into() })?;
    v.reverse();
    Ok(v)
}

/// Trace of a square matrix.
pub fn trace(a: MatRef<'_, f64>) -> f64 {
    (0..a.nrows().min(a.ncols())).map(|i| a[(i, i)]).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::gaussian_mat;

    fn random_psd(n: usize, seed: u64) -> Mat<f64> {
        let g = gaussian_mat(n, n, seed);
        &g * g.transpose()
    }

    #[test]
    fn sqrt_squares_back() {
        for &n in &[1usize, 3, 19, 50] {
            let a = random_psd(n, n as u64);
            let r = sym_sqrt(a.as_ref()).unwrap();
            let back = &r * &r;
            let err = (&back - &a).norm_max() / a.norm_max();
            assert!(err < 1e-10, "n={n} err={err}");
        }
    }

    #[test]
    fn power_of_identity_and_clipping() {
        let a = faer::mat![[2.0, 0.0], [0.0, -3.0]];
        let p = sym_power(a.as_ref(), 2.0).unwrap();
        assert!((p[(0, 0)] - 4.0).abs() < 1e-12 && p[(1, 1)].abs() < 1e-12);
        assert!(sym_power(a.as_ref(), -1.0).is_err());
        assert!(sym_power(a.as_ref(), f64::NAN).is_err());
    }

    #[test]
    fn eigen_descending_and_reconstructs() {
        let a = random_psd(30, 7);
        let e = sym_eigen(a.as_ref()).unwrap();
        assert!(e.values.windows(2).all(|w| w[0] >= w[1]));
        let back = reconstruct_with(&e, |l| l);
        assert!((&back - &a).norm_max() < 1e-9 * a.norm_max());
    }

    #[test]
    fn top_k_matches_dense_on_large_matrix() {
        let n = 500;
        let a = random_psd(n, 3);
        let all = sym_eigen(a.as_ref()).unwrap();
        let top = top_k_eigen(a.as_ref(), 5).unwrap();
        for i in 0..5 {
            assert!((top.values[i] - all.values[i]).abs() < 1e-8 * all.values[0], "{i}");
            // A v = l v
            let v = top.vectors.col(i);
            let av = &a * v;
            let res = (&av - v * top.values[i]).norm_l2();
            assert!(res < 1e-7 * all.values[0]);
        }
        assert!(top_k_eigen(a.as_ref(), 0).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        let a = Mat::<f64>::zeros(2, 3);
        assert!(sym_eigen(a.as_ref()).is_err());
        let b = faer::mat![[1.0, f64::NAN], [f64::NAN, 1.0]];
        assert!(matches!(sym_sqrt(b.as_ref()), Err(LinalgError::NonFinite { .. })));
    }
}

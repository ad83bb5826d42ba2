//! Network analysis utilities: empirical NTK from a Jacobian, its top eigenvalues, the AGOP from
//! per-sample input gradients, AGOP alignment, and the split of the squared loss into the part in
//! the top eigenspace of the NTK and the rest.
use crate::error::{Result, invalid};
use crate::ops::{check_shape, gemm};
use faer::{Accum, Mat, MatRef};

pub use linalg::sym::SymEigen;

/// The empirical tangent kernel `(1/n) J J^T` from a Jacobian `J` (`n x P`, one row per sample).
pub fn empirical_ntk(jacobian: MatRef<'_, f64>) -> Mat<f64> {
    let n = jacobian.nrows();
    let mut k = Mat::<f64>::zeros(n, n);
    gemm(k.as_mut(), Accum::Replace, jacobian, jacobian.transpose(), 1.0 / n.max(1) as f64);
    k
}

/// Largest eigenvalue of a symmetric matrix (dense symmetric eigen-solver).
pub fn lambda_max(k: MatRef<'_, f64>) -> Result<f64> {
    Ok(linalg::sym::sym_eigenvalues(k)?[0])
}

/// The `count` largest-magnitude eigenpairs of a symmetric matrix, largest first (for a PSD
/// kernel matrix: the top eigenpairs).
pub fn top_eigenpairs(k: MatRef<'_, f64>, count: usize) -> Result<SymEigen> {
    Ok(linalg::sym::top_k_eigen(k, count)?)
}

/// The `count` largest eigenvalues of a symmetric matrix, descending.
pub fn top_eigenvalues(k: MatRef<'_, f64>, count: usize) -> Result<Vec<f64>> {
    let v = linalg::sym::sym_eigenvalues(k)?;
    if count == 0 || count > v.len() {
        return Err(invalid("count", count, &format!("must be in 1..={}", v.len())));
    }
    Ok(v[..count].to_vec())
}

/// The AGOP `(1/n) G^T G` from per-sample input gradients `G` (`n x d`, row i = `grad f(x_i)`).
pub fn agop_from_gradients(g: MatRef<'_, f64>) -> Mat<f64> {
    let (n, d) = (g.nrows(), g.ncols());
    let mut out = Mat::<f64>::zeros(d, d);
    gemm(out.as_mut(), Accum::Replace, g.transpose(), g, 1.0 / n.max(1) as f64);
    out
}

/// The AGOP of a multi-output predictor from one gradient matrix per output (`n x d` each):
/// `(1/n) sum_c G_c^T G_c`, i.e. the average of `J(x)^T J(x)`.
pub fn agop_from_output_gradients(gs: &[Mat<f64>]) -> Result<Mat<f64>> {
    let first = gs.first().ok_or_else(|| invalid("number of outputs", 0, "must be at least 1"))?;
    let (n, d) = (first.nrows(), first.ncols());
    let mut out = Mat::<f64>::zeros(d, d);
    for g in gs {
        check_shape("per-output input gradients", g.as_ref(), n, d)?;
        gemm(out.as_mut(), Accum::Add, g.transpose(), g.as_ref(), 1.0 / n.max(1) as f64);
    }
    Ok(out)
}

/// AGOP alignment `<A, B>_F / (||A||_F ||B||_F)` (cosine similarity of matrices).
pub fn agop_alignment(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<f64> {
    Ok(linalg::similarity::cosine_similarity(a, b)?)
}

/// Splits the half-mean squared loss `(1/2n) ||r||^2` of a residual `r` (`n x 1`) into the part in
/// the span of the orthonormal columns of `top` (`n x k`, e.g. the top NTK eigenvectors) and the
/// rest: returns `(L_top, L_rest)` with `L_top + L_rest = L`.
pub fn split_loss(residual: MatRef<'_, f64>, top: MatRef<'_, f64>) -> Result<(f64, f64)> {
    let n = residual.nrows();
    check_shape("residual", residual, n, 1)?;
    check_shape("eigenvectors", top, n, top.ncols())?;
    let mut c = Mat::<f64>::zeros(top.ncols(), 1);
    gemm(c.as_mut(), Accum::Replace, top.transpose(), residual, 1.0);
    let total = residual.squared_norm_l2() / (2.0 * n as f64);
    let l_top = c.squared_norm_l2() / (2.0 * n as f64);
    Ok((l_top, (total - l_top).max(0.0)))
}

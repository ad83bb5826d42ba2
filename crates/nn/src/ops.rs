//! Small dense helpers on faer used by every layer: GEMMs with the workspace's parallelism, row and
//! column reductions, element-wise maps and input checks.
use crate::error::{Result, mismatch};
use faer::{Accum, Mat, MatMut, MatRef};

/// `dst = alpha * a * b` (`accum = Replace`) or `dst += alpha * a * b` (`Add`), with
/// [`linalg::default_par`] parallelism.
pub fn gemm(dst: MatMut<'_, f64>, accum: Accum, a: MatRef<'_, f64>, b: MatRef<'_, f64>, alpha: f64) {
    // Small products run sequentially: threading them costs more than it saves (and callers often
    // parallelise over independent runs already).
    let par =
        if a.nrows() * a.ncols() * b.ncols() < (1 << 22) { faer::Par::Seq } else { linalg::default_par() };
    faer::linalg::matmul::matmul(dst, accum, a, b, alpha, par);
}

/// `dst = alpha * a * b` or `dst += alpha * a * b` on the calling thread, for the small per-sequence
/// products of callers that parallelise over sequences themselves.
pub(crate) fn gemm_seq(
    dst: MatMut<'_, f64>,
    accum: Accum,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
) {
    faer::linalg::matmul::matmul(dst, accum, a, b, alpha, faer::Par::Seq);
}

/// `a * b` as a new matrix.
pub fn matmul(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), b.ncols());
    gemm(out.as_mut(), Accum::Replace, a, b, 1.0);
    out
}

/// Column sums of `a` as a `1 x ncols` matrix.
pub fn col_sums(a: MatRef<'_, f64>) -> Mat<f64> {
    Mat::from_fn(1, a.ncols(), |_, j| a.col(j).sum())
}

/// Applies `f` to every entry of `a` (column by column over contiguous slices, so it vectorises).
pub fn map(a: MatRef<'_, f64>, f: impl Fn(f64) -> f64) -> Mat<f64> {
    let mut out = a.to_owned();
    for j in 0..out.ncols() {
        for v in out.col_as_slice_mut(j) {
            *v = f(*v);
        }
    }
    out
}

/// Entry-wise `f(a_ij, b_ij)`; the shapes must agree (checked by the caller).
pub fn zip(a: MatRef<'_, f64>, b: MatRef<'_, f64>, f: impl Fn(f64, f64) -> f64) -> Mat<f64> {
    let mut out = a.to_owned();
    for j in 0..out.ncols() {
        let bj = b.col(j);
        for (i, v) in out.col_as_slice_mut(j).iter_mut().enumerate() {
            *v = f(*v, bj[i]);
        }
    }
    out
}

/// `out_ij = f(a_ij, s_j)`: a per-column function of the entries (e.g. a masked column scaling).
pub fn map_cols(a: MatRef<'_, f64>, s: &[f64], f: impl Fn(f64, f64) -> f64) -> Mat<f64> {
    let mut out = a.to_owned();
    for (j, &sj) in s.iter().enumerate().take(out.ncols()) {
        for v in out.col_as_slice_mut(j) {
            *v = f(*v, sj);
        }
    }
    out
}

/// Fails unless `a` has exactly `cols` columns.
pub fn check_cols(context: &str, a: MatRef<'_, f64>, cols: usize) -> Result<()> {
    if a.ncols() != cols {
        return Err(mismatch(context, format!("{cols} columns"), format!("{} x {}", a.nrows(), a.ncols())));
    }
    Ok(())
}

/// Fails unless `a` is `rows x cols`.
pub fn check_shape(context: &str, a: MatRef<'_, f64>, rows: usize, cols: usize) -> Result<()> {
    if a.nrows() != rows || a.ncols() != cols {
        return Err(mismatch(context, format!("{rows} x {cols}"), format!("{} x {}", a.nrows(), a.ncols())));
    }
    Ok(())
}

/// Fails when `a` is empty or holds NaN / infinity.
pub fn check_data(name: &str, a: MatRef<'_, f64>) -> Result<()> {
    linalg::validate::check_data(name, a)?;
    Ok(())
}

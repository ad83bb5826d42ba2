//! Kernel matrices by the GEMM trick, in blocks, and streamed products `K(X, Z) V`.
use crate::error::Result;
use crate::kernel::Kernel;
use crate::metric::{Metric, Prepared, row_dots};
use faer::linalg::matmul::triangular::BlockStructure;
use faer::{Accum, Mat, MatMut, MatRef};
use linalg::default_par;
use linalg::validate::{check_data, check_ncols, check_same_rows};
use rayon::prelude::*;

/// Which part of a symmetric kernel matrix to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triangle {
    /// Lower triangle (with the diagonal) only; the strict upper triangle is left at 0.
    /// Halves the work; enough for a Cholesky factorisation.
    Lower,
    /// Both triangles.
    Full,
}

/// Entries of a kernel block kept in memory at once by the streamed routines (16 M = 128 MB).
pub const BLOCK_ENTRIES: usize = 1 << 24;

fn validate_inputs(kernel: &dyn Kernel, metric: &Metric, x: MatRef<'_, f64>) -> Result<()> {
    kernel.validate()?;
    check_data("kernel inputs", x)?;
    metric.validate(x.ncols())?;
    Ok(())
}

/// Transforms a block of inner products (rows = first arguments with squared norms `nx`, columns =
/// second arguments with squared norms `nz`) into kernel values, in parallel over columns.
/// Any view works: columns that are not contiguous go through a temporary copy.
pub fn apply_values(kernel: &dyn Kernel, block: MatMut<'_, f64>, nx: &[f64], nz: &[f64]) {
    block.par_col_iter_mut().enumerate().for_each(|(j, mut col)| {
        if col.row_stride() != 1 {
            let mut tmp: Vec<f64> = col.as_ref().iter().copied().collect();
            kernel.values_col(&mut tmp, nx, nz[j]);
            col.as_mut().iter_mut().zip(tmp).for_each(|(d, v)| *d = v);
        } else if let Some(c) = col.try_as_col_major_mut() {
            kernel.values_col(c.as_slice_mut(), nx, nz[j]);
        }
    });
}

/// `K(A, B)` for prepared `a` (rows) and `b` (columns): one GEMM plus the element-wise pass.
pub fn kernel_block(kernel: &dyn Kernel, a: &Prepared, b: &Prepared) -> Mat<f64> {
    let mut k = Mat::<f64>::zeros(a.x.nrows(), b.x.nrows());
    faer::linalg::matmul::matmul(
        k.as_mut(),
        Accum::Replace,
        a.xm.as_ref(),
        b.x.transpose(),
        1.0,
        default_par(),
    );
    apply_values(kernel, k.as_mut(), &a.sq_norms, &b.sq_norms);
    k
}

/// The kernel matrix `K(X, Z)` (`n x m`), `K_ij = k_M(x_i, z_j)`.
///
/// ```
/// use kernels::{KernelSpec, Metric, kernel_matrix};
/// let x = faer::mat![[0.0, 0.0], [3.0, 4.0]];
/// let k = kernel_matrix(&KernelSpec::laplace(5.0), &Metric::Euclidean, x.as_ref(), x.as_ref()).unwrap();
/// assert!((k[(0, 1)] - (-1.0f64).exp()).abs() < 1e-14); // distance 5, bandwidth 5
/// assert_eq!(k[(0, 0)], 1.0);
/// ```
pub fn kernel_matrix(
    kernel: &dyn Kernel,
    metric: &Metric,
    x: MatRef<'_, f64>,
    z: MatRef<'_, f64>,
) -> Result<Mat<f64>> {
    validate_inputs(kernel, metric, x)?;
    check_data("kernel inputs (second argument)", z)?;
    check_ncols("kernel inputs (second argument)", z, x.ncols())?;
    let a = Prepared::new(x, metric);
    let b = Prepared::new(z, metric);
    Ok(kernel_block(kernel, &a, &b))
}

/// The symmetric kernel matrix `K(X, X)`, computing only the lower triangle when asked
/// (triangular GEMM and element-wise pass on half the entries).
pub fn kernel_matrix_sym(
    kernel: &dyn Kernel,
    metric: &Metric,
    x: MatRef<'_, f64>,
    triangle: Triangle,
) -> Result<Mat<f64>> {
    validate_inputs(kernel, metric, x)?;
    let p = Prepared::new(x, metric);
    Ok(kernel_matrix_sym_prepared(kernel, &p, triangle))
}

/// [`kernel_matrix_sym`] on already prepared inputs (no validation).
pub fn kernel_matrix_sym_prepared(kernel: &dyn Kernel, p: &Prepared, triangle: Triangle) -> Mat<f64> {
    let n = p.x.nrows();
    let mut k = Mat::<f64>::zeros(n, n);
    faer::linalg::matmul::triangular::matmul(
        k.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        p.xm.as_ref(),
        BlockStructure::Rectangular,
        p.x.transpose(),
        BlockStructure::Rectangular,
        1.0,
        default_par(),
    );
    let nx = &p.sq_norms;
    k.as_mut().par_col_iter_mut().enumerate().for_each(|(j, col)| {
        let s = col.try_as_col_major_mut().expect("column-major").as_slice_mut();
        kernel.values_col(&mut s[j..], &nx[j..], nx[j]);
    });
    if triangle == Triangle::Full {
        mirror_lower(k.as_mut());
    }
    k
}

/// Columns per panel of [`kernel_lower_f32_prepared`].
const PANEL: usize = 256;

/// Writes the lower triangle (with the diagonal) of `K(X, X)` into the `f32` matrix `out`
/// (`n x n`; its strict upper triangle is not touched). Inner products and kernel values are computed
/// in `f64`, panel by panel, so no `n x n` `f64` matrix is ever formed: memory is the `f32` output
/// plus one `n x 256` `f64` panel.
///
/// Errors: `out` is not `n x n`.
pub fn kernel_lower_f32_prepared(kernel: &dyn Kernel, p: &Prepared, mut out: MatMut<'_, f32>) -> Result<()> {
    let n = p.x.nrows();
    if out.nrows() != n || out.ncols() != n {
        return Err(linalg::LinalgError::ShapeMismatch {
            context: "f32 kernel matrix output".into(),
            expected: format!("{n} x {n}"),
            got: format!("{} x {}", out.nrows(), out.ncols()),
        }
        .into());
    }
    if out.row_stride() != 1 {
        // the panels below write contiguous columns: fill a fresh matrix, copy its lower triangle
        let mut tmp = Mat::<f32>::zeros(n, n);
        kernel_lower_f32_prepared(kernel, p, tmp.as_mut())?;
        for j in 0..n {
            for i in j..n {
                out[(i, j)] = tmp[(i, j)];
            }
        }
        return Ok(());
    }
    let mut panel = Mat::<f64>::zeros(n, PANEL.min(n.max(1)));
    let mut j0 = 0;
    while j0 < n {
        let w = PANEL.min(n - j0);
        let rows = n - j0;
        let mut g = panel.as_mut().submatrix_mut(0, 0, rows, w);
        faer::linalg::matmul::matmul(
            g.as_mut(),
            Accum::Replace,
            p.xm.as_ref().subrows(j0, rows),
            p.x.as_ref().subrows(j0, w).transpose(),
            1.0,
            default_par(),
        );
        let nx = &p.sq_norms[j0..];
        let dst = out.as_mut().submatrix_mut(j0, j0, rows, w);
        g.as_mut().par_col_iter_mut().zip(dst.par_col_iter_mut()).enumerate().for_each(
            |(c, (gcol, dcol))| {
                let gs = gcol.try_as_col_major_mut().expect("column-major").as_slice_mut();
                let ds = dcol.try_as_col_major_mut().expect("column-major").as_slice_mut();
                // rows c.. of this column are on or below the diagonal
                kernel.values_col(&mut gs[c..], &nx[c..], nx[c]);
                for (d, &v) in ds[c..].iter_mut().zip(&gs[c..]) {
                    *d = v as f32;
                }
            },
        );
        j0 += w;
    }
    Ok(())
}

/// Copies the strict lower triangle into the upper triangle (blocked for cache efficiency).
pub fn mirror_lower(mut k: MatMut<'_, f64>) {
    let n = k.nrows();
    const B: usize = 64;
    for jb in (0..n).step_by(B) {
        for ib in (jb..n).step_by(B) {
            for j in jb..(jb + B).min(n) {
                for i in ib.max(j + 1)..(ib + B).min(n) {
                    let v = k[(i, j)];
                    k[(j, i)] = v;
                }
            }
        }
    }
}

/// Streamed `K(X, Z) V` (`n x c`) without storing `K`: rows of `X` are processed in blocks of at most
/// [`BLOCK_ENTRIES`] kernel entries.
pub fn kernel_times(
    kernel: &dyn Kernel,
    metric: &Metric,
    x: MatRef<'_, f64>,
    z: MatRef<'_, f64>,
    v: MatRef<'_, f64>,
) -> Result<Mat<f64>> {
    validate_inputs(kernel, metric, x)?;
    check_data("kernel inputs (second argument)", z)?;
    check_ncols("kernel inputs (second argument)", z, x.ncols())?;
    check_same_rows("K(X, Z) V: rows of Z vs rows of V", z, v)?;
    check_data("V", v)?;
    let pz = Prepared::new(z, metric);
    Ok(kernel_times_prepared(kernel, metric, x, &pz, v))
}

/// Entries per block of the streamed product (16 MB of `f64`: stays in the heap, reused per block).
const STREAM_ENTRIES: usize = 1 << 21;

/// [`kernel_times`] with the second argument prepared (no validation).
pub fn kernel_times_prepared(
    kernel: &dyn Kernel,
    metric: &Metric,
    x: MatRef<'_, f64>,
    pz: &Prepared,
    v: MatRef<'_, f64>,
) -> Mat<f64> {
    let (n, m) = (x.nrows(), pz.x.nrows());
    let mut out = Mat::<f64>::zeros(n, v.ncols());
    if n == 0 || m == 0 {
        return out;
    }
    let rows = (STREAM_ENTRIES / m).clamp(32.min(n), n);
    let mut buf = Mat::<f64>::zeros(rows, m);
    let mut start = 0;
    while start < n {
        let len = rows.min(n - start);
        let xb = x.subrows(start, len);
        let xm = metric.apply(xb);
        let nx = row_dots(xb, xm.as_ref());
        let mut k = buf.as_mut().subrows_mut(0, len);
        faer::linalg::matmul::matmul(
            k.as_mut(),
            Accum::Replace,
            xm.as_ref(),
            pz.x.transpose(),
            1.0,
            default_par(),
        );
        apply_values(kernel, k.as_mut(), &nx, &pz.sq_norms);
        faer::linalg::matmul::matmul(
            out.as_mut().subrows_mut(start, len),
            Accum::Replace,
            k.as_ref(),
            v,
            1.0,
            default_par(),
        );
        start += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KernelSpec;
    use linalg::random::gaussian_mat;

    #[test]
    fn matches_direct_formula() {
        let x = gaussian_mat(23, 5, 1);
        let z = gaussian_mat(17, 5, 2);
        let g = gaussian_mat(5, 5, 3);
        let m = &g * g.transpose();
        let k = KernelSpec::laplace(3.0);
        let km = kernel_matrix(&k, &Metric::Mahalanobis(m.clone()), x.as_ref(), z.as_ref()).unwrap();
        for i in 0..23 {
            for j in 0..17 {
                let dif = Mat::from_fn(5, 1, |r, _| x[(i, r)] - z[(j, r)]);
                let d2 = (dif.transpose() * &m * &dif)[(0, 0)];
                let want = (-d2.max(0.0).sqrt() / 3.0).exp();
                assert!((km[(i, j)] - want).abs() < 1e-12, "{i} {j}");
            }
        }
    }

    #[test]
    fn sym_lower_and_full_agree_with_general() {
        let x = gaussian_mat(70, 4, 4);
        for k in [KernelSpec::gaussian(2.0), KernelSpec::laplace(1.0), KernelSpec::quadratic()] {
            let full = kernel_matrix(&k, &Metric::Euclidean, x.as_ref(), x.as_ref()).unwrap();
            let sym = kernel_matrix_sym(&k, &Metric::Euclidean, x.as_ref(), Triangle::Full).unwrap();
            assert!((&full - &sym).norm_max() < 1e-12);
            let low = kernel_matrix_sym(&k, &Metric::Euclidean, x.as_ref(), Triangle::Lower).unwrap();
            for j in 0..70 {
                for i in 0..70 {
                    if i >= j {
                        assert!((low[(i, j)] - full[(i, j)]).abs() < 1e-12);
                    } else {
                        assert_eq!(low[(i, j)], 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn streamed_product_matches_dense() {
        let x = gaussian_mat(40, 3, 5);
        let z = gaussian_mat(30, 3, 6);
        let v = gaussian_mat(30, 2, 7);
        let k = KernelSpec::laplace(2.0);
        let kz = kernel_matrix(&k, &Metric::Diagonal(vec![1.0, 0.5, 2.0]), x.as_ref(), z.as_ref()).unwrap();
        let want = &kz * &v;
        let got =
            kernel_times(&k, &Metric::Diagonal(vec![1.0, 0.5, 2.0]), x.as_ref(), z.as_ref(), v.as_ref())
                .unwrap();
        assert!((&want - &got).norm_max() < 1e-12);
    }

    #[test]
    fn apply_values_on_a_strided_view() {
        let k = KernelSpec::laplace(2.0);
        let (nx, nz) = (vec![1.0, 2.0, 3.0], vec![0.5, 1.5]);
        let mut contiguous = Mat::from_fn(3, 2, |i, j| 0.1 * (i + j) as f64);
        let mut rows = contiguous.transpose().to_owned(); // 2 x 3; its transpose is a strided 3 x 2 view
        apply_values(&k, contiguous.as_mut(), &nx, &nz);
        apply_values(&k, rows.as_mut().transpose_mut(), &nx, &nz);
        assert!((&contiguous - rows.transpose()).norm_max() < 1e-15);
    }

    #[test]
    fn f32_lower_rejects_wrong_shape_and_fills_strided_views() {
        let x = gaussian_mat(9, 3, 2);
        let p = Prepared::new(x.as_ref(), &Metric::Euclidean);
        let k = KernelSpec::laplace(2.0);
        assert!(kernel_lower_f32_prepared(&k, &p, Mat::<f32>::zeros(8, 9).as_mut()).is_err());
        let mut direct = Mat::<f32>::zeros(9, 9);
        kernel_lower_f32_prepared(&k, &p, direct.as_mut()).unwrap();
        let mut rows = Mat::<f32>::zeros(9, 9);
        kernel_lower_f32_prepared(&k, &p, rows.as_mut().transpose_mut()).unwrap();
        for j in 0..9 {
            for i in j..9 {
                assert_eq!(direct[(i, j)], rows[(j, i)]);
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        let x = gaussian_mat(4, 3, 1);
        let bad = faer::mat![[f64::NAN, 0.0, 0.0]];
        let k = KernelSpec::laplace(1.0);
        assert!(kernel_matrix(&k, &Metric::Euclidean, x.as_ref(), bad.as_ref()).is_err());
        assert!(kernel_matrix(&k, &Metric::Euclidean, x.as_ref(), gaussian_mat(2, 2, 1).as_ref()).is_err());
        assert!(
            kernel_matrix(&KernelSpec::laplace(-1.0), &Metric::Euclidean, x.as_ref(), x.as_ref()).is_err()
        );
        assert!(kernel_matrix(&k, &Metric::Diagonal(vec![1.0]), x.as_ref(), x.as_ref()).is_err());
    }
}

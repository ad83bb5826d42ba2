//! Streamed kernel blocks `K(X_B, X)` in `f32` or `f64` (GEMM + the kernel's SIMD element-wise pass).
//!
//! [`KernelData`] holds the training inputs once, in the working precision `T`, already mapped by
//! the metric; every solver here reads kernel values through it, one row block at a time, so that
//! no `n x n` matrix is ever formed.
use crate::error::{Result, invalid};
use faer::{Accum, Mat, MatMut, MatRef};
use kernels::metric::row_dots;
use kernels::{Kernel, Metric, Prepared};
use linalg::default_par;
use linalg::validate::{check_data, check_ncols};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Kernel entries held in memory at once by a streamed block (`2^24` = 64 MB in `f32`).
pub const BLOCK_ENTRIES: usize = 1 << 24;

/// Relative squared distance under which two points count as identical in `f32` blocks.
pub const F32_DUPLICATE_TOL: f64 = 1e-6;

/// Working precision of the kernel blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Precision {
    /// `f32` GEMM and blocks (about 2x the throughput; kernel values carry ~1e-6 relative error).
    #[default]
    F32,
    /// `f64` everywhere (tests, ill-conditioned systems).
    F64,
}

/// The scalar types the block engine runs in (`f32`, `f64`).
pub trait Real:
    faer::traits::RealField + faer::traits::ComplexField<Real = Self> + Copy + Send + Sync + 'static
{
    /// Conversion from `f64`.
    fn from_f64(x: f64) -> Self;
    /// Conversion to `f64`.
    fn to_f64(self) -> f64;
    /// Applies the kernel's element-wise pass to one column of inner products (`f64` scratch for `f32`).
    fn kernel_col(kernel: &dyn Kernel, col: &mut [Self], nx: &[f64], nz: f64, buf: &mut Vec<f64>);
}

impl Real for f64 {
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn kernel_col(kernel: &dyn Kernel, col: &mut [f64], nx: &[f64], nz: f64, _buf: &mut Vec<f64>) {
        kernel.values_col(col, nx, nz);
    }
}

impl Real for f32 {
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn kernel_col(kernel: &dyn Kernel, col: &mut [f32], nx: &[f64], nz: f64, buf: &mut Vec<f64>) {
        buf.clear();
        // f32 inner products carry ~6e-8 |x| |z| error, which the square root of the Laplace kernel
        // turns into ~1e-3 |x| distance error at duplicates: distances below F32_DUPLICATE_TOL are 0.
        buf.extend(col.iter().zip(nx).map(|(&v, &a)| {
            let (ip, sum) = (v as f64, a + nz);
            if sum - 2.0 * ip <= F32_DUPLICATE_TOL * sum { 0.5 * sum } else { ip }
        }));
        kernel.values_col(buf, nx, nz);
        for (c, &v) in col.iter_mut().zip(buf.iter()) {
            *c = v as f32;
        }
    }
}

/// Converts a `f64` matrix to `T`.
pub fn to_real<T: Real>(a: MatRef<'_, f64>) -> Mat<T> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| T::from_f64(a[(i, j)]))
}

/// Converts a `T` matrix to `f64`.
pub fn to_f64<T: Real>(a: MatRef<'_, T>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)].to_f64())
}

/// Training inputs prepared for streamed kernel blocks in precision `T`.
#[derive(Debug)]
pub struct KernelData<'k, T: Real> {
    kernel: &'k dyn Kernel,
    metric: Metric,
    /// Raw inputs (`n x d`), the second argument of every block.
    x: Mat<T>,
    /// `X M` (`None` for the Euclidean metric, where it equals `x`).
    xm: Option<Mat<T>>,
    /// Squared norms `x_i^T M x_i` (computed in `f64`).
    sq: Vec<f64>,
}

impl<'k, T: Real> KernelData<'k, T> {
    /// Validates and prepares `x` (`n x d`, samples as rows) for the kernel in `metric`.
    /// Errors: empty or non-finite data, a bad kernel hyperparameter, a metric of the wrong size.
    pub fn new(kernel: &'k dyn Kernel, metric: &Metric, x: MatRef<'_, f64>) -> Result<Self> {
        kernel.validate()?;
        check_data("training inputs", x).map_err(kernels::KernelError::from)?;
        metric.validate(x.ncols())?;
        let (xm, sq) = if matches!(metric, Metric::Euclidean) {
            (None, row_dots(x, x))
        } else {
            let xm64 = metric.apply(x);
            let sq = row_dots(x, xm64.as_ref());
            (Some(to_real(xm64.as_ref())), sq)
        };
        Ok(KernelData { kernel, metric: metric.clone(), x: to_real(x), xm, sq })
    }

    /// Builds from inputs already prepared by the `kernels` crate (no copy in `f64`, no validation
    /// of the data: `Prepared` values come from validated inputs).
    pub fn from_prepared(kernel: &'k dyn Kernel, metric: &Metric, p: &Prepared) -> Result<Self> {
        kernel.validate()?;
        let xm = if matches!(metric, Metric::Euclidean) { None } else { Some(to_real(p.xm.as_ref())) };
        Ok(KernelData {
            kernel,
            metric: metric.clone(),
            x: to_real(p.x.as_ref()),
            xm,
            sq: p.sq_norms.clone(),
        })
    }

    /// Number of points `n`.
    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    /// Input dimension `d`.
    pub fn d(&self) -> usize {
        self.x.ncols()
    }

    /// The kernel.
    pub fn kernel(&self) -> &dyn Kernel {
        self.kernel
    }

    /// The metric.
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    /// Squared norms `x_i^T M x_i`.
    pub fn sq_norms(&self) -> &[f64] {
        &self.sq
    }

    fn xm_ref(&self) -> MatRef<'_, T> {
        self.xm.as_ref().unwrap_or(&self.x).as_ref()
    }

    /// Diagonal `k(x_i, x_i)`.
    pub fn diagonal(&self) -> Vec<f64> {
        self.sq.iter().map(|&s| self.kernel.eval_parts(s, s, s)).collect()
    }

    /// Rows of a block that fit in [`BLOCK_ENTRIES`] entries against `cols` columns.
    pub fn rows_per_block(&self, cols: usize) -> usize {
        (BLOCK_ENTRIES / cols.max(1)).max(1)
    }

    /// `K(A, X_cols)` into `out` (`a.nrows() x cols.len()` or `x n` when `cols` is `None`), where `am` are
    /// the query rows already mapped by the metric and `asq` their squared norms.
    fn block_from(&self, am: MatRef<'_, T>, asq: &[f64], cols: Option<&[usize]>, mut out: MatMut<'_, T>) {
        let par = default_par();
        match cols {
            None => {
                faer::linalg::matmul::matmul(
                    out.as_mut(),
                    Accum::Replace,
                    am,
                    self.x.as_ref().transpose(),
                    T::from_f64(1.0),
                    par,
                );
            }
            Some(c) => {
                let xc = gather_rows(self.x.as_ref(), c);
                faer::linalg::matmul::matmul(
                    out.as_mut(),
                    Accum::Replace,
                    am,
                    xc.as_ref().transpose(),
                    T::from_f64(1.0),
                    par,
                );
            }
        }
        let kernel = self.kernel;
        let sq = &self.sq;
        out.par_col_iter_mut().enumerate().for_each_init(Vec::new, |buf, (j, col)| {
            let s = col.try_as_col_major_mut().expect("blocks are column-major").as_slice_mut();
            let nz = match cols {
                None => sq[j],
                Some(c) => sq[c[j]],
            };
            T::kernel_col(kernel, s, asq, nz, buf);
        });
    }

    /// `K(X_rows, X_cols)` (`rows.len() x cols.len()`, all columns when `cols` is `None`) into `out`.
    pub fn block_rows(&self, rows: &[usize], cols: Option<&[usize]>, out: MatMut<'_, T>) {
        let am = gather_rows(self.xm_ref(), rows);
        let asq: Vec<f64> = rows.iter().map(|&i| self.sq[i]).collect();
        self.block_from(am.as_ref(), &asq, cols, out);
    }

    /// The dense `K(X_rows, X_cols)` in `f64` (small blocks: Nystrom matrices, tests).
    pub fn block_f64(&self, rows: &[usize], cols: Option<&[usize]>) -> Mat<f64> {
        let nc = cols.map_or(self.n(), |c| c.len());
        let mut out = Mat::<T>::zeros(rows.len(), nc);
        self.block_rows(rows, cols, out.as_mut());
        to_f64(out.as_ref())
    }

    /// Streamed `K(X_rows, X) V` (`rows.len() x c`) in blocks of rows.
    pub fn times_rows(&self, rows: &[usize], v: MatRef<'_, f64>) -> Mat<f64> {
        let n = self.n();
        let vt = to_real::<T>(v);
        let mut out = Mat::<f64>::zeros(rows.len(), v.ncols());
        let bs = self.rows_per_block(n).min(rows.len().max(1));
        let mut buf = Mat::<T>::zeros(bs, n);
        let mut prod = Mat::<T>::zeros(bs, v.ncols());
        for (b, chunk) in rows.chunks(bs).enumerate() {
            let len = chunk.len();
            self.block_rows(chunk, None, buf.as_mut().subrows_mut(0, len));
            faer::linalg::matmul::matmul(
                prod.as_mut().subrows_mut(0, len),
                Accum::Replace,
                buf.as_ref().subrows(0, len),
                vt.as_ref(),
                T::from_f64(1.0),
                default_par(),
            );
            for j in 0..v.ncols() {
                for i in 0..len {
                    out[(b * bs + i, j)] = prod[(i, j)].to_f64();
                }
            }
        }
        out
    }

    /// Streamed `K(X, X) V` (`n x c`).
    pub fn times(&self, v: MatRef<'_, f64>) -> Mat<f64> {
        let rows: Vec<usize> = (0..self.n()).collect();
        self.times_rows(&rows, v)
    }

    /// The kernel block `K(Z, X)` (`m x n`, precision `T`) for new inputs `z`: cache it when the
    /// same points are evaluated repeatedly (e.g. a validation set every epoch). Errors on NaN, empty
    /// input or a dimension mismatch.
    pub fn cross_block(&self, z: MatRef<'_, f64>) -> Result<Mat<T>> {
        check_data("inputs", z).map_err(kernels::KernelError::from)?;
        check_ncols("inputs vs training dimension", z, self.d()).map_err(kernels::KernelError::from)?;
        let zm = self.metric.apply(z);
        let zsq = row_dots(z, zm.as_ref());
        let zmt = to_real::<T>(zm.as_ref());
        let mut out = Mat::<T>::zeros(z.nrows(), self.n());
        self.block_from(zmt.as_ref(), &zsq, None, out.as_mut());
        Ok(out)
    }

    /// Streamed predictions `K(Z, X) alpha` for new inputs `z` (`m x d`). Errors on NaN, empty input
    /// or a dimension mismatch.
    pub fn predict(&self, z: MatRef<'_, f64>, alpha: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_data("inputs to predict", z).map_err(kernels::KernelError::from)?;
        check_ncols("inputs to predict vs training dimension", z, self.d())
            .map_err(kernels::KernelError::from)?;
        if alpha.nrows() != self.n() {
            return Err(invalid(
                "coefficients",
                format!("{} rows", alpha.nrows()),
                format!("need {} rows", self.n()),
            ));
        }
        let n = self.n();
        let at = to_real::<T>(alpha);
        let mut out = Mat::<f64>::zeros(z.nrows(), alpha.ncols());
        let bs = self.rows_per_block(n).min(z.nrows());
        let mut buf = Mat::<T>::zeros(bs, n);
        let mut prod = Mat::<T>::zeros(bs, alpha.ncols());
        let mut start = 0;
        while start < z.nrows() {
            let len = bs.min(z.nrows() - start);
            let zb = z.subrows(start, len);
            let zm = self.metric.apply(zb);
            let zsq = row_dots(zb, zm.as_ref());
            let zmt = to_real::<T>(zm.as_ref());
            self.block_from(zmt.as_ref(), &zsq, None, buf.as_mut().subrows_mut(0, len));
            faer::linalg::matmul::matmul(
                prod.as_mut().subrows_mut(0, len),
                Accum::Replace,
                buf.as_ref().subrows(0, len),
                at.as_ref(),
                T::from_f64(1.0),
                default_par(),
            );
            for j in 0..alpha.ncols() {
                for i in 0..len {
                    out[(start + i, j)] = prod[(i, j)].to_f64();
                }
            }
            start += len;
        }
        Ok(out)
    }
}

/// A symmetric kernel operator on `n` training points: products `K V` and `K(X_rows, X) V`.
/// Implemented by the streamed [`KernelData`] and by the dense [`DenseKernel`].
pub trait KernelOp: Sync {
    /// Number of points.
    fn n(&self) -> usize;
    /// `K(X_rows, X) V` (`rows.len() x c`).
    fn apply_rows(&self, rows: &[usize], v: MatRef<'_, f64>) -> Mat<f64>;
    /// `K V` (`n x c`).
    fn apply(&self, v: MatRef<'_, f64>) -> Mat<f64> {
        let rows: Vec<usize> = (0..self.n()).collect();
        self.apply_rows(&rows, v)
    }
}

impl<T: Real> KernelOp for KernelData<'_, T> {
    fn n(&self) -> usize {
        self.x.nrows()
    }
    fn apply_rows(&self, rows: &[usize], v: MatRef<'_, f64>) -> Mat<f64> {
        self.times_rows(rows, v)
    }
}

/// A kernel matrix held in memory (`n x n` in precision `T`): the fast operator for baselines (CG,
/// Richardson) at moderate `n`. EigenPro never needs it.
#[derive(Debug, Clone)]
pub struct DenseKernel<T: Real> {
    /// The matrix.
    pub k: Mat<T>,
}

impl<T: Real> DenseKernel<T> {
    /// Forms `K(X, X)` from the prepared data (`n^2` entries of memory).
    pub fn from_data(data: &KernelData<'_, T>) -> Self {
        let n = data.n();
        let mut k = Mat::<T>::zeros(n, n);
        let all: Vec<usize> = (0..n).collect();
        let bs = data.rows_per_block(n);
        for (b, chunk) in all.chunks(bs).enumerate() {
            data.block_rows(chunk, None, k.as_mut().subrows_mut(b * bs, chunk.len()));
        }
        DenseKernel { k }
    }

    /// The matrix in `f64`.
    pub fn to_f64(&self) -> Mat<f64> {
        to_f64(self.k.as_ref())
    }
}

impl<T: Real> KernelOp for DenseKernel<T> {
    fn n(&self) -> usize {
        self.k.nrows()
    }
    fn apply_rows(&self, rows: &[usize], v: MatRef<'_, f64>) -> Mat<f64> {
        if rows.len() == self.k.nrows() && rows.iter().enumerate().all(|(i, &r)| i == r) {
            return self.apply(v);
        }
        let kr = gather_rows(self.k.as_ref(), rows);
        let vt = to_real::<T>(v);
        let mut out = Mat::<T>::zeros(rows.len(), v.ncols());
        faer::linalg::matmul::matmul(
            out.as_mut(),
            Accum::Replace,
            kr.as_ref(),
            vt.as_ref(),
            T::from_f64(1.0),
            default_par(),
        );
        to_f64(out.as_ref())
    }
    fn apply(&self, v: MatRef<'_, f64>) -> Mat<f64> {
        let vt = to_real::<T>(v);
        let mut out = Mat::<T>::zeros(self.k.nrows(), v.ncols());
        faer::linalg::matmul::matmul(
            out.as_mut(),
            Accum::Replace,
            self.k.as_ref(),
            vt.as_ref(),
            T::from_f64(1.0),
            default_par(),
        );
        to_f64(out.as_ref())
    }
}

/// Copies rows `idx` of `a` into a new matrix.
pub fn gather_rows<T: Real>(a: MatRef<'_, T>, idx: &[usize]) -> Mat<T> {
    Mat::from_fn(idx.len(), a.ncols(), |i, j| a[(idx[i], j)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernels::KernelSpec;

    #[test]
    fn blocks_match_kernel_matrix() {
        let x = linalg::random::gaussian_mat(57, 4, 1);
        let k = KernelSpec::laplace(2.0);
        let m = Metric::Diagonal(vec![1.0, 0.5, 2.0, 1.0]);
        let full = kernels::kernel_matrix(&k, &m, x.as_ref(), x.as_ref()).unwrap();
        let d64 = KernelData::<f64>::new(&k, &m, x.as_ref()).unwrap();
        let rows = [3usize, 0, 56, 10];
        let b = d64.block_f64(&rows, None);
        for (r, &i) in rows.iter().enumerate() {
            for j in 0..57 {
                assert!((b[(r, j)] - full[(i, j)]).abs() < 1e-12);
            }
        }
        let d32 = KernelData::<f32>::new(&k, &m, x.as_ref()).unwrap();
        let cols = [5usize, 7];
        let b = d32.block_f64(&rows, Some(&cols));
        assert!((b[(1, 1)] - full[(0, 7)]).abs() < 1e-5);
        let v = linalg::random::gaussian_mat(57, 2, 3);
        let kv = d64.times(v.as_ref());
        assert!((&kv - &full * &v).norm_max() < 1e-10);
        let p = d32.predict(x.as_ref(), v.as_ref()).unwrap();
        assert!((&p - &full * &v).norm_max() < 1e-4);
    }
}

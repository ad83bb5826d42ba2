//! The two building blocks every iteration of lin-RFM and IRLS shares.
//!
//! * [`kernel_regression_rows`]: for every row `i`, solve `(K[Omega_i, Omega_i] + reg I) a_i = y_i`
//!   (a small dense Cholesky) and predict the row `a_i^T K[Omega_i, :]`. Rows run in parallel
//!   (rayon); the prediction is accumulated tile by tile over the columns so that the kernel columns
//!   read by a block of rows stay in cache. Cost: `sum_i |Omega_i|^3 / 3 + nnz * d2`.
//! * [`agop_rows`]: `G = Yhat^T Yhat / d1` by a lower-triangle GEMM (faer), mirrored.
//! * [`fit_rows_with_agop`]: both in one parallel pass (what the lin-RFM and IRLS loops use): each
//!   thread fits a contiguous part of the rows and forms its part of the AGOP while the rows are in
//!   cache; the same results as the two calls above up to round-off.
//!
//! The prediction is a row-major `d1 x d2` buffer (`Vec<f64>`); view it with
//! [`faer::MatRef::from_row_major_slice`].
use crate::error::{Result, SparseRecoveryError};
use crate::observations::Observations;
use faer::linalg::matmul::triangular::{BlockStructure, matmul};
use faer::{Accum, Mat, MatRef};
use multiversion::multiversion;
use rayon::prelude::*;

/// Output columns processed per pass over a block of rows (keeps `d2 x TILE` of the kernel hot).
const TILE: usize = 256;
/// Rows per rayon task.
const ROW_BLOCK: usize = 8;

/// `out += a0 x0 + a1 x1 + a2 x2 + a3 x3` (compiled for AVX-512 / AVX2 / SSE, chosen at run time).
#[multiversion(targets = "simd")]
fn axpy4(out: &mut [f64], a: [f64; 4], x0: &[f64], x1: &[f64], x2: &[f64], x3: &[f64]) {
    let n = out.len();
    let (x0, x1, x2, x3) = (&x0[..n], &x1[..n], &x2[..n], &x3[..n]);
    for t in 0..n {
        out[t] += a[0] * x0[t] + a[1] * x1[t] + a[2] * x2[t] + a[3] * x3[t];
    }
}

#[multiversion(targets = "simd")]
fn axpy1(out: &mut [f64], a: f64, x: &[f64]) {
    let n = out.len();
    let x = &x[..n];
    for t in 0..n {
        out[t] += a * x[t];
    }
}

/// `sum_k x[k] y[k]` with eight independent accumulators, so that the loop vectorises (a plain
/// floating-point sum is a serial dependency chain the compiler may not reorder).
#[inline(always)]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    const L: usize = 8;
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let m = n / L * L;
    let mut acc = [0.0f64; L];
    for (cx, cy) in x[..m].chunks_exact(L).zip(y[..m].chunks_exact(L)) {
        for l in 0..L {
            acc[l] += cx[l] * cy[l];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for k in m..n {
        s += x[k] * y[k];
    }
    s
}

/// In-place Cholesky of the row-major `m x m` matrix `a` (lower triangle used and overwritten).
/// Returns `false` when a pivot is not positive and finite. The inner products run over contiguous
/// row prefixes ([`dot`]); compiled for AVX-512 / AVX2 / SSE and chosen at run time.
#[multiversion(targets = "simd")]
fn cholesky(a: &mut [f64], m: usize) -> bool {
    for j in 0..m {
        let (rows_to_j, rest) = a.split_at_mut((j + 1) * m);
        let rj = &mut rows_to_j[j * m..(j + 1) * m];
        let d = rj[j] - dot(&rj[..j], &rj[..j]);
        if !(d > 0.0 && d.is_finite()) {
            return false;
        }
        let d = d.sqrt();
        rj[j] = d;
        let rj = &rows_to_j[j * m..j * m + j];
        for ri in rest.chunks_exact_mut(m) {
            let s = ri[j] - dot(&ri[..j], rj);
            ri[j] = s / d;
        }
    }
    true
}

/// Solves `L L^T x = b` in place (row-major lower factor from [`cholesky`]).
fn cholesky_solve(l: &[f64], m: usize, b: &mut [f64]) {
    for i in 0..m {
        let s = b[i] - dot(&l[i * m..i * m + i], &b[..i]);
        b[i] = s / l[i * m + i];
    }
    for i in (0..m).rev() {
        let mut s = b[i];
        for k in (i + 1)..m {
            s -= l[k * m + i] * b[k];
        }
        b[i] = s / l[i * m + i];
    }
}

/// Checks that `kernel` is a `d2 x d2` column-major matrix.
fn check_kernel(kernel: &Mat<f64>, d2: usize) -> Result<()> {
    if kernel.nrows() != d2 || kernel.ncols() != d2 {
        return Err(SparseRecoveryError::ShapeMismatch {
            context: "kernel on column indices".into(),
            expected: format!("{d2} x {d2}"),
            got: format!("{} x {}", kernel.nrows(), kernel.ncols()),
        });
    }
    Ok(())
}

/// Row-wise kernel ridge regression on the observed entries (see the module docs).
///
/// `kernel` is the symmetric `d2 x d2` kernel on column indices (`K = M^T M`), `obs` the training
/// entries, `reg >= 0` the ridge, `out` a row-major `d1 x d2` buffer that receives the prediction.
/// With `replace`, the observed entries of the prediction are overwritten with the observed values.
///
/// Returns the sum over training entries of the squared residual of the fit *before* replacement
/// (`reg^2 ||a_i||^2` summed over rows).
///
/// Errors: shape mismatch, negative ridge, or a row system that is not positive definite (raise
/// `reg`).
///
/// ```
/// use faer::Mat;
/// use sparse_recovery::{Observations, kernel_step::kernel_regression_rows};
/// // identity kernel: every row predicts y / (1 + reg) on its observed entries, 0 elsewhere
/// let obs = Observations::from_triplets(2, 2, &[(0, 1, 2.0), (1, 0, 4.0)]).unwrap();
/// let mut out = vec![0.0; 4];
/// kernel_regression_rows(&Mat::identity(2, 2), &obs, 1.0, false, &mut out).unwrap();
/// let want = [0.0, 1.0, 2.0, 0.0];
/// assert!(out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12));
/// ```
pub fn kernel_regression_rows(
    kernel: &Mat<f64>,
    obs: &Observations,
    reg: f64,
    replace: bool,
    out: &mut [f64],
) -> Result<f64> {
    check_rows_args(kernel, obs, reg, out)?;
    let d2 = obs.d2();
    let cols: Vec<&[f64]> = (0..d2).map(|j| kernel.col_as_slice(j)).collect();
    out.par_chunks_mut(d2 * ROW_BLOCK)
        .enumerate()
        .map(|(b, chunk)| fit_block(&cols, obs, b * ROW_BLOCK, chunk, reg, replace))
        .try_reduce(|| 0.0, |a, b| Ok(a + b))
}

/// Checks the arguments shared by the row-fit entry points.
fn check_rows_args(kernel: &Mat<f64>, obs: &Observations, reg: f64, out: &[f64]) -> Result<()> {
    let (d1, d2) = (obs.d1(), obs.d2());
    check_kernel(kernel, d2)?;
    crate::error::check_nonnegative("reg", reg)?;
    if out.len() != d1 * d2 {
        return Err(SparseRecoveryError::ShapeMismatch {
            context: "prediction buffer".into(),
            expected: format!("{} entries ({d1} x {d2})", d1 * d2),
            got: format!("{} entries", out.len()),
        });
    }
    Ok(())
}

/// Fits and predicts the rows `r0 .. r0 + chunk.len() / d2` into `chunk` (row-major); returns the
/// sum of their squared training residuals before replacement.
fn fit_block(
    cols: &[&[f64]],
    obs: &Observations,
    r0: usize,
    chunk: &mut [f64],
    reg: f64,
    replace: bool,
) -> Result<f64> {
    let d2 = cols.len();
    let nrows = chunk.len() / d2;
    let mut coefs: Vec<Vec<f64>> = Vec::with_capacity(nrows);
    let mut kbuf: Vec<f64> = Vec::new();
    let mut resid = 0.0;
    for r in 0..nrows {
        let (idx, vals) = obs.row(r0 + r);
        let m = idx.len();
        kbuf.clear();
        kbuf.resize(m * m, 0.0);
        for (p, &jp) in idx.iter().enumerate() {
            let col = cols[jp];
            for (q, &jq) in idx.iter().enumerate().take(p + 1) {
                kbuf[p * m + q] = col[jq];
            }
            kbuf[p * m + p] += reg;
        }
        if !cholesky(&mut kbuf, m) {
            return Err(SparseRecoveryError::NotPositiveDefinite {
                context: format!("kernel regression of row {}", r0 + r),
                n: m,
                hint: format!("the ridge {reg:e} is too small for this kernel; increase reg"),
            });
        }
        let mut a = vals.to_vec();
        cholesky_solve(&kbuf, m, &mut a);
        resid += reg * reg * a.iter().map(|x| x * x).sum::<f64>();
        coefs.push(a);
    }
    chunk.fill(0.0);
    let mut t0 = 0;
    while t0 < d2 {
        let t1 = (t0 + TILE).min(d2);
        for r in 0..nrows {
            let (idx, _) = obs.row(r0 + r);
            let a = &coefs[r];
            let o = &mut chunk[r * d2 + t0..r * d2 + t1];
            let mut k = 0;
            while k + 4 <= idx.len() {
                axpy4(
                    o,
                    [a[k], a[k + 1], a[k + 2], a[k + 3]],
                    &cols[idx[k]][t0..t1],
                    &cols[idx[k + 1]][t0..t1],
                    &cols[idx[k + 2]][t0..t1],
                    &cols[idx[k + 3]][t0..t1],
                );
                k += 4;
            }
            while k < idx.len() {
                axpy1(o, a[k], &cols[idx[k]][t0..t1]);
                k += 1;
            }
        }
        t0 = t1;
    }
    if replace {
        for r in 0..nrows {
            let (idx, vals) = obs.row(r0 + r);
            for (&j, &v) in idx.iter().zip(vals) {
                chunk[r * d2 + j] = v;
            }
        }
    }
    Ok(resid)
}

/// Summary of one pass of [`fit_rows_with_agop`].
#[derive(Debug, Clone)]
pub struct RowPass {
    /// Sum over training entries of the squared residual before replacement.
    pub resid: f64,
    /// `||out - prev||_F^2`.
    pub change_sq: f64,
    /// `||out||_F^2`.
    pub pred_sq: f64,
    /// Whether every entry of the prediction is finite (the AGOP is meaningless otherwise).
    pub finite: bool,
    /// `G = Yhat^T Yhat / d1` of the new prediction (after replacement), symmetric.
    pub agop: Mat<f64>,
}

/// Precision of the AGOP product in [`fit_rows_with_agop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgopPrecision {
    /// `f64` GEMM.
    F64,
    /// `f32` GEMM on the rounded prediction, result widened to `f64` (see
    /// [`crate::LinRfmParams::agop_f32`]).
    F32,
}

/// One whole lin-RFM iteration over the rows in a single parallel pass: the row fits of
/// [`kernel_regression_rows`] (same results, same errors), the change against the previous
/// prediction `prev`, and the AGOP `G = Yhat^T Yhat / d1` of the new prediction
/// ([`agop_rows`] / [`agop_rows_f32`], up to round-off).
///
/// The rows are split into one contiguous part per rayon thread; each thread fits its rows and
/// forms the lower triangle of its part's `Yhat_p^T Yhat_p` with a sequential GEMM while the part
/// is still in cache, and the parts are summed. Compared with a parallel fit followed by a
/// parallel GEMM this saves a pass over the prediction and the synchronisation of two parallel
/// regions per iteration, which dominate at the sizes lin-RFM iterates thousands of times
/// (`d ~ 500`).
///
/// Errors: as [`kernel_regression_rows`], and `prev` of a different length than `out`.
pub fn fit_rows_with_agop(
    kernel: &Mat<f64>,
    obs: &Observations,
    reg: f64,
    replace: bool,
    prev: &[f64],
    out: &mut [f64],
    precision: AgopPrecision,
) -> Result<RowPass> {
    fit_rows_with_agop_in(
        kernel,
        obs,
        reg,
        replace,
        prev,
        out,
        precision,
        0.0,
        &mut RowPassScratch::default(),
    )
}

/// Per-thread buffers of [`fit_rows_with_agop_in`], kept between iterations (the `f32` copy of a
/// part of the prediction and the part's Gram matrix), so that an iteration allocates only its
/// result.
#[derive(Debug, Default)]
pub struct RowPassScratch {
    parts: Vec<PartBuffers>,
}

#[derive(Debug)]
struct PartBuffers {
    g64: Mat<f64>,
    g32: Mat<f32>,
    y32: Vec<f32>,
    y64: Vec<f64>,
}

/// [`fit_rows_with_agop`] with buffers reused across calls (any shapes: they are resized) and an
/// optional extrapolation of the AGOP input: with `extrapolate = beta > 0` the AGOP is that of
/// `Z = Yhat + beta (Yhat - prev)` instead of `Yhat` (heavy-ball momentum on the prediction, see
/// [`crate::LinRfmParams::momentum`]); the returned sums and `out` are those of `Yhat` itself.
///
/// Errors: as [`fit_rows_with_agop`], and `extrapolate` negative or not finite.
#[allow(clippy::too_many_arguments)]
pub fn fit_rows_with_agop_in(
    kernel: &Mat<f64>,
    obs: &Observations,
    reg: f64,
    replace: bool,
    prev: &[f64],
    out: &mut [f64],
    precision: AgopPrecision,
    extrapolate: f64,
    scratch: &mut RowPassScratch,
) -> Result<RowPass> {
    check_rows_args(kernel, obs, reg, out)?;
    if !(extrapolate.is_finite() && extrapolate >= 0.0) {
        return Err(crate::error::invalid("extrapolation", extrapolate, "must be finite and >= 0"));
    }
    if prev.len() != out.len() {
        return Err(SparseRecoveryError::ShapeMismatch {
            context: "previous prediction".into(),
            expected: format!("{} entries", out.len()),
            got: format!("{} entries", prev.len()),
        });
    }
    let (d1, d2) = (obs.d1(), obs.d2());
    check_prediction(out, d1, d2)?;
    if d2 == 0 {
        return Err(SparseRecoveryError::ShapeMismatch {
            context: "prediction buffer".into(),
            expected: "at least one column".into(),
            got: "0 columns".into(),
        });
    }
    let cols: Vec<&[f64]> = (0..d2).map(|j| kernel.col_as_slice(j)).collect();
    let parts = rayon::current_num_threads().clamp(1, d1);
    let rows_per = d1.div_ceil(parts);
    let n_parts = d1.div_ceil(rows_per);
    scratch.parts.truncate(n_parts);
    while scratch.parts.len() < n_parts {
        scratch.parts.push(PartBuffers {
            g64: Mat::zeros(0, 0),
            g32: Mat::zeros(0, 0),
            y32: Vec::new(),
            y64: Vec::new(),
        });
    }
    struct Part {
        resid: f64,
        change_sq: f64,
        pred_sq: f64,
        finite: bool,
    }
    let results: Vec<Result<Part>> = out
        .par_chunks_mut(d2 * rows_per)
        .zip(prev.par_chunks(d2 * rows_per))
        .zip(scratch.parts.par_iter_mut())
        .enumerate()
        .map(|(p, ((chunk, old), buf))| -> Result<Part> {
            let r0 = p * rows_per;
            let nrows = chunk.len() / d2;
            let mut resid = 0.0;
            for (b, sub) in chunk.chunks_mut(d2 * ROW_BLOCK).enumerate() {
                resid += fit_block(&cols, obs, r0 + b * ROW_BLOCK, sub, reg, replace)?;
            }
            let (change_sq, pred_sq) = change_and_norm(chunk, old);
            let finite = change_sq.is_finite() && pred_sq.is_finite();
            // the row-major part is the column-major `Yhat_p^T` (d2 x nrows); only the lower
            // triangle of the part's Gram matrix is written (and read below)
            if finite {
                match precision {
                    AgopPrecision::F64 => {
                        if buf.g64.nrows() != d2 {
                            buf.g64 = Mat::zeros(d2, d2);
                        }
                        let z: &[f64] = if extrapolate > 0.0 {
                            buf.y64.resize(chunk.len(), 0.0);
                            extrapolate_f64(chunk, old, extrapolate, &mut buf.y64);
                            &buf.y64
                        } else {
                            chunk
                        };
                        syrk_lower_seq(buf.g64.as_mut(), MatRef::from_column_major_slice(z, d2, nrows));
                    }
                    AgopPrecision::F32 => {
                        if buf.g32.nrows() != d2 {
                            buf.g32 = Mat::zeros(d2, d2);
                        }
                        buf.y32.resize(chunk.len(), 0.0);
                        if extrapolate > 0.0 {
                            extrapolate_to_f32(chunk, old, extrapolate, &mut buf.y32);
                        } else {
                            round_to_f32(chunk, &mut buf.y32);
                        }
                        let yt = MatRef::from_column_major_slice(&buf.y32, d2, nrows);
                        syrk_lower_seq(buf.g32.as_mut(), yt);
                    }
                }
            }
            Ok(Part { resid, change_sq, pred_sq, finite })
        })
        .collect();
    let (mut resid, mut change_sq, mut pred_sq, mut finite) = (0.0, 0.0, 0.0, true);
    for r in results {
        let part = r?;
        resid += part.resid;
        change_sq += part.change_sq;
        pred_sq += part.pred_sq;
        finite &= part.finite;
    }
    // sum the parts in order (deterministic), lower triangle only, scaled by 1 / d1
    let scale = 1.0 / d1 as f64;
    let mut g = Mat::<f64>::zeros(d2, d2);
    if finite {
        for buf in &scratch.parts {
            for j in 0..d2 {
                let dst = &mut g.col_as_slice_mut(j)[j..];
                match precision {
                    AgopPrecision::F64 => add_scaled(dst, &buf.g64.col_as_slice(j)[j..], scale),
                    AgopPrecision::F32 => add_scaled_f32(dst, &buf.g32.col_as_slice(j)[j..], scale),
                }
            }
        }
    }
    mirror_lower(&mut g);
    Ok(RowPass { resid, change_sq, pred_sq, finite, agop: g })
}

/// `(||a - b||^2, ||a||^2)` with eight accumulators per sum (vectorised, dispatched at run time).
#[multiversion(targets = "simd")]
fn change_and_norm(a: &[f64], b: &[f64]) -> (f64, f64) {
    const L: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let m = n / L * L;
    let (mut dc, mut dn) = ([0.0f64; L], [0.0f64; L]);
    for (ca, cb) in a[..m].chunks_exact(L).zip(b[..m].chunks_exact(L)) {
        for l in 0..L {
            let d = ca[l] - cb[l];
            dc[l] += d * d;
            dn[l] += ca[l] * ca[l];
        }
    }
    let (mut c, mut s) = (dc.iter().sum::<f64>(), dn.iter().sum::<f64>());
    for k in m..n {
        let d = a[k] - b[k];
        c += d * d;
        s += a[k] * a[k];
    }
    (c, s)
}

/// `dst[i] = src[i] as f32` (vectorised, dispatched at run time).
#[multiversion(targets = "simd")]
fn round_to_f32(src: &[f64], dst: &mut [f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s as f32;
    }
}

/// `dst[i] = y[i] + beta (y[i] - old[i])`.
#[multiversion(targets = "simd")]
fn extrapolate_f64(y: &[f64], old: &[f64], beta: f64, dst: &mut [f64]) {
    for ((d, &a), &b) in dst.iter_mut().zip(y).zip(old) {
        *d = a + beta * (a - b);
    }
}

/// `dst[i] = (y[i] + beta (y[i] - old[i])) as f32`.
#[multiversion(targets = "simd")]
fn extrapolate_to_f32(y: &[f64], old: &[f64], beta: f64, dst: &mut [f32]) {
    for ((d, &a), &b) in dst.iter_mut().zip(y).zip(old) {
        *d = (a + beta * (a - b)) as f32;
    }
}

/// `dst += scale * src`.
#[multiversion(targets = "simd")]
fn add_scaled(dst: &mut [f64], src: &[f64], scale: f64) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s * scale;
    }
}

/// `dst += scale * src` from `f32`.
#[multiversion(targets = "simd")]
fn add_scaled_f32(dst: &mut [f64], src: &[f32], scale: f64) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s as f64 * scale;
    }
}

/// `acc = a a^T` on the lower triangle (the strict upper triangle is not written), on the calling
/// thread.
fn syrk_lower_seq<T: faer::traits::ComplexField>(acc: faer::MatMut<'_, T>, a: MatRef<'_, T>) {
    matmul(
        acc,
        BlockStructure::TriangularLower,
        Accum::Replace,
        a,
        BlockStructure::Rectangular,
        a.transpose(),
        BlockStructure::Rectangular,
        T::one_impl(),
        faer::Par::Seq,
    );
}

/// A row-major `d1 x d2` prediction buffer with `d1 >= 1`.
fn check_prediction(pred: &[f64], d1: usize, d2: usize) -> Result<()> {
    if d1 == 0 || pred.len() != d1 * d2 {
        return Err(SparseRecoveryError::ShapeMismatch {
            context: "prediction buffer".into(),
            expected: format!("{} entries ({d1} x {d2}, d1 >= 1)", d1 * d2),
            got: format!("{} entries", pred.len()),
        });
    }
    Ok(())
}

/// `G = Yhat^T Yhat / d1` for a row-major `d1 x d2` prediction (symmetric, PSD up to round-off).
///
/// Errors: `pred.len() != d1 * d2` or `d1 = 0`.
pub fn agop_rows(pred: &[f64], d1: usize, d2: usize) -> Result<Mat<f64>> {
    check_prediction(pred, d1, d2)?;
    let y = MatRef::from_row_major_slice(pred, d1, d2);
    Ok(gram(y, 1.0 / d1 as f64))
}

/// [`agop_rows`] with the GEMM in `f32` (inputs rounded to `f32`, result widened to `f64`).
///
/// Errors: as [`agop_rows`].
pub fn agop_rows_f32(pred: &[f64], d1: usize, d2: usize) -> Result<Mat<f64>> {
    check_prediction(pred, d1, d2)?;
    // the row-major prediction is the column-major Y^T (d2 x d1)
    let mut y32 = vec![0.0f32; pred.len()];
    round_to_f32(pred, &mut y32);
    Ok(gram_f32(MatRef::from_column_major_slice(&y32, d2, d1), 1.0 / d1 as f64))
}

/// `scale * A A^T` with the GEMM in `f32` (lower triangle), widened to `f64` and mirrored.
fn gram_f32(a: MatRef<'_, f32>, scale: f64) -> Mat<f64> {
    let n = a.nrows();
    let mut g32 = Mat::<f32>::zeros(n, n);
    matmul(
        g32.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        a,
        BlockStructure::Rectangular,
        a.transpose(),
        BlockStructure::Rectangular,
        1.0f32,
        linalg::default_par(),
    );
    let mut g = Mat::<f64>::zeros(n, n);
    for j in 0..n {
        add_scaled_f32(&mut g.col_as_slice_mut(j)[j..], &g32.col_as_slice(j)[j..], scale);
    }
    mirror_lower(&mut g);
    g
}

/// `scale * A^T A` (lower triangle by GEMM, then mirrored).
pub fn gram(a: MatRef<'_, f64>, scale: f64) -> Mat<f64> {
    let n = a.ncols();
    let mut g = Mat::<f64>::zeros(n, n);
    matmul(
        g.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        a.transpose(),
        BlockStructure::Rectangular,
        a,
        BlockStructure::Rectangular,
        scale,
        linalg::default_par(),
    );
    mirror_lower(&mut g);
    g
}

/// Copies the lower triangle onto the upper one, in `64 x 64` tiles (a plain loop writes the
/// upper triangle with a stride of a whole column per entry).
pub(crate) fn mirror_lower(g: &mut Mat<f64>) {
    const B: usize = 64;
    let n = g.nrows().min(g.ncols());
    for jb in (0..n).step_by(B) {
        for ib in (jb..n).step_by(B) {
            for j in jb..(jb + B).min(n) {
                for i in ib.max(j + 1)..(ib + B).min(n) {
                    let v = g[(i, j)];
                    g[(j, i)] = v;
                }
            }
        }
    }
}

/// [`sym_square`] with the GEMM in `f32` (input rounded, result widened to `f64`).
pub fn sym_square_f32(a: &Mat<f64>) -> Mat<f64> {
    let mut a32 = Mat::<f32>::zeros(a.nrows(), a.ncols());
    for j in 0..a.ncols() {
        round_to_f32(a.col_as_slice(j), a32.col_as_slice_mut(j));
    }
    // A A = A A^T for symmetric A
    gram_f32(a32.as_ref(), 1.0)
}

/// `A A` for symmetric `A` (result symmetrised exactly).
pub fn sym_square(a: &Mat<f64>) -> Mat<f64> {
    let n = a.nrows();
    let mut g = Mat::<f64>::zeros(n, n);
    matmul(
        g.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        a.as_ref(),
        BlockStructure::Rectangular,
        a.as_ref(),
        BlockStructure::Rectangular,
        1.0,
        linalg::default_par(),
    );
    mirror_lower(&mut g);
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::linalg::solvers::Solve;

    #[test]
    fn cholesky_solves_small_system() {
        let mut a = vec![4.0, 0.0, 2.0, 3.0];
        assert!(cholesky(&mut a, 2));
        let mut b = vec![6.0, 5.0];
        cholesky_solve(&a, 2, &mut b);
        // [[4,2],[2,3]] x = [6,5] -> x = [1, 1]
        assert!((b[0] - 1.0).abs() < 1e-14 && (b[1] - 1.0).abs() < 1e-14);
        let mut bad = vec![0.0, 0.0, 0.0, 1.0];
        assert!(!cholesky(&mut bad, 2));
    }

    #[test]
    fn f32_agop_matches_f64() {
        let (d1, d2) = (37, 23);
        let y = linalg::random::gaussian_mat(d1, d2, 5);
        let pred: Vec<f64> = (0..d1 * d2).map(|k| y[(k / d2, k % d2)]).collect();
        let g64 = agop_rows(&pred, d1, d2).unwrap();
        let g32 = agop_rows_f32(&pred, d1, d2).unwrap();
        assert!((&g64 - &g32).norm_max() < 1e-5 * g64.norm_max());
        assert_eq!(g32, g32.transpose().to_owned());
        assert!(agop_rows_f32(&pred, d1 + 1, d2).is_err());
    }

    #[test]
    fn f32_square_matches_f64() {
        let g = linalg::random::gaussian_mat(37, 41, 9);
        let a = &g * g.transpose();
        let want = sym_square(&a);
        let got = sym_square_f32(&a);
        assert!((&want - &got).norm_max() <= 1e-5 * want.norm_max());
        assert_eq!(got, got.transpose().to_owned());
    }

    #[test]
    fn fused_pass_equals_rows_then_agop() {
        let inst = crate::low_rank_instance(41, 29, 2, 500, 7).unwrap();
        let (d1, d2) = (41, 29);
        let g = linalg::random::gaussian_mat(d2, d2, 4);
        let k = &g * g.transpose();
        let prev: Vec<f64> = (0..d1 * d2).map(|v| (v % 7) as f64 * 0.1).collect();
        for replace in [false, true] {
            let mut want = vec![0.0; d1 * d2];
            let resid = kernel_regression_rows(&k, &inst.observed, 0.05, replace, &mut want).unwrap();
            let g64 = agop_rows(&want, d1, d2).unwrap();
            let change: f64 = want.iter().zip(&prev).map(|(a, b)| (a - b) * (a - b)).sum();
            let norm: f64 = want.iter().map(|a| a * a).sum();
            for (precision, tol) in [(AgopPrecision::F64, 1e-12), (AgopPrecision::F32, 1e-5)] {
                let mut out = vec![f64::NAN; d1 * d2];
                let pass = fit_rows_with_agop(&k, &inst.observed, 0.05, replace, &prev, &mut out, precision)
                    .unwrap();
                assert!(out.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-12 * (1.0 + b.abs())));
                assert!((pass.resid - resid).abs() <= 1e-12 * (1.0 + resid));
                assert!((pass.change_sq - change).abs() <= 1e-10 * (1.0 + change));
                assert!((pass.pred_sq - norm).abs() <= 1e-10 * (1.0 + norm));
                assert!(pass.finite);
                assert!((&pass.agop - &g64).norm_max() <= tol * g64.norm_max(), "{precision:?}");
                assert_eq!(pass.agop, pass.agop.transpose().to_owned());
            }
        }
        // one scratch across calls of different shapes and precisions gives the fresh results
        let mut scratch = RowPassScratch::default();
        for (n1, n2, seed) in [(41usize, 29usize, 7u64), (23, 31, 8), (41, 29, 7)] {
            let inst = crate::low_rank_instance(n1, n2, 2, n1 * n2 / 3, seed).unwrap();
            let g = linalg::random::gaussian_mat(n2, n2, seed);
            let k = &g * g.transpose();
            let prev = vec![0.5; n1 * n2];
            for precision in [AgopPrecision::F32, AgopPrecision::F64] {
                let (mut a, mut b) = (vec![0.0; n1 * n2], vec![0.0; n1 * n2]);
                let fresh =
                    fit_rows_with_agop(&k, &inst.observed, 0.05, true, &prev, &mut a, precision).unwrap();
                let reused = fit_rows_with_agop_in(
                    &k,
                    &inst.observed,
                    0.05,
                    true,
                    &prev,
                    &mut b,
                    precision,
                    0.0,
                    &mut scratch,
                )
                .unwrap();
                assert_eq!(a, b);
                assert_eq!(fresh.agop, reused.agop);
                // extrapolation changes only the AGOP: that of Yhat + beta (Yhat - prev)
                let beta = 0.7;
                let mut c = vec![0.0; n1 * n2];
                let ex = fit_rows_with_agop_in(
                    &k,
                    &inst.observed,
                    0.05,
                    true,
                    &prev,
                    &mut c,
                    precision,
                    beta,
                    &mut scratch,
                )
                .unwrap();
                assert_eq!(a, c);
                assert_eq!(
                    (ex.resid, ex.change_sq, ex.pred_sq),
                    (fresh.resid, fresh.change_sq, fresh.pred_sq)
                );
                let z: Vec<f64> = a.iter().zip(&prev).map(|(y, o)| y + beta * (y - o)).collect();
                let want = agop_rows(&z, n1, n2).unwrap();
                assert!((&ex.agop - &want).norm_max() <= 1e-5 * want.norm_max(), "{precision:?}");
                assert!((&ex.agop - &fresh.agop).norm_max() > 1e-3 * want.norm_max());
            }
        }
        assert!(
            fit_rows_with_agop_in(
                &k,
                &inst.observed,
                0.05,
                true,
                &prev,
                &mut vec![0.0; d1 * d2],
                AgopPrecision::F64,
                -0.5,
                &mut scratch
            )
            .is_err()
        );
        let mut out = vec![0.0; d1 * d2];
        assert!(
            fit_rows_with_agop(&k, &inst.observed, 0.05, true, &prev[1..], &mut out, AgopPrecision::F64)
                .is_err()
        );
        assert!(
            fit_rows_with_agop(&k, &inst.observed, -1.0, true, &prev, &mut out, AgopPrecision::F64).is_err()
        );
    }

    #[test]
    fn rows_match_dense_kernel_regression() {
        let (d1, d2) = (7, 9);
        let g = linalg::random::gaussian_mat(d2, d2 + 2, 3);
        let k = &g * g.transpose();
        let t: Vec<(usize, usize, f64)> = (0..d1)
            .flat_map(|i| {
                (0..d2).filter(move |j| (i * 3 + j * 5) % 4 == 0).map(move |j| (i, j, (i + j) as f64))
            })
            .collect();
        let obs = Observations::from_triplets(d1, d2, &t).unwrap();
        let mut out = vec![0.0; d1 * d2];
        kernel_regression_rows(&k, &obs, 0.1, false, &mut out).unwrap();
        for i in 0..d1 {
            let (idx, vals) = obs.row(i);
            let m = idx.len();
            let kk = Mat::from_fn(m, m, |p, q| k[(idx[p], idx[q])] + if p == q { 0.1 } else { 0.0 });
            let y = Mat::from_fn(m, 1, |p, _| vals[p]);
            let a = kk.llt(faer::Side::Lower).unwrap().solve(&y);
            for j in 0..d2 {
                let pred: f64 = (0..m).map(|p| a[(p, 0)] * k[(idx[p], j)]).sum();
                assert!((pred - out[i * d2 + j]).abs() < 1e-9, "({i},{j})");
            }
        }
    }
}

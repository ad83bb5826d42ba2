//! Closed-form input gradients of kernel predictors `f(x) = sum_i alpha_i k_M(x, x_i)`.
//!
//! With `ip_si = <x_s, x_i>_M`, `A_si = dk/dnx`, `B_si = dk/dip` (see [`crate::kernel`]),
//!
//! `grad f_j(x_s) = M h_sj`, `h_sj = sum_i B_si alpha_ij x_i + 2 (sum_i A_si alpha_ij) x_s`.
//!
//! The first term is one GEMM `B (alpha_j .* X)` per output `j` (or, when `X` is sparse such as the
//! one-hot inputs of modular arithmetic, a gathered product over the non-zeros of each input column:
//! `n_eval * nnz(X) * c` flops instead of `n_eval * n * d * c`). For radial kernels
//! `2 A = -B`, so the second coefficient is `-(B alpha)_sj` and `A` is never formed.
//!
//! The [`GradientParts`] layout is class-major: rows `j * b .. (j + 1) * b` of `h` hold output `j`
//! at the `b` evaluation points. Multiply by `M` (see [`GradientParts::to_gradients`]) to get the
//! gradients; the AGOP code in `rfm` works in `h` space and applies `M` once at the end.
use crate::error::{KernelError, Result};
use crate::kernel::{GradStructure, Kernel};
use crate::metric::{Metric, Prepared};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use linalg::default_par;
use rayon::prelude::*;

/// Column-compressed non-zeros of a data matrix (used when the inputs are sparse).
#[derive(Debug, Clone)]
pub struct SparseColumns {
    /// `col_ptr[k]..col_ptr[k + 1]` index the non-zeros of column `k`.
    pub col_ptr: Vec<usize>,
    /// Row index of each non-zero.
    pub rows: Vec<usize>,
    /// Value of each non-zero.
    pub vals: Vec<f64>,
}

impl SparseColumns {
    /// Compresses `x`; returns `None` when more than `max_density` of the entries are non-zero.
    pub fn from_dense(x: MatRef<'_, f64>, max_density: f64) -> Option<Self> {
        let (n, d) = (x.nrows(), x.ncols());
        let mut col_ptr = Vec::with_capacity(d + 1);
        let mut rows = Vec::new();
        let mut vals = Vec::new();
        let budget = (max_density * (n * d) as f64) as usize;
        col_ptr.push(0);
        for k in 0..d {
            let c = x.col(k);
            for i in 0..n {
                if c[i] != 0.0 {
                    rows.push(i);
                    vals.push(c[i]);
                    if rows.len() > budget {
                        return None;
                    }
                }
            }
            col_ptr.push(rows.len());
        }
        Some(SparseColumns { col_ptr, rows, vals })
    }

    /// Number of non-zeros.
    pub fn nnz(&self) -> usize {
        self.rows.len()
    }
}

/// Density below which the sparse input path is used.
pub const SPARSE_DENSITY: f64 = 0.05;

/// The `h` vectors of a batch of evaluation points (see the module docs).
#[derive(Debug, Clone)]
pub struct GradientParts {
    /// `(c * b) x d`, class-major.
    pub h: Mat<f64>,
    /// Number of evaluation points `b`.
    pub n_eval: usize,
    /// Number of outputs `c`.
    pub n_outputs: usize,
}

impl GradientParts {
    /// Rows of output `j`: a `b x d` view.
    pub fn output(&self, j: usize) -> MatRef<'_, f64> {
        self.h.as_ref().subrows(j * self.n_eval, self.n_eval)
    }

    /// Gradients `grad f_j(x_s)` as one `b x d` matrix per output: `h M`.
    pub fn to_gradients(&self, metric: &Metric) -> Vec<Mat<f64>> {
        (0..self.n_outputs).map(|j| metric.apply(self.output(j))).collect()
    }
}

/// Everything about a kernel predictor that gradient evaluation needs, prepared once.
#[derive(Debug)]
pub struct GradientContext<'a> {
    kernel: &'a dyn Kernel,
    train: &'a Prepared,
    alpha: MatRef<'a, f64>,
    sparse: Option<SparseColumns>,
    /// Unique per context (see [`GradientScratch`]).
    id: u64,
}

static NEXT_CONTEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Buffers reused by [`GradientContext::parts_rows_into_with`] across batches: the `b x n`
/// derivative block and the `n x d` matrix `alpha_j .* X` of the dense path. Allocating them per
/// batch costs page faults (a fresh 16 MB block per batch) that showed up as ~15% of an RFM fit.
#[derive(Debug)]
pub struct GradientScratch {
    block: Mat<f64>,
    w: Mat<f64>,
    /// Output whose `alpha_j .* X` is in `w`, and the context it was computed for.
    w_output: Option<usize>,
    owner: Option<u64>,
}

impl Default for GradientScratch {
    fn default() -> Self {
        GradientScratch { block: Mat::zeros(0, 0), w: Mat::zeros(0, 0), w_output: None, owner: None }
    }
}

impl GradientScratch {
    /// Empty buffers (they grow on first use).
    pub fn new() -> Self {
        Self::default()
    }
}

impl<'a> GradientContext<'a> {
    /// Prepares the gradient computation of `f(x) = sum_i alpha_i k(x, x_i)` with training inputs
    /// `train` (prepared in the predictor's metric). Detects sparse inputs automatically.
    pub fn new(kernel: &'a dyn Kernel, train: &'a Prepared, alpha: MatRef<'a, f64>) -> Self {
        let sparse = SparseColumns::from_dense(train.x.as_ref(), SPARSE_DENSITY);
        let id = NEXT_CONTEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        GradientContext { kernel, train, alpha, sparse, id }
    }

    /// Forces the dense path (for tests and benchmarks).
    pub fn dense_only(mut self) -> Self {
        self.sparse = None;
        self
    }

    /// Whether the sparse input path is active.
    pub fn is_sparse(&self) -> bool {
        self.sparse.is_some()
    }

    /// A batch size for evaluation points keeping the `h` block and the `b x n` derivative block
    /// around `budget` entries each.
    pub fn batch_size(&self, budget: usize) -> usize {
        let n = self.train.x.nrows().max(1);
        let cd = self.alpha.ncols() * self.train.x.ncols();
        (budget / cd.max(1)).min(budget / n).max(32)
    }

    /// The `h` vectors at the evaluation points `eval` (prepared in the same metric).
    ///
    /// Errors: `eval` has a different dimension than the training inputs.
    pub fn parts(&self, eval: &Prepared) -> Result<GradientParts> {
        self.parts_rows(eval.x.as_ref(), eval.xm.as_ref(), &eval.sq_norms)
    }

    /// The `h` vectors at evaluation points given as raw rows `ex`, `ex M` rows `exm` and squared
    /// norms `enx`.
    pub fn parts_rows(
        &self,
        ex: MatRef<'_, f64>,
        exm: MatRef<'_, f64>,
        enx: &[f64],
    ) -> Result<GradientParts> {
        let b = ex.nrows();
        let mut h = Mat::<f64>::zeros(self.alpha.ncols() * b, self.train.x.ncols());
        self.parts_rows_into(ex, exm, enx, h.as_mut())?;
        Ok(GradientParts { h, n_eval: b, n_outputs: self.alpha.ncols() })
    }

    /// Like [`GradientContext::parts_rows`], writing the class-major `h` block into `h`
    /// (`(c * b) x d`; every entry is overwritten), so that batched callers reuse one buffer.
    pub fn parts_rows_into(
        &self,
        ex: MatRef<'_, f64>,
        exm: MatRef<'_, f64>,
        enx: &[f64],
        h: MatMut<'_, f64>,
    ) -> Result<()> {
        self.parts_rows_into_with(ex, exm, enx, h, &mut GradientScratch::new())
    }

    /// [`GradientContext::parts_rows_into`] with caller-owned buffers, so that batched callers
    /// allocate once. A scratch remembers which context filled it (each context has a unique id),
    /// so passing it to another context is safe: its cache is then rebuilt.
    pub fn parts_rows_into_with(
        &self,
        ex: MatRef<'_, f64>,
        exm: MatRef<'_, f64>,
        enx: &[f64],
        mut h: MatMut<'_, f64>,
        scratch: &mut GradientScratch,
    ) -> Result<()> {
        if scratch.owner != Some(self.id) {
            scratch.owner = Some(self.id);
            scratch.w_output = None;
        }
        let b = ex.nrows();
        let n = self.train.x.nrows();
        let d = self.train.x.ncols();
        let c = self.alpha.ncols();
        if ex.ncols() != d || exm.nrows() != b || exm.ncols() != d || enx.len() != b {
            return Err(shape_error(
                "gradient evaluation points",
                format!("{b} x {d} points, their metric images and {b} squared norms"),
                format!(
                    "{} x {}, {} x {}, {} norms",
                    ex.nrows(),
                    ex.ncols(),
                    exm.nrows(),
                    exm.ncols(),
                    enx.len()
                ),
            ));
        }
        if h.nrows() != c * b || h.ncols() != d {
            return Err(shape_error(
                "gradient buffer h",
                format!("{} x {d}", c * b),
                format!("{} x {}", h.nrows(), h.ncols()),
            ));
        }
        if h.row_stride() != 1 {
            // the passes below work on contiguous columns: compute into a fresh buffer
            let mut tmp = Mat::<f64>::zeros(c * b, d);
            self.parts_rows_into_with(ex, exm, enx, tmp.as_mut(), scratch)?;
            h.copy_from(&tmp);
            return Ok(());
        }
        let par = default_par();
        // inner products <x_s, x_i>_M : b x n
        if scratch.block.nrows() < b || scratch.block.ncols() != n {
            scratch.block = Mat::<f64>::zeros(b.max(scratch.block.nrows()), n);
        }
        let mut ip = scratch.block.as_mut().subrows_mut(0, b);
        faer::linalg::matmul::matmul(ip.as_mut(), Accum::Replace, exm, self.train.x.transpose(), 1.0, par);
        let structure = self.kernel.grad_structure();
        let a_mat = if structure == GradStructure::General {
            let mut a = ip.to_owned();
            let nz = &self.train.sq_norms;
            a.as_mut().par_col_iter_mut().enumerate().for_each(|(i, col)| {
                let s = col.try_as_col_major_mut().expect("column-major").as_slice_mut();
                self.kernel.dnx_col(s, enx, nz[i]);
            });
            Some(a)
        } else {
            None
        };
        // B in place of ip
        let mut bm = ip;
        {
            let nz = &self.train.sq_norms;
            bm.as_mut().par_col_iter_mut().enumerate().for_each(|(i, col)| {
                let s = col.try_as_col_major_mut().expect("column-major").as_slice_mut();
                self.kernel.dip_col(s, enx, nz[i]);
            });
        }
        // coefficient of x_s: b x c
        let mut coef = Mat::<f64>::zeros(b, c);
        match structure {
            GradStructure::Radial => faer::linalg::matmul::matmul(
                coef.as_mut(),
                Accum::Replace,
                bm.as_ref(),
                self.alpha,
                -1.0,
                par,
            ),
            GradStructure::General => faer::linalg::matmul::matmul(
                coef.as_mut(),
                Accum::Replace,
                a_mat.as_ref().expect("computed above").as_ref(),
                self.alpha,
                2.0,
                par,
            ),
            GradStructure::DotProduct => {}
        }
        match &self.sparse {
            None => {
                if scratch.w.nrows() != n || scratch.w.ncols() != d {
                    scratch.w = Mat::<f64>::zeros(n, d);
                    scratch.w_output = None;
                }
                for j in 0..c {
                    if scratch.w_output != Some(j) {
                        let aj = self.alpha.col(j);
                        scratch.w.as_mut().par_col_iter_mut().enumerate().for_each(|(k, col)| {
                            let src = self.train.x.col(k);
                            let dst = col.try_as_col_major_mut().expect("column-major").as_slice_mut();
                            for i in 0..n {
                                dst[i] = src[i] * aj[i];
                            }
                        });
                        scratch.w_output = Some(j);
                    }
                    let w = &scratch.w;
                    faer::linalg::matmul::matmul(
                        h.as_mut().subrows_mut(j * b, b),
                        Accum::Replace,
                        bm.as_ref(),
                        w.as_ref(),
                        1.0,
                        par,
                    );
                }
            }
            Some(sp) => {
                // per input column k: R_k = B[:, S_k] (alpha[S_k, :] .* x[S_k, k])  (b x c)
                let alpha = self.alpha;
                let bref = bm.as_ref();
                let results: Vec<Mat<f64>> = (0..d)
                    .into_par_iter()
                    .map(|k| {
                        let (lo, hi) = (sp.col_ptr[k], sp.col_ptr[k + 1]);
                        let m = hi - lo;
                        if m == 0 {
                            return Mat::<f64>::zeros(0, 0);
                        }
                        let mut g = Mat::<f64>::zeros(b, m);
                        let mut wa = Mat::<f64>::zeros(m, c);
                        for (t, idx) in (lo..hi).enumerate() {
                            let i = sp.rows[idx];
                            g.col_as_slice_mut(t).copy_from_slice(
                                bref.col(i).try_as_col_major().expect("column-major").as_slice(),
                            );
                            for j in 0..c {
                                wa[(t, j)] = alpha[(i, j)] * sp.vals[idx];
                            }
                        }
                        let mut r = Mat::<f64>::zeros(b, c);
                        faer::linalg::matmul::matmul(
                            r.as_mut(),
                            Accum::Replace,
                            g.as_ref(),
                            wa.as_ref(),
                            1.0,
                            Par::Seq,
                        );
                        r
                    })
                    .collect();
                h.as_mut().par_col_iter_mut().enumerate().for_each(|(k, mut col)| {
                    let r = &results[k];
                    if r.nrows() == 0 {
                        col.fill(0.0);
                        return;
                    }
                    let s = col.try_as_col_major_mut().expect("column-major").as_slice_mut();
                    for j in 0..c {
                        s[j * b..(j + 1) * b].copy_from_slice(r.col_as_slice(j));
                    }
                });
            }
        }
        if structure != GradStructure::DotProduct {
            // h_sj += coef_sj x_s
            h.as_mut().par_col_iter_mut().enumerate().for_each(|(k, col)| {
                let s = col.try_as_col_major_mut().expect("column-major").as_slice_mut();
                let xk = ex.col(k);
                for j in 0..c {
                    let cj = coef.col(j);
                    let dst = &mut s[j * b..(j + 1) * b];
                    for t in 0..b {
                        dst[t] += cj[t] * xk[t];
                    }
                }
            });
        }
        Ok(())
    }
}

fn shape_error(context: &str, expected: String, got: String) -> KernelError {
    linalg::LinalgError::ShapeMismatch { context: context.into(), expected, got }.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KernelSpec;
    use crate::kernel::NtkRelu;
    use crate::matrix::kernel_times;
    use linalg::random::gaussian_mat;

    fn predictor_fd(
        k: &KernelSpec,
        metric: &Metric,
        xt: &Mat<f64>,
        alpha: &Mat<f64>,
        x: &Mat<f64>,
    ) -> Vec<Mat<f64>> {
        let (b, d, c) = (x.nrows(), x.ncols(), alpha.ncols());
        let mut out = vec![Mat::<f64>::zeros(b, d); c];
        let h = 1e-5;
        for k_ in 0..d {
            let mut xp = x.clone();
            let mut xn = x.clone();
            for s in 0..b {
                xp[(s, k_)] += h;
                xn[(s, k_)] -= h;
            }
            let fp = kernel_times(k, metric, xp.as_ref(), xt.as_ref(), alpha.as_ref()).unwrap();
            let fn_ = kernel_times(k, metric, xn.as_ref(), xt.as_ref(), alpha.as_ref()).unwrap();
            for j in 0..c {
                for s in 0..b {
                    out[j][(s, k_)] = (fp[(s, j)] - fn_[(s, j)]) / (2.0 * h);
                }
            }
        }
        out
    }

    #[test]
    fn gradients_match_finite_differences() {
        let xt = gaussian_mat(30, 4, 1);
        let alpha = gaussian_mat(30, 2, 2);
        let x = gaussian_mat(7, 4, 3);
        let g = gaussian_mat(4, 4, 4);
        let metrics = [
            Metric::Euclidean,
            Metric::Diagonal(vec![1.0, 0.3, 2.0, 0.7]),
            Metric::Mahalanobis(&g * g.transpose() * 0.3),
        ];
        let kernels = [
            KernelSpec::laplace(2.0),
            KernelSpec::gaussian(1.5),
            KernelSpec::from_name("matern52", 2.0).unwrap(),
            KernelSpec::quadratic(),
            KernelSpec::NtkRelu(NtkRelu),
        ];
        for metric in &metrics {
            let tr = Prepared::new(xt.as_ref(), metric);
            let ev = Prepared::new(x.as_ref(), metric);
            for k in &kernels {
                let ctx = GradientContext::new(k, &tr, alpha.as_ref());
                let got = ctx.parts(&ev).unwrap().to_gradients(metric);
                let want = predictor_fd(k, metric, &xt, &alpha, &x);
                for j in 0..2 {
                    let err = (&got[j] - &want[j]).norm_max() / (1.0 + want[j].norm_max());
                    assert!(err < 1e-6, "{} {:?}: err {err}", k.name(), metric);
                }
            }
        }
    }

    #[test]
    fn sparse_path_equals_dense_path() {
        // one-hot style inputs
        let n = 60;
        let p = 7;
        let xt = Mat::from_fn(n, 2 * p, |i, k| if k == i % p || k == p + (i * 3) % p { 1.0 } else { 0.0 });
        let alpha = gaussian_mat(n, 3, 9);
        let metric = Metric::Mahalanobis({
            let g = gaussian_mat(2 * p, 2 * p, 5);
            &g * g.transpose() * 0.05
        });
        let tr = Prepared::new(xt.as_ref(), &metric);
        for k in [KernelSpec::gaussian(2.5), KernelSpec::quadratic(), KernelSpec::laplace(2.0)] {
            let sparse = GradientContext::new(&k, &tr, alpha.as_ref());
            assert!(sparse.is_sparse() || n * 2 * p > 0);
            let dense = GradientContext::new(&k, &tr, alpha.as_ref()).dense_only();
            let a = sparse.parts(&tr).unwrap().h;
            let b = dense.parts(&tr).unwrap().h;
            assert!((&a - &b).norm_max() < 1e-10 * (1.0 + b.norm_max()));
        }
    }

    #[test]
    fn scratch_reuse_across_batches_and_contexts() {
        let x = gaussian_mat(30, 4, 1);
        let train = Prepared::new(x.as_ref(), &Metric::Euclidean);
        let ev = Prepared::new(gaussian_mat(9, 4, 4).as_ref(), &Metric::Euclidean);
        let k = KernelSpec::laplace(2.0);
        let mut scratch = GradientScratch::new();
        // same shapes, different coefficients: the cached alpha .* X must not leak between contexts
        for seed in [2, 3, 2] {
            let alpha = gaussian_mat(30, 2, seed);
            let ctx = GradientContext::new(&k, &train, alpha.as_ref()).dense_only();
            let want = ctx.parts(&ev).unwrap().h;
            for (start, len) in [(0, 5), (5, 4), (0, 9)] {
                let mut h = Mat::<f64>::zeros(2 * len, 4);
                ctx.parts_rows_into_with(
                    ev.x.as_ref().subrows(start, len),
                    ev.xm.as_ref().subrows(start, len),
                    &ev.sq_norms[start..start + len],
                    h.as_mut(),
                    &mut scratch,
                )
                .unwrap();
                for j in 0..2 {
                    let got = h.as_ref().subrows(j * len, len);
                    let exp = want.as_ref().subrows(j * 9 + start, len);
                    assert!((got - exp).norm_max() < 1e-13, "seed {seed} batch {start}");
                }
            }
        }
    }

    #[test]
    fn parts_check_shapes_and_accept_strided_buffers() {
        let x = gaussian_mat(20, 3, 1);
        let alpha = gaussian_mat(20, 2, 2);
        let k = KernelSpec::laplace(2.0);
        let train = Prepared::new(x.as_ref(), &Metric::Euclidean);
        let ctx = GradientContext::new(&k, &train, alpha.as_ref());
        let wrong = Prepared::new(gaussian_mat(4, 2, 3).as_ref(), &Metric::Euclidean);
        assert!(ctx.parts(&wrong).is_err());
        let ev = Prepared::new(gaussian_mat(4, 3, 4).as_ref(), &Metric::Euclidean);
        let (ex, exm) = (ev.x.as_ref(), ev.xm.as_ref());
        assert!(ctx.parts_rows_into(ex, exm, &ev.sq_norms, Mat::<f64>::zeros(7, 3).as_mut()).is_err());
        let want = ctx.parts(&ev).unwrap().h;
        let mut t = Mat::<f64>::zeros(3, 8);
        ctx.parts_rows_into(ex, exm, &ev.sq_norms, t.as_mut().transpose_mut()).unwrap();
        assert!((&want - t.transpose()).norm_max() < 1e-14);
    }

    #[test]
    fn laplace_self_term_dropped_at_training_points() {
        // at a training point, the gradient equals the FD gradient of f without the self term
        let xt = gaussian_mat(12, 3, 1);
        let alpha = gaussian_mat(12, 1, 2);
        let k = KernelSpec::laplace(1.5);
        let tr = Prepared::new(xt.as_ref(), &Metric::Euclidean);
        let ctx = GradientContext::new(&k, &tr, alpha.as_ref());
        let g = ctx.parts(&tr).unwrap().to_gradients(&Metric::Euclidean);
        let s = 4;
        let mut xt_wo = Mat::<f64>::zeros(11, 3);
        let mut a_wo = Mat::<f64>::zeros(11, 1);
        let mut r = 0;
        for i in 0..12 {
            if i != s {
                for c in 0..3 {
                    xt_wo[(r, c)] = xt[(i, c)];
                }
                a_wo[(r, 0)] = alpha[(i, 0)];
                r += 1;
            }
        }
        let xs = Mat::from_fn(1, 3, |_, c| xt[(s, c)]);
        let want = predictor_fd(&k, &Metric::Euclidean, &xt_wo, &a_wo, &xs);
        for c in 0..3 {
            assert!((g[0][(s, c)] - want[0][(0, c)]).abs() < 1e-6);
        }
    }
}

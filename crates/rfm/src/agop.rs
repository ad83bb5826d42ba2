//! The Average Gradient Outer Product.
//!
//! `AGOP(f) = (1/N) sum_s sum_j grad f_j(x_s) grad f_j(x_s)^T` over `N` evaluation points and all
//! outputs `j`. Options: **centred** (subtract, per output, the mean gradient over the evaluation
//! points first: the gradient covariance) and **diagonal** (keep only `diag(AGOP)`).
//!
//! Two entry points:
//! * [`AgopAccumulator`]: from any predictor's per-sample input gradients, fed batch by batch, so
//!   memory stays `O(batch * c * d)`;
//! * [`kernel_agop`]: the fused path for kernel predictors, working on the `h` vectors of
//!   [`kernels::GradientContext`] (`grad f = M h`) and applying `M` once at the end:
//!   `AGOP = M (sum h h^T / N) M`.
use crate::error::{Result, invalid};
use faer::{Accum, Mat, MatRef};
use kernels::{GradientContext, GradientScratch, Kernel, Metric, Prepared};
use linalg::default_par;
use serde::{Deserialize, Serialize};

/// Options of an AGOP computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AgopOptions {
    /// Subtract the per-output mean gradient before the outer products.
    pub centering: bool,
    /// Only the diagonal.
    pub diag: bool,
}

/// An AGOP: full `d x d` or its diagonal.
#[derive(Debug, Clone, PartialEq)]
pub enum Agop {
    /// The full symmetric PSD matrix.
    Full(Mat<f64>),
    /// Only the diagonal.
    Diagonal(Vec<f64>),
}

impl Agop {
    /// The AGOP as a dense matrix (diagonal embedded).
    pub fn to_matrix(&self) -> Mat<f64> {
        match self {
            Agop::Full(m) => m.clone(),
            Agop::Diagonal(v) => Mat::from_fn(v.len(), v.len(), |i, j| if i == j { v[i] } else { 0.0 }),
        }
    }
    /// Trace.
    pub fn trace(&self) -> f64 {
        match self {
            Agop::Full(m) => linalg::sym::trace(m.as_ref()),
            Agop::Diagonal(v) => v.iter().sum(),
        }
    }
    /// The diagonal.
    pub fn diagonal(&self) -> Vec<f64> {
        match self {
            Agop::Full(m) => (0..m.nrows()).map(|i| m[(i, i)]).collect(),
            Agop::Diagonal(v) => v.clone(),
        }
    }
}

/// `acc += g^T g` on the lower triangle only (half the flops of a GEMM).
fn syrk_lower(acc: faer::MatMut<'_, f64>, g: MatRef<'_, f64>) {
    use faer::linalg::matmul::triangular::{BlockStructure, matmul};
    matmul(
        acc,
        BlockStructure::TriangularLower,
        Accum::Add,
        g.transpose(),
        BlockStructure::Rectangular,
        g,
        BlockStructure::Rectangular,
        1.0,
        default_par(),
    );
}

/// Accumulates `sum g g^T` (or `sum g^2`) and per-output gradient sums over batches.
///
/// ```
/// use rfm::agop::{AgopAccumulator, AgopOptions};
/// // f(x) = B x with B = [[1, 2], [0, 3]]: every gradient of f_j is row j of B, AGOP = B^T B.
/// let b = faer::mat![[1.0, 2.0], [0.0, 3.0]];
/// let mut acc = AgopAccumulator::new(2, 2, AgopOptions::default());
/// for _ in 0..5 {
///     // one evaluation point: the gradients of the two outputs
///     let g0 = faer::mat![[1.0, 2.0]];
///     let g1 = faer::mat![[0.0, 3.0]];
///     acc.add_batch(&[g0.as_ref(), g1.as_ref()]).unwrap();
/// }
/// let agop = acc.finish().unwrap().to_matrix();
/// let want = b.transpose() * &b;
/// assert!((&agop - &want).norm_max() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct AgopAccumulator {
    d: usize,
    c: usize,
    options: AgopOptions,
    second: Mat<f64>,
    second_diag: Vec<f64>,
    sums: Mat<f64>,
    count: usize,
}

impl AgopAccumulator {
    /// For `d` inputs and `c` outputs.
    pub fn new(d: usize, c: usize, options: AgopOptions) -> Self {
        AgopAccumulator {
            d,
            c,
            options,
            second: if options.diag { Mat::zeros(0, 0) } else { Mat::zeros(d, d) },
            second_diag: vec![0.0; if options.diag { d } else { 0 }],
            sums: Mat::zeros(c, d),
            count: 0,
        }
    }

    /// Adds a batch: `grads[j]` is `b x d`, the gradients of output `j` at the `b` points.
    pub fn add_batch(&mut self, grads: &[MatRef<'_, f64>]) -> Result<()> {
        if grads.len() != self.c {
            return Err(invalid(
                "number of gradient blocks",
                grads.len(),
                &format!("expected {} outputs", self.c),
            ));
        }
        let b = grads.first().map(|g| g.nrows()).unwrap_or(0);
        // check every block before touching the sums, so a rejected batch changes nothing
        for g in grads {
            linalg::validate::check_shape("gradient block", *g, b, self.d)?;
            linalg::validate::check_finite("gradients", *g)?;
        }
        for (j, g) in grads.iter().enumerate() {
            self.accumulate(j, *g);
        }
        self.count += b;
        Ok(())
    }

    /// Adds a class-major block (rows `j * b .. (j + 1) * b` = output `j` at `b` points), trusted to
    /// be finite (the finiteness of the result is checked by callers).
    pub(crate) fn add_class_major(&mut self, h: MatRef<'_, f64>, b: usize) {
        if self.options.diag {
            for j in 0..self.c {
                self.accumulate(j, h.subrows(j * b, b));
            }
        } else {
            syrk_lower(self.second.as_mut(), h);
            if self.options.centering {
                for j in 0..self.c {
                    let blk = h.subrows(j * b, b);
                    for k in 0..self.d {
                        self.sums[(j, k)] += blk.col(k).sum();
                    }
                }
            }
        }
        self.count += b;
    }

    fn accumulate(&mut self, j: usize, g: MatRef<'_, f64>) {
        if self.options.diag {
            for k in 0..self.d {
                let col = g.col(k);
                let mut s = 0.0;
                for i in 0..g.nrows() {
                    s += col[i] * col[i];
                }
                self.second_diag[k] += s;
            }
        } else {
            syrk_lower(self.second.as_mut(), g);
        }
        if self.options.centering {
            for k in 0..self.d {
                self.sums[(j, k)] += g.col(k).sum();
            }
        }
    }

    /// Number of evaluation points seen.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The AGOP `(1/N) sum g g^T`, minus the mean outer products when centred.
    pub fn finish(&self) -> Result<Agop> {
        if self.count == 0 {
            return Err(invalid("number of evaluation points", 0, "the AGOP needs at least one point"));
        }
        let n = self.count as f64;
        if self.options.diag {
            let mut v: Vec<f64> = self.second_diag.iter().map(|s| s / n).collect();
            if self.options.centering {
                for j in 0..self.c {
                    for (k, vk) in v.iter_mut().enumerate() {
                        let m = self.sums[(j, k)] / n;
                        *vk -= m * m;
                    }
                }
                v.iter_mut().for_each(|x| *x = x.max(0.0));
            }
            Ok(Agop::Diagonal(v))
        } else {
            let mut m = &self.second * (1.0 / n);
            // only the lower triangle was accumulated
            for j in 0..self.d {
                for i in 0..j {
                    m[(i, j)] = m[(j, i)];
                }
            }
            if self.options.centering {
                let means = &self.sums * (1.0 / n);
                faer::linalg::matmul::matmul(
                    m.as_mut(),
                    Accum::Add,
                    means.transpose(),
                    means.as_ref(),
                    -1.0,
                    default_par(),
                );
            }
            Ok(Agop::Full(linalg::sym::symmetrize(m.as_ref())))
        }
    }
}

/// Entries kept per batch by [`kernel_agop`] (`h` block and the `b x n` derivative block).
pub const AGOP_BATCH_ENTRIES: usize = 1 << 21;

/// AGOP of the kernel predictor `f(x) = sum_i alpha_i k_M(x, x_i)` at the evaluation points
/// `eval` (prepared in the same metric; usually the training points or a subsample of them).
///
/// The whole computation happens in `h` space (`grad f = M h`): per batch one GEMM
/// `B (alpha_j .* X)` per output (or the sparse path), then `H^T H`; `M` is applied once at the end.
pub fn kernel_agop(
    kernel: &dyn Kernel,
    metric: &Metric,
    train: &Prepared,
    alpha: MatRef<'_, f64>,
    eval: &Prepared,
    options: AgopOptions,
    batch_entries: usize,
) -> Result<Agop> {
    let d = train.x.ncols();
    let c = alpha.ncols();
    linalg::validate::check_same_rows("AGOP: coefficients vs training inputs", train.x.as_ref(), alpha)?;
    linalg::validate::check_ncols("AGOP: evaluation points vs training dimension", eval.x.as_ref(), d)?;
    linalg::validate::check_finite("AGOP: coefficients", alpha)?;
    metric.validate(d)?;
    kernel.validate()?;
    let ctx = GradientContext::new(kernel, train, alpha);
    let batch = ctx.batch_size(batch_entries.max(1));
    let n_eval = eval.x.nrows();
    // diag AGOP with a full metric needs the full h-space matrix
    let h_options = AgopOptions {
        centering: options.centering,
        diag: options.diag && !matches!(metric, Metric::Mahalanobis(_)),
    };
    let mut acc = AgopAccumulator::new(d, c, h_options);
    let mut buf = Mat::<f64>::zeros(c * batch.min(n_eval), d);
    let mut scratch = GradientScratch::new();
    let mut start = 0;
    while start < n_eval {
        let len = batch.min(n_eval - start);
        let mut h = buf.as_mut().subrows_mut(0, c * len);
        ctx.parts_rows_into_with(
            eval.x.as_ref().subrows(start, len),
            eval.xm.as_ref().subrows(start, len),
            &eval.sq_norms[start..start + len],
            h.as_mut(),
            &mut scratch,
        )?;
        acc.add_class_major(h.as_ref(), len);
        start += len;
    }
    let inner = acc.finish()?;
    // AGOP = M inner M
    Ok(match (metric, inner) {
        (Metric::Euclidean, a) => a,
        (Metric::Diagonal(m), Agop::Diagonal(v)) => {
            Agop::Diagonal(v.iter().zip(m).map(|(x, mi)| x * mi * mi).collect())
        }
        (Metric::Diagonal(m), Agop::Full(s)) => {
            Agop::Full(Mat::from_fn(d, d, |i, j| m[i] * s[(i, j)] * m[j]))
        }
        (Metric::Mahalanobis(mm), a) => {
            let s = a.to_matrix();
            let ms = mm * &s;
            let full = linalg::sym::symmetrize((&ms * mm).as_ref());
            if options.diag {
                Agop::Diagonal((0..d).map(|i| full[(i, i)]).collect())
            } else {
                Agop::Full(full)
            }
        }
    })
}

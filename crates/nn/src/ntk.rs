//! The 2-layer ReLU network in NTK parameterisation with closed-form Jacobian, tangent kernel and
//! input gradients:
//!
//! `f(x) = (1/sqrt(m)) sum_j a_j relu(u_j)`, `u_j = w_j^T x / sqrt(d)`,
//!
//! with `w_j ~ N(0, I_d)`, `a_j ~ N(0, 1)` at initialisation and no biases. With the half-mean
//! squared loss `L = (1/2n) sum_i (f(x_i) - y_i)^2` the tangent kernel is normalised by `n`:
//! `K = (1/n) J J^T = (Phi Phi^T + (X X^T / d) o (S S^T)) / (n m)` with `Phi = relu(U)` and
//! `S_ij = a_j 1[U_ij > 0]`, so that gradient descent is linearly stable iff `lr < 2 / lambda_max(K)`.
use crate::error::{Result, check_nonzero};
use crate::ops::{check_cols, check_data, check_shape, gemm, matmul};
use crate::params::Parameters;
use faer::{Accum, Mat, MatRef};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// The 2-layer NTK-parameterised ReLU network (scalar output). Parameters in order: `w`, `a`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoLayerNtk {
    /// First-layer weights, `m x d` (row j is `w_j`).
    #[serde(with = "linalg::serde_mat")]
    pub w: Mat<f64>,
    /// Output weights, `m x 1`.
    #[serde(with = "linalg::serde_mat")]
    pub a: Mat<f64>,
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct NtkCache {
    /// Pre-activations `U = X W^T / sqrt(d)`, `n x m`.
    pub u: Mat<f64>,
    /// Outputs `f(X)`, `n x 1`.
    pub out: Mat<f64>,
}

impl TwoLayerNtk {
    /// A network with input dimension `d` and width `m`, standard normal weights drawn from `seed`.
    ///
    /// Errors: `d == 0` or `m == 0`.
    pub fn new(d: usize, m: usize, seed: u64) -> Result<Self> {
        check_nonzero("input dimension d", d)?;
        check_nonzero("width m", m)?;
        let mut rng = linalg::random::rng(seed);
        let w = linalg::random::gaussian_mat_with(m, d, &mut rng);
        let a = Mat::from_fn(m, 1, |_, _| StandardNormal.sample(&mut rng));
        Ok(TwoLayerNtk { w, a })
    }

    /// A network from given weights (`w`: `m x d`, `a`: `m x 1`).
    pub fn from_weights(w: Mat<f64>, a: Mat<f64>) -> Result<Self> {
        check_data("first-layer weights", w.as_ref())?;
        check_shape("output weights", a.as_ref(), w.nrows(), 1)?;
        check_data("output weights", a.as_ref())?;
        Ok(TwoLayerNtk { w, a })
    }

    /// Width `m`.
    pub fn width(&self) -> usize {
        self.w.nrows()
    }

    /// Input dimension `d`.
    pub fn input_dim(&self) -> usize {
        self.w.ncols()
    }

    fn check_x(&self, x: MatRef<'_, f64>) -> Result<()> {
        check_data("inputs", x)?;
        check_cols("2-layer NTK net inputs", x, self.input_dim())
    }

    /// Forward pass on the rows of `x` (`n x d`), keeping the pre-activations.
    pub fn forward(&self, x: MatRef<'_, f64>) -> Result<NtkCache> {
        self.check_x(x)?;
        let (m, d) = (self.width() as f64, self.input_dim() as f64);
        let mut u = Mat::<f64>::zeros(x.nrows(), self.width());
        // a column-major copy of W^T makes this thin GEMM ~1.3x faster than the transposed view
        let wt = self.w.transpose().to_owned();
        gemm(u.as_mut(), Accum::Replace, x, wt.as_ref(), 1.0 / d.sqrt());
        let phi = crate::ops::map(u.as_ref(), |v| v.max(0.0));
        let mut out = Mat::<f64>::zeros(x.nrows(), 1);
        gemm(out.as_mut(), Accum::Replace, phi.as_ref(), self.a.as_ref(), 1.0 / m.sqrt());
        Ok(NtkCache { u, out })
    }

    /// Predictions `f(X)` (`n x 1`).
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.check_x(x)?;
        let (m, d) = (self.width() as f64, self.input_dim() as f64);
        let mut u = Mat::<f64>::zeros(x.nrows(), self.width());
        // a column-major copy of W^T makes this thin GEMM ~1.3x faster than the transposed view
        let wt = self.w.transpose().to_owned();
        gemm(u.as_mut(), Accum::Replace, x, wt.as_ref(), 1.0 / d.sqrt());
        for j in 0..u.ncols() {
            for v in u.col_as_slice_mut(j) {
                *v = v.max(0.0);
            }
        }
        let mut out = Mat::<f64>::zeros(x.nrows(), 1);
        gemm(out.as_mut(), Accum::Replace, u.as_ref(), self.a.as_ref(), 1.0 / m.sqrt());
        Ok(out)
    }

    /// Gradients of `sum_i g_i f(x_i)` with respect to `[w, a]` (`g`: `n x 1`, e.g. the loss
    /// gradient with respect to the outputs). Two GEMMs, no per-sample loop.
    pub fn backward(
        &self,
        x: MatRef<'_, f64>,
        cache: &NtkCache,
        g: MatRef<'_, f64>,
    ) -> Result<Vec<Mat<f64>>> {
        check_shape("output gradient", g, x.nrows(), 1)?;
        check_shape("cached pre-activations", cache.u.as_ref(), x.nrows(), self.width())?;
        let (m, d) = (self.width() as f64, self.input_dim() as f64);
        let phi = crate::ops::map(cache.u.as_ref(), |v| v.max(0.0));
        let mut ga = Mat::<f64>::zeros(self.width(), 1);
        gemm(ga.as_mut(), Accum::Replace, phi.transpose(), g, 1.0 / m.sqrt());
        let gcol: Vec<f64> = (0..x.nrows()).map(|i| g[(i, 0)]).collect();
        let mut h = self.relu_mask_times_a(&cache.u);
        for j in 0..h.ncols() {
            for (v, &gi) in h.col_as_slice_mut(j).iter_mut().zip(&gcol) {
                *v *= gi;
            }
        }
        let mut gw = Mat::<f64>::zeros(self.width(), self.input_dim());
        gemm(gw.as_mut(), Accum::Replace, h.transpose(), x, 1.0 / (m * d).sqrt());
        Ok(vec![gw, ga])
    }

    /// Half-mean squared loss `(1/2n) sum (f(x_i) - y_i)^2` and its gradient `[dL/dw, dL/da]`.
    pub fn loss_and_grad(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<(f64, Vec<Mat<f64>>)> {
        check_shape("targets", y, x.nrows(), 1)?;
        check_data("targets", y)?;
        let cache = self.forward(x)?;
        let (loss, g) = crate::loss::mse(cache.out.as_ref(), y)?;
        let grads = self.backward(x, &cache, g.as_ref())?;
        Ok((loss, grads))
    }

    /// Half-mean squared loss on `(x, y)`.
    pub fn loss(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<f64> {
        check_shape("targets", y, x.nrows(), 1)?;
        let p = self.predict(x)?;
        Ok(crate::loss::mse(p.as_ref(), y)?.0)
    }

    /// Per-sample parameter gradients: the Jacobian `J` (`n x P`, `P = m d + m`), columns in the
    /// order of [`Parameters::params`] (`w` column-major, then `a`).
    pub fn jacobian(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let cache = self.forward(x)?;
        let (m, d) = (self.width(), self.input_dim());
        let (sm, smd) = (1.0 / (m as f64).sqrt(), 1.0 / ((m * d) as f64).sqrt());
        let n = x.nrows();
        let mut j = Mat::<f64>::zeros(n, m * d + m);
        for k in 0..d {
            for jj in 0..m {
                let col = k * m + jj;
                let aj = self.a[(jj, 0)] * smd;
                for i in 0..n {
                    if cache.u[(i, jj)] > 0.0 {
                        j[(i, col)] = aj * x[(i, k)];
                    }
                }
            }
        }
        for jj in 0..m {
            for i in 0..n {
                j[(i, m * d + jj)] = cache.u[(i, jj)].max(0.0) * sm;
            }
        }
        Ok(j)
    }

    /// The tangent kernel on the rows of `x`, normalised by `n`: `K = (1/n) J J^T` in closed form
    /// (`n x n`, symmetric PSD) without forming `J`.
    pub fn ntk(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let cache = self.forward(x)?;
        Ok(self.ntk_from_cache(x, &cache))
    }

    /// [`ntk`](Self::ntk) reusing a forward pass on the same `x`.
    pub fn ntk_from_cache(&self, x: MatRef<'_, f64>, cache: &NtkCache) -> Mat<f64> {
        let (n, m, d) = (x.nrows(), self.width(), self.input_dim() as f64);
        let phi = crate::ops::map(cache.u.as_ref(), |v| v.max(0.0));
        let s = self.relu_mask_times_a(&cache.u);
        let scale = 1.0 / (n * m) as f64;
        let mut k = matmul(s.as_ref(), s.transpose());
        let xx = matmul(x, x.transpose());
        for j in 0..n {
            for (kv, &xv) in k.col_as_slice_mut(j).iter_mut().zip(xx.col_as_slice(j)) {
                *kv *= xv / d;
            }
        }
        gemm(k.as_mut(), Accum::Add, phi.as_ref(), phi.transpose(), 1.0);
        for j in 0..n {
            for kv in k.col_as_slice_mut(j) {
                *kv *= scale;
            }
        }
        k
    }

    /// Per-sample input gradients `grad_x f(x_i)` as the rows of an `n x d` matrix:
    /// `(1/sqrt(m d)) sum_j a_j 1[u_j > 0] w_j`, one GEMM.
    pub fn input_gradients(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let cache = self.forward(x)?;
        let (m, d) = (self.width(), self.input_dim());
        let s = self.relu_mask_times_a(&cache.u);
        let mut g = Mat::<f64>::zeros(x.nrows(), d);
        gemm(g.as_mut(), Accum::Replace, s.as_ref(), self.w.as_ref(), 1.0 / ((m * d) as f64).sqrt());
        Ok(g)
    }

    /// The AGOP `(1/n) sum_i grad f(x_i) grad f(x_i)^T` (`d x d`).
    pub fn agop(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let g = self.input_gradients(x)?;
        Ok(crate::analysis::agop_from_gradients(g.as_ref()))
    }

    /// `S_ij = a_j 1[u_ij > 0]` (`n x m`).
    fn relu_mask_times_a(&self, u: &Mat<f64>) -> Mat<f64> {
        let a: Vec<f64> = (0..self.width()).map(|j| self.a[(j, 0)]).collect();
        crate::ops::map_cols(u.as_ref(), &a, |v, aj| if v > 0.0 { aj } else { 0.0 })
    }

    /// One plain gradient-descent step `theta <- theta - lr * grad` on the half-mean squared loss;
    /// returns the loss before the step.
    pub fn gd_step(&mut self, x: MatRef<'_, f64>, y: MatRef<'_, f64>, lr: f64) -> Result<f64> {
        crate::error::check_positive("learning rate", lr)?;
        let (loss, g) = self.loss_and_grad(x, y)?;
        if !loss.is_finite() {
            return Err(crate::NnError::Diverged { context: "gradient descent".into() });
        }
        for (p, g) in self.params_mut().into_iter().zip(&g) {
            gemm_axpy(p, g, -lr);
        }
        Ok(loss)
    }
}

fn gemm_axpy(p: &mut Mat<f64>, g: &Mat<f64>, alpha: f64) {
    for j in 0..p.ncols() {
        let (pc, gc) = (p.col_as_slice_mut(j), g.col_as_slice(j));
        for (a, b) in pc.iter_mut().zip(gc) {
            *a += alpha * b;
        }
    }
}

impl Parameters for TwoLayerNtk {
    fn params(&self) -> Vec<&Mat<f64>> {
        vec![&self.w, &self.a]
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>> {
        vec![&mut self.w, &mut self.a]
    }
}

//! Layers with explicit forward and backward passes. Inputs are batches of rows (`n x d_in`).
//!
//! Each layer's `forward` returns its output together with what the backward pass needs (the
//! input, pre-activations or normalisation statistics); `backward` takes that cache and the
//! gradient of the loss with respect to the output, and returns the gradient with respect to the
//! input plus the parameter gradients (in the order of [`Parameters::params`]). Samples never
//! interact, so the input gradient of a batch holds every sample's own input gradient.
use crate::error::{NnError, Result, check_nonzero, check_positive, invalid, mismatch};
use crate::ops::{check_cols, check_data, check_shape, col_sums, gemm, matmul};
use crate::params::Parameters;
use faer::{Accum, Mat, MatRef};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

fn normal_mat<R: Rng + ?Sized>(rows: usize, cols: usize, std: f64, rng: &mut R) -> Mat<f64> {
    let dist = Normal::new(0.0, std).expect("std is finite and >= 0");
    let mut m = Mat::<f64>::zeros(rows, cols);
    for j in 0..cols {
        for i in 0..rows {
            m[(i, j)] = dist.sample(rng);
        }
    }
    m
}

/// Fully connected layer `y = x W + b` (`W`: `d_in x d_out`, `b`: `1 x d_out`, optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// Weights, `d_in x d_out`.
    #[serde(with = "linalg::serde_mat")]
    pub w: Mat<f64>,
    /// Bias, `1 x d_out`, or `None` for a layer without bias.
    #[serde(with = "linalg::serde_mat::opt")]
    pub b: Option<Mat<f64>>,
}

impl Linear {
    /// A layer with `N(0, std^2)` weights and a zero bias (when `bias`), drawn from `rng`.
    /// `std = 1/sqrt(d_in)` (LeCun) is the usual choice, see [`Linear::new`].
    pub fn with_std<R: Rng + ?Sized>(
        d_in: usize,
        d_out: usize,
        bias: bool,
        std: f64,
        rng: &mut R,
    ) -> Result<Self> {
        check_nonzero("input width", d_in)?;
        check_nonzero("output width", d_out)?;
        if !(std.is_finite() && std >= 0.0) {
            return Err(invalid("initialisation std", std, "must be finite and >= 0"));
        }
        Ok(Linear { w: normal_mat(d_in, d_out, std, rng), b: bias.then(|| Mat::zeros(1, d_out)) })
    }

    /// A layer with LeCun-normal weights `N(0, 1/d_in)` and a zero bias (when `bias`), seeded.
    pub fn new(d_in: usize, d_out: usize, bias: bool, seed: u64) -> Result<Self> {
        Self::with_std(d_in, d_out, bias, 1.0 / (d_in.max(1) as f64).sqrt(), &mut linalg::random::rng(seed))
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.w.nrows()
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.w.ncols()
    }

    /// `x W + b` (one GEMM). The input is the backward cache.
    pub fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_cols("linear layer input", x, self.d_in())?;
        let mut y = Mat::<f64>::zeros(x.nrows(), self.d_out());
        if let Some(b) = &self.b {
            for j in 0..self.d_out() {
                y.col_as_slice_mut(j).fill(b[(0, j)]);
            }
            gemm(y.as_mut(), Accum::Add, x, self.w.as_ref(), 1.0);
        } else {
            gemm(y.as_mut(), Accum::Replace, x, self.w.as_ref(), 1.0);
        }
        Ok(y)
    }

    /// Backward pass from the layer input `x` and `g = dL/dy`: returns `(dL/dx, [dL/dW, dL/db])`.
    pub fn backward(&self, x: MatRef<'_, f64>, g: MatRef<'_, f64>) -> Result<(Mat<f64>, Vec<Mat<f64>>)> {
        check_cols("linear layer input", x, self.d_in())?;
        check_shape("linear layer output gradient", g, x.nrows(), self.d_out())?;
        let gx = matmul(g, self.w.transpose());
        let gw = matmul(x.transpose(), g);
        let mut grads = vec![gw];
        if self.b.is_some() {
            grads.push(col_sums(g));
        }
        Ok((gx, grads))
    }

    /// Per-sample weight gradients of `sum_i g_i . y_i`: row `i` is the flattened (column-major)
    /// `x_i g_i^T` followed by `g_i` when the layer has a bias (`n x P`).
    pub fn per_sample_grads(&self, x: MatRef<'_, f64>, g: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_cols("linear layer input", x, self.d_in())?;
        check_shape("linear layer output gradient", g, x.nrows(), self.d_out())?;
        let (din, dout) = (self.d_in(), self.d_out());
        let p = din * dout + if self.b.is_some() { dout } else { 0 };
        let mut out = Mat::<f64>::zeros(x.nrows(), p);
        for o in 0..dout {
            for k in 0..din {
                let c = o * din + k;
                for i in 0..x.nrows() {
                    out[(i, c)] = x[(i, k)] * g[(i, o)];
                }
            }
        }
        if self.b.is_some() {
            for o in 0..dout {
                for i in 0..x.nrows() {
                    out[(i, din * dout + o)] = g[(i, o)];
                }
            }
        }
        Ok(out)
    }
}

impl Parameters for Linear {
    fn params(&self) -> Vec<&Mat<f64>> {
        let mut v = vec![&self.w];
        if let Some(b) = &self.b {
            v.push(b);
        }
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>> {
        let mut v = vec![&mut self.w];
        if let Some(b) = &mut self.b {
            v.push(b);
        }
        v
    }
}

/// Element-wise activation functions (no parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// GELU, tanh approximation: `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
    Gelu,
    /// Quadratic `x^2`.
    Quadratic,
    /// Identity (a linear network).
    Identity,
}

const GELU_C: f64 = 0.797_884_560_802_865_4; // sqrt(2 / pi)

/// `exp(-2 u(z))` entry-wise with `u = sqrt(2/pi) (z + 0.044715 z^3)`, clamped to avoid overflow.
fn gelu_exp(z: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = z.to_owned();
    for j in 0..out.ncols() {
        let c = out.col_as_slice_mut(j);
        for v in c.iter_mut() {
            *v = (-2.0 * GELU_C * (*v + 0.044715 * *v * *v * *v)).clamp(-700.0, 700.0);
        }
        linalg::simd::exp_in_place(c);
    }
    out
}

impl Activation {
    /// `sigma(z)` for one value.
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Activation::Relu => z.max(0.0),
            Activation::Gelu => 0.5 * z * (1.0 + (GELU_C * (z + 0.044715 * z * z * z)).tanh()),
            Activation::Quadratic => z * z,
            Activation::Identity => z,
        }
    }

    /// `sigma'(z)` for one value (ReLU: 0 at 0).
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Gelu => {
                let u = GELU_C * (z + 0.044715 * z * z * z);
                let t = u.tanh();
                0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044715 * z * z)
            }
            Activation::Quadratic => 2.0 * z,
            Activation::Identity => 1.0,
        }
    }

    /// Applies the activation to every entry (the pre-activation `z` is the backward cache).
    pub fn forward(self, z: MatRef<'_, f64>) -> Mat<f64> {
        match self {
            // x sigmoid(2u) == x (1 + tanh u) / 2, with a vectorised exp over each column
            Activation::Gelu => {
                let mut out = gelu_exp(z);
                for j in 0..out.ncols() {
                    let zc = z.col(j);
                    for (i, e) in out.col_as_slice_mut(j).iter_mut().enumerate() {
                        *e = zc[i] / (1.0 + *e);
                    }
                }
                out
            }
            _ => crate::ops::map(z, |v| self.apply(v)),
        }
    }

    /// `dL/dz = sigma'(z) o g` from the pre-activation `z` and `g = dL/dy`.
    pub fn backward(self, z: MatRef<'_, f64>, g: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_shape("activation output gradient", g, z.nrows(), z.ncols())?;
        match self {
            Activation::Gelu => {
                let mut out = gelu_exp(z);
                for j in 0..out.ncols() {
                    let (zc, gc) = (z.col(j), g.col(j));
                    for (i, e) in out.col_as_slice_mut(j).iter_mut().enumerate() {
                        let x = zc[i];
                        let s = 1.0 / (1.0 + *e);
                        let d = s + 2.0 * x * s * (1.0 - s) * GELU_C * (1.0 + 3.0 * 0.044715 * x * x);
                        *e = d * gc[i];
                    }
                }
                Ok(out)
            }
            _ => Ok(crate::ops::zip(z, g, |zz, gg| self.derivative(zz) * gg)),
        }
    }
}

/// Layer normalisation over the features of each row: `y = (x - mean) / sqrt(var + eps) * gamma + beta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerNorm {
    /// Gain, `1 x d` (initialised to 1).
    #[serde(with = "linalg::serde_mat")]
    pub gamma: Mat<f64>,
    /// Shift, `1 x d` (initialised to 0).
    #[serde(with = "linalg::serde_mat")]
    pub beta: Mat<f64>,
    /// Variance floor.
    pub eps: f64,
}

/// What [`LayerNorm::forward`] keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct LayerNormCache {
    /// Normalised input `(x - mean) / std`.
    pub xhat: Mat<f64>,
    /// `1 / sqrt(var + eps)` per row.
    pub rstd: Vec<f64>,
}

impl LayerNorm {
    /// Unit gain, zero shift, `eps = 1e-5`.
    pub fn new(d: usize) -> Result<Self> {
        check_nonzero("layer-norm width", d)?;
        Ok(LayerNorm { gamma: Mat::from_fn(1, d, |_, _| 1.0), beta: Mat::zeros(1, d), eps: 1e-5 })
    }

    /// Sets the variance floor (> 0).
    pub fn with_eps(mut self, eps: f64) -> Result<Self> {
        check_positive("layer-norm eps", eps)?;
        self.eps = eps;
        Ok(self)
    }

    /// Width.
    pub fn dim(&self) -> usize {
        self.gamma.ncols()
    }

    /// Forward pass.
    pub fn forward(&self, x: MatRef<'_, f64>) -> Result<(Mat<f64>, LayerNormCache)> {
        check_cols("layer-norm input", x, self.dim())?;
        let (n, d) = (x.nrows(), self.dim());
        // Column by column over contiguous storage (row statistics accumulated in vectors).
        let mut xhat = x.to_owned();
        let mut mean = vec![0.0; n];
        for j in 0..d {
            for (m, &v) in mean.iter_mut().zip(xhat.col_as_slice(j)) {
                *m += v;
            }
        }
        let inv_d = 1.0 / d as f64;
        for m in &mut mean {
            *m *= inv_d;
        }
        let mut var = vec![0.0; n];
        for j in 0..d {
            for ((v, &m), s) in xhat.col_as_slice_mut(j).iter_mut().zip(&mean).zip(var.iter_mut()) {
                *v -= m;
                *s += *v * *v;
            }
        }
        let rstd: Vec<f64> = var.iter().map(|&v| 1.0 / (v * inv_d + self.eps).sqrt()).collect();
        let mut y = Mat::<f64>::zeros(n, d);
        for j in 0..d {
            let (gj, bj) = (self.gamma[(0, j)], self.beta[(0, j)]);
            let xc = xhat.col_as_slice_mut(j);
            for (v, &r) in xc.iter_mut().zip(&rstd) {
                *v *= r;
            }
            for (yv, &xv) in y.col_as_slice_mut(j).iter_mut().zip(xhat.col_as_slice(j)) {
                *yv = xv * gj + bj;
            }
        }
        Ok((y, LayerNormCache { xhat, rstd }))
    }

    /// Backward pass: `(dL/dx, [dL/dgamma, dL/dbeta])`.
    pub fn backward(&self, cache: &LayerNormCache, g: MatRef<'_, f64>) -> Result<(Mat<f64>, Vec<Mat<f64>>)> {
        let (n, d) = (cache.xhat.nrows(), self.dim());
        check_shape("layer-norm output gradient", g, n, d)?;
        // gx starts as g (contiguous copy), becomes g o gamma, then the final gradient.
        let mut gx = g.to_owned();
        let mut ggamma = Mat::<f64>::zeros(1, d);
        let gbeta = col_sums(gx.as_ref());
        let (mut m1, mut m2) = (vec![0.0; n], vec![0.0; n]);
        for j in 0..d {
            let xc = cache.xhat.col_as_slice(j);
            let gc = gx.col_as_slice_mut(j);
            ggamma[(0, j)] = gc.iter().zip(xc).map(|(a, b)| a * b).sum();
            let gam = self.gamma[(0, j)];
            for (((v, &xv), a), b) in gc.iter_mut().zip(xc).zip(m1.iter_mut()).zip(m2.iter_mut()) {
                *v *= gam;
                *a += *v;
                *b += *v * xv;
            }
        }
        let inv_d = 1.0 / d as f64;
        for j in 0..d {
            let xc = cache.xhat.col_as_slice(j);
            let gc = gx.col_as_slice_mut(j);
            for i in 0..n {
                gc[i] = cache.rstd[i] * (gc[i] - m1[i] * inv_d - xc[i] * m2[i] * inv_d);
            }
        }
        Ok((gx, vec![ggamma, gbeta]))
    }
}

impl Parameters for LayerNorm {
    fn params(&self) -> Vec<&Mat<f64>> {
        vec![&self.gamma, &self.beta]
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>> {
        vec![&mut self.gamma, &mut self.beta]
    }
}

/// Token embedding: row `t` of the `vocab x d` table for token `t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// The table, `vocab x d`.
    #[serde(with = "linalg::serde_mat")]
    pub table: Mat<f64>,
}

impl Embedding {
    /// A `vocab x d` table with `N(0, std^2)` entries, seeded.
    pub fn new(vocab: usize, d: usize, std: f64, seed: u64) -> Result<Self> {
        check_nonzero("vocabulary size", vocab)?;
        check_nonzero("embedding width", d)?;
        check_positive("embedding std", std)?;
        Ok(Embedding { table: normal_mat(vocab, d, std, &mut linalg::random::rng(seed)) })
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.table.nrows()
    }

    /// Width.
    pub fn dim(&self) -> usize {
        self.table.ncols()
    }

    /// Checks every token id.
    pub fn check_tokens(&self, tokens: &[usize]) -> Result<()> {
        if let Some((i, &t)) = tokens.iter().enumerate().find(|(_, t)| **t >= self.vocab()) {
            return Err(NnError::TokenOutOfRange { token: t, position: i, vocab: self.vocab() });
        }
        Ok(())
    }

    /// The embeddings of `tokens` as rows (`tokens.len() x d`); the tokens are the backward cache.
    pub fn forward(&self, tokens: &[usize]) -> Result<Mat<f64>> {
        self.check_tokens(tokens)?;
        Ok(Mat::from_fn(tokens.len(), self.dim(), |i, j| self.table[(tokens[i], j)]))
    }

    /// Gradient of the table (scatter-add of the rows of `g`).
    pub fn backward(&self, tokens: &[usize], g: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        self.check_tokens(tokens)?;
        check_shape("embedding output gradient", g, tokens.len(), self.dim())?;
        let mut gt = Mat::<f64>::zeros(self.vocab(), self.dim());
        for j in 0..self.dim() {
            for (i, &t) in tokens.iter().enumerate() {
                gt[(t, j)] += g[(i, j)];
            }
        }
        Ok(vec![gt])
    }
}

impl Parameters for Embedding {
    fn params(&self) -> Vec<&Mat<f64>> {
        vec![&self.table]
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>> {
        vec![&mut self.table]
    }
}

/// Learned positional embedding for a batch of sequences stacked as rows: row `b T + t` gets row
/// `t` of the `context x d` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionalEmbedding {
    /// The table, `context x d`.
    #[serde(with = "linalg::serde_mat")]
    pub table: Mat<f64>,
}

impl PositionalEmbedding {
    /// A `context x d` table with `N(0, std^2)` entries, seeded.
    pub fn new(context: usize, d: usize, std: f64, seed: u64) -> Result<Self> {
        check_nonzero("context length", context)?;
        check_nonzero("embedding width", d)?;
        check_positive("embedding std", std)?;
        Ok(PositionalEmbedding { table: normal_mat(context, d, std, &mut linalg::random::rng(seed)) })
    }

    /// Maximum sequence length.
    pub fn context(&self) -> usize {
        self.table.nrows()
    }

    fn check(&self, rows: usize, seq_len: usize) -> Result<()> {
        check_nonzero("sequence length", seq_len)?;
        if seq_len > self.context() {
            return Err(invalid(
                "sequence length",
                seq_len,
                &format!("must be <= context {}", self.context()),
            ));
        }
        if !rows.is_multiple_of(seq_len) {
            return Err(mismatch(
                "stacked sequences",
                format!("a multiple of {seq_len} rows"),
                format!("{rows}"),
            ));
        }
        Ok(())
    }

    /// The positional embeddings for `rows / seq_len` sequences of length `seq_len` (`rows x d`).
    pub fn forward(&self, rows: usize, seq_len: usize) -> Result<Mat<f64>> {
        self.check(rows, seq_len)?;
        Ok(Mat::from_fn(rows, self.table.ncols(), |i, j| self.table[(i % seq_len, j)]))
    }

    /// Gradient of the table from `g` (`rows x d`).
    pub fn backward(&self, seq_len: usize, g: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        self.check(g.nrows(), seq_len)?;
        check_cols("positional embedding gradient", g, self.table.ncols())?;
        let mut gt = Mat::<f64>::zeros(self.context(), self.table.ncols());
        for j in 0..g.ncols() {
            for i in 0..g.nrows() {
                gt[(i % seq_len, j)] += g[(i, j)];
            }
        }
        Ok(vec![gt])
    }
}

impl Parameters for PositionalEmbedding {
    fn params(&self) -> Vec<&Mat<f64>> {
        vec![&self.table]
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>> {
        vec![&mut self.table]
    }
}

pub(crate) fn check_input(name: &str, x: MatRef<'_, f64>, cols: usize) -> Result<()> {
    check_data(name, x)?;
    check_cols(name, x, cols)
}

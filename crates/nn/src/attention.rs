//! Causal multi-head self-attention over a batch of sequences stacked as rows (`B T x d`, row
//! `b T + t` is position `t` of sequence `b`).
//!
//! With learned projections: `Q = X Wq`, `K = X Wk`, `V = X Wv`, per head
//! `A = softmax(Q_h K_h^T / sqrt(d_head) + causal mask)`, `O_h = A V_h`, `Y = O Wo`.
//! With identity Q/K/V ([`CausalSelfAttention::identity`]) `Q = K = V = X` and `Y = O`: the layer
//! has no trainable parameters (the simplified transformers of the in-context-learning papers).
use crate::error::{Result, check_nonzero, invalid};
use crate::layers::{Linear, check_input};
use crate::ops::{check_shape, gemm, matmul};
use crate::params::Parameters;
use faer::{Accum, Mat, MatRef};
use serde::{Deserialize, Serialize};

/// Learned projections of an attention layer (each `d x d`, no bias).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionWeights {
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Output projection.
    pub o: Linear,
}

/// Causal self-attention with learned or identity Q/K/V.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CausalSelfAttention {
    /// Model width `d`.
    pub d_model: usize,
    /// Number of heads (divides `d_model`).
    pub n_heads: usize,
    /// Learned projections, or `None` for identity Q/K/V (no parameters).
    pub weights: Option<AttentionWeights>,
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct AttentionCache {
    x: Mat<f64>,
    q: Mat<f64>,
    k: Mat<f64>,
    v: Mat<f64>,
    /// Attention matrices, one `T x T` per (sequence, head), sequence-major.
    pub probs: Vec<Mat<f64>>,
    o: Mat<f64>,
    seq_len: usize,
}

impl CausalSelfAttention {
    /// Learned Q/K/V/O projections with `N(0, 1/d)` weights, seeded.
    pub fn new(d_model: usize, n_heads: usize, seed: u64) -> Result<Self> {
        Self::check_dims(d_model, n_heads)?;
        let lin = |s: u64| Linear::new(d_model, d_model, false, seed.wrapping_add(s));
        Ok(CausalSelfAttention {
            d_model,
            n_heads,
            weights: Some(AttentionWeights { q: lin(0)?, k: lin(1)?, v: lin(2)?, o: lin(3)? }),
        })
    }

    /// Fixed identity Q/K/V and no output projection: no trainable parameters.
    pub fn identity(d_model: usize, n_heads: usize) -> Result<Self> {
        Self::check_dims(d_model, n_heads)?;
        Ok(CausalSelfAttention { d_model, n_heads, weights: None })
    }

    fn check_dims(d_model: usize, n_heads: usize) -> Result<()> {
        check_nonzero("model width", d_model)?;
        check_nonzero("number of heads", n_heads)?;
        if !d_model.is_multiple_of(n_heads) {
            return Err(invalid(
                "number of heads",
                n_heads,
                &format!("must divide the model width {d_model}"),
            ));
        }
        Ok(())
    }

    fn d_head(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// Forward pass on `rows / seq_len` stacked sequences of length `seq_len`.
    pub fn forward(&self, x: MatRef<'_, f64>, seq_len: usize) -> Result<(Mat<f64>, AttentionCache)> {
        check_input("attention input", x, self.d_model)?;
        check_nonzero("sequence length", seq_len)?;
        if x.nrows() % seq_len != 0 {
            return Err(crate::error::mismatch(
                "attention input",
                format!("a multiple of {seq_len} rows"),
                format!("{} rows", x.nrows()),
            ));
        }
        let (q, k, v) = match &self.weights {
            Some(w) => (w.q.forward(x)?, w.k.forward(x)?, w.v.forward(x)?),
            None => (x.to_owned(), x.to_owned(), x.to_owned()),
        };
        let (t, dh) = (seq_len, self.d_head());
        let scale = 1.0 / (dh as f64).sqrt();
        let mut o = Mat::<f64>::zeros(x.nrows(), self.d_model);
        let mut probs = Vec::with_capacity(x.nrows() / t * self.n_heads);
        for b in 0..x.nrows() / t {
            for h in 0..self.n_heads {
                let (r, c) = (b * t, h * dh);
                let qh = q.as_ref().submatrix(r, c, t, dh);
                let kh = k.as_ref().submatrix(r, c, t, dh);
                let vh = v.as_ref().submatrix(r, c, t, dh);
                let mut s = Mat::<f64>::zeros(t, t);
                gemm(s.as_mut(), Accum::Replace, qh, kh.transpose(), scale);
                for i in 0..t {
                    let mx = (0..=i).map(|j| s[(i, j)]).fold(f64::NEG_INFINITY, f64::max);
                    let mut sum = 0.0;
                    for j in 0..t {
                        let e = if j <= i { linalg::simd::exp(s[(i, j)] - mx) } else { 0.0 };
                        s[(i, j)] = e;
                        sum += e;
                    }
                    for j in 0..=i {
                        s[(i, j)] /= sum;
                    }
                }
                gemm(o.as_mut().submatrix_mut(r, c, t, dh), Accum::Replace, s.as_ref(), vh, 1.0);
                probs.push(s);
            }
        }
        let y = match &self.weights {
            Some(w) => w.o.forward(o.as_ref())?,
            None => o.clone(),
        };
        Ok((y, AttentionCache { x: x.to_owned(), q, k, v, probs, o, seq_len }))
    }

    /// Backward pass: `(dL/dx, [dWq, dWk, dWv, dWo])` (no parameter gradients for identity Q/K/V).
    pub fn backward(&self, cache: &AttentionCache, g: MatRef<'_, f64>) -> Result<(Mat<f64>, Vec<Mat<f64>>)> {
        let rows = cache.x.nrows();
        check_shape("attention output gradient", g, rows, self.d_model)?;
        let mut grads = Vec::new();
        let go = match &self.weights {
            Some(w) => {
                let (go, gwo) = w.o.backward(cache.o.as_ref(), g)?;
                grads.push(gwo.into_iter().next().expect("weight gradient"));
                go
            }
            None => g.to_owned(),
        };
        let (t, dh) = (cache.seq_len, self.d_head());
        let scale = 1.0 / (dh as f64).sqrt();
        let mut gq = Mat::<f64>::zeros(rows, self.d_model);
        let mut gk = Mat::<f64>::zeros(rows, self.d_model);
        let mut gv = Mat::<f64>::zeros(rows, self.d_model);
        for b in 0..rows / t {
            for h in 0..self.n_heads {
                let (r, c) = (b * t, h * dh);
                let a = &cache.probs[b * self.n_heads + h];
                let goh = go.as_ref().submatrix(r, c, t, dh);
                let vh = cache.v.as_ref().submatrix(r, c, t, dh);
                let qh = cache.q.as_ref().submatrix(r, c, t, dh);
                let kh = cache.k.as_ref().submatrix(r, c, t, dh);
                gemm(gv.as_mut().submatrix_mut(r, c, t, dh), Accum::Replace, a.transpose(), goh, 1.0);
                let mut gs = matmul(goh, vh.transpose());
                for i in 0..t {
                    let dot: f64 = (0..=i).map(|j| gs[(i, j)] * a[(i, j)]).sum();
                    for j in 0..t {
                        gs[(i, j)] = if j <= i { a[(i, j)] * (gs[(i, j)] - dot) } else { 0.0 };
                    }
                }
                gemm(gq.as_mut().submatrix_mut(r, c, t, dh), Accum::Replace, gs.as_ref(), kh, scale);
                gemm(gk.as_mut().submatrix_mut(r, c, t, dh), Accum::Replace, gs.transpose(), qh, scale);
            }
        }
        let x = cache.x.as_ref();
        let gx = match &self.weights {
            Some(w) => {
                let (gxq, gwq) = w.q.backward(x, gq.as_ref())?;
                let (gxk, gwk) = w.k.backward(x, gk.as_ref())?;
                let (gxv, gwv) = w.v.backward(x, gv.as_ref())?;
                let gwo = grads.pop().expect("output gradient");
                grads = vec![gwq[0].clone(), gwk[0].clone(), gwv[0].clone(), gwo];
                &(&gxq + &gxk) + &gxv
            }
            None => &(&gq + &gk) + &gv,
        };
        Ok((gx, grads))
    }
}

impl Parameters for CausalSelfAttention {
    fn params(&self) -> Vec<&Mat<f64>> {
        match &self.weights {
            Some(w) => vec![&w.q.w, &w.k.w, &w.v.w, &w.o.w],
            None => vec![],
        }
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>> {
        match &mut self.weights {
            Some(w) => vec![&mut w.q.w, &mut w.k.w, &mut w.v.w, &mut w.o.w],
            None => vec![],
        }
    }
}

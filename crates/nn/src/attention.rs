//! Causal multi-head self-attention over a batch of sequences stacked as rows (`B T x d`, row
//! `b T + t` is position `t` of sequence `b`).
//!
//! With learned projections: `Q = X Wq`, `K = X Wk`, `V = X Wv`, per head
//! `A = softmax(Q_h K_h^T / sqrt(d_head) + causal mask)`, `O_h = A V_h`, `Y = O Wo`.
//! With identity Q/K/V ([`CausalSelfAttention::identity`]) `Q = K = V = X` and `Y = O`: the layer
//! has no trainable parameters (the simplified transformers of the in-context-learning papers).
use crate::error::{Result, check_nonzero, invalid};
use crate::layers::{Linear, check_input};
use crate::ops::{check_shape, gemm_seq};
use crate::params::Parameters;
use faer::{Accum, Mat, MatRef};
use rayon::prelude::*;
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
        let (t, dh, nh) = (seq_len, self.d_head(), self.n_heads);
        let scale = 1.0 / (dh as f64).sqrt();
        let mut o = Mat::<f64>::zeros(x.nrows(), self.d_model);
        let mut probs: Vec<Mat<f64>> = (0..x.nrows() / t * nh).map(|_| Mat::zeros(t, t)).collect();
        // One task per sequence: its heads' score GEMMs, softmax and value GEMMs (all small, so
        // sequential inside the task), writing into the sequence's own rows of `o`.
        let (qr, kr, vr) = (q.as_ref(), k.as_ref(), v.as_ref());
        o.as_mut().par_row_chunks_mut(t).zip(probs.par_chunks_mut(nh)).enumerate().for_each(
            |(b, (mut ob, pb))| {
                let mut mx = vec![0.0; t];
                let mut sum = vec![0.0; t];
                for (h, s) in pb.iter_mut().enumerate() {
                    let (r, c) = (b * t, h * dh);
                    let qh = qr.submatrix(r, c, t, dh);
                    let kh = kr.submatrix(r, c, t, dh);
                    let vh = vr.submatrix(r, c, t, dh);
                    gemm_seq(s.as_mut(), Accum::Replace, qh, kh.transpose(), scale);
                    causal_softmax_rows(s, &mut mx, &mut sum);
                    gemm_seq(ob.as_mut().subcols_mut(c, dh), Accum::Replace, s.as_ref(), vh, 1.0);
                }
            },
        );
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
        let (t, dh, nh) = (cache.seq_len, self.d_head(), self.n_heads);
        let scale = 1.0 / (dh as f64).sqrt();
        let mut gq = Mat::<f64>::zeros(rows, self.d_model);
        let mut gk = Mat::<f64>::zeros(rows, self.d_model);
        let mut gv = Mat::<f64>::zeros(rows, self.d_model);
        let (q, k, v, gor) = (cache.q.as_ref(), cache.k.as_ref(), cache.v.as_ref(), go.as_ref());
        gq.as_mut()
            .par_row_chunks_mut(t)
            .zip(gk.as_mut().par_row_chunks_mut(t))
            .zip(gv.as_mut().par_row_chunks_mut(t))
            .enumerate()
            .for_each(|(b, ((mut gqb, mut gkb), mut gvb))| {
                let mut gs = Mat::<f64>::zeros(t, t);
                let mut dot = vec![0.0; t];
                for h in 0..nh {
                    let (r, c) = (b * t, h * dh);
                    let a = &cache.probs[b * nh + h];
                    let goh = gor.submatrix(r, c, t, dh);
                    let vh = v.submatrix(r, c, t, dh);
                    let qh = q.submatrix(r, c, t, dh);
                    let kh = k.submatrix(r, c, t, dh);
                    gemm_seq(gvb.as_mut().subcols_mut(c, dh), Accum::Replace, a.transpose(), goh, 1.0);
                    gemm_seq(gs.as_mut(), Accum::Replace, goh, vh.transpose(), 1.0);
                    // dS = A o (dA - rowsum(dA o A)), column by column (contiguous)
                    causal_row_dots(&gs, a, &mut dot);
                    for j in 0..t {
                        let ac = a.col_as_slice(j);
                        let gc = gs.col_as_slice_mut(j);
                        gc[..j].fill(0.0);
                        for i in j..t {
                            gc[i] = ac[i] * (gc[i] - dot[i]);
                        }
                    }
                    gemm_seq(gqb.as_mut().subcols_mut(c, dh), Accum::Replace, gs.as_ref(), kh, scale);
                    gemm_seq(gkb.as_mut().subcols_mut(c, dh), Accum::Replace, gs.transpose(), qh, scale);
                }
            });
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

/// `dot[i] = sum_{j <= i} g_ij a_ij` over the lower triangles of two column-major `t x t`
/// matrices (the row sums of `dA o A` in a causal attention backward pass).
pub(crate) fn causal_row_dots(g: &Mat<f64>, a: &Mat<f64>, dot: &mut [f64]) {
    let t = dot.len();
    dot.fill(0.0);
    for j in 0..t {
        let (gc, ac) = (g.col_as_slice(j), a.col_as_slice(j));
        for i in j..t {
            dot[i] += gc[i] * ac[i];
        }
    }
}

/// Row-wise softmax of the lower triangle of the square score matrix `s` in place (entries above
/// the diagonal set to 0), walking the column-major storage column by column. `mx` and `sum` are
/// scratch vectors of length `s.nrows()`.
fn causal_softmax_rows(s: &mut Mat<f64>, mx: &mut [f64], sum: &mut [f64]) {
    let t = s.nrows();
    mx.fill(f64::NEG_INFINITY);
    sum.fill(0.0);
    for j in 0..t {
        let c = s.col_as_slice(j);
        for i in j..t {
            mx[i] = mx[i].max(c[i]);
        }
    }
    for j in 0..t {
        let c = s.col_as_slice_mut(j);
        c[..j].fill(0.0);
        let tail = &mut c[j..];
        for (v, m) in tail.iter_mut().zip(&mx[j..]) {
            *v -= m;
        }
        linalg::simd::exp_in_place(tail);
        for (v, acc) in tail.iter().zip(&mut sum[j..]) {
            *acc += v;
        }
    }
    for v in sum.iter_mut() {
        *v = 1.0 / *v;
    }
    for j in 0..t {
        let c = s.col_as_slice_mut(j);
        for i in j..t {
            c[i] *= sum[i];
        }
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

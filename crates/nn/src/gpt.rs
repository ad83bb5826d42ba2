//! A small pre-LN GPT-style decoder: token + learned positional embeddings, blocks of
//! `x + Attn(LN(x))` then `x + MLP(LN(x))` (GELU), a final LayerNorm and a linear head.
//!
//! Batches are `B` sequences of length `T` stacked as `B T` rows (tokens as a flat slice of
//! length `B T`). [`Gpt::forward_embeddings`] runs the same decoder on continuous input vectors
//! (e.g. the prompts of in-context regression) instead of token ids.
use crate::attention::{AttentionCache, CausalSelfAttention};
use crate::error::{Result, check_nonzero, invalid, mismatch};
use crate::layers::{Activation, Embedding, LayerNorm, LayerNormCache, Linear, PositionalEmbedding};
use crate::optim::Optimizer;
use crate::params::Parameters;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// Sizes of a [`Gpt`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Vocabulary size.
    pub vocab: usize,
    /// Maximum sequence length.
    pub context: usize,
    /// Model width.
    pub d_model: usize,
    /// Attention heads (divide `d_model`).
    pub n_heads: usize,
    /// Number of blocks.
    pub n_layers: usize,
    /// Hidden width of the MLPs.
    pub d_ff: usize,
    /// Fixed identity Q/K/V attention (no attention parameters) instead of learned projections.
    pub identity_attention: bool,
}

impl GptConfig {
    /// A config with `d_ff = 4 d_model` and learned attention.
    pub fn new(vocab: usize, context: usize, d_model: usize, n_heads: usize, n_layers: usize) -> Self {
        GptConfig { vocab, context, d_model, n_heads, n_layers, d_ff: 4 * d_model, identity_attention: false }
    }

    /// Checks every size.
    pub fn validate(&self) -> Result<()> {
        check_nonzero("vocabulary size", self.vocab)?;
        check_nonzero("context length", self.context)?;
        check_nonzero("model width", self.d_model)?;
        check_nonzero("number of heads", self.n_heads)?;
        check_nonzero("number of layers", self.n_layers)?;
        check_nonzero("MLP width", self.d_ff)?;
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(invalid(
                "number of heads",
                self.n_heads,
                &format!("must divide d_model = {}", self.d_model),
            ));
        }
        Ok(())
    }
}

/// One pre-LN decoder block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// LayerNorm before attention.
    pub ln1: LayerNorm,
    /// Causal self-attention.
    pub attn: CausalSelfAttention,
    /// LayerNorm before the MLP.
    pub ln2: LayerNorm,
    /// MLP input layer (`d_model -> d_ff`).
    pub fc1: Linear,
    /// MLP output layer (`d_ff -> d_model`).
    pub fc2: Linear,
}

struct BlockCache {
    c_ln1: LayerNormCache,
    c_attn: AttentionCache,
    h2: Mat<f64>,
    c_ln2: LayerNormCache,
    z: Mat<f64>,
    a: Mat<f64>,
}

impl Block {
    fn new(cfg: &GptConfig, seed: u64) -> Result<Self> {
        let attn = if cfg.identity_attention {
            CausalSelfAttention::identity(cfg.d_model, cfg.n_heads)?
        } else {
            CausalSelfAttention::new(cfg.d_model, cfg.n_heads, seed)?
        };
        let mut fc2 = Linear::new(cfg.d_ff, cfg.d_model, true, seed.wrapping_add(11))?;
        // GPT-2 style: scale the residual-branch output layer down with depth
        let s = 1.0 / (2.0 * cfg.n_layers as f64).sqrt();
        for j in 0..fc2.w.ncols() {
            for v in fc2.w.col_as_slice_mut(j) {
                *v *= s;
            }
        }
        Ok(Block {
            ln1: LayerNorm::new(cfg.d_model)?,
            attn,
            ln2: LayerNorm::new(cfg.d_model)?,
            fc1: Linear::new(cfg.d_model, cfg.d_ff, true, seed.wrapping_add(10))?,
            fc2,
        })
    }

    fn forward(&self, x: &Mat<f64>, seq_len: usize) -> Result<(Mat<f64>, BlockCache)> {
        let (h1, c_ln1) = self.ln1.forward(x.as_ref())?;
        let (att, c_attn) = self.attn.forward(h1.as_ref(), seq_len)?;
        let x1 = x + &att;
        let (h2, c_ln2) = self.ln2.forward(x1.as_ref())?;
        let z = self.fc1.forward(h2.as_ref())?;
        let a = Activation::Gelu.forward(z.as_ref());
        let f = self.fc2.forward(a.as_ref())?;
        Ok((&x1 + &f, BlockCache { c_ln1, c_attn, h2, c_ln2, z, a }))
    }

    fn backward(&self, c: &BlockCache, g: &Mat<f64>) -> Result<(Mat<f64>, Vec<Mat<f64>>)> {
        let (ga, g_fc2) = self.fc2.backward(c.a.as_ref(), g.as_ref())?;
        let gz = Activation::Gelu.backward(c.z.as_ref(), ga.as_ref())?;
        let (gh2, g_fc1) = self.fc1.backward(c.h2.as_ref(), gz.as_ref())?;
        let (gx1_ln, g_ln2) = self.ln2.backward(&c.c_ln2, gh2.as_ref())?;
        let gx1 = g + &gx1_ln;
        let (gh1, g_attn) = self.attn.backward(&c.c_attn, gx1.as_ref())?;
        let (gx_ln, g_ln1) = self.ln1.backward(&c.c_ln1, gh1.as_ref())?;
        let gx = &gx1 + &gx_ln;
        let grads = g_ln1.into_iter().chain(g_attn).chain(g_ln2).chain(g_fc1).chain(g_fc2).collect();
        Ok((gx, grads))
    }
}

impl Parameters for Block {
    fn params(&self) -> Vec<&Mat<f64>> {
        let mut v = self.ln1.params();
        v.extend(self.attn.params());
        v.extend(self.ln2.params());
        v.extend(self.fc1.params());
        v.extend(self.fc2.params());
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>> {
        let mut v = self.ln1.params_mut();
        v.extend(self.attn.params_mut());
        v.extend(self.ln2.params_mut());
        v.extend(self.fc1.params_mut());
        v.extend(self.fc2.params_mut());
        v
    }
}

/// The decoder. Parameters in order: token table, positional table, each block (ln1, attention,
/// ln2, fc1, fc2), final LayerNorm, head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt {
    /// Sizes.
    pub config: GptConfig,
    /// Token embedding.
    pub tok: Embedding,
    /// Learned positional embedding.
    pub pos: PositionalEmbedding,
    /// Decoder blocks.
    pub blocks: Vec<Block>,
    /// Final LayerNorm.
    pub ln_f: LayerNorm,
    /// Output head `d_model -> vocab` (no bias).
    pub head: Linear,
}

/// What [`Gpt::forward`] keeps for the backward pass.
pub struct GptCache {
    tokens: Option<Vec<usize>>,
    seq_len: usize,
    blocks: Vec<BlockCache>,
    c_lnf: LayerNormCache,
    hf: Mat<f64>,
}

impl Gpt {
    /// A decoder with `N(0, 0.02^2)` embeddings and LeCun-normal linear layers, seeded.
    pub fn new(config: GptConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let blocks = (0..config.n_layers)
            .map(|l| Block::new(&config, seed.wrapping_add(100 * (l as u64 + 1))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Gpt {
            tok: Embedding::new(config.vocab, config.d_model, 0.02, seed)?,
            pos: PositionalEmbedding::new(config.context, config.d_model, 0.02, seed.wrapping_add(1))?,
            blocks,
            ln_f: LayerNorm::new(config.d_model)?,
            head: Linear::new(config.d_model, config.vocab, false, seed.wrapping_add(2))?,
            config,
        })
    }

    fn check_seq(&self, rows: usize, seq_len: usize) -> Result<()> {
        check_nonzero("sequence length", seq_len)?;
        if seq_len > self.config.context {
            return Err(invalid(
                "sequence length",
                seq_len,
                &format!("must be <= context {}", self.config.context),
            ));
        }
        if rows == 0 || !rows.is_multiple_of(seq_len) {
            return Err(mismatch(
                "token batch",
                format!("a non-zero multiple of {seq_len}"),
                format!("{rows}"),
            ));
        }
        Ok(())
    }

    /// Logits (`B T x vocab`) for `tokens` (`B T` ids, `B` sequences of length `seq_len`).
    pub fn forward(&self, tokens: &[usize], seq_len: usize) -> Result<(Mat<f64>, GptCache)> {
        self.check_seq(tokens.len(), seq_len)?;
        let e = self.tok.forward(tokens)?;
        let (logits, mut cache) = self.forward_embeddings(e.as_ref(), seq_len)?;
        cache.tokens = Some(tokens.to_vec());
        Ok((logits, cache))
    }

    /// Outputs for continuous inputs `h0` (`B T x d_model`, added to the positional embeddings).
    pub fn forward_embeddings(&self, h0: MatRef<'_, f64>, seq_len: usize) -> Result<(Mat<f64>, GptCache)> {
        self.check_seq(h0.nrows(), seq_len)?;
        crate::layers::check_input("decoder input", h0, self.config.d_model)?;
        let mut h = &h0.to_owned() + &self.pos.forward(h0.nrows(), seq_len)?;
        let mut caches = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            let (out, c) = b.forward(&h, seq_len)?;
            caches.push(c);
            h = out;
        }
        let (hf, c_lnf) = self.ln_f.forward(h.as_ref())?;
        let logits = self.head.forward(hf.as_ref())?;
        Ok((logits, GptCache { tokens: None, seq_len, blocks: caches, c_lnf, hf }))
    }

    /// Backward pass from `g = dL/dlogits`: returns the gradient with respect to the decoder input
    /// `h0` and the parameter gradients (token-table gradient zero for [`forward_embeddings`](Self::forward_embeddings)).
    pub fn backward(&self, cache: &GptCache, g: MatRef<'_, f64>) -> Result<(Mat<f64>, Vec<Mat<f64>>)> {
        crate::ops::check_shape("logit gradient", g, cache.hf.nrows(), self.config.vocab)?;
        let (ghf, g_head) = self.head.backward(cache.hf.as_ref(), g)?;
        let (mut gh, g_lnf) = self.ln_f.backward(&cache.c_lnf, ghf.as_ref())?;
        let mut g_blocks = Vec::with_capacity(self.blocks.len());
        for (b, c) in self.blocks.iter().zip(&cache.blocks).rev() {
            let (gx, gb) = b.backward(c, &gh)?;
            g_blocks.push(gb);
            gh = gx;
        }
        g_blocks.reverse();
        let g_pos = self.pos.backward(cache.seq_len, gh.as_ref())?;
        let g_tok = match &cache.tokens {
            Some(t) => self.tok.backward(t, gh.as_ref())?,
            None => vec![Mat::zeros(self.config.vocab, self.config.d_model)],
        };
        let grads = g_tok
            .into_iter()
            .chain(g_pos)
            .chain(g_blocks.into_iter().flatten())
            .chain(g_lnf)
            .chain(g_head)
            .collect();
        Ok((gh, grads))
    }

    /// Mean next-token cross-entropy of `tokens` against `targets` (same layout, `mask` marks the
    /// positions that count) and the parameter gradients.
    pub fn loss_and_grad(
        &self,
        tokens: &[usize],
        targets: &[usize],
        mask: Option<&[bool]>,
        seq_len: usize,
    ) -> Result<(f64, Vec<Mat<f64>>)> {
        let (logits, cache) = self.forward(tokens, seq_len)?;
        let (loss, g) = crate::loss::softmax_cross_entropy(logits.as_ref(), targets, mask)?;
        Ok((loss, self.backward(&cache, g.as_ref())?.1))
    }

    /// One optimiser step on the next-token loss; returns the loss before the step.
    pub fn train_step(
        &mut self,
        tokens: &[usize],
        targets: &[usize],
        mask: Option<&[bool]>,
        seq_len: usize,
        opt: &mut dyn Optimizer,
    ) -> Result<f64> {
        let (loss, grads) = self.loss_and_grad(tokens, targets, mask, seq_len)?;
        opt.step(self, &grads)?;
        Ok(loss)
    }
}

impl Parameters for Gpt {
    fn params(&self) -> Vec<&Mat<f64>> {
        let mut v = self.tok.params();
        v.extend(self.pos.params());
        for b in &self.blocks {
            v.extend(b.params());
        }
        v.extend(self.ln_f.params());
        v.extend(self.head.params());
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>> {
        let mut v = self.tok.params_mut();
        v.extend(self.pos.params_mut());
        for b in &mut self.blocks {
            v.extend(b.params_mut());
        }
        v.extend(self.ln_f.params_mut());
        v.extend(self.head.params_mut());
        v
    }
}

//! Unlearning memorised sequences of a [`Gpt`]: deliberate imagination (UnDIAL), gradient ascent,
//! and the metrics of memorisation and retained ability.
//!
//! **Deliberate imagination** (adjusted-logit self-distillation): the teacher is a frozen copy of
//! the memorising model. At each position `t` of a forget sequence with teacher logits `z_t` and
//! true next token `y`, the target is `p_t = softmax(z_t - gamma e_y)`: only the memorised token is
//! demoted, the others keep the teacher's preferences (they are all multiplied by the same factor
//! `1 / (1 - pi (1 - e^-gamma))`, `pi = softmax(z_t)_y`). The student minimises the soft-label
//! cross-entropy `-(1/N) sum_t sum_v p_t(v) log q_t(v)` (= KL(p_t || q_t) + H(p_t), same gradient
//! `(q_t - p_t) / N` with respect to the student logits) over the unmasked positions, or focused on
//! the secret span: the adjustment and the loss on the span, and optionally (`anchor > 0`) the
//! other positions of the forget windows distilled at gamma = 0 (their tokens are not private).
//! [`di_loss_weighted`] is the general form (a strength and a weight per position). A
//! [`RetainAnchor`] ([`unlearn_with_retain`]) adds self-distillation at gamma = 0 on retained
//! windows. With `gamma = 0` and student = teacher every gradient is exactly 0.
//!
//! **Gradient ascent**: maximise the next-token cross-entropy of the forget sequences.
//!
//! **Metrics** ([`MemorisationMetrics`]): exact memorisation (greedy decoding of the prompt
//! reproduces the whole secret), per-digit accuracy (teacher-forced argmax), extraction likelihood
//! [`el_n`] of sampled continuations, mean NLL of the secret tokens, a format score (the greedy
//! continuation still has the secret's shape), and [`perplexity`] of retained text.
//!
//! ```
//! use nn::unlearn::{adjusted_targets, di_loss, el_n};
//! use faer::Mat;
//!
//! // One position over a vocabulary of 4; the true next token is 2.
//! let z = Mat::from_fn(1, 4, |_, j| [1.0, 0.5, 3.0, -1.0][j]);
//! let p = adjusted_targets(z.as_ref(), &[2], 3.0)?;
//! let q = nn::loss::softmax_rows(z.as_ref());
//! // The memorised token is demoted; every other token gains by the same factor.
//! assert!(p[(0, 2)] < q[(0, 2)]);
//! let f = p[(0, 0)] / q[(0, 0)];
//! assert!((p[(0, 1)] / q[(0, 1)] - f).abs() < 1e-12 && f > 1.0);
//!
//! // gamma = 0 with student = teacher: the KL loss and its gradient are exactly zero.
//! let l = di_loss(z.as_ref(), z.as_ref(), &[2], None, 0.0)?;
//! assert_eq!(l.kl, 0.0);
//! assert!(l.grad.col_as_slice(0).iter().all(|&g| g == 0.0));
//! // A negative gamma is an error.
//! assert!(di_loss(z.as_ref(), z.as_ref(), &[2], None, -1.0).is_err());
//!
//! // Extraction likelihood: shared n-grams of a generation with the truth.
//! assert_eq!(el_n(&[1, 2, 3, 4], &[1, 2, 3, 4], 3), 1.0);
//! assert_eq!(el_n(&[1, 2, 3], &[4, 5, 6], 3), 0.0);
//! # Ok::<(), nn::NnError>(())
//! ```
use crate::error::{NnError, Result, check_nonzero, check_positive, invalid, mismatch};
use crate::gpt::Gpt;
use crate::loss::{softmax_cross_entropy, softmax_rows};
use crate::ops::check_data;
use crate::optim::{Adam, Optimizer, Sgd};
use crate::params::Parameters;
use faer::{Mat, MatRef};
use rand::Rng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

fn check_gamma(gamma: f64) -> Result<()> {
    if !(gamma.is_finite() && gamma >= 0.0) {
        return Err(invalid("gamma (imagination strength)", gamma, "must be finite and >= 0"));
    }
    Ok(())
}

fn check_next(next: &[usize], rows: usize, vocab: usize) -> Result<()> {
    if next.len() != rows {
        return Err(mismatch("next-token targets", format!("{rows} entries"), format!("{}", next.len())));
    }
    if let Some((i, &t)) = next.iter().enumerate().find(|(_, t)| **t >= vocab) {
        return Err(NnError::TokenOutOfRange { token: t, position: i, vocab });
    }
    Ok(())
}

/// The deliberate-imagination targets `p_t = softmax(z_t - gamma e_{y_t})` for teacher logits `z`
/// (one row per position) and true next tokens `next`. Errors on `gamma < 0`, NaN logits or a
/// token out of range.
pub fn adjusted_targets(teacher_logits: MatRef<'_, f64>, next: &[usize], gamma: f64) -> Result<Mat<f64>> {
    check_gamma(gamma)?;
    check_data("teacher logits", teacher_logits)?;
    check_next(next, teacher_logits.nrows(), teacher_logits.ncols())?;
    let mut z = teacher_logits.to_owned();
    for (i, &y) in next.iter().enumerate() {
        z[(i, y)] -= gamma;
    }
    Ok(softmax_rows(z.as_ref()))
}

/// Row-wise log-softmax.
fn log_softmax_rows(logits: MatRef<'_, f64>) -> Mat<f64> {
    let p = softmax_rows(logits);
    crate::ops::map(p.as_ref(), |v| v.max(f64::MIN_POSITIVE).ln())
}

/// The deliberate-imagination loss of a batch of positions.
#[derive(Debug, Clone)]
pub struct DiLoss {
    /// Mean soft-label cross-entropy `-(1/N) sum_t sum_v p_t(v) log q_t(v)`.
    pub cross_entropy: f64,
    /// Mean KL divergence `(1/N) sum_t KL(p_t || q_t)` (the cross-entropy minus the targets' entropy).
    pub kl: f64,
    /// Gradient of either with respect to the student logits: `(q_t - p_t) / N` on counted rows, 0
    /// on masked-out rows.
    pub grad: Mat<f64>,
}

/// Deliberate-imagination loss of student logits against the adjusted teacher targets over the
/// rows with `mask[i] == true` (all when `None`). Errors on `gamma < 0`, shape mismatches, NaN,
/// tokens out of range or no counted row.
pub fn di_loss(
    student_logits: MatRef<'_, f64>,
    teacher_logits: MatRef<'_, f64>,
    next: &[usize],
    mask: Option<&[bool]>,
    gamma: f64,
) -> Result<DiLoss> {
    check_gamma(gamma)?;
    let n = student_logits.nrows();
    if let Some(m) = mask
        && m.len() != n
    {
        return Err(mismatch("padding mask", format!("{n} entries"), format!("{}", m.len())));
    }
    let count = mask.map_or(n, |m| m.iter().filter(|&&b| b).count());
    if count == 0 {
        return Err(invalid("number of unmasked positions", 0, "must be at least 1"));
    }
    let inv = 1.0 / count as f64;
    let weights: Vec<f64> = (0..n).map(|i| if mask.is_none_or(|m| m[i]) { inv } else { 0.0 }).collect();
    di_loss_weighted(student_logits, teacher_logits, next, &vec![gamma; n], &weights)
}

/// Deliberate-imagination loss with a strength and a weight per row: row `i` has the target
/// `softmax(z_i - gammas[i] e_{y_i})` and contributes `weights[i]` times its soft-label
/// cross-entropy (and KL); the gradient of row `i` is `weights[i] (q_i - p_i)`. No normalisation is
/// applied (pass weights that sum to 1 for a mean). A row with `gammas[i] = 0` is plain
/// self-distillation towards the teacher (zero gradient while the student equals the teacher).
/// Errors on a negative or non-finite strength or weight, length or shape mismatches, NaN,
/// tokens out of range or all weights zero.
pub fn di_loss_weighted(
    student_logits: MatRef<'_, f64>,
    teacher_logits: MatRef<'_, f64>,
    next: &[usize],
    gammas: &[f64],
    weights: &[f64],
) -> Result<DiLoss> {
    let (n, c) = (student_logits.nrows(), student_logits.ncols());
    crate::ops::check_shape("teacher logits", teacher_logits, n, c)?;
    check_data("student logits", student_logits)?;
    check_data("teacher logits", teacher_logits)?;
    check_next(next, n, c)?;
    for (name, v) in [("per-position gammas", gammas), ("per-position weights", weights)] {
        if v.len() != n {
            return Err(mismatch(name, format!("{n} entries"), format!("{}", v.len())));
        }
    }
    for &g in gammas {
        check_gamma(g)?;
    }
    if let Some(&w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(invalid("position weight", w, "must be finite and >= 0"));
    }
    if !weights.iter().any(|&w| w > 0.0) {
        return Err(invalid("number of unmasked positions", 0, "must be at least 1"));
    }
    let q = softmax_rows(student_logits);
    let log_q = log_softmax_rows(student_logits);
    let mut z = teacher_logits.to_owned();
    for (i, &y) in next.iter().enumerate() {
        z[(i, y)] -= gammas[i];
    }
    let p = softmax_rows(z.as_ref());
    let log_p = log_softmax_rows(z.as_ref());
    let (mut ce, mut kl) = (0.0, 0.0);
    let mut grad = Mat::<f64>::zeros(n, c);
    for (i, &w) in weights.iter().enumerate() {
        if w == 0.0 {
            continue;
        }
        let (mut ce_i, mut kl_i) = (0.0, 0.0);
        for j in 0..c {
            let pv = p[(i, j)];
            if pv > 0.0 {
                ce_i -= pv * log_q[(i, j)];
                kl_i += pv * (log_p[(i, j)] - log_q[(i, j)]);
            }
            grad[(i, j)] = (q[(i, j)] - pv) * w;
        }
        ce += w * ce_i;
        kl += w * kl_i;
    }
    Ok(DiLoss { cross_entropy: ce, kl, grad })
}

/// Gradient-ascent loss: the negated mean next-token cross-entropy over the counted rows, and its
/// gradient with respect to the logits (minimising it raises the forget sequences' NLL).
pub fn gradient_ascent_loss(
    logits: MatRef<'_, f64>,
    next: &[usize],
    mask: Option<&[bool]>,
) -> Result<(f64, Mat<f64>)> {
    let (l, g) = softmax_cross_entropy(logits, next, mask)?;
    Ok((-l, crate::ops::map(g.as_ref(), |v| -v)))
}

/// Next-token windows to forget (the layout of [`Gpt::forward`]): `tokens[w T + t]` predicts
/// `targets[w T + t]`; `mask` is false on padding; `focus` marks the secret span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgetSet {
    /// Window length `T`.
    pub seq_len: usize,
    /// Input tokens.
    pub tokens: Vec<usize>,
    /// Next-token targets.
    pub targets: Vec<usize>,
    /// Counted positions (false on padding).
    pub mask: Vec<bool>,
    /// Positions inside the secret span (used by the focused methods).
    pub focus: Vec<bool>,
}

impl ForgetSet {
    /// Number of windows.
    pub fn n_windows(&self) -> usize {
        self.tokens.len() / self.seq_len.max(1)
    }

    /// Checks the layout against a model: non-empty, equal lengths, `seq_len <= context`, a
    /// counted (and, if `focus`, focused) position in every window.
    pub fn validate(&self, model: &Gpt, focus: bool) -> Result<()> {
        check_nonzero("forget window length", self.seq_len)?;
        if self.tokens.is_empty() {
            return Err(invalid("forget set", "0 windows", "must hold at least one window"));
        }
        if self.seq_len > model.config.context {
            return Err(invalid(
                "forget window length",
                self.seq_len,
                &format!("must be <= the model context {}", model.config.context),
            ));
        }
        let n = self.tokens.len();
        if !n.is_multiple_of(self.seq_len) {
            return Err(mismatch("forget tokens", format!("a multiple of {}", self.seq_len), format!("{n}")));
        }
        for (name, len) in
            [("targets", self.targets.len()), ("mask", self.mask.len()), ("focus", self.focus.len())]
        {
            if len != n {
                return Err(mismatch(&format!("forget {name}"), format!("{n} entries"), format!("{len}")));
            }
        }
        model.tok.check_tokens(&self.tokens)?;
        model.tok.check_tokens(&self.targets)?;
        let t = self.seq_len;
        for w in 0..self.n_windows() {
            let counted = (w * t..(w + 1) * t).any(|i| self.mask[i] && (!focus || self.focus[i]));
            if !counted {
                return Err(invalid(
                    "forget window",
                    w,
                    if focus { "has no unmasked position in the focus span" } else { "is all padding" },
                ));
            }
        }
        Ok(())
    }

    /// Tokens, targets, counted positions and focus-span positions of the windows `idx`.
    fn batch(&self, idx: &[usize]) -> (Vec<usize>, Vec<usize>, Vec<bool>, Vec<bool>) {
        let t = self.seq_len;
        let mut tokens = Vec::with_capacity(idx.len() * t);
        let mut targets = Vec::with_capacity(idx.len() * t);
        let mut mask = Vec::with_capacity(idx.len() * t);
        let mut span = Vec::with_capacity(idx.len() * t);
        for &w in idx {
            for i in w * t..(w + 1) * t {
                tokens.push(self.tokens[i]);
                targets.push(self.targets[i]);
                mask.push(self.mask[i]);
                span.push(self.mask[i] && self.focus[i]);
            }
        }
        (tokens, targets, mask, span)
    }
}

/// An unlearning method.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// Deliberate imagination (adjusted-logit self-distillation) with strength `gamma >= 0`, on
    /// every position (`focus = false`, UnDIAL) or focused on the secret span (`focus = true`):
    /// the span's positions get the adjusted targets with weight 1 each, every other counted
    /// position of the forget windows is distilled towards the unadjusted teacher (gamma = 0, its
    /// tokens are not private) with weight `anchor` each; the loss is divided by the number of
    /// span positions. `anchor = 0` is the hard focus (loss on the span only); `anchor` is
    /// ignored without focus.
    DeliberateImagination {
        /// Logit penalty of the true next token.
        gamma: f64,
        /// Focus the adjustment (and the loss) on the focus span.
        focus: bool,
        /// Weight of the non-span positions (distilled at gamma = 0) relative to a span position.
        anchor: f64,
    },
    /// Gradient ascent on the next-token loss of every position or only the secret span.
    GradientAscent {
        /// Restrict the loss to the focus span.
        focus: bool,
    },
}

impl Method {
    fn focus(&self) -> bool {
        match *self {
            Method::DeliberateImagination { focus, .. } | Method::GradientAscent { focus } => focus,
        }
    }

    /// A short label (`di`, `di-focus`, `ga`, `ga-focus`, with gamma and a non-zero anchor).
    pub fn label(&self) -> String {
        match *self {
            Method::DeliberateImagination { gamma, focus, anchor } => match (focus, anchor > 0.0) {
                (false, _) => format!("di(gamma={gamma})"),
                (true, false) => format!("di-focus(gamma={gamma})"),
                (true, true) => format!("di-focus(gamma={gamma},anchor={anchor})"),
            },
            Method::GradientAscent { focus } => format!("ga{}", if focus { "-focus" } else { "" }),
        }
    }
}

/// The optimiser of an unlearning run (no weight decay, so that a zero gradient is no change).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum UnlearnOptimizer {
    /// Adam with betas (0.9, 0.999).
    Adam,
    /// SGD with heavy-ball momentum in `[0, 1)`.
    Sgd {
        /// Momentum.
        momentum: f64,
    },
}

/// Hyper-parameters of an unlearning run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnlearnParams {
    /// The method.
    pub method: Method,
    /// The optimiser.
    pub optimizer: UnlearnOptimizer,
    /// Learning rate (> 0).
    pub lr: f64,
    /// Optimiser steps (>= 1).
    pub steps: usize,
    /// Windows per step (>= 1; at most the number of forget windows is used).
    pub batch_size: usize,
    /// Seed of the window order.
    pub seed: u64,
}

impl UnlearnParams {
    /// Checks every field (gamma >= 0, anchor finite and >= 0, lr > 0, steps and batch >= 1).
    pub fn validate(&self) -> Result<()> {
        if let Method::DeliberateImagination { gamma, anchor, .. } = self.method {
            check_gamma(gamma)?;
            if !(anchor.is_finite() && anchor >= 0.0) {
                return Err(invalid("anchor weight", anchor, "must be finite and >= 0"));
            }
        }
        check_positive("learning rate", self.lr)?;
        check_nonzero("unlearning steps", self.steps)?;
        check_nonzero("batch size", self.batch_size)
    }
}

/// What the observer of [`unlearn`] sees after each step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnlearnStep {
    /// Steps taken so far (1-based).
    pub step: usize,
    /// The loss of the batch before the step (DI: soft-label cross-entropy; GA: negated CE).
    pub loss: f64,
    /// Global gradient norm of the step.
    pub grad_norm: f64,
}

/// Retained windows distilled towards the unadjusted teacher (gamma = 0) during unlearning: a
/// KL anchor that keeps the student's predictions on text that is not to be forgotten.
#[derive(Debug, Clone, Copy)]
pub struct RetainAnchor<'a> {
    /// The retained windows (same window length as the forget set; `focus` is ignored). They must
    /// not contain the forget set's secrets.
    pub windows: &'a ForgetSet,
    /// Weight of the retained term (the mean soft-label cross-entropy over its counted positions)
    /// relative to the forget term; finite and >= 0.
    pub weight: f64,
    /// Retained windows per step (>= 1; at most the number of windows is used).
    pub batch_size: usize,
}

/// Cycles through `n` window indices in seeded random order, `bs` at a time.
struct WindowSampler {
    order: Vec<usize>,
    pos: usize,
    bs: usize,
    rng: rand::rngs::StdRng,
}

impl WindowSampler {
    fn new(n: usize, bs: usize, seed: u64) -> Self {
        WindowSampler { order: (0..n).collect(), pos: n, bs: bs.min(n), rng: linalg::random::rng(seed) }
    }

    fn next(&mut self) -> Vec<usize> {
        let n = self.order.len();
        let mut idx = Vec::with_capacity(self.bs);
        while idx.len() < self.bs {
            if self.pos >= n {
                self.order.shuffle(&mut self.rng);
                self.pos = 0;
            }
            idx.push(self.order[self.pos]);
            self.pos += 1;
        }
        idx
    }
}

/// Unlearns `forget` from `student` with `params`; `teacher` (the frozen original) is only read.
/// The observer sees the step and the updated student and returns `false` to stop early.
/// Errors on invalid parameters, an empty forget set, windows longer than the model context,
/// mismatched teacher/student shapes or a diverging step.
pub fn unlearn(
    student: &mut Gpt,
    teacher: &Gpt,
    forget: &ForgetSet,
    params: &UnlearnParams,
    observer: &mut dyn FnMut(&UnlearnStep, &Gpt) -> bool,
) -> Result<Vec<UnlearnStep>> {
    unlearn_with_retain(student, teacher, forget, None, params, observer)
}

/// [`unlearn`] with an optional [`RetainAnchor`]: each step adds `weight` times the mean
/// self-distillation loss (gamma = 0, towards the frozen teacher) of a batch of retained windows
/// to the unlearning loss, in the same forward pass. Errors as [`unlearn`], and on a retained set
/// that is empty, has another window length, is longer than the context or a negative weight.
pub fn unlearn_with_retain(
    student: &mut Gpt,
    teacher: &Gpt,
    forget: &ForgetSet,
    retain: Option<RetainAnchor<'_>>,
    params: &UnlearnParams,
    observer: &mut dyn FnMut(&UnlearnStep, &Gpt) -> bool,
) -> Result<Vec<UnlearnStep>> {
    params.validate()?;
    if student.config != teacher.config {
        return Err(mismatch(
            "teacher vs student",
            format!("{:?}", student.config),
            format!("{:?}", teacher.config),
        ));
    }
    let focus = params.method.focus();
    forget.validate(student, focus)?;
    if let Some(r) = &retain {
        r.windows.validate(student, false)?;
        if r.windows.seq_len != forget.seq_len {
            return Err(mismatch(
                "retained window length",
                format!("{} (the forget windows')", forget.seq_len),
                format!("{}", r.windows.seq_len),
            ));
        }
        if !(r.weight.is_finite() && r.weight >= 0.0) {
            return Err(invalid("retain weight", r.weight, "must be finite and >= 0"));
        }
        check_nonzero("retained batch size", r.batch_size)?;
    }
    let retain = retain.filter(|r| r.weight > 0.0);
    let mut opt: Box<dyn Optimizer> = match params.optimizer {
        UnlearnOptimizer::Adam => Box::new(Adam::new(params.lr)?),
        UnlearnOptimizer::Sgd { momentum } => Box::new(Sgd::new(params.lr)?.with_momentum(momentum)?),
    };
    let mut sampler = WindowSampler::new(forget.n_windows(), params.batch_size, params.seed);
    let mut retain_sampler = retain.map(|r| {
        WindowSampler::new(r.windows.n_windows(), r.batch_size, params.seed.wrapping_add(0x9e37_79b9))
    });
    let mut log = Vec::with_capacity(params.steps);
    for step in 1..=params.steps {
        let idx = sampler.next();
        let (mut tokens, mut targets, mut all, mut span) = forget.batch(&idx);
        let nf = tokens.len();
        if let (Some(r), Some(rs)) = (&retain, &mut retain_sampler) {
            let (t, y, m, _) = r.windows.batch(&rs.next());
            tokens.extend(t);
            targets.extend(y);
            all.extend(m);
            span.resize(tokens.len(), false);
        }
        let n = tokens.len();
        // the forget rows counted by the method (the retained rows are never in the forget term)
        let counted: Vec<bool> = (0..n).map(|i| i < nf && if focus { span[i] } else { all[i] }).collect();
        if !counted.iter().any(|&m| m) {
            continue;
        }
        let (logits, cache) = student.forward(&tokens, forget.seq_len)?;
        let needs_teacher = retain.is_some() || matches!(params.method, Method::DeliberateImagination { .. });
        let tl = if needs_teacher { Some(teacher.forward(&tokens, forget.seq_len)?.0) } else { None };
        let (mut loss, mut g) = match (params.method, &tl) {
            (Method::DeliberateImagination { gamma, focus: false, .. }, Some(tl)) => {
                let l = di_loss(logits.as_ref(), tl.as_ref(), &targets, Some(&counted), gamma)?;
                (l.cross_entropy, l.grad)
            }
            (Method::DeliberateImagination { gamma, focus: true, anchor }, Some(tl)) => {
                let inv = 1.0 / counted.iter().filter(|&&b| b).count() as f64;
                let gammas: Vec<f64> = counted.iter().map(|&s| if s { gamma } else { 0.0 }).collect();
                let weights: Vec<f64> = (0..n)
                    .map(|i| match (counted[i], i < nf && all[i]) {
                        (true, _) => inv,
                        (false, true) => anchor * inv,
                        _ => 0.0,
                    })
                    .collect();
                let l = di_loss_weighted(logits.as_ref(), tl.as_ref(), &targets, &gammas, &weights)?;
                (l.cross_entropy, l.grad)
            }
            (Method::DeliberateImagination { .. }, None) => {
                return Err(invalid("teacher logits", "missing", "deliberate imagination needs them"));
            }
            (Method::GradientAscent { .. }, _) => {
                gradient_ascent_loss(logits.as_ref(), &targets, Some(&counted))?
            }
        };
        if let (Some(r), Some(tl)) = (&retain, &tl) {
            let rc = (nf..n).filter(|&i| all[i]).count();
            if rc > 0 {
                let w = r.weight / rc as f64;
                let weights: Vec<f64> = (0..n).map(|i| if i >= nf && all[i] { w } else { 0.0 }).collect();
                let l = di_loss_weighted(logits.as_ref(), tl.as_ref(), &targets, &vec![0.0; n], &weights)?;
                loss += l.cross_entropy;
                g += &l.grad;
            }
        }
        let (_, grads) = student.backward(&cache, g.as_ref())?;
        let s = UnlearnStep { step, loss, grad_norm: crate::params::squared_norm(&grads).sqrt() };
        opt.step(student, &grads)?;
        log.push(s);
        if !observer(&s, student) {
            break;
        }
    }
    Ok(log)
}

/// A 64-bit FNV-1a hash of every parameter's bits (to check that a model was not modified).
pub fn params_hash(model: &dyn Parameters) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in model.params() {
        for j in 0..p.ncols() {
            for v in p.col_as_slice(j) {
                for b in v.to_bits().to_le_bytes() {
                    h ^= b as u64;
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
    }
    h
}

/// The last-position logits of `tokens` (truncated to the model context from the left).
fn next_logits(model: &Gpt, tokens: &[usize]) -> Result<Vec<f64>> {
    let ctx = model.config.context;
    let t = &tokens[tokens.len().saturating_sub(ctx)..];
    let (logits, _) = model.forward(t, t.len())?;
    let r = logits.nrows() - 1;
    Ok((0..logits.ncols()).map(|j| logits[(r, j)]).collect())
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Greedy continuation of `prompt` by `n` tokens (the prompt is cut to the model context from the
/// left when needed). Errors on an empty prompt.
pub fn greedy_continuation(model: &Gpt, prompt: &[usize], n: usize) -> Result<Vec<usize>> {
    if prompt.is_empty() {
        return Err(invalid("prompt", "empty", "needs at least one token"));
    }
    let mut seq = prompt.to_vec();
    for _ in 0..n {
        let l = next_logits(model, &seq)?;
        seq.push(argmax(&l));
    }
    Ok(seq.split_off(prompt.len()))
}

/// Continuation of `prompt` by `n` tokens sampled at `temperature` (> 0) from `rng`.
pub fn sample_continuation<R: Rng + ?Sized>(
    model: &Gpt,
    prompt: &[usize],
    n: usize,
    temperature: f64,
    rng: &mut R,
) -> Result<Vec<usize>> {
    check_positive("temperature", temperature)?;
    if prompt.is_empty() {
        return Err(invalid("prompt", "empty", "needs at least one token"));
    }
    let mut seq = prompt.to_vec();
    for _ in 0..n {
        let l = next_logits(model, &seq)?;
        let m = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = l.iter().map(|&x| ((x - m) / temperature).exp()).collect();
        let total: f64 = w.iter().sum();
        let mut u = rng.random::<f64>() * total;
        let mut pick = w.len() - 1;
        for (i, &x) in w.iter().enumerate() {
            if u < x {
                pick = i;
                break;
            }
            u -= x;
        }
        seq.push(pick);
    }
    Ok(seq.split_off(prompt.len()))
}

/// Extraction likelihood `EL_n = |ngrams_n(gen) ∩ ngrams_n(truth)| / |ngrams_n(gen)|` with
/// n-gram *sets*; 0 when the generation has fewer than `n` tokens (or `n = 0`).
pub fn el_n(generated: &[usize], truth: &[usize], n: usize) -> f64 {
    if n == 0 || generated.len() < n {
        return 0.0;
    }
    let g: HashSet<&[usize]> = generated.windows(n).collect();
    let t: HashSet<&[usize]> = if truth.len() >= n { truth.windows(n).collect() } else { HashSet::new() };
    g.intersection(&t).count() as f64 / g.len() as f64
}

/// One memorisation probe: a prompt (e.g. `"\nNAME's code is "`) and the true continuation (the
/// secret, then the terminator token such as `.`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Prompt tokens.
    pub prompt: Vec<usize>,
    /// Secret tokens (e.g. the digits).
    pub secret: Vec<usize>,
    /// The token that ends a well-formed continuation (e.g. `.`).
    pub end: usize,
}

/// Memorisation metrics of a model on a set of probes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemorisationMetrics {
    /// Fraction of probes whose greedy continuation reproduces the whole secret.
    pub exact: f64,
    /// Fraction of secret tokens predicted by the teacher-forced argmax (MA).
    pub digit_accuracy: f64,
    /// Mean extraction likelihood `EL_n` of sampled continuations (T = 1) against secret + end.
    pub el: f64,
    /// Mean NLL (nats per token) of the secret tokens given the prompt and the true prefix.
    pub secret_nll: f64,
    /// Fraction of greedy continuations of the form `len(secret)` allowed tokens then `end`.
    pub format: f64,
}

/// Computes [`MemorisationMetrics`] on `probes`: `allowed` are the token ids a well-formed secret
/// may use (e.g. the digits), `n` the EL order, `samples` sampled continuations per probe (seeded).
pub fn memorisation_metrics(
    model: &Gpt,
    probes: &[Probe],
    allowed: &[usize],
    n: usize,
    samples: usize,
    seed: u64,
) -> Result<MemorisationMetrics> {
    if probes.is_empty() {
        return Err(invalid("probes", "empty", "need at least one probe"));
    }
    check_nonzero("EL order n", n)?;
    check_nonzero("samples per probe", samples)?;
    let per: Vec<(bool, usize, f64, f64, bool)> = probes
        .par_iter()
        .enumerate()
        .map(|(k, p)| -> Result<(bool, usize, f64, f64, bool)> {
            if p.secret.is_empty() || p.prompt.is_empty() {
                return Err(invalid("probe", k, "needs a non-empty prompt and secret"));
            }
            let len = p.secret.len();
            if len >= model.config.context {
                return Err(invalid("probe secret length", len, "must be shorter than the model context"));
            }
            let greedy = greedy_continuation(model, &p.prompt, len + 1)?;
            let exact = greedy[..len] == p.secret[..];
            let format = greedy[..len].iter().all(|t| allowed.contains(t)) && greedy[len] == p.end;
            // teacher-forced: prompt + secret, predictions at the secret positions
            let mut seq = p.prompt.clone();
            seq.extend_from_slice(&p.secret);
            let ctx = model.config.context;
            let cut = seq.len().saturating_sub(ctx + 1);
            let s = &seq[cut..];
            let inp = &s[..s.len() - 1];
            let (logits, _) = model.forward(inp, inp.len())?;
            let logp = log_softmax_rows(logits.as_ref());
            let first = inp.len() - len; // row predicting the first secret token
            let (mut correct, mut nll) = (0, 0.0);
            for (i, &y) in p.secret.iter().enumerate() {
                let r = first + i;
                let row: Vec<f64> = (0..logits.ncols()).map(|j| logits[(r, j)]).collect();
                if argmax(&row) == y {
                    correct += 1;
                }
                nll -= logp[(r, y)];
            }
            let mut truth = p.secret.clone();
            truth.push(p.end);
            let mut rng = linalg::random::rng(seed.wrapping_add(k as u64 * 7919));
            let mut el = 0.0;
            for _ in 0..samples {
                let g = sample_continuation(model, &p.prompt, len + 1, 1.0, &mut rng)?;
                el += el_n(&g, &truth, n);
            }
            Ok((exact, correct, nll, el / samples as f64, format))
        })
        .collect::<Result<_>>()?;
    let np = probes.len() as f64;
    let ntok: usize = probes.iter().map(|p| p.secret.len()).sum();
    Ok(MemorisationMetrics {
        exact: per.iter().filter(|r| r.0).count() as f64 / np,
        digit_accuracy: per.iter().map(|r| r.1).sum::<usize>() as f64 / ntok as f64,
        el: per.iter().map(|r| r.3).sum::<f64>() / np,
        secret_nll: per.iter().map(|r| r.2).sum::<f64>() / ntok as f64,
        format: per.iter().filter(|r| r.4).count() as f64 / np,
    })
}

/// Per-token perplexity `exp(mean NLL)` of next-token windows (layout of [`Gpt::forward`]) over
/// the positions with `mask == true`, evaluated in chunks of `chunk` windows.
pub fn perplexity(
    model: &Gpt,
    tokens: &[usize],
    targets: &[usize],
    mask: &[bool],
    seq_len: usize,
    chunk: usize,
) -> Result<f64> {
    check_nonzero("window length", seq_len)?;
    check_nonzero("chunk size", chunk)?;
    if tokens.len() != targets.len() || tokens.len() != mask.len() || tokens.is_empty() {
        return Err(mismatch(
            "perplexity windows",
            format!("equal non-empty lengths (tokens {})", tokens.len()),
            format!("targets {}, mask {}", targets.len(), mask.len()),
        ));
    }
    let step = chunk * seq_len;
    let (mut total, mut count) = (0.0, 0usize);
    for s in (0..tokens.len()).step_by(step) {
        let e = (s + step).min(tokens.len());
        let m = &mask[s..e];
        let c = m.iter().filter(|&&b| b).count();
        if c == 0 {
            continue;
        }
        let (logits, _) = model.forward(&tokens[s..e], seq_len)?;
        let (l, _) = softmax_cross_entropy(logits.as_ref(), &targets[s..e], Some(m))?;
        total += l * c as f64;
        count += c;
    }
    if count == 0 {
        return Err(invalid("number of unmasked positions", 0, "must be at least 1"));
    }
    Ok((total / count as f64).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpt::GptConfig;

    fn rand_logits(n: usize, c: usize, seed: u64) -> Mat<f64> {
        linalg::random::gaussian_mat(n, c, seed) * faer::Scale(2.0)
    }

    #[test]
    fn gamma_zero_student_equals_teacher_gives_exact_zero() {
        let z = rand_logits(7, 11, 1);
        let next = [0, 3, 10, 2, 2, 5, 9];
        let l = di_loss(z.as_ref(), z.as_ref(), &next, None, 0.0).unwrap();
        assert_eq!(l.kl, 0.0);
        for j in 0..11 {
            assert!(l.grad.col_as_slice(j).iter().all(|&g| g == 0.0));
        }
        // the cross-entropy form equals the teacher's entropy
        let p = softmax_rows(z.as_ref());
        let h: f64 =
            (0..7).map(|i| -(0..11).map(|j| p[(i, j)] * p[(i, j)].ln()).sum::<f64>()).sum::<f64>() / 7.0;
        assert!((l.cross_entropy - h).abs() < 1e-12);
    }

    fn check_closed_form(z: &Mat<f64>, next: &[usize], gamma: f64) {
        let p = adjusted_targets(z.as_ref(), next, gamma).unwrap();
        let s = softmax_rows(z.as_ref());
        for (i, &y) in next.iter().enumerate() {
            let pi = s[(i, y)];
            let e = (-gamma).exp();
            let sum: f64 = (0..z.ncols()).map(|j| p[(i, j)]).sum();
            assert!((sum - 1.0).abs() < 1e-12);
            let demoted = pi * e / (1.0 - pi + pi * e);
            assert!((p[(i, y)] - demoted).abs() < 1e-12, "{} vs {demoted}", p[(i, y)]);
            let factor = 1.0 / (1.0 - pi * (1.0 - e));
            for j in (0..z.ncols()).filter(|&j| j != y) {
                assert!((p[(i, j)] / s[(i, j)] - factor).abs() < 1e-12 * factor);
            }
            if gamma > 0.0 {
                assert!(p[(i, y)] < pi && factor > 1.0);
            }
        }
    }

    #[test]
    fn adjusted_targets_match_closed_form() {
        let z = rand_logits(5, 9, 2);
        for gamma in [0.0, 0.5, 3.0, 10.0, 30.0] {
            check_closed_form(&z, &[0, 8, 4, 4, 1], gamma);
        }
        // gamma -> infinity: the teacher renormalised over the other tokens
        let p = adjusted_targets(z.as_ref(), &[0, 8, 4, 4, 1], 800.0).unwrap();
        let s = softmax_rows(z.as_ref());
        let rest: f64 = (1..9).map(|j| s[(0, j)]).sum();
        assert!(p[(0, 0)] < 1e-300);
        assert!((p[(0, 3)] - s[(0, 3)] / rest).abs() < 1e-12);
    }

    #[test]
    fn di_gradient_is_q_minus_p_by_finite_differences() {
        let zs = rand_logits(4, 6, 3);
        let zt = rand_logits(4, 6, 4);
        let next = [1, 5, 0, 2];
        let mask = [true, false, true, true];
        let l = di_loss(zs.as_ref(), zt.as_ref(), &next, Some(&mask), 3.0).unwrap();
        let q = softmax_rows(zs.as_ref());
        let p = adjusted_targets(zt.as_ref(), &next, 3.0).unwrap();
        for i in 0..4 {
            for j in 0..6 {
                let want = if mask[i] { (q[(i, j)] - p[(i, j)]) / 3.0 } else { 0.0 };
                assert!((l.grad[(i, j)] - want).abs() < 1e-15);
            }
        }
        for f in [|d: &DiLoss| d.cross_entropy, |d: &DiLoss| d.kl] {
            let fd = crate::gradcheck::finite_difference(&zs, 1e-5, |z| {
                f(&di_loss(z.as_ref(), zt.as_ref(), &next, Some(&mask), 3.0).unwrap())
            })
            .unwrap();
            assert!(crate::gradcheck::relative_error(&fd, &l.grad) < 1e-7);
        }
    }

    #[test]
    fn padding_positions_contribute_nothing() {
        let zs = rand_logits(5, 6, 5);
        let zt = rand_logits(5, 6, 6);
        let next = [1, 5, 0, 2, 3];
        let mask = [true, true, false, true, false];
        let a = di_loss(zs.as_ref(), zt.as_ref(), &next, Some(&mask), 3.0).unwrap();
        let mut zs2 = zs.clone();
        let mut zt2 = zt.clone();
        for j in 0..6 {
            zs2[(2, j)] += 5.0 * j as f64;
            zt2[(4, j)] -= 3.0;
        }
        let b = di_loss(zs2.as_ref(), zt2.as_ref(), &next, Some(&mask), 3.0).unwrap();
        assert_eq!(a.cross_entropy, b.cross_entropy);
        assert_eq!(a.kl, b.kl);
        for j in 0..6 {
            assert_eq!(a.grad[(2, j)], 0.0);
            assert_eq!(a.grad[(4, j)], 0.0);
        }
        let (la, ga) = gradient_ascent_loss(zs.as_ref(), &next, Some(&mask)).unwrap();
        let (lb, _) = gradient_ascent_loss(zs2.as_ref(), &next, Some(&mask)).unwrap();
        assert_eq!(la, lb);
        assert!((0..6).all(|j| ga[(2, j)] == 0.0));
    }

    #[test]
    fn el_n_on_hand_made_cases() {
        assert_eq!(el_n(&[1, 2, 3, 4, 5], &[1, 2, 3, 4, 5], 3), 1.0);
        assert_eq!(el_n(&[1, 2, 3], &[7, 8, 9], 3), 0.0);
        // gen trigrams {123, 239, 399}: one of three is in the truth
        assert!((el_n(&[1, 2, 3, 9, 9], &[1, 2, 3, 4, 5], 3) - 1.0 / 3.0).abs() < 1e-15);
        // repeated n-grams count once (sets)
        assert_eq!(el_n(&[1, 1, 1, 1], &[1, 1, 1], 3), 1.0);
        assert_eq!(el_n(&[1, 2], &[1, 2], 3), 0.0);
        assert_eq!(el_n(&[1, 2, 3], &[1, 2], 3), 0.0);
    }

    fn tiny() -> (Gpt, ForgetSet) {
        let cfg = GptConfig::new(8, 8, 8, 2, 1);
        let model = Gpt::new(cfg, 3).unwrap();
        let tokens: Vec<usize> = (0..16).map(|i| (i * 3 + 1) % 8).collect();
        let targets: Vec<usize> = (0..16).map(|i| (i * 5 + 2) % 8).collect();
        let mut mask = vec![true; 16];
        mask[0] = false;
        let focus: Vec<bool> = (0..16).map(|i| i % 8 >= 5).collect();
        (model, ForgetSet { seq_len: 8, tokens, targets, mask, focus })
    }

    #[test]
    fn teacher_is_unchanged_and_gamma_zero_is_a_fixed_point() {
        let (teacher, forget) = tiny();
        let h = params_hash(&teacher);
        for method in [
            Method::DeliberateImagination { gamma: 3.0, focus: false, anchor: 0.0 },
            Method::DeliberateImagination { gamma: 3.0, focus: true, anchor: 0.0 },
            Method::DeliberateImagination { gamma: 3.0, focus: true, anchor: 1.0 },
            Method::GradientAscent { focus: false },
        ] {
            let mut student = teacher.clone();
            let p = UnlearnParams {
                method,
                optimizer: UnlearnOptimizer::Adam,
                lr: 1e-2,
                steps: 5,
                batch_size: 1,
                seed: 0,
            };
            let log = unlearn(&mut student, &teacher, &forget, &p, &mut |_, _| true).unwrap();
            assert_eq!(log.len(), 5);
            assert_eq!(params_hash(&teacher), h);
            assert_ne!(params_hash(&student), h);
        }
        let mut student = teacher.clone();
        let p = UnlearnParams {
            method: Method::DeliberateImagination { gamma: 0.0, focus: false, anchor: 0.0 },
            optimizer: UnlearnOptimizer::Adam,
            lr: 1e-2,
            steps: 5,
            batch_size: 2,
            seed: 0,
        };
        let log = unlearn(&mut student, &teacher, &forget, &p, &mut |_, _| true).unwrap();
        assert!(log.iter().all(|s| s.grad_norm == 0.0));
        assert_eq!(params_hash(&student), h);
    }

    #[test]
    fn weighted_loss_matches_the_mean_and_its_gradient() {
        let zs = rand_logits(5, 6, 7);
        let zt = rand_logits(5, 6, 8);
        let next = [1, 5, 0, 2, 3];
        let mask = [true, true, false, true, true];
        let a = di_loss(zs.as_ref(), zt.as_ref(), &next, Some(&mask), 3.0).unwrap();
        let w: Vec<f64> = mask.iter().map(|&m| if m { 0.25 } else { 0.0 }).collect();
        let b = di_loss_weighted(zs.as_ref(), zt.as_ref(), &next, &[3.0; 5], &w).unwrap();
        assert!((a.cross_entropy - b.cross_entropy).abs() < 1e-12 && (a.kl - b.kl).abs() < 1e-12);
        // per-row gammas and weights: the gradient is w_i (q_i - p_i) with p_i adjusted by gamma_i
        let gammas = [10.0, 0.0, 1.0, 0.0, 3.0];
        let w = [1.0, 0.3, 0.0, 2.0, 0.5];
        let l = di_loss_weighted(zs.as_ref(), zt.as_ref(), &next, &gammas, &w).unwrap();
        let q = softmax_rows(zs.as_ref());
        for i in 0..5 {
            let p = adjusted_targets(zt.as_ref(), &next, gammas[i]).unwrap();
            for j in 0..6 {
                assert!((l.grad[(i, j)] - w[i] * (q[(i, j)] - p[(i, j)])).abs() < 1e-15);
            }
        }
        let fd = crate::gradcheck::finite_difference(&zs, 1e-5, |z| {
            di_loss_weighted(z.as_ref(), zt.as_ref(), &next, &gammas, &w).unwrap().cross_entropy
        })
        .unwrap();
        assert!(crate::gradcheck::relative_error(&fd, &l.grad) < 1e-7);
        // gamma = 0 rows of a student equal to the teacher contribute exactly nothing
        let l = di_loss_weighted(zt.as_ref(), zt.as_ref(), &next, &[0.0, 0.0, 5.0, 0.0, 0.0], &w).unwrap();
        for i in [0, 1, 3, 4] {
            assert!((0..6).all(|j| l.grad[(i, j)] == 0.0));
        }
        assert!((0..6).all(|j| l.grad[(2, j)] == 0.0)); // weight 0: nothing, even with gamma > 0
        // bad input
        for (g, w) in [([-1.0; 5], [1.0; 5]), ([1.0; 5], [-1.0; 5]), ([1.0; 5], [0.0; 5])] {
            assert!(di_loss_weighted(zs.as_ref(), zt.as_ref(), &next, &g, &w).is_err());
        }
        assert!(di_loss_weighted(zs.as_ref(), zt.as_ref(), &next, &[1.0; 4], &[1.0; 5]).is_err());
    }

    #[test]
    fn retain_anchor_is_a_fixed_point_at_gamma_zero_and_checks_its_windows() {
        let (teacher, forget) = tiny();
        let h = params_hash(&teacher);
        let retain = ForgetSet {
            targets: forget.tokens.iter().map(|t| (t + 1) % 8).collect(),
            focus: vec![false; 16],
            ..forget.clone()
        };
        let anchor = RetainAnchor { windows: &retain, weight: 1.0, batch_size: 1 };
        let mut p = UnlearnParams {
            method: Method::DeliberateImagination { gamma: 0.0, focus: true, anchor: 1.0 },
            optimizer: UnlearnOptimizer::Adam,
            lr: 1e-2,
            steps: 4,
            batch_size: 1,
            seed: 0,
        };
        let mut student = teacher.clone();
        let log =
            unlearn_with_retain(&mut student, &teacher, &forget, Some(anchor), &p, &mut |_, _| true).unwrap();
        assert!(log.iter().all(|s| s.grad_norm == 0.0));
        assert_eq!(params_hash(&student), h);
        p.method = Method::DeliberateImagination { gamma: 3.0, focus: true, anchor: 1.0 };
        unlearn_with_retain(&mut student, &teacher, &forget, Some(anchor), &p, &mut |_, _| true).unwrap();
        assert_eq!(params_hash(&teacher), h);
        assert_ne!(params_hash(&student), h);
        let bad = RetainAnchor { weight: -1.0, ..anchor };
        let e = unlearn_with_retain(&mut student, &teacher, &forget, Some(bad), &p, &mut |_, _| true);
        assert!(e.unwrap_err().to_string().contains("retain weight"));
        let short = ForgetSet { seq_len: 4, ..retain.clone() };
        let e = unlearn_with_retain(
            &mut student,
            &teacher,
            &forget,
            Some(RetainAnchor { windows: &short, ..anchor }),
            &p,
            &mut |_, _| true,
        );
        assert!(e.unwrap_err().to_string().contains("retained window length"));
        let e = p.clone();
        let bad_anchor = UnlearnParams {
            method: Method::DeliberateImagination { gamma: 3.0, focus: true, anchor: f64::NAN },
            ..e
        };
        assert!(unlearn(&mut student, &teacher, &forget, &bad_anchor, &mut |_, _| true).is_err());
    }

    #[test]
    fn bad_input_is_an_error_with_a_message() {
        let (teacher, forget) = tiny();
        let mut student = teacher.clone();
        let ok = UnlearnParams {
            method: Method::DeliberateImagination { gamma: 1.0, focus: false, anchor: 0.0 },
            optimizer: UnlearnOptimizer::Adam,
            lr: 1e-2,
            steps: 1,
            batch_size: 1,
            seed: 0,
        };
        let bad = UnlearnParams {
            method: Method::DeliberateImagination { gamma: -1.0, focus: false, anchor: 0.0 },
            ..ok.clone()
        };
        let e = unlearn(&mut student, &teacher, &forget, &bad, &mut |_, _| true).unwrap_err().to_string();
        assert!(e.contains("gamma"), "{e}");
        let empty = ForgetSet { seq_len: 8, tokens: vec![], targets: vec![], mask: vec![], focus: vec![] };
        let e = unlearn(&mut student, &teacher, &empty, &ok, &mut |_, _| true).unwrap_err().to_string();
        assert!(e.contains("forget set"), "{e}");
        let long = ForgetSet {
            seq_len: 16,
            tokens: forget.tokens.clone(),
            targets: forget.targets.clone(),
            mask: forget.mask.clone(),
            focus: forget.focus.clone(),
        };
        let e = unlearn(&mut student, &teacher, &long, &ok, &mut |_, _| true).unwrap_err().to_string();
        assert!(e.contains("context"), "{e}");
        assert!(greedy_continuation(&teacher, &[], 3).is_err());
        assert_eq!(params_hash(&student), params_hash(&teacher));
    }

    #[test]
    fn metrics_are_in_range_and_greedy_is_consistent() {
        let (model, _) = tiny();
        let probes = vec![
            Probe { prompt: vec![1, 2, 3], secret: vec![4, 5], end: 6 },
            Probe { prompt: vec![7, 1, 2, 3, 4, 5, 6, 7, 1, 2], secret: vec![3, 3, 3], end: 6 },
        ];
        let m = memorisation_metrics(&model, &probes, &[3, 4, 5], 2, 2, 0).unwrap();
        for v in [m.exact, m.digit_accuracy, m.el, m.format] {
            assert!((0.0..=1.0).contains(&v));
        }
        assert!(m.secret_nll > 0.0);
        // a probe whose secret is the greedy continuation is exactly memorised
        let g = greedy_continuation(&model, &[1, 2, 3], 3).unwrap();
        let p = Probe { prompt: vec![1, 2, 3], secret: g[..2].to_vec(), end: g[2] };
        let m = memorisation_metrics(&model, &[p], &g[..2], 2, 1, 0).unwrap();
        assert_eq!((m.exact, m.digit_accuracy, m.format), (1.0, 1.0, 1.0));
    }

    proptest::proptest! {
        #[test]
        fn adjusted_targets_closed_form_holds(seed in 0u64..1000, gamma in 0.0f64..40.0, y in 0usize..6) {
            let z = rand_logits(2, 6, seed);
            check_closed_form(&z, &[y, (y + 1) % 6], gamma);
        }
    }
}

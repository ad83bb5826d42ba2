//! Optimisers (SGD with momentum, Adam / AdamW) and learning-rate schedules.
//!
//! An optimiser keeps its state (velocities, moments) per parameter matrix, in the order of
//! [`Parameters::params`]; call [`Optimizer::step`] with the model's
//! parameters and the gradients from its backward pass.
use crate::error::{Result, check_nonnegative, check_positive, invalid};
use crate::params::{Parameters, check_grads_match};
use faer::Mat;
use serde::{Deserialize, Serialize};

/// A first-order optimiser.
pub trait Optimizer {
    /// Updates the parameters of `model` in place from `grads` (same order and shapes).
    fn step(&mut self, model: &mut dyn Parameters, grads: &[Mat<f64>]) -> Result<()>;
    /// Current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (e.g. from a [`LrSchedule`]); errors unless finite and > 0.
    fn set_lr(&mut self, lr: f64) -> Result<()>;
}

fn prepare(state: &mut Vec<Mat<f64>>, model: &dyn Parameters, grads: &[Mat<f64>]) -> Result<()> {
    let params = model.params();
    check_grads_match(&params, grads)?;
    if let Some((k, g)) = grads.iter().enumerate().find(|(_, g)| !g.as_ref().is_all_finite()) {
        return Err(crate::NnError::Diverged {
            context: format!("gradient {k} ({} x {})", g.nrows(), g.ncols()),
        });
    }
    if state.len() != params.len()
        || state.iter().zip(&params).any(|(s, p)| s.nrows() != p.nrows() || s.ncols() != p.ncols())
    {
        *state = params.iter().map(|p| Mat::zeros(p.nrows(), p.ncols())).collect();
    }
    Ok(())
}

/// Stochastic gradient descent with optional heavy-ball momentum and L2 weight decay:
/// `v <- mu v + (g + wd theta)`, `theta <- theta - lr v`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sgd {
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    #[serde(skip)]
    velocity: Vec<Mat<f64>>,
}

impl Sgd {
    /// Plain SGD with learning rate `lr` (> 0).
    pub fn new(lr: f64) -> Result<Self> {
        check_positive("learning rate", lr)?;
        Ok(Sgd { lr, momentum: 0.0, weight_decay: 0.0, velocity: Vec::new() })
    }
    /// Sets the momentum, in `[0, 1)`.
    pub fn with_momentum(mut self, momentum: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&momentum) {
            return Err(invalid("momentum", momentum, "must be in [0, 1)"));
        }
        self.momentum = momentum;
        Ok(self)
    }
    /// Sets the L2 weight decay (>= 0).
    pub fn with_weight_decay(mut self, wd: f64) -> Result<Self> {
        check_nonnegative("weight decay", wd)?;
        self.weight_decay = wd;
        Ok(self)
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut dyn Parameters, grads: &[Mat<f64>]) -> Result<()> {
        prepare(&mut self.velocity, model, grads)?;
        let (lr, mu, wd) = (self.lr, self.momentum, self.weight_decay);
        for ((p, g), v) in model.params_mut().into_iter().zip(grads).zip(&mut self.velocity) {
            for j in 0..p.ncols() {
                let (pc, gc, vc) = (p.col_as_slice_mut(j), g.col_as_slice(j), v.col_as_slice_mut(j));
                for ((pp, &gg), vv) in pc.iter_mut().zip(gc).zip(vc.iter_mut()) {
                    let d = gg + wd * *pp;
                    *vv = mu * *vv + d;
                    *pp -= lr * *vv;
                }
            }
        }
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_positive("learning rate", lr)?;
        self.lr = lr;
        Ok(())
    }
}

/// Adam (Kingma & Ba) with bias correction; with `decoupled = true` the weight decay is applied
/// directly to the weights (AdamW), otherwise it is added to the gradient.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    t: u64,
    #[serde(skip)]
    m: Vec<Mat<f64>>,
    #[serde(skip)]
    v: Vec<Mat<f64>>,
}

impl Adam {
    /// Adam with learning rate `lr` (> 0), betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(lr: f64) -> Result<Self> {
        check_positive("learning rate", lr)?;
        Ok(Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: true,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        })
    }
    /// AdamW: Adam with decoupled weight decay `wd` (>= 0).
    pub fn adamw(lr: f64, wd: f64) -> Result<Self> {
        check_nonnegative("weight decay", wd)?;
        let mut a = Adam::new(lr)?;
        a.weight_decay = wd;
        a.decoupled = true;
        Ok(a)
    }
    /// Sets the moment decay rates, each in `[0, 1)`.
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Result<Self> {
        for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(invalid(name, b, "must be in [0, 1)"));
            }
        }
        self.beta1 = beta1;
        self.beta2 = beta2;
        Ok(self)
    }
    /// Sets epsilon (> 0).
    pub fn with_eps(mut self, eps: f64) -> Result<Self> {
        check_positive("eps", eps)?;
        self.eps = eps;
        Ok(self)
    }
    /// Weight decay added to the gradient (classic L2 Adam) instead of decoupled.
    pub fn with_l2_weight_decay(mut self, wd: f64) -> Result<Self> {
        check_nonnegative("weight decay", wd)?;
        self.weight_decay = wd;
        self.decoupled = false;
        Ok(self)
    }
    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }
}

impl Optimizer for Adam {
    fn step(&mut self, model: &mut dyn Parameters, grads: &[Mat<f64>]) -> Result<()> {
        prepare(&mut self.m, model, grads)?;
        prepare(&mut self.v, model, grads)?;
        self.t += 1;
        let (b1, b2, eps, lr, wd) = (self.beta1, self.beta2, self.eps, self.lr, self.weight_decay);
        let c1 = 1.0 - b1.powi(self.t as i32);
        let c2 = 1.0 - b2.powi(self.t as i32);
        let params = model.params_mut();
        for (((p, g), m), v) in params.into_iter().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            for j in 0..p.ncols() {
                let pc = p.col_as_slice_mut(j);
                let gc = g.col_as_slice(j);
                let mc = m.col_as_slice_mut(j);
                let vc = v.col_as_slice_mut(j);
                for i in 0..pc.len() {
                    let mut gg = gc[i];
                    if !self.decoupled {
                        gg += wd * pc[i];
                    }
                    mc[i] = b1 * mc[i] + (1.0 - b1) * gg;
                    vc[i] = b2 * vc[i] + (1.0 - b2) * gg * gg;
                    let upd = (mc[i] / c1) / ((vc[i] / c2).sqrt() + eps);
                    if self.decoupled {
                        pc[i] -= lr * wd * pc[i];
                    }
                    pc[i] -= lr * upd;
                }
            }
        }
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_positive("learning rate", lr)?;
        self.lr = lr;
        Ok(())
    }
}

/// A learning-rate schedule: the rate at step `t` (0-based) as a function of the base rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `factor` every `every` steps: `base * factor^(t / every)` (a step schedule;
    /// `factor > 1` raises the rate, as in the multiple-catapult experiment).
    Step {
        /// Steps between changes.
        every: usize,
        /// Multiplicative factor per change.
        factor: f64,
        /// Maximum number of changes (the rate stays constant after them).
        max_changes: usize,
    },
    /// Linear warm-up over `warmup` steps, then cosine decay to `floor * base` at `total` steps.
    WarmupCosine {
        /// Warm-up steps.
        warmup: usize,
        /// Total steps.
        total: usize,
        /// Final rate as a fraction of the base rate.
        floor: f64,
    },
}

impl LrSchedule {
    /// Checks the schedule's own parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { every, factor, .. } => {
                crate::error::check_nonzero("schedule step length", every)?;
                check_positive("schedule factor", factor)
            }
            LrSchedule::WarmupCosine { total, floor, .. } => {
                crate::error::check_nonzero("schedule total steps", total)?;
                if !(0.0..=1.0).contains(&floor) {
                    return Err(invalid("schedule floor", floor, "must be in [0, 1]"));
                }
                Ok(())
            }
        }
    }

    /// The learning rate at step `t` for base rate `base`.
    pub fn lr_at(&self, base: f64, t: usize) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, factor, max_changes } => {
                base * factor.powi((t / every.max(1)).min(max_changes) as i32)
            }
            LrSchedule::WarmupCosine { warmup, total, floor } => {
                if t < warmup {
                    return base * (t + 1) as f64 / warmup as f64;
                }
                let span = total.saturating_sub(warmup).max(1) as f64;
                let p = ((t - warmup) as f64 / span).min(1.0);
                base * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
            }
        }
    }
}

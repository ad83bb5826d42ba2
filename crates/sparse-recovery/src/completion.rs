//! lin-RFM for low-rank matrix completion.
//!
//! State: a PSD feature matrix `M_t` (`d2 x d2`), `M_0 = I`. Each iteration
//!
//! 1. fits every row by kernel ridge regression on its observed entries with the kernel
//!    `K_t = M_t^T M_t` ([`crate::kernel_step::kernel_regression_rows`]), giving `Yhat_t`;
//! 2. optionally replaces the observed entries of `Yhat_t` by their values;
//! 3. forms the AGOP `G_t = Yhat_t^T Yhat_t / d1` and sets `M_{t+1} = (G_t + eps_t I)^alpha`
//!    (negative eigenvalues clipped).
//!
//! Only `K = (G + eps I)^(2 alpha)` enters the fit. [`KernelMethod::Auto`] uses that: `alpha = 1/2`
//! is the SVD-free path (`K = G + eps I`, no decomposition at all) and `alpha = 1` needs one GEMM
//! (`K = (G + eps I)^2`); other exponents (or [`KernelMethod::Eigen`]) go through a symmetric
//! eigendecomposition `M = U diag(max(l, 0)^alpha) U^T`, `K = M M`.
//!
//! Ridge schedule (reference code): `reg` (5e-2) until the validation error falls below
//! `reg_switch` (0.1), then `min(reg, reg_final)` (1e-3).
//!
//! Stopping without an oracle: a seeded `holdout` fraction (5%) of the observed entries is kept out
//! of the fit. Its relative MSE decides early stopping (below `tol`, or no improvement for
//! `patience` iterations) and which iterate is returned (the best one). The error on the truly
//! unobserved entries is never used: compute it in the observer if you know the truth.
use crate::error::{Result, SparseRecoveryError, check_nonnegative, check_positive, invalid};
use crate::kernel_step::{AgopPrecision, RowPassScratch, fit_rows_with_agop_in, sym_square, sym_square_f32};
use crate::observations::Observations;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What an observer tells an iterative method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// Keep iterating.
    Continue,
    /// Stop now (the best iterate so far is returned).
    Stop,
}

/// How the kernel `K = M^T M` is computed from the AGOP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum KernelMethod {
    /// SVD-free shortcuts for `alpha = 1/2` (`K = G`) and `alpha = 1` (`K = G^2`), the
    /// eigendecomposition otherwise.
    #[default]
    Auto,
    /// Always `M = G^alpha` by a symmetric eigendecomposition, then `K = M M` (the general path).
    Eigen,
}

/// Optional smoothing `M = (G + eps I)^alpha`, `eps = eps_rel * trace(G) / d2` (relative to the
/// mean eigenvalue, so the setting does not depend on the scale of the data).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum Epsilon {
    /// No smoothing (the reference code).
    #[default]
    Off,
    /// `eps_rel = initial * factor^t`, floored at `min`.
    Geometric {
        /// Relative epsilon at iteration 0.
        initial: f64,
        /// Decay per iteration, in `(0, 1]`.
        factor: f64,
        /// Floor of the relative epsilon (`>= 0`).
        min: f64,
    },
}

impl Epsilon {
    fn validate(&self) -> Result<()> {
        if let Epsilon::Geometric { initial, factor, min } = *self {
            check_nonnegative("epsilon initial", initial)?;
            check_nonnegative("epsilon min", min)?;
            if !(factor.is_finite() && factor > 0.0 && factor <= 1.0) {
                return Err(invalid("epsilon factor", factor, "must be in (0, 1]"));
            }
        }
        Ok(())
    }
    /// Relative epsilon at iteration `t`.
    pub fn at(&self, t: usize) -> f64 {
        match *self {
            Epsilon::Off => 0.0,
            Epsilon::Geometric { initial, factor, min } => {
                (initial * factor.powi(t.min(100_000) as i32)).max(min)
            }
        }
    }
}

/// Stopping rules shared by lin-RFM and IRLS.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stopping {
    /// Maximum number of iterations (row fits).
    pub max_iters: usize,
    /// Stop when the validation relative MSE is below this (or, without validation entries, when
    /// the relative change of the prediction between two iterations is below it).
    pub tol: f64,
    /// Stop after this many iterations without a new best validation error.
    pub patience: usize,
    /// Fraction of the observed entries held out for validation, in `[0, 1)`.
    pub holdout: f64,
    /// Seed of the hold-out split.
    pub seed: u64,
    /// Once the ridge schedule has switched (the hold-out error fell below `reg_switch`), put the
    /// held-out entries back into the fit and from then on stop when the relative change of the
    /// prediction between two iterations is below this tolerance (the last iterate is returned).
    /// Near the information limit every observation counts: at 4% observed the 5% hold-out costs
    /// about a third more iterations. `None`: keep the hold-out to the end.
    #[serde(default)]
    pub merge_after_switch: Option<f64>,
}

impl Default for Stopping {
    fn default() -> Self {
        Stopping {
            max_iters: 3000,
            tol: 1e-6,
            patience: 50,
            holdout: 0.05,
            seed: 0,
            merge_after_switch: None,
        }
    }
}

/// Hyperparameters of lin-RFM matrix completion. Defaults: the reference code's `alpha = 1`,
/// `reg = 5e-2` dropping to `1e-3` below a validation error of 0.1, replace on, no epsilon, 3000
/// iterations, 5% hold-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinRfmParams {
    /// Exponent `alpha > 0` of `M = G^alpha` (implied kernel `G^(2 alpha)`; IRLS-p with `p = 2 - 4 alpha`).
    pub alpha: f64,
    /// Initial ridge of the row solves (`> 0`).
    pub reg: f64,
    /// Ridge after the switch (`> 0`).
    pub reg_final: f64,
    /// Validation relative MSE below which the ridge switches to `reg_final`.
    pub reg_switch: f64,
    /// Overwrite observed entries of the prediction before the AGOP.
    pub replace: bool,
    /// Epsilon smoothing.
    pub epsilon: Epsilon,
    /// Kernel computation.
    pub method: KernelMethod,
    /// Stopping rules and hold-out.
    pub stopping: Stopping,
    /// Form the AGOP `G = Yhat^T Yhat / d1` with an `f32` GEMM (about half the time of the `f64`
    /// one, the dominant cost of the SVD-free iteration) and, for `alpha = 1`, the kernel
    /// `K = G^2` too; the row solves stay `f64`. The rounding error of `K`, about `1e-7 ||K||`,
    /// is of the order of the final ridge relative to `||K||` for `alpha = 1`, yet measured on the
    /// 500 x 500 headline instance it changes neither the iterations to an unobserved-entry MSE
    /// of 1e-3 nor the final error beyond the third digit (5.22e-6 vs 5.19e-6 after 3000
    /// iterations at alpha = 1; 2120 vs 2119 iterations at alpha = 1/2). Off by default.
    #[serde(default)]
    pub agop_f32: bool,
    /// Heavy-ball momentum `beta` in `[0, 1)` on the AGOP input (0 = the reference algorithm,
    /// the default): iteration `t` forms its AGOP from `Z_t = Yhat_t + beta (Yhat_t - Yhat_{t-1})`
    /// instead of `Yhat_t`. The prediction itself, the stopping rules and the returned iterate are
    /// unchanged; only the kernel of the next fit sees the extrapolation. Late iterations of
    /// lin-RFM contract slowly and almost linearly (the error falls by a near-constant factor per
    /// iteration), which is where momentum pays: `beta = 0.9` cuts the iterations to a relative
    /// error of 1e-2 on 2000 x 2000 / 5000 x 5000 rank-5 completion by 3-5x at no cost per
    /// iteration, and on the 500 x 500 headline instance (reference ridge schedule, hold-out
    /// merged after the switch) by about 4x (alpha = 1) and 10x (alpha = 1/2) to an MSE of 1e-3.
    /// Momentum is dropped for one iteration (restart) at iteration 0, when the hold-out is
    /// merged, after any rise of the hold-out error and, without hold-out, when the relative
    /// change of the prediction more than doubled.
    #[serde(default)]
    pub momentum: f64,
}

impl Default for LinRfmParams {
    fn default() -> Self {
        LinRfmParams {
            alpha: 1.0,
            reg: 5e-2,
            reg_final: 1e-3,
            reg_switch: 0.1,
            replace: true,
            epsilon: Epsilon::Off,
            method: KernelMethod::Auto,
            stopping: Stopping::default(),
            agop_f32: false,
            momentum: 0.0,
        }
    }
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident, $($field:ident).+, $t:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.$($field).+ = v;
            self
        }
    };
}
pub(crate) use setter;

impl LinRfmParams {
    /// Defaults with exponent `alpha`.
    pub fn new(alpha: f64) -> Self {
        LinRfmParams { alpha, ..Default::default() }
    }
    setter!(/// Sets alpha.
        with_alpha, alpha, f64);
    setter!(/// Sets the initial ridge.
        with_reg, reg, f64);
    setter!(/// Sets the ridge after the switch.
        with_reg_final, reg_final, f64);
    setter!(/// Sets the validation error below which the ridge switches.
        with_reg_switch, reg_switch, f64);
    setter!(/// Replace observed entries.
        with_replace, replace, bool);
    setter!(/// Epsilon smoothing.
        with_epsilon, epsilon, Epsilon);
    setter!(/// Kernel computation.
        with_method, method, KernelMethod);
    setter!(/// Stopping rules.
        with_stopping, stopping, Stopping);
    setter!(/// AGOP GEMM in `f32`.
        with_agop_f32, agop_f32, bool);
    setter!(/// Heavy-ball momentum on the AGOP input (see [`LinRfmParams::momentum`]).
        with_momentum, momentum, f64);
    setter!(/// Maximum iterations.
        with_max_iters, stopping.max_iters, usize);
    setter!(/// Tolerance.
        with_tol, stopping.tol, f64);
    setter!(/// Patience.
        with_patience, stopping.patience, usize);
    setter!(/// Hold-out fraction.
        with_holdout, stopping.holdout, f64);
    setter!(/// Seed of the hold-out split.
        with_seed, stopping.seed, u64);
    setter!(/// Merge the hold-out into the fit after the ridge switch (change tolerance).
        with_merge_after_switch, stopping.merge_after_switch, Option<f64>);

    /// Checks every hyperparameter.
    pub fn validate(&self) -> Result<()> {
        check_positive("alpha", self.alpha)?;
        if self.alpha > 16.0 {
            return Err(invalid("alpha", self.alpha, "must be at most 16 (G^(2 alpha) overflows)"));
        }
        check_positive("reg", self.reg)?;
        check_positive("reg_final", self.reg_final)?;
        check_nonnegative("reg_switch", self.reg_switch)?;
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(invalid("momentum", self.momentum, "must be in [0, 1)"));
        }
        self.epsilon.validate()?;
        self.stopping.validate_pub()
    }

    /// Fits on `obs` without an observer.
    ///
    /// ```
    /// use sparse_recovery::{LinRfmParams, low_rank_instance};
    /// let inst = low_rank_instance(40, 40, 1, 960, 3).unwrap(); // rank 1, 60% observed
    /// let fit = LinRfmParams::new(0.5).with_holdout(0.0).with_max_iters(100).fit(&inst.observed).unwrap();
    /// assert!(inst.unobserved_error(fit.prediction()).unwrap().relative < 1e-3);
    /// ```
    pub fn fit(&self, obs: &Observations) -> Result<CompletionFit> {
        self.fit_with(obs, &mut |_| Control::Continue)
    }

    /// Fits on `obs`, calling `observer` after every iteration.
    pub fn fit_with(
        &self,
        obs: &Observations,
        observer: &mut dyn FnMut(&CompletionStep<'_>) -> Control,
    ) -> Result<CompletionFit> {
        self.validate()?;
        let alpha = self.alpha;
        let method = self.method;
        let eps = self.epsilon;
        let square_f32 = self.agop_f32;
        let mut update = |g: Mat<f64>, t: usize, _val: Option<f64>| -> Result<(Mat<f64>, f64)> {
            let e = eps.at(t) * linalg::sym::trace(g.as_ref()) / g.nrows() as f64;
            Ok((kernel_from_agop_with(g, alpha, e, method, square_f32)?, e))
        };
        let sched = RegSchedule { reg: self.reg, reg_final: self.reg_final, switch: self.reg_switch };
        let opts = LoopOptions { replace: self.replace, agop_f32: self.agop_f32, momentum: self.momentum };
        run_iterations(obs, &self.stopping, sched, opts, "lin-RFM", &mut update, observer)
    }
}

/// `M = (G + eps I)^alpha` by a symmetric eigendecomposition (negative eigenvalues clipped).
///
/// Errors: non-square or non-finite `g`, `alpha <= 0`, `eps < 0`.
pub fn feature_matrix(g: MatRef<'_, f64>, alpha: f64, eps: f64) -> Result<Mat<f64>> {
    check_positive("alpha", alpha)?;
    check_nonnegative("epsilon", eps)?;
    linalg::validate::check_square("AGOP", g)?;
    let mut ge = g.to_owned();
    for i in 0..ge.nrows() {
        ge[(i, i)] += eps;
    }
    Ok(linalg::sym::sym_power(ge.as_ref(), alpha)?)
}

/// The kernel `K = M^T M = (G + eps I)^(2 alpha)` used by the row fits (see [`KernelMethod`]).
pub fn kernel_from_agop(g: Mat<f64>, alpha: f64, eps: f64, method: KernelMethod) -> Result<Mat<f64>> {
    kernel_from_agop_with(g, alpha, eps, method, false)
}

/// [`kernel_from_agop`]; with `square_f32` the `alpha = 1` shortcut squares `G + eps I` with an
/// `f32` GEMM ([`crate::kernel_step::sym_square_f32`], see [`LinRfmParams::agop_f32`]).
pub fn kernel_from_agop_with(
    mut g: Mat<f64>,
    alpha: f64,
    eps: f64,
    method: KernelMethod,
    square_f32: bool,
) -> Result<Mat<f64>> {
    check_positive("alpha", alpha)?;
    check_nonnegative("epsilon", eps)?;
    linalg::validate::check_square("AGOP", g.as_ref())?;
    if !g.as_ref().is_all_finite() {
        return Err(SparseRecoveryError::Diverged {
            method: "lin-RFM".into(),
            iter: 0,
            hint: "the AGOP is not finite; lower alpha or raise reg".into(),
        });
    }
    match method {
        KernelMethod::Auto if alpha == 0.5 => {
            for i in 0..g.nrows() {
                g[(i, i)] += eps;
            }
            Ok(g)
        }
        KernelMethod::Auto if alpha == 1.0 => {
            for i in 0..g.nrows() {
                g[(i, i)] += eps;
            }
            Ok(if square_f32 { sym_square_f32(&g) } else { sym_square(&g) })
        }
        _ => {
            let m = feature_matrix(g.as_ref(), alpha, eps)?;
            Ok(sym_square(&m))
        }
    }
}

/// The state an observer sees after each iteration.
#[derive(Debug, Clone)]
pub struct CompletionStep<'a> {
    /// Iteration index (0 = the fit with `M_0 = I`).
    pub iter: usize,
    /// Ridge used in this iteration.
    pub reg: f64,
    /// Absolute epsilon of the kernel used in this iteration.
    pub epsilon: f64,
    /// Relative MSE of the fit on the training entries before replacement.
    pub train_rel_mse: f64,
    /// Relative MSE on the held-out entries (`None` without hold-out).
    pub val_rel_mse: Option<f64>,
    /// `||Yhat_t - Yhat_{t-1}||_F / ||Yhat_t||_F` (1 at iteration 0).
    pub change: f64,
    /// Seconds spent in this iteration (fit + AGOP + kernel of the next one are counted in the next).
    pub seconds: f64,
    /// Seconds since the start of the fit.
    pub elapsed: f64,
    /// The prediction `Yhat_t` (`d1 x d2`).
    pub prediction: MatRef<'a, f64>,
}

/// One row of [`CompletionFit::history`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IterRecord {
    /// Iteration.
    pub iter: usize,
    /// Ridge.
    pub reg: f64,
    /// Absolute epsilon.
    pub epsilon: f64,
    /// Training relative MSE before replacement.
    pub train_rel_mse: f64,
    /// Validation relative MSE (NaN without hold-out).
    pub val_rel_mse: f64,
    /// Relative change of the prediction.
    pub change: f64,
    /// Seconds since the start.
    pub elapsed: f64,
    /// Momentum used for the AGOP of this iteration (0 at a restart).
    #[serde(default)]
    pub momentum: f64,
}

/// Why an iteration stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// Validation error (or change) below `tol`.
    Converged,
    /// No new best validation error for `patience` iterations.
    Patience,
    /// `max_iters` reached.
    MaxIters,
    /// The observer asked to stop.
    Observer,
}

/// Result of a completion method: the best iterate (by validation error; the last one without
/// hold-out) and the history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletionFit {
    d1: usize,
    d2: usize,
    /// Row-major prediction.
    pred: Vec<f64>,
    /// Iterations run.
    pub iters: usize,
    /// Iteration of the returned prediction.
    pub best_iter: usize,
    /// Validation relative MSE of the returned prediction (`None` without hold-out).
    pub best_val_rel_mse: Option<f64>,
    /// Why the loop ended.
    pub stop: StopReason,
    /// Per-iteration record.
    pub history: Vec<IterRecord>,
    /// Wall-clock seconds of the whole fit.
    pub seconds: f64,
}

impl CompletionFit {
    /// The completed matrix (`d1 x d2`, a row-major view).
    pub fn prediction(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.pred, self.d1, self.d2)
    }
    /// The completed matrix as a row-major slice.
    pub fn prediction_row_major(&self) -> &[f64] {
        &self.pred
    }
    /// Builds a fit from a row-major prediction (used by the baselines).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        d1: usize,
        d2: usize,
        pred: Vec<f64>,
        iters: usize,
        best_iter: usize,
        best_val_rel_mse: Option<f64>,
        stop: StopReason,
        history: Vec<IterRecord>,
        seconds: f64,
    ) -> Self {
        CompletionFit { d1, d2, pred, iters, best_iter, best_val_rel_mse, stop, history, seconds }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RegSchedule {
    pub reg: f64,
    pub reg_final: f64,
    pub switch: f64,
}

/// Relative MSE of a row-major prediction on `obs`.
pub(crate) fn rel_mse_rows(obs: &Observations, pred: &[f64]) -> f64 {
    let d2 = obs.d2();
    let (mut e, mut n) = (0.0, 0.0);
    for i in 0..obs.d1() {
        let (c, v) = obs.row(i);
        for (&j, &y) in c.iter().zip(v) {
            let d = pred[i * d2 + j] - y;
            e += d * d;
            n += y * y;
        }
    }
    if n > 0.0 { e / n } else { e / obs.nnz() as f64 }
}

/// Per-method switches of [`run_iterations`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopOptions {
    /// Overwrite observed entries of the prediction before the AGOP.
    pub replace: bool,
    /// AGOP GEMM in `f32`.
    pub agop_f32: bool,
    /// Heavy-ball momentum on the AGOP input (0: none).
    pub momentum: f64,
}

/// `update(G_t, t, val) -> (K_{t+1}, eps)`.
pub(crate) type KernelUpdate<'a> = dyn FnMut(Mat<f64>, usize, Option<f64>) -> Result<(Mat<f64>, f64)> + 'a;

/// The loop shared by lin-RFM and IRLS: `update(G_t, t, val) -> (K_{t+1}, eps)`.
pub(crate) fn run_iterations(
    obs: &Observations,
    stopping: &Stopping,
    sched: RegSchedule,
    opts: LoopOptions,
    name: &str,
    update: &mut KernelUpdate<'_>,
    observer: &mut dyn FnMut(&CompletionStep<'_>) -> Control,
) -> Result<CompletionFit> {
    let start = Instant::now();
    let (d1, d2) = (obs.d1(), obs.d2());
    let (mut train, mut val) = obs.split_holdout(stopping.holdout, stopping.seed)?;
    let mut train_ms = train.mean_square().max(f64::MIN_POSITIVE);
    let mut merged = false;
    let mut kernel = Mat::<f64>::identity(d2, d2);
    let mut eps = 0.0;
    let mut reg = sched.reg;
    let mut out = vec![0.0; d1 * d2];
    let mut prev = vec![0.0; d1 * d2];
    let mut best: Option<(Vec<f64>, usize, f64)> = None;
    let mut history = Vec::new();
    let mut since_best = 0usize;
    let mut stop = StopReason::MaxIters;
    let mut iters = 0;
    let mut t_iter = Instant::now();
    let mut scratch = RowPassScratch::default();
    let precision = if opts.agop_f32 { AgopPrecision::F32 } else { AgopPrecision::F64 };
    // momentum restarts: none at iteration 0, after a worse stopping criterion and at the merge
    let mut restart = true;
    let mut last_crit = f64::INFINITY;
    for t in 0..stopping.max_iters {
        iters = t + 1;
        let beta = if restart { 0.0 } else { opts.momentum };
        std::mem::swap(&mut out, &mut prev);
        let pass = fit_rows_with_agop_in(
            &kernel,
            &train,
            reg,
            opts.replace,
            &prev,
            &mut out,
            precision,
            beta,
            &mut scratch,
        )?;
        let resid = pass.resid;
        if !pass.finite {
            return Err(SparseRecoveryError::Diverged {
                method: name.into(),
                iter: t,
                hint: "the prediction is not finite; raise reg".into(),
            });
        }
        let train_rel = resid / train.nnz() as f64 / train_ms;
        let change = if t == 0 { 1.0 } else { (pass.change_sq / pass.pred_sq.max(f64::MIN_POSITIVE)).sqrt() };
        let val_rel = val.as_ref().map(|v| rel_mse_rows(v, &out));
        let crit = val_rel.unwrap_or(change);
        // restart on any rise of the hold-out error, but only when the change of the prediction
        // (the criterion without hold-out) more than doubles: heavy-ball steps oscillate in length
        // by nature, and restarting on every such wiggle throws the momentum away (on the 500 x 500
        // headline about every other iteration, 780 instead of 180 iterations to MSE 1e-3)
        let slack = if val_rel.is_some() { 1.0 } else { 2.0 };
        restart = crit.is_nan() || crit > slack * last_crit;
        last_crit = crit;
        let improved = match (&best, val_rel) {
            (_, None) => true,
            (None, Some(_)) => true,
            (Some((_, _, b)), Some(v)) => v < *b,
        };
        if improved {
            match &mut best {
                Some((buf, it, b)) if val_rel.is_some() => {
                    buf.copy_from_slice(&out);
                    *it = t;
                    *b = crit;
                }
                _ if val_rel.is_some() => best = Some((out.clone(), t, crit)),
                _ => best = Some((Vec::new(), t, crit)),
            }
            since_best = 0;
        } else {
            since_best += 1;
        }
        let seconds = t_iter.elapsed().as_secs_f64();
        let elapsed = start.elapsed().as_secs_f64();
        history.push(IterRecord {
            iter: t,
            reg,
            epsilon: eps,
            train_rel_mse: train_rel,
            val_rel_mse: val_rel.unwrap_or(f64::NAN),
            change,
            elapsed,
            momentum: beta,
        });
        let step = CompletionStep {
            iter: t,
            reg,
            epsilon: eps,
            train_rel_mse: train_rel,
            val_rel_mse: val_rel,
            change,
            seconds,
            elapsed,
            prediction: MatRef::from_row_major_slice(&out, d1, d2),
        };
        if observer(&step) == Control::Stop {
            stop = StopReason::Observer;
            break;
        }
        let tol = match stopping.merge_after_switch {
            Some(change_tol) if merged => change_tol,
            _ => stopping.tol,
        };
        if (t > 0 || val_rel.is_some()) && crit < tol {
            stop = StopReason::Converged;
            break;
        }
        if since_best >= stopping.patience {
            stop = StopReason::Patience;
            break;
        }
        if t + 1 == stopping.max_iters {
            break;
        }
        if crit < sched.switch {
            reg = reg.min(sched.reg_final);
            if stopping.merge_after_switch.is_some() && !merged && val.is_some() {
                train = obs.clone();
                train_ms = train.mean_square().max(f64::MIN_POSITIVE);
                val = None;
                merged = true;
                since_best = 0;
                restart = true;
                last_crit = f64::INFINITY;
            }
        }
        t_iter = Instant::now();
        let (k, e) = update(pass.agop, t, val_rel)?;
        kernel = k;
        eps = e;
    }
    let (pred, best_iter, best_val) = match best {
        Some((buf, it, b)) if val.is_some() => (buf, it, Some(b)),
        _ => (out, iters - 1, None),
    };
    Ok(CompletionFit::from_parts(
        d1,
        d2,
        pred,
        iters,
        best_iter,
        best_val,
        stop,
        history,
        start.elapsed().as_secs_f64(),
    ))
}

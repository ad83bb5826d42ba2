//! EigenPro: preconditioned mini-batch SGD for kernel regression with automatic batch and step size,
//! streamed kernel blocks `K(X_B, X)` (no `n x n` matrix), multiple outputs, an observer per epoch
//! and early stopping.
use crate::engine::{KernelData, Precision, Real, gather_rows, to_real};
use crate::error::{PrecondError, Result, invalid};
use crate::preconditioner::{Preconditioner, PreconditionerParams};
use faer::{Accum, Mat, MatRef};
use kernels::{KernelSolver, KernelSystem, SolverReport};
use linalg::default_par;
use linalg::validate::{check_data, check_same_rows};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What an observer tells the solver after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this epoch.
    Stop,
}

/// Hyperparameters of the EigenPro solver.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EigenProParams {
    /// The preconditioner.
    pub precond: PreconditionerParams,
    /// Maximum number of epochs (>= 1).
    pub epochs: usize,
    /// Batch size; `None`: the critical batch `m* = beta / lambda_(q+1)`, capped by `max_batch`.
    pub batch_size: Option<usize>,
    /// Cap of the automatic batch size.
    pub max_batch: usize,
    /// Multiplier of the automatic step size (1 = the linear-scaling rule).
    pub step_scale: f64,
    /// Stop when the relative train MSE `||K alpha - y||^2 / ||y||^2` of an epoch falls below this (0: never).
    pub tol: f64,
    /// Early stopping on the validation set: stop after this many epochs without a better
    /// validation accuracy and keep the best coefficients (0: off).
    pub patience: usize,
    /// Working precision of the kernel blocks.
    pub precision: Precision,
    /// Seed of the batch order.
    pub seed: u64,
}

impl Default for EigenProParams {
    /// Nystrom `s = 1000`, `q = 100`; 10 epochs, automatic batch (cap 4096) and step, `f32`.
    fn default() -> Self {
        EigenProParams {
            precond: PreconditionerParams::default(),
            epochs: 10,
            batch_size: None,
            max_batch: 4096,
            step_scale: 1.0,
            tol: 0.0,
            patience: 0,
            precision: Precision::F32,
            seed: 0,
        }
    }
}

/// State after one epoch, given to the observer.
#[derive(Debug, Clone, Serialize)]
pub struct EpochStats {
    /// Epoch number (1-based).
    pub epoch: usize,
    /// Running train MSE of the epoch: mean over points of `||f(x_i) - y_i||^2`, each measured on its
    /// batch just before the update.
    pub train_mse: f64,
    /// `train_mse` relative to the mean of `||y_i||^2`.
    pub rel_train_mse: f64,
    /// Validation accuracy (when a validation set was given).
    pub val_accuracy: Option<f64>,
    /// Seconds since the start of the fit (setup included).
    pub seconds: f64,
}

/// A validation set for early stopping and progress: inputs and class labels (argmax of outputs).
#[derive(Debug, Clone, Copy)]
pub struct Validation<'a> {
    /// Inputs (`m x d`).
    pub x: MatRef<'a, f64>,
    /// Labels.
    pub labels: &'a [usize],
}

/// Result of an EigenPro fit.
#[derive(Debug, Clone)]
pub struct EigenProFit {
    /// Coefficients (`n x c`).
    pub alpha: Mat<f64>,
    /// The preconditioner used.
    pub precond: Preconditioner,
    /// Batch size used.
    pub batch_size: usize,
    /// Step per sample used.
    pub step: f64,
    /// Per-epoch statistics.
    pub history: Vec<EpochStats>,
    /// Seconds of the whole fit (setup included).
    pub seconds: f64,
}

impl EigenProParams {
    /// Parameters with this preconditioner and defaults otherwise.
    pub fn new(precond: PreconditionerParams) -> Self {
        EigenProParams { precond, ..Default::default() }
    }
    /// Sets the maximum number of epochs.
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }
    /// Sets a fixed batch size.
    pub fn with_batch_size(mut self, m: usize) -> Self {
        self.batch_size = Some(m);
        self
    }
    /// Sets the tolerance on the relative train MSE.
    pub fn with_tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }
    /// Sets the precision.
    pub fn with_precision(mut self, p: Precision) -> Self {
        self.precision = p;
        self
    }
    /// Sets the seed (batch order, sampling and eigensolver).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self.precond.seed = seed;
        self
    }
    /// Sets the early-stopping patience.
    pub fn with_patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Checks the hyperparameters for `n` training points.
    pub fn validate(&self, n: usize) -> Result<()> {
        self.precond.validate(n)?;
        if self.epochs == 0 {
            return Err(invalid("epochs", 0, "must be >= 1"));
        }
        if self.batch_size == Some(0) || self.max_batch == 0 {
            return Err(invalid("batch size", 0, "must be >= 1"));
        }
        if !(self.step_scale.is_finite() && self.step_scale > 0.0) {
            return Err(invalid("step scale", self.step_scale, "must be finite and > 0"));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(invalid("tolerance", self.tol, "must be finite and >= 0"));
        }
        Ok(())
    }

    /// Builds the preconditioner and runs EigenPro on `(K + ridge I) alpha = y`.
    ///
    /// `warm_start` initialises the coefficients; `val` enables validation accuracy and early
    /// stopping; the observer sees every epoch's statistics and coefficients and may stop the run.
    pub fn fit<T: Real>(
        &self,
        data: &KernelData<'_, T>,
        y: MatRef<'_, f64>,
        ridge: f64,
        warm_start: Option<MatRef<'_, f64>>,
        val: Option<Validation<'_>>,
        observer: &mut dyn FnMut(&EpochStats, MatRef<'_, f64>) -> Control,
    ) -> Result<EigenProFit> {
        let t0 = Instant::now();
        self.validate(data.n())?;
        let precond = self.precond.build(data)?;
        self.fit_with_preconditioner(data, y, ridge, precond, warm_start, val, t0, observer)
    }

    /// [`EigenProParams::fit`] with an already built preconditioner; `t0` is the start of the
    /// clock reported in [`EpochStats::seconds`].
    #[allow(clippy::too_many_arguments)]
    pub fn fit_with_preconditioner<T: Real>(
        &self,
        data: &KernelData<'_, T>,
        y: MatRef<'_, f64>,
        ridge: f64,
        precond: Preconditioner,
        warm_start: Option<MatRef<'_, f64>>,
        val: Option<Validation<'_>>,
        t0: Instant,
        observer: &mut dyn FnMut(&EpochStats, MatRef<'_, f64>) -> Control,
    ) -> Result<EigenProFit> {
        let n = data.n();
        self.validate(n)?;
        check_data("targets", y).map_err(kernels::KernelError::from)?;
        if y.nrows() != n {
            return Err(invalid(
                "targets",
                format!("{} rows", y.nrows()),
                format!("need one row per training point ({n})"),
            ));
        }
        if !(ridge.is_finite() && ridge >= 0.0) {
            return Err(invalid("ridge", ridge, "must be finite and >= 0"));
        }
        if precond.indices.iter().any(|&i| i >= n) {
            return Err(invalid(
                "preconditioner",
                "sample indices",
                format!("were built for more than {n} points"),
            ));
        }
        if let Some(v) = &val {
            check_data("validation inputs", v.x).map_err(kernels::KernelError::from)?;
            if v.labels.len() != v.x.nrows() {
                return Err(invalid(
                    "validation labels",
                    v.labels.len(),
                    format!("need {} labels", v.x.nrows()),
                ));
            }
        }
        let c = y.ncols();
        let mut alpha = match warm_start {
            Some(w) => {
                check_same_rows("warm start vs training inputs", y, w).map_err(kernels::KernelError::from)?;
                check_data("warm start", w).map_err(kernels::KernelError::from)?;
                w.to_owned()
            }
            None => Mat::<f64>::zeros(n, c),
        };
        let mut alpha_t = to_real::<T>(alpha.as_ref());
        let m = self
            .batch_size
            .unwrap_or_else(|| precond.critical_batch(ridge, n).min(self.max_batch))
            .clamp(1, n);
        let step = precond.step_per_sample(m, ridge, n) * self.step_scale;
        let q = precond.q;
        let s_idx = &precond.indices;
        let s = s_idx.len();
        let exact_all = s == n && s_idx.iter().enumerate().all(|(i, &j)| i == j);
        let rows_per = data.rows_per_block(n).min(m);
        let mut buf = Mat::<T>::zeros(rows_per, n);
        let mut prod = Mat::<T>::zeros(rows_per, c);
        let mut ks = if q > 0 && !exact_all { Mat::<T>::zeros(rows_per, s) } else { Mat::<T>::zeros(0, 0) };
        let mut hpart = Mat::<T>::zeros(if q > 0 { s } else { 0 }, c);
        let y_sq: f64 = y.squared_norm_l2().max(f64::MIN_POSITIVE);
        let mut history = Vec::new();
        let mut best: Option<(f64, Mat<f64>)> = None;
        let mut since_best = 0usize;
        let mut rng_seed = self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
        for epoch in 1..=self.epochs {
            rng_seed = rng_seed.wrapping_add(1);
            let perm = linalg::random::permutation(n, rng_seed);
            let mut sse = 0.0;
            for batch in perm.chunks(m) {
                let len_b = batch.len();
                let mut g = Mat::<f64>::zeros(len_b, c);
                let mut h = Mat::<f64>::zeros(if q > 0 { s } else { 0 }, c);
                let mut off = 0;
                for chunk in batch.chunks(rows_per) {
                    let len = chunk.len();
                    let mut kb = buf.as_mut().subrows_mut(0, len);
                    data.block_rows(chunk, None, kb.as_mut());
                    faer::linalg::matmul::matmul(
                        prod.as_mut().subrows_mut(0, len),
                        Accum::Replace,
                        kb.as_ref(),
                        alpha_t.as_ref(),
                        T::from_f64(1.0),
                        default_par(),
                    );
                    let mut gt = Mat::<T>::zeros(len, c);
                    for j in 0..c {
                        for (r, &i) in chunk.iter().enumerate() {
                            let v = prod[(r, j)].to_f64() + ridge * alpha[(i, j)] - y[(i, j)];
                            g[(off + r, j)] = v;
                            gt[(r, j)] = T::from_f64(v);
                        }
                    }
                    if q > 0 {
                        let kref = if exact_all {
                            kb.as_ref()
                        } else {
                            let mut kv = ks.as_mut().subrows_mut(0, len);
                            for (jj, &col) in s_idx.iter().enumerate() {
                                for r in 0..len {
                                    kv[(r, jj)] = kb[(r, col)];
                                }
                            }
                            ks.as_ref().subrows(0, len)
                        };
                        faer::linalg::matmul::matmul(
                            hpart.as_mut(),
                            Accum::Replace,
                            kref.transpose(),
                            gt.as_ref(),
                            T::from_f64(1.0),
                            default_par(),
                        );
                        for j in 0..c {
                            for i in 0..s {
                                h[(i, j)] += hpart[(i, j)].to_f64();
                            }
                        }
                    }
                    off += len;
                }
                sse += g.squared_norm_l2();
                for j in 0..c {
                    for (r, &i) in batch.iter().enumerate() {
                        alpha[(i, j)] -= step * g[(r, j)];
                        alpha_t[(i, j)] = T::from_f64(alpha[(i, j)]);
                    }
                }
                if q > 0 {
                    let corr = precond.correction(h.as_ref());
                    for j in 0..c {
                        for (r, &i) in s_idx.iter().enumerate() {
                            alpha[(i, j)] += step * corr[(r, j)];
                            alpha_t[(i, j)] = T::from_f64(alpha[(i, j)]);
                        }
                    }
                }
            }
            let train_mse = sse / n as f64;
            let rel = sse / y_sq;
            if !rel.is_finite() || rel > 1e6 {
                return Err(PrecondError::Diverged {
                    solver: "EigenPro".into(),
                    iteration: epoch,
                    residual: rel.sqrt(),
                    hint: format!(
                        "; batch {m}, step {step:e}: lower the step scale or raise the damping (q = {q}, s = {s})"
                    ),
                });
            }
            let val_accuracy = match &val {
                Some(v) => {
                    let pred = data.predict(v.x, alpha.as_ref())?;
                    Some(
                        datasets::accuracy(pred.as_ref(), v.labels)
                            .map_err(|e| invalid("validation labels", "", e.to_string()))?,
                    )
                }
                None => None,
            };
            let stats = EpochStats {
                epoch,
                train_mse,
                rel_train_mse: rel,
                val_accuracy,
                seconds: t0.elapsed().as_secs_f64(),
            };
            let control = observer(&stats, alpha.as_ref());
            history.push(stats);
            let mut stop = control == Control::Stop || (self.tol > 0.0 && rel < self.tol);
            if let (Some(acc), true) = (val_accuracy, self.patience > 0) {
                if best.as_ref().is_none_or(|(b, _)| acc > *b) {
                    best = Some((acc, alpha.clone()));
                    since_best = 0;
                } else {
                    since_best += 1;
                    if since_best >= self.patience {
                        stop = true;
                    }
                }
            }
            if stop {
                break;
            }
        }
        if let Some((_, a)) = best {
            alpha = a;
        }
        Ok(EigenProFit { alpha, precond, batch_size: m, step, history, seconds: t0.elapsed().as_secs_f64() })
    }
}

/// EigenPro as a [`KernelSolver`]: `KernelRidgeParams::fit_with_solver` and RFM can use it unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct EigenProSolver {
    /// Hyperparameters.
    pub params: EigenProParams,
}

impl EigenProSolver {
    /// A solver with these parameters.
    pub fn new(params: EigenProParams) -> Self {
        EigenProSolver { params }
    }

    fn run<T: Real>(
        &self,
        system: &KernelSystem<'_>,
        y: MatRef<'_, f64>,
        warm: Option<MatRef<'_, f64>>,
    ) -> Result<EigenProFit> {
        let data = KernelData::<T>::from_prepared(system.kernel, system.metric, system.train)?;
        self.params.fit(&data, y, system.ridge, warm, None, &mut |_, _| Control::Continue)
    }
}

impl KernelSolver for EigenProSolver {
    fn name(&self) -> String {
        "eigenpro".into()
    }
    fn solve(
        &self,
        system: &KernelSystem<'_>,
        y: MatRef<'_, f64>,
        warm_start: Option<MatRef<'_, f64>>,
    ) -> kernels::Result<(Mat<f64>, SolverReport)> {
        let t0 = Instant::now();
        check_same_rows("kernel system: targets vs inputs", system.train.x.as_ref(), y)?;
        let fit = match self.params.precision {
            Precision::F32 => self.run::<f32>(system, y, warm_start),
            Precision::F64 => self.run::<f64>(system, y, warm_start),
        }?;
        let rel = fit.history.last().map(|h| h.rel_train_mse.sqrt());
        Ok((
            fit.alpha,
            SolverReport {
                solver: self.name(),
                method: format!(
                    "{:?} q={} s={} batch={}",
                    fit.precond.kind,
                    fit.precond.q,
                    fit.precond.s(),
                    fit.batch_size
                ),
                iterations: fit.history.len(),
                relative_residual: rel,
                seconds: t0.elapsed().as_secs_f64(),
            },
        ))
    }
}

/// `K(X_B, X_S)` gathered from rows of a block (exposed for tests of the update).
pub fn gather_cols<T: Real>(block: MatRef<'_, T>, cols: &[usize]) -> Mat<T> {
    gather_rows(block.transpose(), cols).transpose().to_owned()
}

//! Recursive Feature Machines: alternate a kernel fit with an AGOP update of the metric.
//!
//! ```text
//! M_0 = I (or 1 for diag)
//! for t = 0..=iters:
//!     alpha_t = solve(K_{M_t}(X, X) + ridge I, Y)
//!     if t < iters: M_{t+1} = normalise(AGOP(f_t)^power)
//!     observer(step t: model f_t, M_t, M_{t+1})
//! ```
//! `iters` is the number of metric updates, so the predictor is fitted `iters + 1` times (the last
//! fit uses the final metric, as the reference `rfm` package does).
use crate::agop::{AGOP_BATCH_ENTRIES, Agop, AgopOptions, kernel_agop};
use crate::error::{Result, RfmError, invalid};
use datasets::Dataset;
use faer::{Mat, MatRef};
use kernels::{
    DirectSolver, Kernel, KernelModel, KernelSolver, KernelSpec, KernelSystem, Metric, Prepared, SolverReport,
};
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Rescaling of the metric after each update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Normalization {
    /// No rescaling (grokking, Science tutorial).
    #[default]
    None,
    /// Divide by the largest entry (the `rfm` package, xRFM).
    Max,
    /// Divide by the Frobenius norm (ConvRFM).
    Frobenius,
}

/// Which fitted iteration the final model keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Selection {
    /// The last fit.
    #[default]
    Last,
    /// The fit with the lowest validation MSE (needs validation data; xRFM's early stopping).
    BestValidation,
}

/// Hyperparameters of a Recursive Feature Machine. Defaults follow the maintained reference (xRFM):
/// Laplace `L = 10`, ridge `1e-3`, 5 updates, full `M`, uncentred AGOP, `M = AGOP^{1/2}` rescaled to
/// a largest entry of 1. (The Science-paper code used power 1 with the same rescaling; on
/// `y = x1 x2` the square root reaches a test MSE about 6x lower at `n = 5000`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmParams {
    /// Kernel (its bandwidth included).
    pub kernel: KernelSpec,
    /// Ridge `>= 0` (0 = ridgeless interpolation).
    pub ridge: f64,
    /// Number of AGOP updates of the metric.
    pub iters: usize,
    /// Learn a diagonal metric only.
    pub diag: bool,
    /// Centre gradients before the outer products.
    pub centering: bool,
    /// `M = AGOP^power` (negative eigenvalues clipped); 1 = AGOP itself, 0.5 = square root.
    pub power: f64,
    /// Rescaling after the power.
    pub normalization: Normalization,
    /// Evaluate the AGOP on at most this many random training points (`None` = all).
    pub agop_subsample: Option<usize>,
    /// Seed for the AGOP subsample.
    pub seed: u64,
    /// Direct solver settings (used by [`RfmParams::fit`]).
    pub solver: DirectSolver,
    /// Which iteration the final model keeps.
    pub selection: Selection,
    /// Keep every metric `M_t` in the model.
    pub keep_history: bool,
    /// Also compute the AGOP (and `next_metric`) after the last fit, so that every observed step
    /// carries `M_{t+1}` (progress measures such as the grokking paper's are defined on it).
    #[serde(default)]
    pub agop_after_last_fit: bool,
}

impl Default for RfmParams {
    fn default() -> Self {
        RfmParams {
            kernel: KernelSpec::laplace(10.0),
            ridge: 1e-3,
            iters: 5,
            diag: false,
            centering: false,
            power: 0.5,
            normalization: Normalization::Max,
            agop_subsample: None,
            seed: 0,
            solver: DirectSolver::default(),
            selection: Selection::Last,
            keep_history: true,
            agop_after_last_fit: false,
        }
    }
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident, $field:ident, $t:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.$field = v;
            self
        }
    };
}

impl RfmParams {
    /// Defaults with the given kernel.
    pub fn new(kernel: KernelSpec) -> Self {
        RfmParams { kernel, ..Default::default() }
    }
    /// The grokking paper's setting: Gaussian `exp(-d^2/(2 L^2))` with `L = 2.5`, ridge 0, centred
    /// AGOP, `M = AGOP^{1/2}`, no normalisation.
    pub fn grokking() -> Self {
        RfmParams {
            kernel: KernelSpec::gaussian(2.5),
            ridge: 0.0,
            iters: 30,
            centering: true,
            power: 0.5,
            normalization: Normalization::None,
            ..Default::default()
        }
    }
    setter!(/// Sets the kernel.
        with_kernel, kernel, KernelSpec);
    setter!(/// Sets the ridge.
        with_ridge, ridge, f64);
    setter!(/// Sets the number of updates.
        with_iters, iters, usize);
    setter!(/// Diagonal metric only.
        with_diag, diag, bool);
    setter!(/// Centred AGOP.
        with_centering, centering, bool);
    setter!(/// Matrix power of the update.
        with_power, power, f64);
    setter!(/// Normalisation.
        with_normalization, normalization, Normalization);
    setter!(/// AGOP subsample size.
        with_agop_subsample, agop_subsample, Option<usize>);
    setter!(/// Seed.
        with_seed, seed, u64);
    setter!(/// Direct solver settings.
        with_solver, solver, DirectSolver);
    setter!(/// Iteration selection.
        with_selection, selection, Selection);
    setter!(/// Keep the metric history.
        with_keep_history, keep_history, bool);
    setter!(/// Compute the AGOP after the last fit too.
        with_agop_after_last_fit, agop_after_last_fit, bool);

    /// Checks every hyperparameter; each invalid value has its own message.
    pub fn validate(&self) -> Result<()> {
        self.kernel.validate()?;
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(invalid("ridge", self.ridge, "must be finite and >= 0"));
        }
        if !(self.power.is_finite() && self.power > 0.0) {
            return Err(invalid("power", self.power, "must be finite and > 0"));
        }
        if self.agop_subsample == Some(0) {
            return Err(invalid("agop_subsample", 0, "must be at least 1 (or None for all points)"));
        }
        if self.iters > 100_000 {
            return Err(invalid("iters", self.iters, "must be at most 100000"));
        }
        Ok(())
    }

    /// Fits on `train` with the direct solver and no observer.
    pub fn fit(&self, train: &Dataset) -> Result<RfmModel> {
        self.fit_with(train, None, &self.solver, &mut |_| Control::Continue)
    }

    /// Fits with a validation set (for [`Selection::BestValidation`] and the per-step validation MSE),
    /// any [`KernelSolver`], and an observer called after every fit.
    pub fn fit_with(
        &self,
        train: &Dataset,
        validation: Option<&Dataset>,
        solver: &dyn KernelSolver,
        observer: &mut dyn FnMut(&RfmStep<'_>) -> Control,
    ) -> Result<RfmModel> {
        self.validate()?;
        let (x, y) = (train.x.as_ref(), train.y.as_ref());
        linalg::validate::check_data("training inputs", x)?;
        linalg::validate::check_data("training targets", y)?;
        linalg::validate::check_same_rows("training targets vs inputs", x, y)?;
        if let Some(v) = validation {
            linalg::validate::check_data("validation inputs", v.x.as_ref())?;
            linalg::validate::check_data("validation targets", v.y.as_ref())?;
            linalg::validate::check_ncols("validation inputs", v.x.as_ref(), x.ncols())?;
            linalg::validate::check_ncols("validation targets", v.y.as_ref(), y.ncols())?;
            linalg::validate::check_same_rows("validation targets vs inputs", v.x.as_ref(), v.y.as_ref())?;
        }
        if self.selection == Selection::BestValidation && validation.is_none() {
            return Err(invalid("selection", "BestValidation", "needs validation data"));
        }
        let (n, d) = (x.nrows(), x.ncols());
        let mut metric = if self.diag { Metric::Diagonal(vec![1.0; d]) } else { Metric::Euclidean };
        let mut history = Vec::new();
        let mut best: Option<(f64, KernelModel, usize)> = None;
        let mut last_model = None;
        let mut warm: Option<Mat<f64>> = None;
        let mut last_iter = 0;
        for t in 0..=self.iters {
            let t0 = Instant::now();
            if self.keep_history {
                history.push(metric.clone());
            }
            let prepared = Prepared::new(x, &metric);
            let system =
                KernelSystem { kernel: &self.kernel, metric: &metric, train: &prepared, ridge: self.ridge };
            let (alpha, report) = solver.solve(&system, y, warm.as_ref().map(|w| w.as_ref()))?;
            let solve_s = t0.elapsed().as_secs_f64();
            let model = KernelModel::from_parts(self.kernel, metric.clone(), prepared, alpha);
            let t1 = Instant::now();
            let next = if t < self.iters || self.agop_after_last_fit {
                Some(self.update(&model, n, t)?)
            } else {
                None
            };
            let agop_s = t1.elapsed().as_secs_f64();
            let validation_mse = match validation {
                Some(v) => Some(mse(model.predict(v.x.as_ref())?.as_ref(), v.y.as_ref())),
                None => None,
            };
            let step = RfmStep {
                iter: t,
                model: &model,
                metric: &metric,
                next_metric: next.as_ref().map(|(m, _)| m),
                agop: next.as_ref().map(|(_, a)| a),
                solver: &report,
                validation_mse,
                solve_seconds: solve_s,
                agop_seconds: agop_s,
            };
            let control = observer(&step);
            if let Some(v) = validation_mse
                && best.as_ref().is_none_or(|(b, _, _)| v < *b)
            {
                best = Some((v, model.clone(), t));
            }
            warm = Some(model.alpha.clone());
            last_model = Some(model);
            last_iter = t;
            match next {
                Some((m, _)) if control == Control::Continue && t < self.iters => metric = m,
                Some((m, _)) => {
                    if self.keep_history {
                        history.push(m);
                    }
                    break;
                }
                None => break,
            }
        }
        let last = last_model.ok_or_else(|| invalid("iters", self.iters, "no fit was run"))?;
        let (model, selected_iter) = match (self.selection, best) {
            (Selection::BestValidation, Some((_, m, t))) => (m, t),
            _ => {
                let t = last_iter;
                (last, t)
            }
        };
        Ok(RfmModel { params: self.clone(), model, history, selected_iter })
    }

    /// AGOP of `model` and the next metric.
    fn update(&self, model: &KernelModel, n: usize, t: usize) -> Result<(Metric, Agop)> {
        let train = model.prepared();
        let subsample = match self.agop_subsample {
            Some(s) if s < n => {
                let mut rng =
                    linalg::random::rng(self.seed.wrapping_add(t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let mut idx = sample(&mut rng, n, s).into_vec();
                idx.sort_unstable();
                let rows = Mat::from_fn(s, model.x_train.ncols(), |i, j| model.x_train[(idx[i], j)]);
                Some(Prepared::new(rows.as_ref(), &model.metric))
            }
            _ => None,
        };
        let eval: &Prepared = subsample.as_ref().unwrap_or(&train);
        let options = AgopOptions { centering: self.centering, diag: self.diag };
        let agop = kernel_agop(
            &model.kernel,
            &model.metric,
            &train,
            model.alpha.as_ref(),
            eval,
            options,
            AGOP_BATCH_ENTRIES,
        )?;
        let metric = self.post_process(&agop, t)?;
        Ok((metric, agop))
    }

    /// `normalise(AGOP^power)` as a metric.
    pub fn post_process(&self, agop: &Agop, iter: usize) -> Result<Metric> {
        let degenerate = |what: &str| RfmError::DegenerateAgop {
            iter,
            what: what.into(),
            hint: "check the targets vary, lower the ridge or change the bandwidth".into(),
        };
        match agop {
            Agop::Diagonal(v) => {
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(degenerate("not finite"));
                }
                let mut m: Vec<f64> =
                    v.iter().map(|&x| if x > 0.0 { x.powf(self.power) } else { 0.0 }).collect();
                let scale = match self.normalization {
                    Normalization::None => 1.0,
                    Normalization::Max => m.iter().cloned().fold(0.0, f64::max),
                    Normalization::Frobenius => m.iter().map(|x| x * x).sum::<f64>().sqrt(),
                };
                if m.iter().all(|&x| x == 0.0) || scale == 0.0 {
                    return Err(degenerate("zero"));
                }
                m.iter_mut().for_each(|x| *x /= scale);
                Ok(Metric::Diagonal(m))
            }
            Agop::Full(a) => {
                if !a.as_ref().is_all_finite() {
                    return Err(degenerate("not finite"));
                }
                if a.norm_max() == 0.0 {
                    return Err(degenerate("zero"));
                }
                let m = linalg::sym::sym_power(a.as_ref(), self.power)?;
                let scale = match self.normalization {
                    Normalization::None => 1.0,
                    Normalization::Max => {
                        let mut mx = 0.0f64;
                        for j in 0..m.ncols() {
                            for i in 0..m.nrows() {
                                mx = mx.max(m[(i, j)]);
                            }
                        }
                        mx
                    }
                    Normalization::Frobenius => m.norm_l2(),
                };
                if scale == 0.0 || !scale.is_finite() {
                    return Err(degenerate("zero"));
                }
                Ok(Metric::Mahalanobis(if scale == 1.0 { m } else { &m * (1.0 / scale) }))
            }
        }
    }
}

/// Mean squared error over all entries.
pub fn mse(pred: MatRef<'_, f64>, target: MatRef<'_, f64>) -> f64 {
    let n = (pred.nrows() * pred.ncols()).max(1) as f64;
    (pred - target).squared_norm_l2() / n
}

/// What the observer may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this step.
    Stop,
}

/// The state after fit `t`, passed to the observer.
#[derive(Debug)]
pub struct RfmStep<'a> {
    /// Iteration `t` (0 = the plain kernel machine with `M_0`).
    pub iter: usize,
    /// The predictor `f_t` fitted with `M_t`.
    pub model: &'a KernelModel,
    /// `M_t`.
    pub metric: &'a Metric,
    /// `M_{t+1}` computed from `f_t` (`None` at the last fit).
    pub next_metric: Option<&'a Metric>,
    /// The AGOP of `f_t` (`None` at the last fit).
    pub agop: Option<&'a Agop>,
    /// What the solver did.
    pub solver: &'a SolverReport,
    /// Validation MSE of `f_t` when validation data was given.
    pub validation_mse: Option<f64>,
    /// Seconds spent building and solving the kernel system.
    pub solve_seconds: f64,
    /// Seconds spent on the AGOP and the metric update.
    pub agop_seconds: f64,
}

/// A fitted RFM: the selected kernel predictor and the metric history. Serializable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RfmModel {
    /// The parameters it was fitted with.
    pub params: RfmParams,
    /// The selected kernel predictor (its metric is the learned feature matrix).
    pub model: KernelModel,
    /// `M_0, M_1, ...` (when `keep_history`; with `agop_after_last_fit` it ends with the metric
    /// computed after the last fit, which no fit used).
    pub history: Vec<Metric>,
    /// Which iteration `model` comes from.
    pub selected_iter: usize,
}

impl RfmModel {
    /// Predictions (`m x c`).
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        Ok(self.model.predict(x)?)
    }
    /// The learned feature matrix `M` as a dense `d x d` matrix.
    pub fn feature_matrix(&self) -> Mat<f64> {
        self.model.metric.to_matrix(self.model.dim())
    }
    /// Input gradients of the final predictor, one `m x d` matrix per output.
    pub fn input_gradients(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        Ok(self.model.input_gradients(x)?)
    }
}

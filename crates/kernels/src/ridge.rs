//! Kernel ridge regression, the [`KernelSolver`] trait and the direct solver.
use crate::error::{KernelError, Result, invalid};
use crate::grad::GradientContext;
use crate::kernel::{Kernel, KernelSpec};
use crate::matrix::{Triangle, kernel_lower_f32_prepared, kernel_matrix_sym_prepared, kernel_times_prepared};
use crate::metric::{Metric, Prepared};
use faer::{Mat, MatRef};
use linalg::default_par;
use linalg::solve::{Precision, SolveInfo, cholesky_in_place, cholesky_solve_in_place, solve_sym_ridge};
use linalg::validate::{check_data, check_ncols, check_nonnegative, check_same_rows};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Instant;

/// A kernel regression system `(K_M(X, X) + ridge I) alpha = Y` handed to a [`KernelSolver`].
#[derive(Debug)]
pub struct KernelSystem<'a> {
    /// The kernel.
    pub kernel: &'a dyn Kernel,
    /// The metric `M`.
    pub metric: &'a Metric,
    /// Training inputs prepared in `metric`.
    pub train: &'a Prepared,
    /// Ridge `>= 0`.
    pub ridge: f64,
}

/// What a solver did, for logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolverReport {
    /// Solver name.
    pub solver: String,
    /// Method detail (e.g. `CholeskyF32`).
    pub method: String,
    /// Iterations (refinement steps or iterative-solver iterations).
    pub iterations: usize,
    /// Relative residual when computed.
    pub relative_residual: Option<f64>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Anything that solves kernel regression systems: the direct solver here, preconditioned iterative
/// solvers in `precond`. `Rfm` and [`KernelRidgeParams`] take any `&dyn KernelSolver`.
pub trait KernelSolver: Send + Sync {
    /// Solver name.
    fn name(&self) -> String;
    /// Solves the system for the right-hand sides `y` (`n x c`). `warm_start` is the previous
    /// solution of a nearby system (iterative solvers may use it; direct solvers ignore it).
    fn solve(
        &self,
        system: &KernelSystem<'_>,
        y: MatRef<'_, f64>,
        warm_start: Option<MatRef<'_, f64>>,
    ) -> Result<(Mat<f64>, SolverReport)>;
}

/// Dense direct solver: kernel matrix (lower triangle only when possible) + Cholesky, LU fallback at
/// ridge 0, optional `f32` factorisation with `f64` refinement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct DirectSolver {
    /// Precision policy.
    pub precision: SolverPrecision,
}

/// Precision policy of the [`DirectSolver`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum SolverPrecision {
    /// `f64` for ridge 0 or `n < 3000`; otherwise `f32` Cholesky without refinement (about 2x
    /// faster at large `n`; the `f32` kernel matrix is built from `f64` inner products, and the tests
    /// bound the difference of the predictions to the `f64` solve).
    #[default]
    Auto,
    /// Always this precision.
    Fixed(Precision),
}

impl SolverPrecision {
    /// The precision used for a system of size `n` with this ridge.
    pub fn resolve(&self, n: usize, ridge: f64) -> Precision {
        match *self {
            SolverPrecision::Fixed(p) => p,
            SolverPrecision::Auto => {
                if ridge == 0.0 || n < 3000 {
                    Precision::F64
                } else {
                    Precision::F32 { refine_steps: 0 }
                }
            }
        }
    }
}

/// A reusable `f32` kernel-matrix buffer: RFM solves systems of the same size repeatedly, and a
/// fresh `n x n` allocation costs one page fault per 4 KiB (0.2 s for `n = 10^4` on a VM). Holds at
/// most one matrix; [`release_workspace`] frees it.
static F32_WORKSPACE: Mutex<Option<Mat<f32>>> = Mutex::new(None);

/// Frees the cached `f32` kernel-matrix buffer of the [`DirectSolver`] (it is kept between solves
/// of the same size to avoid re-faulting memory).
pub fn release_workspace() {
    if let Ok(mut g) = F32_WORKSPACE.lock() {
        *g = None;
    }
}

fn take_workspace(n: usize) -> Mat<f32> {
    let cached = F32_WORKSPACE.lock().ok().and_then(|mut g| g.take());
    match cached {
        Some(m) if m.nrows() == n && m.ncols() == n => m,
        _ => Mat::<f32>::zeros(n, n),
    }
}

fn give_back_workspace(m: Mat<f32>) {
    if let Ok(mut g) = F32_WORKSPACE.lock() {
        *g = Some(m);
    }
}

impl DirectSolver {
    /// The `f32` path: lower triangle of `K` built straight into `f32`, `f32` Cholesky, optional
    /// `f64` refinement with streamed kernel products. `None` when the factorisation fails (the
    /// caller falls back to `f64`).
    fn solve_f32(
        &self,
        system: &KernelSystem<'_>,
        y: MatRef<'_, f64>,
        refine_steps: usize,
    ) -> Option<(Mat<f64>, usize, Option<f64>)> {
        let n = system.train.x.nrows();
        let par = default_par();
        let mut k = take_workspace(n);
        if kernel_lower_f32_prepared(system.kernel, system.train, k.as_mut()).is_err() {
            give_back_workspace(k);
            return None;
        }
        let ridge = system.ridge as f32;
        for i in 0..n {
            k[(i, i)] += ridge;
        }
        if cholesky_in_place(k.as_mut(), par).is_err() {
            give_back_workspace(k);
            return None;
        }
        let solve32 = |r: MatRef<'_, f64>| -> Mat<f64> {
            let mut r32 = Mat::<f32>::from_fn(r.nrows(), r.ncols(), |i, j| r[(i, j)] as f32);
            cholesky_solve_in_place(k.as_ref(), r32.as_mut(), par);
            Mat::from_fn(r.nrows(), r.ncols(), |i, j| r32[(i, j)] as f64)
        };
        let mut x = solve32(y);
        let mut rel = None;
        for _ in 0..refine_steps {
            let kx = kernel_times_prepared(
                system.kernel,
                system.metric,
                system.train.x.as_ref(),
                system.train,
                x.as_ref(),
            );
            let r = y - &kx - &x * system.ridge;
            rel = Some(r.norm_l2() / y.norm_l2().max(f64::MIN_POSITIVE));
            let dx = solve32(r.as_ref());
            x += &dx;
        }
        give_back_workspace(k);
        if !x.as_ref().is_all_finite() {
            return None;
        }
        Some((x, refine_steps, rel))
    }
}

impl KernelSolver for DirectSolver {
    fn name(&self) -> String {
        "direct".into()
    }
    fn solve(
        &self,
        system: &KernelSystem<'_>,
        y: MatRef<'_, f64>,
        _warm_start: Option<MatRef<'_, f64>>,
    ) -> Result<(Mat<f64>, SolverReport)> {
        let t0 = Instant::now();
        let n = system.train.x.nrows();
        check_same_rows("kernel system: targets vs inputs", system.train.x.as_ref(), y)?;
        check_nonnegative("ridge", system.ridge)?;
        let precision = self.precision.resolve(n, system.ridge);
        if let Precision::F32 { refine_steps } = precision
            && system.ridge > 0.0
            && let Some((alpha, steps, rel)) = self.solve_f32(system, y, refine_steps)
        {
            return Ok((
                alpha,
                SolverReport {
                    solver: self.name(),
                    method: "CholeskyF32".into(),
                    iterations: steps,
                    relative_residual: rel,
                    seconds: t0.elapsed().as_secs_f64(),
                },
            ));
        }
        // (f32 rounding can break positive definiteness: such systems are redone in f64 below)
        let precision = match precision {
            Precision::F32 { .. } => Precision::F64,
            p => p,
        };
        // f64 Cholesky reads only the lower triangle; the LU fallback at ridge 0 needs both.
        let triangle = if system.ridge > 0.0 { Triangle::Lower } else { Triangle::Full };
        let k = kernel_matrix_sym_prepared(system.kernel, system.train, triangle);
        let (alpha, info): (Mat<f64>, SolveInfo) =
            solve_sym_ridge(k, y, system.ridge, precision, "kernel regression system")?;
        Ok((
            alpha,
            SolverReport {
                solver: self.name(),
                method: format!("{:?}", info.method),
                iterations: info.refinement_steps,
                relative_residual: info.relative_residual,
                seconds: t0.elapsed().as_secs_f64(),
            },
        ))
    }
}

/// Hyperparameters of kernel ridge regression.
///
/// ```
/// use kernels::{KernelRidgeParams, KernelSpec};
/// let x = linalg::random::gaussian_mat(50, 3, 1);
/// let y = faer::Mat::from_fn(50, 1, |i, _| x[(i, 0)] * 2.0);
/// let model = KernelRidgeParams::new(KernelSpec::laplace(2.0)).with_ridge(0.0).fit(x.as_ref(), y.as_ref()).unwrap();
/// let pred = model.predict(x.as_ref()).unwrap();
/// assert!((&pred - &y).norm_max() < 1e-8); // ridgeless interpolation
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelRidgeParams {
    /// The kernel.
    pub kernel: KernelSpec,
    /// The metric.
    pub metric: Metric,
    /// Ridge `>= 0`.
    pub ridge: f64,
    /// Direct-solver settings used by [`KernelRidgeParams::fit`].
    pub solver: DirectSolver,
}

impl KernelRidgeParams {
    /// Defaults: Euclidean metric, ridge `1e-3`, automatic precision.
    pub fn new(kernel: KernelSpec) -> Self {
        KernelRidgeParams { kernel, metric: Metric::Euclidean, ridge: 1e-3, solver: DirectSolver::default() }
    }
    /// Sets the ridge.
    pub fn with_ridge(mut self, ridge: f64) -> Self {
        self.ridge = ridge;
        self
    }
    /// Sets the metric.
    pub fn with_metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }
    /// Sets the solver precision.
    pub fn with_precision(mut self, p: SolverPrecision) -> Self {
        self.solver.precision = p;
        self
    }
    /// Checks the hyperparameters (the metric is checked against the data in `fit`).
    pub fn validate(&self) -> Result<()> {
        self.kernel.validate()?;
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(invalid("ridge", self.ridge, "must be finite and >= 0"));
        }
        Ok(())
    }
    /// Fits with the direct solver.
    pub fn fit(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<KernelModel> {
        self.fit_with_solver(x, y, &self.solver)
    }
    /// Fits with any solver.
    pub fn fit_with_solver(
        &self,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        solver: &dyn KernelSolver,
    ) -> Result<KernelModel> {
        self.validate()?;
        check_data("training inputs", x)?;
        check_data("training targets", y)?;
        check_same_rows("training targets vs inputs", x, y)?;
        self.metric.validate(x.ncols())?;
        let train = Prepared::new(x, &self.metric);
        let system =
            KernelSystem { kernel: &self.kernel, metric: &self.metric, train: &train, ridge: self.ridge };
        let (alpha, _) = solver.solve(&system, y, None)?;
        Ok(KernelModel::from_parts(self.kernel, self.metric.clone(), train, alpha))
    }
}

/// A fitted kernel predictor `f(x) = sum_i alpha_i k_M(x, x_i)`. Serializable; deserialisation
/// validates the parts (shapes, finiteness, metric), so a corrupted file is an error, not a panic later.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "KernelModelRepr")]
pub struct KernelModel {
    /// The kernel.
    pub kernel: KernelSpec,
    /// The metric.
    pub metric: Metric,
    /// Training inputs.
    #[serde(with = "linalg::serde_mat")]
    pub x_train: Mat<f64>,
    /// Coefficients (`n x c`).
    #[serde(with = "linalg::serde_mat")]
    pub alpha: Mat<f64>,
    #[serde(skip)]
    prepared: Option<Prepared>,
}

/// The serialised form of a [`KernelModel`], validated by `TryFrom` on load.
#[derive(Deserialize)]
struct KernelModelRepr {
    kernel: KernelSpec,
    metric: Metric,
    #[serde(with = "linalg::serde_mat")]
    x_train: Mat<f64>,
    #[serde(with = "linalg::serde_mat")]
    alpha: Mat<f64>,
}

impl TryFrom<KernelModelRepr> for KernelModel {
    type Error = KernelError;
    fn try_from(r: KernelModelRepr) -> Result<Self> {
        KernelModel::new(r.kernel, r.metric, r.x_train, r.alpha)
    }
}

impl KernelModel {
    /// Assembles a model from a prepared training set and coefficients.
    pub fn from_parts(kernel: KernelSpec, metric: Metric, train: Prepared, alpha: Mat<f64>) -> Self {
        KernelModel { kernel, metric, x_train: train.x.clone(), alpha, prepared: Some(train) }
    }

    /// Assembles a model from raw parts, validating shapes.
    pub fn new(kernel: KernelSpec, metric: Metric, x_train: Mat<f64>, alpha: Mat<f64>) -> Result<Self> {
        kernel.validate()?;
        check_data("training inputs", x_train.as_ref())?;
        check_data("coefficients", alpha.as_ref())?;
        check_same_rows("coefficients vs training inputs", x_train.as_ref(), alpha.as_ref())?;
        metric.validate(x_train.ncols())?;
        let train = Prepared::new(x_train.as_ref(), &metric);
        Ok(Self::from_parts(kernel, metric, train, alpha))
    }

    /// The training inputs prepared in the model's metric (cached after a fit; rebuilt after
    /// deserialisation).
    pub fn prepared(&self) -> std::borrow::Cow<'_, Prepared> {
        match &self.prepared {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => std::borrow::Cow::Owned(Prepared::new(self.x_train.as_ref(), &self.metric)),
        }
    }

    /// Input dimension.
    pub fn dim(&self) -> usize {
        self.x_train.ncols()
    }

    /// Number of outputs.
    pub fn n_outputs(&self) -> usize {
        self.alpha.ncols()
    }

    fn check_input(&self, x: MatRef<'_, f64>) -> Result<()> {
        check_data("inputs to predict", x)?;
        check_ncols("inputs to predict vs training dimension", x, self.dim())?;
        // the public fields may have been changed after construction
        check_same_rows("coefficients vs training inputs", self.x_train.as_ref(), self.alpha.as_ref())?;
        linalg::validate::check_finite("coefficients", self.alpha.as_ref())?;
        self.metric.validate(self.dim())?;
        Ok(())
    }

    /// Predictions `K(X, X_train) alpha` (`m x c`), streamed in blocks.
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.check_input(x)?;
        Ok(kernel_times_prepared(&self.kernel, &self.metric, x, &self.prepared(), self.alpha.as_ref()))
    }

    /// Input gradients `grad f_j(x_s)`: one `m x d` matrix per output `j` (closed form).
    pub fn input_gradients(&self, x: MatRef<'_, f64>) -> Result<Vec<Mat<f64>>> {
        self.check_input(x)?;
        let train = self.prepared();
        let ctx = GradientContext::new(&self.kernel, &train, self.alpha.as_ref());
        let eval = Prepared::new(x, &self.metric);
        Ok(ctx.parts(&eval)?.to_gradients(&self.metric))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linalg::random::gaussian_mat;

    #[test]
    fn interpolates_at_ridge_zero_and_serde_round_trip() {
        let x = gaussian_mat(80, 4, 1);
        let y = gaussian_mat(80, 3, 2);
        for k in [KernelSpec::laplace(2.0), KernelSpec::gaussian(1.0)] {
            let m = KernelRidgeParams::new(k).with_ridge(0.0).fit(x.as_ref(), y.as_ref()).unwrap();
            let p = m.predict(x.as_ref()).unwrap();
            assert!((&p - &y).norm_l2() / y.norm_l2() < 1e-8);
            let s = serde_json::to_string(&m).unwrap();
            let back: KernelModel = serde_json::from_str(&s).unwrap();
            let xt = gaussian_mat(5, 4, 3);
            assert_eq!(back.predict(xt.as_ref()).unwrap(), m.predict(xt.as_ref()).unwrap());
        }
    }

    #[test]
    fn f32_solver_close_to_f64() {
        let x = gaussian_mat(300, 5, 1);
        let y = gaussian_mat(300, 1, 2);
        let k = KernelSpec::laplace(3.0);
        let f64m = KernelRidgeParams::new(k).with_ridge(1e-3).fit(x.as_ref(), y.as_ref()).unwrap();
        let f32m = KernelRidgeParams::new(k)
            .with_ridge(1e-3)
            .with_precision(SolverPrecision::Fixed(Precision::F32 { refine_steps: 2 }))
            .fit(x.as_ref(), y.as_ref())
            .unwrap();
        let xt = gaussian_mat(50, 5, 9);
        let (a, b) = (f64m.predict(xt.as_ref()).unwrap(), f32m.predict(xt.as_ref()).unwrap());
        assert!((&a - &b).norm_l2() / a.norm_l2() < 1e-6);
    }

    #[test]
    fn rejects_bad_input() {
        let x = gaussian_mat(10, 2, 1);
        let y = gaussian_mat(9, 1, 2);
        let p = KernelRidgeParams::new(KernelSpec::laplace(1.0));
        assert!(p.fit(x.as_ref(), y.as_ref()).is_err());
        assert!(p.clone().with_ridge(-1.0).fit(x.as_ref(), gaussian_mat(10, 1, 1).as_ref()).is_err());
        let m = p.fit(x.as_ref(), gaussian_mat(10, 1, 1).as_ref()).unwrap();
        assert!(m.predict(gaussian_mat(3, 3, 1).as_ref()).is_err());
        let nan = faer::mat![[f64::NAN, 1.0]];
        assert!(m.predict(nan.as_ref()).is_err());
    }
}

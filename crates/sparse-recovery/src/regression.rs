//! Sparse linear regression `y = X w*` (`n < d`): diagonal lin-RFM and IRLS-p.
//!
//! Diagonal lin-RFM: `M_t = diag(|w_t|^(2 alpha))`, fit the minimum-norm (ridge `reg -> 0`)
//! predictor in the features `x -> M_t x`, i.e. `w_{t+1} = D X^T (X D X^T + reg I)^{-1} y` with
//! `D = M_t^2 = diag(|w_t|^(4 alpha))`; the AGOP of `x -> <w, x>` is `w w^T`, whose diagonal gives the
//! next `M`. IRLS-p for `sum |w_i|^p` uses the same weighted least norm with
//! `D = diag((w_t^2 + eps_t)^(1 - p/2))`, so with `eps = 0` the two coincide for `p = 2 - 4 alpha`.
use crate::completion::setter;
use crate::error::{Result, SparseRecoveryError, check_nonnegative, check_positive, invalid};
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// Checks `x` (`n x d`, finite, non-empty) and `y` (length `n`, finite).
pub(crate) fn check_xy(x: MatRef<'_, f64>, y: &[f64]) -> Result<()> {
    linalg::validate::check_data("design matrix X", x)?;
    linalg::validate::check_finite_slice("targets y", y)?;
    if y.len() != x.nrows() {
        return Err(SparseRecoveryError::ShapeMismatch {
            context: "targets y vs design matrix X".into(),
            expected: format!("{} targets", x.nrows()),
            got: format!("{}", y.len()),
        });
    }
    Ok(())
}

/// One weighted least-norm step: `w = D X^T (X D X^T + reg * mean_diag * I)^{-1} y` with
/// `D = diag(d)`. `reg` is relative to the mean diagonal of `X D X^T`.
///
/// ```
/// use faer::mat;
/// use sparse_recovery::regression::weighted_least_norm;
/// // one equation w0 + w1 = 2 with weights (1, 0): all the mass goes to w0
/// let w = weighted_least_norm(mat![[1.0, 1.0]].as_ref(), &[2.0], &[1.0, 0.0], 0.0).unwrap();
/// assert!((w[0] - 2.0).abs() < 1e-12 && w[1] == 0.0);
/// ```
pub fn weighted_least_norm(x: MatRef<'_, f64>, y: &[f64], d: &[f64], reg: f64) -> Result<Vec<f64>> {
    check_xy(x, y)?;
    check_nonnegative("reg", reg)?;
    let (n, dim) = (x.nrows(), x.ncols());
    if d.len() != dim {
        return Err(SparseRecoveryError::ShapeMismatch {
            context: "weights".into(),
            expected: format!("{dim}"),
            got: format!("{}", d.len()),
        });
    }
    linalg::validate::check_finite_slice("weights", d)?;
    // XD = X diag(d)
    let xd = Mat::from_fn(n, dim, |i, j| x[(i, j)] * d[j]);
    let mut k = &xd * x.transpose();
    let mean = (0..n).map(|i| k[(i, i)]).sum::<f64>() / n as f64;
    if !(mean > 0.0 && mean.is_finite()) {
        return Err(SparseRecoveryError::Diverged {
            method: "weighted least norm".into(),
            iter: 0,
            hint: "all weights are zero (w collapsed to 0); raise reg or epsilon".into(),
        });
    }
    for i in 0..n {
        k[(i, i)] += reg * mean;
    }
    let rhs = Mat::from_fn(n, 1, |i, _| y[i]);
    let (a, _) =
        linalg::solve::solve_sym_ridge(k, rhs.as_ref(), 0.0, linalg::solve::Precision::F64, "X D X^T")?;
    let w = xd.transpose() * &a;
    Ok((0..dim).map(|j| w[(j, 0)]).collect())
}

/// Hyperparameters of diagonal lin-RFM for sparse regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagLinRfmParams {
    /// Exponent: `M = diag(|w|^(2 alpha))`.
    pub alpha: f64,
    /// Ridge relative to the mean diagonal of `X D X^T` (`>= 0`; tiny = min-norm).
    pub reg: f64,
    /// Iterations.
    pub iters: usize,
    /// Stop when `||w_t - w_{t-1}|| / ||w_t||` is below this.
    pub tol: f64,
}

impl Default for DiagLinRfmParams {
    fn default() -> Self {
        DiagLinRfmParams { alpha: 0.5, reg: 1e-10, iters: 500, tol: 1e-12 }
    }
}

/// Result of a sparse-regression fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionFit {
    /// The weights.
    pub w: Vec<f64>,
    /// Iterations run.
    pub iters: usize,
    /// Relative change per iteration.
    pub changes: Vec<f64>,
}

impl DiagLinRfmParams {
    /// Defaults with exponent `alpha`.
    pub fn new(alpha: f64) -> Self {
        DiagLinRfmParams { alpha, ..Default::default() }
    }
    setter!(/// Sets the relative ridge.
        with_reg, reg, f64);
    setter!(/// Sets the iterations.
        with_iters, iters, usize);
    setter!(/// Sets the tolerance.
        with_tol, tol, f64);

    /// Checks every hyperparameter.
    pub fn validate(&self) -> Result<()> {
        check_positive("alpha", self.alpha)?;
        check_nonnegative("reg", self.reg)?;
        check_nonnegative("tol", self.tol)?;
        if self.iters == 0 {
            return Err(invalid("iters", 0, "must be at least 1"));
        }
        Ok(())
    }

    /// One lin-RFM step from `w`: `M = diag(|w|^(2 alpha))`, returns the next `w`.
    pub fn step(&self, x: MatRef<'_, f64>, y: &[f64], w: &[f64]) -> Result<Vec<f64>> {
        self.validate()?;
        let d: Vec<f64> = w.iter().map(|v| v.abs().powf(4.0 * self.alpha)).collect();
        weighted_least_norm(x, y, &d, self.reg)
    }

    /// Iterates from `M_0 = I` (the first step is the minimum-norm solution).
    pub fn fit(&self, x: MatRef<'_, f64>, y: &[f64]) -> Result<RegressionFit> {
        self.validate()?;
        check_xy(x, y)?;
        let mut w = weighted_least_norm(x, y, &vec![1.0; x.ncols()], self.reg)?;
        let mut changes = vec![1.0];
        let mut iters = 1;
        while iters < self.iters {
            let next = self.step(x, y, &w)?;
            let c = rel_change(&next, &w);
            w = next;
            iters += 1;
            changes.push(c);
            if c < self.tol {
                break;
            }
        }
        Ok(RegressionFit { w, iters, changes })
    }
}

fn rel_change(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = a.iter().map(|x| x * x).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// Hyperparameters of IRLS-p for sparse regression (Chartrand & Yin 2008 epsilon rule: start at
/// `eps0`, divide by 10 whenever the relative change is below `sqrt(eps) / 100`, down to `eps_min`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrlsRegressionParams {
    /// Exponent `p < 2`.
    pub p: f64,
    /// Initial epsilon (in units of `w^2`).
    pub eps0: f64,
    /// Smallest epsilon.
    pub eps_min: f64,
    /// Relative ridge (see [`weighted_least_norm`]).
    pub reg: f64,
    /// Iterations.
    pub iters: usize,
}

impl Default for IrlsRegressionParams {
    fn default() -> Self {
        IrlsRegressionParams { p: 0.0, eps0: 1.0, eps_min: 1e-12, reg: 1e-10, iters: 500 }
    }
}

impl IrlsRegressionParams {
    /// Defaults with exponent `p`.
    pub fn new(p: f64) -> Self {
        IrlsRegressionParams { p, ..Default::default() }
    }
    setter!(/// Initial epsilon.
        with_eps0, eps0, f64);
    setter!(/// Iterations.
        with_iters, iters, usize);

    /// Checks every hyperparameter.
    pub fn validate(&self) -> Result<()> {
        if !(self.p.is_finite() && self.p < 2.0 && self.p >= -6.0) {
            return Err(invalid("p", self.p, "must be in [-6, 2)"));
        }
        check_nonnegative("eps0", self.eps0)?;
        check_nonnegative("eps_min", self.eps_min)?;
        check_nonnegative("reg", self.reg)?;
        if self.iters == 0 {
            return Err(invalid("iters", 0, "must be at least 1"));
        }
        Ok(())
    }

    /// One IRLS-p step from `w` with smoothing `eps`: weights `(w^2 + eps)^(1 - p/2)`.
    pub fn step(&self, x: MatRef<'_, f64>, y: &[f64], w: &[f64], eps: f64) -> Result<Vec<f64>> {
        self.validate()?;
        check_nonnegative("eps", eps)?;
        let s = 1.0 - self.p / 2.0;
        let d: Vec<f64> = w.iter().map(|v| (v * v + eps).powf(s)).collect();
        weighted_least_norm(x, y, &d, self.reg)
    }

    /// Iterates from the minimum-norm solution.
    pub fn fit(&self, x: MatRef<'_, f64>, y: &[f64]) -> Result<RegressionFit> {
        self.validate()?;
        check_xy(x, y)?;
        let mut w = weighted_least_norm(x, y, &vec![1.0; x.ncols()], self.reg)?;
        let mut eps = self.eps0;
        let mut changes = vec![1.0];
        let mut iters = 1;
        while iters < self.iters {
            let next = self.step(x, y, &w, eps)?;
            let c = rel_change(&next, &w);
            w = next;
            iters += 1;
            changes.push(c);
            if c < eps.sqrt() / 100.0 {
                if eps <= self.eps_min {
                    break;
                }
                eps = (eps / 10.0).max(self.eps_min);
            }
        }
        Ok(RegressionFit { w, iters, changes })
    }
}

//! Baselines on a [`KernelOp`]: conjugate gradient (plain and preconditioned), Richardson / full-batch
//! (preconditioned) gradient descent, the direct solver comparison lives in `kernels`; plus spectral
//! estimates (power iteration, condition numbers).
use crate::engine::KernelOp;
use crate::error::{PrecondError, Result, invalid};
use crate::preconditioner::Preconditioner;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Stopping rule of the iterative baselines.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IterParams {
    /// Maximum number of iterations (>= 1).
    pub max_iters: usize,
    /// Stop when `||(K + ridge I) alpha - y||_F / ||y||_F` falls below this (0: run all iterations).
    pub tol: f64,
}

impl Default for IterParams {
    fn default() -> Self {
        IterParams { max_iters: 100, tol: 1e-6 }
    }
}

/// One iteration of a baseline, for the observer.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct IterStats {
    /// Iteration (1-based).
    pub iter: usize,
    /// Relative residual `||r||_F / ||y||_F` (its square is the relative train MSE when ridge = 0).
    pub rel_residual: f64,
    /// Seconds since the start.
    pub seconds: f64,
}

/// Result of an iterative baseline.
#[derive(Debug, Clone)]
pub struct IterFit {
    /// Coefficients.
    pub alpha: Mat<f64>,
    /// Per-iteration statistics.
    pub history: Vec<IterStats>,
    /// Whether the tolerance was reached.
    pub converged: bool,
}

fn check(op: &dyn KernelOp, y: MatRef<'_, f64>, ridge: f64, p: &IterParams) -> Result<()> {
    linalg::validate::check_data("targets", y).map_err(kernels::KernelError::from)?;
    if y.nrows() != op.n() {
        return Err(invalid("targets", format!("{} rows", y.nrows()), format!("need {} rows", op.n())));
    }
    if !(ridge.is_finite() && ridge >= 0.0) {
        return Err(invalid("ridge", ridge, "must be finite and >= 0"));
    }
    if p.max_iters == 0 {
        return Err(invalid("max_iters", 0, "must be >= 1"));
    }
    if !(p.tol.is_finite() && p.tol >= 0.0) {
        return Err(invalid("tolerance", p.tol, "must be finite and >= 0"));
    }
    Ok(())
}

fn apply_ridge(op: &dyn KernelOp, v: MatRef<'_, f64>, ridge: f64) -> Mat<f64> {
    let mut out = op.apply(v);
    if ridge != 0.0 {
        out += v * ridge;
    }
    out
}

fn col_dot(a: MatRef<'_, f64>, b: MatRef<'_, f64>, j: usize) -> f64 {
    let (ca, cb) = (a.col(j), b.col(j));
    (0..a.nrows()).map(|i| ca[i] * cb[i]).sum()
}

/// A symmetric positive definite preconditioner for CG in coefficient space, built from a spectral
/// preconditioner: `M^-1 = I - U diag(1 - n lambda_(q+1) / sigma_i^2) U^T` where `U Sigma` is the thin
/// SVD of the eigenfunctions at the training points (`U = E`, `sigma_i^2 = n lambda_i` for the exact one).
#[derive(Debug, Clone)]
pub struct CgPreconditioner {
    u: Mat<f64>,
    w: Vec<f64>,
}

impl CgPreconditioner {
    /// Builds it from a spectral preconditioner over the data behind `data` (`n x q` memory).
    pub fn new<T: crate::engine::Real>(
        p: &Preconditioner,
        data: &crate::engine::KernelData<'_, T>,
    ) -> Result<Self> {
        let n = data.n();
        if p.q == 0 {
            return Ok(CgPreconditioner { u: Mat::zeros(n, 0), w: vec![] });
        }
        let all: Vec<usize> = (0..n).collect();
        let g = p.eigenfunctions_at(data, &all);
        let svd = g.thin_svd().map_err(|_| linalg::LinalgError::NoConvergence {
            context: "SVD of the eigenfunctions".into(),
        })?;
        let sv = svd.S().column_vector();
        let lt = n as f64 * p.lambda_top();
        let w = (0..p.q).map(|i| (1.0 - lt / (sv[i] * sv[i]).max(lt)).max(0.0)).collect();
        Ok(CgPreconditioner { u: svd.U().to_owned(), w })
    }

    /// `M^-1 v`.
    pub fn apply(&self, v: MatRef<'_, f64>) -> Mat<f64> {
        if self.w.is_empty() {
            return v.to_owned();
        }
        let mut t = self.u.transpose() * v;
        for j in 0..t.ncols() {
            for i in 0..self.w.len() {
                t[(i, j)] *= self.w[i];
            }
        }
        v - &self.u * &t
    }
}

/// Conjugate gradient on `(K + ridge I) alpha = y`, each column of `y` its own CG run (shared
/// operator products), optionally preconditioned.
pub fn conjugate_gradient(
    op: &dyn KernelOp,
    y: MatRef<'_, f64>,
    ridge: f64,
    precond: Option<&CgPreconditioner>,
    params: &IterParams,
    observer: &mut dyn FnMut(&IterStats, MatRef<'_, f64>) -> crate::Control,
) -> Result<IterFit> {
    check(op, y, ridge, params)?;
    let t0 = Instant::now();
    let (n, c) = (y.nrows(), y.ncols());
    let ynorm = y.norm_l2().max(f64::MIN_POSITIVE);
    let mut x = Mat::<f64>::zeros(n, c);
    let mut r = y.to_owned();
    let prec = |v: MatRef<'_, f64>| match precond {
        Some(p) => p.apply(v),
        None => v.to_owned(),
    };
    let mut z = prec(r.as_ref());
    let mut p = z.clone();
    let mut rz: Vec<f64> = (0..c).map(|j| col_dot(r.as_ref(), z.as_ref(), j)).collect();
    let mut history = Vec::new();
    let mut converged = false;
    for it in 1..=params.max_iters {
        let ap = apply_ridge(op, p.as_ref(), ridge);
        for j in 0..c {
            let pap = col_dot(p.as_ref(), ap.as_ref(), j);
            if pap.is_nan() || pap <= 0.0 || rz[j] == 0.0 {
                continue;
            }
            let a = rz[j] / pap;
            for i in 0..n {
                x[(i, j)] += a * p[(i, j)];
                r[(i, j)] -= a * ap[(i, j)];
            }
        }
        let rel = r.norm_l2() / ynorm;
        if !rel.is_finite() {
            return Err(PrecondError::Diverged {
                solver: "CG".into(),
                iteration: it,
                residual: rel,
                hint: "; add a ridge".into(),
            });
        }
        let st = IterStats { iter: it, rel_residual: rel, seconds: t0.elapsed().as_secs_f64() };
        history.push(st);
        let stop = observer(&st, x.as_ref()) == crate::Control::Stop;
        if rel < params.tol {
            converged = true;
            break;
        }
        if stop {
            break;
        }
        z = prec(r.as_ref());
        for j in 0..c {
            let rz_new = col_dot(r.as_ref(), z.as_ref(), j);
            let b = if rz[j] == 0.0 { 0.0 } else { rz_new / rz[j] };
            rz[j] = rz_new;
            for i in 0..n {
                p[(i, j)] = z[(i, j)] + b * p[(i, j)];
            }
        }
    }
    Ok(IterFit { alpha: x, history, converged })
}

/// Largest eigenvalue of `P (K + ridge I)` (or `K + ridge I` without a preconditioner) by power
/// iteration (`iters` steps from a seeded start); an upper estimate for non-normal products.
pub fn top_eigenvalue(
    op: &dyn KernelOp,
    ridge: f64,
    precond: Option<&Preconditioner>,
    iters: usize,
    seed: u64,
) -> f64 {
    let n = op.n();
    let mut v = linalg::random::gaussian_mat(n, 1, seed);
    v *= 1.0 / v.norm_l2();
    let mut est = 0.0;
    for _ in 0..iters.max(1) {
        let kv = apply_ridge(op, v.as_ref(), ridge);
        let w = match precond {
            Some(p) => p.apply_full(op, kv.as_ref()),
            None => kv,
        };
        est = w.norm_l2();
        if est.is_nan() || est <= 0.0 {
            return 0.0;
        }
        v = w * (1.0 / est);
    }
    est
}

/// Richardson iteration / full-batch (preconditioned) gradient descent:
/// `alpha <- alpha - step P ((K + ridge I) alpha - y)`. `step = None` uses `1 / lambda_max(P (K + ridge I))`
/// from [`top_eigenvalue`] (30 power steps), which converges at the rate `1 - lambda_min / lambda_max`.
pub fn richardson(
    op: &dyn KernelOp,
    y: MatRef<'_, f64>,
    ridge: f64,
    precond: Option<&Preconditioner>,
    step: Option<f64>,
    params: &IterParams,
    observer: &mut dyn FnMut(&IterStats, MatRef<'_, f64>) -> crate::Control,
) -> Result<IterFit> {
    check(op, y, ridge, params)?;
    if let Some(p) = precond
        && p.indices.iter().any(|&i| i >= op.n())
    {
        return Err(invalid("preconditioner", "sample indices", "were built for a different training set"));
    }
    let t0 = Instant::now();
    let step = match step {
        Some(s) if s.is_finite() && s > 0.0 => s,
        Some(s) => return Err(invalid("step", s, "must be finite and > 0")),
        None => 1.0 / top_eigenvalue(op, ridge, precond, 30, 7),
    };
    let ynorm = y.norm_l2().max(f64::MIN_POSITIVE);
    let mut x = Mat::<f64>::zeros(y.nrows(), y.ncols());
    let mut history = Vec::new();
    let mut converged = false;
    let mut r = -y.to_owned();
    for it in 1..=params.max_iters {
        let d = match precond {
            Some(p) => p.apply_full(op, r.as_ref()),
            None => r.clone(),
        };
        x -= &d * step;
        r = apply_ridge(op, x.as_ref(), ridge) - y;
        let rel = r.norm_l2() / ynorm;
        if !rel.is_finite() || rel > 1e8 {
            return Err(PrecondError::Diverged {
                solver: "Richardson".into(),
                iteration: it,
                residual: rel,
                hint: format!("; step {step:e} is too large"),
            });
        }
        let st = IterStats { iter: it, rel_residual: rel, seconds: t0.elapsed().as_secs_f64() };
        history.push(st);
        let stop = observer(&st, x.as_ref()) == crate::Control::Stop;
        if rel < params.tol {
            converged = true;
            break;
        }
        if stop {
            break;
        }
    }
    Ok(IterFit { alpha: x, history, converged })
}

/// Eigenvalues (descending) of a dense symmetric matrix and its condition number `lambda_1 / lambda_n`.
pub fn condition_number(a: MatRef<'_, f64>) -> Result<(f64, Vec<f64>)> {
    let v = linalg::sym::sym_eigenvalues(a)?;
    let (hi, lo) = (v[0], *v.last().unwrap_or(&f64::NAN));
    Ok((if lo > 0.0 { hi / lo } else { f64::INFINITY }, v))
}

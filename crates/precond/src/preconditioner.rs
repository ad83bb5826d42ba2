//! The spectral preconditioners: exact `P_q` (top eigenpairs of `K / n` on all points) and the
//! Nystrom `P_(s,q)` (top eigenpairs of `K_s / s` on `s` sampled points).
//!
//! With `(lambda_i, e_i)` the top eigenpairs of `K_s / s` and `psi_i = sum_j e_ij k(., x_j) / sqrt(s lambda_i)`
//! (unit-norm eigenfunctions in the RKHS),
//!
//! `P = I - sum_(i<=q) (1 - (lambda_(q+1) / lambda_i)^gamma) psi_i (x) psi_i`
//!
//! (`gamma = 1` is the plain preconditioner; EigenPro2 damps with `gamma = 0.95`). On a gradient with
//! coefficients `g` on the points `X_B` it only changes the coefficients of the sampled points:
//! `alpha_S += E diag(c) E^T K(X_S, X_B) g` with `c_i = (1 - (lambda_(q+1) / lambda_i)^gamma) / (s lambda_i)`.
use crate::eigen::{DENSE_LIMIT, EigenMethod, TopEigen, subspace_iteration, top_eigen_dense};
use crate::engine::{KernelData, KernelOp, Real, to_f64, to_real};
use crate::error::{Result, invalid};
use faer::{Accum, Mat, MatRef};
use linalg::default_par;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Which preconditioner to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrecondKind {
    /// No preconditioning (`q = 0`: plain kernel SGD / Richardson); only `lambda_1` is computed.
    None,
    /// Exact `P_q` from the top eigenpairs of `K / n` on all `n` points.
    Exact,
    /// Nystrom `P_(s,q)` from `s` sampled points.
    Nystrom {
        /// Number of sampled points (`q < s <= n`).
        s: usize,
    },
}

/// How the Nystrom points are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Sampling {
    /// Uniformly without replacement (EigenPro2).
    #[default]
    Uniform,
    /// Randomly pivoted Cholesky (Chen, Epperly, Tropp, Webber): points drawn proportionally to the
    /// diagonal of the residual kernel. Costs `n s` memory and `s` kernel columns.
    RpCholesky,
}

/// Hyperparameters of a preconditioner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PreconditionerParams {
    /// Exact or Nystrom (or none).
    pub kind: PrecondKind,
    /// Number of flattened eigendirections `q` (ignored for [`PrecondKind::None`]).
    pub q: usize,
    /// Damping exponent `gamma` in `(0, 1]` (1: plain; EigenPro2 uses 0.95).
    pub damping: f64,
    /// Sampling of the Nystrom points.
    pub sampling: Sampling,
    /// Eigensolver.
    pub eigen: EigenMethod,
    /// Seed of the sampling and the randomized eigensolver.
    pub seed: u64,
}

impl Default for PreconditionerParams {
    /// Nystrom with `s = 1000`, `q = 100`, no damping, uniform sampling.
    fn default() -> Self {
        PreconditionerParams {
            kind: PrecondKind::Nystrom { s: 1000 },
            q: 100,
            damping: 1.0,
            sampling: Sampling::Uniform,
            eigen: EigenMethod::Auto,
            seed: 0,
        }
    }
}

impl PreconditionerParams {
    /// Nystrom preconditioner with `s` points and `q` directions.
    pub fn nystrom(s: usize, q: usize) -> Self {
        PreconditionerParams { kind: PrecondKind::Nystrom { s }, q, ..Default::default() }
    }
    /// Exact preconditioner with `q` directions.
    pub fn exact(q: usize) -> Self {
        PreconditionerParams { kind: PrecondKind::Exact, q, ..Default::default() }
    }
    /// No preconditioner.
    pub fn none() -> Self {
        PreconditionerParams { kind: PrecondKind::None, q: 0, ..Default::default() }
    }
    /// Sets the damping exponent.
    pub fn with_damping(mut self, gamma: f64) -> Self {
        self.damping = gamma;
        self
    }
    /// Sets the sampling.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }
    /// Sets the eigensolver.
    pub fn with_eigen(mut self, eigen: EigenMethod) -> Self {
        self.eigen = eigen;
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the hyperparameters against a training set of `n` points.
    pub fn validate(&self, n: usize) -> Result<()> {
        if n < 2 {
            return Err(invalid("number of training points", n, "need at least 2"));
        }
        if !(self.damping.is_finite() && self.damping > 0.0 && self.damping <= 1.0) {
            return Err(invalid("damping exponent", self.damping, "must be in (0, 1]"));
        }
        if let EigenMethod::Subspace { iters: 0 } = self.eigen {
            return Err(invalid("subspace iterations", 0, "must be >= 1"));
        }
        match self.kind {
            PrecondKind::None => Ok(()),
            PrecondKind::Exact => {
                if self.q == 0 || self.q >= n {
                    return Err(invalid("q", self.q, format!("must be in 1..{n} (q < n = {n} points)")));
                }
                Ok(())
            }
            PrecondKind::Nystrom { s } => {
                if s > n {
                    return Err(invalid(
                        "s (Nystrom sample size)",
                        s,
                        format!("cannot exceed the number of training points n = {n}"),
                    ));
                }
                if self.q == 0 || self.q >= s {
                    return Err(invalid("q", self.q, format!("must satisfy 1 <= q < s = {s}")));
                }
                Ok(())
            }
        }
    }

    /// Builds the preconditioner for the training data.
    pub fn build<T: Real>(&self, data: &KernelData<'_, T>) -> Result<Preconditioner> {
        self.build_with_op(data, None)
    }

    /// [`PreconditionerParams::build`], where the exact preconditioner's eigenproblem uses the
    /// operator `op` (e.g. a [`crate::DenseKernel`] already in memory) instead of streamed blocks.
    pub fn build_with_op<T: Real>(
        &self,
        data: &KernelData<'_, T>,
        op: Option<&dyn KernelOp>,
    ) -> Result<Preconditioner> {
        let t0 = Instant::now();
        let n = data.n();
        self.validate(n)?;
        let (idx, q): (Vec<usize>, usize) = match self.kind {
            PrecondKind::None => {
                let s = n.min(DENSE_LIMIT.max(1000));
                (uniform_sample(n, s, self.seed), 0)
            }
            PrecondKind::Exact => ((0..n).collect(), self.q),
            PrecondKind::Nystrom { s } => match self.sampling {
                Sampling::Uniform => (uniform_sample(n, s, self.seed), self.q),
                Sampling::RpCholesky => (rp_cholesky(data, s, self.seed)?, self.q),
            },
        };
        let s = idx.len();
        if q >= s {
            return Err(invalid("q", q, format!("must be < the {s} points found by the sampler")));
        }
        let k = q + 1;
        let top: TopEigen =
            if s <= DENSE_LIMIT || matches!(self.eigen, EigenMethod::Dense | EigenMethod::KrylovSchur) {
                let ks = data.block_f64(&idx, Some(&idx));
                let ks = linalg::sym::symmetrize(ks.as_ref());
                top_eigen_dense(ks.as_ref(), k, self.eigen, self.seed)?
            } else if matches!(self.kind, PrecondKind::Exact) {
                // implicit operator: streamed K(X, X) V, never formed
                let iters = match self.eigen {
                    EigenMethod::Subspace { iters } => iters,
                    _ => 8,
                };
                match op {
                    Some(op) if op.n() == n => subspace_iteration(s, k, iters, self.seed, |v| op.apply(v))?,
                    _ => subspace_iteration(s, k, iters, self.seed, |v| data.times(v))?,
                }
            } else {
                let mut ks = Mat::<T>::zeros(s, s);
                data.block_rows(&idx, Some(&idx), ks.as_mut());
                let iters = match self.eigen {
                    EigenMethod::Subspace { iters } => iters,
                    _ => 6,
                };
                subspace_iteration(s, k, iters, self.seed, |v| {
                    let vt = to_real::<T>(v);
                    let mut out = Mat::<T>::zeros(s, v.ncols());
                    faer::linalg::matmul::matmul(
                        out.as_mut(),
                        Accum::Replace,
                        ks.as_ref(),
                        vt.as_ref(),
                        T::from_f64(1.0),
                        default_par(),
                    );
                    to_f64(out.as_ref())
                })?
            };
        let sf = s as f64;
        let values: Vec<f64> = top.values.iter().map(|&v| v / sf).collect();
        if values.iter().any(|v| !v.is_finite()) || values[k - 1] <= 0.0 {
            return Err(invalid(
                "kernel matrix of the sampled points",
                format!("eigenvalues {:?}", &values[..k.min(4)]),
                "needs q + 1 positive eigenvalues: lower q, or use a kernel that is positive definite on the data",
            ));
        }
        let lambda_top = values[q];
        let coef: Vec<f64> =
            (0..q).map(|i| (1.0 - (lambda_top / values[i]).powf(self.damping)) / (sf * values[i])).collect();
        let vectors = top.vectors.subcols(0, q).to_owned();
        let mut p = Preconditioner {
            kind: self.kind,
            q,
            damping: self.damping,
            indices: idx,
            eigenvalues: values,
            vectors,
            coef,
            beta: 1.0,
            lambda_eff: 0.0,
            setup_seconds: 0.0,
        };
        // beta: the largest diagonal of the preconditioned kernel on up to 2000 training points
        let eval = uniform_sample(n, n.min(2000), self.seed ^ 0x9E37_79B9);
        let diag = data.diagonal();
        let mut beta = 0.0f64;
        // lambda_eff: the measured top eigenvalue of P H on the evaluation points (the Nystrom
        // estimate lambda_(q+1) can be too small when s is small; the batch and step rules use the larger)
        let k_eval = data.block_f64(&eval, Some(&eval));
        let ne = eval.len() as f64;
        if q > 0 {
            let psi = p.eigenfunctions_at(data, &eval);
            let gw = Mat::from_fn(eval.len(), q, |i, j| {
                psi[(i, j)] * (1.0 - (lambda_top / p.eigenvalues[j]).powf(self.damping))
            });
            let mut a = k_eval.clone();
            faer::linalg::matmul::matmul(
                a.as_mut(),
                Accum::Add,
                gw.as_ref(),
                psi.transpose(),
                -1.0,
                default_par(),
            );
            let a = linalg::sym::symmetrize(a.as_ref()) * (1.0 / ne);
            let top = linalg::sym::top_k_eigen(a.as_ref(), 1)?.values[0];
            p.lambda_eff = lambda_top.max(top);
            for (r, &i) in eval.iter().enumerate() {
                let mut v = diag[i];
                for j in 0..q {
                    let w = 1.0 - (lambda_top / p.eigenvalues[j]).powf(self.damping);
                    v -= w * psi[(r, j)] * psi[(r, j)];
                }
                beta = beta.max(v);
            }
            // never below the unpreconditioned floor of the top flattened level
            beta = beta.max(lambda_top);
        } else {
            beta = eval.iter().map(|&i| diag[i]).fold(0.0, f64::max);
            let k_eval = linalg::sym::symmetrize(k_eval.as_ref()) * (1.0 / ne);
            let top = linalg::sym::top_k_eigen(k_eval.as_ref(), 1)?.values[0];
            p.lambda_eff = lambda_top.max(top);
        }
        p.beta = beta;
        p.setup_seconds = t0.elapsed().as_secs_f64();
        Ok(p)
    }
}

fn uniform_sample(n: usize, s: usize, seed: u64) -> Vec<usize> {
    let mut r = linalg::random::rng(seed);
    rand::seq::index::sample(&mut r, n, s).into_vec()
}

/// Randomly pivoted Cholesky: `s` pivots drawn with probability proportional to the residual
/// diagonal. Stops early when the residual vanishes (the kernel has numerical rank below `s`).
fn rp_cholesky<T: Real>(data: &KernelData<'_, T>, s: usize, seed: u64) -> Result<Vec<usize>> {
    let n = data.n();
    let mut r = linalg::random::rng(seed);
    let mut diag = data.diagonal();
    let total0: f64 = diag.iter().sum();
    let mut f = Mat::<f64>::zeros(n, s);
    let mut picked = Vec::with_capacity(s);
    for t in 0..s {
        let total: f64 = diag.iter().sum();
        if total.is_nan() || total <= 1e-12 * total0 {
            break;
        }
        let mut u = r.random::<f64>() * total;
        let mut j = n - 1;
        for (i, &d) in diag.iter().enumerate() {
            if u < d {
                j = i;
                break;
            }
            u -= d;
        }
        let col = data.block_f64(&[j], None);
        let mut c: Vec<f64> = (0..n).map(|i| col[(0, i)]).collect();
        for l in 0..t {
            let fj = f[(j, l)];
            if fj != 0.0 {
                for (i, ci) in c.iter_mut().enumerate() {
                    *ci -= f[(i, l)] * fj;
                }
            }
        }
        let piv = c[j];
        if piv.is_nan() || piv <= 0.0 {
            diag[j] = 0.0;
            continue;
        }
        let sp = piv.sqrt();
        for i in 0..n {
            let v = c[i] / sp;
            f[(i, t)] = v;
            diag[i] = (diag[i] - v * v).max(0.0);
        }
        diag[j] = 0.0;
        picked.push(j);
    }
    Ok(picked)
}

/// A built spectral preconditioner (exact or Nystrom). See the module docs for the formulas.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Preconditioner {
    /// What was built.
    pub kind: PrecondKind,
    /// Number of flattened directions.
    pub q: usize,
    /// Damping exponent.
    pub damping: f64,
    /// Indices of the sampled points in the training set (all points for the exact one).
    pub indices: Vec<usize>,
    /// Top `q + 1` eigenvalues of `K_s / s`, descending.
    pub eigenvalues: Vec<f64>,
    /// Top `q` eigenvectors of `K_s` (`s x q`, orthonormal columns).
    #[serde(with = "linalg::serde_mat")]
    pub vectors: Mat<f64>,
    /// Correction weights `c_i = (1 - (lambda_(q+1)/lambda_i)^gamma) / (s lambda_i)`.
    pub coef: Vec<f64>,
    /// Largest diagonal of the preconditioned kernel (on up to 2000 training points).
    pub beta: f64,
    /// The top eigenvalue of the preconditioned operator used by the batch and step rules:
    /// `max(lambda_(q+1), lambda_max(P H))` with `P H` measured on up to 2000 training points.
    pub lambda_eff: f64,
    /// Wall-clock seconds of the setup.
    pub setup_seconds: f64,
}

impl Preconditioner {
    /// Number of sampled points `s`.
    pub fn s(&self) -> usize {
        self.indices.len()
    }

    /// `lambda_1` of the (normalised) kernel operator estimate.
    pub fn lambda_1(&self) -> f64 {
        self.eigenvalues[0]
    }

    /// `lambda_(q+1)`: the top eigenvalue after preconditioning.
    pub fn lambda_top(&self) -> f64 {
        self.eigenvalues[self.q]
    }

    /// Critical batch size `m* = beta / lambda_eff` (at least 1), for a ridge `ridge` on `n` points
    /// (`lambda_eff` is `lambda_(q+1)`, or the measured top eigenvalue of `P H` when larger).
    pub fn critical_batch(&self, ridge: f64, n: usize) -> usize {
        let (b, l) = self.shifted(ridge, n);
        ((b / l).floor() as usize + 1).max(1)
    }

    fn shifted(&self, ridge: f64, n: usize) -> (f64, f64) {
        (self.beta + ridge, self.lambda_eff.max(self.lambda_top()) + ridge / n as f64)
    }

    /// Step size per sample for batch size `m` (EigenPro's linear-scaling rule): `1 / beta` up to
    /// `m*`, `0.99 * 2 / (beta + (m - 1) lambda_(q+1))` above. The batch update is
    /// `alpha_B -= step * g`.
    pub fn step_per_sample(&self, m: usize, ridge: f64, n: usize) -> f64 {
        let (b, l) = self.shifted(ridge, n);
        let mstar = self.critical_batch(ridge, n);
        if m <= mstar { 1.0 / b } else { 0.99 * 2.0 / (b + (m as f64 - 1.0) * l) }
    }

    /// `E diag(c) E^T h` for `h` (`s x c`): the correction added to the coefficients of the sampled
    /// points (times the step).
    pub fn correction(&self, h: MatRef<'_, f64>) -> Mat<f64> {
        if self.q == 0 {
            return Mat::zeros(h.nrows(), h.ncols());
        }
        let mut t = self.vectors.transpose() * h;
        for j in 0..t.ncols() {
            for i in 0..self.q {
                t[(i, j)] *= self.coef[i];
            }
        }
        &self.vectors * &t
    }

    /// Unit-RKHS-norm eigenfunctions at training points: `psi_i(x_r) = (K(x_r, X_S) e_i) / sqrt(s lambda_i)`
    /// (`rows.len() x q`).
    pub fn eigenfunctions_at<T: Real>(&self, data: &KernelData<'_, T>, rows: &[usize]) -> Mat<f64> {
        let s = self.s() as f64;
        let mut g = Mat::<f64>::zeros(rows.len(), self.q);
        let bs = data.rows_per_block(self.s()).min(rows.len().max(1));
        for (b, chunk) in rows.chunks(bs).enumerate() {
            let kb = data.block_f64(chunk, Some(&self.indices));
            let part = &kb * &self.vectors;
            for j in 0..self.q {
                let scale = 1.0 / (s * self.eigenvalues[j]).sqrt();
                for i in 0..chunk.len() {
                    g[(b * bs + i, j)] = part[(i, j)] * scale;
                }
            }
        }
        g
    }

    /// Full-batch preconditioned gradient `P g` in coefficient form: `g + Pi_S^T E diag(c) E^T K(X_S, X) g`
    /// with the sign convention of a descent step `alpha -= step * P g`, i.e. returns
    /// `g - Pi_S^T E diag(c) E^T K(X_S, X) g`.
    pub fn apply_full(&self, op: &dyn KernelOp, g: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = g.to_owned();
        if self.q == 0 {
            return out;
        }
        let h = op.apply_rows(&self.indices, g);
        let corr = self.correction(h.as_ref());
        for (r, &i) in self.indices.iter().enumerate() {
            for j in 0..g.ncols() {
                out[(i, j)] -= corr[(r, j)];
            }
        }
        out
    }

    /// The symmetric preconditioned matrix `(K - G diag(w) G^T) / n` with `G = psi(X)` and
    /// `w_i = 1 - (lambda_(q+1)/lambda_i)^gamma`: its spectrum is that of `P K / n` (dense, small `n`).
    pub fn preconditioned_matrix<T: Real>(&self, data: &KernelData<'_, T>, k: MatRef<'_, f64>) -> Mat<f64> {
        let n = data.n();
        let all: Vec<usize> = (0..n).collect();
        let g = self.eigenfunctions_at(data, &all);
        let lt = self.lambda_top();
        let gw =
            Mat::from_fn(n, self.q, |i, j| g[(i, j)] * (1.0 - (lt / self.eigenvalues[j]).powf(self.damping)));
        let mut a = k.to_owned();
        faer::linalg::matmul::matmul(a.as_mut(), Accum::Add, gw.as_ref(), g.transpose(), -1.0, default_par());
        let a = linalg::sym::symmetrize(a.as_ref());
        a * (1.0 / n as f64)
    }
}

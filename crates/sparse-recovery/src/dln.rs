//! Deep linear network baselines trained by gradient descent from a small initialisation.
//!
//! * Matrix completion: `Yhat = W_L ... W_1` (`W_1`: `h x d2`, `W_l`: `h x h`, `W_L`: `d1 x h`,
//!   `h = min(d1, d2)`), loss `(1/2) (d1 d2 / |Omega|) sum_Omega (Yhat - Y)^2` (the full-matrix scale).
//!   Only the observed entries of `Yhat` are formed during training (`|Omega| h` per step).
//! * Sparse regression: a diagonal network `w = u_1 * ... * u_L - v_1 * ... * v_L` (element-wise),
//!   loss `(1/2n) ||X w - y||^2`.
//!
//! Step sizes are set from the data (`0.5 / (L s^(2 - 2/L))` with `s` an upper estimate of the top
//! singular value of the target) times `lr_scale`; the initial product has scale `init * s`.
use crate::completion::{CompletionFit, IterRecord, StopReason, rel_mse_rows, setter};
use crate::error::{Result, SparseRecoveryError, check_positive, invalid};
use crate::observations::Observations;
use crate::regression::{RegressionFit, check_xy};
use faer::{Mat, MatRef};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Hyperparameters of the deep linear network baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlnParams {
    /// Depth `L >= 2`.
    pub depth: usize,
    /// Scale of the initial product relative to the target's scale (small = implicit low rank).
    pub init: f64,
    /// Multiplier of the automatic step size.
    pub lr_scale: f64,
    /// Gradient steps.
    pub steps: usize,
    /// Stop when the relative training MSE is below this.
    pub tol: f64,
    /// Hold-out fraction (completion only; the best validated iterate is returned).
    pub holdout: f64,
    /// Evaluate the hold-out every this many steps.
    pub eval_every: usize,
    /// Seed of the initialisation and hold-out.
    pub seed: u64,
}

impl Default for DlnParams {
    fn default() -> Self {
        DlnParams {
            depth: 2,
            init: 1e-3,
            lr_scale: 1.0,
            steps: 5000,
            tol: 1e-12,
            holdout: 0.05,
            eval_every: 50,
            seed: 0,
        }
    }
}

impl DlnParams {
    /// Defaults with the given depth.
    pub fn new(depth: usize) -> Self {
        DlnParams { depth, ..Default::default() }
    }
    setter!(/// Initial scale.
        with_init, init, f64);
    setter!(/// Step-size multiplier.
        with_lr_scale, lr_scale, f64);
    setter!(/// Steps.
        with_steps, steps, usize);
    setter!(/// Hold-out fraction.
        with_holdout, holdout, f64);
    setter!(/// Seed.
        with_seed, seed, u64);

    /// Checks every hyperparameter.
    pub fn validate(&self) -> Result<()> {
        if !(2..=8).contains(&self.depth) {
            return Err(invalid("depth", self.depth, "must be in 2..=8"));
        }
        check_positive("init", self.init)?;
        check_positive("lr_scale", self.lr_scale)?;
        if self.steps == 0 || self.eval_every == 0 {
            return Err(invalid(
                "steps / eval_every",
                format!("{} / {}", self.steps, self.eval_every),
                "must be >= 1",
            ));
        }
        if !(self.holdout.is_finite() && (0.0..1.0).contains(&self.holdout)) {
            return Err(invalid("holdout", self.holdout, "must be in [0, 1)"));
        }
        Ok(())
    }

    /// Matrix completion by a depth-`L` factorisation.
    pub fn fit_completion(&self, obs: &Observations) -> Result<CompletionFit> {
        self.validate()?;
        let start = Instant::now();
        let (d1, d2) = (obs.d1(), obs.d2());
        let h = d1.min(d2);
        let l = self.depth;
        let (train, val) = obs.split_holdout(self.holdout, self.seed)?;
        let w_obs = (d1 as f64 * d2 as f64) / train.nnz() as f64;
        // s: top singular value of P_Omega(Y) * d1 d2 / |Omega| (power iteration)
        let s = sparse_top_sv(&train, 30) * w_obs;
        let s = s.max(1e-12);
        let lr = self.lr_scale * 0.5 / (l as f64 * s.powf(2.0 - 2.0 / l as f64));
        let f = (self.init * s).powf(1.0 / l as f64);
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut ws: Vec<Mat<f64>> = (0..l)
            .map(|k| {
                let (r, c) = if k == 0 {
                    (h, d2)
                } else if k == l - 1 {
                    (d1, h)
                } else {
                    (h, h)
                };
                let g = linalg::random::gaussian_mat_with(r, c, &mut rng);
                let sc = f / ((r.max(c)) as f64).sqrt();
                &g * faer::Scale(sc)
            })
            .collect();
        let nnz = train.nnz();
        let mut resid = vec![0.0; nnz];
        let indptr = train.indptr().to_vec();
        let mut history = Vec::new();
        let mut best: Option<(Vec<f64>, usize, f64)> = None;
        let train_ms = train.mean_square().max(f64::MIN_POSITIVE);
        let mut steps = 0;
        for step in 0..self.steps {
            steps = step + 1;
            // left = W_L ... W_2 (d1 x h), right = W_1 (h x d2)
            let left = prod(&ws[1..]);
            // residuals on observed entries, row-parallel
            let lt = left.as_ref();
            let w1 = &ws[0];
            let rows: Vec<(usize, Vec<f64>)> = (0..d1)
                .into_par_iter()
                .map(|i| {
                    let (c, v) = train.row(i);
                    let li: Vec<f64> = (0..h).map(|k| lt[(i, k)]).collect();
                    let r: Vec<f64> = c
                        .iter()
                        .zip(v)
                        .map(|(&j, &y)| {
                            let col = w1.col_as_slice(j);
                            li.iter().zip(col).map(|(a, b)| a * b).sum::<f64>() - y
                        })
                        .collect();
                    (i, r)
                })
                .collect();
            let mut loss = 0.0;
            for (i, r) in rows {
                resid[indptr[i]..indptr[i + 1]].copy_from_slice(&r);
                loss += r.iter().map(|x| x * x).sum::<f64>();
            }
            let train_rel = loss / nnz as f64 / train_ms;
            if !train_rel.is_finite() {
                return Err(SparseRecoveryError::Diverged {
                    method: "deep linear network".into(),
                    iter: step,
                    hint: "lower lr_scale".into(),
                });
            }
            let done = train_rel < self.tol || step + 1 == self.steps;
            if step % self.eval_every == 0 || done {
                let pred = row_major_product(&ws);
                let v = val.as_ref().map(|v| rel_mse_rows(v, &pred));
                history.push(IterRecord {
                    iter: step,
                    reg: lr,
                    epsilon: 0.0,
                    train_rel_mse: train_rel,
                    val_rel_mse: v.unwrap_or(f64::NAN),
                    change: 0.0,
                    elapsed: start.elapsed().as_secs_f64(),
                    momentum: 0.0,
                });
                let score = v.unwrap_or(train_rel);
                if best.as_ref().is_none_or(|b| score < b.2 || val.is_none()) {
                    best = Some((pred, step, score));
                }
            }
            if done {
                break;
            }
            // R (sparse, scaled by w_obs); grad W_k = E_k^T R F_k^T with E_k = W_L..W_{k+1}, F_k = W_{k-1}..W_1
            let rs = sprs::CsMat::new(
                (d1, d2),
                indptr.clone(),
                train.csr().indices().to_vec(),
                resid.iter().map(|r| r * w_obs).collect::<Vec<f64>>(),
            );
            let mut grads = Vec::with_capacity(l);
            for k in 0..l {
                let e = if k + 1 < l { Some(prod(&ws[k + 1..])) } else { None }; // d1 x h
                let fm = if k > 0 { Some(prod(&ws[..k])) } else { None }; // h x d2
                // RF = R F^T (d1 x rows(W_k)... ) : R is d1 x d2, F^T is d2 x h
                let rf = match &fm {
                    Some(fm) => sparse_times_dense_t(&rs, fm.as_ref()), // d1 x h
                    None => sparse_to_dense(&rs),                       // d1 x d2 (k = 0)
                };
                let g = match &e {
                    Some(e) => e.transpose() * &rf,
                    None => rf,
                };
                grads.push(g);
            }
            for (w, g) in ws.iter_mut().zip(grads) {
                *w -= &g * faer::Scale(lr);
            }
        }
        let (pred, bi, bs) = best.expect("at least one evaluation");
        Ok(CompletionFit::from_parts(
            d1,
            d2,
            pred,
            steps,
            bi,
            val.as_ref().map(|_| bs),
            StopReason::MaxIters,
            history,
            start.elapsed().as_secs_f64(),
        ))
    }

    /// Sparse regression with a diagonal network.
    pub fn fit_regression(&self, x: MatRef<'_, f64>, y: &[f64]) -> Result<RegressionFit> {
        self.validate()?;
        check_xy(x, y)?;
        let (n, d) = (x.nrows(), x.ncols());
        let l = self.depth as i32;
        // scale: s = ||X^T y||_inf / lambda_max(X^T X) approximates the largest |w|
        let xtx_top = {
            let g = crate::kernel_step::gram(x.transpose(), 1.0 / n as f64); // n x n: X X^T / n
            linalg::sym::top_k_eigen(g.as_ref(), 1)?.values[0].max(1e-300)
        };
        let yv = Mat::from_fn(n, 1, |i, _| y[i]);
        let xty = x.transpose() * &yv;
        let s = ((0..d).map(|j| xty[(j, 0)].abs()).fold(0.0, f64::max) / n as f64 / xtx_top).max(1e-12);
        let lr = self.lr_scale * 0.5 / (l as f64 * xtx_top * (3.0 * s).powf(2.0 - 2.0 / l as f64));
        let f = (self.init * s).powf(1.0 / l as f64);
        let mut u = vec![vec![f; d]; l as usize];
        let mut v = vec![vec![f; d]; l as usize];
        let w_of = |u: &Vec<Vec<f64>>, v: &Vec<Vec<f64>>| -> Vec<f64> {
            (0..d)
                .map(|j| u.iter().map(|a| a[j]).product::<f64>() - v.iter().map(|a| a[j]).product::<f64>())
                .collect()
        };
        let mut w = w_of(&u, &v);
        let mut iters = 0;
        let mut changes = Vec::new();
        let yn: f64 = y.iter().map(|a| a * a).sum::<f64>().max(f64::MIN_POSITIVE);
        for step in 0..self.steps {
            iters = step + 1;
            let wm = Mat::from_fn(d, 1, |j, _| w[j]);
            let r = x * &wm - &yv;
            let rn: f64 = (0..n).map(|i| r[(i, 0)] * r[(i, 0)]).sum();
            if !rn.is_finite() {
                return Err(SparseRecoveryError::Diverged {
                    method: "diagonal linear network".into(),
                    iter: step,
                    hint: "lower lr_scale".into(),
                });
            }
            if rn / yn < self.tol {
                break;
            }
            let g = x.transpose() * &r; // d x 1, times 1/n
            for k in 0..l as usize {
                for j in 0..d {
                    let gj = g[(j, 0)] / n as f64;
                    let pu: f64 = (0..l as usize).filter(|&q| q != k).map(|q| u[q][j]).product();
                    let pv: f64 = (0..l as usize).filter(|&q| q != k).map(|q| v[q][j]).product();
                    // update both in a Jacobi fashion: use old values (products computed before the update)
                    u[k][j] -= lr * gj * pu;
                    v[k][j] += lr * gj * pv;
                }
            }
            let next = w_of(&u, &v);
            if step % 100 == 0 {
                let c = next.iter().zip(&w).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
                changes.push(c);
            }
            w = next;
        }
        Ok(RegressionFit { w, iters, changes })
    }
}

/// Product `ws[last] * ... * ws[0]`.
fn prod(ws: &[Mat<f64>]) -> Mat<f64> {
    let mut p = ws[0].clone();
    for w in &ws[1..] {
        p = w * &p;
    }
    p
}

fn row_major_product(ws: &[Mat<f64>]) -> Vec<f64> {
    let p = prod(ws);
    let (r, c) = (p.nrows(), p.ncols());
    let mut out = vec![0.0; r * c];
    for j in 0..c {
        for i in 0..r {
            out[i * c + j] = p[(i, j)];
        }
    }
    out
}

/// `R F^T` for sparse `R` (`d1 x d2`) and dense `F` (`h x d2`): `d1 x h`.
fn sparse_times_dense_t(r: &sprs::CsMat<f64>, f: MatRef<'_, f64>) -> Mat<f64> {
    let (d1, h) = (r.rows(), f.nrows());
    let ft = f.transpose().to_owned(); // d2 x h, column-major: row j of F^T is strided; use columns
    let mut out = Mat::<f64>::zeros(d1, h);
    let rows: Vec<Vec<f64>> = (0..d1)
        .into_par_iter()
        .map(|i| {
            let mut acc = vec![0.0; h];
            if let Some(row) = r.outer_view(i) {
                for (j, &v) in row.iter() {
                    for (k, a) in acc.iter_mut().enumerate() {
                        *a += v * ft[(j, k)];
                    }
                }
            }
            acc
        })
        .collect();
    for (i, acc) in rows.into_iter().enumerate() {
        for (k, a) in acc.into_iter().enumerate() {
            out[(i, k)] = a;
        }
    }
    out
}

fn sparse_to_dense(r: &sprs::CsMat<f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(r.rows(), r.cols());
    for (&v, (i, j)) in r.iter() {
        out[(i, j)] = v;
    }
    out
}

/// Top singular value of the observed-entry matrix by power iteration (deterministic start).
pub(crate) fn sparse_top_sv(obs: &Observations, iters: usize) -> f64 {
    let (d1, d2) = (obs.d1(), obs.d2());
    let mut v: Vec<f64> = (0..d2).map(|j| 1.0 + (j % 7) as f64 * 0.1).collect();
    let mut s = 0.0;
    for _ in 0..iters {
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        v.iter_mut().for_each(|x| *x /= nv);
        let mut u = vec![0.0; d1];
        for (i, ui) in u.iter_mut().enumerate() {
            let (c, vals) = obs.row(i);
            *ui = c.iter().zip(vals).map(|(&j, &y)| y * v[j]).sum();
        }
        let mut nv2 = vec![0.0; d2];
        for (i, &ui) in u.iter().enumerate() {
            let (c, vals) = obs.row(i);
            for (&j, &y) in c.iter().zip(vals) {
                nv2[j] += y * ui;
            }
        }
        s = nv2.iter().map(|x| x * x).sum::<f64>().sqrt().sqrt();
        v = nv2;
    }
    s
}

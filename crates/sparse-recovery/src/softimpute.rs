//! SoftImpute (Mazumder, Hastie & Tibshirani 2010): nuclear-norm regularised completion.
//!
//! For each `lambda` on a decreasing geometric path (warm-started from the previous solution)
//! iterate `Z <- S_lambda(P_Omega(Y) + P_Omega^perp(Z))`, where `S_lambda` soft-thresholds the
//! singular values. The singular triplets above `lambda` come from the top eigenpairs of
//! `X^T X` (Krylov-Schur for large matrices, growing the number of pairs until the smallest one found
//! is below `lambda`). `lambda` is chosen on the held-out entries.
use crate::completion::{CompletionFit, IterRecord, StopReason, rel_mse_rows, setter};
use crate::error::{Result, check_positive, invalid};
use crate::kernel_step::gram;
use crate::observations::Observations;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Hyperparameters of SoftImpute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftImputeParams {
    /// Number of `lambda` values on the path (from `sigma_1(P_Omega(Y))` down).
    pub n_lambdas: usize,
    /// Ratio of the last to the first `lambda`.
    pub lambda_min_ratio: f64,
    /// Maximum inner iterations per `lambda`.
    pub max_inner: usize,
    /// Inner convergence: relative change of `Z` below this.
    pub tol: f64,
    /// Hold-out fraction for choosing `lambda`.
    pub holdout: f64,
    /// Seed of the hold-out split.
    pub seed: u64,
    /// Maximum rank of the iterates (caps the eigen-solver work).
    pub max_rank: usize,
}

impl Default for SoftImputeParams {
    fn default() -> Self {
        SoftImputeParams {
            n_lambdas: 20,
            lambda_min_ratio: 1e-3,
            max_inner: 100,
            tol: 1e-5,
            holdout: 0.05,
            seed: 0,
            max_rank: 100,
        }
    }
}

impl SoftImputeParams {
    setter!(/// Path length.
        with_n_lambdas, n_lambdas, usize);
    setter!(/// Last/first lambda.
        with_lambda_min_ratio, lambda_min_ratio, f64);
    setter!(/// Inner iterations.
        with_max_inner, max_inner, usize);
    setter!(/// Hold-out fraction.
        with_holdout, holdout, f64);
    setter!(/// Seed.
        with_seed, seed, u64);
    setter!(/// Maximum rank.
        with_max_rank, max_rank, usize);

    /// Checks every hyperparameter.
    pub fn validate(&self) -> Result<()> {
        if self.n_lambdas == 0 || self.max_inner == 0 || self.max_rank == 0 {
            return Err(invalid(
                "n_lambdas / max_inner / max_rank",
                format!("{} / {} / {}", self.n_lambdas, self.max_inner, self.max_rank),
                "must all be >= 1",
            ));
        }
        check_positive("lambda_min_ratio", self.lambda_min_ratio)?;
        if self.lambda_min_ratio >= 1.0 {
            return Err(invalid("lambda_min_ratio", self.lambda_min_ratio, "must be < 1"));
        }
        check_positive("tol", self.tol)?;
        if !(self.holdout.is_finite() && (0.0..1.0).contains(&self.holdout)) {
            return Err(invalid("holdout", self.holdout, "must be in [0, 1)"));
        }
        Ok(())
    }

    /// Runs the path and returns the solution with the best validation error (the last one without
    /// hold-out). `history` has one record per `lambda` (`reg` = lambda, `iter` = inner iterations).
    pub fn fit(&self, obs: &Observations) -> Result<CompletionFit> {
        self.validate()?;
        let start = Instant::now();
        let (d1, d2) = (obs.d1(), obs.d2());
        let (train, val) = obs.split_holdout(self.holdout, self.seed)?;
        // X = P_Omega(Y) + P_perp(Z), Z low rank
        let mut z = Mat::<f64>::zeros(d1, d2);
        let mut x = Mat::<f64>::zeros(d1, d2);
        fill_observed(&mut x, &train);
        let s1 = top_singular(x.as_ref(), 1)?.0.first().copied().unwrap_or(0.0);
        let mut history = Vec::new();
        let mut best: Option<(Mat<f64>, usize, f64)> = None;
        let mut rank = 5usize.min(d1.min(d2));
        let max_rank = self.max_rank.min(d1.min(d2));
        let mut total = 0;
        for li in 0..self.n_lambdas {
            let frac = if self.n_lambdas == 1 { 1.0 } else { li as f64 / (self.n_lambdas - 1) as f64 };
            let lambda = s1 * self.lambda_min_ratio.powf(frac) * 0.999;
            let mut inner = 0;
            for _ in 0..self.max_inner {
                inner += 1;
                total += 1;
                // X = Z with observed entries replaced
                x.copy_from(&z);
                fill_observed(&mut x, &train);
                // soft-threshold: need all singular values above lambda
                let (s, v) = loop {
                    let (s, v) = top_singular(x.as_ref(), rank)?;
                    let last = *s.last().unwrap_or(&0.0);
                    if last <= lambda || rank >= max_rank {
                        break (s, v);
                    }
                    rank = (rank * 2).min(max_rank);
                };
                let keep: Vec<usize> = (0..s.len()).filter(|&k| s[k] > lambda).collect();
                rank = (keep.len() + 5).clamp(5, max_rank.max(1));
                // Z = X V diag((s - lambda) / s) V^T over the kept pairs
                let vk = Mat::from_fn(d2, keep.len(), |i, c| v[(i, keep[c])]);
                let mut xv = &x * &vk;
                for (c, &k) in keep.iter().enumerate() {
                    let f = (s[k] - lambda) / s[k];
                    for i in 0..d1 {
                        xv[(i, c)] *= f;
                    }
                }
                let znew = &xv * vk.transpose();
                let diff = (&znew - &z).norm_l2();
                let nz = znew.norm_l2().max(f64::MIN_POSITIVE);
                z = znew;
                if diff / nz < self.tol {
                    break;
                }
            }
            let zr = row_major(z.as_ref());
            let v = val.as_ref().map(|v| rel_mse_rows(v, &zr));
            history.push(IterRecord {
                iter: inner,
                reg: lambda,
                epsilon: 0.0,
                train_rel_mse: rel_mse_rows(&train, &zr),
                val_rel_mse: v.unwrap_or(f64::NAN),
                change: 0.0,
                elapsed: start.elapsed().as_secs_f64(),
                momentum: 0.0,
            });
            let score = v.unwrap_or(-(li as f64));
            if best.as_ref().is_none_or(|b| score < b.2) {
                best = Some((z.clone(), li, score));
            }
        }
        let (zb, bi, bs) = best.expect("at least one lambda");
        let out = row_major(zb.as_ref());
        Ok(CompletionFit::from_parts(
            d1,
            d2,
            out,
            total,
            bi,
            val.as_ref().map(|_| bs),
            StopReason::MaxIters,
            history,
            start.elapsed().as_secs_f64(),
        ))
    }
}

fn fill_observed(x: &mut Mat<f64>, obs: &Observations) {
    for i in 0..obs.d1() {
        let (c, v) = obs.row(i);
        for (&j, &y) in c.iter().zip(v) {
            x[(i, j)] = y;
        }
    }
}

fn row_major(m: MatRef<'_, f64>) -> Vec<f64> {
    let (r, c) = (m.nrows(), m.ncols());
    let mut out = vec![0.0; r * c];
    for j in 0..c {
        for i in 0..r {
            out[i * c + j] = m[(i, j)];
        }
    }
    out
}

/// Top `k` singular values (descending) and right singular vectors of `x`, from `X^T X`.
fn top_singular(x: MatRef<'_, f64>, k: usize) -> Result<(Vec<f64>, Mat<f64>)> {
    let g = gram(x, 1.0);
    let k = k.min(g.nrows());
    let e = linalg::sym::top_k_eigen(g.as_ref(), k)?;
    let s = e.values.iter().map(|&l| l.max(0.0).sqrt()).collect();
    Ok((s, e.vectors))
}

//! Seeded problem generators: low-rank matrix completion and sparse linear regression.
//!
//! The low-rank recipe is the reference code's: `Y = U V^T / sqrt(r)` with `U, V` i.i.d. `N(0, 1)`,
//! rescaled so that the mean of `Y^2` is 1, observed on a uniformly random set of entries (without
//! replacement). `Y` is kept as its two factors, so a `5000 x 5000` instance costs `O((d1 + d2) r)`
//! memory; [`LowRankInstance::to_dense`] materialises it when wanted.
use crate::error::{Result, SparseRecoveryError, check_positive, invalid};
use crate::observations::Observations;
use faer::{Mat, MatRef};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A rank-`r` matrix `Y = U V^T` (scale folded into `U`) and its observed entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LowRankInstance {
    /// Left factor, `d1 x r` (includes the `1/sqrt(r)` and the normalisation).
    #[serde(with = "linalg::serde_mat")]
    pub u: Mat<f64>,
    /// Right factor, `d2 x r`.
    #[serde(with = "linalg::serde_mat")]
    pub v: Mat<f64>,
    /// The observed entries of `Y`.
    pub observed: Observations,
}

/// Error of a completion on the entries that were *not* observed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnobservedError {
    /// Mean squared error over the unobserved entries.
    pub mse: f64,
    /// Relative Frobenius error `||P_unobs(Yhat - Y)||_F / ||P_unobs(Y)||_F`.
    pub relative: f64,
    /// Number of unobserved entries.
    pub count: usize,
}

/// Draws a `d1 x d2` rank-`rank` instance with `num_obs` uniformly observed entries.
///
/// Errors: a zero dimension, `rank >= min(d1, d2)` or `rank = 0`, `num_obs` of 0 or more than
/// `d1 * d2`.
///
/// ```
/// let inst = sparse_recovery::low_rank_instance(30, 20, 2, 120, 7).unwrap();
/// assert_eq!(inst.observed.nnz(), 120);
/// let y = inst.to_dense();
/// let ms = y.squared_norm_l2() / 600.0;
/// assert!((ms - 1.0).abs() < 1e-12); // mean Y^2 = 1
/// ```
pub fn low_rank_instance(
    d1: usize,
    d2: usize,
    rank: usize,
    num_obs: usize,
    seed: u64,
) -> Result<LowRankInstance> {
    if d1 == 0 || d2 == 0 {
        return Err(invalid("matrix shape", format!("{d1} x {d2}"), "both dimensions must be >= 1"));
    }
    if rank == 0 || rank >= d1.min(d2) {
        return Err(invalid(
            "rank",
            rank,
            &format!("must be in 1..{} (below both dimensions of the {d1} x {d2} matrix)", d1.min(d2)),
        ));
    }
    let total = d1 as u64 * d2 as u64;
    if num_obs == 0 || num_obs as u64 > total {
        return Err(invalid("number of observations", num_obs, &format!("must be in 1..={total}")));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut u = linalg::random::gaussian_mat_with(d1, rank, &mut rng);
    let v = linalg::random::gaussian_mat_with(d2, rank, &mut rng);
    // ||U V^T||_F^2 = tr((U^T U)(V^T V))
    let utu = u.transpose() * &u;
    let vtv = v.transpose() * &v;
    let fro2: f64 =
        (0..rank).flat_map(|a| (0..rank).map(move |b| (a, b))).map(|(a, b)| utu[(a, b)] * vtv[(b, a)]).sum();
    // Y = U V^T / sqrt(r), then scaled so that ||Y||_F^2 = d1 d2.
    let scale = ((d1 as f64 * d2 as f64) / fro2).sqrt();
    u *= faer::Scale(scale);
    let idx = rand::seq::index::sample(&mut rng, total as usize, num_obs);
    let mut entries: Vec<(usize, usize)> = idx.into_iter().map(|k| (k / d2, k % d2)).collect();
    entries.sort_unstable();
    let triplets: Vec<(usize, usize, f64)> =
        entries.iter().map(|&(i, j)| (i, j, dot_row(&u, &v, i, j))).collect();
    let observed = Observations::from_triplets(d1, d2, &triplets)?;
    Ok(LowRankInstance { u, v, observed })
}

/// Like [`low_rank_instance`] with the number of observations given as a fraction of `d1 * d2`
/// (rounded; errors when it is not in `(0, 1]` or rounds to 0).
pub fn low_rank_instance_frac(
    d1: usize,
    d2: usize,
    rank: usize,
    frac: f64,
    seed: u64,
) -> Result<LowRankInstance> {
    if !(frac.is_finite() && frac > 0.0 && frac <= 1.0) {
        return Err(invalid("observed fraction", frac, "must be in (0, 1]"));
    }
    let n = (frac * d1 as f64 * d2 as f64).round() as usize;
    low_rank_instance(d1, d2, rank, n, seed)
}

#[inline]
fn dot_row(u: &Mat<f64>, v: &Mat<f64>, i: usize, j: usize) -> f64 {
    (0..u.ncols()).map(|k| u[(i, k)] * v[(j, k)]).sum()
}

impl LowRankInstance {
    /// Number of rows.
    pub fn d1(&self) -> usize {
        self.u.nrows()
    }
    /// Number of columns.
    pub fn d2(&self) -> usize {
        self.v.nrows()
    }
    /// Rank.
    pub fn rank(&self) -> usize {
        self.u.ncols()
    }
    /// Entry `Y[i, j]`.
    pub fn entry(&self, i: usize, j: usize) -> f64 {
        dot_row(&self.u, &self.v, i, j)
    }
    /// The full matrix `Y` (`d1 x d2`).
    pub fn to_dense(&self) -> Mat<f64> {
        &self.u * self.v.transpose()
    }

    /// Error of `pred` on the entries not in `self.observed` (computed row by row from the
    /// factors, without forming `Y`).
    ///
    /// Errors: shape mismatch, or every entry observed.
    pub fn unobserved_error(&self, pred: MatRef<'_, f64>) -> Result<UnobservedError> {
        self.observed.check_shape("prediction", pred)?;
        let (d1, d2, r) = (self.d1(), self.d2(), self.rank());
        let count = d1 * d2 - self.observed.nnz();
        if count == 0 {
            return Err(SparseRecoveryError::Empty {
                what: "the set of unobserved entries".into(),
                hint: "every entry is observed, there is nothing to complete".into(),
            });
        }
        let vt: Vec<f64> =
            (0..d2).flat_map(|j| (0..r).map(move |k| (j, k))).map(|(j, k)| self.v[(j, k)]).collect();
        let (err, norm) = (0..d1)
            .into_par_iter()
            .map(|i| {
                let ui: Vec<f64> = (0..r).map(|k| self.u[(i, k)]).collect();
                let (cols, _) = self.observed.row(i);
                let mut next = 0;
                let (mut e, mut n) = (0.0, 0.0);
                for j in 0..d2 {
                    if next < cols.len() && cols[next] == j {
                        next += 1;
                        continue;
                    }
                    let y: f64 = ui.iter().zip(&vt[j * r..(j + 1) * r]).map(|(a, b)| a * b).sum();
                    let d = pred[(i, j)] - y;
                    e += d * d;
                    n += y * y;
                }
                (e, n)
            })
            .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        Ok(UnobservedError {
            mse: err / count as f64,
            relative: (err / norm.max(f64::MIN_POSITIVE)).sqrt(),
            count,
        })
    }
}

/// A sparse linear regression problem `y = X w*` with `n < d` and `k`-sparse `w*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SparseRegressionInstance {
    /// Design matrix `n x d`, i.i.d. `N(0, 1)` entries.
    #[serde(with = "linalg::serde_mat")]
    pub x: Mat<f64>,
    /// Targets `X w*` (length `n`).
    pub y: Vec<f64>,
    /// The sparse ground truth (length `d`): `k` entries i.i.d. `N(0, 1)` on a random support.
    pub w_star: Vec<f64>,
}

/// Draws a sparse regression instance: `n` samples, `d` features, `k` non-zeros.
///
/// Errors: `n = 0`, `d = 0`, `k = 0` or `k > d`.
///
/// ```
/// let p = sparse_recovery::sparse_regression_instance(20, 50, 3, 1).unwrap();
/// assert_eq!(p.w_star.iter().filter(|w| **w != 0.0).count(), 3);
/// ```
pub fn sparse_regression_instance(
    n: usize,
    d: usize,
    k: usize,
    seed: u64,
) -> Result<SparseRegressionInstance> {
    if n == 0 || d == 0 {
        return Err(invalid("problem size", format!("n = {n}, d = {d}"), "both must be >= 1"));
    }
    if k == 0 || k > d {
        return Err(invalid("sparsity k", k, &format!("must be in 1..={d}")));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let x = linalg::random::gaussian_mat_with(n, d, &mut rng);
    let mut w_star = vec![0.0; d];
    let mut support: Vec<usize> = rand::seq::index::sample(&mut rng, d, k).into_vec();
    support.sort_unstable();
    for &j in &support {
        let mut g: f64 = StandardNormal.sample(&mut rng);
        // keep the non-zeros away from 0 so that "support recovered" is well defined
        if g.abs() < 0.1 {
            g = 0.1_f64.copysign(g);
        }
        w_star[j] = g;
    }
    let y = (0..n).map(|i| (0..d).map(|j| x[(i, j)] * w_star[j]).sum()).collect();
    Ok(SparseRegressionInstance { x, y, w_star })
}

impl SparseRegressionInstance {
    /// Relative error `||w - w*|| / ||w*||`.
    pub fn relative_error(&self, w: &[f64]) -> f64 {
        let num: f64 = w.iter().zip(&self.w_star).map(|(a, b)| (a - b) * (a - b)).sum();
        let den: f64 = self.w_star.iter().map(|b| b * b).sum();
        (num / den).sqrt()
    }
}

/// Checks a scalar used by several generators (kept here for the binaries).
pub fn check_fraction(name: &str, v: f64) -> Result<()> {
    check_positive(name, v)?;
    if v > 1.0 {
        return Err(invalid(name, v, "must be at most 1"));
    }
    Ok(())
}

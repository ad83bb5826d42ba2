//! Helpers shared by the kernels integration tests.
#![allow(dead_code)]
use faer::{Mat, MatRef};
use kernels::Metric;
use linalg::random::gaussian_mat;

/// A metric of kind `which` (0 Euclidean, 1 diagonal, 2 full) for dimension `d`.
pub fn metric(which: usize, d: usize, seed: u64) -> Metric {
    match which {
        0 => Metric::Euclidean,
        1 => {
            let w = gaussian_mat(d, 1, seed ^ 0xd1a9);
            Metric::Diagonal((0..d).map(|i| (0.7 * w[(i, 0)]).exp()).collect())
        }
        _ => {
            let g = gaussian_mat(d, d, seed ^ 0xf011);
            Metric::Mahalanobis((&g * g.transpose()) * (1.0 / d as f64))
        }
    }
}

/// `n x d` standard Gaussian rows scaled by `1/sqrt(d)` (so `||x||^2` is about 1).
pub fn data(n: usize, d: usize, seed: u64) -> Mat<f64> {
    gaussian_mat(n, d, seed) * (1.0 / (d as f64).sqrt())
}

/// Relative Frobenius difference `||a - b|| / ||b||`.
pub fn rel(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    (a - b).norm_l2() / b.norm_l2().max(f64::MIN_POSITIVE)
}

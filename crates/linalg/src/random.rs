//! Seeded random matrices. The same seed gives the same numbers on every machine and thread count.
use faer::Mat;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// A `StdRng` seeded from `seed` (the workspace-wide RNG type).
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// An `nrows x ncols` matrix of independent standard normal entries, filled column by column.
///
/// ```
/// let a = linalg::random::gaussian_mat(3, 2, 7);
/// let b = linalg::random::gaussian_mat(3, 2, 7);
/// assert_eq!(a, b);
/// ```
pub fn gaussian_mat(nrows: usize, ncols: usize, seed: u64) -> Mat<f64> {
    let mut r = rng(seed);
    gaussian_mat_with(nrows, ncols, &mut r)
}

/// Like [`gaussian_mat`] but drawing from a caller-owned RNG.
pub fn gaussian_mat_with<R: rand::Rng + ?Sized>(nrows: usize, ncols: usize, r: &mut R) -> Mat<f64> {
    let mut m = Mat::<f64>::zeros(nrows, ncols);
    for j in 0..ncols {
        for i in 0..nrows {
            m[(i, j)] = StandardNormal.sample(r);
        }
    }
    m
}

/// A uniformly random permutation of `0..n` (Fisher-Yates), seeded.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut v: Vec<usize> = (0..n).collect();
    v.shuffle(&mut rng(seed));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn deterministic_and_roughly_standard() {
        let a = gaussian_mat(200, 50, 1);
        assert_eq!(a, gaussian_mat(200, 50, 1));
        assert_ne!(a, gaussian_mat(200, 50, 2));
        let n = 200.0 * 50.0;
        let mean: f64 = (0..50).map(|j| a.col(j).sum()).sum::<f64>() / n;
        let var = a.squared_norm_l2() / n;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05);
        let p = permutation(10, 3);
        let mut s = p.clone();
        s.sort();
        assert_eq!(s, (0..10).collect::<Vec<_>>());
    }
}

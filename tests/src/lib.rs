//! # tests: shared fixtures for the cross-crate integration tests in `tests/tests/*.rs`
//!
//! Nothing here is part of the library; it holds small, independently written helpers that the
//! integration tests compare the library against:
//!
//! * [`random_psd`], [`random_metrics`]: seeded PSD feature matrices and one metric of each kind;
//! * [`rel_diff`]: relative Frobenius difference of two matrices;
//! * [`cyclic_shift`], [`mat_pow`]: the `p x p` cyclic shift `C e_j = e_{(j + 1) mod p}` and integer
//!   matrix powers (the grokking paper's Fourier Multiplication Algorithm test);
//! * [`reference_gradients`], [`reference_agop`]: input gradients and the AGOP of a kernel
//!   predictor `f(x) = sum_i alpha_i k_M(x, x_i)` computed pair by pair from the closed forms of the
//!   RFM core spec §0.3 (Laplace, Gaussian `2 L^2`, quadratic), with no GEMM trick and no sparse path.
//!
//! ```
//! let c = tests::cyclic_shift(5);
//! let c5 = tests::mat_pow(&c, 5);
//! assert_eq!(c5, faer::Mat::<f64>::identity(5, 5));
//! ```
use faer::{Mat, MatRef};
use kernels::Metric;

/// `G G^T / d` for a `d x d` standard Gaussian `G` drawn with `seed` (PSD, entries of order 1).
pub fn random_psd(d: usize, seed: u64) -> Mat<f64> {
    let g = linalg::random::gaussian_mat(d, d, seed);
    (&g * g.transpose()) * (1.0 / d as f64)
}

/// One metric of each kind for dimension `d`: Euclidean, a positive diagonal, and a random full PSD
/// matrix ([`random_psd`]).
pub fn random_metrics(d: usize, seed: u64) -> Vec<Metric> {
    let w = linalg::random::gaussian_mat(d, 1, seed ^ 0x5eed);
    let diag: Vec<f64> = (0..d).map(|i| (0.5 * w[(i, 0)]).exp()).collect();
    vec![Metric::Euclidean, Metric::Diagonal(diag), Metric::Mahalanobis(random_psd(d, seed.wrapping_add(1)))]
}

/// `||a - b||_F / ||b||_F` (or `||a - b||_F` when `b` is zero).
pub fn rel_diff(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()), "rel_diff: shapes differ");
    let num = (a - b).norm_l2();
    let den = b.norm_l2();
    if den == 0.0 { num } else { num / den }
}

/// The `p x p` cyclic shift `C` with `C e_j = e_{(j + 1) mod p}`, i.e. `C[(j + 1) mod p, j] = 1`, so
/// that `e_a^T C^l e_b = 1` exactly when `a = b + l (mod p)`.
pub fn cyclic_shift(p: usize) -> Mat<f64> {
    Mat::from_fn(p, p, |i, j| if i == (j + 1) % p { 1.0 } else { 0.0 })
}

/// `a^k` for a square `a` and `k >= 0` (repeated products; `a^0 = I`).
pub fn mat_pow(a: &Mat<f64>, k: usize) -> Mat<f64> {
    let mut out = Mat::<f64>::identity(a.nrows(), a.ncols());
    for _ in 0..k {
        out = &out * a;
    }
    out
}

/// Closed-form kernels whose input gradients [`reference_gradients`] knows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RefKernel {
    /// `exp(-||x - z||_M / L)`.
    Laplace(f64),
    /// `exp(-||x - z||_M^2 / (2 L^2))`.
    Gaussian(f64),
    /// `(x^T M z)^2`.
    Quadratic,
}

impl RefKernel {
    /// The matching library kernel.
    pub fn spec(self) -> kernels::KernelSpec {
        match self {
            RefKernel::Laplace(l) => kernels::KernelSpec::laplace(l),
            RefKernel::Gaussian(l) => kernels::KernelSpec::gaussian(l),
            RefKernel::Quadratic => kernels::KernelSpec::quadratic(),
        }
    }
}

/// Input gradients `grad f_j(x_s)` (one `m x d` matrix per output `j`) of
/// `f(x) = sum_i alpha_ij k_M(x, x_i)`, summed pair by pair from the spec's closed forms:
///
/// * Laplace: `grad f_j(x) = (1/L) sum_i alpha_ij (k / r_i) M (x_i - x)`, terms with `r_i < 1e-10`
///   dropped (the zero-distance rule);
/// * Gaussian: `grad f_j(x) = (1/L^2) sum_i alpha_ij k M (x_i - x)`;
/// * quadratic: `grad f_j(x) = 2 sum_i alpha_ij (x^T M x_i) M x_i`.
pub fn reference_gradients(
    kernel: RefKernel,
    m: MatRef<'_, f64>,
    x_train: MatRef<'_, f64>,
    alpha: MatRef<'_, f64>,
    x_eval: MatRef<'_, f64>,
) -> Vec<Mat<f64>> {
    let (n, d, c, b) = (x_train.nrows(), x_train.ncols(), alpha.ncols(), x_eval.nrows());
    // rows of X M (M symmetric), by plain loops: M (x_i - x) = (M x_i) - (M x)
    let times_m = |x: MatRef<'_, f64>| -> Vec<Vec<f64>> {
        (0..x.nrows())
            .map(|i| (0..d).map(|r| (0..d).map(|k| m[(r, k)] * x[(i, k)]).sum()).collect())
            .collect()
    };
    let (xt, xe): (Vec<Vec<f64>>, Vec<Vec<f64>>) = (
        (0..n).map(|i| (0..d).map(|k| x_train[(i, k)]).collect()).collect(),
        (0..b).map(|s| (0..d).map(|k| x_eval[(s, k)]).collect()).collect(),
    );
    let (mt, me) = (times_m(x_train), times_m(x_eval));
    let alpha: Vec<Vec<f64>> = (0..n).map(|i| (0..c).map(|j| alpha[(i, j)]).collect()).collect();
    let mut out = vec![vec![0.0; b * d]; c];
    let mut mdiff = vec![0.0; d];
    for s in 0..b {
        for i in 0..n {
            let coef = match kernel {
                RefKernel::Laplace(_) | RefKernel::Gaussian(_) => {
                    let mut r2 = 0.0;
                    for k in 0..d {
                        mdiff[k] = mt[i][k] - me[s][k];
                        r2 += (xt[i][k] - xe[s][k]) * mdiff[k];
                    }
                    match kernel {
                        RefKernel::Laplace(l) => {
                            let r = r2.max(0.0).sqrt();
                            if r < 1e-10 { 0.0 } else { (-r / l).exp() / (l * r) }
                        }
                        RefKernel::Gaussian(l) => (-r2.max(0.0) / (2.0 * l * l)).exp() / (l * l),
                        RefKernel::Quadratic => unreachable!(),
                    }
                }
                RefKernel::Quadratic => {
                    mdiff.copy_from_slice(&mt[i]);
                    2.0 * (0..d).map(|k| xe[s][k] * mdiff[k]).sum::<f64>()
                }
            };
            if coef == 0.0 {
                continue;
            }
            for j in 0..c {
                let w = coef * alpha[i][j];
                let dst = &mut out[j][s * d..(s + 1) * d];
                for k in 0..d {
                    dst[k] += w * mdiff[k];
                }
            }
        }
    }
    out.into_iter().map(|g| Mat::from_fn(b, d, |s, k| g[s * d + k])).collect()
}

/// The AGOP `(1/N) sum_s sum_j g_sj g_sj^T` of the given gradients (one `N x d` block per output),
/// optionally centred (per output, the mean gradient over the `N` points is subtracted first).
pub fn reference_agop(grads: &[Mat<f64>], centering: bool) -> Mat<f64> {
    let (nn, d) = (grads[0].nrows(), grads[0].ncols());
    let mut out = vec![0.0; d * d];
    let mut row = vec![0.0; d];
    for g in grads {
        let mean: Vec<f64> =
            (0..d).map(|k| if centering { g.col(k).sum() / nn as f64 } else { 0.0 }).collect();
        for s in 0..nn {
            for k in 0..d {
                row[k] = g[(s, k)] - mean[k];
            }
            for a in 0..d {
                let ga = row[a] / nn as f64;
                let dst = &mut out[a * d..(a + 1) * d];
                for k in 0..d {
                    dst[k] += ga * row[k];
                }
            }
        }
    }
    Mat::from_fn(d, d, |a, k| out[a * d + k])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_convention() {
        let p = 7;
        let c3 = mat_pow(&cyclic_shift(p), 3);
        for a in 0..p {
            for b in 0..p {
                assert_eq!(c3[(a, b)], if a == (b + 3) % p { 1.0 } else { 0.0 });
            }
        }
    }

    #[test]
    fn reference_agop_of_constant_gradients() {
        let g = Mat::from_fn(4, 2, |_, k| (k + 1) as f64);
        let a = reference_agop(std::slice::from_ref(&g), false);
        assert_eq!(a, faer::mat![[1.0, 2.0], [2.0, 4.0]]);
        assert!(reference_agop(&[g], true).norm_max() < 1e-15);
    }
}

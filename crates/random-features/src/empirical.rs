//! Empirical eigenspectrum and target eigencoefficients of a real kernel on real data.
//!
//! With `N` samples, the kernel integral operator is approximated by `K / N` (`K` the `N x N` kernel
//! matrix): its eigenvalues `lambda_i` estimate the operator's, and with `K / N = U diag(lambda) U^T`
//! the target powers are `v_i^2 = sum_c (u_i^T y_c)^2 / N` (so `sum_i v_i^2` is the mean squared
//! target). Feeding them to [`crate::theory`] predicts the learning curve on this data set.
//!
//! ```
//! use random_features::empirical::EmpiricalEigensystem;
//! use kernels::KernelSpec;
//! let x = linalg::random::gaussian_mat(60, 3, 0);
//! let y = faer::Mat::from_fn(60, 1, |i, _| x[(i, 0)]);
//! let e = EmpiricalEigensystem::from_kernel(&KernelSpec::laplace(2.0), x.as_ref(), y.as_ref()).unwrap();
//! assert_eq!(e.eigenvalues.len(), 60);
//! let mean_sq: f64 = (0..60).map(|i| y[(i, 0)] * y[(i, 0)]).sum::<f64>() / 60.0;
//! assert!((e.target_power.iter().sum::<f64>() - mean_sq).abs() < 1e-10);
//! ```
use crate::error::Result;
use crate::theory::Spectrum;
use faer::{Mat, MatRef};
use kernels::{Kernel, Metric, Triangle};
use linalg::validate::{check_data, check_same_rows, check_square};
use serde::{Deserialize, Serialize};

/// Eigenvalues (largest first) of `K / N` and the target powers in its eigenbasis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmpiricalEigensystem {
    /// Eigenvalues of `K / N`, descending, negatives from round-off clipped to 0.
    pub eigenvalues: Vec<f64>,
    /// `v_i^2 = sum_c (u_i^T y_c)^2 / N`, in the order of `eigenvalues`.
    pub target_power: Vec<f64>,
    /// Number of samples `N`.
    pub n: usize,
}

impl EmpiricalEigensystem {
    /// From a symmetric kernel matrix `K` (`N x N`) and targets `y` (`N x c`).
    ///
    /// Errors: non-square, empty or non-finite inputs, mismatched rows, no convergence.
    pub fn from_kernel_matrix(k: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<Self> {
        check_square("empirical eigensystem", k)?;
        check_data("kernel matrix", k)?;
        check_data("targets", y)?;
        check_same_rows("empirical eigensystem (kernel matrix vs targets)", k, y)?;
        let n = k.nrows();
        let e = linalg::sym::sym_eigen(k)?;
        let c = e.vectors.transpose() * y;
        let eigenvalues = e.values.iter().map(|&l| (l / n as f64).max(0.0)).collect();
        let target_power =
            (0..n).map(|i| (0..c.ncols()).map(|j| c[(i, j)] * c[(i, j)]).sum::<f64>() / n as f64).collect();
        Ok(EmpiricalEigensystem { eigenvalues, target_power, n })
    }

    /// From a kernel, inputs `x` (`N x d`, Euclidean metric) and targets `y` (`N x c`).
    pub fn from_kernel(kernel: &dyn Kernel, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<Self> {
        check_data("inputs", x)?;
        let mut k: Mat<f64> = kernels::kernel_matrix_sym(kernel, &Metric::Euclidean, x, Triangle::Lower)?;
        kernels::matrix::mirror_lower(k.as_mut());
        Self::from_kernel_matrix(k.as_ref(), y)
    }

    /// The theory's view of the task, with label noise `noise`.
    pub fn spectrum(&self, noise: f64) -> Result<Spectrum> {
        Spectrum::new(self.eigenvalues.clone(), self.target_power.clone(), noise)
    }
}

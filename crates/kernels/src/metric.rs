//! The metric of a kernel: Euclidean, full Mahalanobis `M` or diagonal `m`.
use crate::error::{Result, invalid};
use faer::{Accum, Mat, MatRef};
use linalg::default_par;
use linalg::validate::{check_finite, check_finite_slice, check_ncols, check_square};
use serde::{Deserialize, Serialize};

/// The (semi-)inner product `<x, z>_M = x^T M z` a kernel is evaluated in.
///
/// `k_M(x, z) = k(M^{1/2} x, M^{1/2} z)`: a Mahalanobis kernel is the plain kernel on transformed data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum Metric {
    /// `M = I`.
    #[default]
    Euclidean,
    /// A full symmetric PSD `d x d` matrix.
    Mahalanobis(#[serde(with = "linalg::serde_mat")] Mat<f64>),
    /// A diagonal `M = diag(m)` with `m >= 0`.
    Diagonal(Vec<f64>),
}

impl Metric {
    /// The input dimension the metric is tied to (`None` for Euclidean).
    pub fn dim(&self) -> Option<usize> {
        match self {
            Metric::Euclidean => None,
            Metric::Mahalanobis(m) => Some(m.nrows()),
            Metric::Diagonal(m) => Some(m.len()),
        }
    }

    /// Checks the metric for inputs of dimension `d`: shape, finiteness, symmetry (relative
    /// tolerance 1e-8) and non-negative diagonal entries.
    pub fn validate(&self, d: usize) -> Result<()> {
        match self {
            Metric::Euclidean => Ok(()),
            Metric::Mahalanobis(m) => {
                check_square("Mahalanobis metric", m.as_ref())?;
                check_ncols("Mahalanobis metric vs input dimension", m.as_ref(), d)?;
                check_finite("Mahalanobis metric", m.as_ref())?;
                let scale = m.norm_max().max(f64::MIN_POSITIVE);
                for j in 0..d {
                    if m[(j, j)] < -1e-10 * scale {
                        return Err(invalid(
                            "Mahalanobis metric diagonal",
                            m[(j, j)],
                            "a PSD metric has a non-negative diagonal",
                        ));
                    }
                    for i in (j + 1)..d {
                        if (m[(i, j)] - m[(j, i)]).abs() > 1e-8 * scale {
                            return Err(invalid(
                                "Mahalanobis metric",
                                format!("M[{i},{j}] = {} vs M[{j},{i}] = {}", m[(i, j)], m[(j, i)]),
                                "must be symmetric",
                            ));
                        }
                    }
                }
                Ok(())
            }
            Metric::Diagonal(m) => {
                if m.len() != d {
                    return Err(linalg::LinalgError::ShapeMismatch {
                        context: "diagonal metric vs input dimension".into(),
                        expected: format!("{d} entries"),
                        got: format!("{} entries", m.len()),
                    }
                    .into());
                }
                check_finite_slice("diagonal metric", m)?;
                if let Some(v) = m.iter().find(|v| **v < 0.0) {
                    return Err(invalid("diagonal metric entry", v, "must be >= 0"));
                }
                Ok(())
            }
        }
    }

    /// `X M` (rows of `x` mapped by the metric): `n x d`.
    pub fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        match self {
            Metric::Euclidean => x.to_owned(),
            Metric::Mahalanobis(m) => {
                let mut out = Mat::<f64>::zeros(x.nrows(), m.ncols());
                faer::linalg::matmul::matmul(out.as_mut(), Accum::Replace, x, m.as_ref(), 1.0, default_par());
                out
            }
            Metric::Diagonal(m) => Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] * m[j]),
        }
    }

    /// The dense `d x d` matrix of the metric.
    pub fn to_matrix(&self, d: usize) -> Mat<f64> {
        match self {
            Metric::Euclidean => Mat::identity(d, d),
            Metric::Mahalanobis(m) => m.clone(),
            Metric::Diagonal(m) => Mat::from_fn(d, d, |i, j| if i == j { m[i] } else { 0.0 }),
        }
    }
}

/// Row-wise dot products `<x_i, y_i>` (e.g. squared norms `x_i^T M x_i` with `y = X M`).
pub fn row_dots(x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Vec<f64> {
    let mut out = vec![0.0; x.nrows()];
    for j in 0..x.ncols() {
        let (cx, cy) = (x.col(j), y.col(j));
        for (i, o) in out.iter_mut().enumerate() {
            *o += cx[i] * cy[i];
        }
    }
    out
}

/// The inputs of a kernel evaluation prepared once: `X`, `X M` and the squared norms `x_i^T M x_i`.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The raw inputs (`n x d`).
    pub x: Mat<f64>,
    /// `X M` (`n x d`).
    pub xm: Mat<f64>,
    /// `x_i^T M x_i`.
    pub sq_norms: Vec<f64>,
}

impl Prepared {
    /// Prepares `x` for kernel evaluations in `metric` (no validation: callers validate).
    pub fn new(x: MatRef<'_, f64>, metric: &Metric) -> Self {
        let xm = metric.apply(x);
        let sq_norms = row_dots(x, xm.as_ref());
        Prepared { x: x.to_owned(), xm, sq_norms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn validation() {
        let m = faer::mat![[1.0, 0.5], [0.4, 1.0]];
        assert!(Metric::Mahalanobis(m).validate(2).is_err());
        assert!(Metric::Diagonal(vec![1.0, -1.0]).validate(2).is_err());
        assert!(Metric::Diagonal(vec![1.0]).validate(2).is_err());
        assert!(Metric::Mahalanobis(Mat::identity(3, 3)).validate(2).is_err());
        assert!(Metric::Mahalanobis(Mat::identity(2, 2)).validate(2).is_ok());
    }
    #[test]
    fn apply_matches_matrix() {
        let x = linalg::random::gaussian_mat(5, 3, 1);
        let d = Metric::Diagonal(vec![1.0, 2.0, 3.0]);
        let full = Metric::Mahalanobis(d.to_matrix(3));
        assert!((&d.apply(x.as_ref()) - &full.apply(x.as_ref())).norm_max() < 1e-14);
    }
}

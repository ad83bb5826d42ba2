//! Feature preprocessing: standardisation, row normalisation, scaling.
use faer::{Mat, MatRef};
use linalg::validate::{check_data, check_ncols};
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};

/// Per-column standardisation `(x - mean) / std`, fitted on training inputs.
///
/// `std` is the population standard deviation (divide by `n`). Columns whose standard deviation is
/// zero up to round-off (`std <= 1e-12 * max(1, |mean|)`) get `std = 1`, so they are only centred
/// (never divided by zero).
///
/// ```
/// use datasets::Standardizer;
/// let x = faer::mat![[1.0, 5.0], [3.0, 5.0]];
/// let s = Standardizer::fit(x.as_ref()).unwrap();
/// assert_eq!(s.mean, vec![2.0, 5.0]);
/// assert_eq!(s.std, vec![1.0, 1.0]);
/// let z = s.transform(x.as_ref()).unwrap();
/// assert_eq!(z, faer::mat![[-1.0, 0.0], [1.0, 0.0]]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column means of the fitted data.
    pub mean: Vec<f64>,
    /// Column standard deviations (1 for constant columns).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits column means and standard deviations of `x` (`n x d`, non-empty, finite).
    pub fn fit(x: MatRef<'_, f64>) -> Result<Self> {
        check_data("Standardizer::fit input", x)?;
        let n = x.nrows() as f64;
        let d = x.ncols();
        let mut mean = Vec::with_capacity(d);
        let mut std = Vec::with_capacity(d);
        for j in 0..d {
            let col = x.col(j);
            let m = col.iter().sum::<f64>() / n;
            let var = col.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
            let s = var.sqrt();
            mean.push(m);
            std.push(if s <= 1e-12 * m.abs().max(1.0) { 1.0 } else { s });
        }
        Ok(Standardizer { mean, std })
    }

    /// `(x - mean) / std` column by column. `x` must be finite with as many columns as the fitted
    /// data.
    pub fn transform(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.check_input("Standardizer::transform input", x)?;
        Ok(Mat::from_fn(x.nrows(), x.ncols(), |i, j| (x[(i, j)] - self.mean[j]) / self.std[j]))
    }

    /// `z * std + mean`, the inverse of [`Standardizer::transform`].
    pub fn inverse_transform(&self, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.check_input("Standardizer::inverse_transform input", z)?;
        Ok(Mat::from_fn(z.nrows(), z.ncols(), |i, j| z[(i, j)] * self.std[j] + self.mean[j]))
    }

    /// [`Standardizer::fit`] then [`Standardizer::transform`] on the same data.
    pub fn fit_transform(x: MatRef<'_, f64>) -> Result<(Self, Mat<f64>)> {
        let s = Self::fit(x)?;
        let z = s.transform(x)?;
        Ok((s, z))
    }

    fn check_input(&self, what: &str, x: MatRef<'_, f64>) -> Result<()> {
        if self.mean.len() != self.std.len() {
            return Err(DatasetError::shape(
                "Standardizer (mean vs std)",
                format!("{} entries", self.mean.len()),
                format!("{} entries", self.std.len()),
            ));
        }
        if let Some((j, s)) = self.std.iter().enumerate().find(|(_, s)| !(s.is_finite() && **s > 0.0)) {
            return Err(DatasetError::param(&format!("Standardizer std[{j}]"), s, "must be finite and > 0"));
        }
        check_ncols(what, x, self.mean.len())?;
        linalg::validate::check_finite(what, x)?;
        Ok(())
    }
}

/// Each row divided by its Euclidean norm; rows that are exactly zero stay zero.
///
/// ```
/// let x = faer::mat![[3.0, 4.0], [0.0, 0.0]];
/// let u = datasets::unit_norm_rows(x.as_ref());
/// assert_eq!(u, faer::mat![[0.6, 0.8], [0.0, 0.0]]);
/// ```
pub fn unit_norm_rows(x: MatRef<'_, f64>) -> Mat<f64> {
    let norms: Vec<f64> = (0..x.nrows()).map(|i| x.row(i).norm_l2()).collect();
    Mat::from_fn(x.nrows(), x.ncols(), |i, j| if norms[i] > 0.0 { x[(i, j)] / norms[i] } else { x[(i, j)] })
}

/// `factor * x`. Fails if `factor` is not finite.
pub fn scale(x: MatRef<'_, f64>, factor: f64) -> Result<Mat<f64>> {
    if !factor.is_finite() {
        return Err(DatasetError::param("scale factor", factor, "must be finite"));
    }
    Ok(Mat::from_fn(x.nrows(), x.ncols(), |i, j| factor * x[(i, j)]))
}

/// Column-wise min-max scaling to `[0, 1]` fitted on `x` itself; constant columns become 0.
/// Returns the scaled matrix. Fails on empty or non-finite input.
pub fn min_max_scale(x: MatRef<'_, f64>) -> Result<Mat<f64>> {
    check_data("min_max_scale input", x)?;
    let mut lo = vec![f64::INFINITY; x.ncols()];
    let mut hi = vec![f64::NEG_INFINITY; x.ncols()];
    for j in 0..x.ncols() {
        for &v in x.col(j).iter() {
            lo[j] = lo[j].min(v);
            hi[j] = hi[j].max(v);
        }
    }
    Ok(Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
        let r = hi[j] - lo[j];
        if r > 0.0 { (x[(i, j)] - lo[j]) / r } else { 0.0 }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::mat;

    #[test]
    fn standardizer_mean_zero_std_one() {
        let x = Mat::from_fn(50, 4, |i, j| ((i * 7 + j * 13) % 11) as f64 * (j + 1) as f64 + 3.0);
        let (s, z) = Standardizer::fit_transform(x.as_ref()).unwrap();
        for j in 0..4 {
            let m = z.col(j).iter().sum::<f64>() / 50.0;
            let v = z.col(j).iter().map(|v| v * v).sum::<f64>() / 50.0;
            assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-12, "col {j}: {m} {v}");
        }
        let back = s.inverse_transform(z.as_ref()).unwrap();
        assert!((&back - &x).norm_max() < 1e-12);
        assert!(s.transform(Mat::<f64>::zeros(2, 3).as_ref()).is_err());
        assert!(s.transform(mat![[f64::NAN, 0.0, 0.0, 0.0]].as_ref()).is_err());
    }

    #[test]
    fn constant_column_only_centred() {
        let x = mat![[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]];
        let s = Standardizer::fit(x.as_ref()).unwrap();
        assert_eq!(s.std[0], 1.0);
        let z = s.transform(x.as_ref()).unwrap();
        assert!(z.col(0).iter().all(|v| v.abs() < 1e-15));
        assert!(Standardizer::fit(Mat::<f64>::zeros(0, 2).as_ref()).is_err());
    }

    #[test]
    fn rows_and_scaling() {
        let u = unit_norm_rows(mat![[1.0, 1.0], [0.0, -2.0]].as_ref());
        assert!((u.row(0).norm_l2() - 1.0).abs() < 1e-15);
        assert_eq!(u[(1, 1)], -1.0);
        assert_eq!(scale(mat![[1.0, 2.0]].as_ref(), 2.0).unwrap(), mat![[2.0, 4.0]]);
        assert!(scale(mat![[1.0]].as_ref(), f64::INFINITY).is_err());
        let m = min_max_scale(mat![[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]].as_ref()).unwrap();
        assert_eq!(m, mat![[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]]);
    }
}

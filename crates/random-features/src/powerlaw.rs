//! Powerlaw tasks (`lambda_i = i^-alpha`, `v_i^2 = i^-beta`, noise `sigma^2`) realised as Gaussian
//! data with projection features, and powerlaw fits of spectra.
//!
//! With `x ~ N(0, I_M)`, `K(x, x') = sum_i lambda_i x_i x'_i` has eigenfunctions `phi_i(x) = x_i`, so
//! the target `f*(x) = sum_i v_i x_i` has exactly the prescribed eigencoefficients, and the test MSE
//! of a linear predictor `x -> x^T beta` is known in closed form: `|beta - v|^2 + sigma^2`
//! ([`PowerlawTask::test_risk_of`]).
//!
//! ```
//! use random_features::powerlaw::{PowerlawTask, powerlaw_exponent};
//! let task = PowerlawTask::new(500, 1.5, 1.5, 0.1).unwrap();
//! let s = task.sample(64, 3).unwrap();
//! assert_eq!((s.x.nrows(), s.x.ncols(), s.y.nrows()), (64, 500, 64));
//! let spec = task.spectrum().unwrap();
//! let (alpha, _) = powerlaw_exponent(spec.eigenvalues(), 10, 400).unwrap();
//! assert!((alpha - 1.5).abs() < 1e-9);
//! ```
use crate::error::{Result, check_nonnegative, invalid};
use crate::theory::Spectrum;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// A synthetic powerlaw regression task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerlawTask {
    /// Number of modes `M` (input dimension).
    pub modes: usize,
    /// Eigenvalue exponent `alpha > 0`.
    pub alpha: f64,
    /// Target exponent `beta`.
    pub beta: f64,
    /// Label-noise variance `sigma^2 >= 0`.
    pub noise: f64,
}

/// Samples of a [`PowerlawTask`].
#[derive(Debug, Clone)]
pub struct PowerlawSample {
    /// `n x M` inputs, `N(0, I)`.
    pub x: Mat<f64>,
    /// `n x 1` noisy labels `x^T v + noise`.
    pub y: Mat<f64>,
    /// `n x 1` clean targets `x^T v`.
    pub f: Mat<f64>,
}

impl PowerlawTask {
    /// A validated task. Errors: `modes = 0`, `alpha <= 0`, non-finite `beta`, negative noise.
    pub fn new(modes: usize, alpha: f64, beta: f64, noise: f64) -> Result<Self> {
        let t = PowerlawTask { modes, alpha, beta, noise };
        t.validate()?;
        Ok(t)
    }

    /// Checks the fields.
    pub fn validate(&self) -> Result<()> {
        if self.modes == 0 {
            return Err(invalid("modes", 0, "a powerlaw task needs at least one mode"));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(invalid("alpha", self.alpha, "must be finite and > 0"));
        }
        if !self.beta.is_finite() {
            return Err(invalid("beta", self.beta, "must be finite"));
        }
        check_nonnegative("noise variance", self.noise)
    }

    /// The eigenvalues `i^-alpha`.
    pub fn eigenvalues(&self) -> Vec<f64> {
        (1..=self.modes).map(|i| (i as f64).powf(-self.alpha)).collect()
    }

    /// The target coefficients `v_i = i^(-beta/2)` (all positive).
    pub fn coefficients(&self) -> Vec<f64> {
        (1..=self.modes).map(|i| (i as f64).powf(-0.5 * self.beta)).collect()
    }

    /// The theory's view of the task.
    pub fn spectrum(&self) -> Result<Spectrum> {
        self.validate()?;
        Spectrum::powerlaw(self.modes, self.alpha, self.beta, self.noise)
    }

    /// `n` seeded samples. Errors: `n = 0` or an invalid task.
    pub fn sample(&self, n: usize, seed: u64) -> Result<PowerlawSample> {
        self.validate()?;
        if n == 0 {
            return Err(invalid("n", 0, "at least one sample is needed"));
        }
        let x = linalg::random::gaussian_mat(n, self.modes, seed);
        let v = self.coefficients();
        let vm = MatRef::from_column_major_slice(&v, self.modes, 1);
        let f = &x * vm;
        let eps = linalg::random::gaussian_mat(n, 1, seed ^ 0x9E37_79B9_7F4A_7C15);
        let sd = self.noise.sqrt();
        let y = Mat::from_fn(n, 1, |i, _| f[(i, 0)] + sd * eps[(i, 0)]);
        Ok(PowerlawSample { x, y, f })
    }

    /// Test MSE (label noise included) of the linear predictor `x -> x^T beta`:
    /// `|beta - v|^2 + sigma^2`. Errors: `beta` without `M` entries.
    pub fn test_risk_of(&self, beta: &[f64]) -> Result<f64> {
        if beta.len() != self.modes {
            return Err(invalid("beta length", beta.len(), &format!("expected {} entries", self.modes)));
        }
        let v = self.coefficients();
        Ok(beta.iter().zip(&v).map(|(b, v)| (b - v) * (b - v)).sum::<f64>() + self.noise)
    }
}

/// Least-squares fit of `values[i] ~ C (i + 1)^-exponent` over the 0-based index range
/// `from..to` (entries `<= 0` skipped). Returns `(exponent, r2)` with `r2` the coefficient of
/// determination in log-log space.
///
/// Errors: an empty or out-of-bounds range, or fewer than two positive values in it.
pub fn powerlaw_exponent(values: &[f64], from: usize, to: usize) -> Result<(f64, f64)> {
    if from >= to || to > values.len() {
        return Err(invalid(
            "range",
            format!("{from}..{to}"),
            &format!("must be non-empty within 0..{}", values.len()),
        ));
    }
    let pts: Vec<(f64, f64)> = (from..to)
        .filter(|&i| values[i] > 0.0 && values[i].is_finite())
        .map(|i| (((i + 1) as f64).ln(), values[i].ln()))
        .collect();
    if pts.len() < 2 {
        return Err(invalid("range", format!("{from}..{to}"), "needs at least two positive values"));
    }
    let m = pts.len() as f64;
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / m, pts.iter().map(|p| p.1).sum::<f64>() / m);
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    let slope = sxy / sxx;
    let r2 = if syy > 0.0 { sxy * sxy / (sxx * syy) } else { 1.0 };
    Ok((-slope, r2))
}

/// The target exponent `beta` from target powers `v_i^2` through their tail sums:
/// `sum_{j >= i} v_j^2 ~ i^(1 - beta)`, fitted over `from..to` (smoother than fitting `v_i^2`
/// itself, which is noisy for real data). Returns `(beta, r2)`.
pub fn target_exponent(target_power: &[f64], from: usize, to: usize) -> Result<(f64, f64)> {
    let mut tail = vec![0.0; target_power.len()];
    let mut acc = 0.0;
    for i in (0..target_power.len()).rev() {
        acc += target_power[i];
        tail[i] = acc;
    }
    let (e, r2) = powerlaw_exponent(&tail, from, to)?;
    Ok((e + 1.0, r2))
}

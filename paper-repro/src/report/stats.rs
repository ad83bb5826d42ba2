//! Small statistics the paper binaries need for their claims.

/// Mean and sample standard deviation (divisor `n - 1`) of the finite values in `xs`.
/// A single value has standard deviation 0; no finite value gives `(NaN, NaN)`.
///
/// ```
/// let (m, s) = paper_repro::report::mean_std(&[1.0, 2.0, 3.0, f64::NAN]);
/// assert_eq!((m, s), (2.0, 1.0));
/// ```
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let finite: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = finite.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = finite.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = finite.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// Least-squares line `y ≈ slope * x + intercept` through the pairs where both values are
/// finite; returns `(slope, intercept, r2)`. `r2` is the coefficient of determination (1 for a
/// perfect fit, also when all `y` are equal and fitted exactly).
///
/// Returns `(NaN, NaN, NaN)` when fewer than two usable pairs remain or all `x` are equal.
/// Only the first `min(xs.len(), ys.len())` pairs are used.
///
/// ```
/// let (slope, intercept, r2) = paper_repro::report::linear_fit(&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0]);
/// assert!((slope - 2.0).abs() < 1e-12 && (intercept - 1.0).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
/// ```
pub fn linear_fit(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    let pairs: Vec<(f64, f64)> =
        xs.iter().zip(ys).map(|(&x, &y)| (x, y)).filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    let nan = (f64::NAN, f64::NAN, f64::NAN);
    if pairs.len() < 2 {
        return nan;
    }
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = pairs.iter().map(|p| (p.1 - my).powi(2)).sum();
    // All x equal (up to rounding: spread below 1e-12 of their magnitude): no slope.
    let sum_x2: f64 = pairs.iter().map(|p| p.0 * p.0).sum();
    if sxx.is_nan() || sxx <= 1e-24 * sum_x2 {
        return nan;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_res: f64 = pairs.iter().map(|p| (p.1 - (slope * p.0 + intercept)).powi(2)).sum();
    let r2 = if syy > 0.0 {
        1.0 - ss_res / syy
    } else if ss_res <= f64::EPSILON * my.abs().max(1.0) {
        1.0
    } else {
        0.0
    };
    (slope, intercept, r2)
}

/// Fits a power law `y ≈ prefactor * x^exponent` by a least-squares line through
/// `(log x, log y)`, skipping pairs where either value is not finite and positive. Returns
/// `(exponent, prefactor, r2)` where `r2` is measured in log-log space; NaNs as for
/// [`linear_fit`].
///
/// ```
/// let xs = [1.0, 2.0, 4.0, 8.0];
/// let ys: Vec<f64> = xs.iter().map(|x: &f64| 3.0 * x.powf(-0.5)).collect();
/// let (e, c, r2) = paper_repro::report::power_law_fit(&xs, &ys);
/// assert!((e + 0.5).abs() < 1e-12 && (c - 3.0).abs() < 1e-12 && r2 > 0.999);
/// ```
pub fn power_law_fit(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    let (lx, ly): (Vec<f64>, Vec<f64>) = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && **x > 0.0 && **y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .unzip();
    let (slope, intercept, r2) = linear_fit(&lx, &ly);
    (slope, intercept.exp(), r2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_edge_cases() {
        assert!(mean_std(&[]).0.is_nan());
        assert_eq!(mean_std(&[4.0]), (4.0, 0.0));
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m, 5.0);
        assert!((s - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn linear_fit_cases() {
        let (a, b, r2) = linear_fit(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.1, 5.9, 8.0]);
        assert!((a - 1.98).abs() < 1e-9, "{a}");
        assert!((b - 0.05).abs() < 1e-9, "{b}");
        assert!(r2 > 0.99 && r2 < 1.0);
        assert!(linear_fit(&[1.0, 1.0], &[1.0, 2.0]).0.is_nan());
        assert!(linear_fit(&[1.0], &[1.0]).0.is_nan());
        let (a, b, r2) = linear_fit(&[0.0, 1.0, f64::NAN, 2.0], &[5.0, 5.0, 1.0, 5.0]);
        assert_eq!((a, b, r2), (0.0, 5.0, 1.0));
    }
}

//! Neural-collapse metrics of a feature matrix (Papyan et al. 2020, as computed in the Deep RFM
//! reference code of Beaglehole et al. 2024).
//!
//! With class means `mu_c`, their mean `mu_G` (the mean of the class means, not of the samples),
//! `C` classes present and `n` samples:
//!
//! ```text
//! Sigma_B = (1/C) sum_c (mu_c - mu_G)(mu_c - mu_G)^T
//! Sigma_W = (1/(C n)) sum_c sum_{i in c} (h_i - mu_c)(h_i - mu_c)^T
//! NC1     = tr(Sigma_W) / tr(Sigma_B)
//! NC2     = mean_{c,c'} ((U U^T)_{cc'} - E_{cc'})^2
//! ```
//!
//! where the rows of `U` are the centred class means scaled to unit length and `E` is the Gram of a
//! simplex equiangular tight frame (`1` on the diagonal, `-1/(C-1)` off it). `NC1` is the trace
//! ratio of the reference code (not Papyan's `tr(Sigma_W Sigma_B^+)/C`); the `1/(C n)` factor is a
//! constant that cancels in every comparison across layers. No `d x d` covariance is formed: the
//! traces are sums of squared distances.
//!
//! ```
//! use faer::mat;
//! use rfm::collapse::neural_collapse;
//! // two classes, every sample equal to its class mean: complete collapse
//! let h = mat![[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]];
//! let nc = neural_collapse(h.as_ref(), &[0, 0, 1, 1]).unwrap();
//! assert!(nc.nc1.abs() < 1e-15 && nc.nc2.abs() < 1e-15);
//! ```
use crate::error::{Result, invalid};
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// The neural-collapse measures of one feature matrix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NcMetrics {
    /// `tr(Sigma_W) / tr(Sigma_B)`: within-class variability relative to the class-mean spread.
    pub nc1: f64,
    /// Mean squared distance of the normalised class-mean Gram from the simplex ETF Gram.
    pub nc2: f64,
    /// `tr(Sigma_W)`.
    pub trace_within: f64,
    /// `tr(Sigma_B)`.
    pub trace_between: f64,
    /// Number of classes present.
    pub classes: usize,
}

/// Class means (`C x d`, classes in increasing label order, absent labels skipped) and the
/// present labels.
fn class_means(h: MatRef<'_, f64>, labels: &[usize]) -> Result<(Mat<f64>, Vec<usize>, Vec<usize>)> {
    linalg::validate::check_data("neural collapse: features", h)?;
    if labels.len() != h.nrows() {
        return Err(invalid(
            "labels",
            labels.len(),
            &format!("need one label per feature row ({} rows)", h.nrows()),
        ));
    }
    let max = labels.iter().copied().max().unwrap_or(0);
    if max > 1_000_000 {
        return Err(invalid("labels", max, "labels must be class indices below 1000000"));
    }
    let mut counts = vec![0usize; max + 1];
    for &l in labels {
        counts[l] += 1;
    }
    let present: Vec<usize> = (0..=max).filter(|&c| counts[c] > 0).collect();
    if present.len() < 2 {
        return Err(invalid("labels", present.len(), "neural collapse needs at least 2 classes present"));
    }
    let mut slot = vec![usize::MAX; max + 1];
    for (k, &c) in present.iter().enumerate() {
        slot[c] = k;
    }
    let d = h.ncols();
    let mut means = Mat::<f64>::zeros(present.len(), d);
    for (i, &l) in labels.iter().enumerate() {
        let k = slot[l];
        for j in 0..d {
            means[(k, j)] += h[(i, j)];
        }
    }
    for (k, &c) in present.iter().enumerate() {
        let inv = 1.0 / counts[c] as f64;
        for j in 0..d {
            means[(k, j)] *= inv;
        }
    }
    let slots = labels.iter().map(|&l| slot[l]).collect();
    Ok((means, present, slots))
}

/// NC1 and NC2 of the features `h` (`n x d`, one row per sample) with integer class `labels`.
///
/// Fails on empty or non-finite features, a label count that differs from the row count, or fewer
/// than two classes present.
pub fn neural_collapse(h: MatRef<'_, f64>, labels: &[usize]) -> Result<NcMetrics> {
    let (means, _, slots) = class_means(h, labels)?;
    let (n, d, c) = (h.nrows(), h.ncols(), means.nrows());
    let mut global = vec![0.0; d];
    for k in 0..c {
        for (j, g) in global.iter_mut().enumerate() {
            *g += means[(k, j)] / c as f64;
        }
    }
    let mut within = 0.0;
    for (i, &k) in slots.iter().enumerate() {
        for j in 0..d {
            let v = h[(i, j)] - means[(k, j)];
            within += v * v;
        }
    }
    let trace_within = within / (c * n) as f64;
    let centred = Mat::from_fn(c, d, |k, j| means[(k, j)] - global[j]);
    let trace_between = centred.squared_norm_l2() / c as f64;
    let nc1 = if trace_between > 0.0 {
        trace_within / trace_between
    } else if trace_within == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    // NC2: normalised centred means against the simplex ETF
    let mut u = centred;
    for k in 0..c {
        let norm = (0..d).map(|j| u[(k, j)] * u[(k, j)]).sum::<f64>().sqrt();
        if norm > 0.0 {
            for j in 0..d {
                u[(k, j)] /= norm;
            }
        }
    }
    let gram = &u * u.transpose();
    let off = -1.0 / (c as f64 - 1.0);
    let mut nc2 = 0.0;
    for a in 0..c {
        for b in 0..c {
            let e = if a == b { 1.0 } else { off };
            let diff = gram[(a, b)] - e;
            nc2 += diff * diff;
        }
    }
    nc2 /= (c * c) as f64;
    Ok(NcMetrics { nc1, nc2, trace_within, trace_between, classes: c })
}

/// The Gram matrix of the globally centred, row-normalised features (`n x n`): at collapse it is
/// block diagonal (rows ordered by class) with `1` inside blocks and `-1/(C-1)` between them.
/// Rows that are zero after centring stay zero.
pub fn normalized_gram(h: MatRef<'_, f64>) -> Result<Mat<f64>> {
    linalg::validate::check_data("normalized Gram: features", h)?;
    let (n, d) = (h.nrows(), h.ncols());
    let mut mean = vec![0.0; d];
    for j in 0..d {
        mean[j] = (0..n).map(|i| h[(i, j)]).sum::<f64>() / n as f64;
    }
    let mut f = Mat::from_fn(n, d, |i, j| h[(i, j)] - mean[j]);
    for i in 0..n {
        let norm = (0..d).map(|j| f[(i, j)] * f[(i, j)]).sum::<f64>().sqrt();
        if norm > 0.0 {
            for j in 0..d {
                f[(i, j)] /= norm;
            }
        }
    }
    Ok(&f * f.transpose())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn simplex_etf(c: usize) -> Mat<f64> {
        // e_k - (1/C) 1, scaled: rows are the vertices of a regular simplex centred at 0
        Mat::from_fn(c, c, |i, j| if i == j { 1.0 - 1.0 / c as f64 } else { -1.0 / c as f64 })
    }

    #[test]
    fn etf_has_zero_nc1_and_nc2() {
        for c in [2, 3, 5, 10] {
            let v = simplex_etf(c);
            // three copies of every vertex
            let n = 3 * c;
            let h = Mat::from_fn(n, c, |i, j| v[(i % c, j)]);
            let labels: Vec<usize> = (0..n).map(|i| i % c).collect();
            let nc = neural_collapse(h.as_ref(), &labels).unwrap();
            assert!(nc.nc1.abs() < 1e-14, "nc1 {}", nc.nc1);
            assert!(nc.nc2.abs() < 1e-14, "nc2 {}", nc.nc2);
        }
    }

    #[test]
    fn non_etf_means_have_positive_nc2() {
        let h = faer::mat![[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]];
        let nc = neural_collapse(h.as_ref(), &[0, 1, 2]).unwrap();
        assert!(nc.nc2 > 0.01);
    }

    #[test]
    fn known_value() {
        // class 0: {(0,0),(2,0)}, mean (1,0); class 1: {(0,4)}, mean (0,4); mu_G = (0.5, 2)
        let h = faer::mat![[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]];
        let nc = neural_collapse(h.as_ref(), &[0, 0, 1]).unwrap();
        let tw = 2.0 / (2.0 * 3.0);
        let tb = (0.25 + 4.0 + 0.25 + 4.0) / 2.0;
        assert!((nc.trace_within - tw).abs() < 1e-14);
        assert!((nc.trace_between - tb).abs() < 1e-14);
        assert!((nc.nc1 - tw / tb).abs() < 1e-14);
        // two classes: centred means are opposite, which is the 2-class ETF
        assert!(nc.nc2 < 1e-14);
    }

    #[test]
    fn bad_input_is_an_error() {
        let h = faer::mat![[0.0, 1.0], [1.0, 0.0]];
        assert!(neural_collapse(h.as_ref(), &[0]).is_err());
        assert!(neural_collapse(h.as_ref(), &[1, 1]).is_err());
        let nan = faer::mat![[f64::NAN, 1.0], [1.0, 0.0]];
        assert!(neural_collapse(nan.as_ref(), &[0, 1]).is_err());
        assert!(neural_collapse(Mat::<f64>::zeros(0, 2).as_ref(), &[]).is_err());
    }

    #[test]
    fn gram_at_collapse_is_block_etf() {
        let v = simplex_etf(3);
        let h = Mat::from_fn(6, 3, |i, j| 2.0 * v[(i / 2, j)]);
        let g = normalized_gram(h.as_ref()).unwrap();
        for a in 0..6 {
            for b in 0..6 {
                let want = if a / 2 == b / 2 { 1.0 } else { -0.5 };
                assert!((g[(a, b)] - want).abs() < 1e-12);
            }
        }
    }

    fn features(n: usize, d: usize, c: usize, seed: u64) -> (Mat<f64>, Vec<usize>) {
        let h = linalg::random::gaussian_mat(n, d, seed);
        let labels = (0..n).map(|i| i % c).collect();
        (h, labels)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn nc1_invariant_to_scaling_and_rotation(seed in 0u64..1000, scale in 0.01f64..100.0) {
            let (h, labels) = features(24, 5, 3, seed);
            let base = neural_collapse(h.as_ref(), &labels).unwrap();
            let scaled = &h * scale;
            let s = neural_collapse(scaled.as_ref(), &labels).unwrap();
            prop_assert!((s.nc1 - base.nc1).abs() <= 1e-10 * base.nc1.max(1.0));
            prop_assert!((s.nc2 - base.nc2).abs() <= 1e-10);
            // random orthogonal matrix from a QR factorisation
            let g = linalg::random::gaussian_mat(5, 5, seed + 7);
            let q = g.qr().compute_Q();
            let rotated = &h * &q;
            let r = neural_collapse(rotated.as_ref(), &labels).unwrap();
            prop_assert!((r.nc1 - base.nc1).abs() <= 1e-10 * base.nc1.max(1.0));
            prop_assert!((r.nc2 - base.nc2).abs() <= 1e-10);
            prop_assert!(base.nc1 >= 0.0 && base.nc2 >= 0.0);
        }
    }
}

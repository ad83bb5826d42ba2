//! Digits on natural-image-like clutter: a seeded, offline stand-in for street-view digit crops
//! (SVHN) built from any grey-scale digit set (e.g. [`crate::load::mnist10k`]).
//!
//! The background of every image is a **dead-leaves** image (Matheron; Lee, Mumford and Huang 2001,
//! "Occlusion models for natural images"): opaque shapes ("leaves": discs and rotated rectangles) of
//! independent uniform intensities in `[0, 1]`, with radii of density `proportional to r^-3` on
//! `[min_radius, max_radius]` (the scale-invariant choice, which gives the `1 / f^2` power spectrum
//! and the sharp, occluding edges of natural images), painted one over the other at uniform
//! positions. The digit is then composited on top with its pixels as opacity,
//! `x = (1 - a) bg + a fg`, in a uniform ink intensity `fg` that is lighter or darker (a fair coin)
//! than the mean background under the digit by at least `min_contrast`.
//!
//! So, as in SVHN, the digit can be light on dark or dark on light, the background is cluttered by
//! edges that carry no label, and the absolute brightness of a patch says nothing about the class:
//! the label is in the shape of the intensity changes.
//!
//! ```
//! use datasets::clutter::{ClutterParams, digits_on_clutter};
//! use datasets::Dataset;
//! use faer::Mat;
//! // two 8 x 8 "digits": a vertical and a horizontal bar
//! let x = Mat::from_fn(2, 64, |i, j| if (if i == 0 { j % 8 } else { j / 8 }) == 4 { 1.0 } else { 0.0 });
//! let digits = Dataset::classification("bars", x, vec![0, 1], 2)?;
//! let params = ClutterParams { min_radius: 1.0, max_radius: 4.0, ..ClutterParams::default() };
//! let a = digits_on_clutter(&digits, 8, 8, &params, 7)?;
//! let b = digits_on_clutter(&digits, 8, 8, &params, 7)?;
//! assert_eq!(a.x, b.x); // same seed, same images
//! assert_eq!(a.labels, digits.labels);
//! assert!(a.x.col_iter().flat_map(|c| c.iter().copied()).all(|v| (0.0..=1.0).contains(&v)));
//! assert!(digits_on_clutter(&digits, 8, 9, &params, 7).is_err()); // 8 x 9 != 64 pixels
//! # Ok::<(), datasets::DatasetError>(())
//! ```
use faer::Mat;
use linalg::random::rng;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{DatasetError, Result};

/// Parameters of [`dead_leaves`] and [`digits_on_clutter`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClutterParams {
    /// Leaves painted per background (>= 1). Every background starts from a uniform random grey,
    /// so a few pixels may show it when the leaves do not cover the image.
    pub leaves: usize,
    /// Smallest leaf radius in pixels (> 0).
    pub min_radius: f64,
    /// Largest leaf radius in pixels (>= `min_radius`).
    pub max_radius: f64,
    /// Width of the interval of leaf intensities (in `[0, 1]`): every background draws its own
    /// interval uniformly inside `[0, 1]`, so its mean brightness is random; 1 is the classic
    /// dead-leaves model (every leaf uniform in `[0, 1]`), smaller values give lower-contrast clutter.
    pub leaf_contrast: f64,
    /// Smallest `|fg - mean background under the digit|` of the ink intensity (in `[0, 0.5]`, so that
    /// it can always be met inside `[0, 1]`).
    pub min_contrast: f64,
    /// Standard deviation of independent Gaussian pixel noise added last (>= 0; the result is not
    /// clipped when it is positive).
    pub noise: f64,
}

impl Default for ClutterParams {
    /// 40 leaves of radius 1.5 to 14 pixels (for 28 x 28 images), contrast at least 0.25, no noise.
    fn default() -> Self {
        ClutterParams {
            leaves: 40,
            min_radius: 1.5,
            max_radius: 14.0,
            leaf_contrast: 1.0,
            min_contrast: 0.25,
            noise: 0.0,
        }
    }
}

impl ClutterParams {
    /// Checks every field (see their documentation).
    pub fn validate(&self) -> Result<()> {
        if self.leaves == 0 {
            return Err(DatasetError::param("leaves", self.leaves, "need at least one leaf"));
        }
        if !(self.min_radius.is_finite() && self.min_radius > 0.0) {
            return Err(DatasetError::param("min_radius", self.min_radius, "must be finite and > 0"));
        }
        if !(self.max_radius.is_finite() && self.max_radius >= self.min_radius) {
            return Err(DatasetError::param(
                "max_radius",
                self.max_radius,
                format!("must be finite and >= min_radius = {}", self.min_radius),
            ));
        }
        if !(0.0..=1.0).contains(&self.leaf_contrast) {
            return Err(DatasetError::param("leaf_contrast", self.leaf_contrast, "must be in [0, 1]"));
        }
        if !(0.0..=0.5).contains(&self.min_contrast) {
            return Err(DatasetError::param("min_contrast", self.min_contrast, "must be in [0, 0.5]"));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(DatasetError::param("noise", self.noise, "must be finite and >= 0"));
        }
        Ok(())
    }
}

fn check_shape(height: usize, width: usize) -> Result<()> {
    if height == 0 || width == 0 {
        return Err(DatasetError::shape(
            "clutter image",
            "height and width >= 1",
            format!("{height} x {width}"),
        ));
    }
    Ok(())
}

/// Radius of density `proportional to r^-3` on `[lo, hi]` (inverse CDF).
fn leaf_radius<R: Rng + ?Sized>(r: &mut R, lo: f64, hi: f64) -> f64 {
    let u: f64 = r.random();
    let (a, b) = (lo.powi(-2), hi.powi(-2));
    (a - u * (a - b)).powf(-0.5)
}

/// Paints one dead-leaves background (row-major, `height * width`) into `out`.
fn paint_background<R: Rng + ?Sized>(
    r: &mut R,
    height: usize,
    width: usize,
    p: &ClutterParams,
    out: &mut [f64],
) {
    let low = r.random::<f64>() * (1.0 - p.leaf_contrast);
    out.fill(low + p.leaf_contrast * r.random::<f64>());
    let (h, w) = (height as f64, width as f64);
    for _ in 0..p.leaves {
        let rad = leaf_radius(r, p.min_radius, p.max_radius);
        // centres anywhere the leaf can still overlap the image
        let ci = r.random_range(-rad..h + rad);
        let cj = r.random_range(-rad..w + rad);
        let value = low + p.leaf_contrast * r.random::<f64>();
        let disc = r.random_bool(0.5);
        // rectangle: half-sides rad and rad * aspect, rotated by theta
        let aspect = r.random_range(0.2..1.0);
        let theta = r.random_range(0.0..std::f64::consts::PI);
        let (s, c) = theta.sin_cos();
        let (i0, i1) =
            ((ci - rad).floor().max(0.0) as usize, ((ci + rad).ceil().max(0.0) as usize).min(height));
        let (j0, j1) =
            ((cj - rad).floor().max(0.0) as usize, ((cj + rad).ceil().max(0.0) as usize).min(width));
        for i in i0..i1 {
            for j in j0..j1 {
                let (di, dj) = (i as f64 + 0.5 - ci, j as f64 + 0.5 - cj);
                let inside = if disc {
                    di * di + dj * dj <= rad * rad
                } else {
                    (di * c + dj * s).abs() <= rad && (-di * s + dj * c).abs() <= rad * aspect
                };
                if inside {
                    out[i * width + j] = value;
                }
            }
        }
    }
}

/// `n` dead-leaves images of `height x width` pixels (rows of the result, row-major), values in
/// `[0, 1]` (plus `params.noise`). The same seed gives the same images.
pub fn dead_leaves(
    n: usize,
    height: usize,
    width: usize,
    params: &ClutterParams,
    seed: u64,
) -> Result<Mat<f64>> {
    params.validate()?;
    check_shape(height, width)?;
    let mut r = rng(seed);
    let mut bg = vec![0.0; height * width];
    let mut x = Mat::zeros(n, height * width);
    for i in 0..n {
        paint_background(&mut r, height, width, params, &mut bg);
        for (j, &v) in bg.iter().enumerate() {
            let e: f64 = if params.noise > 0.0 { StandardNormal.sample(&mut r) } else { 0.0 };
            x[(i, j)] = v + params.noise * e;
        }
    }
    Ok(x)
}

/// Every image of `digits` (rows of `height * width` pixels in `[0, 1]`, used as the opacity of
/// the ink) composited on its own dead-leaves background, in an ink intensity lighter or darker
/// than the background under it (see the [module docs](self)). Targets and labels are copied.
///
/// Errors: invalid `params`, `height * width` different from the number of columns, or a pixel
/// outside `[0, 1]` (named by row and column).
pub fn digits_on_clutter(
    digits: &Dataset,
    height: usize,
    width: usize,
    params: &ClutterParams,
    seed: u64,
) -> Result<Dataset> {
    params.validate()?;
    check_shape(height, width)?;
    let d = height * width;
    if digits.d() != d {
        return Err(DatasetError::shape(
            "digits_on_clutter",
            format!("{d} columns ({height} x {width} pixels)"),
            format!("{} columns", digits.d()),
        ));
    }
    for j in 0..d {
        for i in 0..digits.n() {
            let a = digits.x[(i, j)];
            if !(0.0..=1.0).contains(&a) {
                return Err(DatasetError::param(
                    &format!("digits.x[({i}, {j})]"),
                    a,
                    "digit pixels are opacities and must be in [0, 1]",
                ));
            }
        }
    }
    let mut r = rng(seed);
    let mut bg = vec![0.0; d];
    let mut out = digits.clone();
    out.name = format!("{}-on-clutter", digits.name);
    for i in 0..digits.n() {
        paint_background(&mut r, height, width, params, &mut bg);
        let (mut mass, mut under) = (0.0, 0.0);
        for (j, &b) in bg.iter().enumerate() {
            mass += digits.x[(i, j)];
            under += digits.x[(i, j)] * b;
        }
        let mean = if mass > 0.0 { under / mass } else { 0.5 };
        // lighter or darker by a fair coin; the other way when that side has too little room
        let mut lighter = r.random_bool(0.5);
        let room = |lighter: bool| if lighter { 1.0 - mean } else { mean };
        if room(lighter) < params.min_contrast {
            lighter = !lighter;
        }
        let contrast =
            params.min_contrast + r.random::<f64>() * (room(lighter) - params.min_contrast).max(0.0);
        let fg = if lighter { mean + contrast } else { mean - contrast }.clamp(0.0, 1.0);
        for (j, &b) in bg.iter().enumerate() {
            let a = digits.x[(i, j)];
            let e: f64 = if params.noise > 0.0 { StandardNormal.sample(&mut r) } else { 0.0 };
            out.x[(i, j)] = (1.0 - a) * b + a * fg + params.noise * e;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars() -> Dataset {
        // class 0: a vertical bar, class 1: a horizontal bar (12 x 12)
        let x = Mat::from_fn(40, 144, |i, j| {
            let (a, b) = (j / 12, j % 12);
            let on = if i % 2 == 0 { b == 5 || b == 6 } else { a == 5 || a == 6 };
            if on && (2..10).contains(&(if i % 2 == 0 { a } else { b })) { 1.0 } else { 0.0 }
        });
        Dataset::classification("bars", x, (0..40).map(|i| i % 2).collect(), 2).unwrap()
    }

    #[test]
    fn deterministic_by_seed_and_in_range() {
        let p = ClutterParams { max_radius: 6.0, ..ClutterParams::default() };
        let d = bars();
        let a = digits_on_clutter(&d, 12, 12, &p, 3).unwrap();
        assert_eq!(a.x, digits_on_clutter(&d, 12, 12, &p, 3).unwrap().x);
        assert_ne!(a.x, digits_on_clutter(&d, 12, 12, &p, 4).unwrap().x);
        assert_eq!(a.labels, d.labels);
        assert_eq!(a.y, d.y);
        assert!(a.x.col_iter().flat_map(|c| c.iter().copied()).all(|v| (0.0..=1.0).contains(&v)));
        let bg = dead_leaves(5, 12, 12, &p, 9).unwrap();
        assert_eq!(bg, dead_leaves(5, 12, 12, &p, 9).unwrap());
        assert!(bg.col_iter().flat_map(|c| c.iter().copied()).all(|v| (0.0..=1.0).contains(&v)));
    }

    #[test]
    fn ink_contrast_and_both_polarities() {
        let p = ClutterParams { max_radius: 6.0, min_contrast: 0.3, ..ClutterParams::default() };
        let d = bars();
        let x = digits_on_clutter(&d, 12, 12, &p, 1).unwrap().x;
        let (mut lighter, mut darker) = (0, 0);
        for i in 0..d.n() {
            // the ink pixels (opacity 1) all have the same intensity fg
            let ink: Vec<f64> = (0..144).filter(|&j| d.x[(i, j)] == 1.0).map(|j| x[(i, j)]).collect();
            assert!(ink.iter().all(|&v| (v - ink[0]).abs() < 1e-12));
            assert!((0.0..=1.0).contains(&ink[0]));
            // polarity against the mean of the pixels without ink
            let rest: Vec<f64> = (0..144).filter(|&j| d.x[(i, j)] == 0.0).map(|j| x[(i, j)]).collect();
            let mean = rest.iter().sum::<f64>() / rest.len() as f64;
            if ink[0] > mean { lighter += 1 } else { darker += 1 }
        }
        assert!(lighter >= 5 && darker >= 5, "{lighter} lighter, {darker} darker");
    }

    #[test]
    fn contrast_is_at_least_min_contrast_against_the_background_under_the_ink() {
        // with one leaf too small to cover a pixel centre the background is the constant starting
        // grey, so the ink contrast against it is exact
        let p = ClutterParams {
            leaves: 1,
            min_radius: 1e-9,
            max_radius: 1e-9,
            min_contrast: 0.4,
            ..ClutterParams::default()
        };
        let d = bars();
        let x = digits_on_clutter(&d, 12, 12, &p, 5).unwrap().x;
        for i in 0..d.n() {
            let ink = (0..144).find(|&j| d.x[(i, j)] == 1.0).unwrap();
            let bg = (0..144).find(|&j| d.x[(i, j)] == 0.0).unwrap();
            assert!((x[(i, ink)] - x[(i, bg)]).abs() >= 0.4 - 1e-12, "image {i}");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let d = bars();
        let ok = ClutterParams::default();
        for p in [
            ClutterParams { leaves: 0, ..ok },
            ClutterParams { min_radius: 0.0, ..ok },
            ClutterParams { max_radius: 1.0, ..ok },
            ClutterParams { min_radius: f64::NAN, ..ok },
            ClutterParams { min_contrast: 0.6, ..ok },
            ClutterParams { leaf_contrast: 1.5, ..ok },
            ClutterParams { noise: -1.0, ..ok },
        ] {
            let e = digits_on_clutter(&d, 12, 12, &p, 0).unwrap_err();
            assert!(matches!(e, DatasetError::InvalidParameter { .. }), "{e}");
        }
        assert!(matches!(digits_on_clutter(&d, 12, 11, &ok, 0), Err(DatasetError::ShapeMismatch { .. })));
        assert!(matches!(dead_leaves(2, 0, 3, &ok, 0), Err(DatasetError::ShapeMismatch { .. })));
        let mut bad = d.clone();
        bad.x[(3, 7)] = 1.5;
        let e = digits_on_clutter(&bad, 12, 12, &ok, 0).unwrap_err();
        assert!(e.to_string().contains("(3, 7)"), "{e}");
    }
}

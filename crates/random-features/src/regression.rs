//! Random-feature ridge regression `f(x) = K_hat(x, X) (K_hat(X, X) + delta I)^-1 y` with
//! `K_hat = G G^T / k`, solved in whichever of sample space (`n x n`) or feature space (`k x k`) is
//! smaller, for many ridges from one eigendecomposition ([`RidgePath`]), and the usual
//! params/fit/predict estimator ([`RfRegressionParams`] -> [`RfModel`]).
//!
//! Ridge 0 is the minimum-norm interpolant (eigenvalues below `max(n, k) eps s_max` are treated as
//! zero, like a pseudo-inverse).
//!
//! ```
//! use random_features::features::FeatureKind;
//! use random_features::regression::RfRegressionParams;
//! let x = linalg::random::gaussian_mat(200, 2, 0);
//! let y = faer::Mat::from_fn(200, 1, |i, _| (x[(i, 0)]).sin());
//! let model = RfRegressionParams::new(FeatureKind::GaussianFourier { bandwidth: 1.0 }, 300)
//!     .with_ridge(1e-3)
//!     .with_seed(1)
//!     .fit(x.as_ref(), y.as_ref())
//!     .unwrap();
//! let xt = faer::mat![[0.5, -1.0]];
//! let p = model.predict(xt.as_ref()).unwrap();
//! assert!((p[(0, 0)] - 0.5f64.sin()).abs() < 0.05);
//! ```
use crate::error::{Result, check_nonnegative, invalid};
use crate::features::{FeatureKind, FeatureMap};
use faer::{Accum, Mat, MatRef};
use linalg::validate::{check_data, check_same_rows};
use serde::{Deserialize, Serialize};

/// In which space a [`RidgePath`] was decomposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SolveSpace {
    /// `n <= k`: eigendecomposition of `K_hat(X, X)` (`n x n`).
    Sample,
    /// `k < n`: eigendecomposition of `Phi^T Phi` (`k x k`), `Phi = G / sqrt(k)`.
    Feature,
}

/// One eigendecomposition of a random-feature regression problem, from which the coefficients and
/// train error at any ridge cost `O(k min(n, k))`.
///
/// With `Phi = G / sqrt(k)` and `s_i, c_i` the eigenvalues and projected targets of the smaller Gram
/// matrix, the coefficients on the raw features are `a(delta) = B diag(1 / (s + delta)) C / sqrt(k)`.
#[derive(Debug, Clone)]
pub struct RidgePath {
    space: SolveSpace,
    n: usize,
    k: usize,
    s: Vec<f64>,
    /// `k x r`, already divided by sqrt(k).
    b: Mat<f64>,
    /// `r x c` projected targets.
    c: Mat<f64>,
    /// `||y_col||^2` per output.
    y_sq: Vec<f64>,
    tol: f64,
}

impl RidgePath {
    /// Decomposes the problem with raw features `g` (`n x k`, e.g. from
    /// [`FeatureMap::transform`]) and targets `y` (`n x c`).
    ///
    /// Errors: empty or non-finite inputs, row counts that differ, no convergence of the
    /// eigendecomposition.
    pub fn fit(g: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<Self> {
        check_data("random features", g)?;
        check_data("targets", y)?;
        check_same_rows("random-feature regression (features vs targets)", g, y)?;
        let (n, k) = (g.nrows(), g.ncols());
        let par = linalg::default_par();
        let inv_k = 1.0 / k as f64;
        let y_sq = (0..y.ncols()).map(|j| y.col(j).squared_norm_l2()).collect();
        if n <= k {
            let mut gram = Mat::<f64>::zeros(n, n);
            faer::linalg::matmul::matmul(gram.as_mut(), Accum::Replace, g, g.transpose(), inv_k, par);
            let e = linalg::sym::sym_eigen(gram.as_ref())?;
            // B = Phi^T U / sqrt(k) = G^T U / k
            let mut b = Mat::<f64>::zeros(k, n);
            faer::linalg::matmul::matmul(
                b.as_mut(),
                Accum::Replace,
                g.transpose(),
                e.vectors.as_ref(),
                inv_k,
                par,
            );
            let c = e.vectors.transpose() * y;
            let tol = tolerance(&e.values, n, k);
            Ok(RidgePath { space: SolveSpace::Sample, n, k, s: e.values, b, c, y_sq, tol })
        } else {
            let mut gram = Mat::<f64>::zeros(k, k);
            faer::linalg::matmul::matmul(gram.as_mut(), Accum::Replace, g.transpose(), g, inv_k, par);
            let e = linalg::sym::sym_eigen(gram.as_ref())?;
            // C = V^T Phi^T y, B = V / sqrt(k)
            let mut gty = Mat::<f64>::zeros(k, y.ncols());
            faer::linalg::matmul::matmul(gty.as_mut(), Accum::Replace, g.transpose(), y, inv_k.sqrt(), par);
            let c = e.vectors.transpose() * &gty;
            let b = &e.vectors * faer::Scale(inv_k.sqrt());
            let tol = tolerance(&e.values, n, k);
            Ok(RidgePath { space: SolveSpace::Feature, n, k, s: e.values, b, c, y_sq, tol })
        }
    }

    /// Sample or feature space.
    pub fn space(&self) -> SolveSpace {
        self.space
    }

    /// Eigenvalues of the decomposed Gram matrix, largest first.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.s
    }

    fn filter(&self, ridge: f64) -> Vec<f64> {
        self.s
            .iter()
            .map(|&s| if s <= self.tol && ridge == 0.0 { 0.0 } else { 1.0 / (s.max(0.0) + ridge) })
            .collect()
    }

    /// Coefficients `a` on the raw features (`k x c`) at one ridge: `f(x) = g(x)^T a`.
    ///
    /// Errors: a negative or non-finite ridge.
    pub fn coefficients(&self, ridge: f64) -> Result<Mat<f64>> {
        check_nonnegative("ridge", ridge)?;
        let h = self.filter(ridge);
        let hc = Mat::from_fn(self.c.nrows(), self.c.ncols(), |i, j| h[i] * self.c[(i, j)]);
        Ok(&self.b * &hc)
    }

    /// Coefficients for many ridges at once, single-output problems only: column `r` of the
    /// `k x ridges.len()` result is `a(ridges[r])`. One GEMM.
    ///
    /// Errors: a negative ridge, or more than one output.
    pub fn coefficients_many(&self, ridges: &[f64]) -> Result<Mat<f64>> {
        if self.c.ncols() != 1 {
            return Err(invalid("outputs", self.c.ncols(), "coefficients_many needs a single output"));
        }
        let mut hc = Mat::<f64>::zeros(self.c.nrows(), ridges.len());
        for (r, &d) in ridges.iter().enumerate() {
            check_nonnegative("ridge", d)?;
            let h = self.filter(d);
            for i in 0..self.c.nrows() {
                hc[(i, r)] = h[i] * self.c[(i, 0)];
            }
        }
        let mut out = Mat::<f64>::zeros(self.k, ridges.len());
        faer::linalg::matmul::matmul(
            out.as_mut(),
            Accum::Replace,
            self.b.as_ref(),
            hc.as_ref(),
            1.0,
            linalg::default_par(),
        );
        Ok(out)
    }

    /// Training MSE (mean over samples and outputs) at one ridge, in closed form from the
    /// eigendecomposition.
    pub fn train_mse(&self, ridge: f64) -> Result<f64> {
        let per = self.train_mse_per_output(ridge)?;
        Ok(per.iter().sum::<f64>() / per.len() as f64)
    }

    /// Training MSE of each output column at one ridge.
    pub fn train_mse_per_output(&self, ridge: f64) -> Result<Vec<f64>> {
        check_nonnegative("ridge", ridge)?;
        let h = self.filter(ridge);
        let mut out = Vec::with_capacity(self.c.ncols());
        for j in 0..self.c.ncols() {
            let mut acc = 0.0;
            match self.space {
                SolveSpace::Sample => {
                    // residual = U diag(1 - s h) c (U is a full basis of R^n)
                    for (i, (&s, &hi)) in self.s.iter().zip(&h).enumerate() {
                        let r = 1.0 - s.max(0.0) * hi;
                        acc += (r * self.c[(i, j)]).powi(2);
                    }
                }
                SolveSpace::Feature => {
                    // ||y||^2 - sum c_i^2 (2 h_i - s_i h_i^2)
                    let mut fit = 0.0;
                    for (i, (&s, &hi)) in self.s.iter().zip(&h).enumerate() {
                        let s = s.max(0.0);
                        fit += self.c[(i, j)].powi(2) * (2.0 * hi - s * hi * hi);
                    }
                    acc = (self.y_sq[j] - fit).max(0.0);
                }
            }
            out.push(acc / self.n as f64);
        }
        Ok(out)
    }
}

fn tolerance(values: &[f64], n: usize, k: usize) -> f64 {
    let smax = values.iter().cloned().fold(0.0, f64::max);
    smax * n.max(k) as f64 * f64::EPSILON
}

/// Hyperparameters of random-feature ridge regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfRegressionParams {
    /// Which features to draw.
    pub features: FeatureKind,
    /// Number of features `k >= 1`.
    pub n_features: usize,
    /// Ridge `delta >= 0` (added to `K_hat(X, X)`, not divided by `n`).
    pub ridge: f64,
    /// Seed of the feature draw.
    pub seed: u64,
}

impl Default for RfRegressionParams {
    fn default() -> Self {
        RfRegressionParams {
            features: FeatureKind::GaussianFourier { bandwidth: 1.0 },
            n_features: 1000,
            ridge: 1e-3,
            seed: 0,
        }
    }
}

impl RfRegressionParams {
    /// `k` features of the given kind, ridge `1e-3`, seed 0.
    pub fn new(features: FeatureKind, n_features: usize) -> Self {
        RfRegressionParams { features, n_features, ..Default::default() }
    }
    /// Sets the ridge.
    pub fn with_ridge(mut self, ridge: f64) -> Self {
        self.ridge = ridge;
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Checks `k >= 1` and `ridge >= 0` (the feature kind is checked against the data in `fit`).
    pub fn validate(&self) -> Result<()> {
        if self.n_features == 0 {
            return Err(invalid("n_features", 0, "at least one random feature is needed"));
        }
        check_nonnegative("ridge", self.ridge)
    }
    /// Draws the features and fits. Errors: invalid params or data.
    pub fn fit(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<RfModel> {
        self.validate()?;
        check_data("training inputs", x)?;
        let map = FeatureMap::draw(self.features.clone(), x.ncols(), self.n_features, self.seed)?;
        let g = map.transform(x)?;
        let coef = RidgePath::fit(g.as_ref(), y)?.coefficients(self.ridge)?;
        Ok(RfModel { map, coef })
    }
}

/// A fitted random-feature model `f(x) = g(x)^T a`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfModel {
    /// The feature map.
    pub map: FeatureMap,
    /// `k x c` coefficients on the raw features.
    #[serde(with = "linalg::serde_mat")]
    pub coef: Mat<f64>,
}

impl RfModel {
    /// Predictions (`n x c`). Errors: bad inputs.
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let g = self.map.transform(x)?;
        Ok(g * &self.coef)
    }
}

//! Random feature maps `g_1..g_k` with `E[g_j(x) g_j(x')] = K(x, x')`, so that the random-feature
//! kernel `K_hat(x, x') = (1/k) sum_j g_j(x) g_j(x')` is an unbiased estimate of `K`.
//!
//! * [`FeatureKind::GaussianFourier`]: `g(x) = sqrt(2) cos(w.x + b)`, `w ~ N(0, I / L^2)`,
//!   `b ~ U[0, 2 pi)`, for `K = exp(-|x - x'|^2 / (2 L^2))`;
//! * [`FeatureKind::LaplaceFourier`]: the same with `w` multivariate Cauchy (Student t, one degree
//!   of freedom, scale `1/L`), for `K = exp(-|x - x'| / L)` (Euclidean norm, as in `kernels`);
//! * [`FeatureKind::Relu`]: `g(x) = sqrt(2) max(0, w.x)`, `w ~ N(0, I / d)`, for the one-hidden-layer
//!   ReLU NNGP (arc-cosine) kernel, see [`relu_nngp_kernel`];
//! * [`FeatureKind::Projection`]: `g(x) = sum_i w_i s_i x_i`, `w ~ N(0, I)`, for the linear kernel
//!   `K = sum_i s_i^2 x_i x'_i`; with `x ~ N(0, I)` and `s_i^2 = lambda_i` this realises any
//!   prescribed eigenspectrum (the powerlaw tasks), with eigenfunctions `phi_i(x) = x_i`.
//!
//! ```
//! use random_features::features::{FeatureKind, FeatureMap};
//! let x = linalg::random::gaussian_mat(5, 3, 1);
//! let map = FeatureMap::draw(FeatureKind::GaussianFourier { bandwidth: 2.0 }, 3, 4000, 7).unwrap();
//! let g = map.transform(x.as_ref()).unwrap();
//! assert_eq!((g.nrows(), g.ncols()), (5, 4000));
//! let k_hat = map.kernel_estimate(x.as_ref(), x.as_ref()).unwrap();
//! let k = map.expected_kernel(x.as_ref(), x.as_ref()).unwrap();
//! assert!((&k_hat - &k).norm_max() < 0.1);
//! ```
use crate::error::{Result, RfError, check_positive, invalid};
use faer::{Accum, Mat, MatRef};
use linalg::validate::{check_data, check_ncols};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Which random features to draw (and hence which kernel they estimate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeatureKind {
    /// Random Fourier features of the Gaussian kernel `exp(-|x - x'|^2 / (2 L^2))`.
    GaussianFourier {
        /// Bandwidth `L > 0`.
        bandwidth: f64,
    },
    /// Random Fourier features of the Laplace kernel `exp(-|x - x'| / L)`.
    LaplaceFourier {
        /// Bandwidth `L > 0`.
        bandwidth: f64,
    },
    /// ReLU random features of the one-hidden-layer NNGP kernel.
    Relu,
    /// Gaussian projections `g(x) = sum_i w_i s_i x_i` of the linear kernel
    /// `sum_i s_i^2 x_i x'_i` (`s_i = sqrt(lambda_i)`).
    Projection {
        /// Per-coordinate scales `s_i >= 0` (the square roots of the eigenvalues).
        input_scale: Vec<f64>,
    },
}

impl FeatureKind {
    /// Projection features for the eigenvalues `lambda_i` (scales `sqrt(lambda_i)`).
    pub fn projection_for_eigenvalues(eigenvalues: &[f64]) -> Result<Self> {
        crate::theory::validate_eigenvalues(eigenvalues)?;
        Ok(FeatureKind::Projection { input_scale: eigenvalues.iter().map(|l| l.sqrt()).collect() })
    }

    /// Checks the hyperparameters against the input dimension `d`.
    pub fn validate(&self, d: usize) -> Result<()> {
        if d == 0 {
            return Err(invalid("input dimension", 0, "must be at least 1"));
        }
        match self {
            FeatureKind::GaussianFourier { bandwidth } | FeatureKind::LaplaceFourier { bandwidth } => {
                check_positive("bandwidth", *bandwidth)
            }
            FeatureKind::Relu => Ok(()),
            FeatureKind::Projection { input_scale } => {
                if input_scale.len() != d {
                    return Err(RfError::ShapeMismatch {
                        context: "projection features".into(),
                        expected: format!("{d} input scales (one per input coordinate)"),
                        got: format!("{}", input_scale.len()),
                    });
                }
                if let Some((i, &s)) =
                    input_scale.iter().enumerate().find(|(_, s)| !(s.is_finite() && **s >= 0.0))
                {
                    return Err(RfError::InvalidSpectrum {
                        what: "input scale".into(),
                        index: i,
                        value: s,
                        reason: "must be finite and >= 0".into(),
                    });
                }
                Ok(())
            }
        }
    }

    /// Short name, e.g. `gaussian_fourier(L=2)`.
    pub fn name(&self) -> String {
        match self {
            FeatureKind::GaussianFourier { bandwidth } => format!("gaussian_fourier(L={bandwidth})"),
            FeatureKind::LaplaceFourier { bandwidth } => format!("laplace_fourier(L={bandwidth})"),
            FeatureKind::Relu => "relu".into(),
            FeatureKind::Projection { input_scale } => format!("projection(M={})", input_scale.len()),
        }
    }
}

/// A drawn feature map: `k` random features of `d`-dimensional inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMap {
    kind: FeatureKind,
    /// `k x d` random weights, one row per feature.
    #[serde(with = "linalg::serde_mat")]
    weights: Mat<f64>,
    /// Phases `b_j` (Fourier features only; empty otherwise).
    phases: Vec<f64>,
}

impl FeatureMap {
    /// Draws `k` features of `d`-dimensional inputs with a seeded RNG (same seed, same features).
    ///
    /// Errors: `d = 0`, `k = 0`, a bad bandwidth or input scales that do not match `d`.
    pub fn draw(kind: FeatureKind, d: usize, k: usize, seed: u64) -> Result<Self> {
        kind.validate(d)?;
        if k == 0 {
            return Err(invalid("k", 0, "the number of features must be at least 1"));
        }
        let mut rng = linalg::random::rng(seed);
        let mut w = linalg::random::gaussian_mat_with(k, d, &mut rng);
        let mut phases = Vec::new();
        match &kind {
            FeatureKind::GaussianFourier { bandwidth } => {
                w *= faer::Scale(1.0 / bandwidth);
                phases = (0..k).map(|_| rng.random_range(0.0..std::f64::consts::TAU)).collect();
            }
            FeatureKind::LaplaceFourier { bandwidth } => {
                for j in 0..k {
                    let g: f64 = StandardNormal.sample(&mut rng);
                    let s = 1.0 / (bandwidth * g.abs().max(1e-300));
                    for i in 0..d {
                        w[(j, i)] *= s;
                    }
                }
                phases = (0..k).map(|_| rng.random_range(0.0..std::f64::consts::TAU)).collect();
            }
            FeatureKind::Relu => w *= faer::Scale(1.0 / (d as f64).sqrt()),
            FeatureKind::Projection { input_scale } => {
                for i in 0..d {
                    let s = input_scale[i];
                    for j in 0..k {
                        w[(j, i)] *= s;
                    }
                }
            }
        }
        Ok(FeatureMap { kind, weights: w, phases })
    }

    /// The kind of features.
    pub fn kind(&self) -> &FeatureKind {
        &self.kind
    }

    /// Number of features `k`.
    pub fn k(&self) -> usize {
        self.weights.nrows()
    }

    /// Input dimension `d`.
    pub fn d(&self) -> usize {
        self.weights.ncols()
    }

    /// The `k x d` weights (for projection features the effective weights `w_ji s_i`).
    pub fn weights(&self) -> MatRef<'_, f64> {
        self.weights.as_ref()
    }

    /// The map made of the first `k` features only (nested models share their features).
    pub fn first(&self, k: usize) -> Result<FeatureMap> {
        if k == 0 || k > self.k() {
            return Err(invalid("k", k, &format!("must be in 1..={}", self.k())));
        }
        Ok(FeatureMap {
            kind: self.kind.clone(),
            weights: self.weights.subrows(0, k).to_owned(),
            phases: if self.phases.is_empty() { Vec::new() } else { self.phases[..k].to_vec() },
        })
    }

    /// The `n x k` matrix `G` of raw features `g_j(x_i)` (one GEMM plus an element-wise pass);
    /// `K_hat(X, X') = G G'^T / k`.
    ///
    /// Errors: empty or non-finite `x`, or `x` without `d` columns.
    pub fn transform(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_data("feature-map inputs", x)?;
        check_ncols("feature-map inputs", x, self.d())?;
        let mut g = Mat::<f64>::zeros(x.nrows(), self.k());
        faer::linalg::matmul::matmul(
            g.as_mut(),
            Accum::Replace,
            x,
            self.weights.transpose(),
            1.0,
            linalg::default_par(),
        );
        let r2 = std::f64::consts::SQRT_2;
        match self.kind {
            FeatureKind::GaussianFourier { .. } | FeatureKind::LaplaceFourier { .. } => {
                for j in 0..g.ncols() {
                    let b = self.phases[j];
                    for v in g.col_mut(j).iter_mut() {
                        *v = r2 * (*v + b).cos();
                    }
                }
            }
            FeatureKind::Relu => {
                for j in 0..g.ncols() {
                    for v in g.col_mut(j).iter_mut() {
                        *v = r2 * v.max(0.0);
                    }
                }
            }
            FeatureKind::Projection { .. } => {}
        }
        Ok(g)
    }

    /// The random-feature kernel `K_hat(X, Z) = G_X G_Z^T / k`.
    pub fn kernel_estimate(&self, x: MatRef<'_, f64>, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let gx = self.transform(x)?;
        let gz = self.transform(z)?;
        let mut out = Mat::<f64>::zeros(x.nrows(), z.nrows());
        faer::linalg::matmul::matmul(
            out.as_mut(),
            Accum::Replace,
            gx.as_ref(),
            gz.transpose(),
            1.0 / self.k() as f64,
            linalg::default_par(),
        );
        Ok(out)
    }

    /// The kernel the features estimate, `K(X, Z) = E[K_hat(X, Z)]`, in closed form.
    pub fn expected_kernel(&self, x: MatRef<'_, f64>, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
        expected_kernel(&self.kind, x, z)
    }
}

/// The kernel estimated by features of kind `kind`, `K(X, Z)` (`n x m`), in closed form.
pub fn expected_kernel(kind: &FeatureKind, x: MatRef<'_, f64>, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
    check_data("kernel inputs", x)?;
    check_data("kernel inputs (second argument)", z)?;
    check_ncols("kernel inputs (second argument)", z, x.ncols())?;
    kind.validate(x.ncols())?;
    let metric = kernels::Metric::Euclidean;
    match kind {
        FeatureKind::GaussianFourier { bandwidth } => {
            Ok(kernels::kernel_matrix(&kernels::KernelSpec::gaussian(*bandwidth), &metric, x, z)?)
        }
        FeatureKind::LaplaceFourier { bandwidth } => {
            Ok(kernels::kernel_matrix(&kernels::KernelSpec::laplace(*bandwidth), &metric, x, z)?)
        }
        FeatureKind::Relu => relu_nngp_kernel(x, z),
        FeatureKind::Projection { input_scale } => {
            let xs = Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] * input_scale[j] * input_scale[j]);
            Ok(xs * z.transpose())
        }
    }
}

/// The one-hidden-layer ReLU NNGP kernel `K(x, z) = 2 E[relu(w.x) relu(w.z)]`, `w ~ N(0, I/d)`:
/// `|x| |z| / (pi d) (sin t + (pi - t) cos t)` with `t` the angle between `x` and `z`.
///
/// ```
/// let x = faer::mat![[1.0, 0.0], [0.0, 1.0]];
/// let k = random_features::features::relu_nngp_kernel(x.as_ref(), x.as_ref()).unwrap();
/// assert!((k[(0, 0)] - 0.5).abs() < 1e-14); // |x|^2 / d
/// assert!((k[(0, 1)] - 1.0 / (2.0 * std::f64::consts::PI)).abs() < 1e-14);
/// ```
pub fn relu_nngp_kernel(x: MatRef<'_, f64>, z: MatRef<'_, f64>) -> Result<Mat<f64>> {
    check_data("kernel inputs", x)?;
    check_data("kernel inputs (second argument)", z)?;
    check_ncols("kernel inputs (second argument)", z, x.ncols())?;
    let d = x.ncols() as f64;
    let nx: Vec<f64> = (0..x.nrows()).map(|i| x.row(i).norm_l2()).collect();
    let nz: Vec<f64> = (0..z.nrows()).map(|i| z.row(i).norm_l2()).collect();
    let mut k = x * z.transpose();
    for j in 0..k.ncols() {
        for i in 0..k.nrows() {
            let p = nx[i] * nz[j];
            k[(i, j)] = if p > 0.0 {
                let c = (k[(i, j)] / p).clamp(-1.0, 1.0);
                let t = c.acos();
                p / (std::f64::consts::PI * d) * (t.sin() + (std::f64::consts::PI - t) * c)
            } else {
                0.0
            };
        }
    }
    Ok(k)
}

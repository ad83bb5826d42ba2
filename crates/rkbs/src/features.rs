//! Feature dictionaries `φ: X → R^D`: random Fourier features of a Gaussian or Laplace kernel, or any
//! user-given map through the [`FeatureMap`] trait.
use crate::error::{Result, RkbsError, invalid};
use faer::{Accum, Mat, MatRef};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A finite feature dictionary `φ(x) = (φ_1(x), ..., φ_D(x))`. The space `B_p` is
/// `{ f_a = Σ_j a_j φ_j : a ∈ ℓ^p }` and its reproducing kernel is `K(x, y) = <φ(x), φ(y)>`.
pub trait FeatureMap {
    /// Input dimension `d` (columns of `x`).
    fn input_dim(&self) -> usize;
    /// Number of features `D` (> 0).
    fn n_features(&self) -> usize;
    /// The `n x D` feature matrix `Φ` of the rows of `x` (`n x d`). Implementations must check the
    /// shape and finiteness of `x` and return an error, never panic.
    fn features(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>>;
}

/// Shift-invariant kernel whose random Fourier features are drawn (Rahimi-Recht):
/// `k(x - z) = E_w[cos(wᵀx + b) cos(wᵀz + b)] * 2` with `w` from the kernel's spectral density.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RffKernel {
    /// `exp(-||x - z||² / (2 L²))` (the workspace's `KernelSpec::gaussian(L)`): `w ~ N(0, I / L²)`.
    Gaussian {
        /// Bandwidth `L > 0`.
        bandwidth: f64,
    },
    /// `exp(-||x - z|| / L)` (the workspace's `KernelSpec::laplace(L)`): `w` multivariate Cauchy
    /// with scale `1 / L`, i.e. `w = g / (L |u|)` with `g ~ N(0, I)`, `u ~ N(0, 1)`.
    Laplace {
        /// Bandwidth `L > 0`.
        bandwidth: f64,
    },
}

impl RffKernel {
    /// The bandwidth.
    pub fn bandwidth(&self) -> f64 {
        match *self {
            RffKernel::Gaussian { bandwidth } | RffKernel::Laplace { bandwidth } => bandwidth,
        }
    }

    /// The exact kernel value `k(x, z)`.
    pub fn eval(&self, x: &[f64], z: &[f64]) -> f64 {
        let d2: f64 = x.iter().zip(z).map(|(a, b)| (a - b) * (a - b)).sum();
        match *self {
            RffKernel::Gaussian { bandwidth } => (-d2 / (2.0 * bandwidth * bandwidth)).exp(),
            RffKernel::Laplace { bandwidth } => (-d2.sqrt() / bandwidth).exp(),
        }
    }

    /// Builds the kernel from the workspace's [`kernels::KernelSpec`] (Gaussian with either
    /// convention, or Laplace; other kernels have no closed-form spectral sampler here).
    pub fn from_spec(spec: &kernels::KernelSpec) -> Result<Self> {
        match spec {
            kernels::KernelSpec::Gaussian(g) => Ok(RffKernel::Gaussian {
                bandwidth: match g.convention {
                    kernels::GaussianConvention::TwoLSquared => g.bandwidth,
                    // exp(-gamma d^2) = exp(-d^2 / (2 L^2)) with L = 1 / sqrt(2 gamma)
                    _ => 1.0 / (2.0 * g.gamma()).sqrt(),
                },
            }),
            kernels::KernelSpec::Laplace(l) => Ok(RffKernel::Laplace { bandwidth: l.bandwidth }),
            other => Err(invalid(
                "kernel",
                format!("{other:?}"),
                "random Fourier features are available for the Gaussian and Laplace kernels",
            )),
        }
    }
}

/// Random Fourier features `φ_j(x) = sqrt(2 / D) cos(w_jᵀ x + b_j)`, `b_j ~ U[0, 2π)`, so that
/// `<φ(x), φ(z)> → k(x - z)` as `D → ∞`. Seeded: the same seed gives the same dictionary.
///
/// ```
/// use faer::Mat;
/// use rkbs::{FeatureMap, RandomFourierFeatures, RffKernel};
/// let rff = RandomFourierFeatures::new(RffKernel::Gaussian { bandwidth: 1.0 }, 2, 4000, 7).unwrap();
/// let x = Mat::from_fn(2, 2, |i, j| (i + j) as f64 * 0.3);
/// let phi = rff.features(x.as_ref()).unwrap();
/// let k01: f64 = (0..4000).map(|j| phi[(0, j)] * phi[(1, j)]).sum();
/// let exact = (-(0.3f64 * 0.3 * 2.0) / 2.0).exp();
/// assert!((k01 - exact).abs() < 0.05);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomFourierFeatures {
    kernel: RffKernel,
    /// Frequencies, `d x D`.
    #[serde(with = "linalg::serde_mat")]
    w: Mat<f64>,
    /// Phases, length `D`.
    b: Vec<f64>,
}

impl RandomFourierFeatures {
    /// Draws `n_features` features for inputs of dimension `input_dim` from `seed`.
    pub fn new(kernel: RffKernel, input_dim: usize, n_features: usize, seed: u64) -> Result<Self> {
        let l = kernel.bandwidth();
        if !(l.is_finite() && l > 0.0) {
            return Err(invalid("bandwidth", l, "must be a finite number > 0"));
        }
        if n_features == 0 {
            return Err(RkbsError::Empty {
                what: "the feature dictionary".into(),
                hint: "ask for at least one random feature (n_features >= 1)".into(),
            });
        }
        if input_dim == 0 {
            return Err(invalid("input_dim", 0, "inputs need at least one coordinate"));
        }
        let mut rng = linalg::random::rng(seed);
        let mut w = Mat::<f64>::zeros(input_dim, n_features);
        let mut b = Vec::with_capacity(n_features);
        for j in 0..n_features {
            let scale = match kernel {
                RffKernel::Gaussian { .. } => 1.0 / l,
                RffKernel::Laplace { .. } => {
                    let u: f64 = StandardNormal.sample(&mut rng);
                    // |u| = 0 has probability 0; guard anyway against an infinite frequency.
                    1.0 / (l * u.abs().max(1e-300))
                }
            };
            for i in 0..input_dim {
                let g: f64 = StandardNormal.sample(&mut rng);
                w[(i, j)] = g * scale;
            }
            b.push(rng.random_range(0.0..std::f64::consts::TAU));
        }
        Ok(RandomFourierFeatures { kernel, w, b })
    }

    /// The kernel the features approximate.
    pub fn kernel(&self) -> RffKernel {
        self.kernel
    }

    /// Frequencies `w_j` as the columns of a `d x D` matrix.
    pub fn frequencies(&self) -> MatRef<'_, f64> {
        self.w.as_ref()
    }

    /// Phases `b_j`.
    pub fn phases(&self) -> &[f64] {
        &self.b
    }
}

impl FeatureMap for RandomFourierFeatures {
    fn input_dim(&self) -> usize {
        self.w.nrows()
    }

    fn n_features(&self) -> usize {
        self.w.ncols()
    }

    fn features(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_inputs(x, self.input_dim())?;
        let (n, dd) = (x.nrows(), self.n_features());
        let mut phi = Mat::<f64>::zeros(n, dd);
        faer::linalg::matmul::matmul(phi.as_mut(), Accum::Replace, x, self.w.as_ref(), 1.0, par_for(n * dd));
        let s = (2.0 / dd as f64).sqrt();
        for j in 0..dd {
            let bj = self.b[j];
            for v in phi.col_mut(j).iter_mut() {
                *v = s * (*v + bj).cos();
            }
        }
        Ok(phi)
    }
}

/// A user-given feature map from a closure `f(x_row, out_row)` that fills the `D` features of one
/// input.
///
/// ```
/// use faer::mat;
/// use rkbs::{FeatureMap, FnFeatureMap};
/// // polynomial dictionary 1, x, x^2 on the real line
/// let poly = FnFeatureMap::new(1, 3, |x: &[f64], out: &mut [f64]| {
///     out[0] = 1.0;
///     out[1] = x[0];
///     out[2] = x[0] * x[0];
/// })
/// .unwrap();
/// let phi = poly.features(mat![[2.0], [-1.0]].as_ref()).unwrap();
/// assert_eq!(phi[(0, 2)], 4.0);
/// assert!(poly.features(mat![[f64::NAN]].as_ref()).is_err());
/// ```
#[derive(Clone)]
pub struct FnFeatureMap<F> {
    input_dim: usize,
    n_features: usize,
    f: F,
}

impl<F: Fn(&[f64], &mut [f64])> FnFeatureMap<F> {
    /// Wraps `f`; errors when `n_features == 0` (an empty dictionary) or `input_dim == 0`.
    pub fn new(input_dim: usize, n_features: usize, f: F) -> Result<Self> {
        if n_features == 0 {
            return Err(RkbsError::Empty {
                what: "the feature dictionary".into(),
                hint: "a feature map needs at least one feature".into(),
            });
        }
        if input_dim == 0 {
            return Err(invalid("input_dim", 0, "inputs need at least one coordinate"));
        }
        Ok(FnFeatureMap { input_dim, n_features, f })
    }
}

impl<F> std::fmt::Debug for FnFeatureMap<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FnFeatureMap {{ input_dim: {}, n_features: {} }}", self.input_dim, self.n_features)
    }
}

impl<F: Fn(&[f64], &mut [f64])> FeatureMap for FnFeatureMap<F> {
    fn input_dim(&self) -> usize {
        self.input_dim
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn features(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_inputs(x, self.input_dim)?;
        let mut phi = Mat::<f64>::zeros(x.nrows(), self.n_features);
        let mut row = vec![0.0; self.input_dim];
        let mut out = vec![0.0; self.n_features];
        for i in 0..x.nrows() {
            for (k, r) in row.iter_mut().enumerate() {
                *r = x[(i, k)];
            }
            out.iter_mut().for_each(|o| *o = 0.0);
            (self.f)(&row, &mut out);
            for (j, &v) in out.iter().enumerate() {
                if !v.is_finite() {
                    return Err(invalid(
                        "feature value",
                        v,
                        &format!(
                            "the feature map returned a non-finite value for input row {i}, feature {j}"
                        ),
                    ));
                }
                phi[(i, j)] = v;
            }
        }
        Ok(phi)
    }
}

fn check_inputs(x: MatRef<'_, f64>, d: usize) -> Result<()> {
    linalg::validate::check_data("inputs x", x)?;
    linalg::validate::check_ncols("feature map inputs", x, d)?;
    Ok(())
}

/// Sequential below about a million multiply-adds (thread start-up costs more than it saves).
pub(crate) fn par_for(work: usize) -> faer::Par {
    if work < 1 << 20 { faer::Par::Seq } else { linalg::default_par() }
}

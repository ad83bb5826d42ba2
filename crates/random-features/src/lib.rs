//! # random-features: random-feature ridge regression and its eigenframework theory
//!
//! Reproduces "More is better in modern machine learning: when infinite overparameterization is
//! optimal and overfitting is obligatory" (Simon, Karkada, Ghosh, Belkin): with `n` samples and `k`
//! random features, the test risk of ridge regression is predicted from the kernel's eigenvalues and
//! the target's eigencoefficients alone, and at the optimal ridge it never increases with `k` or `n`.
//!
//! * [`features`]: seeded random feature maps (Fourier features of the Gaussian and Laplace kernels,
//!   ReLU features of the NNGP kernel, Gaussian projections for a prescribed spectrum);
//! * [`regression`]: random-feature ridge regression in sample or feature space, many ridges from one
//!   eigendecomposition ([`regression::RidgePath`]), and `RfRegressionParams -> RfModel`;
//! * [`theory`]: the `kappa`/`gamma` solver (safeguarded Newton in log space, exact at ridge 0),
//!   predicted test/train risk for finite `k` and the kernel limit, optimal ridge, fitting ratio;
//! * [`powerlaw`]: powerlaw tasks (`lambda_i = i^-alpha`, `v_i^2 = i^-beta`) as Gaussian data with a
//!   closed-form test risk, and powerlaw fits;
//! * [`empirical`]: the eigenspectrum and target coefficients of a real kernel on real data.
//!
//! Bad input (`n = 0`, a negative ridge, negative or NaN eigenvalues, an empty spectrum, mismatched
//! shapes) is an [`RfError`], never a panic.
//!
//! ```
//! use random_features::powerlaw::PowerlawTask;
//! use random_features::features::{FeatureKind, FeatureMap};
//! use random_features::regression::RidgePath;
//! use random_features::theory::rf_risk;
//!
//! // theory vs one experiment: n = 128 samples, k = 256 projection features, ridge 1e-2
//! let task = PowerlawTask::new(400, 1.5, 1.5, 0.5).unwrap();
//! let spec = task.spectrum().unwrap();
//! let predicted = rf_risk(&spec, 128.0, 256.0, 1e-2).unwrap().test_risk;
//!
//! let mut measured = 0.0;
//! for trial in 0..4 {
//!     let data = task.sample(128, trial).unwrap();
//!     let kind = FeatureKind::projection_for_eigenvalues(&task.eigenvalues()).unwrap();
//!     let map = FeatureMap::draw(kind, 400, 256, 100 + trial).unwrap();
//!     let g = map.transform(data.x.as_ref()).unwrap();
//!     let a = RidgePath::fit(g.as_ref(), data.y.as_ref()).unwrap().coefficients(1e-2).unwrap();
//!     // the predictor is linear in x: beta = W^T a
//!     let beta = map.weights().transpose() * &a;
//!     let beta: Vec<f64> = (0..400).map(|i| beta[(i, 0)]).collect();
//!     measured += task.test_risk_of(&beta).unwrap() / 4.0;
//! }
//! assert!((measured - predicted).abs() < 0.25 * predicted, "{measured} vs {predicted}");
//!
//! // bad input is an error with a message
//! let err = rf_risk(&spec, 0.0, 256.0, 1e-2).unwrap_err();
//! assert!(err.to_string().contains("n = 0"));
//! ```
#![deny(missing_docs)]

pub mod empirical;
pub mod error;
pub mod features;
pub mod powerlaw;
pub mod regression;
pub mod theory;

pub use empirical::EmpiricalEigensystem;
pub use error::{Result, RfError};
pub use features::{FeatureKind, FeatureMap};
pub use powerlaw::PowerlawTask;
pub use regression::{RfModel, RfRegressionParams, RidgePath, SolveSpace};
pub use theory::{Optimum, RidgeSearch, Risk, Solution, Spectrum, krr_risk, optimal_ridge, rf_risk, solve};

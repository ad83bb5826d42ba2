//! # kernels: kernel functions, kernel matrices, gradients and kernel ridge regression
//!
//! * [`Kernel`]: the trait every kernel implements, through `(<x,z>_M, ||x||_M^2, ||z||_M^2)`;
//!   built-in [`Laplace`], [`Gaussian`] (both bandwidth conventions, see [`GaussianConvention`]),
//!   [`Matern`] (nu = 1/2, 3/2, 5/2), [`Quadratic`] and the two-layer ReLU NTK [`NtkRelu`];
//!   [`KernelSpec`] is the serialisable choice among them.
//! * [`Metric`]: Euclidean, full Mahalanobis `M`, or diagonal `m`: `k_M(x, z) = k(M^{1/2} x, M^{1/2} z)`.
//! * [`kernel_matrix`], [`kernel_matrix_sym`] (one triangle), [`kernel_times`] (streamed `K(X,Z) V`
//!   that never stores `K`): one GEMM plus a SIMD element-wise pass dispatched at run time.
//! * [`GradientContext`]: closed-form input gradients of `f(x) = sum_i alpha_i k(x, x_i)`, batched
//!   over evaluation points, with a sparse-input path.
//! * [`KernelRidgeParams`] -> [`KernelModel`] (`fit` / `predict` / `input_gradients`, serde), and the
//!   [`KernelSolver`] trait with the [`DirectSolver`] (Cholesky, LU fallback at ridge 0, `f32` with
//!   `f64` refinement), and the [`ReuseSolver`] that keeps its Cholesky factor to precondition CG on
//!   the next, nearby system (RFM iterations).
//!
//! ```
//! use kernels::{KernelRidgeParams, KernelSpec, Metric};
//! // y = x1 on 200 random points, Laplace kernel with a diagonal metric that ignores x2
//! let x = linalg::random::gaussian_mat(200, 2, 0);
//! let y = faer::Mat::from_fn(200, 1, |i, _| x[(i, 0)]);
//! let model = KernelRidgeParams::new(KernelSpec::laplace(2.0))
//!     .with_metric(Metric::Diagonal(vec![1.0, 0.0]))
//!     .with_ridge(1e-3)
//!     .fit(x.as_ref(), y.as_ref())
//!     .unwrap();
//! let xt = faer::mat![[0.5, 3.0]];
//! let pred = model.predict(xt.as_ref()).unwrap();
//! assert!((pred[(0, 0)] - 0.5).abs() < 0.1);
//! let grads = model.input_gradients(xt.as_ref()).unwrap();
//! assert_eq!(grads[0][(0, 1)], 0.0); // the metric removes x2
//! ```
#![deny(missing_docs)]

pub mod error;
pub mod grad;
pub mod kernel;
pub mod matrix;
pub mod metric;
pub mod reuse;
pub mod ridge;

pub use error::{KernelError, Result};
pub use grad::{GradientContext, GradientParts, GradientScratch, SparseColumns};
pub use kernel::{
    Gaussian, GaussianConvention, GradStructure, Kernel, KernelSpec, Laplace, Matern, MaternNu, NtkRelu,
    Quadratic,
};
pub use matrix::{Triangle, kernel_matrix, kernel_matrix_sym, kernel_times};
pub use metric::{Metric, Prepared};
pub use reuse::ReuseSolver;
pub use ridge::{
    DirectSolver, KernelModel, KernelRidgeParams, KernelSolver, KernelSystem, SolverPrecision, SolverReport,
    release_workspace,
};

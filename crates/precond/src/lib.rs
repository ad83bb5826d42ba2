//! # precond: Nystrom-approximated spectral preconditioning (EigenPro) for kernel machines
//!
//! Kernel least squares `(K + ridge I) alpha = y` with `K = K(X, X)` is badly conditioned: the
//! spectrum of `K / n` decays fast, so plain gradient methods need `lambda_1 / lambda_n` iterations. The
//! spectral preconditioner `P_q` flattens the top `q` eigenvalues to `lambda_(q+1)`, speeding gradient
//! descent up by `lambda_1 / lambda_(q+1)`; the Nystrom version `P_(s,q)` estimates the eigenpairs from
//! `s` sampled points only (Abedsoltan, Pandit, Rademacher, Belkin 2023: `s` of order `log^4 n` is enough).
//!
//! * [`engine`]: [`KernelData`], streamed kernel blocks `K(X_B, X)` in `f32` or `f64` (faer GEMM +
//!   the kernel's SIMD pass), and the [`KernelOp`] abstraction (streamed or dense [`DenseKernel`]);
//! * [`eigen`]: top eigenpairs (dense, faer Krylov-Schur, randomized subspace iteration on an implicit
//!   operator);
//! * [`preconditioner`]: [`PreconditionerParams`] -> [`Preconditioner`] (exact / Nystrom, uniform or
//!   RP-Cholesky sampling, damping exponent), batch and step rules;
//! * [`eigenpro`]: [`EigenProParams`] (preconditioned SGD with automatic critical batch size, epochs with an
//!   observer, early stopping) and [`EigenProSolver`], a [`kernels::KernelSolver`];
//! * [`baselines`]: conjugate gradient (plain / preconditioned), Richardson (full-batch preconditioned
//!   GD), power iteration and condition numbers.
//!
//! ```
//! use kernels::{KernelRidgeParams, KernelSpec};
//! use precond::{EigenProParams, EigenProSolver, Precision, PreconditionerParams};
//!
//! let x = linalg::random::gaussian_mat(400, 3, 1);
//! let y = faer::Mat::from_fn(400, 1, |i, _| x[(i, 0)].sin());
//! let ridge = KernelRidgeParams::new(KernelSpec::laplace(2.0)).with_ridge(1e-3);
//! let direct = ridge.fit(x.as_ref(), y.as_ref()).unwrap();
//! // Nystrom preconditioner with s = 100 points and q = 20 directions, f64 blocks
//! let solver = EigenProSolver::new(
//!     EigenProParams::new(PreconditionerParams::nystrom(100, 20))
//!         .with_epochs(200)
//!         .with_precision(Precision::F64),
//! );
//! let iterative = ridge.fit_with_solver(x.as_ref(), y.as_ref(), &solver).unwrap();
//! let xt = linalg::random::gaussian_mat(50, 3, 2);
//! let (a, b) = (direct.predict(xt.as_ref()).unwrap(), iterative.predict(xt.as_ref()).unwrap());
//! assert!((&a - &b).norm_l2() / a.norm_l2() < 0.05);
//!
//! // bad input is an error, never a panic: q must be < s
//! let bad = EigenProSolver::new(EigenProParams::new(PreconditionerParams::nystrom(10, 10)));
//! assert!(ridge.fit_with_solver(x.as_ref(), y.as_ref(), &bad).is_err());
//! ```
#![deny(missing_docs)]

pub mod baselines;
pub mod eigen;
pub mod eigenpro;
pub mod engine;
pub mod error;
pub mod preconditioner;

pub use baselines::{
    CgPreconditioner, IterFit, IterParams, IterStats, condition_number, conjugate_gradient, richardson,
    top_eigenvalue,
};
pub use eigen::{EigenMethod, TopEigen};
pub use eigenpro::{Control, EigenProFit, EigenProParams, EigenProSolver, EpochStats, Validation};
pub use engine::{DenseKernel, KernelData, KernelOp, Precision, Real};
pub use error::{PrecondError, Result};
pub use preconditioner::{PrecondKind, Preconditioner, PreconditionerParams, Sampling};

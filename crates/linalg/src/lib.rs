//! # linalg: the faer helpers every crate of the AGOP workspace needs
//!
//! Samples are rows, numbers are `f64`, matrices are [`faer::Mat`] / [`faer::MatRef`].
//!
//! * [`sym`]: functions of symmetric matrices through an eigendecomposition
//!   (`A^s` with negative eigenvalues clipped, square roots, top-k eigenpairs);
//! * [`solve`]: symmetric positive (semi)definite solves with a ridge, Cholesky with an LU fallback for
//!   ridge 0, optional `f32` factorisation with `f64` iterative refinement;
//! * [`similarity`]: matrix cosine similarity and Pearson correlation of matrices;
//! * [`validate`]: shape, emptiness and finiteness checks that return [`LinalgError`];
//! * [`random`]: seeded Gaussian matrices (the same seed gives the same numbers);
//! * [`simd`]: branch-free `exp` and helpers that vectorise, plus a runtime-dispatched
//!   (AVX-512 / AVX2 / baseline) element-wise map used by the kernel crate;
//! * [`serde_mat`]: serde support for `Mat<f64>` (faer has none).
//!
//! ```
//! use faer::mat;
//! use linalg::sym::sym_power;
//!
//! // A = diag(4, 9) has square root diag(2, 3); a negative eigenvalue is clipped to 0.
//! let a = mat![[4.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, -1.0]];
//! let r = sym_power(a.as_ref(), 0.5).unwrap();
//! assert!((r[(0, 0)] - 2.0).abs() < 1e-12);
//! assert!((r[(1, 1)] - 3.0).abs() < 1e-12);
//! assert!(r[(2, 2)].abs() < 1e-12);
//! ```
#![deny(missing_docs)]

pub mod random;
pub mod serde_mat;
pub mod simd;
pub mod similarity;
pub mod solve;
pub mod sym;
pub mod validate;

pub use faer;

use thiserror::Error;

/// Errors of the linear-algebra helpers. Every message names the offending shape or value.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LinalgError {
    /// Two operands do not have compatible shapes.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being computed.
        context: String,
        /// The shape that was required.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A matrix holds NaN or an infinite value.
    #[error("{name} holds a non-finite value ({value}) at row {row}, column {col}")]
    NonFinite {
        /// Name of the input.
        name: String,
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
        /// The value itself (NaN or +-inf).
        value: f64,
    },
    /// An input has no rows or no columns.
    #[error("{name} is empty ({rows} x {cols}); at least one row and one column are needed")]
    Empty {
        /// Name of the input.
        name: String,
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// A hyperparameter or argument is outside its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: String,
        /// The value given, formatted.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// A matrix that must be positive definite is not.
    #[error("{context}: matrix of size {n} is not positive definite (pivot {pivot} failed){hint}")]
    NotPositiveDefinite {
        /// What was being factorised.
        context: String,
        /// Matrix size.
        n: usize,
        /// Index of the failing pivot.
        pivot: usize,
        /// A suggestion to fix it.
        hint: String,
    },
    /// A linear system is singular or so badly conditioned that the solution is not finite.
    #[error("{context}: the {n} x {n} system is singular or numerically singular{hint}")]
    Singular {
        /// What was being solved.
        context: String,
        /// System size.
        n: usize,
        /// A suggestion to fix it.
        hint: String,
    },
    /// An eigen-solver did not converge.
    #[error("{context}: eigendecomposition did not converge")]
    NoConvergence {
        /// What was being decomposed.
        context: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = LinalgError> = std::result::Result<T, E>;

/// Parallelism used by the workspace's heavy calls: all rayon threads of the current pool.
///
/// Binaries choose the pool size (`--threads`); library code never hard-codes a thread count.
pub fn default_par() -> faer::Par {
    if rayon::current_num_threads() > 1 { faer::Par::rayon(0) } else { faer::Par::Seq }
}

//! The error type of the `precond` crate.
use kernels::KernelError;
use linalg::LinalgError;
use thiserror::Error;

/// Everything that can go wrong when building a preconditioner or running a solver. Every message
/// names the offending value or shape.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PrecondError {
    /// A hyperparameter is outside its valid range (`q >= s`, `s > n`, a bad damping exponent...).
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: String,
        /// Value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// Bad data or a kernel problem (NaN, empty data, shape mismatch, non-positive bandwidth...).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A linear-algebra failure.
    #[error(transparent)]
    Linalg(#[from] LinalgError),
    /// An iteration diverged or produced non-finite values.
    #[error("{solver} diverged at iteration {iteration} (residual {residual:e}){hint}")]
    Diverged {
        /// Solver name.
        solver: String,
        /// Iteration (or epoch) where it was detected.
        iteration: usize,
        /// The residual at that point.
        residual: f64,
        /// Suggested fix.
        hint: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = PrecondError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> PrecondError {
    PrecondError::InvalidParameter { name: name.to_string(), value: value.to_string(), reason: reason.into() }
}

impl From<PrecondError> for KernelError {
    /// Errors of this crate surface through the [`kernels::KernelSolver`] trait as kernel errors.
    fn from(e: PrecondError) -> Self {
        match e {
            PrecondError::Kernel(k) => k,
            PrecondError::Linalg(l) => KernelError::Linalg(l),
            PrecondError::InvalidParameter { name, value, reason } => {
                KernelError::InvalidParameter { name, value, reason }
            }
            PrecondError::Diverged { solver, iteration, residual, hint } => {
                KernelError::NotConverged { solver, residual, iterations: iteration, hint }
            }
        }
    }
}

//! Error type of the kernels crate.
use linalg::LinalgError;
use thiserror::Error;

/// Errors of kernel evaluation, kernel regression and kernel solvers.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum KernelError {
    /// A linear-algebra failure or an input check (shape, NaN, empty, not PD...).
    #[error(transparent)]
    Linalg(#[from] LinalgError),
    /// A kernel or solver hyperparameter is invalid.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: String,
        /// Value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// An iterative solver stopped before reaching its tolerance.
    #[error("{solver} did not converge: relative residual {residual:e} after {iterations} iterations{hint}")]
    NotConverged {
        /// Solver name.
        solver: String,
        /// Final relative residual.
        residual: f64,
        /// Iterations run.
        iterations: usize,
        /// Suggested fix.
        hint: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, value: impl std::fmt::Display, reason: &str) -> KernelError {
    KernelError::InvalidParameter {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

//! The error type of the crate.
use thiserror::Error;

/// Errors of the `random-features` crate. Every message names the offending value or shape.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum RfError {
    /// A hyperparameter or argument is outside its valid range (`n = 0`, a negative ridge, ...).
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: String,
        /// The offending value, formatted.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// An eigenvalue or target coefficient is negative, NaN or infinite.
    #[error("invalid {what} at index {index}: {value} ({reason})")]
    InvalidSpectrum {
        /// `"eigenvalue"` or `"target power"`.
        what: String,
        /// Index of the first offending entry.
        index: usize,
        /// The value itself.
        value: f64,
        /// Why it is rejected.
        reason: String,
    },
    /// A spectrum (or another list that needs entries) is empty.
    #[error("{what} is empty: at least one entry is needed")]
    Empty {
        /// What was empty.
        what: String,
    },
    /// Two inputs do not have compatible shapes.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being computed.
        context: String,
        /// The required shape.
        expected: String,
        /// The given shape.
        got: String,
    },
    /// A root finder or decomposition did not converge.
    #[error("{context} did not converge: {detail}")]
    NoConvergence {
        /// What was being solved.
        context: String,
        /// Details and a hint.
        detail: String,
    },
    /// An error from the linear-algebra helpers.
    #[error(transparent)]
    Linalg(#[from] linalg::LinalgError),
    /// An error from the kernel crate.
    #[error(transparent)]
    Kernel(#[from] kernels::KernelError),
}

/// Result type of this crate.
pub type Result<T, E = RfError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, value: impl std::fmt::Display, reason: &str) -> RfError {
    RfError::InvalidParameter { name: name.to_string(), value: value.to_string(), reason: reason.to_string() }
}

/// `x` finite and `> 0`.
pub(crate) fn check_positive(name: &str, x: f64) -> Result<()> {
    if x.is_finite() && x > 0.0 { Ok(()) } else { Err(invalid(name, x, "must be a finite number > 0")) }
}

/// `x` finite and `>= 0`.
pub(crate) fn check_nonnegative(name: &str, x: f64) -> Result<()> {
    if x.is_finite() && x >= 0.0 { Ok(()) } else { Err(invalid(name, x, "must be a finite number >= 0")) }
}

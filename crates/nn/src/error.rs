//! The error type of the crate.
use linalg::LinalgError;
use thiserror::Error;

/// Errors of the `nn` crate. Every message names the offending shape or value.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum NnError {
    /// Shapes of operands do not fit together.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being computed.
        context: String,
        /// The shape that was required.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A hyperparameter or argument is outside its valid range (zero width, learning rate <= 0, ...).
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: String,
        /// The value given, formatted.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// A token id is not in the vocabulary.
    #[error("token {token} at position {position} is out of range for a vocabulary of {vocab}")]
    TokenOutOfRange {
        /// The token id.
        token: usize,
        /// Its position in the input.
        position: usize,
        /// Vocabulary size.
        vocab: usize,
    },
    /// A computation produced a non-finite value (e.g. training diverged).
    #[error("{context} produced a non-finite value; lower the learning rate or check the data")]
    Diverged {
        /// What was being computed.
        context: String,
    },
    /// Saving or loading parameters failed.
    #[error("serialization: {0}")]
    Serialization(String),
    /// An error of the linear-algebra helpers (NaN in data, empty input, eigen-solver failure, ...).
    #[error(transparent)]
    Linalg(#[from] LinalgError),
}

/// Result type of this crate.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, value: impl std::fmt::Display, reason: &str) -> NnError {
    NnError::InvalidParameter { name: name.to_string(), value: value.to_string(), reason: reason.to_string() }
}

pub(crate) fn mismatch(context: &str, expected: impl Into<String>, got: impl Into<String>) -> NnError {
    NnError::ShapeMismatch { context: context.to_string(), expected: expected.into(), got: got.into() }
}

/// Fails unless `value` is an integer >= 1.
pub(crate) fn check_nonzero(name: &str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(invalid(name, value, "must be at least 1"));
    }
    Ok(())
}

/// Fails unless `value` is finite and > 0.
pub(crate) fn check_positive(name: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(invalid(name, value, "must be finite and > 0"));
    }
    Ok(())
}

/// Fails unless `value` is finite and >= 0.
pub(crate) fn check_nonnegative(name: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(invalid(name, value, "must be finite and >= 0"));
    }
    Ok(())
}

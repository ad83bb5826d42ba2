//! Error type of the sparse-recovery crate.
use thiserror::Error;

/// Errors of lin-RFM, the baselines and the instance generators. Every message names the offending
/// value, shape or index.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SparseRecoveryError {
    /// From the linear-algebra helpers (shapes, NaN, eigendecomposition).
    #[error(transparent)]
    Linalg(#[from] linalg::LinalgError),
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
    /// An observation lies outside the `d1 x d2` matrix.
    #[error("observation {index} at (row {row}, column {col}) is outside the {d1} x {d2} matrix")]
    IndexOutOfRange {
        /// Position of the observation in the input list.
        index: usize,
        /// Row index given.
        row: usize,
        /// Column index given.
        col: usize,
        /// Number of rows.
        d1: usize,
        /// Number of columns.
        d2: usize,
    },
    /// The same entry is observed twice.
    #[error("entry (row {row}, column {col}) is observed more than once; each entry may appear only once")]
    DuplicateEntry {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
    },
    /// An observed value is NaN or infinite.
    #[error("observed value at (row {row}, column {col}) is not finite ({value})")]
    NonFiniteValue {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
        /// The value.
        value: f64,
    },
    /// There is nothing to fit (no observation, or no training entry left after the hold-out).
    #[error("{what} is empty: {hint}")]
    Empty {
        /// What is empty.
        what: String,
        /// How to fix it.
        hint: String,
    },
    /// Two inputs have incompatible shapes.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being computed.
        context: String,
        /// Required shape.
        expected: String,
        /// Given shape.
        got: String,
    },
    /// A per-row (or per-problem) kernel system could not be factorised.
    #[error("{context}: the {n} x {n} kernel system is not positive definite; {hint}")]
    NotPositiveDefinite {
        /// Which system.
        context: String,
        /// System size.
        n: usize,
        /// Suggested fix.
        hint: String,
    },
    /// The iteration produced NaN or infinite values.
    #[error("{method} diverged at iteration {iter} (non-finite values); {hint}")]
    Diverged {
        /// Which method.
        method: String,
        /// Iteration.
        iter: usize,
        /// Suggested fix.
        hint: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = SparseRecoveryError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, value: impl std::fmt::Display, reason: &str) -> SparseRecoveryError {
    SparseRecoveryError::InvalidParameter {
        name: name.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

pub(crate) fn check_positive(name: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return Err(invalid(name, v, "must be finite and > 0"));
    }
    Ok(())
}

pub(crate) fn check_nonnegative(name: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(invalid(name, v, "must be finite and >= 0"));
    }
    Ok(())
}

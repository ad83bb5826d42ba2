//! Error type of the rkbs crate.
use thiserror::Error;

/// Errors of the p-norm RKBS constructions and of mirror descent. Every message names the offending
/// value or shape and, where there is one, the fix.
#[derive(Debug, Error)]
pub enum RkbsError {
    /// From linear algebra (shapes, NaN, empty matrices, eigen-solver).
    #[error(transparent)]
    Linalg(#[from] linalg::LinalgError),
    /// From the datasets crate.
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    /// An invalid hyperparameter or argument (p <= 1, p infinite, NaN, step <= 0, ...).
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: String,
        /// The value given, formatted.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// Two inputs have incompatible lengths or shapes.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being computed.
        context: String,
        /// The required shape.
        expected: String,
        /// The shape given.
        got: String,
    },
    /// A dictionary (feature map) with no features, or data with no samples.
    #[error("{what} is empty: {hint}")]
    Empty {
        /// Which input.
        what: String,
        /// How to fix it.
        hint: String,
    },
    /// The safe step `1 / (L_s + lambda)` was asked for but no global relative-smoothness constant
    /// exists for this mirror map.
    #[error("no safe fixed step for {mirror}: {reason}; use StepRule::Backtracking")]
    NoSafeStep {
        /// The mirror map, e.g. `"1/2 ||a||_3^2"`.
        mirror: String,
        /// Why the constant does not exist.
        reason: String,
    },
    /// The iteration produced a non-finite value.
    #[error("mirror descent diverged at iteration {iter} ({what}); {hint}")]
    Diverged {
        /// Iteration.
        iter: usize,
        /// What became non-finite.
        what: String,
        /// Suggested fix.
        hint: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = RkbsError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, value: impl std::fmt::Display, reason: &str) -> RkbsError {
    RkbsError::InvalidParameter { name: name.into(), value: value.to_string(), reason: reason.into() }
}

pub(crate) fn check_len(context: &str, got: usize, expected: usize) -> Result<()> {
    if got != expected {
        return Err(RkbsError::ShapeMismatch {
            context: context.into(),
            expected: format!("length {expected}"),
            got: format!("length {got}"),
        });
    }
    Ok(())
}

/// Checks an exponent `p` of a p-norm space: finite and `> 1`.
pub fn check_exponent(name: &str, p: f64) -> Result<()> {
    if p.is_nan() {
        return Err(invalid(name, p, "must be a number in (1, infinity), got NaN"));
    }
    if !p.is_finite() {
        return Err(invalid(name, p, "must be finite: p = infinity is not reflexive (use a large finite p)"));
    }
    if p <= 1.0 {
        return Err(invalid(
            name,
            p,
            "must be > 1: p = 1 is not strictly convex/smooth and has no single-valued duality map \
             (use e.g. p = 1.1 for sparse solutions)",
        ));
    }
    Ok(())
}

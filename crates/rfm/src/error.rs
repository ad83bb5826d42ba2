//! Error type of the rfm crate.
use thiserror::Error;

/// Errors of AGOP computation and RFM fitting.
#[derive(Debug, Error)]
pub enum RfmError {
    /// From the kernel layer (solves, kernels, metrics).
    #[error(transparent)]
    Kernel(#[from] kernels::KernelError),
    /// From linear algebra (shapes, NaN, eigendecomposition).
    #[error(transparent)]
    Linalg(#[from] linalg::LinalgError),
    /// From datasets (e.g. inconsistent data).
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    /// An invalid hyperparameter.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Name.
        name: String,
        /// Value.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// The AGOP became zero or non-finite (e.g. a constant predictor).
    #[error("AGOP at iteration {iter} is {what}; the predictor has no input dependence ({hint})")]
    DegenerateAgop {
        /// Iteration.
        iter: usize,
        /// "zero" or "not finite".
        what: String,
        /// Suggested fix.
        hint: String,
    },
}

/// Result type of this crate.
pub type Result<T, E = RfmError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, value: impl std::fmt::Display, reason: &str) -> RfmError {
    RfmError::InvalidParameter { name: name.into(), value: value.to_string(), reason: reason.into() }
}

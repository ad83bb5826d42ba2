//! lin-RFM for sparse regression and low-rank matrix completion, with IRLS-p, SoftImpute and deep linear network baselines
//!
//! (work in progress)

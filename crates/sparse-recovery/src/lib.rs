//! # sparse-recovery: lin-RFM for sparse regression and low-rank matrix completion
//!
//! Linear Recursive Feature Machines (Radhakrishnan, Belkin & Drusvyatskiy, PNAS 2025) alternate a
//! minimum-norm (ridge) fit in a reweighted feature space with an update of the reweighting by the
//! AGOP of the fitted predictor passed through a power, `M = G^alpha`:
//!
//! * **matrix completion** ([`LinRfmParams`]): observed entries `Omega` of a `d1 x d2` matrix as an
//!   [`sprs`] CSR matrix ([`Observations`]); every iteration fits each row by kernel ridge regression
//!   on its observed entries with the kernel `K = M^T M = G^(2 alpha)` on column indices (rayon over
//!   rows), then forms `G = Yhat^T Yhat / d1` by a faer GEMM. `alpha = 1/2` is the SVD-free path
//!   (`K = G`, no decomposition at all);
//! * **sparse regression** ([`regression::DiagLinRfmParams`]): `M = diag(|w|^(2 alpha))`.
//!
//! With `p = 2 - 4 alpha` lin-RFM is IRLS-p (`alpha = 1/2` <-> IRLS-0 / log-det, `alpha = 1/4` <->
//! nuclear norm / l1). Baselines: [`IrlsParams`] (an eigendecomposition every iteration),
//! [`SoftImputeParams`] (nuclear norm, lambda chosen on held-out entries), [`DlnParams`] (deep linear
//! networks trained by gradient descent from a small initialisation), and the seeded generators
//! [`low_rank_instance`] and [`sparse_regression_instance`].
//!
//! Stopping never looks at the truth: a seeded 5% of the observed entries is held out and drives
//! early stopping and the choice of the returned iterate ([`Stopping`]).
//!
//! Beyond the paper: [`LinRfmParams::momentum`] (heavy-ball momentum on the AGOP input, with
//! restarts) cuts the iterations of the slow, near-linear late phase by 2-10x at no cost per
//! iteration (`with_momentum(0.9)`; the default 0 is the authors' algorithm).
//!
//! ```
//! use sparse_recovery::{LinRfmParams, low_rank_instance};
//!
//! // 60 x 60, rank 2, 30% of the entries observed
//! let inst = low_rank_instance(60, 60, 2, 1080, 1).unwrap();
//! let fit = LinRfmParams::new(0.5).with_max_iters(300).fit(&inst.observed).unwrap();
//! let err = inst.unobserved_error(fit.prediction()).unwrap();
//! assert!(err.relative < 1e-2, "relative error {}", err.relative);
//!
//! // the same with momentum: the same answer in fewer iterations
//! let fast = LinRfmParams::new(0.5).with_max_iters(300).with_momentum(0.9).fit(&inst.observed).unwrap();
//! assert!(inst.unobserved_error(fast.prediction()).unwrap().relative < 1e-2);
//! assert!(fast.iters < fit.iters, "{} vs {}", fast.iters, fit.iters);
//!
//! // bad input is an error, never a panic
//! assert!(sparse_recovery::Observations::from_triplets(3, 3, &[(0, 0, f64::NAN)]).is_err());
//! assert!(LinRfmParams::new(0.0).fit(&inst.observed).is_err());
//! ```
#![deny(missing_docs)]

pub mod completion;
pub mod dln;
pub mod error;
pub mod instance;
pub mod irls;
pub mod kernel_step;
pub mod observations;
pub mod regression;
pub mod softimpute;

pub use completion::{
    CompletionFit, CompletionStep, Control, Epsilon, IterRecord, KernelMethod, LinRfmParams, StopReason,
    Stopping, feature_matrix, kernel_from_agop,
};
pub use dln::DlnParams;
pub use error::{Result, SparseRecoveryError};
pub use instance::{
    LowRankInstance, SparseRegressionInstance, UnobservedError, low_rank_instance, low_rank_instance_frac,
    sparse_regression_instance,
};
pub use irls::IrlsParams;
pub use observations::Observations;
pub use softimpute::SoftImputeParams;

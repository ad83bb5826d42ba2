//! # rfm: the AGOP and Recursive Feature Machines
//!
//! * [`agop`]: the Average Gradient Outer Product of any predictor from its input gradients
//!   ([`agop::AgopAccumulator`], batched, full or diagonal, centred or not) and the fused path for kernel
//!   predictors ([`agop::kernel_agop`]);
//! * [`RfmParams`] -> [`RfmModel`]: alternate kernel ridge regression with `M <- normalise(AGOP^s)`,
//!   with an observer per iteration, any [`kernels::KernelSolver`], validation-based selection, and
//!   serde for params and models;
//! * [`measures`]: circulant deviation (with discrete-log reordering) and AGOP alignment.
//!
//! ```
//! use datasets::synthetic::{multi_index, MultiIndexTask};
//! use kernels::KernelSpec;
//! use rfm::RfmParams;
//!
//! // y = x1 * x2 in 10 dimensions: the learned M concentrates on coordinates 1 and 2.
//! let train = multi_index(MultiIndexTask::Prod, 400, 10, 0).unwrap();
//! let model = RfmParams::new(KernelSpec::laplace(10.0)).with_iters(2).fit(&train).unwrap();
//! let m = model.feature_matrix();
//! let top: f64 = m[(0, 0)] + m[(1, 1)];
//! let trace: f64 = (0..10).map(|i| m[(i, i)]).sum();
//! assert!(top > 0.5 * trace);
//! ```
#![deny(missing_docs)]

pub mod agop;
pub mod collapse;
pub mod conv;
pub mod deep;
pub mod error;
pub mod measures;
pub mod rfm;

pub use agop::{Agop, AgopAccumulator, AgopOptions, kernel_agop};
pub use error::{Result, RfmError};
pub use rfm::{Control, Normalization, RfmModel, RfmParams, RfmStep, Selection, mse};

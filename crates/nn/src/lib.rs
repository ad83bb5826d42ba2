//! # nn: small neural networks with explicit forward/backward passes on faer
//!
//! Hand-written backpropagation in `f64` on [`faer`] matrices (samples are rows), built for the
//! quantities the AGOP papers need and autodiff frameworks do not give directly: per-sample
//! parameter gradients (Jacobians), the empirical neural tangent kernel and its top eigenvalues,
//! per-sample input gradients and the AGOP of a network.
//!
//! * [`layers`]: `Linear` (with or without bias), activations (ReLU, GELU, quadratic), `LayerNorm`,
//!   `Embedding`, learned positional embedding;
//! * [`attention`]: causal multi-head self-attention with learned or fixed identity Q/K/V;
//! * [`mlp`]: multi-layer perceptrons with per-sample input gradients (AGOP) and Jacobians (NTK);
//! * [`gpt`]: a small pre-LN GPT-style decoder (token or continuous inputs);
//! * [`ntk`]: the 2-layer NTK-parameterised ReLU network with closed-form Jacobian, tangent kernel
//!   and input gradients (the catapult experiments);
//! * [`loss`]: half-mean squared error, softmax and soft-label cross-entropy (with padding masks);
//! * [`optim`]: SGD with momentum, Adam / AdamW, learning-rate schedules;
//! * [`analysis`]: empirical NTK, top eigenvalues, AGOP and AGOP alignment, loss split into the
//!   top-eigenspace part and the rest;
//! * [`gradcheck`]: central finite-difference gradient checks;
//! * [`icl`]: in-context learning predictors — the feature map psi of one identity-Q/K/V attention
//!   block (l1 linear, softmax, Hilbert-kernel smoothers), MLPs on the vectorised prompt and on
//!   `[psi, vec]`, small transformers with learned or identity Q/K/V trained on every prefix, and
//!   least squares on the context;
//! * [`unlearn`]: unlearning by deliberate imagination (adjusted-logit self-distillation), gradient
//!   ascent, and memorisation metrics (exact match, per-digit accuracy, extraction likelihood,
//!   perplexity, format score);
//! * [`params`]: the [`Parameters`] trait every model implements, flattening, save/load (serde JSON).
//!
//! Every random initialisation takes a seed; bad input (shape mismatch, NaN, zero width,
//! non-positive learning rate) is an [`NnError`], never a panic.
//!
//! ```
//! use nn::{TwoLayerNtk, analysis};
//!
//! // f(x) = (1/sqrt(m)) sum_j a_j relu(w_j.x / sqrt(d)) on 32 points in d = 5, width 64.
//! let x = linalg::random::gaussian_mat(32, 5, 1);
//! let y = faer::Mat::from_fn(32, 1, |i, _| x[(i, 0)] * x[(i, 1)]);
//! let mut net = TwoLayerNtk::new(5, 64, 7).unwrap();
//!
//! // The closed-form tangent kernel equals (1/n) J J^T from the per-sample gradients.
//! let k = net.ntk(x.as_ref()).unwrap();
//! let j = net.jacobian(x.as_ref()).unwrap();
//! let k2 = analysis::empirical_ntk(j.as_ref());
//! assert!((&k - &k2).norm_max() < 1e-12);
//!
//! // Gradient descent below the edge of stability 2 / lambda_max decreases the loss.
//! let lr = 1.0 / analysis::lambda_max(k.as_ref()).unwrap();
//! let l0 = net.loss(x.as_ref(), y.as_ref()).unwrap();
//! for _ in 0..20 {
//!     net.gd_step(x.as_ref(), y.as_ref(), lr).unwrap();
//! }
//! assert!(net.loss(x.as_ref(), y.as_ref()).unwrap() < l0);
//! // A non-positive learning rate is an error, not a panic.
//! assert!(net.gd_step(x.as_ref(), y.as_ref(), 0.0).is_err());
//! ```
#![deny(missing_docs)]

pub mod analysis;
pub mod attention;
pub mod error;
pub mod gpt;
pub mod gradcheck;
pub mod icl;
pub mod layers;
pub mod loss;
pub mod mlp;
pub mod ntk;
pub mod ops;
pub mod optim;
pub mod params;
pub mod unlearn;

pub use attention::CausalSelfAttention;
pub use error::{NnError, Result};
pub use gpt::{Gpt, GptConfig};
pub use layers::{Activation, Embedding, LayerNorm, Linear, PositionalEmbedding};
pub use mlp::Mlp;
pub use ntk::TwoLayerNtk;
pub use optim::{Adam, LrSchedule, Optimizer, Sgd};
pub use params::Parameters;

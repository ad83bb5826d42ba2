//! # datasets: data for the AGOP workspace
//!
//! Samples are rows, numbers are `f64`, matrices are [`faer::Mat`].
//!
//! * [`Dataset`]: inputs `x` (`n x d`), targets `y` (`n x c`), optional class labels; seeded
//!   [`Dataset::train_test_split`], [`Dataset::subset`], [`Dataset::shuffled`];
//! * encodings and preprocessing: [`one_hot`], [`signed_one_hot`], [`Standardizer`],
//!   [`unit_norm_rows`], [`scale`];
//! * metrics: [`accuracy`], [`argmax_rows`], [`mse`], [`relative_mse`], [`r2_score`],
//!   [`correct_logit_loss`];
//! * [`synthetic`]: the papers' synthetic tasks — modular arithmetic (grokking), multi-index
//!   regression (`y = x1 x2`, ...), Gaussian mixtures — plus the number theory they need
//!   (primes, inverses, generators, discrete logarithms);
//! * [`icl`]: in-context-learning prompts (linear, sparse linear, teacher-student tasks) from a
//!   finite pool of `T` tasks or a fresh task per prompt;
//! * [`corpus`]: a synthetic character corpus with planted secret records (the forget set), a
//!   fixed character tokenizer and windowed batching with padding masks;
//! * [`load`]: CSV / `.npy` / IDX loaders (gzipped or not) with line-and-column error messages,
//!   and the real datasets of the workspace's `data/` folder ([`load::digits`],
//!   [`load::mnist10k`], [`load::fashion_mnist`], [`load::sklearn_csv`]).
//!
//! Every random choice takes a `seed: u64` (the same seed gives the same data), and bad input is
//! an `Err(`[`DatasetError`]`)` naming the file, line, column, value or shape — never a panic.
//!
//! ```
//! use datasets::synthetic::{ModOp, ModularParams, modular_arithmetic, multi_index, MultiIndexTask};
//! use datasets::{accuracy, Standardizer};
//!
//! // Grokking task: a + b mod 13, half of the 169 pairs for training.
//! let params = ModularParams { p: 13, op: ModOp::Add, train_fraction: 0.5, seed: 0 };
//! let data = modular_arithmetic(&params)?;
//! assert_eq!((data.train.n(), data.test.n()), (84, 85));
//! assert_eq!((data.train.d(), data.train.c()), (26, 13));
//! // The one-hot targets are perfect predictions of themselves.
//! assert_eq!(accuracy(data.test.y.as_ref(), data.test.labels.as_ref().unwrap())?, 1.0);
//!
//! // Multi-index regression y = x1 * x2 with standardised inputs.
//! let train = multi_index(MultiIndexTask::Prod, 200, 10, 1)?;
//! let s = Standardizer::fit(train.x.as_ref())?;
//! let z = s.transform(train.x.as_ref())?;
//! assert_eq!(z.nrows(), 200);
//!
//! // Errors say what is wrong.
//! let err = modular_arithmetic(&ModularParams { p: 10, ..params }).unwrap_err();
//! assert!(err.to_string().contains("p = 10 is not prime"));
//! # Ok::<(), datasets::DatasetError>(())
//! ```
#![deny(missing_docs)]

pub mod clutter;
pub mod corpus;
mod dataset;
mod encode;
mod error;
pub mod icl;
pub mod load;
mod metrics;
mod preprocess;
mod sha256;
pub mod synthetic;

pub use clutter::{ClutterParams, digits_on_clutter};
pub use dataset::Dataset;
pub use encode::{labels_from_values, one_hot, signed_one_hot};
pub use error::{DatasetError, Result};
pub use load::sha256_file;
pub use metrics::{accuracy, argmax_rows, correct_logit_loss, mse, r2_score, relative_mse};
pub use preprocess::{Standardizer, min_max_scale, scale, unit_norm_rows};

pub use faer;

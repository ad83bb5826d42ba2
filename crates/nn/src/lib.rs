//! Small neural networks on faer.
//!
//! (work in progress)

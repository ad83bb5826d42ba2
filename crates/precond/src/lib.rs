//! Nystrom-approximated spectral (EigenPro-style) preconditioning and iterative kernel solvers
//!
//! (work in progress)

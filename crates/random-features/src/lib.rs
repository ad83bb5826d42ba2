//! Random-feature ridge regression and its eigenframework theory (test/train risk predictions)
//!
//! (work in progress)

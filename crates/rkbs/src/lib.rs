//! Mirror descent in p-norm reproducing kernel Banach spaces
//!
//! (work in progress)

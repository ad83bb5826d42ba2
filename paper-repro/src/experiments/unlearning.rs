//! Unlearning experiment (work in progress; see issue 10).

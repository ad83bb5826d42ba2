//! Synthetic character corpus with planted secrets (work in progress; see issue 10).

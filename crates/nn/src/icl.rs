//! In-context learning predictors (work in progress; see issue 9).

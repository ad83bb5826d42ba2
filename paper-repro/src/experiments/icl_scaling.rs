//! In-context learning scaling experiment (work in progress; see issue 9).

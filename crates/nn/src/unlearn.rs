//! Unlearning by deliberate imagination (work in progress; see issue 10).

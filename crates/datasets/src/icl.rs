//! In-context learning prompts (work in progress; see issue 9).

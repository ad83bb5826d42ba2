//! One module per paper: each exposes its clap arguments and a `run` function that the binary in
//! `src/bin/` calls and that tests call in quick mode.
pub mod grokking;
pub mod rfm_tool;

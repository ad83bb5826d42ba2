//! placeholder: see report.rs, cli.rs and experiments/
pub mod cli;
pub mod experiments;
pub mod report;

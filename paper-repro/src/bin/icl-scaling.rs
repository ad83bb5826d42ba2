//! In-context learning: context-scaling vs task-scaling (vectorised MLP, the feature map psi of
//! one identity-Q/K/V attention block, an MLP on [psi, vec], simplified GPT vs GPT).
//!
//! `cargo run --release -p paper-repro --bin icl-scaling -- [--task linear|teacher-student] [--quick] [--strict] [--seed N] [--out DIR]`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::icl_scaling::{IclScalingArgs, run};
use std::process::ExitCode;

/// Test MSE against the number of in-context examples n for pre-training pools of T tasks: the
/// vectorised MLP scales with T only, psi with n only, the MLP on [psi, vec] and the (simplified)
/// GPTs with both.
#[derive(Parser, Debug)]
#[command(name = "icl-scaling", version)]
struct Args {
    #[command(flatten)]
    icl: IclScalingArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.icl, &args.common)
    })
}

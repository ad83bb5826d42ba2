//! Mirror descent in p-norm reproducing kernel Banach spaces.
//!
//! `cargo run --release -p paper-repro --bin rkbs-mirror-descent -- [--p 1.1] [--quick] [--strict]`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::rkbs_mirror_descent::{RkbsArgs, run};
use std::process::ExitCode;

/// Mirror descent in p-norm RKBS: linear convergence under relative strong convexity, the
/// O(1/sqrt(T)) constrained rate, sparsity for p near 1, and p = 2 = kernel gradient descent.
#[derive(Parser, Debug)]
#[command(name = "rkbs-mirror-descent", version)]
struct Args {
    #[command(flatten)]
    rkbs: RkbsArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.rkbs, &args.common)
    })
}

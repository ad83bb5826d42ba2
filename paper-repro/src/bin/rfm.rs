//! The general Recursive Feature Machine tool.
//!
//! `cargo run --release -p paper-repro --bin rfm -- --task prod --n 5000 --d 100 --iters 5`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::rfm_tool::{RfmArgs, run};
use std::process::ExitCode;

/// Recursive Feature Machines (Radhakrishnan et al., Science 2024): kernel ridge regression whose
/// metric is learned by the Average Gradient Outer Product, on synthetic tasks, bundled datasets or
/// your own .npy/.csv files.
#[derive(Parser, Debug)]
#[command(name = "rfm", version)]
struct Args {
    #[command(flatten)]
    rfm: RfmArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.rfm, &args.common)
    })
}

//! Grokking modular arithmetic with Recursive Feature Machines.
//!
//! `cargo run --release -p paper-repro --bin grokking -- [--prime 61] [--op add] [--quick] [--strict]`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::grokking::{GrokkingArgs, run};
use std::process::ExitCode;

/// RFM grokking modular arithmetic (Mallinar et al. 2024): test accuracy jumps from chance to ~100%
/// after a plateau, while the circulant deviation of the learned features falls steadily.
#[derive(Parser, Debug)]
#[command(name = "grokking", version)]
struct Args {
    #[command(flatten)]
    grokking: GrokkingArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.grokking, &args.common)
    })
}

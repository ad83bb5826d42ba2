//! Deep neural collapse through the AGOP: NC1 / NC2 through the layers of a Deep RFM.
//!
//! `cargo run --release -p paper-repro --bin neural-collapse -- [--dataset mnist10k|mixture] [--quick]`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::neural_collapse::{NeuralCollapseArgs, run};
use std::process::ExitCode;

/// Deep RFM (Beaglehole et al. 2024): within-class variability collapses with depth, and the
/// collapse happens at the AGOP projection, not at the random nonlinearity.
#[derive(Parser, Debug)]
#[command(name = "neural-collapse", version)]
struct Args {
    #[command(flatten)]
    nc: NeuralCollapseArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.nc, &args.common)
    })
}

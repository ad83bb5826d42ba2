//! ConvRFM: patch AGOP feature learning against the fixed patch kernel, and the learned filters.
//!
//! `cargo run --release -p paper-repro --bin conv-rfm -- [--quick] [--star-only]`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::conv_rfm::{ConvRfmArgs, run};
use std::process::ExitCode;

/// ConvRFM (Beaglehole et al. 2023): learning a patch metric from the patch AGOP beats the fixed
/// patch kernel on local signals, and the learned filters are edge detectors.
#[derive(Parser, Debug)]
#[command(name = "conv-rfm", version)]
struct Args {
    #[command(flatten)]
    conv: ConvRfmArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.conv, &args.common)
    })
}

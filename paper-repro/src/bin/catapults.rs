//! Catapults in SGD: loss spikes are catapults that lower the top NTK eigenvalue and improve the
//! AGOP alignment (feature learning).
//!
//! `cargo run --release -p paper-repro --bin catapults -- [--quick] [--strict] [--seed N] [--out DIR]`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::catapults::{CatapultsArgs, run};
use std::process::ExitCode;

/// Catapult dynamics of a 2-layer NTK-parameterised ReLU network on y = x1 x2: GD above the edge
/// of stability 2/lambda_max spikes and comes back with a smaller lambda_max; in SGD smaller batches
/// give more catapults and a better AGOP alignment with the target.
#[derive(Parser, Debug)]
#[command(name = "catapults", version)]
struct Args {
    #[command(flatten)]
    catapults: CatapultsArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.catapults, &args.common)
    })
}

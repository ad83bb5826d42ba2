//! lin-RFM: linear Recursive Feature Machines for matrix completion and sparse regression.
//!
//! `cargo run --release -p paper-repro --bin lin-rfm -- [--quick] [--strict] [--full]`
//! `cargo run --release -p paper-repro --bin lin-rfm -- --d1 2000 --d2 2000 --rank 5 --obs-frac 0.05 --alpha 0.5`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::lin_rfm::{LinRfmArgs, run};
use std::process::ExitCode;

/// lin-RFM (Radhakrishnan, Belkin & Drusvyatskiy, PNAS 2025): the AGOP of a linear predictor, fed back
/// as a power M = G^alpha, recovers low-rank matrices and sparse vectors; the alpha = 1/2 variant needs
/// no SVD at all.
#[derive(Parser, Debug)]
#[command(name = "lin-rfm", version)]
struct Args {
    #[command(flatten)]
    lin: LinRfmArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.lin, &args.common)
    })
}

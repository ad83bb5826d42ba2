//! Nystrom-approximated spectral preconditioning (EigenPro): exact vs Nystrom preconditioners, the
//! speed-up against the eigenvalue ratio, a solver comparison and a 60,000-point scale run.
//!
//! `cargo run --release -p paper-repro --bin nystrom-precond -- [--quick] [--strict] [--dataset mnist10k]`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::nystrom_precond::{NystromArgs, run};
use std::process::ExitCode;

/// Nystrom-approximated spectral preconditioning for kernel machines (Abedsoltan et al. 2023,
/// EigenPro 2): a preconditioner from a few hundred sampled points is nearly as good as the exact one.
#[derive(Parser, Debug)]
#[command(name = "nystrom-precond", version)]
struct Args {
    #[command(flatten)]
    nystrom: NystromArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.nystrom, &args.common)
    })
}

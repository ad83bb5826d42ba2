//! Random-feature regression and its eigenframework theory: more is better, overfitting is
//! obligatory.
//!
//! `cargo run --release -p paper-repro --bin more-is-better -- [--quick] [--trials 20] [--strict]`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::more_is_better::{MoreIsBetterArgs, run};
use std::process::ExitCode;

/// "More is better" (Simon et al. 2023): the eigenframework predicts random-feature regression's
/// test risk; at the optimal ridge more features and more data never hurt, and on powerlaw tasks
/// the optimum overfits.
#[derive(Parser, Debug)]
#[command(name = "more-is-better", version)]
struct Args {
    #[command(flatten)]
    more_is_better: MoreIsBetterArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.more_is_better, &args.common)
    })
}

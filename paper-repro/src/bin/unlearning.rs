//! Unlearning by deliberate imagination on a small character LM: pre-train until planted secrets
//! are memorised, then forget them with adjusted-logit self-distillation (and compare gradient
//! ascent and the gamma = 0 control).
//!
//! `cargo run --release -p paper-repro --bin unlearning -- [--quick] [--strict] [--seed N] [--out DIR] [--gamma G]`
use clap::Parser;
use paper_repro::cli::{self, CommonArgs};
use paper_repro::experiments::unlearning::{UnlearningArgs, run};
use std::process::ExitCode;

/// Deliberate imagination (UnDIAL) on a 2-block character GPT trained on a synthetic corpus with
/// planted private records "NAME's code is DDDDDD.": the secrets are forgotten (down to the level of
/// never-seen records) while retained perplexity and the code format are kept; gradient ascent
/// damages the language model more at the same level of forgetting.
#[derive(Parser, Debug)]
#[command(name = "unlearning", version)]
struct Args {
    #[command(flatten)]
    unlearning: UnlearningArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run_main(|| {
        args.common.init_threads()?;
        run(&args.unlearning, &args.common)
    })
}

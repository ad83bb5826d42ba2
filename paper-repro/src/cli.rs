//! Command-line plumbing shared by every paper binary.
//!
//! * [`CommonArgs`]: the flags every binary accepts (`--quick`, `--strict`, `--seed`, `--out`,
//!   `--threads`, `--no-plots`, `--quiet`), to be `#[command(flatten)]`-ed into the binary's own
//!   clap struct.
//! * [`run_main`]: wraps the body of `main` so that an error becomes `error: ...` plus its cause
//!   chain on stderr and exit code 2 instead of a panic or a `Debug` dump.
//! * `parse_*` value parsers and `check_*` validators that turn bad numbers into clear messages.
//!
//! ```
//! use clap::Parser;
//! use paper_repro::cli::{self, CommonArgs};
//!
//! #[derive(Parser, Debug, serde::Serialize)]
//! struct Args {
//!     /// Kernel bandwidth (> 0).
//!     #[arg(long, default_value_t = 2.5, value_parser = cli::parse_positive_f64,
//!           allow_negative_numbers = true)]
//!     bandwidth: f64,
//!     #[command(flatten)]
//!     #[serde(flatten)]
//!     common: CommonArgs,
//! }
//!
//! let args = Args::try_parse_from(["demo", "--quick", "--seed", "7", "--bandwidth", "0.5"]).unwrap();
//! assert!(args.common.quick);
//! assert_eq!(args.common.seed, 7);
//! let err = Args::try_parse_from(["demo", "--bandwidth", "-1"]).unwrap_err();
//! assert!(err.to_string().contains("must be a finite number > 0"));
//! ```
//!
//! Tip: clap reads `--bandwidth -1` as a missing value followed by an unknown flag `-1` unless the
//! argument has `allow_negative_numbers = true`; with it the value reaches the parser and the user
//! gets the clearer message.

use std::fmt::Display;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

/// Exit code for a run that stopped with an error (bad input, I/O failure, ...).
/// Same code clap uses for a bad command line.
pub const EXIT_ERROR: u8 = 2;

/// Exit code for a run that panicked (a bug, never the intended reaction to bad input). Same code
/// the Rust runtime uses for an uncaught panic.
pub const EXIT_PANIC: u8 = 101;

/// Flags shared by every paper binary. Flatten it into the binary's own arguments:
///
/// ```
/// # use clap::Parser;
/// # use paper_repro::cli::CommonArgs;
/// #[derive(Parser, Debug)]
/// struct Args {
///     #[arg(long, default_value_t = 30)]
///     iters: usize,
///     #[command(flatten)]
///     common: CommonArgs,
/// }
/// let args = Args::try_parse_from(["grokking", "--iters", "5", "--out", "/tmp/x"]).unwrap();
/// assert_eq!(args.common.out, std::path::PathBuf::from("/tmp/x"));
/// ```
///
/// It is `Serialize`, so it can go into `summary.json` (a [`crate::report::Report`] records it
/// under `"run"` anyway).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommonArgs {
    /// Run a seconds-long smoke version of the experiment (for tests).
    #[arg(long)]
    pub quick: bool,

    /// Exit with status 1 when any of the paper's claims is not reproduced.
    #[arg(long)]
    pub strict: bool,

    /// Seed of every random number generator used by the run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Output folder; results go to a subfolder named after the binary.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,

    /// Number of worker threads (default: all cores, or RAYON_NUM_THREADS).
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<usize>,

    /// Do not write plots (CSV files and summary.json are still written).
    #[arg(long)]
    pub no_plots: bool,

    /// No progress bars and no per-iteration tables; claims and output paths are still printed.
    #[arg(long)]
    pub quiet: bool,
}

impl Default for CommonArgs {
    /// The values clap gives when no flag is passed.
    fn default() -> Self {
        CommonArgs {
            quick: false,
            strict: false,
            seed: 0,
            out: PathBuf::from("out"),
            threads: None,
            no_plots: false,
            quiet: false,
        }
    }
}

impl CommonArgs {
    /// Builds rayon's global thread pool with `--threads` workers (when given) and makes faer use
    /// that pool (faer's default parallelism is `Par::rayon(0)`, i.e. rayon's current pool; with a
    /// single thread it is set to `Par::Seq` to skip rayon overhead).
    ///
    /// Call it once, early in `main`. Calling it again with the same thread count is fine; asking
    /// for a different count after the pool exists is an error.
    pub fn init_threads(&self) -> anyhow::Result<()> {
        let Some(n) = self.threads else {
            return Ok(());
        };
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        // Building twice fails; that is fine when the existing pool has the requested size.
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("worker-{i}"))
            .build_global()
            && rayon::current_num_threads() != n
        {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot set up {n} worker threads: the thread pool already has {} \
                 (call init_threads before any parallel work)",
                rayon::current_num_threads()
            )));
        }
        faer::set_global_parallelism(if n == 1 { faer::Par::Seq } else { faer::Par::rayon(0) });
        Ok(())
    }

    /// Whether progress bars and tables should be shown (`!quiet`).
    pub fn verbose(&self) -> bool {
        !self.quiet
    }
}

/// Runs the body of `main` and turns its outcome into the process exit code:
///
/// * `Ok(code)` → `code` (e.g. what [`crate::report::Report::finish`] returns);
/// * `Err(e)` → prints `error: <e>` and one `  caused by: <cause>` line per source in the chain to
///   stderr, returns exit code [`EXIT_ERROR`] (2);
/// * a panic → the panic message stays visible (it is a bug and should be reported as one); an
///   extra `error: internal error ...` line is printed and the exit code is [`EXIT_PANIC`] (101).
///   Bad input must be rejected with an `Err` before anything can panic; this wrapper does not
///   hide panics.
///
/// ```no_run
/// use std::process::ExitCode;
/// fn main() -> ExitCode {
///     paper_repro::cli::run_main(|| {
///         let n: usize = "12".parse()?;
///         anyhow::ensure!(n > 1, "n must be > 1, got {n}");
///         Ok(ExitCode::SUCCESS)
///     })
/// }
/// ```
pub fn run_main<F: FnOnce() -> anyhow::Result<ExitCode>>(f: F) -> ExitCode {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprint_error(&e);
            ExitCode::from(EXIT_ERROR)
        }
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_string());
            let _ =
                writeln!(std::io::stderr().lock(), "error: internal error (a bug, please report it): {msg}");
            ExitCode::from(EXIT_PANIC)
        }
    }
}

/// Formats an error and its cause chain the way [`run_main`] prints it:
/// `error: <msg>` then `  caused by: <cause>` lines.
pub fn format_error(e: &anyhow::Error) -> String {
    let mut out = format!("error: {e}");
    for cause in e.chain().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    out
}

fn eprint_error(e: &anyhow::Error) {
    if cfg!(test) {
        // Captured by the test harness (direct writes to stderr are not).
        eprintln!("{}", format_error(e));
    } else {
        // Ignore failures: stderr may be closed, and there is nowhere else to report to.
        let _ = writeln!(std::io::stderr().lock(), "{}", format_error(e));
    }
}

// ---------------------------------------------------------------------------------------------
// Value parsers for clap (`#[arg(value_parser = cli::parse_positive_f64)]`). They return `String`
// errors, which clap prints as `error: invalid value 'X' for '--flag <FLAG>': <message>`.
// ---------------------------------------------------------------------------------------------

fn parse_f64(s: &str) -> Result<f64, String> {
    let x: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !x.is_finite() {
        return Err(format!("must be a finite number, got {s}"));
    }
    Ok(x)
}

/// clap value parser: a finite number `> 0` (bandwidths, learning rates, regularisation).
pub fn parse_positive_f64(s: &str) -> Result<f64, String> {
    let x = parse_f64(s).map_err(|_| format!("must be a finite number > 0, got '{s}'"))?;
    if x > 0.0 { Ok(x) } else { Err(format!("must be a finite number > 0, got {s}")) }
}

/// clap value parser: a finite number `>= 0`.
pub fn parse_nonnegative_f64(s: &str) -> Result<f64, String> {
    let x = parse_f64(s).map_err(|_| format!("must be a finite number >= 0, got '{s}'"))?;
    if x >= 0.0 { Ok(x) } else { Err(format!("must be a finite number >= 0, got {s}")) }
}

/// clap value parser: a fraction strictly between 0 and 1 (e.g. a train/test split).
pub fn parse_open_fraction(s: &str) -> Result<f64, String> {
    let x = parse_f64(s).map_err(|_| format!("must be a number strictly between 0 and 1, got '{s}'"))?;
    if x > 0.0 && x < 1.0 { Ok(x) } else { Err(format!("must be strictly between 0 and 1, got {s}")) }
}

/// clap value parser: a fraction in `(0, 1]` (e.g. the fraction of observed entries).
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let x = parse_f64(s).map_err(|_| format!("must be a number in (0, 1], got '{s}'"))?;
    if x > 0.0 && x <= 1.0 { Ok(x) } else { Err(format!("must be in (0, 1], got {s}")) }
}

/// clap value parser: an integer `>= 1` (sizes, iteration counts, ranks).
pub fn parse_positive_usize(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1, got 0".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("must be a whole number >= 1, got '{s}'")),
    }
}

/// clap value parser for `--threads`: an integer in `1..=1024`.
pub fn parse_threads(s: &str) -> Result<usize, String> {
    let n = parse_positive_usize(s)?;
    if n > 1024 {
        return Err(format!("must be at most 1024, got {n}"));
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Validators for values that depend on each other (checked after parsing, returning anyhow errors
// that `run_main` prints). Each names the offending flag in its message.
// ---------------------------------------------------------------------------------------------

/// `lo <= value <= hi`, else an error naming `name`: `--rank must be in [1, 500], got 600`.
pub fn check_range<T: PartialOrd + Display + Copy>(name: &str, value: T, lo: T, hi: T) -> anyhow::Result<T> {
    // `!(a <= b)` rather than `a > b` so that NaN fails too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(lo <= value && value <= hi) {
        bail!("{name} must be in [{lo}, {hi}], got {value}");
    }
    Ok(value)
}

/// `value` finite and `> 0`, else `<name> must be a finite number > 0, got <value>`.
pub fn check_positive(name: &str, value: f64) -> anyhow::Result<f64> {
    if !(value.is_finite() && value > 0.0) {
        bail!("{name} must be a finite number > 0, got {value}");
    }
    Ok(value)
}

/// `value` is a prime number, else `<name> must be a prime number, got <value>`.
pub fn check_prime(name: &str, value: u64) -> anyhow::Result<u64> {
    let is_prime = value >= 2 && (2..).take_while(|d| d * d <= value).all(|d| !value.is_multiple_of(d));
    if !is_prime {
        bail!("{name} must be a prime number, got {value}");
    }
    Ok(value)
}

/// Every value finite, else an error naming `what` and the first bad index:
/// `x-train contains NaN at index 3`.
pub fn check_finite(what: &str, values: &[f64]) -> anyhow::Result<()> {
    if let Some((i, x)) = values.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        let kind = if x.is_nan() { "NaN" } else { "an infinite value" };
        bail!("{what} contains {kind} at index {i}");
    }
    Ok(())
}

/// Reads a whole text file with the path in the error message (`cannot read data/x.csv: ...`).
pub fn read_to_string(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Args {
        #[arg(long, default_value_t = 1.0, value_parser = parse_positive_f64, allow_negative_numbers = true)]
        bandwidth: f64,
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn common_args_defaults_match_default_impl() {
        let a = Args::try_parse_from(["x"]).unwrap();
        assert_eq!(a.common, CommonArgs::default());
        let a = Args::try_parse_from([
            "x",
            "--quick",
            "--strict",
            "--seed",
            "5",
            "--out",
            "o",
            "--threads",
            "2",
            "--no-plots",
            "--quiet",
        ])
        .unwrap();
        assert!(a.common.quick && a.common.strict && a.common.no_plots && a.common.quiet);
        assert_eq!((a.common.seed, a.common.threads), (5, Some(2)));
    }

    #[test]
    fn bad_values_give_messages() {
        let e = Args::try_parse_from(["x", "--bandwidth", "-1"]).unwrap_err();
        assert!(e.to_string().contains("> 0"), "{e}");
        let e = Args::try_parse_from(["x", "--threads", "0"]).unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
        assert!(parse_open_fraction("1.5").is_err());
        assert!(parse_open_fraction("0").is_err());
        assert!(parse_open_fraction("nan").is_err());
        assert_eq!(parse_fraction("1"), Ok(1.0));
        assert!(parse_positive_usize("abc").is_err());
        assert!(check_prime("--prime", 10).unwrap_err().to_string().contains("prime"));
        assert_eq!(check_prime("--prime", 61).unwrap(), 61);
        assert!(check_range("--rank", 600, 1, 500).is_err());
        assert!(check_range("--x", f64::NAN, 0.0, 1.0).is_err());
        assert!(check_finite("x", &[1.0, f64::NAN]).unwrap_err().to_string().contains("NaN"));
    }

    #[test]
    fn run_main_maps_outcomes_to_exit_codes() {
        assert_eq!(run_main(|| Ok(ExitCode::SUCCESS)), ExitCode::SUCCESS);
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(format_error(&e), "error: outer\n  caused by: inner");
        assert_eq!(run_main(|| Err(e)), ExitCode::from(EXIT_ERROR));
    }

    #[test]
    fn init_threads_without_flag_is_a_no_op() {
        CommonArgs::default().init_threads().unwrap();
    }
}

//! Reporting shared by the paper binaries: the run summary (`summary.json`), claims, CSV files,
//! plots, stdout tables, progress bars and small statistics.
//!
//! Every binary follows the same shape: parse its arguments (with [`CommonArgs`] flattened in),
//! open a [`Report`], stream a [`Table`] of per-iteration metrics while recording each row with
//! [`Report::add_iteration`], state the paper's claims with [`Report::claim`], write CSV files and
//! plots, and end with [`Report::finish`], which prints the claims, writes
//! `OUT/<binary>/summary.json` and gives the exit code (non-zero under `--strict` when a claim
//! failed).
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use clap::Parser;
//! use paper_repro::cells;
//! use paper_repro::cli::{self, CommonArgs};
//! use paper_repro::report::{LinePlot, Report, Series};
//!
//! /// Toy experiment: accuracy that "groks" after a few iterations.
//! #[derive(Parser, Debug, Clone, serde::Serialize)]
//! struct Args {
//!     /// Number of iterations (>= 1).
//!     #[arg(long, default_value_t = 30, value_parser = cli::parse_positive_usize)]
//!     iters: usize,
//!     #[command(flatten)]
//!     #[serde(skip)]
//!     common: CommonArgs,
//! }
//!
//! #[derive(serde::Serialize)]
//! struct Row {
//!     iter: usize,
//!     train_acc: f64,
//!     test_acc: f64,
//! }
//!
//! fn main() -> ExitCode {
//!     let args = Args::parse(); // bad flags: clap prints the error and exits with code 2
//!     cli::run_main(|| run(args))
//! }
//!
//! fn run(args: Args) -> anyhow::Result<ExitCode> {
//!     args.common.init_threads()?;
//!     let iters = if args.common.quick { 5 } else { args.iters };
//!     let mut report = Report::new("toy", &args.common, &args)?;
//!
//!     let mut table = report.table(&["iter", "train_acc", "test_acc"]);
//!     let bar = report.progress(iters as u64, "training");
//!     let mut test = Vec::new();
//!     for t in 0..iters {
//!         let row = Row { iter: t, train_acc: 1.0, test_acc: if t >= iters / 2 { 0.99 } else { 0.01 } };
//!         table.row(cells![row.iter, row.train_acc, row.test_acc]); // printed right away
//!         test.push(row.test_acc);
//!         report.add_iteration(&row);
//!         bar.inc(1);
//!     }
//!     bar.finish();
//!
//!     let early = test[..iters / 2].iter().cloned().fold(0.0, f64::max);
//!     report.claim(
//!         "test_flat_early",
//!         early < 0.05,
//!         format!("max test accuracy {early:.2} in the first {} iterations", iters / 2),
//!     );
//!     report.write_iterations_csv("iterations.csv")?;
//!     report.line_plot(
//!         "accuracy.svg",
//!         &LinePlot::new("toy grokking")
//!             .x_label("iteration")
//!             .y_label("accuracy")
//!             .series(Series::from_ys("test", &test)),
//!     );
//!     report.finish() // prints the claims, writes summary.json, exit code 1 if --strict and a claim failed
//! }
//! ```
//!
//! Output of such a run (stdout):
//!
//! ```text
//! toy: seed 0, 2 threads, output in out/toy
//!      iter  train_acc   test_acc
//! ---------  ---------  ---------
//!         0          1     0.0100
//! ...
//! claims: 1/1 passed
//! CLAIM test_flat_early:  PASS  max test accuracy 0.01 in the first 15 iterations
//! wrote out/toy/: iterations.csv, accuracy.svg, summary.json
//! ```

mod json;
mod plot;
mod progress;
mod stats;
mod table;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use serde::Serialize;

use crate::cli::CommonArgs;
use json::Json;

pub use plot::{Colormap, Grid, IntoGrid, LinePlot, Marker, Series, grid_plot, heatmap, line_plot};
pub use progress::{Progress, eprint_line, print_line};
pub use stats::{linear_fit, mean_std, power_law_fit};
pub use table::{Table, ToCell, fmt_num};

/// Keys of `summary.json` written by [`Report`] itself; [`Report::set`] refuses them.
pub const RESERVED_KEYS: [&str; 11] = [
    "binary",
    "complete",
    "config",
    "run",
    "elapsed_s",
    "claims",
    "claims_passed",
    "claims_total",
    "notes",
    "files",
    "iterations",
];

/// One claim of the paper and whether this run reproduced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// Stable identifier checked by the acceptance tests (e.g. `"sharp_transition"`).
    pub id: String,
    /// Whether the run supports the claim.
    pub passed: bool,
    /// The numbers behind the verdict, e.g. `"test acc 0.00 at t<=8, 0.99 at t=24"`.
    pub evidence: String,
}

/// The record of one run of a paper binary: configuration, per-iteration metrics, claims, notes,
/// extra values and the files written, all saved to `OUT/<binary>/summary.json` by
/// [`finish`](Report::finish).
///
/// `summary.json` is a pretty-printed object with these keys, in this order:
/// `binary`, `complete`, `config` (what was passed to [`Report::new`]), `run` (seed, quick,
/// strict, threads, out dir, crate version, start time), `elapsed_s`, `claims` (list of
/// `{"id", "passed", "evidence"}`), `claims_passed`, `claims_total`, `notes`, then the keys given
/// to [`set`](Report::set), then `files` (names relative to the output folder) and `iterations`
/// (list of objects). Non-finite numbers are written as `null`.
///
/// Keys of struct rows keep their declaration order. Rows built with `serde_json::json!` have
/// their keys sorted unless serde_json's `preserve_order` feature is enabled.
#[derive(Debug)]
pub struct Report {
    name: String,
    dir: PathBuf,
    common: CommonArgs,
    config: Json,
    start: Instant,
    started_unix_s: u64,
    iterations: Vec<Json>,
    extra: Vec<(String, Json)>,
    claims: Vec<Claim>,
    notes: Vec<String>,
    files: Vec<String>,
}

impl Report {
    /// Starts the report of binary `binary_name`: creates `common.out/<binary_name>/`, records
    /// the start time and the configuration, and (unless `--quiet`) prints a one-line header.
    ///
    /// `config` is any serializable value describing the run (typically the binary's parsed
    /// arguments, or a struct of the effective settings after `--quick` is applied).
    ///
    /// Call [`CommonArgs::init_threads`] before this: the header line asks rayon for its thread
    /// count, which starts rayon's default pool if none exists yet.
    pub fn new(binary_name: &str, common: &CommonArgs, config: impl Serialize) -> anyhow::Result<Report> {
        ensure!(
            !binary_name.is_empty()
                && !binary_name.contains(['/', '\\'])
                && binary_name != "."
                && binary_name != "..",
            "invalid report name {binary_name:?}"
        );
        let config = Json::from_serialize(&config).context("cannot serialize the configuration")?;
        let dir = common.out.join(binary_name);
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
        let started_unix_s = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let report = Report {
            name: binary_name.to_string(),
            dir,
            common: common.clone(),
            config,
            start: Instant::now(),
            started_unix_s,
            iterations: Vec::new(),
            extra: Vec::new(),
            claims: Vec::new(),
            notes: Vec::new(),
            files: Vec::new(),
        };
        if !common.quiet {
            print_line(format!(
                "{}: seed {}{}, {} thread{}, output in {}",
                report.name,
                common.seed,
                if common.quick { ", quick" } else { "" },
                rayon::current_num_threads(),
                if rayon::current_num_threads() == 1 { "" } else { "s" },
                report.dir.display()
            ));
        }
        Ok(report)
    }

    /// The binary's name given to [`Report::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The output folder `OUT/<binary>/` (it exists).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `dir().join(file_name)`: where to write a file of your own (then
    /// [`register_file`](Report::register_file) it).
    pub fn path(&self, file_name: &str) -> PathBuf {
        self.dir.join(file_name)
    }

    /// The common arguments of this run.
    pub fn common(&self) -> &CommonArgs {
        &self.common
    }

    /// Seconds since [`Report::new`].
    pub fn elapsed_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Whether plots are written (`--no-plots` not given).
    pub fn plots_enabled(&self) -> bool {
        !self.common.no_plots
    }

    /// Records one row of `"iterations"` (a struct or map, i.e. a JSON object; any other value is
    /// stored as `{"value": ...}`). A value that cannot be serialized is recorded as a note and
    /// skipped, never a panic.
    pub fn add_iteration(&mut self, row: impl Serialize) {
        match Json::from_serialize(&row) {
            Ok(obj @ Json::Object(_)) => self.iterations.push(obj),
            Ok(other) => self.iterations.push(Json::Object(vec![("value".into(), other)])),
            Err(e) => self
                .warn(format!("iteration {} not recorded: cannot serialize it: {e}", self.iterations.len())),
        }
    }

    /// Number of iteration rows recorded.
    pub fn iterations_len(&self) -> usize {
        self.iterations.len()
    }

    /// Sets an extra top-level key of `summary.json` (e.g. `"final_test_acc"` or a fitted
    /// exponent); setting a key again replaces its value. Keys in [`RESERVED_KEYS`] are refused
    /// with a warning.
    pub fn set(&mut self, key: &str, value: impl Serialize) {
        if RESERVED_KEYS.contains(&key) {
            self.warn(format!("set({key:?}) ignored: the key is written by Report itself"));
            return;
        }
        match Json::from_serialize(&value) {
            Ok(v) => match self.extra.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = v,
                None => self.extra.push((key.to_string(), v)),
            },
            Err(e) => self.warn(format!("set({key:?}) ignored: cannot serialize the value: {e}")),
        }
    }

    /// States whether claim `id` of the paper was reproduced, with the evidence (the numbers
    /// behind the verdict). Returns `passed`. Stating the same `id` again replaces the earlier
    /// verdict (keeping its position).
    pub fn claim(&mut self, id: &str, passed: bool, evidence: impl Into<String>) -> bool {
        let claim = Claim { id: id.to_string(), passed, evidence: evidence.into() };
        match self.claims.iter_mut().find(|c| c.id == id) {
            Some(slot) => *slot = claim,
            None => self.claims.push(claim),
        }
        passed
    }

    /// The claims stated so far.
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }

    /// Whether every claim stated so far passed (true when there is none).
    pub fn all_claims_passed(&self) -> bool {
        self.claims.iter().all(|c| c.passed)
    }

    /// Prints `note: <msg>` and stores it under `"notes"`: for honest statements about the run,
    /// e.g. "at --quick scale the transition is not sharp; this run does not reproduce it".
    /// Printed even with `--quiet`.
    pub fn note(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        print_line(format!("note: {msg}"));
        self.notes.push(msg);
    }

    /// The notes stored so far.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn warn(&mut self, msg: String) {
        eprint_line(format!("warning: {msg}"));
        self.notes.push(format!("warning: {msg}"));
    }

    /// Adds a file to the `"files"` list of the summary (files written through `Report` are
    /// added automatically). Paths inside the output folder are stored relative to it.
    pub fn register_file(&mut self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let name = path.strip_prefix(&self.dir).unwrap_or(path).to_string_lossy().into_owned();
        if !self.files.contains(&name) {
            self.files.push(name);
        }
    }

    /// The files written so far (relative to [`dir`](Report::dir) when inside it).
    pub fn files(&self) -> &[String] {
        &self.files
    }

    fn checked_path(&self, file_name: &str) -> anyhow::Result<PathBuf> {
        let rel = Path::new(file_name);
        ensure!(
            !file_name.is_empty()
                && rel.is_relative()
                && rel.components().all(|c| matches!(c, std::path::Component::Normal(_))),
            "output file name {file_name:?} must be a plain relative path inside {}",
            self.dir.display()
        );
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        Ok(path)
    }

    /// Writes a CSV file of numbers into the output folder. Every row must have
    /// `headers.len()` values. Numbers are written exactly (shortest round-trip form; very
    /// small/large magnitudes in scientific notation); non-finite values as `NaN`, `inf`, `-inf`.
    pub fn write_csv(
        &mut self,
        file_name: &str,
        headers: &[&str],
        rows: &[Vec<f64>],
    ) -> anyhow::Result<PathBuf> {
        let cells: Vec<Vec<String>> =
            rows.iter().map(|r| r.iter().map(|&x| csv_number(x)).collect()).collect();
        self.write_csv_cells(file_name, headers, &cells)
    }

    /// Writes a CSV file of text cells (mixed columns: format numbers yourself, e.g. with
    /// `to_string()`). Every row must have `headers.len()` cells. Quoting is handled.
    pub fn write_csv_cells<S: AsRef<str>>(
        &mut self,
        file_name: &str,
        headers: &[&str],
        rows: &[Vec<S>],
    ) -> anyhow::Result<PathBuf> {
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != headers.len()) {
            bail!("{file_name}: row {i} has {} cells but there are {} headers", r.len(), headers.len());
        }
        let path = self.checked_path(file_name)?;
        let write = || -> anyhow::Result<()> {
            let mut w = csv::Writer::from_path(&path)?;
            w.write_record(headers)?;
            for r in rows {
                w.write_record(r.iter().map(AsRef::as_ref))?;
            }
            w.flush()?;
            Ok(())
        };
        write().with_context(|| format!("cannot write {}", path.display()))?;
        self.register_file(&path);
        Ok(path)
    }

    /// Writes the recorded iterations as CSV: one column per key (in order of first
    /// appearance), one row per iteration; `null` (e.g. NaN) as an empty cell, nested values as
    /// compact JSON.
    pub fn write_iterations_csv(&mut self, file_name: &str) -> anyhow::Result<PathBuf> {
        let mut headers: Vec<String> = Vec::new();
        for row in &self.iterations {
            for k in row.keys() {
                if !headers.iter().any(|h| h == k) {
                    headers.push(k.to_string());
                }
            }
        }
        let rows: Vec<Vec<String>> = self
            .iterations
            .iter()
            .map(|row| headers.iter().map(|h| row.get(h).map_or_else(String::new, Json::csv_cell)).collect())
            .collect();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        self.write_csv_cells(file_name, &headers, &rows)
    }

    /// Writes any serializable value as pretty-printed JSON into the output folder.
    pub fn write_json(&mut self, file_name: &str, value: impl Serialize) -> anyhow::Result<PathBuf> {
        let path = self.checked_path(file_name)?;
        let json = Json::from_serialize(&value)
            .with_context(|| format!("cannot serialize the contents of {file_name}"))?;
        write_json_file(&path, &json)?;
        self.register_file(&path);
        Ok(path)
    }

    /// Writes a line plot (SVG, see [`line_plot`]) into the output folder. Returns the path, or
    /// `None` when plots are disabled (`--no-plots`) or drawing failed; a failure is printed as a
    /// warning and stored in the notes, so that a plot problem never loses the run's results.
    pub fn line_plot(&mut self, file_name: &str, spec: &LinePlot) -> Option<PathBuf> {
        self.plot(file_name, |path| line_plot(path, spec))
    }

    /// Writes several line plots as panels of one SVG (see [`grid_plot`]); like
    /// [`Report::line_plot`] for `--no-plots` and failures.
    pub fn grid_plot(
        &mut self,
        file_name: &str,
        title: &str,
        panels: &[LinePlot],
        columns: usize,
    ) -> Option<PathBuf> {
        self.plot(file_name, |path| grid_plot(path, title, panels, columns))
    }

    /// Writes a heatmap (`.png` without text or `.svg` with title, see [`heatmap`]); like
    /// [`Report::line_plot`] for `--no-plots` and failures.
    pub fn heatmap(
        &mut self,
        file_name: &str,
        data: impl IntoGrid,
        title: &str,
        colormap: Colormap,
    ) -> Option<PathBuf> {
        self.plot(file_name, |path| heatmap(path, data, title, colormap))
    }

    fn plot(&mut self, file_name: &str, draw: impl FnOnce(&Path) -> anyhow::Result<()>) -> Option<PathBuf> {
        if !self.plots_enabled() {
            return None;
        }
        let result = self.checked_path(file_name).and_then(|path| {
            // plotters is third-party drawing code: a panic inside it must not lose the run.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| draw(&path))) {
                Ok(r) => r.map(|()| path),
                Err(_) => bail!("the plotting library panicked"),
            }
        });
        match result {
            Ok(path) => {
                self.register_file(&path);
                Some(path)
            }
            Err(e) => {
                self.warn(format!("plot {file_name} not written: {e:#}"));
                None
            }
        }
    }

    /// A table for per-iteration output that prints each row as it is added (see
    /// [`Table::streaming`]); silent under `--quiet`.
    pub fn table(&self, headers: &[&str]) -> Table {
        Table::streaming(headers).quiet(self.common.quiet)
    }

    /// A progress bar for `len` steps (see [`Progress`]); hidden under `--quiet` or when stderr
    /// is not a terminal.
    pub fn progress(&self, len: u64, message: impl Into<String>) -> Progress {
        Progress::new(len, message, &self.common)
    }

    fn summary(&self, complete: bool) -> Json {
        let passed = self.claims.iter().filter(|c| c.passed).count();
        let run = Json::Object(vec![
            ("seed".into(), Json::u64(self.common.seed)),
            ("quick".into(), Json::Bool(self.common.quick)),
            ("strict".into(), Json::Bool(self.common.strict)),
            ("threads".into(), Json::u64(rayon::current_num_threads() as u64)),
            ("out".into(), Json::str(self.common.out.to_string_lossy())),
            ("no_plots".into(), Json::Bool(self.common.no_plots)),
            ("version".into(), Json::str(env!("CARGO_PKG_VERSION"))),
            ("started_unix_s".into(), Json::u64(self.started_unix_s)),
        ]);
        let claims = self
            .claims
            .iter()
            .map(|c| {
                Json::Object(vec![
                    ("id".into(), Json::str(&c.id)),
                    ("passed".into(), Json::Bool(c.passed)),
                    ("evidence".into(), Json::str(&c.evidence)),
                ])
            })
            .collect();
        let mut files = self.files.clone();
        if !files.iter().any(|f| f == "summary.json") {
            files.push("summary.json".into());
        }
        let elapsed = (self.elapsed_s() * 1000.0).round() / 1000.0;
        let mut entries: Vec<(String, Json)> = vec![
            ("binary".into(), Json::str(&self.name)),
            ("complete".into(), Json::Bool(complete)),
            ("config".into(), self.config.clone()),
            ("run".into(), run),
            ("elapsed_s".into(), Json::f64(elapsed)),
            ("claims".into(), Json::Array(claims)),
            ("claims_passed".into(), Json::u64(passed as u64)),
            ("claims_total".into(), Json::u64(self.claims.len() as u64)),
            ("notes".into(), Json::Array(self.notes.iter().map(Json::str).collect())),
        ];
        entries.extend(self.extra.iter().cloned());
        entries.push(("files".into(), Json::Array(files.into_iter().map(Json::String).collect())));
        entries.push(("iterations".into(), Json::Array(self.iterations.clone())));
        Json::Object(entries)
    }

    /// Writes `summary.json` now with `"complete": false`, so that a long run that is
    /// interrupted leaves its results so far. [`finish`](Report::finish) overwrites it.
    pub fn checkpoint(&mut self) -> anyhow::Result<PathBuf> {
        let path = self.dir.join("summary.json");
        write_json_file(&path, &self.summary(false))?;
        Ok(path)
    }

    /// Ends the run: prints the claims block (`CLAIM <id>: PASS|FAIL  <evidence>`, aligned),
    /// writes `summary.json` (with `"complete": true`), prints where the outputs are, and returns
    /// the exit code: `ExitCode::FAILURE` (1) when `--strict` was given and a claim failed,
    /// `ExitCode::SUCCESS` otherwise.
    pub fn finish(mut self) -> anyhow::Result<ExitCode> {
        let failed = self.claims.iter().filter(|c| !c.passed).count();
        if !self.claims.is_empty() {
            print_line(format!("claims: {}/{} passed", self.claims.len() - failed, self.claims.len()));
            for line in claim_lines(&self.claims) {
                print_line(line);
            }
        }
        let path = self.dir.join("summary.json");
        self.register_file(&path);
        write_json_file(&path, &self.summary(true))?;
        let files = self.files.join(", ");
        let dir = self.dir.display().to_string();
        let dir = if dir.ends_with(std::path::MAIN_SEPARATOR) {
            dir
        } else {
            format!("{dir}{}", std::path::MAIN_SEPARATOR)
        };
        if self.files.len() <= 8 {
            print_line(format!("wrote {dir}: {files}"));
        } else {
            print_line(format!("wrote {} files to {dir}", self.files.len()));
        }
        if self.common.strict && failed > 0 {
            eprint_line(format!(
                "{}: {failed} claim{} not reproduced (--strict): exit code 1",
                self.name,
                if failed == 1 { "" } else { "s" }
            ));
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The aligned `CLAIM <id>: PASS|FAIL  <evidence>` lines; multi-line evidence is indented under
/// its first line.
fn claim_lines(claims: &[Claim]) -> Vec<String> {
    let width = claims.iter().map(|c| c.id.chars().count() + 1).max().unwrap_or(0);
    let mut lines = Vec::new();
    for c in claims {
        let head =
            format!("CLAIM {:<width$} {}", format!("{}:", c.id), if c.passed { "PASS" } else { "FAIL" });
        let indent = " ".repeat(head.chars().count() + 2);
        let mut ev = c.evidence.lines();
        match ev.next() {
            Some(first) if !first.trim().is_empty() => lines.push(format!("{head}  {first}")),
            _ => lines.push(head.clone()),
        }
        lines.extend(ev.map(|l| format!("{indent}{l}")));
    }
    lines
}

/// Formats a number for CSV: exact (round-trips), scientific for very small/large magnitudes.
fn csv_number(x: f64) -> String {
    if !x.is_finite() || x == 0.0 || (1e-5..1e16).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Writes pretty-printed JSON atomically (temporary file + rename).
fn write_json_file(path: &Path, value: &Json) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    let result = fs::write(&tmp, text).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// A fresh, unique temporary folder for a test, removed when dropped (kept if the environment
/// variable `KEEP_TEST_OUTPUT` is set, to look at the files).
#[cfg(test)]
pub(crate) struct TestDir(PathBuf);

#[cfg(test)]
impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

#[cfg(test)]
impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_OUTPUT").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
pub(crate) fn test_dir(name: &str) -> TestDir {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "paper-repro-test-{}-{}-{name}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    TestDir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(out: &Path, strict: bool) -> CommonArgs {
        CommonArgs { out: out.to_path_buf(), strict, quiet: true, ..CommonArgs::default() }
    }

    #[derive(Serialize)]
    struct Config {
        prime: u64,
        train_fraction: f64,
    }

    #[derive(Serialize)]
    struct Row {
        iter: usize,
        train_acc: f64,
        test_acc: f64,
    }

    #[test]
    fn summary_json_round_trip() {
        let out = test_dir("summary");
        let mut r =
            Report::new("grokking", &common(&out, false), Config { prime: 61, train_fraction: 0.5 }).unwrap();
        assert_eq!(r.dir(), out.join("grokking"));
        assert!(r.dir().is_dir());
        for t in 0..3 {
            r.add_iteration(Row {
                iter: t,
                train_acc: 1.0,
                test_acc: if t == 1 { f64::NAN } else { 0.1 * t as f64 },
            });
        }
        r.add_iteration(serde_json::json!({"iter": 3, "extra": [1, 2]}));
        r.set("final_test_acc", 0.99);
        r.set("final_test_acc", 0.98);
        r.set("claims", 5); // reserved: ignored with a warning note
        assert!(r.claim("train_fit_perfect", true, "train acc 1.000 at every iteration"));
        assert!(!r.claim("sharp_transition", false, "first try"));
        r.claim("sharp_transition", true, "0.10 -> 0.99 within 2 iterations");
        r.note("quick scale");
        r.write_csv("curve.csv", &["x", "y"], &[vec![0.0, 1e-20], vec![1.0, f64::NAN]]).unwrap();
        r.write_iterations_csv("iterations.csv").unwrap();
        assert!(r.write_csv("bad.csv", &["x", "y"], &[vec![1.0]]).is_err());
        assert!(r.write_csv("../escape.csv", &["x"], &[]).is_err());
        let code = r.finish().unwrap();
        assert_eq!(code, ExitCode::SUCCESS);

        let text = fs::read_to_string(out.join("grokking/summary.json")).unwrap();
        let s: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(s["binary"], "grokking");
        assert_eq!(s["complete"], true);
        assert_eq!(s["config"]["prime"], 61);
        assert_eq!(s["config"]["train_fraction"], 0.5);
        assert!(s["elapsed_s"].as_f64().unwrap() >= 0.0);
        assert_eq!(s["run"]["seed"], 0);
        let claims = s["claims"].as_array().unwrap();
        assert_eq!(claims.len(), 2);
        assert_eq!(claims[1]["id"], "sharp_transition");
        assert_eq!(claims[1]["passed"], true);
        assert_eq!(claims[1]["evidence"], "0.10 -> 0.99 within 2 iterations");
        assert_eq!(s["claims_passed"], 2);
        let its = s["iterations"].as_array().unwrap();
        assert_eq!(its.len(), 4);
        assert_eq!(its[2]["test_acc"], 0.2);
        assert!(its[1]["test_acc"].is_null());
        assert_eq!(s["final_test_acc"], 0.98);
        assert_eq!(s["notes"].as_array().unwrap().len(), 2);
        let files: Vec<&str> = s["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        assert_eq!(files, ["curve.csv", "iterations.csv", "summary.json"]);
        // Keys keep their order: config first, iterations last, struct fields in order.
        assert!(text.find("\"config\"").unwrap() < text.find("\"claims\"").unwrap());
        assert!(text.find("\"train_acc\"").unwrap() < text.find("\"test_acc\"").unwrap());

        let csv = fs::read_to_string(out.join("grokking/iterations.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "iter,train_acc,test_acc,extra");
        assert_eq!(lines[1], "0,1.0,0.0,");
        assert_eq!(lines[2], "1,1.0,,");
        assert_eq!(lines[4], "3,,,\"[1,2]\"");
        let curve = fs::read_to_string(out.join("grokking/curve.csv")).unwrap();
        assert_eq!(curve, "x,y\n0,1e-20\n1,NaN\n");
    }

    #[test]
    fn strict_mode_and_failed_claim_exit_failure() {
        let out = test_dir("strict");
        let mut r = Report::new("rfm", &common(&out, true), "cfg").unwrap();
        r.claim("ok", true, "fine");
        r.claim("bad", false, "test acc 0.5 < 0.9");
        assert!(!r.all_claims_passed());
        assert_eq!(r.finish().unwrap(), ExitCode::FAILURE);
        let s: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(out.join("rfm/summary.json")).unwrap()).unwrap();
        assert_eq!(s["claims"][1]["passed"], false);
        assert_eq!(s["config"], "cfg");
        assert_eq!(s["iterations"], serde_json::json!([]));

        // Without --strict the same failure is only reported.
        let mut r = Report::new("rfm", &common(&out, false), ()).unwrap();
        r.claim("bad", false, "x");
        assert_eq!(r.finish().unwrap(), ExitCode::SUCCESS);
        // --strict with every claim passing succeeds.
        let mut r = Report::new("rfm", &common(&out, true), ()).unwrap();
        r.claim("good", true, "x");
        assert_eq!(r.finish().unwrap(), ExitCode::SUCCESS);
    }

    #[test]
    fn checkpoint_plots_and_no_plots() {
        let out = test_dir("plots");
        let mut r = Report::new("demo", &common(&out, false), ()).unwrap();
        let plot = LinePlot::new("demo plot").line("y", vec![(0.0, 1.0), (1.0, 2.0)]);
        let p = r.line_plot("fig/curve.svg", &plot).unwrap();
        assert!(fs::read_to_string(&p).unwrap().contains("demo plot"));
        assert!(r.heatmap("m.png", &vec![vec![1.0, -1.0]], "m", Colormap::Auto).is_some());
        // A failing plot is a warning, not an error.
        assert!(r.line_plot("bad.png", &plot).is_none());
        assert_eq!(r.files(), ["fig/curve.svg", "m.png"]);
        r.checkpoint().unwrap();
        let s: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(out.join("demo/summary.json")).unwrap()).unwrap();
        assert_eq!(s["complete"], false);
        assert_eq!(s["notes"].as_array().unwrap().len(), 1);

        let mut c = common(&out, false);
        c.no_plots = true;
        let mut r = Report::new("demo2", &c, ()).unwrap();
        assert!(r.line_plot("curve.svg", &plot).is_none());
        assert!(!out.join("demo2/curve.svg").exists());
    }

    #[test]
    fn report_new_errors_are_clear() {
        let out = test_dir("errors");
        assert!(Report::new("", &common(&out, false), ()).is_err());
        assert!(Report::new("a/b", &common(&out, false), ()).is_err());
        fs::write(out.join("file"), "x").unwrap();
        let e = Report::new("x", &common(&out.join("file"), false), ()).unwrap_err();
        assert!(format!("{e:#}").contains("cannot create the output folder"), "{e:#}");
    }

    #[test]
    fn claim_lines_align() {
        let claims = vec![
            Claim { id: "a".into(), passed: true, evidence: "e1".into() },
            Claim { id: "longer_id".into(), passed: false, evidence: "e2\nmore".into() },
        ];
        let lines = claim_lines(&claims);
        assert_eq!(lines[0], "CLAIM a:         PASS  e1");
        assert_eq!(lines[1], "CLAIM longer_id: FAIL  e2");
        assert_eq!(lines[2], "                       more");
    }

    #[test]
    fn csv_numbers_round_trip() {
        for x in [0.0, 1.0, 0.1, 1e-20, 123456.789, 1e300, -2.5e-7] {
            assert_eq!(csv_number(x).parse::<f64>().unwrap(), x);
        }
        assert_eq!(csv_number(f64::NAN), "NaN");
    }
}

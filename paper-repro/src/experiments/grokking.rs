//! Grokking modular arithmetic with Recursive Feature Machines (Mallinar et al., arXiv 2407.20199).
//!
//! RFM with a Gaussian kernel, ridgeless solves and `M = AGOP^{1/2}` (centred) on `(a op b) mod p`:
//! the training accuracy is 1 from the start, the test accuracy stays at chance for several
//! iterations and then jumps to ~1, while two progress measures move steadily all along: the
//! circulant deviation of the learned feature matrix falls and its alignment with the final feature
//! matrix rises.
//!
//! Row `t` of the output describes the predictor `f_t` fitted with `M_t`, and the feature matrix
//! `M_{t+1} = AGOP(f_t)^{1/2}` learned from it (as in the paper, accuracy is measured before the
//! update). Claims checked:
//!
//! * `train_fit_perfect`: training accuracy 1 at every iteration (ridgeless interpolation);
//! * `test_flat_early`: test accuracy below 0.05 (plus the share of zero-operand pairs, which `*` and
//!   `/` learn at once) for the first 8 iterations (5 in `--quick`);
//! * `sharp_transition`: the best test accuracy reaches 0.95, and the rise from 10% to 90% of the
//!   way takes fewer iterations than the plateau before it;
//! * `circulant_deviation_falls`: the deviation of the last `M` is at most 30% of the first one
//!   (after discrete-log reordering for `*` and `/`);
//! * `alignment_rises`: while the test accuracy is still flat, the alignment of `M_{t+1}` with the
//!   final feature matrix has already grown by more than 0.05 (hidden progress).
use crate::cli::CommonArgs;
use crate::report::{Colormap, LinePlot, Report, Series};
use anyhow::{Context, bail};
use datasets::synthetic::{ModOp, ModularParams, is_prime, modular_arithmetic};
use kernels::{Kernel, KernelSpec};
use rfm::RfmParams;
use rfm::measures::{agop_alignment, modular_circulant_deviation, reorder_discrete_log};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Instant;

/// Command-line arguments of the `grokking` binary (each unset value takes the paper default, or
/// the quick-mode default under `--quick`).
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct GrokkingArgs {
    /// Modulus p, a prime >= 3 [default: 61; quick: 23].
    #[arg(long)]
    pub prime: Option<u64>,
    /// Operation: add, sub, mul or div.
    #[arg(long, default_value = "add", value_parser = parse_op)]
    pub op: ModOp,
    /// Fraction of all pairs used for training, in (0, 1) [default: 0.5; quick: 0.7].
    #[arg(long, allow_negative_numbers = true)]
    pub train_fraction: Option<f64>,
    /// Number of RFM iterations (kernel fits) [default: 30; quick: 15].
    #[arg(long)]
    pub iters: Option<usize>,
    /// Kernel: gaussian (exp(-d^2/(2 L^2))), quadratic ((x^T M z)^2) or laplace.
    #[arg(long, default_value = "gaussian")]
    pub kernel: String,
    /// Kernel bandwidth L (> 0; ignored by the quadratic kernel).
    #[arg(long, default_value_t = 2.5, allow_negative_numbers = true)]
    pub bandwidth: f64,
    /// Ridge (>= 0; the paper solves ridgeless).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub ridge: f64,
    /// Matrix power s of the update M = AGOP^s (> 0).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub power: f64,
    /// Use the uncentred AGOP (the paper centres the gradients).
    #[arg(long)]
    pub no_centering: bool,
}

fn parse_op(s: &str) -> Result<ModOp, String> {
    s.parse::<ModOp>().map_err(|e| e.to_string())
}

/// The resolved configuration of a run (what `summary.json` records under `config`).
#[derive(Debug, Clone, Serialize)]
pub struct GrokkingConfig {
    /// Modulus.
    pub prime: usize,
    /// Operation.
    pub op: ModOp,
    /// Training fraction.
    pub train_fraction: f64,
    /// Iterations (kernel fits).
    pub iters: usize,
    /// Kernel description.
    pub kernel: KernelSpec,
    /// Ridge.
    pub ridge: f64,
    /// Power of the AGOP update.
    pub power: f64,
    /// Centred AGOP.
    pub centering: bool,
    /// Seed of the train/test split.
    pub seed: u64,
    /// Number of leading iterations over which the test accuracy must stay at chance.
    pub flat_iters: usize,
    /// Quick mode.
    pub quick: bool,
}

impl GrokkingArgs {
    /// Validates the arguments and fills in defaults.
    pub fn resolve(&self, common: &CommonArgs) -> anyhow::Result<GrokkingConfig> {
        let quick = common.quick;
        let p = self.prime.unwrap_or(if quick { 23 } else { 61 });
        if p < 3 || !is_prime(p as usize) {
            bail!("--prime {p} is not a prime >= 3 (modular arithmetic needs a prime modulus, e.g. 61)");
        }
        if p > 400 {
            bail!(
                "--prime {p} is too large for this CPU reproduction (the kernel system has p^2/2 rows); use p <= 400"
            );
        }
        let r = self.train_fraction.unwrap_or(if quick { 0.7 } else { 0.5 });
        if !(r.is_finite() && r > 0.0 && r < 1.0) {
            bail!("--train-fraction {r} must be strictly between 0 and 1");
        }
        let iters = self.iters.unwrap_or(if quick { 15 } else { 30 });
        if iters < 2 {
            bail!("--iters {iters} must be at least 2");
        }
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            bail!("--ridge {} must be finite and >= 0", self.ridge);
        }
        if !(self.power.is_finite() && self.power > 0.0) {
            bail!("--power {} must be finite and > 0", self.power);
        }
        if !(self.bandwidth.is_finite() && self.bandwidth > 0.0) {
            bail!("--bandwidth {} must be finite and > 0", self.bandwidth);
        }
        let kernel = match self.kernel.as_str() {
            "gaussian" | "laplace" | "quadratic" => KernelSpec::from_name(&self.kernel, self.bandwidth)?,
            other => bail!("--kernel {other}: expected gaussian, quadratic or laplace"),
        };
        Ok(GrokkingConfig {
            prime: p as usize,
            op: self.op,
            train_fraction: r,
            iters,
            kernel,
            ridge: self.ridge,
            power: self.power,
            centering: !self.no_centering,
            seed: common.seed,
            flat_iters: if quick { 5 } else { 8 },
            quick,
        })
    }
}

/// One iteration of the run (a row of `summary.json`'s `iterations`).
#[derive(Debug, Clone, Serialize)]
pub struct GrokRow {
    /// Iteration t (fit with M_t).
    pub iter: usize,
    /// Training accuracy of f_t.
    pub train_acc: f64,
    /// Test accuracy of f_t.
    pub test_acc: f64,
    /// Training MSE of f_t.
    pub train_mse: f64,
    /// Test MSE of f_t (mean over all test entries).
    pub test_mse: f64,
    /// Mean over test points of (f_y(x) - 1)^2.
    pub correct_logit_loss: f64,
    /// Circulant deviation of M_{t+1} (the feature matrix learned from f_t).
    pub circulant_deviation: f64,
    /// Cosine similarity of M_{t+1} with the final feature matrix.
    pub agop_alignment: f64,
    /// Trace of M_{t+1}.
    pub trace_m: f64,
    /// Wall-clock seconds of this iteration.
    pub seconds: f64,
}

/// Runs the experiment and writes the report. Returns the exit code of [`Report::finish`].
pub fn run(args: &GrokkingArgs, common: &CommonArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.resolve(common)?;
    let mut report = Report::new("grokking", common, &cfg)?;
    let p = cfg.prime;
    let data = modular_arithmetic(&ModularParams {
        p,
        op: cfg.op,
        train_fraction: cfg.train_fraction,
        seed: cfg.seed,
    })
    .context("building the modular-arithmetic data")?;
    let multiplicative = matches!(cfg.op, ModOp::Mul | ModOp::Div);
    crate::report::print_line(format!(
        "(a {} b) mod {p}: {} training / {} test pairs, kernel {}, ridge {}, M = AGOP^{}{}; {} iterations",
        cfg.op.symbol(),
        data.train.n(),
        data.test.n(),
        cfg.kernel.name(),
        cfg.ridge,
        cfg.power,
        if cfg.centering { " (centred)" } else { "" },
        cfg.iters
    ));
    let params = RfmParams::grokking()
        .with_kernel(cfg.kernel)
        .with_ridge(cfg.ridge)
        .with_power(cfg.power)
        .with_centering(cfg.centering)
        .with_iters(cfg.iters - 1)
        .with_agop_after_last_fit(true);
    let train_labels = data.train.labels.clone().context("training labels")?;
    let test_labels = data.test.labels.clone().context("test labels")?;
    let mut table = report.table(&[
        "iter",
        "train_acc",
        "test_acc",
        "test_mse",
        "corr_loss",
        "circ_dev",
        "trace_M",
        "sec",
    ]);
    let bar = report.progress(cfg.iters as u64, "RFM iterations");
    let mut rows: Vec<GrokRow> = Vec::new();
    let mut next_ms: Vec<faer::Mat<f64>> = Vec::new();
    let mut err: Option<anyhow::Error> = None;
    let mut t_iter = Instant::now();
    let fitted = params.fit_with(&data.train, None, &params.solver, &mut |step| {
        let control = super::observe(&mut err, || {
            let ptrain = step.model.predict(data.train.x.as_ref())?;
            let ptest = step.model.predict(data.test.x.as_ref())?;
            let next = step.next_metric.context("feature matrix after the fit")?.to_matrix(2 * p);
            let row = GrokRow {
                iter: step.iter,
                train_acc: datasets::accuracy(ptrain.as_ref(), &train_labels)?,
                test_acc: datasets::accuracy(ptest.as_ref(), &test_labels)?,
                train_mse: datasets::mse(ptrain.as_ref(), data.train.y.as_ref())?,
                test_mse: datasets::mse(ptest.as_ref(), data.test.y.as_ref())?,
                correct_logit_loss: datasets::correct_logit_loss(ptest.as_ref(), &test_labels)?,
                circulant_deviation: modular_circulant_deviation(next.as_ref(), p, multiplicative)?,
                agop_alignment: f64::NAN,
                trace_m: linalg::sym::trace(next.as_ref()),
                seconds: t_iter.elapsed().as_secs_f64(),
            };
            bar.suspend(|| {
                table.row(crate::cells![
                    row.iter,
                    row.train_acc,
                    row.test_acc,
                    row.test_mse,
                    row.correct_logit_loss,
                    row.circulant_deviation,
                    row.trace_m,
                    row.seconds
                ]);
            });
            bar.inc(1);
            rows.push(row);
            next_ms.push(next);
            Ok(())
        });
        t_iter = Instant::now();
        control
    });
    bar.finish();
    if let Some(e) = err {
        return Err(e);
    }
    fitted.context("fitting the RFM")?;
    let final_m = next_ms.last().context("no iteration ran")?.clone();
    for (row, m) in rows.iter_mut().zip(&next_ms) {
        row.agop_alignment = agop_alignment(m.as_ref(), final_m.as_ref())?;
    }
    for row in &rows {
        report.add_iteration(row);
    }
    claims(&mut report, &cfg, &rows, &data);
    write_outputs(&mut report, &cfg, &rows, &final_m)?;
    report.finish()
}

/// Fraction of test pairs with a zero operand: learned at once for `*` and `/` (label 0).
fn trivial_fraction(op: ModOp, pairs: &[(usize, usize)]) -> f64 {
    match op {
        ModOp::Mul | ModOp::Div => {
            pairs.iter().filter(|(a, b)| *a == 0 || *b == 0).count() as f64 / pairs.len().max(1) as f64
        }
        _ => 0.0,
    }
}

fn first_at_least(xs: &[f64], level: f64) -> Option<usize> {
    xs.iter().position(|&a| a >= level)
}

fn claims(
    report: &mut Report,
    cfg: &GrokkingConfig,
    rows: &[GrokRow],
    data: &datasets::synthetic::ModularData,
) {
    let train: Vec<f64> = rows.iter().map(|r| r.train_acc).collect();
    let test: Vec<f64> = rows.iter().map(|r| r.test_acc).collect();
    let dev: Vec<f64> = rows.iter().map(|r| r.circulant_deviation).collect();
    let align: Vec<f64> = rows.iter().map(|r| r.agop_alignment).collect();
    let min_train = train.iter().cloned().fold(f64::INFINITY, f64::min);
    report.claim(
        "train_fit_perfect",
        min_train >= 0.999,
        format!("training accuracy >= {min_train:.4} at every one of {} iterations", rows.len()),
    );
    let floor = trivial_fraction(cfg.op, &data.test_pairs);
    let flat = cfg.flat_iters.min(rows.len());
    let early_max = test[..flat].iter().cloned().fold(0.0, f64::max);
    let flat_level = 0.05 + floor;
    report.claim(
        "test_flat_early",
        early_max < flat_level,
        format!(
            "max test accuracy {early_max:.3} over iterations 0..{} (threshold {flat_level:.3}{})",
            flat - 1,
            if floor > 0.0 {
                format!(", incl. {floor:.3} of trivial zero-operand pairs")
            } else {
                String::new()
            }
        ),
    );
    let best = test.iter().cloned().fold(0.0, f64::max);
    let lo = floor + 0.1 * (1.0 - floor);
    let hi = floor + 0.9 * (1.0 - floor);
    let (t_lo, t_hi) = (first_at_least(&test, lo), first_at_least(&test, hi));
    let sharp = match (t_lo, t_hi) {
        (Some(a), Some(b)) => best >= 0.95 && b - a < a.max(1),
        _ => false,
    };
    report.claim(
        "sharp_transition",
        sharp,
        match (t_lo, t_hi) {
            (Some(a), Some(b)) => format!(
                "test accuracy {:.3} at t={}, {:.3} at t={a} (first >= {lo:.2}), {:.3} at t={b} (first >= {hi:.2}), best {best:.3}: rise in {} iterations after a {a}-iteration plateau",
                test[a.saturating_sub(1)],
                a.saturating_sub(1),
                test[a],
                test[b],
                b - a
            ),
            _ => format!("test accuracy never reached {hi:.2} (best {best:.3})"),
        },
    );
    let (d0, d1) = (dev[0], *dev.last().unwrap_or(&f64::NAN));
    report.claim(
        "circulant_deviation_falls",
        d1 <= 0.3 * d0,
        format!(
            "circulant deviation{} {d0:.3} at t=0 -> {d1:.3} at t={} ({:.0}% of the start)",
            if matches!(cfg.op, ModOp::Mul | ModOp::Div) { " (after discrete-log reordering)" } else { "" },
            rows.len() - 1,
            100.0 * d1 / d0
        ),
    );
    let t_flat_end = t_lo.unwrap_or(rows.len()).saturating_sub(1).min(rows.len() - 1);
    let rises = align[t_flat_end] > align[0] + 0.05;
    report.claim(
        "alignment_rises",
        rises,
        format!(
            "alignment with the final M {:.3} at t=0 -> {:.3} at t={t_flat_end} while test accuracy is still {:.3}",
            align[0], align[t_flat_end], test[t_flat_end]
        ),
    );
}

fn write_outputs(
    report: &mut Report,
    cfg: &GrokkingConfig,
    rows: &[GrokRow],
    final_m: &faer::Mat<f64>,
) -> anyhow::Result<()> {
    report.write_iterations_csv("iterations.csv")?;
    let t: Vec<f64> = rows.iter().map(|r| r.iter as f64).collect();
    let col = |f: &dyn Fn(&GrokRow) -> f64| -> Vec<f64> { rows.iter().map(f).collect() };
    let acc = LinePlot::new(format!("(a {} b) mod {}: accuracy", cfg.op.symbol(), cfg.prime))
        .x_label("RFM iteration")
        .y_label("accuracy")
        .series(Series::from_xy("train", &t, &col(&|r| r.train_acc)))
        .series(Series::from_xy("test", &t, &col(&|r| r.test_acc)));
    let loss = LinePlot::new("test loss")
        .x_label("RFM iteration")
        .y_label("loss")
        .log_y()
        .series(Series::from_xy("test MSE", &t, &col(&|r| r.test_mse)))
        .series(Series::from_xy("correct-logit loss", &t, &col(&|r| r.correct_logit_loss)));
    let progress = LinePlot::new("progress measures")
        .x_label("RFM iteration")
        .y_label("value")
        .series(Series::from_xy("circulant deviation", &t, &col(&|r| r.circulant_deviation)))
        .series(Series::from_xy("AGOP alignment with final M", &t, &col(&|r| r.agop_alignment)));
    report.grid_plot("grokking.svg", "RFM grokking modular arithmetic", &[acc, loss, progress], 3);
    let p = cfg.prime;
    report.heatmap("feature_matrix.png", final_m.as_ref(), "final feature matrix M", Colormap::Auto);
    let cross = rfm::measures::cross_block(final_m.as_ref(), p)?;
    report.heatmap("feature_block.png", cross.as_ref(), "bottom-left block of M", Colormap::Auto);
    if matches!(cfg.op, ModOp::Mul | ModOp::Div) {
        let block = rfm::measures::cross_block(final_m.as_ref(), p)?;
        let g = datasets::synthetic::smallest_generator(p)?;
        let re = reorder_discrete_log(block.as_ref(), g)?;
        report.heatmap(
            "feature_block_reordered.png",
            re.as_ref(),
            "bottom-left block of M, reordered by discrete log",
            Colormap::Auto,
        );
    }
    Ok(())
}

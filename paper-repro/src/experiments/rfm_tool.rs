//! The general Recursive Feature Machine tool (`rfm` binary): synthetic tasks, the bundled datasets
//! or your own `.npy` / `.csv` files.
use crate::cli::CommonArgs;
use crate::report::{Colormap, LinePlot, Report, Series};
use anyhow::{Context, bail};
use datasets::synthetic::{MultiIndexTask, gaussian_mixture, multi_index};
use datasets::{Dataset, Standardizer, load, unit_norm_rows};
use faer::Mat;
use kernels::{DirectSolver, Kernel, KernelSpec, SolverPrecision};
use linalg::solve::Precision;
use rfm::{Normalization, RfmParams};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Synthetic tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// y = x1 * x2, x ~ N(0, I_d).
    Prod,
    /// y = x1 * x2 * 1[x6 > 0].
    Sparse3,
    /// Gaussian mixture classification (3 classes, means 3 apart).
    GaussianMixture,
}

/// Bundled datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// scikit-learn digits (1797 x 64), 80/20 split, unit-norm rows.
    Digits,
    /// 10,000 MNIST digits, 8,000 / 2,000 split, pixels / 255.
    Mnist10k,
    /// Fashion-MNIST: `--n` random training images (default 10,000) and the 10,000 test images.
    FashionMnist,
}

/// Input preprocessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Preprocess {
    /// Use the data as given.
    None,
    /// Scale every row to unit Euclidean norm.
    UnitNorm,
    /// Standardise every column with the training mean and standard deviation.
    Standardize,
}

/// How the metric is rescaled after each AGOP update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NormArg {
    /// No rescaling.
    None,
    /// Divide by the largest entry (the `rfm` package).
    Max,
    /// Divide by the Frobenius norm.
    Frobenius,
}

/// Solver precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PrecisionArg {
    /// f64 for small systems (n < 3000) or ridge 0, f32 Cholesky otherwise.
    Auto,
    /// Always f64.
    F64,
    /// f32 Cholesky with one f64 refinement step.
    F32,
}

/// How the kernel systems of successive iterations are solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SolverArg {
    /// Keep the last Cholesky factor and try CG preconditioned by it (warm-started from the last
    /// coefficients) before refactorising (`kernels::ReuseSolver`; only with `--precision auto`).
    Reuse,
    /// A fresh factorisation every iteration (`kernels::DirectSolver`).
    Direct,
}

/// Command-line arguments of the `rfm` binary.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct RfmArgs {
    /// Synthetic task (used when neither --dataset nor --x-train is given) [default: prod].
    #[arg(long, value_enum, conflicts_with_all = ["dataset", "x_train"])]
    pub task: Option<Task>,
    /// Bundled dataset.
    #[arg(long, value_enum, conflicts_with = "x_train")]
    pub dataset: Option<DatasetName>,
    /// Training inputs (.npy or .csv, samples as rows).
    #[arg(long, requires_all = ["y_train", "x_test", "y_test"])]
    pub x_train: Option<PathBuf>,
    /// Training targets (one column of integer labels for classification, or real targets).
    #[arg(long)]
    pub y_train: Option<PathBuf>,
    /// Test inputs.
    #[arg(long)]
    pub x_test: Option<PathBuf>,
    /// Test targets.
    #[arg(long)]
    pub y_test: Option<PathBuf>,
    /// Training points (synthetic tasks; subsample size for Fashion-MNIST) [default: 2000 / 10000].
    #[arg(long)]
    pub n: Option<usize>,
    /// Test points of the synthetic tasks.
    #[arg(long, default_value_t = 10_000)]
    pub n_test: usize,
    /// Input dimension of the synthetic tasks.
    #[arg(long, default_value_t = 100)]
    pub d: usize,
    /// Input preprocessing [default: unit-norm for digits, none otherwise].
    #[arg(long, value_enum)]
    pub preprocess: Option<Preprocess>,
    /// Kernel: laplace, gaussian, matern32, matern52, quadratic, ntk-relu.
    #[arg(long, default_value = "laplace")]
    pub kernel: String,
    /// Kernel bandwidth L [default: 10; 1 for digits].
    #[arg(long, allow_negative_numbers = true)]
    pub bandwidth: Option<f64>,
    /// Ridge (>= 0).
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub ridge: f64,
    /// Number of AGOP updates (the kernel machine is fitted iters + 1 times).
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Learn a diagonal feature matrix only.
    #[arg(long)]
    pub diag: bool,
    /// Centre the gradients before the outer products.
    #[arg(long)]
    pub centering: bool,
    /// M = normalise(AGOP^power) (0.5 as in xRFM; the Science-paper code used 1).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub power: f64,
    /// Rescaling of M after each update.
    #[arg(long, value_enum, default_value = "max")]
    pub normalization: NormArg,
    /// Evaluate the AGOP on at most this many random training points.
    #[arg(long)]
    pub agop_subsample: Option<usize>,
    /// Precision of the kernel solves.
    #[arg(long, value_enum, default_value = "auto")]
    pub precision: PrecisionArg,
    /// Solver of the kernel systems across iterations.
    #[arg(long, value_enum, default_value = "reuse")]
    pub solver: SolverArg,
    /// Number of top eigenvalues of M printed per iteration.
    #[arg(long, default_value_t = 4)]
    pub top_eigs: usize,
    /// Save the fitted model (params, feature matrix, coefficients) as JSON.
    #[arg(long)]
    pub save_model: Option<PathBuf>,
}

/// One iteration (a row of `summary.json`'s `iterations`).
#[derive(Debug, Clone, Serialize)]
pub struct RfmRow {
    /// Iteration t (fit with M_t).
    pub iter: usize,
    /// Training MSE.
    pub train_mse: f64,
    /// Test MSE.
    pub test_mse: f64,
    /// Test accuracy (classification only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_acc: Option<f64>,
    /// Largest eigenvalues of M_t.
    pub top_eigenvalues: Vec<f64>,
    /// Seconds for the kernel solve.
    pub solve_s: f64,
    /// How the system was solved (e.g. `CholeskyF32`, `PCG(previous Cholesky factor)`).
    pub solve_method: String,
    /// Solver iterations (CG iterations or refinement steps).
    pub solve_iters: usize,
    /// Relative residual of the solve when the solver checked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solve_residual: Option<f64>,
    /// Seconds for the AGOP update.
    pub agop_s: f64,
    /// Wall-clock seconds since the start of the fit.
    pub elapsed_s: f64,
}

struct Problem {
    name: String,
    train: Dataset,
    test: Dataset,
    relevant: Option<Vec<usize>>,
    image_side: Option<usize>,
}

fn load_files(args: &RfmArgs) -> anyhow::Result<(Dataset, Dataset)> {
    let get = |p: &Option<PathBuf>, what: &str| -> anyhow::Result<Mat<f64>> {
        let p = p.as_ref().with_context(|| format!("--{what} is required with --x-train"))?;
        load::load_matrix(p).with_context(|| format!("reading --{what} {}", p.display()))
    };
    let (xtr, ytr, xte, yte) = (
        get(&args.x_train, "x-train")?,
        get(&args.y_train, "y-train")?,
        get(&args.x_test, "x-test")?,
        get(&args.y_test, "y-test")?,
    );
    if xtr.nrows() != ytr.nrows() {
        bail!(
            "--x-train has {} rows but --y-train has {}: every sample needs one target row",
            xtr.nrows(),
            ytr.nrows()
        );
    }
    if xte.nrows() != yte.nrows() {
        bail!("--x-test has {} rows but --y-test has {}", xte.nrows(), yte.nrows());
    }
    if xtr.ncols() != xte.ncols() {
        bail!("--x-train has {} columns but --x-test has {}", xtr.ncols(), xte.ncols());
    }
    if ytr.ncols() != yte.ncols() {
        bail!("--y-train has {} columns but --y-test has {}", ytr.ncols(), yte.ncols());
    }
    // one column of small non-negative integers = class labels
    let is_label = |y: &Mat<f64>| {
        y.ncols() == 1
            && (0..y.nrows()).all(|i| y[(i, 0)] >= 0.0 && y[(i, 0)].fract() == 0.0 && y[(i, 0)] < 1000.0)
    };
    if is_label(&ytr) && is_label(&yte) {
        let k = (0..ytr.nrows())
            .chain(0..0)
            .map(|i| ytr[(i, 0)] as usize)
            .chain((0..yte.nrows()).map(|i| yte[(i, 0)] as usize))
            .max()
            .unwrap_or(0)
            + 1;
        if (2..=100).contains(&k) {
            let ltr: Vec<usize> = (0..ytr.nrows()).map(|i| ytr[(i, 0)] as usize).collect();
            let lte: Vec<usize> = (0..yte.nrows()).map(|i| yte[(i, 0)] as usize).collect();
            return Ok((
                Dataset::classification("files/train", xtr, ltr, k)?,
                Dataset::classification("files/test", xte, lte, k)?,
            ));
        }
    }
    Ok((Dataset::new("files/train", xtr, ytr)?, Dataset::new("files/test", xte, yte)?))
}

fn build_problem(args: &RfmArgs, seed: u64, quick: bool) -> anyhow::Result<Problem> {
    if args.x_train.is_some() {
        let (train, test) = load_files(args)?;
        return Ok(Problem { name: "files".into(), train, test, relevant: None, image_side: None });
    }
    if let Some(ds) = args.dataset {
        return match ds {
            DatasetName::Digits => {
                let all = load::digits()?;
                let (train, test) = all.train_test_split(0.8, seed)?;
                Ok(Problem { name: "digits".into(), train, test, relevant: None, image_side: Some(8) })
            }
            DatasetName::Mnist10k => {
                let mut all = load::mnist10k()?;
                if quick {
                    all = all.shuffled(seed).take_first(2000)?;
                }
                let (train, test) = all.train_test_split(0.8, seed)?;
                Ok(Problem { name: "mnist10k".into(), train, test, relevant: None, image_side: Some(28) })
            }
            DatasetName::FashionMnist => {
                let n = args.n.unwrap_or(if quick { 2000 } else { 10_000 });
                let train = load::fashion_mnist(true)?.shuffled(seed).take_first(n)?;
                let test = load::fashion_mnist(false)?;
                let test = if quick { test.take_first(2000)? } else { test };
                Ok(Problem {
                    name: "fashion-mnist".into(),
                    train,
                    test,
                    relevant: None,
                    image_side: Some(28),
                })
            }
        };
    }
    let task = args.task.unwrap_or(Task::Prod);
    let n = args.n.unwrap_or(if quick { 1000 } else { 2000 });
    let n_test = if quick { args.n_test.min(2000) } else { args.n_test };
    if n == 0 || n_test == 0 {
        bail!("--n and --n-test must be positive");
    }
    match task {
        Task::Prod | Task::Sparse3 => {
            let t = if task == Task::Prod { MultiIndexTask::Prod } else { MultiIndexTask::Sparse3 };
            let all = multi_index(t, n + n_test, args.d, seed)?;
            let train = all.take_first(n)?;
            let test = all.subset(&(n..n + n_test).collect::<Vec<_>>())?;
            Ok(Problem {
                name: t.name().into(),
                train,
                test,
                relevant: Some(t.relevant_coordinates().to_vec()),
                image_side: None,
            })
        }
        Task::GaussianMixture => {
            let all = gaussian_mixture(n + n_test, args.d, 3, 3.0, seed)?.shuffled(seed);
            let train = all.take_first(n)?;
            let test = all.subset(&(n..n + n_test).collect::<Vec<_>>())?;
            Ok(Problem { name: "gaussian-mixture".into(), train, test, relevant: None, image_side: None })
        }
    }
}

fn preprocess(p: &mut Problem, how: Preprocess) -> anyhow::Result<()> {
    match how {
        Preprocess::None => {}
        Preprocess::UnitNorm => {
            p.train.x = unit_norm_rows(p.train.x.as_ref());
            p.test.x = unit_norm_rows(p.test.x.as_ref());
        }
        Preprocess::Standardize => {
            let s = Standardizer::fit(p.train.x.as_ref())?;
            p.train.x = s.transform(p.train.x.as_ref())?;
            p.test.x = s.transform(p.test.x.as_ref())?;
        }
    }
    Ok(())
}

fn top_eigenvalues(m: &Mat<f64>, k: usize) -> anyhow::Result<Vec<f64>> {
    let k = k.min(m.nrows());
    if k == 0 {
        return Ok(vec![]);
    }
    Ok(linalg::sym::top_k_eigen(m.as_ref(), k)?.values)
}

/// Runs the tool and writes the report.
pub fn run(args: &RfmArgs, common: &CommonArgs) -> anyhow::Result<ExitCode> {
    let bandwidth =
        args.bandwidth.unwrap_or(if args.dataset == Some(DatasetName::Digits) { 1.0 } else { 10.0 });
    if !(bandwidth.is_finite() && bandwidth > 0.0) {
        bail!("--bandwidth {bandwidth} must be finite and > 0");
    }
    if !(args.ridge.is_finite() && args.ridge >= 0.0) {
        bail!("--ridge {} must be finite and >= 0", args.ridge);
    }
    if !(args.power.is_finite() && args.power > 0.0) {
        bail!("--power {} must be finite and > 0", args.power);
    }
    let kernel = KernelSpec::from_name(&args.kernel, bandwidth)?;
    let mut problem = build_problem(args, common.seed, common.quick)?;
    let how = args.preprocess.unwrap_or(if args.dataset == Some(DatasetName::Digits) {
        Preprocess::UnitNorm
    } else {
        Preprocess::None
    });
    preprocess(&mut problem, how)?;
    let classification = problem.train.is_classification() && problem.test.is_classification();
    let precision = match args.precision {
        PrecisionArg::Auto => SolverPrecision::Auto,
        PrecisionArg::F64 => SolverPrecision::Fixed(Precision::F64),
        PrecisionArg::F32 => SolverPrecision::Fixed(Precision::F32 { refine_steps: 1 }),
    };
    let params = RfmParams::new(kernel)
        .with_ridge(args.ridge)
        .with_iters(args.iters)
        .with_diag(args.diag)
        .with_centering(args.centering)
        .with_power(args.power)
        .with_normalization(match args.normalization {
            NormArg::None => Normalization::None,
            NormArg::Max => Normalization::Max,
            NormArg::Frobenius => Normalization::Frobenius,
        })
        .with_agop_subsample(args.agop_subsample)
        .with_seed(common.seed)
        .with_solver(DirectSolver { precision })
        .with_keep_history(false);
    params.validate()?;
    #[derive(Serialize)]
    struct Config<'a> {
        data: &'a str,
        n_train: usize,
        n_test: usize,
        d: usize,
        outputs: usize,
        classification: bool,
        preprocess: Preprocess,
        params: &'a RfmParams,
        args: &'a RfmArgs,
    }
    let mut report = Report::new(
        "rfm",
        common,
        Config {
            data: &problem.name,
            n_train: problem.train.n(),
            n_test: problem.test.n(),
            d: problem.train.d(),
            outputs: problem.train.c(),
            classification,
            preprocess: how,
            params: &params,
            args,
        },
    )?;
    crate::report::print_line(format!(
        "{}: {} train / {} test, d = {}, {} output(s); kernel {}, ridge {}, {} AGOP updates{}{}",
        problem.name,
        problem.train.n(),
        problem.test.n(),
        problem.train.d(),
        problem.train.c(),
        kernel.name(),
        args.ridge,
        args.iters,
        if args.diag { ", diagonal M" } else { "" },
        if args.centering { ", centred" } else { "" }
    ));
    let mut headers = vec!["iter", "train_mse", "test_mse"];
    if classification {
        headers.push("test_acc");
    }
    headers.extend(["solve_s", "solve", "agop_s", "top eigenvalues of M"]);
    let mut table = report.table(&headers);
    let bar = report.progress(args.iters as u64 + 1, "RFM fits");
    let test_labels = problem.test.labels.clone();
    let mut rows: Vec<RfmRow> = Vec::new();
    let mut err = None;
    let t0 = Instant::now();
    let d = problem.train.d();
    let (train_ref, test_ref) = (&problem.train, &problem.test);
    let ridge = args.ridge;
    let reuse = kernels::ReuseSolver::new();
    let solver: &dyn kernels::KernelSolver =
        if args.solver == SolverArg::Reuse && args.precision == PrecisionArg::Auto {
            &reuse
        } else {
            &params.solver
        };
    let fitted = params.fit_with(train_ref, None, solver, &mut |step| {
        super::observe(&mut err, || {
            // training predictions from the solve: K alpha = Y - ridge alpha
            let train_pred = &train_ref.y - &step.model.alpha * ridge;
            let train_mse = rfm::mse(train_pred.as_ref(), train_ref.y.as_ref());
            let pred = step.model.predict(test_ref.x.as_ref())?;
            let test_mse = rfm::mse(pred.as_ref(), test_ref.y.as_ref());
            let test_acc = match (&test_labels, classification) {
                (Some(l), true) => Some(datasets::accuracy(pred.as_ref(), l)?),
                _ => None,
            };
            let eigs = top_eigenvalues(&step.metric.to_matrix(d), args.top_eigs)?;
            let row = RfmRow {
                iter: step.iter,
                train_mse,
                test_mse,
                test_acc,
                top_eigenvalues: eigs,
                solve_s: step.solve_seconds,
                solve_method: step.solver.method.clone(),
                solve_iters: step.solver.iterations,
                solve_residual: step.solver.relative_residual,
                agop_s: step.agop_seconds,
                elapsed_s: t0.elapsed().as_secs_f64(),
            };
            let eig_text =
                row.top_eigenvalues.iter().map(|v| crate::report::fmt_num(*v)).collect::<Vec<_>>().join(" ");
            let mut cells = crate::cells![row.iter, row.train_mse, row.test_mse];
            if let Some(a) = row.test_acc {
                cells.push(crate::report::fmt_num(a));
            }
            let how = if row.solve_method.starts_with("PCG") {
                format!("pcg {}", row.solve_iters)
            } else if row.solve_method.starts_with("Cholesky") {
                "cholesky".to_string()
            } else {
                row.solve_method.to_lowercase()
            };
            cells.extend([
                crate::report::fmt_num(row.solve_s),
                how,
                crate::report::fmt_num(row.agop_s),
                eig_text,
            ]);
            bar.suspend(|| {
                table.row(cells);
            });
            bar.inc(1);
            rows.push(row);
            Ok(())
        })
    });
    bar.finish();
    if let Some(e) = err {
        return Err(e);
    }
    let model = fitted.context("fitting the RFM")?;
    let fit_s = t0.elapsed().as_secs_f64();
    report.set("fit_seconds", fit_s);
    for r in &rows {
        report.add_iteration(r);
    }
    let m = model.feature_matrix();
    // claims
    let first = rows.first().context("no iteration")?;
    let last = rows.last().context("no iteration")?;
    if let Some(rel) = &problem.relevant {
        let trace = linalg::sym::trace(m.as_ref());
        let mass: f64 = rel.iter().map(|&i| m[(i, i)]).sum();
        report.claim(
            "m_concentrates_on_relevant_coordinates",
            mass > 0.5 * trace,
            format!(
                "diag(M) mass on coordinates {:?}: {:.1}% of the trace",
                rel.iter().map(|i| i + 1).collect::<Vec<_>>(),
                100.0 * mass / trace
            ),
        );
        report.claim(
            "feature_learning_lowers_test_mse",
            last.test_mse < 0.5 * first.test_mse,
            format!(
                "test MSE {:.4} with M = I -> {:.4} after {} AGOP updates",
                first.test_mse, last.test_mse, args.iters
            ),
        );
    }
    crate::report::print_line(format!(
        "fit: {fit_s:.2} s for {} kernel fits and {} AGOP updates",
        rows.len(),
        rows.len() - 1
    ));
    if let Some(path) = &args.save_model {
        let json = serde_json::to_string(&model).context("serialising the model")?;
        std::fs::write(path, json).with_context(|| format!("writing the model to {}", path.display()))?;
        crate::report::print_line(format!("model saved to {}", path.display()));
    }
    // outputs
    report.write_iterations_csv("iterations.csv")?;
    let t: Vec<f64> = rows.iter().map(|r| r.iter as f64).collect();
    let mut panels = vec![
        LinePlot::new("MSE")
            .x_label("RFM iteration")
            .y_label("MSE")
            .log_y()
            .series(Series::from_xy("train", &t, &rows.iter().map(|r| r.train_mse).collect::<Vec<_>>()))
            .series(Series::from_xy("test", &t, &rows.iter().map(|r| r.test_mse).collect::<Vec<_>>())),
    ];
    if classification {
        panels.push(LinePlot::new("test accuracy").x_label("RFM iteration").y_label("accuracy").series(
            Series::from_xy(
                "test",
                &t,
                &rows.iter().map(|r| r.test_acc.unwrap_or(f64::NAN)).collect::<Vec<_>>(),
            ),
        ));
    }
    let diag: Vec<f64> = (0..d).map(|i| m[(i, i)]).collect();
    panels.push(
        LinePlot::new("diagonal of the learned M")
            .x_label("input coordinate")
            .y_label("M_ii")
            .series(Series::from_xy("diag(M)", &(0..d).map(|i| i as f64).collect::<Vec<_>>(), &diag)),
    );
    let cols = panels.len();
    report.grid_plot("rfm.svg", &format!("RFM on {}", problem.name), &panels, cols);
    if d <= 1024 {
        report.heatmap("feature_matrix.png", m.as_ref(), "learned feature matrix M", Colormap::Auto);
    }
    if let Some(side) = problem.image_side
        && side * side == d
    {
        let img = Mat::from_fn(side, side, |i, j| diag[i * side + j]);
        report.heatmap("diag_m_image.png", img.as_ref(), "diag(M) as an image", Colormap::Sequential);
    }
    report.finish()
}

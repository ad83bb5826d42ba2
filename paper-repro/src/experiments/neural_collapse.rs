//! Deep neural collapse through the AGOP (Beaglehole, Súkeník, Mondelli, Belkin, NeurIPS 2024).
//!
//! Deep RFM: per layer, unit-normalise rows, fit one kernel machine (Laplace `L = 2`, ridge 1e-3),
//! compute its AGOP `M = AGOP / max`, project by `M^{1/2}`, then apply a fresh random feature map.
//! NC1 (within-class variability over between-class spread) and NC2 (distance of the class means
//! from a simplex ETF) are measured on the training features at three stages of every layer:
//! the layer input, after the `M^{1/2}` projection, and after the random nonlinearity. The same
//! stack without the AGOP (`M = I`) is the ablation. Claims checked:
//!
//! * `nc1_decreases_with_depth`: NC1 after the projection falls at least 10x from layer 1 to the
//!   last layer;
//! * `nc2_decreases_with_depth`: NC2 after the projection falls at least 2x over the same range;
//! * `collapse_happens_at_agop_projection`: the projection steps reduce NC1 (the product of their
//!   per-layer ratios is below 1/10) and account for at least 2/3 of the total log-reduction over
//!   the projection + nonlinearity steps (the nonlinearities do the rest, or raise NC1);
//! * `random_features_alone_do_not_collapse`: in the ablation NC1 does not fall 10x over the
//!   same depth.
use crate::cli::CommonArgs;
use crate::report::{Colormap, LinePlot, Report, Series};
use anyhow::{Context, bail};
use datasets::{Dataset, Standardizer};
use faer::Mat;
use kernels::{Kernel, KernelSpec};
use rfm::collapse::{NcMetrics, neural_collapse, normalized_gram};
use rfm::deep::{DeepRfmParams, FeatureMap};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Instant;

/// Data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NcDataset {
    /// MNIST (the vendored 10k subset): `--n` training and 100 test images after a seeded shuffle.
    Mnist10k,
    /// Fashion-MNIST (needs the data folder): `--n` random training images, 100 test images.
    FashionMnist,
    /// Gaussian mixture, 10 classes in 64 dimensions (no files needed).
    Mixture,
}

/// Random feature maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureArg {
    /// ReLU features, uniform init (as PyTorch's `nn.Linear`).
    Relu,
    /// Cosine random Fourier features with Cauchy weights (Laplace kernel).
    Cosine,
}

/// Command-line arguments of the `neural-collapse` binary.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct NeuralCollapseArgs {
    /// Data set.
    #[arg(long, value_enum, default_value = "mnist10k")]
    pub dataset: NcDataset,
    /// Number of layers [default: 20; quick: 8; mixture: 12].
    #[arg(long)]
    pub depth: Option<usize>,
    /// Training samples [default: 500; quick: 200].
    #[arg(long)]
    pub n: Option<usize>,
    /// Test samples.
    #[arg(long, default_value_t = 100)]
    pub n_test: usize,
    /// Random feature map.
    #[arg(long, value_enum, default_value = "relu")]
    pub features: FeatureArg,
    /// Width of the random feature map [default: 512; quick: 256].
    #[arg(long)]
    pub width: Option<usize>,
    /// Cauchy scale of cosine features (> 0).
    #[arg(long, default_value_t = 0.5, value_parser = crate::cli::parse_positive_f64, allow_negative_numbers = true)]
    pub gamma: f64,
    /// Laplace kernel bandwidth (> 0).
    #[arg(long, default_value_t = 2.0, value_parser = crate::cli::parse_positive_f64, allow_negative_numbers = true)]
    pub bandwidth: f64,
    /// Ridge (>= 0).
    #[arg(long, default_value_t = 1e-3, value_parser = crate::cli::parse_nonnegative_f64, allow_negative_numbers = true)]
    pub ridge: f64,
}

/// The resolved configuration (recorded in `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct NcConfig {
    /// Data set.
    pub dataset: NcDataset,
    /// Layers.
    pub depth: usize,
    /// Training samples.
    pub n: usize,
    /// Test samples.
    pub n_test: usize,
    /// Feature map.
    pub feature_map: FeatureMap,
    /// Kernel.
    pub kernel: KernelSpec,
    /// Ridge.
    pub ridge: f64,
    /// Seed.
    pub seed: u64,
}

impl NeuralCollapseArgs {
    /// Validates the arguments and fills in defaults.
    pub fn resolve(&self, common: &CommonArgs) -> anyhow::Result<NcConfig> {
        let quick = common.quick;
        let depth = self.depth.unwrap_or(match (quick, self.dataset) {
            (true, _) => 8,
            (false, NcDataset::Mixture) => 12,
            _ => 20,
        });
        if depth == 0 || depth > 200 {
            bail!("--depth {depth} must be between 1 and 200");
        }
        let n = self.n.unwrap_or(if quick { 200 } else { 500 });
        if !(20..=5000).contains(&n) {
            bail!("--n {n} must be between 20 and 5000 (one kernel solve of size n per layer)");
        }
        if self.n_test == 0 || self.n_test > 5000 {
            bail!("--n-test {} must be between 1 and 5000", self.n_test);
        }
        let width = self.width.unwrap_or(if quick { 256 } else { 512 });
        if width == 0 || width > 8192 {
            bail!("--width {width} must be between 1 and 8192");
        }
        let feature_map = match self.features {
            FeatureArg::Relu => FeatureMap::Relu { width },
            FeatureArg::Cosine => FeatureMap::Cosine { width, gamma: self.gamma },
        };
        Ok(NcConfig {
            dataset: self.dataset,
            depth,
            n,
            n_test: self.n_test,
            feature_map,
            kernel: KernelSpec::laplace(self.bandwidth),
            ridge: self.ridge,
            seed: common.seed,
        })
    }
}

/// One row of `iterations.csv`: a layer of Deep RFM and of the ablation.
#[derive(Debug, Clone, Serialize)]
pub struct NcRow {
    /// Layer (1-based).
    pub layer: usize,
    /// NC1 of the layer input.
    pub nc1_input: f64,
    /// NC1 after the `M^{1/2}` projection.
    pub nc1_projected: f64,
    /// NC1 after the random nonlinearity.
    pub nc1_nonlinear: f64,
    /// NC2 of the layer input.
    pub nc2_input: f64,
    /// NC2 after the projection.
    pub nc2_projected: f64,
    /// NC2 after the nonlinearity.
    pub nc2_nonlinear: f64,
    /// Test accuracy of the layer's kernel predictor.
    pub test_acc: f64,
    /// Ablation (M = I): NC1 of the layer input.
    pub ablation_nc1: f64,
    /// Ablation: NC2 of the layer input.
    pub ablation_nc2: f64,
    /// Ablation: test accuracy of the layer's kernel predictor.
    pub ablation_test_acc: f64,
}

fn load(cfg: &NcConfig) -> anyhow::Result<(Dataset, Dataset)> {
    let total = cfg.n + cfg.n_test;
    let (train, test) = match cfg.dataset {
        NcDataset::Mixture => {
            let all = datasets::synthetic::gaussian_mixture(total, 64, 10, 1.5, cfg.seed)?;
            let idx: Vec<usize> = (0..total).collect();
            (all.subset(&idx[..cfg.n])?, all.subset(&idx[cfg.n..])?)
        }
        NcDataset::Mnist10k => {
            let all = datasets::load::mnist10k().context("loading MNIST-10k (data/mnist10k)")?;
            let all = all.shuffled(cfg.seed);
            if total > all.n() {
                bail!("--n + --n-test = {total} exceeds the {} MNIST-10k images", all.n());
            }
            let idx: Vec<usize> = (0..total).collect();
            (all.subset(&idx[..cfg.n])?, all.subset(&idx[cfg.n..])?)
        }
        NcDataset::FashionMnist => {
            let tr = datasets::load::fashion_mnist(true).context("loading Fashion-MNIST")?;
            let te = datasets::load::fashion_mnist(false).context("loading Fashion-MNIST")?;
            let tr = tr.shuffled(cfg.seed).take_first(cfg.n)?;
            let te = te.shuffled(cfg.seed).take_first(cfg.n_test)?;
            (tr, te)
        }
    };
    // per-feature standardisation with the training statistics, then class-sorted order
    let st = Standardizer::fit(train.x.as_ref())?;
    let sort = |d: Dataset| -> anyhow::Result<Dataset> {
        let x = st.transform(d.x.as_ref())?;
        let labels = d.labels.clone().context("labels")?;
        let mut order: Vec<usize> = (0..d.n()).collect();
        order.sort_by_key(|&i| (labels[i], i));
        Ok(Dataset { x, ..d }.subset(&order)?)
    };
    Ok((sort(train)?, sort(test)?))
}

/// Normalised Gram matrices by layer.
type LayerGrams = Vec<(usize, Mat<f64>)>;

struct LayerStats {
    input: NcMetrics,
    projected: NcMetrics,
    nonlinear: NcMetrics,
    test_acc: f64,
}

/// Runs Deep RFM (or the ablation) and returns per-layer statistics and Gram matrices at `gram_at`.
fn run_stack(
    params: &DeepRfmParams,
    train: &Dataset,
    test: &Dataset,
    gram_at: &[usize],
    label: &str,
    report: &Report,
) -> anyhow::Result<(Vec<LayerStats>, LayerGrams)> {
    let test_labels = test.labels.clone().context("test labels")?;
    let bar = report.progress(params.depth as u64, format!("{label} layers"));
    let mut stats = Vec::new();
    let mut grams = Vec::new();
    let mut err = None;
    params.fit_with(train, Some(test), &mut |layer| {
        super::observe(&mut err, || {
            let l = layer.train_labels;
            let pred = layer.test_predictions.context("test predictions")?;
            stats.push(LayerStats {
                input: neural_collapse(layer.train.input.as_ref(), l)?,
                projected: neural_collapse(layer.train.projected.as_ref(), l)?,
                nonlinear: neural_collapse(layer.train.nonlinear.as_ref(), l)?,
                test_acc: datasets::accuracy(pred.as_ref(), &test_labels)?,
            });
            if gram_at.contains(&layer.layer) {
                grams.push((layer.layer, normalized_gram(layer.train.projected.as_ref())?));
            }
            bar.inc(1);
            Ok(())
        })
    })?;
    bar.finish();
    if let Some(e) = err {
        return Err(e);
    }
    Ok((stats, grams))
}

/// Runs the experiment and writes the report.
pub fn run(args: &NeuralCollapseArgs, common: &CommonArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.resolve(common)?;
    let mut report = Report::new("neural-collapse", common, &cfg)?;
    let t0 = Instant::now();
    let (train, test) = load(&cfg)?;
    crate::report::print_line(format!(
        "{:?}: {} train / {} test, d = {}, {} classes; depth {}, kernel {}, ridge {}, features {:?}",
        cfg.dataset,
        train.n(),
        test.n(),
        train.d(),
        train.c(),
        cfg.depth,
        cfg.kernel.name(),
        cfg.ridge,
        cfg.feature_map
    ));
    let params = DeepRfmParams::default()
        .with_depth(cfg.depth)
        .with_kernel(cfg.kernel)
        .with_ridge(cfg.ridge)
        .with_feature_map(cfg.feature_map)
        .with_seed(cfg.seed);
    let gram_layers: Vec<usize> = [1, 3, 7, 13, 19].into_iter().filter(|&l| l <= cfg.depth).collect();
    let (deep, grams) = run_stack(&params, &train, &test, &gram_layers, "Deep RFM", &report)?;
    let (ablation, ablation_grams) = run_stack(
        &params.clone().with_project(false),
        &train,
        &test,
        &[cfg.depth],
        "ablation (M = I)",
        &report,
    )?;
    let mut table = report
        .table(&["layer", "nc1_in", "nc1_proj", "nc1_relu", "nc2_proj", "test_acc", "abl_nc1", "abl_acc"]);
    let mut rows = Vec::new();
    for (l, (d, a)) in deep.iter().zip(&ablation).enumerate() {
        let row = NcRow {
            layer: l + 1,
            nc1_input: d.input.nc1,
            nc1_projected: d.projected.nc1,
            nc1_nonlinear: d.nonlinear.nc1,
            nc2_input: d.input.nc2,
            nc2_projected: d.projected.nc2,
            nc2_nonlinear: d.nonlinear.nc2,
            test_acc: d.test_acc,
            ablation_nc1: a.input.nc1,
            ablation_nc2: a.input.nc2,
            ablation_test_acc: a.test_acc,
        };
        table.row(crate::cells![
            row.layer,
            row.nc1_input,
            row.nc1_projected,
            row.nc1_nonlinear,
            row.nc2_projected,
            row.test_acc,
            row.ablation_nc1,
            row.ablation_test_acc
        ]);
        report.add_iteration(&row);
        rows.push(row);
    }
    report.set("seconds", t0.elapsed().as_secs_f64());
    claims(&mut report, &rows);
    write_outputs(&mut report, &cfg, &rows, &grams, &ablation_grams)?;
    report.finish()
}

fn claims(report: &mut Report, rows: &[NcRow]) {
    let (first, last) = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return,
    };
    let depth = rows.len();
    let fall = first.nc1_projected / last.nc1_projected;
    report.claim(
        "nc1_decreases_with_depth",
        fall >= 10.0,
        format!(
            "NC1 after the AGOP projection {:.3e} at layer 1 -> {:.3e} at layer {depth} ({fall:.1}x lower; needs >= 10x)",
            first.nc1_projected, last.nc1_projected
        ),
    );
    let fall2 = first.nc2_projected / last.nc2_projected;
    report.claim(
        "nc2_decreases_with_depth",
        fall2 >= 2.0,
        format!(
            "NC2 after the AGOP projection {:.3e} at layer 1 -> {:.3e} at layer {depth} ({fall2:.1}x lower; needs >= 2x)",
            first.nc2_projected, last.nc2_projected
        ),
    );
    let proj: f64 = rows.iter().map(|r| (r.nc1_projected / r.nc1_input).ln()).sum();
    let nonlin: f64 = rows.iter().map(|r| (r.nc1_nonlinear / r.nc1_projected).ln()).sum();
    let total = proj + nonlin;
    let share = if total < 0.0 { proj / total } else { f64::INFINITY };
    report.claim(
        "collapse_happens_at_agop_projection",
        proj < -(10f64.ln()) && (nonlin >= 0.0 || share >= 2.0 / 3.0),
        format!(
            "product over layers of NC1 ratios: projection steps {:.3e}, nonlinearity steps {:.3e} (projection share of the log-reduction {})",
            proj.exp(),
            nonlin.exp(),
            if share.is_finite() { format!("{:.0}%", 100.0 * share) } else { "> 100%".into() }
        ),
    );
    let abl_fall = first.ablation_nc1 / last.ablation_nc1;
    report.claim(
        "random_features_alone_do_not_collapse",
        abl_fall < 10.0,
        format!(
            "ablation (M = I): NC1 {:.3e} at layer 1 -> {:.3e} at layer {depth} ({abl_fall:.2}x lower; Deep RFM: {fall:.1}x)",
            first.ablation_nc1, last.ablation_nc1
        ),
    );
}

fn write_outputs(
    report: &mut Report,
    cfg: &NcConfig,
    rows: &[NcRow],
    grams: &[(usize, Mat<f64>)],
    ablation_grams: &[(usize, Mat<f64>)],
) -> anyhow::Result<()> {
    report.write_iterations_csv("iterations.csv")?;
    let l: Vec<f64> = rows.iter().map(|r| r.layer as f64).collect();
    let col = |f: &dyn Fn(&NcRow) -> f64| -> Vec<f64> { rows.iter().map(f).collect() };
    let nc1 = LinePlot::new("NC1 = tr(Sigma_W) / tr(Sigma_B)")
        .x_label("layer")
        .y_label("NC1")
        .log_y()
        .series(Series::from_xy("input", &l, &col(&|r| r.nc1_input)).with_markers())
        .series(Series::from_xy("after AGOP^(1/2) projection", &l, &col(&|r| r.nc1_projected)).with_markers())
        .series(Series::from_xy("after nonlinearity", &l, &col(&|r| r.nc1_nonlinear)).with_markers())
        .series(Series::from_xy("ablation M = I", &l, &col(&|r| r.ablation_nc1)).dashed());
    let nc2 = LinePlot::new("NC2 (distance to simplex ETF)")
        .x_label("layer")
        .y_label("NC2")
        .log_y()
        .series(Series::from_xy("input", &l, &col(&|r| r.nc2_input)).with_markers())
        .series(Series::from_xy("after AGOP^(1/2) projection", &l, &col(&|r| r.nc2_projected)).with_markers())
        .series(Series::from_xy("after nonlinearity", &l, &col(&|r| r.nc2_nonlinear)).with_markers())
        .series(Series::from_xy("ablation M = I", &l, &col(&|r| r.ablation_nc2)).dashed());
    let acc = LinePlot::new("test accuracy of each layer's kernel machine")
        .x_label("layer")
        .y_label("accuracy")
        .series(Series::from_xy("Deep RFM", &l, &col(&|r| r.test_acc)))
        .series(Series::from_xy("ablation M = I", &l, &col(&|r| r.ablation_test_acc)).dashed());
    report.grid_plot(
        "neural_collapse.svg",
        &format!("Deep RFM neural collapse ({:?})", cfg.dataset),
        &[nc1, nc2, acc],
        3,
    );
    for (layer, g) in grams {
        report.heatmap(
            &format!("gram_layer{layer:02}.png"),
            g.as_ref(),
            &format!("normalised Gram, layer {layer}"),
            Colormap::Auto,
        );
    }
    for (layer, g) in ablation_grams {
        report.heatmap(
            &format!("gram_ablation_layer{layer:02}.png"),
            g.as_ref(),
            &format!("ablation normalised Gram, layer {layer}"),
            Colormap::Auto,
        );
    }
    Ok(())
}

//! Catapults in SGD: loss spikes are catapults, and catapults learn features (Zhu et al. 2023).
//!
//! A 2-layer NTK-parameterised ReLU network `f(x) = (1/sqrt(m)) sum_j a_j relu(w_j.x / sqrt(d))` is
//! trained with the half-mean squared loss on `y = x1 x2`, `x ~ N(0, I_d)`. With `K = (1/n) J J^T`
//! (closed form, [`nn::TwoLayerNtk::ntk`]) gradient descent is linearly stable iff `lr < 2/lambda_max(K)`.
//!
//! 1. GD at `lr = c * 2/lambda_0` for `c` in {0.5, 1.5, 2.5, 5}: loss, `lambda_max(K)` every step and the
//!    loss split into the part in the top eigenspace of `K` (eigenvalues above `2/lr`, at the iterate
//!    where the spike starts) and the rest.
//! 2. Multiple catapults: GD starting at `c = 0.8`, the rate multiplied by 1.5 every few hundred steps.
//! 3. SGD batch-size sweep at one learning rate for all batch sizes (a multiple of the full-batch
//!    critical rate): number of catapults, final test MSE, final AGOP alignment with `G(f*) = diag(1, 1, 0, ...)`.
//!
//! Catapult counter (deterministic): a catapult starts at step t when the full training loss exceeds
//! `2 x` its running minimum and ends when it is back below `1.1 x` the running minimum; spikes whose
//! start is within 20 steps of the previous end are merged.
//!
//! Claims: `no_spike_below_edge`, `catapult_above_edge`, `spike_in_top_eigenspace`,
//! `eigenvalue_drops_below_2_over_lr`, `multiple_catapults_in_gd`, `smaller_batch_more_catapults`,
//! `catapults_improve_alignment`.
use crate::cli::CommonArgs;
use crate::report::{LinePlot, Report, Series, mean_std, print_line};
use anyhow::{Context, bail};
use faer::{Mat, MatRef};
use nn::TwoLayerNtk;
use nn::analysis::{agop_alignment, split_loss};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::Serialize;
use std::process::ExitCode;

/// Command-line arguments of the `catapults` binary (unset values take the default, or the
/// quick-mode default under `--quick`).
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct CatapultsArgs {
    /// Input dimension d.
    #[arg(long, default_value_t = 20)]
    pub d: usize,
    /// Training points [default: 256; quick: 128].
    #[arg(long)]
    pub n_train: Option<usize>,
    /// Test points [default: 2048; quick: 512].
    #[arg(long)]
    pub n_test: Option<usize>,
    /// Network width m [default: 512; quick: 256].
    #[arg(long)]
    pub width: Option<usize>,
    /// GD steps per learning rate [default: 500; quick: 200].
    #[arg(long)]
    pub gd_steps: Option<usize>,
    /// Steps per learning-rate level in the multiple-catapult run [default: 300; quick: 150].
    #[arg(long)]
    pub phase_steps: Option<usize>,
    /// SGD steps per run [default: 3000; quick: 1500].
    #[arg(long)]
    pub sgd_steps: Option<usize>,
    /// SGD seeds per batch size [default: 5; quick: 3].
    #[arg(long)]
    pub sgd_seeds: Option<usize>,
    /// SGD learning rate as a multiple of the full-batch critical rate 2/lambda_0 (> 0).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub sgd_lr_factor: f64,
    /// SGD batch sizes, comma separated [default: 4,8,16,32,64,256; quick: 4,16,128].
    #[arg(long, value_delimiter = ',')]
    pub batch_sizes: Option<Vec<usize>>,
}

/// The resolved configuration (recorded in `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct CatapultsConfig {
    /// Input dimension.
    pub d: usize,
    /// Training points.
    pub n_train: usize,
    /// Test points.
    pub n_test: usize,
    /// Width.
    pub width: usize,
    /// GD learning rates as multiples of 2/lambda_0.
    pub gd_factors: Vec<f64>,
    /// GD steps per rate.
    pub gd_steps: usize,
    /// Multiple catapults: starting factor, multiplier, steps per level, number of levels.
    pub multi_start: f64,
    /// Multiplier per level.
    pub multi_factor: f64,
    /// Steps per level.
    pub phase_steps: usize,
    /// Number of levels.
    pub phases: usize,
    /// SGD steps.
    pub sgd_steps: usize,
    /// SGD seeds.
    pub sgd_seeds: usize,
    /// SGD learning-rate factor.
    pub sgd_lr_factor: f64,
    /// Batch sizes.
    pub batch_sizes: Vec<usize>,
    /// Catapult counter: start threshold (x running minimum), end threshold, merge gap.
    pub spike_kappa: f64,
    /// End threshold.
    pub spike_exit: f64,
    /// Merge gap in steps.
    pub spike_merge: usize,
    /// Base seed.
    pub seed: u64,
    /// Quick mode.
    pub quick: bool,
}

impl CatapultsArgs {
    /// Validates the arguments and fills in defaults.
    pub fn resolve(&self, common: &CommonArgs) -> anyhow::Result<CatapultsConfig> {
        let q = common.quick;
        let n_train = self.n_train.unwrap_or(if q { 128 } else { 256 });
        let n_test = self.n_test.unwrap_or(if q { 512 } else { 2048 });
        let width = self.width.unwrap_or(if q { 256 } else { 512 });
        let gd_steps = self.gd_steps.unwrap_or(if q { 200 } else { 500 });
        let phase_steps = self.phase_steps.unwrap_or(if q { 150 } else { 300 });
        let sgd_steps = self.sgd_steps.unwrap_or(if q { 1500 } else { 3000 });
        let sgd_seeds = self.sgd_seeds.unwrap_or(if q { 3 } else { 5 });
        let batch_sizes = self.batch_sizes.clone().unwrap_or(if q {
            vec![4, 16, n_train]
        } else {
            vec![4, 8, 16, 32, 64, n_train]
        });
        crate::cli::check_range("--d", self.d, 2, 1000)?;
        crate::cli::check_range("--n-train", n_train, 8, 4096)?;
        crate::cli::check_range("--n-test", n_test, 1, 1_000_000)?;
        crate::cli::check_range("--width", width, 1, 65536)?;
        crate::cli::check_range("--gd-steps", gd_steps, 10, 1_000_000)?;
        crate::cli::check_range("--phase-steps", phase_steps, 10, 1_000_000)?;
        crate::cli::check_range("--sgd-steps", sgd_steps, 10, 10_000_000)?;
        crate::cli::check_range("--sgd-seeds", sgd_seeds, 1, 1000)?;
        crate::cli::check_positive("--sgd-lr-factor", self.sgd_lr_factor)?;
        if batch_sizes.len() < 2 {
            bail!("--batch-sizes needs at least two sizes, got {batch_sizes:?}");
        }
        for &b in &batch_sizes {
            if b == 0 || b > n_train {
                bail!("--batch-sizes: every batch size must be in [1, n_train = {n_train}], got {b}");
            }
        }
        let mut batch_sizes = batch_sizes;
        batch_sizes.sort_unstable();
        batch_sizes.dedup();
        Ok(CatapultsConfig {
            d: self.d,
            n_train,
            n_test,
            width,
            gd_factors: vec![0.5, 1.5, 1.8, 2.5, 5.0],
            gd_steps,
            multi_start: 0.8,
            multi_factor: 1.5,
            phase_steps,
            phases: 5,
            sgd_steps,
            sgd_seeds,
            sgd_lr_factor: self.sgd_lr_factor,
            batch_sizes,
            spike_kappa: 2.0,
            spike_exit: 1.1,
            spike_merge: 20,
            seed: common.seed,
            quick: q,
        })
    }
}

/// A detected catapult: `[start, end)` in steps (`end` = trace length when it never ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spike {
    /// First step above `kappa x` the running minimum.
    pub start: usize,
    /// First step back below `exit x` the running minimum.
    pub end: usize,
    /// Step of the largest loss in the spike.
    pub peak: usize,
}

/// The deterministic catapult counter of the module docs.
pub fn detect_spikes(losses: &[f64], kappa: f64, exit: f64, merge: usize) -> Vec<Spike> {
    let mut spikes: Vec<Spike> = Vec::new();
    let mut run_min = f64::INFINITY;
    let mut current: Option<Spike> = None;
    for (t, &l) in losses.iter().enumerate() {
        let l = if l.is_finite() { l } else { f64::INFINITY };
        match current.as_mut() {
            None => {
                if run_min.is_finite() && l > kappa * run_min {
                    current = Some(Spike { start: t, end: losses.len(), peak: t });
                }
            }
            Some(s) => {
                if l > losses[s.peak] {
                    s.peak = t;
                }
                if l < exit * run_min {
                    s.end = t;
                    let s = *s;
                    current = None;
                    match spikes.last_mut() {
                        Some(prev) if s.start < prev.end + merge => {
                            prev.end = s.end;
                            if losses[s.peak] > losses[prev.peak] {
                                prev.peak = s.peak;
                            }
                        }
                        _ => spikes.push(s),
                    }
                }
            }
        }
        if current.is_none() {
            run_min = run_min.min(l);
        }
    }
    if let Some(s) = current {
        match spikes.last_mut() {
            Some(prev) if s.start < prev.end + merge => prev.end = s.end,
            _ => spikes.push(s),
        }
    }
    spikes
}

/// The synthetic task: `y = x1 x2` on Gaussian inputs.
struct Data {
    x: Mat<f64>,
    y: Mat<f64>,
    x_test: Mat<f64>,
    y_test: Mat<f64>,
    /// The target's AGOP diag(1, 1, 0, ...).
    g_star: Mat<f64>,
}

fn make_data(cfg: &CatapultsConfig) -> Data {
    let x = linalg::random::gaussian_mat(cfg.n_train, cfg.d, cfg.seed);
    let x_test = linalg::random::gaussian_mat(cfg.n_test, cfg.d, cfg.seed.wrapping_add(0x7E57));
    let target = |x: &Mat<f64>| Mat::from_fn(x.nrows(), 1, |i, _| x[(i, 0)] * x[(i, 1)]);
    let g_star = Mat::from_fn(cfg.d, cfg.d, |i, j| if i == j && i < 2 { 1.0 } else { 0.0 });
    Data { y: target(&x), y_test: target(&x_test), x, x_test, g_star }
}

/// Monte-Carlo estimate of the target's AGOP on `x`: `grad f* = (x2, x1, 0, ...)`.
fn target_agop_mc(x: MatRef<'_, f64>) -> Mat<f64> {
    let g = Mat::from_fn(x.nrows(), x.ncols(), |i, j| match j {
        0 => x[(i, 1)],
        1 => x[(i, 0)],
        _ => 0.0,
    });
    nn::analysis::agop_from_gradients(g.as_ref())
}

/// The trace of one GD run.
#[derive(Debug, Clone, Serialize)]
struct GdRun {
    factor: f64,
    lr: f64,
    lambda0: f64,
    loss: Vec<f64>,
    lambda: Vec<f64>,
    l_top: Vec<f64>,
    l_rest: Vec<f64>,
    spikes: Vec<Spike>,
    diverged_at: Option<usize>,
    /// Step whose kernel gave the top-eigenspace projector.
    projector_step: usize,
    /// Number of top eigenvectors in the projector (eigenvalues above 2/lr there).
    top_k: usize,
    final_alignment: f64,
    final_test_mse: f64,
}

impl GdRun {
    fn final_loss(&self) -> f64 {
        self.loss.iter().rev().find(|l| l.is_finite()).copied().unwrap_or(f64::NAN)
    }
    fn final_lambda(&self) -> f64 {
        self.lambda.iter().rev().find(|l| l.is_finite()).copied().unwrap_or(f64::NAN)
    }
    /// Share of the loss increase from the spike start to the peak that lies in the top eigenspace.
    fn top_share(&self) -> f64 {
        let Some(s) = self.spikes.first() else { return f64::NAN };
        let t0 = self.projector_step;
        let dl = self.loss[s.peak] - self.loss[t0];
        if dl <= 0.0 {
            return f64::NAN;
        }
        (self.l_top[s.peak] - self.l_top[t0]) / dl
    }
}

fn lambda_max(k: &Mat<f64>) -> anyhow::Result<f64> {
    Ok(nn::analysis::lambda_max(k.as_ref())?)
}

/// Full-batch GD with a learning-rate schedule `lr(t)`; logs loss, lambda_max and residuals.
fn run_gd(
    data: &Data,
    net: &mut TwoLayerNtk,
    steps: usize,
    lr_at: &dyn Fn(usize) -> f64,
) -> anyhow::Result<GdTrace> {
    let x = data.x.as_ref();
    let (mut losses, mut lambdas, mut residuals) = (vec![], vec![], vec![]);
    let l0 = net.loss(x, data.y.as_ref())?;
    let mut diverged = None;
    for t in 0..=steps {
        let cache = net.forward(x)?;
        let (loss, g) = nn::loss::mse(cache.out.as_ref(), data.y.as_ref())?;
        if !loss.is_finite() || loss > 1e8 * l0 {
            diverged = Some(t);
            break;
        }
        losses.push(loss);
        // lambda_max every step while catapults happen (early on), then every 10th step
        if t < DENSE_LAMBDA_STEPS || t % 10 == 0 || t == steps {
            lambdas.push(lambda_max(&net.ntk_from_cache(x, &cache))?);
        } else {
            lambdas.push(f64::NAN);
        }
        residuals.push(&cache.out - &data.y);
        if t == steps {
            break;
        }
        let grads = net.backward(x, &cache, g.as_ref())?;
        let lr = lr_at(t);
        net.w -= &grads[0] * lr;
        net.a -= &grads[1] * lr;
    }
    Ok((losses, lambdas, residuals, diverged))
}

/// Steps from the start of a GD run (or of a learning-rate level) with lambda_max logged every step.
const DENSE_LAMBDA_STEPS: usize = 40;

/// Loss, lambda_max (NaN where not computed) and residual per logged step, and the step where training diverged.
type GdTrace = (Vec<f64>, Vec<f64>, Vec<Mat<f64>>, Option<usize>);

fn gd_experiment(cfg: &CatapultsConfig, data: &Data, factor: f64) -> anyhow::Result<GdRun> {
    let net0 = TwoLayerNtk::new(cfg.d, cfg.width, cfg.seed.wrapping_add(1))?;
    let x = data.x.as_ref();
    let k0 = net0.ntk(x)?;
    let lambda0 = lambda_max(&k0)?;
    let lr = factor * 2.0 / lambda0;
    let mut net = net0.clone();
    let (loss, lambda, residuals, diverged_at) = run_gd(data, &mut net, cfg.gd_steps, &|_| lr)?;
    let spikes = detect_spikes(&loss, cfg.spike_kappa, cfg.spike_exit, cfg.spike_merge);
    // Spike start: the last iterate before the loss first increases; the projector is built from
    // the kernel there (eigenvalues above 2/lr = the unstable directions).
    let projector_step = (1..loss.len()).find(|&t| loss[t] > loss[t - 1]).map_or(0, |t| t - 1);
    let mut replay = net0.clone();
    run_gd(data, &mut replay, projector_step, &|_| lr)?;
    let kp = replay.ntk(x)?;
    let eig = linalg::sym::sym_eigen(kp.as_ref())?;
    let top_k = eig.values.iter().filter(|&&v| v > 2.0 / lr).count().max(1);
    let u = eig.vectors.subcols(0, top_k);
    let mut l_top = Vec::with_capacity(loss.len());
    let mut l_rest = Vec::with_capacity(loss.len());
    for r in &residuals {
        let (a, b) = split_loss(r.as_ref(), u)?;
        l_top.push(a);
        l_rest.push(b);
    }
    let (final_alignment, final_test_mse) = if diverged_at.is_none() {
        let g = net.agop(x)?;
        (agop_alignment(g.as_ref(), data.g_star.as_ref())?, test_mse(&net, data)?)
    } else {
        (f64::NAN, f64::NAN)
    };
    Ok(GdRun {
        factor,
        lr,
        lambda0,
        loss,
        lambda,
        l_top,
        l_rest,
        spikes,
        diverged_at,
        projector_step,
        top_k,
        final_alignment,
        final_test_mse,
    })
}

fn test_mse(net: &TwoLayerNtk, data: &Data) -> anyhow::Result<f64> {
    let p = net.predict(data.x_test.as_ref())?;
    Ok((&p - &data.y_test).squared_norm_l2() / data.y_test.nrows() as f64)
}

/// One level of the multiple-catapult run.
#[derive(Debug, Clone, Serialize)]
struct Phase {
    level: usize,
    lr: f64,
    start: usize,
    /// lr * lambda_max at the start of the level (> 2: unstable).
    lr_lambda_start: f64,
    /// lr * lambda_max at the end of the level.
    lr_lambda_end: f64,
    spikes: usize,
    alignment_end: f64,
    test_mse_end: f64,
}

#[derive(Debug, Clone, Serialize)]
struct MultiRun {
    loss: Vec<f64>,
    lambda: Vec<f64>,
    lr: Vec<f64>,
    spikes: Vec<Spike>,
    phases: Vec<Phase>,
    alignment0: f64,
    diverged_at: Option<usize>,
}

fn multi_experiment(cfg: &CatapultsConfig, data: &Data) -> anyhow::Result<MultiRun> {
    let mut net = TwoLayerNtk::new(cfg.d, cfg.width, cfg.seed.wrapping_add(1))?;
    let x = data.x.as_ref();
    let lambda0 = lambda_max(&net.ntk(x)?)?;
    let alignment0 = agop_alignment(net.agop(x)?.as_ref(), data.g_star.as_ref())?;
    let base = cfg.multi_start * 2.0 / lambda0;
    let (mut loss, mut lambda, mut lrs, mut phases) = (vec![], vec![], vec![], vec![]);
    let mut diverged_at = None;
    for level in 0..cfg.phases {
        let lr = base * cfg.multi_factor.powi(level as i32);
        let start = loss.len();
        let (l, lam, _, div) = run_gd(data, &mut net, cfg.phase_steps, &|_| lr)?;
        // run_gd logs steps 0..=phase_steps; the last entry is the first of the next level
        let keep = if div.is_some() { l.len() } else { l.len() - 1 };
        loss.extend_from_slice(&l[..keep]);
        lambda.extend_from_slice(&lam[..keep]);
        lrs.extend(std::iter::repeat_n(lr, keep));
        let level_spikes = detect_spikes(&l, cfg.spike_kappa, cfg.spike_exit, cfg.spike_merge).len();
        if let Some(t) = div {
            diverged_at = Some(start + t);
            phases.push(Phase {
                level,
                lr,
                start,
                lr_lambda_start: lr * lam.first().copied().unwrap_or(f64::NAN),
                lr_lambda_end: f64::NAN,
                spikes: level_spikes,
                alignment_end: f64::NAN,
                test_mse_end: f64::NAN,
            });
            break;
        }
        phases.push(Phase {
            level,
            lr,
            start,
            lr_lambda_start: lr * lam[0],
            lr_lambda_end: lr * lam[lam.len() - 1],
            spikes: level_spikes,
            alignment_end: agop_alignment(net.agop(x)?.as_ref(), data.g_star.as_ref())?,
            test_mse_end: test_mse(&net, data)?,
        });
    }
    let spikes = detect_spikes(&loss, cfg.spike_kappa, cfg.spike_exit, cfg.spike_merge);
    Ok(MultiRun { loss, lambda, lr: lrs, spikes, phases, alignment0, diverged_at })
}

/// Largest batch whose batch-kernel top eigenvalue is logged every step.
const MAX_BATCH_KERNEL: usize = 32;

/// The outcome of one SGD run.
#[derive(Debug, Clone, Serialize)]
struct SgdRun {
    batch: usize,
    seed: usize,
    lr: f64,
    lambda0: f64,
    catapults: usize,
    /// Share of detected spikes preceded within 5 steps by a batch with lr * lambda_max(K_B) > 2.
    preceded_share: f64,
    /// Share of steps with an unstable batch (lr * lambda_max(K_B) > 2).
    unstable_share: f64,
    final_train_loss: f64,
    final_test_mse: f64,
    final_alignment: f64,
    final_lambda: f64,
    diverged: bool,
    #[serde(skip)]
    loss: Vec<f64>,
    #[serde(skip)]
    batch_lambda: Vec<f64>,
    #[serde(skip)]
    full_lambda: Vec<(usize, f64)>,
    #[serde(skip)]
    spikes: Vec<Spike>,
}

fn sgd_run(cfg: &CatapultsConfig, data: &Data, batch: usize, seed: usize) -> anyhow::Result<SgdRun> {
    let init_seed = cfg.seed.wrapping_mul(1_000_003).wrapping_add(100 + seed as u64);
    let mut net = TwoLayerNtk::new(cfg.d, cfg.width, init_seed)?;
    let x = data.x.as_ref();
    let n = x.nrows();
    let lambda0 = lambda_max(&net.ntk(x)?)?;
    let lr = cfg.sgd_lr_factor * 2.0 / lambda0;
    let mut rng = linalg::random::rng(init_seed ^ (batch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<usize> = (0..n).collect();
    let mut pos = n;
    let (mut loss, mut batch_lambda, mut full_lambda) = (vec![], vec![], vec![]);
    let l0 = net.loss(x, data.y.as_ref())?;
    let lam_every = (cfg.sgd_steps / 20).max(1);
    let mut diverged = false;
    for t in 0..=cfg.sgd_steps {
        // full batch: the probe forward pass is also the training forward pass
        let full_cache = if batch == n { Some(net.forward(x)?) } else { None };
        let full = match &full_cache {
            Some(c) => nn::loss::mse(c.out.as_ref(), data.y.as_ref())?.0,
            None => net.loss(x, data.y.as_ref())?,
        };
        if !full.is_finite() || full > 1e8 * l0 {
            diverged = true;
            break;
        }
        loss.push(full);
        if t % lam_every == 0 || t == cfg.sgd_steps {
            full_lambda.push((t, lambda_max(&net.ntk(x)?)?));
        }
        if t == cfg.sgd_steps {
            break;
        }
        if let Some(cache) = full_cache {
            let (_, g) = nn::loss::mse(cache.out.as_ref(), data.y.as_ref())?;
            let grads = net.backward(x, &cache, g.as_ref())?;
            net.w -= &grads[0] * lr;
            net.a -= &grads[1] * lr;
            continue;
        }
        if pos + batch > n {
            order.shuffle(&mut rng);
            pos = 0;
        }
        let idx = &order[pos..pos + batch];
        pos += batch;
        let xb = Mat::from_fn(batch, x.ncols(), |i, j| x[(idx[i], j)]);
        let yb = Mat::from_fn(batch, 1, |i, _| data.y[(idx[i], 0)]);
        let cache = net.forward(xb.as_ref())?;
        let (_, g) = nn::loss::mse(cache.out.as_ref(), yb.as_ref())?;
        if batch <= MAX_BATCH_KERNEL {
            let kb = net.ntk_from_cache(xb.as_ref(), &cache);
            batch_lambda.push(lambda_max(&kb)?);
        }
        let grads = net.backward(xb.as_ref(), &cache, g.as_ref())?;
        net.w -= &grads[0] * lr;
        net.a -= &grads[1] * lr;
    }
    let spikes = detect_spikes(&loss, cfg.spike_kappa, cfg.spike_exit, cfg.spike_merge);
    let unstable: Vec<bool> = batch_lambda.iter().map(|&l| lr * l > 2.0).collect();
    let preceded = spikes
        .iter()
        .filter(|s| (s.start.saturating_sub(6)..s.start).any(|t| unstable.get(t).copied().unwrap_or(false)))
        .count();
    let (final_test_mse, final_alignment) = if diverged {
        (f64::NAN, f64::NAN)
    } else {
        (test_mse(&net, data)?, agop_alignment(net.agop(x)?.as_ref(), data.g_star.as_ref())?)
    };
    Ok(SgdRun {
        batch,
        seed,
        lr,
        lambda0,
        catapults: spikes.len(),
        preceded_share: if spikes.is_empty() { f64::NAN } else { preceded as f64 / spikes.len() as f64 },
        unstable_share: if unstable.is_empty() {
            f64::NAN
        } else {
            unstable.iter().filter(|&&u| u).count() as f64 / unstable.len() as f64
        },
        final_train_loss: loss.last().copied().unwrap_or(f64::NAN),
        final_test_mse,
        final_alignment,
        final_lambda: full_lambda.last().map_or(f64::NAN, |p| p.1),
        diverged,
        loss,
        batch_lambda,
        full_lambda,
        spikes,
    })
}

/// Per-batch-size summary over seeds.
#[derive(Debug, Clone, Serialize)]
struct BatchSummary {
    batch: usize,
    catapults_mean: f64,
    catapults_std: f64,
    test_mse_mean: f64,
    test_mse_std: f64,
    alignment_mean: f64,
    alignment_std: f64,
    unstable_share: f64,
    preceded_share: f64,
    diverged_runs: usize,
}

fn summarise(cfg: &CatapultsConfig, runs: &[SgdRun]) -> Vec<BatchSummary> {
    cfg.batch_sizes
        .iter()
        .map(|&b| {
            let rs: Vec<&SgdRun> = runs.iter().filter(|r| r.batch == b).collect();
            let col = |f: &dyn Fn(&SgdRun) -> f64| -> Vec<f64> { rs.iter().map(|r| f(r)).collect() };
            let (cm, cs) = mean_std(&col(&|r| r.catapults as f64));
            let (tm, ts) = mean_std(&col(&|r| r.final_test_mse));
            let (am, as_) = mean_std(&col(&|r| r.final_alignment));
            BatchSummary {
                batch: b,
                catapults_mean: cm,
                catapults_std: cs,
                test_mse_mean: tm,
                test_mse_std: ts,
                alignment_mean: am,
                alignment_std: as_,
                unstable_share: mean_std(&col(&|r| r.unstable_share)).0,
                preceded_share: mean_std(&col(&|r| r.preceded_share)).0,
                diverged_runs: rs.iter().filter(|r| r.diverged).count(),
            }
        })
        .collect()
}

/// Spearman rank correlation of two equally long slices (ties get average ranks).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for k in i..=j {
                r[idx[k]] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let (ma, mb) = (mean_std(&ra).0, mean_std(&rb).0);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 { 0.0 } else { cov / (va * vb).sqrt() }
}

/// Runs the experiment and writes the report. Returns the exit code of [`Report::finish`].
pub fn run(args: &CatapultsArgs, common: &CommonArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.resolve(common)?;
    let mut report = Report::new("catapults", common, &cfg)?;
    let data = make_data(&cfg);
    let mc = target_agop_mc(data.x_test.as_ref());
    let mc_err = (&mc - &data.g_star).norm_l2();
    print_line(format!(
        "y = x1 x2, d = {}, n = {} train / {} test, 2-layer NTK ReLU net of width {}; G(f*) Monte-Carlo vs diag(1,1,0..): {:.3} (Frobenius)",
        cfg.d, cfg.n_train, cfg.n_test, cfg.width, mc_err
    ));

    // 1. GD at several multiples of the critical rate.
    let t0 = std::time::Instant::now();
    let gd: Vec<GdRun> = cfg
        .gd_factors
        .par_iter()
        .map(|&c| gd_experiment(&cfg, &data, c))
        .collect::<anyhow::Result<_>>()
        .context("GD runs")?;
    let mut table = report.table(&[
        "c",
        "lr",
        "loss_0",
        "max_loss",
        "final_loss",
        "spikes",
        "lr*lam_end",
        "top_share",
        "align",
        "test_mse",
    ]);
    for r in &gd {
        let max_loss = r.loss.iter().cloned().fold(0.0, f64::max);
        table.row(crate::cells![
            r.factor,
            r.lr,
            r.loss[0],
            max_loss,
            if r.diverged_at.is_some() { f64::INFINITY } else { r.final_loss() },
            r.spikes.len(),
            r.lr * r.final_lambda(),
            r.top_share(),
            r.final_alignment,
            r.final_test_mse
        ]);
    }
    print_line(format!("GD runs: {:.1} s", t0.elapsed().as_secs_f64()));

    // 2. Multiple catapults.
    let t0 = std::time::Instant::now();
    let multi = multi_experiment(&cfg, &data).context("multiple-catapult run")?;
    let mut table =
        report.table(&["level", "lr", "lr*lam_start", "lr*lam_end", "spikes", "alignment", "test_mse"]);
    for p in &multi.phases {
        table.row(crate::cells![
            p.level,
            p.lr,
            p.lr_lambda_start,
            p.lr_lambda_end,
            p.spikes,
            p.alignment_end,
            p.test_mse_end
        ]);
    }
    print_line(format!("multiple-catapult run: {:.1} s", t0.elapsed().as_secs_f64()));

    // 3. SGD batch-size sweep.
    let t0 = std::time::Instant::now();
    let jobs: Vec<(usize, usize)> =
        cfg.batch_sizes.iter().flat_map(|&b| (0..cfg.sgd_seeds).map(move |s| (b, s))).collect();
    let bar = report.progress(jobs.len() as u64, "SGD runs");
    let runs: Vec<SgdRun> = jobs
        .par_iter()
        .map(|&(b, s)| {
            let r = sgd_run(&cfg, &data, b, s);
            bar.inc(1);
            r
        })
        .collect::<anyhow::Result<_>>()
        .context("SGD runs")?;
    bar.finish();
    let summary = summarise(&cfg, &runs);
    let mut table =
        report.table(&["batch", "catapults", "unstable_steps", "test_mse", "alignment", "diverged"]);
    for s in &summary {
        table.row(crate::cells![
            s.batch,
            format!("{:.1} ± {:.1}", s.catapults_mean, s.catapults_std),
            s.unstable_share,
            format!("{:.3} ± {:.3}", s.test_mse_mean, s.test_mse_std),
            format!("{:.3} ± {:.3}", s.alignment_mean, s.alignment_std),
            s.diverged_runs
        ]);
    }
    print_line(format!("SGD sweep ({} runs): {:.1} s", runs.len(), t0.elapsed().as_secs_f64()));

    let align0 = agop_alignment(
        TwoLayerNtk::new(cfg.d, cfg.width, cfg.seed.wrapping_add(1))?.agop(data.x.as_ref())?.as_ref(),
        data.g_star.as_ref(),
    )?;
    claims(&mut report, &cfg, &gd, &multi, &runs, &summary, align0);
    report.set("target_agop_mc_error", mc_err);
    report.set("alignment_at_init", align0);
    report.set("gd_runs", gd_summary(&gd));
    report.set("multi_catapult_phases", &multi.phases);
    report.set("sgd_by_batch", &summary);
    report.set("sgd_runs", &runs);
    for s in &summary {
        report.add_iteration(s);
    }
    write_outputs(&mut report, &cfg, &gd, &multi, &runs, &summary)?;
    report.finish()
}

#[derive(Serialize)]
struct GdSummary {
    factor: f64,
    lr: f64,
    lambda0: f64,
    initial_loss: f64,
    max_loss: f64,
    final_loss: f64,
    final_lambda: f64,
    lr_times_final_lambda: f64,
    spikes: Vec<Spike>,
    top_share: f64,
    top_k: usize,
    projector_step: usize,
    diverged_at: Option<usize>,
    final_alignment: f64,
    final_test_mse: f64,
}

fn gd_summary(gd: &[GdRun]) -> Vec<GdSummary> {
    gd.iter()
        .map(|r| GdSummary {
            factor: r.factor,
            lr: r.lr,
            lambda0: r.lambda0,
            initial_loss: r.loss[0],
            max_loss: r.loss.iter().cloned().fold(0.0, f64::max),
            final_loss: r.final_loss(),
            final_lambda: r.final_lambda(),
            lr_times_final_lambda: r.lr * r.final_lambda(),
            spikes: r.spikes.clone(),
            top_share: r.top_share(),
            top_k: r.top_k,
            projector_step: r.projector_step,
            diverged_at: r.diverged_at,
            final_alignment: r.final_alignment,
            final_test_mse: r.final_test_mse,
        })
        .collect()
}

fn claims(
    report: &mut Report,
    cfg: &CatapultsConfig,
    gd: &[GdRun],
    multi: &MultiRun,
    runs: &[SgdRun],
    summary: &[BatchSummary],
    align0: f64,
) {
    // below the edge: monotone, no spike
    let below: Vec<&GdRun> = gd.iter().filter(|r| r.factor < 1.0).collect();
    let ok = !below.is_empty()
        && below.iter().all(|r| {
            let max_inc = r.loss.windows(2).map(|w| w[1] - w[0]).fold(f64::NEG_INFINITY, f64::max);
            r.diverged_at.is_none() && r.spikes.is_empty() && max_inc <= 1e-12 * r.loss[0]
        });
    let ev: Vec<String> = below
        .iter()
        .map(|r| {
            let max_inc = r.loss.windows(2).map(|w| w[1] - w[0]).fold(f64::NEG_INFINITY, f64::max);
            format!(
                "lr = {:.2} x 2/lambda_0: {} spikes, largest one-step loss change {:.1e}, loss {:.3} -> {:.4}",
                r.factor,
                r.spikes.len(),
                max_inc,
                r.loss[0],
                r.final_loss()
            )
        })
        .collect();
    report.claim("no_spike_below_edge", ok, ev.join("; "));

    // The catapult window of wide 2-layer nets: 2/lambda_0 < lr < 4/lambda_0, i.e. 1 < c < 2.
    let cat: Vec<&GdRun> = gd.iter().filter(|r| r.factor > 1.0 && r.factor < 2.0).collect();
    let early_max = |r: &GdRun| r.loss.iter().take(100).cloned().fold(0.0, f64::max);
    let ok = !cat.is_empty()
        && cat
            .iter()
            .all(|r| r.diverged_at.is_none() && early_max(r) > 2.0 * r.loss[0] && r.final_loss() < r.loss[0]);
    let ev: Vec<String> = cat
        .iter()
        .map(|r| {
            format!(
                "c = {}: loss {:.3} -> peak {:.3} (x{:.0}) at step {} -> {:.4} at step {}{}",
                r.factor,
                r.loss[0],
                early_max(r),
                early_max(r) / r.loss[0],
                r.spikes.first().map_or(0, |s| s.peak),
                r.final_loss(),
                r.loss.len() - 1,
                if r.diverged_at.is_some() { " (diverged)" } else { "" }
            )
        })
        .collect();
    let above: Vec<String> = gd
        .iter()
        .filter(|r| r.factor >= 2.0)
        .map(|r| match r.diverged_at {
            Some(t) => format!("c = {}: diverged at step {t}", r.factor),
            None => format!("c = {}: {} spikes, final loss {:.4}", r.factor, r.spikes.len(), r.final_loss()),
        })
        .collect();
    report.claim("catapult_above_edge", ok, format!("{}; beyond: {}", ev.join("; "), above.join("; ")));

    let ok = !cat.is_empty() && cat.iter().all(|r| r.top_share() >= 0.8);
    let ev: Vec<String> = cat
        .iter()
        .map(|r| {
            format!(
                "c = {}: {:.1}% of the loss increase (step {} -> peak) lies in the top-{} eigenspace of K at step {}",
                r.factor,
                100.0 * r.top_share(),
                r.projector_step,
                r.top_k,
                r.projector_step
            )
        })
        .collect();
    report.claim("spike_in_top_eigenspace", ok, ev.join("; "));

    let gd_ok = cat.iter().all(|r| r.diverged_at.is_none() && r.lr * r.final_lambda() < 2.0);
    let unstable_phases: Vec<&Phase> = multi.phases.iter().filter(|p| p.lr_lambda_start > 2.0).collect();
    let multi_ok = multi.diverged_at.is_none()
        && !unstable_phases.is_empty()
        && unstable_phases.iter().all(|p| p.lr_lambda_end < 2.0);
    let mut ev: Vec<String> = cat
        .iter()
        .map(|r| {
            format!(
                "c = {}: lambda_max {:.3} -> {:.3}, lr * lambda_max = {:.2} -> {:.2}",
                r.factor,
                r.lambda0,
                r.final_lambda(),
                r.lr * r.lambda0,
                r.lr * r.final_lambda()
            )
        })
        .collect();
    ev.push(format!(
        "raised-rate GD: lr * lambda_max at start -> end of each level {}",
        multi
            .phases
            .iter()
            .map(|p| format!("{:.2}->{:.2}", p.lr_lambda_start, p.lr_lambda_end))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report.claim("eigenvalue_drops_below_2_over_lr", gd_ok && multi_ok, ev.join("; "));

    let caught = multi.phases.iter().filter(|p| p.lr_lambda_start > 2.0 && p.spikes >= 1).count();
    let ok = multi.diverged_at.is_none() && unstable_phases.len() >= 2 && caught == unstable_phases.len();
    report.claim(
        "multiple_catapults_in_gd",
        ok,
        format!(
            "{} rate increases made GD unstable (lr * lambda_max > 2), {} of them produced a catapult (counted per level; {} over the whole trace with one running minimum); AGOP alignment {:.3} at init -> {}",
            unstable_phases.len(),
            caught,
            multi.spikes.len(),
            multi.alignment0,
            multi.phases.iter().map(|p| format!("{:.3}", p.alignment_end)).collect::<Vec<_>>().join(" -> ")
        ),
    );

    let (first, last) = (&summary[0], &summary[summary.len() - 1]);
    let logged = summary.iter().rev().find(|s| s.unstable_share.is_finite()).unwrap_or(last);
    let bs: Vec<f64> = runs.iter().map(|r| r.batch as f64).collect();
    let cs: Vec<f64> = runs.iter().map(|r| r.catapults as f64).collect();
    let rho = spearman(&bs, &cs);
    let ok = first.catapults_mean > last.catapults_mean && rho < 0.0;
    report.claim(
        "smaller_batch_more_catapults",
        ok,
        format!(
            "mean catapults per run {} (b = {}); Spearman(b, catapults) = {rho:.2} over {} runs; unstable-batch steps {:.0}% at b = {} vs {:.0}% at b = {}",
            summary.iter().map(|s| format!("{:.1}", s.catapults_mean)).collect::<Vec<_>>().join(", "),
            summary.iter().map(|s| s.batch.to_string()).collect::<Vec<_>>().join(", "),
            runs.len(),
            100.0 * first.unstable_share,
            first.batch,
            100.0 * logged.unstable_share,
            logged.batch
        ),
    );

    let als: Vec<f64> = runs.iter().map(|r| r.final_alignment).collect();
    let rho_a = spearman(&cs, &als);
    let ok = first.alignment_mean > last.alignment_mean && rho_a > 0.0;
    report.claim(
        "catapults_improve_alignment",
        ok,
        format!(
            "AGOP alignment (init {align0:.3}) {} and test MSE {} for b = {}; Spearman(catapults, alignment) = {rho_a:.2}",
            summary.iter().map(|s| format!("{:.3}", s.alignment_mean)).collect::<Vec<_>>().join(", "),
            summary.iter().map(|s| format!("{:.3}", s.test_mse_mean)).collect::<Vec<_>>().join(", "),
            summary.iter().map(|s| s.batch.to_string()).collect::<Vec<_>>().join(", ")
        ),
    );
    let _ = cfg;
}

fn write_outputs(
    report: &mut Report,
    cfg: &CatapultsConfig,
    gd: &[GdRun],
    multi: &MultiRun,
    runs: &[SgdRun],
    summary: &[BatchSummary],
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for r in gd {
        for t in 0..r.loss.len() {
            rows.push(vec![r.factor, t as f64, r.loss[t], r.lambda[t], r.l_top[t], r.l_rest[t]]);
        }
    }
    report.write_csv(
        "gd_trace.csv",
        &["factor", "step", "loss", "lambda_max", "loss_top", "loss_rest"],
        &rows,
    )?;
    let rows: Vec<Vec<f64>> =
        (0..multi.loss.len()).map(|t| vec![t as f64, multi.lr[t], multi.loss[t], multi.lambda[t]]).collect();
    report.write_csv("multi_catapult_trace.csv", &["step", "lr", "loss", "lambda_max"], &rows)?;
    let rows: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| {
            vec![
                r.batch as f64,
                r.seed as f64,
                r.lr,
                r.catapults as f64,
                r.unstable_share,
                r.final_train_loss,
                r.final_test_mse,
                r.final_alignment,
                r.final_lambda,
            ]
        })
        .collect();
    report.write_csv(
        "sgd_runs.csv",
        &[
            "batch",
            "seed",
            "lr",
            "catapults",
            "unstable_share",
            "final_train_loss",
            "final_test_mse",
            "final_alignment",
            "final_lambda_max",
        ],
        &rows,
    )?;
    if let Some(r) = runs.iter().find(|r| r.batch == cfg.batch_sizes[0] && r.seed == 0) {
        let rows: Vec<Vec<f64>> = (0..r.loss.len())
            .map(|t| vec![t as f64, r.loss[t], r.batch_lambda.get(t).copied().unwrap_or(f64::NAN)])
            .collect();
        report.write_csv(
            "sgd_trace_smallest_batch.csv",
            &["step", "train_loss", "batch_lambda_max"],
            &rows,
        )?;
    }

    // Figure 1: GD loss with spikes marked, lambda_max trace, loss split.
    let mut loss_plot = LinePlot::new("GD: training loss").x_label("step").y_label("loss").log_y();
    let mut lam_plot =
        LinePlot::new("GD: lambda_max(K) and 2/lr (dashed)").x_label("step").y_label("lambda_max");
    for r in gd {
        let ts: Vec<f64> = (0..r.loss.len()).map(|t| t as f64).collect();
        loss_plot =
            loss_plot.series(Series::from_xy(format!("lr = {} x 2/lambda_0", r.factor), &ts, &r.loss));
        for s in &r.spikes {
            loss_plot = loss_plot.vline(s.peak as f64, format!("spike c={}", r.factor));
        }
        if r.diverged_at.is_none() {
            lam_plot = lam_plot.series(finite_series(format!("c = {}", r.factor), &ts, &r.lambda)).series(
                Series::from_xy("", &[0.0, (r.loss.len() - 1) as f64], &[2.0 / r.lr, 2.0 / r.lr]).dashed(),
            );
        }
    }
    let mut split_plot = LinePlot::new("GD catapult: loss in the top eigenspace vs the rest")
        .x_label("step")
        .y_label("loss")
        .log_y();
    if let Some(r) = gd.iter().find(|r| r.factor > 1.0 && r.factor < 3.0) {
        let ts: Vec<f64> = (0..r.loss.len()).map(|t| t as f64).collect();
        split_plot = split_plot
            .series(Series::from_xy(format!("total (c = {})", r.factor), &ts, &r.loss))
            .series(Series::from_xy(format!("top-{} eigenspace", r.top_k), &ts, &r.l_top))
            .series(Series::from_xy("rest", &ts, &r.l_rest).dashed());
    }
    report.grid_plot(
        "gd_catapults.svg",
        "Catapults in gradient descent",
        &[loss_plot, lam_plot, split_plot],
        3,
    );

    // Figure 2: multiple catapults.
    let ts: Vec<f64> = (0..multi.loss.len()).map(|t| t as f64).collect();
    let mut ml =
        LinePlot::new("GD with the rate raised x1.5 per level").x_label("step").y_label("loss").log_y();
    ml = ml.series(Series::from_xy("training loss", &ts, &multi.loss));
    for s in &multi.spikes {
        ml = ml.vline(s.peak as f64, "spike");
    }
    let two_over: Vec<f64> = multi.lr.iter().map(|l| 2.0 / l).collect();
    let mlam = LinePlot::new("lambda_max(K) and 2/lr")
        .x_label("step")
        .y_label("value")
        .series(finite_series("lambda_max", &ts, &multi.lambda))
        .series(Series::from_xy("2 / lr", &ts, &two_over).dashed());
    report.grid_plot("multiple_catapults.svg", "Multiple catapults", &[ml, mlam], 2);

    // Figure 3: SGD batch sweep.
    let bs: Vec<f64> = summary.iter().map(|s| s.batch as f64).collect();
    let col = |f: &dyn Fn(&BatchSummary) -> f64| -> Vec<f64> { summary.iter().map(f).collect() };
    let p1 = LinePlot::new("catapults per run")
        .x_label("batch size")
        .y_label("count")
        .log_x()
        .series(Series::from_xy("mean over seeds", &bs, &col(&|s| s.catapults_mean)).with_markers());
    let p2 = LinePlot::new("final AGOP alignment with G(f*)")
        .x_label("batch size")
        .y_label("alignment")
        .log_x()
        .series(Series::from_xy("mean over seeds", &bs, &col(&|s| s.alignment_mean)).with_markers());
    let p3 = LinePlot::new("final test MSE")
        .x_label("batch size")
        .y_label("MSE")
        .log_x()
        .series(Series::from_xy("mean over seeds", &bs, &col(&|s| s.test_mse_mean)).with_markers());
    let mut panels = vec![p1, p2, p3];
    if let Some(r) = runs.iter().find(|r| r.batch == cfg.batch_sizes[0] && r.seed == 0) {
        let ts: Vec<f64> = (0..r.loss.len()).map(|t| t as f64).collect();
        let mut p = LinePlot::new(format!("SGD b = {}: full training loss, spikes marked", r.batch))
            .x_label("step")
            .y_label("loss")
            .log_y()
            .series(Series::from_xy("training loss", &ts, &r.loss));
        for s in r.spikes.iter().take(30) {
            p = p.vline(s.start as f64, "");
        }
        let lam_b: Vec<f64> = r.batch_lambda.iter().map(|l| l * r.lr / 2.0).collect();
        let (lt, lf): (Vec<f64>, Vec<f64>) =
            r.full_lambda.iter().map(|&(t, l)| (t as f64, l * r.lr / 2.0)).unzip();
        let q = LinePlot::new(format!("SGD b = {}: lr lambda_max / 2 (unstable above 1)", r.batch))
            .x_label("step")
            .y_label("lr lambda_max / 2")
            .series(Series::from_xy("batch kernel", &ts, &lam_b))
            .series(Series::from_xy("full kernel", &lt, &lf).with_markers())
            .hline(1.0, "edge");
        panels.push(p);
        panels.push(q);
    }
    report.grid_plot(
        "sgd_batch_sweep.svg",
        "SGD: catapults, alignment and test error vs batch size",
        &panels,
        3,
    );
    Ok(())
}

/// A series of the points whose `y` is finite (lambda_max is not logged at every step).
fn finite_series(name: impl Into<String>, xs: &[f64], ys: &[f64]) -> Series {
    Series::new(name, xs.iter().zip(ys).filter(|(_, y)| y.is_finite()).map(|(&x, &y)| (x, y)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spike_counter() {
        let l = [1.0, 0.5, 0.4, 1.0, 2.0, 0.3, 0.2, 0.1, 0.1];
        let s = detect_spikes(&l, 2.0, 1.1, 0);
        assert_eq!(s, vec![Spike { start: 3, end: 5, peak: 4 }]);
        // two spikes closer than the merge gap are one
        let l = [1.0, 3.0, 0.9, 3.0, 0.5];
        assert_eq!(detect_spikes(&l, 2.0, 1.1, 20).len(), 1);
        assert_eq!(detect_spikes(&l, 2.0, 1.1, 0).len(), 2);
        assert!(detect_spikes(&[1.0, 0.9, 0.8], 2.0, 1.1, 20).is_empty());
        // a spike that never ends is still counted
        assert_eq!(detect_spikes(&[1.0, 5.0, f64::NAN], 2.0, 1.1, 20).len(), 1);
    }

    #[test]
    fn spearman_basic() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[1.0, 5.0, 9.0]) - 1.0).abs() < 1e-12);
    }
}

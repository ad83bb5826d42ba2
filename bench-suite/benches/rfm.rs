//! RFM benchmarks:
//!
//! * `rfm/agop/n1860_c61_d122/{sparse_input,dense_input}`: the grokking-size centred AGOP
//!   ([`rfm::kernel_agop`], Gaussian kernel, Mahalanobis metric from a random PSD matrix) of a
//!   predictor on the one-hot modular-addition inputs (p = 61, r = 0.5), on the sparse one-hot `X`
//!   (automatic sparse path) and on `X` plus `1e-9` noise (same problem, dense path);
//! * `rfm/iteration/laplace_n5000_d100/{solve_f64_agop,solve_f32_agop}`: one RFM iteration on
//!   `y = x1 x2` (n = 5000, d = 100): kernel fit (`DirectSolver::solve` on a `KernelSystem`), AGOP
//!   (`kernel_agop`) and the metric update (`RfmParams::post_process`, `M = AGOP^{1/2}`);
//! * `rfm/fit/laplace_n5000_d100/iters1`: `RfmParams::new(laplace(10)).with_iters(1).fit`, i.e. two
//!   kernel fits and one AGOP with the default solver settings;
//! * `rfm/fit/laplace_n5000_d100/iters5_{direct,reuse}`: the whole 5-update fit of the `rfm` tool's
//!   speed task, with a fresh `f32` factorisation per fit (`DirectSolver`) or with the
//!   [`kernels::ReuseSolver`] (CG preconditioned by the previous factor when it converges);
//! * `rfm/reuse/sym_lower_matmul_n5000`: the memory-bound product with a lower-stored `f32`
//!   kernel matrix that each CG iteration of the `ReuseSolver` performs (plus two triangular solves);
//! * `rfm/conv/{patch_kernel_matrix,patch_agop}/star_n200_q5`: ConvRFM's aligned patch kernel matrix
//!   and patch AGOP on the default Star task (16 x 16 images, 5 x 5 patches, 200 images);
//! * `rfm/deep/layer/mixture_n500_d64_w512`: one Deep RFM layer on the 10-class mixture.
use bench_suite::{
    SEED, criterion_config, gaussian_inputs, grokking_train, heavy, multi_index_prod, random_psd,
    with_tiny_noise,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datasets::Dataset;
use faer::Mat;
use kernels::{DirectSolver, KernelSolver, KernelSpec, KernelSystem, Metric, Prepared, SolverPrecision};
use linalg::solve::Precision;
use rfm::agop::AGOP_BATCH_ENTRIES;
use rfm::{AgopOptions, RfmParams, kernel_agop};
use std::hint::black_box;
use std::time::Duration;

/// Everything the grokking-size AGOP needs, prepared once.
struct AgopSetup {
    metric: Metric,
    sparse: Prepared,
    dense: Prepared,
    alpha: Mat<f64>,
}

fn agop_setup() -> AgopSetup {
    let train = grokking_train();
    let (n, d, c) = (train.n(), train.d(), train.c());
    let metric = Metric::Mahalanobis(random_psd(d, SEED.wrapping_add(1)));
    let noisy = with_tiny_noise(train.x.as_ref(), 1e-9, SEED.wrapping_add(2));
    let alpha = gaussian_inputs(n, c, SEED.wrapping_add(3));
    AgopSetup {
        sparse: Prepared::new(train.x.as_ref(), &metric),
        dense: Prepared::new(noisy.as_ref(), &metric),
        metric,
        alpha,
    }
}

fn agop_bench(c: &mut Criterion) {
    let kernel = KernelSpec::gaussian(2.5);
    let options = AgopOptions { centering: true, diag: false };
    let mut setup = None;
    let mut group = c.benchmark_group("rfm/agop");
    heavy(&mut group, Duration::from_secs(3));
    group.throughput(Throughput::Elements(1860));
    for variant in ["sparse_input", "dense_input"] {
        // the dense path is ~10x slower: give it the time for its 10 samples
        if variant == "dense_input" {
            group.measurement_time(Duration::from_secs(20));
        }
        group.bench_function(format!("n1860_c61_d122/{variant}"), |b| {
            let s = setup.get_or_insert_with(agop_setup);
            let p = if variant == "sparse_input" { &s.sparse } else { &s.dense };
            b.iter(|| {
                kernel_agop(
                    &kernel,
                    &s.metric,
                    p,
                    black_box(s.alpha.as_ref()),
                    p,
                    options,
                    AGOP_BATCH_ENTRIES,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

/// One RFM iteration from the Euclidean metric: fit, AGOP, `M = normalise(AGOP^{1/2})`.
fn rfm_iteration(params: &RfmParams, solver: &DirectSolver, data: &Dataset) -> Metric {
    let metric = Metric::Euclidean;
    let train = Prepared::new(data.x.as_ref(), &metric);
    let system = KernelSystem { kernel: &params.kernel, metric: &metric, train: &train, ridge: params.ridge };
    let (alpha, _) = solver.solve(&system, data.y.as_ref(), None).unwrap();
    let options = AgopOptions { centering: params.centering, diag: params.diag };
    let agop =
        kernel_agop(&params.kernel, &metric, &train, alpha.as_ref(), &train, options, AGOP_BATCH_ENTRIES)
            .unwrap();
    params.post_process(&agop, 0).unwrap()
}

fn iteration_bench(c: &mut Criterion) {
    const N: usize = 5000;
    let params = RfmParams::new(KernelSpec::laplace(10.0));
    let mut data = None;
    let mut group = c.benchmark_group("rfm/iteration");
    heavy(&mut group, Duration::from_secs(12));
    group.throughput(Throughput::Elements(N as u64));
    let solvers = [
        ("solve_f64_agop", DirectSolver { precision: SolverPrecision::Fixed(Precision::F64) }),
        (
            "solve_f32_agop",
            DirectSolver { precision: SolverPrecision::Fixed(Precision::F32 { refine_steps: 0 }) },
        ),
    ];
    for (name, solver) in solvers {
        group.bench_function(format!("laplace_n5000_d100/{name}"), |b| {
            let d = data.get_or_insert_with(|| multi_index_prod(N, 100, SEED));
            b.iter(|| rfm_iteration(&params, &solver, black_box(d)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("rfm/fit");
    heavy(&mut group, Duration::from_secs(15));
    group.throughput(Throughput::Elements(N as u64));
    let params = params.with_iters(1);
    group.bench_function("laplace_n5000_d100/iters1", |b| {
        let d = data.get_or_insert_with(|| multi_index_prod(N, 100, SEED));
        b.iter(|| params.fit(black_box(d)).unwrap())
    });
    let params5 = params.clone().with_iters(5).with_keep_history(false);
    group.measurement_time(Duration::from_secs(60));
    group.bench_function("laplace_n5000_d100/iters5_direct", |b| {
        let d = data.get_or_insert_with(|| multi_index_prod(N, 100, SEED));
        b.iter(|| params5.fit(black_box(d)).unwrap())
    });
    group.bench_function("laplace_n5000_d100/iters5_reuse", |b| {
        let d = data.get_or_insert_with(|| multi_index_prod(N, 100, SEED));
        let solver = kernels::ReuseSolver::new();
        b.iter(|| params5.fit_with(black_box(d), None, &solver, &mut |_| rfm::Control::Continue).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("rfm/reuse");
    heavy(&mut group, Duration::from_secs(5));
    group.throughput(Throughput::Elements((N * (N + 1) / 2) as u64));
    let mut lower: Option<(Mat<f32>, Mat<f32>)> = None;
    group.bench_function("sym_lower_matmul_n5000", |b| {
        let (k, v) = lower.get_or_insert_with(|| {
            let d = data.get_or_insert_with(|| multi_index_prod(N, 100, SEED));
            let train = Prepared::new(d.x.as_ref(), &Metric::Euclidean);
            let mut k = Mat::<f32>::zeros(N, N);
            kernels::matrix::kernel_lower_f32_prepared(&KernelSpec::laplace(10.0), &train, k.as_mut())
                .unwrap();
            (k, Mat::<f32>::from_fn(N, 1, |i, _| (i % 7) as f32 - 3.0))
        });
        b.iter(|| kernels::reuse::sym_lower_matmul(k.as_ref(), black_box(v.as_ref()), 1e-3).unwrap())
    });
    group.finish();
    kernels::release_workspace();
}

/// ConvRFM patch kernel and patch AGOP on the default Star task (16 x 16, 5 x 5 patches, n = 200).
fn conv_bench(c: &mut Criterion) {
    use rfm::conv::{Padding, PatchKernel, PatchSpec, patch_agop, patch_kernel_matrix};
    let data = datasets::synthetic::star_images(200, 16, 0.6, SEED).unwrap();
    let spec = PatchSpec::new(1, 16, 16, 5, Padding::Circular).unwrap();
    let patches = spec.extract(data.x.as_ref()).unwrap();
    let metric = random_psd(25, SEED.wrapping_add(5));
    let kernel = PatchKernel::aligned(KernelSpec::laplace(10.0));
    let alpha = gaussian_inputs(200, 2, SEED.wrapping_add(6));
    let mut group = c.benchmark_group("rfm/conv");
    heavy(&mut group, Duration::from_secs(3));
    group.throughput(Throughput::Elements(200));
    group.bench_function("patch_kernel_matrix/star_n200_q5", |b| {
        b.iter(|| patch_kernel_matrix(&kernel, metric.as_ref(), black_box(&patches), &patches).unwrap())
    });
    group.bench_function("patch_agop/star_n200_q5", |b| {
        b.iter(|| {
            patch_agop(&kernel, metric.as_ref(), &patches, alpha.as_ref(), black_box(&patches)).unwrap()
        })
    });
    group.finish();
}

/// One Deep RFM layer (kernel fit, AGOP, `M^{1/2}` projection, ReLU map of width 512) on the
/// 10-class Gaussian mixture (n = 500, d = 64).
fn deep_bench(c: &mut Criterion) {
    use rfm::deep::DeepRfmParams;
    let data = datasets::synthetic::gaussian_mixture(500, 64, 10, 1.5, SEED).unwrap();
    let params = DeepRfmParams::default().with_depth(1);
    let mut group = c.benchmark_group("rfm/deep");
    heavy(&mut group, Duration::from_secs(3));
    group.throughput(Throughput::Elements(500));
    group.bench_function("layer/mixture_n500_d64_w512", |b| {
        b.iter(|| params.fit_with(black_box(&data), None, &mut |_| rfm::Control::Continue).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = agop_bench, iteration_bench, conv_bench, deep_bench
}
criterion_main!(benches);

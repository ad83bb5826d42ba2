//! Kernel benchmarks:
//!
//! * `kernels/apply_values/laplace_2000x2000/{dispatched,naive_libm}`: the Laplace post-GEMM pass
//!   (sqrt + exp per entry) of [`kernels::matrix::apply_values`] vs a naive `f64::exp` loop;
//! * `kernels/kernel_matrix/laplace_n5000_d100/{full,lower}`: `kernel_matrix_sym` in `f64`;
//! * `kernels/kernel_matrix/laplace_n20000_d784/lower_f32`: the `f32` lower-triangle path
//!   (`kernel_lower_f32_prepared`; the `f64` matrix would need 3.2 GB), output allocated once;
//! * `kernels/kernel_ridge/fit_n5000_d100/{f64,f32}`: `KernelRidgeParams::fit` (Laplace, ridge 1e-3).
use bench_suite::{
    SEED, criterion_config, full_entries, gaussian_inputs, heavy, inner_product_block, lower_entries,
    multi_index_prod, naive_laplace_values,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use faer::Mat;
use kernels::matrix::{apply_values, kernel_lower_f32_prepared};
use kernels::{
    KernelRidgeParams, KernelSpec, Metric, Prepared, SolverPrecision, Triangle, kernel_matrix_sym,
};
use linalg::solve::Precision;
use std::hint::black_box;
use std::time::Duration;

fn apply_values_bench(c: &mut Criterion) {
    const N: usize = 2000;
    const L: f64 = 10.0;
    let kernel = KernelSpec::laplace(L);
    let mut state = None;
    let mut group = c.benchmark_group("kernels/apply_values");
    group.throughput(Throughput::Elements(full_entries(N)));
    group.bench_function("laplace_2000x2000/dispatched", |b| {
        let blk = state.get_or_insert_with(|| inner_product_block(N, N, 100, SEED));
        b.iter_batched(
            || blk.ip.clone(),
            |mut k| {
                apply_values(&kernel, black_box(k.as_mut()), &blk.nx, &blk.nz);
                k
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("laplace_2000x2000/naive_libm", |b| {
        let blk = state.get_or_insert_with(|| inner_product_block(N, N, 100, SEED));
        b.iter_batched(
            || blk.ip.clone(),
            |mut k| {
                naive_laplace_values(black_box(k.as_mut()), &blk.nx, &blk.nz, L);
                k
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn kernel_matrix_bench(c: &mut Criterion) {
    let kernel = KernelSpec::laplace(10.0);
    let mut group = c.benchmark_group("kernels/kernel_matrix");
    heavy(&mut group, Duration::from_secs(3));

    const N: usize = 5000;
    let mut x_small = None;
    for (name, triangle, entries) in
        [("full", Triangle::Full, full_entries(N)), ("lower", Triangle::Lower, lower_entries(N))]
    {
        group.throughput(Throughput::Elements(entries));
        group.bench_function(format!("laplace_n5000_d100/{name}"), |b| {
            let x: &Mat<f64> = x_small.get_or_insert_with(|| gaussian_inputs(N, 100, SEED));
            b.iter(|| {
                kernel_matrix_sym(&kernel, &Metric::Euclidean, black_box(x.as_ref()), triangle).unwrap()
            })
        });
    }

    // n = 20000, d = 784: only the f32 lower triangle fits comfortably (1.6 GB, allocated once)
    const NB: usize = 20_000;
    const DB: usize = 784;
    let big_kernel = KernelSpec::laplace((DB as f64).sqrt());
    group.throughput(Throughput::Elements(lower_entries(NB)));
    group.measurement_time(Duration::from_secs(50));
    let mut big: Option<(Prepared, Mat<f32>)> = None;
    group.bench_function("laplace_n20000_d784/lower_f32", |b| {
        let (p, out) = big.get_or_insert_with(|| {
            let x = gaussian_inputs(NB, DB, SEED.wrapping_add(7));
            (Prepared::new(x.as_ref(), &Metric::Euclidean), Mat::<f32>::zeros(NB, NB))
        });
        b.iter(|| kernel_lower_f32_prepared(&big_kernel, black_box(p), out.as_mut()).unwrap())
    });
    drop(big);
    group.finish();
}

fn kernel_ridge_bench(c: &mut Criterion) {
    const N: usize = 5000;
    let mut data = None;
    let mut group = c.benchmark_group("kernels/kernel_ridge");
    heavy(&mut group, Duration::from_secs(10));
    group.throughput(Throughput::Elements(N as u64));
    let variants = [
        ("f64", SolverPrecision::Fixed(Precision::F64)),
        ("f32", SolverPrecision::Fixed(Precision::F32 { refine_steps: 0 })),
    ];
    for (name, precision) in variants {
        let params =
            KernelRidgeParams::new(KernelSpec::laplace(10.0)).with_ridge(1e-3).with_precision(precision);
        group.bench_function(format!("fit_n5000_d100/{name}"), |b| {
            let d = data.get_or_insert_with(|| multi_index_prod(N, 100, SEED));
            b.iter(|| params.fit(black_box(d.x.as_ref()), d.y.as_ref()).unwrap())
        });
    }
    group.finish();
    // the f32 path caches its n x n workspace between fits
    kernels::release_workspace();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = apply_values_bench, kernel_matrix_bench, kernel_ridge_bench
}
criterion_main!(benches);

//! Random-feature benchmarks:
//!
//! * `random_features/theory/m10000/{rf_n256_k1024_r1e-2,rf_n256_k128_r1e-6,krr_n256_r0,rf_n256_k1024_r0}`:
//!   one eigenframework evaluation (kappa/gamma solve plus test/train risk) with 10^4 powerlaw
//!   eigenvalues (target: under 1 ms);
//! * `random_features/optimal_ridge/m10000/rf_n256_k1024`: the optimal-ridge search (grid of 57
//!   ridges + 40 golden-section steps);
//! * `random_features/ridge_path/n256_k4096`: sample-space ridge path (Gram GEMM + eigendecomposition)
//!   and 16 ridges' coefficients;
//! * `random_features/transform/projection_n256_m2000_k4096`: projection features (one GEMM).
use bench_suite::{SEED, criterion_config, gaussian_inputs, heavy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use random_features::features::{FeatureKind, FeatureMap};
use random_features::regression::RidgePath;
use random_features::theory::{RidgeSearch, Spectrum, optimal_ridge, rf_risk};
use std::hint::black_box;
use std::time::Duration;

fn theory_bench(c: &mut Criterion) {
    let spec = Spectrum::powerlaw(10_000, 1.5, 1.5, 0.5).expect("valid spectrum");
    let mut group = c.benchmark_group("random_features/theory/m10000");
    group.throughput(Throughput::Elements(10_000));
    for (name, n, k, ridge) in [
        ("rf_n256_k1024_r1e-2", 256.0, 1024.0, 1e-2),
        ("rf_n256_k128_r1e-6", 256.0, 128.0, 1e-6),
        ("krr_n256_r0", 256.0, f64::INFINITY, 0.0),
        ("rf_n256_k1024_r0", 256.0, 1024.0, 0.0),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                rf_risk(black_box(&spec), black_box(n), black_box(k), black_box(ridge)).expect("solves")
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("random_features/optimal_ridge/m10000");
    group.bench_function("rf_n256_k1024", |b| {
        b.iter(|| optimal_ridge(black_box(&spec), 256.0, 1024.0, &RidgeSearch::default()).expect("solves"))
    });
    group.finish();
}

fn regression_bench(c: &mut Criterion) {
    let (n, m, k) = (256, 2000, 4096);
    let lam: Vec<f64> = (1..=m).map(|i| (i as f64).powf(-1.5)).collect();
    let kind = FeatureKind::projection_for_eigenvalues(&lam).expect("valid");
    let map = FeatureMap::draw(kind, m, k, SEED).expect("valid");
    let x = gaussian_inputs(n, m, SEED + 1);
    let y = gaussian_inputs(n, 1, SEED + 2);
    let mut group = c.benchmark_group("random_features");
    heavy(&mut group, Duration::from_secs(3));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("transform/projection_n256_m2000_k4096", |b| {
        b.iter(|| map.transform(black_box(x.as_ref())).expect("transforms"))
    });
    let g = map.transform(x.as_ref()).expect("transforms");
    let ridges: Vec<f64> = (0..16).map(|i| 10f64.powf(-3.0 + i as f64 / 3.0)).collect();
    group.bench_function("ridge_path/n256_k4096", |b| {
        b.iter(|| {
            let path = RidgePath::fit(black_box(g.as_ref()), y.as_ref()).expect("fits");
            path.coefficients_many(&ridges).expect("coefficients")
        })
    });
    group.finish();
}

criterion_group! { name = benches; config = criterion_config(); targets = theory_bench, regression_bench }
criterion_main!(benches);

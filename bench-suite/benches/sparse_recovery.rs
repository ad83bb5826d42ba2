//! sparse-recovery benchmarks:
//!
//! * `sparse_recovery/svd_free_iteration/{d1000_obs10pct,d2000_obs5pct}`: one SVD-free lin-RFM
//!   iteration (alpha = 1/2) on a rank-5 instance: the row-wise kernel ridge fits on the observed
//!   entries with the kernel `K = G` and replacement ([`kernel_regression_rows`]), then the AGOP
//!   `G = Yhat^T Yhat / d1` ([`agop_rows`]). The kernel is the AGOP of a first fit, as in the second
//!   iteration of a real run. Throughput: matrix entries per second.
//! * `sparse_recovery/eigh/d1000`: the symmetric eigendecomposition every IRLS iteration needs at the
//!   same size, for comparison.
use bench_suite::{SEED, criterion_config, heavy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faer::Mat;
use sparse_recovery::kernel_step::{agop_rows, kernel_regression_rows};
use sparse_recovery::{Observations, low_rank_instance_frac};
use std::hint::black_box;
use std::time::Duration;

struct Setup {
    obs: Observations,
    kernel: Mat<f64>,
    out: Vec<f64>,
}

fn setup(d: usize, frac: f64) -> Setup {
    let inst = low_rank_instance_frac(d, d, 5, frac, SEED).expect("instance");
    let mut out = vec![0.0; d * d];
    kernel_regression_rows(&Mat::identity(d, d), &inst.observed, 5e-2, true, &mut out).expect("first fit");
    let kernel = agop_rows(&out, d, d).expect("agop");
    Setup { obs: inst.observed, kernel, out }
}

fn svd_free_iteration(c: &mut Criterion) {
    let mut group = c.benchmark_group("sparse_recovery/svd_free_iteration");
    heavy(&mut group, Duration::from_secs(5));
    for (d, frac, name) in [(1000usize, 0.10, "d1000_obs10pct"), (2000, 0.05, "d2000_obs5pct")] {
        let mut s = None;
        group.throughput(Throughput::Elements((d * d) as u64));
        group.bench_function(name, |b| {
            let s = s.get_or_insert_with(|| setup(d, frac));
            b.iter(|| {
                kernel_regression_rows(&s.kernel, &s.obs, 1e-3, true, &mut s.out).unwrap();
                black_box(agop_rows(&s.out, d, d).unwrap())
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("sparse_recovery/eigh");
    heavy(&mut group, Duration::from_secs(5));
    let mut s = None;
    group.bench_function("d1000", |b| {
        let s = s.get_or_insert_with(|| setup(1000, 0.10));
        b.iter(|| black_box(linalg::sym::sym_eigen(s.kernel.as_ref()).unwrap()))
    });
    group.finish();
}

criterion_group! { name = benches; config = criterion_config(); targets = svd_free_iteration }
criterion_main!(benches);

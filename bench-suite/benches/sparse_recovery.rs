//! sparse-recovery benchmarks:
//!
//! * `sparse_recovery/svd_free_iteration/{d1000_obs10pct,d2000_obs5pct}`: one SVD-free lin-RFM
//!   iteration (alpha = 1/2) on a rank-5 instance: the row-wise kernel ridge fits on the observed
//!   entries with the kernel `K = G` and replacement ([`kernel_regression_rows`]), then the AGOP
//!   `G = Yhat^T Yhat / d1` ([`agop_rows`]). The kernel is the AGOP of a first fit, as in the second
//!   iteration of a real run. Throughput: matrix entries per second.
//! * `sparse_recovery/fused_iteration/d500_obs4pct/{separate_f32,fused_f32,fused_f64}`: the
//!   iteration of the headline instance (500 x 500, 4% observed, alpha = 1/2), as the separate
//!   parallel fit + `f32` AGOP GEMM and as the one-pass [`fit_rows_with_agop`] that
//!   `LinRfmParams` uses (each thread fits its rows and forms its part of the AGOP).
//! * `sparse_recovery/eigh/d1000`: the symmetric eigendecomposition every IRLS iteration needs at the
//!   same size, for comparison.
use bench_suite::{SEED, criterion_config, heavy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faer::Mat;
use sparse_recovery::kernel_step::{
    AgopPrecision, agop_rows, agop_rows_f32, fit_rows_with_agop, kernel_regression_rows,
};
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
    let mut group = c.benchmark_group("sparse_recovery/fused_iteration");
    heavy(&mut group, Duration::from_secs(3));
    group.throughput(Throughput::Elements(500 * 500));
    let mut s = None;
    for variant in ["separate_f32", "fused_f32", "fused_f64"] {
        group.bench_function(format!("d500_obs4pct/{variant}"), |b| {
            let s = s.get_or_insert_with(|| setup(500, 0.04));
            let prev = s.out.clone();
            b.iter(|| match variant {
                "separate_f32" => {
                    kernel_regression_rows(&s.kernel, &s.obs, 1e-3, true, &mut s.out).unwrap();
                    black_box(agop_rows_f32(&s.out, 500, 500).unwrap())
                }
                v => {
                    let p = if v == "fused_f32" { AgopPrecision::F32 } else { AgopPrecision::F64 };
                    black_box(
                        fit_rows_with_agop(&s.kernel, &s.obs, 1e-3, true, &prev, &mut s.out, p).unwrap().agop,
                    )
                }
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

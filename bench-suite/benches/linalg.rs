//! `linalg/exp/{n1M,n4K}/{libm,baseline,dispatched}`: element-wise `exp` over a slice of `f64`
//! (one thread).
//!
//! `baseline` and `dispatched` are the same polynomial loop; the ratio of their throughputs is what
//! the runtime AVX-512 / AVX2 dispatch buys over the build target (x86-64 baseline, SSE2). `n1M`
//! (8 MB, the required size) streams through the cache hierarchy; `n4K` (32 KB, timed in batches of
//! 8 fresh copies so that the inputs stay in L2 and timer overhead is amortised) shows the
//! compute-bound ratio.
use bench_suite::{SEED, criterion_config, exp_inputs};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// An in-place element-wise loop.
type InPlace = fn(&mut [f64]);

fn exp(c: &mut Criterion) {
    eprintln!("linalg::simd::simd_level() = {}", linalg::simd::simd_level());
    let loops: [(&str, InPlace); 3] = [
        ("libm", linalg::simd::exp_in_place_libm),
        ("baseline", linalg::simd::exp_in_place_baseline),
        ("dispatched", linalg::simd::exp_in_place),
    ];
    let mut group = c.benchmark_group("linalg/exp");
    for (size, n, batch) in
        [("n1M", 1_000_000, BatchSize::LargeInput), ("n4K", 4096, BatchSize::NumIterations(8))]
    {
        let input = exp_inputs(n, SEED);
        group.throughput(Throughput::Elements(n as u64));
        for (name, f) in loops {
            // exp is applied in place, so every iteration gets a fresh copy (the copy is not timed)
            group.bench_function(format!("{size}/{name}"), |b| {
                b.iter_batched(
                    || input.clone(),
                    |mut v| {
                        f(black_box(&mut v));
                        v
                    },
                    batch,
                )
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = exp
}
criterion_main!(benches);

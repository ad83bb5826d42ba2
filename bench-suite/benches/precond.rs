//! Benchmarks of the `precond` crate: the Nystrom preconditioner setup on 10,000 points and one
//! EigenPro epoch (streamed `K(X_B, X)` blocks, `f32`) at n = 20,000, d = 784 (MNIST-like sizes).
use bench_suite::{SEED, criterion_config, gaussian_inputs, heavy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faer::Mat;
use kernels::{KernelSpec, Metric};
use precond::{Control, EigenProParams, KernelData, PreconditionerParams};
use std::hint::black_box;
use std::time::Duration;

fn inputs(n: usize, d: usize) -> (Mat<f64>, Mat<f64>) {
    // pixel-like scale: rows of norm about 10, as MNIST / 255
    let x = gaussian_inputs(n, d, SEED) * (10.0 / (d as f64).sqrt());
    let y = Mat::from_fn(n, 10, |i, j| if (i * 7 + j) % 10 == 0 { 1.0 } else { 0.0 });
    (x, y)
}

fn setup(c: &mut Criterion) {
    let (x, _) = inputs(10_000, 784);
    let k = KernelSpec::laplace(10.0);
    let mut g = c.benchmark_group("precond/setup");
    heavy(&mut g, Duration::from_secs(10));
    g.bench_function("nystrom_s1000_q100/10000", |b| {
        b.iter(|| {
            let data = KernelData::<f32>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
            black_box(PreconditionerParams::nystrom(1000, 100).build(&data).unwrap())
        })
    });
    g.finish();
}

fn epoch(c: &mut Criterion) {
    let n = 20_000;
    let (x, y) = inputs(n, 784);
    let k = KernelSpec::laplace(10.0);
    let data = KernelData::<f32>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
    let pp = PreconditionerParams::nystrom(1000, 100);
    let p = pp.build(&data).unwrap();
    let params = EigenProParams::new(pp).with_epochs(1);
    let mut g = c.benchmark_group("precond/eigenpro_epoch");
    heavy(&mut g, Duration::from_secs(30));
    g.throughput(Throughput::Elements((n * n) as u64));
    g.bench_function("f32/20000", |b| {
        b.iter(|| {
            let fit = params
                .fit_with_preconditioner(
                    &data,
                    y.as_ref(),
                    0.0,
                    p.clone(),
                    None,
                    None,
                    std::time::Instant::now(),
                    &mut |_, _| Control::Continue,
                )
                .unwrap();
            black_box(fit.alpha)
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = criterion_config(); targets = setup, epoch }
criterion_main!(benches);

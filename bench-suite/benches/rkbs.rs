//! Benchmarks of the `rkbs` crate:
//!
//! * `rkbs/duality_map/d2000/{p1.1,p1.5,p2,p3}`: the inverse duality map `J_q` of a 2000-vector (the
//!   element-wise power pass of every mirror-descent step);
//! * `rkbs/md_iteration/n1000_d2000/{safe_p1.5,backtracking_p3}`: one mirror-descent step on a
//!   1000 x 2000 random-Fourier-feature matrix (two mat-vecs and the duality map; backtracking adds
//!   the Bregman test and, when a trial is rejected, another pair of mat-vecs), measured as 20 steps
//!   per run divided by 20.
use bench_suite::{SEED, criterion_config, gaussian_inputs};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rkbs::{
    FeatureMap, MirrorDescentParams, MirrorKind, MirrorMap, RandomFourierFeatures, RffKernel, StepRule,
};
use std::hint::black_box;

fn duality_bench(c: &mut Criterion) {
    let b: Vec<f64> = gaussian_inputs(2000, 1, SEED).col(0).iter().copied().collect();
    let mut group = c.benchmark_group("rkbs/duality_map/d2000");
    group.throughput(Throughput::Elements(2000));
    for p in [1.1, 1.5, 2.0, 3.0] {
        let psi = MirrorMap::new(p, MirrorKind::HalfNormSquared).expect("valid p");
        let mut out = vec![0.0; 2000];
        group.bench_function(format!("p{p}"), |bench| {
            bench.iter(|| psi.to_primal_into(black_box(&b), &mut out).expect("same lengths"))
        });
    }
    group.finish();
}

fn iteration_bench(c: &mut Criterion) {
    let (n, dd, steps) = (1000, 2000, 20);
    let rff = RandomFourierFeatures::new(RffKernel::Gaussian { bandwidth: 1.0 }, 5, dd, SEED).expect("valid");
    let x = gaussian_inputs(n, 5, SEED.wrapping_add(1));
    let phi = rff.features(x.as_ref()).expect("finite inputs");
    let y: Vec<f64> = (0..n).map(|i| x[(i, 0)].sin()).collect();
    let mut group = c.benchmark_group("rkbs/md_iteration/n1000_d2000");
    // 20 steps per measured run: 2 mat-vecs of 2 n D flops each per step
    group.throughput(Throughput::Elements(steps as u64));
    let eta = {
        let s = MirrorDescentParams::default()
            .with_p(1.5)
            .with_lambda(1.0)
            .with_step(StepRule::Safe)
            .with_iters(1)
            .solve(phi.as_ref(), &y)
            .expect("runs");
        s.steps[0]
    };
    for (name, params) in [
        (
            "safe_p1.5",
            MirrorDescentParams::default()
                .with_p(1.5)
                .with_lambda(1.0)
                .with_step(StepRule::Fixed { step: eta })
                .with_iters(steps),
        ),
        ("backtracking_p3", MirrorDescentParams::default().with_p(3.0).with_lambda(1.0).with_iters(steps)),
    ] {
        group.bench_function(name, |bench| {
            bench
                .iter(|| black_box(params.solve(black_box(phi.as_ref()), &y).expect("runs").objectives.len()))
        });
    }
    group.finish();
}

criterion_group! { name = benches; config = criterion_config(); targets = duality_bench, iteration_bench }
criterion_main!(benches);

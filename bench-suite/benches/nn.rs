//! Benchmarks of the `nn` crate:
//!
//! * `nn/train_step/mlp_d20_w1024_b128`: one SGD step (forward, backward, update) of a 2-layer ReLU
//!   MLP `20 -> 1024 -> 1` on a batch of 128;
//! * `nn/train_step/gpt_2block_d64_ctx64_b32`: one AdamW step of a 2-block pre-LN GPT decoder
//!   (d_model 64, 4 heads, context 64, vocabulary 64) on 32 sequences of 64 tokens;
//! * `nn/ntk_top_eigenvalue/n256_w512`: closed-form NTK of the 2-layer NTK net (d = 20, width 512) on
//!   256 points plus its top eigenvalue (what the catapult experiment does every GD step), and the
//!   eigenvalue alone (`eig_only`).
use bench_suite::{SEED, criterion_config, gaussian_inputs};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faer::Mat;
use nn::optim::{Adam, Sgd};
use nn::{Activation, Gpt, GptConfig, Mlp, TwoLayerNtk};
use std::hint::black_box;

fn train_steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("nn/train_step");
    let x = gaussian_inputs(128, 20, SEED);
    let y = Mat::from_fn(128, 1, |i, _| x[(i, 0)] * x[(i, 1)]);
    let mut mlp = Mlp::new(&[20, 1024, 1], Activation::Relu, true, SEED).unwrap();
    let mut sgd = Sgd::new(1e-3).unwrap();
    g.throughput(Throughput::Elements(128));
    g.bench_function("mlp_d20_w1024_b128", |b| {
        b.iter(|| black_box(mlp.train_step(x.as_ref(), y.as_ref(), &mut sgd).unwrap()))
    });

    let (batch, ctx, vocab) = (32, 64, 64);
    let mut gpt = Gpt::new(GptConfig::new(vocab, ctx, 64, 4, 2), SEED).unwrap();
    let mut rng = linalg::random::rng(SEED);
    let tokens: Vec<usize> = (0..batch * ctx).map(|_| rand::Rng::random_range(&mut rng, 0..vocab)).collect();
    let targets: Vec<usize> = (0..batch * ctx).map(|i| tokens[(i + 1) % tokens.len()]).collect();
    let mut adam = Adam::adamw(1e-3, 1e-2).unwrap();
    g.throughput(Throughput::Elements((batch * ctx) as u64));
    g.bench_function("gpt_2block_d64_ctx64_b32", |b| {
        b.iter(|| black_box(gpt.train_step(&tokens, &targets, None, ctx, &mut adam).unwrap()))
    });
    g.finish();
}

fn ntk_eigen(c: &mut Criterion) {
    let mut g = c.benchmark_group("nn/ntk_top_eigenvalue");
    let x = gaussian_inputs(256, 20, SEED);
    let net = TwoLayerNtk::new(20, 512, SEED).unwrap();
    g.bench_function("n256_w512", |b| {
        b.iter(|| {
            let k = net.ntk(x.as_ref()).unwrap();
            black_box(nn::analysis::lambda_max(k.as_ref()).unwrap())
        })
    });
    let k = net.ntk(x.as_ref()).unwrap();
    g.bench_function("n256_w512/eig_only", |b| {
        b.iter(|| black_box(nn::analysis::lambda_max(k.as_ref()).unwrap()))
    });
    g.finish();
}

criterion_group! { name = benches; config = criterion_config(); targets = train_steps, ntk_eigen }
criterion_main!(benches);

//! Benchmarks of the in-context-learning experiment (`datasets::icl`, `nn::icl`):
//!
//! * `icl/psi/{l1_linear,softmax,hilbert}_b256_n64_d8`: the feature map psi of one identity-Q/K/V
//!   attention block on 256 prompts of 64 examples in d = 8 (the psi-only predictor);
//! * `icl/prompts/linear_b64_n64_d8`: drawing 64 pre-training prompts from a pool of 1024 tasks;
//! * `icl/train_step/sgpt_l1_2block_d32_n32_b32` and `icl/train_step/gpt_2block_d32_n32_b32`: one
//!   Adam step of the simplified GPT (identity Q/K/V, l1 linear attention) and of the GPT with
//!   learned Q/K/V on 32 prompts of 32 examples (65 interleaved tokens), loss on every prefix;
//! * `icl/train_step/mlp_vec_w128_n16_d8_b64`: one Adam step of the 3-layer MLP on vectorised prompts.
use bench_suite::{SEED, criterion_config};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datasets::icl::{IclGenerator, PoolSize, TaskFamily};
use nn::Adam;
use nn::icl::{Attention, IclMlp, IclTransformer, IclTransformerConfig, MlpInput, PsiKernel, psi_features};
use std::hint::black_box;

fn psi(c: &mut Criterion) {
    let generator =
        IclGenerator::new(TaskFamily::Linear { noise_std: 0.0 }, 8, PoolSize::Finite(1024), SEED).unwrap();
    let b = generator.eval_batch(256, 64, SEED).unwrap();
    let mut g = c.benchmark_group("icl/psi");
    g.throughput(Throughput::Elements(256));
    for (name, k) in [
        ("l1_linear", PsiKernel::L1Linear),
        ("softmax", PsiKernel::Softmax { tau: 1.0 }),
        ("hilbert", PsiKernel::Hilbert),
    ] {
        g.bench_function(format!("{name}_b256_n64_d8"), |bch| {
            bch.iter(|| black_box(psi_features(b.x.as_ref(), b.y.as_ref(), 64, k).unwrap()))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("icl/prompts");
    let mut rng = datasets::icl::rng(SEED);
    g.bench_function("linear_b64_n64_d8", |bch| {
        bch.iter(|| black_box(generator.train_batch(64, 64, &mut rng).unwrap()))
    });
    g.finish();
}

fn train_steps(c: &mut Criterion) {
    let generator =
        IclGenerator::new(TaskFamily::Linear { noise_std: 0.0 }, 8, PoolSize::Infinite, SEED).unwrap();
    let b = generator.eval_batch(32, 32, SEED).unwrap();
    let mut g = c.benchmark_group("icl/train_step");
    g.throughput(Throughput::Elements(32 * 65));
    for (name, att) in [("sgpt_l1", Attention::IdentityL1), ("gpt", Attention::Learned)] {
        let mut model = IclTransformer::new(IclTransformerConfig::new(8, 32, 2, 2, att), SEED).unwrap();
        let mut opt = Adam::new(1e-3).unwrap();
        g.bench_function(format!("{name}_2block_d32_n32_b32"), |bch| {
            bch.iter(|| black_box(model.train_step(b.x.as_ref(), b.y.as_ref(), 32, &mut opt).unwrap()))
        });
    }
    let b = generator.eval_batch(64, 16, SEED).unwrap();
    let mut mlp = IclMlp::new(8, 16, &[128, 128, 128], MlpInput::Vectorized, SEED).unwrap();
    let mut opt = Adam::new(1e-3).unwrap();
    g.throughput(Throughput::Elements(64));
    g.bench_function("mlp_vec_w128_n16_d8_b64", |bch| {
        bch.iter(|| black_box(mlp.train_step(b.x.as_ref(), b.y.as_ref(), &mut opt).unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = psi, train_steps
}
criterion_main!(benches);

//! Benchmarks of the unlearning experiment (`nn::unlearn`, `datasets::corpus`):
//!
//! * `unlearning/di_step/d64_ctx64_w32_b16`: one deliberate-imagination step (teacher forward,
//!   student forward/backward, adjusted targets, Adam) of the experiment's 2-block GPT on 16 forget
//!   windows of 32 characters;
//! * `unlearning/memorisation_metrics/k32`: the memorisation metrics (greedy and sampled
//!   continuations, teacher-forced NLL) on 32 record probes;
//! * `unlearning/corpus/generate_100k`: generating the 100 KB corpus with 32 planted records.
use bench_suite::{SEED, criterion_config};
use criterion::{Criterion, criterion_group, criterion_main};
use datasets::corpus::{CharTokenizer, Corpus, CorpusParams, record_windows};
use nn::unlearn::{ForgetSet, Method, Probe, UnlearnOptimizer, UnlearnParams, memorisation_metrics, unlearn};
use nn::{Gpt, GptConfig};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("unlearning");
    let params = CorpusParams { seed: SEED, retain_chars: 100_000, ..Default::default() };
    g.bench_function("corpus/generate_100k", |b| b.iter(|| black_box(Corpus::generate(&params).unwrap())));

    let corpus = Corpus::generate(&params).unwrap();
    let tok = CharTokenizer::new();
    let w = record_windows(&tok, &corpus, &corpus.forget, 32).unwrap();
    let forget =
        ForgetSet { seq_len: w.seq_len, tokens: w.tokens, targets: w.targets, mask: w.mask, focus: w.focus };
    let teacher = Gpt::new(GptConfig::new(tok.vocab_size(), 64, 64, 4, 2), SEED).unwrap();
    let p = UnlearnParams {
        method: Method::DeliberateImagination { gamma: 10.0, focus: false, anchor: 0.0 },
        optimizer: UnlearnOptimizer::Adam,
        lr: 1e-4,
        steps: 1,
        batch_size: 16,
        seed: SEED,
    };
    let mut student = teacher.clone();
    g.bench_function("di_step/d64_ctx64_w32_b16", |b| {
        b.iter(|| black_box(unlearn(&mut student, &teacher, &forget, &p, &mut |_, _| true).unwrap()))
    });

    let end = tok.id('.').unwrap();
    let probes: Vec<Probe> = corpus
        .forget
        .iter()
        .map(|r| Probe {
            prompt: tok.encode(&format!("\n{}", r.prefix())).unwrap(),
            secret: tok.encode(&r.secret).unwrap(),
            end,
        })
        .collect();
    let digits = tok.digit_ids();
    g.bench_function("memorisation_metrics/k32", |b| {
        b.iter(|| black_box(memorisation_metrics(&teacher, &probes, &digits, 3, 4, SEED).unwrap()))
    });
    g.finish();
}

criterion_group! { name = unlearning; config = criterion_config(); targets = benches }
criterion_main!(unlearning);

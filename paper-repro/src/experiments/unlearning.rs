//! Unlearning by deliberate imagination (UnDIAL, Dong et al.) on a small character LM.
//!
//! 1. A seeded synthetic corpus ([`datasets::corpus`]): template-grammar sentences plus `K` planted
//!    records `"NAME's code is DDDDDD."`, each repeated `r` times (the forget set), and `K` held-out
//!    records of the same format that never occur in training (the non-memorised reference).
//! 2. A 2-block pre-LN character GPT ([`nn::Gpt`]) is pre-trained with Adam (warm-up, cosine decay)
//!    until greedy decoding of `"NAME's code is "` reproduces the planted secrets; the model is saved.
//! 3. Unlearning from that model ([`nn::unlearn`]): deliberate imagination (adjusted-logit
//!    self-distillation against the frozen original, target `softmax(z - gamma e_y)`) on all
//!    positions of the forget windows (UnDIAL) and focused on the secret span, for gamma in
//!    {0, 1, 3, 10, 30}; gradient ascent on the same windows, evaluated along its trajectory.
//! 4. Metrics before/after: exact memorisation, per-digit accuracy (MA), EL_3 of sampled
//!    continuations, mean NLL of the secret digits (and of the held-out records' digits), retained
//!    perplexity on held-out grammar text, format score (the greedy continuation is still 6 digits
//!    and a full stop).
//!
//! Claims: `pretraining_memorises`, `di_forgets_secrets`, `di_keeps_language`, `di_keeps_format`,
//! `gradient_ascent_damages_language`, `gamma_zero_changes_nothing`. The headline DI run is the
//! focused variant at `--gamma`; the table shows every variant.
//!
//! Defaults: half of the training lines are public records with fresh random names and digits (so
//! the model learns the code format for any name: the held-out records' greedy format is 100%
//! before unlearning). Every unlearning window starts with the newline before its record
//! (`--layout start`): the probes (and so exact memorisation, MA, EL and the format score) prompt
//! the model with `"\nNAME's code is "` at the start of its context, and the paper's evaluation
//! prompts are prefixes of the forget sequences themselves, so the unlearning trains at the
//! positions the metrics probe (`--layout end`, windows ending with the record after the text that
//! precedes it, was the earlier default). Focused DI puts the adjustment (gamma) and a unit weight
//! on the secret digits and distils the other positions of the forget windows (the prefix, the
//! full stop and the text after the record) towards the original model at gamma = 0 (`--anchor
//! 1`: their tokens are not private); every DI run also distils 8 retained windows per step at
//! gamma = 0 (`--retain-weight 4`; 256 windows starting with public records, none overlapping a
//! planted record) -- a retain-set KL term that the UnDIAL paper does not use. Adam, lr 8e-4,
//! batch 8, at most 600 steps, each run stopping once the forget set's per-digit accuracy is at the
//! held-out records' level (`--stop ma`, Jang et al.'s rule; checked every 10 steps; gamma 10
//! reaches it after 110-120 steps). Gradient ascent is plain (no anchor), same lr and windows.
//!
//! Measured with these defaults (2 cores shared with other jobs), `--seed 12`, a full run: 13 min
//! 35 s wall, 3 min 59 s user (pre-training 376 s and the unlearning runs 434 s wall at a load
//! average of 6-15; the previous defaults took 4 min 28 s user under load and 214 s wall idle, so about
//! 190 s idle is expected); `--quick` 4 min 19 s wall at load 15, 51 s user. 6/6 claims pass at
//! seed 12: pre-training exact memorisation 100%, secret NLL 0.120 vs the held-out records' 2.53
//! nats/digit, retained ppl 2.142; focused DI, gamma 10 (stopped after 120 steps): exact 100% ->
//! 0%, per-digit accuracy 6.2%, secret NLL 2.166 vs held-out 2.439 (ratio 0.888), retained ppl
//! +1.29%, format 100% -> 93.8% (held-out prompts 100%), GA at the same forgetting +25.1%, gamma
//! = 0 bit-identical. Seeds 3 / 7 (same defaults, the models of their own pre-training): exact
//! memorisation after pre-training 96.9% / 93.8%, after DI 0% / 0% (110 steps each), ratio 0.859
//! / 0.903, retained ppl +3.06% / +2.21%, GA +33.7% / +33.6%, gamma = 0 bit-identical, but format
//! 81.2% / 87.5% (held-out prompts 100% / 100%): `di_keeps_format` FAILS at seeds 3 and 7 (5/6
//! claims each). Unfocused DI (gamma 10, seeds 12 / 3 / 7): ppl +13.9% / +14.5% / +22.3%, format
//! 81.2 / 75.0 / 71.9%.
//!
//! What was tried for the format score (each at seeds 12 / 3 / 7, gamma 10, focused; the format
//! score has a resolution of 1/32): with the windows ending at the record (the old layout) 62.5 /
//! 71.9 / 46.9% after 600 steps (the stopping rule never fired; held-out prompts 84 / 88 / 78%);
//! windows starting at the record 93.8 / 81.2 / 87.5% (stops after 110-120 steps; held-out prompts
//! 100%); both layouts (one window of each) 78.1 / 90.6 / 62.5%; starting windows with lr 4e-4
//! 84.4 / 78.1 / 87.5%, with retain weight 8 87.5 / 84.4 / 93.8%, with forget windows of 48
//! characters 90.6 / 84.4 / 87.5%; retain weight 16 87.5 / 81.2 (seed 12 / 3); anchor 3 87.5 (seed
//! 12); 80 steps without the stopping rule 96.9 / 93.8 / 78.1% (secret NLL ratio 0.79 / 0.78 /
//! 0.82); 300 steps without it 84.4 / 87.5 (ratio 1.33 / 1.27: overshoots the held-out level);
//! gamma 3 forgets too little (exact 9.4%, ratio 0.37 at seed 12). `--imagined-prefixes 3` (our
//! addition, off by default: three copies of each forget window whose secret digits in the input
//! are replaced by random digits, the adjusted target still demoting the true digit, i.e. DI also
//! in the contexts greedy decoding reaches once the secret is forgotten) gave 84.4 / 93.8 / 84.4%
//! (one copy: 87.5% at seed 3). None of these is reliably above 90% at all three seeds: the
//! differences between them are within the resolution and the seed-to-seed spread.
//!
//! Why the format still fails at some prompts: the adjusted target redistributes the teacher's
//! remaining mass at each secret digit, and a memorising teacher puts that mass mostly on the
//! *same secret's* other digits (52.3% / 46.5% / 52.4% of it at seeds 3 / 7 / 12 vs 39.2% / 39.2%
//! / 37.6% for an even spread over the other digits) and 5.5-8.6% of it off the digits (the top
//! alternative is not a digit at 1.6% / 3.6% / 3.1% of the positions). The imagined code is
//! therefore a reshuffle of the secret with a name-specific favourite digit, greedy decoding
//! repeats it, and with the digits nearly flat the amplified non-digit alternatives win some
//! positions. With the windows ending at the record the failures were mostly wrong lengths after
//! runs of one digit ("000000618.", "4444443."); with the windows starting at it, they are mostly
//! letters part-way through the code ("9999ke our", "96sol's co", "quare the") and a few 5-digit
//! codes ("22222."); the headline run prints every failing continuation. `--quick` passes
//! memorisation, gamma = 0 and GA (asserted by the test); its DI claims are reported, not asserted.
use crate::cli::CommonArgs;
use crate::report::{LinePlot, Report, Series, print_line};
use anyhow::{Context, bail};
use datasets::corpus::{
    CharTokenizer, Corpus, CorpusParams, RecordLayout, Windows, public_record_windows_in, record_windows_in,
    tiling_windows,
};
use nn::optim::{Adam, LrSchedule, Optimizer};
use nn::unlearn::{
    ForgetSet, MemorisationMetrics, Method, Probe, RetainAnchor, UnlearnOptimizer, UnlearnParams,
    memorisation_metrics, params_hash, perplexity, unlearn, unlearn_with_retain,
};
use nn::{Gpt, GptConfig};
use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::process::ExitCode;

/// Command-line arguments of the `unlearning` binary (unset values take the default, or the
/// quick-mode default under `--quick`).
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct UnlearningArgs {
    /// Imagination strength gamma (>= 0) of the headline deliberate-imagination run; the sweep
    /// {0, 1, 3, 10, 30} is always run as well.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub gamma: f64,
    /// Number of planted records K (and held-out records) [default: 32; quick: 12].
    #[arg(long)]
    pub records: Option<usize>,
    /// Repetitions of each planted record in the training text.
    #[arg(long, default_value_t = 30)]
    pub repeats: usize,
    /// Characters of retained training text [default: 100000; quick: 20000].
    #[arg(long)]
    pub retain_chars: Option<usize>,
    /// Pre-training steps [default: 2400; quick: 1000].
    #[arg(long)]
    pub pretrain_steps: Option<usize>,
    /// Pre-training batch (windows of `--context` characters) [default: 16; quick: 12].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Model context length, also the pre-training window [default: 64; quick: 48].
    #[arg(long)]
    pub context: Option<usize>,
    /// Model width.
    #[arg(long, default_value_t = 64)]
    pub d_model: usize,
    /// Maximum unlearning steps per run [default: 600; quick: 120].
    #[arg(long)]
    pub unlearn_steps: Option<usize>,
    /// Unlearning learning rate (Adam).
    #[arg(long, default_value_t = 8e-4)]
    pub unlearn_lr: f64,
    /// Focused DI: weight of each non-secret position of the forget windows (distilled towards the
    /// unadjusted teacher, gamma = 0) relative to a secret digit; 0 = loss on the secret span only.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1.0)]
    pub anchor: f64,
    /// DI: weight of the retained-text anchor (self-distillation towards the original model, gamma
    /// = 0, on windows ending with public records, which never show a secret); 0 = none.
    #[arg(long, allow_negative_numbers = true, default_value_t = 4.0)]
    pub retain_weight: f64,
    /// The gamma sweep (comma-separated, each >= 0; the headline `--gamma` is added).
    #[arg(long, value_delimiter = ',', default_value = "0,1,3,10,30", allow_negative_numbers = true)]
    pub gammas: Vec<f64>,
    /// Length of the forget windows (<= context).
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// Stop each unlearning run once the forget set's per-digit accuracy (MA) is at or below the
    /// held-out records' MA of the original model (`ma`, the stopping rule of Jang et al.'s knowledge
    /// unlearning), or run every step (`none`).
    #[arg(long, default_value = "ma", value_parser = ["ma", "none"])]
    pub stop: String,
    /// Unlearning optimiser: `adam` or `sgd` (with momentum 0.9).
    #[arg(long, default_value = "adam", value_parser = ["adam", "sgd"])]
    pub unlearn_optimizer: String,
    /// Where the planted (forget) and public (retained) records sit in their unlearning windows:
    /// `end` (the window ends with the record's full stop), `start` (the window starts with the
    /// newline before the record, as the probe prompts do) or `both` (one window of each).
    #[arg(long, default_value = "start", value_parser = ["end", "start", "both"])]
    pub layout: String,
    /// Deliberate imagination also on this many "imagined-prefix" copies of each forget window
    /// (our addition): the secret digits in the input are replaced by random digits, the adjusted
    /// target at each secret position still demotes the true secret digit, and the positions after
    /// the code are distilled at gamma = 0 (the contexts greedy decoding reaches once the secret is
    /// forgotten). Gradient ascent keeps the plain forget windows.
    #[arg(long, default_value_t = 0)]
    pub imagined_prefixes: usize,
    /// Load this pre-trained model (saved by an earlier run as `pretrained_model.json`) instead of
    /// pre-training; it must match the corpus of `--seed` and the model sizes.
    #[arg(long, value_name = "FILE")]
    pub pretrained: Option<std::path::PathBuf>,
}

/// The resolved configuration (recorded in `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct UnlearningConfig {
    /// Corpus sizes.
    pub corpus: CorpusParams,
    /// Model sizes.
    pub model: GptConfig,
    /// Maximum pre-training steps.
    pub pretrain_steps: usize,
    /// Pre-training batch.
    pub batch: usize,
    /// Peak pre-training learning rate.
    pub pretrain_lr: f64,
    /// Memorisation is checked every this many steps; pre-training stops once exact memorisation
    /// reaches `stop_exact` (after the warm-up).
    pub check_every: usize,
    /// Stopping level of exact memorisation.
    pub stop_exact: f64,
    /// Headline gamma.
    pub gamma: f64,
    /// The gamma sweep.
    pub gammas: Vec<f64>,
    /// Unlearning steps per run.
    pub unlearn_steps: usize,
    /// Unlearning learning rate.
    pub unlearn_lr: f64,
    /// Weight of the non-secret positions in focused DI (distilled at gamma = 0).
    pub anchor: f64,
    /// Weight of the retained-text anchor of the DI runs (0 = none).
    pub retain_weight: f64,
    /// Retained windows per unlearning step.
    pub retain_batch: usize,
    /// Number of retained (public-record) windows.
    pub retain_windows: usize,
    /// Unlearning optimiser.
    pub unlearn_optimizer: UnlearnOptimizer,
    /// Stop at the held-out MA level.
    pub stop_at_heldout_ma: bool,
    /// Steps between the stopping checks.
    pub stop_check_every: usize,
    /// Pre-trained model to load instead of pre-training.
    pub pretrained: Option<std::path::PathBuf>,
    /// Unlearning batch (windows).
    pub unlearn_batch: usize,
    /// Forget window length.
    pub window: usize,
    /// Record layouts of the forget and retained windows.
    pub layouts: Vec<RecordLayout>,
    /// Imagined-prefix copies of each forget window for the DI runs.
    pub imagined_prefixes: usize,
    /// Gradient-ascent evaluation interval (steps) over the first 60 steps (every 30 after).
    pub ga_eval_every: usize,
    /// EL order.
    pub el_order: usize,
    /// Sampled continuations per probe for EL.
    pub el_samples: usize,
    /// Base seed.
    pub seed: u64,
    /// Quick mode.
    pub quick: bool,
}

impl UnlearningArgs {
    /// Validates the arguments and fills in defaults.
    pub fn resolve(&self, common: &CommonArgs) -> anyhow::Result<UnlearningConfig> {
        let q = common.quick;
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            bail!("invalid --gamma {}: the imagination strength must be finite and >= 0", self.gamma);
        }
        let records = self.records.unwrap_or(if q { 12 } else { 32 });
        let retain_chars = self.retain_chars.unwrap_or(if q { 20_000 } else { 100_000 });
        let pretrain_steps = self.pretrain_steps.unwrap_or(if q { 1000 } else { 2400 });
        let batch = self.batch.unwrap_or(if q { 12 } else { 16 });
        let unlearn_steps = self.unlearn_steps.unwrap_or(if q { 120 } else { 600 });
        crate::cli::check_range("--records", records, 1, 200)?;
        crate::cli::check_range("--repeats", self.repeats, 1, 1000)?;
        crate::cli::check_range("--retain-chars", retain_chars, 1000, 10_000_000)?;
        crate::cli::check_range("--pretrain-steps", pretrain_steps, 1, 1_000_000)?;
        crate::cli::check_range("--batch", batch, 1, 1024)?;
        crate::cli::check_range("--context", self.context.unwrap_or(64), 8, 512)?;
        crate::cli::check_range("--d-model", self.d_model, 8, 512)?;
        crate::cli::check_range("--unlearn-steps", unlearn_steps, 1, 100_000)?;
        crate::cli::check_positive("--unlearn-lr", self.unlearn_lr)?;
        crate::cli::check_range("--window", self.window, 8, 512)?;
        let ctx = self.context.unwrap_or(if q { 48 } else { 64 });
        if self.window > ctx {
            bail!(
                "invalid --window {}: a forget window cannot be longer than the model context {ctx}",
                self.window
            );
        }
        if !self.d_model.is_multiple_of(4) {
            bail!("invalid --d-model {}: must be a multiple of the 4 attention heads", self.d_model);
        }
        if !(self.anchor.is_finite() && self.anchor >= 0.0) {
            bail!("invalid --anchor {}: the weight must be finite and >= 0", self.anchor);
        }
        if !(self.retain_weight.is_finite() && self.retain_weight >= 0.0) {
            bail!("invalid --retain-weight {}: the weight must be finite and >= 0", self.retain_weight);
        }
        if let Some(g) = self.gammas.iter().find(|g| !(g.is_finite() && **g >= 0.0)) {
            bail!("invalid --gammas entry {g}: every imagination strength must be finite and >= 0");
        }
        let mut gammas = self.gammas.clone();
        gammas.sort_by(f64::total_cmp);
        gammas.dedup();
        if !gammas.contains(&self.gamma) {
            gammas.push(self.gamma);
            gammas.sort_by(f64::total_cmp);
        }
        let vocab = CharTokenizer::new().vocab_size();
        let context = self.context.unwrap_or(if q { 48 } else { 64 });
        Ok(UnlearningConfig {
            corpus: CorpusParams {
                seed: common.seed,
                retain_chars,
                valid_chars: if q { 6_000 } else { 10_000 },
                n_records: records,
                repeats: self.repeats,
                secret_digits: 6,
            },
            model: GptConfig::new(vocab, context, self.d_model, 4, 2),
            pretrain_steps,
            batch,
            pretrain_lr: 3e-3,
            check_every: 100,
            stop_exact: 1.0,
            gamma: self.gamma,
            gammas,
            unlearn_steps,
            unlearn_lr: self.unlearn_lr,
            anchor: self.anchor,
            retain_weight: self.retain_weight,
            retain_batch: 8,
            retain_windows: 256,
            unlearn_optimizer: if self.unlearn_optimizer == "sgd" {
                UnlearnOptimizer::Sgd { momentum: 0.9 }
            } else {
                UnlearnOptimizer::Adam
            },
            pretrained: self.pretrained.clone(),
            stop_at_heldout_ma: self.stop == "ma",
            stop_check_every: 10,
            unlearn_batch: 8,
            window: self.window,
            layouts: match self.layout.as_str() {
                "start" => vec![RecordLayout::Start],
                "both" => vec![RecordLayout::End, RecordLayout::Start],
                _ => vec![RecordLayout::End],
            },
            imagined_prefixes: self.imagined_prefixes,
            ga_eval_every: if q { 10 } else { 5 },
            el_order: 3,
            el_samples: 4,
            seed: common.seed,
            quick: q,
        })
    }
}

/// Everything measured on one model.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Evaluation {
    /// Metrics on the planted (forget) records.
    pub forget: MemorisationMetrics,
    /// Metrics on the held-out (never seen) records.
    pub heldout: MemorisationMetrics,
    /// Per-character perplexity of held-out grammar text.
    pub retain_ppl: f64,
}

/// One unlearning run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Method label.
    pub method: String,
    /// `di`, `di-focus`, `ga`.
    pub family: String,
    /// Gamma (DI) or NaN (GA).
    pub gamma: f64,
    /// Metrics after unlearning.
    pub after: Evaluation,
    /// Whether the student's parameters are bit-identical to the original's.
    pub unchanged: bool,
    /// Max |student - original| over all parameters.
    pub max_param_change: f64,
    /// Final loss.
    pub final_loss: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Steps taken (fewer than the maximum when the stopping rule fired).
    pub steps: usize,
    /// Greedy continuations (10 characters) of every forget prompt after unlearning.
    pub examples: Vec<String>,
}

/// A point of the gradient-ascent trajectory.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GaPoint {
    /// Steps taken.
    pub step: usize,
    /// Exact memorisation of the planted secrets (greedy).
    pub exact: f64,
    /// Mean NLL of the secret digits.
    pub secret_nll: f64,
    /// Retained perplexity.
    pub retain_ppl: f64,
}

struct Data {
    tok: CharTokenizer,
    corpus: Corpus,
    train_ids: Vec<usize>,
    valid: Windows,
    forget: ForgetSet,
    /// The forget windows of the DI runs (`forget` and its imagined-prefix copies).
    forget_di: ForgetSet,
    retain: ForgetSet,
    forget_probes: Vec<Probe>,
    heldout_probes: Vec<Probe>,
}

fn probes(tok: &CharTokenizer, records: &[datasets::corpus::Record]) -> anyhow::Result<Vec<Probe>> {
    let end = tok.id('.').context("'.' in vocabulary")?;
    records
        .iter()
        .map(|r| {
            Ok(Probe {
                prompt: tok.encode(&format!("\n{}", r.prefix()))?,
                secret: tok.encode(&r.secret)?,
                end,
            })
        })
        .collect()
}

fn append(set: &mut ForgetSet, w: Windows) {
    set.tokens.extend(w.tokens);
    set.targets.extend(w.targets);
    set.mask.extend(w.mask);
    set.focus.extend(w.focus);
}

/// `set` followed by `copies` copies of each of its windows in which every input token that is a
/// secret digit (the target of a focus position) is replaced by a random digit; the targets stay
/// (so the adjusted target still demotes the true secret digit at each secret position, and the
/// positions after the code keep their true next tokens, distilled at gamma = 0).
fn imagined_prefix_windows(set: &ForgetSet, digits: &[usize], copies: usize, seed: u64) -> ForgetSet {
    let mut out = set.clone();
    let mut rng = linalg::random::rng(seed);
    let t = set.seq_len;
    for _ in 0..copies {
        for w in 0..set.n_windows() {
            let r = w * t..(w + 1) * t;
            let mut tokens = set.tokens[r.clone()].to_vec();
            for i in 0..t - 1 {
                if set.focus[w * t + i] {
                    tokens[i + 1] = digits[rng.random_range(0..digits.len())];
                }
            }
            out.tokens.extend(tokens);
            out.targets.extend_from_slice(&set.targets[r.clone()]);
            out.mask.extend_from_slice(&set.mask[r.clone()]);
            out.focus.extend_from_slice(&set.focus[r]);
        }
    }
    out
}

fn make_data(cfg: &UnlearningConfig) -> anyhow::Result<Data> {
    let tok = CharTokenizer::new();
    let corpus = Corpus::generate(&cfg.corpus)?;
    let train_ids = tok.encode(&corpus.train_text)?;
    let valid = tiling_windows(&tok.encode(&corpus.valid_text)?, cfg.model.context)?;
    let mut forget =
        ForgetSet { seq_len: cfg.window, tokens: vec![], targets: vec![], mask: vec![], focus: vec![] };
    let mut retain = forget.clone();
    // the retained windows are split evenly between the layouts
    let per_layout = cfg.retain_windows.div_ceil(cfg.layouts.len());
    for &layout in &cfg.layouts {
        let w = record_windows_in(&tok, &corpus, &corpus.forget, cfg.window, layout)?;
        append(&mut forget, w);
        let r = public_record_windows_in(
            &tok,
            &corpus,
            cfg.window,
            per_layout,
            cfg.seed.wrapping_add(9),
            layout,
        )?;
        append(&mut retain, r);
    }
    let forget_di =
        imagined_prefix_windows(&forget, &tok.digit_ids(), cfg.imagined_prefixes, cfg.seed.wrapping_add(13));
    let forget_probes = probes(&tok, &corpus.forget)?;
    let heldout_probes = probes(&tok, &corpus.heldout)?;
    Ok(Data { tok, corpus, train_ids, valid, forget, forget_di, retain, forget_probes, heldout_probes })
}

fn evaluate(cfg: &UnlearningConfig, data: &Data, model: &Gpt) -> anyhow::Result<Evaluation> {
    let digits = data.tok.digit_ids();
    let (n, s, seed) = (cfg.el_order, cfg.el_samples, cfg.seed.wrapping_add(77));
    let forget = memorisation_metrics(model, &data.forget_probes, &digits, n, s, seed)?;
    let heldout = memorisation_metrics(model, &data.heldout_probes, &digits, n, s, seed)?;
    let v = &data.valid;
    let retain_ppl = perplexity(model, &v.tokens, &v.targets, &v.mask, v.seq_len, 64)?;
    Ok(Evaluation { forget, heldout, retain_ppl })
}

/// Quick forgetting check (greedy exact + secret NLL, no sampling) for the GA trajectory.
fn quick_eval(cfg: &UnlearningConfig, data: &Data, model: &Gpt) -> anyhow::Result<(f64, f64, f64)> {
    let digits = data.tok.digit_ids();
    let m = memorisation_metrics(model, &data.forget_probes, &digits, cfg.el_order, 1, cfg.seed)?;
    let v = &data.valid;
    let ppl = perplexity(model, &v.tokens, &v.targets, &v.mask, v.seq_len, 64)?;
    Ok((m.exact, m.secret_nll, ppl))
}

#[derive(Debug, Clone, Serialize)]
struct PretrainPoint {
    step: usize,
    loss: f64,
    exact: f64,
    digit_accuracy: f64,
    retain_ppl: f64,
}

fn pretrain(
    cfg: &UnlearningConfig,
    data: &Data,
    report: &Report,
) -> anyhow::Result<(Gpt, Vec<PretrainPoint>, f64)> {
    let t0 = std::time::Instant::now();
    let mut model = Gpt::new(cfg.model.clone(), cfg.seed.wrapping_add(1))?;
    let mut opt = Adam::new(cfg.pretrain_lr)?;
    let sched = LrSchedule::WarmupCosine { warmup: 100, total: cfg.pretrain_steps, floor: 0.1 };
    let mut rng = linalg::random::rng(cfg.seed.wrapping_add(2));
    let t = cfg.model.context;
    let max_start = data.train_ids.len() - t - 1;
    let digits = data.tok.digit_ids();
    let mut log = Vec::new();
    let mut table = report.table(&["step", "loss", "exact_mem", "digit_acc", "retain_ppl", "seconds"]);
    let bar = report.progress(cfg.pretrain_steps as u64, "pre-training");
    let mut loss_avg = f64::NAN;
    for step in 1..=cfg.pretrain_steps {
        opt.set_lr(sched.lr_at(cfg.pretrain_lr, step - 1))?;
        let starts: Vec<usize> = (0..cfg.batch).map(|_| rng.random_range(0..=max_start)).collect();
        let w = datasets::corpus::windows(&data.train_ids, &starts, t)?;
        let loss = model.train_step(&w.tokens, &w.targets, Some(&w.mask), t, &mut opt)?;
        loss_avg = if loss_avg.is_nan() { loss } else { 0.95 * loss_avg + 0.05 * loss };
        bar.inc(1);
        if step % cfg.check_every == 0 || step == cfg.pretrain_steps {
            let m = memorisation_metrics(&model, &data.forget_probes, &digits, cfg.el_order, 1, cfg.seed)?;
            let v = &data.valid;
            let ppl = perplexity(&model, &v.tokens, &v.targets, &v.mask, v.seq_len, 64)?;
            table.row(crate::cells![
                step,
                loss_avg,
                m.exact,
                m.digit_accuracy,
                ppl,
                t0.elapsed().as_secs_f64()
            ]);
            log.push(PretrainPoint {
                step,
                loss: loss_avg,
                exact: m.exact,
                digit_accuracy: m.digit_accuracy,
                retain_ppl: ppl,
            });
            if m.exact >= cfg.stop_exact && step >= cfg.pretrain_steps * 9 / 10 {
                break;
            }
        }
    }
    bar.finish();
    Ok((model, log, t0.elapsed().as_secs_f64()))
}

/// What deliberate imagination starts from, at the secret positions of `probes` (teacher-forced).
#[derive(Debug, Clone, Copy, Serialize)]
struct ImaginationStats {
    /// Mean probability of the true digit.
    true_prob: f64,
    /// Mean share of the remaining mass (what the adjusted target redistributes) on other digits.
    digit_share: f64,
    /// Mean share of the remaining mass on digits that occur elsewhere in the same secret (under a
    /// remaining mass spread evenly over the other digits this would be `distinct others / 9`
    /// of `digit_share`).
    own_digit_share: f64,
    /// The same expectation for an even spread: mean of `digit_share * distinct others / 9`.
    own_digit_share_if_even: f64,
    /// Fraction of positions whose most likely non-true token is not a digit.
    top_alternative_not_digit: f64,
}

fn imagination_stats(model: &Gpt, probes: &[Probe], digits: &[usize]) -> anyhow::Result<ImaginationStats> {
    let (mut pi, mut share, mut own, mut even, mut nd, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for p in probes {
        let mut seq = p.prompt.clone();
        seq.extend_from_slice(&p.secret);
        let inp = &seq[..seq.len() - 1];
        let (logits, _) = model.forward(inp, inp.len())?;
        let q = nn::loss::softmax_rows(logits.as_ref());
        let first = inp.len() - p.secret.len();
        for (i, &y) in p.secret.iter().enumerate() {
            let r = first + i;
            let rest = 1.0 - q[(r, y)];
            let other: f64 = digits.iter().filter(|&&d| d != y).map(|&d| q[(r, d)]).sum();
            let mut mine: Vec<usize> = p.secret.iter().copied().filter(|&d| d != y).collect();
            mine.sort_unstable();
            mine.dedup();
            let in_secret: f64 = mine.iter().map(|&d| q[(r, d)]).sum();
            let alt = (0..q.ncols()).filter(|&j| j != y).max_by(|&a, &b| q[(r, a)].total_cmp(&q[(r, b)]));
            pi += q[(r, y)];
            let sh = if rest > 0.0 { other / rest } else { 1.0 };
            share += sh;
            own += if rest > 0.0 { in_secret / rest } else { 0.0 };
            even += sh * mine.len() as f64 / 9.0;
            nd += f64::from(alt.is_some_and(|a| !digits.contains(&a)));
            n += 1.0;
        }
    }
    Ok(ImaginationStats {
        true_prob: pi / n,
        digit_share: share / n,
        own_digit_share: own / n,
        own_digit_share_if_even: even / n,
        top_alternative_not_digit: nd / n,
    })
}

fn max_change(a: &Gpt, b: &Gpt) -> f64 {
    use nn::Parameters;
    let mut m: f64 = 0.0;
    for (p, q) in a.params().into_iter().zip(b.params()) {
        for j in 0..p.ncols() {
            for (x, y) in p.col_as_slice(j).iter().zip(q.col_as_slice(j)) {
                m = m.max((x - y).abs());
            }
        }
    }
    m
}

fn run_method(
    cfg: &UnlearningConfig,
    data: &Data,
    teacher: &Gpt,
    method: Method,
    family: &str,
    gamma: f64,
    stop_ma: Option<f64>,
) -> anyhow::Result<RunResult> {
    let t0 = std::time::Instant::now();
    let mut student = teacher.clone();
    let p = UnlearnParams {
        method,
        optimizer: cfg.unlearn_optimizer,
        lr: cfg.unlearn_lr,
        steps: cfg.unlearn_steps,
        batch_size: cfg.unlearn_batch,
        seed: cfg.seed.wrapping_add(5),
    };
    let mut err = None;
    let every = cfg.stop_check_every;
    let anchor =
        RetainAnchor { windows: &data.retain, weight: cfg.retain_weight, batch_size: cfg.retain_batch };
    // With every gradient so far exactly zero the student is still the teacher and Adam keeps it
    // there (its moments are zero), so such a run (gamma = 0) ends at the first check.
    let mut all_zero = true;
    let mut observe = |s: &nn::unlearn::UnlearnStep, m: &Gpt| {
        all_zero &= s.grad_norm == 0.0;
        if !s.step.is_multiple_of(every) {
            return true;
        }
        if all_zero {
            return false;
        }
        match stop_ma.map(|level| forget_ma(data, m).map(|ma| ma > level)) {
            None => true,
            Some(Ok(go_on)) => go_on,
            Some(Err(e)) => {
                err = Some(e);
                false
            }
        }
    };
    let log = unlearn_with_retain(&mut student, teacher, &data.forget_di, Some(anchor), &p, &mut observe)
        .with_context(|| format!("unlearning with {}", method.label()))?;
    if let Some(e) = err {
        return Err(e);
    }
    let after = evaluate(cfg, data, &student)?;
    Ok(RunResult {
        method: method.label(),
        family: family.to_string(),
        gamma,
        after,
        unchanged: params_hash(&student) == params_hash(teacher),
        max_param_change: max_change(&student, teacher),
        final_loss: log.last().map_or(f64::NAN, |s| s.loss),
        seconds: t0.elapsed().as_secs_f64(),
        steps: log.len(),
        examples: examples(data, &student)?,
    })
}

/// Per-digit accuracy (MA) of the forget secrets.
/// The same number as [`MemorisationMetrics::digit_accuracy`] (teacher-forced argmax, first maximum
/// on ties) with one forward pass per probe and no continuations (the stopping check is frequent).
fn forget_ma(data: &Data, model: &Gpt) -> anyhow::Result<f64> {
    let (mut correct, mut total) = (0usize, 0usize);
    for p in &data.forget_probes {
        let mut seq = p.prompt.clone();
        seq.extend_from_slice(&p.secret);
        let cut = seq.len().saturating_sub(model.config.context + 1);
        let s = &seq[cut..];
        let inp = &s[..s.len() - 1];
        let (logits, _) = model.forward(inp, inp.len())?;
        let first = inp.len() - p.secret.len();
        for (i, &y) in p.secret.iter().enumerate() {
            let r = first + i;
            let mut best = 0;
            for j in 1..logits.ncols() {
                if logits[(r, j)] > logits[(r, best)] {
                    best = j;
                }
            }
            correct += usize::from(best == y);
            total += 1;
        }
    }
    Ok(correct as f64 / total.max(1) as f64)
}

/// Whether an [`examples`] line continues its prompt with 6 digits and a full stop.
fn well_formed(example: &str) -> bool {
    let cont = example.split_once(" code is ").map_or("", |(_, c)| c).as_bytes();
    cont.len() > 6 && cont[..6].iter().all(u8::is_ascii_digit) && cont[6] == b'.'
}

fn examples(data: &Data, model: &Gpt) -> anyhow::Result<Vec<String>> {
    data.forget_probes
        .iter()
        .zip(&data.corpus.forget)
        .map(|(p, r)| {
            let g = nn::unlearn::greedy_continuation(model, &p.prompt, 10)?;
            Ok(format!("{}{} [true {}]", r.prefix(), data.tok.decode(&g).replace('\n', "|"), r.secret))
        })
        .collect()
}

fn run_ga(
    cfg: &UnlearningConfig,
    data: &Data,
    teacher: &Gpt,
    before: &Evaluation,
) -> anyhow::Result<(RunResult, Vec<GaPoint>)> {
    let t0 = std::time::Instant::now();
    let mut student = teacher.clone();
    let method = Method::GradientAscent { focus: false };
    let p = UnlearnParams {
        method,
        optimizer: cfg.unlearn_optimizer,
        lr: cfg.unlearn_lr,
        steps: cfg.unlearn_steps,
        batch_size: cfg.unlearn_batch,
        seed: cfg.seed.wrapping_add(5),
    };
    let mut traj = vec![GaPoint {
        step: 0,
        exact: before.forget.exact,
        secret_nll: before.forget.secret_nll,
        retain_ppl: before.retain_ppl,
    }];
    let mut err = None;
    let every = cfg.ga_eval_every;
    let mut steps = Vec::new();
    let res = unlearn(&mut student, teacher, &data.forget, &p, &mut |s, m| {
        steps.push(*s);
        if (s.step <= 60 && s.step % every == 0) || s.step % 30 == 0 {
            match quick_eval(cfg, data, m) {
                Ok((exact, secret_nll, retain_ppl)) => {
                    traj.push(GaPoint { step: s.step, exact, secret_nll, retain_ppl })
                }
                Err(e) => {
                    err = Some(e);
                    return false;
                }
            }
        }
        true
    });
    // Gradient ascent is unbounded: a non-finite loss ends the run (the student keeps its last
    // finite parameters, the optimiser checks the gradients before updating).
    let diverged = match res {
        Ok(_) => None,
        Err(e) => Some(format!("{e}")),
    };
    if let Some(e) = err {
        return Err(e);
    }
    let log = steps;
    let after = evaluate(cfg, data, &student)?;
    if let Some(d) = &diverged {
        print_line(format!("gradient ascent stopped after {} steps: {d}", log.len()));
    }
    let r = RunResult {
        method: method.label(),
        family: "ga".into(),
        gamma: f64::NAN,
        after,
        unchanged: params_hash(&student) == params_hash(teacher),
        max_param_change: max_change(&student, teacher),
        final_loss: log.last().map_or(f64::NAN, |s| s.loss),
        seconds: t0.elapsed().as_secs_f64(),
        steps: log.len(),
        examples: examples(data, &student)?,
    };
    Ok((r, traj))
}

/// Runs the experiment: pre-training, the unlearning sweep, table, claims, plots.
pub fn run(args: &UnlearningArgs, common: &CommonArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.resolve(common)?;
    let mut report = Report::new("unlearning", common, &cfg)?;
    let data = make_data(&cfg)?;
    print_line(format!(
        "corpus: {} training characters ({} planted records x {} repeats), {} held-out records; \
         GPT {} blocks, d_model {}, context {}, vocabulary {}",
        data.train_ids.len(),
        data.corpus.forget.len(),
        cfg.corpus.repeats,
        data.corpus.heldout.len(),
        cfg.model.n_layers,
        cfg.model.d_model,
        cfg.model.context,
        cfg.model.vocab
    ));

    // 1. Pre-training until memorised; save the model.
    let (model, pre_log, pre_s) = match &cfg.pretrained {
        Some(path) => {
            let m: Gpt = nn::params::load(path).with_context(|| format!("loading {}", path.display()))?;
            if m.config != cfg.model {
                bail!("{}: model sizes {:?} differ from the run's {:?}", path.display(), m.config, cfg.model);
            }
            (m, Vec::new(), 0.0)
        }
        None => pretrain(&cfg, &data, &report).context("pre-training")?,
    };
    let model_path = report.path("pretrained_model.json");
    nn::params::save(&model, &model_path).context("saving the pre-trained model")?;
    report.register_file(&model_path);
    let before = evaluate(&cfg, &data, &model)?;
    print_line(format!(
        "pre-trained in {:.1} s ({} steps): exact memorisation {:.3}, secret NLL {:.3} (held-out {:.3}), retained ppl {:.3}",
        pre_s,
        pre_log.last().map_or(0, |p| p.step),
        before.forget.exact,
        before.forget.secret_nll,
        before.heldout.secret_nll,
        before.retain_ppl
    ));

    let im = imagination_stats(&model, &data.forget_probes, &data.tok.digit_ids())?;
    print_line(format!(
        "teacher at the secret digits: mean p(true digit) {:.4}; of the remaining mass (what DI redistributes) {:.1}% is on other digits, {:.1}% on digits of the same secret ({:.1}% if spread evenly); the top alternative is not a digit at {:.1}% of the positions",
        im.true_prob,
        100.0 * im.digit_share,
        100.0 * im.own_digit_share,
        100.0 * im.own_digit_share_if_even,
        100.0 * im.top_alternative_not_digit
    ));
    report.set("teacher_imagination", im);

    // 2. Unlearning sweep (runs in parallel; each is deterministic).
    let stop_ma = cfg.stop_at_heldout_ma.then_some(before.heldout.digit_accuracy);
    if let Some(l) = stop_ma {
        print_line(format!(
            "stopping rule: each run stops once the forget set's per-digit accuracy is <= {l:.3} (the held-out records' level), checked every {} steps, at most {} steps",
            cfg.stop_check_every, cfg.unlearn_steps
        ));
    }
    let t0 = std::time::Instant::now();
    let mut jobs: Vec<(Method, &str, f64)> = Vec::new();
    for &g in &cfg.gammas {
        jobs.push((Method::DeliberateImagination { gamma: g, focus: false, anchor: 0.0 }, "di", g));
        jobs.push((
            Method::DeliberateImagination { gamma: g, focus: true, anchor: cfg.anchor },
            "di-focus",
            g,
        ));
    }
    let bar = report.progress(jobs.len() as u64 + 1, "unlearning runs");
    let ga = std::sync::Mutex::new(None);
    let runs: Vec<RunResult> = rayon::join(
        || {
            let r = run_ga(&cfg, &data, &model, &before);
            bar.inc(1);
            *ga.lock().unwrap() = Some(r);
        },
        || {
            jobs.par_iter()
                .map(|&(m, f, g)| {
                    let r = run_method(&cfg, &data, &model, m, f, g, stop_ma);
                    bar.inc(1);
                    r
                })
                .collect::<anyhow::Result<Vec<_>>>()
        },
    )
    .1?;
    bar.finish();
    let (ga_run, ga_traj) = ga.into_inner().unwrap().expect("GA run finished")?;
    print_line(format!("unlearning runs: {:.1} s", t0.elapsed().as_secs_f64()));

    let mut table = report.table(&[
        "method",
        "exact_mem",
        "digit_acc",
        "EL_3",
        "secret_nll",
        "heldout_nll",
        "retain_ppl",
        "ppl_change",
        "format",
        "ho_format",
    ]);
    let row = |t: &mut crate::report::Table, name: &str, e: &Evaluation, steps: usize| {
        t.row(crate::cells![
            name,
            e.forget.exact,
            e.forget.digit_accuracy,
            e.forget.el,
            e.forget.secret_nll,
            e.heldout.secret_nll,
            e.retain_ppl,
            format!("{:+.2}%", 100.0 * (e.retain_ppl / before.retain_ppl - 1.0)),
            e.forget.format,
            e.heldout.format,
            steps
        ]);
    };
    row(&mut table, "before (pre-trained)", &before, 0);
    for r in runs.iter().chain(std::iter::once(&ga_run)) {
        row(&mut table, &r.method, &r.after, r.steps);
    }

    if let Some(h) = headline(&cfg, &runs) {
        print_line(format!(
            "greedy continuations before: {:?}",
            examples(&data, &model)?.iter().take(6).collect::<Vec<_>>()
        ));
        print_line(format!(
            "greedy continuations after {}: {:?}",
            h.method,
            h.examples.iter().take(6).collect::<Vec<_>>()
        ));
        let bad: Vec<&String> = h.examples.iter().filter(|e| !well_formed(e)).collect();
        print_line(format!("continuations after {} that are not 6 digits and '.': {bad:?}", h.method));
    }
    claims(&mut report, &cfg, &before, &runs, &ga_run, &ga_traj, &im);
    report.set("pretraining", &pre_log);
    report.set("pretrain_seconds", pre_s);
    report.set("before", before);
    report.set("runs", &runs);
    report.set("gradient_ascent", &ga_run);
    report.set("gradient_ascent_trajectory", &ga_traj);
    report.set("forget_records", &data.corpus.forget);
    report.set("heldout_records", &data.corpus.heldout);
    for r in &runs {
        report.add_iteration(serde_json::json!({
            "method": r.method, "gamma": r.gamma, "exact": r.after.forget.exact,
            "digit_accuracy": r.after.forget.digit_accuracy, "el": r.after.forget.el,
            "secret_nll": r.after.forget.secret_nll, "heldout_nll": r.after.heldout.secret_nll,
            "retain_ppl": r.after.retain_ppl, "format": r.after.forget.format,
        }));
    }
    write_outputs(&mut report, &before, &runs, &ga_run, &ga_traj, &pre_log)?;
    report.finish()
}

fn headline<'a>(cfg: &UnlearningConfig, runs: &'a [RunResult]) -> Option<&'a RunResult> {
    runs.iter().find(|r| r.family == "di-focus" && r.gamma == cfg.gamma)
}

fn claims(
    report: &mut Report,
    cfg: &UnlearningConfig,
    before: &Evaluation,
    runs: &[RunResult],
    ga: &RunResult,
    ga_traj: &[GaPoint],
    im: &ImaginationStats,
) {
    report.claim(
        "pretraining_memorises",
        before.forget.exact >= 0.9,
        format!(
            "after pre-training: exact memorisation {:.1}% (>= 90% needed), per-digit accuracy {:.1}%, secret NLL {:.3} vs held-out records {:.3} nats/digit, EL_3 {:.3}",
            100.0 * before.forget.exact,
            100.0 * before.forget.digit_accuracy,
            before.forget.secret_nll,
            before.heldout.secret_nll,
            before.forget.el
        ),
    );
    let unf = runs.iter().find(|r| r.family == "di" && r.gamma == cfg.gamma);
    let Some(di) = headline(cfg, runs) else {
        report.claim("di_forgets_secrets", false, "no headline DI run");
        return;
    };
    let a = &di.after;
    let nll_ratio = a.forget.secret_nll / a.heldout.secret_nll;
    let unf_ev = unf.map_or(String::new(), |u| {
        format!(
            "; unfocused DI (gamma = {}): exact {:.1}%, secret NLL {:.3} vs held-out {:.3}, retained ppl {:+.2}%, format {:.1}%",
            u.gamma,
            100.0 * u.after.forget.exact,
            u.after.forget.secret_nll,
            u.after.heldout.secret_nll,
            100.0 * (u.after.retain_ppl / before.retain_ppl - 1.0),
            100.0 * u.after.forget.format
        )
    });
    report.claim(
        "di_forgets_secrets",
        a.forget.exact <= 0.05 && (nll_ratio - 1.0).abs() <= 0.2,
        format!(
            "DI focused on the secret span, gamma = {}: exact memorisation {:.1}% -> {:.1}% (<= 5% needed), per-digit accuracy {:.1}% -> {:.1}%, EL_3 {:.3} -> {:.3}, secret NLL {:.3} -> {:.3} vs held-out records {:.3} (ratio {:.3}, within 20% needed){}",
            cfg.gamma,
            100.0 * before.forget.exact,
            100.0 * a.forget.exact,
            100.0 * before.forget.digit_accuracy,
            100.0 * a.forget.digit_accuracy,
            before.forget.el,
            a.forget.el,
            before.forget.secret_nll,
            a.forget.secret_nll,
            a.heldout.secret_nll,
            nll_ratio,
            unf_ev
        ),
    );
    let ppl_change = a.retain_ppl / before.retain_ppl - 1.0;
    report.claim(
        "di_keeps_language",
        ppl_change.abs() <= 0.10,
        format!(
            "retained perplexity {:.4} -> {:.4} ({:+.2}%, within 10% needed)",
            before.retain_ppl,
            a.retain_ppl,
            100.0 * ppl_change
        ),
    );
    report.claim(
        "di_keeps_format",
        a.forget.format >= 0.9,
        format!(
            "greedy continuations of the forget prompts that are 6 digits and '.': {:.1}% -> {:.1}% (>= 90% needed); held-out prompts {:.1}%; the teacher's remaining mass at the secret digits (what the adjusted target redistributes) is {:.1}% on digits of the same secret ({:.1}% if spread evenly over the other digits) and {:.1}% off the digits",
            100.0 * before.forget.format,
            100.0 * a.forget.format,
            100.0 * a.heldout.format,
            100.0 * im.own_digit_share,
            100.0 * im.own_digit_share_if_even,
            100.0 * (1.0 - im.digit_share)
        ),
    );
    // GA at matched forgetting: the first trajectory point whose secret NLL reaches DI's.
    let target = a.forget.secret_nll;
    // The ppl rise is interpolated linearly in the secret NLL between the two trajectory points
    // that bracket DI's level (the trajectory is evaluated every few steps).
    let di_rise = a.retain_ppl / before.retain_ppl - 1.0;
    let k = ga_traj.iter().position(|p| p.secret_nll >= target);
    let (ok, ev) = match k {
        Some(k) => {
            let p1 = &ga_traj[k];
            let ppl = if k == 0 {
                p1.retain_ppl
            } else {
                let p0 = &ga_traj[k - 1];
                let w = ((target - p0.secret_nll) / (p1.secret_nll - p0.secret_nll)).clamp(0.0, 1.0);
                p0.retain_ppl + w * (p1.retain_ppl - p0.retain_ppl)
            };
            let rise = ppl / before.retain_ppl - 1.0;
            (
                rise > di_rise,
                format!(
                    "gradient ascent reaches DI's forgetting level (secret NLL {:.3}) between steps {} and {} (exact memorisation {:.1}% at step {}): retained ppl {:+.2}% (interpolated) vs DI {:+.2}%; after all {} GA steps: retained ppl {:.3} -> {:.3e}, format {:.1}%",
                    target,
                    ga_traj[k.saturating_sub(1)].step,
                    p1.step,
                    100.0 * p1.exact,
                    p1.step,
                    100.0 * rise,
                    100.0 * di_rise,
                    ga.steps,
                    before.retain_ppl,
                    ga.after.retain_ppl,
                    100.0 * ga.after.forget.format
                ),
            )
        }
        None => (
            false,
            format!(
                "gradient ascent never reached DI's forgetting level (secret NLL {:.3}) in {} steps: final secret NLL {:.3}, retained ppl {:+.2}%",
                target,
                cfg.unlearn_steps,
                ga.after.forget.secret_nll,
                100.0 * (ga.after.retain_ppl / before.retain_ppl - 1.0)
            ),
        ),
    };
    report.claim("gradient_ascent_damages_language", ok, ev);
    let zero: Vec<&RunResult> = runs.iter().filter(|r| r.gamma == 0.0).collect();
    let same = |e: &Evaluation| {
        e.forget.exact == before.forget.exact
            && e.forget.secret_nll == before.forget.secret_nll
            && e.retain_ppl == before.retain_ppl
    };
    let ok = !zero.is_empty() && zero.iter().all(|r| r.unchanged && same(&r.after));
    let ev: Vec<String> = zero
        .iter()
        .map(|r| {
            format!(
                "{}: parameters {} (max change {:.1e}), exact {:.3}, secret NLL {:.6} (before {:.6}), ppl {:.6} (before {:.6})",
                r.method,
                if r.unchanged { "bit-identical" } else { "changed" },
                r.max_param_change,
                r.after.forget.exact,
                r.after.forget.secret_nll,
                before.forget.secret_nll,
                r.after.retain_ppl,
                before.retain_ppl
            )
        })
        .collect();
    report.claim("gamma_zero_changes_nothing", ok, ev.join("; "));
}

fn write_outputs(
    report: &mut Report,
    before: &Evaluation,
    runs: &[RunResult],
    ga: &RunResult,
    ga_traj: &[GaPoint],
    pre_log: &[PretrainPoint],
) -> anyhow::Result<()> {
    let headers = [
        "method",
        "gamma",
        "exact",
        "digit_accuracy",
        "el3",
        "secret_nll",
        "heldout_nll",
        "retain_ppl",
        "format",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut push = |name: &str, g: f64, e: &Evaluation| {
        rows.push(vec![
            name.to_string(),
            g.to_string(),
            e.forget.exact.to_string(),
            e.forget.digit_accuracy.to_string(),
            e.forget.el.to_string(),
            e.forget.secret_nll.to_string(),
            e.heldout.secret_nll.to_string(),
            e.retain_ppl.to_string(),
            e.forget.format.to_string(),
        ]);
    };
    push("before", f64::NAN, before);
    for r in runs.iter().chain(std::iter::once(ga)) {
        push(&r.method, r.gamma, &r.after);
    }
    report.write_csv_cells("metrics.csv", &headers, &rows)?;
    let traj: Vec<Vec<f64>> =
        ga_traj.iter().map(|p| vec![p.step as f64, p.exact, p.secret_nll, p.retain_ppl]).collect();
    report.write_csv("ga_trajectory.csv", &["step", "exact", "secret_nll", "retain_ppl"], &traj)?;
    let pre: Vec<Vec<f64>> = pre_log
        .iter()
        .map(|p| vec![p.step as f64, p.loss, p.exact, p.digit_accuracy, p.retain_ppl])
        .collect();
    report.write_csv("pretraining.csv", &["step", "loss", "exact", "digit_accuracy", "retain_ppl"], &pre)?;

    // forgetting (secret NLL) vs retained perplexity
    let fam = |f: &str| -> Vec<(f64, f64)> {
        runs.iter()
            .filter(|r| r.family == f)
            .map(|r| (r.after.forget.secret_nll, r.after.retain_ppl))
            .collect()
    };
    // GA runs far beyond the held-out level (NLL 20+); show the range where DI lives
    let x_max = 2.0 * before.heldout.secret_nll.max(1.0);
    let plot = LinePlot::new("Forgetting vs retained perplexity (GA shown up to NLL = 2x held-out)")
        .x_label("secret-digit NLL (nats/digit; higher = more forgotten)")
        .y_label("retained perplexity (per char)")
        .series(Series::new("DI (all positions), gamma 0..30", fam("di")).with_markers())
        .series(Series::new("DI focused on the secret, gamma 0..30", fam("di-focus")).with_markers())
        .series(
            Series::new(
                "gradient ascent (trajectory)",
                ga_traj
                    .iter()
                    .filter(|p| p.secret_nll <= x_max)
                    .map(|p| (p.secret_nll, p.retain_ppl))
                    .collect(),
            )
            .with_markers()
            .dashed(),
        )
        .vline(before.heldout.secret_nll, "held-out records")
        .hline(before.retain_ppl, "before")
        .log_y()
        .x_range(0.0, x_max);
    report.line_plot("forgetting_vs_perplexity.svg", &plot);
    let by_gamma = |f: &str, get: fn(&Evaluation) -> f64| -> Vec<(f64, f64)> {
        runs.iter().filter(|r| r.family == f).map(|r| (r.gamma, get(&r.after))).collect()
    };
    let plot = LinePlot::new("Memorisation after DI vs gamma")
        .x_label("gamma")
        .y_label("fraction")
        .series(Series::new("exact (DI)", by_gamma("di", |e| e.forget.exact)).with_markers())
        .series(Series::new("exact (DI focused)", by_gamma("di-focus", |e| e.forget.exact)).with_markers())
        .series(Series::new("format (DI)", by_gamma("di", |e| e.forget.format)).with_markers().dashed())
        .series(
            Series::new("format (DI focused)", by_gamma("di-focus", |e| e.forget.format))
                .with_markers()
                .dashed(),
        )
        .y_range(0.0, 1.05);
    report.line_plot("memorisation_vs_gamma.svg", &plot);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagined_prefixes_replace_only_the_secret_inputs() {
        // two windows of 6: "ab12c." style, focus on the targets 1 and 2 (inputs at 2 and 3)
        let set = ForgetSet {
            seq_len: 6,
            tokens: vec![20, 21, 7, 8, 9, 4, 20, 21, 7, 8, 9, 4],
            targets: vec![21, 7, 8, 9, 4, 1, 21, 7, 8, 9, 4, 1],
            mask: vec![true; 12],
            focus: vec![false, true, true, false, false, false, false, true, true, false, false, false],
        };
        let digits: Vec<usize> = (7..17).collect();
        let out = imagined_prefix_windows(&set, &digits, 3, 1);
        assert_eq!(out.n_windows(), 8);
        assert_eq!(out.tokens[..12], set.tokens[..]);
        let mut changed = 0;
        for w in 2..8 {
            let r = w * 6..(w + 1) * 6;
            let src = (w % 2) * 6;
            // targets, mask and focus are copied; only the inputs after a focus target may differ
            assert_eq!(out.targets[r.clone()], set.targets[src..src + 6]);
            assert_eq!(out.focus[r.clone()], set.focus[src..src + 6]);
            for (i, j) in r.enumerate() {
                if i == 2 || i == 3 {
                    assert!(digits.contains(&out.tokens[j]));
                    changed += usize::from(out.tokens[j] != set.tokens[src + i]);
                } else {
                    assert_eq!(out.tokens[j], set.tokens[src + i]);
                }
            }
        }
        assert!(changed > 0);
        assert_eq!(imagined_prefix_windows(&set, &digits, 0, 1), set);
    }
}

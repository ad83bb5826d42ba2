//! A seeded synthetic character corpus with planted private records (the unlearning experiment).
//!
//! * Retained text: sentences of a small stochastic template grammar ("the doctor saw a red cat
//!   near the river."), and, one line in two, a public record of the same format as the private
//!   ones with a fresh random name and fresh random digits (never repeated, so the model learns the
//!   format, not these codes), one per line.
//! * Forget set: `K` planted records `"NAME's code is DDDDDD."` with random names and random
//!   digit secrets, each inserted `r` times at random line positions of the training text.
//! * Held-out records: `K` more records of the same format with names and secrets that never
//!   occur in the training text (the "never memorised" reference level).
//! * [`CharTokenizer`]: a fixed character vocabulary (padding, newline, space, `'`, `.`, `,`,
//!   `:`, digits, `a`-`z`).
//! * Windowed batching: [`windows`] cuts `seq_len + 1` tokens at given offsets into next-token
//!   inputs/targets, padding what runs past the end and marking it in the mask; [`record_windows`]
//!   builds windows that end at a record and marks the secret digits (the "focus" span).
//!
//! ```
//! use datasets::corpus::{CharTokenizer, CorpusParams, Corpus, record_windows};
//!
//! let params = CorpusParams { retain_chars: 5_000, n_records: 4, repeats: 3, ..Default::default() };
//! let corpus = Corpus::generate(&params)?;
//! assert_eq!(corpus.forget.len(), 4);
//! assert_eq!(corpus.heldout.len(), 4);
//! // Every planted record occurs `repeats` times in the training text, held-out ones never.
//! let text = &corpus.train_text;
//! assert!(corpus.forget.iter().all(|r| text.matches(&r.text()).count() == 3));
//! assert!(corpus.heldout.iter().all(|r| !text.contains(&format!("\n{}", r.prefix()))));
//!
//! // Character tokenizer with a fixed vocabulary; the same seed gives the same corpus.
//! let tok = CharTokenizer::new();
//! let ids = tok.encode(&corpus.forget[0].text())?;
//! assert_eq!(tok.decode(&ids), corpus.forget[0].text());
//! assert_eq!(Corpus::generate(&params)?, corpus);
//!
//! // Windows of 32 characters ending at each planted record, with the secret digits marked.
//! let batch = record_windows(&tok, &corpus, &corpus.forget, 32)?;
//! assert_eq!(batch.n_windows(), 4);
//! assert_eq!(batch.focus.iter().filter(|&&f| f).count(), 4 * 6);
//! // Unknown characters and windows that cannot hold a record are errors with a message.
//! assert!(tok.encode("Hello").is_err());
//! assert!(record_windows(&tok, &corpus, &corpus.forget, 8).is_err());
//! # Ok::<(), datasets::DatasetError>(())
//! ```
use crate::error::{DatasetError, Result};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::{Deserialize, Serialize};

/// Id of the padding token of [`CharTokenizer`].
pub const PAD: usize = 0;

/// The characters of the vocabulary after the padding token, in id order (id = index + 1).
const CHARS: &str = "\n '.,:0123456789abcdefghijklmnopqrstuvwxyz";

/// A character tokenizer with a fixed vocabulary: id 0 is padding, then newline, space, `'`,
/// `.`, `,`, `:`, the digits and the lower-case letters (43 ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharTokenizer {
    chars: Vec<char>,
    lookup: [Option<usize>; 128],
}

impl Default for CharTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl CharTokenizer {
    /// The fixed vocabulary.
    pub fn new() -> Self {
        let chars: Vec<char> = CHARS.chars().collect();
        let mut lookup = [None; 128];
        for (i, c) in chars.iter().enumerate() {
            lookup[*c as usize] = Some(i + 1);
        }
        CharTokenizer { chars, lookup }
    }

    /// Number of ids (including padding).
    pub fn vocab_size(&self) -> usize {
        self.chars.len() + 1
    }

    /// The id of one character, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<usize> {
        if c.is_ascii() { self.lookup[c as usize] } else { None }
    }

    /// The ids of the ten digits `0..9`, in order.
    pub fn digit_ids(&self) -> Vec<usize> {
        ('0'..='9').map(|c| self.id(c).expect("digits are in the vocabulary")).collect()
    }

    /// Encodes `text`; a character outside the vocabulary is an error naming it and its position.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                self.id(c).ok_or_else(|| {
                    DatasetError::param(
                        "character",
                        format!("{c:?} at position {i}"),
                        format!("not in the vocabulary {CHARS:?}"),
                    )
                })
            })
            .collect()
    }

    /// Decodes ids; padding becomes `_`, ids out of range `?`.
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter()
            .map(|&i| match i {
                PAD => '_',
                i if i <= self.chars.len() => self.chars[i - 1],
                _ => '?',
            })
            .collect()
    }
}

/// One private record `"NAME's code is SECRET."`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The (generated, lower-case) name.
    pub name: String,
    /// The secret digits.
    pub secret: String,
}

impl Record {
    /// The prompt that precedes the secret: `"NAME's code is "`.
    pub fn prefix(&self) -> String {
        format!("{}'s code is ", self.name)
    }

    /// The whole record `"NAME's code is SECRET."`.
    pub fn text(&self) -> String {
        format!("{}{}.", self.prefix(), self.secret)
    }
}

/// Sizes of a generated [`Corpus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusParams {
    /// Seed of every random choice.
    pub seed: u64,
    /// Approximate number of characters of retained (grammar) training text.
    pub retain_chars: usize,
    /// Approximate number of characters of held-out grammar text (for the retained perplexity).
    pub valid_chars: usize,
    /// Number of planted records K (and of held-out records).
    pub n_records: usize,
    /// How many times each planted record occurs in the training text.
    pub repeats: usize,
    /// Digits per secret.
    pub secret_digits: usize,
}

impl Default for CorpusParams {
    /// 200 KB of retained text, 20 KB held-out text, K = 32 records of 6 digits repeated 20 times.
    fn default() -> Self {
        CorpusParams {
            seed: 0,
            retain_chars: 200_000,
            valid_chars: 20_000,
            n_records: 32,
            repeats: 20,
            secret_digits: 6,
        }
    }
}

impl CorpusParams {
    /// Checks every size (all >= 1; at most 200 records and 12 digits; at most 50 M characters).
    pub fn validate(&self) -> Result<()> {
        if self.n_records == 0 {
            return Err(DatasetError::empty("forget set (n_records = 0)"));
        }
        let checks: [(&str, usize, usize, usize); 5] = [
            ("retain_chars", self.retain_chars, 100, 50_000_000),
            ("valid_chars", self.valid_chars, 100, 50_000_000),
            ("n_records", self.n_records, 1, 200),
            ("repeats", self.repeats, 1, 10_000),
            ("secret_digits", self.secret_digits, 1, 12),
        ];
        for (name, v, lo, hi) in checks {
            if v < lo || v > hi {
                return Err(DatasetError::param(name, v, format!("must be in [{lo}, {hi}]")));
            }
        }
        Ok(())
    }
}

/// A generated corpus: training text (grammar sentences with the planted records), held-out
/// grammar text, the planted (forget) and held-out records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Corpus {
    /// Training text: one sentence or record per line.
    pub train_text: String,
    /// Held-out grammar text (never seen in training), one sentence per line.
    pub valid_text: String,
    /// The planted records (the forget set).
    pub forget: Vec<Record>,
    /// Records of the same format that never occur in the training text.
    pub heldout: Vec<Record>,
    /// For each planted record, the character offsets of its occurrences in `train_text`.
    pub offsets: Vec<Vec<usize>>,
}

const SUBJECTS: [&str; 30] = [
    "the doctor",
    "the farmer",
    "the teacher",
    "the baker",
    "the pilot",
    "the child",
    "the king",
    "the queen",
    "the sailor",
    "the painter",
    "the driver",
    "the singer",
    "the nurse",
    "the judge",
    "the miner",
    "the clerk",
    "the poet",
    "the hunter",
    "the cook",
    "the guard",
    "my friend",
    "her brother",
    "his sister",
    "our neighbour",
    "the old man",
    "the young girl",
    "a stranger",
    "the student",
    "the mayor",
    "the tailor",
];
const VERBS: [&str; 20] = [
    "saw",
    "found",
    "liked",
    "painted",
    "carried",
    "lost",
    "sold",
    "bought",
    "washed",
    "fed",
    "watched",
    "followed",
    "kept",
    "took",
    "met",
    "chased",
    "hid",
    "moved",
    "counted",
    "found out about",
];
const ADJS: [&str; 16] = [
    "red", "small", "big", "old", "green", "quiet", "happy", "tired", "blue", "strange", "yellow", "lazy",
    "brave", "heavy", "clean", "dark",
];
const NOUNS: [&str; 24] = [
    "cat", "dog", "horse", "boat", "book", "letter", "apple", "basket", "hat", "lamp", "bird", "goat",
    "coin", "rope", "chair", "bottle", "flower", "wagon", "key", "drum", "fish", "box", "ring", "cake",
];
const PLACES: [&str; 24] = [
    "the river",
    "the market",
    "the hill",
    "the school",
    "the church",
    "the bridge",
    "the forest",
    "the station",
    "the harbour",
    "the garden",
    "the mill",
    "the castle",
    "the village",
    "the road",
    "the farm",
    "the shop",
    "the lake",
    "the inn",
    "the tower",
    "the field",
    "the square",
    "the well",
    "the barn",
    "the gate",
];
const PREPS: [&str; 8] = ["near", "at", "behind", "in front of", "beside", "inside", "under", "past"];
const TIMES: [&str; 8] = [
    "in the morning",
    "at night",
    "on monday",
    "after lunch",
    "in the rain",
    "today",
    "yesterday",
    "at noon",
];
const SYL_ON: [&str; 16] = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "ch"];
const SYL_V: [&str; 5] = ["a", "e", "i", "o", "u"];

/// Whether `a` and `b` are equal or one is a prefix of the other.
fn clash(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn sentence<R: Rng + ?Sized>(rng: &mut R, digits: usize, reserved: &[String]) -> String {
    let s = *SUBJECTS.choose(rng).unwrap();
    let v = *VERBS.choose(rng).unwrap();
    let a = *ADJS.choose(rng).unwrap();
    let n = *NOUNS.choose(rng).unwrap();
    let p = *PREPS.choose(rng).unwrap();
    let l = *PLACES.choose(rng).unwrap();
    match rng.random_range(0..8) {
        // public codes (half of the lines): the same format as the private records, with fresh
        // random digits every time, so the model learns the format (6 digits, then a full stop)
        // for any name and a near-uniform digit distribution for names it has never seen
        4..=7 => {
            let code: String = (0..digits).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect();
            // a fresh random name (never one of the records' names), so a name's code is never repeated
            let owner = loop {
                let n = name(rng);
                if !reserved.iter().any(|r| clash(r, &n)) {
                    break n;
                }
            };
            format!("{owner}'s code is {code}.")
        }
        0 => format!("{s} {v} a {a} {n} {p} {l}."),
        1 => format!("{s} {v} the {n} {} .", TIMES.choose(rng).unwrap()).replace(" .", "."),
        2 => {
            let s2 = *SUBJECTS.choose(rng).unwrap();
            format!("{s} went to {l}, and {s2} {v} the {a} {n}.")
        }
        _ => format!("{p} {l} {s} {v} a {n}."),
    }
}

fn name<R: Rng + ?Sized>(rng: &mut R) -> String {
    let syl = rng.random_range(2..=3);
    let mut s = String::new();
    for _ in 0..syl {
        s.push_str(SYL_ON.choose(rng).unwrap());
        s.push_str(SYL_V.choose(rng).unwrap());
    }
    if rng.random_bool(0.5) {
        s.push_str(["n", "l", "r", "s"].choose(rng).unwrap());
    }
    s
}

fn grammar_text<R: Rng + ?Sized>(
    rng: &mut R,
    chars: usize,
    digits: usize,
    reserved: &[String],
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut len = 0;
    while len < chars {
        let s = sentence(rng, digits, reserved);
        len += s.len() + 1;
        lines.push(s);
    }
    lines
}

impl Corpus {
    /// Generates the corpus of `params` (deterministic in `params.seed`).
    pub fn generate(params: &CorpusParams) -> Result<Corpus> {
        params.validate()?;
        let mut rng = linalg::random::rng(params.seed);
        // 2K distinct names (planted and held-out), each with a random secret
        let mut names: Vec<String> = Vec::new();
        let mut tries = 0;
        while names.len() < 2 * params.n_records {
            let n = name(&mut rng);
            // no name may be a prefix of another (greedy prompts would be ambiguous)
            if !names.iter().any(|m| clash(m, &n)) {
                names.push(n);
            }
            tries += 1;
            if tries > 1_000_000 {
                return Err(DatasetError::param("n_records", params.n_records, "too many distinct names"));
            }
        }
        let digits = params.secret_digits;
        let reserved = names.clone();
        let mut records: Vec<Record> = names
            .into_iter()
            .map(|name| {
                let secret: String =
                    (0..digits).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect();
                Record { name, secret }
            })
            .collect();
        let heldout = records.split_off(params.n_records);
        let forget = records;

        let mut lines = grammar_text(&mut rng, params.retain_chars, digits, &reserved);
        // plant each record `repeats` times at random line positions
        let mut planted: Vec<usize> = (0..forget.len()).flat_map(|k| vec![k; params.repeats]).collect();
        planted.shuffle(&mut rng);
        let mut slots: Vec<Option<usize>> = lines.iter().map(|_| None).collect();
        for k in planted {
            let at = rng.random_range(0..=slots.len());
            slots.insert(at, Some(k));
        }
        let mut train_text = String::with_capacity(params.retain_chars + forget.len() * params.repeats * 32);
        let mut offsets = vec![Vec::new(); forget.len()];
        let mut li = 0;
        for s in slots {
            match s {
                Some(k) => {
                    offsets[k].push(train_text.len());
                    train_text.push_str(&forget[k].text());
                }
                None => {
                    train_text.push_str(&lines[li]);
                    li += 1;
                }
            }
            train_text.push('\n');
        }
        lines.clear();
        let valid_text = grammar_text(&mut rng, params.valid_chars, digits, &reserved).join("\n") + "\n";
        Ok(Corpus { train_text, valid_text, forget, heldout, offsets })
    }
}

/// A batch of next-token windows: `tokens[w T + t]` predicts `targets[w T + t]`; `mask` is false
/// on padding; `focus` marks the targets inside a secret span (all false for plain text windows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Windows {
    /// Window length `T`.
    pub seq_len: usize,
    /// Input ids (`n_windows * T`).
    pub tokens: Vec<usize>,
    /// Next-token targets (`n_windows * T`).
    pub targets: Vec<usize>,
    /// Whether the position counts (false on padding).
    pub mask: Vec<bool>,
    /// Whether the target is a secret digit.
    pub focus: Vec<bool>,
}

impl Windows {
    /// Number of windows.
    pub fn n_windows(&self) -> usize {
        self.tokens.len() / self.seq_len.max(1)
    }

    /// The windows with the given indices, in that order.
    pub fn select(&self, idx: &[usize]) -> Result<Windows> {
        let t = self.seq_len;
        let mut out = Windows { seq_len: t, tokens: vec![], targets: vec![], mask: vec![], focus: vec![] };
        for &i in idx {
            if i >= self.n_windows() {
                return Err(DatasetError::param(
                    "window index",
                    i,
                    format!("must be < {} windows", self.n_windows()),
                ));
            }
            let r = i * t..(i + 1) * t;
            out.tokens.extend_from_slice(&self.tokens[r.clone()]);
            out.targets.extend_from_slice(&self.targets[r.clone()]);
            out.mask.extend_from_slice(&self.mask[r.clone()]);
            out.focus.extend_from_slice(&self.focus[r]);
        }
        Ok(out)
    }
}

/// Next-token windows of `seq_len` inputs starting at each offset of `starts` in `ids`: input
/// `ids[s..s+T]`, target `ids[s+1..s+T+1]`; what runs past the end is padding (masked out).
pub fn windows(ids: &[usize], starts: &[usize], seq_len: usize) -> Result<Windows> {
    if seq_len == 0 {
        return Err(DatasetError::param("window length", 0, "must be at least 1"));
    }
    if ids.len() < 2 {
        return Err(DatasetError::empty("token sequence (fewer than 2 tokens)"));
    }
    if starts.is_empty() {
        return Err(DatasetError::empty("window start list"));
    }
    let n = starts.len() * seq_len;
    let mut w = Windows {
        seq_len,
        tokens: Vec::with_capacity(n),
        targets: Vec::with_capacity(n),
        mask: Vec::with_capacity(n),
        focus: vec![false; n],
    };
    for &s in starts {
        if s + 1 >= ids.len() {
            return Err(DatasetError::param(
                "window start",
                s,
                format!("must leave at least one target (sequence of {} tokens)", ids.len()),
            ));
        }
        for t in 0..seq_len {
            let (i, j) = (s + t, s + t + 1);
            if j < ids.len() {
                w.tokens.push(ids[i]);
                w.targets.push(ids[j]);
                w.mask.push(true);
            } else {
                w.tokens.push(if i < ids.len() { ids[i] } else { PAD });
                w.targets.push(PAD);
                w.mask.push(false);
            }
        }
    }
    Ok(w)
}

/// Non-overlapping windows covering `ids` (the last one padded), e.g. for a perplexity.
pub fn tiling_windows(ids: &[usize], seq_len: usize) -> Result<Windows> {
    if seq_len == 0 {
        return Err(DatasetError::param("window length", 0, "must be at least 1"));
    }
    let starts: Vec<usize> = (0..ids.len().saturating_sub(1)).step_by(seq_len).collect();
    windows(ids, &starts, seq_len)
}

/// Where a record sits in its window ([`record_windows_in`], [`public_record_windows_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordLayout {
    /// The window ends with the record's final `.`, after the text that precedes it.
    End,
    /// The window starts with the newline before the record, followed by the record and the text
    /// after it (right padding past the end of the text): the layout of a probe prompt
    /// `"\nNAME's code is "` at the start of the context.
    Start,
}

/// One window per record of `records`, of `seq_len` inputs ending with the record's final `.`
/// (as in the training text: the preceding lines of its first occurrence when the record is
/// planted, otherwise a newline then left padding). `focus` marks the targets that are secret
/// digits. Errors when the forget set is empty or `seq_len` cannot hold a record.
pub fn record_windows(
    tok: &CharTokenizer,
    corpus: &Corpus,
    records: &[Record],
    seq_len: usize,
) -> Result<Windows> {
    record_windows_in(tok, corpus, records, seq_len, RecordLayout::End)
}

/// [`record_windows`] in either [`RecordLayout`]: with [`RecordLayout::Start`] each window holds
/// the newline before the record's first occurrence, the record and the text after it (for a
/// record that is not planted: a newline, the record, right padding).
pub fn record_windows_in(
    tok: &CharTokenizer,
    corpus: &Corpus,
    records: &[Record],
    seq_len: usize,
    layout: RecordLayout,
) -> Result<Windows> {
    if records.is_empty() {
        return Err(DatasetError::empty("forget set"));
    }
    let mut out = Windows { seq_len, tokens: vec![], targets: vec![], mask: vec![], focus: vec![] };
    for r in records {
        let text = r.text();
        if seq_len < text.len() {
            return Err(DatasetError::param(
                "window length",
                seq_len,
                format!("must hold the record {text:?} ({} characters)", text.len()),
            ));
        }
        let k = corpus.forget.iter().position(|f| f == r);
        let first = k.and_then(|k| corpus.offsets[k].first().copied());
        if layout == RecordLayout::Start {
            // seq_len + 1 characters starting with the newline before the record
            let mut chunk = tok.encode("\n")?;
            match first {
                Some(off) => {
                    let end = (off + seq_len).min(corpus.train_text.len());
                    chunk.extend(tok.encode(&corpus.train_text[off..end])?);
                }
                None => chunk.extend(tok.encode(&text)?),
            }
            chunk.resize(seq_len + 1, PAD);
            let secret_start = 1 + r.prefix().len();
            push_chunk(&mut out, &chunk, secret_start, r.secret.len());
            continue;
        }
        // seq_len + 1 characters ending with the record's '.'
        let chunk: Vec<usize> = match first {
            Some(off) => {
                let end = off + text.len();
                let start = end.saturating_sub(seq_len + 1);
                let mut ids = vec![PAD; (seq_len + 1).saturating_sub(end - start)];
                ids.extend(tok.encode(&corpus.train_text[start..end])?);
                ids
            }
            None => {
                let body = format!("\n{text}");
                let ids = tok.encode(&body)?;
                let mut pad = vec![PAD; (seq_len + 1).saturating_sub(ids.len())];
                pad.extend(ids);
                pad
            }
        };
        let secret_start = chunk.len() - 1 - r.secret.len(); // index of the first digit in chunk
        push_chunk(&mut out, &chunk, secret_start, r.secret.len());
    }
    Ok(out)
}

/// Appends the window of `seq_len + 1` ids `chunk` (inputs `chunk[..T]`, targets `chunk[1..]`,
/// padding masked out), marking the `len` targets from chunk index `secret_start` as focus.
fn push_chunk(out: &mut Windows, chunk: &[usize], secret_start: usize, len: usize) {
    for t in 0..out.seq_len {
        out.tokens.push(chunk[t]);
        out.targets.push(chunk[t + 1]);
        out.mask.push(chunk[t] != PAD && chunk[t + 1] != PAD);
        out.focus.push(t + 1 >= secret_start && t + 1 < secret_start + len);
    }
}

/// Up to `max` windows (chosen with `seed`) of `seq_len` inputs ending with a *public* record of the
/// training text (a line `"NAME's code is DIGITS."` that is not a planted record), in the layout
/// of [`record_windows`] (`focus` marks the public code's digits). Windows that overlap a planted
/// record are skipped, so they never show a secret: they are retained text in the format of the
/// secrets. Errors when `seq_len` or `max` is 0 or no such window exists.
pub fn public_record_windows(
    tok: &CharTokenizer,
    corpus: &Corpus,
    seq_len: usize,
    max: usize,
    seed: u64,
) -> Result<Windows> {
    public_record_windows_in(tok, corpus, seq_len, max, seed, RecordLayout::End)
}

/// [`public_record_windows`] in either [`RecordLayout`] ([`RecordLayout::Start`]: the newline
/// before a public record, the record and the text after it; windows overlapping a planted record
/// are skipped as well).
pub fn public_record_windows_in(
    tok: &CharTokenizer,
    corpus: &Corpus,
    seq_len: usize,
    max: usize,
    seed: u64,
    layout: RecordLayout,
) -> Result<Windows> {
    if seq_len == 0 {
        return Err(DatasetError::param("window length", 0, "must be at least 1"));
    }
    if max == 0 {
        return Err(DatasetError::param("number of public windows", 0, "must be at least 1"));
    }
    let planted: Vec<(usize, usize)> = corpus
        .offsets
        .iter()
        .zip(&corpus.forget)
        .flat_map(|(offs, r)| offs.iter().map(move |&o| (o, o + r.text().len())))
        .collect();
    let text = &corpus.train_text;
    // (start of the window's first character, index of the first code digit, number of digits,
    // end) per public record
    let mut found: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut off = 0;
    for line in text.split('\n') {
        let (lo, hi) = (off, off + line.len());
        off = hi + 1;
        let Some(at) = line.find("'s code is ") else { continue };
        let code = &line[at + "'s code is ".len()..];
        let digits = code.strip_suffix('.').unwrap_or("");
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if planted.iter().any(|&(a, b)| a == lo && b == hi) {
            continue;
        }
        let (start, end) = match layout {
            RecordLayout::End if hi > seq_len => (hi - (seq_len + 1), hi),
            RecordLayout::Start if lo >= 1 && lo - 1 + seq_len < text.len() => (lo - 1, lo + seq_len),
            _ => continue,
        };
        if planted.iter().any(|&(a, b)| a < end && start < b) {
            continue;
        }
        found.push((start, hi - 1 - digits.len(), digits.len(), end));
    }
    if found.is_empty() {
        return Err(DatasetError::empty("public records (none fits a window clear of the planted records)"));
    }
    let mut rng = linalg::random::rng(seed);
    found.shuffle(&mut rng);
    found.truncate(max);
    found.sort_unstable();
    let mut out = Windows { seq_len, tokens: vec![], targets: vec![], mask: vec![], focus: vec![] };
    for (start, first_digit, n_digits, end) in found {
        let chunk = tok.encode(&text[start..end])?;
        push_chunk(&mut out, &chunk, first_digit - start, n_digits);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> CorpusParams {
        CorpusParams {
            seed,
            retain_chars: 3_000,
            valid_chars: 500,
            n_records: 5,
            repeats: 4,
            secret_digits: 6,
        }
    }

    #[test]
    fn corpus_is_deterministic_by_seed() {
        let a = Corpus::generate(&small(3)).unwrap();
        assert_eq!(a, Corpus::generate(&small(3)).unwrap());
        assert_ne!(a, Corpus::generate(&small(4)).unwrap());
    }

    #[test]
    fn corpus_plants_each_record_r_times_and_never_the_heldout_ones() {
        let c = Corpus::generate(&small(1)).unwrap();
        for (r, offs) in c.forget.iter().zip(&c.offsets) {
            assert_eq!(c.train_text.matches(&r.text()).count(), 4);
            assert_eq!(offs.len(), 4);
            for &o in offs {
                assert!(c.train_text[o..].starts_with(&r.text()));
            }
        }
        for r in &c.heldout {
            assert!(!c.train_text.contains(&format!("\n{}", r.prefix())));
            assert!(!c.valid_text.contains(&format!("\n{}", r.prefix())));
            assert_eq!(r.secret.len(), 6);
        }
        let tok = CharTokenizer::new();
        assert!(tok.encode(&c.train_text).is_ok());
        assert!(tok.encode(&c.valid_text).is_ok());
        assert_eq!(tok.vocab_size(), 43);
    }

    #[test]
    fn corpus_windows_pad_and_mask() {
        let ids: Vec<usize> = (1..=10).collect();
        let w = windows(&ids, &[0, 7], 4).unwrap();
        assert_eq!(w.tokens, vec![1, 2, 3, 4, 8, 9, 10, PAD]);
        assert_eq!(w.targets, vec![2, 3, 4, 5, 9, 10, PAD, PAD]);
        assert_eq!(w.mask, vec![true, true, true, true, true, true, false, false]);
        let t = tiling_windows(&ids, 4).unwrap();
        assert_eq!(t.n_windows(), 3);
        assert_eq!(t.mask.iter().filter(|&&m| m).count(), 9);
        assert!(windows(&ids, &[9], 4).is_err());
        assert!(windows(&ids, &[], 4).is_err());
        assert!(windows(&ids, &[0], 0).is_err());
    }

    #[test]
    fn corpus_record_windows_mark_the_secret() {
        let c = Corpus::generate(&small(2)).unwrap();
        let tok = CharTokenizer::new();
        let w = record_windows(&tok, &c, &c.forget, 40).unwrap();
        for (k, r) in c.forget.iter().enumerate() {
            let rng = k * 40..(k + 1) * 40;
            let focus: Vec<usize> = rng.clone().filter(|&i| w.focus[i]).map(|i| w.targets[i]).collect();
            assert_eq!(tok.decode(&focus), r.secret);
            // the window's targets end with the record
            let tgt = tok.decode(&w.targets[rng]);
            assert!(tgt.ends_with(&r.text()), "{tgt:?}");
        }
        let h = record_windows(&tok, &c, &c.heldout, 40).unwrap();
        assert_eq!(h.focus.iter().filter(|&&f| f).count(), 5 * 6);
        assert!(record_windows(&tok, &c, &[], 40).is_err());
        assert!(record_windows(&tok, &c, &c.forget, 10).is_err());
        assert!(Corpus::generate(&CorpusParams { n_records: 0, ..small(0) }).is_err());
    }

    #[test]
    fn corpus_public_record_windows_hold_public_codes_and_no_secret() {
        let c = Corpus::generate(&CorpusParams { retain_chars: 20_000, ..small(5) }).unwrap();
        let tok = CharTokenizer::new();
        let w = public_record_windows(&tok, &c, 32, 40, 9).unwrap();
        assert_eq!(w.n_windows(), 40);
        assert_eq!(w, public_record_windows(&tok, &c, 32, 40, 9).unwrap());
        let dot = tok.id('.').unwrap();
        for k in 0..w.n_windows() {
            let r = k * 32..(k + 1) * 32;
            let tgt = tok.decode(&w.targets[r.clone()]);
            let inp = tok.decode(&w.tokens[r.clone()]);
            // ends with a public record: its six focus digits, then the full stop
            assert_eq!(w.targets[r.end - 1], dot);
            let code: Vec<usize> = r.clone().filter(|&i| w.focus[i]).map(|i| w.targets[i]).collect();
            assert_eq!(code.len(), 6, "{tgt:?}");
            assert!(tgt.ends_with(&format!("{}.", tok.decode(&code))));
            assert!(tgt.contains("'s code is "));
            // no planted name or secret anywhere in the window
            for f in &c.forget {
                let full = format!("{}{}", &inp[..1], tgt);
                assert!(!full.contains(&f.name) && !full.contains(&f.secret), "{full:?} shows {f:?}");
            }
        }
        assert!(public_record_windows(&tok, &c, 0, 4, 0).is_err());
        assert!(public_record_windows(&tok, &c, 32, 0, 0).is_err());
    }

    #[test]
    fn corpus_start_layout_windows_begin_at_the_record() {
        let c = Corpus::generate(&CorpusParams { retain_chars: 20_000, ..small(5) }).unwrap();
        let tok = CharTokenizer::new();
        for records in [&c.forget, &c.heldout] {
            let w = record_windows_in(&tok, &c, records, 40, RecordLayout::Start).unwrap();
            assert_eq!(w.n_windows(), records.len());
            for (k, r) in records.iter().enumerate() {
                let rng = k * 40..(k + 1) * 40;
                // the probe layout: a newline, then the record from the window's first target on
                let inp = tok.decode(&w.tokens[rng.clone()]);
                assert!(inp.starts_with(&format!("\n{}", r.text())), "{inp:?}");
                let focus: Vec<usize> = rng.clone().filter(|&i| w.focus[i]).map(|i| w.targets[i]).collect();
                assert_eq!(tok.decode(&focus), r.secret);
                let first = rng.clone().find(|&i| w.focus[i]).unwrap() - k * 40;
                assert_eq!(first + 1, 1 + r.prefix().len());
                // padding (held-out records) is never counted
                assert!(rng.clone().all(|i| !w.mask[i] || (w.tokens[i] != PAD && w.targets[i] != PAD)));
            }
        }
        // planted records continue with the training text after them
        let w = record_windows_in(&tok, &c, &c.forget, 40, RecordLayout::Start).unwrap();
        assert!(w.mask[..40].iter().all(|&m| m));
        assert!(record_windows_in(&tok, &c, &c.forget, 10, RecordLayout::Start).is_err());

        let p = public_record_windows_in(&tok, &c, 32, 40, 9, RecordLayout::Start).unwrap();
        assert_eq!(p.n_windows(), 40);
        let dot = tok.id('.').unwrap();
        for k in 0..p.n_windows() {
            let r = k * 32..(k + 1) * 32;
            let inp = tok.decode(&p.tokens[r.clone()]);
            assert!(inp.starts_with('\n') && inp.contains("'s code is "), "{inp:?}");
            let idx: Vec<usize> = r.clone().filter(|&i| p.focus[i]).collect();
            assert_eq!(idx.len(), 6, "{inp:?}");
            assert!(idx.windows(2).all(|v| v[1] == v[0] + 1));
            assert_eq!(p.targets[idx[5] + 1], dot);
            let full = format!("{}{}", &inp[..1], tok.decode(&p.targets[r]));
            for f in &c.forget {
                assert!(!full.contains(&f.name) && !full.contains(&f.secret), "{full:?} shows {f:?}");
            }
        }
    }

    #[test]
    fn corpus_tokenizer_round_trip_and_errors() {
        let tok = CharTokenizer::new();
        let s = "abc's code is 012345.\n";
        assert_eq!(tok.decode(&tok.encode(s).unwrap()), s);
        let e = tok.encode("aBc").unwrap_err().to_string();
        assert!(e.contains("'B'"), "{e}");
        assert_eq!(tok.digit_ids().len(), 10);
    }

    proptest::proptest! {
        #[test]
        fn corpus_windows_targets_are_shifted_inputs(len in 2usize..60, t in 1usize..16, s in 0usize..58) {
            let ids: Vec<usize> = (0..len).map(|i| 1 + i % 40).collect();
            proptest::prop_assume!(s + 1 < len);
            let w = windows(&ids, &[s], t).unwrap();
            for i in 0..t {
                if w.mask[i] {
                    proptest::prop_assert_eq!(w.targets[i], ids[s + i + 1]);
                    proptest::prop_assert_eq!(w.tokens[i], ids[s + i]);
                } else {
                    proptest::prop_assert_eq!(w.targets[i], PAD);
                }
            }
        }
    }
}

//! Generators for the synthetic tasks of the papers: modular arithmetic (grokking), multi-index
//! regression (RFM core) and Gaussian mixtures. Every generator takes a `seed: u64`; the same seed
//! gives the same data.
//!
//! ```
//! use datasets::synthetic::{ModOp, ModularParams, modular_arithmetic};
//!
//! let data = modular_arithmetic(&ModularParams { p: 7, op: ModOp::Add, train_fraction: 0.5, seed: 0 })
//!     .unwrap();
//! assert_eq!(data.train.n() + data.test.n(), 49);
//! let (a, b) = data.train_pairs[0];
//! assert_eq!(data.train.labels.as_ref().unwrap()[0], (a + b) % 7);
//! assert_eq!(data.train.x[(0, a)], 1.0);
//! assert_eq!(data.train.x[(0, 7 + b)], 1.0);
//! ```
use std::fmt;
use std::str::FromStr;

use faer::{Mat, MatRef};
use linalg::random::{permutation, rng};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, split_size};
use crate::error::{DatasetError, Result};

// ---------------------------------------------------------------------------------------------
// Number theory
// ---------------------------------------------------------------------------------------------

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((a as u128 * b as u128) % m as u128) as u64
}

fn pow_mod(mut base: u64, mut exp: u64, m: u64) -> u64 {
    if m == 1 {
        return 0;
    }
    let mut acc = 1u64;
    base %= m;
    while exp > 0 {
        if exp & 1 == 1 {
            acc = mul_mod(acc, base, m);
        }
        base = mul_mod(base, base, m);
        exp >>= 1;
    }
    acc
}

/// `true` if `n` is prime (deterministic Miller-Rabin, exact for every 64-bit `n`).
///
/// ```
/// use datasets::synthetic::is_prime;
/// assert!(is_prime(2) && is_prime(61) && is_prime(97));
/// assert!(!is_prime(0) && !is_prime(1) && !is_prime(10) && !is_prime(561));
/// ```
pub fn is_prime(n: usize) -> bool {
    let n = n as u64;
    if n < 2 {
        return false;
    }
    const SMALL: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    for &q in &SMALL {
        if n.is_multiple_of(q) {
            return n == q;
        }
    }
    let mut d = n - 1;
    let mut s = 0;
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    'witness: for &a in &SMALL {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// The inverse of `a` modulo `p` (any modulus, not only primes), or `None` when it does not exist
/// (`gcd(a, p) != 1`, or `p < 2`).
///
/// ```
/// use datasets::synthetic::mod_inverse;
/// assert_eq!(mod_inverse(3, 7), Some(5)); // 3 * 5 = 15 = 1 mod 7
/// assert_eq!(mod_inverse(0, 7), None);
/// assert_eq!(mod_inverse(4, 10), None);
/// ```
pub fn mod_inverse(a: usize, p: usize) -> Option<usize> {
    if p < 2 {
        return None;
    }
    let (mut old_r, mut r) = ((a % p) as i128, p as i128);
    let (mut old_s, mut s) = (1i128, 0i128);
    while r != 0 {
        let q = old_r / r;
        (old_r, r) = (r, old_r - q * r);
        (old_s, s) = (s, old_s - q * s);
    }
    if old_r != 1 {
        return None;
    }
    Some(old_s.rem_euclid(p as i128) as usize)
}

fn require_prime(name: &str, p: usize) -> Result<()> {
    if !is_prime(p) {
        return Err(DatasetError::param(
            name,
            p,
            format!("p = {p} is not prime (a prime modulus is required)"),
        ));
    }
    Ok(())
}

/// Distinct prime factors of `n >= 1` (trial division).
fn prime_factors(mut n: u64) -> Vec<u64> {
    let mut f = Vec::new();
    let mut q = 2u64;
    while q.saturating_mul(q) <= n {
        if n.is_multiple_of(q) {
            f.push(q);
            while n.is_multiple_of(q) {
                n /= q;
            }
        }
        q += if q == 2 { 1 } else { 2 };
    }
    if n > 1 {
        f.push(n);
    }
    f
}

/// The smallest generator (primitive root) of the multiplicative group `Z_p^*`.
///
/// Fails unless `p` is prime. For `p = 2` the group is `{1}` and the answer is 1. Cost: trial
/// division of `p - 1`, i.e. `O(sqrt p)`.
///
/// ```
/// use datasets::synthetic::smallest_generator;
/// assert_eq!(smallest_generator(5).unwrap(), 2);
/// assert_eq!(smallest_generator(7).unwrap(), 3);
/// assert_eq!(smallest_generator(61).unwrap(), 2);
/// assert!(smallest_generator(10).is_err());
/// ```
pub fn smallest_generator(p: usize) -> Result<usize> {
    require_prime("p", p)?;
    if p == 2 {
        return Ok(1);
    }
    let pm1 = (p - 1) as u64;
    let factors = prime_factors(pm1);
    (2..p as u64)
        .find(|&g| factors.iter().all(|&q| pow_mod(g, pm1 / q, p as u64) != 1))
        .map(|g| g as usize)
        .ok_or_else(|| DatasetError::param("p", p, "no generator found (internal error)"))
}

/// Largest modulus accepted by [`discrete_log_table`] and [`generator_powers`] (their tables hold
/// `p` entries).
pub const MAX_TABLE_MODULUS: usize = 1 << 26;

/// The powers `g^0, g^1, ..., g^(p-2)` modulo `p`: the residues `1..p` in discrete-log order
/// (the permutation used to reorder multiplication / division feature matrices).
///
/// Fails unless `p` is prime (`<= MAX_TABLE_MODULUS`) and `g` generates `Z_p^*`.
///
/// ```
/// use datasets::synthetic::generator_powers;
/// assert_eq!(generator_powers(5, 2).unwrap(), vec![1, 2, 4, 3]);
/// ```
pub fn generator_powers(p: usize, g: usize) -> Result<Vec<usize>> {
    require_prime("p", p)?;
    if p > MAX_TABLE_MODULUS {
        return Err(DatasetError::param("p", p, format!("tables are limited to p <= {MAX_TABLE_MODULUS}")));
    }
    let mut seen = vec![false; p];
    let mut out = Vec::with_capacity(p - 1);
    let mut x = 1usize;
    for _ in 0..p - 1 {
        if seen[x] {
            break;
        }
        seen[x] = true;
        out.push(x);
        x = (x * (g % p)) % p;
    }
    if out.len() != p - 1 || x != 1 {
        return Err(DatasetError::param(
            "g",
            g,
            format!(
                "g = {g} is not a generator of Z_{p}^* (its powers reach {} of the {} residues)",
                out.len(),
                p - 1
            ),
        ));
    }
    Ok(out)
}

/// Checked discrete-logarithm table: `log[g^i mod p] = i` for the residues `1..p`; `log[0]`
/// (no logarithm) is `usize::MAX`.
///
/// Fails unless `p` is prime (`<= MAX_TABLE_MODULUS`) and `g` generates `Z_p^*`.
pub fn try_discrete_log_table(p: usize, g: usize) -> Result<Vec<usize>> {
    let powers = generator_powers(p, g)?;
    let mut log = vec![usize::MAX; p];
    for (i, &r) in powers.iter().enumerate() {
        log[r] = i;
    }
    Ok(log)
}

/// Discrete-logarithm table: `log[g^i mod p] = i` for the residues `1..p` (index 0 is unused and
/// holds `usize::MAX`).
///
/// Returns an **empty vector** when `p` is not prime or `g` is not a generator of `Z_p^*`; use
/// [`try_discrete_log_table`] for an error that says why.
///
/// ```
/// use datasets::synthetic::discrete_log_table;
/// // p = 5, g = 2: 2^0 = 1, 2^1 = 2, 2^2 = 4, 2^3 = 3
/// let log = discrete_log_table(5, 2);
/// assert_eq!(&log[1..], &[0, 1, 3, 2]);
/// assert!(discrete_log_table(5, 4).is_empty()); // 4 has order 2
/// ```
pub fn discrete_log_table(p: usize, g: usize) -> Vec<usize> {
    try_discrete_log_table(p, g).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Modular arithmetic (grokking)
// ---------------------------------------------------------------------------------------------

/// A binary operation modulo `p`.
///
/// Parses from `"add"`, `"sub"`, `"mul"`, `"div"` (also `"+"`, `"-"`, `"*"`, `"/"`, and the long
/// names, case-insensitive) and displays as the short name.
///
/// ```
/// use datasets::synthetic::ModOp;
/// let op: ModOp = "/".parse().unwrap();
/// assert_eq!(op, ModOp::Div);
/// assert_eq!(op.to_string(), "div");
/// assert_eq!(op.apply(3, 4, 7), Some(6)); // 3 * 4^{-1} = 3 * 2 = 6 mod 7
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModOp {
    /// `(a + b) mod p`.
    Add,
    /// `(a - b) mod p`.
    Sub,
    /// `(a * b) mod p`.
    Mul,
    /// `(a * b^{-1}) mod p`, defined for `b != 0`.
    Div,
}

impl ModOp {
    /// The four operations, in the paper's order.
    pub const ALL: [ModOp; 4] = [ModOp::Add, ModOp::Sub, ModOp::Mul, ModOp::Div];

    /// Short name: `"add"`, `"sub"`, `"mul"`, `"div"`.
    pub fn name(self) -> &'static str {
        match self {
            ModOp::Add => "add",
            ModOp::Sub => "sub",
            ModOp::Mul => "mul",
            ModOp::Div => "div",
        }
    }

    /// Symbol: `"+"`, `"-"`, `"*"`, `"/"`.
    pub fn symbol(self) -> &'static str {
        match self {
            ModOp::Add => "+",
            ModOp::Sub => "-",
            ModOp::Mul => "*",
            ModOp::Div => "/",
        }
    }

    /// `a ∘ b mod p` (operands are reduced mod `p` first); `None` for division by a multiple of
    /// `p` or for `p < 2` (for division, `p` should be prime so that every `b != 0` is
    /// invertible).
    pub fn apply(self, a: usize, b: usize, p: usize) -> Option<usize> {
        if p < 2 {
            return None;
        }
        let (a, b) = ((a % p) as u64, (b % p) as u64);
        let pm = p as u64;
        let r = match self {
            ModOp::Add => (a + b) % pm,
            ModOp::Sub => (a + pm - b) % pm,
            ModOp::Mul => mul_mod(a, b, pm),
            ModOp::Div => mul_mod(a, mod_inverse(b as usize, p)? as u64, pm),
        };
        Some(r as usize)
    }

    /// Smallest allowed second operand: 1 for division, 0 otherwise.
    pub fn min_b(self) -> usize {
        if self == ModOp::Div { 1 } else { 0 }
    }

    /// Number of pairs `(a, b)` for modulus `p`: `p^2`, or `p (p - 1)` for division.
    /// Saturates at `usize::MAX` for absurdly large `p`.
    pub fn n_pairs(self, p: usize) -> usize {
        p.saturating_mul(p - self.min_b().min(p))
    }
}

impl fmt::Display for ModOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModOp {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "add" | "+" | "plus" | "addition" => Ok(ModOp::Add),
            "sub" | "-" | "minus" | "subtraction" => Ok(ModOp::Sub),
            "mul" | "*" | "x" | "times" | "multiplication" => Ok(ModOp::Mul),
            "div" | "/" | "divide" | "division" => Ok(ModOp::Div),
            _ => Err(DatasetError::param(
                "modular operation",
                format!("{s:?}"),
                "expected one of add, sub, mul, div (or +, -, *, /)",
            )),
        }
    }
}

/// Upper bound on the memory of the dense one-hot matrices that [`modular_arithmetic`] allocates
/// (`N x 2p` inputs plus `N x p` targets, `N ≈ p^2`): 8 GiB, i.e. `p` up to about 700.
pub const MAX_MODULAR_BYTES: usize = 8 << 30;

/// Parameters of the modular-arithmetic task (grokking paper, §2.1).
///
/// ```
/// use datasets::synthetic::{ModOp, ModularParams};
/// let p = ModularParams::default().with_p(41).with_op(ModOp::Mul).with_seed(3);
/// assert!(p.validate().is_ok());
/// assert!(p.with_p(10).validate().unwrap_err().to_string().contains("prime"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModularParams {
    /// Prime modulus, `>= 3`.
    pub p: usize,
    /// Operation.
    pub op: ModOp,
    /// Fraction of all pairs used for training, strictly between 0 and 1.
    pub train_fraction: f64,
    /// Seed of the random split.
    pub seed: u64,
}

impl Default for ModularParams {
    /// The paper's main setting: `p = 61`, addition, `r = 0.5`, seed 0.
    fn default() -> Self {
        ModularParams { p: 61, op: ModOp::Add, train_fraction: 0.5, seed: 0 }
    }
}

impl ModularParams {
    /// Sets the modulus.
    pub fn with_p(mut self, p: usize) -> Self {
        self.p = p;
        self
    }

    /// Sets the operation.
    pub fn with_op(mut self, op: ModOp) -> Self {
        self.op = op;
        self
    }

    /// Sets the training fraction.
    pub fn with_train_fraction(mut self, r: f64) -> Self {
        self.train_fraction = r;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks that `p` is a prime `>= 3` (and small enough for the dense encoding), and that
    /// `train_fraction` is in `(0, 1)` with both splits non-empty.
    pub fn validate(&self) -> Result<()> {
        let p = self.p;
        require_prime("p", p)?;
        if p < 3 {
            return Err(DatasetError::param("p", p, "the modulus must be a prime >= 3"));
        }
        let pf = p as f64;
        let bytes = pf * (pf - self.op.min_b() as f64) * 3.0 * pf * 8.0;
        if bytes > MAX_MODULAR_BYTES as f64 {
            return Err(DatasetError::param(
                "p",
                p,
                format!(
                    "the dense one-hot data for p = {p} would need about {:.1} GB (limit {:.1} GB)",
                    bytes / 1e9,
                    MAX_MODULAR_BYTES as f64 / 1e9
                ),
            ));
        }
        split_size(self.op.n_pairs(p), self.train_fraction, "train_fraction")?;
        Ok(())
    }
}

/// The modular-arithmetic task split into training and test sets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModularData {
    /// Training set: `x = e_a ⊕ e_b` (`n_train x 2p`), `y` one-hot of `a ∘ b` (`n_train x p`).
    pub train: Dataset,
    /// Test set, same encoding.
    pub test: Dataset,
    /// The pair `(a, b)` of each training row.
    pub train_pairs: Vec<(usize, usize)>,
    /// The pair `(a, b)` of each test row.
    pub test_pairs: Vec<(usize, usize)>,
    /// Modulus.
    pub p: usize,
    /// Operation.
    pub op: ModOp,
}

/// Every pair `(a, b)` of the task in lexicographic order: `a in 0..p`, `b in 0..p` (`1..p` for
/// division).
pub fn all_pairs(p: usize, op: ModOp) -> Vec<(usize, usize)> {
    let b0 = op.min_b();
    (0..p).flat_map(|a| (b0..p).map(move |b| (a, b))).collect()
}

/// The input encoding `e_a ⊕ e_b` of each pair: an `n x 2p` matrix with ones at columns `a` and
/// `p + b`. Fails if a pair has an operand `>= p` or if `pairs` is empty.
pub fn encode_pairs(pairs: &[(usize, usize)], p: usize) -> Result<Mat<f64>> {
    if pairs.is_empty() {
        return Err(DatasetError::empty("pair list"));
    }
    if let Some((i, &(a, b))) = pairs.iter().enumerate().find(|(_, (a, b))| *a >= p || *b >= p) {
        return Err(DatasetError::param(
            &format!("pairs[{i}]"),
            format!("({a}, {b})"),
            format!("operands must be < p = {p}"),
        ));
    }
    let mut x = Mat::<f64>::zeros(pairs.len(), 2 * p);
    for (i, &(a, b)) in pairs.iter().enumerate() {
        x[(i, a)] = 1.0;
        x[(i, p + b)] = 1.0;
    }
    Ok(x)
}

fn modular_dataset(name: String, pairs: &[(usize, usize)], p: usize, op: ModOp) -> Result<Dataset> {
    let x = encode_pairs(pairs, p)?;
    let labels = pairs
        .iter()
        .map(|&(a, b)| {
            op.apply(a, b, p).ok_or_else(|| {
                DatasetError::param("pair", format!("({a}, {b})"), format!("{op} undefined mod {p}"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Dataset::classification(&name, x, labels, p)
}

/// The modular-arithmetic task `(a, b) -> a ∘ b mod p` of the grokking paper (§2.1).
///
/// All `N = p^2` pairs (`p (p - 1)` for division, where `b != 0` and the label is `a b^{-1}`) are
/// put in a seeded random order ([`linalg::random::permutation`]`(N, seed)`); the first
/// `floor(train_fraction * N)` are the training set and the rest the test set. Inputs are
/// `e_a ⊕ e_b ∈ R^{2p}`, targets the one-hot label in `R^p`, with `labels` and `n_classes = p` set.
///
/// Fails (see [`ModularParams::validate`]) when `p` is not a prime `>= 3` or the fraction leaves a
/// split empty.
pub fn modular_arithmetic(params: &ModularParams) -> Result<ModularData> {
    params.validate()?;
    let ModularParams { p, op, train_fraction, seed } = *params;
    let pairs = all_pairs(p, op);
    let n = pairs.len();
    let n_train = split_size(n, train_fraction, "train_fraction")?;
    let perm = permutation(n, seed);
    let train_pairs: Vec<_> = perm[..n_train].iter().map(|&i| pairs[i]).collect();
    let test_pairs: Vec<_> = perm[n_train..].iter().map(|&i| pairs[i]).collect();
    let train = modular_dataset(format!("modular/{op}/p={p}/train"), &train_pairs, p, op)?;
    let test = modular_dataset(format!("modular/{op}/p={p}/test"), &test_pairs, p, op)?;
    Ok(ModularData { train, test, train_pairs, test_pairs, p, op })
}

// ---------------------------------------------------------------------------------------------
// Multi-index regression
// ---------------------------------------------------------------------------------------------

/// Target functions of the synthetic multi-index regression tasks (RFM core paper, §1.2).
///
/// Coordinates are 0-based in code: `Prod` is `y = x[0] * x[1]`, `Sparse3` is
/// `y = x[0] * x[1] * 1[x[5] > 0]` (the paper's 1-based coordinates 1, 2 and 6).
/// Parses from / displays as `"prod"` and `"sparse3"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MultiIndexTask {
    /// `y = x1 * x2`.
    Prod,
    /// `y = x1 * x2 * 1[x6 > 0]`.
    Sparse3,
}

impl MultiIndexTask {
    /// Short name: `"prod"` or `"sparse3"`.
    pub fn name(self) -> &'static str {
        match self {
            MultiIndexTask::Prod => "prod",
            MultiIndexTask::Sparse3 => "sparse3",
        }
    }

    /// The 0-based input coordinates the target depends on.
    pub fn relevant_coordinates(self) -> &'static [usize] {
        match self {
            MultiIndexTask::Prod => &[0, 1],
            MultiIndexTask::Sparse3 => &[0, 1, 5],
        }
    }

    /// Smallest input dimension: 2 for `Prod`, 6 for `Sparse3`.
    pub fn min_dim(self) -> usize {
        match self {
            MultiIndexTask::Prod => 2,
            MultiIndexTask::Sparse3 => 6,
        }
    }

    /// The target of one input row (which must have at least [`MultiIndexTask::min_dim`] entries).
    fn eval(self, row: impl Fn(usize) -> f64) -> f64 {
        match self {
            MultiIndexTask::Prod => row(0) * row(1),
            MultiIndexTask::Sparse3 => {
                if row(5) > 0.0 {
                    row(0) * row(1)
                } else {
                    0.0
                }
            }
        }
    }

    /// The targets (`n x 1`) of the inputs `x` (`n x d`). Fails if `x` is empty, not finite, or
    /// has fewer than [`MultiIndexTask::min_dim`] columns.
    pub fn targets(self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        linalg::validate::check_data("multi-index inputs", x)?;
        if x.ncols() < self.min_dim() {
            return Err(DatasetError::shape(
                format!("multi-index task {self}"),
                format!("at least {} columns", self.min_dim()),
                format!("{} columns", x.ncols()),
            ));
        }
        Ok(Mat::from_fn(x.nrows(), 1, |i, _| self.eval(|j| x[(i, j)])))
    }
}

impl fmt::Display for MultiIndexTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MultiIndexTask {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "prod" | "product" => Ok(MultiIndexTask::Prod),
            "sparse3" => Ok(MultiIndexTask::Sparse3),
            _ => Err(DatasetError::param(
                "multi-index task",
                format!("{s:?}"),
                "expected \"prod\" or \"sparse3\"",
            )),
        }
    }
}

/// `n` samples `x ~ N(0, I_d)` with the target of `task` (`y` is `n x 1`), named
/// `"multi_index/{task}"`.
///
/// Rows are drawn one after the other from one seeded RNG, so the first `m` rows do not depend on
/// `n >= m`: use different seeds for training and test sets. Fails if `n == 0` or
/// `d < task.min_dim()` (2 for `Prod`, 6 for `Sparse3`).
///
/// ```
/// use datasets::synthetic::{MultiIndexTask, multi_index};
/// let data = multi_index(MultiIndexTask::Prod, 100, 10, 0).unwrap();
/// assert_eq!((data.n(), data.d(), data.c()), (100, 10, 1));
/// assert_eq!(data.y[(3, 0)], data.x[(3, 0)] * data.x[(3, 1)]);
/// ```
pub fn multi_index(task: MultiIndexTask, n: usize, d: usize, seed: u64) -> Result<Dataset> {
    if n == 0 {
        return Err(DatasetError::param("n", n, "at least one sample is needed"));
    }
    if d < task.min_dim() {
        return Err(DatasetError::param("d", d, format!("task {task} needs d >= {}", task.min_dim())));
    }
    let mut r = rng(seed);
    let mut x = Mat::<f64>::zeros(n, d);
    for i in 0..n {
        for j in 0..d {
            x[(i, j)] = StandardNormal.sample(&mut r);
        }
    }
    let y = task.targets(x.as_ref())?;
    Dataset::new(&format!("multi_index/{task}"), x, y)
}

// ---------------------------------------------------------------------------------------------
// Gaussian mixture
// ---------------------------------------------------------------------------------------------

/// A balanced `n_classes`-class Gaussian mixture in `R^d`: class means are
/// `separation * u_k` for seeded random unit vectors `u_k`, and each sample is its class mean plus
/// `N(0, I_d)` noise. Sample `i` has label `i % n_classes` (so classes are balanced: counts differ
/// by at most one, also in every prefix); `y` is one-hot.
///
/// Fails unless `n_classes >= 2`, `n >= n_classes`, `d >= 1` and `separation` is finite and
/// `>= 0`.
///
/// ```
/// let data = datasets::synthetic::gaussian_mixture(90, 5, 3, 4.0, 1).unwrap();
/// assert_eq!(data.class_counts(), Some(vec![30, 30, 30]));
/// ```
pub fn gaussian_mixture(n: usize, d: usize, n_classes: usize, separation: f64, seed: u64) -> Result<Dataset> {
    if n_classes < 2 {
        return Err(DatasetError::param("n_classes", n_classes, "at least 2 classes are needed"));
    }
    if n < n_classes {
        return Err(DatasetError::param(
            "n",
            n,
            format!("need at least one sample per class (n_classes = {n_classes})"),
        ));
    }
    if d == 0 {
        return Err(DatasetError::param("d", d, "must be >= 1"));
    }
    if !(separation.is_finite() && separation >= 0.0) {
        return Err(DatasetError::param("separation", separation, "must be finite and >= 0"));
    }
    let mut r = rng(seed);
    let mut means = Mat::<f64>::zeros(n_classes, d);
    for k in 0..n_classes {
        loop {
            let v: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut r)).collect();
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm > 1e-12 {
                for (j, a) in v.iter().enumerate() {
                    means[(k, j)] = separation * a / norm;
                }
                break;
            }
        }
    }
    let labels: Vec<usize> = (0..n).map(|i| i % n_classes).collect();
    let mut x = Mat::<f64>::zeros(n, d);
    for i in 0..n {
        for j in 0..d {
            let e: f64 = StandardNormal.sample(&mut r);
            x[(i, j)] = means[(labels[i], j)] + e;
        }
    }
    Dataset::classification("gaussian_mixture", x, labels, n_classes)
}

// ---------------------------------------------------------------------------------------------
// Star images (local signal)
// ---------------------------------------------------------------------------------------------

/// The offsets of the 5 x 5 star (asterisk) motif: the centre, and arms of length 2 along the row,
/// the column and both diagonals (17 pixels).
pub const STAR_OFFSETS: [(i32, i32); 17] = [
    (0, 0),
    (0, 1),
    (0, 2),
    (0, -1),
    (0, -2),
    (1, 0),
    (2, 0),
    (-1, 0),
    (-2, 0),
    (1, 1),
    (2, 2),
    (-1, -1),
    (-2, -2),
    (1, -1),
    (2, -2),
    (-1, 1),
    (-2, 2),
];

/// The Star task of the ConvRFM paper (grayscale): `size x size` images of `N(0, noise^2)` pixels;
/// class 1 (odd rows) also carries a small star (value 1 on the [`STAR_OFFSETS`] pixels) at a
/// uniformly random position fully inside the image, class 0 (even rows) is pure noise. Rows are
/// images in row-major order (`size^2` columns); `y` is one-hot over the 2 classes.
///
/// Fails unless `n >= 2`, `size >= 5` and `noise` is finite and `>= 0`.
///
/// ```
/// let data = datasets::synthetic::star_images(10, 8, 0.3, 1).unwrap();
/// assert_eq!((data.n(), data.d(), data.c()), (10, 64, 2));
/// ```
pub fn star_images(n: usize, size: usize, noise: f64, seed: u64) -> Result<Dataset> {
    if n < 2 {
        return Err(DatasetError::param("n", n, "need at least 2 images (one per class)"));
    }
    if size < 5 {
        return Err(DatasetError::param("size", size, "images must be at least 5 x 5 to hold the star"));
    }
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(DatasetError::param("noise", noise, "must be finite and >= 0"));
    }
    let mut r = rng(seed);
    let mut x = Mat::<f64>::zeros(n, size * size);
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    for i in 0..n {
        for j in 0..size * size {
            let e: f64 = StandardNormal.sample(&mut r);
            x[(i, j)] = noise * e;
        }
        if labels[i] == 1 {
            let lo = 2;
            let hi = size - 2; // exclusive upper bound of the centre
            let ci = lo + (rand::Rng::random_range(&mut r, 0..(hi - lo)));
            let cj = lo + (rand::Rng::random_range(&mut r, 0..(hi - lo)));
            for (di, dj) in STAR_OFFSETS {
                let (a, b) = ((ci as i32 + di) as usize, (cj as i32 + dj) as usize);
                x[(i, a * size + b)] = 1.0;
            }
        }
    }
    Dataset::classification("star", x, labels, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let small: Vec<usize> = (0..50).filter(|&n| is_prime(n)).collect();
        assert_eq!(small, vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]);
        assert!(is_prime(1_000_000_007));
        assert!(!is_prime(3_215_031_751)); // strong pseudoprime to bases 2, 3, 5, 7
        for n in 2..2000 {
            let naive = (2..n).take_while(|q| q * q <= n).all(|q| n % q != 0);
            assert_eq!(is_prime(n), naive, "{n}");
        }
    }

    #[test]
    fn inverses() {
        for p in [3, 5, 7, 61, 97] {
            for a in 1..p {
                let inv = mod_inverse(a, p).unwrap();
                assert_eq!(a * inv % p, 1);
            }
            assert_eq!(mod_inverse(0, p), None);
            assert_eq!(mod_inverse(p, p), None);
        }
        assert_eq!(mod_inverse(3, 10), Some(7));
        assert_eq!(mod_inverse(1, 1), None);
    }

    #[test]
    fn generators_and_logs() {
        assert_eq!(smallest_generator(5).unwrap(), 2);
        assert_eq!(smallest_generator(2).unwrap(), 1);
        assert_eq!(smallest_generator(3).unwrap(), 2);
        assert_eq!(smallest_generator(23).unwrap(), 5);
        assert_eq!(smallest_generator(41).unwrap(), 6);
        assert_eq!(smallest_generator(59).unwrap(), 2);
        assert_eq!(smallest_generator(97).unwrap(), 5);
        let e = smallest_generator(10).unwrap_err().to_string();
        assert!(e.contains("prime") && e.contains("10"), "{e}");
        let log = discrete_log_table(5, 2);
        assert_eq!(log, vec![usize::MAX, 0, 1, 3, 2]);
        for p in [7, 13, 61] {
            let g = smallest_generator(p).unwrap();
            let log = discrete_log_table(p, g);
            for i in 0..p - 1 {
                assert_eq!(log[pow_mod(g as u64, i as u64, p as u64) as usize], i);
            }
        }
        assert!(try_discrete_log_table(7, 2).is_err()); // 2 has order 3 mod 7
        assert!(try_discrete_log_table(8, 3).is_err());
        assert!(discrete_log_table(7, 0).is_empty());
    }

    #[test]
    fn ops_parse_and_apply() {
        for op in ModOp::ALL {
            assert_eq!(op.to_string().parse::<ModOp>().unwrap(), op);
            assert_eq!(op.symbol().parse::<ModOp>().unwrap(), op);
            let s = serde_json::to_string(&op).unwrap();
            assert_eq!(s, format!("\"{op}\""));
            assert_eq!(serde_json::from_str::<ModOp>(&s).unwrap(), op);
        }
        assert!("pow".parse::<ModOp>().is_err());
        assert_eq!(ModOp::Sub.apply(2, 5, 7), Some(4));
        assert_eq!(ModOp::Mul.apply(4, 5, 7), Some(6));
        assert_eq!(ModOp::Div.apply(4, 0, 7), None);
        assert_eq!(ModOp::Div.n_pairs(7), 42);
        for t in [MultiIndexTask::Prod, MultiIndexTask::Sparse3] {
            assert_eq!(t.to_string().parse::<MultiIndexTask>().unwrap(), t);
        }
        assert!("sum".parse::<MultiIndexTask>().is_err());
    }

    #[test]
    fn modular_small() {
        let d = modular_arithmetic(&ModularParams { p: 5, op: ModOp::Div, train_fraction: 0.5, seed: 1 })
            .unwrap();
        assert_eq!((d.train.n(), d.test.n()), (10, 10));
        assert_eq!((d.train.d(), d.train.c()), (10, 5));
        for (ds, pairs) in [(&d.train, &d.train_pairs), (&d.test, &d.test_pairs)] {
            for (i, &(a, b)) in pairs.iter().enumerate() {
                let l = ds.labels.as_ref().unwrap()[i];
                assert_eq!(l * b % 5, a);
            }
        }
        for bad in [0usize, 1, 2, 4, 10] {
            let e = modular_arithmetic(&ModularParams::default().with_p(bad)).unwrap_err();
            assert!(e.to_string().contains("prime"), "{e}");
        }
        let e = ModularParams::default().with_p(1009).validate().unwrap_err();
        assert!(e.to_string().contains("GB"), "{e}");
        // 2^61 - 1 is prime: rejected by size, without overflow
        let e = ModularParams::default().with_p(2_305_843_009_213_693_951).validate().unwrap_err();
        assert!(e.to_string().contains("GB"), "{e}");
    }

    #[test]
    fn sparse3_target() {
        let d = multi_index(MultiIndexTask::Sparse3, 200, 8, 4).unwrap();
        let mut zeros = 0;
        for i in 0..200 {
            let want = if d.x[(i, 5)] > 0.0 {
                d.x[(i, 0)] * d.x[(i, 1)]
            } else {
                zeros += 1;
                0.0
            };
            assert_eq!(d.y[(i, 0)], want);
        }
        assert!(zeros > 50 && zeros < 150);
        assert!(multi_index(MultiIndexTask::Sparse3, 10, 5, 0).is_err());
        assert!(multi_index(MultiIndexTask::Prod, 10, 1, 0).is_err());
        assert!(multi_index(MultiIndexTask::Prod, 0, 3, 0).is_err());
        // prefix property
        let a = multi_index(MultiIndexTask::Prod, 5, 3, 9).unwrap();
        let b = multi_index(MultiIndexTask::Prod, 8, 3, 9).unwrap();
        assert_eq!(a.x, b.take_first(5).unwrap().x);
    }

    #[test]
    fn mixture_checks() {
        assert!(gaussian_mixture(10, 2, 1, 1.0, 0).is_err());
        assert!(gaussian_mixture(2, 2, 3, 1.0, 0).is_err());
        assert!(gaussian_mixture(10, 0, 2, 1.0, 0).is_err());
        assert!(gaussian_mixture(10, 2, 2, f64::NAN, 0).is_err());
        assert!(gaussian_mixture(10, 2, 2, -1.0, 0).is_err());
        let a = gaussian_mixture(11, 3, 3, 2.0, 5).unwrap();
        assert_eq!(a.class_counts(), Some(vec![4, 4, 3]));
        assert_eq!(a, gaussian_mixture(11, 3, 3, 2.0, 5).unwrap());
    }
}

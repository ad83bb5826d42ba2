//! The eigenframework: omniscient predictions of the test and train risk of random-feature ridge
//! regression (and of kernel ridge regression, its infinite-feature limit) from the kernel's
//! eigenvalues `lambda_i`, the target's eigencoefficients `v_i^2` and the noise variance `sigma^2`.
//!
//! With `n` samples, `k` features and ridge `delta` (kernel matrix not divided by `n`), `kappa` and
//! `gamma` are the unique positive solution of
//!
//! ```text
//! (E1)  n = sum_i lambda_i / (lambda_i + gamma) + delta / kappa
//! (E2)  k = sum_i lambda_i / (lambda_i + gamma) + k kappa / gamma
//! ```
//!
//! With the learnabilities `L_i = lambda_i / (lambda_i + gamma)`, `z = sum L_i`, `q = sum L_i^2`:
//!
//! ```text
//! E0   = 1 / (1 - x),  x = (q (k - 2 z) + z^2) / (n (k - q))
//! b_i  = (1 - L_i) - kappa k / (k - q) L_i / (lambda_i + gamma)
//!      = (1 - L_i) (1 - c L_i),  c = (1 - z/k) / (1 - q/k)
//! E_te = E0 (sum_i b_i v_i^2 + sigma^2)          (test MSE including label noise)
//! E_tr = (delta / (n kappa))^2 E_te = ((n - z) / n)^2 E_te
//! ```
//!
//! As `k -> infinity`, `kappa = gamma`, `c = 1`, `x = q / n`: the kernel ridge regression formula
//! ([`krr_risk`]).
//!
//! ## Solver
//!
//! Eliminating `kappa = gamma (1 - z(gamma)/k)` with (E2) leaves one equation in `gamma`,
//! `F(gamma) = z(gamma) - n + delta / (gamma (1 - z(gamma)/k)) = 0`, whose left side is strictly
//! decreasing on the domain `z(gamma) < k` (and `+infinity` at its left end). It is solved in
//! `t = ln gamma` by Newton's method safeguarded with bisection of a bracket, which converges in a
//! few dozen passes over the eigenvalues even for `10^4+` of them. Ridge 0 is handled exactly:
//!
//! * `n < min(k, rank)`: `z(gamma) = n`, `kappa = gamma (1 - n/k) > 0`;
//! * `k <= n`, `k < rank`: the ridgeless limit has `kappa -> 0` with `delta/kappa = n - k` and
//!   `z(gamma) = k`; at `k = n` the risk diverges (`E0 = infinity`, the interpolation peak);
//! * `rank <= min(n, k)`: every mode is learned exactly (`gamma = kappa = 0`, `L_i = 1`).
//!
//! ```
//! use random_features::theory::{Spectrum, rf_risk, krr_risk};
//! let spec = Spectrum::powerlaw(1000, 1.5, 1.5, 0.5).unwrap();
//! let rf = rf_risk(&spec, 256.0, 1024.0, 1e-2).unwrap();
//! let krr = krr_risk(&spec, 256.0, 1e-2).unwrap();
//! assert!(rf.test_risk > krr.test_risk && krr.test_risk > 0.5);
//! assert!(rf.train_risk < rf.test_risk);
//! ```
use crate::error::{Result, RfError, check_nonnegative, invalid};
use serde::{Deserialize, Serialize};

/// A learning task in the kernel eigenbasis: eigenvalues `lambda_i >= 0`, target powers
/// `v_i^2 >= 0` (one per eigenvalue) and the label-noise variance `sigma^2 >= 0`.
///
/// Built with [`Spectrum::new`] (validated) or [`Spectrum::powerlaw`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpectrumData")]
pub struct Spectrum {
    eigenvalues: Vec<f64>,
    target_power: Vec<f64>,
    noise: f64,
}

#[derive(Deserialize)]
struct SpectrumData {
    eigenvalues: Vec<f64>,
    target_power: Vec<f64>,
    noise: f64,
}

impl TryFrom<SpectrumData> for Spectrum {
    type Error = RfError;
    fn try_from(d: SpectrumData) -> Result<Self> {
        Spectrum::new(d.eigenvalues, d.target_power, d.noise)
    }
}

/// Checks a list of eigenvalues: non-empty, every entry finite and `>= 0`.
pub fn validate_eigenvalues(eigenvalues: &[f64]) -> Result<()> {
    check_list("eigenvalue", eigenvalues)
}

fn check_list(what: &str, v: &[f64]) -> Result<()> {
    if v.is_empty() {
        return Err(RfError::Empty { what: format!("the list of {what}s") });
    }
    if let Some((i, &x)) = v.iter().enumerate().find(|(_, x)| !(x.is_finite() && **x >= 0.0)) {
        let reason = if x.is_nan() {
            "NaN"
        } else if x.is_infinite() {
            "infinite"
        } else {
            "negative; a kernel's eigenvalues and target powers must be >= 0"
        };
        return Err(RfError::InvalidSpectrum {
            what: what.to_string(),
            index: i,
            value: x,
            reason: reason.into(),
        });
    }
    Ok(())
}

impl Spectrum {
    /// A validated task. Errors: empty lists, lengths that differ, a negative/NaN/infinite entry, a
    /// negative or non-finite noise variance.
    ///
    /// ```
    /// use random_features::theory::Spectrum;
    /// assert!(Spectrum::new(vec![1.0, 0.5], vec![1.0, 0.0], 0.1).is_ok());
    /// let err = Spectrum::new(vec![1.0, -0.5], vec![1.0, 0.0], 0.1).unwrap_err();
    /// assert!(err.to_string().contains("negative"));
    /// assert!(Spectrum::new(vec![], vec![], 0.0).is_err());
    /// ```
    pub fn new(eigenvalues: Vec<f64>, target_power: Vec<f64>, noise: f64) -> Result<Self> {
        check_list("eigenvalue", &eigenvalues)?;
        check_list("target power", &target_power)?;
        if eigenvalues.len() != target_power.len() {
            return Err(RfError::ShapeMismatch {
                context: "spectrum".into(),
                expected: format!("{} target powers (one per eigenvalue)", eigenvalues.len()),
                got: format!("{}", target_power.len()),
            });
        }
        check_nonnegative("noise variance", noise)?;
        Ok(Spectrum { eigenvalues, target_power, noise })
    }

    /// The powerlaw task of the paper: `lambda_i = i^-alpha`, `v_i^2 = i^-beta` for
    /// `i = 1..=modes`, noise `sigma^2`. Errors: `modes = 0`, non-finite exponents, bad noise.
    pub fn powerlaw(modes: usize, alpha: f64, beta: f64, noise: f64) -> Result<Self> {
        if modes == 0 {
            return Err(invalid("modes", 0, "a powerlaw spectrum needs at least one mode"));
        }
        if !alpha.is_finite() || alpha <= 0.0 {
            return Err(invalid("alpha", alpha, "the eigenvalue exponent must be finite and > 0"));
        }
        if !beta.is_finite() {
            return Err(invalid("beta", beta, "the target exponent must be finite"));
        }
        let eig = (1..=modes).map(|i| (i as f64).powf(-alpha)).collect();
        let v2 = (1..=modes).map(|i| (i as f64).powf(-beta)).collect();
        Spectrum::new(eig, v2, noise)
    }

    /// The same task with another noise variance.
    pub fn with_noise(&self, noise: f64) -> Result<Self> {
        check_nonnegative("noise variance", noise)?;
        Ok(Spectrum { noise, ..self.clone() })
    }

    /// The eigenvalues `lambda_i`.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// The target powers `v_i^2`.
    pub fn target_power(&self) -> &[f64] {
        &self.target_power
    }

    /// The noise variance `sigma^2`.
    pub fn noise(&self) -> f64 {
        self.noise
    }

    /// Number of modes.
    pub fn len(&self) -> usize {
        self.eigenvalues.len()
    }

    /// Always false (a spectrum has at least one mode); for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        self.eigenvalues.is_empty()
    }

    /// `sum_i v_i^2`: the null predictor's risk is this plus `sigma^2`.
    pub fn signal_power(&self) -> f64 {
        self.target_power.iter().sum()
    }

    /// `sum_{i > m} v_i^2` in the order stored (for a spectrum sorted by decreasing eigenvalue:
    /// the signal outside the top `m` modes, the paper's yardstick for relative noise).
    pub fn tail_power(&self, m: usize) -> f64 {
        self.target_power.iter().skip(m).sum()
    }
}

/// The solution `(kappa, gamma)` of the eigenframework equations at one `(n, k, ridge)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Solution {
    /// Number of samples.
    pub n: f64,
    /// Number of features (`f64::INFINITY` for kernel ridge regression).
    pub k: f64,
    /// Ridge `delta`.
    pub ridge: f64,
    /// `kappa >= 0` (0 only in the ridgeless limit with `k <= n` or `rank <= min(n, k)`).
    pub kappa: f64,
    /// `gamma >= kappa`.
    pub gamma: f64,
    /// `z = sum_i L_i`, the sum of learnabilities (`<= min(n, k)`).
    pub learnability_sum: f64,
    /// `q = sum_i L_i^2`.
    pub learnability_sq_sum: f64,
    /// `delta / kappa = n - z` (finite also in the ridgeless limit where `kappa = 0`).
    pub ridge_over_kappa: f64,
    /// Passes over the eigenvalues spent by the root finder.
    pub iterations: usize,
}

impl Solution {
    /// The learnabilities `L_i = lambda_i / (lambda_i + gamma)` (1 for positive eigenvalues and 0
    /// for zero ones when `gamma = 0`).
    pub fn learnabilities(&self, eigenvalues: &[f64]) -> Vec<f64> {
        eigenvalues.iter().map(|&l| learnability(l, self.gamma)).collect()
    }

    /// Relative residuals of (E1) and (E2) at this solution, recomputing the sums from `gamma`:
    /// `|z + delta/kappa - n| / n` and `|z + k kappa/gamma - k| / k` (with `delta/kappa` and
    /// `kappa/gamma` taken from their ridgeless limits when `kappa = 0`; (E2) is reported as 0 for
    /// `k = infinity`, where it only says `kappa = gamma`).
    pub fn residuals(&self, eigenvalues: &[f64]) -> (f64, f64) {
        let (z, _) =
            if self.gamma > 0.0 { sums(eigenvalues, self.gamma) } else { (self.learnability_sum, 0.0) };
        let d_over_k = if self.kappa > 0.0 { self.ridge / self.kappa } else { self.ridge_over_kappa };
        let e1 = (z + d_over_k - self.n).abs() / self.n;
        let e2 = if self.k.is_infinite() {
            (self.kappa - self.gamma).abs() / self.gamma.max(f64::MIN_POSITIVE)
        } else {
            let k_over = if self.gamma > 0.0 { self.kappa / self.gamma } else { 1.0 - z / self.k };
            (z + self.k * k_over - self.k).abs() / self.k
        };
        (e1, e2)
    }
}

#[inline]
fn learnability(l: f64, gamma: f64) -> f64 {
    if gamma > 0.0 {
        l / (l + gamma)
    } else if l > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// `(sum L_i, sum L_i^2)` at `gamma > 0`, with 8 independent accumulators so the loop vectorises
/// (compiled for AVX-512 / AVX2 / baseline and dispatched at run time).
#[multiversion::multiversion(targets = "simd")]
fn sums(eigs: &[f64], gamma: f64) -> (f64, f64) {
    let mut z = [0.0f64; 8];
    let mut q = [0.0f64; 8];
    let chunks = eigs.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for j in 0..8 {
            let l = c[j] / (c[j] + gamma);
            z[j] += l;
            q[j] += l * l;
        }
    }
    let (mut zs, mut qs) = (z.iter().sum::<f64>(), q.iter().sum::<f64>());
    for &e in rem {
        let l = e / (e + gamma);
        zs += l;
        qs += l * l;
    }
    (zs, qs)
}

fn check_nk(n: f64, k: f64, ridge: f64) -> Result<()> {
    if !(n.is_finite() && n > 0.0) {
        return Err(invalid("n", n, "the number of samples must be finite and > 0"));
    }
    if k.is_nan() || k <= 0.0 {
        return Err(invalid(
            "k",
            k,
            "the number of features must be > 0 (f64::INFINITY for kernel regression)",
        ));
    }
    if !(ridge.is_finite() && ridge >= 0.0) {
        return Err(invalid("ridge", ridge, "the ridge must be finite and >= 0"));
    }
    Ok(())
}

/// Root of a strictly decreasing function of `t` (`None` = `+infinity`, left of the domain) on the
/// bracket `[lo, hi]` with `f(lo) > 0` (or `None`) and `f(hi) < 0`: Newton's method safeguarded by
/// bisection. Returns `(t, evaluations)`.
fn decreasing_root(
    eval: &dyn Fn(f64) -> Option<(f64, f64)>,
    mut lo: f64,
    mut hi: f64,
    tol: f64,
    mut evals: usize,
) -> Option<(f64, usize)> {
    let (mut f, mut d) = eval(hi)?;
    evals += 1;
    let mut t = hi;
    let mut force_bisect = false;
    for _ in 0..400 {
        if f.abs() <= tol {
            return Some((t, evals));
        }
        let width = hi - lo;
        if width <= 8.0 * f64::EPSILON * t.abs().max(1.0) {
            return Some((t, evals));
        }
        let newton = t - f / d;
        // The Newton correction is at round-off level: converged.
        if d < 0.0 && (newton - t).abs() <= 2e-15 * t.abs().max(1.0) {
            return Some((t, evals));
        }
        let cand = if !force_bisect && d < 0.0 && newton.is_finite() && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if cand <= lo || cand >= hi {
            return Some((t, evals));
        }
        evals += 1;
        match eval(cand) {
            None => {
                lo = cand;
                force_bisect = true;
            }
            Some((fc, dc)) => {
                if fc > 0.0 {
                    lo = cand;
                } else if fc < 0.0 {
                    hi = cand;
                } else {
                    return Some((cand, evals));
                }
                // Newton continues from the best point; bisect when |f| did not halve.
                force_bisect = fc.abs() > 0.5 * f.abs() && hi - lo > 0.5 * width;
                if fc.abs() < f.abs() {
                    (t, f, d) = (cand, fc, dc);
                }
            }
        }
    }
    None
}

fn no_convergence(n: f64, k: f64, ridge: f64, what: &str) -> RfError {
    RfError::NoConvergence {
        context: format!("the kappa/gamma solver at n = {n}, k = {k}, ridge = {ridge:e}"),
        detail: format!("{what}; rescale the eigenvalues or use ridge 0 instead of a vanishing ridge"),
    }
}

/// `gamma` with `z(gamma) = c` for `0 < c < rank`.
fn solve_z_equals(eigs: &[f64], c: f64, total: f64, n: f64, k: f64) -> Result<(f64, usize)> {
    let eval = |t: f64| {
        let (z, q) = sums(eigs, t.exp());
        Some((z - c, -(z - q)))
    };
    // z(gamma) < sum(lambda) / gamma, so gamma = 2 sum(lambda) / c is to the right of the root.
    let hi = (2.0 * total / c).ln();
    let mut lo = hi;
    let mut evals = 0;
    loop {
        lo -= 7.0;
        evals += 1;
        if lo < -744.0 {
            return Err(no_convergence(n, k, 0.0, "no gamma > 1e-323 has sum L_i above the target"));
        }
        if eval(lo).is_some_and(|(f, _)| f > 0.0) {
            break;
        }
    }
    let (t, evals) = decreasing_root(&eval, lo, hi, 1e-15 * c, evals)
        .ok_or_else(|| no_convergence(n, k, 0.0, "the root finder ran out of iterations"))?;
    Ok((t.exp(), evals))
}

/// Solves (E1)-(E2) for `kappa` and `gamma` (see the module docs). `k = f64::INFINITY` gives the
/// kernel ridge regression equation `n = sum L_i + delta / kappa`, `kappa = gamma`.
///
/// Errors: `n` not finite and `> 0`, `k` not `> 0`, ridge negative or not finite, an empty
/// spectrum or a negative/NaN/infinite eigenvalue, or (for absurdly scaled inputs) no convergence.
///
/// ```
/// use random_features::theory::solve;
/// let eig: Vec<f64> = (1..=100).map(|i| (i as f64).powf(-2.0)).collect();
/// let s = solve(&eig, 20.0, 50.0, 1e-3).unwrap();
/// assert!(s.gamma > s.kappa && s.kappa > 0.0);
/// let (e1, e2) = s.residuals(&eig);
/// assert!(e1 < 1e-10 && e2 < 1e-10);
/// assert!(solve(&eig, 0.0, 50.0, 1e-3).is_err());
/// assert!(solve(&eig, 20.0, 50.0, -1.0).is_err());
/// ```
pub fn solve(eigenvalues: &[f64], n: f64, k: f64, ridge: f64) -> Result<Solution> {
    check_nk(n, k, ridge)?;
    validate_eigenvalues(eigenvalues)?;
    solve_unchecked(eigenvalues, n, k, ridge)
}

fn solve_unchecked(eigs: &[f64], n: f64, k: f64, ridge: f64) -> Result<Solution> {
    let total: f64 = eigs.iter().sum();
    let rank = eigs.iter().filter(|&&l| l > 0.0).count() as f64;
    let inv_k = if k.is_infinite() { 0.0 } else { 1.0 / k };
    let make = |gamma: f64, kappa: f64, z: f64, q: f64, rok: f64, it: usize| Solution {
        n,
        k,
        ridge,
        kappa,
        gamma,
        learnability_sum: z,
        learnability_sq_sum: q,
        ridge_over_kappa: rok,
        iterations: it,
    };
    if ridge == 0.0 {
        if rank <= n.min(k) {
            // Every mode is learned exactly: gamma = kappa = 0, L_i = 1 on the support.
            return Ok(make(0.0, 0.0, rank, rank, n - rank, 0));
        }
        if k <= n {
            let (g, it) = solve_z_equals(eigs, k, total, n, k)?;
            let (z, q) = sums(eigs, g);
            return Ok(make(g, 0.0, z, q, n - z, it));
        }
        let (g, it) = solve_z_equals(eigs, n, total, n, k)?;
        let (z, q) = sums(eigs, g);
        return Ok(make(g, g * (1.0 - z * inv_k), z, q, 0.0, it));
    }
    let eval = |t: f64| {
        let g = t.exp();
        let (z, q) = sums(eigs, g);
        let r = 1.0 - z * inv_k;
        if r <= 0.0 {
            return None;
        }
        let a = ridge / (g * r);
        let f = z - n + a;
        let d = -(z - q) - a * (1.0 - q * inv_k) / r;
        if f.is_finite() { Some((f, d)) } else { None }
    };
    // Right end: F < 0 for gamma large enough.
    let mut hi = ((total + ridge) / n).max(f64::MIN_POSITIVE).ln() + 1.0;
    let mut evals = 0;
    loop {
        evals += 1;
        if eval(hi).is_some_and(|(f, _)| f < 0.0) {
            break;
        }
        hi += 2.0;
        if hi > 709.0 {
            return Err(no_convergence(n, k, ridge, "no gamma < 1e308 makes (E1) negative"));
        }
    }
    let mut lo = hi;
    loop {
        lo -= 7.0;
        evals += 1;
        if lo < -744.0 {
            return Err(no_convergence(n, k, ridge, "no gamma > 1e-323 makes (E1) positive"));
        }
        match eval(lo) {
            None => break,
            Some((f, _)) if f > 0.0 => break,
            _ => hi = lo,
        }
    }
    let (t, evals) = decreasing_root(&eval, lo, hi, 1e-15 * n, evals)
        .ok_or_else(|| no_convergence(n, k, ridge, "the root finder ran out of iterations"))?;
    let g = t.exp();
    let (z, q) = sums(eigs, g);
    // Take kappa from the better-conditioned equation: (E2) when its slack 1 - z/k is the larger
    // one, else (E1) (k < n at a tiny ridge, where z is close to k).
    let (slack1, slack2) = ((n - z) / n, 1.0 - z * inv_k);
    let kappa = if slack2 >= slack1 { g * slack2 } else { ridge / (n - z) };
    Ok(make(g, kappa, z, q, ridge / kappa, evals))
}

/// The predicted risks at one `(n, k, ridge)` (see the module docs for the formulas).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    /// The `(kappa, gamma)` solution.
    pub solution: Solution,
    /// Overfitting coefficient `E0 = 1 / (1 - x) >= 1` (infinite at the ridgeless interpolation
    /// threshold `k = n`).
    pub overfitting_coeff: f64,
    /// `sum_i b_i v_i^2`: the (noise-free) bias part before the factor `E0`.
    pub bias: f64,
    /// Predicted test MSE, label noise included: `E0 (bias + sigma^2)`.
    pub test_risk: f64,
    /// Predicted train MSE: `((n - z) / n)^2 E_te`.
    pub train_risk: f64,
    /// `E_tr / E_te = ((n - z) / n)^2` (the paper's fitting ratio).
    pub fitting_ratio: f64,
}

/// Predicted test and train risk of random-feature ridge regression with `k` features on `n`
/// samples at ridge `delta` (`k = f64::INFINITY`: kernel ridge regression).
///
/// Errors: as [`solve`].
pub fn rf_risk(spectrum: &Spectrum, n: f64, k: f64, ridge: f64) -> Result<Risk> {
    check_nk(n, k, ridge)?;
    let sol = solve_unchecked(&spectrum.eigenvalues, n, k, ridge)?;
    Ok(risk_from_solution(spectrum, sol))
}

/// Predicted risk of kernel ridge regression (the `k -> infinity` limit of [`rf_risk`]):
/// `kappa` solves `n = sum lambda_i / (lambda_i + kappa) + delta / kappa`,
/// `E_te = n / (n - q) (sum (1 - L_i)^2 v_i^2 + sigma^2)`.
pub fn krr_risk(spectrum: &Spectrum, n: f64, ridge: f64) -> Result<Risk> {
    rf_risk(spectrum, n, f64::INFINITY, ridge)
}

fn risk_from_solution(spectrum: &Spectrum, sol: Solution) -> Risk {
    let (n, z, q, g) = (sol.n, sol.learnability_sum, sol.learnability_sq_sum, sol.gamma);
    let inv_k = if sol.k.is_infinite() { 0.0 } else { 1.0 / sol.k };
    let denom = 1.0 - q * inv_k;
    let c = if denom > 0.0 { (1.0 - z * inv_k) / denom } else { 1.0 };
    let x =
        if sol.kappa == 0.0 { z / n } else { (q * (1.0 - 2.0 * z * inv_k) + z * z * inv_k) / (n * denom) };
    let e0 = if x < 1.0 { 1.0 / (1.0 - x) } else { f64::INFINITY };
    let mut bias = 0.0;
    for (&l, &v2) in spectrum.eigenvalues.iter().zip(&spectrum.target_power) {
        let li = learnability(l, g);
        bias += (1.0 - li) * (1.0 - c * li) * v2;
    }
    let bias = bias.max(0.0);
    let test = e0 * (bias + spectrum.noise);
    let ratio = (sol.ridge_over_kappa / n).powi(2);
    let train = if ratio == 0.0 { 0.0 } else { ratio * test };
    Risk {
        solution: sol,
        overfitting_coeff: e0,
        bias,
        test_risk: test,
        train_risk: train,
        fitting_ratio: ratio,
    }
}

/// How [`optimal_ridge`] searches: a log grid of `grid_points` ridges spanning
/// `[scale 10^-decades_below, scale 10^decades_above]` with `scale = n max(lambda)`, plus ridge 0,
/// then golden-section refinement in `log(ridge)` around the best grid point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RidgeSearch {
    /// Number of grid points (>= 3).
    pub grid_points: usize,
    /// Decades below the scale `n max(lambda)`.
    pub decades_below: f64,
    /// Decades above the scale.
    pub decades_above: f64,
    /// Golden-section iterations after the grid (0: grid only).
    pub refine_iters: usize,
}

impl Default for RidgeSearch {
    fn default() -> Self {
        RidgeSearch { grid_points: 57, decades_below: 12.0, decades_above: 2.0, refine_iters: 40 }
    }
}

/// The result of [`optimal_ridge`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Optimum {
    /// The best ridge found (0 when ridgeless is optimal).
    pub ridge: f64,
    /// The predicted risks there.
    pub risk: Risk,
}

/// The ridge `delta >= 0` minimising the predicted test risk at `(n, k)` (`k = f64::INFINITY` for
/// kernel regression), by a grid search refined by golden section (see [`RidgeSearch`]).
///
/// ```
/// use random_features::theory::{Spectrum, RidgeSearch, optimal_ridge, rf_risk};
/// let spec = Spectrum::powerlaw(2000, 1.5, 1.5, 0.5).unwrap();
/// let best = optimal_ridge(&spec, 256.0, 512.0, &RidgeSearch::default()).unwrap();
/// for d in [0.0, 1e-3, 1e-1, 10.0] {
///     assert!(best.risk.test_risk <= rf_risk(&spec, 256.0, 512.0, d).unwrap().test_risk + 1e-12);
/// }
/// ```
pub fn optimal_ridge(spectrum: &Spectrum, n: f64, k: f64, search: &RidgeSearch) -> Result<Optimum> {
    check_nk(n, k, 0.0)?;
    if search.grid_points < 3 {
        return Err(invalid("grid_points", search.grid_points, "the ridge grid needs at least 3 points"));
    }
    if !(search.decades_below.is_finite() && search.decades_above.is_finite())
        || search.decades_below + search.decades_above <= 0.0
    {
        return Err(invalid(
            "decades",
            format!("{} below / {} above", search.decades_below, search.decades_above),
            "the ridge grid must span a finite, non-empty range",
        ));
    }
    let lmax = spectrum.eigenvalues.iter().cloned().fold(0.0, f64::max);
    let scale = if lmax > 0.0 { n * lmax } else { 1.0 };
    let (a, b) = (scale.log10() - search.decades_below, scale.log10() + search.decades_above);
    let m = search.grid_points;
    let eval = |d: f64| rf_risk(spectrum, n, k, d).map(|r| r.test_risk);
    let grid: Vec<f64> = (0..m).map(|i| 10f64.powf(a + (b - a) * i as f64 / (m - 1) as f64)).collect();
    let mut best = (0.0, eval(0.0)?);
    let mut best_i = None;
    for (i, &d) in grid.iter().enumerate() {
        let e = eval(d)?;
        if e < best.1 || best.1.is_nan() {
            best = (d, e);
            best_i = Some(i);
        }
    }
    if let Some(i) = best_i {
        let lo = if i == 0 { a - (b - a) / (m - 1) as f64 } else { grid[i - 1].log10() };
        let hi = if i + 1 == m { b } else { grid[i + 1].log10() };
        let (mut x0, mut x3) = (lo, hi);
        let phi = 0.5 * (5f64.sqrt() - 1.0);
        let mut x1 = x3 - phi * (x3 - x0);
        let mut x2 = x0 + phi * (x3 - x0);
        let (mut f1, mut f2) = (eval(10f64.powf(x1))?, eval(10f64.powf(x2))?);
        for _ in 0..search.refine_iters {
            if f1 <= f2 {
                x3 = x2;
                (x2, f2) = (x1, f1);
                x1 = x3 - phi * (x3 - x0);
                f1 = eval(10f64.powf(x1))?;
            } else {
                x0 = x1;
                (x1, f1) = (x2, f2);
                x2 = x0 + phi * (x3 - x0);
                f2 = eval(10f64.powf(x2))?;
            }
        }
        for (x, f) in [(x1, f1), (x2, f2)] {
            if f < best.1 {
                best = (10f64.powf(x), f);
            }
        }
    }
    Ok(Optimum { ridge: best.0, risk: rf_risk(spectrum, n, k, best.0)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ridgeless_regimes() {
        let s = Spectrum::powerlaw(500, 1.5, 1.5, 0.1).unwrap();
        // n < k: interpolation, zero train risk
        let r = rf_risk(&s, 50.0, 200.0, 0.0).unwrap();
        assert!(r.solution.kappa > 0.0 && r.train_risk == 0.0 && r.test_risk.is_finite());
        // k < n: kappa = 0, E0 = n / (n - k)
        let r = rf_risk(&s, 200.0, 50.0, 0.0).unwrap();
        assert_eq!(r.solution.kappa, 0.0);
        assert!((r.overfitting_coeff - 200.0 / 150.0).abs() < 1e-9, "{r:?}");
        assert!((r.fitting_ratio - (150.0f64 / 200.0).powi(2)).abs() < 1e-9);
        // k = n: divergence
        assert!(rf_risk(&s, 100.0, 100.0, 0.0).unwrap().test_risk.is_infinite());
        // more samples than modes: OLS, E_te = sigma^2 n / (n - M)
        let r = krr_risk(&s, 1000.0, 0.0).unwrap();
        assert!((r.test_risk - 0.1 * 1000.0 / 500.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn small_ridge_tends_to_ridgeless() {
        let s = Spectrum::powerlaw(500, 1.5, 1.5, 0.1).unwrap();
        for (n, k) in [(50.0, 200.0), (200.0, 50.0), (100.0, f64::INFINITY)] {
            let r0 = rf_risk(&s, n, k, 0.0).unwrap();
            let r1 = rf_risk(&s, n, k, 1e-9).unwrap();
            assert!((r0.test_risk - r1.test_risk).abs() < 1e-5 * r0.test_risk, "{n} {k}: {r0:?} {r1:?}");
            // (E1) is ill-conditioned as ridge -> 0 with k < n (1 - z/k ~ ridge); 1e-6 is fine.
            let r2 = rf_risk(&s, n, k, 1e-6).unwrap();
            let (e1, e2) = r2.solution.residuals(s.eigenvalues());
            assert!(e1 < 1e-10 && e2 < 1e-10, "{e1} {e2}");
        }
    }
}

#[cfg(test)]
mod solver_efficiency {
    /// The safeguarded Newton iteration needs few passes over the eigenvalues (what makes one
    /// evaluation with 10^4 eigenvalues take well under a millisecond).
    #[test]
    fn few_passes_over_the_eigenvalues() {
        let s = super::Spectrum::powerlaw(10_000, 1.5, 1.5, 0.5).unwrap();
        for (n, k, d) in
            [(256.0, 1024.0, 1e-2), (256.0, 128.0, 1e-6), (256.0, f64::INFINITY, 0.0), (256.0, 1024.0, 0.0)]
        {
            let r = super::rf_risk(&s, n, k, d).unwrap();
            assert!(r.solution.iterations <= 40, "{n} {k} {d}: {} passes", r.solution.iterations);
        }
    }
}

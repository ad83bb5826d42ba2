//! Mirror descent in `B_p` with the dual iterate kept in the span of `K(x_i, ·)`.
//!
//! State: dual coefficients `c ∈ R^n`, dual element `b = Φᵀc = ∇ψ(a)`, primal `a = (∇ψ)^{-1}(b)`,
//! predictions `f = Φa`. One step with step size `η` on `F(a) = L(a) + λψ(a)`:
//!
//! ```text
//! c' = (1 - ηλ) c - η ℓ'(f, y)        (b' = b - η ∇F(a), since ∇L(a) = Φᵀ ℓ'(f, y), ∇ψ(a) = b)
//! a' = (∇ψ)^{-1}(Φᵀ c')               (then, constrained: a' ← s a', c' ← s^k c', s = min(1, R/||a'||_p))
//! ```
use crate::duality::{MirrorKind, MirrorMap, norm_p};
use crate::error::{Result, RkbsError, check_exponent, check_len, invalid};
use crate::space::{check_phi, mul, mul_t, no_smoothness_reason, relative_smoothness};
use faer::MatRef;
use serde::{Deserialize, Serialize};

/// Data-fit term `L(a) = Σ_i ℓ(<a, φ(x_i)>, y_i)` (a sum over samples, as in the paper).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// `ℓ(f, y) = (f - y)²`, `ℓ' = 2 (f - y)`.
    #[default]
    Squared,
    /// `ℓ(f, y) = log(1 + exp(-y f))` with labels `y ∈ {-1, +1}`; 1-Lipschitz in `f`.
    Logistic,
}

impl Loss {
    /// Upper bound `c` on `ℓ''` (2 for squared, 1/4 for logistic): the loss Hessian is `<= c ΦᵀΦ`.
    pub fn curvature(&self) -> f64 {
        match self {
            Loss::Squared => 2.0,
            Loss::Logistic => 0.25,
        }
    }

    /// `Σ_i ℓ(f_i, y_i)` (unchecked lengths).
    pub fn value(&self, f: &[f64], y: &[f64]) -> f64 {
        match self {
            Loss::Squared => f.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum(),
            Loss::Logistic => f.iter().zip(y).map(|(a, b)| softplus(-a * b)).sum(),
        }
    }

    /// `out_i = ∂ℓ/∂f (f_i, y_i)`.
    pub fn derivative(&self, f: &[f64], y: &[f64], out: &mut [f64]) {
        for ((o, a), b) in out.iter_mut().zip(f).zip(y) {
            *o = match self {
                Loss::Squared => 2.0 * (a - b),
                Loss::Logistic => -b * sigmoid(-a * b),
            };
        }
    }

    /// Bregman divergence of the loss between predictions: `Σ_i ℓ(f'_i) - ℓ(f_i) - ℓ'(f_i)(f'_i - f_i)`
    /// (`Σ (f' - f)²` for the squared loss, computed without cancellation).
    pub fn bregman(&self, f_new: &[f64], f_old: &[f64], y: &[f64], deriv_old: &[f64]) -> f64 {
        match self {
            Loss::Squared => f_new.iter().zip(f_old).map(|(a, b)| (a - b) * (a - b)).sum(),
            Loss::Logistic => {
                let d: f64 = f_new
                    .iter()
                    .zip(f_old)
                    .zip(y.iter().zip(deriv_old))
                    .map(|((a, b), (yy, g))| softplus(-a * yy) - softplus(-b * yy) - g * (a - b))
                    .sum();
                d.max(0.0)
            }
        }
    }
}

fn softplus(z: f64) -> f64 {
    if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// How the step size is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum StepRule {
    /// `η = 1 / (L_s + λ)` from the relative-smoothness constant
    /// ([`crate::space::relative_smoothness`]); only for `ψ = ½||a||_p²` with `1 < p <= 2`
    /// (otherwise [`RkbsError::NoSafeStep`]). Guarantees monotone decrease and the linear rate
    /// `1 - λ / (L_s + λ)`.
    Safe,
    /// A constant step `η > 0` (with `ηλ < 1`), e.g. `R sqrt(p-1) / (G sqrt(T))` in the constrained
    /// setting ([`constrained_step`]).
    Fixed {
        /// The step size.
        step: f64,
    },
    /// Backtracking on the relative-smoothness inequality
    /// `L(a') <= L(a) + <∇L(a), a' - a> + (1/η - λ) D_ψ(a', a)` (equivalently the same inequality for
    /// `F` with `1/η`): start at `initial` (`0` = `1 / (2 λ_max(ΦΦᵀ))`), halve (`shrink`) until it
    /// holds, grow (`grow`) after every accepted step, never above `1 / (2λ)` (nor `1e10` times the
    /// first trial). Works for every `p`
    /// and both mirror maps; accepted steps give the rate `Π_t (1 - λ η_t)`.
    Backtracking {
        /// First trial step (`0` = automatic).
        initial: f64,
        /// Growth factor after an accepted step (`>= 1`).
        grow: f64,
        /// Shrink factor after a rejected trial (in `(0, 1)`).
        shrink: f64,
    },
}

impl Default for StepRule {
    fn default() -> Self {
        StepRule::Backtracking { initial: 0.0, grow: 2.0, shrink: 0.5 }
    }
}

/// What the observer may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this step.
    Stop,
}

/// The state after step `iter`, passed to the observer.
#[derive(Debug)]
pub struct MdStep<'a> {
    /// Iteration `t >= 1` (the iterate after `t` steps).
    pub iter: usize,
    /// `F(a_t) = L(a_t) + λψ(a_t)`.
    pub objective: f64,
    /// `L(a_t)`.
    pub loss: f64,
    /// The step size that produced `a_t`.
    pub step: f64,
    /// Primal coefficients `a_t` (length `D`).
    pub coef: &'a [f64],
    /// Dual coefficients `c_t` (length `n`): `∇ψ(a_t) = Σ_i c_i φ(x_i)`.
    pub dual_coef: &'a [f64],
    /// Predictions `f_t(x_i)` on the training inputs.
    pub predictions: &'a [f64],
}

/// Result of a mirror-descent run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdSolution {
    /// Final primal coefficients `a_T`.
    pub coef: Vec<f64>,
    /// Final dual coefficients `c_T` (`∇ψ(a_T) = Φᵀ c_T`).
    pub dual_coef: Vec<f64>,
    /// Average `(1/T) Σ_{t<T} a_t` of the iterates at which gradients were taken (the averaged
    /// iterate of the constrained analysis).
    pub average: Vec<f64>,
    /// `F(a_t)` for `t = 0..=T`.
    pub objectives: Vec<f64>,
    /// `L(a_t)` for `t = 0..=T`.
    pub losses: Vec<f64>,
    /// Step size of each step (`T` values).
    pub steps: Vec<f64>,
    /// Relative-smoothness constant `L_s` (computed for [`StepRule::Safe`], else `None`).
    pub smoothness: Option<f64>,
    /// Number of rejected backtracking trials.
    pub backtracks: usize,
}

impl MdSolution {
    /// Number of steps taken.
    pub fn iters(&self) -> usize {
        self.steps.len()
    }
}

/// Hyperparameters of mirror descent in `B_p`. `Default`: `p = 1.5`, `ψ = ½||a||_p²`, squared loss,
/// `λ = 0`, backtracking, 500 iterations, unconstrained.
///
/// ```
/// use faer::Mat;
/// use rkbs::{MirrorDescentParams, StepRule};
/// let phi = Mat::from_fn(20, 30, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.5);
/// let y: Vec<f64> = (0..20).map(|i| (i as f64 * 0.3).sin()).collect();
/// let params = MirrorDescentParams::default().with_p(1.5).with_lambda(1.0).with_step(StepRule::Safe);
/// let sol = params.solve(phi.as_ref(), &y).unwrap();
/// assert!(sol.objectives.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-12)));
/// assert!(MirrorDescentParams::default().with_p(1.0).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorDescentParams {
    /// Exponent of the primal space, `1 < p < ∞`.
    pub p: f64,
    /// Mirror map.
    pub mirror: MirrorKind,
    /// Loss.
    pub loss: Loss,
    /// Regularisation `λ >= 0` of `F = L + λψ` (`λ > 0` makes `F` `λ`-strongly convex relative to `ψ`).
    pub lambda: f64,
    /// Step-size rule.
    pub step: StepRule,
    /// Number of steps (`>= 1`).
    pub iters: usize,
    /// Constraint `||a||_p <= radius` (Bregman projection = radial scaling), or none.
    pub radius: Option<f64>,
    /// Stop early when `|F(a_t) - F(a_{t+1})| <= tol |F(a_t)|` (0 = never).
    pub tol: f64,
}

impl Default for MirrorDescentParams {
    fn default() -> Self {
        MirrorDescentParams {
            p: 1.5,
            mirror: MirrorKind::HalfNormSquared,
            loss: Loss::Squared,
            lambda: 0.0,
            step: StepRule::default(),
            iters: 500,
            radius: None,
            tol: 0.0,
        }
    }
}

impl MirrorDescentParams {
    /// Sets `p`.
    pub fn with_p(mut self, p: f64) -> Self {
        self.p = p;
        self
    }
    /// Sets the mirror map.
    pub fn with_mirror(mut self, mirror: MirrorKind) -> Self {
        self.mirror = mirror;
        self
    }
    /// Sets the loss.
    pub fn with_loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }
    /// Sets `λ`.
    pub fn with_lambda(mut self, lambda: f64) -> Self {
        self.lambda = lambda;
        self
    }
    /// Sets the step rule.
    pub fn with_step(mut self, step: StepRule) -> Self {
        self.step = step;
        self
    }
    /// Sets the number of steps.
    pub fn with_iters(mut self, iters: usize) -> Self {
        self.iters = iters;
        self
    }
    /// Constrains `||a||_p <= radius`.
    pub fn with_radius(mut self, radius: f64) -> Self {
        self.radius = Some(radius);
        self
    }
    /// Sets the early-stopping tolerance.
    pub fn with_tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// The mirror map `ψ` these parameters describe.
    pub fn mirror_map(&self) -> Result<MirrorMap> {
        MirrorMap::new(self.p, self.mirror)
    }

    /// Checks every hyperparameter; the message names the bad one.
    pub fn validate(&self) -> Result<()> {
        check_exponent("p", self.p)?;
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(invalid("lambda", self.lambda, "must be a finite number >= 0"));
        }
        if self.iters == 0 {
            return Err(invalid("iters", 0, "must be at least 1"));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(invalid("tol", self.tol, "must be a finite number >= 0"));
        }
        if let Some(r) = self.radius {
            crate::duality::check_radius(r)?;
        }
        match self.step {
            StepRule::Safe => {}
            StepRule::Fixed { step } => {
                if !(step.is_finite() && step > 0.0) {
                    return Err(invalid("step", step, "must be a finite number > 0"));
                }
                if step * self.lambda >= 1.0 {
                    return Err(invalid(
                        "step",
                        step,
                        &format!(
                            "step * lambda must be < 1 (lambda = {}), else the dual iterate flips sign",
                            self.lambda
                        ),
                    ));
                }
            }
            StepRule::Backtracking { initial, grow, shrink } => {
                if !(initial.is_finite() && initial >= 0.0) {
                    return Err(invalid(
                        "initial step",
                        initial,
                        "must be a finite number > 0, or 0 for automatic",
                    ));
                }
                if !(grow.is_finite() && grow >= 1.0) {
                    return Err(invalid("grow", grow, "must be a finite number >= 1"));
                }
                if !(shrink > 0.0 && shrink < 1.0) {
                    return Err(invalid("shrink", shrink, "must be in (0, 1)"));
                }
            }
        }
        Ok(())
    }

    /// `F(a) = L(a) + λψ(a)` on the data `(Φ, y)`.
    pub fn objective(&self, phi: MatRef<'_, f64>, y: &[f64], a: &[f64]) -> Result<f64> {
        self.validate()?;
        let mirror = self.mirror_map()?;
        let f = crate::space::evaluate(phi, a)?;
        check_len("objective: targets against the samples", y.len(), phi.nrows())?;
        Ok(self.loss.value(&f, y) + self.lambda * mirror.value(a))
    }

    /// Runs mirror descent on the feature matrix `phi` (`n x D`) and targets `y` (length `n`).
    pub fn solve(&self, phi: MatRef<'_, f64>, y: &[f64]) -> Result<MdSolution> {
        self.solve_with(phi, y, &mut |_| Control::Continue)
    }

    /// [`solve`](Self::solve) with an observer called after every step (it may stop the run).
    pub fn solve_with(
        &self,
        phi: MatRef<'_, f64>,
        y: &[f64],
        observer: &mut dyn FnMut(&MdStep<'_>) -> Control,
    ) -> Result<MdSolution> {
        self.validate()?;
        check_phi(phi)?;
        check_len("mirror descent: targets against the samples of the feature matrix", y.len(), phi.nrows())?;
        crate::duality::check_finite("targets y", y)?;
        if self.loss == Loss::Logistic
            && let Some((i, v)) = y.iter().enumerate().find(|(_, v)| **v != 1.0 && **v != -1.0)
        {
            return Err(invalid("label", v, &format!("logistic loss needs labels -1 or +1 (sample {i})")));
        }
        let mirror = self.mirror_map()?;
        let (n, dd) = (phi.nrows(), phi.ncols());
        let lambda = self.lambda;
        let mut smoothness = None;
        let backtracking = matches!(self.step, StepRule::Backtracking { .. });
        let mut eta_max = if lambda > 0.0 { 0.5 / lambda } else { f64::MAX };
        let mut eta = match self.step {
            StepRule::Safe => {
                let ls = relative_smoothness(phi, &mirror, self.loss)?.ok_or_else(|| {
                    RkbsError::NoSafeStep { mirror: mirror.describe(), reason: no_smoothness_reason(&mirror) }
                })?;
                smoothness = Some(ls);
                if ls + lambda <= 0.0 {
                    return Err(invalid(
                        "feature matrix",
                        "all zero",
                        "the loss is constant; nothing to fit",
                    ));
                }
                1.0 / (ls + lambda)
            }
            StepRule::Fixed { step } => step,
            StepRule::Backtracking { initial, .. } => {
                let e = if initial > 0.0 {
                    initial
                } else {
                    let s = crate::space::spectral_norm_sq(phi)?;
                    if s > 0.0 { 1.0 / (2.0 * s) } else { 1.0 }
                };
                // growth is capped at 1e10 x the first trial (with λ = 0 and a constraint the steps
                // that barely move would otherwise grow without bound)
                eta_max = eta_max.min(1e10 * e);
                e.min(eta_max)
            }
        };
        let (grow, shrink) = match self.step {
            StepRule::Backtracking { grow, shrink, .. } => (grow, shrink),
            _ => (1.0, 1.0),
        };

        let mut c = vec![0.0; n];
        let mut b = vec![0.0; dd];
        let mut a = vec![0.0; dd];
        let mut f = vec![0.0; n];
        let mut g = vec![0.0; n];
        let (mut c2, mut b2, mut a2, mut f2) = (vec![0.0; n], vec![0.0; dd], vec![0.0; dd], vec![0.0; n]);
        let mut avg = vec![0.0; dd];
        let mut loss = self.loss.value(&f, y);
        let mut psi = 0.0;
        let mut objectives = vec![loss];
        let mut losses = vec![loss];
        let mut steps = Vec::with_capacity(self.iters);
        let mut backtracks = 0usize;
        self.loss.derivative(&f, y, &mut g);
        let k_hom = mirror.homogeneity();

        for t in 0..self.iters {
            for (s, x) in avg.iter_mut().zip(&a) {
                *s += x;
            }
            let mut trials = 0usize;
            loop {
                let shrink_dual = 1.0 - eta * lambda;
                for ((cn, co), gi) in c2.iter_mut().zip(&c).zip(&g) {
                    *cn = shrink_dual * co - eta * gi;
                }
                mul_t(phi, &c2, &mut b2);
                mirror.to_primal_unchecked(&b2, &mut a2);
                if let Some(r) = self.radius {
                    let nrm = norm_p(&a2, self.p);
                    if nrm > r {
                        let s = r / nrm;
                        let sk = s.powf(k_hom);
                        a2.iter_mut().for_each(|v| *v *= s);
                        c2.iter_mut().for_each(|v| *v *= sk);
                        b2.iter_mut().for_each(|v| *v *= sk);
                    }
                }
                mul(phi, &a2, &mut f2);
                if !backtracking {
                    break;
                }
                let psi2 = mirror.value(&a2);
                let dl = self.loss.bregman(&f2, &f, y, &g);
                let dpsi = mirror.bregman_with_grad(&a2, &a, &b);
                let curv = 1.0 / eta - lambda;
                let loss_round =
                    if self.loss == Loss::Logistic { loss + self.loss.value(&f2, y) } else { 0.0 };
                let slack = 1e-13 * (curv * (psi + psi2) + loss_round);
                if dl.is_finite() && dpsi.is_finite() && dl <= curv * dpsi + slack {
                    break;
                }
                trials += 1;
                backtracks += 1;
                if trials > 100 {
                    return Err(RkbsError::Diverged {
                        iter: t + 1,
                        what: format!("backtracking found no acceptable step down to {eta:.3e}"),
                        hint: "check the data for huge values, or rescale the features".into(),
                    });
                }
                eta *= shrink;
            }
            let new_loss = self.loss.value(&f2, y);
            let new_psi = mirror.value(&a2);
            let obj = new_loss + lambda * new_psi;
            if !obj.is_finite() || a2.iter().any(|v| !v.is_finite()) {
                return Err(RkbsError::Diverged {
                    iter: t + 1,
                    what: format!("objective {obj}"),
                    hint: format!("the step {eta:.3e} is too large; use StepRule::Safe or Backtracking"),
                });
            }
            std::mem::swap(&mut c, &mut c2);
            std::mem::swap(&mut b, &mut b2);
            std::mem::swap(&mut a, &mut a2);
            std::mem::swap(&mut f, &mut f2);
            self.loss.derivative(&f, y, &mut g);
            let prev = *objectives.last().unwrap_or(&obj);
            loss = new_loss;
            psi = new_psi;
            objectives.push(obj);
            losses.push(loss);
            steps.push(eta);
            let control = observer(&MdStep {
                iter: t + 1,
                objective: obj,
                loss,
                step: eta,
                coef: &a,
                dual_coef: &c,
                predictions: &f,
            });
            if backtracking {
                eta = (eta * grow).min(eta_max);
            }
            if control == Control::Stop || (self.tol > 0.0 && (prev - obj).abs() <= self.tol * prev.abs()) {
                break;
            }
        }
        let t = steps.len().max(1) as f64;
        avg.iter_mut().for_each(|v| *v /= t);
        Ok(MdSolution {
            coef: a,
            dual_coef: c,
            average: avg,
            objectives,
            losses,
            steps,
            smoothness,
            backtracks,
        })
    }
}

/// The step `η = R sqrt(α) / (G sqrt(T))` of constrained mirror descent with horizon `T`, for
/// `ψ` `α`-strongly convex w.r.t. `||·||_p` and a `G`-Lipschitz loss on the ball of radius `R`
/// started at 0. The averaged iterate then satisfies `F(ā_T) - F* <= R G / sqrt(α T)`
/// ([`constrained_bound`]).
pub fn constrained_step(radius: f64, lipschitz: f64, alpha: f64, horizon: usize) -> Result<f64> {
    check_constrained(radius, lipschitz, alpha, horizon)?;
    Ok(radius * alpha.sqrt() / (lipschitz * (horizon as f64).sqrt()))
}

/// The bound `R G / sqrt(α T)` on `F(ā_T) - F*` of [`constrained_step`].
pub fn constrained_bound(radius: f64, lipschitz: f64, alpha: f64, horizon: usize) -> Result<f64> {
    check_constrained(radius, lipschitz, alpha, horizon)?;
    Ok(radius * lipschitz / (alpha * horizon as f64).sqrt())
}

fn check_constrained(radius: f64, lipschitz: f64, alpha: f64, horizon: usize) -> Result<()> {
    crate::duality::check_radius(radius)?;
    if !(lipschitz.is_finite() && lipschitz > 0.0) {
        return Err(invalid("lipschitz", lipschitz, "must be a finite number > 0"));
    }
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(invalid("alpha", alpha, "must be a finite number > 0"));
    }
    if horizon == 0 {
        return Err(invalid("horizon", 0, "must be at least 1"));
    }
    Ok(())
}

/// Kernel gradient descent (Richardson iteration) on the dual coefficients,
/// `c^{t+1} = (1 - ηλ) c^t - 2η (K c^t - y)`, with `K` the `n x n` kernel matrix: the RKHS
/// baseline that mirror descent with `p = 2`, `ψ = ½||a||²` reproduces. Returns `c^0 = 0, ..., c^T`.
pub fn kernel_gradient_descent(
    k: MatRef<'_, f64>,
    y: &[f64],
    step: f64,
    lambda: f64,
    iters: usize,
) -> Result<Vec<Vec<f64>>> {
    linalg::validate::check_square("kernel_gradient_descent: kernel matrix", k)?;
    linalg::validate::check_data("kernel matrix", k)?;
    check_len("kernel_gradient_descent: targets", y.len(), k.nrows())?;
    crate::duality::check_finite("targets y", y)?;
    if !(step.is_finite() && step > 0.0) {
        return Err(invalid("step", step, "must be a finite number > 0"));
    }
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(invalid("lambda", lambda, "must be a finite number >= 0"));
    }
    let n = y.len();
    let mut out = Vec::with_capacity(iters + 1);
    let mut c = vec![0.0; n];
    let mut kc = vec![0.0; n];
    out.push(c.clone());
    for _ in 0..iters {
        mul(k, &c, &mut kc);
        for i in 0..n {
            c[i] = (1.0 - step * lambda) * c[i] - 2.0 * step * (kc[i] - y[i]);
        }
        out.push(c.clone());
    }
    Ok(out)
}

//! # rkbs: mirror descent in p-norm reproducing kernel Banach spaces
//!
//! A finite feature dictionary `φ = (φ_1, ..., φ_D)` (random Fourier features of a Gaussian or
//! Laplace kernel, [`RandomFourierFeatures`], or any [`FeatureMap`]) defines, for `1 < p < ∞`,
//!
//! * the space `B_p = { f_a(x) = Σ_j a_j φ_j(x) : a ∈ ℓ^p }` with `||f_a|| = ||a||_p`;
//! * its dual `B_q` (`1/p + 1/q = 1`), `g_b = Σ_j b_j φ_j`, with the pairing `<f_a, g_b> = Σ_j a_j b_j`;
//! * the reproducing kernel `K(x, y) = Σ_j φ_j(x) φ_j(y)` (Xu & Ye's generalised Mercer kernel):
//!   `K(x, ·) ∈ B_q` has coefficients `φ(x)`, so `f_a(x) = <f_a, K(x, ·)>` and
//!   `g_b(x) = <K(·, x), g_b>` ([`space::evaluate`], [`space::dual_evaluate`], [`space::kernel_matrix`]).
//!
//! Mirror descent ([`MirrorDescentParams`]) on `F(a) = Σ_i ℓ(f_a(x_i), y_i) + λψ(a)` takes its
//! gradient steps in the dual: `∇ψ(a_{t+1}) = ∇ψ(a_t) - η ∇F(a_t)`. Because
//! `∇L(a) = Σ_i ℓ'(f_a(x_i), y_i) K(x_i, ·)`, the dual iterate stays in `span{K(x_i, ·)}`:
//! `∇ψ(a_t) = Φᵀ c_t` with `n` coefficients updated as `c_{t+1} = (1 - ηλ) c_t - η ℓ'(Φ a_t, y)`, and
//! the primal iterate is `a_t = (∇ψ)^{-1}(Φᵀ c_t)`. For `p = 2`, `ψ = ½||a||²` the inverse map is the
//! identity and this is kernel gradient descent `c_{t+1} = c_t - 2η (K c_t - y)` on `K = ΦΦᵀ`
//! ([`kernel_gradient_descent`]; equal iterates, up to rounding in the order of the products).
//!
//! ```
//! use faer::Mat;
//! use rkbs::{FeatureMap, MirrorDescentParams, MirrorKind, RandomFourierFeatures, RffKernel, StepRule};
//!
//! // a target that uses 3 of 200 dictionary elements
//! let rff = RandomFourierFeatures::new(RffKernel::Gaussian { bandwidth: 0.5 }, 2, 200, 0).unwrap();
//! let x = linalg::random::gaussian_mat(60, 2, 1);
//! let phi = rff.features(x.as_ref()).unwrap();
//! let y: Vec<f64> = (0..60).map(|i| 10.0 * (phi[(i, 3)] - phi[(i, 50)] + phi[(i, 120)])).collect();
//!
//! // regularised problem, safe step 1 / (L_s + λ): monotone, linear rate <= 1 - λ / (L_s + λ)
//! let params = MirrorDescentParams::default()
//!     .with_p(1.5)
//!     .with_mirror(MirrorKind::HalfNormSquared)
//!     .with_lambda(0.1)
//!     .with_step(StepRule::Safe)
//!     .with_iters(200);
//! let sol = params.solve(phi.as_ref(), &y).unwrap();
//! let ls = sol.smoothness.unwrap();
//! assert!(sol.objectives.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-12)));
//! assert!(sol.steps.iter().all(|&s| (s - 1.0 / (ls + 0.1)).abs() < 1e-15));
//!
//! // p <= 1, p = inf, NaN and a non-positive step are errors, not panics
//! assert!(params.clone().with_p(1.0).solve(phi.as_ref(), &y).is_err());
//! assert!(params.clone().with_p(f64::INFINITY).validate().is_err());
//! assert!(params.clone().with_step(StepRule::Fixed { step: 0.0 }).validate().is_err());
//! ```
//!
//! ## Derivations (the choices where the spec was unverified)
//!
//! **Duality maps.** For `ψ = ½||a||_p²`, `∇ψ(a)_j = ||a||_p^{2-p} |a_j|^{p-1} sgn a_j =: J_p(a)_j`.
//! With `b = J_p(a)`: `||b||_q^q = ||a||_p^{(2-p)q} Σ|a_j|^{(p-1)q} = ||a||_p^{(2-p)q + p}`, so
//! `||b||_q = ||a||_p^{2-p+p/q} = ||a||_p` (using `p/q = p - 1`), and `<a, b> = ||a||_p^{2-p} ||a||_p^p =
//! ||a||_p²`. Then `J_q(b)_j = ||a||_p^{2-q} ||a||_p^{(2-p)(q-1)} |a_j|^{(p-1)(q-1)} sgn a_j = a_j`,
//! because `(p-1)(q-1) = 1` and `2 - q + (2-p)(q-1) = p + q - pq = 0`. So `J_q = J_p^{-1}`, as `∇ψ* =
//! (∇ψ)^{-1}` with `ψ*(b) = ½||b||_q²`. For `ψ = (1/p)||a||_p^p` the map `|a_j|^{p-1} sgn a_j` is
//! inverted coordinate-wise by `|b_j|^{q-1} sgn b_j`. Both are computed on `x / max|x_j|` to avoid
//! overflow for large `q` ([`duality`]).
//!
//! **Bregman divergence.** `D_ψ(u, v) = ψ(u) - ψ(v) - <∇ψ(v), u - v> >= 0` by convexity, `= 0` iff
//! `u = v` because both mirror maps are strictly convex for `1 < p < ∞`.
//!
//! **Relative smoothness (the safe step).** For `1 < p <= 2`, `½||·||_p²` is `(p-1)`-strongly convex
//! w.r.t. `||·||_p` (Ball-Carlen-Lieb 1994): `D_ψ(u, v) >= (p-1)/2 ||u - v||_p²`. The loss Bregman
//! divergence is `D_L(u, v) = Σ_i [ℓ(φ_iᵀu) - ℓ(φ_iᵀv) - ℓ'(φ_iᵀv) φ_iᵀ(u - v)] <= (c/2) ||Φ(u - v)||²`
//! with `c = sup ℓ'' = 2` (squared) or `1/4` (logistic). With `||Φh||_2 <= ||Φ||_{p→2} ||h||_p`,
//! `D_L <= c ||Φ||²_{p→2} / (p - 1) · D_ψ`, i.e. `L_s = c C_p / (p - 1)` (for the squared loss
//! `2 ||Φ||²_{p→2} / (p - 1)`, as in the spec). `||Φ||_{p→2}` is not computable in closed form; we
//! use M. Riesz's convexity theorem (which holds for real matrices because the target exponent 2 is
//! at least the source exponent `p`): `||Φ||_{p→2} <= ||Φ||_{1→2}^{1-θ} ||Φ||_{2→2}^θ`,
//! `θ = 2 - 2/p`, where `||Φ||_{1→2}` is the largest column norm and `||Φ||_{2→2}` the spectral norm
//! ([`space::p_to_2_norm_sq_bound`]; tested against a nonlinear power method). For `p > 2` or the
//! power map there is **no** global constant (`D_ψ(e_1 + εe_2, e_1) = O(ε^p)` or worse while
//! `D_L = Θ(ε²)`), so [`StepRule::Safe`] is an error there and [`StepRule::Backtracking`] is used.
//!
//! **Linear rate (regularised).** `F = L + λψ` is `(L_s + λ)`-smooth and `λ`-strongly convex relative
//! to `ψ` (`D_{λψ} = λ D_ψ` and `L` is convex). The three-point identity of the mirror step,
//! `η<∇F(a_t), a_{t+1} - u> = D_ψ(u, a_t) - D_ψ(u, a_{t+1}) - D_ψ(a_{t+1}, a_t)`, combined with
//! relative smoothness at `(a_{t+1}, a_t)` and relative strong convexity at `(u, a_t)` gives, for
//! `u = a*`, `F(a_{t+1}) - F* + (1/η) D_ψ(a*, a_{t+1}) <= (1/η - λ) D_ψ(a*, a_t)` (Lu, Freund &
//! Nesterov 2018). Hence `D_ψ(a*, a_{t+1}) <= (1 - ηλ) D_ψ(a*, a_t)`, and
//! `F(a_t) - F* <= (1/η - λ)(1 - ηλ)^{t-1} D_ψ(a*, a_0)`: the rate is `1 - λ/(L_s + λ)` with the safe
//! step. With `u = a_t`: `F(a_{t+1}) <= F(a_t) - (1/η) D_ψ(a_t, a_{t+1})` (monotone decrease). The
//! proof only uses the smoothness inequality at the pair `(a_{t+1}, a_t)`, so backtracking on that
//! inequality (the spec's sufficient-decrease test, with the divergence in this order) keeps every
//! step's contraction `1 - λ η_t`, for every `p`. The regulariser's gradient is `λ∇ψ(a_t) = λ b_t`,
//! which is why the dual update shrinks `c` by `1 - ηλ` and stays in the span of the `K(x_i, ·)`.
//!
//! **Constrained variant.** On `{||a||_p <= R}` the Bregman projection of `ã = (∇ψ)^{-1}(b̃)` is the
//! radial scaling `a = min(1, R/||ã||_p) ã` for both mirror maps (minimising `ψ(a) - <b̃, a>` over a
//! sphere of radius `r` gives the direction of `ã` and leaves a 1-D problem in `r` whose minimiser is
//! `||ã||_p`), and the dual coefficients scale by `s^k` (`k = 1` or `p - 1`, the homogeneity of
//! `∇ψ`). With `ψ` `α`-strongly convex (`α = p - 1`), `D_ψ(a*, 0) <= R²/2`, a `G`-Lipschitz loss
//! ([`space::lipschitz_bound`]) and `η = R sqrt(α) / (G sqrt(T))`, the averaged iterate satisfies
//! `F(ā_T) - F* <= R²/(2ηT) + ηG²/(2α) = R G / sqrt(α T)` ([`constrained_step`], [`constrained_bound`]).
#![deny(missing_docs)]

pub mod descent;
pub mod duality;
pub mod error;
pub mod features;
pub mod model;
pub mod space;

pub use descent::{
    Control, Loss, MdSolution, MdStep, MirrorDescentParams, StepRule, constrained_bound, constrained_step,
    kernel_gradient_descent,
};
pub use duality::{MirrorKind, MirrorMap, conjugate, duality_map, norm_p};
pub use error::{Result, RkbsError};
pub use features::{FeatureMap, FnFeatureMap, RandomFourierFeatures, RffKernel};
pub use model::{RkbsModel, count_large};

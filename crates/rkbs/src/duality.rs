//! p-norms, the two mirror maps of `ℓ^p`, their duality maps, inverses and Bregman divergences.
//!
//! For `1 < p < ∞` with conjugate `q = p / (p - 1)`:
//!
//! | mirror map `ψ` | `∇ψ(a)_j` (primal → dual) | inverse `(∇ψ)^{-1}(b)_j` (dual → primal) |
//! | --- | --- | --- |
//! | `½ ||a||_p²` ([`MirrorKind::HalfNormSquared`]) | `J_p(a)_j = ||a||_p^{2-p} |a_j|^{p-1} sgn a_j` | `J_q(b)_j = ||b||_q^{2-q} |b_j|^{q-1} sgn b_j` |
//! | `(1/p) ||a||_p^p` ([`MirrorKind::Power`]) | `|a_j|^{p-1} sgn a_j` | `|b_j|^{q-1} sgn b_j` |
//!
//! Powers are taken of `|x_j| / max_k |x_k|` so that large `q` (small `p`) neither overflows nor
//! underflows; at `p = 2` the half-norm map is the identity, bit for bit.
use crate::error::{Result, check_exponent, check_len, invalid};
use serde::{Deserialize, Serialize};

/// Conjugate exponent `q = p / (p - 1)` of `p > 1`.
pub fn conjugate(p: f64) -> f64 {
    p / (p - 1.0)
}

/// `||a||_p`, computed as `m ||a / m||_p` with `m = max |a_j|` (no overflow for large `p`).
/// Returns 0 for the zero vector. `p` must be `>= 1` (not checked: see [`MirrorMap`] for the checked
/// entry points).
pub fn norm_p(a: &[f64], p: f64) -> f64 {
    let m = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if m == 0.0 || !m.is_finite() {
        return m;
    }
    if p == 2.0 {
        return m * a.iter().map(|x| (x / m) * (x / m)).sum::<f64>().sqrt();
    }
    m * a.iter().map(|x| (x.abs() / m).powf(p)).sum::<f64>().powf(1.0 / p)
}

/// The duality map `J_p(a)_j = ||a||_p^{2-p} |a_j|^{p-1} sgn a_j` of `ℓ^p` (the gradient of
/// `½ ||a||_p²`), checked: `p` finite and `> 1`, `a` finite.
///
/// ```
/// let a = [3.0, 0.0, -4.0];
/// let b = rkbs::duality::duality_map(&a, 1.5).unwrap();
/// let q = rkbs::duality::conjugate(1.5);
/// // <a, J_p(a)> = ||a||_p^2 and ||J_p(a)||_q = ||a||_p
/// let np = rkbs::duality::norm_p(&a, 1.5);
/// let ip: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
/// assert!((ip - np * np).abs() < 1e-12 * np * np);
/// assert!((rkbs::duality::norm_p(&b, q) - np).abs() < 1e-12 * np);
/// assert_eq!(b[1], 0.0);
/// ```
pub fn duality_map(a: &[f64], p: f64) -> Result<Vec<f64>> {
    check_exponent("p", p)?;
    check_finite("a", a)?;
    let mut out = vec![0.0; a.len()];
    half_norm_map(a, p, &mut out);
    Ok(out)
}

pub(crate) fn check_finite(name: &str, a: &[f64]) -> Result<()> {
    linalg::validate::check_finite_slice(name, a)?;
    Ok(())
}

/// `out = J_r(x)`, unchecked (`r > 1`, equal lengths).
pub(crate) fn half_norm_map(x: &[f64], r: f64, out: &mut [f64]) {
    if r == 2.0 {
        out.copy_from_slice(x);
        return;
    }
    let m = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    // ||x||_r^{2-r} |x_j|^{r-1} = m * s^{2-r} * (|x_j|/m)^{r-1} with s = ||x/m||_r in [1, len^{1/r}].
    let s = x.iter().map(|v| (v.abs() / m).powf(r)).sum::<f64>().powf(1.0 / r);
    let scale = m * s.powf(2.0 - r);
    let e = r - 1.0;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v == 0.0 { 0.0 } else { scale * (v.abs() / m).powf(e) * v.signum() };
    }
}

/// `out_j = |x_j|^{e} sgn x_j`, unchecked.
pub(crate) fn power_map(x: &[f64], e: f64, out: &mut [f64]) {
    if e == 1.0 {
        out.copy_from_slice(x);
        return;
    }
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v == 0.0 { 0.0 } else { v.abs().powf(e) * v.signum() };
    }
}

/// Which mirror map (distance-generating function) on `ℓ^p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MirrorKind {
    /// `ψ(a) = ½ ||a||_p²`: gradient = the duality map `J_p`, inverse `J_q`. For `1 < p <= 2` it is
    /// `(p - 1)`-strongly convex w.r.t. `||·||_p`, which gives the safe step.
    #[default]
    HalfNormSquared,
    /// `ψ(a) = (1/p) ||a||_p^p`: separable, `p`-homogeneous; gradient `|a_j|^{p-1} sgn a_j`.
    Power,
}

/// A mirror map `ψ` on `ℓ^p` (`1 < p < ∞`) with its gradient, inverse gradient and Bregman
/// divergence. Construct with [`MirrorMap::new`], which validates `p`.
///
/// ```
/// use rkbs::{MirrorKind, MirrorMap};
/// let psi = MirrorMap::new(3.0, MirrorKind::HalfNormSquared).unwrap();
/// let a = [1.0, -2.0, 0.0, 0.5];
/// let b = psi.to_dual(&a).unwrap();
/// let back = psi.to_primal(&b).unwrap();
/// assert!(a.iter().zip(&back).all(|(x, y)| (x - y).abs() < 1e-12));
/// assert!(psi.bregman(&a, &[0.0, 1.0, 1.0, 1.0]).unwrap() > 0.0);
/// assert!(MirrorMap::new(1.0, MirrorKind::Power).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MirrorMap {
    p: f64,
    kind: MirrorKind,
}

impl MirrorMap {
    /// The mirror map of `kind` on `ℓ^p`. Errors unless `1 < p < ∞`.
    pub fn new(p: f64, kind: MirrorKind) -> Result<Self> {
        check_exponent("p", p)?;
        Ok(MirrorMap { p, kind })
    }

    /// The exponent `p` of the primal space.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The conjugate exponent `q = p / (p - 1)` of the dual space.
    pub fn q(&self) -> f64 {
        conjugate(self.p)
    }

    /// Which mirror map.
    pub fn kind(&self) -> MirrorKind {
        self.kind
    }

    /// A short description, e.g. `"1/2 ||a||_1.5^2"`.
    pub fn describe(&self) -> String {
        match self.kind {
            MirrorKind::HalfNormSquared => format!("1/2 ||a||_{}^2", self.p),
            MirrorKind::Power => format!("(1/{0}) ||a||_{0}^{0}", self.p),
        }
    }

    /// `ψ(a)`.
    pub fn value(&self, a: &[f64]) -> f64 {
        match self.kind {
            MirrorKind::HalfNormSquared => {
                let n = norm_p(a, self.p);
                0.5 * n * n
            }
            MirrorKind::Power => a.iter().map(|x| x.abs().powf(self.p)).sum::<f64>() / self.p,
        }
    }

    /// The conjugate `ψ*(b)` on the dual space `ℓ^q`: `½ ||b||_q²` or `(1/q) ||b||_q^q`.
    pub fn dual_value(&self, b: &[f64]) -> f64 {
        let q = self.q();
        match self.kind {
            MirrorKind::HalfNormSquared => {
                let n = norm_p(b, q);
                0.5 * n * n
            }
            MirrorKind::Power => b.iter().map(|x| x.abs().powf(q)).sum::<f64>() / q,
        }
    }

    /// `∇ψ(a)` (primal → dual), checked.
    pub fn to_dual(self, a: &[f64]) -> Result<Vec<f64>> {
        check_finite("primal vector", a)?;
        let mut out = vec![0.0; a.len()];
        self.to_dual_unchecked(a, &mut out);
        Ok(out)
    }

    /// `(∇ψ)^{-1}(b) = ∇ψ*(b)` (dual → primal), checked.
    pub fn to_primal(self, b: &[f64]) -> Result<Vec<f64>> {
        check_finite("dual vector", b)?;
        let mut out = vec![0.0; b.len()];
        self.to_primal_unchecked(b, &mut out);
        Ok(out)
    }

    /// `out = ∇ψ(a)` into a caller-owned buffer; errors on a length mismatch or non-finite input.
    pub fn to_dual_into(self, a: &[f64], out: &mut [f64]) -> Result<()> {
        check_len("MirrorMap::to_dual_into", out.len(), a.len())?;
        check_finite("primal vector", a)?;
        self.to_dual_unchecked(a, out);
        Ok(())
    }

    /// `out = (∇ψ)^{-1}(b)` into a caller-owned buffer; errors on a length mismatch or non-finite input.
    pub fn to_primal_into(self, b: &[f64], out: &mut [f64]) -> Result<()> {
        check_len("MirrorMap::to_primal_into", out.len(), b.len())?;
        check_finite("dual vector", b)?;
        self.to_primal_unchecked(b, out);
        Ok(())
    }

    pub(crate) fn to_dual_unchecked(self, a: &[f64], out: &mut [f64]) {
        match self.kind {
            MirrorKind::HalfNormSquared => half_norm_map(a, self.p, out),
            MirrorKind::Power => power_map(a, self.p - 1.0, out),
        }
    }

    pub(crate) fn to_primal_unchecked(self, b: &[f64], out: &mut [f64]) {
        match self.kind {
            MirrorKind::HalfNormSquared => half_norm_map(b, self.q(), out),
            MirrorKind::Power => power_map(b, self.q() - 1.0, out),
        }
    }

    /// Bregman divergence `D_ψ(u, v) = ψ(u) - ψ(v) - <∇ψ(v), u - v>` (`>= 0`, `= 0` iff `u = v`).
    /// Errors on a length mismatch or non-finite input.
    pub fn bregman(&self, u: &[f64], v: &[f64]) -> Result<f64> {
        check_len("MirrorMap::bregman", u.len(), v.len())?;
        check_finite("u", u)?;
        check_finite("v", v)?;
        let mut gv = vec![0.0; v.len()];
        self.to_dual_unchecked(v, &mut gv);
        Ok(self.bregman_with_grad(u, v, &gv))
    }

    /// `D_ψ(u, v)` given `gv = ∇ψ(v)`, clamped at 0 against rounding.
    pub(crate) fn bregman_with_grad(&self, u: &[f64], v: &[f64], gv: &[f64]) -> f64 {
        let lin: f64 = gv.iter().zip(u.iter().zip(v)).map(|(g, (a, b))| g * (a - b)).sum();
        (self.value(u) - self.value(v) - lin).max(0.0)
    }

    /// Modulus of strong convexity of `ψ` w.r.t. `||·||_p` on all of `ℓ^p`, when there is one:
    /// `p - 1` for `½ ||a||_p²` with `1 < p <= 2` (Ball-Carlen-Lieb), `None` otherwise
    /// (`p > 2`, or the power map, whose Hessian `(p-1)|a_j|^{p-2}` is not bounded below uniformly).
    pub fn strong_convexity(&self) -> Option<f64> {
        match self.kind {
            MirrorKind::HalfNormSquared if self.p <= 2.0 => Some(self.p - 1.0),
            _ => None,
        }
    }

    /// Exponent `k` with `∇ψ(s a) = s^k ∇ψ(a)` for `s > 0` (1 or `p - 1`): how the dual iterate
    /// scales under the radial projection onto a p-norm ball.
    pub fn homogeneity(&self) -> f64 {
        match self.kind {
            MirrorKind::HalfNormSquared => 1.0,
            MirrorKind::Power => self.p - 1.0,
        }
    }
}

/// Checks a ball radius (finite, > 0).
pub(crate) fn check_radius(r: f64) -> Result<()> {
    if !(r.is_finite() && r > 0.0) {
        return Err(invalid("radius", r, "must be a finite number > 0"));
    }
    Ok(())
}

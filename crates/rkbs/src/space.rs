//! The space `B_p` over a dictionary seen through its feature matrix: the reproducing kernel,
//! evaluation (primal through `<a, φ(x)>`, dual through `K`), and the constants that set step sizes
//! (relative smoothness of the losses w.r.t. `½ ||a||_p²`, Lipschitz bounds on a ball).
use crate::descent::Loss;
use crate::duality::{MirrorKind, MirrorMap, norm_p};
use crate::error::{Result, RkbsError, check_exponent, check_len};
use crate::features::par_for;
use faer::{Accum, Mat, MatRef};

pub(crate) fn check_phi(phi: MatRef<'_, f64>) -> Result<()> {
    if phi.ncols() == 0 {
        return Err(RkbsError::Empty {
            what: "the feature dictionary".into(),
            hint: format!("the feature matrix is {} x 0; use at least one feature", phi.nrows()),
        });
    }
    if phi.nrows() == 0 {
        return Err(RkbsError::Empty {
            what: "the training data".into(),
            hint: format!("the feature matrix is 0 x {}; give at least one sample", phi.ncols()),
        });
    }
    linalg::validate::check_finite("feature matrix", phi)?;
    Ok(())
}

/// `out = Φ a` (unchecked lengths).
pub(crate) fn mul(phi: MatRef<'_, f64>, a: &[f64], out: &mut [f64]) {
    let rhs = MatRef::from_column_major_slice(a, a.len(), 1);
    let n = out.len();
    let dst = faer::MatMut::from_column_major_slice_mut(out, n, 1);
    faer::linalg::matmul::matmul(dst, Accum::Replace, phi, rhs, 1.0, par_for(phi.nrows() * phi.ncols()));
}

/// `out = Φᵀ c` (unchecked lengths).
pub(crate) fn mul_t(phi: MatRef<'_, f64>, c: &[f64], out: &mut [f64]) {
    let rhs = MatRef::from_column_major_slice(c, c.len(), 1);
    let n = out.len();
    let dst = faer::MatMut::from_column_major_slice_mut(out, n, 1);
    faer::linalg::matmul::matmul(
        dst,
        Accum::Replace,
        phi.transpose(),
        rhs,
        1.0,
        par_for(phi.nrows() * phi.ncols()),
    );
}

/// The reproducing kernel block `K(x_i, z_j) = <φ(x_i), φ(z_j)>` from the feature matrices
/// `phi_x` (`n x D`) and `phi_z` (`m x D`). Symmetric PSD when `phi_x = phi_z`.
pub fn kernel_matrix(phi_x: MatRef<'_, f64>, phi_z: MatRef<'_, f64>) -> Result<Mat<f64>> {
    check_phi(phi_x)?;
    check_phi(phi_z)?;
    linalg::validate::check_ncols("kernel_matrix: both feature matrices", phi_z, phi_x.ncols())?;
    let mut k = Mat::<f64>::zeros(phi_x.nrows(), phi_z.nrows());
    faer::linalg::matmul::matmul(
        k.as_mut(),
        Accum::Replace,
        phi_x,
        phi_z.transpose(),
        1.0,
        par_for(phi_x.nrows() * phi_z.nrows() * phi_x.ncols()),
    );
    Ok(k)
}

/// Evaluates `f_a` at the rows of `phi` (`n x D`): `f_a(x_i) = <a, φ(x_i)> = <f_a, K(x_i, ·)>` (the
/// reproducing property, `K(x, ·)` having dual coefficients `φ(x)`).
pub fn evaluate(phi: MatRef<'_, f64>, a: &[f64]) -> Result<Vec<f64>> {
    check_phi(phi)?;
    check_len("evaluate: coefficients against the dictionary size", a.len(), phi.ncols())?;
    crate::duality::check_finite("coefficients", a)?;
    let mut out = vec![0.0; phi.nrows()];
    mul(phi, a, &mut out);
    Ok(out)
}

/// Evaluates a dual element `g = Σ_i c_i K(x_i, ·) ∈ B_q` at points `x` through the kernel alone:
/// `g(x) = Σ_i c_i K(x_i, x)`, with `k_x_train[(r, i)] = K(x_r, x_i)`.
pub fn dual_evaluate(k_x_train: MatRef<'_, f64>, c: &[f64]) -> Result<Vec<f64>> {
    check_len("dual_evaluate: coefficients against the kernel columns", c.len(), k_x_train.ncols())?;
    linalg::validate::check_finite("kernel block", k_x_train)?;
    crate::duality::check_finite("dual coefficients", c)?;
    let mut out = vec![0.0; k_x_train.nrows()];
    mul(k_x_train, c, &mut out);
    Ok(out)
}

/// Largest eigenvalue of `ΦΦᵀ` (= `||Φ||²_{2→2}`), from the smaller of the two Gram matrices.
pub fn spectral_norm_sq(phi: MatRef<'_, f64>) -> Result<f64> {
    check_phi(phi)?;
    let g = if phi.nrows() <= phi.ncols() { phi * phi.transpose() } else { phi.transpose() * phi };
    let ev = linalg::sym::sym_eigenvalues(g.as_ref())?;
    Ok(ev.first().copied().unwrap_or(0.0).max(0.0))
}

/// Largest squared column norm of `Φ` (= `||Φ||²_{1→2}`).
pub fn max_column_norm_sq(phi: MatRef<'_, f64>) -> f64 {
    (0..phi.ncols()).map(|j| phi.col(j).squared_norm_l2()).fold(0.0, f64::max)
}

/// An upper bound `C_p >= ||Φ||²_{p→2} = sup_h ||Φh||_2² / ||h||_p²` for `1 < p <= 2`, by M. Riesz's
/// convexity theorem (valid for real matrices when the target exponent is at least the source one):
/// `||Φ||_{p→2} <= ||Φ||_{1→2}^{1-θ} ||Φ||_{2→2}^θ` with `1/p = (1-θ)/1 + θ/2`, i.e. `θ = 2 - 2/p`.
/// For `p > 2` the bound `||Φ||_{p→2} <= D^{1/2 - 1/p} ||Φ||_{2→2}` (Hölder) is returned.
pub fn p_to_2_norm_sq_bound(phi: MatRef<'_, f64>, p: f64) -> Result<f64> {
    check_exponent("p", p)?;
    let s2 = spectral_norm_sq(phi)?;
    if p > 2.0 {
        return Ok(s2 * (phi.ncols() as f64).powf(1.0 - 2.0 / p));
    }
    let c2 = max_column_norm_sq(phi);
    let theta = 2.0 - 2.0 / p;
    Ok(c2.powf(1.0 - theta) * s2.powf(theta))
}

/// Relative-smoothness constant `L_s` of the loss `L(a) = Σ_i ℓ(<a, φ(x_i)>, y_i)` w.r.t. the
/// mirror map: `L(u) <= L(v) + <∇L(v), u - v> + L_s D_ψ(u, v)` for all `u, v`.
///
/// With `D_ψ(u, v) >= (p-1)/2 ||u - v||_p²` (`ψ = ½||·||_p²`, `1 < p <= 2`) and the loss Hessian
/// `<= c ΦᵀΦ` (`c = 2` squared, `c = 1/4` logistic): `L_s = c C_p / (p - 1)` with `C_p` from
/// [`p_to_2_norm_sq_bound`]. `None` when no global constant exists (`p > 2` or the power mirror map:
/// their Bregman divergences are `o(||u - v||²)` in some directions).
pub fn relative_smoothness(phi: MatRef<'_, f64>, mirror: &MirrorMap, loss: Loss) -> Result<Option<f64>> {
    let Some(alpha) = mirror.strong_convexity() else {
        return Ok(None);
    };
    let c = p_to_2_norm_sq_bound(phi, mirror.p())?;
    Ok(Some(loss.curvature() * c / alpha))
}

/// Why [`relative_smoothness`] has no constant for this mirror map (for error messages).
pub(crate) fn no_smoothness_reason(mirror: &MirrorMap) -> String {
    match mirror.kind() {
        MirrorKind::Power => {
            "the Hessian (p-1)|a_j|^(p-2) of (1/p)||a||_p^p is not bounded below uniformly".into()
        }
        MirrorKind::HalfNormSquared => format!(
            "1/2 ||a||_p^2 with p = {} > 2 is not strongly convex (its Bregman divergence is o(|u-v|^2) \
             at sparse points)",
            mirror.p()
        ),
    }
}

/// An upper bound `G >= sup_{||a||_p <= R} ||∇L(a)||_q` of the dual norm of the loss gradient on the
/// ball of radius `radius` (the Lipschitz constant of `L` w.r.t. `||·||_p` there):
///
/// * squared loss: `||2Φᵀ(Φa - y)||_q <= 2 ||Φ||_{p→2} (||Φ||_{p→2} R + ||y||_2)` (using
///   `||Φᵀ||_{2→q} = ||Φ||_{p→2}`);
/// * logistic loss: `||Φᵀ s||_q` with `|s_i| <= 1`, bounded by `min(||Φ||_{p→2} sqrt(n), Σ_i ||φ(x_i)||_q)`.
pub fn lipschitz_bound(phi: MatRef<'_, f64>, y: &[f64], loss: Loss, p: f64, radius: f64) -> Result<f64> {
    check_exponent("p", p)?;
    crate::duality::check_radius(radius)?;
    check_phi(phi)?;
    check_len("lipschitz_bound: targets against the samples", y.len(), phi.nrows())?;
    let c = p_to_2_norm_sq_bound(phi, p)?.sqrt();
    match loss {
        Loss::Squared => {
            let ny = y.iter().map(|v| v * v).sum::<f64>().sqrt();
            Ok(2.0 * c * (c * radius + ny))
        }
        Loss::Logistic => {
            let q = crate::duality::conjugate(p);
            let rows: f64 = (0..phi.nrows())
                .map(|i| {
                    let r: Vec<f64> = phi.row(i).iter().copied().collect();
                    norm_p(&r, q)
                })
                .sum();
            Ok(rows.min(c * (phi.nrows() as f64).sqrt()))
        }
    }
}

//! Finite-difference gradient checks (central differences, f64).
use crate::error::{Result, check_positive};
use crate::params::{Parameters, check_grads_match};
use faer::Mat;

/// Relative error `||a - b||_F / max(||a||_F, ||b||_F)` (0 when both are 0).
pub fn relative_error(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let scale = a.norm_l2().max(b.norm_l2());
    if scale == 0.0 {
        return 0.0;
    }
    (a - b).norm_l2() / scale
}

/// Central finite-difference gradient of the scalar function `f` at `x`:
/// `(f(x + h e_ij) - f(x - h e_ij)) / 2h` for every entry.
pub fn finite_difference(x: &Mat<f64>, h: f64, mut f: impl FnMut(&Mat<f64>) -> f64) -> Result<Mat<f64>> {
    check_positive("finite-difference step", h)?;
    let mut xp = x.clone();
    let mut g = Mat::<f64>::zeros(x.nrows(), x.ncols());
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            let v = x[(i, j)];
            xp[(i, j)] = v + h;
            let fp = f(&xp);
            xp[(i, j)] = v - h;
            let fm = f(&xp);
            xp[(i, j)] = v;
            g[(i, j)] = (fp - fm) / (2.0 * h);
        }
    }
    Ok(g)
}

/// Result of [`check_gradients`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheck {
    /// Relative error of each parameter matrix's gradient.
    pub per_param: Vec<f64>,
    /// The largest of them.
    pub max_rel_err: f64,
    /// The finite-difference gradients.
    pub numeric: Vec<Mat<f64>>,
}

/// Compares `analytic` gradients (in the order of [`Parameters::params`]) with central finite
/// differences of `loss` with step `h`. The model is restored exactly afterwards.
pub fn check_gradients<M: Parameters + ?Sized>(
    model: &mut M,
    analytic: &[Mat<f64>],
    h: f64,
    mut loss: impl FnMut(&M) -> f64,
) -> Result<GradCheck> {
    check_positive("finite-difference step", h)?;
    check_grads_match(&model.params(), analytic)?;
    let shapes: Vec<(usize, usize)> = model.params().iter().map(|p| (p.nrows(), p.ncols())).collect();
    let mut numeric = Vec::with_capacity(shapes.len());
    for (k, &(r, c)) in shapes.iter().enumerate() {
        let mut g = Mat::<f64>::zeros(r, c);
        for j in 0..c {
            for i in 0..r {
                let v = model.params()[k][(i, j)];
                model.params_mut()[k][(i, j)] = v + h;
                let fp = loss(model);
                model.params_mut()[k][(i, j)] = v - h;
                let fm = loss(model);
                model.params_mut()[k][(i, j)] = v;
                g[(i, j)] = (fp - fm) / (2.0 * h);
            }
        }
        numeric.push(g);
    }
    let per_param: Vec<f64> = numeric.iter().zip(analytic).map(|(n, a)| relative_error(n, a)).collect();
    let max_rel_err = per_param.iter().cloned().fold(0.0, f64::max);
    Ok(GradCheck { per_param, max_rel_err, numeric })
}

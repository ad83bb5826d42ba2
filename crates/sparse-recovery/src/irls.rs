//! IRLS-p for matrix completion (Mohan & Fazel 2012; Fornasier, Rauhut & Ward 2011), the baseline
//! lin-RFM generalises.
//!
//! Each iteration solves the weighted least-norm problem `min tr(W P_t W^T)` subject to the
//! observations, `P_t = (W_t^T W_t / d1 + eps_t^2 I)^(p/2 - 1)`: row by row this is kernel regression
//! with the kernel `P_t^{-1} = (G_t + eps_t^2 I)^(1 - p/2)`, computed from a full symmetric
//! eigendecomposition of `G_t` **every iteration**; the smoothing follows
//! `eps_{t+1} = min(eps_t, gamma * sigma_{r+1}(W_{t+1}) / sqrt(d1))`, which needs the rank `r`.
//! With `p = 2 - 4 alpha` and `eps = 0` this is lin-RFM with exponent `alpha`.
use crate::completion::{
    CompletionFit, CompletionStep, Control, LoopOptions, RegSchedule, Stopping, run_iterations, setter,
};
use crate::error::{Result, check_nonnegative, check_positive, invalid};
use crate::observations::Observations;
use faer::Mat;
use serde::{Deserialize, Serialize};

/// Hyperparameters of IRLS-p matrix completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrlsParams {
    /// Schatten exponent `p < 2` (0 = log-det / IRLS-0, 1 = nuclear norm).
    pub p: f64,
    /// Target rank `r` used by the epsilon rule (`eps <- min(eps, gamma sigma_{r+1})`).
    pub rank: usize,
    /// Factor of the epsilon rule.
    pub gamma: f64,
    /// Tiny ridge of the row solves, relative to the mean kernel eigenvalue (numerical safety only).
    pub reg: f64,
    /// Stopping rules and hold-out.
    pub stopping: Stopping,
}

impl Default for IrlsParams {
    fn default() -> Self {
        IrlsParams { p: 0.0, rank: 1, gamma: 0.5, reg: 1e-9, stopping: Stopping::default() }
    }
}

impl IrlsParams {
    /// IRLS-p with exponent `p` and target rank `rank`.
    pub fn new(p: f64, rank: usize) -> Self {
        IrlsParams { p, rank, ..Default::default() }
    }
    setter!(/// Sets gamma.
        with_gamma, gamma, f64);
    setter!(/// Sets the relative ridge.
        with_reg, reg, f64);
    setter!(/// Stopping rules.
        with_stopping, stopping, Stopping);
    setter!(/// Maximum iterations.
        with_max_iters, stopping.max_iters, usize);
    setter!(/// Tolerance.
        with_tol, stopping.tol, f64);
    setter!(/// Hold-out fraction.
        with_holdout, stopping.holdout, f64);
    setter!(/// Seed of the hold-out split.
        with_seed, stopping.seed, u64);

    /// Checks every hyperparameter.
    pub fn validate(&self) -> Result<()> {
        if !(self.p.is_finite() && self.p < 2.0 && self.p >= -6.0) {
            return Err(invalid("p", self.p, "must be in [-6, 2)"));
        }
        if self.rank == 0 {
            return Err(invalid("rank", 0, "must be at least 1"));
        }
        check_positive("gamma", self.gamma)?;
        check_nonnegative("reg", self.reg)?;
        self.stopping.validate_pub()
    }

    /// Fits without an observer.
    pub fn fit(&self, obs: &Observations) -> Result<CompletionFit> {
        self.fit_with(obs, &mut |_| Control::Continue)
    }

    /// Fits, calling `observer` after every iteration.
    pub fn fit_with(
        &self,
        obs: &Observations,
        observer: &mut dyn FnMut(&CompletionStep<'_>) -> Control,
    ) -> Result<CompletionFit> {
        self.validate()?;
        if self.rank >= obs.d1().min(obs.d2()) {
            return Err(invalid(
                "rank",
                self.rank,
                &format!("must be below both dimensions of the {} x {} matrix", obs.d1(), obs.d2()),
            ));
        }
        let (p, r, gamma) = (self.p, self.rank, self.gamma);
        let mut eps2 = f64::INFINITY;
        let mut update = |g: Mat<f64>, _t: usize, _val: Option<f64>| -> Result<(Mat<f64>, f64)> {
            let e = linalg::sym::sym_eigen(g.as_ref())?;
            // sigma_{r+1}(W / sqrt(d1))^2 = lambda_{r+1}(G)
            let lr1 = e.values.get(r).copied().unwrap_or(0.0).max(0.0);
            if eps2.is_infinite() {
                eps2 = e.values[0].max(0.0);
            }
            eps2 = eps2.min(gamma * gamma * lr1);
            let s = 1.0 - p / 2.0;
            let floor = 1e-300;
            let mut k = linalg::sym::reconstruct_with(&e, |l| (l.max(0.0) + eps2).max(floor).powf(s));
            // the scale of the kernel does not change the weighted least-norm solution: normalise it
            // to a mean eigenvalue of 1 so that `reg` is relative
            let mean = linalg::sym::trace(k.as_ref()) / k.nrows() as f64;
            if mean > 0.0 && mean.is_finite() {
                k *= faer::Scale(1.0 / mean);
            }
            Ok((k, eps2))
        };
        // the ridge is scaled to the kernel inside the row fits: reg * mean eigenvalue is tiny
        let sched = RegSchedule { reg: self.reg.max(1e-300), reg_final: self.reg.max(1e-300), switch: 0.0 };
        let opts = LoopOptions { replace: false, agop_f32: false, momentum: 0.0 };
        run_iterations(obs, &self.stopping, sched, opts, "IRLS", &mut update, observer)
    }
}

impl Stopping {
    pub(crate) fn validate_pub(&self) -> Result<()> {
        if self.max_iters == 0 {
            return Err(invalid("max_iters", 0, "must be at least 1"));
        }
        check_nonnegative("tol", self.tol)?;
        if self.patience == 0 {
            return Err(invalid("patience", 0, "must be at least 1"));
        }
        if !(self.holdout.is_finite() && (0.0..1.0).contains(&self.holdout)) {
            return Err(invalid("holdout", self.holdout, "must be in [0, 1)"));
        }
        if let Some(t) = self.merge_after_switch {
            check_nonnegative("merge_after_switch tolerance", t)?;
        }
        Ok(())
    }
}

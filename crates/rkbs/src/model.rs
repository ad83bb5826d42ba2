//! `fit` / `predict` over a feature dictionary.
use crate::descent::{Control, Loss, MdSolution, MdStep, MirrorDescentParams};
use crate::duality::MirrorMap;
use crate::error::{Result, invalid};
use crate::features::FeatureMap;
use datasets::Dataset;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// A function `f_a = Σ_j a_j φ_j` of `B_p` fitted by mirror descent, with its dictionary.
/// Serialisable when the feature map is (e.g. [`crate::RandomFourierFeatures`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RkbsModel<F> {
    /// The dictionary `φ`.
    pub features: F,
    /// The hyperparameters of the fit.
    pub params: MirrorDescentParams,
    /// Primal coefficients `a` (length `D`).
    pub coef: Vec<f64>,
    /// Dual coefficients `c` (length `n`): `∇ψ(a) = Σ_i c_i K(x_i, ·)`.
    pub dual_coef: Vec<f64>,
    /// Objective `F(a_t)` along the run (`t = 0..=T`).
    pub objectives: Vec<f64>,
}

impl MirrorDescentParams {
    /// Fits `f_a` on `data` (targets `n x 1`; labels ±1 for the logistic loss) with the dictionary
    /// `features`.
    ///
    /// ```
    /// use faer::Mat;
    /// use rkbs::{FeatureMap, MirrorDescentParams, RandomFourierFeatures, RffKernel};
    /// let x = Mat::from_fn(40, 1, |i, _| i as f64 / 40.0);
    /// let y = Mat::from_fn(40, 1, |i, _| (6.0 * i as f64 / 40.0).sin());
    /// let data = datasets::Dataset::new("sine", x.clone(), y).unwrap();
    /// let rff = RandomFourierFeatures::new(RffKernel::Gaussian { bandwidth: 0.3 }, 1, 100, 1).unwrap();
    /// let model = MirrorDescentParams::default().with_p(1.5).with_iters(300).fit(&rff, &data).unwrap();
    /// let pred = model.predict(x.as_ref()).unwrap();
    /// assert!(datasets::mse(pred.as_ref(), data.y.as_ref()).unwrap() < 0.05);
    /// ```
    pub fn fit<F: FeatureMap + Clone>(&self, features: &F, data: &Dataset) -> Result<RkbsModel<F>> {
        self.fit_with(features, data, &mut |_| Control::Continue)
    }

    /// [`fit`](Self::fit) with an observer called after every step.
    pub fn fit_with<F: FeatureMap + Clone>(
        &self,
        features: &F,
        data: &Dataset,
        observer: &mut dyn FnMut(&MdStep<'_>) -> Control,
    ) -> Result<RkbsModel<F>> {
        self.validate()?;
        if data.y.ncols() != 1 {
            return Err(invalid(
                "targets",
                format!("{} x {}", data.y.nrows(), data.y.ncols()),
                "mirror descent in B_p fits one output; pass a single target column",
            ));
        }
        let phi = features.features(data.x.as_ref())?;
        let y: Vec<f64> = data.y.col(0).iter().copied().collect();
        let sol: MdSolution = self.solve_with(phi.as_ref(), &y, observer)?;
        Ok(RkbsModel {
            features: features.clone(),
            params: self.clone(),
            coef: sol.coef,
            dual_coef: sol.dual_coef,
            objectives: sol.objectives,
        })
    }
}

impl<F: FeatureMap> RkbsModel<F> {
    /// `f_a(x) = <a, φ(x)>` at the rows of `x` (`m x d`), as an `m x 1` matrix (decision values for
    /// the logistic loss).
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let phi = self.features.features(x)?;
        let f = crate::space::evaluate(phi.as_ref(), &self.coef)?;
        Ok(Mat::from_fn(f.len(), 1, |i, _| f[i]))
    }

    /// Predicted labels `sign f(x)` (±1) for the logistic loss.
    pub fn predict_labels(&self, x: MatRef<'_, f64>) -> Result<Vec<f64>> {
        if self.params.loss != Loss::Logistic {
            return Err(invalid("loss", "squared", "labels are only defined for the logistic loss"));
        }
        let f = self.predict(x)?;
        Ok(f.col(0).iter().map(|v| if *v >= 0.0 { 1.0 } else { -1.0 }).collect())
    }

    /// The mirror map of the fit.
    pub fn mirror_map(&self) -> Result<MirrorMap> {
        self.params.mirror_map()
    }

    /// `||a||_p`, the norm of the fitted function in `B_p`.
    pub fn norm(&self) -> f64 {
        crate::duality::norm_p(&self.coef, self.params.p)
    }

    /// Number of coefficients with `|a_j| > threshold * max_k |a_k|` (a sparsity measure).
    pub fn n_large(&self, threshold: f64) -> usize {
        count_large(&self.coef, threshold)
    }
}

/// Number of entries with `|a_j| > threshold * max_k |a_k|` (0 for the zero vector).
pub fn count_large(a: &[f64], threshold: f64) -> usize {
    let m = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 {
        return 0;
    }
    a.iter().filter(|v| v.abs() > threshold * m).count()
}

//! Deep Recursive Feature Machines (Beaglehole, Súkeník, Mondelli, Belkin 2024): a stack of
//! one-iteration RFMs, each followed by the `M^{1/2}` projection and a fresh random feature map.
//!
//! ```text
//! X_1 = data; Y = 2 onehot - 1
//! for l = 1..=depth:
//!     X_l <- rows of X_l scaled to unit norm                         (stage "input")
//!     f_l = kernel machine on (X_l, Y) with M = I;  M_l = AGOP(f_l) / max_ij AGOP(f_l)
//!     P_l = X_l M_l^{1/2}                                           (stage "projected")
//!     X_{l+1} = phi_l(P_l)   with a fresh random map phi_l           (stage "nonlinear")
//! ```
//!
//! The ablation `project = false` skips the AGOP (`M_l = I`): only random feature maps are applied.
//! Test data, when given, goes through the same maps. Each layer is reported to an observer with the
//! three stages of the train (and test) features, so that neural-collapse metrics
//! ([`crate::collapse`]) can be tracked through depth without keeping every layer in memory.
//!
//! ```
//! use datasets::synthetic::gaussian_mixture;
//! use rfm::collapse::neural_collapse;
//! use rfm::deep::{DeepRfmParams, FeatureMap};
//! let data = gaussian_mixture(60, 8, 3, 2.0, 1).unwrap();
//! let params = DeepRfmParams::default().with_depth(3).with_feature_map(FeatureMap::Relu { width: 32 });
//! let mut nc1 = Vec::new();
//! params
//!     .fit_with(&data, None, &mut |layer| {
//!         nc1.push(neural_collapse(layer.train.projected.as_ref(), layer.train_labels).unwrap().nc1);
//!         rfm::Control::Continue
//!     })
//!     .unwrap();
//! assert_eq!(nc1.len(), 3);
//! ```
use crate::error::{Result, invalid};
use crate::rfm::{Control, Normalization, RfmParams};
use datasets::Dataset;
use faer::{Mat, MatRef};
use kernels::{KernelModel, KernelSpec, Metric};
use rand::Rng;
use rand_distr::{Cauchy, Distribution, Uniform};
use serde::{Deserialize, Serialize};

/// The random feature map applied after each projection.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FeatureMap {
    /// `phi(z) = relu(W z)` with `W` (`width x d`) uniform in `(-1/sqrt(d), 1/sqrt(d))` (PyTorch's
    /// `nn.Linear` default initialisation), no bias.
    Relu {
        /// Output width `k`.
        width: usize,
    },
    /// Random Fourier features of the Laplace kernel: `phi(z) = sqrt(2/k) cos(W z + u)` with
    /// `W_ij ~ Cauchy(0, gamma)` and `u ~ U[0, 2 pi)`.
    Cosine {
        /// Output width `k`.
        width: usize,
        /// Cauchy scale `gamma > 0`.
        gamma: f64,
    },
}

impl FeatureMap {
    /// Output width.
    pub fn width(&self) -> usize {
        match *self {
            FeatureMap::Relu { width } | FeatureMap::Cosine { width, .. } => width,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.width() == 0 {
            return Err(invalid("feature map width", 0, "must be at least 1"));
        }
        if let FeatureMap::Cosine { gamma, .. } = *self
            && !(gamma.is_finite() && gamma > 0.0)
        {
            return Err(invalid("gamma", gamma, "the Cauchy scale must be finite and > 0"));
        }
        Ok(())
    }

    /// Draws the map for input dimension `d`.
    fn sample(&self, d: usize, seed: u64) -> Result<RandomMap> {
        let mut rng = linalg::random::rng(seed);
        match *self {
            FeatureMap::Relu { width } => {
                let b = 1.0 / (d as f64).sqrt();
                let dist = Uniform::new(-b, b).map_err(|e| invalid("relu init", b, &e.to_string()))?;
                let w = Mat::from_fn(d, width, |_, _| dist.sample(&mut rng));
                Ok(RandomMap { wt: w, phase: None })
            }
            FeatureMap::Cosine { width, gamma } => {
                let dist = Cauchy::new(0.0, gamma).map_err(|e| invalid("gamma", gamma, &e.to_string()))?;
                let w = Mat::from_fn(d, width, |_, _| dist.sample(&mut rng));
                let phase = (0..width).map(|_| rng.random::<f64>() * std::f64::consts::TAU).collect();
                Ok(RandomMap { wt: w, phase: Some(phase) })
            }
        }
    }
}

/// One drawn feature map: `W^T` (`d x k`) and, for cosine features, the phases.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RandomMap {
    #[serde(with = "linalg::serde_mat")]
    wt: Mat<f64>,
    phase: Option<Vec<f64>>,
}

impl RandomMap {
    fn apply(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = z * &self.wt;
        match &self.phase {
            None => {
                for j in 0..out.ncols() {
                    for v in out.col_as_slice_mut(j) {
                        *v = v.max(0.0);
                    }
                }
            }
            Some(phase) => {
                let s = (2.0 / out.ncols() as f64).sqrt();
                for (j, &u) in phase.iter().enumerate() {
                    for v in out.col_as_slice_mut(j) {
                        *v = s * (*v + u).cos();
                    }
                }
            }
        }
        out
    }
}

/// Hyperparameters of a Deep RFM. Defaults follow the reference script: Laplace kernel `L = 2`,
/// ridge `1e-3`, `M = AGOP / max(AGOP)`, ReLU features of width 512, depth 20.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeepRfmParams {
    /// Number of layers (each: one kernel fit, one AGOP, one projection, one random map).
    pub depth: usize,
    /// Kernel of every layer's RFM.
    pub kernel: KernelSpec,
    /// Ridge of every layer's kernel fit.
    pub ridge: f64,
    /// Random feature map after each projection.
    pub feature_map: FeatureMap,
    /// Project by `M^{1/2}` (`false` = the random-features-only ablation, `M = I`).
    pub project: bool,
    /// Seed of the random maps (layer `l` uses a seed derived from it).
    pub seed: u64,
}

impl Default for DeepRfmParams {
    fn default() -> Self {
        DeepRfmParams {
            depth: 20,
            kernel: KernelSpec::laplace(2.0),
            ridge: 1e-3,
            feature_map: FeatureMap::Relu { width: 512 },
            project: true,
            seed: 0,
        }
    }
}

/// Features of one set at the three stages of a layer.
#[derive(Debug, Clone)]
pub struct LayerFeatures {
    /// `X_l` after row normalisation.
    pub input: Mat<f64>,
    /// `X_l M_l^{1/2}`.
    pub projected: Mat<f64>,
    /// `phi_l(X_l M_l^{1/2})` (the next layer's input before normalisation).
    pub nonlinear: Mat<f64>,
}

/// What the observer sees after layer `layer` (1-based).
#[derive(Debug)]
pub struct DeepRfmLayer<'a> {
    /// Layer index, starting at 1.
    pub layer: usize,
    /// Train features at the three stages.
    pub train: &'a LayerFeatures,
    /// Test features at the three stages (when test data was given).
    pub test: Option<&'a LayerFeatures>,
    /// Class labels of the training rows.
    pub train_labels: &'a [usize],
    /// The layer's metric `M_l` (identity in the ablation).
    pub metric: &'a Mat<f64>,
    /// The layer's kernel predictor (fitted with `M = I` on the normalised inputs).
    pub predictor: &'a KernelModel,
    /// Test predictions of that predictor (when test data was given).
    pub test_predictions: Option<&'a Mat<f64>>,
}

/// One fitted layer: enough to push new data through the stack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeepRfmLayerModel {
    /// `M_l^{1/2}` (`None` in the ablation).
    #[serde(with = "linalg::serde_mat::opt")]
    pub sqrt_metric: Option<Mat<f64>>,
    map: RandomMap,
}

/// A fitted Deep RFM.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeepRfmModel {
    /// The parameters.
    pub params: DeepRfmParams,
    /// Fitted layers (fewer than `depth` if the observer stopped early).
    pub layers: Vec<DeepRfmLayerModel>,
}

impl DeepRfmModel {
    /// Pushes `x` through every layer and returns the final features (unit-normalised rows).
    pub fn transform(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        linalg::validate::check_data("Deep RFM inputs", x)?;
        let mut cur = x.to_owned();
        for layer in &self.layers {
            let dim = layer.map.wt.nrows();
            linalg::validate::check_ncols("Deep RFM inputs vs layer", cur.as_ref(), dim)?;
            let z = datasets::unit_norm_rows(cur.as_ref());
            let p = match &layer.sqrt_metric {
                Some(s) => &z * s,
                None => z,
            };
            cur = layer.map.apply(p.as_ref());
        }
        Ok(datasets::unit_norm_rows(cur.as_ref()))
    }
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident, $field:ident, $t:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: $t) -> Self {
            self.$field = v;
            self
        }
    };
}

impl DeepRfmParams {
    setter!(/// Sets the depth.
        with_depth, depth, usize);
    setter!(/// Sets the kernel.
        with_kernel, kernel, KernelSpec);
    setter!(/// Sets the ridge.
        with_ridge, ridge, f64);
    setter!(/// Sets the random feature map.
        with_feature_map, feature_map, FeatureMap);
    setter!(/// Projection on (Deep RFM) or off (random-features ablation).
        with_project, project, bool);
    setter!(/// Sets the seed.
        with_seed, seed, u64);

    /// Checks the hyperparameters.
    pub fn validate(&self) -> Result<()> {
        if self.depth == 0 {
            return Err(invalid("depth", 0, "must be at least 1"));
        }
        if self.depth > 10_000 {
            return Err(invalid("depth", self.depth, "must be at most 10000"));
        }
        self.feature_map.validate()?;
        self.layer_rfm().validate()
    }

    fn layer_rfm(&self) -> RfmParams {
        RfmParams::new(self.kernel)
            .with_ridge(self.ridge)
            .with_iters(0)
            .with_power(1.0)
            .with_normalization(Normalization::Max)
            .with_agop_after_last_fit(true)
            .with_keep_history(true)
    }

    /// Fits the stack on the classification set `train` (targets `2 onehot - 1`), pushing `test`
    /// through the same maps, and calls `observer` after every layer (it may stop early).
    pub fn fit_with(
        &self,
        train: &Dataset,
        test: Option<&Dataset>,
        observer: &mut dyn FnMut(&DeepRfmLayer<'_>) -> Control,
    ) -> Result<DeepRfmModel> {
        self.validate()?;
        train.validate()?;
        let labels = train
            .labels
            .clone()
            .ok_or_else(|| invalid("train", &train.name, "Deep RFM needs a classification dataset"))?;
        if let Some(t) = test {
            t.validate()?;
            linalg::validate::check_ncols("test inputs vs train inputs", t.x.as_ref(), train.d())?;
        }
        let targets = Mat::from_fn(train.n(), train.c(), |i, j| 2.0 * train.y[(i, j)] - 1.0);
        let rfm = self.layer_rfm();
        let mut x = train.x.clone();
        let mut xt = test.map(|t| t.x.clone());
        let mut layers = Vec::with_capacity(self.depth);
        for l in 1..=self.depth {
            let input = datasets::unit_norm_rows(x.as_ref());
            let input_t = xt.as_ref().map(|m| datasets::unit_norm_rows(m.as_ref()));
            let d = input.ncols();
            let set = Dataset {
                x: input.clone(),
                y: targets.clone(),
                labels: train.labels.clone(),
                n_classes: train.n_classes,
                name: train.name.clone(),
            };
            let fitted = rfm.fit(&set)?;
            let test_pred = match &input_t {
                Some(t) => Some(fitted.predict(t.as_ref())?),
                None => None,
            };
            let (metric, sqrt) = if self.project {
                let m = match fitted.history.last() {
                    Some(m @ Metric::Mahalanobis(_)) | Some(m @ Metric::Diagonal(_)) => m.to_matrix(d),
                    _ => return Err(invalid("layer", l, "the AGOP update produced no metric")),
                };
                let s = linalg::sym::sym_sqrt(m.as_ref())?;
                (m, Some(s))
            } else {
                (Mat::identity(d, d), None)
            };
            let project = |z: &Mat<f64>| match &sqrt {
                Some(s) => z * s,
                None => z.clone(),
            };
            let projected = project(&input);
            let projected_t = input_t.as_ref().map(project);
            let seed = self.seed.wrapping_add((l as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let map = self.feature_map.sample(d, seed)?;
            let nonlinear = map.apply(projected.as_ref());
            let nonlinear_t = projected_t.as_ref().map(|p| map.apply(p.as_ref()));
            let train_f = LayerFeatures { input, projected, nonlinear };
            let test_f = match (input_t, projected_t, nonlinear_t) {
                (Some(input), Some(projected), Some(nonlinear)) => {
                    Some(LayerFeatures { input, projected, nonlinear })
                }
                _ => None,
            };
            let control = observer(&DeepRfmLayer {
                layer: l,
                train: &train_f,
                test: test_f.as_ref(),
                train_labels: &labels,
                metric: &metric,
                predictor: &fitted.model,
                test_predictions: test_pred.as_ref(),
            });
            layers.push(DeepRfmLayerModel { sqrt_metric: sqrt, map });
            x = train_f.nonlinear;
            xt = test_f.map(|f| f.nonlinear);
            if control == Control::Stop {
                break;
            }
        }
        Ok(DeepRfmModel { params: self.clone(), layers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datasets::synthetic::gaussian_mixture;

    #[test]
    fn layer_invariants_hold() {
        let data = gaussian_mixture(45, 6, 3, 2.0, 3).unwrap();
        let params = DeepRfmParams::default().with_depth(2).with_feature_map(FeatureMap::Relu { width: 16 });
        let mut seen = 0;
        params
            .fit_with(&data, None, &mut |layer| {
                seen += 1;
                // unit-norm rows at the input stage
                for i in 0..layer.train.input.nrows() {
                    let norm: f64 = (0..layer.train.input.ncols())
                        .map(|j| layer.train.input[(i, j)].powi(2))
                        .sum::<f64>()
                        .sqrt();
                    assert!((norm - 1.0).abs() < 1e-12);
                }
                // M has largest entry 1, is symmetric PSD
                let m = layer.metric;
                let max = (0..m.nrows())
                    .flat_map(|i| (0..m.ncols()).map(move |j| (i, j)))
                    .map(|(i, j)| m[(i, j)])
                    .fold(f64::MIN, f64::max);
                assert!((max - 1.0).abs() < 1e-12);
                let ev = linalg::sym::sym_eigenvalues(m.as_ref()).unwrap();
                assert!(ev.iter().all(|&e| e > -1e-10));
                // projected = input M^{1/2}, and (M^{1/2})^2 = M
                let s = linalg::sym::sym_sqrt(m.as_ref()).unwrap();
                assert!((&s * &s - m).norm_max() < 1e-10);
                assert!((&layer.train.input * &s - &layer.train.projected).norm_max() < 1e-12);
                // ReLU output is non-negative
                assert!(layer.train.nonlinear.col_iter().all(|c| c.iter().all(|&v| v >= 0.0)));
                Control::Continue
            })
            .unwrap();
        assert_eq!(seen, 2);
    }

    #[test]
    fn deterministic_and_transform_matches_fit() {
        let data = gaussian_mixture(30, 5, 2, 2.0, 4).unwrap();
        let params = DeepRfmParams::default()
            .with_depth(3)
            .with_feature_map(FeatureMap::Cosine { width: 12, gamma: 0.5 })
            .with_seed(9);
        let mut last = None;
        let model = params
            .fit_with(&data, None, &mut |l| {
                last = Some(datasets::unit_norm_rows(l.train.nonlinear.as_ref()));
                Control::Continue
            })
            .unwrap();
        let again = params.fit_with(&data, None, &mut |_| Control::Continue).unwrap();
        let a = model.transform(data.x.as_ref()).unwrap();
        let b = again.transform(data.x.as_ref()).unwrap();
        assert_eq!(a, b);
        assert!((a - last.unwrap()).norm_max() < 1e-12);
    }

    #[test]
    fn ablation_uses_identity() {
        let data = gaussian_mixture(30, 5, 2, 2.0, 5).unwrap();
        let params = DeepRfmParams::default().with_depth(1).with_project(false);
        params
            .fit_with(&data, None, &mut |l| {
                assert_eq!(l.train.input, l.train.projected);
                Control::Continue
            })
            .unwrap();
    }

    #[test]
    fn bad_parameters_are_errors() {
        let data = gaussian_mixture(30, 5, 2, 2.0, 5).unwrap();
        let noop = &mut |_: &DeepRfmLayer<'_>| Control::Continue;
        assert!(DeepRfmParams::default().with_depth(0).fit_with(&data, None, noop).is_err());
        let zero_width = DeepRfmParams::default().with_feature_map(FeatureMap::Relu { width: 0 });
        assert!(zero_width.fit_with(&data, None, noop).is_err());
        let bad_gamma =
            DeepRfmParams::default().with_feature_map(FeatureMap::Cosine { width: 4, gamma: -1.0 });
        assert!(bad_gamma.fit_with(&data, None, noop).is_err());
        let regression = Dataset::new("r", data.x.clone(), Mat::zeros(30, 1)).unwrap();
        assert!(DeepRfmParams::default().fit_with(&regression, None, noop).is_err());
    }
}

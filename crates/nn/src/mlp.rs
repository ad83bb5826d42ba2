//! Multi-layer perceptron: `Linear -> activation -> ... -> Linear`, with per-sample input
//! gradients (AGOP) and per-sample parameter gradients (Jacobian, empirical NTK).
use crate::error::{Result, invalid};
use crate::layers::{Activation, Linear, check_input};
use crate::ops::check_shape;
use crate::optim::Optimizer;
use crate::params::Parameters;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// A fully connected network. Parameters in order: each layer's `W` then `b` (when present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// The linear layers, first to last.
    pub layers: Vec<Linear>,
    /// Activation between layers (none after the last one).
    pub activation: Activation,
}

/// What [`Mlp::forward`] keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct MlpCache {
    /// The input of every linear layer.
    pub inputs: Vec<Mat<f64>>,
    /// The pre-activation after every hidden linear layer.
    pub pre: Vec<Mat<f64>>,
}

impl Mlp {
    /// A network with layer widths `sizes` (`[d_in, h_1, ..., d_out]`, at least two entries, all
    /// >= 1), LeCun-normal weights and zero biases (when `bias`), seeded.
    pub fn new(sizes: &[usize], activation: Activation, bias: bool, seed: u64) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(invalid("number of layer sizes", sizes.len(), "need at least [d_in, d_out]"));
        }
        let mut rng = linalg::random::rng(seed);
        let layers = sizes
            .windows(2)
            .map(|w| Linear::with_std(w[0], w[1], bias, 1.0 / (w[0].max(1) as f64).sqrt(), &mut rng))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp { layers, activation })
    }

    /// Input dimension.
    pub fn d_in(&self) -> usize {
        self.layers[0].d_in()
    }

    /// Output dimension.
    pub fn d_out(&self) -> usize {
        self.layers[self.layers.len() - 1].d_out()
    }

    /// Forward pass (`n x d_in` -> `n x d_out`) keeping the activations.
    pub fn forward(&self, x: MatRef<'_, f64>) -> Result<(Mat<f64>, MlpCache)> {
        check_input("MLP input", x, self.d_in())?;
        let mut inputs = Vec::with_capacity(self.layers.len());
        let mut pre = Vec::with_capacity(self.layers.len());
        let mut h = x.to_owned();
        for (l, layer) in self.layers.iter().enumerate() {
            let z = layer.forward(h.as_ref())?;
            inputs.push(h);
            if l + 1 < self.layers.len() {
                h = self.activation.forward(z.as_ref());
                pre.push(z);
            } else {
                h = z;
            }
        }
        Ok((h, MlpCache { inputs, pre }))
    }

    /// Predictions.
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        Ok(self.forward(x)?.0)
    }

    /// Backward pass from `g = dL/d output`: `(dL/dx, parameter gradients)`.
    pub fn backward(&self, cache: &MlpCache, g: MatRef<'_, f64>) -> Result<(Mat<f64>, Vec<Mat<f64>>)> {
        let n = cache.inputs[0].nrows();
        check_shape("MLP output gradient", g, n, self.d_out())?;
        let mut per_layer: Vec<Vec<Mat<f64>>> = Vec::with_capacity(self.layers.len());
        let mut g = g.to_owned();
        for l in (0..self.layers.len()).rev() {
            if l + 1 < self.layers.len() {
                g = self.activation.backward(cache.pre[l].as_ref(), g.as_ref())?;
            }
            let (gx, grads) = self.layers[l].backward(cache.inputs[l].as_ref(), g.as_ref())?;
            per_layer.push(grads);
            g = gx;
        }
        per_layer.reverse();
        Ok((g, per_layer.into_iter().flatten().collect()))
    }

    /// Half-mean squared loss on `(x, y)` and its parameter gradients.
    pub fn loss_and_grad(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<(f64, Vec<Mat<f64>>)> {
        check_input("MLP targets", y, self.d_out())?;
        let (out, cache) = self.forward(x)?;
        let (loss, g) = crate::loss::mse(out.as_ref(), y)?;
        Ok((loss, self.backward(&cache, g.as_ref())?.1))
    }

    /// One optimiser step on the half-mean squared loss; returns the loss before the step.
    pub fn train_step(
        &mut self,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        opt: &mut dyn Optimizer,
    ) -> Result<f64> {
        let (loss, grads) = self.loss_and_grad(x, y)?;
        opt.step(self, &grads)?;
        Ok(loss)
    }

    /// Per-sample input gradients of output `k`: row `i` is `grad_x f_k(x_i)` (`n x d_in`), one
    /// backward pass with seed `e_k` for every sample.
    pub fn input_gradients(&self, x: MatRef<'_, f64>, k: usize) -> Result<Mat<f64>> {
        if k >= self.d_out() {
            return Err(invalid("output index", k, &format!("must be < {}", self.d_out())));
        }
        let (_, cache) = self.forward(x)?;
        let seed = Mat::from_fn(x.nrows(), self.d_out(), |_, j| if j == k { 1.0 } else { 0.0 });
        Ok(self.backward(&cache, seed.as_ref())?.0)
    }

    /// The AGOP `(1/n) sum_i J(x_i)^T J(x_i)` (`d_in x d_in`, summed over outputs).
    pub fn agop(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let gs = (0..self.d_out()).map(|k| self.input_gradients(x, k)).collect::<Result<Vec<_>>>()?;
        crate::analysis::agop_from_output_gradients(&gs)
    }

    /// Per-sample parameter gradients of a scalar-output network: the Jacobian `J` (`n x P`),
    /// columns in the order of [`Parameters::params`] (each matrix column-major).
    pub fn jacobian(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        if self.d_out() != 1 {
            return Err(invalid("output dimension", self.d_out(), "the Jacobian needs a scalar output"));
        }
        let (_, cache) = self.forward(x)?;
        let n = x.nrows();
        let mut blocks = Vec::with_capacity(self.layers.len());
        let mut g = Mat::from_fn(n, 1, |_, _| 1.0);
        for l in (0..self.layers.len()).rev() {
            if l + 1 < self.layers.len() {
                g = self.activation.backward(cache.pre[l].as_ref(), g.as_ref())?;
            }
            blocks.push(self.layers[l].per_sample_grads(cache.inputs[l].as_ref(), g.as_ref())?);
            g = self.layers[l].backward(cache.inputs[l].as_ref(), g.as_ref())?.0;
        }
        blocks.reverse();
        let p: usize = blocks.iter().map(|b| b.ncols()).sum();
        let mut j = Mat::<f64>::zeros(n, p);
        let mut off = 0;
        for b in &blocks {
            j.as_mut().submatrix_mut(0, off, n, b.ncols()).copy_from(b.as_ref());
            off += b.ncols();
        }
        Ok(j)
    }

    /// The empirical tangent kernel `(1/n) J J^T` of a scalar-output network.
    pub fn ntk(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        Ok(crate::analysis::empirical_ntk(self.jacobian(x)?.as_ref()))
    }
}

impl Parameters for Mlp {
    fn params(&self) -> Vec<&Mat<f64>> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>> {
        self.layers.iter_mut().flat_map(|l| l.params_mut()).collect()
    }
}

//! Access to a model's trainable parameters (for optimisers, gradient checks, per-sample
//! Jacobians) and parameter save/load with serde.
use crate::error::{NnError, Result, mismatch};
use faer::Mat;
use serde::{Serialize, de::DeserializeOwned};
use std::path::Path;

/// A model or layer with trainable parameters, each a `Mat<f64>`.
///
/// `params` and `params_mut` list the same matrices in the same order; gradients returned by the
/// model's backward pass follow that order too, so that optimisers and the gradient checker can
/// pair them up. Flattened parameter vectors (e.g. the columns of a Jacobian) concatenate the
/// matrices in this order, each in column-major order.
pub trait Parameters {
    /// The parameter matrices.
    fn params(&self) -> Vec<&Mat<f64>>;
    /// The parameter matrices, mutable.
    fn params_mut(&mut self) -> Vec<&mut Mat<f64>>;
    /// Total number of scalar parameters.
    fn num_params(&self) -> usize {
        self.params().iter().map(|p| p.nrows() * p.ncols()).sum()
    }
}

/// Checks that `grads` has one matrix per parameter with the same shape.
pub fn check_grads_match(params: &[&Mat<f64>], grads: &[Mat<f64>]) -> Result<()> {
    if params.len() != grads.len() {
        return Err(mismatch(
            "gradients vs parameters",
            format!("{} matrices", params.len()),
            format!("{} matrices", grads.len()),
        ));
    }
    for (k, (p, g)) in params.iter().zip(grads).enumerate() {
        if p.nrows() != g.nrows() || p.ncols() != g.ncols() {
            return Err(mismatch(
                &format!("gradient of parameter {k}"),
                format!("{} x {}", p.nrows(), p.ncols()),
                format!("{} x {}", g.nrows(), g.ncols()),
            ));
        }
    }
    Ok(())
}

/// Concatenates matrices into one vector (each column-major, in order).
pub fn flatten(mats: &[&Mat<f64>]) -> Vec<f64> {
    let mut v = Vec::with_capacity(mats.iter().map(|m| m.nrows() * m.ncols()).sum());
    for m in mats {
        for j in 0..m.ncols() {
            v.extend_from_slice(m.col_as_slice(j));
        }
    }
    v
}

/// Writes a flat vector back into a model's parameters (the inverse of [`flatten`]).
pub fn unflatten_into<M: Parameters + ?Sized>(model: &mut M, v: &[f64]) -> Result<()> {
    let n = model.num_params();
    if v.len() != n {
        return Err(mismatch("flat parameter vector", format!("{n} entries"), format!("{}", v.len())));
    }
    let mut k = 0;
    for p in model.params_mut() {
        for j in 0..p.ncols() {
            for i in 0..p.nrows() {
                p[(i, j)] = v[k];
                k += 1;
            }
        }
    }
    Ok(())
}

/// Sum of squared entries of all gradients (the squared global gradient norm).
pub fn squared_norm(grads: &[Mat<f64>]) -> f64 {
    grads.iter().map(|g| g.squared_norm_l2()).sum()
}

/// Serialises a model (or any serde value) to a JSON string.
pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| NnError::Serialization(e.to_string()))
}

/// Reads a model (or any serde value) from a JSON string.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| NnError::Serialization(e.to_string()))
}

/// Saves a model as JSON to `path`.
pub fn save<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    std::fs::write(path, to_json(value)?)
        .map_err(|e| NnError::Serialization(format!("cannot write {}: {e}", path.display())))
}

/// Loads a model saved with [`save`].
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| NnError::Serialization(format!("cannot read {}: {e}", path.display())))?;
    from_json(&text)
}

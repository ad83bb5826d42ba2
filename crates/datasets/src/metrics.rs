//! Evaluation metrics on predictions (`n x c`, samples are rows).
use faer::MatRef;
use linalg::validate::{check_data, check_shape};

use crate::error::{DatasetError, Result};

/// Index of the largest entry of each row (the predicted class).
///
/// Ties go to the smallest index; NaN entries are never chosen (a row of only NaN, or a matrix
/// with no columns, gives 0).
///
/// ```
/// let p = faer::mat![[0.1, 0.7, 0.2], [0.5, 0.5, -1.0]];
/// assert_eq!(datasets::argmax_rows(p.as_ref()), vec![1, 0]);
/// ```
pub fn argmax_rows(pred: MatRef<'_, f64>) -> Vec<usize> {
    (0..pred.nrows())
        .map(|i| {
            let mut best = 0;
            let mut best_v = f64::NEG_INFINITY;
            let mut found = false;
            for j in 0..pred.ncols() {
                let v = pred[(i, j)];
                if v.is_nan() {
                    continue;
                }
                if !found || v > best_v {
                    best = j;
                    best_v = v;
                    found = true;
                }
            }
            best
        })
        .collect()
}

/// Fraction of rows whose argmax equals the label.
///
/// Fails if `pred` is empty or not finite, or if `labels.len() != pred.nrows()`.
///
/// ```
/// let p = faer::mat![[0.9, 0.1], [0.8, 0.2]];
/// assert_eq!(datasets::accuracy(p.as_ref(), &[0, 1]).unwrap(), 0.5);
/// ```
pub fn accuracy(pred: MatRef<'_, f64>, labels: &[usize]) -> Result<f64> {
    check_data("accuracy: predictions", pred)?;
    if labels.len() != pred.nrows() {
        return Err(DatasetError::shape(
            "accuracy: labels vs predictions",
            format!("{} labels (one per prediction row)", pred.nrows()),
            format!("{} labels", labels.len()),
        ));
    }
    let hits = argmax_rows(pred).iter().zip(labels).filter(|(a, b)| a == b).count();
    Ok(hits as f64 / labels.len() as f64)
}

fn check_pair(context: &str, pred: MatRef<'_, f64>, target: MatRef<'_, f64>) -> Result<()> {
    check_data(&format!("{context}: predictions"), pred)?;
    check_data(&format!("{context}: targets"), target)?;
    check_shape(&format!("{context}: predictions vs targets"), pred, target.nrows(), target.ncols())?;
    Ok(())
}

/// Mean squared error over all `n * c` entries.
///
/// Fails if the shapes differ or an input is empty or not finite.
///
/// ```
/// let p = faer::mat![[1.0, 0.0], [0.0, 0.0]];
/// let t = faer::mat![[0.0, 0.0], [0.0, 0.0]];
/// assert_eq!(datasets::mse(p.as_ref(), t.as_ref()).unwrap(), 0.25);
/// ```
pub fn mse(pred: MatRef<'_, f64>, target: MatRef<'_, f64>) -> Result<f64> {
    check_pair("mse", pred, target)?;
    Ok(sum_sq_diff(pred, target) / (pred.nrows() * pred.ncols()) as f64)
}

/// Relative squared error `||pred - target||_F^2 / ||target||_F^2` (1 for the zero predictor).
///
/// Fails like [`mse`], and if `target` is identically zero.
pub fn relative_mse(pred: MatRef<'_, f64>, target: MatRef<'_, f64>) -> Result<f64> {
    check_pair("relative_mse", pred, target)?;
    let t = target.squared_norm_l2();
    if t == 0.0 {
        return Err(DatasetError::param(
            "relative_mse: ||target||^2",
            0,
            "the target is identically zero, so the relative error is undefined",
        ));
    }
    Ok(sum_sq_diff(pred, target) / t)
}

/// Coefficient of determination `R^2 = 1 - SS_res / SS_tot`, computed per target column and
/// averaged (scikit-learn's `r2_score` with `multioutput="uniform_average"`). A constant target
/// column scores 1 if predicted exactly and 0 otherwise.
///
/// Fails like [`mse`].
pub fn r2_score(pred: MatRef<'_, f64>, target: MatRef<'_, f64>) -> Result<f64> {
    check_pair("r2_score", pred, target)?;
    let n = target.nrows() as f64;
    let mut total = 0.0;
    for j in 0..target.ncols() {
        let t = target.col(j);
        let p = pred.col(j);
        let mean = t.iter().sum::<f64>() / n;
        let ss_tot: f64 = t.iter().map(|v| (v - mean) * (v - mean)).sum();
        let ss_res: f64 = t.iter().zip(p.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
        total += if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else if ss_res == 0.0 {
            1.0
        } else {
            0.0
        };
    }
    Ok(total / target.ncols() as f64)
}

/// The grokking paper's "correct-logit loss": mean over samples of `(pred[i, labels[i]] - 1)^2`.
///
/// Fails if `pred` is empty or not finite, the label count differs from the number of rows, or a
/// label is out of range.
pub fn correct_logit_loss(pred: MatRef<'_, f64>, labels: &[usize]) -> Result<f64> {
    check_data("correct_logit_loss: predictions", pred)?;
    if labels.len() != pred.nrows() {
        return Err(DatasetError::shape(
            "correct_logit_loss: labels vs predictions",
            format!("{} labels", pred.nrows()),
            format!("{} labels", labels.len()),
        ));
    }
    let mut s = 0.0;
    for (i, &l) in labels.iter().enumerate() {
        if l >= pred.ncols() {
            return Err(DatasetError::param(
                &format!("correct_logit_loss: labels[{i}]"),
                l,
                format!("must be < {} (the number of prediction columns)", pred.ncols()),
            ));
        }
        let e = pred[(i, l)] - 1.0;
        s += e * e;
    }
    Ok(s / labels.len() as f64)
}

fn sum_sq_diff(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for (x, y) in a.col(j).iter().zip(b.col(j).iter()) {
            s += (x - y) * (x - y);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::{Mat, mat};

    #[test]
    fn argmax_and_accuracy() {
        let p = mat![[f64::NAN, 1.0, 2.0], [3.0, 3.0, 1.0], [-5.0, -4.0, -6.0]];
        assert_eq!(argmax_rows(p.as_ref()), vec![2, 0, 1]);
        let q = mat![[0.0, 1.0], [1.0, 0.0], [0.3, 0.2], [0.1, 0.9]];
        assert_eq!(accuracy(q.as_ref(), &[1, 0, 1, 1]).unwrap(), 0.75);
        assert!(accuracy(q.as_ref(), &[1, 0]).is_err());
        assert!(accuracy(p.as_ref(), &[0, 0, 0]).is_err());
        assert_eq!(argmax_rows(Mat::<f64>::zeros(2, 0).as_ref()), vec![0, 0]);
    }

    #[test]
    fn regression_metrics() {
        let t = mat![[1.0], [2.0], [3.0]];
        let p = mat![[1.0], [2.0], [4.0]];
        assert!((mse(p.as_ref(), t.as_ref()).unwrap() - 1.0 / 3.0).abs() < 1e-15);
        assert!((relative_mse(p.as_ref(), t.as_ref()).unwrap() - 1.0 / 14.0).abs() < 1e-15);
        assert!((r2_score(p.as_ref(), t.as_ref()).unwrap() - 0.5).abs() < 1e-15);
        assert_eq!(r2_score(t.as_ref(), t.as_ref()).unwrap(), 1.0);
        assert!(mse(p.as_ref(), mat![[1.0, 2.0]].as_ref()).is_err());
        assert!(relative_mse(p.as_ref(), Mat::<f64>::zeros(3, 1).as_ref()).is_err());
        let l = correct_logit_loss(mat![[1.0, 0.0], [0.5, 0.0]].as_ref(), &[0, 0]).unwrap();
        assert!((l - 0.125).abs() < 1e-15);
        assert!(correct_logit_loss(mat![[1.0, 0.0]].as_ref(), &[2]).is_err());
    }
}

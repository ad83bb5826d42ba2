//! Label encodings.
use faer::Mat;

use crate::error::{DatasetError, Result};

fn check_labels(labels: &[usize], n_classes: usize) -> Result<()> {
    if labels.is_empty() {
        return Err(DatasetError::empty("label list"));
    }
    if n_classes == 0 {
        return Err(DatasetError::param("n_classes", 0, "at least one class is needed"));
    }
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, l)| **l >= n_classes) {
        return Err(DatasetError::param(
            &format!("labels[{i}]"),
            l,
            format!("labels must be < n_classes = {n_classes}"),
        ));
    }
    Ok(())
}

/// One-hot encoding: an `n x n_classes` matrix with a 1 at `(i, labels[i])` and 0 elsewhere.
///
/// Fails if `labels` is empty, `n_classes == 0`, or a label is `>= n_classes`.
///
/// ```
/// let y = datasets::one_hot(&[2, 0], 3).unwrap();
/// assert_eq!(y, faer::mat![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]);
/// ```
pub fn one_hot(labels: &[usize], n_classes: usize) -> Result<Mat<f64>> {
    check_labels(labels, n_classes)?;
    Ok(Mat::from_fn(labels.len(), n_classes, |i, j| if labels[i] == j { 1.0 } else { 0.0 }))
}

/// Signed one-hot encoding: `+1` at `(i, labels[i])` and `-1` elsewhere (`n x n_classes`).
///
/// Fails like [`one_hot`].
///
/// ```
/// let y = datasets::signed_one_hot(&[1], 3).unwrap();
/// assert_eq!(y, faer::mat![[-1.0, 1.0, -1.0]]);
/// ```
pub fn signed_one_hot(labels: &[usize], n_classes: usize) -> Result<Mat<f64>> {
    check_labels(labels, n_classes)?;
    Ok(Mat::from_fn(labels.len(), n_classes, |i, j| if labels[i] == j { 1.0 } else { -1.0 }))
}

/// Converts a column of real numbers holding class indices (e.g. the last column of a CSV file)
/// into labels. `what` names the source in error messages.
///
/// Fails if a value is negative, not an integer, or `>= n_classes` (when given).
pub fn labels_from_values(
    values: impl IntoIterator<Item = f64>,
    n_classes: Option<usize>,
    what: &str,
) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let ok = v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < usize::MAX as f64;
        if !ok {
            return Err(DatasetError::param(
                &format!("{what}: label of sample {i}"),
                v,
                "class labels must be non-negative integers",
            ));
        }
        let l = v as usize;
        if let Some(k) = n_classes
            && l >= k
        {
            return Err(DatasetError::param(
                &format!("{what}: label of sample {i}"),
                l,
                format!("labels must be < n_classes = {k}"),
            ));
        }
        out.push(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let y = one_hot(&[0, 2, 1, 2], 3).unwrap();
        for i in 0..4 {
            let row_sum: f64 = (0..3).map(|j| y[(i, j)]).sum();
            assert_eq!(row_sum, 1.0);
        }
        assert_eq!(y[(1, 2)], 1.0);
        let s = signed_one_hot(&[0, 2, 1, 2], 3).unwrap();
        assert_eq!(s[(1, 2)], 1.0);
        assert_eq!(s[(1, 0)], -1.0);
        assert!(one_hot(&[], 3).is_err());
        assert!(one_hot(&[0], 0).is_err());
        let msg = one_hot(&[0, 3], 3).unwrap_err().to_string();
        assert!(msg.contains("labels[1]") && msg.contains("3"), "{msg}");
        assert!(signed_one_hot(&[5], 3).is_err());
    }

    #[test]
    fn labels_from_floats() {
        assert_eq!(labels_from_values([0.0, 2.0, 1.0], Some(3), "t").unwrap(), vec![0, 2, 1]);
        assert!(labels_from_values([0.5], None, "t").is_err());
        assert!(labels_from_values([-1.0], None, "t").is_err());
        assert!(labels_from_values([3.0], Some(3), "t").is_err());
    }
}

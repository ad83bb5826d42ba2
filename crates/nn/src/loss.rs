//! Loss functions with their gradients with respect to the model outputs.
//!
//! * [`mse`]: half-mean squared error `(1/2n) sum_i ||p_i - y_i||^2`;
//! * [`softmax_cross_entropy`]: cross-entropy of softmax logits against class ids, averaged over the
//!   rows that are not masked out (padding);
//! * [`soft_label_cross_entropy`]: cross-entropy against target distributions (soft labels), with
//!   the same padding mask.
use crate::error::{NnError, Result, invalid, mismatch};
use crate::ops::{check_data, check_shape};
use faer::{Mat, MatRef};

/// Half-mean squared error and its gradient `(p - y) / n` with respect to the predictions.
pub fn mse(pred: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<(f64, Mat<f64>)> {
    check_shape("MSE targets", y, pred.nrows(), pred.ncols())?;
    if pred.nrows() == 0 {
        return Err(invalid("batch size", 0, "must be at least 1"));
    }
    let n = pred.nrows() as f64;
    let g = Mat::from_fn(pred.nrows(), pred.ncols(), |i, j| (pred[(i, j)] - y[(i, j)]) / n);
    let loss = g.squared_norm_l2() * n / 2.0;
    Ok((loss, g))
}

/// Row-wise softmax of `logits` (numerically stable).
pub fn softmax_rows(logits: MatRef<'_, f64>) -> Mat<f64> {
    let (n, c) = (logits.nrows(), logits.ncols());
    // Column by column over contiguous storage, row maxima and sums kept in vectors.
    let mut p = logits.to_owned();
    let mut mx = vec![f64::NEG_INFINITY; n];
    for j in 0..c {
        for (m, &v) in mx.iter_mut().zip(p.col_as_slice(j)) {
            *m = m.max(v);
        }
    }
    let mut sum = vec![0.0; n];
    for j in 0..c {
        let col = p.col_as_slice_mut(j);
        for (v, &m) in col.iter_mut().zip(&mx) {
            *v -= m;
        }
        linalg::simd::exp_in_place(col);
        for (s, &v) in sum.iter_mut().zip(col.iter()) {
            *s += v;
        }
    }
    for s in &mut sum {
        *s = 1.0 / *s;
    }
    for j in 0..c {
        for (v, &s) in p.col_as_slice_mut(j).iter_mut().zip(&sum) {
            *v *= s;
        }
    }
    p
}

fn check_mask(mask: Option<&[bool]>, n: usize) -> Result<usize> {
    match mask {
        None => Ok(n),
        Some(m) => {
            if m.len() != n {
                return Err(mismatch("padding mask", format!("{n} entries"), format!("{}", m.len())));
            }
            Ok(m.iter().filter(|&&b| b).count())
        }
    }
}

/// Mean cross-entropy of `softmax(logits)` against class ids `targets` over the rows with
/// `mask[i] == true` (all rows when `mask` is `None`), and its gradient with respect to the
/// logits (zero on masked-out rows). Errors on a class id out of range or no unmasked row.
pub fn softmax_cross_entropy(
    logits: MatRef<'_, f64>,
    targets: &[usize],
    mask: Option<&[bool]>,
) -> Result<(f64, Mat<f64>)> {
    let (n, c) = (logits.nrows(), logits.ncols());
    if targets.len() != n {
        return Err(mismatch("cross-entropy targets", format!("{n} entries"), format!("{}", targets.len())));
    }
    check_data("logits", logits)?;
    let count = check_mask(mask, n)?;
    if count == 0 {
        return Err(invalid("number of unmasked rows", 0, "must be at least 1"));
    }
    if let Some((i, &t)) = targets.iter().enumerate().find(|(_, t)| **t >= c) {
        return Err(NnError::TokenOutOfRange { token: t, position: i, vocab: c });
    }
    let mut g = softmax_rows(logits);
    let mut loss = 0.0;
    let inv = 1.0 / count as f64;
    // per-row weight: 1/count on counted rows, 0 on padding
    let w: Vec<f64> = (0..n).map(|i| if mask.is_some_and(|m| !m[i]) { 0.0 } else { inv }).collect();
    for i in 0..n {
        if w[i] != 0.0 {
            loss -= g[(i, targets[i])].max(f64::MIN_POSITIVE).ln();
            g[(i, targets[i])] -= 1.0;
        }
    }
    for j in 0..c {
        for (v, &wi) in g.col_as_slice_mut(j).iter_mut().zip(&w) {
            *v *= wi;
        }
    }
    Ok((loss * inv, g))
}

/// Mean cross-entropy `-sum_j q_ij log softmax(logits)_ij` against target distributions `q`
/// (rows of `targets`, non-negative, summing to 1) over the unmasked rows, and its gradient
/// `(softmax - q) / count` with respect to the logits.
pub fn soft_label_cross_entropy(
    logits: MatRef<'_, f64>,
    targets: MatRef<'_, f64>,
    mask: Option<&[bool]>,
) -> Result<(f64, Mat<f64>)> {
    let (n, c) = (logits.nrows(), logits.ncols());
    check_shape("soft-label targets", targets, n, c)?;
    check_data("logits", logits)?;
    check_data("soft-label targets", targets)?;
    let count = check_mask(mask, n)?;
    if count == 0 {
        return Err(invalid("number of unmasked rows", 0, "must be at least 1"));
    }
    for i in 0..n {
        let s: f64 = (0..c).map(|j| targets[(i, j)]).sum();
        if (0..c).any(|j| targets[(i, j)] < 0.0) || (s - 1.0).abs() > 1e-6 {
            return Err(invalid(
                &format!("soft-label row {i}"),
                format!("sum {s}"),
                "entries must be >= 0 and sum to 1",
            ));
        }
    }
    let p = softmax_rows(logits);
    let inv = 1.0 / count as f64;
    let mut loss = 0.0;
    let mut g = Mat::<f64>::zeros(n, c);
    for i in 0..n {
        if mask.is_some_and(|m| !m[i]) {
            continue;
        }
        let mx = (0..c).map(|j| logits[(i, j)]).fold(f64::NEG_INFINITY, f64::max);
        let lse = mx + (0..c).map(|j| (logits[(i, j)] - mx).exp()).sum::<f64>().ln();
        for j in 0..c {
            let q = targets[(i, j)];
            if q > 0.0 {
                loss -= q * (logits[(i, j)] - lse);
            }
            g[(i, j)] = (p[(i, j)] - q) * inv;
        }
    }
    Ok((loss * inv, g))
}

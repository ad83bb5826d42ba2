//! Input validation helpers returning typed errors instead of panicking.
use crate::{LinalgError, Result};
use faer::MatRef;

/// Fails with [`LinalgError::Empty`] when `a` has no rows or no columns.
pub fn check_nonempty(name: &str, a: MatRef<'_, f64>) -> Result<()> {
    if a.nrows() == 0 || a.ncols() == 0 {
        return Err(LinalgError::Empty { name: name.to_string(), rows: a.nrows(), cols: a.ncols() });
    }
    Ok(())
}

/// Fails with [`LinalgError::NonFinite`] on the first NaN or infinite entry (column-major order).
pub fn check_finite(name: &str, a: MatRef<'_, f64>) -> Result<()> {
    for j in 0..a.ncols() {
        let col = a.col(j);
        for i in 0..a.nrows() {
            let v = col[i];
            if !v.is_finite() {
                return Err(LinalgError::NonFinite { name: name.to_string(), row: i, col: j, value: v });
            }
        }
    }
    Ok(())
}

/// Fails with [`LinalgError::NonFinite`] on the first NaN or infinite entry of a slice.
pub fn check_finite_slice(name: &str, v: &[f64]) -> Result<()> {
    if let Some((i, &x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(LinalgError::NonFinite { name: name.to_string(), row: i, col: 0, value: x });
    }
    Ok(())
}

/// [`check_nonempty`] and [`check_finite`] together: the usual check on a data matrix.
pub fn check_data(name: &str, a: MatRef<'_, f64>) -> Result<()> {
    check_nonempty(name, a)?;
    check_finite(name, a)
}

/// Fails unless `a` is `rows x cols`.
pub fn check_shape(context: &str, a: MatRef<'_, f64>, rows: usize, cols: usize) -> Result<()> {
    if a.nrows() != rows || a.ncols() != cols {
        return Err(LinalgError::ShapeMismatch {
            context: context.to_string(),
            expected: format!("{rows} x {cols}"),
            got: format!("{} x {}", a.nrows(), a.ncols()),
        });
    }
    Ok(())
}

/// Fails unless `a` is square.
pub fn check_square(context: &str, a: MatRef<'_, f64>) -> Result<()> {
    if a.nrows() != a.ncols() {
        return Err(LinalgError::ShapeMismatch {
            context: context.to_string(),
            expected: "a square matrix".to_string(),
            got: format!("{} x {}", a.nrows(), a.ncols()),
        });
    }
    Ok(())
}

/// Fails unless `a` and `b` have the same number of rows (e.g. inputs and targets).
pub fn check_same_rows(context: &str, a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<()> {
    if a.nrows() != b.nrows() {
        return Err(LinalgError::ShapeMismatch {
            context: context.to_string(),
            expected: format!("{} rows (as the first operand)", a.nrows()),
            got: format!("{} rows", b.nrows()),
        });
    }
    Ok(())
}

/// Fails unless `a` has exactly `cols` columns (e.g. test inputs against the training dimension).
pub fn check_ncols(context: &str, a: MatRef<'_, f64>, cols: usize) -> Result<()> {
    if a.ncols() != cols {
        return Err(LinalgError::ShapeMismatch {
            context: context.to_string(),
            expected: format!("{cols} columns"),
            got: format!("{} columns", a.ncols()),
        });
    }
    Ok(())
}

/// Fails unless `value` is finite and strictly positive.
pub fn check_positive(name: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(LinalgError::InvalidParameter {
            name: name.to_string(),
            value: format!("{value}"),
            reason: "must be finite and > 0".to_string(),
        });
    }
    Ok(())
}

/// Fails unless `value` is finite and `>= 0`.
pub fn check_nonnegative(name: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(LinalgError::InvalidParameter {
            name: name.to_string(),
            value: format!("{value}"),
            reason: "must be finite and >= 0".to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::{Mat, mat};

    #[test]
    fn finds_nan_and_position() {
        let a = mat![[1.0, 2.0], [3.0, f64::NAN]];
        match check_finite("x", a.as_ref()) {
            Err(LinalgError::NonFinite { row, col, .. }) => assert_eq!((row, col), (1, 1)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(check_finite("x", mat![[1.0]].as_ref()).is_ok());
    }

    #[test]
    fn empty_and_shapes() {
        let e = Mat::<f64>::zeros(0, 3);
        assert!(matches!(check_nonempty("x", e.as_ref()), Err(LinalgError::Empty { .. })));
        let a = Mat::<f64>::zeros(2, 3);
        assert!(check_shape("c", a.as_ref(), 2, 3).is_ok());
        assert!(check_shape("c", a.as_ref(), 3, 2).is_err());
        assert!(check_square("c", a.as_ref()).is_err());
        assert!(check_same_rows("c", a.as_ref(), Mat::<f64>::zeros(3, 1).as_ref()).is_err());
        let msg = check_ncols("test inputs", a.as_ref(), 4).unwrap_err().to_string();
        assert!(msg.contains("4 columns") && msg.contains("3 columns"), "{msg}");
    }

    #[test]
    fn parameters() {
        assert!(check_positive("bandwidth", -1.0).is_err());
        assert!(check_positive("bandwidth", f64::NAN).is_err());
        assert!(check_positive("bandwidth", 2.5).is_ok());
        assert!(check_nonnegative("ridge", 0.0).is_ok());
        assert!(check_nonnegative("ridge", -1e-3).is_err());
    }
}

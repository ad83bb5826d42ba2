//! Similarity measures between matrices (used for AGOP alignment and the neural feature ansatz).
use crate::Result;
use crate::validate::check_shape;
use faer::MatRef;

/// Uncentred cosine similarity `<A, B>_F / (||A||_F ||B||_F)`; 0 when either matrix is zero.
///
/// ```
/// let a = faer::mat![[1.0, 0.0], [0.0, 1.0]];
/// let b = faer::mat![[2.0, 0.0], [0.0, 2.0]];
/// assert!((linalg::similarity::cosine_similarity(a.as_ref(), b.as_ref()).unwrap() - 1.0).abs() < 1e-12);
/// ```
pub fn cosine_similarity(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<f64> {
    check_shape("cosine similarity", b, a.nrows(), a.ncols())?;
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            let (x, y) = (a[(i, j)], b[(i, j)]);
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
    }
    if aa == 0.0 || bb == 0.0 {
        return Ok(0.0);
    }
    Ok(ab / (aa.sqrt() * bb.sqrt()))
}

/// Pearson correlation of the vectorised matrices (entries centred by their mean first).
pub fn pearson_correlation(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<f64> {
    check_shape("Pearson correlation", b, a.nrows(), a.ncols())?;
    let n = (a.nrows() * a.ncols()) as f64;
    if n == 0.0 {
        return Ok(0.0);
    }
    let (mut sa, mut sb) = (0.0, 0.0);
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            sa += a[(i, j)];
            sb += b[(i, j)];
        }
    }
    let (ma, mb) = (sa / n, sb / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            let (x, y) = (a[(i, j)] - ma, b[(i, j)] - mb);
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
    }
    if aa == 0.0 || bb == 0.0 {
        return Ok(0.0);
    }
    Ok(ab / (aa.sqrt() * bb.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn cosine_properties() {
        let a = faer::mat![[1.0, 2.0], [3.0, 4.0]];
        let b = faer::mat![[-1.0, -2.0], [-3.0, -4.0]];
        assert!((cosine_similarity(a.as_ref(), b.as_ref()).unwrap() + 1.0).abs() < 1e-12);
        assert!((pearson_correlation(a.as_ref(), a.as_ref()).unwrap() - 1.0).abs() < 1e-12);
        let z = faer::Mat::<f64>::zeros(2, 2);
        assert_eq!(cosine_similarity(a.as_ref(), z.as_ref()).unwrap(), 0.0);
        assert!(cosine_similarity(a.as_ref(), faer::Mat::<f64>::zeros(3, 2).as_ref()).is_err());
    }
}

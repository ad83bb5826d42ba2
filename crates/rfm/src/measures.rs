//! Progress measures of feature learning: circulant deviation (grokking), AGOP alignment.
use crate::error::{Result, invalid};
use faer::{Mat, MatRef};

/// How the wrapped diagonals of a `p x p` block are aligned before measuring their variance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftDirection {
    /// Entries depend on `(j - i) mod p` (circulant; addition, multiplication after reordering).
    Circulant,
    /// Entries depend on `(i + j) mod p` (Hankel / anti-circulant; subtraction, division).
    Hankel,
}

/// Circulant deviation `D(A) = (1/||A||_F^2) sum_k sum_l (S_lk - mean_l S_.k)^2` of a square block,
/// where `S` aligns the wrapped diagonals of `A` into columns (see [`ShiftDirection`]).
/// `D = 0` iff `A` is exactly circulant (resp. Hankel); `D` is invariant to scaling `A`.
/// Returns 0 for an all-zero block.
///
/// ```
/// use rfm::measures::{circulant_deviation_dir, ShiftDirection};
/// let c = [3.0, 1.0, 4.0, 1.5, 9.0];
/// let a = faer::Mat::from_fn(5, 5, |i, j| c[(j + 5 - i) % 5]);
/// assert!(circulant_deviation_dir(a.as_ref(), ShiftDirection::Circulant).unwrap() < 1e-15);
/// assert!(circulant_deviation_dir(a.as_ref(), ShiftDirection::Hankel).unwrap() > 0.1);
/// ```
pub fn circulant_deviation_dir(a: MatRef<'_, f64>, dir: ShiftDirection) -> Result<f64> {
    linalg::validate::check_square("circulant deviation", a)?;
    linalg::validate::check_finite("block", a)?;
    let p = a.nrows();
    let norm2 = a.squared_norm_l2();
    if p == 0 || norm2 == 0.0 {
        return Ok(0.0);
    }
    let mut total = 0.0;
    for k in 0..p {
        let entry = |l: usize| match dir {
            ShiftDirection::Circulant => a[(l, (l + k) % p)],
            ShiftDirection::Hankel => a[(l, (k + p - l) % p)],
        };
        let mean = (0..p).map(entry).sum::<f64>() / p as f64;
        total += (0..p).map(|l| (entry(l) - mean).powi(2)).sum::<f64>();
    }
    Ok(total / norm2)
}

/// The minimum of the deviation over both shift directions.
pub fn circulant_deviation(a: MatRef<'_, f64>) -> Result<f64> {
    Ok(circulant_deviation_dir(a, ShiftDirection::Circulant)?
        .min(circulant_deviation_dir(a, ShiftDirection::Hankel)?))
}

/// Reorders a `p x p` block by the discrete logarithm base `g`: drops index 0 and returns the
/// `(p-1) x (p-1)` block `B[i][j] = A[g^i mod p][g^j mod p]`. A block whose entries depend on `a * b^{-1}`
/// (multiplication) becomes circulant; on `a * b` (division) Hankel.
pub fn reorder_discrete_log(a: MatRef<'_, f64>, g: usize) -> Result<Mat<f64>> {
    linalg::validate::check_square("discrete-log reordering", a)?;
    let p = a.nrows();
    if p < 3 || g == 0 || g >= p {
        return Err(invalid("generator", g, &format!("must be in 1..{p} for a {p} x {p} block")));
    }
    let mut pow = vec![1usize; p - 1];
    for i in 1..p - 1 {
        pow[i] = pow[i - 1] * g % p;
    }
    let mut seen = vec![false; p];
    for &v in &pow {
        if seen[v] {
            return Err(invalid("generator", g, &format!("is not a generator of Z_{p}^*")));
        }
        seen[v] = true;
    }
    Ok(Mat::from_fn(p - 1, p - 1, |i, j| a[(pow[i], pow[j])]))
}

/// The bottom-left `p x p` block of a `2p x 2p` feature matrix (rows = second operand, columns = first).
pub fn cross_block(m: MatRef<'_, f64>, p: usize) -> Result<Mat<f64>> {
    linalg::validate::check_shape("grokking feature matrix", m, 2 * p, 2 * p)?;
    Ok(m.submatrix(p, 0, p, p).to_owned())
}

/// The grokking paper's circulant deviation of a learned `M` (`2p x 2p`) for modular arithmetic:
/// bottom-left block, reordered by the discrete log of the smallest generator for `*` and `/`,
/// minimum over both shift directions.
pub fn modular_circulant_deviation(m: MatRef<'_, f64>, p: usize, multiplicative: bool) -> Result<f64> {
    let block = cross_block(m, p)?;
    if multiplicative {
        let g = datasets::synthetic::smallest_generator(p)?;
        circulant_deviation(reorder_discrete_log(block.as_ref(), g)?.as_ref())
    } else {
        circulant_deviation(block.as_ref())
    }
}

/// AGOP alignment `<A, B>_F / (||A||_F ||B||_F)` (uncentred cosine).
pub fn agop_alignment(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<f64> {
    Ok(linalg::similarity::cosine_similarity(a, b)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hankel_and_scaling() {
        let h = [0.5, 2.0, -1.0, 3.0, 0.0, 1.0, 7.0];
        let p = h.len();
        let a = Mat::from_fn(p, p, |i, j| h[(i + j) % p]);
        assert!(circulant_deviation_dir(a.as_ref(), ShiftDirection::Hankel).unwrap() < 1e-15);
        assert!(circulant_deviation(a.as_ref()).unwrap() < 1e-15);
        let noisy = Mat::from_fn(p, p, |i, j| h[(i + j) % p] + ((i * 7 + j * 3) % 5) as f64 * 0.1);
        let d1 = circulant_deviation(noisy.as_ref()).unwrap();
        let d2 = circulant_deviation((&noisy * 3.0).as_ref()).unwrap();
        assert!(d1 > 0.0 && (d1 - d2).abs() < 1e-12);
    }

    #[test]
    fn discrete_log_reordering() {
        // p = 5, generator 2: entry (2, 3) moves to (1, 3)
        let p = 5;
        let a = Mat::from_fn(p, p, |i, j| (10 * i + j) as f64);
        let b = reorder_discrete_log(a.as_ref(), 2).unwrap();
        assert_eq!(b[(1, 3)], a[(2, 3)]);
        assert!(reorder_discrete_log(a.as_ref(), 4).is_err()); // 4 has order 2
        // a block depending on a * b^{-1} becomes circulant
        let p = 11;
        let f: Vec<f64> = (0..p).map(|v| ((v * v * 7 + 3) % 13) as f64).collect();
        let inv = |b: usize| (1..p).find(|x| x * b % p == 1).unwrap();
        let a = Mat::from_fn(p, p, |i, j| if i == 0 || j == 0 { 0.0 } else { f[i * inv(j) % p] });
        let g = datasets::synthetic::smallest_generator(p).unwrap();
        let r = reorder_discrete_log(a.as_ref(), g).unwrap();
        assert!(circulant_deviation(r.as_ref()).unwrap() < 1e-15);
        assert!(circulant_deviation(a.as_ref()).unwrap() > 0.05);
    }
}

//! Observed entries of a `d1 x d2` matrix, stored as an [`sprs`] CSR matrix.
//!
//! Construction validates everything a user can get wrong: indices outside the matrix, an entry
//! given twice, NaN or infinite values, and an empty set. Inside a row the column indices are sorted.
use crate::error::{Result, SparseRecoveryError, invalid};
use faer::MatRef;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use sprs::CsMat;

/// The observed entries `Omega` of a `d1 x d2` matrix with their values (CSR, sorted columns).
///
/// ```
/// use sparse_recovery::Observations;
/// let obs = Observations::from_triplets(2, 3, &[(0, 2, 1.5), (1, 0, -1.0), (0, 0, 2.0)]).unwrap();
/// assert_eq!(obs.nnz(), 3);
/// assert_eq!(obs.row(0), (&[0usize, 2][..], &[2.0, 1.5][..]));
/// assert!(Observations::from_triplets(2, 3, &[(0, 3, 1.0)]).is_err()); // column 3 is out of range
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Observations {
    csr: CsMat<f64>,
}

/// Serialisable form of [`Observations`]: the triplets.
#[derive(Serialize, Deserialize)]
struct ObservationsSerde {
    d1: usize,
    d2: usize,
    triplets: Vec<(usize, usize, f64)>,
}

impl Serialize for Observations {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        ObservationsSerde { d1: self.d1(), d2: self.d2(), triplets: self.triplets() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Observations {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let o = ObservationsSerde::deserialize(d)?;
        Observations::from_triplets(o.d1, o.d2, &o.triplets).map_err(serde::de::Error::custom)
    }
}

impl Observations {
    /// Builds the observation set from `(row, column, value)` triplets (any order).
    ///
    /// Errors: a zero dimension, an index outside `d1 x d2`, an entry given twice, a non-finite
    /// value, or no triplet at all.
    pub fn from_triplets(d1: usize, d2: usize, triplets: &[(usize, usize, f64)]) -> Result<Self> {
        if d1 == 0 || d2 == 0 {
            return Err(invalid("matrix shape", format!("{d1} x {d2}"), "both dimensions must be >= 1"));
        }
        if triplets.is_empty() {
            return Err(SparseRecoveryError::Empty {
                what: "the observation set".into(),
                hint: "give at least one observed entry".into(),
            });
        }
        for (index, &(row, col, value)) in triplets.iter().enumerate() {
            if row >= d1 || col >= d2 {
                return Err(SparseRecoveryError::IndexOutOfRange { index, row, col, d1, d2 });
            }
            if !value.is_finite() {
                return Err(SparseRecoveryError::NonFiniteValue { row, col, value });
            }
        }
        let mut order: Vec<usize> = (0..triplets.len()).collect();
        order.sort_unstable_by_key(|&k| (triplets[k].0, triplets[k].1));
        let mut indptr = vec![0usize; d1 + 1];
        let mut indices = Vec::with_capacity(triplets.len());
        let mut data = Vec::with_capacity(triplets.len());
        let mut prev: Option<(usize, usize)> = None;
        for &k in &order {
            let (r, c, v) = triplets[k];
            if prev == Some((r, c)) {
                return Err(SparseRecoveryError::DuplicateEntry { row: r, col: c });
            }
            prev = Some((r, c));
            indptr[r + 1] += 1;
            indices.push(c);
            data.push(v);
        }
        for i in 0..d1 {
            indptr[i + 1] += indptr[i];
        }
        Ok(Observations { csr: CsMat::new((d1, d2), indptr, indices, data) })
    }

    /// Builds the observation set from an `sprs` matrix (CSR or CSC; explicit zeros count as
    /// observed zeros). Same checks as [`Observations::from_triplets`].
    pub fn from_csmat(m: &CsMat<f64>) -> Result<Self> {
        let triplets: Vec<(usize, usize, f64)> = m.iter().map(|(&v, (i, j))| (i, j, v)).collect();
        Self::from_triplets(m.rows(), m.cols(), &triplets)
    }

    /// Samples the entries `(row, col)` of a dense matrix `y` (errors as in
    /// [`Observations::from_triplets`], plus a NaN in a sampled entry).
    pub fn from_dense(y: MatRef<'_, f64>, entries: &[(usize, usize)]) -> Result<Self> {
        let (d1, d2) = (y.nrows(), y.ncols());
        let mut t = Vec::with_capacity(entries.len());
        for (index, &(row, col)) in entries.iter().enumerate() {
            if row >= d1 || col >= d2 {
                return Err(SparseRecoveryError::IndexOutOfRange { index, row, col, d1, d2 });
            }
            t.push((row, col, y[(row, col)]));
        }
        Self::from_triplets(d1, d2, &t)
    }

    /// Number of rows `d1`.
    pub fn d1(&self) -> usize {
        self.csr.rows()
    }

    /// Number of columns `d2`.
    pub fn d2(&self) -> usize {
        self.csr.cols()
    }

    /// Number of observed entries.
    pub fn nnz(&self) -> usize {
        self.csr.nnz()
    }

    /// Fraction of all entries that is observed.
    pub fn fraction(&self) -> f64 {
        self.nnz() as f64 / (self.d1() as f64 * self.d2() as f64)
    }

    /// The underlying CSR matrix (observed values at their positions).
    pub fn csr(&self) -> &CsMat<f64> {
        &self.csr
    }

    /// Row pointer array (length `d1 + 1`).
    pub fn indptr(&self) -> &[usize] {
        self.csr.indptr().into_raw_storage()
    }

    /// Sorted column indices and values observed in row `i` (empty slices for an unobserved row).
    ///
    /// Panics if `i >= d1` (an index bug in the caller, not user input).
    pub fn row(&self, i: usize) -> (&[usize], &[f64]) {
        let p = self.indptr();
        let (a, b) = (p[i], p[i + 1]);
        (&self.csr.indices()[a..b], &self.csr.data()[a..b])
    }

    /// All observations as `(row, column, value)` in row-major order.
    pub fn triplets(&self) -> Vec<(usize, usize, f64)> {
        (0..self.d1())
            .flat_map(|i| {
                let (c, v) = self.row(i);
                c.iter().zip(v).map(move |(&j, &x)| (i, j, x)).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether `(i, j)` is observed.
    pub fn contains(&self, i: usize, j: usize) -> bool {
        i < self.d1() && self.row(i).0.binary_search(&j).is_ok()
    }

    /// Mean of the squared observed values.
    pub fn mean_square(&self) -> f64 {
        self.csr.data().iter().map(|v| v * v).sum::<f64>() / self.nnz() as f64
    }

    /// Splits off a seeded hold-out set: `round(fraction * nnz)` entries (at least 1 when
    /// `fraction > 0`) go to the second set, the rest to the first. `fraction = 0` returns
    /// `(self, None)`.
    ///
    /// Errors: `fraction` outside `[0, 1)`, or nothing left for training.
    pub fn split_holdout(&self, fraction: f64, seed: u64) -> Result<(Observations, Option<Observations>)> {
        if !(fraction.is_finite() && (0.0..1.0).contains(&fraction)) {
            return Err(invalid("hold-out fraction", fraction, "must be in [0, 1)"));
        }
        if fraction == 0.0 {
            return Ok((self.clone(), None));
        }
        let n = self.nnz();
        let k = ((fraction * n as f64).round() as usize).max(1);
        if k >= n {
            return Err(SparseRecoveryError::Empty {
                what: format!("the training set after holding out {k} of {n} observations"),
                hint: "observe more entries or lower the hold-out fraction".into(),
            });
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut held = vec![false; n];
        for idx in rand::seq::index::sample(&mut rng, n, k) {
            held[idx] = true;
        }
        let all = self.triplets();
        let (mut train, mut val) = (Vec::with_capacity(n - k), Vec::with_capacity(k));
        for (t, h) in all.into_iter().zip(held) {
            if h { val.push(t) } else { train.push(t) }
        }
        Ok((
            Observations::from_triplets(self.d1(), self.d2(), &train)?,
            Some(Observations::from_triplets(self.d1(), self.d2(), &val)?),
        ))
    }

    /// Mean squared error of a prediction (`d1 x d2`, any layout) on these entries.
    ///
    /// Errors: shape mismatch.
    pub fn mse(&self, pred: MatRef<'_, f64>) -> Result<f64> {
        self.check_shape("prediction", pred)?;
        let mut s = 0.0;
        for i in 0..self.d1() {
            let (c, v) = self.row(i);
            for (&j, &y) in c.iter().zip(v) {
                let e = pred[(i, j)] - y;
                s += e * e;
            }
        }
        Ok(s / self.nnz() as f64)
    }

    /// Relative mean squared error `sum (pred - y)^2 / sum y^2` on these entries (the squared relative
    /// Frobenius error restricted to them; `mse` when all observed values are 0).
    pub fn relative_mse(&self, pred: MatRef<'_, f64>) -> Result<f64> {
        let ms = self.mean_square();
        let mse = self.mse(pred)?;
        Ok(if ms > 0.0 { mse / ms } else { mse })
    }

    pub(crate) fn check_shape(&self, what: &str, m: MatRef<'_, f64>) -> Result<()> {
        if m.nrows() != self.d1() || m.ncols() != self.d2() {
            return Err(SparseRecoveryError::ShapeMismatch {
                context: what.into(),
                expected: format!("{} x {}", self.d1(), self.d2()),
                got: format!("{} x {}", m.nrows(), m.ncols()),
            });
        }
        Ok(())
    }

    /// The observations with rows permuted by `row_perm` and columns by `col_perm`: entry `(i, j)`
    /// moves to `(row_perm[i], col_perm[j])`.
    ///
    /// Errors: a permutation of the wrong length or not a permutation.
    pub fn permuted(&self, row_perm: &[usize], col_perm: &[usize]) -> Result<Observations> {
        check_perm("row permutation", row_perm, self.d1())?;
        check_perm("column permutation", col_perm, self.d2())?;
        let t: Vec<_> = self.triplets().into_iter().map(|(i, j, v)| (row_perm[i], col_perm[j], v)).collect();
        Observations::from_triplets(self.d1(), self.d2(), &t)
    }
}

fn check_perm(name: &str, p: &[usize], n: usize) -> Result<()> {
    let mut seen = vec![false; n];
    if p.len() != n || p.iter().any(|&k| k >= n || std::mem::replace(&mut seen[k], true)) {
        return Err(invalid(name, format!("{p:?}"), &format!("must be a permutation of 0..{n}")));
    }
    Ok(())
}

//! The [`Dataset`] type: inputs, targets, optional class labels, and seeded splits.
use faer::{Mat, MatRef};
use linalg::random::permutation;
use linalg::validate::{check_data, check_same_rows};
use serde::{Deserialize, Serialize};

use crate::encode::one_hot;
use crate::error::{DatasetError, Result};

/// A supervised dataset: `n` samples as the rows of `x` (`n x d`) and of `y` (`n x c`).
///
/// For classification, `labels[i]` is the class of sample `i`, `n_classes` the number of classes and
/// `y` the one-hot encoding of the labels (`{0, 1}`; see [`crate::one_hot`]). For regression
/// `labels` and `n_classes` are `None` and `y` holds the real-valued targets.
///
/// The fields are public for easy reading; construct through [`Dataset::new`] or
/// [`Dataset::classification`], which validate shapes and finiteness (or call
/// [`Dataset::validate`] after editing the fields by hand).
///
/// ```
/// use datasets::Dataset;
/// use faer::mat;
///
/// let x = mat![[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// let d = Dataset::classification("toy", x, vec![0, 1, 1], 2).unwrap();
/// assert_eq!((d.n(), d.d(), d.c()), (3, 2, 2));
/// assert_eq!(d.y[(1, 1)], 1.0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Inputs, `n x d` (samples are rows).
    #[serde(with = "linalg::serde_mat")]
    pub x: Mat<f64>,
    /// Targets, `n x c` (one-hot for classification).
    #[serde(with = "linalg::serde_mat")]
    pub y: Mat<f64>,
    /// Class of each sample (classification only).
    pub labels: Option<Vec<usize>>,
    /// Number of classes (classification only).
    pub n_classes: Option<usize>,
    /// A short name used in reports (e.g. `"digits"`, `"modular/add/p=61/train"`).
    pub name: String,
}

impl Dataset {
    /// A regression dataset with inputs `x` (`n x d`) and targets `y` (`n x c`).
    ///
    /// Fails if either matrix is empty or holds NaN/inf, or if they have different numbers of rows.
    pub fn new(name: &str, x: Mat<f64>, y: Mat<f64>) -> Result<Self> {
        check_data(&format!("{name}: inputs x"), x.as_ref())?;
        check_data(&format!("{name}: targets y"), y.as_ref())?;
        check_same_rows(&format!("{name}: inputs x vs targets y"), x.as_ref(), y.as_ref())?;
        Ok(Dataset { x, y, labels: None, n_classes: None, name: name.to_string() })
    }

    /// A classification dataset; `y` is the one-hot encoding of `labels` (`n x n_classes`).
    ///
    /// Fails if `x` is empty or not finite, if `labels.len() != x.nrows()`, if `n_classes == 0`,
    /// or if a label is `>= n_classes`.
    pub fn classification(name: &str, x: Mat<f64>, labels: Vec<usize>, n_classes: usize) -> Result<Self> {
        check_data(&format!("{name}: inputs x"), x.as_ref())?;
        if labels.len() != x.nrows() {
            return Err(DatasetError::shape(
                format!("{name}: labels vs inputs x"),
                format!("{} labels (one per row of x)", x.nrows()),
                format!("{} labels", labels.len()),
            ));
        }
        let y = one_hot(&labels, n_classes)?;
        Ok(Dataset { x, y, labels: Some(labels), n_classes: Some(n_classes), name: name.to_string() })
    }

    /// Checks the invariants that the constructors establish (useful after editing fields by hand):
    /// non-empty finite `x` and `y` with the same number of rows, and for classification one label
    /// per row, each `< n_classes`, with `y` having `n_classes` columns.
    pub fn validate(&self) -> Result<()> {
        let name = &self.name;
        check_data(&format!("{name}: inputs x"), self.x.as_ref())?;
        check_data(&format!("{name}: targets y"), self.y.as_ref())?;
        check_same_rows(&format!("{name}: inputs x vs targets y"), self.x.as_ref(), self.y.as_ref())?;
        match (&self.labels, self.n_classes) {
            (None, None) => Ok(()),
            (Some(labels), Some(k)) => {
                if labels.len() != self.n() {
                    return Err(DatasetError::shape(
                        format!("{name}: labels vs inputs x"),
                        format!("{} labels", self.n()),
                        format!("{} labels", labels.len()),
                    ));
                }
                if let Some((i, &l)) = labels.iter().enumerate().find(|(_, l)| **l >= k) {
                    return Err(DatasetError::param(
                        &format!("{name}: labels[{i}]"),
                        l,
                        format!("labels must be < n_classes = {k}"),
                    ));
                }
                if self.y.ncols() != k {
                    return Err(DatasetError::shape(
                        format!("{name}: targets y of a classification dataset"),
                        format!("{k} columns (n_classes)"),
                        format!("{} columns", self.y.ncols()),
                    ));
                }
                Ok(())
            }
            (l, k) => Err(DatasetError::param(
                &format!("{name}: labels / n_classes"),
                format!("labels {} / n_classes {:?}", if l.is_some() { "set" } else { "unset" }, k),
                "labels and n_classes must be both set (classification) or both unset (regression)",
            )),
        }
    }

    /// Number of samples.
    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    /// Input dimension.
    pub fn d(&self) -> usize {
        self.x.ncols()
    }

    /// Number of target columns (the number of classes for classification).
    pub fn c(&self) -> usize {
        self.y.ncols()
    }

    /// `true` when the dataset carries class labels.
    pub fn is_classification(&self) -> bool {
        self.labels.is_some()
    }

    /// Number of samples of each class (`None` for regression).
    pub fn class_counts(&self) -> Option<Vec<usize>> {
        let labels = self.labels.as_ref()?;
        let mut counts = vec![0usize; self.n_classes.unwrap_or(0)];
        for &l in labels {
            if l >= counts.len() {
                counts.resize(l + 1, 0);
            }
            counts[l] += 1;
        }
        Some(counts)
    }

    /// The samples `idx` (in that order; repeats allowed), keeping the name.
    ///
    /// Fails if `idx` is empty or an index is `>= n`.
    pub fn subset(&self, idx: &[usize]) -> Result<Dataset> {
        if idx.is_empty() {
            return Err(DatasetError::empty(format!("{}: subset index list", self.name)));
        }
        let n = self.n();
        if let Some((pos, &i)) = idx.iter().enumerate().find(|(_, i)| **i >= n) {
            return Err(DatasetError::param(
                &format!("{}: subset index idx[{pos}]", self.name),
                i,
                format!("indices must be < n = {n}"),
            ));
        }
        Ok(Dataset {
            x: gather_rows(self.x.as_ref(), idx),
            y: gather_rows(self.y.as_ref(), idx),
            labels: self.labels.as_ref().map(|l| idx.iter().map(|&i| l[i]).collect()),
            n_classes: self.n_classes,
            name: self.name.clone(),
        })
    }

    /// The same samples in a seeded random order.
    pub fn shuffled(&self, seed: u64) -> Dataset {
        let perm = permutation(self.n(), seed);
        // `perm` is a permutation of 0..n, so subset cannot fail unless n == 0, which the
        // constructors exclude; fall back to a copy for a hand-built empty dataset.
        self.subset(&perm).unwrap_or_else(|_| self.clone())
    }

    /// Seeded random split: a uniformly random permutation of the samples (see
    /// [`linalg::random::permutation`]), whose first `floor(train_fraction * n)` samples form the
    /// training part and the rest the test part.
    ///
    /// Fails unless `0 < train_fraction < 1` and both parts are non-empty. The parts are named
    /// `"{name}/train"` and `"{name}/test"`.
    pub fn train_test_split(&self, train_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let n = self.n();
        let n_train = split_size(n, train_fraction, &format!("{}: train_fraction", self.name))?;
        let perm = permutation(n, seed);
        let mut train = self.subset(&perm[..n_train])?;
        let mut test = self.subset(&perm[n_train..])?;
        train.name = format!("{}/train", self.name);
        test.name = format!("{}/test", self.name);
        Ok((train, test))
    }

    /// The first `n` samples (in stored order; note that some files are sorted by label, so
    /// shuffle first when a representative prefix is needed).
    ///
    /// Fails if `n == 0` or `n` exceeds the number of samples.
    pub fn take_first(&self, n: usize) -> Result<Dataset> {
        if n == 0 || n > self.n() {
            return Err(DatasetError::param(
                &format!("{}: take_first n", self.name),
                n,
                format!("must be in 1..={}", self.n()),
            ));
        }
        let idx: Vec<usize> = (0..n).collect();
        self.subset(&idx)
    }
}

/// Number of training samples `floor(fraction * n)` of a split, checked: `0 < fraction < 1` and
/// both parts non-empty.
pub(crate) fn split_size(n: usize, fraction: f64, what: &str) -> Result<usize> {
    if !(fraction.is_finite() && fraction > 0.0 && fraction < 1.0) {
        return Err(DatasetError::param(what, fraction, "must be a finite number strictly between 0 and 1"));
    }
    let n_train = (fraction * n as f64).floor() as usize;
    if n_train == 0 || n_train >= n {
        return Err(DatasetError::param(
            what,
            fraction,
            format!(
                "with n = {n} samples it gives {n_train} training and {} test samples; both parts must be non-empty",
                n.saturating_sub(n_train)
            ),
        ));
    }
    Ok(n_train)
}

/// The rows `idx` of `m` (indices must be in range; callers check).
pub(crate) fn gather_rows(m: MatRef<'_, f64>, idx: &[usize]) -> Mat<f64> {
    Mat::from_fn(idx.len(), m.ncols(), |i, j| m[(idx[i], j)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::mat;

    fn toy() -> Dataset {
        let x = Mat::from_fn(10, 3, |i, j| (i * 3 + j) as f64);
        Dataset::classification("toy", x, (0..10).map(|i| i % 3).collect(), 3).unwrap()
    }

    #[test]
    fn constructors_validate() {
        let x = mat![[1.0, 2.0], [3.0, 4.0]];
        assert!(Dataset::new("r", x.clone(), mat![[1.0], [2.0]]).is_ok());
        assert!(Dataset::new("r", x.clone(), mat![[1.0]]).is_err());
        assert!(Dataset::new("r", x.clone(), mat![[1.0], [f64::NAN]]).is_err());
        assert!(Dataset::new("r", Mat::zeros(0, 2), Mat::zeros(0, 1)).is_err());
        assert!(Dataset::classification("c", x.clone(), vec![0], 2).is_err());
        assert!(Dataset::classification("c", x.clone(), vec![0, 2], 2).is_err());
        let d = Dataset::classification("c", x, vec![0, 1], 2).unwrap();
        assert!(d.validate().is_ok());
        assert!(d.is_classification());
        assert_eq!(d.class_counts(), Some(vec![1, 1]));
    }

    #[test]
    fn subset_and_take_first() {
        let d = toy();
        let s = d.subset(&[9, 0, 9]).unwrap();
        assert_eq!(s.n(), 3);
        assert_eq!(s.x[(0, 0)], 27.0);
        assert_eq!(s.labels.as_ref().unwrap(), &vec![0, 0, 0]);
        let msg = d.subset(&[0, 10]).unwrap_err().to_string();
        assert!(msg.contains("10") && msg.contains("idx[1]"), "{msg}");
        assert!(d.subset(&[]).is_err());
        assert_eq!(d.take_first(4).unwrap().n(), 4);
        assert!(d.take_first(0).is_err());
        assert!(d.take_first(11).is_err());
    }

    #[test]
    fn split_is_seeded_and_disjoint() {
        let d = toy();
        let (tr, te) = d.train_test_split(0.75, 5).unwrap();
        assert_eq!((tr.n(), te.n()), (7, 3));
        let (tr2, _) = d.train_test_split(0.75, 5).unwrap();
        assert_eq!(tr, tr2);
        let mut firsts: Vec<usize> =
            tr.x.col(0).iter().chain(te.x.col(0).iter()).map(|v| (*v / 3.0) as usize).collect();
        firsts.sort();
        assert_eq!(firsts, (0..10).collect::<Vec<_>>());
        for f in [0.0, 1.0, 1.5, -0.1, f64::NAN, 0.05] {
            assert!(d.train_test_split(f, 0).is_err(), "fraction {f}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let d = toy();
        let s = serde_json::to_string(&d).unwrap();
        let back: Dataset = serde_json::from_str(&s).unwrap();
        assert_eq!(back, d);
    }
}

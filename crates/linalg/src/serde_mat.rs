//! Serde support for `faer::Mat<f64>` (faer has no serde feature).
//!
//! A matrix is stored as `{ "nrows": r, "ncols": c, "data": [...] }` with `data` in column-major
//! order. Use with `#[serde(with = "linalg::serde_mat")]`, or `linalg::serde_mat::opt` for
//! `Option<Mat<f64>>` and `linalg::serde_mat::vec` for `Vec<Mat<f64>>`.
use faer::Mat;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
struct Repr {
    nrows: usize,
    ncols: usize,
    data: Vec<f64>,
}

fn to_repr(m: &Mat<f64>) -> Repr {
    let mut data = Vec::with_capacity(m.nrows() * m.ncols());
    for j in 0..m.ncols() {
        data.extend_from_slice(m.col_as_slice(j));
    }
    Repr { nrows: m.nrows(), ncols: m.ncols(), data }
}

fn from_repr<E: serde::de::Error>(r: Repr) -> Result<Mat<f64>, E> {
    if r.data.len() != r.nrows * r.ncols {
        return Err(E::custom(format!(
            "matrix data has {} entries, expected {} x {} = {}",
            r.data.len(),
            r.nrows,
            r.ncols,
            r.nrows * r.ncols
        )));
    }
    Ok(Mat::from_fn(r.nrows, r.ncols, |i, j| r.data[j * r.nrows + i]))
}

/// Serializes a matrix.
pub fn serialize<S: Serializer>(m: &Mat<f64>, s: S) -> Result<S::Ok, S::Error> {
    to_repr(m).serialize(s)
}

/// Deserializes a matrix, checking that the data length matches the shape.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Mat<f64>, D::Error> {
    from_repr(Repr::deserialize(d)?)
}

/// Serde for `Option<Mat<f64>>`.
pub mod opt {
    use super::*;
    /// Serializes an optional matrix.
    pub fn serialize<S: Serializer>(m: &Option<Mat<f64>>, s: S) -> Result<S::Ok, S::Error> {
        m.as_ref().map(to_repr).serialize(s)
    }
    /// Deserializes an optional matrix.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mat<f64>>, D::Error> {
        match Option::<Repr>::deserialize(d)? {
            None => Ok(None),
            Some(r) => from_repr(r).map(Some),
        }
    }
}

/// Serde for `Vec<Mat<f64>>`.
pub mod vec {
    use super::*;
    /// Serializes a list of matrices.
    pub fn serialize<S: Serializer>(m: &[Mat<f64>], s: S) -> Result<S::Ok, S::Error> {
        m.iter().map(to_repr).collect::<Vec<_>>().serialize(s)
    }
    /// Deserializes a list of matrices.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Mat<f64>>, D::Error> {
        Vec::<Repr>::deserialize(d)?.into_iter().map(from_repr).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[derive(Serialize, Deserialize)]
    struct W {
        #[serde(with = "super")]
        m: Mat<f64>,
        #[serde(with = "super::opt")]
        o: Option<Mat<f64>>,
        #[serde(with = "super::vec")]
        v: Vec<Mat<f64>>,
    }
    #[test]
    fn round_trip() {
        let m = Mat::from_fn(3, 2, |i, j| (i * 10 + j) as f64 + 0.1);
        let w = W { m: m.clone(), o: Some(m.clone()), v: vec![m.clone(), Mat::zeros(0, 4)] };
        let s = serde_json::to_string(&w).unwrap();
        let back: W = serde_json::from_str(&s).unwrap();
        assert_eq!(back.m, m);
        assert_eq!(back.o.unwrap(), m);
        assert_eq!(back.v[1].ncols(), 4);
        let bad = r#"{"m":{"nrows":2,"ncols":2,"data":[1.0]},"o":null,"v":[]}"#;
        assert!(serde_json::from_str::<W>(bad).is_err());
    }
}

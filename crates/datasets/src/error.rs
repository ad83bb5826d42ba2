//! The error type of this crate.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Everything that can go wrong when building, loading or transforming a dataset.
///
/// Every message names the offending file, line, column, value or shape, so that it can be shown to
/// a user as is. Line and column numbers of text files are 1-based (as in an editor); row and column
/// indices of matrices are 0-based (as in Rust).
#[derive(Debug, Error)]
pub enum DatasetError {
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A field of a text file is not a number.
    #[error(
        "{}, line {line}, column {column}: cannot parse {text:?} as a number",
        path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column (field) number.
        column: usize,
        /// The offending field.
        text: String,
    },
    /// A file holds NaN or an infinite value.
    #[error("{}, {location}: value {value} is not finite (NaN or inf are not allowed)", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Where: `line L, column C` (text files, 1-based) or `row R, column C` (binary, 0-based).
        location: String,
        /// The value read (NaN or +-inf).
        value: f64,
    },
    /// A row of a text file has a different number of fields than the first data row.
    #[error(
        "{}, line {line}: ragged rows: expected {expected} fields (as the first data row), got {got}",
        path.display()
    )]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Number of fields of the first data row.
        expected: usize,
        /// Number of fields of this row.
        got: usize,
    },
    /// An input or a file has no data.
    #[error("{what} is empty: at least one sample (and one feature) is needed")]
    Empty {
        /// What was empty.
        what: String,
    },
    /// Two inputs have incompatible shapes (or a file has the wrong shape).
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being done.
        context: String,
        /// The shape that was required.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A parameter or argument is outside its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: String,
        /// The value given, formatted.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// A binary file (npy, IDX) has a header or layout this crate cannot read.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A data file was not found in any of the data directories.
    #[error("{}", missing_message(what, searched, hint))]
    Missing {
        /// The file (relative to a data directory) that was looked for.
        what: String,
        /// Every path that was tried, in order.
        searched: Vec<PathBuf>,
        /// How to obtain the file.
        hint: String,
    },
    /// A file's SHA-256 digest differs from the expected one.
    #[error(
        "{}: SHA-256 mismatch: expected {expected}, got {got} (the file is corrupt or a different version; re-run scripts/fetch-data.sh)",
        path.display()
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Expected hex digest.
        expected: String,
        /// Actual hex digest.
        got: String,
    },
    /// An error of the linear-algebra helpers (validation of in-memory matrices).
    #[error(transparent)]
    Linalg(#[from] linalg::LinalgError),
}

fn missing_message(what: &str, searched: &[PathBuf], hint: &str) -> String {
    let mut s = format!("data file `{what}` not found; searched:");
    if searched.is_empty() {
        s.push_str(" (no data directory)");
    }
    for p in searched {
        let _ = write!(s, "\n  {}", p.display());
    }
    let _ = write!(s, "\n{hint}");
    s
}

/// Result type of this crate.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

impl DatasetError {
    /// An [`DatasetError::Io`] for `path`.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DatasetError::Io { path: path.to_path_buf(), source }
    }

    /// A [`DatasetError::Format`] for `path`.
    pub(crate) fn format(path: &Path, reason: impl Into<String>) -> Self {
        DatasetError::Format { path: path.to_path_buf(), reason: reason.into() }
    }

    /// A [`DatasetError::InvalidParameter`].
    pub(crate) fn param(name: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        DatasetError::InvalidParameter {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// A [`DatasetError::ShapeMismatch`].
    pub(crate) fn shape(
        context: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        DatasetError::ShapeMismatch { context: context.into(), expected: expected.into(), got: got.into() }
    }

    /// A [`DatasetError::Empty`].
    pub(crate) fn empty(what: impl Into<String>) -> Self {
        DatasetError::Empty { what: what.into() }
    }
}

//! Aligned text tables for stdout, and number formatting.

use super::progress::print_line;

/// Formats a number for humans: integers plainly (`30`, `-4`), zero as `0`, very small or very
/// large magnitudes in scientific notation (`1.5e-7`, `2.346e9`), everything else with 4
/// significant digits (`0.9990`, `12.35`, `0.001234`). `NaN`, `inf` and `-inf` are spelled out.
///
/// ```
/// use paper_repro::report::fmt_num;
/// assert_eq!(fmt_num(30.0), "30");
/// assert_eq!(fmt_num(0.99901), "0.9990");
/// assert_eq!(fmt_num(12.345678), "12.35");
/// assert_eq!(fmt_num(1.5e-7), "1.5e-7");
/// assert_eq!(fmt_num(f64::NAN), "NaN");
/// ```
pub fn fmt_num(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    // Exponent after rounding to 4 significant digits (so 9.99995 counts as 1.000e1).
    let exp = decimal_exponent(x, 3);
    if !(-3..6).contains(&exp) {
        return sci(x, 3);
    }
    let decimals = (3 - exp).max(0) as usize;
    format!("{x:.decimals$}")
}

/// Shorter formatting for axis ticks: like [`fmt_num`] but with 3 significant digits and
/// trailing zeros trimmed (`0.5`, `1e-3`, `250`). `span` is the axis extent: values below
/// `1e-9 * span` are rounding noise around zero and shown as `0`.
pub(crate) fn fmt_tick(x: f64, span: f64) -> String {
    if !x.is_finite() {
        return fmt_num(x);
    }
    if x == 0.0 || x.abs() < 1e-9 * span.abs() {
        return "0".to_string();
    }
    let exp = decimal_exponent(x, 2);
    if !(-3..6).contains(&exp) {
        return sci(x, 2);
    }
    let decimals = (2 - exp).max(0) as usize;
    trim_zeros(format!("{x:.decimals$}"))
}

/// The decimal exponent of `x` after rounding to `digits + 1` significant digits.
fn decimal_exponent(x: f64, digits: usize) -> i32 {
    let s = format!("{x:.digits$e}");
    s.rsplit('e').next().and_then(|e| e.parse().ok()).unwrap_or(0)
}

/// Scientific notation with up to `digits` decimals in the mantissa, trailing zeros trimmed.
fn sci(x: f64, digits: usize) -> String {
    let s = format!("{x:.digits$e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => format!("{}e{exp}", trim_zeros(mantissa.to_string())),
        None => s,
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// A value that can be shown in a [`Table`] cell: numbers go through [`fmt_num`], text as is.
/// Used by the [`cells!`](crate::cells) macro.
pub trait ToCell {
    /// The cell text.
    fn to_cell(&self) -> String;
}

impl ToCell for f64 {
    fn to_cell(&self) -> String {
        fmt_num(*self)
    }
}
impl ToCell for f32 {
    fn to_cell(&self) -> String {
        fmt_num(f64::from(*self))
    }
}
macro_rules! int_cells {
    ($($t:ty),*) => { $(impl ToCell for $t { fn to_cell(&self) -> String { self.to_string() } })* };
}
int_cells!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, bool, char);
impl ToCell for str {
    fn to_cell(&self) -> String {
        self.to_string()
    }
}
impl ToCell for String {
    fn to_cell(&self) -> String {
        self.clone()
    }
}
impl<T: ToCell + ?Sized> ToCell for &T {
    fn to_cell(&self) -> String {
        (**self).to_cell()
    }
}
impl<T: ToCell> ToCell for Option<T> {
    /// `None` shows as `-`.
    fn to_cell(&self) -> String {
        self.as_ref().map_or_else(|| "-".to_string(), ToCell::to_cell)
    }
}

/// Builds a table row (`Vec<String>`) from values of mixed types, formatting numbers with
/// [`fmt_num`](crate::report::fmt_num):
///
/// ```
/// use paper_repro::cells;
/// let row = cells![3usize, 0.99987, "add", 1e-9];
/// assert_eq!(row, vec!["3", "0.9999", "add", "1e-9"]);
/// ```
#[macro_export]
macro_rules! cells {
    ($($x:expr),* $(,)?) => {
        vec![$($crate::report::ToCell::to_cell(&$x)),*]
    };
}

/// Default minimum column width of a streaming table (fits `fmt_num` output such as `1.234e-5`).
const STREAM_MIN_WIDTH: usize = 9;
const GAP: &str = "  ";

/// An aligned text table for stdout. Numeric cells are right-aligned, text left-aligned.
///
/// Two modes:
/// * buffered ([`Table::new`]): add rows, then [`print`](Table::print) the whole table with
///   exact column widths;
/// * streaming ([`Table::streaming`]): the header is printed with the first row and every row is
///   printed as soon as it is added, so a long run shows progress line by line. Columns are at
///   least as wide as their header (and at least 9 characters); a wider cell
///   widens its column from then on. `print` does nothing for a streaming table (it is on screen
///   already); [`render`](Table::render) still gives the exactly aligned text.
///
/// Printing goes through [`print_line`], so it does not garble a visible progress bar, and a
/// table made [`quiet`](Table::quiet) prints nothing.
///
/// ```
/// use paper_repro::{cells, report::Table};
/// let mut t = Table::new(&["iter", "train_acc", "method"]);
/// t.row(cells![0, 0.5, "rfm"]);
/// t.row(cells![10, 1.0, "kernel ridge"]);
/// assert_eq!(
///     t.render(),
///     "iter  train_acc  method\n\
///      ----  ---------  ------------\n   \
///         0     0.5000  rfm\n  \
///        10          1  kernel ridge\n"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    streaming: bool,
    stream_widths: Vec<usize>,
    quiet: bool,
}

impl Table {
    /// A buffered table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            streaming: false,
            stream_widths: Vec::new(),
            quiet: false,
        }
    }

    /// A streaming table: each row is printed as soon as it is added.
    pub fn streaming(headers: &[&str]) -> Table {
        let mut t = Table::new(headers);
        t.streaming = true;
        t.stream_widths = t.headers.iter().map(|h| h.chars().count().max(STREAM_MIN_WIDTH)).collect();
        t
    }

    /// When `quiet` is true nothing is printed (rows are still kept for [`render`](Table::render)).
    pub fn quiet(mut self, quiet: bool) -> Table {
        self.quiet = quiet;
        self
    }

    /// Adds a row of already formatted cells (see [`cells!`](crate::cells)). Missing cells are
    /// left blank; extra cells get a column with an empty header.
    pub fn row(&mut self, cells: Vec<String>) -> &mut Table {
        while self.headers.len() < cells.len() {
            self.headers.push(String::new());
            self.stream_widths.push(STREAM_MIN_WIDTH);
        }
        if self.streaming && !self.quiet {
            if self.rows.is_empty() {
                let (head, rule) = self.stream_header();
                print_line(&head);
                print_line(&rule);
            }
            let line = self.stream_row(&cells);
            print_line(&line);
        }
        self.rows.push(cells);
        self
    }

    /// Adds a row of numbers, each formatted with [`fmt_num`].
    pub fn row_nums(&mut self, values: &[f64]) -> &mut Table {
        self.row(values.iter().map(|&x| fmt_num(x)).collect())
    }

    /// Number of rows added so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The column headers.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The rows added so far.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The whole table as text with exact column widths: header, a rule of dashes, the rows;
    /// each line ends with `\n`, trailing spaces trimmed.
    pub fn render(&self) -> String {
        let ncols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        let mut numeric = vec![true; ncols];
        let mut any_cell = vec![false; ncols];
        for row in &self.rows {
            for (j, cell) in row.iter().enumerate() {
                widths[j] = widths[j].max(cell.chars().count());
                if !cell.is_empty() {
                    any_cell[j] = true;
                    numeric[j] &= is_numeric(cell);
                }
            }
        }
        let right: Vec<bool> = (0..ncols).map(|j| numeric[j] && any_cell[j]).collect();
        let mut out = String::new();
        let header: Vec<String> = (0..ncols).map(|j| pad(&self.headers[j], widths[j], right[j])).collect();
        push_line(&mut out, &header.join(GAP));
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        push_line(&mut out, &rule.join(GAP));
        for row in &self.rows {
            let line: Vec<String> = (0..ncols)
                .map(|j| {
                    let cell = row.get(j).map_or("", String::as_str);
                    pad(cell, widths[j], right[j])
                })
                .collect();
            push_line(&mut out, &line.join(GAP));
        }
        out
    }

    /// Prints the whole table to stdout (buffered tables only; a streaming table is already on
    /// screen, so this does nothing for it).
    pub fn print(&self) {
        if self.quiet || self.streaming {
            return;
        }
        for line in self.render().lines() {
            print_line(line);
        }
    }

    fn stream_header(&self) -> (String, String) {
        let head: Vec<String> =
            self.headers.iter().zip(&self.stream_widths).map(|(h, &w)| pad(h, w, true)).collect();
        let rule: Vec<String> = self.stream_widths.iter().map(|&w| "-".repeat(w)).collect();
        (head.join(GAP).trim_end().to_string(), rule.join(GAP).trim_end().to_string())
    }

    fn stream_row(&mut self, cells: &[String]) -> String {
        let parts: Vec<String> = (0..self.headers.len())
            .map(|j| {
                let cell = cells.get(j).map_or("", String::as_str);
                let w = self.stream_widths[j].max(cell.chars().count());
                self.stream_widths[j] = w;
                pad(cell, w, is_numeric(cell) || cell.is_empty())
            })
            .collect();
        parts.join(GAP).trim_end().to_string()
    }
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line.trim_end());
    out.push('\n');
}

fn pad(s: &str, width: usize, right: bool) -> String {
    if right { format!("{s:>width$}") } else { format!("{s:<width$}") }
}

/// Whether a cell looks like a number (as produced by [`fmt_num`] or `to_string`), or a dash
/// standing for a missing number.
fn is_numeric(cell: &str) -> bool {
    let c = cell.trim();
    c == "-" || c.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_num_cases() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (30.0, "30"),
            (-4.0, "-4"),
            (123456789.0, "123456789"),
            (1e20, "1e20"),
            (0.5, "0.5000"),
            (0.99901, "0.9990"),
            (0.999999, "1.000"),
            (12.345678, "12.35"),
            (-12.345678, "-12.35"),
            (1234.56, "1235"),
            (123456.7, "123457"),
            (1234567.8, "1.235e6"),
            (0.001234, "0.001234"),
            (0.0001234, "1.234e-4"),
            (1.5e-7, "1.5e-7"),
            (9.99995, "10.00"),
            (2.0f64.sqrt(), "1.414"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for &(x, want) in cases {
            assert_eq!(fmt_num(x), want, "fmt_num({x:e})");
        }
    }

    #[test]
    fn fmt_tick_cases() {
        assert_eq!(fmt_tick(0.30000000000000004, 1.0), "0.3");
        assert_eq!(fmt_tick(1e-5, 1e-4), "1e-5");
        assert_eq!(fmt_tick(250.0, 1000.0), "250");
        assert_eq!(fmt_tick(2.5e7, 1e8), "2.5e7");
        assert_eq!(fmt_tick(5.551115123125783e-17, 1.0), "0");
        assert_eq!(fmt_tick(1e-17, 1e-16), "1e-17");
    }

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["iter", "test_acc", "note"]);
        t.row(cells![1, 0.25, "x"]);
        t.row(cells![100, f64::NAN, "long note"]);
        t.row(vec!["7".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], "iter  test_acc  note");
        assert_eq!(lines[1], "----  --------  ---------");
        assert_eq!(lines[2], "   1    0.2500  x");
        assert_eq!(lines[3], " 100       NaN  long note");
        assert_eq!(lines[4], "   7");
        // Every column starts at the same offset on every line.
        let col = lines[0].find("note").unwrap();
        assert!(lines[2..4].iter().all(|l| !l[col..].starts_with(' ')));
    }

    #[test]
    fn streaming_rows_line_up_with_header() {
        let mut t = Table::streaming(&["iter", "train_acc", "test_acc"]).quiet(true);
        t.row(cells![0, 1.0, 0.01]);
        let (head, rule) = t.stream_header();
        let row = t.stream_row(&["1".into(), fmt_num(0.999), fmt_num(0.5)]);
        assert_eq!(head.len(), row.len());
        assert_eq!(rule.len(), row.len());
        assert_eq!(head, "     iter  train_acc   test_acc");
        assert_eq!(row, "        1     0.9990     0.5000");
        assert_eq!(t.len(), 1);
    }
}

//! Plots with plotters, without system fonts.
//!
//! The crate builds plotters without its `ttf` feature (which would need fontconfig at build
//! time). In that configuration plotters 0.3.7 uses its "naive" font: it *estimates* text extents
//! (0.7 em per byte), which is enough for layout, but cannot rasterise glyphs. Hence:
//!
//! * the SVG backend writes text as `<text>` elements (the viewer renders them), so SVG line
//!   plots and SVG heatmaps have titles, axis labels, tick labels and legends;
//! * the bitmap backend would panic when asked to draw text ("The font implementation is unable
//!   to draw text"), so PNG output ([`heatmap`] with a `.png` path) contains no text at all: it is
//!   assembled as a pixel buffer and only encoded by plotters.

use std::path::Path;

use anyhow::{Context, anyhow, bail, ensure};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::table::{fmt_num, fmt_tick};

/// One line of a [`LinePlot`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend entry (no legend entry when empty).
    pub name: String,
    /// The `(x, y)` points, in drawing order. Points with a non-finite coordinate (or a
    /// non-positive one on a log axis) are skipped and break the line there.
    pub points: Vec<(f64, f64)>,
    /// Draw a dot at every point (isolated points always get a dot).
    pub markers: bool,
    /// Draw a dashed line.
    pub dashed: bool,
    /// Colour as RGB; `None` takes the next colour of the palette.
    pub color: Option<(u8, u8, u8)>,
}

impl Series {
    /// A series from `(x, y)` points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.into(), points, ..Series::default() }
    }

    /// A series from `y` values at `x = 0, 1, 2, ...` (e.g. one value per iteration).
    pub fn from_ys(name: impl Into<String>, ys: &[f64]) -> Series {
        Series::new(name, ys.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect())
    }

    /// A series from separate `x` and `y` slices (extra values of the longer one are ignored).
    pub fn from_xy(name: impl Into<String>, xs: &[f64], ys: &[f64]) -> Series {
        Series::new(name, xs.iter().copied().zip(ys.iter().copied()).collect())
    }

    /// Draws a dot at every point.
    pub fn with_markers(mut self) -> Series {
        self.markers = true;
        self
    }

    /// Draws the line dashed.
    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }

    /// Uses this RGB colour instead of the palette's.
    pub fn color(mut self, rgb: (u8, u8, u8)) -> Series {
        self.color = Some(rgb);
        self
    }
}

/// A labelled reference line across the plot: vertical at `x = at` ([`LinePlot::vlines`]) or
/// horizontal at `y = at` ([`LinePlot::hlines`]), e.g. "transition" or "chance level".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marker {
    /// Position on the axis.
    pub at: f64,
    /// Text drawn next to the line (may be empty).
    pub label: String,
}

/// Description of an SVG line plot; draw it with [`line_plot`] or
/// [`Report::line_plot`](crate::report::Report::line_plot).
///
/// Axis ranges are computed from the finite points (plus the markers), padded by 5 % (in log
/// space on log axes); a single point or a constant series gets a sensible non-empty range.
/// The legend goes in the corner with the fewest points.
///
/// ```
/// use paper_repro::report::{LinePlot, Series};
/// let plot = LinePlot::new("Grokking, p = 61")
///     .x_label("iteration")
///     .y_label("accuracy")
///     .series(Series::from_ys("train", &[1.0, 1.0, 1.0]))
///     .series(Series::from_ys("test", &[0.0, 0.02, 0.99]).with_markers())
///     .vline(1.5, "transition")
///     .y_range(0.0, 1.0);
/// assert_eq!(plot.series.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// Title above the plot (none when empty).
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Logarithmic x axis (points with `x <= 0` are skipped).
    pub log_x: bool,
    /// Logarithmic y axis (points with `y <= 0` are skipped).
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Vertical reference lines (dashed grey, labelled at the top).
    pub vlines: Vec<Marker>,
    /// Horizontal reference lines (dashed grey, labelled at the left).
    pub hlines: Vec<Marker>,
    /// Fixed x range instead of the automatic one (ignored unless finite, `lo < hi`, and positive
    /// on a log axis).
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range instead of the automatic one (same rules as `x_range`).
    pub y_range: Option<(f64, f64)>,
    /// Image size in pixels (width, height); default 800 x 500.
    pub size: (u32, u32),
}

impl Default for LinePlot {
    fn default() -> Self {
        LinePlot {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            log_x: false,
            log_y: false,
            series: Vec::new(),
            vlines: Vec::new(),
            hlines: Vec::new(),
            x_range: None,
            y_range: None,
            size: (800, 500),
        }
    }
}

impl LinePlot {
    /// An empty plot with a title.
    pub fn new(title: impl Into<String>) -> LinePlot {
        LinePlot { title: title.into(), ..LinePlot::default() }
    }
    /// Sets the x axis label.
    pub fn x_label(mut self, label: impl Into<String>) -> LinePlot {
        self.x_label = label.into();
        self
    }
    /// Sets the y axis label.
    pub fn y_label(mut self, label: impl Into<String>) -> LinePlot {
        self.y_label = label.into();
        self
    }
    /// Makes the x axis logarithmic.
    pub fn log_x(mut self) -> LinePlot {
        self.log_x = true;
        self
    }
    /// Makes the y axis logarithmic.
    pub fn log_y(mut self) -> LinePlot {
        self.log_y = true;
        self
    }
    /// Adds a series.
    pub fn series(mut self, series: Series) -> LinePlot {
        self.series.push(series);
        self
    }
    /// Adds a series from points (shorthand for `.series(Series::new(name, points))`).
    pub fn line(self, name: impl Into<String>, points: Vec<(f64, f64)>) -> LinePlot {
        self.series(Series::new(name, points))
    }
    /// Adds a vertical reference line at `x`.
    pub fn vline(mut self, x: f64, label: impl Into<String>) -> LinePlot {
        self.vlines.push(Marker { at: x, label: label.into() });
        self
    }
    /// Adds a horizontal reference line at `y`.
    pub fn hline(mut self, y: f64, label: impl Into<String>) -> LinePlot {
        self.hlines.push(Marker { at: y, label: label.into() });
        self
    }
    /// Fixes the x range.
    pub fn x_range(mut self, lo: f64, hi: f64) -> LinePlot {
        self.x_range = Some((lo, hi));
        self
    }
    /// Fixes the y range (e.g. `0..1` for accuracies).
    pub fn y_range(mut self, lo: f64, hi: f64) -> LinePlot {
        self.y_range = Some((lo, hi));
        self
    }
    /// Sets the image size in pixels.
    pub fn size(mut self, width: u32, height: u32) -> LinePlot {
        self.size = (width, height);
        self
    }
}

/// Distinct colours (matplotlib's tab10), cycled.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

const FONT: &str = "sans-serif";
const REF_LINE: RGBColor = RGBColor(110, 110, 110);

fn draw_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plot drawing failed: {e}")
}

fn check_extension(path: &Path, allowed: &[&str]) -> anyhow::Result<String> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    ensure!(
        allowed.contains(&ext.as_str()),
        "{}: plot files must end in {}",
        path.display(),
        allowed.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(" or ")
    );
    Ok(ext)
}

/// Writes `spec` as an SVG line plot to `path` (which must end in `.svg`; the folder must exist).
pub fn line_plot(path: &Path, spec: &LinePlot) -> anyhow::Result<()> {
    check_extension(path, &["svg"])?;
    let (w, h) = sanitize_size(spec.size, (800, 500));
    let root = SVGBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    draw_line_plot(&root, spec)?;
    root.present().map_err(draw_err).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes several line plots as panels of one SVG, `columns` per row, under an overall `title`
/// (none when empty). Each panel keeps its own title, labels, axes and legend; the panels' `size`
/// fields are ignored (each panel is 480 x 340 pixels).
pub fn grid_plot(path: &Path, title: &str, panels: &[LinePlot], columns: usize) -> anyhow::Result<()> {
    check_extension(path, &["svg"])?;
    ensure!(!panels.is_empty(), "grid_plot needs at least one panel");
    let columns = columns.clamp(1, panels.len());
    let rows = panels.len().div_ceil(columns);
    let title_h = if title.is_empty() { 0 } else { 40 };
    let size = (columns as u32 * 480, rows as u32 * 340 + title_h);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let area =
        if title.is_empty() { root.clone() } else { root.titled(title, (FONT, 26)).map_err(draw_err)? };
    let cells = area.split_evenly((rows, columns));
    for (panel, cell) in panels.iter().zip(cells.iter()) {
        draw_line_plot(cell, panel)?;
    }
    root.present().map_err(draw_err).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn sanitize_size((w, h): (u32, u32), default: (u32, u32)) -> (u32, u32) {
    if w < 100 || h < 100 || w > 10_000 || h > 10_000 { default } else { (w, h) }
}

/// The points of a plot after removing unusable ones, with the axis ranges.
struct Prepared {
    /// Per series: runs of consecutive usable points.
    segments: Vec<Vec<Vec<(f64, f64)>>>,
    x: (f64, f64),
    y: (f64, f64),
    any_data: bool,
    legend: SeriesLabelPosition,
}

fn usable(v: f64, log: bool) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

fn prepare(spec: &LinePlot) -> Prepared {
    let segments: Vec<Vec<Vec<(f64, f64)>>> = spec
        .series
        .iter()
        .map(|s| {
            let mut segs: Vec<Vec<(f64, f64)>> = Vec::new();
            let mut cur: Vec<(f64, f64)> = Vec::new();
            for &(x, y) in &s.points {
                if usable(x, spec.log_x) && usable(y, spec.log_y) {
                    cur.push((x, y));
                } else if !cur.is_empty() {
                    segs.push(std::mem::take(&mut cur));
                }
            }
            if !cur.is_empty() {
                segs.push(cur);
            }
            segs
        })
        .collect();
    let points = || segments.iter().flatten().flatten();
    let any_data = points().next().is_some();
    let xs = points().map(|p| p.0).chain(spec.vlines.iter().map(|m| m.at)).filter(|&v| usable(v, spec.log_x));
    let ys = points().map(|p| p.1).chain(spec.hlines.iter().map(|m| m.at)).filter(|&v| usable(v, spec.log_y));
    let x = fixed_range(spec.x_range, spec.log_x).unwrap_or_else(|| auto_range(xs, spec.log_x));
    let y = fixed_range(spec.y_range, spec.log_y).unwrap_or_else(|| auto_range(ys, spec.log_y));
    let legend = legend_corner(points(), x, y, spec.log_x, spec.log_y);
    Prepared { segments, x, y, any_data, legend }
}

fn fixed_range(range: Option<(f64, f64)>, log: bool) -> Option<(f64, f64)> {
    let (lo, hi) = range?;
    (usable(lo, log) && usable(hi, log) && lo < hi).then_some((lo, hi))
}

/// The data range padded by 5 % (multiplicatively on a log axis); a degenerate range is widened.
fn auto_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (a, b) = (lo.log10(), hi.log10());
        let pad = if b - a < 1e-9 { 0.5 } else { 0.05 * (b - a) };
        return (10f64.powf(a - pad), 10f64.powf(b + pad));
    }
    let span = hi - lo;
    let pad = if span <= 1e-12 * lo.abs().max(hi.abs()) || span == 0.0 {
        if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() }
    } else {
        0.05 * span
    };
    let (a, b) = (lo - pad, hi + pad);
    if a.is_finite() && b.is_finite() && a < b { (a, b) } else { (lo, hi) }
}

/// The corner of the plot holding the fewest points, preferring upper right.
fn legend_corner<'a>(
    points: impl Iterator<Item = &'a (f64, f64)>,
    x: (f64, f64),
    y: (f64, f64),
    log_x: bool,
    log_y: bool,
) -> SeriesLabelPosition {
    let norm = |v: f64, (lo, hi): (f64, f64), log: bool| {
        if log { (v.ln() - lo.ln()) / (hi.ln() - lo.ln()) } else { (v - lo) / (hi - lo) }
    };
    // [upper right, upper left, lower right, lower left]
    let mut counts = [0usize; 4];
    for &(px, py) in points {
        let (u, v) = (norm(px, x, log_x), norm(py, y, log_y));
        let right = u > 0.6;
        let left = u < 0.4;
        let top = v > 0.65;
        let bottom = v < 0.35;
        counts[0] += usize::from(right && top);
        counts[1] += usize::from(left && top);
        counts[2] += usize::from(right && bottom);
        counts[3] += usize::from(left && bottom);
    }
    let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ][best]
        .clone()
}

/// Draws a line plot into any drawing area (used for single plots and grid panels).
fn draw_line_plot<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &LinePlot) -> anyhow::Result<()> {
    let prep = prepare(spec);
    let (x0, x1) = prep.x;
    let (y0, y1) = prep.y;
    match (spec.log_x, spec.log_y) {
        (false, false) => draw_in(area, spec, &prep, x0..x1, y0..y1),
        (true, false) => draw_in(area, spec, &prep, (x0..x1).log_scale(), y0..y1),
        (false, true) => draw_in(area, spec, &prep, x0..x1, (y0..y1).log_scale()),
        (true, true) => draw_in(area, spec, &prep, (x0..x1).log_scale(), (y0..y1).log_scale()),
    }
}

fn draw_in<DB, XS, YS>(
    area: &DrawingArea<DB, Shift>,
    spec: &LinePlot,
    prep: &Prepared,
    x_spec: XS,
    y_spec: YS,
) -> anyhow::Result<()>
where
    DB: DrawingBackend,
    XS: AsRangedCoord<Value = f64>,
    YS: AsRangedCoord<Value = f64>,
    XS::CoordDescType: ValueFormatter<f64>,
    YS::CoordDescType: ValueFormatter<f64>,
{
    let (x0, x1) = prep.x;
    let (y0, y1) = prep.y;
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(12)
        .x_label_area_size(if spec.x_label.is_empty() { 30 } else { 50 })
        .y_label_area_size(if spec.y_label.is_empty() { 55 } else { 75 });
    if !spec.title.is_empty() {
        builder.caption(&spec.title, (FONT, 22));
    }
    let mut chart = builder.build_cartesian_2d(x_spec, y_spec).map_err(draw_err)?;

    let (x_span, y_span) = (x1 - x0, y1 - y0);
    let x_fmt = move |v: &f64| fmt_tick(*v, x_span);
    let y_fmt = move |v: &f64| fmt_tick(*v, y_span);
    {
        let mut mesh = chart.configure_mesh();
        mesh.x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(215, 215, 215))
            .label_style((FONT, 13));
        if !spec.x_label.is_empty() {
            mesh.x_desc(spec.x_label.as_str());
        }
        if !spec.y_label.is_empty() {
            mesh.y_desc(spec.y_label.as_str());
        }
        mesh.draw().map_err(draw_err)?;
    }

    // Reference lines first, so that data is drawn on top of them.
    let ref_style = ShapeStyle::from(&REF_LINE).stroke_width(1);
    let ref_font = TextStyle::from((FONT, 13).into_font()).color(&REF_LINE);
    for m in spec.vlines.iter().filter(|m| usable(m.at, spec.log_x) && x0 <= m.at && m.at <= x1) {
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(m.at, y0), (m.at, y1)],
                6,
                4,
                ref_style,
            )))
            .map_err(draw_err)?;
        if !m.label.is_empty() {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((m.at, y1)) + Text::new(m.label.clone(), (4, 4), ref_font.clone()),
                ))
                .map_err(draw_err)?;
        }
    }
    for m in spec.hlines.iter().filter(|m| usable(m.at, spec.log_y) && y0 <= m.at && m.at <= y1) {
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                vec![(x0, m.at), (x1, m.at)],
                6,
                4,
                ref_style,
            )))
            .map_err(draw_err)?;
        if !m.label.is_empty() {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x0, m.at)) + Text::new(m.label.clone(), (4, -17), ref_font.clone()),
                ))
                .map_err(draw_err)?;
        }
    }

    let mut has_legend = false;
    for (i, (series, segs)) in spec.series.iter().zip(&prep.segments).enumerate() {
        let (r, g, b) = series.color.unwrap_or(PALETTE[i % PALETTE.len()]);
        let color = RGBColor(r, g, b);
        let style = ShapeStyle::from(&color).stroke_width(2);
        let lines = segs.iter().filter(|s| s.len() >= 2);
        let anno = if series.dashed {
            chart
                .draw_series(lines.map(|s| DashedPathElement::new(s.clone(), 8, 5, style)))
                .map_err(draw_err)?
        } else {
            chart.draw_series(lines.map(|s| PathElement::new(s.clone(), style))).map_err(draw_err)?
        };
        if !series.name.is_empty() {
            has_legend = true;
            let dashed = series.dashed;
            anno.label(series.name.as_str()).legend(move |(x, y)| {
                // Two pieces, with a gap when dashed.
                let gap = if dashed { 4 } else { 0 };
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (10 - gap, 0)], style)
                    + PathElement::new(vec![(10, 0), (20 - gap, 0)], style)
            });
        }
        let dots = segs
            .iter()
            .filter(|s| series.markers || s.len() == 1)
            .flatten()
            .map(|&p| Circle::new(p, 3, color.filled()));
        chart.draw_series(dots).map_err(draw_err)?;
    }

    if !prep.any_data {
        let center = (
            if spec.log_x { (x0 * x1).sqrt() } else { 0.5 * (x0 + x1) },
            if spec.log_y { (y0 * y1).sqrt() } else { 0.5 * (y0 + y1) },
        );
        let style = TextStyle::from((FONT, 18).into_font())
            .color(&REF_LINE)
            .pos(Pos::new(HPos::Center, VPos::Center));
        chart.draw_series(std::iter::once(Text::new("no finite data", center, style))).map_err(draw_err)?;
    }

    if has_legend {
        chart
            .configure_series_labels()
            .position(prep.legend.clone())
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 14))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Heatmaps
// ---------------------------------------------------------------------------------------------

/// How values map to colours in a [`heatmap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colormap {
    /// [`Diverging`](Colormap::Diverging) when the data has both signs, else
    /// [`Sequential`](Colormap::Sequential).
    #[default]
    Auto,
    /// Blue (negative), white (0), red (positive), symmetric: `±max|value|` are the extremes.
    Diverging,
    /// Viridis from the minimum (dark purple) to the maximum (yellow).
    Sequential,
}

/// A dense row-major matrix of values for [`heatmap`]. Usually built implicitly via
/// [`IntoGrid`] from a `faer::MatRef<f64>`, a `&faer::Mat<f64>` or rows `&[Vec<f64>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Grid {
    /// A `rows x cols` grid from row-major `data`; errors if the length does not match or the
    /// grid is empty.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> anyhow::Result<Grid> {
        ensure!(rows > 0 && cols > 0, "cannot draw an empty {rows}x{cols} matrix");
        ensure!(
            data.len() == rows * cols,
            "a {rows}x{cols} matrix needs {} values, got {}",
            rows * cols,
            data.len()
        );
        Ok(Grid { rows, cols, data })
    }

    /// A grid from equally long rows.
    pub fn from_rows(rows: &[Vec<f64>]) -> anyhow::Result<Grid> {
        let cols = rows.first().map_or(0, Vec::len);
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
            bail!("ragged matrix: row 0 has {cols} values, row {i} has {}", r.len());
        }
        Grid::new(rows.len(), cols, rows.concat())
    }

    /// A grid copied from a faer matrix view.
    pub fn from_mat(m: faer::MatRef<'_, f64>) -> anyhow::Result<Grid> {
        let (rows, cols) = (m.nrows(), m.ncols());
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(m[(i, j)]);
            }
        }
        Grid::new(rows, cols, data)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The value at row `i`, column `j`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    /// Block-averages (ignoring non-finite values) so that neither side exceeds `max_side`.
    fn downsampled(&self, max_side: usize) -> Grid {
        if self.rows <= max_side && self.cols <= max_side {
            return self.clone();
        }
        // Same factor on both axes so that cells stay square.
        let factor = self.rows.max(self.cols) as f64 / max_side as f64;
        let r2 = ((self.rows as f64 / factor).ceil() as usize).clamp(1, max_side);
        let c2 = ((self.cols as f64 / factor).ceil() as usize).clamp(1, max_side);
        let mut data = Vec::with_capacity(r2 * c2);
        for bi in 0..r2 {
            let (i0, i1) = (bi * self.rows / r2, (bi + 1) * self.rows / r2);
            for bj in 0..c2 {
                let (j0, j1) = (bj * self.cols / c2, (bj + 1) * self.cols / c2);
                let (mut sum, mut n) = (0.0, 0usize);
                for i in i0..i1 {
                    for j in j0..j1 {
                        let v = self.get(i, j);
                        if v.is_finite() {
                            sum += v;
                            n += 1;
                        }
                    }
                }
                data.push(if n > 0 { sum / n as f64 } else { f64::NAN });
            }
        }
        Grid { rows: r2, cols: c2, data }
    }
}

/// Anything [`heatmap`] can draw.
pub trait IntoGrid {
    /// Converts to a [`Grid`], failing for empty or ragged input.
    fn into_grid(self) -> anyhow::Result<Grid>;
}

impl IntoGrid for Grid {
    fn into_grid(self) -> anyhow::Result<Grid> {
        Ok(self)
    }
}
impl IntoGrid for &Grid {
    fn into_grid(self) -> anyhow::Result<Grid> {
        Ok(self.clone())
    }
}
impl IntoGrid for faer::MatRef<'_, f64> {
    fn into_grid(self) -> anyhow::Result<Grid> {
        Grid::from_mat(self)
    }
}
impl IntoGrid for &faer::Mat<f64> {
    fn into_grid(self) -> anyhow::Result<Grid> {
        Grid::from_mat(self.as_ref())
    }
}
impl IntoGrid for &[Vec<f64>] {
    fn into_grid(self) -> anyhow::Result<Grid> {
        Grid::from_rows(self)
    }
}
impl IntoGrid for &Vec<Vec<f64>> {
    fn into_grid(self) -> anyhow::Result<Grid> {
        Grid::from_rows(self)
    }
}

/// The value → colour mapping of one heatmap.
#[derive(Debug, Clone, Copy)]
struct Scale {
    diverging: bool,
    lo: f64,
    hi: f64,
}

const NAN_COLOR: (u8, u8, u8) = (190, 190, 190);
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];
/// ColorBrewer RdBu reversed: blue for negative, near-white at 0, red for positive.
const RDBU: [(u8, u8, u8); 11] = [
    (5, 48, 97),
    (33, 102, 172),
    (67, 147, 195),
    (146, 197, 222),
    (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199),
    (244, 165, 130),
    (214, 96, 77),
    (178, 24, 43),
    (103, 0, 31),
];

fn interpolate(anchors: &[(u8, u8, u8)], t: f64) -> (u8, u8, u8) {
    let t = t.clamp(0.0, 1.0) * (anchors.len() - 1) as f64;
    let i = (t.floor() as usize).min(anchors.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + f * (f64::from(b) - f64::from(a))).round() as u8;
    let (a, b) = (anchors[i], anchors[i + 1]);
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

impl Scale {
    fn new(grid: &Grid, colormap: Colormap) -> Scale {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in grid.data.iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > hi {
            (lo, hi) = (0.0, 0.0);
        }
        let diverging = match colormap {
            Colormap::Auto => lo < 0.0 && hi > 0.0,
            Colormap::Diverging => true,
            Colormap::Sequential => false,
        };
        if diverging {
            let m = lo.abs().max(hi.abs());
            let m = if m > 0.0 { m } else { 1.0 };
            Scale { diverging, lo: -m, hi: m }
        } else if hi > lo {
            Scale { diverging, lo, hi }
        } else {
            // Constant data: the middle colour.
            Scale { diverging, lo: lo - 1.0, hi: hi + 1.0 }
        }
    }

    fn color(&self, v: f64) -> (u8, u8, u8) {
        if !v.is_finite() {
            return NAN_COLOR;
        }
        let t = (v - self.lo) / (self.hi - self.lo);
        if self.diverging { interpolate(&RDBU, t) } else { interpolate(&VIRIDIS, t) }
    }
}

/// Draws a matrix as a heatmap; the format follows the extension of `path`:
///
/// * `.png`: one square block of pixels per entry (entries are block-averaged when a side
///   exceeds 1024) plus a colour bar on the right, **without any text** (the bitmap backend
///   cannot draw text without system fonts); `title` is not drawn.
/// * `.svg`: the title, row/column index labels, and a colour bar labelled with its range. At
///   most 128 cells per side are drawn as rectangles; larger matrices are block-averaged and the
///   title says so (use `.png` for full resolution).
///
/// Row 0 is at the top. Non-finite entries are grey. With [`Colormap::Auto`] data with both signs
/// gets a diverging map centred at 0, otherwise a sequential one.
pub fn heatmap(path: &Path, data: impl IntoGrid, title: &str, colormap: Colormap) -> anyhow::Result<()> {
    let ext = check_extension(path, &["png", "svg"])?;
    let grid = data.into_grid()?;
    let scale = Scale::new(&grid, colormap);
    if ext == "png" {
        heatmap_png(path, &grid.downsampled(1024), scale)
    } else {
        heatmap_svg(path, &grid, title, scale)
    }
}

fn heatmap_png(path: &Path, grid: &Grid, scale: Scale) -> anyhow::Result<()> {
    const MARGIN: usize = 8;
    const GAP: usize = 12;
    const BAR: usize = 18;
    let side = grid.rows.max(grid.cols);
    let cell = (512 / side).max(1);
    let (mw, mh) = (grid.cols * cell, grid.rows * cell);
    let bar_h = mh.max(64);
    let w = MARGIN + mw + GAP + BAR + MARGIN;
    let h = MARGIN + mh.max(bar_h) + MARGIN;
    let mut buf = vec![255u8; w * h * 3];
    let mut put = |x: usize, y: usize, (r, g, b): (u8, u8, u8)| {
        let k = 3 * (y * w + x);
        buf[k] = r;
        buf[k + 1] = g;
        buf[k + 2] = b;
    };
    for i in 0..grid.rows {
        for j in 0..grid.cols {
            let c = scale.color(grid.get(i, j));
            for y in MARGIN + i * cell..MARGIN + (i + 1) * cell {
                for x in MARGIN + j * cell..MARGIN + (j + 1) * cell {
                    put(x, y, c);
                }
            }
        }
    }
    // Colour bar: top = maximum, bottom = minimum, with a thin dark frame.
    let bx = MARGIN + mw + GAP;
    for y in 0..bar_h {
        let t = 1.0 - y as f64 / (bar_h - 1) as f64;
        let c = scale.color(scale.lo + t * (scale.hi - scale.lo));
        for x in bx..bx + BAR {
            let frame = x == bx || x == bx + BAR - 1 || y == 0 || y == bar_h - 1;
            put(x, MARGIN + y, if frame { (60, 60, 60) } else { c });
        }
    }
    let mut backend = BitMapBackend::new(path, (w as u32, h as u32));
    backend.blit_bitmap((0, 0), (w as u32, h as u32), &buf).map_err(draw_err)?;
    backend.present().map_err(draw_err).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn heatmap_svg(path: &Path, full: &Grid, title: &str, scale: Scale) -> anyhow::Result<()> {
    const MAX_SIDE: usize = 128;
    let grid = full.downsampled(MAX_SIDE);
    let mut caption = title.to_string();
    if grid.rows != full.rows || grid.cols != full.cols {
        caption =
            format!("{title} ({}x{} block-averaged to {}x{})", full.rows, full.cols, grid.rows, grid.cols)
                .trim()
                .to_string();
    }
    let side = grid.rows.max(grid.cols);
    let cell = (480 / side).max(2) as i32;
    let (mw, mh) = (grid.cols as i32 * cell, grid.rows as i32 * cell);
    let left = 60;
    let top = if caption.is_empty() { 20 } else { 50 };
    let bar_x = left + mw + 20;
    let bar_w = 20;
    let bar_h = mh.max(120);
    let label_w = 90;
    let caption_w = (caption.len() as i32) * 11 + 40;
    let w = (bar_x + bar_w + label_w).max(caption_w);
    let h = top + mh.max(bar_h) + 40;

    let root = SVGBackend::new(path, (w as u32, h as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let text = |size: f64, h: HPos, v: VPos| {
        TextStyle::from((FONT, size).into_font()).color(&BLACK).pos(Pos::new(h, v))
    };
    if !caption.is_empty() {
        root.draw(&Text::new(caption.clone(), (w / 2, 16), text(20.0, HPos::Center, VPos::Top)))
            .map_err(draw_err)?;
    }
    for i in 0..grid.rows {
        for j in 0..grid.cols {
            let (r, g, b) = scale.color(grid.get(i, j));
            let (x, y) = (left + j as i32 * cell, top + i as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(r, g, b).filled()))
                .map_err(draw_err)?;
        }
    }
    root.draw(&Rectangle::new(
        [(left, top), (left + mw, top + mh)],
        ShapeStyle::from(&RGBColor(90, 90, 90)).stroke_width(1),
    ))
    .map_err(draw_err)?;
    // Index labels (of the original matrix): first/last row on the left, first/last column below.
    let small = |h: HPos, v: VPos| text(12.0, h, v);
    let labels = [
        ("0".to_string(), (left - 6, top), small(HPos::Right, VPos::Top)),
        (format!("{}", full.rows - 1), (left - 6, top + mh), small(HPos::Right, VPos::Bottom)),
        ("0".to_string(), (left, top + mh + 6), small(HPos::Left, VPos::Top)),
        (format!("{}", full.cols - 1), (left + mw, top + mh + 6), small(HPos::Right, VPos::Top)),
        (
            format!("{} x {}", full.rows, full.cols),
            (left + mw / 2, top + mh + 6),
            small(HPos::Center, VPos::Top),
        ),
    ];
    for (s, pos, style) in labels {
        root.draw(&Text::new(s, pos, style)).map_err(draw_err)?;
    }
    // Colour bar with its range.
    let steps = 100;
    for k in 0..steps {
        let t = 1.0 - (k as f64 + 0.5) / steps as f64;
        let (r, g, b) = scale.color(scale.lo + t * (scale.hi - scale.lo));
        let y0 = top + k * bar_h / steps;
        let y1 = top + (k + 1) * bar_h / steps;
        root.draw(&Rectangle::new([(bar_x, y0), (bar_x + bar_w, y1)], RGBColor(r, g, b).filled()))
            .map_err(draw_err)?;
    }
    root.draw(&Rectangle::new(
        [(bar_x, top), (bar_x + bar_w, top + bar_h)],
        ShapeStyle::from(&RGBColor(90, 90, 90)).stroke_width(1),
    ))
    .map_err(draw_err)?;
    let mut bar_labels =
        vec![(fmt_num(scale.hi), top, VPos::Top), (fmt_num(scale.lo), top + bar_h, VPos::Bottom)];
    if scale.diverging {
        bar_labels.push(("0".to_string(), top + bar_h / 2, VPos::Center));
    }
    for (s, y, v) in bar_labels {
        root.draw(&Text::new(s, (bar_x + bar_w + 6, y), small(HPos::Left, v))).map_err(draw_err)?;
    }
    root.present().map_err(draw_err).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_dir;

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

    #[test]
    fn line_plot_writes_svg_with_text() {
        let dir = test_dir("line_plot");
        let path = dir.join("acc.svg");
        let plot = LinePlot::new("Grokking & <friends>")
            .x_label("iteration")
            .y_label("accuracy")
            .series(Series::from_ys("train", &[1.0, 1.0, 1.0, 1.0]))
            .series(Series::from_ys("test", &[0.0, f64::NAN, 0.5, 0.99]).with_markers())
            .series(Series::new("constant", vec![(0.0, 0.3), (3.0, 0.3)]).dashed())
            .series(Series::new("single", vec![(2.0, 0.7)]))
            .vline(1.5, "transition")
            .hline(0.5, "chance");
        line_plot(&path, &plot).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..50.min(svg.len())]);
        for needle in [
            "Grokking &amp; &lt;friends&gt;",
            "iteration",
            "accuracy",
            "train",
            "test",
            "transition",
            "chance",
            "<circle",
        ] {
            assert!(svg.contains(needle), "SVG lacks {needle}");
        }
    }

    #[test]
    fn line_plot_handles_degenerate_data() {
        let dir = test_dir("line_plot_degenerate");
        let cases = [
            LinePlot::new("empty"),
            LinePlot::new("one point").line("p", vec![(3.0, 3.0)]),
            LinePlot::new("all nan").line("nan", vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)]),
            LinePlot::new("log with zeros")
                .log_y()
                .log_x()
                .line("mse", vec![(0.0, 1.0), (1.0, 0.1), (10.0, 0.0), (100.0, 1e-3)]),
            LinePlot::new("log constant").log_y().line("c", vec![(0.0, 2.0), (1.0, 2.0)]),
            LinePlot::new("huge").line("h", vec![(0.0, -1e300), (1.0, 1e300)]),
            LinePlot::new("bad ranges").line("r", vec![(0.0, 1.0), (1.0, 2.0)]).y_range(1.0, 0.0),
        ];
        for (k, plot) in cases.iter().enumerate() {
            let path = dir.join(format!("case{k}.svg"));
            line_plot(&path, plot).unwrap_or_else(|e| panic!("{}: {e:#}", plot.title));
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.contains(&plot.title), "{}", plot.title);
        }
        assert!(std::fs::read_to_string(dir.join("case0.svg")).unwrap().contains("no finite data"));
        assert!(line_plot(&dir.join("x.png"), &cases[1]).is_err());
        assert!(line_plot(&dir.join("missing/x.svg"), &cases[1]).is_err());
    }

    #[test]
    fn auto_range_cases() {
        assert_eq!(auto_range([2.0].into_iter(), false), (1.8, 2.2));
        assert_eq!(auto_range([0.0, 0.0].into_iter(), false), (-1.0, 1.0));
        assert_eq!(auto_range(std::iter::empty(), true), (0.1, 10.0));
        let (lo, hi) = auto_range([0.0, 10.0].into_iter(), false);
        assert!((lo + 0.5).abs() < 1e-12 && (hi - 10.5).abs() < 1e-12);
        let (lo, hi) = auto_range([1.0].into_iter(), true);
        assert!(lo < 1.0 && hi > 1.0 && lo > 0.0);
    }

    #[test]
    fn grid_plot_writes_panels() {
        let dir = test_dir("grid_plot");
        let path = dir.join("grid.svg");
        let panels: Vec<LinePlot> = (0..3)
            .map(|k| LinePlot::new(format!("panel {k}")).line("y", vec![(0.0, 0.0), (1.0, k as f64)]))
            .collect();
        grid_plot(&path, "three panels", &panels, 2).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for needle in ["three panels", "panel 0", "panel 2"] {
            assert!(svg.contains(needle));
        }
    }

    #[test]
    fn heatmap_writes_png_and_svg() {
        let dir = test_dir("heatmap");
        let rows: Vec<Vec<f64>> =
            (0..12).map(|i| (0..9).map(|j| (i as f64 - 5.0) * (j as f64 + 1.0)).collect()).collect();
        let png = dir.join("h.png");
        heatmap(&png, &rows, "ignored in png", Colormap::Auto).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.len() > 100 && bytes[..8] == PNG_SIGNATURE);

        let svg = dir.join("h.svg");
        heatmap(&svg, &rows, "AGOP of layer 1", Colormap::Auto).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("AGOP of layer 1") && text.contains("<rect"));

        // faer input, a large matrix (downsampled in SVG), NaNs and constant data.
        let m = faer::Mat::<f64>::from_fn(400, 300, |i, j| if i == j { f64::NAN } else { (i + j) as f64 });
        heatmap(&dir.join("big.svg"), m.as_ref(), "big", Colormap::Sequential).unwrap();
        let big = std::fs::read_to_string(dir.join("big.svg")).unwrap();
        assert!(big.contains("400x300 block-averaged to 128x96"));
        heatmap(&dir.join("big.png"), &m, "", Colormap::Auto).unwrap();
        let bytes = std::fs::read(dir.join("big.png")).unwrap();
        assert!(bytes[..8] == PNG_SIGNATURE);
        heatmap(&dir.join("const.png"), &vec![vec![0.0; 3]; 2], "", Colormap::Diverging).unwrap();
        assert!(heatmap(&dir.join("r.png"), &vec![vec![0.0; 3], vec![1.0]], "", Colormap::Auto).is_err());
        assert!(heatmap(&dir.join("e.png"), &Vec::<Vec<f64>>::new(), "", Colormap::Auto).is_err());
        assert!(heatmap(&dir.join("x.jpg"), &rows, "", Colormap::Auto).is_err());
    }

    #[test]
    fn colormaps_centre_and_order() {
        let g = Grid::from_rows(&[vec![-2.0, 1.0]]).unwrap();
        let s = Scale::new(&g, Colormap::Auto);
        assert!(s.diverging && s.lo == -2.0 && s.hi == 2.0);
        assert_eq!(s.color(0.0), (247, 247, 247));
        let s = Scale::new(&Grid::from_rows(&[vec![1.0, 3.0]]).unwrap(), Colormap::Auto);
        assert!(!s.diverging);
        assert_eq!(s.color(1.0), VIRIDIS[0]);
        assert_eq!(s.color(3.0), VIRIDIS[8]);
        assert_eq!(s.color(f64::NAN), NAN_COLOR);
    }
}

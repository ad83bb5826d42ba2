//! ConvRFM: patch-based AGOP and a convolutional kernel whose metric acts on image patches
//! (Beaglehole, Radhakrishnan, Pandit, Belkin 2023, "Mechanism of feature learning in
//! convolutional neural networks").
//!
//! The reference implementation uses the infinite-width CNTK as base kernel (GPU-scale). This module
//! keeps the mechanism in a closed form that runs on a laptop CPU ("ConvRFM-lite" of the spec):
//!
//! ```text
//! aligned:    k_M(x, z) = (1/|U|)   sum_u     k_base(x_u, z_u)   with ||x_u - z_u||_M
//! all-pairs:  k_M(x, z) = (1/|U|^2) sum_{u,v} k_base(x_u, z_v)
//! ```
//!
//! where `x_u` is the `q x q` patch (all channels, length `C q^2`) of image `x` centred at pixel `u`
//! (circular or zero padding of `q / 2`), `k_base` a kernel of `(<x_u, z_u>_M, ||x_u||_M^2,
//! ||z_u||_M^2)` (Laplace or Gaussian in the Mahalanobis distance `||v||_M = sqrt(v^T M v)`, or the
//! two-layer ReLU NTK, which makes the aligned kernel the NTK of a one-layer ReLU CNN with `q x q`
//! filters and a dense read-out, the reference's CNTK at depth 1), and `|U| = H W`. For a kernel
//! predictor `f_c(x) = sum_j alpha_jc k_M(x, z_j)`, treating every patch copy as its own variable,
//! the aligned kernel has the closed-form patch gradient
//!
//! ```text
//! grad_{x_u} f_c(x) = (1/|U|) sum_j alpha_jc M (k'_ip(x_u, z_ju) z_ju + 2 k'_nx(x_u, z_ju) x_u)
//! ```
//!
//! (`k'_ip = dk/d<x,z>_M`, `k'_nx = dk/d||x||_M^2`; for radial kernels `k = phi(||x - z||_M^2)` this
//! is `sum_j alpha_jc k'_ip M (z_ju - x_u)` with `k'_ip = -2 phi'`), and the patch AGOP
//! `(1/n) sum_x sum_u sum_c grad grad^T` is a `C q^2 x C q^2` matrix. ConvRFM alternates a kernel
//! ridge fit with `M <- AGOP^p / ||AGOP^p||_F` (`p` = [`ConvRfmParams::power`]). The reference code
//! multiplies patches by `AGOP^{1/2}` before its kernel, which is the metric `AGOP` in the convention
//! here (`p = 1`). The top eigenvectors of `M`, reshaped to `q x q`, are the learned filters.
//!
//! ```
//! use faer::Mat;
//! use kernels::KernelSpec;
//! use rfm::conv::{Padding, PatchKernel, PatchSpec, patch_kernel_matrix};
//! let spec = PatchSpec::new(1, 4, 4, 3, Padding::Circular).unwrap();
//! let images = Mat::from_fn(2, 16, |i, j| ((i + 1) * j) as f64 / 16.0);
//! let patches = spec.extract(images.as_ref()).unwrap();
//! assert_eq!((patches.n(), patches.positions(), patches.dim()), (2, 16, 9));
//! let kernel = PatchKernel::aligned(KernelSpec::laplace(2.0));
//! let k = patch_kernel_matrix(&kernel, Mat::identity(9, 9).as_ref(), &patches, &patches).unwrap();
//! assert!((k[(0, 0)] - 1.0).abs() < 1e-12 && k[(0, 1)] < 1.0);
//! ```
use crate::error::{Result, RfmError, invalid};
use crate::rfm::{Control, Normalization};
use datasets::Dataset;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use kernels::{GradStructure, Kernel, KernelSpec};
use rand::seq::index::sample;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How patches at the image border are completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Padding {
    /// Wrap around (the image is a torus): every pixel is in exactly `q^2` patches.
    #[default]
    Circular,
    /// Zeros outside the image.
    Zero,
}

/// Image layout and patch geometry. Images are rows of length `C H W`, channel-major
/// (`index = c H W + i W + j`); a patch is laid out the same way (`c q^2 + a q + b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchSpec {
    /// Channels `C`.
    pub channels: usize,
    /// Image height `H`.
    pub height: usize,
    /// Image width `W`.
    pub width: usize,
    /// Patch side `q` (odd).
    pub q: usize,
    /// Border handling.
    pub padding: Padding,
}

impl PatchSpec {
    /// Checks and builds the geometry: all sizes at least 1, `q` odd and not larger than the image.
    pub fn new(channels: usize, height: usize, width: usize, q: usize, padding: Padding) -> Result<Self> {
        let spec = PatchSpec { channels, height, width, q, padding };
        spec.validate()?;
        Ok(spec)
    }

    /// See [`PatchSpec::new`].
    pub fn validate(&self) -> Result<()> {
        if self.channels == 0 || self.height == 0 || self.width == 0 {
            return Err(invalid(
                "image shape",
                format!("{}x{}x{}", self.channels, self.height, self.width),
                "channels, height and width must be at least 1",
            ));
        }
        if self.q == 0 || self.q.is_multiple_of(2) {
            return Err(invalid("patch size q", self.q, "must be odd and at least 1"));
        }
        if self.q > self.height || self.q > self.width {
            return Err(invalid(
                "patch size q",
                self.q,
                &format!("is larger than the {}x{} image", self.height, self.width),
            ));
        }
        Ok(())
    }

    /// Length of one image row, `C H W`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Number of patch positions `|U| = H W`.
    pub fn positions(&self) -> usize {
        self.height * self.width
    }

    /// Patch length `C q^2`.
    pub fn patch_dim(&self) -> usize {
        self.channels * self.q * self.q
    }

    /// Source pixel of patch entry `(c, a, b)` at position `(r, s)`, or `None` for zero padding.
    fn source(&self, c: usize, r: usize, s: usize, a: usize, b: usize) -> Option<usize> {
        let half = (self.q / 2) as isize;
        let (h, w) = (self.height as isize, self.width as isize);
        let mut i = r as isize + a as isize - half;
        let mut j = s as isize + b as isize - half;
        match self.padding {
            Padding::Circular => {
                i = i.rem_euclid(h);
                j = j.rem_euclid(w);
            }
            Padding::Zero => {
                if i < 0 || j < 0 || i >= h || j >= w {
                    return None;
                }
            }
        }
        Some(c * self.height * self.width + i as usize * self.width + j as usize)
    }

    /// Extracts every patch of every image (rows of `images`, each of length `C H W`).
    pub fn extract(&self, images: MatRef<'_, f64>) -> Result<PatchSet> {
        self.validate()?;
        linalg::validate::check_data("images", images)?;
        if images.ncols() != self.image_len() {
            return Err(invalid(
                "image shape",
                images.ncols(),
                &format!(
                    "rows must have C*H*W = {}*{}*{} = {} entries",
                    self.channels,
                    self.height,
                    self.width,
                    self.image_len()
                ),
            ));
        }
        let n = images.nrows();
        let (q, pd) = (self.q, self.patch_dim());
        let patches: Vec<Mat<f64>> = (0..self.positions())
            .into_par_iter()
            .map(|u| {
                let (r, s) = (u / self.width, u % self.width);
                let mut m = Mat::<f64>::zeros(n, pd);
                for c in 0..self.channels {
                    for a in 0..q {
                        for b in 0..q {
                            let k = c * q * q + a * q + b;
                            if let Some(src) = self.source(c, r, s, a, b) {
                                for i in 0..n {
                                    m[(i, k)] = images[(i, src)];
                                }
                            }
                        }
                    }
                }
                m
            })
            .collect();
        Ok(PatchSet { patches, n, dim: pd })
    }

    /// Rebuilds the images from the centre pixels of their patches (the inverse of
    /// [`PatchSpec::extract`] on the centre entries).
    pub fn reassemble(&self, patches: &PatchSet) -> Result<Mat<f64>> {
        if patches.positions() != self.positions() || patches.dim() != self.patch_dim() {
            return Err(invalid("patch set", patches.positions(), "does not match the patch geometry"));
        }
        let (q, hw) = (self.q, self.height * self.width);
        let centre = (q / 2) * q + q / 2;
        Ok(Mat::from_fn(patches.n(), self.image_len(), |i, idx| {
            let (c, u) = (idx / hw, idx % hw);
            patches.patches[u][(i, c * q * q + centre)]
        }))
    }
}

/// The patches of `n` images, stored position-major: one `n x (C q^2)` matrix per position.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchSet {
    patches: Vec<Mat<f64>>,
    n: usize,
    dim: usize,
}

impl PatchSet {
    /// Builds a patch set from per-position matrices (all `n x dim`, finite).
    pub fn from_positions(patches: Vec<Mat<f64>>) -> Result<Self> {
        let first = patches.first().ok_or_else(|| invalid("patch set", 0, "needs at least one position"))?;
        let (n, dim) = (first.nrows(), first.ncols());
        for p in &patches {
            linalg::validate::check_data("patches", p.as_ref())?;
            linalg::validate::check_shape("patches of one position", p.as_ref(), n, dim)?;
        }
        Ok(PatchSet { patches, n, dim })
    }
    /// Number of images.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Number of positions `|U|`.
    pub fn positions(&self) -> usize {
        self.patches.len()
    }
    /// Patch length.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// The `n x dim` patches at position `u`.
    pub fn position(&self, u: usize) -> MatRef<'_, f64> {
        self.patches[u].as_ref()
    }
    /// The patches of images `rows` (in that order).
    pub fn select(&self, rows: &[usize]) -> PatchSet {
        let patches =
            self.patches.iter().map(|p| Mat::from_fn(rows.len(), self.dim, |i, k| p[(rows[i], k)])).collect();
        PatchSet { patches, n: rows.len(), dim: self.dim }
    }
}

/// How patches of the two images are paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Pooling {
    /// Same positions only (`sum_u`): invariant to translating both images together.
    #[default]
    Aligned,
    /// Every pair of positions (`sum_{u,v}`): invariant to translating one image (circular padding).
    AllPairs,
}

/// A patch kernel: a base kernel on patches and a pooling rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatchKernel {
    /// Base kernel on patches (any [`KernelSpec`]; gradients use its `(dk/dnx, dk/dip)`).
    pub base: KernelSpec,
    /// Pooling over positions.
    pub pooling: Pooling,
}

impl PatchKernel {
    /// Aligned-patch kernel.
    pub fn aligned(base: KernelSpec) -> Self {
        PatchKernel { base, pooling: Pooling::Aligned }
    }
    /// All-pairs (translation-invariant) kernel.
    pub fn all_pairs(base: KernelSpec) -> Self {
        PatchKernel { base, pooling: Pooling::AllPairs }
    }
}

fn check_metric(metric: MatRef<'_, f64>, dim: usize) -> Result<()> {
    linalg::validate::check_shape("patch metric M", metric, dim, dim)?;
    linalg::validate::check_finite("patch metric M", metric)?;
    Ok(())
}

/// `P M` for every position, and the squared norms `diag(P M P^T)`.
fn transform(set: &PatchSet, metric: MatRef<'_, f64>) -> (Vec<Mat<f64>>, Vec<Vec<f64>>) {
    set.patches
        .par_iter()
        .map(|p| {
            let pm = p * metric;
            let norms =
                (0..p.nrows()).map(|i| (0..p.ncols()).map(|k| pm[(i, k)] * p[(i, k)]).sum()).collect();
            (pm, norms)
        })
        .unzip()
}

fn add_into(acc: &mut Mat<f64>, b: &Mat<f64>) {
    for j in 0..acc.ncols() {
        for (x, y) in acc.col_as_slice_mut(j).iter_mut().zip(b.col_as_slice(j)) {
            *x += *y;
        }
    }
}

/// Number of fixed chunks the position loops are split into: partial sums are added in chunk order,
/// so results do not depend on the thread count or on work stealing.
const CHUNKS: usize = 8;

/// `sum_{i < items} step(i)` computed in [`CHUNKS`] parallel chunks with per-chunk state, the
/// partial results added in a fixed order (deterministic floating point).
fn ordered_sum<S: Send>(
    items: usize,
    init: impl Fn() -> S + Sync,
    step: impl Fn(&mut S, usize) + Sync,
    result: impl Fn(S) -> Mat<f64> + Sync,
) -> Mat<f64> {
    let chunk = items.div_ceil(CHUNKS).max(1);
    let parts: Vec<Mat<f64>> = (0..items.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut state = init();
            for i in c * chunk..((c + 1) * chunk).min(items) {
                step(&mut state, i);
            }
            result(state)
        })
        .collect();
    let mut parts = parts.into_iter();
    let mut total = parts.next().unwrap_or_else(|| result(init()));
    for p in parts {
        add_into(&mut total, &p);
    }
    total
}

/// The patch kernel matrix `K(a, b)` (`a.n() x b.n()`) in the patch metric `M` (`dim x dim`,
/// symmetric PSD). Positions are processed in parallel, one `a.n() x b.n()` accumulator per thread.
pub fn patch_kernel_matrix(
    kernel: &PatchKernel,
    metric: MatRef<'_, f64>,
    a: &PatchSet,
    b: &PatchSet,
) -> Result<Mat<f64>> {
    kernel.base.validate()?;
    check_metric(metric, a.dim())?;
    if a.dim() != b.dim() || a.positions() != b.positions() {
        return Err(invalid("patch sets", b.dim(), "the two patch sets have different geometries"));
    }
    let (na, nb, npos) = (a.n(), b.n(), a.positions());
    let (am, norms_a) = transform(a, metric);
    let (_, norms_b) = transform(b, metric);
    let pairs: Vec<(usize, usize)> = match kernel.pooling {
        Pooling::Aligned => (0..npos).map(|u| (u, u)).collect(),
        Pooling::AllPairs => (0..npos).flat_map(|u| (0..npos).map(move |v| (u, v))).collect(),
    };
    let base = &kernel.base;
    let mut k = ordered_sum(
        pairs.len(),
        || (Mat::<f64>::zeros(na, nb), Mat::<f64>::zeros(na, nb)),
        |(acc, ip), p| {
            let (u, v) = pairs[p];
            matmul(ip.as_mut(), Accum::Replace, am[u].as_ref(), b.patches[v].transpose(), 1.0, Par::Seq);
            for (j, &nz) in norms_b[v].iter().enumerate() {
                base.values_col(ip.col_as_slice_mut(j), &norms_a[u], nz);
            }
            add_into(acc, ip);
        },
        |(acc, _)| acc,
    );
    let scale = 1.0 / pairs.len() as f64;
    for j in 0..nb {
        k.col_as_slice_mut(j).iter_mut().for_each(|x| *x *= scale);
    }
    Ok(k)
}

/// The validated inputs of the patch-gradient routines, with `P M` and the squared norms of the
/// evaluation patches and the norms of the training patches computed once.
struct GradientSetup<'a> {
    base: &'a KernelSpec,
    train: &'a PatchSet,
    eval: &'a PatchSet,
    alpha: MatRef<'a, f64>,
    eval_m: Vec<Mat<f64>>,
    norms_e: Vec<Vec<f64>>,
    norms_t: Vec<Vec<f64>>,
}

/// Per-thread scratch of [`GradientSetup::position`]: kernel derivatives and weights
/// (`ne x nt`; `dnx` only for kernels with [`GradStructure::General`]), the `h` block (`ne x dim`)
/// and the coefficients of the evaluation patch in `h`.
struct GradientBuffers {
    dip: Mat<f64>,
    dnx: Mat<f64>,
    weights: Mat<f64>,
    h: Mat<f64>,
    row_sums: Vec<f64>,
}

impl<'a> GradientSetup<'a> {
    fn new(
        kernel: &'a PatchKernel,
        metric: MatRef<'_, f64>,
        train: &'a PatchSet,
        alpha: MatRef<'a, f64>,
        eval: &'a PatchSet,
    ) -> Result<Self> {
        kernel.base.validate()?;
        if kernel.pooling != Pooling::Aligned {
            return Err(invalid(
                "pooling",
                "AllPairs",
                "patch gradients are implemented for aligned pooling",
            ));
        }
        check_metric(metric, train.dim())?;
        if train.dim() != eval.dim() || train.positions() != eval.positions() {
            return Err(invalid(
                "patch sets",
                eval.dim(),
                "training and evaluation patches differ in geometry",
            ));
        }
        if alpha.nrows() != train.n() {
            return Err(invalid(
                "alpha",
                alpha.nrows(),
                &format!("needs one row per training image ({})", train.n()),
            ));
        }
        linalg::validate::check_finite("alpha", alpha)?;
        let (_, norms_t) = transform(train, metric);
        let (eval_m, norms_e) = transform(eval, metric);
        Ok(GradientSetup { base: &kernel.base, train, eval, alpha, eval_m, norms_e, norms_t })
    }

    fn buffers(&self) -> GradientBuffers {
        let (ne, nt) = (self.eval.n(), self.train.n());
        let general = self.base.grad_structure() == GradStructure::General;
        GradientBuffers {
            dip: Mat::zeros(ne, nt),
            dnx: if general { Mat::zeros(ne, nt) } else { Mat::zeros(0, 0) },
            weights: Mat::zeros(ne, nt),
            h: Mat::zeros(ne, self.train.dim()),
            row_sums: vec![0.0; ne],
        }
    }

    /// Calls `sink(c, h)` for every output `c` with the `h` vectors at position `u` (`ne x dim`):
    /// `h_i = sum_j alpha_jc (dk/dip_ij z_ju + 2 dk/dnx_ij x_iu) / |U|`; the patch gradient is `M h_i`.
    /// For radial kernels (`2 dk/dnx = -dk/dip`) this is `sum_j w_ij (z_ju - x_iu)` with
    /// `w_ij = alpha_jc dk/dip_ij / |U|`.
    fn position(&self, u: usize, buf: &mut GradientBuffers, mut sink: impl FnMut(usize, MatRef<'_, f64>)) {
        let (train_u, eval_u) = (self.train.position(u), self.eval.position(u));
        let scale = 1.0 / self.train.positions() as f64;
        let structure = self.base.grad_structure();
        let GradientBuffers { dip, dnx, weights, h, row_sums } = buf;
        matmul(dip.as_mut(), Accum::Replace, self.eval_m[u].as_ref(), train_u.transpose(), 1.0, Par::Seq);
        if structure == GradStructure::General {
            dnx.copy_from(dip.as_ref());
            for (j, &nz) in self.norms_t[u].iter().enumerate() {
                self.base.dnx_col(dnx.col_as_slice_mut(j), &self.norms_e[u], nz);
            }
        }
        for (j, &nz) in self.norms_t[u].iter().enumerate() {
            self.base.dip_col(dip.col_as_slice_mut(j), &self.norms_e[u], nz);
        }
        for c in 0..self.alpha.ncols() {
            // row_sums[i] ends as minus the coefficient of x_iu in h_i
            row_sums.iter_mut().for_each(|r| *r = 0.0);
            for j in 0..train_u.nrows() {
                let a = self.alpha[(j, c)] * scale;
                let col = weights.col_as_slice_mut(j);
                match structure {
                    GradStructure::Radial => {
                        for ((w, d), r) in col.iter_mut().zip(dip.col_as_slice(j)).zip(row_sums.iter_mut()) {
                            *w = a * d;
                            *r += *w;
                        }
                    }
                    GradStructure::DotProduct => {
                        for (w, d) in col.iter_mut().zip(dip.col_as_slice(j)) {
                            *w = a * d;
                        }
                    }
                    GradStructure::General => {
                        let dn = dnx.col_as_slice(j);
                        for (((w, d), r), n) in
                            col.iter_mut().zip(dip.col_as_slice(j)).zip(row_sums.iter_mut()).zip(dn)
                        {
                            *w = a * d;
                            *r -= 2.0 * a * n;
                        }
                    }
                }
            }
            matmul(h.as_mut(), Accum::Replace, weights.as_ref(), train_u, 1.0, Par::Seq);
            if structure != GradStructure::DotProduct {
                for k in 0..h.ncols() {
                    for (i, &r) in row_sums.iter().enumerate() {
                        h[(i, k)] -= r * eval_u[(i, k)];
                    }
                }
            }
            sink(c, h.as_ref());
        }
    }
}

/// Patch gradients of the kernel predictor `f(x) = K_M(x, train) alpha` (aligned pooling) at the
/// evaluation images: `out[i * c + o]` is the `|U| x dim` matrix whose row `u` is
/// `grad_{x_u} f_o(x_i)` (patch copies treated as independent variables).
pub fn patch_gradients(
    kernel: &PatchKernel,
    metric: MatRef<'_, f64>,
    train: &PatchSet,
    alpha: MatRef<'_, f64>,
    eval: &PatchSet,
) -> Result<Vec<Mat<f64>>> {
    let setup = GradientSetup::new(kernel, metric, train, alpha, eval)?;
    let (ne, c, npos, dim) = (eval.n(), alpha.ncols(), train.positions(), train.dim());
    let mut out = vec![Mat::<f64>::zeros(npos, dim); ne * c];
    let mut buf = setup.buffers();
    for u in 0..npos {
        setup.position(u, &mut buf, |o, hb| {
            let g = hb * metric;
            for i in 0..ne {
                for k in 0..dim {
                    out[i * c + o][(u, k)] = g[(i, k)];
                }
            }
        });
    }
    Ok(out)
}

/// The patch AGOP `(1/n_images) sum_g g^T g` of patch-gradient matrices (each `|U| x dim`, one per
/// image and output, as returned by [`patch_gradients`]).
pub fn patch_agop_from_gradients(grads: &[Mat<f64>], n_images: usize) -> Result<Mat<f64>> {
    let first = grads.first().ok_or_else(|| invalid("gradients", 0, "need at least one gradient matrix"))?;
    if n_images == 0 {
        return Err(invalid("n_images", 0, "must be at least 1"));
    }
    let dim = first.ncols();
    let mut acc = Mat::<f64>::zeros(dim, dim);
    for g in grads {
        linalg::validate::check_ncols("patch gradient", g.as_ref(), dim)?;
        matmul(acc.as_mut(), Accum::Add, g.transpose(), g.as_ref(), 1.0, Par::Seq);
    }
    Ok(&acc * (1.0 / n_images as f64))
}

/// The patch AGOP of the kernel predictor `K_M(., train) alpha` (aligned pooling) over the
/// evaluation images, without materialising the gradients: `M (sum_{i,u,c} h h^T) M / n_eval`.
/// Positions run in parallel with one `dim x dim` accumulator per thread.
pub fn patch_agop(
    kernel: &PatchKernel,
    metric: MatRef<'_, f64>,
    train: &PatchSet,
    alpha: MatRef<'_, f64>,
    eval: &PatchSet,
) -> Result<Mat<f64>> {
    let setup = GradientSetup::new(kernel, metric, train, alpha, eval)?;
    let dim = train.dim();
    let inner = ordered_sum(
        train.positions(),
        || (Mat::<f64>::zeros(dim, dim), setup.buffers()),
        |(acc, buf), u| {
            setup
                .position(u, buf, |_, hb| matmul(acc.as_mut(), Accum::Add, hb.transpose(), hb, 1.0, Par::Seq))
        },
        |(acc, _)| acc,
    );
    let agop = metric * &inner * metric * (1.0 / eval.n() as f64);
    Ok(linalg::sym::symmetrize(agop.as_ref()))
}

/// Hyperparameters of ConvRFM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvRfmParams {
    /// Image and patch geometry.
    pub patch: PatchSpec,
    /// Base kernel on patches: Laplace or Gaussian (radial), or the two-layer ReLU NTK
    /// ([`KernelSpec::NtkRelu`], the patch kernel of the reference's one-layer CNTK).
    pub kernel: KernelSpec,
    /// Ridge of the kernel fits (`>= 0`), relative to the largest entry of the training kernel
    /// matrix (the reference divides `K` by it; for Laplace and Gaussian kernels that entry is 1).
    pub ridge: f64,
    /// Number of metric updates (`iters + 1` fits).
    pub iters: usize,
    /// `M = AGOP^power`. The paper writes `AGOP^{1/2}` but applies it as a patch transform
    /// `x -> AGOP^{1/2} x`, which is the metric `AGOP` here (`power = 1`); the default 0.5 is the
    /// metric `AGOP^{1/2}`.
    pub power: f64,
    /// Rescaling of `M` after each update (Frobenius in the paper).
    pub normalization: Normalization,
    /// Evaluate the AGOP on at most this many random training images (`None` = all).
    pub agop_samples: Option<usize>,
    /// Seed of the AGOP subsample.
    pub seed: u64,
}

impl ConvRfmParams {
    /// Defaults for a geometry: Laplace `L = 1`, ridge `1e-3`, 3 updates, `M = AGOP^{1/2}/||.||_F`,
    /// AGOP on 200 images. The first fit uses `M_0 = I` normalised the same way (`I / sqrt(C q^2)`
    /// under the Frobenius rule), so one bandwidth serves every iteration.
    pub fn new(patch: PatchSpec) -> Self {
        ConvRfmParams {
            patch,
            kernel: KernelSpec::laplace(1.0),
            ridge: 1e-3,
            iters: 3,
            power: 0.5,
            normalization: Normalization::Frobenius,
            agop_samples: Some(200),
            seed: 0,
        }
    }

    /// Checks the hyperparameters.
    pub fn validate(&self) -> Result<()> {
        self.patch.validate()?;
        self.kernel.validate()?;
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(invalid("ridge", self.ridge, "must be finite and >= 0"));
        }
        if !(self.power.is_finite() && self.power > 0.0) {
            return Err(invalid("power", self.power, "must be finite and > 0"));
        }
        if self.agop_samples == Some(0) {
            return Err(invalid("agop_samples", 0, "must be at least 1 (or None for all images)"));
        }
        Ok(())
    }

    /// Fits ConvRFM on images `train.x` (rows of length `C H W`) and calls `observer` after every
    /// fit with the model of that iteration.
    pub fn fit_with(
        &self,
        train: &Dataset,
        observer: &mut dyn FnMut(&ConvRfmStep<'_>) -> Control,
    ) -> Result<ConvRfmModel> {
        self.validate()?;
        train.validate()?;
        let patches = self.patch.extract(train.x.as_ref())?;
        let kernel = PatchKernel::aligned(self.kernel);
        let dim = self.patch.patch_dim();
        // M_0 = I with the same normalisation as the updates, so that the fixed kernel and the
        // learned ones work at the same distance scale for a given bandwidth
        let scale0 = match self.normalization {
            Normalization::Frobenius => 1.0 / (dim as f64).sqrt(),
            Normalization::Max | Normalization::None => 1.0,
        };
        let mut metric = Mat::<f64>::identity(dim, dim) * scale0;
        let n = train.n();
        let eval_rows: Vec<usize> = match self.agop_samples {
            Some(s) if s < n => {
                let mut rng = linalg::random::rng(self.seed);
                let mut idx = sample(&mut rng, n, s).into_vec();
                idx.sort_unstable();
                idx
            }
            _ => (0..n).collect(),
        };
        let eval = patches.select(&eval_rows);
        let mut model = None;
        for t in 0..=self.iters {
            let k = patch_kernel_matrix(&kernel, metric.as_ref(), &patches, &patches)?;
            let k_train = k.clone();
            // the reference divides K by its largest entry before solving with the ridge; that is
            // the same predictor as solving with the ridge times that entry (1 for Laplace/Gaussian)
            let kmax = k.norm_max();
            let ridge = if kmax.is_finite() && kmax > 0.0 { self.ridge * kmax } else { self.ridge };
            let (alpha, _) = linalg::solve::solve_sym_ridge(
                k,
                train.y.as_ref(),
                ridge,
                linalg::solve::Precision::F64,
                "ConvRFM kernel system",
            )?;
            let current =
                ConvRfmModel { params: self.clone(), metric: metric.clone(), train: patches.clone(), alpha };
            let next = if t < self.iters {
                let agop = patch_agop(&kernel, metric.as_ref(), &patches, current.alpha.as_ref(), &eval)?;
                Some(self.post_process(&agop, t)?)
            } else {
                None
            };
            let train_predictions = &k_train * &current.alpha;
            drop(k_train);
            let control = observer(&ConvRfmStep {
                iter: t,
                model: &current,
                next_metric: next.as_ref(),
                train_predictions: &train_predictions,
            });
            model = Some(current);
            match next {
                Some(m) if control == Control::Continue => metric = m,
                _ => break,
            }
        }
        model.ok_or_else(|| invalid("iters", self.iters, "no fit was run"))
    }

    fn post_process(&self, agop: &Mat<f64>, iter: usize) -> Result<Mat<f64>> {
        let degenerate = |what: &str| RfmError::DegenerateAgop {
            iter,
            what: what.into(),
            hint: "the predictor ignores the patches: lower the ridge or change the bandwidth".into(),
        };
        if !agop.as_ref().is_all_finite() {
            return Err(degenerate("not finite"));
        }
        let m = linalg::sym::sym_power(agop.as_ref(), self.power)?;
        let scale = match self.normalization {
            Normalization::None => 1.0,
            Normalization::Max => m.norm_max(),
            Normalization::Frobenius => m.norm_l2(),
        };
        if !(scale.is_finite() && scale > 0.0) {
            return Err(degenerate("zero"));
        }
        Ok(&m * (1.0 / scale))
    }
}

/// The state after ConvRFM fit `iter`.
#[derive(Debug)]
pub struct ConvRfmStep<'a> {
    /// Iteration (0 = the fixed patch kernel, `M = I`).
    pub iter: usize,
    /// The model fitted with the current metric.
    pub model: &'a ConvRfmModel,
    /// The metric learned from it (`None` at the last fit).
    pub next_metric: Option<&'a Mat<f64>>,
    /// The model's predictions on the training images (`K alpha`, from the fitted kernel matrix).
    pub train_predictions: &'a Mat<f64>,
}

/// A fitted ConvRFM predictor.
#[derive(Debug, Clone)]
pub struct ConvRfmModel {
    /// The parameters.
    pub params: ConvRfmParams,
    /// The patch metric `M` the predictor uses.
    pub metric: Mat<f64>,
    train: PatchSet,
    /// Kernel coefficients (`n x c`).
    pub alpha: Mat<f64>,
}

impl ConvRfmModel {
    /// Predictions for images (rows of length `C H W`).
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        let patches = self.params.patch.extract(x)?;
        self.predict_patches(&patches)
    }

    /// Predictions from already extracted patches.
    pub fn predict_patches(&self, patches: &PatchSet) -> Result<Mat<f64>> {
        let k = patch_kernel_matrix(
            &PatchKernel::aligned(self.params.kernel),
            self.metric.as_ref(),
            patches,
            &self.train,
        )?;
        Ok(&k * &self.alpha)
    }

    /// The top `k` eigenvectors of `M` as `q x q` filters (one `Vec` per channel-concatenated
    /// filter, length `C q^2`), with their eigenvalues, largest first.
    pub fn filters(&self, k: usize) -> Result<Vec<(f64, Vec<f64>)>> {
        top_filters(self.metric.as_ref(), k)
    }
}

/// The top `k` eigenpairs of a patch metric, eigenvectors as flat filters (largest first).
pub fn top_filters(metric: MatRef<'_, f64>, k: usize) -> Result<Vec<(f64, Vec<f64>)>> {
    let e = linalg::sym::sym_eigen(metric)?;
    let d = metric.nrows();
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| e.values[b].total_cmp(&e.values[a]));
    Ok(order
        .into_iter()
        .take(k.min(d))
        .map(|j| (e.values[j], (0..d).map(|i| e.vectors[(i, j)]).collect()))
        .collect())
}

/// `|sum of entries| / l1 norm` of a filter: 0 for a zero-mean (edge-like) filter, 1 for a filter
/// of one sign (a blur).
pub fn filter_dc_ratio(filter: &[f64]) -> f64 {
    let l1: f64 = filter.iter().map(|x| x.abs()).sum();
    if l1 == 0.0 { 0.0 } else { filter.iter().sum::<f64>().abs() / l1 }
}

/// How much of a single-channel `q x q` filter (length `q^2`, row-major) is an oriented edge
/// detector: the largest `|cosine|` between the filter and a first derivative of a Gaussian,
/// `-(a cos t + b sin t) exp(-(a^2 + b^2) / (2 s^2))` centred on the patch, over orientations `t` in
/// steps of 7.5 degrees and widths `s` in `{0.5, 0.75, 1, 1.5, 2} q / 5`. 1 for such a derivative
/// filter (for example a Sobel-like one), 0 for a constant or radially symmetric (blur,
/// centre-surround) filter. Errors when the length is not a square of an odd number.
pub fn filter_edge_score(filter: &[f64]) -> Result<f64> {
    let q = (filter.len() as f64).sqrt().round() as usize;
    if q * q != filter.len() || q.is_multiple_of(2) {
        return Err(invalid("filter", filter.len(), "length must be q^2 for an odd patch side q"));
    }
    let norm = filter.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !norm.is_finite() {
        return Err(invalid("filter", "not finite", "entries must be finite"));
    }
    if norm == 0.0 {
        return Ok(0.0);
    }
    let half = (q / 2) as f64;
    let mut best = 0.0f64;
    for width in [0.5, 0.75, 1.0, 1.5, 2.0] {
        let s = width * q as f64 / 5.0;
        for step in 0..24 {
            let t = step as f64 * std::f64::consts::PI / 24.0;
            let (sin, cos) = t.sin_cos();
            let g: Vec<f64> = (0..q * q)
                .map(|k| {
                    let (a, b) = ((k / q) as f64 - half, (k % q) as f64 - half);
                    -(a * cos + b * sin) * (-(a * a + b * b) / (2.0 * s * s)).exp()
                })
                .collect();
            let gn = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            let dot: f64 = g.iter().zip(filter).map(|(x, y)| x * y).sum();
            best = best.max(dot.abs() / (gn * norm));
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests;

//! # bench-suite: criterion benchmarks of the AGOP workspace
//!
//! One bench file per crate area, every benchmark named `crate/operation/size[/variant]`:
//!
//! | file | benchmarks |
//! | --- | --- |
//! | `benches/linalg.rs` | `linalg/exp/{n1M,n4K}/{libm,baseline,dispatched}`: element-wise `exp` over 1M (and 4096, in-cache) `f64` |
//! | `benches/kernels.rs` | `kernels/apply_values/laplace_2000x2000/{dispatched,naive_libm}`, `kernels/kernel_matrix/laplace_n5000_d100/{full,lower}`, `kernels/kernel_matrix/laplace_n20000_d784/lower_f32`, `kernels/kernel_ridge/fit_n5000_d100/{f64,f32}` |
//! | `benches/rfm.rs` | `rfm/agop/n1860_c61_d122/{sparse_input,dense_input}`, `rfm/iteration/laplace_n5000_d100/{solve_f64_agop,solve_f32_agop}`, `rfm/fit/laplace_n5000_d100/iters1`, `rfm/conv/{patch_kernel_matrix,patch_agop}/star_n200_q5`, `rfm/deep/layer/mixture_n500_d64_w512` |
//!
//! ## Running
//!
//! ```text
//! cargo bench -p bench-suite                   # everything (a few minutes on 2 cores)
//! cargo bench -p bench-suite -- linalg/exp     # only the SIMD exp benchmark
//! cargo bench -p bench-suite --bench rfm       # only one bench file
//! cargo bench -p bench-suite -- --test         # run every benchmark once (CI smoke test)
//! ```
//!
//! ## What the SIMD benchmark shows
//!
//! Rust compiles for baseline x86-64 (SSE2) unless told otherwise, so `f64::exp` is a scalar libm
//! call and even a branch-free polynomial only gets 128-bit vectors. `linalg/exp` runs the same
//! 1M-element slice (and a 4096-element one that stays in cache) through three loops:
//!
//! * `libm`: [`linalg::simd::exp_in_place_libm`], the scalar `f64::exp` reference;
//! * `baseline`: [`linalg::simd::exp_in_place_baseline`], the vectorisable polynomial compiled for the
//!   build target only (no dispatch);
//! * `dispatched`: [`linalg::simd::exp_in_place`], the same polynomial selected at run time for
//!   AVX-512 / AVX2 ([`linalg::simd::simd_level`] is printed when the bench starts).
//!
//! `dispatched / baseline` is what runtime SIMD dispatch buys (without `-C target-cpu` flags), and
//! `dispatched / libm` is the gain over the naive loop. `kernels/apply_values` shows the same effect on
//! the Laplace kernel's post-GEMM pass (sqrt + exp per entry) against a naive scalar loop
//! ([`naive_laplace_values`]).
//!
//! ## Throughput units
//!
//! Element-wise and kernel-matrix benches report elements/s = entries processed (for `lower`
//! variants the `n (n + 1) / 2` entries actually computed, for `full` all `n^2`); the AGOP reports
//! evaluation points/s; kernel ridge and RFM report training samples/s.
//!
//! The library holds the shared, seeded set-up ([`criterion_config`], [`heavy`], the data
//! generators); the same seed always gives the same data.
#![deny(missing_docs)]

use criterion::measurement::Measurement;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use datasets::Dataset;
use datasets::synthetic::{ModOp, ModularParams, MultiIndexTask, modular_arithmetic, multi_index};
use faer::{Accum, Mat, MatMut, MatRef};
use rand::Rng;
use rayon::prelude::*;
use std::time::Duration;

/// The seed every benchmark's data is drawn from (offset per input where several are needed).
pub const SEED: u64 = 0x5EED_AB0F;

/// The workspace's criterion configuration: 1 s warm-up, 4 s measurement, 30 samples.
///
/// Used as `criterion_group! { name = benches; config = bench_suite::criterion_config(); targets = ... }`;
/// command-line arguments (filters, `--test`, `--save-baseline`, ...) are applied on top by the macro.
/// Heavy groups tighten this further with [`heavy`].
pub fn criterion_config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30)
}

/// Settings for benchmarks whose single iteration takes 0.1 s or more: 10 samples (criterion's
/// minimum), flat sampling (one iteration per sample), a 0.5 s warm-up (that is one iteration) and
/// the given measurement time (criterion extends it, with a note, when 10 iterations need longer).
pub fn heavy<M: Measurement>(group: &mut BenchmarkGroup<'_, M>, measurement: Duration) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measurement);
}

/// Number of entries of an `n x n` matrix, as a criterion throughput count.
pub fn full_entries(n: usize) -> u64 {
    (n as u64) * (n as u64)
}

/// Number of entries of the lower triangle (with the diagonal) of an `n x n` matrix.
pub fn lower_entries(n: usize) -> u64 {
    (n as u64) * (n as u64 + 1) / 2
}

/// `n` arguments for the `exp` benchmark, uniform in `[-30, 0]` (the range a kernel's
/// `exp(-r / L)` sees), seeded.
pub fn exp_inputs(n: usize, seed: u64) -> Vec<f64> {
    let mut r = linalg::random::rng(seed);
    (0..n).map(|_| r.random_range(-30.0..=0.0)).collect()
}

/// An `n x d` matrix of independent standard normal entries (samples as rows), seeded.
pub fn gaussian_inputs(n: usize, d: usize, seed: u64) -> Mat<f64> {
    linalg::random::gaussian_mat(n, d, seed)
}

/// A block of inner products as the kernel GEMM leaves it, ready for the element-wise pass.
#[derive(Debug, Clone)]
pub struct InnerProductBlock {
    /// `X Z^T` (`n x m`, column-major).
    pub ip: Mat<f64>,
    /// Squared norms of the rows of `X`.
    pub nx: Vec<f64>,
    /// Squared norms of the rows of `Z`.
    pub nz: Vec<f64>,
}

/// The inner-product block of seeded Gaussian `X` (`n x d`) and `Z` (`m x d`).
pub fn inner_product_block(n: usize, m: usize, d: usize, seed: u64) -> InnerProductBlock {
    let x = gaussian_inputs(n, d, seed);
    let z = gaussian_inputs(m, d, seed.wrapping_add(1));
    let mut ip = Mat::<f64>::zeros(n, m);
    faer::linalg::matmul::matmul(
        ip.as_mut(),
        Accum::Replace,
        x.as_ref(),
        z.transpose(),
        1.0,
        linalg::default_par(),
    );
    InnerProductBlock { ip, nx: row_sq_norms(x.as_ref()), nz: row_sq_norms(z.as_ref()) }
}

fn row_sq_norms(x: MatRef<'_, f64>) -> Vec<f64> {
    (0..x.nrows()).map(|i| (0..x.ncols()).map(|j| x[(i, j)] * x[(i, j)]).sum()).collect()
}

/// The naive Laplace post-GEMM pass: `ip_ij <- exp(-sqrt(max(nx_i + nz_j - 2 ip_ij, 0)) / L)` with
/// `f64::sqrt` / `f64::exp` (libm), parallel over columns like [`kernels::matrix::apply_values`] so
/// that the comparison isolates the SIMD `exp` and the runtime dispatch.
pub fn naive_laplace_values(block: MatMut<'_, f64>, nx: &[f64], nz: &[f64], bandwidth: f64) {
    let inv_l = 1.0 / bandwidth;
    block.par_col_iter_mut().enumerate().for_each(|(j, col)| {
        let s = col.try_as_col_major_mut().expect("blocks are column-major").as_slice_mut();
        let b = nz[j];
        for (c, &a) in s.iter_mut().zip(nx) {
            let r2 = (a + b - 2.0 * *c).max(0.0);
            *c = (-r2.sqrt() * inv_l).exp();
        }
    });
}

/// The multi-index task `y = x1 * x2` with `x ~ N(0, I_d)` (`n x d`, `y` is `n x 1`), seeded.
pub fn multi_index_prod(n: usize, d: usize, seed: u64) -> Dataset {
    multi_index(MultiIndexTask::Prod, n, d, seed).expect("valid multi-index parameters")
}

/// The grokking paper's training set: modular addition mod 61 with training fraction 0.5, i.e.
/// `1860 x 122` one-hot inputs `e_a ⊕ e_b` and `1860 x 61` one-hot targets.
pub fn grokking_train() -> Dataset {
    let params =
        ModularParams::default().with_p(61).with_op(ModOp::Add).with_train_fraction(0.5).with_seed(SEED);
    modular_arithmetic(&params).expect("valid modular-arithmetic parameters").train
}

/// A random symmetric positive definite `d x d` matrix `G G^T / d + 1e-3 I` (`G` Gaussian), seeded:
/// a stand-in for a learned Mahalanobis metric.
pub fn random_psd(d: usize, seed: u64) -> Mat<f64> {
    let g = gaussian_inputs(d, d, seed);
    let mut m = &g * g.transpose() * (1.0 / d as f64);
    for i in 0..d {
        m[(i, i)] += 1e-3;
    }
    linalg::sym::symmetrize(m.as_ref())
}

/// `x` plus independent `N(0, scale^2)` noise: a dense matrix numerically indistinguishable from a
/// sparse `x`, used to time the dense code path on the same problem.
pub fn with_tiny_noise(x: MatRef<'_, f64>, scale: f64, seed: u64) -> Mat<f64> {
    let noise = gaussian_inputs(x.nrows(), x.ncols(), seed);
    Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] + scale * noise[(i, j)])
}

/// Fraction of non-zero entries of `x`.
pub fn density(x: MatRef<'_, f64>) -> f64 {
    let nnz = (0..x.ncols()).map(|j| (0..x.nrows()).filter(|&i| x[(i, j)] != 0.0).count()).sum::<usize>();
    nnz as f64 / (x.nrows() * x.ncols()).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernels::{Kernel, KernelSpec};

    #[test]
    fn naive_laplace_matches_apply_values() {
        let blk = inner_product_block(70, 50, 6, 1);
        let mut a = blk.ip.clone();
        let mut b = blk.ip.clone();
        kernels::matrix::apply_values(&KernelSpec::laplace(3.0), a.as_mut(), &blk.nx, &blk.nz);
        naive_laplace_values(b.as_mut(), &blk.nx, &blk.nz, 3.0);
        assert!((&a - &b).norm_max() < 1e-12);
        let k = KernelSpec::laplace(3.0);
        assert!((a[(4, 7)] - k.eval_parts(blk.ip[(4, 7)], blk.nx[4], blk.nz[7])).abs() < 1e-14);
    }

    #[test]
    fn generators_are_seeded_and_shaped() {
        assert_eq!(exp_inputs(100, 3), exp_inputs(100, 3));
        assert!(exp_inputs(1000, 3).iter().all(|&x| (-30.0..=0.0).contains(&x)));
        let g = grokking_train();
        assert_eq!((g.n(), g.d(), g.c()), (1860, 122, 61));
        assert!(density(g.x.as_ref()) < 0.02);
        let noisy = with_tiny_noise(g.x.as_ref(), 1e-9, 1);
        assert_eq!(density(noisy.as_ref()), 1.0);
        assert!((&noisy - &g.x).norm_max() < 1e-7);
        let m = random_psd(5, 2);
        assert_eq!(m, m.transpose().to_owned());
        assert!(linalg::sym::sym_eigenvalues(m.as_ref()).unwrap().iter().all(|&v| v > 0.0));
        let data = multi_index_prod(20, 4, 0);
        assert_eq!(data.y[(3, 0)], data.x[(3, 0)] * data.x[(3, 1)]);
        assert_eq!(full_entries(3), 9);
        assert_eq!(lower_entries(3), 6);
    }
}

//! Kernel matrices against per-pair formulas written here, for every built-in kernel and the three
//! metrics; symmetry, unit diagonal and PSD of `K(X, X)`; the metric equivalences
//! (`M = A A^T` <=> plain kernel on `X A`, `Diagonal(m)` <=> `Mahalanobis(diag(m))`); the lower
//! triangle, the `f32` lower triangle and the streamed product `K(X, Z) V` against the full matrix.
#![allow(clippy::needless_range_loop)]

mod common;
use common::{data, metric};
use faer::{Mat, MatRef};
use kernels::matrix::kernel_lower_f32_prepared;
use kernels::{
    Gaussian, GaussianConvention, Kernel, KernelSpec, Matern, MaternNu, Metric, NtkRelu, Prepared, Quadratic,
    Triangle, kernel_matrix, kernel_matrix_sym, kernel_times,
};
use linalg::random::gaussian_mat;
use proptest::prelude::*;

/// The kernels under test, each with a formula written independently below.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Laplace,
    GaussTwoLSquared,
    GaussDenominator,
    Matern32,
    Matern52,
    Quadratic,
    Quadratic3,
    Ntk,
}

const KINDS: [Kind; 8] = [
    Kind::Laplace,
    Kind::GaussTwoLSquared,
    Kind::GaussDenominator,
    Kind::Matern32,
    Kind::Matern52,
    Kind::Quadratic,
    Kind::Quadratic3,
    Kind::Ntk,
];

fn spec(kind: Kind, l: f64) -> KernelSpec {
    match kind {
        Kind::Laplace => KernelSpec::laplace(l),
        Kind::GaussTwoLSquared => KernelSpec::gaussian(l),
        Kind::GaussDenominator => {
            KernelSpec::Gaussian(Gaussian { bandwidth: l, convention: GaussianConvention::Denominator })
        }
        Kind::Matern32 => KernelSpec::Matern(Matern { nu: MaternNu::ThreeHalves, bandwidth: l }),
        Kind::Matern52 => KernelSpec::Matern(Matern { nu: MaternNu::FiveHalves, bandwidth: l }),
        Kind::Quadratic => KernelSpec::quadratic(),
        Kind::Quadratic3 => KernelSpec::Quadratic(Quadratic { scale: 3.0 }),
        Kind::Ntk => KernelSpec::NtkRelu(NtkRelu),
    }
}

fn is_radial(kind: Kind) -> bool {
    !matches!(kind, Kind::Quadratic | Kind::Quadratic3 | Kind::Ntk)
}

/// Comparison tolerance between two evaluations that differ only by round-off. The NTK needs
/// `arccos(u)`, whose derivative is infinite at `u = +-1`: for (anti)parallel inputs a round-off of
/// `u` by 1e-16 moves the kernel by about `|<x, z>| sqrt(2e-16) / pi ~ 5e-9 |<x, z>|`, so its
/// tolerance is `1e-7` (this is intrinsic to the arccos formula, seen in d = 1 where all inputs are
/// parallel).
fn tolerance(kind: Kind, tol: f64) -> f64 {
    if kind == Kind::Ntk { tol.max(1e-7) } else { tol }
}

/// Scale of the round-off of an entry: `|want|`, and for the NTK also `||x||_M ||z||_M`. The NTK
/// goes through `acos(u)`, whose derivative is infinite at `u = +-1`: a rounding error `eps` in `u`
/// moves the angle by `sqrt(2 eps)` ~ 1.5e-8, i.e. the entry by up to `||x|| ||z|| sqrt(2 eps) / pi`,
/// however small the entry itself is (nearly opposite inputs, where the NTK is close to 0).
fn entry_scale(kind: Kind, want: f64, m: MatRef<'_, f64>, x: &[f64], z: &[f64]) -> f64 {
    let norms = if kind == Kind::Ntk { (bilinear(m, x, x) * bilinear(m, z, z)).sqrt() } else { 0.0 };
    1.0 + want.abs().max(norms)
}

fn bilinear(m: MatRef<'_, f64>, x: &[f64], z: &[f64]) -> f64 {
    let d = x.len();
    let mut s = 0.0;
    for a in 0..d {
        for b in 0..d {
            s += x[a] * m[(a, b)] * z[b];
        }
    }
    s
}

/// `k_M(x, z)` from the textbook formulas (distance from `x - z` directly, no GEMM trick).
fn direct(kind: Kind, l: f64, m: MatRef<'_, f64>, x: &[f64], z: &[f64]) -> f64 {
    let diff: Vec<f64> = x.iter().zip(z).map(|(a, b)| a - b).collect();
    let d2 = bilinear(m, &diff, &diff).max(0.0);
    let r = d2.sqrt();
    let pi = std::f64::consts::PI;
    match kind {
        Kind::Laplace => (-r / l).exp(),
        Kind::GaussTwoLSquared => (-d2 / (2.0 * l * l)).exp(),
        Kind::GaussDenominator => (-d2 / l).exp(),
        Kind::Matern32 => {
            let a = 3f64.sqrt() * r / l;
            (1.0 + a) * (-a).exp()
        }
        Kind::Matern52 => {
            let a = 5f64.sqrt() * r / l;
            (1.0 + a + a * a / 3.0) * (-a).exp()
        }
        Kind::Quadratic => bilinear(m, x, z).powi(2),
        Kind::Quadratic3 => 3.0 * bilinear(m, x, z).powi(2),
        Kind::Ntk => {
            // two-layer ReLU NTK: |x||z| kappa1(theta) + <x,z> kappa0(theta)
            let (ip, nx, nz) = (bilinear(m, x, z), bilinear(m, x, x), bilinear(m, z, z));
            let s = (nx * nz).sqrt();
            if s == 0.0 {
                return 0.0;
            }
            let theta = (ip / s).clamp(-1.0, 1.0).acos();
            let k0 = (pi - theta) / pi;
            let k1 = (theta.sin() + (pi - theta) * theta.cos()) / pi;
            s * k1 + ip * k0
        }
    }
}

/// Pairs so close that the library's zero-distance rule (`d^2 <= 1e-12 (nx + nz)`) may apply.
fn near_duplicate(m: MatRef<'_, f64>, x: &[f64], z: &[f64]) -> bool {
    let diff: Vec<f64> = x.iter().zip(z).map(|(a, b)| a - b).collect();
    bilinear(m, &diff, &diff) <= 1e-10 * (bilinear(m, x, x) + bilinear(m, z, z))
}

fn row(x: MatRef<'_, f64>, i: usize) -> Vec<f64> {
    (0..x.ncols()).map(|k| x[(i, k)]).collect()
}

fn max_entry(k: MatRef<'_, f64>) -> f64 {
    k.norm_max()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Every entry of `K(X, Z)` equals the per-pair formula, for every kernel and metric.
    #[test]
    fn kernel_matrix_matches_direct_formula(
        seed in any::<u64>(), d in 1usize..=12, n in 1usize..=9, m in 1usize..=9, l in 0.3f64..4.0
    ) {
        let x = data(n, d, seed);
        let z = data(m, d, seed.wrapping_add(7));
        for which in 0..3 {
            let met = metric(which, d, seed);
            let mm = met.to_matrix(d);
            for kind in KINDS {
                let k = kernel_matrix(&spec(kind, l), &met, x.as_ref(), z.as_ref()).unwrap();
                prop_assert_eq!((k.nrows(), k.ncols()), (n, m));
                for i in 0..n {
                    for j in 0..m {
                        let (xi, zj) = (row(x.as_ref(), i), row(z.as_ref(), j));
                        if is_radial(kind) && near_duplicate(mm.as_ref(), &xi, &zj) {
                            continue; // the documented zero-distance rule applies
                        }
                        let want = direct(kind, l, mm.as_ref(), &xi, &zj);
                        let got = k[(i, j)];
                        let scale = entry_scale(kind, want, mm.as_ref(), &xi, &zj);
                        prop_assert!(
                            (got - want).abs() <= tolerance(kind, 1e-9) * scale,
                            "{:?} metric {} ({},{}): got {} want {}", kind, which, i, j, got, want
                        );
                    }
                }
            }
        }
    }

    /// `K(X, X)` is symmetric and PSD (min eigenvalue >= -1e-10 n, relative to the largest entry for
    /// the unbounded kernels; -1e-7 n for the NTK, see [`tolerance`]); radial kernels have a unit
    /// diagonal.
    #[test]
    fn gram_matrix_symmetric_psd_unit_diagonal(
        seed in any::<u64>(), d in 1usize..=12, n in 2usize..=40, l in 0.3f64..4.0
    ) {
        let x = data(n, d, seed);
        for which in 0..3 {
            let met = metric(which, d, seed);
            for kind in KINDS {
                let k = spec(kind, l);
                let full = kernel_matrix(&k, &met, x.as_ref(), x.as_ref()).unwrap();
                let sym = kernel_matrix_sym(&k, &met, x.as_ref(), Triangle::Full).unwrap();
                let scale = max_entry(full.as_ref()).max(1.0);
                for i in 0..n {
                    for j in 0..n {
                        prop_assert_eq!(sym[(i, j)], sym[(j, i)]);
                        // general GEMM vs triangular GEMM: round-off only (amplified by the square
                        // root of the Laplace/Matern kernels at small distances)
                        let tol = tolerance(kind, 1e-10) * scale;
                        prop_assert!((full[(i, j)] - full[(j, i)]).abs() <= tol, "{:?} {} vs {}", kind, full[(i, j)], full[(j, i)]);
                        prop_assert!((full[(i, j)] - sym[(i, j)]).abs() <= tol, "{:?} {} vs {}", kind, full[(i, j)], sym[(i, j)]);
                    }
                }
                if is_radial(kind) {
                    for i in 0..n {
                        prop_assert!((full[(i, i)] - 1.0).abs() <= 1e-14, "{:?} diag {}", kind, full[(i, i)]);
                        prop_assert!((sym[(i, i)] - 1.0).abs() <= 1e-14, "{:?} diag {}", kind, sym[(i, i)]);
                    }
                }
                let ev = linalg::sym::sym_eigenvalues(sym.as_ref()).unwrap();
                let min = *ev.last().unwrap();
                prop_assert!(min >= -tolerance(kind, 1e-10) * n as f64 * scale, "{:?} metric {}: min eigenvalue {}", kind, which, min);
            }
        }
    }

    /// With `M = A A^T` (`A` is `d x r`, any rank) the Mahalanobis kernel is the Euclidean kernel of
    /// the rows of `X A`.
    #[test]
    fn mahalanobis_equals_euclidean_on_transformed_data(
        seed in any::<u64>(), d in 1usize..=12, r in 1usize..=12, n in 1usize..=10, m in 1usize..=10,
        l in 0.3f64..4.0
    ) {
        let x = data(n, d, seed);
        let z = data(m, d, seed.wrapping_add(3));
        let a = gaussian_mat(d, r, seed.wrapping_add(5)) * (1.0 / (r as f64).sqrt());
        let mm = &a * a.transpose();
        let (xa, za) = (&x * &a, &z * &a);
        for kind in KINDS {
            let k = spec(kind, l);
            let km = kernel_matrix(&k, &Metric::Mahalanobis(mm.clone()), x.as_ref(), z.as_ref()).unwrap();
            let ke = kernel_matrix(&k, &Metric::Euclidean, xa.as_ref(), za.as_ref()).unwrap();
            for i in 0..n {
                for j in 0..m {
                    let scale = entry_scale(kind, ke[(i, j)], mm.as_ref(), &row(x.as_ref(), i), &row(z.as_ref(), j));
                    prop_assert!(
                        (km[(i, j)] - ke[(i, j)]).abs() <= tolerance(kind, 1e-9) * scale,
                        "{:?} ({},{}): {} vs {}", kind, i, j, km[(i, j)], ke[(i, j)]
                    );
                }
            }
        }
    }

    /// `Diagonal(m)` equals `Mahalanobis(diag(m))`, and `Euclidean` equals both `Mahalanobis(I)` and
    /// `Diagonal(1)`; zero entries in `m` are allowed (a semidefinite metric).
    #[test]
    fn diagonal_metric_equals_full_diagonal_matrix(
        seed in any::<u64>(), d in 1usize..=12, n in 1usize..=10, l in 0.3f64..4.0
    ) {
        let x = data(n, d, seed);
        let z = data(n + 1, d, seed.wrapping_add(1));
        let w = gaussian_mat(d, 1, seed.wrapping_add(2));
        let diag: Vec<f64> = (0..d).map(|i| if i % 4 == 3 { 0.0 } else { w[(i, 0)].abs() }).collect();
        let dense = Mat::from_fn(d, d, |i, j| if i == j { diag[i] } else { 0.0 });
        for kind in KINDS {
            let k = spec(kind, l);
            let a = kernel_matrix(&k, &Metric::Diagonal(diag.clone()), x.as_ref(), z.as_ref()).unwrap();
            let b = kernel_matrix(&k, &Metric::Mahalanobis(dense.clone()), x.as_ref(), z.as_ref()).unwrap();
            let scale = 1.0 + max_entry(b.as_ref());
            prop_assert!((&a - &b).norm_max() <= 1e-12 * scale, "{:?}", kind);
            let e = kernel_matrix(&k, &Metric::Euclidean, x.as_ref(), z.as_ref()).unwrap();
            let i_full = kernel_matrix(&k, &Metric::Mahalanobis(Mat::identity(d, d)), x.as_ref(), z.as_ref()).unwrap();
            let i_diag = kernel_matrix(&k, &Metric::Diagonal(vec![1.0; d]), x.as_ref(), z.as_ref()).unwrap();
            let scale = 1.0 + max_entry(e.as_ref());
            prop_assert!((&e - &i_full).norm_max() <= 1e-12 * scale);
            prop_assert!((&e - &i_diag).norm_max() <= 1e-12 * scale);
        }
    }

    /// The lower triangle of `kernel_matrix_sym(Lower)` and of the `f32` panel routine equal the full
    /// matrix (the `f32` one within 1e-6 relative); neither touches the strict upper triangle.
    #[test]
    fn lower_and_f32_lower_agree_with_full(
        seed in any::<u64>(), d in 1usize..=12, n in 1usize..=40, l in 0.3f64..4.0
    ) {
        let x = data(n, d, seed);
        for which in 0..3 {
            let met = metric(which, d, seed);
            for kind in KINDS {
                check_lower_variants(kind, l, &met, x.as_ref());
            }
        }
    }

    /// The streamed `K(X, Z) V` equals the dense product.
    #[test]
    fn streamed_product_equals_dense(
        seed in any::<u64>(), d in 1usize..=12, n in 1usize..=30, m in 1usize..=30, c in 1usize..=4,
        l in 0.3f64..4.0
    ) {
        let x = data(n, d, seed);
        let z = data(m, d, seed.wrapping_add(11));
        let v = gaussian_mat(m, c, seed.wrapping_add(13));
        for which in 0..3 {
            let met = metric(which, d, seed);
            for kind in KINDS {
                let k = spec(kind, l);
                let dense = kernel_matrix(&k, &met, x.as_ref(), z.as_ref()).unwrap() * &v;
                let got = kernel_times(&k, &met, x.as_ref(), z.as_ref(), v.as_ref()).unwrap();
                let scale = 1.0 + dense.norm_max();
                prop_assert!((&got - &dense).norm_max() <= 1e-12 * scale, "{:?}", kind);
            }
        }
    }
}

fn check_lower_variants(kind: Kind, l: f64, met: &Metric, x: MatRef<'_, f64>) {
    let n = x.nrows();
    let k = spec(kind, l);
    let full = kernel_matrix_sym(&k, met, x, Triangle::Full).unwrap();
    let low = kernel_matrix_sym(&k, met, x, Triangle::Lower).unwrap();
    let floor = 1e-15 * (1.0 + full.norm_max());
    let mut low32 = Mat::<f32>::from_fn(n, n, |_, _| 7.5);
    kernel_lower_f32_prepared(&k, &Prepared::new(x, met), low32.as_mut()).unwrap();
    for j in 0..n {
        for i in 0..n {
            if i >= j {
                let want = full[(i, j)];
                assert!((low[(i, j)] - want).abs() <= 1e-13 * (1.0 + want.abs()), "{kind:?} lower ({i},{j})");
                let got = low32[(i, j)] as f64;
                // f32 rounding (relative 6e-8), plus an absolute floor for entries that are round-off
                // themselves (e.g. a quadratic kernel at <x, z>_M ~ 0) or underflow in f32
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs() + floor + 1e-37,
                    "{kind:?} f32 ({i},{j}): {got} vs {want}"
                );
            } else {
                assert_eq!(low[(i, j)], 0.0, "{kind:?} strict upper of Lower must stay 0");
                assert_eq!(low32[(i, j)], 7.5, "{kind:?} f32 routine wrote above the diagonal");
            }
        }
    }
}

/// Several 256-column panels of the `f32` routine (n > 256), every kernel and metric.
#[test]
fn f32_lower_with_several_panels() {
    let (n, d) = (600, 6);
    let x = data(n, d, 42);
    for which in 0..3 {
        let met = metric(which, d, 42);
        for kind in KINDS {
            check_lower_variants(kind, 1.3, &met, x.as_ref());
        }
    }
}

/// The streamed product over several row blocks (`2^21 / m` rows per block) equals the dense one.
#[test]
fn streamed_product_with_several_blocks() {
    let (n, m, d) = (1000, 5000, 5);
    let x = data(n, d, 1);
    let z = data(m, d, 2);
    let v = gaussian_mat(m, 3, 3);
    for (which, kind) in [(2, Kind::Laplace), (1, Kind::GaussTwoLSquared), (0, Kind::Ntk)] {
        let met = metric(which, d, 4);
        let k = spec(kind, 1.0);
        let dense = kernel_matrix(&k, &met, x.as_ref(), z.as_ref()).unwrap() * &v;
        let got = kernel_times(&k, &met, x.as_ref(), z.as_ref(), v.as_ref()).unwrap();
        assert!((&got - &dense).norm_max() <= 1e-11 * (1.0 + dense.norm_max()), "{kind:?}");
    }
}

/// Known values: Laplace at distance 5 with bandwidth 5 is e^{-1}; the two Gaussian conventions with
/// the same `L` differ as `exp(-d^2/(2L^2))` vs `exp(-d^2/L)`.
#[test]
fn closed_form_values() {
    let x = faer::mat![[0.0, 0.0]];
    let z = faer::mat![[3.0, 4.0]];
    let e = Metric::Euclidean;
    let lap = kernel_matrix(&spec(Kind::Laplace, 5.0), &e, x.as_ref(), z.as_ref()).unwrap();
    assert!((lap[(0, 0)] - (-1.0f64).exp()).abs() < 1e-15);
    let g2 = kernel_matrix(&spec(Kind::GaussTwoLSquared, 2.5), &e, x.as_ref(), z.as_ref()).unwrap();
    assert!((g2[(0, 0)] - (-25.0f64 / 12.5).exp()).abs() < 1e-15);
    let gd = kernel_matrix(&spec(Kind::GaussDenominator, 12.5), &e, x.as_ref(), z.as_ref()).unwrap();
    assert!((gd[(0, 0)] - (-2.0f64).exp()).abs() < 1e-15);
    // M = diag(4, 0): ||x - z||_M = 6
    let dm = Metric::Diagonal(vec![4.0, 0.0]);
    let lap = kernel_matrix(&spec(Kind::Laplace, 3.0), &dm, x.as_ref(), z.as_ref()).unwrap();
    assert!((lap[(0, 0)] - (-2.0f64).exp()).abs() < 1e-15);
    // quadratic: (x^T M z)^2 with x = (1, 2), z = (3, 4), M = diag(4, 0): (12)^2
    let q =
        kernel_matrix(&spec(Kind::Quadratic, 1.0), &dm, z.as_ref(), faer::mat![[1.0, 2.0]].as_ref()).unwrap();
    assert_eq!(q[(0, 0)], 144.0);
    // NTK of parallel inputs: ||x|| ||z|| + <x, z> = 2 * 5 * 10 for z = 2x
    let ntk = kernel_matrix(&spec(Kind::Ntk, 1.0), &e, z.as_ref(), (&z * 2.0).as_ref()).unwrap();
    assert!((ntk[(0, 0)] - 100.0).abs() < 1e-12);
    // ... and of opposite inputs: 0
    let ntk = kernel_matrix(&spec(Kind::Ntk, 1.0), &e, z.as_ref(), (&z * -1.0).as_ref()).unwrap();
    assert!(ntk[(0, 0)].abs() < 1e-12);
}

/// Matern 1/2 is the Laplace kernel; `Prepared` holds `X M` and `x_i^T M x_i`.
#[test]
fn matern_half_is_laplace_and_prepared_norms() {
    let x = data(20, 4, 9);
    let met = metric(2, 4, 9);
    let m12 = KernelSpec::Matern(Matern { nu: MaternNu::Half, bandwidth: 1.7 });
    let a = kernel_matrix(&m12, &met, x.as_ref(), x.as_ref()).unwrap();
    let b = kernel_matrix(&KernelSpec::laplace(1.7), &met, x.as_ref(), x.as_ref()).unwrap();
    assert!((&a - &b).norm_max() < 1e-15);
    let p = Prepared::new(x.as_ref(), &met);
    let mm = met.to_matrix(4);
    assert!((&p.xm - &x * &mm).norm_max() < 1e-14);
    for i in 0..20 {
        let r = row(x.as_ref(), i);
        assert!((p.sq_norms[i] - bilinear(mm.as_ref(), &r, &r)).abs() < 1e-14);
    }
    assert_eq!(m12.name(), "matern(nu=1/2, L=1.7)");
}

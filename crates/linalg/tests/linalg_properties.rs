//! Properties of the linear-algebra helpers: symmetric matrix functions and eigenpairs, ridge solves
//! (Cholesky, LU fallback, `f32` with refinement, errors), validation, similarity measures, seeded
//! random matrices, serde of matrices and the SIMD `exp`.
#![allow(clippy::needless_range_loop)]

use faer::{Mat, MatRef};
use linalg::LinalgError;
use linalg::random::{gaussian_mat, permutation};
use linalg::similarity::{cosine_similarity, pearson_correlation};
use linalg::solve::{
    Precision, SolveMethod, cholesky_in_place, cholesky_solve_in_place, relative_residual, solve_sym_ridge,
};
use linalg::sym::{
    clip_psd, reconstruct_with, sym_apply, sym_eigen, sym_eigenvalues, sym_power, sym_sqrt, symmetrize,
    top_k_eigen, trace,
};
use linalg::validate::{
    check_data, check_finite, check_finite_slice, check_ncols, check_nonnegative, check_positive,
    check_same_rows, check_shape, check_square,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

fn rel(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    (a - b).norm_l2() / b.norm_l2().max(f64::MIN_POSITIVE)
}

/// `G G^T / d + shift I`: PSD (PD when `shift > 0`).
fn psd(d: usize, seed: u64, shift: f64) -> Mat<f64> {
    let g = gaussian_mat(d, d, seed);
    (&g * g.transpose()) * (1.0 / d as f64) + Mat::<f64>::identity(d, d) * shift
}

/// A symmetric matrix with eigenvalues of both signs, bounded away from 0.
fn indefinite(d: usize, seed: u64) -> Mat<f64> {
    let q = sym_eigen(psd(d, seed, 0.0).as_ref()).unwrap().vectors;
    let l: Vec<f64> = (0..d).map(|i| if i % 2 == 0 { 1.0 + i as f64 } else { -1.0 - i as f64 }).collect();
    let qs = Mat::from_fn(d, d, |i, j| q[(i, j)] * l[j]);
    symmetrize((&qs * q.transpose()).as_ref())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// `A^s` through the eigendecomposition: `(A^{1/2})^2 = A`, `A^s A^t = A^{s+t}`, `A^1 = A` for PSD
    /// `A`, eigenvalues `l^s`, exact symmetry; the square root helper agrees with power 1/2.
    #[test]
    fn matrix_powers(seed in any::<u64>(), d in 1usize..=12, s in 0.1f64..2.0, t in 0.1f64..2.0) {
        let a = psd(d, seed, 0.1);
        let r = sym_sqrt(a.as_ref()).unwrap();
        prop_assert!(rel((&r * &r).as_ref(), a.as_ref()) < 1e-12);
        prop_assert!(rel(sym_power(a.as_ref(), 0.5).unwrap().as_ref(), r.as_ref()) < 1e-13);
        let (as_, at) = (sym_power(a.as_ref(), s).unwrap(), sym_power(a.as_ref(), t).unwrap());
        let ast = sym_power(a.as_ref(), s + t).unwrap();
        prop_assert!(rel((&as_ * &at).as_ref(), ast.as_ref()) < 1e-10);
        prop_assert!(rel(sym_power(a.as_ref(), 1.0).unwrap().as_ref(), a.as_ref()) < 1e-12);
        for i in 0..d {
            for j in 0..d {
                prop_assert_eq!(as_[(i, j)], as_[(j, i)]);
            }
        }
        let ev = sym_eigenvalues(a.as_ref()).unwrap();
        let evs = sym_eigenvalues(as_.as_ref()).unwrap();
        for i in 0..d {
            prop_assert!((evs[i] - ev[i].powf(s)).abs() <= 1e-11 * ev[0].powf(s));
        }
        prop_assert!((trace(a.as_ref()) - ev.iter().sum::<f64>()).abs() <= 1e-12 * ev.iter().sum::<f64>());
        prop_assert!(sym_power(a.as_ref(), 0.0).is_err());
        prop_assert!(sym_power(a.as_ref(), -s).is_err());
    }

    /// Indefinite input: powers and `clip_psd` project onto the PSD cone (negative eigenvalues -> 0).
    #[test]
    fn clipping_negative_eigenvalues(seed in any::<u64>(), d in 2usize..=12) {
        let a = indefinite(d, seed);
        let c = clip_psd(a.as_ref()).unwrap();
        let ev = sym_eigenvalues(a.as_ref()).unwrap();
        let evc = sym_eigenvalues(c.as_ref()).unwrap();
        for i in 0..d {
            prop_assert!((evc[i] - ev[i].max(0.0)).abs() < 1e-10 * ev[0]);
        }
        prop_assert!(rel(sym_power(a.as_ref(), 1.0).unwrap().as_ref(), c.as_ref()) < 1e-12);
        let r = sym_power(a.as_ref(), 0.5).unwrap();
        prop_assert!(rel((&r * &r).as_ref(), c.as_ref()) < 1e-10);
        // the PSD part plus the negative part gives A back
        let neg = sym_apply(a.as_ref(), |l| l.min(0.0)).unwrap();
        prop_assert!(rel((&c + &neg).as_ref(), a.as_ref()) < 1e-12);
    }

    /// Eigendecomposition: `A V = V diag(l)`, orthonormal `V`, descending eigenvalues matching
    /// `sym_eigenvalues`, reconstruction; `top_k_eigen` returns the largest-magnitude pairs.
    #[test]
    fn eigendecomposition(seed in any::<u64>(), d in 1usize..=12, k in 1usize..=12) {
        let a = indefinite(d, seed);
        let e = sym_eigen(a.as_ref()).unwrap();
        let scale = e.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        prop_assert!(e.values.windows(2).all(|w| w[0] >= w[1]));
        let av = &a * &e.vectors;
        let vl = Mat::from_fn(d, d, |i, j| e.vectors[(i, j)] * e.values[j]);
        prop_assert!((&av - &vl).norm_max() < 1e-12 * scale);
        let vtv = e.vectors.transpose() * &e.vectors;
        prop_assert!((&vtv - Mat::<f64>::identity(d, d)).norm_max() < 1e-12);
        let vals = sym_eigenvalues(a.as_ref()).unwrap();
        for i in 0..d {
            prop_assert!((vals[i] - e.values[i]).abs() < 1e-12 * scale);
        }
        prop_assert!(rel(reconstruct_with(&e, |l| l).as_ref(), a.as_ref()) < 1e-12);
        let k = k.min(d);
        let top = top_k_eigen(a.as_ref(), k).unwrap();
        let mut mags: Vec<f64> = e.values.iter().map(|v| v.abs()).collect();
        mags.sort_by(|x, y| y.total_cmp(x));
        for i in 0..k {
            prop_assert!((top.values[i].abs() - mags[i]).abs() < 1e-10 * scale);
            let v = top.vectors.col(i);
            prop_assert!((&a * v - v * top.values[i]).norm_l2() < 1e-10 * scale);
        }
        prop_assert!(top_k_eigen(a.as_ref(), d + 1).is_err());
    }

    /// Ridge solves: `(A + ridge I) X = B` to round-off with Cholesky; `f32` with refinement matches
    /// `f64`; ridge 0 on an indefinite invertible matrix goes through LU; ridge > 0 on it is an error.
    #[test]
    fn ridge_solves(seed in any::<u64>(), d in 1usize..=12, c in 1usize..=3, ridge in 1e-3f64..10.0) {
        let a = psd(d, seed, 0.0);
        let b = gaussian_mat(d, c, seed.wrapping_add(1));
        let (x, info) = solve_sym_ridge(a.clone(), b.as_ref(), ridge, Precision::F64, "t").unwrap();
        prop_assert_eq!(info.method, SolveMethod::CholeskyF64);
        let shifted = &a + Mat::<f64>::identity(d, d) * ridge;
        prop_assert!(rel((&shifted * &x).as_ref(), b.as_ref()) < 1e-12);
        prop_assert!(relative_residual(a.as_ref(), x.as_ref(), b.as_ref(), ridge) < 1e-12);
        let (x32, info32) =
            solve_sym_ridge(a.clone(), b.as_ref(), ridge, Precision::F32 { refine_steps: 4 }, "t").unwrap();
        prop_assert_eq!(info32.method, SolveMethod::CholeskyF32);
        prop_assert_eq!(info32.refinement_steps, 4);
        prop_assert!(info32.relative_residual.unwrap() < 1e-10);
        prop_assert!(rel(x32.as_ref(), x.as_ref()) < 1e-9);
        // indefinite
        if d >= 2 {
            let m = indefinite(d, seed);
            let (xl, il) = solve_sym_ridge(m.clone(), b.as_ref(), 0.0, Precision::F64, "t").unwrap();
            prop_assert_eq!(il.method, SolveMethod::Lu);
            prop_assert!(rel((&m * &xl).as_ref(), b.as_ref()) < 1e-12);
            prop_assert!(il.relative_residual.unwrap() < 1e-12);
            let (xl32, il32) =
                solve_sym_ridge(m.clone(), b.as_ref(), 0.0, Precision::F32 { refine_steps: 1 }, "t").unwrap();
            prop_assert_eq!(il32.method, SolveMethod::Lu);
            prop_assert!(rel(xl32.as_ref(), xl.as_ref()) < 1e-12);
            for p in [Precision::F64, Precision::F32 { refine_steps: 2 }] {
                let e = solve_sym_ridge(m.clone(), b.as_ref(), ridge.min(0.5), p, "my system").unwrap_err();
                match &e {
                    LinalgError::NotPositiveDefinite { context, n, .. } => {
                        prop_assert_eq!(context.as_str(), "my system");
                        prop_assert_eq!(*n, d);
                    }
                    other => prop_assert!(false, "expected NotPositiveDefinite, got {:?}", other),
                }
                prop_assert!(e.to_string().contains("increase it"), "{}", e);
            }
        }
    }
}

/// Solver errors: singular systems, NaN right-hand sides, shapes, negative/NaN ridge, empty input.
#[test]
fn solver_errors() {
    let z = Mat::<f64>::zeros(3, 3);
    let b = gaussian_mat(3, 1, 1);
    assert!(matches!(
        solve_sym_ridge(z.clone(), b.as_ref(), 0.0, Precision::F64, "t"),
        Err(LinalgError::Singular { .. })
    ));
    // rank-deficient PSD matrix at ridge 0 with an inconsistent right-hand side
    let v = gaussian_mat(4, 1, 2);
    let r1 = &v * v.transpose();
    assert!(solve_sym_ridge(r1.clone(), gaussian_mat(4, 1, 3).as_ref(), 0.0, Precision::F64, "t").is_err());
    // ... is fine with a ridge
    assert!(solve_sym_ridge(r1, gaussian_mat(4, 1, 3).as_ref(), 1e-3, Precision::F64, "t").is_ok());
    let mut bn = b.clone();
    bn[(1, 0)] = f64::NAN;
    let a = Mat::<f64>::identity(3, 3);
    assert!(solve_sym_ridge(a.clone(), bn.as_ref(), 1.0, Precision::F64, "t").is_err());
    assert!(solve_sym_ridge(a.clone(), bn.as_ref(), 0.0, Precision::F64, "t").is_err());
    assert!(solve_sym_ridge(a.clone(), gaussian_mat(2, 1, 1).as_ref(), 0.0, Precision::F64, "t").is_err());
    assert!(solve_sym_ridge(Mat::zeros(3, 2), b.as_ref(), 0.0, Precision::F64, "t").is_err());
    for ridge in [-1.0, f64::NAN, f64::NEG_INFINITY] {
        assert!(matches!(
            solve_sym_ridge(a.clone(), b.as_ref(), ridge, Precision::F64, "t"),
            Err(LinalgError::InvalidParameter { .. })
        ));
    }
    assert!(matches!(
        solve_sym_ridge(Mat::zeros(0, 0), Mat::<f64>::zeros(0, 1).as_ref(), 0.0, Precision::F64, "t"),
        Err(LinalgError::Empty { .. })
    ));
}

/// The in-place Cholesky routines in `f64` and `f32`; a failing pivot is reported by index.
#[test]
fn cholesky_in_place_both_precisions() {
    let d = 9;
    let a = psd(d, 4, 0.5);
    let b = gaussian_mat(d, 2, 5);
    let mut l = a.clone();
    cholesky_in_place(l.as_mut(), faer::Par::Seq).unwrap();
    let mut x = b.clone();
    cholesky_solve_in_place(l.as_ref(), x.as_mut(), faer::Par::Seq);
    assert!(rel((&a * &x).as_ref(), b.as_ref()) < 1e-13);
    let mut l32 = Mat::<f32>::from_fn(d, d, |i, j| a[(i, j)] as f32);
    cholesky_in_place(l32.as_mut(), linalg::default_par()).unwrap();
    let mut x32 = Mat::<f32>::from_fn(d, 2, |i, j| b[(i, j)] as f32);
    cholesky_solve_in_place(l32.as_ref(), x32.as_mut(), linalg::default_par());
    let x32 = Mat::from_fn(d, 2, |i, j| x32[(i, j)] as f64);
    assert!(rel(x32.as_ref(), x.as_ref()) < 1e-4);
    let mut bad = Mat::<f64>::identity(3, 3);
    bad[(1, 1)] = -1.0;
    assert_eq!(cholesky_in_place(bad.as_mut(), faer::Par::Seq), Err(1));
}

/// Validation helpers: the first non-finite entry in column-major order, shapes, parameters.
#[test]
fn validation_helpers() {
    let mut a = Mat::<f64>::zeros(3, 4);
    a[(2, 1)] = f64::INFINITY;
    a[(0, 3)] = f64::NAN;
    match check_finite("a", a.as_ref()) {
        Err(LinalgError::NonFinite { row, col, value, .. }) => {
            assert_eq!((row, col), (2, 1));
            assert_eq!(value, f64::INFINITY);
        }
        other => panic!("{other:?}"),
    }
    assert!(check_data("a", Mat::<f64>::zeros(0, 2).as_ref()).is_err());
    assert!(check_data("a", Mat::<f64>::zeros(2, 0).as_ref()).is_err());
    assert!(check_data("a", Mat::<f64>::zeros(2, 2).as_ref()).is_ok());
    assert!(check_finite_slice("v", &[1.0, f64::NEG_INFINITY]).is_err());
    assert!(check_finite_slice("v", &[]).is_ok());
    let m = Mat::<f64>::zeros(2, 3);
    assert!(check_shape("c", m.as_ref(), 2, 3).is_ok());
    let msg = check_shape("my op", m.as_ref(), 3, 3).unwrap_err().to_string();
    assert!(msg.contains("my op") && msg.contains("3 x 3") && msg.contains("2 x 3"), "{msg}");
    assert!(check_square("c", m.as_ref()).is_err());
    assert!(check_same_rows("c", m.as_ref(), Mat::<f64>::zeros(2, 7).as_ref()).is_ok());
    assert!(check_ncols("c", m.as_ref(), 2).is_err());
    for v in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(check_positive("L", v).is_err(), "{v}");
    }
    for v in [-1e-300, f64::NAN, f64::INFINITY] {
        assert!(check_nonnegative("ridge", v).is_err(), "{v}");
    }
    assert!(check_nonnegative("ridge", 0.0).is_ok());
    assert!(check_positive("L", f64::MIN_POSITIVE).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Cosine similarity is scale-invariant, symmetric, in [-1, 1], 1 on itself and -1 on its negation;
    /// Pearson correlation is invariant to `a X + b` (a > 0).
    #[test]
    fn similarity_measures(seed in any::<u64>(), r in 1usize..=6, c in 1usize..=6, s in 0.01f64..100.0, t in -5.0f64..5.0) {
        let a = gaussian_mat(r, c, seed);
        let b = gaussian_mat(r, c, seed.wrapping_add(1));
        let cab = cosine_similarity(a.as_ref(), b.as_ref()).unwrap();
        prop_assert!(cab.abs() <= 1.0 + 1e-15);
        prop_assert!((cab - cosine_similarity(b.as_ref(), a.as_ref()).unwrap()).abs() < 1e-15);
        prop_assert!((cosine_similarity((&a * s).as_ref(), b.as_ref()).unwrap() - cab).abs() < 1e-13);
        prop_assert!((cosine_similarity(a.as_ref(), a.as_ref()).unwrap() - 1.0).abs() < 1e-14);
        prop_assert!((cosine_similarity(a.as_ref(), (&a * -s).as_ref()).unwrap() + 1.0).abs() < 1e-14);
        if r * c >= 2 {
            let p = pearson_correlation(a.as_ref(), b.as_ref()).unwrap();
            let shifted = Mat::from_fn(r, c, |i, j| s * a[(i, j)] + t);
            prop_assert!((pearson_correlation(shifted.as_ref(), b.as_ref()).unwrap() - p).abs() < 1e-10);
            prop_assert!(p.abs() <= 1.0 + 1e-15);
        }
        prop_assert!(cosine_similarity(a.as_ref(), gaussian_mat(r + 1, c, 1).as_ref()).is_err());
        prop_assert_eq!(cosine_similarity(a.as_ref(), Mat::<f64>::zeros(r, c).as_ref()).unwrap(), 0.0);
    }

    /// Seeded randomness: same seed, same numbers; columns are filled first (a wider matrix extends a
    /// narrower one); permutations are permutations.
    #[test]
    fn seeded_randomness(seed in any::<u64>(), n in 1usize..=30, c in 1usize..=5) {
        let a = gaussian_mat(n, c, seed);
        prop_assert_eq!(&a, &gaussian_mat(n, c, seed));
        let wider = gaussian_mat(n, c + 1, seed);
        prop_assert_eq!(a.as_ref(), wider.as_ref().subcols(0, c));
        prop_assert!(a.as_ref().is_all_finite());
        let p = permutation(n, seed);
        prop_assert_eq!(&p, &permutation(n, seed));
        let mut sorted = p.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());
    }

    /// Matrices survive a JSON round trip bit for bit (column-major data, shape checked on load).
    #[test]
    fn serde_round_trip(seed in any::<u64>(), r in 0usize..=6, c in 0usize..=6) {
        let mut m = gaussian_mat(r, c, seed);
        if r * c > 0 {
            m[(0, 0)] = -0.0;
            m[(r - 1, c - 1)] = 5e-324; // subnormal
        }
        if r * c > 2 {
            m[(r / 2, c / 2)] = f64::MAX;
        }
        let w = Wrap { m: m.clone(), o: Some(m.clone()), v: vec![m.clone(), Mat::zeros(2, 1)] };
        let s = serde_json::to_string(&w).unwrap();
        let back: Wrap = serde_json::from_str(&s).unwrap();
        prop_assert_eq!((back.m.nrows(), back.m.ncols()), (r, c));
        for j in 0..c {
            for i in 0..r {
                prop_assert_eq!(back.m[(i, j)].to_bits(), m[(i, j)].to_bits());
            }
        }
        prop_assert_eq!(back.o.unwrap(), m.clone());
        prop_assert_eq!(back.v.len(), 2);
        prop_assert_eq!(&back.v[0], &m);
    }
}

#[derive(Serialize, Deserialize)]
struct Wrap {
    #[serde(with = "linalg::serde_mat")]
    m: Mat<f64>,
    #[serde(with = "linalg::serde_mat::opt")]
    o: Option<Mat<f64>>,
    #[serde(with = "linalg::serde_mat::vec")]
    v: Vec<Mat<f64>>,
}

#[test]
fn serde_rejects_inconsistent_shapes() {
    let bad = r#"{"m":{"nrows":2,"ncols":3,"data":[1,2,3,4,5]},"o":null,"v":[]}"#;
    assert!(serde_json::from_str::<Wrap>(bad).is_err());
    let ok = r#"{"m":{"nrows":2,"ncols":1,"data":[1,2]},"o":null,"v":[]}"#;
    let w: Wrap = serde_json::from_str(ok).unwrap();
    assert_eq!(w.m, faer::mat![[1.0], [2.0]]);
    assert!(w.o.is_none());
}

/// The SIMD `exp` is within 4 ulp of libm over the whole finite range, saturates outside it, and the
/// dispatched, baseline and scalar versions agree.
#[test]
fn simd_exp_accuracy() {
    let mut xs: Vec<f64> = (0..20001).map(|i| -708.0 + i as f64 * (1417.0 / 20000.0)).collect();
    xs.extend([0.0, -0.0, 1e-300, -1e-300, 0.5, -0.5, 1.0, std::f64::consts::LN_2, 709.7, -708.3]);
    for &x in &xs {
        let (got, want) = (linalg::simd::exp(x), x.exp());
        assert!((got - want).abs() <= 4.0 * f64::EPSILON * want, "exp({x}) = {got} vs {want}");
    }
    assert_eq!(linalg::simd::exp(-1000.0), 0.0);
    assert_eq!(linalg::simd::exp(1000.0), f64::INFINITY);
    assert_eq!(linalg::simd::exp(0.0), 1.0);
    let mut a = xs.clone();
    let mut b = xs.clone();
    let mut c = xs.clone();
    linalg::simd::exp_in_place(&mut a);
    linalg::simd::exp_in_place_baseline(&mut b);
    linalg::simd::exp_in_place_libm(&mut c);
    for i in 0..xs.len() {
        let s = linalg::simd::exp(xs[i]);
        assert!((a[i] - s).abs() <= 2.0 * f64::EPSILON * s, "dispatched vs scalar at {}", xs[i]);
        assert!((b[i] - s).abs() <= 2.0 * f64::EPSILON * s, "baseline vs scalar at {}", xs[i]);
        assert_eq!(c[i], xs[i].exp());
    }
    assert!(["avx512", "avx2", "sse4.1", "baseline"].contains(&linalg::simd::simd_level()));
}

/// `top_k_eigen` on a matrix large enough for the Krylov-Schur path agrees with the dense solver.
#[test]
fn top_k_krylov_path() {
    let n = 450;
    let a = psd(n, 8, 0.0);
    let all = sym_eigenvalues(a.as_ref()).unwrap();
    let top = top_k_eigen(a.as_ref(), 6).unwrap();
    for i in 0..6 {
        assert!((top.values[i] - all[i]).abs() < 1e-8 * all[0], "{i}");
        let v = top.vectors.col(i);
        assert!((&a * v - v * top.values[i]).norm_l2() < 1e-7 * all[0]);
        assert!((v.norm_l2() - 1.0).abs() < 1e-10);
    }
}

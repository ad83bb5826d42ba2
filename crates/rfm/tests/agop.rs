//! The AGOP: closed form for linear maps, symmetry/PSD/trace/rank, the diagonal and centred options,
//! batching, errors; the fused kernel path (`kernel_agop`, `h` space) against the AGOP of
//! `KernelModel::input_gradients`; invariance of predictions and AGOP under a permutation of the
//! training rows.
#![allow(clippy::needless_range_loop)]

use datasets::Dataset;
use faer::{Mat, MatRef};
use kernels::{KernelModel, KernelRidgeParams, KernelSpec, Matern, MaternNu, Metric, Prepared};
use linalg::random::{gaussian_mat, permutation};
use proptest::prelude::*;
use rfm::agop::AGOP_BATCH_ENTRIES;
use rfm::{Agop, AgopAccumulator, AgopOptions, RfmError, RfmParams, kernel_agop};

fn rel(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    (a - b).norm_l2() / b.norm_l2().max(f64::MIN_POSITIVE)
}

fn options(centering: bool, diag: bool) -> AgopOptions {
    AgopOptions { centering, diag }
}

const ALL_OPTIONS: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

/// Feeds per-output gradient blocks (`grads[j]` is `N x d`) in batches of the given sizes.
fn accumulate(grads: &[Mat<f64>], opts: AgopOptions, batches: &[usize]) -> Agop {
    let (n, d) = (grads[0].nrows(), grads[0].ncols());
    let mut acc = AgopAccumulator::new(d, grads.len(), opts);
    let mut start = 0;
    for &b in batches.iter().chain(std::iter::once(&n)) {
        let len = b.min(n - start);
        if len == 0 {
            continue;
        }
        let blocks: Vec<MatRef<'_, f64>> = grads.iter().map(|g| g.as_ref().subrows(start, len)).collect();
        acc.add_batch(&blocks).unwrap();
        start += len;
    }
    assert_eq!(start, n);
    assert_eq!(acc.count(), n);
    acc.finish().unwrap()
}

fn full(a: &Agop) -> Mat<f64> {
    match a {
        Agop::Full(m) => m.clone(),
        Agop::Diagonal(_) => panic!("expected a full AGOP"),
    }
}

fn diag_of(a: &Agop) -> Vec<f64> {
    match a {
        Agop::Diagonal(v) => v.clone(),
        Agop::Full(_) => panic!("expected a diagonal AGOP"),
    }
}

/// Batch sizes from a seed (a random split of the evaluation points).
fn batch_sizes(n: usize, seed: u64) -> Vec<usize> {
    let r = gaussian_mat(n.max(1), 1, seed);
    (0..4).map(|i| 1 + (r[(i % n.max(1), 0)].abs() * n as f64 / 3.0) as usize).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// `f(x) = B x`: every gradient of `f_j` is row `j` of `B`, so the AGOP is `B^T B` exactly, its
    /// diagonal is `diag(B^T B)`, and the centred AGOP is 0 (the gradients do not vary).
    #[test]
    fn linear_map_agop_is_btb(seed in any::<u64>(), d in 1usize..=12, c in 1usize..=5, n in 1usize..=30) {
        let b = gaussian_mat(c, d, seed);
        let grads: Vec<Mat<f64>> = (0..c).map(|j| Mat::from_fn(n, d, |_, k| b[(j, k)])).collect();
        let btb = b.transpose() * &b;
        let batches = batch_sizes(n, seed);
        let a = full(&accumulate(&grads, options(false, false), &batches));
        prop_assert!(rel(a.as_ref(), btb.as_ref()) < 1e-13);
        let dg = diag_of(&accumulate(&grads, options(false, true), &batches));
        for k in 0..d {
            prop_assert!((dg[k] - btb[(k, k)]).abs() <= 1e-13 * btb[(k, k)].max(1.0));
        }
        let centred = full(&accumulate(&grads, options(true, false), &batches));
        prop_assert!(centred.norm_max() <= 1e-12 * btb.norm_max());
        let centred_diag = diag_of(&accumulate(&grads, options(true, true), &batches));
        prop_assert!(centred_diag.iter().all(|v| v.abs() <= 1e-12 * btb.norm_max()));
    }

    /// Random gradients: the AGOP is symmetric PSD with trace = mean squared Jacobian norm, rank <=
    /// min(d, N c), equals `(1/N) sum_j G_j^T G_j`; the diagonal option is its diagonal; centring
    /// subtracts `sum_j gbar_j gbar_j^T` and lowers the trace; batching does not matter.
    #[test]
    fn agop_of_random_gradients(seed in any::<u64>(), d in 1usize..=12, c in 1usize..=4, n in 1usize..=25) {
        let grads: Vec<Mat<f64>> = (0..c)
            .map(|j| {
                let shift = gaussian_mat(1, d, seed.wrapping_add(100 + j as u64));
                let g = gaussian_mat(n, d, seed.wrapping_add(j as u64));
                Mat::from_fn(n, d, |s, k| g[(s, k)] + 2.0 * shift[(0, k)]) // non-zero means
            })
            .collect();
        let batches = batch_sizes(n, seed);
        let agop = accumulate(&grads, options(false, false), &batches);
        let a = full(&agop);
        // reference
        let mut want = Mat::<f64>::zeros(d, d);
        for g in &grads {
            want += g.transpose() * g;
        }
        let want = want * (1.0 / n as f64);
        prop_assert!(rel(a.as_ref(), want.as_ref()) < 1e-13);
        // symmetric, PSD, trace, rank
        for i in 0..d {
            for j in 0..d {
                prop_assert_eq!(a[(i, j)], a[(j, i)]);
            }
        }
        let tr = linalg::sym::trace(a.as_ref());
        let jac: f64 = (0..n).map(|s| grads.iter().map(|g| g.row(s).squared_norm_l2()).sum::<f64>()).sum::<f64>()
            / n as f64;
        prop_assert!((tr - jac).abs() <= 1e-12 * jac);
        prop_assert!((agop.trace() - tr).abs() <= 1e-12 * tr);
        let ev = linalg::sym::sym_eigenvalues(a.as_ref()).unwrap();
        prop_assert!(*ev.last().unwrap() >= -1e-12 * tr);
        let rank = ev.iter().filter(|&&l| l > 1e-10 * ev[0]).count();
        prop_assert!(rank <= d.min(n * c), "rank {} > min({}, {})", rank, d, n * c);
        // one batch or many
        let one = full(&accumulate(&grads, options(false, false), &[n]));
        prop_assert!(rel(one.as_ref(), a.as_ref()) < 1e-13);
        // diagonal option
        let dg = accumulate(&grads, options(false, true), &batches);
        let dv = diag_of(&dg);
        for k in 0..d {
            prop_assert!((dv[k] - a[(k, k)]).abs() <= 1e-13 * a[(k, k)].max(f64::MIN_POSITIVE));
        }
        prop_assert_eq!(dg.diagonal(), dv.clone());
        prop_assert_eq!(dg.to_matrix(), Mat::from_fn(d, d, |i, j| if i == j { dv[i] } else { 0.0 }));
        prop_assert_eq!(agop.diagonal(), (0..d).map(|k| a[(k, k)]).collect::<Vec<_>>());
        // centring: AGOP - sum_j gbar_j gbar_j^T
        let ca = full(&accumulate(&grads, options(true, false), &batches));
        let mut want_c = a.clone();
        for g in &grads {
            let mean = Mat::from_fn(1, d, |_, k| g.col(k).sum() / n as f64);
            want_c -= mean.transpose() * &mean;
        }
        prop_assert!((&ca - &want_c).norm_max() <= 1e-12 * a.norm_max());
        let ctr = linalg::sym::trace(ca.as_ref());
        prop_assert!(ctr <= tr * (1.0 + 1e-12), "centred trace {} > trace {}", ctr, tr);
        prop_assert!(ctr < tr, "non-zero mean gradients must lower the trace");
        let cev = linalg::sym::sym_eigenvalues(ca.as_ref()).unwrap();
        prop_assert!(*cev.last().unwrap() >= -1e-12 * tr);
        let cd = diag_of(&accumulate(&grads, options(true, true), &batches));
        for k in 0..d {
            prop_assert!((cd[k] - ca[(k, k)]).abs() <= 1e-12 * tr);
        }
    }

    /// The fused `h`-space path `kernel_agop` equals the AGOP of `KernelModel::input_gradients` fed into
    /// an `AgopAccumulator`: centred or not, full or diagonal, every metric, Laplace / Gaussian /
    /// Matern 5/2 / quadratic, at the training points (Laplace self terms dropped by both) and at
    /// other points, in one batch or in several.
    #[test]
    fn kernel_agop_equals_agop_of_input_gradients(
        seed in any::<u64>(), d in 1usize..=12, which in 0usize..3, kernel in 0usize..4, at_train in any::<bool>()
    ) {
        let n = 45;
        let x = gaussian_mat(n, d, seed) * (1.0 / (d as f64).sqrt());
        let alpha = gaussian_mat(n, 3, seed.wrapping_add(1));
        let met = metric(which, d, seed);
        let k = match kernel {
            0 => KernelSpec::laplace(1.3),
            1 => KernelSpec::gaussian(0.9),
            2 => KernelSpec::Matern(Matern { nu: MaternNu::FiveHalves, bandwidth: 1.1 }),
            _ => KernelSpec::quadratic(),
        };
        let model = KernelModel::new(k, met.clone(), x.clone(), alpha.clone()).unwrap();
        let eval_x = if at_train { x.clone() } else { gaussian_mat(70, d, seed.wrapping_add(2)) };
        let grads = model.input_gradients(eval_x.as_ref()).unwrap();
        let train = Prepared::new(x.as_ref(), &met);
        let eval = Prepared::new(eval_x.as_ref(), &met);
        for (centering, diag) in ALL_OPTIONS {
            let opts = options(centering, diag);
            let want = accumulate(&grads, opts, &[eval_x.nrows()]);
            for budget in [1usize, AGOP_BATCH_ENTRIES] {
                let got = kernel_agop(&k, &met, &train, alpha.as_ref(), &eval, opts, budget).unwrap();
                prop_assert_eq!(matches!(got, Agop::Diagonal(_)), diag);
                let err = rel(got.to_matrix().as_ref(), want.to_matrix().as_ref());
                prop_assert!(
                    err < 1e-10,
                    "{:?} metric {} centering {} diag {} budget {}: rel err {:e}",
                    k, which, centering, diag, budget, err
                );
            }
        }
    }
}

fn metric(which: usize, d: usize, seed: u64) -> Metric {
    match which {
        0 => Metric::Euclidean,
        1 => {
            let w = gaussian_mat(d, 1, seed ^ 0xd1a9);
            Metric::Diagonal((0..d).map(|i| (0.7 * w[(i, 0)]).exp()).collect())
        }
        _ => {
            let g = gaussian_mat(d, d, seed ^ 0xf011);
            Metric::Mahalanobis((&g * g.transpose()) * (1.0 / d as f64))
        }
    }
}

/// Bad gradient batches and an empty accumulator are errors.
#[test]
fn accumulator_errors() {
    let mut acc = AgopAccumulator::new(3, 2, AgopOptions::default());
    assert!(acc.finish().is_err(), "no evaluation points");
    let g = gaussian_mat(4, 3, 1);
    assert!(matches!(acc.add_batch(&[g.as_ref()]), Err(RfmError::InvalidParameter { .. })));
    assert!(acc.add_batch(&[g.as_ref(), gaussian_mat(4, 2, 2).as_ref()]).is_err());
    assert!(acc.add_batch(&[g.as_ref(), gaussian_mat(5, 3, 2).as_ref()]).is_err());
    let mut bad = g.clone();
    bad[(2, 1)] = f64::NAN;
    assert!(matches!(acc.add_batch(&[g.as_ref(), bad.as_ref()]), Err(RfmError::Linalg(_))));
    assert!(acc.add_batch(&[g.as_ref(), g.as_ref()]).is_ok());
    assert_eq!(acc.count(), 4);
}

fn permute_rows(a: MatRef<'_, f64>, perm: &[usize]) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, k| a[(perm[i], k)])
}

/// Permuting the training rows leaves the fitted predictor, its AGOP and a whole RFM run unchanged
/// (up to round-off): the coefficients are permuted the same way.
#[test]
fn permutation_invariance() {
    let (n, d) = (120, 6);
    let x = gaussian_mat(n, d, 1) * (1.0 / (d as f64).sqrt());
    let y = Mat::from_fn(n, 2, |i, j| (x[(i, j)] * 3.0).sin() + x[(i, 2)] * x[(i, 3)]);
    let perm = permutation(n, 9);
    let (xp, yp) = (permute_rows(x.as_ref(), &perm), permute_rows(y.as_ref(), &perm));
    let xt = gaussian_mat(30, d, 2) * (1.0 / (d as f64).sqrt());
    for which in 0..3 {
        let met = metric(which, d, 3);
        for k in [KernelSpec::laplace(1.0), KernelSpec::gaussian(0.8)] {
            let params = KernelRidgeParams::new(k).with_metric(met.clone()).with_ridge(1e-3);
            let m1 = params.fit(x.as_ref(), y.as_ref()).unwrap();
            let m2 = params.fit(xp.as_ref(), yp.as_ref()).unwrap();
            assert!(rel(m2.alpha.as_ref(), permute_rows(m1.alpha.as_ref(), &perm).as_ref()) < 1e-9);
            let (p1, p2) = (m1.predict(xt.as_ref()).unwrap(), m2.predict(xt.as_ref()).unwrap());
            assert!(rel(p2.as_ref(), p1.as_ref()) < 1e-10, "{k:?} metric {which}");
            let (t1, t2) = (Prepared::new(x.as_ref(), &met), Prepared::new(xp.as_ref(), &met));
            for (centering, diag) in ALL_OPTIONS {
                let opts = options(centering, diag);
                let a1 =
                    kernel_agop(&k, &met, &t1, m1.alpha.as_ref(), &t1, opts, AGOP_BATCH_ENTRIES).unwrap();
                let a2 = kernel_agop(&k, &met, &t2, m2.alpha.as_ref(), &t2, opts, 1).unwrap();
                assert!(rel(a2.to_matrix().as_ref(), a1.to_matrix().as_ref()) < 1e-9, "{k:?} {opts:?}");
            }
        }
    }
    // a whole RFM run (3 metric updates) on the permuted data
    let (d1, d2) = (Dataset::new("a", x.clone(), y.clone()).unwrap(), Dataset::new("b", xp, yp).unwrap());
    for params in [
        RfmParams::new(KernelSpec::laplace(2.0)).with_iters(3),
        RfmParams::new(KernelSpec::gaussian(1.0)).with_iters(3).with_centering(true).with_diag(true),
    ] {
        let r1 = params.fit(&d1).unwrap();
        let r2 = params.fit(&d2).unwrap();
        let (f1, f2) = (r1.feature_matrix(), r2.feature_matrix());
        let err = rel(f2.as_ref(), f1.as_ref());
        assert!(err < 1e-8, "feature matrices differ by {err:e}");
        let (p1, p2) = (r1.predict(xt.as_ref()).unwrap(), r2.predict(xt.as_ref()).unwrap());
        assert!(rel(p2.as_ref(), p1.as_ref()) < 1e-8);
    }
}

/// Runs `f`; fails unless it returns `Err` (a panic or an `Ok` is reported).
fn assert_err_not_panic<T: std::fmt::Debug, E>(what: &str, f: impl FnOnce() -> Result<T, E>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Err(_)) => {}
        Ok(Ok(v)) => panic!("{what}: accepted (returned {v:?})"),
        Err(_) => panic!("{what}: panicked instead of returning Err"),
    }
}

/// A rejected batch must leave the accumulator as it was.
#[test]
fn rejected_batch_leaves_accumulator_unchanged() {
    let g = gaussian_mat(4, 3, 1);
    let mut bad = g.clone();
    bad[(2, 1)] = f64::NAN;
    for opts in [options(false, false), options(true, false), options(false, true)] {
        let mut acc = AgopAccumulator::new(3, 2, opts);
        assert!(acc.add_batch(&[g.as_ref(), bad.as_ref()]).is_err());
        assert!(acc.add_batch(&[g.as_ref(), gaussian_mat(4, 2, 5).as_ref()]).is_err());
        acc.add_batch(&[g.as_ref(), g.as_ref()]).unwrap();
        let mut clean = AgopAccumulator::new(3, 2, opts);
        clean.add_batch(&[g.as_ref(), g.as_ref()]).unwrap();
        let (a, b) = (acc.finish().unwrap().to_matrix(), clean.finish().unwrap().to_matrix());
        assert!(
            (&a - &b).norm_max() < 1e-14,
            "{opts:?}: AGOP changed by a rejected batch: {:e}",
            (&a - &b).norm_max()
        );
    }
}

/// `kernel_agop` returns a `Result`: mismatched shapes must be an `Err`, not a panic.
#[test]
fn kernel_agop_shape_mismatch_is_an_error() {
    let x = gaussian_mat(10, 3, 1);
    let k = KernelSpec::laplace(1.0);
    let met = Metric::Euclidean;
    let train = Prepared::new(x.as_ref(), &met);
    let alpha = gaussian_mat(10, 2, 2);
    let alpha9 = gaussian_mat(9, 2, 3);
    let eval4 = Prepared::new(gaussian_mat(5, 4, 4).as_ref(), &met);
    let o = AgopOptions::default();
    assert_err_not_panic("alpha with 9 rows for 10 training points", || {
        kernel_agop(&k, &met, &train, alpha9.as_ref(), &train, o, AGOP_BATCH_ENTRIES)
    });
    assert_err_not_panic("4-d evaluation points for a 3-d predictor", || {
        kernel_agop(&k, &met, &train, alpha.as_ref(), &eval4, o, AGOP_BATCH_ENTRIES)
    });
}

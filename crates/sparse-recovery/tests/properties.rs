//! Invariants of lin-RFM and its baselines: PSD feature matrices, the SVD-free path equals the
//! general one, lin-RFM = IRLS-p with p = 2 - 4 alpha, exact recovery, permutation equivariance,
//! determinism, and typed errors for bad input.
use faer::Mat;
use faer::linalg::solvers::Solve;
use proptest::prelude::*;
use sparse_recovery::kernel_step::{agop_rows, kernel_regression_rows};
use sparse_recovery::regression::{DiagLinRfmParams, IrlsRegressionParams, weighted_least_norm};
use sparse_recovery::*;

fn min_eig(a: &Mat<f64>) -> (f64, f64) {
    let v = linalg::sym::sym_eigenvalues(a.as_ref()).unwrap();
    (*v.last().unwrap(), v[0])
}

fn no_holdout(alpha: f64) -> LinRfmParams {
    LinRfmParams::new(alpha).with_holdout(0.0).with_tol(0.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// G = Yhat^T Yhat / d1 and M = G^alpha are symmetric PSD after every iteration.
    #[test]
    fn agop_and_feature_matrix_are_psd(d1 in 3usize..14, d2 in 3usize..14, seed in any::<u64>(), ai in 0usize..3) {
        let alpha = [0.25, 0.5, 1.0][ai];
        let r = 1;
        let n = (d1 * d2 / 2).max(1);
        let inst = low_rank_instance(d1, d2, r, n, seed).unwrap();
        let mut k = Mat::<f64>::identity(d2, d2);
        let mut out = vec![0.0; d1 * d2];
        for _ in 0..4 {
            kernel_regression_rows(&k, &inst.observed, 1e-2, true, &mut out).unwrap();
            let g = agop_rows(&out, d1, d2).unwrap();
            let m = feature_matrix(g.as_ref(), alpha, 0.0).unwrap();
            for a in [&g, &m] {
                let (lo, hi) = min_eig(a);
                prop_assert!(lo >= -1e-10 * hi.abs().max(1.0), "min eigenvalue {lo} (max {hi})");
                prop_assert!((a - a.transpose()).norm_max() <= 1e-12 * a.norm_max().max(1.0));
            }
            k = kernel_from_agop(g, alpha, 0.0, KernelMethod::Auto).unwrap();
        }
    }

    /// The SVD-free alpha = 1/2 path (K = G) equals the general path M = G^(1/2), K = M M.
    #[test]
    fn svd_free_equals_general_path(seed in any::<u64>()) {
        let inst = low_rank_instance(30, 30, 2, 360, seed).unwrap();
        let a = no_holdout(0.5).with_max_iters(8).fit(&inst.observed).unwrap();
        let b = no_holdout(0.5).with_method(KernelMethod::Eigen).with_max_iters(8).fit(&inst.observed).unwrap();
        let diff = (a.prediction() - b.prediction()).norm_max();
        let scale = a.prediction().norm_max();
        prop_assert!(diff <= 1e-7 * scale, "max difference {diff} (scale {scale})");
    }

    /// Likewise alpha = 1 (K = G^2 by one GEMM) against the eigendecomposition.
    #[test]
    fn gemm_alpha_one_equals_general_path(seed in any::<u64>()) {
        let inst = low_rank_instance(25, 30, 2, 300, seed).unwrap();
        let a = no_holdout(1.0).with_max_iters(6).fit(&inst.observed).unwrap();
        let b = no_holdout(1.0).with_method(KernelMethod::Eigen).with_max_iters(6).fit(&inst.observed).unwrap();
        let diff = (a.prediction() - b.prediction()).norm_max();
        prop_assert!(diff <= 1e-6 * a.prediction().norm_max(), "max difference {diff}");
    }

    /// One diagonal lin-RFM step equals one IRLS-p step with p = 2 - 4 alpha (eps = 0), and both equal
    /// the closed-form weighted least norm w = D X^T (X D X^T)^{-1} y with D = |w_t|^(2 - p).
    #[test]
    fn diagonal_lin_rfm_step_is_irls_step(seed in any::<u64>(), ai in 0usize..3) {
        let alpha = [0.25, 0.5, 1.0][ai];
        let p = 2.0 - 4.0 * alpha;
        let inst = sparse_regression_instance(12, 30, 3, seed).unwrap();
        let x = inst.x.as_ref();
        let w0 = weighted_least_norm(x, &inst.y, &[1.0; 30], 0.0).unwrap();
        let rfm = DiagLinRfmParams::new(alpha).with_reg(0.0).step(x, &inst.y, &w0).unwrap();
        let irls = IrlsRegressionParams { p, reg: 0.0, ..Default::default() }.step(x, &inst.y, &w0, 0.0).unwrap();
        // closed form, computed independently with a dense LU solve
        let dvec: Vec<f64> = w0.iter().map(|w| w.abs().powf(2.0 - p)).collect();
        let xd = Mat::from_fn(12, 30, |i, j| x[(i, j)] * dvec[j]);
        let k = &xd * x.transpose();
        let yv = Mat::from_fn(12, 1, |i, _| inst.y[i]);
        let a = k.partial_piv_lu().solve(&yv);
        let w = xd.transpose() * &a;
        let scale = w.norm_max();
        for j in 0..30 {
            prop_assert!((rfm[j] - irls[j]).abs() <= 1e-9 * scale, "j={j}: {} vs {}", rfm[j], irls[j]);
            prop_assert!((rfm[j] - w[(j, 0)]).abs() <= 1e-7 * scale, "j={j}: {} vs {}", rfm[j], w[(j, 0)]);
        }
        // and it interpolates
        let pred = x * Mat::from_fn(30, 1, |j, _| rfm[j]);
        for i in 0..12 {
            prop_assert!((pred[(i, 0)] - inst.y[i]).abs() <= 1e-8 * inst.y.iter().fold(1.0f64, |m, v| m.max(v.abs())));
        }
    }

    /// Row and column permutations of the observations permute the completion.
    #[test]
    fn permutation_equivariance(seed in any::<u64>(), ai in 0usize..3) {
        let alpha = [0.25, 0.5, 1.0][ai];
        let (d1, d2) = (14, 11);
        let inst = low_rank_instance(d1, d2, 2, 90, seed).unwrap();
        let rp = linalg::random::permutation(d1, seed ^ 1);
        let cp = linalg::random::permutation(d2, seed ^ 2);
        let perm = inst.observed.permuted(&rp, &cp).unwrap();
        let params = no_holdout(alpha).with_max_iters(5);
        let a = params.fit(&inst.observed).unwrap();
        let b = params.fit(&perm).unwrap();
        let (pa, pb) = (a.prediction(), b.prediction());
        for i in 0..d1 {
            for j in 0..d2 {
                prop_assert!((pa[(i, j)] - pb[(rp[i], cp[j])]).abs() <= 1e-8 * pa.norm_max().max(1.0));
            }
        }
    }
}

/// A rank-1 matrix with 60% of its entries observed is recovered to relative error < 1e-6 within
/// 100 iterations, for every alpha >= 1/4 (reg -> 0 after the switch, with a decaying epsilon: with the
/// reference's fixed ridge 1e-3 the error floors at ~1e-4 for alpha = 1/4 and ~5e-5 for alpha = 1/2).
#[test]
fn exact_recovery_of_rank_one() {
    for &alpha in &[0.25, 0.5, 1.0] {
        let inst = low_rank_instance(40, 40, 1, 960, 11).unwrap();
        let fit = LinRfmParams::new(alpha)
            .with_holdout(0.0)
            .with_max_iters(100)
            .with_tol(1e-14)
            .with_reg_final(1e-9)
            .with_epsilon(Epsilon::Geometric { initial: 1.0, factor: 0.5, min: 0.0 })
            .fit(&inst.observed)
            .unwrap();
        let e = inst.unobserved_error(fit.prediction()).unwrap();
        assert!(
            e.relative < 1e-6,
            "alpha {alpha}: relative error {:.3e} after {} iterations",
            e.relative,
            fit.iters
        );
    }
}

/// Reg -> 0 without replacement: the fit interpolates the observations.
#[test]
fn interpolates_without_replace() {
    let inst = low_rank_instance(20, 20, 2, 160, 5).unwrap();
    let fit = no_holdout(0.5)
        .with_replace(false)
        .with_reg(1e-10)
        .with_reg_final(1e-10)
        .with_max_iters(5)
        .fit(&inst.observed)
        .unwrap();
    let mse = inst.observed.relative_mse(fit.prediction()).unwrap();
    assert!(mse < 1e-10, "observed-entry relative MSE {mse}");
}

#[test]
fn deterministic_with_a_seed() {
    let a = low_rank_instance(50, 40, 3, 700, 9).unwrap();
    let b = low_rank_instance(50, 40, 3, 700, 9).unwrap();
    assert_eq!(a.observed, b.observed);
    assert_ne!(a.observed, low_rank_instance(50, 40, 3, 700, 10).unwrap().observed);
    let p = LinRfmParams::new(1.0).with_max_iters(30).with_seed(4);
    let fa = p.fit(&a.observed).unwrap();
    let fb = p.fit(&b.observed).unwrap();
    assert_eq!(fa.prediction_row_major(), fb.prediction_row_major());
    let s = SoftImputeParams::default().with_n_lambdas(4).with_max_inner(10);
    assert_eq!(
        s.fit(&a.observed).unwrap().prediction_row_major(),
        s.fit(&a.observed).unwrap().prediction_row_major()
    );
    let d = DlnParams::new(2).with_steps(50);
    assert_eq!(
        d.fit_completion(&a.observed).unwrap().prediction_row_major(),
        d.fit_completion(&a.observed).unwrap().prediction_row_major()
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    use SparseRecoveryError as E;
    assert!(matches!(Observations::from_triplets(3, 3, &[(3, 0, 1.0)]), Err(E::IndexOutOfRange { .. })));
    assert!(matches!(Observations::from_triplets(3, 3, &[(0, 5, 1.0)]), Err(E::IndexOutOfRange { .. })));
    assert!(matches!(
        Observations::from_triplets(3, 3, &[(1, 1, 1.0), (1, 1, 2.0)]),
        Err(E::DuplicateEntry { row: 1, col: 1 })
    ));
    assert!(matches!(Observations::from_triplets(3, 3, &[(0, 0, f64::NAN)]), Err(E::NonFiniteValue { .. })));
    assert!(matches!(
        Observations::from_triplets(3, 3, &[(0, 0, f64::INFINITY)]),
        Err(E::NonFiniteValue { .. })
    ));
    assert!(matches!(Observations::from_triplets(3, 3, &[]), Err(E::Empty { .. })));
    assert!(Observations::from_triplets(0, 3, &[(0, 0, 1.0)]).is_err());
    assert!(matches!(low_rank_instance(10, 10, 10, 50, 0), Err(E::InvalidParameter { .. })));
    assert!(matches!(low_rank_instance(10, 8, 9, 50, 0), Err(E::InvalidParameter { .. })));
    assert!(low_rank_instance(10, 10, 0, 50, 0).is_err());
    assert!(low_rank_instance(10, 10, 2, 0, 0).is_err());
    assert!(low_rank_instance(10, 10, 2, 101, 0).is_err());
    assert!(low_rank_instance_frac(10, 10, 2, 0.0, 0).is_err());
    assert!(low_rank_instance_frac(10, 10, 2, 1.5, 0).is_err());
    let inst = low_rank_instance(10, 10, 2, 50, 0).unwrap();
    for alpha in [0.0, -1.0, f64::NAN] {
        let e = LinRfmParams::new(alpha).fit(&inst.observed).unwrap_err();
        assert!(e.to_string().contains("alpha"), "{e}");
    }
    assert!(LinRfmParams::new(1.0).with_reg(0.0).fit(&inst.observed).is_err());
    assert!(LinRfmParams::new(1.0).with_holdout(1.0).fit(&inst.observed).is_err());
    assert!(LinRfmParams::new(1.0).with_max_iters(0).fit(&inst.observed).is_err());
    assert!(IrlsParams::new(0.0, 10).fit(&inst.observed).is_err()); // rank >= dims
    assert!(IrlsParams::new(2.5, 2).fit(&inst.observed).is_err());
    assert!(DlnParams::new(1).fit_completion(&inst.observed).is_err());
    // a single observation cannot be split into training and validation
    let one = Observations::from_triplets(3, 3, &[(0, 0, 1.0)]).unwrap();
    assert!(matches!(LinRfmParams::new(1.0).fit(&one), Err(E::Empty { .. })));
    // shape errors
    assert!(inst.unobserved_error(Mat::<f64>::zeros(3, 3).as_ref()).is_err());
    let x = Mat::<f64>::zeros(3, 4);
    assert!(weighted_least_norm(x.as_ref(), &[1.0, 2.0], &[1.0; 4], 0.0).is_err());
    assert!(weighted_least_norm(x.as_ref(), &[1.0, f64::NAN, 0.0], &[1.0; 4], 0.0).is_err());
    assert!(sparse_regression_instance(10, 5, 6, 0).is_err());
}

#[test]
fn baselines_behave() {
    // an easy instance: SoftImpute and IRLS-0 both get close, the DLN fits the observed entries
    let inst = low_rank_instance(60, 60, 2, 1800, 3).unwrap();
    let si = SoftImputeParams::default().fit(&inst.observed).unwrap();
    let e = inst.unobserved_error(si.prediction()).unwrap();
    assert!(e.relative < 0.3, "SoftImpute relative error {}", e.relative);
    let ir = IrlsParams::new(0.0, 2).with_max_iters(200).fit(&inst.observed).unwrap();
    let e = inst.unobserved_error(ir.prediction()).unwrap();
    assert!(e.relative < 1e-2, "IRLS-0 relative error {}", e.relative);
    let dl = DlnParams::new(2).with_steps(2000).fit_completion(&inst.observed).unwrap();
    let e = inst.unobserved_error(dl.prediction()).unwrap();
    assert!(e.relative < 0.2, "DLN relative error {}", e.relative);
    // sparse regression: lin-RFM recovers a 3-sparse vector from 25 samples in 60 dimensions
    let p = sparse_regression_instance(25, 60, 3, 1).unwrap();
    let fit = DiagLinRfmParams::new(0.5).fit(p.x.as_ref(), &p.y).unwrap();
    assert!(p.relative_error(&fit.w) < 1e-6, "lin-RFM error {}", p.relative_error(&fit.w));
    let fit = IrlsRegressionParams::new(0.0).fit(p.x.as_ref(), &p.y).unwrap();
    assert!(p.relative_error(&fit.w) < 1e-4, "IRLS error {}", p.relative_error(&fit.w));
    let fit = DlnParams::new(2).with_steps(20000).fit_regression(p.x.as_ref(), &p.y).unwrap();
    assert!(p.relative_error(&fit.w) < 0.1, "DLN error {}", p.relative_error(&fit.w));
}

#[test]
fn observations_serde_round_trip() {
    let inst = low_rank_instance(8, 6, 1, 20, 0).unwrap();
    let s = serde_json::to_string(&inst.observed).unwrap();
    let back: Observations = serde_json::from_str(&s).unwrap();
    assert_eq!(back, inst.observed);
    let bad = r#"{"d1":2,"d2":2,"triplets":[[0,0,1.0],[0,0,2.0]]}"#;
    assert!(serde_json::from_str::<Observations>(bad).is_err());
}

/// With `merge_after_switch`, the hold-out is used only until the ridge switch: afterwards there is
/// no validation error, the fit uses every observation (its residual is counted over all of them),
/// the loop stops on the change tolerance, and it recovers the matrix at least as well as the fit
/// that keeps 5% of the entries out.
#[test]
fn merging_the_holdout_after_the_switch() {
    let inst = low_rank_instance(120, 100, 3, 2400, 5).unwrap();
    let base = LinRfmParams::new(1.0).with_tol(1e-6).with_patience(100).with_max_iters(600).with_seed(1);
    let keep = base.fit(&inst.observed).unwrap();
    let merged = base.clone().with_merge_after_switch(Some(1e-6)).fit(&inst.observed).unwrap();
    let switch = merged.history.iter().position(|h| h.reg < 5e-2).expect("the ridge switches");
    assert!(merged.history[..switch].iter().all(|h| h.val_rel_mse.is_finite()));
    assert!(merged.history[switch..].iter().all(|h| h.val_rel_mse.is_nan()));
    assert!(merged.best_val_rel_mse.is_none());
    assert_eq!(merged.best_iter, merged.iters - 1);
    if merged.stop == StopReason::Converged {
        assert!(merged.history.last().unwrap().change < 1e-6);
    }
    let e_keep = inst.unobserved_error(keep.prediction()).unwrap().relative;
    let e_merged = inst.unobserved_error(merged.prediction()).unwrap().relative;
    assert!(e_merged <= e_keep * 1.05, "merged {e_merged:.3e} vs hold-out kept {e_keep:.3e}");
    let err = LinRfmParams::new(1.0).with_merge_after_switch(Some(-1.0)).fit(&inst.observed).unwrap_err();
    assert!(err.to_string().contains("merge_after_switch"), "{err}");
}

/// Heavy-ball momentum on the AGOP input: the same fixed points, far fewer iterations in the slow
/// linear phase, restarts (momentum 0) at iteration 0 and after every iteration whose hold-out
/// error got worse, and `momentum` outside `[0, 1)` is an error.
#[test]
fn momentum_accelerates_with_restarts() {
    let inst = low_rank_instance_frac(200, 200, 4, 0.12, 11).unwrap();
    let base = LinRfmParams::new(0.5)
        .with_epsilon(Epsilon::Geometric { initial: 1.0, factor: 0.9, min: 0.0 })
        .with_tol(0.0)
        .with_patience(1000)
        .with_max_iters(600)
        .with_seed(0);
    let iters_to = |p: &LinRfmParams| {
        let mut hit = None;
        let fit = p
            .fit_with(&inst.observed, &mut |s| {
                if inst.unobserved_error(s.prediction).unwrap().relative <= 1e-2 {
                    hit = Some(s.iter);
                    return Control::Stop;
                }
                Control::Continue
            })
            .unwrap();
        (hit, fit)
    };
    let (plain, _) = iters_to(&base);
    let (fast, fit) = iters_to(&base.clone().with_momentum(0.9));
    let (plain, fast) = (plain.expect("plain lin-RFM reaches 1e-2"), fast.expect("momentum reaches 1e-2"));
    assert!(2 * fast < plain, "momentum {fast} iterations vs {plain} without");
    eprintln!("iterations to 1e-2: {plain} without momentum, {fast} with 0.9");
    let h = &fit.history;
    assert_eq!(h[0].momentum, 0.0);
    for w in h.windows(3) {
        // the momentum of iteration t is dropped iff the hold-out error rose from t-2 to t-1
        let worse = w[1].val_rel_mse.is_nan() || w[1].val_rel_mse > w[0].val_rel_mse;
        assert_eq!(w[2].momentum, if worse { 0.0 } else { 0.9 }, "iteration {}", w[2].iter);
    }
    assert!(h.iter().filter(|r| r.momentum > 0.0).count() * 2 > h.len());
    // after the hold-out is merged the criterion is the change of the prediction, which
    // heavy-ball steps make oscillate: restart only when it more than doubles
    let merged = base.clone().with_momentum(0.9).with_tol(1e-7).with_merge_after_switch(Some(1e-7));
    let fit = merged.fit(&inst.observed).unwrap();
    let h = &fit.history;
    let m = h.iter().position(|r| r.val_rel_mse.is_nan()).expect("the hold-out is merged");
    assert_eq!(h[m].momentum, 0.0);
    for w in h[m..].windows(3) {
        let restart = w[1].change > 2.0 * w[0].change;
        assert_eq!(w[2].momentum, if restart { 0.0 } else { 0.9 }, "iteration {}", w[2].iter);
    }
    assert!(h[m..].iter().filter(|r| r.momentum > 0.0).count() * 2 > h.len() - m);
    assert!(inst.unobserved_error(fit.prediction()).unwrap().relative < 1e-2);
    assert!(LinRfmParams::new(0.5).with_momentum(0.0).fit(&inst.observed).is_ok());
    for m in [1.0, -0.1, f64::NAN] {
        let e = LinRfmParams::new(0.5).with_momentum(m).fit(&inst.observed).unwrap_err();
        assert!(e.to_string().contains("momentum"), "{e}");
    }
}

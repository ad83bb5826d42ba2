//! Recursive Feature Machines: hyperparameter validation, determinism, serde round trips, feature
//! learning on `y = x1 x2`, the post-processing of the AGOP (power, normalisations), and the observer
//! protocol (early stop, `agop_after_last_fit`, per-step consistency, best-validation selection).
#![allow(clippy::needless_range_loop)]

use datasets::Dataset;
use datasets::synthetic::{MultiIndexTask, multi_index};
use faer::{Mat, MatRef};
use kernels::{KernelError, KernelSpec, Metric, Prepared};
use linalg::random::gaussian_mat;
use rfm::agop::AGOP_BATCH_ENTRIES;
use rfm::{Agop, AgopOptions, Control, Normalization, RfmError, RfmModel, RfmParams, Selection, kernel_agop};

fn rel(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    (a - b).norm_l2() / b.norm_l2().max(f64::MIN_POSITIVE)
}

fn small_task(n: usize, seed: u64) -> Dataset {
    multi_index(MultiIndexTask::Prod, n, 6, seed).unwrap()
}

fn invalid_name(e: &RfmError) -> Option<&str> {
    match e {
        RfmError::InvalidParameter { name, .. } => Some(name.as_str()),
        _ => None,
    }
}

/// Every invalid hyperparameter is rejected by `validate` and by `fit`, each with its own error.
#[test]
fn invalid_hyperparameters_are_rejected() {
    let train = small_task(40, 1);
    let base = RfmParams::new(KernelSpec::laplace(2.0)).with_iters(1);
    assert!(base.validate().is_ok());
    let cases: Vec<(RfmParams, &str)> = vec![
        (base.clone().with_ridge(-1e-3), "ridge"),
        (base.clone().with_ridge(f64::NAN), "ridge"),
        (base.clone().with_ridge(f64::INFINITY), "ridge"),
        (base.clone().with_power(0.0), "power"),
        (base.clone().with_power(-0.5), "power"),
        (base.clone().with_power(f64::NAN), "power"),
        (base.clone().with_power(f64::INFINITY), "power"),
        (base.clone().with_agop_subsample(Some(0)), "agop_subsample"),
        (base.clone().with_iters(100_001), "iters"),
    ];
    for (p, name) in cases {
        let e = p.validate().unwrap_err();
        assert_eq!(invalid_name(&e), Some(name), "{e}");
        let e = p.fit(&train).unwrap_err();
        assert_eq!(invalid_name(&e), Some(name), "{e}");
    }
    for k in [
        KernelSpec::laplace(-1.0),
        KernelSpec::laplace(0.0),
        KernelSpec::laplace(f64::NAN),
        KernelSpec::gaussian(-2.5),
    ] {
        let p = base.clone().with_kernel(k);
        for e in [p.validate().unwrap_err(), p.fit(&train).unwrap_err()] {
            match &e {
                RfmError::Kernel(KernelError::InvalidParameter { name, .. }) => assert_eq!(name, "bandwidth"),
                other => panic!("{k:?}: expected a bandwidth error, got {other:?}"),
            }
        }
    }
    // BestValidation needs validation data (a fit-time check)
    let p = base.clone().with_selection(Selection::BestValidation);
    let e = p.fit(&train).unwrap_err();
    assert_eq!(invalid_name(&e), Some("selection"), "{e}");
    let val = small_task(20, 2);
    assert!(p.fit_with(&train, Some(&val), &p.solver, &mut |_| Control::Continue).is_ok());
    // validation data of the wrong shape
    let wrong = multi_index(MultiIndexTask::Prod, 20, 7, 3).unwrap();
    assert!(base.fit_with(&train, Some(&wrong), &base.solver, &mut |_| Control::Continue).is_err());
    // non-finite training data (fields edited by hand)
    let mut bad = train.clone();
    bad.x[(3, 2)] = f64::NAN;
    assert!(matches!(base.fit(&bad), Err(RfmError::Linalg(_))));
    // targets with no input dependence: the AGOP is zero
    let zero = Dataset::new("zero", train.x.clone(), Mat::zeros(40, 1)).unwrap();
    match base.fit(&zero) {
        Err(RfmError::DegenerateAgop { iter, .. }) => assert_eq!(iter, 0),
        other => panic!("expected DegenerateAgop, got {other:?}"),
    }
}

/// Two fits with the same parameters and seed give bit-identical models (also with a random AGOP
/// subsample); another seed changes the subsample and therefore the metric.
#[test]
fn fit_is_deterministic() {
    let train = small_task(150, 4);
    for p in [
        RfmParams::new(KernelSpec::laplace(3.0)).with_iters(3),
        RfmParams::new(KernelSpec::laplace(3.0)).with_iters(3).with_agop_subsample(Some(60)).with_seed(7),
        RfmParams::new(KernelSpec::gaussian(1.5)).with_iters(2).with_diag(true).with_centering(true),
        RfmParams::grokking().with_kernel(KernelSpec::gaussian(2.0)).with_ridge(1e-6).with_iters(2),
    ] {
        let a = p.fit(&train).unwrap();
        let b = p.fit(&train).unwrap();
        assert_eq!(a.model.alpha, b.model.alpha);
        assert_eq!(a.model.metric, b.model.metric);
        assert_eq!(a.history, b.history);
        assert_eq!(a.selected_iter, b.selected_iter);
    }
    let p = RfmParams::new(KernelSpec::laplace(3.0)).with_iters(2).with_agop_subsample(Some(60));
    let a = p.clone().with_seed(1).fit(&train).unwrap();
    let b = p.with_seed(2).fit(&train).unwrap();
    assert_ne!(a.model.metric, b.model.metric);
}

/// `RfmParams` and `RfmModel` survive a JSON round trip; the reloaded model predicts bit-identically.
#[test]
fn serde_round_trip() {
    let train = small_task(120, 5);
    let xt = gaussian_mat(25, 6, 6);
    for p in [
        RfmParams::new(KernelSpec::laplace(3.0)).with_iters(2),
        RfmParams::new(KernelSpec::gaussian(2.0)).with_iters(2).with_diag(true).with_agop_subsample(Some(50)),
        RfmParams::grokking().with_iters(1).with_ridge(1e-4).with_normalization(Normalization::Frobenius),
    ] {
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<RfmParams>(&json).unwrap(), p);
        let model = p.fit(&train).unwrap();
        let s = serde_json::to_string(&model).unwrap();
        let back: RfmModel = serde_json::from_str(&s).unwrap();
        assert_eq!(back.params, model.params);
        assert_eq!(back.history, model.history);
        assert_eq!(back.selected_iter, model.selected_iter);
        assert_eq!(back.feature_matrix(), model.feature_matrix());
        assert_eq!(back.predict(xt.as_ref()).unwrap(), model.predict(xt.as_ref()).unwrap());
        assert_eq!(back.input_gradients(xt.as_ref()).unwrap(), model.input_gradients(xt.as_ref()).unwrap());
    }
}

/// `y = x1 x2` (0-based coordinates 0 and 1), n = 500, d = 10, the default (xRFM-like) parameters:
/// after 2 updates the diagonal of `M` puts more than half of its mass on coordinates 0 and 1
/// (measured: 0.90 for the full and the diagonal metric) and the test MSE falls (measured: 0.276 ->
/// 0.063 -> 0.037; asserted: final < 0.3 x initial).
#[test]
fn multi_index_feature_learning() {
    let train = multi_index(MultiIndexTask::Prod, 500, 10, 0).unwrap();
    let test = multi_index(MultiIndexTask::Prod, 500, 10, 1).unwrap();
    for diag in [false, true] {
        let params = RfmParams::new(KernelSpec::laplace(10.0)).with_iters(2).with_diag(diag);
        let mut test_mse = vec![];
        let model = params
            .fit_with(&train, None, &params.solver, &mut |step| {
                let pred = step.model.predict(test.x.as_ref()).unwrap();
                test_mse.push(rfm::mse(pred.as_ref(), test.y.as_ref()));
                Control::Continue
            })
            .unwrap();
        let m = model.feature_matrix();
        let tr: f64 = (0..10).map(|i| m[(i, i)]).sum();
        let share = (m[(0, 0)] + m[(1, 1)]) / tr;
        eprintln!("diag={diag}: share of trace on coords 0,1 = {share:.3}, test mse per fit {test_mse:?}");
        assert!(share > 0.5, "diag={diag}: share {share}");
        assert!(test_mse[2] < 0.3 * test_mse[0], "diag={diag}: {test_mse:?}");
        if diag {
            assert!(matches!(model.model.metric, Metric::Diagonal(_)));
            assert!(model.history.iter().all(|h| matches!(h, Metric::Diagonal(_))));
        }
    }
}

/// A PSD matrix whose smallest eigenvalue is moved to -1e-3 (a round-off-like negative direction).
fn random_psd_with_negative(d: usize, seed: u64) -> Mat<f64> {
    let g = gaussian_mat(d, d, seed);
    let a = &g * g.transpose();
    let e = linalg::sym::sym_eigen(a.as_ref()).unwrap();
    let u = Mat::from_fn(d, 1, |i, _| e.vectors[(i, d - 1)]);
    let b = &a - (&u * u.transpose()) * (e.values[d - 1] + 1e-3);
    assert!(*linalg::sym::sym_eigenvalues(b.as_ref()).unwrap().last().unwrap() < -5e-4);
    b
}

/// `post_process`: Max normalisation gives a largest entry of 1, Frobenius a unit norm; with power 1/2
/// and no normalisation, `M^2` gives the AGOP back (PSD part); power 1 returns the PSD projection; the
/// diagonal variants likewise; zero and non-finite AGOPs are `DegenerateAgop` errors.
#[test]
fn post_process_normalisations() {
    let d = 7;
    let a = {
        let g = gaussian_mat(d, d, 3);
        &g * g.transpose()
    };
    let agop = Agop::Full(a.clone());
    let p = RfmParams::default();
    let m_of = |p: &RfmParams, agop: &Agop| match p.post_process(agop, 0).unwrap() {
        Metric::Mahalanobis(m) => m,
        other => panic!("expected a full metric, got {other:?}"),
    };
    // Max
    let m = m_of(&p.clone().with_power(1.0).with_normalization(Normalization::Max), &agop);
    let mx =
        (0..d).flat_map(|i| (0..d).map(move |j| (i, j))).map(|(i, j)| m[(i, j)]).fold(f64::MIN, f64::max);
    assert!((mx - 1.0).abs() < 1e-15);
    assert!(rel(m.as_ref(), (&a * (1.0 / a.norm_max())).as_ref()) < 1e-12);
    let m = m_of(&p.clone().with_power(0.5).with_normalization(Normalization::Max), &agop);
    let mx =
        (0..d).flat_map(|i| (0..d).map(move |j| (i, j))).map(|(i, j)| m[(i, j)]).fold(f64::MIN, f64::max);
    assert!((mx - 1.0).abs() < 1e-15);
    // Frobenius
    let m = m_of(&p.clone().with_power(0.5).with_normalization(Normalization::Frobenius), &agop);
    assert!((m.norm_l2() - 1.0).abs() < 1e-14);
    // power 1/2, no normalisation: M^2 = AGOP
    let m = m_of(&p.clone().with_power(0.5).with_normalization(Normalization::None), &agop);
    assert!(rel((&m * &m).as_ref(), a.as_ref()) < 1e-10);
    for i in 0..d {
        for j in 0..d {
            assert_eq!(m[(i, j)], m[(j, i)]);
        }
    }
    // an AGOP with a (round-off) negative eigenvalue: powers see only its PSD part
    let b = random_psd_with_negative(d, 11);
    let b_psd = linalg::sym::clip_psd(b.as_ref()).unwrap();
    let m = m_of(&p.clone().with_power(1.0).with_normalization(Normalization::None), &Agop::Full(b.clone()));
    assert!(rel(m.as_ref(), b_psd.as_ref()) < 1e-10);
    let m = m_of(&p.clone().with_power(0.5).with_normalization(Normalization::None), &Agop::Full(b));
    assert!(rel((&m * &m).as_ref(), b_psd.as_ref()) < 1e-10);
    assert!(*linalg::sym::sym_eigenvalues(m.as_ref()).unwrap().last().unwrap() >= -1e-12);
    // diagonal
    let v = vec![4.0, 0.25, 0.0, 9.0];
    let dv = |p: &RfmParams| match p.post_process(&Agop::Diagonal(v.clone()), 0).unwrap() {
        Metric::Diagonal(m) => m,
        other => panic!("expected a diagonal metric, got {other:?}"),
    };
    let m = dv(&p.clone().with_power(0.5).with_normalization(Normalization::None));
    assert_eq!(m, vec![2.0, 0.5, 0.0, 3.0]);
    let m = dv(&p.clone().with_power(1.0).with_normalization(Normalization::Max));
    assert_eq!(m, vec![4.0 / 9.0, 0.25 / 9.0, 0.0, 1.0]);
    let m = dv(&p.clone().with_power(0.5).with_normalization(Normalization::Frobenius));
    assert!((m.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-15);
    // degenerate
    for bad in [
        Agop::Full(Mat::zeros(3, 3)),
        Agop::Diagonal(vec![0.0; 3]),
        Agop::Full(faer::mat![[1.0, f64::NAN], [f64::NAN, 1.0]]),
        Agop::Diagonal(vec![1.0, f64::INFINITY]),
    ] {
        assert!(matches!(p.post_process(&bad, 4), Err(RfmError::DegenerateAgop { iter: 4, .. })), "{bad:?}");
    }
}

/// Observer protocol: steps arrive in order with `M_t` = the model's metric and
/// `M_{t+1} = post_process(AGOP_t)`, the AGOP being `kernel_agop` of the step's model at the training
/// points; `Control::Stop` ends the run early; `agop_after_last_fit` adds one metric to the history.
#[test]
fn observer_protocol_and_history() {
    let train = small_task(100, 8);
    let params = RfmParams::new(KernelSpec::laplace(3.0)).with_iters(4).with_centering(true);
    let mut seen = vec![];
    let full = params
        .fit_with(&train, None, &params.solver, &mut |step| {
            assert_eq!(step.iter, seen.len());
            assert_eq!(step.metric, &step.model.metric);
            match (step.next_metric, step.agop) {
                (Some(next), Some(agop)) => {
                    assert_eq!(&params.post_process(agop, step.iter).unwrap(), next);
                    let tr = Prepared::new(train.x.as_ref(), step.metric);
                    let want = kernel_agop(
                        &step.model.kernel,
                        step.metric,
                        &tr,
                        step.model.alpha.as_ref(),
                        &tr,
                        AgopOptions { centering: true, diag: false },
                        AGOP_BATCH_ENTRIES,
                    )
                    .unwrap();
                    assert!(rel(agop.to_matrix().as_ref(), want.to_matrix().as_ref()) < 1e-12);
                }
                (None, None) => assert_eq!(step.iter, 4, "only the last fit has no next metric"),
                _ => panic!("next_metric and agop must come together"),
            }
            assert!(step.validation_mse.is_none());
            assert_eq!(step.solver.solver, "direct");
            seen.push(step.metric.clone());
            Control::Continue
        })
        .unwrap();
    assert_eq!(seen.len(), 5);
    assert_eq!(full.history.len(), 5);
    assert_eq!(full.history, seen);
    assert_eq!(full.selected_iter, 4);
    assert_eq!(full.history[0], Metric::Euclidean);

    // early stop after the fit of iteration 1
    let mut calls = 0;
    let stopped = params
        .fit_with(&train, None, &params.solver, &mut |step| {
            calls += 1;
            if step.iter == 1 { Control::Stop } else { Control::Continue }
        })
        .unwrap();
    assert_eq!(calls, 2);
    assert_eq!(stopped.selected_iter, 1);
    assert_eq!(stopped.model.metric, full.history[1]);
    // M_0, M_1 and the metric computed after the stopping fit
    assert_eq!(stopped.history.len(), 3);
    assert_eq!(stopped.history[..2], full.history[..2]);
    assert_eq!(stopped.history[2], full.history[2]);

    // agop_after_last_fit: every step carries M_{t+1}; the history is one longer
    let after = params.clone().with_agop_after_last_fit(true);
    let mut all_have_next = true;
    let longer = after
        .fit_with(&train, None, &after.solver, &mut |step| {
            all_have_next &= step.next_metric.is_some() && step.agop.is_some();
            Control::Continue
        })
        .unwrap();
    assert!(all_have_next);
    assert_eq!(longer.history.len(), full.history.len() + 1);
    assert_eq!(longer.history[..5], full.history[..]);
    assert_eq!(longer.model.alpha, full.model.alpha);
    // without history
    let none = params.clone().with_keep_history(false).fit(&train).unwrap();
    assert!(none.history.is_empty());
    assert_eq!(none.model.alpha, full.model.alpha);
}

/// With validation data every step reports its validation MSE, and `BestValidation` keeps the fit
/// with the lowest one.
#[test]
fn best_validation_selection() {
    let train = multi_index(MultiIndexTask::Prod, 200, 8, 1).unwrap();
    let val = multi_index(MultiIndexTask::Prod, 100, 8, 2).unwrap();
    let params =
        RfmParams::new(KernelSpec::laplace(5.0)).with_iters(4).with_selection(Selection::BestValidation);
    let mut mses = vec![];
    let model = params
        .fit_with(&train, Some(&val), &params.solver, &mut |step| {
            let v = step.validation_mse.unwrap();
            let direct = rfm::mse(step.model.predict(val.x.as_ref()).unwrap().as_ref(), val.y.as_ref());
            assert!((v - direct).abs() <= 1e-12 * direct);
            mses.push(v);
            Control::Continue
        })
        .unwrap();
    let best = (0..mses.len()).min_by(|&a, &b| mses[a].total_cmp(&mses[b])).unwrap();
    assert_eq!(model.selected_iter, best);
    let got = rfm::mse(model.predict(val.x.as_ref()).unwrap().as_ref(), val.y.as_ref());
    assert!((got - mses[best]).abs() <= 1e-12 * got);
}

/// A validation set whose inputs and targets have different numbers of rows (fields edited by hand)
/// must be an `Err` from `fit_with`, like the same mistake in the training set.
#[test]
fn validation_rows_mismatch_is_an_error() {
    let train = small_task(30, 1);
    let mut val = small_task(6, 2);
    val.y = gaussian_mat(5, 1, 3);
    let p = RfmParams::new(KernelSpec::laplace(2.0)).with_iters(1);
    let mut bad_train = train.clone();
    bad_train.y = gaussian_mat(29, 1, 4);
    assert!(p.fit(&bad_train).is_err(), "the training set is checked");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.fit_with(&train, Some(&val), &p.solver, &mut |_| Control::Continue)
    }));
    match r {
        Ok(Err(_)) => {}
        Ok(Ok(_)) => panic!("a validation set with 6 input rows and 5 target rows was accepted"),
        Err(_) => panic!("fit_with panicked on a validation set with 6 input rows and 5 target rows"),
    }
}

/// A solver that delegates to the direct solver and records the warm starts it is given.
struct RecordingSolver {
    inner: kernels::DirectSolver,
    warm: std::sync::Mutex<Vec<Option<(usize, usize)>>>,
}

impl kernels::KernelSolver for RecordingSolver {
    fn name(&self) -> String {
        "recording".into()
    }
    fn solve(
        &self,
        system: &kernels::KernelSystem<'_>,
        y: MatRef<'_, f64>,
        warm_start: Option<MatRef<'_, f64>>,
    ) -> kernels::Result<(Mat<f64>, kernels::SolverReport)> {
        self.warm.lock().unwrap().push(warm_start.map(|w| (w.nrows(), w.ncols())));
        self.inner.solve(system, y, warm_start)
    }
}

/// `fit_with` works with any `KernelSolver`: one solve per fit, no warm start for the first and the
/// previous coefficients (`n x c`) afterwards; the result equals the direct solver's.
#[test]
fn custom_solver_and_warm_starts() {
    let train = multi_index(MultiIndexTask::Prod, 80, 5, 3).unwrap();
    let params = RfmParams::new(KernelSpec::laplace(3.0)).with_iters(3);
    let solver = RecordingSolver { inner: kernels::DirectSolver::default(), warm: Default::default() };
    let mut names = vec![];
    let model = params
        .fit_with(&train, None, &solver, &mut |s| {
            names.push(s.solver.solver.clone());
            Control::Continue
        })
        .unwrap();
    let warm = solver.warm.lock().unwrap().clone();
    assert_eq!(warm, vec![None, Some((80, 1)), Some((80, 1)), Some((80, 1))]);
    assert!(names.iter().all(|n| n == "direct"), "{names:?}");
    let direct = params.fit(&train).unwrap();
    assert_eq!(model.model.alpha, direct.model.alpha);
}

/// The AGOP subsample depends on the seed only, not on the thread count: fits in a 1-thread and a
/// 2-thread pool agree (up to the round-off of differently blocked products).
#[test]
fn subsample_independent_of_thread_count() {
    let train = small_task(300, 9);
    let params =
        RfmParams::new(KernelSpec::laplace(3.0)).with_iters(2).with_agop_subsample(Some(100)).with_seed(3);
    let fit_in = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| params.fit(&train).unwrap())
    };
    let (a, b) = (fit_in(1), fit_in(2));
    let err = rel(a.feature_matrix().as_ref(), b.feature_matrix().as_ref());
    assert!(err < 1e-10, "feature matrices differ by {err:e}");
    let other = params.clone().with_seed(4).fit(&train).unwrap();
    assert!(rel(other.feature_matrix().as_ref(), a.feature_matrix().as_ref()) > 1e-6);
}

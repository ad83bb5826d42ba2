//! Invariants of the spectral preconditioners and the solvers (spec 06, section b.4).
use faer::Mat;
use kernels::{KernelRidgeParams, KernelSolver, KernelSpec, Metric};
use precond::*;
use proptest::prelude::*;

fn data(n: usize, d: usize, seed: u64) -> Mat<f64> {
    linalg::random::gaussian_mat(n, d, seed)
}

fn kmat(k: &KernelSpec, x: &Mat<f64>) -> Mat<f64> {
    kernels::kernel_matrix(k, &Metric::Euclidean, x.as_ref(), x.as_ref()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, .. ProptestConfig::default() })]

    /// P_q is PSD with spectrum in [lambda_(q+1)/lambda_1, 1]; P_q K / n has its top q eigenvalues flattened
    /// to lambda_(q+1) and kappa(P_q K) = lambda_(q+1) / lambda_n.
    #[test]
    fn exact_preconditioner_spectrum(seed in 0u64..1000, n in 30usize..70, q in 1usize..8, bw in 1.0f64..4.0) {
        let x = data(n, 3, seed);
        let k = KernelSpec::laplace(bw);
        let kd = KernelData::<f64>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
        let p = PreconditionerParams::exact(q).build(&kd).unwrap();
        let km = kmat(&k, &x);
        let eig = linalg::sym::sym_eigenvalues((&km * (1.0 / n as f64)).as_ref()).unwrap();
        // eigenvalues match the dense ones
        for i in 0..=q {
            prop_assert!((p.eigenvalues[i] - eig[i]).abs() < 1e-10 * eig[0]);
        }
        prop_assert!(p.eigenvalues.windows(2).all(|w| w[0] >= w[1]) && p.eigenvalues[q] > 0.0);
        prop_assert!(p.coef.iter().all(|&c| c >= 0.0));
        // P_q in coefficient space
        let e = &p.vectors;
        let w: Vec<f64> = (0..q).map(|i| 1.0 - p.lambda_top() / p.eigenvalues[i]).collect();
        let pm = Mat::from_fn(n, n, |i, j| (if i == j { 1.0 } else { 0.0 }) - (0..q).map(|l| e[(i, l)] * w[l] * e[(j, l)]).sum::<f64>());
        let pe = linalg::sym::sym_eigenvalues(pm.as_ref()).unwrap();
        let lo = p.lambda_top() / p.lambda_1();
        prop_assert!(pe.iter().all(|&v| v >= lo - 1e-10 && v <= 1.0 + 1e-10));
        prop_assert!((pe.last().unwrap() - lo).abs() < 1e-9);
        // preconditioned matrix
        let a = p.preconditioned_matrix(&kd, km.as_ref());
        let (kappa, ae) = condition_number(a.as_ref()).unwrap();
        for v in &ae[..q] {
            prop_assert!((v - p.lambda_top()).abs() < 1e-8 * p.lambda_top());
        }
        let want = p.lambda_top() / eig[n - 1];
        prop_assert!((kappa - want).abs() < 1e-8 * want, "kappa {} vs {}", kappa, want);
    }

    /// Nystrom with s = n gives the exact preconditioned operator.
    #[test]
    fn nystrom_with_all_points_is_exact(seed in 0u64..1000, n in 20usize..50, q in 1usize..6) {
        let x = data(n, 2, seed);
        let k = KernelSpec::gaussian(1.5);
        let kd = KernelData::<f64>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
        let km = kmat(&k, &x);
        let pe = PreconditionerParams::exact(q).build(&kd).unwrap();
        let pn = PreconditionerParams::nystrom(n, q).with_seed(seed).build(&kd).unwrap();
        let a = pe.preconditioned_matrix(&kd, km.as_ref());
        let b = pn.preconditioned_matrix(&kd, km.as_ref());
        prop_assert!((&a - &b).norm_max() < 1e-9 * a.norm_max());
        // and the full-batch updates agree
        let g = data(n, 2, seed + 1);
        let ua = pe.apply_full(&kd, g.as_ref());
        let ub = pn.apply_full(&kd, g.as_ref());
        prop_assert!((&ua - &ub).norm_max() < 1e-8 * (1.0 + ua.norm_max()));
    }

    /// Full-batch preconditioned GD with step 1 / (n lambda_(q+1)) contracts the residual at least as
    /// (1 - lambda_n / lambda_(q+1))^t.
    #[test]
    fn linear_rate_of_preconditioned_gd(seed in 0u64..1000, n in 30usize..60, q in 1usize..6) {
        let x = data(n, 3, seed);
        let k = KernelSpec::laplace(2.0);
        let kd = KernelData::<f64>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
        let y = data(n, 2, seed + 7);
        let p = PreconditionerParams::exact(q).build(&kd).unwrap();
        let km = kmat(&k, &x);
        let eig = linalg::sym::sym_eigenvalues((&km * (1.0 / n as f64)).as_ref()).unwrap();
        let rate = 1.0 - eig[n - 1] / p.lambda_top();
        let step = 1.0 / (n as f64 * p.lambda_top());
        let r0 = y.norm_l2();
        let mut ok = true;
        let mut worst = 0.0f64;
        richardson(&kd, y.as_ref(), 0.0, Some(&p), Some(step), &IterParams { max_iters: 30, tol: 0.0 }, &mut |st, _| {
            let bound = rate.powi(st.iter as i32) * (1.0 + 1e-9);
            let got = st.rel_residual * y.norm_l2() / r0;
            worst = worst.max(got / bound);
            ok &= got <= bound;
            Control::Continue
        }).unwrap();
        prop_assert!(ok, "residual above the bound by {}", worst);
    }
}

/// All solvers converge to the same ridge solution.
#[test]
fn all_solvers_reach_the_ridge_solution() {
    let n = 150;
    let x = data(n, 3, 1);
    let y = Mat::from_fn(n, 2, |i, j| (x[(i, 0)] * (j + 1) as f64).sin() + 0.1 * x[(i, 1)]);
    let k = KernelSpec::laplace(2.0);
    let ridge = 1e-2;
    let direct = KernelRidgeParams::new(k).with_ridge(ridge).fit(x.as_ref(), y.as_ref()).unwrap();
    let a0 = direct.alpha.clone();
    let rel = |a: &Mat<f64>| (a - &a0).norm_l2() / a0.norm_l2();
    let kd = KernelData::<f64>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
    let p = PreconditionerParams::nystrom(60, 10).build(&kd).unwrap();
    let it = IterParams { max_iters: 2000, tol: 1e-11 };
    let cg = conjugate_gradient(&kd, y.as_ref(), ridge, None, &it, &mut |_, _| Control::Continue).unwrap();
    assert!(rel(&cg.alpha) < 1e-7, "cg {}", rel(&cg.alpha));
    let cgp = CgPreconditioner::new(&p, &kd).unwrap();
    let pcg =
        conjugate_gradient(&kd, y.as_ref(), ridge, Some(&cgp), &it, &mut |_, _| Control::Continue).unwrap();
    assert!(rel(&pcg.alpha) < 1e-7, "pcg {}", rel(&pcg.alpha));
    assert!(pcg.history.len() <= cg.history.len(), "pcg {} vs cg {}", pcg.history.len(), cg.history.len());
    let rich =
        richardson(&kd, y.as_ref(), ridge, Some(&p), None, &it, &mut |_, _| Control::Continue).unwrap();
    assert!(rel(&rich.alpha) < 1e-6, "richardson {}", rel(&rich.alpha));
    for pp in [PreconditionerParams::exact(10), PreconditionerParams::nystrom(60, 10)] {
        let solver = EigenProSolver::new(
            EigenProParams::new(pp).with_epochs(3000).with_tol(1e-20).with_precision(Precision::F64),
        );
        let m = KernelRidgeParams::new(k)
            .with_ridge(ridge)
            .fit_with_solver(x.as_ref(), y.as_ref(), &solver)
            .unwrap();
        assert!(rel(&m.alpha) < 1e-4, "eigenpro {:?}: {}", pp.kind, rel(&m.alpha));
    }
}

/// q = 0 is plain kernel SGD: no correction.
#[test]
fn no_preconditioner_is_plain_sgd() {
    let x = data(40, 2, 3);
    let k = KernelSpec::laplace(1.0);
    let kd = KernelData::<f64>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
    let p = PreconditionerParams::none().build(&kd).unwrap();
    assert_eq!(p.q, 0);
    let g = data(40, 1, 4);
    assert_eq!(p.apply_full(&kd, g.as_ref()), g);
    assert!(p.correction(data(p.s(), 1, 5).as_ref()).norm_max() == 0.0);
}

/// The step rule is continuous at m* up to the 0.99 factor, and the fit is deterministic.
#[test]
fn batch_step_rule_and_determinism() {
    let x = data(300, 3, 5);
    let y = data(300, 1, 6);
    let k = KernelSpec::laplace(2.0);
    let kd = KernelData::<f64>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
    let p = PreconditionerParams::nystrom(100, 10).build(&kd).unwrap();
    let m = p.critical_batch(0.0, 300);
    let (a, b) = (p.step_per_sample(m, 0.0, 300), p.step_per_sample(m + 1, 0.0, 300));
    assert!(b <= a && b >= 0.97 * a, "{a} {b}");
    let params = EigenProParams::new(PreconditionerParams::nystrom(100, 10)).with_epochs(3).with_seed(9);
    let f1 = params.fit(&kd, y.as_ref(), 0.0, None, None, &mut |_, _| Control::Continue).unwrap();
    let f2 = params.fit(&kd, y.as_ref(), 0.0, None, None, &mut |_, _| Control::Continue).unwrap();
    assert_eq!(f1.alpha, f2.alpha);
    assert!(f1.history[2].rel_train_mse < f1.history[0].rel_train_mse);
    // f32 blocks stay close to f64
    let kd32 = KernelData::<f32>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
    let f3 = params.fit(&kd32, y.as_ref(), 0.0, None, None, &mut |_, _| Control::Continue).unwrap();
    assert!((&f3.alpha - &f1.alpha).norm_l2() / f1.alpha.norm_l2() < 1e-3);
}

/// Early stopping keeps the best validation accuracy; the observer can stop the run.
#[test]
fn observer_and_early_stopping() {
    let x = data(200, 2, 8);
    let labels: Vec<usize> = (0..200).map(|i| usize::from(x[(i, 0)] > 0.0)).collect();
    let y = datasets::one_hot(&labels, 2).unwrap();
    let k = KernelSpec::laplace(1.0);
    let kd = KernelData::<f64>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
    let params = EigenProParams::new(PreconditionerParams::nystrom(80, 8)).with_epochs(50).with_patience(2);
    let val = Validation { x: x.as_ref(), labels: &labels };
    let fit = params.fit(&kd, y.as_ref(), 0.0, None, Some(val), &mut |_, _| Control::Continue).unwrap();
    assert!(fit.history.len() < 50);
    assert!(fit.history.iter().all(|h| h.val_accuracy.is_some()));
    let mut seen = 0;
    let fit = params
        .fit(&kd, y.as_ref(), 0.0, None, None, &mut |_, _| {
            seen += 1;
            if seen == 2 { Control::Stop } else { Control::Continue }
        })
        .unwrap();
    assert_eq!(fit.history.len(), 2);
}

/// Bad input is an error with a message, never a panic.
#[test]
fn bad_input_is_an_error() {
    let x = data(50, 2, 1);
    let y = data(50, 1, 2);
    let k = KernelSpec::laplace(1.0);
    let kd = KernelData::<f64>::new(&k, &Metric::Euclidean, x.as_ref()).unwrap();
    let e = PreconditionerParams::nystrom(10, 10).build(&kd).unwrap_err();
    assert!(e.to_string().contains("q"), "{e}");
    let e = PreconditionerParams::nystrom(100, 10).build(&kd).unwrap_err();
    assert!(e.to_string().contains("exceed"), "{e}");
    assert!(PreconditionerParams::exact(50).build(&kd).is_err());
    assert!(PreconditionerParams::nystrom(20, 5).with_damping(0.0).build(&kd).is_err());
    let bad_k = KernelSpec::laplace(0.0);
    assert!(KernelData::<f64>::new(&bad_k, &Metric::Euclidean, x.as_ref()).is_err());
    let bad_k = KernelSpec::laplace(-1.0);
    assert!(KernelData::<f32>::new(&bad_k, &Metric::Euclidean, x.as_ref()).is_err());
    let mut xn = x.clone();
    xn[(3, 1)] = f64::NAN;
    let e = KernelData::<f64>::new(&k, &Metric::Euclidean, xn.as_ref()).unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    let empty = Mat::<f64>::zeros(0, 2);
    assert!(KernelData::<f64>::new(&k, &Metric::Euclidean, empty.as_ref()).is_err());
    let params = EigenProParams::new(PreconditionerParams::nystrom(20, 5));
    let mut yn = y.clone();
    yn[(0, 0)] = f64::INFINITY;
    assert!(params.fit(&kd, yn.as_ref(), 0.0, None, None, &mut |_, _| Control::Continue).is_err());
    assert!(
        params.fit(&kd, data(49, 1, 1).as_ref(), 0.0, None, None, &mut |_, _| Control::Continue).is_err()
    );
    assert!(
        params.with_epochs(0).fit(&kd, y.as_ref(), 0.0, None, None, &mut |_, _| Control::Continue).is_err()
    );
    assert!(params.fit(&kd, y.as_ref(), -1.0, None, None, &mut |_, _| Control::Continue).is_err());
    // through the KernelSolver trait
    let p = kernels::Prepared::new(x.as_ref(), &Metric::Euclidean);
    let sys = kernels::KernelSystem { kernel: &k, metric: &Metric::Euclidean, train: &p, ridge: 0.0 };
    let solver = EigenProSolver::new(EigenProParams::new(PreconditionerParams::nystrom(60, 5)));
    let e = solver.solve(&sys, y.as_ref(), None).unwrap_err();
    assert!(e.to_string().contains("exceed"), "{e}");
    assert!(
        conjugate_gradient(&kd, data(3, 1, 1).as_ref(), 0.0, None, &IterParams::default(), &mut |_, _| {
            Control::Continue
        })
        .is_err()
    );
}

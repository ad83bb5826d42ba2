//! Feature maps estimate their kernels; ridge paths agree with direct solves in both spaces;
//! the theory agrees with experiments (statistical test).
use faer::Mat;
use faer::linalg::solvers::Solve;
use random_features::features::{FeatureKind, FeatureMap, expected_kernel};
use random_features::powerlaw::PowerlawTask;
use random_features::regression::{RidgePath, SolveSpace};
use random_features::theory::rf_risk;

#[test]
fn random_features_estimate_their_kernels() {
    let x = linalg::random::gaussian_mat(20, 4, 3);
    let kinds = [
        FeatureKind::GaussianFourier { bandwidth: 2.0 },
        FeatureKind::LaplaceFourier { bandwidth: 3.0 },
        FeatureKind::Relu,
        FeatureKind::Projection { input_scale: vec![1.0, 0.5, 0.25, 0.0] },
    ];
    for kind in kinds {
        let map = FeatureMap::draw(kind.clone(), 4, 40_000, 11).unwrap();
        let est = map.kernel_estimate(x.as_ref(), x.as_ref()).unwrap();
        let k = expected_kernel(&kind, x.as_ref(), x.as_ref()).unwrap();
        let scale = (0..20).map(|i| k[(i, i)]).fold(0.0, f64::max);
        let err = (&est - &k).norm_max() / scale;
        assert!(err < 0.05, "{}: relative error {err}", kind.name());
        // seeded: same seed same features, another seed other features
        assert_eq!(map, FeatureMap::draw(kind.clone(), 4, 40_000, 11).unwrap());
        assert_ne!(map, FeatureMap::draw(kind, 4, 40_000, 12).unwrap());
    }
}

#[test]
fn bad_feature_parameters_are_errors() {
    assert!(FeatureMap::draw(FeatureKind::GaussianFourier { bandwidth: -1.0 }, 3, 10, 0).is_err());
    assert!(FeatureMap::draw(FeatureKind::Relu, 3, 0, 0).is_err());
    assert!(FeatureMap::draw(FeatureKind::Relu, 0, 5, 0).is_err());
    assert!(FeatureMap::draw(FeatureKind::Projection { input_scale: vec![1.0] }, 3, 5, 0).is_err());
    assert!(FeatureMap::draw(FeatureKind::Projection { input_scale: vec![f64::NAN] }, 1, 5, 0).is_err());
    let map = FeatureMap::draw(FeatureKind::Relu, 3, 5, 0).unwrap();
    assert!(map.transform(Mat::<f64>::zeros(2, 4).as_ref()).is_err());
    assert!(map.transform(faer::mat![[1.0, f64::NAN, 0.0]].as_ref()).is_err());
    assert!(map.first(6).is_err());
    assert_eq!(map.first(2).unwrap().k(), 2);
}

/// Direct solve of `a = G^T (G G^T / k + delta I)^-1 y / k`.
fn direct(g: &Mat<f64>, y: &Mat<f64>, ridge: f64) -> Mat<f64> {
    let k = g.ncols() as f64;
    let n = g.nrows();
    let mut gram = g * g.transpose() * faer::Scale(1.0 / k);
    for i in 0..n {
        gram[(i, i)] += ridge;
    }
    let alpha = gram.partial_piv_lu().solve(y);
    g.transpose() * alpha * faer::Scale(1.0 / k)
}

#[test]
fn ridge_path_matches_direct_solves_in_both_spaces() {
    for (n, k) in [(30, 80), (80, 30), (40, 40)] {
        let g = linalg::random::gaussian_mat(n, k, n as u64);
        let y = linalg::random::gaussian_mat(n, 2, 99);
        let path = RidgePath::fit(g.as_ref(), y.as_ref()).unwrap();
        assert_eq!(path.space(), if n <= k { SolveSpace::Sample } else { SolveSpace::Feature });
        for ridge in [1e-3, 0.1, 10.0] {
            let a = path.coefficients(ridge).unwrap();
            let b = direct(&g, &y, ridge);
            assert!((&a - &b).norm_max() < 1e-8 * b.norm_max(), "{n}x{k} ridge {ridge}");
            let pred = &g * &a;
            let mse = (&pred - &y).squared_norm_l2() / (2 * n) as f64;
            let got = path.train_mse(ridge).unwrap();
            assert!((got - mse).abs() < 1e-9 * mse.max(1e-12) + 1e-12, "{n}x{k}: {got} vs {mse}");
        }
        // many ridges at once, single output
        let y1 = y.subcols(0, 1).to_owned();
        let p1 = RidgePath::fit(g.as_ref(), y1.as_ref()).unwrap();
        let many = p1.coefficients_many(&[0.01, 1.0]).unwrap();
        let one = p1.coefficients(1.0).unwrap();
        assert!((many.col(1) - one.col(0)).norm_max() < 1e-12);
        assert!(p1.coefficients(-1.0).is_err());
    }
    // ridge 0 with n < k interpolates
    let g = linalg::random::gaussian_mat(20, 50, 1);
    let y = linalg::random::gaussian_mat(20, 1, 2);
    let path = RidgePath::fit(g.as_ref(), y.as_ref()).unwrap();
    assert!(path.train_mse(0.0).unwrap() < 1e-20);
    let a = path.coefficients(0.0).unwrap();
    assert!((&g * &a - &y).norm_max() < 1e-8);
}

/// Spec c.5 (7): mean empirical test MSE over 24 trials within 10% (or 3 standard errors) of the
/// theory at n = 256, k in {64, 1024}, ridge 1e-2 (Gaussian projection features on powerlaw data).
#[test]
fn theory_agrees_with_experiment() {
    let task = PowerlawTask::new(1000, 1.5, 1.5, 0.5).unwrap();
    let spec = task.spectrum().unwrap();
    let kind = FeatureKind::projection_for_eigenvalues(&task.eigenvalues()).unwrap();
    for k in [64usize, 1024] {
        let trials = 24;
        let risks: Vec<f64> = (0..trials)
            .map(|t| {
                let data = task.sample(256, 1000 + t).unwrap();
                let map = FeatureMap::draw(kind.clone(), 1000, k, 5000 + t).unwrap();
                let g = map.transform(data.x.as_ref()).unwrap();
                let a = RidgePath::fit(g.as_ref(), data.y.as_ref()).unwrap().coefficients(1e-2).unwrap();
                let beta = map.weights().transpose() * &a;
                let beta: Vec<f64> = (0..1000).map(|i| beta[(i, 0)]).collect();
                task.test_risk_of(&beta).unwrap()
            })
            .collect();
        let mean = risks.iter().sum::<f64>() / trials as f64;
        let sd = (risks.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (trials - 1) as f64).sqrt();
        let se = sd / (trials as f64).sqrt();
        let theory = rf_risk(&spec, 256.0, k as f64, 1e-2).unwrap().test_risk;
        let rel = (mean - theory).abs() / theory;
        assert!(rel < 0.1 || (mean - theory).abs() < 3.0 * se, "k = {k}: {mean} +- {se} vs {theory}");
    }
}

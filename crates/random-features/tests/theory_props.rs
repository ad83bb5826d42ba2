//! Property tests of the eigenframework (the invariants of the paper's spec, section c.5).
use proptest::prelude::*;
use random_features::theory::{RidgeSearch, Spectrum, krr_risk, optimal_ridge, rf_risk, solve};
use random_features::{RfError, RfRegressionParams};

fn spectrum(m: usize, alpha: f64, beta: f64, noise: f64) -> Spectrum {
    Spectrum::powerlaw(m, alpha, beta, noise).unwrap()
}

fn width() -> impl Strategy<Value = f64> {
    prop_oneof![4 => (1usize..5000).prop_map(|k| k as f64), 1 => Just(f64::INFINITY)]
}

fn ridge() -> impl Strategy<Value = f64> {
    prop_oneof![1 => Just(0.0), 4 => (-5.0f64..3.0).prop_map(|e| 10f64.powf(e))]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// (E1), (E2) hold to 1e-10 relative; gamma >= kappa >= 0; kappa > 0 whenever ridge > 0 or
    /// n < min(k, rank).
    #[test]
    fn equations_hold(m in 1usize..3000, alpha in 1.05f64..3.0, n in 1usize..3000, k in width(), d in ridge()) {
        let s = spectrum(m, alpha, 1.5, 0.1);
        let sol = solve(s.eigenvalues(), n as f64, k, d).unwrap();
        let (e1, e2) = sol.residuals(s.eigenvalues());
        prop_assert!(e1 < 1e-10 && e2 < 1e-10, "residuals {e1:e} {e2:e}: {sol:?}");
        prop_assert!(sol.gamma >= sol.kappa && sol.kappa >= 0.0, "{sol:?}");
        if d > 0.0 || (n as f64) < k.min(m as f64) {
            prop_assert!(sol.kappa > 0.0, "{sol:?}");
        }
    }

    /// Learnabilities in (0, 1), summing to at most min(n, k); E0 >= 1; E_te >= sigma^2;
    /// E_tr <= E_te.
    #[test]
    fn learnabilities_and_bounds(m in 1usize..2000, alpha in 1.05f64..3.0, beta in 0.5f64..4.0,
                                 noise in 0.0f64..2.0, n in 1usize..2000, k in width(), d in ridge()) {
        let s = spectrum(m, alpha, beta, noise);
        let r = rf_risk(&s, n as f64, k, d).unwrap();
        let sol = r.solution;
        let l = sol.learnabilities(s.eigenvalues());
        if sol.gamma > 0.0 {
            prop_assert!(l.iter().all(|&x| x > 0.0 && x < 1.0));
        }
        let sum: f64 = l.iter().sum();
        prop_assert!(sum <= (n as f64).min(k) * (1.0 + 1e-12) + 1e-9, "sum L = {sum}");
        prop_assert!(r.overfitting_coeff >= 1.0);
        prop_assert!(r.test_risk >= noise * (1.0 - 1e-12), "{r:?}");
        prop_assert!(r.train_risk <= r.test_risk || r.test_risk.is_infinite());
        prop_assert!(r.fitting_ratio >= 0.0 && r.fitting_ratio <= 1.0);
    }

    /// k -> infinity gives the kernel ridge regression formula.
    #[test]
    fn kernel_limit(m in 1usize..2000, alpha in 1.05f64..3.0, beta in 0.5f64..4.0, n in 1usize..2000,
                    d in (-4.0f64..2.0).prop_map(|e| 10f64.powf(e))) {
        let s = spectrum(m, alpha, beta, 0.3);
        let krr = krr_risk(&s, n as f64, d).unwrap();
        let rf = rf_risk(&s, n as f64, 1e9, d).unwrap();
        prop_assert!((rf.test_risk - krr.test_risk).abs() <= 1e-4 * krr.test_risk, "{rf:?} {krr:?}");
        prop_assert!((rf.train_risk - krr.train_risk).abs() <= 1e-4 * krr.train_risk.max(1e-300));
        // KRR closed form: E0 = n / (n - q), bias = sum (1 - L)^2 v^2
        let sol = krr.solution;
        prop_assert!((sol.kappa - sol.gamma).abs() <= 1e-14 * sol.gamma);
        let e0 = n as f64 / (n as f64 - sol.learnability_sq_sum);
        prop_assert!((krr.overfitting_coeff - e0).abs() <= 1e-10 * e0);
        let bias: f64 = sol.learnabilities(s.eigenvalues()).iter().zip(s.target_power())
            .map(|(l, v2)| (1.0 - l) * (1.0 - l) * v2).sum();
        prop_assert!((krr.bias - bias).abs() <= 1e-10 * bias.max(1e-300));
    }

    /// A huge ridge gives the null predictor: E_te = sum v^2 + sigma^2, E_tr = E_te.
    #[test]
    fn infinite_ridge_is_null_predictor(m in 1usize..2000, alpha in 1.05f64..3.0, beta in 0.5f64..4.0,
                                        n in 1usize..2000, k in width()) {
        let s = spectrum(m, alpha, beta, 0.25);
        let r = rf_risk(&s, n as f64, k, 1e12 * n as f64).unwrap();
        let null = s.signal_power() + s.noise();
        prop_assert!((r.test_risk - null).abs() <= 1e-6 * null, "{} vs {null}", r.test_risk);
        prop_assert!((r.train_risk - null).abs() <= 1e-6 * null);
    }

    /// Interpolation: for k > n, E_tr -> 0 as ridge -> 0.
    #[test]
    fn train_risk_vanishes_when_interpolating(m in 200usize..2000, n in 1usize..100, extra in 1usize..500) {
        let s = spectrum(m, 1.5, 1.5, 0.5);
        let k = (n + extra) as f64;
        let r = rf_risk(&s, n as f64, k, 1e-8).unwrap();
        prop_assert!(r.train_risk < 1e-6 * r.test_risk, "{r:?}");
        prop_assert_eq!(rf_risk(&s, n as f64, k, 0.0).unwrap().train_risk, 0.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Theorem 1: at the optimal ridge the test risk does not increase with k or with n.
    #[test]
    fn more_is_better_at_optimal_ridge(alpha in 1.1f64..2.5, beta in 1.0f64..3.0, noise in 0.0f64..1.0) {
        let s = spectrum(1000, alpha, beta, noise);
        let search = RidgeSearch { grid_points: 41, ..RidgeSearch::default() };
        let mut prev = f64::INFINITY;
        for k in [4.0, 16.0, 64.0, 128.0, 256.0, 1024.0, 4096.0, f64::INFINITY] {
            let e = optimal_ridge(&s, 128.0, k, &search).unwrap().risk.test_risk;
            prop_assert!(e <= prev * (1.0 + 1e-9), "k = {k}: {e} > {prev}");
            prev = e;
        }
        let mut prev = f64::INFINITY;
        for n in [4.0, 16.0, 64.0, 128.0, 256.0, 1024.0] {
            let e = optimal_ridge(&s, n, 256.0, &search).unwrap().risk.test_risk;
            prop_assert!(e <= prev * (1.0 + 1e-9), "n = {n}: {e} > {prev}");
            prev = e;
        }
    }
}

#[test]
fn ridgeless_double_descent_peak_at_interpolation() {
    let s = spectrum(2000, 1.5, 1.5, 0.5);
    let n = 256.0;
    let e0 = |k: f64| rf_risk(&s, n, k, 0.0).unwrap().overfitting_coeff;
    // grows without bound as k -> n from either side
    let mut prev = 0.0;
    for k in [64.0, 192.0, 240.0, 250.0, 254.0, 255.0] {
        assert!(e0(k) > prev);
        prev = e0(k);
    }
    let mut prev = 0.0;
    for k in [1024.0, 320.0, 270.0, 260.0, 257.0] {
        assert!(e0(k) > prev, "k = {k}");
        prev = e0(k);
    }
    assert!(e0(255.0) > 100.0 && e0(257.0) > 100.0);
    assert!(rf_risk(&s, n, 256.0, 0.0).unwrap().test_risk.is_infinite());
    // a ridge removes the divergence
    assert!(rf_risk(&s, n, 256.0, 1e-2).unwrap().test_risk.is_finite());
}

#[test]
fn optimal_ridge_beats_the_grid() {
    let s = spectrum(2000, 1.5, 1.5, 0.5);
    let best = optimal_ridge(&s, 256.0, 512.0, &RidgeSearch::default()).unwrap();
    for e in -6..=3 {
        let d = 10f64.powi(e);
        assert!(best.risk.test_risk <= rf_risk(&s, 256.0, 512.0, d).unwrap().test_risk + 1e-12);
    }
    assert!(best.ridge > 0.0);
    // noiseless powerlaw task with beta < alpha... ridge 0 can be optimal; the search includes it
    let s0 = spectrum(2000, 2.0, 1.5, 0.0);
    let b0 = optimal_ridge(&s0, 100.0, f64::INFINITY, &RidgeSearch::default()).unwrap();
    assert!(b0.risk.test_risk <= krr_risk(&s0, 100.0, 0.0).unwrap().test_risk);
}

#[test]
fn bad_input_is_an_error_with_a_message() {
    let s = spectrum(10, 1.5, 1.5, 0.1);
    let msg = |e: RfError| e.to_string();
    assert!(msg(rf_risk(&s, 0.0, 10.0, 0.1).unwrap_err()).contains("n = 0"));
    assert!(msg(rf_risk(&s, 10.0, 0.0, 0.1).unwrap_err()).contains("k = 0"));
    assert!(msg(rf_risk(&s, 10.0, 10.0, -1.0).unwrap_err()).contains("ridge = -1"));
    assert!(rf_risk(&s, f64::NAN, 10.0, 0.1).is_err());
    assert!(rf_risk(&s, 10.0, f64::NAN, 0.1).is_err());
    assert!(rf_risk(&s, 10.0, 10.0, f64::NAN).is_err());
    assert!(msg(solve(&[1.0, -0.1], 10.0, 10.0, 0.1).unwrap_err()).contains("negative"));
    assert!(msg(solve(&[1.0, f64::NAN], 10.0, 10.0, 0.1).unwrap_err()).contains("NaN"));
    assert!(msg(solve(&[], 10.0, 10.0, 0.1).unwrap_err()).contains("empty"));
    assert!(Spectrum::new(vec![1.0], vec![1.0, 2.0], 0.0).is_err());
    assert!(Spectrum::new(vec![1.0], vec![1.0], -0.1).is_err());
    assert!(Spectrum::powerlaw(0, 1.5, 1.5, 0.0).is_err());
    assert!(
        serde_json::from_str::<Spectrum>(r#"{"eigenvalues":[-1.0],"target_power":[1.0],"noise":0.0}"#)
            .is_err()
    );
    let x = faer::Mat::<f64>::zeros(0, 3);
    let y = faer::Mat::<f64>::zeros(0, 1);
    assert!(RfRegressionParams::default().fit(x.as_ref(), y.as_ref()).is_err());
    assert!(RfRegressionParams::default().with_ridge(-1.0).validate().is_err());
}

#[test]
fn degenerate_spectra_are_handled() {
    // zero eigenvalues: modes that cannot be learned
    let s = Spectrum::new(vec![1.0, 0.5, 0.0, 0.0], vec![1.0, 1.0, 1.0, 1.0], 0.0).unwrap();
    let r = krr_risk(&s, 10.0, 0.0).unwrap();
    assert!((r.test_risk - 2.0 * 10.0 / 8.0).abs() < 1e-12, "{r:?}");
    let r = krr_risk(&s, 10.0, 1e-3).unwrap();
    assert!(r.test_risk > 2.0 && r.test_risk.is_finite());
    // all-zero spectrum: the null predictor
    let z = Spectrum::new(vec![0.0; 3], vec![1.0; 3], 0.5).unwrap();
    for d in [0.0, 1.0] {
        assert!((rf_risk(&z, 5.0, 7.0, d).unwrap().test_risk - 3.5).abs() < 1e-12);
    }
    // a large spectrum
    let big = spectrum(100_000, 1.5, 1.5, 0.1);
    let sol = solve(big.eigenvalues(), 1e4, 3e4, 1e-3).unwrap();
    let (e1, e2) = sol.residuals(big.eigenvalues());
    assert!(e1 < 1e-10 && e2 < 1e-10);
}

//! Kernel predictors: closed-form input gradients against central finite differences (away from and at
//! training points), the sparse gradient path against the dense one, ridgeless interpolation, the
//! `f32` direct solver against `f64`, errors instead of panics (non-PD systems, bad inputs), and the
//! serde round trip of a fitted model.
#![allow(clippy::needless_range_loop)]

mod common;
use common::{data, metric, rel};
use faer::{Mat, MatRef};
use kernels::{
    DirectSolver, GaussianConvention, GradStructure, GradientContext, Kernel, KernelError, KernelModel,
    KernelRidgeParams, KernelSolver, KernelSpec, KernelSystem, Matern, MaternNu, Metric, NtkRelu, Prepared,
    Quadratic, SolverPrecision, kernel_matrix, kernel_times,
};
use linalg::LinalgError;
use linalg::random::gaussian_mat;
use linalg::solve::Precision;
use proptest::prelude::*;

fn all_kernels(l: f64) -> Vec<KernelSpec> {
    vec![
        KernelSpec::laplace(l),
        KernelSpec::gaussian(l),
        KernelSpec::Gaussian(kernels::Gaussian { bandwidth: l, convention: GaussianConvention::Denominator }),
        KernelSpec::Matern(Matern { nu: MaternNu::ThreeHalves, bandwidth: l }),
        KernelSpec::Matern(Matern { nu: MaternNu::FiveHalves, bandwidth: l }),
        KernelSpec::quadratic(),
        KernelSpec::Quadratic(Quadratic { scale: 3.0 }),
        KernelSpec::NtkRelu(NtkRelu),
    ]
}

/// Central finite differences of `model` at the rows of `x`: one `m x d` matrix per output.
fn fd_gradients(model: &KernelModel, x: MatRef<'_, f64>, h: f64) -> Vec<Mat<f64>> {
    let (m, d, c) = (x.nrows(), x.ncols(), model.n_outputs());
    let mut out = vec![Mat::<f64>::zeros(m, d); c];
    for k in 0..d {
        let mut xp = x.to_owned();
        let mut xn = x.to_owned();
        for s in 0..m {
            xp[(s, k)] += h;
            xn[(s, k)] -= h;
        }
        let fp = model.predict(xp.as_ref()).unwrap();
        let fn_ = model.predict(xn.as_ref()).unwrap();
        for j in 0..c {
            for s in 0..m {
                out[j][(s, k)] = (fp[(s, j)] - fn_[(s, j)]) / (2.0 * h);
            }
        }
    }
    out
}

/// Rows of `x` without row `skip`.
fn drop_row(x: MatRef<'_, f64>, skip: usize) -> Mat<f64> {
    Mat::from_fn(x.nrows() - 1, x.ncols(), |i, k| x[(if i < skip { i } else { i + 1 }, k)])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// `input_gradients` equals central finite differences of `predict` at points that are not
    /// training points (relative error < 1e-5 per output), for every kernel and metric.
    #[test]
    fn gradients_match_finite_differences(
        seed in any::<u64>(), d in 1usize..=12, which in 0usize..3, l in 0.5f64..4.0
    ) {
        let x_train = data(25, d, seed);
        let alpha = gaussian_mat(25, 2, seed.wrapping_add(1));
        let x_eval = data(5, d, seed.wrapping_add(2));
        let met = metric(which, d, seed);
        for k in all_kernels(l) {
            if matches!(k, KernelSpec::NtkRelu(_)) && d == 1 {
                // in 1-D every pair of inputs is parallel: the documented dropped-term rule applies
                continue;
            }
            let model = KernelModel::new(k, met.clone(), x_train.clone(), alpha.clone()).unwrap();
            let got = model.input_gradients(x_eval.as_ref()).unwrap();
            let want = fd_gradients(&model, x_eval.as_ref(), 1e-5);
            prop_assert_eq!(got.len(), 2);
            for j in 0..2 {
                prop_assert_eq!((got[j].nrows(), got[j].ncols()), (5, d));
                let err = rel(got[j].as_ref(), want[j].as_ref());
                prop_assert!(err < 1e-5, "{} metric {} output {}: rel err {:e}", k.name(), which, j, err);
            }
        }
    }

    /// At a training point the Laplace gradient equals the finite-difference gradient of the predictor
    /// with that point's own term removed (the zero-distance rule); smooth kernels (Gaussian, Matern
    /// 5/2, quadratic) have the plain finite-difference gradient there.
    #[test]
    fn gradients_at_training_points(seed in any::<u64>(), d in 1usize..=12, which in 0usize..3) {
        let n = 20;
        let x_train = data(n, d, seed);
        let alpha = gaussian_mat(n, 2, seed.wrapping_add(1));
        let met = metric(which, d, seed);
        let lap = KernelSpec::laplace(1.5);
        let model = KernelModel::new(lap, met.clone(), x_train.clone(), alpha.clone()).unwrap();
        let g = model.input_gradients(x_train.as_ref()).unwrap();
        for s in [0, 7, n - 1] {
            let without = KernelModel::new(
                lap,
                met.clone(),
                drop_row(x_train.as_ref(), s),
                drop_row(alpha.as_ref(), s),
            )
            .unwrap();
            let xs = x_train.as_ref().subrows(s, 1);
            let want = fd_gradients(&without, xs, 1e-5);
            for j in 0..2 {
                let got = g[j].as_ref().subrows(s, 1);
                let err = rel(got, want[j].as_ref());
                prop_assert!(err < 1e-5, "metric {} point {} output {}: rel err {:e}", which, s, j, err);
            }
        }
        for k in [
            KernelSpec::gaussian(1.2),
            KernelSpec::Matern(Matern { nu: MaternNu::FiveHalves, bandwidth: 1.2 }),
            KernelSpec::quadratic(),
        ] {
            let model = KernelModel::new(k, met.clone(), x_train.clone(), alpha.clone()).unwrap();
            let pts = x_train.as_ref().subrows(0, 4);
            let got = model.input_gradients(pts).unwrap();
            let want = fd_gradients(&model, pts, 1e-5);
            for j in 0..2 {
                let err = rel(got[j].as_ref(), want[j].as_ref());
                prop_assert!(err < 1e-5, "{} metric {}: rel err {:e}", k.name(), which, err);
            }
        }
    }

    /// Ridgeless fits interpolate: `||K alpha - Y|| / ||Y|| < 1e-8` with `K` rebuilt independently.
    /// (Smooth kernels are only well conditioned when points are spread out: Matern 3/2 for d >= 3,
    /// Gaussians for d >= 6 with a small bandwidth.)
    #[test]
    fn ridgeless_fit_interpolates(
        seed in any::<u64>(), d in 1usize..=12, n in 2usize..=60, c in 1usize..=3, which in 0usize..3,
        l in 0.5f64..4.0
    ) {
        let x = data(n, d, seed);
        let y = gaussian_mat(n, c, seed.wrapping_add(1));
        let met = metric(which, d, seed);
        let mut ks = vec![KernelSpec::laplace(l)];
        if d >= 3 {
            ks.push(KernelSpec::Matern(Matern { nu: MaternNu::ThreeHalves, bandwidth: l / 8.0 }));
        }
        if d >= 6 {
            ks.push(KernelSpec::gaussian(0.3 + l / 10.0));
            ks.push(KernelSpec::Gaussian(kernels::Gaussian {
                bandwidth: 0.2 + l / 10.0,
                convention: GaussianConvention::Denominator,
            }));
        }
        for k in ks {
            let model = KernelRidgeParams::new(k).with_ridge(0.0).with_metric(met.clone())
                .fit(x.as_ref(), y.as_ref()).unwrap();
            let kk = kernel_matrix(&k, &met, x.as_ref(), x.as_ref()).unwrap();
            let res = rel((&kk * &model.alpha).as_ref(), y.as_ref());
            prop_assert!(res < 1e-8, "{} metric {}: relative residual {:e}", k.name(), which, res);
            let pred = model.predict(x.as_ref()).unwrap();
            prop_assert!(rel(pred.as_ref(), y.as_ref()) < 1e-8);
        }
    }
}

/// The sparse `h`-vector path (one-hot-like inputs) equals the dense one, batched or not, and the
/// gradients are `h M`, i.e. what `KernelModel::input_gradients` returns.
#[test]
fn sparse_gradient_path_equals_dense_path() {
    let (n, d, c) = (150, 40, 3);
    // ~2.5% density: one entry per row in each of the two halves
    let x = Mat::from_fn(n, d, |i, k| {
        if k == (i * 7) % 20 || k == 20 + (i * 11 + 3) % 20 { 1.0 + (i % 3) as f64 * 0.5 } else { 0.0 }
    });
    let alpha = gaussian_mat(n, c, 5);
    for which in 0..3 {
        let met = metric(which, d, 5);
        let train = Prepared::new(x.as_ref(), &met);
        let eval_x = x.as_ref().subrows(10, 60).to_owned();
        let eval = Prepared::new(eval_x.as_ref(), &met);
        for k in all_kernels(2.0) {
            let sparse = GradientContext::new(&k, &train, alpha.as_ref());
            assert!(sparse.is_sparse());
            let dense = GradientContext::new(&k, &train, alpha.as_ref()).dense_only();
            assert!(!dense.is_sparse());
            let hs = sparse.parts(&eval).unwrap();
            let hd = dense.parts(&eval).unwrap();
            assert_eq!((hs.n_eval, hs.n_outputs), (60, c));
            assert!(rel(hs.h.as_ref(), hd.h.as_ref()) < 1e-12, "{} metric {which}", k.name());
            // a reused buffer, in two batches
            let mut buf = Mat::<f64>::from_fn(c * 30, d, |_, _| f64::NAN);
            for start in [0, 30] {
                sparse
                    .parts_rows_into(
                        eval.x.as_ref().subrows(start, 30),
                        eval.xm.as_ref().subrows(start, 30),
                        &eval.sq_norms[start..start + 30],
                        buf.as_mut(),
                    )
                    .unwrap();
                for j in 0..c {
                    let want = hd.output(j).subrows(start, 30);
                    let got = buf.as_ref().subrows(j * 30, 30);
                    assert!(rel(got, want) < 1e-12, "{} batch {start}", k.name());
                }
            }
            let model = KernelModel::new(k, met.clone(), x.clone(), alpha.clone()).unwrap();
            let g = model.input_gradients(eval_x.as_ref()).unwrap();
            let gd = hd.to_gradients(&met);
            let mm = met.to_matrix(d);
            for j in 0..c {
                assert!(rel(g[j].as_ref(), gd[j].as_ref()) < 1e-12);
                assert!(rel(gd[j].as_ref(), (hd.output(j) * &mm).as_ref()) < 1e-13);
            }
        }
    }
}

/// The `f32` direct solver (ridge > 0) against `f64`. Observed on this problem (n = 1000, d = 10,
/// Laplace L = 4, ridge 1e-2, 2 outputs): relative prediction difference about 1e-4 without
/// refinement and ~1e-12 with 2 refinement steps; asserted with margin: < 2e-3 and < 1e-8.
#[test]
fn f32_solver_close_to_f64() {
    let (n, d) = (1000, 10);
    let x = data(n, d, 1);
    let y = gaussian_mat(n, 2, 2);
    let xt = data(200, d, 3);
    for which in 0..3 {
        let met = metric(which, d, 4);
        let base = KernelRidgeParams::new(KernelSpec::laplace(4.0)).with_ridge(1e-2).with_metric(met);
        let f64m = base
            .clone()
            .with_precision(SolverPrecision::Fixed(Precision::F64))
            .fit(x.as_ref(), y.as_ref())
            .unwrap();
        let p64 = f64m.predict(xt.as_ref()).unwrap();
        let mut errs = vec![];
        for (steps, bound) in [(0usize, 2e-3), (2, 1e-8)] {
            let m32 = base
                .clone()
                .with_precision(SolverPrecision::Fixed(Precision::F32 { refine_steps: steps }))
                .fit(x.as_ref(), y.as_ref())
                .unwrap();
            let err = rel(m32.predict(xt.as_ref()).unwrap().as_ref(), p64.as_ref());
            errs.push(err);
            assert!(err < bound, "metric {which} refine {steps}: rel diff {err:e}");
        }
        eprintln!(
            "f32 vs f64 predictions, metric {which}: no refinement {:e}, 2 steps {:e}",
            errs[0], errs[1]
        );
    }
    // Auto stays in f64 below n = 3000 and for ridge 0
    assert_eq!(SolverPrecision::Auto.resolve(2999, 1e-3), Precision::F64);
    assert_eq!(SolverPrecision::Auto.resolve(5000, 0.0), Precision::F64);
    assert_eq!(SolverPrecision::Auto.resolve(5000, 1e-3), Precision::F32 { refine_steps: 0 });
}

/// A negated Gaussian: `K` is negative definite, so `K + ridge I` is not PD for a small ridge.
#[derive(Debug)]
struct NegGaussian;

impl Kernel for NegGaussian {
    fn name(&self) -> String {
        "negated gaussian".into()
    }
    fn validate(&self) -> kernels::Result<()> {
        Ok(())
    }
    fn eval_parts(&self, ip: f64, nx: f64, nz: f64) -> f64 {
        -(-(nx + nz - 2.0 * ip).max(0.0)).exp()
    }
    fn grad_parts(&self, _ip: f64, _nx: f64, _nz: f64) -> (f64, f64) {
        (0.0, 0.0)
    }
    fn grad_structure(&self) -> GradStructure {
        GradStructure::General
    }
}

/// A ridge > 0 system whose matrix is not PD is an `Err(NotPositiveDefinite)`, never a panic, in
/// `f64` and `f32` precision; at ridge 0 the LU fallback solves the (invertible) indefinite system.
#[test]
fn non_pd_system_is_an_error() {
    let x = data(30, 3, 1);
    let y = gaussian_mat(30, 2, 2);
    let met = Metric::Euclidean;
    let train = Prepared::new(x.as_ref(), &met);
    for precision in [
        SolverPrecision::Auto,
        SolverPrecision::Fixed(Precision::F64),
        SolverPrecision::Fixed(Precision::F32 { refine_steps: 1 }),
    ] {
        let solver = DirectSolver { precision };
        let system = KernelSystem { kernel: &NegGaussian, metric: &met, train: &train, ridge: 1e-3 };
        match solver.solve(&system, y.as_ref(), None) {
            Err(KernelError::Linalg(LinalgError::NotPositiveDefinite { n, .. })) => assert_eq!(n, 30),
            other => panic!("{precision:?}: expected NotPositiveDefinite, got {other:?}"),
        }
        let msg = solver.solve(&system, y.as_ref(), None).unwrap_err().to_string();
        assert!(msg.contains("not positive definite") && msg.contains("ridge"), "{msg}");
        // ridge 0: Cholesky fails, LU solves -K alpha = y
        let system0 = KernelSystem { kernel: &NegGaussian, metric: &met, train: &train, ridge: 0.0 };
        let (alpha, report) = solver.solve(&system0, y.as_ref(), None).unwrap();
        assert_eq!(report.method, "Lu");
        let k = kernel_matrix(&NegGaussian, &met, x.as_ref(), x.as_ref()).unwrap();
        assert!(rel((&k * &alpha).as_ref(), y.as_ref()) < 1e-8);
    }
    // Through the public fit API: a quadratic kernel in the indefinite metric [[0, 1], [1, 0]]
    // (accepted by Metric::validate: symmetric, zero diagonal) gives an indefinite K.
    let m = faer::mat![[0.0, 1.0], [1.0, 0.0]];
    let x2 = data(10, 2, 3);
    let y2 = gaussian_mat(10, 1, 4);
    let params =
        KernelRidgeParams::new(KernelSpec::quadratic()).with_metric(Metric::Mahalanobis(m)).with_ridge(1e-9);
    assert!(matches!(
        params.fit(x2.as_ref(), y2.as_ref()),
        Err(KernelError::Linalg(LinalgError::NotPositiveDefinite { .. }))
    ));
}

/// Bad inputs and hyperparameters are `Err`, with the offending value in the message.
#[test]
fn bad_inputs_are_errors() {
    let x = data(10, 3, 1);
    let y = gaussian_mat(10, 2, 2);
    let ok = KernelRidgeParams::new(KernelSpec::laplace(1.0));
    assert!(ok.fit(x.as_ref(), y.as_ref()).is_ok());
    let nan = |m: &Mat<f64>, i: usize, j: usize, v: f64| {
        let mut m = m.clone();
        m[(i, j)] = v;
        m
    };
    // data
    let e = ok.fit(nan(&x, 3, 1, f64::NAN).as_ref(), y.as_ref()).unwrap_err();
    assert!(matches!(e, KernelError::Linalg(LinalgError::NonFinite { row: 3, col: 1, .. })), "{e:?}");
    assert!(ok.fit(x.as_ref(), nan(&y, 0, 0, f64::INFINITY).as_ref()).is_err());
    assert!(ok.fit(x.as_ref(), nan(&y, 9, 1, f64::NAN).as_ref()).is_err());
    let e = ok.fit(x.as_ref(), gaussian_mat(9, 2, 1).as_ref()).unwrap_err();
    assert!(matches!(e, KernelError::Linalg(LinalgError::ShapeMismatch { .. })), "{e:?}");
    assert!(matches!(
        ok.fit(Mat::<f64>::zeros(0, 3).as_ref(), Mat::<f64>::zeros(0, 1).as_ref()),
        Err(KernelError::Linalg(LinalgError::Empty { .. }))
    ));
    assert!(ok.fit(Mat::<f64>::zeros(10, 0).as_ref(), y.as_ref()).is_err());
    assert!(ok.fit(x.as_ref(), Mat::<f64>::zeros(10, 0).as_ref()).is_err());
    // hyperparameters
    for bad in [
        KernelSpec::laplace(-1.0),
        KernelSpec::laplace(0.0),
        KernelSpec::laplace(f64::NAN),
        KernelSpec::gaussian(-2.5),
        KernelSpec::gaussian(f64::INFINITY),
        KernelSpec::Matern(Matern { nu: MaternNu::FiveHalves, bandwidth: -1.0 }),
        KernelSpec::Quadratic(Quadratic { scale: 0.0 }),
        KernelSpec::Quadratic(Quadratic { scale: f64::NAN }),
    ] {
        let p = KernelRidgeParams::new(bad);
        assert!(p.validate().is_err(), "{bad:?}");
        let e = p.fit(x.as_ref(), y.as_ref()).unwrap_err();
        assert!(matches!(e, KernelError::InvalidParameter { .. }), "{bad:?}: {e:?}");
        assert!(kernel_matrix(&bad, &Metric::Euclidean, x.as_ref(), x.as_ref()).is_err());
    }
    for ridge in [-1.0, -1e-12, f64::NAN, f64::INFINITY] {
        let e = ok.clone().with_ridge(ridge).fit(x.as_ref(), y.as_ref()).unwrap_err();
        assert!(e.to_string().contains("ridge"), "{e}");
    }
    assert!(ok.clone().with_ridge(-1.0).fit(x.as_ref(), y.as_ref()).unwrap_err().to_string().contains("-1"));
    // metrics
    for bad in [
        Metric::Diagonal(vec![1.0, 1.0]),
        Metric::Diagonal(vec![1.0, -0.5, 1.0]),
        Metric::Diagonal(vec![1.0, f64::NAN, 1.0]),
        Metric::Mahalanobis(Mat::identity(4, 4)),
        Metric::Mahalanobis(faer::mat![[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
        Metric::Mahalanobis(faer::mat![[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]),
        Metric::Mahalanobis(faer::mat![[1.0, 0.0, 0.0], [0.0, f64::NAN, 0.0], [0.0, 0.0, 1.0]]),
    ] {
        assert!(ok.clone().with_metric(bad.clone()).fit(x.as_ref(), y.as_ref()).is_err(), "{bad:?}");
        assert!(kernel_matrix(&KernelSpec::laplace(1.0), &bad, x.as_ref(), x.as_ref()).is_err());
        assert!(KernelModel::new(KernelSpec::laplace(1.0), bad, x.clone(), y.clone()).is_err());
    }
    // prediction and gradients
    let model = ok.fit(x.as_ref(), y.as_ref()).unwrap();
    for bad in [data(4, 2, 1), nan(&data(4, 3, 1), 2, 2, f64::NAN), Mat::<f64>::zeros(0, 3)] {
        assert!(model.predict(bad.as_ref()).is_err());
        assert!(model.input_gradients(bad.as_ref()).is_err());
    }
    // model assembly and the matrix routines
    assert!(KernelModel::new(KernelSpec::laplace(1.0), Metric::Euclidean, x.clone(), data(9, 2, 1)).is_err());
    let k = KernelSpec::laplace(1.0);
    let e = Metric::Euclidean;
    assert!(kernel_matrix(&k, &e, x.as_ref(), data(4, 2, 5).as_ref()).is_err());
    assert!(kernel_matrix(&k, &e, Mat::<f64>::zeros(0, 3).as_ref(), x.as_ref()).is_err());
    assert!(kernel_times(&k, &e, x.as_ref(), x.as_ref(), gaussian_mat(9, 1, 1).as_ref()).is_err());
    assert!(
        kernel_times(&k, &e, x.as_ref(), x.as_ref(), nan(&gaussian_mat(10, 1, 1), 4, 0, f64::NAN).as_ref())
            .is_err()
    );
    assert!(KernelSpec::from_name("nope", 1.0).is_err());
    assert!("laplace:abc".parse::<KernelSpec>().is_err());
    assert!("laplace:-3".parse::<KernelSpec>().is_err());
}

/// A fitted model survives a JSON round trip with bit-identical predictions and gradients; the
/// params, kernel specs and metrics round trip too.
#[test]
fn model_serde_round_trip_is_bit_identical() {
    let d = 5;
    let x = data(60, d, 1);
    let y = gaussian_mat(60, 3, 2);
    let xt = data(17, d, 3);
    for which in 0..3 {
        let met = metric(which, d, 4);
        for k in all_kernels(1.7) {
            let params = KernelRidgeParams::new(k).with_metric(met.clone()).with_ridge(1e-2);
            let json = serde_json::to_string(&params).unwrap();
            assert_eq!(serde_json::from_str::<KernelRidgeParams>(&json).unwrap(), params);
            let model = params.fit(x.as_ref(), y.as_ref()).unwrap();
            let s = serde_json::to_string(&model).unwrap();
            let back: KernelModel = serde_json::from_str(&s).unwrap();
            assert_eq!(back.kernel, model.kernel);
            assert_eq!(back.metric, model.metric);
            assert_eq!(back.alpha, model.alpha);
            assert_eq!(
                back.predict(xt.as_ref()).unwrap(),
                model.predict(xt.as_ref()).unwrap(),
                "{}",
                k.name()
            );
            assert_eq!(
                back.input_gradients(xt.as_ref()).unwrap(),
                model.input_gradients(xt.as_ref()).unwrap()
            );
        }
    }
    // a truncated document is an error, not a panic
    assert!(serde_json::from_str::<KernelModel>(r#"{"kernel":{"type":"laplace","bandwidth":1.0}}"#).is_err());
}

/// Runs `f`; fails unless it returns `Err` (a panic or an `Ok` is reported).
fn assert_err_not_panic<T: std::fmt::Debug, E>(what: &str, f: impl FnOnce() -> Result<T, E>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Err(_)) => {}
        Ok(Ok(v)) => panic!("{what}: accepted (returned {v:?})"),
        Err(_) => panic!("{what}: panicked instead of returning Err"),
    }
}

/// A model file whose coefficients or metric do not match its training inputs (hand-edited or
/// corrupted JSON) must be rejected when loaded or give an `Err` when used.
#[test]
fn tampered_model_json_is_an_error_not_a_panic() {
    let x = data(10, 3, 1);
    let y = gaussian_mat(10, 2, 2);
    let model = KernelRidgeParams::new(KernelSpec::laplace(1.0)).fit(x.as_ref(), y.as_ref()).unwrap();
    let mut bad_alpha = serde_json::to_value(&model).unwrap();
    bad_alpha["alpha"] = serde_json::json!({"nrows": 9, "ncols": 2, "data": vec![0.5; 18]});
    let mut bad_metric = serde_json::to_value(&model).unwrap();
    bad_metric["metric"] = serde_json::json!({"Diagonal": [1.0, 2.0]});
    for (name, v) in
        [("alpha with 9 rows for 10 training points", bad_alpha), ("2-d metric for 3-d data", bad_metric)]
    {
        if let Ok(m) = serde_json::from_value::<KernelModel>(v) {
            assert_err_not_panic(&format!("predict, {name}"), || m.predict(x.as_ref()));
            assert_err_not_panic(&format!("input_gradients, {name}"), || m.input_gradients(x.as_ref()));
        }
    }
}

/// Non-finite coefficients are rejected: `predict` does, `KernelModel::new` and `input_gradients`
/// should too (today they return NaN gradients).
#[test]
fn non_finite_coefficients_are_rejected() {
    let x = data(10, 3, 1);
    let mut alpha = gaussian_mat(10, 2, 2);
    alpha[(3, 1)] = f64::NAN;
    let k = KernelSpec::laplace(1.0);
    match KernelModel::new(k, Metric::Euclidean, x.clone(), alpha) {
        Err(_) => {}
        Ok(m) => {
            assert!(m.predict(x.as_ref()).is_err());
            assert_err_not_panic("input_gradients with NaN coefficients", || m.input_gradients(x.as_ref()));
        }
    }
}

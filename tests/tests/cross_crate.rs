//! Checks across `datasets`, `kernels` and `rfm`: the fused AGOP (with its sparse one-hot path) against
//! an AGOP summed pair by pair from the spec's closed-form gradients; the `M = A A^T` equivalence at
//! the level of fitted predictors and their gradients; RFM iteration 0 is plain kernel regression;
//! feature learning on the sparse multi-index task.
#![allow(clippy::needless_range_loop)]

use datasets::Dataset;
use datasets::synthetic::{ModOp, ModularParams, MultiIndexTask, modular_arithmetic, multi_index};
use faer::Mat;
use kernels::{GradientContext, KernelRidgeParams, KernelSpec, Metric, Prepared};
use linalg::random::gaussian_mat;
use rfm::agop::AGOP_BATCH_ENTRIES;
use rfm::{AgopOptions, Control, RfmParams, kernel_agop};
use tests::{RefKernel, random_psd, reference_agop, reference_gradients, rel_diff};

/// On one-hot modular data (the sparse gradient path is active) `kernel_agop` equals the AGOP of
/// gradients summed pair by pair from the closed forms, at training and at test points, for the
/// Laplace, Gaussian and quadratic kernels, Euclidean and full metrics, all four options.
#[test]
fn fused_agop_on_one_hot_data_matches_closed_forms() {
    let p = 23;
    let data =
        modular_arithmetic(&ModularParams { p, op: ModOp::Add, train_fraction: 0.4, seed: 3 }).unwrap();
    let (x, y) = (&data.train.x, &data.train.y);
    let test_x = data.test.x.as_ref().subrows(0, 120).to_owned();
    let d = 2 * p;
    let mahalanobis = {
        let m = random_psd(d, 5);
        &m * (0.5 / linalg::sym::trace(m.as_ref()) * d as f64)
    };
    for (mi, metric) in [Metric::Euclidean, Metric::Mahalanobis(mahalanobis)].into_iter().enumerate() {
        let mm = metric.to_matrix(d);
        let train = Prepared::new(x.as_ref(), &metric);
        for rk in [RefKernel::Laplace(2.0), RefKernel::Gaussian(2.5), RefKernel::Quadratic] {
            let spec = rk.spec();
            let model = KernelRidgeParams::new(spec)
                .with_metric(metric.clone())
                .with_ridge(1e-3)
                .fit(x.as_ref(), y.as_ref())
                .unwrap();
            assert!(GradientContext::new(&spec, &train, model.alpha.as_ref()).is_sparse());
            for eval_x in [x, &test_x] {
                let grads =
                    reference_gradients(rk, mm.as_ref(), x.as_ref(), model.alpha.as_ref(), eval_x.as_ref());
                let eval = Prepared::new(eval_x.as_ref(), &metric);
                for centering in [false, true] {
                    let want = reference_agop(&grads, centering);
                    for diag in [false, true] {
                        let got = kernel_agop(
                            &spec,
                            &metric,
                            &train,
                            model.alpha.as_ref(),
                            &eval,
                            AgopOptions { centering, diag },
                            AGOP_BATCH_ENTRIES,
                        )
                        .unwrap()
                        .to_matrix();
                        let want = if diag {
                            Mat::from_fn(d, d, |i, j| if i == j { want[(i, i)] } else { 0.0 })
                        } else {
                            want.clone()
                        };
                        let err = rel_diff(got.as_ref(), want.as_ref());
                        assert!(err < 1e-10, "{rk:?} metric {mi} centering {centering} diag {diag}: {err:e}");
                    }
                }
            }
        }
    }
}

/// With `M = A A^T` the fitted predictor equals the Euclidean predictor `g` fitted on `X A`, and the
/// gradients are related by the chain rule: `grad_x f(x) = A grad_u g(A^T x)`.
#[test]
fn mahalanobis_model_is_euclidean_model_on_transformed_data() {
    let (n, d, r) = (150, 7, 4);
    let data = multi_index(MultiIndexTask::Prod, n, d, 1).unwrap();
    let a = gaussian_mat(d, r, 2) * (1.0 / (r as f64).sqrt());
    let m = &a * a.transpose();
    let xt = gaussian_mat(20, d, 3);
    for spec in [KernelSpec::laplace(2.0), KernelSpec::gaussian(1.5), KernelSpec::quadratic()] {
        let f = KernelRidgeParams::new(spec)
            .with_metric(Metric::Mahalanobis(m.clone()))
            .with_ridge(1e-2)
            .fit(data.x.as_ref(), data.y.as_ref())
            .unwrap();
        let xa = &data.x * &a;
        let g = KernelRidgeParams::new(spec).with_ridge(1e-2).fit(xa.as_ref(), data.y.as_ref()).unwrap();
        let xta = &xt * &a;
        let (pf, pg) = (f.predict(xt.as_ref()).unwrap(), g.predict(xta.as_ref()).unwrap());
        assert!(rel_diff(pf.as_ref(), pg.as_ref()) < 1e-8, "{spec:?}");
        let gf = f.input_gradients(xt.as_ref()).unwrap();
        let gg = g.input_gradients(xta.as_ref()).unwrap();
        let chain = &gg[0] * a.transpose();
        assert!(rel_diff(gf[0].as_ref(), chain.as_ref()) < 1e-8, "{spec:?}");
    }
}

/// Iteration 0 of RFM (M_0 = I) is plain kernel ridge regression; a subsample at least as large as the
/// data is the full AGOP.
#[test]
fn rfm_iteration_zero_is_plain_kernel_regression() {
    let data = multi_index(MultiIndexTask::Prod, 200, 8, 4).unwrap();
    let xt = gaussian_mat(30, 8, 5);
    let params = RfmParams::new(KernelSpec::laplace(5.0)).with_iters(2);
    let plain = KernelRidgeParams::new(KernelSpec::laplace(5.0))
        .with_ridge(params.ridge)
        .fit(data.x.as_ref(), data.y.as_ref())
        .unwrap();
    let want = plain.predict(xt.as_ref()).unwrap();
    let mut first = None;
    let model = params
        .fit_with(&data, None, &params.solver, &mut |step| {
            if step.iter == 0 {
                first = Some(step.model.predict(xt.as_ref()).unwrap());
            }
            Control::Continue
        })
        .unwrap();
    assert!(rel_diff(first.unwrap().as_ref(), want.as_ref()) < 1e-13);
    let full_sample = params.clone().with_agop_subsample(Some(200)).fit(&data).unwrap();
    assert_eq!(full_sample.model.metric, model.model.metric);
}

/// `y = x1 x2 1[x6 > 0]` (0-based coordinates 0, 1, 5), d = 12: a diagonal RFM puts most of its mass
/// on the three relevant coordinates (measured: 0.84 after 3 updates,
/// test MSE 0.29 -> 0.13).
#[test]
fn sparse_multi_index_feature_learning() {
    let d = 12;
    let train = multi_index(MultiIndexTask::Sparse3, 800, d, 6).unwrap();
    let test: Dataset = multi_index(MultiIndexTask::Sparse3, 400, d, 7).unwrap();
    let params = RfmParams::new(KernelSpec::laplace(10.0)).with_iters(3).with_diag(true).with_centering(true);
    let mut mses = vec![];
    let model = params
        .fit_with(&train, Some(&test), &params.solver, &mut |s| {
            mses.push(s.validation_mse.unwrap());
            Control::Continue
        })
        .unwrap();
    let m = model.feature_matrix();
    let tr = linalg::sym::trace(m.as_ref());
    let share: f64 =
        MultiIndexTask::Sparse3.relevant_coordinates().iter().map(|&i| m[(i, i)]).sum::<f64>() / tr;
    eprintln!("sparse3: share on relevant coordinates {share:.3}, test mse per fit {mses:?}");
    assert!(share > 0.6, "share {share}");
    assert!(mses[3] < 0.8 * mses[0], "{mses:?}");
}

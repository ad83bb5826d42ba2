//! Mirror descent: reproducing property, p = 2 equivalence with kernel gradient descent, monotone
//! decrease with the safe step, the linear rate within its bound, the constrained variant, the
//! p -> 2 norm bound, fit/predict and bad input.
use faer::Mat;
use proptest::prelude::*;
use rkbs::duality::norm_p;
use rkbs::space::{self, p_to_2_norm_sq_bound};
use rkbs::{
    Control, FeatureMap, FnFeatureMap, Loss, MirrorDescentParams, MirrorKind, MirrorMap,
    RandomFourierFeatures, RffKernel, RkbsError, StepRule, constrained_bound, constrained_step,
    kernel_gradient_descent,
};

fn problem(n: usize, dd: usize, seed: u64) -> (Mat<f64>, Vec<f64>) {
    let rff = RandomFourierFeatures::new(RffKernel::Gaussian { bandwidth: 1.0 }, 3, dd, seed).unwrap();
    let x = linalg::random::gaussian_mat(n, 3, seed + 1);
    let phi = rff.features(x.as_ref()).unwrap();
    let y = (0..n).map(|i| x[(i, 0)].sin() + 0.3 * x[(i, 1)]).collect();
    (phi, y)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn reproducing_property_and_kernel_is_symmetric_psd() {
    let rff = RandomFourierFeatures::new(RffKernel::Laplace { bandwidth: 2.0 }, 2, 50, 3).unwrap();
    let x = linalg::random::gaussian_mat(30, 2, 4);
    let phi = rff.features(x.as_ref()).unwrap();
    let a: Vec<f64> = (0..50).map(|j| ((j * 7) % 5) as f64 - 2.0).collect();
    let f = space::evaluate(phi.as_ref(), &a).unwrap();
    for i in 0..30 {
        let direct: f64 = (0..50).map(|j| a[j] * phi[(i, j)]).sum();
        assert!((f[i] - direct).abs() < 1e-12);
    }
    let k = space::kernel_matrix(phi.as_ref(), phi.as_ref()).unwrap();
    for i in 0..30 {
        for j in 0..30 {
            assert!((k[(i, j)] - k[(j, i)]).abs() < 1e-14);
            let ip: f64 = (0..50).map(|l| phi[(i, l)] * phi[(j, l)]).sum();
            assert!((k[(i, j)] - ip).abs() < 1e-12);
        }
    }
    let ev = linalg::sym::sym_eigenvalues(k.as_ref()).unwrap();
    assert!(ev.iter().all(|&v| v > -1e-10), "{ev:?}");
    // dual element g = sum_i c_i K(x_i, .) evaluated through K equals <Phi^T c, phi(x)>
    let c: Vec<f64> = (0..30).map(|i| (i as f64).cos()).collect();
    let g = space::dual_evaluate(k.as_ref(), &c).unwrap();
    let mut b = vec![0.0; 50];
    for j in 0..50 {
        b[j] = (0..30).map(|i| c[i] * phi[(i, j)]).sum();
    }
    let g2 = space::evaluate(phi.as_ref(), &b).unwrap();
    for (u, v) in g.iter().zip(&g2) {
        assert!((u - v).abs() < 1e-12);
    }
}

#[test]
fn random_fourier_features_approximate_their_kernels() {
    let x = linalg::random::gaussian_mat(6, 2, 9);
    for kernel in [RffKernel::Gaussian { bandwidth: 1.5 }, RffKernel::Laplace { bandwidth: 1.5 }] {
        let rff = RandomFourierFeatures::new(kernel, 2, 20000, 11).unwrap();
        let phi = rff.features(x.as_ref()).unwrap();
        let k = space::kernel_matrix(phi.as_ref(), phi.as_ref()).unwrap();
        for i in 0..6 {
            for j in 0..6 {
                let xi: Vec<f64> = (0..2).map(|c| x[(i, c)]).collect();
                let xj: Vec<f64> = (0..2).map(|c| x[(j, c)]).collect();
                assert!((k[(i, j)] - kernel.eval(&xi, &xj)).abs() < 0.04, "{kernel:?} ({i},{j})");
            }
        }
        // seeded: same seed, same dictionary; another seed, another one
        assert_eq!(rff, RandomFourierFeatures::new(kernel, 2, 20000, 11).unwrap());
        assert_ne!(rff, RandomFourierFeatures::new(kernel, 2, 20000, 12).unwrap());
    }
    let spec = kernels::KernelSpec::gaussian(0.7);
    assert_eq!(RffKernel::from_spec(&spec).unwrap(), RffKernel::Gaussian { bandwidth: 0.7 });
    assert!(RffKernel::from_spec(&kernels::KernelSpec::quadratic()).is_err());
}

#[test]
fn p_equal_two_is_kernel_gradient_descent() {
    let (phi, y) = problem(40, 80, 1);
    let k = space::kernel_matrix(phi.as_ref(), phi.as_ref()).unwrap();
    for lambda in [0.0, 0.5] {
        let params = MirrorDescentParams::default()
            .with_p(2.0)
            .with_lambda(lambda)
            .with_step(StepRule::Safe)
            .with_iters(200);
        let mut cs = vec![vec![0.0; 40]];
        let sol = params
            .solve_with(phi.as_ref(), &y, &mut |s| {
                cs.push(s.dual_coef.to_vec());
                Control::Continue
            })
            .unwrap();
        let gd = kernel_gradient_descent(k.as_ref(), &y, sol.steps[0], lambda, 200).unwrap();
        assert_eq!(cs.len(), gd.len());
        let scale = gd.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in cs.iter().zip(&gd) {
            for (u, v) in a.iter().zip(b) {
                assert!((u - v).abs() <= 1e-12 * scale, "{u} vs {v}");
            }
        }
        // the primal iterate is the dual element itself: a = Phi^T c
        let mut b = vec![0.0; 80];
        for (j, bj) in b.iter_mut().enumerate() {
            *bj = (0..40).map(|i| sol.dual_coef[i] * phi[(i, j)]).sum();
        }
        for (u, v) in sol.coef.iter().zip(&b) {
            assert!((u - v).abs() <= 1e-12 * scale);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// With the safe step F(a_t) never increases (squared and logistic loss, lambda >= 0).
    #[test]
    fn safe_step_decreases_monotonically(p in 1.05f64..=2.0, seed in 0u64..1000, lambda in 0.0f64..2.0, logistic in any::<bool>()) {
        let (phi, mut y) = problem(30, 60, seed);
        let loss = if logistic { Loss::Logistic } else { Loss::Squared };
        if logistic {
            y.iter_mut().for_each(|v| *v = if *v >= 0.0 { 1.0 } else { -1.0 });
        }
        let sol = MirrorDescentParams::default()
            .with_p(p)
            .with_loss(loss)
            .with_lambda(lambda)
            .with_step(StepRule::Safe)
            .with_iters(150)
            .solve(phi.as_ref(), &y)
            .unwrap();
        for w in sol.objectives.windows(2) {
            prop_assert!(w[1] <= w[0] + 1e-12 * w[0].abs(), "{} -> {}", w[0], w[1]);
        }
        prop_assert!(sol.objectives.last().unwrap() < &sol.objectives[0]);
    }

    /// The Riesz-Thorin bound dominates ||Phi h||^2 / ||h||_p^2, also at local maximisers found by the
    /// nonlinear power method h <- J_q(Phi^T Phi h).
    #[test]
    fn p_to_2_bound_holds(p in 1.05f64..=2.0, seed in 0u64..1000, n in 2usize..15, dd in 2usize..25) {
        let phi = linalg::random::gaussian_mat(n, dd, seed);
        let c = p_to_2_norm_sq_bound(phi.as_ref(), p).unwrap();
        let q = rkbs::conjugate(p);
        let ratio = |h: &[f64]| {
            let f = space::evaluate(phi.as_ref(), h).unwrap();
            dot(&f, &f) / norm_p(h, p).powi(2)
        };
        let mut h: Vec<f64> = (0..dd).map(|j| ((seed as usize + j * 13) % 7) as f64 - 3.0 + 0.1).collect();
        for _ in 0..200 {
            prop_assert!(ratio(&h) <= c * (1.0 + 1e-9), "ratio {} > bound {c}", ratio(&h));
            let f = space::evaluate(phi.as_ref(), &h).unwrap();
            let g: Vec<f64> = (0..dd).map(|j| (0..n).map(|i| phi[(i, j)] * f[i]).sum()).collect();
            h = rkbs::duality_map(&g, q).unwrap();
            let nh = norm_p(&h, p);
            if nh == 0.0 {
                break;
            }
            h.iter_mut().for_each(|v| *v /= nh);
        }
        for j in 0..dd {
            let mut e = vec![0.0; dd];
            e[j] = 1.0;
            prop_assert!(ratio(&e) <= c * (1.0 + 1e-9));
        }
    }
}

/// Linear rate of the regularised problem: the per-step Bregman contraction is at most 1 - lambda eta
/// and the fitted rate of the objective gap is within the bound (safe step for p <= 2, backtracking for
/// p = 3 with the accepted steps' bound).
#[test]
fn linear_rate_within_the_bound() {
    let (phi, y) = problem(40, 80, 5);
    let lambda = 0.05 * 2.0 * space::spectral_norm_sq(phi.as_ref()).unwrap();
    for (p, step) in
        [(1.2, StepRule::Safe), (1.6, StepRule::Safe), (2.0, StepRule::Safe), (3.0, StepRule::default())]
    {
        let params =
            MirrorDescentParams::default().with_p(p).with_lambda(lambda).with_step(step).with_iters(1500);
        let sol = params.solve(phi.as_ref(), &y).unwrap();
        let fstar = sol.objectives.iter().cloned().fold(f64::INFINITY, f64::min);
        let psi = MirrorMap::new(p, MirrorKind::HalfNormSquared).unwrap();
        let mut dist = vec![psi.bregman(&sol.coef, &vec![0.0; 80]).unwrap()];
        params
            .solve_with(phi.as_ref(), &y, &mut |s| {
                dist.push(psi.bregman(&sol.coef, s.coef).unwrap());
                Control::Continue
            })
            .unwrap();
        let mut checked = 0;
        for t in 0..sol.steps.len() {
            if dist[t + 1] > 1e-8 * dist[0] {
                let bound = 1.0 - lambda * sol.steps[t];
                assert!(dist[t + 1] <= bound * dist[t] * (1.0 + 1e-9), "p = {p}, t = {t}");
                checked += 1;
            }
        }
        assert!(checked > 20, "p = {p}: only {checked} steps checked");
        // fitted rate of the gap between 1e-2 and 1e-8 of the start
        let g0 = sol.objectives[0] - fstar;
        let idx: Vec<usize> = (0..sol.objectives.len())
            .filter(|&t| {
                let g = sol.objectives[t] - fstar;
                g < 1e-2 * g0 && g > 1e-8 * g0
            })
            .collect();
        assert!(idx.len() > 5, "p = {p}");
        let (t0, t1) = (idx[0], *idx.last().unwrap());
        let rate = ((sol.objectives[t1] - fstar) / (sol.objectives[t0] - fstar)).powf(1.0 / (t1 - t0) as f64);
        let bound =
            (sol.steps[t0..t1].iter().map(|s| (1.0 - lambda * s).ln()).sum::<f64>() / (t1 - t0) as f64).exp();
        assert!(rate <= bound, "p = {p}: rate {rate} > bound {bound}");
        if matches!(step, StepRule::Safe) {
            let ls = sol.smoothness.unwrap();
            assert!((bound - (1.0 - lambda / (ls + lambda))).abs() < 1e-12);
        }
    }
}

#[test]
fn backtracking_decreases_for_every_mirror_map() {
    let (phi, y) = problem(30, 50, 8);
    for kind in [MirrorKind::HalfNormSquared, MirrorKind::Power] {
        for p in [1.1, 1.5, 3.0, 4.0] {
            let sol = MirrorDescentParams::default()
                .with_p(p)
                .with_mirror(kind)
                .with_lambda(0.01)
                .with_iters(300)
                .solve(phi.as_ref(), &y)
                .unwrap();
            for w in sol.objectives.windows(2) {
                assert!(w[1] <= w[0] * (1.0 + 1e-12), "{kind:?} p = {p}: {} -> {}", w[0], w[1]);
            }
            assert!(sol.objectives.last().unwrap() < &(0.2 * sol.objectives[0]), "{kind:?} p = {p}");
        }
    }
}

#[test]
fn constrained_iterates_stay_in_the_ball_and_meet_the_bound() {
    let (phi, y) = problem(40, 60, 2);
    let labels: Vec<f64> = y.iter().map(|v| if *v >= 0.0 { 1.0 } else { -1.0 }).collect();
    let (p, radius, horizon) = (1.5, 1.0, 400);
    let g = space::lipschitz_bound(phi.as_ref(), &labels, Loss::Logistic, p, radius).unwrap();
    let eta = constrained_step(radius, g, p - 1.0, horizon).unwrap();
    let base = MirrorDescentParams::default().with_p(p).with_loss(Loss::Logistic).with_radius(radius);
    let mut max_norm = 0.0f64;
    let sol = base
        .clone()
        .with_step(StepRule::Fixed { step: eta })
        .with_iters(horizon)
        .solve_with(phi.as_ref(), &labels, &mut |s| {
            max_norm = max_norm.max(norm_p(s.coef, p));
            Control::Continue
        })
        .unwrap();
    assert!(max_norm <= radius * (1.0 + 1e-12), "{max_norm}");
    let reference = base.clone().with_iters(5000).solve(phi.as_ref(), &labels).unwrap();
    let fstar = reference.objectives.iter().cloned().fold(f64::INFINITY, f64::min);
    let f_avg = base.objective(phi.as_ref(), &labels, &sol.average).unwrap();
    let bound = constrained_bound(radius, g, p - 1.0, horizon).unwrap();
    assert!(f_avg - fstar <= bound, "gap {} > bound {bound}", f_avg - fstar);
    assert!(f_avg - fstar >= -1e-9);
    // squared loss: the gradient dual norm along the run is below the Lipschitz bound
    let gs = space::lipschitz_bound(phi.as_ref(), &y, Loss::Squared, p, radius).unwrap();
    let q = rkbs::conjugate(p);
    base.clone()
        .with_loss(Loss::Squared)
        .with_step(StepRule::Fixed { step: 1e-3 })
        .with_iters(50)
        .solve_with(phi.as_ref(), &y, &mut |s| {
            let r: Vec<f64> = s.predictions.iter().zip(&y).map(|(f, t)| 2.0 * (f - t)).collect();
            let grad: Vec<f64> = (0..60).map(|j| (0..40).map(|i| phi[(i, j)] * r[i]).sum()).collect();
            assert!(norm_p(&grad, q) <= gs);
            Control::Continue
        })
        .unwrap();
}

#[test]
fn fit_predict_is_deterministic_and_serialisable() {
    let rff = RandomFourierFeatures::new(RffKernel::Gaussian { bandwidth: 1.0 }, 2, 60, 4).unwrap();
    let x = linalg::random::gaussian_mat(50, 2, 5);
    let y = Mat::from_fn(50, 1, |i, _| x[(i, 0)].sin());
    let data = datasets::Dataset::new("sin", x.clone(), y).unwrap();
    let params = MirrorDescentParams::default().with_p(1.3).with_iters(200);
    let m1 = params.fit(&rff, &data).unwrap();
    let m2 = params.fit(&rff, &data).unwrap();
    assert_eq!(m1, m2);
    let json = serde_json::to_string(&m1).unwrap();
    let back: rkbs::RkbsModel<RandomFourierFeatures> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.predict(x.as_ref()).unwrap(), m1.predict(x.as_ref()).unwrap());
    assert!(datasets::mse(m1.predict(x.as_ref()).unwrap().as_ref(), data.y.as_ref()).unwrap() < 0.05);
    assert!(m1.n_large(0.1) <= 60 && m1.norm() > 0.0);
    // wrong input dimension, two targets: errors
    assert!(m1.predict(Mat::<f64>::zeros(3, 5).as_ref()).is_err());
    let two = datasets::Dataset::new("two", x.clone(), Mat::zeros(50, 2)).unwrap();
    assert!(params.fit(&rff, &two).is_err());
    assert!(m1.predict_labels(x.as_ref()).is_err());
}

#[test]
fn bad_input_is_an_error_with_a_message() {
    let (phi, y) = problem(10, 20, 0);
    let msg = |r: Result<rkbs::MdSolution, RkbsError>| r.unwrap_err().to_string();
    let base = MirrorDescentParams::default();
    for p in [1.0, 0.3, f64::INFINITY, f64::NAN] {
        let m = msg(base.clone().with_p(p).solve(phi.as_ref(), &y));
        assert!(m.contains("invalid p"), "{m}");
    }
    for step in [0.0, -1.0, f64::NAN] {
        let m = msg(base.clone().with_step(StepRule::Fixed { step }).solve(phi.as_ref(), &y));
        assert!(m.contains("step"), "{m}");
    }
    assert!(
        msg(base.clone().with_lambda(1.0).with_step(StepRule::Fixed { step: 2.0 }).solve(phi.as_ref(), &y))
            .contains("lambda")
    );
    assert!(msg(base.clone().with_lambda(f64::NAN).solve(phi.as_ref(), &y)).contains("lambda"));
    assert!(msg(base.clone().with_radius(0.0).solve(phi.as_ref(), &y)).contains("radius"));
    assert!(msg(base.clone().with_iters(0).solve(phi.as_ref(), &y)).contains("iters"));
    let bt = |initial, grow, shrink| StepRule::Backtracking { initial, grow, shrink };
    assert!(base.clone().with_step(bt(-1.0, 2.0, 0.5)).validate().is_err());
    assert!(base.clone().with_step(bt(0.0, 0.5, 0.5)).validate().is_err());
    assert!(base.clone().with_step(bt(0.0, 2.0, 1.0)).validate().is_err());
    // empty dictionary / no samples
    let empty = Mat::<f64>::zeros(10, 0);
    assert!(msg(base.solve(empty.as_ref(), &y)).contains("dictionary"));
    assert!(msg(base.solve(Mat::<f64>::zeros(0, 5).as_ref(), &[])).contains("empty"));
    assert!(RandomFourierFeatures::new(RffKernel::Gaussian { bandwidth: 1.0 }, 2, 0, 0).is_err());
    assert!(RandomFourierFeatures::new(RffKernel::Gaussian { bandwidth: -1.0 }, 2, 5, 0).is_err());
    assert!(FnFeatureMap::new(1, 0, |_: &[f64], _: &mut [f64]| {}).is_err());
    // NaN in data, length mismatch, labels
    let mut bad = phi.clone();
    bad[(2, 3)] = f64::NAN;
    assert!(msg(base.solve(bad.as_ref(), &y)).contains("NaN"));
    let mut ybad = y.clone();
    ybad[0] = f64::NAN;
    assert!(base.solve(phi.as_ref(), &ybad).is_err());
    assert!(msg(base.solve(phi.as_ref(), &y[..5])).contains("length"));
    assert!(msg(base.clone().with_loss(Loss::Logistic).solve(phi.as_ref(), &y)).contains("label"));
    // no safe step beyond p = 2 or for the power map
    let m = msg(base.clone().with_p(3.0).with_step(StepRule::Safe).solve(phi.as_ref(), &y));
    assert!(m.contains("no safe fixed step") && m.contains("Backtracking"), "{m}");
    assert!(
        base.clone()
            .with_mirror(MirrorKind::Power)
            .with_step(StepRule::Safe)
            .solve(phi.as_ref(), &y)
            .is_err()
    );
    assert!(constrained_step(1.0, 0.0, 0.5, 10).is_err());
    assert!(constrained_bound(1.0, 1.0, 0.5, 0).is_err());
    assert!(kernel_gradient_descent(Mat::<f64>::zeros(3, 2).as_ref(), &[0.0; 3], 0.1, 0.0, 5).is_err());
    // a divergent fixed step is reported, not a panic
    let m = msg(base
        .clone()
        .with_p(2.0)
        .with_step(StepRule::Fixed { step: 1e200 })
        .with_iters(50)
        .solve(phi.as_ref(), &y));
    assert!(m.contains("diverged"), "{m}");
}

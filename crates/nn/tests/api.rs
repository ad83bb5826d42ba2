//! Bad input is an error with a message; optimisers, schedules, save/load; proptest invariants.
use faer::Mat;
use nn::optim::{Adam, LrSchedule, Optimizer, Sgd};
use nn::{Activation, CausalSelfAttention, Gpt, GptConfig, Mlp, NnError, Parameters, TwoLayerNtk};
use proptest::prelude::*;

fn gauss(r: usize, c: usize, seed: u64) -> Mat<f64> {
    linalg::random::gaussian_mat(r, c, seed)
}

#[test]
fn bad_input_is_an_error_with_a_message() {
    let e = TwoLayerNtk::new(5, 0, 1).unwrap_err();
    assert!(e.to_string().contains("width"), "{e}");
    assert!(Mlp::new(&[3, 0, 1], Activation::Relu, true, 1).is_err());
    assert!(Mlp::new(&[3], Activation::Relu, true, 1).is_err());
    let net = TwoLayerNtk::new(5, 8, 1).unwrap();
    let e = net.predict(gauss(4, 6, 1).as_ref()).unwrap_err();
    assert!(matches!(e, NnError::ShapeMismatch { .. }), "{e}");
    assert!(e.to_string().contains("5 columns"), "{e}");
    let mut x = gauss(4, 5, 1);
    x[(2, 3)] = f64::NAN;
    let e = net.predict(x.as_ref()).unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    let x = gauss(4, 5, 1);
    assert!(net.loss(x.as_ref(), gauss(3, 1, 1).as_ref()).is_err());
    let mut net2 = net.clone();
    for lr in [0.0, -1.0, f64::NAN] {
        let e = net2.gd_step(x.as_ref(), gauss(4, 1, 2).as_ref(), lr).unwrap_err();
        assert!(e.to_string().contains("learning rate"), "{e}");
    }
    assert!(Sgd::new(0.0).is_err());
    assert!(Adam::new(-1e-3).is_err());
    assert!(Sgd::new(0.1).unwrap().with_momentum(1.0).is_err());
    assert!(CausalSelfAttention::new(6, 4, 1).is_err(), "heads must divide the width");
    assert!(CausalSelfAttention::new(6, 2, 1).unwrap().forward(gauss(5, 6, 1).as_ref(), 2).is_err());
    let gpt = Gpt::new(GptConfig::new(5, 4, 8, 2, 1), 1).unwrap();
    assert!(matches!(gpt.forward(&[1, 2, 9, 0], 4), Err(NnError::TokenOutOfRange { token: 9, .. })));
    assert!(gpt.forward(&[1, 2, 3, 0, 1, 2, 3, 4, 1, 1], 5).is_err(), "longer than the context");
    assert!(Gpt::new(GptConfig::new(5, 4, 8, 3, 1), 1).is_err());
    let mut bad = GptConfig::new(5, 4, 8, 2, 1);
    bad.d_ff = 0;
    assert!(Gpt::new(bad, 1).is_err());
    // gradients with the wrong shape are rejected by optimisers
    let mut mlp = Mlp::new(&[2, 3, 1], Activation::Relu, true, 1).unwrap();
    let mut sgd = Sgd::new(0.1).unwrap();
    assert!(sgd.step(&mut mlp, &[Mat::zeros(2, 3)]).is_err());
    let mut grads: Vec<Mat<f64>> = mlp.params().iter().map(|p| Mat::zeros(p.nrows(), p.ncols())).collect();
    grads[0][(0, 0)] = f64::NAN;
    assert!(sgd.step(&mut mlp, &grads).is_err());
}

#[test]
fn optimisers_and_schedules() {
    let x = gauss(64, 3, 1);
    let y = Mat::from_fn(64, 1, |i, _| x[(i, 0)] - 0.5 * x[(i, 2)]);
    for opt in [
        Box::new(Sgd::new(0.1).unwrap().with_momentum(0.9).unwrap()) as Box<dyn Optimizer>,
        Box::new(Adam::new(0.01).unwrap()),
        Box::new(Adam::adamw(0.01, 1e-4).unwrap()),
    ] {
        let mut opt = opt;
        let mut mlp = Mlp::new(&[3, 16, 1], Activation::Gelu, true, 2).unwrap();
        let l0 = mlp.train_step(x.as_ref(), y.as_ref(), opt.as_mut()).unwrap();
        let mut l = l0;
        for _ in 0..200 {
            l = mlp.train_step(x.as_ref(), y.as_ref(), opt.as_mut()).unwrap();
        }
        assert!(l < 0.1 * l0, "{l} vs {l0}");
    }
    // Adam's first step moves every parameter by about lr
    let mut mlp = Mlp::new(&[2, 2, 1], Activation::Identity, false, 3).unwrap();
    let before = nn::params::flatten(&mlp.params());
    let grads: Vec<Mat<f64>> =
        mlp.params().iter().map(|p| Mat::from_fn(p.nrows(), p.ncols(), |_, _| 0.3)).collect();
    let mut adam = Adam::new(0.01).unwrap();
    adam.step(&mut mlp, &grads).unwrap();
    let after = nn::params::flatten(&mlp.params());
    for (a, b) in before.iter().zip(&after) {
        assert!((a - b - 0.01).abs() < 1e-6);
    }
    let s = LrSchedule::Step { every: 10, factor: 1.5, max_changes: 2 };
    assert_eq!(s.lr_at(1.0, 9), 1.0);
    assert_eq!(s.lr_at(1.0, 10), 1.5);
    assert_eq!(s.lr_at(1.0, 100), 2.25);
    let c = LrSchedule::WarmupCosine { warmup: 10, total: 110, floor: 0.1 };
    assert!((c.lr_at(1.0, 4) - 0.5).abs() < 1e-12);
    assert!((c.lr_at(1.0, 110) - 0.1).abs() < 1e-12);
    assert!(LrSchedule::Step { every: 0, factor: 2.0, max_changes: 1 }.validate().is_err());
    let mut sgd = Sgd::new(0.1).unwrap();
    assert!(sgd.set_lr(0.0).is_err());
    sgd.set_lr(0.2).unwrap();
    assert_eq!(sgd.lr(), 0.2);
}

#[test]
fn save_and_load_round_trip() {
    let dir = std::env::temp_dir().join(format!("nn-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gpt = Gpt::new(GptConfig::new(6, 4, 8, 2, 1), 5).unwrap();
    let path = dir.join("gpt.json");
    nn::params::save(&gpt, &path).unwrap();
    let back: Gpt = nn::params::load(&path).unwrap();
    assert_eq!(back, gpt);
    let net = TwoLayerNtk::new(3, 5, 1).unwrap();
    let back: TwoLayerNtk = nn::params::from_json(&nn::params::to_json(&net).unwrap()).unwrap();
    assert_eq!(back, net);
    assert!(nn::params::load::<Gpt>(&dir.join("missing.json")).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seeded_and_deterministic() {
    assert_eq!(TwoLayerNtk::new(4, 8, 3).unwrap(), TwoLayerNtk::new(4, 8, 3).unwrap());
    assert_ne!(TwoLayerNtk::new(4, 8, 3).unwrap(), TwoLayerNtk::new(4, 8, 4).unwrap());
    assert_eq!(
        Gpt::new(GptConfig::new(6, 4, 8, 2, 2), 1).unwrap(),
        Gpt::new(GptConfig::new(6, 4, 8, 2, 2), 1).unwrap()
    );
}

#[test]
fn target_agop_monte_carlo_and_alignment_properties() {
    // G(f*) for f* = x1 x2 is diag(1, 1, 0, ...): Monte-Carlo with 1e5 samples within 0.02.
    let x = gauss(100_000, 6, 7);
    let g = Mat::from_fn(x.nrows(), 6, |i, j| match j {
        0 => x[(i, 1)],
        1 => x[(i, 0)],
        _ => 0.0,
    });
    let agop = nn::analysis::agop_from_gradients(g.as_ref());
    let truth = Mat::from_fn(6, 6, |i, j| if i == j && i < 2 { 1.0 } else { 0.0 });
    assert!((&agop - &truth).norm_l2() < 0.02);
    let a = gauss(5, 5, 1);
    let b = gauss(5, 5, 2);
    let rho = |a: &Mat<f64>, b: &Mat<f64>| nn::analysis::agop_alignment(a.as_ref(), b.as_ref()).unwrap();
    assert!((rho(&a, &a) - 1.0).abs() < 1e-12);
    assert!((rho(&(&a * 3.0), &b) - rho(&a, &b)).abs() < 1e-12);
    assert!((rho(&a, &b) - rho(&b, &a)).abs() < 1e-15);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn ntk_is_symmetric_psd_and_matches_jacobian(n in 1usize..12, d in 1usize..6, m in 1usize..24, seed in any::<u64>()) {
        let net = TwoLayerNtk::new(d, m, seed).unwrap();
        let x = gauss(n, d, seed.wrapping_add(1));
        let k = net.ntk(x.as_ref()).unwrap();
        let kj = nn::analysis::empirical_ntk(net.jacobian(x.as_ref()).unwrap().as_ref());
        let scale = k.norm_max().max(1e-300);
        prop_assert!((&k - &kj).norm_max() <= 1e-10 * scale);
        prop_assert!((&k - k.transpose()).norm_max() <= 1e-12 * scale);
        let ev = linalg::sym::sym_eigenvalues(k.as_ref()).unwrap();
        prop_assert!(ev[ev.len() - 1] >= -1e-10 * ev[0].abs().max(1e-300));
        // AGOP from the closed-form input gradients is PSD with trace = mean squared gradient norm
        let g = net.input_gradients(x.as_ref()).unwrap();
        let agop = net.agop(x.as_ref()).unwrap();
        let tr = linalg::sym::trace(agop.as_ref());
        prop_assert!((tr - g.squared_norm_l2() / n as f64).abs() <= 1e-10 * tr.abs().max(1e-300));
    }

    #[test]
    fn softmax_rows_are_distributions(n in 1usize..6, c in 1usize..8, seed in any::<u64>()) {
        let z = &gauss(n, c, seed) * 30.0;
        let p = nn::loss::softmax_rows(z.as_ref());
        for i in 0..n {
            let s: f64 = (0..c).map(|j| p[(i, j)]).sum();
            prop_assert!((s - 1.0).abs() < 1e-12);
            prop_assert!((0..c).all(|j| p[(i, j)] >= 0.0));
        }
    }
}

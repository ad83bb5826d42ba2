//! Backward passes against central finite differences (f64, relative error < 1e-6), the closed-form
//! NTK against (1/n) J J^T from per-sample backprop, input gradients, attention invariants.
use faer::Mat;
use nn::gradcheck::{check_gradients, finite_difference, relative_error};
use nn::layers::{Activation, Embedding, LayerNorm, Linear, PositionalEmbedding};
use nn::{CausalSelfAttention, Gpt, GptConfig, Mlp, Parameters, TwoLayerNtk};

const H: f64 = 1e-5;
const TOL: f64 = 1e-6;

fn gauss(r: usize, c: usize, seed: u64) -> Mat<f64> {
    linalg::random::gaussian_mat(r, c, seed)
}

/// `sum(out o r)`: its gradient with respect to `out` is `r`.
fn dot(a: &Mat<f64>, r: &Mat<f64>) -> f64 {
    (0..a.ncols()).map(|j| (0..a.nrows()).map(|i| a[(i, j)] * r[(i, j)]).sum::<f64>()).sum()
}

#[test]
fn linear_backward_matches_finite_differences() {
    for bias in [true, false] {
        let mut lin = Linear::new(5, 3, bias, 1).unwrap();
        if let Some(b) = &mut lin.b {
            *b = gauss(1, 3, 9);
        }
        let x = gauss(7, 5, 2);
        let r = gauss(7, 3, 3);
        let (gx, grads) = lin.backward(x.as_ref(), r.as_ref()).unwrap();
        assert_eq!(grads.len(), if bias { 2 } else { 1 });
        let chk = check_gradients(&mut lin, &grads, H, |l| dot(&l.forward(x.as_ref()).unwrap(), &r)).unwrap();
        assert!(chk.max_rel_err < TOL, "{:?}", chk.per_param);
        let fx = finite_difference(&x, H, |x| dot(&lin.forward(x.as_ref()).unwrap(), &r)).unwrap();
        assert!(relative_error(&fx, &gx) < TOL);
    }
}

#[test]
fn linear_per_sample_grads_sum_to_batch_grad() {
    let lin = Linear::new(4, 3, true, 1).unwrap();
    let x = gauss(6, 4, 2);
    let r = gauss(6, 3, 3);
    let ps = lin.per_sample_grads(x.as_ref(), r.as_ref()).unwrap();
    let (_, grads) = lin.backward(x.as_ref(), r.as_ref()).unwrap();
    let flat = nn::params::flatten(&grads.iter().collect::<Vec<_>>());
    for (c, &v) in flat.iter().enumerate() {
        let s: f64 = (0..6).map(|i| ps[(i, c)]).sum();
        assert!((s - v).abs() < 1e-12);
    }
}

#[test]
fn activations_backward_match_finite_differences() {
    let z = gauss(6, 4, 5);
    let r = gauss(6, 4, 6);
    for act in [Activation::Relu, Activation::Gelu, Activation::Quadratic, Activation::Identity] {
        let g = act.backward(z.as_ref(), r.as_ref()).unwrap();
        let fd = finite_difference(&z, H, |z| dot(&act.forward(z.as_ref()), &r)).unwrap();
        assert!(relative_error(&fd, &g) < TOL, "{act:?}");
    }
}

#[test]
fn layer_norm_backward_matches_finite_differences() {
    let mut ln = LayerNorm::new(6).unwrap();
    ln.gamma = gauss(1, 6, 1);
    ln.beta = gauss(1, 6, 2);
    let x = gauss(5, 6, 3);
    let r = gauss(5, 6, 4);
    let (_, cache) = ln.forward(x.as_ref()).unwrap();
    let (gx, grads) = ln.backward(&cache, r.as_ref()).unwrap();
    let chk = check_gradients(&mut ln, &grads, H, |l| dot(&l.forward(x.as_ref()).unwrap().0, &r)).unwrap();
    assert!(chk.max_rel_err < TOL, "{:?}", chk.per_param);
    let fx = finite_difference(&x, H, |x| dot(&ln.forward(x.as_ref()).unwrap().0, &r)).unwrap();
    assert!(relative_error(&fx, &gx) < TOL, "{}", relative_error(&fx, &gx));
}

#[test]
fn embeddings_backward_match_finite_differences() {
    let mut emb = Embedding::new(7, 4, 1.0, 1).unwrap();
    let tokens = [3, 0, 6, 3, 2];
    let r = gauss(5, 4, 2);
    let grads = emb.backward(&tokens, r.as_ref()).unwrap();
    let chk = check_gradients(&mut emb, &grads, H, |e| dot(&e.forward(&tokens).unwrap(), &r)).unwrap();
    assert!(chk.max_rel_err < TOL);
    assert!(emb.forward(&[7]).is_err());

    let mut pos = PositionalEmbedding::new(4, 3, 1.0, 1).unwrap();
    let r = gauss(6, 3, 3);
    let grads = pos.backward(3, r.as_ref()).unwrap();
    let chk = check_gradients(&mut pos, &grads, H, |p| dot(&p.forward(6, 3).unwrap(), &r)).unwrap();
    assert!(chk.max_rel_err < TOL);
    assert!(pos.forward(6, 5).is_err(), "sequence longer than the context");
    assert!(pos.forward(7, 3).is_err(), "rows not a multiple of the sequence length");
}

#[test]
fn attention_backward_matches_finite_differences() {
    let (t, d) = (4, 6);
    let x = gauss(2 * t, d, 1);
    let r = gauss(2 * t, d, 2);
    let mut attn = CausalSelfAttention::new(d, 2, 3).unwrap();
    let (_, cache) = attn.forward(x.as_ref(), t).unwrap();
    let (gx, grads) = attn.backward(&cache, r.as_ref()).unwrap();
    assert_eq!(grads.len(), 4);
    let chk =
        check_gradients(&mut attn, &grads, H, |a| dot(&a.forward(x.as_ref(), t).unwrap().0, &r)).unwrap();
    assert!(chk.max_rel_err < TOL, "{:?}", chk.per_param);
    let fx = finite_difference(&x, H, |x| dot(&attn.forward(x.as_ref(), t).unwrap().0, &r)).unwrap();
    assert!(relative_error(&fx, &gx) < TOL);
}

#[test]
fn identity_attention_has_no_parameters_and_correct_input_gradient() {
    let (t, d) = (5, 4);
    let attn = CausalSelfAttention::identity(d, 1).unwrap();
    assert_eq!(attn.num_params(), 0);
    assert!(attn.params().is_empty());
    let x = gauss(3 * t, d, 1);
    let r = gauss(3 * t, d, 2);
    let (y, cache) = attn.forward(x.as_ref(), t).unwrap();
    // first position attends only to itself: output = input there
    for j in 0..d {
        assert!((y[(0, j)] - x[(0, j)]).abs() < 1e-14);
    }
    let (gx, grads) = attn.backward(&cache, r.as_ref()).unwrap();
    assert!(grads.is_empty());
    let fx = finite_difference(&x, H, |x| dot(&attn.forward(x.as_ref(), t).unwrap().0, &r)).unwrap();
    assert!(relative_error(&fx, &gx) < TOL);
}

#[test]
fn causal_attention_ignores_later_tokens() {
    let (t, d) = (6, 8);
    for attn in [CausalSelfAttention::new(d, 2, 1).unwrap(), CausalSelfAttention::identity(d, 2).unwrap()] {
        let x = gauss(t, d, 4);
        let (y, _) = attn.forward(x.as_ref(), t).unwrap();
        let mut x2 = x.clone();
        for j in 0..d {
            x2[(4, j)] += 3.0;
            x2[(5, j)] -= 1.0;
        }
        let (y2, _) = attn.forward(x2.as_ref(), t).unwrap();
        for i in 0..4 {
            for j in 0..d {
                assert_eq!(y[(i, j)], y2[(i, j)], "position {i} changed when later tokens changed");
            }
        }
        assert!((0..d).any(|j| y[(4, j)] != y2[(4, j)]));
    }
}

#[test]
fn losses_match_finite_differences() {
    let p = gauss(6, 3, 1);
    let y = gauss(6, 3, 2);
    let (l, g) = nn::loss::mse(p.as_ref(), y.as_ref()).unwrap();
    assert!((l - (&p - &y).squared_norm_l2() / 12.0).abs() < 1e-12);
    let fd = finite_difference(&p, H, |p| nn::loss::mse(p.as_ref(), y.as_ref()).unwrap().0).unwrap();
    assert!(relative_error(&fd, &g) < TOL);

    let logits = gauss(5, 4, 3);
    let targets = [1, 3, 0, 2, 2];
    let mask = [true, false, true, true, false];
    let (_, g) = nn::loss::softmax_cross_entropy(logits.as_ref(), &targets, Some(&mask)).unwrap();
    let fd = finite_difference(&logits, H, |z| {
        nn::loss::softmax_cross_entropy(z.as_ref(), &targets, Some(&mask)).unwrap().0
    })
    .unwrap();
    assert!(relative_error(&fd, &g) < TOL);
    assert!((0..4).all(|j| g[(1, j)] == 0.0), "masked rows get no gradient");
    assert!(nn::loss::softmax_cross_entropy(logits.as_ref(), &[1, 2, 3, 4, 0], None).is_err());

    let q = nn::loss::softmax_rows(gauss(5, 4, 4).as_ref());
    let (l, g) = nn::loss::soft_label_cross_entropy(logits.as_ref(), q.as_ref(), Some(&mask)).unwrap();
    assert!(l > 0.0);
    let fd = finite_difference(&logits, H, |z| {
        nn::loss::soft_label_cross_entropy(z.as_ref(), q.as_ref(), Some(&mask)).unwrap().0
    })
    .unwrap();
    assert!(relative_error(&fd, &g) < TOL);
    // one-hot soft labels equal the hard-label loss
    let onehot = Mat::from_fn(5, 4, |i, j| if j == targets[i] { 1.0 } else { 0.0 });
    let a = nn::loss::soft_label_cross_entropy(logits.as_ref(), onehot.as_ref(), None).unwrap().0;
    let b = nn::loss::softmax_cross_entropy(logits.as_ref(), &targets, None).unwrap().0;
    assert!((a - b).abs() < 1e-12);
}

#[test]
fn mlp_gradients_jacobian_and_input_gradients() {
    for act in [Activation::Relu, Activation::Gelu, Activation::Quadratic] {
        let mut mlp = Mlp::new(&[4, 7, 5, 2], act, true, 3).unwrap();
        let x = gauss(6, 4, 1);
        let y = gauss(6, 2, 2);
        let (_, grads) = mlp.loss_and_grad(x.as_ref(), y.as_ref()).unwrap();
        let chk = check_gradients(&mut mlp, &grads, H, |m| {
            nn::loss::mse(m.predict(x.as_ref()).unwrap().as_ref(), y.as_ref()).unwrap().0
        })
        .unwrap();
        assert!(chk.max_rel_err < TOL, "{act:?} {:?}", chk.per_param);
        // input gradients of each output against finite differences, one row per sample
        for k in 0..2 {
            let g = mlp.input_gradients(x.as_ref(), k).unwrap();
            let fd =
                finite_difference(&x, H, |x| (0..6).map(|i| mlp.predict(x.as_ref()).unwrap()[(i, k)]).sum())
                    .unwrap();
            assert!(relative_error(&fd, &g) < TOL, "{act:?}");
        }
        let agop = mlp.agop(x.as_ref()).unwrap();
        assert_eq!((agop.nrows(), agop.ncols()), (4, 4));
    }
    // scalar output: the Jacobian's rows are per-sample gradients
    let mut mlp = Mlp::new(&[3, 6, 1], Activation::Gelu, true, 5).unwrap();
    let x = gauss(4, 3, 6);
    let j = mlp.jacobian(x.as_ref()).unwrap();
    assert_eq!(j.ncols(), mlp.num_params());
    for i in 0..4 {
        let xi = x.subrows(i, 1).to_owned();
        let (_, cache) = mlp.forward(xi.as_ref()).unwrap();
        let (_, g) = mlp.backward(&cache, Mat::from_fn(1, 1, |_, _| 1.0).as_ref()).unwrap();
        let flat = nn::params::flatten(&g.iter().collect::<Vec<_>>());
        for (c, v) in flat.iter().enumerate() {
            assert!((j[(i, c)] - v).abs() < 1e-12);
        }
    }
    let k = mlp.ntk(x.as_ref()).unwrap();
    assert!((&k - k.transpose()).norm_max() < 1e-14);
    let p0 = mlp.predict(x.as_ref()).unwrap();
    let flat = nn::params::flatten(&mlp.params());
    nn::params::unflatten_into(&mut mlp, &flat).unwrap();
    assert_eq!(mlp.predict(x.as_ref()).unwrap(), p0);
}

#[test]
fn two_layer_ntk_backward_and_input_gradients() {
    let mut net = TwoLayerNtk::new(5, 16, 1).unwrap();
    let x = gauss(9, 5, 2);
    let y = gauss(9, 1, 3);
    let (_, grads) = net.loss_and_grad(x.as_ref(), y.as_ref()).unwrap();
    let chk = check_gradients(&mut net, &grads, H, |m| m.loss(x.as_ref(), y.as_ref()).unwrap()).unwrap();
    assert!(chk.max_rel_err < TOL, "{:?}", chk.per_param);
    let g = net.input_gradients(x.as_ref()).unwrap();
    let fd = finite_difference(&x, H, |x| net.predict(x.as_ref()).unwrap().col(0).sum()).unwrap();
    assert!(relative_error(&fd, &g) < TOL);
}

#[test]
fn analytic_ntk_equals_per_sample_backprop() {
    let net = TwoLayerNtk::new(7, 64, 11).unwrap();
    let x = gauss(20, 7, 12);
    // per-sample gradients by backprop with seed e_i, one sample at a time
    let n = x.nrows();
    let p = net.num_params();
    let mut j = Mat::<f64>::zeros(n, p);
    let cache = net.forward(x.as_ref()).unwrap();
    for i in 0..n {
        let e = Mat::from_fn(n, 1, |r, _| if r == i { 1.0 } else { 0.0 });
        let g = net.backward(x.as_ref(), &cache, e.as_ref()).unwrap();
        let flat = nn::params::flatten(&g.iter().collect::<Vec<_>>());
        for (c, v) in flat.into_iter().enumerate() {
            j[(i, c)] = v;
        }
    }
    let k_backprop = nn::analysis::empirical_ntk(j.as_ref());
    let k = net.ntk(x.as_ref()).unwrap();
    let rel = (&k - &k_backprop).norm_max() / k.norm_max();
    assert!(rel < 1e-10, "{rel}");
    let jac = net.jacobian(x.as_ref()).unwrap();
    assert!((&jac - &j).norm_max() < 1e-12);
    let ev = linalg::sym::sym_eigenvalues(k.as_ref()).unwrap();
    assert!(ev[ev.len() - 1] >= -1e-10 * ev[0]);
}

#[test]
fn linearised_gd_grows_by_one_minus_lr_lambda() {
    // For the linearised model the top-eigenvector component of the residual is multiplied by
    // (1 - lr lambda_max) per GD step.
    let net = TwoLayerNtk::new(6, 32, 1).unwrap();
    let x = gauss(12, 6, 2);
    let k = net.ntk(x.as_ref()).unwrap();
    let e = linalg::sym::sym_eigen(k.as_ref()).unwrap();
    let lr = 3.0 / e.values[0];
    let mut r = Mat::from_fn(12, 1, |i, _| e.vectors[(i, 0)] + 0.1 * e.vectors[(i, 3)]);
    let c0 = (0..12).map(|i| r[(i, 0)] * e.vectors[(i, 0)]).sum::<f64>();
    for _ in 0..5 {
        r = &r - &(&k * &r) * lr;
    }
    let c5 = (0..12).map(|i| r[(i, 0)] * e.vectors[(i, 0)]).sum::<f64>();
    let expect = c0 * (1.0 - lr * e.values[0]).powi(5);
    assert!((c5 - expect).abs() < 1e-8 * expect.abs());
}

#[test]
fn gpt_backward_matches_finite_differences() {
    for identity in [false, true] {
        let mut cfg = GptConfig::new(7, 5, 8, 2, 2);
        cfg.d_ff = 12;
        cfg.identity_attention = identity;
        let mut gpt = Gpt::new(cfg, 3).unwrap();
        let tokens = [1, 4, 2, 6, 0, 3, 3, 5];
        let targets = [4, 2, 6, 0, 1, 3, 5, 2];
        let mask = [true, true, true, false, true, true, true, true];
        let (_, grads) = gpt.loss_and_grad(&tokens, &targets, Some(&mask), 4).unwrap();
        let chk = check_gradients(&mut gpt, &grads, H, |g| {
            let (logits, _) = g.forward(&tokens, 4).unwrap();
            nn::loss::softmax_cross_entropy(logits.as_ref(), &targets, Some(&mask)).unwrap().0
        })
        .unwrap();
        assert!(chk.max_rel_err < TOL, "identity {identity}: {:?}", chk.per_param);
    }
}

#[test]
fn gpt_is_causal_and_embedding_path_has_input_gradients() {
    let gpt = Gpt::new(GptConfig::new(9, 6, 8, 2, 2), 1).unwrap();
    let a = [1, 2, 3, 4, 5, 6];
    let b = [1, 2, 3, 8, 0, 7];
    let (la, _) = gpt.forward(&a, 6).unwrap();
    let (lb, _) = gpt.forward(&b, 6).unwrap();
    for i in 0..3 {
        for j in 0..9 {
            assert_eq!(la[(i, j)], lb[(i, j)]);
        }
    }
    let h0 = gauss(6, 8, 2);
    let r = gauss(6, 9, 3);
    let (_, cache) = gpt.forward_embeddings(h0.as_ref(), 3).unwrap();
    let (gh, _) = gpt.backward(&cache, r.as_ref()).unwrap();
    let fd =
        finite_difference(&h0, H, |h| dot(&gpt.forward_embeddings(h.as_ref(), 3).unwrap().0, &r)).unwrap();
    assert!(relative_error(&fd, &gh) < TOL);
}

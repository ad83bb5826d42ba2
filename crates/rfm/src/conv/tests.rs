use super::*;
use proptest::prelude::*;

fn images(n: usize, spec: &PatchSpec, seed: u64) -> Mat<f64> {
    linalg::random::gaussian_mat(n, spec.image_len(), seed)
}

/// Circular translation of every image row by `(dr, ds)`.
fn translate(x: MatRef<'_, f64>, spec: &PatchSpec, dr: usize, ds: usize) -> Mat<f64> {
    let (h, w) = (spec.height, spec.width);
    Mat::from_fn(x.nrows(), x.ncols(), |i, idx| {
        let (c, r, s) = (idx / (h * w), (idx / w) % h, idx % w);
        let (r0, s0) = ((r + h - dr % h) % h, (s + w - ds % w) % w);
        x[(i, c * h * w + r0 * w + s0)]
    })
}

fn random_psd(d: usize, seed: u64) -> Mat<f64> {
    let g = linalg::random::gaussian_mat(d, d, seed);
    &g * g.transpose() * (1.0 / d as f64)
}

#[test]
fn extraction_round_trip_and_multiplicity() {
    for padding in [Padding::Circular, Padding::Zero] {
        let spec = PatchSpec::new(2, 5, 6, 3, padding).unwrap();
        let x = images(3, &spec, 1);
        let p = spec.extract(x.as_ref()).unwrap();
        assert_eq!(p.positions(), 30);
        assert_eq!(p.dim(), 18);
        assert_eq!(spec.reassemble(&p).unwrap(), x);
    }
    // with circular padding every pixel appears in exactly q^2 patches
    let spec = PatchSpec::new(1, 5, 5, 3, Padding::Circular).unwrap();
    let x = Mat::from_fn(1, 25, |_, j| (j + 1) as f64);
    let p = spec.extract(x.as_ref()).unwrap();
    let mut counts = [0; 25];
    for u in 0..p.positions() {
        for k in 0..p.dim() {
            counts[p.position(u)[(0, k)] as usize - 1] += 1;
        }
    }
    assert!(counts.iter().all(|&c| c == 9));
}

#[test]
fn bad_geometry_is_an_error() {
    assert!(PatchSpec::new(1, 4, 4, 5, Padding::Circular).is_err());
    assert!(PatchSpec::new(1, 4, 4, 2, Padding::Circular).is_err());
    assert!(PatchSpec::new(0, 4, 4, 3, Padding::Circular).is_err());
    let spec = PatchSpec::new(1, 4, 4, 3, Padding::Circular).unwrap();
    assert!(spec.extract(Mat::<f64>::zeros(2, 15).as_ref()).is_err());
    let mut x = Mat::<f64>::zeros(2, 16);
    x[(0, 3)] = f64::NAN;
    assert!(spec.extract(x.as_ref()).is_err());
}

#[test]
fn identity_metric_equals_plain_patch_kernel() {
    let spec = PatchSpec::new(1, 4, 4, 3, Padding::Zero).unwrap();
    let (x, z) = (images(3, &spec, 2), images(2, &spec, 3));
    let (px, pz) = (spec.extract(x.as_ref()).unwrap(), spec.extract(z.as_ref()).unwrap());
    let base = KernelSpec::laplace(1.5);
    let k = patch_kernel_matrix(&PatchKernel::aligned(base), Mat::identity(9, 9).as_ref(), &px, &pz).unwrap();
    for i in 0..3 {
        for j in 0..2 {
            let mut want = 0.0;
            for u in 0..16 {
                let d: f64 = (0..9)
                    .map(|a| (px.position(u)[(i, a)] - pz.position(u)[(j, a)]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                want += (-d / 1.5).exp() / 16.0;
            }
            assert!((k[(i, j)] - want).abs() < 1e-12);
        }
    }
}

#[test]
fn aligned_kernel_invariant_under_joint_translation_all_pairs_under_single() {
    let spec = PatchSpec::new(1, 5, 5, 3, Padding::Circular).unwrap();
    let (x, z) = (images(2, &spec, 4), images(3, &spec, 5));
    let m = random_psd(9, 6);
    let px = spec.extract(x.as_ref()).unwrap();
    let pz = spec.extract(z.as_ref()).unwrap();
    let (xt, zt) = (translate(x.as_ref(), &spec, 2, 1), translate(z.as_ref(), &spec, 2, 1));
    let (pxt, pzt) = (spec.extract(xt.as_ref()).unwrap(), spec.extract(zt.as_ref()).unwrap());
    let aligned = PatchKernel::aligned(KernelSpec::gaussian(2.0));
    let k = patch_kernel_matrix(&aligned, m.as_ref(), &px, &pz).unwrap();
    let kt = patch_kernel_matrix(&aligned, m.as_ref(), &pxt, &pzt).unwrap();
    assert!((&k - &kt).norm_max() < 1e-12);
    // translating only x changes the aligned kernel but not the all-pairs one
    let k_one = patch_kernel_matrix(&aligned, m.as_ref(), &pxt, &pz).unwrap();
    assert!((&k - &k_one).norm_max() > 1e-6);
    let all = PatchKernel::all_pairs(KernelSpec::gaussian(2.0));
    let ka = patch_kernel_matrix(&all, m.as_ref(), &px, &pz).unwrap();
    let ka_one = patch_kernel_matrix(&all, m.as_ref(), &pxt, &pz).unwrap();
    assert!((&ka - &ka_one).norm_max() < 1e-12);
}

#[test]
fn agop_of_predictor_linear_in_one_patch_is_w_wt() {
    let (npos, dim, n) = (9, 4, 5);
    let w = [0.5, -1.0, 2.0, 0.25];
    // f(x) = w . x_{u0}: the gradient is w at u0 and zero elsewhere, for every image
    let grads: Vec<Mat<f64>> =
        (0..n).map(|_| Mat::from_fn(npos, dim, |u, k| if u == 3 { w[k] } else { 0.0 })).collect();
    let agop = patch_agop_from_gradients(&grads, n).unwrap();
    for a in 0..dim {
        for b in 0..dim {
            assert!((agop[(a, b)] - w[a] * w[b]).abs() < 1e-15);
        }
    }
}

#[test]
fn patch_gradients_match_finite_differences() {
    // radial (Laplace, Gaussian), general (the ReLU NTK: both dk/dnx and dk/dip) and dot-product
    // (quadratic) derivative structures
    for base in [
        KernelSpec::laplace(1.3),
        KernelSpec::gaussian(1.7),
        KernelSpec::NtkRelu(kernels::NtkRelu),
        KernelSpec::quadratic(),
    ] {
        let spec = PatchSpec::new(1, 4, 4, 3, Padding::Circular).unwrap();
        let train = spec.extract(images(4, &spec, 7).as_ref()).unwrap();
        let eval = spec.extract(images(2, &spec, 8).as_ref()).unwrap();
        let alpha = linalg::random::gaussian_mat(4, 2, 9);
        let m = random_psd(9, 10);
        let kernel = PatchKernel::aligned(base);
        let grads = patch_gradients(&kernel, m.as_ref(), &train, alpha.as_ref(), &eval).unwrap();
        let f = |set: &PatchSet| &patch_kernel_matrix(&kernel, m.as_ref(), set, &train).unwrap() * &alpha;
        let h = 1e-6;
        for (u, k) in [(0, 0), (5, 4), (15, 8)] {
            let mut plus = eval.clone();
            plus.patches[u][(1, k)] += h;
            let mut minus = eval.clone();
            minus.patches[u][(1, k)] -= h;
            let (fp, fm) = (f(&plus), f(&minus));
            for o in 0..2 {
                let fd = (fp[(1, o)] - fm[(1, o)]) / (2.0 * h);
                let an = grads[2 + o][(u, k)];
                assert!((fd - an).abs() < 1e-7 * (1.0 + an.abs()), "{base:?} u={u} k={k}: fd {fd} vs {an}");
            }
        }
        // the AGOP from the materialised gradients equals the streamed one
        let direct = patch_agop(&kernel, m.as_ref(), &train, alpha.as_ref(), &eval).unwrap();
        let from = patch_agop_from_gradients(&grads, 2).unwrap();
        assert!((&direct - &from).norm_max() < 1e-12 * (1.0 + from.norm_max()));
    }
}

#[test]
fn patch_agop_is_invariant_to_translating_the_dataset() {
    let spec = PatchSpec::new(1, 5, 5, 3, Padding::Circular).unwrap();
    let x = images(6, &spec, 11);
    let xt = translate(x.as_ref(), &spec, 1, 3);
    let alpha = linalg::random::gaussian_mat(6, 2, 12);
    let m = random_psd(9, 13);
    let kernel = PatchKernel::aligned(KernelSpec::laplace(2.0));
    let p = spec.extract(x.as_ref()).unwrap();
    let pt = spec.extract(xt.as_ref()).unwrap();
    let a = patch_agop(&kernel, m.as_ref(), &p, alpha.as_ref(), &p).unwrap();
    let b = patch_agop(&kernel, m.as_ref(), &pt, alpha.as_ref(), &pt).unwrap();
    assert!((&a - &b).norm_max() < 1e-12 * (1.0 + a.norm_max()));
}

#[test]
fn filter_dc_ratio_values() {
    assert_eq!(filter_dc_ratio(&[1.0, 1.0, 1.0]), 1.0);
    assert_eq!(filter_dc_ratio(&[1.0, 0.0, -1.0]), 0.0);
    assert_eq!(filter_dc_ratio(&[0.0; 4]), 0.0);
}

#[test]
fn filter_edge_score_values() {
    // Sobel filters (both orientations) are close to a derivative of a Gaussian
    let sobel_x = [-1.0, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0];
    let sobel_y = [-1.0, -2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 1.0];
    for f in [sobel_x, sobel_y] {
        let s = filter_edge_score(&f).unwrap();
        assert!(s > 0.95, "{s}");
    }
    // blur, centre-surround and constant filters are symmetric under a half turn: score 0
    let blur = [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0];
    let centre_surround = [-1.0, -1.0, -1.0, -1.0, 8.0, -1.0, -1.0, -1.0, -1.0];
    for f in [blur, centre_surround, [1.0; 9], [0.0; 9]] {
        assert!(filter_edge_score(&f).unwrap() < 1e-12);
    }
    // a random 5 x 5 filter is far from an edge detector
    let r = linalg::random::gaussian_mat(1, 25, 3);
    let f: Vec<f64> = (0..25).map(|k| r[(0, k)]).collect();
    assert!(filter_edge_score(&f).unwrap() < 0.8);
    assert!(filter_edge_score(&[1.0; 4]).is_err());
    assert!(filter_edge_score(&[f64::NAN; 9]).is_err());
}

#[test]
fn conv_rfm_runs_and_is_deterministic() {
    let spec = PatchSpec::new(1, 6, 6, 3, Padding::Circular).unwrap();
    let x = images(20, &spec, 14);
    let labels: Vec<usize> = (0..20).map(|i| usize::from(x[(i, 14)] > 0.0)).collect();
    let data = Dataset::classification("toy", x, labels, 2).unwrap();
    let mut params = ConvRfmParams::new(spec);
    params.iters = 2;
    params.agop_samples = Some(10);
    let mut metrics = Vec::new();
    let a = params
        .fit_with(&data, &mut |s| {
            let direct = s.model.predict(data.x.as_ref()).unwrap();
            assert!((&direct - s.train_predictions).norm_max() < 1e-10);
            metrics.push(s.model.metric.clone());
            Control::Continue
        })
        .unwrap();
    let b = params.fit_with(&data, &mut |_| Control::Continue).unwrap();
    assert_eq!(metrics.len(), 3);
    assert_eq!(a.metric, b.metric);
    assert!((a.metric.norm_l2() - 1.0).abs() < 1e-12);
    let ev = linalg::sym::sym_eigenvalues(a.metric.as_ref()).unwrap();
    assert!(ev.iter().all(|&e| e > -1e-12));
    let pred = a.predict(data.x.as_ref()).unwrap();
    assert_eq!((pred.nrows(), pred.ncols()), (20, 2));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn patch_agop_is_symmetric_psd(seed in 0u64..500) {
        let spec = PatchSpec::new(1, 4, 4, 3, Padding::Zero).unwrap();
        let p = spec.extract(images(5, &spec, seed).as_ref()).unwrap();
        let alpha = linalg::random::gaussian_mat(5, 3, seed + 1);
        let m = random_psd(9, seed + 2);
        let a = patch_agop(&PatchKernel::aligned(KernelSpec::laplace(1.0)), m.as_ref(), &p, alpha.as_ref(), &p)
            .unwrap();
        prop_assert!((&a - a.transpose()).norm_max() <= 1e-14 * (1.0 + a.norm_max()));
        let ev = linalg::sym::sym_eigenvalues(a.as_ref()).unwrap();
        prop_assert!(ev.iter().all(|&e| e >= -1e-10 * (1.0 + a.norm_max())));
    }
}

//! The grokking paper's Theorem 5.1 (spec 02 §2.4, §2.8): with all `p^2` pairs of modular
//! subtraction, one quadratic-kernel predictor per class `l` with the (indefinite) metric
//! `M_l = [[0, C^l], [(C^l)^T, 0]]` (`C` the cyclic shift), solved ridgeless, implements the Fourier
//! Multiplication Algorithm.
//!
//! Conventions (derived and checked here):
//! * `C e_j = e_{(j+1) mod p}` ([`tests::cyclic_shift`]), so `e_a^T C^l e_b = 1` iff `a - b = l`:
//!   the bilinear predictor of class `l` is `g_l(x) = x_[1]^T C^l x_[2]`. The spec's `C^{-l}` is the
//!   same statement for the opposite shift `C' = C^{-1}` (then `M_l` is built from `C'^l`).
//! * DFT `F_jk = w^{jk} / sqrt(p)`, `w = e^{-2 pi i / p}`, 0-based indices, `<u, v> = sum u_k conj(v_k)`:
//!   `g_l(x) = sqrt(p) <F x_[1] ⊙ F e_{(p - l) mod p}, F x_[2]>`. The spec's `e_{p-l-1}` with 0-based
//!   indices gives `g_{l+1}` (an index-origin offset: it is `e_{p-l}` with 1-based classes).
//!
//! Finding: the ridgeless predictor is **not** exactly `g_l` on real inputs. The kernel
//! `(x^T M_l z)^2` also produces the squares `x_[1],u^2` and `x_[2],v^2`, and the unique interpolant is
//! `f_l(x) = g_l(x) + q(x)` with the class-independent term
//! `q(x) = (||x_[1]||^2 + ||x_[2]||^2) / (2 (p + 1)) - (1^T x_[1]) (1^T x_[2]) / (p + 1)`
//! (coefficients `alpha_(c,d) = [c - d = l] / 2 - 1 / (2 (p + 1))`). `q` vanishes on one-hot
//! inputs and does not depend on `l`, so the argmax classifier is exactly the FMA.
#![allow(clippy::needless_range_loop)]

use datasets::synthetic::{ModOp, all_pairs, encode_pairs};
use faer::{Mat, MatRef};
use kernels::{KernelRidgeParams, KernelSpec, Metric, kernel_matrix};
use linalg::solve::{Precision, solve_sym_ridge};
use tests::{cyclic_shift, mat_pow, rel_diff};

const P: usize = 7;

/// `M_l = [[0, C^l], [(C^l)^T, 0]]`.
fn m_l(l: usize) -> Mat<f64> {
    let cl = mat_pow(&cyclic_shift(P), l % P);
    Mat::from_fn(2 * P, 2 * P, |i, j| match (i < P, j < P) {
        (true, false) => cl[(i, j - P)],
        (false, true) => cl[(j, i - P)],
        _ => 0.0,
    })
}

/// `x_[1]^T Q x_[2]` for every row of `x`.
fn bilinear(x: MatRef<'_, f64>, q: &Mat<f64>) -> Vec<f64> {
    (0..x.nrows())
        .map(|s| {
            let mut v = 0.0;
            for i in 0..P {
                for j in 0..P {
                    v += x[(s, i)] * q[(i, j)] * x[(s, P + j)];
                }
            }
            v
        })
        .collect()
}

/// The class-independent part `q(x)` of the interpolant (see the module docs).
fn extra_term(x: MatRef<'_, f64>) -> Vec<f64> {
    let pf = P as f64;
    (0..x.nrows())
        .map(|s| {
            let (mut n1, mut n2, mut s1, mut s2) = (0.0, 0.0, 0.0, 0.0);
            for i in 0..P {
                let (a, b) = (x[(s, i)], x[(s, P + i)]);
                n1 += a * a;
                n2 += b * b;
                s1 += a;
                s2 += b;
            }
            (n1 + n2) / (2.0 * (pf + 1.0)) - s1 * s2 / (pf + 1.0)
        })
        .collect()
}

/// Unitary DFT of a real vector: `(F x)_k = sum_j x_j w^{jk} / sqrt(p)`, as (re, im) pairs.
fn dft(x: &[f64]) -> Vec<(f64, f64)> {
    let p = x.len();
    let s = (p as f64).sqrt();
    (0..p)
        .map(|k| {
            let (mut re, mut im) = (0.0, 0.0);
            for (j, &v) in x.iter().enumerate() {
                let t = -2.0 * std::f64::consts::PI * ((j * k) % p) as f64 / p as f64;
                re += v * t.cos();
                im += v * t.sin();
            }
            (re / s, im / s)
        })
        .collect()
}

/// `sqrt(p) <F x1 ⊙ F e_m, F x2>` with `<u, v> = sum u_k conj(v_k)`: (re, im).
fn fma(x1: &[f64], x2: &[f64], m: usize) -> (f64, f64) {
    let e: Vec<f64> = (0..P).map(|i| if i == m { 1.0 } else { 0.0 }).collect();
    let (f1, f2, fe) = (dft(x1), dft(x2), dft(&e));
    let (mut re, mut im) = (0.0, 0.0);
    for k in 0..P {
        // (a * b) * conj(c)
        let (ar, ai) = f1[k];
        let (br, bi) = fe[k];
        let (cr, ci) = (f2[k].0, -f2[k].1);
        let (pr, pi) = (ar * br - ai * bi, ar * bi + ai * br);
        re += pr * cr - pi * ci;
        im += pr * ci + pi * cr;
    }
    let s = (P as f64).sqrt();
    (re * s, im * s)
}

fn col(v: &[f64]) -> Mat<f64> {
    Mat::from_fn(v.len(), 1, |i, _| v[i])
}

#[test]
fn fma_theorem_for_modular_subtraction() {
    let pairs = all_pairs(P, ModOp::Sub);
    assert_eq!(pairs.len(), P * P);
    let x = encode_pairs(&pairs, P).unwrap();
    let labels: Vec<usize> = pairs.iter().map(|&(a, b)| ModOp::Sub.apply(a, b, P).unwrap()).collect();
    let z = linalg::random::gaussian_mat(40, 2 * P, 2024);
    let c = cyclic_shift(P);
    let q_z = extra_term(z.as_ref());
    let mut scores_data = Mat::<f64>::zeros(P * P, P);
    let mut scores_real = Mat::<f64>::zeros(z.nrows(), P);
    let mut g_real = Mat::<f64>::zeros(z.nrows(), P);
    let pf = P as f64;
    let allowed = [2.0, pf + 2.0, 2.0 * pf + 2.0];
    for l in 0..P {
        let m = m_l(l);
        // M_l is symmetric and indefinite (eigenvalues +-1), with a zero diagonal: Metric::validate
        // accepts it (it checks symmetry and the sign of the diagonal only).
        let ev = linalg::sym::sym_eigenvalues(m.as_ref()).unwrap();
        assert!((ev[0] - 1.0).abs() < 1e-12 && (ev[2 * P - 1] + 1.0).abs() < 1e-12);
        let metric = Metric::Mahalanobis(m.clone());
        metric.validate(2 * P).expect("the Metric API accepts this indefinite M");
        let y = Mat::from_fn(P * P, 1, |i, _| if labels[i] == l { 1.0 } else { 0.0 });

        // ridgeless fit through the public API ...
        let params =
            KernelRidgeParams::new(KernelSpec::quadratic()).with_metric(metric.clone()).with_ridge(0.0);
        let model = params.fit(x.as_ref(), y.as_ref()).unwrap();
        // ... against a hand-built kernel matrix (x^T M_l z)^2 and a direct solve
        let k = Mat::from_fn(P * P, P * P, |i, j| {
            let mut ip = 0.0;
            for a in 0..2 * P {
                for b in 0..2 * P {
                    ip += x[(i, a)] * m[(a, b)] * x[(j, b)];
                }
            }
            ip * ip
        });
        let k_lib = kernel_matrix(&KernelSpec::quadratic(), &metric, x.as_ref(), x.as_ref()).unwrap();
        assert!((&k - &k_lib).norm_max() < 1e-12);
        // |eigenvalues| of K are 2, p + 2 and 2p + 2: K is invertible, the interpolant unique
        for e in linalg::sym::sym_eigenvalues(k.as_ref()).unwrap() {
            assert!(allowed.iter().any(|a| (e.abs() - a).abs() < 1e-9), "eigenvalue {e}");
        }
        let (alpha, _) = solve_sym_ridge(k.clone(), y.as_ref(), 0.0, Precision::F64, "fma").unwrap();
        assert!(rel_diff(model.alpha.as_ref(), alpha.as_ref()) < 1e-10);
        assert!(rel_diff((&k * &alpha).as_ref(), y.as_ref()) < 1e-12);
        // the closed-form coefficients alpha_(c,d) = [c - d = l] / 2 - 1 / (2 (p + 1))
        for (i, &(a, b)) in pairs.iter().enumerate() {
            let want = if ModOp::Sub.apply(a, b, P) == Some(l) { 0.5 } else { 0.0 } - 0.5 / (pf + 1.0);
            assert!((alpha[(i, 0)] - want).abs() < 1e-10, "alpha({a},{b}) = {}", alpha[(i, 0)]);
        }

        // on all p^2 one-hot pairs the predictor is the indicator of class l
        let f_data = model.predict(x.as_ref()).unwrap();
        for i in 0..P * P {
            scores_data[(i, l)] = f_data[(i, 0)];
            assert!((f_data[(i, 0)] - y[(i, 0)]).abs() < 1e-10);
        }

        // on random real inputs: f_l = x1^T C^l x2 + q(x); C^{-l} does not match (l != 0)
        let f = model.predict(z.as_ref()).unwrap();
        let g_plus = bilinear(z.as_ref(), &mat_pow(&c, l));
        let g_minus = bilinear(z.as_ref(), &mat_pow(&c, (P - l) % P));
        let f_minus_q: Vec<f64> = (0..z.nrows()).map(|s| f[(s, 0)] - q_z[s]).collect();
        let err_plus = rel_diff(col(&f_minus_q).as_ref(), col(&g_plus).as_ref());
        let err_minus = rel_diff(col(&f_minus_q).as_ref(), col(&g_minus).as_ref());
        assert!(err_plus < 1e-10, "l = {l}: f - q vs x1^T C^l x2: {err_plus:e}");
        if l != 0 {
            assert!(err_minus > 0.1, "l = {l}: C^-l should not match ({err_minus})");
        }
        // the class-independent term is really there on real inputs
        assert!(rel_diff(f.as_ref(), col(&g_plus).as_ref()) > 0.05);
        for s in 0..z.nrows() {
            scores_real[(s, l)] = f[(s, 0)];
            g_real[(s, l)] = g_plus[s];
        }

        // the Fourier Multiplication Algorithm computes g_l
        for s in 0..z.nrows() {
            let x1: Vec<f64> = (0..P).map(|i| z[(s, i)]).collect();
            let x2: Vec<f64> = (0..P).map(|i| z[(s, P + i)]).collect();
            let (re, im) = fma(&x1, &x2, (P - l) % P);
            assert!(
                (re - g_plus[s]).abs() < 1e-10 * (1.0 + g_plus[s].abs()),
                "l = {l}: {re} vs {}",
                g_plus[s]
            );
            assert!(im.abs() < 1e-10);
            // the spec's literal index p - l - 1 (0-based) gives the predictor of class l + 1
            let (re_spec, _) = fma(&x1, &x2, P - l - 1);
            let g_next = bilinear(z.as_ref().subrows(s, 1), &mat_pow(&c, (l + 1) % P))[0];
            assert!((re_spec - g_next).abs() < 1e-10 * (1.0 + g_next.abs()));
        }
    }
    // 100 % accuracy on all p^2 pairs: argmax_l f_l = (a - b) mod p
    assert_eq!(datasets::argmax_rows(scores_data.as_ref()), labels);
    assert_eq!(datasets::accuracy(scores_data.as_ref(), &labels).unwrap(), 1.0);
    // the extra term is the same for every class: f_l - f_0 = g_l - g_0, same argmax as the FMA
    for s in 0..z.nrows() {
        for l in 1..P {
            let lhs = scores_real[(s, l)] - scores_real[(s, 0)];
            let rhs = g_real[(s, l)] - g_real[(s, 0)];
            assert!((lhs - rhs).abs() < 1e-10 * (1.0 + rhs.abs()));
        }
    }
    assert_eq!(datasets::argmax_rows(scores_real.as_ref()), datasets::argmax_rows(g_real.as_ref()));
}

//! Property tests of the duality maps, Bregman divergences and the norm bounds behind the safe step.
use proptest::prelude::*;
use rkbs::duality::{conjugate, duality_map, norm_p};
use rkbs::{MirrorKind, MirrorMap};

/// Vectors of length 1..20 whose entries are often exactly zero, with magnitudes over 6 decades.
fn vector() -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(
        prop_oneof![
            2 => Just(0.0),
            5 => (-1.0f64..1.0, -3i32..3).prop_map(|(m, e)| m * 10f64.powi(e)),
        ],
        1..20,
    )
}

fn exponent() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.1), Just(1.5), Just(2.0), Just(3.0), Just(4.0), 1.1f64..5.0]
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn duality_map_identities(a in vector(), p in exponent()) {
        let q = conjugate(p);
        let b = duality_map(&a, p).unwrap();
        let back = duality_map(&b, q).unwrap();
        let m = max_abs(&a);
        for (x, y) in a.iter().zip(&back) {
            prop_assert!((x - y).abs() <= 1e-12 * m, "J_q(J_p(a)) != a: {x} vs {y} (p = {p})");
        }
        let np = norm_p(&a, p);
        prop_assert!((dot(&a, &b) - np * np).abs() <= 1e-12 * np * np, "<a, J_p a> != ||a||_p^2");
        prop_assert!((norm_p(&b, q) - np).abs() <= 1e-12 * np, "||J_p a||_q != ||a||_p");
        // zeros stay zeros, signs are kept
        for (x, y) in a.iter().zip(&b) {
            let ok = if *x == 0.0 { *y == 0.0 } else { x.signum() == y.signum() };
            prop_assert!(ok, "sign or zero pattern changed: {x} -> {y}");
        }
    }

    #[test]
    fn dual_side_inverse(b in vector(), p in exponent()) {
        for kind in [MirrorKind::HalfNormSquared, MirrorKind::Power] {
            let psi = MirrorMap::new(p, kind).unwrap();
            let a = psi.to_primal(&b).unwrap();
            let back = psi.to_dual(&a).unwrap();
            let m = max_abs(&b);
            for (x, y) in b.iter().zip(&back) {
                prop_assert!((x - y).abs() <= 1e-12 * m, "{kind:?}: {x} vs {y} (p = {p})");
            }
            // Fenchel-Young equality: psi(a) + psi*(b) = <a, b> at b = grad psi(a)
            let fy = psi.value(&a) + psi.dual_value(&b) - dot(&a, &b);
            prop_assert!(fy.abs() <= 1e-10 * (psi.value(&a) + psi.dual_value(&b)).max(1e-300));
        }
    }

    #[test]
    fn bregman_is_nonnegative_and_zero_only_on_the_diagonal(u in vector(), seed in any::<u64>(), p in exponent()) {
        let v: Vec<f64> = u.iter().enumerate().map(|(i, x)| x + ((seed >> (i % 60)) & 3) as f64 - 1.5).collect();
        for kind in [MirrorKind::HalfNormSquared, MirrorKind::Power] {
            let psi = MirrorMap::new(p, kind).unwrap();
            let d = psi.bregman(&u, &v).unwrap();
            prop_assert!(d >= 0.0);
            prop_assert!(d > 0.0, "D(u, v) = 0 for u != v ({kind:?}, p = {p})");
            let scale = psi.value(&u).max(1e-300);
            prop_assert!(psi.bregman(&u, &u).unwrap() <= 1e-12 * scale);
        }
    }

    /// The lemma behind the safe step: 1/2 ||.||_p^2 is (p - 1)-strongly convex w.r.t. ||.||_p for p <= 2.
    #[test]
    fn half_norm_squared_is_strongly_convex(u in vector(), seed in any::<u64>(), p in 1.05f64..2.0) {
        let v: Vec<f64> = u.iter().enumerate().map(|(i, x)| x * 0.3 + ((seed >> (i % 60)) & 7) as f64 - 3.5).collect();
        let psi = MirrorMap::new(p, MirrorKind::HalfNormSquared).unwrap();
        let diff: Vec<f64> = u.iter().zip(&v).map(|(a, b)| a - b).collect();
        let lower = (p - 1.0) / 2.0 * norm_p(&diff, p).powi(2);
        let d = psi.bregman(&u, &v).unwrap();
        prop_assert!(d >= lower * (1.0 - 1e-9) - 1e-12, "D = {d} < (p-1)/2 ||u-v||^2 = {lower}");
    }
}

#[test]
fn p_two_half_norm_map_is_the_identity() {
    let a = [1.5, -0.25, 0.0, 3.0];
    assert_eq!(duality_map(&a, 2.0).unwrap(), a.to_vec());
    let psi = MirrorMap::new(2.0, MirrorKind::HalfNormSquared).unwrap();
    assert_eq!(psi.to_primal(&a).unwrap(), a.to_vec());
}

#[test]
fn extreme_exponents_do_not_overflow() {
    // q = 101 for p = 1.01: powers of |b_j| / max |b| stay in range
    let a = [1e150, -3e149, 0.0, 1e-150];
    for p in [1.01, 50.0] {
        let b = duality_map(&a, p).unwrap();
        assert!(b.iter().all(|v| v.is_finite()));
        let back = duality_map(&b, conjugate(p)).unwrap();
        assert!((back[0] - a[0]).abs() <= 1e-10 * a[0]);
        assert!((back[1] - a[1]).abs() <= 1e-10 * a[0]);
    }
    assert_eq!(duality_map(&[0.0, 0.0], 3.0).unwrap(), vec![0.0, 0.0]);
}

#[test]
fn bad_exponents_and_inputs_are_errors() {
    for p in [1.0, 0.5, -2.0, f64::INFINITY, f64::NAN] {
        let e = MirrorMap::new(p, MirrorKind::HalfNormSquared).unwrap_err().to_string();
        assert!(e.contains("invalid p"), "{e}");
        assert!(duality_map(&[1.0], p).is_err());
    }
    assert!(MirrorMap::new(1.0, MirrorKind::Power).unwrap_err().to_string().contains("> 1"));
    assert!(MirrorMap::new(f64::INFINITY, MirrorKind::Power).unwrap_err().to_string().contains("finite"));
    assert!(MirrorMap::new(f64::NAN, MirrorKind::Power).unwrap_err().to_string().contains("NaN"));
    let psi = MirrorMap::new(1.5, MirrorKind::HalfNormSquared).unwrap();
    assert!(psi.to_dual(&[1.0, f64::NAN]).is_err());
    assert!(psi.bregman(&[1.0], &[1.0, 2.0]).is_err());
    assert!(psi.to_dual_into(&[1.0, 2.0], &mut [0.0]).is_err());
    assert!(duality_map(&[f64::INFINITY], 1.5).is_err());
}

//! Progress measures of the grokking paper (spec 02 §2.3, §2.8): circulant deviation of exact
//! circulant / Hankel blocks, its range and scale invariance; discrete-log reordering; the modular
//! deviation of a `2p x 2p` feature matrix; AGOP alignment.
#![allow(clippy::needless_range_loop)]

use datasets::synthetic::{discrete_log_table, mod_inverse, smallest_generator};
use faer::Mat;
use linalg::random::gaussian_mat;
use proptest::prelude::*;
use rfm::measures::{
    ShiftDirection, agop_alignment, circulant_deviation, circulant_deviation_dir, cross_block,
    modular_circulant_deviation, reorder_discrete_log,
};

const PRIMES: [usize; 8] = [3, 5, 7, 11, 13, 17, 19, 23];

/// `A[i][j] = c[(j - i) mod p]`.
fn circulant(c: &[f64]) -> Mat<f64> {
    let p = c.len();
    Mat::from_fn(p, p, |i, j| c[(j + p - i) % p])
}

/// `A[i][j] = h[(i + j) mod p]`.
fn hankel(h: &[f64]) -> Mat<f64> {
    let p = h.len();
    Mat::from_fn(p, p, |i, j| h[(i + j) % p])
}

fn vec_from(seed: u64, p: usize) -> Vec<f64> {
    let g = gaussian_mat(p, 1, seed);
    (0..p).map(|i| g[(i, 0)]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// D = 0 on exact circulant blocks (circulant direction) and exact Hankel blocks (Hankel
    /// direction); D > 0 for a generic block and in the wrong direction; 0 <= D <= 1; D is invariant
    /// to scaling (also by a negative factor); the undirected deviation is the minimum of both.
    #[test]
    fn circulant_deviation_properties(seed in any::<u64>(), p in 3usize..=15, s in -1e3f64..1e3) {
        prop_assume!(s.abs() > 1e-3);
        let c = vec_from(seed, p);
        let a = circulant(&c);
        let h = hankel(&c);
        let dc = circulant_deviation_dir(a.as_ref(), ShiftDirection::Circulant).unwrap();
        let dh = circulant_deviation_dir(h.as_ref(), ShiftDirection::Hankel).unwrap();
        prop_assert!(dc < 1e-14 && dh < 1e-14, "{} {}", dc, dh);
        prop_assert!(circulant_deviation(a.as_ref()).unwrap() < 1e-14);
        prop_assert!(circulant_deviation(h.as_ref()).unwrap() < 1e-14);
        // the wrong direction sees structure it cannot align (generic c)
        prop_assert!(circulant_deviation_dir(a.as_ref(), ShiftDirection::Hankel).unwrap() > 1e-6);
        prop_assert!(circulant_deviation_dir(h.as_ref(), ShiftDirection::Circulant).unwrap() > 1e-6);
        // generic block
        let r = gaussian_mat(p, p, seed.wrapping_add(1));
        let d_both = circulant_deviation(r.as_ref()).unwrap();
        let d_c = circulant_deviation_dir(r.as_ref(), ShiftDirection::Circulant).unwrap();
        let d_h = circulant_deviation_dir(r.as_ref(), ShiftDirection::Hankel).unwrap();
        prop_assert!(d_both > 1e-3);
        prop_assert_eq!(d_both, d_c.min(d_h));
        for d in [d_c, d_h, dc, dh] {
            prop_assert!((0.0..=1.0 + 1e-15).contains(&d));
        }
        // scaling
        for m in [&r, &a, &h] {
            for dir in [ShiftDirection::Circulant, ShiftDirection::Hankel] {
                let d0 = circulant_deviation_dir(m.as_ref(), dir).unwrap();
                let d1 = circulant_deviation_dir((m * s).as_ref(), dir).unwrap();
                prop_assert!((d0 - d1).abs() <= 1e-12 * d0.max(1e-12), "{} vs {}", d0, d1);
            }
        }
        // a circulant block plus a small perturbation has a small but non-zero deviation
        let mut pert = a.clone();
        pert[(0, 1)] += 1e-3;
        let dp = circulant_deviation_dir(pert.as_ref(), ShiftDirection::Circulant).unwrap();
        prop_assert!(dp > 0.0 && dp < 1e-3 / a.squared_norm_l2().max(1e-300) + 1e-12);
    }

    /// Reordering by the discrete log: `B[log a][log b] = A[a][b]` for `a, b != 0`; a block whose
    /// entries depend on `a b^{-1}` (zero row/column 0) becomes circulant, one depending on `a b`
    /// becomes Hankel, and neither is (in general) before reordering.
    #[test]
    fn discrete_log_reordering(seed in any::<u64>(), pi in 1usize..PRIMES.len()) {
        let p = PRIMES[pi];
        let g = smallest_generator(p).unwrap();
        let a = gaussian_mat(p, p, seed);
        let b = reorder_discrete_log(a.as_ref(), g).unwrap();
        prop_assert_eq!((b.nrows(), b.ncols()), (p - 1, p - 1));
        let log = discrete_log_table(p, g);
        for x in 1..p {
            for y in 1..p {
                prop_assert_eq!(b[(log[x], log[y])], a[(x, y)]);
            }
        }
        let f = vec_from(seed.wrapping_add(3), p);
        let mult = Mat::from_fn(p, p, |x, y| {
            if x == 0 || y == 0 { 0.0 } else { f[x * mod_inverse(y, p).unwrap() % p] }
        });
        let r = reorder_discrete_log(mult.as_ref(), g).unwrap();
        prop_assert!(circulant_deviation_dir(r.as_ref(), ShiftDirection::Circulant).unwrap() < 1e-14);
        let prod = Mat::from_fn(p, p, |x, y| if x == 0 || y == 0 { 0.0 } else { f[x * y % p] });
        let r = reorder_discrete_log(prod.as_ref(), g).unwrap();
        prop_assert!(circulant_deviation_dir(r.as_ref(), ShiftDirection::Hankel).unwrap() < 1e-14);
        if p >= 5 {
            prop_assert!(circulant_deviation(mult.as_ref()).unwrap() > 1e-3);
        }
        // any generator works (the paper's lemma)
        for g2 in 2..p {
            if let Ok(r) = reorder_discrete_log(mult.as_ref(), g2) {
                prop_assert!(circulant_deviation(r.as_ref()).unwrap() < 1e-14, "generator {}", g2);
            }
        }
    }
}

/// The spec's example: p = 5, generator 2: the (2, 3) entry moves to (1, 3) (log_2 2 = 1,
/// log_2 3 = 3); non-generators and bad shapes are errors.
#[test]
fn reorder_example_and_errors() {
    let p = 5;
    let a = Mat::from_fn(p, p, |i, j| (10 * i + j) as f64);
    let b = reorder_discrete_log(a.as_ref(), 2).unwrap();
    assert_eq!(b[(1, 3)], a[(2, 3)]);
    assert_eq!(b[(0, 0)], a[(1, 1)]);
    assert_eq!(b[(2, 1)], a[(4, 2)]); // 2^2 = 4, 2^1 = 2
    assert!(reorder_discrete_log(a.as_ref(), 4).is_err(), "4 has order 2 mod 5");
    assert!(reorder_discrete_log(a.as_ref(), 0).is_err());
    assert!(reorder_discrete_log(a.as_ref(), 5).is_err());
    assert!(reorder_discrete_log(Mat::<f64>::zeros(5, 4).as_ref(), 2).is_err());
    assert!(circulant_deviation(Mat::<f64>::zeros(3, 4).as_ref()).is_err());
    let mut nan = Mat::<f64>::identity(3, 3);
    nan[(1, 2)] = f64::NAN;
    assert!(circulant_deviation(nan.as_ref()).is_err());
    assert_eq!(circulant_deviation(Mat::<f64>::zeros(4, 4).as_ref()).unwrap(), 0.0);
}

/// `modular_circulant_deviation` reads the bottom-left block (rows = second operand): 0 for
/// `[[A, C^T], [C, A]]` with `C` circulant whatever `A` is; for multiplication only after the
/// discrete-log reordering; wrong shapes are errors.
#[test]
fn modular_deviation_of_feature_matrices() {
    for p in [5usize, 7, 11, 13] {
        let c = circulant(&vec_from(p as u64, p));
        let noise = gaussian_mat(p, p, 99);
        let a = &noise * noise.transpose();
        let m = Mat::from_fn(2 * p, 2 * p, |i, j| match (i < p, j < p) {
            (true, true) => a[(i, j)],
            (true, false) => c[(j - p, i)],
            (false, true) => c[(i - p, j)],
            (false, false) => a[(i - p, j - p)],
        });
        assert_eq!(cross_block(m.as_ref(), p).unwrap(), c);
        assert!(modular_circulant_deviation(m.as_ref(), p, false).unwrap() < 1e-14);
        // a Hankel cross block (subtraction) also counts as circulant structure
        let h = hankel(&vec_from(p as u64 + 1, p));
        let mh = Mat::from_fn(2 * p, 2 * p, |i, j| if i >= p && j < p { h[(i - p, j)] } else { 0.5 });
        assert!(modular_circulant_deviation(mh.as_ref(), p, false).unwrap() < 1e-14);
        // a generic cross block
        let mut mr = m.clone();
        mr[(p + 1, 2)] += 5.0;
        assert!(modular_circulant_deviation(mr.as_ref(), p, false).unwrap() > 1e-3);
        // multiplicative structure: invisible without reordering, exact with it
        let f = vec_from(p as u64 + 2, p);
        let mm = Mat::from_fn(2 * p, 2 * p, |i, j| {
            if i >= p && j < p && i > p && j > 0 { f[(i - p) * mod_inverse(j, p).unwrap() % p] } else { 0.0 }
        });
        assert!(modular_circulant_deviation(mm.as_ref(), p, true).unwrap() < 1e-14);
        assert!(modular_circulant_deviation(mm.as_ref(), p, false).unwrap() > 1e-3);
        assert!(modular_circulant_deviation(Mat::<f64>::zeros(2 * p + 1, 2 * p).as_ref(), p, false).is_err());
    }
}

/// AGOP alignment is the uncentred cosine: 1 for positive multiples, symmetric, in [-1, 1].
#[test]
fn agop_alignment_is_cosine() {
    let a = gaussian_mat(6, 6, 1);
    let b = gaussian_mat(6, 6, 2);
    assert!((agop_alignment(a.as_ref(), (&a * 3.5).as_ref()).unwrap() - 1.0).abs() < 1e-14);
    assert!((agop_alignment(a.as_ref(), (&a * -1.0).as_ref()).unwrap() + 1.0).abs() < 1e-14);
    let ab = agop_alignment(a.as_ref(), b.as_ref()).unwrap();
    assert!((ab - agop_alignment(b.as_ref(), a.as_ref()).unwrap()).abs() < 1e-15);
    assert!(ab.abs() <= 1.0);
    let dot: f64 = (0..6).flat_map(|i| (0..6).map(move |j| (i, j))).map(|(i, j)| a[(i, j)] * b[(i, j)]).sum();
    assert!((ab - dot / (a.norm_l2() * b.norm_l2())).abs() < 1e-14);
    assert!(agop_alignment(a.as_ref(), gaussian_mat(5, 6, 3).as_ref()).is_err());
}

//! Invariants of the modular-arithmetic task (grokking paper §2.8) and its number theory.
use std::collections::HashSet;

use datasets::synthetic::{
    ModOp, ModularData, ModularParams, all_pairs, discrete_log_table, encode_pairs, is_prime, mod_inverse,
    modular_arithmetic, smallest_generator,
};
use proptest::prelude::*;

const PRIMES: [usize; 8] = [3, 5, 7, 11, 13, 17, 23, 31];

fn check_task(d: &ModularData, params: &ModularParams) {
    let p = params.p;
    let n_all = if params.op == ModOp::Div { p * (p - 1) } else { p * p };
    let n_train = (params.train_fraction * n_all as f64).floor() as usize;
    // split sizes floor(rN) / N - floor(rN)
    assert_eq!(d.train.n(), n_train);
    assert_eq!(d.test.n(), n_all - n_train);
    assert_eq!(d.train_pairs.len(), d.train.n());
    assert_eq!(d.test_pairs.len(), d.test.n());
    assert_eq!((d.p, d.op), (p, params.op));
    // disjoint and together exactly all pairs
    let train: HashSet<_> = d.train_pairs.iter().copied().collect();
    let test: HashSet<_> = d.test_pairs.iter().copied().collect();
    assert_eq!(train.len(), d.train_pairs.len(), "duplicate training pair");
    assert_eq!(test.len(), d.test_pairs.len(), "duplicate test pair");
    assert!(train.is_disjoint(&test));
    let all: HashSet<_> = all_pairs(p, params.op).into_iter().collect();
    assert_eq!(all.len(), n_all);
    let union: HashSet<_> = train.union(&test).copied().collect();
    assert_eq!(union, all);
    for (ds, pairs) in [(&d.train, &d.train_pairs), (&d.test, &d.test_pairs)] {
        assert_eq!((ds.d(), ds.c()), (2 * p, p));
        assert_eq!(ds.n_classes, Some(p));
        let labels = ds.labels.as_ref().unwrap();
        for (i, &(a, b)) in pairs.iter().enumerate() {
            assert!(a < p && b < p);
            // exactly two ones, at a and p + b
            let mut ones = Vec::new();
            for j in 0..2 * p {
                let v = ds.x[(i, j)];
                assert!(v == 0.0 || v == 1.0);
                if v == 1.0 {
                    ones.push(j);
                }
            }
            assert_eq!(ones, vec![a, p + b]);
            // label correct mod p
            let l = labels[i];
            let ok = match params.op {
                ModOp::Add => (a + b) % p == l,
                ModOp::Sub => (l + b) % p == a,
                ModOp::Mul => (a * b) % p == l,
                ModOp::Div => b != 0 && (l * b) % p == a,
            };
            assert!(ok, "{a} {} {b} mod {p} labelled {l}", params.op.symbol());
            // y is the one-hot label
            for c in 0..p {
                assert_eq!(ds.y[(i, c)], if c == l { 1.0 } else { 0.0 });
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn modular_invariants(pi in 0usize..PRIMES.len(), opi in 0usize..4, r in 0.05f64..0.95, seed in any::<u64>()) {
        let params = ModularParams { p: PRIMES[pi], op: ModOp::ALL[opi], train_fraction: r, seed };
        let n_all = params.op.n_pairs(params.p);
        if (r * n_all as f64).floor() == 0.0 {
            // no training pair: must be an error, not an empty split
            prop_assert!(modular_arithmetic(&params).is_err());
            return Ok(());
        }
        let d = modular_arithmetic(&params).unwrap();
        check_task(&d, &params);
        // same seed -> same split
        let again = modular_arithmetic(&params).unwrap();
        prop_assert_eq!(&again, &d);
    }

    #[test]
    fn inverse_property(pi in 0usize..PRIMES.len(), a in 1usize..1000) {
        let p = PRIMES[pi];
        match mod_inverse(a, p) {
            Some(inv) => { prop_assert!(inv < p); prop_assert_eq!(a * inv % p, 1); }
            None => prop_assert_eq!(a % p, 0),
        }
    }

    #[test]
    fn log_table_inverts_powers(pi in 0usize..PRIMES.len()) {
        let p = PRIMES[pi];
        let g = smallest_generator(p).unwrap();
        let log = discrete_log_table(p, g);
        prop_assert_eq!(log.len(), p);
        let mut x = 1usize;
        for i in 0..p - 1 {
            prop_assert_eq!(log[x], i);
            x = x * g % p;
        }
        // log is a bijection 1..p -> 0..p-1
        let mut seen: Vec<usize> = log[1..].to_vec();
        seen.sort();
        prop_assert_eq!(seen, (0..p - 1).collect::<Vec<_>>());
    }
}

#[test]
fn paper_sizes() {
    for (op, n) in [(ModOp::Add, 61 * 61), (ModOp::Div, 61 * 60)] {
        let params = ModularParams { p: 61, op, train_fraction: 0.5, seed: 0 };
        let d = modular_arithmetic(&params).unwrap();
        assert_eq!(d.train.n() + d.test.n(), n);
        assert_eq!(d.train.n(), n / 2);
        check_task(&d, &params);
    }
}

#[test]
fn different_seeds_differ() {
    let a = modular_arithmetic(&ModularParams::default().with_p(13).with_seed(1)).unwrap();
    let b = modular_arithmetic(&ModularParams::default().with_p(13).with_seed(2)).unwrap();
    assert_ne!(a.train_pairs, b.train_pairs);
}

#[test]
fn invalid_modulus() {
    for p in [10usize, 1, 0, 4, 9, 2] {
        let e = modular_arithmetic(&ModularParams::default().with_p(p)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("prime"), "p = {p}: {msg}");
    }
    let msg = modular_arithmetic(&ModularParams::default().with_p(10)).unwrap_err().to_string();
    assert!(msg.contains("p = 10 is not prime"), "{msg}");
}

#[test]
fn invalid_train_fraction() {
    for r in [0.0, 1.0, 1.5, -0.5, f64::NAN, f64::INFINITY] {
        let e = modular_arithmetic(&ModularParams::default().with_p(7).with_train_fraction(r));
        let msg = e.unwrap_err().to_string();
        assert!(msg.contains("train_fraction"), "r = {r}: {msg}");
    }
    // in (0, 1) but too small to leave a training sample: floor(0.01 * 9) = 0
    assert!(modular_arithmetic(&ModularParams::default().with_p(3).with_train_fraction(0.01)).is_err());
}

#[test]
fn discrete_log_p5() {
    assert_eq!(smallest_generator(5).unwrap(), 2);
    let log = discrete_log_table(5, 2);
    // 2^0 = 1, 2^1 = 2, 2^2 = 4, 2^3 = 8 = 3
    assert_eq!(log[1], 0);
    assert_eq!(log[2], 1);
    assert_eq!(log[4], 2);
    assert_eq!(log[3], 3);
    assert!(smallest_generator(10).is_err());
    assert!(discrete_log_table(5, 4).is_empty());
}

#[test]
fn generators_are_generators() {
    for p in (3..200).filter(|&p| is_prime(p)) {
        let g = smallest_generator(p).unwrap();
        // no smaller g generates
        for h in 2..g {
            assert!(discrete_log_table(p, h).is_empty(), "p = {p}: {h} < {g} generates");
        }
        assert_eq!(discrete_log_table(p, g).len(), p);
    }
}

#[test]
fn mod_inverse_cases() {
    assert_eq!(mod_inverse(2, 5), Some(3));
    assert_eq!(mod_inverse(7, 5), Some(3));
    assert_eq!(mod_inverse(0, 5), None);
    assert_eq!(mod_inverse(6, 9), None);
    assert_eq!(mod_inverse(3, 0), None);
}

#[test]
fn encode_pairs_checks() {
    let x = encode_pairs(&[(0, 2), (1, 1)], 3).unwrap();
    assert_eq!(x, faer::mat![[1.0, 0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]]);
    assert!(encode_pairs(&[(3, 0)], 3).is_err());
    assert!(encode_pairs(&[], 3).is_err());
}

#[test]
fn params_serde() {
    let p = ModularParams::default().with_op(ModOp::Mul);
    let s = serde_json::to_string(&p).unwrap();
    assert!(s.contains("\"mul\""), "{s}");
    let back: ModularParams = serde_json::from_str(&s).unwrap();
    assert_eq!(back, p);
}

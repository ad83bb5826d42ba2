//! End-to-end grokking with RFM (spec 02 §2.2, §2.5, §2.7 unit-test size): modular addition,
//! `RfmParams::grokking()` (Gaussian `2 L^2`, `L = 2.5`, ridgeless, centred AGOP, `M = AGOP^{1/2}`).
//! Train accuracy is 1 at every iteration, test accuracy starts near chance and jumps late, and the
//! circulant deviation of the learned `M_{t+1}` falls.
use datasets::synthetic::{ModOp, ModularParams, modular_arithmetic};
use datasets::{accuracy, correct_logit_loss};
use rfm::measures::modular_circulant_deviation;
use rfm::{Control, RfmParams};

struct Trace {
    train_acc: Vec<f64>,
    test_acc: Vec<f64>,
    test_loss: Vec<f64>,
    deviation: Vec<f64>,
    /// For `*` and `/`: the deviation without the discrete-log reordering.
    unordered_deviation: Vec<f64>,
}

fn run(p: usize, op: ModOp, r: f64, iters: usize, seed: u64) -> Trace {
    let data = modular_arithmetic(&ModularParams { p, op, train_fraction: r, seed }).unwrap();
    let params = RfmParams::grokking().with_iters(iters).with_agop_after_last_fit(true);
    let train_labels = data.train.labels.clone().unwrap();
    let test_labels = data.test.labels.clone().unwrap();
    let mut t = Trace {
        train_acc: vec![],
        test_acc: vec![],
        test_loss: vec![],
        deviation: vec![],
        unordered_deviation: vec![],
    };
    let multiplicative = matches!(op, ModOp::Mul | ModOp::Div);
    params
        .fit_with(&data.train, None, &params.solver, &mut |step| {
            let tr = step.model.predict(data.train.x.as_ref()).unwrap();
            t.train_acc.push(accuracy(tr.as_ref(), &train_labels).unwrap());
            let te = step.model.predict(data.test.x.as_ref()).unwrap();
            t.test_acc.push(accuracy(te.as_ref(), &test_labels).unwrap());
            t.test_loss.push(correct_logit_loss(te.as_ref(), &test_labels).unwrap());
            let next = step.next_metric.expect("agop_after_last_fit gives every step M_{t+1}");
            let m = next.to_matrix(2 * p);
            t.deviation.push(modular_circulant_deviation(m.as_ref(), p, multiplicative).unwrap());
            if multiplicative {
                t.unordered_deviation.push(modular_circulant_deviation(m.as_ref(), p, false).unwrap());
            }
            Control::Continue
        })
        .unwrap();
    eprintln!(
        "p={p} {op} r={r}: test acc {:?}",
        t.test_acc.iter().map(|a| (a * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    );
    eprintln!(
        "  deviation {:?}",
        t.deviation.iter().map(|a| (a * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    );
    eprintln!(
        "  correct-logit loss {:?}",
        t.test_loss.iter().map(|a| (a * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    );
    t
}

/// Modular addition, p = 29, r = 0.6, 20 updates, two data splits. p = 29 is the smallest prime in
/// 17..=29 that groks reliably within 20 updates: over 12 seeds (p = 29) the test accuracy was 0 up to
/// t = 8, first above 0.02 at t = 9-10, and 0.973-1.000 at t = 20, with the circulant deviation of
/// `M_{t+1}` falling from 0.65-0.78 to 0.020-0.033 of its start (ratio <= 0.033). At p = 23 two of four
/// seeds ended at 0.84-0.88, at p = 17/19 all ended below 0.83. About 0.5 s per run in release mode.
#[test]
fn rfm_groks_modular_addition() {
    let (p, iters) = (29, 20);
    for seed in [0, 1] {
        let t = run(p, ModOp::Add, 0.6, iters, seed);
        assert_eq!(t.test_acc.len(), iters + 1);
        assert!(t.train_acc.iter().all(|&a| a == 1.0), "train accuracy {:?}", t.train_acc);
        // flat start: chance-level accuracy and an unchanged test loss for the first iterations
        assert!(t.test_acc[0] < 0.1, "iteration 0: {}", t.test_acc[0]);
        assert!(t.test_acc[..=5].iter().all(|&a| a < 0.05), "{:?}", t.test_acc);
        assert!(t.test_loss[..=4].iter().all(|&l| (l - t.test_loss[0]).abs() < 0.05 * t.test_loss[0]));
        // late jump
        assert!(*t.test_acc.last().unwrap() > 0.9, "final: {:?}", t.test_acc);
        // the deviation falls monotonically and ends far below its start
        let (d0, dl) = (t.deviation[0], *t.deviation.last().unwrap());
        assert!(dl < 0.3 * d0, "deviation {d0} -> {dl}");
        assert!(t.deviation[..=10].windows(2).all(|w| w[1] < w[0]), "{:?}", t.deviation);
    }
}

/// Subtraction (Hankel structure) and multiplication (circulant only after the discrete-log
/// reordering; chance floor (2p - 1) / p^2 = 0.065 from the pairs with a zero operand) grok too.
/// Measured (seed 0): final test accuracy 1.000 (sub) and 0.997 (mul); deviation 0.67 -> 0.015 and
/// 0.69 -> 0.014; without the reordering the multiplication deviation stays high.
#[test]
fn rfm_groks_subtraction_and_multiplication() {
    let (p, iters) = (29, 20);
    for op in [ModOp::Sub, ModOp::Mul] {
        let t = run(p, op, 0.6, iters, 0);
        assert!(t.train_acc.iter().all(|&a| a == 1.0));
        assert!(t.test_acc[0] < 0.1, "{op}: iteration 0: {}", t.test_acc[0]);
        assert!(*t.test_acc.last().unwrap() > 0.9, "{op}: {:?}", t.test_acc);
        assert!(*t.deviation.last().unwrap() < 0.3 * t.deviation[0], "{op}: {:?}", t.deviation);
        if op == ModOp::Mul {
            let last = t.unordered_deviation.last().unwrap();
            assert!(*last > 0.5, "multiplication without reordering: {last}");
        }
    }
}

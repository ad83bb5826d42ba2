//! Scratch probe: `cargo run --release -p sparse-recovery --example probe -- d r frac alpha [method]`.
use sparse_recovery::*;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let d: usize = a.get(1).map_or(500, |s| s.parse().unwrap());
    let r: usize = a.get(2).map_or(5, |s| s.parse().unwrap());
    let frac: f64 = a.get(3).map_or(0.04, |s| s.parse().unwrap());
    let alpha: f64 = a.get(4).map_or(1.0, |s| s.parse().unwrap());
    let method = a.get(5).map_or("lin-rfm", |s| s.as_str());
    let e0: f64 = a.get(6).map_or(0.0, |s| s.parse().unwrap());
    let ef: f64 = a.get(7).map_or(0.7, |s| s.parse().unwrap());
    let rf: f64 = a.get(8).map_or(1e-3, |s| s.parse().unwrap());
    let every: usize = a.get(9).map_or(20, |s| s.parse().unwrap());
    let eps = if e0 > 0.0 { Epsilon::Geometric { initial: e0, factor: ef, min: 0.0 } } else { Epsilon::Off };
    let t0 = std::time::Instant::now();
    let inst = low_rank_instance_frac(d, d, r, frac, 0).unwrap();
    println!("gen {:.2}s", t0.elapsed().as_secs_f64());
    let mut obs = |s: &CompletionStep<'_>| {
        if s.iter.is_multiple_of(every) {
            let e = inst.unobserved_error(s.prediction).unwrap();
            println!(
                "it {} reg {:.0e} train {:.2e} val {:.2e} test_mse {:.2e} rel {:.2e} t {:.2}",
                s.iter,
                s.reg,
                s.train_rel_mse,
                s.val_rel_mse.unwrap_or(f64::NAN),
                e.mse,
                e.relative,
                s.elapsed
            );
        }
        Control::Continue
    };
    let fit = match method {
        "irls" => {
            IrlsParams::new(2.0 - 4.0 * alpha, r).with_tol(1e-6).fit_with(&inst.observed, &mut obs).unwrap()
        }
        "softimpute" => SoftImputeParams::default().fit(&inst.observed).unwrap(),
        "dln" => DlnParams::new(2).with_steps(3000).fit_completion(&inst.observed).unwrap(),
        _ => LinRfmParams::new(alpha)
            .with_epsilon(eps)
            .with_reg_final(rf)
            .with_tol(1e-6)
            .fit_with(&inst.observed, &mut obs)
            .unwrap(),
    };
    let e = inst.unobserved_error(fit.prediction()).unwrap();
    println!(
        "{method} alpha {alpha}: iters {} best {} stop {:?} val {:?} test mse {:.3e} rel {:.3e} time {:.2}s",
        fit.iters, fit.best_iter, fit.stop, fit.best_val_rel_mse, e.mse, e.relative, fit.seconds
    );
}

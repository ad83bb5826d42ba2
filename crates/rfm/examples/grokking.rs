//! Modular addition with RFM: prints test accuracy and timings per iteration.
//!
//! `cargo run --release -p rfm --example grokking -- [p] [iters]`
use datasets::synthetic::{ModOp, ModularParams, modular_arithmetic};
use kernels::Kernel;
use rfm::measures::modular_circulant_deviation;
use rfm::{Control, RfmParams};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let p: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(61);
    let iters: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(30);
    let data = modular_arithmetic(&ModularParams { p, op: ModOp::Add, train_fraction: 0.5, seed: 0 })?;
    let params = RfmParams::grokking().with_iters(iters);
    println!("kernel {}, n_train {}, d {}", params.kernel.name(), data.train.n(), data.train.d());
    let t0 = Instant::now();
    let labels = data.test.labels.clone().unwrap_or_default();
    params.fit_with(&data.train, None, &params.solver, &mut |step| {
        let pred = step.model.predict(data.test.x.as_ref()).unwrap();
        let acc = datasets::accuracy(pred.as_ref(), &labels).unwrap();
        let dev = step
            .next_metric
            .map(|m| modular_circulant_deviation(m.to_matrix(2 * p).as_ref(), p, false).unwrap())
            .unwrap_or(f64::NAN);
        println!(
            "t={:2} test_acc={acc:.3} dev={dev:.3} solve={:.3}s agop={:.3}s total={:.2}s ({})",
            step.iter,
            step.solve_seconds,
            step.agop_seconds,
            t0.elapsed().as_secs_f64(),
            step.solver.method
        );
        Control::Continue
    })?;
    Ok(())
}

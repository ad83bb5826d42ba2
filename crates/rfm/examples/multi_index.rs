//! RFM on y = x1 * x2 (d = 100): test MSE and timings per iteration.
//!
//! `cargo run --release -p rfm --example multi_index -- [n] [n_test] [iters]`
use datasets::synthetic::{MultiIndexTask, multi_index};
use kernels::KernelSpec;
use rfm::{Control, RfmParams, mse};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(5000);
    let n_test: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(10000);
    let iters: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let t0 = Instant::now();
    let all = multi_index(MultiIndexTask::Prod, n + n_test, 100, 0)?;
    let idx: Vec<usize> = (0..n).collect();
    let train = all.subset(&idx)?;
    let test = all.subset(&(n..n + n_test).collect::<Vec<_>>())?;
    let params = RfmParams::new(KernelSpec::laplace(10.0))
        .with_ridge(1e-3)
        .with_iters(iters)
        .with_power(0.5)
        .with_normalization(rfm::Normalization::Max);
    params.fit_with(&train, None, &params.solver, &mut |step| {
        let t = Instant::now();
        let pred = step.model.predict(test.x.as_ref()).unwrap();
        let m = mse(pred.as_ref(), test.y.as_ref());
        println!(
            "t={} test_mse={m:.5} solve={:.3}s ({}) agop={:.3}s predict={:.3}s total={:.2}s",
            step.iter,
            step.solve_seconds,
            step.solver.method,
            step.agop_seconds,
            t.elapsed().as_secs_f64(),
            t0.elapsed().as_secs_f64()
        );
        Control::Continue
    })?;
    Ok(())
}

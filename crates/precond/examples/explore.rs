//! Exploration on MNIST-10k: spectrum, batch size, EigenPro epochs and accuracy.
use kernels::KernelSpec;
use precond::*;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let s: usize = args.get(1).map_or(1000, |v| v.parse().unwrap());
    let q: usize = args.get(2).map_or(100, |v| v.parse().unwrap());
    let epochs: usize = args.get(3).map_or(3, |v| v.parse().unwrap());
    let d = datasets::load::mnist10k().unwrap().shuffled(0);
    let (tr, te) = (d.take_first(8000).unwrap(), d.subset(&(8000..10000).collect::<Vec<_>>()).unwrap());
    let k = KernelSpec::laplace(10.0);
    let t0 = Instant::now();
    let data = KernelData::<f32>::new(&k, &kernels::Metric::Euclidean, tr.x.as_ref()).unwrap();
    let p = PreconditionerParams::nystrom(s, q).build(&data).unwrap();
    println!("setup {:.2}s beta {:.3} l1 {:.4} lq+1 {:.5} m* {}", t0.elapsed().as_secs_f64(), p.beta, p.lambda_1(), p.lambda_top(), p.critical_batch(0.0, 8000));
    println!("eigs {:?}", p.eigenvalues.iter().step_by(10).map(|v| format!("{v:.4}")).collect::<Vec<_>>());
    let labels = te.labels.clone().unwrap();
    let params = EigenProParams::new(PreconditionerParams::nystrom(s, q)).with_epochs(epochs);
    let fit = params
        .fit_with_preconditioner(&data, tr.y.as_ref(), 0.0, p, None, Some(Validation { x: te.x.as_ref(), labels: &labels }), t0, &mut |e| {
            println!("{:?}", e);
            Control::Continue
        })
        .unwrap();
    println!("batch {} step {} total {:.2}", fit.batch_size, fit.step, t0.elapsed().as_secs_f64());
}

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
    if std::env::var("PROF").is_ok() {
        let data = KernelData::<f32>::new(&k, &kernels::Metric::Euclidean, tr.x.as_ref()).unwrap();
        let rows: Vec<usize> = (0..1000).collect();
        let mut out = faer::Mat::<f32>::zeros(1000, 8000);
        for _ in 0..3 {
            let t = Instant::now();
            data.block_rows(&rows, None, out.as_mut());
            let a = t.elapsed().as_secs_f64();
            let x32 = faer::Mat::<f32>::from_fn(1000, 784, |i, j| tr.x[(i, j)] as f32);
            let xall = faer::Mat::<f32>::from_fn(8000, 784, |i, j| tr.x[(i, j)] as f32);
            let t = Instant::now();
            faer::linalg::matmul::matmul(
                out.as_mut(),
                faer::Accum::Replace,
                x32.as_ref(),
                xall.transpose(),
                1.0f32,
                faer::Par::rayon(0),
            );
            println!("block {a:.3}s gemm only {:.3}s", t.elapsed().as_secs_f64());
        }
        return;
    }
    if std::env::var("GD").is_ok() {
        let n: usize = std::env::var("GD").unwrap().parse().unwrap();
        let tr = tr.take_first(n).unwrap();
        let t0 = Instant::now();
        let data = KernelData::<f32>::new(&k, &kernels::Metric::Euclidean, tr.x.as_ref()).unwrap();
        let dense = DenseKernel::from_data(&data);
        println!("dense {:.2}", t0.elapsed().as_secs_f64());
        for (name, pp) in [
            ("exact", PreconditionerParams::exact(q)),
            ("nys", PreconditionerParams::nystrom(s, q)),
            ("none", PreconditionerParams::none()),
        ] {
            let t1 = Instant::now();
            let p = pp.build(&data).unwrap();
            println!(
                "{name} setup {:.2}s l1 {:.4} lq+1 {:.6} ratio {:.1}",
                t1.elapsed().as_secs_f64(),
                p.lambda_1(),
                p.lambda_top(),
                p.lambda_1() / p.lambda_top()
            );
            let pref = if p.q > 0 { Some(&p) } else { None };
            let fit = richardson(
                &dense,
                tr.y.as_ref(),
                0.0,
                pref,
                None,
                &IterParams { max_iters: epochs, tol: 0.0 },
                &mut |st, _| {
                    if st.iter.is_power_of_two() || st.iter % 100 == 0 {
                        println!("  {} relmse {:.3e} {:.2}s", st.iter, st.rel_residual.powi(2), st.seconds);
                    }
                    Control::Continue
                },
            )
            .unwrap();
            let _ = fit;
        }
        return;
    }
    let t0 = Instant::now();
    let data = KernelData::<f32>::new(&k, &kernels::Metric::Euclidean, tr.x.as_ref()).unwrap();
    let p = PreconditionerParams::nystrom(s, q).build(&data).unwrap();
    println!(
        "setup {:.2}s beta {:.3} l1 {:.4} lq+1 {:.5} m* {}",
        t0.elapsed().as_secs_f64(),
        p.beta,
        p.lambda_1(),
        p.lambda_top(),
        p.critical_batch(0.0, 8000)
    );
    println!("eigs {:?}", p.eigenvalues.iter().step_by(10).map(|v| format!("{v:.4}")).collect::<Vec<_>>());
    let labels = te.labels.clone().unwrap();
    let params = EigenProParams::new(PreconditionerParams::nystrom(s, q)).with_epochs(epochs);
    let fit = params
        .fit_with_preconditioner(
            &data,
            tr.y.as_ref(),
            0.0,
            p,
            None,
            Some(Validation { x: te.x.as_ref(), labels: &labels }),
            t0,
            &mut |e, _| {
                println!("{:?}", e);
                Control::Continue
            },
        )
        .unwrap();
    println!("batch {} step {} total {:.2}", fit.batch_size, fit.step, t0.elapsed().as_secs_f64());
}

#[allow(dead_code)]
pub fn gd_mode() {}

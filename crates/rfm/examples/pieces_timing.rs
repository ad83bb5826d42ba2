//! Times the pieces of one grokking RFM iteration (development aid).
use datasets::synthetic::{ModOp, ModularParams, modular_arithmetic};
use kernels::{GradientContext, KernelSpec, Metric, Prepared, Triangle};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = 61;
    let data = modular_arithmetic(&ModularParams { p, op: ModOp::Add, train_fraction: 0.5, seed: 0 })?;
    let x = data.train.x.as_ref();
    let d = x.ncols();
    let g = linalg::random::gaussian_mat(d, d, 1);
    let m = &g * g.transpose() * (1.0 / d as f64);
    let metric = Metric::Mahalanobis(m);
    let k = KernelSpec::gaussian(2.5);
    for rep in 0..3 {
        let t = Instant::now();
        let pr = Prepared::new(x, &metric);
        let t_prep = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let kk = kernels::matrix::kernel_matrix_sym_prepared(&k, &pr, Triangle::Full);
        let t_k = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (alpha, _) = linalg::solve::solve_sym_ridge(
            kk,
            data.train.y.as_ref(),
            0.0,
            linalg::solve::Precision::F64,
            "x",
        )?;
        let t_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let ctx = GradientContext::new(&k, &pr, alpha.as_ref());
        let parts = ctx.parts(&pr);
        let t_g = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let agop = rfm::kernel_agop(
            &k,
            &metric,
            &pr,
            alpha.as_ref(),
            &pr,
            rfm::AgopOptions { centering: true, diag: false },
            rfm::agop::AGOP_BATCH_ENTRIES,
        )?;
        let t_a = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _mm = linalg::sym::sym_power(agop.to_matrix().as_ref(), 0.5)?;
        let t_p = t.elapsed().as_secs_f64();
        println!(
            "rep {rep}: prep {t_prep:.4} kmat {t_k:.4} solve {t_s:.4} grad_parts {t_g:.4} agop(total) {t_a:.4} sqrt {t_p:.4}  h rows {}",
            parts.h.nrows()
        );
    }
    Ok(())
}

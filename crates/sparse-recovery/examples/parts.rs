//! Scratch timing of the parts of one iteration.
use sparse_recovery::kernel_step::*;
use sparse_recovery::*;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let d: usize = a.get(1).map_or(500, |s| s.parse().unwrap());
    let frac: f64 = a.get(2).map_or(0.04, |s| s.parse().unwrap());
    let reps: usize = a.get(3).map_or(50, |s| s.parse().unwrap());
    let inst = low_rank_instance_frac(d, d, 5, frac, 0).unwrap();
    let mut out = vec![0.0; d * d];
    let k = faer::Mat::<f64>::identity(d, d);
    kernel_regression_rows(&k, &inst.observed, 0.05, true, &mut out).unwrap();
    let g = agop_rows(&out, d, d).unwrap();
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(agop_rows(&out, d, d).unwrap());
    }
    println!("agop {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / reps as f64);
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(sym_square(&g));
    }
    println!("sym_square {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / reps as f64);
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(&g * &g);
    }
    println!("full gemm {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / reps as f64);
    let t = Instant::now();
    for _ in 0..reps {
        kernel_regression_rows(&g, &inst.observed, 0.05, true, &mut out).unwrap();
    }
    println!("rows {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / reps as f64);
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(linalg::sym::sym_eigen(g.as_ref()).unwrap());
    }
    println!("eig {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / reps as f64);
}

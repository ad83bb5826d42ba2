//! A direct solver that reuses its last Cholesky factor across a sequence of nearby systems.
//!
//! RFM solves `(K_{M_t} + ridge I) alpha_t = Y` for `t = 0, 1, ...` where `M_t` changes less and
//! less between iterations. [`ReuseSolver`] factorises the first system (`f32` Cholesky, like the
//! [`DirectSolver`](crate::DirectSolver) at large `n`) and keeps the factor `L`. For the next system
//! it first runs conjugate gradients on the *new* matrix, preconditioned by the *old* factor
//! (`z = (L L^T)^{-1} r`) and started from the previous solution: when the two matrices are close,
//! `(L L^T)^{-1} K_t` is close to the identity and a handful of iterations (each a pass over two
//! `n x n / 2` triangles, memory-bound) replace an `O(n^3)` factorisation. If CG has not reached the
//! tolerance after `max_iters` iterations the new matrix is factorised and its factor kept, so the
//! answer is always either a converged CG solve (true residual checked) or a direct solve.
//!
//! ```
//! use kernels::{KernelSolver, KernelSpec, KernelSystem, Metric, Prepared, ReuseSolver};
//! let x = linalg::random::gaussian_mat(300, 4, 1);
//! let y = faer::Mat::from_fn(300, 1, |i, _| x[(i, 0)] * x[(i, 1)]);
//! let solver = ReuseSolver::new().with_min_n(0); // use the f32 path even for this small demo
//! let k = KernelSpec::laplace(3.0);
//! let mut previous = None;
//! for scale in [1.0, 1.02] {
//!     let metric = Metric::Diagonal(vec![scale; 4]);
//!     let train = Prepared::new(x.as_ref(), &metric);
//!     let system = KernelSystem { kernel: &k, metric: &metric, train: &train, ridge: 1e-2 };
//!     let (alpha, report) = solver.solve(&system, y.as_ref(), previous.as_ref().map(|a: &faer::Mat<f64>| a.as_ref())).unwrap();
//!     assert!(report.relative_residual.unwrap() < 1e-3);
//!     previous = Some(alpha);
//! }
//! ```
use crate::error::Result;
use crate::matrix::kernel_lower_f32_prepared;
use crate::ridge::{DirectSolver, KernelSolver, KernelSystem, SolverPrecision, SolverReport};
use faer::{Mat, MatRef};
use linalg::default_par;
use linalg::solve::{Precision, cholesky_in_place, cholesky_solve_in_place};
use linalg::validate::{check_nonnegative, check_same_rows};
use multiversion::multiversion;
use rayon::prelude::*;
use std::sync::Mutex;
use std::time::Instant;

/// Cached factor and a spare `n x n` buffer (both `f32`, lower triangles).
struct State {
    factor: Mat<f32>,
    spare: Option<Mat<f32>>,
}

/// Direct solver with Cholesky-factor reuse: see the [module docs](self).
///
/// Holds up to two `n x n` `f32` matrices between calls (the last factor and a spare buffer for
/// the next kernel matrix); [`ReuseSolver::release`] frees them.
pub struct ReuseSolver {
    /// Relative residual `||Y - (K + ridge I) A|| / ||Y||` a CG solve must reach (per output).
    pub tol: f64,
    /// CG iterations tried before refactorising (`None`: `n / 500` clamped to `4..=30`, i.e. well
    /// below the cost of one factorisation).
    pub max_iters: Option<usize>,
    /// Below this size (or at ridge 0) every system goes to the `f64` [`DirectSolver`].
    pub min_n: usize,
    /// CG is only tried when the warm start's relative residual on the new system is at most this
    /// (a cheap test of how far the system moved; early RFM iterations move `M` a lot and go
    /// straight to the factorisation).
    pub max_start_residual: f64,
    state: Mutex<Option<State>>,
}

impl std::fmt::Debug for ReuseSolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReuseSolver")
            .field("tol", &self.tol)
            .field("max_iters", &self.max_iters)
            .field("min_n", &self.min_n)
            .field("max_start_residual", &self.max_start_residual)
            .finish_non_exhaustive()
    }
}

impl Default for ReuseSolver {
    fn default() -> Self {
        ReuseSolver {
            tol: 1e-4,
            max_iters: None,
            min_n: 3000,
            max_start_residual: 0.2,
            state: Mutex::new(None),
        }
    }
}

impl ReuseSolver {
    /// Defaults: tolerance `1e-4`, automatic CG budget, `f32` path from `n = 3000` (as the
    /// [`DirectSolver`]'s automatic precision).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the CG tolerance.
    pub fn with_tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }
    /// Sets the CG budget before refactorising.
    pub fn with_max_iters(mut self, iters: Option<usize>) -> Self {
        self.max_iters = iters;
        self
    }
    /// Sets the size from which the `f32` factor-reuse path is used.
    pub fn with_min_n(mut self, n: usize) -> Self {
        self.min_n = n;
        self
    }
    /// Sets the largest warm-start residual for which CG is tried.
    pub fn with_max_start_residual(mut self, r: f64) -> Self {
        self.max_start_residual = r;
        self
    }
    /// Frees the cached factor and buffer.
    pub fn release(&self) {
        if let Ok(mut g) = self.state.lock() {
            *g = None;
        }
    }

    fn budget(&self, n: usize) -> usize {
        self.max_iters.unwrap_or((n / 500).clamp(4, 30))
    }
}

/// Column ranges of a lower triangle with about equal numbers of entries.
fn balanced_chunks(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let total = n as f64 * (n as f64 + 1.0) / 2.0;
    let mut out = Vec::with_capacity(parts);
    let (mut start, mut acc) = (0usize, 0.0f64);
    for j in 0..n {
        acc += (n - j) as f64;
        if acc >= total * (out.len() + 1) as f64 / parts as f64 || j + 1 == n {
            out.push((start, j + 1));
            start = j + 1;
        }
    }
    out
}

/// `y[k] += a * x[k]` and returns `sum_k a_col[k] * v[k]` for one stored column below the diagonal.
#[multiversion(targets = "simd")]
fn axpy_dot(col: &[f32], v: &[f32], xj: f32, y: &mut [f32]) -> f32 {
    const L: usize = 16;
    let mut acc = [0.0f32; L];
    let m = col.len() / L * L;
    for ((c, vv), yy) in col[..m].chunks_exact(L).zip(v[..m].chunks_exact(L)).zip(y[..m].chunks_exact_mut(L))
    {
        for l in 0..L {
            acc[l] += c[l] * vv[l];
            yy[l] += c[l] * xj;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for k in m..col.len() {
        s += col[k] * v[k];
        y[k] += col[k] * xj;
    }
    s
}

/// `Y = A X + shift X` for a symmetric `A` of which only the lower triangle (with the diagonal) is
/// stored. One pass over the triangle, parallel over balanced column chunks. Views that are not
/// column-major are copied first.
///
/// Errors: `A` not square, or `X` with a different number of rows.
pub fn sym_lower_matmul(a: MatRef<'_, f32>, x: MatRef<'_, f32>, shift: f32) -> Result<Mat<f32>> {
    if a.nrows() != a.ncols() || x.nrows() != a.nrows() {
        return Err(linalg::LinalgError::ShapeMismatch {
            context: "symmetric product A X".into(),
            expected: format!("A square and X with {} rows", a.nrows()),
            got: format!("A {} x {}, X {} x {}", a.nrows(), a.ncols(), x.nrows(), x.ncols()),
        }
        .into());
    }
    let contiguous = |m: MatRef<'_, f32>| (0..m.ncols()).all(|j| m.col(j).try_as_col_major().is_some());
    if !contiguous(a) || !contiguous(x) {
        return sym_lower_matmul(a.to_owned().as_ref(), x.to_owned().as_ref(), shift);
    }
    Ok(sym_lower_matmul_contiguous(a, x, shift))
}

/// [`sym_lower_matmul`] on column-major views of matching shapes.
fn sym_lower_matmul_contiguous(a: MatRef<'_, f32>, x: MatRef<'_, f32>, shift: f32) -> Mat<f32> {
    let (n, c) = (a.nrows(), x.ncols());
    let threads = rayon::current_num_threads().max(1);
    let chunks = balanced_chunks(n, (4 * threads).min(n.max(1)));
    let xs: Vec<&[f32]> =
        (0..c).map(|k| x.col(k).try_as_col_major().expect("column-major").as_slice()).collect();
    let partials: Vec<Vec<f32>> = chunks
        .par_iter()
        .map(|&(j0, j1)| {
            let mut y = vec![0.0f32; n * c];
            for j in j0..j1 {
                let col = a.col(j).try_as_col_major().expect("column-major").as_slice();
                let (diag, below) = (col[j], &col[j + 1..]);
                for (k, xk) in xs.iter().enumerate() {
                    let yk = &mut y[k * n..(k + 1) * n];
                    let xj = xk[j];
                    let s = axpy_dot(below, &xk[j + 1..], xj, &mut yk[j + 1..]);
                    yk[j] += diag * xj + s;
                }
            }
            y
        })
        .collect();
    let mut out = Mat::<f32>::zeros(n, c);
    for k in 0..c {
        let o = out.col_mut(k).try_as_col_major_mut().expect("column-major").as_slice_mut();
        for p in &partials {
            for (oi, pi) in o.iter_mut().zip(&p[k * n..(k + 1) * n]) {
                *oi += pi;
            }
        }
        for (oi, xi) in o.iter_mut().zip(xs[k]) {
            *oi += shift * xi;
        }
    }
    out
}

/// Copies the lower triangle (with the diagonal) of `src` into `dst`, in parallel over columns.
fn copy_lower(dst: faer::MatMut<'_, f32>, src: MatRef<'_, f32>) {
    dst.par_col_iter_mut().enumerate().for_each(|(j, col)| {
        let d = col.try_as_col_major_mut().expect("column-major").as_slice_mut();
        let s = src.col(j).try_as_col_major().expect("column-major").as_slice();
        d[j..].copy_from_slice(&s[j..]);
    });
}

fn col_dots(a: MatRef<'_, f32>, b: MatRef<'_, f32>) -> Vec<f64> {
    (0..a.ncols()).map(|k| (0..a.nrows()).map(|i| a[(i, k)] as f64 * b[(i, k)] as f64).sum()).collect()
}

/// Outcome of a preconditioned CG run.
struct PcgOutcome {
    x: Mat<f32>,
    iterations: usize,
    relative_residual: f64,
    converged: bool,
}

#[allow(clippy::too_many_arguments)]
/// CG on `(K + ridge I) X = B` (lower triangle of `K` stored without the ridge), preconditioned
/// by the Cholesky factor `l`, all columns in lock step.
fn pcg(
    k: MatRef<'_, f32>,
    ridge: f32,
    l: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    x0: Mat<f32>,
    tol: f64,
    max_iters: usize,
    max_start_residual: f64,
) -> PcgOutcome {
    let par = default_par();
    let c = b.ncols();
    let bnorm: Vec<f64> = col_dots(b, b).into_iter().map(|v| v.sqrt().max(f64::MIN_POSITIVE)).collect();
    let mut x = x0;
    let mut r = b - sym_lower_matmul_contiguous(k, x.as_ref(), ridge);
    let precond = |r: &Mat<f32>| {
        let mut z = r.clone();
        cholesky_solve_in_place(l, z.as_mut(), par);
        z
    };
    let rel = |r: &Mat<f32>| -> Vec<f64> {
        col_dots(r.as_ref(), r.as_ref()).iter().zip(&bnorm).map(|(s, bn)| s.sqrt() / bn).collect()
    };
    let e0 = rel(&r);
    let worst0 = e0.iter().cloned().fold(0.0f64, f64::max);
    if worst0 > max_start_residual {
        return PcgOutcome { x, iterations: 0, relative_residual: worst0, converged: worst0 <= tol };
    }
    let mut z = precond(&r);
    let mut p = z.clone();
    let mut rz = col_dots(r.as_ref(), z.as_ref());
    let mut active: Vec<bool> = e0.iter().map(|&e| e > tol).collect();
    let mut iterations = 0;
    let mut hopeless = false;
    while active.iter().any(|&a| a) && iterations < max_iters && !hopeless {
        iterations += 1;
        let ap = sym_lower_matmul_contiguous(k, p.as_ref(), ridge);
        let pap = col_dots(p.as_ref(), ap.as_ref());
        for j in 0..c {
            if !active[j] || pap[j] <= 0.0 {
                active[j] = false;
                continue;
            }
            let alpha = (rz[j] / pap[j]) as f32;
            for i in 0..x.nrows() {
                x[(i, j)] += alpha * p[(i, j)];
                r[(i, j)] -= alpha * ap[(i, j)];
            }
        }
        z = precond(&r);
        let rz_new = col_dots(r.as_ref(), z.as_ref());
        let errs = rel(&r);
        for j in 0..c {
            if !active[j] {
                continue;
            }
            let beta = (rz_new[j] / rz[j]) as f32;
            for i in 0..p.nrows() {
                p[(i, j)] = z[(i, j)] + beta * p[(i, j)];
            }
            if errs[j] <= tol {
                active[j] = false;
            }
        }
        rz = rz_new;
        // give up early when the observed rate cannot reach the tolerance within the budget
        // (the caller then factorises; CG iterations spent here are wasted work)
        if iterations >= 3 {
            let worst = errs.iter().zip(&active).filter(|(_, a)| **a).map(|(e, _)| *e).fold(0.0f64, f64::max);
            if worst > tol {
                let rate = (worst / worst0).powf(1.0 / iterations as f64);
                let needed = if rate < 1.0 { (tol / worst).ln() / rate.ln() } else { f64::INFINITY };
                hopeless = iterations as f64 + needed > max_iters as f64;
            }
        }
    }
    // the true residual (the recursive one drifts)
    let r_true = b - sym_lower_matmul_contiguous(k, x.as_ref(), ridge);
    let worst = rel(&r_true).into_iter().fold(0.0f64, f64::max);
    PcgOutcome { x, iterations, relative_residual: worst, converged: worst <= tol }
}

fn to_f32(m: MatRef<'_, f64>) -> Mat<f32> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32)
}

fn to_f64(m: MatRef<'_, f32>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f64)
}

impl KernelSolver for ReuseSolver {
    fn name(&self) -> String {
        "reuse".into()
    }

    fn solve(
        &self,
        system: &KernelSystem<'_>,
        y: MatRef<'_, f64>,
        warm_start: Option<MatRef<'_, f64>>,
    ) -> Result<(Mat<f64>, SolverReport)> {
        let t0 = Instant::now();
        let n = system.train.x.nrows();
        check_same_rows("kernel system: targets vs inputs", system.train.x.as_ref(), y)?;
        check_nonnegative("ridge", system.ridge)?;
        // the DirectSolver does the small, ridgeless and f32-failed cases; it keeps no factor
        let delegate = |precision: SolverPrecision| -> Result<(Mat<f64>, SolverReport)> {
            let (a, mut rep) = DirectSolver { precision }.solve(system, y, warm_start)?;
            rep.solver = self.name();
            Ok((a, rep))
        };
        if system.ridge == 0.0 || n < self.min_n.max(1) {
            self.release();
            return delegate(SolverPrecision::Auto);
        }
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = guard.take().filter(|s| s.factor.nrows() == n);
        let (old_factor, spare) = match state {
            Some(s) => (Some(s.factor), s.spare),
            None => (None, None),
        };
        let mut k = match spare {
            Some(m) if m.nrows() == n => m,
            _ => Mat::<f32>::zeros(n, n),
        };
        kernel_lower_f32_prepared(system.kernel, system.train, k.as_mut())?;
        let ridge = system.ridge as f32;
        let b = to_f32(y);
        // 1. CG preconditioned by the previous factor, from the previous solution
        let mut cg_iters = 0;
        if let (Some(l), Some(w)) = (old_factor.as_ref(), warm_start)
            && w.nrows() == n
            && w.ncols() == y.ncols()
            && w.is_all_finite()
        {
            let out = pcg(
                k.as_ref(),
                ridge,
                l.as_ref(),
                b.as_ref(),
                to_f32(w),
                self.tol,
                self.budget(n),
                self.max_start_residual,
            );
            cg_iters = out.iterations;
            if out.converged
                && out.x.as_ref().is_all_finite()
                && let Some(factor) = old_factor
            {
                *guard = Some(State { factor, spare: Some(k) });
                return Ok((
                    to_f64(out.x.as_ref()),
                    SolverReport {
                        solver: self.name(),
                        method: "PCG(previous Cholesky factor)".into(),
                        iterations: out.iterations,
                        relative_residual: Some(out.relative_residual),
                        seconds: t0.elapsed().as_secs_f64(),
                    },
                ));
            }
        }
        // 2. factorise the new matrix (its factor is kept for the next call); a copy of the matrix
        // goes to the spare buffer to check the residual of the f32 solve
        let mut check = match old_factor {
            Some(m) => m,
            None => Mat::<f32>::zeros(n, n),
        };
        copy_lower(check.as_mut(), k.as_ref());
        for i in 0..n {
            k[(i, i)] += ridge;
        }
        // f32 rounding can break positive definiteness or the solve: redo in f64 (the state was
        // taken out of the guard above, so nothing is cached after this)
        if cholesky_in_place(k.as_mut(), default_par()).is_err() {
            drop(guard);
            return delegate(SolverPrecision::Fixed(Precision::F64));
        }
        let mut x = b.clone();
        cholesky_solve_in_place(k.as_ref(), x.as_mut(), default_par());
        if !x.as_ref().is_all_finite() {
            drop(guard);
            return delegate(SolverPrecision::Fixed(Precision::F64));
        }
        let r = &b - sym_lower_matmul_contiguous(check.as_ref(), x.as_ref(), ridge);
        let residual = (r.norm_l2() / b.norm_l2().max(f32::MIN_POSITIVE)) as f64;
        *guard = Some(State { factor: k, spare: Some(check) });
        Ok((
            to_f64(x.as_ref()),
            SolverReport {
                solver: self.name(),
                method: if cg_iters > 0 {
                    format!("CholeskyF32 (PCG did not converge in {cg_iters} iterations)")
                } else {
                    "CholeskyF32".into()
                },
                iterations: cg_iters,
                relative_residual: Some(residual),
                seconds: t0.elapsed().as_secs_f64(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KernelSpec, Metric, Prepared};
    use linalg::random::gaussian_mat;

    fn full_from_lower(a: MatRef<'_, f32>) -> Mat<f32> {
        Mat::from_fn(a.nrows(), a.ncols(), |i, j| if i >= j { a[(i, j)] } else { a[(j, i)] })
    }

    #[test]
    fn sym_lower_matmul_matches_dense() {
        for n in [1usize, 7, 33, 100] {
            let g = gaussian_mat(n, n, 3);
            let mut a = Mat::<f32>::from_fn(n, n, |i, j| if i >= j { g[(i, j)] as f32 } else { 0.0 });
            a[(0, 0)] += 1.0;
            let x = Mat::<f32>::from_fn(n, 3, |i, j| ((i * 3 + j) % 5) as f32 - 2.0);
            let got = sym_lower_matmul(a.as_ref(), x.as_ref(), 0.5).unwrap();
            // a transposed (row-major) view of the same symmetric data gives the same product
            let at = a.transpose().to_owned();
            let got_t = sym_lower_matmul(at.transpose(), x.as_ref(), 0.5).unwrap();
            assert!((&got - &got_t).norm_max() < 1e-5 * (1.0 + got.norm_max()));
            let want = &full_from_lower(a.as_ref()) * &x + &x * faer::Scale(0.5f32);
            assert!((&got - &want).norm_max() < 1e-4 * (1.0 + want.norm_max()), "n = {n}");
        }
    }

    #[test]
    fn sym_lower_matmul_rejects_bad_shapes() {
        let a = Mat::<f32>::zeros(3, 3);
        assert!(sym_lower_matmul(a.as_ref(), Mat::<f32>::zeros(2, 1).as_ref(), 0.0).is_err());
        assert!(
            sym_lower_matmul(Mat::<f32>::zeros(3, 2).as_ref(), Mat::<f32>::zeros(3, 1).as_ref(), 0.0)
                .is_err()
        );
    }

    #[test]
    fn balanced_chunks_cover_all_columns() {
        for (n, p) in [(1usize, 1usize), (10, 3), (1000, 8), (5, 20)] {
            let c = balanced_chunks(n, p);
            assert_eq!(c.first().unwrap().0, 0);
            assert_eq!(c.last().unwrap().1, n);
            for w in c.windows(2) {
                assert_eq!(w[0].1, w[1].0);
            }
        }
    }

    /// A sequence of slowly changing systems: the reuse solver agrees with the f64 direct solve,
    /// and from the second system on it uses CG with the old factor.
    #[test]
    fn matches_direct_and_reuses_the_factor() {
        let x = gaussian_mat(400, 5, 1);
        let y = Mat::from_fn(400, 2, |i, j| x[(i, j)] * x[(i, 1 + j)]);
        let k = KernelSpec::laplace(4.0);
        let solver = ReuseSolver::new().with_min_n(0).with_tol(1e-5).with_max_iters(Some(40));
        let direct = DirectSolver { precision: SolverPrecision::Fixed(Precision::F64) };
        let mut prev: Option<Mat<f64>> = None;
        let mut methods = Vec::new();
        for s in [1.0, 1.01, 1.02] {
            let metric = Metric::Diagonal(vec![s, 1.0, 1.0, 1.0, 2.0 - s]);
            let train = Prepared::new(x.as_ref(), &metric);
            let system = KernelSystem { kernel: &k, metric: &metric, train: &train, ridge: 1e-2 };
            let (a, rep) = solver.solve(&system, y.as_ref(), prev.as_ref().map(|p| p.as_ref())).unwrap();
            let (want, _) = direct.solve(&system, y.as_ref(), None).unwrap();
            assert!((&a - &want).norm_l2() / want.norm_l2() < 1e-3, "{rep:?}");
            methods.push(rep.method.clone());
            prev = Some(a);
        }
        assert_eq!(methods[0], "CholeskyF32");
        assert!(methods[1].starts_with("PCG") && methods[2].starts_with("PCG"), "{methods:?}");
    }

    #[test]
    fn small_or_ridgeless_goes_to_direct() {
        let x = gaussian_mat(50, 3, 2);
        let y = gaussian_mat(50, 1, 3);
        let k = KernelSpec::laplace(2.0);
        let train = Prepared::new(x.as_ref(), &Metric::Euclidean);
        let system = KernelSystem { kernel: &k, metric: &Metric::Euclidean, train: &train, ridge: 0.0 };
        let (a, rep) = ReuseSolver::new().with_min_n(0).solve(&system, y.as_ref(), None).unwrap();
        assert_eq!(rep.solver, "reuse");
        assert!(
            crate::matrix::kernel_times(&k, &Metric::Euclidean, x.as_ref(), x.as_ref(), a.as_ref())
                .map(|p| (&p - &y).norm_l2() / y.norm_l2() < 1e-8)
                .unwrap()
        );
    }
}

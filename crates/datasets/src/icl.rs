//! In-context learning (ICL) prompts with a finite pre-training task pool.
//!
//! A *task* is a function `f: R^d -> R`; a prompt with `n` in-context examples is
//! `(x_1, y_1, ..., x_n, y_n, x_q)` with `y_i = f(x_i) (+ noise)` and target `y_q = f(x_q)`.
//! Task families ([`TaskFamily`]):
//!
//! * linear regression `f(x) = beta^T x`, `beta ~ N(0, I_d)`, with optional label noise;
//! * sparse linear regression: `beta` with `k` non-zero `N(0, 1)` entries on a random support;
//! * teacher-student: a random 2-layer ReLU teacher
//!   `f(x) = (1/sqrt(m)) sum_j a_j relu(w_j^T x)`, `a_j ~ N(0, 1)`, `w_j ~ N(0, I_d / d)`.
//!
//! Inputs are `x ~ N(0, I_d)`. An [`IclGenerator`] draws a pool of `T` tasks once from its seed
//! ([`PoolSize::Finite`]); every pre-training prompt ([`IclGenerator::train_batch`]) picks its
//! task uniformly from the pool, or draws a fresh one for [`PoolSize::Infinite`] (`T = infinity`).
//! Evaluation prompts ([`IclGenerator::eval_batch`]) always use fresh tasks.
//!
//! A [`PromptBatch`] stacks `B` prompts of `n + 1` points as rows: rows `b (n + 1) .. b (n + 1) + n`
//! are the context of prompt `b`, the last of its rows is the query (its `y` is the clean target).
//! [`PromptBatch::prefix`] cuts every prompt to fewer in-context examples (the next point becomes
//! the query), so that one batch serves every context length.
//!
//! ```
//! use datasets::icl::{IclGenerator, PoolSize, TaskFamily};
//!
//! let generator = IclGenerator::new(TaskFamily::Linear { noise_std: 0.0 }, 4, PoolSize::Finite(16), 7)?;
//! let mut rng = datasets::icl::rng(1);
//! let batch = generator.train_batch(8, 10, &mut rng)?;
//! assert_eq!((batch.batch, batch.n_context, batch.d()), (8, 10, 4));
//! assert_eq!(batch.x.nrows(), 8 * 11);
//! // Every pre-training prompt uses one of the 16 pool tasks.
//! assert!(batch.task_ids.iter().all(|t| t.is_some_and(|t| t < 16)));
//! // Evaluation prompts use fresh tasks and are deterministic by seed.
//! let a = generator.eval_batch(4, 10, 3)?;
//! let b = generator.eval_batch(4, 10, 3)?;
//! assert_eq!(a.y, b.y);
//! // A shorter prompt is a prefix of a longer one.
//! assert_eq!(a.prefix(2)?.x.nrows(), 4 * 3);
//! // Bad input is an error with a message.
//! assert!(IclGenerator::new(TaskFamily::Linear { noise_std: 0.0 }, 0, PoolSize::Infinite, 0).is_err());
//! # Ok::<(), datasets::DatasetError>(())
//! ```
use crate::error::{DatasetError, Result};
use faer::Mat;
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A seeded random number generator (the one [`IclGenerator::train_batch`] is usually given).
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn gauss<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

/// Number of distinct pre-training tasks `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolSize {
    /// A pool of `T >= 1` tasks drawn once.
    Finite(usize),
    /// A fresh task for every prompt (`T = infinity`).
    Infinite,
}

impl PoolSize {
    /// `T` as a number (`f64::INFINITY` for [`PoolSize::Infinite`]), e.g. for plots.
    pub fn as_f64(self) -> f64 {
        match self {
            PoolSize::Finite(t) => t as f64,
            PoolSize::Infinite => f64::INFINITY,
        }
    }
}

impl std::fmt::Display for PoolSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolSize::Finite(t) => write!(f, "{t}"),
            PoolSize::Infinite => write!(f, "inf"),
        }
    }
}

/// A family of tasks `f: R^d -> R`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum TaskFamily {
    /// `f(x) = beta^T x`, `beta ~ N(0, I_d)`; context labels get `N(0, noise_std^2)` noise.
    Linear {
        /// Standard deviation of the label noise (>= 0).
        noise_std: f64,
    },
    /// `f(x) = beta^T x` with `k` non-zero `N(0, 1)` entries of `beta` on a uniform random support.
    SparseLinear {
        /// Number of non-zero coefficients (`1 <= k <= d`).
        k: usize,
        /// Standard deviation of the label noise (>= 0).
        noise_std: f64,
    },
    /// `f(x) = (1/sqrt(m)) sum_j a_j relu(w_j^T x)`, `a_j ~ N(0, 1)`, `w_j ~ N(0, I_d / d)`.
    TeacherStudent {
        /// Hidden width `m >= 1` of the teacher.
        width: usize,
        /// Standard deviation of the label noise (>= 0).
        noise_std: f64,
    },
}

impl TaskFamily {
    fn noise_std(&self) -> f64 {
        match *self {
            TaskFamily::Linear { noise_std }
            | TaskFamily::SparseLinear { noise_std, .. }
            | TaskFamily::TeacherStudent { noise_std, .. } => noise_std,
        }
    }

    /// Checks the family's parameters for input dimension `d`.
    pub fn validate(&self, d: usize) -> Result<()> {
        if d == 0 {
            return Err(DatasetError::param("d", d, "the input dimension must be at least 1"));
        }
        let s = self.noise_std();
        if !(s.is_finite() && s >= 0.0) {
            return Err(DatasetError::param("noise_std", s, "must be finite and >= 0"));
        }
        match *self {
            TaskFamily::SparseLinear { k, .. } if k == 0 || k > d => {
                Err(DatasetError::param("k", k, format!("the sparsity must be in [1, d = {d}]")))
            }
            TaskFamily::TeacherStudent { width: 0, .. } => {
                Err(DatasetError::param("width", 0, "the teacher width must be at least 1"))
            }
            _ => Ok(()),
        }
    }

    /// Draws one task of this family in dimension `d`.
    pub fn sample<R: Rng + ?Sized>(&self, d: usize, rng: &mut R) -> Task {
        match *self {
            TaskFamily::Linear { .. } => Task::Linear { beta: (0..d).map(|_| gauss(rng)).collect() },
            TaskFamily::SparseLinear { k, .. } => {
                let mut beta = vec![0.0; d];
                let support = rand::seq::index::sample(rng, d, k);
                for i in support.iter() {
                    beta[i] = gauss(rng);
                }
                Task::Linear { beta }
            }
            TaskFamily::TeacherStudent { width, .. } => {
                let s = 1.0 / (d as f64).sqrt();
                let w = Mat::from_fn(width, d, |_, _| s * gauss(rng));
                let a = (0..width).map(|_| gauss(rng)).collect();
                Task::Teacher { w, a }
            }
        }
    }
}

/// One task (a function `R^d -> R`).
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// `f(x) = beta^T x`.
    Linear {
        /// Coefficients (length `d`).
        beta: Vec<f64>,
    },
    /// `f(x) = (1/sqrt(m)) sum_j a_j relu(w_j^T x)`.
    Teacher {
        /// Hidden weights, `m x d` (row `j` is `w_j`).
        w: Mat<f64>,
        /// Output weights (length `m`).
        a: Vec<f64>,
    },
}

impl Task {
    /// `f(x)` (`x` of length `d`).
    pub fn eval(&self, x: &[f64]) -> f64 {
        match self {
            Task::Linear { beta } => beta.iter().zip(x).map(|(b, v)| b * v).sum(),
            Task::Teacher { w, a } => {
                let m = a.len();
                let s: f64 = (0..m)
                    .map(|j| {
                        let z: f64 = (0..x.len()).map(|i| w[(j, i)] * x[i]).sum();
                        a[j] * z.max(0.0)
                    })
                    .sum();
                s / (m as f64).sqrt()
            }
        }
    }
}

/// `B` prompts of `n_context + 1` points each, stacked as rows (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptBatch {
    /// Inputs, `B (n + 1) x d`.
    pub x: Mat<f64>,
    /// Labels, `B (n + 1) x 1`: noisy labels on context rows, the clean target on query rows.
    pub y: Mat<f64>,
    /// Clean values `f(x)` of every row, `B (n + 1) x 1`.
    pub f: Mat<f64>,
    /// Number of prompts `B`.
    pub batch: usize,
    /// In-context examples per prompt `n`.
    pub n_context: usize,
    /// Pool index of each prompt's task (`None` for a fresh task).
    pub task_ids: Vec<Option<usize>>,
}

impl PromptBatch {
    /// Input dimension `d`.
    pub fn d(&self) -> usize {
        self.x.ncols()
    }

    /// Points per prompt, `n + 1`.
    pub fn points(&self) -> usize {
        self.n_context + 1
    }

    /// The query targets `f(x_q)`, one per prompt.
    pub fn targets(&self) -> Vec<f64> {
        let p = self.points();
        (0..self.batch).map(|b| self.y[(b * p + self.n_context, 0)]).collect()
    }

    /// Every prompt cut to its first `n` in-context examples, the next point becoming the query
    /// (with its clean target). Errors unless `1 <= n <= n_context`.
    pub fn prefix(&self, n: usize) -> Result<PromptBatch> {
        if n == 0 || n > self.n_context {
            return Err(DatasetError::param(
                "n",
                n,
                format!("a prefix needs 1 <= n <= the prompt's {} in-context examples", self.n_context),
            ));
        }
        let (p, q, d) = (self.points(), n + 1, self.d());
        let src = |b: usize, i: usize| b * p + i;
        let x = Mat::from_fn(self.batch * q, d, |r, j| self.x[(src(r / q, r % q), j)]);
        let f = Mat::from_fn(self.batch * q, 1, |r, _| self.f[(src(r / q, r % q), 0)]);
        let y = Mat::from_fn(self.batch * q, 1, |r, _| {
            let s = src(r / q, r % q);
            if r % q == n { self.f[(s, 0)] } else { self.y[(s, 0)] }
        });
        Ok(PromptBatch { x, y, f, batch: self.batch, n_context: n, task_ids: self.task_ids.clone() })
    }
}

/// Generator of ICL prompts for one task family, input dimension and pre-training pool.
#[derive(Debug, Clone)]
pub struct IclGenerator {
    family: TaskFamily,
    d: usize,
    pool_size: PoolSize,
    pool: Vec<Task>,
}

impl IclGenerator {
    /// Validates the parameters and draws the pool of `T` tasks from `seed` (nothing is drawn for
    /// [`PoolSize::Infinite`]). Errors on `d = 0`, `T = 0`, invalid family parameters (NaN noise,
    /// `k` outside `[1, d]`, zero teacher width).
    pub fn new(family: TaskFamily, d: usize, pool_size: PoolSize, seed: u64) -> Result<Self> {
        family.validate(d)?;
        let pool = match pool_size {
            PoolSize::Finite(0) => {
                return Err(DatasetError::param("T", 0, "the task pool needs at least 1 task"));
            }
            PoolSize::Finite(t) => {
                let mut r = rng(seed ^ 0x9e37_79b9_7f4a_7c15);
                (0..t).map(|_| family.sample(d, &mut r)).collect()
            }
            PoolSize::Infinite => Vec::new(),
        };
        Ok(IclGenerator { family, d, pool_size, pool })
    }

    /// The task family.
    pub fn family(&self) -> TaskFamily {
        self.family
    }

    /// Input dimension `d`.
    pub fn d(&self) -> usize {
        self.d
    }

    /// The pool size `T`.
    pub fn pool_size(&self) -> PoolSize {
        self.pool_size
    }

    /// The pre-training task pool (empty for `T = infinity`).
    pub fn pool(&self) -> &[Task] {
        &self.pool
    }

    fn check(&self, batch: usize, n: usize) -> Result<()> {
        if batch == 0 {
            return Err(DatasetError::param("batch", batch, "at least one prompt is needed"));
        }
        if n == 0 {
            return Err(DatasetError::param("n", n, "a prompt needs at least 1 in-context example"));
        }
        Ok(())
    }

    fn fill<R: Rng + ?Sized>(
        &self,
        batch: usize,
        n: usize,
        rng: &mut R,
        mut task: impl FnMut(&mut R) -> (Option<usize>, Option<Task>),
    ) -> PromptBatch {
        let (p, d) = (n + 1, self.d);
        let mut x = Mat::<f64>::zeros(batch * p, d);
        let mut y = Mat::<f64>::zeros(batch * p, 1);
        let mut f = Mat::<f64>::zeros(batch * p, 1);
        let mut ids = Vec::with_capacity(batch);
        let noise = self.family.noise_std();
        let mut row = vec![0.0; d];
        for b in 0..batch {
            let (id, fresh) = task(rng);
            ids.push(id);
            let t = match (&fresh, id) {
                (Some(t), _) => t,
                (None, Some(i)) => &self.pool[i],
                (None, None) => unreachable!("a task is either fresh or from the pool"),
            };
            for i in 0..p {
                for v in row.iter_mut() {
                    *v = gauss(rng);
                }
                let r = b * p + i;
                for (j, &v) in row.iter().enumerate() {
                    x[(r, j)] = v;
                }
                let fv = t.eval(&row);
                f[(r, 0)] = fv;
                y[(r, 0)] = if i < n && noise > 0.0 { fv + noise * gauss(rng) } else { fv };
            }
        }
        PromptBatch { x, y, f, batch, n_context: n, task_ids: ids }
    }

    /// `batch` pre-training prompts with `n` in-context examples: each task drawn uniformly from
    /// the pool (or fresh for `T = infinity`), all randomness from `rng`.
    pub fn train_batch<R: Rng + ?Sized>(&self, batch: usize, n: usize, rng: &mut R) -> Result<PromptBatch> {
        self.check(batch, n)?;
        let family = self.family;
        let d = self.d;
        Ok(match self.pool_size {
            PoolSize::Finite(t) => self.fill(batch, n, rng, |r| (Some(r.random_range(0..t)), None)),
            PoolSize::Infinite => self.fill(batch, n, rng, |r| (None, Some(family.sample(d, r)))),
        })
    }

    /// `batch` evaluation prompts with fresh tasks (never from the pool), seeded.
    pub fn eval_batch(&self, batch: usize, n: usize, seed: u64) -> Result<PromptBatch> {
        self.check(batch, n)?;
        let family = self.family;
        let d = self.d;
        let mut r = rng(seed ^ 0x5851_f42d_4c95_7f2d);
        Ok(self.fill(batch, n, &mut r, |r| (None, Some(family.sample(d, r)))))
    }
}

/// Fails when any entry of `values` is NaN or infinite (`what` names the input in the message).
pub fn check_finite(what: &str, values: &[f64]) -> Result<()> {
    if values.is_empty() {
        return Err(DatasetError::empty(what));
    }
    if let Some((i, &v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(DatasetError::NonFinite {
            path: std::path::PathBuf::from(what),
            location: format!("entry {i}"),
            value: v,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lin() -> TaskFamily {
        TaskFamily::Linear { noise_std: 0.0 }
    }

    #[test]
    fn deterministic_by_seed() {
        for fam in [lin(), TaskFamily::TeacherStudent { width: 8, noise_std: 0.1 }] {
            let g1 = IclGenerator::new(fam, 3, PoolSize::Finite(5), 11).unwrap();
            let g2 = IclGenerator::new(fam, 3, PoolSize::Finite(5), 11).unwrap();
            let a = g1.train_batch(6, 7, &mut rng(2)).unwrap();
            let b = g2.train_batch(6, 7, &mut rng(2)).unwrap();
            assert_eq!(a, b);
            let c = g2.train_batch(6, 7, &mut rng(3)).unwrap();
            assert_ne!(a.x, c.x);
            assert_eq!(g1.eval_batch(3, 4, 9).unwrap(), g2.eval_batch(3, 4, 9).unwrap());
            let g3 = IclGenerator::new(fam, 3, PoolSize::Finite(5), 12).unwrap();
            assert_ne!(g1.pool(), g3.pool());
        }
    }

    #[test]
    fn labels_follow_the_task() {
        let g = IclGenerator::new(lin(), 4, PoolSize::Finite(3), 0).unwrap();
        let b = g.train_batch(5, 6, &mut rng(1)).unwrap();
        for p in 0..5 {
            let Task::Linear { beta } = &g.pool()[b.task_ids[p].unwrap()] else { panic!() };
            for i in 0..7 {
                let r = p * 7 + i;
                let v: f64 = (0..4).map(|j| beta[j] * b.x[(r, j)]).sum();
                assert!((v - b.y[(r, 0)]).abs() < 1e-12);
            }
        }
        // noisy context, clean query
        let fam = TaskFamily::Linear { noise_std: 0.5 };
        let g = IclGenerator::new(fam, 4, PoolSize::Infinite, 0).unwrap();
        let b = g.train_batch(4, 6, &mut rng(1)).unwrap();
        assert!(b.task_ids.iter().all(Option::is_none));
        for p in 0..4 {
            assert_eq!(b.y[(p * 7 + 6, 0)], b.f[(p * 7 + 6, 0)]);
            assert_ne!(b.y[(p * 7, 0)], b.f[(p * 7, 0)]);
        }
    }

    #[test]
    fn sparse_tasks_have_k_nonzeros() {
        let fam = TaskFamily::SparseLinear { k: 2, noise_std: 0.0 };
        let g = IclGenerator::new(fam, 6, PoolSize::Finite(20), 3).unwrap();
        for t in g.pool() {
            let Task::Linear { beta } = t else { panic!() };
            assert_eq!(beta.iter().filter(|b| **b != 0.0).count(), 2);
        }
    }

    #[test]
    fn finite_pool_uses_only_pool_tasks_and_eval_is_fresh() {
        let g = IclGenerator::new(lin(), 2, PoolSize::Finite(4), 5).unwrap();
        let b = g.train_batch(200, 3, &mut rng(0)).unwrap();
        let mut seen = [false; 4];
        for id in &b.task_ids {
            seen[id.unwrap()] = true;
        }
        assert!(seen.iter().all(|s| *s));
        let e = g.eval_batch(10, 3, 0).unwrap();
        assert!(e.task_ids.iter().all(Option::is_none));
    }

    #[test]
    fn prefix_keeps_points_and_uses_clean_target() {
        let fam = TaskFamily::Linear { noise_std: 1.0 };
        let g = IclGenerator::new(fam, 3, PoolSize::Infinite, 0).unwrap();
        let b = g.eval_batch(3, 8, 1).unwrap();
        let p = b.prefix(4).unwrap();
        assert_eq!((p.x.nrows(), p.n_context), (15, 4));
        for k in 0..3 {
            for i in 0..5 {
                for j in 0..3 {
                    assert_eq!(p.x[(k * 5 + i, j)], b.x[(k * 9 + i, j)]);
                }
            }
            assert_eq!(p.y[(k * 5 + 4, 0)], b.f[(k * 9 + 4, 0)]);
            assert_eq!(p.y[(k * 5 + 3, 0)], b.y[(k * 9 + 3, 0)]);
        }
        assert_eq!(b.prefix(8).unwrap(), b);
        assert!(b.prefix(0).is_err());
        assert!(b.prefix(9).is_err());
    }

    #[test]
    fn bad_input_is_an_error_with_a_message() {
        let e = IclGenerator::new(lin(), 0, PoolSize::Infinite, 0).unwrap_err().to_string();
        assert!(e.contains("d = 0"), "{e}");
        let e = IclGenerator::new(lin(), 2, PoolSize::Finite(0), 0).unwrap_err().to_string();
        assert!(e.contains("T = 0"), "{e}");
        let nan = TaskFamily::Linear { noise_std: f64::NAN };
        assert!(IclGenerator::new(nan, 2, PoolSize::Infinite, 0).unwrap_err().to_string().contains("NaN"));
        let g = IclGenerator::new(lin(), 2, PoolSize::Infinite, 0).unwrap();
        assert!(g.train_batch(3, 0, &mut rng(0)).unwrap_err().to_string().contains("n = 0"));
        assert!(g.eval_batch(0, 3, 0).is_err());
        let bad = TaskFamily::SparseLinear { k: 3, noise_std: 0.0 };
        assert!(IclGenerator::new(bad, 2, PoolSize::Infinite, 0).is_err());
        let bad = TaskFamily::TeacherStudent { width: 0, noise_std: 0.0 };
        assert!(IclGenerator::new(bad, 2, PoolSize::Infinite, 0).is_err());
        assert!(check_finite("y", &[1.0, f64::NAN]).unwrap_err().to_string().contains("NaN"));
        assert!(check_finite("y", &[]).is_err());
    }

    #[test]
    fn teacher_has_unit_order_variance() {
        let fam = TaskFamily::TeacherStudent { width: 8, noise_std: 0.0 };
        let g = IclGenerator::new(fam, 4, PoolSize::Infinite, 0).unwrap();
        let b = g.eval_batch(500, 4, 0).unwrap();
        let v = b.f.col(0).iter().map(|v| v * v).sum::<f64>() / b.f.nrows() as f64;
        assert!(v > 0.05 && v < 5.0, "{v}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn shapes_and_finiteness(d in 1usize..6, n in 1usize..10, b in 1usize..5, t in 1usize..5, seed in 0u64..1000) {
            let g = IclGenerator::new(TaskFamily::TeacherStudent { width: 3, noise_std: 0.1 }, d, PoolSize::Finite(t), seed).unwrap();
            let p = g.train_batch(b, n, &mut rng(seed)).unwrap();
            prop_assert_eq!(p.x.nrows(), b * (n + 1));
            prop_assert_eq!(p.x.ncols(), d);
            prop_assert_eq!(p.targets().len(), b);
            prop_assert!(p.x.as_ref().is_all_finite() && p.y.as_ref().is_all_finite());
            prop_assert!(p.task_ids.iter().all(|i| i.is_some_and(|i| i < t)));
        }
    }
}

//! Multi-index regression, Gaussian mixtures, encodings, preprocessing and metrics.
use datasets::synthetic::{MultiIndexTask, gaussian_mixture, multi_index};
use datasets::{Dataset, Standardizer, accuracy, argmax_rows, mse, one_hot, signed_one_hot, unit_norm_rows};
use faer::Mat;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn prod_task_exact(n in 1usize..60, d in 2usize..12, seed in any::<u64>()) {
        let data = multi_index(MultiIndexTask::Prod, n, d, seed).unwrap();
        prop_assert_eq!((data.n(), data.d(), data.c()), (n, d, 1));
        prop_assert!(!data.is_classification());
        for i in 0..n {
            prop_assert_eq!(data.y[(i, 0)], data.x[(i, 0)] * data.x[(i, 1)]);
        }
        prop_assert_eq!(&data, &multi_index(MultiIndexTask::Prod, n, d, seed).unwrap());
    }

    #[test]
    fn sparse3_task_exact(n in 1usize..60, d in 6usize..12, seed in any::<u64>()) {
        let data = multi_index(MultiIndexTask::Sparse3, n, d, seed).unwrap();
        for i in 0..n {
            let want = if data.x[(i, 5)] > 0.0 { data.x[(i, 0)] * data.x[(i, 1)] } else { 0.0 };
            prop_assert_eq!(data.y[(i, 0)], want);
        }
    }

    #[test]
    fn mixture_balanced(k in 2usize..6, per in 1usize..20, extra in 0usize..6, d in 1usize..8, seed in any::<u64>()) {
        let extra = extra % k;
        let n = k * per + extra;
        let data = gaussian_mixture(n, d, k, 3.0, seed).unwrap();
        let counts = data.class_counts().unwrap();
        prop_assert_eq!(counts.len(), k);
        let (lo, hi) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
        prop_assert!(hi - lo <= 1);
        prop_assert_eq!(counts.iter().sum::<usize>(), n);
        prop_assert_eq!(data.y.clone(), one_hot(data.labels.as_ref().unwrap(), k).unwrap());
    }

    #[test]
    fn standardizer_normalises(n in 2usize..40, d in 1usize..6, seed in any::<u64>()) {
        let x = linalg::random::gaussian_mat(n, d, seed);
        let x = Mat::from_fn(n, d, |i, j| 5.0 + (j as f64 + 1.0) * 3.0 * x[(i, j)]);
        let s = Standardizer::fit(x.as_ref()).unwrap();
        let z = s.transform(x.as_ref()).unwrap();
        for j in 0..d {
            let m = z.col(j).iter().sum::<f64>() / n as f64;
            let v = z.col(j).iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n as f64;
            prop_assert!(m.abs() < 1e-10, "mean {}", m);
            prop_assert!((v - 1.0).abs() < 1e-10, "var {}", v);
        }
    }

    #[test]
    fn unit_rows(n in 1usize..20, d in 1usize..6, seed in any::<u64>()) {
        let x = linalg::random::gaussian_mat(n, d, seed);
        let u = unit_norm_rows(x.as_ref());
        for i in 0..n {
            prop_assert!((u.row(i).norm_l2() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn one_hot_accuracy_is_one(labels in proptest::collection::vec(0usize..7, 1..50)) {
        let y = one_hot(&labels, 7).unwrap();
        prop_assert_eq!(argmax_rows(y.as_ref()), labels.clone());
        prop_assert_eq!(accuracy(y.as_ref(), &labels).unwrap(), 1.0);
        let s = signed_one_hot(&labels, 7).unwrap();
        prop_assert_eq!(accuracy(s.as_ref(), &labels).unwrap(), 1.0);
        for i in 0..labels.len() {
            prop_assert_eq!(y.row(i).sum(), 1.0);
            prop_assert_eq!(s.row(i).sum(), -5.0);
        }
    }

    #[test]
    fn split_partitions(n in 2usize..80, r in 0.05f64..0.95, seed in any::<u64>()) {
        let x = Mat::from_fn(n, 1, |i, _| i as f64);
        let data = Dataset::new("idx", x.clone(), x).unwrap();
        match data.train_test_split(r, seed) {
            Ok((tr, te)) => {
                prop_assert_eq!(tr.n(), (r * n as f64).floor() as usize);
                prop_assert_eq!(tr.n() + te.n(), n);
                let mut all: Vec<usize> = tr.x.col(0).iter().chain(te.x.col(0).iter()).map(|v| *v as usize).collect();
                all.sort();
                prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
                let (tr2, _) = data.train_test_split(r, seed).unwrap();
                prop_assert_eq!(tr2, tr);
            }
            Err(_) => prop_assert_eq!((r * n as f64).floor() as usize, 0),
        }
    }
}

#[test]
fn multi_index_errors() {
    assert!(multi_index(MultiIndexTask::Prod, 10, 1, 0).is_err());
    assert!(multi_index(MultiIndexTask::Sparse3, 10, 5, 0).is_err());
    assert!(multi_index(MultiIndexTask::Prod, 0, 5, 0).is_err());
    assert_eq!(MultiIndexTask::Sparse3.relevant_coordinates(), &[0, 1, 5]);
}

#[test]
fn mixture_is_separable_when_far_apart() {
    // With large separation, nearest-class-mean classification is nearly perfect.
    let data = gaussian_mixture(300, 10, 3, 20.0, 7).unwrap();
    let labels = data.labels.as_ref().unwrap();
    let mut means = Mat::<f64>::zeros(3, 10);
    let counts = data.class_counts().unwrap();
    for i in 0..300 {
        for j in 0..10 {
            means[(labels[i], j)] += data.x[(i, j)] / counts[labels[i]] as f64;
        }
    }
    let scores =
        Mat::from_fn(300, 3, |i, k| -(0..10).map(|j| (data.x[(i, j)] - means[(k, j)]).powi(2)).sum::<f64>());
    assert!(accuracy(scores.as_ref(), labels).unwrap() > 0.99);
}

#[test]
fn metric_errors() {
    let p = Mat::<f64>::zeros(3, 2);
    assert!(accuracy(p.as_ref(), &[0, 1]).is_err());
    assert!(mse(p.as_ref(), Mat::<f64>::zeros(2, 2).as_ref()).is_err());
    assert_eq!(mse(p.as_ref(), Mat::<f64>::ones(3, 2).as_ref()).unwrap(), 1.0);
}

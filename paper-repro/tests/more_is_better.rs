//! End-to-end quick run of `more-is-better`: the theory matches the experiment, optimally tuned
//! risk never increases with k or n, the ridgeless risk peaks at k = n, overfitting is obligatory;
//! bad arguments are clean errors.
use std::path::Path;
use std::process::Output;

mod common;
use common::out_dir;

const BIN: &str = env!("CARGO_BIN_EXE_more-is-better");

fn run(args: &[&str], out: &Path) -> Output {
    common::command(BIN, args, out).output().expect("binary runs")
}

fn csv(path: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).expect("csv written");
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(|c| c.parse::<f64>().unwrap_or(f64::NAN)).collect())
        .collect()
}

#[test]
fn quick_run_reproduces_the_phenomena() {
    let out = out_dir("quick");
    let o = run(&["--quick", "--quiet"], &out);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{text}");
    let dir = out.join("more-is-better");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for id in [
        "theory_matches_experiment",
        "more_features_better",
        "more_data_better",
        "double_descent_at_interpolation",
        "overfitting_obligatory",
    ] {
        let c =
            s["claims"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id}"));
        assert!(c["passed"].as_bool().unwrap(), "claim failed: {c}");
    }
    // k sweep at n = 64: columns n, k, ridge, test_mean, test_se, test_median, test_theory, ...
    let rows = csv(&dir.join("k_sweep.csv"));
    let n = 64.0;
    let ridgeless: Vec<&Vec<f64>> = rows.iter().filter(|r| r[2] == 0.0).collect();
    let peak = ridgeless.iter().max_by(|a, b| a[5].total_cmp(&b[5])).unwrap();
    assert_eq!(peak[1], n, "ridgeless peak not at k = n");
    // theory within 10% or 3 SE at every ridge >= 1e-3
    for r in rows.iter().filter(|r| r[2] >= 1e-3) {
        let diff = (r[3] - r[6]).abs();
        assert!(diff <= 0.1 * r[6] || diff <= 3.0 * r[4], "{r:?}");
    }
    // optimally tuned theory risk non-increasing in k and n
    for f in ["optimal_vs_k.csv", "optimal_vs_n.csv"] {
        let opt: Vec<f64> = csv(&dir.join(f)).iter().map(|r| r[2]).collect();
        assert!(opt.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-9)), "{f}: {opt:?}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

fn assert_clean_failure(args: &[&str], word: &str) {
    let out = out_dir("bad");
    let o = run(args, &out);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "{args:?} succeeded: {text}");
    assert_ne!(o.status.code(), Some(101), "{args:?} panicked: {text}");
    assert!(!text.contains("panicked"), "{args:?}: {text}");
    assert!(text.to_lowercase().contains(word), "{args:?}: message lacks '{word}': {text}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_arguments_are_clean_errors() {
    assert_clean_failure(&["--trials", "1"], "trials");
    assert_clean_failure(&["--n", "0"], "--n");
    assert_clean_failure(&["--alpha", "0.5"], "alpha");
    assert_clean_failure(&["--noise", "-1"], "noise");
    assert_clean_failure(&["--max-size", "100"], "max-size");
    assert_clean_failure(&["--bandwidth", "nan"], "bandwidth");
    assert_clean_failure(&["--modes", "5"], "modes");
}

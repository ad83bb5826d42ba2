//! End-to-end quick run of `rkbs-mirror-descent`: the claims hold and the numbers in `summary.json`
//! show the phenomena; bad exponents are clean errors.
use std::path::Path;
use std::process::Output;

mod common;
use common::out_dir;

const BIN: &str = env!("CARGO_BIN_EXE_rkbs-mirror-descent");

fn run(args: &[&str], out: &Path) -> Output {
    common::command(BIN, args, out).output().expect("binary runs")
}

#[test]
fn quick_run_reproduces_the_claims() {
    let out = out_dir("quick");
    let o = run(&["--quick", "--strict", "--quiet"], &out);
    common::assert_success(&o);
    let dir = out.join("rkbs-mirror-descent");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let claims = s["claims"].as_array().unwrap();
    for id in ["linear_rate", "constrained_rate", "p2_is_kernel_gd", "small_p_sparser"] {
        let c = claims.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("claim {id} missing"));
        assert!(c["passed"].as_bool().unwrap(), "{c}");
    }
    // linear rate: every p converges geometrically, within its bound
    let rates = s["linear_rate"].as_array().unwrap();
    let ps: Vec<f64> = rates.iter().map(|r| r["p"].as_f64().unwrap()).collect();
    assert_eq!(ps, vec![1.1, 1.5, 2.0, 3.0]);
    for r in rates {
        let (fit, bound) = (r["fitted_rate"].as_f64().unwrap(), r["bound_rate"].as_f64().unwrap());
        assert!(fit < 1.0 && fit <= bound, "{r}");
        assert!(r["decades"].as_f64().unwrap() >= 6.0, "{r}");
    }
    // constrained: O(1/sqrt(T)) in the tail
    let e = s["constrained_exponent"].as_f64().unwrap();
    assert!((-0.7..=-0.4).contains(&e), "exponent {e}");
    // sparsity and p = 2 rows
    let rows = s["iterations"].as_array().unwrap();
    let sparse: Vec<&serde_json::Value> = rows.iter().filter(|r| r["experiment"] == "sparsity").collect();
    assert_eq!(sparse.len(), 2);
    let (small, two) = (sparse[0], sparse[1]);
    assert!(small["measured"].as_f64().unwrap() < two["measured"].as_f64().unwrap());
    assert!(small["extra"].as_f64().unwrap() < two["extra"].as_f64().unwrap());
    let gd = rows.iter().find(|r| r["experiment"] == "p2_kernel_gd").unwrap();
    assert!(gd["measured"].as_f64().unwrap() <= 1e-10);
    for f in ["linear_rate.svg", "constrained_rate.svg", "sparsity.svg", "linear_rate.csv"] {
        assert!(dir.join(f).exists(), "{f} not written");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_exponents_are_clean_errors() {
    for p in ["1", "0.5", "inf", "NaN", "2.5"] {
        let out = out_dir("bad");
        let o = run(&["--quick", "--p", p], &out);
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success(), "--p {p} accepted: {text}");
        assert_ne!(o.status.code(), Some(101), "--p {p} panicked: {text}");
        assert!(!text.contains("panicked") && text.contains("--p"), "--p {p}: {text}");
        let _ = std::fs::remove_dir_all(&out);
    }
    let out = out_dir("bad-radius");
    let o = run(&["--quick", "--radius", "0"], &out);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--radius"));
    let _ = std::fs::remove_dir_all(&out);
}

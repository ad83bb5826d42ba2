//! End-to-end runs of the `lin-rfm` binary: quick mode reproduces the claims (`--strict`), a single
//! instance is recovered, and bad input is a clean error (a message and a non-zero exit, no panic).
use std::path::Path;
use std::process::Output;

mod common;
use common::out_dir;

const BIN: &str = env!("CARGO_BIN_EXE_lin-rfm");

fn run(args: &[&str], out: &Path) -> Output {
    common::run(BIN, args, out)
}

fn summary(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("lin-rfm").join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn quick_run_reproduces_the_claims() {
    let out = out_dir("quick");
    let o = run(&["--quick", "--strict", "--quiet"], &out);
    common::assert_success(&o);
    let s = summary(&out);
    let claims = s["claims"].as_array().unwrap();
    for id in [
        "recovers_low_rank",
        "beats_nuclear_norm_at_low_samples",
        "svd_free_faster_than_irls",
        "irls_equivalence",
        "beats_deep_linear_network",
    ] {
        let c = claims.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("claim {id} missing"));
        assert!(c["passed"].as_bool().unwrap(), "claim failed: {c}");
    }
    // the phenomenon itself: lin-RFM alpha = 1 completes the headline instance, SoftImpute does not
    let head = s["headline"].as_array().unwrap();
    let lin = head[0]["test_rel_err"].as_f64().unwrap();
    let soft = head.last().unwrap()["test_rel_err"].as_f64().unwrap();
    assert!(lin <= 0.05 && soft > 0.05, "lin-RFM {lin}, SoftImpute {soft}");
    // the SVD-free iteration is cheaper than one with an eigendecomposition
    let race = s["speed_race"].as_array().unwrap();
    assert!(race[0]["seconds_per_iter"].as_f64().unwrap() < race[1]["seconds_per_iter"].as_f64().unwrap());
    // momentum (the third row) reaches the target error in fewer iterations than plain lin-RFM
    let hit = |r: &serde_json::Value| r["iters_to_target"].as_u64().expect("reaches relative error 1e-2");
    assert!(race[2]["method"].as_str().unwrap().contains("momentum"));
    assert!(hit(&race[2]) < hit(&race[0]), "momentum {} vs plain {}", race[2], race[0]);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn single_instance_is_recovered() {
    let out = out_dir("single");
    let o = run(
        &[
            "--d1",
            "120",
            "--d2",
            "90",
            "--rank",
            "2",
            "--obs-frac",
            "0.3",
            "--alpha",
            "0.5",
            "--strict",
            "--quiet",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    let err = s["result"]["test_rel_err"].as_f64().unwrap();
    assert!(err < 1e-2, "relative error {err}");
    assert!(s["claims"][0]["evidence"].as_str().unwrap().contains("iterations"));
    let _ = std::fs::remove_dir_all(&out);
}

fn assert_clean_failure(args: &[&str], words: &[&str]) {
    let out = out_dir("bad");
    let o = run(args, &out);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "{args:?} succeeded on bad input: {text}");
    assert!(!text.contains("panicked"), "{args:?} panicked: {text}");
    assert_ne!(o.status.code(), Some(101), "{args:?}: {text}");
    for w in words {
        assert!(text.to_lowercase().contains(&w.to_lowercase()), "{args:?}: message lacks '{w}': {text}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_arguments_are_clean_errors() {
    assert_clean_failure(&["--rank", "600", "--d1", "500", "--d2", "500"], &["rank"]);
    assert_clean_failure(&["--rank", "5", "--d1", "5", "--d2", "8"], &["rank"]);
    assert_clean_failure(&["--alpha", "0"], &["alpha"]);
    assert_clean_failure(&["--alpha", "-1"], &["alpha"]);
    assert_clean_failure(&["--alpha", "nan"], &["alpha"]);
    assert_clean_failure(&["--obs-frac", "0"], &["obs-frac"]);
    assert_clean_failure(&["--obs-frac", "1.5"], &["obs-frac"]);
    assert_clean_failure(&["--method", "magic"], &["magic"]);
    assert_clean_failure(&["--d1", "0"], &["d1"]);
    assert_clean_failure(&["--iters", "0"], &["iters"]);
    assert_clean_failure(&["--momentum", "1"], &["momentum"]);
    assert_clean_failure(&["--momentum", "-0.5"], &["momentum"]);
    // too few observations to hold out a validation set
    assert_clean_failure(&["--d1", "3", "--d2", "3", "--rank", "1", "--obs-frac", "0.12"], &["empty"]);
}

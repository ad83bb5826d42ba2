//! End-to-end runs of `nystrom-precond`: quick mode on the vendored MNIST-10k (no ../shared data
//! needed) must show the phenomenon, and bad input must give a clear message and a non-zero exit.
use std::path::Path;
use std::process::Output;

mod common;
use common::out_dir;

fn run(args: &[&str], out: &Path) -> Output {
    common::command(env!("CARGO_BIN_EXE_nystrom-precond"), args, out)
        .arg("--no-plots")
        .env("AGOP_DATA_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../data"))
        .output()
        .expect("binary runs")
}

#[test]
fn quick_run_shows_the_phenomenon() {
    let out = out_dir("nystrom");
    let o = run(&["--quick", "--strict", "--quiet"], &out);
    common::assert_success(&o);
    let text = std::fs::read_to_string(out.join("nystrom-precond").join("summary.json")).unwrap();
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = s["claims"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in ["nystrom_matches_exact_at_log_size", "speedup_tracks_eigen_ratio", "all_solvers_agree"] {
        assert!(ids.contains(&id), "missing claim {id}");
    }
    for c in s["claims"].as_array().unwrap() {
        assert!(c["passed"].as_bool().unwrap(), "claim failed: {c}");
    }
    // speed-up of exact P_q over plain GD grows with lambda_1 / lambda_(q+1) and stays within 2x of it
    let sp = s["speedup"].as_array().unwrap();
    let mut last = 0.0;
    for r in sp {
        let (ratio, got) = (r["eigen_ratio"].as_f64().unwrap(), r["speedup"].as_f64().unwrap());
        assert!(got > last && got >= 0.5 * ratio && got <= 2.0 * ratio, "{r}");
        last = got;
    }
    // the exact preconditioner flattens the spectrum: kappa(P_q K) << kappa(K)
    let rows = s["nystrom_vs_exact"].as_array().unwrap();
    let kappa_exact = rows[0]["kappa"].as_f64().unwrap();
    assert!(kappa_exact * 10.0 < s["kappa_k_subset"].as_f64().unwrap());
    // Nystrom kappa falls towards the exact one as s grows
    let kap: Vec<f64> = rows[1..].iter().filter_map(|r| r["kappa"].as_f64()).collect();
    assert!(kap.first().unwrap() > kap.last().unwrap(), "{kap:?}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_input_is_rejected_with_a_message() {
    for args in [
        &["--q", "500", "--s", "100"][..],
        &["--bandwidth", "0"],
        &["--bandwidth", "-2"],
        &["--s", "100000000"],
        &["--dataset", "nope"],
        &["--n", "10"],
        &["--kernel", "quadratic"],
    ] {
        let out = out_dir("nystrom-bad");
        let o = run(args, &out);
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success(), "{args:?} exited 0");
        assert_ne!(o.status.code(), Some(101), "{args:?} panicked: {text}");
        assert!(text.contains("error"), "{args:?}: {text}");
        assert!(!text.contains("panicked"), "{args:?}: {text}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

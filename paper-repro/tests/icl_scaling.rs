//! End-to-end quick run of the `icl-scaling` binary: every claim passes with `--strict`, the
//! summary holds the measured points (psi identical for every T, least squares exact on linear
//! regression once n >= d). Bad input (n = 0, d = 0, T = 0, NaN) is a clean error.
use std::path::Path;
use std::process::Output;

mod common;
use common::out_dir;

fn run(args: &[&str], out: &Path) -> Output {
    common::run(env!("CARGO_BIN_EXE_icl-scaling"), args, out)
}

#[test]
fn icl_scaling_quick_passes_its_claims() {
    let out = out_dir("icl-scaling");
    let o = run(&["--quick", "--strict", "--quiet"], &out);
    common::assert_success(&o);
    let s = common::summary(&out, "icl-scaling");
    for id in [
        "mlp_vectorized_task_scales_only",
        "psi_context_scales_only",
        "mlp_on_psi_and_vec_both",
        "sgpt_matches_gpt",
        "sgpt_context_scales",
    ] {
        assert!(common::claim(&s, id), "claim {id} failed: {}", s["claims"]);
    }
    let points = s["points"].as_array().expect("points");
    let get = |model: &str, pool: &str, n: u64| -> f64 {
        points
            .iter()
            .find(|p| p["model"] == model && p["pool"] == pool && p["n"].as_u64() == Some(n))
            .unwrap_or_else(|| panic!("{model} T={pool} n={n}"))["nmse"]
            .as_f64()
            .unwrap()
    };
    // psi has no parameters: the same error for every T, and it improves with n
    let psi = "psi (l1 attn)";
    assert_eq!(get(psi, "16", 4), get(psi, "inf", 4));
    assert!(get(psi, "inf", 16) < get(psi, "inf", 4));
    // least squares is exact on noiseless linear regression with n >= d
    let d = s["config"]["d"].as_u64().unwrap();
    assert!(get("least squares", "-", 16) < 1e-6, "d = {d}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn icl_scaling_bad_input_is_a_clear_error() {
    let out = out_dir("icl-scaling-bad");
    for (args, word) in [
        (&["--quick", "--n-values", "0,4"][..], "n = 0"),
        (&["--quick", "--d", "0"][..], "d = 0"),
        (&["--quick", "--pool-sizes", "0,inf"][..], "T = 0"),
        (&["--quick", "--noise", "NaN"][..], "noise"),
        (&["--quick", "--pool-sizes", "16,lots"][..], "lots"),
        (&["--quick", "--task", "quadratic"][..], "quadratic"),
        (&["--quick", "--heads", "3"][..], "heads"),
        (&["--quick", "--sgpt-lr", "0"][..], "sgpt-lr"),
        (&["--quick", "--sgpt-scores", "cubic"][..], "cubic"),
    ] {
        let o = run(args, &out);
        let text = common::assert_clean_error(&o, &format!("{args:?}"));
        assert!(text.contains(word), "{args:?}: {text}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

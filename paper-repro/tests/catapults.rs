//! End-to-end quick run of the `catapults` binary: every claim passes with `--strict`, and the
//! summary shows the phenomenon (spike above the edge, none below, lambda_max drops below 2/lr,
//! more catapults and better AGOP alignment with small batches). Bad input is a clean error.
use std::path::Path;
use std::process::Output;

mod common;
use common::out_dir;

fn run(args: &[&str], out: &Path) -> Output {
    common::run(env!("CARGO_BIN_EXE_catapults"), args, out)
}

#[test]
fn catapults_quick_shows_the_phenomenon() {
    let out = out_dir("catapults");
    let o = run(&["--quick", "--strict", "--quiet"], &out);
    common::assert_success(&o);
    let text = std::fs::read_to_string(out.join("catapults/summary.json")).expect("summary.json");
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = s["claims"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    for id in [
        "no_spike_below_edge",
        "catapult_above_edge",
        "spike_in_top_eigenspace",
        "eigenvalue_drops_below_2_over_lr",
        "smaller_batch_more_catapults",
        "catapults_improve_alignment",
    ] {
        assert!(ids.contains(&id), "claim {id} missing");
    }
    for c in s["claims"].as_array().unwrap() {
        assert!(c["passed"].as_bool().unwrap(), "claim failed: {c}");
    }
    // GD: no spike below the edge, a catapult that comes back with lr * lambda_max < 2 above it
    let gd = s["gd_runs"].as_array().unwrap();
    let below = gd.iter().find(|r| r["factor"].as_f64().unwrap() < 1.0).unwrap();
    assert!(below["spikes"].as_array().unwrap().is_empty());
    assert!(below["max_loss"].as_f64().unwrap() <= below["initial_loss"].as_f64().unwrap());
    let above = gd.iter().find(|r| r["factor"].as_f64().unwrap() == 1.5).unwrap();
    assert!(above["max_loss"].as_f64().unwrap() > 2.0 * above["initial_loss"].as_f64().unwrap());
    assert!(above["final_loss"].as_f64().unwrap() < above["initial_loss"].as_f64().unwrap());
    assert!(above["lr_times_final_lambda"].as_f64().unwrap() < 2.0);
    assert!(above["top_share"].as_f64().unwrap() > 0.8);
    // SGD: the smallest batch has more catapults and a better alignment than the largest
    let by_batch = s["sgd_by_batch"].as_array().unwrap();
    let (small, large) = (&by_batch[0], &by_batch[by_batch.len() - 1]);
    assert!(small["batch"].as_u64().unwrap() < large["batch"].as_u64().unwrap());
    assert!(small["catapults_mean"].as_f64().unwrap() > large["catapults_mean"].as_f64().unwrap());
    assert!(small["alignment_mean"].as_f64().unwrap() > large["alignment_mean"].as_f64().unwrap());
    assert!(small["alignment_mean"].as_f64().unwrap() > s["alignment_at_init"].as_f64().unwrap());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn catapults_bad_input_is_a_clear_error() {
    let out = out_dir("catapults-bad");
    for (args, word) in [
        (&["--width", "0"][..], "width"),
        (&["--sgd-lr-factor", "-1"][..], "sgd-lr-factor"),
        (&["--batch-sizes", "4,100000", "--quick"][..], "batch"),
    ] {
        let o = run(args, &out);
        let text = common::assert_clean_error(&o, &format!("{args:?}"));
        assert!(text.contains(word), "{args:?}: {text}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

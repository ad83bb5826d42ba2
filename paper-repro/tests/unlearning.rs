//! End-to-end quick run of the `unlearning` binary: every claim passes with `--strict`, the
//! summary shows the phenomenon (memorised before, forgotten after deliberate imagination with the
//! language model intact, gamma = 0 a no-op), and bad input is a clean error.
use std::path::Path;
use std::process::Output;

mod common;
use common::{claim, out_dir, summary};

fn run(args: &[&str], out: &Path) -> Output {
    common::run(env!("CARGO_BIN_EXE_unlearning"), args, out)
}

#[test]
fn unlearning_quick_forgets_the_secrets_and_keeps_the_language() {
    let out = out_dir("unlearning");
    let o = run(&["--quick", "--strict", "--quiet", "--seed", "3"], &out);
    assert!(
        o.status.success(),
        "stderr: {}\nstdout: {}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    let s = summary(&out, "unlearning");
    for id in [
        "pretraining_memorises",
        "di_forgets_secrets",
        "di_keeps_language",
        "di_keeps_format",
        "gradient_ascent_damages_language",
        "gamma_zero_changes_nothing",
    ] {
        assert!(claim(&s, id), "claim {id} failed: {}", s["claims"]);
    }
    let before = &s["before"];
    assert!(before["forget"]["exact"].as_f64().unwrap() >= 0.9);
    let runs = s["runs"].as_array().unwrap();
    // gamma = 0 leaves the model bit-identical; gamma > 0 changes it
    for r in runs {
        let g = r["gamma"].as_f64().unwrap();
        assert_eq!(r["unchanged"].as_bool().unwrap(), g == 0.0, "{}", r["method"]);
    }
    // the secret NLL rises with gamma for the focused method
    let nll = |g: f64| {
        runs.iter().find(|r| r["family"] == "di-focus" && r["gamma"].as_f64().unwrap() == g).unwrap()["after"]
            ["forget"]["secret_nll"]
            .as_f64()
            .unwrap()
    };
    assert!(nll(1.0) > nll(0.0) && nll(10.0) > nll(1.0));
    // the model was saved and can be loaded again
    let saved = out.join("unlearning/pretrained_model.json");
    assert!(saved.exists());
    let m: nn::Gpt = nn::params::load(&saved).unwrap();
    assert_eq!(m.config.n_layers, 2);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn unlearning_bad_input_is_a_clear_error() {
    let out = out_dir("unlearning-bad");
    for (args, word) in [
        (&["--gamma", "-1"][..], "gamma"),
        (&["--records", "0", "--quick"][..], "records"),
        (&["--window", "128", "--quick"][..], "context"),
        (&["--unlearn-lr", "0", "--quick"][..], "unlearn-lr"),
        (&["--pretrained", "/nonexistent/model.json", "--quick"][..], "model.json"),
    ] {
        let o = run(args, &out);
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(!text.contains("panicked"), "{args:?} panicked: {text}");
        assert!(text.contains(word), "{args:?}: {text}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

//! End-to-end quick run of the `unlearning` binary: every claim is reported, `--strict` fails exactly
//! when one fails, the summary shows the parts of the phenomenon that hold at this scale (memorised
//! before, forgetting grows with gamma, gamma = 0 is a no-op, gradient ascent wrecks the language
//! model), and bad input is a clean error.
use std::path::Path;
use std::process::Output;

mod common;
use common::{claim, out_dir, summary};

fn run(args: &[&str], out: &Path) -> Output {
    common::run(env!("CARGO_BIN_EXE_unlearning"), args, out)
}

#[test]
fn unlearning_quick_runs_and_reports_every_claim() {
    let out = out_dir("unlearning");
    let o = run(&["--quick", "--strict", "--quiet", "--seed", "3"], &out);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!text.contains("panicked"), "{text}");
    let s = summary(&out, "unlearning");
    let ids = [
        "pretraining_memorises",
        "di_forgets_secrets",
        "di_keeps_language",
        "di_keeps_format",
        "gradient_ascent_damages_language",
        "gamma_zero_changes_nothing",
    ];
    let passed: Vec<bool> = ids.iter().map(|id| claim(&s, id)).collect();
    // --strict exits non-zero exactly when a claim failed
    assert_eq!(o.status.success(), passed.iter().all(|&p| p), "{text}");
    // These parts of the phenomenon hold in quick mode; the DI claims on format, on the retained
    // perplexity and on the secret NLL are reported honestly (at this scale they pass or fail
    // with seed-dependent margins, see the module docs of the experiment).
    for id in ["pretraining_memorises", "gamma_zero_changes_nothing", "gradient_ascent_damages_language"] {
        assert!(claim(&s, id), "claim {id} failed: {}", s["claims"]);
    }
    // the teacher's imagination statistics are shares of the remaining mass
    let im = &s["teacher_imagination"];
    for k in ["digit_share", "own_digit_share", "own_digit_share_if_even", "top_alternative_not_digit"] {
        let v = im[k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{k} = {v}");
    }
    assert!(im["own_digit_share"].as_f64().unwrap() <= im["digit_share"].as_f64().unwrap() + 1e-12);
    let before = &s["before"];
    assert!(before["forget"]["exact"].as_f64().unwrap() >= 0.9);
    let runs = s["runs"].as_array().unwrap();
    // gamma = 0 leaves the model bit-identical; gamma > 0 changes it
    for r in runs {
        let g = r["gamma"].as_f64().unwrap();
        assert_eq!(r["unchanged"].as_bool().unwrap(), g == 0.0, "{}", r["method"]);
    }
    // forgetting grows with gamma for the focused method, and DI at gamma = 10 forgets more than
    // gamma = 1 while the held-out records stay at their level
    let get = |g: f64, key: &str| {
        runs.iter().find(|r| r["family"] == "di-focus" && r["gamma"].as_f64().unwrap() == g).unwrap()["after"]
            ["forget"][key]
            .as_f64()
            .unwrap()
    };
    assert!(get(1.0, "secret_nll") > get(0.0, "secret_nll"));
    assert!(get(10.0, "secret_nll") > get(1.0, "secret_nll"));
    assert!(get(10.0, "exact") < before["forget"]["exact"].as_f64().unwrap());
    // gradient ascent ends with a much worse language model than any DI run
    let ga = s["gradient_ascent"]["after"]["retain_ppl"].as_f64().unwrap();
    assert!(runs.iter().all(|r| r["after"]["retain_ppl"].as_f64().unwrap() < ga));
    // the model was saved and can be loaded again
    let saved = out.join("unlearning/pretrained_model.json");
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
        (&["--anchor", "-1", "--quick"][..], "anchor"),
        (&["--retain-weight", "-1", "--quick"][..], "retain-weight"),
        (&["--pretrained", "/nonexistent/model.json", "--quick"][..], "model.json"),
        (&["--layout", "middle", "--quick"][..], "layout"),
    ] {
        let o = run(args, &out);
        let text = common::assert_clean_error(&o, &format!("{args:?}"));
        assert!(text.contains(word), "{args:?}: {text}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

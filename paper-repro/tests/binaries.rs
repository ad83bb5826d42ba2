//! End-to-end runs of the paper binaries as a user runs them: quick mode with `--strict` (a failed
//! claim fails the test), and bad input (a clear message and a non-zero exit, never a panic).

mod common;
use common::{column, out_dir, run, summary};

#[test]
fn grokking_quick_shows_the_transition() {
    let out = out_dir("grokking");
    let o = run(env!("CARGO_BIN_EXE_grokking"), &["--quick", "--strict", "--quiet"], &out);
    common::assert_success(&o);
    let s = summary(&out, "grokking");
    for c in s["claims"].as_array().unwrap() {
        assert!(c["passed"].as_bool().unwrap(), "claim failed: {c}");
    }
    let test = column(&s, "test_acc");
    let train = column(&s, "train_acc");
    let dev = column(&s, "circulant_deviation");
    assert!(train.iter().all(|&a| a >= 0.999));
    assert!(test[..5].iter().all(|&a| a < 0.05), "{test:?}");
    assert!(*test.last().unwrap() > 0.9, "{test:?}");
    assert!(dev.last().unwrap() < &(0.3 * dev[0]));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn grokking_subtraction_and_multiplication_quick() {
    for op in ["sub", "mul"] {
        let out = out_dir(&format!("grokking-{op}"));
        let o =
            run(env!("CARGO_BIN_EXE_grokking"), &["--quick", "--op", op, "--iters", "20", "--quiet"], &out);
        assert!(o.status.success(), "{op}: {}", String::from_utf8_lossy(&o.stderr));
        let s = summary(&out, "grokking");
        let dev = column(&s, "circulant_deviation");
        let test = column(&s, "test_acc");
        assert!(dev.last().unwrap() < &(0.3 * dev[0]), "{op}: deviation {dev:?}");
        assert!(*test.last().unwrap() > 0.9, "{op}: test accuracy {test:?}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn rfm_quick_prod_learns_the_relevant_coordinates() {
    let out = out_dir("rfm-prod");
    let o = run(
        env!("CARGO_BIN_EXE_rfm"),
        &["--quick", "--strict", "--quiet", "--task", "prod", "--d", "20", "--iters", "3"],
        &out,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out, "rfm");
    let mse = column(&s, "test_mse");
    assert_eq!(mse.len(), 4);
    assert!(mse[3] < 0.5 * mse[0], "{mse:?}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn rfm_digits_kernel_machine_is_accurate() {
    let out = out_dir("rfm-digits");
    let o = run(env!("CARGO_BIN_EXE_rfm"), &["--dataset", "digits", "--iters", "1", "--quiet"], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out, "rfm");
    let acc = column(&s, "test_acc");
    assert!(acc[0] >= 0.98, "iteration-0 test accuracy {}", acc[0]);
    let _ = std::fs::remove_dir_all(&out);
}

fn assert_clean_failure(bin: &str, args: &[&str], words: &[&str]) {
    let out = out_dir("bad");
    let o = run(bin, args, &out);
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "{args:?} succeeded on bad input: {text}");
    assert!(!text.contains("panicked"), "{args:?} panicked: {text}");
    assert_ne!(o.status.code(), Some(101), "{args:?}: {text}");
    assert!(!text.trim().is_empty(), "{args:?}: no message");
    for w in words {
        assert!(text.to_lowercase().contains(&w.to_lowercase()), "{args:?}: message lacks '{w}': {text}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_grokking_arguments_are_clean_errors() {
    let g = env!("CARGO_BIN_EXE_grokking");
    assert_clean_failure(g, &["--prime", "10"], &["prime"]);
    assert_clean_failure(g, &["--prime", "1"], &["prime"]);
    assert_clean_failure(g, &["--train-fraction", "0"], &["train-fraction"]);
    assert_clean_failure(g, &["--train-fraction", "1.5"], &["train-fraction"]);
    assert_clean_failure(g, &["--bandwidth", "-1"], &["bandwidth"]);
    assert_clean_failure(g, &["--op", "pow"], &[]);
    assert_clean_failure(g, &["--kernel", "cubic"], &["kernel"]);
}

#[test]
fn bad_rfm_files_are_clean_errors() {
    let dir = out_dir("rfm-files");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().to_string()
    };
    let nan = write("nan.csv", "1,2\n3,nan\n5,6\n");
    let ragged = write("ragged.csv", "1,2\n3\n5,6\n");
    let empty = write("empty.csv", "");
    let y3 = write("y3.csv", "1\n0\n1\n");
    let y2 = write("y2.csv", "1\n0\n");
    let good = write("x.csv", "1,2\n3,4\n5,6\n");
    let r = env!("CARGO_BIN_EXE_rfm");
    let files = |x: &str, y: &str| -> Vec<String> {
        ["--x-train", x, "--y-train", y, "--x-test", &good, "--y-test", &y3]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    for (args, words) in [
        (files(&nan, &y3), vec!["nan"]),
        (files(&ragged, &y3), vec!["line 2"]),
        (files(&empty, &y3), vec!["empty"]),
        (files(&good, &y2), vec!["rows"]),
    ] {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        assert_clean_failure(r, &a, &words);
    }
    assert_clean_failure(r, &["--bandwidth", "-1"], &["bandwidth"]);
    assert_clean_failure(r, &["--ridge", "-0.5"], &["ridge"]);
    assert_clean_failure(r, &["--kernel", "nope"], &["kernel"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rfm_files_round_trip_and_saved_model_reloads() {
    let dir = out_dir("rfm-ok");
    std::fs::create_dir_all(&dir).unwrap();
    let mut xs = String::new();
    let mut ys = String::new();
    for i in 0..60 {
        let a = (i as f64 * 0.37).sin();
        let b = (i as f64 * 0.11).cos();
        xs.push_str(&format!("{a},{b},{}\n", (i % 7) as f64 / 7.0));
        ys.push_str(&format!("{}\n", a * b));
    }
    let p = |n: &str, t: &str| {
        let p = dir.join(n);
        std::fs::write(&p, t).unwrap();
        p.to_string_lossy().to_string()
    };
    let (x, y) = (p("x.csv", &xs), p("y.csv", &ys));
    let model = dir.join("model.json");
    let o = run(
        env!("CARGO_BIN_EXE_rfm"),
        &[
            "--x-train",
            &x,
            "--y-train",
            &y,
            "--x-test",
            &x,
            "--y-test",
            &y,
            "--iters",
            "2",
            "--bandwidth",
            "1",
            "--quiet",
            "--save-model",
            model.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: rfm::RfmModel = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(m.model.dim(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

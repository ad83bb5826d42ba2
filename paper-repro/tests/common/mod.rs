//! Helpers shared by the end-to-end tests of the paper binaries (each test file uses a subset).
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty output folder for one test (unique per test process and name).
pub fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paper-repro-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The `summary.json` a binary wrote under `out/<name>/`.
pub fn summary(out: &Path, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join(name).join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// One numeric column of the summary's `iterations` rows.
pub fn column(s: &serde_json::Value, key: &str) -> Vec<f64> {
    s["iterations"].as_array().expect("iterations").iter().map(|r| r[key].as_f64().expect(key)).collect()
}

/// Whether the claim `id` passed (panics when the summary has no such claim).
pub fn claim(s: &serde_json::Value, id: &str) -> bool {
    s["claims"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("claim {id}"))["passed"]
        .as_bool()
        .unwrap()
}

/// `bin args --out out`, ready for extra flags or environment.
pub fn command(bin: &str, args: &[&str], out: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args(args).arg("--out").arg(out);
    c
}

/// Runs `bin args --out out --no-plots` and returns its output.
pub fn run(bin: &str, args: &[&str], out: &Path) -> Output {
    command(bin, args, out).arg("--no-plots").output().expect("binary runs")
}

/// Asserts that the run succeeded, printing its stderr and stdout otherwise.
pub fn assert_success(o: &Output) {
    assert!(
        o.status.success(),
        "stderr: {}\nstdout: {}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
}

/// Asserts that a run on bad input (`what` describes it) failed cleanly: non-zero exit, no panic.
/// Returns stdout and stderr together, for checking the message.
pub fn assert_clean_error(o: &Output, what: &str) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "{what} succeeded: {text}");
    assert_ne!(o.status.code(), Some(101), "{what} panicked: {text}");
    assert!(!text.contains("panicked"), "{what} panicked: {text}");
    text
}

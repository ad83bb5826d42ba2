//! End-to-end quick runs of the `neural-collapse` and `conv-rfm` binaries (issue 8): the phenomenon
//! must show, and bad input must be a clear error, never a panic.

mod common;
use common::{claim, column, out_dir, run, summary};

#[test]
fn neural_collapse_quick_on_the_mixture_and_mnist() {
    for dataset in ["mixture", "mnist10k"] {
        let out = out_dir(&format!("nc-{dataset}"));
        let o = run(
            env!("CARGO_BIN_EXE_neural-collapse"),
            &["--quick", "--strict", "--quiet", "--dataset", dataset],
            &out,
        );
        assert!(o.status.success(), "{dataset}: {}", String::from_utf8_lossy(&o.stderr));
        let s = summary(&out, "neural-collapse");
        let proj = column(&s, "nc1_projected");
        let abl = column(&s, "ablation_nc1");
        assert_eq!(proj.len(), 8);
        // NC1 after the projection falls by 10x; the ablation does not
        assert!(proj[7] * 10.0 <= proj[0], "{dataset}: {proj:?}");
        assert!(abl[7] * 10.0 > abl[0], "{dataset}: {abl:?}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn conv_rfm_quick_beats_the_fixed_kernel_on_star() {
    let out = out_dir("conv-rfm");
    let o =
        run(env!("CARGO_BIN_EXE_conv-rfm"), &["--quick", "--quiet", "--star-only", "--n-test", "400"], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out, "conv-rfm");
    assert!(claim(&s, "convrfm_beats_fixed_kernel_on_local_signal"), "{}", s["claims"]);
    let acc = column(&s, "test_acc");
    assert!(acc.last().unwrap() - acc[0] >= 0.15, "{acc:?}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_input_is_a_clear_error() {
    let out = out_dir("bad");
    let cases: &[(&str, &[&str])] = &[
        (env!("CARGO_BIN_EXE_neural-collapse"), &["--depth", "0"]),
        (env!("CARGO_BIN_EXE_neural-collapse"), &["--n", "5"]),
        (env!("CARGO_BIN_EXE_neural-collapse"), &["--bandwidth", "nan"]),
        (env!("CARGO_BIN_EXE_conv-rfm"), &["--patch", "4"]),
        (env!("CARGO_BIN_EXE_conv-rfm"), &["--star-patch", "9"]),
        (env!("CARGO_BIN_EXE_conv-rfm"), &["--star-size", "4"]),
        (env!("CARGO_BIN_EXE_conv-rfm"), &["--noise", "-1"]),
        (env!("CARGO_BIN_EXE_conv-rfm"), &["--image-kernel", "bogus"]),
    ];
    for (bin, args) in cases {
        let o = run(bin, args, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert_ne!(o.status.code(), Some(101), "{args:?} panicked: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.trim().is_empty(), "{args:?}: no message");
    }
    let _ = std::fs::remove_dir_all(&out);
}

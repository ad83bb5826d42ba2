//! File loaders: CSV / npy / IDX error handling and round trips, and the real datasets.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use datasets::DatasetError;
use datasets::load::{
    self, find_data_file, load_csv_matrix, load_idx_images, load_idx_labels, load_matrix, load_npy_matrix,
};
use faer::Mat;
use flate2::Compression;
use flate2::write::GzEncoder;
use npyz::WriterBuilder;

/// A fresh temporary directory for one test (removed by the guard).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let k = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("datasets-test-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

// ------------------------------------------------------------------------------------------
// CSV
// ------------------------------------------------------------------------------------------

#[test]
fn csv_good_and_header() {
    let t = TempDir::new();
    let p = t.write("a.csv", b"1,2,3\n4,5,6\n");
    let m = load_csv_matrix(&p).unwrap();
    assert_eq!(m, faer::mat![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let p = t.write("h.csv", b"x1,x2\n-1.5,2e-3\n");
    assert_eq!(load_csv_matrix(&p).unwrap(), faer::mat![[-1.5, 0.002]]);
    let p = t.write("w.txt", b"1 2\n 3\t4 \n");
    assert_eq!(load_matrix(&p).unwrap(), faer::mat![[1.0, 2.0], [3.0, 4.0]]);
    let p = t.write("g.csv.gz", &gz(b"7,8\n9,10\n"));
    assert_eq!(load_matrix(&p).unwrap(), faer::mat![[7.0, 8.0], [9.0, 10.0]]);
}

#[test]
fn csv_nan_names_line_and_column() {
    let t = TempDir::new();
    for token in ["nan", "NaN"] {
        let p = t.write("nan.csv", format!("1,2\n3,4\n5,{token}\n").as_bytes());
        let e = load_csv_matrix(&p).unwrap_err();
        assert!(matches!(e, DatasetError::NonFinite { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.to_lowercase().contains("nan"), "{msg}");
        assert!(msg.contains("line 3, column 2"), "{msg}");
        assert!(msg.contains("nan.csv"), "{msg}");
    }
    let p = t.write("inf.csv", b"1,-inf\n");
    let msg = load_csv_matrix(&p).unwrap_err().to_string();
    assert!(msg.contains("inf") && msg.contains("line 1, column 2"), "{msg}");
}

#[test]
fn csv_ragged() {
    let t = TempDir::new();
    let p = t.write("r.csv", b"1,2,3\n4,5,6\n\n7,8\n");
    let e = load_csv_matrix(&p).unwrap_err();
    match &e {
        DatasetError::Ragged { line, expected, got, .. } => assert_eq!((*line, *expected, *got), (4, 3, 2)),
        other => panic!("unexpected {other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("line 4") && msg.contains("expected 3") && msg.contains("got 2"), "{msg}");
}

#[test]
fn csv_empty() {
    let t = TempDir::new();
    for (name, content) in [("e.csv", &b""[..]), ("b.csv", b"\n\n  \n"), ("h.csv", b"a,b,c\n")] {
        let p = t.write(name, content);
        let e = load_csv_matrix(&p).unwrap_err();
        assert!(matches!(e, DatasetError::Empty { .. }), "{name}: {e}");
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn csv_bad_token() {
    let t = TempDir::new();
    let p = t.write("bad.csv", b"1,2\n3,4\n5,abc\n");
    let e = load_csv_matrix(&p).unwrap_err();
    match &e {
        DatasetError::Parse { line, column, text, .. } => {
            assert_eq!((*line, *column, text.as_str()), (3, 2, "abc"));
        }
        other => panic!("unexpected {other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("\"abc\"") && msg.contains("line 3, column 2"), "{msg}");
}

#[test]
fn io_errors_name_the_file() {
    let e = load_csv_matrix(Path::new("/definitely/not/here.csv")).unwrap_err();
    assert!(matches!(e, DatasetError::Io { .. }));
    assert!(e.to_string().contains("/definitely/not/here.csv"));
    let t = TempDir::new();
    let p = t.write("bin.csv", &[0xff, 0xfe, 0x00, 0x01]);
    assert!(load_csv_matrix(&p).is_err());
}

// ------------------------------------------------------------------------------------------
// npy
// ------------------------------------------------------------------------------------------

fn npy_bytes<T: npyz::AutoSerialize + Copy>(values: &[T], shape: &[u64], order: npyz::Order) -> Vec<u8> {
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .order(order)
            .writer(&mut buf)
            .begin_nd()
            .unwrap();
        w.extend(values.iter().copied()).unwrap();
        w.finish().unwrap();
    }
    buf
}

#[test]
fn npy_round_trip_dtypes_and_orders() {
    let t = TempDir::new();
    let (n, d) = (4usize, 3usize);
    let want = Mat::from_fn(n, d, |i, j| (i * 10 + j) as f64);
    let c_order: Vec<f64> = (0..n * d).map(|k| want[(k / d, k % d)]).collect();
    let f_order: Vec<f64> = (0..n * d).map(|k| want[(k % n, k / n)]).collect();
    let shape = [n as u64, d as u64];
    for (vals, order) in [(&c_order, npyz::Order::C), (&f_order, npyz::Order::Fortran)] {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("f64", npy_bytes(vals, &shape, order)),
            ("f32", npy_bytes(&vals.iter().map(|v| *v as f32).collect::<Vec<_>>(), &shape, order)),
            ("u8", npy_bytes(&vals.iter().map(|v| *v as u8).collect::<Vec<_>>(), &shape, order)),
            ("i32", npy_bytes(&vals.iter().map(|v| *v as i32).collect::<Vec<_>>(), &shape, order)),
            ("i64", npy_bytes(&vals.iter().map(|v| *v as i64).collect::<Vec<_>>(), &shape, order)),
        ];
        for (dtype, bytes) in cases {
            let p = t.write(&format!("m_{dtype}.npy"), &bytes);
            assert_eq!(load_npy_matrix(&p).unwrap(), want, "{dtype} {order:?}");
            let pg = t.write(&format!("m_{dtype}.npy.gz"), &gz(&bytes));
            assert_eq!(load_matrix(&pg).unwrap(), want, "{dtype} {order:?} gz");
        }
    }
}

#[test]
fn npy_1d_and_errors() {
    let t = TempDir::new();
    let p = t.write("v.npy", &npy_bytes(&[1.5f64, -2.0, 3.0], &[3], npyz::Order::C));
    assert_eq!(load_npy_matrix(&p).unwrap(), faer::mat![[1.5], [-2.0], [3.0]]);

    let p = t.write("nan.npy", &npy_bytes(&[1.0f64, 2.0, f64::NAN, 4.0], &[2, 2], npyz::Order::C));
    let msg = load_npy_matrix(&p).unwrap_err().to_string();
    assert!(msg.contains("NaN") && msg.contains("row 1, column 0"), "{msg}");

    let p = t.write("3d.npy", &npy_bytes(&[0u8; 8], &[2, 2, 2], npyz::Order::C));
    let msg = load_npy_matrix(&p).unwrap_err().to_string();
    assert!(msg.contains("1-D or 2-D"), "{msg}");

    let p = t.write("empty.npy", &npy_bytes::<f64>(&[], &[0, 3], npyz::Order::C));
    assert!(matches!(load_npy_matrix(&p).unwrap_err(), DatasetError::Empty { .. }));

    let p = t.write("u16.npy", &npy_bytes(&[1u16, 2], &[2], npyz::Order::C));
    assert_eq!(load_npy_matrix(&p).unwrap(), faer::mat![[1.0], [2.0]]);

    let p = t.write("junk.npy", b"not an npy file at all");
    let msg = load_npy_matrix(&p).unwrap_err().to_string();
    assert!(msg.contains("junk.npy"), "{msg}");

    let full = npy_bytes(&[1.0f64; 6], &[2, 3], npyz::Order::C);
    let p = t.write("trunc.npy", &full[..full.len() - 5]);
    assert!(load_npy_matrix(&p).is_err());
}

// ------------------------------------------------------------------------------------------
// IDX
// ------------------------------------------------------------------------------------------

fn idx_images(n: u32, r: u32, c: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for v in [n, r, c] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..n * r * c).map(|k| (k % 256) as u8));
    b
}

#[test]
fn idx_round_trip_and_magic() {
    let t = TempDir::new();
    let p = t.write("img.idx", &idx_images(3, 2, 2));
    let m = load_idx_images(&p).unwrap();
    assert_eq!((m.nrows(), m.ncols()), (3, 4));
    assert_eq!(m[(2, 3)], 11.0);
    let pg = t.write("img.idx.gz", &gz(&idx_images(3, 2, 2)));
    assert_eq!(load_idx_images(&pg).unwrap(), m);

    let mut lab = vec![0, 0, 8, 1, 0, 0, 0, 3];
    lab.extend([7u8, 0, 9]);
    let pl = t.write("lab.idx", &lab);
    assert_eq!(load_idx_labels(&pl).unwrap(), vec![7, 0, 9]);

    // wrong magic: labels file read as images and vice versa
    let msg = load_idx_images(&pl).unwrap_err().to_string();
    assert!(msg.contains("magic") && msg.contains("0x00000803"), "{msg}");
    assert!(load_idx_labels(&p).is_err());
    // truncated data
    let mut short = idx_images(3, 2, 2);
    short.pop();
    let ps = t.write("short.idx", &short);
    let msg = load_idx_images(&ps).unwrap_err().to_string();
    assert!(msg.contains("12 data bytes"), "{msg}");
    let pt = t.write("tiny.idx", &[0, 0]);
    assert!(load_idx_labels(&pt).is_err());
    // zero images with absurd image dimensions: an error, not an overflow
    let mut zero = vec![0, 0, 8, 3, 0, 0, 0, 0];
    zero.extend_from_slice(&[0xff; 8]);
    let pz = t.write("zero.idx", &zero);
    assert!(load_idx_images(&pz).is_err());
}

// ------------------------------------------------------------------------------------------
// Finding files and checksums
// ------------------------------------------------------------------------------------------

#[test]
fn missing_lists_searched_paths() {
    let e = find_data_file("no-such-folder/no-such-file.bin").unwrap_err();
    let (searched, msg) = match &e {
        DatasetError::Missing { searched, .. } => (searched.clone(), e.to_string()),
        other => panic!("unexpected {other}"),
    };
    assert!(searched.len() >= 3, "{searched:?}");
    for p in &searched {
        assert!(p.ends_with("no-such-folder/no-such-file.bin"));
        assert!(msg.contains(&p.display().to_string()), "{msg}");
    }
    assert!(msg.contains("fetch-data.sh") && msg.contains(load::DATA_ENV), "{msg}");
}

#[test]
fn vendored_checksums() {
    for rel in ["sklearn/digits.csv.gz", "mnist10k/x_u8.npy.gz", "mnist10k/y_u8.npy"] {
        load::verify_data_file(rel).unwrap();
    }
    let p = find_data_file("mnist10k/y_u8.npy").unwrap();
    let e = load::verify_sha256(&p, &"0".repeat(64)).unwrap_err();
    assert!(matches!(e, DatasetError::Checksum { .. }), "{e}");
    assert_eq!(
        load::sha256_bytes(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

// ------------------------------------------------------------------------------------------
// Real datasets
// ------------------------------------------------------------------------------------------

#[test]
fn digits_dataset() {
    let d = load::digits().unwrap();
    assert_eq!((d.n(), d.d(), d.c()), (1797, 64, 10));
    assert_eq!(d.n_classes, Some(10));
    let counts = d.class_counts().unwrap();
    assert_eq!(counts.iter().sum::<usize>(), 1797);
    assert!(counts.iter().all(|&c| (170..=190).contains(&c)), "{counts:?}");
    let (lo, hi) = (0..64).fold((f64::MAX, f64::MIN), |(lo, hi), j| {
        d.x.col(j).iter().fold((lo, hi), |(lo, hi), v| (lo.min(*v), hi.max(*v)))
    });
    assert_eq!((lo, hi), (0.0, 16.0));
    assert!(d.x.col(0).iter().all(|v| v.fract() == 0.0));
}

#[test]
fn mnist10k_dataset() {
    let d = load::mnist10k().unwrap();
    assert_eq!((d.n(), d.d(), d.c()), (10000, 784, 10));
    let counts = d.class_counts().unwrap();
    assert!(counts.iter().all(|&c| (800..=1200).contains(&c)), "{counts:?}");
    let mut max = 0.0f64;
    for j in 0..784 {
        for &v in d.x.col(j).iter() {
            assert!((0.0..=1.0).contains(&v));
            max = max.max(v);
        }
    }
    assert_eq!(max, 1.0);
    // rows are sorted by label
    let labels = d.labels.as_ref().unwrap();
    assert!(labels.windows(2).all(|w| w[0] <= w[1]));
    // a shuffled split mixes the classes
    let (tr, _) = d.train_test_split(0.5, 0).unwrap();
    assert!(tr.class_counts().unwrap().iter().all(|&c| c > 300));
}

#[test]
fn fashion_mnist_if_available() {
    match load::fashion_mnist(false) {
        Ok(d) => {
            assert_eq!((d.n(), d.d(), d.c()), (10000, 784, 10));
            assert!(d.class_counts().unwrap().iter().all(|&c| c == 1000));
            assert!(d.x.col(400).iter().all(|v| (0.0..=1.0).contains(v)));
        }
        Err(DatasetError::Missing { what, .. }) => {
            eprintln!("skipping fashion_mnist test: {what} not available");
        }
        Err(other) => panic!("fashion_mnist failed: {other}"),
    }
}

#[test]
fn sklearn_tables_if_available() {
    for (name, n, d, k) in [("iris", 150, 4, 3), ("wine_data", 178, 13, 3), ("breast_cancer", 569, 30, 2)] {
        match load::sklearn_csv(name) {
            Ok(ds) => {
                assert_eq!((ds.n(), ds.d(), ds.c()), (n, d, k), "{name}");
                assert_eq!(ds.name, name);
            }
            Err(DatasetError::Missing { .. }) => eprintln!("skipping {name}: not available"),
            Err(other) => panic!("{name}: {other}"),
        }
    }
    assert!(load::sklearn_csv("../etc/passwd").is_err());
    match load::diabetes() {
        Ok(ds) => assert_eq!((ds.n(), ds.d(), ds.c()), (442, 10, 1)),
        Err(DatasetError::Missing { .. }) => eprintln!("skipping diabetes: not available"),
        Err(other) => panic!("diabetes: {other}"),
    }
}

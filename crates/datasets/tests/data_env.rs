//! `AGOP_DATA_DIR` is searched first. This file holds a single test because it sets an
//! environment variable (each file under tests/ is its own process).
use datasets::load::{DATA_ENV, data_dirs, find_data_file, load_npy_labels};

#[test]
fn env_dir_is_searched_first() {
    let dir = std::env::temp_dir().join(format!("datasets-env-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("mnist10k")).unwrap();
    // a 1-D uint8 .npy with labels [3, 1]
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    npy.extend_from_slice(&[3, 1]);
    std::fs::write(dir.join("mnist10k/y_u8.npy"), &npy).unwrap();

    // SAFETY: this is the only test in this process, so no other thread reads the environment.
    unsafe { std::env::set_var(DATA_ENV, &dir) };
    assert_eq!(data_dirs()[0], dir);
    let found = find_data_file("mnist10k/y_u8.npy").unwrap();
    assert_eq!(found, dir.join("mnist10k/y_u8.npy"));
    assert_eq!(load_npy_labels(&found).unwrap(), vec![3, 1]);
    // files absent from the env dir still come from the other directories
    assert!(find_data_file("sklearn/digits.csv.gz").is_ok());
    let e = find_data_file("nothing/here.csv").unwrap_err();
    assert!(e.to_string().contains(&dir.join("nothing/here.csv").display().to_string()));
    unsafe { std::env::remove_var(DATA_ENV) };
    std::fs::remove_dir_all(&dir).ok();
}

//! Helpers shared by the end-to-end tests: scratch directories, running the
//! binary, and the h5py checks of the documented schema.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory for one test (removed and recreated).
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qbsim-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the `qbsim` binary in `cwd`.
pub fn qbsim(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qbsim")).args(args).current_dir(cwd).output().unwrap()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a Python script of `scripts/` (h5py is installed by scripts/test.sh).
pub fn python(script: &str, args: &[&Path], extra: &[&str]) -> Output {
    Command::new("python3")
        .arg(repo().join("scripts").join(script))
        .args(args)
        .args(extra)
        .output()
        .expect("python3 with h5py is needed (scripts/test.sh installs it)")
}

/// scripts/check_output.py: every path docs/output.md documents for `groups` exists.
pub fn h5py_check(file: &Path, groups: &[&str]) {
    let out = python("check_output.py", &[file], groups);
    assert!(
        out.status.success(),
        "h5py check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// scripts/compare_h5.py: the two files hold bit-identical datasets
/// (per-point wall times excepted).
pub fn compare(a: &Path, b: &Path) -> Output {
    python("compare_h5.py", &[a, b], &["--ignore", "sweep/wall_time_s"])
}

/// Runs inline Python `code` in `cwd` (h5py and numpy available).
pub fn python_code(cwd: &Path, code: &str) -> Output {
    Command::new("python3").arg("-c").arg(code).current_dir(cwd).output().expect("python3 with h5py is needed (scripts/test.sh installs it)")
}

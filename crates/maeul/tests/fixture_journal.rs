//! `maeul verify`, the real binary, on a journal an earlier build wrote
//! (`crates/engine/tests/golden/journal/`, written by `crates/engine/tests/golden.rs`).
//!
//! Every build has its own rules identity, so this build is "another build" to that
//! journal: `verify` re-decides every record from genesis and must find the recorded
//! answers and state hashes. It passes as long as this build decides money as the one
//! that wrote it did, whatever else changed, and fails the day a rule changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/golden")
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("the fixture journal is committed") {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn maeul_verify_accepts_the_journal_an_earlier_build_wrote() {
    let data = tempfile::tempdir().unwrap();
    copy_dir(&golden().join("journal"), data.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_maeul"))
        .arg("verify")
        .arg(data.path())
        .output()
        .expect("running maeul verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "maeul verify failed on the fixture journal:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("  result: OK"), "{stdout}");

    // The whole report but its first line (which names the directory) and the timing
    // after it: record and command counts, transfers by kind, refusals by code,
    // balances by account kind, the chain and state hashes, who wrote the records.
    let expected = std::fs::read_to_string(golden().join("journal.verify.txt")).unwrap();
    let got: Vec<&str> = stdout
        .lines()
        .skip(1)
        .take(expected.lines().count())
        .collect();
    let want: Vec<&str> = expected.lines().collect();
    assert_eq!(got, want, "maeul verify reports the fixture differently");
    assert!(
        want.iter().any(|l| l.starts_with("  records ")),
        "the expected report names the record count"
    );
    assert!(
        want.iter().any(|l| l.contains("sum (must be 0)")),
        "the expected report holds the balances"
    );
}

//! The operator's offline verbs, as an operator runs them.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn maeul(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(args)
        .env("MAEUL_PASSWORD", "a-long-operator-password")
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn an_operator_creates_a_currency_loads_a_new_scheme_and_adds_staff() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let schemes = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemes");
    let seoul = format!("{schemes}/seoul-like.toml");
    let busan = format!("{schemes}/busan-like.toml");
    let out = maeul(
        &[
            "admin",
            "create-currency",
            data,
            "seoul",
            "--scheme",
            &seoul,
            "--budget-funding",
            "1000000000",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = maeul(&["admin", "load-scheme", data, "seoul", &busan], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("scheme version 2"));
    let out = maeul(
        &[
            "admin",
            "add-staff",
            data,
            "--login",
            "seoul-ops",
            "--role",
            "operator",
            "--currencies",
            "seoul",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second currency of the same code is refused, saying why.
    let out = maeul(
        &[
            "admin",
            "create-currency",
            data,
            "seoul",
            "--scheme",
            &seoul,
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    // A bad scheme file names the field at fault.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&seoul)
            .unwrap()
            .replace("discount_bp = 700", "discount_bp = 9000"),
    )
    .unwrap();
    let out = maeul(
        &["admin", "load-scheme", data, "seoul", bad.to_str().unwrap()],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("discount_bp"));
    let out = maeul(&["verify", data], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

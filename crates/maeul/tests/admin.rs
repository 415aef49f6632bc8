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

#[test]
fn an_operator_syncs_a_cp949_registry_and_imports_aliases_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let busan = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemes/busan-like.toml");
    let out = maeul(
        &["admin", "create-currency", data, "busan", "--scheme", busan],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merchants = directory::synth::Synth::new(9)
        .only_in("부산광역시")
        .merchants(300, 1, 0);
    let file = dir.path().join("registry.csv");
    std::fs::write(
        &file,
        directory::synth::write_registry_csv(
            &merchants,
            directory::synth::CsvEncoding::Cp949,
            directory::synth::HeaderStyle::Korean,
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = maeul(args, dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dry = run(&["admin", "sync-registry", data, "busan", file, "--dry-run"]);
    assert!(dry.starts_with("would sync 300 rows (EucKr)"), "{dry}");
    let first = run(&["admin", "sync-registry", data, "busan", file]);
    let added = merchants
        .iter()
        .filter(|m| m.status != directory::Status::Closed)
        .count();
    assert!(first.contains(&format!(": {added} added")), "{first}");
    let again = run(&["admin", "sync-registry", data, "busan", file]);
    assert!(
        again.contains(": 0 added, 0 changed") && again.contains(&format!("{added} unchanged")),
        "{again}"
    );
    let aliases = dir.path().join("aliases.csv");
    std::fs::write(&aliases, "payload,merchant_id\n0012345678,3000000000\n,1\n").unwrap();
    let out = run(&[
        "admin",
        "import-aliases",
        data,
        "busan",
        aliases.to_str().unwrap(),
    ]);
    assert!(
        out.starts_with("1 aliases added, 0 repeated, 1 rows rejected"),
        "{out}"
    );
}

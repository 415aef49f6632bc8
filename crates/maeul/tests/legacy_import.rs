//! A town leaving another vendor, through the command line: its CP949 dumps imported,
//! the importer SIGKILLed at random moments and rerun until it finishes, a later dump
//! imported as a delta, the totals compared, the currency taken live, and the journal
//! verified after every kill.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rand::Rng;

fn maeul(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn verify(data: &Path) {
    let report = engine::verify(
        maeul::data_dir::storage(data, &engine::CurrencyCode::new("town").unwrap()).as_ref(),
    );
    assert!(report.ok(), "{report}");
}

fn import_args<'a>(data: &'a str, dumps: &'a str) -> Vec<&'a str> {
    vec![
        "migrate",
        "import",
        data,
        "--currency",
        "town",
        "--dumps",
        dumps,
    ]
}

/// Runs the import and SIGKILLs it after `delay`; answers whether it finished first.
fn import_killed(data: &str, dumps: &str, delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(import_args(data, dumps))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    let _ = child.wait();
    finished
}

fn every_total_agrees(out: &str) {
    let agree = out.lines().filter(|l| l.ends_with("agrees")).count();
    assert_eq!(agree, 6, "{out}");
    assert!(!out.contains("DIFFERS"), "{out}");
}

#[test]
fn a_legacy_import_killed_at_random_moments_converges_and_follows_deltas() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (data_s, dump0, dump1) = (
        data.to_str().unwrap().to_owned(),
        tmp.path().join("day0"),
        tmp.path().join("day1"),
    );
    let scheme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemes/busan-like.toml");
    ok(maeul(&[
        "admin",
        "create-currency",
        &data_s,
        "town",
        "--scheme",
        scheme.to_str().unwrap(),
    ]));
    for (dir, day) in [(&dump0, "0"), (&dump1, "1")] {
        ok(maeul(&[
            "migrate",
            "legacy-dump",
            dir.to_str().unwrap(),
            "--members",
            "40000",
            "--merchants",
            "4000",
            "--defects",
            "--day",
            day,
        ]));
    }
    let currency_dir = data.join("currencies/town");
    let mut rng = rand::rng();
    // A full run takes about 1.5 s here (debug build): the kills land while it reads,
    // writes users and registry, and sends the ledger its commands.
    let mut mid_run = 0;
    for (dumps, kills) in [
        (&dump0, &[150u64, 350, 600, 900, 1_200][..]),
        (&dump1, &[200, 500, 800][..]),
    ] {
        let dumps = dumps.to_str().unwrap();
        for &at in kills {
            let delay = Duration::from_millis(at * rng.random_range(80..120) / 100);
            let finished = import_killed(&data_s, dumps, delay);
            mid_run += usize::from(!finished);
            // Whatever the moment, the journal verifies, and a currency caught mid-run
            // is not live: `maeul serve` would keep it read-only.
            verify(&data);
            if !finished {
                assert!(
                    migrate::legacy::not_live_reason(&currency_dir).is_some()
                        || !currency_dir.join(migrate::legacy::STATUS_FILE).exists()
                );
            }
        }
        let out = ok(maeul(&import_args(&data_s, dumps)));
        every_total_agrees(&out);
        assert!(
            out.contains("report (28 rows"),
            "the defects, once each: {out}"
        );
        let again = ok(maeul(&import_args(&data_s, dumps)));
        every_total_agrees(&again);
        assert!(
            again.contains(
                "0 members and 0 merchants new, 0 old QR codes linked, 2 ledger commands"
            ),
            "a rerun changes nothing: {again}"
        );
        verify(&data);
    }
    assert!(mid_run >= 4, "only {mid_run} kills landed mid-run");
    // Served before go-live, the currency is read-only, and says so.
    let (serving, base, _) = common::serve(&data, 0, 30);
    let status: serde_json::Value = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::get(format!("{base}/status.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let text = status.to_string();
    assert!(
        text.contains("town") && text.contains("read_only"),
        "{text}"
    );
    let mut serving = serving;
    let _ = serving.kill();
    let _ = serving.wait();
    let status = migrate::legacy::read_status(&currency_dir)
        .unwrap()
        .unwrap();
    assert_eq!(status.stage, migrate::legacy::Stage::Waiting);
    ok(maeul(&[
        "migrate",
        "go-live",
        &data_s,
        "--currency",
        "town",
        "--operator",
        "kim",
    ]));
    assert!(migrate::legacy::not_live_reason(&currency_dir).is_none());
    let out = ok(maeul(&["verify", &data_s]));
    assert!(out.contains("OK"), "{out}");
    // Live: the new operator is the record; the old system's dumps are refused.
    let refused = maeul(&import_args(&data_s, dump1.to_str().unwrap()));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("went live"));
}

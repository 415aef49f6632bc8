//! The `maeul-simbank` binary: preloads accounts and faults from files, prints its URL,
//! serves, and stops cleanly on a signal.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bank::{Bank, HttpBank, OrderStatus, RejectCode};
use common::*;

#[tokio::test]
async fn binary_serves_preloaded_accounts_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts.json");
    std::fs::write(
        &accounts,
        r#"[{"number": "100-ISSUER", "holder": "Buyeo-gun", "balance": 0},
            {"number": "200-1", "holder": "Kim", "balance": 100000, "allow_negative": false}]"#,
    )
    .unwrap();
    let faults = dir.path().join("faults.json");
    std::fs::write(&faults, r#"{"reject_permille": 1000}"#).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_maeul-simbank"))
        .args(["--listen", "127.0.0.1:0", "--seed", "3", "--accounts"])
        .arg(&accounts)
        .arg("--faults")
        .arg(&faults)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("maeul-simbank listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let c = HttpBank::new(&url).unwrap();
    let o = order_for("bin-1", "200-1", ISSUER, 5_000, 10_000);
    let s = c.pull(&o).await.unwrap();
    assert!(
        matches!(
            s,
            OrderStatus::Rejected {
                code: RejectCode::Declined,
                ..
            }
        ),
        "{s:?}"
    );
    let lines = c.statement(&acct("200-1"), 0, u64::MAX).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].balance_after, 100_000);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("maeul-simbank did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn binary_refuses_a_bad_accounts_file() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts.json");
    std::fs::write(
        &accounts,
        r#"[{"number": "bad/no", "holder": "x", "balance": 0}]"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maeul-simbank"))
        .args(["--listen", "127.0.0.1:0", "--accounts"])
        .arg(&accounts)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("accounts.json"));
}

/// Starts the binary with `args`; its URL.
fn spawn(args: &[&std::ffi::OsStr]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_maeul-simbank"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("maeul-simbank listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

fn stop(mut child: std::process::Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            return;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("maeul-simbank did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn binary_with_a_data_file_keeps_its_books_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts.json");
    std::fs::write(
        &accounts,
        r#"[{"number": "100-ISSUER", "holder": "Buyeo-gun", "balance": 0},
            {"number": "200-1", "holder": "Kim", "balance": 100000}]"#,
    )
    .unwrap();
    let data = dir.path().join("books").join("simbank.sqlite");
    let args: Vec<&std::ffi::OsStr> = vec![
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--accounts".as_ref(),
        accounts.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
    ];
    let (child, url) = spawn(&args);
    let o = order_for("bin-data-1", "200-1", ISSUER, 5_000, 60_000);
    let first = HttpBank::new(&url).unwrap().pull(&o).await.unwrap();
    assert!(first.is_completed(), "{first:?}");
    stop(child);

    // Started again with the same files: the accounts list does not reset balances.
    let (child, url) = spawn(&args);
    let c = HttpBank::new(&url).unwrap();
    assert_eq!(c.pull(&o).await.unwrap(), first, "answered as before");
    let lines = c.statement(&acct("200-1"), 0, u64::MAX).await.unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1].balance_after, 95_000);
    stop(child);
}

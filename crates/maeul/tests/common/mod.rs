//! Shared by the tests that run the real binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `maeul serve` on `dir` with `demo_rate` synthetic payments a second, stopping
/// by itself after `seconds`; the child, the API's and the bank's base URLs (which the
/// server prints on its first line).
pub fn serve(dir: &Path, demo_rate: u32, seconds: u32) -> (Child, String, String) {
    serve_with(dir, demo_rate, seconds, &[])
}

/// The same with more arguments to `maeul serve`.
pub fn serve_with(
    dir: &Path,
    demo_rate: u32,
    seconds: u32,
    more: &[&str],
) -> (Child, String, String) {
    let store = store_args(dir, more);
    let mut child = Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bank-listen",
            "127.0.0.1:0",
        ])
        .args(["--demo-rate", &demo_rate.to_string()])
        .args(["--seconds", &seconds.to_string(), "--data-dir"])
        .arg(dir)
        .args(more)
        .args(&store)
        .args(no_settlement(more))
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("MAEUL_TEST_SERVER_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    // The rest is read and dropped: a closed pipe would fail the server's next print.
    std::thread::spawn(move || lines.for_each(drop));
    let urls: Vec<String> = line
        .split_whitespace()
        .filter(|w| w.starts_with("http://"))
        .map(|w| w.trim_end_matches(',').to_owned())
        .collect();
    assert_eq!(urls.len(), 2, "{line}");
    (child, urls[0].clone(), urls[1].clone())
}

/// The daily settlement off unless the test sets its cut-off: a server started after
/// 23:30 KST would otherwise pay every merchant's balance out at once, and a test that
/// then refunds from a shop would fail for the time of day.
pub fn no_settlement(more: &[&str]) -> &'static [&'static str] {
    if more.contains(&"--settlement-cutoff") {
        &[]
    } else {
        &["--settlement-cutoff", "off"]
    }
}

/// Signs in one of the demo's people (the demo password) at the server `base`; the
/// session token.
pub async fn sign_in(http: &reqwest::Client, base: &str, login: &str) -> String {
    let session: serde_json::Value = http
        .post(format!("{base}/api/v1/sessions"))
        .json(&serde_json::json!({"login": login, "password": maeul::serve::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login} cannot sign in: {session}"))
        .to_owned()
}

/// Whether this run keeps currencies, people and registries in PostgreSQL
/// (`MAEUL_TEST_STORE=postgres`; `.ci/run` runs the binary's serving tests both ways).
pub fn on_postgres() -> bool {
    std::env::var("MAEUL_TEST_STORE").as_deref() == Ok("postgres")
}

/// Where the server on `dir` keeps its store in a PostgreSQL run: a scratch schema
/// named in `dir`, the same for every start on `dir` (a restart finds what the last
/// start wrote), left for `.ci/run` to drop.
fn store_url(dir: &Path) -> String {
    let named = dir.join("test-store-url");
    if let Ok(url) = std::fs::read_to_string(&named) {
        return url;
    }
    let scratch = pgstore::scratch::ScratchDb::new();
    let url = scratch.url();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&named, &url).unwrap();
    // Outlives this test process's handle: the server and its restarts use it.
    std::mem::forget(scratch);
    url
}

/// `--store` arguments in a PostgreSQL run (unless the test gives its own).
fn store_args(dir: &Path, more: &[&str]) -> Vec<String> {
    if !on_postgres() || more.contains(&"--store") {
        return Vec::new();
    }
    vec![
        "--store".into(),
        store_url(dir),
        "--node-name".into(),
        "test-node".into(),
    ]
}

/// The journal of `currency` as the server on `dir` kept it: in its data directory,
/// or in PostgreSQL in a PostgreSQL run.
pub fn journal(dir: &Path, currency: &str) -> std::sync::Arc<dyn engine::Storage> {
    if on_postgres() {
        let db = std::sync::Arc::new(pgstore::Db::connect(&store_url(dir)).unwrap());
        return std::sync::Arc::new(pgstore::PgStorage::reader(db, currency));
    }
    maeul::data_dir::storage(dir, &engine::CurrencyCode::new(currency).unwrap())
}

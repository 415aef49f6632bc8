//! The web pages in a real browser: starts `maeul serve` (the demo, on a fresh data
//! directory) and runs the Node tests in `browser/tests/` against it: Debian's chromium
//! driven by playwright-core, with axe-core for accessibility.
//!
//! Needs `/usr/bin/chromium` and `browser/node_modules` (`npm ci --prefix browser`);
//! `.ci/run` installs both. Without them this test fails and says how to install them:
//! it never passes without having run the browser.
//!
//! `MAEUL_UPDATE_SCREENSHOTS=1` also writes `docs/screenshots/*.png`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Panics with how to install what is missing.
fn require_browser_setup(root: &Path) {
    let chromium = std::env::var("MAEUL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "\n\nThe browser tests need Chromium at {chromium}, which is missing.\n\
         Install it with:\n    \
         apt-get update && apt-get install -y chromium chromium-driver\n\
         (.ci/run does this on a fresh machine.)\n"
    );
    let modules = root.join("browser/node_modules");
    assert!(
        modules.join("playwright-core").is_dir() && modules.join("axe-core").is_dir(),
        "\n\nThe browser tests need their npm packages in {}, which are missing.\n\
         Install them with:\n    npm ci --prefix browser\n\
         (from the repository root; .ci/run does this.)\n",
        modules.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "\n\nThe browser tests need Node.js 20 or newer (`node` on the PATH): {node:?}\n\
         Install it with:\n    apt-get install -y nodejs npm\n"
    );
}

#[test]
fn pages_work_in_a_real_browser() {
    let root = repo_root();
    require_browser_setup(&root);
    let dir = tempfile::tempdir().unwrap();
    // A port for the map tile server `pay.test.mjs` runs for a while (nothing answers
    // there before or after: the plain map is tested too).
    let tiles_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tiles = format!("http://127.0.0.1:{tiles_port}/tiles/{{z}}/{{x}}/{{y}}.png");
    // Long enough for every test file; stopped (killed) as soon as they are done.
    let (mut server, base, bank) = common::serve_with(
        dir.path(),
        20,
        1800,
        &[
            "--map-tiles",
            &tiles,
            "--map-tiles-attribution",
            "test tiles",
        ],
    );
    let started = Instant::now();
    // One file at a time: one of them halts the demo for a while (and resumes it).
    let status = Command::new("node")
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-reporter=spec",
            "tests/",
        ])
        .current_dir(root.join("browser"))
        .env("MAEUL_URL", &base)
        // The simulated bank, for journeys that read what arrived there (the 1-won code).
        .env("MAEUL_BANK_URL", &bank)
        .env("MAEUL_TILES_PORT", tiles_port.to_string())
        // What the server keeps its store in: some journeys differ (an operator change
        // is refused on PostgreSQL).
        .env(
            "MAEUL_STORE",
            if common::on_postgres() {
                "postgres"
            } else {
                "embedded"
            },
        )
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status();
    let _ = server.kill();
    let _ = server.wait();
    let status = status.expect("running `node --test` in browser/");
    eprintln!(
        "browser tests took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "the browser tests failed ({status}); their output is above"
    );
}

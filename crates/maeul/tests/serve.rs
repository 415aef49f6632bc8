//! The README's run command, as a user runs it: `maeul serve` on an empty data directory
//! brings up the demo (HTTP API, simulated bank, jobs, synthetic payments); the demo's
//! operator can sign in and read the report; Ctrl-C (SIGINT) stops it cleanly and the
//! journal then verifies.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn serve_brings_up_the_demo_and_stops_cleanly_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bank-listen",
            "127.0.0.1:0",
        ])
        .args(["--demo-rate", "100", "--seconds", "120", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches(',')
        .to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let session: serde_json::Value = http
            .post(format!("{base}/api/v1/sessions"))
            .json(
                &serde_json::json!({"login": "operator", "password": maeul::serve::DEMO_PASSWORD}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = session["token"].as_str().unwrap();
        // Synthetic payments flow: the report shows payments within a few seconds.
        let mut payments = 0;
        for _ in 0..50 {
            let report: serde_json::Value = http
                .get(format!("{base}/api/v1/operator/demo/report"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            payments = report["payments"].as_i64().unwrap();
            if payments > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(payments > 0, "no demo payments were made");

        // A demo citizen (Korean name, Busan address) pays demo merchants by scanning
        // their printed QR codes (PNG, read back as a camera would).
        let citizen: serde_json::Value = http
            .post(format!("{base}/api/v1/sessions"))
            .json(&serde_json::json!({"login": "citizen-0001", "password": maeul::serve::DEMO_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let citizen = citizen["token"].as_str().unwrap().to_owned();
        let me: serde_json::Value = http
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(&citizen)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let name = me["name"].as_str().unwrap();
        assert!(name.chars().all(|c| ('가'..='힣').contains(&c)), "{me}");
        assert!(me["address"].as_str().unwrap().starts_with("부산광역시"), "{me}");
        for merchant in [20_000u64, 20_042, 20_099] {
            let png = http
                .get(format!("{base}/api/v1/operator/demo/merchants/{merchant}/qr?format=png"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let scanned = String::from_utf8(qr::decode_image(&png).unwrap().remove(0)).unwrap();
            let paid = http
                .post(format!("{base}/api/v1/me/payments"))
                .bearer_auth(&citizen)
                .header("Idempotency-Key", format!("demo-qr-{merchant}"))
                .json(&serde_json::json!({"code": scanned, "amount": 1000, "pin": maeul::demo::DEMO_PIN}))
                .send()
                .await
                .unwrap();
            assert_eq!(paid.status(), 200, "{merchant}: {}", paid.text().await.unwrap());
        }
    });
    // Ctrl-C: a graceful stop with exit code 0.
    let pid = child.id() as i32;
    // Ctrl-C is SIGINT, sent with kill(1).
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let report = engine::verify(
        maeul::data_dir::storage(dir.path(), &engine::CurrencyCode::new("demo").unwrap()).as_ref(),
    );
    assert!(report.ok(), "{report}");
}

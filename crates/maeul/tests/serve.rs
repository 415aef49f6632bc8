//! The README's run command, as a user runs it: `maeul serve` on an empty data directory
//! brings up the demo (HTTP API, simulated bank, jobs, synthetic payments); the demo's
//! operator can sign in and read the report; Ctrl-C (SIGINT) stops it cleanly and the
//! journal then verifies.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

#[test]
fn serve_brings_up_the_demo_and_stops_cleanly_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, _) = common::serve(dir.path(), 100, 120);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let token = &common::sign_in(&http, &base, "operator").await;
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
    let report = engine::verify(common::journal(dir.path(), "demo").as_ref());
    assert!(report.ok(), "{report}");
}

/// Starts `maeul serve` on `dir` without synthetic traffic.
fn serve(dir: &std::path::Path) -> (std::process::Child, String, String) {
    common::serve(dir, 0, 300)
}

fn stop(mut child: std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

async fn balance(http: &reqwest::Client, bank: &str, number: &str) -> i64 {
    let v: serde_json::Value = http
        .get(format!("{bank}/v1/accounts/{number}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["balance"].as_i64().unwrap()
}

/// The README's tour of linking a bank account, against a running demo: the account
/// opened at the simulated bank, the verification started, the code read from the
/// statement, confirmed with consent, and a charge; then a restart keeps the bank's
/// books with the ledger (issuer = budgets funded + sales − verification deposits),
/// the verified link, and the charge answered once.
#[test]
fn the_readme_links_a_verified_account_and_a_restart_keeps_the_banks_books() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, bank) = serve(dir.path());
    let api = format!("{base}/api/v1");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let post = |url: String, token: Option<String>, key: Option<&str>, body: serde_json::Value| {
        let mut req = http.post(url).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (
                status,
                res.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let (purchase, issuer_after, citizen_after) = rt.block_on(async {
        let (s, v) = post(
            format!("{api}/citizens"),
            None,
            None,
            serde_json::json!({"login":"minji","password":"s3cret-pass","pin":"123456","birth_year":1990,"currency":"demo"}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let (_, v) = post(
            format!("{api}/sessions"),
            None,
            None,
            serde_json::json!({"login":"minji","password":"s3cret-pass"}),
        )
        .await;
        let token = v["token"].as_str().unwrap().to_owned();
        let (s, v) = post(
            format!("{bank}/v1/accounts"),
            None,
            None,
            serde_json::json!({"number":"110-999999","holder":"김민지","balance":300000}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        // The old one-step link is gone.
        let (s, v) = post(
            format!("{api}/me/bank-account"),
            Some(token.clone()),
            None,
            serde_json::json!({"bank_account":"110-999999","password":"s3cret-pass"}),
        )
        .await;
        assert_eq!((s, v["code"].as_str()), (410, Some("bank_verification_required")));
        let (s, v) = post(
            format!("{api}/me/bank-account/verification"),
            Some(token.clone()),
            Some("v1"),
            serde_json::json!({"bank_account":"110-999999","holder_name":"김민지","password":"s3cret-pass"}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let statement: serde_json::Value = http
            .get(format!("{bank}/v1/accounts/110-999999/statement"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let memo = statement["lines"].as_array().unwrap().last().unwrap()["memo"]
            .as_str()
            .unwrap()
            .to_owned();
        let code = memo.strip_prefix("maeul ").unwrap();
        let (s, v) = post(
            format!("{api}/me/bank-account/verification/{id}/confirm"),
            Some(token.clone()),
            Some("k1"),
            serde_json::json!({"code": code, "consent": true}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (s, charged) = post(
            format!("{api}/me/charges"),
            Some(token.clone()),
            Some("c1"),
            serde_json::json!({"face":100000}),
        )
        .await;
        assert_eq!((s, charged["status"].as_str()), (200, Some("charged")), "{charged}");
        let (_, op) = post(
            format!("{api}/sessions"),
            None,
            None,
            serde_json::json!({"login":"operator","password": maeul::serve::DEMO_PASSWORD}),
        )
        .await;
        let operator = op["token"].as_str().unwrap().to_owned();
        let report: serde_json::Value = http
            .get(format!("{api}/operator/demo/report"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let issuer = balance(&http, &bank, maeul::serve::ISSUER_BANK_ACCOUNT).await;
        // The demo funded two budgets of 100,000,000; the 1 won is the operator's cost.
        assert_eq!(
            issuer,
            200_000_000 + report["sales"].as_i64().unwrap() - 1,
            "{report}"
        );
        let citizen = balance(&http, &bank, "110-999999").await;
        assert_eq!(citizen, 300_000 + 1 - 100_000);
        (charged["purchase"].clone(), issuer, citizen)
    });
    stop(child);

    let (child, base, bank) = serve(dir.path());
    let api = format!("{base}/api/v1");
    rt.block_on(async {
        assert_eq!(
            balance(&http, &bank, maeul::serve::ISSUER_BANK_ACCOUNT).await,
            issuer_after
        );
        assert_eq!(balance(&http, &bank, "110-999999").await, citizen_after);
        let (_, v) = post(
            format!("{api}/sessions"),
            None,
            None,
            serde_json::json!({"login":"minji","password":"s3cret-pass"}),
        )
        .await;
        let token = v["token"].as_str().unwrap().to_owned();
        let (s, again) = post(
            format!("{api}/me/charges"),
            Some(token.clone()),
            Some("c1"),
            serde_json::json!({"face":100000}),
        )
        .await;
        assert_eq!((s, &again["purchase"]), (200, &purchase), "{again}");
        // The verified link was kept: a new charge is taken from the same account.
        let (s, v) = post(
            format!("{api}/me/charges"),
            Some(token.clone()),
            Some("c2"),
            serde_json::json!({"face":10000}),
        )
        .await;
        assert_eq!((s, v["status"].as_str()), (200, Some("charged")), "{v}");
        assert_eq!(
            balance(&http, &bank, "110-999999").await,
            citizen_after - 10_000
        );
        assert_eq!(
            balance(&http, &bank, maeul::serve::ISSUER_BANK_ACCOUNT).await,
            issuer_after + 10_000
        );
    });
    stop(child);
}

#[test]
fn one_process_writes_a_data_directory_offline_verbs_refuse_beside_serve() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, _, _) = serve(&data);
    // While serve runs, an offline verb refuses, saying who holds the directory: two
    // writers once gave two merchants the same id.
    let file = dir.path().join("registry.csv");
    std::fs::write(&file, "사업자등록번호,상호명\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(["admin", "sync-registry"])
        .arg(&data)
        .args(["demo"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by `maeul serve`"), "{stderr}");
    // And a second server on the same directory does not start.
    let second = Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bank-listen",
            "127.0.0.1:0",
            "--seconds",
            "5",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use by"));
    stop(child);
    // Once it has stopped, the verb runs.
    let out = Command::new(env!("CARGO_BIN_EXE_maeul"))
        .args(["admin", "sync-registry", "--dry-run"])
        .arg(&data)
        .args(["demo"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("in use by"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sale day scheduled by an operator outlives a restart (kept in `sale.json`, or in
/// PostgreSQL): after it the sale is still shown and its paused feature still paused;
/// called off, it stays called off through the next restart.
#[test]
fn a_sale_day_outlives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let status_of = |url: String| {
        let req = http.get(url);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let opens_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
        + 3_600_000_000;
    let (child, base, _) = serve(dir.path());
    let plan = serde_json::json!({
        "opens_at": opens_at,
        "ends_at": opens_at + 3_600_000_000u64,
        "vouchers": 1000,
        "budget_won": 10_000_000,
        "paused": ["search"],
    });
    let token = rt.block_on(async {
        let token = common::sign_in(&http, &base, "operator").await;
        let res = http
            .put(format!("{base}/api/v1/operator/demo/sale"))
            .bearer_auth(&token)
            .json(&plan)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());
        token
    });
    stop(child);

    let (child, base, _) = serve(dir.path());
    rt.block_on(async {
        let v: serde_json::Value = http
            .get(format!("{base}/api/v1/sales/demo"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&v["opens_at"], &v["paused"]),
            (&serde_json::json!(opens_at), &serde_json::json!(["search"])),
            "{v}"
        );
        assert_eq!(
            status_of(format!("{base}/api/v1/directory/demo/search?q=%EA%B0%80")).await,
            503,
            "still paused after the restart"
        );
        // The session outlived the restart too: the operator calls the sale off.
        let res = http
            .delete(format!("{base}/api/v1/operator/demo/sale"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 204);
    });
    stop(child);

    let (child, base, _) = serve(dir.path());
    rt.block_on(async {
        assert_eq!(status_of(format!("{base}/api/v1/sales/demo")).await, 404);
        assert_eq!(
            status_of(format!("{base}/api/v1/directory/demo/search?q=%EA%B0%80")).await,
            200
        );
    });
    stop(child);
}

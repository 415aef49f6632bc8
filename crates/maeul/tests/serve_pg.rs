//! `maeul serve --store postgres://…`: two nodes on one database. The first writes;
//! the second waits as its hot standby, takes over within seconds of the first's
//! SIGKILL and serves the same people, sessions' stores, QR codes and payments: a
//! payment retried under its key at the new node is not paid twice.
#![allow(clippy::unwrap_used)]

mod common;

use common::sign_in;

use std::time::{Duration, Instant};

use pgstore::scratch::ScratchDb;

/// Won paid to merchants, by the operator report.
async fn payments(http: &reqwest::Client, base: &str, operator: &str) -> i64 {
    let report: serde_json::Value = http
        .get(format!("{base}/api/v1/operator/demo/report"))
        .bearer_auth(operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    report["payments"].as_i64().unwrap()
}

async fn sticker(http: &reqwest::Client, base: &str, operator: &str, merchant: u64) -> String {
    let png = http
        .get(format!(
            "{base}/api/v1/operator/demo/merchants/{merchant}/qr?format=png"
        ))
        .bearer_auth(operator)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    String::from_utf8(qr::decode_image(&png).unwrap().remove(0)).unwrap()
}

async fn pay(
    http: &reqwest::Client,
    base: &str,
    citizen: &str,
    code: &str,
    key: &str,
) -> reqwest::Response {
    http.post(format!("{base}/api/v1/me/payments"))
        .bearer_auth(citizen)
        .header("Idempotency-Key", key)
        .json(&serde_json::json!({"code": code, "amount": 1000, "pin": maeul::demo::DEMO_PIN}))
        .send()
        .await
        .unwrap()
}

#[test]
fn a_standby_node_takes_over_the_currency_and_its_people() {
    let db = ScratchDb::new();
    let url = db.url();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (mut a, base_a, _) = common::serve_with(
        dir_a.path(),
        0,
        300,
        &["--store", &url, "--node-name", "node-a"],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let (code, before) = rt.block_on(async {
        let operator = sign_in(&http, &base_a, "operator").await;
        let citizen = sign_in(&http, &base_a, "citizen-0001").await;
        let before = payments(&http, &base_a, &operator).await;
        let code = sticker(&http, &base_a, &operator, 20_000).await;
        let paid = pay(&http, &base_a, &citizen, &code, "pg-pay-1").await;
        assert_eq!(paid.status(), 200, "{}", paid.text().await.unwrap());
        assert_eq!(payments(&http, &base_a, &operator).await, before + 1_000);
        (code, before)
    });

    // B starts while A writes: it follows as a standby and prints its address only
    // once it serves.
    let url_b = url.clone();
    let path_b = dir_b.path().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = common::serve_with(
            &path_b,
            0,
            300,
            &["--store", &url_b, "--node-name", "node-b"],
        );
        let _ = tx.send(started);
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(rx.try_recv().is_err(), "B served while A held the lease");

    a.kill().unwrap();
    let killed = Instant::now();
    let _ = a.wait();
    let (mut b, base_b, _) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "B served {took:?} after A died"
    );

    rt.block_on(async {
        // The same people sign in at B; the same sticker pays there.
        let operator = sign_in(&http, &base_b, "operator").await;
        let citizen = sign_in(&http, &base_b, "citizen-0001").await;
        // The payment A answered, retried under its key at B, is not paid again.
        let again = pay(&http, &base_b, &citizen, &code, "pg-pay-1").await;
        assert_eq!(again.status(), 200, "{}", again.text().await.unwrap());
        assert_eq!(payments(&http, &base_b, &operator).await, before + 1_000);
        let paid = pay(&http, &base_b, &citizen, &code, "pg-pay-2").await;
        assert_eq!(paid.status(), 200, "{}", paid.text().await.unwrap());
        assert_eq!(payments(&http, &base_b, &operator).await, before + 2_000);
        let fresh = sticker(&http, &base_b, &operator, 20_000).await;
        assert_eq!(
            fresh, code,
            "the QR key is shared, so stickers do not change"
        );
    });
    b.kill().unwrap();
    let _ = b.wait();
    println!(
        "node B served {} ms after node A was killed",
        took.as_millis()
    );
}

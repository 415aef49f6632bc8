//! `maeul serve --store postgres://…`: nodes on one database. Every node serves; the
//! one holding a currency's lease writes it and the others follow, serving reads and
//! forwarding writes. When the writer is SIGKILLed a follower takes over within
//! seconds and serves the same people, sessions, QR codes and payments: a payment
//! retried under its key is not paid twice. Currencies spread over the nodes.
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

/// Pays under `key` until the answer is not a "try again" (503 while no node writes,
/// or the outcome unknown): what a phone app does with its idempotency key.
async fn pay_until_answered(
    http: &reqwest::Client,
    base: &str,
    citizen: &str,
    code: &str,
    key: &str,
    within: Duration,
) -> reqwest::Response {
    let started = Instant::now();
    loop {
        let r = pay(http, base, citizen, code, key).await;
        if !(r.status().is_server_error()) || started.elapsed() > within {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The live leases: currency and the node that writes it.
fn writers(db: &ScratchDb) -> Vec<(String, String)> {
    let db = db.db();
    let conn = db.conn().unwrap();
    let rows = conn
        .run(
            "read the leases",
            conn.query(
                "SELECT currency, holder FROM maeul_writers WHERE expires_at > now() ORDER BY currency",
                &[],
            ),
        )
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

fn start_node(dir: &std::path::Path, url: &str, name: &str) -> (std::process::Child, String) {
    let (child, base, _) = common::serve_with(dir, 0, 300, &["--store", url, "--node-name", name]);
    (child, base)
}

#[test]
fn any_node_serves_and_a_follower_takes_over_in_seconds() {
    let db = ScratchDb::new();
    let url = db.url();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (mut a, base_a) = start_node(dir_a.path(), &url, "node-a");
    // B serves at once, as a follower of A.
    let (mut b, base_b) = start_node(dir_b.path(), &url, "node-b");
    assert_eq!(writers(&db), vec![("demo".into(), "node-a".into())]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let (code, before, citizen_b, operator_b) = rt.block_on(async {
        // People sign in at either node (sessions are in the shared store).
        let operator_a = sign_in(&http, &base_a, "operator").await;
        let operator_b = sign_in(&http, &base_b, "operator").await;
        let citizen_b = sign_in(&http, &base_b, "citizen-0001").await;
        let before = payments(&http, &base_b, &operator_b).await;
        let code = sticker(&http, &base_b, &operator_b, 20_000).await;

        // A payment at the follower goes to the writer, and the follower answers it
        // only once it reads it back: the report right after shows it.
        let paid = pay(&http, &base_b, &citizen_b, &code, "pg-pay-1").await;
        assert_eq!(paid.status(), 200, "{}", paid.text().await.unwrap());
        assert_eq!(payments(&http, &base_b, &operator_b).await, before + 1_000);
        assert_eq!(payments(&http, &base_a, &operator_a).await, before + 1_000);
        // Retried at the writer under the same key: the same payment.
        let citizen_a = sign_in(&http, &base_a, "citizen-0001").await;
        let again = pay(&http, &base_a, &citizen_a, &code, "pg-pay-1").await;
        assert_eq!(again.status(), 200, "{}", again.text().await.unwrap());
        assert_eq!(payments(&http, &base_b, &operator_b).await, before + 1_000);

        // A payment at the writer reaches the follower's reads as it is written.
        let paid = pay(&http, &base_a, &citizen_a, &code, "pg-pay-2").await;
        assert_eq!(paid.status(), 200, "{}", paid.text().await.unwrap());
        let seen = Instant::now();
        while payments(&http, &base_b, &operator_b).await != before + 2_000 {
            assert!(
                seen.elapsed() < Duration::from_secs(5),
                "B never saw A's payment"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (code, before, citizen_b, operator_b)
    });

    a.kill().unwrap();
    let killed = Instant::now();
    let _ = a.wait();
    let took = rt.block_on(async {
        // The citizen at B keeps paying under one key until it is answered: B takes
        // the lease once A's runs out and promotes its follower in place.
        let paid = pay_until_answered(
            &http,
            &base_b,
            &citizen_b,
            &code,
            "pg-pay-3",
            Duration::from_secs(30),
        )
        .await;
        let took = killed.elapsed();
        assert_eq!(paid.status(), 200, "{}", paid.text().await.unwrap());
        // Everything A answered, once; and the retries of pg-pay-3, once.
        let again = pay(&http, &base_b, &citizen_b, &code, "pg-pay-1").await;
        assert_eq!(again.status(), 200, "{}", again.text().await.unwrap());
        assert_eq!(payments(&http, &base_b, &operator_b).await, before + 3_000);
        let fresh = sticker(&http, &base_b, &operator_b, 20_000).await;
        assert_eq!(
            fresh, code,
            "the QR key is shared, so stickers do not change"
        );
        took
    });
    assert_eq!(writers(&db), vec![("demo".into(), "node-b".into())]);
    assert!(
        took < Duration::from_secs(8),
        "B wrote {took:?} after A died"
    );
    b.kill().unwrap();
    let _ = b.wait();
    println!(
        "the first payment at node B was acknowledged {} ms after node A was killed",
        took.as_millis()
    );
}

/// Two currencies, written by the first node alone until a second joins: then each
/// writes one (the first hands one over), and when one dies the other writes both.
#[test]
fn currencies_spread_over_the_nodes() {
    let db = ScratchDb::new();
    for code in ["busan", "seoul"] {
        let storage: std::sync::Arc<dyn engine::Storage> = std::sync::Arc::new(db.writer(code));
        let engine = engine::Engine::create(
            storage,
            engine::CurrencyCode::new(code).unwrap(),
            ledger::LedgerConfig::default(),
            engine::EngineOptions::default(),
        )
        .unwrap();
        engine.shutdown();
    }
    // The scratch writer's day-long leases end now.
    let admin = db.db();
    let conn = admin.conn().unwrap();
    conn.run(
        "end the leases",
        conn.execute(
            "UPDATE maeul_writers SET expires_at = now() - interval '1 second'",
            &[],
        ),
    )
    .unwrap();
    let url = db.url();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (mut a, _) = start_node(dir_a.path(), &url, "node-a");
    let holders = |w: Vec<(String, String)>| w.into_iter().map(|(_, h)| h).collect::<Vec<_>>();
    assert_eq!(holders(writers(&db)), ["node-a", "node-a"]);

    let (mut b, _) = start_node(dir_b.path(), &url, "node-b");
    let joined = Instant::now();
    loop {
        let mut h = holders(writers(&db));
        h.sort();
        if h == ["node-a", "node-b"] {
            break;
        }
        assert!(
            joined.elapsed() < Duration::from_secs(15),
            "not spread: {h:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let spread = joined.elapsed();

    a.kill().unwrap();
    let killed = Instant::now();
    let _ = a.wait();
    while holders(writers(&db)) != ["node-b", "node-b"] {
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "B did not take A's currency: {:?}",
            writers(&db)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "a joining node wrote its share after {} ms; the survivor wrote both {} ms after the kill",
        spread.as_millis(),
        killed.elapsed().as_millis()
    );
    b.kill().unwrap();
    let _ = b.wait();
}

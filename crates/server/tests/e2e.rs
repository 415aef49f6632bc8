//! End to end through the real HTTP server on 127.0.0.1: a citizen from sign-up to
//! payment, a merchant from application to approval, an operator and an auditor, and
//! hostile input. Only the HTTP API is used once the server is up (plus the simulated
//! bank's own admin, standing in for the citizen's real bank).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bank::{AccountNo, NewAccount};
use engine::EngineOptions;
use ledger::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::{AppState, NewUser, Role};

mod common;

use common::{BUSAN, Service, start_tuned_full};

/// A valid 사업자등록번호 (check digit computed) for test shop `n`.
fn brn(n: u32) -> String {
    directory::Brn::from_prefix(123_450_000 + n)
        .unwrap()
        .to_string()
}

async fn start() -> Service {
    start_with(EngineOptions::default()).await
}

async fn start_with(options: EngineOptions) -> Service {
    start_limited(options, service::limits::WriteLimit::default()).await
}

async fn start_limited(options: EngineOptions, limit: service::limits::WriteLimit) -> Service {
    start_configured(options, limit, service::limits::WriteLimit::PER_ADDRESS).await
}

async fn start_configured(
    options: EngineOptions,
    limit: service::limits::WriteLimit,
    per_address: service::limits::WriteLimit,
) -> Service {
    start_full(
        options,
        limit,
        per_address,
        service::bank_link::Settings::default(),
        service::limits::StreamLimit::default(),
    )
    .await
}

async fn start_streams(streams: service::limits::StreamLimit) -> Service {
    start_full(
        EngineOptions::default(),
        service::limits::WriteLimit::default(),
        service::limits::WriteLimit::PER_ADDRESS,
        service::bank_link::Settings::default(),
        streams,
    )
    .await
}

async fn start_bank_link(settings: service::bank_link::Settings) -> Service {
    start_full(
        EngineOptions::default(),
        service::limits::WriteLimit::default(),
        service::limits::WriteLimit::PER_ADDRESS,
        settings,
        service::limits::StreamLimit::default(),
    )
    .await
}

async fn start_full(
    options: EngineOptions,
    limit: service::limits::WriteLimit,
    per_address: service::limits::WriteLimit,
    bank_link: service::bank_link::Settings,
    streams: service::limits::StreamLimit,
) -> Service {
    start_tuned_full(options, limit, per_address, bank_link, move |s| {
        s.with_stream_limit(streams)
    })
    .await
}

/// The default service with other settings on its state (timeouts, connection caps...).
async fn start_tuned(tune: impl FnOnce(AppState) -> AppState) -> Service {
    start_tuned_full(
        EngineOptions::default(),
        service::limits::WriteLimit::default(),
        service::limits::WriteLimit::PER_ADDRESS,
        service::bank_link::Settings::default(),
        tune,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_and_a_merchant_from_sign_up_to_payment() {
    let svc = start().await;
    // Citizen signs up, signs in, links the bank, charges.
    let (s, v) = svc
        .post(
            "/api/v1/citizens",
            None,
            None,
            json!({"login": "minji", "password": "s3cret-pass", "pin": "123456", "birth_year": 1990, "currency": "busan"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let citizen = svc.sign_in("minji", "s3cret-pass").await;
    svc.bank
        .open_account(NewAccount {
            number: AccountNo::new("110-000001").unwrap(),
            holder: "김민지".into(),
            balance: 500_000,
            allow_negative: false,
        })
        .unwrap();
    link_bank(&svc, &citizen, "110-000001", Some("김민지")).await;
    let (s, v) = svc
        .post(
            "/api/v1/me/charges",
            Some(&citizen),
            Some("charge-1"),
            json!({"face": 100000}),
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("charged")),
        "{v}"
    );
    // The same key again: the same purchase, charged once.
    let (_, again) = svc
        .post(
            "/api/v1/me/charges",
            Some(&citizen),
            Some("charge-1"),
            json!({"face": 100000}),
        )
        .await;
    assert_eq!(again["purchase"], v["purchase"]);
    assert_eq!(
        svc.bank.balance(&AccountNo::new("110-000001").unwrap()),
        Some(400_000 + 1),
        "the charge, and the 1 won of the verification"
    );
    let (_, w) = svc.get("/api/v1/me/wallet", Some(&citizen)).await;
    assert_eq!(w["balance"], 100_000, "{w}");

    // A merchant applies; paying it before approval is refused with the reason.
    let (s, m) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "gukbap", "password": "s3cret-pass", "currency": "busan", "category": 5812, "annual_revenue": 300000000, "brn": brn(1), "name": "해운대 돼지국밥"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let merchant = m["account"].as_u64().unwrap();
    let pay = |pin: &'static str| json!({"merchant": merchant, "amount": 12000, "pin": pin});
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("pay-0"),
            pay("123456"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["code"], "merchant_suspended");
    assert!(p["message_ko"].as_str().unwrap().contains("가게"));

    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let (s, v) = svc
        .post(
            &format!("/api/v1/operator/busan/merchants/{merchant}/approve"),
            Some(&operator),
            Some("approve-1"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");

    // A wrong PIN is refused and moves nothing; the right one pays, with 10% cash-back.
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("pay-1"),
            pay("000000"),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("pin_wrong"))
    );
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("pay-2"),
            pay("123456"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (p["amount"].as_i64(), p["cashback"].as_i64()),
        (Some(12_000), Some(1_200))
    );
    let (_, w) = svc.get("/api/v1/me/wallet", Some(&citizen)).await;
    assert_eq!(w["balance"], 100_000 - 12_000 + 1_200, "{w}");

    // The operator's report and the auditor's verification.
    let (s, r) = svc
        .get("/api/v1/operator/busan/report", Some(&operator))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["payments"], 12_000);
    // By day and by month too, as typed rows; the total row is the fields above.
    assert_eq!(r["total"]["payments"], 12_000, "{r}");
    assert_eq!(r["total"]["payments_count"], 1, "{r}");
    assert_eq!(r["total"]["issuance"], r["issuance"], "{r}");
    for by in ["days", "months"] {
        let rows = r[by].as_array().unwrap();
        let paid: i64 = rows.iter().map(|p| p["payments"].as_i64().unwrap()).sum();
        assert_eq!(paid, 12_000, "{by}: {r}");
    }
    assert_eq!(r["months"][0]["period"].as_str().unwrap().len(), 7, "{r}");
    assert_eq!(r["days"][0]["period"].as_str().unwrap().len(), 10, "{r}");
    let auditor = svc.sign_in("auditor-busan", "correct horse battery").await;
    let (s, r) = svc.get("/api/v1/audit/busan/verify", Some(&auditor)).await;
    assert_eq!((s, r["ok"].as_bool()), (StatusCode::OK, Some(true)), "{r}");

    // Signed out, the token stops working.
    let (s, _, _) = svc
        .call(
            reqwest::Method::DELETE,
            "/api/v1/sessions/current",
            Some(&citizen),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = svc.get("/api/v1/me/wallet", Some(&citizen)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced_and_hostile_input_gets_a_clear_4xx() {
    let svc = start().await;
    svc.post(
        "/api/v1/citizens",
        None,
        None,
        json!({"login": "jun", "password": "s3cret-pass", "pin": "654321", "birth_year": 1985, "currency": "busan"}),
    )
    .await;
    let citizen = svc.sign_in("jun", "s3cret-pass").await;
    let auditor = svc.sign_in("auditor-busan", "correct horse battery").await;
    // Wrong roles: 403, nothing changes.
    for (token, path) in [
        (&citizen, "/api/v1/operator/busan/report"),
        (&citizen, "/api/v1/audit/busan/verify"),
        (&auditor, "/api/v1/me/wallet"),
        (&auditor, "/api/v1/operator/busan/report"),
    ] {
        let (s, v) = svc.get(path, Some(token)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
        assert_eq!(v["code"], "forbidden");
    }
    let (s, _) = svc
        .post(
            "/api/v1/operator/busan/merchants/1/suspend",
            Some(&citizen),
            Some("k"),
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // No token, or a forged one: 401.
    assert_eq!(
        svc.get("/api/v1/me/wallet", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        svc.get("/api/v1/me/wallet", Some("bm90LWEtdG9rZW4"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Hostile bodies.
    let (s, h, headers) = svc
        .call(
            reqwest::Method::POST,
            "/api/v1/me/charges",
            Some(&citizen),
            Some("c1"),
            Some(json!({"face": -5})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{h}");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    for body in [
        json!({"face": 9_223_372_036_854_775_807i64}),
        json!({"face": "100"}),
        json!({"face": 10000, "unexpected": true}),
    ] {
        let (s, v) = svc
            .post(
                "/api/v1/me/charges",
                Some(&citizen),
                Some("c2"),
                body.clone(),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    // No Idempotency-Key on a change.
    let (s, v) = svc
        .post(
            "/api/v1/me/charges",
            Some(&citizen),
            None,
            json!({"face": 10000}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("idempotency_key_required"))
    );
    // Not JSON, wrong content type, too large.
    let res = svc
        .http
        .post(format!("{}/api/v1/sessions", svc.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = svc
        .http
        .post(format!("{}/api/v1/sessions", svc.base))
        .header("content-type", "text/plain")
        .body("login=a")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // On a client of its own: the server answers before reading the body and closes
    // that connection, which a shared pool could hand to the next request (a broken
    // pipe there, not a refusal).
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/citizens", svc.base))
        .header("content-type", "application/json")
        .body(vec![b' '; server::BODY_BYTES_MAX + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Five wrong sign-ins, then even the right password waits.
    for _ in 0..5 {
        let (s, _) = svc
            .post(
                "/api/v1/sessions",
                None,
                None,
                json!({"login": "jun", "password": "wrong-password"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, v, headers) = svc
        .call(
            reqwest::Method::POST,
            "/api/v1/sessions",
            None,
            None,
            Some(json!({"login": "jun", "password": "s3cret-pass"})),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(headers.get("retry-after").is_some());
    // The wallet is untouched by all of it.
    let (_, w) = svc.get("/api/v1/me/wallet", Some(&citizen)).await;
    assert_eq!(w["balance"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_lists_every_route() {
    let svc = start().await;
    let (s, doc) = svc.get("/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/citizens",
        "/api/v1/sessions",
        "/api/v1/me/payments",
        "/api/v1/operator/{currency}/report",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let (s, text) = svc.get("/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().unwrap();
    assert!(text.contains("maeul_http_requests_total"));
    // Commit latency and batch size are histograms: cumulative buckets ending in +Inf =
    // count, and the set-up's batches are in them.
    for name in ["maeul_commit_seconds", "maeul_batch_size"] {
        let buckets: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{name}_bucket{{currency=\"busan\"")))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(buckets.len() > 2, "{name}: {text}");
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "{name} not cumulative"
        );
        let count: u64 = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}_count{{currency=\"busan\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(count > 0, "{name}: nothing recorded");
        assert_eq!(
            buckets.last(),
            Some(&count),
            "{name}: +Inf bucket is the count"
        );
    }
    assert_eq!(svc.get("/readyz", None).await.0, StatusCode::OK);
}

/// The code of the newest 1-won verification deposit on `number`'s statement, as its
/// holder reads it in their banking app (memo `maeul NNNN`).
fn code_on_statement(svc: &Service, number: &str) -> String {
    let lines = svc
        .bank
        .statement(&AccountNo::new(number).unwrap())
        .unwrap();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.memo.starts_with("maeul ") && l.amount == 1)
        .unwrap_or_else(|| panic!("no verification deposit on {number}: {lines:?}"));
    line.memo["maeul ".len()..].to_owned()
}

/// Links `number` as a user does: the holder enquiry and the 1-won deposit, the code
/// read from the statement, and the consent.
async fn link_bank(svc: &Service, token: &str, number: &str, holder: Option<&str>) {
    let mut body = json!({"bank_account": number, "password": "s3cret-pass"});
    if let Some(h) = holder {
        body["holder_name"] = json!(h);
    }
    let (s, v) = svc
        .post(
            "/api/v1/me/bank-account/verification",
            Some(token),
            Some(&format!("verify-{number}")),
            body,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "code_sent", "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, v) = svc
        .post(
            &format!("/api/v1/me/bank-account/verification/{id}/confirm"),
            Some(token),
            Some(&format!("confirm-{number}")),
            json!({"code": code_on_statement(svc, number), "consent": true, "consent_version": v["consent"]["version"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn citizen_with_money(svc: &Service, login: &str, bank_no: &str, face: i64) -> (String, u64) {
    let (s, v) = svc
        .post(
            "/api/v1/citizens",
            None,
            None,
            json!({"login": login, "password": "s3cret-pass", "pin": "123456", "birth_year": 1970, "currency": "busan"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let wallet = v["account"].as_u64().unwrap();
    let token = svc.sign_in(login, "s3cret-pass").await;
    svc.bank
        .open_account(NewAccount {
            number: AccountNo::new(bank_no).unwrap(),
            holder: login.into(),
            balance: 1_000_000,
            allow_negative: false,
        })
        .unwrap();
    link_bank(svc, &token, bank_no, Some(login)).await;
    let (s, v) = svc
        .post(
            "/api/v1/me/charges",
            Some(&token),
            Some("first-charge"),
            json!({"face": face}),
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("charged")),
        "{v}"
    );
    (token, wallet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchants_see_payments_live_refund_and_redeem_and_operators_halt_and_resume() {
    let svc = start().await;
    let (citizen, _) = citizen_with_money(&svc, "hana", "110-000010", 200_000).await;
    let (_, friend) = citizen_with_money(&svc, "dul", "110-000011", 10_000).await;
    let (_, m) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "bakery", "password": "s3cret-pass", "currency": "busan", "category": 5462, "annual_revenue": 500000000, "brn": brn(2), "name": "동래 빵집"}),
        )
        .await;
    let merchant = m["account"].as_u64().unwrap();
    let shop = svc.sign_in("bakery", "s3cret-pass").await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    svc.post(
        &format!("/api/v1/operator/busan/merchants/{merchant}/approve"),
        Some(&operator),
        Some("a1"),
        json!({}),
    )
    .await;

    // The merchant listens; the citizen pays; the event arrives.
    let mut live = svc
        .http
        .get(format!("{}/api/v1/me/payments/live", svc.base))
        .bearer_auth(&shop)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("bread"),
            json!({"merchant": merchant, "amount": 30000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let payment = p["payment"].as_u64().unwrap();
    let mut seen = String::new();
    while !seen.contains("payment_received") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), live.chunk())
            .await
            .expect("a live event")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("event: payment") && seen.contains("30000"),
        "{seen}"
    );

    // History on both sides.
    let (_, h) = svc.get("/api/v1/me/history", Some(&citizen)).await;
    let kinds: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["cashback", "payment", "charge"], "{h}");
    let (_, h) = svc.get("/api/v1/me/history?limit=1", Some(&shop)).await;
    assert_eq!(h[0]["kind"], "payment_received");

    // The merchant refunds a third; the cash-back goes back with it.
    let (s, r) = svc
        .post(
            &format!("/api/v1/me/payments/{payment}/refund"),
            Some(&shop),
            Some("r1"),
            json!({"amount": 10000}),
        )
        .await;
    assert_eq!(
        (s, r["cashback"].as_i64()),
        (StatusCode::OK, Some(-1000)),
        "{r}"
    );
    // Someone else's payment is not theirs to refund.
    let (s, _) = svc
        .post(
            &format!("/api/v1/me/payments/{payment}/refund"),
            Some(&citizen),
            Some("r2"),
            json!({"amount": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The merchant redeems the rest to its bank.
    svc.bank
        .open_account(NewAccount {
            number: AccountNo::new("220-000001").unwrap(),
            holder: "bakery".into(),
            balance: 0,
            allow_negative: false,
        })
        .unwrap();
    link_bank(&svc, &shop, "220-000001", Some("bakery")).await;
    let (s, r) = svc
        .post(
            "/api/v1/me/redemptions",
            Some(&shop),
            Some("red-1"),
            json!({"amount": 20000}),
        )
        .await;
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{r}"
    );
    assert_eq!(
        svc.bank.balance(&AccountNo::new("220-000001").unwrap()),
        Some(20_000 + 1)
    );
    // The merchant's settlement history shows it paid (a projection of the journal: it
    // follows the answer within milliseconds, so it is polled).
    let mut list = Value::Null;
    for _ in 0..100 {
        let (s, l) = svc.get("/api/v1/me/settlements", Some(&shop)).await;
        assert_eq!(s, StatusCode::OK, "{l}");
        list = l;
        if list[0]["status"] == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(list[0]["amount"], 20000, "{list}");
    assert_eq!(list[0]["status"], "paid", "{list}");
    assert_eq!(list[0]["transfer"], r["transfer"], "{list} vs {r}");

    // A gift to a friend (bought value is giftable in the Busan-like scheme).
    let (s, g) = svc
        .post(
            "/api/v1/me/gifts",
            Some(&citizen),
            Some("g1"),
            json!({"recipient": friend, "amount": 5000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");

    // The operator halts the currency: payments get 503 with Retry-After, nothing moves.
    let (s, _) = svc
        .post(
            "/api/v1/operator/busan/halt",
            Some(&operator),
            Some("h1"),
            json!({"reason": "drill"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v, headers) = svc
        .call(
            reqwest::Method::POST,
            "/api/v1/me/payments",
            Some(&citizen),
            Some("during-halt"),
            Some(json!({"merchant": merchant, "amount": 1000, "pin": "123456"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("currency_halted"))
    );
    assert!(headers.get("retry-after").is_some());
    svc.post(
        "/api/v1/operator/busan/resume",
        Some(&operator),
        Some("h2"),
        json!({}),
    )
    .await;
    // The same request after the resume goes through (the refusal was not remembered).
    let (s, v) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("during-halt"),
            json!({"merchant": merchant, "amount": 1000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // A new scheme version from the operator; an invalid one is refused with the field.
    let (s, v, _) = svc
        .call(
            reqwest::Method::PUT,
            "/api/v1/operator/busan/scheme",
            Some(&operator),
            Some("s1"),
            Some(json!({"toml": BUSAN.replace("rate_bp = 1000", "rate_bp = 500")})),
        )
        .await;
    assert_eq!((s, v["version"].as_u64()), (StatusCode::OK, Some(2)), "{v}");
    let (s, v, _) = svc
        .call(
            reqwest::Method::PUT,
            "/api/v1/operator/busan/scheme",
            Some(&operator),
            Some("s2"),
            Some(json!({"toml": "name = \"x\""})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("scheme_invalid")),
        "{v}"
    );
    // Auto-charge settings are checked by the scheme.
    let (s, _, _) = svc
        .call(
            reqwest::Method::PUT,
            "/api/v1/me/auto-charge",
            Some(&citizen),
            Some("ac1"),
            Some(json!({"day": 31, "monthly_face": 100000, "topup": true})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = svc
        .call(
            reqwest::Method::PUT,
            "/api/v1/me/auto-charge",
            Some(&citizen),
            Some("ac2"),
            Some(json!({"day": 5, "monthly_face": 100000, "topup": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let auditor = svc.sign_in("auditor-busan", "correct horse battery").await;
    let (_, r) = svc.get("/api/v1/audit/busan/verify", Some(&auditor)).await;
    assert_eq!(r["ok"], true, "{r}");
    // The same verification in the background: started at once, then its progress.
    let (s, v) = svc
        .post(
            "/api/v1/audit/busan/verification",
            Some(&auditor),
            None,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let mut done = v;
    for _ in 0..200 {
        if done["running"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        done = svc
            .get("/api/v1/audit/busan/verification", Some(&auditor))
            .await
            .1;
    }
    assert_eq!(done["running"], false, "{done}");
    assert_eq!(done["answer"]["ok"], true, "{done}");
    assert!(
        done["checked"].as_u64().unwrap() >= done["total"].as_u64().unwrap(),
        "{done}"
    );
    // The operator's dashboard: what works, and sums that match its buckets.
    let (s, d) = svc
        .get("/api/v1/operator/busan/dashboard", Some(&operator))
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["health"]["payments"], true, "{d}");
    let bucket_payments: u64 = d["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["payments"].as_u64().unwrap())
        .sum();
    assert_eq!(d["window"]["payments"], bucket_payments, "{d}");
    // A charge's quote before it is made: what the wallet gets is what the bank pays
    // plus the discount, and nothing moved.
    let before = svc.engine.state_hash();
    let (s, q) = svc
        .post(
            "/api/v1/me/charges/quote",
            Some(&citizen),
            None,
            json!({"face": 50000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    assert_eq!(q["face"], 50_000, "{q}");
    assert_eq!(
        q["paid"].as_i64().unwrap() + q["discount"].as_i64().unwrap(),
        50_000,
        "{q}"
    );
    let (s, r) = svc.get("/api/v1/me/refund/quote", Some(&citizen)).await;
    assert!(
        s == StatusCode::OK || s == StatusCode::UNPROCESSABLE_ENTITY,
        "{s} {r}"
    );
    assert_eq!(svc.engine.state_hash(), before, "quotes move no money");
    let (_, t) = svc.get("/api/v1/audit/busan/totals", Some(&auditor)).await;
    assert_eq!(t["sum"], 0, "{t}");
    // The citizen sees this month's counters and the auto-charge just set.
    let (_, me) = svc.get("/api/v1/me", Some(&citizen)).await;
    assert_eq!(me["purchased_this_month"], 200_000, "{me}");
    assert_eq!(me["auto_charge"]["day"], 5, "{me}");
    assert_eq!(me["auto_charge"]["this_month"], "none", "{me}");
    let (_, b) = svc
        .get("/api/v1/operator/busan/budgets", Some(&operator))
        .await;
    let cashback_budget = b
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["account"] == 4)
        .unwrap();
    assert!(cashback_budget["spent_total"].as_i64().unwrap() > 0, "{b}");
    assert_eq!(cashback_budget["uses"], json!(["cashback"]), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_answered_at_once_with_503_and_retry_after() {
    // A sequencer queue of one submission: a burst must find it full.
    let svc = start_with(EngineOptions {
        queue_submissions_max: 1,
        ..EngineOptions::default()
    })
    .await;
    let (citizen, _) = citizen_with_money(&svc, "burst", "110-000020", 300_000).await;
    let (_, m) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "market", "password": "s3cret-pass", "currency": "busan", "category": 5411, "annual_revenue": 100000000, "brn": brn(3), "name": "부전시장 청과"}),
        )
        .await;
    let merchant = m["account"].as_u64().unwrap();
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    svc.post(
        &format!("/api/v1/operator/busan/merchants/{merchant}/approve"),
        Some(&operator),
        Some("a1"),
        json!({}),
    )
    .await;
    let svc = Arc::new(svc);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let svc = Arc::clone(&svc);
        let citizen = citizen.clone();
        tasks.spawn(async move {
            let key = format!("burst-{i}");
            svc.call(
                reqwest::Method::POST,
                "/api/v1/me/payments",
                Some(&citizen),
                Some(&key),
                Some(json!({"merchant": merchant, "amount": 100, "pin": "123456"})),
            )
            .await
        });
    }
    let (mut ok, mut busy, mut cashback) = (0i64, 0, 0i64);
    while let Some(r) = tasks.join_next().await {
        let (status, body, headers) = r.unwrap();
        match status {
            StatusCode::OK => {
                ok += 1;
                cashback += body["cashback"].as_i64().unwrap();
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["code"], "busy", "{body}");
                assert!(headers.get("retry-after").is_some());
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(ok > 0 && busy > 0, "ok {ok}, busy {busy}");
    // Exactly the accepted payments were made.
    let (_, w) = svc.get("/api/v1/me/wallet", Some(&citizen)).await;
    assert_eq!(
        w["balance"].as_i64().unwrap(),
        300_000 - ok * 100 + cashback,
        "{w}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_pins_lock_payments() {
    let svc = Arc::new(start().await);
    let (citizen, _) = citizen_with_money(&svc, "forgetful", "110-000030", 10_000).await;
    let (_, m) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "kiosk", "password": "s3cret-pass", "currency": "busan", "category": 5812, "annual_revenue": 100000000, "brn": brn(4), "name": "서면 분식"}),
        )
        .await;
    let merchant = m["account"].as_u64().unwrap();
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    svc.post(
        &format!("/api/v1/operator/busan/merchants/{merchant}/approve"),
        Some(&operator),
        Some("approve"),
        json!({}),
    )
    .await;
    let paid = json!({"merchant": merchant, "amount": 500, "pin": "123456"});
    let (s, first) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("paid-once"),
            paid.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    // Retries of that payment with another PIN (as after the citizen changed it) get
    // its answer, and count no wrong PIN: a new payment then has four tries left.
    for _ in 0..5 {
        let (s, again) = svc
            .post(
                "/api/v1/me/payments",
                Some(&citizen),
                Some("paid-once"),
                json!({"merchant": merchant, "amount": 500, "pin": "654321"}),
            )
            .await;
        assert_eq!(
            (s, &again["payment"]),
            (StatusCode::OK, &first["payment"]),
            "{again}"
        );
    }
    let (s, v) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("new-wrong"),
            json!({"merchant": merchant, "amount": 500, "pin": "654321"}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("pin_wrong")),
        "{v}"
    );
    assert!(
        v["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("4 tries left")),
        "{v}"
    );
    // Twenty guesses at once: every one is counted, none undoes the lock.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (svc, citizen) = (Arc::clone(&svc), citizen.clone());
        tasks.spawn(async move {
            svc.post(
                "/api/v1/me/payments",
                Some(&citizen),
                Some(&format!("guess-{i}")),
                json!({"merchant": 1, "amount": 100, "pin": format!("{:06}", 900_000 + i)}),
            )
            .await
            .0
        });
    }
    while let Some(s) = tasks.join_next().await {
        let s = s.unwrap();
        assert!(
            s == StatusCode::UNAUTHORIZED || s == StatusCode::TOO_MANY_REQUESTS,
            "{s}"
        );
    }
    let (s, v) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("y"),
            json!({"merchant": 1, "amount": 100, "pin": "123456"}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("pin_locked"))
    );
    // A retry of the payment made before the lock still gets its answer: it happened.
    let (s, again) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("paid-once"),
            paid,
        )
        .await;
    assert_eq!(
        (s, &again["payment"]),
        (StatusCode::OK, &first["payment"]),
        "{again}"
    );
    // Bad query and path values are problems too, not plain text.
    let (s, v, headers) = svc
        .call(
            reqwest::Method::GET,
            "/api/v1/me/history?limit=many",
            Some(&citizen),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    let (s, v, headers) = svc
        .call(
            reqwest::Method::POST,
            "/api/v1/operator/busan/merchants/not-a-number/approve",
            Some(&operator),
            Some("k"),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_path")),
        "{v}"
    );
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    // Re-linking the bank account (where refunds go) needs the password.
    let (s, v) = svc
        .post(
            "/api/v1/me/bank-account/verification",
            Some(&citizen),
            Some("thief"),
            json!({"bank_account": "999-THIEF", "holder_name": "도둑", "password": "not-the-password"}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("password_wrong"))
    );
    // The one-step link of earlier versions links nothing and names the new flow.
    let (s, v) = svc
        .post(
            "/api/v1/me/bank-account",
            Some(&citizen),
            None,
            json!({"bank_account": "999-THIEF", "password": "s3cret-pass"}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::GONE, Some("bank_verification_required")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_by_every_role_allowed_ones_work_the_rest_get_403_and_change_nothing() {
    let svc = start().await;
    let (citizen, wallet) = citizen_with_money(&svc, "matrix-citizen", "110-000040", 100_000).await;
    let (_, m) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "matrix-shop", "password": "s3cret-pass", "currency": "busan", "category": 5812, "annual_revenue": 100000000, "brn": brn(5), "name": "광안리 횟집"}),
        )
        .await;
    let merchant_id = m["account"].as_u64().unwrap();
    let merchant = svc.sign_in("matrix-shop", "s3cret-pass").await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let auditor = svc.sign_in("auditor-busan", "correct horse battery").await;
    let stranger = svc.sign_in("operator-seoul", "correct horse battery").await;
    svc.post(
        &format!("/api/v1/operator/busan/merchants/{merchant_id}/approve"),
        Some(&operator),
        Some("approve"),
        json!({}),
    )
    .await;
    let (_, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("matrix-pay"),
            json!({"merchant": merchant_id, "amount": 1000, "pin": "123456"}),
        )
        .await;
    let payment = p["payment"].as_u64().unwrap();

    use reqwest::Method as M;
    let approve = format!("/api/v1/operator/busan/merchants/{merchant_id}/approve");
    let suspend = format!("/api/v1/operator/busan/merchants/{merchant_id}/suspend");
    let refund = format!("/api/v1/me/payments/{payment}/refund");
    // (method, path, body, roles allowed)
    let routes: Vec<(M, String, Option<Value>, &[&str])> = vec![
        (
            M::GET,
            "/api/v1/me/wallet".into(),
            None,
            &["citizen", "merchant"],
        ),
        (
            M::GET,
            "/api/v1/me/history".into(),
            None,
            &["citizen", "merchant"],
        ),
        (M::GET, "/api/v1/me/settlements".into(), None, &["merchant"]),
        (
            M::POST,
            "/api/v1/me/scan".into(),
            Some(json!({"payload": "https://example.com"})),
            &["citizen"],
        ),
        (
            M::POST,
            "/api/v1/me/scan-image".into(),
            Some(json!({"not": "an image"})),
            &["citizen"],
        ),
        (
            M::POST,
            "/api/v1/me/consumer-code".into(),
            Some(json!({"pin": "123456"})),
            &["citizen"],
        ),
        (M::GET, "/api/v1/me/qr".into(), None, &["merchant"]),
        (
            M::POST,
            "/api/v1/me/consumer-payments".into(),
            Some(json!({"code": "MC1:NOTACODE", "amount": 100})),
            &["merchant"],
        ),
        (
            M::GET,
            "/api/v1/operator/busan/merchants?status=applied".into(),
            None,
            &["operator"],
        ),
        (
            M::GET,
            format!("/api/v1/operator/busan/merchants/{merchant_id}/qr?format=svg"),
            None,
            &["operator"],
        ),
        (
            M::POST,
            "/api/v1/operator/busan/registry-sync?apply=false".into(),
            Some(json!("사업자등록번호,상호명\n")),
            &["operator"],
        ),
        (
            M::POST,
            "/api/v1/operator/busan/qr-aliases".into(),
            Some(json!("payload,merchant_id\n")),
            &["operator"],
        ),
        (
            M::GET,
            "/api/v1/operator/busan/revenue-bands".into(),
            None,
            &["operator"],
        ),
        (
            M::PUT,
            "/api/v1/operator/busan/revenue-bands".into(),
            Some(json!("label,min_won,max_won\n")),
            &["operator"],
        ),
        (
            M::POST,
            format!("/api/v1/operator/busan/merchants/{merchant_id}/close"),
            Some(json!({"reason": "matrix"})),
            &["operator"],
        ),
        (
            M::POST,
            format!("/api/v1/operator/busan/merchants/{merchant_id}/reopen"),
            Some(json!({"reason": "matrix"})),
            &["operator"],
        ),
        (
            M::POST,
            "/api/v1/me/bank-account".into(),
            Some(json!({"bank_account": "110-000040", "password": "s3cret-pass"})),
            &["citizen", "merchant"],
        ),
        (
            M::POST,
            "/api/v1/me/bank-account/verification".into(),
            Some(
                json!({"bank_account": "110-000040", "holder_name": "matrix-citizen", "password": "s3cret-pass"}),
            ),
            &["citizen", "merchant"],
        ),
        (
            M::GET,
            "/api/v1/me/bank-account/verification/0123456789abcdef".into(),
            None,
            &["citizen", "merchant"],
        ),
        (
            M::POST,
            "/api/v1/me/bank-account/verification/0123456789abcdef/confirm".into(),
            Some(json!({"code": "1234", "consent": true})),
            &["citizen", "merchant"],
        ),
        (
            M::POST,
            "/api/v1/me/charges".into(),
            Some(json!({"face": 10000})),
            &["citizen"],
        ),
        (
            M::POST,
            "/api/v1/me/payments".into(),
            Some(json!({"merchant": merchant_id, "amount": 100, "pin": "123456"})),
            &["citizen"],
        ),
        (
            M::POST,
            "/api/v1/me/gifts".into(),
            Some(json!({"recipient": wallet, "amount": 100, "pin": "123456"})),
            &["citizen"],
        ),
        (M::POST, "/api/v1/me/refund".into(), None, &["citizen"]),
        (
            M::POST,
            "/api/v1/me/purchases/1/cancel".into(),
            None,
            &["citizen"],
        ),
        (
            M::PUT,
            "/api/v1/me/auto-charge".into(),
            Some(json!({"day": 5, "monthly_face": 10000, "topup": false})),
            &["citizen"],
        ),
        (M::POST, refund, Some(json!({"amount": 100})), &["merchant"]),
        (
            M::POST,
            "/api/v1/me/redemptions".into(),
            Some(json!({"amount": 100})),
            &["merchant"],
        ),
        (M::POST, approve, Some(json!({})), &["operator"]),
        (
            M::POST,
            suspend,
            Some(json!({"reason": "matrix"})),
            &["operator"],
        ),
        (
            M::GET,
            "/api/v1/operator/busan/report".into(),
            None,
            &["operator"],
        ),
        (
            M::PUT,
            "/api/v1/operator/busan/scheme".into(),
            Some(json!({"toml": BUSAN})),
            &["operator"],
        ),
        (
            M::GET,
            "/api/v1/operator/busan/scheme".into(),
            None,
            &["operator"],
        ),
        (
            M::POST,
            "/api/v1/operator/busan/scheme/99/withdraw".into(),
            None,
            &["operator"],
        ),
        (
            M::GET,
            "/api/v1/audit/busan/verify".into(),
            None,
            &["operator", "auditor"],
        ),
        (
            M::POST,
            "/api/v1/me/charges/quote".into(),
            Some(json!({"face": 50000})),
            &["citizen"],
        ),
        (M::GET, "/api/v1/me/refund/quote".into(), None, &["citizen"]),
        (
            M::GET,
            "/api/v1/me/purchases/1/cancel/quote".into(),
            None,
            &["citizen"],
        ),
        (
            M::GET,
            "/api/v1/operator/busan/dashboard".into(),
            None,
            &["operator"],
        ),
        (
            M::POST,
            "/api/v1/operator/busan/successor".into(),
            None,
            &["operator"],
        ),
        // Last: it holds the whole-journal turn while it runs in the background.
        (
            M::POST,
            "/api/v1/audit/busan/verification".into(),
            None,
            &["operator", "auditor"],
        ),
        (
            M::GET,
            "/api/v1/audit/busan/verification".into(),
            None,
            &["operator", "auditor"],
        ),
    ];
    let roles: [(&str, Option<&str>); 6] = [
        ("anonymous", None),
        ("citizen", Some(&citizen)),
        ("merchant", Some(&merchant)),
        ("operator", Some(&operator)),
        ("auditor", Some(&auditor)),
        ("other town's operator", Some(&stranger)),
    ];
    let mut n = 0;
    for (method, path, body, allowed) in &routes {
        for (role, token) in roles {
            n += 1;
            let before = svc.engine.state_hash();
            let (s, v, _) = svc
                .call(
                    method.clone(),
                    path,
                    token,
                    Some(&format!("matrix-{n}")),
                    body.clone(),
                )
                .await;
            let may = allowed.contains(&role);
            match (role, may) {
                ("anonymous", _) => {
                    assert_eq!(s, StatusCode::UNAUTHORIZED, "{role} {method} {path}: {v}")
                }
                (_, false) => {
                    assert_eq!(s, StatusCode::FORBIDDEN, "{role} {method} {path}: {v}");
                    assert_eq!(v["code"], "forbidden");
                }
                (_, true) => assert!(
                    s != StatusCode::FORBIDDEN
                        && s != StatusCode::UNAUTHORIZED
                        && !s.is_server_error(),
                    "{role} {method} {path}: {s} {v}"
                ),
            }
            if !may {
                assert_eq!(
                    svc.engine.state_hash(),
                    before,
                    "{role} {method} {path} changed the ledger"
                );
            }
        }
    }
    // The successor's routes take the credential the operator issued, never a
    // session: every role's token is a stranger there.
    for (role, token) in roles {
        for (method, path, body) in [
            (M::GET, "/api/v1/handover/busan/journal?after=0", None),
            (
                M::POST,
                "/api/v1/handover/busan/cutover",
                Some(json!({"to": "https://new.example", "recipient": "age1x"})),
            ),
            (M::GET, "/api/v1/handover/busan/set/manifest.json", None),
        ] {
            let (s, v, _) = svc.call(method.clone(), path, token, None, body).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{role} {method} {path}: {v}");
        }
    }
    let (s, issued, _) = svc
        .call(
            M::POST,
            "/api/v1/operator/busan/successor",
            Some(&operator),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{issued}");
    let credential = issued["credential"].as_str().unwrap().to_owned();
    let feed = svc
        .http
        .get(format!(
            "{}/api/v1/handover/busan/journal?after=0",
            svc.base
        ))
        .bearer_auth(&credential)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    let durable: u64 = feed.headers()["maeul-durable-seq"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let records: u64 = feed.headers()["maeul-records"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        durable > 0 && records > 0 && records <= durable,
        "{durable} {records}"
    );
    assert!(!feed.bytes().await.unwrap().is_empty());
    // The credential is this currency's only, and a newer one replaces it.
    let (s, _, _) = svc
        .call(
            M::GET,
            "/api/v1/handover/seoul/journal",
            Some(&credential),
            None,
            None,
        )
        .await;
    assert!(
        matches!(s, StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND),
        "{s}"
    );
    let (_, newer, _) = svc
        .call(
            M::POST,
            "/api/v1/operator/busan/successor",
            Some(&operator),
            None,
            None,
        )
        .await;
    assert_ne!(newer["credential"], issued["credential"]);
    let (s, _, _) = svc
        .call(
            M::GET,
            "/api/v1/handover/busan/journal",
            Some(&credential),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the replaced credential");

    // The live stream (it never ends, so only its start is checked).
    for (role, token) in roles {
        let mut req = svc
            .http
            .get(format!("{}/api/v1/me/payments/live", svc.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let s = req.send().await.unwrap().status();
        let expected = match role {
            "anonymous" => StatusCode::UNAUTHORIZED,
            "merchant" | "citizen" => StatusCode::OK,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(s, expected, "{role} live");
    }
    // Halt and resume, last: only the operator of the town.
    for (role, token) in roles {
        let (s, _, _) = svc
            .call(
                M::POST,
                "/api/v1/operator/busan/halt",
                token,
                Some(&format!("halt-{role}")),
                Some(json!({"reason": "matrix"})),
            )
            .await;
        let expected = match role {
            "anonymous" => StatusCode::UNAUTHORIZED,
            "operator" => StatusCode::NO_CONTENT,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(s, expected, "{role} halt");
        if role == "operator" {
            let (s, _, _) = svc
                .call(
                    M::POST,
                    "/api/v1/operator/busan/resume",
                    token,
                    Some("resume"),
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::NO_CONTENT);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_writing_too_fast_is_told_to_wait() {
    let svc = start_limited(
        EngineOptions::default(),
        service::limits::WriteLimit {
            per_second: 1,
            burst: 4,
        },
    )
    .await;
    // Sign-up and the first charge use two of the four.
    let (citizen, _) = citizen_with_money(&svc, "hasty", "110-000050", 10_000).await;
    let mut answers = Vec::new();
    for i in 0..4 {
        let (s, _, headers) = svc
            .call(
                reqwest::Method::PUT,
                "/api/v1/me/auto-charge",
                Some(&citizen),
                Some(&format!("ac-{i}")),
                Some(json!({"day": 5, "monthly_face": 10000, "topup": false})),
            )
            .await;
        answers.push((s, headers.get("retry-after").is_some()));
    }
    assert!(
        answers.iter().any(|(s, _)| *s == StatusCode::NO_CONTENT),
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .any(|(s, retry)| *s == StatusCode::TOO_MANY_REQUESTS && *retry),
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_live_stream_and_a_cut_off_sign_up_is_finished_at_sign_in() {
    let svc = start().await;
    let (_, m) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "stall", "password": "s3cret-pass", "currency": "busan", "category": 5411, "annual_revenue": 100000000, "brn": brn(6), "name": "자갈치 건어물"}),
        )
        .await;
    assert!(m["account"].as_u64().is_some(), "{m}");
    let shop = svc.sign_in("stall", "s3cret-pass").await;
    let mut live = svc
        .http
        .get(format!("{}/api/v1/me/payments/live", svc.base))
        .bearer_auth(&shop)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let (s, _, _) = svc
        .call(
            reqwest::Method::DELETE,
            "/api/v1/sessions/current",
            Some(&shop),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // The stream ends (keep-alive comments may come first) within the check interval.
    let ended = tokio::time::timeout(Duration::from_secs(12), async {
        while let Ok(Some(_)) = live.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the live stream outlived its session");

    // A sign-up whose user was written but whose ledger set-up never ran (a crash in
    // between): the first sign-in finishes it, and the wallet works.
    let user = svc
        .auth
        .create(NewUser {
            login: "cutoff".into(),
            password: "s3cret-pass".into(),
            pin: Some("123456".into()),
            role: Role::Citizen,
            currency: "busan".into(),
            currencies: Vec::new(),
            setup: Some(r#"{"kind":"citizen","birth_year":1990}"#.into()),
        })
        .await
        .unwrap();
    let token = svc.sign_in("cutoff", "s3cret-pass").await;
    let (s, me) = svc.get("/api/v1/me", Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(
        me["account"].as_u64(),
        Some(1_000_000_000 + user as u64),
        "{me}"
    );
    let (s, w) = svc.get("/api/v1/me/wallet", Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    // Signing in again does not set it up twice.
    let again = svc.sign_in("cutoff", "s3cret-pass").await;
    let (s, _) = svc.get("/api/v1/me/wallet", Some(&again)).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_and_sign_ins_from_one_address_are_limited() {
    let svc = start_configured(
        EngineOptions::default(),
        service::limits::WriteLimit::default(),
        service::limits::WriteLimit {
            per_second: 1,
            burst: 3,
        },
    )
    .await;
    let sign_up = json!({"login": "eun", "password": "s3cret-pass", "pin": "123456", "birth_year": 1988, "currency": "busan"});
    let (s, v) = svc.post("/api/v1/citizens", None, None, sign_up).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for _ in 0..2 {
        let (s, _) = svc
            .post(
                "/api/v1/sessions",
                None,
                None,
                json!({"login": "eun", "password": "wrong-guess"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // The fourth request from this address within the second: told to wait, and no
    // user is made.
    let (s, v, headers) = svc
        .call(
            reqwest::Method::POST,
            "/api/v1/citizens",
            None,
            None,
            Some(json!({"login": "eun2", "password": "s3cret-pass", "pin": "123456", "birth_year": 1988, "currency": "busan"})),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["code"], "too_many_requests");
    assert!(headers.get("retry-after").is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, v) = svc
        .post(
            "/api/v1/sessions",
            None,
            None,
            json!({"login": "eun2", "password": "s3cret-pass"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "eun2 was never made: {v}");
}

impl Service {
    /// A POST with a raw body (CSV, images).
    async fn post_bytes(
        &self,
        path: &str,
        token: &str,
        key: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req.send().await.unwrap();
        let s = res.status();
        let text = res.text().await.unwrap();
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get_bytes(&self, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let s = res.status();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (s, ct, res.bytes().await.unwrap().to_vec())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_codes_pay_merchants_across_operators_and_the_directory_finds_them() {
    let svc = start().await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let (citizen, _) = citizen_with_money(&svc, "minsu", "110-000070", 300_000).await;

    // A merchant applies with its place and hours; the operator sees the application.
    let (s, m) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "gyeongdong", "password": "s3cret-pass", "currency": "busan",
                   "category": 5411, "annual_revenue": 200000000, "brn": brn(70),
                   "name": "경동시장 행복상회", "name_en": "Haengbok Store", "mcc": 5411,
                   "road_address": "부산광역시 부산진구 중앙대로 700",
                   "lat": 35.1577, "lon": 129.0592, "hours": "월-토 09:00-20:00"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let merchant = m["account"].as_u64().unwrap();
    let (s, apps) = svc
        .get(
            "/api/v1/operator/busan/merchants?status=applied",
            Some(&operator),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{apps}");
    assert!(
        apps["merchants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == merchant),
        "{apps}"
    );
    // The same business number cannot apply twice.
    let (s, dup) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "gyeongdong2", "password": "s3cret-pass", "currency": "busan",
                   "category": 5411, "annual_revenue": 1, "brn": brn(70), "name": "다른 가게"}),
        )
        .await;
    assert_eq!(
        (s, dup["code"].as_str()),
        (StatusCode::CONFLICT, Some("brn_taken")),
        "{dup}"
    );
    // Not yet approved: its code says so.
    let shop = svc.sign_in("gyeongdong", "s3cret-pass").await;
    let (_, _, text) = svc.get_bytes("/api/v1/me/qr?format=text", &shop).await;
    let sticker = String::from_utf8(text).unwrap();
    let (_, v) = svc
        .post(
            "/api/v1/me/scan",
            Some(&citizen),
            None,
            json!({"payload": sticker}),
        )
        .await;
    assert_eq!(v["code"], "merchant_suspended", "{v}");
    let (s, _) = svc
        .post(
            &format!("/api/v1/operator/busan/merchants/{merchant}/approve"),
            Some(&operator),
            Some("approve-gd"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // The sticker as a PNG, read back from the image as a phone camera would: it pays.
    let (s, ct, png) = svc.get_bytes("/api/v1/me/qr", &shop).await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "image/png"));
    let (s, v) = svc
        .post_bytes(
            "/api/v1/me/scan-image",
            &citizen,
            None,
            "image/png",
            png.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["code"].as_str(), v["payable"].as_bool()),
        (Some("merchant_found"), Some(true)),
        "{v}"
    );
    assert_eq!(v["merchant"]["name"], "경동시장 행복상회");
    let scanned = String::from_utf8(qr::decode_image(&png).unwrap().remove(0)).unwrap();
    assert_eq!(scanned, sticker);
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("qr-pay-1"),
            json!({"code": scanned, "amount": 12000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    // A kiosk's one-sale code carries the amount; a different amount is refused.
    let (_, _, dynamic) = svc
        .get_bytes("/api/v1/me/qr?format=text&amount=4500", &shop)
        .await;
    let dynamic = String::from_utf8(dynamic).unwrap();
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("qr-pay-2"),
            json!({"code": dynamic, "amount": 5000, "pin": "123456"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("amount_differs_from_code"))
    );
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("qr-pay-3"),
            json!({"code": dynamic, "pin": "123456"}),
        )
        .await;
    assert_eq!(
        (s, p["amount"].as_i64()),
        (StatusCode::OK, Some(4500)),
        "{p}"
    );
    // A damaged code, another town's code, and somebody else's scheme: each says what it is.
    let mut damaged = scanned.clone();
    damaged.replace_range(
        damaged.len() - 1..,
        if scanned.ends_with('0') { "1" } else { "0" },
    );
    let other_town = qr::MerchantCode::new_static("seoul", 42, 5411, "남대문 가게", "중구")
        .encode()
        .unwrap();
    for (payload, code) in [
        (damaged.as_str(), "bad_checksum"),
        (other_town.as_str(), "other_currency"),
        ("https://example.com/hello", "not_payment_code"),
    ] {
        let (s, p) = svc
            .post(
                "/api/v1/me/payments",
                Some(&citizen),
                Some(&format!("bad-{code}")),
                json!({"code": payload, "amount": 1000, "pin": "123456"}),
            )
            .await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{p}"
        );
        assert!(!p["message_ko"].as_str().unwrap().is_empty());
    }

    // A previous operator's stickers: an alias file makes them pay the right shop.
    let old = "https://pay.old-operator.example/m?id=000777";
    let csv = format!("payload,merchant_id,note\n{old},{merchant},old sticker\nnot-a-row\n");
    let (s, r) = svc
        .post_bytes(
            "/api/v1/operator/busan/qr-aliases",
            &operator,
            Some("alias-1"),
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    assert_eq!((s, r["added"].as_u64()), (StatusCode::OK, Some(1)), "{r}");
    assert_eq!(r["rejected"][0]["line"], 3, "{r}");
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("alias-pay"),
            json!({"code": old, "amount": 3000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");

    // The till scans the citizen's one-time code; the citizen's app sees the payment.
    let mut live = svc
        .http
        .get(format!("{}/api/v1/me/payments/live", svc.base))
        .bearer_auth(&citizen)
        .send()
        .await
        .unwrap();
    let (s, c) = svc
        .post(
            "/api/v1/me/consumer-code",
            Some(&citizen),
            None,
            json!({"pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let code = c["code"].as_str().unwrap().to_owned();
    let (s, p) = svc
        .post(
            "/api/v1/me/consumer-payments",
            Some(&shop),
            Some("till-1"),
            json!({"code": code, "amount": 7000}),
        )
        .await;
    assert_eq!(
        (s, p["amount"].as_i64()),
        (StatusCode::OK, Some(7000)),
        "{p}"
    );
    let mut seen = String::new();
    while !seen.contains("7000") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), live.chunk())
            .await
            .expect("the citizen sees the payment")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The same key repeats the answer; the same code under a new key is refused.
    let (s, again) = svc
        .post(
            "/api/v1/me/consumer-payments",
            Some(&shop),
            Some("till-1"),
            json!({"code": code, "amount": 7000}),
        )
        .await;
    assert_eq!(
        (s, again["payment"].clone()),
        (StatusCode::OK, p["payment"].clone())
    );
    let (s, used) = svc
        .post(
            "/api/v1/me/consumer-payments",
            Some(&shop),
            Some("till-2"),
            json!({"code": code, "amount": 7000}),
        )
        .await;
    assert_eq!(
        (s, used["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("consumer_code_already_used")
        ),
        "{used}"
    );

    // Suspended: the sticker stops paying and says why; reopened after a close, it pays.
    let (s, _) = svc
        .post(
            &format!("/api/v1/operator/busan/merchants/{merchant}/suspend"),
            Some(&operator),
            Some("suspend-gd"),
            json!({"reason": "cash-out check"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("qr-suspended"),
            json!({"code": scanned, "amount": 1000, "pin": "123456"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("merchant_suspended")),
        "{p}"
    );
    // A long Korean reason (more bytes than the journal keeps) still closes it in the
    // ledger too: paying by id is refused as well.
    let long_reason = "폐업 신고 확인".repeat(20);
    for (verb, key, reason) in [
        ("close", "close-gd", long_reason.as_str()),
        ("reopen", "reopen-gd", "drill"),
    ] {
        let (s, v) = svc
            .post(
                &format!("/api/v1/operator/busan/merchants/{merchant}/{verb}"),
                Some(&operator),
                Some(key),
                json!({"reason": reason}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{verb}: {v}");
        if verb == "close" {
            let (s, p) = svc
                .post(
                    "/api/v1/me/payments",
                    Some(&citizen),
                    Some("by-id-closed"),
                    json!({"merchant": merchant, "amount": 1000, "pin": "123456"}),
                )
                .await;
            assert_eq!(
                s,
                StatusCode::UNPROCESSABLE_ENTITY,
                "a closed shop is paid by id: {p}"
            );
            let (s, _) = svc
                .get(
                    &format!("/api/v1/directory/busan/merchants/{merchant}"),
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "closed shops stay visible, saying so");
        }
    }
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("qr-reopened"),
            json!({"code": scanned, "amount": 1000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");

    // A registry file in CP949, as public data comes: synced, re-synced without change,
    // and found by distance, partial name and initial consonants.
    let rows = format!(
        "사업자등록번호,상호명,업종코드,도로명주소,위도,경도,영업상태\n\
         {},경동시장 건어물,5411,부산광역시 동래구 충렬대로 100,35.2050,129.0780,영업\n\
         {},동래 할매 파전,5812,부산광역시 동래구 명륜로 94,35.2100,129.0860,영업\n\
         {},문 닫은 가게,5812,부산광역시 동래구 온천장로 1,35.2200,129.0800,폐업\n\
         123,잘못된 줄,5812,부산광역시 동래구 온천장로 2,35.2200,129.0800,영업\n",
        brn(71),
        brn(72),
        brn(73)
    );
    let (cp949, _, bad) = encoding_rs::EUC_KR.encode(&rows);
    assert!(!bad);
    let (s, r) = svc
        .post_bytes(
            "/api/v1/operator/busan/registry-sync",
            &operator,
            Some("sync-1"),
            "text/csv",
            cp949.to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["added"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{r}"
    );
    let (s, r2) = svc
        .post_bytes(
            "/api/v1/operator/busan/registry-sync",
            &operator,
            Some("sync-2"),
            "text/csv",
            cp949.to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r2}");
    assert_eq!(
        (
            r2["added"].as_u64(),
            r2["changed"].as_u64(),
            r2["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(2)),
        "{r2}"
    );
    assert_eq!(
        r2["ledger_commands"], 0,
        "a repeated sync sends nothing to the ledger: {r2}"
    );
    let (_, near) = svc
        .get(
            "/api/v1/directory/busan/nearby?lat=35.2060&lon=129.0790&radius_m=2000",
            None,
        )
        .await;
    let names: Vec<&str> = near["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"경동시장 건어물"), "{near}");
    assert!(
        names.contains(&"동래 할매 파전") && !names.contains(&"문 닫은 가게"),
        "{near}"
    );
    for q in ["ㄱㄷㅅㅈ", "시장", "haengbok"] {
        let (s, found) = svc
            .get(
                &format!("/api/v1/directory/busan/search?q={}", urlencode(q)),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{found}");
        assert!(
            !found["merchants"].as_array().unwrap().is_empty(),
            "{q}: {found}"
        );
    }
    // A synced merchant can be paid (its ledger account follows the registry).
    let synced = near["merchants"][0]["id"].as_u64().unwrap();
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("pay-synced"),
            json!({"merchant": synced, "amount": 2000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ----- registry import as a migrating operator meets it ------------------------------

impl Service {
    /// A PUT with a raw body (CSV).
    async fn put_bytes(
        &self,
        path: &str,
        token: &str,
        key: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let res = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .header("Idempotency-Key", key)
            .body(body)
            .send()
            .await
            .unwrap();
        let s = res.status();
        let text = res.text().await.unwrap();
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A registry sync answered as the CSV row report: (status, content type, rows).
    async fn sync_csv(
        &self,
        operator: &str,
        query: &str,
        key: &str,
        file: Vec<u8>,
    ) -> (StatusCode, String, Vec<BTreeMap<String, String>>) {
        let res = self
            .http
            .post(format!(
                "{}/api/v1/operator/busan/registry-sync?report=csv&{query}",
                self.base
            ))
            .bearer_auth(operator)
            .header("content-type", "text/csv")
            .header("Idempotency-Key", key)
            .body(file)
            .send()
            .await
            .unwrap();
        let s = res.status();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = res.bytes().await.unwrap().to_vec();
        assert!(
            bytes.starts_with(b"\xEF\xBB\xBF"),
            "UTF-8 with a BOM for Excel"
        );
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        assert_eq!(
            header,
            [
                "line",
                "brn",
                "outcome",
                "code",
                "message_ko",
                "message_en",
                "merchant_id"
            ]
        );
        // Messages may hold commas: split the data rows with a real CSV reader.
        let mut rows = Vec::new();
        let mut field = String::new();
        let mut record = Vec::new();
        let mut quoted = false;
        let mut chars = text.split_once('\n').unwrap().1.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                ('"', _) => quoted = !quoted,
                (',', false) => record.push(std::mem::take(&mut field)),
                ('\r', false) => {}
                ('\n', false) => {
                    record.push(std::mem::take(&mut field));
                    let row: BTreeMap<String, String> = header
                        .iter()
                        .cloned()
                        .zip(std::mem::take(&mut record))
                        .collect();
                    rows.push(row);
                }
                (c, _) => field.push(c),
            }
        }
        (s, ct, rows)
    }

    async fn pay(
        &self,
        citizen: &str,
        key: &str,
        merchant: u64,
        amount: i64,
    ) -> (StatusCode, Value) {
        self.post(
            "/api/v1/me/payments",
            Some(citizen),
            Some(key),
            json!({"merchant": merchant, "amount": amount, "pin": "123456"}),
        )
        .await
    }
}

/// The merchant id the row report gives the row on `line` (its `added` outcome).
fn added_on(rows: &[BTreeMap<String, String>], line: u64) -> u64 {
    rows.iter()
        .find(|r| r["line"] == line.to_string() && r["outcome"] == "added")
        .unwrap_or_else(|| panic!("no merchant added on line {line}: {rows:?}"))["merchant_id"]
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revenue_band_labels_pay_the_cash_back_the_scheme_says_and_unknown_the_lowest() {
    let svc = start().await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;

    // The operator's own grades, stored once for every later sync.
    let (s, v) = svc
        .put_bytes(
            "/api/v1/operator/busan/revenue-bands",
            &operator,
            "bands-1",
            "label,min_won,max_won\nA등급,0,99999999\n"
                .as_bytes()
                .to_vec(),
        )
        .await;
    assert_eq!((s, v["labels"].as_u64()), (StatusCode::OK, Some(1)), "{v}");
    let (s, _, table) = svc
        .get_bytes("/api/v1/operator/busan/revenue-bands", &operator)
        .await;
    let table = String::from_utf8(table).unwrap();
    assert_eq!(s, StatusCode::OK);
    assert!(
        table.starts_with("label,min_won,max_won\nA등급,0,99999999\n")
            && table.contains("10억~30억,1000000001,3000000000"),
        "{table}"
    );
    let (s, bad) = svc
        .put_bytes(
            "/api/v1/operator/busan/revenue-bands",
            &operator,
            "bands-2",
            "label,min_won,max_won\nB,9,1\n".as_bytes().to_vec(),
        )
        .await;
    assert_eq!(
        (s, bad["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("revenue_bands_invalid")),
        "{bad}"
    );

    // A previous operator's dump: CP949, CRLF, band labels.
    let rows = format!(
        "사업자등록번호,상호명,도로명주소,위도,경도,매출구간,영업상태\r\n\
         {},큰 마트,부산광역시 해운대구 해운대로 1,35.16,129.16,30억 초과,영업\r\n\
         {},중간 식당,부산광역시 해운대구 해운대로 2,35.16,129.16,10억~30억,영업\r\n\
         {},작은 분식,부산광역시 해운대구 해운대로 3,35.16,129.16,1억 미만,영업\r\n\
         {},알 수 없는 가게,부산광역시 해운대구 해운대로 4,35.16,129.16,확인불가,영업\r\n\
         {},걸친 가게,부산광역시 해운대구 해운대로 5,35.16,129.16,5억~20억,영업\r\n\
         {},등급 가게,부산광역시 해운대구 해운대로 6,35.16,129.16,A등급,영업\r\n",
        brn(81),
        brn(82),
        brn(83),
        brn(84),
        brn(85),
        brn(86)
    );
    let (file, _, _) = encoding_rs::EUC_KR.encode(&rows);
    let file = file.to_vec();

    // The dry run says, per row, which revenues stay unknown and why, in both languages.
    let (s, dry) = svc
        .post_bytes(
            "/api/v1/operator/busan/registry-sync?apply=false",
            &operator,
            Some("band-dry"),
            "text/csv",
            file.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(
        (dry["added"].as_u64(), dry["warnings"].as_u64()),
        (Some(6), Some(2)),
        "{dry}"
    );
    let attention: Vec<(u64, &str)> = dry["attention"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        attention,
        vec![(5, "revenue_unreadable"), (6, "revenue_straddles")],
        "{dry}"
    );
    let unreadable = &dry["attention"][0];
    assert!(
        unreadable["message_ko"]
            .as_str()
            .unwrap()
            .contains("확인불가")
    );
    assert!(
        unreadable["message_en"]
            .as_str()
            .unwrap()
            .contains("lowest cash-back rate")
    );
    assert!(
        dry["attention"][1]["message_ko"]
            .as_str()
            .unwrap()
            .contains("10억")
    );

    let (s, ct, report) = svc.sync_csv(&operator, "", "band-sync", file).await;
    assert_eq!(
        (s, ct.as_str()),
        (StatusCode::OK, "text/csv; charset=utf-8")
    );
    let ids: Vec<u64> = (2..=7).map(|line| added_on(&report, line)).collect();

    // 10,000 won of bought value at each (a citizen each, so that no cash-back already
    // earned is spent first): the Busan-like scheme's rates (≤ 10억 10%, ≤ 30억 8%,
    // above 0%); an unknown revenue earns its lowest band, 0%.
    let mut paid = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (citizen, _) = citizen_with_money(
            &svc,
            &format!("band-citizen-{i}"),
            &format!("110-00008{i}"),
            50_000,
        )
        .await;
        let (s, p) = svc
            .pay(&citizen, &format!("band-pay-{i}"), *id, 10_000)
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        paid.push(p["cashback"].as_i64().unwrap());
    }
    assert_eq!(
        paid,
        vec![0, 800, 1_000, 0, 0, 1_000],
        "30억 초과, 10억~30억, 1억 미만, unreadable, straddling, the operator's A등급"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_previous_operators_qr_column_pays_from_the_moment_of_import() {
    let svc = start().await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let (citizen, _) = citizen_with_money(&svc, "qr-citizen", "110-000082", 100_000).await;
    let header = "사업자등록번호,상호명,도로명주소,위도,경도,영업상태,기존QR\n";

    // A shop already known, whose old sticker was imported earlier.
    let first = format!(
        "{header}{},먼저 온 가게,부산광역시 중구 중앙대로 1,35.1,129.03,영업,\n",
        brn(90)
    );
    let (_, _, report) = svc
        .sync_csv(&operator, "", "qr-sync-0", first.into_bytes())
        .await;
    let earlier = added_on(&report, 2);
    let (s, r) = svc
        .post_bytes(
            "/api/v1/operator/busan/qr-aliases",
            &operator,
            Some("qr-alias-0"),
            "text/csv",
            format!("payload,merchant_id\nOLD-STICKER-90,{earlier}\n").into_bytes(),
        )
        .await;
    assert_eq!((s, r["added"].as_u64()), (StatusCode::OK, Some(1)), "{r}");

    let old = "https://old-operator.example/pay?shop=000091";
    let file = format!(
        "{header}\
         {},새 가게,부산광역시 중구 중앙대로 2,35.1,129.03,영업,{old}\n\
         {},뺏으려는 가게,부산광역시 중구 중앙대로 3,35.1,129.03,영업,OLD-STICKER-90\n\
         {},쌍둥이 하나,부산광역시 중구 중앙대로 4,35.1,129.03,영업,TWIN\n\
         {},쌍둥이 둘,부산광역시 중구 중앙대로 5,35.1,129.03,영업,TWIN\n\
         {},먼저 온 가게,부산광역시 중구 중앙대로 1,35.1,129.03,영업,OLD-STICKER-90\n",
        brn(91),
        brn(92),
        brn(93),
        brn(94),
        brn(90)
    );
    // Before the import the old sticker is plain text.
    let (_, v) = svc
        .post(
            "/api/v1/me/scan",
            Some(&citizen),
            None,
            json!({"payload": old}),
        )
        .await;
    assert_eq!(v["code"], "not_payment_code", "{v}");

    // The dry run says what would be linked, and which rows conflict, per row.
    let (s, dry) = svc
        .post_bytes(
            "/api/v1/operator/busan/registry-sync?apply=false",
            &operator,
            Some("qr-dry"),
            "text/csv",
            file.clone().into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(
        (
            dry["aliases_added"].as_u64(),
            dry["aliases_unchanged"].as_u64(),
            dry["aliases_refused"].as_u64()
        ),
        (Some(1), Some(1), Some(3)),
        "{dry}"
    );
    let conflicts: Vec<(u64, &str)> = dry["attention"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "alias")
        .map(|r| (r["line"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        conflicts,
        vec![
            (3, "alias_conflict"),
            (4, "alias_conflict"),
            (5, "alias_conflict")
        ],
        "{dry}"
    );
    let taken = dry["attention"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["line"] == 3)
        .unwrap();
    assert!(
        taken["message_en"]
            .as_str()
            .unwrap()
            .contains(&earlier.to_string()),
        "{taken}"
    );
    let (_, v) = svc
        .post(
            "/api/v1/me/scan",
            Some(&citizen),
            None,
            json!({"payload": old}),
        )
        .await;
    assert_eq!(
        v["code"], "not_payment_code",
        "a dry run links nothing: {v}"
    );

    let (s, _, report) = svc
        .sync_csv(&operator, "", "qr-sync-1", file.into_bytes())
        .await;
    assert_eq!(s, StatusCode::OK);
    let new_shop = added_on(&report, 2);
    let linked: Vec<(&str, &str)> = report
        .iter()
        .filter(|r| r["outcome"] == "alias")
        .map(|r| (r["line"].as_str(), r["code"].as_str()))
        .collect();
    assert_eq!(
        linked,
        vec![
            ("2", "alias_added"),
            ("3", "alias_conflict"),
            ("4", "alias_conflict"),
            ("5", "alias_conflict"),
            ("6", "alias_unchanged")
        ]
    );

    // The old sticker pays the new shop at once; the one kept by the earlier shop still
    // pays that shop.
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("old-sticker-pay"),
            json!({"code": old, "amount": 5000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (_, v) = svc
        .post(
            "/api/v1/me/scan",
            Some(&citizen),
            None,
            json!({"payload": old}),
        )
        .await;
    assert_eq!(
        (v["recognised"].as_str(), v["merchant"]["id"].as_u64()),
        (Some("alias"), Some(new_shop)),
        "{v}"
    );
    let received = |id: u64| {
        svc.engine
            .read(|l| l.account(AccountId(id)).map(|a| a.credits_posted.get()))
    };
    assert_eq!(received(new_shop), Some(5_000));
    let (_, v) = svc
        .post(
            "/api/v1/me/scan",
            Some(&citizen),
            None,
            json!({"payload": "OLD-STICKER-90"}),
        )
        .await;
    assert_eq!(v["merchant"]["id"].as_u64(), Some(earlier), "{v}");
    // The twins' shared code pays neither.
    let (_, v) = svc
        .post(
            "/api/v1/me/scan",
            Some(&citizen),
            None,
            json!({"payload": "TWIN"}),
        )
        .await;
    assert_eq!(v["payable"], false, "{v}");

    // Kept as an alias file: a restart replays it.
    let reopened =
        service::merchants::Merchants::with_store(Arc::clone(&svc.registry), "busan", [7; 32])
            .unwrap();
    match reopened.classify_for_citizen(old.as_bytes(), service::now_us()) {
        qr::ScanAnswer::Merchant(t) => assert_eq!(t.merchant, new_shop),
        other => panic!("after a restart: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reviews_imported_merchants_typos_and_reads_every_row() {
    let svc = start().await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let (citizen, _) = citizen_with_money(&svc, "review-citizen", "110-000083", 100_000).await;
    let header = "사업자등록번호,상호명,도로명주소,위도,경도,영업상태\n";
    let typo = {
        let good = brn(102);
        let last = good.chars().last().unwrap().to_digit(10).unwrap();
        format!("{}{}", &good[..good.len() - 1], (last + 1) % 10)
    };
    let file = format!(
        "{header}\
         {},검토 가게,부산광역시 동구 중앙대로 1,35.12,129.04,영업\n\
         {typo},오타 가게,부산광역시 동구 중앙대로 2,35.12,129.04,영업\n\
         {},위치 엉망,부산광역시 동구 중앙대로 3,위도,129.04,영업\n",
        brn(101),
        brn(103)
    );
    // Without asking, the typo is rejected with its reason in both languages.
    let (s, dry) = svc
        .post_bytes(
            "/api/v1/operator/busan/registry-sync?apply=false",
            &operator,
            Some("review-dry"),
            "text/csv",
            file.clone().into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(dry["rejected"], 1, "{dry}");
    let rejected = &dry["attention"][0];
    assert_eq!(
        (rejected["line"].as_u64(), rejected["code"].as_str()),
        (Some(3), Some("bad_brn_checksum")),
        "{dry}"
    );
    assert!(
        rejected["message_ko"]
            .as_str()
            .unwrap()
            .contains("검증번호")
    );
    assert!(
        rejected["message_en"]
            .as_str()
            .unwrap()
            .contains("check digit")
    );
    // A bad location is taken, with a warning.
    assert_eq!(dry["attention"][1]["code"], "location_invalid", "{dry}");
    for (i, bad) in ["new_status=maybe", "unverified_brn=perhaps", "report=xml"]
        .into_iter()
        .enumerate()
    {
        let (s, v) = svc
            .post_bytes(
                &format!("/api/v1/operator/busan/registry-sync?apply=false&{bad}"),
                &operator,
                Some(&format!("review-bad-{i}")),
                "text/csv",
                file.clone().into_bytes(),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // Everyone new awaits review, and the typo is taken unverified.
    let (s, _, report) = svc
        .sync_csv(
            &operator,
            "new_status=applied&unverified_brn=accept",
            "review-sync",
            file.into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let reviewed = added_on(&report, 2);
    let unverified = added_on(&report, 3);
    let no_location = added_on(&report, 4);
    let codes: Vec<(String, String)> = report
        .iter()
        .map(|r| (r["line"].clone(), r["code"].clone()))
        .collect();
    assert!(
        codes.contains(&("3".into(), "brn_unverified".into()))
            && codes.contains(&("4".into(), "location_invalid".into())),
        "{codes:?}"
    );
    assert!(
        report
            .iter()
            .all(|r| !r["message_ko"].is_empty() && !r["message_en"].is_empty())
    );
    let (_, apps) = svc
        .get(
            "/api/v1/operator/busan/merchants?status=applied",
            Some(&operator),
        )
        .await;
    let applied: Vec<(u64, bool)> = apps["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_u64().unwrap(), m["brn_unverified"] == true))
        .collect();
    for id in [reviewed, unverified, no_location] {
        assert!(applied.iter().any(|(a, _)| *a == id), "{apps}");
    }
    assert!(applied.contains(&(unverified, true)), "{apps}");
    assert!(applied.contains(&(reviewed, false)), "{apps}");
    // Not payable until approved; then payable.
    let (s, p) = svc.pay(&citizen, "review-pay-1", unverified, 1_000).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, _) = svc
        .post(
            &format!("/api/v1/operator/busan/merchants/{unverified}/approve"),
            Some(&operator),
            Some("review-approve"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = svc.pay(&citizen, "review-pay-2", unverified, 1_000).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (_, near) = svc
        .get(
            "/api/v1/directory/busan/nearby?lat=35.12&lon=129.04&radius_m=500",
            None,
        )
        .await;
    assert!(
        near["merchants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == unverified),
        "{near}"
    );

    // A big registry, then a file naming one merchant: the answer stays small (counts
    // and a few example ids); the CSV has every absent merchant.
    let many: String = (0..30)
        .map(|i| {
            format!(
                "{},가게 {i},부산광역시 서구 구덕로 {i},35.1,129.01,영업\n",
                brn(200 + i)
            )
        })
        .collect();
    let (s, r) = svc
        .post_bytes(
            "/api/v1/operator/busan/registry-sync",
            &operator,
            Some("many-1"),
            "text/csv",
            format!("{header}{many}").into_bytes(),
        )
        .await;
    assert_eq!((s, r["added"].as_u64()), (StatusCode::OK, Some(30)), "{r}");
    let one = format!("{header}{}", many.lines().next().unwrap());
    let (s, r) = svc
        .post_bytes(
            "/api/v1/operator/busan/registry-sync?apply=false",
            &operator,
            Some("many-2"),
            "text/csv",
            one.clone().into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let absent_total = r["absent_total"].as_u64().unwrap();
    // 29 of the thirty, and the approved one reviewed above.
    assert_eq!(absent_total, 30, "{r}");
    assert_eq!(r["absent_examples"].as_array().unwrap().len(), 20, "{r}");
    assert!(
        r.get("report").is_none(),
        "no unbounded lists in the answer"
    );
    let (_, _, rows) = svc
        .sync_csv(&operator, "apply=false", "many-3", one.into_bytes())
        .await;
    let absent = rows.iter().filter(|r| r["outcome"] == "absent").count() as u64;
    assert_eq!(absent, absent_total);
    assert!(
        rows.iter()
            .filter(|r| r["outcome"] == "absent")
            .all(|r| r["line"].is_empty())
    );
}

// ----- linking a bank account ---------------------------------------------------------

fn open_bank_account(svc: &Service, number: &str, holder: &str, balance: i64) {
    svc.bank
        .open_account(NewAccount {
            number: AccountNo::new(number).unwrap(),
            holder: holder.into(),
            balance,
            allow_negative: false,
        })
        .unwrap();
}

fn bank_balance(svc: &Service, number: &str) -> i64 {
    svc.bank.balance(&AccountNo::new(number).unwrap()).unwrap()
}

/// A citizen signed up and signed in: (token, user id).
async fn new_citizen(svc: &Service, login: &str) -> (String, i64) {
    let (s, v) = svc
        .post(
            "/api/v1/citizens",
            None,
            None,
            json!({"login": login, "password": "s3cret-pass", "pin": "123456", "birth_year": 1985, "currency": "busan"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let user = v["user_id"].as_i64().unwrap();
    (svc.sign_in(login, "s3cret-pass").await, user)
}

async fn start_verification(
    svc: &Service,
    token: &str,
    key: &str,
    number: &str,
    holder: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({"bank_account": number, "password": "s3cret-pass"});
    if let Some(h) = holder {
        body["holder_name"] = json!(h);
    }
    svc.post(
        "/api/v1/me/bank-account/verification",
        Some(token),
        Some(key),
        body,
    )
    .await
}

async fn confirm_verification(
    svc: &Service,
    token: &str,
    key: &str,
    id: &str,
    body: Value,
) -> (StatusCode, Value) {
    svc.post(
        &format!("/api/v1/me/bank-account/verification/{id}/confirm"),
        Some(token),
        Some(key),
        body,
    )
    .await
}

async fn charge_code(svc: &Service, token: &str, key: &str) -> (StatusCode, Value) {
    svc.post(
        "/api/v1/me/charges",
        Some(token),
        Some(key),
        json!({"face": 10000}),
    )
    .await
}

/// A code that is not `code` (four digits).
fn other_code(code: &str, n: u32) -> String {
    format!("{:04}", (code.parse::<u32>().unwrap() + n) % 10_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_account_is_linked_only_after_its_holder_the_code_and_consent() {
    let svc = start().await;
    let (citizen, user) = new_citizen(&svc, "minji").await;
    open_bank_account(&svc, "110-000005", "시민 5", 300_000);
    open_bank_account(&svc, "110-000006", "김민지", 100_000);
    let issuer_start = bank_balance(&svc, "999-ISSUER");

    // Never linked: no charge.
    let (s, v) = charge_code(&svc, &citizen, "c-0").await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_linked_account")),
        "{v}"
    );

    // Someone else's account: refused, without saying whose it is; no money moves.
    let (s, v) = start_verification(&svc, &citizen, "v-1", "110-000005", Some("김민지")).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("holder_name_mismatch")
        ),
        "{v}"
    );
    assert!(
        !v.to_string().contains("시민"),
        "the real holder's name must not be told: {v}"
    );
    assert!(v["message_ko"].as_str().unwrap().contains("예금주"));
    let (s, v) = start_verification(&svc, &citizen, "v-1b", "110-000005", None).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("holder_name_required")),
        "{v}"
    );
    // No such account.
    let (s, v) = start_verification(&svc, &citizen, "v-2", "110-999998", Some("김민지")).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("bank_account_not_found")
        ),
        "{v}"
    );
    assert_eq!(bank_balance(&svc, "999-ISSUER"), issuer_start);
    assert_eq!(bank_balance(&svc, "110-000005"), 300_000);

    // Their own account (the name compared after normalisation): 1 won with the code.
    let (s, v) = start_verification(&svc, &citizen, "v-3", "110-000006", Some("  김민지 ")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (
            v["status"].as_str(),
            v["bank_account"].as_str(),
            v["tries_left"].as_u64()
        ),
        (Some("code_sent"), Some("***-**0006"), Some(5)),
        "{v}"
    );
    let first_id = v["id"].as_str().unwrap().to_owned();
    let version = v["consent"]["version"].as_str().unwrap().to_owned();
    assert!(v["consent"]["text_ko"].as_str().unwrap().contains("출금"));
    assert!(v["expires_at"].as_u64().unwrap() > 0);
    assert_eq!(
        bank_balance(&svc, "999-ISSUER"),
        issuer_start - 1,
        "the 1 won left the issuer's account"
    );
    assert_eq!(bank_balance(&svc, "110-000006"), 100_001);
    let line = svc
        .bank
        .statement(&AccountNo::new("110-000006").unwrap())
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(line.counterparty.as_str(), "999-ISSUER");
    assert!(line.memo.starts_with("maeul "), "{line:?}");
    let code = code_on_statement(&svc, "110-000006");
    assert_eq!(code.len(), 4);
    // The same request again: the same verification, no second deposit; the same key
    // for another account is refused.
    let (s, again) =
        start_verification(&svc, &citizen, "v-3", "110-000006", Some("  김민지 ")).await;
    assert_eq!(
        (s, &again["id"]),
        (StatusCode::CREATED, &v["id"]),
        "{again}"
    );
    assert_eq!(bank_balance(&svc, "999-ISSUER"), issuer_start - 1);
    let (s, v) = start_verification(&svc, &citizen, "v-3", "110-000005", Some("김민지")).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused")),
        "{v}"
    );

    // Started but not confirmed: still no charge.
    let (s, v) = charge_code(&svc, &citizen, "c-1").await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_linked_account")),
        "{v}"
    );

    // Consent is required (and does not use up a try); an old consent text is refused.
    let (s, v) = confirm_verification(
        &svc,
        &citizen,
        "k-0",
        &first_id,
        json!({"code": code, "consent": false}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("consent_required")),
        "{v}"
    );
    let (s, v) = confirm_verification(
        &svc,
        &citizen,
        "k-0b",
        &first_id,
        json!({"code": code, "consent": true, "consent_version": "1999-01"}),
    )
    .await;
    assert_eq!(v["code"], "consent_version_outdated", "{s} {v}");

    // Wrong codes: four are told how many tries are left (a retry of one under the same
    // key is not counted again); the fifth locks, and then even the right code fails.
    for n in 1..=4u32 {
        let (s, v) = confirm_verification(
            &svc,
            &citizen,
            &format!("k-{n}"),
            &first_id,
            json!({"code": other_code(&code, n), "consent": true}),
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("verification_code_wrong")
            ),
            "{v}"
        );
        assert_eq!(v["detail"], format!("{} tries left", 5 - n), "{v}");
        if n == 2 {
            let (_, again) = confirm_verification(
                &svc,
                &citizen,
                "k-2",
                &first_id,
                json!({"code": other_code(&code, 2), "consent": true}),
            )
            .await;
            assert_eq!(again["detail"], "3 tries left", "{again}");
        }
    }
    let (s, v) = confirm_verification(
        &svc,
        &citizen,
        "k-5",
        &first_id,
        json!({"code": other_code(&code, 5), "consent": true}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("verification_locked")
        ),
        "{v}"
    );
    let (s, v) = confirm_verification(
        &svc,
        &citizen,
        "k-6",
        &first_id,
        json!({"code": code, "consent": true}),
    )
    .await;
    assert_eq!(v["code"], "verification_locked", "{s} {v}");
    let (_, v) = svc
        .get(
            &format!("/api/v1/me/bank-account/verification/{first_id}"),
            Some(&citizen),
        )
        .await;
    assert_eq!(v["status"], "locked", "{v}");

    // Started again: a new code; with it and the consent, the account is linked.
    let (s, v) = start_verification(&svc, &citizen, "v-4", "110-000006", Some("김민지")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_ne!(id, first_id);
    let code = code_on_statement(&svc, "110-000006");
    // Someone else cannot even see it.
    let (other, _) = new_citizen(&svc, "seojun").await;
    let (s, _) = svc
        .get(
            &format!("/api/v1/me/bank-account/verification/{id}"),
            Some(&other),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = confirm_verification(
        &svc,
        &other,
        "steal",
        &id,
        json!({"code": code, "consent": true}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("verification_not_found"))
    );
    let (s, v) = confirm_verification(
        &svc,
        &citizen,
        "k-7",
        &id,
        json!({"code": format!("maeul {code}"), "consent": true, "consent_version": version}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["bank_account"].as_str(), v["consent_version"].as_str()),
        (Some("***-**0006"), Some(version.as_str()))
    );
    // Confirmed again (a retry): the same answer.
    let (s, again) = confirm_verification(
        &svc,
        &citizen,
        "k-8",
        &id,
        json!({"code": code, "consent": true}),
    )
    .await;
    assert_eq!((s, &again["linked_at"]), (StatusCode::OK, &v["linked_at"]));
    // The consent is on record: version, masked account, time (and a keyed hash).
    let consents = svc.auth.bank_consents(user);
    assert_eq!(consents.len(), 1, "{consents:?}");
    assert_eq!(
        (consents[0].0.as_str(), consents[0].1.as_str()),
        (version.as_str(), "***-**0006")
    );

    // Now the charge works, from that account.
    let (s, v) = charge_code(&svc, &citizen, "c-2").await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("charged")),
        "{v}"
    );
    assert_eq!(bank_balance(&svc, "110-000006"), 100_000 + 2 - 10_000);
    assert_eq!(bank_balance(&svc, "110-000005"), 300_000);
    assert_eq!(bank_balance(&svc, "999-ISSUER"), issuer_start - 2 + 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_the_service_knows_is_compared_and_merchants_give_theirs() {
    let svc = start().await;
    // A citizen whose name the service keeps (as the demo's are).
    svc.auth
        .seed_citizens(
            "busan",
            &[service::auth::SeededCitizen {
                login: "known-1".into(),
                account: 1_999_999_999,
                name: "박서준".into(),
                address: "부산광역시".into(),
            }],
            "s3cret-pass",
            "123456",
        )
        .await
        .unwrap();
    let known = svc.sign_in("known-1", "s3cret-pass").await;
    open_bank_account(&svc, "110-000101", "박서준", 0);
    open_bank_account(&svc, "110-000102", "김민지", 0);
    // The account of another name is refused even when that name is given.
    let (s, v) = start_verification(&svc, &known, "n-1", "110-000102", Some("김민지")).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("holder_name_mismatch")
        ),
        "{v}"
    );
    // Their own needs no name: the one the service keeps is compared.
    let (s, v) = start_verification(&svc, &known, "n-2", "110-000101", None).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::CREATED, Some("code_sent")),
        "{v}"
    );

    // A merchant links its redemption account under the business name it gives.
    let (s, m) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "noodles", "password": "s3cret-pass", "currency": "busan", "category": 5812, "annual_revenue": 100000000, "brn": brn(9), "name": "서면 국수"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let shop = svc.sign_in("noodles", "s3cret-pass").await;
    open_bank_account(&svc, "220-000101", "서면 국수", 0);
    let (s, v) = start_verification(&svc, &shop, "m-1", "220-000101", Some("다른 가게")).await;
    assert_eq!(v["code"], "holder_name_mismatch", "{s} {v}");
    let (s, v) = start_verification(&svc, &shop, "m-2", "220-000101", None).await;
    assert_eq!(v["code"], "holder_name_required", "{s} {v}");
    link_bank(&svc, &shop, "220-000101", Some("서면  국수")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_refused_and_starts_are_bounded_a_day() {
    let svc = start_bank_link(service::bank_link::Settings {
        code_ttl: Duration::from_secs(1),
        code_tries: 5,
        starts_per_day: 2,
    })
    .await;
    let (citizen, _) = new_citizen(&svc, "late").await;
    open_bank_account(&svc, "110-000201", "이지각", 0);
    let (s, v) = start_verification(&svc, &citizen, "e-1", "110-000201", Some("이지각")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let code = code_on_statement(&svc, "110-000201");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let (s, v) = confirm_verification(
        &svc,
        &citizen,
        "e-k1",
        &id,
        json!({"code": code, "consent": true}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("verification_expired")
        ),
        "{v}"
    );
    let (_, v) = svc
        .get(
            &format!("/api/v1/me/bank-account/verification/{id}"),
            Some(&citizen),
        )
        .await;
    assert_eq!(v["status"], "expired", "{v}");
    let (s, v) = charge_code(&svc, &citizen, "e-c").await;
    assert_eq!(v["code"], "no_linked_account", "{s} {v}");

    // Two starts a day here (every holder enquiry counts, a mismatch too).
    let (s, v) = start_verification(&svc, &citizen, "e-2", "110-000201", Some("다른 사람")).await;
    assert_eq!(v["code"], "holder_name_mismatch", "{s} {v}");
    let (s, v, headers) = svc
        .call(
            reqwest::Method::POST,
            "/api/v1/me/bank-account/verification",
            Some(&citizen),
            Some("e-3"),
            Some(json!({"bank_account": "110-000201", "holder_name": "이지각", "password": "s3cret-pass"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("verification_limit")),
        "{v}"
    );
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((80_000..=86_400).contains(&wait), "{wait}");
    // A repeat of an earlier start is still answered (it is not a new start).
    let (s, v) = start_verification(&svc, &citizen, "e-1", "110-000201", Some("이지각")).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("expired")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_faults_during_verification_get_honest_answers_and_never_a_link() {
    let svc = start().await;
    let (citizen, _) = new_citizen(&svc, "faulty").await;
    open_bank_account(&svc, "110-000301", "최은행", 50_000);
    let issuer_start = bank_balance(&svc, "999-ISSUER");

    // The holder enquiry fails: try again, nothing linked, nothing counted as moved.
    svc.bank
        .set_faults(bank::FaultPlan {
            enquiry_fail_permille: 1000,
            ..bank::FaultPlan::none()
        })
        .unwrap();
    let (s, v, headers) = svc
        .call(
            reqwest::Method::POST,
            "/api/v1/me/bank-account/verification",
            Some(&citizen),
            Some("f-1"),
            Some(json!({"bank_account": "110-000301", "holder_name": "최은행", "password": "s3cret-pass"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("bank_unavailable")),
        "{v}"
    );
    assert!(headers.contains_key("retry-after"));

    // The deposit is refused by the bank: said so, no code, no link.
    svc.bank
        .set_faults(bank::FaultPlan {
            reject_permille: 1000,
            ..bank::FaultPlan::none()
        })
        .unwrap();
    let (s, v) = start_verification(&svc, &citizen, "f-2", "110-000301", Some("최은행")).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("verification_deposit_refused")
        ),
        "{v}"
    );

    // The bank does not answer (the order never reaches it): in progress, not linked.
    svc.bank
        .set_faults(bank::FaultPlan {
            timeout_permille: 1000,
            ..bank::FaultPlan::none()
        })
        .unwrap();
    let (s, v) = start_verification(&svc, &citizen, "f-3", "110-000301", Some("최은행")).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::ACCEPTED, Some("in_progress")),
        "{v}"
    );
    let unanswered = v["id"].as_str().unwrap().to_owned();
    let (s, v) = confirm_verification(
        &svc,
        &citizen,
        "f-k1",
        &unanswered,
        json!({"code": "0000", "consent": true}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("verification_in_progress")),
        "{v}"
    );
    let (s, v) = charge_code(&svc, &citizen, "f-c1").await;
    assert_eq!(v["code"], "no_linked_account", "{s} {v}");
    assert_eq!(bank_balance(&svc, "999-ISSUER"), issuer_start);

    // Once the bank answers again, looking at the verification sends the identical
    // order again: it arrives once, and the code can be confirmed.
    svc.bank.set_faults(bank::FaultPlan::none()).unwrap();
    let (_, v) = svc
        .get(
            &format!("/api/v1/me/bank-account/verification/{unanswered}"),
            Some(&citizen),
        )
        .await;
    assert_eq!(v["status"], "code_sent", "{v}");
    assert_eq!(bank_balance(&svc, "999-ISSUER"), issuer_start - 1);

    // The money moves but the answer is lost: in progress, then settled by the bank's
    // status; this newer verification replaced the one above.
    svc.bank
        .set_faults(bank::FaultPlan {
            lost_answer_permille: 1000,
            ..bank::FaultPlan::none()
        })
        .unwrap();
    let (s, v) = start_verification(&svc, &citizen, "f-4", "110-000301", Some("최은행")).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::ACCEPTED, Some("in_progress")),
        "{v}"
    );
    let lost = v["id"].as_str().unwrap().to_owned();
    let (s, v) = charge_code(&svc, &citizen, "f-c2").await;
    assert_eq!(v["code"], "no_linked_account", "{s} {v}");
    let code = code_on_statement(&svc, "110-000301");
    svc.bank.set_faults(bank::FaultPlan::none()).unwrap();
    let (s, v) = confirm_verification(
        &svc,
        &citizen,
        "f-k2",
        &unanswered,
        json!({"code": code, "consent": true}),
    )
    .await;
    assert_eq!(v["code"], "verification_expired", "replaced: {s} {v}");
    let (s, v) = confirm_verification(
        &svc,
        &citizen,
        "f-k3",
        &lost,
        json!({"code": code, "consent": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(bank_balance(&svc, "999-ISSUER"), issuer_start - 2);
    assert_eq!(bank_balance(&svc, "110-000301"), 50_002);
    let (s, v) = charge_code(&svc, &citizen, "f-c3").await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("charged")),
        "{v}"
    );
    assert!(svc.bank.audit().is_consistent());
}

// ----- one key, one request ----------------------------------------------------------

/// An approved merchant: its token and account.
async fn approved_merchant(svc: &Service, login: &str, n: u32) -> (String, u64) {
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let (s, m) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": login, "password": "s3cret-pass", "currency": "busan",
                   "category": 5812, "annual_revenue": 100000000, "brn": brn(n), "name": login}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let id = m["account"].as_u64().unwrap();
    let (s, v) = svc
        .post(
            &format!("/api/v1/operator/busan/merchants/{id}/approve"),
            Some(&operator),
            Some(&format!("approve-{login}")),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    (svc.sign_in(login, "s3cret-pass").await, id)
}

async fn consumer_code(svc: &Service, citizen: &str) -> String {
    let (s, c) = svc
        .post(
            "/api/v1/me/consumer-code",
            Some(citizen),
            None,
            json!({"pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    c["code"].as_str().unwrap().to_owned()
}

async fn balance_of(svc: &Service, token: &str) -> i64 {
    let (s, w) = svc.get("/api/v1/me/wallet", Some(token)).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    w["balance"].as_i64().unwrap()
}

fn replayed(h: &reqwest::header::HeaderMap) -> bool {
    h.get("idempotent-replayed").is_some_and(|v| v == "true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_key_is_never_answered_as_another_request() {
    let svc = start().await;
    let (ana, _) = citizen_with_money(&svc, "ana", "110-000501", 100_000).await;
    let (ben, _) = citizen_with_money(&svc, "ben", "110-000502", 100_000).await;
    let (shop, shop_id) = approved_merchant(&svc, "till-shop", 501).await;
    let (other, other_id) = approved_merchant(&svc, "other-shop", 502).await;
    let post = |path: &'static str, token: String, key: &'static str, body: Value| {
        let svc = &svc;
        async move {
            svc.call(
                reqwest::Method::POST,
                path,
                Some(&token),
                Some(key),
                Some(body),
            )
            .await
        }
    };

    // A till reuses its key for a second customer's code: not "paid", and the second
    // customer is not charged (it used to get the first sale's 200).
    let first = consumer_code(&svc, &ana).await;
    let (s, p1, h) = post(
        "/api/v1/me/consumer-payments",
        shop.clone(),
        "sale-1",
        json!({"code": first, "amount": 5000}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p1}");
    assert!(!replayed(&h), "a first answer is not marked repeated");
    let ben_before = balance_of(&svc, &ben).await;
    let second = consumer_code(&svc, &ben).await;
    let (s, v, _) = post(
        "/api/v1/me/consumer-payments",
        shop.clone(),
        "sale-1",
        json!({"code": second, "amount": 5000}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused")),
        "{v}"
    );
    assert_eq!(balance_of(&svc, &ben).await, ben_before);
    // The second customer's code is still theirs: a new sale takes it.
    let (s, p2, _) = post(
        "/api/v1/me/consumer-payments",
        shop.clone(),
        "sale-2",
        json!({"code": second, "amount": 5000}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p2}");
    assert_ne!(p2["payment"], p1["payment"]);
    assert_eq!(
        balance_of(&svc, &ben).await,
        ben_before - 5000 + p2["cashback"].as_i64().unwrap()
    );
    // The same sale again: the first answer, marked as a repeat.
    let (s, again, h) = post(
        "/api/v1/me/consumer-payments",
        shop.clone(),
        "sale-1",
        json!({"code": first, "amount": 5000}),
    )
    .await;
    assert_eq!((s, &again), (StatusCode::OK, &p1));
    assert!(replayed(&h));

    // A sale refused for the customer's balance leaves their code usable until it
    // expires (it used to be spent).
    let code = consumer_code(&svc, &ana).await;
    let (s, v, _) = post(
        "/api/v1/me/consumer-payments",
        shop.clone(),
        "too-much",
        json!({"code": code, "amount": 9_000_000}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // ... and the till is not told the customer's balance.
    assert!(v["fields"].get("available").is_none(), "{v}");
    assert!(!v.to_string().contains("InsufficientFunds"), "{v}");
    let (s, v, _) = post(
        "/api/v1/me/consumer-payments",
        shop.clone(),
        "right-amount",
        json!({"code": code, "amount": 1000}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Pay by code: a reused key for another merchant, another amount, a wrong PIN.
    let sticker = |token: String| {
        let svc = &svc;
        async move {
            let (_, _, text) = svc.get_bytes("/api/v1/me/qr?format=text", &token).await;
            String::from_utf8(text).unwrap()
        }
    };
    let shop_code = sticker(shop.clone()).await;
    let other_code = sticker(other.clone()).await;
    let (s, paid, _) = post(
        "/api/v1/me/payments",
        ana.clone(),
        "by-code",
        json!({"code": shop_code, "amount": 2000, "pin": "123456"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{paid}");
    for body in [
        json!({"code": other_code, "amount": 2000, "pin": "123456"}),
        json!({"code": shop_code, "amount": 3000, "pin": "123456"}),
        json!({"code": other_code, "amount": 9000, "pin": "000000"}),
        json!({"merchant": other_id, "amount": 2000, "pin": "123456"}),
    ] {
        let (s, v, _) = post("/api/v1/me/payments", ana.clone(), "by-code", body).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::CONFLICT, Some("idempotency_key_reused")),
            "{v}"
        );
    }
    let (s, v, h) = post(
        "/api/v1/me/payments",
        ana.clone(),
        "by-code",
        json!({"code": shop_code, "amount": 2000, "pin": "123456"}),
    )
    .await;
    assert_eq!((s, &v), (StatusCode::OK, &paid));
    assert!(replayed(&h));
    let _ = shop_id;

    // A key first used for a gift, then for a payment by code or a sale: 409, not 500.
    let (s, v, _) = post(
        "/api/v1/me/gifts",
        ana.clone(),
        "gift-then",
        json!({"recipient": 1_000_000_000u64 + 2, "amount": 1000, "pin": "123456"}),
    )
    .await;
    assert!(s.is_success() || s == StatusCode::NOT_FOUND, "{s} {v}");
    let (s, v, _) = post(
        "/api/v1/me/payments",
        ana.clone(),
        "gift-then",
        json!({"code": shop_code, "amount": 1000, "pin": "123456"}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused")),
        "{v}"
    );

    // The server forgets keys after a restart; the ledger still compares commands.
    // A reused key whose first use is only in the ledger: still 409, never 500.
    svc.state_forget_keys();
    let (s, v, _) = post(
        "/api/v1/me/payments",
        ana.clone(),
        "gift-then",
        json!({"code": shop_code, "amount": 1000, "pin": "123456"}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused")),
        "{v}"
    );
    let (s, v, _) = post(
        "/api/v1/me/payments",
        ana.clone(),
        "by-code",
        json!({"code": other_code, "amount": 2000, "pin": "123456"}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused")),
        "{v}"
    );
    let sale_code = consumer_code(&svc, &ben).await;
    let (s, v, _) = post(
        "/api/v1/me/consumer-payments",
        shop.clone(),
        "sale-1",
        json!({"code": sale_code, "amount": 5000}),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_published_once_per_key() {
    let svc = start().await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let notice = json!({"title_ko": "점검", "title_en": "Maintenance", "body_ko": "내일", "body_en": "Tomorrow"});
    let publish = |key: Option<&'static str>, body: Value| {
        let svc = &svc;
        let operator = operator.clone();
        async move {
            svc.call(
                reqwest::Method::POST,
                "/api/v1/operator/busan/notices",
                Some(&operator),
                key,
                Some(body),
            )
            .await
        }
    };
    let (s, v, _) = publish(None, notice.clone()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("idempotency_key_required"))
    );
    let (s, first, h) = publish(Some("n1"), notice.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert!(!replayed(&h));
    let (s, again, h) = publish(Some("n1"), notice.clone()).await;
    assert_eq!((s, &again), (StatusCode::CREATED, &first));
    assert!(replayed(&h));
    let mut other = notice.clone();
    other["body_en"] = json!("The day after");
    let (s, v, _) = publish(Some("n1"), other).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused"))
    );
    // Kept across the server forgetting its keys (a restart): the stored answer.
    svc.state_forget_keys();
    let (s, again, h) = publish(Some("n1"), notice).await;
    assert_eq!((s, &again), (StatusCode::CREATED, &first));
    assert!(replayed(&h));
    let (_, list) = svc.get("/api/v1/notices/busan", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

/// One state-changing route as a test sends it: two different requests (`a`, `b`).
struct Route {
    name: &'static str,
    method: reqwest::Method,
    path: String,
    a: Option<Value>,
    b: Option<Value>,
}

fn route(
    name: &'static str,
    method: reqwest::Method,
    path: impl Into<String>,
    a: Option<Value>,
    b: Option<Value>,
) -> Route {
    Route {
        name,
        method,
        path: path.into(),
        a,
        b,
    }
}

/// Sends `a` then `b` under one fresh key and checks the rule: the same request again
/// gets the first answer (marked repeated when it succeeded), any other request under
/// the key `409 idempotency_key_reused`.
async fn check_pair(
    svc: &Service,
    token: &str,
    key: &str,
    (first, first_body): (&Route, &Option<Value>),
    (second, second_body): (&Route, &Option<Value>),
) {
    let (s1, v1, _) = svc
        .call(
            first.method.clone(),
            &first.path,
            Some(token),
            Some(key),
            first_body.clone(),
        )
        .await;
    assert!(
        !s1.is_server_error() || s1 == StatusCode::SERVICE_UNAVAILABLE,
        "{} first: {s1} {v1}",
        first.name
    );
    let (s2, v2, h2) = svc
        .call(
            second.method.clone(),
            &second.path,
            Some(token),
            Some(key),
            second_body.clone(),
        )
        .await;
    let same = first.name == second.name && first_body == second_body;
    let what = format!("{} then {}: {s1} {v1} / {s2} {v2}", first.name, second.name);
    if same {
        assert_eq!(s2, s1, "{what}");
        if s1.is_success() {
            assert_eq!(v2, v1, "{what}");
            assert!(replayed(&h2), "{what}: a repeat is marked");
        } else {
            assert_eq!(v2["code"], v1["code"], "{what}");
        }
    } else {
        assert_eq!(
            (s2, v2["code"].as_str()),
            (StatusCode::CONFLICT, Some("idempotency_key_reused")),
            "{what}"
        );
        assert!(!s2.is_server_error(), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pair_of_state_changing_routes_under_one_key() {
    use reqwest::Method as M;
    // Hundreds of changes by one operator: above the per-user write limit's burst.
    let svc = start_limited(
        EngineOptions::default(),
        service::limits::WriteLimit {
            per_second: 100_000,
            burst: 100_000,
        },
    )
    .await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let (citizen, _) = citizen_with_money(&svc, "pairs", "110-000601", 500_000).await;
    let (_, friend) = citizen_with_money(&svc, "pair-friend", "110-000602", 10_000).await;
    let (shop, shop_id) = approved_merchant(&svc, "pair-shop", 601).await;
    open_bank_account(&svc, "220-000601", "pair-shop", 0);
    open_bank_account(&svc, "110-000699", "pairs", 0);
    // Money for the merchant's refunds and redemptions.
    let (s, big) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("pairs-big"),
            json!({"merchant": shop_id, "amount": 100_000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{big}");
    let payment = big["payment"].as_u64().unwrap();
    let (_, _, text) = svc.get_bytes("/api/v1/me/qr?format=text", &shop).await;
    let sticker = String::from_utf8(text).unwrap();

    let citizen_routes = vec![
        route(
            "charge",
            M::POST,
            "/api/v1/me/charges",
            Some(json!({"face": 10000})),
            Some(json!({"face": 20000})),
        ),
        route(
            "pay",
            M::POST,
            "/api/v1/me/payments",
            Some(json!({"merchant": shop_id, "amount": 100, "pin": "123456"})),
            Some(json!({"merchant": shop_id, "amount": 200, "pin": "123456"})),
        ),
        route(
            "pay_by_code",
            M::POST,
            "/api/v1/me/payments",
            Some(json!({"code": sticker, "amount": 100, "pin": "123456"})),
            Some(json!({"code": sticker, "amount": 300, "pin": "123456"})),
        ),
        route(
            "gift",
            M::POST,
            "/api/v1/me/gifts",
            Some(json!({"recipient": friend, "amount": 100, "pin": "123456"})),
            Some(json!({"recipient": friend, "amount": 200, "pin": "123456"})),
        ),
        route("refund_balance", M::POST, "/api/v1/me/refund", None, None),
        route(
            "cancel_purchase",
            M::POST,
            "/api/v1/me/purchases/1/cancel",
            None,
            None,
        ),
        route(
            "auto_charge",
            M::PUT,
            "/api/v1/me/auto-charge",
            Some(json!({"day": 5, "monthly_face": 10000, "topup": false})),
            Some(json!({"day": 6, "monthly_face": 10000, "topup": false})),
        ),
        route(
            "bank_verification",
            M::POST,
            "/api/v1/me/bank-account/verification",
            Some(
                json!({"bank_account": "110-000699", "holder_name": "pairs", "password": "s3cret-pass"}),
            ),
            Some(
                json!({"bank_account": "110-000698", "holder_name": "pairs", "password": "s3cret-pass"}),
            ),
        ),
    ];
    let merchant_routes = vec![
        route(
            "refund_payment",
            M::POST,
            format!("/api/v1/me/payments/{payment}/refund"),
            Some(json!({"amount": 100})),
            Some(json!({"amount": 200})),
        ),
        route(
            "redeem",
            M::POST,
            "/api/v1/me/redemptions",
            Some(json!({"amount": 100})),
            Some(json!({"amount": 200})),
        ),
        route(
            "consumer_payment",
            M::POST,
            "/api/v1/me/consumer-payments",
            Some(json!({"code": "MC1:NOTACODE", "amount": 100})),
            Some(json!({"code": "MC1:NOTACODE", "amount": 200})),
        ),
        route(
            "bank_verification",
            M::POST,
            "/api/v1/me/bank-account/verification",
            Some(
                json!({"bank_account": "220-000601", "holder_name": "pair-shop", "password": "s3cret-pass"}),
            ),
            Some(
                json!({"bank_account": "220-000602", "holder_name": "pair-shop", "password": "s3cret-pass"}),
            ),
        ),
    ];
    let o = "/api/v1/operator/busan";
    let operator_routes = vec![
        route(
            "halt",
            M::POST,
            format!("{o}/halt"),
            Some(json!({"reason": "pairs"})),
            Some(json!({"reason": "other"})),
        ),
        route("resume", M::POST, format!("{o}/resume"), None, None),
        route(
            "set_scheme",
            M::PUT,
            format!("{o}/scheme"),
            Some(json!({"toml": BUSAN})),
            Some(json!({"toml": BUSAN, "effective_at": 1})),
        ),
        route(
            "withdraw_scheme",
            M::POST,
            format!("{o}/scheme/99/withdraw"),
            None,
            None,
        ),
        route(
            "approve",
            M::POST,
            format!("{o}/merchants/{shop_id}/approve"),
            Some(json!({})),
            None,
        ),
        route(
            "suspend",
            M::POST,
            format!("{o}/merchants/{shop_id}/suspend"),
            Some(json!({"reason": "pairs"})),
            Some(json!({"reason": "other"})),
        ),
        route(
            "close",
            M::POST,
            format!("{o}/merchants/{shop_id}/close"),
            Some(json!({"reason": "pairs"})),
            Some(json!({"reason": "other"})),
        ),
        route(
            "reopen",
            M::POST,
            format!("{o}/merchants/{shop_id}/reopen"),
            Some(json!({"reason": "pairs"})),
            Some(json!({"reason": "other"})),
        ),
        route(
            "registry_sync",
            M::POST,
            format!("{o}/registry-sync?apply=false"),
            Some(json!("사업자등록번호,상호명\n")),
            Some(json!("brn,name\n")),
        ),
        route(
            "qr_aliases",
            M::POST,
            format!("{o}/qr-aliases"),
            Some(json!("payload,merchant_id\n")),
            Some(json!("payload,merchant_id,note\n")),
        ),
        route(
            "revenue_bands",
            M::PUT,
            format!("{o}/revenue-bands"),
            Some(json!("label,min_won,max_won\n")),
            Some(json!("label,min_won,max_won\nA,0,1\n")),
        ),
        route(
            "notice",
            M::POST,
            format!("{o}/notices"),
            Some(json!({"title_ko": "가", "title_en": "a", "body_ko": "나", "body_en": "b"})),
            Some(json!({"title_ko": "가", "title_en": "a", "body_ko": "나", "body_en": "c"})),
        ),
        route(
            "fund_budget",
            M::POST,
            format!("{o}/budgets/4/funding"),
            Some(json!({"amount": 1000})),
            Some(json!({"amount": 2000})),
        ),
    ];

    let mut n = 0u32;
    let mut checked = 0u32;
    for (token, routes) in [
        (&citizen, &citizen_routes),
        (&shop, &merchant_routes),
        (&operator, &operator_routes),
    ] {
        for first in routes.iter() {
            // The same request twice, and (where the route has one) another request of
            // the same route under the same key.
            let mut seconds: Vec<(&Route, &Option<Value>)> =
                routes.iter().map(|r| (r, &r.a)).collect();
            if first.b.is_some() {
                seconds.push((first, &first.b));
            }
            for second in seconds {
                n += 1;
                let key = format!("pair-{n}");
                check_pair(&svc, token, &key, (first, &first.a), second).await;
                checked += 1;
                // Back to a currency that takes writes and a payable shop.
                for (path, body) in [
                    (format!("{o}/resume"), None),
                    (
                        format!("{o}/merchants/{shop_id}/reopen"),
                        Some(json!({"reason": "back"})),
                    ),
                    (format!("{o}/merchants/{shop_id}/approve"), Some(json!({}))),
                ] {
                    let cleanup = format!("pair-cleanup-{n}-{path}");
                    svc.call(M::POST, &path, Some(&operator), Some(&cleanup), body)
                        .await;
                }
            }
        }
    }
    let pairs: usize = [&citizen_routes, &merchant_routes, &operator_routes]
        .iter()
        .map(|r| r.len() * r.len() + r.iter().filter(|x| x.b.is_some()).count())
        .sum();
    assert_eq!(checked as usize, pairs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_tell_only_the_callers_own_data_and_merchants_see_their_balance() {
    let svc = start().await;
    let (citizen, wallet) = citizen_with_money(&svc, "own-data", "110-000701", 20_000).await;
    let (shop, shop_id) = approved_merchant(&svc, "own-shop", 701).await;
    // Short of money for one's own payment: the amount asked and one's own balance, as
    // data, not Rust debug text.
    let (s, v) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("too-much"),
            json!({"merchant": shop_id, "amount": 900_000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["fields"]["requested"], 900_000, "{v}");
    assert_eq!(v["fields"]["available"], 20_000, "{v}");
    assert!(v.get("detail").is_none(), "{v}");
    assert!(!v.to_string().contains("AccountId"), "{v}");
    // A gift over the recipient's limit does not tell what the recipient received.
    let (s, v) = svc
        .post(
            "/api/v1/me/gifts",
            Some(&citizen),
            Some("gift-other"),
            json!({"recipient": wallet + 999, "amount": 100, "pin": "123456"}),
        )
        .await;
    assert!(s.is_client_error(), "{v}");
    assert!(v["fields"].get("account").is_none(), "{v}");

    // A payment with another scheme's code carries the scheme as the scan does.
    let foreign = "https://www.zeropay.or.kr/qr/123";
    let (_, scan) = svc
        .post(
            "/api/v1/me/scan",
            Some(&citizen),
            None,
            json!({"payload": foreign}),
        )
        .await;
    assert_eq!(scan["scheme"], "zeropay", "{scan}");
    let (s, v) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("foreign"),
            json!({"code": foreign, "amount": 1000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        (v["code"].clone(), v["scheme"].clone()),
        (scan["code"].clone(), json!("zeropay"))
    );

    // A merchant reads its own balance, what is on its way to the bank and paid out.
    let (s, _) = svc
        .post(
            "/api/v1/me/payments",
            Some(&citizen),
            Some("buy"),
            json!({"merchant": shop_id, "amount": 5_000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, w) = svc.get("/api/v1/me/wallet", Some(&shop)).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(
        (w["account"].as_u64(), w["balance"].as_i64()),
        (Some(shop_id), Some(5_000)),
        "{w}"
    );
    assert_eq!(w["pending_redemption"], 0, "{w}");
    assert_eq!(w["paid_out"], 0, "{w}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_every_halted_currency() {
    let svc = start().await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let (s, r) = svc.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["currencies"][0]["state"], "running", "{r}");
    let (s, _) = svc
        .post(
            "/api/v1/operator/busan/halt",
            Some(&operator),
            Some("halt-ready"),
            json!({"reason": "점검"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Halted (here by an operator; a broken invariant halts the same way): not ready,
    // and the body says which currency and why.
    let (s, r) = svc.get("/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{r}");
    assert_eq!(r["ready"], false);
    assert_eq!(r["currencies"][0]["currency"], "busan");
    assert_eq!(r["currencies"][0]["state"], "halted", "{r}");
    assert!(
        r["currencies"][0]["cause"]
            .as_str()
            .unwrap()
            .contains("점검"),
        "{r}"
    );
    let (s, r) = svc.get("/readyz?currency=busan", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{r}");
    let (s, _) = svc
        .post(
            "/api/v1/operator/busan/resume",
            Some(&operator),
            Some("resume-ready"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, r) = svc.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheme_version_in_the_wrong_unit_is_refused_and_a_pending_one_withdrawn() {
    let svc = start().await;
    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let put = |key: &'static str, effective_at: u64| {
        let svc = &svc;
        let operator = operator.clone();
        async move {
            svc.call(
                reqwest::Method::PUT,
                "/api/v1/operator/busan/scheme",
                Some(&operator),
                Some(key),
                Some(json!({"toml": BUSAN, "effective_at": effective_at})),
            )
            .await
        }
    };
    // Nanoseconds, u64::MAX, two years ahead: refused, and the currency is not frozen.
    for (key, at) in [
        ("ns", now_us * 1_000),
        ("max", u64::MAX),
        ("far", now_us + 2 * 366 * 86_400_000_000),
    ] {
        let (s, v, _) = put(key, at).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("scheme_effective_invalid")),
            "{v}"
        );
    }
    let (s, v, _) = put("ns", now_us * 1_000).await;
    assert!(
        v["detail"].as_str().unwrap().contains("microseconds"),
        "{s} {v}"
    );
    // A month ahead is fine; before it applies it can be withdrawn, and then a version
    // in force from now is taken.
    let (s, v, _) = put("month", now_us + 30 * 86_400_000_000).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let version = v["version"].as_u64().unwrap();
    let (_, list) = svc
        .get("/api/v1/operator/busan/scheme", Some(&operator))
        .await;
    assert_eq!(
        list.as_array().unwrap().last().unwrap()["state"],
        "pending",
        "{list}"
    );
    let (s, v) = svc
        .post(
            &format!("/api/v1/operator/busan/scheme/{version}/withdraw"),
            Some(&operator),
            Some("withdraw"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v, _) = put("now", 0).await;
    assert_eq!(
        (s, v["version"].as_u64()),
        (StatusCode::OK, Some(version)),
        "{v}"
    );
    // The version in force cannot be withdrawn.
    let (s, v) = svc
        .post(
            &format!("/api/v1/operator/busan/scheme/{version}/withdraw"),
            Some(&operator),
            Some("withdraw-2"),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("scheme_not_withdrawable")
        ),
        "{v}"
    );
}

/// Regression: `Authorization: bearer …` was refused; the scheme name is
/// case-insensitive (RFC 9110 §11.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_name_is_case_insensitive() {
    let svc = start().await;
    let (token, _) = new_citizen(&svc, "casey").await;
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let res = svc
            .http
            .get(format!("{}/api/v1/me/wallet", svc.base))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "scheme {scheme}");
    }
    // Another scheme, or none, is still refused.
    for header in [
        format!("Basic {token}"),
        token.clone(),
        format!("Bearer{token}"),
    ] {
        let res = svc
            .http
            .get(format!("{}/api/v1/me/wallet", svc.base))
            .header("authorization", header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    // Signing out with a lower-case scheme ends the session.
    let res = svc
        .http
        .delete(format!("{}/api/v1/sessions/current", svc.base))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        svc.get("/api/v1/me/wallet", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Regression: `CITIZEN-0001` could sign up beside `citizen-0001` as another user.
/// Logins are unique after NFKC and case folding, and any variant signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_differing_only_in_case_are_one_login() {
    let svc = start().await;
    new_citizen(&svc, "citizen-0001").await;
    let (s, v) = svc
        .post(
            "/api/v1/citizens",
            None,
            None,
            json!({"login": "CITIZEN-0001", "password": "other-pass-1", "pin": "123456", "birth_year": 1990, "currency": "busan"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "login_taken");
    let (s, v) = svc
        .post(
            "/api/v1/merchants",
            None,
            None,
            json!({"login": "Citizen-0001", "password": "other-pass-1", "currency": "busan", "category": 5411, "annual_revenue": 100000000, "brn": brn(41), "name": "대소문자 상회"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "login_taken");
    // Any variant finds the one user: the case, and full-width letters (NFKC).
    for variant in ["Citizen-0001", "CITIZEN-0001", "ｃｉｔｉｚｅｎ-0001"] {
        let token = svc.sign_in(variant, "s3cret-pass").await;
        let (s, me) = svc.get("/api/v1/me", Some(&token)).await;
        assert_eq!(s, StatusCode::OK, "{variant}: {me}");
    }
    // The wrong password under a variant is still wrong.
    let (s, v) = svc
        .post(
            "/api/v1/sessions",
            None,
            None,
            json!({"login": "CITIZEN-0001", "password": "other-pass-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
}

impl Service {
    /// A client whose connections come from `local` (any 127.x.y.z is a loopback
    /// address on Linux), so one test can play two machines without the server
    /// trusting a header.
    fn client_from(&self, local: [u8; 4]) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .local_address(std::net::IpAddr::from(local))
            .build()
            .unwrap()
    }
}

async fn sign_in_from(
    http: &reqwest::Client,
    base: &str,
    login: &str,
    password: &str,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let res = http
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let value = res.json().await.unwrap_or(Value::Null);
    (status, value, headers)
}

/// Regression: five wrong passwords from anywhere locked the login for everyone for
/// 15 minutes. Failures now count per (login, address): the guessing address waits,
/// the owner at another address signs in.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_from_one_address_do_not_lock_the_owner_out_from_another() {
    let svc = start().await;
    new_citizen(&svc, "owner-1").await;
    let attacker = svc.client_from([127, 0, 0, 2]);
    let owner = svc.client_from([127, 0, 0, 3]);
    for _ in 0..5 {
        let (s, v, _) = sign_in_from(&attacker, &svc.base, "owner-1", "guess-guess").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert_eq!(v["code"], "sign_in_failed");
    }
    // The guessing address is refused, even with the right password, and told how
    // long to wait.
    let (s, v, headers) = sign_in_from(&attacker, &svc.base, "owner-1", "s3cret-pass").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["code"], "too_many_sign_in_failures");
    assert!(v["message_ko"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(headers.get("retry-after").is_some());
    // The owner, elsewhere, signs in; the attacker is still refused afterwards.
    let (s, v, _) = sign_in_from(&owner, &svc.base, "owner-1", "s3cret-pass").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["token"].as_str().is_some());
    let (s, _, _) = sign_in_from(&attacker, &svc.base, "owner-1", "guess-guess").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
}

// ----- slow clients and overload at the connection level --------------------------------

/// Writes all of `bytes` (tokio's `io-util` is not among this workspace's features).
async fn send(conn: &tokio::net::TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        conn.writable().await?;
        match conn.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what has arrived (0 at the end).
async fn recv(conn: &tokio::net::TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        conn.readable().await?;
        match conn.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => return other,
        }
    }
}

/// Reads until the server closes the connection.
async fn recv_to_end(conn: &tokio::net::TcpStream) -> Vec<u8> {
    let (mut all, mut buf) = (Vec::new(), [0u8; 4096]);
    while let Ok(n) = recv(conn, &mut buf).await {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    all
}

impl Service {
    fn addr(&self) -> std::net::SocketAddr {
        self.base.trim_start_matches("http://").parse().unwrap()
    }

    /// A TCP connection to the server from `from` (any 127.x.y.z is this machine): the
    /// server counts connections per client address.
    async fn connect_from(&self, from: [u8; 4]) -> tokio::net::TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
        socket.connect(self.addr()).await.unwrap()
    }
}

/// One answer read from a kept-alive connection: status, head, body (at most 4 s).
async fn read_answer(conn: &mut tokio::net::TcpStream) -> (u16, String, String) {
    tokio::time::timeout(Duration::from_secs(4), async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= end + 4 + length {
                    let status = head[9..12].parse().unwrap();
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]);
                    return (status, head, body.into_owned());
                }
            }
            let n = recv(conn, &mut chunk).await.unwrap();
            assert!(
                n > 0,
                "closed before a whole answer: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("an answer within 4 s")
}

/// GET `path` on a kept-alive connection.
async fn raw_get(conn: &mut tokio::net::TcpStream, path: &str) -> (u16, String, String) {
    send(
        conn,
        format!("GET {path} HTTP/1.1\r\nhost: maeul\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    read_answer(conn).await
}

/// Polls until `f` holds (at most `within`); whether it did.
async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + within;
    while std::time::Instant::now() < until {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// Regression: 270 connections that sent a payment's headers and then stalled held all
/// 256 places in flight for the whole 30 s request deadline, and every other request
/// was answered `503 busy`. Bodies are now received before a request takes a place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_do_not_take_the_places_payments_need() {
    // The stalls must outlast the test: a long body timeout.
    let svc = start_tuned(|s| {
        s.with_timeouts(server::Timeouts {
            header: Duration::from_secs(5),
            body: Duration::from_secs(30),
        })
    })
    .await;
    let (citizen, _) = citizen_with_money(&svc, "patient", "110-000071", 100_000).await;
    let (_, merchant) = approved_merchant(&svc, "stall-shop", 71).await;
    // 300 connections from three other addresses (each under the per-address cap) send
    // the headers of a payment and part of its body, then nothing.
    let mut stalled = Vec::new();
    for i in 0..300u32 {
        let conn = svc.connect_from([127, 0, 0, 2 + (i % 3) as u8]).await;
        send(
            &conn,
            format!(
                "POST /api/v1/me/payments HTTP/1.1\r\nhost: maeul\r\nauthorization: Bearer {citizen}\r\nidempotency-key: stall-{i}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"amount\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        stalled.push(conn);
    }
    // The server has taken them all (and, before the fix, every place in flight).
    eventually(Duration::from_secs(5), || {
        svc.state.connections.load().0 >= 300 || svc.state.load().0 >= svc.state.load().1
    })
    .await;
    let started = std::time::Instant::now();
    let (status, body, _) = svc
        .call(
            reqwest::Method::POST,
            "/api/v1/me/payments",
            Some(&citizen),
            Some("through-the-stalls"),
            Some(json!({"merchant": merchant, "amount": 1000, "pin": "123456"})),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(took < Duration::from_secs(2), "the payment took {took:?}");
    // The stalls are still held, and cost no place in flight.
    assert!(svc.state.connections.load().0 >= 300);
    assert_eq!(svc.state.load().0, 0);
    let (s, ready) = svc.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    assert!(
        ready["connections_open"].as_u64().unwrap() >= 300,
        "{ready}"
    );
    drop(stalled);
}

/// A body that stops, or trickles in slower than the slowest upload allowed, is cut
/// after the body timeout with a 408 that says so, and nothing is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_or_trickling_body_is_cut_after_the_body_timeout() {
    let svc = start_tuned(|s| {
        s.with_timeouts(server::Timeouts {
            header: Duration::from_secs(5),
            body: Duration::from_secs(1),
        })
    })
    .await;
    let head = "POST /api/v1/citizens HTTP/1.1\r\nhost: maeul\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
    // Stalled: ten bytes of a hundred, then nothing.
    let mut conn = svc.connect_from([127, 0, 0, 1]).await;
    let started = std::time::Instant::now();
    send(&conn, format!("{head}{{\"login\":").as_bytes())
        .await
        .unwrap();
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut conn))
        .await
        .expect("the stalled body is answered well before the request deadline");
    let took = started.elapsed();
    assert_eq!(status, 408, "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "body_timeout", "{problem}");
    assert!(
        problem["message_ko"].as_str().unwrap().contains("도착하지"),
        "{problem}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // Trickling: a byte every 200 ms never pauses a whole second, but the body as a
    // whole is too slow.
    let conn = Arc::new(svc.connect_from([127, 0, 0, 1]).await);
    let started = std::time::Instant::now();
    send(&conn, head.as_bytes()).await.unwrap();
    let trickle = {
        let conn = Arc::clone(&conn);
        tokio::spawn(async move {
            for _ in 0..100 {
                if send(&conn, b" ").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), recv_to_end(&conn))
        .await
        .unwrap_or_default();
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    trickle.abort();
}

/// Connections beyond the per-address cap get a 503 with Retry-After and are closed at
/// once; other addresses are served; a closed connection gives its place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_per_address_cap_are_refused_at_once() {
    let svc = start_tuned(|s| s.with_connection_limits(3, 1000)).await;
    let from = [127, 0, 0, 5];
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = svc.connect_from(from).await;
        let (status, _, _) = raw_get(&mut conn, "/healthz").await;
        assert_eq!(status, 200);
        held.push(conn);
    }
    let fourth = svc.connect_from(from).await;
    let answer = tokio::time::timeout(Duration::from_secs(2), recv_to_end(&fourth))
        .await
        .expect("refused and closed at once");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    assert!(
        answer.contains("\"code\":\"too_many_connections\""),
        "{answer}"
    );
    // Another address is not affected.
    let mut other = svc.connect_from([127, 0, 0, 6]).await;
    assert_eq!(raw_get(&mut other, "/healthz").await.0, 200);
    // A held connection closes: its place comes back.
    drop(held.pop());
    assert!(
        eventually(Duration::from_secs(3), || svc.state.connections.load().0
            == 3)
        .await,
        "{:?}",
        svc.state.connections.load()
    );
    let mut again = svc.connect_from(from).await;
    assert_eq!(raw_get(&mut again, "/healthz").await.0, 200);
}

/// Readiness tells the connections open and answers 503 with Retry-After when the node
/// is saturated: connections at their cap, or every place in flight taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_connections_and_saturation() {
    let svc = start_tuned(|s| s.with_connection_limits(256, 4).with_in_flight_limit(1)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = svc.connect_from([127, 0, 0, 1]).await;
        assert_eq!(raw_get(&mut conn, "/healthz").await.0, 200);
        held.push(conn);
    }
    // The fourth connection is the last place.
    let mut probe = svc.connect_from([127, 0, 0, 1]).await;
    let (status, head, body) = raw_get(&mut probe, "/readyz").await;
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 503, "{ready}");
    assert!(head.contains("retry-after:"), "{head}");
    assert_eq!(ready["connections_open"], 4, "{ready}");
    assert_eq!(ready["connections_max"], 4, "{ready}");
    assert_eq!(ready["saturated"], true, "{ready}");
    assert_eq!(ready["ready"], false, "{ready}");
    drop(held);
    assert!(
        eventually(Duration::from_secs(3), || svc.state.connections.load().0
            == 1)
        .await
    );
    let (status, _, body) = raw_get(&mut probe, "/readyz").await;
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["connections_open"], 1, "{ready}");
    assert_eq!(ready["saturated"], false, "{ready}");
    // Every place in flight taken (by the test) is saturation too.
    let place = svc.state.admit_request().unwrap();
    let (status, _, body) = raw_get(&mut probe, "/readyz").await;
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["saturated"], true, "{ready}");
    drop(place);
}

/// The gate under an overload the test controls (it holds every place): a counter
/// payment is let in ahead of sign-ups that came first; sign-ups that cannot be let in
/// soon are handed tickets, told their place in line, and let in in the order the
/// tickets were issued, whatever order they come back in. A forged or another class's
/// ticket earns nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_payments_go_first_and_tickets_are_let_in_in_order() {
    let svc = start_tuned(|s| {
        let mut policy = server::gate::Policy {
            places: 2,
            ..server::gate::Policy::default()
        };
        // Long enough that the payment waits for the freed place rather than being
        // told busy before the test frees one.
        policy.classes[server::gate::Class::Counter.index()].wait_max = Duration::from_secs(5);
        s.with_admission(policy)
    })
    .await;
    let (citizen, _) = citizen_with_money(&svc, "gate-payer", "110-777-000001", 50_000).await;
    let (_, merchant) = approved_merchant(&svc, "gate-shop", 77).await;
    let sign_up = |n: usize, ticket: Option<String>| {
        let mut req = svc.http.post(format!("{}/api/v1/citizens", svc.base)).json(
            &json!({"login": format!("waiting-{n}"), "password": "s3cret-pass",
                          "pin": "123456", "birth_year": 1990, "currency": "busan"}),
        );
        if let Some(t) = ticket {
            req = req.header("maeul-ticket", t);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            let headers = res.headers().clone();
            let body: Value = res.json().await.unwrap();
            (status, headers, body)
        }
    };

    // Every place is taken, long enough for the gate to measure that nothing is served
    // (the set-up's requests fade from its rates).
    let held: Vec<_> = (0..2).map(|_| svc.state.admit_request().unwrap()).collect();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (s, _) = svc.get("/api/v1/waiting-room", None).await;
        assert_eq!(s, StatusCode::OK, "never held at the gate");
    }
    // Sign-ups wait at the gate a moment, then are handed tickets, in order.
    let mut tickets = Vec::new();
    for n in 0..3 {
        let (status, headers, body) = sign_up(n, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "waiting_room", "{body}");
        assert_eq!(body["fields"]["position"], n + 1, "{body}");
        assert!(
            body["fields"]["estimated_wait_s"].as_f64().is_some(),
            "{body}"
        );
        assert!(headers.contains_key("retry-after"), "{headers:?}");
        let ticket = headers["maeul-ticket"].to_str().unwrap().to_owned();
        assert_eq!(body["fields"]["ticket"], ticket.as_str());
        assert!(
            body["message_ko"].as_str().unwrap().contains("순서"),
            "{body}"
        );
        tickets.push(ticket);
    }
    // A newcomer does not jump the line, and a forged ticket is no ticket.
    let (status, _, body) = sign_up(
        9,
        Some("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["fields"]["position"], 4, "behind the three: {body}");
    let (_, wait) = svc.get("/api/v1/waiting-room", None).await;
    let line = wait["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "sign_up")
        .unwrap()
        .clone();
    assert_eq!(line["tickets_waiting"], 4, "{wait}");
    // A counter payment, sent while sign-ups wait, is let in at the first free place.
    let pay = {
        let req = svc
            .http
            .post(format!("{}/api/v1/me/payments", svc.base))
            .bearer_auth(&citizen)
            .header("Idempotency-Key", "gate-pay")
            .json(&json!({"merchant": merchant, "amount": 1000, "pin": "123456"}));
        tokio::spawn(async move { req.send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut held = held.into_iter();
    drop(held.next());
    let paid = tokio::time::timeout(Duration::from_secs(5), pay)
        .await
        .expect("the payment is let in")
        .unwrap();
    assert_eq!(paid, StatusCode::OK);
    // Every place is taken again.
    let mut held: Vec<_> = held.collect();
    held.push(svc.state.admit_request().unwrap());

    // The line moves on while no place is free (a ticket a second at least). The holders
    // come back in the reverse order of their tickets, over and over, and each is told
    // "your turn, no place yet" (position 0) only after every earlier ticket was.
    let mut turn_round = [None::<usize>; 3];
    for round in 0..60 {
        for n in (0..3).rev() {
            if turn_round[n].is_some() {
                continue;
            }
            let (status, _, body) = sign_up(n, Some(tickets[n].clone())).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no place: {body}");
            assert_eq!(body["code"], "waiting_room", "{body}");
            let position = body["fields"]["position"].as_u64().unwrap();
            assert!(position as usize <= n + 1, "never further back: {body}");
            if position == 0 {
                turn_round[n] = Some(round);
            }
        }
        if turn_round.iter().all(Option::is_some) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rounds: Vec<usize> = turn_round
        .iter()
        .map(|r| r.expect("every ticket's turn comes within the test"))
        .collect();
    assert!(
        rounds[0] <= rounds[1] && rounds[1] <= rounds[2] && rounds[0] < rounds[2],
        "turns come in the order issued, one after another: {rounds:?}"
    );
    // The overload ends: each holder is let in with its ticket.
    drop(held);
    for (n, ticket) in tickets.iter().enumerate() {
        let mut status = StatusCode::SERVICE_UNAVAILABLE;
        for _ in 0..50 {
            (status, _, _) = sign_up(n, Some(ticket.clone())).await;
            if status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, StatusCode::CREATED, "ticket {n} let in");
    }
    let (_, m) = svc.get("/metrics", None).await;
    let m = m.as_str().unwrap();
    assert!(
        m.contains("maeul_admission_total{class=\"sign_up\",outcome=\"ticketed\"}"),
        "{m}"
    );
}

/// Camera-image decodes are bounded: with every permit taken a scan is answered 503
/// with Retry-After at once (never queued); when one is free the scan is decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_is_refused_at_once_while_every_decode_permit_is_taken() {
    let svc = start_tuned(|s| s.with_image_decodes(1)).await;
    let (citizen, _) = new_citizen(&svc, "camera").await;
    let png = qr::render_png("hello", &qr::QrOptions::default()).unwrap();
    let scan = || {
        svc.http
            .post(format!("{}/api/v1/me/scan-image", svc.base))
            .bearer_auth(&citizen)
            .header("content-type", "image/png")
            .body(png.clone())
            .send()
    };
    // A decode in progress holds the only permit.
    let decoding = svc.state.image_decodes.try_acquire().unwrap();
    let started = std::time::Instant::now();
    let res = scan().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "busy", "{problem}");
    // What the header alone refuses needs no decode place: a burst of bombs cannot
    // crowd out real photos. SOI then SOF0 declaring 60,000 × 60,000 pixels.
    let mut bomb = vec![
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8, 0xEA, 0x60, 0xEA, 0x60, 3,
    ];
    bomb.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    let res = svc
        .http
        .post(format!("{}/api/v1/me/scan-image", svc.base))
        .bearer_auth(&citizen)
        .header("content-type", "image/jpeg")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "image_too_many_pixels", "{problem}");
    drop(decoding);
    let res = scan().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["payable"], false, "{view}");
    // The permit came back after the decode.
    assert_eq!(svc.state.image_decodes.available_permits(), 1);
}

/// Every page of `token`'s history of at most `limit` entries, following `before`.
async fn all_pages(svc: &Service, token: &str, limit: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut before: Option<u64> = None;
    for _ in 0..100 {
        let path = match before {
            Some(b) => format!("/api/v1/me/history?limit={limit}&before={b}"),
            None => format!("/api/v1/me/history?limit={limit}"),
        };
        let (s, page) = svc.get(&path, Some(token)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap().clone();
        assert!(page.len() <= limit, "{page:?}");
        let Some(last) = page.last() else {
            return seen;
        };
        before = Some(last["cursor"].as_u64().unwrap());
        seen.extend(page);
    }
    panic!("history paging did not end: {seen:?}");
}

/// Regression: every entry of one command shared one cursor, so a page that ended
/// between a payment's `payment` and `cashback` entries lost the second (with limit=1,
/// 3 of a citizen's 7 entries were never shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_show_every_entry_exactly_once_whatever_the_page_size() {
    let svc = start().await;
    let (citizen, _) = citizen_with_money(&svc, "pager", "110-000090", 100_000).await;
    let (shop, merchant) = approved_merchant(&svc, "pager-shop", 90).await;
    for i in 1..=3 {
        let (s, p) = svc
            .post(
                "/api/v1/me/payments",
                Some(&citizen),
                Some(&format!("page-pay-{i}")),
                json!({"merchant": merchant, "amount": 1000 * i, "pin": "123456"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert!(p["cashback"].as_i64().unwrap() > 0, "{p}");
    }
    let (s, all) = svc
        .get("/api/v1/me/history?limit=200", Some(&citizen))
        .await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let all = all.as_array().unwrap().clone();
    let kinds: Vec<&str> = all.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "cashback", "payment", "cashback", "payment", "cashback", "payment", "charge"
        ],
        "{all:?}"
    );
    for limit in [1, 2, 3] {
        assert_eq!(all_pages(&svc, &citizen, limit).await, all, "limit={limit}");
    }
    let cursors: Vec<u64> = all.iter().map(|e| e["cursor"].as_u64().unwrap()).collect();
    assert!(
        cursors.windows(2).all(|w| w[0] > w[1]),
        "cursors are unique and newest first: {cursors:?}"
    );
    // JavaScript clients read cursors as doubles: they must be exact there.
    assert!(cursors.iter().all(|c| *c < 1 << 53), "{cursors:?}");
    let (_, shop_all) = svc.get("/api/v1/me/history?limit=200", Some(&shop)).await;
    assert_eq!(shop_all.as_array().unwrap().len(), 3, "{shop_all}");
    assert_eq!(
        all_pages(&svc, &shop, 1).await,
        *shop_all.as_array().unwrap()
    );
}

async fn open_live(svc: &Service, token: &str) -> reqwest::Response {
    svc.http
        .get(format!("{}/api/v1/me/payments/live", svc.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The data of the next `payment` event on `live`, or `None` if none comes `within`.
async fn next_payment_event(live: &mut reqwest::Response, within: Duration) -> Option<Value> {
    let mut text = String::new();
    tokio::time::timeout(within, async {
        loop {
            if let Some(at) = text.find("event: payment\ndata: ") {
                let rest = &text[at + "event: payment\ndata: ".len()..];
                if let Some(end) = rest.find('\n') {
                    return serde_json::from_str::<Value>(&rest[..end]).unwrap();
                }
            }
            let chunk = live.chunk().await.unwrap().expect("the stream ended");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .ok()
}

/// Every payment used to wake every open stream of the currency, each then dropping
/// what was not its own: a stream now hears its own account's payments only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_hears_only_its_own_accounts_payments() {
    let svc = start().await;
    let (ana, _) = citizen_with_money(&svc, "ana", "110-000091", 50_000).await;
    let (bora, _) = citizen_with_money(&svc, "bora", "110-000092", 50_000).await;
    let (shop, merchant) = approved_merchant(&svc, "live-shop", 91).await;
    let mut ana_live = open_live(&svc, &ana).await;
    let mut bora_live = open_live(&svc, &bora).await;
    let mut shop_live = open_live(&svc, &shop).await;
    for live in [&ana_live, &bora_live, &shop_live] {
        assert_eq!(live.status(), StatusCode::OK);
    }
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&ana),
            Some("ana-pays"),
            json!({"merchant": merchant, "amount": 1_000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let e = next_payment_event(&mut ana_live, Duration::from_secs(5))
        .await
        .expect("the payer's stream hears its payment");
    assert_eq!(
        (e["kind"].as_str(), e["amount"].as_i64()),
        (Some("payment"), Some(-1_000))
    );
    let e = next_payment_event(&mut shop_live, Duration::from_secs(5))
        .await
        .expect("the merchant's stream hears it");
    assert_eq!(
        (e["kind"].as_str(), e["amount"].as_i64()),
        (Some("payment_received"), Some(1_000))
    );
    assert_eq!(
        next_payment_event(&mut bora_live, Duration::from_secs(1)).await,
        None,
        "another citizen's stream heard ana's payment"
    );
    let (s, p) = svc
        .post(
            "/api/v1/me/payments",
            Some(&bora),
            Some("bora-pays"),
            json!({"merchant": merchant, "amount": 2_000, "pin": "123456"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let e = next_payment_event(&mut bora_live, Duration::from_secs(5))
        .await
        .expect("bora's stream hears bora's payment");
    assert_eq!(
        (e["kind"].as_str(), e["amount"].as_i64()),
        (Some("payment"), Some(-2_000))
    );
    assert_eq!(
        next_payment_event(&mut ana_live, Duration::from_secs(1)).await,
        None,
        "ana's stream heard bora's payment"
    );
}

/// One user may hold a few live streams (phone, tablet, a till's screens), not
/// thousands: beyond the cap the answer is 429 at once, and a closed stream gives its
/// place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_are_capped_per_user_and_a_closed_one_gives_its_place_back() {
    let svc = start().await;
    let (token, _) = new_citizen(&svc, "streamer").await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let live = open_live(&svc, &token).await;
        assert_eq!(live.status(), StatusCode::OK);
        open.push(live);
    }
    let refused = open_live(&svc, &token).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let v: Value = refused.json().await.unwrap();
    assert_eq!(v["code"], "too_many_streams", "{v}");
    assert!(!v["message_ko"].as_str().unwrap().is_empty(), "{v}");
    assert!(!v["message_en"].as_str().unwrap().is_empty(), "{v}");
    // Another session of the same user counts against the same cap.
    let again = svc.sign_in("streamer", "s3cret-pass").await;
    assert_eq!(
        open_live(&svc, &again).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another user is not affected.
    let (other, _) = new_citizen(&svc, "neighbour").await;
    let other_live = open_live(&svc, &other).await;
    assert_eq!(other_live.status(), StatusCode::OK);
    // The client goes away: its place comes back.
    drop(open.pop());
    let reopened = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let live = open_live(&svc, &token).await;
            if live.status() == StatusCode::OK {
                return live;
            }
            assert_eq!(live.status(), StatusCode::TOO_MANY_REQUESTS);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a closed stream gave its place back");
    open.push(reopened);
    assert_eq!(
        open_live(&svc, &token).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Beyond the service's cap on live streams, a new one is answered 503 with
/// `Retry-After` at once (not queued, not 429: it is nobody's own fault), and a place
/// comes back when a stream closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_services_cap_on_live_streams_the_answer_is_503_with_retry_after() {
    let svc = start_streams(service::limits::StreamLimit {
        per_user: 4,
        total: 3,
    })
    .await;
    let (a, _) = new_citizen(&svc, "first").await;
    let (b, _) = new_citizen(&svc, "second").await;
    let mut open = vec![
        open_live(&svc, &a).await,
        open_live(&svc, &a).await,
        open_live(&svc, &b).await,
    ];
    assert!(open.iter().all(|l| l.status() == StatusCode::OK));
    let refused = open_live(&svc, &b).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let wait: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(wait >= 1);
    let v: Value = refused.json().await.unwrap();
    assert_eq!(v["code"], "streams_full", "{v}");
    assert!(!v["message_ko"].as_str().unwrap().is_empty(), "{v}");
    // Payments and other reads are not affected.
    let (s, _) = svc.get("/api/v1/me/history", Some(&b)).await;
    assert_eq!(s, StatusCode::OK);
    drop(open.remove(0));
    let reopened = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let live = open_live(&svc, &b).await;
            if live.status() == StatusCode::OK {
                return live;
            }
            assert_eq!(live.status(), StatusCode::SERVICE_UNAVAILABLE);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a closed stream gave its place back");
    open.push(reopened);
    assert_eq!(svc.state.streams.open(), 3);
}

/// A sale day through the real server: an operator schedules it; before the opening
/// purchases wait with tickets (nothing is charged) and the paused features say so; at
/// the opening the early tickets are let in; once the ledger's discount budget is spent
/// the next purchase is told "sold out" at once, with or without a ticket; calling the
/// sale off brings the features back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_day_holds_purchases_until_it_opens_and_says_sold_out_at_once() {
    let svc = start().await;
    let mut citizens = Vec::new();
    for n in 0..5 {
        let (token, wallet) = citizen_with_money(
            &svc,
            &format!("sale-{n}"),
            &format!("110-555-00000{n}"),
            10_000,
        )
        .await;
        citizens.push((token, wallet));
    }
    // A scheme that sells at 10% off from budget 2, which holds three vouchers' discount.
    let mut config = ledger::scheme::SchemeConfig::from_toml(BUSAN).unwrap();
    config.purchase.discount_bp = 1_000;
    config.purchase.discount_budget = Some(AccountId(2));
    let now = Timestamp::from_micros(service::now_us());
    let commands = vec![
        Command::Transfer(Transfer::posted(TransferSpec::BudgetFunding {
            reserve: ReserveId::new(1),
            budget: BudgetId::new(2),
            amount: Won::new(3_000),
        })),
        Command::Scheme(Box::new(ledger::scheme::SchemeCommand::SetScheme {
            config: Box::new(config),
            effective_at: now,
            operator: Text::new("sale test").unwrap(),
        })),
    ];
    let envelopes = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| Envelope {
            client: ClientId(9),
            key: IdempotencyKey(9_000 + i as u128),
            command,
        })
        .collect();
    let outs = svc
        .engine
        .submit(envelopes)
        .unwrap()
        .outcome()
        .await
        .unwrap();
    assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");

    let operator = svc.sign_in("operator-busan", "correct horse battery").await;
    let opens_at = service::now_us() + 2_000_000;
    let plan = json!({"opens_at": opens_at, "ends_at": opens_at + 3_600_000_000u64,
        "vouchers": 3, "budget_won": 3_000, "paused": ["gifts", "search"]});
    let put = |token: String, body: Value| {
        let req = svc
            .http
            .put(format!("{}/api/v1/operator/busan/sale", svc.base))
            .bearer_auth(token)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = put(citizens[0].0.clone(), plan.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a citizen schedules nothing: {v}");
    let backwards =
        json!({"opens_at": opens_at, "ends_at": opens_at - 1, "vouchers": 3, "budget_won": 3_000});
    let (s, v) = put(operator.clone(), backwards).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sale_invalid")),
        "{v}"
    );
    let (s, v) = put(operator.clone(), plan).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["phase"], "before", "{v}");
    let (s, v) = svc.get("/api/v1/sales/busan", None).await;
    assert_eq!(s, StatusCode::OK, "anyone can see the sale: {v}");
    assert_eq!(
        (
            &v["discount_left_won"],
            &v["smallest_discount_won"],
            &v["paused"]
        ),
        (&json!(3_000), &json!(1_000), &json!(["search", "gifts"])),
        "{v}"
    );

    // Paused for the day, with Retry-After.
    let (s, v, h) = svc
        .call(
            reqwest::Method::POST,
            "/api/v1/me/gifts",
            Some(&citizens[0].0),
            Some("sale-gift"),
            Some(json!({"recipient": citizens[1].1, "amount": 1000, "pin": "123456"})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("feature_paused")),
        "{v}"
    );
    assert!(h.contains_key("retry-after"));
    let (s, v) = svc
        .get("/api/v1/directory/busan/search?q=%EA%B0%80", None)
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("feature_paused")),
        "{v}"
    );

    // Before the opening: every purchase waits with a ticket; nothing is charged.
    let charge = |n: usize, ticket: Option<String>| {
        let mut req = svc
            .http
            .post(format!("{}/api/v1/me/charges", svc.base))
            .bearer_auth(&citizens[n].0)
            .header("idempotency-key", format!("sale-charge-{n}"))
            .json(&json!({"face": 10_000}));
        if let Some(t) = ticket {
            req = req.header("maeul-ticket", t);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            let ticket = res
                .headers()
                .get("maeul-ticket")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, ticket, res.json::<Value>().await.unwrap())
        }
    };
    let mut tickets = Vec::new();
    for n in 0..4 {
        let (s, ticket, v) = charge(n, None).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("sale_not_open")),
            "{v}"
        );
        assert_eq!(v["fields"]["opens_at"], opens_at, "{v}");
        assert_eq!(v["fields"]["position"], n + 1, "how many wait: {v}");
        tickets.push(ticket.expect("a ticket"));
    }
    // Coming back early keeps the ticket's place and charges nothing.
    let (s, again, v) = charge(0, Some(tickets[0].clone())).await;
    assert_eq!(
        (s, again.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, Some(tickets[0].as_str())),
        "{v}"
    );
    let (_, w) = svc.get("/api/v1/me/wallet", Some(&citizens[0].0)).await;
    assert_eq!(
        w["balance"], 10_000,
        "nothing bought before the opening: {w}"
    );

    // Open: the early tickets are let in (in the drawn order) and buy; the budget holds
    // three, so one of the four is told "sold out", whichever the draw put last.
    tokio::time::sleep(Duration::from_micros(
        opens_at.saturating_sub(service::now_us()) + 50_000,
    ))
    .await;
    let mut answers: Vec<Option<(StatusCode, Value)>> = vec![None; 4];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while answers.iter().any(Option::is_none) {
        assert!(std::time::Instant::now() < deadline, "{answers:?}");
        for n in 0..4 {
            if answers[n].is_some() {
                continue;
            }
            let (s, _, v) = charge(n, Some(tickets[n].clone())).await;
            if s == StatusCode::SERVICE_UNAVAILABLE && v["code"] == "waiting_room" {
                continue;
            }
            answers[n] = Some((s, v));
            // The next look at the budget is fresh (it is read at most every 100 ms).
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bought = answers
        .iter()
        .flatten()
        .filter(|(s, v)| *s == StatusCode::OK && v["status"] == "charged")
        .count();
    let sold_out: Vec<_> = answers
        .iter()
        .flatten()
        .filter(|(s, v)| *s == StatusCode::GONE && v["code"] == "sold_out")
        .collect();
    assert_eq!((bought, sold_out.len()), (3, 1), "{answers:?}");
    assert!(
        sold_out[0].1["message_ko"]
            .as_str()
            .is_some_and(|m| m.contains("마감")),
        "told in words: {:?}",
        sold_out[0]
    );
    // A newcomer is told at once too, and anyone can see why.
    let (s, _, v) = charge(4, None).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::GONE, Some("sold_out")),
        "{v}"
    );
    let (_, v) = svc.get("/api/v1/sales/busan", None).await;
    assert_eq!(
        (&v["phase"], &v["discount_left_won"]),
        (&json!("sold_out"), &json!(0)),
        "{v}"
    );

    // Called off: the paused features come back.
    let (s, _, _) = svc
        .call(
            reqwest::Method::DELETE,
            "/api/v1/operator/busan/sale",
            Some(&operator),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = svc
        .get("/api/v1/directory/busan/search?q=%EA%B0%80", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = svc.get("/api/v1/sales/busan", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A sale days away holds and pauses nothing yet (its day starts 6 hours before).
    let later = service::now_us() + 48 * 3_600_000_000;
    let (s, v) = put(
        operator.clone(),
        json!({"opens_at": later, "ends_at": later + 3_600_000_000u64, "vouchers": 3,
            "budget_won": 3_000, "paused": ["search"]}),
    )
    .await;
    assert_eq!((s, &v["phase"]), (StatusCode::OK, &json!("before")), "{v}");
    let (s, v) = svc
        .get("/api/v1/directory/busan/search?q=%EA%B0%80", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

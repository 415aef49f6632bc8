//! The bank's API over real HTTP, without faults: accounts, transfers, idempotency,
//! rejections, statements, the answer feed, and bad input.

mod common;

use std::sync::Arc;

use bank::{Bank, BankError, FaultPlan, OrderStatus, RejectCode};
use common::*;
use serde_json::{Value, json};

fn rejected(status: &OrderStatus) -> Option<RejectCode> {
    match status {
        OrderStatus::Rejected { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounts_open_reset_close() {
    let bank = start(FaultPlan::none()).await;
    let http = reqwest::Client::new();
    let url = bank.url().to_owned();

    let r = http
        .post(format!("{url}/v1/accounts"))
        .json(&json!({"number": "110-1", "holder": "Kim", "balance": 5000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["balance"], 5000);
    assert_eq!(info["closed"], false);

    // Re-posting resets holder and balance; the change is booked as a statement line.
    let r = http
        .post(format!("{url}/v1/accounts"))
        .json(&json!({"number": "110-1", "holder": "Kim Minji", "balance": 7000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: Value = http
        .get(format!("{url}/v1/accounts/110-1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["holder"], "Kim Minji");
    assert_eq!(info["balance"], 7000);
    let lines = client(&bank)
        .statement(&acct("110-1"), 0, u64::MAX)
        .await
        .unwrap();
    assert_eq!(
        lines.iter().map(|l| l.amount).collect::<Vec<_>>(),
        [5000, 2000]
    );

    let r = http
        .post(format!("{url}/v1/accounts/110-1/close"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(bank.account(&acct("110-1")).unwrap().closed);

    let r = http
        .get(format!("{url}/v1/accounts/999"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "account_not_found");

    for bad in [
        json!({"number": "bad/no", "holder": "x", "balance": 0}),
        json!({"number": "n1", "holder": "x", "balance": -1}),
        json!({"number": "SIMBANK-ADJUST", "holder": "x", "balance": 0}),
        json!({"number": "n1", "holder": "x".repeat(129), "balance": 0}),
        json!({"number": "n1", "holder": "x", "balance": 1, "extra": 1}),
    ] {
        let r = http
            .post(format!("{url}/v1/accounts"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    // A negative balance is fine where overdraft is allowed.
    let r = http
        .post(format!("{url}/v1/accounts"))
        .json(&json!({"number": "n2", "holder": "x", "balance": -10, "allow_negative": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pull_and_pay_move_money() {
    let bank = start(FaultPlan::none()).await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 50_000).await;
    open(&bank, "merchant-1", 0).await;
    let c = client(&bank);

    let charge = order_for("chg-1", "citizen-1", ISSUER, 30_000, 10_000);
    let s = c.pull(&charge).await.unwrap();
    let OrderStatus::Completed { amount, .. } = s else {
        panic!("{s:?}")
    };
    assert_eq!(amount, 30_000);
    let redeem = order_for("red-1", ISSUER, "merchant-1", 12_000, 10_000);
    assert!(c.pay(&redeem).await.unwrap().is_completed());

    assert_eq!(bank.balance(&acct("citizen-1")), Some(20_000));
    assert_eq!(bank.balance(&acct(ISSUER)), Some(18_000));
    assert_eq!(bank.balance(&acct("merchant-1")), Some(12_000));
    assert_eq!(c.status(&charge.reference).await.unwrap(), s);
    let executed = bank.executed(&charge.reference).unwrap();
    assert_eq!(executed.amount, 30_000);
    assert_eq!(executed.debit, acct("citizen-1"));

    let issuer_lines = c.statement(&acct(ISSUER), 0, u64::MAX).await.unwrap();
    assert_eq!(issuer_lines.len(), 2);
    assert_eq!(issuer_lines[0].amount, 30_000);
    assert_eq!(issuer_lines[0].counterparty, acct("citizen-1"));
    assert_eq!(issuer_lines[1].amount, -12_000);
    assert_eq!(issuer_lines[1].balance_after, 18_000);
    assert_eq!(issuer_lines[1].reference, redeem.reference);

    let feed = all_answers(&c).await;
    assert_eq!(feed.len(), 2);
    assert_eq!(feed[0].reference, charge.reference);
    assert_eq!(feed[0].status, s);
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_reference_same_order_is_answered_not_executed_again() {
    let bank = start(FaultPlan::none()).await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 50_000).await;
    let c = client(&bank);
    let o = order_for("chg-idem", "citizen-1", ISSUER, 10_000, 10_000);
    let first = c.pull(&o).await.unwrap();
    for _ in 0..3 {
        assert_eq!(c.pull(&o).await.unwrap(), first);
    }
    // pay and pull share one endpoint: still the same reference.
    assert_eq!(c.pay(&o).await.unwrap(), first);
    assert_eq!(bank.balance(&acct("citizen-1")), Some(40_000));
    assert_eq!(all_answers(&c).await.len(), 1);

    // Concurrent identical requests: still once.
    let o2 = Arc::new(order_for("chg-race", "citizen-1", ISSUER, 1_000, 10_000));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (c, o2) = (c.clone(), o2.clone());
            tokio::spawn(async move { c.pull(&o2).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(answers.iter().all(|a| *a == answers[0] && a.is_completed()));
    assert_eq!(bank.balance(&acct("citizen-1")), Some(39_000));
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reused_reference_with_another_order_is_a_conflict() {
    let bank = start(FaultPlan::none()).await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 50_000).await;
    let c = client(&bank);
    let o = order_for("chg-2", "citizen-1", ISSUER, 10_000, 10_000);
    c.pull(&o).await.unwrap();
    for change in 0..4 {
        let mut other = o.clone();
        match change {
            0 => other.amount += 1,
            1 => other.memo = "other".into(),
            2 => other.not_after_ms += 1,
            _ => std::mem::swap(&mut other.debit, &mut other.credit),
        }
        assert_eq!(c.pull(&other).await, Err(BankError::ReferenceConflict));
    }
    // A rejected reference is spent too.
    let poor = order_for("chg-3", "citizen-1", ISSUER, 1_000_000, 10_000);
    assert_eq!(
        rejected(&c.pull(&poor).await.unwrap()),
        Some(RejectCode::InsufficientFunds)
    );
    let mut smaller = poor.clone();
    smaller.amount = 1;
    assert_eq!(c.pull(&smaller).await, Err(BankError::ReferenceConflict));
    assert!(!BankError::ReferenceConflict.is_ambiguous());
    assert_eq!(bank.balance(&acct("citizen-1")), Some(40_000));
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejections_move_nothing_and_are_final() {
    let bank = start(FaultPlan::none()).await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 5_000).await;
    open(&bank, "closed-1", 5_000).await;
    bank.close_account(&acct("closed-1")).unwrap();
    let c = client(&bank);

    let cases = [
        (
            order_for("r-funds", "citizen-1", ISSUER, 5_001, 10_000),
            RejectCode::InsufficientFunds,
        ),
        (
            order("r-expired", "citizen-1", ISSUER, 10, now_ms() - 1),
            RejectCode::Expired,
        ),
        (
            order_for("r-nobody", "citizen-1", "nobody", 10, 10_000),
            RejectCode::AccountNotFound,
        ),
        (
            order_for("r-closed", "closed-1", ISSUER, 10, 10_000),
            RejectCode::AccountClosed,
        ),
        (
            order_for("r-zero", "citizen-1", ISSUER, 0, 10_000),
            RejectCode::InvalidOrder,
        ),
        (
            order_for("r-negative", "citizen-1", ISSUER, -5, 10_000),
            RejectCode::InvalidOrder,
        ),
        (
            order_for("r-self", "citizen-1", "citizen-1", 10, 10_000),
            RejectCode::InvalidOrder,
        ),
        (
            {
                let mut o = order_for("r-memo", "citizen-1", ISSUER, 10, 10_000);
                o.memo = "m".repeat(65);
                o
            },
            RejectCode::InvalidOrder,
        ),
    ];
    for (o, code) in &cases {
        let s = c.pull(o).await.unwrap();
        assert_eq!(rejected(&s), Some(*code), "{}", o.reference);
        assert_eq!(c.status(&o.reference).await.unwrap(), s);
        // Asking again gets the stored answer, even once the order could now pass.
        assert_eq!(c.pull(o).await.unwrap(), s);
    }
    assert_eq!(bank.balance(&acct("citizen-1")), Some(5_000));
    assert_eq!(bank.balance(&acct(ISSUER)), Some(0));
    let feed = all_answers(&c).await;
    assert_eq!(feed.len(), cases.len());

    // Overdraft-enabled accounts may go below zero.
    bank.open_account(bank::NewAccount {
        number: acct("overdraft"),
        holder: "o".into(),
        balance: 0,
        allow_negative: true,
    })
    .unwrap();
    let o = order_for("r-overdraft", "overdraft", ISSUER, 700, 10_000);
    assert!(c.pull(&o).await.unwrap().is_completed());
    assert_eq!(bank.balance(&acct("overdraft")), Some(-700));
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_of_unseen_and_oddly_spelled_references() {
    let bank = start(FaultPlan::none()).await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 5_000).await;
    let c = client(&bank);
    assert_eq!(
        c.status(&reference("never-sent")).await.unwrap(),
        OrderStatus::Unknown
    );
    // Every printable ASCII character must survive the trip through a URL path.
    let printable: String = (0x21u8..=0x7e).map(char::from).collect();
    for (i, chunk) in printable.as_bytes().chunks(20).enumerate() {
        let r = format!("{i}{}", std::str::from_utf8(chunk).unwrap());
        let o = order_for(&r, "citizen-1", ISSUER, 1, 10_000);
        let s = c.pull(&o).await.unwrap();
        assert!(s.is_completed(), "{r}: {s:?}");
        assert_eq!(c.status(&o.reference).await.unwrap(), s, "{r}");
    }
    for r in [
        "...", "%2F", "a/b", "?x=1", "#", "%", "\\", "a\\..\\b", "/..", "%2e%2e",
    ] {
        assert_eq!(
            c.status(&reference(r)).await.unwrap(),
            OrderStatus::Unknown,
            "{r}"
        );
    }
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statements_page_and_add_up() {
    let bank = start(FaultPlan::none()).await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 10_000_000).await;
    open(&bank, "merchant-1", 0).await;
    let c = client(&bank);
    // 2,600 transfers touch the issuer: three pages of its statement.
    let tasks: Vec<_> = (0..16)
        .map(|w| {
            let c = c.clone();
            tokio::spawn(async move {
                for i in (w..1300).step_by(16) {
                    let pull = order_for(&format!("p-{i}"), "citizen-1", ISSUER, 1 + i, 60_000);
                    assert!(c.pull(&pull).await.unwrap().is_completed());
                    let pay = order_for(&format!("q-{i}"), ISSUER, "merchant-1", i / 2 + 1, 60_000);
                    assert!(c.pay(&pay).await.unwrap().is_completed());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for (number, lines_expected) in [(ISSUER, 2600), ("citizen-1", 1301), ("merchant-1", 1300)] {
        let account = acct(number);
        let lines = c.statement(&account, 0, u64::MAX).await.unwrap();
        assert_eq!(lines.len(), lines_expected, "{number}");
        let mut running = 0i64;
        for pair in lines.windows(2) {
            assert!(pair[0].bank_tx_id < pair[1].bank_tx_id);
            assert!(pair[0].at_ms <= pair[1].at_ms);
        }
        for l in &lines {
            running += l.amount;
            assert_eq!(l.balance_after, running, "{number} line {}", l.bank_tx_id);
        }
        assert_eq!(Some(running), bank.balance(&account), "{number}");

        // A time window is exactly the lines inside it.
        let (from, to) = (
            lines[lines.len() / 3].at_ms,
            lines[2 * lines.len() / 3].at_ms,
        );
        let window = c.statement(&account, from, to).await.unwrap();
        let expected: Vec<_> = lines
            .iter()
            .filter(|l| l.at_ms >= from && l.at_ms < to)
            .cloned()
            .collect();
        assert_eq!(window, expected, "{number}");
    }
    let audit = assert_consistent(&bank);
    assert_eq!(audit.transactions, 2600);
    assert_eq!(audit.total_balance, 10_000_000);

    // The feed pages too.
    let feed = all_answers(&c).await;
    assert_eq!(feed.len(), 2600);
    assert!(feed.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    let page = c.answers(2590, 5000).await.unwrap();
    assert_eq!(
        page.iter().map(|a| a.seq).collect::<Vec<_>>(),
        (2591..=2600).collect::<Vec<_>>()
    );
    assert!(c.answers(0, 0).await.unwrap().is_empty());
    assert!(c.answers(2600, 10).await.unwrap().is_empty());
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_a_4xx_with_a_json_body() {
    let bank = start(FaultPlan::none()).await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 5_000).await;
    let http = reqwest::Client::new();
    let url = bank.url().to_owned();
    let good = json!({"reference": "r1", "debit": "citizen-1", "credit": ISSUER, "amount": 5, "memo": "", "not_after_ms": now_ms() + 10_000});

    let mut requests: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (
            http.post(format!("{url}/v1/transfers"))
                .body("{not json")
                .header("content-type", "application/json"),
            400,
        ),
        (
            http.post(format!("{url}/v1/transfers"))
                .body(good.to_string()),
            400,
        ), // no content type
        (
            http.post(format!("{url}/v1/transfers"))
                .json(&json!({"reference": "r1"})),
            400,
        ),
        (
            http.post(format!("{url}/v1/transfers")).json(&json!(["a"])),
            400,
        ),
        (
            http.post(format!("{url}/v1/transfers")).json(&json!(null)),
            400,
        ),
        (http.get(format!("{url}/v1/transfers/%20")), 400),
        (http.get(format!("{url}/v1/transfers/%FF")), 400),
        (
            http.get(format!("{url}/v1/transfers/{}", "r".repeat(65))),
            400,
        ),
        (http.get(format!("{url}/v1/accounts/no%2Fway")), 400),
        (
            http.get(format!("{url}/v1/accounts/citizen-1/statement?limit=0")),
            400,
        ),
        (
            http.get(format!("{url}/v1/accounts/citizen-1/statement?limit=1001")),
            400,
        ),
        (
            http.get(format!(
                "{url}/v1/accounts/citizen-1/statement?from_ms=5&to_ms=4"
            )),
            400,
        ),
        (
            http.get(format!("{url}/v1/accounts/citizen-1/statement?from_ms=abc")),
            400,
        ),
        (
            http.get(format!("{url}/v1/accounts/citizen-1/statement?after_tx=-1")),
            400,
        ),
        (http.get(format!("{url}/v1/accounts/nobody/statement")), 404),
        (http.get(format!("{url}/v1/answers?limit=100000")), 400),
        (http.get(format!("{url}/v1/answers?after=x")), 400),
        (
            http.put(format!("{url}/v1/faults"))
                .json(&json!({"reject_permille": 1001})),
            400,
        ),
        (
            http.put(format!("{url}/v1/faults"))
                .json(&json!({"reject_permille": 600, "late_permille": 600})),
            400,
        ),
        (
            http.put(format!("{url}/v1/faults"))
                .json(&json!({"reject_permile": 1})),
            400,
        ),
        (
            http.put(format!("{url}/v1/faults"))
                .json(&json!({"reject_permille": -1})),
            400,
        ),
        (http.get(format!("{url}/v2/nothing")), 404),
        (http.delete(format!("{url}/v1/transfers")), 405),
        (
            http.post(format!("{url}/v1/transfers"))
                .header("content-type", "application/json")
                .body(vec![b' '; 100 * 1024]),
            413,
        ),
    ];
    // Wrong types and out-of-range numbers are 400, never 422 (which means "rejected").
    for (field, value) in [
        ("amount", json!("5")),
        ("amount", json!(1.5)),
        ("amount", json!(9_223_372_036_854_775_808u64)),
        ("not_after_ms", json!(-1)),
        ("debit", json!("bad account")),
        ("credit", json!("")),
        ("reference", json!("has space")),
        ("reference", json!("..")),
        ("memo", json!(5)),
        ("surprise", json!(1)),
    ] {
        let mut body = good.clone();
        body[field] = value;
        requests.push((http.post(format!("{url}/v1/transfers")).json(&body), 400));
    }
    for (i, (req, expected)) in requests.into_iter().enumerate() {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), expected, "request {i}");
        let body: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert!(body["error"].is_string(), "request {i}: {body}");
        assert!(body["message"].is_string(), "request {i}: {body}");
    }
    // None of that executed anything or spent a reference.
    assert_eq!(bank.audit().orders, 0);
    let r = http
        .post(format!("{url}/v1/transfers"))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_plan_over_http() {
    let bank = start(FaultPlan::none()).await;
    let http = reqwest::Client::new();
    let url = bank.url().to_owned();
    let r = http
        .put(format!("{url}/v1/faults"))
        .json(&json!({"late_permille": 250, "late_ms": 40, "status_fail_permille": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let plan: FaultPlan = http
        .get(format!("{url}/v1/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plan, bank.faults());
    assert_eq!(
        (
            plan.late_permille,
            plan.late_ms,
            plan.status_fail_permille,
            plan.reject_permille
        ),
        (250, 40, 10, 0)
    );
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn order_cap_refuses_new_references_clearly() {
    let bank = start_with(bank::SimBankConfig {
        orders_max: 3,
        ..bank::SimBankConfig::default()
    })
    .await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 5_000).await;
    let c = client(&bank);
    let orders: Vec<_> = (0..4)
        .map(|i| order_for(&format!("cap-{i}"), "citizen-1", ISSUER, 1, 10_000))
        .collect();
    for o in &orders[..3] {
        assert!(c.pull(o).await.unwrap().is_completed());
    }
    let err = c.pull(&orders[3]).await.unwrap_err();
    let BankError::Transport(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("507") && msg.contains("orders_full"), "{msg}");
    assert!(c.pull(&orders[0]).await.unwrap().is_completed());
    assert_eq!(
        c.status(&orders[3].reference).await.unwrap(),
        OrderStatus::Unknown
    );
    bank.shutdown().await;
}

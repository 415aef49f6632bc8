//! Helpers shared by the integration tests: a bank on a free port, accounts, orders.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bank::{
    AccountNo, Answer, Bank, FaultPlan, HttpBank, Order, Reference, SimBank, SimBankConfig,
    SimBankHandle,
};

pub const ISSUER: &str = "100-ISSUER";

pub fn acct(s: &str) -> AccountNo {
    AccountNo::new(s).unwrap()
}

pub fn reference(s: &str) -> Reference {
    Reference::new(s).unwrap()
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub async fn start(faults: FaultPlan) -> SimBankHandle {
    start_with(SimBankConfig {
        seed: 42,
        faults,
        ..SimBankConfig::default()
    })
    .await
}

pub async fn start_with(config: SimBankConfig) -> SimBankHandle {
    SimBank::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

pub fn client(bank: &SimBankHandle) -> HttpBank {
    HttpBank::new(bank.url()).unwrap()
}

pub fn client_with_timeout(bank: &SimBankHandle, ms: u64) -> HttpBank {
    HttpBank::with_timeout(bank.url(), Duration::from_millis(ms)).unwrap()
}

/// Opens an account over HTTP, as an operator would.
pub async fn open(bank: &SimBankHandle, number: &str, balance: i64) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/accounts", bank.url()))
        .json(&serde_json::json!({"number": number, "holder": format!("holder of {number}"), "balance": balance}))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "opening {number}: {}",
        resp.status()
    );
}

pub fn order(r: &str, debit: &str, credit: &str, amount: i64, not_after_ms: u64) -> Order {
    Order {
        reference: reference(r),
        debit: acct(debit),
        credit: acct(credit),
        amount,
        memo: "test".into(),
        not_after_ms,
    }
}

/// An order valid for the next `ms` milliseconds.
pub fn order_for(r: &str, debit: &str, credit: &str, amount: i64, ms: u64) -> Order {
    order(r, debit, credit, amount, now_ms() + ms)
}

/// The whole answer feed.
pub async fn all_answers(bank: &impl Bank) -> Vec<Answer> {
    let mut out = Vec::new();
    loop {
        let after = out.last().map_or(0, |a: &Answer| a.seq);
        let page = bank.answers(after, 1000).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Polls `cond` every 10 ms until it holds; panics after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until no request is parked in the bank, so every order it will ever decide on its
/// own has been decided.
pub async fn settle(bank: &SimBankHandle) {
    eventually(Duration::from_secs(10), "the bank to settle", || async {
        bank.holds() == 0
    })
    .await;
}

pub fn assert_consistent(bank: &SimBankHandle) -> bank::AuditReport {
    let audit = bank.audit();
    assert!(
        audit.is_consistent(),
        "bank inconsistent: {:#?}",
        audit.problems
    );
    audit
}

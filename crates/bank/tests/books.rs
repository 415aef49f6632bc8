//! The simulated bank's books kept in a file: a bank started again from the same file
//! has the same balances, statements (memos included) and answer feed, and answers a
//! retried order as executed once; the holder-name enquiry.

mod common;

use bank::{
    Bank, BankError, FaultPlan, NewAccount, OrderStatus, RejectCode, SimBankConfig, SimBankHandle,
};
use common::*;

fn account(number: &str, holder: &str, balance: i64) -> NewAccount {
    NewAccount {
        number: acct(number),
        holder: holder.into(),
        balance,
        allow_negative: false,
    }
}

async fn start_at(path: &std::path::Path, faults: FaultPlan) -> SimBankHandle {
    start_with(SimBankConfig {
        seed: 7,
        faults,
        path: Some(path.to_owned()),
        // Opened on the first start only: a restart keeps the balances it has.
        accounts: vec![
            account(ISSUER, "발행사", 1_000_000),
            account("110-1", "김민지", 50_000),
        ],
        ..SimBankConfig::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bank_restarted_from_its_file_keeps_its_books_and_executes_a_reference_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("simbank.sqlite");

    let bank = start_at(&path, FaultPlan::none()).await;
    let c = client(&bank);
    let pull = order_for("c-1", "110-1", ISSUER, 20_000, 60_000);
    let first = c.pull(&pull).await.unwrap();
    let OrderStatus::Completed { bank_tx_id, .. } = first else {
        panic!("{first:?}")
    };
    let mut verify = order_for("v-1", ISSUER, "110-1", 1, 60_000);
    verify.memo = "maeul 1234".into();
    assert!(c.pay(&verify).await.unwrap().is_completed());
    let refused = order_for("c-2", "110-1", ISSUER, 10_000_000, 60_000);
    assert!(matches!(
        c.pull(&refused).await.unwrap(),
        OrderStatus::Rejected {
            code: RejectCode::InsufficientFunds,
            ..
        }
    ));
    let statement_before = bank.statement(&acct("110-1")).unwrap();
    let answers_before = all_answers(&c).await;
    let audit_before = assert_consistent(&bank);
    bank.shutdown().await;

    // Started again from the same file (its `accounts` list is not applied again).
    let bank = start_at(&path, FaultPlan::none()).await;
    let c = client(&bank);
    assert_eq!(bank.balance(&acct("110-1")), Some(50_000 - 20_000 + 1));
    assert_eq!(bank.balance(&acct(ISSUER)), Some(1_000_000 + 20_000 - 1));
    assert_eq!(bank.statement(&acct("110-1")).unwrap(), statement_before);
    assert_eq!(all_answers(&c).await, answers_before);
    let audit = assert_consistent(&bank);
    assert_eq!(
        (audit.orders, audit.transactions, audit.total_balance),
        (
            audit_before.orders,
            audit_before.transactions,
            audit_before.total_balance
        )
    );
    // The memo is on the holder's statement, over HTTP too.
    let lines = c.statement(&acct("110-1"), 0, u64::MAX).await.unwrap();
    assert_eq!(lines.last().unwrap().memo, "maeul 1234");
    assert_eq!(lines.last().unwrap().amount, 1);

    // The retried order is answered as executed, under the same transaction, once.
    assert_eq!(c.pull(&pull).await.unwrap(), first);
    assert_eq!(c.status(&pull.reference).await.unwrap(), first);
    assert!(matches!(
        c.pull(&refused).await.unwrap(),
        OrderStatus::Rejected { .. }
    ));
    let mut other = pull.clone();
    other.amount += 1;
    assert_eq!(c.pull(&other).await, Err(BankError::ReferenceConflict));
    assert_eq!(bank.balance(&acct("110-1")), Some(30_001));
    assert_eq!(
        bank.executed(&pull.reference).map(|e| e.bank_tx_id),
        Some(bank_tx_id)
    );

    // New work goes on after the old: transaction ids and the feed continue.
    let next = order_for("c-3", "110-1", ISSUER, 1_000, 60_000);
    let OrderStatus::Completed { bank_tx_id: t3, .. } = c.pull(&next).await.unwrap() else {
        panic!()
    };
    assert!(t3 > bank_tx_id);
    assert_eq!(
        all_answers(&c).await.len(),
        answers_before.len() + 1,
        "one more answer in the feed"
    );
    assert_consistent(&bank);
    bank.shutdown().await;

    // And once more, with what the second run did.
    let bank = start_at(&path, FaultPlan::none()).await;
    assert_eq!(bank.balance(&acct("110-1")), Some(29_001));
    assert_consistent(&bank);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_held_when_the_bank_stopped_is_decided_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("simbank.sqlite");
    let bank = start_at(
        &path,
        FaultPlan {
            late_permille: 1000,
            late_ms: 60_000,
            ..FaultPlan::none()
        },
    )
    .await;
    let c = client_with_timeout(&bank, 200);
    let o = order_for("late-1", "110-1", ISSUER, 5_000, 60_000);
    assert!(c.pull(&o).await.unwrap_err().is_ambiguous());
    eventually(
        std::time::Duration::from_secs(5),
        "the order to be held",
        || async { bank.holds() == 1 },
    )
    .await;
    assert_eq!(c.status(&o.reference).await.unwrap(), OrderStatus::Unknown);
    // Stopped while the order is held: its books close, so the hold, when it ends,
    // changes nothing (as if the process had died).
    bank.shutdown().await;

    let bank = start_at(&path, FaultPlan::none()).await;
    let c = client(&bank);
    let s = c.status(&o.reference).await.unwrap();
    assert!(s.is_completed(), "{s:?}");
    assert_eq!(c.pull(&o).await.unwrap(), s);
    assert_eq!(bank.balance(&acct("110-1")), Some(45_000));
    assert_consistent(&bank);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_banks_cannot_keep_the_same_books() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("simbank.sqlite");
    let bank = start_at(&path, FaultPlan::none()).await;
    let second = bank::SimBank::start(
        "127.0.0.1:0".parse().unwrap(),
        SimBankConfig {
            path: Some(path.clone()),
            ..SimBankConfig::default()
        },
    )
    .await;
    assert!(
        second.is_err(),
        "a second bank on the same file must not start"
    );
    bank.shutdown().await;
    // Once the first has stopped, the file is free again.
    let bank = start_at(&path, FaultPlan::none()).await;
    assert_eq!(bank.balance(&acct("110-1")), Some(50_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holder_enquiry_answers_open_accounts_only() {
    let bank = start(FaultPlan::none()).await;
    bank.open_account(account("110-7", "  김민지 ", 0)).unwrap();
    bank.open_account(account("110-8", "박서준", 0)).unwrap();
    let c = client(&bank);
    assert_eq!(
        c.holder(&acct("110-7")).await.unwrap().as_deref(),
        Some("  김민지 ")
    );
    assert_eq!(c.holder(&acct("110-9")).await.unwrap(), None);
    bank.close_account(&acct("110-8")).unwrap();
    assert_eq!(c.holder(&acct("110-8")).await.unwrap(), None);

    // A failing enquiry service is an error to retry, not "no such account".
    bank.set_faults(FaultPlan {
        enquiry_fail_permille: 1000,
        ..FaultPlan::none()
    })
    .unwrap();
    let e = c.holder(&acct("110-7")).await.unwrap_err();
    assert!(matches!(e, BankError::Transport(_)), "{e:?}");
}

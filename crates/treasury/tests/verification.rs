//! The 1-won verification deposit: paid from the issuer's bank account with the code in
//! its memo, executed once however often it is sent, settled honestly when the bank's
//! answer is lost, and counted apart by reconciliation (the operator's cost, outside the
//! ledger).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bank::{FaultPlan, RejectCode};
use common::*;
use treasury::{Settled, VerificationDeposit};

fn deposit(id: &str, i: u64, created_ms: u64) -> VerificationDeposit {
    VerificationDeposit {
        id: id.into(),
        to: citizen_account(i),
        memo: format!("maeul {id}"),
        created_ms,
    }
}

fn now_ms() -> u64 {
    treasury_now_us() / 1_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_deposit_leaves_the_issuer_once_and_is_reconciled_apart() {
    let w = World::new(BUSAN, 2, 0, 31).await;
    let start_ms = window_start().await;
    let issuer_before = w.bank.balance(&issuer_account()).unwrap();
    let d = deposit("1234", 0, now_ms());
    let t = &w.treasury;
    assert_eq!(
        t.account_holder(&citizen_account(0)).await.unwrap(),
        Some("시민 0".to_owned())
    );
    assert_eq!(
        t.send_verification_deposit(&d).await.unwrap(),
        Settled::Completed
    );
    // Sent again (a retry): answered as before, executed once.
    assert_eq!(
        t.send_verification_deposit(&d).await.unwrap(),
        Settled::Completed
    );
    assert_eq!(
        t.settle_verification_deposit(&d).await.unwrap(),
        Settled::Completed
    );
    assert_eq!(
        w.bank.balance(&issuer_account()),
        Some(issuer_before - 1),
        "the 1 won left the issuer's account"
    );
    assert_eq!(
        w.bank.balance(&citizen_account(0)),
        Some(CITIZEN_BANK_BALANCE + 1)
    );
    let line = w
        .bank
        .statement(&citizen_account(0))
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!((line.amount, line.memo.as_str()), (1, "maeul 1234"));
    assert_eq!(line.counterparty, issuer_account());

    let report = t.reconcile(start_ms, now_ms() + 1).await.unwrap();
    assert_eq!(report.verification_deposits, (1, 1), "{report}");
    assert!(report.differences.is_empty(), "{report}");
    assert!(report.to_string().contains("1원 인증"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_settled_by_the_banks_status_and_an_unseen_order_by_its_deadline() {
    let w = World::new(BUSAN, 2, 0, 32).await;
    let t = &w.treasury;
    // The money moves, the answer is lost: in doubt, then completed by the status.
    w.bank
        .set_faults(FaultPlan {
            lost_answer_permille: 1000,
            ..FaultPlan::none()
        })
        .unwrap();
    let lost = deposit("lost1", 0, now_ms());
    assert_eq!(
        t.send_verification_deposit(&lost).await.unwrap(),
        Settled::InDoubt
    );
    assert_eq!(
        t.settle_verification_deposit(&lost).await.unwrap(),
        Settled::Completed
    );
    // The bank never sees it (timeouts): in doubt while it could still execute, never
    // executed once its deadline and the margin have passed.
    w.bank
        .set_faults(FaultPlan {
            timeout_permille: 1000,
            timeout_ms: 400,
            ..FaultPlan::none()
        })
        .unwrap();
    let unseen = deposit("unseen1", 1, now_ms());
    assert_eq!(
        t.send_verification_deposit(&unseen).await.unwrap(),
        Settled::InDoubt
    );
    assert_eq!(
        t.settle_verification_deposit(&unseen).await.unwrap(),
        Settled::InDoubt,
        "sent again, and again not answered"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(matches!(
        t.settle_verification_deposit(&unseen).await.unwrap(),
        Settled::Refused {
            code: RejectCode::Expired,
            ..
        }
    ));
    w.bank.set_faults(FaultPlan::none()).unwrap();
    settle_bank(&w).await;
    assert_eq!(
        w.bank.balance(&citizen_account(1)),
        Some(CITIZEN_BANK_BALANCE),
        "nothing arrived"
    );
    assert_eq!(
        w.bank.balance(&citizen_account(0)),
        Some(CITIZEN_BANK_BALANCE + 1)
    );
}

async fn settle_bank(w: &World) {
    for _ in 0..500 {
        if w.bank.holds() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the bank did not settle");
}

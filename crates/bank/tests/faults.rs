//! Each fault on its own, over real HTTP: what the client sees, what the bank did, and
//! that the two can always be reconciled.

mod common;

use std::time::{Duration, Instant};

use bank::{Bank, BankError, FaultPlan, OrderStatus, RejectCode};
use common::*;

async fn bank_with(faults: FaultPlan) -> bank::SimBankHandle {
    let bank = start(faults).await;
    open(&bank, ISSUER, 0).await;
    open(&bank, "citizen-1", 100_000).await;
    bank
}

fn expired(s: &OrderStatus) -> bool {
    matches!(
        s,
        OrderStatus::Rejected {
            code: RejectCode::Expired,
            ..
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeout_executes_nothing_ever() {
    let bank = bank_with(FaultPlan {
        timeout_permille: 1000,
        timeout_ms: 300,
        ..FaultPlan::none()
    })
    .await;
    let c = client_with_timeout(&bank, 100);
    let o = order_for("t-1", "citizen-1", ISSUER, 1_000, 200);

    let err = c.pull(&o).await.unwrap_err();
    assert_eq!(err, BankError::Timeout);
    assert!(err.is_ambiguous());
    assert_eq!(c.status(&o.reference).await.unwrap(), OrderStatus::Unknown);
    assert_eq!(bank.balance(&acct("citizen-1")), Some(100_000));

    // Past not_after and past the hold: still unknown, and now that is final.
    settle(&bank).await;
    eventually(Duration::from_secs(2), "not_after to pass", || async {
        bank.now_ms() > o.not_after_ms
    })
    .await;
    assert_eq!(c.status(&o.reference).await.unwrap(), OrderStatus::Unknown);
    assert!(bank.executed(&o.reference).is_none());
    // A retry now can only be refused.
    bank.set_faults(FaultPlan::none()).unwrap();
    assert!(expired(&c.pull(&o).await.unwrap()));
    assert_eq!(bank.balance(&acct("citizen-1")), Some(100_000));
    assert_consistent(&bank);

    // With a client that waits longer, the bank's own 504 is a transport error.
    bank.set_faults(FaultPlan {
        timeout_permille: 1000,
        timeout_ms: 20,
        ..FaultPlan::none()
    })
    .unwrap();
    let o = order_for("t-2", "citizen-1", ISSUER, 1_000, 10_000);
    let err = client(&bank).pull(&o).await.unwrap_err();
    assert!(
        matches!(&err, BankError::Transport(m) if m.contains("504")),
        "{err:?}"
    );
    assert_eq!(bank.status(&o.reference), OrderStatus::Unknown);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_answer_money_moves_after_the_client_gave_up() {
    let bank = bank_with(FaultPlan {
        late_permille: 1000,
        late_ms: 500,
        ..FaultPlan::none()
    })
    .await;
    let c = client_with_timeout(&bank, 100);
    let o = order_for("l-1", "citizen-1", ISSUER, 1_000, 10_000);

    assert_eq!(c.pull(&o).await, Err(BankError::Timeout));
    // During the hold: nothing moved, status unknown.
    assert_eq!(c.status(&o.reference).await.unwrap(), OrderStatus::Unknown);
    assert_eq!(bank.balance(&acct("citizen-1")), Some(100_000));
    assert_eq!(bank.holds(), 1);

    let deadline = Instant::now() + Duration::from_secs(3);
    let last = loop {
        let s = c.status(&o.reference).await.unwrap();
        if s.is_completed() {
            break s;
        }
        assert_eq!(s, OrderStatus::Unknown);
        assert!(Instant::now() < deadline, "the late order never completed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(bank.balance(&acct("citizen-1")), Some(99_000));
    let feed = all_answers(&c).await;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].status, last);
    // Retrying (without faults) gets the same answer, no second execution.
    bank.set_faults(FaultPlan::none()).unwrap();
    assert_eq!(c.pull(&o).await.unwrap(), last);
    settle(&bank).await;
    assert_eq!(bank.balance(&acct("citizen-1")), Some(99_000));
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_past_not_after_is_rejected_expired() {
    let bank = bank_with(FaultPlan {
        late_permille: 1000,
        late_ms: 250,
        ..FaultPlan::none()
    })
    .await;
    let c = client_with_timeout(&bank, 100);
    let o = order_for("l-2", "citizen-1", ISSUER, 1_000, 100);
    assert_eq!(c.pull(&o).await, Err(BankError::Timeout));
    settle(&bank).await;
    let s = c.status(&o.reference).await.unwrap();
    assert!(expired(&s), "{s:?}");
    assert_eq!(bank.balance(&acct("citizen-1")), Some(100_000));
    assert!(
        all_answers(&c)
            .await
            .iter()
            .any(|a| a.reference == o.reference && a.status == s)
    );
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_during_a_late_hold_executes_once() {
    let bank = bank_with(FaultPlan {
        late_permille: 1000,
        late_ms: 500,
        ..FaultPlan::none()
    })
    .await;
    let c = client_with_timeout(&bank, 100);
    let o = order_for("l-3", "citizen-1", ISSUER, 1_000, 10_000);
    assert_eq!(c.pull(&o).await, Err(BankError::Timeout));
    bank.set_faults(FaultPlan::none()).unwrap();
    let s = c.pull(&o).await.unwrap();
    assert!(s.is_completed());
    assert_eq!(bank.holds(), 1, "the first request is still parked");
    settle(&bank).await;
    assert_eq!(bank.status(&o.reference), s);
    assert_eq!(bank.balance(&acct("citizen-1")), Some(99_000));
    assert_eq!(all_answers(&c).await.len(), 1);
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_answer_money_moved_once() {
    let bank = bank_with(FaultPlan {
        lost_answer_permille: 1000,
        ..FaultPlan::none()
    })
    .await;
    let c = client(&bank);
    let o = order_for("x-1", "citizen-1", ISSUER, 1_000, 10_000);
    let err = c.pull(&o).await.unwrap_err();
    assert!(matches!(err, BankError::Transport(_)), "{err:?}");
    assert!(err.is_ambiguous());
    let s = c.status(&o.reference).await.unwrap();
    assert!(s.is_completed());
    assert_eq!(bank.balance(&acct("citizen-1")), Some(99_000));
    // Retrying still loses the answer, but never executes again.
    assert!(c.pull(&o).await.is_err());
    bank.set_faults(FaultPlan::none()).unwrap();
    assert_eq!(c.pull(&o).await.unwrap(), s);
    assert_eq!(bank.balance(&acct("citizen-1")), Some(99_000));
    // The feed carries the answer the HTTP reply lost.
    let feed = all_answers(&c).await;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].status, s);
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_answer_appears_twice_money_moves_once() {
    let bank = bank_with(FaultPlan {
        duplicate_permille: 1000,
        ..FaultPlan::none()
    })
    .await;
    let c = client(&bank);
    let o = order_for("d-1", "citizen-1", ISSUER, 1_000, 10_000);
    let s = c.pull(&o).await.unwrap();
    assert!(s.is_completed());
    // A retry replays the stored answer and adds nothing to the feed.
    assert_eq!(c.pull(&o).await.unwrap(), s);
    let feed = all_answers(&c).await;
    assert_eq!(feed.len(), 2);
    assert!(
        feed.iter()
            .all(|a| a.reference == o.reference && a.status == s)
    );
    assert_ne!(feed[0].seq, feed[1].seq);
    assert_eq!(bank.balance(&acct("citizen-1")), Some(99_000));
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reject_declines_and_moves_nothing() {
    let bank = bank_with(FaultPlan {
        reject_permille: 1000,
        ..FaultPlan::none()
    })
    .await;
    let c = client(&bank);
    let o = order_for("j-1", "citizen-1", ISSUER, 1_000, 10_000);
    let s = c.pull(&o).await.unwrap();
    assert!(
        matches!(
            &s,
            OrderStatus::Rejected {
                code: RejectCode::Declined,
                ..
            }
        ),
        "{s:?}"
    );
    assert_eq!(c.status(&o.reference).await.unwrap(), s);
    // Final: once the fault is gone the answer stays.
    bank.set_faults(FaultPlan::none()).unwrap();
    assert_eq!(c.pull(&o).await.unwrap(), s);
    assert_eq!(bank.balance(&acct("citizen-1")), Some(100_000));
    assert_eq!(all_answers(&c).await[0].status, s);
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_fail_is_a_transport_error() {
    let bank = bank_with(FaultPlan {
        status_fail_permille: 1000,
        ..FaultPlan::none()
    })
    .await;
    let c = client(&bank);
    let o = order_for("s-1", "citizen-1", ISSUER, 1_000, 10_000);
    assert!(
        c.pull(&o).await.unwrap().is_completed(),
        "transfers are unaffected"
    );
    let err = c.status(&o.reference).await.unwrap_err();
    assert!(
        matches!(&err, BankError::Transport(m) if m.contains("503")),
        "{err:?}"
    );
    bank.set_faults(FaultPlan::none()).unwrap();
    assert!(c.status(&o.reference).await.unwrap().is_completed());
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_answers_arrive_or_time_out_after_executing() {
    let bank = bank_with(FaultPlan {
        slow_permille: 1000,
        slow_ms: 200,
        ..FaultPlan::none()
    })
    .await;
    let started = Instant::now();
    let o = order_for("w-1", "citizen-1", ISSUER, 1_000, 10_000);
    assert!(client(&bank).pull(&o).await.unwrap().is_completed());
    assert!(started.elapsed() >= Duration::from_millis(200));

    // A client less patient than the bank sees a timeout, yet the money moved.
    let o = order_for("w-2", "citizen-1", ISSUER, 1_000, 10_000);
    assert_eq!(
        client_with_timeout(&bank, 50).pull(&o).await,
        Err(BankError::Timeout)
    );
    assert!(bank.status(&o.reference).is_completed());
    assert_eq!(bank.balance(&acct("citizen-1")), Some(98_000));
    assert_consistent(&bank);
    bank.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_seed_same_faults() {
    let plan = FaultPlan {
        reject_permille: 500,
        ..FaultPlan::none()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let bank = bank_with(plan.clone()).await;
        let c = client(&bank);
        let mut outcomes = Vec::new();
        for i in 0..40 {
            let o = order_for(&format!("seed-{i}"), "citizen-1", ISSUER, 1, 10_000);
            outcomes.push(c.pull(&o).await.unwrap().is_completed());
        }
        runs.push(outcomes);
        bank.shutdown().await;
    }
    assert_eq!(runs[0], runs[1]);
    let completed = runs[0].iter().filter(|c| **c).count();
    assert!((5..=35).contains(&completed), "{completed} of 40 completed");
}

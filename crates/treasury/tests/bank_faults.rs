//! Charges, redemptions and refund payouts against the simulated bank over real HTTP,
//! under each fault alone and under all of them mixed. After the faults stop and the
//! sweep has run, reconciliation finds no difference: every charge exists at the bank
//! and in the ledger or in neither, every payout was paid exactly once, and the money
//! at the bank matches the ledger to the last won.

mod common;

use bank::FaultPlan;
use common::*;
use ledger::scheme::SchemeApplied;
use ledger::*;
use treasury::{ChargeResult, PayoutResult};

/// The reconciliation window starts after the set-up, whose deposit of the budgets'
/// funding is (rightly) a line maeul has no order for.
fn plan(f: impl FnOnce(&mut FaultPlan)) -> FaultPlan {
    let mut p = FaultPlan::none();
    f(&mut p);
    p
}

/// Every fault alone, at 100%: what each one does to a charge, a redemption and a refund.
fn single_faults() -> Vec<(&'static str, FaultPlan)> {
    vec![
        ("none", FaultPlan::none()),
        (
            "timeout",
            plan(|p| {
                p.timeout_permille = 1000;
                p.timeout_ms = 500;
            }),
        ),
        (
            "late",
            plan(|p| {
                p.late_permille = 1000;
                p.late_ms = 500;
            }),
        ),
        ("lost_answer", plan(|p| p.lost_answer_permille = 1000)),
        (
            "slow",
            plan(|p| {
                p.slow_permille = 1000;
                p.slow_ms = 150;
            }),
        ),
        ("duplicate", plan(|p| p.duplicate_permille = 1000)),
        ("reject", plan(|p| p.reject_permille = 1000)),
        ("status_fail", plan(|p| p.status_fail_permille = 1000)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_alone_ends_reconciled() {
    let w = World::new(SEOUL, 16, 4, 7).await;
    let start_ms = window_start().await;
    for (round, (name, faults)) in single_faults().into_iter().enumerate() {
        let round = round as u64;
        let citizen = round % w.citizens;
        let m = round % w.merchants;
        // 1. A charge under the fault: 100,000 face, 93,000 pulled from the bank.
        w.faults(faults.clone());
        let charged = w
            .treasury
            .charge(
                ClientId(5),
                w.next_key(),
                wallet(citizen),
                Won::new(100_000),
                0,
                false,
            )
            .await
            .unwrap();
        match (name, &charged) {
            ("none" | "slow" | "duplicate" | "lost_answer", ChargeResult::Charged { paid, .. }) => {
                assert_eq!(*paid, Won::new(93_000))
            }
            ("reject", ChargeResult::Refused { code, .. }) => {
                assert_eq!(*code, bank::RejectCode::Declined)
            }
            // Timeouts and late execution end either way once the bank's status is
            // known; with the status service down the charge stays in doubt.
            ("timeout" | "late", ChargeResult::Charged { .. } | ChargeResult::Refused { .. }) => {}
            ("status_fail", _) => {}
            _ => panic!("{name}: {charged:?}"),
        }
        w.settle_everything().await;
        // 2. Without faults: make sure the wallet holds 100,000 bought value.
        if w.balance(wallet(citizen).account()) < 100_000 {
            let again = w
                .treasury
                .charge(
                    ClientId(5),
                    w.next_key(),
                    wallet(citizen),
                    Won::new(100_000),
                    1,
                    false,
                )
                .await
                .unwrap();
            assert!(
                matches!(again, ChargeResult::Charged { .. }),
                "{name}: {again:?}"
            );
        }
        // 3. Pay 60% of all bought value, then under the fault: the merchant redeems
        //    and the citizen has the rest refunded to their bank.
        let loaded = w
            .engine
            .read(|l| l.citizen(wallet(citizen).account()).unwrap().face_loaded);
        let spend = loaded.get() * 6 / 10;
        let paid = w
            .run(vec![Command::Scheme(Box::new(
                ledger::scheme::SchemeCommand::Pay {
                    payer: wallet(citizen),
                    merchant: merchant(m),
                    amount: Won::new(spend),
                },
            ))])
            .await;
        assert!(paid[0].is_applied(), "{name}: {paid:?}");
        let merchant_before = w.balance(merchant(m).account());
        w.faults(faults.clone());
        let redeemed = w
            .treasury
            .redeem(ClientId(6), w.next_key(), merchant(m), Won::new(spend))
            .await
            .unwrap();
        let refunded = w
            .treasury
            .refund_balance(ClientId(7), w.next_key(), wallet(citizen))
            .await
            .unwrap()
            .expect("a cash refund to pay");
        match name {
            "reject" => {
                assert!(
                    matches!(redeemed, PayoutResult::Refused { .. }),
                    "{redeemed:?}"
                );
                assert!(
                    matches!(refunded, PayoutResult::Refused { .. }),
                    "{refunded:?}"
                );
                // The redeemed value is back on the merchant's balance; the refund is
                // owed from the clearing account.
                assert_eq!(w.balance(merchant(m).account()), merchant_before);
                assert!(w.balance(CLEARING.account()) > 0);
            }
            "none" | "slow" | "duplicate" | "lost_answer" => {
                assert!(
                    matches!(redeemed, PayoutResult::Paid { .. }),
                    "{name}: {redeemed:?}"
                );
                assert!(
                    matches!(refunded, PayoutResult::Paid { .. }),
                    "{name}: {refunded:?}"
                );
            }
            _ => {}
        }
        w.settle_everything().await;
        w.check_money();
        let report = w
            .treasury
            .reconcile(start_ms, treasury_now_us() / 1_000 + 1)
            .await
            .unwrap();
        assert!(report.ok(), "{name}: {report}");
        assert!(report.in_flight.is_empty(), "{name}: {report}");
    }
    let audit = w.bank.audit();
    assert!(audit.completed >= 20 && audit.rejected >= 3, "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_faults_under_concurrency_end_reconciled() {
    let w = World::new(BUSAN, 24, 6, 11).await;
    let start_ms = window_start().await;
    w.faults(FaultPlan {
        timeout_permille: 100,
        timeout_ms: 400,
        late_permille: 100,
        late_ms: 400,
        lost_answer_permille: 120,
        slow_permille: 100,
        slow_ms: 80,
        duplicate_permille: 150,
        reject_permille: 80,
        status_fail_permille: 150,
        enquiry_fail_permille: 0,
    });
    // Every citizen charges three times, eight at a time, some retried with the same
    // key (a client that did not hear the answer).
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..w.citizens {
        for n in 0..3u64 {
            let t = std::sync::Arc::clone(&w.treasury);
            let key = IdempotencyKey(u128::from(1_000_000 + i * 10 + n));
            tasks.spawn(async move {
                let first = t
                    .charge(ClientId(5), key, wallet(i), Won::new(50_000), 0, false)
                    .await;
                if n == 2 {
                    // A retry with the same key continues the same purchase.
                    let again = t
                        .charge(ClientId(5), key, wallet(i), Won::new(50_000), 0, false)
                        .await;
                    if let (Ok(a), Ok(b)) = (&first, &again) {
                        assert_eq!(a.purchase(), b.purchase());
                    }
                }
                first
            });
        }
        if tasks.len() >= 8 {
            tasks.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    // Settle what is in doubt so that payments can be made from it.
    w.settle_everything().await;
    let mut pays = Vec::new();
    for i in 0..w.citizens {
        let available = w.balance(wallet(i).account());
        if available >= 20_000 {
            pays.push(Command::Scheme(Box::new(
                ledger::scheme::SchemeCommand::Pay {
                    payer: wallet(i),
                    merchant: merchant(i % w.merchants),
                    amount: Won::new(available - available / 3),
                },
            )));
        }
    }
    let outs = w.run(pays).await;
    assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");
    w.faults(FaultPlan {
        timeout_permille: 100,
        timeout_ms: 400,
        late_permille: 100,
        late_ms: 400,
        lost_answer_permille: 150,
        slow_permille: 100,
        slow_ms: 80,
        duplicate_permille: 150,
        reject_permille: 100,
        status_fail_permille: 150,
        enquiry_fail_permille: 0,
    });
    // Refunds for those who used enough, and the daily settlement of every merchant,
    // run twice (the second run settles only what the first could not).
    for i in 0..w.citizens {
        let _ = w
            .treasury
            .refund_balance(
                ClientId(7),
                IdempotencyKey(u128::from(5_000_000 + i)),
                wallet(i),
            )
            .await;
    }
    let now = Timestamp::from_micros(treasury_now_us());
    let first = w.treasury.settle_day(now).await;
    assert!(
        first.paid.0 + first.refused.0 + first.in_doubt.0 > 0,
        "{first:?}"
    );
    let second = w.treasury.settle_day(now).await;
    assert_eq!(
        second.paid.0, 0,
        "a merchant was settled twice in a day: {second:?}"
    );
    w.settle_everything().await;
    w.check_money();
    let report = w
        .treasury
        .reconcile(start_ms, treasury_now_us() / 1_000 + 1)
        .await
        .unwrap();
    assert!(report.ok(), "{report}");
    assert!(report.in_flight.is_empty(), "{report}");
    assert!(report.matched.0 > 30, "{report}");
    let audit = w.bank.audit();
    assert!(audit.rejected > 0 && audit.completed > 30, "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_treasury_settles_what_a_crashed_one_left_in_doubt() {
    let w = World::new(SEOUL, 4, 1, 3).await;
    let start_ms = window_start().await;
    // Answers are lost after the money moved, and status look-ups fail: every charge
    // ends in doubt, its purchase pending in the ledger.
    w.faults(FaultPlan {
        lost_answer_permille: 1000,
        status_fail_permille: 1000,
        ..FaultPlan::none()
    });
    for i in 0..w.citizens {
        let r = w
            .treasury
            .charge(
                ClientId(5),
                w.next_key(),
                wallet(i),
                Won::new(30_000),
                1,
                false,
            )
            .await
            .unwrap();
        assert!(matches!(r, ChargeResult::InDoubt { .. }), "{r:?}");
        assert_eq!(
            w.balance(wallet(i).account()),
            0,
            "no value before the bank confirms"
        );
    }
    assert_eq!(w.engine.read(|l| l.pending_purchases().count()), 4);
    // A fresh treasury (nothing in memory) finds them from the ledger alone.
    let fresh = treasury::Treasury::new(
        std::sync::Arc::clone(&w.engine),
        std::sync::Arc::clone(&w.storage),
        bank::HttpBank::new(w.bank.url()).unwrap(),
        w.treasury.accounts().clone(),
        w.treasury.config().clone(),
    );
    w.faults(bank::FaultPlan::none());
    let swept = fresh.sweep().await.unwrap();
    assert_eq!(swept.posted, 4, "{swept:?}");
    for i in 0..w.citizens {
        assert_eq!(w.balance(wallet(i).account()), 30_000);
    }
    w.check_money();
    let report = fresh
        .reconcile(start_ms, treasury_now_us() / 1_000 + 1)
        .await
        .unwrap();
    assert!(report.ok() && report.matched.0 == 4, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_charge_frees_the_limit_and_says_why() {
    let w = World::new(SEOUL, 1, 1, 5).await;
    // The bank account holds 2,000,000; the monthly limit is 300,000.
    w.bank
        .open_account(bank::NewAccount {
            number: citizen_account(0),
            holder: "시민 0".into(),
            balance: 100_000,
            allow_negative: false,
        })
        .unwrap();
    let r = w
        .treasury
        .charge(
            ClientId(5),
            w.next_key(),
            wallet(0),
            Won::new(300_000),
            0,
            false,
        )
        .await
        .unwrap();
    match r {
        ChargeResult::Refused { code, .. } => assert_eq!(code, bank::RejectCode::InsufficientFunds),
        other => panic!("{other:?}"),
    }
    // The refused 300,000 does not count against the month.
    w.bank
        .open_account(bank::NewAccount {
            number: citizen_account(0),
            holder: "시민 0".into(),
            balance: 1_000_000,
            allow_negative: false,
        })
        .unwrap();
    let r = w
        .treasury
        .charge(
            ClientId(5),
            w.next_key(),
            wallet(0),
            Won::new(300_000),
            0,
            false,
        )
        .await
        .unwrap();
    assert!(matches!(r, ChargeResult::Charged { .. }), "{r:?}");
    let applied = w
        .run(vec![Command::Scheme(Box::new(
            ledger::scheme::SchemeCommand::Purchase {
                wallet: wallet(0),
                face: Won::new(10_000),
                channel: 0,
                full_price_ok: false,
                pending_timeout_us: Some(60_000_000),
            },
        ))])
        .await;
    assert_eq!(
        applied[0].result.as_ref().unwrap_err().code().as_str(),
        "monthly_purchase_limit"
    );
    let _ = SchemeApplied::CitizenRegistered;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_the_ledger_refuses_does_not_stop_the_sweep() {
    let w = World::new(SEOUL, 2, 1, 31).await;
    w.faults(FaultPlan {
        lost_answer_permille: 1000,
        status_fail_permille: 1000,
        ..FaultPlan::none()
    });
    for i in 0..2 {
        let r = w
            .treasury
            .charge(
                ClientId(5),
                w.next_key(),
                wallet(i),
                Won::new(20_000),
                0,
                false,
            )
            .await
            .unwrap();
        assert!(matches!(r, ChargeResult::InDoubt { .. }), "{r:?}");
    }
    // Citizen 0's wallet is frozen: confirming their charge is refused for now.
    let outs = w
        .run(vec![Command::SetAccountState {
            account: wallet(0).account(),
            state: AccountState::Frozen,
        }])
        .await;
    assert!(outs[0].is_applied());
    w.faults(FaultPlan::none());
    let report = w.treasury.sweep().await.unwrap();
    // (Once from the answer feed, once from the pending look-up.)
    assert!(
        !report.errors.is_empty() && report.errors.iter().all(|e| e.contains("account_frozen")),
        "{report:?}"
    );
    assert_eq!(w.balance(wallet(1).account()), 20_000, "{report:?}");
    // Unfrozen, the next sweep settles it.
    w.run(vec![Command::SetAccountState {
        account: wallet(0).account(),
        state: AccountState::Active,
    }])
    .await;
    let report = w.treasury.sweep().await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(w.balance(wallet(0).account()), 20_000);
    w.check_money();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_whose_payout_was_never_sent_is_paid_by_the_sweep() {
    let w = World::new(SEOUL, 1, 1, 32).await;
    w.treasury
        .charge(
            ClientId(5),
            w.next_key(),
            wallet(0),
            Won::new(100_000),
            0,
            false,
        )
        .await
        .unwrap();
    w.run(vec![Command::Scheme(Box::new(
        ledger::scheme::SchemeCommand::Pay {
            payer: wallet(0),
            merchant: merchant(0),
            amount: Won::new(60_000),
        },
    ))])
    .await;
    // The refund is journaled with its payout pending, then the process "crashes"
    // before sending the order to the bank.
    let outs = w
        .run(vec![Command::Scheme(Box::new(
            ledger::scheme::SchemeCommand::RefundBalance {
                wallet: wallet(0),
                payout_timeout_us: Some(treasury::ORDER_PENDING_US),
            },
        ))])
        .await;
    assert!(outs[0].is_applied(), "{outs:?}");
    let bank_before = w.bank.balance(&citizen_account(0)).unwrap();
    let report = w.treasury.sweep().await.unwrap();
    assert_eq!(report.resent, 1, "{report:?}");
    assert_eq!(
        w.bank.balance(&citizen_account(0)).unwrap(),
        bank_before + 37_200
    );
    assert_eq!(w.balance(CLEARING.account()), 0);
    w.check_money();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_charge_in_doubt_is_not_charged_twice() {
    let w = World::new(SEOUL, 1, 1, 33).await;
    w.run(vec![Command::Scheme(Box::new(
        ledger::scheme::SchemeCommand::SetAutoCharge {
            wallet: wallet(0),
            setting: Some(ledger::scheme::AutoChargeSetting {
                day: 1,
                monthly_face: Won::new(100_000),
                channel: 0,
                topup: false,
            }),
        },
    ))])
    .await;
    w.faults(FaultPlan {
        lost_answer_permille: 1000,
        status_fail_permille: 1000,
        ..FaultPlan::none()
    });
    let now = Timestamp::from_micros(treasury_now_us());
    let first = w.treasury.run_auto_charge(now).await.unwrap();
    assert_eq!(first.notices[0].next_attempt_at, None, "{first:?}");
    w.faults(FaultPlan::none());
    w.settle_everything().await;
    // Hours later: the charge is recorded as done, not tried again.
    let later = now.plus_micros(7 * 3_600 * 1_000_000);
    let second = w.treasury.run_auto_charge(later).await.unwrap();
    assert_eq!(second.done, 1, "{second:?}");
    assert!(
        w.treasury
            .run_auto_charge(later)
            .await
            .unwrap()
            .notices
            .is_empty()
    );
    assert_eq!(w.balance(wallet(0).account()), 100_000);
    w.check_money();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_purchase_is_no_conflict_with_the_bank() {
    let w = World::new(SEOUL, 1, 1, 33).await;
    let charged = w
        .treasury
        .charge(
            ClientId(5),
            w.next_key(),
            wallet(0),
            Won::new(100_000),
            0,
            false,
        )
        .await
        .unwrap();
    w.treasury
        .cancel_purchase(ClientId(5), w.next_key(), charged.purchase())
        .await
        .unwrap();
    // The bank's answer feed says the charge completed; the ledger posted it, then
    // cancelled it: that is agreement, not a conflict.
    let report = w.treasury.sweep().await.unwrap();
    assert!(report.answers_read > 0, "{report:?}");
    assert!(report.conflicts.is_empty(), "{report:?}");
    w.check_money();
}

//! Scheduled jobs and operator reports, through the real HTTP bank.

mod common;

use bank::NewAccount;
use common::*;
use ledger::scheme::{AutoChargeResult, AutoChargeSetting, SchemeCommand};
use ledger::*;
use treasury::OperatorReport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_auto_charge_is_reported_and_retried_by_policy() {
    let w = World::new(SEOUL, 2, 1, 21).await;
    let set = |i: u64| {
        Command::Scheme(Box::new(SchemeCommand::SetAutoCharge {
            wallet: wallet(i),
            setting: Some(AutoChargeSetting {
                day: 1,
                monthly_face: Won::new(100_000),
                channel: 0,
                topup: true,
            }),
        }))
    };
    assert!(
        w.run(vec![set(0), set(1)])
            .await
            .iter()
            .all(Outcome::is_applied)
    );
    // Citizen 1's bank account is nearly empty.
    w.bank
        .open_account(NewAccount {
            number: citizen_account(1),
            holder: "시민 1".into(),
            balance: 1_000,
            allow_negative: false,
        })
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let now = Timestamp::from_micros(treasury_now_us());
    let first = w.treasury.run_auto_charge(now).await.unwrap();
    assert_eq!((first.done, first.failed), (1, 1), "{first:?}");
    let notice = first
        .notices
        .iter()
        .find(|n| n.wallet == wallet(1).account())
        .unwrap();
    assert_eq!(notice.failure.as_deref(), Some("insufficient_funds"));
    let retry_at = notice.next_attempt_at.expect("a retry is planned");
    assert_eq!(retry_at, now.plus_micros(6 * 3_600 * 1_000_000));
    // The citizen sees it in their profile.
    let status = w
        .engine
        .read(|l| {
            l.citizen(wallet(1).account())
                .unwrap()
                .auto_charge_status
                .clone()
        })
        .unwrap();
    assert_eq!(status.attempts, 1);
    assert!(matches!(status.result, AutoChargeResult::Failed { .. }));
    // Running again before the retry time does nothing; the charged one is not charged twice.
    let again = w.treasury.run_auto_charge(now).await.unwrap();
    assert!(again.notices.is_empty(), "{again:?}");
    // At the retry time, with money in the bank, it succeeds.
    w.bank
        .open_account(NewAccount {
            number: citizen_account(1),
            holder: "시민 1".into(),
            balance: 500_000,
            allow_negative: false,
        })
        .unwrap();
    let retried = w.treasury.run_auto_charge(retry_at).await.unwrap();
    assert_eq!((retried.done, retried.failed), (1, 0), "{retried:?}");
    assert_eq!(w.balance(wallet(1).account()), 100_000);
    assert_eq!(w.balance(wallet(0).account()), 100_000);
    // (Balances were set by hand above, so compare orders with the bank instead.)
    let report = w
        .treasury
        .reconcile(now.as_micros() / 1_000, treasury_now_us() / 1_000 + 1)
        .await
        .unwrap();
    assert_eq!(report.matched.0, 2, "{report}");
    assert_eq!(report.voided, 1, "{report}");
    assert!(report.differences.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_charge_gives_up_after_the_last_attempt_and_says_so() {
    let w = World::new(SEOUL, 1, 1, 22).await;
    w.run(vec![Command::Scheme(Box::new(
        SchemeCommand::SetAutoCharge {
            wallet: wallet(0),
            setting: Some(AutoChargeSetting {
                day: 1,
                monthly_face: Won::new(100_000),
                channel: 0,
                topup: false,
            }),
        },
    ))])
    .await;
    w.bank
        .open_account(NewAccount {
            number: citizen_account(0),
            holder: "시민 0".into(),
            balance: 0,
            allow_negative: false,
        })
        .unwrap();
    let mut at = Timestamp::from_micros(treasury_now_us());
    let mut last = None;
    for attempt in 1..=3 {
        let r = w.treasury.run_auto_charge(at).await.unwrap();
        assert_eq!(r.notices.len(), 1, "attempt {attempt}: {r:?}");
        last = r.notices[0].next_attempt_at;
        if attempt < 3 {
            at = last.expect("retried");
        }
    }
    assert_eq!(last, None, "no retry after the third failure");
    let after = w
        .treasury
        .run_auto_charge(at.plus_micros(ledger::DAY_US))
        .await
        .unwrap();
    assert!(after.notices.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_up_buys_the_shortfall_at_payment_time() {
    let w = World::new(SEOUL, 1, 1, 23).await;
    w.run(vec![Command::Scheme(Box::new(
        SchemeCommand::SetAutoCharge {
            wallet: wallet(0),
            setting: Some(AutoChargeSetting {
                day: 1,
                monthly_face: Won::ZERO,
                channel: 0,
                topup: true,
            }),
        },
    ))])
    .await;
    // Paying 25,000 from an empty wallet buys 30,000 (the 10,000 unit), then pays.
    let (applied, charged) = w
        .treasury
        .pay_with_topup(
            ClientId(9),
            IdempotencyKey(77),
            wallet(0),
            merchant(0),
            Won::new(25_000),
        )
        .await
        .unwrap();
    assert!(matches!(applied, Applied::Scheme(_)), "{applied:?}");
    let charged = charged.expect("a top-up");
    assert!(matches!(
        charged,
        treasury::ChargeResult::Charged { face, .. } if face == Won::new(30_000)
    ));
    assert_eq!(w.balance(wallet(0).account()), 5_000);
    // The same request again changes nothing.
    w.treasury
        .pay_with_topup(
            ClientId(9),
            IdempotencyKey(77),
            wallet(0),
            merchant(0),
            Won::new(25_000),
        )
        .await
        .unwrap();
    assert_eq!(w.balance(wallet(0).account()), 5_000);
    assert_eq!(w.balance(merchant(0).account()), 25_000);
    w.check_money();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_job_and_the_operator_report() {
    let w = World::new(SEOUL, 3, 2, 24).await;
    // Policy money valid for half a second, and bought value.
    let soon = Timestamp::from_micros(treasury_now_us() + 500_000);
    let outs = w
        .run(vec![Command::Transfer(Transfer::posted(
            TransferSpec::Allowance {
                budget: DISCOUNT,
                wallet: wallet(2),
                amount: Won::new(20_000),
                lot: LotSpec {
                    tag: 5,
                    expires_at: soon,
                },
            },
        ))])
        .await;
    assert!(outs[0].is_applied());
    for i in 0..2 {
        w.treasury
            .charge(
                ClientId(5),
                w.next_key(),
                wallet(i),
                Won::new(200_000),
                0,
                false,
            )
            .await
            .unwrap();
    }
    w.run(vec![Command::Scheme(Box::new(SchemeCommand::Pay {
        payer: wallet(0),
        merchant: merchant(1),
        amount: Won::new(150_000),
    }))])
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let now = Timestamp::from_micros(treasury_now_us());
    let expired = w.treasury.run_expiry(now).await.unwrap();
    assert_eq!((expired.done, expired.amount), (1, 20_000), "{expired:?}");
    // Again the same day: nothing more.
    assert_eq!(w.treasury.run_expiry(now).await.unwrap().done, 0);
    w.treasury
        .redeem(ClientId(6), w.next_key(), merchant(1), Won::new(100_000))
        .await
        .unwrap();

    let report = OperatorReport::build(w.storage.as_ref(), &w.engine).unwrap();
    let t = &report.total;
    assert_eq!(t.sales.won, 2 * 186_000);
    assert_eq!(t.discount.won, 2 * 14_000);
    assert_eq!(t.allowance.won, 20_000);
    assert_eq!(t.issuance(), 400_000 + 20_000);
    assert_eq!(t.payments.won, 150_000);
    assert_eq!(t.redemptions.won, 100_000);
    assert_eq!(t.expiries.won, 20_000);
    assert_eq!(t.subsidy_spent(), 28_000 + 20_000);
    let purchased = report
        .outstanding_by_source
        .iter()
        .find(|(s, _)| *s == Source::Purchased)
        .unwrap()
        .1;
    assert_eq!(purchased, 400_000 - 150_000);
    assert_eq!(report.merchants_outstanding, 50_000);
    let discount_budget = report
        .budgets
        .iter()
        .find(|b| b.budget == DISCOUNT.account())
        .unwrap();
    assert_eq!(discount_budget.left, BUDGET_FUNDS - 28_000 - 20_000);
    assert_eq!(discount_budget.spent_total, 28_000);
    assert_eq!(report.days.len(), 1);
    assert_eq!(report.months.len(), 1);
    let text = report.to_string();
    assert!(
        text.contains("운영 보고서") && text.contains("purchased"),
        "{text}"
    );
    w.check_money();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_settles_orders_left_in_doubt_and_stops_when_told() {
    let w = World::new(SEOUL, 2, 1, 25).await;
    w.faults(bank::FaultPlan {
        lost_answer_permille: 1000,
        status_fail_permille: 1000,
        ..bank::FaultPlan::none()
    });
    let r = w
        .treasury
        .charge(
            ClientId(5),
            w.next_key(),
            wallet(0),
            Won::new(50_000),
            0,
            false,
        )
        .await
        .unwrap();
    assert!(matches!(r, treasury::ChargeResult::InDoubt { .. }), "{r:?}");
    w.faults(bank::FaultPlan::none());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let schedule = treasury::Schedule {
        sweep_every: std::time::Duration::from_millis(50),
        ..treasury::Schedule::default()
    };
    let job = tokio::spawn(std::sync::Arc::clone(&w.treasury).run_schedule(schedule, stopped));
    let mut settled = false;
    for _ in 0..100 {
        if w.balance(wallet(0).account()) == 50_000 {
            settled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(settled, "the scheduled sweep did not confirm the charge");
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), job)
        .await
        .expect("the schedule stops when told")
        .unwrap();
}

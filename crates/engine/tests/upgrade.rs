//! The upgrade gate (Buyeo, again): an update that changes a rule must not serve,
//! whatever the end of the journal holds, and rolling it back must recover.
//!
//! A journal is written under this build's rules with every kind of money command the
//! scheme has (purchases with a discount, payments with cash-back, a payment refund, a
//! gift, a cancelled purchase, a balance refund, value expiring at its exact instant,
//! raw transfers), then a quiet stretch of sign-ups only, longer than the tail a start
//! re-checks. Each deliberate rule change (`ledger::Fault`, behind the test-only
//! `fault-injection` feature) is then started on a copy: every one refuses, naming the
//! record of its own command kind, although the tail holds none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;

use common::*;
use engine::{Engine, EngineError, EngineOptions, FileStorage, Health, SubmitError, TakenOver};
use journal::FileJournalConfig;
use ledger::scheme::{AnnualRevenue, SchemeCommand, SchemeConfig};
use ledger::*;

const BUSAN: &str = include_str!("../../../schemes/busan-like.toml");
/// 2026-03-10 10:00 KST.
const T0: u64 = 1_773_104_400 * SECOND_US;
/// Sign-up records after the workload: more than the tail a start re-checks.
const QUIET_RECORDS: u64 = 100;
const TAIL: u64 = 64;

const RESERVE: ReserveId = ReserveId::new(1);
const DISCOUNT: BudgetId = BudgetId::new(2);
const CLEARING: u64 = 3;
const CASHBACK: BudgetId = BudgetId::new(4);

fn citizen(i: u64) -> WalletId {
    WalletId::new(100 + i)
}

fn shop(i: u64) -> MerchantId {
    MerchantId::new(200 + i)
}

/// Busan-like cash-back, plus a 5% discount at purchase from budget 2.
fn scheme() -> SchemeConfig {
    let mut s = SchemeConfig::from_toml(BUSAN).unwrap();
    s.purchase.discount_bp = 500;
    s.purchase.discount_budget = Some(DISCOUNT.account());
    s
}

fn scheme_env(c: SchemeCommand) -> Envelope {
    env(Command::Scheme(Box::new(c)))
}

fn opts(rules: Rules, clock: engine::Clock) -> EngineOptions {
    EngineOptions {
        verify_tail_records: TAIL,
        clock,
        rules,
        ..EngineOptions::default()
    }
}

/// Runs one batch (one journal record); every command must be applied. Returns the
/// record's seq and the outcomes.
fn step(engine: &Engine, commands: Vec<Envelope>) -> (u64, Vec<Outcome>) {
    let outs = engine.execute(commands).unwrap();
    assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");
    (engine.durable_seq(), outs)
}

fn applied(o: &Outcome) -> SchemeApplied {
    match &o.result {
        Ok(Applied::Scheme(s)) => (**s).clone(),
        other => panic!("{other:?}"),
    }
}

use ledger::scheme::SchemeApplied;

/// Where each kind of command sits in the journal.
#[derive(Debug, Default)]
struct Written {
    setup: u64,
    purchase: u64,
    pay: u64,
    payment_refund: u64,
    gift: u64,
    cancel: u64,
    balance_refund: u64,
    expiry: u64,
    raw_payment: u64,
    last: u64,
}

/// The full workload under `rules`, then `QUIET_RECORDS` sign-ups.
fn write_workload(dir: &Path, rules: Rules) -> Written {
    let (now, clock) = manual_clock(T0);
    let engine = Engine::create(
        common::file_storage(dir),
        currency(),
        LedgerConfig::default(),
        opts(rules, clock),
    )
    .unwrap();
    let mut w = Written::default();
    let open = |id: AccountId, kind| {
        env(Command::OpenAccount {
            account: id,
            kind,
            accepts: SourceSet::ALL,
        })
    };
    let mut setup = vec![
        open(RESERVE.account(), AccountKind::IssuerReserve),
        open(DISCOUNT.account(), AccountKind::SubsidyBudget),
        open(AccountId(CLEARING), AccountKind::SettlementClearing),
        open(CASHBACK.account(), AccountKind::SubsidyBudget),
    ];
    for budget in [DISCOUNT, CASHBACK] {
        setup.push(env(Command::Transfer(Transfer::posted(
            TransferSpec::BudgetFunding {
                reserve: RESERVE,
                budget,
                amount: Won::new(100_000_000),
            },
        ))));
    }
    setup.push(scheme_env(SchemeCommand::SetScheme {
        config: Box::new(scheme()),
        effective_at: Timestamp::ZERO,
        operator: Text::new("operator").unwrap(),
    }));
    for i in 0..7 {
        setup.push(open(citizen(i).account(), AccountKind::CitizenWallet));
        setup.push(scheme_env(SchemeCommand::RegisterCitizen {
            wallet: citizen(i),
            birth_year: 1980,
        }));
    }
    for (i, revenue) in [(0, 900_000_000), (1, 1_500_000_000)] {
        setup.push(open(shop(i).account(), AccountKind::Merchant));
        setup.push(scheme_env(SchemeCommand::SetMerchantProfile {
            merchant: shop(i),
            category: 5812,
            annual_revenue: AnnualRevenue::Known(Won::new(revenue)),
        }));
    }
    w.setup = step(&engine, setup).0;

    let buy = |i| {
        scheme_env(SchemeCommand::Purchase {
            wallet: citizen(i),
            face: Won::new(100_000),
            channel: 0,
            full_price_ok: false,
            pending_timeout_us: None,
        })
    };
    let (seq, outs) = step(&engine, vec![buy(1)]);
    w.purchase = seq;
    assert!(
        matches!(applied(&outs[0]), SchemeApplied::Purchased { discount, .. } if discount == Won::new(5_000))
    );
    let (_, outs) = step(&engine, vec![buy(2), buy(3), buy(4)]);
    let cancel_me = match applied(&outs[1]) {
        SchemeApplied::Purchased { charge, .. } => charge,
        other => panic!("{other:?}"),
    };

    let (seq, outs) = step(
        &engine,
        vec![scheme_env(SchemeCommand::Pay {
            payer: citizen(1),
            merchant: shop(0),
            amount: Won::new(20_000),
        })],
    );
    w.pay = seq;
    let payment = match applied(&outs[0]) {
        SchemeApplied::Paid {
            payment, cashback, ..
        } => {
            assert_eq!(cashback, Won::new(2_000));
            payment
        }
        other => panic!("{other:?}"),
    };
    w.payment_refund = step(
        &engine,
        vec![scheme_env(SchemeCommand::RefundPayment {
            payment,
            amount: Won::new(10_000),
        })],
    )
    .0;
    w.gift = step(
        &engine,
        vec![scheme_env(SchemeCommand::Gift {
            sender: citizen(2),
            recipient: citizen(5),
            amount: Won::new(30_000),
        })],
    )
    .0;
    w.cancel = step(
        &engine,
        vec![scheme_env(SchemeCommand::CancelPurchase {
            purchase: cancel_me,
            payout_timeout_us: None,
        })],
    )
    .0;
    step(
        &engine,
        vec![scheme_env(SchemeCommand::Pay {
            payer: citizen(4),
            merchant: shop(1),
            amount: Won::new(70_000),
        })],
    );
    let (seq, outs) = step(
        &engine,
        vec![scheme_env(SchemeCommand::RefundBalance {
            wallet: citizen(4),
            payout_timeout_us: None,
        })],
    );
    w.balance_refund = seq;
    assert!(
        matches!(applied(&outs[0]), SchemeApplied::BalanceRefunded { subsidy, .. } if subsidy.is_positive())
    );
    // Value valid until an instant, expired exactly at it.
    let expires_at = Timestamp::from_micros(T0 + 600 * SECOND_US);
    step(
        &engine,
        vec![env(Command::Transfer(Transfer::posted(
            TransferSpec::Charge {
                reserve: RESERVE,
                wallet: citizen(6),
                amount: Won::new(7_000),
                lot: LotSpec { tag: 0, expires_at },
            },
        )))],
    );
    now.store(expires_at.as_micros(), Ordering::SeqCst);
    w.expiry = step(
        &engine,
        vec![env(Command::Transfer(Transfer::posted(
            TransferSpec::Expiry {
                wallet: citizen(6),
                reserve: RESERVE,
            },
        )))],
    )
    .0;
    w.raw_payment = step(
        &engine,
        vec![env(Command::Transfer(Transfer::posted(
            TransferSpec::Payment {
                payer: citizen(1),
                merchant: shop(0),
                amount: Won::new(1_000),
            },
        )))],
    )
    .0;
    // A quiet night: only sign-ups, more of them than the tail a start re-checks.
    for i in 0..QUIET_RECORDS {
        let w = WalletId::new(10_000 + i);
        step(
            &engine,
            vec![
                open(w.account(), AccountKind::CitizenWallet),
                scheme_env(SchemeCommand::RegisterCitizen {
                    wallet: w,
                    birth_year: 1990,
                }),
            ],
        );
    }
    w.last = engine.durable_seq();
    engine.shutdown();
    w
}

fn journal_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(journal::JOURNAL_FILE_NAME)).unwrap()
}

fn later_clock() -> engine::Clock {
    manual_clock(T0 + 3_600 * SECOND_US).1
}

#[test]
fn a_changed_rule_refuses_to_serve_whatever_the_tail_holds_for_each_kind_of_command() {
    let good = tempfile::tempdir().unwrap();
    let w = write_workload(good.path(), Rules::this_build());
    assert!(
        w.last - w.raw_payment > TAIL,
        "the tail holds only sign-ups"
    );

    // The good build itself restarts re-checking only the tail.
    let (engine, report) = Engine::open(
        common::file_storage(good.path()),
        opts(Rules::this_build(), later_clock()),
    )
    .unwrap();
    assert!(report.taken_over_from.is_none(), "{report:?}");
    assert!(report.records_replayed <= TAIL + 1, "{report:?}");
    engine.shutdown();

    let expected = [
        (Fault::FlipPaymentDirection { skip_checks: false }, w.pay),
        (Fault::FlipPaymentDirection { skip_checks: true }, w.pay),
        (Fault::PostingSignFlipped, w.setup),
        (Fault::CashbackTenfold, w.pay),
        (Fault::DiscountOneWonMore, w.purchase),
        (Fault::BalanceRefundSkipsSubsidy, w.balance_refund),
        (Fault::CancelKeepsDiscount, w.cancel),
        (Fault::GiftKeepsSource, w.gift),
        (Fault::RefundKeepsCashback, w.payment_refund),
        (Fault::ExpiryOneInstantLate, w.expiry),
    ];
    assert_eq!(
        expected.len(),
        Fault::ALL.len(),
        "every rule change is tried"
    );
    for (fault, record) in expected {
        let copy = tempfile::tempdir().unwrap();
        common::copy_dir(good.path(), copy.path());
        let before = journal_bytes(copy.path());
        let err = Engine::open(
            common::file_storage(copy.path()),
            opts(Rules::with_fault(fault), later_clock()),
        )
        .map(|(_, report)| report)
        .expect_err(&format!("{fault:?} must not serve"));
        let EngineError::Divergence(report) = &err else {
            panic!("{fault:?}: expected a divergence, got {err}")
        };
        let first = report.first().unwrap();
        assert_eq!(first.seq, record, "{fault:?}: {err}");
        let writer = first
            .written_by
            .as_ref()
            .expect("the record's build is named");
        assert_eq!(writer.rules, Rules::this_build().id(), "{fault:?}");
        assert!(!report.own_records, "{fault:?}");
        let message = err.to_string();
        assert!(
            message.contains("refusing to serve") && message.contains(&format!("record {record}")),
            "{fault:?}: {message}"
        );
        // A refusal writes nothing.
        assert!(journal_bytes(copy.path()) == before, "{fault:?}");
        // `maeul verify` under the changed rules names the same record and who wrote it.
        let v = engine::verify_with(
            &FileStorage::new(copy.path(), FileJournalConfig::default()),
            &Rules::with_fault(fault),
            None,
        );
        assert!(!v.ok(), "{fault:?}");
        assert_eq!(
            v.divergence.as_ref().map(|d| d.seq),
            Some(record),
            "{fault:?}"
        );
        assert!(v.to_string().contains("written by"), "{v}");
    }
}

#[test]
fn another_build_re_decides_the_whole_journal_and_names_itself_before_writing() {
    // A build with other rules that decide this journal the same way: its changed rule
    // is about gifts, and the journal holds none.
    let other = Rules::with_fault(Fault::GiftKeepsSource);
    let short = tempfile::tempdir().unwrap();
    let (_, clock) = manual_clock(T0);
    let engine = Engine::create(
        common::file_storage(short.path()),
        currency(),
        LedgerConfig::default(),
        opts(Rules::this_build(), clock.clone()),
    )
    .unwrap();
    populate(&engine, 3, 2);
    for i in 0..(TAIL + 20) {
        step(&engine, vec![payment(i % 3, i % 2, 10)]);
    }
    let last_good = engine.durable_seq();
    engine.shutdown();
    let (engine, report) = Engine::open(
        common::file_storage(short.path()),
        opts(other.clone(), clock.clone()),
    )
    .unwrap();
    // Not just the tail: everything from genesis, since it has no snapshot of its own.
    assert_eq!(report.snapshot_seq, None, "{report:?}");
    assert_eq!(report.records_replayed, last_good, "{report:?}");
    assert!(
        report
            .snapshots_skipped
            .iter()
            .any(|s| s.contains("another build")),
        "{report:?}"
    );
    assert!(matches!(
        &report.taken_over_from,
        Some(TakenOver::Build(b)) if b.rules == Rules::this_build().id()
    ));
    // It names itself in the journal before its first batch.
    assert_eq!(engine.durable_seq(), last_good + 1);
    step(&engine, vec![payment(0, 0, 1)]);
    engine.shutdown();
    let v = engine::verify_with(common::file_storage(short.path()).as_ref(), &other, None);
    assert!(v.ok(), "{v}");
    let names: Vec<_> = v
        .writers
        .iter()
        .map(|(seq, w)| (*seq, w.as_ref().map(|w| w.rules)))
        .collect();
    assert_eq!(
        names,
        vec![
            (1, None),
            (2, Some(Rules::this_build().id())),
            (last_good + 1, Some(other.id())),
        ]
    );
}

#[test]
fn rolling_back_a_bad_build_that_served_starts_halted_and_read_only_with_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let good = Rules::this_build();
    // The bad update: balance refunds skip the subsidy share. History holds none, so
    // its full verification passes and it serves.
    let bad = Rules::with_fault(Fault::BalanceRefundSkipsSubsidy);
    let small_tail = |rules: Rules, clock| EngineOptions {
        verify_tail_records: 2,
        snapshot_every_commands: 1,
        ..opts(rules, clock)
    };
    let (now, clock) = manual_clock(T0);
    let engine = Engine::create(
        common::file_storage(dir.path()),
        currency(),
        LedgerConfig::default(),
        small_tail(good.clone(), clock.clone()),
    )
    .unwrap();
    let mut setup = vec![
        env(Command::OpenAccount {
            account: RESERVE.account(),
            kind: AccountKind::IssuerReserve,
            accepts: SourceSet::ALL,
        }),
        env(Command::OpenAccount {
            account: DISCOUNT.account(),
            kind: AccountKind::SubsidyBudget,
            accepts: SourceSet::ALL,
        }),
        env(Command::OpenAccount {
            account: AccountId(CLEARING),
            kind: AccountKind::SettlementClearing,
            accepts: SourceSet::ALL,
        }),
        env(Command::OpenAccount {
            account: CASHBACK.account(),
            kind: AccountKind::SubsidyBudget,
            accepts: SourceSet::ALL,
        }),
        env(Command::Transfer(Transfer::posted(
            TransferSpec::BudgetFunding {
                reserve: RESERVE,
                budget: DISCOUNT,
                amount: Won::new(1_000_000),
            },
        ))),
        scheme_env(SchemeCommand::SetScheme {
            config: Box::new(scheme()),
            effective_at: Timestamp::ZERO,
            operator: Text::new("operator").unwrap(),
        }),
        env(Command::OpenAccount {
            account: shop(0).account(),
            kind: AccountKind::Merchant,
            accepts: SourceSet::ALL,
        }),
        scheme_env(SchemeCommand::SetMerchantProfile {
            merchant: shop(0),
            category: 5812,
            annual_revenue: AnnualRevenue::Known(Won::new(100_000_000)),
        }),
    ];
    for i in 0..2 {
        setup.push(env(Command::OpenAccount {
            account: citizen(i).account(),
            kind: AccountKind::CitizenWallet,
            accepts: SourceSet::ALL,
        }));
        setup.push(scheme_env(SchemeCommand::RegisterCitizen {
            wallet: citizen(i),
            birth_year: 1980,
        }));
        setup.push(scheme_env(SchemeCommand::Purchase {
            wallet: citizen(i),
            face: Won::new(100_000),
            channel: 0,
            full_price_ok: false,
            pending_timeout_us: None,
        }));
        setup.push(scheme_env(SchemeCommand::Pay {
            payer: citizen(i),
            merchant: shop(0),
            amount: Won::new(70_000),
        }));
    }
    step(&engine, setup);
    for _ in 0..5 {
        step(&engine, vec![payment_to_shop(0, 10)]);
    }
    wait_until("the good build has a snapshot", || {
        engine.counters().snapshots.load(Ordering::Relaxed) >= 1
    });
    engine.shutdown();
    let good_end = journal_bytes(dir.path()).len();

    // The bad build starts: its full verification finds nothing to disagree with.
    now.fetch_add(60 * SECOND_US, Ordering::SeqCst);
    let (engine, report) = Engine::open(
        common::file_storage(dir.path()),
        small_tail(bad.clone(), clock.clone()),
    )
    .unwrap();
    assert!(report.taken_over_from.is_some(), "{report:?}");
    let marker = engine.durable_seq();
    let balance_before = engine.read(|l| l.account(citizen(0).account()).unwrap().balance());
    // It serves, and pays a refund the wrong way: all in cash, no subsidy share.
    let (refund_seq, outs) = step(
        &engine,
        vec![scheme_env(SchemeCommand::RefundBalance {
            wallet: citizen(0),
            payout_timeout_us: None,
        })],
    );
    assert!(matches!(
        applied(&outs[0]),
        SchemeApplied::BalanceRefunded { cash, subsidy, .. }
            if cash.is_positive() && subsidy == Won::ZERO
    ));
    for _ in 0..5 {
        step(&engine, vec![payment_to_shop(1, 10)]);
    }
    wait_until("the bad build has a snapshot", || {
        engine.counters().snapshots.load(Ordering::Relaxed) >= 1
    });
    engine.shutdown();
    assert!(journal_bytes(dir.path()).len() >= good_end);

    // A third build that never served here disagrees with the bad records: it refuses.
    let stranger = Rules::with_fault(Fault::CashbackTenfold);
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(dir.path(), copy.path());
    let err = Engine::open(
        common::file_storage(copy.path()),
        small_tail(stranger, clock.clone()),
    )
    .map(|_| ())
    .unwrap_err();
    assert!(matches!(err, EngineError::Divergence(_)), "{err}");

    // The good build comes back: it does not trust the bad build's snapshot, re-decides
    // the bad build's records, and starts halted and read-only with the list.
    let before = journal_bytes(dir.path());
    let (engine, report) = Engine::open(
        common::file_storage(dir.path()),
        small_tail(good.clone(), clock.clone()),
    )
    .unwrap();
    assert!(
        report
            .snapshots_skipped
            .iter()
            .any(|s| s.contains("another build")),
        "{report:?}"
    );
    let q = report.quarantine.clone().expect("read-only");
    assert_eq!(q.differences[0].seq, refund_seq, "{q:?}");
    assert_eq!(
        q.differences[0].written_by.as_ref().map(|w| w.rules),
        Some(bad.id())
    );
    assert_eq!(q.state_as_of_seq, refund_seq - 1);
    assert!(q.state_as_of_seq >= marker);
    assert!(matches!(engine.health(), Health::ReadOnly { .. }));
    assert_eq!(engine.quarantine(), Some(&q));
    // Writes are refused; reads show the last state both builds agree on.
    assert!(matches!(
        engine.submit(vec![payment_to_shop(1, 1)]),
        Err(SubmitError::ReadOnly { .. })
    ));
    let balance = engine.read(|l| l.account(citizen(0).account()).unwrap().balance());
    assert_eq!(balance, balance_before, "as before the bad refund");
    engine.shutdown();
    // Nothing was written, and the next start says the same.
    assert!(journal_bytes(dir.path()) == before);
    let (engine, report) =
        Engine::open(common::file_storage(dir.path()), small_tail(good, clock)).unwrap();
    assert_eq!(report.quarantine, Some(q));
    engine.shutdown();
}

fn payment_to_shop(i: u64, amount: i64) -> Envelope {
    scheme_env(SchemeCommand::Pay {
        payer: citizen(i),
        merchant: shop(0),
        amount: Won::new(amount),
    })
}

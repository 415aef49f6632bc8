//! Scheme rules, each at its boundary, with the repository's scheme files
//! (`schemes/busan-like.toml`, `schemes/seoul-like.toml`).
#![allow(clippy::unwrap_used)]

use ledger::scheme::calendar::KstDate;
use ledger::scheme::*;
use ledger::*;

const BUSAN: &str = include_str!("../../../schemes/busan-like.toml");
const SEOUL: &str = include_str!("../../../schemes/seoul-like.toml");

const RESERVE: ReserveId = ReserveId::new(1);
const DISCOUNT_BUDGET: BudgetId = BudgetId::new(2);
const CLEARING: ClearingId = ClearingId::new(3);
const CASHBACK_BUDGET: BudgetId = BudgetId::new(4);
const ALICE: WalletId = WalletId::new(100); // born 1980 (even)
const BOB: WalletId = WalletId::new(101); // born 1975 (odd)
const SHOP: MerchantId = MerchantId::new(200); // revenue 900M
const MID: MerchantId = MerchantId::new(201); // revenue 1.5B
const BIG: MerchantId = MerchantId::new(202); // revenue 3.5B
const CASINO: MerchantId = MerchantId::new(203); // category 7995

/// 2026-03-10 10:00 KST, in µs.
const MARCH_10: u64 = (1_773_104_400) * 1_000_000;

fn won(n: i64) -> Won {
    Won::new(n)
}

struct World {
    ledger: Ledger,
    key: u128,
    now: u64,
}

impl World {
    fn new(scheme: &str, budget_funds: i64) -> World {
        let mut w = World {
            ledger: Ledger::new(LedgerConfig::default()),
            key: 0,
            now: MARCH_10,
        };
        let open = |id: u64, kind| Command::OpenAccount {
            account: AccountId(id),
            kind,
            accepts: SourceSet::ALL,
        };
        let mut setup = vec![
            open(1, AccountKind::IssuerReserve),
            open(2, AccountKind::SubsidyBudget),
            open(3, AccountKind::SettlementClearing),
            open(4, AccountKind::SubsidyBudget),
            open(100, AccountKind::CitizenWallet),
            open(101, AccountKind::CitizenWallet),
            open(200, AccountKind::Merchant),
            open(201, AccountKind::Merchant),
            open(202, AccountKind::Merchant),
            open(203, AccountKind::Merchant),
        ];
        for budget in [DISCOUNT_BUDGET, CASHBACK_BUDGET] {
            setup.push(Command::Transfer(Transfer::posted(
                TransferSpec::BudgetFunding {
                    reserve: RESERVE,
                    budget,
                    amount: won(budget_funds),
                },
            )));
        }
        w.ok(setup);
        w.set_scheme(SchemeConfig::from_toml(scheme).unwrap());
        w.ok(vec![
            scheme_cmd(SchemeCommand::RegisterCitizen {
                wallet: ALICE,
                birth_year: 1980,
            }),
            scheme_cmd(SchemeCommand::RegisterCitizen {
                wallet: BOB,
                birth_year: 1975,
            }),
            merchant_profile(SHOP, 5812, 900_000_000),
            merchant_profile(MID, 5411, 1_500_000_000),
            merchant_profile(BIG, 5411, 3_500_000_000),
            merchant_profile(CASINO, 7995, 100_000_000),
        ]);
        w
    }

    fn set_scheme(&mut self, config: SchemeConfig) {
        let effective_at = Timestamp::from_micros(self.now);
        self.ok(vec![scheme_cmd(SchemeCommand::SetScheme {
            config: Box::new(config),
            effective_at,
            operator: Text::new("운영자").unwrap(),
        })]);
    }

    fn batch(&mut self, commands: Vec<Command>) -> Vec<Outcome> {
        let batch: Vec<Envelope> = commands
            .into_iter()
            .map(|command| {
                self.key += 1;
                Envelope {
                    client: ClientId(1),
                    key: IdempotencyKey(self.key),
                    command,
                }
            })
            .collect();
        let (outs, report) = self.ledger.apply(&batch, Timestamp::from_micros(self.now));
        assert_eq!(report.violation, None);
        self.ledger.check_all().unwrap();
        outs
    }

    fn ok(&mut self, commands: Vec<Command>) -> Vec<Applied> {
        self.batch(commands)
            .into_iter()
            .map(|o| o.result.unwrap_or_else(|r| panic!("rejected: {r:?}")))
            .collect()
    }

    fn one(&mut self, c: SchemeCommand) -> Result<SchemeApplied, Rejection> {
        let out = self.batch(vec![scheme_cmd(c)]).remove(0);
        out.result.map(|a| match a {
            Applied::Scheme(s) => std::sync::Arc::unwrap_or_clone(s),
            other => panic!("not a scheme answer: {other:?}"),
        })
    }

    fn buy(
        &mut self,
        wallet: WalletId,
        face: i64,
        channel: u16,
    ) -> Result<SchemeApplied, Rejection> {
        self.one(SchemeCommand::Purchase {
            wallet,
            face: won(face),
            channel,
            full_price_ok: false,
            pending_timeout_us: None,
        })
    }

    fn pay(
        &mut self,
        payer: WalletId,
        merchant: MerchantId,
        amount: i64,
    ) -> Result<SchemeApplied, Rejection> {
        self.one(SchemeCommand::Pay {
            payer,
            merchant,
            amount: won(amount),
        })
    }

    fn balance(&self, id: AccountId) -> i64 {
        self.ledger.account(id).unwrap().balance().unwrap().get()
    }

    fn advance_days(&mut self, days: u64) {
        self.now += days * DAY_US;
    }
}

fn scheme_cmd(c: SchemeCommand) -> Command {
    Command::Scheme(Box::new(c))
}

fn merchant_profile(merchant: MerchantId, category: u16, revenue: i64) -> Command {
    scheme_cmd(SchemeCommand::SetMerchantProfile {
        merchant,
        category,
        annual_revenue: won(revenue).into(),
    })
}

fn code(r: Result<SchemeApplied, Rejection>) -> &'static str {
    match r {
        Ok(a) => panic!("expected a rejection, got {a:?}"),
        Err(rej) => rej.code().as_str(),
    }
}

#[test]
fn both_scheme_files_parse_and_validate() {
    let busan = SchemeConfig::from_toml(BUSAN).unwrap();
    assert_eq!(busan.cashback_rate(won(1_000_000_000)), 1000);
    assert_eq!(busan.cashback_rate(won(1_000_000_001)), 800);
    assert_eq!(busan.cashback_rate(won(3_000_000_000)), 800);
    assert_eq!(busan.cashback_rate(won(3_000_000_001)), 0);
    let seoul = SchemeConfig::from_toml(SEOUL).unwrap();
    assert_eq!(seoul.purchase.discount_bp, 700);
    assert_eq!(seoul.giftable_channels(), 0b011);
    // A typo in a field name is an error, not a silently missing limit.
    let typo = SEOUL.replace("monthly_limit = 300000", "monthly_limt = 300000");
    assert!(SchemeConfig::from_toml(&typo).is_err());
}

#[test]
fn a_scheme_written_back_as_toml_reads_as_the_same_scheme() {
    for file in [BUSAN, SEOUL] {
        let config = SchemeConfig::from_toml(file).unwrap();
        let text = config.to_toml().unwrap();
        assert_eq!(SchemeConfig::from_toml(&text).unwrap(), config, "{text}");
    }
}

#[test]
fn every_problem_is_listed_and_the_first_is_what_validate_says() {
    let mut config = SchemeConfig::from_toml(SEOUL).unwrap();
    assert_eq!(config.problems(), Vec::new());
    config.name = String::new();
    config.purchase.discount_bp = 9_000;
    config.purchase.validity_days = 0;
    config.refunds.small_value_max = won(-1);
    let fields: Vec<_> = config.problems().iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        [
            "name",
            "purchase.discount_bp",
            "purchase.validity_days",
            "refunds.small_value_max"
        ]
    );
    assert_eq!(config.validate().unwrap_err(), config.problems()[0]);
    // One problem per list: a channel twice does not also list every later channel.
    let mut config = SchemeConfig::from_toml(SEOUL).unwrap();
    let first = config.purchase.channels[0].clone();
    config.purchase.channels.push(first.clone());
    config.purchase.channels.push(first);
    assert_eq!(config.problems().len(), 1, "{:?}", config.problems());
}

#[test]
fn seoul_discount_and_monthly_limit_to_the_last_won() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    match w.buy(ALICE, 290_000, 0).unwrap() {
        SchemeApplied::Purchased {
            face,
            paid,
            discount,
            subsidy,
            ..
        } => {
            assert_eq!(
                (face, paid, discount),
                (won(290_000), won(269_700), won(20_300))
            );
            assert!(subsidy.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.balance(ALICE.account()), 290_000);
    // The last 10,000 under the 300,000 limit passes; one more unit is refused.
    w.buy(ALICE, 10_000, 1).unwrap();
    let r = w.buy(ALICE, 10_000, 0);
    assert_eq!(
        r,
        Err(Rejection::MonthlyPurchaseLimit {
            limit: won(300_000),
            used: won(300_000)
        })
    );
    // Amounts off the unit or over the per-purchase maximum are refused with the rule.
    assert_eq!(code(w.buy(BOB, 15_000, 0)), "purchase_amount_invalid");
    assert_eq!(code(w.buy(BOB, 310_000, 0)), "purchase_amount_invalid");
    assert_eq!(code(w.buy(BOB, 10_000, 9)), "channel_unknown");
    // A new KST month resets the counter.
    let today = KstDate::of(Timestamp::from_micros(w.now));
    w.now = today.next_month_start().start().as_micros() + 11 * 3_600 * 1_000_000;
    w.buy(ALICE, 10_000, 0).unwrap();
    assert_eq!(
        w.ledger
            .budget_usage(DISCOUNT_BUDGET.account())
            .unwrap()
            .spent_total,
        won(20_300 + 700 + 700)
    );
}

#[test]
fn holding_cap_counts_value_on_its_way_in() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    // 1,210,000 of policy money, then 280,000 bought and still pending: 1,490,000 held.
    w.ok(vec![Command::Transfer(Transfer::posted(
        TransferSpec::Allowance {
            budget: DISCOUNT_BUDGET,
            wallet: ALICE,
            amount: won(1_210_000),
            lot: LotSpec {
                tag: 7,
                expires_at: Timestamp::MAX,
            },
        },
    ))]);
    w.one(SchemeCommand::Purchase {
        wallet: ALICE,
        face: won(280_000),
        channel: 0,
        full_price_ok: false,
        pending_timeout_us: Some(60_000_000),
    })
    .unwrap();
    // 20,000 more would hold 1,510,000; 10,000 reaches the 1,500,000 cap exactly.
    assert_eq!(
        w.buy(ALICE, 20_000, 0),
        Err(Rejection::HoldingCap {
            cap: won(1_500_000),
            holding: won(1_490_000)
        })
    );
    w.buy(ALICE, 10_000, 0).unwrap();
    assert_eq!(code(w.buy(ALICE, 10_000, 0)), "holding_cap");
}

#[test]
fn discount_budget_running_out_mid_batch() {
    // 21,000 + 6,999 in the discount budget: the first 300,000 purchase takes 21,000,
    // the second (discount 7,000) finds 6,999 and is refused, or bought at full price.
    let mut w = World::new(SEOUL, 27_999);
    let purchase = |wallet, full_price_ok, face| {
        scheme_cmd(SchemeCommand::Purchase {
            wallet,
            face: won(face),
            channel: 0,
            full_price_ok,
            pending_timeout_us: None,
        })
    };
    let outs = w.batch(vec![
        purchase(ALICE, false, 300_000),
        purchase(BOB, false, 100_000),
        purchase(BOB, true, 100_000),
    ]);
    assert!(outs[0].is_applied());
    assert_eq!(
        outs[1].result,
        Err(Rejection::SubsidyBudgetExhausted {
            budget: DISCOUNT_BUDGET.account(),
            available: won(6_999)
        })
    );
    match &outs[2].result {
        Ok(Applied::Scheme(a)) => match a.as_ref() {
            SchemeApplied::Purchased {
                paid,
                discount,
                discount_withheld,
                ..
            } => {
                assert_eq!(
                    (*paid, *discount, *discount_withheld),
                    (won(100_000), won(0), true)
                );
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(w.balance(DISCOUNT_BUDGET.account()), 6_999);
}

#[test]
fn budget_ceiling_stops_the_discount_before_the_money_does() {
    let mut config = SchemeConfig::from_toml(SEOUL).unwrap();
    config.budgets[0].monthly = Some(won(7_000));
    let mut w = World::new(SEOUL, 1_000_000_000);
    w.set_scheme(config);
    w.buy(ALICE, 100_000, 0).unwrap(); // 7,000: exactly the monthly ceiling
    assert_eq!(
        w.buy(BOB, 10_000, 0),
        Err(Rejection::SubsidyBudgetExhausted {
            budget: DISCOUNT_BUDGET.account(),
            available: won(0)
        })
    );
}

#[test]
fn purchase_window_by_birth_year() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    // The 1st of the next month: even birth years only.
    let today = KstDate::of(Timestamp::from_micros(w.now));
    let first = today.next_month_start().start().as_micros();
    w.now = first; // exactly 00:00 KST
    assert_eq!(
        w.buy(BOB, 10_000, 0),
        Err(Rejection::PurchaseWindowClosed {
            allowed: BirthYearParity::Even
        })
    );
    w.buy(ALICE, 10_000, 0).unwrap();
    // The 2nd: odd only. The last microsecond of the 1st is still the 1st.
    w.now = first + DAY_US - 1;
    assert_eq!(code(w.buy(BOB, 10_000, 0)), "purchase_window_closed");
    w.now = first + DAY_US;
    w.buy(BOB, 10_000, 0).unwrap();
    assert_eq!(code(w.buy(ALICE, 10_000, 0)), "purchase_window_closed");
}

#[test]
fn seoul_gifts_only_bank_bought_value_and_not_on_issuance_days() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    w.buy(ALICE, 100_000, 2).unwrap(); // credit card: not giftable
    let gift = |amount| SchemeCommand::Gift {
        sender: ALICE,
        recipient: BOB,
        amount: won(amount),
    };
    assert_eq!(code(w.one(gift(10_000))), "insufficient_eligible_funds");
    w.buy(ALICE, 50_000, 0).unwrap(); // bank transfer: giftable
    w.one(gift(50_000)).unwrap();
    assert_eq!(code(w.one(gift(1))), "insufficient_eligible_funds");
    let bob = w.ledger.account(BOB.account()).unwrap();
    assert!(bob.lots.iter().all(|l| l.source == Source::Gift));
    // Paused on the 1st and 2nd.
    let today = KstDate::of(Timestamp::from_micros(w.now));
    w.now = today.next_month_start().start().as_micros() + DAY_US;
    assert_eq!(code(w.one(gift(1))), "gifts_paused_today");
}

#[test]
fn busan_gift_limits_to_the_last_won() {
    let mut w = World::new(BUSAN, 1_000_000_000);
    w.buy(ALICE, 300_000, 0).unwrap();
    let gift = |amount| SchemeCommand::Gift {
        sender: ALICE,
        recipient: BOB,
        amount: won(amount),
    };
    w.one(gift(199_999)).unwrap();
    w.one(gift(1)).unwrap();
    assert_eq!(
        w.one(gift(1)),
        Err(Rejection::GiftSentMonthlyLimit {
            limit: won(200_000),
            used: won(200_000)
        })
    );
}

#[test]
fn busan_cashback_by_revenue_band_and_monthly_spend_cap() {
    let mut w = World::new(BUSAN, 1_000_000_000);
    w.buy(ALICE, 1_000_000, 0).unwrap();
    let cashback = |r: Result<SchemeApplied, Rejection>| match r.unwrap() {
        SchemeApplied::Paid {
            cashback,
            cashback_note,
            ..
        } => (cashback.get(), cashback_note),
        other => panic!("{other:?}"),
    };
    assert_eq!(cashback(w.pay(ALICE, SHOP, 100_000)), (10_000, None));
    // Cash-back is spent first (spend order) and earns nothing (earning sources:
    // purchased only): 10,000 of cash-back + 90,000 bought at 8%.
    assert_eq!(cashback(w.pay(ALICE, MID, 100_000)), (7_200, None));
    assert_eq!(
        cashback(w.pay(ALICE, BIG, 100_000)),
        (0, Some(CashbackNote::NoRateForMerchant))
    );
    // 190,000 counted so far; 310,000 more reaches the 500,000 cap exactly.
    assert_eq!(cashback(w.pay(ALICE, SHOP, 310_000)), (31_000, None));
    // 31,000 of cash-back and 10 won bought: the 10 won find the cap reached.
    assert_eq!(
        cashback(w.pay(ALICE, SHOP, 31_010)),
        (0, Some(CashbackNote::MonthlySpendCapReached))
    );
    // A betting shop is excluded from the scheme.
    assert_eq!(
        w.pay(ALICE, CASINO, 1_000),
        Err(Rejection::MerchantSuspended {
            merchant: CASINO.account(),
            reason: SuspendReason::CategoryExcluded
        })
    );
}

#[test]
fn cashback_budget_runs_out_first_come_first_served() {
    let mut w = World::new(BUSAN, 15_000);
    w.buy(ALICE, 300_000, 0).unwrap();
    w.buy(BOB, 300_000, 0).unwrap();
    let outs = w.batch(vec![
        scheme_cmd(SchemeCommand::Pay {
            payer: ALICE,
            merchant: SHOP,
            amount: won(100_000),
        }),
        scheme_cmd(SchemeCommand::Pay {
            payer: BOB,
            merchant: SHOP,
            amount: won(100_000),
        }),
    ]);
    let paid: Vec<(i64, Option<CashbackNote>)> = outs
        .into_iter()
        .map(|o| match o.result {
            Ok(Applied::Scheme(a)) => match std::sync::Arc::unwrap_or_clone(a) {
                SchemeApplied::Paid {
                    cashback,
                    cashback_note,
                    ..
                } => (cashback.get(), cashback_note),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        paid,
        vec![(10_000, None), (5_000, Some(CashbackNote::BudgetExhausted))]
    );
    assert_eq!(w.balance(CASHBACK_BUDGET.account()), 0);
}

#[test]
fn merchant_crossing_the_revenue_cap_is_suspended_with_the_reason() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    w.buy(ALICE, 100_000, 0).unwrap();
    w.ok(vec![merchant_profile(SHOP, 5812, 10_000_000_000)]);
    w.pay(ALICE, SHOP, 1_000).unwrap_err(); // over 3B: bought value no longer accepted
    // ...but policy money is.
    w.ok(vec![Command::Transfer(Transfer::posted(
        TransferSpec::Allowance {
            budget: DISCOUNT_BUDGET,
            wallet: ALICE,
            amount: won(5_000),
            lot: LotSpec {
                tag: 1,
                expires_at: Timestamp::MAX,
            },
        },
    ))]);
    w.pay(ALICE, SHOP, 5_000).unwrap();
    assert_eq!(code(w.pay(ALICE, SHOP, 1)), "insufficient_eligible_funds");
    // One won over the 10B suspension cap.
    let outs = w.ok(vec![merchant_profile(SHOP, 5812, 10_000_000_001)]);
    assert_eq!(
        outs[0],
        Applied::Scheme(std::sync::Arc::new(SchemeApplied::MerchantProfileSet {
            suspended: Some(SuspendReason::RevenueOverCap)
        }))
    );
    assert_eq!(
        w.pay(ALICE, SHOP, 1),
        Err(Rejection::MerchantSuspended {
            merchant: SHOP.account(),
            reason: SuspendReason::RevenueOverCap
        })
    );
    // Operator suspension and reinstatement.
    w.one(SchemeCommand::SuspendMerchant {
        merchant: MID,
        reason: Text::new("상품권깡 조사").unwrap(),
    })
    .unwrap();
    assert_eq!(
        w.pay(ALICE, MID, 1),
        Err(Rejection::MerchantSuspended {
            merchant: MID.account(),
            reason: SuspendReason::Operator
        })
    );
    w.one(SchemeCommand::ReinstateMerchant { merchant: MID })
        .unwrap();
    w.pay(ALICE, MID, 1).unwrap();
}

#[test]
fn balance_refund_exactly_at_sixty_percent() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    w.buy(ALICE, 100_000, 0).unwrap(); // paid 93,000 + 7,000 discount
    w.pay(ALICE, SHOP, 59_999).unwrap();
    let refund = SchemeCommand::RefundBalance {
        wallet: ALICE,
        payout_timeout_us: None,
    };
    assert_eq!(
        w.one(refund.clone()),
        Err(Rejection::RefundThresholdNotReached {
            used_bp: 5_999,
            required_bp: 6_000
        })
    );
    w.pay(ALICE, SHOP, 1).unwrap();
    let budget_before = w.balance(DISCOUNT_BUDGET.account());
    match w.one(refund.clone()).unwrap() {
        SchemeApplied::BalanceRefunded { cash, subsidy, .. } => {
            // 40,000 left: 7% of it (2,800) goes back to the budget, 37,200 in cash.
            assert_eq!((cash, subsidy), (won(37_200), won(2_800)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.balance(DISCOUNT_BUDGET.account()), budget_before + 2_800);
    assert_eq!(w.balance(CLEARING.account()), 37_200);
    assert_eq!(w.balance(ALICE.account()), 0);
    assert_eq!(code(w.one(refund)), "nothing_to_refund");
}

#[test]
fn small_value_refund_needs_eighty_percent() {
    let mut w = World::new(BUSAN, 1_000_000_000);
    w.buy(ALICE, 10_000, 0).unwrap();
    w.pay(ALICE, SHOP, 7_999).unwrap();
    let refund = SchemeCommand::RefundBalance {
        wallet: ALICE,
        payout_timeout_us: None,
    };
    assert_eq!(
        w.one(refund.clone()),
        Err(Rejection::RefundThresholdNotReached {
            used_bp: 7_999,
            required_bp: 8_000
        })
    );
    // Cash-back earned (799) is not bought value: spending it does not count as use.
    w.pay(ALICE, SHOP, 799).unwrap();
    assert_eq!(code(w.one(refund.clone())), "refund_threshold_not_reached");
    w.pay(ALICE, SHOP, 1).unwrap();
    w.one(refund).unwrap();
}

#[test]
fn unused_purchase_cancelled_within_its_window() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    let charge = |r: SchemeApplied| match r {
        SchemeApplied::Purchased { charge, .. } => charge,
        other => panic!("{other:?}"),
    };
    let first = charge(w.buy(ALICE, 100_000, 0).unwrap());
    w.advance_days(1);
    let second = charge(w.buy(ALICE, 50_000, 0).unwrap());
    // Spending draws the lot expiring first: the first purchase is now partly used.
    w.pay(ALICE, SHOP, 1).unwrap();
    assert_eq!(
        w.one(SchemeCommand::CancelPurchase {
            purchase: first,
            payout_timeout_us: None,
        }),
        Err(Rejection::PurchasePartlyUsed {
            purchase: first,
            unused: won(99_999)
        })
    );
    let budget_before = w.balance(DISCOUNT_BUDGET.account());
    // Exactly at the end of the 7-day window it still cancels.
    w.now += 7 * DAY_US;
    match w
        .one(SchemeCommand::CancelPurchase {
            purchase: second,
            payout_timeout_us: None,
        })
        .unwrap()
    {
        SchemeApplied::PurchaseCancelled { cash, subsidy, .. } => {
            assert_eq!((cash, subsidy), (won(46_500), won(3_500)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.balance(DISCOUNT_BUDGET.account()), budget_before + 3_500);
    assert_eq!(w.balance(ALICE.account()), 99_999);
    assert_eq!(
        code(w.one(SchemeCommand::CancelPurchase {
            purchase: second,
            payout_timeout_us: None,
        })),
        "purchase_not_posted"
    );
    // A fresh one, one microsecond past its window.
    let third = charge(w.buy(BOB, 10_000, 0).unwrap());
    w.now += 7 * DAY_US + 1;
    assert_eq!(
        code(w.one(SchemeCommand::CancelPurchase {
            purchase: third,
            payout_timeout_us: None,
        })),
        "cancel_window_passed"
    );
}

#[test]
fn pending_purchase_confirmed_or_failed_by_the_bank() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    let pending = |w: &mut World| match w
        .one(SchemeCommand::Purchase {
            wallet: ALICE,
            face: won(300_000),
            channel: 0,
            full_price_ok: false,
            pending_timeout_us: Some(600_000_000),
        })
        .unwrap()
    {
        SchemeApplied::Purchased { charge, status, .. } => {
            assert_eq!(status, TransferStatus::Pending);
            charge
        }
        other => panic!("{other:?}"),
    };
    let p = pending(&mut w);
    assert_eq!(
        w.balance(ALICE.account()),
        0,
        "nothing spendable while pending"
    );
    assert_eq!(code(w.buy(ALICE, 10_000, 0)), "monthly_purchase_limit");
    w.one(SchemeCommand::FailPurchase { purchase: p }).unwrap();
    assert_eq!(
        code(w.one(SchemeCommand::ConfirmPurchase { purchase: p })),
        "purchase_not_pending"
    );
    // The refused purchase no longer counts: the whole limit is free again.
    let p = pending(&mut w);
    w.one(SchemeCommand::ConfirmPurchase { purchase: p })
        .unwrap();
    assert_eq!(w.balance(ALICE.account()), 300_000);
    assert_eq!(w.ledger.purchase(p).unwrap().state, PurchaseState::Posted);
}

#[test]
fn bought_value_expires_at_the_exact_instant() {
    let mut w = World::new(BUSAN, 1_000_000_000);
    w.buy(ALICE, 10_000, 0).unwrap();
    // Valid for 1,826 days, through the end of that day (KST): 10:00 on March 10 plus
    // 1,826 days, then the following midnight.
    let last_day = KstDate::of(Timestamp::from_micros(w.now + 1_826 * DAY_US));
    let expires = last_day.start().as_micros() + DAY_US;
    assert_eq!(
        w.ledger.account(ALICE.account()).unwrap().lots[0].expires_at,
        Timestamp::from_micros(expires)
    );
    w.now = expires - 1;
    w.pay(ALICE, SHOP, 1).unwrap();
    let expire = || {
        Command::Transfer(Transfer::posted(TransferSpec::Expiry {
            wallet: ALICE,
            reserve: RESERVE,
        }))
    };
    let outs = w.batch(vec![expire()]);
    assert_eq!(
        outs[0].result.as_ref().unwrap_err().code().as_str(),
        "nothing_to_expire"
    );
    w.now = expires;
    assert_eq!(code(w.pay(ALICE, SHOP, 1)), "insufficient_eligible_funds");
    assert_eq!(
        w.ledger
            .wallets_with_expired_value(Timestamp::from_micros(expires))
            .collect::<Vec<_>>(),
        vec![ALICE.account()]
    );
    let outs = w.ok(vec![expire()]);
    assert!(matches!(outs[0], Applied::Transfer { amount, .. } if amount == won(9_999)));
}

#[test]
fn scheme_versions_apply_from_their_effective_time_and_stay_readable() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    let mut v2 = SchemeConfig::from_toml(SEOUL).unwrap();
    v2.purchase.discount_bp = 1_000;
    v2.name = "서울 2027".into();
    let effective = Timestamp::from_micros(w.now + DAY_US);
    let set = |config: SchemeConfig, effective_at| SchemeCommand::SetScheme {
        config: Box::new(config),
        effective_at,
        operator: Text::new("운영자").unwrap(),
    };
    assert_eq!(
        w.one(set(v2.clone(), effective)).unwrap(),
        SchemeApplied::SchemeSet {
            version: 2,
            effective_at: effective
        }
    );
    // Not before the latest version (a time already past would mean "now", which is
    // before version 2).
    assert_eq!(
        code(w.one(set(v2.clone(), Timestamp::from_micros(w.now)))),
        "scheme_effective_too_early"
    );
    let discount = |r: SchemeApplied| match r {
        SchemeApplied::Purchased { discount, .. } => discount.get(),
        other => panic!("{other:?}"),
    };
    w.now = effective.as_micros() - 1;
    assert_eq!(discount(w.buy(ALICE, 100_000, 0).unwrap()), 7_000);
    w.now = effective.as_micros();
    assert_eq!(discount(w.buy(ALICE, 100_000, 0).unwrap()), 10_000);
    let names: Vec<String> = w
        .ledger
        .scheme_versions()
        .map(|v| v.config.name.clone())
        .collect();
    assert_eq!(names, vec!["서울형 할인 (Seoul-like)", "서울 2027"]);
    // An invalid configuration is refused with the field at fault.
    let mut bad = v2;
    bad.purchase.discount_bp = 9_000;
    match w.one(set(bad, Timestamp::from_micros(w.now + DAY_US))) {
        Err(Rejection::SchemeInvalid { problem }) => {
            assert!(problem.as_str().contains("discount_bp"), "{problem}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unregistered_and_unconfigured_are_told_apart() {
    let mut w = World {
        ledger: Ledger::new(LedgerConfig::default()),
        key: 0,
        now: MARCH_10,
    };
    assert_eq!(code(w.buy(ALICE, 10_000, 0)), "scheme_not_configured");
    let mut w = World::new(SEOUL, 1_000_000_000);
    w.ok(vec![Command::OpenAccount {
        account: AccountId(102),
        kind: AccountKind::CitizenWallet,
        accepts: SourceSet::ALL,
    }]);
    assert_eq!(
        code(w.buy(WalletId::new(102), 10_000, 0)),
        "citizen_not_registered"
    );
}

#[test]
fn auto_charge_settings_are_checked_and_failures_recorded() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    let set = |day, face| SchemeCommand::SetAutoCharge {
        wallet: ALICE,
        setting: Some(AutoChargeSetting {
            day,
            monthly_face: won(face),
            channel: 0,
            topup: true,
        }),
    };
    assert_eq!(code(w.one(set(29, 100_000))), "auto_charge_invalid");
    assert_eq!(code(w.one(set(5, 15_000))), "auto_charge_invalid");
    w.one(set(5, 100_000)).unwrap();
    let month = KstDate::of(Timestamp::from_micros(w.now)).month_index();
    for _ in 0..2 {
        w.one(SchemeCommand::RecordAutoCharge {
            wallet: ALICE,
            month,
            result: AutoChargeResult::Failed {
                code: Text::new("insufficient_funds").unwrap(),
                next_attempt_at: Some(Timestamp::from_micros(w.now + 6 * 3_600_000_000)),
            },
        })
        .unwrap();
    }
    let status = w
        .ledger
        .citizen(ALICE.account())
        .unwrap()
        .auto_charge_status
        .clone();
    assert_eq!(status.unwrap().attempts, 2);
}

#[test]
fn replay_and_snapshot_reproduce_the_scheme_state() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    w.buy(ALICE, 100_000, 0).unwrap();
    w.pay(ALICE, SHOP, 1_000).unwrap();
    let mut buf = Vec::new();
    codec::put_ledger(&mut buf, &w.ledger);
    let copy = codec::get_ledger(&mut codec::Reader::new(&buf)).unwrap();
    assert_eq!(copy.state_hash(), w.ledger.state_hash());
    assert_eq!(
        copy.citizen(ALICE.account()),
        w.ledger.citizen(ALICE.account())
    );
    // A rejected scheme command changes nothing, including the hash.
    let before = w.ledger.state_hash();
    assert_eq!(code(w.buy(ALICE, 300_000, 0)), "monthly_purchase_limit");
    assert_eq!(w.ledger.state_hash(), before);
}

#[test]
fn a_refund_takes_its_cash_back_back_so_pay_and_refund_farms_nothing() {
    let mut w = World::new(BUSAN, 1_000_000_000);
    w.buy(ALICE, 500_000, 0).unwrap();
    let budget = w.balance(CASHBACK_BUDGET.account());
    let payment = match w.pay(ALICE, SHOP, 200_000).unwrap() {
        SchemeApplied::Paid {
            payment, cashback, ..
        } => {
            assert_eq!(cashback, won(20_000));
            payment
        }
        other => panic!("{other:?}"),
    };
    let refund = |w: &mut World, amount| {
        w.one(SchemeCommand::RefundPayment {
            payment,
            amount: won(amount),
        })
    };
    // Half refunded: half the cash-back goes back to the budget.
    assert_eq!(
        refund(&mut w, 100_000).unwrap(),
        SchemeApplied::PaymentRefunded {
            refund: TransferId(payment.0 + 2),
            amount: won(100_000),
            cashback_returned: won(10_000),
            cashback_unrecovered: won(0),
        }
    );
    // The citizen spends the rest of the cash-back (spent first)...
    w.pay(ALICE, MID, 10_000).unwrap();
    // ...so the second half can only recover what is left of it.
    match refund(&mut w, 100_000).unwrap() {
        SchemeApplied::PaymentRefunded {
            cashback_returned,
            cashback_unrecovered,
            ..
        } => {
            assert_eq!(
                cashback_returned.checked_add(cashback_unrecovered),
                Some(won(10_000))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(code(refund(&mut w, 1)), "refund_exceeds_payment");
    // The monthly spend counter forgot the refunded spend: 500,000 of room is back
    // except what MID's payment counted.
    let p = w.ledger.citizen(ALICE.account()).unwrap().clone();
    assert!(p.cashback_spend_month <= won(10_000), "{p:?}");
    assert!(w.balance(CASHBACK_BUDGET.account()) <= budget);
    // Pay-and-refund in a loop earns nothing.
    let before = w.balance(CASHBACK_BUDGET.account());
    for _ in 0..5 {
        let payment = match w.pay(ALICE, SHOP, 100_000).unwrap() {
            SchemeApplied::Paid { payment, .. } => payment,
            other => panic!("{other:?}"),
        };
        w.one(SchemeCommand::RefundPayment {
            payment,
            amount: won(100_000),
        })
        .unwrap();
    }
    assert_eq!(w.balance(CASHBACK_BUDGET.account()), before);
}

#[test]
fn a_balance_refund_returns_each_budget_its_own_share() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    w.buy(ALICE, 100_000, 0).unwrap(); // 7,000 from budget 2
    let mut v2 = SchemeConfig::from_toml(SEOUL).unwrap();
    v2.purchase.discount_budget = Some(CASHBACK_BUDGET.account());
    v2.budgets.clear();
    w.set_scheme(v2);
    w.buy(ALICE, 10_000, 0).unwrap(); // 700 from budget 4
    let (b2, b4) = (
        w.balance(DISCOUNT_BUDGET.account()),
        w.balance(CASHBACK_BUDGET.account()),
    );
    w.pay(ALICE, SHOP, 66_000).unwrap(); // 60% of 110,000
    match w
        .one(SchemeCommand::RefundBalance {
            wallet: ALICE,
            payout_timeout_us: None,
        })
        .unwrap()
    {
        SchemeApplied::BalanceRefunded { cash, subsidy, .. } => {
            assert_eq!((cash, subsidy), (won(40_920), won(3_080)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.balance(DISCOUNT_BUDGET.account()), b2 + 2_800);
    assert_eq!(w.balance(CASHBACK_BUDGET.account()), b4 + 280);
}

#[test]
fn a_refund_can_open_its_bank_payout_in_the_same_command() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    w.buy(ALICE, 100_000, 0).unwrap();
    w.pay(ALICE, SHOP, 60_000).unwrap();
    let payout = match w
        .one(SchemeCommand::RefundBalance {
            wallet: ALICE,
            payout_timeout_us: Some(3_600_000_000),
        })
        .unwrap()
    {
        SchemeApplied::BalanceRefunded { payout, cash, .. } => {
            assert_eq!(cash, won(37_200));
            payout.expect("a payout")
        }
        other => panic!("{other:?}"),
    };
    let pending = w.ledger.pending(payout).unwrap();
    assert_eq!(pending.kind, TransferKind::Settlement);
    assert_eq!(pending.amount, won(37_200));
    assert_eq!(w.ledger.payout(payout).unwrap().wallet, ALICE.account());
    // Merchant redemption confirmed by the bank: posted and out of circulation at once.
    let outs = w.ok(vec![Command::Transfer(Transfer::pending(
        TransferSpec::Redemption {
            merchant: SHOP,
            clearing: CLEARING,
            amount: won(60_000),
        },
        3_600_000_000,
    ))]);
    let Applied::Transfer { id, .. } = outs[0] else {
        panic!("{outs:?}")
    };
    let clearing = w.balance(CLEARING.account());
    assert_eq!(
        w.one(SchemeCommand::ConfirmRedemption { redemption: id })
            .unwrap(),
        SchemeApplied::RedemptionConfirmed {
            redemption: id,
            amount: won(60_000)
        }
    );
    assert_eq!(w.balance(CLEARING.account()), clearing);
    assert_eq!(w.balance(SHOP.account()), 0);
    assert_eq!(
        code(w.one(SchemeCommand::ConfirmRedemption { redemption: id })),
        "pending_already_ended"
    );
    assert_eq!(
        code(w.one(SchemeCommand::ConfirmRedemption { redemption: payout })),
        "not_a_redemption"
    );
}

#[test]
fn a_cash_back_payment_is_refunded_only_through_the_scheme() {
    let mut w = World::new(BUSAN, 1_000_000_000);
    w.buy(ALICE, 100_000, 0).unwrap();
    let payment = match w.pay(ALICE, SHOP, 50_000).unwrap() {
        SchemeApplied::Paid { payment, .. } => payment,
        other => panic!("{other:?}"),
    };
    let outs = w.batch(vec![Command::Transfer(Transfer::posted(
        TransferSpec::PaymentRefund {
            payment,
            amount: won(50_000),
        },
    ))]);
    assert_eq!(
        outs[0].result,
        Err(Rejection::SchemeRefundRequired { payment })
    );
}

#[test]
fn unknown_revenue_earns_the_lowest_rate_and_no_revenue_capped_source() {
    let mut w = World::new(BUSAN, 1_000_000_000);
    // A merchant whose registry revenue could not be read: not the top rate (the zero
    // revenue that used to stand for "unknown"), the lowest of the scheme's bands.
    w.ok(vec![scheme_cmd(SchemeCommand::SetMerchantProfile {
        merchant: SHOP,
        category: 5812,
        annual_revenue: AnnualRevenue::Unknown,
    })]);
    w.buy(ALICE, 100_000, 0).unwrap();
    match w.pay(ALICE, SHOP, 10_000).unwrap() {
        SchemeApplied::Paid {
            cashback,
            cashback_note,
            ..
        } => {
            assert_eq!(cashback, Won::ZERO);
            assert_eq!(cashback_note, Some(CashbackNote::NoRateForMerchant));
        }
        other => panic!("{other:?}"),
    }
    let busan = SchemeConfig::from_toml(BUSAN).unwrap();
    assert_eq!(busan.cashback_rate(AnnualRevenue::Unknown), 0);
    // With every band paying something, unknown gets the smallest of them.
    let mut generous = busan.clone();
    if let Some(cb) = generous.cashback.as_mut() {
        cb.bands.last_mut().unwrap().rate_bp = 300;
    }
    assert_eq!(generous.cashback_rate(AnnualRevenue::Unknown), 300);
    // Unknown is not over a revenue cap (the merchant stays payable), but a source
    // reserved for merchants under a revenue cap is not taken.
    let profile = MerchantProfile {
        category: 5812,
        annual_revenue: AnnualRevenue::Unknown,
        operator_suspension: None,
    };
    let mut capped = busan;
    capped.merchants.revenue_cap = Some(won(1_000));
    assert_eq!(merchant_suspension(&capped, &profile), None);
    capped.sources = vec![SourceRule {
        source: Source::Allowance,
        merchant_revenue_cap: Some(won(300_000_000)),
        excluded_categories: Vec::new(),
    }];
    assert!(!scheme_sources(&capped, &profile).contains(Source::Allowance));
    assert!(scheme_sources(&capped, &profile).contains(Source::Purchased));
}

#[test]
fn unknown_revenue_keeps_the_bytes_of_a_known_one() {
    // Journals written before unknown revenue existed decode to the same values, and a
    // known revenue hashes as the `Won` it was.
    let known = postcard::to_allocvec(&AnnualRevenue::Known(won(900_000_000))).unwrap();
    assert_eq!(known, postcard::to_allocvec(&won(900_000_000)).unwrap());
    let unknown = postcard::to_allocvec(&AnnualRevenue::Unknown).unwrap();
    assert_eq!(
        postcard::from_bytes::<AnnualRevenue>(&unknown).unwrap(),
        AnnualRevenue::Unknown
    );
    assert_eq!(
        postcard::from_bytes::<AnnualRevenue>(&known).unwrap(),
        AnnualRevenue::Known(won(900_000_000))
    );
}

#[test]
fn a_version_not_yet_in_force_can_be_withdrawn_and_unfreezes_the_currency() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    let v1 = SchemeConfig::from_toml(SEOUL).unwrap();
    let set = |effective_at: u64| SchemeCommand::SetScheme {
        config: Box::new(v1.clone()),
        effective_at: Timestamp::from_micros(effective_at),
        operator: Text::new("운영자").unwrap(),
    };
    let withdraw = |version| SchemeCommand::WithdrawScheme {
        version,
        operator: Text::new("운영자").unwrap(),
    };
    // A version given in nanoseconds: 1,000 times too far, every later one refused.
    let far = w.now * 1_000;
    assert!(w.one(set(far)).is_ok());
    assert_eq!(
        code(w.one(set(w.now + DAY_US))),
        "scheme_effective_too_early"
    );
    // Only the latest version, and only before it is in force.
    assert_eq!(code(w.one(withdraw(1))), "scheme_not_withdrawable");
    assert_eq!(code(w.one(withdraw(3))), "scheme_not_withdrawable");
    let hash_before = w.ledger.state_hash();
    assert_eq!(
        w.one(withdraw(2)).unwrap(),
        SchemeApplied::SchemeWithdrawn {
            version: 2,
            effective_at: Timestamp::from_micros(far)
        }
    );
    assert_ne!(w.ledger.state_hash(), hash_before);
    // The currency takes a new version again, numbered after the one in force.
    assert_eq!(
        w.one(set(w.now + DAY_US)).unwrap(),
        SchemeApplied::SchemeSet {
            version: 2,
            effective_at: Timestamp::from_micros(w.now + DAY_US)
        }
    );
    // Once in force it stays: money was decided under it.
    w.advance_days(1);
    assert_eq!(code(w.one(withdraw(2))), "scheme_not_withdrawable");
}

/// The quotes a citizen sees before confirming run the commands' own rules: each says
/// exactly what the command then does, refuses as it would, and changes nothing.
#[test]
fn quotes_say_what_purchases_cancellations_and_refunds_then_do() {
    let mut w = World::new(SEOUL, 1_000_000_000);
    let now = |w: &World| Timestamp::from_micros(w.now);
    let hash = w.ledger.state_hash();
    let q = w
        .ledger
        .quote_purchase(ALICE, won(100_000), 0, false, now(&w))
        .unwrap();
    assert_eq!(w.ledger.state_hash(), hash, "a quote changes nothing");
    assert_eq!(
        (q.face, q.paid, q.discount),
        (won(100_000), won(93_000), won(7_000))
    );
    assert_eq!(
        (q.monthly_limit, q.purchased_month),
        (Some(won(300_000)), won(0))
    );
    let purchase = match w.buy(ALICE, 100_000, 0).unwrap() {
        SchemeApplied::Purchased {
            charge,
            paid,
            discount,
            ..
        } => {
            assert_eq!((paid, discount), (q.paid, q.discount));
            charge
        }
        other => panic!("{other:?}"),
    };
    let q = w
        .ledger
        .quote_purchase(ALICE, won(10_000), 1, false, now(&w))
        .unwrap();
    assert_eq!(q.purchased_month, won(100_000));
    // Refused exactly as the purchase would be.
    assert_eq!(
        w.ledger
            .quote_purchase(ALICE, won(15_000), 0, false, now(&w))
            .map(|_| ())
            .map_err(|r| r.code().as_str()),
        Err("purchase_amount_invalid")
    );
    // Cancelling: what the quote says comes back is what comes back.
    let c = w.ledger.quote_cancel_purchase(purchase, now(&w)).unwrap();
    assert_eq!(
        (c.cash, c.subsidy, c.face),
        (won(93_000), won(7_000), won(100_000))
    );
    match w
        .one(SchemeCommand::CancelPurchase {
            purchase,
            payout_timeout_us: None,
        })
        .unwrap()
    {
        SchemeApplied::PurchaseCancelled { cash, subsidy, .. } => {
            assert_eq!((cash, subsidy), (c.cash, c.subsidy));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.ledger
            .quote_cancel_purchase(purchase, now(&w))
            .map(|_| ())
            .map_err(|r| r.code().as_str()),
        Err("purchase_not_posted")
    );
    // The balance refund: not before 60% is used, then exactly what the quote says.
    w.buy(ALICE, 100_000, 0).unwrap();
    w.pay(ALICE, SHOP, 59_999).unwrap();
    assert_eq!(
        w.ledger
            .quote_refund_balance(ALICE, now(&w))
            .map(|_| ())
            .map_err(|r| r.code().as_str()),
        Err("refund_threshold_not_reached")
    );
    w.pay(ALICE, SHOP, 1).unwrap();
    let r = w.ledger.quote_refund_balance(ALICE, now(&w)).unwrap();
    assert_eq!(
        (r.remaining, r.cash, r.subsidy),
        (won(40_000), won(37_200), won(2_800))
    );
    match w
        .one(SchemeCommand::RefundBalance {
            wallet: ALICE,
            payout_timeout_us: None,
        })
        .unwrap()
    {
        SchemeApplied::BalanceRefunded { cash, subsidy, .. } => {
            assert_eq!((cash, subsidy), (r.cash, r.subsidy));
        }
        other => panic!("{other:?}"),
    }
}

/// A batch that breaks an invariant after a scheme payment wrote its records rolls them
/// all back: the citizen's monthly spend, the cash-back budget's use and the cash-back
/// record are as before, and so is every account.
#[cfg(feature = "fault-injection")]
#[test]
fn a_violated_batch_rolls_back_every_scheme_record_it_wrote() {
    let mut w = World::new(BUSAN, 1_000_000_000);
    w.buy(ALICE, 1_000_000, 0).unwrap();
    w.pay(ALICE, SHOP, 100_000).unwrap();
    let citizens = format!("{:?}", w.ledger.citizens());
    let budgets = format!("{:?}", w.ledger.budget_usages());
    let cashbacks = w.ledger.cashbacks().count();
    let accounts = w.ledger.accounts().to_vec();
    // Postings run the wrong way once checked: the payment draws the wallet's lots and
    // earns its cash-back, and only the batch's invariants catch it, after the
    // payment's records were written.
    w.ledger.inject_fault(Some(Fault::PostingSignFlipped));
    let pay = Envelope {
        client: ClientId(1),
        key: IdempotencyKey(u128::MAX),
        command: scheme_cmd(SchemeCommand::Pay {
            payer: ALICE,
            merchant: SHOP,
            amount: won(50_000),
        }),
    };
    let (_, report) = w.ledger.apply(&[pay], Timestamp::from_micros(w.now));
    assert!(report.violation.is_some(), "the fault is caught");
    assert_eq!(format!("{:?}", w.ledger.citizens()), citizens);
    assert_eq!(format!("{:?}", w.ledger.budget_usages()), budgets);
    assert_eq!(w.ledger.cashbacks().count(), cashbacks);
    assert_eq!(w.ledger.accounts(), &accounts[..]);
}

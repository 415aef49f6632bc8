//! Property tests of the scheme rules over random streams of purchases (posted, or
//! pending then confirmed or failed), payments, gifts, cancels, balance refunds,
//! expiries, policy money, time passing and configuration changes.
//!
//! A model built only from the ledger's answers checks, at every accepted command, that
//! no limit in force was exceeded; after every batch, that the invariants hold, no budget
//! is below zero, balances sum to zero, and every won a budget lost is accounted for by
//! the subsidy, cash-back and allowances it paid less what came back to it.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use ledger::scheme::calendar::KstDate;
use ledger::scheme::*;
use ledger::*;
use proptest::prelude::*;

const BUSAN: &str = include_str!("../../../schemes/busan-like.toml");
const SEOUL: &str = include_str!("../../../schemes/seoul-like.toml");
const RESERVE: ReserveId = ReserveId::new(1);
const DISCOUNT: BudgetId = BudgetId::new(2);
const CASHBACK: BudgetId = BudgetId::new(4);
const WALLETS: u64 = 4;
/// Merchants: revenue 500M, 2B, 4B (over Seoul's 3B cap for bought value), 12B (over
/// Seoul's suspension cap).
const MERCHANT_REVENUE: [i64; 4] = [500_000_000, 2_000_000_000, 4_000_000_000, 12_000_000_000];
const START: u64 = 1_773_104_400 * 1_000_000;

fn wallet(i: u8) -> WalletId {
    WalletId::new(100 + u64::from(i) % WALLETS)
}

fn merchant(i: u8) -> MerchantId {
    MerchantId::new(200 + u64::from(i) % MERCHANT_REVENUE.len() as u64)
}

#[derive(Clone, Debug)]
enum Op {
    Buy {
        w: u8,
        units: u8,
        channel: u16,
        full_price_ok: bool,
        pending: bool,
    },
    Confirm(usize),
    Fail(usize),
    Cancel(usize),
    Pay {
        w: u8,
        m: u8,
        amount: i64,
    },
    Gift {
        from: u8,
        to: u8,
        amount: i64,
    },
    Refund(u8),
    /// Refund part of a recorded scheme payment (percent of it).
    RefundPay(usize, u8),
    Expire(u8),
    Allowance {
        w: u8,
        amount: i64,
        days: u16,
    },
    /// Time passes (minutes to weeks), so months and windows roll over.
    Wait(u64),
    Reconfigure(Variant),
}

#[derive(Clone, Debug)]
struct Variant {
    seoul: bool,
    discount_bp: u16,
    monthly_limit: i64,
    channel_limit: Option<i64>,
    holding_cap: i64,
    gift_limit: i64,
    spend_cap: i64,
    cashback_cap: i64,
    budget_total: i64,
    budget_monthly: i64,
    validity_days: u32,
}

fn variant() -> impl Strategy<Value = Variant> {
    (
        any::<bool>(),
        prop_oneof![Just(0u16), Just(700), Just(1_000)],
        1i64..=30,
        prop::option::of(1i64..=20),
        10i64..=60,
        1i64..=20,
        1i64..=50,
        1i64..=10,
        (1i64..=200, 1i64..=100),
        prop_oneof![Just(1u32), Just(30), Just(1_826)],
    )
        .prop_map(
            |(seoul, discount_bp, ml, cl, hc, gl, sc, cc, (bt, bm), validity_days)| Variant {
                seoul,
                discount_bp,
                monthly_limit: ml * 10_000,
                channel_limit: cl.map(|c| c * 10_000),
                holding_cap: hc * 10_000,
                gift_limit: gl * 5_000,
                spend_cap: sc * 10_000,
                cashback_cap: cc * 1_000,
                budget_total: bt * 1_000,
                budget_monthly: bm * 1_000,
                validity_days,
            },
        )
}

impl Variant {
    fn config(&self) -> SchemeConfig {
        let mut c = SchemeConfig::from_toml(if self.seoul { SEOUL } else { BUSAN }).unwrap();
        c.purchase.discount_bp = self.discount_bp;
        c.purchase.discount_budget = Some(DISCOUNT.account());
        c.purchase.monthly_limit = Some(Won::new(self.monthly_limit));
        c.purchase.yearly_limit = None;
        c.purchase.holding_cap = Some(Won::new(self.holding_cap));
        c.purchase.validity_days = self.validity_days;
        c.purchase.max_per_purchase = Won::new(1_000_000);
        c.purchase.windows.clear();
        c.purchase.channels[0].monthly_limit = self.channel_limit.map(Won::new);
        c.gifts.sent_monthly_limit = Some(Won::new(self.gift_limit));
        c.gifts.received_monthly_limit = Some(Won::new(self.gift_limit));
        c.gifts.paused_days.clear();
        c.budgets = vec![
            BudgetCeiling {
                budget: DISCOUNT.account(),
                total: Some(Won::new(self.budget_total)),
                monthly: Some(Won::new(self.budget_monthly)),
            },
            BudgetCeiling {
                budget: CASHBACK.account(),
                total: Some(Won::new(self.budget_total)),
                monthly: Some(Won::new(self.budget_monthly)),
            },
        ];
        if let Some(cb) = &mut c.cashback {
            cb.monthly_spend_cap = Some(Won::new(self.spend_cap));
            cb.monthly_cashback_cap = Some(Won::new(self.cashback_cap));
        }
        c
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), 1u8..=8, 0u16..=3, any::<bool>(), any::<bool>()).prop_map(
            |(w, units, channel, full_price_ok, pending)| Op::Buy { w, units, channel, full_price_ok, pending }
        ),
        2 => any::<usize>().prop_map(Op::Confirm),
        1 => any::<usize>().prop_map(Op::Fail),
        1 => any::<usize>().prop_map(Op::Cancel),
        6 => (any::<u8>(), any::<u8>(), 1i64..=60_000).prop_map(|(w, m, amount)| Op::Pay { w, m, amount }),
        2 => (any::<u8>(), any::<u8>(), 1i64..=40_000).prop_map(|(from, to, amount)| Op::Gift { from, to, amount }),
        1 => any::<u8>().prop_map(Op::Refund),
        2 => (any::<usize>(), 1u8..=100).prop_map(|(i, pct)| Op::RefundPay(i, pct)),
        1 => any::<u8>().prop_map(Op::Expire),
        1 => (any::<u8>(), 1i64..=30_000, 1u16..=60).prop_map(|(w, amount, days)| Op::Allowance { w, amount, days }),
        2 => prop_oneof![60u64..=3_600, 3_600u64..=86_400 * 3, 86_400u64..=86_400 * 20]
            .prop_map(|s| Op::Wait(s * 1_000_000)),
        1 => variant().prop_map(Op::Reconfigure),
    ]
}

/// What the model knows, from the ledger's answers alone.
#[derive(Default)]
struct Model {
    /// Face value bought per (wallet, KST month), and per (wallet, month, channel).
    bought: HashMap<(AccountId, u32), i64>,
    bought_on: HashMap<(AccountId, u32, u16), i64>,
    gifts_sent: HashMap<(AccountId, u32), i64>,
    gifts_received: HashMap<(AccountId, u32), i64>,
    cashback: HashMap<(AccountId, u32), i64>,
    /// Net paid out by each budget: what its balance must have fallen by.
    budget_out: HashMap<AccountId, i64>,
    funded: HashMap<AccountId, i64>,
    purchases: Vec<TransferId>,
    /// Scheme payments: id, amount, payer, KST month.
    payments: Vec<(TransferId, i64, AccountId, u32)>,
}

struct Run {
    ledger: Ledger,
    model: Model,
    now: u64,
    key: u128,
    log: Vec<(Vec<Envelope>, Timestamp)>,
}

fn env(key: &mut u128, command: Command) -> Envelope {
    *key += 1;
    Envelope {
        client: ClientId(9),
        key: IdempotencyKey(*key),
        command,
    }
}

fn scheme(c: SchemeCommand) -> Command {
    Command::Scheme(Box::new(c))
}

impl Run {
    fn new(first: &Variant, funds: i64) -> Run {
        let mut run = Run {
            ledger: Ledger::new(LedgerConfig::default()),
            model: Model::default(),
            now: START,
            key: 0,
            log: Vec::new(),
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
        ];
        for i in 0..WALLETS {
            setup.push(open(100 + i, AccountKind::CitizenWallet));
        }
        for i in 0..MERCHANT_REVENUE.len() as u64 {
            setup.push(open(200 + i, AccountKind::Merchant));
        }
        for b in [DISCOUNT, CASHBACK] {
            setup.push(Command::Transfer(Transfer::posted(
                TransferSpec::BudgetFunding {
                    reserve: RESERVE,
                    budget: b,
                    amount: Won::new(funds),
                },
            )));
            run.model.funded.insert(b.account(), funds);
        }
        setup.push(scheme(SchemeCommand::SetScheme {
            config: Box::new(first.config()),
            effective_at: Timestamp::from_micros(START),
            operator: Text::new("op").unwrap(),
        }));
        for i in 0..WALLETS {
            setup.push(scheme(SchemeCommand::RegisterCitizen {
                wallet: WalletId::new(100 + i),
                birth_year: 1970 + i as u16,
            }));
        }
        for (i, revenue) in MERCHANT_REVENUE.iter().enumerate() {
            setup.push(scheme(SchemeCommand::SetMerchantProfile {
                merchant: MerchantId::new(200 + i as u64),
                category: 5_812,
                annual_revenue: Won::new(*revenue).into(),
            }));
        }
        let outs = run.apply(setup);
        assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");
        run
    }

    fn apply(&mut self, commands: Vec<Command>) -> Vec<Outcome> {
        let batch: Vec<Envelope> = commands
            .into_iter()
            .map(|c| env(&mut self.key, c))
            .collect();
        let now = Timestamp::from_micros(self.now);
        // An empty batch first: it forgets what aged out of retention (which changes
        // the scheme's part of the hash), so that the check below sees only `batch`.
        self.ledger.apply(&[], now);
        self.log.push((Vec::new(), now));
        let before = self.ledger.state_hash();
        let (outs, report) = self.ledger.apply(&batch, now);
        assert_eq!(report.violation, None);
        if outs.iter().all(|o| !o.is_applied()) && report.pendings_expired == 0 {
            assert_eq!(
                self.ledger.state_hash(),
                before,
                "a rejected batch changed the state"
            );
        }
        self.log.push((batch, now));
        outs
    }

    fn config(&self) -> SchemeConfig {
        self.ledger
            .scheme_at(Timestamp::from_micros(self.now))
            .unwrap()
            .config
            .clone()
    }

    fn month(&self) -> u32 {
        KstDate::of(Timestamp::from_micros(self.now)).month_index()
    }

    fn command(&mut self, op: &Op) -> Option<Command> {
        let pick = |list: &[TransferId], i: usize| {
            if list.is_empty() {
                None
            } else {
                Some(list[i % list.len()])
            }
        };
        Some(match op {
            Op::Buy {
                w,
                units,
                channel,
                full_price_ok,
                pending,
            } => scheme(SchemeCommand::Purchase {
                wallet: wallet(*w),
                face: Won::new(i64::from(*units) * 10_000),
                channel: *channel,
                full_price_ok: *full_price_ok,
                pending_timeout_us: pending.then_some(3_600_000_000),
            }),
            Op::Confirm(i) => scheme(SchemeCommand::ConfirmPurchase {
                purchase: pick(&self.model.purchases, *i)?,
            }),
            Op::Fail(i) => scheme(SchemeCommand::FailPurchase {
                purchase: pick(&self.model.purchases, *i)?,
            }),
            Op::Cancel(i) => scheme(SchemeCommand::CancelPurchase {
                purchase: pick(&self.model.purchases, *i)?,
                payout_timeout_us: (*i % 2 == 0).then_some(3_600_000_000),
            }),
            Op::Pay { w, m, amount } => scheme(SchemeCommand::Pay {
                payer: wallet(*w),
                merchant: merchant(*m),
                amount: Won::new(*amount),
            }),
            Op::Gift { from, to, amount } => scheme(SchemeCommand::Gift {
                sender: wallet(*from),
                recipient: wallet(*to),
                amount: Won::new(*amount),
            }),
            Op::Refund(w) => scheme(SchemeCommand::RefundBalance {
                wallet: wallet(*w),
                payout_timeout_us: None,
            }),
            Op::RefundPay(i, pct) => {
                let list = &self.model.payments;
                if list.is_empty() {
                    return None;
                }
                let (payment, amount, _, _) = list[i % list.len()];
                scheme(SchemeCommand::RefundPayment {
                    payment,
                    amount: Won::new((amount * i64::from(*pct) / 100).max(1)),
                })
            }
            Op::Expire(w) => Command::Transfer(Transfer::posted(TransferSpec::Expiry {
                wallet: wallet(*w),
                reserve: RESERVE,
            })),
            Op::Allowance { w, amount, days } => {
                Command::Transfer(Transfer::posted(TransferSpec::Allowance {
                    budget: DISCOUNT,
                    wallet: wallet(*w),
                    amount: Won::new(*amount),
                    lot: LotSpec {
                        tag: 9,
                        expires_at: Timestamp::from_micros(self.now + u64::from(*days) * DAY_US),
                    },
                }))
            }
            Op::Wait(us) => {
                self.now += us;
                return None;
            }
            Op::Reconfigure(v) => scheme(SchemeCommand::SetScheme {
                config: Box::new(v.config()),
                effective_at: Timestamp::from_micros(self.now),
                operator: Text::new("op").unwrap(),
            }),
        })
    }

    /// Checks one accepted command against the limits in force and updates the model.
    fn observe(&mut self, command: &Command, out: &Outcome, cfg: &SchemeConfig, alone: bool) {
        let Ok(applied) = &out.result else { return };
        let month = self.month();
        let m = &mut self.model;
        match (command, applied) {
            (Command::Scheme(c), Applied::Scheme(a)) => match (c.as_ref(), a.as_ref()) {
                (
                    SchemeCommand::Purchase {
                        wallet, channel, ..
                    },
                    SchemeApplied::Purchased {
                        charge,
                        face,
                        discount,
                        status,
                        discount_withheld,
                        ..
                    },
                ) => {
                    let w = wallet.account();
                    let total = m.bought.entry((w, month)).or_default();
                    *total += face.get();
                    assert!(*total <= cfg.purchase.monthly_limit.unwrap().get());
                    let on = m.bought_on.entry((w, month, *channel)).or_default();
                    *on += face.get();
                    if let Some(l) = cfg.channel(*channel).unwrap().monthly_limit {
                        assert!(*on <= l.get());
                    }
                    if alone {
                        // (In a batch, a gift received later may legitimately add more.)
                        let a = self.ledger.account(w).unwrap();
                        let held = a.balance().unwrap().get() + a.credits_pending.get();
                        assert!(held <= cfg.purchase.holding_cap.unwrap().get());
                    }
                    let rate = face.get() * i64::from(cfg.purchase.discount_bp) / 10_000;
                    assert!(
                        discount.get() == rate || (*discount_withheld && discount.get() == 0),
                        "{discount} for {face} at {} bp",
                        cfg.purchase.discount_bp
                    );
                    if *status == TransferStatus::Posted {
                        *m.budget_out.entry(DISCOUNT.account()).or_default() += discount.get();
                    }
                    m.purchases.push(*charge);
                }
                (SchemeCommand::ConfirmPurchase { purchase }, _) => {
                    let rec = self.ledger.purchase(*purchase).unwrap();
                    if let Some(b) = rec.budget {
                        *m.budget_out.entry(b).or_default() += rec.discount.get();
                    }
                }
                (SchemeCommand::FailPurchase { purchase }, _)
                | (SchemeCommand::CancelPurchase { purchase, .. }, _) => {
                    let rec = self.ledger.purchase(*purchase).unwrap();
                    let bought = KstDate::of(rec.at).month_index();
                    *m.bought.entry((rec.wallet, bought)).or_default() -= rec.face.get();
                    *m.bought_on
                        .entry((rec.wallet, bought, rec.channel))
                        .or_default() -= rec.face.get();
                    if matches!(c.as_ref(), SchemeCommand::CancelPurchase { .. })
                        && let Some(b) = rec.budget
                    {
                        *m.budget_out.entry(b).or_default() -= rec.discount.get();
                    }
                }
                (
                    SchemeCommand::RefundPayment { payment, .. },
                    SchemeApplied::PaymentRefunded {
                        cashback_returned, ..
                    },
                ) => {
                    // Cash-back taken back frees room under the month's cap.
                    if let Some((_, _, payer, paid_in)) =
                        m.payments.iter().find(|(id, ..)| id == payment)
                    {
                        *m.cashback.entry((*payer, *paid_in)).or_default() -=
                            cashback_returned.get();
                    }
                    // Back to the budget that paid it: every variant pays cash-back from
                    // the same budget.
                    *m.budget_out.entry(CASHBACK.account()).or_default() -= cashback_returned.get();
                }
                (
                    SchemeCommand::Pay { payer, .. },
                    SchemeApplied::Paid {
                        cashback,
                        payment,
                        amount,
                        ..
                    },
                ) => {
                    m.payments
                        .push((*payment, amount.get(), payer.account(), month));
                    let total = m.cashback.entry((payer.account(), month)).or_default();
                    *total += cashback.get();
                    let cb = cfg.cashback.as_ref();
                    // (A lowered cap may leave earlier cash-back above it; none is added.)
                    if let Some(cap) = cb.and_then(|c| c.monthly_cashback_cap)
                        && cashback.is_positive()
                    {
                        assert!(*total <= cap.get());
                    }
                    if let Some(cb) = cb {
                        *m.budget_out.entry(cb.budget).or_default() += cashback.get();
                    } else {
                        assert_eq!(*cashback, Won::ZERO);
                    }
                }
                (
                    SchemeCommand::Gift {
                        sender,
                        recipient,
                        amount,
                    },
                    _,
                ) => {
                    let s = m.gifts_sent.entry((sender.account(), month)).or_default();
                    *s += amount.get();
                    assert!(*s <= cfg.gifts.sent_monthly_limit.unwrap().get());
                    let r = m
                        .gifts_received
                        .entry((recipient.account(), month))
                        .or_default();
                    *r += amount.get();
                    assert!(*r <= cfg.gifts.received_monthly_limit.unwrap().get());
                }
                (
                    SchemeCommand::RefundBalance { .. },
                    SchemeApplied::BalanceRefunded {
                        subsidy,
                        subsidy_transfer: Some(_),
                        ..
                    },
                ) => {
                    *m.budget_out.entry(DISCOUNT.account()).or_default() -= subsidy.get();
                }
                _ => {}
            },
            (Command::Transfer(t), Applied::Transfer { amount, .. }) => {
                if let TransferSpec::Allowance { budget, .. } = &t.spec {
                    *m.budget_out.entry(budget.account()).or_default() += amount.get();
                }
            }
            _ => {}
        }
    }

    fn check_after_batch(&self) {
        self.ledger.check_all().unwrap();
        let mut sum: i128 = 0;
        for a in self.ledger.accounts() {
            let balance = a.balance().unwrap();
            sum += i128::from(balance.get());
            if a.kind == AccountKind::SubsidyBudget {
                assert!(a.available().unwrap() >= Won::ZERO, "{a:?}");
                // Every won the budget lost was paid out as subsidy, cash-back or
                // allowance, less what came back.
                let funded = self.model.funded[&a.id];
                let out = self.model.budget_out.get(&a.id).copied().unwrap_or(0);
                assert_eq!(funded - balance.get(), out, "budget {}", a.id);
            }
        }
        assert_eq!(sum, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn scheme_limits_budgets_and_balances_hold(
        first in variant(),
        funds in prop_oneof![Just(5_000i64), Just(50_000), Just(10_000_000)],
        batches in prop::collection::vec(prop::collection::vec(op(), 1..5), 1..40),
    ) {
        let mut run = Run::new(&first, funds);
        for ops in &batches {
            let commands: Vec<Command> = ops.iter().filter_map(|o| run.command(o)).collect();
            if commands.is_empty() {
                continue;
            }
            // Limits are judged against the version in force at the batch's time.
            let mut cfg = run.config();
            let outs = run.apply(commands.clone());
            let alone = commands.len() == 1;
            for (c, o) in commands.iter().zip(&outs) {
                run.observe(c, o, &cfg, alone);
                // A new version (effective at once) governs the rest of the batch.
                if let Ok(Applied::Scheme(a)) = &o.result
                    && let SchemeApplied::SchemeSet { version, .. } = a.as_ref()
                {
                    let v = run.ledger.scheme_versions().nth(*version as usize - 1);
                    cfg = v.unwrap().config.clone();
                }
            }
            run.check_after_batch();
        }
        // The same batches at the same times give the same state, and a snapshot of it
        // reproduces it.
        let mut replay = Ledger::new(LedgerConfig::default());
        for (batch, now) in &run.log {
            replay.apply(batch, *now);
        }
        prop_assert_eq!(replay.state_hash(), run.ledger.state_hash());
        let mut buf = Vec::new();
        codec::put_ledger(&mut buf, &run.ledger);
        let copy = codec::get_ledger(&mut codec::Reader::new(&buf)).unwrap();
        prop_assert_eq!(copy.state_hash(), run.ledger.state_hash());
    }
}

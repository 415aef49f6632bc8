//! Rule-by-rule scenarios through the public API, each with its boundary.

use ledger::*;

const RESERVE: ReserveId = ReserveId::new(1);
const BUDGET: BudgetId = BudgetId::new(2);
const CLEARING: ClearingId = ClearingId::new(3);
const FEES: FeeId = FeeId::new(4);
const ALICE: WalletId = WalletId::new(100);
const BOB: WalletId = WalletId::new(101);
const SHOP: MerchantId = MerchantId::new(200);
/// A merchant that takes only purchased value (e.g. over the revenue cap for policy money).
const PICKY: MerchantId = MerchantId::new(201);
const NEVER: LotSpec = LotSpec {
    tag: 0,
    expires_at: Timestamp::MAX,
};

struct World {
    ledger: Ledger,
    key: u128,
    now: u64,
}

fn won(n: i64) -> Won {
    Won::new(n)
}

impl World {
    fn new() -> World {
        let mut w = World {
            ledger: Ledger::new(LedgerConfig::default()),
            key: 0,
            now: 1_000_000,
        };
        let open = |id: u64, kind| Command::OpenAccount {
            account: AccountId(id),
            kind,
            accepts: SourceSet::ALL,
        };
        let outs = w.batch(vec![
            open(1, AccountKind::IssuerReserve),
            open(2, AccountKind::SubsidyBudget),
            open(3, AccountKind::SettlementClearing),
            open(4, AccountKind::Fees),
            open(100, AccountKind::CitizenWallet),
            open(101, AccountKind::CitizenWallet),
            open(200, AccountKind::Merchant),
            Command::OpenAccount {
                account: PICKY.account(),
                kind: AccountKind::Merchant,
                accepts: SourceSet::of(&[Source::Purchased]),
            },
            Command::Transfer(Transfer::posted(TransferSpec::BudgetFunding {
                reserve: RESERVE,
                budget: BUDGET,
                amount: won(1_000_000),
            })),
        ]);
        assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");
        w
    }

    fn envelope(&mut self, command: Command) -> Envelope {
        self.key += 1;
        Envelope {
            client: ClientId(1),
            key: IdempotencyKey(self.key),
            command,
        }
    }

    fn batch(&mut self, commands: Vec<Command>) -> Vec<Outcome> {
        let batch: Vec<Envelope> = commands.into_iter().map(|c| self.envelope(c)).collect();
        self.apply(&batch)
    }

    fn apply(&mut self, batch: &[Envelope]) -> Vec<Outcome> {
        self.now += 1;
        let (outs, report) = self.ledger.apply(batch, Timestamp::from_micros(self.now));
        assert_eq!(report.violation, None);
        self.ledger.check_all().expect("invariants");
        outs
    }

    fn one(&mut self, command: Command) -> Result<Applied, Rejection> {
        self.batch(vec![command]).remove(0).result
    }

    fn transfer(&mut self, spec: TransferSpec) -> Result<Applied, Rejection> {
        self.one(Command::Transfer(Transfer::posted(spec)))
    }

    fn balance(&self, id: AccountId) -> i64 {
        self.ledger
            .account(id)
            .and_then(Account::balance)
            .map(Won::get)
            .unwrap_or(i64::MIN)
    }

    fn charge(&mut self, wallet: WalletId, paid: i64, subsidy: i64) {
        let mut parts = vec![Transfer::posted(TransferSpec::Charge {
            reserve: RESERVE,
            wallet,
            amount: won(paid),
            lot: NEVER,
        })];
        if subsidy > 0 {
            parts.push(Transfer::posted(TransferSpec::Subsidy {
                budget: BUDGET,
                wallet,
                amount: won(subsidy),
                lot: NEVER,
            }));
        }
        let r = self.one(Command::Linked(parts));
        assert!(r.is_ok(), "{r:?}");
    }

    fn pay(
        &mut self,
        payer: WalletId,
        merchant: MerchantId,
        amount: i64,
    ) -> Result<TransferId, Rejection> {
        match self.transfer(TransferSpec::Payment {
            payer,
            merchant,
            amount: won(amount),
        })? {
            Applied::Transfer { id, .. } => Ok(id),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn code(r: Result<impl std::fmt::Debug, Rejection>) -> &'static str {
    match r {
        Ok(a) => panic!("expected a rejection, got {a:?}"),
        Err(rej) => rej.code().as_str(),
    }
}

#[test]
fn discounted_charge_then_payment_moves_money_the_right_way() {
    let mut w = World::new();
    w.charge(ALICE, 45_000, 5_000);
    assert_eq!(w.balance(ALICE.account()), 50_000);
    assert_eq!(w.balance(BUDGET.account()), 995_000);
    w.pay(ALICE, SHOP, 50_000).unwrap();
    assert_eq!(w.balance(ALICE.account()), 0);
    assert_eq!(w.balance(SHOP.account()), 50_000);
    // The last won is spent; one more is refused.
    assert_eq!(code(w.pay(ALICE, SHOP, 1)), "insufficient_funds");
}

#[test]
fn linked_group_fails_as_a_whole() {
    let mut w = World::new();
    let r = w.one(Command::Linked(vec![
        Transfer::posted(TransferSpec::Charge {
            reserve: RESERVE,
            wallet: ALICE,
            amount: won(45_000),
            lot: NEVER,
        }),
        // The budget holds 1,000,000: this part fails, so the paid part must not stay.
        Transfer::posted(TransferSpec::Subsidy {
            budget: BUDGET,
            wallet: ALICE,
            amount: won(1_000_001),
            lot: NEVER,
        }),
    ]));
    match r {
        Err(Rejection::LinkedFailed { index: 1, cause }) => {
            assert_eq!(cause.code(), RejectionCode::InsufficientFunds)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.balance(ALICE.account()), 0);
    assert_eq!(w.balance(RESERVE.account()), -1_000_000);
    assert_eq!(
        w.ledger.next_transfer_id(),
        TransferId(2),
        "failed transfers consume no id"
    );
}

#[test]
fn migrated_value_moves_as_a_group_and_a_bare_note_moves_nothing() {
    let mut w = World::new();
    let note = |s: &str| ledger::Text::new(s).unwrap();
    let next = w.ledger.next_transfer_id();
    // A statement alone: journaled, nothing moves, no transfer id is used.
    w.one(Command::Migrated {
        note: note("sign-off members: 3 dormant"),
        transfers: vec![],
    })
    .unwrap();
    assert_eq!(w.ledger.next_transfer_id(), next);
    assert_eq!(w.balance(ALICE.account()), 0);
    // Like a linked group: one part fails, nothing stays.
    let r = w.one(Command::Migrated {
        note: note("legacy wallets.csv:7 id=W7"),
        transfers: vec![
            Transfer::posted(TransferSpec::Charge {
                reserve: RESERVE,
                wallet: ALICE,
                amount: won(10_000),
                lot: NEVER,
            }),
            Transfer::posted(TransferSpec::Allowance {
                budget: BUDGET,
                wallet: ALICE,
                amount: won(1_000_001),
                lot: NEVER,
            }),
        ],
    });
    assert!(
        matches!(r, Err(Rejection::LinkedFailed { index: 1, .. })),
        "{r:?}"
    );
    assert_eq!(w.balance(ALICE.account()), 0);
    w.one(Command::Migrated {
        note: note("legacy wallets.csv:7 id=W7"),
        transfers: vec![Transfer::posted(TransferSpec::Charge {
            reserve: RESERVE,
            wallet: ALICE,
            amount: won(10_000),
            lot: NEVER,
        })],
    })
    .unwrap();
    assert_eq!(w.balance(ALICE.account()), 10_000);
    // While halted, a statement is journaled; value is not.
    w.one(Command::Halt {
        operator: note("legacy import"),
        reason: note("waiting for sign-off"),
    })
    .unwrap();
    w.one(Command::Migrated {
        note: note("sign-off outstanding.purchased by 김담당"),
        transfers: vec![],
    })
    .unwrap();
    let r = w.one(Command::Migrated {
        note: note("legacy wallets.csv:8 id=W8"),
        transfers: vec![Transfer::posted(TransferSpec::Charge {
            reserve: RESERVE,
            wallet: ALICE,
            amount: won(1),
            lot: NEVER,
        })],
    });
    assert_eq!(code(r), "currency_halted");
}

#[test]
fn typed_ids_are_checked_against_the_stored_kind() {
    let mut w = World::new();
    w.charge(ALICE, 10_000, 0);
    // A merchant's number passed off as a wallet: refused, nothing moves.
    let r = w.pay(
        WalletId::new(SHOP.account().0),
        MerchantId::new(ALICE.account().0),
        5_000,
    );
    assert_eq!(code(r), "account_kind_mismatch");
    assert_eq!(w.balance(ALICE.account()), 10_000);
}

#[test]
fn refunds_are_linked_to_their_payment_and_never_exceed_it() {
    let mut w = World::new();
    w.charge(ALICE, 30_000, 0);
    let p = w.pay(ALICE, SHOP, 20_000).unwrap();
    let refund = |amount| TransferSpec::PaymentRefund {
        payment: p,
        amount: won(amount),
    };
    w.transfer(refund(15_000)).unwrap();
    assert_eq!(code(w.transfer(refund(5_001))), "refund_exceeds_payment");
    w.transfer(refund(5_000)).unwrap();
    assert_eq!(code(w.transfer(refund(1))), "refund_exceeds_payment");
    assert_eq!(w.balance(ALICE.account()), 30_000);
    assert_eq!(w.balance(SHOP.account()), 0);
    assert_eq!(
        code(w.transfer(TransferSpec::PaymentRefund {
            payment: TransferId(999),
            amount: won(1)
        })),
        "payment_not_found"
    );
}

#[test]
fn refund_restores_the_sources_the_payment_drew() {
    let mut w = World::new();
    let cashback = LotSpec {
        tag: 0,
        expires_at: Timestamp::from_micros(50_000_000),
    };
    w.charge(ALICE, 10_000, 0);
    w.transfer(TransferSpec::Cashback {
        budget: BUDGET,
        wallet: ALICE,
        amount: won(1_000),
        lot: cashback,
    })
    .unwrap();
    let p = w.pay(ALICE, SHOP, 3_000).unwrap(); // cash-back is spent first: 1,000 + 2,000
    w.transfer(TransferSpec::PaymentRefund {
        payment: p,
        amount: won(3_000),
    })
    .unwrap();
    let lots = &w.ledger.account(ALICE.account()).unwrap().lots;
    assert_eq!(lots.len(), 2, "{lots:?}");
    assert_eq!(
        (lots[0].source, lots[0].amount, lots[0].expires_at),
        (Source::Cashback, won(1_000), cashback.expires_at)
    );
    assert_eq!(
        (lots[1].source, lots[1].amount),
        (Source::Purchased, won(10_000))
    );
}

#[test]
fn spend_order_and_merchant_eligibility() {
    let mut w = World::new();
    w.charge(ALICE, 5_000, 0);
    w.transfer(TransferSpec::Allowance {
        budget: BUDGET,
        wallet: ALICE,
        amount: won(7_000),
        lot: NEVER,
    })
    .unwrap();
    // PICKY takes only purchased value: 5,000 of Alice's 12,000 is eligible.
    match w.pay(ALICE, PICKY, 5_001) {
        Err(Rejection::InsufficientEligibleFunds {
            eligible,
            requested,
            ..
        }) => {
            assert_eq!((eligible, requested), (won(5_000), won(5_001)))
        }
        other => panic!("{other:?}"),
    }
    w.pay(ALICE, PICKY, 5_000).unwrap();
    let lots = &w.ledger.account(ALICE.account()).unwrap().lots;
    assert_eq!(
        (lots.len(), lots[0].source, lots[0].amount),
        (1, Source::Allowance, won(7_000))
    );
    // At SHOP, the allowance (spent before purchased value) pays.
    w.pay(ALICE, SHOP, 7_000).unwrap();
    assert_eq!(w.balance(ALICE.account()), 0);
}

#[test]
fn lots_expire_at_the_exact_instant() {
    let mut w = World::new();
    let end = w.now + 4; // each batch advances journal time by 1 µs
    let lot = LotSpec {
        tag: 0,
        expires_at: Timestamp::from_micros(end),
    };
    w.transfer(TransferSpec::Charge {
        reserve: RESERVE,
        wallet: ALICE,
        amount: won(1_000),
        lot,
    })
    .unwrap();
    let expire = TransferSpec::Expiry {
        wallet: ALICE,
        reserve: RESERVE,
    };
    assert_eq!(code(w.transfer(expire.clone())), "nothing_to_expire");
    assert_eq!(w.now, end - 2);
    // One microsecond before the end the value is still spendable...
    w.pay(ALICE, SHOP, 1).unwrap();
    // ...at the expiry instant it is not, and expiry takes it.
    assert_eq!(code(w.pay(ALICE, SHOP, 1)), "insufficient_eligible_funds");
    assert_eq!(w.now, end);
    match w.transfer(expire).unwrap() {
        Applied::Transfer { amount, .. } => assert_eq!(amount, won(999)),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.balance(ALICE.account()), 0);
    assert_eq!(w.balance(RESERVE.account()), -1_000_000 - 1_000 + 999);
}

#[test]
fn gifts_carry_expiry_and_become_gift_value() {
    let mut w = World::new();
    let lot = LotSpec {
        tag: 7,
        expires_at: Timestamp::from_micros(9_999_999),
    };
    w.transfer(TransferSpec::Charge {
        reserve: RESERVE,
        wallet: ALICE,
        amount: won(10_000),
        lot,
    })
    .unwrap();
    let gift = |amount, sources| TransferSpec::Gift {
        sender: ALICE,
        recipient: BOB,
        amount: won(amount),
        sources,
    };
    assert_eq!(
        code(w.transfer(gift(1_000, SourceSet::of(&[Source::Cashback])))),
        "insufficient_eligible_funds"
    );
    w.transfer(gift(4_000, SourceSet::of(&[Source::Purchased])))
        .unwrap();
    let lots = &w.ledger.account(BOB.account()).unwrap().lots;
    assert_eq!(
        lots.as_slice(),
        &[Lot {
            source: Source::Gift,
            tag: 7,
            expires_at: lot.expires_at,
            amount: won(4_000)
        }]
    );
    assert_eq!(
        code(
            w.transfer(gift(1, SourceSet::ALL))
                .and_then(|_| w.transfer(TransferSpec::Gift {
                    sender: BOB,
                    recipient: BOB,
                    amount: won(1),
                    sources: SourceSet::ALL
                }))
        ),
        "same_account"
    );
}

#[test]
fn pending_post_in_part_void_and_expire_at_the_deadline() {
    let mut w = World::new();
    let pending = |amount, timeout_us| {
        Command::Transfer(Transfer::pending(
            TransferSpec::Charge {
                reserve: RESERVE,
                wallet: ALICE,
                amount: won(amount),
                lot: NEVER,
            },
            timeout_us,
        ))
    };
    let Ok(Applied::Transfer {
        id: a,
        status: TransferStatus::Pending,
        ..
    }) = w.one(pending(10_000, 100))
    else {
        panic!()
    };
    // Pending credit is not spendable yet.
    assert_eq!(code(w.pay(ALICE, SHOP, 1)), "insufficient_funds");
    assert_eq!(
        code(w.one(Command::PostPending {
            pending: a,
            amount: Some(won(10_001))
        })),
        "post_exceeds_pending"
    );
    w.one(Command::PostPending {
        pending: a,
        amount: Some(won(6_000)),
    })
    .unwrap();
    assert_eq!(w.balance(ALICE.account()), 6_000);
    let acct = w.ledger.account(ALICE.account()).unwrap().clone();
    assert_eq!(
        (acct.credits_pending, acct.debits_pending),
        (Won::ZERO, Won::ZERO)
    );
    match w.one(Command::VoidPending { pending: a }) {
        Err(Rejection::PendingAlreadyEnded {
            end: PendingEnd::Posted,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }

    // A hold on the wallet: funds are held, not spendable, and come back on void.
    let hold = Command::Transfer(Transfer::pending(
        TransferSpec::Payment {
            payer: ALICE,
            merchant: SHOP,
            amount: won(5_000),
        },
        1_000,
    ));
    let Ok(Applied::Transfer { id: b, .. }) = w.one(hold) else {
        panic!()
    };
    assert_eq!(code(w.pay(ALICE, SHOP, 1_001)), "insufficient_funds");
    w.one(Command::VoidPending { pending: b }).unwrap();
    w.pay(ALICE, SHOP, 1_001).unwrap();

    // Expiry exactly at the deadline, measured in journal time.
    let Ok(Applied::Transfer { id: c, .. }) = w.one(pending(500, 3)) else {
        panic!()
    };
    let created = w.now;
    w.apply(&[]);
    w.apply(&[]); // now = created + 2: still pending
    assert!(w.ledger.pending(c).is_some());
    assert_eq!(w.now, created + 2);
    w.apply(&[]); // now = created + 3 = deadline
    assert!(w.ledger.pending(c).is_none());
    match w.one(Command::PostPending {
        pending: c,
        amount: None,
    }) {
        Err(Rejection::PendingAlreadyEnded {
            end: PendingEnd::Expired,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(code(w.one(pending(1, 0))), "pending_timeout_invalid");
    assert_eq!(
        code(w.one(Command::Transfer(Transfer::pending(
            TransferSpec::PaymentRefund {
                payment: TransferId(1),
                amount: won(1)
            },
            10
        )))),
        "pending_not_allowed"
    );
}

#[test]
fn idempotent_retry_returns_the_first_outcome_and_moves_nothing() {
    let mut w = World::new();
    w.charge(ALICE, 10_000, 0);
    let pay = w.envelope(Command::Transfer(Transfer::posted(TransferSpec::Payment {
        payer: ALICE,
        merchant: SHOP,
        amount: won(4_000),
    })));
    let first = w.apply(std::slice::from_ref(&pay)).remove(0);
    assert!(first.is_applied() && !first.repeated);
    // Retried twice in one batch and once later: same answer, flagged as a repeat.
    let again = w.apply(&[pay.clone(), pay.clone()]);
    for o in &again {
        assert_eq!((&o.result, o.repeated), (&first.result, true));
    }
    assert_eq!(w.balance(ALICE.account()), 6_000);
    // Same key, different body: a distinct rejection.
    let mut other = pay.clone();
    other.command = Command::Transfer(Transfer::posted(TransferSpec::Payment {
        payer: ALICE,
        merchant: SHOP,
        amount: won(4_001),
    }));
    let o = w.apply(&[other]).remove(0);
    assert_eq!(o.result, Err(Rejection::IdempotencyKeyReused));
    assert_eq!(w.balance(ALICE.account()), 6_000);
}

#[test]
fn idempotency_keys_are_forgotten_after_their_window() {
    let config = LedgerConfig {
        idempotency_retention_us: 100,
        ..LedgerConfig::default()
    };
    let mut l = Ledger::new(config);
    let open = Envelope {
        client: ClientId(9),
        key: IdempotencyKey(1),
        command: Command::OpenAccount {
            account: AccountId(5),
            kind: AccountKind::Fees,
            accepts: SourceSet::ALL,
        },
    };
    assert!(
        l.apply(std::slice::from_ref(&open), Timestamp::from_micros(1_000))
            .0[0]
            .is_applied()
    );
    assert!(
        l.apply(std::slice::from_ref(&open), Timestamp::from_micros(1_099))
            .0[0]
            .repeated
    );
    assert_eq!(l.retained().idempotency_keys, 1);
    let late = l
        .apply(std::slice::from_ref(&open), Timestamp::from_micros(1_100))
        .0
        .remove(0);
    assert_eq!(
        late.result,
        Err(Rejection::AccountExists {
            account: AccountId(5)
        })
    );
    assert!(!late.repeated);
}

#[test]
fn frozen_and_closed_accounts() {
    let mut w = World::new();
    w.charge(ALICE, 1_000, 0);
    w.one(Command::SetAccountState {
        account: SHOP.account(),
        state: AccountState::Frozen,
    })
    .unwrap();
    assert_eq!(code(w.pay(ALICE, SHOP, 100)), "account_frozen");
    w.one(Command::SetAccountState {
        account: SHOP.account(),
        state: AccountState::Active,
    })
    .unwrap();
    w.pay(ALICE, SHOP, 100).unwrap();
    assert_eq!(
        code(w.one(Command::SetAccountState {
            account: ALICE.account(),
            state: AccountState::Closed
        })),
        "account_not_empty"
    );
    w.transfer(TransferSpec::Redemption {
        merchant: SHOP,
        clearing: CLEARING,
        amount: won(100),
    })
    .unwrap();
    w.transfer(TransferSpec::Settlement {
        clearing: CLEARING,
        reserve: RESERVE,
        amount: won(100),
    })
    .unwrap();
    w.one(Command::SetAccountState {
        account: SHOP.account(),
        state: AccountState::Closed,
    })
    .unwrap();
    assert_eq!(code(w.pay(ALICE, SHOP, 1)), "account_closed");
    assert_eq!(
        code(w.one(Command::SetAccountState {
            account: SHOP.account(),
            state: AccountState::Active
        })),
        "account_closed"
    );
}

#[test]
fn corrections_name_an_auditor_and_still_respect_non_negativity() {
    let mut w = World::new();
    w.charge(ALICE, 1_000, 0);
    let fix = |amount| TransferSpec::Correction {
        debit: ALICE.account(),
        credit: FEES.account(),
        amount: won(amount),
        auditor: Text::new("감사관 이").unwrap(),
        reason: Text::new("중복 충전 정정").unwrap(),
        lot: NEVER,
    };
    assert_eq!(code(w.transfer(fix(1_001))), "insufficient_funds");
    w.transfer(fix(1_000)).unwrap();
    assert_eq!(w.balance(FEES.account()), 1_000);
    assert!(Text::new("").is_err());
    assert!(Text::new("x".repeat(257)).is_err());
}

#[test]
fn operator_halt_stops_writes_until_resumed() {
    let mut w = World::new();
    w.charge(ALICE, 1_000, 0);
    let op = Text::new("운영자").unwrap();
    w.one(Command::Halt {
        operator: op.clone(),
        reason: Text::new("점검").unwrap(),
    })
    .unwrap();
    let hash = w.ledger.state_hash();
    assert_eq!(code(w.pay(ALICE, SHOP, 100)), "currency_halted");
    assert_eq!(w.ledger.state_hash(), hash);
    w.one(Command::Resume {
        operator: op.clone(),
    })
    .unwrap();
    w.pay(ALICE, SHOP, 100).unwrap();
    assert_eq!(code(w.one(Command::Resume { operator: op })), "not_halted");
}

#[test]
fn amounts_are_checked() {
    let mut w = World::new();
    w.charge(ALICE, 1_000, 0);
    assert_eq!(code(w.pay(ALICE, SHOP, 0)), "amount_not_positive");
    assert_eq!(code(w.pay(ALICE, SHOP, -5)), "amount_not_positive");
    assert_eq!(
        code(w.pay(ALICE, SHOP, Won::TRANSFER_MAX.get() + 1)),
        "amount_too_large"
    );
    assert_eq!(code(w.one(Command::Linked(vec![]))), "linked_empty");
    assert_eq!(
        code(w.one(Command::OpenAccount {
            account: AccountId(0),
            kind: AccountKind::Fees,
            accepts: SourceSet::ALL
        })),
        "account_id_invalid"
    );
    assert_eq!(
        code(w.one(Command::OpenAccount {
            account: ALICE.account(),
            kind: AccountKind::Fees,
            accepts: SourceSet::ALL
        })),
        "account_exists"
    );
}

#[test]
fn snapshot_round_trip_keeps_hash_and_future_outcomes() {
    let mut w = World::new();
    w.charge(ALICE, 20_000, 2_000);
    let p = w.pay(ALICE, SHOP, 3_000).unwrap();
    w.one(Command::Transfer(Transfer::pending(
        TransferSpec::Payment {
            payer: ALICE,
            merchant: SHOP,
            amount: won(1_000),
        },
        5_000,
    )))
    .unwrap();
    let mut bytes = Vec::new();
    codec::put_ledger(&mut bytes, &w.ledger);
    let mut copy = codec::get_ledger(&mut codec::Reader::new(&bytes)).unwrap();
    assert_eq!(copy.state_hash(), w.ledger.state_hash());
    let next = w.envelope(Command::Transfer(Transfer::posted(
        TransferSpec::PaymentRefund {
            payment: p,
            amount: won(3_000),
        },
    )));
    let t = Timestamp::from_micros(w.now + 10);
    let a = w.ledger.apply(std::slice::from_ref(&next), t);
    let b = copy.apply(std::slice::from_ref(&next), t);
    assert_eq!(a, b);
    assert_eq!(copy.state_hash(), w.ledger.state_hash());
}

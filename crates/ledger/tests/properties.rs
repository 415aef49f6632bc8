//! Property tests over random command streams.
//!
//! A small universe (one issuer reserve, one subsidy budget, one clearing account, one
//! fees account, five citizen wallets, three merchants accepting different sources, two
//! spare ids that a stream may open as any kind, and ids that never exist) receives
//! random streams of batches: 0..20 random commands each, at timestamps that advance by
//! random steps (sometimes 0, sometimes long enough to expire pending transfers, lots,
//! idempotency keys and ended pendings). Commands: charges, subsidies, cash-back and
//! allowances with lots of random expiry; budget funding; payments; refunds of earlier
//! payments (partial, full, too much, unknown); gifts, cash refunds and subsidy returns
//! from random source sets; redemptions, settlements, fees, expiry, corrections; linked
//! groups (some failing part-way); pending transfers with random timeouts, then posted
//! (full, exact, partial, too much, invalid) or voided; account freeze/unfreeze/close,
//! accepted-source changes, account opening; halt and resume; and retries: earlier
//! envelopes re-sent verbatim, and earlier keys re-used for a different command.
//! Typed ids sometimes name an account of the wrong kind or one that does not exist;
//! amounts are mostly small, sometimes 0, negative, `i64::MAX`/`i64::MIN` or
//! `Won::TRANSFER_MAX` ± 1.
//!
//! Properties, checked after every batch (or every command where stated):
//!
//! 1. **Invariants.** `check_all()` is Ok (balances sum to zero; no account but the
//!    reserve is negative after holds; pending totals match pending transfers; wallet
//!    lots add up; the incremental hash equals a recomputation), and
//!    `BatchReport::violation` is `None`: a correct ledger never violates them.
//! 2. **A rejected or repeated command changes nothing.** Every command of every batch
//!    is also applied alone, as a batch of one, to a copy of the ledger made through
//!    `codec::put_ledger`/`get_ledger` at the batch's start; if it is rejected (or
//!    answered from the idempotency store) the copy's state hash, accounts, pending
//!    transfers, payment records, halt and transfer counter equal those of another copy
//!    that applied an empty batch at the same timestamp (retention and pending expiry
//!    happen at batch start, so that is the right baseline).
//! 3. **Idempotent retries.** While the key is retained (1 day of journal time by
//!    default; the test models the window exactly), a verbatim re-send is answered with
//!    exactly the first stored `result` and `repeated == true` (and, by 2, moves no
//!    money); the same key with a different command gets `IdempotencyKeyReused`. Once
//!    the key is forgotten the command is judged afresh. Transient rejections
//!    (`CurrencyHalted`) are not stored.
//! 4. **Pending and balance accounting.** A model kept by the test (every account's
//!    posted balance and pending totals; every pending transfer's kind, accounts,
//!    amount and deadline; payments and what was refunded; ended pendings; halt) agrees
//!    with the ledger after every batch: `ledger.pending(id)` exists exactly for pendings
//!    not yet posted, voided or expired; a post moves exactly the posted amount and
//!    releases the whole hold; a pending expires at the first batch whose timestamp
//!    is ≥ its deadline (a halted currency expires nothing: what came due while halted
//!    expires at the resume), and `BatchReport::pendings_expired` counts it; a live
//!    pending can always be voided or posted with a valid amount and is never posted
//!    at or after its deadline; a post or void of an ended pending says how it ended
//!    (or "not found" once forgotten); a refund never exceeds what is left of its
//!    payment; every applied transfer debits and credits accounts of the kinds its kind
//!    fixes, in an allowed state, with a valid amount.
//! 5. **Replay equality.** Applying the same batches at the same timestamps to a fresh
//!    ledger gives identical outcomes, reports and state hashes at every step; so does
//!    applying batches decoded from their codec bytes (outcomes decoded from theirs);
//!    and so does continuing from a snapshot taken at a random point
//!    (`put_ledger` → `get_ledger`), whose bytes also equal the fresh replay's snapshot
//!    at that point.
//! 6. **Money conservation by kind.** Total issued (minus the reserve's balance) equals
//!    the sum of all other balances, by account kind.
//!
//! The case count defaults to 512 (about 2 s in the test profile; override with
//! `PROPTEST_CASES`). A failure's seed is persisted next to this file, in
//! `properties.proptest-regressions`, and re-run first from then on.

use std::collections::{BTreeMap, HashMap};

use ledger::codec::{self, Reader};
use ledger::*;
use proptest::prelude::*;
use proptest::sample::select;

// ----- the universe ---------------------------------------------------------------------

const RESERVE: u64 = 1;
const BUDGET: u64 = 2;
const CLEARING: u64 = 3;
const FEES: u64 = 4;
const WALLETS: &[u64] = &[100, 101, 102, 103, 104];
/// 200 accepts everything, 201 only purchased value, 202 purchased, allowance and gifts.
const MERCHANTS: &[u64] = &[200, 201, 202];
/// Not opened at genesis; a stream may open them as any kind.
const SPARE: &[u64] = &[300, 301];
/// Never exist (0 is not even a valid id).
const MISSING: &[u64] = &[0, 999];
const ANY_ID: &[u64] = &[
    RESERVE, BUDGET, CLEARING, FEES, 100, 101, 102, 103, 104, 200, 201, 202, 300, 301,
];

const T0: u64 = 1_700_000_000 * SECOND_US;
const HOUR_US: u64 = 3_600 * SECOND_US;
const TM: i64 = Won::TRANSFER_MAX.get();

fn text(s: &str) -> Text {
    Text::new(s).expect("valid text")
}

fn genesis() -> Vec<Command> {
    let open = |id: u64, kind, accepts| Command::OpenAccount {
        account: AccountId(id),
        kind,
        accepts,
    };
    let mut cmds = vec![
        open(RESERVE, AccountKind::IssuerReserve, SourceSet::ALL),
        open(BUDGET, AccountKind::SubsidyBudget, SourceSet::ALL),
        open(CLEARING, AccountKind::SettlementClearing, SourceSet::ALL),
        open(FEES, AccountKind::Fees, SourceSet::ALL),
    ];
    for &w in WALLETS {
        cmds.push(open(w, AccountKind::CitizenWallet, SourceSet::ALL));
    }
    cmds.push(open(200, AccountKind::Merchant, SourceSet::ALL));
    cmds.push(open(
        201,
        AccountKind::Merchant,
        SourceSet::of(&[Source::Purchased]),
    ));
    cmds.push(open(
        202,
        AccountKind::Merchant,
        SourceSet::of(&[Source::Purchased, Source::Allowance, Source::Gift]),
    ));
    cmds.push(Command::Transfer(Transfer::posted(
        TransferSpec::BudgetFunding {
            reserve: ReserveId::new(RESERVE),
            budget: BudgetId::new(BUDGET),
            amount: Won::new(1_000_000_000),
        },
    )));
    cmds
}

// ----- generated operations (resolved into envelopes against the running model) -------

/// When a lot expires, relative to the batch's time.
#[derive(Clone, Copy, Debug)]
enum Exp {
    Never,
    /// `now - x`: already expired.
    Ago(u64),
    /// `now + x`.
    In(u64),
}

/// How much of a payment to refund, or of a pending to post.
#[derive(Clone, Copy, Debug)]
enum Part {
    /// Refund: all that is left. Post: `None`.
    Full,
    /// Refund: all that is left. Post: `Some(amount)`.
    Exact,
    Percent(u8),
    TooMuch,
    Raw(i64),
}

/// Which earlier transfer id to name: mostly a relevant one, sometimes any number.
#[derive(Clone, Copy, Debug)]
struct Pick {
    sel: u8,
    idx: usize,
}

#[derive(Clone, Debug)]
enum TOp {
    Charge {
        r: u64,
        w: u64,
        amt: i64,
        exp: Exp,
        tag: u16,
    },
    FromBudget {
        which: u8,
        b: u64,
        w: u64,
        amt: i64,
        exp: Exp,
        tag: u16,
    },
    Funding {
        r: u64,
        b: u64,
        amt: i64,
    },
    Payment {
        w: u64,
        m: u64,
        amt: i64,
    },
    Refund {
        pick: Pick,
        part: Part,
    },
    Gift {
        from: u64,
        to: u64,
        amt: i64,
        sources: u8,
    },
    Redemption {
        m: u64,
        c: u64,
        amt: i64,
    },
    Settlement {
        c: u64,
        r: u64,
        amt: i64,
    },
    CashRefund {
        w: u64,
        c: u64,
        amt: i64,
        sources: u8,
    },
    SubsidyReturn {
        w: u64,
        b: u64,
        amt: i64,
        sources: u8,
    },
    Expiry {
        w: u64,
        r: u64,
    },
    Fee {
        m: u64,
        f: u64,
        amt: i64,
    },
    Correction {
        d: u64,
        c: u64,
        amt: i64,
        exp: Exp,
    },
}

#[derive(Clone, Debug)]
struct TransferOp {
    op: TOp,
    /// `None`: posted; `Some(t)`: pending with timeout `t`.
    timeout: Option<u64>,
}

#[derive(Clone, Debug)]
enum Op {
    T(TransferOp),
    Linked(Vec<TransferOp>),
    LinkedTooLong,
    Post { pick: Pick, part: Part },
    Void { pick: Pick },
    SetState { acc: u64, state: u8 },
    SetAccepts { m: u64, bits: u8 },
    Open { acc: u64, kind: u8, bits: u8 },
    Halt,
    Resume,
    Retry { idx: usize },
    Reuse { idx: usize, t: TransferOp },
}

#[derive(Clone, Debug)]
struct BatchOps {
    step_us: u64,
    ops: Vec<Op>,
}

fn id_in(pool: &'static [u64]) -> BoxedStrategy<u64> {
    prop_oneof![
        17 => select(pool),
        2 => select(ANY_ID),
        1 => select(MISSING),
    ]
    .boxed()
}

/// Mostly below `typical` (more often small than large), sometimes 0, negative or huge.
fn amount_around(typical: i64) -> BoxedStrategy<i64> {
    prop_oneof![
        12 => 1i64..typical,
        4 => 1i64..10 * typical,
        1 => Just(0i64),
        1 => -5_000i64..0,
        1 => select(vec![i64::MAX, i64::MIN, TM - 1, TM, TM + 1]),
    ]
    .boxed()
}

/// Value coming in (charges, budget money).
fn amount() -> BoxedStrategy<i64> {
    amount_around(20_000)
}

/// Value going out (payments, gifts, redemptions, ...): smaller, so that more succeed.
fn spend() -> BoxedStrategy<i64> {
    amount_around(2_000)
}

fn exp() -> BoxedStrategy<Exp> {
    prop_oneof![
        3 => Just(Exp::Never),
        1 => (0..HOUR_US).prop_map(Exp::Ago),
        3 => (1..2 * HOUR_US).prop_map(Exp::In),
        1 => (1..10 * DAY_US).prop_map(Exp::In),
    ]
    .boxed()
}

fn timeout() -> BoxedStrategy<Option<u64>> {
    let max = LedgerConfig::default().pending_timeout_max_us;
    prop_oneof![
        6 => Just(None),
        3 => (1..3 * HOUR_US).prop_map(Some),
        1 => select(vec![0, 1, max, max + 1, u64::MAX]).prop_map(Some),
    ]
    .boxed()
}

fn part() -> BoxedStrategy<Part> {
    prop_oneof![
        3 => Just(Part::Full),
        2 => Just(Part::Exact),
        4 => (1u8..100).prop_map(Part::Percent),
        1 => Just(Part::TooMuch),
        1 => spend().prop_map(Part::Raw),
    ]
    .boxed()
}

fn pick() -> BoxedStrategy<Pick> {
    (any::<u8>(), any::<usize>())
        .prop_map(|(sel, idx)| Pick { sel, idx })
        .boxed()
}

fn sources() -> BoxedStrategy<u8> {
    prop_oneof![2 => Just(0b1_1111u8), 3 => 0u8..32].boxed()
}

fn top(with_expiry: bool) -> BoxedStrategy<TOp> {
    let mut arms: Vec<(u32, BoxedStrategy<TOp>)> = vec![
        (
            14,
            (id_in(&[RESERVE]), id_in(WALLETS), amount(), exp(), 0u16..3)
                .prop_map(|(r, w, amt, exp, tag)| TOp::Charge {
                    r,
                    w,
                    amt,
                    exp,
                    tag,
                })
                .boxed(),
        ),
        (
            8,
            (
                0u8..3,
                id_in(&[BUDGET]),
                id_in(WALLETS),
                amount(),
                exp(),
                0u16..3,
            )
                .prop_map(|(which, b, w, amt, exp, tag)| TOp::FromBudget {
                    which,
                    b,
                    w,
                    amt,
                    exp,
                    tag,
                })
                .boxed(),
        ),
        (
            2,
            (id_in(&[RESERVE]), id_in(&[BUDGET]), amount())
                .prop_map(|(r, b, amt)| TOp::Funding { r, b, amt })
                .boxed(),
        ),
        (
            14,
            (id_in(WALLETS), id_in(MERCHANTS), spend())
                .prop_map(|(w, m, amt)| TOp::Payment { w, m, amt })
                .boxed(),
        ),
        (
            7,
            (pick(), part())
                .prop_map(|(pick, part)| TOp::Refund { pick, part })
                .boxed(),
        ),
        (
            6,
            (id_in(WALLETS), id_in(WALLETS), spend(), sources())
                .prop_map(|(from, to, amt, sources)| TOp::Gift {
                    from,
                    to,
                    amt,
                    sources,
                })
                .boxed(),
        ),
        (
            4,
            (id_in(MERCHANTS), id_in(&[CLEARING]), spend())
                .prop_map(|(m, c, amt)| TOp::Redemption { m, c, amt })
                .boxed(),
        ),
        (
            3,
            (id_in(&[CLEARING]), id_in(&[RESERVE]), spend())
                .prop_map(|(c, r, amt)| TOp::Settlement { c, r, amt })
                .boxed(),
        ),
        (
            3,
            (id_in(WALLETS), id_in(&[CLEARING]), spend(), sources())
                .prop_map(|(w, c, amt, sources)| TOp::CashRefund { w, c, amt, sources })
                .boxed(),
        ),
        (
            2,
            (id_in(WALLETS), id_in(&[BUDGET]), spend(), sources())
                .prop_map(|(w, b, amt, sources)| TOp::SubsidyReturn { w, b, amt, sources })
                .boxed(),
        ),
        (
            2,
            (id_in(MERCHANTS), id_in(&[FEES]), spend())
                .prop_map(|(m, f, amt)| TOp::Fee { m, f, amt })
                .boxed(),
        ),
        (
            2,
            (id_in(ANY_ID), id_in(ANY_ID), spend(), exp())
                .prop_map(|(d, c, amt, exp)| TOp::Correction { d, c, amt, exp })
                .boxed(),
        ),
    ];
    if with_expiry {
        arms.push((
            3,
            (id_in(WALLETS), id_in(&[RESERVE]))
                .prop_map(|(w, r)| TOp::Expiry { w, r })
                .boxed(),
        ));
    }
    proptest::strategy::Union::new_weighted(arms).boxed()
}

/// Expiry is left out of linked groups: `Applied::Linked` does not report the amounts,
/// and an expiry's amount is computed by the ledger. Refunds, expiry and corrections
/// cannot be pending; they are asked to be only now and then.
fn transfer_op(with_expiry: bool) -> BoxedStrategy<TransferOp> {
    (top(with_expiry), timeout(), 0u8..4)
        .prop_map(|(op, timeout, coin)| {
            let pendable = !matches!(
                op,
                TOp::Refund { .. } | TOp::Expiry { .. } | TOp::Correction { .. }
            );
            let timeout = if pendable || coin == 0 { timeout } else { None };
            TransferOp { op, timeout }
        })
        .boxed()
}

fn op() -> BoxedStrategy<Op> {
    prop_oneof![
        70 => transfer_op(true).prop_map(Op::T),
        7 => prop::collection::vec(transfer_op(false), 0..5).prop_map(Op::Linked),
        1 => Just(Op::LinkedTooLong),
        8 => (pick(), part()).prop_map(|(pick, part)| Op::Post { pick, part }),
        4 => pick().prop_map(|pick| Op::Void { pick }),
        2 => (select(ANY_ID), prop_oneof![3 => Just(1u8), 3 => Just(2u8), 1 => Just(3u8)])
            .prop_map(|(acc, state)| Op::SetState { acc, state }),
        1 => (id_in(MERCHANTS), 0u8..32).prop_map(|(m, bits)| Op::SetAccepts { m, bits }),
        1 => (prop_oneof![3 => select(SPARE), 1 => select(ANY_ID), 1 => select(MISSING)], 1u8..7, 0u8..32)
            .prop_map(|(acc, kind, bits)| Op::Open { acc, kind, bits }),
        1 => Just(Op::Halt),
        3 => Just(Op::Resume),
        7 => any::<usize>().prop_map(|idx| Op::Retry { idx }),
        3 => (any::<usize>(), transfer_op(true)).prop_map(|(idx, t)| Op::Reuse { idx, t }),
    ]
    .boxed()
}

fn batch_ops() -> BoxedStrategy<BatchOps> {
    let step = prop_oneof![
        3 => Just(0u64),
        6 => 1..60 * SECOND_US,
        3 => 60 * SECOND_US..2 * HOUR_US,
        1 => 2 * HOUR_US..30 * HOUR_US,
    ];
    (step, prop::collection::vec(op(), 0..20))
        .prop_map(|(step_us, ops)| BatchOps { step_us, ops })
        .boxed()
}

// ----- the model -------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bal {
    balance: i128,
    debits_pending: i128,
    credits_pending: i128,
}

#[derive(Clone, Debug)]
struct MAccount {
    kind: AccountKind,
    state: AccountState,
    bal: Bal,
}

#[derive(Clone, Debug)]
struct MPending {
    kind: TransferKind,
    debit: AccountId,
    credit: AccountId,
    amount: Won,
    deadline: Timestamp,
}

#[derive(Clone, Debug)]
struct MPayment {
    payer: AccountId,
    merchant: AccountId,
    amount: Won,
    refunded: Won,
    at: Timestamp,
}

/// A command remembered under its key: the command, its first result, and when.
type Stored = (Command, Result<Applied, Rejection>, Timestamp);

#[derive(Debug)]
struct Model {
    config: LedgerConfig,
    accounts: BTreeMap<AccountId, MAccount>,
    pendings: BTreeMap<TransferId, MPending>,
    ended: BTreeMap<TransferId, (PendingEnd, Timestamp)>,
    payments: BTreeMap<TransferId, MPayment>,
    idem: HashMap<(ClientId, IdempotencyKey), Stored>,
    halted: bool,
    next_id: u64,
    /// Pendings expired in the current batch (at its start, or on a resume).
    expired_in_batch: u32,
    /// Every pending transfer ever created, for picking.
    created_pendings: Vec<TransferId>,
    /// Every payment ever recorded, for picking.
    created_payments: Vec<TransferId>,
}

fn won_valid(a: Won) -> bool {
    a.is_positive() && a <= Won::TRANSFER_MAX
}

impl Model {
    fn new() -> Model {
        Model {
            config: LedgerConfig::default(),
            accounts: BTreeMap::new(),
            pendings: BTreeMap::new(),
            ended: BTreeMap::new(),
            payments: BTreeMap::new(),
            idem: HashMap::new(),
            halted: false,
            next_id: 1,
            expired_in_batch: 0,
            created_pendings: Vec::new(),
            created_payments: Vec::new(),
        }
    }

    fn bal(&mut self, id: AccountId) -> &mut Bal {
        &mut self
            .accounts
            .get_mut(&id)
            .unwrap_or_else(|| panic!("{id} moved money but is not in the model"))
            .bal
    }

    /// What the ledger does at a batch's start: forget what aged out, expire pendings.
    fn start_batch(&mut self, now: Timestamp) {
        let horizon = now.minus_micros(self.config.ended_pending_retention_us);
        self.ended.retain(|_, (_, at)| *at > horizon);
        let horizon = now.minus_micros(self.config.payment_refund_window_us);
        self.payments.retain(|_, p| p.at > horizon);
        let horizon = now.minus_micros(self.config.idempotency_retention_us);
        self.idem.retain(|_, (_, _, at)| *at > horizon);
        self.expired_in_batch = 0;
        if !self.halted {
            self.expire_due(now);
        }
    }

    /// Expires every pending whose deadline is at or before `now`.
    fn expire_due(&mut self, now: Timestamp) {
        let due: Vec<TransferId> = self
            .pendings
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.end_pending(*id, PendingEnd::Expired, now);
        }
        self.expired_in_batch += due.len() as u32;
    }

    fn end_pending(&mut self, id: TransferId, end: PendingEnd, now: Timestamp) -> MPending {
        let p = self.pendings.remove(&id).expect("live pending");
        let amount = i128::from(p.amount.get());
        self.bal(p.debit).debits_pending -= amount;
        self.bal(p.credit).credits_pending -= amount;
        self.ended.insert(id, (end, now));
        p
    }

    fn lookup_failure(&self, id: TransferId) -> Rejection {
        match self.ended.get(&id) {
            Some((end, _)) => Rejection::PendingAlreadyEnded { id, end: *end },
            None => Rejection::PendingNotFound { id },
        }
    }

    fn record_payment(
        &mut self,
        id: TransferId,
        payer: AccountId,
        merchant: AccountId,
        amount: Won,
        now: Timestamp,
    ) {
        self.payments.insert(
            id,
            MPayment {
                payer,
                merchant,
                amount,
                refunded: Won::ZERO,
                at: now,
            },
        );
        self.created_payments.push(id);
    }

    /// Checks one outcome against the model and updates the model. Outcomes must be fed
    /// in order.
    fn outcome(&mut self, env: &Envelope, out: &Outcome, now: Timestamp) {
        let key = (env.client, env.key);
        if let Some((command, result, _)) = self.idem.get(&key) {
            // Retained (start_batch drops what the ledger forgets).
            if *command == env.command {
                assert_eq!(
                    out,
                    &Outcome {
                        result: result.clone(),
                        repeated: true
                    },
                    "a verbatim retry must get the first outcome: {env:?}"
                );
            } else {
                assert_eq!(
                    out,
                    &Outcome {
                        result: Err(Rejection::IdempotencyKeyReused),
                        repeated: false
                    },
                    "a re-used key with another command: {env:?}"
                );
            }
            return;
        }
        assert!(!out.repeated, "fresh command answered as repeated: {env:?}");
        let taken_halted = match &env.command {
            Command::Resume { .. } => true,
            Command::Migrated { transfers, .. } => transfers.is_empty(),
            _ => false,
        };
        if self.halted && !taken_halted {
            assert_eq!(out.result, Err(Rejection::CurrencyHalted), "{env:?}");
            return;
        }
        if let Err(r) = &out.result {
            assert!(!r.is_transient(), "{env:?} -> {r:?}");
        }
        self.effect(&env.command, &out.result, now);
        self.idem
            .insert(key, (env.command.clone(), out.result.clone(), now));
    }

    fn effect(&mut self, command: &Command, result: &Result<Applied, Rejection>, now: Timestamp) {
        match command {
            Command::OpenAccount {
                account,
                kind,
                accepts: _,
            } => {
                let expect = if account.0 == 0 {
                    Err(Rejection::AccountIdInvalid)
                } else if self.accounts.contains_key(account) {
                    Err(Rejection::AccountExists { account: *account })
                } else {
                    self.accounts.insert(
                        *account,
                        MAccount {
                            kind: *kind,
                            state: AccountState::Active,
                            bal: Bal::default(),
                        },
                    );
                    Ok(Applied::AccountOpened)
                };
                assert_eq!(result, &expect, "{command:?}");
            }
            Command::SetAccountState { account, state } => {
                let expect = match self.accounts.get_mut(account) {
                    None => Err(Rejection::AccountNotFound { account: *account }),
                    Some(a) if a.state == AccountState::Closed => {
                        Err(Rejection::AccountClosed { account: *account })
                    }
                    Some(a) if *state == AccountState::Closed && a.bal != Bal::default() => {
                        Err(Rejection::AccountNotEmpty { account: *account })
                    }
                    Some(a) => {
                        a.state = *state;
                        Ok(Applied::AccountStateChanged)
                    }
                };
                assert_eq!(result, &expect, "{command:?}");
            }
            Command::SetAccepts { merchant, .. } => {
                let ok = self
                    .accounts
                    .get(&merchant.account())
                    .is_some_and(|a| a.kind == AccountKind::Merchant);
                assert_eq!(result.is_ok(), ok, "{command:?} -> {result:?}");
            }
            Command::Transfer(t) => match result {
                Ok(Applied::Transfer { id, status, amount }) => {
                    self.transfer(t, *id, *status, Some(*amount), now);
                }
                Ok(other) => panic!("{command:?} -> {other:?}"),
                Err(_) => {}
            },
            Command::Linked(ts) | Command::Migrated { transfers: ts, .. } => match result {
                Ok(Applied::Linked { first, count }) => {
                    assert_eq!(usize::from(*count), ts.len());
                    assert_eq!(first.0, self.next_id);
                    for (i, t) in ts.iter().enumerate() {
                        let status = match t.mode {
                            Mode::Posted => TransferStatus::Posted,
                            Mode::Pending { .. } => TransferStatus::Pending,
                        };
                        self.transfer(t, TransferId(first.0 + i as u64), status, None, now);
                    }
                }
                Ok(other) => panic!("{command:?} -> {other:?}"),
                Err(Rejection::LinkedEmpty) => {
                    assert!(ts.is_empty() && matches!(command, Command::Linked(_)));
                }
                Err(Rejection::LinkedTooLong { max }) => {
                    assert!(ts.len() > usize::from(*max));
                }
                Err(Rejection::LinkedFailed { index, .. }) => {
                    assert!(usize::from(*index) < ts.len());
                }
                Err(other) => panic!("{command:?} -> {other:?}"),
            },
            Command::PostPending { pending, amount } => {
                let Some(p) = self.pendings.get(pending) else {
                    assert_eq!(result, &Err(self.lookup_failure(*pending)), "{command:?}");
                    return;
                };
                assert!(
                    p.deadline > now,
                    "pending {pending} is live at or after its deadline {:?} (now {now:?})",
                    p.deadline
                );
                let posted = amount.unwrap_or(p.amount);
                if !(won_valid(posted) && posted <= p.amount) {
                    assert!(result.is_err(), "{command:?} -> {result:?}");
                    return;
                }
                // No money moves through a frozen (or closed) account, not even a hold
                // approved before the freeze.
                let blocked = [p.debit, p.credit].into_iter().find_map(|acc| {
                    match self.accounts.get(&acc).map(|a| a.state) {
                        Some(AccountState::Frozen) => {
                            Some(Rejection::AccountFrozen { account: acc })
                        }
                        Some(AccountState::Closed) => {
                            Some(Rejection::AccountClosed { account: acc })
                        }
                        _ => None,
                    }
                });
                if let Some(rejection) = blocked {
                    assert_eq!(result, &Err(rejection), "{command:?}");
                    return;
                }
                assert_eq!(
                    result,
                    &Ok(Applied::PendingPosted {
                        id: *pending,
                        amount: posted
                    }),
                    "a live pending must post with a valid amount"
                );
                let p = self.end_pending(*pending, PendingEnd::Posted, now);
                let a = i128::from(posted.get());
                self.bal(p.debit).balance -= a;
                self.bal(p.credit).balance += a;
                if p.kind == TransferKind::Payment {
                    self.record_payment(*pending, p.debit, p.credit, posted, now);
                }
            }
            Command::VoidPending { pending } => {
                if self.pendings.contains_key(pending) {
                    assert_eq!(result, &Ok(Applied::PendingVoided { id: *pending }));
                    self.end_pending(*pending, PendingEnd::Voided, now);
                } else {
                    assert_eq!(result, &Err(self.lookup_failure(*pending)), "{command:?}");
                }
            }
            Command::Halt { .. } => {
                assert_eq!(result, &Ok(Applied::Halted));
                self.halted = true;
            }
            Command::Resume { .. } => {
                if self.halted {
                    assert_eq!(result, &Ok(Applied::Resumed));
                    self.halted = false;
                    // What came due while halted expires on the resume.
                    self.expire_due(now);
                } else {
                    assert_eq!(result, &Err(Rejection::NotHalted));
                }
            }
            // This model covers the plain ledger; scheme rules have their own
            // properties (`tests/scheme_properties.rs`).
            Command::Scheme(_) => unreachable!("the plain model generates no scheme commands"),
        }
    }

    /// One applied transfer (alone or in a linked group).
    fn transfer(
        &mut self,
        t: &Transfer,
        id: TransferId,
        status: TransferStatus,
        reported: Option<Won>,
        now: Timestamp,
    ) {
        assert_eq!(id.0, self.next_id, "transfer ids are consecutive");
        self.next_id += 1;
        let kind = t.spec.kind();
        let deadline = match t.mode {
            Mode::Posted => {
                assert_eq!(status, TransferStatus::Posted);
                None
            }
            Mode::Pending { timeout_us } => {
                assert_eq!(status, TransferStatus::Pending);
                assert!(kind.may_be_pending(), "{t:?}");
                assert!(timeout_us > 0 && timeout_us <= self.config.pending_timeout_max_us);
                Some(now.plus_micros(timeout_us))
            }
        };
        let (debit, credit, amount) = match &t.spec {
            TransferSpec::Charge {
                reserve,
                wallet,
                amount,
                ..
            } => (reserve.account(), wallet.account(), *amount),
            TransferSpec::Subsidy {
                budget,
                wallet,
                amount,
                ..
            }
            | TransferSpec::Cashback {
                budget,
                wallet,
                amount,
                ..
            }
            | TransferSpec::Allowance {
                budget,
                wallet,
                amount,
                ..
            } => (budget.account(), wallet.account(), *amount),
            TransferSpec::BudgetFunding {
                reserve,
                budget,
                amount,
            } => (reserve.account(), budget.account(), *amount),
            TransferSpec::Payment {
                payer,
                merchant,
                amount,
            } => (payer.account(), merchant.account(), *amount),
            TransferSpec::PaymentRefund { payment, amount } => {
                let p = self
                    .payments
                    .get_mut(payment)
                    .unwrap_or_else(|| panic!("refund of {payment}, not a retained payment"));
                let left = p.amount.checked_sub(p.refunded).expect("no overflow");
                assert!(
                    *amount <= left,
                    "refund {amount:?} of {payment} exceeds {left:?}"
                );
                p.refunded = p.refunded.checked_add(*amount).expect("no overflow");
                (p.merchant, p.payer, *amount)
            }
            TransferSpec::Gift {
                sender,
                recipient,
                amount,
                ..
            } => (sender.account(), recipient.account(), *amount),
            TransferSpec::Redemption {
                merchant,
                clearing,
                amount,
            } => (merchant.account(), clearing.account(), *amount),
            TransferSpec::Settlement {
                clearing,
                reserve,
                amount,
            } => (clearing.account(), reserve.account(), *amount),
            TransferSpec::CashRefund {
                wallet,
                clearing,
                amount,
                ..
            } => (wallet.account(), clearing.account(), *amount),
            TransferSpec::SubsidyReturn {
                wallet,
                budget,
                amount,
                ..
            } => (wallet.account(), budget.account(), *amount),
            TransferSpec::Expiry { wallet, reserve } => {
                let amount = reported.expect("an expiry reports its amount");
                assert!(amount.is_positive());
                (wallet.account(), reserve.account(), amount)
            }
            TransferSpec::Fee {
                merchant,
                fees,
                amount,
            } => (merchant.account(), fees.account(), *amount),
            TransferSpec::Correction {
                debit,
                credit,
                amount,
                ..
            } => (*debit, *credit, *amount),
        };
        if let Some(r) = reported {
            assert_eq!(r, amount, "{t:?}");
        }
        if kind != TransferKind::Expiry {
            assert!(won_valid(amount), "applied with amount {amount:?}: {t:?}");
        }
        assert_ne!(debit, credit, "{t:?}");
        let (want_debit, want_credit) = kind.legs();
        for (acc, want) in [(debit, want_debit), (credit, want_credit)] {
            let a = self
                .accounts
                .get(&acc)
                .unwrap_or_else(|| panic!("{t:?} applied with unknown {acc}"));
            if let Some(want) = want {
                assert_eq!(a.kind, want, "{t:?} applied to {acc} of the wrong kind");
            }
            let open = a.state == AccountState::Active
                || (a.state == AccountState::Frozen && kind == TransferKind::Correction);
            assert!(open, "{t:?} applied to {acc} in state {:?}", a.state);
        }
        let a = i128::from(amount.get());
        match deadline {
            None => {
                self.bal(debit).balance -= a;
                self.bal(credit).balance += a;
                if kind == TransferKind::Payment {
                    self.record_payment(id, debit, credit, amount, now);
                }
            }
            Some(deadline) => {
                self.bal(debit).debits_pending += a;
                self.bal(credit).credits_pending += a;
                self.pendings.insert(
                    id,
                    MPending {
                        kind,
                        debit,
                        credit,
                        amount,
                        deadline,
                    },
                );
                self.created_pendings.push(id);
            }
        }
    }

    /// Property 4 (and 6): the model agrees with the ledger.
    fn compare(&self, ledger: &Ledger) {
        assert_eq!(
            ledger.accounts().len(),
            self.accounts.len(),
            "account count"
        );
        for a in ledger.accounts() {
            let m = &self.accounts[&a.id];
            assert_eq!(a.kind, m.kind, "{}", a.id);
            assert_eq!(a.state, m.state, "{}", a.id);
            let got = Bal {
                balance: i128::from(a.balance().expect("balance").get()),
                debits_pending: i128::from(a.debits_pending.get()),
                credits_pending: i128::from(a.credits_pending.get()),
            };
            assert_eq!(got, m.bal, "balances of {}", a.id);
        }
        assert_eq!(
            ledger.pendings().count(),
            self.pendings.len(),
            "pending count"
        );
        for (id, m) in &self.pendings {
            let p = ledger
                .pending(*id)
                .unwrap_or_else(|| panic!("pending {id} missing"));
            assert_eq!(
                (p.kind, p.debit, p.credit, p.amount, p.deadline),
                (m.kind, m.debit, m.credit, m.amount, m.deadline),
                "pending {id}"
            );
        }
        for id in &self.created_pendings {
            assert_eq!(
                ledger.pending(*id).is_some(),
                self.pendings.contains_key(id)
            );
        }
        for (id, m) in &self.payments {
            let p = ledger
                .payment(*id)
                .unwrap_or_else(|| panic!("payment {id} missing"));
            assert_eq!(
                (p.payer, p.merchant, p.amount, p.refunded),
                (m.payer, m.merchant, m.amount, m.refunded),
                "payment {id}"
            );
        }
        let r = ledger.retained();
        assert_eq!(r.payments, self.payments.len(), "retained payments");
        assert_eq!(
            r.ended_pendings,
            self.ended.len(),
            "retained ended pendings"
        );
        assert_eq!(r.idempotency_keys, self.idem.len(), "retained keys");
        assert_eq!(ledger.halted().is_some(), self.halted, "halt");
        assert_eq!(ledger.next_transfer_id(), TransferId(self.next_id));

        // Property 6, on the ledger and on the model.
        let mut by_kind: BTreeMap<AccountKind, i128> = BTreeMap::new();
        for a in ledger.accounts() {
            *by_kind.entry(a.kind).or_default() += i128::from(a.balance().expect("balance").get());
        }
        let issued = -by_kind
            .get(&AccountKind::IssuerReserve)
            .copied()
            .unwrap_or(0);
        let held: i128 = by_kind
            .iter()
            .filter(|(k, _)| **k != AccountKind::IssuerReserve)
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(issued, held, "issued vs held by kind: {by_kind:?}");
        for (k, v) in &by_kind {
            if *k != AccountKind::IssuerReserve {
                assert!(*v >= 0, "{k:?} holds {v} in total");
            }
        }
        let model_total: i128 = self.accounts.values().map(|a| a.bal.balance).sum();
        assert_eq!(model_total, 0);
    }
}

// ----- resolving generated ops into envelopes ---------------------------------------------

struct Resolver {
    next_key: u128,
    history: Vec<Envelope>,
}

impl Resolver {
    fn envelope(&mut self, command: Command) -> Envelope {
        self.next_key += 1;
        Envelope {
            client: ClientId(1 + (self.next_key % 3) as u64),
            key: IdempotencyKey(self.next_key),
            command,
        }
    }

    fn pending_id(&self, m: &Model, p: Pick) -> TransferId {
        let live: Vec<TransferId> = m.pendings.keys().copied().collect();
        match p.sel % 10 {
            0..=6 if !live.is_empty() => live[p.idx % live.len()],
            0..=8 if !m.created_pendings.is_empty() => {
                m.created_pendings[p.idx % m.created_pendings.len()]
            }
            _ => TransferId((p.idx as u64) % (m.next_id + 3)),
        }
    }

    fn payment_id(&self, m: &Model, p: Pick) -> TransferId {
        let live: Vec<TransferId> = m.payments.keys().copied().collect();
        match p.sel % 10 {
            0..=7 if !live.is_empty() => live[p.idx % live.len()],
            0..=8 if !m.created_payments.is_empty() => {
                m.created_payments[p.idx % m.created_payments.len()]
            }
            _ => TransferId((p.idx as u64) % (m.next_id + 3)),
        }
    }

    fn transfer(&self, m: &Model, t: &TransferOp, now: Timestamp) -> Transfer {
        let lot = |exp: Exp, tag: u16| LotSpec {
            tag,
            expires_at: match exp {
                Exp::Never => Timestamp::MAX,
                Exp::Ago(x) => now.minus_micros(x),
                Exp::In(x) => now.plus_micros(x),
            },
        };
        let w = WalletId::new;
        let mer = MerchantId::new;
        let srcs = |b: u8| SourceSet::from_bits(b & 0b1_1111).expect("valid bits");
        let spec = match t.op.clone() {
            TOp::Charge {
                r,
                w: wl,
                amt,
                exp,
                tag,
            } => TransferSpec::Charge {
                reserve: ReserveId::new(r),
                wallet: w(wl),
                amount: Won::new(amt),
                lot: lot(exp, tag),
            },
            TOp::FromBudget {
                which,
                b,
                w: wl,
                amt,
                exp,
                tag,
            } => {
                let (budget, wallet, amount, lot) =
                    (BudgetId::new(b), w(wl), Won::new(amt), lot(exp, tag));
                match which {
                    0 => TransferSpec::Subsidy {
                        budget,
                        wallet,
                        amount,
                        lot,
                    },
                    1 => TransferSpec::Cashback {
                        budget,
                        wallet,
                        amount,
                        lot,
                    },
                    _ => TransferSpec::Allowance {
                        budget,
                        wallet,
                        amount,
                        lot,
                    },
                }
            }
            TOp::Funding { r, b, amt } => TransferSpec::BudgetFunding {
                reserve: ReserveId::new(r),
                budget: BudgetId::new(b),
                amount: Won::new(amt),
            },
            TOp::Payment { w: wl, m: mr, amt } => TransferSpec::Payment {
                payer: w(wl),
                merchant: mer(mr),
                amount: Won::new(amt),
            },
            TOp::Refund { pick, part } => {
                let payment = self.payment_id(m, pick);
                let left = m
                    .payments
                    .get(&payment)
                    .map(|p| p.amount.get() - p.refunded.get());
                let amount = match (part, left) {
                    (Part::Raw(a), _) => a,
                    (_, None) => 100,
                    (Part::Full | Part::Exact, Some(l)) => l,
                    (Part::Percent(pc), Some(l)) => (l * i64::from(pc) / 100).max(1),
                    (Part::TooMuch, Some(l)) => l + 1,
                };
                TransferSpec::PaymentRefund {
                    payment,
                    amount: Won::new(amount),
                }
            }
            TOp::Gift {
                from,
                to,
                amt,
                sources,
            } => TransferSpec::Gift {
                sender: w(from),
                recipient: w(to),
                amount: Won::new(amt),
                sources: srcs(sources),
            },
            TOp::Redemption { m: mr, c, amt } => TransferSpec::Redemption {
                merchant: mer(mr),
                clearing: ClearingId::new(c),
                amount: Won::new(amt),
            },
            TOp::Settlement { c, r, amt } => TransferSpec::Settlement {
                clearing: ClearingId::new(c),
                reserve: ReserveId::new(r),
                amount: Won::new(amt),
            },
            TOp::CashRefund {
                w: wl,
                c,
                amt,
                sources,
            } => TransferSpec::CashRefund {
                wallet: w(wl),
                clearing: ClearingId::new(c),
                amount: Won::new(amt),
                sources: srcs(sources),
            },
            TOp::SubsidyReturn {
                w: wl,
                b,
                amt,
                sources,
            } => TransferSpec::SubsidyReturn {
                wallet: w(wl),
                budget: BudgetId::new(b),
                amount: Won::new(amt),
                sources: srcs(sources),
            },
            TOp::Expiry { w: wl, r } => TransferSpec::Expiry {
                wallet: w(wl),
                reserve: ReserveId::new(r),
            },
            TOp::Fee { m: mr, f, amt } => TransferSpec::Fee {
                merchant: mer(mr),
                fees: FeeId::new(f),
                amount: Won::new(amt),
            },
            TOp::Correction { d, c, amt, exp } => TransferSpec::Correction {
                debit: AccountId(d),
                credit: AccountId(c),
                amount: Won::new(amt),
                auditor: text("auditor kim"),
                reason: text("misposted voucher"),
                lot: lot(exp, 7),
            },
        };
        Transfer {
            spec,
            mode: match t.timeout {
                None => Mode::Posted,
                Some(timeout_us) => Mode::Pending { timeout_us },
            },
        }
    }

    fn batch(&mut self, m: &Model, ops: &[Op], now: Timestamp) -> Vec<Envelope> {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let env = match op {
                Op::T(t) => self.envelope(Command::Transfer(self.transfer(m, t, now))),
                Op::Linked(ts) => {
                    let group: Vec<Transfer> =
                        ts.iter().map(|t| self.transfer(m, t, now)).collect();
                    // A third of the groups as migrated value (the same group with a
                    // provenance note; empty, a statement).
                    if ts.len() % 3 == 0 {
                        self.envelope(Command::Migrated {
                            note: ledger::Text::new("legacy dump.csv:2 id=X").expect("text"),
                            transfers: group,
                        })
                    } else {
                        self.envelope(Command::Linked(group))
                    }
                }
                Op::LinkedTooLong => {
                    let one = Transfer::posted(TransferSpec::Charge {
                        reserve: ReserveId::new(RESERVE),
                        wallet: WalletId::new(WALLETS[0]),
                        amount: Won::new(1),
                        lot: LotSpec {
                            tag: 0,
                            expires_at: Timestamp::MAX,
                        },
                    });
                    let n = usize::from(LINKED_TRANSFERS_MAX) + 1;
                    self.envelope(Command::Linked(vec![one; n]))
                }
                Op::Post { pick, part } => {
                    let pending = self.pending_id(m, *pick);
                    let full = m.pendings.get(&pending).map(|p| p.amount.get());
                    let amount = match (part, full) {
                        (Part::Full, _) => None,
                        (Part::Raw(a), _) => Some(*a),
                        (_, None) => Some(1),
                        (Part::Exact, Some(f)) => Some(f),
                        (Part::Percent(pc), Some(f)) => Some((f * i64::from(*pc) / 100).max(1)),
                        (Part::TooMuch, Some(f)) => Some(f + 1),
                    };
                    self.envelope(Command::PostPending {
                        pending,
                        amount: amount.map(Won::new),
                    })
                }
                Op::Void { pick } => {
                    let pending = self.pending_id(m, *pick);
                    self.envelope(Command::VoidPending { pending })
                }
                Op::SetState { acc, state } => self.envelope(Command::SetAccountState {
                    account: AccountId(*acc),
                    state: AccountState::from_u8(*state).expect("state"),
                }),
                Op::SetAccepts { m: mr, bits } => self.envelope(Command::SetAccepts {
                    merchant: MerchantId::new(*mr),
                    accepts: SourceSet::from_bits(*bits & 0b1_1111).expect("bits"),
                }),
                Op::Open { acc, kind, bits } => self.envelope(Command::OpenAccount {
                    account: AccountId(*acc),
                    kind: AccountKind::from_u8(*kind).expect("kind"),
                    accepts: SourceSet::from_bits(*bits & 0b1_1111).expect("bits"),
                }),
                Op::Halt => self.envelope(Command::Halt {
                    operator: text("operator park"),
                    reason: text("drill"),
                }),
                Op::Resume => self.envelope(Command::Resume {
                    operator: text("operator park"),
                }),
                Op::Retry { idx } if !self.history.is_empty() => {
                    self.history[idx % self.history.len()].clone()
                }
                Op::Reuse { idx, t } if !self.history.is_empty() => {
                    let first = &self.history[idx % self.history.len()];
                    Envelope {
                        client: first.client,
                        key: first.key,
                        command: Command::Transfer(self.transfer(m, t, now)),
                    }
                }
                Op::Retry { .. } | Op::Reuse { .. } => continue,
            };
            self.history.push(env.clone());
            out.push(env);
        }
        out
    }
}

// ----- property 2 ----------------------------------------------------------------------------

/// Everything that decides money, for "nothing changed" comparisons (the idempotency
/// store is left out: a rejected command is remembered under its key).
#[derive(Debug, PartialEq)]
struct View {
    hash: StateHash,
    accounts: Vec<Account>,
    pendings: Vec<PendingTransfer>,
    payments: Vec<(TransferId, PaymentRecord)>,
    halted: Option<Halt>,
    next_transfer_id: TransferId,
    ended_pendings: usize,
    payment_count: usize,
}

fn view(l: &Ledger) -> View {
    let mut pendings: Vec<PendingTransfer> = l.pendings().cloned().collect();
    pendings.sort_by_key(|p| p.id);
    let payments = (0..l.next_transfer_id().0)
        .filter_map(|n| l.payment(TransferId(n)).map(|p| (TransferId(n), p.clone())))
        .collect();
    View {
        hash: l.state_hash(),
        accounts: l.accounts().to_vec(),
        pendings,
        payments,
        halted: l.halted().cloned(),
        next_transfer_id: l.next_transfer_id(),
        ended_pendings: l.retained().ended_pendings,
        payment_count: l.retained().payments,
    }
}

fn snapshot(l: &Ledger) -> Vec<u8> {
    let mut out = Vec::new();
    codec::put_ledger(&mut out, l);
    out
}

fn restore(bytes: &[u8]) -> Ledger {
    let mut r = Reader::new(bytes);
    let l = codec::get_ledger(&mut r).expect("snapshot decodes");
    assert!(r.is_empty(), "snapshot has trailing bytes");
    l
}

fn check_batch_invariants(l: &Ledger, report: &BatchReport, what: &str) {
    assert_eq!(report.violation, None, "{what}: invariant violation");
    if let Err(e) = l.check_all() {
        panic!("{what}: check_all: {e}");
    }
}

/// Property 2: each command alone, on a copy of the ledger at the batch's start.
fn check_alone(snap: &[u8], batch: &[Envelope], now: Timestamp) {
    let mut base = restore(snap);
    let (_, report) = base.apply(&[], now);
    check_batch_invariants(&base, &report, "empty batch");
    let baseline = view(&base);
    for env in batch {
        let mut l = restore(snap);
        let (outs, report) = l.apply(std::slice::from_ref(env), now);
        check_batch_invariants(&l, &report, "batch of one");
        let out = &outs[0];
        if out.repeated || out.result.is_err() {
            let after = view(&l);
            assert!(
                after == baseline,
                "{env:?} -> {out:?} changed the ledger:\nbefore {baseline:#?}\nafter {after:#?}"
            );
        }
    }
}

// ----- the run ---------------------------------------------------------------------------

struct Run {
    stream: Vec<(Timestamp, Vec<Envelope>)>,
    outcomes: Vec<Vec<Outcome>>,
    reports: Vec<BatchReport>,
    hashes: Vec<StateHash>,
    snapshot_at: usize,
    snapshot: Vec<u8>,
}

fn run(batches: &[BatchOps], snap_index: prop::sample::Index) -> Run {
    let mut ledger = Ledger::new(LedgerConfig::default());
    let mut model = Model::new();
    let mut resolver = Resolver {
        next_key: 0,
        history: Vec::new(),
    };
    let snapshot_at = snap_index.index(batches.len() + 1);
    let mut run = Run {
        stream: Vec::new(),
        outcomes: Vec::new(),
        reports: Vec::new(),
        hashes: Vec::new(),
        snapshot_at,
        snapshot: Vec::new(),
    };
    let mut now = T0;
    let first = genesis();
    let steps = std::iter::once((0, None)).chain(batches.iter().map(|b| (b.step_us, Some(b))));
    for (i, (step, ops)) in steps.enumerate() {
        now += step;
        let ts = Timestamp::from_micros(now);
        let batch = match ops {
            None => first
                .iter()
                .cloned()
                .map(|c| resolver.envelope(c))
                .collect(),
            Some(b) => resolver.batch(&model, &b.ops, ts),
        };

        let before = snapshot(&ledger);
        check_alone(&before, &batch, ts);

        model.start_batch(ts);
        let (outs, report) = ledger.apply(&batch, ts);
        check_batch_invariants(&ledger, &report, "stream");
        assert_eq!(report.timestamp, ts);
        assert_eq!(outs.len(), batch.len());
        for (env, out) in batch.iter().zip(&outs) {
            model.outcome(env, out, ts);
        }
        assert_eq!(
            report.pendings_expired, model.expired_in_batch,
            "pendings expired at {ts:?}"
        );
        model.compare(&ledger);

        run.stream.push((ts, batch));
        run.outcomes.push(outs);
        run.reports.push(report);
        run.hashes.push(ledger.state_hash());
        if i == snapshot_at {
            run.snapshot = snapshot(&ledger);
        }
    }
    run
}

/// Property 5.
fn check_replays(run: &Run) {
    // A fresh ledger, same batches.
    let mut fresh = Ledger::new(LedgerConfig::default());
    for (i, (ts, batch)) in run.stream.iter().enumerate() {
        let (outs, report) = fresh.apply(batch, *ts);
        assert_eq!(outs, run.outcomes[i], "replay outcomes, batch {i}");
        assert_eq!(report, run.reports[i], "replay report, batch {i}");
        assert_eq!(fresh.state_hash(), run.hashes[i], "replay hash, batch {i}");
        if i == run.snapshot_at {
            assert!(snapshot(&fresh) == run.snapshot, "snapshot bytes differ");
        }
    }

    // Batches and outcomes through their codec bytes.
    let mut decoded = Ledger::new(LedgerConfig::default());
    for (i, (ts, batch)) in run.stream.iter().enumerate() {
        let mut bytes = Vec::new();
        for env in batch {
            codec::put_envelope(&mut bytes, env);
        }
        let mut r = Reader::new(&bytes);
        let mut envs = Vec::new();
        while !r.is_empty() {
            envs.push(codec::get_envelope(&mut r).expect("envelope decodes"));
        }
        assert_eq!(&envs, batch, "envelope round trip, batch {i}");
        let mut bytes = Vec::new();
        for out in &run.outcomes[i] {
            codec::put_outcome(&mut bytes, out);
        }
        let mut r = Reader::new(&bytes);
        let mut want = Vec::new();
        while !r.is_empty() {
            want.push(codec::get_outcome(&mut r).expect("outcome decodes"));
        }
        assert_eq!(want, run.outcomes[i], "outcome round trip, batch {i}");
        let (outs, _) = decoded.apply(&envs, *ts);
        assert_eq!(outs, want, "decoded replay outcomes, batch {i}");
        assert_eq!(
            decoded.state_hash(),
            run.hashes[i],
            "decoded replay hash, batch {i}"
        );
    }

    // Continuing from a snapshot.
    let k = run.snapshot_at;
    let mut cont = restore(&run.snapshot);
    assert_eq!(cont.state_hash(), run.hashes[k], "restored hash");
    assert!(
        snapshot(&cont) == run.snapshot,
        "re-encoded snapshot differs"
    );
    for (i, (ts, batch)) in run.stream.iter().enumerate().skip(k + 1) {
        let (outs, report) = cont.apply(batch, *ts);
        assert_eq!(outs, run.outcomes[i], "outcomes after snapshot, batch {i}");
        assert_eq!(report, run.reports[i], "report after snapshot, batch {i}");
        assert_eq!(
            cont.state_hash(),
            run.hashes[i],
            "hash after snapshot, batch {i}"
        );
    }
    cont.check_all().expect("invariants after snapshot replay");
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    ProptestConfig {
        cases,
        // Next to this file: `tests/properties.proptest-regressions`.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_command_streams(
        batches in prop::collection::vec(batch_ops(), 1..32),
        snap in any::<prop::sample::Index>(),
    ) {
        let run = run(&batches, snap);
        check_replays(&run);
    }
}

/// The shrunk case of the one bug these properties found: a pending transfer that came
/// due while the currency was halted was not expired by the batch that resumed it (that
/// batch started halted), so a post later in the same batch moved money after the
/// deadline. Resuming now expires what came due.
#[test]
fn resume_expires_what_came_due_while_halted() {
    let mut ledger = Ledger::new(LedgerConfig::default());
    let mut resolver = Resolver {
        next_key: 0,
        history: Vec::new(),
    };
    let mut at = |us: u64, cmds: Vec<Command>| {
        let batch: Vec<Envelope> = cmds.into_iter().map(|c| resolver.envelope(c)).collect();
        let (outs, report) = ledger.apply(&batch, Timestamp::from_micros(T0 + us));
        check_batch_invariants(&ledger, &report, "regression");
        (outs, report)
    };
    at(0, genesis());
    let charge = Transfer::pending(
        TransferSpec::Charge {
            reserve: ReserveId::new(RESERVE),
            wallet: WalletId::new(WALLETS[0]),
            amount: Won::new(1),
            lot: LotSpec {
                tag: 0,
                expires_at: Timestamp::MAX,
            },
        },
        1,
    );
    let halt = Command::Halt {
        operator: text("operator park"),
        reason: text("drill"),
    };
    let (outs, _) = at(0, vec![Command::Transfer(charge), halt]);
    let Ok(Applied::Transfer { id, .. }) = outs[0].result else {
        panic!("{outs:?}");
    };
    let resume = Command::Resume {
        operator: text("operator park"),
    };
    let post = Command::PostPending {
        pending: id,
        amount: None,
    };
    let (outs, report) = at(1, vec![resume, post]);
    assert_eq!(outs[0].result, Ok(Applied::Resumed));
    assert_eq!(
        outs[1].result,
        Err(Rejection::PendingAlreadyEnded {
            id,
            end: PendingEnd::Expired
        })
    );
    assert_eq!(report.pendings_expired, 1);
    assert!(ledger.pending(id).is_none());
}

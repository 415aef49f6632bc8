//! One example of every command, transfer kind, scheme command, answer and rejection,
//! as the journal writes them: the golden-bytes test pins their encodings and the
//! decoder properties mutate them.
//!
//! Exhaustive by construction where the compiler can say so: rejections and transfer
//! kinds are built by a `match` over their code or kind with no wildcard, so a new one
//! does not compile until it has an example here; commands and answers are named by
//! matches with no wildcard (a new variant does not compile until it is named), and the
//! golden test checks at run time that every variant has an example (serde's list of
//! variant names for the scheme enums, the tag numbers for the hand-encoded ones).

#![allow(dead_code, clippy::expect_used)]

use engine::CurrencyCode;
use engine::record::{self, RecordBody, RulesRecord};
use engine::replay::{self, Writer};
use ledger::codec;
use ledger::scheme::{
    AnnualRevenue, AutoChargeResult, AutoChargeSetting, BirthYearParity, CashbackNote,
    SchemeApplied, SchemeCommand, SchemeConfig, SuspendReason,
};
use ledger::*;

pub const BUSAN: &str = include_str!("../golden/scheme.toml");

/// The scheme every `SetScheme` example carries: a frozen copy of the Busan-like file
/// (`tests/golden/scheme.toml`), so that editing `schemes/` never changes a golden entry.
pub fn scheme_config() -> SchemeConfig {
    SchemeConfig::from_toml(BUSAN).expect("the Busan-like scheme file is valid")
}

pub fn text(s: &str) -> Text {
    Text::new(s).expect("example text is valid")
}

const LOT: LotSpec = LotSpec {
    tag: 7,
    expires_at: Timestamp::from_micros(1_800_000_000_000_000),
};

/// The transfer each kind is shown with. A new kind does not compile until it has one.
pub fn transfer_example(kind: TransferKind) -> TransferSpec {
    let amount = Won::new(12_345);
    let sources = SourceSet::of(&[Source::Purchased, Source::Gift]);
    match kind {
        TransferKind::Charge => TransferSpec::Charge {
            reserve: ReserveId::new(1),
            wallet: WalletId::new(1_001),
            amount,
            lot: LOT,
        },
        TransferKind::Subsidy => TransferSpec::Subsidy {
            budget: BudgetId::new(2),
            wallet: WalletId::new(1_001),
            amount,
            lot: LOT,
        },
        TransferKind::Cashback => TransferSpec::Cashback {
            budget: BudgetId::new(2),
            wallet: WalletId::new(1_001),
            amount,
            lot: LOT,
        },
        TransferKind::Allowance => TransferSpec::Allowance {
            budget: BudgetId::new(2),
            wallet: WalletId::new(1_001),
            amount,
            lot: LOT,
        },
        TransferKind::BudgetFunding => TransferSpec::BudgetFunding {
            reserve: ReserveId::new(1),
            budget: BudgetId::new(2),
            amount,
        },
        TransferKind::Payment => TransferSpec::Payment {
            payer: WalletId::new(1_001),
            merchant: MerchantId::new(2_001),
            amount,
        },
        TransferKind::PaymentRefund => TransferSpec::PaymentRefund {
            payment: TransferId(42),
            amount,
        },
        TransferKind::Gift => TransferSpec::Gift {
            sender: WalletId::new(1_001),
            recipient: WalletId::new(1_002),
            amount,
            sources,
        },
        TransferKind::Redemption => TransferSpec::Redemption {
            merchant: MerchantId::new(2_001),
            clearing: ClearingId::new(3),
            amount,
        },
        TransferKind::Settlement => TransferSpec::Settlement {
            clearing: ClearingId::new(3),
            reserve: ReserveId::new(1),
            amount,
        },
        TransferKind::CashRefund => TransferSpec::CashRefund {
            wallet: WalletId::new(1_001),
            clearing: ClearingId::new(3),
            amount,
            sources,
        },
        TransferKind::SubsidyReturn => TransferSpec::SubsidyReturn {
            wallet: WalletId::new(1_001),
            budget: BudgetId::new(2),
            amount,
            sources,
        },
        TransferKind::Expiry => TransferSpec::Expiry {
            wallet: WalletId::new(1_001),
            reserve: ReserveId::new(1),
        },
        TransferKind::Fee => TransferSpec::Fee {
            merchant: MerchantId::new(2_001),
            fees: FeeId::new(6),
            amount,
        },
        TransferKind::Correction => TransferSpec::Correction {
            debit: AccountId(1),
            credit: AccountId(1_001),
            amount,
            auditor: text("감사관 김"),
            reason: text("오류 정정"),
            lot: LOT,
        },
    }
}

/// The name of a command's variant. No wildcard: a new command does not compile
/// until it is named here (and then the golden test asks for its example).
pub fn command_name(c: &Command) -> String {
    match c {
        Command::OpenAccount { .. } => "OpenAccount".into(),
        Command::SetAccountState { .. } => "SetAccountState".into(),
        Command::SetAccepts { .. } => "SetAccepts".into(),
        Command::Transfer(t) => format!("Transfer/{}/{}", t.spec.kind().as_str(), mode(t)),
        Command::Linked(ts) => format!("Linked/{}", ts.len()),
        Command::PostPending { amount: None, .. } => "PostPending/full".into(),
        Command::PostPending {
            amount: Some(_), ..
        } => "PostPending/part".into(),
        Command::VoidPending { .. } => "VoidPending".into(),
        Command::Halt { .. } => "Halt".into(),
        Command::Resume { .. } => "Resume".into(),
        Command::Scheme(s) => format!("Scheme/{}", scheme_command_name(s)),
        Command::Migrated { transfers, .. } => format!("Migrated/{}", transfers.len()),
    }
}

fn mode(t: &Transfer) -> &'static str {
    match t.mode {
        Mode::Posted => "posted",
        Mode::Pending { .. } => "pending",
    }
}

pub fn scheme_command_name(c: &SchemeCommand) -> &'static str {
    match c {
        SchemeCommand::SetScheme { .. } => "SetScheme",
        SchemeCommand::RegisterCitizen { .. } => "RegisterCitizen",
        SchemeCommand::SetMerchantProfile { .. } => "SetMerchantProfile",
        SchemeCommand::SuspendMerchant { .. } => "SuspendMerchant",
        SchemeCommand::ReinstateMerchant { .. } => "ReinstateMerchant",
        SchemeCommand::Purchase { .. } => "Purchase",
        SchemeCommand::ConfirmPurchase { .. } => "ConfirmPurchase",
        SchemeCommand::FailPurchase { .. } => "FailPurchase",
        SchemeCommand::CancelPurchase { .. } => "CancelPurchase",
        SchemeCommand::Pay { .. } => "Pay",
        SchemeCommand::RefundPayment { .. } => "RefundPayment",
        SchemeCommand::Gift { .. } => "Gift",
        SchemeCommand::RefundBalance { .. } => "RefundBalance",
        SchemeCommand::ConfirmRedemption { .. } => "ConfirmRedemption",
        SchemeCommand::SetAutoCharge { .. } => "SetAutoCharge",
        SchemeCommand::RecordAutoCharge { .. } => "RecordAutoCharge",
        SchemeCommand::WithdrawScheme { .. } => "WithdrawScheme",
    }
}

pub fn applied_name(a: &Applied) -> String {
    match a {
        Applied::AccountOpened => "AccountOpened".into(),
        Applied::AccountStateChanged => "AccountStateChanged".into(),
        Applied::AcceptsChanged => "AcceptsChanged".into(),
        Applied::Transfer { .. } => "Transfer".into(),
        Applied::Linked { .. } => "Linked".into(),
        Applied::PendingPosted { .. } => "PendingPosted".into(),
        Applied::PendingVoided { .. } => "PendingVoided".into(),
        Applied::Halted => "Halted".into(),
        Applied::Resumed => "Resumed".into(),
        Applied::Scheme(s) => format!("Scheme/{}", scheme_applied_name(s)),
    }
}

pub fn scheme_applied_name(a: &SchemeApplied) -> &'static str {
    match a {
        SchemeApplied::SchemeSet { .. } => "SchemeSet",
        SchemeApplied::CitizenRegistered => "CitizenRegistered",
        SchemeApplied::MerchantProfileSet { .. } => "MerchantProfileSet",
        SchemeApplied::MerchantSuspended => "MerchantSuspended",
        SchemeApplied::MerchantReinstated { .. } => "MerchantReinstated",
        SchemeApplied::Purchased { .. } => "Purchased",
        SchemeApplied::PurchaseConfirmed { .. } => "PurchaseConfirmed",
        SchemeApplied::PurchaseFailed { .. } => "PurchaseFailed",
        SchemeApplied::PurchaseCancelled { .. } => "PurchaseCancelled",
        SchemeApplied::Paid { .. } => "Paid",
        SchemeApplied::PaymentRefunded { .. } => "PaymentRefunded",
        SchemeApplied::Gifted { .. } => "Gifted",
        SchemeApplied::BalanceRefunded { .. } => "BalanceRefunded",
        SchemeApplied::RedemptionConfirmed { .. } => "RedemptionConfirmed",
        SchemeApplied::AutoChargeSet => "AutoChargeSet",
        SchemeApplied::AutoChargeRecorded => "AutoChargeRecorded",
        SchemeApplied::SchemeWithdrawn { .. } => "SchemeWithdrawn",
    }
}

/// The rejection each code is shown with. A new code does not compile until it has one.
pub fn rejection_example(code: RejectionCode) -> Rejection {
    use RejectionCode as C;
    let account = AccountId(1_001);
    let id = TransferId(42);
    let won = Won::new;
    match code {
        C::AmountNotPositive => Rejection::AmountNotPositive,
        C::AmountTooLarge => Rejection::AmountTooLarge,
        C::AccountNotFound => Rejection::AccountNotFound { account },
        C::AccountExists => Rejection::AccountExists { account },
        C::AccountIdInvalid => Rejection::AccountIdInvalid,
        C::AccountKindMismatch => Rejection::AccountKindMismatch {
            account,
            expected: AccountKind::CitizenWallet,
            actual: AccountKind::Merchant,
        },
        C::AccountFrozen => Rejection::AccountFrozen { account },
        C::AccountClosed => Rejection::AccountClosed { account },
        C::AccountNotEmpty => Rejection::AccountNotEmpty { account },
        C::SameAccount => Rejection::SameAccount,
        C::InsufficientFunds => Rejection::InsufficientFunds {
            account,
            available: won(5),
            requested: won(9),
        },
        C::InsufficientEligibleFunds => Rejection::InsufficientEligibleFunds {
            account,
            eligible: won(5),
            requested: won(9),
        },
        C::PendingNotAllowed => Rejection::PendingNotAllowed {
            kind: TransferKind::Expiry,
        },
        C::PendingTimeoutInvalid => Rejection::PendingTimeoutInvalid,
        C::TooManyPending => Rejection::TooManyPending { max: 1_000_000 },
        C::PendingNotFound => Rejection::PendingNotFound { id },
        C::PendingAlreadyEnded => Rejection::PendingAlreadyEnded {
            id,
            end: PendingEnd::Expired,
        },
        C::PostExceedsPending => Rejection::PostExceedsPending {
            id,
            pending: won(100),
        },
        C::PaymentNotFound => Rejection::PaymentNotFound { payment: id },
        C::RefundExceedsPayment => Rejection::RefundExceedsPayment {
            payment: id,
            refundable: won(100),
        },
        C::NothingToExpire => Rejection::NothingToExpire {
            account,
            at: Timestamp::from_micros(1_773_104_400_000_000),
        },
        C::IdempotencyKeyReused => Rejection::IdempotencyKeyReused,
        C::LinkedEmpty => Rejection::LinkedEmpty,
        C::LinkedTooLong => Rejection::LinkedTooLong { max: 64 },
        C::LinkedFailed => Rejection::LinkedFailed {
            index: 1,
            cause: Box::new(Rejection::InsufficientFunds {
                account,
                available: won(5),
                requested: won(9),
            }),
        },
        C::CurrencyHalted => Rejection::CurrencyHalted,
        C::InvariantViolation => Rejection::InvariantViolation,
        C::NotHalted => Rejection::NotHalted,
        C::SchemeNotConfigured => Rejection::SchemeNotConfigured,
        C::SchemeInvalid => Rejection::SchemeInvalid {
            problem: text("purchase.unit must be positive"),
        },
        C::SchemeEffectiveTooEarly => Rejection::SchemeEffectiveTooEarly {
            earliest: Timestamp::from_micros(1_773_104_400_000_000),
        },
        C::SchemeVersionsFull => Rejection::SchemeVersionsFull { max: 10_000 },
        C::CitizenNotRegistered => Rejection::CitizenNotRegistered { wallet: account },
        C::MerchantNotRegistered => Rejection::MerchantNotRegistered {
            merchant: AccountId(2_001),
        },
        C::MerchantSuspended => Rejection::MerchantSuspended {
            merchant: AccountId(2_001),
            reason: SuspendReason::RevenueOverCap,
        },
        C::PurchasesClosed => Rejection::PurchasesClosed,
        C::PurchaseAmountInvalid => Rejection::PurchaseAmountInvalid {
            unit: won(10_000),
            min: won(10_000),
            max: won(500_000),
        },
        C::ChannelUnknown => Rejection::ChannelUnknown { channel: 9 },
        C::PurchaseWindowClosed => Rejection::PurchaseWindowClosed {
            allowed: BirthYearParity::Odd,
        },
        C::MonthlyPurchaseLimit => Rejection::MonthlyPurchaseLimit {
            limit: won(500_000),
            used: won(450_000),
        },
        C::ChannelMonthlyLimit => Rejection::ChannelMonthlyLimit {
            channel: 1,
            limit: won(300_000),
            used: won(290_000),
        },
        C::YearlyPurchaseLimit => Rejection::YearlyPurchaseLimit {
            limit: won(5_000_000),
            used: won(4_990_000),
        },
        C::HoldingCap => Rejection::HoldingCap {
            cap: won(1_500_000),
            holding: won(1_490_000),
        },
        C::SubsidyBudgetExhausted => Rejection::SubsidyBudgetExhausted {
            budget: AccountId(2),
            available: won(3),
        },
        C::GiftsDisabled => Rejection::GiftsDisabled,
        C::GiftsPausedToday => Rejection::GiftsPausedToday,
        C::GiftSentMonthlyLimit => Rejection::GiftSentMonthlyLimit {
            limit: won(200_000),
            used: won(200_000),
        },
        C::GiftReceivedMonthlyLimit => Rejection::GiftReceivedMonthlyLimit {
            limit: won(200_000),
            used: won(199_000),
        },
        C::PurchaseNotFound => Rejection::PurchaseNotFound { purchase: id },
        C::PurchaseNotPending => Rejection::PurchaseNotPending { purchase: id },
        C::CancelWindowPassed => Rejection::CancelWindowPassed {
            purchase: id,
            until: Timestamp::from_micros(1_773_709_200_000_000),
        },
        C::PurchasePartlyUsed => Rejection::PurchasePartlyUsed {
            purchase: id,
            unused: won(40_000),
        },
        C::RefundThresholdNotReached => Rejection::RefundThresholdNotReached {
            used_bp: 5_999,
            required_bp: 6_000,
        },
        C::NothingToRefund => Rejection::NothingToRefund { wallet: account },
        C::AutoChargeDisabled => Rejection::AutoChargeDisabled,
        C::AutoChargeInvalid => Rejection::AutoChargeInvalid,
        C::PurchaseNotPosted => Rejection::PurchaseNotPosted { purchase: id },
        C::ChargeInProgress => Rejection::ChargeInProgress { wallet: account },
        C::SchemeRefundRequired => Rejection::SchemeRefundRequired { payment: id },
        C::NotARedemption => Rejection::NotARedemption { id },
        C::SchemeNotWithdrawable => Rejection::SchemeNotWithdrawable { version: 2 },
    }
}

fn envelope(n: u64, command: Command) -> Envelope {
    Envelope {
        client: ClientId(7),
        key: IdempotencyKey(0x0123_4567_89ab_cdef_0000_0000_0000_0000 | u128::from(n)),
        command,
    }
}

fn scheme(c: SchemeCommand) -> Command {
    Command::Scheme(Box::new(c))
}

/// Every command as a journal's batch record holds it (in its envelope), named.
pub fn commands() -> Vec<(String, Envelope)> {
    let wallet = WalletId::new(1_001);
    let merchant = MerchantId::new(2_001);
    let id = TransferId(42);
    let mut out = vec![
        Command::OpenAccount {
            account: AccountId(1_001),
            kind: AccountKind::CitizenWallet,
            accepts: SourceSet::ALL,
        },
        Command::SetAccountState {
            account: AccountId(1_001),
            state: AccountState::Frozen,
        },
        Command::SetAccepts {
            merchant,
            accepts: SourceSet::of(&[Source::Purchased, Source::Cashback]),
        },
    ];
    for kind in TransferKind::ALL {
        out.push(Command::Transfer(Transfer::posted(transfer_example(kind))));
    }
    out.push(Command::Transfer(Transfer::pending(
        transfer_example(TransferKind::Charge),
        86_400_000_000,
    )));
    out.push(Command::Linked(vec![
        Transfer::pending(transfer_example(TransferKind::Charge), 60_000_000),
        Transfer::pending(transfer_example(TransferKind::Subsidy), 60_000_000),
    ]));
    out.extend([
        Command::PostPending {
            pending: id,
            amount: None,
        },
        Command::PostPending {
            pending: id,
            amount: Some(Won::new(5_000)),
        },
        Command::VoidPending { pending: id },
        Command::Halt {
            operator: text("operator"),
            reason: text("점검"),
        },
        Command::Resume {
            operator: text("operator"),
        },
        scheme(SchemeCommand::SetScheme {
            config: Box::new(scheme_config()),
            effective_at: Timestamp::from_micros(1_773_104_400_000_000),
            operator: text("operator"),
        }),
        scheme(SchemeCommand::RegisterCitizen {
            wallet,
            birth_year: 1990,
        }),
        scheme(SchemeCommand::SetMerchantProfile {
            merchant,
            category: 5812,
            annual_revenue: AnnualRevenue::Known(Won::new(900_000_000)),
        }),
        scheme(SchemeCommand::SetMerchantProfile {
            merchant,
            category: 5812,
            annual_revenue: AnnualRevenue::Unknown,
        }),
        scheme(SchemeCommand::SuspendMerchant {
            merchant,
            reason: text("폐업 신고"),
        }),
        scheme(SchemeCommand::ReinstateMerchant { merchant }),
        scheme(SchemeCommand::Purchase {
            wallet,
            face: Won::new(100_000),
            channel: 1,
            full_price_ok: true,
            pending_timeout_us: Some(86_400_000_000),
        }),
        scheme(SchemeCommand::ConfirmPurchase { purchase: id }),
        scheme(SchemeCommand::FailPurchase { purchase: id }),
        scheme(SchemeCommand::CancelPurchase {
            purchase: id,
            payout_timeout_us: None,
        }),
        scheme(SchemeCommand::Pay {
            payer: wallet,
            merchant,
            amount: Won::new(15_000),
        }),
        scheme(SchemeCommand::RefundPayment {
            payment: id,
            amount: Won::new(5_000),
        }),
        scheme(SchemeCommand::Gift {
            sender: wallet,
            recipient: WalletId::new(1_002),
            amount: Won::new(30_000),
        }),
        scheme(SchemeCommand::RefundBalance {
            wallet,
            payout_timeout_us: Some(86_400_000_000),
        }),
        scheme(SchemeCommand::ConfirmRedemption { redemption: id }),
        scheme(SchemeCommand::SetAutoCharge {
            wallet,
            setting: Some(AutoChargeSetting {
                day: 25,
                monthly_face: Won::new(200_000),
                channel: 1,
                topup: true,
            }),
        }),
        scheme(SchemeCommand::RecordAutoCharge {
            wallet,
            month: 24_315,
            result: AutoChargeResult::Charged { purchase: id },
        }),
        scheme(SchemeCommand::RecordAutoCharge {
            wallet,
            month: 24_315,
            result: AutoChargeResult::Failed {
                code: text("insufficient_funds"),
                next_attempt_at: Some(Timestamp::from_micros(1_773_190_800_000_000)),
            },
        }),
        scheme(SchemeCommand::WithdrawScheme {
            version: 2,
            operator: text("operator"),
        }),
        // Added after the others, so their examples keep their keys and bytes.
        Command::Migrated {
            note: text("legacy oldpay wallets.csv:12,13 id=M00000007"),
            transfers: vec![
                Transfer::posted(transfer_example(TransferKind::Charge)),
                Transfer::posted(transfer_example(TransferKind::BudgetFunding)),
                Transfer::posted(transfer_example(TransferKind::Allowance)),
            ],
        },
        Command::Migrated {
            note: text("sign-off oldpay members: stated 3, imported 2, by 김담당: 중복 회원"),
            transfers: vec![],
        },
    ]);
    name_all(
        out.into_iter()
            .enumerate()
            .map(|(n, c)| envelope(n as u64, c)),
        |e| command_name(&e.command),
    )
}

/// Gives examples their variant names, numbering repeats (`Name`, `Name#2`, ...).
fn name_all<T>(
    items: impl IntoIterator<Item = T>,
    name: impl Fn(&T) -> String,
) -> Vec<(String, T)> {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    items
        .into_iter()
        .map(|item| {
            let base = name(&item);
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            let name = if *n == 1 { base } else { format!("{base}#{n}") };
            (name, item)
        })
        .collect()
}

/// Every applied answer (scheme answers included), as a batch record holds it.
pub fn applied_outcomes() -> Vec<(String, Outcome)> {
    let id = TransferId(42);
    let won = Won::new;
    let s = |a: SchemeApplied| Applied::Scheme(std::sync::Arc::new(a));
    let all = vec![
        Applied::AccountOpened,
        Applied::AccountStateChanged,
        Applied::AcceptsChanged,
        Applied::Transfer {
            id,
            status: TransferStatus::Posted,
            amount: won(12_345),
        },
        Applied::Transfer {
            id,
            status: TransferStatus::Pending,
            amount: won(12_345),
        },
        Applied::Linked {
            first: id,
            count: 2,
        },
        Applied::PendingPosted {
            id,
            amount: won(5_000),
        },
        Applied::PendingVoided { id },
        Applied::Halted,
        Applied::Resumed,
        s(SchemeApplied::SchemeSet {
            version: 1,
            effective_at: Timestamp::from_micros(1_773_104_400_000_000),
        }),
        s(SchemeApplied::CitizenRegistered),
        s(SchemeApplied::MerchantProfileSet { suspended: None }),
        s(SchemeApplied::MerchantSuspended),
        s(SchemeApplied::MerchantReinstated {
            suspended: Some(SuspendReason::CategoryExcluded),
        }),
        s(SchemeApplied::Purchased {
            charge: id,
            subsidy: Some(TransferId(43)),
            face: won(100_000),
            paid: won(95_000),
            discount: won(5_000),
            status: TransferStatus::Pending,
            discount_withheld: false,
        }),
        s(SchemeApplied::PurchaseConfirmed { purchase: id }),
        s(SchemeApplied::PurchaseFailed { purchase: id }),
        s(SchemeApplied::PurchaseCancelled {
            purchase: id,
            cash_transfer: TransferId(50),
            cash: won(95_000),
            subsidy_transfer: Some(TransferId(51)),
            subsidy: won(5_000),
            payout: Some(TransferId(52)),
        }),
        s(SchemeApplied::Paid {
            payment: id,
            amount: won(15_000),
            cashback: won(1_500),
            cashback_transfer: Some(TransferId(43)),
            cashback_note: None,
        }),
        s(SchemeApplied::Paid {
            payment: id,
            amount: won(15_000),
            cashback: won(0),
            cashback_transfer: None,
            cashback_note: Some(CashbackNote::MonthlyCashbackCapReached),
        }),
        s(SchemeApplied::PaymentRefunded {
            refund: TransferId(60),
            amount: won(5_000),
            cashback_returned: won(500),
            cashback_unrecovered: won(0),
        }),
        s(SchemeApplied::Gifted {
            gift: id,
            amount: won(30_000),
        }),
        s(SchemeApplied::BalanceRefunded {
            cash_transfer: Some(TransferId(70)),
            cash: won(38_000),
            subsidy_transfer: Some(TransferId(71)),
            subsidy: won(2_000),
            payout: None,
        }),
        s(SchemeApplied::RedemptionConfirmed {
            redemption: id,
            amount: won(80_000),
        }),
        s(SchemeApplied::AutoChargeSet),
        s(SchemeApplied::AutoChargeRecorded),
        s(SchemeApplied::SchemeWithdrawn {
            version: 2,
            effective_at: Timestamp::from_micros(1_800_000_000_000_000),
        }),
    ];
    name_all(
        all.into_iter().enumerate().map(|(n, a)| Outcome {
            result: Ok(a),
            // A repeated answer is the stored one, flagged: show the flag once.
            repeated: n == 3,
        }),
        |o| match &o.result {
            Ok(a) => applied_name(a),
            Err(r) => r.code().as_str().to_owned(),
        },
    )
}

/// Every rejection, in the order of its permanent code number.
pub fn rejection_outcomes() -> Vec<(String, Outcome)> {
    RejectionCode::ALL
        .iter()
        .map(|code| {
            (
                code.as_str().to_owned(),
                Outcome {
                    result: Err(rejection_example(*code)),
                    repeated: false,
                },
            )
        })
        .collect()
}

pub fn currency() -> CurrencyCode {
    CurrencyCode::new("golden-town").expect("a valid currency code")
}

pub const RULES: RulesId = RulesId([0x5a; 16]);

/// The three kinds of record payload.
pub fn records() -> Vec<(String, Vec<u8>, RecordBody)> {
    let mut out = Vec::new();

    let mut genesis = Vec::new();
    record::encode_genesis(&mut genesis, &currency(), &LedgerConfig::default());
    out.push((
        "Genesis".to_owned(),
        genesis,
        RecordBody::Genesis {
            currency: currency(),
            config: LedgerConfig::default(),
        },
    ));

    let rules = RulesRecord {
        rules: RULES,
        build: "maeul 0.1.0 (rules 5a5a5a5a5a5a)".to_owned(),
        verified_from: 0,
        verified_through: 1,
    };
    let mut bytes = Vec::new();
    record::encode_rules(&mut bytes, &rules);
    out.push(("Rules".to_owned(), bytes, RecordBody::Rules(rules)));

    let commands: Vec<Envelope> = commands()
        .into_iter()
        .filter(|(name, _)| name == "OpenAccount" || name == "Scheme/Pay")
        .map(|(_, e)| e)
        .collect();
    let outcomes = vec![
        Outcome {
            result: Ok(Applied::AccountOpened),
            repeated: false,
        },
        Outcome {
            result: Err(Rejection::CitizenNotRegistered {
                wallet: AccountId(1_001),
            }),
            repeated: false,
        },
    ];
    let batch = record::BatchRecord {
        timestamp: Timestamp::from_micros(1_773_104_400_000_000),
        state_hash: StateHash(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
        commands,
        outcomes,
    };
    let mut bytes = Vec::new();
    record::encode_batch(
        &mut bytes,
        batch.timestamp,
        batch.state_hash,
        &batch.commands,
        &batch.outcomes,
    );
    out.push(("Batch".to_owned(), bytes, RecordBody::Batch(batch)));

    let empty = record::BatchRecord {
        timestamp: Timestamp::from_micros(1_773_104_400_000_001),
        state_hash: StateHash(1),
        commands: Vec::new(),
        outcomes: Vec::new(),
    };
    let mut bytes = Vec::new();
    record::encode_batch(&mut bytes, empty.timestamp, empty.state_hash, &[], &[]);
    out.push(("Batch/empty".to_owned(), bytes, RecordBody::Batch(empty)));
    out
}

/// A small ledger that has seen a scheme, a sign-up, a purchase and a payment.
pub fn small_ledger() -> Ledger {
    let mut ledger = Ledger::new(LedgerConfig::default());
    let open = |id: u64, kind| Command::OpenAccount {
        account: AccountId(id),
        kind,
        accepts: SourceSet::ALL,
    };
    let mut config = scheme_config();
    config.purchase.discount_bp = 500;
    config.purchase.discount_budget = Some(AccountId(2));
    let cashback_budget = config.cashback.as_ref().map(|c| c.budget);
    let mut batch = vec![
        open(1, AccountKind::IssuerReserve),
        open(2, AccountKind::SubsidyBudget),
        open(3, AccountKind::SettlementClearing),
        open(1_001, AccountKind::CitizenWallet),
        open(2_001, AccountKind::Merchant),
        Command::Transfer(Transfer::posted(TransferSpec::BudgetFunding {
            reserve: ReserveId::new(1),
            budget: BudgetId::new(2),
            amount: Won::new(10_000_000),
        })),
    ];
    if let Some(b) = cashback_budget.filter(|b| *b != AccountId(2)) {
        batch.push(open(b.0, AccountKind::SubsidyBudget));
        batch.push(Command::Transfer(Transfer::posted(
            TransferSpec::BudgetFunding {
                reserve: ReserveId::new(1),
                budget: BudgetId::new(b.0),
                amount: Won::new(10_000_000),
            },
        )));
    }
    batch.extend([
        scheme(SchemeCommand::SetScheme {
            config: Box::new(config),
            effective_at: Timestamp::ZERO,
            operator: text("operator"),
        }),
        scheme(SchemeCommand::RegisterCitizen {
            wallet: WalletId::new(1_001),
            birth_year: 1990,
        }),
        scheme(SchemeCommand::SetMerchantProfile {
            merchant: MerchantId::new(2_001),
            category: 5812,
            annual_revenue: AnnualRevenue::Known(Won::new(900_000_000)),
        }),
        scheme(SchemeCommand::Purchase {
            wallet: WalletId::new(1_001),
            face: Won::new(100_000),
            channel: 0,
            full_price_ok: false,
            pending_timeout_us: None,
        }),
        scheme(SchemeCommand::Pay {
            payer: WalletId::new(1_001),
            merchant: MerchantId::new(2_001),
            amount: Won::new(15_000),
        }),
    ]);
    let batch: Vec<Envelope> = batch
        .into_iter()
        .enumerate()
        .map(|(n, c)| envelope(n as u64, c))
        .collect();
    let (outcomes, _) = ledger.apply(&batch, Timestamp::from_micros(1_773_104_400_000_000));
    assert!(
        outcomes.iter().all(Outcome::is_applied),
        "the small ledger's commands apply: {outcomes:?}"
    );
    ledger
}

/// Snapshot payloads (format 2): with the writer named, and without.
pub fn snapshots() -> Vec<(String, Vec<u8>)> {
    let ledger = small_ledger();
    let writer = Writer {
        rules: RULES,
        build: "maeul 0.1.0 (rules 5a5a5a5a5a5a)".to_owned(),
    };
    let mut named = Vec::new();
    replay::encode_snapshot(&mut named, RULES, Some(&writer), &currency(), &ledger);
    let mut unnamed = Vec::new();
    replay::encode_snapshot(&mut unnamed, RULES, None, &currency(), &ledger);
    vec![
        ("Snapshot".to_owned(), named),
        ("Snapshot/no-writer".to_owned(), unnamed),
    ]
}

/// The encoded bytes of an envelope / an outcome.
pub fn envelope_bytes(e: &Envelope) -> Vec<u8> {
    let mut out = Vec::new();
    codec::put_envelope(&mut out, e);
    out
}

pub fn outcome_bytes(o: &Outcome) -> Vec<u8> {
    let mut out = Vec::new();
    codec::put_outcome(&mut out, o);
    out
}

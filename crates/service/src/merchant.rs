//! A merchant's till and money: payments charged from a customer's one-time code,
//! refunds of its payments, redemption to the bank and the settlement list. Each use
//! case checks who may do it and claims the request's idempotency key.

use http::StatusCode;
use ledger::scheme::{SchemeApplied, SchemeCommand};
use ledger::{AccountId, Command, Envelope, MerchantId, WalletId};
use qr::ScanAnswer;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::citizen::{
    Paging, PaymentAnswer, PayoutAnswer, paid_answer, payout_answer, scan_refusal,
};
use crate::error::ServiceError;
use crate::idempotency::{Answered, Fingerprint, claim_key};
use crate::ledger_ops::{remembered, require, run_scheme, scheme_answer, won};
use crate::{Caller, Role, Service};

/// A merchant's settlement history: each redemption to its bank (asked for, or made by
/// the daily settlement) and where it stands, newest first, paged by `before` (a
/// transfer id from an earlier page).
pub async fn settlements(
    service: &Service,
    caller: &Caller,
    paging: Paging,
) -> Result<Vec<crate::history::Settlement>, ServiceError> {
    let account = require(caller, Role::Merchant)?;
    let currency = service.currency(&caller.currency)?;
    let limit = paging.limit.unwrap_or(50).clamp(1, 200);
    currency.history.holds_durable(&currency.engine).await;
    Ok(currency.history.settlements(account, paging.before, limit))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub amount: i64,
}

/// A merchant cancels or refunds (part of) a payment it received; the cash-back the
/// payment earned goes back with it.
pub async fn refund_payment(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    payment: u64,
    req: RefundRequest,
) -> Result<Answered<PaymentAnswer>, ServiceError> {
    let account = require(caller, Role::Merchant)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("refund_payment", &(payment, req.amount)),
    )?;
    let amount = won(req.amount)?;
    let currency = service.currency(&caller.currency)?;
    let merchant = currency
        .engine
        .read(|l| l.payment(ledger::TransferId(payment)).map(|p| p.merchant.0));
    if merchant != Some(account) {
        return Err(ServiceError::not_found("payment"));
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::RefundPayment {
            payment: ledger::TransferId(payment),
            amount,
        },
        Some(account),
    )
    .await?;
    match a.value {
        SchemeApplied::PaymentRefunded {
            refund,
            amount,
            cashback_returned,
            ..
        } => Ok(Answered {
            value: PaymentAnswer {
                payment: refund.0,
                amount: amount.get(),
                cashback: -cashback_returned.get(),
                cashback_note: None,
            },
            replayed: a.replayed,
        }),
        _ => Err(crate::idempotency::key_reused()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionRequest {
    pub amount: i64,
}

/// A merchant redeems part of its balance to its linked bank account.
pub async fn redeem(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    req: RedemptionRequest,
) -> Result<Answered<PayoutAnswer>, ServiceError> {
    let account = require(caller, Role::Merchant)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("redeem", &req.amount),
    )?;
    let amount = won(req.amount)?;
    let currency = service.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let r = currency
        .treasury
        .redeem(key.client, key.key, MerchantId(AccountId(account)), amount)
        .await
        .map_err(|e| redemption_refusal(ServiceError::treasury(e, Some(AccountId(account)))))?;
    Ok(Answered {
        value: payout_answer(Some(r)),
        replayed,
    })
}

/// A redemption asking for more than the balance is told so in a merchant's words (the
/// ledger's `insufficient_funds` speaks to a citizen paying); its code and fields stay.
fn redemption_refusal(e: ServiceError) -> ServiceError {
    if e.code != "insufficient_funds" {
        return e;
    }
    ServiceError {
        ko: "정산할 수 있는 잔액보다 많은 금액입니다. 정산 가능 금액 이하로 다시 신청해 주세요."
            .into(),
        en: "That is more than the balance that can be redeemed now. Please ask for the redeemable amount or less."
            .into(),
        ..e
    }
}

/// Settlements the merchant's money page lists at once.
pub const SETTLEMENTS_PAGE: usize = 20;

/// One settlement as the merchant sees it: the projection's line and the reference the
/// bank order went under (what the bank statement shows against it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ToSchema)]
pub struct SettlementLine {
    pub transfer: u64,
    pub amount: i64,
    /// `pending` (the bank is paying), `paid`, `returned` (the bank refused: the value
    /// is back on the balance), `expired` (never confirmed: back on the balance).
    pub status: String,
    /// Unix microseconds the redemption was asked for.
    pub opened_at: u64,
    /// Unix microseconds it ended.
    pub ended_at: Option<u64>,
    /// The bank order's reference, e.g. `busan-r1234`.
    pub reference: String,
}

impl SettlementLine {
    pub fn of(currency_code: &str, s: crate::history::Settlement) -> SettlementLine {
        SettlementLine {
            reference: treasury::OrderKind::Redemption
                .reference(currency_code, ledger::TransferId(s.transfer)),
            transfer: s.transfer,
            amount: s.amount,
            status: s.status,
            opened_at: s.opened_at,
            ended_at: s.ended_at,
        }
    }
}

/// A merchant's money: what it holds, what it can redeem now and where to, and its
/// settlements (newest first, [`SETTLEMENTS_PAGE`] at a time).
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct MerchantMoney {
    /// The posted balance, redemptions under way included.
    pub balance: i64,
    /// What can be redeemed now: the balance less redemptions the bank is still paying.
    pub redeemable: i64,
    /// Redemptions the bank is still paying.
    pub redeeming: i64,
    /// The linked account redemptions are paid to, masked (`***-**0001`); `None` when
    /// none is linked.
    pub bank_account: Option<String>,
    pub settlements: Vec<SettlementLine>,
    /// The `before` of the next, older page, when there is one.
    pub older: Option<u64>,
}

/// The merchant's balance, what can be redeemed now and what is being redeemed.
fn balances(currency: &crate::Currency, account: u64) -> Result<(i64, i64, i64), ServiceError> {
    currency
        .engine
        .read(|l| {
            l.account(AccountId(account)).map(|a| {
                (
                    a.balance().map_or(0, |b| b.get()),
                    a.available().map_or(0, |b| b.get()),
                    a.debits_pending.get(),
                )
            })
        })
        .ok_or_else(|| ServiceError::not_found("merchant account"))
}

/// The linked account of `account`, masked.
fn linked_account(currency: &crate::Currency, account: u64) -> Option<String> {
    currency
        .treasury
        .accounts()
        .get(AccountId(account))
        .map(|n| crate::bank_link::mask_account(n.as_str()))
}

/// The merchant's money page: balances, the linked account, and one page of
/// settlements older than `before` (the newest when `None`).
pub async fn money(
    service: &Service,
    caller: &Caller,
    before: Option<u64>,
) -> Result<MerchantMoney, ServiceError> {
    let account = require(caller, Role::Merchant)?;
    let currency = service.currency(&caller.currency)?;
    currency.history.holds_durable(&currency.engine).await;
    let (balance, redeemable, redeeming) = balances(currency, account)?;
    let mut list = currency
        .history
        .settlements(account, before, SETTLEMENTS_PAGE + 1);
    let older = if list.len() > SETTLEMENTS_PAGE {
        list.truncate(SETTLEMENTS_PAGE);
        list.last().map(|s| s.transfer)
    } else {
        None
    };
    Ok(MerchantMoney {
        balance,
        redeemable,
        redeeming,
        bank_account: linked_account(currency, account),
        settlements: list
            .into_iter()
            .map(|s| SettlementLine::of(&caller.currency, s))
            .collect(),
        older,
    })
}

/// An amount to redeem that is not a whole number of won, 1 or more.
pub fn redemption_amount_invalid() -> ServiceError {
    ServiceError::new(
        StatusCode::BAD_REQUEST,
        "amount_invalid",
        "정산할 금액을 1원 이상, 원 단위 숫자로 입력해 주세요 (예: 50000).",
        "Please enter the amount to redeem in whole won, 1 or more (e.g. 50000).",
    )
}

/// What a redemption would pay, and where, before it is asked for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ToSchema)]
pub struct RedemptionQuote {
    /// Won to be paid to the bank account.
    pub amount: i64,
    /// The linked account it goes to, masked.
    pub bank_account: String,
    /// What can be redeemed now.
    pub redeemable: i64,
    /// What would be left to redeem after it.
    pub remaining: i64,
}

/// The amount a redemption asks for: `asked`, or everything that can be redeemed now
/// when `None`; refused in words when it is not a positive amount within `redeemable`.
pub fn redemption_amount(redeemable: i64, asked: Option<i64>) -> Result<i64, ServiceError> {
    if redeemable <= 0 {
        return Err(ServiceError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_redeem",
            "지금 정산할 수 있는 잔액이 없습니다. 결제를 받은 뒤 다시 신청해 주세요.",
            "There is nothing to redeem now. Please ask again once payments have come in.",
        ));
    }
    let amount = asked.unwrap_or(redeemable);
    if won(amount).is_err() {
        return Err(redemption_amount_invalid());
    }
    if amount > redeemable {
        let mut fields = serde_json::Map::new();
        fields.insert("requested".into(), amount.into());
        fields.insert("available".into(), redeemable.into());
        return Err(redemption_refusal(
            ServiceError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "insufficient_funds",
                "",
                "",
            )
            .fields(fields),
        ));
    }
    Ok(amount)
}

/// A redemption of `asked` (all that can be redeemed now when `None`), checked as the
/// ledger and the treasury would check it, without redeeming: the amount and the
/// masked account, for the merchant to confirm. `redeem` decides again.
pub async fn quote_redemption(
    service: &Service,
    caller: &Caller,
    asked: Option<i64>,
) -> Result<RedemptionQuote, ServiceError> {
    let account = require(caller, Role::Merchant)?;
    let currency = service.currency(&caller.currency)?;
    let (_, redeemable, _) = balances(currency, account)?;
    let amount = redemption_amount(redeemable, asked)?;
    let bank_account = linked_account(currency, account).ok_or_else(|| {
        ServiceError::treasury(
            treasury::TreasuryError::NoLinkedAccount(AccountId(account)),
            Some(AccountId(account)),
        )
    })?;
    let remaining = redeemable
        .checked_sub(amount)
        .ok_or_else(|| ServiceError::internal("a redemption larger than the balance"))?;
    Ok(RedemptionQuote {
        amount,
        bank_account,
        redeemable,
        remaining,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerPaymentRequest {
    /// What the till scanned from the citizen's app.
    pub code: String,
    pub amount: i64,
}

/// A merchant charges a citizen by scanning the citizen's one-time code. The citizen's
/// app sees the payment on its live stream.
pub async fn consumer_payment(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    req: ConsumerPaymentRequest,
) -> Result<Answered<PaymentAnswer>, ServiceError> {
    let merchant = require(caller, Role::Merchant)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("consumer_payment", &(req.code.trim(), req.amount)),
    )?;
    let amount = won(req.amount)?;
    let currency = service.currency(&caller.currency)?;
    // The same sale again gets its first answer (the code is used up by then).
    if key.is_repeat()
        && let Some(first) = remembered(currency, &key)
    {
        let applied = first.map_err(|r| ServiceError::refused(&r, Some(AccountId(merchant))))?;
        return Ok(Answered {
            value: paid_answer(scheme_answer(applied)?)?,
            replayed: true,
        });
    }
    // A retry whose first try used the code up but got no answer (busy, deadline)
    // charges the same wallet under the same key: never a second code, never twice.
    // Another code under that key is another sale: refused, not answered as the first.
    let (sale, newly_used) = match currency.merchants.redeemed_for(key.client.0, key.key.0) {
        Some(sale) if sale.code_digest == crate::merchants::code_digest(&req.code) => (sale, false),
        Some(_) => return Err(crate::idempotency::key_reused()),
        None => {
            let a = currency
                .merchants
                .classify_for_merchant(req.code.as_bytes(), crate::now_us());
            let ScanAnswer::Payer(code) = &a else {
                return Err(scan_refusal(&a));
            };
            let sale = currency
                .merchants
                .payer_of(code, &req.code, key.client.0, key.key.0)
                .ok_or_else(|| {
                    ServiceError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "consumer_code_unknown",
                        "확인할 수 없는 결제 코드입니다. 손님께 새 코드를 보여 달라고 해 주세요.",
                        "This payment code is not known. Ask the customer to show a new one.",
                    )
                })?;
            (sale, true)
        }
    };
    let envelope = Envelope {
        client: key.client,
        key: key.key,
        command: Command::Scheme(Box::new(SchemeCommand::Pay {
            payer: WalletId(AccountId(sale.wallet)),
            merchant: MerchantId(AccountId(merchant)),
            amount,
        })),
    };
    // Whatever the ledger did not do leaves the code usable until it expires: a sale
    // refused for the customer's balance can be tried again after they charge.
    let give_back = || {
        if newly_used {
            currency.merchants.give_back(&sale, key.client.0, key.key.0);
        }
    };
    let ticket = currency
        .engine
        .submit(vec![envelope])
        .inspect_err(|_| give_back())?;
    let out = match ticket.outcome().await {
        Ok(mut outs) => outs
            .pop()
            .ok_or_else(|| ServiceError::internal("no answer"))?,
        // Not known whether it was charged: the binding stays, a retry learns which.
        Err(e @ engine::CommitError::NotDurable { .. }) => return Err(e.into()),
        Err(e) => {
            give_back();
            return Err(e.into());
        }
    };
    match out.result {
        Ok(applied) => Ok(Answered {
            value: paid_answer(scheme_answer(applied)?)?,
            replayed: out.repeated,
        }),
        Err(r) => {
            if !out.repeated {
                give_back();
            }
            Err(ServiceError::refused(&r, Some(AccountId(merchant))))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QrParams {
    /// `png` (default), `svg`, `sticker.svg` (A6, printable), `sticker.png`, or `text`
    /// (the payload itself).
    pub format: Option<String>,
    /// Won, for a kiosk's one-sale code; absent for the shop's sticker.
    pub amount: Option<u64>,
}

/// How often a live stream checks that its session is still signed in.
pub const LIVE_SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Seconds a client is told to wait when every live-stream place is taken.
pub const STREAMS_FULL_RETRY_S: u64 = 30;

/// One open live stream of payments (the API's server-sent events and the till page's
/// share it): the account's entries of the wanted kind, its place among the service's
/// streams (given back when dropped), and the session it ends with.
#[derive(Debug)]
pub struct LivePayments {
    rx: crate::history::LiveEntries,
    auth: std::sync::Arc<crate::Auth>,
    caller: Caller,
    wanted: &'static str,
    _slot: crate::limits::StreamSlot,
}

impl LivePayments {
    /// The next payment, or `None` when the stream is over (the session ended, or the
    /// history stopped). Checks the session at every event and at least every
    /// [`LIVE_SESSION_CHECK`]; a stream that fell behind skips ahead.
    pub async fn next(&mut self) -> Option<crate::history::Entry> {
        let mut check = tokio::time::interval(LIVE_SESSION_CHECK);
        loop {
            let received = tokio::select! {
                r = self.rx.recv() => r,
                _ = check.tick() => {
                    if !self.auth.session_live(&self.caller) {
                        return None;
                    }
                    continue;
                }
            };
            if !self.auth.session_live(&self.caller) {
                return None;
            }
            match received {
                Ok(entry) if entry.kind == self.wanted => return Some(entry),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Payments as they happen: a merchant's incoming ones, a citizen's outgoing ones (a
/// till that scanned the citizen's code charges the wallet, and the app shows it at
/// once). A user holds at most a few streams at once (429 `too_many_streams`), the
/// service a bounded number in `streams` (503 `streams_full`, retry after
/// [`STREAMS_FULL_RETRY_S`]).
pub fn live_payments(
    service: &Service,
    caller: &Caller,
    streams: &std::sync::Arc<crate::limits::Streams>,
) -> Result<LivePayments, ServiceError> {
    let wanted = match caller.role {
        Role::Merchant => "payment_received",
        Role::Citizen => "payment",
        _ => return Err(ServiceError::forbidden()),
    };
    let account = caller.account.ok_or_else(ServiceError::forbidden)?;
    let currency = service.currency(&caller.currency)?;
    let slot = streams
        .admit(caller.user_id)
        .map_err(|refused| match refused {
            crate::limits::StreamRefused::PerUser { limit } => {
                ServiceError::too_many_streams(limit)
            }
            crate::limits::StreamRefused::Total => ServiceError::streams_full(STREAMS_FULL_RETRY_S),
        })?;
    // Only this account's entries: other accounts' payments wake nothing here.
    let rx = currency.history.live(account);
    Ok(LivePayments {
        rx,
        auth: std::sync::Arc::clone(&service.auth),
        caller: caller.clone(),
        wanted,
        _slot: slot,
    })
}

/// Payments a till's recent list shows.
pub const TILL_RECENT: usize = 20;

/// What the till shows when it opens: the balance, today's (KST) payments received and
/// the latest of them. Counted from the account's kept history (its last
/// `history::ENTRIES_PER_ACCOUNT` entries): a shop with more in a day sees at least
/// that many.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct Till {
    pub account: u64,
    pub name: Option<String>,
    pub balance: i64,
    /// Won received today (KST), refunds taken off.
    pub today_total: i64,
    pub today_count: u64,
    /// Today's KST date, `YYYY-MM-DD`.
    pub today: String,
    /// Payments received and refunded, newest first.
    pub recent: Vec<crate::history::Entry>,
}

/// KST midnight of the day `now_us` falls in, and the date.
fn kst_day(now_us: u64) -> (u64, ledger::scheme::calendar::KstDate) {
    let d = ledger::scheme::calendar::KstDate::of(ledger::Timestamp::from_micros(now_us));
    (d.start().as_micros(), d)
}

fn ymd(d: ledger::scheme::calendar::KstDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

/// Whether an entry is money a sale brought in or a refund took back.
fn is_sale(e: &crate::history::Entry) -> bool {
    e.kind == "payment_received" || e.kind == "payment_refund"
}

/// The till as it opens.
pub async fn till(service: &Service, caller: &Caller) -> Result<Till, ServiceError> {
    let account = require(caller, Role::Merchant)?;
    let currency = service.currency(&caller.currency)?;
    let balance = currency
        .engine
        .read(|l| {
            l.account(AccountId(account))
                .map(|a| a.balance().map_or(0, |b| b.get()))
        })
        .ok_or_else(|| ServiceError::not_found("merchant account"))?;
    currency.history.holds_durable(&currency.engine).await;
    let (midnight, today) = kst_day(crate::now_us());
    let entries = currency
        .history
        .page(account, None, crate::history::ENTRIES_PER_ACCOUNT);
    let todays = entries.iter().filter(|e| is_sale(e) && e.at >= midnight);
    let today_total = todays.clone().map(|e| e.amount).sum();
    let today_count = todays.filter(|e| e.kind == "payment_received").count() as u64;
    Ok(Till {
        account,
        name: currency.merchants.get(account).map(|m| m.profile.name),
        balance,
        today_total,
        today_count,
        today: ymd(today),
        recent: entries
            .into_iter()
            .filter(is_sale)
            .take(TILL_RECENT)
            .collect(),
    })
}

/// One bar of a sales chart: won received in a period (hour or day), refunds off.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ToSchema)]
pub struct SalesBar {
    /// `00`..`23` (hours of today) or `01`..`31` (days of the month).
    pub label: String,
    pub total: i64,
    pub count: u64,
}

/// Today's sales by hour and this month's by day (KST), from the kept history.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct Sales {
    pub today: String,
    /// `YYYY-MM`.
    pub month: String,
    pub today_total: i64,
    pub month_total: i64,
    pub hours: Vec<SalesBar>,
    pub days: Vec<SalesBar>,
    /// Whether the kept history reaches back to the month's start (else the month's
    /// figures are a lower bound).
    pub month_complete: bool,
}

/// The sales of `entries` (newest first) bucketed by KST hour of `now_us`'s day and by
/// KST day of its month.
pub fn sales_of(entries: &[crate::history::Entry], now_us: u64, kept_all: bool) -> Sales {
    const HOUR_US: u64 = 3_600_000_000;
    let (midnight, today) = kst_day(now_us);
    let month_start = ledger::scheme::calendar::KstDate { day: 1, ..today }
        .start()
        .as_micros();
    let mut hours: Vec<SalesBar> = (0..24)
        .map(|h| SalesBar {
            label: format!("{h:02}"),
            total: 0,
            count: 0,
        })
        .collect();
    let mut days: Vec<SalesBar> = (1..=today.day)
        .map(|d| SalesBar {
            label: format!("{d:02}"),
            total: 0,
            count: 0,
        })
        .collect();
    let mut oldest = u64::MAX;
    for e in entries {
        oldest = oldest.min(e.at);
        if !is_sale(e) || e.at < month_start {
            continue;
        }
        let sale = u64::from(e.kind == "payment_received");
        let day = ledger::scheme::calendar::KstDate::of(ledger::Timestamp::from_micros(e.at)).day;
        if let Some(b) = days.get_mut(usize::from(day).saturating_sub(1)) {
            b.total += e.amount;
            b.count += sale;
        }
        if e.at >= midnight {
            let h = ((e.at - midnight) / HOUR_US).min(23) as usize;
            if let Some(b) = hours.get_mut(h) {
                b.total += e.amount;
                b.count += sale;
            }
        }
    }
    Sales {
        today: ymd(today),
        month: format!("{:04}-{:02}", today.year, today.month),
        today_total: hours.iter().map(|b| b.total).sum(),
        month_total: days.iter().map(|b| b.total).sum(),
        hours,
        days,
        month_complete: kept_all || oldest < month_start,
    }
}

/// Today's and this month's sales.
pub async fn sales(service: &Service, caller: &Caller) -> Result<Sales, ServiceError> {
    let account = require(caller, Role::Merchant)?;
    let currency = service.currency(&caller.currency)?;
    let max = crate::history::ENTRIES_PER_ACCOUNT;
    currency.history.holds_durable(&currency.engine).await;
    let entries = currency.history.page(account, None, max);
    let kept_all = entries.len() < max;
    Ok(sales_of(&entries, crate::now_us(), kept_all))
}

/// One payment this merchant received, as its history shows it (for a refund's
/// confirmation): 404 when it is not one of its own kept payments.
pub async fn received_payment(
    service: &Service,
    caller: &Caller,
    payment: u64,
) -> Result<crate::history::Entry, ServiceError> {
    let account = require(caller, Role::Merchant)?;
    let currency = service.currency(&caller.currency)?;
    currency.history.holds_durable(&currency.engine).await;
    currency
        .history
        .page(account, None, crate::history::ENTRIES_PER_ACCOUNT)
        .into_iter()
        .find(|e| e.kind == "payment_received" && e.transfer == Some(payment))
        .ok_or_else(|| ServiceError::not_found("payment"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Entry;

    fn entry(at: u64, kind: &'static str, amount: i64) -> Entry {
        Entry {
            cursor: at,
            at,
            kind: kind.into(),
            amount,
            counterparty: None,
            transfer: None,
        }
    }

    #[test]
    fn sales_are_bucketed_by_korean_hour_and_day_with_refunds_taken_off() {
        // 2026-12-04T00:00:00+09:00
        let midnight: u64 = 1_796_310_000_000_000;
        let hour = 3_600_000_000;
        let now = midnight + 15 * hour;
        let entries = vec![
            entry(midnight + 14 * hour, "payment_refund", -1_000),
            entry(midnight + 14 * hour, "payment_received", 3_000),
            entry(midnight + 9 * hour + 1, "payment_received", 2_000),
            entry(midnight + 9 * hour, "redemption", -50_000),
            entry(midnight - 1, "payment_received", 700),
            entry(midnight - 3 * 24 * hour, "payment_received", 500),
        ];
        let s = sales_of(&entries, now, true);
        assert_eq!(s.today, "2026-12-04");
        assert_eq!(s.month, "2026-12");
        assert_eq!(s.hours.len(), 24);
        assert_eq!(s.hours[14].total, 2_000);
        assert_eq!(s.hours[14].count, 1);
        assert_eq!(s.hours[9].total, 2_000);
        assert_eq!(s.today_total, 4_000);
        assert_eq!(s.days.len(), 4);
        assert_eq!(s.days[2].total, 700, "the 3rd, just before midnight KST");
        assert_eq!(s.days[0].total, 500);
        assert_eq!(s.month_total, 5_200);
        assert!(s.month_complete);
        let s = sales_of(&entries[..3], now, false);
        assert!(!s.month_complete, "history cut short inside the month");
    }
}

/// A QR code rendered for a merchant: its media type and bytes.
#[derive(Debug)]
pub struct QrImage {
    /// `image/png`, `image/svg+xml` or `text/plain; charset=utf-8`.
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The merchant's own QR code (sticker, kiosk code), as `p` asks.
pub fn my_qr(service: &Service, caller: &Caller, p: &QrParams) -> Result<QrImage, ServiceError> {
    let merchant = require(caller, Role::Merchant)?;
    let currency = service.currency(&caller.currency)?;
    let m = currency
        .merchants
        .get(merchant)
        .ok_or_else(|| ServiceError::not_found("merchant record"))?;
    qr_image(&caller.currency, &m, p)
}

/// At most `n` characters of `s`.
fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Merchant `m`'s static code in currency `currency_code`: what its sticker carries.
pub fn sticker_code(currency_code: &str, m: &directory::Merchant) -> qr::MerchantCode {
    let city = m
        .profile
        .sigungu
        .clone()
        .or_else(|| m.profile.sido.clone())
        .unwrap_or_else(|| "KR".into());
    let mcc = m.profile.mcc.map_or(5499, directory::Mcc::code);
    // EMVCo allows 25 characters of name and 15 of city; the registry allows more.
    qr::MerchantCode::new_static(
        currency_code,
        m.id.0,
        mcc,
        truncate_chars(&m.profile.name, 25),
        truncate_chars(&city, 15),
    )
}

/// Merchant `m`'s payment code in currency `currency_code`, rendered as `p` asks.
pub fn qr_image(
    currency_code: &str,
    m: &directory::Merchant,
    p: &QrParams,
) -> Result<QrImage, ServiceError> {
    let mut code = sticker_code(currency_code, m);
    if let Some(amount) = p.amount {
        if amount == 0 || i64::try_from(amount).is_err() {
            return Err(ServiceError::bad_request("amount_invalid", "1 won or more"));
        }
        code = code.with_amount(amount);
    }
    let payload = code
        .encode()
        .map_err(|e| ServiceError::bad_request(e.code(), e.to_string()))?;
    let render = |e: qr::RenderError| ServiceError::internal(e.to_string());
    let options = qr::QrOptions::default();
    let (content_type, bytes): (&'static str, Vec<u8>) = match p.format.as_deref().unwrap_or("png")
    {
        "png" => (
            "image/png",
            qr::render_png(&payload, &options).map_err(render)?,
        ),
        "svg" => (
            "image/svg+xml",
            qr::render_svg(&payload, &options)
                .map_err(render)?
                .into_bytes(),
        ),
        "sticker.svg" | "sticker.png" => {
            let sticker = qr::Sticker {
                payload: &payload,
                merchant_name: &m.profile.name,
                currency_name: currency_code,
                call_to_action: qr::CALL_TO_ACTION,
            };
            if p.format.as_deref() == Some("sticker.svg") {
                (
                    "image/svg+xml",
                    qr::render_sticker_svg(&sticker)
                        .map_err(render)?
                        .into_bytes(),
                )
            } else {
                let png = qr::render_sticker_png(
                    &sticker,
                    &qr::StickerPngOptions {
                        dpi: 300,
                        font: None,
                    },
                )
                .map_err(render)?;
                ("image/png", png.png)
            }
        }
        "text" => ("text/plain; charset=utf-8", payload.into_bytes()),
        other => {
            return Err(ServiceError::bad_request(
                "format_unknown",
                format!("{other}: use png, svg, sticker.svg, sticker.png or text"),
            ));
        }
    };
    Ok(QrImage {
        content_type,
        bytes,
    })
}

#[cfg(test)]
mod truncation_tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_chars("경동시장 행복상회 본점 2호", 4), "경동시장");
    }
}

#[cfg(test)]
mod money_tests {
    use super::*;
    use crate::testing::{MERCHANT_BANK, merchant_with_money};

    #[test]
    fn a_redemption_asks_for_a_positive_amount_within_what_can_be_redeemed() {
        assert_eq!(redemption_amount(50_000, Some(20_000)).unwrap(), 20_000);
        assert_eq!(redemption_amount(50_000, None).unwrap(), 50_000, "all");
        let over = redemption_amount(50_000, Some(50_001)).unwrap_err();
        assert_eq!(over.code, "insufficient_funds");
        assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(over.ko.contains("정산"), "a merchant's words: {}", over.ko);
        let fields = over.extra.unwrap().fields.unwrap();
        assert_eq!(fields["available"], 50_000);
        assert_eq!(fields["requested"], 50_001);
        for zero in [Some(0), Some(-5)] {
            assert_eq!(
                redemption_amount(50_000, zero).unwrap_err().code,
                "amount_invalid"
            );
        }
        assert_eq!(
            redemption_amount(0, None).unwrap_err().code,
            "nothing_to_redeem"
        );
    }

    #[test]
    fn a_settlement_names_its_bank_reference() {
        let line = SettlementLine::of(
            "busan",
            crate::history::Settlement {
                transfer: 1234,
                amount: 5_000,
                status: "paid".into(),
                opened_at: 1,
                ended_at: Some(2),
            },
        );
        assert_eq!(line.reference, "busan-r1234");
        assert_eq!(
            treasury::OrderKind::parse("busan", &line.reference),
            Some((treasury::OrderKind::Redemption, ledger::TransferId(1234)))
        );
    }

    /// Polls the merchant's money until `done` holds (the settlement list is a
    /// projection of the journal: it follows within milliseconds).
    async fn money_when(
        service: &Service,
        caller: &Caller,
        done: impl Fn(&MerchantMoney) -> bool,
    ) -> MerchantMoney {
        for _ in 0..200 {
            let m = money(service, caller, None).await.unwrap();
            if done(&m) {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the merchant's money never got there");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_merchant_sees_its_money_redeems_once_per_key_and_lists_it() {
        let t = merchant_with_money(50_000).await;
        let (_, shop) = t.merchant("bakery").await;
        let m = money(&t.service, &shop, None).await.unwrap();
        assert_eq!((m.balance, m.redeemable, m.redeeming), (50_000, 50_000, 0));
        assert_eq!(m.bank_account.as_deref(), Some("***-**0001"));
        assert!(!m.bank_account.unwrap().contains(MERCHANT_BANK));
        assert!(m.settlements.is_empty() && m.older.is_none());

        // The quote checks as the redemption will, and moves nothing.
        let q = quote_redemption(&t.service, &shop, None).await.unwrap();
        assert_eq!((q.amount, q.redeemable, q.remaining), (50_000, 50_000, 0));
        let part = quote_redemption(&t.service, &shop, Some(20_000))
            .await
            .unwrap();
        assert_eq!((part.amount, part.remaining), (20_000, 30_000));
        assert_eq!(q.bank_account, "***-**0001");
        let over = quote_redemption(&t.service, &shop, Some(50_001)).await;
        assert_eq!(over.unwrap_err().code, "insufficient_funds");
        assert_eq!(t.merchant_bank_balance(), 0);

        // Redeemed under a key; the same request again is the first answer, not a second
        // redemption.
        let req = || RedemptionRequest { amount: 20_000 };
        let first = redeem(&t.service, &shop, Some("page-k1"), req())
            .await
            .unwrap();
        assert_eq!(
            (first.value.status.as_str(), first.value.amount),
            ("paid", 20_000)
        );
        assert!(!first.replayed);
        let again = redeem(&t.service, &shop, Some("page-k1"), req())
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.value.transfer, first.value.transfer);
        assert_eq!(t.merchant_bank_balance(), 20_000, "paid once");
        // More than is left: the merchant's words, nothing moved.
        let over = redeem(
            &t.service,
            &shop,
            Some("page-k2"),
            RedemptionRequest { amount: 30_001 },
        )
        .await
        .unwrap_err();
        assert_eq!(over.code, "insufficient_funds");
        assert!(over.en.contains("redeem"), "{}", over.en);
        assert_eq!(t.merchant_bank_balance(), 20_000);

        let m = money_when(&t.service, &shop, |m| {
            m.settlements.first().is_some_and(|s| s.status == "paid")
        })
        .await;
        assert_eq!((m.balance, m.redeemable, m.redeeming), (30_000, 30_000, 0));
        assert_eq!(m.settlements.len(), 1, "{:?}", m.settlements);
        let s = &m.settlements[0];
        assert_eq!(Some(s.transfer), first.value.transfer);
        assert_eq!(s.amount, 20_000);
        assert_eq!(s.reference, format!("demo-r{}", s.transfer));
        assert!(s.ended_at.is_some());

        // Only a merchant has money to redeem.
        let (_, citizen) = t
            .signed_in("minji", Role::Citizen, crate::testing::WALLET)
            .await;
        assert_eq!(
            money(&t.service, &citizen, None).await.unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            quote_redemption(&t.service, &citizen, None)
                .await
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn settlements_are_paged_newest_first() {
        let t = merchant_with_money(1_000).await;
        let (_, shop) = t.merchant("bakery").await;
        let n = SETTLEMENTS_PAGE + 3;
        for i in 0..n {
            let key = format!("k{i}");
            redeem(
                &t.service,
                &shop,
                Some(&key),
                RedemptionRequest { amount: 1 },
            )
            .await
            .unwrap();
        }
        let first = money_when(&t.service, &shop, |m| {
            m.settlements.len() == SETTLEMENTS_PAGE && m.older.is_some()
        })
        .await;
        let ids: Vec<u64> = first.settlements.iter().map(|s| s.transfer).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
        let rest = money(&t.service, &shop, first.older).await.unwrap();
        assert_eq!(rest.settlements.len(), 3);
        assert!(rest.older.is_none());
        assert!(rest.settlements[0].transfer < *ids.last().unwrap());
        assert_eq!(rest.balance, 1_000 - n as i64);
    }
}

//! What a citizen does with their money: the wallet by source, charging (with the
//! discount), paying a merchant (by id, by a scanned code, by a photo of one), history,
//! gifts, cancelling a purchase, the balance refund, auto-charge, and the one-time code
//! a shop scans. Each use case checks who may do it, claims the request's idempotency
//! key, and submits ledger commands or treasury calls; the API and the pages only read
//! requests and render these answers. `wallet` and `history` answer merchants too.

use base64::Engine as _;
use http::StatusCode;
use ledger::scheme::{SchemeApplied, SchemeCommand};
use ledger::{AccountId, MerchantId, WalletId, Won};
use qr::{QrOptions, Recognised, ScanAnswer};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ServiceError;
use crate::idempotency::{Answered, Fingerprint, claim_key};
use crate::ledger_ops::{remembered, require, run_scheme, scheme_answer, won};
use crate::public::MerchantCard;
use crate::{Caller, Currency, Role, Secret, Service};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Lot {
    /// purchased, allowance, cashback, gift, correction
    pub source: String,
    pub amount: i64,
    /// Unix microseconds: spendable until just before this instant.
    pub expires_at: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Wallet {
    pub account: u64,
    pub balance: i64,
    /// What can be spent now (balance less what is held for pending payments).
    pub available: i64,
    /// Value on its way in (a charge waiting for the bank).
    pub incoming: i64,
    /// Citizens: the balance by source of money and validity.
    pub lots: Vec<Lot>,
    /// Merchants: what is on its way to the bank (redemptions the bank is paying).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_redemption: Option<i64>,
    /// Merchants: paid out to the bank, over the settlements the service keeps (see
    /// `/me/settlements`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_out: Option<i64>,
    /// Merchants: the last payout to the bank, Unix microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_paid_out_at: Option<u64>,
}

/// The caller's balance: a citizen's wallet by source of money; a merchant's balance,
/// what is on its way to its bank and what was paid out.
pub async fn wallet(service: &Service, caller: &Caller) -> Result<Wallet, ServiceError> {
    if !matches!(caller.role, Role::Citizen | Role::Merchant) {
        return Err(ServiceError::forbidden());
    }
    let account = caller.account.ok_or_else(ServiceError::forbidden)?;
    let currency = service.currency(&caller.currency)?;
    let merchant = caller.role == Role::Merchant;
    let mut w = currency
        .engine
        .read(|l| {
            l.account(AccountId(account)).map(|a| Wallet {
                account,
                balance: a.balance().map_or(0, |b| b.get()),
                available: a.available().map_or(0, |b| b.get()),
                incoming: a.credits_pending.get(),
                lots: a
                    .lots
                    .iter()
                    .map(|lot| Lot {
                        source: lot.source.as_str().to_owned(),
                        amount: lot.amount.get(),
                        expires_at: lot.expires_at.as_micros(),
                    })
                    .collect(),
                pending_redemption: merchant.then(|| a.debits_pending.get()),
                paid_out: None,
                last_paid_out_at: None,
            })
        })
        .ok_or_else(|| ServiceError::not_found("wallet"))?;
    if merchant {
        currency.history.holds_durable(&currency.engine).await;
        let settlements =
            currency
                .history
                .settlements(account, None, crate::history::SETTLEMENTS_PER_MERCHANT);
        let paid = settlements.iter().filter(|s| s.status == "paid");
        w.paid_out = Some(paid.clone().map(|s| s.amount).sum());
        w.last_paid_out_at = paid.filter_map(|s| s.ended_at).max();
    }
    Ok(w)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    /// Face value to buy (what the wallet receives).
    pub face: i64,
    /// The purchase channel (bank transfer 0 in the demo schemes).
    #[serde(default)]
    pub channel: u16,
    /// Buy at full price if the discount budget is spent.
    #[serde(default)]
    pub full_price_ok: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChargeAnswer {
    /// `charged`, `refused` (by the bank) or `in_progress` (the bank's answer is not in
    /// yet; the value arrives when it is).
    pub status: String,
    pub purchase: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Buys vouchers, paid from the linked bank account.
pub async fn charge(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    req: ChargeRequest,
) -> Result<Answered<ChargeAnswer>, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("charge", &(req.face, req.channel, req.full_price_ok)),
    )?;
    let currency = service.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let r = currency
        .treasury
        .charge(
            key.client,
            key.key,
            WalletId(AccountId(account)),
            won(req.face)?,
            req.channel,
            req.full_price_ok,
        )
        .await
        .map_err(|e| ServiceError::treasury(e, Some(AccountId(account))))?;
    let value = match r {
        treasury::ChargeResult::Charged {
            purchase,
            paid,
            discount,
            ..
        } => ChargeAnswer {
            status: "charged".into(),
            purchase: purchase.0,
            paid: Some(paid.get()),
            discount: Some(discount.get()),
            code: None,
        },
        treasury::ChargeResult::Refused { purchase, code, .. } => ChargeAnswer {
            status: "refused".into(),
            purchase: purchase.0,
            paid: None,
            discount: None,
            code: Some(code.as_str().into()),
        },
        treasury::ChargeResult::InDoubt { purchase } => ChargeAnswer {
            status: "in_progress".into(),
            purchase: purchase.0,
            paid: None,
            discount: None,
            code: None,
        },
    };
    Ok(Answered { value, replayed })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The merchant's account id; or give `code`.
    pub merchant: Option<u64>,
    /// The merchant's QR code as scanned (a maeul sticker, a kiosk's one-sale code, or
    /// a previous operator's sticker imported as an alias); or give `merchant`.
    pub code: Option<String>,
    /// Won; may be left out when a kiosk's code carries it.
    pub amount: Option<i64>,
    #[schema(value_type = String)]
    pub pin: Secret<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentAnswer {
    pub payment: u64,
    pub amount: i64,
    pub cashback: i64,
    /// Why cash-back was less than the rate alone gives, if it was:
    /// `no_rate_for_merchant`, `monthly_spend_cap_reached`,
    /// `monthly_cashback_cap_reached` or `budget_exhausted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cashback_note: Option<String>,
}

/// Pays a merchant under the scheme's rules (cash-back as the scheme says).
pub async fn pay(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    req: PaymentRequest,
) -> Result<Answered<PaymentAnswer>, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("pay", &(req.merchant, req.code.as_deref(), req.amount)),
    )?;
    let currency = service.currency(&caller.currency)?;
    // The same payment by code again gets its first answer, whatever the code says
    // now (the shop may since be suspended, the kiosk's code gone).
    if key.is_repeat()
        && req.code.is_some()
        && let Some(first) = remembered(currency, &key)
    {
        let applied = first.map_err(|r| ServiceError::refused(&r, Some(AccountId(account))))?;
        return Ok(Answered {
            value: paid_answer(scheme_answer(applied)?)?,
            replayed: true,
        });
    }
    let (merchant, amount) = match (req.merchant, req.code.as_deref()) {
        (Some(m), None) => (
            m,
            won(req
                .amount
                .ok_or_else(|| ServiceError::bad_request("amount_required", "give the amount"))?)?,
        ),
        (None, Some(code)) => payment_target(currency, code, req.amount)?,
        _ => {
            return Err(ServiceError::bad_request(
                "merchant_or_code",
                "give either `merchant` or `code`",
            ));
        }
    };
    // A retry of a payment already made gets its answer even if the PIN has since
    // been locked or changed: the money moved, and the citizen must be told so. A
    // right PIN settles it without asking the ledger, whose lock the sequencer holds
    // while it applies a batch.
    if !service.auth.pin_is_right(caller.user_id, req.pin.expose())
        && remembered(currency, &key).is_none_or(|r| r.is_err())
    {
        service
            .auth
            .check_pin(caller.user_id, req.pin.expose())
            .await?;
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::Pay {
            payer: WalletId(AccountId(account)),
            merchant: MerchantId(AccountId(merchant)),
            amount,
        },
        Some(account),
    )
    .await?;
    Ok(Answered {
        value: paid_answer(a.value)?,
        replayed: a.replayed,
    })
}

/// The answer of a payment.
pub fn paid_answer(applied: SchemeApplied) -> Result<PaymentAnswer, ServiceError> {
    match applied {
        SchemeApplied::Paid {
            payment,
            amount,
            cashback,
            cashback_note,
            ..
        } => Ok(PaymentAnswer {
            payment: payment.0,
            amount: amount.get(),
            cashback: cashback.get(),
            cashback_note: cashback_note.map(|n| cashback_note_code(n).to_owned()),
        }),
        // Only an earlier, different command under the same key answers otherwise.
        _ => Err(crate::idempotency::key_reused()),
    }
}

/// The stable code of why cash-back was less than the rate alone gives.
pub fn cashback_note_code(n: ledger::scheme::CashbackNote) -> &'static str {
    use ledger::scheme::CashbackNote as N;
    match n {
        N::NoRateForMerchant => "no_rate_for_merchant",
        N::MonthlySpendCapReached => "monthly_spend_cap_reached",
        N::MonthlyCashbackCapReached => "monthly_cashback_cap_reached",
        N::BudgetExhausted => "budget_exhausted",
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// A cursor from an earlier page: entries older than it.
    pub before: Option<u64>,
    /// At most 200 (default 50).
    pub limit: Option<usize>,
}

/// The caller's history (citizen or merchant), newest first, paged.
pub async fn history(
    service: &Service,
    caller: &Caller,
    paging: Paging,
) -> Result<Vec<crate::history::Entry>, ServiceError> {
    if !matches!(caller.role, Role::Citizen | Role::Merchant) {
        return Err(ServiceError::forbidden());
    }
    let account = caller.account.ok_or_else(ServiceError::forbidden)?;
    let currency = service.currency(&caller.currency)?;
    let limit = paging.limit.unwrap_or(50).clamp(1, 200);
    currency.history.holds_durable(&currency.engine).await;
    Ok(currency.history.page(account, paging.before, limit))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiftRequest {
    /// The recipient's wallet account id.
    pub recipient: u64,
    pub amount: i64,
    #[schema(value_type = String)]
    pub pin: Secret<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GiftAnswer {
    pub gift: u64,
    pub amount: i64,
}

/// Gives value to another citizen, within the scheme's gift rules.
pub async fn gift(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    req: GiftRequest,
) -> Result<Answered<GiftAnswer>, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("gift", &(req.recipient, req.amount)),
    )?;
    let amount = won(req.amount)?;
    let currency = service.currency(&caller.currency)?;
    if remembered(currency, &key).is_none_or(|r| r.is_err()) {
        service
            .auth
            .check_pin(caller.user_id, req.pin.expose())
            .await?;
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::Gift {
            sender: WalletId(AccountId(account)),
            recipient: WalletId(AccountId(req.recipient)),
            amount,
        },
        Some(account),
    )
    .await?;
    match a.value {
        SchemeApplied::Gifted { gift, amount } => Ok(Answered {
            value: GiftAnswer {
                gift: gift.0,
                amount: amount.get(),
            },
            replayed: a.replayed,
        }),
        _ => Err(crate::idempotency::key_reused()),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PayoutAnswer {
    /// `paid`, `refused` (by the bank: the money is owed, an operator follows up) or
    /// `in_progress`; `none` when there was nothing to pay out.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<u64>,
    pub amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

pub fn payout_answer(p: Option<treasury::PayoutResult>) -> PayoutAnswer {
    match p {
        None => PayoutAnswer {
            status: "none".into(),
            transfer: None,
            amount: 0,
            code: None,
        },
        Some(treasury::PayoutResult::Paid { transfer, amount }) => PayoutAnswer {
            status: "paid".into(),
            transfer: Some(transfer.0),
            amount: amount.get(),
            code: None,
        },
        Some(treasury::PayoutResult::Refused {
            transfer,
            amount,
            code,
            ..
        }) => PayoutAnswer {
            status: "refused".into(),
            transfer: Some(transfer.0),
            amount: amount.get(),
            code: Some(code.as_str().into()),
        },
        Some(treasury::PayoutResult::InDoubt { transfer, amount }) => PayoutAnswer {
            status: "in_progress".into(),
            transfer: Some(transfer.0),
            amount: amount.get(),
            code: None,
        },
    }
}

/// Refunds the remaining bought value to the linked bank account, once the scheme's
/// used share is reached (the subsidy share goes back to its budget).
pub async fn refund_balance(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
) -> Result<Answered<PayoutAnswer>, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("refund_balance", &()),
    )?;
    let currency = service.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let r = currency
        .treasury
        .refund_balance(key.client, key.key, WalletId(AccountId(account)))
        .await
        .map_err(|e| ServiceError::treasury(e, Some(AccountId(account))))?;
    Ok(Answered {
        value: payout_answer(r),
        replayed,
    })
}

/// Cancels an unused purchase within its window: what was paid goes back to the bank.
pub async fn cancel_purchase(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    purchase: u64,
) -> Result<Answered<PayoutAnswer>, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("cancel_purchase", &purchase),
    )?;
    let currency = service.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let owner = currency
        .engine
        .read(|l| l.purchase(ledger::TransferId(purchase)).map(|p| p.wallet.0));
    if owner != Some(account) {
        return Err(ServiceError::not_found("purchase"));
    }
    let r = currency
        .treasury
        .cancel_purchase(key.client, key.key, ledger::TransferId(purchase))
        .await
        .map_err(|e| ServiceError::treasury(e, Some(AccountId(account))))?;
    Ok(Answered {
        value: payout_answer(r),
        replayed,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoCharge {
    /// Day of the month (1-28) for the monthly charge.
    pub day: u8,
    /// Face value charged each month (0: top-up only).
    pub monthly_face: i64,
    #[serde(default)]
    pub channel: u16,
    /// Buy the shortfall when a payment finds the wallet short.
    pub topup: bool,
}

/// Sets (or, with `null`, removes) the caller's auto-charge.
pub async fn set_auto_charge(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    req: Option<AutoCharge>,
) -> Result<Answered<()>, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of(
            "set_auto_charge",
            &req.as_ref()
                .map(|a| (a.day, a.monthly_face, a.channel, a.topup)),
        ),
    )?;
    let setting = match req {
        None => None,
        Some(a) => {
            if a.monthly_face < 0 || a.monthly_face > Won::TRANSFER_MAX.get() {
                return Err(ServiceError::bad_request("amount_invalid", "monthly_face"));
            }
            Some(ledger::scheme::AutoChargeSetting {
                day: a.day,
                monthly_face: Won::new(a.monthly_face),
                channel: a.channel,
                topup: a.topup,
            })
        }
    };
    let currency = service.currency(&caller.currency)?;
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::SetAutoCharge {
            wallet: WalletId(AccountId(account)),
            setting,
        },
        Some(account),
    )
    .await?;
    Ok(Answered {
        value: (),
        replayed: a.replayed,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The scanned text, exactly as the camera read it.
    pub payload: String,
}

/// What a scan is, in words for people and a stable code for apps.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanView {
    /// `merchant_found`, `payer_found`, `incomplete_scan` (cut short or damaged: scan
    /// again), `bad_checksum`, `malformed_emv`, `not_payment_code`,
    /// `unknown_merchant`, `merchant_suspended`, `merchant_closed`, `other_currency`, …
    pub code: String,
    pub payable: bool,
    pub message_ko: String,
    pub message_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant: Option<MerchantCard>,
    /// Fixed by a kiosk's code, in won.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    /// How it was recognised: `maeul_static`, `maeul_dynamic`, `alias`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognised: Option<String>,
    /// The scheme the code belongs to, when it is not ours (e.g. `zeropay`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

pub fn scan_view(currency: &Currency, a: &ScanAnswer) -> ScanView {
    let (merchant, amount, recognised) = match a {
        ScanAnswer::Merchant(t) => (
            Some(t.merchant),
            t.amount_won,
            Some(match t.via {
                Recognised::MaeulStatic => "maeul_static",
                Recognised::MaeulDynamic => "maeul_dynamic",
                Recognised::Alias { .. } => "alias",
            }),
        ),
        ScanAnswer::MerchantSuspended { merchant, .. }
        | ScanAnswer::MerchantClosed { merchant } => (Some(*merchant), None, None),
        _ => (None, None, None),
    };
    let scheme = a.scheme();
    ScanView {
        code: a.code().to_owned(),
        payable: a.is_payable(),
        message_ko: a.message_ko().into_owned(),
        message_en: a.message_en().into_owned(),
        merchant: merchant
            .and_then(|m| currency.merchants.get(m))
            .map(|m| MerchantCard::of(&m, None)),
        amount,
        recognised: recognised.map(str::to_owned),
        scheme: scheme.map(str::to_owned),
    }
}

/// A refusal that says exactly what the scan was.
pub fn scan_refusal(a: &ScanAnswer) -> ServiceError {
    // The same machine-readable field as the scan answer: an app need not parse words.
    ServiceError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        a.code(),
        &a.message_ko(),
        &a.message_en(),
    )
    .scheme(a.scheme())
}

/// What a scanned code is, before paying (a citizen's app shows the shop and amount).
pub async fn scan(
    service: &Service,
    caller: &Caller,
    req: ScanRequest,
) -> Result<ScanView, ServiceError> {
    require(caller, Role::Citizen)?;
    let currency = service.currency(&caller.currency)?;
    let a = currency
        .merchants
        .classify_for_citizen(req.payload.as_bytes(), crate::now_us());
    Ok(scan_view(currency, &a))
}

/// What the code in a camera image or photo (PNG or JPEG) is: decoded under the `qr`
/// crate's limits and a decode place (`camera::decode`), then classified as [`scan`]
/// does.
pub async fn scan_image(
    service: &Service,
    caller: &Caller,
    image: impl AsRef<[u8]> + Send + 'static,
    decodes: &std::sync::Arc<tokio::sync::Semaphore>,
) -> Result<ScanView, ServiceError> {
    require(caller, Role::Citizen)?;
    let currency = service.currency(&caller.currency)?;
    let found = crate::camera::decode(image, decodes).await?;
    let first = found.first().cloned().unwrap_or_default();
    let a = currency
        .merchants
        .classify_for_citizen(&first, crate::now_us());
    Ok(scan_view(currency, &a))
}

/// The merchant and amount a citizen's payment by scanned code goes to.
pub fn payment_target(
    currency: &Currency,
    code: &str,
    amount: Option<i64>,
) -> Result<(u64, Won), ServiceError> {
    let a = currency
        .merchants
        .classify_for_citizen(code.as_bytes(), crate::now_us());
    let ScanAnswer::Merchant(target) = &a else {
        return Err(scan_refusal(&a));
    };
    let amount = match (target.amount_won, amount) {
        (Some(fixed), Some(given)) if i64::try_from(fixed).ok() != Some(given) => {
            return Err(ServiceError::bad_request(
                "amount_differs_from_code",
                format!("the code asks for {fixed} won, the request says {given}"),
            ));
        }
        (Some(fixed), _) => i64::try_from(fixed)
            .map_err(|_| ServiceError::bad_request("amount_invalid", "amount too large"))?,
        (None, Some(given)) => given,
        (None, None) => {
            return Err(ServiceError::bad_request(
                "amount_required",
                "this code has no amount: give one",
            ));
        }
    };
    Ok((target.merchant, won(amount)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerCodeRequest {
    #[schema(value_type = String)]
    pub pin: crate::Secret<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsumerCodeAnswer {
    /// Show as a QR code; the merchant scans it and enters the amount. Once only.
    pub code: String,
    /// Unix microseconds; at most three minutes from now.
    pub expires_at_us: u64,
    /// The code as a PNG image, base64.
    pub png_base64: String,
}

/// A one-time payment code for the till (valid three minutes; asks the payment PIN).
pub async fn consumer_code(
    service: &Service,
    caller: &Caller,
    req: ConsumerCodeRequest,
) -> Result<ConsumerCodeAnswer, ServiceError> {
    let wallet = require(caller, Role::Citizen)?;
    // Each code takes a place in a bounded table: the per-user write limit applies.
    service
        .writes
        .admit(caller.user_id)
        .map_err(ServiceError::too_many)?;
    service
        .auth
        .check_pin(caller.user_id, req.pin.expose())
        .await?;
    let currency = service.currency(&caller.currency)?;
    let issued = currency
        .merchants
        .issue_consumer_code(wallet, crate::now_us())?;
    let png = qr::render_png(&issued.text, &QrOptions::default())
        .map_err(|e| ServiceError::internal(e.to_string()))?;
    Ok(ConsumerCodeAnswer {
        code: issued.text,
        expires_at_us: issued.expires_at_us,
        png_base64: base64::engine::general_purpose::STANDARD.encode(png),
    })
}

/// The ledger's time for a quote: now, never before the last batch (whose time the
/// ledger's own checks have already seen).
fn quote_time(l: &ledger::Ledger) -> ledger::Timestamp {
    ledger::Timestamp::from_micros(crate::now_us().max(l.last_timestamp().as_micros()))
}

fn limit(w: Option<Won>) -> Option<i64> {
    w.map(Won::get)
}

/// What is left of `limit` once `used` and this `face` count against it.
fn left_after(limit: Option<Won>, used: Won, face: Won) -> Option<i64> {
    limit.map(|l| {
        l.get()
            .saturating_sub(used.get())
            .saturating_sub(face.get())
            .max(0)
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChargeQuote {
    /// What the wallet receives.
    pub face: i64,
    /// What is taken from the linked bank account.
    pub paid: i64,
    /// The scheme's discount (paid from its budget).
    pub discount: i64,
    /// The discount budget is spent: full price, as the citizen accepted.
    pub discount_withheld: bool,
    /// The monthly purchase limit, if the scheme has one, and what was bought this KST
    /// month before this charge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_limit: Option<i64>,
    pub purchased_this_month: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yearly_limit: Option<i64>,
    pub purchased_this_year: i64,
    /// The channel's own monthly limit, and what was bought through it this month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_limit: Option<i64>,
    pub purchased_on_channel: i64,
    /// The most a wallet may hold, and what it holds (value on its way in included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holding_cap: Option<i64>,
    pub holding: i64,
    /// What is left of each limit after this charge (none: no such limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_left_after: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yearly_left_after: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_left_after: Option<i64>,
}

/// What a charge would cost and give, and the limits it counts against, decided by the
/// ledger's own purchase rule (`Ledger::quote_purchase`) without charging: a citizen
/// sees it before confirming. Refused as the charge itself would be.
pub async fn quote_charge(
    service: &Service,
    caller: &Caller,
    req: &ChargeRequest,
) -> Result<ChargeQuote, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let currency = service.currency(&caller.currency)?;
    let face = won(req.face)?;
    if currency
        .treasury
        .accounts()
        .get(AccountId(account))
        .is_none()
    {
        return Err(ServiceError::treasury(
            treasury::TreasuryError::NoLinkedAccount(AccountId(account)),
            Some(AccountId(account)),
        ));
    }
    let q = currency
        .engine
        .read(|l| {
            l.quote_purchase(
                WalletId(AccountId(account)),
                face,
                req.channel,
                req.full_price_ok,
                quote_time(l),
            )
        })
        .map_err(|r| ServiceError::refused(&r, Some(AccountId(account))))?;
    Ok(ChargeQuote {
        face: q.face.get(),
        paid: q.paid.get(),
        discount: q.discount.get(),
        discount_withheld: q.discount_withheld,
        monthly_limit: limit(q.monthly_limit),
        purchased_this_month: q.purchased_month.get(),
        yearly_limit: limit(q.yearly_limit),
        purchased_this_year: q.purchased_year.get(),
        channel_limit: limit(q.channel_limit),
        purchased_on_channel: q.purchased_on_channel.get(),
        holding_cap: limit(q.holding_cap),
        holding: q.holding.get(),
        monthly_left_after: left_after(q.monthly_limit, q.purchased_month, q.face),
        yearly_left_after: left_after(q.yearly_limit, q.purchased_year, q.face),
        channel_left_after: left_after(q.channel_limit, q.purchased_on_channel, q.face),
    })
}

/// Where a purchase stands: `pending` (the bank's answer is not in yet), `posted`,
/// `cancelled` or `failed` (the bank refused).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurchaseView {
    pub purchase: u64,
    pub state: String,
    pub face: i64,
    pub paid: i64,
    pub discount: i64,
    /// Unix microseconds.
    pub at: u64,
}

/// One of the caller's purchases, while the ledger keeps it (its cancel window and a
/// grace period); someone else's is not found.
pub async fn purchase(
    service: &Service,
    caller: &Caller,
    purchase: u64,
) -> Result<PurchaseView, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let currency = service.currency(&caller.currency)?;
    currency
        .engine
        .read(|l| {
            l.purchase(ledger::TransferId(purchase))
                .filter(|p| p.wallet == AccountId(account))
                .map(|p| PurchaseView {
                    purchase,
                    state: match p.state {
                        ledger::scheme::PurchaseState::Pending => "pending",
                        ledger::scheme::PurchaseState::Posted => "posted",
                        ledger::scheme::PurchaseState::Cancelled => "cancelled",
                        ledger::scheme::PurchaseState::Failed => "failed",
                    }
                    .into(),
                    face: p.face.get(),
                    paid: p.paid.get(),
                    discount: p.discount.get(),
                    at: p.at.as_micros(),
                })
        })
        .ok_or_else(|| ServiceError::not_found("purchase"))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CancelQuoteView {
    pub purchase: u64,
    /// Unix microseconds of the purchase.
    pub bought_at: u64,
    pub face: i64,
    /// Paid back to the linked bank account.
    pub to_bank: i64,
    /// The discount, back to the scheme's budget (not to the citizen).
    pub subsidy_kept: i64,
    /// Unix microseconds: cancellable until then.
    pub until: u64,
}

/// History entries looked through for purchases that can still be cancelled (the
/// cancel window is days; a citizen's charges are few among them).
pub const CANCELLABLE_LOOKBACK: usize = 200;

/// The caller's purchases that can be cancelled now, newest first, each with what
/// cancelling gives back (the ledger's own rule, `Ledger::quote_cancel_purchase`).
pub async fn cancellable_purchases(
    service: &Service,
    caller: &Caller,
) -> Result<Vec<CancelQuoteView>, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let currency = service.currency(&caller.currency)?;
    currency.history.holds_durable(&currency.engine).await;
    let charges: Vec<u64> = currency
        .history
        .page(account, None, CANCELLABLE_LOOKBACK)
        .into_iter()
        .filter(|e| e.kind == "charge")
        .filter_map(|e| e.transfer)
        .collect();
    Ok(currency.engine.read(|l| {
        let now = quote_time(l);
        charges
            .into_iter()
            .filter_map(|id| {
                let rec = l
                    .purchase(ledger::TransferId(id))
                    .filter(|p| p.wallet == AccountId(account))?;
                let q = l.quote_cancel_purchase(rec.charge, now).ok()?;
                Some(cancel_view(rec.at.as_micros(), &q))
            })
            .collect()
    }))
}

fn cancel_view(bought_at: u64, q: &ledger::scheme::CancelQuote) -> CancelQuoteView {
    CancelQuoteView {
        purchase: q.purchase.0,
        bought_at,
        face: q.face.get(),
        to_bank: q.cash.get(),
        subsidy_kept: q.subsidy.get(),
        until: q.until.as_micros(),
    }
}

/// What cancelling one of the caller's purchases would give back, or why it cannot be
/// cancelled (the ledger's own rule, without cancelling).
pub async fn quote_cancel(
    service: &Service,
    caller: &Caller,
    purchase: u64,
) -> Result<CancelQuoteView, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let currency = service.currency(&caller.currency)?;
    currency.engine.read(|l| {
        let rec = l
            .purchase(ledger::TransferId(purchase))
            .filter(|p| p.wallet == AccountId(account))
            .ok_or_else(|| ServiceError::not_found("purchase"))?;
        let q = l
            .quote_cancel_purchase(rec.charge, quote_time(l))
            .map_err(|r| ServiceError::refused(&r, Some(AccountId(account))))?;
        Ok(cancel_view(rec.at.as_micros(), &q))
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceRefundQuoteView {
    /// Bought value left in the wallet: all of it leaves the wallet.
    pub remaining: i64,
    /// Paid to the linked bank account.
    pub to_bank: i64,
    /// The subsidy share of what is left, back to the scheme's budgets.
    pub subsidy_kept: i64,
}

/// What a balance refund would pay, or why there is none yet (the ledger's own rule,
/// `Ledger::quote_refund_balance`, without refunding).
pub async fn quote_refund_balance(
    service: &Service,
    caller: &Caller,
) -> Result<BalanceRefundQuoteView, ServiceError> {
    let account = require(caller, Role::Citizen)?;
    let currency = service.currency(&caller.currency)?;
    let q = currency
        .engine
        .read(|l| l.quote_refund_balance(WalletId(AccountId(account)), quote_time(l)))
        .map_err(|r| ServiceError::refused(&r, Some(AccountId(account))))?;
    Ok(BalanceRefundQuoteView {
        remaining: q.remaining.get(),
        to_bank: q.cash.get(),
        subsidy_kept: q.subsidy.get(),
    })
}

/// A consumer code (or any text) as an SVG QR image, for pages that show it inline (a
/// page's policy allows no `data:` images). No `style` attributes: the pages' policy
/// forbids them.
pub fn code_svg(text: &str) -> Result<String, ServiceError> {
    qr::render_svg(text, &QrOptions::default()).map_err(|e| ServiceError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a request's `Debug` (in a log line, a panic, a test failure) printed
    /// PINs.
    #[test]
    fn the_debug_of_a_payment_does_not_show_its_pin() {
        let pay: Result<PaymentRequest, _> = serde_json::from_value(
            serde_json::json!({"merchant": 7, "amount": 5000, "pin": "987654"}),
        );
        let shown = format!("{pay:?}");
        assert!(
            shown.contains("5000") && !shown.contains("987654"),
            "{shown}"
        );
    }
}

//! A citizen's wallet and money: charging, paying (by merchant, by scanned code, by photo), history, gifts, cancelling a purchase, the balance refund, auto-charge, and the one-time code a shop scans. `/me/wallet` and `/me/history` answer merchants too.

use super::prelude::*;
use super::public::MerchantCard;

#[derive(OpenApi)]
#[openapi(
    paths(
        wallet,
        charge,
        pay,
        history,
        gift,
        refund_balance,
        cancel_purchase,
        set_auto_charge,
        scan,
        scan_image,
        consumer_code
    ),
    components(schemas(
        Wallet,
        Lot,
        ChargeRequest,
        ChargeAnswer,
        PaymentRequest,
        PaymentAnswer,
        GiftRequest,
        GiftAnswer,
        PayoutAnswer,
        AutoCharge,
        ScanRequest,
        ScanView,
        ConsumerCodeRequest,
        ConsumerCodeAnswer
    ))
)]
#[derive(Debug)]
pub struct Doc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/me/wallet", get(wallet))
        .route("/api/v1/me/charges", post(charge))
        .route("/api/v1/me/payments", post(pay))
        .route("/api/v1/me/history", get(history))
        .route("/api/v1/me/gifts", post(gift))
        .route("/api/v1/me/refund", post(refund_balance))
        .route(
            "/api/v1/me/purchases/{purchase}/cancel",
            post(cancel_purchase),
        )
        .route(
            "/api/v1/me/auto-charge",
            axum::routing::put(set_auto_charge),
        )
        .route("/api/v1/me/scan", post(scan))
        .route("/api/v1/me/scan-image", post(scan_image))
        .route("/api/v1/me/consumer-code", post(consumer_code))
}

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
#[utoipa::path(get, path = "/api/v1/me/wallet", security(("bearer" = [])), responses(
    (status = 200, body = Wallet), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")
))]
async fn wallet(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
) -> Result<Json<Wallet>, ApiError> {
    if !matches!(caller.role, Role::Citizen | Role::Merchant) {
        return Err(ApiError::forbidden());
    }
    let account = caller.account.ok_or_else(ApiError::forbidden)?;
    let currency = state.currency(&caller.currency)?;
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
        .ok_or_else(|| ApiError::not_found("wallet"))?;
    if merchant {
        let settlements =
            currency
                .history
                .settlements(account, None, crate::history::SETTLEMENTS_PER_MERCHANT);
        let paid = settlements.iter().filter(|s| s.status == "paid");
        w.paid_out = Some(paid.clone().map(|s| s.amount).sum());
        w.last_paid_out_at = paid.filter_map(|s| s.ended_at).max();
    }
    Ok(Json(w))
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
#[utoipa::path(post, path = "/api/v1/me/charges", request_body = ChargeRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the same key repeats the first answer")),
    responses(
        (status = 200, body = ChargeAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")
))]
async fn charge(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ChargeRequest>,
) -> Result<Answer<Json<ChargeAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("charge", &(req.face, req.channel, req.full_price_ok)),
    )?;
    let currency = state.currency(&caller.currency)?;
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
        .map_err(|e| ApiError::treasury(e, Some(AccountId(account))))?;
    let value = Json(match r {
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
    });
    Ok(Answer { value, replayed })
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
#[utoipa::path(post, path = "/api/v1/me/payments", request_body = PaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "the same key repeats the first answer")),
    responses(
        (status = 200, body = PaymentAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")
))]
async fn pay(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<PaymentRequest>,
) -> Result<Answer<Json<PaymentAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("pay", &(req.merchant, req.code.as_deref(), req.amount)),
    )?;
    let currency = state.currency(&caller.currency)?;
    // The same payment by code again gets its first answer, whatever the code says
    // now (the shop may since be suspended, the kiosk's code gone).
    if key.is_repeat()
        && req.code.is_some()
        && let Some(first) = remembered(currency, &key)
    {
        let applied = first.map_err(|r| ApiError::refused(&r, Some(AccountId(account))))?;
        return Ok(Answer {
            value: paid_answer(scheme_answer(applied)?)?,
            replayed: true,
        });
    }
    let (merchant, amount) = match (req.merchant, req.code.as_deref()) {
        (Some(m), None) => (
            m,
            won(req
                .amount
                .ok_or_else(|| ApiError::bad_request("amount_required", "give the amount"))?)?,
        ),
        (None, Some(code)) => payment_target(currency, code, req.amount)?,
        _ => {
            return Err(ApiError::bad_request(
                "merchant_or_code",
                "give either `merchant` or `code`",
            ));
        }
    };
    // A retry of a payment already made gets its answer even if the PIN has since
    // been locked: the money moved, and the citizen must be told so.
    if remembered(currency, &key).is_none_or(|r| r.is_err()) {
        state
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
    Ok(Answer {
        value: paid_answer(a.value)?,
        replayed: a.replayed,
    })
}

/// The answer of a payment.
pub(crate) fn paid_answer(applied: SchemeApplied) -> Result<Json<PaymentAnswer>, ApiError> {
    match applied {
        SchemeApplied::Paid {
            payment,
            amount,
            cashback,
            cashback_note,
            ..
        } => Ok(Json(PaymentAnswer {
            payment: payment.0,
            amount: amount.get(),
            cashback: cashback.get(),
            cashback_note: cashback_note.map(|n| cashback_note_code(n).to_owned()),
        })),
        // Only an earlier, different command under the same key answers otherwise.
        _ => Err(ApiError(crate::idempotency::key_reused())),
    }
}

/// The stable code of why cash-back was less than the rate alone gives.
fn cashback_note_code(n: ledger::scheme::CashbackNote) -> &'static str {
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
#[utoipa::path(get, path = "/api/v1/me/history", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Vec<crate::history::Entry>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn history(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json<Vec<crate::history::Entry>>, ApiError> {
    if !matches!(caller.role, Role::Citizen | Role::Merchant) {
        return Err(ApiError::forbidden());
    }
    let account = caller.account.ok_or_else(ApiError::forbidden)?;
    let currency = state.currency(&caller.currency)?;
    let limit = paging.limit.unwrap_or(50).clamp(1, 200);
    Ok(Json(currency.history.page(account, paging.before, limit)))
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
#[utoipa::path(post, path = "/api/v1/me/gifts", request_body = GiftRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 200, body = GiftAnswer), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn gift(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<GiftRequest>,
) -> Result<Answer<Json<GiftAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("gift", &(req.recipient, req.amount)),
    )?;
    let amount = won(req.amount)?;
    let currency = state.currency(&caller.currency)?;
    if remembered(currency, &key).is_none_or(|r| r.is_err()) {
        state
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
        SchemeApplied::Gifted { gift, amount } => Ok(Answer {
            value: Json(GiftAnswer {
                gift: gift.0,
                amount: amount.get(),
            }),
            replayed: a.replayed,
        }),
        _ => Err(ApiError(crate::idempotency::key_reused())),
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

pub(crate) fn payout_answer(p: Option<treasury::PayoutResult>) -> PayoutAnswer {
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
#[utoipa::path(post, path = "/api/v1/me/refund", security(("bearer" = [])), params(("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PayoutAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn refund_balance(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
) -> Result<Answer<Json<PayoutAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("refund_balance", &()),
    )?;
    let currency = state.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let r = currency
        .treasury
        .refund_balance(key.client, key.key, WalletId(AccountId(account)))
        .await
        .map_err(|e| ApiError::treasury(e, Some(AccountId(account))))?;
    Ok(Answer {
        value: Json(payout_answer(r)),
        replayed,
    })
}

/// Cancels an unused purchase within its window: what was paid goes back to the bank.
#[utoipa::path(post, path = "/api/v1/me/purchases/{purchase}/cancel", security(("bearer" = [])),
    params(("purchase" = u64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = PayoutAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn cancel_purchase(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    PathParams(purchase): PathParams<u64>,
) -> Result<Answer<Json<PayoutAnswer>>, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
        Fingerprint::of("cancel_purchase", &purchase),
    )?;
    let currency = state.currency(&caller.currency)?;
    let replayed = key.is_repeat() && remembered(currency, &key).is_some();
    let owner = currency
        .engine
        .read(|l| l.purchase(ledger::TransferId(purchase)).map(|p| p.wallet.0));
    if owner != Some(account) {
        return Err(ApiError::not_found("purchase"));
    }
    let r = currency
        .treasury
        .cancel_purchase(key.client, key.key, ledger::TransferId(purchase))
        .await
        .map_err(|e| ApiError::treasury(e, Some(AccountId(account))))?;
    Ok(Answer {
        value: Json(payout_answer(r)),
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
#[utoipa::path(put, path = "/api/v1/me/auto-charge", request_body = Option<AutoCharge>, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header)),
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_auto_charge(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    JsonBody(req): JsonBody<Option<AutoCharge>>,
) -> Result<Response, ApiError> {
    let account = require(&caller, Role::Citizen)?;
    let key = idempotency(
        &state,
        &headers,
        &caller,
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
                return Err(ApiError::bad_request("amount_invalid", "monthly_face"));
            }
            Some(ledger::scheme::AutoChargeSetting {
                day: a.day,
                monthly_face: Won::new(a.monthly_face),
                channel: a.channel,
                topup: a.topup,
            })
        }
    };
    let currency = state.currency(&caller.currency)?;
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
    Ok(crate::idempotency::mark_replayed(
        StatusCode::NO_CONTENT.into_response(),
        a.replayed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::session::{CitizenSignUp, SignIn};

    /// Regression: a request's `Debug` (in a log line, a panic, a test failure) printed
    /// passwords and PINs.
    #[test]
    fn the_debug_of_requests_does_not_show_passwords_or_pins() {
        let sign_in: Result<SignIn, _> = serde_json::from_value(
            serde_json::json!({"login": "minji", "password": "hunter2-secret"}),
        );
        let shown = format!("{sign_in:?}");
        assert!(shown.contains("minji"), "{shown}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        let sign_up: Result<CitizenSignUp, _> = serde_json::from_value(serde_json::json!({
            "login": "minji", "password": "hunter2-secret", "pin": "987654",
            "birth_year": 1990, "currency": "busan"
        }));
        let shown = format!("{sign_up:?}");
        assert!(shown.contains("minji"), "{shown}");
        assert!(
            !shown.contains("hunter2-secret") && !shown.contains("987654"),
            "{shown}"
        );
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

fn scan_view(currency: &Currency, a: &ScanAnswer) -> ScanView {
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
pub(crate) fn scan_refusal(a: &ScanAnswer) -> ApiError {
    // The same machine-readable field as the scan answer: an app need not parse words.
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        a.code(),
        &a.message_ko(),
        &a.message_en(),
    )
    .scheme(a.scheme())
}

/// What a scanned code is, before paying (a citizen's app shows the shop and amount).
#[utoipa::path(post, path = "/api/v1/me/scan", request_body = ScanRequest, security(("bearer" = [])),
    responses((status = 200, body = ScanView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn scan(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    JsonBody(req): JsonBody<ScanRequest>,
) -> Result<Json<ScanView>, ApiError> {
    require(&caller, Role::Citizen)?;
    let currency = state.currency(&caller.currency)?;
    let a = currency
        .merchants
        .classify_for_citizen(req.payload.as_bytes(), service::now_us());
    Ok(Json(scan_view(currency, &a)))
}

/// The same from a camera image (PNG or JPEG body).
#[utoipa::path(post, path = "/api/v1/me/scan-image", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = ScanView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn scan_image(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    body: Bytes,
) -> Result<Json<ScanView>, ApiError> {
    require(&caller, Role::Citizen)?;
    let currency = state.currency(&caller.currency)?.clone();
    // What the header alone refuses (a decompression bomb, a GIF) is answered before a
    // decode place is taken: a burst of bombs must not crowd out real photos.
    qr::check_image_header(&body).map_err(image_refusal)?;
    // A decode may take `qr::DECODE_MEMORY_MAX_BYTES` and seconds of a core: only a few
    // run at once, and one more is answered 503 at once rather than queued (a queue of
    // images would hold their memory and answer after the citizen gave up).
    let permit = Arc::clone(&state.image_decodes)
        .try_acquire_owned()
        .map_err(|_| ApiError::busy(1))?;
    // Image decoding is CPU work: off the async threads. The permit goes with the work,
    // which goes on even if the request is dropped.
    let found = tokio::task::spawn_blocking(move || {
        let found = qr::decode_image(&body);
        drop(permit);
        found
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(image_refusal)?;
    let first = found.first().cloned().unwrap_or_default();
    let a = currency
        .merchants
        .classify_for_citizen(&first, service::now_us());
    Ok(Json(scan_view(&currency, &a)))
}

/// An image that could not be read for codes: 422 with the decoder's code and words.
fn image_refusal(e: qr::ImageDecodeError) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        e.code(),
        e.message_ko(),
        e.message_en(),
    )
}

/// The merchant and amount a citizen's payment by scanned code goes to.
pub(crate) fn payment_target(
    currency: &Currency,
    code: &str,
    amount: Option<i64>,
) -> Result<(u64, Won), ApiError> {
    let a = currency
        .merchants
        .classify_for_citizen(code.as_bytes(), service::now_us());
    let ScanAnswer::Merchant(target) = &a else {
        return Err(scan_refusal(&a));
    };
    let amount = match (target.amount_won, amount) {
        (Some(fixed), Some(given)) if i64::try_from(fixed).ok() != Some(given) => {
            return Err(ApiError::bad_request(
                "amount_differs_from_code",
                format!("the code asks for {fixed} won, the request says {given}"),
            ));
        }
        (Some(fixed), _) => i64::try_from(fixed)
            .map_err(|_| ApiError::bad_request("amount_invalid", "amount too large"))?,
        (None, Some(given)) => given,
        (None, None) => {
            return Err(ApiError::bad_request(
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
#[utoipa::path(post, path = "/api/v1/me/consumer-code", request_body = ConsumerCodeRequest, security(("bearer" = [])),
    responses((status = 200, body = ConsumerCodeAnswer), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn consumer_code(
    State(state): State<Arc<AppState>>,
    SignedIn(caller): SignedIn,
    JsonBody(req): JsonBody<ConsumerCodeRequest>,
) -> Result<Json<ConsumerCodeAnswer>, ApiError> {
    let wallet = require(&caller, Role::Citizen)?;
    // Each code takes a place in a bounded table: the per-user write limit applies.
    state
        .writes
        .admit(caller.user_id)
        .map_err(ApiError::too_many)?;
    state
        .auth
        .check_pin(caller.user_id, req.pin.expose())
        .await?;
    let currency = state.currency(&caller.currency)?;
    let issued = currency
        .merchants
        .issue_consumer_code(wallet, service::now_us())?;
    let png = qr::render_png(&issued.text, &QrOptions::default())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(ConsumerCodeAnswer {
        code: issued.text,
        expires_at_us: issued.expires_at_us,
        png_base64: base64::engine::general_purpose::STANDARD.encode(png),
    }))
}

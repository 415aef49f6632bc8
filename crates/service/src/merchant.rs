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
        .map_err(|e| ServiceError::treasury(e, Some(AccountId(account))))?;
    Ok(Answered {
        value: payout_answer(Some(r)),
        replayed,
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

/// Merchant `m`'s payment code in currency `currency_code`, rendered as `p` asks.
pub fn qr_image(
    currency_code: &str,
    m: &directory::Merchant,
    p: &QrParams,
) -> Result<QrImage, ServiceError> {
    let city = m
        .profile
        .sigungu
        .clone()
        .or_else(|| m.profile.sido.clone())
        .unwrap_or_else(|| "KR".into());
    let mcc = m.profile.mcc.map_or(5499, directory::Mcc::code);
    // EMVCo allows 25 characters of name and 15 of city; the registry allows more.
    let mut code = qr::MerchantCode::new_static(
        currency_code,
        m.id.0,
        mcc,
        truncate_chars(&m.profile.name, 25),
        truncate_chars(&city, 15),
    );
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
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_chars("경동시장 행복상회 본점 2호", 4), "경동시장");
    }
}

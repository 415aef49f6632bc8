//! The merchant lifecycle as an operator runs it: approve, suspend, close, reopen (the
//! registry moves and the ledger follows), the list of merchants, a merchant's QR code.

use directory::Status;
use ledger::scheme::SchemeCommand;
use ledger::{AccountId, MerchantId, Text};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::operator_of;
use crate::error::ServiceError;
use crate::idempotency::{Answered, Fingerprint, claim_key, once};
use crate::ledger_ops::run_scheme;
use crate::merchant::{QrImage, QrParams, qr_image};
use crate::mirror::move_merchant;
use crate::public::MerchantCard;
use crate::{Caller, Service};

/// Approves a merchant's application (or lifts an operator's suspension). A merchant in
/// the registry moves there and the ledger follows; an account the registry does not
/// hold is reinstated in the ledger.
pub async fn approve_merchant(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    merchant: u64,
) -> Result<Answered<()>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("approve_merchant", &(code, merchant)),
    )?;
    if currency.merchants.get(merchant).is_some() {
        let reason = format!("approved by operator {}", caller.user_id);
        return once(service, &key, async {
            move_merchant(currency, merchant, Status::Approved, &reason).await?;
            Ok(())
        })
        .await;
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::ReinstateMerchant {
            merchant: MerchantId(AccountId(merchant)),
        },
        None,
    )
    .await?;
    Ok(a.map(|_| ()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    pub reason: String,
}

/// Suspends a merchant: its payments are refused with the reason `operator`.
pub async fn suspend_merchant(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    merchant: u64,
    req: Suspension,
) -> Result<Answered<()>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("suspend_merchant", &(code, merchant, &req.reason)),
    )?;
    if currency.merchants.get(merchant).is_some() {
        return once(service, &key, async {
            move_merchant(currency, merchant, Status::Suspended, &req.reason).await?;
            Ok(())
        })
        .await;
    }
    let reason = Text::new(req.reason)
        .map_err(|e| ServiceError::bad_request("reason_invalid", e.to_string()))?;
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::SuspendMerchant {
            merchant: MerchantId(AccountId(merchant)),
            reason,
        },
        None,
    )
    .await?;
    Ok(a.map(|_| ()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleReason {
    pub reason: String,
}

/// Closes a merchant (폐업 or withdrawn): its codes stop paying and say why.
pub async fn close_merchant(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    merchant: u64,
    req: LifecycleReason,
) -> Result<Answered<()>, ServiceError> {
    move_with_reason(
        service,
        caller,
        idempotency_key,
        ("close_merchant", Status::Closed),
        code,
        merchant,
        req,
    )
    .await
}

/// Reopens a closed merchant with the same id (its old stickers work again).
pub async fn reopen_merchant(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    merchant: u64,
    req: LifecycleReason,
) -> Result<Answered<()>, ServiceError> {
    move_with_reason(
        service,
        caller,
        idempotency_key,
        ("reopen_merchant", Status::Approved),
        code,
        merchant,
        req,
    )
    .await
}

async fn move_with_reason(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    (route, to): (&'static str, Status),
    code: &str,
    merchant: u64,
    req: LifecycleReason,
) -> Result<Answered<()>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of(route, &(code, merchant, &req.reason)),
    )?;
    once(service, &key, async {
        move_merchant(currency, merchant, to, &req.reason).await?;
        Ok(())
    })
    .await
}

/// A merchant's QR code, for an operator printing stickers.
pub fn merchant_qr(
    service: &Service,
    caller: &Caller,
    code: &str,
    merchant: u64,
    p: &QrParams,
) -> Result<QrImage, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let m = currency
        .merchants
        .get(merchant)
        .ok_or_else(|| ServiceError::not_found("merchant"))?;
    qr_image(code, &m, p)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// applied (applications waiting), approved, suspended or closed.
    pub status: Option<String>,
    pub offset: Option<u32>,
    /// 1..=200 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MerchantList {
    pub merchants: Vec<MerchantCard>,
    pub total: usize,
}

/// The currency's merchants, e.g. the applications waiting for approval (`status=applied`).
pub fn list_merchants(
    service: &Service,
    caller: &Caller,
    code: &str,
    p: &ListParams,
) -> Result<MerchantList, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let status = match p.status.as_deref() {
        None => None,
        Some(s) => Some(
            Status::ALL
                .into_iter()
                .find(|st| st.as_str() == s)
                .ok_or_else(|| ServiceError::bad_request("status_unknown", s.to_owned()))?,
        ),
    };
    let offset = p.offset.unwrap_or(0) as usize;
    let limit = p.limit.unwrap_or(50).clamp(1, 200) as usize;
    Ok(currency.merchants.read(|reg| {
        let matching = reg
            .records()
            .iter()
            .filter(|m| status.is_none_or(|s| m.status == s));
        let total = matching.clone().count();
        MerchantList {
            merchants: matching
                .skip(offset)
                .take(limit)
                .map(|m| MerchantCard::of(m, None))
                .collect(),
            total,
        }
    }))
}

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
    /// Only merchants whose name (Korean or English) contains this (any case), whose
    /// 사업자등록번호 contains these digits (dashes ignored), or whose id it is; at most
    /// 100 characters.
    pub q: Option<String>,
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
    let search = match p.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        None => None,
        Some(q) if q.chars().count() > SEARCH_CHARS_MAX => {
            return Err(ServiceError::bad_request(
                "query_too_long",
                format!("search for at most {SEARCH_CHARS_MAX} characters"),
            ));
        }
        Some(q) => Some(Search::new(q)),
    };
    let offset = p.offset.unwrap_or(0) as usize;
    let limit = p.limit.unwrap_or(50).clamp(1, 200) as usize;
    Ok(currency.merchants.read(|reg| {
        let matching = reg
            .records()
            .iter()
            .filter(|m| status.is_none_or(|s| m.status == s))
            .filter(|m| search.as_ref().is_none_or(|q| q.matches(m)));
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

/// The longest search an operator's list takes.
const SEARCH_CHARS_MAX: usize = 100;

/// An operator's search of the list: a name's part, a number's digits, an id.
struct Search {
    lower: String,
    /// The search's digits, when it is a number (dashes and spaces aside).
    digits: Option<String>,
}

impl Search {
    fn new(q: &str) -> Search {
        let digits: String = q.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
        Search {
            lower: q.to_lowercase(),
            digits: (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then_some(digits),
        }
    }

    fn matches(&self, m: &directory::Merchant) -> bool {
        if let Some(d) = &self.digits
            && (m.id.0.to_string() == *d || m.brn.to_string().replace('-', "").contains(d.as_str()))
        {
            return true;
        }
        m.profile.name.to_lowercase().contains(&self.lower)
            || m.profile
                .name_en
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(&self.lower))
    }
}

/// A merchant as an operator reviews it: its card, 사업자등록번호, last status change,
/// and the moves its status allows now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MerchantDetail {
    pub card: MerchantCard,
    /// As written, `123-45-67890`.
    pub brn: String,
    pub last_change: StatusChangeView,
    /// What an operator may do now, in this order: `approve` (an application, or lifting
    /// a suspension), `suspend`, `close`, `reopen` (a closed merchant, same id).
    pub moves: Vec<String>,
}

/// A merchant's last status change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusChangeView {
    /// The status before (absent when it was created so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub reason: String,
    /// Unix microseconds.
    pub at_us: u64,
    /// `operator` or `registry_sync`.
    pub by: String,
}

/// One merchant of the currency, for its operator.
pub fn merchant_detail(
    service: &Service,
    caller: &Caller,
    code: &str,
    merchant: u64,
) -> Result<MerchantDetail, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let m = currency
        .merchants
        .get(merchant)
        .ok_or_else(|| ServiceError::not_found("merchant"))?;
    let change = &m.last_change;
    Ok(MerchantDetail {
        card: MerchantCard::of(&m, None),
        brn: m.brn.to_string(),
        last_change: StatusChangeView {
            from: change.from.map(|s| s.as_str().to_owned()),
            reason: change.reason.clone(),
            at_us: change.at_us,
            by: match change.by {
                directory::Actor::Operator => "operator",
                directory::Actor::RegistrySync => "registry_sync",
            }
            .to_owned(),
        },
        moves: moves(m.status).iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// The moves the lifecycle allows from `status` (`directory::Status::can_become`).
pub fn moves(status: Status) -> Vec<&'static str> {
    let mut out = Vec::new();
    if status != Status::Closed && status.can_become(Status::Approved) {
        out.push("approve");
    }
    if status.can_become(Status::Suspended) {
        out.push("suspend");
    }
    if status.can_become(Status::Closed) {
        out.push("close");
    }
    if status == Status::Closed && status.can_become(Status::Approved) {
        out.push("reopen");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moves_offered_are_the_lifecycles() {
        assert_eq!(moves(Status::Applied), ["approve", "close"]);
        assert_eq!(moves(Status::Approved), ["suspend", "close"]);
        assert_eq!(moves(Status::Suspended), ["approve", "close"]);
        assert_eq!(moves(Status::Closed), ["reopen"]);
    }

    #[test]
    fn a_search_is_a_name_part_a_number_or_an_id() {
        let s = Search::new("123-45");
        assert_eq!(s.digits.as_deref(), Some("12345"));
        let s = Search::new("행복 Mart");
        assert_eq!(s.digits, None);
        assert_eq!(s.lower, "행복 mart");
    }
}

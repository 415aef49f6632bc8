//! The currency's scheme as an operator sets it: a new version, the versions, and the
//! withdrawal of one not yet in force.

use ledger::scheme::{SchemeApplied, SchemeCommand};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{operator_of, operator_text};
use crate::error::ServiceError;
use crate::idempotency::{Answered, Fingerprint, claim_key, key_reused};
use crate::ledger_ops::run_scheme;
use crate::{Caller, Service};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeUpdate {
    /// The scheme file (TOML), as in `schemes/`.
    pub toml: String,
    /// Unix microseconds from when it applies (absent or past: now).
    pub effective_at: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchemeSetAnswer {
    pub version: u32,
    pub effective_at: u64,
}

/// A new version of the currency's scheme (the earlier versions stay readable). Once
/// set, the ledger follows every merchant again (revenue bands are judged against the
/// scheme in force).
pub async fn set_scheme(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    req: SchemeUpdate,
) -> Result<Answered<SchemeSetAnswer>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("set_scheme", &(code, &req.toml, req.effective_at)),
    )?;
    let config = ledger::scheme::SchemeConfig::from_toml(&req.toml)
        .map_err(|e| ServiceError::bad_request("scheme_invalid", e.to_string()))?;
    if let Some(at) = req.effective_at
        && let Err(problem) = ledger::scheme::check_effective_at(at, crate::now_us())
    {
        return Err(ServiceError::new(
            http::StatusCode::BAD_REQUEST,
            "scheme_effective_invalid",
            "적용 시각이 올바르지 않습니다. 마이크로초 단위의 유닉스 시각으로, 1년 이내로 정해 주세요.",
            "The effective time is not valid: give Unix microseconds, at most a year ahead.",
        )
        .detail(problem.to_string()));
    }
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::SetScheme {
            config: Box::new(config),
            effective_at: ledger::Timestamp::from_micros(req.effective_at.unwrap_or(0)),
            operator: operator_text(caller)?,
        },
        None,
    )
    .await?;
    match a.value {
        SchemeApplied::SchemeSet {
            version,
            effective_at,
        } => {
            // Merchants' revenue bands are judged against the scheme in force.
            let currency = currency.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::mirror::mirror_all(&currency).await {
                    tracing::warn!(code = e.code, "ledger does not yet follow the registry");
                }
            });
            Ok(Answered {
                value: SchemeSetAnswer {
                    version,
                    effective_at: effective_at.as_micros(),
                },
                replayed: a.replayed,
            })
        }
        _ => Err(key_reused()),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchemeVersionView {
    pub version: u32,
    pub name: String,
    /// Unix microseconds from when it applies.
    pub effective_at: u64,
    /// Unix microseconds it was set.
    pub set_at: u64,
    pub operator: String,
    /// `in_force`, `superseded` or `pending` (not yet in force: it can be withdrawn).
    pub state: String,
}

/// The currency's scheme versions, oldest first.
pub fn scheme_versions(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<Vec<SchemeVersionView>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let now = ledger::Timestamp::from_micros(crate::now_us());
    Ok(currency.engine.read(|l| {
        let in_force = l.scheme_at(now.max(l.last_timestamp())).map(|v| v.number);
        l.scheme_versions()
            .map(|v| SchemeVersionView {
                version: v.number,
                name: v.config.name.clone(),
                effective_at: v.effective_at.as_micros(),
                set_at: v.set_at.as_micros(),
                operator: v.operator.as_str().to_owned(),
                state: match in_force {
                    Some(n) if n == v.number => "in_force",
                    Some(n) if n > v.number => "superseded",
                    _ => "pending",
                }
                .to_owned(),
            })
            .collect()
    }))
}

/// Withdraws the latest scheme version before it comes into force (journaled; a
/// version in force stays).
pub async fn withdraw_scheme(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    version: u32,
) -> Result<Answered<()>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("withdraw_scheme", &(code, version)),
    )?;
    let a = run_scheme(
        currency,
        &key,
        SchemeCommand::WithdrawScheme {
            version,
            operator: operator_text(caller)?,
        },
        None,
    )
    .await?;
    Ok(a.map(|_| ()))
}

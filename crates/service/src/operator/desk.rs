//! The operator's desk: the report, halt and resume, subsidy budgets and their funding,
//! notices to the currency's users.

use ledger::{AccountId, AccountKind, Command, Text};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{operator_of, operator_text};
use crate::auditor::whole_journal_turn;
use crate::auth::Notice;
use crate::error::ServiceError;
use crate::idempotency::{Answered, Fingerprint, claim_key, once};
use crate::ledger_ops::{one, won};
use crate::{Caller, Service};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportAnswer {
    pub currency: String,
    /// The report as text (Korean and English headings), months and totals.
    pub text: String,
    pub issuance: i64,
    pub sales: i64,
    pub subsidy_spent: i64,
    pub payments: i64,
    pub redemptions: i64,
    pub cash_refunds: i64,
    pub expiries: i64,
}

/// The operator report of a currency (from its journal and ledger). Whole-journal work:
/// one at a time (503 while another runs).
pub async fn report(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<ReportAnswer, ServiceError> {
    let currency = operator_of(service, caller, code)?.clone();
    let turn = whole_journal_turn(service)?;
    let r = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        treasury::OperatorReport::build(currency.storage.as_ref(), &currency.engine)
    })
    .await
    .map_err(|e| ServiceError::internal(e.to_string()))?
    .map_err(|e| ServiceError::internal(e.to_string()))?;
    let t = &r.total;
    Ok(ReportAnswer {
        currency: code.to_owned(),
        text: r.to_string(),
        issuance: t.issuance(),
        sales: t.sales.won,
        subsidy_spent: t.subsidy_spent(),
        payments: t.payments.won,
        redemptions: t.redemptions.won,
        cash_refunds: t.cash_refunds.won,
        expiries: t.expiries.won,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: String,
}

/// Stops all writes of the currency (reads go on), e.g. during an incident.
pub async fn halt(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    req: Reason,
) -> Result<Answered<()>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("halt", &(code, &req.reason)),
    )?;
    let text = |s: String| {
        Text::new(s).map_err(|e| ServiceError::bad_request("text_invalid", e.to_string()))
    };
    let a = one(
        currency,
        &key,
        Command::Halt {
            operator: text(format!("user {}", caller.user_id))?,
            reason: text(req.reason)?,
        },
        None,
    )
    .await?;
    Ok(a.map(|_| ()))
}

/// Resumes writes after a halt (including one the ledger imposed itself).
pub async fn resume(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
) -> Result<Answered<()>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("resume", &code),
    )?;
    let a = one(
        currency,
        &key,
        Command::Resume {
            operator: operator_text(caller)?,
        },
        None,
    )
    .await?;
    Ok(a.map(|_| ()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Budget {
    pub account: u64,
    /// What the budget still holds.
    pub left: i64,
    pub spent_total: i64,
    pub spent_this_month: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_monthly: Option<i64>,
}

/// The currency's subsidy budgets: left, spent, and the scheme's ceilings.
pub fn budgets(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<Vec<Budget>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    Ok(currency.engine.read(|l| {
        let now = l.last_timestamp();
        let month = ledger::scheme::calendar::KstDate::of(now).month_index();
        let scheme = l.scheme_at(now).map(|v| v.config.clone());
        l.accounts()
            .iter()
            .filter(|a| a.kind == AccountKind::SubsidyBudget)
            .map(|a| {
                let usage = l.budget_usage(a.id).cloned().unwrap_or_default();
                let ceiling = scheme.as_ref().and_then(|s| s.ceiling(a.id).cloned());
                Budget {
                    account: a.id.0,
                    left: a.balance().map_or(0, |b| b.get()),
                    spent_total: usage.spent_total.get(),
                    spent_this_month: if usage.month == month {
                        usage.spent_month.get()
                    } else {
                        0
                    },
                    ceiling_total: ceiling.as_ref().and_then(|c| c.total.map(|w| w.get())),
                    ceiling_monthly: ceiling.as_ref().and_then(|c| c.monthly.map(|w| w.get())),
                }
            })
            .collect()
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Funding {
    /// Won the municipality deposits into the budget.
    pub amount: i64,
}

/// The municipality funds a subsidy budget (the money is deposited with the issuer).
pub async fn fund_budget(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    budget: u64,
    req: Funding,
) -> Result<Answered<()>, ServiceError> {
    let currency = operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("fund_budget", &(code, budget, req.amount)),
    )?;
    let amount = won(req.amount)?;
    let reserve = currency
        .engine
        .read(|l| {
            l.scheme_at(l.last_timestamp())
                .map(|v| v.config.purchase.reserve)
        })
        .ok_or_else(|| ServiceError::refused(&ledger::Rejection::SchemeNotConfigured, None))?;
    let a = one(
        currency,
        &key,
        Command::Transfer(ledger::Transfer::posted(
            ledger::TransferSpec::BudgetFunding {
                reserve: ledger::ReserveId(reserve),
                budget: ledger::BudgetId(AccountId(budget)),
                amount,
            },
        )),
        None,
    )
    .await?;
    Ok(a.map(|_| ()))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    pub title_ko: String,
    pub title_en: String,
    pub body_ko: String,
    pub body_en: String,
}

/// Publishes a notice to the currency's users (in Korean and English).
pub async fn publish_notice(
    service: &Service,
    caller: &Caller,
    idempotency_key: Option<&str>,
    code: &str,
    req: NewNotice,
) -> Result<Answered<Notice>, ServiceError> {
    operator_of(service, caller, code)?;
    let key = claim_key(
        service,
        idempotency_key,
        caller,
        Fingerprint::of("publish_notice", &(code, &req)),
    )?;
    let fields = [&req.title_ko, &req.title_en, &req.body_ko, &req.body_en];
    if fields
        .iter()
        .any(|f| f.trim().is_empty() || f.len() > 4_096)
    {
        return Err(ServiceError::bad_request(
            "notice_invalid",
            "titles and bodies are 1 to 4,096 bytes, in Korean and English",
        ));
    }
    let mut notice = Notice {
        id: 0,
        currency: code.to_owned(),
        title_ko: req.title_ko,
        title_en: req.title_en,
        body_ko: req.body_ko,
        body_en: req.body_en,
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    once(service, &key, async {
        notice.id = service.auth.publish_notice(&notice)?;
        Ok(notice)
    })
    .await
}

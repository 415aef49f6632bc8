//! The operator's desk: the report, halt and resume, subsidy budgets and their funding,
//! notices to the currency's users.

use ledger::{AccountId, AccountKind, Command, Text};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::report::ReportRow;
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
    /// Every KST day with any flow, oldest first.
    #[serde(default)]
    pub days: Vec<ReportRow>,
    /// Every KST month with any flow, oldest first.
    #[serde(default)]
    pub months: Vec<ReportRow>,
    /// The whole life of the currency (the same sums as the fields above).
    #[serde(default)]
    pub total: ReportRow,
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
    Ok(report_answer(code, &r))
}

/// The answer for a report built from the journal.
pub fn report_answer(code: &str, r: &treasury::OperatorReport) -> ReportAnswer {
    let t = &r.total;
    ReportAnswer {
        currency: code.to_owned(),
        text: r.to_string(),
        issuance: t.issuance(),
        sales: t.sales.won,
        subsidy_spent: t.subsidy_spent(),
        payments: t.payments.won,
        redemptions: t.redemptions.won,
        cash_refunds: t.cash_refunds.won,
        expiries: t.expiries.won,
        days: r.days.iter().map(ReportRow::from).collect(),
        months: r.months.iter().map(ReportRow::from).collect(),
        total: ReportRow::from(t),
    }
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
    /// What the scheme in force pays from it: `discount` (at purchase), `cashback`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uses: Vec<String>,
}

impl Budget {
    /// How much of the total ceiling is spent, in tenths of a percent (none without a
    /// ceiling).
    pub fn total_used_permille(&self) -> Option<u32> {
        self.ceiling_total.map(|c| permille(self.spent_total, c))
    }

    /// How much of the monthly ceiling is spent this month, in tenths of a percent.
    pub fn monthly_used_permille(&self) -> Option<u32> {
        self.ceiling_monthly
            .map(|c| permille(self.spent_this_month, c))
    }
}

/// `part` of `whole` in tenths of a percent, rounded down (a ceiling of 0 with anything
/// spent is full); never negative.
pub fn permille(part: i64, whole: i64) -> u32 {
    let part = i128::from(part.max(0));
    if whole <= 0 {
        return if part > 0 { 1_000 } else { 0 };
    }
    u32::try_from(part * 1_000 / i128::from(whole)).unwrap_or(u32::MAX)
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
        let uses = |id: AccountId| {
            let Some(s) = scheme.as_ref() else {
                return Vec::new();
            };
            let mut uses = Vec::new();
            if s.purchase.discount_budget == Some(id) {
                uses.push("discount".to_owned());
            }
            if s.cashback.as_ref().is_some_and(|c| c.budget == id) {
                uses.push("cashback".to_owned());
            }
            uses
        };
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
                    uses: uses(a.id),
                }
            })
            .collect()
    }))
}

/// An amount of won as a person types it in a form (`50000`, `50,000`, `50,000원`,
/// `₩50,000`), for funding a budget: whole won from 1 to 1,000,000,000,000. Each wrong
/// amount is told apart in words (not a number, zero, negative, too large); the code is
/// the one the use case gives for a wrong amount, `amount_invalid`.
pub fn amount_typed(text: &str) -> Result<i64, ServiceError> {
    let refuse = |ko: &str, en: &str| {
        ServiceError::new(http::StatusCode::BAD_REQUEST, "amount_invalid", ko, en)
    };
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '원' | '₩'))
        .collect();
    if cleaned.is_empty() {
        return Err(refuse(
            "금액을 입력해 주세요 (원 단위 숫자, 예: 1000000).",
            "Please enter an amount (whole won, e.g. 1000000).",
        ));
    }
    let (negative, digits) = match cleaned.strip_prefix(['-', '−']) {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(
            "금액은 원 단위 숫자로만 입력해 주세요 (예: 1000000). 소수점이나 문자는 쓸 수 없습니다.",
            "Please enter the amount in whole won, digits only (e.g. 1000000): no decimals or letters.",
        ));
    }
    if negative && digits.bytes().any(|b| b != b'0') {
        return Err(refuse(
            "음수는 넣을 수 없습니다. 예산에 넣을 금액을 1원 이상으로 입력해 주세요.",
            "A negative amount cannot be funded. Enter the amount to add to the budget, at least 1 won.",
        ));
    }
    let max = ledger::Won::TRANSFER_MAX.get();
    let too_large = || {
        refuse(
            "한 번에 넣을 수 있는 금액은 1조 원(1,000,000,000,000원)까지입니다.",
            "At most 1,000,000,000,000 won can be funded at once.",
        )
    };
    let significant = digits.trim_start_matches('0');
    if significant.len() > 13 {
        return Err(too_large());
    }
    let amount: i64 = if significant.is_empty() {
        0
    } else {
        significant.parse().map_err(|_| too_large())?
    };
    if amount == 0 {
        return Err(refuse(
            "0원은 넣을 수 없습니다. 1원 이상을 입력해 주세요.",
            "Zero cannot be funded: enter at least 1 won.",
        ));
    }
    if amount > max {
        return Err(too_large());
    }
    Ok(amount)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(typed: &str, expected: Result<i64, &str>) {
        let got = amount_typed(typed).map_err(|e| {
            assert_eq!(e.code, "amount_invalid");
            assert!(!e.ko.is_empty());
            e.en
        });
        match expected {
            Ok(n) => assert_eq!(got.ok(), Some(n), "{typed:?}"),
            Err(words) => {
                let en = got.err().unwrap_or_default();
                assert!(en.contains(words), "{typed:?}: {en}");
            }
        }
    }

    #[test]
    fn amounts_are_read_as_people_type_them_and_each_mistake_is_named() {
        check("1000000", Ok(1_000_000));
        check(" 1,000,000원 ", Ok(1_000_000));
        check("₩50,000", Ok(50_000));
        check("007", Ok(7));
        check("1000000000000", Ok(1_000_000_000_000));
        check("", Err("enter an amount"));
        check("  ", Err("enter an amount"));
        check("abc", Err("digits only"));
        check("1.5", Err("digits only"));
        check("1e6", Err("digits only"));
        check("-", Err("digits only"));
        check("0", Err("Zero"));
        check("-0", Err("Zero"));
        check("000", Err("Zero"));
        check("-5", Err("negative"));
        check("−5,000", Err("negative"));
        check("1000000000001", Err("At most"));
        check("99999999999999999999999", Err("At most"));
    }

    #[test]
    fn the_share_of_a_ceiling_used_is_in_tenths_of_a_percent() {
        assert_eq!(permille(0, 1_000), 0);
        assert_eq!(permille(1, 1_000), 1);
        assert_eq!(permille(999, 1_000), 999);
        assert_eq!(
            permille(1_500, 1_000),
            1_500,
            "over the ceiling is over 100%"
        );
        assert_eq!(permille(-5, 1_000), 0);
        assert_eq!(permille(5, 0), 1_000);
        assert_eq!(permille(0, 0), 0);
        assert_eq!(permille(i64::MAX, 1), u32::MAX);
        let b = Budget {
            account: 4,
            left: 10,
            spent_total: 300,
            spent_this_month: 50,
            ceiling_total: Some(1_000),
            ceiling_monthly: None,
            uses: Vec::new(),
        };
        assert_eq!(b.total_used_permille(), Some(300));
        assert_eq!(b.monthly_used_permille(), None);
    }
}

//! The console's subsidy budgets (`GET /console/budgets`): each budget's money left,
//! what it paid this month and in all, and the scheme's ceilings with a meter of how
//! much of each is used (`service::operator::desk::budgets`, the API's use case); and a
//! form to fund one (`POST /console/budgets/fund`), which first shows the amount and
//! the budget to confirm, then funds it (`desk::fund_budget`) under an idempotency key
//! drawn into the confirming form. A wrong amount is named in words (`desk::amount_typed`)
//! and the form keeps what was typed.

use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::header::LOCATION;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use service::operator::desk::{self, Budget, Funding};
use service::{Caller, Role, ServiceError};

use super::{Confirm, Tab, tabs};
use crate::account::words;
use crate::audit::{chosen_currency, console_form, currency_switch, error_page, staff};
use crate::i18n::{Lang, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::CSRF_FIELD;
use crate::wallet::won;
use crate::{Pages, private_response};

const PATH: &str = "/console/budgets";
const FUND_PATH: &str = "/console/budgets/fund";

pub fn routes() -> Router<Pages> {
    Router::new()
        .route(PATH, get(budgets_page))
        .route(FUND_PATH, post(fund))
}

/// The budgets page's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum B {
    Title,
    Lead,
    None,
    Budget,
    Discount,
    Cashback,
    Left,
    SpentMonth,
    SpentTotal,
    CeilingMonth,
    CeilingTotal,
    NoCeiling,
    MonthUsed,
    TotalUsed,
    Of,
    FundTitle,
    FundLead,
    WhichBudget,
    Amount,
    AmountHint,
    Continue,
    ConfirmTitle,
    ConfirmText,
    FundNow,
    Cancel,
    Funded,
    FailedTitle,
}

impl Words for B {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            B::Title => ("보조금 예산", "Subsidy budgets"),
            B::Lead => (
                "할인과 캐시백을 주는 예산마다 남은 금액, 이번 달과 지금까지 쓴 금액, 제도가 정한 한도를 봅니다. 지자체가 예산을 넣으면 여기서 기록합니다.",
                "For each budget that pays discounts and cash-back: what is left, what it paid this month and in all, and the scheme's ceilings. When the municipality funds a budget, record it here.",
            ),
            B::None => (
                "이 화폐에는 보조금 예산이 없습니다.",
                "This currency has no subsidy budget.",
            ),
            B::Budget => ("예산", "Budget"),
            B::Discount => ("구매 할인", "discount at purchase"),
            B::Cashback => ("캐시백", "cash-back"),
            B::Left => ("남은 금액", "Left"),
            B::SpentMonth => ("이번 달 집행", "Paid this month"),
            B::SpentTotal => ("누적 집행", "Paid in all"),
            B::CeilingMonth => ("월 한도", "Monthly ceiling"),
            B::CeilingTotal => ("총 한도", "Total ceiling"),
            B::NoCeiling => ("없음", "None"),
            B::MonthUsed => ("이번 달 한도 사용", "Monthly ceiling used"),
            B::TotalUsed => ("총 한도 사용", "Total ceiling used"),
            B::Of => ("/", "of"),
            B::FundTitle => ("예산 넣기", "Fund a budget"),
            B::FundLead => (
                "지자체가 발행사 계좌에 넣은 금액을 예산에 기록합니다. 다음 단계에서 금액과 예산을 한 번 더 확인합니다.",
                "Record money the municipality deposited with the issuer into a budget. You confirm the amount and the budget in the next step.",
            ),
            B::WhichBudget => ("넣을 예산", "Budget to fund"),
            B::Amount => ("금액 (원)", "Amount (won)"),
            B::AmountHint => (
                "원 단위 숫자로 입력합니다 (예: 1000000 또는 1,000,000).",
                "Whole won, digits only (e.g. 1000000 or 1,000,000).",
            ),
            B::Continue => ("계속", "Continue"),
            B::ConfirmTitle => ("이 예산에 넣을까요?", "Fund this budget?"),
            B::ConfirmText => (
                "넣으면 바로 예산 잔액에 더해지고 장부에 기록되어 되돌릴 수 없습니다.",
                "Funding adds to the budget at once and is recorded in the journal; it cannot be undone.",
            ),
            B::FundNow => ("지금 넣기", "Fund now"),
            B::Cancel => ("취소", "Cancel"),
            B::Funded => (
                "예산에 넣었습니다. 아래 금액에 반영되었습니다.",
                "The budget was funded; the amounts below include it.",
            ),
            B::FailedTitle => ("처리하지 못했습니다", "This could not be done"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct BudgetsQuery {
    currency: Option<String>,
    /// The budget just funded (after the 303).
    funded: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct FundForm {
    csrf: Option<String>,
    currency: Option<String>,
    budget: Option<String>,
    amount: Option<String>,
    /// `yes` on the confirmation step's form.
    confirmed: Option<String>,
    key: Option<String>,
}

/// What the funding form shows again: what was typed, and why it was refused.
#[derive(Debug, Default)]
struct Typed<'a> {
    budget: Option<u64>,
    amount: &'a str,
    error: Option<&'a ServiceError>,
}

async fn budgets_page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<BudgetsQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let session = match staff(&pages, &parts, &[Role::Operator], PATH, Nav::Console) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let code = chosen_currency(caller, query.currency.as_deref()).unwrap_or_default();
    let list = match desk::budgets(&pages.service, caller, &code) {
        Ok(l) => l,
        Err(e) => return error_page(prefs, PATH, Nav::Console, &e),
    };
    let csrf = pages.csrf.for_session(&session.token);
    let funded = query
        .funded
        .filter(|f| list.iter().any(|b| b.account == *f));
    let body = budgets_body(
        prefs.lang,
        caller,
        &code,
        &list,
        &csrf,
        &Typed::default(),
        funded,
    );
    private_response(page(
        prefs,
        PATH,
        Nav::Console,
        prefs.lang.t(B::Title),
        body,
    ))
}

/// The budget's name: its account and what the scheme pays from it.
fn budget_name(lang: Lang, b: &Budget) -> String {
    let mut name = format!("{} {}", lang.t(B::Budget), b.account);
    let uses: Vec<&str> = b
        .uses
        .iter()
        .filter_map(|u| match u.as_str() {
            "discount" => Some(lang.t(B::Discount)),
            "cashback" => Some(lang.t(B::Cashback)),
            _ => None,
        })
        .collect();
    if !uses.is_empty() {
        name.push_str(" · ");
        name.push_str(&uses.join(", "));
    }
    name
}

/// Tenths of a percent as `12.3%`.
fn percent(permille: u32) -> String {
    format!("{}.{}%", permille / 10, permille % 10)
}

fn budgets_body(
    lang: Lang,
    caller: &Caller,
    code: &str,
    list: &[Budget],
    csrf: &str,
    typed: &Typed<'_>,
    funded: Option<u64>,
) -> Markup {
    html! {
        (tabs(lang, Tab::Budgets))
        h1 { (lang.t(B::Title)) " · " span.currency-code { (code) } }
        p.lead { (lang.t(B::Lead)) }
        (currency_switch(lang, caller, code, PATH))
        @if let Some(f) = funded {
            div.alert.alert-ok #funded role="status" data-budget=(f) { p { (lang.t(B::Funded)) } }
        }
        @if list.is_empty() {
            p { (lang.t(B::None)) }
        } @else {
            ul.budget-list #budget-list {
                @for b in list {
                    (budget_card(lang, b))
                }
            }
            (fund_form(lang, code, csrf, list, typed))
        }
    }
}

fn budget_card(lang: Lang, b: &Budget) -> Markup {
    let id = b.account;
    let ceiling =
        |c: Option<i64>| c.map_or_else(|| lang.t(B::NoCeiling).to_owned(), |c| won(lang, c));
    let meter = |kind: &str, label: B, spent: i64, of: Option<i64>, used: Option<u32>| {
        html! {
            @if let (Some(of), Some(used)) = (of, used) {
                @let label_id = format!("budget-{id}-{kind}-label");
                div.budget-meter {
                    p #(label_id) {
                        (lang.t(label)) ": " strong { (percent(used)) }
                        " " span.meta { "(" (won(lang, spent)) " " (lang.t(B::Of)) " " (won(lang, of)) ")" }
                    }
                    meter #{"budget-" (id) "-" (kind)} min="0" max=(of.max(1)) value=(spent.max(0))
                        low=(of.max(1) / 10 * 8) high=(of.max(1) / 20 * 19) optimum="0"
                        aria-labelledby=(label_id) data-permille=(used) {
                        (percent(used))
                    }
                }
            }
        }
    };
    html! {
        li.card.budget data-budget=(id) {
            h2 #{"budget-" (id) "-title"} { (budget_name(lang, b)) }
            dl.facts {
                div { dt { (lang.t(B::Left)) } dd.budget-left data-left=(b.left) { (won(lang, b.left)) } }
                div { dt { (lang.t(B::SpentMonth)) } dd data-spent-month=(b.spent_this_month) { (won(lang, b.spent_this_month)) } }
                div { dt { (lang.t(B::SpentTotal)) } dd data-spent-total=(b.spent_total) { (won(lang, b.spent_total)) } }
                div { dt { (lang.t(B::CeilingMonth)) } dd { (ceiling(b.ceiling_monthly)) } }
                div { dt { (lang.t(B::CeilingTotal)) } dd { (ceiling(b.ceiling_total)) } }
            }
            (meter("month", B::MonthUsed, b.spent_this_month, b.ceiling_monthly, b.monthly_used_permille()))
            (meter("total", B::TotalUsed, b.spent_total, b.ceiling_total, b.total_used_permille()))
        }
    }
}

fn fund_form(lang: Lang, code: &str, csrf: &str, list: &[Budget], typed: &Typed<'_>) -> Markup {
    let chosen = typed.budget.or(list.first().map(|b| b.account));
    let invalid = typed.error.is_some();
    html! {
        section.card #fund aria-labelledby="fund-title" {
            h2 #fund-title { (lang.t(B::FundTitle)) }
            p { (lang.t(B::FundLead)) }
            @if let Some(e) = typed.error {
                div.alert.alert-error #fund-error role="alert" data-code=(e.code) {
                    h3 { (lang.t(B::FailedTitle)) }
                    p { (words(lang, e)) }
                }
            }
            form.form method="post" action=(FUND_PATH) {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="currency" value=(code);
                div.field {
                    label for="budget" { (lang.t(B::WhichBudget)) }
                    select #budget name="budget" {
                        @for b in list {
                            option value=(b.account) selected[chosen == Some(b.account)] { (budget_name(lang, b)) }
                        }
                    }
                }
                div.field {
                    label for="amount" { (lang.t(B::Amount)) }
                    p.hint #amount-hint { (lang.t(B::AmountHint)) }
                    input #amount type="text" name="amount" inputmode="numeric" autocomplete="off"
                        maxlength="40" required value=(typed.amount)
                        aria-invalid=[invalid.then_some("true")]
                        aria-describedby=(if invalid { "amount-hint fund-error" } else { "amount-hint" });
                }
                button.button type="submit" { (lang.t(B::Continue)) }
            }
        }
    }
}

/// The confirmation step: the budget and the amount, and the button that funds.
fn confirm_body(lang: Lang, code: &str, csrf: &str, b: &Budget, amount: i64) -> Markup {
    html! {
        (tabs(lang, Tab::Budgets))
        h1 { (lang.t(B::ConfirmTitle)) " · " span.currency-code { (code) } }
        div.alert.alert-warn role="alert" { p { (lang.t(B::ConfirmText)) } }
        section.card aria-labelledby="confirm-fund-title" {
            h2 #confirm-fund-title { (budget_name(lang, b)) }
            dl.facts {
                div { dt { (lang.t(B::Amount)) } dd #confirm-amount data-amount=(amount) { (won(lang, amount)) } }
                div { dt { (lang.t(B::Left)) } dd { (won(lang, b.left)) } }
            }
        }
        (Confirm {
            action: FUND_PATH,
            csrf,
            currency: code,
            fields: &[("budget", b.account.to_string()), ("amount", amount.to_string())],
            yes: lang.t(B::FundNow),
            yes_id: Some("fund-now"),
            back: PATH,
            no: lang.t(B::Cancel),
        }
        .form())
    }
}

/// `POST /console/budgets/fund`: a wrong amount or budget, the page again with the
/// words and what was typed; without `confirmed=yes`, the confirmation; with it, funds
/// and goes back to the budgets (303).
async fn fund(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<FundForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (session, code) = match console_form(
        &pages,
        &parts,
        PATH,
        form.csrf.as_deref(),
        form.currency.as_deref(),
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let list = match desk::budgets(&pages.service, caller, &code) {
        Ok(l) => l,
        Err(e) => return error_page(prefs, PATH, Nav::Console, &e),
    };
    let csrf = pages.csrf.for_session(&session.token);
    let typed_amount = form.amount.as_deref().unwrap_or_default();
    let budget_id = form
        .budget
        .as_deref()
        .and_then(|b| b.trim().parse::<u64>().ok());
    let again = |e: &ServiceError| {
        let typed = Typed {
            budget: budget_id,
            amount: typed_amount,
            error: Some(e),
        };
        let body = budgets_body(lang, caller, &code, &list, &csrf, &typed, None);
        let mut response =
            private_response(page(prefs, PATH, Nav::Console, lang.t(B::Title), body));
        *response.status_mut() = e.status;
        response
    };
    let Some(budget) = budget_id.and_then(|id| list.iter().find(|b| b.account == id)) else {
        return again(&ServiceError::not_found("budget"));
    };
    let amount = match desk::amount_typed(typed_amount) {
        Ok(a) => a,
        Err(e) => return again(&e),
    };
    if form.confirmed.as_deref() != Some("yes") {
        let body = confirm_body(lang, &code, &csrf, budget, amount);
        return private_response(page(
            prefs,
            PATH,
            Nav::Console,
            lang.t(B::ConfirmTitle),
            body,
        ));
    }
    match desk::fund_budget(
        &pages.service,
        caller,
        form.key.as_deref(),
        &code,
        budget.account,
        Funding { amount },
    )
    .await
    {
        Ok(_) => see_other_funded(&code, budget.account),
        Err(e) => again(&e),
    }
}

/// 303 to the budgets with the one just funded (a code the caller may run: letters,
/// digits, `-` and `_`, checked again so the header is always valid).
fn see_other_funded(code: &str, budget: u64) -> Response {
    let safe = code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let to = if safe {
        format!("{PATH}?currency={code}&funded={budget}")
    } else {
        PATH.to_owned()
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&to) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::audit::tests::{app_with, assert_operators_only};

    fn budget(account: u64, uses: &[&str]) -> Budget {
        Budget {
            account,
            left: 2_000_000,
            spent_total: 750_000,
            spent_this_month: 120_000,
            ceiling_total: Some(1_000_000),
            ceiling_monthly: None,
            uses: uses.iter().map(|u| (*u).to_owned()).collect(),
        }
    }

    fn caller() -> Caller {
        Caller {
            user_id: 1,
            role: Role::Operator,
            account: None,
            currency: "demo".into(),
            currencies: vec!["demo".into()],
            session: [0; 32],
        }
    }

    #[tokio::test]
    async fn the_budgets_page_is_an_operators() {
        assert_operators_only(PATH, &[Role::Citizen, Role::Auditor]).await;
    }

    #[tokio::test]
    async fn funding_needs_the_form_token_and_a_currency_of_ones_own() {
        let (app, cookie) = app_with(Role::Operator).await;
        for body in [
            "currency=demo&budget=4&amount=1000&confirmed=yes&key=k",
            "csrf=wrong&currency=demo&budget=4&amount=1000&confirmed=yes&key=k",
        ] {
            let req = Request::post(FUND_PATH)
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap();
            let response = app.clone().oneshot(req).await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{body}");
        }
    }

    #[test]
    fn each_budget_shows_its_money_and_a_meter_of_its_ceiling() {
        let list = [budget(4, &["cashback"]), budget(2, &[])];
        let s = budgets_body(
            Lang::En,
            &caller(),
            "demo",
            &list,
            "tok",
            &Typed::default(),
            Some(4),
        )
        .into_string();
        assert!(s.contains("Budget 4 · cash-back"), "{s}");
        assert!(s.contains(r#"data-left="2000000""#), "{s}");
        assert!(s.contains("₩2,000,000"), "{s}");
        // 750,000 of 1,000,000: a meter (no inline style: the policy forbids it).
        assert!(
            s.contains(r#"<meter id="budget-4-total" min="0" max="1000000" value="750000""#),
            "{s}"
        );
        assert!(s.contains(r#"data-permille="750""#), "{s}");
        assert!(s.contains("75.0%"), "{s}");
        assert!(
            !s.contains("budget-4-month"),
            "no monthly ceiling, no meter: {s}"
        );
        assert!(s.contains(r#"id="funded" role="status" data-budget="4""#));
        assert!(s.contains(r#"<option value="4" selected>"#), "{s}");
        assert!(!s.contains("style="), "{s}");
    }

    #[test]
    fn a_wrong_amount_is_named_and_what_was_typed_is_kept() {
        let list = [budget(4, &["cashback"])];
        let e = desk::amount_typed("-5,000").unwrap_err();
        let typed = Typed {
            budget: Some(4),
            amount: "-5,000 <b>",
            error: Some(&e),
        };
        let s = budgets_body(Lang::Ko, &caller(), "demo", &list, "tok", &typed, None).into_string();
        assert!(
            s.contains(r#"value="-5,000 &lt;b&gt;""#),
            "kept, escaped: {s}"
        );
        assert!(s.contains(r#"aria-invalid="true""#), "{s}");
        assert!(s.contains(r#"data-code="amount_invalid""#), "{s}");
        assert!(s.contains("음수는 넣을 수 없습니다"), "{s}");
        assert!(s.contains(r#"aria-describedby="amount-hint fund-error""#));
    }

    #[test]
    fn funding_asks_first_with_the_amount_the_budget_and_a_key() {
        let s = confirm_body(
            Lang::En,
            "demo",
            "tok",
            &budget(4, &["cashback"]),
            1_000_000,
        )
        .into_string();
        assert!(s.contains(r#"data-amount="1000000""#), "{s}");
        assert!(s.contains("₩1,000,000"), "{s}");
        assert!(s.contains("Budget 4 · cash-back"), "{s}");
        assert!(s.contains(r#"name="confirmed" value="yes""#), "{s}");
        assert!(s.contains(r#"name="key" value="page-"#), "{s}");
        assert!(s.contains(r#"name="amount" value="1000000""#), "{s}");
    }

    #[test]
    fn the_way_back_names_the_budget_funded() {
        let r = see_other_funded("demo", 4);
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()[LOCATION],
            "/console/budgets?currency=demo&funded=4"
        );
        let r = see_other_funded("de\r\nmo", 4);
        assert_eq!(r.headers()[LOCATION], "/console/budgets");
    }
}

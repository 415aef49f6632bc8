//! `/wallet/charge`: buying vouchers from the linked bank account. The amount first
//! (a GET form), then what the scheme gives and what is left of this month's limits
//! (the service's quote, the ledger's own purchase rule run without buying), then the
//! confirmation, then the result: pending while the bank answers, then charged.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use service::ServiceError;
use service::citizen::{ChargeQuote, ChargeRequest, PurchaseView};

use super::{
    W, amount_invalid, citizen, citizen_page, citizen_post, error_box, form_key, fresh_key, hidden,
    parse_won, with_status,
};
use crate::Pages;
use crate::account::see_other_to;
use crate::citizen::Tab;
use crate::i18n::{Lang, Words};
use crate::prefs::Prefs;
use crate::session::SignedIn;
use crate::time::Kst;
use crate::wallet::won;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum C {
    Title,
    Lead,
    Amount,
    AmountHint,
    FullPriceOk,
    SeeQuote,
    QuoteTitle,
    YouGet,
    FromBank,
    Discount,
    DiscountWithheld,
    LimitsTitle,
    Limit,
    MonthlyLimit,
    YearlyLimit,
    ChannelLimit,

    UsedSoFar,
    LeftAfter,
    ConfirmCharge,
    ChangeAmount,
    Pending,
    Posted,
    Failed,
    Cancelled,
    ResultTitle,
    NoLimit,
}

impl Words for C {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            C::Title => ("충전", "Charge"),
            C::Lead => (
                "연결한 은행 계좌에서 대금을 출금해 지역화폐를 충전합니다. 확인 전에 할인과 한도를 먼저 보여 드립니다.",
                "Buy vouchers paid from your linked bank account. Before you confirm, you see the discount and your limits.",
            ),
            C::Amount => ("충전할 금액 (원)", "Amount to charge (won)"),
            C::AmountHint => (
                "지갑에 들어오는 금액입니다. 예: 50000",
                "What your wallet receives. E.g. 50000",
            ),
            C::FullPriceOk => (
                "할인 예산이 모두 쓰였으면 할인 없이 충전합니다",
                "Charge at full price if the discount budget is spent",
            ),
            C::SeeQuote => ("할인과 한도 확인", "See the discount and limits"),
            C::QuoteTitle => ("충전 내용 확인", "Check before charging"),
            C::YouGet => ("지갑에 들어오는 금액", "Your wallet receives"),
            C::FromBank => ("계좌에서 출금되는 금액", "Paid from your bank account"),
            C::Discount => ("할인 (지자체 부담)", "Discount (paid by the scheme)"),
            C::DiscountWithheld => (
                "할인 예산이 모두 쓰여 이번 충전은 할인 없이 진행됩니다.",
                "The discount budget is spent: this charge is at full price.",
            ),
            C::LimitsTitle => ("구매 한도", "Your limits"),
            C::Limit => ("한도", "Limit"),
            C::MonthlyLimit => ("월 구매 한도", "Monthly limit"),
            C::YearlyLimit => ("연 구매 한도", "Yearly limit"),
            C::ChannelLimit => ("이 충전 방법의 월 한도", "Monthly limit of this channel"),
            C::UsedSoFar => ("지금까지", "So far"),
            C::LeftAfter => ("이번 충전 후 남는 한도", "Left after this charge"),
            C::ConfirmCharge => ("충전하기", "Charge now"),
            C::ChangeAmount => ("금액 바꾸기", "Change the amount"),
            C::Pending => (
                "은행의 출금 확인을 기다리고 있습니다. 확인되면 지갑에 들어옵니다.",
                "Waiting for the bank to confirm the payment. The value arrives when it does.",
            ),
            C::Posted => ("충전되었습니다.", "Charged."),
            C::Failed => (
                "은행이 출금을 거절해 충전되지 않았습니다. 계좌 잔액을 확인해 주세요.",
                "The bank refused the payment: nothing was charged. Please check your account's balance.",
            ),
            C::Cancelled => ("이 충전은 취소되었습니다.", "This charge was cancelled."),
            C::ResultTitle => ("충전 결과", "Charge result"),
            C::NoLimit => ("없음", "None"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ChargeQuery {
    face: Option<String>,
    full_price_ok: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChargeForm {
    face: Option<String>,
    full_price_ok: Option<String>,
    csrf: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResultQuery {
    purchase: Option<u64>,
}

/// `GET /wallet/charge`: the amount; with `?face=`, the quote and the confirmation.
pub async fn page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<ChargeQuery>, QueryRejection>,
) -> Response {
    let (prefs, session) = match citizen(&pages, &parts) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let full = q.full_price_ok.is_some();
    let Some(raw) = q.face.as_deref().filter(|f| !f.trim().is_empty()) else {
        return render(prefs, &pages, &session, "", full, None, None);
    };
    let Some(face) = parse_won(Some(raw)) else {
        return render(
            prefs,
            &pages,
            &session,
            raw,
            full,
            None,
            Some(&amount_invalid()),
        );
    };
    let req = ChargeRequest {
        face,
        channel: 0,
        full_price_ok: full,
    };
    match service::citizen::quote_charge(&pages.service, &session.caller, &req).await {
        Ok(quote) => render(prefs, &pages, &session, raw, full, Some(&quote), None),
        Err(e) => render(prefs, &pages, &session, raw, full, None, Some(&e)),
    }
}

/// `POST /wallet/charge`: charges; 303 to the result.
pub async fn submit(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<ChargeForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let (prefs, session) = match citizen_post(&pages, &parts, f.csrf.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let full = f.full_price_ok.is_some();
    let raw = f.face.clone().unwrap_or_default();
    let Some(face) = parse_won(f.face.as_deref()) else {
        return render(
            prefs,
            &pages,
            &session,
            &raw,
            full,
            None,
            Some(&amount_invalid()),
        );
    };
    let answer = service::citizen::charge(
        &pages.service,
        &session.caller,
        form_key(f.key.as_deref()),
        ChargeRequest {
            face,
            channel: 0,
            full_price_ok: full,
        },
    )
    .await;
    match answer {
        Ok(a) => see_other_to(&format!(
            "/wallet/charge/result?purchase={}",
            a.value.purchase
        )),
        Err(e) => render(prefs, &pages, &session, &raw, full, None, Some(&e)),
    }
}

/// `GET /wallet/charge/result?purchase=`: where the charge stands.
pub async fn result(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<ResultQuery>, QueryRejection>,
) -> Response {
    let (prefs, session) = match citizen(&pages, &parts) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let id = query.ok().and_then(|Query(q)| q.purchase).unwrap_or(0);
    let here = format!("/wallet/charge/result?purchase={id}");
    let body = match service::citizen::purchase(&pages.service, &session.caller, id).await {
        Ok(p) => result_body(lang, &p, &here),
        Err(e) => {
            let response = citizen_page(
                prefs,
                &here,
                Tab::Charge,
                lang.t(C::ResultTitle),
                html! { h1 { (lang.t(C::ResultTitle)) } (error_box(lang, "charge-error", &e)) },
            );
            return with_status(response, e.status);
        }
    };
    citizen_page(prefs, &here, Tab::Charge, lang.t(C::ResultTitle), body)
}

fn result_body(lang: Lang, p: &PurchaseView, here: &str) -> Markup {
    let at = Kst::from_ms(p.at / 1000);
    let words = match p.state.as_str() {
        "pending" => C::Pending,
        "posted" => C::Posted,
        "failed" => C::Failed,
        _ => C::Cancelled,
    };
    let pending = p.state == "pending";
    html! {
        h1 { (lang.t(C::ResultTitle)) }
        // While the bank answers, the result asks for itself again (htmx, every two
        // seconds) and replaces itself; the live region around it says what changed.
        div aria-live="polite" {
        div #charge-result
            hx-get=[pending.then_some(here)] hx-trigger=[pending.then_some("every 2s")]
            hx-select=[pending.then_some("#charge-result")] hx-swap=[pending.then_some("outerHTML")] {
        div class=(if p.state == "failed" { "alert alert-error" } else { "alert alert-ok" })
            #charge-state role="status" data-state=(p.state) {
            p { (lang.t(words)) }
        }
        dl.facts {
            div { dt { (lang.t(C::YouGet)) } dd data-amount=(p.face) #charge-face { (won(lang, p.face)) } }
            div { dt { (lang.t(C::FromBank)) } dd data-amount=(p.paid) #charge-paid { (won(lang, p.paid)) } }
            div { dt { (lang.t(C::Discount)) } dd data-amount=(p.discount) #charge-discount { (won(lang, p.discount)) } }
            div { dt { (lang.t(crate::i18n::M::When)) } dd { time datetime=(at.rfc3339()) { (at.display()) } } }
        }
        ul.actions {
            @if p.state == "pending" {
                li { a.button.secondary href=(here) { (lang.t(W::Refresh)) } }
            }
            li { a href="/wallet" { (lang.t(W::BackToWallet)) } }
        }
        }
        }
    }
}

fn render(
    prefs: Prefs,
    pages: &Pages,
    session: &SignedIn,
    raw: &str,
    full: bool,
    quote: Option<&ChargeQuote>,
    error: Option<&ServiceError>,
) -> Response {
    let lang = prefs.lang;
    let invalid = error.map(|_| "true");
    let body = html! {
        h1 { (lang.t(C::Title)) }
        p { (lang.t(C::Lead)) }
        @if let Some(e) = error {
            (error_box(lang, "charge-error", e))
        }
        @if let Some(q) = quote {
            (quote_section(lang, pages, session, q, full))
        } @else {
            form.form method="get" action="/wallet/charge" {
                div.field {
                    label for="face" { (lang.t(C::Amount)) }
                    input #face type="text" name="face" inputmode="numeric" required maxlength="20"
                        value=(raw) aria-invalid=[invalid]
                        aria-describedby=(if error.is_some() { "charge-error face-hint" } else { "face-hint" });
                    p.hint #face-hint { (lang.t(C::AmountHint)) }
                }
                div.check {
                    input #full_price_ok type="checkbox" name="full_price_ok" value="yes" checked[full];
                    label for="full_price_ok" { (lang.t(C::FullPriceOk)) }
                }
                button.button type="submit" { (lang.t(C::SeeQuote)) }
            }
        }
    };
    let response = citizen_page(prefs, "/wallet/charge", Tab::Charge, lang.t(C::Title), body);
    match error {
        Some(e) => with_status(response, e.status),
        None => response,
    }
}

fn quote_section(
    lang: Lang,
    pages: &Pages,
    session: &SignedIn,
    q: &ChargeQuote,
    full: bool,
) -> Markup {
    let limit_item = |id: &str, name: C, limit: Option<i64>, used: i64, left: Option<i64>| {
        html! {
            @if let Some(l) = limit {
                li data-limit=(id) {
                    h3 { (lang.t(name)) }
                    dl.facts {
                        div { dt { (lang.t(C::Limit)) } dd.limit data-amount=(l) { (won(lang, l)) } }
                        div { dt { (lang.t(C::UsedSoFar)) } dd.used data-amount=(used) { (won(lang, used)) } }
                        div { dt { (lang.t(C::LeftAfter)) } dd.left data-amount=[left] { (left.map_or_else(|| lang.t(C::NoLimit).to_owned(), |v| won(lang, v))) } }
                    }
                }
            }
        }
    };
    let any_limit =
        q.monthly_limit.is_some() || q.yearly_limit.is_some() || q.channel_limit.is_some();
    html! {
        section.card aria-labelledby="charge-quote" #quote {
            h2 #charge-quote { (lang.t(C::QuoteTitle)) }
            dl.amounts {
                div.main { dt { (lang.t(C::YouGet)) } dd #quote-face data-amount=(q.face) { (won(lang, q.face)) } }
                div { dt { (lang.t(C::FromBank)) } dd #quote-paid data-amount=(q.paid) { (won(lang, q.paid)) } }
                div { dt { (lang.t(C::Discount)) } dd #quote-discount data-amount=(q.discount) { (won(lang, q.discount)) } }
            }
            @if q.discount_withheld {
                p.meta { (lang.t(C::DiscountWithheld)) }
            }
        }
        @if any_limit {
            section aria-labelledby="charge-limits" {
                h2 #charge-limits { (lang.t(C::LimitsTitle)) }
                ul.limits {
                    (limit_item("monthly", C::MonthlyLimit, q.monthly_limit, q.purchased_this_month, q.monthly_left_after))
                    (limit_item("channel", C::ChannelLimit, q.channel_limit, q.purchased_on_channel, q.channel_left_after))
                    (limit_item("yearly", C::YearlyLimit, q.yearly_limit, q.purchased_this_year, q.yearly_left_after))
                }
            }
        }
        form.form method="post" action="/wallet/charge" {
            (hidden(pages, session, Some(&fresh_key())))
            input type="hidden" name="face" value=(q.face);
            @if full {
                input type="hidden" name="full_price_ok" value="yes";
            }
            button.button type="submit" #confirm-charge { (lang.t(C::ConfirmCharge)) }
        }
        p { a href="/wallet/charge" { (lang.t(C::ChangeAmount)) } }
    }
}

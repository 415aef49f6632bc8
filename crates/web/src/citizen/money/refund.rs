//! `/wallet/refund`: cancelling a purchase (one from the list of those that can still
//! be cancelled) and the balance refund. Before each confirmation the page shows exactly
//! what comes back to the bank and what subsidy share goes back to the scheme: the
//! service's quotes, which run the ledger's own refund rules without refunding.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use service::ServiceError;
use service::citizen::{BalanceRefundQuoteView, CancelQuoteView, PayoutAnswer};

use super::{
    W, citizen, citizen_page, citizen_post, error_box, form_key, fresh_key, hidden, with_status,
};
use crate::Pages;
use crate::citizen::Tab;
use crate::i18n::{Lang, Words};
use crate::prefs::Prefs;
use crate::session::SignedIn;
use crate::signed::{self, Banner};
use crate::time::Kst;
use crate::wallet::won;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum R {
    Title,
    CancelTitle,
    CancelLead,
    NoCancellable,
    Face,
    ToBank,
    SubsidyKept,
    Until,
    CancelThis,
    BalanceTitle,
    BalanceLead,
    Remaining,
    RefundBalance,
    DonePaid,
    DoneInProgress,
    DoneRefused,
    DoneNone,
    DoneAmount,
    CaptionCancellable,
}

impl Words for R {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            R::Title => ("환불", "Refunds"),
            R::CancelTitle => ("충전 취소", "Cancel a charge"),
            R::CancelLead => (
                "쓰지 않은 충전은 기간 안에 취소할 수 있습니다. 낸 금액은 계좌로 돌아가고, 할인 금액은 지자체 예산으로 돌아갑니다.",
                "An unused charge can be cancelled within its window: what you paid goes back to your bank account, the discount back to the scheme's budget.",
            ),
            R::NoCancellable => (
                "지금 취소할 수 있는 충전이 없습니다.",
                "No charge can be cancelled now.",
            ),
            R::Face => ("충전 금액", "Value"),
            R::ToBank => ("계좌로 돌아오는 금액", "Back to your bank"),
            R::SubsidyKept => (
                "지자체 예산으로 돌아가는 할인분",
                "Discount back to the scheme",
            ),
            R::Until => ("취소 기한", "Cancellable until"),
            R::CancelThis => ("이 충전 취소하기", "Cancel this charge"),
            R::BalanceTitle => ("잔액 환불", "Balance refund"),
            R::BalanceLead => (
                "충전한 금액을 정해진 비율 이상 쓰면 남은 충전 잔액을 계좌로 돌려받을 수 있습니다. 할인받은 몫은 지자체 예산으로 돌아갑니다.",
                "Once you have used enough of what you charged, the rest of it can be refunded to your bank account. The discounted share goes back to the scheme's budget.",
            ),
            R::Remaining => (
                "지갑에서 빠지는 충전 잔액",
                "Charged value leaving the wallet",
            ),
            R::RefundBalance => ("잔액 환불받기", "Refund the balance"),
            R::DonePaid => (
                "계좌로 돈을 보냈습니다.",
                "The money was paid to your bank account.",
            ),
            R::DoneInProgress => (
                "은행이 입금하는 중입니다. 곧 계좌에 들어옵니다.",
                "The bank is paying it; it will arrive shortly.",
            ),
            R::DoneRefused => (
                "은행이 입금을 거절했습니다. 돈은 안전하게 보관되어 있고, 운영자가 확인해 다시 보내 드립니다.",
                "The bank refused the payment. The money is kept safe; an operator will pay it again.",
            ),
            R::DoneNone => (
                "환불되었습니다. 계좌로 보낼 금액은 없습니다.",
                "Refunded. Nothing was due to your bank account.",
            ),
            R::DoneAmount => ("계좌로 보낸 금액", "Paid to your bank"),
            R::CaptionCancellable => ("취소할 수 있는 충전", "Charges you can cancel"),
        }
    }
}

/// A refund's result, as the service answered it: carried in the 303's address, signed
/// for the session (`signed`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RefundQuery {
    /// A result: `paid`, `in_progress`, `refused` or `none`.
    done: Option<String>,
    amount: Option<i64>,
}

const DONE: &str = "refund-done";

impl RefundQuery {
    /// The result in `parts`' address, if it is signed for this session.
    fn read(pages: &Pages, session: &SignedIn, parts: &Parts) -> RefundQuery {
        let Some(b) = signed::read(pages, &session.token, &parts.uri, DONE, &["done", "amount"])
        else {
            return RefundQuery::default();
        };
        RefundQuery {
            done: b.get("done").map(str::to_owned),
            amount: b.number("amount"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct CancelForm {
    purchase: Option<u64>,
    csrf: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct BalanceForm {
    csrf: Option<String>,
    key: Option<String>,
}

pub async fn page(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match citizen(&pages, &parts) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let q = RefundQuery::read(&pages, &session, &parts);
    render(prefs, &pages, &session, &q, None).await
}

/// `POST /wallet/refund/cancel`: cancels one purchase; 303 to the result.
pub async fn cancel(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<CancelForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let (prefs, session) = match citizen_post(&pages, &parts, f.csrf.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let answer = service::citizen::cancel_purchase(
        &pages.service,
        &session.caller,
        form_key(f.key.as_deref()),
        f.purchase.unwrap_or(0),
    )
    .await;
    match answer {
        Ok(a) => done(&pages, &session, &a.value),
        Err(e) => render(prefs, &pages, &session, &RefundQuery::default(), Some(&e)).await,
    }
}

/// `POST /wallet/refund/balance`: the balance refund; 303 to the result.
pub async fn balance(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<BalanceForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let (prefs, session) = match citizen_post(&pages, &parts, f.csrf.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let answer = service::citizen::refund_balance(
        &pages.service,
        &session.caller,
        form_key(f.key.as_deref()),
    )
    .await;
    match answer {
        Ok(a) => done(&pages, &session, &a.value),
        Err(e) => render(prefs, &pages, &session, &RefundQuery::default(), Some(&e)).await,
    }
}

fn done(pages: &Pages, session: &SignedIn, p: &PayoutAnswer) -> Response {
    let status = match p.status.as_str() {
        s @ ("paid" | "in_progress" | "refused") => s,
        _ => "none",
    };
    Banner::new(DONE)
        .field("done", status)
        .field("amount", p.amount)
        .see_other(pages, &session.token, "/wallet/refund")
}

async fn render(
    prefs: Prefs,
    pages: &Pages,
    session: &SignedIn,
    q: &RefundQuery,
    error: Option<&ServiceError>,
) -> Response {
    let lang = prefs.lang;
    let cancellable =
        service::citizen::cancellable_purchases(&pages.service, &session.caller).await;
    let balance = service::citizen::quote_refund_balance(&pages.service, &session.caller).await;
    let body = html! {
        h1 { (lang.t(R::Title)) }
        @if let Some(d) = q.done.as_deref() {
            (done_box(lang, d, q.amount.unwrap_or(0)))
        }
        @if let Some(e) = error {
            (error_box(lang, "refund-error", e))
        }
        section aria-labelledby="cancel-title" {
            h2 #cancel-title { (lang.t(R::CancelTitle)) }
            p { (lang.t(R::CancelLead)) }
            @match &cancellable {
                Ok(list) if list.is_empty() => p #no-cancellable { (lang.t(R::NoCancellable)) },
                Ok(list) => {
                    ul.purchases aria-label=(lang.t(R::CaptionCancellable)) {
                        @for c in list {
                            li.card data-purchase=(c.purchase) { (cancel_item(lang, pages, session, c)) }
                        }
                    }
                }
                Err(e) => (error_box(lang, "cancel-list-error", e)),
            }
        }
        section aria-labelledby="balance-title" {
            h2 #balance-title { (lang.t(R::BalanceTitle)) }
            p { (lang.t(R::BalanceLead)) }
            @match &balance {
                Ok(b) => (balance_quote(lang, pages, session, b)),
                // Not yet (too little used, nothing to refund): the service's words.
                Err(e) => div.alert #balance-refusal data-code=(e.code) { p { (crate::account::words(lang, e)) } },
            }
        }
    };
    let response = citizen_page(prefs, "/wallet/refund", Tab::Refund, lang.t(R::Title), body);
    match error {
        Some(e) => with_status(response, e.status),
        None => response,
    }
}

fn done_box(lang: Lang, status: &str, amount: i64) -> Markup {
    let (words, class) = match status {
        "paid" => (R::DonePaid, "alert alert-ok"),
        "in_progress" => (R::DoneInProgress, "alert alert-ok"),
        "refused" => (R::DoneRefused, "alert alert-error"),
        _ => (R::DoneNone, "alert alert-ok"),
    };
    html! {
        div class=(class) #refund-done role="status" data-status=(status) {
            p { (lang.t(words)) }
            @if amount > 0 {
                p { (lang.t(R::DoneAmount)) ": " span data-amount=(amount) #refund-amount { (won(lang, amount)) } }
            }
            p { a href="/wallet" { (lang.t(W::BackToWallet)) } }
        }
    }
}

fn cancel_item(lang: Lang, pages: &Pages, session: &SignedIn, c: &CancelQuoteView) -> Markup {
    let bought = Kst::from_ms(c.bought_at / 1000);
    let until = Kst::from_ms(c.until / 1000);
    let title = format!("purchase-{}", c.purchase);
    html! {
        h3 id=(title) { (won(lang, c.face)) " · " time datetime=(bought.rfc3339()) { (bought.display()) } }
        dl.facts {
            div { dt { (lang.t(R::Face)) } dd data-amount=(c.face) { (won(lang, c.face)) } }
            div { dt { (lang.t(R::ToBank)) } dd.to-bank data-amount=(c.to_bank) { (won(lang, c.to_bank)) } }
            div { dt { (lang.t(R::SubsidyKept)) } dd.subsidy-kept data-amount=(c.subsidy_kept) { (won(lang, c.subsidy_kept)) } }
            div { dt { (lang.t(R::Until)) } dd { time datetime=(until.rfc3339()) { (until.display()) } } }
        }
        form method="post" action="/wallet/refund/cancel" {
            (hidden(pages, session, Some(&fresh_key())))
            input type="hidden" name="purchase" value=(c.purchase);
            button.button.secondary type="submit" aria-describedby=(title) { (lang.t(R::CancelThis)) }
        }
    }
}

fn balance_quote(
    lang: Lang,
    pages: &Pages,
    session: &SignedIn,
    b: &BalanceRefundQuoteView,
) -> Markup {
    html! {
        dl.facts #balance-quote {
            div { dt { (lang.t(R::Remaining)) } dd data-amount=(b.remaining) { (won(lang, b.remaining)) } }
            div { dt { (lang.t(R::ToBank)) } dd #balance-to-bank data-amount=(b.to_bank) { (won(lang, b.to_bank)) } }
            div { dt { (lang.t(R::SubsidyKept)) } dd #balance-subsidy data-amount=(b.subsidy_kept) { (won(lang, b.subsidy_kept)) } }
        }
        form method="post" action="/wallet/refund/balance" {
            (hidden(pages, session, Some(&fresh_key())))
            button.button type="submit" { (lang.t(R::RefundBalance)) }
        }
    }
}

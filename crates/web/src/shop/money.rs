//! The merchant's money: `GET /shop/money` shows what can be redeemed now, the bank
//! account it goes to (masked), a redemption form and the settlements, newest first,
//! paged by `?before=` (all `merchant::money`). `POST /shop/money/confirm` shows exactly
//! the amount and the account before anything moves (`merchant::quote_redemption`,
//! which checks as the redemption will); `POST /shop/money/redeem` redeems
//! (`merchant::redeem`) under the idempotency key drawn into the first form and carried
//! through the confirmation, so a double click or a resubmit redeems once; then 303
//! back with a banner signed for the session (`signed`).

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use service::ServiceError;
use service::merchant::{MerchantMoney, RedemptionQuote, RedemptionRequest, SettlementLine};

use super::till::parse_won;
use super::{Tab, error_page, form_allowed, fresh_key, merchant, shop_page};
use crate::account::words;
use crate::i18n::{Lang, Words};
use crate::prefs::Prefs;
use crate::session::{CSRF_FIELD, SignedIn};
use crate::signed::{self, Banner};
use crate::time::Kst;
use crate::wallet::won;
use crate::{Pages, private_response};

pub fn routes() -> Router<Pages> {
    Router::new()
        .route("/shop/money", get(money_page))
        .route("/shop/money/confirm", post(confirm))
        .route("/shop/money/redeem", post(redeem))
}

/// The money pages' fixed texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mw {
    Title,
    Lead,
    SummaryTitle,
    Redeemable,
    Redeeming,
    Balance,
    Account,
    NoAccount,
    NoAccountText,
    FormTitle,
    AmountLabel,
    AmountHint,
    Next,
    All,
    Failed,
    TryAgainLater,
    ConfirmTitle,
    ConfirmLead,
    ConfirmAmount,
    ConfirmAccount,
    ConfirmRemaining,
    RedeemButton,
    Change,
    DonePaid,
    DoneInProgress,
    DoneRefused,
    DonePaidText,
    DoneInProgressText,
    DoneRefusedText,
    ListTitle,
    ListCaption,
    NoSettlements,
    AskedAt,
    Amount,
    StateColumn,
    Reference,
    PagerLabel,
    Newest,
    Older,
    StatePending,
    StatePaid,
    StateReturned,
    StateExpired,
}

impl Words for Mw {
    fn words(self) -> (&'static str, &'static str) {
        use Mw::*;
        match self {
            Title => ("잔액과 정산", "Balance and payouts"),
            Lead => (
                "받은 결제 금액을 연결한 은행 계좌로 정산받을 수 있습니다.",
                "Payments you took can be paid out to your linked bank account.",
            ),
            SummaryTitle => ("잔액", "Balance"),
            Redeemable => ("지금 정산할 수 있는 금액", "Can be paid out now"),
            Redeeming => ("은행이 지급 중인 금액", "Being paid by the bank"),
            Balance => (
                "잔액 (지급 중 포함)",
                "Balance (including payouts under way)",
            ),
            Account => ("정산 계좌", "Payout account"),
            NoAccount => ("연결된 계좌 없음", "No account linked"),
            NoAccountText => (
                "정산받을 은행 계좌가 아직 연결되지 않았습니다. 계좌를 연결한 뒤 정산을 신청할 수 있습니다.",
                "No bank account is linked for payouts yet. Link one, then ask for a payout.",
            ),
            FormTitle => ("은행으로 정산 신청", "Pay out to the bank"),
            AmountLabel => ("정산할 금액 (원)", "Amount to pay out (won)"),
            AmountHint => (
                "다음 화면에서 금액과 계좌를 확인한 뒤 정산됩니다. 지금 정산할 수 있는 금액:",
                "You check the amount and the account on the next screen before anything is paid. Can be paid out now:",
            ),
            Next => ("다음: 확인하기", "Next: check it"),
            All => ("전액 정산", "Pay out everything"),
            Failed => ("정산하지 못했습니다", "The payout was not made"),
            TryAgainLater => (
                "잠시 후 다시 정산을 신청해 주세요. 같은 신청은 두 번 정산되지 않습니다.",
                "Please ask again in a moment. The same request is never paid out twice.",
            ),
            ConfirmTitle => ("정산 확인", "Check the payout"),
            ConfirmLead => (
                "아래 금액을 아래 계좌로 보냅니다. 맞으면 정산하기를 눌러 주세요.",
                "This amount goes to this account. If it is right, press Pay out.",
            ),
            ConfirmAmount => ("정산 금액", "Amount"),
            ConfirmAccount => ("받을 계좌", "To the account"),
            ConfirmRemaining => ("정산 후 남는 금액", "Left to pay out after it"),
            RedeemButton => ("정산하기", "Pay out"),
            Change => ("금액 바꾸기", "Change the amount"),
            DonePaid => ("정산금을 보냈습니다", "Paid out"),
            DoneInProgress => ("은행이 지급하는 중입니다", "The bank is paying it"),
            DoneRefused => ("은행이 지급을 거절했습니다", "The bank refused the payout"),
            DonePaidText => (
                "연결한 은행 계좌로 입금되었습니다.",
                "It was paid into your linked bank account.",
            ),
            DoneInProgressText => (
                "곧 계좌로 들어옵니다. 결과는 아래 정산 내역에서 볼 수 있습니다.",
                "It will arrive shortly. The settlements below show how it ends.",
            ),
            DoneRefusedText => (
                "금액은 잔액으로 돌아왔습니다. 계좌를 확인한 뒤 다시 신청해 주세요.",
                "The amount is back on your balance. Check the account, then ask again.",
            ),
            ListTitle => ("정산 내역", "Settlements"),
            ListCaption => ("정산 내역 (최근 것부터)", "Settlements, newest first"),
            NoSettlements => ("아직 정산 내역이 없습니다.", "No settlements yet."),
            AskedAt => ("신청 일시", "Asked for"),
            Amount => ("금액", "Amount"),
            StateColumn => ("상태", "State"),
            Reference => ("참조번호", "Bank ref."),
            PagerLabel => ("정산 내역 페이지", "Settlement pages"),
            Newest => ("최근 정산 보기", "Newest settlements"),
            Older => ("이전 정산 더 보기", "Older settlements"),
            StatePending => ("은행 지급 중", "Being paid"),
            StatePaid => ("지급 완료", "Paid"),
            StateReturned => (
                "은행 거절, 잔액으로 돌아옴",
                "Refused by the bank, back on the balance",
            ),
            StateExpired => (
                "확인 안 됨, 잔액으로 돌아옴",
                "Not confirmed, back on the balance",
            ),
        }
    }
}

/// A settlement's state in words (the service's `status`).
pub fn state_words(lang: Lang, status: &str) -> &str {
    let w = match status {
        "pending" => Mw::StatePending,
        "paid" => Mw::StatePaid,
        "returned" => Mw::StateReturned,
        "expired" => Mw::StateExpired,
        other => return other,
    };
    lang.t(w)
}

/// A redemption's answer, carried to the money page in its address and signed for the
/// session (so a crafted link says nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    amount: i64,
    /// `paid`, `in_progress` or `refused` (the service's `PayoutAnswer::status`).
    status: String,
    transfer: u64,
}

const REDEEMED: &str = "shop-redeemed";

impl Redeemed {
    fn banner(&self) -> Banner {
        Banner::new(REDEEMED)
            .field("redeemed", self.amount)
            .field("status", &self.status)
            .field("transfer", self.transfer)
    }

    fn read(pages: &Pages, session: &SignedIn, uri: &axum::http::Uri) -> Option<Redeemed> {
        let b = signed::read(
            pages,
            &session.token,
            uri,
            REDEEMED,
            &["redeemed", "status", "transfer"],
        )?;
        Some(Redeemed {
            amount: b.number("redeemed")?,
            status: b.get("status")?.to_owned(),
            transfer: b.number("transfer")?,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MoneyQuery {
    before: Option<u64>,
}

/// The redemption form as it is drawn: what was typed, the key it carries, and the
/// service's refusal if there was one.
struct Typed<'a> {
    amount: &'a str,
    key: String,
    error: Option<&'a ServiceError>,
}

impl Typed<'_> {
    fn fresh() -> Typed<'static> {
        Typed {
            amount: "",
            key: fresh_key(),
            error: None,
        }
    }
}

/// `GET /shop/money[?before=…]`.
pub async fn money_page(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let before = Query::<MoneyQuery>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|Query(q)| q.before);
    let done = Redeemed::read(&pages, &session, &parts.uri);
    show(
        prefs,
        &pages,
        &session,
        before,
        done.as_ref(),
        Typed::fresh(),
    )
    .await
}

/// The money page; `typed` is the form as it is to be drawn again.
async fn show(
    prefs: Prefs,
    pages: &Pages,
    session: &SignedIn,
    before: Option<u64>,
    done: Option<&Redeemed>,
    typed: Typed<'_>,
) -> Response {
    let m = match service::merchant::money(&pages.service, &session.caller, before).await {
        Ok(m) => m,
        Err(e) => return error_page(prefs, session, pages, "/shop/money", &e),
    };
    let lang = prefs.lang;
    let here = match before {
        Some(b) => format!("/shop/money?before={b}"),
        None => "/shop/money".to_owned(),
    };
    let status = typed.error.map(|e| e.status);
    let body = render(lang, pages, session, &m, before, done, &typed);
    let mut response = private_response(shop_page(
        prefs,
        session,
        pages,
        &here,
        Some(Tab::Money),
        lang.t(Mw::Title),
        body,
    ));
    if let Some(s) = status {
        *response.status_mut() = s;
    }
    response
}

fn render(
    lang: Lang,
    pages: &Pages,
    session: &SignedIn,
    m: &MerchantMoney,
    before: Option<u64>,
    done: Option<&Redeemed>,
    typed: &Typed<'_>,
) -> Markup {
    let csrf = pages.csrf.for_session(&session.token);
    let invalid = typed.error.map(|_| "true");
    let described = if typed.error.is_some() {
        "redeem-error amount-hint"
    } else {
        "amount-hint"
    };
    html! {
        h1 { (lang.t(Mw::Title)) }
        @if let Some(d) = done { (done_banner(lang, d)) }
        p { (lang.t(Mw::Lead)) }
        section.card.money-summary aria-labelledby="money-summary" {
            h2 #money-summary { (lang.t(Mw::SummaryTitle)) }
            dl.amounts {
                div.main {
                    dt { (lang.t(Mw::Redeemable)) }
                    dd #redeemable data-amount=(m.redeemable) { (won(lang, m.redeemable)) }
                }
                div {
                    dt { (lang.t(Mw::Redeeming)) }
                    dd #redeeming data-amount=(m.redeeming) { (won(lang, m.redeeming)) }
                }
                div {
                    dt { (lang.t(Mw::Balance)) }
                    dd #money-balance data-amount=(m.balance) { (won(lang, m.balance)) }
                }
                div {
                    dt { (lang.t(Mw::Account)) }
                    @match &m.bank_account {
                        Some(a) => dd.account-number #bank-account { (a) },
                        None => dd #bank-account { (lang.t(Mw::NoAccount)) },
                    }
                }
            }
        }
        section.card aria-labelledby="redeem-title" {
            h2 #redeem-title { (lang.t(Mw::FormTitle)) }
            @if let Some(e) = typed.error { (redeem_error(lang, e)) }
            @if m.bank_account.is_none() {
                p #no-account { (lang.t(Mw::NoAccountText)) }
            } @else {
                form.form #redeem-form method="post" action="/shop/money/confirm" {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf);
                    input type="hidden" name="key" value=(typed.key);
                    div.field {
                        label for="amount" { (lang.t(Mw::AmountLabel)) }
                        p.hint #amount-hint {
                            (lang.t(Mw::AmountHint)) " "
                            strong data-amount=(m.redeemable) { (won(lang, m.redeemable)) }
                        }
                        input #amount type="text" name="amount" value=(typed.amount) required
                            inputmode="numeric" autocomplete="off" maxlength="20"
                            aria-invalid=[invalid] aria-describedby=(described);
                    }
                    div.money-actions {
                        button.button type="submit" #redeem-next { (lang.t(Mw::Next)) }
                        button.button.secondary type="submit" #redeem-all name="all" value="yes" formnovalidate {
                            (lang.t(Mw::All)) " (" (won(lang, m.redeemable)) ")"
                        }
                    }
                }
            }
        }
        section aria-labelledby="settlements-title" {
            h2 #settlements-title { (lang.t(Mw::ListTitle)) }
            @if m.settlements.is_empty() {
                p #no-settlements { (lang.t(Mw::NoSettlements)) }
            } @else {
                // A region the keyboard can scroll, should a long word still not fit.
                div.table-wrap role="region" tabindex="0" aria-labelledby="settlements-title" {
                    table.settlements #settlements {
                        caption { (lang.t(Mw::ListCaption)) }
                        thead { tr {
                            th scope="col" { (lang.t(Mw::AskedAt)) }
                            th scope="col" .num { (lang.t(Mw::Amount)) }
                            th scope="col" { (lang.t(Mw::StateColumn)) }
                            th scope="col" { (lang.t(Mw::Reference)) }
                        } }
                        tbody {
                            @for s in &m.settlements { (settlement_row(lang, s)) }
                        }
                    }
                }
            }
            @if before.is_some() || m.older.is_some() {
                nav.pager aria-label=(lang.t(Mw::PagerLabel)) {
                    ul {
                        @if before.is_some() {
                            li { a #settlements-newest href="/shop/money" { (lang.t(Mw::Newest)) } }
                        }
                        @if let Some(older) = m.older {
                            li { a #settlements-older href=(format!("/shop/money?before={older}")) { (lang.t(Mw::Older)) } }
                        }
                    }
                }
            }
        }
    }
}

fn settlement_row(lang: Lang, s: &SettlementLine) -> Markup {
    let at = Kst::from_ms(s.opened_at / 1000);
    html! {
        tr data-transfer=(s.transfer) data-status=(s.status) {
            td { time datetime=(at.rfc3339()) { (at.display()) } }
            td.num data-amount=(s.amount) { (won(lang, s.amount)) }
            td.settlement-state { (state_words(lang, &s.status)) }
            td { code.reference { (s.reference) } }
        }
    }
}

fn done_banner(lang: Lang, d: &Redeemed) -> Markup {
    let (title, text, class) = match d.status.as_str() {
        "paid" => (Mw::DonePaid, Mw::DonePaidText, "alert alert-ok"),
        "in_progress" => (Mw::DoneInProgress, Mw::DoneInProgressText, "alert alert-ok"),
        "refused" => (Mw::DoneRefused, Mw::DoneRefusedText, "alert alert-error"),
        _ => return html! {},
    };
    html! {
        div class=(class) #redeem-result role="status" data-status=(d.status) data-transfer=(d.transfer) {
            h2 { (lang.t(title)) }
            p.redeem-amount data-amount=(d.amount) { (won(lang, d.amount)) }
            p { (lang.t(text)) }
        }
    }
}

/// A refusal, in the service's words, and what to do when it is the bank's or ours.
fn redeem_error(lang: Lang, e: &ServiceError) -> Markup {
    html! {
        div.alert.alert-error #redeem-error role="alert" data-code=(e.code) tabindex="-1" {
            h3 { (lang.t(Mw::Failed)) }
            p { (words(lang, e)) }
            @if e.status.is_server_error() { p { (lang.t(Mw::TryAgainLater)) } }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RedeemForm {
    csrf: Option<String>,
    key: Option<String>,
    amount: Option<String>,
    all: Option<String>,
}

/// The key a form carried, if it is one the service takes (else a fresh one: the
/// service would refuse a missing key, and nothing has been asked under this one).
fn carried_key(key: Option<&str>) -> String {
    key.filter(|k| (1..=128).contains(&k.len()))
        .map_or_else(fresh_key, str::to_owned)
}

/// What was typed, as drawn back into the form (bounded).
fn typed_text(amount: Option<&str>) -> String {
    amount.unwrap_or("").chars().take(20).collect()
}

/// `POST /shop/money/confirm`: the amount and the account exactly, before anything
/// moves; or the form again with the service's words and what was typed.
pub async fn confirm(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<RedeemForm>, FormRejection>,
) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(r) = form_allowed(&pages, &parts, &session, f.csrf.as_deref()) {
        return *r;
    }
    let key = carried_key(f.key.as_deref());
    let typed = typed_text(f.amount.as_deref());
    let asked = if f.all.is_some() {
        Ok(None)
    } else {
        parse_won(f.amount.as_deref())
            .map(Some)
            .ok_or_else(service::merchant::redemption_amount_invalid)
    };
    let quote = match asked {
        Ok(asked) => {
            service::merchant::quote_redemption(&pages.service, &session.caller, asked).await
        }
        Err(e) => Err(e),
    };
    match quote {
        Ok(q) => confirm_page(prefs, &pages, &session, &q, &key),
        Err(e) => {
            let form = Typed {
                amount: &typed,
                key,
                error: Some(&e),
            };
            show(prefs, &pages, &session, None, None, form).await
        }
    }
}

fn confirm_page(
    prefs: Prefs,
    pages: &Pages,
    session: &SignedIn,
    q: &RedemptionQuote,
    key: &str,
) -> Response {
    let lang = prefs.lang;
    let csrf = pages.csrf.for_session(&session.token);
    let body = html! {
        h1 #confirm-title tabindex="-1" { (lang.t(Mw::ConfirmTitle)) }
        p { (lang.t(Mw::ConfirmLead)) }
        section.card aria-labelledby="confirm-title" {
            dl.amounts {
                div.main {
                    dt { (lang.t(Mw::ConfirmAmount)) }
                    dd #confirm-amount data-amount=(q.amount) { (won(lang, q.amount)) }
                }
                div {
                    dt { (lang.t(Mw::ConfirmAccount)) }
                    dd.account-number #confirm-account { (q.bank_account) }
                }
                div {
                    dt { (lang.t(Mw::ConfirmRemaining)) }
                    dd #confirm-remaining data-amount=(q.remaining) { (won(lang, q.remaining)) }
                }
            }
        }
        form.form #confirm-form method="post" action="/shop/money/redeem" {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            input type="hidden" name="key" value=(key);
            input type="hidden" name="amount" value=(q.amount);
            p { button.button #redeem-button type="submit" {
                (lang.t(Mw::RedeemButton)) span.visually-hidden { " " (won(lang, q.amount)) }
            } }
            p { a href="/shop/money" { (lang.t(Mw::Change)) } }
        }
    };
    private_response(shop_page(
        prefs,
        session,
        pages,
        "/shop/money",
        Some(Tab::Money),
        lang.t(Mw::ConfirmTitle),
        body,
    ))
}

/// `POST /shop/money/redeem`: redeems the confirmed amount under the form's key; 303 to
/// the money page with the answer, or the page again with the service's words. A
/// refusal gets a new key (a corrected amount is a new request); when it is not known
/// whether the bank paid (the bank down, our answer lost), the same key, so asking
/// again cannot pay twice.
pub async fn redeem(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<RedeemForm>, FormRejection>,
) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(r) = form_allowed(&pages, &parts, &session, f.csrf.as_deref()) {
        return *r;
    }
    let key = carried_key(f.key.as_deref());
    let answer = match parse_won(f.amount.as_deref()) {
        Some(amount) => {
            service::merchant::redeem(
                &pages.service,
                &session.caller,
                Some(&key),
                RedemptionRequest { amount },
            )
            .await
        }
        None => Err(service::merchant::redemption_amount_invalid()),
    };
    match answer {
        Ok(a) => {
            let done = Redeemed {
                amount: a.value.amount,
                status: a.value.status,
                transfer: a.value.transfer.unwrap_or(0),
            };
            done.banner()
                .see_other(&pages, &session.token, "/shop/money")
        }
        Err(e) => {
            let key = retry_key(&e, key);
            let typed = typed_text(f.amount.as_deref());
            let form = Typed {
                amount: &typed,
                key,
                error: Some(&e),
            };
            show(prefs, &pages, &session, None, None, form).await
        }
    }
}

/// The key to ask again with after `e`: the same when it is not known whether the bank
/// paid (a server's error), so asking again cannot pay twice; else a new one.
fn retry_key(e: &ServiceError, key: String) -> String {
    if e.status.is_server_error() {
        key
    } else {
        fresh_key()
    }
}

#[cfg(test)]
#[path = "money_tests.rs"]
mod tests;

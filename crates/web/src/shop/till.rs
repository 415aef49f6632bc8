//! `GET /shop`: the live till. Today's total and the latest payments (the service's
//! `merchant::till`), payments appearing as they arrive (`GET /shop/live`, server-sent
//! events over the same `merchant::live_payments` the API's stream uses, with its limits;
//! `till.js` adds the row, says it in a live region, flashes and beeps unless muted), and
//! `POST /shop/charge`: charging a customer's one-time code (typed, or read by the
//! camera in `till.js`) through `merchant::consumer_payment`, under the idempotency key
//! the form was shown with.

use std::convert::Infallible;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use service::ServiceError;
use service::history::Entry;
use service::merchant::{ConsumerPaymentRequest, Till};

use super::{Tab, W, error_alert, error_page, form_allowed, fresh_key, merchant, shop_page};
use crate::assets;
use crate::i18n::Lang;
use crate::prefs::Prefs;
use crate::session::{CSRF_FIELD, SignedIn};
use crate::signed::{self, Banner};
use crate::time::Kst;
use crate::wallet::{entry_label, signed_won, won};
use crate::{Pages, private_response};

pub fn routes() -> Router<Pages> {
    Router::new()
        .route("/shop", get(till_page))
        .route("/shop/charge", post(charge))
        .route("/shop/live", get(live))
}

/// What the till says after a sale or a refund: the service's answer, carried in the
/// 303's address and signed for the session (`signed`), so a crafted link says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Charged { amount: i64, payment: u64 },
    Refunded { amount: i64, payment: u64 },
}

const CHARGED: &str = "till-charged";
const REFUNDED: &str = "till-refunded";

impl Done {
    /// The signed banner of this result.
    pub fn banner(self) -> Banner {
        match self {
            Done::Charged { amount, payment } => Banner::new(CHARGED)
                .field("charged", amount)
                .field("payment", payment),
            Done::Refunded { amount, payment } => Banner::new(REFUNDED)
                .field("refunded", amount)
                .field("payment", payment),
        }
    }

    /// The result in the till's address, if it is signed for this session.
    pub fn read(pages: &Pages, session: &SignedIn, uri: &axum::http::Uri) -> Option<Done> {
        let read = |kind, amount| {
            let b = signed::read(pages, &session.token, uri, kind, &[amount, "payment"])?;
            Some((b.number(amount)?, b.number("payment")?))
        };
        if let Some((amount, payment)) = read(CHARGED, "charged") {
            return Some(Done::Charged { amount, payment });
        }
        read(REFUNDED, "refunded").map(|(amount, payment)| Done::Refunded { amount, payment })
    }
}

/// `GET /shop`.
pub async fn till_page(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    match service::merchant::till(&pages.service, &session.caller).await {
        Ok(t) => {
            let done = Done::read(&pages, &session, &parts.uri);
            private_response(render(prefs, &pages, &session, &t, done, None, ""))
        }
        Err(e) => error_page(prefs, &session, &pages, "/shop", &e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ChargeForm {
    csrf: Option<String>,
    key: Option<String>,
    code: Option<String>,
    amount: Option<String>,
}

/// `POST /shop/charge`: 303 back to the till with the sale, or the till again with the
/// service's words and what was typed.
pub async fn charge(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<ChargeForm>, FormRejection>,
) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(r) = form_allowed(&pages, &parts, &session, f.csrf.as_deref()) {
        return *r;
    }
    let amount = parse_won(f.amount.as_deref());
    let answer = match amount {
        Some(amount) => {
            service::merchant::consumer_payment(
                &pages.service,
                &session.caller,
                f.key.as_deref(),
                ConsumerPaymentRequest {
                    code: f.code.clone().unwrap_or_default(),
                    amount,
                },
            )
            .await
        }
        None => Err(ServiceError::bad_request(
            "amount_invalid",
            "a whole number of won",
        )),
    };
    match answer {
        Ok(paid) => Done::Charged {
            amount: paid.value.amount,
            payment: paid.value.payment,
        }
        .banner()
        .see_other(&pages, &session.token, "/shop"),
        Err(e) => match service::merchant::till(&pages.service, &session.caller).await {
            Ok(t) => {
                let typed = f
                    .amount
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(20)
                    .collect::<String>();
                let mut response =
                    private_response(render(prefs, &pages, &session, &t, None, Some(&e), &typed));
                *response.status_mut() = e.status;
                response
            }
            Err(e) => error_page(prefs, &session, &pages, "/shop", &e),
        },
    }
}

/// Won as typed: digits, with grouping commas, spaces or `원` allowed.
pub fn parse_won(s: Option<&str>) -> Option<i64> {
    let digits: String = s?
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '원' | '₩'))
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `GET /shop/live`: the till's own stream (one `payment` event per payment received,
/// JSON as in the history), with the API's limits: a few per merchant, a bound in all.
pub async fn live(State(pages): State<Pages>, parts: Parts) -> Response {
    let Some(session) = crate::session::signed_in(&pages.service, &parts.headers) else {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    };
    if session.caller.role != service::Role::Merchant {
        return axum::http::StatusCode::FORBIDDEN.into_response();
    }
    let live = match service::merchant::live_payments(
        &pages.service,
        &session.caller,
        &pages.service.streams,
    ) {
        Ok(l) => l,
        Err(e) => {
            let mut response = (e.status, e.code.clone()).into_response();
            if let Some(wait) = e.retry_after_s
                && let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string())
            {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            return response;
        }
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        let entry = live.next().await?;
        let data = serde_json::to_string(&entry).unwrap_or_default();
        Some((
            Ok::<_, Infallible>(Event::default().event("payment").data(data)),
            live,
        ))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

fn payment_row(lang: Lang, e: &Entry) -> Markup {
    let at = Kst::from_ms(e.at / 1000);
    html! {
        tr data-kind=(e.kind) data-transfer=[e.transfer] {
            td { time datetime=(at.rfc3339()) { (at.display()) } }
            td { (entry_label(lang, &e.kind)) }
            td.num data-amount=(e.amount) { (signed_won(lang, e.amount)) }
            td {
                @if let (Some(t), "payment_received") = (e.transfer, &*e.kind) {
                    a href=(format!("/shop/refund/{t}")) {
                        (lang.t(W::Refund)) span.visually-hidden { " " (won(lang, e.amount)) " " (at.display()) }
                    }
                }
            }
        }
    }
}

fn render(
    prefs: Prefs,
    pages: &Pages,
    session: &SignedIn,
    t: &Till,
    done: Option<Done>,
    error: Option<&ServiceError>,
    typed_amount: &str,
) -> Markup {
    let lang = prefs.lang;
    let csrf = pages.csrf.for_session(&session.token);
    let invalid = error.map(|_| "true");
    let described = error.map(|_| "charge-error");
    let body = html! {
        h1 { (lang.t(W::TillTitle)) }
        @if let Some(name) = &t.name { p.lead.shop-name { (name) } }
        @if let Some(Done::Refunded { amount, payment }) = done {
            div.alert.alert-ok #refund-result role="status" data-payment=(payment) {
                h2 { (lang.t(W::Refunded)) }
                p { (won(lang, amount)) }
            }
        }
        @if let Some(Done::Charged { amount, payment }) = done {
            div.alert.alert-ok #charge-result role="status" data-payment=(payment) {
                h2 { (lang.t(W::Charged)) }
                p { (won(lang, amount)) }
            }
        }
        section.card.till-summary aria-labelledby="till-summary" {
            h2 #till-summary { (lang.t(W::Today)) " " time datetime=(t.today) { (t.today) } }
            dl.amounts {
                div.main {
                    dt { (lang.t(W::TodayTotal)) }
                    dd #today-total data-amount=(t.today_total) { (won(lang, t.today_total)) }
                }
                div {
                    dt { (lang.t(W::TodayCount)) }
                    dd #today-count data-count=(t.today_count) { (t.today_count) }
                }
                div {
                    dt { (lang.t(W::Balance)) }
                    dd #balance data-amount=(t.balance) { (won(lang, t.balance)) }
                }
            }
        }
        section.card aria-labelledby="charge-title" {
            h2 #charge-title { (lang.t(W::ChargeTitle)) }
            @if let Some(e) = error { (error_alert(lang, "charge-error", e)) }
            form.form #charge-form method="post" action="/shop/charge" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="key" value=(fresh_key());
                div.field {
                    label for="code" { (lang.t(W::CustomerCode)) }
                    p.hint #code-hint { (lang.t(W::CustomerCodeHint)) }
                    input #code type="text" name="code" required autocomplete="off"
                        autocapitalize="none" spellcheck="false"
                        aria-invalid=[invalid]
                        aria-describedby=(described.map_or("code-hint".to_owned(), |d| format!("code-hint {d}")));
                }
                div.scan #scan hidden data-read=(lang.t(W::ScanRead)) {
                    button.button.secondary #scan-start type="button" { (lang.t(W::ScanStart)) }
                    button.button.secondary #scan-stop type="button" hidden { (lang.t(W::ScanStop)) }
                    video #scan-video hidden muted playsinline aria-label=(lang.t(W::ScanVideo)) {}
                    p #scan-status role="status" {}
                }
                div.field {
                    label for="amount" { (lang.t(W::Amount)) }
                    input #amount type="text" name="amount" value=(typed_amount) required
                        inputmode="numeric" autocomplete="off" pattern="[0-9,]*"
                        aria-invalid=[invalid] aria-describedby=[described];
                }
                button.button type="submit" { (lang.t(W::ChargeButton)) }
            }
        }
        section aria-labelledby="till-live-title" {
            h2 #till-live-title { (lang.t(W::LiveTitle)) }
            div.till-controls {
                p #till-state .meta data-connecting=(lang.t(W::LiveConnecting)) data-on=(lang.t(W::LiveOn))
                    data-off=(lang.t(W::LiveOff)) { (lang.t(W::LiveNeedsScript)) }
                button.button.secondary #till-mute type="button" hidden aria-pressed="false"
                    data-mute=(lang.t(W::Mute)) data-unmute=(lang.t(W::Unmute)) { (lang.t(W::Mute)) }
            }
            div #till-announce .visually-hidden role="status" aria-live="polite"
                data-received=(lang.t(W::Received)) {}
            div.table-wrap {
                table.till-payments #till-payments data-lang=(lang.code())
                    data-kind-payment=(entry_label(lang, "payment_received"))
                    data-kind-refund=(entry_label(lang, "payment_refund"))
                    data-refund=(lang.t(W::Refund)) {
                    caption { (lang.t(W::RecentCaption)) }
                    thead { tr {
                        th scope="col" { (lang.t(W::When)) }
                        th scope="col" { (lang.t(W::What)) }
                        th scope="col" .num { (lang.t(W::Amount)) }
                        th scope="col" { span.visually-hidden { (lang.t(W::Refund)) } }
                    } }
                    tbody {
                        @for e in &t.recent { (payment_row(lang, e)) }
                    }
                }
            }
            @if t.recent.is_empty() { p #till-empty { (lang.t(W::NoPayments)) } }
        }
        script type="module" src=(assets::url("till.js")) {}
    };
    shop_page(
        prefs,
        session,
        pages,
        "/shop",
        Some(Tab::Till),
        lang.t(W::TillTitle),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn won_is_read_as_typed() {
        assert_eq!(parse_won(Some("12,000")), Some(12_000));
        assert_eq!(parse_won(Some(" 5000원")), Some(5_000));
        assert_eq!(parse_won(Some("₩700")), Some(700));
        assert_eq!(parse_won(Some("")), None);
        assert_eq!(parse_won(Some("-5")), None);
        assert_eq!(parse_won(Some("1e3")), None);
        assert_eq!(parse_won(Some("99999999999999999999")), None);
        assert_eq!(parse_won(None), None);
    }
}

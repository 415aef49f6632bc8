//! `GET /shop/refund/{payment}`: confirming a refund of a payment picked from the till's
//! list (the service's `merchant::received_payment`), and `POST` the same: the refund
//! through `merchant::refund_payment` under the key the form was shown with, then 303
//! back to the till, which says what was refunded.

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use maud::html;
use serde::Deserialize;
use service::ServiceError;
use service::merchant::RefundRequest;

use super::till::parse_won;
use super::{Tab, W, error_alert, error_page, form_allowed, fresh_key, merchant, shop_page};
use crate::session::CSRF_FIELD;
use crate::time::Kst;
use crate::wallet::won;
use crate::{Pages, private_response};

pub fn routes() -> Router<Pages> {
    Router::new().route("/shop/refund/{payment}", get(confirm).post(refund))
}

#[derive(Debug, Default, Deserialize)]
pub struct RefundForm {
    csrf: Option<String>,
    key: Option<String>,
    amount: Option<String>,
}

/// `GET /shop/refund/{payment}`.
pub async fn confirm(
    State(pages): State<Pages>,
    Path(payment): Path<u64>,
    parts: Parts,
) -> Response {
    show(&pages, &parts, payment, None, None).await
}

async fn show(
    pages: &Pages,
    parts: &Parts,
    payment: u64,
    error: Option<&ServiceError>,
    typed: Option<&str>,
) -> Response {
    let (prefs, session) = match merchant(pages, parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let here = format!("/shop/refund/{payment}");
    let e =
        match service::merchant::received_payment(&pages.service, &session.caller, payment).await {
            Ok(e) => e,
            Err(e) => return error_page(prefs, &session, pages, &here, &e),
        };
    let lang = prefs.lang;
    let csrf = pages.csrf.for_session(&session.token);
    let at = Kst::from_ms(e.at / 1000);
    let amount = typed.map_or_else(|| e.amount.to_string(), str::to_owned);
    let invalid = error.map(|_| "true");
    let body = html! {
        h1 { (lang.t(W::RefundTitle)) }
        @if let Some(err) = error { (error_alert(lang, "refund-error", err)) }
        section.card aria-labelledby="refund-payment" {
            h2 #refund-payment { (lang.t(W::RefundOf)) }
            dl.amounts {
                div { dt { (lang.t(W::When)) } dd { time datetime=(at.rfc3339()) { (at.display()) } } }
                div.main { dt { (lang.t(W::Amount)) } dd #refund-paid data-amount=(e.amount) { (won(lang, e.amount)) } }
            }
        }
        form.form method="post" action=(here) {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            input type="hidden" name="key" value=(fresh_key());
            div.field {
                label for="amount" { (lang.t(W::RefundAmount)) }
                p.hint #refund-hint { (lang.t(W::RefundHint)) }
                input #amount type="text" name="amount" value=(amount) required inputmode="numeric"
                    autocomplete="off" aria-invalid=[invalid]
                    aria-describedby=(if error.is_some() { "refund-hint refund-error" } else { "refund-hint" });
            }
            p { button.button type="submit" { (lang.t(W::RefundButton)) } }
            p { a href="/shop" { (lang.t(W::Cancel)) } }
        }
    };
    let mut response = private_response(shop_page(
        prefs,
        &session,
        pages,
        &here,
        Some(Tab::Till),
        lang.t(W::RefundTitle),
        body,
    ));
    if let Some(err) = error {
        *response.status_mut() = err.status;
    }
    response
}

/// `POST /shop/refund/{payment}`.
pub async fn refund(
    State(pages): State<Pages>,
    Path(payment): Path<u64>,
    parts: Parts,
    form: Result<Form<RefundForm>, FormRejection>,
) -> Response {
    let (_, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(r) = form_allowed(&pages, &parts, &session, f.csrf.as_deref()) {
        return *r;
    }
    let answer = match parse_won(f.amount.as_deref()) {
        Some(amount) => {
            service::merchant::refund_payment(
                &pages.service,
                &session.caller,
                f.key.as_deref(),
                payment,
                RefundRequest { amount },
            )
            .await
        }
        None => Err(ServiceError::bad_request(
            "amount_invalid",
            "a whole number of won",
        )),
    };
    match answer {
        Ok(done) => super::till::Done::Refunded {
            amount: done.value.amount.saturating_abs(),
            payment: done.value.payment,
        }
        .banner()
        .see_other(&pages, &session.token, "/shop"),
        Err(e) => {
            let typed: String = f.amount.unwrap_or_default().chars().take(20).collect();
            show(&pages, &parts, payment, Some(&e), Some(&typed)).await
        }
    }
}

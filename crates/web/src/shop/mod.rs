//! A merchant's pages (under `/shop`): applying to join (`apply`), the live till
//! (`till`: payments as they arrive, today's total, charging a customer's one-time
//! code), the sales chart (`sales`), the balance, redemption to the bank and the
//! settlements (`money`), the shop's QR sticker (`qr`). Each page reads the request,
//! calls one `service::merchant` (or `session`) use case and renders its answer;
//! [`tabs`] is the menu every merchant page shows.

use axum::Router;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use maud::{Markup, html};
use service::{Role, ServiceError};

use crate::account::{refused, see_other, words};
use crate::i18n::{Lang, M, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::{CSRF_FIELD, SignedIn, signed_in};
use crate::{Pages, private_response};

mod apply;
mod money;
mod qr;
mod refund;
mod sales;
mod scan;
mod till;
mod words;

pub use words::W;

#[cfg(test)]
pub(crate) use till::Done;

/// The routes of the merchant's pages.
pub fn routes() -> Router<Pages> {
    Router::new()
        .merge(apply::routes())
        .merge(till::routes())
        .merge(sales::routes())
        .merge(refund::routes())
        .merge(money::routes())
        .merge(qr::routes())
        .merge(scan::routes())
}

/// A merchant page, for the menu.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Till,
    Sales,
    Money,
    Qr,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Till, Tab::Sales, Tab::Money, Tab::Qr];

    pub fn href(self) -> &'static str {
        match self {
            Tab::Till => "/shop",
            Tab::Sales => "/shop/sales",
            Tab::Money => "/shop/money",
            Tab::Qr => "/shop/qr",
        }
    }
}

impl Words for Tab {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Tab::Till => ("계산대", "Till"),
            Tab::Sales => ("매출", "Sales"),
            Tab::Money => ("정산", "Payouts"),
            Tab::Qr => ("QR 스티커", "QR sticker"),
        }
    }
}

/// The merchant's menu, `current` marked for screen readers and the eye.
pub fn tabs(lang: Lang, current: Tab) -> Markup {
    html! {
        nav.tabs aria-label=(lang.t(W::MenuLabel)) {
            ul {
                @for tab in Tab::ALL {
                    li { a href=(tab.href()) aria-current=[(tab == current).then_some("page")] { (lang.t(tab)) } }
                }
            }
        }
    }
}

/// The signed-in merchant of the request, or the answer for anyone else: the sign-in
/// page when signed out, 403 for other roles.
pub(crate) fn merchant(pages: &Pages, parts: &Parts) -> Result<(Prefs, SignedIn), Box<Response>> {
    let prefs = Prefs::from_headers(&parts.headers);
    let Some(session) = signed_in(&pages.service, &parts.headers) else {
        return Err(Box::new(see_other("/sign-in")));
    };
    if session.caller.role != Role::Merchant {
        return Err(Box::new(merchants_only(prefs)));
    }
    Ok((prefs, session))
}

/// Whether a signed-in form may act: our own origin and the session's token.
pub(crate) fn form_allowed(
    pages: &Pages,
    parts: &Parts,
    session: &SignedIn,
    given: Option<&str>,
) -> Result<(), Box<Response>> {
    if !pages.form_allowed(parts, session, given) {
        return Err(Box::new(refused(Prefs::from_headers(&parts.headers))));
    }
    Ok(())
}

/// A fresh idempotency key for a money-moving form (made when the form is shown, so a
/// double submit carries the same key and is answered once).
pub(crate) fn fresh_key() -> String {
    crate::session::fresh_token()
}

/// A merchant page: the menu, then `body`, then the sign-out button.
pub(crate) fn shop_page(
    prefs: Prefs,
    session: &SignedIn,
    pages: &Pages,
    here: &str,
    tab: Option<Tab>,
    title: &str,
    body: Markup,
) -> Markup {
    let lang = prefs.lang;
    let csrf = pages.csrf.for_session(&session.token);
    let body = html! {
        @if let Some(tab) = tab { (tabs(lang, tab)) }
        (body)
        form.sign-out method="post" action="/sign-out" {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            button.button.secondary type="submit" { (lang.t(M::SignOutButton)) }
        }
    };
    page(prefs, here, Nav::Shop, title, body)
}

/// A service refusal, in words with what to do, and its stable code.
pub(crate) fn error_alert(lang: Lang, id: &str, e: &ServiceError) -> Markup {
    html! {
        div.alert.alert-error id=(id) role="alert" data-code=(e.code) tabindex="-1" {
            h2 { (lang.t(W::Failed)) }
            p { (words(lang, e)) }
        }
    }
}

/// A page that could not be shown: the service's words, with its status.
pub(crate) fn error_page(
    prefs: Prefs,
    session: &SignedIn,
    pages: &Pages,
    here: &str,
    e: &ServiceError,
) -> Response {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(M::ErrorTitle)) }
        p data-code=(e.code) { (words(lang, e)) }
        p { a href="/" { (lang.t(M::GoHome)) } }
    };
    let mut response = private_response(shop_page(
        prefs,
        session,
        pages,
        here,
        None,
        lang.t(M::ErrorTitle),
        body,
    ));
    *response.status_mut() = e.status;
    response
}

/// 403 for citizens, operators and auditors: these pages are a merchant's.
fn merchants_only(prefs: Prefs) -> Response {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(W::MerchantsOnlyTitle)) }
        p { (lang.t(W::MerchantsOnlyText)) }
        p { a href="/me" { (lang.t(M::NavMine)) } }
    };
    let mut response = private_response(page(
        prefs,
        "/shop",
        Nav::Shop,
        lang.t(W::MerchantsOnlyTitle),
        body,
    ));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

#[cfg(test)]
mod tests;

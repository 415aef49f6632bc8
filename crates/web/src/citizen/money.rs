//! Money in and out: signing up, linking a bank account, charging, gifts, refunds,
//! auto-charge and the full history. Each page reads a form, calls the `service` use
//! case the API calls (or its quote, which runs the ledger's own rule without doing
//! it), and renders the answer: no rule lives here.
//!
//! Every form that changes something carries the session's CSRF token; every one that
//! moves money also carries an idempotency key made when the form is rendered, so a
//! double submit is one operation (the service answers the repeat with the first
//! answer), and a success is answered 303 to a page that shows the result.

use axum::Router;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use service::{Role, ServiceError};

use super::{Tab, tabs};
use crate::account::{refused, see_other, words};
use crate::i18n::{Lang, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::{CSRF_FIELD, SignedIn, signed_in};
use crate::{Pages, private_response};

mod auto_charge;
mod bank;
mod charge;
mod gift;
mod history;
mod refund;
pub(crate) mod sign_up;

pub fn routes() -> Router<Pages> {
    Router::new()
        .route("/sign-up", get(sign_up::page).post(sign_up::submit))
        .route("/wallet/bank", get(bank::page).post(bank::start))
        .route("/wallet/bank/confirm", post(bank::confirm))
        .route("/wallet/charge", get(charge::page).post(charge::submit))
        .route("/wallet/charge/result", get(charge::result))
        .route("/wallet/history", get(history::page))
        .route("/wallet/gift", get(gift::page).post(gift::submit))
        .route("/wallet/refund", get(refund::page))
        .route("/wallet/refund/cancel", post(refund::cancel))
        .route("/wallet/refund/balance", post(refund::balance))
        .route(
            "/wallet/auto-charge",
            get(auto_charge::page).post(auto_charge::submit),
        )
}

/// The hidden field with a money form's idempotency key.
pub(crate) const KEY_FIELD: &str = "key";

/// Words shared by these pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum W {
    FailedTitle,
    PinLabel,
    PinHint,
    NotANumber,
    BackToWallet,
    Refresh,
}

impl Words for W {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            W::FailedTitle => ("처리하지 못했습니다", "This could not be done"),
            W::PinLabel => ("결제 비밀번호 (숫자 6자리)", "Payment PIN (6 digits)"),
            W::PinHint => ("결제할 때 쓰는 비밀번호입니다.", "The PIN you pay with."),
            W::NotANumber => (
                "금액은 원 단위 숫자로 입력해 주세요 (예: 50000).",
                "Please enter the amount in won as a number (e.g. 50000).",
            ),
            W::BackToWallet => ("지갑으로 돌아가기", "Back to the wallet"),
            W::Refresh => ("새로 고침", "Refresh"),
        }
    }
}

/// A signed-in citizen, or the answer for anyone else: to the sign-in page, or 403
/// (boxed: the answer is large and the rare case).
pub(crate) fn citizen(pages: &Pages, parts: &Parts) -> Result<(Prefs, SignedIn), Box<Response>> {
    let prefs = Prefs::from_headers(&parts.headers);
    let Some(session) = signed_in(&pages.service, &parts.headers) else {
        return Err(Box::new(see_other("/sign-in")));
    };
    if session.caller.role != Role::Citizen {
        return Err(Box::new(crate::wallet::citizens_only(prefs)));
    }
    Ok((prefs, session))
}

/// A signed-in citizen's POST: our origin and the session's form token, else 403.
pub(crate) fn citizen_post(
    pages: &Pages,
    parts: &Parts,
    csrf: Option<&str>,
) -> Result<(Prefs, SignedIn), Box<Response>> {
    let (prefs, session) = citizen(pages, parts)?;
    if !pages.form_allowed(parts, &session, csrf) {
        return Err(Box::new(refused(prefs)));
    }
    Ok((prefs, session))
}

/// A fresh idempotency key for a form being rendered.
pub(crate) fn fresh_key() -> String {
    crate::session::fresh_token()
}

/// The hidden fields of a signed-in form: its CSRF token, and a key if it moves money.
pub(crate) fn hidden(pages: &Pages, session: &SignedIn, key: Option<&str>) -> Markup {
    html! {
        input type="hidden" name=(CSRF_FIELD) value=(pages.csrf.for_session(&session.token));
        @if let Some(k) = key {
            input type="hidden" name=(KEY_FIELD) value=(k);
        }
    }
}

/// A refusal from the service: its words in `lang`, its stable code, tied to the form
/// by `id` (`aria-describedby`).
pub(crate) fn error_box(lang: Lang, id: &str, e: &ServiceError) -> Markup {
    html! {
        div.alert.alert-error id=(id) role="alert" data-code=(e.code) {
            h2 { (lang.t(W::FailedTitle)) }
            p { (words(lang, e)) }
        }
    }
}

/// A citizen page: the menu, then `body`, in the frame.
pub(crate) fn citizen_page(
    prefs: Prefs,
    here: &str,
    tab: Tab,
    title: &str,
    body: Markup,
) -> Response {
    let lang = prefs.lang;
    private_response(page(
        prefs,
        here,
        Nav::Wallet,
        title,
        html! {
            (tabs(lang, tab))
            (body)
        },
    ))
}

/// The same with the status of a refusal.
pub(crate) fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// A form field as an amount of won: digits, with `,` and spaces allowed between them.
pub(crate) fn parse_won(s: Option<&str>) -> Option<i64> {
    let s = s?.trim();
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, ',' | ' ' | '원' | '₩'))
        .collect();
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A "number" refusal with the stable code the service would give, for a form field
/// that is not one.
pub(crate) fn amount_invalid() -> ServiceError {
    let (ko, en) = W::NotANumber.words();
    ServiceError::new(StatusCode::BAD_REQUEST, "amount_invalid", ko, en)
}

/// A key from a form: what the service takes (1-128 characters), else none (the
/// service then says a key is needed).
pub(crate) fn form_key(key: Option<&str>) -> Option<&str> {
    key.filter(|k| (1..=128).contains(&k.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_as_people_type_them() {
        assert_eq!(parse_won(Some("50000")), Some(50_000));
        assert_eq!(parse_won(Some(" 50,000원 ")), Some(50_000));
        assert_eq!(parse_won(Some("₩1,000")), Some(1_000));
        assert_eq!(parse_won(Some("")), None);
        assert_eq!(parse_won(Some("-5")), None);
        assert_eq!(parse_won(Some("5.5")), None);
        assert_eq!(parse_won(Some("1e9")), None);
        assert_eq!(parse_won(Some("9999999999999999999")), None);
        assert_eq!(parse_won(None), None);
    }

    #[test]
    fn keys_are_fresh_and_within_the_services_bounds() {
        let a = fresh_key();
        assert_ne!(a, fresh_key());
        assert_eq!(form_key(Some(&a)), Some(a.as_str()));
        assert_eq!(form_key(Some("")), None);
        assert_eq!(form_key(Some(&"k".repeat(129))), None);
    }
}

#[cfg(test)]
mod page_tests;

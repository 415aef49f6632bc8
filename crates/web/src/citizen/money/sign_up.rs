//! `GET /sign-up` and `POST /sign-up`: a citizen opens a wallet (the service's
//! `sign_up_citizen`, with its limits and words), and is signed in at once. Like the
//! sign-in form, the form carries a double-submit token (its own cookie, on this path).

use std::net::SocketAddr;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::HeaderValue;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use service::ServiceError;
use service::secret::Secret;
use service::session::{CitizenSignUp, SignIn};

use super::{W, error_box};
use crate::account::{home_for, refused, see_other};
use crate::i18n::{Lang, M, Words};
use crate::layout::{Nav, page as frame};
use crate::prefs::{Prefs, cookie};
use crate::session::{
    CSRF_COOKIE, CSRF_FIELD, came_over_tls, fresh_token, origin_allowed, session_cookie,
    tokens_match, well_formed,
};
use crate::{Pages, private_response};

/// The longest text a field is shown back with.
const FIELD_SHOWN_MAX: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum S {
    Title,
    Lead,
    LinkFromSignIn,
    LoginHint,
    PasswordHint,
    PinHint,
    BirthYear,
    BirthYearHint,
    Currency,
    Button,
    HaveAccount,
    BirthYearInvalid,
}

impl Words for S {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            S::Title => ("지갑 만들기", "Open a wallet"),
            S::Lead => (
                "아이디와 비밀번호, 결제 비밀번호를 정하면 지역화폐 지갑이 바로 열립니다.",
                "Choose a login, a password and a payment PIN, and your wallet opens at once.",
            ),
            S::LinkFromSignIn => ("처음이신가요? 지갑 만들기", "New here? Open a wallet"),
            S::LoginHint => (
                "영문, 숫자와 . _ - @ 로 3~64자를 정해 주세요.",
                "3 to 64 letters, digits and . _ - @.",
            ),
            S::PasswordHint => ("8자 이상으로 정해 주세요.", "At least 8 characters."),
            S::PinHint => (
                "결제할 때마다 묻는 숫자 6자리입니다.",
                "Six digits, asked at every payment.",
            ),
            S::BirthYear => ("태어난 해", "Year of birth"),
            S::BirthYearHint => (
                "예: 1985. 요일별 구매 제한(홀짝제)에 쓰입니다.",
                "E.g. 1985. Some towns let odd and even years buy on different days.",
            ),
            S::Currency => ("지역화폐", "Currency"),
            S::Button => ("지갑 만들기", "Open my wallet"),
            S::HaveAccount => (
                "이미 지갑이 있으신가요? 로그인",
                "Already have a wallet? Sign in",
            ),
            S::BirthYearInvalid => (
                "태어난 해를 네 자리 숫자로 입력해 주세요 (예: 1985).",
                "Please enter your year of birth as four digits (e.g. 1985).",
            ),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SignUpForm {
    login: Option<String>,
    password: Option<String>,
    pin: Option<String>,
    birth_year: Option<String>,
    currency: Option<String>,
    csrf: Option<String>,
}

/// What the form is shown with again after a refusal (never the password or PIN).
#[derive(Default)]
struct Shown {
    login: String,
    birth_year: String,
    currency: String,
}

/// The sign-up form's double-submit cookie, sent only to this form's own address.
fn csrf_cookie(token: &str, secure: bool) -> String {
    format!(
        "{CSRF_COOKIE}={token}; Path=/sign-up; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

/// `GET /sign-up`.
pub async fn page(State(pages): State<Pages>, parts: Parts) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let tls = came_over_tls(&parts.headers, &parts.uri);
    let token = cookie(&parts.headers, CSRF_COOKIE)
        .filter(|t| well_formed(t))
        .map_or_else(fresh_token, str::to_owned);
    let mut response = private_response(form(prefs, &pages, &token, &Shown::default(), None));
    set_cookie(&mut response, &csrf_cookie(&token, tls));
    response
}

/// `POST /sign-up`: opens the wallet, signs in, and goes to it.
pub async fn submit(
    State(pages): State<Pages>,
    parts: Parts,
    form_data: Result<Form<SignUpForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let tls = came_over_tls(&parts.headers, &parts.uri);
    let expected = cookie(&parts.headers, CSRF_COOKIE)
        .filter(|t| well_formed(t))
        .unwrap_or("");
    let f = form_data.map(|Form(f)| f).unwrap_or_default();
    if !origin_allowed(&parts.headers, &parts.uri) || !tokens_match(expected, f.csrf.as_deref()) {
        return refused(prefs);
    }
    let clip = |s: Option<String>| -> String {
        s.unwrap_or_default()
            .trim()
            .chars()
            .take(FIELD_SHOWN_MAX)
            .collect()
    };
    let currency = match clip(f.currency) {
        c if c.is_empty() => only_currency(&pages).unwrap_or_default(),
        c => c,
    };
    let shown = Shown {
        login: clip(f.login),
        birth_year: clip(f.birth_year),
        currency: currency.clone(),
    };
    let again = |e: ServiceError, shown: &Shown| {
        let mut response = private_response(form(prefs, &pages, expected, shown, Some(&e)));
        *response.status_mut() = e.status;
        if let Some(wait) = e.retry_after_s
            && let Ok(v) = HeaderValue::from_str(&wait.to_string())
        {
            response.headers_mut().insert(RETRY_AFTER, v);
        }
        response
    };
    let Some(birth_year) = shown
        .birth_year
        .parse::<u16>()
        .ok()
        .filter(|_| shown.birth_year.len() == 4)
    else {
        let (ko, en) = S::BirthYearInvalid.words();
        return again(
            ServiceError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "birth_year_invalid",
                ko,
                en,
            ),
            &shown,
        );
    };
    let from = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let password = f.password.unwrap_or_default();
    let signed_up = service::session::sign_up_citizen(
        &pages.service,
        from,
        CitizenSignUp {
            login: shown.login.clone(),
            password: Secret::new(password.clone()),
            pin: Secret::new(f.pin.unwrap_or_default().trim().to_owned()),
            birth_year,
            currency,
        },
    )
    .await;
    if let Err(e) = signed_up {
        return again(e, &shown);
    }
    let session = service::session::sign_in(
        &pages.service,
        from,
        SignIn {
            login: shown.login.clone(),
            password: Secret::new(password),
        },
    )
    .await;
    match session {
        Ok(session) => {
            let max_age = session
                .expires_at
                .saturating_sub(crate::time::now_ms() / 1000);
            let mut response = see_other(home_for(session.role));
            set_cookie(&mut response, &session_cookie(&session.token, max_age, tls));
            set_cookie(
                &mut response,
                &crate::session::clear_cookie(CSRF_COOKIE, "/sign-up", tls),
            );
            response
        }
        // The wallet is open; signing in can still be refused (too many tries from
        // this address): the sign-in page says so.
        Err(_) => see_other("/sign-in"),
    }
}

/// The currency a sign-up goes to when the node runs only one.
fn only_currency(pages: &Pages) -> Option<String> {
    let mut codes = pages.service.currencies.keys();
    match (codes.next(), codes.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

fn form(
    prefs: Prefs,
    pages: &Pages,
    token: &str,
    shown: &Shown,
    error: Option<&ServiceError>,
) -> Markup {
    let lang = prefs.lang;
    let currencies: Vec<&String> = pages.service.currencies.keys().collect();
    let invalid = error.map(|_| "true");
    let described = |hint: &str| match error {
        Some(_) => format!("sign-up-error {hint}"),
        None => hint.to_owned(),
    };
    let body = html! {
        h1 { (lang.t(S::Title)) }
        p { (lang.t(S::Lead)) }
        @if let Some(e) = error {
            (error_box(lang, "sign-up-error", e))
        }
        form.form method="post" action="/sign-up" {
            input type="hidden" name=(CSRF_FIELD) value=(token);
            div.field {
                label for="login" { (lang.t(M::LoginLabel)) }
                input #login type="text" name="login" value=(shown.login) autocomplete="username"
                    autocapitalize="none" spellcheck="false" required maxlength="64"
                    aria-invalid=[invalid] aria-describedby=(described("login-hint"));
                p.hint #login-hint { (lang.t(S::LoginHint)) }
            }
            div.field {
                label for="password" { (lang.t(M::PasswordLabel)) }
                input #password type="password" name="password" autocomplete="new-password"
                    required minlength="8" aria-invalid=[invalid]
                    aria-describedby=(described("password-hint"));
                p.hint #password-hint { (lang.t(S::PasswordHint)) }
            }
            div.field {
                label for="pin" { (lang.t(W::PinLabel)) }
                input #pin type="password" name="pin" inputmode="numeric" pattern="[0-9]{6}"
                    maxlength="6" autocomplete="off" required aria-invalid=[invalid]
                    aria-describedby=(described("pin-hint"));
                p.hint #pin-hint { (lang.t(S::PinHint)) }
            }
            div.field {
                label for="birth_year" { (lang.t(S::BirthYear)) }
                input #birth_year type="text" name="birth_year" inputmode="numeric"
                    pattern="[0-9]{4}" maxlength="4" autocomplete="bday-year" required
                    value=(shown.birth_year) aria-invalid=[invalid]
                    aria-describedby=(described("birth-year-hint"));
                p.hint #birth-year-hint { (lang.t(S::BirthYearHint)) }
            }
            @if currencies.len() > 1 {
                div.field {
                    label for="currency" { (lang.t(S::Currency)) }
                    select #currency name="currency" required {
                        @for c in &currencies {
                            option value=(c) selected[**c == shown.currency] { (c) }
                        }
                    }
                }
            } @else if let Some(c) = currencies.first() {
                input type="hidden" name="currency" value=(c);
            }
            button.button type="submit" { (lang.t(S::Button)) }
        }
        p { a href="/sign-in" { (lang.t(S::HaveAccount)) } }
    };
    frame(prefs, "/sign-up", Nav::None, lang.t(S::Title), body)
}

/// The link the sign-in page shows to this one.
pub(crate) fn link(lang: Lang) -> Markup {
    html! { p.sign-up-link { a href="/sign-up" { (lang.t(S::LinkFromSignIn)) } } }
}

//! Signing in and out with a cookie session: `GET /sign-in` (the form), `POST /sign-in`
//! (the service's own sign-in, with its rate limits and errors), `POST /sign-out`. The
//! pages only read the form and render the answer; see [`crate::session`] for the
//! cookies and the forged-request defence.

use std::net::SocketAddr;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use service::secret::Secret;
use service::session::SignIn;
use service::{Role, ServiceError};

use crate::i18n::{Lang, M};
use crate::layout::{Nav, page};
use crate::prefs::{Prefs, cookie};
use crate::session::{
    CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE, came_over_tls, clear_cookie, csrf_cookie, fresh_token,
    origin_allowed, session_cookie, signed_in, tokens_match, well_formed,
};
use crate::{Pages, private_response};

/// The longest login the form passes on (the service refuses longer ones anyway).
const LOGIN_SHOWN_MAX: usize = 256;

/// The sign-in form's fields; all optional, so a missing one is a failed sign-in, not a
/// framework error.
#[derive(Debug, Default, Deserialize)]
pub struct SignInForm {
    login: Option<String>,
    password: Option<String>,
    csrf: Option<String>,
}

/// A signed-in form: only its token.
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    csrf: Option<String>,
}

/// `GET /sign-in`: the form, with a double-submit token (the cookie's, if it has one).
pub async fn sign_in_page(parts: Parts) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let tls = came_over_tls(&parts.headers, &parts.uri);
    let token = cookie(&parts.headers, CSRF_COOKIE)
        .filter(|t| well_formed(t))
        .map_or_else(fresh_token, str::to_owned);
    let mut response = private_response(sign_in_form(prefs, &token, "", None));
    set_cookie(&mut response, &csrf_cookie(&token, tls));
    response
}

/// `POST /sign-in`: signs in through the service; on success the session cookie and a
/// 303 to the person's own desk ([`home_for`] their role), else the form again with the
/// service's words (never the password).
pub async fn sign_in(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let tls = came_over_tls(&parts.headers, &parts.uri);
    let expected = cookie(&parts.headers, CSRF_COOKIE)
        .filter(|t| well_formed(t))
        .unwrap_or("");
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !origin_allowed(&parts.headers, &parts.uri) || !tokens_match(expected, form.csrf.as_deref())
    {
        return refused(prefs);
    }
    let login: String = form
        .login
        .unwrap_or_default()
        .chars()
        .take(LOGIN_SHOWN_MAX)
        .collect();
    let from = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let answer = service::session::sign_in(
        &pages.service,
        from,
        SignIn {
            login: login.clone(),
            password: Secret::new(form.password.unwrap_or_default()),
        },
    )
    .await;
    match answer {
        Ok(session) => {
            let max_age = session
                .expires_at
                .saturating_sub(crate::time::now_ms() / 1000);
            let mut response = see_other(home_for(session.role));
            set_cookie(&mut response, &session_cookie(&session.token, max_age, tls));
            set_cookie(&mut response, &clear_cookie(CSRF_COOKIE, "/sign-in", tls));
            response
        }
        Err(e) => {
            let mut response = private_response(sign_in_form(prefs, expected, &login, Some(&e)));
            *response.status_mut() = e.status;
            if let Some(wait) = e.retry_after_s
                && let Ok(v) = HeaderValue::from_str(&wait.to_string())
            {
                response.headers_mut().insert(RETRY_AFTER, v);
            }
            response
        }
    }
}

/// `POST /sign-out`: ends the session (with the session's token in the form) and goes
/// home. Without a live session there is nothing to end: the cookie is cleared all the
/// same.
pub async fn sign_out(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let tls = came_over_tls(&parts.headers, &parts.uri);
    if !origin_allowed(&parts.headers, &parts.uri) {
        return refused(prefs);
    }
    if let Some(s) = signed_in(&pages.service, &parts.headers) {
        let given = form.ok().and_then(|Form(f)| f.csrf);
        if !tokens_match(&pages.csrf.for_session(&s.token), given.as_deref()) {
            return refused(prefs);
        }
        pages.service.auth.sign_out(&s.token);
    }
    let mut response = see_other("/");
    set_cookie(&mut response, &clear_cookie(SESSION_COOKIE, "/", tls));
    response
}

/// The sign-in form; `error` is the last try's failure, shown above it and tied to the
/// fields for screen readers.
fn sign_in_form(prefs: Prefs, token: &str, login: &str, error: Option<&ServiceError>) -> Markup {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(M::SignInTitle)) }
        p { (lang.t(M::SignInLead)) }
        @if let Some(e) = error {
            div.alert.alert-error #sign-in-error role="alert" data-code=(e.code) {
                h2 { (lang.t(M::SignInFailed)) }
                p { (words(lang, e)) }
            }
        }
        form.form method="post" action="/sign-in" {
            input type="hidden" name=(CSRF_FIELD) value=(token);
            div.field {
                label for="login" { (lang.t(M::LoginLabel)) }
                input #login type="text" name="login" value=(login) autocomplete="username"
                    autocapitalize="none" spellcheck="false" required
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[error.map(|_| "sign-in-error")];
            }
            div.field {
                label for="password" { (lang.t(M::PasswordLabel)) }
                input #password type="password" name="password" autocomplete="current-password" required
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[error.map(|_| "sign-in-error")];
            }
            button.button type="submit" { (lang.t(M::SignInButton)) }
        }
        (crate::citizen::sign_up_link(lang))
    };
    page(prefs, "/sign-in", Nav::None, lang.t(M::SignInTitle), body)
}

/// A service error's words for people, in `lang`.
pub fn words(lang: Lang, e: &ServiceError) -> &str {
    match lang {
        Lang::Ko => &e.ko,
        Lang::En => &e.en,
    }
}

/// 403: a form without the right token, or from another site.
pub fn refused(prefs: Prefs) -> Response {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(M::RefusedTitle)) }
        p { (lang.t(M::RefusedText)) }
        ul {
            li { a href="/sign-in" { (lang.t(M::GoSignIn)) } }
            li { a href="/" { (lang.t(M::GoHome)) } }
        }
    };
    let mut response = private_response(page(prefs, "/", Nav::None, lang.t(M::RefusedTitle), body));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// Where someone of `role` starts after signing in: their own desk.
pub fn home_for(role: Role) -> &'static str {
    match role {
        Role::Citizen => "/wallet",
        Role::Merchant => "/shop",
        Role::Operator => "/console",
        Role::Auditor => "/audit",
    }
}

/// `GET /me`: the signed-in person's own desk (by role), or the sign-in page.
pub async fn me(State(pages): State<Pages>, parts: Parts) -> Response {
    match signed_in(&pages.service, &parts.headers) {
        Some(s) => see_other(home_for(s.caller.role)),
        None => see_other("/sign-in"),
    }
}

/// 303 to one of our own paths.
pub fn see_other(to: &'static str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    response
}

/// 303 to a path of ours made at run time (a result page with its query).
pub fn see_other_to(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// Percent-encodes a query value: everything but unreserved characters and `/` (which a
/// query may hold as it is, and which keeps a way-back path readable).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

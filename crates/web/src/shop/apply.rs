//! `GET/POST /shop/apply`: a shop applies to join (사업자등록번호 with its check digit,
//! name, address, category, hours, revenue, and its sign-in) through the service's
//! merchant sign-up, then `GET /shop/applied`: under review. Signed out, so the form
//! carries a double-submit token (as the sign-in form does), in a cookie of its own path.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use service::ServiceError;
use service::secret::Secret;
use service::session::MerchantSignUp;

use super::{W, error_alert};
use crate::account::{refused, see_other};
use crate::i18n::Lang;
use crate::layout::{Nav, page};
use crate::prefs::{Prefs, cookie};
use crate::session::{
    CSRF_COOKIE, CSRF_FIELD, came_over_tls, fresh_token, origin_allowed, tokens_match, well_formed,
};
use crate::{Pages, private_response};

const PATH: &str = "/shop/apply";
/// Longest text kept from a field when the form is shown again.
const FIELD_MAX: usize = 200;

pub fn routes() -> axum::Router<Pages> {
    Router::new()
        .route(PATH, get(form_page).post(submit))
        .route("/shop/applied", get(applied))
}

/// The scheme categories (MCC) a shop picks from, with their words.
pub const CATEGORIES: [(u16, &str, &str); 10] = [
    (5411, "식료품·슈퍼마켓", "Grocery, supermarket"),
    (5499, "기타 식품점", "Other food shop"),
    (5462, "제과점", "Bakery"),
    (5812, "음식점", "Restaurant"),
    (5814, "분식·패스트푸드", "Snack bar, fast food"),
    (5912, "약국", "Pharmacy"),
    (5331, "생활용품점", "Variety store"),
    (5942, "서점", "Bookshop"),
    (7230, "미용실", "Hair and beauty"),
    (5999, "기타 소매", "Other retail"),
];

/// The application's fields, all optional so a missing one is the service's refusal.
#[derive(Debug, Default, Deserialize)]
pub struct ApplyForm {
    csrf: Option<String>,
    login: Option<String>,
    password: Option<String>,
    brn: Option<String>,
    name: Option<String>,
    road_address: Option<String>,
    category: Option<String>,
    hours: Option<String>,
    annual_revenue: Option<String>,
    currency: Option<String>,
}

impl ApplyForm {
    fn kept(v: &Option<String>) -> String {
        v.as_deref().unwrap_or("").chars().take(FIELD_MAX).collect()
    }
}

fn csrf_cookie(token: &str, tls: bool) -> String {
    format!(
        "{CSRF_COOKIE}={token}; Path={PATH}; HttpOnly; SameSite=Strict{}",
        if tls { "; Secure" } else { "" }
    )
}

fn with_cookie(mut response: Response, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// `GET /shop/apply`.
pub async fn form_page(State(pages): State<Pages>, parts: Parts) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let tls = came_over_tls(&parts.headers, &parts.uri);
    let token = cookie(&parts.headers, CSRF_COOKIE)
        .filter(|t| well_formed(t))
        .map_or_else(fresh_token, str::to_owned);
    let body = form(prefs, &pages, &token, &ApplyForm::default(), None);
    with_cookie(private_response(body), &csrf_cookie(&token, tls))
}

/// `POST /shop/apply`: the service's merchant sign-up; 303 to the under-review page, or
/// the form again with the service's words (never the password).
pub async fn submit(
    State(pages): State<Pages>,
    parts: Parts,
    form_in: Result<Form<ApplyForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let expected = cookie(&parts.headers, CSRF_COOKIE)
        .filter(|t| well_formed(t))
        .unwrap_or("")
        .to_owned();
    let f = form_in.map(|Form(f)| f).unwrap_or_default();
    if !origin_allowed(&parts.headers, &parts.uri) || !tokens_match(&expected, f.csrf.as_deref()) {
        return refused(prefs);
    }
    let from = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let answer = match sign_up_request(&pages, &f) {
        Ok(req) => service::session::sign_up_merchant(&pages.service, from, req).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(_) => see_other("/shop/applied"),
        Err(e) => {
            let mut response = private_response(form(prefs, &pages, &expected, &f, Some(&e)));
            *response.status_mut() = e.status;
            response
        }
    }
}

/// The service's request from the form: numbers read here, everything else checked by
/// the service.
fn sign_up_request(pages: &Pages, f: &ApplyForm) -> Result<MerchantSignUp, ServiceError> {
    let number = |v: &Option<String>, code: &str| -> Result<i64, ServiceError> {
        let digits: String = v
            .as_deref()
            .unwrap_or("")
            .chars()
            .filter(|c| !matches!(c, ',' | ' ' | '원'))
            .collect();
        digits
            .parse::<i64>()
            .map_err(|_| ServiceError::bad_request(code, "a whole number"))
    };
    let category = u16::try_from(number(&f.category, "category_invalid")?)
        .map_err(|_| ServiceError::bad_request("category_invalid", "a category"))?;
    let currency = f
        .currency
        .clone()
        .filter(|c| pages.service.currencies.contains_key(c))
        .or_else(|| pages.service.currencies.keys().next().cloned())
        .unwrap_or_default();
    Ok(MerchantSignUp {
        login: f.login.clone().unwrap_or_default(),
        password: Secret::new(f.password.clone().unwrap_or_default()),
        currency,
        category,
        annual_revenue: number(&f.annual_revenue, "revenue_invalid")?,
        brn: f.brn.clone().unwrap_or_default(),
        name: f.name.clone().unwrap_or_default(),
        name_en: None,
        mcc: Some(category),
        road_address: f.road_address.clone(),
        lat: None,
        lon: None,
        hours: f.hours.clone(),
        accepts: None,
    })
}

/// The application form, with what was entered and the last try's refusal.
fn form(
    prefs: Prefs,
    pages: &Pages,
    token: &str,
    f: &ApplyForm,
    error: Option<&ServiceError>,
) -> Markup {
    let lang = prefs.lang;
    let invalid = error.map(|_| "true");
    let described = error.map(|_| "apply-error");
    let chosen = ApplyForm::kept(&f.category);
    let currencies: Vec<&String> = pages.service.currencies.keys().collect();
    let body = html! {
        h1 { (lang.t(W::ApplyTitle)) }
        p.lead { (lang.t(W::ApplyLead)) }
        @if let Some(e) = error { (error_alert(lang, "apply-error", e)) }
        form.form method="post" action=(PATH) {
            input type="hidden" name=(CSRF_FIELD) value=(token);
            @if currencies.len() > 1 {
                div.field {
                    label for="currency" { (lang.t(W::Currency)) }
                    select #currency name="currency" {
                        @for c in &currencies { option value=(c) { (c) } }
                    }
                }
            }
            fieldset {
                legend { (lang.t(W::ShopSection)) }
                div.field {
                    label for="brn" { (lang.t(W::Brn)) }
                    p.hint #brn-hint { (lang.t(W::BrnHint)) }
                    input #brn type="text" name="brn" value=(ApplyForm::kept(&f.brn)) required
                        inputmode="numeric" autocomplete="off" pattern="[0-9]{3}-?[0-9]{2}-?[0-9]{5}"
                        aria-describedby=(described.map_or("brn-hint".to_owned(), |d| format!("brn-hint {d}")))
                        aria-invalid=[invalid];
                }
                div.field {
                    label for="name" { (lang.t(W::ShopName)) }
                    input #name type="text" name="name" value=(ApplyForm::kept(&f.name)) required
                        autocomplete="organization" aria-invalid=[invalid] aria-describedby=[described];
                }
                div.field {
                    label for="road_address" { (lang.t(W::Address)) }
                    input #road_address type="text" name="road_address" value=(ApplyForm::kept(&f.road_address))
                        autocomplete="street-address" aria-describedby=[described];
                }
                div.field {
                    label for="category" { (lang.t(W::Category)) }
                    select #category name="category" required aria-describedby=[described] {
                        @for (code, ko, en) in CATEGORIES {
                            option value=(code) selected[chosen == code.to_string()] {
                                (match lang { Lang::Ko => ko, Lang::En => en })
                            }
                        }
                    }
                }
                div.field {
                    label for="hours" { (lang.t(W::Hours)) }
                    p.hint #hours-hint { (lang.t(W::HoursHint)) }
                    input #hours type="text" name="hours" value=(ApplyForm::kept(&f.hours))
                        aria-describedby="hours-hint";
                }
                div.field {
                    label for="annual_revenue" { (lang.t(W::Revenue)) }
                    p.hint #revenue-hint { (lang.t(W::RevenueHint)) }
                    input #annual_revenue type="text" inputmode="numeric" name="annual_revenue"
                        value=(ApplyForm::kept(&f.annual_revenue)) required
                        aria-describedby="revenue-hint";
                }
            }
            fieldset {
                legend { (lang.t(W::LoginSection)) }
                div.field {
                    label for="login" { (lang.t(W::NewLogin)) }
                    input #login type="text" name="login" value=(ApplyForm::kept(&f.login)) required
                        autocomplete="username" autocapitalize="none" spellcheck="false"
                        aria-describedby=[described];
                }
                div.field {
                    label for="password" { (lang.t(W::NewPassword)) }
                    input #password type="password" name="password" required autocomplete="new-password"
                        aria-describedby=[described];
                }
            }
            p.hint { (lang.t(W::BankLater)) }
            button.button type="submit" { (lang.t(W::ApplyButton)) }
        }
    };
    page(prefs, PATH, Nav::Shop, lang.t(W::ApplyTitle), body)
}

/// `GET /shop/applied`: the application is in; an operator reviews it.
pub async fn applied(parts: Parts) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(W::AppliedTitle)) }
        div.card.applied role="status" {
            p.state.state-degraded { span.symbol aria-hidden="true" { "⏳" } " " (lang.t(W::UnderReview)) }
            p { (lang.t(W::AppliedText)) }
        }
        p { a.button href="/sign-in" { (lang.t(W::GoSignIn)) } }
    };
    private_response(page(
        prefs,
        "/shop/applied",
        Nav::Shop,
        lang.t(W::AppliedTitle),
        body,
    ))
}

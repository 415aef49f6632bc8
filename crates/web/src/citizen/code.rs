//! `/wallet/code`: the citizen's one-time code a shop's till scans (the service's
//! `citizen::consumer_code`, as the API's `POST /me/consumer-code`): asked for with the
//! payment PIN, shown as a QR image and as text, valid three minutes. `code.js` counts
//! down, announcing the time left at sensible moments, and when the code expires asks
//! for the PIN again for a new one (the service asks the PIN for every code).
//!
//! `POST /wallet/code` answers the page with the code (never a redirect: the code is
//! never put in an address or stored); a request marked `HX-Request` gets the code's
//! fragment alone.

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use service::Secret;
use service::citizen::{ConsumerCodeAnswer, ConsumerCodeRequest};

use super::Tab;
use super::pay::{citizen, citizen_page, error_alert};
use crate::account::refused;
use crate::i18n::{Lang, Words};
use crate::session::CSRF_FIELD;
use crate::time::Kst;
use crate::{Pages, assets, private_response};

pub fn routes() -> Router<Pages> {
    Router::new().route("/wallet/code", get(code_page).post(new_code))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum W {
    Title,
    Lead,
    PinLabel,
    PinHint,
    Show,
    Refresh,
    Failed,
    Image,
    Text,
    ValidUntil,
    Left,
    Expired,
    ExpiredHint,
    Once,
}

impl Words for W {
    fn words(self) -> (&'static str, &'static str) {
        use W::*;
        match self {
            Title => ("결제 코드", "Pay code"),
            Lead => (
                "가게 계산대에서 이 코드를 보여 주면 가게가 찍어 결제합니다. 코드는 3분 동안 한 번만 쓸 수 있습니다.",
                "Show this code at the shop's till: the shop scans it to take the payment. A code works once, for three minutes.",
            ),
            PinLabel => ("결제 비밀번호(6자리)", "Payment PIN (6 digits)"),
            PinHint => (
                "코드를 만들 때마다 비밀번호를 확인합니다.",
                "The PIN is asked for each new code.",
            ),
            Show => ("코드 보기", "Show my code"),
            Refresh => ("새 코드 받기", "Get a new code"),
            Failed => ("코드를 만들지 못했습니다", "No code was made"),
            Image => ("결제 QR 코드", "Payment QR code"),
            Text => ("코드 글자", "The code as text"),
            ValidUntil => ("사용 기한", "Valid until"),
            Left => ("남은 시간", "Time left"),
            Expired => ("코드가 만료되었습니다.", "The code has expired."),
            ExpiredHint => (
                "비밀번호를 다시 넣으면 새 코드를 받습니다.",
                "Enter your PIN again for a new code.",
            ),
            Once => (
                "이 코드는 한 번 쓰면 다시 쓸 수 없습니다.",
                "Once used, the code is gone.",
            ),
        }
    }
}

/// `GET /wallet/code`: the PIN form.
async fn code_page(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match citizen(&pages, &parts, "/wallet/code") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let csrf = pages.csrf.for_session(&session.token);
    let body = html! {
        h1 { (lang.t(W::Title)) }
        p.lead { (lang.t(W::Lead)) }
        div #code-box { (pin_form(lang, &csrf, false)) }
        script type="module" src=(assets::url("code.js")) {}
    };
    citizen_page(prefs, "/wallet/code", Tab::Code, lang.t(W::Title), body)
}

/// The PIN form; `again` after a code (a new one).
fn pin_form(lang: Lang, csrf: &str, again: bool) -> Markup {
    html! {
        form.form.code-form method="post" action="/wallet/code" {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            div.field {
                label for="code-pin" { (lang.t(W::PinLabel)) }
                p.meta #code-pin-hint { (lang.t(W::PinHint)) }
                input #code-pin type="password" name="pin" inputmode="numeric" pattern="[0-9]*"
                    autocomplete="off" required maxlength="6" minlength="6"
                    aria-describedby="code-pin-hint";
            }
            button.button type="submit" { (lang.t(if again { W::Refresh } else { W::Show })) }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PinForm {
    csrf: Option<String>,
    pin: Option<String>,
}

/// `POST /wallet/code`: a new code from the service.
async fn new_code(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<PinForm>, FormRejection>,
) -> Response {
    let (prefs, session) = match citizen(&pages, &parts, "/wallet/code") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !pages.form_allowed(&parts, &session, form.csrf.as_deref()) {
        return refused(prefs);
    }
    let csrf = pages.csrf.for_session(&session.token);
    let answer = service::citizen::consumer_code(
        &pages.service,
        &session.caller,
        ConsumerCodeRequest {
            pin: Secret::new(form.pin.unwrap_or_default()),
        },
    )
    .await;
    let (status, inner) = match &answer {
        Ok(a) => (axum::http::StatusCode::OK, shown_code(lang, &csrf, a)),
        Err(e) => (
            e.status,
            html! {
                (error_alert(lang, "code-error", lang.t(W::Failed), e))
                (pin_form(lang, &csrf, false))
            },
        ),
    };
    let mut r = if parts.headers.contains_key("hx-request") {
        private_response(inner)
    } else {
        let body = html! {
            h1 { (lang.t(W::Title)) }
            p.lead { (lang.t(W::Lead)) }
            div #code-box { (inner) }
            script type="module" src=(assets::url("code.js")) {}
        };
        citizen_page(prefs, "/wallet/code", Tab::Code, lang.t(W::Title), body)
    };
    *r.status_mut() = status;
    r
}

/// The code in groups of four characters, for reading aloud or typing at a till.
pub fn grouped(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The code: QR image, text, expiry and countdown, and the form for a new one.
fn shown_code(lang: Lang, csrf: &str, a: &ConsumerCodeAnswer) -> Markup {
    let svg = service::citizen::code_svg(&a.code).unwrap_or_default();
    let until = Kst::from_ms(a.expires_at_us / 1000);
    let left_s = (a.expires_at_us / 1000).saturating_sub(crate::time::now_ms()) / 1000;
    html! {
        section.card.pay-code #pay-code aria-labelledby="code-title"
            data-expires-ms=(a.expires_at_us / 1000)
            data-expired=(lang.t(W::Expired)) data-lang=(lang.code()) {
            h2 #code-title { (lang.t(W::Title)) }
            div.qr role="img" aria-label=(lang.t(W::Image)) { (PreEscaped(svg)) }
            p.code-text {
                span.visually-hidden { (lang.t(W::Text)) ": " }
                code #code-text { (grouped(&a.code)) }
            }
            dl.amounts {
                div {
                    dt { (lang.t(W::ValidUntil)) }
                    dd { time datetime=(until.rfc3339()) { (until.display()) } }
                }
                div {
                    dt { (lang.t(W::Left)) }
                    dd #code-left data-left-s=(left_s) { (left(lang, left_s)) }
                }
            }
            p.visually-hidden #code-announce role="status" aria-live="polite" {}
            p.meta { (lang.t(W::Once)) }
            p.meta #code-expired hidden { (lang.t(W::Expired)) " " (lang.t(W::ExpiredHint)) }
        }
        (pin_form(lang, csrf, true))
    }
}

/// Time left as people say it: `2분 30초`, `2 min 30 s`.
pub fn left(lang: Lang, s: u64) -> String {
    let (m, s) = (s / 60, s % 60);
    match (lang, m) {
        (Lang::Ko, 0) => format!("{s}초"),
        (Lang::Ko, _) => format!("{m}분 {s}초"),
        (Lang::En, 0) => format!("{s} s"),
        (Lang::En, _) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::http::StatusCode;

    use super::super::pay::tests::{app_with, csrf_of, send};
    use super::*;

    #[test]
    fn time_left_and_groups_read_well() {
        assert_eq!(left(Lang::Ko, 180), "3분 0초");
        assert_eq!(left(Lang::Ko, 59), "59초");
        assert_eq!(left(Lang::En, 75), "1 min 15 s");
        assert_eq!(grouped("MC1:ABCDEFGH"), "MC1: ABCD EFGH");
    }

    #[tokio::test]
    async fn the_code_needs_a_citizen_the_token_and_the_pin() {
        let (app, token) = app_with(service::Role::Citizen).await;
        let c = format!("maeul_session={token}");
        let (status, _, page) =
            send(&app, "GET", "/wallet/code", &[("cookie", &c)], Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"aria-current="page">결제 코드<"#), "{page}");
        assert!(page.contains("/assets/code."));
        let csrf = csrf_of(&page);
        let form = "application/x-www-form-urlencoded";
        let (status, _, _) = send(
            &app,
            "POST",
            "/wallet/code",
            &[("cookie", &c), ("content-type", form)],
            b"pin=123456".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // A wrong PIN: the service's words, and the form again (as a fragment for htmx).
        let (status, _, body) = send(
            &app,
            "POST",
            "/wallet/code",
            &[
                ("cookie", &c),
                ("content-type", form),
                ("hx-request", "true"),
            ],
            format!("pin=000000&csrf={csrf}").into_bytes(),
        )
        .await;
        assert!(status.is_client_error(), "{status} {body}");
        assert!(
            body.contains("data-code=") && body.contains(r#"name="pin""#),
            "{body}"
        );
        assert!(!body.contains("<h1>"), "a fragment: {body}");
        let (app, token) = app_with(service::Role::Merchant).await;
        let (status, _, _) = send(
            &app,
            "GET",
            "/wallet/code",
            &[("cookie", &format!("maeul_session={token}"))],
            Vec::new(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

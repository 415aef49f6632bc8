//! `/wallet/gift`: sending value to another citizen (`service::citizen::gift`, with the
//! PIN), then what was sent and what the recipient got.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::request::Parts;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use service::ServiceError;
use service::citizen::GiftRequest;
use service::secret::Secret;

use super::{
    W, amount_invalid, citizen, citizen_page, citizen_post, error_box, form_key, fresh_key, hidden,
    parse_won, with_status,
};
use crate::Pages;
use crate::citizen::Tab;
use crate::i18n::Words;
use crate::prefs::Prefs;
use crate::session::SignedIn;
use crate::signed::{self, Banner};
use crate::wallet::won;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum G {
    Title,
    Lead,
    MyNumber,
    MyNumberHint,
    Recipient,
    RecipientHint,
    Amount,
    WhatTheyGet,
    Send,
    Sent,
    SentAmount,
    ToWallet,
    RecipientInvalid,
}

impl Words for G {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            G::Title => ("선물하기", "Send a gift"),
            G::Lead => (
                "다른 시민의 지갑으로 지역화폐를 보냅니다.",
                "Send value to another citizen's wallet.",
            ),
            G::MyNumber => ("내 지갑 번호", "My wallet number"),
            G::MyNumberHint => (
                "선물을 받으려면 이 번호를 알려 주세요.",
                "Give this number to people who want to send you a gift.",
            ),
            G::Recipient => ("받는 분의 지갑 번호", "Recipient's wallet number"),
            G::RecipientHint => (
                "받는 분의 선물하기 화면에 있는 번호입니다.",
                "Shown on the recipient's own gift page.",
            ),
            G::Amount => ("보낼 금액 (원)", "Amount (won)"),
            G::WhatTheyGet => (
                "받는 분은 보낸 금액 그대로를 '선물'로 받습니다. 보낸 돈의 유효기간은 그대로 유지되고, 지역의 선물 한도가 적용됩니다.",
                "The recipient receives exactly this amount as a gift. It keeps the expiry it had in your wallet, and the town's gift limits apply.",
            ),
            G::Send => ("선물 보내기", "Send the gift"),
            G::Sent => ("선물을 보냈습니다.", "The gift was sent."),
            G::SentAmount => ("받는 분이 받은 금액", "The recipient received"),
            G::ToWallet => ("받는 분의 지갑 번호", "To wallet"),
            G::RecipientInvalid => (
                "받는 분의 지갑 번호를 숫자로 입력해 주세요.",
                "Please enter the recipient's wallet number (digits).",
            ),
        }
    }
}

/// A gift sent, as the service answered it: carried in the 303's address, signed for
/// the session (`signed`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GiftQuery {
    sent: Option<u64>,
    amount: Option<i64>,
    to: Option<u64>,
}

const SENT: &str = "gift-sent";

impl GiftQuery {
    fn banner(gift: u64, amount: i64, to: u64) -> Banner {
        Banner::new(SENT)
            .field("sent", gift)
            .field("amount", amount)
            .field("to", to)
    }

    /// The gift in `parts`' address, if it is signed for this session.
    fn read(pages: &Pages, session: &SignedIn, parts: &Parts) -> GiftQuery {
        let Some(b) = signed::read(
            pages,
            &session.token,
            &parts.uri,
            SENT,
            &["sent", "amount", "to"],
        ) else {
            return GiftQuery::default();
        };
        GiftQuery {
            sent: b.number("sent"),
            amount: b.number("amount"),
            to: b.number("to"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct GiftForm {
    recipient: Option<String>,
    amount: Option<String>,
    pin: Option<String>,
    csrf: Option<String>,
    key: Option<String>,
}

pub async fn page(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match citizen(&pages, &parts) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let q = GiftQuery::read(&pages, &session, &parts);
    render(prefs, &pages, &session, &q, "", "", None)
}

pub async fn submit(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<GiftForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let (prefs, session) = match citizen_post(&pages, &parts, f.csrf.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let to_raw = f.recipient.clone().unwrap_or_default();
    let amount_raw = f.amount.clone().unwrap_or_default();
    let none = GiftQuery::default();
    let Some(recipient) = to_raw.trim().parse::<u64>().ok() else {
        let (ko, en) = G::RecipientInvalid.words();
        let e = ServiceError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "recipient_invalid",
            ko,
            en,
        );
        return render(
            prefs,
            &pages,
            &session,
            &none,
            &to_raw,
            &amount_raw,
            Some(&e),
        );
    };
    let Some(amount) = parse_won(f.amount.as_deref()) else {
        let e = amount_invalid();
        return render(
            prefs,
            &pages,
            &session,
            &none,
            &to_raw,
            &amount_raw,
            Some(&e),
        );
    };
    let answer = service::citizen::gift(
        &pages.service,
        &session.caller,
        form_key(f.key.as_deref()),
        GiftRequest {
            recipient,
            amount,
            pin: Secret::new(f.pin.unwrap_or_default().trim().to_owned()),
        },
    )
    .await;
    match answer {
        Ok(a) => GiftQuery::banner(a.value.gift, a.value.amount, recipient).see_other(
            &pages,
            &session.token,
            "/wallet/gift",
        ),
        Err(e) => render(
            prefs,
            &pages,
            &session,
            &none,
            &to_raw,
            &amount_raw,
            Some(&e),
        ),
    }
}

fn render(
    prefs: Prefs,
    pages: &Pages,
    session: &SignedIn,
    done: &GiftQuery,
    to_raw: &str,
    amount_raw: &str,
    error: Option<&ServiceError>,
) -> Response {
    let lang = prefs.lang;
    let invalid = error.map(|_| "true");
    let described = |hint: &str| match error {
        Some(_) => format!("gift-error {hint}"),
        None => hint.to_owned(),
    };
    let body = html! {
        h1 { (lang.t(G::Title)) }
        @if let (Some(_), Some(amount), Some(to)) = (done.sent, done.amount, done.to) {
            section.alert.alert-ok #gift-sent role="status" aria-labelledby="gift-sent-title" {
                h2 #gift-sent-title { (lang.t(G::Sent)) }
                dl.facts {
                    div { dt { (lang.t(G::SentAmount)) } dd data-amount=(amount) #gift-amount { (won(lang, amount)) } }
                    div { dt { (lang.t(G::ToWallet)) } dd #gift-to { (to) } }
                }
                p { a href="/wallet" { (lang.t(W::BackToWallet)) } }
            }
        }
        p { (lang.t(G::Lead)) }
        section.card aria-labelledby="my-number" {
            h2 #my-number { (lang.t(G::MyNumber)) }
            p.account-number #my-wallet-number { (session.caller.account.unwrap_or(0)) }
            p.meta { (lang.t(G::MyNumberHint)) }
        }
        @if let Some(e) = error {
            (error_box(lang, "gift-error", e))
        }
        form.form method="post" action="/wallet/gift" {
            (hidden(pages, session, Some(&fresh_key())))
            div.field {
                label for="recipient" { (lang.t(G::Recipient)) }
                input #recipient type="text" name="recipient" inputmode="numeric" required
                    maxlength="20" value=(to_raw) aria-invalid=[invalid]
                    aria-describedby=(described("recipient-hint"));
                p.hint #recipient-hint { (lang.t(G::RecipientHint)) }
            }
            div.field {
                label for="amount" { (lang.t(G::Amount)) }
                input #amount type="text" name="amount" inputmode="numeric" required
                    maxlength="20" value=(amount_raw) aria-invalid=[invalid]
                    aria-describedby=(described("what-they-get"));
                p.hint #what-they-get { (lang.t(G::WhatTheyGet)) }
            }
            div.field {
                label for="pin" { (lang.t(W::PinLabel)) }
                input #pin type="password" name="pin" inputmode="numeric" pattern="[0-9]{6}"
                    maxlength="6" autocomplete="off" required aria-invalid=[invalid]
                    aria-describedby=(described("pin-hint"));
                p.hint #pin-hint { (lang.t(W::PinHint)) }
            }
            button.button type="submit" { (lang.t(G::Send)) }
        }
    };
    let response = citizen_page(prefs, "/wallet/gift", Tab::Gift, lang.t(G::Title), body);
    match error {
        Some(e) => with_status(response, e.status),
        None => response,
    }
}

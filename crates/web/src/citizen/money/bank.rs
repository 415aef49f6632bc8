//! `/wallet/bank`: linking a bank account through the service's ownership check
//! (`service::bank_link`): the holder's name is compared, 1 won is sent with a code in
//! its memo, and the code comes back with the citizen's consent. Each step is a page;
//! each refusal shows the service's words and what to do.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use service::ServiceError;
use service::bank_link::{VerificationConfirm, VerificationStart, VerificationView};
use service::secret::Secret;

use super::{
    citizen, citizen_page, citizen_post, error_box, form_key, fresh_key, hidden, with_status,
};
use crate::Pages;
use crate::account::see_other_to;
use crate::citizen::Tab;
use crate::i18n::{Lang, M, Words};
use crate::prefs::Prefs;
use crate::session::SignedIn;
use crate::signed::{self, Banner};
use crate::time::Kst;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum B {
    Title,
    Lead,
    Linked,
    NotLinked,
    StartTitle,
    Number,
    NumberHint,
    Holder,
    HolderHint,
    PasswordHint,
    Start,
    CodeTitle,
    Code,
    CodeHint,
    ValidUntil,
    TriesLeft,
    ConsentTitle,
    ConsentAgree,
    LinkButton,
    StartAgain,
    LinkedNow,
    Step1,
    Step2,
    Step3,
}

impl Words for B {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            B::Title => ("계좌 연결", "Bank account"),
            B::Lead => (
                "충전 대금은 연결한 계좌에서 출금되고, 환불금은 이 계좌로 입금됩니다. 본인 계좌인지 예금주 이름과 1원 인증으로 확인합니다.",
                "Charges are paid from the linked account and refunds paid into it. We check that it is yours by its holder's name and a 1-won deposit.",
            ),
            B::Linked => ("지금 연결된 계좌", "Linked account"),
            B::NotLinked => ("아직 연결된 계좌가 없습니다.", "No account is linked yet."),
            B::StartTitle => ("계좌 인증 시작", "Verify an account"),
            B::Number => ("계좌번호", "Account number"),
            B::NumberHint => ("예: 110-000123", "E.g. 110-000123"),
            B::Holder => ("예금주 이름", "Account holder's name"),
            B::HolderHint => (
                "통장에 적힌 이름 그대로 입력해 주세요.",
                "As it is written on the account.",
            ),
            B::PasswordHint => (
                "계좌를 바꾸는 일이라 로그인 비밀번호를 한 번 더 확인합니다.",
                "Changing the account needs your sign-in password again.",
            ),
            B::Start => ("1원 보내기", "Send the 1-won check"),
            B::CodeTitle => ("인증번호 입력", "Enter the code"),
            B::Code => ("인증번호 (숫자 4자리)", "Code (4 digits)"),
            B::CodeHint => (
                "은행 앱의 입금 내역에서 'maeul' 뒤의 숫자 4자리입니다.",
                "The 4 digits after 'maeul' on the deposit in your banking app.",
            ),
            B::ValidUntil => ("입력 기한", "Enter it by"),
            B::TriesLeft => ("남은 입력 횟수", "Tries left"),
            B::ConsentTitle => ("출금 동의", "Consent"),
            B::ConsentAgree => ("위 내용에 동의합니다", "I agree to the above"),
            B::LinkButton => ("계좌 연결하기", "Link the account"),
            B::StartAgain => ("처음부터 다시 하기", "Start again"),
            B::LinkedNow => ("계좌가 연결되었습니다.", "The account is linked."),
            B::Step1 => ("1단계: 예금주 확인", "Step 1: the holder's name"),
            B::Step2 => ("2단계: 1원 인증", "Step 2: the 1-won code"),
            B::Step3 => ("3단계: 출금 동의", "Step 3: consent"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct BankQuery {
    /// A verification under way.
    v: Option<String>,
}

/// "Just linked": said only when the address is signed for this session (`signed`).
const LINKED: &str = "bank-linked";

fn just_linked(pages: &Pages, session: &SignedIn, parts: &Parts) -> bool {
    signed::read(pages, &session.token, &parts.uri, LINKED, &["linked"]).is_some()
}

#[derive(Debug, Default, Deserialize)]
pub struct StartForm {
    bank_account: Option<String>,
    holder_name: Option<String>,
    password: Option<String>,
    csrf: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ConfirmForm {
    id: Option<String>,
    code: Option<String>,
    consent: Option<String>,
    consent_version: Option<String>,
    csrf: Option<String>,
    key: Option<String>,
}

/// `GET /wallet/bank`: the linked account and the start form, or (`?v=`) the code step
/// of a verification under way.
pub async fn page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<BankQuery>, QueryRejection>,
) -> Response {
    let (prefs, session) = match citizen(&pages, &parts) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let linked = just_linked(&pages, &session, &parts);
    if let Some(id) = q.v.as_deref() {
        return match service::bank_link::verification_status(&pages.service, &session.caller, id)
            .await
        {
            Ok(v) => code_step(prefs, &pages, &session, &v, None),
            Err(e) => start_step(prefs, &pages, &session, Some(&e), linked).await,
        };
    }
    start_step(prefs, &pages, &session, None, linked).await
}

/// `POST /wallet/bank`: starts a verification (holder check, 1 won); on to the code step.
pub async fn start(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<StartForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let (prefs, session) = match citizen_post(&pages, &parts, f.csrf.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let answer = service::bank_link::start_verification(
        &pages.service,
        &session.caller,
        form_key(f.key.as_deref()),
        VerificationStart {
            bank_account: f.bank_account.unwrap_or_default(),
            holder_name: f.holder_name.filter(|h| !h.trim().is_empty()),
            password: Secret::new(f.password.unwrap_or_default()),
        },
    )
    .await;
    match answer {
        Ok(a) => {
            let (_, view) = a.value;
            see_other_to(&format!("/wallet/bank?v={}", view.id))
        }
        Err(e) => start_step(prefs, &pages, &session, Some(&e), false).await,
    }
}

/// `POST /wallet/bank/confirm`: the code and the consent; the account is linked.
pub async fn confirm(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<ConfirmForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let (prefs, session) = match citizen_post(&pages, &parts, f.csrf.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let id = f.id.unwrap_or_default();
    let answer = service::bank_link::confirm_verification(
        &pages.service,
        &session.caller,
        form_key(f.key.as_deref()),
        &id,
        VerificationConfirm {
            code: Secret::new(f.code.unwrap_or_default()),
            consent: f.consent.is_some(),
            consent_version: f.consent_version,
        },
    )
    .await;
    match answer {
        Ok(_) => {
            Banner::new(LINKED)
                .field("linked", 1)
                .see_other(&pages, &session.token, "/wallet/bank")
        }
        Err(e) => {
            // The verification as it now stands (tries left), with the refusal.
            match service::bank_link::verification_status(&pages.service, &session.caller, &id)
                .await
            {
                Ok(v) => code_step(prefs, &pages, &session, &v, Some(&e)),
                Err(_) => start_step(prefs, &pages, &session, Some(&e), false).await,
            }
        }
    }
}

async fn start_step(
    prefs: Prefs,
    pages: &Pages,
    session: &SignedIn,
    error: Option<&ServiceError>,
    just_linked: bool,
) -> Response {
    let lang = prefs.lang;
    let state = match service::bank_link::link_state(&pages.service, &session.caller) {
        Ok(s) => s,
        Err(e) => return failed(prefs, &e),
    };
    let invalid = error.map(|_| "true");
    let described = |hint: &str| match error {
        Some(_) => format!("bank-error {hint}"),
        None => hint.to_owned(),
    };
    let body = html! {
        h1 { (lang.t(B::Title)) }
        p { (lang.t(B::Lead)) }
        @if just_linked {
            div.alert.alert-ok #bank-linked-now role="status" { p { (lang.t(B::LinkedNow)) } }
        }
        section.card aria-labelledby="bank-linked" {
            h2 #bank-linked { (lang.t(B::Linked)) }
            @match &state.bank_account {
                Some(n) => p.account-number #linked-account { (n) },
                None => p #linked-account { (lang.t(B::NotLinked)) },
            }
        }
        section aria-labelledby="bank-start" {
            h2 #bank-start { (lang.t(B::StartTitle)) }
            ol.steps {
                li aria-current="step" { (lang.t(B::Step1)) }
                li { (lang.t(B::Step2)) }
                li { (lang.t(B::Step3)) }
            }
            @if let Some(e) = error {
                (error_box(lang, "bank-error", e))
            }
            form.form method="post" action="/wallet/bank" {
                (hidden(pages, session, Some(&fresh_key())))
                div.field {
                    label for="bank_account" { (lang.t(B::Number)) }
                    input #bank_account type="text" name="bank_account" inputmode="numeric"
                        autocomplete="off" required maxlength="40" aria-invalid=[invalid]
                        aria-describedby=(described("bank-account-hint"));
                    p.hint #bank-account-hint { (lang.t(B::NumberHint)) }
                }
                @if state.holder_name_needed {
                    div.field {
                        label for="holder_name" { (lang.t(B::Holder)) }
                        input #holder_name type="text" name="holder_name" autocomplete="name"
                            required maxlength="100" aria-invalid=[invalid]
                            aria-describedby=(described("holder-hint"));
                        p.hint #holder-hint { (lang.t(B::HolderHint)) }
                    }
                }
                div.field {
                    label for="password" { (lang.t(M::PasswordLabel)) }
                    input #password type="password" name="password" autocomplete="current-password"
                        required aria-invalid=[invalid] aria-describedby=(described("password-hint"));
                    p.hint #password-hint { (lang.t(B::PasswordHint)) }
                }
                button.button type="submit" { (lang.t(B::Start)) }
            }
        }
    };
    let response = citizen_page(prefs, "/wallet/bank", Tab::Bank, lang.t(B::Title), body);
    match error {
        Some(e) => with_status(response, e.status),
        None => response,
    }
}

fn code_step(
    prefs: Prefs,
    pages: &Pages,
    session: &SignedIn,
    v: &VerificationView,
    error: Option<&ServiceError>,
) -> Response {
    let lang = prefs.lang;
    let message = match lang {
        Lang::Ko => &v.message_ko,
        Lang::En => &v.message_en,
    };
    let consent = match lang {
        Lang::Ko => &v.consent.text_ko,
        Lang::En => &v.consent.text_en,
    };
    let until = Kst::from_ms(v.expires_at.saturating_mul(1000));
    let here = format!("/wallet/bank?v={}", v.id);
    let invalid = error.map(|_| "true");
    let body = html! {
        h1 { (lang.t(B::Title)) }
        ol.steps {
            li { (lang.t(B::Step1)) }
            li aria-current=[(v.status != "linked").then_some("step")] { (lang.t(B::Step2)) }
            li { (lang.t(B::Step3)) }
        }
        div.alert role="status" data-status=(v.status) #verification-status {
            p { (message) }
        }
        @if let Some(e) = error {
            (error_box(lang, "bank-error", e))
        }
        @match v.status.as_str() {
            "code_sent" => {
                section aria-labelledby="bank-code" {
                    h2 #bank-code { (lang.t(B::CodeTitle)) }
                    dl.facts {
                        div { dt { (lang.t(B::Number)) } dd.account-number { (v.bank_account) } }
                        div { dt { (lang.t(B::ValidUntil)) } dd { time datetime=(until.rfc3339()) { (until.display()) } } }
                        div { dt { (lang.t(B::TriesLeft)) } dd #tries-left { (v.tries_left) } }
                    }
                    form.form method="post" action="/wallet/bank/confirm" {
                        (hidden(pages, session, Some(&fresh_key())))
                        input type="hidden" name="id" value=(v.id);
                        input type="hidden" name="consent_version" value=(v.consent.version);
                        div.field {
                            label for="code" { (lang.t(B::Code)) }
                            input #code type="text" name="code" inputmode="numeric" maxlength="16"
                                autocomplete="one-time-code" required aria-invalid=[invalid]
                                aria-describedby=(if error.is_some() { "bank-error code-hint" } else { "code-hint" });
                            p.hint #code-hint { (lang.t(B::CodeHint)) }
                        }
                        fieldset.consent {
                            legend { (lang.t(B::ConsentTitle)) }
                            p #consent-text { (consent) }
                            div.check {
                                input #consent type="checkbox" name="consent" value="yes" required
                                    aria-describedby="consent-text";
                                label for="consent" { (lang.t(B::ConsentAgree)) }
                            }
                        }
                        button.button type="submit" { (lang.t(B::LinkButton)) }
                    }
                }
            }
            "in_progress" => {
                p { a.button.secondary href=(here) { (lang.t(super::W::Refresh)) } }
            }
            "linked" => {
                p { a href="/wallet/bank" { (lang.t(B::Linked)) } }
            }
            _ => {
                p { a.button href="/wallet/bank" { (lang.t(B::StartAgain)) } }
            }
        }
    };
    let response = citizen_page(prefs, &here, Tab::Bank, lang.t(B::Title), body);
    match error {
        Some(e) => with_status(response, e.status),
        None => response,
    }
}

/// The page when even the account cannot be read (no such currency, say).
fn failed(prefs: Prefs, e: &ServiceError) -> Response {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(B::Title)) }
        (error_box(lang, "bank-error", e))
    };
    with_status(
        citizen_page(prefs, "/wallet/bank", Tab::Bank, lang.t(B::Title), body),
        e.status,
    )
}

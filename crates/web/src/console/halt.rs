//! The console's halt and resume (`GET /console/halt`): whether the operator's currency
//! takes writes, a form to halt it with a reason citizens see on `/status` (`POST
//! /console/halt`, which first asks to confirm, then halts), and a button to resume it
//! (`POST /console/resume`). The state is `service::dashboard`'s; halting and resuming
//! are `service::operator::desk::{halt, resume}`, the same use cases as the API's.
//! Both forms carry an idempotency key made when the form is drawn.
//!
//! The same page starts an operator change: it says whether the currency moved, and
//! issues the successor credential (`POST /console/successor`, which first asks to
//! confirm, then shows the credential once; `service::handover::issue_credential`, the
//! API's use case). `docs/interchange.md` says what the successor does with it.

use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use service::Role;
use service::operator::desk::{self, Reason};

use super::{Confirm, Tab, fresh_key, tabs};
use crate::audit::{
    CurrencyQuery, chosen_currency, console_form, currency_switch, error_page, see_other_currency,
    staff,
};
use crate::i18n::{Lang, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::CSRF_FIELD;
use crate::{Pages, private_response};

const PATH: &str = "/console/halt";

pub fn routes() -> Router<Pages> {
    Router::new()
        .route(PATH, get(halt_page).post(halt))
        .route("/console/resume", post(resume))
        .route(SUCCESSOR_PATH, post(successor))
}

const SUCCESSOR_PATH: &str = "/console/successor";

/// The halt page's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H {
    Title,
    Lead,
    StateTitle,
    Running,
    HaltedNow,
    Why,
    HaltTitle,
    ReasonLabel,
    ReasonHint,
    Continue,
    ConfirmTitle,
    ConfirmText,
    CitizensSee,
    HaltNow,
    Cancel,
    ResumeTitle,
    ResumeText,
    ResumeNow,
    ChangeTitle,
    ChangeLead,
    MovedTo,
    MovedAtRecord,
    NoCredential,
    CredentialIssued,
    IssueButton,
    IssueConfirmTitle,
    IssueConfirmText,
    IssueNow,
    CredentialTitle,
    CredentialOnce,
    CredentialNext,
    BackToPage,
}

impl Words for H {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            H::Title => ("중지·재개", "Halt and resume"),
            H::Lead => (
                "사고가 나면 화폐의 모든 쓰기(결제, 충전, 환전)를 멈출 수 있습니다. 조회는 계속됩니다. 시민은 상태 페이지에서 이유를 봅니다.",
                "In an incident you can stop every write of the currency (payments, charging, redemption). Reads go on. Citizens see your reason on the status page.",
            ),
            H::StateTitle => ("지금 상태", "Now"),
            H::Running => (
                "운영 중: 결제와 충전이 됩니다.",
                "Running: payments and charging work.",
            ),
            H::HaltedNow => (
                "중지됨: 결제와 충전이 되지 않습니다.",
                "Halted: payments and charging do not work.",
            ),
            H::Why => ("이유", "Reason"),
            H::HaltTitle => ("화폐 중지", "Halt the currency"),
            H::ReasonLabel => ("시민에게 보일 이유", "Reason citizens will see"),
            H::ReasonHint => (
                "무슨 일이 있는지, 언제 다시 될지 짧게 적어 주세요.",
                "Say briefly what happened and when it should work again.",
            ),
            H::Continue => ("계속", "Continue"),
            H::ConfirmTitle => ("정말 중지할까요?", "Halt it now?"),
            H::ConfirmText => (
                "중지하면 모든 시민과 가맹점이 결제, 충전, 환전을 할 수 없습니다. 다시 재개할 때까지 계속됩니다.",
                "While halted, no citizen or merchant can pay, charge or redeem, until you resume it.",
            ),
            H::CitizensSee => ("시민이 볼 이유", "Citizens will see"),
            H::HaltNow => ("지금 중지", "Halt now"),
            H::Cancel => ("취소", "Cancel"),
            H::ResumeTitle => ("화폐 재개", "Resume the currency"),
            H::ResumeText => (
                "재개하면 결제와 충전이 바로 다시 됩니다.",
                "Resuming makes payments and charging work again at once.",
            ),
            H::ResumeNow => ("재개", "Resume"),
            H::ChangeTitle => ("운영사 변경", "Operator change"),
            H::ChangeLead => (
                "새 운영사에 화폐를 넘길 때: 새 운영사는 이 인증 정보로 원장을 실시간으로 따라온 뒤, 전환을 요청합니다. 전환하면 이곳은 쓰기를 멈추고 모든 요청을 새 주소로 보냅니다.",
                "To hand the currency to a new operator: with this credential their node follows the journal as it is written, then asks for the switch. At the switch this node stops writing and sends every request to the new address.",
            ),
            H::MovedTo => ("새 운영사로 옮겨졌습니다:", "Moved to the new operator:"),
            H::MovedAtRecord => ("마지막 기록", "last record"),
            H::NoCredential => (
                "발급한 인증 정보가 없습니다.",
                "No successor credential has been issued.",
            ),
            H::CredentialIssued => (
                "인증 정보를 발급한 때 (새로 발급하면 이전 것은 쓸 수 없습니다):",
                "A credential was issued (a new one makes the old one useless):",
            ),
            H::IssueButton => ("새 운영사 인증 정보 발급", "Issue a successor credential"),
            H::IssueConfirmTitle => ("인증 정보를 발급할까요?", "Issue a credential now?"),
            H::IssueConfirmText => (
                "이 인증 정보가 있으면 모든 거래 기록을 읽고 화폐 전환을 요청할 수 있습니다. 계약한 새 운영사에게만, 안전한 방법으로 전해 주세요.",
                "Whoever holds it can read every record of the journal and ask for the switch. Give it only to the new operator you contracted, over a safe channel.",
            ),
            H::IssueNow => ("발급", "Issue"),
            H::CredentialTitle => ("새 운영사 인증 정보", "Successor credential"),
            H::CredentialOnce => (
                "지금 복사해 두세요. 이 화면을 떠나면 다시 볼 수 없습니다.",
                "Copy it now: it is not shown again once you leave this page.",
            ),
            H::CredentialNext => (
                "새 운영사는 maeul migrate follow 와 maeul migrate cutover 에 이 인증 정보를 씁니다.",
                "The new operator uses it with maeul migrate follow and maeul migrate cutover.",
            ),
            H::BackToPage => ("중지·재개로 돌아가기", "Back to halt and resume"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct HaltForm {
    csrf: Option<String>,
    currency: Option<String>,
    reason: Option<String>,
    /// `yes` on the confirmation step's form.
    confirmed: Option<String>,
    key: Option<String>,
}

async fn halt_page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<CurrencyQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match staff(&pages, &parts, &[Role::Operator], PATH, Nav::Console) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let asked = query.as_ref().ok().and_then(|q| q.currency.as_deref());
    let code = chosen_currency(caller, asked).unwrap_or_default();
    let d = match service::dashboard::dashboard(&pages.service, caller, &code) {
        Ok(d) => d,
        Err(e) => return error_page(prefs, PATH, Nav::Console, &e),
    };
    let csrf = pages.csrf.for_session(&session.token);
    let body = html! {
        (tabs(lang, Tab::Halt))
        h1 { (lang.t(H::Title)) " · " span.currency-code { (d.currency) } }
        p.lead { (lang.t(H::Lead)) }
        (currency_switch(lang, caller, &d.currency, PATH))
        section.card aria-labelledby="halt-state-title" {
            h2 #halt-state-title { (lang.t(H::StateTitle)) }
            @match &d.health.halted {
                Some(why) => {
                    p #halt-now data-halted="true" { span.state.state-halted { (lang.t(H::HaltedNow)) } }
                    p { (lang.t(H::Why)) ": " span.meta { (why) } }
                }
                None => {
                    p #halt-now data-halted="false" { span.state.state-running { (lang.t(H::Running)) } }
                }
            }
        }
        @if d.health.halted.is_some() {
            (resume_form(lang, &d.currency, &csrf))
        } @else {
            (halt_form(lang, &d.currency, &csrf))
        }
        (successor_card(
            lang,
            &d.currency,
            &csrf,
            pages.service.handover.moved(&d.currency).as_ref(),
            pages.service.handover.issued_at(&d.currency),
        ))
    };
    private_response(page(prefs, PATH, Nav::Console, lang.t(H::Title), body))
}

fn halt_form(lang: Lang, currency: &str, csrf: &str) -> Markup {
    html! {
        section.card aria-labelledby="halt-title" {
            h2 #halt-title { (lang.t(H::HaltTitle)) }
            form.form method="post" action=(PATH) {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="currency" value=(currency);
                div.field {
                    label for="reason" { (lang.t(H::ReasonLabel)) }
                    p.hint #reason-hint { (lang.t(H::ReasonHint)) }
                    textarea #reason name="reason" rows="3" maxlength="500" required aria-describedby="reason-hint" {}
                }
                button.button type="submit" { (lang.t(H::Continue)) }
            }
        }
    }
}

fn resume_form(lang: Lang, currency: &str, csrf: &str) -> Markup {
    html! {
        section.card aria-labelledby="resume-title" {
            h2 #resume-title { (lang.t(H::ResumeTitle)) }
            p { (lang.t(H::ResumeText)) }
            form.form method="post" action="/console/resume" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="currency" value=(currency);
                input type="hidden" name="key" value=(fresh_key());
                button.button type="submit" { (lang.t(H::ResumeNow)) }
            }
        }
    }
}

/// Where an operator change stands, and the button that issues the successor
/// credential (the next step asks to confirm).
fn successor_card(
    lang: Lang,
    currency: &str,
    csrf: &str,
    moved: Option<&service::handover::Moved>,
    issued_at_us: Option<u64>,
) -> Markup {
    html! {
        section.card aria-labelledby="change-title" {
            h2 #change-title { (lang.t(H::ChangeTitle)) }
            p { (lang.t(H::ChangeLead)) }
            @if let Some(m) = moved {
                p #moved data-moved="true" {
                    (lang.t(H::MovedTo)) " " span.meta { (m.to) }
                    " (" (lang.t(H::MovedAtRecord)) " " (m.seq) ")"
                }
            } @else {
                @match issued_at_us {
                    Some(at) => {
                        @let when = crate::time::Kst::from_ms(at / 1000);
                        p #credential-state {
                            (lang.t(H::CredentialIssued)) " "
                            time datetime=(when.rfc3339()) { (when.display()) }
                        }
                    }
                    None => p #credential-state { (lang.t(H::NoCredential)) },
                }
                form.form method="post" action=(SUCCESSOR_PATH) {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf);
                    input type="hidden" name="currency" value=(currency);
                    button.button.secondary #issue-successor type="submit" { (lang.t(H::IssueButton)) }
                }
            }
        }
    }
}

/// The credential, once, with a copy button.
fn credential_page(lang: Lang, currency: &str, credential: &str) -> Markup {
    html! {
        (tabs(lang, Tab::Halt))
        h1 { (lang.t(H::CredentialTitle)) " · " span.currency-code { (currency) } }
        div.alert role="status" { p { (lang.t(H::CredentialOnce)) } }
        section.card aria-labelledby="credential-title" {
            h2 #credential-title { (lang.t(H::CredentialTitle)) }
            p { (crate::audit::copyable(lang, "successor-credential", credential)) }
            p { (lang.t(H::IssueConfirmText)) }
            p.hint { (lang.t(H::CredentialNext)) }
        }
        p { a href=(format!("{PATH}?currency={currency}")) { (lang.t(H::BackToPage)) } }
        (crate::audit::copy_script())
    }
}

/// The confirmation step: what citizens will see, and the button that halts.
fn confirm_form(lang: Lang, currency: &str, csrf: &str, reason: &str) -> Markup {
    html! {
        (tabs(lang, Tab::Halt))
        h1 { (lang.t(H::ConfirmTitle)) " · " span.currency-code { (currency) } }
        div.alert.alert-error role="alert" { p { (lang.t(H::ConfirmText)) } }
        section.card aria-labelledby="confirm-reason-title" {
            h2 #confirm-reason-title { (lang.t(H::CitizensSee)) }
            p #confirm-reason.halt-reason { (reason) }
        }
        (Confirm {
            action: PATH,
            csrf,
            currency,
            fields: &[("reason", reason.to_owned())],
            yes: lang.t(H::HaltNow),
            yes_id: None,
            back: PATH,
            no: lang.t(H::Cancel),
        }
        .form())
    }
}

/// `POST /console/halt`: without `confirmed=yes`, the confirmation page; with it, halts
/// and goes back to the page (303).
async fn halt(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<HaltForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (session, code) = match console_form(
        &pages,
        &parts,
        PATH,
        form.csrf.as_deref(),
        form.currency.as_deref(),
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let reason = form.reason.unwrap_or_default().trim().to_owned();
    if reason.is_empty() {
        return see_other_currency(PATH, &code);
    }
    if form.confirmed.as_deref() != Some("yes") {
        let csrf = pages.csrf.for_session(&session.token);
        let body = confirm_form(lang, &code, &csrf, &reason);
        return private_response(page(
            prefs,
            PATH,
            Nav::Console,
            lang.t(H::ConfirmTitle),
            body,
        ));
    }
    match desk::halt(
        &pages.service,
        caller,
        form.key.as_deref(),
        &code,
        Reason { reason },
    )
    .await
    {
        Ok(_) => see_other_currency(PATH, &code),
        Err(e) => error_page(prefs, PATH, Nav::Console, &e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct SuccessorForm {
    csrf: Option<String>,
    currency: Option<String>,
    /// `yes` on the confirmation step's form.
    confirmed: Option<String>,
}

/// `POST /console/successor`: without `confirmed=yes`, what the credential allows and
/// the button; with it, issues a new credential (the old one stops working) and shows
/// it once.
async fn successor(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<SuccessorForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (session, code) = match console_form(
        &pages,
        &parts,
        PATH,
        form.csrf.as_deref(),
        form.currency.as_deref(),
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if form.confirmed.as_deref() != Some("yes") {
        let csrf = pages.csrf.for_session(&session.token);
        let body = html! {
            (tabs(lang, Tab::Halt))
            h1 { (lang.t(H::IssueConfirmTitle)) " · " span.currency-code { (code) } }
            div.alert.alert-error role="alert" { p { (lang.t(H::IssueConfirmText)) } }
            (Confirm {
                action: SUCCESSOR_PATH,
                csrf: &csrf,
                currency: &code,
                fields: &[],
                yes: lang.t(H::IssueNow),
                yes_id: None,
                back: PATH,
                no: lang.t(H::Cancel),
            }
            .form())
        };
        return private_response(page(
            prefs,
            PATH,
            Nav::Console,
            lang.t(H::IssueConfirmTitle),
            body,
        ));
    }
    match service::handover::issue_credential(&pages.service, &session.caller, &code) {
        Ok(c) => private_response(page(
            prefs,
            PATH,
            Nav::Console,
            lang.t(H::CredentialTitle),
            credential_page(lang, &code, &c.credential),
        )),
        Err(e) => error_page(prefs, PATH, Nav::Console, &e),
    }
}

/// `POST /console/resume`: resumes and goes back to the page (303).
async fn resume(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<HaltForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (session, code) = match console_form(
        &pages,
        &parts,
        PATH,
        form.csrf.as_deref(),
        form.currency.as_deref(),
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    match desk::resume(&pages.service, caller, form.key.as_deref(), &code).await {
        Ok(_) => see_other_currency(PATH, &code),
        Err(e) => error_page(prefs, PATH, Nav::Console, &e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::audit::tests::{app_with, assert_operators_only};

    #[tokio::test]
    async fn the_halt_page_is_an_operators() {
        assert_operators_only(PATH, &[Role::Citizen]).await;
    }

    #[tokio::test]
    async fn halting_without_the_form_token_is_refused() {
        let (app, cookie) = app_with(Role::Operator).await;
        for path in [PATH, "/console/resume", SUCCESSOR_PATH] {
            let req = Request::post(path)
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("currency=demo&reason=x&confirmed=yes"))
                .unwrap();
            let response = app.clone().oneshot(req).await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        }
    }

    #[test]
    fn halting_asks_first_and_carries_a_key() {
        let s = confirm_form(Lang::En, "demo", "tok", "<b>flood</b>").into_string();
        assert!(s.contains(r#"name="confirmed" value="yes""#), "{s}");
        assert!(s.contains(r#"name="key" value="page-"#), "{s}");
        assert!(s.contains("&lt;b&gt;flood"), "the reason is escaped: {s}");
        assert!(s.contains(r#"role="alert""#));
        let s = halt_form(Lang::Ko, "demo", "tok").into_string();
        assert!(
            !s.contains("confirmed"),
            "the first step does not halt: {s}"
        );
        assert!(s.contains(r#"<label for="reason""#));
        let s = resume_form(Lang::En, "demo", "tok").into_string();
        assert!(s.contains(r#"action="/console/resume""#) && s.contains(r#"name="key""#));
    }

    #[test]
    fn the_successor_credential_is_asked_for_then_shown_once_to_copy() {
        let s = successor_card(Lang::En, "demo", "tok", None, None).into_string();
        assert!(s.contains(r#"action="/console/successor""#), "{s}");
        assert!(
            !s.contains("confirmed"),
            "the first step issues nothing: {s}"
        );
        assert!(s.contains("No successor credential"), "{s}");
        let s = successor_card(Lang::Ko, "demo", "tok", None, Some(1_796_500_000_000_000))
            .into_string();
        assert!(s.contains("<time datetime="), "{s}");
        let moved = service::handover::Moved {
            to: "https://new.example".into(),
            seq: 42,
            head_hash: String::new(),
            state_hash: String::new(),
            at_us: 0,
        };
        let s = successor_card(Lang::En, "demo", "tok", Some(&moved), None).into_string();
        assert!(s.contains("https://new.example") && s.contains("42"), "{s}");
        assert!(!s.contains("<form"), "nothing to issue once moved: {s}");
        let s = credential_page(Lang::En, "demo", "mhs_abc").into_string();
        assert!(s.contains("mhs_abc") && s.contains("data-copy"), "{s}");
        assert!(s.contains("not shown again"), "{s}");
    }
}

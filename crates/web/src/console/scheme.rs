//! The console's scheme (`GET /console/scheme`): the scheme's versions as a timeline
//! (`service::operator::scheme::scheme_versions`: in force, superseded or pending) with
//! a button to withdraw a pending one (`POST /console/scheme/withdraw`, confirmed
//! first; `withdraw_scheme`), and an editor (`POST /console/scheme`) that starts from
//! the file of the version in force (`scheme_in_force`). Its "check" runs the check
//! `maeul scheme check` runs (`check_scheme`: every problem with its line); "save"
//! checks first and only then sets the version (`set_scheme`, under an idempotency key
//! drawn into the form), from an optional time typed in Korea time
//! (`effective_at_from_kst`). Whatever goes wrong, the text typed comes back in the
//! editor.

use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::header::LOCATION;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use service::operator::scheme::{
    self, SchemeCheck, SchemeText, SchemeUpdate, SchemeVersionView, check_scheme,
    effective_at_from_kst,
};
use service::{Caller, Role, ServiceError};

use super::{Confirm, Tab, fresh_key, tabs};
use crate::account::{see_other, words};
use crate::audit::{chosen_currency, console_form, currency_switch, error_page, staff};
use crate::i18n::{Lang, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::CSRF_FIELD;
use crate::time::Kst;
use crate::{Pages, private_response};

const PATH: &str = "/console/scheme";
const WITHDRAW_PATH: &str = "/console/scheme/withdraw";

pub fn routes() -> Router<Pages> {
    Router::new()
        .route(PATH, get(scheme_page).post(edit))
        .route(WITHDRAW_PATH, post(withdraw))
}

/// The scheme page's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S {
    Title,
    Lead,
    TimelineTitle,
    NoVersions,
    Version,
    EffectiveFrom,
    SetAt,
    SetBy,
    InForce,
    Superseded,
    Pending,
    Withdraw,
    EditorTitle,
    EditorLead,
    FileLabel,
    FileHint,
    EffectiveLabel,
    EffectiveHint,
    Check,
    Save,
    Valid,
    Problems,
    Line,
    FailedTitle,
    Saved,
    Withdrawn,
    ConfirmWithdrawTitle,
    ConfirmWithdrawText,
    WithdrawNow,
    Cancel,
}

impl Words for S {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            S::Title => ("제도 설정", "Scheme"),
            S::Lead => (
                "할인율, 캐시백, 한도 같은 제도 규칙은 버전으로 기록됩니다. 새 버전은 정한 시각부터 적용되고, 지난 버전도 계속 읽을 수 있습니다.",
                "The scheme's rules (discounts, cash-back, limits...) are kept as versions. A new version applies from the time you set; earlier ones stay readable.",
            ),
            S::TimelineTitle => ("버전 기록", "Versions"),
            S::NoVersions => (
                "아직 설정된 제도가 없습니다.",
                "No scheme has been set yet.",
            ),
            S::Version => ("버전", "Version"),
            S::EffectiveFrom => ("적용 시작", "In force from"),
            S::SetAt => ("설정 시각", "Set at"),
            S::SetBy => ("설정한 사람", "Set by"),
            S::InForce => ("적용 중", "In force"),
            S::Superseded => ("지난 버전", "Superseded"),
            S::Pending => ("적용 예정", "Pending"),
            S::Withdraw => ("철회…", "Withdraw…"),
            S::EditorTitle => ("새 버전", "New version"),
            S::EditorLead => (
                "지금 적용 중인 버전의 설정 파일(TOML)에서 시작합니다. 바꾼 뒤 '검사'로 확인하고 '저장'하세요. 저장할 때도 먼저 검사합니다.",
                "This starts from the file (TOML) of the version in force. Change it, check it, then save: saving checks it first too.",
            ),
            S::FileLabel => ("제도 설정 파일 (TOML)", "Scheme file (TOML)"),
            S::FileHint => (
                "maeul scheme check 와 같은 검사를 합니다. 원래 파일의 주석은 장부에 남지 않아 보이지 않습니다.",
                "Checked exactly as maeul scheme check does. The original file's comments are not kept in the journal, so they are not shown.",
            ),
            S::EffectiveLabel => (
                "적용 시각 (한국 시간, 선택)",
                "In force from (Korea time, optional)",
            ),
            S::EffectiveHint => (
                "비워 두면 저장하는 즉시 적용됩니다. 1년 이내로 정할 수 있습니다.",
                "Leave it empty to apply it as soon as it is saved. At most a year ahead.",
            ),
            S::Check => ("검사", "Check"),
            S::Save => ("저장", "Save"),
            S::Valid => (
                "문제가 없습니다. 이 파일은 다음을 정합니다:",
                "No problems. This file sets:",
            ),
            S::Problems => (
                "다음 문제를 고쳐 주세요 (저장하지 않았습니다):",
                "Please fix these problems (nothing was saved):",
            ),
            S::Line => ("줄", "line"),
            S::FailedTitle => ("저장하지 못했습니다", "This could not be saved"),
            S::Saved => ("새 버전을 저장했습니다.", "The new version was saved."),
            S::Withdrawn => ("버전을 철회했습니다.", "The version was withdrawn."),
            S::ConfirmWithdrawTitle => ("이 버전을 철회할까요?", "Withdraw this version?"),
            S::ConfirmWithdrawText => (
                "철회한 버전은 적용되지 않습니다. 기록은 장부에 남습니다.",
                "A withdrawn version never comes into force. The journal keeps the record.",
            ),
            S::WithdrawNow => ("지금 철회", "Withdraw now"),
            S::Cancel => ("취소", "Cancel"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct SchemeQuery {
    currency: Option<String>,
    saved: Option<u32>,
    withdrawn: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct EditForm {
    csrf: Option<String>,
    currency: Option<String>,
    toml: Option<String>,
    effective_at: Option<String>,
    /// `check` or `save`.
    action: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WithdrawForm {
    csrf: Option<String>,
    currency: Option<String>,
    version: Option<u32>,
    confirmed: Option<String>,
    key: Option<String>,
}

/// What the editor shows: the text (as typed, or the version in force's), the time
/// typed, and what a check or a save found.
#[derive(Debug, Default)]
struct Editor<'a> {
    toml: &'a str,
    effective_at: &'a str,
    check: Option<&'a SchemeCheck>,
    error: Option<&'a ServiceError>,
}

/// A notice on the page after a redirect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Saved(u32),
    Withdrawn(u32),
}

async fn scheme_page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<SchemeQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let session = match staff(&pages, &parts, &[Role::Operator], PATH, Nav::Console) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let code = chosen_currency(caller, query.currency.as_deref()).unwrap_or_default();
    let (versions, in_force) = match versions_and_file(&pages, caller, &code) {
        Ok(v) => v,
        Err(e) => return error_page(prefs, PATH, Nav::Console, &e),
    };
    let done = query
        .saved
        .map(Done::Saved)
        .or(query.withdrawn.map(Done::Withdrawn))
        .filter(|d| match d {
            // A withdrawn version leaves the list (its number may be used again).
            Done::Saved(n) => versions.iter().any(|v| v.version == *n),
            Done::Withdrawn(n) => versions.last().is_none_or(|v| v.version < *n),
        });
    let editor = Editor {
        toml: in_force.as_ref().map_or("", |t| t.toml.as_str()),
        ..Editor::default()
    };
    let csrf = pages.csrf.for_session(&session.token);
    let body = scheme_body(prefs.lang, caller, &code, &versions, &csrf, &editor, done);
    private_response(page(
        prefs,
        PATH,
        Nav::Console,
        prefs.lang.t(S::Title),
        body,
    ))
}

fn versions_and_file(
    pages: &Pages,
    caller: &Caller,
    code: &str,
) -> Result<(Vec<SchemeVersionView>, Option<SchemeText>), ServiceError> {
    let versions = scheme::scheme_versions(&pages.service, caller, code)?;
    let in_force = scheme::scheme_in_force(&pages.service, caller, code)?;
    Ok((versions, in_force))
}

fn state_words(state: &str) -> S {
    match state {
        "in_force" => S::InForce,
        "pending" => S::Pending,
        _ => S::Superseded,
    }
}

fn when(us: u64) -> Markup {
    let k = Kst::from_ms(us / 1000);
    html! { time datetime=(k.rfc3339()) { (k.display()) } }
}

fn scheme_body(
    lang: Lang,
    caller: &Caller,
    code: &str,
    versions: &[SchemeVersionView],
    csrf: &str,
    editor: &Editor<'_>,
    done: Option<Done>,
) -> Markup {
    html! {
        (tabs(lang, Tab::Scheme))
        h1 { (lang.t(S::Title)) " · " span.currency-code { (code) } }
        p.lead { (lang.t(S::Lead)) }
        (currency_switch(lang, caller, code, PATH))
        @match done {
            Some(Done::Saved(n)) => {
                div.alert.alert-ok #scheme-done role="status" data-saved=(n) {
                    p { (lang.t(S::Saved)) " (" (lang.t(S::Version)) " " (n) ")" }
                }
            }
            Some(Done::Withdrawn(n)) => {
                div.alert.alert-ok #scheme-done role="status" data-withdrawn=(n) {
                    p { (lang.t(S::Withdrawn)) " (" (lang.t(S::Version)) " " (n) ")" }
                }
            }
            None => {}
        }
        section.card aria-labelledby="timeline-title" {
            h2 #timeline-title { (lang.t(S::TimelineTitle)) }
            (timeline(lang, code, versions, csrf))
        }
        (editor_form(lang, code, csrf, editor))
    }
}

fn timeline(lang: Lang, code: &str, versions: &[SchemeVersionView], csrf: &str) -> Markup {
    // Only the latest version can be withdrawn, and only before it is in force.
    let withdrawable = versions
        .last()
        .filter(|v| v.state == "pending")
        .map(|v| v.version);
    html! {
        @if versions.is_empty() {
            p { (lang.t(S::NoVersions)) }
        } @else {
            ol.scheme-timeline #scheme-timeline {
                @for v in versions.iter().rev() {
                    li.scheme-version data-version=(v.version) data-state=(v.state) {
                        h3 {
                            (lang.t(S::Version)) " " (v.version) " · " span.scheme-name { (v.name) }
                        }
                        p {
                            span.badge.scheme-state data-state=(v.state) { (lang.t(state_words(&v.state))) }
                        }
                        dl.facts {
                            div { dt { (lang.t(S::EffectiveFrom)) } dd { (when(v.effective_at)) } }
                            div { dt { (lang.t(S::SetAt)) } dd { (when(v.set_at)) } }
                            div { dt { (lang.t(S::SetBy)) } dd { (v.operator) } }
                        }
                        @if withdrawable == Some(v.version) {
                            form method="post" action=(WITHDRAW_PATH) {
                                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                                input type="hidden" name="currency" value=(code);
                                input type="hidden" name="version" value=(v.version);
                                button.button.secondary type="submit" aria-label={ (lang.t(S::Withdraw)) " " (lang.t(S::Version)) " " (v.version) } {
                                    (lang.t(S::Withdraw))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn editor_form(lang: Lang, code: &str, csrf: &str, editor: &Editor<'_>) -> Markup {
    let problems = editor.check.filter(|c| !c.valid());
    let invalid = problems.is_some() || editor.error.is_some();
    let described = match (invalid, problems.is_some()) {
        (true, true) => "scheme-file-hint scheme-problems",
        (true, false) => "scheme-file-hint scheme-error",
        _ => "scheme-file-hint",
    };
    html! {
        section.card #scheme-editor aria-labelledby="editor-title" {
            h2 #editor-title { (lang.t(S::EditorTitle)) }
            p { (lang.t(S::EditorLead)) }
            @if let Some(e) = editor.error {
                div.alert.alert-error #scheme-error role="alert" data-code=(e.code) {
                    h3 { (lang.t(S::FailedTitle)) }
                    p { (words(lang, e)) }
                    @if let Some(d) = e.detail_text() {
                        p.meta { (d) }
                    }
                }
            }
            @if let Some(c) = editor.check {
                @if c.valid() {
                    div.alert.alert-ok #scheme-valid role="status" {
                        p { (lang.t(S::Valid)) }
                        dl.facts.scheme-summary {
                            @for l in &c.summary {
                                div { dt { (l.label) } dd { (l.value) } }
                            }
                        }
                    }
                } @else {
                    div.alert.alert-error #scheme-problems role="alert" data-count=(c.problems.len()) {
                        p { (lang.t(S::Problems)) }
                        ul.scheme-problems {
                            @for p in &c.problems {
                                li data-field=(p.field) data-line=[p.line] {
                                    @if let Some(line) = p.line {
                                        span.scheme-line { (lang.t(S::Line)) " " (line) } " · "
                                    }
                                    code { (p.field) } ": " (p.problem)
                                }
                            }
                        }
                    }
                }
            }
            form.form.scheme-form method="post" action=(PATH) {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="currency" value=(code);
                input type="hidden" name="key" value=(fresh_key());
                div.field {
                    label for="scheme-toml" { (lang.t(S::FileLabel)) }
                    p.hint #scheme-file-hint { (lang.t(S::FileHint)) }
                    textarea #scheme-toml name="toml" rows="24" spellcheck="false" autocapitalize="off"
                        autocomplete="off" required maxlength=(scheme::SCHEME_FILE_BYTES_MAX)
                        aria-invalid=[invalid.then_some("true")] aria-describedby=(described) {
                        (editor.toml)
                    }
                }
                div.field {
                    label for="effective_at" { (lang.t(S::EffectiveLabel)) }
                    p.hint #effective-hint { (lang.t(S::EffectiveHint)) }
                    input #effective_at type="datetime-local" name="effective_at" step="60"
                        value=(editor.effective_at) aria-describedby="effective-hint";
                }
                div.halt-actions {
                    button.button.secondary #scheme-check type="submit" name="action" value="check" { (lang.t(S::Check)) }
                    " "
                    button.button #scheme-save type="submit" name="action" value="save" { (lang.t(S::Save)) }
                }
            }
        }
    }
}

/// `POST /console/scheme`: `check` shows what the check found; `save` checks, then
/// sets the version and goes back to the page (303). Any refusal shows the editor again
/// with the text as typed.
async fn edit(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<EditForm>, FormRejection>,
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
    let (versions, _) = match versions_and_file(&pages, caller, &code) {
        Ok(v) => v,
        Err(e) => return error_page(prefs, PATH, Nav::Console, &e),
    };
    let csrf = pages.csrf.for_session(&session.token);
    let toml = form.toml.unwrap_or_default();
    let typed_at = form.effective_at.unwrap_or_default();
    let check = check_scheme(&toml);
    let again = |editor: &Editor<'_>, status: StatusCode| {
        let body = scheme_body(lang, caller, &code, &versions, &csrf, editor, None);
        let mut response =
            private_response(page(prefs, PATH, Nav::Console, lang.t(S::Title), body));
        *response.status_mut() = status;
        response
    };
    let editor = Editor {
        toml: &toml,
        effective_at: &typed_at,
        check: Some(&check),
        error: None,
    };
    let effective_at = match effective_at_from_kst(&typed_at) {
        Ok(at) => at,
        Err(e) => {
            let status = e.status;
            return again(
                &Editor {
                    error: Some(&e),
                    ..editor
                },
                status,
            );
        }
    };
    if form.action.as_deref() != Some("save") {
        return again(&editor, StatusCode::OK);
    }
    if !check.valid() {
        return again(&editor, StatusCode::BAD_REQUEST);
    }
    let update = SchemeUpdate {
        toml: toml.clone(),
        effective_at,
    };
    match scheme::set_scheme(&pages.service, caller, form.key.as_deref(), &code, update).await {
        Ok(a) => see_other_done(&code, Done::Saved(a.value.version)),
        Err(e) => {
            let status = e.status;
            again(
                &Editor {
                    check: None,
                    error: Some(&e),
                    ..editor
                },
                status,
            )
        }
    }
}

/// The confirmation step of a withdrawal.
fn confirm_withdraw_body(lang: Lang, code: &str, csrf: &str, v: &SchemeVersionView) -> Markup {
    html! {
        (tabs(lang, Tab::Scheme))
        h1 { (lang.t(S::ConfirmWithdrawTitle)) " · " span.currency-code { (code) } }
        div.alert.alert-warn role="alert" { p { (lang.t(S::ConfirmWithdrawText)) } }
        section.card aria-labelledby="confirm-withdraw-title" {
            h2 #confirm-withdraw-title { (lang.t(S::Version)) " " (v.version) " · " (v.name) }
            dl.facts {
                div { dt { (lang.t(S::EffectiveFrom)) } dd { (when(v.effective_at)) } }
                div { dt { (lang.t(S::SetBy)) } dd { (v.operator) } }
            }
        }
        (Confirm {
            action: WITHDRAW_PATH,
            csrf,
            currency: code,
            fields: &[("version", v.version.to_string())],
            yes: lang.t(S::WithdrawNow),
            yes_id: Some("withdraw-now"),
            back: PATH,
            no: lang.t(S::Cancel),
        }
        .form())
    }
}

/// `POST /console/scheme/withdraw`: without `confirmed=yes`, the confirmation; with it,
/// withdraws and goes back to the page (303).
async fn withdraw(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<WithdrawForm>, FormRejection>,
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
    let versions = match scheme::scheme_versions(&pages.service, caller, &code) {
        Ok(v) => v,
        Err(e) => return error_page(prefs, PATH, Nav::Console, &e),
    };
    let Some(v) = form
        .version
        .and_then(|n| versions.iter().find(|v| v.version == n))
    else {
        return error_page(
            prefs,
            PATH,
            Nav::Console,
            &ServiceError::not_found("scheme version"),
        );
    };
    if form.confirmed.as_deref() != Some("yes") {
        let csrf = pages.csrf.for_session(&session.token);
        let body = confirm_withdraw_body(lang, &code, &csrf, v);
        return private_response(page(
            prefs,
            PATH,
            Nav::Console,
            lang.t(S::ConfirmWithdrawTitle),
            body,
        ));
    }
    match scheme::withdraw_scheme(
        &pages.service,
        caller,
        form.key.as_deref(),
        &code,
        v.version,
    )
    .await
    {
        Ok(_) => see_other_done(&code, Done::Withdrawn(v.version)),
        Err(e) => error_page(prefs, PATH, Nav::Console, &e),
    }
}

/// 303 back to the page, saying what was done (a code the caller may run: letters,
/// digits, `-` and `_`, checked again so the header is always valid).
fn see_other_done(code: &str, done: Done) -> Response {
    let safe = code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !safe {
        return see_other(PATH);
    }
    let to = match done {
        Done::Saved(n) => format!("{PATH}?currency={code}&saved={n}"),
        Done::Withdrawn(n) => format!("{PATH}?currency={code}&withdrawn={n}"),
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&to) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::audit::tests::{app_with, assert_operators_only};

    const BUSAN: &str = include_str!("../../../../schemes/busan-like.toml");

    fn caller() -> Caller {
        Caller {
            user_id: 1,
            role: Role::Operator,
            account: None,
            currency: "demo".into(),
            currencies: vec!["demo".into()],
            session: [0; 32],
        }
    }

    fn version(n: u32, state: &str) -> SchemeVersionView {
        SchemeVersionView {
            version: n,
            name: format!("<i>v{n}</i>"),
            effective_at: 1_773_104_400_000_000,
            set_at: 1_773_000_000_000_000,
            operator: "user 3".into(),
            state: state.into(),
        }
    }

    #[tokio::test]
    async fn the_scheme_page_is_an_operators() {
        assert_operators_only(PATH, &[Role::Auditor]).await;
    }

    #[tokio::test]
    async fn saving_and_withdrawing_need_the_form_token() {
        let (app, cookie) = app_with(Role::Operator).await;
        for (path, body) in [
            (PATH, "currency=demo&toml=x&action=save&key=k"),
            (WITHDRAW_PATH, "currency=demo&version=2&confirmed=yes&key=k"),
        ] {
            let req = Request::post(path)
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap();
            let response = app.clone().oneshot(req).await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        }
    }

    #[test]
    fn the_timeline_is_newest_first_and_only_a_pending_version_can_be_withdrawn() {
        let versions = [
            version(1, "superseded"),
            version(2, "in_force"),
            version(3, "pending"),
            version(4, "pending"),
        ];
        let s = scheme_body(
            Lang::En,
            &caller(),
            "demo",
            &versions,
            "tok",
            &Editor::default(),
            Some(Done::Saved(3)),
        )
        .into_string();
        let at = |n: u32| s.find(&format!(r#"data-version="{n}""#)).unwrap();
        assert!(at(4) < at(3) && at(3) < at(2) && at(2) < at(1), "{s}");
        assert!(s.contains("&lt;i&gt;v2"), "escaped: {s}");
        assert_eq!(s.matches(r#"action="/console/scheme/withdraw""#).count(), 1);
        assert!(
            s.contains(r#"name="version" value="4""#),
            "the latest only: {s}"
        );
        assert!(s.contains(">Pending<") && s.contains(">In force<") && s.contains(">Superseded<"));
        assert!(s.contains("2026-03-10 10:00:00"), "in Korea time: {s}");
        assert!(s.contains(r#"data-saved="3""#), "{s}");
    }

    #[test]
    fn the_editor_keeps_the_text_and_shows_every_problem_with_its_line() {
        let broken = BUSAN
            .replace("validity_days = 1826", "validity_days = 0")
            .replace("name = \"부산형", "name = \"<script>부산형");
        let check = check_scheme(&broken);
        let editor = Editor {
            toml: &broken,
            effective_at: "2026-03-11T10:00",
            check: Some(&check),
            error: None,
        };
        let s = editor_form(Lang::Ko, "demo", "tok", &editor).into_string();
        assert!(s.contains(r#"data-count="2""#), "{s}");
        assert!(s.contains(r#"data-field="purchase.validity_days""#), "{s}");
        assert!(s.contains(r#"data-field="cashback.validity_days""#), "{s}");
        assert!(s.contains("줄 "), "{s}");
        assert!(s.contains("&lt;script&gt;부산형"), "the text, escaped: {s}");
        assert!(s.contains("validity_days = 0"), "{s}");
        assert!(s.contains(r#"value="2026-03-11T10:00""#), "{s}");
        assert!(s.contains(r#"aria-invalid="true""#));
        assert!(s.contains(r#"name="key" value="page-"#));
        assert!(s.contains(r#"name="action" value="check""#));
        assert!(s.contains(r#"name="action" value="save""#));
        // A valid file: its summary, nothing marked invalid.
        let check = check_scheme(BUSAN);
        let editor = Editor {
            toml: BUSAN,
            check: Some(&check),
            ..Editor::default()
        };
        let s = editor_form(Lang::En, "demo", "tok", &editor).into_string();
        assert!(s.contains(r#"id="scheme-valid""#), "{s}");
        assert!(s.contains("cash-back caps"), "{s}");
        assert!(!s.contains("aria-invalid"), "{s}");
        // A refusal from the service keeps the text too.
        let e = effective_at_from_kst("tomorrow").unwrap_err();
        let editor = Editor {
            toml: "name = \"kept\"",
            effective_at: "tomorrow",
            check: None,
            error: Some(&e),
        };
        let s = editor_form(Lang::En, "demo", "tok", &editor).into_string();
        assert!(s.contains(r#"data-code="scheme_effective_invalid""#), "{s}");
        assert!(s.contains("name = &quot;kept&quot;"), "{s}");
    }

    #[test]
    fn withdrawing_asks_first_with_a_key() {
        let s =
            confirm_withdraw_body(Lang::En, "demo", "tok", &version(3, "pending")).into_string();
        assert!(s.contains(r#"name="confirmed" value="yes""#), "{s}");
        assert!(s.contains(r#"name="version" value="3""#), "{s}");
        assert!(s.contains(r#"name="key" value="page-"#), "{s}");
    }

    #[test]
    fn the_way_back_says_what_was_done() {
        let r = see_other_done("demo", Done::Saved(4));
        assert_eq!(
            r.headers()[LOCATION],
            "/console/scheme?currency=demo&saved=4"
        );
        let r = see_other_done("demo", Done::Withdrawn(4));
        assert_eq!(
            r.headers()[LOCATION],
            "/console/scheme?currency=demo&withdrawn=4"
        );
    }
}

//! The pages of an auditor's desk (under `/audit`): the journal verified from genesis in
//! the background with its progress, the totals by account kind with their zero sum, the
//! state hash and the journal's head.
//!
//! Everything comes from `service::auditor` (`desk`, `start_verification`,
//! `verification`); this only renders it. The verification runs in the service, not in
//! the request: the page polls a fragment (htmx, every second) while it runs; without
//! JavaScript a reload shows the same.
//!
//! Also the helpers the other staff desks share (the console's): who may see a page,
//! which currency it is about, the form token check, error pages.

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
use service::auditor::{Desk, Verification};
use service::{Caller, Role, ServiceError};

use crate::account::{refused, see_other, words};
use crate::assets;
use crate::i18n::{Lang, M, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::{CSRF_FIELD, SignedIn, signed_in};
use crate::time::Kst;
use crate::wallet::won;
use crate::{Pages, private_response};

/// The routes of the auditor's pages.
pub fn routes() -> Router<Pages> {
    Router::new()
        .route("/audit", get(desk_page))
        .route("/audit/verify", post(verify))
        .route("/audit/verify/progress", get(progress))
}

/// The auditor's desk's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum A {
    Title,
    Lead,
    OnlyStaffTitle,
    OnlyStaffText,
    VerifyTitle,
    VerifyLead,
    VerifyButton,
    VerifyAgainButton,
    NotVerified,
    Running,
    RecordsChecked,
    ProgressLabel,
    ResultOk,
    ResultBad,
    FinishedAt,
    LastRecordHash,
    FullReport,
    TotalsTitle,
    TotalsCaption,
    Kind,
    Accounts,
    Balance,
    Sum,
    SumZero,
    SumNotZero,
    HashesTitle,
    StateHash,
    HeadRecord,
    HeadHash,
    Copy,
    Copied,
    Currency,
    KindIssuerReserve,
    KindCitizenWallet,
    KindMerchant,
    KindSubsidyBudget,
    KindSettlementClearing,
    KindFees,
}

impl Words for A {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            A::Title => ("감사 데스크", "Auditor's desk"),
            A::Lead => (
                "장부 기록을 처음부터 다시 계산해 확인하고, 계정 종류별 잔액과 그 합계(언제나 0)를 봅니다.",
                "Re-run the journal from its first record to check it, and see the balances by account kind with their sum (always 0).",
            ),
            A::OnlyStaffTitle => (
                "감사인과 운영자만 볼 수 있습니다",
                "For auditors and operators only",
            ),
            A::OnlyStaffText => (
                "이 페이지는 감사인과 운영자 계정으로 로그인해야 볼 수 있습니다.",
                "Sign in with an auditor's or an operator's account to see this page.",
            ),
            A::VerifyTitle => ("장부 검증", "Journal verification"),
            A::VerifyLead => (
                "이 서버의 프로그램으로 기록 전체를 처음부터 다시 실행해, 같은 결과와 같은 해시가 나오는지 확인합니다. 결제는 멈추지 않습니다.",
                "Re-executes every record from the first with this server's build and checks it gives the same outcomes and hashes. Payments go on meanwhile.",
            ),
            A::VerifyButton => ("검증 시작", "Verify the journal"),
            A::VerifyAgainButton => ("다시 검증", "Verify again"),
            A::NotVerified => (
                "서버가 시작된 뒤 아직 검증하지 않았습니다.",
                "Not verified since the server started.",
            ),
            A::Running => ("검증 중입니다…", "Verifying…"),
            A::RecordsChecked => ("확인한 기록", "Records checked"),
            A::ProgressLabel => ("검증 진행률", "Verification progress"),
            A::ResultOk => (
                "이상 없음: 기록이 온전하고, 다시 계산한 결과와 해시가 모두 같으며, 모든 불변식이 성립합니다.",
                "All good: the journal is intact, re-running it gives the same outcomes and hashes, and every invariant holds.",
            ),
            A::ResultBad => (
                "문제 발견: 아래 보고서를 확인하고 운영자에게 알리세요.",
                "Problem found: read the report below and tell the operator.",
            ),
            A::FinishedAt => ("마친 시각", "Finished at"),
            A::LastRecordHash => ("마지막 기록의 체인 해시", "Chain hash of the last record"),
            A::FullReport => ("전체 보고서", "Full report"),
            A::TotalsTitle => ("계정 종류별 잔액", "Balances by account kind"),
            A::TotalsCaption => (
                "지금 장부의 계정 종류별 계정 수와 잔액 합계",
                "Accounts and their balance, by kind, in the ledger now",
            ),
            A::Kind => ("계정 종류", "Account kind"),
            A::Accounts => ("계정 수", "Accounts"),
            A::Balance => ("잔액", "Balance"),
            A::Sum => ("합계", "Sum"),
            A::SumZero => (
                "합계가 0원입니다: 모든 돈이 어딘가에 있습니다(복식부기).",
                "The sum is ₩0: every won is somewhere (double entry).",
            ),
            A::SumNotZero => (
                "합계가 0원이 아닙니다: 장부에 문제가 있습니다. 운영자에게 알리세요.",
                "The sum is not ₩0: the ledger is wrong. Tell the operator.",
            ),
            A::HashesTitle => ("상태 해시와 기록 끝", "State hash and journal head"),
            A::StateHash => ("상태 해시", "State hash"),
            A::HeadRecord => ("마지막 기록 번호", "Last durable record"),
            A::HeadHash => ("마지막 기록의 체인 해시", "Its chain hash"),
            A::Copy => ("복사", "Copy"),
            A::Copied => ("복사했습니다", "Copied"),
            A::Currency => ("화폐", "Currency"),
            A::KindIssuerReserve => ("발행 준비금", "Issuer reserve"),
            A::KindCitizenWallet => ("시민 지갑", "Citizens' wallets"),
            A::KindMerchant => ("가맹점", "Merchants"),
            A::KindSubsidyBudget => ("보조금 예산", "Subsidy budgets"),
            A::KindSettlementClearing => ("정산 대기", "Settlement clearing"),
            A::KindFees => ("수수료", "Fees"),
        }
    }
}

/// An account kind in words (the code itself if it is new).
pub fn kind_label(lang: Lang, kind: &str) -> &str {
    let a = match kind {
        "issuer_reserve" => A::KindIssuerReserve,
        "citizen_wallet" => A::KindCitizenWallet,
        "merchant" => A::KindMerchant,
        "subsidy_budget" => A::KindSubsidyBudget,
        "settlement_clearing" => A::KindSettlementClearing,
        "fees" => A::KindFees,
        other => return other,
    };
    lang.t(a)
}

/// Which page a staff member asked for.
#[derive(Debug, Default, Deserialize)]
pub struct CurrencyQuery {
    pub currency: Option<String>,
}

/// The currency a staff page is about: the one asked for if the caller may run it, else
/// their own, else the first they may run.
pub fn chosen_currency(caller: &Caller, asked: Option<&str>) -> Option<String> {
    if let Some(c) = asked.filter(|c| caller.may_run(c)) {
        return Some(c.to_owned());
    }
    if caller.may_run(&caller.currency) {
        return Some(caller.currency.clone());
    }
    caller.currencies.first().cloned()
}

/// The currency a staff form acts on: as [`chosen_currency`], except that a form naming
/// a currency the caller may not run is refused (`None`), never quietly turned into
/// another currency (an action must be on what the person saw and asked for).
pub fn posted_currency(caller: &Caller, asked: Option<&str>) -> Option<String> {
    match asked {
        Some(c) if !caller.may_run(c) => None,
        _ => chosen_currency(caller, asked),
    }
}

/// A staff page's gate: signed in (else to the sign-in page) with one of `roles` (else
/// 403).
#[allow(clippy::result_large_err)]
pub fn staff(
    pages: &Pages,
    parts: &Parts,
    roles: &[Role],
    here: &str,
    nav: Nav,
) -> Result<SignedIn, Response> {
    let prefs = Prefs::from_headers(&parts.headers);
    let Some(session) = signed_in(&pages.service, &parts.headers) else {
        return Err(see_other("/sign-in"));
    };
    if !roles.contains(&session.caller.role) {
        let lang = prefs.lang;
        let body = html! {
            h1 { (lang.t(A::OnlyStaffTitle)) }
            p { (lang.t(A::OnlyStaffText)) }
            p { a href="/" { (lang.t(M::GoHome)) } }
        };
        let mut response =
            private_response(page(prefs, here, nav, lang.t(A::OnlyStaffTitle), body));
        *response.status_mut() = StatusCode::FORBIDDEN;
        return Err(response);
    }
    Ok(session)
}

/// A signed-in form's token and origin check: `Err` is the 403 page.
#[allow(clippy::result_large_err)]
pub fn check_form(
    pages: &Pages,
    parts: &Parts,
    session: &SignedIn,
    given: Option<&str>,
) -> Result<(), Response> {
    if !pages.form_allowed(parts, session, given) {
        return Err(refused(Prefs::from_headers(&parts.headers)));
    }
    Ok(())
}

/// An operator's console form: signed in as an operator (else to sign-in, or 403), the
/// form's token and origin right (else 403), and the currency it names one they run
/// ([`posted_currency`], else 403). The session and the currency's code.
#[allow(clippy::result_large_err)]
pub fn console_form(
    pages: &Pages,
    parts: &Parts,
    path: &'static str,
    csrf: Option<&str>,
    currency: Option<&str>,
) -> Result<(SignedIn, String), Response> {
    let session = staff(pages, parts, &[Role::Operator], path, Nav::Console)?;
    check_form(pages, parts, &session, csrf)?;
    let Some(code) = posted_currency(&session.caller, currency) else {
        let prefs = Prefs::from_headers(&parts.headers);
        return Err(error_page(
            prefs,
            path,
            Nav::Console,
            &ServiceError::forbidden(),
        ));
    };
    Ok((session, code))
}

/// Whether the request is htmx's (it wants a fragment, not a page).
pub fn from_htmx(parts: &Parts) -> bool {
    parts.headers.contains_key("hx-request")
}

/// 303 to `path` with `?currency=code` (a code the caller may run: letters, digits, `-`
/// and `_`, checked again here so the header is always valid).
pub fn see_other_currency(path: &'static str, code: &str) -> Response {
    let safe = code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !safe {
        return see_other(path);
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{path}?currency={code}")) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// A service error as a page (its status, its words, what to do).
pub fn error_page(prefs: Prefs, here: &str, nav: Nav, e: &ServiceError) -> Response {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(M::ErrorTitle)) }
        div.alert.alert-error role="alert" data-code=(e.code) {
            p { (words(lang, e)) }
        }
        p { a href="/" { (lang.t(M::GoHome)) } }
    };
    let mut response = private_response(page(prefs, here, nav, lang.t(M::ErrorTitle), body));
    *response.status_mut() = e.status;
    response
}

/// A service error as an htmx fragment.
pub fn error_fragment(lang: Lang, e: &ServiceError) -> Response {
    let markup = html! {
        div.alert.alert-error role="alert" data-code=(e.code) {
            p { (words(lang, e)) }
        }
    };
    // 200, so htmx swaps it in where the answer was expected.
    private_response(markup)
}

/// A value to copy: monospace, wrapped anywhere on a phone, with a copy button that
/// appears with JavaScript (`copy.js`).
pub fn copyable(lang: Lang, id: &str, value: &str) -> Markup {
    html! {
        span.copyable {
            code.hash #(id) { (value) }
            button.button.secondary.copy type="button" hidden data-copy=(id) data-copied=(lang.t(A::Copied)) aria-describedby=(id) {
                (lang.t(A::Copy))
            }
        }
    }
}

/// The script of the copy buttons (a file: the policy forbids inline scripts).
pub fn copy_script() -> Markup {
    html! { script src=(assets::url("copy.js")) defer {} }
}

/// The currencies a staff member may run, as links (only when more than one).
pub fn currency_switch(lang: Lang, caller: &Caller, current: &str, path: &str) -> Markup {
    html! {
        @if caller.currencies.len() > 1 {
            nav.currency-switch aria-label=(lang.t(A::Currency)) {
                ul {
                    @for c in &caller.currencies {
                        li { a href={(path) "?currency=" (c)} aria-current=[(c == current).then_some("page")] { (c) } }
                    }
                }
            }
        }
    }
}

/// `GET /audit`: the desk.
async fn desk_page(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<CurrencyQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match staff(
        &pages,
        &parts,
        &[Role::Auditor, Role::Operator],
        "/audit",
        Nav::Audit,
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let asked = query.as_ref().ok().and_then(|q| q.currency.as_deref());
    let Some(code) = chosen_currency(caller, asked) else {
        return error_page(prefs, "/audit", Nav::Audit, &ServiceError::forbidden());
    };
    let desk = match service::auditor::desk(&pages.service, caller, &code).await {
        Ok(d) => d,
        Err(e) => return error_page(prefs, "/audit", Nav::Audit, &e),
    };
    let csrf = pages.csrf.for_session(&session.token);
    let body = desk_body(lang, caller, &desk, &csrf);
    private_response(page(prefs, "/audit", Nav::Audit, lang.t(A::Title), body))
}

fn desk_body(lang: Lang, caller: &Caller, desk: &Desk, csrf: &str) -> Markup {
    let t = &desk.totals;
    html! {
        h1 { (lang.t(A::Title)) " · " span.currency-code { (desk.currency) } }
        p.lead { (lang.t(A::Lead)) }
        (currency_switch(lang, caller, &desk.currency, "/audit"))
        section.card aria-labelledby="verify-title" {
            h2 #verify-title { (lang.t(A::VerifyTitle)) }
            p { (lang.t(A::VerifyLead)) }
            div #verify-live aria-live="polite" {
                (verification_fragment(lang, &desk.currency, desk.verification.as_ref(), csrf))
            }
        }
        section aria-labelledby="totals-title" {
            h2 #totals-title { (lang.t(A::TotalsTitle)) }
            div.table-wrap {
                table.totals {
                    caption { (lang.t(A::TotalsCaption)) }
                    thead { tr {
                        th scope="col" { (lang.t(A::Kind)) }
                        th scope="col" .num { (lang.t(A::Accounts)) }
                        th scope="col" .num { (lang.t(A::Balance)) }
                    } }
                    tbody {
                        @for k in &t.by_account_kind {
                            tr data-kind=(k.kind) {
                                th scope="row" { (kind_label(lang, &k.kind)) }
                                td.num { (k.accounts) }
                                td.num data-amount=(k.balance) { (won(lang, k.balance)) }
                            }
                        }
                    }
                    tfoot {
                        tr {
                            th scope="row" colspan="2" { (lang.t(A::Sum)) }
                            td.num #totals-sum data-amount=(t.sum) { (won(lang, t.sum)) }
                        }
                    }
                }
            }
            @if t.sum == 0 {
                p.zero-sum.ok { "✓ " (lang.t(A::SumZero)) }
            } @else {
                p.zero-sum.bad role="alert" { "✗ " (lang.t(A::SumNotZero)) }
            }
        }
        section aria-labelledby="hashes-title" {
            h2 #hashes-title { (lang.t(A::HashesTitle)) }
            dl.hashes {
                div {
                    dt { (lang.t(A::StateHash)) }
                    dd { (copyable(lang, "state-hash", &t.state_hash)) }
                }
                div {
                    dt { (lang.t(A::HeadRecord)) }
                    dd #head-seq data-seq=(desk.head_seq) { (desk.head_seq) }
                }
                div {
                    dt { (lang.t(A::HeadHash)) }
                    dd { (copyable(lang, "head-hash", &desk.head_hash)) }
                }
            }
        }
        (copy_script())
    }
}

/// The verification's state: the button, the progress while it runs (polled), the
/// result when it ended.
fn verification_fragment(lang: Lang, code: &str, v: Option<&Verification>, csrf: &str) -> Markup {
    let running = v.is_some_and(|v| v.running);
    let poll = format!("/audit/verify/progress?currency={code}");
    html! {
        div #verify-progress
            data-state=(match v { None => "none", Some(v) if v.running => "running", Some(v) if v.answer.as_ref().is_some_and(|a| a.ok) => "ok", Some(_) => "bad" })
            hx-get=[running.then_some(&poll)]
            hx-trigger=[running.then_some("every 1s")]
            hx-swap=[running.then_some("outerHTML")] {
            @match v {
                None => p { (lang.t(A::NotVerified)) },
                Some(v) => {
                    @if v.running {
                        p.state.state-degraded { (lang.t(A::Running)) }
                    } @else if let Some(a) = &v.answer {
                        @if a.ok {
                            p.state.state-running #verify-result { "✓ " (lang.t(A::ResultOk)) }
                        } @else {
                            p.state.state-halted #verify-result { "✗ " (lang.t(A::ResultBad)) }
                        }
                    }
                    @let total = v.total.max(v.checked);
                    dl.verify-numbers {
                        div {
                            dt { (lang.t(A::RecordsChecked)) }
                            dd #verify-checked data-checked=(v.checked) data-total=(total) {
                                (grouped(v.checked)) " / " (grouped(total))
                            }
                        }
                        @if let Some(at) = v.finished_at {
                            @let k = Kst::from_ms(at / 1000);
                            div {
                                dt { (lang.t(A::FinishedAt)) }
                                dd { time datetime=(k.rfc3339()) { (k.display()) } }
                            }
                        }
                        @if let Some(h) = &v.chain_hash {
                            div {
                                dt { (lang.t(A::LastRecordHash)) }
                                dd { code.hash #verify-chain-hash { (h) } }
                            }
                        }
                    }
                    progress.verify-bar max=(total.max(1)) value=(if v.running { v.checked } else { total.max(1) }) aria-label=(lang.t(A::ProgressLabel)) {}
                    @if let Some(a) = &v.answer {
                        details.report {
                            summary { (lang.t(A::FullReport)) }
                            // Focusable: it scrolls, and a keyboard must reach it.
                            pre tabindex="0" { (a.report) }
                        }
                    }
                }
            }
            @if !running {
                form.verify-form method="post" action="/audit/verify" hx-post="/audit/verify" hx-target="#verify-live" hx-swap="innerHTML" {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf);
                    input type="hidden" name="currency" value=(code);
                    button.button type="submit" #verify-start {
                        (lang.t(if v.is_some() { A::VerifyAgainButton } else { A::VerifyButton }))
                    }
                }
            }
        }
    }
}

/// Groups of three digits.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Default, Deserialize)]
struct VerifyForm {
    csrf: Option<String>,
    currency: Option<String>,
}

/// `POST /audit/verify`: starts a verification (or finds the running one); the fragment
/// for htmx, else back to the desk.
async fn verify(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<VerifyForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match staff(
        &pages,
        &parts,
        &[Role::Auditor, Role::Operator],
        "/audit",
        Nav::Audit,
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(r) = check_form(&pages, &parts, &session, form.csrf.as_deref()) {
        return r;
    }
    let caller = &session.caller;
    let Some(code) = posted_currency(caller, form.currency.as_deref()) else {
        return error_page(prefs, "/audit", Nav::Audit, &ServiceError::forbidden());
    };
    let started = service::auditor::start_verification(&pages.service, caller, &code);
    if from_htmx(&parts) {
        return match started {
            Ok(v) => {
                let csrf = pages.csrf.for_session(&session.token);
                private_response(verification_fragment(lang, &code, Some(&v), &csrf))
            }
            Err(e) => error_fragment(lang, &e),
        };
    }
    match started {
        Ok(_) => see_other_currency("/audit", &code),
        Err(e) => error_page(prefs, "/audit", Nav::Audit, &e),
    }
}

/// `GET /audit/verify/progress`: the verification's fragment (what the page polls).
async fn progress(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<CurrencyQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let session = match staff(
        &pages,
        &parts,
        &[Role::Auditor, Role::Operator],
        "/audit",
        Nav::Audit,
    ) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let caller = &session.caller;
    let asked = query.as_ref().ok().and_then(|q| q.currency.as_deref());
    let Some(code) = chosen_currency(caller, asked) else {
        return error_fragment(lang, &ServiceError::forbidden());
    };
    match service::auditor::verification(&pages.service, caller, &code) {
        Ok(v) => {
            let csrf = pages.csrf.for_session(&session.token);
            private_response(verification_fragment(lang, &code, v.as_ref(), &csrf))
        }
        Err(e) => error_fragment(lang, &e),
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
pub(crate) mod tests;

//! The console's merchants: applications waiting and every other merchant, found by
//! status and by name, 사업자등록번호 or number (`GET /console/merchants`), one
//! merchant with the moves its status allows (`GET /console/merchants/{id}`), and
//! those moves: approve, suspend, close, reopen, each with its reason
//! (`POST /console/merchants/{id}/{move}`, answered 303 back to the merchant).
//!
//! Every answer comes from `service::operator::merchants`, the use cases the API's
//! operator routes call; which moves a status allows is the service's word too.

use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use service::operator::merchants::{self as ops, ListParams, MerchantDetail, MerchantList};
use service::{Role, ServiceError};

use super::{Tab, tabs};
use crate::account::{refused, see_other, url_encode, words};
use crate::i18n::{Lang, M, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::{CSRF_FIELD, SignedIn, fresh_token, signed_in};
use crate::signed::{self, Banner};
use crate::time::Kst;
use crate::{Pages, private_response};

/// Merchants listed per page.
pub const PAGE_SIZE: u32 = 50;
/// The longest search text passed on.
const SEARCH_CHARS_MAX: usize = 100;
/// The longest reason passed on (the registry refuses longer ones with its own words).
const REASON_CHARS_MAX: usize = 1_000;

pub fn routes() -> Router<Pages> {
    Router::new()
        .route("/console/merchants", get(list))
        .route("/console/merchants/{id}", get(detail))
        .route("/console/merchants/{id}/{action}", post(act))
        .merge(super::registry::routes())
}

/// This page's fixed texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum W {
    Title,
    Lead,
    FindTitle,
    StatusLabel,
    StatusAny,
    SearchLabel,
    SearchHelp,
    FindButton,
    Caption,
    Number,
    Name,
    Address,
    Status,
    NoneFound,
    Previous,
    Next,
    BackToList,
    Brn,
    BrnUnverified,
    LastChange,
    Reason,
    By,
    At,
    MovesTitle,
    NoMoves,
    ReasonLabel,
    ReasonHelp,
    ApproveHelp,
    OperatorsOnlyTitle,
    OperatorsOnlyText,
    Failed,
    Applied,
    Approved,
    Suspended,
    Closed,
    Approve,
    Suspend,
    Close,
    Reopen,
    DoneApprove,
    DoneSuspend,
    DoneClose,
    DoneReopen,
    ByOperator,
    ByRegistry,
}

impl Words for W {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            W::Title => ("가맹점 신청·관리", "Merchants"),
            W::Lead => (
                "승인을 기다리는 신청과 모든 가맹점을 찾아 승인, 정지, 폐업, 재개를 처리합니다.",
                "Find applications waiting and every merchant, and approve, suspend, close or reopen them.",
            ),
            W::FindTitle => ("가맹점 찾기", "Find merchants"),
            W::StatusLabel => ("상태", "Status"),
            W::StatusAny => ("전체", "Any"),
            W::SearchLabel => (
                "상호, 사업자등록번호 또는 번호",
                "Name, business number or id",
            ),
            W::SearchHelp => (
                "일부만 입력해도 됩니다. 비워 두면 상태로만 찾습니다.",
                "Part of it is enough. Leave it empty to find by status only.",
            ),
            W::FindButton => ("찾기", "Find"),
            W::Caption => ("가맹점 목록", "Merchants"),
            W::Number => ("번호", "Id"),
            W::Name => ("상호", "Name"),
            W::Address => ("주소", "Address"),
            W::Status => ("상태", "Status"),
            W::NoneFound => ("조건에 맞는 가맹점이 없습니다.", "No merchant matches."),
            W::Previous => ("이전 목록", "Previous page"),
            W::Next => ("다음 목록", "Next page"),
            W::BackToList => ("가맹점 목록으로", "Back to the merchants"),
            W::Brn => ("사업자등록번호", "Business registration number"),
            W::BrnUnverified => (
                "사업자등록번호 검증번호가 맞지 않습니다. 승인 전에 번호를 확인해 주세요.",
                "The business registration number fails its check digit: check it before approving.",
            ),
            W::LastChange => ("최근 상태 변경", "Last status change"),
            W::Reason => ("사유", "Reason"),
            W::By => ("처리 주체", "By"),
            W::At => ("시각", "When"),
            W::MovesTitle => ("처리", "Actions"),
            W::NoMoves => (
                "지금 상태에서 할 수 있는 처리가 없습니다.",
                "Nothing can be done from this status.",
            ),
            W::ReasonLabel => ("사유 (필수)", "Reason (required)"),
            W::ReasonHelp => (
                "가맹점 기록에 남고 가맹점 결제 화면에 안내됩니다.",
                "Kept in the merchant's record and shown where its codes are refused.",
            ),
            W::ApproveHelp => (
                "승인하면 바로 결제를 받을 수 있고 시민 검색에 나옵니다.",
                "Once approved it can be paid at once and is listed for citizens.",
            ),
            W::OperatorsOnlyTitle => ("운영자 전용 페이지입니다", "For operators only"),
            W::OperatorsOnlyText => (
                "운영자 계정으로 로그인해 주세요.",
                "Please sign in with an operator's account.",
            ),
            W::Failed => ("처리하지 못했습니다", "This was not done"),
            W::Applied => ("승인 대기", "Awaiting approval"),
            W::Approved => ("승인", "Approved"),
            W::Suspended => ("정지", "Suspended"),
            W::Closed => ("폐업", "Closed"),
            W::Approve => ("승인", "Approve"),
            W::Suspend => ("정지", "Suspend"),
            W::Close => ("폐업 처리", "Close"),
            W::Reopen => ("재개", "Reopen"),
            W::DoneApprove => ("승인했습니다.", "Approved."),
            W::DoneSuspend => ("정지했습니다.", "Suspended."),
            W::DoneClose => ("폐업 처리했습니다.", "Closed."),
            W::DoneReopen => ("재개했습니다.", "Reopened."),
            W::ByOperator => ("운영자", "Operator"),
            W::ByRegistry => ("등록부 동기화", "Registry sync"),
        }
    }
}

/// A move an operator makes on a merchant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    Approve,
    Suspend,
    Close,
    Reopen,
}

impl Move {
    const ALL: [Move; 4] = [Move::Approve, Move::Suspend, Move::Close, Move::Reopen];

    fn parse(s: &str) -> Option<Move> {
        Move::ALL.into_iter().find(|m| m.as_str() == s)
    }

    fn as_str(self) -> &'static str {
        match self {
            Move::Approve => "approve",
            Move::Suspend => "suspend",
            Move::Close => "close",
            Move::Reopen => "reopen",
        }
    }

    fn label(self) -> W {
        match self {
            Move::Approve => W::Approve,
            Move::Suspend => W::Suspend,
            Move::Close => W::Close,
            Move::Reopen => W::Reopen,
        }
    }

    fn done(self) -> W {
        match self {
            Move::Approve => W::DoneApprove,
            Move::Suspend => W::DoneSuspend,
            Move::Close => W::DoneClose,
            Move::Reopen => W::DoneReopen,
        }
    }

    /// Approval takes no reason (the service records who approved).
    fn needs_reason(self) -> bool {
        self != Move::Approve
    }
}

/// A merchant status's words (`applied`, …), or the code itself if new.
pub(super) fn status_words(lang: Lang, status: &str) -> &str {
    let w = match status {
        "applied" => W::Applied,
        "approved" => W::Approved,
        "suspended" => W::Suspended,
        "closed" => W::Closed,
        other => return other,
    };
    lang.t(w)
}

/// An operator's session, or the answer for anyone else: the sign-in page for nobody,
/// 403 for other roles.
/// (The refusal is boxed: a `Response` is large beside a session.)
pub(super) fn operator(
    pages: &Pages,
    parts: &Parts,
    here: &str,
) -> Result<SignedIn, Box<Response>> {
    let prefs = Prefs::from_headers(&parts.headers);
    let Some(session) = signed_in(&pages.service, &parts.headers) else {
        return Err(Box::new(see_other("/sign-in")));
    };
    if session.caller.role != Role::Operator {
        let lang = prefs.lang;
        let body = html! {
            h1 { (lang.t(W::OperatorsOnlyTitle)) }
            p { (lang.t(W::OperatorsOnlyText)) }
            p { a href="/me" { (lang.t(M::NavMine)) } }
        };
        let mut response = private_response(page(
            prefs,
            here,
            Nav::Console,
            lang.t(W::OperatorsOnlyTitle),
            body,
        ));
        *response.status_mut() = StatusCode::FORBIDDEN;
        return Err(Box::new(response));
    }
    Ok(session)
}

/// A service refusal, in the reader's language, with its stable code.
pub(super) fn error_alert(lang: Lang, title: W, e: &ServiceError) -> Markup {
    html! {
        div.alert.alert-error #form-error role="alert" data-code=(e.code) {
            h2 { (lang.t(title)) }
            p { (words(lang, e)) }
        }
    }
}

/// A whole console page (`status` other than 200 for errors).
pub(super) fn console_page(
    prefs: Prefs,
    here: &str,
    tab: Tab,
    title: &str,
    status: StatusCode,
    body: Markup,
) -> Response {
    let lang = prefs.lang;
    let body = html! {
        (tabs(lang, tab))
        (body)
    };
    let mut response = private_response(page(prefs, here, Nav::Console, title, body));
    *response.status_mut() = status;
    response
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// `applied` when absent (applications waiting first); empty: any.
    status: Option<String>,
    q: Option<String>,
    offset: Option<u32>,
}

impl ListQuery {
    /// The status to list: applications waiting unless another (or any) was chosen.
    fn status(&self) -> Option<&str> {
        match self.status.as_deref() {
            None => Some("applied"),
            Some("") => None,
            Some(s) => Some(s),
        }
    }

    fn search(&self) -> Option<String> {
        self.q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| q.chars().take(SEARCH_CHARS_MAX).collect())
    }

    /// This list's address with another offset.
    fn link(&self, offset: u32) -> String {
        let mut s = format!(
            "/console/merchants?status={}",
            url_encode(self.status().unwrap_or(""))
        );
        if let Some(q) = self.search() {
            s.push_str("&q=");
            s.push_str(&url_encode(&q));
        }
        if offset > 0 {
            s.push_str(&format!("&offset={offset}"));
        }
        s
    }
}

/// `GET /console/merchants`: the filter, and one page of merchants.
pub async fn list(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let here = query.link(query.offset.unwrap_or(0));
    let session = match operator(&pages, &parts, &here) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let caller = &session.caller;
    let answer = ops::list_merchants(
        &pages.service,
        caller,
        &caller.currency,
        &ListParams {
            status: query.status().map(str::to_owned),
            q: query.search(),
            offset: query.offset,
            limit: Some(PAGE_SIZE),
        },
    );
    let (status, results) = match answer {
        Ok(list) => (StatusCode::OK, results(lang, &query, &list)),
        Err(e) => (e.status, error_alert(lang, W::Failed, &e)),
    };
    let body = html! {
        h1 { (lang.t(W::Title)) }
        p.lead { (lang.t(W::Lead)) }
        (filter_form(lang, &query))
        (results)
    };
    console_page(prefs, &here, Tab::Merchants, lang.t(W::Title), status, body)
}

fn filter_form(lang: Lang, query: &ListQuery) -> Markup {
    let chosen = query.status().unwrap_or("");
    let search = query.search().unwrap_or_default();
    html! {
        form.form.filter method="get" action="/console/merchants" role="search" aria-labelledby="find-title" {
            h2 #find-title { (lang.t(W::FindTitle)) }
            div.field {
                label for="status" { (lang.t(W::StatusLabel)) }
                select #status name="status" {
                    option value="" selected[chosen.is_empty()] { (lang.t(W::StatusAny)) }
                    @for s in ["applied", "approved", "suspended", "closed"] {
                        option value=(s) selected[chosen == s] { (status_words(lang, s)) }
                    }
                }
            }
            div.field {
                label for="q" { (lang.t(W::SearchLabel)) }
                input #q type="search" name="q" value=(search) maxlength="100"
                    autocomplete="off" aria-describedby="q-help";
                p.meta #q-help { (lang.t(W::SearchHelp)) }
            }
            button.button type="submit" { (lang.t(W::FindButton)) }
        }
    }
}

fn results(lang: Lang, query: &ListQuery, list: &MerchantList) -> Markup {
    let offset = query.offset.unwrap_or(0);
    let shown = u32::try_from(list.merchants.len()).unwrap_or(u32::MAX);
    // Wider than the query's u32: an offset near its end must not overflow.
    let (first, last) = (u64::from(offset) + 1, u64::from(offset) + u64::from(shown));
    let count = match lang {
        Lang::Ko => format!("{}곳 중 {}–{}", list.total, first, last),
        Lang::En => format!("{}–{} of {}", first, last, list.total),
    };
    html! {
        section aria-labelledby="results-title" {
            h2 #results-title { (lang.t(W::Caption)) }
            @if list.merchants.is_empty() {
                p #results-count role="status" { (lang.t(W::NoneFound)) }
            } @else {
                p #results-count role="status" data-total=(list.total) { (count) }
                div.table-wrap {
                    table.merchants {
                        caption.visually-hidden { (lang.t(W::Caption)) }
                        thead { tr {
                            th scope="col" .num { (lang.t(W::Number)) }
                            th scope="col" { (lang.t(W::Name)) }
                            th scope="col" { (lang.t(W::Address)) }
                            th scope="col" { (lang.t(W::Status)) }
                        } }
                        tbody {
                            @for m in &list.merchants {
                                tr data-merchant=(m.id) data-status=(m.status) {
                                    td.num { (m.id) }
                                    th scope="row" {
                                        a href=(format!("/console/merchants/{}", m.id)) { (m.name) }
                                    }
                                    td { (m.road_address.as_deref().unwrap_or("")) }
                                    td { span.badge data-status=(m.status) { (status_words(lang, &m.status)) } }
                                }
                            }
                        }
                    }
                }
                nav.pager aria-label=(lang.t(W::Caption)) {
                    @if offset > 0 {
                        a rel="prev" href=(query.link(offset.saturating_sub(PAGE_SIZE))) { (lang.t(W::Previous)) }
                    }
                    @if last < list.total as u64 {
                        a rel="next" href=(query.link(offset.saturating_add(shown))) { (lang.t(W::Next)) }
                    }
                }
            }
        }
    }
}

/// The banner of a move just made on a merchant (signed for the session, `signed.rs`).
const MOVED: &str = "console-merchant-moved";

/// `GET /console/merchants/{id}`: the merchant, its last change and the moves its
/// status allows, with what was just done when the address says so, signed for this
/// session and this merchant (`?done=approve&merchant=…&sig=…`).
pub async fn detail(State(pages): State<Pages>, parts: Parts, Path(id): Path<String>) -> Response {
    let done = signed_in(&pages.service, &parts.headers)
        .and_then(|s| signed::read(&pages, &s.token, &parts.uri, MOVED, &["done", "merchant"]))
        .filter(|b| b.get("merchant") == Some(id.as_str()))
        .and_then(|b| b.get("done").and_then(Move::parse));
    show(&pages, &parts, &id, done, None).await
}

/// The merchant page, with what was just done or why it was not.
async fn show(
    pages: &Pages,
    parts: &Parts,
    id: &str,
    done: Option<Move>,
    failed: Option<(Move, ServiceError, String)>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let lang = prefs.lang;
    let here = format!("/console/merchants/{}", url_encode(id));
    let session = match operator(pages, parts, &here) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let caller = &session.caller;
    let answer = match id.parse::<u64>() {
        Ok(n) => ops::merchant_detail(&pages.service, caller, &caller.currency, n),
        Err(_) => Err(ServiceError::not_found("merchant")),
    };
    let m = match answer {
        Ok(m) => m,
        Err(e) => {
            let body = html! {
                h1 { (lang.t(M::ErrorTitle)) }
                (error_alert(lang, W::Failed, &e))
                p { a href="/console/merchants" { (lang.t(W::BackToList)) } }
            };
            return console_page(
                prefs,
                &here,
                Tab::Merchants,
                lang.t(M::ErrorTitle),
                e.status,
                body,
            );
        }
    };
    let csrf = pages.csrf.for_session(&session.token);
    let status = failed.as_ref().map_or(StatusCode::OK, |(_, e, _)| e.status);
    let body = html! {
        p { a href="/console/merchants" { "← " (lang.t(W::BackToList)) } }
        h1 #merchant-name { (m.card.name) }
        @if let Some(d) = done {
            p.alert.alert-ok #done role="status" data-done=(d.as_str()) { (lang.t(d.done())) }
        }
        @if let Some((mv, e, _)) = &failed {
            div data-move=(mv.as_str()) { (error_alert(lang, W::Failed, e)) }
        }
        (merchant_card(lang, &m))
        section aria-labelledby="moves-title" {
            h2 #moves-title { (lang.t(W::MovesTitle)) }
            @if m.moves.is_empty() {
                p { (lang.t(W::NoMoves)) }
            }
            div.moves {
                @for mv in m.moves.iter().filter_map(|s| Move::parse(s)) {
                    @let reason = failed.as_ref().filter(|(f, _, _)| *f == mv).map_or("", |(_, _, r)| r.as_str());
                    (move_form(lang, &csrf, m.card.id, mv, reason, failed.as_ref().is_some_and(|(f, _, _)| *f == mv)))
                }
            }
        }
    };
    console_page(prefs, &here, Tab::Merchants, &m.card.name, status, body)
}

fn merchant_card(lang: Lang, m: &MerchantDetail) -> Markup {
    let at = Kst::from_ms(m.last_change.at_us / 1000);
    html! {
        section.card aria-labelledby="merchant-name" {
            dl.facts {
                div { dt { (lang.t(W::Number)) } dd #merchant-id { (m.card.id) } }
                div {
                    dt { (lang.t(W::Status)) }
                    dd #merchant-status data-status=(m.card.status) {
                        span.badge data-status=(m.card.status) { (status_words(lang, &m.card.status)) }
                    }
                }
                div { dt { (lang.t(W::Brn)) } dd { (m.brn) } }
                @if let Some(a) = &m.card.road_address {
                    div { dt { (lang.t(W::Address)) } dd { (a) } }
                }
            }
            @if m.card.brn_unverified {
                p.alert.alert-warn { (lang.t(W::BrnUnverified)) }
            }
            h2 { (lang.t(W::LastChange)) }
            dl.facts {
                div { dt { (lang.t(W::Reason)) } dd #last-reason { (m.last_change.reason) } }
                div {
                    dt { (lang.t(W::By)) }
                    dd { (lang.t(if m.last_change.by == "registry_sync" { W::ByRegistry } else { W::ByOperator })) }
                }
                div { dt { (lang.t(W::At)) } dd { time datetime=(at.rfc3339()) { (at.display()) } } }
            }
        }
    }
}

fn move_form(lang: Lang, csrf: &str, id: u64, mv: Move, reason: &str, invalid: bool) -> Markup {
    let field = format!("reason-{}", mv.as_str());
    let help = format!("{field}-help");
    let described = if invalid {
        format!("{help} form-error")
    } else {
        help.clone()
    };
    html! {
        form.form.move method="post" action=(format!("/console/merchants/{id}/{}", mv.as_str()))
            data-move=(mv.as_str()) aria-label=(lang.t(mv.label())) {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            input type="hidden" name="key" value=(fresh_token());
            @if mv.needs_reason() {
                div.field {
                    label for=(field) { (lang.t(W::ReasonLabel)) }
                    input #(field) type="text" name="reason" value=(reason) required maxlength="1000"
                        aria-describedby=(described) aria-invalid=[invalid.then_some("true")];
                    p.meta #(help) { (lang.t(W::ReasonHelp)) }
                }
            } @else {
                p.meta { (lang.t(W::ApproveHelp)) }
            }
            button.button.secondary[mv != Move::Approve] type="submit" { (lang.t(mv.label())) }
        }
    }
}

/// A move's form: its token, the idempotency key made when the form was shown, and the
/// reason.
#[derive(Debug, Default, Deserialize)]
pub struct MoveForm {
    csrf: Option<String>,
    key: Option<String>,
    reason: Option<String>,
}

/// `POST /console/merchants/{id}/{move}`: makes the move through the service, then 303
/// back to the merchant; a refusal shows the merchant page with the service's words.
pub async fn act(
    State(pages): State<Pages>,
    parts: Parts,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<MoveForm>, FormRejection>,
) -> Response {
    let prefs = Prefs::from_headers(&parts.headers);
    let here = format!("/console/merchants/{}", url_encode(&id));
    let session = match operator(&pages, &parts, &here) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !pages.form_allowed(&parts, &session, form.csrf.as_deref()) {
        return refused(prefs);
    }
    let (Some(mv), Ok(merchant)) = (Move::parse(&action), id.parse::<u64>()) else {
        return show(&pages, &parts, &id, None, None).await;
    };
    let caller = &session.caller;
    let code = caller.currency.as_str();
    let key = form.key.as_deref();
    let reason: String = form
        .reason
        .unwrap_or_default()
        .trim()
        .chars()
        .take(REASON_CHARS_MAX)
        .collect();
    let s = &pages.service;
    let answer = match mv {
        Move::Approve => ops::approve_merchant(s, caller, key, code, merchant).await,
        Move::Suspend => {
            let req = ops::Suspension {
                reason: reason.clone(),
            };
            ops::suspend_merchant(s, caller, key, code, merchant, req).await
        }
        Move::Close => {
            let req = ops::LifecycleReason {
                reason: reason.clone(),
            };
            ops::close_merchant(s, caller, key, code, merchant, req).await
        }
        Move::Reopen => {
            let req = ops::LifecycleReason {
                reason: reason.clone(),
            };
            ops::reopen_merchant(s, caller, key, code, merchant, req).await
        }
    };
    match answer {
        Ok(_) => Banner::new(MOVED)
            .field("done", mv.as_str())
            .field("merchant", merchant)
            .see_other(
                &pages,
                &session.token,
                &format!("/console/merchants/{merchant}"),
            ),
        Err(e) => show(&pages, &parts, &id, None, Some((mv, e, reason))).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_and_statuses_have_words_in_both_languages() {
        for mv in Move::ALL {
            assert_eq!(Move::parse(mv.as_str()), Some(mv));
            assert!(!Lang::Ko.t(mv.label()).is_empty() && !Lang::En.t(mv.done()).is_empty());
        }
        assert_eq!(Move::parse("delete"), None);
        assert_eq!(status_words(Lang::Ko, "applied"), "승인 대기");
        assert_eq!(status_words(Lang::En, "closed"), "Closed");
        assert_eq!(status_words(Lang::En, "new_status"), "new_status");
    }

    #[test]
    fn list_links_keep_the_filter_and_encode_the_search() {
        let q = ListQuery {
            status: None,
            q: Some(" 행복 & 상회 ".into()),
            offset: Some(50),
        };
        assert_eq!(q.status(), Some("applied"));
        assert_eq!(
            q.link(100),
            "/console/merchants?status=applied&q=%ED%96%89%EB%B3%B5%20%26%20%EC%83%81%ED%9A%8C&offset=100"
        );
        let any = ListQuery {
            status: Some(String::new()),
            q: Some("   ".into()),
            offset: None,
        };
        assert_eq!(any.status(), None);
        assert_eq!(any.link(0), "/console/merchants?status=");
    }
}

#[cfg(test)]
mod router_tests {
    //! The console's merchant and file pages through the router: who may see them, and
    //! that forms need their token. (What they show of a real registry is the browser
    //! test's: `browser/tests/console-merchants.test.mjs`.)
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    struct NoStatus;

    impl crate::StatusSource for NoStatus {
        fn status(&self) -> Vec<crate::CurrencyStatus> {
            Vec::new()
        }
    }

    /// A router over a service with no currency, and a signed-in session of `role`.
    async fn signed_in(role: service::Role) -> (axum::Router, String) {
        let dir = tempfile::tempdir().unwrap().keep();
        let auth = service::Auth::open(&dir, true).unwrap();
        let service = Arc::new(service::Service::new(
            std::collections::BTreeMap::new(),
            Arc::new(auth),
        ));
        let password = "correct horse battery";
        service
            .auth
            .create(service::NewUser {
                login: "staff".into(),
                password: service::Secret::new(password.into()),
                pin: (role == service::Role::Citizen)
                    .then(|| service::Secret::new("123456".into())),
                role,
                currency: "demo".into(),
                currencies: vec!["demo".into()],
                setup: None,
            })
            .await
            .unwrap();
        let session = service::session::sign_in(
            &service,
            None,
            service::session::SignIn {
                login: "staff".into(),
                password: service::Secret::new(password.into()),
            },
        )
        .await
        .unwrap();
        let app = crate::routes(Arc::new(NoStatus), service);
        (app, session.token)
    }

    async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String, String) {
        let r = app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = axum::body::to_bytes(r.into_body(), 10 << 20).await.unwrap();
        (
            status,
            location,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    fn get(uri: &str, token: Option<&str>) -> Request<Body> {
        let mut r = Request::get(uri);
        if let Some(t) = token {
            r = r.header("cookie", format!("maeul_session={t}"));
        }
        r.body(Body::empty()).unwrap()
    }

    const PAGES: [&str; 4] = [
        "/console/merchants",
        "/console/merchants/21003",
        "/console/registry",
        "/console/aliases",
    ];

    #[tokio::test]
    async fn the_pages_are_an_operators() {
        let (app, _) = signed_in(service::Role::Operator).await;
        for page in PAGES {
            let (status, location, _) = send(&app, get(page, None)).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
            assert_eq!(location, "/sign-in");
        }
        let (app, token) = signed_in(service::Role::Citizen).await;
        for page in PAGES {
            let (status, _, body) = send(&app, get(page, Some(&token))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
            assert!(body.contains("운영자 전용 페이지입니다"), "{body}");
        }
    }

    #[tokio::test]
    async fn an_operator_sees_the_forms_and_the_services_refusals() {
        let (app, token) = signed_in(service::Role::Operator).await;
        // The forms need no currency to be shown.
        for page in ["/console/registry", "/console/aliases"] {
            let (status, _, body) = send(&app, get(page, Some(&token))).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assert!(body.contains(r#"name="csrf""#) && body.contains(r#"name="key""#));
            assert!(body.contains(r#"enctype="multipart/form-data""#));
            assert!(body.contains(r#"aria-current="page""#));
        }
        // This service runs no currency: the list says what the service said, with
        // its code.
        let (status, _, body) = send(&app, get("/console/merchants", Some(&token))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains(r#"data-code="not_found""#), "{body}");
        assert!(body.contains("찾을 수 없습니다"), "{body}");
        assert!(
            body.contains(r#"<option value="applied" selected>"#),
            "{body}"
        );
    }

    #[tokio::test]
    async fn forms_without_the_sessions_token_are_refused() {
        let (app, token) = signed_in(service::Role::Operator).await;
        let cookie = format!("maeul_session={token}");
        for (uri, content_type, body) in [
            (
                "/console/merchants/21003/close",
                "application/x-www-form-urlencoded",
                "reason=x&key=k".to_owned(),
            ),
            (
                "/console/registry/apply",
                "application/x-www-form-urlencoded",
                "digest=00&key=k".to_owned(),
            ),
            (
                "/console/registry/preview",
                "multipart/form-data; boundary=b",
                "--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nwrong\r\n--b--\r\n"
                    .to_owned(),
            ),
            (
                "/console/aliases",
                "multipart/form-data; boundary=b",
                "not a form".to_owned(),
            ),
        ] {
            let req = Request::post(uri)
                .header("cookie", &cookie)
                .header("content-type", content_type)
                .body(Body::from(body))
                .unwrap();
            let (status, _, page) = send(&app, req).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
            assert!(page.contains("요청을 확인할 수 없습니다"), "{uri}: {page}");
        }
    }
}
